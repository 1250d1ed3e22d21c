"""Python shaders running on the device, checked against NumPy."""

import sys
import textwrap
import threading
import types

import numpy as np
import pytest

import kp
from kp.shader import (
    Array, f16, f32, f64, i32, i64, ivec3, mat2, mat3, python2shader, u32, u64, uvec3, vec2,
    vec4,
)
from python_shader_helpers import dispatch, shader_from_source, spirv_val


@python2shader
def compute_shader_multiply(index=("input", "GlobalInvocationId", ivec3),
                            data1=("buffer", 0, Array(f32)),
                            data2=("buffer", 1, Array(f32)),
                            data3=("buffer", 2, Array(f32))):
    i = index.x
    data3[i] = data1[i] * data2[i]


@python2shader
def logistic_regression(
        index=("input", "GlobalInvocationId", ivec3),
        x_i=("buffer", 0, Array(f32)),
        x_j=("buffer", 1, Array(f32)),
        y=("buffer", 2, Array(f32)),
        w_in=("buffer", 3, Array(f32)),
        w_out_i=("buffer", 4, Array(f32)),
        w_out_j=("buffer", 5, Array(f32)),
        b_in=("buffer", 6, Array(f32)),
        b_out=("buffer", 7, Array(f32)),
        l_out=("buffer", 8, Array(f32)),
        M=("buffer", 9, Array(f32))):  # noqa: N803 (the seed's name)
    i = index.x

    m = M[0]

    w_curr = vec2(w_in[0], w_in[1])  # noqa: F821 (resolved by the compiler)
    b_curr = b_in[0]

    x_curr = vec2(x_i[i], x_j[i])  # noqa: F821
    y_curr = y[i]

    z_dot = w_curr @ x_curr
    z = z_dot + b_curr
    y_hat = 1.0 / (1.0 + exp(-z))  # noqa: F821

    d_z = y_hat - y_curr
    d_w = (1.0 / m) * x_curr * d_z
    d_b = (1.0 / m) * d_z

    loss = -((y_curr * log(y_hat)) + ((1.0 + y_curr) * log(1.0 - y_hat)))  # noqa: F821

    w_out_i[i] = d_w.x
    w_out_j[i] = d_w.y
    b_out[i] = d_b
    l_out[i] = loss


# what the cache test below changes between two compilations of one kernel
FACTOR = 2.0
CONSTANTS = types.ModuleType("constants")
CONSTANTS.OFFSET = 0.0


def scaled(x):
    return x * FACTOR + offset_by(x)


def offset_by(x, extra=0.0):
    return x * 0.0 + CONSTANTS.OFFSET + extra


def test_a_kernel_made_again_sees_the_values_its_helpers_read_now(mgr, monkeypatch):
    def make(bias):
        @python2shader
        def scale(index=("input", "GlobalInvocationId", ivec3), data=("buffer", 0, Array(f32))):
            data[index.x] = scaled(data[index.x]) + bias
        return scale

    def run(shader):
        return dispatch(mgr, shader, np.array([1.0, 2.0], np.float32))[0].tolist()

    assert run(make(0.0)) == [2.0, 4.0]
    monkeypatch.setitem(globals(), "FACTOR", 3.0)  # a global of the helper
    assert run(make(0.0)) == [3.0, 6.0]
    monkeypatch.setitem(globals(), "FACTOR", np.float32(2.0))  # a NumPy scalar, by its value too
    assert run(make(0.0)) == [2.0, 4.0]
    monkeypatch.setitem(globals(), "FACTOR", np.float32(3.0))
    assert run(make(0.0)) == [3.0, 6.0]
    monkeypatch.setattr(CONSTANTS, "OFFSET", 1.0)  # a module's number the helper's helper reads
    assert run(make(0.0)) == [4.0, 7.0]
    monkeypatch.setattr(offset_by, "__defaults__", (10.0,))  # a helper's default
    assert run(make(0.0)) == [14.0, 17.0]
    assert run(make(-0.0)) == run(make(0.0))  # a closure cell: -0.0 is its own key, same numbers
    assert make(-0.0).to_spirv() != make(0.0).to_spirv()

    class Shown(float):  # a float whose repr does not show its value
        def __repr__(self):
            return "Shown"

    monkeypatch.setitem(globals(), "FACTOR", Shown(1.0))
    assert run(make(0.0)) == [12.0, 13.0]
    monkeypatch.setitem(globals(), "FACTOR", Shown(2.0))
    assert run(make(0.0)) == [13.0, 15.0]


