"""SPIR-V reflection: what a compute shader needs from the pipeline that runs it.

``reflect(spirv)`` reads the module once, in pure Python, and returns a frozen
``ShaderInfo`` with the descriptor bindings and their element types, the
push-constant block, the workgroup size, the shared memory and the
specialization constants. Only the instructions that carry this information
are decoded; everything else is skipped by word count.

>>> from kp.shader import compile_source, reflect
>>> glsl = ("#version 450\\nlayout(local_size_x = 256) in;\\n"
...         "layout(binding = 0) buffer A { float a[]; };\\nlayout(binding = 1) buffer B { float b[]; };\\n"
...         "layout(binding = 2) buffer C { float c[]; };\\nvoid main() { c[0] = a[0] * b[0]; }")
>>> info = reflect(compile_source(glsl))
>>> info.local_size, [b.kind for b in info.bindings]
((256, 1, 1), ['storage_buffer', 'storage_buffer', 'storage_buffer'])
"""

from __future__ import annotations

import functools
import itertools
import math
import struct
import sys
from array import array
from dataclasses import dataclass
from typing import Iterable, Iterator, Union, cast

from ..errors import ShaderError

MAGIC = 0x07230203
_HEADER_WORDS = 5

SpecValue = Union[int, float, bool]


@dataclass(frozen=True)
class Binding:
    """One descriptor the shader reads or writes.

    ``name`` is the instance name, or the block name for an anonymous block.
    ``element_size`` is the stride of a storage buffer's trailing runtime
    array (4 for ``float x[]``), ``None`` when it has none. ``element_scalar``
    is the scalar type (kind, width in bits) its elements are made of:
    ``("float", 32)`` for ``float x[]`` and ``vec4 x[]``; ``None`` without a
    runtime array, for an array of structs, or when aliased views disagree.
    Several variables at one binding (aliased views) are merged into one
    ``Binding``. For an image, ``element_scalar`` is the scalar type its texels
    are read as (``("float", 32)`` for ``image2D``), ``image_format`` its format
    qualifier as GLSL spells it (``"r32f"``, ``"rgba8ui"``; ``"unknown"`` without
    one) and ``image_dim`` its dimensionality (``"2d"``...); None otherwise.
    """

    set: int
    binding: int
    kind: str
    name: str
    element_size: int | None
    readonly: bool
    element_scalar: tuple[str, int] | None = None
    image_format: str | None = None
    image_dim: str | None = None


@dataclass(frozen=True)
class SpecConstant:
    """A specialization constant (``layout(constant_id = N) const ...``).

    ``width`` is in bits as the specialization data holds it: 32 for ``bool``
    (a ``VkBool32``), 64 for ``double``/``int64_t``.
    """

    id: int
    kind: str
    width: int
    name: str
    default: SpecValue


@dataclass(frozen=True)
class PushConstant:
    """One scalar of the push-constant block, where ``push_consts=[...]`` puts it.

    ``name`` is the member's, with indices for vector, array and matrix
    components (``scale``, ``origin[1]``, ``m[0][2]``); ``kind`` is ``int``,
    ``uint``, ``float`` or ``bool``, ``width`` in bits (32 for a bool).
    """

    name: str
    offset: int
    kind: str
    width: int


# Bytes of a type packed without padding, as terms (bytes, spec constant ids):
# the size is the sum of each term's bytes times its constants' values.
SizeTerms = tuple[tuple[int, tuple[int, ...]], ...]


@dataclass(frozen=True)
class CooperativeMatrix:
    """A cooperative-matrix type (KHR) a shader declares: its ``use`` ("a", "b" or
    "accumulator"), ``rows`` x ``cols`` of ``component`` ("float16", "int8", ...,
    as ``kp.list_devices()`` names them) at ``scope`` ("subgroup", "workgroup")."""

    use: str
    rows: int
    cols: int
    component: str
    scope: str


@dataclass(frozen=True)
class ShaderInfo:
    """Everything about a compute shader's interface that a pipeline depends on.

    ``local_size`` holds the defaults of any specialization constants that set
    it; ``local_size_spec_ids`` says which constant id sets each component.
    ``push_constants`` are the scalars of the push-constant block in declaration
    order. ``workgroup_memory`` is the shared (Workgroup) memory as ``SizeTerms``
    so that specialised array lengths count: one entry for all variables, or one
    per block where explicitly laid-out blocks alias one another.
    ``workgroup_memory_size(values)`` is the total.
    """

    entry_point: str
    bindings: tuple[Binding, ...]
    push_constant_size: int
    local_size: tuple[int, int, int]
    local_size_spec_ids: tuple[int | None, int | None, int | None]
    spec_constants: tuple[SpecConstant, ...]
    capabilities: frozenset[str]
    push_constants: tuple[PushConstant, ...] = ()
    workgroup_memory: tuple[SizeTerms, ...] = ()
    cooperative_matrices: tuple[CooperativeMatrix, ...] = ()
    printf_formats: tuple[str, ...] = ()  # debugPrintfEXT's (NonSemantic.DebugPrintf)

    def workgroup_memory_size(self, spec_values: dict[int, SpecValue] | None = None) -> int:
        """Bytes of shared memory at least, with array lengths from ``spec_values``
        (constant id -> value) or else the constants' defaults. Variables are
        counted packed without padding, as the validation layer counts them."""
        values = {c.id: c.default for c in self.spec_constants}
        values.update(spec_values or {})
        return max((sum(size * math.prod(int(values[i]) for i in ids) for size, ids in terms)
                    for terms in self.workgroup_memory), default=0)


# Specialization constants by which a shader leaves its local size to kp and gets
# the global size that was asked for (python2shader's kernels that read only
# GlobalInvocationId): the algorithm picks the local size, dispatches enough
# workgroups to cover the requested invocations (in several rows where one row would
# exceed the device's limit), and the shader skips those past it.
AUTO_LOCAL_SIZE_IDS = (0x6B700000, 0x6B700001, 0x6B700002)
AUTO_GLOBAL_SIZE_IDS = (0x6B700003, 0x6B700004, 0x6B700005)
# The row width of the folded grid: where the workgroups along x would exceed the
# device's maxComputeWorkGroupCount, kp dispatches them as rows along z, and the
# shader's global id x is gid.x + gid.z * width (0: not folded).
AUTO_ROW_WIDTH_ID = 0x6B700006

