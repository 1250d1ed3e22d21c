"""The seed (Kompute v0.5/v0.6) API over the same objects as the current one:
``mgr.eval_<op>[_def]``, ``mgr.eval_async_<op>[_def]``, ``mgr.eval_await[_def]``,
named sequences and ``seq.begin() / seq.record_<op>(...) / seq.end() / seq.eval()``.

Each ``<op>`` is one entry of ``SEED_OPS``: a function turning (manager, tensors,
extra arguments) into current-API operations, so both APIs share one runtime.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

from .errors import InvalidArgumentError, KomputeError, SequenceStateError, WaitTimeoutError
from .log import logger
from .operations import OpAlgoDispatch, OpCopy, OpMult, OpSyncDevice, OpSyncLocal
from .operations.base import OpBase, tensor_list
from .tensor import Tensor
from .types import MemoryTypes

if TYPE_CHECKING:
    from .manager import Manager
    from .sequence import Sequence


def _create(mgr: "Manager", tensors: list[Tensor]) -> list[OpBase]:
    for tensor in tensors:
        if tensor._manager is not None:
            raise KomputeError(f"{tensor!r} has already been created (tensor_create was called twice)")
    for tensor in tensors:
        tensor._allocate(mgr)
    return [OpSyncDevice(tensors)]


def _algorithm(mgr: "Manager", tensors: list[Tensor], shader: Any, workgroup: Any = None) -> OpAlgoDispatch:
    if workgroup is not None and tuple(workgroup) == (0, 0, 0):
        workgroup = None
    return OpAlgoDispatch(mgr._algorithm_seed(tensors, shader, workgroup))


def _algo_file(mgr: "Manager", tensors: list[Tensor], path: Any, workgroup: Any = None) -> list[OpBase]:
    try:
        with open(os.fspath(path), "rb") as f:
            shader = f.read()
    except (OSError, TypeError) as exc:
        raise InvalidArgumentError(f"cannot read shader file {path!r}: {exc}") from None
    return [_algorithm(mgr, tensors, shader, workgroup)]


def _algo_lro(mgr: "Manager", tensors: list[Tensor], shader: Any, workgroup: Any = None) -> list[OpBase]:
    if len(tensors) != 3 or len({t.size() for t in tensors}) != 1:
        raise InvalidArgumentError(f"algo_lro takes 3 tensors (lhs, rhs, out) of one size, got sizes "
                                   f"{[t.size() for t in tensors]}")
    return [_algorithm(mgr, tensors, shader, workgroup), OpSyncLocal([tensors[2]])]


def _algo_mult(mgr: "Manager", tensors: list[Tensor]) -> list[OpBase]:
    return [OpMult(tensors, mgr.algorithm())]


SEED_OPS: dict[str, Callable[..., list[OpBase]]] = {
    "tensor_create": _create,
    "tensor_copy": lambda mgr, tensors: [OpCopy(tensors)],
    "tensor_sync_device": lambda mgr, tensors: [OpSyncDevice(tensors)],
    "tensor_sync_local": lambda mgr, tensors: [OpSyncLocal(tensors)],
    "algo_mult": _algo_mult,
    "algo_file": _algo_file,
    "algo_str": lambda mgr, tensors, shader, workgroup=None: [_algorithm(mgr, tensors, shader, workgroup)],
    "algo_data": lambda mgr, tensors, shader, workgroup=None: [_algorithm(mgr, tensors, shader, workgroup)],
    "algo_lro": _algo_lro,
}


def _seed_ops(mgr: "Manager", name: str, tensors: Any, args: tuple) -> list[OpBase]:
    return SEED_OPS[name](mgr, tensor_list(tensors, name), *args)


class SeedSequenceAPI:
    """``begin()``, ``end()`` and ``record_<op>(tensors, ...)`` of the seed API."""

    _manager: "Manager"
    _recording: bool

    def begin(self) -> bool:
        """Start recording afresh (forgetting earlier operations)."""
        with self._lock:
            if self._recording:
                logger.warning("begin() called while the sequence is already recording")
                return False
            self.clear()
            self._begin()
        return True

    def end(self) -> bool:
        with self._lock:
            if not self._recording:
                logger.warning("end() called on a sequence that is not recording")
                return False
            self._end()
        return True

    def is_rec(self) -> bool:
        return self._recording

    def _record_seed(self, name: str, tensors: Any, *args: Any) -> bool:
        with self._lock:
            if not self._recording:
                raise SequenceStateError(f"record_{name} called outside begin()/end()")
            for op in _seed_ops(self._manager, name, tensors, args):
                self.record(op)
        return True


def _sequence_method(name: str):
    def record_op(self, tensors, *args):
        return self._record_seed(name, tensors, *args)

    record_op.__name__ = f"record_{name}"
    record_op.__doc__ = f"Record {name} on ``tensors`` (between begin() and end())."
    return record_op


for _name in SEED_OPS:
    setattr(SeedSequenceAPI, f"record_{_name}", _sequence_method(_name))

ANONYMOUS_POOL = 4  # finished anonymous sequences kept for reuse by _def calls


class SeedManagerAPI:
    """The seed API's Manager methods (mixed into ``kp.Manager``)."""

    def _init_seed_api(self) -> None:
        self._sequences: dict[str, Sequence] = {}
        self._last_anonymous: Sequence | None = None
        self._idle_anonymous: list[Sequence] = []

    def _algorithm_seed(self, tensors, shader, workgroup):
        from .algorithm import Algorithm

        return Algorithm(self, tensors, shader, workgroup, implicit_spec_consts=True)

    def create_sequence(self, name: str = "", queue_index: int = 0) -> Sequence:
        """A sequence stored under ``name``; without a name, an anonymous one that
        ``eval_await_def`` awaits."""
        sequence = self.sequence(queue_index)
        if name:
            if name in self._sequences:
                logger.warning("create_sequence(%r) replaces the sequence of that name", name)
            self._sequences[name] = sequence
        else:
            self._set_last_anonymous(sequence)
        return sequence

    def get_create_sequence(self, name: str) -> Sequence:
        return self._sequences.get(name) or self.create_sequence(name)

    def build_tensor(self, data: Any, tensor_type: MemoryTypes = MemoryTypes.device) -> Tensor:
        """``kp.Tensor(data, tensor_type)`` created on this manager's device."""
        tensor = Tensor(data, tensor_type)
        self.eval_tensor_create_def([tensor])
        return tensor

    def _set_last_anonymous(self, sequence: Sequence) -> None:
        previous, self._last_anonymous = self._last_anonymous, sequence
        if previous is not None and not previous.is_running() and previous.is_init() \
                and len(self._idle_anonymous) < ANONYMOUS_POOL:
            self._idle_anonymous.append(previous)

    def _anonymous(self) -> Sequence:
        sequence = self._idle_anonymous.pop() if self._idle_anonymous else self.sequence()
        self._set_last_anonymous(sequence)
        return sequence

    def _run_seed(self, name: str, sequence: Sequence, tensors: Any, args: tuple, wait: bool) -> None:
        if sequence.is_running():
            raise SequenceStateError("the sequence is still running: await it before evaluating it again")
        sequence.begin()
        try:
            for op in _seed_ops(self, name, tensors, args):
                sequence.record(op)
        finally:
            sequence.end()
        if wait:
            sequence.eval()
        else:
            sequence.eval_async()

    def _named(self, sequence_name: str) -> Sequence:
        if not isinstance(sequence_name, str):
            raise InvalidArgumentError(f"sequence name must be a str, got {type(sequence_name).__name__}")
        return self.get_create_sequence(sequence_name)

    def eval_await(self, sequence_name: str, wait_for: int | None = None) -> bool:
        """Wait for the named sequence; False if ``wait_for`` ns passed first."""
        if sequence_name not in self._sequences:
            raise InvalidArgumentError(f"no sequence named {sequence_name!r} (known: {sorted(self._sequences)})")
        return _await(self._sequences[sequence_name], wait_for)

    def eval_await_def(self, wait_for: int | None = None) -> bool:
        """Wait for the last anonymous sequence started; False on timeout."""
        if self._last_anonymous is None:
            return True
        return _await(self._last_anonymous, wait_for)


