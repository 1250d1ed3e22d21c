"""Moving tensor data between the host-visible copy and device memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import vk
from .base import Access, TensorOp

if TYPE_CHECKING:
    from ..vk import Commands


class OpSyncDevice(TensorOp):
    """Copy each tensor's host data (``data()``) to its device memory. A no-op for
    tensors the device reads directly (host, deviceAndHost, unified memory)."""

    def record(self, commands: "Commands") -> None:
        for tensor in self._unique():
            if tensor._staging is not None:
                commands.copy(tensor._staging, tensor._primary, tensor.nbytes)

    def accesses(self) -> list[Access]:
        return [access for t in self._unique() if t._staging is not None for access in (
            Access(t._staging, vk.TRANSFER, True, False), Access(t._primary, vk.TRANSFER, False, True))]


class OpSyncLocal(TensorOp):
    """Copy each tensor's device memory back to its host data (``data()``)."""

    def record(self, commands: "Commands") -> None:
        for tensor in self._unique():
            if tensor._staging is not None:
                commands.copy(tensor._primary, tensor._staging, tensor.nbytes)

    def accesses(self) -> list[Access]:
        return [access for t in self._unique() if t._staging is not None for access in (
            Access(t._primary, vk.TRANSFER, True, False), Access(t._staging, vk.TRANSFER, False, True))]


OpTensorSyncDevice = OpSyncDevice
OpTensorSyncLocal = OpSyncLocal
