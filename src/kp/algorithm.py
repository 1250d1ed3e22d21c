"""Algorithms: a shader bound to tensors, with its workgroup count and constants.

Everything about the shader's interface is read from its SPIR-V first, so a
mismatch with the given tensors or constants is a clear ``kp`` error instead of
undefined behaviour in the driver.
"""

from __future__ import annotations

import itertools
import math
import re
import struct
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .errors import DataTypeError, DestroyedError, InvalidArgumentError, ShaderError
from .image import Image
from .log import logger
from .memory import Memory
from .shader.glsl import as_spirv
from .shader.spirv import (
    AUTO_GLOBAL_SIZE_IDS, AUTO_LOCAL_SIZE_IDS, AUTO_ROW_WIDTH_ID, Binding, CooperativeMatrix, PushConstant,
    ShaderInfo, SpecConstant, SpecValue, reflect,
)
from .shader.validate import validate
from .tensor import Tensor, as_host_array
from . import vk
from .vk import ComputePipeline
from .vk.instance import FEATURE_EXTENSIONS, feature_source

if TYPE_CHECKING:
    from .context import DeviceContext
    from .vk import Device

# SPIR-V capabilities a device must support through the named feature.
CAPABILITY_FEATURES = {
    "Float64": "shaderFloat64", "Int64": "shaderInt64", "Int16": "shaderInt16", "Float16": "shaderFloat16",
    "Int8": "shaderInt8", "StorageBuffer16BitAccess": "storageBuffer16BitAccess",
    "StorageBuffer8BitAccess": "storageBuffer8BitAccess", "Int64Atomics": "shaderBufferInt64Atomics",
    "VulkanMemoryModel": "vulkanMemoryModel",
    # Float atomics on buffers (the shared-memory features are separate, and
    # rarely missing where the buffer ones exist).
    "AtomicFloat32AddEXT": "shaderBufferFloat32AtomicAdd", "AtomicFloat64AddEXT": "shaderBufferFloat64AtomicAdd",
    "AtomicFloat16AddEXT": "shaderBufferFloat16AtomicAdd", "AtomicFloat16MinMaxEXT": "shaderBufferFloat16AtomicMinMax",
    "AtomicFloat32MinMaxEXT": "shaderBufferFloat32AtomicMinMax",
    "AtomicFloat64MinMaxEXT": "shaderBufferFloat64AtomicMinMax",
    # 8- and 16-bit and two-channel image formats, and images without a format qualifier
    "StorageImageExtendedFormats": "shaderStorageImageExtendedFormats",
    "StorageImageReadWithoutFormat": "shaderStorageImageReadWithoutFormat",
    "StorageImageWriteWithoutFormat": "shaderStorageImageWriteWithoutFormat",
    "UniformAndStorageBuffer16BitAccess": "uniformAndStorageBuffer16BitAccess",
    "UniformAndStorageBuffer8BitAccess": "uniformAndStorageBuffer8BitAccess",
    "VulkanMemoryModelDeviceScope": "vulkanMemoryModelDeviceScope",
    # tensor cores: cooperative matrices (KHR, NV, and NV's second extension) and bfloat16
    "CooperativeMatrixKHR": "cooperativeMatrix", "CooperativeMatrixNV": "cooperativeMatrixNV",
    "CooperativeMatrixReductionsNV": "cooperativeMatrixReductions",
    "CooperativeMatrixConversionsNV": "cooperativeMatrixConversions",
    "CooperativeMatrixPerElementOperationsNV": "cooperativeMatrixPerElementOperations",
    "CooperativeMatrixTensorAddressingNV": "cooperativeMatrixTensorAddressing",
    "CooperativeMatrixBlockLoadsNV": "cooperativeMatrixBlockLoads",
    "TensorAddressingNV": "cooperativeMatrixTensorAddressing",
    "BFloat16TypeKHR": "shaderBFloat16Type", "BFloat16DotProductKHR": "shaderBFloat16DotProduct",
    "BFloat16CooperativeMatrixKHR": "shaderBFloat16CooperativeMatrix",
}

