"""Barriers only where a hazard exists: while a sequence records, ``Hazards`` keeps
per buffer range the last write and the reads since, and before each operation
records the one barrier its read-after-write, write-after-read and
write-after-write dependencies on earlier operations need (none for independent
work). A user's ``OpMemoryBarrier`` counts as resolving what it covers; an
operation that declares nothing kp knows gets a full barrier on each side."""

from __future__ import annotations

import weakref

from . import vk
from .operations.barrier import AccessFlags, PipelineStages
from .operations.base import Access, Barrier, OpBase

# At the start of a command buffer: every transfer or shader write of earlier
# submissions to the queue is visible to every transfer or shader access after.
START = (vk.COMPUTE | vk.TRANSFER, vk.COMPUTE | vk.TRANSFER, vk.WRITES, vk.READS_WRITES)
# Around an operation kp knows nothing about: everything before it, everything after.
_FULL = Barrier(int(PipelineStages.all_commands), int(PipelineStages.all_commands), int(AccessFlags.memory_write),
                int(AccessFlags.memory_read | AccessFlags.memory_write))

# plain ints: the analysis runs once per recorded operation
_TRANSFER, _COMPUTE, _ALL, _HOST = (int(s) for s in (PipelineStages.transfer, PipelineStages.compute_shader,
                                                      PipelineStages.all_commands, PipelineStages.host))
_READ = {_TRANSFER: int(AccessFlags.transfer_read), _COMPUTE: int(AccessFlags.shader_read)}
_WRITE = {_TRANSFER: int(AccessFlags.transfer_write), _COMPUTE: int(AccessFlags.shader_write)}
_READS, _WRITES = _READ[_TRANSFER] | _READ[_COMPUTE], _WRITE[_TRANSFER] | _WRITE[_COMPUTE]
_MEMORY_READ, _MEMORY_WRITE, _HOST_READ = (int(a) for a in (AccessFlags.memory_read, AccessFlags.memory_write,
                                                             AccessFlags.host_read))


def _stages(mask: int) -> int:
    """The stages among kp's (transfer, compute) that a stage mask includes."""
    return _TRANSFER | _COMPUTE if mask & _ALL else mask & (_TRANSFER | _COMPUTE)


def _access_bits(mask: int) -> int:
    """The transfer and shader accesses an access mask includes."""
    return ((mask & (_READS | _WRITES)) | (_READS if mask & _MEMORY_READ else 0)
            | (_WRITES if mask & _MEMORY_WRITE else 0))


class _Range:
    """What happened to one buffer range since the last full barrier: its last
    write (stage and access, 0 for none), the stages and accesses that write was
    made visible to, and the reads since it: {stage: stages ordered after them}.
    ``seen`` counts the recorded barriers already applied."""

    __slots__ = ("write_stage", "write_access", "visible", "reads", "seen")

    def __init__(self, seen: int):
        self.write_stage = self.write_access = 0
        self.visible: dict[int, int] = {}
        self.reads: dict[int, int] = {}
        self.seen = seen

    def apply(self, allocation, barrier: Barrier) -> None:
        src, dst = _stages(barrier.src_stage), _stages(barrier.dst_stage)
        for stage in self.reads:  # an execution dependency covers all memory
            if stage & src:
                self.reads[stage] |= dst
        if self.write_stage & src and self.write_access & _access_bits(barrier.src_access) and (
                barrier.ranges is None or any(a is allocation for a in barrier.ranges)):
            visible = _access_bits(barrier.dst_access)
            for stage in (_TRANSFER, _COMPUTE):
                if stage & dst:
                    self.visible[stage] = self.visible.get(stage, 0) | (visible & (_READ[stage] | _WRITE[stage]))


