"""The front end's state and its typing rules: how values convert, combine and
fold, as Python means them where Python has a meaning, as GLSL otherwise.

Every error is a ``ShaderCompileError`` naming the file, the line and the construct
at fault.
"""

from __future__ import annotations

import ast
import math
import operator
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, NoReturn, TypeGuard, cast

import numpy as np

from ...errors import ShaderCompileError
from . import ir
from .builtins import CASTS, MATH, MathFunction
from .source import Source
from .types import TYPES, CoopMatType, Matrix, Scalar, ShaderType, Vector, boolean, elem_of, f32, i32, scalar_type, with_elem

_SYMBOL = {
    "add": "+", "sub": "-", "mul": "*", "div": "/", "floordiv": "//", "mod": "%", "pow": "**",
    "matmul": "@", "lshift": "<<", "rshift": ">>", "and": "&", "or": "|", "xor": "^",
    "eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
}
# Python's own semantics, for folding operations on literals.
_FOLD: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
    "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow,
    "lshift": operator.lshift, "rshift": operator.rshift, "and": operator.and_,
    "or": operator.or_, "xor": operator.xor, "eq": operator.eq, "ne": operator.ne,
    "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
}
_COMPARISONS = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})
# The comparison with its operands swapped: a < b is b > a.
_MIRROR = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
_BITWISE = frozenset({"lshift", "rshift", "and", "or", "xor"})
# Largest integer exponent that ``x ** n`` expands into multiplications.
_MAX_EXPANDED_POWER = 16
_FLOAT_MAX = {16: 65504.0, 32: 3.4028234663852886e38, 64: sys.float_info.max}


