"""Threads: a manager is shared by threads that each create and evaluate their own
objects; a sequence shared by threads evaluates one caller at a time; misuse
across threads (submitting a sequence another thread is running) raises."""

import threading

import numpy as np

import kp
from conftest import MULTIPLY_GLSL

THREADS = 8
INCREMENT_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] += 1.0; }
"""


def in_threads(work, count: int = THREADS) -> list:
    """Run ``work(i)`` in ``count`` threads started together; re-raise the first failure."""
    start = threading.Barrier(count)
    results, errors = [None] * count, []

    def target(i):
        try:
            start.wait()
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def test_threads_evaluate_their_own_sequences_on_one_manager(any_mgr):
    spirv = kp.shader.compile_source(MULTIPLY_GLSL)

    def work(i):
        rng = np.random.default_rng(i)
        for round_ in range(100):
            x, y = rng.random(257, np.float32), rng.random(257, np.float32)
            a, b, out = any_mgr.tensor(x), any_mgr.tensor(y), any_mgr.tensor(np.zeros(257))
            algorithm = any_mgr.algorithm([a, b, out], spirv)
            seq = any_mgr.sequence().record(kp.OpSyncDevice([a, b])).record(kp.OpAlgoDispatch(algorithm)) \
                .record(kp.OpSyncLocal([out]))
            if round_ % 2:
                seq.eval_async().eval_await()
            else:
                seq.eval()
            np.testing.assert_array_equal(out.data(), x * y)
            for obj in (seq, algorithm, a, b, out):
                obj.destroy()
        return True

    assert in_threads(work) == [True] * THREADS


def increments(mgr, a):
    """A sequence adding one to every element of ``a`` (synced to the device first)."""
    mgr.sequence().eval(kp.OpSyncDevice([a]))
    return mgr.sequence().record(kp.OpAlgoDispatch(mgr.algorithm([a], INCREMENT_GLSL))).record(kp.OpSyncLocal([a]))


def test_threads_sharing_a_sequence_each_get_whole_evaluations(any_mgr):
    a = any_mgr.tensor(np.zeros(64))
    seq = increments(any_mgr, a)

    def work(i):
        for _ in range(100):
            seq.eval()
        return True

    in_threads(work)
    assert a.data().tolist() == [THREADS * 100] * 64


def test_submitting_a_sequence_another_thread_runs_raises(mgr):
    a = mgr.tensor(np.zeros(64))
    seq = increments(mgr, a)
    submitted = []

    def work(i):
        refused = 0
        for _ in range(40):
            try:
                seq.eval_async()
                submitted.append(i)
            except kp.SequenceStateError:
                refused += 1
            seq.eval_await()
        return refused

    refusals = in_threads(work)
    assert sum(refusals) + len(submitted) == THREADS * 40
    assert a.data().tolist() == [len(submitted)] * 64  # every accepted submission ran exactly once


def test_threads_sharing_tensors_through_their_own_sequences(mgr):
    """Reading one tensor into per-thread outputs while the others do the same."""
    source = mgr.tensor(np.arange(1000))
    mgr.sequence().eval(kp.OpSyncDevice([source]))

    def work(i):
        out = mgr.tensor(np.zeros(1000))
        seq = mgr.sequence().record(kp.OpCopy([source, out])).record(kp.OpSyncLocal([out]))
        for _ in range(20):
            out.data()[:] = -1
            seq.eval()
            np.testing.assert_array_equal(out.data(), np.arange(1000))
        return True

    in_threads(work)


def test_threads_use_the_seed_api_on_one_manager(mgr):
    def work(i):
        for k in range(20):
            a, b, out = kp.Tensor([i, k]), kp.Tensor([2, 3]), kp.Tensor([0, 0])
            mgr.eval_tensor_create_def([a, b, out])
            mgr.eval_algo_mult_def([a, b, out])
            mgr.eval_tensor_sync_local_def([out])
            assert out.data() == [2 * i, 3 * k]
        return True

    in_threads(work)