# SPIR-V capabilities of subgroup operations, by the device's name for the operations
# (VkPhysicalDeviceSubgroupProperties.supportedOperations).
CAPABILITY_SUBGROUP_OPERATIONS = {
    "GroupNonUniform": "basic", "GroupNonUniformVote": "vote", "GroupNonUniformArithmetic": "arithmetic",
    "GroupNonUniformBallot": "ballot", "GroupNonUniformShuffle": "shuffle",
    "GroupNonUniformShuffleRelative": "shuffle_relative", "GroupNonUniformClustered": "clustered",
    "GroupNonUniformQuad": "quad",
}

_SPEC_DTYPES = {("float", 32): np.float32, ("float", 64): np.float64, ("float", 16): np.float16,
                ("int", 32): np.int32, ("int", 64): np.int64, ("uint", 32): np.uint32, ("uint", 64): np.uint64,
                ("bool", 32): np.uint32, ("int", 16): np.int16, ("uint", 16): np.uint16,
                ("int", 8): np.int8, ("uint", 8): np.uint8}


# struct formats of the scalars a push-constant block holds (a bool is a VkBool32)
_PUSH_FORMATS = {("float", 16): "e", ("float", 32): "f", ("float", 64): "d", ("bool", 32): "I",
                 ("int", 8): "b", ("int", 16): "h", ("int", 32): "i", ("int", 64): "q",
                 ("uint", 8): "B", ("uint", 16): "H", ("uint", 32): "I", ("uint", 64): "Q"}

_DTYPE_KINDS = {"f": "float", "i": "int", "u": "uint"}


def unlisted_cooperative_matrix(matrices: Sequence[CooperativeMatrix],
                                configurations: Sequence[dict[str, Any]]) -> CooperativeMatrix | None:
    """The first of a shader's cooperative-matrix types that none of a device's
    ``configurations`` (``kp.list_devices()[i]["cooperative_matrices"]``) has, or
    None: an A matrix is M x K of the A type, a B matrix K x N of the B type, an
    accumulator M x N of the C or result type, at the configuration's scope."""
    def fits(m: CooperativeMatrix, c: dict[str, Any]) -> bool:
        if m.scope != c["scope"]:
            return False
        if m.use == "a":
            return (m.rows, m.cols, m.component) == (c["m"], c["k"], c["a_type"])
        if m.use == "b":
            return (m.rows, m.cols, m.component) == (c["k"], c["n"], c["b_type"])
        return (m.rows, m.cols) == (c["m"], c["n"]) and m.component in (c["c_type"], c["result_type"])
    return next((m for m in matrices if not any(fits(m, c) for c in configurations)), None)


def push_constants_bytes(values: Any, info: ShaderInfo) -> bytes:
    """Push constants for the shader ``info`` describes, as bytes.

    A list or tuple holds one number per scalar of the push-constant block, in
    declaration order; each is converted to its member's type and placed at its
    offset. A NumPy array or bytes are taken as they are (Kompute's way), and
    must have the block's size. Raises ``InvalidArgumentError`` naming what does
    not fit.
    """
    if isinstance(values, (list, tuple)):
        return _pack_push_constants(values, info.push_constants, info.push_constant_size)
    if values is None:
        values = b""
    if isinstance(values, (bytes, bytearray, memoryview)):
        size = memoryview(values).nbytes
    elif isinstance(values, (np.ndarray, np.generic)):
        size = np.asarray(values).nbytes
    else:
        raise InvalidArgumentError(f"push constants must be a list, a tuple, a NumPy array or bytes, "
                                   f"got {type(values).__name__}")
    if size != info.push_constant_size:  # (checked before a copy is made)
        raise InvalidArgumentError(f"the shader's push constants take {info.push_constant_size} bytes but "
                                   f"{size} bytes were given")
    if isinstance(values, (bytes, bytearray, memoryview)):
        return bytes(values)
    array = np.asarray(values)
    return as_host_array(array, array.dtype).tobytes() if array.size else b""


