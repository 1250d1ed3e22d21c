"""What each Vulkan device is and can do, as plain data (``kp devices`` prints it):
its index and UUID (what ``kp.Manager(device=...)`` takes), type, driver, API
version, memory heaps and types, queue families, subgroups, and the limits and
optional features kp uses."""

from __future__ import annotations

from typing import Any

from ..errors import DeviceNotFoundError
from .core import NULL, C, lib, new, string, version_string
from .instance import EXTENSION_FEATURES, PhysicalDevice, shared_instance

# Flag bits by the names the report gives them: one table per Vulkan flag type.
QUEUE_FLAGS = {"graphics": C.VK_QUEUE_GRAPHICS_BIT, "compute": C.VK_QUEUE_COMPUTE_BIT,
               "transfer": C.VK_QUEUE_TRANSFER_BIT, "sparse_binding": C.VK_QUEUE_SPARSE_BINDING_BIT,
               "protected": 0x10}  # VK_QUEUE_PROTECTED_BIT (1.1): the bindings lack the 1.1 bits
MEMORY_PROPERTIES = {"device_local": C.VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                     "host_visible": C.VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
                     "host_coherent": C.VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                     "host_cached": C.VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
                     "lazily_allocated": C.VK_MEMORY_PROPERTY_LAZILY_ALLOCATED_BIT,
                     "protected": 0x20}  # VK_MEMORY_PROPERTY_PROTECTED_BIT (1.1)
HEAP_FLAGS = {"device_local": C.VK_MEMORY_HEAP_DEVICE_LOCAL_BIT, "multi_instance": 0x2}  # VK_MEMORY_HEAP_MULTI_INSTANCE_BIT
SUBGROUP_OPERATIONS = {"basic": C.VK_SUBGROUP_FEATURE_BASIC_BIT, "vote": C.VK_SUBGROUP_FEATURE_VOTE_BIT,
                       "arithmetic": C.VK_SUBGROUP_FEATURE_ARITHMETIC_BIT, "ballot": C.VK_SUBGROUP_FEATURE_BALLOT_BIT,
                       "shuffle": C.VK_SUBGROUP_FEATURE_SHUFFLE_BIT,
                       "shuffle_relative": C.VK_SUBGROUP_FEATURE_SHUFFLE_RELATIVE_BIT,
                       "clustered": C.VK_SUBGROUP_FEATURE_CLUSTERED_BIT, "quad": C.VK_SUBGROUP_FEATURE_QUAD_BIT}
SHADER_STAGES = {"compute": C.VK_SHADER_STAGE_COMPUTE_BIT, "vertex": C.VK_SHADER_STAGE_VERTEX_BIT,
                 "fragment": C.VK_SHADER_STAGE_FRAGMENT_BIT, "geometry": C.VK_SHADER_STAGE_GEOMETRY_BIT,
                 "tessellation_control": C.VK_SHADER_STAGE_TESSELLATION_CONTROL_BIT,
                 "tessellation_evaluation": C.VK_SHADER_STAGE_TESSELLATION_EVALUATION_BIT}
# The limits kp reads (from the device's properties), in the order they are shown.
LIMITS = ("max_work_group_count", "max_work_group_size", "max_work_group_invocations", "max_shared_memory_size",
          "max_push_constants_size", "max_storage_buffer_range", "max_memory_allocation_count",
          "timestamps_supported", "timestamp_period")


def _names(flags: int, table: dict[str, int]) -> list[str]:
    return [name for name, bit in table.items() if flags & bit]


def driver_version_string(vendor_id: int, version: int) -> str:
    """The driver version as its vendor numbers it (NVIDIA packs 10.8.8.6 bits)."""
    if vendor_id == 0x10DE:
        return f"{version >> 22}.{(version >> 14) & 0xFF}.{(version >> 6) & 0xFF}.{version & 0x3F}"
    return version_string(version)


