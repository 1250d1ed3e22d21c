"""The kernels users write: calls to Python functions, the math module, local
arrays, subgroup operations and float atomics, run on the device against NumPy."""

import math

import numpy as np
import pytest

import kp
from kp.shader import Array, f32, f64, i32, ivec3, python2shader, reflect, u32
from kp.shader.spirv import AUTO_LOCAL_SIZE_IDS
from python_shader_helpers import dispatch, shader_from_source


def square(x):
    return x * x


def ordered(x, y):
    if x > y:
        return y, x
    return x, y


def clipped_square(x, low=0.0):
    for k in range(3):
        if k == 2:
            return square(max(x, low))  # a function calling another, returning from a loop
    return 0.0


def increment(values, i):
    values[i] = values[i] + 1.0  # arrays are passed by reference, as in Python


@python2shader
def calls_functions(index=("input", "GlobalInvocationId", ivec3),
                    a=("buffer", 0, Array(f32)), b=("buffer", 1, Array(f32))):
    i = index.x
    low, high = ordered(a[i], b[i])
    a[i] = square(low) + clipped_square(high - 2.0) + square(i)
    increment(b, i)


def test_calls_to_python_functions(mgr):
    x = np.array([1, 5, 3, -2, 0.5], np.float32)
    y = np.array([2, 1, 3, 4, -7], np.float32)
    out_a, out_b = dispatch(mgr, calls_functions, x, y)
    low, high = np.minimum(x, y), np.maximum(x, y)
    np.testing.assert_allclose(out_a, low ** 2 + np.maximum(high - 2, 0) ** 2 + np.arange(5) ** 2)
    np.testing.assert_array_equal(out_b, y + 1)


