"""What a shader declares decides what it is given: push constants take the
declared member types, tensors must hold the element type of their binding,
shared memory must fit the device, a shader sees each tensor's own length, and
extension capabilities need their extension enabled."""

import sys

import numpy as np
import pytest

import kp
from conftest import run
from test_reliability_threads import in_threads

# A tiled-matmul-like header: integer sizes and a float factor.
MIXED_PUSH_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(push_constant) uniform P { int rows; uint cols; float scale; ivec2 origin; } p;
layout(set = 0, binding = 0) buffer Out { float result[]; };
void main() {
    result[0] = float(p.rows);
    result[1] = float(p.cols);
    result[2] = p.scale;
    result[3] = float(p.origin.x);
    result[4] = float(p.origin.y);
}
"""

VALUE_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(push_constant) uniform P { uint value; } p;
layout(set = 0, binding = 0) buffer Out { uint result[]; };
void main() { result[0] = p.value; }
"""


def evaluate(mgr, algorithm, *push_consts):
    """Dispatch ``algorithm`` (with ``push_consts`` if given) and read its first tensor back."""
    out = algorithm.get_tensors()[0]
    run(mgr, kp.OpAlgoDispatch(algorithm, *push_consts), kp.OpSyncLocal([out]))
    return out.data().tolist()


# -- push constants ----------------------------------------------------------------------

def test_list_push_constants_take_the_declared_member_types(mgr):
    out = mgr.tensor(np.zeros(5))
    algorithm = mgr.algorithm([out], MIXED_PUSH_GLSL, push_consts=[5, 7, 0.5, -3, 4])
    assert evaluate(mgr, algorithm) == [5, 7, 0.5, -3, 4]


def test_dispatch_list_push_constants_take_the_declared_member_types(mgr):
    out = mgr.tensor(np.zeros(5))
    algorithm = mgr.algorithm([out], MIXED_PUSH_GLSL, push_consts=[0, 0, 0, 0, 0])
    assert evaluate(mgr, algorithm, (64, 32, 2, 1, -1)) == [64, 32, 2, 1, -1]


def test_numpy_push_constants_keep_their_bytes(mgr):
    out = mgr.tensor(np.zeros(5))
    raw = np.array([5, 7, 0, 0, -3, 4], np.int32)  # origin is aligned to 8 bytes: one word of padding
    raw[2:3] = np.array([0.5], np.float32).view(np.int32)
    algorithm = mgr.algorithm([out], MIXED_PUSH_GLSL, push_consts=raw)
    assert evaluate(mgr, algorithm) == [5, 7, 0.5, -3, 4]
    assert evaluate(mgr, algorithm, raw.tobytes()) == [5, 7, 0.5, -3, 4]


@pytest.mark.parametrize("values, member", [
    ([2 ** 40, 1, 0.5, 0, 0], "rows"),      # past int32
    ([1, -1, 0.5, 0, 0], "cols"),           # negative for a uint
    ([1.5, 1, 0.5, 0, 0], "rows"),          # not a whole number for an int
    ([1, 1, 1e40, 0, 0], "scale"),          # past float32
    ([1, 1, "half", 0, 0], "scale"),
    ([1, 1, 0.5, 0, 2 ** 31], r"origin\[1\]"),
])
def test_push_constant_that_does_not_fit_its_member_names_it(mgr, values, member):
    out = mgr.tensor(np.zeros(5))
    with pytest.raises(kp.InvalidArgumentError, match=f"push constant {member} "):
        mgr.algorithm([out], MIXED_PUSH_GLSL, push_consts=values)
    algorithm = mgr.algorithm([out], MIXED_PUSH_GLSL, push_consts=[1, 2, 3, 4, 5])
    with pytest.raises(kp.InvalidArgumentError, match=f"push constant {member} "):
        kp.OpAlgoDispatch(algorithm, values)


@pytest.mark.parametrize("values", [[1, 2, 3, 4], [1, 2, 3, 4, 5, 6]])
def test_push_constant_list_needs_one_value_per_scalar(mgr, values):
    with pytest.raises(kp.InvalidArgumentError, match=f"5 values.* but {len(values)} values were given"):
        mgr.algorithm([mgr.tensor(np.zeros(5))], MIXED_PUSH_GLSL, push_consts=values)


