"""What a shader declares decides what it is given: push constants take the
declared member types, and each dispatch pushes its own."""

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
