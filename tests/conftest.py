"""Every test runs on a real Vulkan device (lavapipe in CI) under the Khronos
validation layer, synchronization validation included; a validation message
fails the test that caused it."""

import os
import sys
import tempfile

os.environ.setdefault("KP_VALIDATION", "1")
os.environ.setdefault("KP_CACHE_DIR", tempfile.mkdtemp(prefix="kp-test-cache-"))
# One instance serves the whole run: a layer that stopped repeating a message after
# its tenth time would let later tests pass silently (newer layers spell it apart).
os.environ.setdefault("VK_LAYER_DUPLICATE_MESSAGE_LIMIT", "1000000000")
os.environ.setdefault("VK_KHRONOS_VALIDATION_ENABLE_MESSAGE_LIMIT", "0")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import kp  # noqa: E402


@pytest.fixture(autouse=True)
def no_validation_messages():
    kp.vk.take_validation_messages()
    yield
    messages = kp.vk.take_validation_messages()
    assert not messages, "Vulkan validation layer reported:\n" + "\n".join(messages)


@pytest.fixture
def mgr():
    manager = kp.Manager()
    yield manager
    manager.destroy()


@pytest.fixture(params=["unified", "staging"])
def any_mgr(request, monkeypatch):
    """A manager in each memory mode: unified (the host maps device memory where
    the device allows it) and staging (device memory plus a host staging copy)."""
    monkeypatch.setenv("KP_DISABLE_UMA", "1" if request.param == "staging" else "0")
    manager = kp.Manager()
    yield manager
    manager.destroy()


TESTS = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(TESTS), "src")


def child_env(**overrides: str) -> dict:
    """The environment for a test's child interpreter: kp from this checkout and
    the tests' helpers first, then every package this interpreter can import."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join([SRC, TESTS, *sys.path]), **overrides)


# Each invocation runs a dependent chain of `rounds` multiply-adds, converging on
# 1e6 (past 50,000 after 60,000 rounds). llvmpipe caps a loop at 65535 iterations;
# a GPU gets enough rounds to take tens of milliseconds too.
SLOW_GLSL = """
#version 450
layout(local_size_x = 64) in;
layout(push_constant) uniform P { uint rounds; };
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() {
    float x = a[gl_GlobalInvocationID.x];
    for (uint k = 0u; k < rounds; k++) x = x * 0.999999 + 1.0;
    a[gl_GlobalInvocationID.x] = x;
}
"""


def slow_rounds(mgr) -> int:
    return 60_000 if mgr.get_device_properties()["device_type"] == "cpu" else 20_000_000


def slow_algorithm(mgr, tensor):
    """An algorithm over ``tensor`` that runs for tens of milliseconds on any device."""
    return mgr.algorithm([tensor], SLOW_GLSL, push_consts=np.array([slow_rounds(mgr)], np.uint32))


def run(mgr, *ops):
    """Record ``ops`` on a new sequence and evaluate it."""
    seq = mgr.sequence()
    for op in ops:
        seq.record(op)
    return seq.eval()


MULTIPLY_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(set = 0, binding = 1) buffer B { float b[]; };
layout(set = 0, binding = 2) buffer C { float c[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    c[i] = a[i] * b[i];
}
"""


@pytest.fixture
def multiply_spirv():
    return kp.shader.compile_source(MULTIPLY_GLSL)


def assert_close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-6)