def test_functions_of_the_enclosing_scope_typed_at_each_call(mgr):
    def halve(x):
        return x // 2  # i32 // on integers, f32 floor division on floats

    @python2shader
    def typed(index=("input", "GlobalInvocationId", ivec3),
              ints=("buffer", 0, Array(i32)), floats=("buffer", 1, Array(f32))):
        i = index.x
        ints[i] = halve(ints[i])
        floats[i] = halve(floats[i])

    ints, floats = np.array([-7, -1, 0, 5], np.int32), np.array([-7.5, -1, 0, 5.5], np.float32)
    out_i, out_f = dispatch(mgr, typed, ints, floats)
    np.testing.assert_array_equal(out_i, ints // 2)
    np.testing.assert_array_equal(out_f, floats // 2)


@python2shader
def math_module(index=("input", "GlobalInvocationId", ivec3),
                x=("buffer", 0, Array(f32)), out=("buffer", 1, Array(f32)),
                ints=("buffer", 2, Array(i32))):
    i = index.x
    v = x[i]
    row = i * 16
    out[row + 0] = math.sqrt(abs(v)) + math.pi
    out[row + 1] = math.exp(v / 4.0) * math.e
    out[row + 2] = math.log(abs(v) + 1.0) + math.log(abs(v) + 1.0, 2.0) + math.log10(abs(v) + 1.0)
    out[row + 3] = math.sin(v) + math.cos(v) + math.atan2(v, 2.0) + math.tanh(v)
    out[row + 4] = math.fabs(v) + math.hypot(v, 3.0) + math.degrees(v) + math.radians(v)
    out[row + 5] = math.fmod(v, 1.5) + math.log1p(abs(v)) + math.expm1(v / 8.0)
    out[row + 6] = math.inf if v > 0.0 else -math.inf
    out[row + 7] = float("inf") if v > 0.0 else float("-inf")
    out[row + 8] = f32(math.isinf(math.inf * v)) + 2.0 * f32(math.isnan(float("nan") * v))
    out[row + 9] = f32(math.isfinite(v)) + f32(math.isfinite(math.inf * v)) + f32(math.isnan(v))
    out[row + 10] = math.pow(v, 3.0) + pow(v, 2.0) + v ** 3.0 + v ** 2 + v ** f32(i % 3)
    out[row + 11] = math.tau + math.asin(v / 10.0) + math.acos(v / 10.0) + math.atan(v)
    ints[i * 3 + 0] = math.floor(v)
    ints[i * 3 + 1] = math.ceil(v)
    ints[i * 3 + 2] = math.trunc(v)


def test_math_module(mgr):
    x = np.array([-3.5, -2.0, -0.25, 0.0, 0.75, 2.0, 5.0], np.float32)
    out, ints = np.zeros(16 * len(x), np.float32), np.zeros(3 * len(x), np.int32)
    _, out, ints = dispatch(mgr, math_module, x, out, ints)
    out = out.reshape(-1, 16)
    for i, v in enumerate(x.tolist()):
        a = abs(v)
        expected = [
            math.sqrt(a) + math.pi, math.exp(v / 4) * math.e,
            math.log(a + 1) + math.log(a + 1, 2) + math.log10(a + 1),
            math.sin(v) + math.cos(v) + math.atan2(v, 2) + math.tanh(v),
            abs(v) + math.hypot(v, 3) + math.degrees(v) + math.radians(v),
            math.fmod(v, 1.5) + math.log1p(a) + math.expm1(v / 8),
            math.inf if v > 0 else -math.inf, math.inf if v > 0 else -math.inf,
            float(v != 0) + 2.0, 1.0,
            math.pow(v, 3) + v ** 2 + v ** 3 + v ** 2 + v ** (i % 3),
            math.tau + math.asin(v / 10) + math.acos(v / 10) + math.atan(v),
        ]
        np.testing.assert_allclose(out[i, :12], expected, rtol=1e-4, atol=1e-4, err_msg=f"x={v}")
        assert ints[3 * i:3 * i + 3].tolist() == [math.floor(v), math.ceil(v), math.trunc(v)]


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0, 3.0, -1.0, -2.0, -3.0, 0.5])
def test_pow_of_negative_bases_follows_python(mgr, exponent):
    source = """
    def power(index=("input", "GlobalInvocationId", ivec3), x=("buffer", 0, Array(f32)),
              y=("buffer", 1, Array(f32)), out=("buffer", 2, Array(f32))):
        i = index.x
        out[i * 2] = pow(x[i], y[i])
        out[i * 2 + 1] = x[i] ** y[i]
    """
    x = np.array([-2.0, -0.5, -3.0, 2.0, 0.5], np.float32)
    y = np.full_like(x, exponent)
    *_, out = dispatch(mgr, shader_from_source(source), x, y, np.zeros(2 * len(x), np.float32))
    with np.errstate(invalid="ignore"):
        # Python: a float for integral exponents, a complex (here NaN) otherwise
        expected = np.array([v ** exponent if exponent.is_integer() or v >= 0 else np.nan
                             for v in x.tolist()], np.float32)
    np.testing.assert_allclose(out[0::2], expected, rtol=1e-6)
    np.testing.assert_allclose(out[1::2], expected, rtol=1e-6)


TAPS = 4


