"""Kernel parameters: what each default declares (inputs, buffers, images, shared
memory, push and specialisation constants), and the local size kp may choose."""

from __future__ import annotations

import ast
from typing import Any

from ..spirv import AUTO_GLOBAL_SIZE_IDS, AUTO_LOCAL_SIZE_IDS, AUTO_ROW_WIDTH_ID
from . import ir
from .source import MISSING
from .typing_rules import Typing
from .types import ArrayType, ImageType, Matrix, Scalar, ShaderType, Vector, boolean, count_of, elem_of, f32, i32, u32, uvec3

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


def _is_word(value: Any) -> bool:
    """Whether ``value`` is a binding, index or constant id: a SPIR-V word."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFFFF


class Declarations(Typing):
    """Compiles a kernel's parameters into its interface."""

    def choose_local_size(self) -> None:
        """A kernel that declares no local size: where only its global id matters,
        kp chooses the local size, may fold the grid (see AUTO_ROW_WIDTH_ID), and the
        invocations past the global size asked for return at once; otherwise it keeps
        a local size of (1, 1, 1)."""
        inputs = [v for v in self.shader.interface if v.storage == "input"]
        if self.shader.group or [v.builtin for v in inputs] != ["GlobalInvocationId"]:
            self.shader.local_size = (1, 1, 1)
            return
        # The kernel's global id becomes a local holding the unfolded id.
        global_id = inputs[0]
        builtin = ir.Variable(global_id.name, uvec3, "input", builtin="GlobalInvocationId")
        self.shader.interface[self.shader.interface.index(global_id)] = builtin
        global_id.name, global_id.storage, global_id.builtin = "_global_id", "function", None
        self.locals.append(global_id)
        raw = ir.Temp(uvec3)
        x, y, z = (ir.Swizzle(u32, raw, (axis,)) for axis in range(3))
        width = ir.SpecConst(u32, "row_width", AUTO_ROW_WIDTH_ID, 0)
        zero = ir.Const(u32, 0)
        unfolded = ir.Construct(uvec3, [
            ir.Binary(u32, "add", x, ir.Binary(u32, "mul", z, width)), y,
            ir.Select(u32, ir.Binary(boolean, "eq", width, zero), z, zero)])
        gid = ir.Load(uvec3, ir.VarRef(global_id))
        past = [ir.Binary(boolean, "ge", ir.Swizzle(u32, gid, (axis,)),
                          ir.SpecConst(u32, f"global_size_{'xyz'[axis]}", spec_id, 0xFFFFFFFF))
                for axis, spec_id in enumerate(AUTO_GLOBAL_SIZE_IDS)]
        guard = ir.Logical(boolean, "or", ir.Logical(boolean, "or", *past[:2]), past[2])
        self.shader.body[:0] = [
            ir.Store(ir.VarRef(global_id), ir.Let(uvec3, raw, ir.Load(uvec3, ir.VarRef(builtin)), unfolded)),
            ir.If(guard, [ir.Return()], [])]

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
                if spec_id in (*AUTO_LOCAL_SIZE_IDS, *AUTO_GLOBAL_SIZE_IDS, AUTO_ROW_WIDTH_ID):
                    self.fail(arg, f"constant id {spec_id} of '{name}' is reserved: kp gives kernels that "
                                   f"declare no local size theirs through ids {AUTO_LOCAL_SIZE_IDS[0]} to "
                                   f"{AUTO_ROW_WIDTH_ID}")
                spec_ids[spec_id] = name
                self.spec_parameter(arg, spec_id, t, spec[3] if len(spec) == 4 else 0)
        if push:
            self.push_block(push)

    def indexed_spec(self, arg: ast.arg, spec: tuple[Any, ...], max_len: int,
                     form: str) -> tuple[int, ShaderType]:
        if not 3 <= len(spec) <= max_len or not _is_word(spec[1]) \
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
            if len(spec) != 3 or not _is_word(spec[1]) \
                    or not isinstance(spec[2], ImageType):
                self.fail(arg, f"image '{arg.arg}' must be ('image', binding, Image2D(format)), "
                               f"got {spec!r}")
            var = ir.Variable(arg.arg, spec[2], "image", binding=spec[1])
            self.shader.interface.append(var)
            self.names[arg.arg] = var
            return int(spec[1])
        if len(spec) != 3 or not _is_word(spec[1]) \
                or not isinstance(spec[2], ArrayType):
            self.fail(arg, f"buffer '{arg.arg}' must be ('buffer', binding, Array(type)), got {spec!r}")
        t = spec[2]
        if isinstance(t.elem, Vector) and t.elem.length == 3:
            self.fail(arg, f"buffer '{arg.arg}': arrays of 3-vectors have a 16-byte stride in "
                           f"buffers; use Array({t.elem.elem!r}) or a 4-vector")
        var = ir.Variable(arg.arg, t, "buffer", binding=spec[1])
        self.shader.interface.append(var)
        self.names[arg.arg] = var
        return int(spec[1])

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
