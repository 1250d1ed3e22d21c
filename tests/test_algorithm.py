"""Algorithms: a shader, its tensors, workgroup count and constants."""

import threading

import numpy as np
import pytest

import kp
from conftest import MULTIPLY_GLSL, run

# Every invocation records its global id; out-of-range ones count themselves.
IDS_GLSL = """
#version 450
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) buffer Ids { uint ids[]; };
layout(set = 0, binding = 1) buffer Count { uint count[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    atomicAdd(count[0], 1u);
    if (i < ids.length()) ids[i] = i + 1u;
}
"""

SPEC_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const float scale = 1.0;
layout(constant_id = 1) const int offset = 0;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] = a[gl_GlobalInvocationID.x] * scale + float(offset); }
"""

PUSH_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(push_constant) uniform P { float scale; float offset; } p;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] = a[gl_GlobalInvocationID.x] * p.scale + p.offset; }
"""

PUSH_UINT_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(push_constant) uniform P { uint value; } p;
layout(set = 0, binding = 0) buffer A { uint a[]; };
void main() { a[gl_GlobalInvocationID.x] = p.value; }
"""

# local_size_x comes from specialisation constant 0.
SPEC_LOCAL_SIZE_GLSL = """
#version 450
layout(local_size_x_id = 0) in;
layout(set = 0, binding = 0) buffer Count { uint count[]; };
void main() { atomicAdd(count[0], 1u); }
"""

# Counts invocations per axis: the workgroup's shape is visible in the result.
GRID_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer Count { uint count[]; };
void main() {
    atomicAdd(count[0], 1u);
    atomicMax(count[1], gl_GlobalInvocationID.y + 1u);
    atomicMax(count[2], gl_GlobalInvocationID.z + 1u);
}
"""


def dispatch(mgr, algo):
    run(mgr, kp.OpSyncDevice(algo.get_tensors()), kp.OpAlgoDispatch(algo), kp.OpSyncLocal(algo.get_tensors()))


def test_multiply(mgr, multiply_spirv):
    a, b, out = mgr.tensor([1, 2, 3]), mgr.tensor([2, 3, 4]), mgr.tensor([0, 0, 0])
    algo = mgr.algorithm([a, b, out], multiply_spirv)
    assert algo.is_init()
    dispatch(mgr, algo)
    assert out.data().tolist() == [2, 6, 12]


@pytest.mark.parametrize("form", ["str", "bytes", "chars"])
def test_glsl_is_accepted_wherever_spirv_is(mgr, form):
    shader = {"str": MULTIPLY_GLSL, "bytes": MULTIPLY_GLSL.encode(), "chars": list(MULTIPLY_GLSL)}[form]
    a, b, out = mgr.tensor([3, 4]), mgr.tensor([5, 6]), mgr.tensor([0, 0])
    dispatch(mgr, mgr.algorithm([a, b, out], shader))
    assert out.data().tolist() == [15, 24]


def test_compile_source_returns_spirv():
    spirv = kp.shader.compile_source(MULTIPLY_GLSL)
    assert isinstance(spirv, bytes) and spirv[:4] == b"\x03\x02\x23\x07" and len(spirv) % 4 == 0


def test_default_workgroup_uses_the_shaders_local_size(mgr):
    ids, count = mgr.tensor_t(np.zeros(100, np.uint32)), mgr.tensor_t(np.zeros(1, np.uint32))
    algo = mgr.algorithm([ids, count], IDS_GLSL)
    assert algo.get_workgroup() == (2, 1, 1)
    dispatch(mgr, algo)
    assert count.data()[0] == 128
    assert ids.data().tolist() == list(range(1, 101))


def test_local_size_from_a_specialisation_constant(mgr):
    count = mgr.tensor_t(np.zeros(40, np.uint32))
    algo = mgr.algorithm([count], SPEC_LOCAL_SIZE_GLSL, spec_consts=np.array([16], np.uint32))
    assert algo.get_workgroup() == (3, 1, 1)
    dispatch(mgr, algo)
    assert count.data()[0] == 48


@pytest.mark.parametrize("workgroup, shape, invocations", [
    ((3, 2, 2), (3, 2, 2), 12),
    ((5, 0, 0), (5, 1, 1), 5),  # Kompute: y and z of 0 mean 1
    ([4, 2], (4, 2, 1), 8),
    ((0, 0, 0), (4, 1, 1), 4),  # Kompute: all zero means the default
    (None, (4, 1, 1), 4),
])
def test_workgroup_is_the_number_of_workgroups(mgr, workgroup, shape, invocations):
    count = mgr.tensor_t(np.zeros(4, np.uint32))
    algo = mgr.algorithm([count], GRID_GLSL, workgroup)
    assert algo.get_workgroup() == shape
    dispatch(mgr, algo)
    assert count.data()[:3].tolist() == [invocations, shape[1], shape[2]]