def test_threads_recording_one_algorithm_each_push_their_own_constants(mgr):
    out = mgr.tensor_t(np.zeros(1, np.uint32))
    algorithm = mgr.algorithm([out], VALUE_GLSL, push_consts=[0])
    threads, per_thread = 4, 50
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads interleave every few bytecodes, as under real load
    try:
        recorded = in_threads(lambda i: [
            mgr.sequence().record(kp.OpAlgoDispatch(algorithm, [i + 1])).record(kp.OpSyncLocal([out]))
            for _ in range(per_thread)], threads)
    finally:
        sys.setswitchinterval(switch_interval)
    for i, sequences in enumerate(recorded):
        for seq in sequences:
            seq.eval()
            assert out.data().tolist() == [i + 1]


# -- tensor element types ------------------------------------------------------------------

COPY_FLOATS_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer In { float values[]; };
layout(set = 0, binding = 1) buffer Out { float copied[]; };
void main() { copied[gl_GlobalInvocationID.x] = values[gl_GlobalInvocationID.x]; }
"""

NEGATE_INTS_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer Values { int values[]; };
void main() { values[gl_GlobalInvocationID.x] = -values[gl_GlobalInvocationID.x]; }
"""

DOUBLE_VEC4_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer Values { vec4 values[]; };
void main() { values[gl_GlobalInvocationID.x] *= 2.0; }
"""


@pytest.mark.parametrize("dtype", [np.int64, np.float64, np.float16, np.uint8])
def test_tensor_of_another_element_width_than_its_binding_is_refused(mgr, dtype):
    values, copied = mgr.tensor_t(np.array([1, 2, 2, 3], dtype)), mgr.tensor(np.zeros(4))
    with pytest.raises(kp.DataTypeError, match=f"binding 0 \\(In\\) has float32 .* holds {np.dtype(dtype).name}"):
        mgr.algorithm([values, copied], COPY_FLOATS_GLSL)


def test_same_width_of_another_kind_shares_bits_with_a_warning(mgr, caplog):
    # Kompute reads the bits as the shader's type (its own suite checks that an
    # uint32 tensor bound to float[] gives other numbers); kp does too, not silently.
    values, copied = mgr.tensor_t(np.array([1, 2], np.int32)), mgr.tensor(np.zeros(2))
    algorithm = mgr.algorithm([values, copied], COPY_FLOATS_GLSL)
    assert "binding 0 (In) has float32 elements in the shader, but tensor 0 holds int32" in caplog.text
    run(mgr, kp.OpSyncDevice([values]), kp.OpAlgoDispatch(algorithm), kp.OpSyncLocal([copied]))
    assert copied.data().tobytes() == np.array([1, 2], np.int32).tobytes()


def test_integers_of_the_same_width_and_other_signedness_share_bits(mgr):
    values = mgr.tensor_t(np.array([1, 2, 0xFFFFFFFF], np.uint32))
    algorithm = mgr.algorithm([values], NEGATE_INTS_GLSL)
    run(mgr, kp.OpSyncDevice([values]), kp.OpAlgoDispatch(algorithm), kp.OpSyncLocal([values]))
    assert values.data().tolist() == [0xFFFFFFFF, 0xFFFFFFFE, 1]


def test_float_tensor_bound_to_vectors_of_floats(mgr):
    values = mgr.tensor(np.arange(8))
    algorithm = mgr.algorithm([values], DOUBLE_VEC4_GLSL, workgroup=(2, 1, 1))
    run(mgr, kp.OpSyncDevice([values]), kp.OpAlgoDispatch(algorithm), kp.OpSyncLocal([values]))
    assert values.data().tolist() == [0, 2, 4, 6, 8, 10, 12, 14]


def test_bool_tensor_is_bytes_to_a_shader(mgr):
    flags = mgr.tensor_t(np.array([True, False, True, False]))
    algorithm = mgr.algorithm([flags], """
#version 450
#extension GL_EXT_shader_8bit_storage : require
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer Flags { uint8_t flags[]; };
void main() { flags[gl_GlobalInvocationID.x] = uint8_t(1u - uint(flags[gl_GlobalInvocationID.x])); }
""")
    run(mgr, kp.OpSyncDevice([flags]), kp.OpAlgoDispatch(algorithm), kp.OpSyncLocal([flags]))
    assert flags.data().tolist() == [False, True, False, True]
    with pytest.raises(kp.DataTypeError, match="binding 0 .* int32 .* bool"):
        mgr.algorithm([flags], NEGATE_INTS_GLSL)


# -- shared memory ----------------------------------------------------------------------

SHARED_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const uint TILE = 16;
shared float tile[TILE];
shared uint counts[1000];
layout(set = 0, binding = 0) buffer Out { float result[]; };
void main() {
    tile[0] = 1.5;
    counts[0] = 2u;
    barrier();
    result[0] = tile[0] * float(counts[0]);
}
"""


