"""Front end: a Python function, parsed with ``ast``, to the typed IR.

This module compiles statements and expressions; ``calls`` compiles calls,
``declarations`` the kernel's parameters and ``typing_rules`` holds the state and
the typing rules they share. Every error is a ``ShaderCompileError`` naming the
file, the line and the construct at fault.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import cast

from . import ir
from .builtins import MATH
from .calls import Calls
from .source import MISSING
from .typing_rules import abstract, python_constant, source_of
from .types import ArrayType, CoopMatType, ImageType, Matrix, Scalar, ShaderType, Vector, boolean, elem_of, i32, u32

_BINOPS = {
    ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.FloorDiv: "floordiv",
    ast.Mod: "mod", ast.Pow: "pow", ast.MatMult: "matmul", ast.LShift: "lshift",
    ast.RShift: "rshift", ast.BitAnd: "and", ast.BitOr: "or", ast.BitXor: "xor",
}
_COMPARE = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge"}
_SWIZZLE_SETS = ("xyzw", "rgba")


class FrontEnd(Calls):
    """Builds the IR of one shader function, or of a function it calls."""

    def build(self) -> ir.Shader:
        self.parameters()
        self.shader.body = self.block(self.tree.body)
        if self.shader.local_size is None:
            self.choose_local_size()
        return self.shader

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
            self.fail(node, f"unsupported statement `{source_of(node)}`")

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
                self.fail(node, f"the two branches of `{source_of(node)}` give {a.type!r} and {b.type!r}")
            return ir.Select(a.type, cond, a, b)
        elts = node.elts if isinstance(node, ast.Tuple) else [node]
        values = [self.concrete(self.expr(e), e) for e in elts]
        # A single value may be another function's tuple, passed on.
        allowed = (Scalar, Vector, Matrix) if isinstance(node, ast.Tuple) else (
            Scalar, Vector, Matrix, ir.Struct)
        for value, elt in zip(values, elts):
            if not isinstance(value.type, allowed):
                self.fail(elt, f"a function can return numbers, vectors and matrices or a tuple of "
                               f"them, not `{source_of(elt)}`")
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
                and value.func.id == "print" and "print" not in self.names:
            out.append(self.print_statement(value))
            return
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) \
                and value.func.id == "coopmat_store" and "coopmat_store" not in self.names:
            out.append(self.coopmat_store(value))
            return
        if isinstance(value, ast.Call) and self.stdlib_function(value.func) == "write":
            self.arity("write", value.args, 3, value)
            image = self.image(value.args[0])
            if image is None:
                self.fail(value, f"write() needs an image parameter, not `{source_of(value.args[0])}`")
            self.store_texel(image, value.args[1], self.expr(value.args[2]), out)
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
            self.fail(node, f"a for loop must iterate over range(...) or an array, not `{source_of(it)}`")
        if not isinstance(node.target, ast.Name):
            self.fail(node.target, f"the loop variable must be a name, not `{source_of(node.target)}`")
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
                self.fail(arg_node, f"range() needs integers, got {arg.type!r} `{source_of(arg_node)}`")
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
            if not abstract(count) or not isinstance(count.value, int) or count.value < 1:
                self.fail(count_node, f"the length of a local array must be a positive number "
                                      f"known when compiling, not `{source_of(count_node)}`")
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
            self.fail(target, f"`{source_of(target)} = {source_of(value)}` needs a tuple of "
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
                    and not abstract(value):
                self.fail(target, f"'{target.id}' holds integers ({var.type!r}, from its first "
                                  f"assignment) and cannot take a {value.type!r}; start it as a "
                                  f"float (`{target.id} = 0.0`) or write {var.type!r}(...)")
            out.append(ir.Store(ir.VarRef(var), self.coerce(value, var.type, target, f"'{target.id}'")))
        elif isinstance(target, ast.Subscript) and (image := self.image(target.value)) is not None:
            self.store_texel(image, target.slice, value, out)
        elif isinstance(target, ast.Subscript):
            place = self.place(target)
            out.append(ir.Store(place, self.coerce(value, place.type, target, f"`{source_of(target)}`")))
        elif isinstance(target, ast.Attribute):
            # The vector is read and written: its place's indices are evaluated once.
            place = self.stable(self.place(target.value), out)
            self.store_components(target, place, value, out)
        else:
            self.fail(target, f"cannot assign to `{source_of(target)}`")

    def store_texel(self, image: ir.Variable, coord: ast.expr, value: ir.Expr, out: list[ir.Stmt]) -> None:
        """``image[coord] = value``."""
        texel = self.coerce(value, _texel(image), coord, f"a texel of '{image.name}'")
        out.append(ir.ImageWrite(image, self.image_coord(coord), texel))

    def store_components(self, target: ast.Attribute, place: ir.Place, value: ir.Expr,
                         out: list[ir.Stmt]) -> None:
        """Assigns ``value`` to the swizzle ``target`` of the vector at ``place``."""
        indices = self.swizzle_indices(target, place.type)
        if len(set(indices)) != len(indices):
            self.fail(target, f"`{source_of(target)}` assigns a component twice")
        component = self.swizzle_type(place.type, indices)
        value = self.coerce(value, component, target, f"`{source_of(target)}`")
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
            texel = self.coerce(value, _texel(image), target, f"`{source_of(target)}`")
            out.append(ir.ImageWrite(image, coord, texel))
            return
        if isinstance(target, ast.Subscript):
            # Read and write the same element: evaluate the index once.
            place = self.stable(self.place(target), out)
            current = ir.Load(place.type, place)
            value = self.binop(_BINOPS[type(node.op)], current, self.expr(node.value), node)
            out.append(ir.Store(place, self.coerce(value, place.type, target, f"`{source_of(target)}`")))
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
            self.fail(node, f"only names can be declared with a type, not `{source_of(node.target)}`")
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
            if isinstance(elem, (Scalar, Vector)) and abstract(length) \
                    and isinstance(length.value, int) and length.value >= 1:
                return ArrayType(elem, length.value)
        self.fail(node, f"`{source_of(node)}` is not a scalar, vector or matrix type, or "
                        f"Array(type, length) with a length known when compiling")

    def condition(self, node: ast.expr) -> ir.Expr:
        """A scalar boolean; numbers are true when not zero, as in Python."""
        if isinstance(node, ast.BoolOp):  # only its truth matters
            return self.logical(node)
        value = self.expr(node)
        if value.type == boolean:
            return value
        if isinstance(value.type, Scalar):
            return self.binop("ne", value, ir.Const(i32, 0, True), node)
        self.fail(node, f"`{source_of(node)}` is a {value.type!r}, not a condition"
                        + ("; use any() or all()" if isinstance(value.type, Vector) else ""))

    def logical(self, node: ast.BoolOp) -> ir.Expr:
        """The truth of ``a and b`` / ``a or b``, short-circuit."""
        op = "and" if isinstance(node.op, ast.And) else "or"
        result = self.condition(node.values[0])
        for operand in node.values[1:]:
            result = ir.Logical(boolean, op, result, self.condition(operand))
        return result

    def bool_op(self, node: ast.BoolOp) -> ir.Expr:
        """``a or b`` / ``a and b`` as a value: as in Python, the operand that decides
        (``x or 1.0`` is x where x is not zero, else 1.0), later operands evaluated
        only when needed."""
        values = [self.expr(v) for v in node.values]
        if all(v.type == boolean for v in values):
            return self.logical(node)
        if any(v.type == boolean for v in values):
            self.fail(node, f"`{source_of(node)}` mixes booleans and numbers; write "
                            f"`... if condition else ...` for a number")
        values = self.unify(values, node, f"`{source_of(node)}`")
        if not isinstance(values[0].type, Scalar):
            self.fail(node, f"`{source_of(node)}`: {values[0].type!r} has no truth value; "
                            f"use any() or all()")
        result = values[-1]
        for value in reversed(values[:-1]):
            temp = ir.Temp(value.type)
            true = self.binop("ne", temp, ir.Const(i32, 0, True), node)
            taken = (temp, result) if isinstance(node.op, ast.Or) else (result, temp)
            result = ir.Let(value.type, temp, value, ir.Select(value.type, true, *taken))
        return result

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
        self.fail(node, f"cannot assign to `{source_of(node)}`")

    def index(self, node: ast.expr) -> ir.Expr:
        if isinstance(node, ast.Slice):
            self.fail(node, "slices are not supported")
        index = self.expr(node)
        if not isinstance(index.type, Scalar) or index.type.kind not in ("int", "uint"):
            self.fail(node, f"an index must be an integer, not {index.type!r} `{source_of(node)}`")
        if isinstance(index, ir.Const) and index.value < 0:
            self.fail(node, f"negative index {index.value} is not supported")
        return self.concrete(index, node)

    def element_type(self, t: ShaderType, index: ir.Expr, node: ast.Subscript) -> ShaderType:
        if isinstance(t, (ArrayType, Vector, Matrix)):
            length = t.cols if isinstance(t, Matrix) else t.length
            if isinstance(index, ir.Const) and length is not None and index.value >= length:
                self.fail(node, f"index {index.value} is out of range for {t!r}")
            return t.column if isinstance(t, Matrix) else t.elem
        self.fail(node, f"`{source_of(node.value)}` is a {t!r} and cannot be indexed")

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
            return self.bool_op(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.IfExp):
            cond = self.condition(node.test)
            a, b = self.unify([self.expr(node.body), self.expr(node.orelse)], node, "if-else")
            return ir.Select(a.type, cond, a, b)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Tuple):
            self.fail(node, f"a tuple `{source_of(node)}` can only be assigned to as many names "
                            f"(`a, b = b, a`) or returned from a function")
        self.fail(node, f"unsupported expression `{source_of(node)}`")

    def constant(self, node: ast.Constant) -> ir.Const:
        const = python_constant(node.value)
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
        const = python_constant(value)
        if const is not None:
            return const
        if self.shader_type(node.id) is not None or node.id in MATH:
            self.fail(node, f"'{node.id}' can only be called")
        if value is not MISSING:
            self.fail(node, f"'{node.id}' is a {type(value).__name__}; a shader can only use "
                            f"global numbers")
        self.fail(node, f"undefined name '{node.id}'")

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

    def unary(self, node: ast.UnaryOp) -> ir.Expr:
        if isinstance(node.op, ast.Not):
            cond = self.condition(node.operand)
            if isinstance(cond, ir.Const):
                return ir.Const(boolean, not cond.value)
            return ir.Unary(boolean, "not", cond)
        value = self.expr(node.operand)
        if elem_of(value.type).kind == "bool":
            self.fail(node, f"`{source_of(node)}`: cannot apply {source_of(node.op)} to {value.type!r}")
        if isinstance(node.op, ast.UAdd):
            return value
        if isinstance(node.op, ast.Invert):
            if elem_of(value.type).kind == "float":
                self.fail(node, f"`{source_of(node)}`: ~ needs integers, not {value.type!r}")
            if abstract(value):
                return ir.Const(i32, ~cast(int, value.value), True)  # an integer, checked above
            return ir.Unary(value.type, "invert", value)
        if abstract(value):
            return ir.Const(value.type, -value.value, True)
        return ir.Unary(value.type, "neg", value)

    def compare(self, node: ast.Compare) -> ir.Expr:
        for cmp in node.ops:
            if type(cmp) not in _COMPARE:
                self.fail(node, f"unsupported comparison `{source_of(node)}`")
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
                self.fail(node, f"`{source_of(node)}` chains vector comparisons; use any() or all()")
            result = test if result is None else ir.Logical(boolean, "and", result, test)
        assert result is not None  # a chain has at least two comparisons
        for temp, value in reversed(lets):
            result = ir.Let(boolean, temp, value, result)
        return result


def _texel(image: ir.Variable) -> Vector:
    """The texel type of an image variable."""
    return cast(ImageType, image.type).texel
