"""Barriers only where an operation depends on an earlier one. Every test runs under
synchronization validation (a hazard message fails it) and checks the numbers and
how many barriers the command buffer got: one at the start (against earlier
submissions), one to the host at the end when something was written, and one
before each operation that reads what an earlier one wrote, or writes what an
earlier one read or wrote."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import kp
from kp.vk.instance import sync_validation_enabled

INCREMENT_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] += 1.0; }
"""

# b = a + 1, reading a only (its binding is readonly)
PLUS_ONE_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) writeonly buffer B { float b[]; };
void main() { b[gl_GlobalInvocationID.x] = a[gl_GlobalInvocationID.x] + 1.0; }
"""

START, TO_HOST = 1, 1
T = kp.PipelineStages
A = kp.AccessFlags


# Tests of dispatches alone use host-visible tensors, which the GPU writes directly,
# so that their numbers need no sync (and its barriers) in either memory mode.


def barriers(seq) -> int:
    return seq._commands.barriers_recorded


def evaluated(mgr, *ops):
    seq = mgr.sequence()
    for op in ops:
        seq.record(op)
    return seq.eval()


def staging_manager(monkeypatch):
    monkeypatch.setenv("KP_DISABLE_UMA", "1")
    return kp.Manager()


def test_independent_dispatches_get_no_barrier_between_them(mgr):
    tensors = [mgr.tensor(np.full(4, i, np.float32), kp.MemoryTypes.host) for i in range(10)]
    seq = evaluated(mgr, *(kp.OpAlgoDispatch(mgr.algorithm([t], INCREMENT_GLSL)) for t in tensors))
    assert barriers(seq) == START + TO_HOST
    assert [t.data().tolist() for t in tensors] == [[i + 1] * 4 for i in range(10)]


def test_a_dependent_chain_gets_a_barrier_before_each_link(mgr):
    a = mgr.tensor(np.zeros(8, np.float32), kp.MemoryTypes.host)
    algo = mgr.algorithm([a], INCREMENT_GLSL)
    seq = evaluated(mgr, *(kp.OpAlgoDispatch(algo) for _ in range(20)))
    assert barriers(seq) == START + 19 + TO_HOST
    assert a.data().tolist() == [20] * 8
    seq.eval()  # the start barrier orders it after the first evaluation
    assert a.data().tolist() == [40] * 8


def test_dispatches_reading_one_tensor_get_no_barrier_between_them(mgr):
    a = mgr.tensor(np.arange(6, dtype=np.float32), kp.MemoryTypes.host)
    outs = [mgr.tensor(np.zeros(6, np.float32), kp.MemoryTypes.host) for _ in range(4)]
    seq = evaluated(mgr, *(kp.OpAlgoDispatch(mgr.algorithm([a, out], PLUS_ONE_GLSL)) for out in outs))
    assert barriers(seq) == START + TO_HOST
    for out in outs:
        assert out.data().tolist() == list(range(1, 7))


def test_a_write_after_reads_waits_for_them(mgr):
    a, b, c = (mgr.tensor(np.arange(4, dtype=np.float32), kp.MemoryTypes.host) for _ in range(3))
    seq = evaluated(mgr, kp.OpAlgoDispatch(mgr.algorithm([a, b], PLUS_ONE_GLSL)),
                    kp.OpAlgoDispatch(mgr.algorithm([a, c], PLUS_ONE_GLSL)),
                    kp.OpAlgoDispatch(mgr.algorithm([a], INCREMENT_GLSL)))
    assert barriers(seq) == START + 1 + TO_HOST
    assert b.data().tolist() == c.data().tolist() == a.data().tolist() == [1, 2, 3, 4]


def test_one_barrier_covers_every_hazard_of_an_operation(mgr):
    a, b, c = (mgr.tensor(np.full(4, 1, np.float32), kp.MemoryTypes.host) for _ in range(3))
    inc = [mgr.algorithm([t], INCREMENT_GLSL) for t in (a, b)]
    # the last dispatch reads a (written), and writes b (written) and c (read)
    d = mgr.tensor(np.zeros(4, np.float32), kp.MemoryTypes.host)
    seq = evaluated(mgr, kp.OpAlgoDispatch(inc[0]), kp.OpAlgoDispatch(inc[1]),
                    kp.OpAlgoDispatch(mgr.algorithm([c, d], PLUS_ONE_GLSL)),
                    kp.OpAlgoDispatch(mgr.algorithm([a, b, c], """
