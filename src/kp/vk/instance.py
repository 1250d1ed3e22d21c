"""The Vulkan instance (one per process, shared by every manager), validation
messages, and what each physical device can do."""

from __future__ import annotations

import collections
import contextlib
import logging
import operator
import os
import re
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

from ..errors import DeviceNotFoundError, InvalidArgumentError, KomputeError
from .core import NULL, C, Owned, check, cstring, ffi, lib, new, on_fork, string, version_string

log = logging.getLogger("kp")

VALIDATION_LAYER = "VK_LAYER_KHRONOS_validation"

_messages: collections.deque[str] = collections.deque(maxlen=1000)


def validation_enabled() -> bool:
    """Whether new instances load the Khronos validation layer (``KP_VALIDATION=1``)."""
    return os.environ.get("KP_VALIDATION", "").lower() in ("1", "true", "yes", "on")


def sync_validation_enabled() -> bool:
    """Whether the validation layer also checks synchronization (hazards between
    commands); on with validation unless ``KP_VALIDATION_SYNC=0``."""
    return validation_enabled() and os.environ.get("KP_VALIDATION_SYNC", "1").lower() not in ("0", "false", "no", "off")


def shader_printf_enabled() -> bool:
    """Whether managers print from shaders by default (``KP_SHADER_PRINTF=1``)."""
    return os.environ.get("KP_SHADER_PRINTF", "").lower() in ("1", "true", "yes", "on")


def take_validation_messages() -> list[str]:
    """The validation layer's warnings and errors since the last call."""
    taken = list(_messages)
    _messages.clear()
    return taken


def _debug_message(severity: int, kinds: int, data: Any, user: Any) -> int:
    try:
        text = string(data.pMessage) if data.pMessage != NULL else "(no message)"
        name = string(data.pMessageIdName) if data.pMessageIdName != NULL else ""
        if name.upper().startswith("UNASSIGNED-DEBUG-PRINTF"):
            _print_from_shader(text)
        elif severity & (C.VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | C.VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT):
            _messages.append(text)
            level = logging.ERROR if severity & C.VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT else logging.WARNING
            log.log(level, "Vulkan validation: %s", text)
    except Exception:  # noqa: BLE001 - an exception must never unwind into the driver
        pass
    return 0


# What debug printf's verbose messages hold after the layer's header: the invocation,
# the text printed, and where the shader's source is (or that it is unknown).
_PRINTF_MESSAGE = re.compile(r".*?\| MessageID = \w+ \| (?:.*?Global invocation ID \(x, y, z\) = "
                             r"\((\d+), (\d+), (\d+) \) )?(.*?)(?: Unable to find SPIR-V OpLine.*"
                             r"| Debug shader printf message generated .*)?", re.DOTALL)


def _print_from_shader(text: str) -> None:
    """Write what a shader printed to stdout: ``invocation (x, y, z): text``."""
    match = _PRINTF_MESSAGE.fullmatch(text)
    if match is None:
        line = text
    else:
        x, y, z, printed = match.groups()
        line = printed.rstrip("\n") if x is None else f"invocation ({x}, {y}, {z}): {printed.rstrip(chr(10))}"
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# The layer settings kp gives where the user gives none: debug printf's messages name
# the invocation, and its buffer holds many messages (its default of 1024 bytes drops
# all but a few dozen). The layer reads them once, as it first starts.
_LAYER_SETTINGS = ("khronos_validation.printf_verbose = true\n"
                   "khronos_validation.printf_buffer_size = 4194304\n")


@contextlib.contextmanager
def _layer_settings() -> Iterator[None]:
    """kp's layer settings in effect, unless the user has settings of their own
    (``VK_LAYER_SETTINGS_PATH`` or a vk_layer_settings.txt in the working folder)."""
    if "VK_LAYER_SETTINGS_PATH" in os.environ or os.path.exists("vk_layer_settings.txt"):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="kp-layer-") as folder:
        path = os.path.join(folder, "vk_layer_settings.txt")
        with open(path, "w") as file:
            file.write(_LAYER_SETTINGS)
        os.environ["VK_LAYER_SETTINGS_PATH"] = path
        try:
            yield
        finally:
            del os.environ["VK_LAYER_SETTINGS_PATH"]


_on_debug_message = ffi.callback("VkBool32(VkDebugUtilsMessageSeverityFlagBitsEXT, VkDebugUtilsMessageTypeFlagsEXT,"
                                 " const VkDebugUtilsMessengerCallbackDataEXT *, void *)")(_debug_message)


def _available(enumerate_fn: Callable[..., int], struct: str, name_field: str, *prefix: Any) -> set[str]:
    count = new("uint32_t *")
    check(enumerate_fn(*prefix, count, NULL), "enumerating Vulkan layers/extensions")
    items = new(f"{struct}[]", count[0])
    check(enumerate_fn(*prefix, count, items), "enumerating Vulkan layers/extensions")
    return {string(getattr(items[i], name_field)) for i in range(count[0])}


