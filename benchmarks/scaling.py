"""Scaling over devices: the throughput of an embarrassingly parallel kernel over a
large float32 array,

- in one process on 1 and 2 devices (one kp.Manager per device, a thread each):
  "resident", the kernel alone over data already on the devices, and "end to end",
  the array copied from the host to the devices, the kernel, and the result copied
  back into one host array;
- through Dask (kp.dask.map_blocks) on a LocalCluster-like cluster of 1 and 2 worker
  processes, one thread and GPU=1 each, worker i seeing device i (of those kp sees,
  round robin): blocks made on the workers, the kernel, and a sum per block.

    python benchmarks/scaling.py [--devices 1,2] [--workers 1,2] [--size N] [--rounds N]
                                 [--chunk N] [--repeats N] [--skip-devices] [--skip-dask] [--json [FILE]]

Each figure is the best of --repeats runs after a warm-up, in elements per second
(each element gets --rounds multiply-adds), with the speed-up over one device or
worker. Where kp sees fewer devices than a run asks for, managers share devices
round robin; the JSON says which devices each run used ("distinct_devices").
``--json`` prints the results as JSON (``--json FILE`` writes them to FILE).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time

import numpy as np

import kp
from timing import best_of

LOCAL = 256
# Each invocation does `rounds` dependent multiply-adds on its element of x and writes
# y. A 2-D grid of workgroups: a device may allow only 65535 in x (lavapipe does).
SHADER = f"""
#version 450
layout(local_size_x = {LOCAL}) in;
layout(push_constant) uniform P {{ uint rounds; }};
layout(binding = 0) readonly buffer X {{ float x[]; }};
layout(binding = 1) writeonly buffer Y {{ float y[]; }};
void main() {{
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * {LOCAL}u;
    if (i >= x.length()) return;
    float v = x[i];
    for (uint k = 0u; k < rounds; ++k) v = v * 0.999 + 0.001;
    y[i] = v;
}}
"""


def expected(x: np.ndarray, rounds: int) -> np.ndarray:
    v = x.astype(np.float32)
    for _ in range(rounds):
        v = v * np.float32(0.999) + np.float32(0.001)
    return v


def workgroup(elements: int, limit: int) -> tuple[int, int, int]:
    groups = -(-elements // LOCAL)
    x = min(groups, limit)
    return (x, -(-groups // x), 1)


class Part:
    """One device's share: its input and output tensors, algorithm and two recorded sequences."""

    def __init__(self, mgr: kp.Manager, chunk: np.ndarray, rounds: int):
        self.x, self.y = mgr.tensor(chunk), mgr.tensor(np.zeros_like(chunk))
        limit = mgr.get_device_properties()["max_work_group_count"][0]
        algo = mgr.algorithm([self.x, self.y], SHADER, workgroup(chunk.size, limit),
                             push_consts=np.array([rounds], np.uint32))
        self.resident = mgr.sequence().record(kp.OpAlgoDispatch(algo))
        self.end_to_end = mgr.sequence().record(kp.OpSyncDevice([self.x])).record(kp.OpAlgoDispatch(algo)) \
            .record(kp.OpSyncLocal([self.y]))


