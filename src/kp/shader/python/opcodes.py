"""The numbers of SPIR-V (version 1.3) that the back end emits, from the SPIR-V
specification's grammar, grouped by the enumeration they belong to."""

MAGIC = 0x07230203
VERSION_1_3 = 0x00010300


class Op:
    Name = 5
    String = 7
    Extension = 10
    ExtInstImport = 11
    ExtInst = 12
    MemoryModel = 14
    EntryPoint = 15
    ExecutionMode = 16
    Capability = 17
    TypeVoid = 19
    TypeBool = 20
    TypeInt = 21
    TypeFloat = 22
    TypeVector = 23
    TypeMatrix = 24
    TypeImage = 25
    TypeArray = 28
    TypeRuntimeArray = 29
    TypeStruct = 30
    TypePointer = 32
    TypeFunction = 33
    ConstantTrue = 41
    ConstantFalse = 42
    Constant = 43
    ConstantComposite = 44
    ConstantNull = 46
    SpecConstantTrue = 48
    SpecConstantFalse = 49
    SpecConstant = 50
    SpecConstantComposite = 51
    Function = 54
    FunctionParameter = 55
    FunctionEnd = 56
    FunctionCall = 57
    Variable = 59
    Load = 61
    Store = 62
    AccessChain = 65
    ArrayLength = 68
    Decorate = 71
    MemberDecorate = 72
    VectorExtractDynamic = 77
    VectorShuffle = 79
    CompositeConstruct = 80
    CompositeExtract = 81
    CompositeInsert = 82
    Transpose = 84
    ImageRead = 98
    ImageWrite = 99
    ConvertFToU = 109
    ConvertFToS = 110
    ConvertSToF = 111
    ConvertUToF = 112
    UConvert = 113
    SConvert = 114
    FConvert = 115
    Bitcast = 124
    SNegate = 126
    FNegate = 127
    IAdd = 128
    FAdd = 129
    ISub = 130
    FSub = 131
    IMul = 132
    FMul = 133
    UDiv = 134
    SDiv = 135
    FDiv = 136
    UMod = 137
    SRem = 138
    FRem = 140
    FMod = 141
    VectorTimesMatrix = 144
    MatrixTimesScalar = 143
    MatrixTimesVector = 145
    MatrixTimesMatrix = 146
    Dot = 148
    Any = 154
    All = 155
    IsNan = 156
    IsInf = 157
    LogicalEqual = 164
    LogicalNotEqual = 165
    LogicalOr = 166
    LogicalAnd = 167
    LogicalNot = 168
    Select = 169
    IEqual = 170
    INotEqual = 171
    UGreaterThan = 172
    SGreaterThan = 173
    UGreaterThanEqual = 174
    SGreaterThanEqual = 175
    ULessThan = 176
    SLessThan = 177
    ULessThanEqual = 178
    SLessThanEqual = 179
    FOrdEqual = 180
    FOrdNotEqual = 182
    FUnordNotEqual = 183
    FOrdLessThan = 184
    FOrdGreaterThan = 186
    FOrdLessThanEqual = 188
    FOrdGreaterThanEqual = 190
    ShiftRightLogical = 194
    ShiftRightArithmetic = 195
    ShiftLeftLogical = 196
    BitwiseOr = 197
    BitwiseXor = 198
    BitwiseAnd = 199
    Not = 200
    ControlBarrier = 224
    AtomicExchange = 229
    AtomicCompareExchange = 230
    AtomicIAdd = 234
    AtomicISub = 235
    AtomicSMin = 236
    AtomicUMin = 237
    AtomicSMax = 238
    AtomicUMax = 239
    AtomicAnd = 240
    AtomicOr = 241
    AtomicXor = 242
    AtomicFMinEXT = 5614
    AtomicFMaxEXT = 5615
    AtomicFAddEXT = 6035
    TypeCooperativeMatrixKHR = 4456
    CooperativeMatrixLoadKHR = 4457
    CooperativeMatrixStoreKHR = 4458
    CooperativeMatrixMulAddKHR = 4459
    Phi = 245
    GroupNonUniformElect = 333
    GroupNonUniformAll = 334
    GroupNonUniformAny = 335
    GroupNonUniformAllEqual = 336
    GroupNonUniformBroadcast = 337
    GroupNonUniformBroadcastFirst = 338
    GroupNonUniformBallot = 339
    GroupNonUniformShuffle = 345
    GroupNonUniformShuffleXor = 346
    GroupNonUniformShuffleUp = 347
    GroupNonUniformShuffleDown = 348
    GroupNonUniformIAdd = 349
    GroupNonUniformFAdd = 350
    GroupNonUniformIMul = 351
    GroupNonUniformFMul = 352
    GroupNonUniformSMin = 353
    GroupNonUniformUMin = 354
    GroupNonUniformFMin = 355
    GroupNonUniformSMax = 356
    GroupNonUniformUMax = 357
    GroupNonUniformFMax = 358
    GroupNonUniformBitwiseAnd = 359
    GroupNonUniformBitwiseOr = 360
    GroupNonUniformBitwiseXor = 361
    GroupNonUniformLogicalAnd = 362
    GroupNonUniformLogicalOr = 363
    GroupNonUniformLogicalXor = 364
    LoopMerge = 246
    SelectionMerge = 247
    Label = 248
    Branch = 249
    BranchConditional = 250
    Return = 253
    ReturnValue = 254


