"""Sequences: recording, evaluating (synchronously or not), timestamps."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kp
from conftest import child_env, slow_algorithm
from test_operations import INCREMENT_GLSL



@pytest.fixture
def counter(mgr):
    """A tensor of zeros and an algorithm adding one to each element."""
    a = mgr.tensor([0, 0, 0])
    return a, mgr.algorithm([a], INCREMENT_GLSL)


def test_record_is_chainable(mgr, counter):
    a, algo = counter
    seq = mgr.sequence()
    assert seq.record(kp.OpSyncDevice([a])) is seq
    assert seq.is_recording()
    assert seq.record(kp.OpAlgoDispatch(algo)).record(kp.OpSyncLocal([a])).eval() is seq
    assert not seq.is_recording() and not seq.is_running()
    assert a.data().tolist() == [1, 1, 1]


def test_eval_again_resubmits(mgr, counter):
    a, algo = counter
    mgr.sequence().eval(kp.OpSyncDevice([a]))
    mgr.sequence().record(kp.OpAlgoDispatch(algo)).eval().eval().eval()
    mgr.sequence().eval(kp.OpSyncLocal([a]))
    assert a.data().tolist() == [3, 3, 3]


def test_eval_with_an_op_replaces_the_recorded_ones(mgr, counter):
    a, algo = counter
    seq = mgr.sequence()
    seq.eval(kp.OpSyncDevice([a]))
    seq.eval(kp.OpAlgoDispatch(algo))
    seq.eval(kp.OpAlgoDispatch(algo))
    seq.eval(kp.OpSyncLocal([a]))
    assert a.data().tolist() == [2, 2, 2]


def test_record_after_eval_starts_a_new_command_buffer(mgr, counter):
    a, algo = counter
    seq = mgr.sequence()
    seq.record(kp.OpSyncDevice([a])).record(kp.OpAlgoDispatch(algo)).eval()
    seq.record(kp.OpAlgoDispatch(algo)).eval()
    seq.record(kp.OpSyncLocal([a])).eval()
    assert a.data().tolist() == [2, 2, 2]  # each op ran once


def test_eval_async_returns_before_the_work_is_done(mgr):
    a = mgr.tensor(np.zeros(4096))
    seq = mgr.sequence().record(kp.OpAlgoDispatch(slow_algorithm(mgr, a))).record(kp.OpSyncLocal([a]))
    seq.eval_async()
    assert seq.is_running()
    with pytest.raises(kp.WaitTimeoutError):
        seq.eval_await(0)
    assert seq.is_running()  # a timed-out wait leaves it running
    seq.eval_await()
    assert not seq.is_running()
    assert a.data()[0] > 50_000 and np.all(a.data() == a.data()[0])


def test_eval_async_with_an_op(mgr, counter):
    a, algo = counter
    seq = mgr.sequence()
    seq.eval_async(kp.OpSyncDevice([a])).eval_await()
    seq.eval_async(kp.OpAlgoDispatch(algo)).eval_await(10**10)
    seq.eval_async(kp.OpSyncLocal([a])).eval_await()
    assert a.data().tolist() == [1, 1, 1]


def test_eval_async_then_await_gives_the_results(mgr):
    src, dst = mgr.tensor([1, 2]), mgr.tensor([0, 0], kp.MemoryTypes.host)
    seq = mgr.sequence().record(kp.OpSyncDevice([src])).record(kp.OpCopy([src, dst]))
    seq.eval_async().eval_await()
    assert dst.data().tolist() == [1, 2]


def test_eval_await_when_not_running_does_nothing(mgr):
    seq = mgr.sequence()
    assert seq.eval_await() is seq
    assert not seq.is_running()


def test_two_sequences_run_concurrently(mgr):
    a, b = mgr.tensor(np.zeros(256)), mgr.tensor(np.zeros(256))
    one = mgr.sequence().record(kp.OpAlgoDispatch(slow_algorithm(mgr, a))).record(kp.OpSyncLocal([a]))
    two = mgr.sequence().record(kp.OpAlgoDispatch(slow_algorithm(mgr, b))).record(kp.OpSyncLocal([b]))
    one.eval_async()
    two.eval_async()
    two.eval_await()
    one.eval_await()
    assert a.data()[0] == b.data()[0] > 50_000


def test_running_sequence_refuses_new_work(mgr):
    a = mgr.tensor(np.zeros(4096))
    algo = slow_algorithm(mgr, a)
    seq = mgr.sequence().record(kp.OpAlgoDispatch(algo))
    seq.eval_async()
    with pytest.raises(kp.SequenceStateError):
        seq.record(kp.OpAlgoDispatch(algo))
    with pytest.raises(kp.SequenceStateError):
        seq.eval_async()
    seq.eval_await()
    mgr.sequence().eval(kp.OpSyncLocal([a]))
    assert a.data()[0] > 50_000


def test_clear_forgets_the_operations(mgr, counter):
    a, algo = counter
    seq = mgr.sequence().record(kp.OpSyncDevice([a]))
    seq.clear()
    assert not seq.is_recording()
    seq.record(kp.OpAlgoDispatch(algo)).record(kp.OpSyncLocal([a])).eval()
    assert a.data().tolist() == [1, 1, 1]


def test_clear_keeps_the_last_command_buffer_submittable(mgr, counter):
    a, algo = counter
    seq = mgr.sequence().record(kp.OpSyncDevice([a])).record(kp.OpAlgoDispatch(algo)) \
        .record(kp.OpSyncLocal([a])).eval()
    seq.clear()
    seq.eval()  # Kompute: resubmits what was recorded last
    assert a.data().tolist() == [2, 2, 2]


def test_rerecord(mgr, counter):
    a, algo = counter
    seq = mgr.sequence().record(kp.OpSyncDevice([a])).record(kp.OpAlgoDispatch(algo)) \
        .record(kp.OpSyncLocal([a]))
    seq.eval()
    seq.rerecord()
    seq.eval()
    assert a.data().tolist() == [2, 2, 2]


def test_timestamps_one_before_and_one_after_each_op(mgr, counter):
    if not mgr.get_device_properties()["timestamps_supported"]:
        pytest.skip("device has no timestamps")
    a, algo = counter
    seq = mgr.sequence(total_timestamps=5)
    seq.record(kp.OpSyncDevice([a])).record(kp.OpAlgoDispatch(algo)).record(kp.OpSyncLocal([a])).eval()
    stamps = seq.get_timestamps()
    assert len(stamps) == 4
    assert stamps == sorted(stamps) and stamps[-1] > stamps[0]


def test_timestamps_wait_for_nothing_that_was_not_evaluated(mgr):
    """Before the recorded operations are evaluated there are no timestamps: []
    at once, never a wait for queries no submission will write (that blocked for
    ever on NVIDIA). In a child process, so that a wait fails the test."""
    if not mgr.get_device_properties()["timestamps_supported"]:
        pytest.skip("device has no timestamps")
    code = """
        import json, kp
        mgr = kp.Manager()
        a = mgr.tensor([0, 0, 0])
        seq = mgr.sequence(total_timestamps=5).record(kp.OpSyncDevice([a])).record(kp.OpSyncLocal([a]))
        recorded = seq.get_timestamps()
        evaluated = seq.eval().get_timestamps()
        rerecorded = seq.rerecord().get_timestamps()
        print(json.dumps([recorded, evaluated, rerecorded, seq.eval().get_timestamps()]))
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=child_env(), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Validation" not in result.stderr, result.stderr
    recorded, evaluated, rerecorded, evaluated_again = json.loads(result.stdout)
    assert recorded == [] and rerecorded == []
    assert len(evaluated) == len(evaluated_again) == 3
    assert evaluated == sorted(evaluated) and evaluated_again[0] > evaluated[-1]


