"""Asynchronous evaluation: several sequences in flight, asyncio, and queues."""

import asyncio

import numpy as np
import pytest

import kp
from conftest import slow_algorithm
from kp.vk import shared_instance

# Each invocation adds `rounds` to its element, with some transcendental work per
# round, so the run time grows with `rounds` (a long-running shader on any device).
# llvmpipe stops loops after 65535 iterations, so `rounds` stays below that.
SLOW_ADD = """
#version 450
layout(local_size_x = 1) in;
layout(push_constant) uniform P { uint rounds; };
layout(binding = 0) buffer Data { float x[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    uint count = 0u;
    float v = 0.5;
    for (uint k = 0u; k < rounds; ++k) {
        v = sin(v) * cos(v) + 0.5;
        count += 1u;
    }
    x[i] += float(count) + step(2.0, v);  // v stays below 2: adds 0, but keeps the loop's work
}
"""


def slow_add(mgr, tensor, rounds):
    return mgr.algorithm([tensor], SLOW_ADD, push_consts=np.array([rounds], np.uint32))


class CountingOp(kp.OpBase):
    """A user-defined operation that counts its host callbacks."""

    def __init__(self):
        self.pre = self.post = 0

    def pre_eval(self):
        self.pre += 1

    def post_eval(self):
        self.post += 1


def test_many_sequences_in_flight_on_one_queue(mgr):
    tensors = [mgr.tensor(np.full(8, i, np.float32)) for i in range(6)]
    sequences = [mgr.sequence().record(kp.OpSyncDevice([t])).record(kp.OpAlgoDispatch(slow_add(mgr, t, 100)))
                 .record(kp.OpSyncLocal([t])) for t in tensors]
    for seq in sequences:
        seq.eval_async()
    assert all(seq.is_running() for seq in sequences)
    for seq in reversed(sequences):
        seq.eval_await()
    assert [t.data()[0] for t in tensors] == [100 + i for i in range(6)]
    assert not any(seq.is_running() for seq in sequences)


def test_host_callbacks_run_once_per_evaluation(mgr):
    counter = CountingOp()
    seq = mgr.sequence().record(kp.OpSyncDevice([mgr.tensor([1.0])])).record(counter)
    seq.eval()
    seq.eval_async().eval_await()
    seq.eval_await()  # not running: nothing to do, no second post_eval
    assert (counter.pre, counter.post) == (2, 2)


def test_timeout_then_a_later_await_completes(mgr):
    t = mgr.tensor(np.zeros(64, np.float32))
    seq = mgr.sequence().record(kp.OpAlgoDispatch(slow_add(mgr, t, 60_000))).record(kp.OpSyncLocal([t]))
    seq.eval_async()
    with pytest.raises(kp.WaitTimeoutError):
        seq.eval_await(1000)
    assert seq.is_running()
    seq.eval_await()
    assert not seq.is_running()
    assert t.data()[0] == 60_000


def test_each_evaluation_waits_for_its_own_submission(mgr):
    # the commands alternate between two fences, the idle one reset while the GPU
    # runs: timed-out and later awaits, and plain evals, each see their own
    t = mgr.tensor(np.zeros(64, np.float32))
    seq = mgr.sequence().record(kp.OpSyncDevice([t])).record(kp.OpAlgoDispatch(slow_add(mgr, t, 60_000))) \
        .record(kp.OpSyncLocal([t]))
    seq.eval()
    expected = 60_000
    for _ in range(3):
        seq.eval_async()
        with pytest.raises(kp.WaitTimeoutError):
            seq.eval_await(0)
        seq.eval_await()
        expected += 60_000
        assert t.data()[0] == expected
        for _ in range(2):
            seq.eval()
            expected += 60_000
            assert np.all(t.data() == expected)


def test_asyncio_gathers_many_sequences(mgr):
    tensors = [mgr.tensor(np.full(4, i, np.float32)) for i in range(8)]
    sequences = [mgr.sequence().record(kp.OpSyncDevice([t])).record(kp.OpAlgoDispatch(slow_add(mgr, t, 20_000)))
                 .record(kp.OpSyncLocal([t])) for t in tensors]
    # tens of milliseconds on any device: the event loop must run meanwhile
    long = mgr.tensor(np.zeros(4096, np.float32))
    sequences.append(mgr.sequence().record(kp.OpAlgoDispatch(slow_algorithm(mgr, long))).record(kp.OpSyncLocal([long])))

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while any(s.is_running() for s in sequences) or ticks == 0:
                ticks += 1
                await asyncio.sleep(0)

        done = await asyncio.gather(ticker(), *(seq.eval_async().wait() for seq in sequences))
        return ticks, done[1:]

    ticks, done = asyncio.run(main())
    assert done == sequences
    assert ticks > 1, "the event loop was blocked while the GPU worked"
    assert [t.data()[0] for t in tensors] == [20_000 + i for i in range(8)]
    assert long.data()[0] > 50_000


def test_await_a_sequence_directly_and_with_a_timeout(mgr):
    t = mgr.tensor(np.zeros(16, np.float32))
    seq = mgr.sequence().record(kp.OpAlgoDispatch(slow_add(mgr, t, 60_000))).record(kp.OpSyncLocal([t]))

    async def main():
        seq.eval_async()
        with pytest.raises(kp.WaitTimeoutError):
            await seq.wait(timeout_ns=1000)
        await seq
        return t.data()[0]

    assert asyncio.run(main()) == 60_000


def _compute_families():
    physical = shared_instance().physical_device(0)
    return [f for f in physical.queue_families if f.compute]


def test_queue_requests_the_device_cannot_meet_are_refused():
    families = shared_instance().physical_device(0).queue_families
    with pytest.raises(kp.InvalidArgumentError, match="does not exist"):
        kp.Manager(0, [len(families)])
    first = families[0]
    with pytest.raises(kp.InvalidArgumentError, match="asks for"):
        kp.Manager(0, [first.index] * (first.queue_count + 1))
    no_compute = [f for f in families if not f.compute]
    if no_compute:
        with pytest.raises(kp.InvalidArgumentError, match="does not support compute"):
            kp.Manager(0, [no_compute[0].index])


def test_a_sequence_index_past_the_queues_is_refused(mgr):
    with pytest.raises(kp.InvalidArgumentError, match="queue_index"):
        mgr.sequence(queue_index=1)


def _two_queues():
    compute = _compute_families()
    if len(compute) > 1:
        return [compute[0].index, compute[1].index]
    if compute[0].queue_count > 1:
        return [compute[0].index, compute[0].index]
    pytest.skip("the device has a single compute queue (lavapipe); runs on GPUs with several")


def test_a_consumer_on_another_queue_waits_for_its_producer(memory_mode):
    mgr = kp.Manager(0, _two_queues())
    try:
        data = mgr.tensor(np.zeros(256, np.float32))
        doubled = mgr.tensor(np.zeros(256, np.float32))
        producer = mgr.sequence(0).record(kp.OpSyncDevice([data])).record(
            kp.OpAlgoDispatch(slow_add(mgr, data, 50_000)))
        double = mgr.algorithm([data, data, doubled], kp.shader.builtin_spirv("opmult"),
                               push_consts=np.array([256], np.uint32))
        consumer = mgr.sequence(1).record(kp.OpAlgoDispatch(double)).record(kp.OpSyncLocal([doubled]))
        producer.eval_async()
        consumer.eval_async()
        consumer.eval_await()
        producer.eval_await()
        assert doubled.data()[0] == 50_000.0 ** 2
        assert np.all(doubled.data() == doubled.data()[0])
    finally:
        mgr.destroy()
