"""The public API under the arguments a new user may pass: every constructor, method
and operation gets, argument by argument, either a value it takes or an odd one
(wrong types, sizes and signs, NaN, huge and empty values, destroyed objects and
another manager's). Each call gives the right result or raises a ``kp.KomputeError``
subclass: never another exception, a validation message, a crash, or a changed
number elsewhere (a canary tensor that no call is given keeps its numbers, on the
host and on the device)."""

import asyncio
import gc
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import kp

from conftest import MULTIPLY_GLSL, examples
from kp.shader import Array, f32, ivec3

try:  # kp.dask needs dask; the GPU machine has none, and fuzzes the rest
    import dask.array as da
except ImportError:
    da = None

A, S = kp.AccessFlags, kp.PipelineStages

FUZZ = settings(max_examples=examples(500), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

CANARY = [1.5, -2.0, 3.25]

# What no argument of kp takes, and what lies at the edges of what they take.
ODD = [
    None, True, 0, -1, 3, 2**31, 2**32 + 5, -2**63, 2**64, 10**100, 1.5, -0.0, math.nan, math.inf, -math.inf,
    "", "abc", "²", "0", b"", b"\x03\x02\x23\x07", [], [None], [1.0, None], ["a", "b", "c"], [[1, 2], 3], (), {},
    {"N": "1"}, object(), np.int64(0), np.int64(-1), np.uint64(2**64 - 1), np.float32("nan"), np.float64(1e39),
    np.bool_(True), np.array([]), np.zeros((2, 0)), np.array(["a"]), np.array([1 + 2j]), np.array([None]),
    np.broadcast_to(np.float32(0), (2**40,)), np.arange(3, dtype=np.uint8), np.ones((3, 1)), kp.MemoryTypes.storage,
    A.host_read, S.host, (1, 2, 3, 4),
]


def doubled(index=("input", "GlobalInvocationId", ivec3), data=("buffer", 0, Array(f32))):
    data[index.x] = data[index.x] * 2.0


class Spirv(bytes):
    """SPIR-V bytes that a failing example names in a word."""

    def __repr__(self):
        return "<the multiply shader's SPIR-V>"


class World:
    """What the calls of one example are given: fresh valid objects of ``mgr``, a
    destroyed tensor, a tensor of another manager, and ``draw`` for each argument."""

    def __init__(self, mgr, other, glsl_file, data):
        self.mgr, self.other, self.glsl_file, self.data = mgr, other, glsl_file, data
        self.a, self.b, self.out = mgr.tensor([1, 2, 3]), mgr.tensor([4, 5, 6]), mgr.tensor([0, 0, 0])
        self.spirv = Spirv(kp.shader.compile_source(MULTIPLY_GLSL))
        self.algorithm = mgr.algorithm([self.a, self.b, self.out], self.spirv)
        self.sequence = mgr.sequence()
        self.destroyed = mgr.tensor([7.0])
        self.destroyed.destroy()
        self.foreign = other.tensor([1, 2, 3])

    def arg(self, name, *valid):
        """An argument: one of the ``valid`` values, or (about every other time) an
        odd one, which clears ``all_valid``."""
        if valid and not self.data.draw(st.booleans(), label=f"{name}: odd"):
            return self.data.draw(st.sampled_from(valid), label=name)
        self.all_valid = False
        objects = [self.a, self.destroyed, self.foreign, self.algorithm, self.sequence, [self.a, self.destroyed],
                   [self.a, self.foreign], [self.a, 1.0], kp.OpSyncDevice([self.a])]
        return self.data.draw(st.one_of(
            st.sampled_from(ODD + objects), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=3),
            st.lists(st.one_of(st.none(), st.integers(-3, 3), st.floats()), max_size=4)), label=name)

    def choose(self, name, *options):
        """One of ``options``, none of them odd: what a call is made on."""
        return self.data.draw(st.sampled_from(options), label=name)


