"""The typed IR between the front end and the SPIR-V back end.

A shader is one function: a tree of statements over typed expressions, close to
the Python it came from but with every type resolved, every implicit conversion
explicit, and every name bound to a variable. Control flow stays structured
(if / loop / break / continue), which is what SPIR-V requires anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .types import Scalar, ShaderType, Vector


# --- Storage ------------------------------------------------------------------

@dataclass(eq=False)
class Variable:
    """A variable: ``storage`` is "function", "input", "buffer", "image", "shared" or "push".

    ``binding`` is a buffer's or image's descriptor binding, ``builtin`` an input's SPIR-V
    built-in name; a "push" variable's type is a ``Struct``.
    """

    name: str
    type: ShaderType
    storage: str
    binding: int | None = None
    builtin: str | None = None


@dataclass(frozen=True, repr=False)
class Struct(ShaderType):
    """The push-constant block: members in order, laid out by the back end (std430)."""

    members: tuple[ShaderType, ...]

    @property
    def name(self) -> str:
        return f"Struct{self.members!r}"


# --- Places (what can be loaded from, stored to, or pointed at) ------------------

@dataclass(eq=False)
class VarRef:
    var: Variable

    @property
    def type(self) -> ShaderType:
        return self.var.type


@dataclass(eq=False)
class Element:
    """Element ``index`` of an array, vector or matrix place (or member of a struct)."""

    base: Place
    index: Expr
    type: ShaderType


Place = VarRef | Element


# --- Expressions -------------------------------------------------------------------

@dataclass(eq=False)
class Expr:
    type: ShaderType


@dataclass(eq=False)
class Const(Expr):
    """A scalar constant; ``abstract`` marks a Python literal whose type adapts to its use."""

    type: Scalar
    value: bool | int | float
    abstract: bool = False


@dataclass(eq=False)
class Zero(Expr):
    """The zero of any type: a local array declared without a value."""


@dataclass(eq=False)
class SpecConst(Expr):
    """A specialisation constant, set when the pipeline is made."""

    type: Scalar
    name: str
    spec_id: int
    default: bool | int | float


@dataclass(eq=False)
class Load(Expr):
    place: Place


@dataclass(eq=False)
class Unary(Expr):
    """``op``: "neg", "not" (boolean) or "invert" (bitwise)."""

    op: str
    operand: Expr


@dataclass(eq=False)
class Binary(Expr):
    """Component-wise arithmetic, bitwise and comparison ops on operands of one type
    ("add" "sub" "mul" "div" "floordiv" "mod" "lshift" "rshift" "and" "or" "xor"
    "eq" "ne" "lt" "le" "gt" "ge"), and "matmul" (dot, matrix-vector and matrix
    products, on operands whose shapes match)."""

    op: str
    left: Expr
    right: Expr


@dataclass(eq=False)
class Logical(Expr):
    """Short-circuit ``and`` / ``or`` of booleans."""

    op: str
    left: Expr
    right: Expr


@dataclass(eq=False)
class Select(Expr):
    """``a if cond else b``, evaluating only the branch taken."""

    cond: Expr
    a: Expr
    b: Expr


@dataclass(eq=False)
class ExtInst(Expr):
    """A GLSL.std.450 extended instruction, by its number."""

    inst: int
    args: list[Expr]


@dataclass(eq=False)
class Intrinsic(Expr):
    """A core instruction the back end knows by name: "any", "all" or "transpose"."""

    name: str
    args: list[Expr]


@dataclass(eq=False)
class ArrayLength(Expr):
    """Number of elements of a runtime-sized buffer array."""

    var: Variable


@dataclass(eq=False)
class Convert(Expr):
    """Numeric or boolean conversion of ``value`` to ``type`` (same shape)."""

    value: Expr


@dataclass(eq=False)
class Splat(Expr):
    """A vector with every component ``value``."""

    type: Vector
    value: Expr


@dataclass(eq=False)
class Construct(Expr):
    """A vector from scalars and vectors, a matrix from column vectors, a local array
    from its elements, or a tuple (``Struct``) from its members."""

    args: list[Expr]


@dataclass(eq=False)
class Swizzle(Expr):
    """Components of a vector (one index: a scalar) or columns of a matrix."""

    value: Expr
    indices: tuple[int, ...]


@dataclass(eq=False)
class DynamicExtract(Expr):
    """Component ``index`` of a vector value, ``index`` known only at run time."""

    value: Expr
    index: Expr


@dataclass(eq=False)
class Insert(Expr):
    """``base`` with components ``indices`` replaced by (the components of) ``value``."""

    base: Expr
    value: Expr
    indices: tuple[int, ...]


@dataclass(eq=False)
class Atomic(Expr):
    """An atomic read-modify-write on an i32/u32 element; the value is the old one.

    ``op``: "add" "sub" "min" "max" "and" "or" "xor" "exchange" "compare_exchange"
    (args: comparator, value)."""

    type: Scalar
    op: str
    place: Place
    args: list[Expr]


@dataclass(eq=False)
class Subgroup(Expr):
    """A subgroup operation: ``op`` is a reduction or scan ("add" "mul" "min" "max"
    "and" "or" "xor", with ``scan`` 0 reduce, 1 inclusive, 2 exclusive) or "elect"
    "all" "any" "all_equal" "ballot" "broadcast" "broadcast_first" "shuffle"
    "shuffle_xor" "shuffle_up" "shuffle_down"."""

    op: str
    args: list[Expr]
    scan: int = 0


@dataclass(eq=False)
class ImageRead(Expr):
    """The texel of an image at ``coord`` (an ivec2)."""

    var: Variable
    coord: Expr


@dataclass(eq=False)
class CoopMatLoad(Expr):
    """A cooperative matrix read from an array from ``place`` (its first element),
    ``stride`` elements from one row (or column) to the next."""

    place: Place
    stride: Expr
    column_major: bool


@dataclass(eq=False)
class CoopMatMulAdd(Expr):
    """``a @ b + c`` of cooperative matrices."""

    a: Expr
    b: Expr
    c: Expr


@dataclass(eq=False)
class Call(Expr):
    """A call of a compiled Python function; a tuple result has a ``Struct`` type."""

    function: Function
    args: list[Expr]


@dataclass(eq=False)
class Temp(Expr):
    """A value bound by an enclosing ``Let``."""


@dataclass(eq=False)
class Let(Expr):
    """Evaluates ``value`` once, binds it to ``temp``, and yields ``body``."""

    temp: Temp
    value: Expr
    body: Expr


# --- Statements -------------------------------------------------------------------

@dataclass(eq=False)
class Store:
    place: Place
    value: Expr


@dataclass(eq=False)
class ImageWrite:
    """Writes the texel ``value`` of an image at ``coord``."""

    var: Variable
    coord: Expr
    value: Expr


@dataclass(eq=False)
class CoopMatStore:
    """Writes the cooperative matrix ``value`` to an array from ``place``, ``stride``
    elements from one row (or column) to the next."""

    value: Expr
    place: Place
    stride: Expr
    column_major: bool


@dataclass(eq=False)
class Eval:
    """An expression evaluated for its side effects (an atomic)."""

    expr: Expr


@dataclass(eq=False)
class If:
    cond: Expr
    body: list[Stmt]
    orelse: list[Stmt]


@dataclass(eq=False)
class Loop:
    """``while cond: body``, running ``step`` after each iteration (and on continue)."""

    cond: Expr
    body: list[Stmt]
    step: list[Stmt]


@dataclass(eq=False)
class Break:
    pass


@dataclass(eq=False)
class Continue:
    pass


@dataclass(eq=False)
class Return:
    """Return from the kernel, or from a function with ``value`` (None: no value)."""

    value: Expr | None = None


@dataclass(eq=False)
class Barrier:
    """Workgroup execution and memory barrier (``barrier()``)."""


@dataclass(eq=False)
class Print:
    """``print(...)``: debugPrintfEXT of ``format`` (printf's, with the layer's ``%v3f``
    for vectors) and ``values``."""

    format: str
    values: list[Expr]


Stmt = Store | ImageWrite | CoopMatStore | Eval | If | Loop | Break | Continue | Return | Barrier | Print


@dataclass(eq=False)
class Function:
    """A Python function a shader calls, compiled for one list of argument types.

    ``params`` are the locals its arguments are copied into; ``result`` is None
    (no value), a scalar, vector or matrix type, or a ``Struct`` (a tuple)."""

    name: str
    params: list[Variable]
    result: ShaderType | None = None
    locals: list[Variable] = field(default_factory=list)
    body: list[Stmt] = field(default_factory=list)


@dataclass(eq=False)
class Shader:
    """A compute shader: its interface variables, locals, body and the functions it calls.

    ``local_size`` None: kp chooses it when making the algorithm (see
    ``kp.shader.spirv.AUTO_LOCAL_SIZE_IDS``); ``group`` is set by anything that
    makes the workgroup matter (shared memory, barriers, subgroups, local ids)."""

    name: str
    local_size: tuple[int, int, int] | None
    interface: list[Variable]
    locals: list[Variable]
    body: list[Stmt] = field(default_factory=list)
    functions: list[Function] = field(default_factory=list)
    group: bool = False