def test_seed_multiply_through_the_seed_api(mgr):
    tensor_in_a, tensor_in_b, tensor_out = kp.Tensor([2, 2, 2]), kp.Tensor([1, 2, 3]), kp.Tensor([0, 0, 0])
    mgr.eval_tensor_create_def([tensor_in_a, tensor_in_b, tensor_out])
    mgr.eval_algo_data_def([tensor_in_a, tensor_in_b, tensor_out], compute_shader_multiply.to_spirv())
    mgr.eval_await_def()
    mgr.eval_tensor_sync_local_def([tensor_out])
    assert tensor_out.data() == [2.0, 4.0, 6.0]


def test_seed_multiply(mgr):
    a, b = np.arange(1, 9, dtype=np.float32), np.full(8, 0.5, np.float32)
    *_, out = dispatch(mgr, compute_shader_multiply, a, b, np.zeros(8, np.float32))
    np.testing.assert_array_equal(out, a * b)


def test_seed_logistic_regression_learns(mgr):
    x_i = np.array([0.0, 1.0, 1.0, 1.0, 1.0], np.float32)
    x_j = np.array([0.0, 0.0, 0.0, 1.0, 1.0], np.float32)
    y = np.array([0.0, 0.0, 0.0, 1.0, 1.0], np.float32)
    params = [mgr.tensor(v) for v in (x_i, x_j, y, [0.001, 0.001], np.zeros(5), np.zeros(5),
                                      [0.0], np.zeros(5), np.zeros(5), [5.0])]
    w_in, w_out_i, w_out_j, b_in, b_out, l_out = (params[k] for k in (3, 4, 5, 6, 7, 8))
    spirv_val(logistic_regression.to_spirv())
    algo = mgr.algorithm(params, logistic_regression.to_spirv())
    mgr.sequence().record(kp.OpSyncDevice(params)).eval()
    sq = (mgr.sequence()
          .record(kp.OpSyncDevice([w_in, b_in]))
          .record(kp.OpAlgoDispatch(algo))
          .record(kp.OpSyncLocal([w_out_i, w_out_j, b_out, l_out])))

    sq.eval()
    # One step against NumPy, from w = (0.001, 0.001), b = 0.
    z = 0.001 * x_i + 0.001 * x_j
    y_hat = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(w_out_i.data(), x_i * (y_hat - y) / 5, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(w_out_j.data(), x_j * (y_hat - y) / 5, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b_out.data(), (y_hat - y) / 5, rtol=1e-5)
    loss = -(y * np.log(y_hat) + (1 + y) * np.log(1 - y_hat))
    np.testing.assert_allclose(l_out.data(), loss, rtol=1e-5)

    for _ in range(100):
        sq.eval()
        w = w_in.data() - 0.1 * np.array([w_out_i.data().sum(), w_out_j.data().sum()])
        w_in.set_data(w)
        b_in.set_data(b_in.data() - 0.1 * b_out.data().sum())
    assert 0.0 < w_in.data()[0] < 0.01
    assert w_in.data()[1] > 1.5
    assert b_in.data()[0] < 0.7


@python2shader(local_size=(4, 2, 1))
def grid_2d(wg=("input", "WorkgroupId", ivec3),
            groups=("input", "NumWorkgroups", ivec3),
            local=("input", "LocalInvocationId", uvec3),
            flat=("input", "LocalInvocationIndex", i32),
            out=("buffer", 0, Array(i32)),
            flat_out=("buffer", 1, Array(i32))):
    x = wg.x * 4 + i32(local.x)
    y = wg.y * 2 + i32(local.y)
    width = groups.x * 4
    out[y * width + x] = x * 100 + y
    flat_out[y * width + x] = flat


def test_2d_workgroups(mgr):
    out, flat = dispatch(mgr, grid_2d, np.zeros(6 * 12, np.int32), np.zeros(6 * 12, np.int32),
                         workgroup=(3, 3, 1))
    ys, xs = np.mgrid[0:6, 0:12]
    np.testing.assert_array_equal(out.reshape(6, 12), xs * 100 + ys)
    np.testing.assert_array_equal(flat.reshape(6, 12), (ys % 2) * 4 + xs % 4)


@python2shader
def collatz(index=("input", "GlobalInvocationId", ivec3),
            data=("buffer", 0, Array(i32)),
            steps=("buffer", 1, Array(i32))):
    n = data[index.x]
    count = 0
    while n != 1:
        if n % 2 == 0:
            n //= 2
        else:
            n = 3 * n + 1
        count += 1
    steps[index.x] = count


def test_while_loop(mgr):
    data = np.array([1, 2, 3, 7, 27, 97], np.int32)
    _, steps = dispatch(mgr, collatz, data, np.zeros_like(data))
    np.testing.assert_array_equal(steps, [0, 1, 7, 16, 111, 118])


@python2shader
def integer_control_flow(index=("input", "GlobalInvocationId", ivec3),
                         data=("buffer", 0, Array(i32)),
                         kind=("buffer", 1, Array(i32)),
                         total=("buffer", 2, Array(i32))):
    i = index.x
    v = data[i]
    if v < 3:
        kind[i] = -1
    elif 3 <= v < 10:
        kind[i] = 0 if v % 2 == 0 else 1
    else:
        kind[i] = 2
    acc = 0
    for k in range(20, 0, -3):
        if k % 4 == 0:
            continue
        if k < v:
            break
        acc += k
    total[i] = acc
    if v > 100:
        return
    total[i] += 1000 * (1 if v > 5 and v < 50 or v == 1 else 0)


def _integer_control_flow_numpy(v):
    kind = -1 if v < 3 else (v % 2 if v < 10 else 2)
    acc = 0
    for k in range(20, 0, -3):
        if k % 4 == 0:
            continue
        if k < v:
            break
        acc += k
    if v <= 100:
        acc += 1000 * (1 if 5 < v < 50 or v == 1 else 0)
    return kind, acc


def test_integer_control_flow(mgr):
    data = np.array([1, 2, 3, 4, 7, 9, 12, 27, 97, 101], np.int32)
    _, kind, total = dispatch(mgr, integer_control_flow, data, np.zeros_like(data),
                              np.zeros_like(data))
    expected = np.array([_integer_control_flow_numpy(int(v)) for v in data])
    np.testing.assert_array_equal(kind, expected[:, 0])
    np.testing.assert_array_equal(total, expected[:, 1])


@python2shader
def floor_semantics(index=("input", "GlobalInvocationId", ivec3),
                    a=("buffer", 0, Array(i32)), b=("buffer", 1, Array(i32)),
                    fa=("buffer", 2, Array(f32)), fb=("buffer", 3, Array(f32)),
                    out=("buffer", 4, Array(vec4))):
    i = index.x
    out[i] = vec4(a[i] // b[i], a[i] % b[i], fa[i] // fb[i], fa[i] % fb[i])


def test_floor_division_and_modulo_follow_python(mgr):
    a = np.array([7, -7, 7, -7, 0, 13, -1, 5], np.int32)
    b = np.array([2, 2, -2, -2, 3, -5, 4, 5], np.int32)
    fa, fb = a.astype(np.float32) + 0.5, b.astype(np.float32)
    *_, out = dispatch(mgr, floor_semantics, a, b, fa, fb, np.zeros((8, 4), np.float32))
    np.testing.assert_array_equal(out[:, 0], a // b)
    np.testing.assert_array_equal(out[:, 1], a % b)
    np.testing.assert_allclose(out[:, 2], fa // fb)
    np.testing.assert_allclose(out[:, 3], np.mod(fa, fb), atol=1e-6)


@python2shader(local_size=(64, 1, 1))
def reduce_sum(index=("input", "GlobalInvocationId", ivec3),
               local=("input", "LocalInvocationId", ivec3),
               data=("buffer", 0, Array(i32)),
               total=("buffer", 1, Array(i32)),
               partial=("shared", Array(i32, 64))):
    i = index.x
    t = local.x
    partial[t] = data[i] if i < len(data) else 0
    barrier()  # noqa: F821 (resolved by the compiler)
    stride = 32
    while stride > 0:
        if t < stride:
            partial[t] += partial[t + stride]
        barrier()  # noqa: F821
        stride //= 2
    if t == 0:
        atomic_add(total, 0, partial[0])  # noqa: F821


def test_reduction_with_shared_memory_barriers_and_atomics(mgr):
    data = np.random.default_rng(1).integers(-1000, 1000, 1000).astype(np.int32)
    _, total = dispatch(mgr, reduce_sum, data, np.zeros(1, np.int32), workgroup=(16, 1, 1))
    assert total[0] == data.sum()


@python2shader(local_size=(32, 1, 1))
def atomics(index=("input", "GlobalInvocationId", ivec3),
            values=("buffer", 0, Array(u32)),
            stats=("buffer", 1, Array(u32)),
            signed=("buffer", 2, Array(i32)),
            old=("buffer", 3, Array(i32)),
            owner=("buffer", 4, Array(i32))):
    i = index.x
    v = values[i]
    atomic_min(stats, 0, v)  # noqa: F821
    atomic_max(stats, 1, v)  # noqa: F821
    atomic_or(stats, 2, u32(1) << (v % 32))  # noqa: F821
    atomic_sub(signed, 0, 2)  # noqa: F821
    old[i] = atomic_exchange(signed, 1, i)  # noqa: F821
    atomic_compare_exchange(owner, 0, -1, i)  # noqa: F821


def test_atomics(mgr):
    values = np.random.default_rng(2).integers(0, 10**6, 64).astype(np.uint32)
    stats = np.array([2**32 - 1, 0, 0], np.uint32)
    _, stats, signed, old, owner = dispatch(
        mgr, atomics, values, stats, np.array([0, -5], np.int32), np.zeros(64, np.int32),
        np.array([-1], np.int32), workgroup=(2, 1, 1))
    assert stats[0] == values.min() and stats[1] == values.max()
    assert stats[2] == np.bitwise_or.reduce(np.uint32(1) << (values % 32))
    assert signed[0] == -128
    # Exchange hands each value on exactly once: the old values and the final one
    # are the initial value and every index.
    assert sorted([*old, signed[1]]) == [-5, *range(64)]
    assert 0 <= owner[0] < 64


@python2shader(local_size=(8, 1, 1))
def constants(index=("input", "GlobalInvocationId", ivec3),
              data=("buffer", 0, Array(f32)),
              scale=("push_constant", 0, f32),
              offset=("push_constant", 1, f32),
              power=("spec_constant", 0, i32, 1),
              bias=("spec_constant", 1, f32)):
    i = index.x
    x = data[i]
    result = 1.0
    for _ in range(power):
        result *= x
    data[i] = result * scale + offset + bias


def test_push_and_spec_constants(mgr):
    x = np.linspace(-2, 2, 16, dtype=np.float32)
    (out,) = dispatch(mgr, constants, x, workgroup=(2, 1, 1), spec_consts=[3, 0.25],
                      push_consts=[2.0, -1.0])
    np.testing.assert_allclose(out, x ** 3 * 2.0 - 1.0 + 0.25, rtol=1e-6)


def test_spec_constant_defaults(mgr):
    x = np.linspace(-2, 2, 16, dtype=np.float32)
    (out,) = dispatch(mgr, constants, x, workgroup=(2, 1, 1), push_consts=[1.0, 0.0])
    np.testing.assert_allclose(out, x)


@python2shader
def integer_push_constants(index=("input", "GlobalInvocationId", ivec3),
                           data=("buffer", 0, Array(i32)),
                           shift=("push_constant", 0, i32),
                           mask=("push_constant", 1, u32)):
    i = index.x
    data[i] = i32(u32(data[i] << shift) & mask)


def test_integer_push_constants(mgr):
    data = np.arange(10, dtype=np.int32)
    (out,) = dispatch(mgr, integer_push_constants, data,
                      push_consts=np.array([3, 0x3C], np.int32))
    np.testing.assert_array_equal(out, (data << 3) & 0x3C)


@python2shader
def vectors_and_matrices(index=("input", "GlobalInvocationId", ivec3),
                         points=("buffer", 0, Array(vec4)),
                         out=("buffer", 1, Array(vec4)),
                         scalars=("buffer", 2, Array(f32))):
    i = index.x
    p = points[i]
    rotate = mat2(0.0, 1.0, -1.0, 0.0)  # columns (0, 1) and (-1, 0): 90 degrees
    q = rotate @ p.xy
    m: mat3 = mat3(2.0)
    m[2] = vec3(p.x, p.y, 1.0)  # noqa: F821 (vec3 resolved by the compiler)
    moved = m @ vec3(1.0, 1.0, 1.0)  # noqa: F821
    v = p.zyx
    v.x = v.x + 10.0
    v.yz += 1.0
    out[i] = vec4(q, moved.x + moved.y, v.x * v.y - v.z)
    scalars[i] = dot(p, p) + length(p.xy) + determinant(transpose(rotate))  # noqa: F821


def test_vectors_matrices_and_swizzles(mgr):
    p = np.random.default_rng(3).uniform(-2, 2, (6, 4)).astype(np.float32)
    _, out, scalars = dispatch(mgr, vectors_and_matrices, p, np.zeros_like(p),
                               np.zeros(6, np.float32))
    q = np.stack([-p[:, 1], p[:, 0]], axis=1)
    moved = 2.0 + p[:, 0] + 2.0 + p[:, 1]
    v = p[:, [2, 1, 0]] + [10.0, 1.0, 1.0]
    expected = np.column_stack([q, moved, v[:, 0] * v[:, 1] - v[:, 2]])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scalars, (p * p).sum(1) + np.hypot(p[:, 0], p[:, 1]) + 1.0,
                               rtol=1e-5)


UNARY = {
    "abs": np.abs, "sign": np.sign, "floor": np.floor, "ceil": np.ceil, "round": np.round,
    "trunc": np.trunc, "fract": lambda x: x - np.floor(x), "sqrt": lambda x: np.sqrt(np.abs(x)),
    "inversesqrt": lambda x: 1 / np.sqrt(np.abs(x) + 1), "exp": np.exp, "exp2": np.exp2,
    "log": lambda x: np.log(np.abs(x) + 1), "log2": lambda x: np.log2(np.abs(x) + 1),
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": lambda x: np.arcsin(x / 4),
    "acos": lambda x: np.arccos(x / 4), "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh,
    "tanh": np.tanh,
}
# What the shader applies each function to, matching the NumPy lambdas above.
UNARY_ARGUMENT = {"sqrt": "abs(x)", "inversesqrt": "abs(x) + 1.0", "log": "abs(x) + 1.0",
                  "log2": "abs(x) + 1.0", "asin": "x / 4.0", "acos": "x / 4.0"}


@pytest.mark.parametrize("name", UNARY)
def test_unary_math_builtins(mgr, name):
    shader = shader_from_source(f"""
        def unary(index=("input", "GlobalInvocationId", ivec3),
                  data=("buffer", 0, Array(f32)), out=("buffer", 1, Array(f32))):
            x = data[index.x]
            out[index.x] = {name}({UNARY_ARGUMENT.get(name, "x")})
    """)
    x = np.array([-3.7, -2.5, -1.0, -0.3, 0.0, 0.4, 0.5, 1.5, 2.5, 3.2], np.float32)
    _, out = dispatch(mgr, shader, x, np.zeros_like(x))
    # Vulkan allows asin and acos the error of atan2(x, sqrt(1 - x * x)).
    tolerance = 2e-4 if name in ("asin", "acos") else 2e-6
    np.testing.assert_allclose(out, UNARY[name](x), rtol=tolerance, atol=tolerance)


NARY = {
    "min(x, y)": np.minimum,
    "max(x, y, 0.5)": lambda x, y: np.maximum(np.maximum(x, y), 0.5),
    "clamp(x, -1.0, y)": lambda x, y: np.minimum(np.maximum(x, -1.0), y),
    "mix(x, y, 0.25)": lambda x, y: x * 0.75 + y * 0.25,
    "step(y, x)": lambda x, y: (x >= y).astype(np.float32),
    "smoothstep(-2.0, 2.0, x)": lambda x, y: (t := np.clip((x + 2) / 4, 0, 1)) ** 2 * (3 - 2 * t),
    "pow(abs(x), y)": lambda x, y: np.abs(x) ** y,
    "atan2(x, y)": np.arctan2,
    "atan(x, y)": np.arctan2,
    "x ** 3": lambda x, y: x ** 3,
    "abs(x) ** y": lambda x, y: np.abs(x) ** y,
    "distance(vec2(x, y), vec2(1.0, 2.0))": lambda x, y: np.hypot(x - 1, y - 2),
    "dot(vec2(x, y), vec2(3.0, -1.0))": lambda x, y: 3 * x - y,
    "normalize(vec2(x, y)).y": lambda x, y: y / np.hypot(x, y),
    "cross(vec3(x, y, 1.0), vec3(1.0, 2.0, 3.0)).z": lambda x, y: 2 * x - y,
    "fma(x, y, 1.0)": lambda x, y: x * y + 1,
}


@pytest.mark.parametrize("expression", NARY)
def test_math_builtins_of_several_arguments(mgr, expression):
    shader = shader_from_source(f"""
        def nary(index=("input", "GlobalInvocationId", ivec3),
                 xs=("buffer", 0, Array(f32)), ys=("buffer", 1, Array(f32)),
                 out=("buffer", 2, Array(f32))):
            x = xs[index.x]
            y = ys[index.x]
            out[index.x] = {expression}
    """)
    rng = np.random.default_rng(4)
    x = rng.uniform(-3, 3, 16).astype(np.float32)
    y = rng.uniform(0.5, 3, 16).astype(np.float32)
    *_, out = dispatch(mgr, shader, x, y, np.zeros_like(x))
    np.testing.assert_allclose(out, NARY[expression](x, y), rtol=1e-5, atol=1e-6)


@python2shader
def casts(index=("input", "GlobalInvocationId", ivec3),
          floats=("buffer", 0, Array(f32)),
          ints=("buffer", 1, Array(i32)),
          uints=("buffer", 2, Array(u32)),
          back=("buffer", 3, Array(f32))):
    i = index.x
    x = floats[i]
    ints[i] = i32(x)
    uints[i] = u32(abs(x)) + u32(x > 0.0)
    back[i] = f32(ints[i]) / 2 + float(bool(ints[i]))


def test_casts(mgr):
    x = np.array([-2.7, -0.5, 0.0, 0.5, 3.9, 100.2], np.float32)
    _, ints, uints, back = dispatch(mgr, casts, x, np.zeros(6, np.int32), np.zeros(6, np.uint32),
                                    np.zeros(6, np.float32))
    np.testing.assert_array_equal(ints, np.trunc(x).astype(np.int32))
    np.testing.assert_array_equal(uints, np.trunc(np.abs(x)).astype(np.uint32) + (x > 0))
    np.testing.assert_allclose(back, ints / 2 + (ints != 0))


def _features(mgr):
    return mgr.get_device_properties().get("features", {})


@python2shader
def wide_types(index=("input", "GlobalInvocationId", ivec3),
               doubles=("buffer", 0, Array(f64)),
               longs=("buffer", 1, Array(i64)),
               ulongs=("buffer", 2, Array(u64))):
    i = index.x
    doubles[i] = doubles[i] * 0.1 + f64(1) / 3.0
    longs[i] = longs[i] * 3000000000 - i64(i)
    ulongs[i] = (ulongs[i] >> 4) + u64(longs[i] < 0)


def test_f64_i64_u64(mgr):
    if not {"shaderFloat64", "shaderInt64"} <= set(_features(mgr)):
        pytest.skip("the device has no 64-bit float or integer support")
    d = np.array([1.0, 1e300, -3.5], np.float64)
    n = np.array([5, -7, 2**40], np.int64)
    u = np.array([2**63 + 17, 1, 2**64 - 1], np.uint64)
    doubles, longs, ulongs = dispatch(mgr, wide_types, d, n, u)
    # Vulkan lets f64 division be off by a few ulp (NVIDIA's is); far beyond f32's precision
    np.testing.assert_allclose(doubles, d * 0.1 + 1 / 3, rtol=1e-14)
    expected = n * 3000000000 - np.arange(3)
    np.testing.assert_array_equal(longs, expected)
    np.testing.assert_array_equal(ulongs, (u >> np.uint64(4)) + (expected < 0))


@python2shader
def half_floats(index=("input", "GlobalInvocationId", ivec3),
                halves=("buffer", 0, Array(f16)),
                out=("buffer", 1, Array(f32))):
    i = index.x
    h = halves[i] * 2.0 + f16(0.5)
    halves[i] = h
    out[i] = f32(h)


def test_f16(mgr):
    if not {"shaderFloat16", "storageBuffer16BitAccess"} <= set(_features(mgr)):
        pytest.skip("the device has no 16-bit float support")
    h = np.array([1.5, -2.25, 100.0, 0.0], np.float16)
    halves, out = dispatch(mgr, half_floats, h, np.zeros(4, np.float32))
    np.testing.assert_array_equal(halves, h * 2 + np.float16(0.5))
    np.testing.assert_array_equal(out, (h * 2 + np.float16(0.5)).astype(np.float32))


# Small uses of each construct: the body sets `r` from `x` (f32) and `n` (i32),
# and the shader stores f32(r); the lambda computes the same with NumPy.
CONSTRUCTS = {
    "r = x + n * 2 - 1": lambda x, n: x + n * 2 - 1,
    "r = n / 4": lambda x, n: n / 4,
    "r = -n // 3 + n % -3": lambda x, n: -n // 3 + n % -3,
    "r = u32(n + 10) // u32(3) + u32(7) % u32(4)": lambda x, n: (n + 10) // 3 + 3,
    "r = (n << 3) ^ (n >> 1) | 5 & ~n": lambda x, n: (n << 3) ^ (n >> 1) | 5 & ~n,
    "r = x ** 2 + n ** 3": lambda x, n: x * x + n ** 3,
    "r = 2.0 ** x": lambda x, n: 2.0 ** x,
    "a, b = x, f32(n)\na, b = b, a\nr = a - b": lambda x, n: n - x,
    "a = b = n + 1\na += 1\nr = a * b": lambda x, n: (n + 2) * (n + 1),
    "acc: f32 = 0\nacc += n\nacc /= 2\nr = acc": lambda x, n: n / 2,
    "r = 1.0 if x > 0 and not n < 0 else -1.0": lambda x, n: np.where((x > 0) & (n >= 0), 1, -1),
    "r = 1 if x < 0 or n > 2 else 0": lambda x, n: (x < 0) | (n > 2),
    "r = 1 if -1 < n <= 2 < 3 else 0": lambda x, n: (n > -1) & (n <= 2),
    "r = 1 if n else 0": lambda x, n: n != 0,
    "r = 0\nfor k in range(n):\n    r += k": lambda x, n: np.maximum(n, 0) * (np.maximum(n, 0) - 1) // 2,
    "r = 0\nfor k in range(-2, n, 2):\n    r += k": lambda x, n: np.array(
        [sum(range(-2, v, 2)) for v in n]),
    "r = 0\nfor k in range(10, -10, n - 2):\n    r += 1": lambda x, n: np.array(
        [len(range(10, -10, v - 2)) if v != 2 else 0 for v in n]),
    "r = 0\nk = 0\nwhile True:\n    k += 1\n    if k > 5:\n        break\n    if k == n:\n"
    "        continue\n    r += k": lambda x, n: 15 - np.where((n >= 1) & (n <= 5), n, 0),
    "r = 0\nfor a in range(4):\n    for b in range(4):\n        if b > a:\n            break\n"
    "        r += 1": lambda x, n: np.full_like(n, 10),
    "v = vec3(x, n, 1.0)\nw = v.zyx * 2.0 + 1\nr = w.x + w.y * w.z": lambda x, n: 3 + (2 * n + 1) * (2 * x + 1),
    "v = ivec4(n)\nv.yw = ivec2(1, 2)\nr = v.x + v[1] + v.w * 10": lambda x, n: n + 21,
    "v = vec4(vec2(x, 1.0), n, 0.5)\nk = 2\nr = v[k] + v.r + v.a": lambda x, n: n + x + 0.5,
    "r = 1 if all(vec2(x, n) > vec2(0.0, 1.0)) else (2 if any(ivec2(n, 0) == 3) else 3)":
        lambda x, n: np.where((x > 0) & (n > 1), 1, np.where(n == 3, 2, 3)),
    "m = mat2(x + 10.0, n, 1.0, 2.0)\nm2 = m * 2.0 + m - m / 2.0\n"
    "r = (-m2)[1][0] + determinant(inverse(m))": lambda x, n: -2.5 + 1 / (2 * (x + 10) - n),
    "m = mat3(2.0)\nr = (m @ transpose(m))[1][1] + (vec3(1.0, x, 0.0) @ m).y":
        lambda x, n: 4 + 2 * x,
    "r = int(x) + float(n) + f32(bool(n)) + f64(x) * 0": lambda x, n: np.trunc(x) + n + (n != 0),
    "r = i64(n) * 4000000000 // 1000000000": lambda x, n: n * 4,
    "r = clamp(n, 0, 3) + min(n, 1, 2) + max(n, 2) + abs(n) + i32(max(u32(n + 3), u32(2)))":
        lambda x, n: np.clip(n, 0, 3) + np.minimum(n, 1) + np.maximum(n, 2) + np.abs(n)
        + np.maximum(n + 3, 2),
    "r = sign(n) * 10 + sign(x)": lambda x, n: np.sign(n) * 10 + np.sign(x),
    "r = MAX * 2 + SCALE": lambda x, n: np.full_like(x, 2 * 7 + 0.5),
}
MAX, SCALE = 7, 0.5


@pytest.mark.parametrize("body", CONSTRUCTS)
def test_construct(mgr, body):
    shader = shader_from_source(
        """
        def construct(index=("input", "GlobalInvocationId", ivec3),
                      xs=("buffer", 0, Array(f32)), ns=("buffer", 1, Array(i32)),
                      out=("buffer", 2, Array(f32))):
            i = index.x
            x = xs[i]
            n = ns[i]\n""" + textwrap.indent(body, " " * 12) + "\n            out[i] = f32(r)\n",
        namespace={"MAX": MAX, "SCALE": SCALE})
    x = np.array([-1.5, -0.25, 0.0, 0.75, 2.5, 3.0, 1.25, -2.0], np.float32)
    n = np.array([-3, -1, 0, 1, 2, 3, 4, 5], np.int32)
    *_, out = dispatch(mgr, shader, x, n, np.zeros(8, np.float32))
    np.testing.assert_allclose(out, CONSTRUCTS[body](x, n).astype(np.float64), rtol=1e-6, atol=1e-6)


@python2shader(local_size=(32, 1, 1))
def histogram(index=("input", "GlobalInvocationId", ivec3),
              local=("input", "LocalInvocationIndex", i32),
              values=("buffer", 0, Array(u32)),
              counts=("buffer", 1, Array(u32)),
              bins=("shared", Array(u32, 8))):
    if local < 8:
        bins[local] = 0
    barrier()  # noqa: F821 (resolved by the compiler)
    atomic_add(bins, values[index.x] % 8, 1)  # noqa: F821
    barrier()  # noqa: F821
    if local < 8:
        atomic_add(counts, local, bins[local])  # noqa: F821


def test_atomics_on_shared_memory(mgr):
    values = np.random.default_rng(5).integers(0, 1000, 256).astype(np.uint32)
    _, counts = dispatch(mgr, histogram, values, np.zeros(8, np.uint32), workgroup=(8, 1, 1))
    np.testing.assert_array_equal(counts, np.bincount(values % 8, minlength=8))


def test_threads_compiling_at_once_share_the_cache(monkeypatch):
    # every compilation evicts an entry: two threads evicting the same one raised KeyError
    from kp.shader.python import compiler
    monkeypatch.setattr(compiler, "_CACHE_SIZE", 2)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch between any two bytecodes
    errors = []

    def compile_many(first):
        try:
            for bias in range(first, first + 300):
                @python2shader
                def add(index=("input", "GlobalInvocationId", ivec3), data=("buffer", 0, Array(f32))):
                    data[index.x] = data[index.x] + float(bias)
        except Exception as error:  # noqa: BLE001 (any error fails the test below)
            errors.append(error)

    threads = [threading.Thread(target=compile_many, args=(1000 * i,)) for i in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