def expect_data(tensor, given, dtype=None):
    """``tensor`` holds ``given`` as NumPy converts it (to ``dtype``), NaN for NaN."""
    expected = np.asarray(given).reshape(-1)
    expected = expected if dtype is None else expected.astype(dtype)
    assert np.array_equal(np.asarray(tensor.data(), tensor.dtype).reshape(-1), expected.astype(tensor.dtype),
                          equal_nan=tensor.dtype.kind == "f")


def evaluate(w, op):
    w.mgr.sequence().eval(op)


def make_manager(w):
    kp.Manager(w.arg("device", 0, np.int64(0), "0"), w.arg("family_queue_indices", [], [0]),
               w.arg("desired_extensions", [], ["VK_KHR_shader_float16_int8"])).destroy()


def make_tensor(w):
    kind = w.choose("maker", "tensor", "tensor_t", "Tensor", "build_tensor")
    data = w.arg("data", [1, 2, 3], np.arange(4.0), [[1, 2], [3, 4]], np.int32(7))
    memory = w.arg("memory_type", kp.MemoryTypes.device, kp.MemoryTypes.host, kp.MemoryTypes.deviceAndHost)
    tensor = kp.Tensor(data, memory) if kind == "Tensor" else getattr(w.mgr, kind)(data, memory)
    expect_data(tensor, data, None if kind == "tensor_t" else np.float32)


def make_image(w):
    maker = w.choose("maker", w.mgr.image, w.mgr.image_t)
    image = maker(w.arg("data", np.arange(16, dtype=np.float32), np.arange(8, dtype=np.int32)), w.arg("width", 4, 2),
                  w.arg("height", 4, 2), w.arg("num_channels", 1, 2),
                  w.arg("memory_type", kp.MemoryTypes.device, kp.MemoryTypes.host))
    w.mgr.sequence().eval(kp.OpSyncDevice([image])).eval(kp.OpSyncLocal([image]))
    if w.all_valid:
        assert image.data().tolist() == list(range(image.size()))


def make_algorithm(w):
    algorithm = w.mgr.algorithm(
        w.arg("tensors", [w.a, w.b, w.out]), w.arg("spirv", w.spirv, MULTIPLY_GLSL, kp.shader.python2shader(doubled)),
        w.arg("workgroup", None, (3, 1, 1), [1]), w.arg("spec_consts", (), [1], np.array([], np.int32)),
        w.arg("push_consts", (), None, np.array([], np.float32)))
    evaluate(w, kp.OpAlgoDispatch(algorithm))


def rebuild_algorithm(w):
    w.algorithm.rebuild(w.arg("tensors", [w.a, w.b, w.out]), w.arg("spirv", w.spirv),
                        w.arg("workgroup", None, (1, 1, 1)), w.arg("spec_consts", ()), w.arg("push_consts", ()))
    evaluate(w, kp.OpAlgoDispatch(w.algorithm))


def make_op(w):
    tensors = w.arg("tensors", [w.a], [w.a, w.b], [w.a, w.b, w.out])
    kind = w.choose("op", "sync_device", "sync_local", "copy", "mult", "dispatch", "barrier")
    if kind == "sync_device":
        op = kp.OpSyncDevice(tensors)
    elif kind == "sync_local":
        op = kp.OpTensorSyncLocal(tensors)
    elif kind == "copy":
        op = kp.OpCopy(tensors)
    elif kind == "mult":
        op = kp.OpMult(tensors, w.arg("algorithm", w.mgr.algorithm()))
    elif kind == "dispatch":
        op = kp.OpAlgoDispatch(w.arg("algorithm", w.algorithm), w.arg("push_consts", None, ()))
    else:
        op = kp.OpMemoryBarrier(tensors, w.arg("src_access", A.shader_write, A.transfer_write),
                                w.arg("dst_access", A.shader_read, A.memory_read),
                                w.arg("src_stage", S.compute_shader, S.all_commands),
                                w.arg("dst_stage", S.compute_shader | S.transfer, S.bottom_of_pipe),
                                w.arg("barrier_on_primary", True, False))
    evaluate(w, op)


