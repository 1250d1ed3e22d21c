"""The seed (Kompute v0.5/v0.6) API: ``kp.Tensor(list)``, ``mgr.eval_<op>[_def]``,
``eval_async`` / ``eval_await``, named sequences and ``seq.record_<op>``, side by
side with the current API on the same objects. Shaders are GLSL (compiled by kp)
or SPIR-V bytes."""

import gc
import logging
import os
import subprocess
import sys
import weakref

import numpy as np
import pytest

import kp
from conftest import MULTIPLY_GLSL, child_env, run
from kp.seed import CACHED_CALLS, IDLE_ANONYMOUS

DOUBLE_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer In { float x[]; };
layout(set = 0, binding = 1) buffer Out { float y[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    y[i] = 2.0 * x[i];
}
"""

# Four invocations per workgroup: the implicit constant LEN_IN (constant_id 0 = size of
# tensor 0) keeps the rounded-up last workgroup inside the tensor.
DOUBLE_BLOCKS_GLSL = """
#version 450
layout(local_size_x = 4) in;
layout(constant_id = 0) const uint LEN_IN = 0;
layout(set = 0, binding = 0) buffer In { float x[]; };
layout(set = 0, binding = 1) buffer Out { float y[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i < LEN_IN) y[i] = 2.0 * x[i];
}
"""

# Writes the sizes the seed API passes as specialisation constants 0, 1 and 2.
SIZES_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const uint LEN_0 = 0;
layout(constant_id = 1) const uint LEN_1 = 0;
layout(constant_id = 2) const uint LEN_2 = 0;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(set = 0, binding = 1) buffer B { float b[]; };
layout(set = 0, binding = 2) buffer C { float c[]; };
void main() {
    a[gl_GlobalInvocationID.x] = float(LEN_0 + 10 * LEN_1 + 100 * LEN_2);
}
"""


@pytest.fixture
def multiply_file(tmp_path):
    path = tmp_path / "multiply.comp"
    path.write_text(MULTIPLY_GLSL)
    return path


def factors():
    """Two inputs and an output, as the seed's examples make them."""
    return kp.Tensor([2, 2, 2]), kp.Tensor([1, 2, 3]), kp.Tensor([0, 0, 0])


def assert_still_works(mgr):
    """After a refused call the manager still multiplies."""
    a, b, out = factors()
    mgr.eval_tensor_create_def([a, b, out])
    mgr.eval_algo_mult_def([a, b, out])
    mgr.eval_tensor_sync_local_def([out])
    assert out.data() == [2.0, 4.0, 6.0]


# -- kp.Tensor ------------------------------------------------------------------------------
def test_a_tensor_made_before_any_manager_holds_its_data_until_created():
    tensor = kp.Tensor([1, 2, 3])
    assert not tensor.is_init()
    assert tensor.data() == [1.0, 2.0, 3.0]
    assert tensor.size() == 3 and len(tensor) == 3
    assert tensor.tensor_type() == kp.TensorTypes.device


def test_data_returns_a_list_copy():
    tensor = kp.Tensor([1.5, 2.5])
    data = tensor.data()
    data[0] = 99.0
    assert type(data) is list
    assert tensor.data() == [1.5, 2.5]


def test_items_iteration_and_numpy_read_and_write_the_local_data():
    tensor = kp.Tensor(np.array([1.0, 2.0, 3.0]))
    tensor[1] = 20
    assert tensor[1] == 20.0 and type(tensor[1]) is float
    assert list(tensor) == [1.0, 20.0, 3.0]
    assert 3.0 in tensor and reversed(tensor) == [3.0, 20.0, 1.0]
    array = tensor.numpy()
    assert array.dtype == np.float32 and array.tolist() == [1.0, 20.0, 3.0]
    array[0] = 7.0
    assert tensor[0] == 1.0


def test_seed_tensor_data_is_flat_and_shape_keeps_the_shape(memory_mode):
    tensor = kp.Tensor(np.arange(6).reshape(2, 3))
    assert tensor.data() == [0, 1, 2, 3, 4, 5] and tensor.shape == (2, 3) and len(tensor) == 6
    assert tensor.numpy().tolist() == [[0, 1, 2], [3, 4, 5]]
    mgr = kp.Manager()
    mgr.eval_tensor_create_def([tensor])
    assert tensor.data() == [0, 1, 2, 3, 4, 5] and tensor.shape == (2, 3)
    mgr.destroy()


def test_set_data_replaces_the_values_and_checks_the_size():
    tensor = kp.Tensor([1, 2, 3])
    tensor.set_data([4, 5, 6])
    assert tensor.data() == [4.0, 5.0, 6.0]
    with pytest.raises(kp.InvalidArgumentError, match="2 elements for a tensor of 3"):
        tensor.set_data([7, 8])
    assert tensor.data() == [4.0, 5.0, 6.0]


def test_seed_tensor_types_are_current_memory_types():
    assert kp.TensorTypes.staging == kp.TensorTypes.host == kp.staging
    for kind in (kp.TensorTypes.device, kp.TensorTypes.staging, kp.TensorTypes.storage, kp.TensorTypes.host):
        assert kp.Tensor([1.0], kind).tensor_type() == kind
    assert kp.Tensor(data=[1.0], tensor_type=kp.TensorTypes.storage).tensor_type() == kp.TensorTypes.storage


def test_eval_tensor_create_def_puts_the_data_on_the_device(any_mgr):
    x, y = kp.Tensor([1, 2, 3]), kp.Tensor([0, 0, 0])
    any_mgr.eval_tensor_create_def([x, y])
    assert x.is_init() and y.is_init()
    assert x.data() == [1.0, 2.0, 3.0]
    any_mgr.eval_algo_data_def([x, y], DOUBLE_GLSL)
    any_mgr.eval_tensor_sync_local_def([y])
    assert y.data() == [2.0, 4.0, 6.0]


def test_build_tensor_creates_a_tensor_of_the_given_type(mgr):
    staging = mgr.build_tensor([1, 2], kp.TensorTypes.staging)
    device = mgr.build_tensor([3, 4])
    assert staging.is_init() and staging.tensor_type() == kp.TensorTypes.staging
    assert device.is_init() and device.tensor_type() == kp.TensorTypes.device
    assert staging.data() == [1.0, 2.0] and device.data() == [3.0, 4.0]


def test_syncing_a_staging_tensor_to_the_device_goes_host_to_device(any_mgr):
    staging = any_mgr.build_tensor([1, 2, 3], kp.TensorTypes.staging)
    out = any_mgr.build_tensor([0, 0, 0])
    staging.set_data([4, 5, 6])
    staging.map_data_into_host()
    any_mgr.eval_tensor_sync_device_def([staging])
    assert staging.data() == [4.0, 5.0, 6.0]
    any_mgr.eval_algo_data_def([staging, out], DOUBLE_GLSL)
    any_mgr.eval_tensor_sync_local_def([out])
    assert out.data() == [8.0, 10.0, 12.0]


def test_map_data_from_host_shows_what_a_shader_wrote_into_a_staging_tensor(any_mgr):
    source = any_mgr.build_tensor([1, 2, 3])
    staging = any_mgr.build_tensor([0, 0, 0], kp.TensorTypes.staging)
    any_mgr.eval_algo_data_def([source, staging], DOUBLE_GLSL)
    staging.map_data_from_host()
    assert staging.data() == [2.0, 4.0, 6.0]


def test_storage_tensors_carry_data_between_shaders_on_the_device(any_mgr):
    a = kp.Tensor([1, 2, 3])
    middle = kp.Tensor([0, 0, 0], kp.TensorTypes.storage)
    out = kp.Tensor([0, 0, 0])
    any_mgr.eval_tensor_create_def([a, middle, out])
    seq = any_mgr.create_sequence("twice")
    seq.begin()
    seq.record_algo_data([a, middle], DOUBLE_GLSL)
    seq.record_algo_data([middle, out], DOUBLE_GLSL)
    seq.record_tensor_sync_local([out])
    seq.end()
    seq.eval()
    assert out.data() == [4.0, 8.0, 12.0]


def test_seed_tensors_work_with_the_current_api(any_mgr, multiply_spirv):
    a, b, out = factors()
    any_mgr.eval_tensor_create_def([a, b, out])
    a.set_data([3, 3, 3])
    algorithm = any_mgr.algorithm([a, b, out], multiply_spirv)
    run(any_mgr, kp.OpSyncDevice([a]), kp.OpAlgoDispatch(algorithm), kp.OpSyncLocal([out]))
    assert out.data() == [3.0, 6.0, 9.0]


def test_current_api_tensors_work_with_the_seed_api(any_mgr):
    a, b, out = any_mgr.tensor([2, 2, 2]), any_mgr.tensor([1, 2, 3]), any_mgr.tensor([0, 0, 0])
    any_mgr.eval_tensor_sync_device_def([a, b])  # mgr.tensor leaves device memory to OpSyncDevice
    any_mgr.eval_algo_data_def([a, b, out], MULTIPLY_GLSL)
    any_mgr.eval_tensor_sync_local_def([out])
    assert isinstance(out.data(), np.ndarray)
    assert out.data().tolist() == [2.0, 4.0, 6.0]


# -- Manager --------------------------------------------------------------------------------
def test_manager_constructors_of_the_seed(memory_mode):
    family = next(f["index"] for f in kp.list_devices()[0]["queue_families"] if f["compute"])
    for mgr in (kp.Manager(), kp.Manager(0), kp.Manager(0, [family])):
        try:
            assert_still_works(mgr)
            with pytest.raises(kp.InvalidArgumentError, match="queue_index 1 is out of range"):
                mgr.create_sequence("second queue", 1)
        finally:
            mgr.destroy()


def test_named_sequences_are_created_once_and_found_by_name(mgr):
    seq = mgr.create_sequence("mine")
    assert mgr.get_create_sequence("mine") is seq
    made = mgr.get_create_sequence("made on demand")
    assert made.is_init() and mgr.get_create_sequence("made on demand") is made
    a, b, out = factors()
    mgr.eval_tensor_create([a, b, out], "create")
    mgr.eval_algo_mult([a, b, out], "mult")
    mgr.eval_tensor_sync_local([out], "mult")
    assert out.data() == [2.0, 4.0, 6.0]
    assert mgr.get_create_sequence("mult").is_init()


@pytest.mark.parametrize("style", ["eval", "eval_def", "eval_async", "eval_async_def"])
def test_every_op_runs_in_every_eval_style(any_mgr, style, multiply_file, multiply_spirv):
    """tensor_create, tensor_copy, tensor_sync_device, tensor_sync_local and each
    algo op, through eval_<op>, eval_<op>_def, eval_async_<op> and eval_async_<op>_def."""
    mgr = any_mgr

    def call(op, tensors, *args):
        prefix = "eval_async_" if "async" in style else "eval_"
        if style.endswith("_def"):
            getattr(mgr, f"{prefix}{op}_def")(tensors, *args)
            assert mgr.eval_await_def()
        else:
            getattr(mgr, f"{prefix}{op}")(tensors, "seq", *args)
            assert mgr.eval_await("seq")

    a, b, out, copy = kp.Tensor([2, 2, 2]), kp.Tensor([1, 2, 3]), kp.Tensor([0, 0, 0]), kp.Tensor([9, 9, 9])
    call("tensor_create", [a, b, out, copy])
    assert all(t.is_init() for t in (a, b, out, copy))

    shaders = [("algo_mult",), ("algo_file", str(multiply_file)), ("algo_str", MULTIPLY_GLSL),
               ("algo_str", list(MULTIPLY_GLSL)), ("algo_data", multiply_spirv), ("algo_data", MULTIPLY_GLSL),
               ("algo_data", list(MULTIPLY_GLSL)), ("algo_lro", multiply_spirv)]
    for k, (op, *shader) in enumerate(shaders, start=1):
        a.set_data([k, k, k])
        call("tensor_sync_device", [a])
        out.set_data([0, 0, 0])
        call(op, [a, b, out], *shader)
        if op != "algo_lro":  # algo_lro brings its output back by itself
            call("tensor_sync_local", [out])
        assert out.data() == [k * 1.0, k * 2.0, k * 3.0], op

    call("tensor_copy", [out, copy])
    assert copy.data() == [8.0, 16.0, 24.0]
    call("algo_data", [copy, a], DOUBLE_GLSL)  # reads the device copy
    call("tensor_sync_local", [a])
    assert a.data() == [16.0, 32.0, 48.0]


def test_algo_file_also_takes_spirv(mgr, tmp_path, multiply_spirv):
    path = tmp_path / "multiply.spv"
    path.write_bytes(multiply_spirv)
    a, b, out = factors()
    mgr.eval_tensor_create_def([a, b, out])
    mgr.eval_algo_file_def([a, b, out], path)
    mgr.eval_tensor_sync_local_def([out])
    assert out.data() == [2.0, 4.0, 6.0]


def test_algo_file_finds_the_glsl_files_includes_next_to_it(mgr, tmp_path):
    (tmp_path / "shaders").mkdir()
    (tmp_path / "shaders" / "op.glsl").write_text("#define OP(a, b) ((a) + (b))\n")
    path = tmp_path / "shaders" / "add.comp"
    path.write_text(MULTIPLY_GLSL.replace("#version 450", "#version 450\n#extension GL_GOOGLE_include_directive : "
                                          "require\n#include \"op.glsl\"").replace("a[i] * b[i]", "OP(a[i], b[i])"))
    a, b, out = factors()
    mgr.eval_tensor_create_def([a, b, out])
    mgr.eval_algo_file_def([a, b, out], path)  # the current folder is not tmp_path/shaders
    mgr.eval_tensor_sync_local_def([out])
    assert out.data() == [3.0, 4.0, 5.0]


def test_the_default_workgroup_is_one_invocation_per_element_of_the_first_tensor(mgr):
    x, y = kp.Tensor(list(range(1, 11))), kp.Tensor([0] * 10)
    mgr.eval_tensor_create_def([x, y])
    mgr.eval_algo_data_def([x, y], DOUBLE_BLOCKS_GLSL)
    mgr.eval_tensor_sync_local_def([y])
    assert y.data() == [2.0 * i for i in range(1, 11)]


def test_an_explicit_workgroup_is_the_number_of_workgroups(mgr):
    x, y = kp.Tensor([1, 2, 3, 4]), kp.Tensor([0, 0, 0, 0])
    mgr.eval_tensor_create_def([x, y])
    mgr.eval_algo_data_def([x, y], DOUBLE_GLSL, (2, 1, 1))
    mgr.eval_tensor_sync_local_def([y])
    assert y.data() == [2.0, 4.0, 0.0, 0.0]
    mgr.eval_algo_str_def([x, y], DOUBLE_GLSL, (0, 0, 0))  # (0, 0, 0) means the default
    mgr.eval_tensor_sync_local_def([y])
    assert y.data() == [2.0, 4.0, 6.0, 8.0]


def test_specialisation_constant_i_is_the_size_of_tensor_i(mgr):
    a, b, c = kp.Tensor([0, 0, 0, 0]), kp.Tensor([0, 0]), kp.Tensor([0, 0, 0])
    mgr.eval_tensor_create_def([a, b, c])
    mgr.eval_algo_data_def([a, b, c], SIZES_GLSL)
    mgr.eval_tensor_sync_local_def([a])
    assert a.data() == [324.0] * 4  # 4 + 10 * 2 + 100 * 3


def test_algo_lro_needs_three_tensors_of_one_size(mgr, multiply_spirv):
    a, b, out = kp.Tensor([1, 2]), kp.Tensor([1, 2, 3]), kp.Tensor([0, 0, 0])
    mgr.eval_tensor_create_def([a, b, out])
    with pytest.raises(kp.InvalidArgumentError, match=r"3 tensors \(lhs, rhs, out\) of one size.*\[2, 3, 3\]"):
        mgr.eval_algo_lro_def([a, b, out], multiply_spirv)
    assert_still_works(mgr)


# -- asynchronous evaluation ------------------------------------------------------------------
def test_eval_async_on_a_named_sequence_then_eval_await(any_mgr):
    a, b, out = factors()
    any_mgr.eval_tensor_create_def([a, b, out])
    any_mgr.eval_async_algo_lro([a, b, out], "lro", MULTIPLY_GLSL)
    assert any_mgr.get_create_sequence("lro").is_running()
    assert any_mgr.eval_await("lro", 10**10)
    assert not any_mgr.get_create_sequence("lro").is_running()
    assert out.data() == [2.0, 4.0, 6.0]
    assert any_mgr.eval_await("lro")  # not running any more: nothing to wait for


def test_eval_await_def_completes_every_async_anonymous_sequence(any_mgr):
    """Each copy's host side runs when it is awaited; the first of the two is not the
    last anonymous sequence started, and still completes."""
    sources = [any_mgr.build_tensor([1, 2]), any_mgr.build_tensor([3, 4])]
    copies = [any_mgr.build_tensor([0, 0]), any_mgr.build_tensor([0, 0])]
    any_mgr.eval_async_tensor_copy_def([sources[0], copies[0]])
    any_mgr.eval_async_tensor_copy_def([sources[1], copies[1]])
    assert any_mgr.eval_await_def(10**10)
    assert [c.data() for c in copies] == [[1.0, 2.0], [3.0, 4.0]]


def test_eval_await_def_awaits_a_sequence_from_create_sequence(mgr):
    a, b, out = factors()
    mgr.eval_tensor_create_def([a, b, out])
    seq = mgr.create_sequence()
    seq.begin()
    seq.record_algo_mult([a, b, out])
    seq.record_tensor_sync_local([out])
    seq.end()
    seq.eval_async()
    assert mgr.eval_await_def()
    assert not seq.is_running()
    assert out.data() == [2.0, 4.0, 6.0]


def test_a_sequence_from_create_sequence_is_never_reused_by_def_calls(mgr):
    a, b, out = factors()
    mgr.eval_tensor_create_def([a, b, out])
    seq = mgr.create_sequence()
    seq.begin()
    seq.record_tensor_sync_device([a])
    seq.record_algo_mult([a, b, out])
    seq.record_tensor_sync_local([out])
    seq.end()
    for _ in range(3):
        mgr.eval_tensor_sync_local_def([b])
    a.set_data([10, 10, 10])
    seq.eval()
    assert out.data() == [10.0, 20.0, 30.0]


def test_eval_await_with_a_timeout_returns_false_while_still_running(mgr):
    x, y = kp.Tensor([1.0] * 4096), kp.Tensor([0.0] * 4096)
    mgr.eval_tensor_create_def([x, y])
    slow = """
    #version 450
    layout(local_size_x = 1) in;
    layout(set = 0, binding = 0) buffer In { float x[]; };
    layout(set = 0, binding = 1) buffer Out { float y[]; };
    void main() {
        uint i = gl_GlobalInvocationID.x;
        float s = 0.0;
        for (int k = 0; k < 20000; k++) s += sin(x[i] + float(k));
        y[i] = s;
    }
    """
    mgr.eval_async_algo_data([x, y], "slow", slow)
    assert mgr.eval_await("slow", 1) is False
    assert mgr.get_create_sequence("slow").is_running()
    assert mgr.eval_await("slow") is True
    mgr.eval_tensor_sync_local_def([y])
    expected = float(np.sum(np.sin(1.0 + np.arange(20000))))
    assert y.data() == pytest.approx([expected] * 4096, abs=0.05)


# -- Sequence -----------------------------------------------------------------------------
def test_sequence_states_through_begin_end_and_eval(mgr):
    a, b, out = factors()
    mgr.eval_tensor_create_def([a, b, out])
    seq = mgr.create_sequence("states")
    assert seq.is_init() and not seq.is_rec() and not seq.is_running()
    assert seq.begin() and seq.is_rec()
    assert seq.begin() is False  # already recording
    seq.record_algo_mult([a, b, out])
    seq.record_tensor_sync_local([out])
    assert seq.end() and not seq.is_rec()
    assert seq.end() is False  # not recording
    seq.eval_async()
    assert seq.is_running()
    seq.eval_await(10**10)
    assert not seq.is_running()
    assert out.data() == [2.0, 4.0, 6.0]


def test_a_recorded_sequence_picks_up_the_current_local_data_at_each_eval(any_mgr):
    a, b, out = factors()
    any_mgr.eval_tensor_create_def([a, b, out])
    seq = any_mgr.create_sequence()
    seq.begin()
    seq.record_tensor_sync_device([a])
    seq.record_algo_data([a, b, out], MULTIPLY_GLSL)
    seq.record_tensor_sync_local([out])
    seq.end()
    for k in range(1, 5):
        a.set_data([k, k, k])
        seq.eval()
        assert out.data() == [k * 1.0, k * 2.0, k * 3.0]


def test_every_op_can_be_recorded(any_mgr, multiply_file, multiply_spirv):
    a, b, out, copy = kp.Tensor([2, 2, 2]), kp.Tensor([1, 2, 3]), kp.Tensor([0, 0, 0]), kp.Tensor([0, 0, 0])
    seq = any_mgr.create_sequence("all ops")
    seq.begin()
    seq.record_tensor_create([a, b, out, copy])
    seq.record_algo_mult([a, b, out])
    seq.record_algo_file([out, b, out], str(multiply_file))  # out = a * b * b
    seq.record_algo_str([out, b, out], list(MULTIPLY_GLSL))  # * b
    seq.record_algo_data([out, b, out], multiply_spirv)  # * b
    seq.record_algo_lro([out, b, out], MULTIPLY_GLSL, (0, 0, 0))  # * b, and synced back
    seq.record_tensor_copy([out, copy])
    seq.record_tensor_sync_local([copy])
    seq.record_tensor_sync_device([a])
    seq.end()
    seq.eval()
    assert all(t.is_init() for t in (a, b, out, copy))
    assert out.data() == copy.data() == [2.0, 64.0, 486.0]


# -- anonymous sequences are released ---------------------------------------------------------
def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _live_handles() -> dict[str, int]:
    gc.collect()  # managers of earlier tests may wait in reference cycles
    return kp.vk.live_handles()


def test_a_loop_of_def_calls_keeps_memory_and_vulkan_handles_flat(any_mgr):
    tensor = any_mgr.build_tensor([1.0, 2.0, 3.0])
    for _ in range(2000):  # warm-up: pools, caches and the allocator reach their size
        any_mgr.eval_tensor_sync_device_def([tensor])
    rss, handles = _rss(), _live_handles()
    for _ in range(20_000):
        any_mgr.eval_tensor_sync_device_def([tensor])
    assert kp.vk.live_handles() == handles
    assert _rss() - rss < 2 * 2**20


def test_async_def_calls_release_their_sequences_once_awaited(any_mgr):
    a, b, out = factors()
    any_mgr.eval_tensor_create_def([a, b, out])
    handles = _live_handles()
    for _ in range(500):
        any_mgr.eval_async_algo_mult_def([a, b, out])
    assert any_mgr.eval_await_def()
    after = _live_handles()
    # What stays: at most IDLE_ANONYMOUS finished sequences kept for reuse, each with its
    # command pool and the pipeline of the algo_mult it ran last.
    assert after.pop("VkCommandPool") <= handles.pop("VkCommandPool", 0) + IDLE_ANONYMOUS
    assert after.pop("VkPipeline") <= handles.pop("VkPipeline", 0) + IDLE_ANONYMOUS
    assert after == handles
    any_mgr.eval_tensor_sync_local_def([out])
    assert out.data() == [2.0, 4.0, 6.0]


def test_repeated_def_calls_give_the_numbers_of_fresh_ones_and_follow_the_data(any_mgr, multiply_spirv):
    """A repeated ``eval_<op>_def`` call runs its cached recording: the same numbers,
    with the tensors' current data, and another shader or tensor is another call."""
    a, b, out = (kp.Tensor(np.zeros(5)) for _ in range(3))
    any_mgr.eval_tensor_create_def([a, b, out])
    double = kp.shader.compile_source(DOUBLE_GLSL)
    rng = np.random.default_rng(1)
    for _ in range(4):
        x, y = rng.random(5, dtype=np.float32), rng.random(5, dtype=np.float32)
        a.set_data(x)
        b.set_data(y)
        any_mgr.eval_tensor_sync_device_def([a, b])
        any_mgr.eval_algo_data_def([a, b, out], multiply_spirv)
        any_mgr.eval_tensor_sync_local_def([out])
        assert out.data() == (x * y).tolist()
        any_mgr.eval_algo_data_def([a, out], double)
        any_mgr.eval_tensor_sync_local_def([out])
        assert out.data() == (2 * x).tolist()
        any_mgr.eval_algo_str_def([b, out], DOUBLE_GLSL)  # same shader, other tensors
        any_mgr.eval_tensor_sync_local_def([out])
        assert out.data() == (2 * y).tolist()
        any_mgr.eval_algo_str_def([b, out], DOUBLE_GLSL.replace("2.0 *", "3.0 *"))  # same tensors, another shader
        any_mgr.eval_tensor_sync_local_def([out])
        assert out.data() == (np.float32(3) * y).tolist()


def test_a_cached_def_call_keeps_no_tensor_alive(any_mgr, multiply_spirv):
    """Once its tensors are gone, a cached call holds no tensor, memory, pipeline
    or command buffer; a loop over new tensors stays flat."""
    def call():
        a, b, out = (kp.Tensor([2.0, 3.0]) for _ in range(3))
        any_mgr.eval_tensor_create_def([a, b, out])
        any_mgr.eval_algo_data_def([a, b, out], multiply_spirv)
        any_mgr.eval_algo_data_def([a, b, out], multiply_spirv)
        any_mgr.eval_tensor_sync_local_def([out])
        assert out.data() == [4.0, 9.0]
        return weakref.ref(a)

    for _ in range(100):
        call()
    rss, handles = _rss(), _live_handles()
    refs = [call() for _ in range(1000)]
    assert all(ref() is None for ref in refs)  # no garbage collection needed
    assert kp.vk.live_handles() == handles
    assert _rss() - rss < 2 * 2**20  # the sequences are reused, not made anew


def test_a_cached_def_call_on_a_destroyed_tensor_raises(any_mgr, multiply_spirv):
    a, b, out = (kp.Tensor([2.0, 3.0]) for _ in range(3))
    any_mgr.eval_tensor_create_def([a, b, out])
    for _ in range(2):
        any_mgr.eval_algo_data_def([a, b, out], multiply_spirv)
    b.destroy()
    with pytest.raises(kp.DestroyedError):
        any_mgr.eval_algo_data_def([a, b, out], multiply_spirv)
    c = kp.Tensor([5.0, 7.0])
    any_mgr.eval_tensor_create_def([c])
    any_mgr.eval_algo_data_def([a, c, out], multiply_spirv)
    any_mgr.eval_tensor_sync_local_def([out])
    assert out.data() == [10.0, 21.0]


def test_the_cache_of_def_calls_is_bounded(mgr):
    """Many different calls on long-lived tensors keep at most CACHED_CALLS recordings."""
    tensor = mgr.build_tensor([1.0])
    mgr.eval_tensor_sync_local_def([tensor])
    handles = _live_handles()
    sources = [DOUBLE_GLSL.replace("2.0 *", f"{i}.0 *") for i in range(CACHED_CALLS + 10)]
    for source in sources:
        for _ in range(2):  # the second call is cached
            mgr.eval_algo_str_def([tensor, tensor], source)
    after = kp.vk.live_handles()
    assert after.pop("VkPipeline", 0) - handles.pop("VkPipeline", 0) <= CACHED_CALLS
    assert after.pop("VkCommandPool", 0) - handles.pop("VkCommandPool", 0) <= CACHED_CALLS + IDLE_ANONYMOUS
    assert after == handles


def test_a_destroyed_manager_releases_its_device_without_the_garbage_collector(memory_mode):
    baseline = _live_handles()
    gc.disable()  # the manager and the sequences it names or pools refer to each other
    try:
        mgr = kp.Manager()
        a, b, out = factors()
        mgr.eval_tensor_create_def([a, b, out])
        mgr.eval_algo_mult([a, b, out], "named")
        mgr.eval_async_tensor_sync_local_def([out])
        assert mgr.eval_await_def()
        assert out.data() == [2.0, 4.0, 6.0]
        mgr.destroy()
        del mgr, a, b, out
        assert kp.vk.live_handles() == baseline
    finally:
        gc.enable()


# -- log level ------------------------------------------------------------------------------
@pytest.fixture
def restore_kp_logger():
    logger = logging.getLogger("kp")
    level, handlers = logger.level, list(logger.handlers)
    yield logger
    logger.setLevel(level)
    logger.handlers[:] = handlers


def test_log_level_sets_the_kp_logger(restore_kp_logger, caplog):
    for level, python_level in [(0, 5), (1, logging.DEBUG), (2, logging.INFO), (3, logging.WARNING),
                                (4, logging.ERROR)]:
        kp.log_level(level)
        assert restore_kp_logger.level == python_level
    kp.Manager().destroy()
    assert not [r for r in caplog.records if r.name == "kp" and r.levelno < logging.ERROR]
    kp.log_level(2)
    kp.Manager().destroy()
    assert any(r.name == "kp" and "Using physical device" in r.getMessage() for r in caplog.records)
    with pytest.raises(kp.InvalidArgumentError, match="0..4"):
        kp.log_level(7)


def test_the_default_log_level_is_info():
    code = "import kp, logging; print(logging.getLogger('kp').getEffectiveLevel())"
    env = child_env()
    level = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert int(level.stdout) == logging.INFO


# -- misuse gets a clear exception, and the manager keeps working -------------------------------
def test_recording_outside_begin_and_end_is_refused(mgr):
    a, b, out = factors()
    mgr.eval_tensor_create_def([a, b, out])
    seq = mgr.create_sequence("not begun")
    with pytest.raises(kp.SequenceStateError, match=r"record_algo_mult called outside begin\(\)/end\(\)"):
        seq.record_algo_mult([a, b, out])
    seq.begin()
    seq.end()
    with pytest.raises(kp.SequenceStateError, match="outside"):
        seq.record_tensor_sync_local([out])
    assert_still_works(mgr)


def test_awaiting_an_unknown_sequence_name_is_refused(mgr):
    mgr.create_sequence("known")
    with pytest.raises(kp.InvalidArgumentError, match=r"no sequence named 'unknown' \(known: \['known'\]\)"):
        mgr.eval_await("unknown")
    with pytest.raises(kp.InvalidArgumentError, match="sequence name must be a str"):
        mgr.eval_tensor_sync_device([mgr.build_tensor([1])], 3)
    assert_still_works(mgr)


def test_creating_a_tensor_twice_is_refused(mgr):
    tensor = mgr.build_tensor([1, 2])
    with pytest.raises(kp.KomputeError, match="already been created"):
        mgr.eval_tensor_create_def([tensor])
    with pytest.raises(kp.KomputeError, match="already been created"):
        mgr.eval_tensor_create_def([mgr.tensor([1, 2])])
    assert tensor.data() == [1.0, 2.0]
    assert_still_works(mgr)


def test_set_data_of_the_wrong_size_on_a_created_tensor_is_refused(mgr):
    tensor = mgr.build_tensor([1, 2, 3])
    with pytest.raises(kp.InvalidArgumentError, match="4 elements for a tensor of 3"):
        tensor.set_data([1, 2, 3, 4])
    assert tensor.data() == [1.0, 2.0, 3.0]
    assert_still_works(mgr)


def test_syncing_an_uncreated_tensor_is_refused(mgr):
    uncreated = kp.Tensor([1, 2, 3])
    with pytest.raises(kp.KomputeError, match="not been created on a device yet"):
        mgr.eval_tensor_sync_device_def([uncreated])
    with pytest.raises(kp.KomputeError, match="not been created on a device yet"):
        mgr.eval_tensor_sync_local([uncreated], "named")
    seq = mgr.create_sequence("recording")
    seq.begin()
    with pytest.raises(kp.KomputeError, match="not been created on a device yet"):
        seq.record_tensor_sync_local([uncreated])
    seq.end()
    assert not uncreated.is_init()
    assert_still_works(mgr)


def test_evaluating_a_running_sequence_is_refused(any_mgr):
    source, copy = any_mgr.build_tensor([1, 2]), any_mgr.build_tensor([0, 0])
    any_mgr.eval_async_tensor_copy([source, copy], "busy")
    seq = any_mgr.get_create_sequence("busy")
    with pytest.raises(kp.SequenceStateError, match="still running"):
        any_mgr.eval_async_tensor_sync_local([copy], "busy")
    with pytest.raises(kp.SequenceStateError, match="already running"):
        seq.eval()
    with pytest.raises(kp.SequenceStateError, match="running"):
        seq.begin()
    # the refused calls left the running copy alone: awaiting it completes it
    assert any_mgr.eval_await("busy")
    assert copy.data() == [1.0, 2.0]
    seq.eval()
    assert_still_works(any_mgr)