@python2shader
def local_arrays(index=("input", "GlobalInvocationId", ivec3),
                 x=("buffer", 0, Array(f32)), out=("buffer", 1, Array(f32)),
                 counts=("buffer", 2, Array(i32))):
    i = index.x
    acc = [0.0] * TAPS
    for k in range(len(acc)):
        acc[k] = x[i * TAPS + k] * f32(k + 1)
    residues: Array(i32, 3)  # declared: starts at zero
    for v in acc:
        residues[i32(v) % 3] += 1
    total = 0.0
    for v in acc:
        total += v
    out[i] = total
    weights = [x[i], 2.0, 0.5]
    weights[2] = weights[2] * 4.0
    out[len(x) // TAPS + i] = weights[0] * weights[1] + weights[2]
    for r in range(3):
        counts[i * 3 + r] = residues[r]


def test_local_arrays(mgr):
    x = np.arange(20, dtype=np.float32) * 1.5
    groups = len(x) // TAPS
    _, out, counts = dispatch(mgr, local_arrays, x, np.zeros(2 * groups, np.float32),
                              np.zeros(3 * groups, np.int32), workgroup=(groups, 1, 1))
    acc = x.reshape(groups, TAPS) * np.arange(1, TAPS + 1)
    np.testing.assert_allclose(out[:groups], acc.sum(axis=1))
    np.testing.assert_allclose(out[groups:], x[:groups] * 2 + 2)
    expected = [[(acc[g].astype(int) % 3 == r).sum() for r in range(3)] for g in range(groups)]
    np.testing.assert_array_equal(counts.reshape(groups, 3), expected)


@python2shader
def mixed_sign_comparisons(index=("input", "GlobalInvocationId", ivec3),
                           s=("buffer", 0, Array(i32)), u=("buffer", 1, Array(u32)),
                           out=("buffer", 2, Array(i32))):
    i = index.x
    a, b = s[i], u[i]
    out[i * 8 + 0] = i32(a < b)
    out[i * 8 + 1] = i32(a <= b)
    out[i * 8 + 2] = i32(a > b)
    out[i * 8 + 3] = i32(a >= b)
    out[i * 8 + 4] = i32(a == b)
    out[i * 8 + 5] = i32(a != b)
    out[i * 8 + 6] = i32(b > a)  # the unsigned side first
    out[i * 8 + 7] = i32(-1 < b)  # a negative literal


def test_signed_unsigned_comparisons_follow_python(mgr):
    s = np.array([-1, 5, 7, -2147483648, 2147483647, 0], np.int32)
    u = np.array([5, 5, 3, 0, 4294967295, 0], np.uint32)
    *_, out = dispatch(mgr, mixed_sign_comparisons, s, u, np.zeros(8 * len(s), np.int32))
    expected = [[a < b, a <= b, a > b, a >= b, a == b, a != b, b > a, -1 < b]
                for a, b in zip(s.tolist(), u.tolist())]
    np.testing.assert_array_equal(out.reshape(-1, 8), np.array(expected, np.int32))


def test_side_effects_in_a_swizzle_targets_index_run_once(mgr):
    source = """
    def once(index=("input", "GlobalInvocationId", ivec3),
             counter=("buffer", 0, Array(i32)), v=("buffer", 1, Array(vec4))):
        v[atomic_add(counter, 0, 1)].x = 1.0
        v[atomic_add(counter, 1, 1)].yz += vec2(2.0, 3.0)
    """
    counter, v = dispatch(mgr, shader_from_source(source), np.zeros(2, np.int32),
                          np.zeros(8, np.float32), workgroup=(1, 1, 1))
    assert counter.tolist() == [1, 1]
    assert v.tolist() == [1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0]


@python2shader(local_size=64)
def float_atomics(index=("input", "GlobalInvocationId", ivec3),
                  x=("buffer", 0, Array(f32)), stats=("buffer", 1, Array(f32)),
                  partial=("shared", Array(f32, 1))):
    i = index.x
    if index.x % 64 == 0:
        partial[0] = 0.0
    barrier()
    atomic_add(partial, 0, x[i])
    atomic_add(stats, 0, x[i])
    atomic_sub(stats, 1, x[i])
    atomic_min(stats, 2, x[i])
    atomic_max(stats, 3, x[i])
    barrier()
    if index.x % 64 == 0:
        atomic_add(stats, 4, partial[0])


def test_float_atomics(mgr):
    features = mgr.vk_device.features
    if not (features.get("shaderBufferFloat32AtomicAdd") and features.get("shaderSharedFloat32AtomicAdd")
            and features.get("shaderBufferFloat32AtomicMinMax")):
        pytest.skip("the device lacks float atomics")
    x = (np.arange(256, dtype=np.float32) - 100) / 4  # sums exact in f32
    _, stats = dispatch(mgr, float_atomics, x, np.array([0, 0, 1e9, -1e9, 0], np.float32),
                        workgroup=(4, 1, 1))
    assert stats.tolist() == [x.sum(), -x.sum(), x.min(), x.max(), x.sum()]


def test_float_atomics_the_device_lacks_are_refused_when_making_the_algorithm(mgr):
    if mgr.vk_device.features.get("shaderBufferFloat64AtomicAdd"):
        pytest.skip("the device has f64 atomic add")

    @python2shader
    def doubles(index=("input", "GlobalInvocationId", ivec3), x=("buffer", 0, Array(f64))):
        atomic_add(x, 0, 1.0)  # noqa: F821 (resolved by the compiler)

    tensor = mgr.tensor_t(np.zeros(4, np.float64))
    with pytest.raises(kp.ShaderError, match=r"needs AtomicFloat64AddEXT \(shaderBufferFloat64AtomicAdd "
                                             r"of VK_EXT_shader_atomic_float\), which .* does not support"):
        mgr.algorithm([tensor], doubles)


@python2shader(local_size=32)
def subgroup_operations(index=("input", "GlobalInvocationId", ivec3),
                        lane=("input", "SubgroupInvocationId", u32),
                        subgroup=("input", "SubgroupId", u32),
                        size=("input", "SubgroupSize", u32),
                        x=("buffer", 0, Array(f32)), n=("buffer", 1, Array(i32)),
                        out=("buffer", 2, Array(f32)), ints=("buffer", 3, Array(i32)),
                        ids=("buffer", 4, Array(u32))):
    i = index.x
    v, k = x[i], n[i]
    row = i * 12
    out[row + 0] = subgroup_add(v)
    out[row + 1] = subgroup_mul(v)
    out[row + 2] = subgroup_min(v)
    out[row + 3] = subgroup_max(v)
    out[row + 4] = subgroup_inclusive_add(v)
    out[row + 5] = subgroup_exclusive_add(v)
    out[row + 6] = subgroup_inclusive_max(v)
    out[row + 7] = subgroup_broadcast(v, 1)
    out[row + 8] = subgroup_broadcast_first(v)
    out[row + 9] = subgroup_shuffle(v, (lane + 1) % size)
    out[row + 10] = subgroup_shuffle_xor(v, u32(1))
    # every invocation shuffles: one that takes a branch cannot be read from
    down = subgroup_shuffle_down(v, u32(1))
    out[row + 11] = down if lane + 1 < size else 0.0
    row = i * 8
    ints[row + 0] = subgroup_and(k)
    ints[row + 1] = subgroup_or(k)
    ints[row + 2] = subgroup_xor(k)
    ints[row + 3] = subgroup_exclusive_xor(k)
    ints[row + 4] = i32(subgroup_ballot(k > 2).x)
    ints[row + 5] = i32(subgroup_elect())
    ints[row + 6] = i32(subgroup_all(k >= 0)) + 2 * i32(subgroup_any(k > 6)) + 4 * i32(subgroup_all_equal(k))
    up = subgroup_shuffle_up(k, u32(1))
    ints[row + 7] = up if lane > 0 else -1
    ids[i * 3 + 0] = lane
    ids[i * 3 + 1] = subgroup
    ids[i * 3 + 2] = size


def test_subgroup_operations(mgr):
    count = 64
    rng = np.random.default_rng(7)
    x = rng.integers(-8, 8, count).astype(np.float32) / 4  # exact sums and products
    n = rng.integers(0, 8, count).astype(np.int32)
    _, _, out, ints, ids = dispatch(mgr, subgroup_operations, x, n, np.zeros(12 * count, np.float32),
                                    np.zeros(8 * count, np.int32), np.zeros(3 * count, np.uint32),
                                    workgroup=(count // 32, 1, 1))
    out, ints, ids = out.reshape(count, 12), ints.reshape(count, 8), ids.reshape(count, 3)
    size = int(ids[0, 2])
    groups: dict[tuple[int, int], list[int]] = {}
    for i in range(count):  # each subgroup's invocations, by their id in it
        groups.setdefault((i // 32, int(ids[i, 1])), []).append(i)
    for members in groups.values():
        members.sort(key=lambda i: ids[i, 0])
        assert [ids[i, 0] for i in members] == list(range(size))
        v, k = x[members].astype(np.float64), n[members]
        for lane, i in enumerate(members):
            expected = [v.sum(), v.prod(), v.min(), v.max(), v[:lane + 1].sum(), v[:lane].sum(),
                        v[:lane + 1].max(), v[1], v[0], v[(lane + 1) % size], v[lane ^ 1],
                        v[lane + 1] if lane + 1 < size else 0.0]
            np.testing.assert_allclose(out[i], expected, rtol=1e-6)
            ballot = sum(1 << j for j in range(min(size, 32)) if k[j] > 2)
            votes = int(all(k >= 0)) + 2 * int(any(k > 6)) + 4 * int(len(set(k)) == 1)
            assert ints[i].tolist() == [
                np.bitwise_and.reduce(k), np.bitwise_or.reduce(k), np.bitwise_xor.reduce(k),
                np.bitwise_xor.reduce(k[:lane]) if lane else 0, np.int32(np.uint32(ballot)),
                int(lane == 0), votes, k[lane - 1] if lane else -1]


CLUSTERED_GLSL = """
#version 450
#extension GL_KHR_shader_subgroup_clustered : require
layout(local_size_x = 32) in;
layout(set = 0, binding = 0) buffer Data { float x[]; };
void main() { x[gl_GlobalInvocationID.x] = subgroupClusteredAdd(x[gl_GlobalInvocationID.x], 4); }
"""


def test_subgroup_operations_the_device_lacks_are_refused(mgr):
    if "clustered" in mgr.vk_device.physical.properties["subgroup_operations"]:
        pytest.skip("the device has clustered subgroup operations")
    with pytest.raises(kp.ShaderError, match=r"needs GroupNonUniformClustered \(subgroup clustered "
                                             r"operations in compute shaders\), which .* does not support"):
        mgr.algorithm([mgr.tensor(np.ones(32))], CLUSTERED_GLSL)


@python2shader
def count_invocations(index=("input", "GlobalInvocationId", ivec3),
                      hits=("buffer", 0, Array(i32)), width=("push_constant", 0, i32),
                      height=("push_constant", 1, i32)):
    atomic_add(hits, (index.z * height + index.y) * width + index.x, 1)  # noqa: F821
    atomic_add(hits, len(hits) - 1, 1)  # noqa: F821 (the total)


@pytest.mark.parametrize("size", [1, 2, 7, 63, 64, 65, 97, 1000, 4099])
def test_kp_chooses_the_local_size_of_global_id_kernels(mgr, size):
    spirv = count_invocations.to_spirv()
    assert count_invocations.local_size is None
    assert reflect(spirv).local_size_spec_ids == AUTO_LOCAL_SIZE_IDS
    hits = mgr.tensor_t(np.zeros(size + 1, np.int32))
    algorithm = mgr.algorithm([hits], spirv, workgroup=(size, 1, 1), push_consts=[size, 1])
    # what was asked for; the dispatch runs workgroups of 64
    assert algorithm.get_workgroup() == (size, 1, 1)
    assert algorithm.dispatch_groups == (-(-size // 64), 1, 1)
    mgr.sequence().record(kp.OpSyncDevice([hits])).record(kp.OpAlgoDispatch(algorithm)) \
        .record(kp.OpSyncLocal([hits])).eval()
    # every invocation asked for ran once, and none past them
    assert hits.data().tolist() == [1] * size + [size]


@pytest.mark.parametrize("workgroup", [(5, 3, 1), (1, 17, 1), (3, 2, 5), (9, 1, 1)])
def test_kp_chooses_the_local_size_in_2d_and_3d(mgr, workgroup):
    x, y, z = workgroup
    hits = mgr.tensor_t(np.zeros(x * y * z + 1, np.int32))
    algorithm = mgr.algorithm([hits], count_invocations, workgroup=workgroup, push_consts=[x, y])
    mgr.sequence().record(kp.OpSyncDevice([hits])).record(kp.OpAlgoDispatch(algorithm)) \
        .record(kp.OpSyncLocal([hits])).eval()
    assert hits.data().tolist() == [1] * (x * y * z) + [x * y * z]


@pytest.mark.parametrize("workgroup", [(1000, 1, 1), (64 * 7, 1, 1), (100, 9, 1), (5000, 1, 1)])
def test_workgroups_past_the_device_limit_fold_into_rows(mgr, monkeypatch, workgroup):
    # a device allowing 3 workgroups per axis: x of 1000 needs 16 of 64, so 6 rows
    limits = dict(mgr.vk_device.physical.properties, max_work_group_count=(3, 65535, 65535))
    monkeypatch.setattr(mgr.vk_device.physical, "properties", limits)
    x, y, _ = workgroup
    hits = mgr.tensor_t(np.zeros(x * y + 1, np.int32))
    algorithm = mgr.algorithm([hits], count_invocations, workgroup=workgroup, push_consts=[x, y])
    assert algorithm.get_workgroup() == workgroup
    assert all(g <= 3 for g in algorithm.dispatch_groups[:1])
    mgr.sequence().record(kp.OpSyncDevice([hits])).record(kp.OpAlgoDispatch(algorithm)) \
        .record(kp.OpSyncLocal([hits])).eval()
    assert hits.data().tolist() == [1] * (x * y) + [x * y]


@pytest.mark.parametrize("invocations", [(1 << 32) + 5, (1 << 32) - 1, 1 << 40])
def test_more_invocations_than_a_32_bit_index_counts_are_refused(mgr, invocations):
    # 2**32 + 5 would run indices 0 to 4 twice; 2**32 - 1 folds into rows past 2**32
    # where a row holds fewer than its 2**26 workgroups of 64 (lavapipe's 65535)
    if invocations < 1 << 32 and mgr.get_device_properties()["max_work_group_count"][0] >= -(-invocations // 64):
        pytest.skip("the device runs that many invocations in one row: their indices fit 32 bits")
    hits = mgr.tensor_t(np.zeros(2, np.int32))
    with pytest.raises(kp.InvalidArgumentError, match=r"more invocations than a kernel's 32-bit index counts"):
        mgr.algorithm([hits], count_invocations, workgroup=(invocations, 1, 1), push_consts=[1, 1])


@python2shader
def write_index(index=("input", "GlobalInvocationId", ivec3), out=("buffer", 0, Array(i32))):
    out[index.x] = index.x


def test_a_kernel_without_local_size_covers_2_to_the_23_elements(mgr):
    # 131072 workgroups of 64: over lavapipe's maxComputeWorkGroupCount of 65535
    out = mgr.tensor_t(np.full(1 << 23, -1, np.int32))
    algorithm = mgr.algorithm([out], write_index)
    assert algorithm.get_workgroup() == (1 << 23, 1, 1)
    mgr.sequence().record(kp.OpAlgoDispatch(algorithm)).record(kp.OpSyncLocal([out])).eval()
    np.testing.assert_array_equal(out.data(), np.arange(1 << 23, dtype=np.int32))


def test_the_seed_api_runs_kernels_with_a_chosen_local_size(mgr):
    # the seed API's default workgroup: one invocation per element of the first tensor
    n = 131
    a, b, out = kp.Tensor(list(range(n))), kp.Tensor([3] * n), kp.Tensor([0] * n)
    mgr.eval_tensor_create_def([a, b, out])
    mgr.eval_algo_data_def([a, b, out], calls_functions_free_multiply.to_spirv())
    mgr.eval_await_def()
    mgr.eval_tensor_sync_local_def([out])
    assert out.data() == [3.0 * i for i in range(n)]


@python2shader
def calls_functions_free_multiply(index=("input", "GlobalInvocationId", ivec3),
                                  a=("buffer", 0, Array(f32)), b=("buffer", 1, Array(f32)),
                                  out=("buffer", 2, Array(f32))):
    out[index.x] = a[index.x] * b[index.x]


@pytest.mark.parametrize("source", [
    'def k(index=("input", "LocalInvocationId", ivec3), x=("buffer", 0, Array(f32))):\n'
    '    x[index.x] = 1.0\n',
    'def k(index=("input", "GlobalInvocationId", ivec3), x=("buffer", 0, Array(f32)),\n'
    '      tile=("shared", Array(f32, 4))):\n    x[index.x] = 1.0\n',
    'def k(index=("input", "GlobalInvocationId", ivec3), x=("buffer", 0, Array(f32))):\n'
    '    barrier()\n',
    'def k(index=("input", "GlobalInvocationId", ivec3), x=("buffer", 0, Array(f32))):\n'
    '    x[index.x] = subgroup_add(1.0)\n',
    'def k(x=("buffer", 0, Array(f32))):\n    x[0] = 1.0\n',
])
def test_other_kernels_keep_a_local_size_of_one(source):
    info = reflect(shader_from_source(source, local_size=None).to_spirv())
    assert info.local_size == (1, 1, 1) and info.local_size_spec_ids == (None, None, None)