def run_sequence(w):
    total = w.arg("total_timestamps", 0, 4, np.int64(2))
    sequence = w.mgr.sequence(w.arg("queue_index", 0), total)
    sequence.record(w.arg("op", kp.OpSyncDevice([w.a]), kp.OpMult([w.a, w.b, w.out], w.mgr.algorithm())))
    how = w.choose("how", "eval", "await", "wait")
    if how == "eval":
        sequence.eval()
    else:
        sequence.eval_async()
        timeout = w.arg("timeout_ns", None, 10**10)
        if how == "await":
            sequence.eval_await(timeout)
        else:
            asyncio.run(sequence.wait(timeout))
    if total and w.mgr.get_device_properties()["timestamps_supported"]:
        assert len(sequence.get_timestamps()) == 2  # before and after the one operation


def tensor_method(w):
    tensor = w.choose("tensor", w.a, kp.Tensor([1, 2, 3]))
    kind = w.choose("method", "set_data", "setitem", "getitem", "to", "data")
    if kind == "set_data":
        data = w.arg("data", [4, 5, 6], np.arange(3, dtype=np.int64))
        tensor.set_data(data)
        expect_data(tensor, data, tensor.dtype)
    elif kind == "setitem":
        tensor[w.arg("index", 0, -1, slice(0, 2))] = w.arg("value", 2.5, [1.0, 2.0])
    elif kind == "getitem":
        tensor[w.arg("index", 0, slice(None))]
    elif kind == "to":
        copy = tensor.to(w.arg("manager", w.mgr, w.other), w.arg("memory_type", None, kp.MemoryTypes.host))
        assert copy.shape == tensor.shape
    else:
        assert len(tensor.data()) == tensor.size() == 3


def seed_call(w):
    fresh = [kp.Tensor([1, 2, 3]), kp.Tensor([4, 5, 6]), kp.Tensor([0, 0, 0])]
    kind = w.choose("seed call", "create", "algo", "await", "sequence")
    if kind == "create":
        w.mgr.eval_tensor_create_def(w.arg("tensors", fresh))
    elif kind == "algo":
        w.mgr.eval_tensor_create_def(fresh)
        w.mgr.eval_algo_data_def(w.arg("tensors", fresh), w.arg("shader", w.spirv, MULTIPLY_GLSL),
                                 w.arg("workgroup", None, [3, 1, 1]))
        w.mgr.eval_await_def(w.arg("wait_for", None, 10**10))
    elif kind == "await":
        w.mgr.eval_await(w.arg("sequence_name", "named"), w.arg("wait_for", None))
    else:
        w.mgr.create_sequence(w.arg("name", "named", ""), w.arg("queue_index", 0))


def seed_sequence(w):
    fresh = [kp.Tensor([1, 2, 3]), kp.Tensor([4, 5, 6]), kp.Tensor([0, 0, 0])]
    w.mgr.eval_tensor_create_def(fresh)
    sequence = w.mgr.sequence()
    sequence.begin()
    record = w.choose("record", "tensor_sync_device", "tensor_copy", "algo_mult", "algo_data", "algo_file", "algo_lro")
    arguments = {"algo_data": [w.arg("shader", w.spirv, MULTIPLY_GLSL)], "algo_lro": [w.arg("shader", w.spirv)],
                 "algo_file": [w.arg("path", w.glsl_file, str(w.glsl_file))]}.get(record, [])
    if record.startswith("algo_") and record != "algo_mult":
        arguments.append(w.arg("workgroup", None, [3, 1, 1]))
    getattr(sequence, f"record_{record}")(w.arg("tensors", fresh), *arguments)
    sequence.end()
    sequence.eval()
    if w.all_valid and record in ("algo_mult", "algo_data", "algo_file", "algo_lro"):
        w.mgr.eval_tensor_sync_local_def([fresh[2]])
        assert fresh[2].data() == [4.0, 10.0, 18.0]