def _layer_version(name: str) -> int:
    """The Vulkan header version an installed layer was built from."""
    count = new("uint32_t *")
    check(lib.vkEnumerateInstanceLayerProperties(count, NULL), "enumerating Vulkan layers")
    items = new("VkLayerProperties[]", count[0])
    check(lib.vkEnumerateInstanceLayerProperties(count, items), "enumerating Vulkan layers")
    return max((int(items[i].specVersion) for i in range(count[0]) if string(items[i].layerName) == name), default=0)


# PCI vendor IDs, and Khronos' IDs for vendors without one (VkVendorId).
VENDORS = {
    0x1002: "AMD", 0x1010: "Imagination", 0x106B: "Apple", 0x10DE: "NVIDIA", 0x13B5: "ARM", 0x14E4: "Broadcom",
    0x5143: "Qualcomm", 0x8086: "Intel", 0x10001: "Vivante", 0x10002: "VeriSilicon", 0x10003: "Kazan",
    0x10004: "Codeplay", 0x10005: "Mesa", 0x10006: "PoCL", 0x10007: "MobileEye",
}

DEVICE_TYPES = {
    C.VK_PHYSICAL_DEVICE_TYPE_OTHER: "other",
    C.VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: "integrated_gpu",
    C.VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: "discrete_gpu",
    C.VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: "virtual_gpu",
    C.VK_PHYSICAL_DEVICE_TYPE_CPU: "cpu",
}


@dataclass
class QueueFamily:
    index: int
    queue_count: int
    compute: bool
    graphics: bool
    transfer: bool
    timestamp_valid_bits: int


@dataclass
class PhysicalDevice:
    """A physical device and everything kp needs to know about it."""

    handle: object
    index: int
    properties: dict[str, Any]
    queue_families: list[QueueFamily]
    memory_types: list[tuple[int, int]]  # (property flags, heap index)
    memory_heaps: list[tuple[int, int]]  # (size, flags)
    extensions: set[str]
    features: dict[str, bool] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)


