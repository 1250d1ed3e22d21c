"""Barriers only where a hazard exists: while a sequence records, ``Hazards`` keeps
per buffer range the last write and the reads since, and before each operation
records the one barrier its read-after-write, write-after-read and
write-after-write dependencies on earlier operations need (none for independent
work). A user's ``OpMemoryBarrier`` counts as resolving what it covers; an
operation that declares nothing kp knows gets a full barrier on each side.

An image is one range, with a layout besides: GENERAL for shaders, the transfer
source or destination layout for copies. Where an operation needs another layout
than the image has, the barrier before it transitions the image (ordered after
every earlier access of it); ``home`` moves every image back to GENERAL before
the command buffer ends, which is where each submission finds them."""

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
        self.layouts: dict = {}  # images not in GENERAL: their layout now

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

    def needed(self, accesses: dict, transitions: dict | None = None) -> Barrier | None:
        """The one global barrier that these accesses (``_merged``) need, if any,
        besides the ``transitions`` (images whose own barrier orders them)."""
        src_stage = dst_stage = src_access = dst_access = 0
        for (allocation, stage), bits in accesses.items():
            if transitions and allocation in transitions:
                continue
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

    def transitions(self, accesses: dict) -> dict:
        """{image: (old layout, new layout, source stages, source access, destination
        stage, destination access)} for the images these accesses need in another
        layout: each after every earlier access of the image in this recording, or
        after the start of the command buffer."""
        found: dict = {}
        for (allocation, stage), bits in accesses.items():
            if not isinstance(allocation, vk.Image):
                continue
            layout = _layout(stage, bits)
            old = self.layouts.get(allocation, vk.GENERAL)
            if layout == old:
                continue
            state = self._state(allocation)
            src_stage = state.write_stage
            for read_stage in state.reads:
                src_stage |= read_stage
            # without accesses of its own (an operation's explicit barrier), for any access after
            found[allocation] = (old, layout, src_stage or _TRANSFER | _COMPUTE, state.write_access, stage,
                                 bits or _READ[stage] | _WRITE[stage])
        return found

    def transitioned(self, transitions: dict) -> None:
        """After ``transitions`` were recorded: the layout transition (a write) is
        visible to accesses in its destination stage."""
        for image, (_, layout, _, _, stage, visible) in transitions.items():
            if layout == vk.GENERAL:
                self.layouts.pop(image, None)
            else:
                self.layouts[image] = layout
            state = self._state(image)
            state.write_stage, state.write_access = stage, _WRITE[stage]
            state.visible, state.reads = {stage: visible}, {}
            self.wrote_stages |= stage
            self.wrote_access |= _WRITE[stage]

    def record_transitions(self, commands: "vk.Commands", transitions: dict, barrier: Barrier | None) -> None:
        """Record ``transitions`` with the global ``barrier`` (if any) in one pipeline barrier."""
        src_stage = dst_stage = src_access = dst_access = 0
        if barrier is not None:
            src_stage, dst_stage, src_access, dst_access = barrier[:4]
        for _, _, src, _, dst, _ in transitions.values():
            src_stage, dst_stage = src_stage | src, dst_stage | dst
        commands.barrier(src_stage, dst_stage, src_access, dst_access, transitions=[
            (image, old, new, old_access, new_access)
            for image, (old, new, _, old_access, _, new_access) in transitions.items()])
        if barrier is not None:
            self.barrier(barrier)
        self.transitioned(transitions)

    def home(self, commands: "vk.Commands") -> None:
        """Move every image this recording left in a transfer layout back to GENERAL,
        where the next submission (of any sequence) expects it."""
        if self.layouts:
            self.record_transitions(commands, self.transitions({
                (image, _COMPUTE): _READ[_COMPUTE] | _WRITE[_COMPUTE] for image in self.layouts}), None)

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
            self.home(commands)  # the operation's own commands find images where the user expects them
            commands.barrier(*_FULL)
            op.record(commands)
            commands.barrier(*_FULL)
            self.unknown()
            return
        accesses = _merged(accesses)
        for barrier in op.barriers():  # an operation's own image barriers take images in GENERAL
            for image in barrier.ranges or ():
                if image in self.layouts:
                    accesses.setdefault((image, _COMPUTE), 0)
        transitions = self.transitions(accesses)
        barrier = self.needed(accesses, transitions)
        if transitions:
            self.record_transitions(commands, transitions, barrier)
        elif barrier is not None:
            commands.barrier(*barrier)
            self.barrier(barrier)
        op.record(commands)
        for barrier in op.barriers():
            self.barrier(barrier)
        self.accessed(accesses)


def _layout(stage: int, bits: int) -> int:
    """The layout an image access in ``stage`` needs."""
    if stage == _TRANSFER:
        return vk.TRANSFER_DST_LAYOUT if bits & _WRITES else vk.TRANSFER_SRC_LAYOUT
    return vk.GENERAL


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