class Capability:
    Shader = 1
    Float16 = 9
    Float64 = 10
    Int64 = 11
    StorageImageExtendedFormats = 49
    GroupNonUniform = 61
    GroupNonUniformVote = 62
    GroupNonUniformArithmetic = 63
    GroupNonUniformBallot = 64
    GroupNonUniformShuffle = 65
    GroupNonUniformShuffleRelative = 66
    StorageBuffer16BitAccess = 4433
    StoragePushConstant16 = 4435
    AtomicFloat32MinMaxEXT = 5612
    AtomicFloat64MinMaxEXT = 5613
    VulkanMemoryModel = 5345
    CooperativeMatrixKHR = 6022
    AtomicFloat32AddEXT = 6033
    AtomicFloat64AddEXT = 6034


class CooperativeMatrixLayout:
    RowMajorKHR = 0
    ColumnMajorKHR = 1


# CooperativeMatrixOperands: which operands of OpCooperativeMatrixMulAddKHR are signed.
COOPERATIVE_MATRIX_SIGNED = {"a": 0x1, "b": 0x2, "accumulator": 0x4, "result": 0x8}


class StorageClass:
    UniformConstant = 0
    Input = 1
    Workgroup = 4
    Function = 7
    PushConstant = 9
    StorageBuffer = 12


class Decoration:
    SpecId = 1
    Block = 2
    ArrayStride = 6
    BuiltIn = 11
    Binding = 33
    DescriptorSet = 34
    Offset = 35


BUILTIN = {
    "NumWorkgroups": 24,
    "WorkgroupSize": 25,
    "WorkgroupId": 26,
    "LocalInvocationId": 27,
    "GlobalInvocationId": 28,
    "LocalInvocationIndex": 29,
    "SubgroupSize": 36,
    "NumSubgroups": 38,
    "SubgroupId": 40,
    "SubgroupInvocationId": 41,  # SubgroupLocalInvocationId
}

# The capability the subgroup built-ins need.
SUBGROUP_BUILTINS = frozenset({"SubgroupSize", "NumSubgroups", "SubgroupId", "SubgroupInvocationId"})


class Scope:
    Device = 1
    Workgroup = 2
    Subgroup = 3


class GroupOperation:
    Reduce = 0
    InclusiveScan = 1
    ExclusiveScan = 2


class MemorySemantics:
    Relaxed = 0
    AcquireRelease = 0x8
    UniformMemory = 0x40
    WorkgroupMemory = 0x100


ADDRESSING_LOGICAL = 0
MEMORY_MODEL_GLSL450 = 1
MEMORY_MODEL_VULKAN = 3
EXECUTION_MODEL_GLCOMPUTE = 5
EXECUTION_MODE_LOCAL_SIZE = 17
