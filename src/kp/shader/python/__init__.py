"""python2shader: compile Python functions to SPIR-V compute shaders.

The function's source is parsed with ``ast``, typed, and emitted as SPIR-V 1.3
words (Vulkan 1.1), with no external compiler::

    from kp.shader import python2shader, Array, f32, ivec3

    @python2shader(local_size=(64, 1, 1))
    def scale(index=("input", "GlobalInvocationId", ivec3),
              data=("buffer", 0, Array(f32)),
              factor=("push_constant", 0, f32)):
        i = index.x
        data[i] = data[i] * factor

    algo = mgr.algorithm([tensor], scale.to_spirv(), workgroup=(n // 64, 1, 1),
                         push_consts=[2.0])

``@python2shader`` and ``@python2shader(local_size=(x, y, z))`` are both accepted.
Compiling takes milliseconds and is cached by source, arguments and the global
and closure values the kernel and every function it calls read, so a kernel made
again after such a value changed is compiled anew.

A kernel that declares no local size and reads only ``GlobalInvocationId`` (no
other input, shared memory, ``barrier()`` or subgroup operation) runs with a local
size kp chooses (64 invocations) when it makes the algorithm: ``workgroup`` then
counts invocations, as with a local size of 1 (the default, one per element of
the first tensor; ``get_workgroup()`` returns it), kp dispatches enough
workgroups to cover them (in rows where one row would pass the device's
maxComputeWorkGroupCount, so any number of invocations runs on every device),
and the invocations past them do nothing. Any other kernel without a declared local
size has a local size of (1, 1, 1).

Parameters are declared by their defaults
------------------------------------------
``("input", name, type)``
    A compute built-in: ``"GlobalInvocationId"``, ``"LocalInvocationId"``,
    ``"WorkgroupId"``, ``"NumWorkgroups"`` (``ivec3`` or ``uvec3``),
    ``"LocalInvocationIndex"``, or the subgroup built-ins ``"SubgroupSize"``,
    ``"SubgroupId"``, ``"NumSubgroups"`` and ``"SubgroupInvocationId"`` (the
    invocation's index in its subgroup) (``i32`` or ``u32``).
``("buffer", binding, Array(T))``
    The tensor at ``binding`` of descriptor set 0, as ``mgr.algorithm([t0, t1, ...])``
    binds them. ``T`` is a numeric scalar or a 2- or 4-vector; ``len(buffer)`` is its
    number of elements.
``("image", binding, Image2D(format))``
    The ``kp.Image`` at ``binding`` (buffers and images share the bindings), a 2-D
    storage image of ``format`` as GLSL spells it: ``"r32f" "rg32f" "rgba32f"``,
    ``"r32i" "rg32i" "rgba32i"`` and the 16- and 8-bit ``"r16i" ... "rgba8i"``,
    ``"r32ui" ... "rgba8ui"`` (Kompute's image types). The normalized ``"r8" "rg8"
    "rgba8"`` are refused, as no ``kp.Image`` holds them: a uint8 image is
    ``"rgba8ui"`` and reads 0 to 255. ``img[ivec2(x, y)]`` reads a texel as a ``vec4`` (``ivec4``,
    ``uvec4`` for integer formats; channels the format lacks read as 0, alpha as 1)
    and assigning to it writes one (a scalar fills every channel)::

        @python2shader
        def axpy(index=("input", "GlobalInvocationId", ivec3),
                 a=("image", 0, Image2D("rgba32f")), b=("image", 1, Image2D("rgba32f")),
                 out=("image", 2, Image2D("rgba32f")), alpha=("push_constant", 0, f32)):
            p = index.xy
            out[p] = alpha * a[p] + b[p]

``("push_constant", index, T)``
    Push constant number ``index`` (numeric scalar or vector). Members are laid out
    in index order at std430 offsets, so 4-byte scalars sit at byte ``4 * index``:
    exactly what ``push_consts=[...]`` sends.
``("spec_constant", constant_id, T)`` or ``("spec_constant", constant_id, T, default)``
    Specialisation constant ``constant_id`` (scalar ``T``, default 0), set by
    ``spec_consts=[...]`` in id order.
``("shared", Array(T, n))`` or ``("shared", T)``
    Workgroup-shared memory, visible to every invocation of a workgroup.

Types
-----
``f16 f32 f64 i32 u32 i64 u64 boolean``, ``vec2-4 ivec2-4 uvec2-4``, ``mat2-4``
(f32, column-major: ``m[column][row]``), ``Array(T)`` and ``Array(T, n)``. f16,
f64, i64 and u64 need the device features of the same names. Inside a shader a type
is a cast or constructor: ``f32(i)``, ``vec4(v.xy, 0.0, 1.0)``, ``mat2(c0, c1)``,
``mat3(1.0)`` (the identity); ``int(x)``, ``float(x)`` and ``bool(x)`` are
``i32(x)``, ``f32(x)`` and ``boolean(x)``. A local can be declared ``acc: f32 = 0``.

Local arrays
------------
Each invocation has its own arrays: ``acc = [0.0] * 4``, ``w = [x, 2.0, 0.5]`` or a
declaration ``hist: Array(i32, 8)`` (zeros), indexed, assigned to and looped over::

    @python2shader
    def moving_sum(index=("input", "GlobalInvocationId", ivec3),
                   x=("buffer", 0, Array(f32)), out=("buffer", 1, Array(f32))):
        acc = [0.0] * 4
        for k in range(len(acc)):
            acc[k] = x[index.x + k]
        total = 0.0
        for v in acc:
            total += v
        out[index.x] = total

The length is a number known when compiling; an index past the end is undefined.

Calling Python functions
------------------------
A kernel may call functions defined in its module or enclosing scope, or in another
module through its name (``mylib.func(x)``), written in the same subset. Each is compiled once per list of argument types (so ``halve(i)`` and
``halve(x)`` are an i32 and an f32 function); it may return a value or a tuple, call
other functions, and take buffers and shared arrays (by reference, as in Python).
Recursion is refused::

    def ordered(a, b):
        return (b, a) if a > b else (a, b)

    def square(x):
        return x * x

    @python2shader
    def spread(index=("input", "GlobalInvocationId", ivec3),
               a=("buffer", 0, Array(f32)), b=("buffer", 1, Array(f32))):
        low, high = ordered(a[index.x], b[index.x])
        a[index.x] = square(high - low)

Statements and expressions
--------------------------
Assignment (also ``a, b = b, a``) and augmented assignment, ``if/elif/else``,
``while``, ``for i in range(stop | start, stop | start, stop, step)`` (a step of
zero at run time runs no iteration), ``break``,
``continue``, ``return``, ``x if c else y``, comparisons (chains too), ``and``,
``or``, ``not`` (short-circuit, Python's truthiness of numbers), ``+ - * / // %
** << >> & | ^ ~``, swizzles (``v.x``, ``v.xy``, ``v.zyx``, ``v.rgb``; also as
assignment targets) and indexing. Globals (and closure variables) holding numbers
are constants; a NumPy scalar of 32 bits keeps its type (``np.float32(0.5)``,
``np.finfo(np.float32).eps``, ``np.int32(4)``). ``print(...)`` prints from the
kernel when its manager prints (``kp.Manager(debug_printf=True)`` or
``KP_SHADER_PRINTF=1``): strings, numbers (booleans as 1 and 0) and vectors,
``sep=``, and f-strings with printf conversions (``f"{x:.3f}"``); a line per
message on stdout, with the invocation that printed it.

Semantics are Python's where Python has one: ``/`` is true division (integers
give f32), ``//`` and ``%`` floor (the result of ``%`` has the divisor's sign),
``round(x)`` is an int rounded half to even, ``a or b`` and ``a and b`` give the
operand that decides (the right one evaluated only when needed; in a condition
they are short-circuit booleans), ``q, r = divmod(a, b)`` floors, ``sum``,
``min`` and ``max`` take a local or shared array (up to 64 elements), ``**`` with a literal exponent of 0 to 16 multiplies,
and ``x ** y`` and ``pow(x, y)`` of a negative ``x`` and an integral ``y`` give
Python's result (NaN where Python's is complex). Comparing a signed with an
unsigned integer gives Python's answer (``-1 < u32(5)`` is True); ``min`` and
``max`` of signed and unsigned integers are refused. An index with a side effect
(``v[atomic_add(c, 0, 1)].x = 1.0``) runs once. Operands of mixed types promote as in GLSL
(i32 -> u32 -> f32 -> f64, narrower to wider), and literals take the type of the
other operand. ``*`` is component-wise, also on matrices; ``@`` is the dot product
of vectors and the linear-algebra product with matrices. Comparing vectors gives a
boolean vector: reduce it with ``any()`` or ``all()``.

The math module
---------------
``math.sqrt math.exp math.exp2 math.log (1 or 2 arguments) math.log2 math.log10
math.log1p math.expm1 math.pow math.sin math.cos math.tan math.asin math.acos
math.atan math.atan2 math.sinh math.cosh math.tanh math.asinh math.acosh
math.atanh math.degrees math.radians math.fabs math.hypot math.fmod math.isnan
math.isinf math.isfinite`` and ``math.floor math.ceil math.trunc`` (which give
ints, as in Python); the constants ``math.pi math.e math.tau math.inf math.nan``
(any module's numbers are constants); ``float("inf")``, ``float("-inf")``,
``float("nan")``::

    import math

    @python2shader
    def gaussian(index=("input", "GlobalInvocationId", ivec3), x=("buffer", 0, Array(f32))):
        v = x[index.x]
        x[index.x] = math.exp(-v * v / 2.0) / math.sqrt(2.0 * math.pi) if math.isfinite(v) else 0.0

Built-ins, resolved without an import
-------------------------------------
Math (component-wise, GLSL.std.450): ``abs min max clamp mix step smoothstep floor
ceil fract round trunc sign sqrt inversesqrt pow exp exp2 log log2 sin cos tan asin
acos atan atan2 sinh cosh tanh asinh acosh atanh radians degrees fma length
distance dot cross normalize reflect``; matrices: ``transpose determinant
inverse``; booleans: ``any all``; ``len(array)``.

``barrier()``
    Waits for every invocation of the workgroup and makes their writes to shared
    memory and buffers visible to each other.
``atomic_add(array, index, value)``, also ``atomic_sub``, ``atomic_min``,
``atomic_max``, ``atomic_and``, ``atomic_or``, ``atomic_xor``, ``atomic_exchange``
    Atomically update ``array[index]`` (an i32 or u32 buffer or shared array) and
    return its old value. ``atomic_add``, ``atomic_sub``, ``atomic_min`` and
    ``atomic_max`` also take f32 (and f64) arrays, through
    VK_EXT_shader_atomic_float(2), which kp enables wherever the device has them;
    ``mgr.algorithm`` refuses such a shader on a device without them::

        @python2shader(local_size=64)
        def total(index=("input", "GlobalInvocationId", ivec3),
                  x=("buffer", 0, Array(f32)), out=("buffer", 1, Array(f32))):
            atomic_add(out, 0, x[index.x])

``atomic_compare_exchange(array, index, comparator, value)``
    Store ``value`` if ``array[index] == comparator``; return the old value.

Subgroup operations (Vulkan 1.1)
    ``subgroup_add(x)``, also ``_mul _min _max _and _or _xor``: ``x`` reduced over
    the subgroup; ``subgroup_inclusive_add(x)`` and ``subgroup_exclusive_add(x)``
    (and the same for every operation) scan it. ``subgroup_ballot(cond)`` (a
    ``uvec4`` of bits), ``subgroup_broadcast(x, constant_id)``,
    ``subgroup_broadcast_first(x)``, ``subgroup_shuffle(x, id)``,
    ``subgroup_shuffle_xor(x, mask)``, ``subgroup_shuffle_up(x, delta)``,
    ``subgroup_shuffle_down(x, delta)``, ``subgroup_elect()``, ``subgroup_all(cond)``,
    ``subgroup_any(cond)``, ``subgroup_all_equal(x)``. ``mgr.algorithm`` refuses a
    shader on a device without the operation (``get_device_properties()``'s
    ``"subgroup_operations"``). An operation combines the invocations that run
    it: one inside an ``if`` (or a conditional expression, which evaluates one
    side, as in Python) leaves out the invocations that took the other branch,
    and a shuffle that reads one of them gets an undefined value (0 on NVIDIA).
    Compute shuffles in every invocation and choose afterwards::

        @python2shader(local_size=64)
        def row_sums(index=("input", "GlobalInvocationId", ivec3),
                     first=("input", "SubgroupInvocationId", u32),
                     x=("buffer", 0, Array(f32)), out=("buffer", 1, Array(f32))):
            s = subgroup_add(x[index.x])
            if first == 0:
                atomic_add(out, 0, s)

kp.shader.stdlib
    pyshader's standard library names (``from kp.shader.stdlib import exp, log``),
    compiled as the built-ins they stand for; see that module.

Cooperative matrices (tensor cores)
-----------------------------------
``CoopMat(T, rows, cols, use)`` is the type of a matrix that the invocations of
a subgroup hold together: ``use`` ``"a"`` and ``"b"`` are the operands of a
product, ``"accumulator"`` its sum; ``T`` is a scalar type (``f16`` inputs and
``f32`` accumulators are the common configuration). Declared at module level,
such a type fills a matrix (``C16(0.0)``) and names what to load:

``coopmat_load(T, array, index, stride[, column_major])``
    A ``T`` from a buffer or shared array of its element type, from element
    ``index``, ``stride`` elements from one row to the next (column to column
    with ``column_major=True``).
``coopmat_store(matrix, array, index, stride[, column_major])``
    The statement that writes a matrix back.
``coopmat_muladd(a, b, c)``
    ``a @ b + c`` on the tensor cores: ``a`` M x K, ``b`` K x N, ``c`` M x N.
``m + n``, ``m - n``, ``m * n``, ``m / n`` (element-wise, one type), ``m * s``, ``m / s``
    Arithmetic with matrices of the same type and scaling by a scalar.

A shader that uses them needs ``VK_KHR_cooperative_matrix``, which kp enables
where the device has it; ``mgr.algorithm`` refuses it where the device lacks the
extension or does not list the configuration (``kp.list_devices()[i]
["cooperative_matrices"]``), naming what is missing. A tiled GEMM, for sizes that
are multiples of 64 (``workgroup=(N // 64, M // 64, 1)``, ``push_consts=[N, K]``)::

    A16 = CoopMat(f16, 16, 16, "a")
    B16 = CoopMat(f16, 16, 16, "b")
    C16 = CoopMat(f32, 16, 16, "accumulator")

    @python2shader(local_size=(128, 1, 1))
    def gemm(group=("input", "WorkgroupId", uvec3), t=("input", "LocalInvocationIndex", u32),
             sg=("input", "SubgroupId", u32),
             a=("buffer", 0, Array(f16)), b=("buffer", 1, Array(f16)), c=("buffer", 2, Array(f32)),
             sa=("shared", Array(f16, 64 * 32)), sb=("shared", Array(f16, 32 * 64)),
             n=("push_constant", 0, u32), k=("push_constant", 1, u32)):
        # four subgroups per 64 x 64 tile of C, each 32 x 32 of it in four
        # accumulators; K walked 32 at a time through shared memory
        row0, col0 = group.y * 64, group.x * 64
        wr, wc = sg // 2 * 32, sg % 2 * 32
        acc00, acc01, acc10, acc11 = C16(0.0), C16(0.0), C16(0.0), C16(0.0)
        for k0 in range(0, k, 32):
            for i in range(t, 64 * 32, 128):
                sa[i] = a[(row0 + i // 32) * k + k0 + i % 32]
                sb[i] = b[(k0 + i // 64) * n + col0 + i % 64]
            barrier()
            for kk in range(0, 32, 16):
                x0 = coopmat_load(A16, sa, wr * 32 + kk, 32)
                x1 = coopmat_load(A16, sa, (wr + 16) * 32 + kk, 32)
                y0 = coopmat_load(B16, sb, kk * 64 + wc, 64)
                y1 = coopmat_load(B16, sb, kk * 64 + wc + 16, 64)
                acc00 = coopmat_muladd(x0, y0, acc00)
                acc01 = coopmat_muladd(x0, y1, acc01)
                acc10 = coopmat_muladd(x1, y0, acc10)
                acc11 = coopmat_muladd(x1, y1, acc11)
            barrier()
        out = (row0 + wr) * n + col0 + wc
        coopmat_store(acc00, c, out, n)
        coopmat_store(acc01, c, out + 16, n)
        coopmat_store(acc10, c, out + 16 * n, n)
        coopmat_store(acc11, c, out + 16 * n + 16, n)

Every mistake in a kernel (and in how it is declared) is a ``kp.ShaderCompileError``
with ``file:line: message`` saying what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import FunctionType
from typing import overload

from ...errors import ShaderCompileError
from .compiler import compile_function
from .types import (
    Array, ArrayType, CoopMat, CoopMatType, Image2D, ImageType, Matrix, Scalar, ShaderType, Vector, boolean, f16,
    f32, f64, i32, i64,
    ivec2, ivec3, ivec4, mat2, mat3, mat4, u32, u64, uvec2, uvec3, uvec4, vec2, vec3, vec4, caller,
)

__all__ = [
    "python2shader", "PythonShader",
    "Array", "Image2D", "CoopMat", "ShaderType", "Scalar", "Vector", "Matrix", "ArrayType", "ImageType", "CoopMatType",
    "f16", "f32", "f64", "i32", "u32", "i64", "u64", "boolean",
    "vec2", "vec3", "vec4", "ivec2", "ivec3", "ivec4", "uvec2", "uvec3", "uvec4",
    "mat2", "mat3", "mat4",
]


class PythonShader:
    """A Python function compiled to a SPIR-V compute shader by ``python2shader``."""

    def __init__(self, func: Callable[..., object], local_size: int | Sequence[int] | None = None):
        self.name: str = func.__name__
        # None: not declared (kp may choose it, see python2shader)
        self.local_size: tuple[int, int, int] | None = (
            None if local_size is None else _local_size(func, local_size))
        self._spirv = compile_function(func, self.local_size)

    def to_spirv(self) -> bytes:
        """The SPIR-V module: what ``mgr.algorithm`` and every shader-taking call accept."""
        return self._spirv

    def __repr__(self) -> str:
        return f"<PythonShader {self.name} local_size={self.local_size}>"


@overload
def python2shader(func: Callable[..., object], /, *, local_size: int | Sequence[int] | None = None) -> PythonShader:
    ...


@overload
def python2shader(func: None = None, /, *, local_size: int | Sequence[int] | None = None
                  ) -> Callable[[Callable[..., object]], PythonShader]:
    ...


def python2shader(func: Callable[..., object] | None = None, /, *, local_size: int | Sequence[int] | None = None
                  ) -> PythonShader | Callable[[Callable[..., object]], PythonShader]:
    """Compile ``func`` to a compute shader: ``@python2shader`` or
    ``@python2shader(local_size=(256, 1, 1))``."""
    if func is None:
        return lambda f: PythonShader(f, local_size)
    if not isinstance(func, FunctionType):
        raise ShaderCompileError(f"{caller()}: python2shader({func!r}) takes a function; "
                                 f"write @python2shader(local_size={func!r})")
    return PythonShader(func, local_size)


def _local_size(func: Callable[..., object], size: int | Sequence[int]) -> tuple[int, int, int]:
    dims = (size,) if isinstance(size, int) else tuple(size) if isinstance(size, (tuple, list)) else ()
    if not 1 <= len(dims) <= 3 or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in dims):
        code = func.__code__
        raise ShaderCompileError(f"{code.co_filename}:{code.co_firstlineno}: local_size must be "
                                 f"1 to 3 positive ints, not {size!r}")
    padded = (*dims, 1, 1)
    return padded[0], padded[1], padded[2]
