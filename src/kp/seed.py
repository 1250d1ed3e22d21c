"""The seed (Kompute v0.5/v0.6) API over the same objects as the current one:
``mgr.eval_<op>[_def]``, ``mgr.eval_async_<op>[_def]``, ``mgr.eval_await[_def]``,
named sequences and ``seq.begin() / seq.record_<op>(...) / seq.end() / seq.eval()``.

Each ``<op>`` is one entry of ``SEED_OPS``: a function turning (manager, tensors,
extra arguments) into current-API operations, so both APIs share one runtime.

Unlike Kompute, anonymous (``_def``) sequences are not kept forever: once one
has finished (an asynchronous one when it is awaited, or when a later ``_def``
call finds it finished) it goes back to a small pool that later ``_def`` calls
reuse, so loops of ``_def`` calls run in constant memory. Reuse matters: making
a sequence costs about a millisecond on some drivers, evaluating one tens of
microseconds.

A synchronous ``eval_<op>_def`` call made again goes further: its recorded
sequence (with the algorithm's pipeline) is cached, keyed by the operation, the
tensors and the shader and other arguments, so the same call in a loop only
evaluates it again.
The cache holds the tensors weakly: an entry goes when one of its tensors is
collected, and is not used (but recorded anew, which raises as usual) once one
is destroyed; at most ``CACHED_CALLS`` entries are kept, the oldest dropped first.
"""

from __future__ import annotations

import collections
import functools
import os
import threading
import weakref
from collections.abc import Sequence as SequenceOf
from typing import TYPE_CHECKING, Any, Callable, cast

import numpy as np

from .algorithm import Algorithm
from .errors import DestroyedError, InvalidArgumentError, KomputeError, SequenceStateError, WaitTimeoutError
from .log import logger
from .operations import OpAlgoDispatch, OpCopy, OpMult, OpSyncDevice, OpSyncLocal
from .operations.base import OpBase, tensor_list
from .shader.glsl import compile_file, is_spirv
from .tensor import Tensor
from .types import MemoryTypes

if TYPE_CHECKING:
    from .context import DeviceContext
    from .memory import Memory
    from .sequence import Sequence
    from .vk import Commands

    _Tensors = Tensor | SequenceOf[Tensor]  # what the seed API's operations take
    _Workgroup = SequenceOf[int] | None
    _Path = str | os.PathLike[str]
    _Key = tuple[Any, ...]  # a cached call's key: (op name, tensor ids, arguments)


def _create(mgr: "DeviceContext", tensors: list[Tensor]) -> list[OpBase]:
    for tensor in tensors:
        if tensor.manager is not None:
            raise KomputeError(f"{tensor!r} has already been created (tensor_create was called twice)")
    for tensor in tensors:
        tensor.allocate_on(mgr)
    return [OpSyncDevice(tensors)]


def _algorithm(mgr: "DeviceContext", tensors: list[Tensor], shader: Any, workgroup: Any = None) -> OpAlgoDispatch:
    return OpAlgoDispatch(Algorithm(mgr, tensors, shader, workgroup, implicit_spec_consts=True))


def _algo_shader(mgr: "DeviceContext", tensors: list[Tensor], shader: Any, workgroup: Any = None) -> list[OpBase]:
    return [_algorithm(mgr, tensors, shader, workgroup)]


def _algo_file(mgr: "DeviceContext", tensors: list[Tensor], path: Any, workgroup: Any = None) -> list[OpBase]:
    try:
        with open(os.fspath(path), "rb") as f:
            shader = f.read()
    except (OSError, TypeError) as exc:
        raise InvalidArgumentError(f"cannot read shader file {path!r}: {exc}") from None
    if not is_spirv(shader):  # GLSL, whose includes are found next to the file
        shader = compile_file(path)
    return [_algorithm(mgr, tensors, shader, workgroup)]


def _algo_lro(mgr: "DeviceContext", tensors: list[Tensor], shader: Any, workgroup: Any = None) -> list[OpBase]:
    if len(tensors) != 3 or len({t.size() for t in tensors}) != 1:
        raise InvalidArgumentError(f"algo_lro takes 3 tensors (lhs, rhs, out) of one size, got sizes "
                                   f"{[t.size() for t in tensors]}")
    return [_algorithm(mgr, tensors, shader, workgroup), OpSyncLocal([tensors[2]])]


