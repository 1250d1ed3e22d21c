"""Back end: the typed IR to SPIR-V 1.3 words (Vulkan 1.1).

Locals live in Function variables (drivers promote them to registers), control
flow maps one to one onto SPIR-V's structured selections and loops, and the
math built-ins are GLSL.std.450 extended instructions.
"""

from __future__ import annotations

import struct
from typing import cast

from ..spirv import AUTO_LOCAL_SIZE_IDS
from . import ir
from .builtins import MATH
from .opcodes import (
    ADDRESSING_LOGICAL, BUILTIN, COOPERATIVE_MATRIX_SIGNED, EXECUTION_MODE_LOCAL_SIZE, EXECUTION_MODEL_GLCOMPUTE,
    MAGIC, MEMORY_MODEL_GLSL450, MEMORY_MODEL_VULKAN, SUBGROUP_BUILTINS, VERSION_1_3, Capability, CooperativeMatrixLayout, Decoration,
    GroupOperation, MemorySemantics, Op, Scope, StorageClass,
)
from .types import (
    BASIC_IMAGE_FORMATS, COOPERATIVE_MATRIX_USES, IMAGE_FORMATS, ArrayType, CoopMatType, ImageType, Matrix, Scalar,
    ShaderType, Vector, boolean, elem_of, i32, scalar_type, u32, uvec3, with_elem,
)

# NonSemantic.DebugPrintf's one instruction.
_DEBUG_PRINTF = 1

_STORAGE = {
    "function": StorageClass.Function,
    "input": StorageClass.Input,
    "buffer": StorageClass.StorageBuffer,
    "image": StorageClass.UniformConstant,
    "shared": StorageClass.Workgroup,
    "push": StorageClass.PushConstant,
}

# Opcode of each component-wise binary op, by the operands' scalar kind.
_BINARY: dict[str, dict[str, int]] = {
    "add": {"float": Op.FAdd, "int": Op.IAdd, "uint": Op.IAdd},
    "sub": {"float": Op.FSub, "int": Op.ISub, "uint": Op.ISub},
    "mul": {"float": Op.FMul, "int": Op.IMul, "uint": Op.IMul},
    "div": {"float": Op.FDiv, "int": Op.SDiv, "uint": Op.UDiv},
    # OpFMod takes the sign of the divisor, as Python's % does; signed "mod" is
    # built from OpSDiv by the back end (OpSRem and OpSMod are undefined for negative operands).
    "mod": {"float": Op.FMod, "uint": Op.UMod},
    # math.fmod: the remainder with the dividend's sign.
    "fmod": {"float": Op.FRem},
    "lshift": {"int": Op.ShiftLeftLogical, "uint": Op.ShiftLeftLogical},
    "rshift": {"int": Op.ShiftRightArithmetic, "uint": Op.ShiftRightLogical},
    "and": {"int": Op.BitwiseAnd, "uint": Op.BitwiseAnd, "bool": Op.LogicalAnd},
    "or": {"int": Op.BitwiseOr, "uint": Op.BitwiseOr, "bool": Op.LogicalOr},
    "xor": {"int": Op.BitwiseXor, "uint": Op.BitwiseXor, "bool": Op.LogicalNotEqual},
    "eq": {"float": Op.FOrdEqual, "int": Op.IEqual, "uint": Op.IEqual, "bool": Op.LogicalEqual},
    # Unordered, so that nan != nan holds as in Python.
    "ne": {"float": Op.FUnordNotEqual, "int": Op.INotEqual, "uint": Op.INotEqual,
           "bool": Op.LogicalNotEqual},
    "lt": {"float": Op.FOrdLessThan, "int": Op.SLessThan, "uint": Op.ULessThan},
    "le": {"float": Op.FOrdLessThanEqual, "int": Op.SLessThanEqual, "uint": Op.ULessThanEqual},
    "gt": {"float": Op.FOrdGreaterThan, "int": Op.SGreaterThan, "uint": Op.UGreaterThan},
    "ge": {"float": Op.FOrdGreaterThanEqual, "int": Op.SGreaterThanEqual,
           "uint": Op.UGreaterThanEqual},
}

_ATOMIC: dict[str, dict[str, int]] = {
    "add": {"int": Op.AtomicIAdd, "uint": Op.AtomicIAdd, "float": Op.AtomicFAddEXT},
    "sub": {"int": Op.AtomicISub, "uint": Op.AtomicISub},
    "min": {"int": Op.AtomicSMin, "uint": Op.AtomicUMin, "float": Op.AtomicFMinEXT},
    "max": {"int": Op.AtomicSMax, "uint": Op.AtomicUMax, "float": Op.AtomicFMaxEXT},
    "and": {"int": Op.AtomicAnd, "uint": Op.AtomicAnd},
    "or": {"int": Op.AtomicOr, "uint": Op.AtomicOr},
    "xor": {"int": Op.AtomicXor, "uint": Op.AtomicXor},
    "exchange": {"int": Op.AtomicExchange, "uint": Op.AtomicExchange},
}

