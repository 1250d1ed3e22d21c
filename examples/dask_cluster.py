"""A kp kernel over the blocks of a dask array, on a Dask cluster.

    python examples/dask_cluster.py [--workers 2] [--gpus-per-worker 1] [--size N] [--chunk N]
    python examples/dask_cluster.py --scheduler tcp://HOST:8786

Without ``--scheduler`` it starts a ``distributed.LocalCluster`` of worker processes
on this machine, each given ``--gpus-per-worker`` GPUs as the Dask resource "GPU"
(on a CPU through lavapipe: one device, so one GPU per worker, or
``KP_VISIBLE_DEVICES=0,0`` for two). With ``--scheduler`` it runs on a real cluster
whose workers were started as ``dask-worker tcp://HOST:8786 --resources "GPU=2"``
(one manager per GPU per worker, made by its first block and kept). Either way the
result is checked against NumPy.
"""

import argparse

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

import kp

# One invocation per element: out = a * x + y (a SAXPY), bounds-checked because the
# last workgroup of a block may run past its end.
SAXPY = """
#version 450
layout(local_size_x = 256) in;
layout(push_constant) uniform P { float a; };
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer Y { float y[]; };
layout(binding = 2) writeonly buffer Out { float out_[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i < x.length()) out_[i] = a * x[i] + y[i];
}
"""


def main(client: Client, size: int = 4_000_000, chunk: int = 500_000, a: float = 2.0) -> np.ndarray:
    x = da.random.default_rng(0).random(size, chunks=chunk, dtype=np.float32)
    y = da.arange(size, chunks=chunk, dtype=np.float32)
    out = kp.dask.map_blocks(SAXPY, x, y, push_consts=[a])
    result = client.compute(out, resources={"GPU": 1}).result()  # each block on a worker's GPU
    expected = a * x.compute() + y.compute()
    np.testing.assert_allclose(result, expected, rtol=1e-6)
    print(f"{out.numblocks[0]} blocks of up to {chunk} elements on {len(client.scheduler_info()['workers'])} "
          f"worker(s): equal to NumPy's")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scheduler", help="address of a running dask-scheduler (default: a LocalCluster)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--gpus-per-worker", type=int, default=1, help="LocalCluster workers' GPU resource")
    parser.add_argument("--size", type=int, default=4_000_000)
    parser.add_argument("--chunk", type=int, default=500_000)
    args = parser.parse_args()
    if args.scheduler:
        with Client(args.scheduler) as client:
            main(client, args.size, args.chunk)
    else:
        with LocalCluster(n_workers=args.workers, threads_per_worker=args.gpus_per_worker, processes=True,
                          dashboard_address=None, resources={"GPU": args.gpus_per_worker}) as cluster, \
                Client(cluster) as client:
            main(client, args.size, args.chunk)
