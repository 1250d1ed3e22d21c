"""Every misuse is a kp.KomputeError naming what was wrong, raised before anything
reaches the driver, and the manager keeps working afterwards."""

import asyncio
import re
import subprocess
import sys

import numpy as np
import pytest

import kp
from conftest import assert_close, child_env, run
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


# -- constants, timestamps, barriers, data and settings (issue 20) --------------------

# an int, a uint and a float constant, written to a[0..2]
KINDS_GLSL = """
#version 450
layout(local_size_x = 1) in;
{constants}
layout(set = 0, binding = 0) buffer A {{ float a[]; }};
void main() {{ a[0] = float(i); a[1] = float(u); a[2] = f; }}
"""
SPEC_KINDS_GLSL = KINDS_GLSL.format(constants="layout(constant_id = 0) const int i = 0; "
                                              "layout(constant_id = 1) const uint u = 0; "
                                              "layout(constant_id = 2) const float f = 0.0;")
PUSH_KINDS_GLSL = KINDS_GLSL.format(constants="layout(push_constant) uniform P { int i; uint u; float f; };")

BAD_CONSTANTS = [
    ([2**32 + 5, 0, 0.0], r"int32\) cannot hold 4294967301"), ([0, -1, 0.0], r"uint32\) cannot hold -1"),
    ([1.5, 0, 0.0], r"int32\) needs a whole number, got 1.5"),
    ([float("nan"), 0, 0.0], "needs a whole number, got nan"),
    ([0, 0, 1e39], r"float32\) cannot hold 1e\+39"), ([[1, 2], 0, 0.0], r"needs a number, got \[1, 2\]"),
    ([None, 0, 0.0], "needs a number, got None"), ([0, 0, "1"], "needs a number, got '1'"),
]


@pytest.mark.parametrize("values, message", BAD_CONSTANTS)
def test_spec_and_push_constants_are_converted_with_the_same_checks(mgr, multiply_spirv, values, message):
    a = mgr.tensor([0, 0, 0])
    with pytest.raises(kp.InvalidArgumentError, match="specialisation constant .*" + message):
        mgr.algorithm([a], SPEC_KINDS_GLSL, spec_consts=values)
    with pytest.raises(kp.InvalidArgumentError, match="push constant .*" + message):
        mgr.algorithm([a], PUSH_KINDS_GLSL, push_consts=values)
    assert_still_works(mgr, multiply_spirv)


def test_constants_at_the_ends_of_their_range_arrive_exactly(mgr):
    values = [-2**31, 2**32 - 1, np.float32(0.1)]
    for shader, arguments in ((SPEC_KINDS_GLSL, {"spec_consts": values}), (PUSH_KINDS_GLSL, {"push_consts": values})):
        a = mgr.tensor_t(np.zeros(3, np.float32))
        run(mgr, kp.OpAlgoDispatch(mgr.algorithm([a], shader, (1, 1, 1), **arguments)), kp.OpSyncLocal([a]))
        assert a.data().tolist() == [float(np.float32(-2**31)), float(np.float32(2**32 - 1)), float(np.float32(0.1))]