# Subgroup operations: the opcode (by scalar kind for arithmetic) and capability.
_SUBGROUP: dict[str, tuple[dict[str, int] | int, int]] = {
    "add": ({"int": Op.GroupNonUniformIAdd, "uint": Op.GroupNonUniformIAdd,
             "float": Op.GroupNonUniformFAdd}, Capability.GroupNonUniformArithmetic),
    "mul": ({"int": Op.GroupNonUniformIMul, "uint": Op.GroupNonUniformIMul,
             "float": Op.GroupNonUniformFMul}, Capability.GroupNonUniformArithmetic),
    "min": ({"int": Op.GroupNonUniformSMin, "uint": Op.GroupNonUniformUMin,
             "float": Op.GroupNonUniformFMin}, Capability.GroupNonUniformArithmetic),
    "max": ({"int": Op.GroupNonUniformSMax, "uint": Op.GroupNonUniformUMax,
             "float": Op.GroupNonUniformFMax}, Capability.GroupNonUniformArithmetic),
    "and": ({"int": Op.GroupNonUniformBitwiseAnd, "uint": Op.GroupNonUniformBitwiseAnd,
             "bool": Op.GroupNonUniformLogicalAnd}, Capability.GroupNonUniformArithmetic),
    "or": ({"int": Op.GroupNonUniformBitwiseOr, "uint": Op.GroupNonUniformBitwiseOr,
            "bool": Op.GroupNonUniformLogicalOr}, Capability.GroupNonUniformArithmetic),
    "xor": ({"int": Op.GroupNonUniformBitwiseXor, "uint": Op.GroupNonUniformBitwiseXor,
             "bool": Op.GroupNonUniformLogicalXor}, Capability.GroupNonUniformArithmetic),
    "elect": (Op.GroupNonUniformElect, Capability.GroupNonUniform),
    "all": (Op.GroupNonUniformAll, Capability.GroupNonUniformVote),
    "any": (Op.GroupNonUniformAny, Capability.GroupNonUniformVote),
    "all_equal": (Op.GroupNonUniformAllEqual, Capability.GroupNonUniformVote),
    "ballot": (Op.GroupNonUniformBallot, Capability.GroupNonUniformBallot),
    "broadcast": (Op.GroupNonUniformBroadcast, Capability.GroupNonUniformBallot),
    "broadcast_first": (Op.GroupNonUniformBroadcastFirst, Capability.GroupNonUniformBallot),
    "shuffle": (Op.GroupNonUniformShuffle, Capability.GroupNonUniformShuffle),
    "shuffle_xor": (Op.GroupNonUniformShuffleXor, Capability.GroupNonUniformShuffle),
    "shuffle_up": (Op.GroupNonUniformShuffleUp, Capability.GroupNonUniformShuffleRelative),
    "shuffle_down": (Op.GroupNonUniformShuffleDown, Capability.GroupNonUniformShuffleRelative),
}

# The capability of float atomic add (True) or min/max (False), by width.
_FLOAT_ATOMIC_CAPABILITY = {
    (True, 32): Capability.AtomicFloat32AddEXT, (True, 64): Capability.AtomicFloat64AddEXT,
    (False, 32): Capability.AtomicFloat32MinMaxEXT, (False, 64): Capability.AtomicFloat64MinMaxEXT,
}

_INTRINSIC = {"any": Op.Any, "all": Op.All, "transpose": Op.Transpose, "isnan": Op.IsNan,
              "isinf": Op.IsInf}

# barrier(): wait for the workgroup, and make its shared and buffer writes visible.
_BARRIER_SEMANTICS = (
    MemorySemantics.AcquireRelease | MemorySemantics.WorkgroupMemory | MemorySemantics.UniformMemory
)


def _string(text: str) -> list[int]:
    data = text.encode() + b"\0"
    data += b"\0" * (-len(data) % 4)
    return list(struct.unpack(f"<{len(data) // 4}I", data))


def _layout_align(t: ShaderType) -> int:
    """std430 alignment: a 3-vector aligns like a 4-vector."""
    if isinstance(t, Vector):
        return t.elem.size * (4 if t.length == 3 else t.length)
    return cast(Scalar, t).size  # push-constant members are scalars and vectors


def emit(shader: ir.Shader) -> bytes:
    """The SPIR-V module of ``shader``."""
    return _Emitter(shader).module()


