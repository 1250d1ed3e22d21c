"""Explicit memory barriers (kp already puts one between consecutive operations)."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from .base import TensorOp

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


class OpMemoryBarrier(TensorOp):
    """A memory barrier from ``src_access`` in ``src_stage`` to ``dst_access`` in
    ``dst_stage`` (Kompute's signature; kp records it as a global barrier, which
    covers every buffer of the tensors given)."""

    def __init__(self, tensors, src_access: int = AccessFlags.shader_write | AccessFlags.transfer_write,
                 dst_access: int = AccessFlags.shader_read | AccessFlags.transfer_read,
                 src_stage: int = PipelineStages.compute_shader | PipelineStages.transfer,
                 dst_stage: int = PipelineStages.compute_shader | PipelineStages.transfer,
                 barrier_on_primary: bool = True):
        super().__init__(tensors)
        self.access = (int(src_access), int(dst_access))
        self.stages = (int(src_stage), int(dst_stage))

    def record(self, commands: "Commands") -> None:
        commands.barrier(self.stages[0], self.stages[1], *self.access)

