"""The exception hierarchy of kp: every error kp raises is a ``KomputeError``.

Subclasses that describe a bad argument also derive from the matching built-in
(``ValueError``, ``TypeError``, ``MemoryError``, ``TimeoutError``) so code written
against plain Python exceptions keeps working.
"""

from __future__ import annotations


class KomputeError(Exception):
    """Base class of every error raised by kp."""


class InvalidArgumentError(KomputeError, ValueError):
    """A value passed to kp is out of range, of the wrong size or inconsistent."""


class DataTypeError(KomputeError, TypeError):
    """A NumPy dtype (or Python type) that kp or the device cannot hold."""


class DeviceNotFoundError(KomputeError, LookupError):
    """No Vulkan device with the requested index or capability exists."""


class DestroyedError(KomputeError):
    """An object was used after it, or the manager that made it, was destroyed."""


class SequenceStateError(KomputeError):
    """A sequence was used in a state that does not allow it (recording, running...)."""


class ShaderError(KomputeError, ValueError):
    """A shader (SPIR-V or GLSL) is invalid or does not match what it is given."""


class ShaderCompileError(ShaderError):
    """GLSL or a Python shader failed to compile; the message holds the compiler's
    diagnostics with file names and line numbers."""


class VulkanError(KomputeError):
    """A Vulkan call failed; ``result`` is the VkResult name, ``code`` its value."""

    def __init__(self, message: str, result: str = "", code: int = 0):
        super().__init__(message)
        self.result = result
        self.code = code


class OutOfDeviceMemoryError(VulkanError, MemoryError):
    """The device or host ran out of memory for a Vulkan allocation."""


class DeviceLostError(VulkanError):
    """The device was lost (driver reset, hang or crash of the GPU)."""


class WaitTimeoutError(KomputeError, TimeoutError):
    """An await with a timeout expired before the GPU finished."""
