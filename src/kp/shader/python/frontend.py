"""Front end: a Python function, parsed with ``ast``, to the typed IR.

All type checking happens here, and every error is a ``ShaderCompileError``
naming the file, the line and the construct at fault.
"""

from __future__ import annotations

import ast
import math
import operator
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, NoReturn, TypeGuard, cast

from ...errors import ShaderCompileError
from ..spirv import AUTO_GLOBAL_SIZE_IDS
from . import ir
from .builtins import (
    ATOMICS, CASTS, DETERMINANT, MATH, MATH_MODULE_OTHER, MATH_MODULE_SAME, MATRIX_INVERSE,
    SUBGROUP_FUNCTIONS, MathFunction,
)
from .source import MISSING, Source, read
from .types import (
    TYPES, ArrayType, CoopMatType, ImageType, Matrix, Scalar, ShaderType, Vector, boolean, count_of, elem_of, f32,
    f64, i32, scalar_type, u32, uvec3, uvec4, with_elem,
)

# The canonical SPIR-V type of each input built-in; a shader may declare the
# other signedness of the same shape (ivec3 for the seed's GlobalInvocationId).
INPUTS: dict[str, ShaderType] = {
    "GlobalInvocationId": uvec3,
    "LocalInvocationId": uvec3,
    "WorkgroupId": uvec3,
    "NumWorkgroups": uvec3,
    "LocalInvocationIndex": u32,
    "SubgroupSize": u32,
    "NumSubgroups": u32,
    "SubgroupId": u32,
    "SubgroupInvocationId": u32,
}

_BINOPS = {
    ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.FloorDiv: "floordiv",
    ast.Mod: "mod", ast.Pow: "pow", ast.MatMult: "matmul", ast.LShift: "lshift",
    ast.RShift: "rshift", ast.BitAnd: "and", ast.BitOr: "or", ast.BitXor: "xor",
}
_COMPARE = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge"}
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
# Atomic functions on float arrays (VK_EXT_shader_atomic_float and _float2).
_FLOAT_ATOMICS = ("add", "sub", "min", "max")
_BITWISE = frozenset({"lshift", "rshift", "and", "or", "xor"})
_SWIZZLE_SETS = ("xyzw", "rgba")
# Largest integer exponent that ``x ** n`` expands into multiplications.
_MAX_EXPANDED_POWER = 16
_FLOAT_MAX = {16: 65504.0, 32: 3.4028234663852886e38, 64: sys.float_info.max}


