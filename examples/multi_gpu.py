"""Split one computation over every device kp sees and gather the parts.

    python examples/multi_gpu.py [--size N]

One kp.Manager per device (``kp.list_devices()``, which ``KP_VISIBLE_DEVICES``
chooses), each driven by a thread of its own: every device computes its part of
``y = scale * x * x + 1`` at the same time, then ``Tensor.to`` gathers the parts on
the first device, where a last dispatch adds one to all of them. With one device it
runs there alone; ``KP_VISIBLE_DEVICES=0,0 python examples/multi_gpu.py`` makes two
managers (two VkDevices, sharing no memory, as two GPUs) on device 0, which is how
this runs "on several devices" on a CPU through lavapipe.
"""

import argparse
import threading

import numpy as np

import kp

SHADER = """
#version 450
layout(local_size_x = 256) in;
layout(push_constant) uniform P { float scale; };
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) writeonly buffer Y { float y[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i < x.length()) y[i] = scale * x[i] * x[i] + 1.0;
}
"""

ADD_ONE = """
#version 450
layout(local_size_x = 256) in;
layout(binding = 0) buffer Y { float y[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i < y.length()) y[i] += 1.0;
}
"""


def compute_part(mgr: kp.Manager, x: np.ndarray, scale: float) -> kp.Tensor:
    """``scale * x * x + 1`` on ``mgr``'s device, left there (in device memory)."""
    tx, ty = mgr.tensor(x), mgr.tensor(np.zeros_like(x))
    algo = mgr.algorithm([tx, ty], SHADER, push_consts=np.array([scale], np.float32))
    mgr.sequence().record(kp.OpSyncDevice([tx])).record(kp.OpAlgoDispatch(algo)).eval()
    return ty


def main(size: int = 1 << 20, scale: float = 0.5) -> tuple[np.ndarray, list[kp.Manager]]:
    devices = kp.list_devices()
    managers = [kp.Manager(d["index"]) for d in devices]  # made before the threads start
    x = np.linspace(-1, 1, size, dtype=np.float32)
    chunks = np.array_split(x, len(managers))
    parts: list = [None] * len(managers)

    def work(i: int) -> None:
        parts[i] = compute_part(managers[i], chunks[i], scale)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(managers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    first = managers[0]
    gathered = [part.to(first) for part in parts]  # through host memory, ready on the first device
    add_one = [first.algorithm([g], ADD_ONE) for g in gathered]
    seq = first.sequence()
    for algo in add_one:
        seq.record(kp.OpAlgoDispatch(algo))
    seq.record(kp.OpSyncLocal(gathered)).eval()
    result = np.concatenate([g.data() for g in gathered])

    np.testing.assert_allclose(result, scale * x * x + 2, rtol=1e-6)
    for d, chunk in zip(devices, chunks):
        print(f"device {d['index']}: {d['device_name']} ({d['uuid']}) computed {chunk.size} elements")
    print(f"gathered {result.size} elements on device 0: equal to NumPy's")
    return result, managers


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1 << 20, help="number of float32 elements")
    main(parser.parse_args().size)
