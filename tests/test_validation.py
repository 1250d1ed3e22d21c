"""The validation layer the suite runs under really reports hazards: the suite's
silence about synchronization means something only if a missing barrier is heard."""

import pytest

import kp
from kp.vk.instance import sync_validation_enabled
from conftest import run

PLUS_ONE_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(set = 0, binding = 1) buffer B { float b[]; };
void main() { b[gl_GlobalInvocationID.x] = a[gl_GlobalInvocationID.x] + 1.0; }
"""


@pytest.mark.skipif(not sync_validation_enabled(), reason="needs KP_VALIDATION=1 (and not KP_VALIDATION_SYNC=0)")
def test_sync_validation_reports_a_dispatch_reading_an_unsynchronized_write(mgr):
    if not kp.vk.shared_instance().validation:
        pytest.skip("the Khronos validation layer is not installed")
    # The second dispatch hides its accesses from kp, which then puts no barrier
    # before it: the first dispatch's write of b is never made available to it.
    class Hidden(kp.OpAlgoDispatch):
        def accesses(self):
            return []

    a, b, c = mgr.tensor([1, 2, 3]), mgr.tensor([0, 0, 0]), mgr.tensor([0, 0, 0])
    run(mgr, kp.OpAlgoDispatch(mgr.algorithm([a, b], PLUS_ONE_GLSL)), Hidden(mgr.algorithm([b, c], PLUS_ONE_GLSL)))
    messages = kp.vk.take_validation_messages()
    assert any("SYNC-HAZARD-READ-AFTER-WRITE" in m and "vkCmdDispatch" in m for m in messages), messages
