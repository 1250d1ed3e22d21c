"""Sequences: operations recorded once into a command buffer and evaluated any
number of times, synchronously or asynchronously."""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from typing import TYPE_CHECKING, Generator

from . import vk
from .errors import DestroyedError, InvalidArgumentError, KomputeError, SequenceStateError, WaitTimeoutError
from .log import logger
from .operations.barrier import AccessFlags, PipelineStages
from .operations.base import Access, Barrier, OpBase
from .seed import SeedSequenceAPI

if TYPE_CHECKING:
    from .manager import Manager

# At the start of a command buffer: every transfer or shader write of earlier
# submissions to the queue is visible to every transfer or shader access after.
_START = (vk.COMPUTE | vk.TRANSFER, vk.COMPUTE | vk.TRANSFER, vk.WRITES, vk.READS_WRITES)
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


class _Hazards:
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


def _merged(accesses: list[Access]) -> dict:
    """{(allocation, stage): access bits} over an operation's accesses."""
    merged: dict = {}
    for allocation, stage, reads, writes in accesses:
        bits = (_READ[stage] if reads else 0) | (_WRITE[stage] if writes else 0)
        key = (allocation, stage)
        merged[key] = merged.get(key, 0) | bits
    return merged


def _overrides(op: OpBase, name: str) -> bool:
    return getattr(type(op), name) is not getattr(OpBase, name)


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


