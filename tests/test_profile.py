"""Profiles of sequences: per-operation GPU times from timestamps, as a table and
as a Chrome / Perfetto trace."""

import json
import time

import numpy as np
import pytest

import kp
from conftest import slow_algorithm


@pytest.fixture
def timed(mgr):
    if not mgr.get_device_properties()["timestamps_supported"]:
        pytest.skip("device has no timestamps")
    return mgr


def test_slow_dispatch_takes_the_time_the_host_waited(timed):
    """The GPU times are in microseconds of the device's clock: the slow dispatch
    takes the longest, a good part of what the host waited for the evaluation (on
    a busy CPU device that wait has milliseconds of noise), and no more."""
    a = timed.tensor(np.zeros(64, np.float32))
    ops = [kp.OpSyncDevice([a]), kp.OpAlgoDispatch(slow_algorithm(timed, a)), kp.OpSyncLocal([a])]
    seq = timed.sequence(total_timestamps=len(ops))
    for op in ops:
        seq.record(op)
    start = time.perf_counter()
    seq.eval()
    waited_us = (time.perf_counter() - start) * 1e6
    profile = seq.profile()
    assert [op.name for op in profile.operations] == [repr(op) for op in ops]
    slow = profile.operations[1].duration_us
    assert waited_us / 20 < slow <= profile.total_us <= waited_us
    assert slow == max(op.duration_us for op in profile.operations)


def test_trace_has_one_event_per_operation_in_order(timed, tmp_path):
    """The saved trace loads as JSON; its complete events follow one another on the
    queue's row, none negative, and add up to the total."""
    a, b = timed.tensor(np.ones(4096, np.float32)), timed.tensor(np.ones(4096, np.float32))
    out = timed.tensor(np.zeros(4096, np.float32))
    ops = [kp.OpSyncDevice([a, b]), kp.OpMult([a, b, out], timed.algorithm()), kp.OpTensorCopy([out, a]),
           kp.OpSyncLocal([a, out])]
    seq = timed.sequence(total_timestamps=len(ops))
    for op in ops:
        seq.record(op)
    seq.eval()
    stamps = seq.get_timestamps()
    profile = seq.profile()
    profile.save_trace(tmp_path / "trace.json")
    trace = json.loads((tmp_path / "trace.json").read_text())

    events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert [e["name"] for e in events] == [repr(op) for op in ops]
    assert all(e["dur"] >= 0 and e["tid"] == 0 and e["pid"] == 0 for e in events)
    assert events[0]["ts"] == 0
    for before, after in zip(events, events[1:]):
        assert after["ts"] == pytest.approx(before["ts"] + before["dur"])
    period = timed.get_device_properties()["timestamp_period"]
    assert profile.total_us == pytest.approx((stamps[-1] - stamps[0]) * period / 1000)
    assert sum(e["dur"] for e in events) == pytest.approx(profile.total_us)
    rows = {e["name"]: e["args"]["name"] for e in trace["traceEvents"] if e["ph"] == "M"}
    assert rows == {"process_name": timed.get_device_properties()["device_name"], "thread_name": "queue 0"}
    np.testing.assert_array_equal(out.data(), np.ones(4096))  # profiling changed no numbers


def test_table_lists_each_operation_with_its_share(timed):
    a = timed.tensor(np.zeros(64, np.float32))
    dispatch = kp.OpAlgoDispatch(slow_algorithm(timed, a))
    seq = timed.sequence(total_timestamps=2)
    seq.record(dispatch).record(kp.OpSyncLocal([a])).eval()
    table = seq.profile().table().splitlines()
    device = timed.get_device_properties()["device_name"]
    assert table[0].startswith(f"GPU time of 2 operations on {device}, queue 0: ")
    assert table[1].split() == ["#", "operation", "µs", "share"]
    first, second = (line.split() for line in table[2:])
    assert first[0] == "0" and " ".join(first[1:-2]) == repr(dispatch)
    assert second[0] == "1" and second[1] == "kp.OpSyncLocal(1"
    shares = [float(line[-1].rstrip("%")) for line in (first, second)]
    assert shares[0] > shares[1] and sum(shares) == pytest.approx(100, abs=0.1)
    assert len(table) == 4


