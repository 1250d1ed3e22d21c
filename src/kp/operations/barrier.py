"""Explicit memory barriers. kp puts a barrier wherever an operation depends on an
earlier one, except where the user's own ``OpMemoryBarrier`` already covers it."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import InvalidArgumentError
from ..memory import Memory
from .base import Access, Barrier, TensorOp

if TYPE_CHECKING:
    from ..vk import Commands


class AccessFlags(enum.IntFlag):
    """VkAccessFlagBits kp's operations use."""

    shader_read = 0x20
    shader_write = 0x40
    transfer_read = 0x800
    transfer_write = 0x1000
    host_read = 0x2000
    host_write = 0x4000
    memory_read = 0x8000
    memory_write = 0x10000


class PipelineStages(enum.IntFlag):
    """VkPipelineStageFlagBits kp's operations use."""

    top_of_pipe = 0x1
    compute_shader = 0x800
    transfer = 0x1000
    bottom_of_pipe = 0x2000
    host = 0x4000
    all_commands = 0x10000


# The stages at which each access happens (memory_read and memory_write: any stage);
# all_commands covers every stage.
_ACCESS_STAGES = {
    AccessFlags.shader_read: PipelineStages.compute_shader, AccessFlags.shader_write: PipelineStages.compute_shader,
    AccessFlags.transfer_read: PipelineStages.transfer, AccessFlags.transfer_write: PipelineStages.transfer,
    AccessFlags.host_read: PipelineStages.host, AccessFlags.host_write: PipelineStages.host,
}


def _flags(value: Any, kind: type[enum.IntFlag], name: str) -> int:
    """``value`` as a mask of ``kind``'s bits, or an ``InvalidArgumentError`` naming
    the argument ``name`` and what is wrong."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgumentError(f"OpMemoryBarrier {name} must be kp.{kind.__name__} flags (an int), got {value!r}")
    mask = int(value)
    known = sum(int(flag) for flag in kind)  # one bit each
    if mask < 0 or mask & ~known:
        raise InvalidArgumentError(f"OpMemoryBarrier {name} {mask:#x} has bits that are not kp.{kind.__name__} "
                                   f"({', '.join(flag.name or '' for flag in kind)})")
    return mask


def _check_accesses(access: int, stages: int, side: str) -> None:
    if not stages:
        raise InvalidArgumentError(f"OpMemoryBarrier {side}_stage is empty: give at least one kp.PipelineStages")
    for flag, stage in _ACCESS_STAGES.items():
        if access & flag and not stages & (stage | PipelineStages.all_commands):
            raise InvalidArgumentError(f"OpMemoryBarrier {side}_access has {flag.name}, which happens in the "
                                       f"{stage.name} stage, but {side}_stage {PipelineStages(stages)!r} leaves it out")


class OpMemoryBarrier(TensorOp):
    """Kompute's buffer (and image) memory barrier: on each tensor's or image's device memory (or, with
    ``barrier_on_primary=False``, on its host staging copy, for the tensors that
    have one), ``src_access`` in ``src_stage`` is made available and visible to
    ``dst_access`` in ``dst_stage``. The sequence adds no barrier of its own for
    what this one covers:

    >>> mgr = kp.Manager()
    >>> a, seq = mgr.tensor([1.0, 2.0]), mgr.sequence()
    >>> seq = seq.record(kp.OpSyncDevice([a])).record(kp.OpMemoryBarrier(
    ...     [a], kp.AccessFlags.transfer_write, kp.AccessFlags.shader_read,
    ...     kp.PipelineStages.transfer, kp.PipelineStages.compute_shader))
    """

    def __init__(self, tensors: Memory | Sequence[Memory],
                 src_access: int = AccessFlags.shader_write | AccessFlags.transfer_write,
                 dst_access: int = AccessFlags.shader_read | AccessFlags.transfer_read,
                 src_stage: int = PipelineStages.compute_shader | PipelineStages.transfer,
                 dst_stage: int = PipelineStages.compute_shader | PipelineStages.transfer,
                 barrier_on_primary: bool = True):
        super().__init__(tensors)
        self.access = (_flags(src_access, AccessFlags, "src_access"), _flags(dst_access, AccessFlags, "dst_access"))
        self.stages = (_flags(src_stage, PipelineStages, "src_stage"), _flags(dst_stage, PipelineStages, "dst_stage"))
        for side, access, stages in zip(("src", "dst"), self.access, self.stages):
            _check_accesses(access, stages, side)
        self.barrier_on_primary = bool(barrier_on_primary)

    def _barrier(self) -> Barrier | None:
        candidates = tuple(t.primary_allocation if self.barrier_on_primary else t.staging_allocation
                           for t in self._unique())
        ranges = tuple(a for a in candidates if a is not None)
        return Barrier(*self.stages, *self.access, ranges) if ranges else None

    def record(self, commands: "Commands") -> None:
        barrier = self._barrier()
        if barrier is not None:
            commands.barrier(*barrier[:4], list(barrier.ranges or ()))

    def accesses(self) -> list[Access]:
        return []

    def barriers(self) -> list[Barrier]:
        barrier = self._barrier()
        return [barrier] if barrier is not None else []
