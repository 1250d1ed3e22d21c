"""The thin Vulkan layer: the only part of kp that touches cffi and the loader."""

from .commands import ALL_COMMANDS, COMPUTE, HOST, HOST_READ, READS_WRITES, TRANSFER, WRITES, Commands
from .core import live_handles
from .device import Device, Queue
from .instance import Instance, PhysicalDevice, shared_instance, take_validation_messages, validation_enabled
from .memory import Allocation
from .pipeline import ComputePipeline

__all__ = [
    "ALL_COMMANDS", "COMPUTE", "HOST", "HOST_READ", "READS_WRITES", "TRANSFER", "WRITES", "Allocation",
    "Commands", "ComputePipeline", "Device", "Instance", "PhysicalDevice", "Queue", "live_handles",
    "shared_instance", "take_validation_messages", "validation_enabled",
]