def test_operations_beyond_the_timestamps_are_counted_as_untimed(timed):
    a = timed.tensor([1.0, 2.0])
    seq = timed.sequence(total_timestamps=1)
    seq.record(kp.OpSyncDevice([a])).record(kp.OpSyncLocal([a])).record(kp.OpSyncLocal([a])).eval()
    profile = seq.profile()
    assert len(profile.operations) == 1 and profile.untimed == 2
    assert profile.table().splitlines()[-1] == ("(2 later operations not timed: make the sequence with "
                                                "total_timestamps >= 3)")


def test_two_evaluations_follow_each_other_in_one_trace(timed):
    """kp.profile.trace puts several profiles on the device's clock."""
    a = timed.tensor(np.zeros(64, np.float32))
    first = timed.sequence(total_timestamps=1).record(kp.OpAlgoDispatch(slow_algorithm(timed, a))).eval()
    second = timed.sequence(total_timestamps=1).record(kp.OpSyncLocal([a])).eval()
    trace = kp.profile.trace([first.profile(), second.profile()])
    slow, sync = (e for e in trace["traceEvents"] if e["ph"] == "X")
    assert slow["ts"] == 0 and sync["ts"] >= slow["dur"]


def test_ticks_are_masked_to_the_valid_bits_and_scaled_by_the_period():
    """An 8-bit counter that wraps between two timestamps; 2.5 ns per tick."""
    profile = kp.profile.Profile(["a", "b"], [0xFF00 + 250, 0xAB00 + 4, 10], period_ns=2.5, valid_bits=8)
    assert [op.start_us for op in profile.operations] == pytest.approx([0.0, 0.025])
    assert [op.duration_us for op in profile.operations] == pytest.approx([0.025, 0.015])
    assert profile.total_us == pytest.approx(0.04)


def test_profile_refusals(timed):
    untimed = timed.sequence().record(kp.OpSyncDevice([timed.tensor([1.0])])).eval()
    with pytest.raises(kp.KomputeError, match="total_timestamps > 0"):
        untimed.profile()
    recorded = timed.sequence(total_timestamps=1).record(kp.OpSyncDevice([timed.tensor([1.0])]))
    with pytest.raises(kp.SequenceStateError, match="eval"):
        recorded.profile()
    with pytest.raises(kp.InvalidArgumentError, match="valid_bits must be 1 to 64"):
        kp.profile.Profile(["a"], [1, 2], 1.0, 0)
    with pytest.raises(kp.InvalidArgumentError, match="3 timestamps for 1 operations"):
        kp.profile.Profile(["a"], [1, 2, 3], 1.0, 64)


def test_a_recording_discarded_for_a_destroyed_tensor_has_nothing_to_profile(timed):
    a, b = timed.tensor([1.0]), timed.tensor([2.0])
    seq = timed.sequence(total_timestamps=2).record(kp.OpSyncDevice([a])).record(kp.OpSyncDevice([b])).eval()
    assert len(seq.profile().operations) == 2
    b.destroy()
    with pytest.raises(kp.DestroyedError):
        seq.eval()
    with pytest.raises(kp.SequenceStateError, match="no operations to profile: the recording was discarded"):
        seq.profile()


def test_trace_refuses_what_is_not_a_profile(timed):
    with pytest.raises(kp.InvalidArgumentError, match="trace: item 1 is a int, not a kp.profile.Profile"):
        kp.profile.trace([kp.profile.Profile(["a"], [1, 2], 1.0, 64), 5])
    with pytest.raises(kp.InvalidArgumentError, match="trace takes a list of kp.profile.Profile, got NoneType"):
        kp.profile.trace(None)


def test_each_operation_is_named_by_its_kind_and_a_product_by_its_sizes(timed):
    a, b, c = (timed.tensor(np.ones((4, 4), np.float32)) for _ in range(3))
    ab = timed.tensor(np.ones((4, 6), np.float32))
    ops = [kp.OpMatMul([a, ab, timed.tensor(np.zeros((4, 6), np.float32))], timed.algorithm()),
           kp.OpMult([a, b, c], timed.algorithm())]
    seq = timed.sequence(total_timestamps=2)
    for op in ops:
        seq.record(op)
    names = [op.name for op in seq.eval().profile().operations]
    assert names[0] == "kp.OpMatMul(4 x 4 @ 4 x 6, float32)"
    assert names[1].startswith("kp.OpMult(kp.Algorithm(")