class Sequence(SeedSequenceAPI):
    """A command buffer of recorded operations on one queue. Make it with
    ``mgr.sequence()``; ``seq.record(op)`` is chainable:

    >>> mgr.sequence().record(kp.OpSyncDevice([a])).record(kp.OpAlgoDispatch(algo)).eval()
    """

    def __init__(self, manager: "Manager", queue_index: int = 0, total_timestamps: int = 0):
        device = manager._device_or_raise()
        if not isinstance(queue_index, int) or not 0 <= queue_index < len(device.queues):
            raise InvalidArgumentError(f"queue_index {queue_index!r} is out of range: the manager has "
                                       f"{len(device.queues)} queue(s)")
        if not isinstance(total_timestamps, int) or total_timestamps < 0:
            raise InvalidArgumentError(f"total_timestamps must be a non-negative int, got {total_timestamps!r}")
        if total_timestamps and not device.physical.properties["timestamps_supported"]:
            raise KomputeError("Device does not support timestamps")
        self._manager = manager
        self._queue_index = queue_index
        self._commands: vk.Commands | None = vk.Commands(device, device.queues[queue_index], total_timestamps)
        self._ops: list[OpBase] = []
        self._recorded: list[OpBase] = []  # what the command buffer holds; kept alive with it
        self._pre: list[OpBase] = []
        self._post: list[OpBase] = []
        self._recording = False
        self._running = False
        self._stale = False  # the recording used something since destroyed
        self._hazards = _Hazards()
        self._lock = threading.RLock()
        manager._adopt(self)

    # -- recording -----------------------------------------------------------------
    def _live_commands(self) -> vk.Commands:
        vk.drain()  # kp is entered: destroy what was released and is no longer in use
        commands = self._commands
        if commands is None or self._manager._device is None:
            raise DestroyedError("sequence was destroyed (or its manager was)")
        return commands

    def _begin(self) -> None:
        commands = self._live_commands()
        if self._running:
            raise SequenceStateError("cannot record into a running sequence: await it first")
        commands.begin()
        commands.timestamp()
        commands.barrier(*_START)  # the state before is unknown: earlier submissions may have written
        self._hazards = _Hazards()
        self._recorded = []
        self._stale = False
        self._recording = True

    def record(self, op: OpBase) -> "Sequence":
        """Append ``op`` (beginning a new command buffer after an evaluation)."""
        with self._lock:
            commands = self._live_commands()
            if not isinstance(op, OpBase):
                raise InvalidArgumentError(f"Sequence.record takes a kp operation (kp.Op...), got "
                                           f"{type(op).__name__}")
            if self._running:
                raise SequenceStateError("cannot record into a running sequence: await it first")
            # Under the device lock no destroy() can retire what is checked here
            # before its commands are recorded.
            with commands.device.lock:
                op.check(self._manager)
                if self._stale:  # a recording refused for using something destroyed: start anew
                    self._ops, self._pre, self._post, self._stale = [], [], [], False
                self._check_recorded()
                if not self._recording:
                    self._begin()
                self._record_op(op, commands)
                # also what an op records no command for (a sync in unified memory):
                # its evaluation must refuse destroyed tensors in every memory mode
                commands.use(a.life for obj in op.memory_objects() for a in obj.allocations())
                commands.timestamp()
            self._recorded.append(op)
            self._ops.append(op)
            if _overrides(op, "pre_eval"):
                self._pre.append(op)
            if _overrides(op, "post_eval"):
                self._post.append(op)
        return self

    def _record_op(self, op: OpBase, commands: vk.Commands) -> None:
        """Record ``op`` after the one barrier its dependencies on the operations
        before need, if any (all the analysis is done here, none at evaluation)."""
        hazards = self._hazards
        accesses = _declared_accesses(op)
        if accesses is None:
            commands.barrier(*_FULL)
            op.record(commands)
            commands.barrier(*_FULL)
            hazards.unknown()
            return
        accesses = _merged(accesses)
        barrier = hazards.needed(accesses)
        if barrier is not None:
            commands.barrier(*barrier)
            hazards.barrier(barrier)
        op.record(commands)
        for barrier in op.barriers():
            hazards.barrier(barrier)
        hazards.accessed(accesses)

    def _check_recorded(self) -> None:
        """Refuse a recording that uses something destroyed since it was recorded:
        its command buffer is discarded (nothing may be added to it or submit it)
        and every later evaluation raises too, until ``clear()`` or ``record()``
        starts a new recording. Called with the device lock held."""
        if not self._stale:
            try:
                self._commands.check_uses()
                return
            except DestroyedError:
                self._commands.reset()
                self._recording = False
                self._recorded = []
                self._stale = True
        raise DestroyedError("the sequence's recorded operations use a tensor or algorithm that was "
                             "destroyed; clear() it and record it again")

    def _end(self) -> None:
        if self._recording:
            commands = self._commands
            with commands.device.lock:
                self._check_recorded()
                to_host = self._hazards.to_host()
                if to_host is not None:
                    commands.barrier(*to_host)
                commands.end()
            self._hazards = _Hazards()  # holds no buffer range once recording ends
            self._recording = False

    def clear(self) -> "Sequence":
        """Forget the recorded operations (the last command buffer stays submittable)."""
        with self._lock:
            try:
                self._end()
            except DestroyedError:
                pass  # the recording was discarded, as clear() asks
            self._stale = False
            self._ops, self._pre, self._post = [], [], []
        return self

    def rerecord(self) -> "Sequence":
        """Record every operation again into a fresh command buffer (after rebuilding
        an algorithm or tensor)."""
        with self._lock:
            ops = self._ops
            self.clear()
            self._recording = False
            for op in ops:
                self.record(op)
        return self

    # -- evaluation ------------------------------------------------------------------
    def _submit(self) -> bool:
        commands = self._live_commands()
        if self._running:
            raise SequenceStateError("sequence is already running: call eval_await() first")
        self._end()
        if self._stale:
            self._check_recorded()
        if not self._recorded:
            logger.warning("evaluating a sequence with nothing recorded does nothing")
            return False
        for op in self._pre:
            op.pre_eval()
        with commands.device.lock:
            try:
                commands.submit()
            except DestroyedError:
                self._check_recorded()
                raise
        self._running = True
        return True

    def _finish(self, timeout_ns: int | None) -> None:
        if not self._commands.wait(timeout_ns):
            raise WaitTimeoutError(f"the sequence did not finish within {timeout_ns} ns; it is still "
                                   f"running and a later eval_await() completes it")
        self._running = False
        for op in self._post:
            op.post_eval()
        vk.drain()  # what waited for this evaluation can go now

    def eval(self, op: OpBase | None = None) -> "Sequence":
        """Run the recorded operations (or only ``op``, replacing them) and wait."""
        with self._lock:
            if op is not None:
                self.clear()
                self.record(op)
            if self._submit():
                self._finish(None)
        return self

    def eval_async(self, op: OpBase | None = None) -> "Sequence":
        """Submit the recorded operations (or only ``op``) without waiting."""
        with self._lock:
            if op is not None:
                self.clear()
                self.record(op)
            self._submit()
        return self

    def eval_await(self, timeout_ns: int | None = None) -> "Sequence":
        """Wait for the running evaluation and run the operations' host work.
        Raises ``kp.WaitTimeoutError`` if ``timeout_ns`` passes first (the sequence
        stays running). Does nothing if the sequence is not running."""
        if timeout_ns is not None and (not isinstance(timeout_ns, int) or timeout_ns < 0):
            raise InvalidArgumentError(f"timeout_ns must be a non-negative int, got {timeout_ns!r}")
        with self._lock:
            if not self._running:
                logger.debug("eval_await on a sequence that is not running")
                return self
            self._finish(timeout_ns)
        return self

    async def wait(self, timeout_ns: int | None = None) -> "Sequence":
        """Await the running evaluation without blocking the event loop:

        >>> await seq.eval_async(op).wait()
        >>> await asyncio.gather(*(s.eval_async().wait() for s in sequences))
        """
        start = time.perf_counter_ns()
        delay = 0.0
        while self._running and not self._live_commands().done():
            if timeout_ns is not None and time.perf_counter_ns() - start > timeout_ns:
                raise WaitTimeoutError(f"the sequence did not finish within {timeout_ns} ns; it is still running")
            await asyncio.sleep(delay)
            delay = min(max(2 * delay, 20e-6), 1e-3)  # poll often at first, then back off
        return self.eval_await()

    def __await__(self) -> Generator:
        return self.wait().__await__()

    # -- state -----------------------------------------------------------------------
    def is_recording(self) -> bool:
        return self._recording

    def is_running(self) -> bool:
        return self._running

    def is_init(self) -> bool:
        return self._commands is not None and self._manager._device is not None

    def get_timestamps(self) -> list[int]:
        """Device timestamps of the last evaluation: one before the operations and
        one after each (up to ``total_timestamps``). [] before the recorded
        operations are evaluated, also after they are recorded again."""
        commands = self._live_commands()
        if not commands.query_count:
            raise KomputeError("Timestamp latching not enabled: create the sequence with total_timestamps > 0")
        if self._running:
            raise SequenceStateError("timestamps are read after eval_await()")
        return commands.read_timestamps()

    def destroy(self) -> None:
        """Release the command buffer, once a running evaluation has finished (this
        does not wait for it)."""
        with self._lock:
            commands, self._commands = self._commands, None
            if commands is not None:
                commands.release()
            self._running = self._recording = False
            self._ops, self._recorded, self._pre, self._post = [], [], [], []

    def __repr__(self) -> str:
        state = "running" if self._running else "recording" if self._recording else "idle"
        return f"kp.Sequence(queue={self._queue_index}, ops={len(self._ops)}, {state})"
