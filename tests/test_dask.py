"""kp.dask: a kp kernel mapped over the blocks of a dask array, under Dask's local
scheduler and on a distributed.LocalCluster of two worker processes (lavapipe: each
worker makes its own VkDevice on the one device)."""

import threading

import numpy as np
import pytest

import kp

da = pytest.importorskip("dask.array")  # kp.dask needs dask; the GPU machine has none
distributed = pytest.importorskip("distributed")

SAXPY = """
#version 450
layout(local_size_x = 64) in;
layout(push_constant) uniform P { float a; };
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer Y { float y[]; };
layout(binding = 2) writeonly buffer Out { float out_[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i < x.length()) out_[i] = a * x[i] + y[i];
}
"""

TO_INT = """
#version 450
layout(local_size_x = 64) in;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) writeonly buffer Out { int out_[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i < x.length()) out_[i] = int(x[i]) * 3;
}
"""


@pytest.fixture
def local_managers(memory_mode):
    """Blocks run in this process: its managers are made in the test's memory mode and
    destroyed after it."""
    kp.dask.release_managers()
    yield
    kp.dask.release_managers()


def test_map_blocks_equals_numpy_under_the_local_scheduler(local_managers):
    x = np.linspace(-5, 5, 10_007, dtype=np.float32)
    y = np.arange(10_007, dtype=np.float32)
    # the second array's chunks differ: it is rechunked to the first's
    out = kp.dask.map_blocks(SAXPY, da.from_array(x, chunks=1000), da.from_array(y, chunks=3000), push_consts=[2.5])
    assert out.chunks == ((1000,) * 10 + (7,),) and out.dtype == np.float32
    np.testing.assert_allclose(out.compute(scheduler="threads"), 2.5 * x + y, rtol=1e-6)


def test_map_blocks_over_2d_blocks_into_another_dtype(local_managers):
    x = np.arange(-60, 60, dtype=np.float32).reshape(12, 10)
    out = kp.dask.map_blocks(TO_INT, da.from_array(x, chunks=(5, 4)), dtype=np.int32)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out.compute(scheduler="sync"), x.astype(np.int32) * 3)


def test_blocks_reuse_the_process_managers_and_their_prepared_work(local_managers):
    x = da.ones(4000, chunks=1000, dtype=np.float32)
    for a in (1.0, 2.0):
        np.testing.assert_array_equal(kp.dask.map_blocks(SAXPY, x, x, push_consts=[a]).compute(scheduler="threads"),
                                      np.full(4000, a + 1))
    handles = kp.vk.live_handles()
    # one device per visible device, one pipeline per push constant (one block shape)
    assert len(kp.dask.worker_managers()) == len(kp.list_devices())
    assert handles["VkDevice"] == len(kp.list_devices()) and handles["VkPipeline"] <= 2 * len(kp.list_devices())


PARTIAL = """
#version 450
layout(local_size_x = 64) in;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer Y { float y[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i < x.length() && x[i] > 0.5) y[i] = x[i];
}
"""

ACCUMULATE = """
#version 450
layout(local_size_x = 64) in;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer Y { float y[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i < x.length()) y[i] += x[i];
}
"""


def test_every_block_output_starts_zeroed_whatever_ran_before(local_managers):
    # the blocks share one prepared output tensor per manager: what one block
    # wrote must not show in the next one, nor in the same graph computed again
    x = np.random.default_rng(3).random(1000, dtype=np.float32)
    partial = kp.dask.map_blocks(PARTIAL, da.from_array(x, chunks=100))
    np.testing.assert_array_equal(partial.compute(scheduler="sync"), np.where(x > 0.5, x, 0))
    accumulated = kp.dask.map_blocks(ACCUMULATE, da.ones(400, chunks=100, dtype=np.float32))
    for _ in range(2):
        np.testing.assert_array_equal(accumulated.compute(scheduler="sync"), np.ones(400))