class _Emitter:
    def __init__(self, shader: ir.Shader):
        self.shader = shader
        self.bound = 1
        self.capabilities = {Capability.Shader}
        self.extensions: set[str] = set()
        self.glsl = 0
        self.printf = 0
        self.strings: list[int] = []
        self.names: list[int] = []
        self.decorations: list[int] = []
        self.globals: list[int] = []
        self.code: list[int] = []
        self.cache: dict[object, int] = {}
        self.vars: dict[ir.Variable, int] = {}
        self.temps: dict[ir.Temp, int] = {}
        self.loops: list[tuple[int, int]] = []
        self.block = 0
        self.terminated = False

    # --- Words -----------------------------------------------------------------

    def new_id(self) -> int:
        self.bound += 1
        return self.bound - 1

    @staticmethod
    def inst(out: list[int], opcode: int, *operands: int) -> None:
        out.append((len(operands) + 1) << 16 | opcode)
        out.extend(operands)

    def op(self, opcode: int, result_type: ShaderType, *operands: int) -> int:
        """Emits an instruction with a result of ``result_type`` into the code."""
        result = self.new_id()
        self.inst(self.code, opcode, self.type(result_type), result, *operands)
        return result

    def name(self, target: int, text: str) -> None:
        self.inst(self.names, Op.Name, target, *_string(text))

    def decorate(self, target: int, *decoration: int) -> None:
        self.inst(self.decorations, Op.Decorate, target, *decoration)

    def declare(self, key: object, opcode: int, *operands: int) -> int:
        """A type, declared once per ``key``."""
        if key not in self.cache:
            result = self.new_id()
            self.inst(self.globals, opcode, result, *operands)
            self.cache[key] = result
        return self.cache[key]

    def declare_value(self, key: object, opcode: int, t: ShaderType, *operands: int) -> int:
        """A constant of type ``t``, declared once per ``key``."""
        if key not in self.cache:
            type_id, result = self.type(t), self.new_id()
            self.inst(self.globals, opcode, type_id, result, *operands)
            self.cache[key] = result
        return self.cache[key]

    # --- Types and constants ---------------------------------------------------

    def type(self, t: ShaderType | None) -> int:
        """The id of a type as held in registers, Function, Input and Workgroup storage."""
        if t is None:
            return self.declare("void", Op.TypeVoid)
        if t in self.cache:
            return self.cache[t]
        if isinstance(t, Scalar):
            if t.kind == "bool":
                return self.declare(t, Op.TypeBool)
            if t.width == 64:
                self.capabilities.add(Capability.Float64 if t.kind == "float" else Capability.Int64)
            if t.width == 16:
                self.capabilities.add(Capability.Float16)
            if t.kind == "float":
                return self.declare(t, Op.TypeFloat, t.width)
            return self.declare(t, Op.TypeInt, t.width, int(t.kind == "int"))
        if isinstance(t, Vector):
            return self.declare(t, Op.TypeVector, self.type(t.elem), t.length)
        if isinstance(t, Matrix):
            return self.declare(t, Op.TypeMatrix, self.type(t.column), t.cols)
        if isinstance(t, ArrayType):
            assert t.length is not None  # runtime-sized arrays are buffers (layout_array)
            return self.declare(t, Op.TypeArray, self.type(t.elem), self.const(u32, t.length))
        if isinstance(t, ImageType):  # a 2-D storage image (Sampled 2) of its format
            format_id, scalar = IMAGE_FORMATS[t.format]
            if t.format not in BASIC_IMAGE_FORMATS:
                self.capabilities.add(Capability.StorageImageExtendedFormats)
            return self.declare(t, Op.TypeImage, self.type(scalar), 1, 0, 0, 0, 2, format_id)
        if isinstance(t, CoopMatType):
            self.capabilities.add(Capability.CooperativeMatrixKHR)
            self.extensions.add("SPV_KHR_cooperative_matrix")
            return self.declare(t, Op.TypeCooperativeMatrixKHR, self.type(t.elem), self.const(u32, Scope.Subgroup),
                                self.const(u32, t.rows), self.const(u32, t.cols),
                                self.const(u32, COOPERATIVE_MATRIX_USES.index(t.use)))
        if isinstance(t, ir.Struct):  # a tuple a function returns
            return self.declare(t, Op.TypeStruct, *[self.type(m) for m in t.members])
        raise AssertionError(f"no plain SPIR-V type for {t!r}")

    def layout_array(self, t: ArrayType) -> int:
        """An array type with the explicit layout buffers need."""
        key = ("layout", t)
        if key not in self.cache:
            if elem_of(t.elem).width == 16:
                self.capabilities.add(Capability.StorageBuffer16BitAccess)
            if t.length is None:
                result = self.declare(key, Op.TypeRuntimeArray, self.type(t.elem))
            else:
                result = self.declare(key, Op.TypeArray, self.type(t.elem), self.const(u32, t.length))
            self.decorate(result, Decoration.ArrayStride, t.elem.size)
        return self.cache[key]

    def block_struct(self, key: object, members: list[int], offsets: list[int]) -> int:
        if key not in self.cache:
            result = self.declare(key, Op.TypeStruct, *members)
            self.decorate(result, Decoration.Block)
            for index, offset in enumerate(offsets):
                self.inst(self.decorations, Op.MemberDecorate, result, index, Decoration.Offset, offset)
        return self.cache[key]

    def pointer(self, storage: int, pointee: int) -> int:
        return self.declare(("pointer", storage, pointee), Op.TypePointer, storage, pointee)

    def const(self, t: Scalar, value: bool | int | float) -> int:
        if t.kind == "bool":
            return self.declare_value((t, value), Op.ConstantTrue if value else Op.ConstantFalse, t)
        words = _scalar_words(t, value)
        return self.declare_value((t, words), Op.Constant, t, *words)

    def composite_const(self, t: Vector, value: bool | int | float) -> int:
        component = self.const(t.elem, value)
        return self.declare_value((t, component), Op.ConstantComposite, t, *[component] * t.length)

    def splat_const(self, t: ShaderType, value: bool | int | float) -> int:
        return self.composite_const(t, value) if isinstance(t, Vector) else self.const(cast(Scalar, t), value)

    def spec_const(self, e: ir.SpecConst) -> int:
        key = ("spec", e.spec_id)
        if key not in self.cache:
            if e.type.kind == "bool":
                opcode = Op.SpecConstantTrue if e.default else Op.SpecConstantFalse
                result = self.declare_value(key, opcode, e.type)
            else:
                result = self.declare_value(key, Op.SpecConstant, e.type,
                                            *_scalar_words(e.type, e.default))
            self.decorate(result, Decoration.SpecId, e.spec_id)
            self.name(result, e.name)
        return self.cache[key]

    # --- Module ------------------------------------------------------------------

    def module(self) -> bytes:
        for var in self.shader.interface:
            self.interface_variable(var)
        if self.shader.local_size is None:
            self.workgroup_size()
        # Ids first: a call may come before the function it calls.
        self.functions = {f: self.new_id() for f in self.shader.functions}
        main = self.new_id()
        self.name(main, "main")
        void = self.type(None)
        self.inst(self.code, Op.Function, void, main, 0, self.function_type(None, []))
        self.label(self.new_id())
        self.local_variables(self.shader.locals)
        self.statements(self.shader.body)
        if not self.terminated:
            self.inst(self.code, Op.Return)
        self.inst(self.code, Op.FunctionEnd)
        for function in self.shader.functions:
            self.function(function)

        memory_model = MEMORY_MODEL_GLSL450
        if Capability.CooperativeMatrixKHR in self.capabilities:  # SPIR-V requires it with cooperative matrices
            self.capabilities.add(Capability.VulkanMemoryModel)
            self.extensions.add("SPV_KHR_vulkan_memory_model")
            memory_model = MEMORY_MODEL_VULKAN
        head: list[int] = []
        for capability in sorted(self.capabilities):
            self.inst(head, Op.Capability, capability)
        for extension in sorted(self.extensions):
            self.inst(head, Op.Extension, *_string(extension))
        if self.glsl:
            self.inst(head, Op.ExtInstImport, self.glsl, *_string("GLSL.std.450"))
        if self.printf:
            self.inst(head, Op.ExtInstImport, self.printf, *_string("NonSemantic.DebugPrintf"))
        self.inst(head, Op.MemoryModel, ADDRESSING_LOGICAL, memory_model)
        inputs = [self.vars[v] for v in self.shader.interface if v.storage == "input"]
        self.inst(head, Op.EntryPoint, EXECUTION_MODEL_GLCOMPUTE, main, *_string("main"), *inputs)
        self.inst(head, Op.ExecutionMode, main, EXECUTION_MODE_LOCAL_SIZE, *(self.shader.local_size or (1, 1, 1)))
        words = [MAGIC, VERSION_1_3, 0, self.bound, 0, *head, *self.strings, *self.names, *self.decorations,
                 *self.globals, *self.code]
        return struct.pack(f"<{len(words)}I", *words)

    def workgroup_size(self) -> None:
        """The local size as specialisation constants that kp sets (1 by default)."""
        sizes = [self.spec_const(ir.SpecConst(u32, f"local_size_{'xyz'[axis]}", spec_id, 1))
                 for axis, spec_id in enumerate(AUTO_LOCAL_SIZE_IDS)]
        size = self.declare_value("WorkgroupSize", Op.SpecConstantComposite, uvec3, *sizes)
        self.decorate(size, Decoration.BuiltIn, BUILTIN["WorkgroupSize"])

    def function_type(self, result: ShaderType | None, params: list[ShaderType]) -> int:
        types = [self.type(t) for t in params]
        return self.declare(("function", result, *params), Op.TypeFunction, self.type(result), *types)

    def local_variables(self, variables: list[ir.Variable]) -> None:
        for var in variables:
            var_id = self.new_id()
            pointer = self.pointer(StorageClass.Function, self.type(var.type))
            self.inst(self.code, Op.Variable, pointer, var_id, StorageClass.Function)
            self.name(var_id, var.name)
            self.vars[var] = var_id

    def function(self, f: ir.Function) -> None:
        """A Python function: its parameters are copied into locals, which Python
        code may assign to."""
        result = self.functions[f]
        self.name(result, f.name)
        self.inst(self.code, Op.Function, self.type(f.result), result, 0,
                  self.function_type(f.result, [p.type for p in f.params]))
        params = []
        for param in f.params:
            params.append(self.new_id())
            self.inst(self.code, Op.FunctionParameter, self.type(param.type), params[-1])
        self.label(self.new_id())
        self.local_variables([*f.params, *f.locals])
        for param, value in zip(f.params, params):
            self.inst(self.code, Op.Store, self.vars[param], value)
        self.statements(f.body)
        if not self.terminated:
            if f.result is None:
                self.inst(self.code, Op.Return)
            else:  # not reached: the front end requires a function to end with a return
                self.inst(self.code, Op.ReturnValue, self.expr_Zero(ir.Zero(f.result)))
        self.inst(self.code, Op.FunctionEnd)

    def interface_variable(self, var: ir.Variable) -> None:
        storage = _STORAGE[var.storage]
        if var.storage == "buffer":
            array = self.layout_array(cast(ArrayType, var.type))
            pointee = self.block_struct(("buffer", array), [array], [0])
        elif var.storage == "push":
            pointee = self.push_struct(cast(ir.Struct, var.type))
        else:
            pointee = self.type(var.type)
        result = self.new_id()
        self.inst(self.globals, Op.Variable, self.pointer(storage, pointee), result, storage)
        self.name(result, var.name)
        if var.storage == "input":
            assert var.builtin is not None  # inputs are built-ins
            self.decorate(result, Decoration.BuiltIn, BUILTIN[var.builtin])
            if var.builtin in SUBGROUP_BUILTINS:
                self.capabilities.add(Capability.GroupNonUniform)
        elif var.storage in ("buffer", "image"):
            assert var.binding is not None  # buffers and images have bindings
            self.decorate(result, Decoration.DescriptorSet, 0)
            self.decorate(result, Decoration.Binding, var.binding)
        self.vars[var] = result

    def push_struct(self, t: ir.Struct) -> int:
        offsets, offset = [], 0
        for member in t.members:
            if elem_of(member).width == 16:
                self.capabilities.add(Capability.StoragePushConstant16)
            offset += -offset % _layout_align(member)
            offsets.append(offset)
            offset += cast("Scalar | Vector", member).size
        return self.block_struct(("push", t), [self.type(m) for m in t.members], offsets)

    # --- Blocks --------------------------------------------------------------------

    def label(self, label: int) -> None:
        self.inst(self.code, Op.Label, label)
        self.block = label
        self.terminated = False

    def branch(self, target: int) -> None:
        self.inst(self.code, Op.Branch, target)
        self.terminated = True

    def statements(self, body: list[ir.Stmt]) -> None:
        for stmt in body:
            if self.terminated:
                return  # Python code after break/continue/return never runs.
            getattr(self, "stmt_" + type(stmt).__name__)(stmt)

    def stmt_Store(self, s: ir.Store) -> None:
        pointer = self.place_pointer(s.place)
        self.inst(self.code, Op.Store, pointer, self.value(s.value))

    def stmt_ImageWrite(self, s: ir.ImageWrite) -> None:
        image = self.op(Op.Load, s.var.type, self.vars[s.var])
        self.inst(self.code, Op.ImageWrite, image, self.value(s.coord), self.value(s.value))

    def expr_ImageRead(self, e: ir.ImageRead) -> int:
        image = self.op(Op.Load, e.var.type, self.vars[e.var])
        return self.op(Op.ImageRead, e.type, image, self.value(e.coord))

    def stmt_CoopMatStore(self, s: ir.CoopMatStore) -> None:
        pointer, value = self.place_pointer(s.place), self.value(s.value)
        self.inst(self.code, Op.CooperativeMatrixStoreKHR, pointer, value, self.layout(s.column_major),
                  self.value(s.stride))

    def expr_CoopMatLoad(self, e: ir.CoopMatLoad) -> int:
        return self.op(Op.CooperativeMatrixLoadKHR, e.type, self.place_pointer(e.place), self.layout(e.column_major),
                       self.value(e.stride))

    def layout(self, column_major: bool) -> int:
        return self.const(u32, CooperativeMatrixLayout.ColumnMajorKHR if column_major
                          else CooperativeMatrixLayout.RowMajorKHR)

    def expr_CoopMatMulAdd(self, e: ir.CoopMatMulAdd) -> int:
        operands = [self.value(e.a), self.value(e.b), self.value(e.c)]
        types = {"a": e.a.type, "b": e.b.type, "accumulator": e.c.type, "result": e.type}
        signed = sum(bit for part, bit in COOPERATIVE_MATRIX_SIGNED.items() if elem_of(types[part]).kind == "int")
        return self.op(Op.CooperativeMatrixMulAddKHR, e.type, *operands, *([signed] if signed else []))

    def stmt_Print(self, s: ir.Print) -> None:
        if not self.printf:
            self.printf = self.new_id()
            self.extensions.add("SPV_KHR_non_semantic_info")
        text = self.new_id()
        self.inst(self.strings, Op.String, text, *_string(s.format))
        values = [self.value(v) for v in s.values]
        self.inst(self.code, Op.ExtInst, self.type(None), self.new_id(), self.printf, _DEBUG_PRINTF, text, *values)

    def stmt_Eval(self, s: ir.Eval) -> None:
        self.value(s.expr)

    def stmt_If(self, s: ir.If) -> None:
        cond = self.value(s.cond)
        then, merge = self.new_id(), self.new_id()
        orelse = self.new_id() if s.orelse else merge
        self.inst(self.code, Op.SelectionMerge, merge, 0)
        self.inst(self.code, Op.BranchConditional, cond, then, orelse)
        for label, body in ((then, s.body), (orelse, s.orelse)):
            if body:
                self.label(label)
                self.statements(body)
                if not self.terminated:
                    self.branch(merge)
        self.label(merge)

    def stmt_Loop(self, s: ir.Loop) -> None:
        header, check, body, step, merge = (self.new_id() for _ in range(5))
        self.branch(header)
        self.label(header)
        self.inst(self.code, Op.LoopMerge, merge, step, 0)
        self.branch(check)
        self.label(check)
        self.inst(self.code, Op.BranchConditional, self.value(s.cond), body, merge)
        self.label(body)
        self.loops.append((merge, step))
        self.statements(s.body)
        self.loops.pop()
        if not self.terminated:
            self.branch(step)
        self.label(step)
        self.statements(s.step)
        self.branch(header)
        self.label(merge)

    def stmt_Break(self, s: ir.Break) -> None:
        self.branch(self.loops[-1][0])

    def stmt_Continue(self, s: ir.Continue) -> None:
        self.branch(self.loops[-1][1])

    def stmt_Return(self, s: ir.Return) -> None:
        if s.value is None:
            self.inst(self.code, Op.Return)
        else:
            self.inst(self.code, Op.ReturnValue, self.value(s.value))
        self.terminated = True

    def stmt_Barrier(self, s: ir.Barrier) -> None:
        workgroup = self.const(u32, Scope.Workgroup)
        self.inst(self.code, Op.ControlBarrier, workgroup, workgroup,
                  self.const(u32, _BARRIER_SEMANTICS))

    # --- Places ------------------------------------------------------------------

    def place_pointer(self, place: ir.Place) -> int:
        var, indices = self.access(place)
        if not indices:
            return self.vars[var]
        pointer_type = self.pointer(_STORAGE[var.storage], self.type(place.type))
        result = self.new_id()
        self.inst(self.code, Op.AccessChain, pointer_type, result, self.vars[var], *indices)
        return result

    def access(self, place: ir.Place) -> tuple[ir.Variable, list[int]]:
        if isinstance(place, ir.VarRef):
            # A buffer's array is member 0 of its Block struct.
            return place.var, [self.const(i32, 0)] if place.var.storage == "buffer" else []
        var, indices = self.access(place.base)
        return var, [*indices, self.value(place.index)]

    # --- Expressions ---------------------------------------------------------------

    def value(self, e: ir.Expr) -> int:
        result: int = getattr(self, "expr_" + type(e).__name__)(e)
        return result

    def expr_Const(self, e: ir.Const) -> int:
        return self.const(e.type, e.value)

    def expr_Zero(self, e: ir.Zero) -> int:
        return self.declare_value(("zero", e.type), Op.ConstantNull, e.type)

    def expr_SpecConst(self, e: ir.SpecConst) -> int:
        return self.spec_const(e)

    def expr_Load(self, e: ir.Load) -> int:
        return self.op(Op.Load, e.type, self.place_pointer(e.place))

    def expr_Temp(self, e: ir.Temp) -> int:
        return self.temps[e]

    def expr_Let(self, e: ir.Let) -> int:
        self.temps[e.temp] = self.value(e.value)
        return self.value(e.body)

    def expr_Unary(self, e: ir.Unary) -> int:
        operand = self.value(e.operand)
        if isinstance(e.type, Matrix):
            columns = [self.op(Op.FNegate, e.type.column, c) for c in self.columns(e.type, operand, e.type)]
            return self.op(Op.CompositeConstruct, e.type, *columns)
        if e.op == "not":
            return self.op(Op.LogicalNot, e.type, operand)
        if e.op == "invert":
            return self.op(Op.Not, e.type, operand)
        opcode = Op.FNegate if elem_of(e.type).kind == "float" else Op.SNegate
        return self.op(opcode, e.type, operand)

    def expr_Binary(self, e: ir.Binary) -> int:
        left, right = self.value(e.left), self.value(e.right)
        lt, rt = e.left.type, e.right.type
        if e.op == "matmul":
            if isinstance(lt, Vector) and isinstance(rt, Vector):
                return self.op(Op.Dot, e.type, left, right)
            if isinstance(lt, Matrix) and isinstance(rt, Matrix):
                return self.op(Op.MatrixTimesMatrix, e.type, left, right)
            if isinstance(lt, Matrix):
                return self.op(Op.MatrixTimesVector, e.type, left, right)
            return self.op(Op.VectorTimesMatrix, e.type, left, right)
        if isinstance(e.type, CoopMatType) and isinstance(rt, Scalar):
            return self.op(Op.MatrixTimesScalar, e.type, left, right)
        if isinstance(e.type, Matrix):
            # SPIR-V has no component-wise matrix arithmetic: go column by column.
            column = e.type.column
            columns = [self.arith(e.op, column, column, a, b) for a, b in
                       zip(self.columns(e.type, left, lt), self.columns(e.type, right, rt))]
            return self.op(Op.CompositeConstruct, e.type, *columns)
        return self.arith(e.op, e.type, lt, left, right)

    def arith(self, op: str, result: ShaderType, operand: ShaderType, a: int, b: int) -> int:
        kind = elem_of(operand).kind
        if kind == "int" and op in ("floordiv", "mod"):
            return self.floor_div_mod(op, result, a, b)
        if op == "floordiv":
            if kind == "float":
                return self.ext_inst(MATH["floor"].float_inst, result,
                                     self.op(Op.FDiv, result, a, b))
            return self.op(Op.UDiv, result, a, b)
        return self.op(_BINARY[op][kind], result, a, b)

    def floor_div_mod(self, op: str, t: ShaderType, a: int, b: int) -> int:
        """Python's // or % of signed integers: truncating division and remainder,
        corrected by one step where the remainder's sign differs from the divisor's.
        The remainder is a - (a / b) * b: Vulkan leaves OpSRem and OpSMod undefined
        for negative operands (NVIDIA's and lavapipe's differ)."""
        zero = self.splat_const(t, 0)
        quotient = self.op(Op.SDiv, t, a, b)
        remainder = self.op(Op.ISub, t, a, self.op(Op.IMul, t, quotient, b))
        bool_type = with_elem(t, boolean)
        adjust = self.op(Op.LogicalAnd, bool_type,
                         self.op(Op.INotEqual, bool_type, remainder, zero),
                         self.op(Op.SLessThan, bool_type,
                                 self.op(Op.BitwiseXor, t, remainder, b), zero))
        if op == "mod":
            return self.op(Op.Select, t, adjust, self.op(Op.IAdd, t, remainder, b), remainder)
        return self.op(Op.Select, t, adjust,
                       self.op(Op.ISub, t, quotient, self.splat_const(t, 1)), quotient)

    def columns(self, t: Matrix, value: int, value_type: ShaderType) -> list[int]:
        """The columns of a ``t`` matrix operand; a scalar operand spread over a column."""
        if isinstance(value_type, Matrix):
            return [self.op(Op.CompositeExtract, t.column, value, k) for k in range(t.cols)]
        return [self.op(Op.CompositeConstruct, t.column, *[value] * t.rows)] * t.cols

    def expr_Logical(self, e: ir.Logical) -> int:
        left = self.value(e.left)
        left_block, right_block, merge = self.block, self.new_id(), self.new_id()
        self.inst(self.code, Op.SelectionMerge, merge, 0)
        if e.op == "and":
            self.inst(self.code, Op.BranchConditional, left, right_block, merge)
        else:
            self.inst(self.code, Op.BranchConditional, left, merge, right_block)
        self.label(right_block)
        right = self.value(e.right)
        right_end = self.block
        self.branch(merge)
        self.label(merge)
        # Coming straight from the left operand, the result is the left operand.
        return self.op(Op.Phi, e.type, left, left_block, right, right_end)

    def expr_Select(self, e: ir.Select) -> int:
        cond = self.value(e.cond)
        then, orelse, merge = self.new_id(), self.new_id(), self.new_id()
        self.inst(self.code, Op.SelectionMerge, merge, 0)
        self.inst(self.code, Op.BranchConditional, cond, then, orelse)
        incoming = []
        for label, branch in ((then, e.a), (orelse, e.b)):
            self.label(label)
            incoming += [self.value(branch), self.block]
            self.branch(merge)
        self.label(merge)
        return self.op(Op.Phi, e.type, *incoming)

    def ext_inst(self, inst: int, result: ShaderType, *args: int) -> int:
        if not self.glsl:
            self.glsl = self.new_id()
        return self.op(Op.ExtInst, result, self.glsl, inst, *args)

    def expr_ExtInst(self, e: ir.ExtInst) -> int:
        args = [self.value(a) for a in e.args]
        if e.inst == MATH["pow"].float_inst:
            return self.python_pow(e.type, *args)
        return self.ext_inst(e.inst, e.type, *args)

    def python_pow(self, t: ShaderType, x: int, y: int) -> int:
        """Python's x ** y: GLSL's pow is undefined for x < 0, where Python gives
        |x| ** y, negated for odd integral y (and NaN, a complex in Python, otherwise),
        and for x ** 0, which is 1."""
        magnitude = self.ext_inst(MATH["pow"].float_inst, t, self.ext_inst(MATH["abs"].float_inst, t, x), y)
        bool_type = with_elem(t, boolean)
        half = self.op(Op.FMul, t, y, self.splat_const(t, 0.5))
        trunc = MATH["trunc"].float_inst
        odd = self.op(Op.FOrdNotEqual, bool_type, self.ext_inst(trunc, t, half), half)
        integral = self.op(Op.FOrdEqual, bool_type, self.ext_inst(trunc, t, y), y)
        negative = self.op(Op.FOrdLessThan, bool_type, x, self.splat_const(t, 0.0))
        signed = self.op(Op.Select, t, odd, self.op(Op.FNegate, t, magnitude), magnitude)
        nan = self.splat_const(t, float("nan"))
        result = self.op(Op.Select, t, negative,
                         self.op(Op.Select, t, integral, signed, nan), magnitude)
        zero = self.op(Op.FOrdEqual, bool_type, y, self.splat_const(t, 0.0))
        return self.op(Op.Select, t, zero, self.splat_const(t, 1.0), result)

    def expr_Intrinsic(self, e: ir.Intrinsic) -> int:
        return self.op(_INTRINSIC[e.name], e.type, *[self.value(a) for a in e.args])

    def expr_ArrayLength(self, e: ir.ArrayLength) -> int:
        length = self.op(Op.ArrayLength, u32, self.vars[e.var], 0)
        return self.op(Op.Bitcast, e.type, length)

    def expr_Convert(self, e: ir.Convert) -> int:
        value = self.value(e.value)
        src, dst = elem_of(e.value.type), elem_of(e.type)
        if src == dst:
            return value
        if src.kind == "bool":
            return self.op(Op.Select, e.type, value, self.splat_const(e.type, 1),
                           self.splat_const(e.type, 0))
        if dst.kind == "bool":
            return self.arith("ne", e.type, e.value.type, value, self.splat_const(e.value.type, 0))
        if src.kind == "float":
            if dst.kind == "float":
                return self.op(Op.FConvert, e.type, value)
            return self.op(Op.ConvertFToS if dst.kind == "int" else Op.ConvertFToU, e.type, value)
        if dst.kind == "float":
            return self.op(Op.ConvertSToF if src.kind == "int" else Op.ConvertUToF, e.type, value)
        if src.width != dst.width:
            # Extend or truncate by the source's signedness, then reinterpret.
            resized = with_elem(e.type, scalar_type(src.kind, dst.width))
            value = self.op(Op.SConvert if src.kind == "int" else Op.UConvert, resized, value)
            if resized == e.type:
                return value
        return self.op(Op.Bitcast, e.type, value)

    def expr_Splat(self, e: ir.Splat) -> int:
        if isinstance(e.value, ir.Const):
            return self.composite_const(e.type, e.value.value)
        value = self.value(e.value)
        return self.op(Op.CompositeConstruct, e.type, *[value] * e.type.length)

    def expr_Construct(self, e: ir.Construct) -> int:
        return self.op(Op.CompositeConstruct, e.type, *[self.value(a) for a in e.args])

    def expr_Swizzle(self, e: ir.Swizzle) -> int:
        value = self.value(e.value)
        if len(e.indices) == 1:
            return self.op(Op.CompositeExtract, e.type, value, e.indices[0])
        return self.op(Op.VectorShuffle, e.type, value, value, *e.indices)

    def expr_DynamicExtract(self, e: ir.DynamicExtract) -> int:
        return self.op(Op.VectorExtractDynamic, e.type, self.value(e.value), self.value(e.index))

    def expr_Insert(self, e: ir.Insert) -> int:
        base, value = self.value(e.base), self.value(e.value)
        if len(e.indices) == 1:
            return self.op(Op.CompositeInsert, e.type, value, base, e.indices[0])
        # Shuffle operands: base components are 0..n-1, value components n.. .
        n = cast(Vector, e.type).length  # several indices: a vector
        selection = [n + e.indices.index(k) if k in e.indices else k for k in range(n)]
        return self.op(Op.VectorShuffle, e.type, base, value, *selection)

    def expr_Call(self, e: ir.Call) -> int:
        return self.op(Op.FunctionCall, e.type, self.functions[e.function],
                       *[self.value(a) for a in e.args])

    def expr_Subgroup(self, e: ir.Subgroup) -> int:
        opcode, capability = _SUBGROUP[e.op]
        self.capabilities.update((Capability.GroupNonUniform, capability))
        operands = [self.const(u32, Scope.Subgroup)]
        if isinstance(opcode, dict):
            opcode = opcode[elem_of(e.type).kind]
            operands.append((GroupOperation.Reduce, GroupOperation.InclusiveScan,
                             GroupOperation.ExclusiveScan)[e.scan])
        return self.op(opcode, e.type, *operands, *[self.value(a) for a in e.args])

    def expr_Atomic(self, e: ir.Atomic) -> int:
        pointer = self.place_pointer(e.place)
        root = e.place
        while isinstance(root, ir.Element):
            root = root.base
        scope = self.const(u32, Scope.Workgroup if root.var.storage == "shared" else Scope.Device)
        relaxed = self.const(u32, MemorySemantics.Relaxed)
        args = [self.value(a) for a in e.args]
        if e.op == "compare_exchange":
            comparator, value = args
            return self.op(Op.AtomicCompareExchange, e.type, pointer, scope, relaxed, relaxed,
                           value, comparator)
        if e.type.kind == "float":
            # The capability names the device feature kp checks when making the algorithm.
            add = e.op == "add"
            self.capabilities.add(_FLOAT_ATOMIC_CAPABILITY[add, e.type.width])
            self.extensions.add("SPV_EXT_shader_atomic_float_add" if add
                                else "SPV_EXT_shader_atomic_float_min_max")
        return self.op(_ATOMIC[e.op][e.type.kind], e.type, pointer, scope, relaxed, *args)

def _scalar_words(t: Scalar, value: bool | int | float) -> tuple[int, ...]:
    if t.kind == "float":
        if t.width == 16:
            return (struct.unpack("<H", struct.pack("<e", value))[0],)
        if t.width == 32:
            return struct.unpack("<I", struct.pack("<f", value))
        return struct.unpack("<2I", struct.pack("<d", value))
    value = int(value) & ((1 << t.width) - 1)
    return (value,) if t.width == 32 else (value & 0xFFFFFFFF, value >> 32)