class Instance(Owned):
    """The VkInstance; kp makes one per process and shares it (and one more with
    ``debug_printf``: the validation layer's debug printf, whose messages go to
    ``on_shader_print``)."""

    def __init__(self, debug_printf: bool = False) -> None:
        self.validation = validation_enabled()
        self.debug_printf = debug_printf
        layers = []
        extensions = []
        available_layers = _available(lib.vkEnumerateInstanceLayerProperties, "VkLayerProperties", "layerName")
        available_ext = _available(lib.vkEnumerateInstanceExtensionProperties, "VkExtensionProperties",
                                   "extensionName", NULL)
        if debug_printf and VALIDATION_LAYER not in available_layers:
            raise KomputeError(f"printing from shaders (KP_SHADER_PRINTF=1 or debug_printf=True) needs the Vulkan "
                               f"validation layer {VALIDATION_LAYER}, which is not installed: install it (on Debian "
                               f"and Ubuntu: apt-get install vulkan-validationlayers; elsewhere the Vulkan SDK)")
        if self.validation:
            if VALIDATION_LAYER not in available_layers:
                log.warning("KP_VALIDATION is set but %s is not installed", VALIDATION_LAYER)
                self.validation = False
        # the headers the loaded validation layer was built from (0: no layer)
        self.layer_version = 0
        if self.validation or debug_printf:
            layers.append(VALIDATION_LAYER)
            self.layer_version = _layer_version(VALIDATION_LAYER)
        debug_utils = bool(layers) and "VK_EXT_debug_utils" in available_ext
        if debug_utils:
            extensions.append("VK_EXT_debug_utils")
        portability = "VK_KHR_portability_enumeration" in available_ext
        if portability:
            extensions.append("VK_KHR_portability_enumeration")
        # The layer provides VK_EXT_validation_features itself.
        enables = []
        if self.validation and sync_validation_enabled():
            enables.append(C.VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT)
        if debug_printf:
            enables.append(C.VK_VALIDATION_FEATURE_ENABLE_DEBUG_PRINTF_EXT)
        # Printing alone runs none of the layer's checks (they are slow).
        disables = [C.VK_VALIDATION_FEATURE_DISABLE_ALL_EXT] if debug_printf and not self.validation else []
        features_ext = bool(enables or disables) and "VK_EXT_validation_features" in _available(
            lib.vkEnumerateInstanceExtensionProperties, "VkExtensionProperties", "extensionName",
            cstring(VALIDATION_LAYER))
        if features_ext:
            extensions.append("VK_EXT_validation_features")

        keep = [cstring(n) for n in layers + extensions]
        layer_names = new("char *[]", keep[: len(layers)])
        ext_names = new("char *[]", keep[len(layers):])
        app_name = cstring("kp")
        app = new("VkApplicationInfo *", {
            "sType": C.VK_STRUCTURE_TYPE_APPLICATION_INFO, "pApplicationName": app_name,
            "pEngineName": app_name, "apiVersion": C.VK_MAKE_VERSION(1, 3, 0)})
        info = new("VkInstanceCreateInfo *", {
            "sType": C.VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, "pApplicationInfo": app,
            "enabledLayerCount": len(layers), "ppEnabledLayerNames": layer_names,
            "enabledExtensionCount": len(extensions), "ppEnabledExtensionNames": ext_names,
            "flags": C.VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR if portability else 0})
        if features_ext:
            enabled = new("VkValidationFeatureEnableEXT[]", enables)
            disabled = new("VkValidationFeatureDisableEXT[]", disables)
            features = new("VkValidationFeaturesEXT *", {
                "sType": C.VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                "enabledValidationFeatureCount": len(enables), "pEnabledValidationFeatures": enabled,
                "disabledValidationFeatureCount": len(disables), "pDisabledValidationFeatures": disabled})
            info.pNext = features  # all stay referenced here until vkCreateInstance returns
        # what _destroy_instance destroys (slots: see core.Owned)
        handles = {"instance": new("VkInstance *"), "messenger": new("VkDebugUtilsMessengerEXT *")}
        self._own("VkInstance", _destroy_instance, handles)
        with _layer_settings() if layers else contextlib.nullcontext():
            check(lib.vkCreateInstance(info, NULL, handles["instance"]), "vkCreateInstance")
        self.handle = handles["instance"][0]

        if debug_utils:
            create = ffi.cast("PFN_vkCreateDebugUtilsMessengerEXT",
                              lib.vkGetInstanceProcAddr(self.handle, b"vkCreateDebugUtilsMessengerEXT"))
            minfo = new("VkDebugUtilsMessengerCreateInfoEXT *", {
                "sType": C.VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
                # debug printf's messages are infos
                "messageSeverity": C.VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT
                | C.VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT
                | (C.VK_DEBUG_UTILS_MESSAGE_SEVERITY_INFO_BIT_EXT if debug_printf else 0),
                "messageType": C.VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT
                | C.VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT
                | C.VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT,
                "pfnUserCallback": _on_debug_message})
            check(create(self.handle, minfo, NULL, handles["messenger"]), "vkCreateDebugUtilsMessengerEXT")
        self.physical_devices = self._enumerate()

    def _enumerate(self) -> list[PhysicalDevice]:
        count = new("uint32_t *")
        check(lib.vkEnumeratePhysicalDevices(self.handle, count, NULL), "vkEnumeratePhysicalDevices")
        handles = new("VkPhysicalDevice[]", count[0])
        check(lib.vkEnumeratePhysicalDevices(self.handle, count, handles), "vkEnumeratePhysicalDevices")
        return [_describe(self.handle, handles[i], i) for i in range(count[0])]

    def visible_devices(self) -> list[PhysicalDevice]:
        """The devices kp shows, in its order: all of them, or those ``KP_VISIBLE_DEVICES``
        names (comma-separated indices into all devices, or UUIDs as ``list_devices``
        spells them, with or without ``GPU-``, or a unique start of one), in the order
        named. A name may repeat, which shows one device twice."""
        setting = os.environ.get(VISIBLE_DEVICES_VARIABLE)
        if setting is None:
            return list(self.physical_devices)
        devices = self.physical_devices
        return [devices[_find(entry.strip(), devices, f"{VISIBLE_DEVICES_VARIABLE}={setting!r}")]
                for entry in setting.split(",") if entry.strip()]

    def find_device(self, device: int | str) -> tuple[int, PhysicalDevice]:
        """The position in ``visible_devices()`` and the device that ``device`` names: an
        index (an int, or digits) or a UUID."""
        devices = self.visible_devices()
        if not devices:
            hidden = (f" ({VISIBLE_DEVICES_VARIABLE}={os.environ[VISIBLE_DEVICES_VARIABLE]!r} hides them all)"
                      if self.physical_devices else ": install a Vulkan driver (on Debian: "
                      "apt-get install mesa-vulkan-drivers libvulkan1)")
            raise DeviceNotFoundError(f"no Vulkan device found{hidden}")
        try:  # an index (an int, or NumPy's) or a UUID string; not a bool
            index = device if isinstance(device, (str, bool)) else operator.index(device)
            if isinstance(index, bool):
                raise TypeError
        except TypeError:
            raise InvalidArgumentError(f"device must be an index (an int) or a UUID string, "
                                       f"got {device!r}") from None
        device = index
        if isinstance(device, int) and device < 0:
            raise DeviceNotFoundError(f"no Vulkan device with index {device}; the devices are {_names(devices)}")
        index = _find(str(device).strip(), devices, "the device asked for")
        return index, devices[index]

    def physical_device(self, device: int | str) -> PhysicalDevice:
        """The visible device ``device`` names (see ``find_device``)."""
        return self.find_device(device)[1]