SEED_OPS: dict[str, Callable[..., list[OpBase]]] = {
    "tensor_create": _create,
    "tensor_copy": lambda mgr, tensors: [OpCopy(tensors)],
    "tensor_sync_device": lambda mgr, tensors: [OpSyncDevice(tensors)],
    "tensor_sync_local": lambda mgr, tensors: [OpSyncLocal(tensors)],
    "algo_mult": lambda mgr, tensors: [OpMult(tensors, Algorithm(mgr))],
    "algo_file": _algo_file,
    "algo_str": _algo_shader,
    "algo_data": _algo_shader,
    "algo_lro": _algo_lro,
}


def _seed_ops(mgr: "DeviceContext", name: str, tensors: Any, args: tuple[Any, ...]) -> list[OpBase]:
    return SEED_OPS[name](mgr, tensor_list(tensors, name), *args)


class SeedSequenceAPI:
    """``begin()``, ``end()``, ``is_rec()`` and ``record_<op>(tensors, ...)`` of the seed API."""

    _manager: "DeviceContext"
    _recording: bool

    if TYPE_CHECKING:  # for type checkers: the Sequence's methods these use
        _lock: threading.RLock

        @property
        def _running(self) -> bool: ...

        def _live_commands(self) -> Commands: ...
        def _begin(self, commands: Commands) -> None: ...
        def _end(self) -> None: ...
        def clear(self) -> Sequence: ...
        def record(self, op: OpBase) -> Sequence: ...

        # the record_<op> methods added for each op of SEED_OPS (below), spelled out
        def record_tensor_create(self, tensors: _Tensors) -> bool: ...
        def record_tensor_copy(self, tensors: _Tensors) -> bool: ...
        def record_tensor_sync_device(self, tensors: _Tensors) -> bool: ...
        def record_tensor_sync_local(self, tensors: _Tensors) -> bool: ...
        def record_algo_mult(self, tensors: _Tensors) -> bool: ...
        def record_algo_file(self, tensors: _Tensors, path: _Path, workgroup: _Workgroup = None) -> bool: ...
        def record_algo_str(self, tensors: _Tensors, shader: Any, workgroup: _Workgroup = None) -> bool: ...
        def record_algo_data(self, tensors: _Tensors, shader: Any, workgroup: _Workgroup = None) -> bool: ...
        def record_algo_lro(self, tensors: _Tensors, shader: Any, workgroup: _Workgroup = None) -> bool: ...

    def begin(self) -> bool:
        """Start recording afresh, forgetting earlier operations. False (with a
        warning) if the sequence is already recording."""
        with self._lock:
            commands = self._live_commands()
            if self._running:
                raise SequenceStateError("begin() called on a running sequence: call eval_await() first")
            if self._recording:
                logger.warning("begin() called while the sequence is already recording")
                return False
            self.clear()
            self._begin(commands)
        return True

    def end(self) -> bool:
        """Stop recording; the sequence can then be evaluated any number of times.
        False (with a warning) if it was not recording."""
        with self._lock:
            if not self._recording:
                logger.warning("end() called on a sequence that is not recording")
                return False
            self._end()
        return True

    def is_rec(self) -> bool:
        """True between begin() and end()."""
        return self._recording

    def _record_seed(self, name: str, tensors: Any, *args: Any) -> bool:
        with self._lock:
            if not self._recording:
                raise SequenceStateError(f"record_{name} called outside begin()/end()")
            for op in _seed_ops(self._manager, name, tensors, args):
                self.record(op)
        return True


def _sequence_method(name: str) -> Callable[..., bool]:
    def record_op(self: SeedSequenceAPI, tensors: Any, *args: Any) -> bool:
        return self._record_seed(name, tensors, *args)

    record_op.__name__ = f"record_{name}"
    record_op.__doc__ = f"Record {name} on ``tensors`` (between begin() and end())."
    return record_op


for _name in SEED_OPS:
    setattr(SeedSequenceAPI, f"record_{_name}", _sequence_method(_name))


