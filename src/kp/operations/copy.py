"""Copying one tensor into others."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InvalidArgumentError
from .base import TensorOp

if TYPE_CHECKING:
    from ..vk import Commands


class OpCopy(TensorOp):
    """Copy tensor 0 into every other tensor: on the device, and (after the
    evaluation) on the host, so both copies of each destination match the source."""

    minimum = 2

    def __init__(self, tensors):
        super().__init__(tensors)
        source = self.tensors[0]
        for i, tensor in enumerate(self.tensors[1:], 1):
            if tensor.dtype != source.dtype or tensor.size() != source.size():
                raise InvalidArgumentError(
                    f"OpCopy: tensor {i} has {tensor.size()} x {tensor.dtype} but the source has "
                    f"{source.size()} x {source.dtype}")

    def record(self, commands: "Commands") -> None:
        source = self.tensors[0]
        for tensor in self.tensors[1:]:
            commands.copy(source._primary, tensor._primary, source.nbytes)

    def post_eval(self) -> None:
        source = self.tensors[0]._array
        if source is None:
            return
        for tensor in self.tensors[1:]:
            if tensor._array is not None and tensor._array is not source:
                tensor._array[:] = source


OpTensorCopy = OpCopy