class Typing(ABC):
    """The state of one function's compilation and the rules that type its values.

    The kernel's front end builds the ``ir.Shader``; each Python function the
    kernel calls is compiled by a front end of its own (``caller`` set) into an
    ``ir.Function`` of the same shader, once per list of argument types.
    """

    def __init__(self, source: Source, local_size: tuple[int, int, int] | None,
                 caller: Typing | None = None, function: ir.Function | None = None):
        self.source = source
        self.tree = source.tree
        self.filename = source.filename
        self.line_offset = source.line_offset
        self.outer = source.outer
        self.shader: ir.Shader = caller.shader if caller else ir.Shader(self.tree.name, local_size, [], [])
        self.function = function
        self.locals = function.locals if function else self.shader.locals
        # The functions being compiled, outermost first (to refuse recursion), and
        # those compiled, by (function, argument types and arrays).
        self.calling: list[Callable[..., object]] = [*caller.calling, source.func] if caller else [source.func]
        self.compiled: dict[tuple[object, ...], ir.Function] = caller.compiled if caller else {}
        # What each name in the function stands for: a value (inputs, push and
        # specialisation constants) or a variable (locals, buffers, shared memory).
        self.names: dict[str, ir.Expr | ir.Variable] = {}
        self.hidden = 0
        self.returns = 0

    def fail(self, node: ast.AST, message: str) -> NoReturn:
        line = getattr(node, "lineno", self.tree.lineno) + self.line_offset
        raise ShaderCompileError(f"{self.filename}:{line}: {message}")

    def shader_type(self, name: str) -> ShaderType | None:
        """The type a name stands for: a global bound to one, or a built-in type name."""
        value = self.outer(name)
        if isinstance(value, ShaderType):
            return value
        return TYPES.get(CASTS.get(name, name))

    # What the statement and expression compiler (FrontEnd) provides.
    @abstractmethod
    def block(self, body: Sequence[ast.stmt]) -> list[ir.Stmt]: ...

    @abstractmethod
    def expr(self, node: ast.expr) -> ir.Expr: ...

    @abstractmethod
    def condition(self, node: ast.expr) -> ir.Expr:
        """A scalar boolean."""

    @abstractmethod
    def index(self, node: ast.expr) -> ir.Expr:
        """An integer index."""

    def concrete(self, value: ir.Expr, node: ast.AST) -> ir.Expr:
        """``value`` with a literal given its default type (i32, f32)."""
        return self.const_as(value, value.type, node) if abstract(value) else value

    def const_as(self, value: ir.Const, t: Scalar, node: ast.AST, explicit: bool = False) -> ir.Const:
        """Constant ``value`` as a ``t``; ``explicit`` allows what a cast allows."""
        v = value.value
        if t.kind == "bool":
            if not (explicit or isinstance(v, bool)):
                self.fail(node, f"cannot use {v!r} as a boolean")
            return ir.Const(t, bool(v))
        if isinstance(v, bool) and not explicit:
            self.fail(node, f"cannot use {v!r} as {t!r}")
        if t.kind == "float":
            if math.isfinite(v) and abs(v) > _FLOAT_MAX[t.width]:
                self.fail(node, f"{v!r} is too large for {t!r}")
            return ir.Const(t, float(v))
        if isinstance(v, float):
            if not explicit:
                self.fail(node, f"cannot use the float {v!r} as {t!r}; write {t!r}({v!r})")
            if not math.isfinite(v):
                self.fail(node, f"{v!r} does not fit in {t!r}")
            v = int(v)
        low, high = (-(1 << t.width - 1), 1 << t.width - 1) if t.kind == "int" else (0, 1 << t.width)
        if not low <= v < high:
            self.fail(node, f"{v} does not fit in {t!r}")
        return ir.Const(t, int(v))

    def coerce(self, value: ir.Expr, t: ShaderType, node: ast.AST, what: str) -> ir.Expr:
        """``value`` as a ``t`` by an implicit conversion (GLSL's rules), a literal
        taking the type, a scalar spread over a vector."""
        if value.type == t:
            return self.concrete(value, node)
        if isinstance(t, Vector) and isinstance(value.type, Scalar):
            return ir.Splat(t, self.coerce(value, t.elem, node, what))
        if abstract(value) and isinstance(t, Scalar):
            if value.type.kind == "float" and t.kind != "float":
                self.fail(node, f"{what}: cannot use the float {value.value!r} as {t!r}")
            return self.const_as(value, t, node)
        if same_shape(value.type, t) and implicit(elem_of(value.type), elem_of(t)):
            return ir.Convert(t, value)
        self.fail(node, f"{what}: cannot use a {value.type!r} as {t!r}"
                        + (f"; write {t!r}(...)" if same_shape(value.type, t) else ""))

    def convert(self, value: ir.Expr, t: ShaderType, node: ast.AST) -> ir.Expr:
        """``value`` explicitly converted to ``t`` (a cast)."""
        if abstract(value) and isinstance(t, Scalar):
            return self.const_as(value, t, node, explicit=True)
        value = self.concrete(value, node)
        return value if value.type == t else ir.Convert(t, value)

    def common_elem(self, values: Sequence[ir.Expr], node: ast.AST, what: str = "") -> Scalar:
        """The scalar type all ``values`` convert to implicitly; literals adapt."""
        target: Scalar | None = None
        for value in values:
            if abstract(value):
                continue
            elem = elem_of(value.type)
            if target is None or implicit(target, elem):
                target = elem
            elif not implicit(elem, target):
                types = " and ".join(repr(v.type) for v in values)
                self.fail(node, f"{what or 'operands'}: cannot combine {types} in `{source_of(node)}`")
        if any(abstract(v) and v.type.kind == "float" for v in values):
            if target is None or target.kind != "float":
                target = f32
        return target or i32

    def unify(self, values: list[ir.Expr], node: ast.AST, what: str) -> list[ir.Expr]:
        """``values`` converted to one type: the common scalar, as a vector if any is one."""
        lengths = {v.type.length for v in values if isinstance(v.type, Vector)}
        if len(lengths) > 1:
            types = " and ".join(repr(v.type) for v in values)
            self.fail(node, f"{what}: {types} have different lengths in `{source_of(node)}`")
        elem = self.common_elem(values, node, what)
        t = Vector(elem, lengths.pop()) if lengths else elem
        return [self.coerce(v, t, node, what) for v in values]

    def binop(self, op: str, a: ir.Expr, b: ir.Expr, node: ast.AST) -> ir.Expr:
        what = f"`{source_of(node)}`"
        if abstract(a) and abstract(b):
            return self.fold(op, a, b, node)
        if op == "pow":
            return self.power(a, b, node)
        if isinstance(a.type, CoopMatType) or isinstance(b.type, CoopMatType):
            return self.coopmat_arith(op, a, b, node)
        if op == "matmul":
            return self.matmul(a, b, node)
        if isinstance(a.type, Matrix) or isinstance(b.type, Matrix):
            return self.matrix_arith(op, a, b, node)
        if op in _COMPARISONS and mixed_signs(a, b):
            return self.mixed_sign_compare(op, a, b, node)
        a, b = self.unify([a, b], node, what)
        elem = elem_of(a.type)
        if elem.kind == "bool" and op not in ("eq", "ne", "and", "or", "xor"):
            self.fail(node, f"{what}: {_SYMBOL[op]} is not defined for booleans")
        if op in _BITWISE and elem.kind == "float":
            self.fail(node, f"{what}: {_SYMBOL[op]} needs integers, not {a.type!r}")
        if op == "div" and elem.kind != "float":
            # Python's / on integers is true division.
            float_type = with_elem(a.type, f32)
            a, b = ir.Convert(float_type, a), ir.Convert(float_type, b)
        result = with_elem(a.type, boolean) if op in _COMPARISONS else a.type
        return ir.Binary(result, op, a, b)

    def mixed_sign_compare(self, op: str, a: ir.Expr, b: ir.Expr, node: ast.AST) -> ir.Expr:
        """A signed and an unsigned integer compared as Python compares ints
        (``-1 < u32(5)`` is True): a negative signed side decides alone."""
        if elem_of(a.type).kind == "uint":
            a, b, op = b, a, _MIRROR[op]
        signed, unsigned = self.concrete(a, node), self.concrete(b, node)
        lengths = {v.type.length for v in (signed, unsigned) if isinstance(v.type, Vector)}
        if len(lengths) > 1:
            self.fail(node, f"`{source_of(node)}`: {a.type!r} and {b.type!r} have different lengths")
        width = max(elem_of(signed.type).width, elem_of(unsigned.type).width)
        shape = signed.type if isinstance(signed.type, Vector) else unsigned.type
        signed_t, unsigned_t = (with_elem(shape, scalar_type(kind, width)) for kind in ("int", "uint"))
        temp = ir.Temp(signed_t)
        bool_t = with_elem(signed_t, boolean)
        as_unsigned = ir.Binary(bool_t, op, ir.Convert(unsigned_t, temp),
                                self.coerce(unsigned, unsigned_t, node, f"`{source_of(node)}`"))
        negative = ir.Binary(bool_t, "lt", temp, self.coerce(ir.Const(i32, 0, True), signed_t, node, ""))
        if op in ("lt", "le", "ne"):  # true wherever the signed side is negative
            result = ir.Binary(bool_t, "or", negative, as_unsigned)
        else:
            result = ir.Binary(bool_t, "and", ir.Unary(bool_t, "not", negative), as_unsigned)
        return ir.Let(bool_t, temp, self.coerce(signed, signed_t, node, f"`{source_of(node)}`"), result)

    def fold(self, op: str, a: ir.Const, b: ir.Const, node: ast.AST) -> ir.Const:
        if op == "matmul":
            self.fail(node, f"`{source_of(node)}`: @ needs vectors or matrices")
        if op in _BITWISE and (isinstance(a.value, float) or isinstance(b.value, float)):
            self.fail(node, f"`{source_of(node)}`: {_SYMBOL[op]} needs integers")
        try:
            value = _FOLD[op](a.value, b.value)
        except (ZeroDivisionError, OverflowError, ValueError) as error:
            problem = str(error)
        else:
            problem = ""
        if problem:
            self.fail(node, f"`{source_of(node)}`: {problem}")
        if isinstance(value, bool):
            return ir.Const(boolean, value)
        if isinstance(value, complex):
            self.fail(node, f"`{source_of(node)}` is complex")
        return ir.Const(f32 if isinstance(value, float) else i32, value, True)

    def power(self, base: ir.Expr, exponent: ir.Expr, node: ast.AST) -> ir.Expr:
        if elem_of(base.type).kind == "bool" or isinstance(base.type, Matrix):
            self.fail(node, f"`{source_of(node)}`: ** is not defined for {base.type!r}")
        if abstract(exponent) and isinstance(exponent.value, int) \
                and 0 <= exponent.value <= _MAX_EXPANDED_POWER:
            # Exact for integers, and defined for negative float bases (pow() is not).
            base = self.concrete(base, node)
            if exponent.value == 0:
                one = self.const_as(ir.Const(i32, 1, True), elem_of(base.type), node)
                return ir.Splat(base.type, one) if isinstance(base.type, Vector) else one
            temp = ir.Temp(base.type)
            product: ir.Expr = temp
            for _ in range(exponent.value - 1):
                product = ir.Binary(base.type, "mul", product, temp)
            return ir.Let(base.type, temp, base, product)
        return self.math_call("pow", MATH["pow"], [base, exponent], node)

    def matmul(self, a: ir.Expr, b: ir.Expr, node: ast.AST) -> ir.Expr:
        what = f"`{source_of(node)}`"
        ta, tb = a.type, b.type
        if isinstance(ta, Vector) and isinstance(tb, Vector):
            a, b = self.unify([a, b], node, what)
            elem = cast(Vector, a.type).elem  # unified vectors
            if elem.kind != "float":
                self.fail(node, f"{what}: @ (dot) needs float vectors, not {a.type!r}")
            return ir.Binary(elem, "matmul", a, b)
        if isinstance(ta, Vector):
            a = self.coerce(a, Vector(f32, ta.length), node, what)
        if isinstance(tb, Vector):
            b = self.coerce(b, Vector(f32, tb.length), node, what)
        ta, tb = a.type, b.type
        if isinstance(ta, Matrix) and isinstance(tb, Matrix) and ta.cols == tb.rows:
            return ir.Binary(Matrix(tb.cols, ta.rows), "matmul", a, b)
        if isinstance(ta, Matrix) and isinstance(tb, Vector) and ta.cols == tb.length:
            return ir.Binary(ta.column, "matmul", a, b)
        if isinstance(ta, Vector) and isinstance(tb, Matrix) and ta.length == tb.rows:
            return ir.Binary(Vector(f32, tb.cols), "matmul", a, b)
        self.fail(node, f"{what}: cannot multiply {ta!r} @ {tb!r}")

    def matrix_arith(self, op: str, a: ir.Expr, b: ir.Expr, node: ast.AST) -> ir.Expr:
        what = f"`{source_of(node)}`"
        if op not in ("add", "sub", "mul", "div", "mod", "floordiv"):
            self.fail(node, f"{what}: {_SYMBOL[op]} is not defined for matrices")
        matrix = a.type if isinstance(a.type, Matrix) else b.type
        operands = []
        for v in (a, b):
            if isinstance(v.type, Matrix):
                if v.type != matrix:
                    self.fail(node, f"{what}: {a.type!r} and {b.type!r} differ")
                operands.append(v)
            elif isinstance(v.type, Scalar):
                operands.append(self.coerce(v, f32, node, what))
            else:
                self.fail(node, f"{what}: cannot combine {a.type!r} and {b.type!r} "
                                f"component-wise; use @ for the matrix product")
        return ir.Binary(matrix, op, *operands)

    def coopmat_arith(self, op: str, a: ir.Expr, b: ir.Expr, node: ast.AST) -> ir.Expr:
        """Element-wise + - * / of two cooperative matrices of one type, and * / by a scalar."""
        what = f"`{source_of(node)}`"
        if isinstance(a.type, CoopMatType) and isinstance(b.type, CoopMatType):
            if a.type != b.type or op not in ("add", "sub", "mul", "div"):
                self.fail(node, f"{what}: cooperative matrices take + - * / with one of the same type, "
                                f"not {_SYMBOL[op]} with {b.type!r}")
            return ir.Binary(a.type, op, a, b)
        matrix, scalar = (a, b) if isinstance(a.type, CoopMatType) else (b, a)
        t = cast(CoopMatType, matrix.type)
        if not isinstance(scalar.type, Scalar) or op not in ("mul", "div") or op == "div" and matrix is b:
            self.fail(node, f"{what}: a cooperative matrix is multiplied or divided by a scalar, not "
                            f"combined with {scalar.type!r} by {_SYMBOL[op]}")
        scalar = self.coerce(scalar, t.elem, node, what)
        if op == "div":  # m / s is m * (1 / s): SPIR-V scales matrices only by multiplying
            if t.elem.kind != "float":
                self.fail(node, f"{what}: integer cooperative matrices cannot be divided")
            scalar = ir.Binary(t.elem, "div", ir.Const(t.elem, 1.0), scalar)
        return ir.Binary(t, "mul", matrix, scalar)

    def arity(self, name: str, args: Sequence[object], count: int, node: ast.AST) -> None:
        if len(args) != count:
            self.fail(node, f"{name}() takes {count} argument{'s' * (count != 1)}, got {len(args)}")

    def math_call(self, name: str, fn: MathFunction, args: list[ir.Expr], node: ast.AST) -> ir.Expr:
        if fn.variadic:
            if len(args) < 2:
                self.fail(node, f"{name}() takes at least 2 arguments, got {len(args)}")
            pairwise = replace(fn, variadic=False)
            result = args[0]
            for arg in args[1:]:
                result = self.math_call(name, pairwise, [result, arg], node)
            return result
        self.arity(name, args, fn.nargs, node)
        for arg in args:
            if not isinstance(arg.type, (Scalar, Vector)) or elem_of(arg.type).kind == "bool":
                self.fail(node, f"{name}() needs numbers, not {arg.type!r}")
        if any(mixed_signs(a, b) for a in args for b in args):
            # Python's answer may be negative, which the unsigned type cannot hold.
            self.fail(node, f"{name}() of signed and unsigned integers "
                            f"({', '.join(repr(a.type) for a in args)}): convert them to one "
                            f"type first, e.g. {name}(i32(a), i32(b))")
        args = self.unify(args, node, f"{name}()")
        t = args[0].type
        elem = elem_of(t)
        if elem.kind != "float" and fn.sint_inst is None:
            t = with_elem(t, f32)
            args = [ir.Convert(t, a) for a in args]
        elem = elem_of(t)
        if elem.width == 64 and not fn.f64:
            self.fail(node, f"{name}() is not available for {elem!r}")
        if fn.vec3 and t != Vector(elem, 3):
            self.fail(node, f"{name}() needs 3-vectors, not {t!r}")
        if elem.kind == "uint" and name == "abs":
            return args[0]
        inst = {"float": fn.float_inst, "int": fn.sint_inst, "uint": fn.uint_inst}[elem.kind]
        if inst is None:
            self.fail(node, f"{name}() is not defined for {elem!r}")
        return ir.ExtInst(elem if fn.scalar_result else t, inst, args)


