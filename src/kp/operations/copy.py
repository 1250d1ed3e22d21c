"""Copying one tensor into others."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from .. import vk
from ..errors import InvalidArgumentError
from ..image import Image
from ..memory import Memory
from .base import Access, TensorOp

if TYPE_CHECKING:
    from ..vk import Commands


class OpCopy(TensorOp):
    """Copy tensor 0's device data into every other tensor, on the device only.
    Any of them may be images (``kp.Image``): image to image, tensor to image and
    image to tensor copies move the texels row after row, as ``data()`` holds them;
    both sides hold the same dtype and element count, and two images the same
    width and height.

    Each destination's ``data()`` shows the copy after the evaluation, without an
    ``OpSyncLocal``: where it has a separate host copy, the device writes that too,
    at this point of the sequence. The source's host data is never used, so what
    the GPU computed wins: a later operation that changes a destination on the
    device, followed by ``OpSyncLocal``, gives that operation's result.
    """

    minimum = 2

    def __init__(self, tensors: Memory | Sequence[Memory]):
        super().__init__(tensors)
        source = self.tensors[0]
        for i, tensor in enumerate(self.tensors[1:], 1):
            if tensor.dtype != source.dtype or tensor.size() != source.size():
                raise InvalidArgumentError(
                    f"OpCopy: tensor {i} has {tensor.size()} x {tensor.dtype} but the source has "
                    f"{source.size()} x {source.dtype}")
            if isinstance(tensor, Image) and isinstance(source, Image) and tensor.shape != source.shape:
                raise InvalidArgumentError(
                    f"OpCopy: image {i} is {tensor.get_width()} x {tensor.get_height()} but the source image is "
                    f"{source.get_width()} x {source.get_height()}; images copy into images of their size")

    def record(self, commands: "Commands") -> None:
        source = self.tensors[0]
        for target in self._targets():
            commands.copy(source.primary_allocation, target, source.nbytes)

    def _targets(self) -> list[Any]:
        """Each destination's device memory and host copy, once each; the source's
        own device memory is what is copied (a copy onto itself is invalid)."""
        source = self.tensors[0]
        ranges = {id(a): a for t in self.tensors[1:] for a in (t.primary_allocation, t.staging_allocation)
                  if a is not None}
        ranges.pop(id(source.primary_allocation), None)
        return list(ranges.values())

    def accesses(self) -> list[Access]:
        return [Access(self.tensors[0].primary_allocation, vk.TRANSFER, True, False),
                *(Access(target, vk.TRANSFER, False, True) for target in self._targets())]


OpTensorCopy = OpCopy