#version 450
layout(local_size_x = 1) in;
layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) buffer B { float b[]; };
layout(binding = 2) writeonly buffer C { float c[]; };
void main() { uint i = gl_GlobalInvocationID.x; b[i] += a[i]; c[i] = b[i]; }
""")))
    assert barriers(seq) == START + 1 + TO_HOST
    assert b.data().tolist() == c.data().tolist() == [4] * 4 and d.data().tolist() == [2] * 4


def test_a_global_barrier_also_covers_the_other_tensors_it_orders(mgr):
    x, y = mgr.tensor(np.zeros(4, np.float32), kp.MemoryTypes.host), mgr.tensor(np.zeros(4, np.float32), kp.MemoryTypes.host)
    outs = [mgr.tensor(np.zeros(4, np.float32), kp.MemoryTypes.host) for _ in range(2)]
    seq = evaluated(mgr, kp.OpAlgoDispatch(mgr.algorithm([x], INCREMENT_GLSL)),
                    kp.OpAlgoDispatch(mgr.algorithm([y], INCREMENT_GLSL)),
                    kp.OpAlgoDispatch(mgr.algorithm([x, outs[0]], PLUS_ONE_GLSL)),  # the barrier is here
                    kp.OpAlgoDispatch(mgr.algorithm([y, outs[1]], PLUS_ONE_GLSL)))  # and covers y already
    assert barriers(seq) == START + 1 + TO_HOST
    assert outs[0].data().tolist() == outs[1].data().tolist() == [2] * 4


def test_syncs_copies_and_dispatches_in_both_memory_modes(any_mgr):
    staging = any_mgr.tensor([0]).staging_allocation is not None
    a, b, c, d = (any_mgr.tensor(np.arange(5, dtype=np.float32) * k) for k in (1, 0, 0, 0))
    e = any_mgr.tensor(np.full(5, 7, np.float32))
    a.data()[:] = [10, 20, 30, 40, 50]
    seq = evaluated(any_mgr, kp.OpSyncDevice([a, e]),
                    kp.OpAlgoDispatch(any_mgr.algorithm([a, b], PLUS_ONE_GLSL)),  # after the sync of a
                    kp.OpCopy([b, c, d]),  # after the dispatch's write of b
                    kp.OpAlgoDispatch(any_mgr.algorithm([c], INCREMENT_GLSL)),  # after the copy into c
                    kp.OpSyncLocal([c, d, e]))  # after the increment of c
    assert barriers(seq) == START + (4 if staging else 2) + TO_HOST
    assert d.data().tolist() == [11, 21, 31, 41, 51]
    assert c.data().tolist() == [12, 22, 32, 42, 52]
    assert e.data().tolist() == [7] * 5


def test_syncs_of_distinct_tensors_share_no_barrier(any_mgr):
    staging = any_mgr.tensor([0]).staging_allocation is not None
    tensors = [any_mgr.tensor(np.full(3, i, np.float32)) for i in range(4)]
    seq = evaluated(any_mgr, *(kp.OpSyncDevice([t]) for t in tensors), *(kp.OpSyncLocal([t]) for t in tensors))
    # each sync back reads what its sync up wrote: one barrier covers all four
    assert barriers(seq) == START + ((1 + TO_HOST) if staging else 0)
    assert [t.data().tolist() for t in tensors] == [[i] * 3 for i in range(4)]


def test_a_tensor_given_twice_is_synced_and_copied_once(any_mgr):
    a, b = any_mgr.tensor([1, 2]), any_mgr.tensor([0, 0])
    evaluated(any_mgr, kp.OpSyncDevice([a, a]), kp.OpCopy([a, b, b, a]), kp.OpSyncLocal([b, b]))
    assert b.data().tolist() == [1, 2]


# -- OpMemoryBarrier: kp relies on it, and adds what it leaves out ----------------------

def write_barrier_read(mgr, barrier, hazard=False):
    """a += 1 on the device, ``barrier``, then b = a + 1. Returns the sequence and
    the barriers kp puts around that where tensors have a staging copy: after
    the sync of a to the device, and before the sync of b back. With a ``hazard``
    the numbers are undefined (on an H200 the read saw the old a)."""
    a, b = mgr.tensor(np.arange(4, dtype=np.float32)), mgr.tensor(np.zeros(4, np.float32))
    seq = evaluated(mgr, kp.OpSyncDevice([a]), kp.OpAlgoDispatch(mgr.algorithm([a], INCREMENT_GLSL)),
                    barrier(a, b), kp.OpAlgoDispatch(mgr.algorithm([a, b], PLUS_ONE_GLSL)), kp.OpSyncLocal([b]))
    assert hazard or b.data().tolist() == [2, 3, 4, 5]
    return seq, 2 if a.staging_allocation is not None else 0


def test_a_users_memory_barrier_is_the_one_kp_relies_on(any_mgr):
    seq, syncs = write_barrier_read(any_mgr, lambda a, b: kp.OpMemoryBarrier(
        [a], A.shader_write, A.shader_read, T.compute_shader, T.compute_shader))
    assert barriers(seq) == START + syncs + 1 + TO_HOST  # the user's, none of kp's between the dispatches


def test_a_sync_to_the_device_then_the_users_barrier_then_a_dispatch(monkeypatch):
    mgr = staging_manager(monkeypatch)
    try:
        a, b = mgr.tensor([1, 2, 3]), mgr.tensor([0, 0, 0])
        a.data()[:] = [5, 6, 7]
        seq = evaluated(mgr, kp.OpSyncDevice([a]),
                        kp.OpMemoryBarrier([a], A.transfer_write, A.shader_read, T.transfer, T.compute_shader),
                        kp.OpAlgoDispatch(mgr.algorithm([a, b], PLUS_ONE_GLSL)), kp.OpSyncLocal([b]))
        assert barriers(seq) == START + 1 + 1 + TO_HOST  # the user's, and kp's before the sync of b
        assert b.data().tolist() == [6, 7, 8]
    finally:
        mgr.destroy()


def test_a_barrier_on_the_staging_copies_orders_a_sync_back_and_a_sync_up(monkeypatch):
    mgr = staging_manager(monkeypatch)
    try:
        a = mgr.tensor([1, 2, 3])
        algo = mgr.algorithm([a], INCREMENT_GLSL)
        # the sync up reads the staging copy the sync back wrote (covered by the
        # user's buffer barrier) and writes the device memory the sync back read
        # (an execution dependency, which covers all memory)
        seq = evaluated(mgr, kp.OpSyncDevice([a]), kp.OpAlgoDispatch(algo), kp.OpSyncLocal([a]),
                        kp.OpMemoryBarrier([a], A.transfer_write, A.transfer_read, T.transfer, T.transfer,
                                           barrier_on_primary=False),
                        kp.OpSyncDevice([a]))
        # kp's before the dispatch and before the sync back, and the user's
        assert barriers(seq) == START + 2 + 1 + TO_HOST
        assert a.data().tolist() == [2, 3, 4]
    finally:
        mgr.destroy()


@pytest.mark.parametrize("barrier", [
    lambda a, b: kp.OpMemoryBarrier([a], A.shader_write, A.transfer_read, T.compute_shader, T.transfer),
    lambda a, b: kp.OpMemoryBarrier([b], A.shader_write, A.shader_read, T.compute_shader, T.compute_shader),
    lambda a, b: kp.OpMemoryBarrier([a], A.transfer_write, A.shader_read, T.transfer, T.compute_shader),
], ids=["another stage", "another tensor", "another source"])
def test_kp_adds_what_a_users_barrier_leaves_out(any_mgr, barrier):
    seq, syncs = write_barrier_read(any_mgr, barrier)
    assert barriers(seq) == START + syncs + 1 + 1 + TO_HOST  # the user's and kp's


@pytest.mark.skipif(not sync_validation_enabled(), reason="needs KP_VALIDATION=1 (and not KP_VALIDATION_SYNC=0)")
def test_without_the_users_memory_barrier_the_read_is_a_hazard(mgr, monkeypatch):
    if not kp.vk.shared_instance().validation:
        pytest.skip("the Khronos validation layer is not installed")
    monkeypatch.setattr(kp.OpMemoryBarrier, "record", lambda self, commands: None)
    write_barrier_read(mgr, lambda a, b: kp.OpMemoryBarrier(
        [a], A.shader_write, A.shader_read, T.compute_shader, T.compute_shader), hazard=True)
    messages = kp.vk.take_validation_messages()
    assert any("SYNC-HAZARD-READ-AFTER-WRITE" in m for m in messages), messages


# -- operations kp knows nothing about --------------------------------------------------

class RecordsItsOwnDispatch(kp.OpBase):
    """A user's operation with its own commands and no declared accesses."""

    def __init__(self, algorithm):
        self.algorithm = algorithm

    def record(self, commands):
        algo = self.algorithm
        commands.dispatch(algo.pipeline, algo.push_constants, algo.dispatch_groups)

    def memory_objects(self):
        return self.algorithm.get_tensors()