def _find(entry: str, devices: list[PhysicalDevice], source: str) -> int:
    """The position in ``devices`` of the device that ``entry`` names: an index
    (digits) or a UUID, or a unique start of one (its first position)."""
    if entry.isascii() and entry.isdigit():  # not "²", which int() refuses
        index = int(entry)
        if index < len(devices):
            return index
        raise DeviceNotFoundError(f"{source}: no Vulkan device with index {index}; the devices are "
                                  f"{_names(devices)}")
    key = entry.lower().removeprefix("gpu-")
    found = {d.properties["uuid"]: i for i, d in reversed(list(enumerate(devices)))
             if key and d.properties["uuid"].startswith(key)}
    if len(found) == 1:
        return next(iter(found.values()))
    what = "several devices" if found else "no Vulkan device"
    raise DeviceNotFoundError(f"{source}: {what} with UUID {entry!r}; the devices are {_names(devices)}")


VISIBLE_DEVICES_VARIABLE = "KP_VISIBLE_DEVICES"


def _names(devices: list[PhysicalDevice]) -> str:
    return ", ".join(f"{i}: {d.properties['device_name']} (UUID {d.properties['uuid']})"
                     for i, d in enumerate(devices))


def _destroy_instance(handles: dict[str, Any]) -> None:
    handle = handles["instance"][0]
    if handle == NULL:
        return  # never made, or destroyed by a run that an interrupt cut short (see core.Owned)
    if handles["messenger"][0] != NULL:
        destroy = ffi.cast("PFN_vkDestroyDebugUtilsMessengerEXT",
                           lib.vkGetInstanceProcAddr(handle, b"vkDestroyDebugUtilsMessengerEXT"))
        messenger, handles["messenger"][0] = handles["messenger"][0], NULL
        destroy(handle, messenger, NULL)
    handles["instance"][0] = NULL
    lib.vkDestroyInstance(handle, NULL)


_shared: dict[bool, Instance] = {}
_shared_lock = threading.Lock()
# Drivers that do not work in a process forked after its parent loaded them: in the
# child, NVIDIA's vkCreateDevice fails (VK_ERROR_INITIALIZATION_FAILED) and the
# child may crash at exit; kp then makes no Vulkan call there at all.
_FORK_UNSAFE_DRIVERS = {C.VK_DRIVER_ID_NVIDIA_PROPRIETARY: "NVIDIA's"}
_refused_after_fork = ""
_starting = False  # a thread is making an instance (vkCreateInstance loads the drivers)


def _forget_shared_after_fork() -> None:
    """A forked child makes instances of its own (the parent's are not its to use),
    unless the parent loaded a driver that a forked child cannot use."""
    global _shared_lock, _refused_after_fork
    unsafe = {f"{_FORK_UNSAFE_DRIVERS[d.properties['driver_id']]} Vulkan driver ({d.properties['device_name']})"
              for instance in _shared.values() for d in instance.physical_devices
              if d.properties["driver_id"] in _FORK_UNSAFE_DRIVERS}
    if unsafe:
        _refused_after_fork = (f"this process was forked after its parent loaded {', '.join(sorted(unsafe))}, "
                               f"which does not work in a forked child (as CUDA does not): start worker "
                               f"processes with multiprocessing's 'spawn' or 'forkserver' start method, or fork "
                               f"before the parent uses kp")
    elif _starting:
        # a parent thread was making an instance: the Vulkan loader's locks (and a
        # driver it was loading) are as that thread left them, and a new instance hangs
        _refused_after_fork = ("this process was forked while another thread of its parent was starting Vulkan "
                               "(making kp's first instance), which leaves the Vulkan loader locked in the child: "
                               "start worker processes with multiprocessing's 'spawn' or 'forkserver' start method, "
                               "or fork before the parent uses kp or after its first use (kp.list_devices()) returns")
    _shared.clear()
    _shared_lock = threading.Lock()


on_fork(_forget_shared_after_fork)


def shared_instance(debug_printf: bool = False) -> Instance:
    """The process's instance (or, with ``debug_printf``, its instance printing from
    shaders), made on first use and kept until exit (creating an instance again after
    destroying one failed on NVIDIA's driver)."""
    if _refused_after_fork:
        raise DeviceNotFoundError(_refused_after_fork)
    global _starting
    with _shared_lock:
        instance = _shared.get(debug_printf)
        if instance is None or not instance.alive or instance.validation != validation_enabled():
            _starting = True
            try:
                instance = _shared[debug_printf] = Instance(debug_printf)
            finally:
                _starting = False
        return instance