IDLE_ANONYMOUS = 4  # finished anonymous sequences kept for reuse by _def calls
CACHED_CALLS = 32  # recorded eval_<op>_def calls kept for the same call again
_UNCACHED = {"tensor_create", "algo_file"}  # allocates; reads a file that may change
_FROZEN_BYTES = 1 << 16  # a larger array argument (a shader, say) is not copied into a key


def _frozen(value: Any) -> Any:
    """``value`` as a hashable cache-key part that equals another only for the same
    contents; raises TypeError for what cannot be keyed (then nothing is cached)."""
    if value is None or isinstance(value, (bytes, str, int, float)):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, np.ndarray) and value.nbytes <= _FROZEN_BYTES:
        return value.dtype.str, value.shape, value.tobytes()
    raise TypeError(type(value).__name__)


class _CachedCall:
    """A recorded ``eval_<op>_def`` call: the sequence, which holds only the memory
    and pipelines its commands use, and the tensors, weakly."""

    __slots__ = ("sequence", "kept", "tensors")

    def __init__(self, sequence: "Sequence", kept: list[Any], tensors: list[weakref.ref[Memory]]):
        self.sequence = sequence
        self.kept = kept  # what the sequence holds (Sequence.hold_only)
        self.tensors = tensors

    def usable(self) -> bool:
        if not self.sequence.is_init() or self.sequence.is_running():
            return False
        for ref in self.tensors:
            tensor = ref()
            if tensor is None or not tensor.is_init():
                return False
        return True


def _forget(cache: dict[_Key, _CachedCall], forgotten: collections.deque[Sequence], key: _Key,
            _ref: weakref.ref[Memory]) -> None:
    """A cached call's tensor was collected (a weakref callback: no lock, no Vulkan):
    its sequence waits in ``forgotten`` for the pool of anonymous sequences."""
    entry = cache.pop(key, None)
    if entry is not None:
        entry.kept.clear()  # its command buffer holds them until it is recorded again or destroyed
        forgotten.append(entry.sequence)


def _kept_objects(ops: list[OpBase]) -> list[Any]:
    """What the commands of ``ops`` use: their tensors' memory and their pipelines."""
    keep: list[Any] = [a for op in ops for tensor in op.memory_objects() for a in tensor.allocations()]
    keep += [op.algorithm.pipeline for op in ops if isinstance(op, OpAlgoDispatch)]
    return keep