class IncrementTwice(kp.OpAlgoDispatch):
    """A subclass that records more than the operation it extends declares."""

    def record(self, commands):
        super().record(commands)
        commands.barrier(kp.vk.COMPUTE, kp.vk.COMPUTE, A.shader_write, A.shader_read | A.shader_write)
        super().record(commands)


@pytest.mark.parametrize("op", [RecordsItsOwnDispatch, IncrementTwice])
def test_an_operation_kp_does_not_know_gets_a_full_barrier_on_each_side(mgr, op):
    a, b = mgr.tensor(np.zeros(4, np.float32), kp.MemoryTypes.host), mgr.tensor(np.zeros(4, np.float32), kp.MemoryTypes.host)
    times = 2 if op is IncrementTwice else 1
    seq = evaluated(mgr, kp.OpAlgoDispatch(mgr.algorithm([a], INCREMENT_GLSL)),
                    op(mgr.algorithm([a], INCREMENT_GLSL)),
                    kp.OpAlgoDispatch(mgr.algorithm([a, b], PLUS_ONE_GLSL)))
    own = 1 if op is IncrementTwice else 0
    assert barriers(seq) == START + 2 + own + TO_HOST
    assert a.data().tolist() == [1 + times] * 4 and b.data().tolist() == [2 + times] * 4