def _driver(physical: PhysicalDevice) -> dict[str, Any]:
    properties = physical.properties
    driver: dict[str, Any] = {"version": driver_version_string(properties["vendor_id"], properties["driver_version"])}
    if physical.limits["api_version"] >= C.VK_MAKE_VERSION(1, 2, 0):
        info = new("VkPhysicalDeviceDriverProperties *", {"sType": C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES})
        props2 = new("VkPhysicalDeviceProperties2 *", {"sType": C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                                       "pNext": info})
        lib.vkGetPhysicalDeviceProperties2(physical.handle, props2)
        conformance = info.conformanceVersion
        driver.update(id=info.driverID, name=string(info.driverName), info=string(info.driverInfo),
                      conformance=f"{conformance.major}.{conformance.minor}.{conformance.subminor}."
                                  f"{conformance.patch}")
    return driver


def _subgroup(physical: PhysicalDevice) -> dict[str, Any]:
    subgroup = new("VkPhysicalDeviceSubgroupProperties *",
                   {"sType": C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES})
    props2 = new("VkPhysicalDeviceProperties2 *", {"sType": C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                                   "pNext": subgroup})
    lib.vkGetPhysicalDeviceProperties2(physical.handle, props2)
    return {"size": subgroup.subgroupSize, "stages": _names(subgroup.supportedStages, SHADER_STAGES),
            "operations": _names(subgroup.supportedOperations, SUBGROUP_OPERATIONS),
            "quad_operations_in_all_stages": bool(subgroup.quadOperationsInAllStages)}


def _queue_families(physical: PhysicalDevice) -> list[dict[str, Any]]:
    count = new("uint32_t *")
    lib.vkGetPhysicalDeviceQueueFamilyProperties(physical.handle, count, NULL)
    families = new("VkQueueFamilyProperties[]", count[0])
    lib.vkGetPhysicalDeviceQueueFamilyProperties(physical.handle, count, families)
    return [{"index": i, "queue_count": family.queueCount, "flags": _names(family.queueFlags, QUEUE_FLAGS),
             "timestamp_valid_bits": family.timestampValidBits} for i, family in enumerate(families)]


def describe(physical: PhysicalDevice, index: int) -> dict[str, Any]:
    """Everything ``kp devices`` shows about one device, as JSON-ready data: ``index``
    is its position among the visible devices (what ``kp.Manager(device=...)`` takes),
    ``vulkan_index`` its position among all of Vulkan's."""
    properties = physical.properties
    return {
        "index": index,
        "vulkan_index": physical.index,
        "uuid": properties["uuid"],
        "device_name": properties["device_name"],
        "device_type": properties["device_type"],
        "vendor_id": properties["vendor_id"],
        "device_id": properties["device_id"],
        "api_version": properties["api_version"],
        "driver": _driver(physical),
        "memory_heaps": [{"index": i, "size": size, "flags": _names(flags, HEAP_FLAGS)}
                         for i, (size, flags) in enumerate(physical.memory_heaps)],
        "memory_types": [{"index": i, "heap": heap, "flags": _names(flags, MEMORY_PROPERTIES)}
                         for i, (flags, heap) in enumerate(physical.memory_types)],
        "queue_families": _queue_families(physical),
        "subgroup": _subgroup(physical),
        "limits": {name: list(value) if isinstance(value, tuple) else value
                   for name, value in ((name, properties[name]) for name in LIMITS)}
        | {"min_storage_buffer_offset_alignment": physical.limits["min_storage_buffer_offset_alignment"],
           "non_coherent_atom_size": physical.limits["non_coherent_atom_size"]},
        "features": dict(physical.features),
        "cooperative_matrices": properties["cooperative_matrices"],
        "extensions": {name: name in physical.extensions for name in EXTENSION_FEATURES},
    }


def describe_all() -> list[dict[str, Any]]:
    """``describe`` of every device ``kp.list_devices()`` lists, in its order: those
    ``KP_VISIBLE_DEVICES`` names (once per time it names them), or all; raises
    ``kp.DeviceNotFoundError`` as ``kp.Manager`` does for an entry that names none."""
    return [describe(physical, index) for index, physical in enumerate(shared_instance().visible_devices())]


def why_no_device() -> str:
    """What ``kp.Manager()`` says where ``describe_all()`` is empty: no driver, or
    ``KP_VISIBLE_DEVICES`` hides every device."""
    try:
        shared_instance().find_device(0)
    except DeviceNotFoundError as error:
        return str(error)
    return ""