def test_shared_memory_over_the_device_limit_is_refused(mgr):
    limit = mgr.get_device_properties()["max_shared_memory_size"]
    over = limit // 4 + 1
    with pytest.raises(kp.InvalidArgumentError, match=f"{4 * over + 64} bytes of shared memory.* {limit}"):
        mgr.algorithm([mgr.tensor([0])], SHARED_GLSL.replace("counts[1000]", f"counts[{over}]"))


def test_shared_memory_counts_specialised_array_lengths(mgr):
    limit = mgr.get_device_properties()["max_shared_memory_size"]
    tile = limit // 4
    with pytest.raises(kp.InvalidArgumentError, match=f"{4 * tile + 4000} bytes of shared memory"):
        mgr.algorithm([mgr.tensor([0])], SHARED_GLSL, spec_consts=[tile])
    assert evaluate(mgr, mgr.algorithm([mgr.tensor([0])], SHARED_GLSL, spec_consts=[tile - 1000])) == [3]


# -- tensor lengths ------------------------------------------------------------------------

LENGTH_GLSL = """
#version 450
#extension GL_EXT_shader_8bit_storage : require
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer Bytes { uint8_t bytes[]; };
layout(set = 0, binding = 1) buffer Length { uint length_of_bytes[]; };
void main() { length_of_bytes[0] = uint(bytes.length()); }
"""


@pytest.mark.parametrize("count", [1, 2, 3])
def test_shader_sees_the_length_of_a_small_8_bit_tensor(mgr, count):
    if not mgr.get_device_properties()["features"].get("storageBuffer8BitAccess"):
        pytest.skip("the device cannot bind 8-bit storage buffers")
    data, length = mgr.tensor_t(np.arange(count, dtype=np.uint8)), mgr.tensor_t(np.zeros(1, np.uint32))
    algorithm = mgr.algorithm([data, length], LENGTH_GLSL)
    run(mgr, kp.OpAlgoDispatch(algorithm), kp.OpSyncLocal([length]))
    assert length.data().tolist() == [count]


# -- extensions ------------------------------------------------------------------------------

ATOMIC_FLOAT_GLSL = """
#version 450
#extension GL_EXT_shader_atomic_float : require
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) buffer In { float x[]; };
layout(set = 0, binding = 1) buffer Sum { float total[]; };
void main() { atomicAdd(total[0], x[gl_GlobalInvocationID.x]); }
"""

ATOMIC_FLOAT_MIN_GLSL = """
#version 450
#extension GL_EXT_shader_atomic_float2 : require
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) buffer In { float x[]; };
layout(set = 0, binding = 1) buffer Least { float least[]; };
void main() { atomicMin(least[0], x[gl_GlobalInvocationID.x]); }
"""


def needs_feature(feature):
    if not kp.list_devices()[0]["features"].get(feature):
        pytest.skip(f"device 0 lacks {feature}")


def test_float_atomics_run_where_the_device_has_them(mgr):
    # kp enables VK_EXT_shader_atomic_float(2) wherever the device has them
    needs_feature("shaderBufferFloat32AtomicAdd")
    x, total = mgr.tensor(np.full(256, 0.5)), mgr.tensor([0])
    algorithm = mgr.algorithm([x, total], ATOMIC_FLOAT_GLSL)
    run(mgr, kp.OpSyncDevice([x, total]), kp.OpAlgoDispatch(algorithm), kp.OpSyncLocal([total]))
    assert total.data().tolist() == [128]


def test_float_atomic_min_runs_where_the_device_has_it(mgr):
    needs_feature("shaderBufferFloat32AtomicMinMax")
    x, least = mgr.tensor(np.linspace(3, -3, 64)), mgr.tensor([100])
    algorithm = mgr.algorithm([x, least], ATOMIC_FLOAT_MIN_GLSL)
    run(mgr, kp.OpSyncDevice([x, least]), kp.OpAlgoDispatch(algorithm), kp.OpSyncLocal([least]))
    assert least.data().tolist() == [-3]