def _pack_push_constants(values: Sequence[Any], members: tuple[PushConstant, ...], size: int) -> bytes:
    if len(values) != len(members):
        declared = (f"{len(members)} values: " + ", ".join(f"{m.kind}{m.width} {m.name}" for m in members)
                    if members else "no values")
        given = "1 value was" if len(values) == 1 else f"{len(values)} values were"
        raise InvalidArgumentError(f"the shader's push constants take {size} bytes ({declared}) but {given} given")
    data = bytearray(size)
    for member, value in zip(members, values):
        what = f"push constant {member.name} ({member.kind}{member.width})"
        scalar = scalar_bytes(value, member.kind, member.width, what)
        data[member.offset:member.offset + len(scalar)] = scalar
    return bytes(data)


def scalar_bytes(value: Any, kind: str, width: int, what: str) -> bytes:
    """``value`` as a ``kind``/``width`` scalar of a shader (a bool as a VkBool32), in
    host byte order: what push and specialisation constants hold. Raises
    ``InvalidArgumentError`` naming ``what`` for anything but a number the type holds
    exactly (a float for an integer must be whole, a bool is 0 or 1; NaN and infinities
    only for floats)."""
    if not isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
        raise InvalidArgumentError(f"{what} needs a number, got {value!r}")
    if kind == "bool":
        if value not in (0, 1):  # (NaN is neither)
            raise InvalidArgumentError(f"{what} needs a bool (or 0 or 1), got {value!r}")
        value = bool(value)
    elif kind != "float":
        if isinstance(value, (float, np.floating)) and not float(value).is_integer():
            raise InvalidArgumentError(f"{what} needs a whole number, got {value!r}")
        value = int(value)
    try:
        return struct.pack("=" + _PUSH_FORMATS[kind, width], value)
    except (struct.error, OverflowError):
        raise InvalidArgumentError(f"{what} cannot hold {value!r}") from None


def _spec_values(info: ShaderInfo, spec: list[tuple[int, bytes]]) -> dict[int, SpecValue]:
    """The values of the specialised constants, by constant id."""
    declared = {c.id: c for c in info.spec_constants}
    return {i: np.frombuffer(data, dtype=_SPEC_DTYPES[declared[i].kind, declared[i].width])[0].item()
            for i, data in spec}


def _spec_entry(constant: SpecConstant, value: Any) -> tuple[int, bytes]:
    what = f"specialisation constant {constant.id} ({constant.name or 'unnamed'}, {constant.kind}{constant.width})"
    if (constant.kind, constant.width) not in _SPEC_DTYPES:
        raise ShaderError(f"{what} has an unsupported type")
    return constant.id, scalar_bytes(value, constant.kind, constant.width, what)