def test_a_sequence_on_the_same_queue_waits_for_the_one_before(mgr):
    a, b = mgr.tensor(np.zeros(64, np.float32), kp.MemoryTypes.host), mgr.tensor(np.zeros(64, np.float32), kp.MemoryTypes.host)
    first = mgr.sequence().record(kp.OpAlgoDispatch(mgr.algorithm([a], INCREMENT_GLSL)))
    second = mgr.sequence().record(kp.OpAlgoDispatch(mgr.algorithm([a, b], PLUS_ONE_GLSL)))
    first.eval_async()
    second.eval()
    first.eval_await()
    assert b.data().tolist() == [2] * 64


def test_a_second_write_waits_for_the_first(mgr):
    a, b, out = mgr.tensor([1, 2], kp.MemoryTypes.host), mgr.tensor([5, 6], kp.MemoryTypes.host), mgr.tensor([0, 0], kp.MemoryTypes.host)
    seq = evaluated(mgr, kp.OpAlgoDispatch(mgr.algorithm([a, out], PLUS_ONE_GLSL)),
                    kp.OpAlgoDispatch(mgr.algorithm([b, out], PLUS_ONE_GLSL)))
    assert barriers(seq) == START + 1 + TO_HOST
    assert out.data().tolist() == [6, 7]


# -- any mix of operations: the numbers of a model, and no hazard -----------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=st.lists(st.tuples(st.sampled_from(["up", "down", "copy", "inc", "plus", "barrier"]),
                                  st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=12))
def test_any_mix_of_operations_computes_what_a_model_says(any_mgr, program):
    n = 4
    tensors = [any_mgr.tensor(np.full(n, 10 * i, np.float32)) for i in range(4)]
    staging = tensors[0].staging_allocation is not None
    any_mgr.sequence().eval(kp.OpSyncDevice(tensors))
    host = [np.full(n, 10.0 * i) for i in range(4)]
    device = [h.copy() for h in host]
    inc = [any_mgr.algorithm([t], INCREMENT_GLSL) for t in tensors]
    plus = {}
    seq = any_mgr.sequence()
    for kind, i, j in program:
        if kind == "up":
            seq.record(kp.OpSyncDevice([tensors[i]]))
            device[i] = host[i].copy()
        elif kind == "down":
            seq.record(kp.OpSyncLocal([tensors[i]]))
            host[i] = device[i].copy()
        elif kind == "copy" and i != j:
            seq.record(kp.OpCopy([tensors[i], tensors[j]]))
            device[j] = device[i].copy()
            host[j] = device[i].copy()
        elif kind == "inc":
            seq.record(kp.OpAlgoDispatch(inc[i]))
            device[i] = device[i] + 1
        elif kind == "plus" and i != j:
            if (i, j) not in plus:
                plus[i, j] = any_mgr.algorithm([tensors[i], tensors[j]], PLUS_ONE_GLSL)
            seq.record(kp.OpAlgoDispatch(plus[i, j]))
            device[j] = device[i] + 1
        elif kind == "barrier":  # a user's barrier on one tensor, between some stages
            stages, src, dst = [(T.compute_shader, A.shader_write, A.shader_read),
                                (T.transfer, A.transfer_write, A.transfer_read),
                                (T.compute_shader | T.transfer, A.shader_write | A.transfer_write,
                                 A.shader_read | A.transfer_read)][j % 3]
            seq.record(kp.OpMemoryBarrier([tensors[i]], src, dst, stages, stages))
        if not staging:
            host = device
    if not seq._ops:
        return
    seq.eval()
    for t, expected in zip(tensors, host):
        assert t.data().tolist() == expected.tolist()
    any_mgr.sequence().eval(kp.OpSyncLocal(tensors))
    for t, expected in zip(tensors, device):
        assert t.data().tolist() == expected.tolist()
    assert not kp.vk.take_validation_messages()  # here, so that hypothesis finds the smallest program
