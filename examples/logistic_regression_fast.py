"""The seed's logistic regression written the Kompute way: everything on the GPU.

The seed's example (``logistic_regression.py``) dispatches one invocation per
sample with a local size of 1, copies four per-sample outputs to the host after
every iteration and sums them there in Python. Here:

- ``GRADIENT`` runs the forward pass and the gradient for 256 samples per
  workgroup and sums them in the workgroup (a tree in shared memory), so only
  one partial sum per workgroup is written;
- ``UPDATE`` (one workgroup) adds the partial sums up and updates the weights
  in place on the device;
- ``iterations`` of these two dispatches are recorded in one sequence (kp puts
  one barrier between each dependent pair), so a whole training run is one
  submission, and the weights leave the GPU only at the end (``OpSyncLocal``).

    python examples/logistic_regression_fast.py [--samples-log2 20] [--iterations 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import kp

LOCAL_SIZE = 256  # invocations per workgroup in both kernels

# Forward pass and gradient of 256 samples per workgroup (a workgroup strides over
# the data when there are more samples than invocations), summed in shared memory.
GRADIENT = """
#version 450
layout(local_size_x = 256) in;
layout(binding = 0) readonly buffer XI { float x_i[]; };
layout(binding = 1) readonly buffer XJ { float x_j[]; };
layout(binding = 2) readonly buffer Y { float y[]; };
layout(binding = 3) readonly buffer W { float w[]; };      // w_i, w_j, b
layout(binding = 4) writeonly buffer P { vec4 partial[]; };  // one sum per workgroup
shared vec3 sums[256];
void main() {
    uint n = uint(x_i.length()), t = gl_LocalInvocationID.x;
    uint stride = gl_NumWorkGroups.x * 256u;
    float w_i = w[0], w_j = w[1], b = w[2];
    vec3 acc = vec3(0.0);
    for (uint i = gl_GlobalInvocationID.x; i < n; i += stride) {
        float xi = x_i[i], xj = x_j[i];
        float d_z = 1.0 / (1.0 + exp(-(w_i * xi + w_j * xj + b))) - y[i];
        acc += vec3(xi, xj, 1.0) * d_z;
    }
    sums[t] = acc;
    barrier();
    for (uint s = 128u; s > 0u; s >>= 1) {
        if (t < s) sums[t] += sums[t + s];
        barrier();
    }
    if (t == 0u) partial[gl_WorkGroupID.x] = vec4(sums[0], 0.0);
}
"""

# One workgroup sums the partial sums and takes the gradient step: w -= lr / m * sum.
UPDATE = """
#version 450
layout(local_size_x = 256) in;
layout(constant_id = 0) const float STEP = 0.0;  // learning rate / number of samples
layout(binding = 0) readonly buffer P { vec4 partial[]; };
layout(binding = 1) buffer W { float w[]; };
shared vec3 sums[256];
void main() {
    uint t = gl_LocalInvocationID.x;
    vec3 acc = vec3(0.0);
    for (uint i = t; i < uint(partial.length()); i += 256u) acc += partial[i].xyz;
    sums[t] = acc;
    barrier();
    for (uint s = 128u; s > 0u; s >>= 1) {
        if (t < s) sums[t] += sums[t + s];
        barrier();
    }
    if (t == 0u) {
        w[0] -= STEP * sums[0].x;
        w[1] -= STEP * sums[0].y;
        w[2] -= STEP * sums[0].z;
    }
}
"""

MAX_WORKGROUPS = 1024  # partial sums per iteration (more samples: each invocation strides)


def training(mgr: kp.Manager, x_i: np.ndarray, x_j: np.ndarray, y: np.ndarray, iterations: int,
             learning_rate: float = 0.1, weights=(0.001, 0.001, 0.0)) -> tuple[kp.Sequence, kp.Tensor]:
    """Uploads the data and weights; returns a sequence that trains for ``iterations``
    and brings the weights (w_i, w_j, b) back, and the weights tensor. Each
    ``eval()`` of it trains ``iterations`` more."""
    n = len(y)
    data = [mgr.tensor(np.asarray(v, np.float32)) for v in (x_i, x_j, y)]
    w = mgr.tensor(np.asarray(weights, np.float32))
    groups = min(-(-n // LOCAL_SIZE), MAX_WORKGROUPS)
    partial = mgr.tensor(np.zeros(4 * groups, np.float32), kp.MemoryTypes.storage)
    gradient = mgr.algorithm([*data, w, partial], kp.shader.compile_source(GRADIENT), [groups])
    update = mgr.algorithm([partial, w], kp.shader.compile_source(UPDATE), [1],
                           spec_consts=[learning_rate / n])
    mgr.sequence().eval(kp.OpSyncDevice([*data, w]))
    seq = mgr.sequence()
    for _ in range(iterations):
        seq.record(kp.OpAlgoDispatch(gradient)).record(kp.OpAlgoDispatch(update))
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