class FrontEnd:
    """Builds the IR of one shader function, or of a function it calls.

    The kernel's front end builds the ``ir.Shader``; each Python function the
    kernel calls is compiled by a front end of its own (``caller`` set) into an
    ``ir.Function`` of the same shader, once per list of argument types.
    """

    def __init__(self, source: Source, local_size: tuple[int, int, int] | None,
                 caller: FrontEnd | None = None, function: ir.Function | None = None):
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

    def build(self) -> ir.Shader:
        self.parameters()
        self.shader.body = self.block(self.tree.body)
        if self.shader.local_size is None:
            self.choose_local_size()
        return self.shader

    def choose_local_size(self) -> None:
        """A kernel that declares no local size: where only its global id matters,
        kp chooses the local size and the invocations past the global size asked for
        return at once; otherwise it keeps a local size of (1, 1, 1)."""
        inputs = [v for v in self.shader.interface if v.storage == "input"]
        if self.shader.group or [v.builtin for v in inputs] != ["GlobalInvocationId"]:
            self.shader.local_size = (1, 1, 1)
            return
        gid = ir.Load(uvec3, ir.VarRef(inputs[0]))
        past = [ir.Binary(boolean, "ge", ir.Swizzle(u32, gid, (axis,)),
                          ir.SpecConst(u32, f"global_size_{'xyz'[axis]}", spec_id, 0xFFFFFFFF))
                for axis, spec_id in enumerate(AUTO_GLOBAL_SIZE_IDS)]
        guard = ir.Logical(boolean, "or", ir.Logical(boolean, "or", *past[:2]), past[2])
        self.shader.body.insert(0, ir.If(guard, [ir.Return()], []))

    # --- Parameters ------------------------------------------------------------------

    def parameters(self) -> None:
        args = self.tree.args
        if args.vararg or args.kwarg:
            self.fail(self.tree, "shader parameters cannot be *args or **kwargs")
        push: list[tuple[int, str, ShaderType, ast.AST]] = []
        bindings: dict[int, str] = {}
        spec_ids: dict[int, str] = {}
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            name, spec = arg.arg, self.source.defaults.get(arg.arg, MISSING)
            if not isinstance(spec, tuple) or not spec or spec[0] not in (
                    "input", "buffer", "image", "shared", "push_constant", "spec_constant"):
                self.fail(arg, f"parameter '{name}' needs a default like ('buffer', 0, Array(f32)), "
                               f"('input', 'GlobalInvocationId', ivec3), ('shared', Array(f32, 64)), "
                               f"('image', 1, Image2D('r32f')), ('push_constant', 0, f32) or "
                               f"('spec_constant', 0, i32)")
            kind = spec[0]
            if kind == "input":
                self.input_parameter(arg, spec)
            elif kind in ("buffer", "image"):
                binding = self.buffer_parameter(arg, spec)
                if binding in bindings:
                    self.fail(arg, f"'{name}' and '{bindings[binding]}' both use binding {binding}")
                bindings[binding] = name
            elif kind == "shared":
                self.shared_parameter(arg, spec)
            elif kind == "push_constant":
                index, t = self.indexed_spec(arg, spec, 3, "('push_constant', index, type)")
                if not isinstance(t, (Scalar, Vector)) or elem_of(t).kind == "bool":
                    self.fail(arg, f"push constant '{name}' must be a numeric scalar or vector, not {t!r}")
                push.append((index, name, t, arg))
            else:
                spec_id, t = self.indexed_spec(arg, spec, 4, "('spec_constant', id, type[, default])")
                if spec_id in spec_ids:
                    self.fail(arg, f"'{name}' and '{spec_ids[spec_id]}' both use constant id {spec_id}")
                spec_ids[spec_id] = name
                self.spec_parameter(arg, spec_id, t, spec[3] if len(spec) == 4 else 0)
        if push:
            self.push_block(push)

    def indexed_spec(self, arg: ast.arg, spec: tuple[Any, ...], max_len: int,
                     form: str) -> tuple[int, ShaderType]:
        if not 3 <= len(spec) <= max_len or not isinstance(spec[1], int) or spec[1] < 0 \
                or not isinstance(spec[2], ShaderType):
            self.fail(arg, f"parameter '{arg.arg}' must be {form}, got {spec!r}")
        return spec[1], spec[2]

    def input_parameter(self, arg: ast.arg, spec: tuple[Any, ...]) -> None:
        if len(spec) != 3 or spec[1] not in INPUTS:
            self.fail(arg, f"input '{arg.arg}' must be ('input', name, type) with name one of "
                           f"{', '.join(INPUTS)}; got {spec!r}")
        canonical, declared = INPUTS[spec[1]], spec[2]
        if not isinstance(declared, (Scalar, Vector)) or count_of(declared) != count_of(canonical) \
                or elem_of(declared) not in (i32, u32):
            self.fail(arg, f"input {spec[1]} is a {canonical!r}; declare it as {canonical!r} or "
                           f"its signed counterpart, not {declared!r}")
        self.shader.group |= spec[1] != "GlobalInvocationId"
        var = ir.Variable(arg.arg, canonical, "input", builtin=spec[1])
        self.shader.interface.append(var)
        value = ir.Load(canonical, ir.VarRef(var))
        self.names[arg.arg] = value if declared == canonical else ir.Convert(declared, value)

    def buffer_parameter(self, arg: ast.arg, spec: tuple[Any, ...]) -> int:
        """A buffer, or an image: a descriptor at a binding of set 0."""
        if spec[0] == "image":
            if len(spec) != 3 or not isinstance(spec[1], int) or spec[1] < 0 \
                    or not isinstance(spec[2], ImageType):
                self.fail(arg, f"image '{arg.arg}' must be ('image', binding, Image2D(format)), "
                               f"got {spec!r}")
            var = ir.Variable(arg.arg, spec[2], "image", binding=spec[1])
            self.shader.interface.append(var)
            self.names[arg.arg] = var
            return spec[1]
        if len(spec) != 3 or not isinstance(spec[1], int) or spec[1] < 0 \
                or not isinstance(spec[2], ArrayType):
            self.fail(arg, f"buffer '{arg.arg}' must be ('buffer', binding, Array(type)), got {spec!r}")
        t = spec[2]
        if isinstance(t.elem, Vector) and t.elem.length == 3:
            self.fail(arg, f"buffer '{arg.arg}': arrays of 3-vectors have a 16-byte stride in "
                           f"buffers; use Array({t.elem.elem!r}) or a 4-vector")
        var = ir.Variable(arg.arg, t, "buffer", binding=spec[1])
        self.shader.interface.append(var)
        self.names[arg.arg] = var
        return spec[1]

    def shared_parameter(self, arg: ast.arg, spec: tuple[Any, ...]) -> None:
        t = spec[1] if len(spec) == 2 else None
        if not isinstance(t, (Scalar, Vector, Matrix, ArrayType)) or (
                isinstance(t, ArrayType) and t.length is None):
            self.fail(arg, f"shared '{arg.arg}' must be ('shared', Array(type, length)) or "
                           f"('shared', type), got {spec!r}")
        self.shader.group = True
        var = ir.Variable(arg.arg, t, "shared")
        self.shader.interface.append(var)
        self.names[arg.arg] = var

    def spec_parameter(self, arg: ast.arg, spec_id: int, t: ShaderType, default: object) -> None:
        if not isinstance(t, Scalar):
            self.fail(arg, f"specialisation constant '{arg.arg}' must be a scalar, not {t!r}")
        if not isinstance(default, (bool, int, float)):
            self.fail(arg, f"specialisation constant '{arg.arg}' has default {default!r}, not a number")
        literal = ir.Const(f32 if isinstance(default, float) else i32, default, True)
        value = self.const_as(literal, t, arg, explicit=True)
        self.names[arg.arg] = ir.SpecConst(t, arg.arg, spec_id, value.value)

    def push_block(self, push: list[tuple[int, str, ShaderType, ast.AST]]) -> None:
        push.sort(key=lambda p: p[0])
        for position, (index, name, _, arg) in enumerate(push):
            if index != position:
                self.fail(arg, f"push constant '{name}' has index {index}; the indices of push "
                               f"constants must be 0, 1, 2... (found {[p[0] for p in push]})")
        block = ir.Variable("push_constants", ir.Struct(tuple(p[2] for p in push)), "push")
        self.shader.interface.append(block)
        for index, name, t, _ in push:
            self.names[name] = ir.Load(t, ir.Element(ir.VarRef(block), ir.Const(i32, index), t))

    # --- Statements ----------------------------------------------------------------------

    def block(self, body: Sequence[ast.stmt]) -> list[ir.Stmt]:
        out: list[ir.Stmt] = []
        for node in body:
            self.statement(node, out)
        return out

    def statement(self, node: ast.stmt, out: list[ir.Stmt]) -> None:
        if isinstance(node, ast.Assign):
            self.assign(node, out)
        elif isinstance(node, ast.AugAssign):
            self.augmented_assign(node, out)
        elif isinstance(node, ast.AnnAssign):
            self.annotated_assign(node, out)
        elif isinstance(node, ast.If):
            out.append(ir.If(self.condition(node.test), self.block(node.body), self.block(node.orelse)))
        elif isinstance(node, ast.While):
            self.no_else(node)
            cond = self.condition(node.test)
            out.append(ir.Loop(cond, self.block(node.body), []))
        elif isinstance(node, ast.For):
            self.for_range(node, out)
        elif isinstance(node, ast.Break):
            out.append(ir.Break())
        elif isinstance(node, ast.Continue):
            out.append(ir.Continue())
        elif isinstance(node, ast.Return):
            out.append(self.return_statement(node))
        elif isinstance(node, ast.Pass):
            pass
        elif isinstance(node, ast.Expr):
            self.expression_statement(node, out)
        else:
            self.fail(node, f"unsupported statement `{_source(node)}`")

    def return_statement(self, node: ast.Return) -> ir.Return:
        if self.function is None:
            if node.value is not None:
                self.fail(node, "a shader returns no value; write results to a buffer")
            return ir.Return()
        value = None if node.value is None else self.returned_value(node.value)
        function = self.function
        if not self.returns:
            function.result = None if value is None else value.type
        elif (value is None) != (function.result is None):
            self.fail(node, f"'{function.name}' returns a value on one path and none on another")
        elif value is not None and function.result is not None:
            value = self.coerce(value, function.result, node, f"'{function.name}' returns")
        self.returns += 1
        return ir.Return(value)

    def returned_value(self, node: ast.expr) -> ir.Expr:
        if isinstance(node, ast.IfExp) and ast.Tuple in (type(node.body), type(node.orelse)):
            # `return (b, a) if a > b else (a, b)`
            cond = self.condition(node.test)
            a, b = self.returned_value(node.body), self.returned_value(node.orelse)
            if a.type != b.type:
                self.fail(node, f"the two branches of `{_source(node)}` give {a.type!r} and {b.type!r}")
            return ir.Select(a.type, cond, a, b)
        elts = node.elts if isinstance(node, ast.Tuple) else [node]
        values = [self.concrete(self.expr(e), e) for e in elts]
        # A single value may be another function's tuple, passed on.
        allowed = (Scalar, Vector, Matrix) if isinstance(node, ast.Tuple) else (
            Scalar, Vector, Matrix, ir.Struct)
        for value, elt in zip(values, elts):
            if not isinstance(value.type, allowed):
                self.fail(elt, f"a function can return numbers, vectors and matrices or a tuple of "
                               f"them, not `{_source(elt)}`")
        if isinstance(node, ast.Tuple):
            return ir.Construct(ir.Struct(tuple(v.type for v in values)), values)
        return values[0]

    def expression_statement(self, node: ast.Expr, out: list[ir.Stmt]) -> None:
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return  # a docstring
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) \
                and value.func.id == "barrier" and "barrier" not in self.names:
            if value.args or value.keywords:
                self.fail(node, "barrier() takes no arguments")
            self.shader.group = True
            out.append(ir.Barrier())
            return
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) \
                and value.func.id == "coopmat_store" and "coopmat_store" not in self.names:
            matrix = self.expr(value.args[0]) if value.args else None
            if matrix is None or not isinstance(matrix.type, CoopMatType):
                self.fail(node, "coopmat_store(matrix, array, index, stride[, column_major]) needs a "
                                "cooperative matrix first")
            place, stride, column_major = self.coopmat_memory("coopmat_store", matrix.type, value)
            out.append(ir.CoopMatStore(matrix, place, stride, column_major))
            return
        if isinstance(value, ast.Call):
            out.append(ir.Eval(self.call(value, results=0)))
            return
        out.append(ir.Eval(self.concrete(self.expr(value), value)))

    def no_else(self, node: ast.While | ast.For) -> None:
        if node.orelse:
            self.fail(node.orelse[0], "an else clause on a loop is not supported")

    def for_range(self, node: ast.For, out: list[ir.Stmt]) -> None:
        """``for i in range(...)``, and ``for v in array`` over the indices of an array."""
        self.no_else(node)
        it = node.iter
        array = self.names.get(it.id) if isinstance(it, ast.Name) else None
        is_range = isinstance(it, ast.Call) and isinstance(it.func, ast.Name) \
            and it.func.id == "range" and "range" not in self.names
        if not is_range and not (isinstance(array, ir.Variable) and isinstance(array.type, ArrayType)):
            self.fail(node, f"a for loop must iterate over range(...) or an array, not `{_source(it)}`")
        if not isinstance(node.target, ast.Name):
            self.fail(node.target, f"the loop variable must be a name, not `{_source(node.target)}`")
        arg_nodes: list[ast.expr]
        if is_range:
            call = cast(ast.Call, it)
            if not 1 <= len(call.args) <= 3 or call.keywords:
                self.fail(it, "range() takes 1 to 3 positional arguments")
            args = [self.expr(a) for a in call.args]
            arg_nodes = call.args
        else:
            args = [self.array_length(cast(ir.Variable, array))]  # an array, checked above
            arg_nodes = [it]
        for arg, arg_node in zip(args, arg_nodes):
            if not isinstance(arg.type, Scalar) or arg.type.kind not in ("int", "uint"):
                self.fail(arg_node, f"range() needs integers, got {arg.type!r} `{_source(arg_node)}`")
        t = self.common_elem(args, it)
        if len(args) == 1:
            args.insert(0, ir.Const(i32, 0, True))
        if len(args) == 2:
            args.append(ir.Const(i32, 1, True))
        start, stop, step = (self.coerce(v, t, it, "range()") for v in args)

        counter = self.hidden_local("range", t)
        out.append(ir.Store(ir.VarRef(counter), start))
        # range() evaluates its arguments once, before the loop.
        stop, step = (self.once(v, "range", out) for v in (stop, step))
        current = ir.Load(t, ir.VarRef(counter))
        below = ir.Binary(boolean, "lt", current, stop)
        above = ir.Binary(boolean, "gt", current, stop)
        cond: ir.Expr
        if isinstance(step, ir.Const):
            if step.value == 0:
                self.fail(it, "range() step must not be zero")
            cond = below if step.value > 0 else above
        else:
            # A zero step, an error in Python, runs no iteration rather than forever.
            negative = ir.Binary(boolean, "lt", step, ir.Const(t, 0))
            cond = ir.Select(boolean, ir.Binary(boolean, "gt", step, ir.Const(t, 0)), below,
                             ir.Logical(boolean, "and", negative, above))

        index = ir.Load(t, ir.VarRef(counter))
        if array is not None:
            array_var = cast(ir.Variable, array)  # an array, checked above
            element = cast(ArrayType, array_var.type).elem
            index = ir.Load(element, ir.Element(ir.VarRef(array_var), index, element))
        body: list[ir.Stmt] = []
        self.store_target(node.target, index, body)
        body += self.block(node.body)
        advance = ir.Store(ir.VarRef(counter), ir.Binary(t, "add", current, step))
        out.append(ir.Loop(cond, body, [advance]))

    def once(self, value: ir.Expr, purpose: str, out: list[ir.Stmt]) -> ir.Expr:
        """``value``, or a load of a hidden local it was stored in if reading it twice
        could give another value or repeat a side effect."""
        if isinstance(value, (ir.Const, ir.SpecConst)):
            return value
        var = self.hidden_local(purpose, value.type)
        out.append(ir.Store(ir.VarRef(var), value))
        return ir.Load(value.type, ir.VarRef(var))

    def hidden_local(self, purpose: str, t: ShaderType) -> ir.Variable:
        self.hidden += 1
        var = ir.Variable(f"_{purpose}{self.hidden}", t, "function")
        self.locals.append(var)
        return var

    def assign(self, node: ast.Assign, out: list[ir.Stmt]) -> None:
        targets = node.targets
        if len(targets) == 1 and isinstance(targets[0], ast.Tuple):
            self.unpack(targets[0], node.value, out)
            return
        value = self.assigned_value(node.value)
        if len(targets) > 1:
            value = self.once(self.concrete(value, node.value), "value", out)
        for target in targets:
            self.store_target(target, value, out)

    def assigned_value(self, node: ast.expr) -> ir.Expr:
        """The value of an assignment's right side, which may be a list: a local array."""
        if isinstance(node, ast.List) or isinstance(node, ast.BinOp) and isinstance(
                node.op, ast.Mult) and ast.List in (type(node.left), type(node.right)):
            return self.list_value(node)
        return self.expr(node)

    def list_value(self, node: ast.List | ast.BinOp) -> ir.Expr:
        """``[a, b, c]`` or ``[x] * n``: a per-invocation array of n copies."""
        repeat = 1
        if isinstance(node, ast.BinOp):
            items, count_node = (node.left, node.right) if isinstance(node.left, ast.List) \
                else (node.right, node.left)
            count = self.expr(count_node)
            if not _abstract(count) or not isinstance(count.value, int) or count.value < 1:
                self.fail(count_node, f"the length of a local array must be a positive number "
                                      f"known when compiling, not `{_source(count_node)}`")
            repeat, node = count.value, cast(ast.List, items)  # assigned_value saw a list on one side
        if not node.elts:
            self.fail(node, "a local array needs at least one element: `acc = [0.0] * 4`")
        values = self.unify([self.expr(e) for e in node.elts], node, "a list")
        if not isinstance(values[0].type, (Scalar, Vector)) or elem_of(values[0].type).kind == "bool":
            self.fail(node, f"a local array holds numbers or vectors, not {values[0].type!r}")
        temps: list[ir.Expr] = [v if isinstance(v, ir.Const) else ir.Temp(v.type) for v in values]
        t = ArrayType(values[0].type, len(values) * repeat)
        result: ir.Expr = ir.Construct(t, temps * repeat)
        for temp, value in zip(temps, values):
            if temp is not value:  # each element is evaluated once, as in Python
                result = ir.Let(t, cast(ir.Temp, temp), value, result)
        return result

    def unpack(self, target: ast.Tuple, value: ast.expr, out: list[ir.Stmt]) -> None:
        if isinstance(value, ast.Call):
            # A function returning a tuple: keep it, then assign its members.
            result = self.once(self.call(value, results=len(target.elts)), "result", out)
            for k, t in enumerate(target.elts):
                self.store_target(t, ir.Swizzle(cast(ir.Struct, result.type).members[k], result, (k,)), out)
            return
        if not isinstance(value, ast.Tuple) or len(value.elts) != len(target.elts):
            self.fail(target, f"`{_source(target)} = {_source(value)}` needs a tuple of "
                              f"{len(target.elts)} values on the right")
        # All values are read before any is assigned, as in `a, b = b, a`.
        values = [self.once(self.concrete(self.expr(v), v), "value", out) for v in value.elts]
        for t, v in zip(target.elts, values):
            self.store_target(t, v, out)

    def store_target(self, target: ast.expr, value: ir.Expr, out: list[ir.Stmt]) -> None:
        """Assigns ``value`` to ``target``: the statements go to ``out``."""
        if isinstance(target, ast.Name):
            var = self.names.get(target.id)
            if var is None:
                value = self.concrete(value, target)
                var = ir.Variable(target.id, value.type, "function")
                self.locals.append(var)
                self.names[target.id] = var
            if not isinstance(var, ir.Variable) or isinstance(var.type, ArrayType) \
                    and var.storage != "function":
                self.fail(target, f"cannot assign to parameter '{target.id}'")
            if isinstance(var.type, ArrayType) or isinstance(value.type, ArrayType):
                if value.type != var.type:
                    self.fail(target, f"'{target.id}' is a {var.type!r}; cannot assign a "
                                      f"{value.type!r} to it")
                out.append(ir.Store(ir.VarRef(var), value))
                return
            if elem_of(var.type).kind in ("int", "uint") and elem_of(value.type).kind == "float" \
                    and not _abstract(value):
                self.fail(target, f"'{target.id}' holds integers ({var.type!r}, from its first "
                                  f"assignment) and cannot take a {value.type!r}; start it as a "
                                  f"float (`{target.id} = 0.0`) or write {var.type!r}(...)")
            out.append(ir.Store(ir.VarRef(var), self.coerce(value, var.type, target, f"'{target.id}'")))
        elif isinstance(target, ast.Subscript) and (image := self.image(target.value)) is not None:
            coord = self.image_coord(target.slice)
            texel = self.coerce(value, _texel(image), target, f"`{_source(target)}`")
            out.append(ir.ImageWrite(image, coord, texel))
        elif isinstance(target, ast.Subscript):
            place = self.place(target)
            out.append(ir.Store(place, self.coerce(value, place.type, target, f"`{_source(target)}`")))
        elif isinstance(target, ast.Attribute):
            # The vector is read and written: its place's indices are evaluated once.
            place = self.stable(self.place(target.value), out)
            self.store_components(target, place, value, out)
        else:
            self.fail(target, f"cannot assign to `{_source(target)}`")

    def store_components(self, target: ast.Attribute, place: ir.Place, value: ir.Expr,
                         out: list[ir.Stmt]) -> None:
        """Assigns ``value`` to the swizzle ``target`` of the vector at ``place``."""
        indices = self.swizzle_indices(target, place.type)
        if len(set(indices)) != len(indices):
            self.fail(target, f"`{_source(target)}` assigns a component twice")
        component = self.swizzle_type(place.type, indices)
        value = self.coerce(value, component, target, f"`{_source(target)}`")
        out.append(ir.Store(place, ir.Insert(place.type, ir.Load(place.type, place), value, indices)))

    def augmented_assign(self, node: ast.AugAssign, out: list[ir.Stmt]) -> None:
        target = node.target
        if isinstance(target, ast.Name) and target.id not in self.names:
            self.fail(target, f"undefined name '{target.id}'")
        current: ir.Expr
        if isinstance(target, ast.Subscript) and (image := self.image(target.value)) is not None:
            # Read and write the same texel: evaluate the coordinate once.
            coord = self.once(self.image_coord(target.slice), "coord", out)
            current = ir.ImageRead(_texel(image), image, coord)
            value = self.binop(_BINOPS[type(node.op)], current, self.expr(node.value), node)
            texel = self.coerce(value, _texel(image), target, f"`{_source(target)}`")
            out.append(ir.ImageWrite(image, coord, texel))
            return
        if isinstance(target, ast.Subscript):
            # Read and write the same element: evaluate the index once.
            place = self.stable(self.place(target), out)
            current = ir.Load(place.type, place)
            value = self.binop(_BINOPS[type(node.op)], current, self.expr(node.value), node)
            out.append(ir.Store(place, self.coerce(value, place.type, target, f"`{_source(target)}`")))
            return
        if isinstance(target, ast.Attribute) and self.is_place(target.value):
            place = self.stable(self.place(target.value), out)
            indices = self.swizzle_indices(target, place.type)
            current = ir.Swizzle(self.swizzle_type(place.type, indices), ir.Load(place.type, place), indices)
            value = self.binop(_BINOPS[type(node.op)], current, self.expr(node.value), node)
            self.store_components(target, place, value, out)
            return
        value = self.binop(_BINOPS[type(node.op)], self.expr(target), self.expr(node.value), node)
        self.store_target(target, value, out)

    def stable(self, place: ir.Place, out: list[ir.Stmt]) -> ir.Place:
        if isinstance(place, ir.VarRef):
            return place
        index = place.index
        if not isinstance(index, ir.Const) and not (
                isinstance(index, ir.Load) and isinstance(index.place, ir.VarRef)):
            index = self.once(index, "index", out)
        return ir.Element(self.stable(place.base, out), index, place.type)

    def annotated_assign(self, node: ast.AnnAssign, out: list[ir.Stmt]) -> None:
        if not isinstance(node.target, ast.Name):
            self.fail(node, f"only names can be declared with a type, not `{_source(node.target)}`")
        name = node.target.id
        t = self.type_name(node.annotation)
        if name in self.names:
            declared = self.names[name]
            if not isinstance(declared, ir.Variable) or declared.type != t:
                self.fail(node, f"'{name}' is already declared as "
                                f"{getattr(declared, 'type', None)!r}, not {t!r}")
        else:
            var = ir.Variable(name, t, "function")
            self.locals.append(var)
            self.names[name] = var
        if node.value is not None:
            self.store_target(node.target, self.assigned_value(node.value), out)
        elif isinstance(t, ArrayType):
            out.append(ir.Store(ir.VarRef(cast(ir.Variable, self.names[name])), ir.Zero(t)))  # declared above

    def type_name(self, node: ast.expr) -> ShaderType:
        """The type of a declaration: ``f32``, ``vec3``... or ``Array(f32, 4)``."""
        if isinstance(node, ast.Name):
            t = self.shader_type(node.id)
            if isinstance(t, (Scalar, Vector, Matrix, CoopMatType)):
                return t
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "Array" and node.func.id not in self.names \
                and len(node.args) == 2 and not node.keywords:
            elem = self.type_name(node.args[0])
            length = self.expr(node.args[1])
            if isinstance(elem, (Scalar, Vector)) and _abstract(length) \
                    and isinstance(length.value, int) and length.value >= 1:
                return ArrayType(elem, length.value)
        self.fail(node, f"`{_source(node)}` is not a scalar, vector or matrix type, or "
                        f"Array(type, length) with a length known when compiling")

    def condition(self, node: ast.expr) -> ir.Expr:
        """A scalar boolean; numbers are true when not zero, as in Python."""
        value = self.expr(node)
        if value.type == boolean:
            return value
        if isinstance(value.type, Scalar):
            return self.binop("ne", value, ir.Const(i32, 0, True), node)
        self.fail(node, f"`{_source(node)}` is a {value.type!r}, not a condition"
                        + ("; use any() or all()" if isinstance(value.type, Vector) else ""))

    # --- Places ----------------------------------------------------------------------------

    def is_place(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return isinstance(self.names.get(node.id), ir.Variable)
        return isinstance(node, ast.Subscript) and self.is_place(node.value)

    def place(self, node: ast.expr) -> ir.Place:
        if isinstance(node, ast.Name):
            var = self.names.get(node.id)
            if isinstance(var, ir.Variable):
                return ir.VarRef(var)
            if var is None:
                self.fail(node, f"undefined name '{node.id}'")
            self.fail(node, f"cannot assign to '{node.id}', a read-only parameter")
        if isinstance(node, ast.Subscript):
            base = self.place(node.value)
            index = self.index(node.slice)
            return ir.Element(base, index, self.element_type(base.type, index, node))
        self.fail(node, f"cannot assign to `{_source(node)}`")

    def index(self, node: ast.expr) -> ir.Expr:
        if isinstance(node, ast.Slice):
            self.fail(node, "slices are not supported")
        index = self.expr(node)
        if not isinstance(index.type, Scalar) or index.type.kind not in ("int", "uint"):
            self.fail(node, f"an index must be an integer, not {index.type!r} `{_source(node)}`")
        if isinstance(index, ir.Const) and index.value < 0:
            self.fail(node, f"negative index {index.value} is not supported")
        return self.concrete(index, node)

    def element_type(self, t: ShaderType, index: ir.Expr, node: ast.Subscript) -> ShaderType:
        if isinstance(t, (ArrayType, Vector, Matrix)):
            length = t.cols if isinstance(t, Matrix) else t.length
            if isinstance(index, ir.Const) and length is not None and index.value >= length:
                self.fail(node, f"index {index.value} is out of range for {t!r}")
            return t.column if isinstance(t, Matrix) else t.elem
        self.fail(node, f"`{_source(node.value)}` is a {t!r} and cannot be indexed")

    # --- Expressions -------------------------------------------------------------------------

    def expr(self, node: ast.expr) -> ir.Expr:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Attribute):
            module = self.module(node.value)
            if module is not None:
                return self.module_constant(module, node)
            value = self.expr(node.value)
            indices = self.swizzle_indices(node, value.type)
            return ir.Swizzle(self.swizzle_type(value.type, indices), value, indices)
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        if isinstance(node, ast.BinOp):
            return self.binop(_BINOPS[type(node.op)], self.expr(node.left), self.expr(node.right), node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            result = self.condition(node.values[0])
            for operand in node.values[1:]:
                result = ir.Logical(boolean, op, result, self.condition(operand))
            return result
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.IfExp):
            cond = self.condition(node.test)
            a, b = self.unify([self.expr(node.body), self.expr(node.orelse)], node, "if-else")
            return ir.Select(a.type, cond, a, b)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Tuple):
            self.fail(node, f"a tuple `{_source(node)}` can only be assigned to as many names "
                            f"(`a, b = b, a`) or returned from a function")
        self.fail(node, f"unsupported expression `{_source(node)}`")

    def constant(self, node: ast.Constant) -> ir.Const:
        const = _python_constant(node.value)
        if const is None:
            self.fail(node, f"unsupported constant {node.value!r}")
        return const

    def name(self, node: ast.Name) -> ir.Expr:
        bound = self.names.get(node.id)
        if isinstance(bound, ir.Expr):
            return bound
        if isinstance(bound, ir.Variable):
            if isinstance(bound.type, ImageType):
                self.fail(node, f"the image '{node.id}' can only be indexed by an ivec2: "
                                f"{node.id}[ivec2(x, y)]")
            if isinstance(bound.type, ArrayType):
                self.fail(node, f"the array '{node.id}' can only be indexed, passed to len() "
                                f"or to an atomic function")
            return ir.Load(bound.type, ir.VarRef(bound))
        value = self.outer(node.id)
        const = _python_constant(value)
        if const is not None:
            return const
        if self.shader_type(node.id) is not None or node.id in MATH:
            self.fail(node, f"'{node.id}' can only be called")
        if value is not MISSING:
            self.fail(node, f"'{node.id}' is a {type(value).__name__}; a shader can only use "
                            f"global numbers")
        self.fail(node, f"undefined name '{node.id}'")

    def shader_type(self, name: str) -> ShaderType | None:
        """The type a name stands for: a global bound to one, or a built-in type name."""
        value = self.outer(name)
        if isinstance(value, ShaderType):
            return value
        return TYPES.get(CASTS.get(name, name))

    def swizzle_indices(self, node: ast.Attribute, t: ShaderType) -> tuple[int, ...]:
        attr = node.attr
        if isinstance(t, Vector) and len(attr) <= 4:
            for letters in _SWIZZLE_SETS:
                if all(c in letters[:t.length] for c in attr):
                    return tuple(letters.index(c) for c in attr)
        self.fail(node, f"{t!r} has no attribute '{attr}'")

    @staticmethod
    def swizzle_type(t: ShaderType, indices: tuple[int, ...]) -> ShaderType:
        """The type of components ``indices`` of vector type ``t`` (``swizzle_indices``
        accepts only vectors)."""
        vector = cast(Vector, t)
        return vector.elem if len(indices) == 1 else Vector(vector.elem, len(indices))

    def subscript(self, node: ast.Subscript) -> ir.Expr:
        image = self.image(node.value)
        if image is not None:
            return ir.ImageRead(_texel(image), image, self.image_coord(node.slice))
        if self.is_place(node.value):
            place = self.place(node)
            return ir.Load(place.type, place)
        value = self.expr(node.value)
        index = self.index(node.slice)
        t = self.element_type(value.type, index, node)
        if isinstance(index, ir.Const):
            return ir.Swizzle(t, value, (cast(int, index.value),))  # element_type checked it
        if isinstance(value.type, Matrix):
            self.fail(node, "a matrix value can only be indexed by a constant; "
                            "assign it to a variable first")
        return ir.DynamicExtract(t, value, index)

    def image(self, node: ast.expr) -> ir.Variable | None:
        """The image variable ``node`` names, if it does."""
        var = self.names.get(node.id) if isinstance(node, ast.Name) else None
        return var if isinstance(var, ir.Variable) and isinstance(var.type, ImageType) else None

    def image_coord(self, node: ast.expr) -> ir.Expr:
        coord = self.expr(node)
        if not (isinstance(coord.type, Vector) and coord.type.length == 2
                and coord.type.elem in (i32, u32)):
            self.fail(node, f"an image is indexed by an ivec2 (x, y), not {coord.type!r} "
                            f"`{_source(node)}`")
        return self.convert(coord, Vector(i32, 2), node)

    def unary(self, node: ast.UnaryOp) -> ir.Expr:
        if isinstance(node.op, ast.Not):
            cond = self.condition(node.operand)
            if isinstance(cond, ir.Const):
                return ir.Const(boolean, not cond.value)
            return ir.Unary(boolean, "not", cond)
        value = self.expr(node.operand)
        if elem_of(value.type).kind == "bool":
            self.fail(node, f"`{_source(node)}`: cannot apply {_source(node.op)} to {value.type!r}")
        if isinstance(node.op, ast.UAdd):
            return value
        if isinstance(node.op, ast.Invert):
            if elem_of(value.type).kind == "float":
                self.fail(node, f"`{_source(node)}`: ~ needs integers, not {value.type!r}")
            if _abstract(value):
                return ir.Const(i32, ~cast(int, value.value), True)  # an integer, checked above
            return ir.Unary(value.type, "invert", value)
        if _abstract(value):
            return ir.Const(value.type, -value.value, True)
        return ir.Unary(value.type, "neg", value)

    def compare(self, node: ast.Compare) -> ir.Expr:
        for cmp in node.ops:
            if type(cmp) not in _COMPARE:
                self.fail(node, f"unsupported comparison `{_source(node)}`")
        ops = [_COMPARE[type(op)] for op in node.ops]
        operands = [self.expr(node.left), *(self.expr(c) for c in node.comparators)]
        if len(ops) == 1:
            return self.binop(ops[0], operands[0], operands[1], node)
        # The middle operands of a chain are evaluated once, as in Python.
        lets: list[tuple[ir.Temp, ir.Expr]] = []
        for i in range(1, len(operands) - 1):
            if not isinstance(operands[i], ir.Const):
                value = self.concrete(operands[i], node)
                temp = ir.Temp(value.type)
                operands[i] = temp
                lets.append((temp, value))
        result: ir.Expr | None = None
        for op, left, right in zip(ops, operands, operands[1:]):
            test = self.binop(op, left, right, node)
            if test.type != boolean:
                self.fail(node, f"`{_source(node)}` chains vector comparisons; use any() or all()")
            result = test if result is None else ir.Logical(boolean, "and", result, test)
        assert result is not None  # a chain has at least two comparisons
        for temp, value in reversed(lets):
            result = ir.Let(boolean, temp, value, result)
        return result

    # --- Typing ------------------------------------------------------------------------------

    def concrete(self, value: ir.Expr, node: ast.AST) -> ir.Expr:
        """``value`` with a literal given its default type (i32, f32)."""
        return self.const_as(value, value.type, node) if _abstract(value) else value

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
        if _abstract(value) and isinstance(t, Scalar):
            if value.type.kind == "float" and t.kind != "float":
                self.fail(node, f"{what}: cannot use the float {value.value!r} as {t!r}")
            return self.const_as(value, t, node)
        if _same_shape(value.type, t) and _implicit(elem_of(value.type), elem_of(t)):
            return ir.Convert(t, value)
        self.fail(node, f"{what}: cannot use a {value.type!r} as {t!r}"
                        + (f"; write {t!r}(...)" if _same_shape(value.type, t) else ""))

    def convert(self, value: ir.Expr, t: ShaderType, node: ast.AST) -> ir.Expr:
        """``value`` explicitly converted to ``t`` (a cast)."""
        if _abstract(value) and isinstance(t, Scalar):
            return self.const_as(value, t, node, explicit=True)
        value = self.concrete(value, node)
        return value if value.type == t else ir.Convert(t, value)

    def common_elem(self, values: Sequence[ir.Expr], node: ast.AST, what: str = "") -> Scalar:
        """The scalar type all ``values`` convert to implicitly; literals adapt."""
        target: Scalar | None = None
        for value in values:
            if _abstract(value):
                continue
            elem = elem_of(value.type)
            if target is None or _implicit(target, elem):
                target = elem
            elif not _implicit(elem, target):
                types = " and ".join(repr(v.type) for v in values)
                self.fail(node, f"{what or 'operands'}: cannot combine {types} in `{_source(node)}`")
        if any(_abstract(v) and v.type.kind == "float" for v in values):
            if target is None or target.kind != "float":
                target = f32
        return target or i32

    def unify(self, values: list[ir.Expr], node: ast.AST, what: str) -> list[ir.Expr]:
        """``values`` converted to one type: the common scalar, as a vector if any is one."""
        lengths = {v.type.length for v in values if isinstance(v.type, Vector)}
        if len(lengths) > 1:
            types = " and ".join(repr(v.type) for v in values)
            self.fail(node, f"{what}: {types} have different lengths in `{_source(node)}`")
        elem = self.common_elem(values, node, what)
        t = Vector(elem, lengths.pop()) if lengths else elem
        return [self.coerce(v, t, node, what) for v in values]

    def binop(self, op: str, a: ir.Expr, b: ir.Expr, node: ast.AST) -> ir.Expr:
        what = f"`{_source(node)}`"
        if _abstract(a) and _abstract(b):
            return self.fold(op, a, b, node)
        if op == "pow":
            return self.power(a, b, node)
        if isinstance(a.type, CoopMatType) or isinstance(b.type, CoopMatType):
            return self.coopmat_arith(op, a, b, node)
        if op == "matmul":
            return self.matmul(a, b, node)
        if isinstance(a.type, Matrix) or isinstance(b.type, Matrix):
            return self.matrix_arith(op, a, b, node)
        if op in _COMPARISONS and _mixed_signs(a, b):
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
            self.fail(node, f"`{_source(node)}`: {a.type!r} and {b.type!r} have different lengths")
        width = max(elem_of(signed.type).width, elem_of(unsigned.type).width)
        shape = signed.type if isinstance(signed.type, Vector) else unsigned.type
        signed_t, unsigned_t = (with_elem(shape, scalar_type(kind, width)) for kind in ("int", "uint"))
        temp = ir.Temp(signed_t)
        bool_t = with_elem(signed_t, boolean)
        as_unsigned = ir.Binary(bool_t, op, ir.Convert(unsigned_t, temp),
                                self.coerce(unsigned, unsigned_t, node, f"`{_source(node)}`"))
        negative = ir.Binary(bool_t, "lt", temp, self.coerce(ir.Const(i32, 0, True), signed_t, node, ""))
        if op in ("lt", "le", "ne"):  # true wherever the signed side is negative
            result = ir.Binary(bool_t, "or", negative, as_unsigned)
        else:
            result = ir.Binary(bool_t, "and", ir.Unary(bool_t, "not", negative), as_unsigned)
        return ir.Let(bool_t, temp, self.coerce(signed, signed_t, node, f"`{_source(node)}`"), result)

    def fold(self, op: str, a: ir.Const, b: ir.Const, node: ast.AST) -> ir.Const:
        if op == "matmul":
            self.fail(node, f"`{_source(node)}`: @ needs vectors or matrices")
        if op in _BITWISE and (isinstance(a.value, float) or isinstance(b.value, float)):
            self.fail(node, f"`{_source(node)}`: {_SYMBOL[op]} needs integers")
        try:
            value = _FOLD[op](a.value, b.value)
        except (ZeroDivisionError, OverflowError, ValueError) as error:
            problem = str(error)
        else:
            problem = ""
        if problem:
            self.fail(node, f"`{_source(node)}`: {problem}")
        if isinstance(value, bool):
            return ir.Const(boolean, value)
        if isinstance(value, complex):
            self.fail(node, f"`{_source(node)}` is complex")
        return ir.Const(f32 if isinstance(value, float) else i32, value, True)

    def power(self, base: ir.Expr, exponent: ir.Expr, node: ast.AST) -> ir.Expr:
        if elem_of(base.type).kind == "bool" or isinstance(base.type, Matrix):
            self.fail(node, f"`{_source(node)}`: ** is not defined for {base.type!r}")
        if _abstract(exponent) and isinstance(exponent.value, int) \
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
        what = f"`{_source(node)}`"
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
        what = f"`{_source(node)}`"
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

    # --- Calls ---------------------------------------------------------------------------------

    def call(self, node: ast.Call, results: int = 1) -> ir.Expr:
        """A call; ``results``: how many values the caller takes (0: a statement;
        more than 1: a tuple, which only a function defined in Python returns)."""
        func = node.func
        if isinstance(func, ast.Attribute) and self.module(func.value) is math:
            return self.math_module_call(func.attr, node)
        if not isinstance(func, ast.Name):
            self.fail(node, f"only functions and types can be called, not `{_source(func)}`")
        name = func.id
        if name in self.names:
            self.fail(node, f"'{name}' is a variable, not a function")
        if isinstance(function := self.outer(name), types.FunctionType):
            return self.python_call(node, function, results)
        if results > 1:
            self.fail(node, f"{name}() returns one value, not {results}")
        if node.keywords:
            self.fail(node, f"{name}() takes no keyword arguments")
        t = self.shader_type(name)
        if t is not None and len(node.args) == 1 and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            return self.parsed_number(t, node.args[0])
        if t is not None:
            return self.construct(t, [self.expr(a) for a in node.args], node)
        if name == "coopmat_load":
            return self.coopmat_load(node)
        if name == "coopmat_muladd":
            return self.coopmat_muladd(node)
        if name == "coopmat_store":
            self.fail(node, "coopmat_store() is only allowed as a statement")
        if name in ATOMICS:
            return self.atomic(ATOMICS[name], node)
        if name in SUBGROUP_FUNCTIONS:
            return self.subgroup(name.removeprefix("subgroup_"), node)
        if name == "len":
            return self.length(node)
        if name in ("range", "barrier"):
            self.fail(node, f"{name}() is only allowed as "
                            + ("the iterable of a for loop" if name == "range" else "a statement"))
        args = [self.expr(a) for a in node.args]
        special = {"dot": self.dot, "any": self.any_all, "all": self.any_all,
                   "transpose": self.matrix_function, "determinant": self.matrix_function,
                   "inverse": self.matrix_function}.get(name)
        if special is not None:
            return special(name, args, node)
        if name == "atan" and len(args) == 2:
            name = "atan2"
        if name in MATH:
            return self.math_call(name, MATH[name], args, node)
        self.fail(node, f"unknown function '{name}'")

    def python_call(self, node: ast.Call, func: types.FunctionType, results: int) -> ir.Expr:
        """A call of a Python function: compiled, for these argument types, into a
        function of the shader (arrays are passed by reference, as in Python)."""
        name = cast(ast.Name, node.func).id  # call() checked it
        if func in self.calling:
            chain = " -> ".join(f.__name__ for f in self.calling[self.calling.index(func):])
            self.fail(node, f"{name}() is recursive ({chain} -> {name}); a shader cannot recurse: "
                            f"write a loop instead")
        source = read(func)
        params = source.tree.args
        if params.vararg or params.kwarg or params.kwonlyargs:
            self.fail(node, f"{name}() is called from a shader, so its parameters must be plain "
                            f"names (no *args, **kwargs or keyword-only parameters)")
        names = [a.arg for a in (*params.posonlyargs, *params.args)]
        if len(node.args) > len(names) or any(isinstance(a, ast.Starred) for a in node.args):
            self.fail(node, f"{name}() takes {len(names)} arguments, got {len(node.args)}")
        given: dict[str, ast.expr] = dict(zip(names, node.args))
        for keyword in node.keywords:
            if keyword.arg not in names or keyword.arg in given:
                self.fail(node, f"{name}() got an unexpected or repeated argument "
                                f"'{keyword.arg or '**'}'")
            given[keyword.arg] = keyword.value
        bound: list[ir.Expr | ir.Variable] = []
        for param in names:
            if param in given:
                bound.append(self.argument(given[param], name))
            elif (default := _python_constant(source.defaults.get(param))) is not None:
                bound.append(self.concrete(default, node))
            else:
                self.fail(node, f"{name}() is missing argument '{param}' (defaults must be numbers)")
        key = (func, tuple(b if isinstance(b, ir.Variable) else b.type for b in bound))
        function = self.compiled.get(key)
        if function is None:
            values = [(p, b) for p, b in zip(names, bound) if isinstance(b, ir.Expr)]
            function = ir.Function(name, [ir.Variable(p, b.type, "function") for p, b in values])
            callee = FrontEnd(source, self.shader.local_size, self, function)
            callee.names.update({p: b for p, b in zip(names, bound) if isinstance(b, ir.Variable)})
            callee.names.update({v.name: v for v in function.params})
            function.body = callee.block(source.tree.body)
            if function.result is not None and not _ends_with_return(source.tree.body):
                callee.fail(source.tree.body[-1], f"'{name}' returns a value on one path and none "
                                                  f"at its end; end it with a return")
            self.compiled[key] = function
            self.shader.functions.append(function)
        count = 0 if function.result is None else (
            len(function.result.members) if isinstance(function.result, ir.Struct) else 1)
        if results and count != results:
            self.fail(node, f"{name}() returns {count or 'no'} value{'s' * (count != 1)}, "
                            f"not {results}" + ("; unpack them: `a, b = ...`" if count > 1 else ""))
        # a function without a result is called for its effect: the back end types the call void
        return ir.Call(cast(ShaderType, function.result), function, [b for b in bound if isinstance(b, ir.Expr)])

    def argument(self, node: ast.expr, function: str) -> ir.Expr | ir.Variable:
        """An argument of a Python function: a value, or a buffer or shared array."""
        var = self.names.get(node.id) if isinstance(node, ast.Name) else None
        if isinstance(var, ir.Variable) and isinstance(var.type, ImageType):
            return var
        if isinstance(var, ir.Variable) and isinstance(var.type, ArrayType):
            if var.storage == "function":
                self.fail(node, f"the local array '{cast(ast.Name, node).id}' cannot be passed to {function}(); "
                                f"pass buffers and shared arrays, or its elements")
            return var
        value = self.concrete(self.expr(node), node)
        if not isinstance(value.type, (Scalar, Vector, Matrix)):
            self.fail(node, f"cannot pass `{_source(node)}` to {function}()")
        return value

    def module(self, node: ast.expr) -> types.ModuleType | None:
        """The module a name refers to (``math``), if it does."""
        if isinstance(node, ast.Name) and node.id not in self.names:
            value = self.outer(node.id)
            if isinstance(value, types.ModuleType):
                return value
        return None

    def module_constant(self, module: types.ModuleType, node: ast.Attribute) -> ir.Const:
        const = _python_constant(getattr(module, node.attr, None))
        if const is None:
            self.fail(node, f"`{_source(node)}` is not a number; a shader can use a module's "
                            f"numbers (math.pi) and the functions of math")
        return const

    def parsed_number(self, t: ShaderType, node: ast.Constant) -> ir.Const:
        """``float("inf")``, ``float("nan")``..., as Python parses them."""
        if not isinstance(t, Scalar) or t.kind != "float":
            self.fail(node, f"{t!r}() of a string: only float(\"inf\"), float(\"-inf\") and "
                            f"float(\"nan\") (or another float literal) are supported")
        try:
            value = float(cast(str, node.value))  # the caller passes strings
        except ValueError:
            value = None
        if value is None:
            self.fail(node, f"could not convert {node.value!r} to a float")
        return self.const_as(ir.Const(f32, value, True), t, node)

    def math_module_call(self, name: str, node: ast.Call) -> ir.Expr:
        """``math.name(...)``: the same function of Python's math module, with its
        results' types (``math.floor`` gives an int)."""
        if node.keywords:
            self.fail(node, f"math.{name}() takes no keyword arguments")
        if name not in MATH_MODULE_SAME | MATH_MODULE_OTHER:
            self.fail(node, f"math.{name}() is not available in shaders; use one of "
                            f"{', '.join(sorted(MATH_MODULE_SAME | MATH_MODULE_OTHER))}")
        args = []
        for arg in node.args:  # Python's math converts its arguments to float
            value = self.expr(arg)
            if not isinstance(value.type, (Scalar, Vector)) or elem_of(value.type).kind == "bool":
                self.fail(arg, f"math.{name}() needs numbers, not {value.type!r}")
            args.append(self.convert(value, with_elem(value.type, f32), arg)
                        if elem_of(value.type).kind != "float" else value)
        if name in MATH_MODULE_SAME:
            return self.math_call(name, MATH[name], args, node)
        if name in ("floor", "ceil", "trunc"):
            value = self.math_call(name, MATH[name], args, node)
            return ir.Convert(with_elem(value.type, i32), value)
        if name == "fabs":
            return self.math_call("abs", MATH["abs"], args, node)
        if name in ("isnan", "isinf", "isfinite"):
            self.arity(f"math.{name}", args, 1, node)
            value = self.concrete(args[0], node)
            t = with_elem(value.type, boolean)
            if name != "isfinite":
                return ir.Intrinsic(t, name, [value])
            temp = ir.Temp(value.type)
            special = ir.Binary(t, "or", ir.Intrinsic(t, "isnan", [temp]),
                                ir.Intrinsic(t, "isinf", [temp]))
            return ir.Let(t, temp, value, ir.Unary(t, "not", special))
        if name == "log":
            if len(args) not in (1, 2):
                self.fail(node, f"math.log() takes 1 or 2 arguments, got {len(args)}")
            logs = [self.math_call("log", MATH["log"], [a], node) for a in args]
            return logs[0] if len(logs) == 1 else self.binop("div", logs[0], logs[1], node)
        self.arity(f"math.{name}", args, 2 if name in ("hypot", "fmod") else 1, node)
        if name == "log10":
            log2 = self.math_call("log2", MATH["log2"], args, node)
            return self.binop("mul", log2, ir.Const(f32, math.log10(2.0), True), node)
        if name == "log1p":
            return self.math_call("log", MATH["log"], [self.binop("add", args[0], ir.Const(
                f32, 1.0, True), node)], node)
        if name == "expm1":
            exp = self.math_call("exp", MATH["exp"], args, node)
            return self.binop("sub", exp, ir.Const(f32, 1.0, True), node)
        if name == "hypot":
            x, y = self.unify(args, node, "math.hypot()")
            if not isinstance(x.type, Scalar):
                self.fail(node, f"math.hypot() needs scalars, not {x.type!r}; use length()")
            return ir.ExtInst(x.type, MATH["length"].float_inst, [ir.Construct(Vector(x.type, 2), [x, y])])
        x, y = self.unify(args, node, "math.fmod()")  # fmod
        return ir.Binary(x.type, "fmod", x, y)

    def arity(self, name: str, args: Sequence[object], count: int, node: ast.AST) -> None:
        if len(args) != count:
            self.fail(node, f"{name}() takes {count} argument{'s' * (count != 1)}, got {len(args)}")

    def construct(self, t: ShaderType, args: list[ir.Expr], node: ast.Call) -> ir.Expr:
        """A cast (``f32(i)``) or a vector or matrix constructor."""
        if isinstance(t, Scalar):
            self.arity(repr(t), args, 1, node)
            if not isinstance(args[0].type, Scalar):
                self.fail(node, f"{t!r}() needs a scalar, not {args[0].type!r}")
            return self.convert(args[0], t, node)
        if isinstance(t, Vector):
            if len(args) == 1 and isinstance(args[0].type, Scalar):
                return ir.Splat(t, self.convert(args[0], t.elem, node))
            if len(args) == 1 and _same_shape(args[0].type, t):
                return self.convert(args[0], t, node)
            return ir.Construct(t, self.pieces(t, args, node))
        if isinstance(t, Matrix):
            return self.matrix(t, args, node)
        if isinstance(t, CoopMatType):  # every element one value
            self.arity(repr(t), args, 1, node)
            if not isinstance(args[0].type, Scalar):
                self.fail(node, f"{t!r}() takes the scalar that fills it, not {args[0].type!r}")
            return ir.Construct(t, [self.convert(args[0], t.elem, node)])
        self.fail(node, f"{t!r} cannot be constructed in a shader; declare a ('shared', ...) "
                        f"parameter for an array")

    def pieces(self, t: Vector, args: list[ir.Expr], node: ast.AST) -> list[ir.Expr]:
        """The scalars and vectors of a vector constructor, converted to its scalar type."""
        pieces = []
        for arg in args:
            if isinstance(arg.type, Matrix):
                self.fail(node, f"{t!r}() cannot take a matrix")
            pieces.append(self.convert(arg, with_elem(arg.type, t.elem), node))
        count = sum(count_of(p.type) for p in pieces)
        if count != t.length:
            self.fail(node, f"{t!r}() needs {t.length} components, got {count}")
        return pieces

    def matrix(self, t: Matrix, args: list[ir.Expr], node: ast.AST) -> ir.Expr:
        if len(args) == 1 and args[0].type == t:
            return args[0]
        if len(args) == 1 and isinstance(args[0].type, Scalar):
            # mat3(s) is s on the diagonal, as in GLSL.
            temp = ir.Temp(f32)
            zero = ir.Const(f32, 0.0)
            columns: list[ir.Expr] = [ir.Construct(t.column, [temp if r == c else zero for r in range(t.rows)])
                       for c in range(t.cols)]
            return ir.Let(t, temp, self.convert(args[0], f32, node), ir.Construct(t, columns))
        if all(_same_shape(a.type, t.column) for a in args) and len(args) == t.cols:
            return ir.Construct(t, [self.convert(a, t.column, node) for a in args])
        if all(isinstance(a.type, Scalar) for a in args) and len(args) == t.cols * t.rows:
            values = [self.convert(a, f32, node) for a in args]
            return ir.Construct(t, [ir.Construct(t.column, values[c * t.rows:(c + 1) * t.rows])
                                    for c in range(t.cols)])
        self.fail(node, f"{t!r}() needs {t.cols} column vectors, {t.cols * t.rows} scalars or "
                        f"one scalar, got ({', '.join(repr(a.type) for a in args)})")

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
        if any(_mixed_signs(a, b) for a in args for b in args):
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

    def dot(self, name: str, args: list[ir.Expr], node: ast.AST) -> ir.Expr:
        self.arity(name, args, 2, node)
        if not all(isinstance(a.type, Vector) for a in args):
            self.fail(node, f"dot() needs two vectors, got ({args[0].type!r}, {args[1].type!r})")
        return self.matmul(args[0], args[1], node)

    def any_all(self, name: str, args: list[ir.Expr], node: ast.AST) -> ir.Expr:
        self.arity(name, args, 1, node)
        (value,) = args
        if value.type == boolean:
            return value
        if not isinstance(value.type, Vector) or value.type.elem != boolean:
            self.fail(node, f"{name}() needs a boolean vector, not {value.type!r}")
        return ir.Intrinsic(boolean, name, [value])

    def matrix_function(self, name: str, args: list[ir.Expr], node: ast.AST) -> ir.Expr:
        self.arity(name, args, 1, node)
        (m,) = args
        if not isinstance(m.type, Matrix):
            self.fail(node, f"{name}() needs a matrix, not {m.type!r}")
        if name == "transpose":
            return ir.Intrinsic(Matrix(m.type.rows, m.type.cols), name, [m])
        if m.type.rows != m.type.cols:
            self.fail(node, f"{name}() needs a square matrix, not {m.type!r}")
        if name == "determinant":
            return ir.ExtInst(f32, DETERMINANT, [m])
        return ir.ExtInst(m.type, MATRIX_INVERSE, [m])

    def array_arg(self, node: ast.expr, what: str) -> ir.Variable:
        var = self.names.get(node.id) if isinstance(node, ast.Name) else None
        if not isinstance(var, ir.Variable) or not isinstance(var.type, ArrayType):
            self.fail(node, f"{what} needs a buffer or shared array, not `{_source(node)}`")
        return var

    def length(self, node: ast.Call) -> ir.Expr:
        self.arity("len", node.args, 1, node)
        return self.array_length(self.array_arg(node.args[0], "len()"))

    @staticmethod
    def array_length(var: ir.Variable) -> ir.Expr:
        """The length of array variable ``var``."""
        length = cast(ArrayType, var.type).length
        if length is not None:
            return ir.Const(i32, length)
        return ir.ArrayLength(i32, var)

    def coopmat_memory(self, name: str, t: CoopMatType, node: ast.Call) -> tuple[ir.Place, ir.Expr, bool]:
        """The array element, stride and layout of ``coopmat_load``'s and
        ``coopmat_store``'s last arguments: ``array, index, stride[, column_major]``."""
        if node.keywords or len(node.args) not in (4, 5):
            self.fail(node, f"{name}() takes 4 or 5 arguments: {'T' if name == 'coopmat_load' else 'matrix'}, "
                            f"array, index, stride[, column_major]")
        var = self.array_arg(node.args[1], f"{name}()")
        elem = cast(ArrayType, var.type).elem
        if var.storage not in ("buffer", "shared"):
            self.fail(node, f"{name}() needs a buffer or shared array; '{var.name}' is local to each invocation")
        if elem != t.elem:
            self.fail(node, f"{name}(): a {t!r} is read from and written to an array of {t.elem!r}, "
                            f"not {var.type!r}")
        index = self.index(node.args[2])
        stride = self.coerce(self.expr(node.args[3]), u32, node.args[3], f"{name}() stride")
        column_major = False
        if len(node.args) == 5:
            flag = self.expr(node.args[4])
            if not isinstance(flag, ir.Const) or flag.type != boolean:
                self.fail(node, f"{name}(): column_major is True or False, not `{_source(node.args[4])}`")
            column_major = bool(flag.value)
        self.shader.group = True
        return ir.Element(ir.VarRef(var), index, elem), stride, column_major

    def coopmat_load(self, node: ast.Call) -> ir.Expr:
        """``coopmat_load(T, array, index, stride[, column_major])``: a T from an array."""
        first = node.args[0] if node.args else None
        t = self.shader_type(first.id) if isinstance(first, ast.Name) and first.id not in self.names else None
        if not isinstance(t, CoopMatType):
            self.fail(node, "coopmat_load(T, array, index, stride[, column_major]) needs a CoopMat type first")
        place, stride, column_major = self.coopmat_memory("coopmat_load", t, node)
        return ir.CoopMatLoad(t, place, stride, column_major)

    def coopmat_muladd(self, node: ast.Call) -> ir.Expr:
        """``coopmat_muladd(a, b, c)``: ``a @ b + c`` of cooperative matrices."""
        self.arity("coopmat_muladd", node.args, 3, node)
        a, b, c = (self.expr(arg) for arg in node.args)
        uses = [getattr(v.type, "use", None) for v in (a, b, c)]
        if uses != ["a", "b", "accumulator"]:
            self.fail(node, f"coopmat_muladd(a, b, c) takes cooperative matrices of use 'a', 'b' and "
                            f"'accumulator', got {a.type!r}, {b.type!r}, {c.type!r}")
        ta, tb, tc = cast(CoopMatType, a.type), cast(CoopMatType, b.type), cast(CoopMatType, c.type)
        if (ta.rows, tb.cols, ta.cols) != (tc.rows, tc.cols, tb.rows):
            self.fail(node, f"coopmat_muladd(): {ta.rows} x {ta.cols} @ {tb.rows} x {tb.cols} does not make "
                            f"the accumulator's {tc.rows} x {tc.cols}")
        return ir.CoopMatMulAdd(tc, a, b, c)

    def coopmat_arith(self, op: str, a: ir.Expr, b: ir.Expr, node: ast.AST) -> ir.Expr:
        """Element-wise + - * / of two cooperative matrices of one type, and * / by a scalar."""
        what = f"`{_source(node)}`"
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

    def atomic(self, op: str, node: ast.Call) -> ir.Expr:
        name = f"atomic_{op}"
        self.arity(name, node.args, 4 if op == "compare_exchange" else 3, node)
        var = self.array_arg(node.args[0], f"{name}()")
        elem = cast(ArrayType, var.type).elem
        if var.storage == "function":
            self.fail(node, f"{name}() needs a buffer or shared array; '{var.name}' is local to "
                            f"each invocation: update it directly")
        if elem not in (i32, u32, f32, f64):
            self.fail(node, f"{name}() needs an array of i32, u32, f32 or f64, not {var.type!r}")
        if elem.kind == "float" and op not in _FLOAT_ATOMICS:
            self.fail(node, f"{name}() needs an array of i32 or u32; float arrays have "
                            f"{', '.join(f'atomic_{o}' for o in _FLOAT_ATOMICS)}")
        index = self.index(node.args[1])
        values = [self.coerce(self.expr(a), elem, a, f"{name}()") for a in node.args[2:]]
        if elem.kind == "float" and op == "sub":
            op, values = "add", [ir.Unary(elem, "neg", values[0])]
        return ir.Atomic(elem, op, ir.Element(ir.VarRef(var), index, elem), values)


    def subgroup(self, op: str, node: ast.Call) -> ir.Expr:
        """``subgroup_<op>(...)``: an operation across the invocations of a subgroup."""
        name = f"subgroup_{op}"
        self.shader.group = True
        if op == "elect":
            self.arity(name, node.args, 0, node)
            return ir.Subgroup(boolean, op, [])
        if op in ("all", "any", "ballot"):
            self.arity(name, node.args, 1, node)
            return ir.Subgroup(uvec4 if op == "ballot" else boolean, op, [self.condition(node.args[0])])
        count = 2 if op in ("broadcast", "shuffle", "shuffle_xor", "shuffle_up", "shuffle_down") else 1
        self.arity(name, node.args, count, node)
        value = self.concrete(self.expr(node.args[0]), node.args[0])
        if not isinstance(value.type, (Scalar, Vector)):
            self.fail(node, f"{name}() needs a scalar or vector, not {value.type!r}")
        if op == "all_equal":
            return ir.Subgroup(boolean, op, [value])
        if count == 2:
            lane = self.coerce(self.expr(node.args[1]), u32, node.args[1], f"{name}()")
            if op == "broadcast" and not isinstance(lane, (ir.Const, ir.SpecConst)):
                self.fail(node, "subgroup_broadcast() needs a constant invocation id; use "
                                "subgroup_shuffle() for one computed at run time")
            return ir.Subgroup(value.type, op, [value, lane])
        if op == "broadcast_first":
            return ir.Subgroup(value.type, op, [value])
        scan, _, arith = op.rpartition("_")
        kind = elem_of(value.type).kind
        if arith in ("and", "or", "xor") and kind == "float" or \
                arith not in ("and", "or", "xor") and kind == "bool":
            self.fail(node, f"{name}() is not defined for {value.type!r}")
        return ir.Subgroup(value.type, arith, [value], {"": 0, "inclusive": 1, "exclusive": 2}[scan])