def _await(sequence: Sequence, wait_for: int | None) -> bool:
    try:
        sequence.eval_await(wait_for)
    except WaitTimeoutError:
        return False
    return True


def _manager_methods(name: str):
    def eval_op(self, tensors, sequence_name, *args):
        self._run_seed(name, self._named(sequence_name), tensors, args, wait=True)

    def eval_op_def(self, tensors, *args):
        self._run_seed(name, self._anonymous(), tensors, args, wait=True)

    def eval_async_op(self, tensors, sequence_name, *args):
        self._run_seed(name, self._named(sequence_name), tensors, args, wait=False)

    def eval_async_op_def(self, tensors, *args):
        self._run_seed(name, self._anonymous(), tensors, args, wait=False)

    methods = {
        f"eval_{name}": (eval_op, "Run {} on the named sequence and wait."),
        f"eval_{name}_def": (eval_op_def, "Run {} on a new anonymous sequence and wait."),
        f"eval_async_{name}": (eval_async_op, "Start {} on the named sequence."),
        f"eval_async_{name}_def": (eval_async_op_def, "Start {} on a new anonymous sequence (see eval_await_def)."),
    }
    for method_name, (function, doc) in methods.items():
        function.__name__ = method_name
        function.__doc__ = doc.format(name)
        setattr(SeedManagerAPI, method_name, function)


for _name in SEED_OPS:
    _manager_methods(_name)
