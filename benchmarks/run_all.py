"""kp's benchmarks side by side with the peers that are installed (CuPy, PyTorch,
NumPy on the CPU). Prints a table, writes JSON and (with matplotlib) a PNG chart.

    python benchmarks/run_all.py [--quick] [--out DIR] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import kp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import barriers as barrier_bench  # noqa: E402
import eval_latency  # noqa: E402
from timing import best_of  # noqa: E402

GiB = 1 << 30


def _peer(name: str):
    try:
        module = __import__(name)
        if name == "cupy":
            module.cuda.runtime.getDeviceCount()
        if name == "torch" and not module.cuda.is_available():
            return None
        return module
    except Exception:  # noqa: BLE001 - any failure means the peer is not usable here
        return None


def latency(results: list, peers: dict, iterations: int) -> None:
    r = eval_latency.measure(iterations)
    results.append(("eval() round trip", "kp", r["kp_eval_median_us"], "us"))
    results.append(("eval() round trip", "raw Vulkan, blocking wait", r["raw_cffi_median_us"], "us"))
    results.append(("eval() round trip", "raw Vulkan, spinning wait", r["raw_cffi_spinning_median_us"], "us"))

    def median_us(fn):
        return _median_us(fn, iterations)

    if peers.get("cupy"):
        cp = peers["cupy"]
        x = cp.zeros(64, dtype=cp.float32)
        results.append(("eval() round trip", "CuPy launch + synchronize",
                        median_us(lambda: (x.__iadd__(1), cp.cuda.Device().synchronize())), "us"))
    if peers.get("torch"):
        torch = peers["torch"]
        x = torch.zeros(64, device="cuda")
        results.append(("eval() round trip", "PyTorch launch + synchronize",
                        median_us(lambda: (x.add_(1), torch.cuda.synchronize())), "us"))


def _median_us(fn, n: int) -> float:
    fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return round(statistics.median(samples) * 1e6, 2)


MULTIPLY_GLSL = """
#version 450
layout(local_size_x = 64) in;
layout(binding = 0) buffer A { float a[]; };
layout(binding = 1) buffer B { float b[]; };
layout(binding = 2) buffer C { float c[]; };
void main() { uint i = gl_GlobalInvocationID.x; if (i < c.length()) c[i] = a[i] * b[i]; }
"""


def def_calls(results: list, peers: dict, iterations: int) -> None:
    """The seed API's anonymous ``mgr.eval_algo_data_def(tensors, spirv)`` in a loop,
    next to the same dispatch recorded once and evaluated, and the peers' launch of
    the same multiply with a synchronize."""
    label = "one 64-element multiply per call, in a loop"
    spirv = kp.shader.compile_source(MULTIPLY_GLSL)
    with kp.Manager() as mgr:
        tensors = [kp.Tensor(np.full(64, v, np.float32)) for v in (2, 3, 0)]
        mgr.eval_tensor_create_def(tensors)
        results.append((label, "kp seed API eval_algo_data_def", _median_us(
            lambda: mgr.eval_algo_data_def(tensors, spirv), iterations), "us"))
        seq = mgr.sequence().record(kp.OpAlgoDispatch(mgr.algorithm(tensors, spirv)))
        results.append((label, "kp recorded sequence eval()", _median_us(seq.eval, iterations), "us"))
    if peers.get("cupy"):
        cp = peers["cupy"]
        a, b, c = cp.full(64, 2, cp.float32), cp.full(64, 3, cp.float32), cp.empty(64, cp.float32)
        sync = cp.cuda.Device().synchronize
        results.append((label, "CuPy multiply + synchronize",
                        _median_us(lambda: (cp.multiply(a, b, out=c), sync()), iterations), "us"))
    if peers.get("torch"):
        torch = peers["torch"]
        a, b, c = (torch.full((64,), v, device="cuda") for v in (2.0, 3.0, 0.0))
        results.append((label, "PyTorch mul + synchronize", _median_us(
            lambda: (torch.mul(a, b, out=c), torch.cuda.synchronize()), iterations), "us"))


def read_data(results: list, peers: dict, n: int, repeats: int) -> None:
    """NumPy sums over three tensors' ``data()`` right after the GPU wrote them (an
    OpSyncLocal on discrete GPUs), next to the same sums over ordinary NumPy arrays
    and over PyTorch's pinned host tensors after their copy from the GPU."""
    label = f"NumPy sums over 3 x {4 * n >> 20} MiB of results"
    with kp.Manager() as mgr:
        tensors = [mgr.tensor(np.full(n, v, np.float32)) for v in (1, 2, 3)]
        to_host = mgr.sequence().record(kp.OpSyncLocal(tensors))
        to_host.eval()
        seconds = best_of(lambda: [t.data().sum() for t in tensors], repeats)
        results.append((label, "kp data()", round(seconds * 1e3, 3), "ms"))
        seconds = best_of(lambda: (to_host.eval(), [t.data().sum() for t in tensors]), repeats)
        results.append((label, "kp OpSyncLocal + data()", round(seconds * 1e3, 3), "ms"))
    arrays = [np.full(n, v, np.float32) for v in (1, 2, 3)]
    seconds = best_of(lambda: [a.sum() for a in arrays], repeats)
    results.append((label, "ordinary NumPy arrays", round(seconds * 1e3, 3), "ms"))
    if peers.get("torch"):
        torch = peers["torch"]
        device = [torch.full((n,), float(v), device="cuda") for v in (1, 2, 3)]
        host = [torch.empty(n).pin_memory() for _ in range(3)]

        def copy_and_sum():
            for h, d in zip(host, device):
                h.copy_(d)
            torch.cuda.synchronize()
            return [h.numpy().sum() for h in host]

        results.append((label, "PyTorch copy to pinned + numpy()", round(best_of(copy_and_sum, repeats) * 1e3, 3),
                        "ms"))
        del device, host
        torch.cuda.empty_cache()


