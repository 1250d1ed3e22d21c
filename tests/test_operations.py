"""Operations: syncing, copying, dispatching, multiplying and barriers."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import kp
from conftest import examples, run

INCREMENT_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] += 1.0; }
"""

# b = a + 1 over many invocations, so a missing barrier shows as stale values.
PLUS_ONE_GLSL = """
#version 450
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(set = 0, binding = 1) buffer B { float b[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i < a.length()) b[i] = a[i] + 1.0;
}
"""


def test_operation_aliases():
    assert kp.OpTensorSyncDevice is kp.OpSyncDevice
    assert kp.OpTensorSyncLocal is kp.OpSyncLocal
    assert kp.OpTensorCopy is kp.OpCopy


def test_sync_device_takes_the_views_current_contents(any_mgr):
    a = any_mgr.tensor([1, 2, 3])
    seq = any_mgr.sequence().record(kp.OpSyncDevice([a])).record(kp.OpAlgoDispatch(
        any_mgr.algorithm([a], INCREMENT_GLSL))).record(kp.OpSyncLocal([a]))
    seq.eval()
    assert a.data().tolist() == [2, 3, 4]
    a.data()[:] = [10, 20, 30]
    seq.eval()  # the recorded sync uploads what the view holds now
    assert a.data().tolist() == [11, 21, 31]


def test_sync_local_brings_device_results_back(any_mgr):
    a = any_mgr.tensor([5, 6])
    algo = any_mgr.algorithm([a], INCREMENT_GLSL)
    run(any_mgr, kp.OpSyncDevice([a]), kp.OpAlgoDispatch(algo), kp.OpAlgoDispatch(algo), kp.OpSyncLocal([a]))
    assert a.data().tolist() == [7, 8]


def test_host_tensor_results_need_no_sync(any_mgr):
    a = any_mgr.tensor([5, 6], kp.MemoryTypes.host)
    run(any_mgr, kp.OpAlgoDispatch(any_mgr.algorithm([a], INCREMENT_GLSL)))
    assert a.data().tolist() == [6, 7]


def test_copy_to_several_tensors(any_mgr):
    src = any_mgr.tensor([1, 2, 3])
    dsts = [any_mgr.tensor([0, 0, 0]), any_mgr.tensor([0, 0, 0], kp.MemoryTypes.host),
            any_mgr.tensor([0, 0, 0], kp.MemoryTypes.storage)]
    run(any_mgr, kp.OpSyncDevice([src]), kp.OpCopy([src, *dsts]))
    assert dsts[0].data().tolist() == [1, 2, 3]
    assert dsts[1].data().tolist() == [1, 2, 3]
    # the storage copy is on the device only: read it back through another copy
    back = any_mgr.tensor([0, 0, 0])
    run(any_mgr, kp.OpCopy([dsts[2], back]), kp.OpSyncLocal([back]))
    assert back.data().tolist() == [1, 2, 3]


def test_copy_shows_in_the_destinations_data_without_a_sync(any_mgr):
    a, b = any_mgr.tensor([1, 2, 3]), any_mgr.tensor([0, 0, 0])
    run(any_mgr, kp.OpSyncDevice([a]), kp.OpAlgoDispatch(any_mgr.algorithm([a], INCREMENT_GLSL)), kp.OpCopy([a, b]))
    assert b.data().tolist() == [2, 3, 4]  # the device's a, not a's host data [1, 2, 3]


def test_copy_then_sync_local_gives_the_sources_device_data(any_mgr):
    a, b = any_mgr.tensor([1, 2, 3]), any_mgr.tensor([0, 0, 0])
    run(any_mgr, kp.OpSyncDevice([a]), kp.OpAlgoDispatch(any_mgr.algorithm([a], INCREMENT_GLSL)),
        kp.OpCopy([a, b]), kp.OpSyncLocal([b]))
    assert b.data().tolist() == [2, 3, 4]


def test_a_dispatch_after_a_copy_keeps_its_result(any_mgr):
    a, b = any_mgr.tensor([1, 2, 3]), any_mgr.tensor([0, 0, 0])
    run(any_mgr, kp.OpSyncDevice([a]), kp.OpCopy([a, b]), kp.OpAlgoDispatch(any_mgr.algorithm([b], INCREMENT_GLSL)),
        kp.OpSyncLocal([b]))
    assert b.data().tolist() == [2, 3, 4]


