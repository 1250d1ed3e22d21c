"""kp: Kompute's GPU compute API in pure Python over Vulkan.

>>> import kp, numpy as np
>>> mgr = kp.Manager()
>>> a, b = mgr.tensor([1, 2, 3]), mgr.tensor([4, 5, 6])
>>> out = mgr.tensor(np.zeros(3))
>>> seq = mgr.sequence().record(kp.OpSyncDevice([a, b])).record(kp.OpMult([a, b, out], mgr.algorithm())) \\
...     .record(kp.OpSyncLocal([out])).eval()
>>> out.data()
array([ 4., 10., 18.], dtype=float32)
"""

from typing import TYPE_CHECKING

from .algorithm import Algorithm
from .errors import (DataTypeError, DestroyedError, DeviceLostError, DeviceNotFoundError, InvalidArgumentError,
                     KomputeError, OutOfDeviceMemoryError, SequenceStateError, ShaderCompileError, ShaderError,
                     VulkanError, WaitTimeoutError)
from .image import Image
from .log import log_level
from .manager import Manager, list_devices
from .memory import Memory
from .operations import (AccessFlags, OpAlgoDispatch, OpBase, OpCopy, OpMatMul, OpMemoryBarrier, OpMult,
                         OpSyncDevice, OpSyncLocal, OpTensorCopy, OpTensorSyncDevice, OpTensorSyncLocal, PipelineStages)
from .sequence import Sequence
from .tensor import Tensor
from .types import DataTypes, MemoryTypes, TensorTypes
from . import dask, shader

# Kompute's API level (0.9.0) with this implementation's own release after the "+":
# Kompute's C++ package on PyPI, also named kp, is plain 0.9.0.
__version__ = "0.9.0+pure.1"

# Kompute exports its enum values at module level (kp.device, kp.float, ...).
device, host, storage, deviceAndHost, staging = (MemoryTypes.device, MemoryTypes.host, MemoryTypes.storage,
                                                 MemoryTypes.deviceAndHost, MemoryTypes.staging)
globals().update({member.name: member for member in DataTypes})
if TYPE_CHECKING:  # the names the line above defines, spelled out for type checkers
    (bool, int, uint, float, double, custom, short, ushort, char, uchar,  # noqa: A001 (Kompute's names)
     long, ulong, half) = (DataTypes.bool, DataTypes.int, DataTypes.uint, DataTypes.float, DataTypes.double,
                           DataTypes.custom, DataTypes.short, DataTypes.ushort, DataTypes.char, DataTypes.uchar,
                           DataTypes.long, DataTypes.ulong, DataTypes.half)

__all__ = [
    "AccessFlags", "Algorithm", "DataTypeError", "DataTypes", "DestroyedError", "DeviceLostError",
    "DeviceNotFoundError", "Image", "InvalidArgumentError", "KomputeError", "Manager", "Memory", "MemoryTypes",
    "OpAlgoDispatch",
    "OpBase", "OpCopy", "OpMatMul", "OpMemoryBarrier", "OpMult", "OpSyncDevice", "OpSyncLocal", "OpTensorCopy",
    "OpTensorSyncDevice", "OpTensorSyncLocal", "OutOfDeviceMemoryError", "PipelineStages", "Sequence",
    "SequenceStateError", "ShaderCompileError", "ShaderError", "Tensor", "TensorTypes", "VulkanError",
    "WaitTimeoutError", "dask", "list_devices", "log_level", "shader",
]
