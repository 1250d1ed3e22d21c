"""The kernels users write: calls to Python functions, the math module, local
arrays, subgroup operations and float atomics, run on the device against NumPy."""

import math

import numpy as np
import pytest

import kp
from kp.shader import Array, f32, i32, ivec3, python2shader, u32
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
