"""The seed's logistic regression written the Kompute way: everything on the GPU,
one dispatch per training step.

The seed's example (``logistic_regression.py``) dispatches one invocation per
sample with a local size of 1, copies four per-sample outputs to the host after
every iteration and sums them there in Python. Here one kernel, ``STEP``, does a
whole gradient step:

- each invocation loads 16 samples at once (four ``vec4``s of each array; the
  data is padded to whole ``vec4``s and the kernel masks the padding), computes
  the forward pass and the gradient, and each workgroup sums its 512 invocations'
  gradients (``subgroupAdd``, then one value per subgroup in shared memory), so
  one partial sum per workgroup is written;
- **the last workgroup to finish applies the update**: every workgroup writes
  its partial sum to a ``coherent`` buffer (its writes go where every workgroup
  reads), orders that write before what follows with ``memoryBarrierBuffer()``,
  then increments a counter with ``atomicAdd``; the workgroup that brings the
  count to the number of workgroups knows every partial sum is written. After a
  ``memoryBarrierBuffer()`` of its own it adds them up, takes the step
  ``w -= lr / m * sum`` in place and resets the counter to 0 for the next step;
- ``iterations`` dispatches are recorded in one sequence: kp puts one barrier
  between each pair (the next step reads the weights this one writes), so a
  whole training run is one submission, and the weights leave the GPU only at
  the end (``OpSyncLocal``).

Without the last-workgroup trick a step is two dependent dispatches (the
gradient, then a one-workgroup update kernel), each paying a barrier and a
launch: on an H200 at 2^20 samples that ran 109,000 steps a second, this one
141,300 (docs/performance.md has where the time goes).

    python examples/logistic_regression_fast.py [--samples-log2 20] [--iterations 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import kp

LOCAL_SIZE = 512  # invocations per workgroup
SAMPLES_PER_INVOCATION = 16  # four vec4s of each array per pass

# One training step. The counter ``arrived`` is 0 between steps.
STEP = """
#version 450
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x = 512) in;
const uint U = 4u;  // vec4s of each array an invocation loads at once
layout(constant_id = 0) const uint M = 1u;        // samples (the arrays are padded to whole vec4s)
layout(constant_id = 1) const float STEP = 0.0;   // learning rate / M
layout(binding = 0) readonly buffer XI { vec4 x_i[]; };
layout(binding = 1) readonly buffer XJ { vec4 x_j[]; };
layout(binding = 2) readonly buffer Y { vec4 y[]; };
layout(binding = 3) buffer W { float w[]; };                             // w_i, w_j, b
layout(binding = 4) coherent buffer P { vec4 partial[]; };    // one sum per workgroup
layout(binding = 5) buffer Arrived { uint arrived; };  // workgroups done with this step
shared vec3 sums[gl_WorkGroupSize.x];  // one per subgroup
shared bool last;

// The sum over the workgroup, in the invocations of subgroup 0.
vec3 workgroup_sum(vec3 v) {
    v = subgroupAdd(v);
    if (subgroupElect()) sums[gl_SubgroupID] = v;
    barrier();
    vec3 total = vec3(0.0);
    if (gl_SubgroupID == 0u) {
        for (uint i = gl_SubgroupInvocationID; i < gl_NumSubgroups; i += gl_SubgroupSize) total += sums[i];
        total = subgroupAdd(total);
    }
    return total;
}