def test_destroy(mgr, counter):
    a, algo = counter
    seq = mgr.sequence().record(kp.OpSyncDevice([a]))
    assert seq.is_init()
    seq.destroy()
    assert not seq.is_init() and not seq.is_recording()
    seq.destroy()
    with pytest.raises(kp.DestroyedError):
        seq.record(kp.OpAlgoDispatch(algo))
    assert a.is_init()  # the sequence does not own its tensors


def test_destroying_a_running_sequence_lets_its_work_finish(mgr):
    a = mgr.tensor(np.zeros(4096))
    seq = mgr.sequence().record(kp.OpAlgoDispatch(slow_algorithm(mgr, a)))
    seq.eval_async()
    seq.destroy()  # returns at once; the command buffer is freed once the GPU is done with it
    assert not seq.is_init()
    mgr.sequence().eval(kp.OpSyncLocal([a]))  # runs after the destroyed sequence's work on the queue
    assert a.data()[0] > 50_000


@pytest.mark.parametrize("start", ["eval(op)", "clear().record(op)", "record(op)", "eval_async(op)"])
def test_a_new_recording_after_an_evaluation_ignores_what_the_last_one_used(mgr, counter, start):
    """Destroying a tensor the last evaluated recording used does not refuse the next
    recording, which starts a new command buffer (as ``eval(op)`` and ``clear()`` ask)."""
    a, algo = counter
    gone = mgr.tensor([5.0])
    seq = mgr.sequence()
    seq.eval(kp.OpSyncDevice([gone, a]))
    gone.destroy()
    op = kp.OpAlgoDispatch(algo)
    if start == "eval(op)":
        seq.eval(op)
    elif start == "clear().record(op)":
        seq.clear().record(op).eval()
    elif start == "record(op)":
        seq.record(op).eval()
    else:
        seq.eval_async(op).eval_await()
    seq.eval(kp.OpSyncLocal([a]))
    assert a.data().tolist() == [1, 1, 1]


def test_destroying_what_a_recording_uses_discards_the_recording(mgr, counter):
    a, algo = counter
    seq = mgr.sequence().record(kp.OpSyncDevice([a])).record(kp.OpAlgoDispatch(algo))  # still recording
    algo.destroy()
    with pytest.raises(kp.DestroyedError):
        seq.eval_async()
    assert not seq.is_recording() and not seq.is_running()
    fresh = mgr.algorithm([a], INCREMENT_GLSL)
    seq.record(kp.OpAlgoDispatch(fresh)).record(kp.OpSyncLocal([a])).eval()
    assert a.data().tolist() == [1, 1, 1]
