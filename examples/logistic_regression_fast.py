"""The seed's logistic regression written the Kompute way: everything on the GPU,
one dispatch per training step, or one per training run where the device says
how many workgroups run at once.

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

**One dispatch per run** (``RUN``, chosen where the device reports its
multiprocessor count, which NVIDIA's driver does): one workgroup per
multiprocessor, so that all of them run at once, loops over the steps; after
each step every workgroup writes its partial sum, increments the counter and
waits until it reaches (step + 1) x workgroups (a grid-wide barrier), then adds
up all the partial sums itself, in the same order as every other workgroup, so
each holds the same new weights without writing them anywhere. Two sets of
partial sums alternate, so a workgroup already writing the next step's never
overwrites one another workgroup still reads. No barrier or launch between the
steps remains: 252,600 steps a second on the H200. Vulkan does not promise that
the workgroups of a dispatch run at once; where they would not, the wait gives up
after about a million polls and the weights come back NaN instead of the GPU
hanging. (Debian 12's lavapipe gives wrong weights with this kernel from the
second step on; the example uses it only where the multiprocessors are known.)

    python examples/logistic_regression_fast.py [--samples-log2 20] [--iterations 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import kp

LOCAL_SIZE, U = 512, 4  # one dispatch per step: invocations per workgroup, vec4s of each array per pass
RUN_LOCAL_SIZE, RUN_U = 256, 2  # the same for the one-dispatch run
SAMPLES_PER_INVOCATION = 4 * U  # the data is padded to a multiple of it (of whole vec4s, for both)

# What both kernels share: the data, the weights, the gradient of the workgroup's
# samples and a sum over the workgroup. LOCAL_SIZE and U (vec4s of each array an
# invocation loads at once) are defines.
COMMON = """
#version 450
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x = LOCAL_SIZE) in;
layout(constant_id = 0) const uint M = 1u;        // samples (the arrays are padded to whole vec4s)
layout(constant_id = 1) const float STEP = 0.0;   // learning rate / M
layout(binding = 0) readonly buffer XI { vec4 x_i[]; };
layout(binding = 1) readonly buffer XJ { vec4 x_j[]; };
layout(binding = 2) readonly buffer Y { vec4 y[]; };
layout(binding = 3) buffer W { float w[]; };                // w_i, w_j, b
layout(binding = 4) coherent buffer P { vec4 partial[]; };  // sums of workgroups
shared vec3 sums[gl_WorkGroupSize.x];  // one per subgroup

