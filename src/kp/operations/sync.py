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
            staging = tensor.staging_allocation
            if staging is not None:
                commands.copy(staging, tensor.primary_allocation, tensor.nbytes)

    def accesses(self) -> list[Access]:
        return [access for t in self._unique() if t.staging_allocation is not None for access in (
            Access(t.staging_allocation, vk.TRANSFER, True, False),
            Access(t.primary_allocation, vk.TRANSFER, False, True))]


class OpSyncLocal(TensorOp):
    """Copy each tensor's device memory back to its host data (``data()``)."""

    def record(self, commands: "Commands") -> None:
        for tensor in self._unique():
            staging = tensor.staging_allocation
            if staging is not None:
                commands.copy(tensor.primary_allocation, staging, tensor.nbytes)

    def accesses(self) -> list[Access]:
        return [access for t in self._unique() if t.staging_allocation is not None for access in (
            Access(t.primary_allocation, vk.TRANSFER, True, False),
            Access(t.staging_allocation, vk.TRANSFER, False, True))]


OpTensorSyncDevice = OpSyncDevice
OpTensorSyncLocal = OpSyncLocal
