"""The types of Python shaders: scalars, vectors, matrices and arrays.

The objects here are what a shader's parameter defaults name (``Array(f32)``,
``ivec3``) and, inside a shader, what its source calls as casts and
constructors (``f32(i)``, ``vec2(x, y)``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from ...errors import ShaderCompileError


class ShaderType:
    """Base of every shader type; its ``repr`` is the name a shader spells it by."""

    __slots__ = ()

    if TYPE_CHECKING:
        # a dataclass field in Scalar, a property elsewhere
        @property
        def name(self) -> str: ...

    def __repr__(self) -> str:
        return self.name

    def __call__(self, *args: object) -> None:
        raise TypeError(
            f"{self.name}(...) is a cast or constructor only inside a @python2shader function"
        )


@dataclass(frozen=True, repr=False)
class Scalar(ShaderType):
    """A scalar: ``kind`` is "float", "int" (signed), "uint" or "bool"; ``width`` in bits."""

    name: str
    kind: str
    width: int

    @property
    def size(self) -> int:
        return self.width // 8


f16 = Scalar("f16", "float", 16)
f32 = Scalar("f32", "float", 32)
f64 = Scalar("f64", "float", 64)
i32 = Scalar("i32", "int", 32)
u32 = Scalar("u32", "uint", 32)
i64 = Scalar("i64", "int", 64)
u64 = Scalar("u64", "uint", 64)
# Booleans have no size in memory: they never appear in buffers or push constants.
boolean = Scalar("boolean", "bool", 0)

_VECTOR_PREFIX = {
    f32: "vec", i32: "ivec", u32: "uvec", boolean: "bvec",
    f64: "dvec", f16: "f16vec", i64: "i64vec", u64: "u64vec",
}


@dataclass(frozen=True, repr=False)
class Vector(ShaderType):
    """A vector of 2 to 4 scalars of one type, e.g. ``vec3`` is ``Vector(f32, 3)``."""

    elem: Scalar
    length: int

    @property
    def name(self) -> str:
        return f"{_VECTOR_PREFIX[self.elem]}{self.length}"

    @property
    def size(self) -> int:
        return self.elem.size * self.length


@dataclass(frozen=True, repr=False)
class Matrix(ShaderType):
    """A column-major matrix of f32 with ``cols`` columns of ``rows`` rows."""

    cols: int
    rows: int

    @property
    def name(self) -> str:
        return f"mat{self.cols}" if self.cols == self.rows else f"mat{self.cols}x{self.rows}"

    @property
    def elem(self) -> Scalar:
        return f32

    @property
    def column(self) -> Vector:
        return Vector(f32, self.rows)


@dataclass(frozen=True, repr=False)
class ArrayType(ShaderType):
    """An array of scalars or vectors; ``length`` None is a runtime-sized array."""

    elem: Scalar | Vector
    length: int | None

    @property
    def name(self) -> str:
        return f"Array({self.elem!r})" if self.length is None else f"Array({self.elem!r}, {self.length})"


def _is_size(value: object) -> bool:
    """A length the module can hold: SPIR-V writes it as a 32-bit constant."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2 ** 32


def _size_hint(value: object) -> str:
    return " (a SPIR-V module holds sizes below 2**32)" if isinstance(value, int) and value >= 2 ** 32 else ""


def Array(elem: ShaderType, length: int | None = None) -> ArrayType:  # noqa: N802 (pyshader's spelling)
    """The type of a buffer or shared array: ``Array(f32)`` has the length of the
    tensor bound to it, ``Array(f32, 256)`` a fixed length (required for shared and
    local arrays)."""
    if not isinstance(elem, (Scalar, Vector)) or elem_of(elem) == boolean:
        hints: dict[object, str] = {float: "f32", int: "i32", bool: "u32"}
        hint = hints.get(elem, "f32, i32, u32, vec4, ...")
        raise ShaderCompileError(f"{caller()}: Array elements must be numeric shader types, not "
                                 f"{getattr(elem, '__name__', repr(elem))}; write Array({hint})")
    if length is not None and not _is_size(length):
        raise ShaderCompileError(f"{caller()}: Array length must be a positive int, not {length!r}{_size_hint(length)}")
    return ArrayType(elem, length)


# The uses of a cooperative matrix: the A and B operands of a product, its accumulator.
COOPERATIVE_MATRIX_USES = ("a", "b", "accumulator")


@dataclass(frozen=True, repr=False)
class CoopMatType(ShaderType):
    """A cooperative matrix (a tensor-core fragment) shared by the invocations of a
    subgroup: ``rows`` x ``cols`` of ``elem``, for ``use`` "a", "b" or "accumulator"."""

    elem: Scalar
    rows: int
    cols: int
    use: str

    @property
    def name(self) -> str:
        return f"CoopMat({self.elem!r}, {self.rows}, {self.cols}, {self.use!r})"


def CoopMat(elem: ShaderType, rows: int, cols: int, use: str) -> CoopMatType:  # noqa: N802 (a type, as Array)
    """The type of a cooperative matrix of a subgroup: ``CoopMat(f16, 16, 16, "a")``
    is the A operand of a 16 x 16 x 16 product, ``CoopMat(f32, 16, 16,
    "accumulator")`` its accumulator. The device must list the configuration
    (``kp.list_devices()[i]["cooperative_matrices"]``); kp refuses the algorithm
    otherwise."""
    if not isinstance(elem, Scalar) or elem.kind == "bool":
        raise ShaderCompileError(f"{caller()}: CoopMat elements are a numeric scalar type (f16, f32, "
                                 f"i32, ...), not {elem!r}")
    for what, value in (("rows", rows), ("cols", cols)):
        if not _is_size(value):
            raise ShaderCompileError(f"{caller()}: CoopMat {what} must be a positive int, not {value!r}"
                                     f"{_size_hint(value)}")
    if use not in COOPERATIVE_MATRIX_USES:
        raise ShaderCompileError(f"{caller()}: CoopMat use must be one of {', '.join(map(repr, COOPERATIVE_MATRIX_USES))}, "
                                 f"not {use!r}")
    return CoopMatType(elem, rows, cols, use)


