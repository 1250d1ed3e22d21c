"""Calls in a kernel: types as casts and constructors, the built-in functions, the
math module, kp.shader.stdlib, atomics, subgroup operations and Python functions
compiled into the shader."""

from __future__ import annotations

import ast
import math
import re
import types
from typing import cast

from .. import stdlib
from . import ir
from .builtins import (
    ATOMICS, DETERMINANT, MATH, MATH_MODULE_OTHER, MATH_MODULE_SAME, MATRIX_INVERSE, STDLIB_MATH, STDLIB_NAMES,
    SUBGROUP_FUNCTIONS,
)
from .declarations import Declarations
from .source import MISSING, read
from .typing_rules import python_constant, same_shape, source_of
from .types import (
    ArrayType, CoopMatType, ImageType, Matrix, Scalar, ShaderType, Vector, boolean, count_of, elem_of, f32, f64, i32,
    u32, uvec4, with_elem,
)

# The printf conversions an f-string may give a printed value: {x:.3f}, {i:08x}...
_PRINTF_SPEC = re.compile(r"[-+ #0]*\d*(\.\d+)?[diouxXeEfFgGaA]")
# The most elements sum(), min() and max() of an array add up in one expression.
_MAX_UNROLLED = 64
# kp.shader.stdlib's functions by identity.
_STDLIB = {getattr(stdlib, name): name for name in stdlib.__all__}
# Atomic functions on float arrays (VK_EXT_shader_atomic_float and _float2).
_FLOAT_ATOMICS = ("add", "sub", "min", "max")


