"""Moving tensor data between the host-visible copy and device memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import vk
from .base import Access, TensorOp

if TYPE_CHECKING:
    from ..memory import Memory
    from ..vk import Allocation, Commands


class _StagingSync(TensorOp):
    """A transfer between each tensor's staging copy and its device memory, in the
    direction ``_ends`` gives; nothing for tensors without a staging copy."""

    def _ends(self, primary: "Allocation", staging: "Allocation") -> tuple["Allocation", "Allocation"]:
        """(source, destination) of the copy between a tensor's ``primary`` memory and its ``staging`` copy."""
        raise NotImplementedError

    def _copies(self) -> list[tuple["Memory", "Allocation", "Allocation"]]:
        return [(t, *self._ends(t.primary_allocation, staging)) for t in self._unique()
                if (staging := t.staging_allocation) is not None]

    def record(self, commands: "Commands") -> None:
        for tensor, source, destination in self._copies():
            commands.copy(source, destination, tensor.nbytes)

    def accesses(self) -> list[Access]:
        return [access for _, source, destination in self._copies() for access in (
            Access(source, vk.TRANSFER, True, False), Access(destination, vk.TRANSFER, False, True))]


class OpSyncDevice(_StagingSync):
    """Copy each tensor's or image's host data (``data()``) to its device memory. A
    no-op for those the device reads directly (host, deviceAndHost, unified memory)."""

    def _ends(self, primary: "Allocation", staging: "Allocation") -> tuple["Allocation", "Allocation"]:
        return staging, primary


class OpSyncLocal(_StagingSync):
    """Copy each tensor's or image's device memory back to its host data (``data()``)."""

    def _ends(self, primary: "Allocation", staging: "Allocation") -> tuple["Allocation", "Allocation"]:
        return primary, staging


OpTensorSyncDevice = OpSyncDevice
OpTensorSyncLocal = OpSyncLocal