def shader_call(w):
    kind = w.choose("shader call", "compile_source", "compile_file", "as_spirv", "reflect", "python2shader")
    if kind == "compile_file":
        spirv = kp.shader.compile_file(w.arg("path", w.glsl_file), defines=w.arg("defines", None),
                                       include_dirs=w.arg("include_dirs", ()))
        assert spirv == w.spirv or not w.all_valid
    elif kind == "compile_source":
        kp.shader.compile_source(w.arg("source", MULTIPLY_GLSL), defines=w.arg("defines", None, {"N": 1}),
                                 include_dirs=w.arg("include_dirs", (), ["."]))
    elif kind == "as_spirv":
        spirv = kp.shader.as_spirv(w.arg("shader", w.spirv, MULTIPLY_GLSL))
        assert spirv == w.spirv or not w.all_valid
    elif kind == "reflect":
        info = kp.shader.reflect(w.arg("spirv", w.spirv))
        assert len(info.bindings) == 3 or not w.all_valid
    else:
        kp.shader.python2shader(w.arg("func", doubled), local_size=w.arg("local_size", None, 64, (8, 8, 1)))


def dask_call(w):
    x = da.arange(8, chunks=4, dtype=np.float32)
    result = kp.dask.map_blocks(w.arg("kernel", kp.shader.python2shader(doubled)), w.arg("array", x),
                                dtype=w.arg("dtype", None, np.float32), workgroup=w.arg("workgroup", None),
                                spec_consts=w.arg("spec_consts", ()), push_consts=w.arg("push_consts", ()))
    computed = result.compute(scheduler="sync")
    if w.all_valid:
        np.testing.assert_array_equal(computed, np.arange(8) * 2.0)


def other_call(w):
    kind = w.choose("call", "log_level", "list_devices", "properties", "Image", "destroy")
    if kind == "properties":
        assert w.mgr.get_device_properties()["device_name"]
    elif kind == "log_level":
        kp.log_level(w.arg("level", 3, 4))
    elif kind == "list_devices":
        assert kp.list_devices()
    elif kind == "Image":
        kp.Image(w.arg("data", [1.0]))
    else:
        w.choose("object", w.a, w.algorithm, w.sequence).destroy()


CALLS = [make_manager, make_tensor, make_image, make_algorithm, rebuild_algorithm, make_op, run_sequence,
         tensor_method, seed_call, seed_sequence, shader_call, *([dask_call] if da else []), other_call]


def release_dask_managers():
    if da:
        kp.dask.release_managers()


@pytest.fixture
def world_parts(mgr, tmp_path):
    """The test's manager with a canary tensor on its device, another manager, and a
    GLSL file."""
    glsl_file = tmp_path / "multiply.comp"
    glsl_file.write_text(MULTIPLY_GLSL)
    canary = mgr.tensor(CANARY)
    mgr.sequence().eval(kp.OpSyncDevice([canary]))
    release_dask_managers()  # map_blocks runs in this test's memory mode
    with kp.Manager() as other:
        yield mgr, other, glsl_file, canary
    release_dask_managers()
    kp.log_level(3)
    # The errors the examples caught hold their frames, and so kp objects, in reference
    # cycles: collected now, the devices they hold go before the next test counts its own.
    gc.collect()
    kp.vk.drain()


@FUZZ
@given(data=st.data())
def test_every_call_gives_the_right_result_or_a_kp_error(world_parts, data):
    mgr, other, glsl_file, canary = world_parts
    w = World(mgr, other, glsl_file, data)
    for call in data.draw(st.lists(st.sampled_from(CALLS), min_size=1, max_size=3), label="calls"):
        w.all_valid = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's, for casts such as NaN to int
            try:
                call(w)
            except kp.KomputeError:
                pass
        assert kp.vk.take_validation_messages() == []
    # nothing reached the canary: its host data, and its device memory read back into a new tensor
    assert canary.data().tolist() == CANARY
    copy = mgr.tensor([0, 0, 0])
    mgr.sequence().eval(kp.OpCopy([canary, copy])).eval(kp.OpSyncLocal([copy]))
    assert copy.data().tolist() == CANARY
