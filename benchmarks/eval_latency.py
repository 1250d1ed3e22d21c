"""Round trip of ``seq.eval()`` for a recorded one-dispatch sequence, next to raw
cffi loops submitting the same command buffer on the same device in the same
process: vkQueueSubmit, then vkWaitForFences (blocking) or a spin on
vkGetFenceStatus, then vkResetFences.

    python benchmarks/eval_latency.py [--iterations N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

import kp
from kp.vk.core import NULL, C, lib, new

SHADER = """
#version 450
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) buffer Data { float x[]; };
void main() { uint i = gl_GlobalInvocationID.x; if (i < x.length()) x[i] += 1.0; }
"""


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def measure(iterations: int = 2000, device: int = 0) -> dict:
    """Median round trips (µs) of kp's eval() and of the raw loop, interleaved in
    rounds so that both see the same machine state."""
    mgr = kp.Manager(device)
    tensor = mgr.tensor(np.zeros(64, dtype=np.float32))
    algo = mgr.algorithm([tensor], kp.shader.compile_source(SHADER))
    seq = mgr.sequence().record(kp.OpAlgoDispatch(algo))
    seq.eval()

    commands = seq._commands
    dev, queue = commands.device.handle, commands.queue.handle
    submit_info = commands._submit_info
    # the raw loops' own fence (kp's commands alternate between two of theirs)
    fences = new("VkFence[]", 1)
    lib.vkCreateFence(dev, new("VkFenceCreateInfo *", {"sType": C.VK_STRUCTURE_TYPE_FENCE_CREATE_INFO}),
                      NULL, fences)
    fence = fences[0]
    forever = 2**63 - 1

    not_ready = C.VK_NOT_READY

    def raw_blocking() -> None:
        lib.vkQueueSubmit(queue, 1, submit_info, fence)
        lib.vkWaitForFences(dev, 1, fences, 1, forever)
        lib.vkResetFences(dev, 1, fences)

    def raw_spinning() -> None:
        lib.vkQueueSubmit(queue, 1, submit_info, fence)
        while lib.vkGetFenceStatus(dev, fence) == not_ready:
            pass
        lib.vkResetFences(dev, 1, fences)

    loops = {"kp": seq.eval, "raw_blocking": raw_blocking, "raw_spinning": raw_spinning}
    samples: dict[str, list[float]] = {name: [] for name in loops}
    clock = time.perf_counter
    rounds = 10
    for _ in range(rounds):
        for name, loop in loops.items():
            for _ in range(iterations // rounds):
                start = clock()
                loop()
                samples[name].append(clock() - start)
    mgr.sequence().eval(kp.OpSyncLocal([tensor]))
    if tensor.data()[0] != 1 + sum(len(s) for s in samples.values()):
        raise RuntimeError("the dispatch did not run on every round trip")
    props = mgr.get_device_properties()
    lib.vkDestroyFence(dev, fence, NULL)
    mgr.destroy()
    medians = {name: _median_us(s) for name, s in samples.items()}
    return {"device": props["device_name"], "iterations": iterations,
            "kp_eval_median_us": round(medians["kp"], 2),
            "raw_cffi_median_us": round(medians["raw_blocking"], 2),
            "raw_cffi_spinning_median_us": round(medians["raw_spinning"], 2),
            "ratio": round(medians["kp"] / medians["raw_blocking"], 3),
            "ratio_to_spinning": round(medians["kp"] / medians["raw_spinning"], 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--device", type=int, default=0)
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args(argv)
    result = measure(args.iterations, args.device)
    print(f"{result['device']}: kp eval() {result['kp_eval_median_us']:.1f} us; raw cffi loop "
          f"{result['raw_cffi_median_us']:.1f} us blocking (ratio {result['ratio']:.2f}), "
          f"{result['raw_cffi_spinning_median_us']:.1f} us spinning (ratio {result['ratio_to_spinning']:.2f}); "
          f"median of {result['iterations']} round trips each")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
