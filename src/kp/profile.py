"""Where a sequence's GPU time goes: per-operation times from the timestamps a
sequence writes (one before its operations and one after each), as a table and as
a Chrome / Perfetto trace.

>>> a, b, out = (mgr.tensor(np.ones(1 << 16)) for _ in range(3))
>>> seq = mgr.sequence(total_timestamps=3)
>>> _ = seq.record(kp.OpSyncDevice([a, b])).record(kp.OpMult([a, b, out], mgr.algorithm())) \\
...     .record(kp.OpSyncLocal([out])).eval()
>>> profile = seq.profile()
>>> [op.name for op in profile.operations]
['kp.OpSyncDevice(2 tensors)', 'kp.OpMult(kp.Algorithm(...))', 'kp.OpSyncLocal(1 tensors)']
>>> abs(sum(op.duration_us for op in profile.operations) - profile.total_us) < 1e-6
True
>>> print(profile.table())  # doctest: +SKIP
GPU time of 3 operations on NVIDIA H200, queue 0: 28.1 µs
  #  operation                                                                   µs   share
  0  kp.OpSyncDevice(2 tensors)                                                17.9   63.7%
  1  kp.OpMult(kp.Algorithm(tensors=3, workgroup=(64, 1, 1), init=True))        3.2   11.3%
  2  kp.OpSyncLocal(1 tensors)                                                  7.0   25.0%
>>> profile.save_trace("trace.json")  # doctest: +SKIP

Open the trace in ui.perfetto.dev or chrome://tracing: one row per queue, one
slice per operation. ``kp.profile.trace([p1, p2, ...])`` puts the profiles of
several sequences (on several queues or devices) into one trace.

An operation's time runs from the timestamp after the operation before it to the
timestamp after it, so it includes the barrier kp records before it, and
operations that overlap on the GPU (independent dispatches, no barrier between
them) share their time: the first shows it, the next ones close to 0.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from collections.abc import Iterable
from typing import Any

from .errors import InvalidArgumentError

_US = 1e-3  # microseconds per nanosecond


@dataclass(frozen=True)
class OperationTime:
    """One operation's GPU time, in microseconds from the first timestamp."""

    name: str
    start_us: float
    duration_us: float


class Profile:
    """The GPU times of one evaluation of a sequence's operations (from
    ``Sequence.profile()``): ``operations`` (name, start and duration in µs, in
    recording order), ``total_us``, ``table()``, ``trace()`` and ``save_trace(path)``.

    ``timestamps`` are the raw device ticks (one before the operations, one after
    each of the first ``len(timestamps) - 1`` of ``names``), ``period_ns`` the
    device's ``timestampPeriod`` and ``valid_bits`` the queue family's
    ``timestampValidBits``: ticks are masked to the valid bits, and differences
    taken modulo that width, so a counter that wraps between two timestamps still
    gives the right duration."""

    def __init__(self, names: list[str], timestamps: list[int], period_ns: float, valid_bits: int,
                 queue: int = 0, device: str = ""):
        if not 0 < valid_bits <= 64:
            raise InvalidArgumentError(f"valid_bits must be 1 to 64 (the queue family's timestampValidBits), "
                                       f"got {valid_bits!r}")
        if len(timestamps) < 1 or len(timestamps) - 1 > len(names):
            raise InvalidArgumentError(f"{len(timestamps)} timestamps for {len(names)} operations: expected one "
                                       f"before the operations and at most one after each")
        mask = (1 << valid_bits) - 1
        ticks = [t & mask for t in timestamps]
        self.queue = queue
        self.device = device
        self.start_ns = ticks[0] * period_ns  # on the device's clock
        self.operations: list[OperationTime] = []
        elapsed = 0.0
        for name, before, after in zip(names, ticks, ticks[1:]):
            duration = ((after - before) & mask) * period_ns * _US
            self.operations.append(OperationTime(name, elapsed, duration))
            elapsed += duration
        self.total_us = elapsed
        self.untimed = len(names) - len(self.operations)  # recorded beyond the sequence's total_timestamps

    def table(self) -> str:
        """The operations as text: index, name, GPU µs and share of the total."""
        width = max([len("operation"), *(len(op.name) for op in self.operations)])
        on = f" on {self.device}" if self.device else ""
        lines = [f"GPU time of {len(self.operations)} operations{on}, queue {self.queue}: {self.total_us:.1f} µs",
                 f"{'#':>3}  {'operation':<{width}}  {'µs':>9}  {'share':>6}"]
        for i, op in enumerate(self.operations):
            share = op.duration_us / self.total_us if self.total_us else 0.0
            lines.append(f"{i:>3}  {op.name:<{width}}  {op.duration_us:>9.1f}  {share:>6.1%}")
        if self.untimed:
            lines.append(f"({self.untimed} later operations not timed: make the sequence with total_timestamps "
                         f">= {len(self.operations) + self.untimed})")
        return "\n".join(lines)

    def trace(self) -> dict[str, Any]:
        """The Chrome / Perfetto trace of this profile (see ``trace``)."""
        return trace([self])

    def save_trace(self, path: str | os.PathLike[str]) -> None:
        """Write ``trace()`` as JSON to ``path`` (for ui.perfetto.dev or chrome://tracing)."""
        with open(path, "w", encoding="utf-8") as file:
            json.dump(self.trace(), file)

    def __repr__(self) -> str:
        return f"kp.profile.Profile({len(self.operations)} operations, {self.total_us:.1f} µs, queue {self.queue})"


def trace(profiles: Iterable[Profile]) -> dict[str, Any]:
    """Profiles as one trace in the Trace Event Format that chrome://tracing and
    ui.perfetto.dev open: a process per device and a row (thread) per queue, a
    complete event (``"ph": "X"``, ``ts`` and ``dur`` in µs) per operation, placed
    on the device's clock from the earliest profile's first timestamp."""
    if not isinstance(profiles, Iterable):
        raise InvalidArgumentError(f"trace takes a list of kp.profile.Profile, got {type(profiles).__name__}")
    profiles = list(profiles)
    for i, profile in enumerate(profiles):
        if not isinstance(profile, Profile):
            raise InvalidArgumentError(f"trace: item {i} is a {type(profile).__name__}, not a kp.profile.Profile "
                                       f"(from Sequence.profile())")
    origin = min((p.start_ns for p in profiles), default=0.0)
    devices: dict[str, int] = {}
    rows: set[tuple[int, int]] = set()
    events: list[dict[str, Any]] = []
    for profile in profiles:
        pid = devices.setdefault(profile.device, len(devices))
        rows.add((pid, profile.queue))
        offset = (profile.start_ns - origin) * _US
        events += [{"name": op.name, "cat": "kp", "ph": "X", "ts": offset + op.start_us, "dur": op.duration_us,
                    "pid": pid, "tid": profile.queue, "args": {"index": i}}
                   for i, op in enumerate(profile.operations)]
    names = [{"name": "process_name", "ph": "M", "pid": pid, "args": {"name": device or f"device {pid}"}}
             for device, pid in devices.items()]
    names += [{"name": "thread_name", "ph": "M", "pid": pid, "tid": queue, "args": {"name": f"queue {queue}"}}
              for pid, queue in sorted(rows)]
    return {"traceEvents": names + events, "displayTimeUnit": "ns"}