class Hazards:
    """The state of every buffer range the recorded commands used, to find the
    barrier an operation needs: one that orders it after the earlier commands
    it conflicts with (read after write, write after read, write after write),
    and nothing where it conflicts with none. Barriers are applied to a range
    when it is next used, so a long chain costs nothing for ranges it leaves alone."""

    def __init__(self):
        self.ranges: dict = {}
        self.log: list[Barrier] = []  # barriers recorded since the last full one
        self.wrote_stages = self.wrote_access = 0  # for the barrier to the host

    def _state(self, allocation) -> _Range:
        state = self.ranges.get(allocation)
        if state is None:
            state = self.ranges[allocation] = _Range(len(self.log))
        elif state.seen < len(self.log):
            for barrier in self.log[state.seen:]:
                state.apply(allocation, barrier)
            state.seen = len(self.log)
        return state

    def full(self) -> None:
        """A barrier from all commands and memory to all: nothing before is pending."""
        self.ranges, self.log = {}, []

    def unknown(self) -> None:
        """An operation that may have written anything, in any stage."""
        self.full()
        self.wrote_stages |= _FULL.src_stage
        self.wrote_access |= _FULL.src_access

    def needed(self, accesses: dict) -> Barrier | None:
        """The one global barrier that these accesses (``_merged``) need, if any."""
        src_stage = dst_stage = src_access = dst_access = 0
        for (allocation, stage), bits in accesses.items():
            state = self._state(allocation)
            writes = bits & _WRITES
            if state.write_stage:
                # a write after reads conflicts with those reads only: the write
                # before them was made available for them already
                missing = (bits & ~writes if state.reads else bits) & ~state.visible.get(stage, 0)
                if missing:
                    src_stage |= state.write_stage
                    src_access |= state.write_access
                    dst_stage |= stage
                    dst_access |= missing
            if writes:
                for read_stage, ordered in state.reads.items():
                    if not stage & ordered:
                        src_stage |= read_stage
                        dst_stage |= stage
        return Barrier(src_stage, dst_stage, src_access, dst_access) if src_stage else None

    def barrier(self, barrier: Barrier) -> None:
        self.log.append(barrier)

    def accessed(self, accesses: dict) -> None:
        for (allocation, stage), bits in accesses.items():
            state = self._state(allocation)
            if bits & _WRITES:
                state.write_stage, state.write_access = stage, bits & _WRITES
                state.visible, state.reads = {}, {}
                self.wrote_stages |= stage
                self.wrote_access |= bits & _WRITES
            else:
                state.reads[stage] = 0

    def to_host(self) -> tuple | None:
        """The barrier that makes the device's writes visible to the host, if any wrote."""
        if not self.wrote_stages:
            return None
        return self.wrote_stages, _HOST, self.wrote_access, _HOST_READ

    def record(self, op: OpBase, commands: "vk.Commands") -> None:
        """Record ``op`` after the one barrier its dependencies on the operations
        before need, if any (all the analysis is done here, none at evaluation)."""
        accesses = _declared_accesses(op)
        if accesses is None:
            commands.barrier(*_FULL)
            op.record(commands)
            commands.barrier(*_FULL)
            self.unknown()
            return
        accesses = _merged(accesses)
        barrier = self.needed(accesses)
        if barrier is not None:
            commands.barrier(*barrier)
            self.barrier(barrier)
        op.record(commands)
        for barrier in op.barriers():
            self.barrier(barrier)
        self.accessed(accesses)


def _merged(accesses: list[Access]) -> dict:
    """{(allocation, stage): access bits} over an operation's accesses."""
    merged: dict = {}
    for allocation, stage, reads, writes in accesses:
        bits = (_READ[stage] if reads else 0) | (_WRITE[stage] if writes else 0)
        key = (allocation, stage)
        merged[key] = merged.get(key, 0) | bits
    return merged


_described: "weakref.WeakKeyDictionary[type, bool]" = weakref.WeakKeyDictionary()


def _declared_accesses(op: OpBase) -> list[Access] | None:
    """The operation's accesses, or None where its ``record`` is not the one its
    ``accesses`` describe (a subclass that records commands of its own)."""
    cls = type(op)
    described = _described.get(cls)
    if described is None:
        recorder = next(c for c in cls.__mro__ if "record" in vars(c))
        declarer = next(c for c in cls.__mro__ if "accesses" in vars(c))
        described = _described[cls] = issubclass(declarer, recorder)
    return op.accesses() if described else None
