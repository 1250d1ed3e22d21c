"""Every misuse is a kp.KomputeError naming what was wrong, raised before anything
reaches the driver, and the manager keeps working afterwards."""

import re

import numpy as np
import pytest

import kp
from conftest import run
from test_algorithm import PUSH_GLSL, SPEC_GLSL

NO_PUSH_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] += 1.0; }
"""


def assert_still_works(mgr, multiply_spirv):
    a, b, out = mgr.tensor([1, 2, 3]), mgr.tensor([4, 5, 6]), mgr.tensor([0, 0, 0])
    algo = mgr.algorithm([a, b, out], multiply_spirv)
    run(mgr, kp.OpSyncDevice([a, b]), kp.OpAlgoDispatch(algo), kp.OpSyncLocal([out]))
    assert out.data().tolist() == [4, 10, 18]


def test_one_hierarchy():
    for error in (kp.InvalidArgumentError, kp.DataTypeError, kp.DeviceNotFoundError, kp.DestroyedError,
                  kp.SequenceStateError, kp.ShaderError, kp.ShaderCompileError, kp.VulkanError,
                  kp.OutOfDeviceMemoryError, kp.DeviceLostError, kp.WaitTimeoutError):
        assert issubclass(error, kp.KomputeError)


@pytest.mark.parametrize("index", [99, -1])
def test_device_that_does_not_exist_names_the_devices(mgr, multiply_spirv, index):
    name = mgr.get_device_properties()["device_name"]
    with pytest.raises(kp.DeviceNotFoundError, match=f"index {index}.*{re.escape(name)}"):
        kp.Manager(index)
    assert_still_works(mgr, multiply_spirv)


def test_queue_family_that_does_not_exist(mgr, multiply_spirv):
    families = len(mgr.get_device_properties()["queue_families"])
    with pytest.raises(kp.InvalidArgumentError, match=f"queue family {families} does not exist"):
        kp.Manager(0, [families])
    assert_still_works(mgr, multiply_spirv)


def test_more_queues_than_the_family_has(mgr, multiply_spirv):
    family = mgr.get_device_properties()["queue_families"][0]
    with pytest.raises(kp.InvalidArgumentError, match=f"has {family['queue_count']} queue"):
        kp.Manager(0, [0] * (family["queue_count"] + 1))
    assert_still_works(mgr, multiply_spirv)


def test_invalid_spirv(mgr, multiply_spirv):
    t = mgr.tensor([1])
    with pytest.raises(kp.ShaderError):
        mgr.algorithm([t], b"\x03\x02\x23\x07" + b"\xff" * 60)
    with pytest.raises(kp.ShaderError):
        mgr.algorithm([t], multiply_spirv[:len(multiply_spirv) // 2])
    assert_still_works(mgr, multiply_spirv)


def test_glsl_that_does_not_compile_names_the_line(mgr, multiply_spirv):
    with pytest.raises(kp.ShaderCompileError, match="3"):
        mgr.algorithm([mgr.tensor([1])], "#version 450\nvoid main() {\n  nonsense;\n}\n")
    assert_still_works(mgr, multiply_spirv)


def test_too_few_tensors_for_the_bindings(mgr, multiply_spirv):
    with pytest.raises(kp.InvalidArgumentError, match="binding 2 but only 2 tensor"):
        mgr.algorithm([mgr.tensor([1]), mgr.tensor([2])], multiply_spirv)
    assert_still_works(mgr, multiply_spirv)


@pytest.mark.parametrize("push", [[1.0], [1.0, 2.0, 3.0], np.array([1, 2], np.float64), []])
def test_push_constants_of_the_wrong_size(mgr, multiply_spirv, push):
    with pytest.raises(kp.InvalidArgumentError, match="push constants take 8 bytes"):
        mgr.algorithm([mgr.tensor([1])], PUSH_GLSL, push_consts=push)
    assert_still_works(mgr, multiply_spirv)


def test_push_constants_for_a_shader_without_them(mgr, multiply_spirv):
    with pytest.raises(kp.InvalidArgumentError, match=r"push constants take 0 bytes \(no values\) but 1 value was given"):
        mgr.algorithm([mgr.tensor([1])], NO_PUSH_GLSL, push_consts=[1.0])
    assert_still_works(mgr, multiply_spirv)


def test_dispatch_push_constants_of_the_wrong_size(mgr, multiply_spirv):
    a = mgr.tensor([1])
    algo = mgr.algorithm([a], PUSH_GLSL, push_consts=[1, 2])
    seq = mgr.sequence()
    with pytest.raises(kp.InvalidArgumentError, match="push constants take 8 bytes .* but 1 value was given"):
        seq.record(kp.OpAlgoDispatch(algo, [3.0]))
    run(mgr, kp.OpSyncDevice([a]), kp.OpAlgoDispatch(algo), kp.OpSyncLocal([a]))
    assert a.data().tolist() == [3]  # the algorithm kept its constants
    assert_still_works(mgr, multiply_spirv)


def test_more_specialisation_constants_than_the_shader_declares(mgr, multiply_spirv):
    with pytest.raises(kp.InvalidArgumentError, match="no constant_id 2"):
        mgr.algorithm([mgr.tensor([1])], SPEC_GLSL, spec_consts=[1, 2, 3])
    assert_still_works(mgr, multiply_spirv)


@pytest.mark.parametrize("data", [[], np.zeros((3, 0))])
def test_zero_size_data(mgr, multiply_spirv, data):
    with pytest.raises(kp.InvalidArgumentError, match="zero-sized"):
        mgr.tensor(data)
    assert_still_works(mgr, multiply_spirv)


@pytest.mark.parametrize("data, dtype", [
    (np.array([1 + 2j]), "complex128"), (np.array(["a"]), "<U1"), (np.array([object()]), "object"),
    (np.array([1.0], np.longdouble), "float128"), (np.array([1], "datetime64[s]"), "datetime64")])
def test_unsupported_data_names_the_dtype(mgr, multiply_spirv, data, dtype):
    with pytest.raises(kp.DataTypeError, match=dtype):
        mgr.tensor_t(data)
    assert_still_works(mgr, multiply_spirv)


def test_data_that_is_not_numbers(mgr, multiply_spirv):
    with pytest.raises(kp.DataTypeError):
        mgr.tensor(["one", "two"])
    assert_still_works(mgr, multiply_spirv)


def test_destroyed_tensor(mgr, multiply_spirv):
    t = mgr.tensor([1, 2])
    t.destroy()
    with pytest.raises(kp.DestroyedError):
        mgr.sequence().record(kp.OpSyncDevice([t]))
    with pytest.raises(kp.DestroyedError):
        mgr.algorithm([t], NO_PUSH_GLSL)
    assert_still_works(mgr, multiply_spirv)


def test_tensor_destroyed_after_recording(mgr, multiply_spirv):
    t = mgr.tensor([1, 2])
    seq = mgr.sequence().record(kp.OpSyncDevice([t]))
    t.destroy()
    with pytest.raises(kp.DestroyedError):
        seq.eval()
    assert_still_works(mgr, multiply_spirv)


def test_tensor_of_another_manager(mgr, multiply_spirv):
    with kp.Manager() as other:
        foreign = other.tensor([1, 2])
        with pytest.raises(kp.InvalidArgumentError, match="another kp.Manager"):
            mgr.sequence().record(kp.OpSyncDevice([foreign]))
        with pytest.raises(kp.InvalidArgumentError, match="another kp.Manager"):
            mgr.algorithm([foreign], NO_PUSH_GLSL)
    assert_still_works(mgr, multiply_spirv)


@pytest.mark.parametrize("workgroup", [(0, 4, 1), (0, 0, 2), (-1, 1, 1), (2, -1, 1), (1, 1, -3)])
def test_partly_zero_or_negative_workgroup(mgr, multiply_spirv, workgroup):
    with pytest.raises(kp.InvalidArgumentError, match="workgroup"):
        mgr.algorithm([mgr.tensor([1])], NO_PUSH_GLSL, workgroup)
    assert_still_works(mgr, multiply_spirv)


@pytest.mark.parametrize("workgroup", [(1.5, 1, 1), "abc", (1, 1, 1, 1), ()])
def test_workgroup_that_is_not_three_ints(mgr, multiply_spirv, workgroup):
    with pytest.raises(kp.InvalidArgumentError, match="workgroup"):
        mgr.algorithm([mgr.tensor([1])], NO_PUSH_GLSL, workgroup)
    assert_still_works(mgr, multiply_spirv)


def test_workgroup_over_the_device_limit(mgr, multiply_spirv):
    limit = mgr.get_device_properties()["max_work_group_count"]
    t = mgr.tensor([1])
    for axis in range(3):
        workgroup = [1, 1, 1]
        workgroup[axis] = limit[axis] + 1
        with pytest.raises(kp.InvalidArgumentError, match=str(limit[axis])):
            mgr.algorithm([t], NO_PUSH_GLSL, workgroup)
    props = mgr.get_device_properties()
    if 4 * (limit[0] + 1) <= props["max_storage_buffer_range"]:
        # where one binding can hold more elements than workgroups can cover (lavapipe)
        with pytest.raises(kp.InvalidArgumentError, match="larger local_size_x .* give a workgroup explicitly"):
            mgr.algorithm([mgr.tensor(np.zeros(limit[0] + 1))], NO_PUSH_GLSL)
    assert_still_works(mgr, multiply_spirv)


def test_allocation_larger_than_the_device_holds(any_mgr, multiply_spirv):
    heap = max(h["size"] for h in any_mgr.get_device_properties()["memory_heaps"])
    huge = np.zeros(heap // 4 + 1, np.float32)  # calloc'd: no host memory is touched
    with pytest.raises(kp.OutOfDeviceMemoryError, match="bytes"):
        any_mgr.tensor(huge)
    assert_still_works(any_mgr, multiply_spirv)


def test_tensor_larger_than_a_shader_can_bind(mgr, multiply_spirv):
    limit = mgr.get_device_properties()["max_storage_buffer_range"]
    if limit > 1 << 30:
        pytest.skip(f"maxStorageBufferRange is {limit} bytes: too much memory for a test")
    big = mgr.tensor(np.zeros(limit // 4 + 1, np.float32))
    with pytest.raises(kp.InvalidArgumentError, match=f"tensor 0 holds {limit + 4} bytes.*at most {limit}"):
        mgr.algorithm([big], NO_PUSH_GLSL, (1, 1, 1))
    del big
    assert_still_works(mgr, multiply_spirv)


def test_operations_refuse_bad_arguments(mgr, multiply_spirv):
    a, b = mgr.tensor([1, 2]), mgr.tensor([1, 2, 3])
    with pytest.raises(kp.InvalidArgumentError, match="at least 1"):
        kp.OpSyncDevice([])
    with pytest.raises(kp.InvalidArgumentError, match="at least 2"):
        kp.OpCopy([a])
    with pytest.raises(kp.InvalidArgumentError, match="tensor 1 has 3"):
        kp.OpCopy([a, b])
    with pytest.raises(kp.InvalidArgumentError, match="exactly 3"):
        kp.OpMult([a, a, a, a], mgr.algorithm())
    with pytest.raises(kp.InvalidArgumentError, match="one size"):
        kp.OpMult([a, a, b], mgr.algorithm())
    with pytest.raises(kp.DataTypeError, match="float32"):
        kp.OpMult([mgr.tensor_t(np.array([1, 2]))] * 3, mgr.algorithm())
    with pytest.raises(kp.InvalidArgumentError, match="kp.Algorithm"):
        kp.OpAlgoDispatch("not an algorithm")
    with pytest.raises(kp.InvalidArgumentError, match="no shader"):
        mgr.sequence().record(kp.OpAlgoDispatch(mgr.algorithm()))
    with pytest.raises(kp.InvalidArgumentError, match="kp operation"):
        mgr.sequence().record(a)
    assert_still_works(mgr, multiply_spirv)


def test_sequence_arguments(mgr, multiply_spirv):
    with pytest.raises(kp.InvalidArgumentError, match="queue_index 5"):
        mgr.sequence(5)
    with pytest.raises(kp.InvalidArgumentError, match="total_timestamps"):
        mgr.sequence(0, -1)
    with pytest.raises(kp.KomputeError, match="Timestamp latching not enabled"):
        mgr.sequence().get_timestamps()
    with pytest.raises(kp.InvalidArgumentError, match="timeout_ns"):
        mgr.sequence().eval_await(-5)
    assert_still_works(mgr, multiply_spirv)


def test_unknown_memory_type(mgr, multiply_spirv):
    with pytest.raises(kp.InvalidArgumentError, match="memory type 7"):
        mgr.tensor([1], 7)
    assert_still_works(mgr, multiply_spirv)


def test_use_after_manager_destroy(memory_mode, multiply_spirv):
    mgr = kp.Manager()
    t = mgr.tensor([1])
    seq = mgr.sequence()
    algo = mgr.algorithm([t], NO_PUSH_GLSL)
    mgr.destroy()
    with pytest.raises(kp.DestroyedError):
        mgr.tensor([1])
    with pytest.raises(kp.DestroyedError):
        mgr.algorithm([t], NO_PUSH_GLSL)
    with pytest.raises(kp.DestroyedError):
        mgr.sequence()
    with pytest.raises(kp.DestroyedError):
        seq.eval(kp.OpSyncDevice([t]))
    with pytest.raises(kp.DestroyedError):
        seq.record(kp.OpAlgoDispatch(algo))
    with pytest.raises(kp.DestroyedError):
        t.data()
    with pytest.raises(kp.DestroyedError):
        mgr.get_device_properties()
    with kp.Manager() as fresh:
        assert_still_works(fresh, multiply_spirv)