# Opcodes, enumerants and decorations from the SPIR-V 1.6 specification.
_OP_NAME = 5
_OP_MEMBER_NAME = 6
_OP_STRING = 7
_OP_EXT_INST_IMPORT = 11
_OP_EXT_INST = 12
_OP_ENTRY_POINT = 15
_OP_EXECUTION_MODE = 16
_OP_CAPABILITY = 17
_OP_TYPE_BOOL = 20
_OP_TYPE_INT = 21
_OP_TYPE_FLOAT = 22
_OP_TYPE_VECTOR = 23
_OP_TYPE_MATRIX = 24
_OP_TYPE_IMAGE = 25
_OP_TYPE_SAMPLER = 26
_OP_TYPE_SAMPLED_IMAGE = 27
_OP_TYPE_ARRAY = 28
_OP_TYPE_RUNTIME_ARRAY = 29
_OP_TYPE_STRUCT = 30
_OP_TYPE_POINTER = 32
# Cooperative-matrix types, read as types so that arrays of them resolve.
_OP_TYPE_COOPERATIVE_MATRIX_KHR = 4456
_OP_TYPE_COOPERATIVE_MATRIX_NV = 5358
_OP_TYPE_COOPERATIVE_MATRICES = (_OP_TYPE_COOPERATIVE_MATRIX_KHR, _OP_TYPE_COOPERATIVE_MATRIX_NV)
_MATRIX_USES = {0: "a", 1: "b", 2: "accumulator"}  # CooperativeMatrixUse
_FLOAT_ENCODINGS = {0: "bfloat16", 4214: "float_e4m3", 4215: "float_e5m2"}  # FPEncoding
_SCOPES = {1: "device", 2: "workgroup", 3: "subgroup", 5: "queue_family"}  # Scope
_OP_CONSTANT_TRUE = 41
_OP_CONSTANT_FALSE = 42
_OP_CONSTANT = 43
_OP_CONSTANT_COMPOSITE = 44
_OP_SPEC_CONSTANT_TRUE = 48
_OP_SPEC_CONSTANT_FALSE = 49
_OP_SPEC_CONSTANT = 50
_OP_SPEC_CONSTANT_COMPOSITE = 51
_OP_VARIABLE = 59
_OP_DECORATE = 71
_OP_MEMBER_DECORATE = 72
_OP_EXECUTION_MODE_ID = 331

_EXEC_MODEL_GLCOMPUTE = 5
_MODE_LOCAL_SIZE = 17
_MODE_LOCAL_SIZE_ID = 38

_DEC_SPEC_ID = 1
_DEC_BLOCK = 2
_DEC_BUFFER_BLOCK = 3
_DEC_ROW_MAJOR = 4
_DEC_ARRAY_STRIDE = 6
_DEC_MATRIX_STRIDE = 7
_DEC_BUILTIN = 11
_DEC_NON_WRITABLE = 24
_DEC_BINDING = 33
_DEC_DESCRIPTOR_SET = 34
_DEC_OFFSET = 35
_BUILTIN_WORKGROUP_SIZE = 25

_SC_UNIFORM_CONSTANT = 0
_SC_UNIFORM = 2
_SC_WORKGROUP = 4
_SC_PUSH_CONSTANT = 9
_SC_STORAGE_BUFFER = 12
_SC_PHYSICAL_STORAGE_BUFFER = 5349

_DIM_BUFFER = 5
_DIMS = {0: "1d", 1: "2d", 2: "3d", 3: "cube", 4: "rect", 5: "buffer", 6: "subpass"}
# SPIR-V's ImageFormat enumerants, spelled as GLSL's format qualifiers.
_IMAGE_FORMATS = dict(enumerate((
    "unknown", "rgba32f", "rgba16f", "r32f", "rgba8", "rgba8_snorm", "rg32f", "rg16f", "r11f_g11f_b10f", "r16f",
    "rgba16", "rgb10_a2", "rg16", "rg8", "r16", "r8", "rgba16_snorm", "rg16_snorm", "rg8_snorm", "r16_snorm",
    "r8_snorm", "rgba32i", "rgba16i", "rgba8i", "r32i", "rg32i", "rg16i", "rg8i", "r16i", "r8i", "rgba32ui",
    "rgba16ui", "rgba8ui", "r32ui", "rgb10_a2ui", "rg32ui", "rg16ui", "rg8ui", "r16ui", "r8ui", "r64ui", "r64i")))

# No device takes more than 4 KiB of push constants; a damaged array length must
# not make reflection list billions of them.
_MAX_PUSH_SCALARS = 4096

_CONSTANT_OPS = frozenset((
    _OP_CONSTANT_TRUE, _OP_CONSTANT_FALSE, _OP_CONSTANT, _OP_CONSTANT_COMPOSITE,
    _OP_SPEC_CONSTANT_TRUE, _OP_SPEC_CONSTANT_FALSE, _OP_SPEC_CONSTANT,
    _OP_SPEC_CONSTANT_COMPOSITE))

