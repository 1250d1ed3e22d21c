"""Moving tensor data between the host-visible copy and device memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import TensorOp

if TYPE_CHECKING:
    from ..vk import Commands


class OpSyncDevice(TensorOp):
    """Copy each tensor's host data (``data()``) to its device memory. A no-op for
    tensors the device reads directly (host, deviceAndHost, unified memory)."""

    def record(self, commands: "Commands") -> None:
        for tensor in self.tensors:
            if tensor._staging is not None:
                commands.copy(tensor._staging, tensor._primary, tensor.nbytes)


class OpSyncLocal(TensorOp):
    """Copy each tensor's device memory back to its host data (``data()``)."""

    def record(self, commands: "Commands") -> None:
        for tensor in self.tensors:
            if tensor._staging is not None:
                commands.copy(tensor._primary, tensor._staging, tensor.nbytes)


OpTensorSyncDevice = OpSyncDevice
OpTensorSyncLocal = OpSyncLocal