def test_specialisation_constants_by_id(mgr):
    a = mgr.tensor([1, 2, 3])
    dispatch(mgr, mgr.algorithm([a], SPEC_GLSL, spec_consts=[2.5, 10]))
    assert a.data().tolist() == [12.5, 15, 17.5]


def test_specialisation_constants_default_to_the_shaders(mgr):
    a = mgr.tensor([1, 2, 3])
    dispatch(mgr, mgr.algorithm([a], SPEC_GLSL, spec_consts=[3.0]))
    assert a.data().tolist() == [3, 6, 9]


def test_push_constants_list_is_float32(mgr):
    a = mgr.tensor([1, 2, 3])
    dispatch(mgr, mgr.algorithm([a], PUSH_GLSL, push_consts=[2, 0.5]))
    assert a.data().tolist() == [2.5, 4.5, 6.5]


def test_push_constants_keep_the_numpy_dtype(mgr):
    a = mgr.tensor_t(np.zeros(2, np.uint32))
    dispatch(mgr, mgr.algorithm([a], PUSH_UINT_GLSL, push_consts=np.array([4000000007], np.uint32)))
    assert a.data().tolist() == [4000000007, 4000000007]


def test_dispatch_push_constants_replace_the_algorithms(mgr):
    a = mgr.tensor([1, 1])
    algo = mgr.algorithm([a], PUSH_GLSL, push_consts=[1, 1])
    run(mgr, kp.OpSyncDevice([a]), kp.OpAlgoDispatch(algo, [10, 0]), kp.OpSyncLocal([a]))
    assert a.data().tolist() == [10, 10]
    run(mgr, kp.OpAlgoDispatch(algo), kp.OpSyncLocal([a]))  # the override persists
    assert a.data().tolist() == [100, 100]


def test_each_dispatch_pushes_its_own_constants(mgr):
    a = mgr.tensor([1, 2])
    algo = mgr.algorithm([a], PUSH_GLSL, push_consts=[1, 0])
    run(mgr, kp.OpSyncDevice([a]), kp.OpAlgoDispatch(algo, [2, 0]), kp.OpAlgoDispatch(algo, [1, 3]),
        kp.OpSyncLocal([a]))
    assert a.data().tolist() == [5, 7]


def test_get_tensors_and_mem_objects(mgr, multiply_spirv):
    tensors = [mgr.tensor([1]), mgr.tensor([2]), mgr.tensor([3])]
    algo = mgr.algorithm(tensors, multiply_spirv)
    assert algo.get_tensors() == tensors
    assert algo.get_mem_objects() == tensors


def test_destroy_waits_for_a_recording_that_holds_the_device_lock(mgr, multiply_spirv):
    # A sequence records a dispatch under the device lock, from checking the algorithm
    # to recording it: a destroy() from another thread meanwhile must not leave the
    # algorithm half destroyed (no pipeline, not yet destroyed) for the recording to see.
    a, b, out = mgr.tensor([2]), mgr.tensor([3]), mgr.tensor([0])
    algo = mgr.algorithm([a, b, out], multiply_spirv)
    sequence = mgr.sequence()
    with mgr.vk_device.lock:
        destroyer = threading.Thread(target=algo.destroy)
        destroyer.start()
        destroyer.join(0.2)  # it blocks on the lock (a half destroy would be visible by now)
        sequence.record(kp.OpAlgoDispatch(algo))  # records the intact algorithm
    destroyer.join()
    assert not algo.is_init()
    with pytest.raises(kp.DestroyedError):
        sequence.eval()


def test_empty_algorithm_is_not_init(mgr):
    algo = mgr.algorithm()
    assert not algo.is_init() and algo.get_tensors() == []


def test_destroy(mgr, multiply_spirv):
    a, b, out = mgr.tensor([2]), mgr.tensor([3]), mgr.tensor([0])
    algo = mgr.algorithm([a, b, out], multiply_spirv)
    algo.destroy()
    assert not algo.is_init()
    algo.destroy()
    with pytest.raises(kp.DestroyedError):
        mgr.sequence().record(kp.OpAlgoDispatch(algo))
    assert a.is_init()  # the algorithm does not own its tensors
    dispatch(mgr, mgr.algorithm([a, b, out], multiply_spirv))
    assert out.data().tolist() == [6]
