"""The logical device: queues, enabled features, memory and the pipeline cache."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import Counter
from typing import Any, Callable, Iterable, Sequence

from .. import cache
from ..errors import InvalidArgumentError
from .core import NULL, C, Owned, check, cstring, ffi, lib, new, version_string
from .instance import EXTENSION_FEATURES, FEATURE_EXTENSIONS, Instance, PhysicalDevice, feature_chain
from .memory import BUFFER_USAGE

log = logging.getLogger("kp")


class Queue:
    """A VkQueue (submissions to it hold its device's lock)."""

    def __init__(self, handle: Any, family: int, index: int):
        self.handle = handle
        self.family = family
        self.index = index


class DeviceFunctions:
    """The hot path's device functions, called directly rather than through the
    loader's dispatch trampolines."""

    NAMES = ("vkQueueSubmit", "vkGetFenceStatus", "vkResetFences", "vkWaitForFences")
    vkQueueSubmit: Callable[..., int]
    vkGetFenceStatus: Callable[..., int]
    vkResetFences: Callable[..., int]
    vkWaitForFences: Callable[..., int]

    def __init__(self, device: Any) -> None:
        for name in self.NAMES:
            setattr(self, name, ffi.cast(f"PFN_{name}", lib.vkGetDeviceProcAddr(device, name.encode())))


class Device(Owned):
    """A VkDevice with one queue per entry of ``family_queue_indices``.

    ``lock`` is held around every submission and every retirement by
    ``destroy()``, so no submission uses what a destroy has retired
    (``core.RETIREMENTS`` counts them: recordings re-check what they use when it
    changed). Everything made on the device holds it, so the device is
    destroyed (through ``core.drain``) only after all of it.
    """

    def __init__(self, instance: Instance, physical: PhysicalDevice, family_queue_indices: Sequence[int] = (),
                 extensions: Iterable[str] = ()):
        self.instance = instance
        self.physical = physical
        families = list(family_queue_indices)
        if not families:
            default = next((f.index for f in physical.queue_families if f.compute), None)
            if default is None:
                raise InvalidArgumentError(f"{physical.properties['device_name']} has no compute queue")
            families = [default]
        for family in families:
            self._check_family(family)
        wanted = Counter(families)
        for family, count in wanted.items():
            have = physical.queue_families[family].queue_count
            if count > have:
                raise InvalidArgumentError(f"queue family {family} has {have} queue(s) but "
                                           f"family_queue_indices asks for {count}")

        # The extensions whose features kp knows (float atomics), and the one that lets
        # shaders print (core in Vulkan 1.3), are enabled wherever the device has them,
        # so shaders that need them just work.
        automatic = [e for e in (*EXTENSION_FEATURES, "VK_KHR_shader_non_semantic_info")
                     if e in physical.extensions and e not in extensions]
        # extension -> why kp leaves it off, for errors that name what a shader lacks
        self.held_back: dict[str, str] = {}
        for extension in [e for e in automatic if e in EXTENSION_FEATURES
                          and instance.layer_version and instance.layer_version < EXTENSION_FEATURES[e].since]:
            self.held_back[extension] = (f"the validation layer loaded predates it (built from Vulkan "
                                         f"{version_string(instance.layer_version)} headers)")
            log.info("%s stays off: %s", extension, self.held_back[extension])
            automatic.remove(extension)
        extensions = [*extensions, *automatic]
        enabled_ext = [e for e in extensions if e in physical.extensions]
        for missing in set(extensions) - set(enabled_ext):
            log.error("device extension %s is not supported by %s; not enabled", missing,
                      physical.properties["device_name"])
        self.extensions = enabled_ext

        priorities = new("float[]", [1.0] * max(wanted.values()))
        qinfos = new("VkDeviceQueueCreateInfo[]", [
            {"sType": C.VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, "queueFamilyIndex": family,
             "queueCount": count, "pQueuePriorities": priorities} for family, count in wanted.items()])
        ext_keep = [cstring(e) for e in enabled_ext]
        ext_names = new("char *[]", ext_keep)
        # an extension's features can only be enabled with the extension
        self.features = {name: on for name, on in physical.features.items()
                         if on and (name not in FEATURE_EXTENSIONS or FEATURE_EXTENSIONS[name] in enabled_ext)}
        info = {"sType": C.VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, "queueCreateInfoCount": len(wanted),
                "pQueueCreateInfos": qinfos, "enabledExtensionCount": len(enabled_ext),
                "ppEnabledExtensionNames": ext_names}
        if physical.limits["api_version"] >= C.VK_MAKE_VERSION(1, 2, 0):
            chain, keep = feature_chain(self.features, enabled_ext)
            info["pNext"] = chain
        else:
            features = new("VkPhysicalDeviceFeatures *", {n: 1 for n in self.features})
            info["pEnabledFeatures"] = features
        # what _destroy_device destroys (slots: see core.Owned)
        handles = {"device": new("VkDevice *"), "cache": new("VkPipelineCache *")}
        self._own("VkDevice", _destroy_device, handles, instance)
        check(lib.vkCreateDevice(physical.handle, new("VkDeviceCreateInfo *", info), NULL, handles["device"]),
              "vkCreateDevice")
        self.handle = handles["device"][0]

        self.fn = DeviceFunctions(self.handle)
        self.queue_families = sorted(wanted)
        self.queues = []
        taken: Counter[int] = Counter()
        for family in families:
            q = new("VkQueue *")
            lib.vkGetDeviceQueue(self.handle, family, taken[family], q)
            self.queues.append(Queue(q[0], family, taken[family]))
            taken[family] += 1

        self.lock = threading.RLock()
        self.buffer_memory_type_bits = self._buffer_memory_type_bits()
        self._cache_name = self._load_pipeline_cache(handles["cache"])
        self.pipeline_cache = handles["cache"][0]
        self._cache_saved = -1

    @property
    def cooperative_matrices(self) -> list[dict[str, Any]]:
        """The physical device's cooperative-matrix configurations where this device
        enabled VK_KHR_cooperative_matrix; none where it did not."""
        enabled = "VK_KHR_cooperative_matrix" in self.extensions
        return list(self.physical.properties["cooperative_matrices"]) if enabled else []

    def lacks(self, extension: str | None) -> str:
        """Why a shader cannot use what ``extension`` brings on this device: the
        device lacks it, or has it and kp keeps it off (and why)."""
        name = self.physical.properties["device_name"]
        if extension in self.held_back:
            return f"which {name} has but kp keeps off here: {self.held_back[extension]}"
        return f"which {name} does not support"

    def _check_family(self, family: Any) -> None:
        count = len(self.physical.queue_families)
        if not isinstance(family, int) or isinstance(family, bool) or not 0 <= family < count:
            raise InvalidArgumentError(f"queue family {family!r} does not exist on "
                                       f"{self.physical.properties['device_name']}, which has families 0..{count - 1}")
        if not self.physical.queue_families[family].compute:
            raise InvalidArgumentError(f"queue family {family} does not support compute operations")

    def _buffer_memory_type_bits(self) -> int:
        info = new("VkBufferCreateInfo *", {"sType": C.VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, "size": 256,
                                            "usage": BUFFER_USAGE, "sharingMode": C.VK_SHARING_MODE_EXCLUSIVE})
        out = new("VkBuffer *")
        req = new("VkMemoryRequirements *")
        try:  # from before the buffer is made: Ctrl-C right after it was leaves none behind
            check(lib.vkCreateBuffer(self.handle, info, NULL, out), "vkCreateBuffer")
            lib.vkGetBufferMemoryRequirements(self.handle, out[0], req)
        finally:
            lib.vkDestroyBuffer(self.handle, out[0], NULL)
        bits: int = req.memoryTypeBits
        return bits

    def _load_pipeline_cache(self, out: Any) -> str:
        """Make the pipeline cache into ``out`` (a ``VkPipelineCache *``) from this
        device's cache file; its name."""
        props = self.physical.properties
        key = hashlib.sha256(f"{props['vendor_id']}:{props['device_id']}:{props['driver_version']}:"
                             f"{props['device_name']}".encode()).hexdigest()[:24]
        name = f"{key}.bin"
        data = cache.read("pipelines", name) or b""
        blob = ffi.from_buffer(data) if data else NULL
        info = new("VkPipelineCacheCreateInfo *", {"sType": C.VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                                   "initialDataSize": len(data), "pInitialData": blob})
        if lib.vkCreatePipelineCache(self.handle, info, NULL, out) < 0:
            info.initialDataSize, info.pInitialData = 0, NULL  # a stale or foreign cache file
            check(lib.vkCreatePipelineCache(self.handle, info, NULL, out), "vkCreatePipelineCache")
        return name

    def retire(self, *things: Any) -> None:
        """Retire ``things`` (objects with ``retire()``) so that no submission uses
        them from now on: recorded commands that do are refused."""
        with self.lock:
            for thing in things:
                thing.retire()

    def save_pipeline_cache(self) -> None:
        """Write the pipeline cache to disk if it grew (after a pipeline was built),
        so a later process starts warm without any work at exit."""
        size = new("size_t *")
        if lib.vkGetPipelineCacheData(self.handle, self.pipeline_cache, size, NULL) < 0 \
                or size[0] in (0, self._cache_saved):
            return
        data = new("char[]", size[0])
        if lib.vkGetPipelineCacheData(self.handle, self.pipeline_cache, size, data) >= 0:
            cache.write("pipelines", self._cache_name, bytes(ffi.buffer(data, size[0])))
            self._cache_saved = size[0]


def _destroy_device(handles: dict[str, Any], instance: Instance) -> None:
    """Destroy the device once nothing made on it is left; ``instance`` is passed
    only to outlive it."""
    handle = handles["device"][0]
    if handle == NULL:
        return  # never made, or destroyed by a run that an interrupt cut short (see core.Owned)
    lib.vkDeviceWaitIdle(handle)
    cache, handles["cache"][0] = handles["cache"][0], NULL
    lib.vkDestroyPipelineCache(handle, cache, NULL)
    handles["device"][0] = NULL
    lib.vkDestroyDevice(handle, NULL)