def mixed_signs(a: ir.Expr, b: ir.Expr) -> bool:
    """Whether one side is an unsigned integer and the other a signed one (or a
    negative literal)."""
    kinds = []
    for v in (a, b):
        kind = elem_of(v.type).kind
        kinds.append("int" if abstract(v) and kind == "int" and v.value < 0 else
                     "literal" if abstract(v) else kind)
    return sorted(kinds) == ["int", "uint"]


def abstract(value: ir.Expr) -> TypeGuard[ir.Const]:
    return isinstance(value, ir.Const) and value.abstract


def same_shape(a: ShaderType, b: ShaderType) -> bool:
    if isinstance(a, Vector) and isinstance(b, Vector):
        return a.length == b.length
    return isinstance(a, Scalar) and isinstance(b, Scalar)


def implicit(src: Scalar, dst: Scalar) -> bool:
    """Whether GLSL converts ``src`` to ``dst`` implicitly: integers to wider integers
    and to unsigned of the same width, anything numeric to a wider or float type."""
    if src == dst:
        return True
    if "bool" in (src.kind, dst.kind):
        return False
    if dst.kind == "float":
        return src.kind != "float" or src.width < dst.width
    if src.kind == "float":
        return False
    return src.width < dst.width or (src.width == dst.width and dst.kind == "uint")


def source_of(node: ast.AST) -> str:
    text = ast.unparse(node).splitlines()
    return text[0] if text else type(node).__name__


def python_constant(value: object) -> ir.Const | None:
    """A Python bool, int or float as a shader constant (numbers stay abstract: their
    type adapts to where they are used), a NumPy scalar of 32 bits as a constant of
    its type (``np.float32(0.5)``, ``np.int32(4)``), other NumPy numbers as the
    Python numbers they hold; None for anything else."""
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        kind = {"b": "bool", "i": "int", "u": "uint", "f": "float"}[value.dtype.kind]
        if value.dtype.itemsize == 4:
            return ir.Const(scalar_type(kind, 32), value.item())
        value = value.item()
    if isinstance(value, bool):
        return ir.Const(boolean, value)
    if isinstance(value, int):
        return ir.Const(i32, value, True)
    if isinstance(value, float):
        return ir.Const(f32, value, True)
    return None
