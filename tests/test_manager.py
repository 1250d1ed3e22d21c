"""kp.Manager: device selection, properties, and the objects it makes."""

import numpy as np
import pytest

import kp
from conftest import run


def test_default_manager_runs_a_computation(memory_mode):
    mgr = kp.Manager()
    a, b, out = mgr.tensor([1, 2, 3]), mgr.tensor([4, 5, 6]), mgr.tensor([0, 0, 0])
    run(mgr, kp.OpSyncDevice([a, b]), kp.OpMult([a, b, out], mgr.algorithm()), kp.OpSyncLocal([out]))
    assert out.data().tolist() == [4, 10, 18]
    mgr.destroy()
    assert not mgr.is_init()


def test_context_manager_destroys_on_exit():
    with kp.Manager() as mgr:
        t = mgr.tensor([1.5, 2.5])
        assert mgr.is_init() and t.is_init()
    assert not mgr.is_init()
    assert not t.is_init()


def test_destroy_twice_is_harmless():
    mgr = kp.Manager()
    mgr.destroy()
    mgr.destroy()
    assert not mgr.is_init()


def test_explicit_device_and_queue_family(mgr):
    family = next(f["index"] for f in mgr.get_device_properties()["queue_families"] if f["compute"])
    with kp.Manager(0, [family]) as other:
        t = other.tensor([3.0])
        run(other, kp.OpSyncDevice([t]), kp.OpSyncLocal([t]))
        assert t.data().tolist() == [3.0]


def test_list_devices_describes_each_device(mgr):
    devices = kp.list_devices()
    assert len(devices) >= 1
    assert mgr.list_devices() == devices
    assert devices[0]["device_name"] == mgr.get_device_properties()["device_name"]


def test_device_properties_hold_the_limits(mgr):
    props = mgr.get_device_properties()
    assert isinstance(props["device_name"], str) and props["device_name"]
    assert props["device_type"] in ("cpu", "integrated_gpu", "discrete_gpu", "virtual_gpu", "other")
    assert isinstance(props["vendor_id"], int) and isinstance(props["driver_version"], int)
    major, minor, _patch = map(int, props["api_version"].split("."))
    assert (major, minor) >= (1, 1)
    assert len(props["max_work_group_count"]) == 3 and min(props["max_work_group_count"]) >= 65535
    assert len(props["max_work_group_size"]) == 3 and props["max_work_group_size"][0] >= 128
    assert props["max_work_group_invocations"] >= 128
    assert props["subgroup_size"] >= 1
    # NVIDIA's drivers say how many SMs there are (VK_NV_shader_sm_builtins); others may not
    assert (props["multiprocessors"] >= 1 if props["vendor"] == "NVIDIA" else
            props["multiprocessors"] is None or props["multiprocessors"] >= 1)
    assert isinstance(props["timestamps_supported"], bool)
    assert props["memory_heaps"] and all(h["size"] > 0 for h in props["memory_heaps"])


def test_device_properties_are_a_copy(mgr):
    mgr.get_device_properties()["memory_heaps"].clear()
    assert mgr.get_device_properties()["memory_heaps"]


def test_sequence_on_the_queue_asked_for(mgr):
    seq = mgr.sequence(queue_index=0, total_timestamps=0)
    assert seq.is_init() and not seq.is_recording() and not seq.is_running()


def test_unsupported_extension_is_skipped_not_fatal(memory_mode, caplog):
    with kp.Manager(0, [], ["VK_KP_no_such_extension"]) as mgr:
        t = mgr.tensor([2.0])
        run(mgr, kp.OpSyncDevice([t]), kp.OpSyncLocal([t]))
        assert t.data().tolist() == [2.0]
    assert "VK_KP_no_such_extension" in caplog.text


def test_two_managers_are_independent(memory_mode):
    with kp.Manager() as one, kp.Manager() as two:
        a, b = one.tensor([1.0, 2.0]), two.tensor([3.0, 4.0])
        one.destroy()
        run(two, kp.OpSyncDevice([b]), kp.OpSyncLocal([b]))
        assert b.data().tolist() == [3.0, 4.0]
        assert not a.is_init()


def test_tensor_and_tensor_t_defaults(mgr):
    t = mgr.tensor(np.arange(4, dtype=np.int64))
    assert t.data().dtype == np.float32 and t.memory_type() == kp.MemoryTypes.device
    u = mgr.tensor_t(np.arange(4, dtype=np.uint16), kp.MemoryTypes.host)
    assert u.data().dtype == np.uint16 and u.memory_type() == kp.MemoryTypes.host
    v = mgr.tensor([1.0], tensor_type=kp.TensorTypes.storage)
    assert v.tensor_type() == kp.TensorTypes.storage
    w = mgr.tensor_t([1.0], kp.MemoryTypes.host, tensor_type=kp.TensorTypes.staging)  # the same, by two names
    assert w.memory_type() == kp.MemoryTypes.host
    with pytest.raises(kp.InvalidArgumentError, match="memory_type=host and tensor_type=storage disagree"):
        mgr.tensor([1.0], memory_type=kp.MemoryTypes.host, tensor_type=kp.TensorTypes.storage)