_FEATURES_10 = ("shaderFloat64", "shaderInt64", "shaderInt16", "shaderStorageImageExtendedFormats",
                "shaderStorageImageReadWithoutFormat", "shaderStorageImageWriteWithoutFormat")
_FEATURES_11 = ("storageBuffer16BitAccess", "uniformAndStorageBuffer16BitAccess")
_FEATURES_12 = ("storageBuffer8BitAccess", "uniformAndStorageBuffer8BitAccess", "shaderFloat16", "shaderInt8",
                "timelineSemaphore", "shaderBufferInt64Atomics", "vulkanMemoryModel", "vulkanMemoryModelDeviceScope",
                "hostQueryReset")


@dataclass(frozen=True)
class ExtensionFeatures:
    """The features struct of a device extension: its C type (None where the
    ``vulkan`` package's headers lack it: kp then lays it out itself), sType and
    the features kp reads and enables, in the struct's order; ``requires`` are
    extensions it depends on."""

    struct: str | None
    s_type: int
    names: tuple[str, ...]
    requires: tuple[str, ...] = ()
    # the Vulkan headers that first had it: a validation layer built from older ones
    # reports its structs as unknown, so it is not enabled while such a layer checks
    since: int = 0


class _RawFeatures:
    """A features struct the ``vulkan`` package's headers (1.3.275) lack, laid out
    as Vulkan lays out every features struct: sType, pNext, then one VkBool32 per
    feature; read and written by feature name like a cffi struct."""

    _names: tuple[str, ...]
    _memory: Any
    _bools: Any

    def __init__(self, s_type: int, names: tuple[str, ...], next_struct: Any):
        object.__setattr__(self, "_names", names)
        # uint64 words keep pNext 8-byte aligned
        memory = new("uint64_t[]", 2 + (len(names) + 1) // 2)
        object.__setattr__(self, "_memory", memory)
        base = ffi.cast("VkBaseOutStructure *", memory)
        base.sType, base.pNext = s_type, ffi.cast("VkBaseOutStructure *", next_struct)
        object.__setattr__(self, "_bools", ffi.cast("uint32_t *", memory) + 4)

    @property
    def pointer(self) -> Any:
        return self._memory

    def __getattr__(self, name: str) -> int:
        return int(self._bools[self._names.index(name)])

    def __setattr__(self, name: str, value: int) -> None:
        self._bools[self._names.index(name)] = value


# Features of device extensions: read where the device has the extension, enabled
# (chained into vkCreateDevice) only where the manager enables the extension.
EXTENSION_FEATURES = {
    "VK_EXT_shader_atomic_float": ExtensionFeatures(
        "VkPhysicalDeviceShaderAtomicFloatFeaturesEXT",
        C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT,
        ("shaderBufferFloat32Atomics", "shaderBufferFloat32AtomicAdd", "shaderBufferFloat64Atomics",
         "shaderBufferFloat64AtomicAdd", "shaderSharedFloat32Atomics", "shaderSharedFloat32AtomicAdd",
         "shaderSharedFloat64Atomics", "shaderSharedFloat64AtomicAdd")),
    "VK_EXT_shader_atomic_float2": ExtensionFeatures(
        "VkPhysicalDeviceShaderAtomicFloat2FeaturesEXT",
        C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_2_FEATURES_EXT,
        ("shaderBufferFloat16Atomics", "shaderBufferFloat16AtomicAdd", "shaderBufferFloat16AtomicMinMax",
         "shaderBufferFloat32AtomicMinMax", "shaderBufferFloat64AtomicMinMax", "shaderSharedFloat16Atomics",
         "shaderSharedFloat16AtomicAdd", "shaderSharedFloat16AtomicMinMax", "shaderSharedFloat32AtomicMinMax",
         "shaderSharedFloat64AtomicMinMax"),
        requires=("VK_EXT_shader_atomic_float",)),
    "VK_KHR_cooperative_matrix": ExtensionFeatures(
        "VkPhysicalDeviceCooperativeMatrixFeaturesKHR",
        C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR,
        ("cooperativeMatrix", "cooperativeMatrixRobustBufferAccess"), since=C.VK_MAKE_VERSION(1, 3, 255)),
    "VK_NV_cooperative_matrix": ExtensionFeatures(
        "VkPhysicalDeviceCooperativeMatrixFeaturesNV",
        C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
        ("cooperativeMatrixNV", "cooperativeMatrixRobustBufferAccessNV")),
    # VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV
    "VK_NV_cooperative_matrix2": ExtensionFeatures(
        None, 1000593000,
        ("cooperativeMatrixWorkgroupScope", "cooperativeMatrixFlexibleDimensions", "cooperativeMatrixReductions",
         "cooperativeMatrixConversions", "cooperativeMatrixPerElementOperations",
         "cooperativeMatrixTensorAddressing", "cooperativeMatrixBlockLoads"),
        requires=("VK_KHR_cooperative_matrix",), since=C.VK_MAKE_VERSION(1, 3, 296)),
    # VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_BFLOAT16_FEATURES_KHR
    "VK_KHR_shader_bfloat16": ExtensionFeatures(
        None, 1000141000, ("shaderBFloat16Type", "shaderBFloat16DotProduct", "shaderBFloat16CooperativeMatrix"),
        since=C.VK_MAKE_VERSION(1, 4, 311)),
}

# The C struct's field names where they differ from kp's feature names (the NV and
# KHR cooperative-matrix structs both call theirs cooperativeMatrix).
_FIELD_NAMES = {"cooperativeMatrixNV": "cooperativeMatrix",
                "cooperativeMatrixRobustBufferAccessNV": "cooperativeMatrixRobustBufferAccess"}

# The extension each extension feature belongs to.
FEATURE_EXTENSIONS = {name: extension for extension, table in EXTENSION_FEATURES.items() for name in table.names}

# The extensions that brought the core 1.1 and 1.2 features kp uses, which errors
# name beside the feature (kp enables these through the core feature structs).
PROMOTED_FEATURE_EXTENSIONS = {
    "storageBuffer16BitAccess": "VK_KHR_16bit_storage", "uniformAndStorageBuffer16BitAccess": "VK_KHR_16bit_storage",
    "storageBuffer8BitAccess": "VK_KHR_8bit_storage", "uniformAndStorageBuffer8BitAccess": "VK_KHR_8bit_storage",
    "shaderFloat16": "VK_KHR_shader_float16_int8", "shaderInt8": "VK_KHR_shader_float16_int8",
    "shaderBufferInt64Atomics": "VK_KHR_shader_atomic_int64", "vulkanMemoryModel": "VK_KHR_vulkan_memory_model",
    "vulkanMemoryModelDeviceScope": "VK_KHR_vulkan_memory_model",
}


def feature_source(feature: str) -> str:
    """Where ``feature`` comes from, for messages: its extension, or the extension
    that brought it into core Vulkan, or "" for a Vulkan 1.0 feature."""
    if feature in FEATURE_EXTENSIONS:
        return FEATURE_EXTENSIONS[feature]
    if feature in PROMOTED_FEATURE_EXTENSIONS:
        core = "1.1" if feature in _FEATURES_11 else "1.2"
        return f"{PROMOTED_FEATURE_EXTENSIONS[feature]}, core in Vulkan {core}"
    return ""


def feature_chain(values: Mapping[str, bool] | None = None,
                  extensions: Iterable[str] = ()) -> tuple[Any, list[tuple[tuple[str, ...], Any]]]:
    """A VkPhysicalDeviceFeatures2 chain with the 1.1 and 1.2 feature structs kp uses
    and the feature structs of those ``extensions`` that ``EXTENSION_FEATURES``
    lists, filled from ``values`` (or empty, for querying). Returns the head and
    the (feature names, struct) pairs of the chain, which keep it alive."""
    extension_structs: list[tuple[tuple[str, ...], Any]] = []
    chained = NULL
    for extension in extensions:
        table = EXTENSION_FEATURES.get(extension)
        if table is None:
            continue
        if table.struct is None:
            raw = _RawFeatures(table.s_type, table.names, chained)
            extension_structs.append((table.names, raw))
            chained = raw.pointer
        else:
            chained = new(f"{table.struct} *", {"sType": table.s_type, "pNext": chained})
            extension_structs.append((table.names, chained))
    f11 = new("VkPhysicalDeviceVulkan11Features *", {"sType": C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                                     "pNext": chained})
    f12 = new("VkPhysicalDeviceVulkan12Features *", {"sType": C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                                     "pNext": f11})
    head = new("VkPhysicalDeviceFeatures2 *", {"sType": C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, "pNext": f12})
    structs = [(_FEATURES_10, head.features), (_FEATURES_11, f11), (_FEATURES_12, f12), *extension_structs]
    for names, struct in structs:
        for name in names:
            setattr(struct, _FIELD_NAMES.get(name, name), int(bool((values or {}).get(name))))
    return head, structs


def _read_features(handle: Any, api_version: int, extensions: set[str]) -> dict[str, bool]:
    if api_version < C.VK_MAKE_VERSION(1, 2, 0):
        features = new("VkPhysicalDeviceFeatures *")
        lib.vkGetPhysicalDeviceFeatures(handle, features)
        return {name: bool(getattr(features, name)) for name in _FEATURES_10}
    head, structs = feature_chain(extensions=sorted(extensions & EXTENSION_FEATURES.keys()))
    lib.vkGetPhysicalDeviceFeatures2(handle, head)
    return {name: bool(getattr(struct, _FIELD_NAMES.get(name, name))) for names, struct in structs for name in names}


def _driver_version(vendor_id: int, version: int) -> str:
    """The driver version as its vendor numbers it."""
    if vendor_id == 0x10DE:
        return f"{version >> 22}.{(version >> 14) & 0xFF}.{(version >> 6) & 0xFF}.{version & 0x3F}"
    return version_string(version)


# VkSubgroupFeatureFlagBits by the names kp reports them with.
_SUBGROUP_OPERATIONS = {
    "basic": C.VK_SUBGROUP_FEATURE_BASIC_BIT, "vote": C.VK_SUBGROUP_FEATURE_VOTE_BIT,
    "arithmetic": C.VK_SUBGROUP_FEATURE_ARITHMETIC_BIT, "ballot": C.VK_SUBGROUP_FEATURE_BALLOT_BIT,
    "shuffle": C.VK_SUBGROUP_FEATURE_SHUFFLE_BIT,
    "shuffle_relative": C.VK_SUBGROUP_FEATURE_SHUFFLE_RELATIVE_BIT,
    "clustered": C.VK_SUBGROUP_FEATURE_CLUSTERED_BIT, "quad": C.VK_SUBGROUP_FEATURE_QUAD_BIT,
}


def _subgroup_operations(subgroup: Any) -> list[str]:
    """The subgroup operations compute shaders may use."""
    if not subgroup.supportedStages & C.VK_SHADER_STAGE_COMPUTE_BIT:
        return []
    return [name for name, bit in _SUBGROUP_OPERATIONS.items() if subgroup.supportedOperations & bit]


# VkComponentTypeKHR by the names kp reports them with (NumPy's where it has one).
COMPONENT_TYPES = {
    C.VK_COMPONENT_TYPE_FLOAT16_KHR: "float16", C.VK_COMPONENT_TYPE_FLOAT32_KHR: "float32",
    C.VK_COMPONENT_TYPE_FLOAT64_KHR: "float64", C.VK_COMPONENT_TYPE_SINT8_KHR: "int8",
    C.VK_COMPONENT_TYPE_SINT16_KHR: "int16", C.VK_COMPONENT_TYPE_SINT32_KHR: "int32",
    C.VK_COMPONENT_TYPE_SINT64_KHR: "int64", C.VK_COMPONENT_TYPE_UINT8_KHR: "uint8",
    C.VK_COMPONENT_TYPE_UINT16_KHR: "uint16", C.VK_COMPONENT_TYPE_UINT32_KHR: "uint32",
    C.VK_COMPONENT_TYPE_UINT64_KHR: "uint64",
    # newer than the vulkan package's headers: VK_COMPONENT_TYPE_BFLOAT16_KHR and
    # VK_NV_cooperative_vector's packed and 8-bit float types
    1000141000: "bfloat16", 1000491000: "int8_packed", 1000491001: "uint8_packed",
    1000491002: "float_e4m3", 1000491003: "float_e5m2",
}
SCOPES = {C.VK_SCOPE_DEVICE_KHR: "device", C.VK_SCOPE_WORKGROUP_KHR: "workgroup",
          C.VK_SCOPE_SUBGROUP_KHR: "subgroup", C.VK_SCOPE_QUEUE_FAMILY_KHR: "queue_family"}


def _cooperative_matrices(instance: Any, handle: Any, extensions: set[str]) -> list[dict[str, Any]]:
    """The cooperative-matrix configurations (VkCooperativeMatrixPropertiesKHR) of a
    device with VK_KHR_cooperative_matrix; none elsewhere."""
    if "VK_KHR_cooperative_matrix" not in extensions:
        return []
    query = ffi.cast("PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR", lib.vkGetInstanceProcAddr(
        instance, b"vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR"))
    if query == NULL:
        return []
    count = new("uint32_t *")
    check(query(handle, count, NULL), "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR")
    items = new("VkCooperativeMatrixPropertiesKHR[]", [
        {"sType": C.VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR} for _ in range(count[0])])
    check(query(handle, count, items), "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR")

    def kind(value: int) -> str:
        return COMPONENT_TYPES.get(value, f"component type {value}")
    return [{"m": p.MSize, "n": p.NSize, "k": p.KSize, "a_type": kind(p.AType), "b_type": kind(p.BType),
             "c_type": kind(p.CType), "result_type": kind(p.ResultType),
             "saturating_accumulation": bool(p.saturatingAccumulation),
             "scope": SCOPES.get(p.scope, f"scope {p.scope}")} for p in items[0:count[0]]]


def _describe(instance: Any, handle: Any, index: int) -> PhysicalDevice:
    ids = new("VkPhysicalDeviceIDProperties *", {"sType": C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES})
    subgroup = new("VkPhysicalDeviceSubgroupProperties *", {"sType": C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
                                                            "pNext": ids})
    props2 = new("VkPhysicalDeviceProperties2 *", {"sType": C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                                   "pNext": subgroup})
    lib.vkGetPhysicalDeviceProperties(handle, ffi.addressof(props2, "properties"))
    extensions = _available(lib.vkEnumerateDeviceExtensionProperties, "VkExtensionProperties", "extensionName",
                            handle, NULL)
    # NVIDIA's multiprocessor count (VK_NV_shader_sm_builtins), for kernels whose workgroups must all run at once
    sm = None
    if "VK_NV_shader_sm_builtins" in extensions:
        sm = new("VkPhysicalDeviceShaderSMBuiltinsPropertiesNV *", {
            "sType": C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV, "pNext": props2.pNext})
        props2.pNext = sm
    driver = None
    if props2.properties.apiVersion >= C.VK_MAKE_VERSION(1, 2, 0):
        driver = new("VkPhysicalDeviceDriverProperties *", {
            "sType": C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES, "pNext": props2.pNext})
        props2.pNext = driver
    lib.vkGetPhysicalDeviceProperties2(handle, props2)
    p = props2.properties
    version = _driver_version(p.vendorID, p.driverVersion)
    driver_name = f"{string(driver.driverName)} {string(driver.driverInfo)}".strip() if driver else ""
    limits = p.limits

    count = new("uint32_t *")
    lib.vkGetPhysicalDeviceQueueFamilyProperties(handle, count, NULL)
    qprops = new("VkQueueFamilyProperties[]", count[0])
    lib.vkGetPhysicalDeviceQueueFamilyProperties(handle, count, qprops)
    families = [QueueFamily(i, q.queueCount, bool(q.queueFlags & C.VK_QUEUE_COMPUTE_BIT),
                            bool(q.queueFlags & C.VK_QUEUE_GRAPHICS_BIT),
                            bool(q.queueFlags & C.VK_QUEUE_TRANSFER_BIT), q.timestampValidBits)
                for i, q in enumerate(qprops)]

    mem = new("VkPhysicalDeviceMemoryProperties *")
    lib.vkGetPhysicalDeviceMemoryProperties(handle, mem)
    memory_types = [(mem.memoryTypes[i].propertyFlags, mem.memoryTypes[i].heapIndex) for i in range(mem.memoryTypeCount)]
    memory_heaps = [(mem.memoryHeaps[i].size, mem.memoryHeaps[i].flags) for i in range(mem.memoryHeapCount)]

    features = _read_features(handle, p.apiVersion, extensions)
    timestamps = bool(limits.timestampComputeAndGraphics) or any(f.compute and f.timestamp_valid_bits for f in families)
    properties = {
        "device_name": string(p.deviceName),
        "device_type": DEVICE_TYPES.get(p.deviceType, "other"),
        "vendor": VENDORS.get(p.vendorID, f"0x{p.vendorID:04x}"),
        "vendor_id": p.vendorID,
        "device_id": p.deviceID,
        "uuid": str(uuid.UUID(bytes=bytes(ffi.buffer(ids.deviceUUID)))),
        "driver": driver_name or version,
        "driver_id": driver.driverID if driver else 0,  # VkDriverId; 0 where the device does not say
        "driver_version": p.driverVersion,
        "api_version": version_string(p.apiVersion),
        "max_work_group_count": tuple(limits.maxComputeWorkGroupCount),
        "max_work_group_invocations": limits.maxComputeWorkGroupInvocations,
        "max_work_group_size": tuple(limits.maxComputeWorkGroupSize),
        "max_shared_memory_size": limits.maxComputeSharedMemorySize,
        "max_push_constants_size": limits.maxPushConstantsSize,
        "max_storage_buffer_range": limits.maxStorageBufferRange,
        "max_memory_allocation_count": limits.maxMemoryAllocationCount,
        "subgroup_size": subgroup.subgroupSize,
        "multiprocessors": sm.shaderSMCount if sm else None,
        "subgroup_operations": _subgroup_operations(subgroup),
        "timestamps_supported": timestamps,
        "timestamp_period": limits.timestampPeriod,
        "memory_heaps": [{"size": size, "device_local": bool(flags & C.VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)}
                         for size, flags in memory_heaps],
        "queue_families": [{"index": f.index, "queue_count": f.queue_count, "compute": f.compute,
                            "graphics": f.graphics, "transfer": f.transfer} for f in families],
        "features": dict(features),
        "cooperative_matrices": _cooperative_matrices(instance, handle, extensions),
    }
    return PhysicalDevice(handle, index, properties, families, memory_types, memory_heaps, extensions, features, {
        "min_storage_buffer_offset_alignment": limits.minStorageBufferOffsetAlignment,
        "non_coherent_atom_size": limits.nonCoherentAtomSize,
        "api_version": p.apiVersion,
    })
