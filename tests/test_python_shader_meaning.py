"""Python's meaning in kernels: round() gives an int, `a or b` gives an operand,
NumPy scalars are constants, module-qualified helpers, divmod, sum/min/max of arrays."""

import numpy as np
import pytest

import kp
import python_shader_lib
from kp.shader import Array, f32, i32, ivec3, python2shader
from python_shader_helpers import dispatch

EPS = np.finfo(np.float32).eps
COUNT = np.int32(3)
HALF = np.float64(0.5)


@python2shader
def rounded(index=("input", "GlobalInvocationId", ivec3), x=("buffer", 0, Array(f32)),
            out=("buffer", 1, Array(i32))):
    out[index.x] = round(x[index.x])


def test_round_gives_an_int_rounding_half_to_even(mgr):
    x = np.array([-2.5, -1.5, -0.4, 0.5, 1.5, 2.5, 3.7, 1e6 + 0.5], np.float32)
    _, out = dispatch(mgr, rounded, x, np.zeros(8, np.int32))
    assert out.tolist() == [round(float(v)) for v in x]


@python2shader
def operands(index=("input", "GlobalInvocationId", ivec3), x=("buffer", 0, Array(f32)),
             n=("buffer", 1, Array(i32)), calls=("buffer", 2, Array(i32)), out=("buffer", 3, Array(f32))):
    i = index.x
    out[i * 3] = x[i] or 5.0
    out[i * 3 + 1] = x[i] and 7.0
    out[i * 3 + 2] = f32(n[i] or atomic_add(calls, 0, 100))  # noqa: F821 (runs only where n[i] is 0)


def test_or_and_and_give_the_operand_that_decides(mgr):
    x = np.array([0.0, 2.0, -1.5, 0.0], np.float32)
    n = np.array([4, 0, 3, 9], np.int32)
    *_, calls, out = dispatch(mgr, operands, x, n, np.array([1], np.int32), np.zeros(12, np.float32))
    expected = [[float(v) or 5.0, float(v) and 7.0, float(k or 1)] for v, k in zip(x, n)]
    np.testing.assert_array_equal(out.reshape(4, 3), expected)
    assert calls.tolist() == [101]  # the right operand ran once, where n[i] was 0


@python2shader
def numpy_constants(index=("input", "GlobalInvocationId", ivec3), x=("buffer", 0, Array(f32)),
                    out=("buffer", 1, Array(f32))):
    i = index.x
    out[i] = x[i] * COUNT + EPS + HALF + python_shader_lib.scaled(x[i]) + python_shader_lib.clamped_scaled(x[i])


def test_numpy_scalars_are_constants_and_module_helpers_are_called(mgr):
    x = np.array([0.0, 1.0, 4.0], np.float32)
    _, out = dispatch(mgr, numpy_constants, x, np.zeros(3, np.float32))
    np.testing.assert_allclose(out, x * 3 + EPS + 0.5 + 2 * x + np.minimum(2 * x, 5.0), rtol=1e-6)


@python2shader
def reductions(index=("input", "GlobalInvocationId", ivec3), x=("buffer", 0, Array(i32)),
               out=("buffer", 1, Array(i32))):
    i = index.x
    q, r = divmod(x[i], 4)
    window = [x[i], -x[i] * 2, 7, q]
    out[i * 5] = q
    out[i * 5 + 1] = r
    out[i * 5 + 2] = sum(window)
    out[i * 5 + 3] = min(window) + sum(window, 100)
    out[i * 5 + 4] = max(window)


def test_divmod_and_sum_min_max_of_a_local_array(mgr):
    x = np.array([-9, -4, 0, 3, 13], np.int32)
    _, out = dispatch(mgr, reductions, x, np.zeros(25, np.int32))
    expected = []
    for v in x.tolist():
        q, r = divmod(v, 4)
        window = [v, -v * 2, 7, q]
        expected.append([q, r, sum(window), min(window) + sum(window, 100), max(window)])
    assert out.reshape(5, 5).tolist() == expected


@pytest.mark.parametrize("body, message", [
    ("out[0] = sum(x)", r"sum\(\) of 'x' \(Array\(f32\)\) is not unrolled; write a loop: "
                        r"`for v in x: total \+= v`"),
    ("out[0] = max(x)", r"max\(\) of 'x' \(Array\(f32\)\) is not unrolled; write a loop: "
                        r"`for v in x: best = max\(best, v\)`"),
    ("out[0] = round(x[0], 2)", r"round\(x, ndigits\) is not supported; write round\(x \* 100\.0\) / 100\.0"),
    ("out[0] = round()", r"round\(\) takes 1 argument, got 0"),  # not "ndigits is not supported"
    ("q = divmod(x[0], 2.0)", r"divmod\(\) gives two values: unpack them, `q, r = divmod\(a, b\)`"),
    ("out[0] = x[0] or (x[0] > 1.0)", r"mixes booleans and numbers; write `... if condition else ...`"),
    ("out[0] = python_shader_lib.missing(x[0])", r"`python_shader_lib.missing` is not a function or type "
                                                 r"of module python_shader_lib"),
])
def test_what_python_allows_but_kernels_do_not_says_what_to_write(body, message):
    from python_shader_helpers import shader_from_source
    with pytest.raises(kp.ShaderCompileError, match=message):
        shader_from_source(f"""
            def kernel(index=("input", "GlobalInvocationId", ivec3), x=("buffer", 0, Array(f32)),
                       out=("buffer", 1, Array(f32))):
                {body}
        """, namespace={"python_shader_lib": python_shader_lib})
