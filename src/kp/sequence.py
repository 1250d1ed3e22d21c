"""Sequences: operations recorded once into a command buffer and evaluated any
number of times, synchronously or asynchronously."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any, Generator

import numpy as np

from . import vk
from .errors import DestroyedError, InvalidArgumentError, KomputeError, SequenceStateError, WaitTimeoutError
from .hazards import START, Hazards
from .log import logger
from .operations.base import OpBase
from .seed import SeedSequenceAPI

if TYPE_CHECKING:
    from .manager import Manager


_DESTROYED = "sequence was destroyed (or its manager was)"


# The most timestamps a sequence latches: each is a query of its pool (and 8 bytes
# read back); far more than the operations a sequence records.
MAX_TIMESTAMPS = 2**16


def _checked_timeout(timeout_ns: int | None) -> int | None:
    """``timeout_ns`` as an int (a NumPy integer is one), or None."""
    if timeout_ns is None:
        return None
    if isinstance(timeout_ns, bool) or not isinstance(timeout_ns, (int, np.integer)) or timeout_ns < 0:
        raise InvalidArgumentError(f"timeout_ns must be a non-negative int, got {timeout_ns!r}")
    return int(timeout_ns)


def _overrides(op: OpBase, name: str) -> bool:
    return getattr(type(op), name) is not getattr(OpBase, name)


class Sequence(SeedSequenceAPI):
    """A command buffer of recorded operations on one queue. Make it with
    ``mgr.sequence()``; ``seq.record(op)`` is chainable:

    >>> mgr = kp.Manager()
    >>> a, b, out = mgr.tensor([1, 2]), mgr.tensor([3, 4]), mgr.tensor([0, 0])
    >>> algo = mgr.algorithm([a, b, out], '''
    ... #version 450
    ... layout(local_size_x = 1) in;
    ... layout(binding = 0) buffer A { float a[]; };
    ... layout(binding = 1) buffer B { float b[]; };
    ... layout(binding = 2) buffer Out { float o[]; };
    ... void main() { uint i = gl_GlobalInvocationID.x; o[i] = a[i] * b[i]; }''')
    >>> seq = mgr.sequence().record(kp.OpSyncDevice([a, b])).record(kp.OpAlgoDispatch(algo)) \\
    ...     .record(kp.OpSyncLocal([out])).eval()
    >>> out.data()
    array([3., 8.], dtype=float32)
    """

    def __init__(self, manager: "Manager", queue_index: int = 0, total_timestamps: int = 0):
        device = manager.live_vk_device()
        if isinstance(queue_index, bool) or not isinstance(queue_index, (int, np.integer)) \
                or not 0 <= queue_index < len(device.queues):
            raise InvalidArgumentError(f"queue_index {queue_index!r} is out of range: the manager has "
                                       f"{len(device.queues)} queue(s)")
        queue_index = int(queue_index)
        if isinstance(total_timestamps, bool) or not isinstance(total_timestamps, (int, np.integer)) \
                or not 0 <= total_timestamps <= MAX_TIMESTAMPS:
            raise InvalidArgumentError(f"total_timestamps must be an int from 0 to {MAX_TIMESTAMPS}, got "
                                       f"{total_timestamps!r}")
        total_timestamps = int(total_timestamps)
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
        self._hazards = Hazards()
        self._lock = threading.RLock()
        manager.adopt(self)

    # -- recording -----------------------------------------------------------------
    def _live_commands(self) -> vk.Commands:
        vk.drain()  # kp is entered: destroy what was released and is no longer in use
        commands = self._commands
        if commands is None or self._manager.vk_device is None:
            raise DestroyedError(_DESTROYED)
        return commands

    def _begin(self, commands: vk.Commands) -> None:
        """Start a new command buffer (``commands`` checked live by the caller; no
        drain here, which may run with the device lock held)."""
        if self._running:
            raise SequenceStateError("cannot record into a running sequence: await it first")
        commands.begin()
        commands.timestamp()
        commands.barrier(*START)  # the state before is unknown: earlier submissions may have written
        self._hazards = Hazards()
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
                self._check_recorded(commands)
                if not self._recording:
                    self._begin(commands)
                self._hazards.record(op, commands)
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

    def _check_recorded(self, commands: vk.Commands) -> None:
        """Refuse a recording that uses something destroyed since it was recorded:
        its command buffer is discarded (nothing may be added to it or submit it)
        and every later evaluation raises too, until ``clear()`` or ``record()``
        starts a new recording. Called with the device lock held."""
        if not self._stale:
            try:
                commands.check_uses()
                return
            except DestroyedError:
                commands.reset()
                self._recording = False
                self._recorded = []
                self._stale = True
        raise DestroyedError("the sequence's recorded operations use a tensor or algorithm that was "
                             "destroyed; clear() it and record it again")

    def _end(self) -> None:
        if self._recording:
            commands = self._commands
            assert commands is not None  # destroy() stops the recording
            with commands.device.lock:
                self._check_recorded(commands)
                self._hazards.home(commands)
                to_host = self._hazards.to_host()
                if to_host is not None:
                    commands.barrier(*to_host)
                commands.end()
            self._hazards = Hazards()  # holds no buffer range once recording ends
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

    def hold_only(self, keep: list[Any]) -> "Sequence":
        """Stop recording and hold the list ``keep`` (what the recorded commands use:
        memory ranges, pipelines) in place of the recorded operations, which hold
        their tensors and algorithms, so that those can be collected while the
        command buffer stays submittable. The caller evaluates it only while the
        tensors it uses live (destroyed ones are refused as usual), and may empty
        ``keep`` once it will not evaluate it again; ``record`` or ``clear`` starts
        afresh. For kp's seed-API cache; operations with host work
        (``pre_eval``/``post_eval``) cannot be dropped and raise."""
        with self._lock:
            if self._pre or self._post:
                raise KomputeError("hold_only: the recorded operations have host work to run at each evaluation")
            self._end()
            self._recorded, self._ops = keep, []
        return self

    # -- evaluation ------------------------------------------------------------------
    def _submit(self) -> bool:
        """Submit the recorded commands; False (with a warning) when there are none.
        Only what must precede the submission runs before it: the host's wait for
        the GPU starts at once, and bookkeeping (``vk.drain``) runs while it works."""
        commands = self._commands
        if commands is None or self._manager.vk_device is None:
            raise DestroyedError(_DESTROYED)
        if self._running or self._recording or self._stale or not self._recorded or self._pre:
            if not self._prepare(commands):
                return False
        try:
            commands.submit()  # under the device lock, which it takes
        except DestroyedError:
            with commands.device.lock:
                self._check_recorded(commands)
            raise
        self._running = True
        vk.drain()  # kp is entered: destroy what was released and is no longer in use
        return True

    def _prepare(self, commands: vk.Commands) -> bool:
        """What an evaluation does before submitting, besides the checks of ``_submit``:
        False when nothing is recorded."""
        if self._running:
            raise SequenceStateError("sequence is already running: call eval_await() first")
        if self._recording:
            self._end()
        if self._stale:
            self._check_recorded(commands)
        if not self._recorded:
            logger.warning("evaluating a sequence with nothing recorded does nothing")
            return False
        for op in self._pre:
            op.pre_eval()
        return True

    def _finish(self, timeout_ns: int | None) -> None:
        commands = self._commands
        assert commands is not None  # running: destroy() stops that
        if not commands.wait(timeout_ns):
            raise WaitTimeoutError(f"the sequence did not finish within {timeout_ns} ns; it is still "
                                   f"running and a later eval_await() completes it")
        self._running = False
        if self._post:
            for op in self._post:
                op.post_eval()
        vk.drain()  # what waited for this evaluation can go now

    def eval(self, op: OpBase | None = None) -> "Sequence":
        """Run the recorded operations (or only ``op``, replacing them) and wait."""
        lock = self._lock
        lock.acquire()  # not ``with``: its calls are a noticeable part of the round trip
        try:
            if op is not None:
                self.clear()
                self.record(op)
            if self._submit():
                self._finish(None)
        finally:
            lock.release()
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
        timeout_ns = _checked_timeout(timeout_ns)
        with self._lock:
            if not self._running:
                logger.debug("eval_await on a sequence that is not running")
                return self
            self._finish(timeout_ns)
        return self

    async def wait(self, timeout_ns: int | None = None) -> "Sequence":
        """Await the running evaluation without blocking the event loop
        (``await seq.eval_async(op).wait()``; several at once with
        ``asyncio.gather``):

        >>> import asyncio
        >>> mgr = kp.Manager()
        >>> tensors = [mgr.tensor([1.0, 2.0]) for _ in range(3)]
        >>> async def sync_all():
        ...     sequences = [mgr.sequence() for _ in tensors]
        ...     await asyncio.gather(*(s.eval_async(kp.OpSyncDevice([t])).wait()
        ...                            for s, t in zip(sequences, tensors)))
        >>> asyncio.run(sync_all())
        """
        timeout_ns = _checked_timeout(timeout_ns)
        start = time.perf_counter_ns()
        delay = 0.0
        while self._running and not self._live_commands().done():
            if timeout_ns is not None and time.perf_counter_ns() - start > timeout_ns:
                raise WaitTimeoutError(f"the sequence did not finish within {timeout_ns} ns; it is still running")
            await asyncio.sleep(delay)
            delay = min(max(2 * delay, 20e-6), 1e-3)  # poll often at first, then back off
        return self.eval_await()

    def __await__(self) -> Generator[Any, None, "Sequence"]:
        return self.wait().__await__()

    # -- state -----------------------------------------------------------------------
    @property
    def lock(self) -> "threading.RLock":
        """The re-entrant lock that recording, evaluating and destroying hold: hold it to
        run several calls as one; for kp's seed API."""
        return self._lock

    def is_recording(self) -> bool:
        return self._recording

    def is_running(self) -> bool:
        return self._running

    def is_init(self) -> bool:
        return self._commands is not None and self._manager.vk_device is not None

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
