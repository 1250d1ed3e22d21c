"""Sequences: operations recorded once into a command buffer and evaluated any
number of times, synchronously or asynchronously."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Generator, TypeVar

import numpy as np

from . import vk
from .errors import DestroyedError, InvalidArgumentError, KomputeError, SequenceStateError, WaitTimeoutError
from .hazards import START, Hazards
from .log import logger
from .operations.base import OpBase
from .profile import Profile
from .seed import SeedSequenceAPI

if TYPE_CHECKING:
    from .context import DeviceContext




_T = TypeVar("_T")


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


def _public(method: Callable[..., _T]) -> Callable[..., _T]:
    """A public call of a sequence: entered outside kp's critical sections (what was
    released and is done is destroyed first), under the sequence's lock, marked as
    inside one. A finalizer or signal handler that calls the sequence again on the same
    thread while it is inside is refused rather than let change its half-changed
    state (the seed API holding ``lock`` around a call is not inside one)."""

    @functools.wraps(method)
    def public(self: "Sequence", *args: Any) -> _T:
        if self._inside_here():
            raise SequenceStateError("the sequence was called from a finalizer or signal handler while this "
                                     "thread was inside its own record or eval: call it after that returns")
        vk.drain()  # kp is entered: destroy what was released and is no longer in use
        with self._lock:  # ``with``: a signal handler cannot come between taking it and the try
            self._inside = True
            try:
                return method(self, *args)
            finally:
                self._inside = False

    return public


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

    DESTROY_ORDER = 0  # a device's destroy() destroys sequences, then algorithms, then memory

    def __init__(self, manager: "DeviceContext", queue_index: int = 0, total_timestamps: int = 0):
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
        # The one truth about evaluations: the commands' submissions (kept after
        # destroy(), so that an evaluation in flight can still be awaited), the last
        # one awaited, and the host work that waits for the one in flight.
        self._timeline = self._commands.timeline
        self._awaited = 0
        self._synchronous = 0  # the last submission an eval() waits for
        self._post_in_flight: list[OpBase] = []
        self._ops: list[OpBase] = []
        self._recorded: list[OpBase] = []  # what the command buffer holds; kept alive with it
        self._pre: list[OpBase] = []
        self._post: list[OpBase] = []
        self._recording = False
        self._stale = False  # the recording used something since destroyed
        self._hazards = Hazards()
        self._lock = threading.RLock()
        self._inside = False  # a public call holds the lock (see _public)
        manager.adopt(self)

    # -- recording -----------------------------------------------------------------
    def _inside_here(self) -> bool:
        """Whether this thread is inside one of this sequence's public calls (see ``_public``)."""
        return self._inside and bool(self._lock._is_owned())  # type: ignore[attr-defined]

    @property
    def _running(self) -> bool:
        return self._timeline.submitted > self._awaited

    def _live_commands(self) -> vk.Commands:
        commands = self._commands
        if commands is None or self._manager.vk_device is None:
            raise self._manager.gone_error("the sequence")
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

    @_public
    def record(self, op: OpBase) -> "Sequence":
        """Append ``op`` (beginning a new command buffer after an evaluation)."""
        self._record(op)
        return self

    def _record(self, op: OpBase) -> None:
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
            if self._recording:
                self._check_recorded(commands)
            else:  # a new command buffer: what the last one used, destroyed or not, is no concern
                self._begin(commands)
            self._hazards.record(op, commands)
            # also what an op records no command for (a sync in unified memory):
            # its evaluation must refuse destroyed tensors in every memory mode
            commands.use(a for obj in op.memory_objects() for a in obj.allocations())
            commands.timestamp()
        self._recorded.append(op)
        self._ops.append(op)
        if _overrides(op, "pre_eval"):
            self._pre.append(op)
        if _overrides(op, "post_eval"):
            self._post.append(op)

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

    @_public
    def clear(self) -> "Sequence":
        """Forget the recorded operations. As in Kompute, the last command buffer stays
        submittable, and holds what it uses, until something is recorded again."""
        self._clear()
        return self

    def _clear(self) -> None:
        try:
            self._end()
        except DestroyedError:
            pass  # the recording was discarded, as clear() asks
        self._stale = False
        self._ops, self._pre, self._post = [], [], []

    @_public
    def rerecord(self) -> "Sequence":
        """Record every operation again into a fresh command buffer (after rebuilding
        an algorithm or tensor)."""
        ops = self._ops
        self._clear()
        self._recording = False
        for op in ops:
            self._record(op)
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
    def _submit(self) -> vk.Submission | None:
        """Submit the recorded commands (the sequence's lock held); None (with a
        warning) when there are none. Only what must precede the submission runs
        before it: the host's wait for the GPU starts at once."""
        commands = self._commands
        if commands is None or self._manager.vk_device is None:
            raise self._manager.gone_error("the sequence")
        if self._running or self._recording or self._stale or not self._recorded or self._pre:
            if not self._prepare(commands):
                return None
        self._post_in_flight = self._post  # before the submission: an interrupt may come after it
        try:
            return commands.submit()  # under the device lock, which it takes
        except DestroyedError:
            with commands.device.lock:
                self._check_recorded(commands)
            raise

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

    def _complete(self, submission: vk.Submission, timeout_ns: int | None) -> None:
        """Wait for ``submission`` holding no lock, then run the operations' host work,
        once, whichever thread gets there first."""
        if not submission.wait(timeout_ns):
            raise WaitTimeoutError(f"the sequence did not finish within {timeout_ns} ns; it is still "
                                   f"running and a later eval_await() completes it")
        with self._lock:
            if self._awaited < submission.serial:
                self._awaited = submission.serial
                post, self._post_in_flight = self._post_in_flight, []
                for op in post:
                    op.post_eval()

    def _in_flight(self) -> vk.Submission | None:
        """The submission not yet awaited, if any."""
        timeline = self._timeline
        serial = timeline.submitted
        return vk.Submission(timeline, serial) if serial > self._awaited else None

    def eval(self, op: OpBase | None = None) -> "Sequence":
        """Run the recorded operations (or only ``op``, replacing them) and wait. No
        lock is held while it waits; an evaluation another thread's ``eval()`` is
        waiting for is waited for first."""
        while True:
            submission, mine = self._start(op, True)
            if submission is None:
                return self
            self._complete(submission, None)
            if mine:
                break
        vk.drain()  # what waited for this evaluation can go now
        return self

    def eval_async(self, op: OpBase | None = None) -> "Sequence":
        """Submit the recorded operations (or only ``op``) without waiting."""
        self._start(op, False)
        return self

    @_public
    def _start(self, op: OpBase | None, synchronous: bool) -> tuple[vk.Submission | None, bool]:
        """Submit; returns the submission and True, or, for a synchronous evaluation
        while another thread's is in flight, that one and False (to wait for, then
        start again)."""
        if synchronous and self._running and self._synchronous == self._timeline.submitted:
            return self._in_flight(), False
        if op is not None:
            self._clear()
            self._record(op)
        submission = self._submit()
        if submission is not None and synchronous:
            self._synchronous = submission.serial
        return submission, True

    def eval_await(self, timeout_ns: int | None = None) -> "Sequence":
        """Wait for the running evaluation and run the operations' host work.
        Raises ``kp.WaitTimeoutError`` if ``timeout_ns`` passes first (the sequence
        stays running). Does nothing if the sequence is not running. Holds no lock
        while it waits: other threads may record, evaluate or destroy other
        sequences meanwhile, and ``destroy()`` of this one does not cut it short."""
        timeout_ns = _checked_timeout(timeout_ns)
        submission = self._in_flight()
        if submission is None:
            logger.debug("eval_await on a sequence that is not running")
            return self
        self._complete(submission, timeout_ns)
        vk.drain()
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
        submission = self._in_flight()
        while submission is not None and not submission.done():
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

    def profile(self) -> Profile:
        """The GPU time of each operation in the last evaluation, from the timestamps
        (make the sequence with ``total_timestamps`` at least the number of
        operations): ``.table()`` prints it, ``.save_trace(path)`` writes a trace for
        ui.perfetto.dev or chrome://tracing (see ``kp.profile``)."""
        with self._lock:
            stamps = self.get_timestamps()
            if not stamps:
                raise SequenceStateError("no timestamps to profile: eval() the recorded operations first")
            if self._stale:  # the timestamps are of operations no longer known
                raise SequenceStateError("no operations to profile: the recording was discarded as it uses something "
                                         "since destroyed; record the operations again and eval() them")
            commands = self._live_commands()
            physical = commands.device.physical
            return Profile([repr(op) for op in self._recorded], stamps, physical.properties["timestamp_period"],
                           physical.queue_families[commands.queue.family].timestamp_valid_bits,
                           self._queue_index, physical.properties["device_name"])

    def destroy(self) -> None:
        """Release the command buffer, once a running evaluation has finished (this
        does not wait for it; ``eval_await()`` still does). Called from a finalizer
        or signal handler inside kp's own work on this thread, it happens as soon as
        that work is done."""
        commands = self._commands
        if commands is None:
            return
        if self._inside_here() or commands.device.lock._is_owned():  # type: ignore[attr-defined]
            vk.defer(self.destroy)
            return
        vk.drain()
        with self._lock:
            commands, self._commands = self._commands, None
            if commands is not None:
                commands.release()
            self._recording = False
            self._ops, self._recorded, self._pre, self._post = [], [], [], []

    def wait_submitted(self) -> None:
        """Wait, holding no lock, until the GPU has finished the last submission (its
        host work stays for ``eval_await``); for ``DeviceContext.destroy``."""
        vk.Submission(self._timeline, self._timeline.submitted).wait()

    def __repr__(self) -> str:
        state = "running" if self._running else "recording" if self._recording else "idle"
        return f"kp.Sequence(queue={self._queue_index}, ops={len(self._ops)}, {state})"