// This workgroup's share of the gradient (sum over its samples of x * d_z).
vec3 gradient(float w_i, float w_j, float b) {
    const uint NV = (M + 3u) / 4u;
    vec3 acc = vec3(0.0);
    for (uint base = gl_WorkGroupID.x * gl_WorkGroupSize.x * U + gl_LocalInvocationIndex; base < NV;
         base += gl_NumWorkGroups.x * gl_WorkGroupSize.x * U) {
        // all loads first, so that each invocation has 3 U in flight at once
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
    return acc;
}

// The sum of v over the workgroup, in every invocation.
vec3 workgroup_sum(vec3 v) {
    v = subgroupAdd(v);
    barrier();  // the last call's sums are read
    if (subgroupElect()) sums[gl_SubgroupID] = v;
    barrier();
    vec3 total = vec3(0.0);
    for (uint i = 0u; i < gl_NumSubgroups; i++) total += sums[i];
    return total;
}
"""

# One training step. The counter ``arrived`` is 0 between steps.
STEP = COMMON + """
layout(binding = 5) buffer Arrived { uint arrived; };  // workgroups done with this step
shared bool last;

void main() {
    float w_i = w[0], w_j = w[1], b = w[2];
    vec3 total = workgroup_sum(gradient(w_i, w_j, b));
    if (gl_LocalInvocationIndex == 0u) {
        partial[gl_WorkGroupID.x] = vec4(total, 0.0);
        memoryBarrierBuffer();  // the partial sum is written before the count says so
        last = atomicAdd(arrived, 1u) == gl_NumWorkGroups.x - 1u;
    }
    barrier();
    if (!last) return;
    memoryBarrierBuffer();  // every partial sum was written before the count reached its end
    vec3 acc = vec3(0.0);
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

# A whole run of STEPS steps in one dispatch, for workgroups that all run at once:
# after each step every workgroup waits at a grid-wide barrier (a counter that
# reaches (step + 1) x workgroups), then sums every workgroup's partial itself, in
# the same order, so each holds the same new weights. A wait longer than
# SPIN_LIMIT polls gives up and makes the weights NaN rather than hang the GPU.
RUN = COMMON + """
layout(constant_id = 2) const uint STEPS = 1u;
layout(binding = 5) coherent buffer Control { uint arrived; };  // 0 when a run starts
const uint SPIN_LIMIT = 1u << 20;
shared bool waited_too_long;

void main() {
    float w_i = w[0], w_j = w[1], b = w[2];
    for (uint s = 0u; s < STEPS; s++) {
        vec3 total = workgroup_sum(gradient(w_i, w_j, b));
        uint slot = (s & 1u) * gl_NumWorkGroups.x;  // two sets of partials: a step's are read while the next's are written
        if (gl_LocalInvocationIndex == 0u) {
            partial[slot + gl_WorkGroupID.x] = vec4(total, 0.0);
            memoryBarrierBuffer();  // the partial sum is written before the count says so
            atomicAdd(arrived, 1u);
            uint polls = 0u;
            while (atomicAdd(arrived, 0u) < (s + 1u) * gl_NumWorkGroups.x && ++polls < SPIN_LIMIT) {}
            waited_too_long = polls == SPIN_LIMIT;
        }
        barrier();
        if (waited_too_long) {  // the workgroups do not all run at once: NaN weights, not a hang
            if (gl_WorkGroupID.x == 0u && gl_LocalInvocationIndex == 0u) w[0] = w[1] = w[2] = uintBitsToFloat(0x7fc00000u);
            return;
        }
        memoryBarrierBuffer();  // the partials are read after the count said they were written
        vec3 acc = vec3(0.0);
        for (uint g = gl_LocalInvocationIndex; g < gl_NumWorkGroups.x; g += gl_WorkGroupSize.x) {
            acc += partial[slot + g].xyz;
        }
        total = workgroup_sum(acc);
        w_i -= STEP * total.x;
        w_j -= STEP * total.y;
        b -= STEP * total.z;
    }
    if (gl_WorkGroupID.x == 0u && gl_LocalInvocationIndex == 0u) {
        w[0] = w_i; w[1] = w_j; w[2] = b;
    }
}
"""

MAX_WORKGROUPS = 1024  # partial sums per step (more samples: each invocation strides)


def training(mgr: kp.Manager, x_i: np.ndarray, x_j: np.ndarray, y: np.ndarray, iterations: int,
             learning_rate: float = 0.1, weights=(0.001, 0.001, 0.0),
             max_workgroups: int = MAX_WORKGROUPS, persistent: bool | None = None) -> tuple[kp.Sequence, kp.Tensor]:
    """Uploads the data and weights; returns a sequence that trains for ``iterations``
    and brings the weights (w_i, w_j, b) back, and the weights tensor. Each
    ``eval()`` of it trains ``iterations`` more.

    ``persistent`` runs the whole training in one dispatch of one workgroup per
    multiprocessor (``RUN``); by default where the device reports how many it has
    (NVIDIA), else one dispatch per step (``STEP``)."""
    n = len(y)
    padding = np.zeros(-n % SAMPLES_PER_INVOCATION, np.float32)
    data = [mgr.tensor(np.concatenate([np.asarray(v, np.float32), padding])) for v in (x_i, x_j, y)]
    w = mgr.tensor(np.asarray(weights, np.float32))
    multiprocessors = mgr.get_device_properties()["multiprocessors"]
    if persistent is None:
        persistent = multiprocessors is not None
    arrived = mgr.tensor(np.zeros(1, np.uint32))
    if persistent:
        if multiprocessors is None:
            raise ValueError("persistent=True needs the device's multiprocessor count (NVIDIA reports it)")
        groups = min(-(-n // (RUN_LOCAL_SIZE * 4 * RUN_U)), multiprocessors)  # one workgroup per multiprocessor
        partial = mgr.tensor(np.zeros(8 * groups, np.float32), kp.MemoryTypes.storage)
        run = mgr.algorithm([*data, w, partial, arrived],
                            kp.shader.compile_source(RUN, defines={"LOCAL_SIZE": RUN_LOCAL_SIZE, "U": RUN_U}), [groups],
                            spec_consts=[n, learning_rate / n, iterations])
        # the count starts at 0 in every run: a copy on the device, since a sync from the
        # host copy is a no-op where the host maps device memory (integrated GPUs)
        zero = mgr.tensor(np.zeros(1, np.uint32), kp.MemoryTypes.storage)
        mgr.sequence().eval(kp.OpSyncDevice([*data, w]))
        seq = mgr.sequence().record(kp.OpCopy([zero, arrived])).record(kp.OpAlgoDispatch(run))
        return seq.record(kp.OpSyncLocal([w])), w
    groups = min(-(-n // (LOCAL_SIZE * SAMPLES_PER_INVOCATION)), max_workgroups)
    partial = mgr.tensor(np.zeros(4 * groups, np.float32), kp.MemoryTypes.storage)
    step = mgr.algorithm([*data, w, partial, arrived],
                         kp.shader.compile_source(STEP, defines={"LOCAL_SIZE": LOCAL_SIZE, "U": U}), [groups],
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
        if np.isnan(w.data()).any():
            raise SystemExit("the workgroups of the one-dispatch run did not all run at once: "
                             "pass persistent=False to training()")
        assert np.allclose(w.data(), expected, atol=1e-4), (w.data(), expected)


if __name__ == "__main__":
    main()