def test_map_blocks_refuses_what_it_cannot_map(local_managers):
    with pytest.raises(kp.InvalidArgumentError, match="at least one dask array"):
        kp.dask.map_blocks(SAXPY)
    with pytest.raises(kp.InvalidArgumentError, match="one shape"):
        kp.dask.map_blocks(SAXPY, da.ones(10), da.ones(11))
    with pytest.raises(kp.ShaderError):
        kp.dask.map_blocks(42, da.ones(10))
    with pytest.raises(kp.InvalidArgumentError, match=r"bindings 0 to 1 \(the last for the output\), it has \[0, 1, 2\]"):
        kp.dask.map_blocks(SAXPY, da.ones(10))
    # an output dtype is checked here, not when a worker runs a block
    with pytest.raises(kp.DataTypeError, match="'bogus' is not a dtype"):
        kp.dask.map_blocks(TO_INT, da.ones(10, dtype=np.float32), dtype="bogus")
    with pytest.raises(kp.DataTypeError, match="kp tensors cannot hold dtype complex64"):
        kp.dask.map_blocks(TO_INT, da.ones(10, dtype=np.float32), dtype=np.complex64)


def test_constants_given_as_an_iterator_reach_every_block(local_managers):
    x = da.arange(100, chunks=30, dtype=np.float32)
    y = kp.dask.map_blocks(SAXPY, x, x, push_consts=(a for a in [2.0]))
    np.testing.assert_array_equal(y.compute(scheduler="sync"), np.arange(100) * 3)
    with pytest.raises(kp.InvalidArgumentError, match="push_consts must be picklable"):
        kp.dask.map_blocks(SAXPY, x, x, push_consts=[threading.Lock()])


def test_release_managers_lets_the_next_block_make_new_ones(local_managers):
    first = kp.dask.worker_managers()
    kp.dask.release_managers()
    assert not any(m.is_init() for m in first)
    x = da.arange(100, chunks=30, dtype=np.float32)
    np.testing.assert_array_equal(kp.dask.map_blocks(SAXPY, x, x, push_consts=[1.0]).compute(), np.arange(100) * 2)
    assert all(m.is_init() for m in kp.dask.worker_managers())


# -- a cluster of two worker processes ------------------------------------------------
def _worker_state():
    """What a worker process holds: its Vulkan devices and pipelines, its managers' count,
    the validation messages its blocks caused."""
    handles = kp.vk.live_handles()
    return (handles.get("VkDevice", 0), handles.get("VkPipeline", 0), len(kp.dask.worker_managers()),
            kp.vk.take_validation_messages())


@pytest.fixture(scope="module", params=[("unified", 1), ("staging", 2)], ids=["unified-1gpu", "staging-2gpus"])
def cluster_client(request):
    """Two worker processes, each given GPU=n: one GPU each in unified memory; two each
    (KP_VISIBLE_DEVICES=0,0: two managers on lavapipe) with two threads in staging mode."""
    mode, gpus = request.param
    env = {"KP_DISABLE_UMA": "1" if mode == "staging" else "0", "KP_VISIBLE_DEVICES": ",".join(["0"] * gpus)}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=gpus, processes=True, dashboard_address=None,
                                  resources={"GPU": gpus}, env=env) as cluster, distributed.Client(cluster) as client:
        yield client, gpus


def test_map_blocks_on_two_workers_equals_numpy(cluster_client):
    client, gpus = cluster_client
    rng = np.random.default_rng(1)
    x, y = rng.random(200_003, dtype=np.float32), rng.random(200_003, dtype=np.float32)
    out = kp.dask.map_blocks(SAXPY, da.from_array(x, chunks=10_000), da.from_array(y, chunks=10_000),
                             push_consts=[-1.5])
    for _ in range(2):  # a second graph runs on the managers the first one made
        np.testing.assert_allclose(client.compute(out, resources={"GPU": 1}).result(), -1.5 * x + y, rtol=1e-6)
    states = client.run(_worker_state)
    assert len(states) == 2
    for devices, pipelines, managers, messages in states.values():
        assert devices == managers == gpus  # made once, by the worker's first block
        assert pipelines > 0  # the worker computed blocks
        assert messages == []


def test_a_worker_given_more_gpus_than_it_sees_gets_a_clear_error(cluster_client):
    client, _gpus = cluster_client

    def too_many():
        import os
        visible = os.environ["KP_VISIBLE_DEVICES"]
        os.environ["KP_VISIBLE_DEVICES"] = ""
        kp.dask.release_managers()
        try:
            kp.dask.worker_managers()
        except kp.DeviceNotFoundError as error:
            return str(error)
        finally:
            os.environ["KP_VISIBLE_DEVICES"] = visible

    message = client.submit(too_many, resources={"GPU": 1}).result()
    assert "was given GPU=" in message and "sees 0 device(s)" in message