def test_chained_dispatches_see_each_others_writes(any_mgr):
    n = 4096
    tensors = [any_mgr.tensor(np.arange(n))] + [any_mgr.tensor(np.zeros(n)) for _ in range(6)]
    seq = any_mgr.sequence().record(kp.OpSyncDevice(tensors[:1]))
    for a, b in zip(tensors, tensors[1:]):
        seq.record(kp.OpAlgoDispatch(any_mgr.algorithm([a, b], PLUS_ONE_GLSL)))
    seq.record(kp.OpSyncLocal(tensors[-1:])).eval()
    np.testing.assert_array_equal(tensors[-1].data(), np.arange(n) + 6)


def test_dispatch_copy_dispatch_in_one_sequence(any_mgr):
    a, b, c = any_mgr.tensor(np.arange(300)), any_mgr.tensor(np.zeros(300)), any_mgr.tensor(np.zeros(300))
    run(any_mgr, kp.OpSyncDevice([a]), kp.OpAlgoDispatch(any_mgr.algorithm([a, b], PLUS_ONE_GLSL)),
        kp.OpCopy([b, a]), kp.OpAlgoDispatch(any_mgr.algorithm([a, c], PLUS_ONE_GLSL)), kp.OpSyncLocal([c]))
    np.testing.assert_array_equal(c.data(), np.arange(300) + 2)


def test_repeated_dispatch_of_one_algorithm(mgr):
    a = mgr.tensor(np.zeros(8))
    algo = mgr.algorithm([a], INCREMENT_GLSL)
    seq = mgr.sequence().record(kp.OpSyncDevice([a]))
    for _ in range(20):
        seq.record(kp.OpAlgoDispatch(algo))
    seq.record(kp.OpSyncLocal([a])).eval()
    assert a.data().tolist() == [20] * 8


def test_memory_barrier(any_mgr):
    a, b = any_mgr.tensor(np.arange(100)), any_mgr.tensor(np.zeros(100))
    stages = kp.PipelineStages.compute_shader | kp.PipelineStages.transfer
    run(any_mgr, kp.OpSyncDevice([a]),
        kp.OpMemoryBarrier([a], kp.AccessFlags.transfer_write, kp.AccessFlags.shader_read, stages, stages),
        kp.OpAlgoDispatch(any_mgr.algorithm([a, b], PLUS_ONE_GLSL)),
        kp.OpMemoryBarrier([b]),
        kp.OpSyncLocal([b]))
    np.testing.assert_array_equal(b.data(), np.arange(100) + 1)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 255, 1024, 1027])
def test_mult(any_mgr, n):
    lhs, rhs = np.arange(n, dtype=np.float32), np.arange(n, dtype=np.float32)[::-1] + 0.5
    a, b, out = any_mgr.tensor(lhs), any_mgr.tensor(rhs), any_mgr.tensor(np.full(n, -1))
    run(any_mgr, kp.OpSyncDevice([a, b]), kp.OpMult([a, b, out], any_mgr.algorithm()), kp.OpSyncLocal([out]))
    np.testing.assert_array_equal(out.data(), lhs * rhs)


@settings(max_examples=examples(20), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 70_000), seed=st.integers(0, 2**32 - 1))
def test_mult_random_sizes(mgr, n, seed):
    rng = np.random.default_rng(seed)
    lhs, rhs = rng.standard_normal(n, np.float32), rng.standard_normal(n, np.float32)
    a, b, out = mgr.tensor(lhs), mgr.tensor(rhs), mgr.tensor(np.zeros(n))
    run(mgr, kp.OpSyncDevice([a, b]), kp.OpMult([a, b, out], mgr.algorithm()), kp.OpSyncLocal([out]))
    np.testing.assert_array_equal(out.data(), lhs * rhs)


def test_mult_reuses_its_algorithm(mgr):
    algo = mgr.algorithm()
    a, b, out = mgr.tensor([2, 3]), mgr.tensor([4, 5]), mgr.tensor([0, 0])
    run(mgr, kp.OpSyncDevice([a, b]), kp.OpMult([a, b, out], algo), kp.OpSyncLocal([out]))
    assert out.data().tolist() == [8, 15]
    c, d, out2 = mgr.tensor([1, 2, 3]), mgr.tensor([1, 2, 3]), mgr.tensor([0, 0, 0])
    run(mgr, kp.OpSyncDevice([c, d]), kp.OpMult([c, d, out2], algo), kp.OpSyncLocal([out2]))
    assert out2.data().tolist() == [1, 4, 9]
    assert algo.get_tensors() == [c, d, out2]


def test_operations_expose_their_tensors(mgr):
    a, b = mgr.tensor([1]), mgr.tensor([2])
    assert kp.OpCopy([a, b]).get_tensors() == [a, b]
    assert kp.OpSyncLocal(a).get_tensors() == [a]