void main() {
    float w_i = w[0], w_j = w[1], b = w[2];
    vec3 acc = vec3(0.0);
    const uint NV = (M + 3u) / 4u;
    for (uint base = gl_WorkGroupID.x * gl_WorkGroupSize.x * U + gl_LocalInvocationIndex; base < NV;
         base += gl_NumWorkGroups.x * gl_WorkGroupSize.x * U) {
        // all loads first, so that each invocation has 12 in flight at once
        vec4 xi[U], xj[U], yy[U];
        for (uint k = 0u; k < U; k++) {
            uint i = min(base + k * gl_WorkGroupSize.x, NV - 1u);  // past the end: masked below
            xi[k] = x_i[i]; xj[k] = x_j[i]; yy[k] = y[i];
        }
        for (uint k = 0u; k < U; k++) {
            uint i = base + k * gl_WorkGroupSize.x;
            vec4 d_z = 1.0 / (1.0 + exp(-(w_i * xi[k] + w_j * xj[k] + b))) - yy[k];
            d_z *= vec4(lessThan(uvec4(4u * i) + uvec4(0u, 1u, 2u, 3u), uvec4(M)));  // padding adds nothing
            acc += vec3(dot(xi[k], d_z), dot(xj[k], d_z), dot(vec4(1.0), d_z));
        }
    }
    vec3 total = workgroup_sum(acc);
    if (gl_LocalInvocationIndex == 0u) {
        partial[gl_WorkGroupID.x] = vec4(total, 0.0);
        memoryBarrierBuffer();  // the partial sum is written before the count says so
        last = atomicAdd(arrived, 1u) == gl_NumWorkGroups.x - 1u;
    }
    barrier();
    if (!last) return;
    memoryBarrierBuffer();  // every partial sum was written before the count reached its end
    acc = vec3(0.0);
    for (uint g = gl_LocalInvocationIndex; g < gl_NumWorkGroups.x; g += gl_WorkGroupSize.x) acc += partial[g].xyz;
    total = workgroup_sum(acc);
    if (gl_LocalInvocationIndex == 0u) {
        w[0] = w_i - STEP * total.x;
        w[1] = w_j - STEP * total.y;
        w[2] = b - STEP * total.z;
        arrived = 0u;  // the next step's dispatch sees it after kp's barrier
    }
}
"""

MAX_WORKGROUPS = 1024  # partial sums per step (more samples: each invocation strides)


def training(mgr: kp.Manager, x_i: np.ndarray, x_j: np.ndarray, y: np.ndarray, iterations: int,
             learning_rate: float = 0.1, weights=(0.001, 0.001, 0.0),
             max_workgroups: int = MAX_WORKGROUPS) -> tuple[kp.Sequence, kp.Tensor]:
    """Uploads the data and weights; returns a sequence that trains for ``iterations``
    and brings the weights (w_i, w_j, b) back, and the weights tensor. Each
    ``eval()`` of it trains ``iterations`` more."""
    n = len(y)
    padding = np.zeros(-n % SAMPLES_PER_INVOCATION, np.float32)
    data = [mgr.tensor(np.concatenate([np.asarray(v, np.float32), padding])) for v in (x_i, x_j, y)]
    w = mgr.tensor(np.asarray(weights, np.float32))
    groups = min(-(-n // (LOCAL_SIZE * SAMPLES_PER_INVOCATION)), max_workgroups)
    partial = mgr.tensor(np.zeros(4 * groups, np.float32), kp.MemoryTypes.storage)
    arrived = mgr.tensor(np.zeros(1, np.uint32))
    step = mgr.algorithm([*data, w, partial, arrived], kp.shader.compile_source(STEP), [groups],
                         spec_consts=[n, learning_rate / n])
    mgr.sequence().eval(kp.OpSyncDevice([*data, w, arrived]))
    seq = mgr.sequence()
    for _ in range(iterations):
        seq.record(kp.OpAlgoDispatch(step))
    return seq.record(kp.OpSyncLocal([w])), w


def reference(x_i, x_j, y, iterations: int, learning_rate: float = 0.1,
              weights=(0.001, 0.001, 0.0)) -> np.ndarray:
    """The same training in NumPy float64: (w_i, w_j, b)."""
    x = np.stack([np.asarray(x_i, np.float64), np.asarray(x_j, np.float64), np.ones(len(y))])
    y = np.asarray(y, np.float64)
    w = np.array(weights, np.float64)
    for _ in range(iterations):
        d_z = 1.0 / (1.0 + np.exp(-(w @ x))) - y
        w = w - learning_rate * (x @ d_z) / len(y)
    return w


def samples(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` points in the unit square, labelled 1 above the diagonal x_i + x_j = 1."""
    rng = np.random.default_rng(seed)
    x_i, x_j = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    return x_i, x_j, (x_i + x_j > 1).astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples-log2", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args(argv)
    x_i, x_j, y = samples(1 << args.samples_log2)
    with kp.Manager() as mgr:
        seq, w = training(mgr, x_i, x_j, y, args.iterations)
        start = time.perf_counter()
        seq.eval()
        seconds = time.perf_counter() - start
        print(f"w_i, w_j, b = {w.data()} after {args.iterations} iterations on {len(y)} samples "
              f"({args.iterations / seconds:.0f} it/s, first run)")
        expected = reference(x_i, x_j, y, args.iterations)
        assert np.allclose(w.data(), expected, atol=1e-4), (w.data(), expected)


if __name__ == "__main__":
    main()
