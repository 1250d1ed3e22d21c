"""What barriers cost: per-dispatch time of 1000 tiny dispatches in one sequence,
independent (each on its own tensor: kp puts no barrier between them) and
dependent (one tensor incremented 1000 times: a barrier before each), next to
the same command buffer recorded by hand through kp's Vulkan layer with each
form of barrier between the dispatches (none, an execution dependency only, a
global memory barrier with exact masks, kp's old full barrier, a buffer barrier;
on one tensor, "no barrier" and the execution dependency are hazards, timed only
to compare).

    python benchmarks/barriers.py [--count N] [--repeats N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import kp
from timing import best_of
from kp import vk

SHADER = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[0] += 1.0; }
"""

SW, SR = kp.AccessFlags.shader_write, kp.AccessFlags.shader_read
FORMS = {
    "no barrier": None,
    "execution dependency": lambda c, a: c.barrier(vk.COMPUTE, vk.COMPUTE, 0, 0),
    "global barrier, exact masks": lambda c, a: c.barrier(vk.COMPUTE, vk.COMPUTE, SW, SR | SW),
    "global barrier, full (kp before)": lambda c, a: c.barrier(vk.COMPUTE | vk.TRANSFER, vk.COMPUTE | vk.TRANSFER,
                                                                vk.WRITES, vk.READS_WRITES),
    "buffer barrier, exact masks": lambda c, a: c.barrier(vk.COMPUTE, vk.COMPUTE, SW, SR | SW, [a]),
}


def _best_us(fn, count: int, repeats: int) -> float:
    """Fastest of ``repeats`` calls, per dispatch, in µs (after one warm-up)."""
    return round(best_of(fn, repeats) / count * 1e6, 3)


def measure(count: int = 1000, repeats: int = 20, device: int = 0) -> dict:
    """Per-dispatch µs of kp's sequences and of the hand-recorded command buffers."""
    results: dict = {}
    with kp.Manager(device) as mgr:
        results["device"] = mgr.get_device_properties()["device_name"]
        tensors = [mgr.tensor(np.zeros(1, np.float32)) for _ in range(count)]
        algorithms = [mgr.algorithm([t], SHADER) for t in tensors]
        mgr.sequence().eval(kp.OpSyncDevice(tensors))  # device memory starts as the zeros (staging mode)

        start = time.perf_counter()
        independent = mgr.sequence()
        for algo in algorithms:
            independent.record(kp.OpAlgoDispatch(algo))
        results["kp record, per op (µs)"] = round((time.perf_counter() - start) / count * 1e6, 2)
        dependent = mgr.sequence()
        for _ in range(count):
            dependent.record(kp.OpAlgoDispatch(algorithms[0]))
        results["kp independent (µs/dispatch)"] = _best_us(independent.eval, count, repeats)
        results["kp dependent (µs/dispatch)"] = _best_us(dependent.eval, count, repeats)
        assert independent._commands.barriers_recorded == 2  # at the start and to the host
        assert dependent._commands.barriers_recorded == count + 1
        mgr.sequence().eval(kp.OpSyncLocal(tensors[:2]))
        assert tensors[1].data()[0] == repeats + 1 and tensors[0].data()[0] == (repeats + 1) * (count + 1)

        # the same dispatches recorded by hand, with each form of barrier between them
        commands = mgr.sequence()._commands
        for name, form in FORMS.items():
            for same in (False, True):
                commands.begin()
                for i in range(count):
                    algo = algorithms[0 if same else i]
                    if form is not None and i:
                        form(commands, algo.get_tensors()[0].primary_allocation)
                    commands.dispatch(algo.pipeline, algo.push_constants, algo.get_workgroup())
                commands.barrier(vk.COMPUTE, vk.HOST, SW, vk.HOST_READ)
                commands.end()
                label = f"raw {'one tensor' if same else 'distinct tensors'}, {name} (µs/dispatch)"
                results[label] = _best_us(lambda: (commands.submit(), commands.wait()), count, repeats)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    results = measure(args.count, args.repeats)
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
