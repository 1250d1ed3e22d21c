"""The reliability issue's reproductions, as figures: run on any device, print one
line each. Not a test (the suite checks the behaviour); this measures it.

    python benchmarks/reliability_figures.py [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import threading
import time

import numpy as np

import kp

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

INCREMENT_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] += 1.0; }
"""

INT_PUSH_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(push_constant) uniform P { int n; int m; };
layout(set = 0, binding = 0) buffer A { int a[]; };
void main() { a[0] = n; a[1] = m; }
"""


def slow_sequence(mgr, seconds: float = 0.07):
    """A sequence over a scratch tensor that runs for about ``seconds``."""
    scratch = mgr.tensor(np.zeros(4096), kp.MemoryTypes.storage)
    rounds = 1000
    while True:
        algo = mgr.algorithm([scratch], SLOW_GLSL, push_consts=np.array([rounds], np.uint32))
        seq = mgr.sequence().record(kp.OpAlgoDispatch(algo))
        start = time.perf_counter()
        seq.eval()
        took = time.perf_counter() - start
        if took >= seconds or rounds > 2**31 // 4:
            return seq, took
        rounds = int(rounds * min(16, max(2, seconds / max(took, 1e-6))))


def destroy_behind_running_work(mgr) -> dict:
    seq, took = slow_sequence(mgr)
    figures = {"running_sequence_ms": took * 1e3}
    for kind in ("tensor", "algorithm", "sequence"):
        unused = mgr.tensor([1, 2, 3])
        obj = {"tensor": unused, "algorithm": mgr.algorithm([unused], INCREMENT_GLSL),
               "sequence": mgr.sequence()}[kind]
        seq.eval_async()
        start = time.perf_counter()
        obj.destroy()
        figures[f"destroy_unused_{kind}_ms"] = (time.perf_counter() - start) * 1e3
        seq.eval_await()
    return figures


def in_thread(work, timeout: float = 30.0):
    """``work()``'s result, or 'hung' after ``timeout`` seconds."""
    result = ["hung"]

    def target():
        try:
            result[0] = work()
        except kp.KomputeError as exc:
            result[0] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    return result[0]


def queue_handover() -> object:
    families = [f for f in kp.list_devices()[0]["queue_families"] if f["compute"]]
    if len(families) < 2:
        return "skipped: one compute family"

    def work():
        mgr = kp.Manager(0, [families[0]["index"], families[1]["index"]])
        t = mgr.tensor(np.zeros(64))
        algo = mgr.algorithm([t], INCREMENT_GLSL)
        first = mgr.sequence(0).record(kp.OpSyncDevice([t])).record(kp.OpAlgoDispatch(algo))
        first.eval()
        first.destroy()
        mgr.sequence(1).record(kp.OpAlgoDispatch(algo)).record(kp.OpSyncLocal([t])).eval()
        values = t.data().tolist()
        mgr.destroy()
        return "ok" if values == [2.0] * 64 else f"wrong: {values[:4]}"

    return in_thread(work)


def timestamps_never_evaluated(mgr) -> object:
    t = mgr.tensor([1, 2, 3])
    seq = mgr.sequence(total_timestamps=4).record(kp.OpSyncDevice([t]))
    return in_thread(seq.get_timestamps, 10)


def int_push_constants(mgr) -> list:
    t = mgr.tensor_t(np.zeros(2, np.int32))
    mgr.sequence().record(kp.OpAlgoDispatch(mgr.algorithm([t], INT_PUSH_GLSL, push_consts=[5, 7]))) \
        .record(kp.OpSyncLocal([t])).eval()
    return t.data().tolist()


def copy_then_dispatch(mgr) -> list:
    a, b = mgr.tensor([1, 2, 3]), mgr.tensor([0, 0, 0])
    mgr.sequence().record(kp.OpSyncDevice([a])).record(kp.OpCopy([a, b])) \
        .record(kp.OpAlgoDispatch(mgr.algorithm([b], INCREMENT_GLSL))).record(kp.OpSyncLocal([b])).eval()
    return b.data().tolist()


def tensors_in_cycles(mgr, count: int = 20000) -> float:
    start = time.perf_counter()
    for _ in range(count):
        t = mgr.tensor(np.zeros(16, np.float32))
        cycle = [t]
        cycle.append(cycle)
    gc.collect()
    return time.perf_counter() - start


def algorithm_churn_rss(mgr, count: int = 1000) -> float:
    """Resident memory growth, in kB, per algorithm made and destroyed (never used)."""
    t = mgr.tensor(np.zeros(16))
    spirv = kp.shader.compile_source(INCREMENT_GLSL)

    def rss() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096 / 1e3

    for _ in range(100):
        mgr.algorithm([t], spirv).destroy()
    before = rss()
    for _ in range(count):
        mgr.algorithm([t], spirv).destroy()
    return (rss() - before) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    mgr = kp.Manager()
    figures = {"device": mgr.get_device_properties()["device_name"]}
    figures.update(destroy_behind_running_work(mgr))
    figures["queue_handover"] = queue_handover()
    figures["timestamps_never_evaluated"] = timestamps_never_evaluated(mgr)
    figures["int_push_constants_5_7"] = int_push_constants(mgr)
    figures["copy_then_dispatch_adds_1"] = copy_then_dispatch(mgr)
    figures["algorithm_churn_rss_kb_per_cycle"] = algorithm_churn_rss(mgr)
    figures["20000_tensors_in_cycles_s"] = in_thread(lambda: tensors_in_cycles(mgr), 120)
    for name, value in figures.items():
        print(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(figures, file, indent=1)
    mgr.destroy()


if __name__ == "__main__":
    main()