# Smallest word count (opcode word included) of each decoded instruction, so
# that operand access below never runs past the instruction.
_MIN_WORDS = {
    _OP_NAME: 3, _OP_MEMBER_NAME: 4, _OP_ENTRY_POINT: 4, _OP_EXECUTION_MODE: 3,
    _OP_CAPABILITY: 2, _OP_TYPE_BOOL: 2, _OP_TYPE_INT: 4, _OP_TYPE_FLOAT: 3,
    _OP_TYPE_VECTOR: 4, _OP_TYPE_MATRIX: 4, _OP_TYPE_IMAGE: 9, _OP_TYPE_SAMPLER: 2,
    _OP_TYPE_SAMPLED_IMAGE: 3, _OP_TYPE_ARRAY: 4, _OP_TYPE_RUNTIME_ARRAY: 3,
    _OP_TYPE_STRUCT: 2, _OP_TYPE_POINTER: 4, _OP_TYPE_COOPERATIVE_MATRIX_KHR: 7,
    _OP_TYPE_COOPERATIVE_MATRIX_NV: 6, _OP_CONSTANT_TRUE: 3,
    _OP_CONSTANT_FALSE: 3, _OP_CONSTANT: 4, _OP_CONSTANT_COMPOSITE: 3,
    _OP_SPEC_CONSTANT_TRUE: 3,
    _OP_SPEC_CONSTANT_FALSE: 3, _OP_SPEC_CONSTANT: 4, _OP_SPEC_CONSTANT_COMPOSITE: 3,
    _OP_VARIABLE: 4, _OP_DECORATE: 3, _OP_MEMBER_DECORATE: 4,
    _OP_EXECUTION_MODE_ID: 3, _OP_STRING: 3, _OP_EXT_INST_IMPORT: 3, _OP_EXT_INST: 5,
}

# Capability enumerants a Vulkan compute shader can declare; others are named
# by number.
_CAPABILITIES = {
    0: "Matrix", 1: "Shader", 2: "Geometry", 3: "Tessellation", 4: "Addresses",
    5: "Linkage", 6: "Kernel", 7: "Vector16", 8: "Float16Buffer", 9: "Float16",
    10: "Float64", 11: "Int64", 12: "Int64Atomics", 13: "ImageBasic",
    14: "ImageReadWrite", 15: "ImageMipmap", 17: "Pipes", 18: "Groups",
    19: "DeviceEnqueue", 20: "LiteralSampler", 21: "AtomicStorage", 22: "Int16",
    23: "TessellationPointSize", 24: "GeometryPointSize",
    25: "ImageGatherExtended", 27: "StorageImageMultisample",
    28: "UniformBufferArrayDynamicIndexing", 29: "SampledImageArrayDynamicIndexing",
    30: "StorageBufferArrayDynamicIndexing", 31: "StorageImageArrayDynamicIndexing",
    32: "ClipDistance", 33: "CullDistance", 34: "ImageCubeArray",
    35: "SampleRateShading", 36: "ImageRect", 37: "SampledRect",
    38: "GenericPointer", 39: "Int8", 40: "InputAttachment", 41: "SparseResidency",
    42: "MinLod", 43: "Sampled1D", 44: "Image1D", 45: "SampledCubeArray",
    46: "SampledBuffer", 47: "ImageBuffer", 48: "ImageMSArray",
    49: "StorageImageExtendedFormats", 50: "ImageQuery", 51: "DerivativeControl",
    52: "InterpolationFunction", 53: "TransformFeedback", 54: "GeometryStreams",
    55: "StorageImageReadWithoutFormat", 56: "StorageImageWriteWithoutFormat",
    57: "MultiViewport", 58: "SubgroupDispatch", 59: "NamedBarrier",
    60: "PipeStorage", 61: "GroupNonUniform", 62: "GroupNonUniformVote",
    63: "GroupNonUniformArithmetic", 64: "GroupNonUniformBallot",
    65: "GroupNonUniformShuffle", 66: "GroupNonUniformShuffleRelative",
    67: "GroupNonUniformClustered", 68: "GroupNonUniformQuad", 69: "ShaderLayer",
    70: "ShaderViewportIndex", 4422: "FragmentShadingRateKHR",
    4423: "SubgroupBallotKHR", 4427: "DrawParameters",
    4428: "WorkgroupMemoryExplicitLayoutKHR",
    4429: "WorkgroupMemoryExplicitLayout8BitAccessKHR",
    4430: "WorkgroupMemoryExplicitLayout16BitAccessKHR", 4431: "SubgroupVoteKHR",
    4433: "StorageBuffer16BitAccess", 4434: "UniformAndStorageBuffer16BitAccess",
    4435: "StoragePushConstant16", 4436: "StorageInputOutput16",
    4437: "DeviceGroup", 4439: "MultiView", 4441: "VariablePointersStorageBuffer",
    4442: "VariablePointers", 4445: "AtomicStorageOps",
    4447: "SampleMaskPostDepthCoverage", 4448: "StorageBuffer8BitAccess",
    4449: "UniformAndStorageBuffer8BitAccess", 4450: "StoragePushConstant8",
    4464: "DenormPreserve", 4465: "DenormFlushToZero",
    4466: "SignedZeroInfNanPreserve", 4467: "RoundingModeRTE",
    4468: "RoundingModeRTZ", 4472: "RayQueryKHR", 4479: "RayTracingKHR",
    5016: "Int64ImageEXT", 5055: "ShaderClockKHR", 5116: "BFloat16TypeKHR",
    5117: "BFloat16DotProductKHR", 5118: "BFloat16CooperativeMatrixKHR",
    5288: "ComputeDerivativeGroupQuadsNV", 5297: "GroupNonUniformPartitionedNV",
    5301: "ShaderNonUniform", 5302: "RuntimeDescriptorArray",
    5304: "UniformTexelBufferArrayDynamicIndexing",
    5305: "StorageTexelBufferArrayDynamicIndexing",
    5306: "UniformBufferArrayNonUniformIndexing",
    5307: "SampledImageArrayNonUniformIndexing",
    5308: "StorageBufferArrayNonUniformIndexing",
    5309: "StorageImageArrayNonUniformIndexing",
    5311: "UniformTexelBufferArrayNonUniformIndexing",
    5312: "StorageTexelBufferArrayNonUniformIndexing",
    5345: "VulkanMemoryModel", 5346: "VulkanMemoryModelDeviceScope",
    5347: "PhysicalStorageBufferAddresses", 5350: "ComputeDerivativeGroupLinearNV",
    5357: "CooperativeMatrixNV", 5373: "ShaderSMBuiltinsNV",
    5379: "DemoteToHelperInvocation", 5430: "CooperativeMatrixReductionsNV",
    5431: "CooperativeMatrixConversionsNV", 5432: "CooperativeMatrixPerElementOperationsNV",
    5433: "CooperativeMatrixTensorAddressingNV", 5434: "CooperativeMatrixBlockLoadsNV",
    5439: "TensorAddressingNV", 5612: "AtomicFloat32MinMaxEXT",
    5613: "AtomicFloat64MinMaxEXT", 5616: "AtomicFloat16MinMaxEXT",
    5629: "ExpectAssumeKHR", 6016: "DotProductInputAll",
    6017: "DotProductInput4x8Bit", 6018: "DotProductInput4x8BitPacked",
    6019: "DotProduct", 6022: "CooperativeMatrixKHR", 6025: "BitInstructions", 6026: "GroupNonUniformRotateKHR",
    6033: "AtomicFloat32AddEXT", 6034: "AtomicFloat64AddEXT",
    6095: "AtomicFloat16AddEXT", 6400: "GroupUniformArithmeticKHR",
}


