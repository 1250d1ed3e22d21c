"""The built-in functions of Python shaders: the math library as one table.

Math functions map to GLSL.std.450 extended instructions; the front end picks the
float / signed / unsigned variant from the arguments' type. The few built-ins with
typing rules of their own (``dot``, ``any``, ``all``, ``transpose``, ``len``,
``range``, ``barrier``) are handled by the front end by name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MathFunction:
    """A GLSL.std.450 function and its typing rule.

    ``nargs`` arguments (``variadic``: two or more, folded pairwise) are brought to
    one common type, scalars spread over vectors; integer arguments of a float-only
    function become f32. ``scalar_result``: the result is the scalar type
    (``length``); ``f64``: GLSL.std.450 defines it for 64-bit floats; ``vec3``: the
    arguments must be 3-vectors (``cross``).
    """

    nargs: int
    float_inst: int
    sint_inst: int | None = None
    uint_inst: int | None = None
    variadic: bool = False
    scalar_result: bool = False
    f64: bool = True
    vec3: bool = False


MATH: dict[str, MathFunction] = {
    # abs of an unsigned value is the value itself (the front end returns it).
    "abs": MathFunction(1, 4, sint_inst=5),
    "sign": MathFunction(1, 6, sint_inst=7),
    # Python's round() rounds half to even.
    "round": MathFunction(1, 2),
    "trunc": MathFunction(1, 3),
    "floor": MathFunction(1, 8),
    "ceil": MathFunction(1, 9),
    "fract": MathFunction(1, 10),
    "radians": MathFunction(1, 11, f64=False),
    "degrees": MathFunction(1, 12, f64=False),
    "sin": MathFunction(1, 13, f64=False),
    "cos": MathFunction(1, 14, f64=False),
    "tan": MathFunction(1, 15, f64=False),
    "asin": MathFunction(1, 16, f64=False),
    "acos": MathFunction(1, 17, f64=False),
    "atan": MathFunction(1, 18, f64=False),
    "sinh": MathFunction(1, 19, f64=False),
    "cosh": MathFunction(1, 20, f64=False),
    "tanh": MathFunction(1, 21, f64=False),
    "asinh": MathFunction(1, 22, f64=False),
    "acosh": MathFunction(1, 23, f64=False),
    "atanh": MathFunction(1, 24, f64=False),
    "atan2": MathFunction(2, 25, f64=False),
    "pow": MathFunction(2, 26, f64=False),
    "exp": MathFunction(1, 27, f64=False),
    "log": MathFunction(1, 28, f64=False),
    "exp2": MathFunction(1, 29, f64=False),
    "log2": MathFunction(1, 30, f64=False),
    "sqrt": MathFunction(1, 31),
    "inversesqrt": MathFunction(1, 32),
    "min": MathFunction(2, 37, sint_inst=39, uint_inst=38, variadic=True),
    "max": MathFunction(2, 40, sint_inst=42, uint_inst=41, variadic=True),
    "clamp": MathFunction(3, 43, sint_inst=45, uint_inst=44),
    "mix": MathFunction(3, 46),
    "step": MathFunction(2, 48),
    "smoothstep": MathFunction(3, 49),
    "fma": MathFunction(3, 50),
    "length": MathFunction(1, 66, scalar_result=True),
    "distance": MathFunction(2, 67, scalar_result=True),
    "cross": MathFunction(2, 68, vec3=True),
    "normalize": MathFunction(1, 69),
    "reflect": MathFunction(2, 71),
}

# Functions of Python's math module that are the GLSL.std.450 function of the same
# name (``math.sqrt``); the front end builds the others (``math.log10``, ``math.floor``
# returning an int, ...) from these.
MATH_MODULE_SAME = frozenset({
    "sqrt", "exp", "exp2", "log2", "pow", "sin", "cos", "tan", "asin", "acos", "atan", "atan2",
    "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "degrees", "radians",
})
MATH_MODULE_OTHER = frozenset({
    "fabs", "floor", "ceil", "trunc", "log", "log10", "log1p", "expm1", "hypot", "fmod",
    "isnan", "isinf", "isfinite",
})

# kp.shader.stdlib's functions (pyshader's names): the built-in each compiles to, a
# key of MATH or STDLIB_MATH, or "read" / "write" of an image, or "sample" (refused).
STDLIB_NAMES: dict[str, str] = {
    **{name: name for name in (
        "trunc", "abs", "sign", "floor", "ceil", "fract", "radians", "degrees", "sin", "cos", "tan", "asin",
        "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "atan2", "pow", "exp", "log",
        "exp2", "log2", "sqrt", "min", "max", "clamp", "mix", "step", "length", "distance", "cross",
        "normalize", "reflect", "nmin", "nmax", "nclamp", "read", "write", "sample")},
    # pyshader's round keeps the float type (Python's built-in round gives an int)
    "round": "round_even", "round_even": "round_even", "matrix_inverse": "inverse",
    "smooth_step": "smoothstep", "face_forward": "faceforward",
}
# GLSL.std.450 functions only kp.shader.stdlib names.
STDLIB_MATH: dict[str, MathFunction] = {
    "round_even": MathFunction(1, 2),
    "faceforward": MathFunction(3, 70),
    "nmin": MathFunction(2, 79),
    "nmax": MathFunction(2, 80),
    "nclamp": MathFunction(3, 81),
}

# Matrix functions of GLSL.std.450 (square matrices only).
DETERMINANT = 33
MATRIX_INVERSE = 34

# Python's own conversions, read as casts.
CASTS: dict[str, str] = {"int": "i32", "float": "f32", "bool": "boolean"}

# Atomic read-modify-write functions: atomic_<op>(array, index, value) returns
# the old value; atomic_compare_exchange(array, index, comparator, value).
ATOMICS: dict[str, str] = {
    f"atomic_{op}": op
    for op in ("add", "sub", "min", "max", "and", "or", "xor", "exchange", "compare_exchange")
}

# Subgroup operations (Vulkan 1.1): subgroup_<op>(x) reduces x over the subgroup,
# subgroup_inclusive_<op> and subgroup_exclusive_<op> scan it.
SUBGROUP_ARITHMETIC = ("add", "mul", "min", "max", "and", "or", "xor")
SUBGROUP_FUNCTIONS: frozenset[str] = frozenset({
    *(f"subgroup{scan}_{op}" for op in SUBGROUP_ARITHMETIC for scan in ("", "_inclusive", "_exclusive")),
    "subgroup_elect", "subgroup_all", "subgroup_any", "subgroup_all_equal", "subgroup_ballot",
    "subgroup_broadcast", "subgroup_broadcast_first", "subgroup_shuffle", "subgroup_shuffle_xor",
    "subgroup_shuffle_up", "subgroup_shuffle_down",
})
