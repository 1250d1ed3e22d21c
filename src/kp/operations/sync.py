"""Moving tensor data between the host-visible copy and device memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import vk
from .base import Access, TensorOp

if TYPE_CHECKING:
    from ..tensor import Tensor
    from ..vk import Allocation, Commands


class _StagingSync(TensorOp):
    """A transfer between each tensor's staging copy and its device memory, in the
    direction ``_ends`` gives; nothing for tensors without a staging copy."""

    def _ends(self, tensor: "Tensor") -> tuple["Allocation", "Allocation"]:
        """(source, destination) of ``tensor``'s copy."""
        raise NotImplementedError

    def _copies(self) -> list[tuple["Tensor", "Allocation", "Allocation"]]:
        return [(t, *self._ends(t)) for t in self._unique() if t.staging_allocation is not None]

    def record(self, commands: "Commands") -> None:
        for tensor, source, destination in self._copies():
            commands.copy(source, destination, tensor.nbytes)

    def accesses(self) -> list[Access]:
        return [access for _, source, destination in self._copies() for access in (
            Access(source, vk.TRANSFER, True, False), Access(destination, vk.TRANSFER, False, True))]


class OpSyncDevice(_StagingSync):
    """Copy each tensor's or image's host data (``data()``) to its device memory. A
    no-op for those the device reads directly (host, deviceAndHost, unified memory)."""

    def _ends(self, tensor: "Tensor") -> tuple["Allocation", "Allocation"]:
        return tensor.staging_allocation, tensor.primary_allocation


class OpSyncLocal(_StagingSync):
    """Copy each tensor's or image's device memory back to its host data (``data()``)."""

    def _ends(self, tensor: "Tensor") -> tuple["Allocation", "Allocation"]:
        return tensor.primary_allocation, tensor.staging_allocation


OpTensorSyncDevice = OpSyncDevice
OpTensorSyncLocal = OpSyncLocal