BOOL_SPEC_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const bool b = false;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[0] = b ? 1.0 : 2.0; }
"""


@pytest.mark.parametrize("value", [2, -1, float("nan"), 0.5])
def test_a_bool_spec_constant_takes_only_0_and_1(mgr, value):
    with pytest.raises(kp.InvalidArgumentError, match=r"specialisation constant 0 \(b, bool32\) needs a bool "
                                                      rf"\(or 0 or 1\), got {re.escape(repr(value))}"):
        mgr.algorithm([mgr.tensor([0.0])], BOOL_SPEC_GLSL, spec_consts=[value])
    for given, expected in ((True, 1.0), (np.bool_(False), 2.0), (1.0, 1.0), (0, 2.0)):
        a = mgr.tensor([0.0])
        run(mgr, kp.OpAlgoDispatch(mgr.algorithm([a], BOOL_SPEC_GLSL, spec_consts=[given])), kp.OpSyncLocal([a]))
        assert a.data().tolist() == [expected]


def test_spec_consts_that_are_not_a_list_are_refused(mgr):
    with pytest.raises(kp.InvalidArgumentError, match="spec_consts must be a list, a tuple or a NumPy array"):
        mgr.algorithm([mgr.tensor([0, 0, 0])], SPEC_KINDS_GLSL, spec_consts="123")


def test_push_constants_larger_than_the_device_allows(mgr, multiply_spirv):
    limit = mgr.get_device_properties()["max_push_constants_size"]
    shader = PUSH_GLSL.replace("float scale; float offset;",
                               f"float scale; float offset; float rest[{limit // 4 - 1}];")
    with pytest.raises(kp.InvalidArgumentError, match=f"take {limit + 4} bytes but .* at most {limit} "
                                                      r"\(maxPushConstantsSize\)"):
        mgr.algorithm([mgr.tensor([1.0])], shader, push_consts=np.zeros(limit // 4 + 1, np.float32))
    assert_still_works(mgr, multiply_spirv)


@pytest.mark.parametrize("count", [2**31, 2**33, 2**16 + 1, 1.0, True, "8"], ids=repr)
def test_total_timestamps_is_bounded(mgr, multiply_spirv, count):
    with pytest.raises(kp.InvalidArgumentError, match=f"total_timestamps must be an int from 0 to 65536, "
                                                      f"got {re.escape(repr(count))}"):
        mgr.sequence(0, count)
    assert_still_works(mgr, multiply_spirv)


def test_numpy_timestamp_counts_are_ints(mgr):
    if not mgr.get_device_properties()["timestamps_supported"]:
        pytest.skip("the device has no timestamps")
    seq = mgr.sequence(0, np.int64(4)).eval(kp.OpSyncDevice([mgr.tensor([1.0])]))
    assert len(seq.get_timestamps()) == 2


def test_numpy_queue_indices_are_ints(mgr, multiply_spirv):
    tensor = mgr.tensor([1.0, 2.0])
    mgr.sequence(np.int64(0)).eval(kp.OpSyncDevice([tensor])).eval(kp.OpSyncLocal([tensor]))
    assert_close(tensor.data(), [1.0, 2.0])
    with pytest.raises(kp.InvalidArgumentError, match="queue_index True is out of range"):
        mgr.sequence(True)


@pytest.mark.parametrize("make", ["tensor", "set_data"])
def test_a_sequence_of_more_numbers_than_memory_holds_is_refused(mgr, make):
    # a range of 2**40 numbers (8 TiB as an array): converting it would take the host's memory
    with pytest.raises(kp.OutOfDeviceMemoryError, match=r"no host memory to convert the tensor data \(range\)"):
        if make == "tensor":
            mgr.tensor(range(2**40))
        else:
            mgr.tensor([1.0]).set_data(range(2**40))
    assert_close(mgr.tensor([1.0, 2.0]).data(), [1.0, 2.0])


def test_a_nested_sequence_counts_the_numbers_of_all_its_levels(mgr, monkeypatch):
    # a host of 1 MiB: a list holding one range of 2**18 numbers (2 MiB as an array)
    # is refused before NumPy turns the range into a list of Python ints
    monkeypatch.setattr(kp.memory, "_HOST_MEMORY", 2**20)
    with pytest.raises(kp.OutOfDeviceMemoryError, match=r"tensor data \(list\)"):
        mgr.tensor([range(2**18)])
    assert_close(mgr.tensor([range(4)] * 2).data(), [0, 1, 2, 3] * 2)


class _FailingLength:
    def __len__(self):
        raise RuntimeError("no length")

    def __getitem__(self, index):
        raise IndexError(index)


class _LyingArrayLike:
    # NumPy takes the data from __array__, whatever __len__ claims
    def __len__(self):
        return 2**60

    def __array__(self, dtype=None, copy=None):
        return np.array([1.0, 2.0], dtype=dtype)


def test_the_length_check_leaves_odd_sequences_to_numpy(mgr):
    with pytest.raises(kp.DataTypeError, match="tensor data must be numbers, got .*_FailingLength"):
        mgr.tensor(_FailingLength())
    assert_close(mgr.tensor(_LyingArrayLike()).data(), [1.0, 2.0])


A, S = kp.AccessFlags, kp.PipelineStages


@pytest.mark.parametrize("arguments, message", [
    ((A.shader_write, A.shader_read, 0, S.compute_shader), "src_stage is empty"),
    ((A.shader_write, A.shader_read, S.compute_shader, 0), "dst_stage is empty"),
    ((A.shader_write | 0x2, A.shader_read), "src_access 0x42 has bits that are not kp.AccessFlags"),
    ((A.shader_write, A.shader_read, S.compute_shader, S.compute_shader | 0x8), "dst_stage 0x808 has bits"),
    ((A.shader_write, A.shader_read, S.transfer, S.compute_shader), "src_access has shader_write, which happens "
                                                                    "in the compute_shader stage"),
    ((A.shader_write, A.host_read, S.compute_shader, S.compute_shader), "dst_access has host_read"),
    ((-1, A.shader_read), "src_access -0x1 has bits"), ((2**40, A.shader_read), "src_access 0x10000000000 has bits"),
    ((A.shader_write, 1.0), "dst_access must be kp.AccessFlags flags"), (("x", 0), "src_access must be"),
])
def test_memory_barrier_flags_are_checked(mgr, multiply_spirv, arguments, message):
    with pytest.raises(kp.InvalidArgumentError, match=re.escape(message)):
        kp.OpMemoryBarrier([mgr.tensor([1.0])], *arguments)
    # what every stage can do, and memory accesses anywhere, are accepted
    a = mgr.tensor([1.0])
    run(mgr, kp.OpMemoryBarrier([a], A.memory_write | A.host_write, A.memory_read | A.shader_read,
                                S.all_commands, S.compute_shader | S.bottom_of_pipe))
    assert_still_works(mgr, multiply_spirv)


@pytest.mark.parametrize("data", [None, [1.0, None], [[None]], ["1", "2"], [1.0, "2"], [b"1"]], ids=repr)
def test_none_and_strings_are_not_tensor_data(mgr, multiply_spirv, data):
    for make in (mgr.tensor, mgr.tensor_t, kp.Tensor):
        with pytest.raises(kp.DataTypeError):
            make(data)
    assert_still_works(mgr, multiply_spirv)


@pytest.mark.parametrize("data", [[None] * 3, ["a", "b", "c"], ["1", "2", "3"], [1, 2, None],
                                  np.array(["1", "2", "3"])], ids=repr)
def test_set_data_refuses_none_and_strings_and_keeps_the_numbers(mgr, data):
    for tensor in (mgr.tensor([1, 2, 3]), kp.Tensor([1, 2, 3])):
        with pytest.raises(kp.DataTypeError, match="must be numbers|cannot hold"):
            tensor.set_data(data)
        assert list(tensor.data()) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("data, dtype", [([2**40, 1], np.int32), ([-1, 1], np.uint32), ([float("nan"), 1], np.int32),
                                         ([float("inf"), 1], np.uint8), ([2**70, 1], np.int64)], ids=repr)
def test_integers_an_integer_tensor_cannot_hold_are_refused_and_keep_the_numbers(mgr, data, dtype):
    tensor = mgr.tensor_t(np.array([3, 4], dtype))
    with pytest.raises(kp.InvalidArgumentError, match=rf"set_data: {re.escape(repr(data[0]))} does not fit "
                                                      rf"{np.dtype(dtype)} elements"):
        tensor.set_data(data)
    with pytest.raises(kp.InvalidArgumentError, match=r"^tensor\[0\]: .* does not fit"):
        tensor[0] = data[0]
    assert tensor.data().tolist() == [3, 4]
    tensor.set_data([np.iinfo(dtype).max, 1])
    assert tensor.data().tolist() == [np.iinfo(dtype).max, 1]


@pytest.mark.parametrize("make", ["Tensor", "tensor", "tensor_t", "image"])
def test_data_larger_than_any_heap_is_refused_before_it_is_copied(mgr, make):
    # 4 TiB described by one element: converting or copying it would take the host's memory
    huge = np.broadcast_to(np.float64(1), (2**39,))
    with pytest.raises(kp.OutOfDeviceMemoryError, match="larger than the device's largest memory heap"):
        if make == "Tensor":
            kp.Tensor(huge)
        elif make == "image":
            mgr.image(huge, 2**19, 2**20, 1)
        else:
            getattr(mgr, make)(huge)
    assert_close(mgr.tensor([1.0, 2.0]).data(), [1.0, 2.0])


def test_awaiting_with_a_negative_timeout_raises_as_eval_await_does(mgr):
    seq = mgr.sequence()
    with pytest.raises(kp.InvalidArgumentError, match="timeout_ns must be a non-negative int, got -1"):
        asyncio.run(seq.wait(-1))
    seq.eval_async(kp.OpSyncDevice([mgr.tensor([1.0])]))
    with pytest.raises(kp.InvalidArgumentError, match="timeout_ns must be a non-negative int, got -1"):
        asyncio.run(seq.wait(-1))
    asyncio.run(seq.wait())


def test_numpy_integer_timeouts_are_ints(mgr):
    tensor = mgr.tensor([1.0])
    mgr.sequence().eval_async(kp.OpSyncDevice([tensor])).eval_await(np.int64(10**9))
    asyncio.run(mgr.sequence().eval_async(kp.OpSyncLocal([tensor])).wait(np.uint64(10**9)))
    assert_close(tensor.data(), [1.0])
    with pytest.raises(kp.InvalidArgumentError, match="timeout_ns must be a non-negative int, got np.int8"):
        mgr.sequence().eval_await(np.int8(-1))


@pytest.mark.parametrize("value", ["abc", "-5", "1e3", "²"])
def test_a_bad_spin_setting_names_the_variable(value):
    result = subprocess.run([sys.executable, "-c", "import kp"], env=child_env(KP_SPIN_NS=value),
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert f"InvalidArgumentError: the environment variable KP_SPIN_NS={value!r} must be a non-negative integer" \
        in result.stderr


def test_an_empty_spin_setting_is_the_default():
    result = subprocess.run([sys.executable, "-c", "import kp; print(kp.vk.commands.SPIN_NS)"],
                            env=child_env(KP_SPIN_NS=""), capture_output=True, text=True)
    assert result.stdout.strip() == "200000", result.stderr
