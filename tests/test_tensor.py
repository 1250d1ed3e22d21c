"""Tensors made by a manager: zero-copy NumPy views over device-visible memory."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import kp
from conftest import examples, run

ALL_DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
              np.uint8, np.uint16, np.uint32, np.uint64, np.bool_]
MEMORY_TYPES = [kp.MemoryTypes.device, kp.MemoryTypes.host, kp.MemoryTypes.deviceAndHost]


def sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(bool)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    return (rng.standard_normal(shape) * 1000).astype(dtype)


def through_device(mgr, tensor, memory_type=kp.MemoryTypes.device):
    """``tensor``'s data after host -> device -> storage tensor -> fresh tensor ->
    host. The storage tensor has no host copy, so only device copies carry the data."""
    zeros = np.zeros_like(tensor.numpy())
    on_device = mgr.tensor_t(zeros, kp.MemoryTypes.storage)
    back = mgr.tensor_t(zeros, memory_type)
    run(mgr, kp.OpSyncDevice([tensor]), kp.OpCopy([tensor, on_device]), kp.OpCopy([on_device, back]),
        kp.OpSyncLocal([back]))
    return back.numpy()


def round_trip(mgr, source):
    return through_device(mgr, mgr.tensor_t(source))


def test_data_is_a_flat_view_and_numpy_has_the_input_shape(mgr):
    t = mgr.tensor(np.arange(6).reshape(2, 3))
    view = t.data()
    assert view.shape == (6,) and view.dtype == np.float32
    assert view.tolist() == [0, 1, 2, 3, 4, 5]
    assert t.size() == len(t) == len(view) == 6
    assert t.shape == (2, 3)
    shaped = t.numpy()
    assert shaped.tolist() == [[0, 1, 2], [3, 4, 5]]
    shaped[1, 2] = 50  # the same memory as data()
    assert view[5] == 50 and np.shares_memory(shaped, view)


def test_data_of_a_16_by_8_tensor_has_size_elements(mgr):
    """Kompute's test_workgroup relies on it: len(t.data()) == t.size()."""
    t = mgr.tensor_t(np.zeros((16, 8), dtype=np.uint32))
    assert len(t.data()) == t.size() == 128 and t.data().ndim == 1
    assert t.data().reshape(t.shape).shape == (16, 8)


def test_data_is_writable_and_zero_copy(mgr):
    t = mgr.tensor([1, 2, 3])
    t.data()[1] = 20
    assert t.data().tolist() == [1, 20, 3]
    view = t.data()
    view[:] = [7, 8, 9]
    assert t.data().tolist() == [7, 8, 9]
    assert np.shares_memory(view, t.data())


def test_written_view_reaches_the_device(any_mgr):
    a = any_mgr.tensor([0, 0, 0, 0])
    a.data()[:] = [1, 2, 3, 4]
    assert through_device(any_mgr, a).tolist() == [1, 2, 3, 4]


def test_tensor_is_float32(mgr):
    t = mgr.tensor(np.array([1.5, 2.25], dtype=np.float64))
    assert t.data().dtype == np.float32 and t.data_type() == kp.DataTypes.float
    assert t.data().tolist() == [1.5, 2.25]


@pytest.mark.parametrize("dtype, data_type", [
    (np.float16, kp.DataTypes.half), (np.float32, kp.DataTypes.float), (np.float64, kp.DataTypes.double),
    (np.int8, kp.DataTypes.char), (np.int16, kp.DataTypes.short), (np.int32, kp.DataTypes.int),
    (np.int64, kp.DataTypes.long), (np.uint8, kp.DataTypes.uchar), (np.uint16, kp.DataTypes.ushort),
    (np.uint32, kp.DataTypes.uint), (np.uint64, kp.DataTypes.ulong), (np.bool_, kp.DataTypes.bool)])
def test_tensor_t_keeps_the_dtype(mgr, dtype, data_type):
    source = sample(dtype, (5,))
    t = mgr.tensor_t(source)
    assert t.data().dtype == dtype and t.data_type() == data_type
    np.testing.assert_array_equal(t.data(), source)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_dtype_round_trips_through_the_device(any_mgr, dtype):
    source = sample(dtype, (3, 7), seed=1)
    np.testing.assert_array_equal(round_trip(any_mgr, source), source)


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dtype=st.sampled_from(ALL_DTYPES),
       shape=st.lists(st.integers(1, 9), min_size=1, max_size=3).map(tuple),
       seed=st.integers(0, 2**32 - 1))
def test_random_shapes_and_dtypes_round_trip(mgr, dtype, shape, seed):
    source = sample(dtype, shape, seed)
    back = round_trip(mgr, source)
    assert back.shape == shape
    np.testing.assert_array_equal(back, source)


@pytest.mark.parametrize("memory_type", MEMORY_TYPES, ids=lambda m: m.name)
def test_memory_types_hold_their_data(any_mgr, memory_type):
    t = any_mgr.tensor([1, 2, 3], memory_type)
    assert t.memory_type() == t.tensor_type() == memory_type
    assert through_device(any_mgr, t, memory_type).tolist() == [1, 2, 3]


def test_storage_tensor_has_no_host_data(mgr):
    t = mgr.tensor([1, 2, 3], kp.MemoryTypes.storage)
    assert t.is_init() and t.size() == 3
    with pytest.raises(kp.KomputeError, match="storage"):
        t.data()
    with pytest.raises(kp.KomputeError, match="storage tensors live on the device only"):
        np.asarray(t)  # not a 0-d object array


def test_a_storage_tensor_holds_the_data_it_was_made_with(mgr):
    t = mgr.tensor_t(np.array([[1, -2], [3, 2 ** 30]], np.int32), kp.MemoryTypes.storage)
    out = mgr.tensor_t(np.zeros((2, 2), np.int32))
    run(mgr, kp.OpCopy([t, out]), kp.OpSyncLocal([out]))
    assert out.numpy().tolist() == [[1, -2], [3, 2 ** 30]]


def test_aliases_name_the_same_types():
    assert kp.TensorTypes is kp.MemoryTypes
    assert kp.MemoryTypes.staging == kp.MemoryTypes.host
    assert (kp.device, kp.host, kp.storage, kp.deviceAndHost) == (0, 1, 2, 3)
    assert kp.DataTypes.float == 3 and kp.DataTypes.double == 4


def test_destroy(mgr):
    t = mgr.tensor([1, 2])
    assert t.is_init()
    t.destroy()
    assert not t.is_init()
    t.destroy()
    with pytest.raises(kp.DestroyedError):
        t.data()


def test_view_outlives_its_destroyed_tensor(any_mgr):
    t = any_mgr.tensor([4, 5, 6])
    view = t.data()
    t.destroy()
    del t
    assert view.tolist() == [4, 5, 6]
