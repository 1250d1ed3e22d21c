"""Every test runs on a real Vulkan device (lavapipe in CI) under the Khronos
validation layer, synchronization validation included; a validation message
fails the test that caused it."""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KP_VALIDATION", "1")
os.environ.setdefault("KP_CACHE_DIR", tempfile.mkdtemp(prefix="kp-test-cache-"))
# One instance serves the whole run: a layer that stopped repeating a message after
# its tenth time would let later tests pass silently (newer layers spell it apart).
os.environ.setdefault("VK_LAYER_DUPLICATE_MESSAGE_LIMIT", "1000000000")
os.environ.setdefault("VK_KHRONOS_VALIDATION_ENABLE_MESSAGE_LIMIT", "0")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

import kp  # noqa: E402

# "ci", the default: the same examples on every run, so a green run can be repeated
# (a failure prints the blob that replays it). "random": new examples each run, five
# times as many; choose it with --hypothesis-profile=random or
# KP_HYPOTHESIS_PROFILE=random. Tests' own @settings(...) inherit what they do not
# set (derandomize among it) from the profile loaded when their module is imported,
# and take their max_examples from examples() below.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("random", derandomize=False, deadline=None, print_blob=True, max_examples=500,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("KP_HYPOTHESIS_PROFILE", "ci"))


def examples(count: int) -> int:
    """A test's own number of examples: ``count`` in the "ci" profile, five times as
    many in "random" (in proportion to the profile's max_examples, 100 by default)."""
    return max(1, count * settings.default.max_examples // 100)


@pytest.fixture(autouse=True)
def no_validation_messages():
    kp.vk.take_validation_messages()
    yield
    messages = kp.vk.take_validation_messages()
    assert not messages, "Vulkan validation layer reported:\n" + "\n".join(messages)


MEMORY_MODES = ("unified", "staging")


def pytest_configure(config):
    config.addinivalue_line("markers", "memory_modes(*modes): run the test only in these of MEMORY_MODES")


def pytest_generate_tests(metafunc):
    """Every test that makes a manager (through ``mgr``, or itself after asking for
    ``memory_mode``) runs once in each memory mode, unless it names its modes with
    ``@pytest.mark.memory_modes("unified")``."""
    if "memory_mode" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("memory_modes")
        metafunc.parametrize("memory_mode", marker.args if marker else MEMORY_MODES, indirect=True)


@pytest.fixture
def memory_mode(request, monkeypatch):
    """The memory mode of the managers the test makes: "unified", where the host maps
    device memory if the device allows it (CPUs, integrated GPUs) and syncs are
    no-ops, or "staging", device memory plus a host copy, as on every discrete GPU."""
    monkeypatch.setenv("KP_DISABLE_UMA", "1" if request.param == "staging" else "0")
    return request.param


@pytest.fixture
def mgr(memory_mode):
    manager = kp.Manager()
    yield manager
    manager.destroy()


@pytest.fixture
def any_mgr(mgr):
    """The same manager as ``mgr`` (the name of the tests that ran in both modes first)."""
    return mgr


TESTS = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(TESTS), "src")


def child_env(**overrides: str) -> dict:
    """The environment for a test's child interpreter: kp from this checkout and
    the tests' helpers first, then every package this interpreter can import."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join([SRC, TESTS, *sys.path]), **overrides)


# a child's first line: SIGUSR1 makes it (and any process it forks) print its threads' stacks
STACKS_ON_SIGUSR1 = "import faulthandler, signal; faulthandler.register(signal.SIGUSR1, all_threads=True)\n"


def stacks_then_kill(child: subprocess.Popen) -> tuple[str, str]:
    """Ask a stuck child started in a session of its own (``start_new_session=True``)
    and with STACKS_ON_SIGUSR1 (or its own faulthandler registration), and what it
    forked, for their stacks; end them all; their output."""
    os.killpg(child.pid, signal.SIGUSR1)
    time.sleep(1)
    os.killpg(child.pid, signal.SIGKILL)
    return child.communicate()


def run_python(code: str, timeout: float, env: dict, *args: str) -> subprocess.CompletedProcess:
    """``code`` (with ``args`` as sys.argv[1:]) in a child interpreter. One that runs
    past ``timeout`` seconds fails the test with the Python stacks of the child and
    of the processes it forked, so a hang says where it is."""
    child = subprocess.Popen([sys.executable, "-c", STACKS_ON_SIGUSR1 + code, *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stdout, stderr = stacks_then_kill(child)
        pytest.fail(f"a child interpreter ran past {timeout} s; its threads:\n{stderr}\n{stdout}", pytrace=False)
    with contextlib.suppress(ProcessLookupError):  # what it forked and left running (the group is its own)
        os.killpg(child.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


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