class SeedManagerAPI:
    """The seed API's Manager methods (mixed into ``kp.Manager``)."""

    if TYPE_CHECKING:
        # The eval_<op> methods _manager_methods adds for each op of SEED_OPS (below),
        # spelled out for type checkers, with the Manager's method these methods use.
        def sequence(self, queue_index: int = 0, total_timestamps: int = 0) -> Sequence: ...

        def eval_tensor_create(self, tensors: _Tensors, sequence_name: str) -> None: ...
        def eval_tensor_create_def(self, tensors: _Tensors) -> None: ...
        def eval_async_tensor_create(self, tensors: _Tensors, sequence_name: str) -> None: ...
        def eval_async_tensor_create_def(self, tensors: _Tensors) -> None: ...
        def eval_tensor_copy(self, tensors: _Tensors, sequence_name: str) -> None: ...
        def eval_tensor_copy_def(self, tensors: _Tensors) -> None: ...
        def eval_async_tensor_copy(self, tensors: _Tensors, sequence_name: str) -> None: ...
        def eval_async_tensor_copy_def(self, tensors: _Tensors) -> None: ...
        def eval_tensor_sync_device(self, tensors: _Tensors, sequence_name: str) -> None: ...
        def eval_tensor_sync_device_def(self, tensors: _Tensors) -> None: ...
        def eval_async_tensor_sync_device(self, tensors: _Tensors, sequence_name: str) -> None: ...
        def eval_async_tensor_sync_device_def(self, tensors: _Tensors) -> None: ...
        def eval_tensor_sync_local(self, tensors: _Tensors, sequence_name: str) -> None: ...
        def eval_tensor_sync_local_def(self, tensors: _Tensors) -> None: ...
        def eval_async_tensor_sync_local(self, tensors: _Tensors, sequence_name: str) -> None: ...
        def eval_async_tensor_sync_local_def(self, tensors: _Tensors) -> None: ...
        def eval_algo_mult(self, tensors: _Tensors, sequence_name: str) -> None: ...
        def eval_algo_mult_def(self, tensors: _Tensors) -> None: ...
        def eval_async_algo_mult(self, tensors: _Tensors, sequence_name: str) -> None: ...
        def eval_async_algo_mult_def(self, tensors: _Tensors) -> None: ...
        def eval_algo_file(self, tensors: _Tensors, sequence_name: str,
                           path: _Path, workgroup: _Workgroup = None) -> None: ...
        def eval_algo_file_def(self, tensors: _Tensors, path: _Path, workgroup: _Workgroup = None) -> None: ...
        def eval_async_algo_file(self, tensors: _Tensors, sequence_name: str,
                                 path: _Path, workgroup: _Workgroup = None) -> None: ...
        def eval_async_algo_file_def(self, tensors: _Tensors, path: _Path, workgroup: _Workgroup = None) -> None: ...
        def eval_algo_str(self, tensors: _Tensors, sequence_name: str,
                          shader: Any, workgroup: _Workgroup = None) -> None: ...
        def eval_algo_str_def(self, tensors: _Tensors, shader: Any, workgroup: _Workgroup = None) -> None: ...
        def eval_async_algo_str(self, tensors: _Tensors, sequence_name: str,
                                shader: Any, workgroup: _Workgroup = None) -> None: ...
        def eval_async_algo_str_def(self, tensors: _Tensors, shader: Any, workgroup: _Workgroup = None) -> None: ...
        def eval_algo_data(self, tensors: _Tensors, sequence_name: str,
                           shader: Any, workgroup: _Workgroup = None) -> None: ...
        def eval_algo_data_def(self, tensors: _Tensors, shader: Any, workgroup: _Workgroup = None) -> None: ...
        def eval_async_algo_data(self, tensors: _Tensors, sequence_name: str,
                                 shader: Any, workgroup: _Workgroup = None) -> None: ...
        def eval_async_algo_data_def(self, tensors: _Tensors, shader: Any, workgroup: _Workgroup = None) -> None: ...
        def eval_algo_lro(self, tensors: _Tensors, sequence_name: str,
                          shader: Any, workgroup: _Workgroup = None) -> None: ...
        def eval_algo_lro_def(self, tensors: _Tensors, shader: Any, workgroup: _Workgroup = None) -> None: ...
        def eval_async_algo_lro(self, tensors: _Tensors, sequence_name: str,
                                shader: Any, workgroup: _Workgroup = None) -> None: ...
        def eval_async_algo_lro_def(self, tensors: _Tensors, shader: Any, workgroup: _Workgroup = None) -> None: ...

    def _init_seed_api(self) -> None:
        self._sequences: dict[str, Sequence] = {}
        self._anonymous_lock = threading.Lock()
        self._idle_anonymous: list[Sequence] = []  # finished _def sequences, ready for reuse
        self._started_anonymous: list[Sequence] = []  # submitted by eval_async_*_def, not yet awaited
        # Weak: the last one may be the user's (create_sequence()) or already destroyed.
        self._last_anonymous: Callable[[], Sequence | None] = lambda: None
        self._cached_calls: dict[_Key, _CachedCall] = {}  # see CACHED_CALLS
        self._forgotten_calls: collections.deque[Sequence] = collections.deque()  # see _forget
        # recent uncached calls: key -> its tensors, weakly
        self._seen_calls: dict[_Key, tuple[weakref.ref[Tensor], ...]] = {}

    def create_sequence(self, name: str = "", queue_index: int = 0) -> Sequence:
        """A sequence stored under ``name``; without a name, an anonymous one that
        ``eval_await_def`` awaits (until another anonymous sequence starts)."""
        if not isinstance(name, str):
            raise InvalidArgumentError(f"sequence name must be a str, got {type(name).__name__}")
        sequence = self.sequence(queue_index)
        if name:
            if name in self._sequences:
                logger.warning("create_sequence(%r) replaces the sequence of that name", name)
            self._sequences[name] = sequence
        else:
            self._last_anonymous = weakref.ref(sequence)
        return sequence

    def get_create_sequence(self, name: str) -> Sequence:
        """The sequence named ``name``, created (on queue 0) if there is none."""
        if not isinstance(name, str):
            raise InvalidArgumentError(f"sequence name must be a str, got {type(name).__name__}")
        return self._sequences.get(name) or self.create_sequence(name)

    def build_tensor(self, data: Any, tensor_type: MemoryTypes = MemoryTypes.device) -> Tensor:
        """``kp.Tensor(data, tensor_type)`` created on this manager's device."""
        tensor = Tensor(data, tensor_type)
        self.eval_tensor_create_def([tensor])
        return tensor

    def eval_await(self, sequence_name: str, wait_for: int | None = None) -> bool:
        """Wait for the named sequence and run its host work; False if ``wait_for``
        ns passed first (it keeps running). True at once if it is not running."""
        if not isinstance(sequence_name, str) or sequence_name not in self._sequences:
            raise InvalidArgumentError(f"no sequence named {sequence_name!r} (known: {sorted(self._sequences)})")
        return _await(self._sequences[sequence_name], wait_for)

    def eval_await_def(self, wait_for: int | None = None) -> bool:
        """Wait for the last anonymous sequence started (and any earlier
        ``eval_async_*_def`` ones still running); False if ``wait_for`` ns passed
        first for one of them."""
        with self._anonymous_lock:
            pending = list(self._started_anonymous)
        last = self._last_anonymous()
        if last is not None and last not in pending:
            pending.append(last)
        for sequence in pending:
            if not _await(sequence, wait_for):
                return False
        self._reap()
        return True

    # -- how the eval_* methods run ------------------------------------------------------
    def _run_seed(self, name: str, sequence: Sequence, tensors: Any, args: tuple[Any, ...],
                  wait: bool) -> list[OpBase]:
        with sequence.lock:
            if sequence.is_running():
                raise SequenceStateError(f"eval_{name}: the sequence is still running; await it first")
            # Kompute's eval_<op> re-begins the sequence: what it held before is dropped.
            sequence.clear()
            sequence.begin()
            try:
                ops = _seed_ops(cast("DeviceContext", self), name, tensors, args)  # the class this is mixed into
                for op in ops:
                    sequence.record(op)
            finally:
                sequence.end()
            if wait:
                sequence.eval()
            else:
                sequence.eval_async()
        return ops

    def _run_named(self, name: str, sequence_name: str, tensors: Any, args: tuple[Any, ...],
                   wait: bool) -> None:
        self._run_seed(name, self.get_create_sequence(sequence_name), tensors, args, wait)

    def _run_anonymous(self, name: str, tensors: Any, args: tuple[Any, ...], wait: bool) -> None:
        key = self._call_key(name, tensors, args) if wait else None
        if key is not None:
            if self._run_cached(key):
                return
            if not self._seen_before(key, tensors):
                key = None  # a call made once (as on new tensors each time) keeps using the pool
        self._reap()
        with self._anonymous_lock:
            sequence = self._idle_anonymous.pop() if self._idle_anonymous else None
        if sequence is None:
            sequence = self.sequence()
        self._last_anonymous = weakref.ref(sequence)
        try:
            ops = self._run_seed(name, sequence, tensors, args, wait)
        finally:
            with self._anonymous_lock:
                if sequence.is_running():
                    self._started_anonymous.append(sequence)
                elif key is None:
                    self._release(sequence)
        if key is not None:
            self._cache_call(key, sequence, ops)

    @staticmethod
    def _call_key(name: str, tensors: Any, args: tuple[Any, ...]) -> _Key | None:
        """The cache key of a synchronous ``_def`` call, None where it is not cached."""
        if name in _UNCACHED or not isinstance(tensors, (list, tuple)) or \
                not all(isinstance(t, Tensor) for t in tensors):
            return None  # (what is not a list of tensors is refused when recorded)
        try:
            return name, tuple(id(t) for t in tensors), _frozen(args)
        except TypeError:
            return None

    def _seen_before(self, key: _Key, tensors: list[Tensor]) -> bool:
        """Whether this call was made lately on these very tensors (then its recording
        is cached); remembers it, holding the tensors weakly (a new tensor may get a
        collected one's id)."""
        seen = self._seen_calls
        with self._anonymous_lock:
            refs = seen.pop(key, None)
            if refs is not None and all(ref() is tensor for ref, tensor in zip(refs, tensors)):
                return True
            if len(seen) >= 2 * CACHED_CALLS:
                seen.pop(next(iter(seen)))
            seen[key] = tuple(weakref.ref(t) for t in tensors)
        return False

    def _run_cached(self, key: _Key) -> bool:
        """Evaluate the cached recording of this call; False where there is none
        usable (a tensor destroyed, the sequence busy), so that it is recorded anew."""
        entry = self._cached_calls.get(key)
        if entry is None:
            return False
        sequence = entry.sequence
        with sequence.lock:
            if not entry.usable():
                self._cached_calls.pop(key, None)
                return False
            self._last_anonymous = weakref.ref(sequence)
            try:
                sequence.eval()
            except DestroyedError:  # destroyed meanwhile: recording anew raises as usual
                self._cached_calls.pop(key, None)
                return False
        return True

    def _cache_call(self, key: _Key, sequence: Sequence, ops: list[OpBase]) -> None:
        tensors = {id(t): t for op in ops for t in op.memory_objects()}
        if set(key[1]) - set(tensors):
            return  # an operation did not keep a tensor it was given: no way to watch it
        kept = _kept_objects(ops)
        with sequence.lock:
            sequence.hold_only(kept)
        cache = self._cached_calls
        with self._anonymous_lock:
            while len(cache) >= CACHED_CALLS:
                cache.pop(next(iter(cache)), None)  # the oldest
            forget = functools.partial(_forget, cache, self._forgotten_calls, key)
            cache[key] = _CachedCall(sequence, kept, [weakref.ref(t, forget) for t in tensors.values()])

    def _reap(self) -> None:
        """Complete the asynchronous anonymous sequences that have finished (running
        their host work) and pool them for reuse, with the sequences of cached calls
        whose tensors were collected (which hold nothing any more)."""
        forgotten = self._forgotten_calls
        while forgotten:
            try:
                sequence = forgotten.popleft()
            except IndexError:  # another thread took the last one
                break
            with self._anonymous_lock:
                self._release(sequence)
        with self._anonymous_lock:
            started = self._started_anonymous
            finished = [s for s in started if not s.is_running() or _await(s, 0)]
            for sequence in finished:
                started.remove(sequence)
                self._release(sequence)

    def _release(self, sequence: Sequence) -> None:
        if len(self._idle_anonymous) < IDLE_ANONYMOUS and sequence.is_init():
            self._idle_anonymous.append(sequence)
        else:
            sequence.destroy()


