"""Several managers in one process: moving tensors between them with Tensor.to, and
managers used from threads at the same time. lavapipe is one device, so "another
device" here is a second manager on device 0: a separate VkDevice, which shares no
memory with the first, exactly as two GPUs do."""

import threading

import numpy as np
import pytest

import kp
from conftest import run

KINDS = [kp.MemoryTypes.device, kp.MemoryTypes.host, kp.MemoryTypes.deviceAndHost, kp.MemoryTypes.storage]


@pytest.fixture
def other(memory_mode):
    manager = kp.Manager(0)
    yield manager
    manager.destroy()


def product_on(mgr, a, b):
    """A tensor whose device data is a * b and whose host data, in staging mode, is still zero."""
    ta, tb, out = mgr.tensor(a), mgr.tensor(b), mgr.tensor(np.zeros_like(a))
    run(mgr, kp.OpSyncDevice([ta, tb]), kp.OpMult([ta, tb, out], mgr.algorithm()))
    return out


def read(mgr, tensor):
    """The tensor's device data, through a host tensor on its own manager."""
    host = mgr.tensor_t(np.zeros(tensor.shape, tensor.dtype), kp.MemoryTypes.host)
    run(mgr, kp.OpCopy([tensor, host]))
    return host.numpy().copy()


def test_to_another_manager_moves_the_device_data(mgr, other):
    a, b = np.arange(1, 7, dtype=np.float32).reshape(2, 3), np.full((2, 3), 3, np.float32)
    part = product_on(mgr, a, b)
    moved = part.to(other)
    assert moved.manager is other and moved.shape == (2, 3) and moved.memory_type() == kp.MemoryTypes.device
    np.testing.assert_array_equal(moved.numpy(), a * b)  # no sync needed
    np.testing.assert_array_equal(read(other, moved), a * b)
    # ready for the other manager's work without a sync
    two, twice = other.tensor(np.full((2, 3), 2)), other.tensor(np.zeros((2, 3)))
    run(other, kp.OpSyncDevice([two]), kp.OpMult([moved, two, twice], other.algorithm()), kp.OpSyncLocal([twice]))
    np.testing.assert_array_equal(twice.numpy(), a * b * 2)


@pytest.mark.parametrize("source_kind", KINDS, ids=[k.name for k in KINDS])
@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_to_keeps_or_changes_the_memory_type(mgr, other, source_kind, kind):
    values = np.array([1, -2, 3, 40000], np.int32)
    source = mgr.tensor_t(np.zeros(4, np.int32), source_kind)
    run(mgr, kp.OpCopy([mgr.tensor_t(values, kp.MemoryTypes.host), source]))
    moved = source.to(other, kind)
    assert moved.memory_type() == kind and moved.dtype == np.int32
    np.testing.assert_array_equal(read(other, moved), values)
    if kind != kp.MemoryTypes.storage:
        np.testing.assert_array_equal(moved.numpy(), values)
    assert source.to(other).memory_type() == source_kind


def test_to_the_same_manager_is_an_independent_copy(mgr):
    part = product_on(mgr, np.array([1, 2, 3], np.float32), np.array([5, 5, 5], np.float32))
    copy = part.to(mgr)
    assert copy is not part and copy.manager is mgr
    np.testing.assert_array_equal(copy.numpy(), [5, 10, 15])
    copy.numpy()[:] = 0
    run(mgr, kp.OpSyncDevice([copy]))
    np.testing.assert_array_equal(read(mgr, part), [5, 10, 15])


def test_to_leaves_the_source_as_it_was(mgr, other):
    part = product_on(mgr, np.array([1, 2], np.float32), np.array([4, 4], np.float32))
    before = part.numpy().copy()  # zeros in staging mode: the product is on the device only
    part.to(other)
    np.testing.assert_array_equal(part.numpy(), before)


def test_to_refuses_what_is_not_a_manager_or_not_usable(mgr, other):
    t = mgr.tensor([1, 2])
    with pytest.raises(kp.InvalidArgumentError, match="takes a kp.Manager"):
        t.to("gpu1")
    with pytest.raises(kp.InvalidArgumentError, match="unknown memory type"):
        t.to(other, 42)
    with pytest.raises(kp.KomputeError, match="not been created"):
        kp.Tensor([1, 2]).to(other)
    gone = kp.Manager(0)
    gone.destroy()
    with pytest.raises(kp.DestroyedError):
        t.to(gone)
    t.destroy()
    with pytest.raises(kp.DestroyedError):
        t.to(other)


def test_managers_in_threads_compute_parts_and_gather_them(memory_mode):
    managers = [kp.Manager(0) for _ in range(3)]  # made before the threads start
    a = np.arange(3 * 1000, dtype=np.float32)
    parts: list = [None] * len(managers)

    def work(i):
        mgr = managers[i]
        chunk = np.array_split(a, len(managers))[i]
        for _ in range(5):  # several evaluations overlap across the threads
            parts[i] = product_on(mgr, chunk, chunk)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(managers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gathered = [part.to(managers[0]) for part in parts]
    np.testing.assert_array_equal(np.concatenate([g.numpy() for g in gathered]), a * a)
    for mgr in managers:
        mgr.destroy()


def test_to_right_after_creation_moves_the_host_data(mgr, other):
    """In staging mode the new tensor's device memory was never written (no OpSyncDevice
    yet): what moves is the data it was made with, not whatever that memory held."""
    mgr.tensor(np.full(64, 7.0))  # leaves its numbers in memory a later tensor may reuse
    fresh = mgr.tensor(np.arange(4))
    for target, kind in ((other, None), (mgr, None), (other, kp.MemoryTypes.storage)):
        moved = fresh.to(target, kind)
        np.testing.assert_array_equal(read(target, moved), [0, 1, 2, 3])


def test_to_after_a_sync_moves_what_the_device_computed(mgr, other):
    part = mgr.tensor([1, 2, 3])
    run(mgr, kp.OpSyncDevice([part]), kp.OpMult([part, part, part], mgr.algorithm()))
    np.testing.assert_array_equal(part.to(other).numpy(), [1, 4, 9])


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_an_image_moves_to_another_manager_as_a_tensor_does(mgr, other, kind):
    texels = np.arange(128, dtype=np.float32).reshape(2, 16, 4)  # host-visible rows of 256 bytes
    image = mgr.image(texels, 16, 2, 4, kind)
    moved = image.to(other)
    assert isinstance(moved, kp.Image) and moved.manager is other and moved.memory_type() == kind
    assert (moved.get_width(), moved.get_height(), moved.get_num_channels()) == (16, 2, 4)
    back = other.tensor(np.zeros(128))
    run(other, kp.OpCopy([moved, back]))
    np.testing.assert_array_equal(back.data(), texels.reshape(-1))
    if kind != kp.MemoryTypes.storage:
        np.testing.assert_array_equal(moved.numpy(), texels)
    same = image.to(mgr, kp.MemoryTypes.host)
    np.testing.assert_array_equal(same.numpy(), texels)
