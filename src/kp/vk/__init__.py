"""The thin Vulkan layer: the only part of kp that touches cffi and the loader."""

from .commands import (ALL_COMMANDS, COMPUTE, GENERAL, HOST, HOST_READ, READS_WRITES, TRANSFER, TRANSFER_DST_LAYOUT,
                       TRANSFER_SRC_LAYOUT, WRITES, Commands, Submission)
from .core import defer, drain, live_handles, on_fork, pending_releases
from .device import Device, Queue
from .image import Image, image_format
from .instance import (Instance, PhysicalDevice, shader_printf_enabled, shared_instance, take_validation_messages,
                       validation_enabled)
from .memory import Allocation, Allocator
from .pipeline import ComputePipeline

__all__ = [
    "ALL_COMMANDS", "COMPUTE", "GENERAL", "HOST", "HOST_READ", "READS_WRITES", "TRANSFER", "TRANSFER_DST_LAYOUT",
    "TRANSFER_SRC_LAYOUT", "WRITES", "Allocation",
    "Allocator", "Commands", "ComputePipeline", "Device", "Image", "Instance", "PhysicalDevice", "Queue", "Submission",
    "defer", "drain", "image_format", "live_handles", "on_fork", "pending_releases",
    "shader_printf_enabled", "shared_instance", "take_validation_messages",
    "validation_enabled",
]
