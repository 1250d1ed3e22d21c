"""Kompute's parallel-queues example: two long-running sequences on queues of two
different families run at the same time (Manager(0, [0, 2]) on NVIDIA GPUs).

    python examples/parallel_queues.py [--rounds N]

Prints the time of the two sequences one after the other and in parallel. On a
device with one compute queue (lavapipe) both run on that queue.
"""

import argparse
import time

import numpy as np

import kp

# One invocation per workgroup looping `rounds` times: a long-running shader that
# leaves most of the GPU idle, the case where a second queue helps.
SHADER = """
#version 450
layout(local_size_x = 1) in;
layout(push_constant) uniform P { uint rounds; };
layout(binding = 0) buffer Data { float x[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    float v = x[i];
    for (uint k = 0u; k < rounds; ++k) { v = sin(v) * cos(v) + 0.5; }
    x[i] = v;
}
"""


def queue_families() -> list[int]:
    """Two compute families where the device has them, else what it has."""
    families = [f for f in kp.list_devices()[0]["queue_families"] if f["compute"]]
    if len(families) > 1:
        return [families[0]["index"], families[-1]["index"]]
    return [families[0]["index"]]


def main(rounds: int) -> float:
    families = queue_families()
    mgr = kp.Manager(0, families)
    a = mgr.tensor(np.zeros(16, np.float32))
    b = mgr.tensor(np.zeros(16, np.float32))
    push = np.array([rounds], np.uint32)
    seq_one = mgr.sequence(0).record(kp.OpAlgoDispatch(mgr.algorithm([a], SHADER, push_consts=push)))
    seq_two = mgr.sequence(len(families) - 1).record(kp.OpAlgoDispatch(mgr.algorithm([b], SHADER, push_consts=push)))
    seq_one.eval()
    seq_two.eval()

    start = time.perf_counter()
    seq_one.eval()
    seq_two.eval()
    serial = time.perf_counter() - start

    start = time.perf_counter()
    seq_one.eval_async()
    seq_two.eval_async()
    seq_one.eval_await()
    seq_two.eval_await()
    parallel = time.perf_counter() - start
    mgr.destroy()
    print(f"queue families {families}: one after the other {serial * 1e3:.1f} ms, "
          f"in parallel {parallel * 1e3:.1f} ms, speed-up {serial / parallel:.2f}x")
    return serial / parallel


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20_000)
    main(parser.parse_args().rounds)