def _await(sequence: Sequence, wait_for: int | None) -> bool:
    try:
        sequence.eval_await(wait_for)
    except WaitTimeoutError:
        return False
    return True


def _manager_methods(name: str) -> None:
    def eval_op(self: SeedManagerAPI, tensors: Any, sequence_name: str, *args: Any) -> None:
        self._run_named(name, sequence_name, tensors, args, wait=True)

    def eval_op_def(self: SeedManagerAPI, tensors: Any, *args: Any) -> None:
        self._run_anonymous(name, tensors, args, wait=True)

    def eval_async_op(self: SeedManagerAPI, tensors: Any, sequence_name: str, *args: Any) -> None:
        self._run_named(name, sequence_name, tensors, args, wait=False)

    def eval_async_op_def(self: SeedManagerAPI, tensors: Any, *args: Any) -> None:
        self._run_anonymous(name, tensors, args, wait=False)

    methods = {
        f"eval_{name}": (eval_op, "Run {} on the named sequence and wait."),
        f"eval_{name}_def": (eval_op_def, "Run {} on an anonymous sequence and wait."),
        f"eval_async_{name}": (eval_async_op, "Start {} on the named sequence (see eval_await)."),
        f"eval_async_{name}_def": (eval_async_op_def, "Start {} on an anonymous sequence (see eval_await_def)."),
    }
    for method_name, (function, doc) in methods.items():
        function.__name__ = method_name
        function.__doc__ = doc.format(name)
        setattr(SeedManagerAPI, method_name, function)


for _name in SEED_OPS:
    _manager_methods(_name)