def _mixed_signs(a: ir.Expr, b: ir.Expr) -> bool:
    """Whether one side is an unsigned integer and the other a signed one (or a
    negative literal)."""
    kinds = []
    for v in (a, b):
        kind = elem_of(v.type).kind
        kinds.append("int" if _abstract(v) and kind == "int" and v.value < 0 else
                     "literal" if _abstract(v) else kind)
    return sorted(kinds) == ["int", "uint"]


def _ends_with_return(body: list[ast.stmt]) -> bool:
    last = body[-1] if body else None
    if isinstance(last, ast.If):
        return _ends_with_return(last.body) and _ends_with_return(last.orelse)
    return isinstance(last, ast.Return)


def _texel(image: ir.Variable) -> Vector:
    """The texel type of an image variable."""
    return cast(ImageType, image.type).texel


def _abstract(value: ir.Expr) -> TypeGuard[ir.Const]:
    return isinstance(value, ir.Const) and value.abstract


def _same_shape(a: ShaderType, b: ShaderType) -> bool:
    if isinstance(a, Vector) and isinstance(b, Vector):
        return a.length == b.length
    return isinstance(a, Scalar) and isinstance(b, Scalar)


def _implicit(src: Scalar, dst: Scalar) -> bool:
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


def _source(node: ast.AST) -> str:
    text = ast.unparse(node).splitlines()
    return text[0] if text else type(node).__name__


def _python_constant(value: object) -> ir.Const | None:
    """A Python bool, int or float as a shader constant (numbers stay abstract: their
    type adapts to where they are used); None for anything else."""
    if isinstance(value, bool):
        return ir.Const(boolean, value)
    if isinstance(value, int):
        return ir.Const(i32, value, True)
    if isinstance(value, float):
        return ir.Const(f32, value, True)
    return None