def _auto_size(info: ShaderInfo, requested: tuple[int, int, int], limit: Sequence[int]
               ) -> tuple[list[tuple[int, bytes]], tuple[int, int, int]]:
    """For a shader that leaves its local size to kp: the specialisation entries
    (the local size, 64 invocations within every Vulkan device's minimum limits; the
    global size asked for; the row width) and the workgroups to dispatch. Workgroups
    along x past the device's maxComputeWorkGroupCount are folded into rows along z
    where z is free, so any number of invocations runs on every device."""
    local = (4, 4, 4) if requested[2] > 1 else (8, 8, 1) if requested[1] > 1 else (64, 1, 1)
    groups = [-(-count // size) for count, size in zip(requested, local)]
    width = 0
    if groups[0] > limit[0] and groups[2] == 1 and AUTO_ROW_WIDTH_ID in {c.id for c in info.spec_constants}:
        groups[2] = -(-groups[0] // limit[0])
        groups[0] = -(-groups[0] // groups[2])
        width = groups[0] * local[0]
    # The kernel's index is 32-bit: past it, the global size asked for and the
    # folded rows' indices would wrap, running invocations twice or not at all.
    if max(requested) > 0xFFFFFFFF or groups[2] * width > 1 << 32:
        raise InvalidArgumentError(f"workgroup {requested} asks for more invocations than a kernel's 32-bit "
                                   f"index counts (fewer than 2**32 along each axis)")
    declared = {c.id: c for c in info.spec_constants}
    entries = [_spec_entry(declared[i], v) for i, v in zip((*AUTO_LOCAL_SIZE_IDS, *AUTO_GLOBAL_SIZE_IDS),
                                                           (*local, *requested))]
    if width:
        entries.append(_spec_entry(declared[AUTO_ROW_WIDTH_ID], width))
    return entries, (groups[0], groups[1], groups[2])


class Algorithm:
    """A compute shader with its tensors, workgroup count and constants, built into
    a pipeline once. Make it with ``mgr.algorithm(...)``.

    ``workgroup`` is the number of workgroups to dispatch, up to 3 integers. None
    or all zeros (Kompute's ``(0, 0, 0)``) means the default: enough workgroups of
    the shader's local size for one invocation per element of ``tensors[0]``.
    Otherwise x must be at least 1; a y or z of 0 means 1, as in Kompute. A
    negative number, or x of 0 with y or z given, raises ``InvalidArgumentError``.

    ``spec_consts[i]`` sets ``constant_id = i`` (converted to the type the shader
    declares). ``push_consts`` fill the shader's push-constant block: a list or
    tuple holds one number per scalar member, converted to the member's type
    (``[5, 7, 0.5]`` for ``{ int n; int m; float scale; }``); a NumPy array or
    bytes are sent as they are and must have the block's size.

    Each tensor must hold the scalar type of its binding's elements (a float32
    tensor for ``float x[]`` or ``vec4 x[]``); integers of the other signedness
    and the same width pass as raw bits, and a bool tensor is 8-bit integers.
    """

    DESTROY_ORDER = 1  # a device's destroy() destroys sequences, then algorithms, then memory

    def __init__(self, manager: "DeviceContext", tensors: Sequence[Memory] = (), spirv: Any = b"",
                 workgroup: Sequence[int] | None = None, spec_consts: Any = (), push_consts: Any = (),
                 *, implicit_spec_consts: bool = False):
        self._manager = manager
        self._tensors: list[Memory] = _tensor_list(tensors)
        self._pipeline: ComputePipeline | None = None
        self._info: ShaderInfo | None = None
        self._push = b""
        self._groups = self._given = (1, 1, 1)
        self._destroyed = False
        manager.adopt(self)
        if self._tensors and _given(spirv):
            self.rebuild(self._tensors, spirv, workgroup, spec_consts, push_consts,
                         implicit_spec_consts=implicit_spec_consts)

    def rebuild(self, tensors: Sequence[Memory], spirv: Any, workgroup: Sequence[int] | None = None,
                spec_consts: Any = (), push_consts: Any = (), *, implicit_spec_consts: bool = False) -> None:
        """(Re)build the pipeline for these tensors and this shader."""
        if self._destroyed:
            raise DestroyedError("algorithm was destroyed")
        tensors = _tensor_list(tensors)
        device = self._manager.live_vk_device()
        for tensor in tensors:
            tensor.check_usable(self._manager)
        code = as_spirv(spirv)
        info = reflect(code)
        if isinstance(spirv, (bytes, bytearray, memoryview, np.ndarray)):
            # a binary from outside kp (GLSL and python2shader output is kp's own
            # compilers' and valid): a broken module could crash the driver
            validate(code)
        self._check_interface(info, tensors, device)
        spec = self._spec_entries(info, tensors, spec_consts, implicit_spec_consts)
        limit = device.physical.properties["max_work_group_count"]
        requested = None
        if {c.id for c in info.spec_constants}.issuperset(AUTO_GLOBAL_SIZE_IDS):
            # The shader leaves its local size to kp: workgroup counts invocations.
            requested = self._workgroup(workgroup, tensors, (1, 1, 1), None)
            entries, workgroup = _auto_size(info, requested, limit)
            spec += entries
        spec_values = _spec_values(info, spec)
        push_limit = device.physical.properties["max_push_constants_size"]
        if info.push_constant_size > push_limit:
            raise InvalidArgumentError(f"the shader's push constants take {info.push_constant_size} bytes but "
                                       f"{device.physical.properties['device_name']} allows at most {push_limit} "
                                       f"(maxPushConstantsSize)")
        push = push_constants_bytes(push_consts, info)
        local_size = self._local_size(info, spec_values, device)
        self._check_shared_memory(info, spec_values, device)
        groups = self._workgroup(workgroup, tensors, local_size, limit)
        kinds = ["storage_image" if isinstance(t, Image) else "storage_buffer" for t in tensors]
        pipeline = ComputePipeline(device, code, kinds, len(push), spec, info.entry_point)
        # Bound under the device lock, after checking again: another thread may have
        # destroyed a tensor since (destroy() retires under the same lock).
        with device.lock:
            try:
                for tensor in tensors:
                    tensor.check_usable(self._manager)
            except DestroyedError:
                # no drain under the device lock: a thread draining may wait for it
                pipeline.release_later()
                raise
            # a tensor's own size: the shader's .length() counts the range, and an
            # allocation may be rounded up
            pipeline.bind([t.primary_allocation for t in tensors], [t.nbytes for t in tensors])
        # the previous pipeline lives on while a recorded dispatch still holds it
        self._pipeline, self._info, self._tensors, self._push, self._groups, self._given = (
            pipeline, info, tensors, push, groups, requested or groups)

    @staticmethod
    def _check_interface(info: ShaderInfo, tensors: list[Memory], device: "Device") -> None:
        for binding in info.bindings:
            if binding.set != 0 or binding.kind not in ("storage_buffer", "storage_image"):
                raise ShaderError(f"shader binding {binding.binding} of set {binding.set} ({binding.name or 'unnamed'}) "
                                  f"is a {binding.kind}; kp binds tensors as storage buffers and images as storage "
                                  f"images in set 0")
            if binding.binding >= len(tensors):
                raise InvalidArgumentError(f"the shader uses binding {binding.binding} but only {len(tensors)} "
                                           f"tensor(s) were given")
            given = tensors[binding.binding]
            if binding.kind == "storage_image":
                _check_image(binding, given)
            elif isinstance(given, Image):
                raise InvalidArgumentError(f"binding {binding.binding} ({binding.name or 'unnamed'}) is a storage "
                                           f"buffer in the shader, but an image was given for it: give a tensor")
            else:
                _check_element_type(binding, given)
        limit = device.physical.properties["max_storage_buffer_range"]
        for i, tensor in enumerate(tensors):
            if isinstance(tensor, Tensor) and tensor.nbytes > limit:
                raise InvalidArgumentError(f"tensor {i} holds {tensor.nbytes} bytes but a shader can bind at most "
                                           f"{limit} bytes (maxStorageBufferRange) on "
                                           f"{device.physical.properties['device_name']}")
        for capability in sorted(info.capabilities):
            feature = CAPABILITY_FEATURES.get(capability)
            # (kp enables every feature the device has, extensions' features included)
            if feature and not device.features.get(feature):
                source = feature_source(feature)
                raise ShaderError(f"the shader needs {capability} ({feature}{f' of {source}' if source else ''}), "
                                  f"{device.lacks(FEATURE_EXTENSIONS.get(feature))}")
            operation = CAPABILITY_SUBGROUP_OPERATIONS.get(capability)
            if operation and operation not in device.physical.properties["subgroup_operations"]:
                raise ShaderError(f"the shader needs {capability} (subgroup {operation} operations in compute "
                                  f"shaders), which {device.physical.properties['device_name']} does not support")
        Algorithm._check_cooperative_matrices(info, device)
        _check_printf_formats(info)

    @staticmethod
    def _check_cooperative_matrices(info: ShaderInfo, device: "Device") -> None:
        # VK_NV_cooperative_matrix2's flexible dimensions allow sizes beyond the list
        if not info.cooperative_matrices or device.features.get("cooperativeMatrixFlexibleDimensions"):
            return
        configurations = device.cooperative_matrices
        missing = unlisted_cooperative_matrix(info.cooperative_matrices, configurations)
        if missing is not None:
            listed = "; ".join(f"{c['m']}x{c['n']}x{c['k']} {c['a_type']} {c['b_type']} {c['c_type']} "
                               f"{c['result_type']} {c['scope']}" for c in configurations)
            raise ShaderError(f"the shader uses a {missing.rows} x {missing.cols} {missing.component} cooperative "
                              f"matrix as {missing.use} at {missing.scope} scope, which no cooperative-matrix "
                              f"configuration of {device.physical.properties['device_name']} has (M x N x K, A B C "
                              f"result types, scope: {listed or 'none'})")

    @staticmethod
    def _check_shared_memory(info: ShaderInfo, spec_values: dict[int, SpecValue], device: "Device") -> None:
        used = info.workgroup_memory_size(spec_values)
        limit = device.physical.properties["max_shared_memory_size"]
        if used > limit:
            raise InvalidArgumentError(f"the shader uses {used} bytes of shared memory but "
                                       f"{device.physical.properties['device_name']} allows at most {limit} "
                                       f"(maxComputeSharedMemorySize)")

    @staticmethod
    def _spec_entries(info: ShaderInfo, tensors: list[Memory], spec_consts: Any,
                      implicit: bool) -> list[tuple[int, bytes]]:
        declared = {c.id: c for c in info.spec_constants}
        if implicit:
            # The seed API's rule: constant_id i is the element count of tensor i.
            return [_spec_entry(declared[i], t.size()) for i, t in enumerate(tensors) if i in declared]
        if spec_consts is None:
            spec_consts = []
        if not isinstance(spec_consts, (list, tuple, np.ndarray)):
            raise InvalidArgumentError(f"spec_consts must be a list, a tuple or a NumPy array of numbers, "
                                       f"got {type(spec_consts).__name__}")
        count = spec_consts.size if isinstance(spec_consts, np.ndarray) else len(spec_consts)
        # (more values than declared ids leave one of the first len(declared) + 1 ids out)
        for i in range(min(count, len(declared) + 1)):
            if i not in declared:
                raise InvalidArgumentError(f"{count} specialisation constants given but the shader has no "
                                           f"constant_id {i} (it declares {sorted(declared) or 'none'})")
        # each value a number: scalar_bytes refuses a nested list
        values = list(spec_consts.reshape(-1)) if isinstance(spec_consts, np.ndarray) else list(spec_consts)
        return [_spec_entry(declared[i], value) for i, value in enumerate(values)]

    @staticmethod
    def _local_size(info: ShaderInfo, spec_values: dict[int, SpecValue], device: "Device") -> tuple[int, int, int]:
        size = list(info.local_size)
        for axis, spec_id in enumerate(info.local_size_spec_ids):
            if spec_id in spec_values:
                size[axis] = int(spec_values[spec_id])
        props = device.physical.properties
        if any(s < 1 or s > m for s, m in zip(size, props["max_work_group_size"])) or \
                math.prod(size) > props["max_work_group_invocations"]:
            raise InvalidArgumentError(f"the shader's local size {tuple(size)} exceeds the device's limits "
                                       f"(max size {props['max_work_group_size']}, "
                                       f"max invocations {props['max_work_group_invocations']})")
        return size[0], size[1], size[2]

    @staticmethod
    def _workgroup(workgroup: Sequence[int] | None, tensors: list[Memory], local_size: Sequence[int],
                   limit: Sequence[int] | None) -> tuple[int, int, int]:
        """The workgroup counts ``workgroup`` asks for, within the device's ``limit``
        (None: unchecked)."""
        try:  # (four values at most are taken: a huge array is refused without a copy)
            values = [] if workgroup is None else list(itertools.islice(workgroup, 4))
        except TypeError:  # not iterable
            values = []
        if workgroup is not None and (not 1 <= len(values) <= 3 or not all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values)):
            raise InvalidArgumentError(f"workgroup must be up to 3 integers, got {workgroup!r}")
        if not any(values):
            x = -(-tensors[0].size() // local_size[0]) if tensors else 1
            if limit and x > limit[0]:
                # Not split: no dispatch may reach the limit, vkCmdDispatchBase's base
                # included (VUID-vkCmdDispatchBase-baseGroupX-00421, -groupCountX-00424).
                raise InvalidArgumentError(
                    f"{tensors[0].size()} elements need {x} workgroups of {local_size[0]}, over the device's limit "
                    f"of {limit[0]} per dispatch (maxComputeWorkGroupCount): give the shader a larger local_size_x "
                    f"(and a bounds check), or give a workgroup explicitly and index in 2-D")
            return (x, 1, 1)
        values = [int(v) for v in values] + [0] * (3 - len(values))
        if values[0] == 0 or min(values) < 0:
            raise InvalidArgumentError(f"workgroup {tuple(values)} is invalid: x must be at least 1 and y, z "
                                       f"at least 0 (0 means 1); (0, 0, 0) or None means the default")
        groups = (values[0] or 1, values[1] or 1, values[2] or 1)
        for axis, (v, m) in enumerate(zip(groups, limit or groups)):
            if v > m:
                raise InvalidArgumentError(f"workgroup {groups}: component {axis} is {v}, over the "
                                           f"device's limit of {m}")
        return groups

    # -- used by operations --------------------------------------------------------------
    def check_usable(self, manager: "DeviceContext") -> None:
        """Raise unless the algorithm is built, alive and of ``manager``, with usable
        tensors; for kp's operations."""
        if self._destroyed or self._manager.vk_device is None:
            raise self._manager.gone_error("the algorithm")
        if manager is not self._manager:
            raise InvalidArgumentError("algorithm belongs to another kp.Manager")
        if self._pipeline is None:
            raise InvalidArgumentError("algorithm has no shader and tensors yet")
        for tensor in self._tensors:
            tensor.check_recordable(manager)

    @property
    def manager(self) -> "DeviceContext":
        """The manager the algorithm was made on; for kp's operations."""
        return self._manager

    @property
    def pipeline(self) -> ComputePipeline | None:
        """The compute pipeline of the last build, None before one; for kp's operations."""
        return self._pipeline

    @property
    def shader_info(self) -> ShaderInfo | None:
        """The shader's interface as reflected from its SPIR-V, None before a build; for
        kp's operations."""
        return self._info

    @property
    def push_constants(self) -> bytes:
        """The push constants dispatches without their own send, as bytes; for kp's operations."""
        return self._push

    def store_push_constants(self, push: bytes) -> None:
        """Make ``push`` (bytes already converted for this shader) what later dispatches
        without their own send, as Kompute's OpAlgoDispatch does; for kp's operations."""
        self._push = push

    # -- public API ----------------------------------------------------------------
    def get_mem_objects(self) -> list[Memory]:
        """The tensors and images bound to the shader, binding i = item i."""
        return list(self._tensors)

    get_tensors = get_mem_objects

    @property
    def dispatch_groups(self) -> tuple[int, int, int]:
        """The workgroups a dispatch runs; for kp's operations."""
        return self._groups

    def get_workgroup(self) -> tuple[int, int, int]:
        """The workgroup the algorithm was made with: workgroups of the shader's local
        size, or invocations for a kernel whose local size kp chooses (python2shader
        kernels without one)."""
        return self._given

    def is_init(self) -> bool:
        return self._pipeline is not None and not self._destroyed and self._manager.vk_device is not None

    def destroy(self) -> None:
        """Release the pipeline, once the GPU has finished any work that uses it
        (this does not wait); recorded dispatches of it raise DestroyedError."""
        pipeline = self._pipeline
        if pipeline is None:
            self._destroyed = True
            return
        if pipeline.device.lock._is_owned():  # type: ignore[attr-defined]
            # a finalizer run inside kp's own work on this thread: as soon as that is done
            self._destroyed = True
            vk.defer(self.destroy)
            return
        # Cleared under the device lock: a recording, which holds it from checking the
        # algorithm to recording its dispatch, sees it built or destroyed, never between.
        with pipeline.device.lock:
            if self._pipeline is not pipeline:
                return
            self._pipeline = None
            self._destroyed = True
            pipeline.device.retire(pipeline)
        pipeline.release()

    def __repr__(self) -> str:
        return f"kp.Algorithm(tensors={len(self._tensors)}, workgroup={self._groups}, init={self.is_init()})"


def _check_image(binding: Binding, image: Memory) -> None:
    """An image for a storage-image binding: a 2-D image whose format is the one the
    shader declares (or, without a format qualifier, of its texel kind)."""
    what = f"binding {binding.binding} ({binding.name or 'unnamed'})"
    if not isinstance(image, Image):
        raise InvalidArgumentError(f"{what} is a storage image ({binding.image_format}) in the shader, but a "
                                   f"{type(image).__name__} was given for it: give a kp.Image "
                                   f"(mgr.image / mgr.image_t)")
    if binding.image_dim != "2d":
        raise ShaderError(f"{what} is a {binding.image_dim} image in the shader; kp images are 2-D "
                          f"(image2D, iimage2D, uimage2D)")
    given = image.format_name()
    if binding.image_format == "unknown":
        kind = {"f": "float", "i": "int", "u": "uint"}[image.dtype.kind]
        if binding.element_scalar is not None and binding.element_scalar[0] != kind:
            raise DataTypeError(f"{what} reads {binding.element_scalar[0]} texels in the shader, but the image "
                                f"holds {image.dtype} ({given})")
    elif binding.image_format in ("r8", "rg8", "rgba8"):
        raise ShaderError(f"{what} is a normalized {binding.image_format} image in the shader, which no kp.Image "
                          f"holds: declare {binding.image_format}ui for a uint8 image (texels 0 to 255)")
    elif binding.image_format is not None and binding.image_format != given:
        raise DataTypeError(f"{what} is a {binding.image_format} image in the shader, but the image given is {given} "
                            f"({image.get_num_channels()} channel(s) of {image.dtype}): make the image with the dtype "
                            f"and channel count of the shader's format, or change the shader's format qualifier")


# A conversion the validation layer's debug printf formats: printf's numeric ones
# (with flags, width, precision, 64-bit "l") and its vectors, %v4f. It hands others
# to the C library as they are, where %s reads a number as a pointer and %n writes
# through one: the process crashes.
_PRINTF_CONVERSION = re.compile(r"%(?:%|[-+ #0]*\d*(?:\.\d*)?(?:v[234])?(?:l|ul)?[diouxXaAeEfFgG]l?)")


def _check_printf_formats(info: ShaderInfo) -> None:
    for text in info.printf_formats:
        rest = _PRINTF_CONVERSION.sub("", text)
        if "%" in rest:
            bad = rest[rest.index("%"):][:8]
            raise ShaderError(f"debugPrintfEXT format {text!r} has {bad!r}, which the validation layer's debug "
                              f"printf cannot format (%s and %n crash the process): it takes %d %i %o %u %x %X, "
                              f"%f %e %g %a (upper-case too) with flags, width, precision and l for 64 bits, "
                              f"vectors as %v4f, and %% for a percent sign")


def _check_element_type(binding: Binding, tensor: Memory) -> None:
    if binding.element_scalar is None:  # a struct element, or no runtime array
        return
    kind, width = binding.element_scalar
    dtype = tensor.dtype
    held = ("uint", 8) if dtype.kind == "b" else (_DTYPE_KINDS[dtype.kind], dtype.itemsize * 8)
    if held == (kind, width) or (held[1] == width and {held[0], kind} == {"int", "uint"}):
        return
    what = (f"binding {binding.binding} ({binding.name or 'unnamed'}) has {kind}{width} elements in the shader, "
            f"but tensor {binding.binding} holds {dtype.name}")
    if held[1] != width:  # the shader would read other elements than the tensor's, and past its end
        raise DataTypeError(what)
    # Same width: the shader reads the tensor's bits as its own type, as Kompute
    # does (its own test suite relies on it), so this is allowed but never silent.
    logger.warning("%s: the shader reads the raw bits as %s%d", what, kind, width)


def _tensor_list(tensors: Any) -> list[Memory]:
    from .operations.base import tensor_list  # (the operations import this module)

    return tensor_list(tensors, "mgr.algorithm", 0)


def _given(shader: Any) -> bool:
    if isinstance(shader, np.ndarray):
        return shader.size > 0
    return shader is not None and (not isinstance(shader, (bytes, bytearray, str, list, tuple)) or len(shader) > 0)