def barriers(results: list, count: int, repeats: int) -> None:
    r = barrier_bench.measure(count, repeats)
    label = f"{count} tiny dispatches in one sequence"
    results.append((label, "kp, independent (no barriers)", r["kp independent (µs/dispatch)"], "us/dispatch"))
    results.append((label, "kp, dependent (a barrier each)", r["kp dependent (µs/dispatch)"], "us/dispatch"))
    for form in ("no barrier", "global barrier, exact masks", "global barrier, full (kp before)"):
        results.append((label, f"raw Vulkan, {form}", r[f"raw distinct tensors, {form} (µs/dispatch)"], "us/dispatch"))


def multiply(results: list, peers: dict, n: int, repeats: int) -> None:
    nbytes = 3 * 4 * n
    with kp.Manager() as mgr:
        a = mgr.tensor(np.full(n, 2, np.float32))
        b = mgr.tensor(np.full(n, 3, np.float32))
        out = mgr.tensor(np.zeros(n, np.float32))
        mgr.sequence().eval(kp.OpSyncDevice([a, b]))
        # several multiplies per submission, so that the figure is the shader's and
        # not the ~20 us round trip's
        per_eval = 8
        seq = mgr.sequence()
        for _ in range(per_eval):
            seq.record(kp.OpMult([a, b, out], mgr.algorithm()))
        seconds = best_of(seq.eval, repeats) / per_eval
        mgr.sequence().eval(kp.OpSyncLocal([out]))
        assert out.data()[0] == 6 and out.data()[-1] == 6
        results.append((f"OpMult 2^{n.bit_length() - 1} float32", "kp", round(nbytes / seconds / 1e9, 1), "GB/s"))
    if peers.get("cupy"):
        cp = peers["cupy"]
        x, y, z = cp.full(n, 2, cp.float32), cp.full(n, 3, cp.float32), cp.empty(n, cp.float32)
        sync = cp.cuda.Device().synchronize
        seconds = best_of(lambda: (cp.multiply(x, y, out=z), sync()), repeats)
        results.append((f"OpMult 2^{n.bit_length() - 1} float32", "CuPy", round(nbytes / seconds / 1e9, 1), "GB/s"))
        del x, y, z
    if peers.get("torch"):
        torch = peers["torch"]
        x, y = torch.full((n,), 2.0, device="cuda"), torch.full((n,), 3.0, device="cuda")
        z = torch.empty(n, device="cuda")
        seconds = best_of(lambda: (torch.mul(x, y, out=z), torch.cuda.synchronize()), repeats)
        results.append((f"OpMult 2^{n.bit_length() - 1} float32", "PyTorch", round(nbytes / seconds / 1e9, 1), "GB/s"))
        del x, y, z
        torch.cuda.empty_cache()
    x, y = np.full(n, 2, np.float32), np.full(n, 3, np.float32)
    z = np.empty_like(x)
    seconds = best_of(lambda: np.multiply(x, y, out=z), max(1, repeats // 4))
    results.append((f"OpMult 2^{n.bit_length() - 1} float32", "NumPy (CPU)", round(nbytes / seconds / 1e9, 1), "GB/s"))


def matmul(results: list, peers: dict, n: int, repeats: int) -> None:
    """n x n x n matrix products in TFLOP/s: kp.OpMatMul with float16 inputs on
    tensor cores (where the device lists the cooperative matrix) and with float32,
    next to torch.matmul in float16 and in float32 with TF32 off."""
    label = f"matmul {n}^3"
    flops = 2 * n ** 3
    rng = np.random.default_rng(0)
    host = [rng.uniform(-1, 1, (n, n)).astype(np.float32) for _ in range(2)]
    per_eval = 4  # products per submission, so that the figure is the kernel's
    with kp.Manager() as mgr:
        for dtype, who in ((np.float16, "kp OpMatMul float16 (cooperative matrix)"),
                           (np.float32, "kp OpMatMul float32 (tiled)")):
            a, b = (mgr.tensor_t(h.astype(dtype)) for h in host)
            c = mgr.tensor(np.zeros((n, n), np.float32))
            try:
                op = kp.OpMatMul([a, b, c], mgr.algorithm())
            except kp.DataTypeError as exc:  # no tensor cores listed here
                print(f"note: {who} skipped: {exc}")
                continue
            seq = mgr.sequence()
            for _ in range(per_eval):
                seq.record(op)
            mgr.sequence().eval(kp.OpSyncDevice([a, b]))
            seconds = best_of(seq.eval, repeats) / per_eval
            mgr.sequence().eval(kp.OpSyncLocal([c]))
            rows = host[0][:4].astype(dtype).astype(np.float32) @ host[1].astype(dtype).astype(np.float32)
            if not np.allclose(c.data().reshape(n, n)[:4], rows, rtol=1e-3, atol=1e-3 * np.sqrt(n)):
                raise RuntimeError(f"{who} gave wrong products")
            results.append((label, who, float(f"{flops / seconds / 1e12:.3g}"), "TFLOP/s"))
            del a, b, c, op, seq
    if peers.get("torch"):
        torch = peers["torch"]
        torch.backends.cuda.matmul.allow_tf32 = False
        for dtype, who in ((torch.float16, "PyTorch float16"), (torch.float32, "PyTorch float32, TF32 off")):
            x, y = (torch.tensor(h, device="cuda", dtype=dtype) for h in host)
            z = torch.empty((n, n), device="cuda", dtype=dtype)

            def run():
                for _ in range(per_eval):
                    torch.matmul(x, y, out=z)
                torch.cuda.synchronize()

            results.append((label, who, float(f"{flops / (best_of(run, repeats) / per_eval) / 1e12:.3g}"), "TFLOP/s"))
            del x, y, z
        torch.cuda.empty_cache()


# python2shader's documented tiled GEMM (kp.shader.python's docstring), line for line in GLSL
GEMM_GLSL_TWIN = """
#version 450
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
layout(local_size_x = 128) in;
layout(set = 0, binding = 0) buffer A { float16_t a[]; };
layout(set = 0, binding = 1) buffer B { float16_t b[]; };
layout(set = 0, binding = 2) buffer C { float c[]; };
layout(push_constant) uniform Params { uint n; uint k; };
shared float16_t sa[64 * 32];
shared float16_t sb[32 * 64];
#define A16 coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA>
#define B16 coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB>
#define C16 coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>
void main() {
    uint t = gl_LocalInvocationIndex, sg = gl_SubgroupID;
    uint row0 = gl_WorkGroupID.y * 64, col0 = gl_WorkGroupID.x * 64;
    uint wr = sg / 2 * 32, wc = sg % 2 * 32;
    C16 acc00 = C16(0.0);
    C16 acc01 = C16(0.0);
    C16 acc10 = C16(0.0);
    C16 acc11 = C16(0.0);
    for (uint k0 = 0; k0 < k; k0 += 32) {
        for (uint i = t; i < 64 * 32; i += 128) {
            sa[i] = a[(row0 + i / 32) * k + k0 + i % 32];
            sb[i] = b[(k0 + i / 64) * n + col0 + i % 64];
        }
        barrier();
        for (uint kk = 0; kk < 32; kk += 16) {
            A16 x0;
            A16 x1;
            B16 y0;
            B16 y1;
            coopMatLoad(x0, sa, wr * 32 + kk, 32, gl_CooperativeMatrixLayoutRowMajor);
            coopMatLoad(x1, sa, (wr + 16) * 32 + kk, 32, gl_CooperativeMatrixLayoutRowMajor);
            coopMatLoad(y0, sb, kk * 64 + wc, 64, gl_CooperativeMatrixLayoutRowMajor);
            coopMatLoad(y1, sb, kk * 64 + wc + 16, 64, gl_CooperativeMatrixLayoutRowMajor);
            acc00 = coopMatMulAdd(x0, y0, acc00);
            acc01 = coopMatMulAdd(x0, y1, acc01);
            acc10 = coopMatMulAdd(x1, y0, acc10);
            acc11 = coopMatMulAdd(x1, y1, acc11);
        }
        barrier();
    }
    uint o = (row0 + wr) * n + col0 + wc;
    coopMatStore(acc00, c, o, n, gl_CooperativeMatrixLayoutRowMajor);
    coopMatStore(acc01, c, o + 16, n, gl_CooperativeMatrixLayoutRowMajor);
    coopMatStore(acc10, c, o + 16 * n, n, gl_CooperativeMatrixLayoutRowMajor);
    coopMatStore(acc11, c, o + 16 * n + 16, n, gl_CooperativeMatrixLayoutRowMajor);
}
"""


def _documented_gemm():
    """The python2shader GEMM of kp.shader.python's docstring, defined from its text
    (python2shader reads a kernel's source, which linecache holds for it)."""
    import linecache
    import textwrap

    block = kp.shader.python.__doc__.split("push_consts=[N, K]``)::\n", 1)[1].split("\nEvery mistake")[0]
    source = textwrap.dedent(block)
    linecache.cache["<documented gemm>"] = (len(source), None, source.splitlines(True), "<documented gemm>")
    namespace = {name: getattr(kp.shader, name) for name in kp.shader.__all__}
    exec(compile(source, "<documented gemm>", "exec"), namespace)
    return namespace["gemm"]


def python_gemm(results: list, n: int, repeats: int) -> None:
    """python2shader's documented GEMM against the same kernel in GLSL, n x n x n float16
    products into float32 (where the device lists 16 x 16 x 16 cooperative matrices)."""
    rng = np.random.default_rng(1)
    host = [(rng.integers(-8, 9, (n, n)) / 4).astype(np.float16) for _ in range(2)]
    with kp.Manager() as mgr:
        a, b = (mgr.tensor_t(h) for h in host)
        c = mgr.tensor(np.zeros((n, n), np.float32))
        mgr.sequence().eval(kp.OpSyncDevice([a, b]))
        for who, spirv in (("kp python2shader (documented GEMM)", _documented_gemm()),
                           ("kp GLSL twin", kp.shader.compile_source(GEMM_GLSL_TWIN))):
            try:
                algorithm = mgr.algorithm([a, b, c], spirv, (n // 64, n // 64, 1), push_consts=[n, n])
            except kp.ShaderError as exc:  # no cooperative matrices here
                print(f"note: {who} skipped: {exc}")
                return
            seq = mgr.sequence()
            for _ in range(4):
                seq.record(kp.OpAlgoDispatch(algorithm))
            seconds = best_of(seq.eval, repeats) / 4
            mgr.sequence().eval(kp.OpSyncLocal([c]))
            if not np.array_equal(c.data().reshape(n, n)[:4], host[0][:4].astype(np.float32) @ host[1].astype(np.float32)):
                raise RuntimeError(f"{who} gave wrong products")
            results.append((f"GEMM {n}^3 float16 (python2shader vs GLSL)", who,
                            float(f"{2 * n ** 3 / seconds / 1e12:.3g}"), "TFLOP/s"))


def sync(results: list, peers: dict, nbytes: int, repeats: int) -> None:
    n = nbytes // 4
    label = f"sync {nbytes / GiB:g} GiB"
    with kp.Manager() as mgr:
        t = mgr.tensor(np.zeros(n, np.float32))
        t.data()[:] = 1.5
        to_device = mgr.sequence().record(kp.OpSyncDevice([t]))
        to_host = mgr.sequence().record(kp.OpSyncLocal([t]))
        up = best_of(to_device.eval, repeats)
        down = best_of(to_host.eval, repeats)
        assert t.data()[0] == 1.5 and t.data()[-1] == 1.5
        results.append((label + " host->device", "kp OpSyncDevice", round(nbytes / up / 1e9, 1), "GB/s"))
        results.append((label + " device->host", "kp OpSyncLocal", round(nbytes / down / 1e9, 1), "GB/s"))
    if peers.get("torch"):
        torch = peers["torch"]
        host = torch.ones(n, dtype=torch.float32).pin_memory()
        dev = torch.empty(n, dtype=torch.float32, device="cuda")
        up = best_of(lambda: (dev.copy_(host), torch.cuda.synchronize()), repeats)
        down = best_of(lambda: (host.copy_(dev), torch.cuda.synchronize()), repeats)
        results.append((label + " host->device", "PyTorch pinned", round(nbytes / up / 1e9, 1), "GB/s"))
        results.append((label + " device->host", "PyTorch pinned", round(nbytes / down / 1e9, 1), "GB/s"))
        del host, dev
        torch.cuda.empty_cache()


LOGISTIC_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(binding = 0) buffer XI { float x_i[]; };
layout(binding = 1) buffer XJ { float x_j[]; };
layout(binding = 2) buffer Y { float y[]; };
layout(binding = 3) buffer WIN { float w_in[]; };
layout(binding = 4) buffer WOI { float w_out_i[]; };
layout(binding = 5) buffer WOJ { float w_out_j[]; };
layout(binding = 6) buffer BIN { float b_in[]; };
layout(binding = 7) buffer BOUT { float b_out[]; };
layout(binding = 8) buffer LOUT { float l_out[]; };
layout(binding = 9) buffer MM { float M[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    float m = M[0];
    vec2 w_curr = vec2(w_in[0], w_in[1]);
    float b_curr = b_in[0];
    vec2 x_curr = vec2(x_i[i], x_j[i]);
    float y_curr = y[i];
    float z = dot(w_curr, x_curr) + b_curr;
    float y_hat = 1.0 / (1.0 + exp(-z));
    float d_z = y_hat - y_curr;
    vec2 d_w = (1.0 / m) * x_curr * d_z;
    float d_b = (1.0 / m) * d_z;
    float loss = -((y_curr * log(y_hat)) + ((1.0 + y_curr) * log(1.0 - y_hat)));
    w_out_i[i] = d_w.x;
    w_out_j[i] = d_w.y;
    b_out[i] = d_b;
    l_out[i] = loss;
}
"""


def _logistic_shader():
    """The seed's kernel through python2shader when it is available, else its GLSL twin."""
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
        from logistic_regression import compute_shader  # the seed example's kernel

        return compute_shader.to_spirv(), "python2shader"
    except Exception:  # noqa: BLE001
        return kp.shader.compile_source(LOGISTIC_GLSL), "GLSL"


def logistic(results: list, peers: dict, n: int, iterations: int) -> None:
    rng = np.random.default_rng(0)
    x_i, x_j = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    y = (x_i + x_j > 1).astype(np.float32)
    shader, kind = _logistic_shader()
    mgr = kp.Manager()
    tensors = [kp.Tensor(v) for v in (x_i, x_j, y)]
    w_in, b_in = kp.Tensor([0.001, 0.001]), kp.Tensor([0.0])
    outs = [kp.Tensor(np.zeros(n)) for _ in range(4)]
    m = kp.Tensor([float(n)])
    params = [*tensors, w_in, outs[0], outs[1], b_in, outs[2], outs[3], m]
    mgr.eval_tensor_create_def(params)
    sq = mgr.create_sequence()
    sq.begin()
    sq.record_tensor_sync_device([w_in, b_in])
    sq.record_algo_data(params, shader)
    sq.record_tensor_sync_local([outs[0], outs[1], outs[2], outs[3]])
    sq.end()
    lr = 0.1
    start = time.perf_counter()
    for _ in range(iterations):
        sq.eval()
        w = w_in.numpy()
        # np.asarray views the tensors' memory; numpy() copies, as Kompute v0.5's did
        w[0] -= lr * np.asarray(outs[0]).sum()
        w[1] -= lr * np.asarray(outs[1]).sum()
        w_in.set_data(w)
        b_in.set_data([b_in[0] - lr * np.asarray(outs[2]).sum()])
    seconds = time.perf_counter() - start
    mgr.destroy()
    label = f"logistic regression 2^{n.bit_length() - 1} samples"
    results.append((label, f"kp seed API ({kind} kernel)", round(iterations / seconds, 1), "it/s"))
    if peers.get("torch"):
        torch = peers["torch"]
        xi, xj, yt = (torch.tensor(v, device="cuda") for v in (x_i, x_j, y))
        w, b = torch.tensor([0.001, 0.001], device="cuda"), torch.tensor([0.0], device="cuda")

        def step():
            nonlocal w, b
            z = w[0] * xi + w[1] * xj + b
            y_hat = torch.sigmoid(z)
            d_z = (y_hat - yt) / n
            w = w - lr * torch.stack([(xi * d_z).sum(), (xj * d_z).sum()])
            b = b - lr * d_z.sum()
            torch.cuda.synchronize()

        step()
        start = time.perf_counter()
        for _ in range(iterations):
            step()
        results.append((label, "PyTorch (GPU)", round(iterations / (time.perf_counter() - start), 1), "it/s"))


def _fast_example():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    import logistic_regression_fast

    return logistic_regression_fast


# The example's step in CUDA, for the CuPy peer: the two-kernel step (gradient,
# then a one-block update) and the one-kernel step (the last block to finish
# updates), each with 256 threads per block and a shared-memory sum.
LOGISTIC_CUDA = r"""
__device__ float3 block_sum(float3 v) {  // the sum over the block, in thread 0
    __shared__ float3 sums[256];
    unsigned t = threadIdx.x;
    sums[t] = v;
    __syncthreads();
    for (unsigned s = 128; s > 0; s >>= 1) {
        if (t < s) sums[t] = make_float3(sums[t].x + sums[t + s].x, sums[t].y + sums[t + s].y,
                                         sums[t].z + sums[t + s].z);
        __syncthreads();
    }
    return sums[0];
}

__device__ float3 gradient_sum(const float* x_i, const float* x_j, const float* y, const float* w, int n) {
    float w_i = w[0], w_j = w[1], b = w[2];
    float3 acc = make_float3(0.f, 0.f, 0.f);
    for (int i = blockIdx.x * 256 + threadIdx.x; i < n; i += gridDim.x * 256) {
        float xi = x_i[i], xj = x_j[i];
        float d_z = 1.f / (1.f + expf(-(w_i * xi + w_j * xj + b))) - y[i];
        acc.x += xi * d_z; acc.y += xj * d_z; acc.z += d_z;
    }
    return block_sum(acc);
}

__device__ void update(const float4* partial, int blocks, float* w, float step) {
    float3 acc = make_float3(0.f, 0.f, 0.f);
    for (int i = threadIdx.x; i < blocks; i += 256) {
        float4 p = __ldcg(partial + i);  // from L2, where the other blocks wrote
        acc.x += p.x; acc.y += p.y; acc.z += p.z;
    }
    float3 total = block_sum(acc);
    if (threadIdx.x == 0) { w[0] -= step * total.x; w[1] -= step * total.y; w[2] -= step * total.z; }
}

extern "C" __global__ void gradient(const float* x_i, const float* x_j, const float* y, const float* w,
                                    float4* partial, int n) {
    float3 total = gradient_sum(x_i, x_j, y, w, n);
    if (threadIdx.x == 0) partial[blockIdx.x] = make_float4(total.x, total.y, total.z, 0.f);
}

extern "C" __global__ void update_weights(const float4* partial, int blocks, float* w, float step) {
    update(partial, blocks, w, step);
}

extern "C" __global__ void step(const float* x_i, const float* x_j, const float* y, float* w,
                                float4* partial, unsigned* arrived, int n, float step) {
    __shared__ bool last;
    float3 total = gradient_sum(x_i, x_j, y, w, n);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = make_float4(total.x, total.y, total.z, 0.f);
        __threadfence();
        last = atomicAdd(arrived, 1u) == gridDim.x - 1;
    }
    __syncthreads();
    if (!last) return;
    __threadfence();
    update(partial, gridDim.x, w, step);
    if (threadIdx.x == 0) *arrived = 0;
}
"""


def logistic_fast(results: list, peers: dict, n: int, iterations: int, repeats: int) -> None:
    """examples/logistic_regression_fast.py (``iterations`` steps recorded in one
    sequence) against the same float32 step in CuPy and PyTorch: eager (``iterations``
    steps, one synchronize), PyTorch's step captured in a CUDA graph (replayed
    ``iterations`` times, or ``iterations`` steps captured in one graph), and the
    step as CUDA kernels (two per step, or one whose last block updates), with
    ``iterations`` steps captured in one CUDA graph."""
    fast = _fast_example()
    x_i, x_j, y = fast.samples(n)
    lr = 0.1
    label = f"logistic regression 2^{n.bit_length() - 1} samples, {iterations} steps per run"
    with kp.Manager() as mgr:
        kinds = [(False, "kp, one dispatch per step (examples/logistic_regression_fast.py)")]
        if mgr.get_device_properties()["multiprocessors"] is not None:
            kinds.append((True, "kp, one dispatch per run (the example's persistent kernel)"))
        for persistent, who in kinds:
            seq, w = fast.training(mgr, x_i, x_j, y, iterations, lr, persistent=persistent)
            seq.eval()
            if not np.allclose(w.data(), fast.reference(x_i, x_j, y, iterations, lr), atol=1e-4):
                raise RuntimeError(f"the fast logistic regression gave {w.data()}")
            results.append((label, who, round(iterations / best_of(seq.eval, repeats), 1), "it/s"))
    x = np.stack([x_i, x_j, np.ones(n, np.float32)])  # (3, n): w @ x is w_i x_i + w_j x_j + b

    def rate(run) -> float:
        return round(iterations / best_of(run, repeats), 1)

    if peers.get("cupy"):
        cp = peers["cupy"]
        xd, yd, wd = cp.asarray(x), cp.asarray(y), cp.asarray([0.001, 0.001, 0.0], dtype=cp.float32)

        def cupy_run():
            for _ in range(iterations):
                d_z = 1 / (1 + cp.exp(-(wd @ xd))) - yd
                wd[...] -= (lr / n) * (xd @ d_z)
            cp.cuda.Device().synchronize()

        results.append((label, "CuPy eager", rate(cupy_run), "it/s"))
        del xd, yd, wd
        cuda_graphs(results, label, cp, fast, (x_i, x_j, y), iterations, lr, repeats)
    if peers.get("torch"):
        torch = peers["torch"]
        xd, yd = torch.tensor(x, device="cuda"), torch.tensor(y, device="cuda")
        wd = torch.tensor([0.001, 0.001, 0.0], device="cuda")

        def step():
            d_z = torch.sigmoid(wd @ xd) - yd
            wd.sub_(xd @ d_z, alpha=lr / n)

        def eager():
            for _ in range(iterations):
                step()
            torch.cuda.synchronize()

        results.append((label, "PyTorch eager", rate(eager), "it/s"))
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm up outside the capture, as CUDA graphs need
            for _ in range(3):
                step()
        torch.cuda.current_stream().wait_stream(side)
        one, whole = torch.cuda.CUDAGraph(), torch.cuda.CUDAGraph()
        with torch.cuda.graph(one):
            step()
        with torch.cuda.graph(whole):
            for _ in range(iterations):
                step()

        def replay_steps():
            for _ in range(iterations):
                one.replay()
            torch.cuda.synchronize()

        results.append((label, "PyTorch CUDA graph of one step", rate(replay_steps), "it/s"))
        results.append((label, f"PyTorch CUDA graph of {iterations} steps",
                        rate(lambda: (whole.replay(), torch.cuda.synchronize())), "it/s"))
        del one, whole, xd, yd, wd
        torch.cuda.empty_cache()


def cuda_graphs(results: list, label: str, cp, fast, data: tuple, iterations: int, lr: float,
                repeats: int) -> None:
    """The step in CUDA (``LOGISTIC_CUDA``), ``iterations`` steps captured in one CUDA graph."""
    n = len(data[0])
    module = cp.RawModule(code=LOGISTIC_CUDA)
    blocks = cp.cuda.Device().attributes["MultiProcessorCount"] * 8  # 8 blocks of 256 threads fill an SM
    xs = [cp.asarray(v) for v in data]
    wd = cp.zeros(3, cp.float32)
    partial, arrived = cp.zeros((blocks, 4), cp.float32), cp.zeros(1, cp.uint32)
    count, step = np.int32(n), np.float32(lr / n)
    gradient, update, fused = (module.get_function(k) for k in ("gradient", "update_weights", "step"))
    variants = {
        "two kernels each": lambda: (gradient((blocks,), (256,), (*xs, wd, partial, count)),
                                     update((1,), (256,), (partial, np.int32(blocks), wd, step))),
        "one kernel each, the last block updates": lambda: fused((blocks,), (256,),
                                                                 (*xs, wd, partial, arrived, count, step)),
    }
    for name, launch in variants.items():
        stream = cp.cuda.Stream(non_blocking=True)
        with stream:
            launch()  # loads the module outside the capture
            stream.begin_capture()
            for _ in range(iterations):
                launch()
            graph = stream.end_capture()
            wd[...] = cp.asarray([0.001, 0.001, 0.0], cp.float32)
            graph.launch(stream)
            stream.synchronize()
            if not np.allclose(wd.get(), fast.reference(*data, iterations, lr), atol=1e-4):
                raise RuntimeError(f"the CUDA step ({name}) gave {wd.get()}")

            def replay():
                graph.launch(stream)
                stream.synchronize()

            results.append((label, f"CUDA graph of {iterations} steps, {name} (CuPy RawKernel)",
                            round(iterations / best_of(replay, repeats), 1), "it/s"))


PIPELINE_PROBE = """
import time, sys, numpy as np, kp
from kp.shader import compile_source
mgr = kp.Manager()
t = mgr.tensor(np.zeros(16, np.float32))
spirv = compile_source(sys.argv[1])
# a first, different pipeline loads the driver's compiler, which costs the same
# with or without a cache; then the timed algorithm measures the cache alone
mgr.algorithm([t], compile_source("#version 450\\nlayout(local_size_x=1) in;\\nvoid main() {}"))
start = time.perf_counter()
mgr.algorithm([t] * 10, spirv)
print(time.perf_counter() - start)
"""


def pipeline_cache(results: list) -> None:
    source = LOGISTIC_GLSL.replace("1.0 / m", "(1.0 / m) * {}.0".format(time.time_ns() % 1000 + 1))
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, KP_CACHE_DIR=cache)
        times = [float(subprocess.run([sys.executable, "-c", PIPELINE_PROBE, source], env=env, check=True,
                                      capture_output=True, text=True).stdout) for _ in range(2)]
    results.append(("algorithm creation, new process", "kp, cold pipeline cache", round(times[0] * 1e3, 2), "ms"))
    results.append(("algorithm creation, new process", "kp, warm pipeline cache", round(times[1] * 1e3, 2), "ms"))


def small_tensors(results: list, peers: dict, count: int = 10_000) -> None:
    """Making ``count`` tensors of 16 float32 from NumPy, per tensor (each kept until all
    are made, as a program holding its data would), beside CuPy and PyTorch."""
    data = np.zeros(16, np.float32)
    label = "tensor from 16 NumPy floats, 10,000 made"

    def per_tensor_us(make) -> float:
        return round(best_of(lambda: [make() for _ in range(count)], 5) / count * 1e6, 2)

    with kp.Manager() as mgr:
        results.append((label, "kp mgr.tensor", per_tensor_us(lambda: mgr.tensor(data)), "us"))
    if peers.get("cupy"):
        cp = peers["cupy"]
        results.append((label, "CuPy cupy.asarray", per_tensor_us(lambda: cp.asarray(data)), "us"))
    if peers.get("torch"):
        torch = peers["torch"]
        results.append((label, "PyTorch torch.tensor(device='cuda')",
                        per_tensor_us(lambda: torch.tensor(data, device="cuda")), "us"))


def chart(rows: list, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    groups: dict[str, list] = {}
    for bench, who, value, unit in rows:
        groups.setdefault(f"{bench} ({unit})", []).append((who, value))
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, 2.2 * len(groups)))
    for ax, (title, entries) in zip(np.atleast_1d(axes), groups.items()):
        names, values = zip(*entries)
        ax.barh(names, values, color=["#2a7" if n.startswith("kp") else "#999" for n in names])
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=8)
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:g}", va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (for CPU devices)")
    parser.add_argument("--out", default="benchmark-results", help="folder for JSON and PNG")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks (by name)")
    args = parser.parse_args(argv)
    peers = {name: _peer(name) for name in ("cupy", "torch")}
    for name, module in peers.items():
        if module is None:
            print(f"note: {name} with a GPU is not available here; its column is skipped")
    quick = args.quick
    results: list = []
    benchmarks = {
        "latency": lambda: latency(results, peers, 500 if quick else 5000),
        "def_calls": lambda: def_calls(results, peers, 500 if quick else 5000),
        "read_data": lambda: read_data(results, peers, 1 << 20, 5 if quick else 20),
        "barriers": lambda: barriers(results, 1000, 5 if quick else 20),
        "multiply": lambda: multiply(results, peers, 1 << (22 if quick else 28), 5 if quick else 20),
        "matmul": lambda: matmul(results, peers, 256 if quick else 8192, 3 if quick else 10),
        "python_gemm": lambda: python_gemm(results, 256 if quick else 8192, 3 if quick else 10),
        "sync": lambda: sync(results, peers, (64 << 20) if quick else GiB, 3 if quick else 10),
        "logistic": lambda: logistic(results, peers, 1 << (15 if quick else 20), 20 if quick else 100),
        "logistic_fast": lambda: logistic_fast(results, peers, 1 << (15 if quick else 20), 100, 3 if quick else 20),
        "pipeline_cache": lambda: pipeline_cache(results),
        "small_tensors": lambda: small_tensors(results, peers),
    }
    unknown = set(args.only or ()) - set(benchmarks)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; known: {', '.join(benchmarks)}")
    failed = 0
    for name, benchmark in benchmarks.items():
        if args.only and name not in args.only:
            continue
        done = len(results)
        try:
            benchmark()
        except Exception as exc:  # noqa: BLE001 - report it and go on with the others
            failed += 1
            print(f"benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        for row in results[done:]:
            print("  ".join(str(x) for x in row), flush=True)

    device = kp.list_devices()[0]["device_name"]
    width = max((len(r[0]) for r in results), default=0)
    print(f"\nkp benchmarks on {device} ({time.strftime('%Y-%m-%d')})")
    for bench, who, value, unit in results:
        print(f"{bench:<{width}}  {who:<34} {value:>10} {unit}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"device": device, "date": time.strftime("%Y-%m-%d"), "results": [
        {"benchmark": b, "who": w, "value": v, "unit": u} for b, w, v, u in results]}, indent=2))
    if chart(results, out / "results.png"):
        print(f"chart: {out / 'results.png'}")
    else:
        print("note: matplotlib is not installed; no chart drawn")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
