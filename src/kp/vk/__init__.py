"""The thin Vulkan layer: the only part of kp that touches cffi and the loader."""

from .commands import ALL_COMMANDS, COMPUTE, HOST, HOST_READ, READS_WRITES, TRANSFER, WRITES, Commands, Submission
from .core import drain, live_handles, pending_releases
from .device import Device, Queue
from .instance import Instance, PhysicalDevice, shared_instance, take_validation_messages, validation_enabled
from .memory import Allocation, Allocator
from .pipeline import ComputePipeline

__all__ = [
    "ALL_COMMANDS", "COMPUTE", "HOST", "HOST_READ", "READS_WRITES", "TRANSFER", "WRITES", "Allocation",
    "Allocator", "Commands", "ComputePipeline", "Device", "Instance", "PhysicalDevice", "Queue", "Submission",
    "drain", "live_handles", "pending_releases", "shared_instance", "take_validation_messages",
    "validation_enabled",
]
