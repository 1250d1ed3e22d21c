"""Interpreter exit with live objects of every kind, one sequence still running
asynchronously: the process exits with code 0 and prints nothing on stderr."""

import subprocess
import sys
import textwrap

import pytest

from conftest import MULTIPLY_GLSL, SLOW_GLSL, child_env


EVERY_KIND = f"""
    import gc, os, sys, threading
    import numpy as np
    import kp

    kp.log_level(3)  # warnings, validation messages among them, go to stderr
    mgr = kp.Manager()
    spirv = kp.shader.compile_source({MULTIPLY_GLSL!r})
    tensors = [mgr.tensor([1, 2, 3], kind) for kind in kp.MemoryTypes]
    ints = mgr.tensor_t(np.arange(3, dtype=np.int64), kp.MemoryTypes.host)
    a, b, out = (tensors[list(kp.MemoryTypes).index(kind)] for kind in (kp.device, kp.host, kp.deviceAndHost))
    algorithm = mgr.algorithm([a, b, out], spirv)
    timed = mgr.sequence(total_timestamps=4).record(kp.OpSyncDevice([a, b])).record(kp.OpAlgoDispatch(algorithm))
    timed.record(kp.OpSyncLocal([out])).eval()
    assert out.data().tolist() == [1, 4, 9]
    recorded = mgr.sequence().record(kp.OpCopy([a, b]))  # recorded, never evaluated
    views = [t.data() for t in tensors if t.memory_type() != kp.MemoryTypes.storage]

    seed = [kp.Tensor([1, 2]), kp.Tensor([3, 4]), kp.Tensor([0, 0])]
    pending = kp.Tensor([5])  # never created on a device
    mgr.eval_tensor_create_def(seed)
    named = mgr.create_sequence("named")
    named.begin()
    named.record_algo_mult(seed)
    named.end()
    mgr.eval_async_tensor_sync_local_def([seed[2]])  # an anonymous sequence, never awaited

    other = kp.Manager()
    gone = other.tensor([1])
    other.destroy()
    dropped = kp.Manager()
    dropped.tensor([7, 8])
    del dropped

    slow = mgr.tensor(np.zeros(4096), kp.MemoryTypes.host)
    running = mgr.sequence().record(kp.OpAlgoDispatch(mgr.algorithm([slow], {SLOW_GLSL!r}, push_consts=np.array([60_000], np.uint32))))
    running.eval_async()
    assert running.is_running()
"""

ENDINGS = {
    "falls off the end": "",
    "sys.exit(0)": "sys.exit(0)",
    "in a reference cycle": """
        cycle = {"mgr": mgr, "seq": running, "view": views[0]}
        cycle["self"] = cycle
        del mgr, running, views, tensors, a, b, out, algorithm, timed, recorded, slow
        gc.disable()
    """,
    "a daemon thread is evaluating": """
        def evaluate():
            seq = mgr.sequence().record(kp.OpAlgoDispatch(mgr.algorithm([slow], {slow!r}, push_consts=np.array([60_000], np.uint32))))
            started.set()
            while True:
                seq.eval()
        started = threading.Event()
        threading.Thread(target=evaluate, daemon=True).start()
        started.wait()
    """.replace("{slow!r}", repr(SLOW_GLSL)),
    "a daemon thread is awaiting": """
        def wait():
            started.set()
            running.eval_await()
        started = threading.Event()
        threading.Thread(target=wait, daemon=True).start()
        started.wait()
    """,
}


@pytest.mark.parametrize("ending", list(ENDINGS), ids=list(ENDINGS))
def test_interpreter_exit_with_everything_alive(memory_mode, ending):
    code = textwrap.dedent(EVERY_KIND) + textwrap.dedent(ENDINGS[ending])
    env = child_env(KP_VALIDATION="1", PYTHONFAULTHANDLER="1")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