def in_threads(fn, parts: list[Part]) -> None:
    """``fn(i, part)`` for every part at once, one thread each; returns when all are done."""
    threads = [threading.Thread(target=fn, args=(i, p)) for i, p in enumerate(parts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def measure_devices(count: int, size: int, rounds: int, repeats: int) -> dict:
    devices = kp.list_devices()
    chosen = [devices[i % len(devices)] for i in range(count)]
    managers = [kp.Manager(d["index"]) for d in chosen]
    try:
        x = np.random.default_rng(0).random(size, dtype=np.float32)
        bounds = np.linspace(0, size, count + 1).astype(int)
        parts = [Part(m, x[a:b], rounds) for m, a, b in zip(managers, bounds, bounds[1:])]
        out = np.empty_like(x)

        def resident(i, part):
            part.resident.eval()

        def end_to_end(i, part):
            part.x.data()[:] = x[bounds[i]:bounds[i + 1]]
            part.end_to_end.eval()
            out[bounds[i]:bounds[i + 1]] = part.y.data()

        e2e = best_of(lambda: in_threads(end_to_end, parts), repeats)
        np.testing.assert_allclose(out[:: max(1, size // 4096)], expected(x[:: max(1, size // 4096)], rounds),
                                   rtol=1e-4)
        kernel = best_of(lambda: in_threads(resident, parts), repeats)
        return {"devices": count, "device_names": [d["device_name"] for d in chosen],
                "distinct_devices": len({d["uuid"] for d in chosen}),
                "resident_s": kernel, "resident_elements_per_s": size / kernel,
                "end_to_end_s": e2e, "end_to_end_elements_per_s": size / e2e}
    finally:
        for m in managers:
            m.destroy()


def start_cluster(workers: int):
    """Worker processes with one thread and GPU=1 each, worker i seeing device i of those
    kp sees (round robin), as a LocalCluster with a per-worker KP_VISIBLE_DEVICES."""
    from distributed import Nanny, Scheduler, SpecCluster

    visible = kp.list_devices()
    specs = {i: {"cls": Nanny, "options": {
        "nthreads": 1, "resources": {"GPU": 1}, "silence_logs": logging.ERROR,
        "env": {"KP_VISIBLE_DEVICES": visible[i % len(visible)]["uuid"]}}} for i in range(workers)}
    return SpecCluster(workers=specs, scheduler={"cls": Scheduler, "options": {"dashboard_address": None}},
                       silence_logs=logging.ERROR)


def measure_dask(workers: int, size: int, chunk: int, rounds: int, repeats: int) -> dict:
    import dask.array as da
    from distributed import Client

    kernel = kp.shader.compile_source(SHADER)
    with start_cluster(workers) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        limit = min(d["max_work_group_count"][0] for d in kp.list_devices())
        x = da.ones(size, chunks=chunk, dtype=np.float32)
        # every block the same workgroup, that of the largest block: the shader checks bounds
        total = kp.dask.map_blocks(kernel, x, dtype=np.float32, workgroup=workgroup(chunk, limit),
                                   push_consts=np.array([rounds], np.uint32)).sum()
        numpy_total = x.map_blocks(expected, rounds, dtype=np.float32).sum()
        results = {}
        for name, graph in (("kp", total), ("numpy", numpy_total)):
            value = None

            def run():
                nonlocal value
                value = client.compute(graph, resources={"GPU": 1}).result()

            seconds = best_of(run, repeats)
            results[name] = (seconds, value)
        (kp_s, kp_value), (np_s, np_value) = results["kp"], results["numpy"]
        np.testing.assert_allclose(kp_value, np_value, rtol=1e-3)
        visible = kp.list_devices()
        return {"workers": workers, "blocks": -(-size // chunk),
                "worker_devices": [visible[i % len(visible)]["device_name"] for i in range(workers)],
                "kp_s": kp_s, "kp_elements_per_s": size / kp_s,
                "numpy_s": np_s, "numpy_elements_per_s": size / np_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", default="1,2", help="device counts to run on (default 1,2)")
    parser.add_argument("--workers", default="1,2", help="Dask worker counts (default 1,2)")
    parser.add_argument("--size", type=int, help="elements (default 2^28 on a GPU, 2^23 on a CPU device)")
    parser.add_argument("--rounds", type=int, default=64, help="multiply-adds per element (default 64)")
    parser.add_argument("--chunk", type=int, help="Dask block size (default size / 16)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-devices", action="store_true", help="only the Dask part")
    parser.add_argument("--skip-dask", action="store_true", help="only the part in one process")
    parser.add_argument("--json", nargs="?", const="-", help="print JSON (or write it to FILE)")
    args = parser.parse_args()

    first = kp.list_devices()[0]
    size = args.size or (1 << 23 if first["device_type"] == "cpu" else 1 << 28)
    chunk = args.chunk or max(1, size // 16)
    report = {"date": time.strftime("%Y-%m-%d"), "python": sys.version.split()[0],
              "visible_devices": [{k: d[k] for k in ("index", "device_name", "device_type", "driver", "uuid")}
                                  for d in kp.list_devices()],
              "size": size, "rounds": args.rounds, "chunk": chunk, "repeats": args.repeats,
              "one_process": [], "dask": []}
    if not args.skip_devices:
        for count in map(int, args.devices.split(",")):
            report["one_process"].append(measure_devices(count, size, args.rounds, args.repeats))
    if not args.skip_dask:
        for workers in map(int, args.workers.split(",")):
            report["dask"].append(measure_dask(workers, size, chunk, args.rounds, args.repeats))

    if args.json:
        text = json.dumps(report, indent=2)
        if args.json == "-":
            print(text)
            return
        with open(args.json, "w") as f:
            f.write(text)
    print(f"{size} float32 elements, {args.rounds} multiply-adds each")
    base = report["one_process"][0] if report["one_process"] else None
    for r in report["one_process"]:
        print(f"{r['devices']} device(s) ({r['distinct_devices']} distinct): resident "
              f"{r['resident_elements_per_s'] / 1e9:.3f} G elements/s "
              f"(x{r['resident_elements_per_s'] / base['resident_elements_per_s']:.2f}), end to end "
              f"{r['end_to_end_elements_per_s'] / 1e9:.3f} G elements/s "
              f"(x{r['end_to_end_elements_per_s'] / base['end_to_end_elements_per_s']:.2f})")
    base = report["dask"][0] if report["dask"] else None
    for r in report["dask"]:
        print(f"Dask, {r['workers']} worker(s), {r['blocks']} blocks: kp {r['kp_elements_per_s'] / 1e9:.3f} "
              f"G elements/s (x{r['kp_elements_per_s'] / base['kp_elements_per_s']:.2f}), NumPy "
              f"{r['numpy_elements_per_s'] / 1e9:.3f} G elements/s")


if __name__ == "__main__":
    main()