class Calls(Declarations):
    """Compiles calls."""

    def call(self, node: ast.Call, results: int = 1) -> ir.Expr:
        """A call; ``results``: how many values the caller takes (0: a statement;
        more than 1: a tuple, which Python functions and divmod return)."""
        func = node.func
        if isinstance(func, ast.Attribute) and self.module(func.value) is math:
            return self.math_module_call(func.attr, node)
        if (builtin := self.stdlib_function(func)) is not None:
            return self.stdlib_call(builtin, node)
        callee = self.callee(func)
        if isinstance(callee, types.FunctionType):
            return self.python_call(node, callee, results)
        name = func.id if isinstance(func, ast.Name) else source_of(func)
        if name == "divmod":
            return self.divmod(node, results)
        if results > 1:
            self.fail(node, f"{name}() returns one value, not {results}")
        if node.keywords:
            self.fail(node, f"{name}() takes no keyword arguments")
        t = callee if isinstance(callee, ShaderType) else self.shader_type(name)
        if t is not None and len(node.args) == 1 and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            return self.parsed_number(t, node.args[0])
        if t is not None:
            return self.construct(t, [self.expr(a) for a in node.args], node)
        return self.builtin_call(name, node)

    def callee(self, func: ast.expr) -> object:
        """What a called name (``f``) or module attribute (``mylib.f``) refers to
        outside the kernel; MISSING for the names of built-ins."""
        if isinstance(func, ast.Name):
            if func.id in self.names:
                self.fail(func, f"'{func.id}' is a variable, not a function")
            return self.outer(func.id)
        module = self.module(func.value) if isinstance(func, ast.Attribute) else None
        if module is None:
            self.fail(func, f"only functions and types can be called, not `{source_of(func)}`")
        value = getattr(module, cast(ast.Attribute, func).attr, MISSING)  # module() saw an attribute
        if not isinstance(value, (types.FunctionType, ShaderType)):
            self.fail(func, f"`{source_of(func)}` is not a function or type of module {module.__name__}")
        return value

    def stdlib_function(self, func: ast.expr) -> str | None:
        """The built-in a called function of kp.shader.stdlib stands for (``exp`` or
        ``stdlib.exp``); None for any other callee."""
        value: object = None
        if isinstance(func, ast.Name) and func.id not in self.names:
            value = self.outer(func.id)
        elif isinstance(func, ast.Attribute) and (module := self.module(func.value)) is not None:
            value = getattr(module, func.attr, None)
        name = _STDLIB.get(value) if isinstance(value, types.FunctionType) else None
        return None if name is None else STDLIB_NAMES[name]

    def builtin_call(self, name: str, node: ast.Call) -> ir.Expr:
        """A built-in function, by ``name``."""
        if name in ATOMICS:
            return self.atomic(ATOMICS[name], node)
        if name in SUBGROUP_FUNCTIONS:
            return self.subgroup(name.removeprefix("subgroup_"), node)
        if name == "len":
            return self.length(node)
        if name == "coopmat_load":
            return self.coopmat_load(node)
        if name == "coopmat_muladd":
            return self.coopmat_muladd(node)
        if name in ("range", "barrier", "print", "coopmat_store"):
            self.fail(node, f"{name}() is only allowed as "
                            + ("the iterable of a for loop" if name == "range" else "a statement"))
        if name in ("sum", "min", "max") and len(node.args) in (1, 2) \
                and (array := self.array_variable(node.args[0])) is not None:
            return self.reduce_array(name, array, node)
        args = [self.expr(a) for a in node.args]
        special = {"dot": self.dot, "any": self.any_all, "all": self.any_all,
                   "transpose": self.matrix_function, "determinant": self.matrix_function,
                   "inverse": self.matrix_function}.get(name)
        if special is not None:
            return special(name, args, node)
        if name == "atan" and len(args) == 2:
            name = "atan2"
        if name == "round":
            return self.python_round(args, node)
        if name in MATH:
            return self.math_call(name, MATH[name], args, node)
        if name in STDLIB_MATH:
            return self.math_call(name, STDLIB_MATH[name], args, node)
        self.fail(node, f"unknown function '{name}'")

    def stdlib_call(self, name: str, node: ast.Call) -> ir.Expr:
        """A function of kp.shader.stdlib: the built-in ``name`` it stands for."""
        if node.keywords:
            self.fail(node, f"{name}() takes no keyword arguments")
        if name == "write":
            self.fail(node, "write(image, coord, color) is a statement; it returns nothing")
        if name == "sample":
            self.fail(node, "sample() needs a sampled texture; kp binds storage images: read a "
                            "texel with read(image, coord) or image[coord]")
        if name == "read":
            self.arity("read", node.args, 2, node)
            image = self.image(node.args[0])
            if image is None:
                self.fail(node, f"read() needs an image parameter, not `{source_of(node.args[0])}`")
            return ir.ImageRead(cast(ImageType, image.type).texel, image, self.image_coord(node.args[1]))
        return self.builtin_call(name, node)

    def image(self, node: ast.expr) -> ir.Variable | None:
        """The image variable ``node`` names, if it does."""
        var = self.names.get(node.id) if isinstance(node, ast.Name) else None
        return var if isinstance(var, ir.Variable) and isinstance(var.type, ImageType) else None

    def image_coord(self, node: ast.expr) -> ir.Expr:
        coord = self.expr(node)
        if not (isinstance(coord.type, Vector) and coord.type.length == 2
                and coord.type.elem in (i32, u32)):
            self.fail(node, f"an image is indexed by an ivec2 (x, y), not {coord.type!r} "
                            f"`{source_of(node)}`")
        return self.convert(coord, Vector(i32, 2), node)

    def print_statement(self, node: ast.Call) -> ir.Print:
        """``print(...)``: Python's print of strings and numbers (f-strings too), through
        the validation layer's debug printf (kp.Manager(debug_printf=True))."""
        sep = " "
        for keyword in node.keywords:
            if keyword.arg != "sep" or not (isinstance(keyword.value, ast.Constant)
                                            and isinstance(keyword.value.value, str)):
                self.fail(node, "print() in a shader takes values and sep=\"...\" (a string); each "
                                "print is one line")
            sep = keyword.value.value
        pieces: list[str] = []
        values: list[ir.Expr] = []
        for arg in node.args:
            parts = arg.values if isinstance(arg, ast.JoinedStr) else [arg]
            text = ""
            for part in parts:
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    text += part.value.replace("%", "%%")
                    continue
                spec = None
                if isinstance(part, ast.FormattedValue):
                    spec = self.format_spec(part)
                    part = part.value
                value, conversion = self.printed(part, spec)
                text += conversion
                values.append(value)
            pieces.append(text)
        text = sep.replace("%", "%%").join(pieces)
        if "\0" in text:
            # an OpString ends at its first NUL
            self.fail(node, "print() in a shader cannot print a NUL character (\\x00)")
        return ir.Print(text, values)

    def format_spec(self, node: ast.FormattedValue) -> str | None:
        """The printf conversion of an f-string's ``{x:.3f}``; None without a spec."""
        spec = node.format_spec
        if spec is None and node.conversion == -1:
            return None
        if node.conversion == -1 and isinstance(spec, ast.JoinedStr) and len(spec.values) == 1 \
                and isinstance(text := cast(ast.Constant, spec.values[0]).value, str) \
                and _PRINTF_SPEC.fullmatch(text):
            return "%" + text
        self.fail(node, f"`{{{source_of(node.value)}:...}}`: a shader prints with a printf conversion "
                        f"like {{x:.3f}}, {{x:e}}, {{i:d}} or {{i:x}}")

    def printed(self, node: ast.expr, spec: str | None) -> tuple[ir.Expr, str]:
        """A printed value, converted to what debug printf reads, and its conversion."""
        value = self.concrete(self.expr(node), node)
        t = value.type
        if not isinstance(t, (Scalar, Vector)) or elem_of(t).width == 64 and elem_of(t).kind != "float":
            self.fail(node, f"print() of `{source_of(node)}` ({t!r}): a shader prints numbers and vectors "
                            f"of 32 bits or less" + ("; print its columns" if isinstance(t, Matrix) else ""))
        kind = elem_of(t).kind
        target, letter = {"float": (f32, "g"), "int": (i32, "i"), "uint": (u32, "u"), "bool": (i32, "i")}[kind]
        if spec is not None and spec[-1] in "diouxX" and kind == "float":
            # printf would print the float's bits; Python refuses {1.5:d}
            self.fail(node, f"`{{{source_of(node)}:{spec[1:]}}}` gives an integer conversion to a {t!r}; "
                            f"write {{{with_elem(t, i32)!r}({source_of(node)}):{spec[1:]}}}")
        if spec is not None and spec[-1] not in "diouxX":
            target = f32  # as Python formats {3:.2f}: 3.00 (printf would read an int's bits)
        value = self.convert(value, with_elem(t, target), node)
        if spec is None:
            spec = "%" + letter
        if isinstance(t, Vector):
            return value, f"({spec[:-1]}v{t.length}{spec[-1]})"  # the layer's %1.2v4f
        return value, spec

    def python_round(self, args: list[ir.Expr], node: ast.AST) -> ir.Expr:
        """``round(x)``: as in Python, an int (rounded half to even)."""
        if len(args) > 1:
            self.fail(node, "round(x, ndigits) is not supported; write round(x * 100.0) / 100.0 "
                            "for two digits")
        self.arity("round", args, 1, node)
        value = self.concrete(args[0], node)
        if elem_of(value.type).kind in ("int", "uint"):
            return value
        rounded = self.math_call("round", MATH["round"], [value], node)
        return ir.Convert(with_elem(rounded.type, i32), rounded)

    def divmod(self, node: ast.Call, results: int) -> ir.Expr:
        """``q, r = divmod(a, b)``: Python's floor division and remainder, each operand
        evaluated once."""
        self.arity("divmod", node.args, 2, node)
        if results != 2:
            self.fail(node, "divmod() gives two values: unpack them, `q, r = divmod(a, b)`")
        a, b = (self.concrete(self.expr(arg), arg) for arg in node.args)
        ta, tb = ir.Temp(a.type), ir.Temp(b.type)
        quotient, remainder = self.binop("floordiv", ta, tb, node), self.binop("mod", ta, tb, node)
        t = ir.Struct((quotient.type, remainder.type))
        return ir.Let(t, ta, a, ir.Let(t, tb, b, ir.Construct(t, [quotient, remainder])))

    def array_variable(self, node: ast.expr) -> ir.Variable | None:
        """The array variable ``node`` names, if it does."""
        var = self.names.get(node.id) if isinstance(node, ast.Name) else None
        return var if isinstance(var, ir.Variable) and isinstance(var.type, ArrayType) else None

    def reduce_array(self, name: str, var: ir.Variable, node: ast.Call) -> ir.Expr:
        """``sum(a)``, ``sum(a, start)``, ``min(a)``, ``max(a)`` of an array of a length
        known when compiling (local and shared arrays), its elements unrolled."""
        t = cast(ArrayType, var.type)
        if t.length is None or t.length > _MAX_UNROLLED:
            loop = "total += v" if name == "sum" else f"best = {name}(best, v)"
            self.fail(node, f"{name}() of '{var.name}' ({t!r}) is not unrolled; write a loop: "
                            f"`for v in {var.name}: {loop}`")
        if len(node.args) == 2 and name != "sum":
            self.fail(node, f"{name}() takes one array, or two or more numbers")
        items: list[ir.Expr] = [ir.Load(t.elem, ir.Element(ir.VarRef(var), ir.Const(i32, k), t.elem))
                                for k in range(t.length)]
        if name != "sum":
            return items[0] if len(items) == 1 else self.math_call(name, MATH[name], items, node)
        total = self.expr(node.args[1]) if len(node.args) == 2 else ir.Const(i32, 0, True)
        for item in items:
            total = self.binop("add", total, item, node)
        return total

    def python_call(self, node: ast.Call, func: types.FunctionType, results: int) -> ir.Expr:
        """A call of a Python function: compiled, for these argument types, into a
        function of the shader (arrays are passed by reference, as in Python)."""
        name = source_of(node.func)
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
            elif (default := python_constant(source.defaults.get(param))) is not None:
                bound.append(self.concrete(default, node))
            else:
                self.fail(node, f"{name}() is missing argument '{param}' (defaults must be numbers)")
        key = (func, tuple(b if isinstance(b, ir.Variable) else b.type for b in bound))
        function = self.compiled.get(key)
        if function is None:
            values = [(p, b) for p, b in zip(names, bound) if isinstance(b, ir.Expr)]
            function = ir.Function(func.__name__, [ir.Variable(p, b.type, "function") for p, b in values])
            callee = type(self)(source, self.shader.local_size, self, function)
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
            self.fail(node, f"cannot pass `{source_of(node)}` to {function}()")
        return value

    def module(self, node: ast.expr) -> types.ModuleType | None:
        """The module a name refers to (``math``), if it does."""
        if isinstance(node, ast.Name) and node.id not in self.names:
            value = self.outer(node.id)
            if isinstance(value, types.ModuleType):
                return value
        return None

    def module_constant(self, module: types.ModuleType, node: ast.Attribute) -> ir.Const:
        const = python_constant(getattr(module, node.attr, None))
        if const is None:
            self.fail(node, f"`{source_of(node)}` is not a number; a shader can use a module's "
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
            if len(args) == 1 and same_shape(args[0].type, t):
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
        if all(same_shape(a.type, t.column) for a in args) and len(args) == t.cols:
            return ir.Construct(t, [self.convert(a, t.column, node) for a in args])
        if all(isinstance(a.type, Scalar) for a in args) and len(args) == t.cols * t.rows:
            values = [self.convert(a, f32, node) for a in args]
            return ir.Construct(t, [ir.Construct(t.column, values[c * t.rows:(c + 1) * t.rows])
                                    for c in range(t.cols)])
        self.fail(node, f"{t!r}() needs {t.cols} column vectors, {t.cols * t.rows} scalars or "
                        f"one scalar, got ({', '.join(repr(a.type) for a in args)})")

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
        var = self.array_variable(node)
        if var is None:
            self.fail(node, f"{what} needs a buffer or shared array, not `{source_of(node)}`")
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
                self.fail(node, f"{name}(): column_major is True or False, not `{source_of(node.args[4])}`")
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

    def coopmat_store(self, node: ast.Call) -> ir.CoopMatStore:
        """``coopmat_store(matrix, array, index, stride[, column_major])``, a statement."""
        matrix = self.expr(node.args[0]) if node.args else None
        if matrix is None or not isinstance(matrix.type, CoopMatType):
            self.fail(node, "coopmat_store(matrix, array, index, stride[, column_major]) needs a "
                            "cooperative matrix first")
        place, stride, column_major = self.coopmat_memory("coopmat_store", matrix.type, node)
        return ir.CoopMatStore(matrix, place, stride, column_major)

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


def _ends_with_return(body: list[ast.stmt]) -> bool:
    last = body[-1] if body else None
    if isinstance(last, ast.If):
        return _ends_with_return(last.body) and _ends_with_return(last.orelse)
    return isinstance(last, ast.Return)