def words(spirv: bytes | bytearray | memoryview) -> array[int]:
    """The 32-bit words of a SPIR-V module in host byte order.

    Checks the length and the magic number; a module written in the other byte
    order is swapped. Raises ``ShaderError`` for anything that is not SPIR-V.
    """
    data = memoryview(spirv).cast("B")
    if len(data) % 4:
        raise ShaderError(f"SPIR-V length must be a multiple of 4 bytes, got {len(data)} bytes")
    if len(data) < _HEADER_WORDS * 4:
        raise ShaderError(
            f"SPIR-V is too short for its 5-word header: {len(data)} bytes")
    code = array("I")
    code.frombytes(data)
    if code[0] != MAGIC:
        code.byteswap()
        if code[0] != MAGIC:
            code.byteswap()
            raise ShaderError(
                f"not SPIR-V: magic number is {code[0]:#010x}, expected {MAGIC:#010x}")
    return code


def reflect(spirv: bytes | bytearray | memoryview) -> ShaderInfo:
    """Decode the interface of a compute shader from its SPIR-V.

    Results are cached by content, so reflecting the same module again is a
    dictionary look-up. Raises ``ShaderError`` for malformed SPIR-V or a module
    without a GLCompute entry point.
    """
    if not isinstance(spirv, (bytes, bytearray, memoryview)):
        raise ShaderError(f"reflect takes SPIR-V as bytes, got {type(spirv).__name__} (kp.shader.as_spirv "
                          f"turns any shader into them)")
    return _reflect_cached(bytes(spirv))


@functools.lru_cache(maxsize=256)
def _reflect_cached(spirv: bytes) -> ShaderInfo:
    return _Module(words(spirv)).info()


def _string(code: array[int], start: int, end: int) -> str:
    """Decode the nul-terminated literal string that starts at ``code[start]``."""
    raw = code[start:end].tobytes()
    if sys.byteorder == "big":
        # Literal strings are packed little-endian into words whatever the host.
        swapped = array("I", raw)
        swapped.byteswap()
        raw = swapped.tobytes()
    nul = raw.find(b"\0")
    if nul < 0:
        raise ShaderError(f"unterminated literal string at word {start}")
    return raw[:nul].decode("utf-8", "replace")


