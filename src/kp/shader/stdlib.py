"""The shader standard library under pyshader's names, for kernels written for pyshader.

pyshader users import their math from ``pyshader.stdlib``; the same names are here,
so such a kernel compiles with ``python2shader`` after changing the import (or
through a ``pyshader`` module that re-exports ``kp.shader`` and this module)::

    from kp.shader import python2shader, Array, f32, ivec3
    from kp.shader.stdlib import exp, log

    @python2shader
    def log_sigmoid(index=("input", "GlobalInvocationId", ivec3), x=("buffer", 0, Array(f32))):
        x[index.x] = log(1.0 / (1.0 + exp(-x[index.x])))

Each function here is a documented stub: called outside a shader it raises
``kp.ShaderCompileError``; inside one, the compiler recognises it (by identity,
whatever name it is imported as) and emits the built-in it stands for. Their
meaning is pyshader's: ``round`` keeps the float type (rounding half to even),
unlike Python's built-in ``round``, which gives an int in a kernel as in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

from ..errors import ShaderCompileError


def _stub(name: str, doc: str) -> Callable[..., NoReturn]:
    def stub(*args: object) -> NoReturn:
        raise ShaderCompileError(f"kp.shader.stdlib.{name}() only works inside a function compiled "
                                 f"with @python2shader")
    stub.__name__ = stub.__qualname__ = name
    stub.__doc__ = doc
    return stub


read = _stub("read", "read(image, coord): the texel of a storage image at ivec2 ``coord``, "
                     "as a vec4 (ivec4, uvec4 for integer formats); the same as ``image[coord]``.")
write = _stub("write", "write(image, coord, color): store ``color`` at ivec2 ``coord`` of a "
                       "storage image; the same as ``image[coord] = color``.")
sample = _stub("sample", "sample(texture, sampler, coord): refused; kp binds storage images, "
                         "which are read with ``read`` or ``image[coord]``, not sampled.")
round = _stub("round", "round(x): x rounded to the nearest whole number, half to even, of x's "
                       "float type (scalar or vector).")
round_even = _stub("round_even", "round_even(x): x rounded to the nearest whole number, half to even.")
trunc = _stub("trunc", "trunc(x): x rounded towards zero (-3.2 gives -3.0).")
abs = _stub("abs", "abs(x): the absolute value of an int or float scalar or vector.")
sign = _stub("sign", "sign(x): 1 where x > 0, -1 where x < 0, 0 elsewhere.")
floor = _stub("floor", "floor(x): the largest whole number not above x, of x's float type.")
ceil = _stub("ceil", "ceil(x): the smallest whole number not below x, of x's float type.")
fract = _stub("fract", "fract(x): x - floor(x).")
radians = _stub("radians", "radians(x): degrees to radians.")
degrees = _stub("degrees", "degrees(x): radians to degrees.")
sin = _stub("sin", "sin(x), x in radians.")
cos = _stub("cos", "cos(x), x in radians.")
tan = _stub("tan", "tan(x), x in radians.")
asin = _stub("asin", "asin(x): the arc sine, in radians.")
acos = _stub("acos", "acos(x): the arc cosine, in radians.")
atan = _stub("atan", "atan(x): the arc tangent, in radians.")
sinh = _stub("sinh", "sinh(x): the hyperbolic sine.")
cosh = _stub("cosh", "cosh(x): the hyperbolic cosine.")
tanh = _stub("tanh", "tanh(x): the hyperbolic tangent.")
asinh = _stub("asinh", "asinh(x): the inverse hyperbolic sine.")
acosh = _stub("acosh", "acosh(x): the inverse hyperbolic cosine.")
atanh = _stub("atanh", "atanh(x): the inverse hyperbolic tangent.")
atan2 = _stub("atan2", "atan2(y, x): the angle of the point (x, y), in radians.")
pow = _stub("pow", "pow(x, y): x raised to y.")
exp = _stub("exp", "exp(x): e raised to x.")
log = _stub("log", "log(x): the natural logarithm.")
exp2 = _stub("exp2", "exp2(x): 2 raised to x.")
log2 = _stub("log2", "log2(x): the base-2 logarithm.")
sqrt = _stub("sqrt", "sqrt(x): the square root.")
matrix_inverse = _stub("matrix_inverse", "matrix_inverse(m): the inverse of a square matrix.")
min = _stub("min", "min(x, y): the smaller, component-wise.")
max = _stub("max", "max(x, y): the larger, component-wise.")
clamp = _stub("clamp", "clamp(x, min_val, max_val): min(max(x, min_val), max_val).")
mix = _stub("mix", "mix(x, y, a): x * (1 - a) + y * a.")
step = _stub("step", "step(edge, x): 0.0 where x < edge, else 1.0.")
smooth_step = _stub("smooth_step", "smooth_step(edge0, edge1, x): Hermite interpolation "
                                   "between 0 and 1 as x goes from edge0 to edge1.")
length = _stub("length", "length(v): the length of vector v.")
distance = _stub("distance", "distance(p0, p1): the distance between two points.")
cross = _stub("cross", "cross(a, b): the cross product of two 3-vectors.")
normalize = _stub("normalize", "normalize(v): v scaled to length 1.")
face_forward = _stub("face_forward", "face_forward(n, i, n_ref): n if dot(n_ref, i) < 0, else -n.")
reflect = _stub("reflect", "reflect(i, n): the reflection of i off the surface with normal n.")
nmin = _stub("nmin", "nmin(x, y): min of floats, the other operand where one is NaN.")
nmax = _stub("nmax", "nmax(x, y): max of floats, the other operand where one is NaN.")
nclamp = _stub("nclamp", "nclamp(x, min_val, max_val): clamp of floats, NaN-aware as nmin, nmax.")

__all__ = [
    "read", "write", "sample", "round", "round_even", "trunc", "abs", "sign", "floor", "ceil", "fract",
    "radians", "degrees", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh",
    "acosh", "atanh", "atan2", "pow", "exp", "log", "exp2", "log2", "sqrt", "matrix_inverse", "min", "max",
    "clamp", "mix", "step", "smooth_step", "length", "distance", "cross", "normalize", "face_forward",
    "reflect", "nmin", "nmax", "nclamp",
]