def caller(depth: int = 2) -> str:
    """``file:line`` of the code that called the function calling this one."""
    frame = sys._getframe(depth)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


# Storage-image formats as GLSL spells them: SPIR-V's ImageFormat number and the
# scalar texels are read and written as: those of Kompute's images (float32, int32,
# uint32, int16, uint16, int8, uint8 with 1, 2 or 4 channels).
IMAGE_FORMATS: dict[str, tuple[int, Scalar]] = {
    "rgba32f": (1, f32), "r32f": (3, f32), "rg32f": (6, f32),
    "rgba32i": (21, i32), "rgba16i": (22, i32), "rgba8i": (23, i32), "r32i": (24, i32),
    "rg32i": (25, i32), "rg16i": (26, i32), "rg8i": (27, i32), "r16i": (28, i32), "r8i": (29, i32),
    "rgba32ui": (30, u32), "rgba16ui": (31, u32), "rgba8ui": (32, u32), "r32ui": (33, u32),
    "rg32ui": (35, u32), "rg16ui": (36, u32), "rg8ui": (37, u32), "r16ui": (38, u32), "r8ui": (39, u32),
}
# Formats every Vulkan device has for storage images; the others need the
# StorageImageExtendedFormats capability (shaderStorageImageExtendedFormats).
BASIC_IMAGE_FORMATS = frozenset({"rgba32f", "r32f", "rgba32i", "rgba16i", "rgba8i", "r32i",
                                 "rgba32ui", "rgba16ui", "rgba8ui", "r32ui"})


@dataclass(frozen=True, repr=False)
class ImageType(ShaderType):
    """A 2-D storage image of ``format``: ``image[ivec2(x, y)]`` is a texel, read as a
    4-vector of the format's kind (vec4, ivec4, uvec4) and written as one."""

    format: str

    @property
    def name(self) -> str:
        return f"Image2D({self.format!r})"

    @property
    def texel(self) -> Vector:
        return Vector(IMAGE_FORMATS[self.format][1], 4)


def Image2D(format: str) -> ImageType:  # noqa: N802 (a type, as Array)
    """The type of a storage image parameter: ``("image", 1, Image2D("r32f"))``.

    ``format`` is the image's format as GLSL spells it: ``"r32f" "rg32f" "rgba32f"``,
    ``"r32i" ... "rgba8i"``, ``"r32ui" ... "rgba8ui"`` (32-, 16- and 8-bit integers with
    1, 2 or 4 channels). The normalized ``"r8" "rg8" "rgba8"`` are refused: a kp.Image
    holds its dtype's numbers, so a uint8 image is ``"rgba8ui"``, read as 0 to 255."""
    if format in ("r8", "rg8", "rgba8"):
        raise ShaderCompileError(f"{caller()}: image format {format!r} is normalized (0.0 to 1.0), which no "
                                 f"kp.Image holds: a uint8 image is Image2D({format + 'ui'!r}), its texels "
                                 f"0 to 255 (divide by 255.0), or use a float32 image, Image2D('r32f')")
    if format not in IMAGE_FORMATS:
        raise ShaderCompileError(f"{caller()}: unknown image format {format!r}; use one of "
                                 f"{', '.join(IMAGE_FORMATS)}")
    return ImageType(format)


vec2, vec3, vec4 = (Vector(f32, n) for n in (2, 3, 4))
ivec2, ivec3, ivec4 = (Vector(i32, n) for n in (2, 3, 4))
uvec2, uvec3, uvec4 = (Vector(u32, n) for n in (2, 3, 4))
mat2, mat3, mat4 = (Matrix(n, n) for n in (2, 3, 4))

# Every type a shader may name, by the name it is spelled with; the compiler
# resolves these even where the module did not import them.
TYPES: dict[str, ShaderType] = {
    t.name: t
    for t in (f16, f32, f64, i32, u32, i64, u64, boolean,
              vec2, vec3, vec4, ivec2, ivec3, ivec4, uvec2, uvec3, uvec4, mat2, mat3, mat4)
}


def scalar_type(kind: str, width: int) -> Scalar:
    """The scalar type of ``kind`` ("float", "int", "uint") and ``width`` bits."""
    return next(t for t in TYPES.values()
                if isinstance(t, Scalar) and t.kind == kind and t.width == width)


def elem_of(t: ShaderType) -> Scalar:
    """The scalar type of a scalar, vector, matrix or cooperative matrix."""
    return t if isinstance(t, Scalar) else cast("Vector | Matrix | CoopMatType", t).elem


def with_elem(t: ShaderType, elem: Scalar) -> ShaderType:
    """``t`` with the same shape and scalar type ``elem`` (vec3, i32 -> ivec3)."""
    if isinstance(t, Vector):
        return Vector(elem, t.length)
    return elem


def count_of(t: ShaderType) -> int:
    """Number of scalar components of a scalar, vector or matrix."""
    if isinstance(t, Vector):
        return t.length
    if isinstance(t, Matrix):
        return t.cols * t.rows
    return 1