class _Module:
    """Tables filled by one pass over the instructions, then combined into a
    ``ShaderInfo``."""

    def __init__(self, code: array[int]):
        self.names: dict[int, str] = {}
        self.member_names: dict[tuple[int, int], str] = {}
        self.decorations: dict[int, dict[int, tuple[int, ...]]] = {}
        self.member_decorations: dict[tuple[int, int], dict[int, tuple[int, ...]]] = {}
        # Each type is kept as its operand words, opcode first.
        self.types: dict[int, tuple[int, ...]] = {}
        self.constants: dict[int, tuple[int, tuple[int, ...]]] = {}
        self.variables: list[tuple[int, int, int]] = []
        self.capabilities: set[str] = set()
        self.entry: tuple[int, str] | None = None
        # Execution modes by (entry point id, mode): LocalSize holds literals,
        # LocalSizeId constant ids.
        self.local_sizes: dict[tuple[int, int], tuple[int, ...]] = {}
        self.strings: dict[int, str] = {}
        self.printf_set: int | None = None
        self.printf_format_ids: list[int] = []
        self._parse(code)

    def _parse(self, code: array[int]) -> None:
        end = len(code)
        i = _HEADER_WORDS
        min_words = _MIN_WORDS
        while i < end:
            first = code[i]
            count = first >> 16
            op = first & 0xFFFF
            if count == 0:
                raise ShaderError(f"instruction at word {i} (opcode {op}) has word count 0")
            nxt = i + count
            if nxt > end:
                raise ShaderError(
                    f"instruction at word {i} (opcode {op}) needs {count} words but "
                    f"only {end - i} remain: SPIR-V is truncated")
            need = min_words.get(op)
            if need is not None:
                if count < need:
                    raise ShaderError(
                        f"instruction at word {i} (opcode {op}) has {count} words, "
                        f"expected at least {need}")
                self._instruction(op, code, i, nxt)
            i = nxt

    def _instruction(self, op: int, code: array[int], i: int, nxt: int) -> None:
        if op == _OP_DECORATE:
            self.decorations.setdefault(code[i + 1], {})[code[i + 2]] = tuple(code[i + 3:nxt])
        elif op == _OP_MEMBER_DECORATE:
            key = (code[i + 1], code[i + 2])
            self.member_decorations.setdefault(key, {})[code[i + 3]] = tuple(code[i + 4:nxt])
        elif op == _OP_NAME:
            self.names[code[i + 1]] = _string(code, i + 2, nxt)
        elif op == _OP_MEMBER_NAME:
            self.member_names[code[i + 1], code[i + 2]] = _string(code, i + 3, nxt)
        elif _OP_TYPE_BOOL <= op <= _OP_TYPE_POINTER or op in _OP_TYPE_COOPERATIVE_MATRICES:
            self._type(op, code[i + 1], tuple(code[i + 2:nxt]))
        elif op == _OP_VARIABLE:
            self.variables.append((code[i + 1], code[i + 2], code[i + 3]))
        elif op in _CONSTANT_OPS:
            self.constants[code[i + 2]] = (op, (code[i + 1], *code[i + 3:nxt]))
        elif op == _OP_CAPABILITY:
            cap = code[i + 1]
            self.capabilities.add(_CAPABILITIES.get(cap, f"Capability{cap}"))
        elif op == _OP_STRING:
            self.strings[code[i + 1]] = _string(code, i + 2, nxt)
        elif op == _OP_EXT_INST_IMPORT:
            if _string(code, i + 2, nxt) == "NonSemantic.DebugPrintf":
                self.printf_set = code[i + 1]
        elif op == _OP_EXT_INST:
            # DebugPrintf's one instruction (1): format string, then the values
            if code[i + 3] == self.printf_set and code[i + 4] == 1 and nxt - i > 5:
                self.printf_format_ids.append(code[i + 5])
        elif op == _OP_ENTRY_POINT:
            if self.entry is None and code[i + 1] == _EXEC_MODEL_GLCOMPUTE:
                self.entry = (code[i + 2], _string(code, i + 3, nxt))
        elif op in (_OP_EXECUTION_MODE, _OP_EXECUTION_MODE_ID):
            mode = code[i + 2]
            if mode in (_MODE_LOCAL_SIZE, _MODE_LOCAL_SIZE_ID):
                if nxt - i != 6:
                    raise ShaderError(f"LocalSize execution mode at word {i} has "
                                      f"{nxt - i - 3} operands, expected 3")
                self.local_sizes[code[i + 1], mode] = tuple(code[i + 3:nxt])

    def _type(self, op: int, result: int, operands: tuple[int, ...]) -> None:
        if result in self.types:
            raise ShaderError(f"type id %{result} is defined twice")
        # Types may only refer to types declared before them (pointers aside,
        # whose forward declarations this reader does not need); checking it
        # here rules out cycles when sizes are computed recursively later.
        if op in (_OP_TYPE_VECTOR, _OP_TYPE_MATRIX, _OP_TYPE_ARRAY,
                  _OP_TYPE_RUNTIME_ARRAY, _OP_TYPE_SAMPLED_IMAGE, *_OP_TYPE_COOPERATIVE_MATRICES):
            refs: tuple[int, ...] = operands[:1]
        elif op == _OP_TYPE_STRUCT:
            refs = operands
        else:
            refs = ()
        for ref in refs:
            if ref not in self.types:
                raise ShaderError(f"type %{result} refers to undeclared type %{ref}")
        self.types[result] = (op, *operands)

    # -- combining the tables -------------------------------------------------

    def info(self) -> ShaderInfo:
        if self.entry is None:
            raise ShaderError("SPIR-V module has no GLCompute entry point (not a compute shader)")
        local_size, local_spec_ids = self._workgroup_size(self.entry[0])
        return ShaderInfo(
            entry_point=self.entry[1],
            bindings=self._bindings(),
            push_constant_size=self._push_constant_size(),
            local_size=local_size,
            local_size_spec_ids=local_spec_ids,
            spec_constants=self._spec_constants(),
            capabilities=frozenset(self.capabilities),
            push_constants=self._push_constants(),
            workgroup_memory=self._workgroup_memory(),
            cooperative_matrices=self._cooperative_matrices(),
            printf_formats=tuple(self.strings.get(i, "") for i in self.printf_format_ids),
        )

    def _cooperative_matrices(self) -> tuple[CooperativeMatrix, ...]:
        found = set()
        for type_ in self.types.values():
            if type_[0] != _OP_TYPE_COOPERATIVE_MATRIX_KHR:
                continue
            component, scope, rows, cols, use = type_[1:6]
            element = self.types[component]
            kind, width = _scalar_kind(element)
            # a float's optional third operand is its encoding (bfloat16, 8-bit floats)
            name = _FLOAT_ENCODINGS.get(element[2], "float?") if kind == "float" and len(element) > 2 \
                else f"{kind}{width}"
            found.add(CooperativeMatrix(
                _MATRIX_USES.get(int(self._scalar(use)[2]), "unknown"), int(self._scalar(rows)[2]),
                int(self._scalar(cols)[2]), name,
                _SCOPES.get(int(self._scalar(scope)[2]), "unknown")))
        return tuple(sorted(found, key=lambda m: (m.use, m.rows, m.cols, m.component, m.scope)))

    def _workgroup_size(self, entry: int) -> tuple[tuple[int, int, int], tuple[int | None, int | None, int | None]]:
        # The WorkgroupSize built-in overrides LocalSize and LocalSizeId
        # (SPIR-V specification, BuiltIn WorkgroupSize).
        ids = None
        for cid, (op, operands) in self.constants.items():
            builtin = self.decorations.get(cid, {}).get(_DEC_BUILTIN)
            if op in (_OP_CONSTANT_COMPOSITE, _OP_SPEC_CONSTANT_COMPOSITE) and \
                    builtin and builtin[0] == _BUILTIN_WORKGROUP_SIZE:
                ids = operands[1:]
        if ids is None:
            ids = self.local_sizes.get((entry, _MODE_LOCAL_SIZE_ID))
        if ids is None:
            # LocalSize has three operands (x, y, z)
            size = cast("tuple[int, int, int]", self.local_sizes.get((entry, _MODE_LOCAL_SIZE), (1, 1, 1)))
            return size, (None, None, None)
        if len(ids) != 3:
            raise ShaderError(f"WorkgroupSize has {len(ids)} components, expected 3")
        x, y, z = ids
        return ((int(self._scalar(x)[2]), int(self._scalar(y)[2]), int(self._scalar(z)[2])),
                (self._spec_id(x), self._spec_id(y), self._spec_id(z)))

    def _spec_id(self, cid: int) -> int | None:
        value = self.decorations.get(cid, {}).get(_DEC_SPEC_ID)
        return value[0] if value else None

    def _scalar(self, cid: int) -> tuple[str, int, SpecValue]:
        """Kind, width and value of a scalar (spec) constant."""
        if cid not in self.constants:
            raise ShaderError(f"%{cid} is used as a constant but is not one")
        op, operands = self.constants[cid]
        if op in (_OP_CONSTANT_TRUE, _OP_SPEC_CONSTANT_TRUE):
            return "bool", 32, True
        if op in (_OP_CONSTANT_FALSE, _OP_SPEC_CONSTANT_FALSE):
            return "bool", 32, False
        if op not in (_OP_CONSTANT, _OP_SPEC_CONSTANT):
            raise ShaderError(f"constant %{cid} is not a scalar")
        type_ = self.types.get(operands[0])
        if type_ is None or type_[0] not in (_OP_TYPE_INT, _OP_TYPE_FLOAT):
            raise ShaderError(f"constant %{cid} does not have a scalar numeric type")
        width = type_[1]
        literal = operands[1:]
        nwords = (width + 31) // 32
        if width not in (8, 16, 32, 64) or len(literal) != nwords:
            raise ShaderError(f"constant %{cid} has {len(literal)} literal words for width {width}")
        # Multi-word literals are stored low-order word first; narrow ones are
        # sign- or zero-extended to 32 bits, so only the low ``width`` bits count.
        bits = sum(word << (32 * k) for k, word in enumerate(literal)) & ((1 << width) - 1)
        kind = _scalar_kind(type_)[0]
        if kind == "float":
            if width == 8:
                raise ShaderError(f"constant %{cid} is an 8-bit float, which SPIR-V lacks")
            fmt = {16: "<e", 32: "<f", 64: "<d"}[width]
            return "float", width, struct.unpack(fmt, bits.to_bytes(width // 8, "little"))[0]
        if kind == "int":
            return "int", width, bits - (1 << width) if bits >> (width - 1) else bits
        return "uint", width, bits

    def _spec_constants(self) -> tuple[SpecConstant, ...]:
        found = []
        for cid, (op, _) in self.constants.items():
            if op in (_OP_SPEC_CONSTANT, _OP_SPEC_CONSTANT_TRUE, _OP_SPEC_CONSTANT_FALSE):
                spec_id = self._spec_id(cid)
                if spec_id is not None:
                    kind, width, value = self._scalar(cid)
                    found.append(SpecConstant(spec_id, kind, width, self.names.get(cid, ""), value))
        return tuple(sorted(found, key=lambda s: s.id))

    def _type_of(self, tid: int) -> tuple[int, ...]:
        type_ = self.types.get(tid)
        if type_ is None:
            raise ShaderError(f"%{tid} is used as a type but is not declared as one")
        return type_

    def _pointee(self, pointer_type: int) -> tuple[int, tuple[int, ...]]:
        pointer = self._type_of(pointer_type)
        if pointer[0] != _OP_TYPE_POINTER:
            raise ShaderError(f"variable type %{pointer_type} is not a pointer")
        return pointer[2], self._type_of(pointer[2])

    def _strip_arrays(self, tid: int) -> tuple[int, tuple[int, ...]]:
        """Element type of a descriptor array (``buffer B {...} b[4]``)."""
        type_ = self._type_of(tid)
        while type_[0] in (_OP_TYPE_ARRAY, _OP_TYPE_RUNTIME_ARRAY):
            tid = type_[1]
            type_ = self._type_of(tid)
        return tid, type_

    def _bindings(self) -> tuple[Binding, ...]:
        by_slot: dict[tuple[int, int], Binding] = {}
        for pointer_type, vid, storage in self.variables:
            if storage not in (_SC_UNIFORM_CONSTANT, _SC_UNIFORM, _SC_STORAGE_BUFFER):
                continue
            tid, type_ = self._strip_arrays(self._pointee(pointer_type)[0])
            decorations = self.decorations.get(vid, {})
            kind = self._descriptor_kind(storage, tid, type_)
            if kind is None:
                continue
            slot_number = decorations.get(_DEC_BINDING)
            if not slot_number:
                raise ShaderError(f"resource variable %{vid} ({self.names.get(vid, '')!r}) "
                                  f"has no Binding decoration")
            set_ = decorations.get(_DEC_DESCRIPTOR_SET) or (0,)
            binding = self._binding(set_[0], slot_number[0], kind, vid, tid, type_)
            slot = (binding.set, binding.binding)
            other = by_slot.get(slot)
            by_slot[slot] = binding if other is None else _merge_aliases(other, binding)
        return tuple(by_slot[slot] for slot in sorted(by_slot))

    def _descriptor_kind(self, storage: int, tid: int, type_: tuple[int, ...]) -> str | None:
        if storage == _SC_STORAGE_BUFFER:
            return "storage_buffer"
        if storage == _SC_UNIFORM:
            if type_[0] != _OP_TYPE_STRUCT:
                raise ShaderError(f"Uniform variable of type %{tid} is not a block")
            if _DEC_BUFFER_BLOCK in self.decorations.get(tid, {}):
                return "storage_buffer"
            return "uniform_buffer"
        op = type_[0]
        if op == _OP_TYPE_SAMPLER:
            return "sampler"
        if op == _OP_TYPE_SAMPLED_IMAGE:
            # GLSL's samplerBuffer is a sampled image of a buffer, which Vulkan
            # binds as a uniform texel buffer.
            image = self._type_of(type_[1])
            if image[0] == _OP_TYPE_IMAGE and image[2] == _DIM_BUFFER:
                return "uniform_texel_buffer"
            return "combined_image_sampler"
        if op == _OP_TYPE_IMAGE:
            # Operands: sampled type, Dim, Depth, Arrayed, MS, Sampled, format.
            dim, sampled = type_[2], type_[6]
            if dim == _DIM_BUFFER:
                return "uniform_texel_buffer" if sampled == 1 else "storage_texel_buffer"
            return "sampled_image" if sampled == 1 else "storage_image"
        # Other UniformConstant objects (acceleration structures...) are not
        # descriptors kp binds.
        return None

    def _binding(self, set_: int, slot: int, kind: str, vid: int, tid: int,
                 type_: tuple[int, ...]) -> Binding:
        name = self.names.get(vid) or self.names.get(tid, "")
        element_size = element_scalar = None
        readonly = kind in ("uniform_buffer", "sampled_image", "combined_image_sampler",
                            "sampler", "uniform_texel_buffer")
        if _DEC_NON_WRITABLE in self.decorations.get(vid, {}):
            readonly = True
        if kind == "storage_buffer":
            members = type_[1:]
            if members:
                last = self._type_of(members[-1])
                if last[0] == _OP_TYPE_RUNTIME_ARRAY:
                    stride = self.decorations.get(members[-1], {}).get(_DEC_ARRAY_STRIDE)
                    element_size = stride[0] if stride else None
                    element_scalar = self._element_scalar(last[1])
                readonly = readonly or all(
                    _DEC_NON_WRITABLE in self.member_decorations.get((tid, m), {})
                    for m in range(len(members)))
        image_format = image_dim = None
        if type_[0] == _OP_TYPE_IMAGE:
            element_scalar = self._element_scalar(type_[1])
            image_dim = _DIMS.get(type_[2], f"Dim{type_[2]}")
            image_format = _IMAGE_FORMATS.get(type_[7], f"ImageFormat{type_[7]}")
        return Binding(set_, slot, kind, name, element_size, readonly, element_scalar, image_format, image_dim)

    def _element_scalar(self, tid: int) -> tuple[str, int] | None:
        """The scalar type a scalar, vector, matrix or array type is made of;
        None for a struct (or anything else)."""
        type_ = self._type_of(tid)
        while type_[0] in (_OP_TYPE_VECTOR, _OP_TYPE_MATRIX, _OP_TYPE_ARRAY, _OP_TYPE_RUNTIME_ARRAY):
            type_ = self._type_of(type_[1])
        if type_[0] in (_OP_TYPE_BOOL, _OP_TYPE_INT, _OP_TYPE_FLOAT):
            return _scalar_kind(type_)
        return None

    def _push_constant_size(self) -> int:
        size = 0
        for pointer_type, _, storage in self.variables:
            if storage == _SC_PUSH_CONSTANT:
                tid, type_ = self._pointee(pointer_type)
                size = max(size, self._size(tid, type_, None, False))
        return size

    def _size(self, tid: int, type_: tuple[int, ...], matrix_stride: int | None,
              row_major: bool) -> int:
        """Bytes an explicitly laid-out type occupies, as Vulkan counts a
        push-constant range: arrays are stride * length, matrices stride *
        vectors (the convention of SPIRV-Cross)."""
        op = type_[0]
        if op in (_OP_TYPE_INT, _OP_TYPE_FLOAT):
            return type_[1] // 8
        if op == _OP_TYPE_BOOL:
            return 4
        if op == _OP_TYPE_VECTOR:
            return type_[2] * self._size(type_[1], self._type_of(type_[1]), None, False)
        if op == _OP_TYPE_MATRIX:
            column, column_stride = self._matrix_column(tid, type_, matrix_stride)
            return column_stride * (column[2] if row_major else type_[2])
        if op == _OP_TYPE_ARRAY:
            return self._array_stride(tid) * int(self._scalar(type_[2])[2])
        if op == _OP_TYPE_STRUCT:
            size = 0
            for index, member in enumerate(type_[1:]):
                offset, stride, member_row_major = self._member_layout(tid, index)
                member_size = self._size(member, self._type_of(member), stride, member_row_major)
                size = max(size, offset + member_size)
            return size
        if op == _OP_TYPE_POINTER and type_[1] == _SC_PHYSICAL_STORAGE_BUFFER:
            return 8
        raise ShaderError(f"type %{tid} (opcode {op}) has no size in an explicit layout")

    def _matrix_column(self, tid: int, type_: tuple[int, ...],
                       matrix_stride: int | None) -> tuple[tuple[int, ...], int]:
        """The column type of matrix ``tid`` and its matrix stride (which it must have)."""
        if matrix_stride is None:
            raise ShaderError(f"matrix %{tid} in an explicit layout has no MatrixStride")
        column = self._type_of(type_[1])
        if column[0] != _OP_TYPE_VECTOR:
            raise ShaderError(f"matrix %{tid} has a column type that is not a vector")
        return column, matrix_stride

    def _array_stride(self, tid: int) -> int:
        stride = self.decorations.get(tid, {}).get(_DEC_ARRAY_STRIDE)
        if not stride:
            raise ShaderError(f"array %{tid} in an explicit layout has no ArrayStride")
        return stride[0]

    def _member_layout(self, tid: int, index: int) -> tuple[int, int | None, bool]:
        """Offset, matrix stride and row-majorness of member ``index`` of struct ``tid``."""
        decorations = self.member_decorations.get((tid, index), {})
        offset = decorations.get(_DEC_OFFSET)
        if not offset:
            raise ShaderError(f"member {index} of struct %{tid} has no Offset")
        stride = decorations.get(_DEC_MATRIX_STRIDE)
        return offset[0], stride[0] if stride else None, _DEC_ROW_MAJOR in decorations

    def _push_constants(self) -> tuple[PushConstant, ...]:
        scalars: list[PushConstant] = []
        for pointer_type, _, storage in self.variables:
            if storage == _SC_PUSH_CONSTANT:
                tid, type_ = self._pointee(pointer_type)
                found = self._scalars(tid, type_, "", 0, None, False)
                scalars.extend(itertools.islice(found, _MAX_PUSH_SCALARS + 1 - len(scalars)))
                if len(scalars) > _MAX_PUSH_SCALARS:
                    raise ShaderError(f"the push-constant block has more than {_MAX_PUSH_SCALARS} scalars, "
                                      f"more than any device takes")
        return tuple(scalars)

    def _scalars(self, tid: int, type_: tuple[int, ...], name: str, offset: int,
                 matrix_stride: int | None, row_major: bool) -> Iterator[PushConstant]:
        """The scalars of an explicitly laid-out type, in declaration order
        (matrices column by column, as GLSL indexes them)."""
        op = type_[0]
        if op in (_OP_TYPE_BOOL, _OP_TYPE_INT, _OP_TYPE_FLOAT):
            yield PushConstant(name, offset, *_scalar_kind(type_))
        elif op == _OP_TYPE_VECTOR:
            component = self._type_of(type_[1])
            step = self._size(type_[1], component, None, False)
            for i in range(type_[2]):
                yield from self._scalars(type_[1], component, f"{name}[{i}]", offset + i * step, None, False)
        elif op == _OP_TYPE_MATRIX:
            column, column_stride = self._matrix_column(tid, type_, matrix_stride)
            component = self._type_of(column[1])
            step = self._size(column[1], component, None, False)
            for c, r in itertools.product(range(type_[2]), range(column[2])):
                at = offset + (r * column_stride + c * step if row_major else c * column_stride + r * step)
                yield from self._scalars(column[1], component, f"{name}[{c}][{r}]", at, None, False)
        elif op == _OP_TYPE_ARRAY:
            stride, element = self._array_stride(tid), self._type_of(type_[1])
            for i in range(int(self._scalar(type_[2])[2])):
                yield from self._scalars(type_[1], element, f"{name}[{i}]", offset + i * stride,
                                         matrix_stride, row_major)
        elif op == _OP_TYPE_STRUCT:
            for index, member in enumerate(type_[1:]):
                member_offset, member_stride, member_row_major = self._member_layout(tid, index)
                member_name = self.member_names.get((tid, index)) or f"member{index}"
                yield from self._scalars(member, self._type_of(member),
                                         f"{name}.{member_name}" if name else member_name,
                                         offset + member_offset, member_stride, member_row_major)
        elif op == _OP_TYPE_POINTER and type_[1] == _SC_PHYSICAL_STORAGE_BUFFER:
            yield PushConstant(name, offset, "uint", 64)  # a buffer device address
        else:
            raise ShaderError(f"type %{tid} (opcode {op}) has no size in an explicit layout")

    def _workgroup_memory(self) -> tuple[SizeTerms, ...]:
        variables = []
        for pointer_type, _, storage in self.variables:
            if storage == _SC_WORKGROUP:
                tid, type_ = self._pointee(pointer_type)
                variables.append((_DEC_BLOCK in self.decorations.get(tid, {}), self._packed_size(tid, type_)))
        if not variables:
            return ()
        if any(block for block, _ in variables):
            # Explicitly laid-out blocks (WorkgroupMemoryExplicitLayoutKHR) alias one another.
            return tuple(terms for _, terms in variables)
        return (_combine(term for _, terms in variables for term in terms),)

    def _packed_size(self, tid: int, type_: tuple[int, ...]) -> SizeTerms:
        """Bytes of a type packed without padding, bools as 4 bytes; an array whose
        length is computed from spec constants (OpSpecConstantOp) counts as empty."""
        op = type_[0]
        if op in (_OP_TYPE_INT, _OP_TYPE_FLOAT):
            return ((type_[1] // 8, ()),)
        if op == _OP_TYPE_BOOL:
            return ((4, ()),)
        if op == _OP_TYPE_POINTER:
            return ((8, ()),)
        if op in (_OP_TYPE_VECTOR, _OP_TYPE_MATRIX, _OP_TYPE_ARRAY):
            element = self._packed_size(type_[1], self._type_of(type_[1]))
            if op != _OP_TYPE_ARRAY:
                return tuple((size * type_[2], ids) for size, ids in element)
            length = type_[2]
            if length not in self.constants:
                return ()
            if self.constants[length][0] == _OP_SPEC_CONSTANT and (spec_id := self._spec_id(length)) is not None:
                return _combine((size, (*ids, spec_id)) for size, ids in element)
            count = int(self._scalar(length)[2])
            return tuple((size * count, ids) for size, ids in element)
        if op == _OP_TYPE_STRUCT:
            return _combine(term for member in type_[1:] for term in self._packed_size(member, self._type_of(member)))
        return ()


def _scalar_kind(type_: tuple[int, ...]) -> tuple[str, int]:
    """Kind and width in bits of an OpTypeBool, OpTypeInt or OpTypeFloat."""
    if type_[0] == _OP_TYPE_BOOL:
        return "bool", 32
    if type_[0] == _OP_TYPE_FLOAT:
        return "float", type_[1]
    return ("int" if type_[2] else "uint"), type_[1]


def _combine(terms: Iterable[tuple[int, tuple[int, ...]]]) -> SizeTerms:
    """Size terms with equal constant ids added up (a struct of many members
    stays a handful of terms)."""
    combined: dict[tuple[int, ...], int] = {}
    for size, ids in terms:
        key = tuple(sorted(ids))
        combined[key] = combined.get(key, 0) + size
    return tuple((size, ids) for ids, size in combined.items())


def _merge_aliases(first: Binding, second: Binding) -> Binding:
    """One descriptor seen through several variables (``vec4[]`` and ``float[]``
    views of one buffer): it is read-only only if every view is, its element
    size is the finest view's, and its element scalar type the one all views
    share (None if they differ)."""
    if first.kind != second.kind:
        raise ShaderError(
            f"set {first.set} binding {first.binding} is declared both as "
            f"{first.kind} ({first.name!r}) and {second.kind} ({second.name!r})")
    finer = second if (second.element_size or 1 << 62) < (first.element_size or 1 << 62) else first
    scalar = first.element_scalar if first.element_scalar == second.element_scalar else None
    image_format = first.image_format if first.image_format == second.image_format else None
    return Binding(first.set, first.binding, first.kind, finer.name, finer.element_size,
                   first.readonly and second.readonly, scalar, image_format, first.image_dim)
