"""kp.OpMatMul: C = A @ B with kp's built-in kernels, checked against NumPy for
sizes that are and are not multiples of the kernels' tiles, in both memory
modes; the tensor-core kernel where the device lists its cooperative matrix."""

import numpy as np
import pytest

import kp
from conftest import run
from kp.operations.matmul import KERNELS

# (M, N, K): one element, odd sizes below, at and across the 128 x 128 tile and
# the K step, rows that do not start on 16 bytes (K or N not a multiple of 4 or 8)
SHAPES = [(1, 1, 1), (37, 53, 19), (128, 128, 32), (130, 129, 131), (5, 300, 7), (256, 64, 40), (64, 136, 200), (130, 132, 44), (64, 8, 4), (1100, 260, 20)]


def matmul(mgr, a_host, b_host, out_dtype=np.float32, **kwargs):
    a, b = mgr.tensor_t(a_host), mgr.tensor_t(b_host)
    c = mgr.tensor_t(np.full((a_host.shape[0], b_host.shape[-1]), np.nan, out_dtype))
    run(mgr, kp.OpSyncDevice([a, b, c]), kp.OpMatMul([a, b, c], mgr.algorithm(), **kwargs), kp.OpSyncLocal([c]))
    return c.data().reshape(a_host.shape[0], b_host.shape[-1])


@pytest.mark.parametrize("m, n, k", SHAPES)
def test_float32_matmul_matches_numpy(mgr, m, n, k):
    rng = np.random.default_rng(m * n * k)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    np.testing.assert_allclose(matmul(mgr, a, b), a @ b, rtol=1e-4, atol=1e-4 * np.sqrt(k))


def test_float16_matmul_runs_on_tensor_cores_where_the_device_lists_them(mgr):
    needs = KERNELS["float16", "float16", "float32"][2]
    keys = ("m", "n", "k", "a_type", "b_type", "c_type", "result_type", "scope")
    listed = [tuple(c[key] for key in keys) for c in mgr.get_device_properties()["cooperative_matrices"]]
    a = np.ones((16, 16), np.float16)
    if needs not in listed:
        with pytest.raises(kp.DataTypeError, match=r"needs a cooperative matrix of 16 x 16 x 16 with float16 "
                                                   r"inputs and float32 accumulators, which .* does not list"):
            matmul(mgr, a, a)
        return
    rng = np.random.default_rng(2)
    for m, n, k in SHAPES + [(512, 384, 1024), (2600, 200, 48)]:
        # small integers and halves: every product and sum is exact in float32
        a = (rng.integers(-8, 9, (m, k)) / 2).astype(np.float16)
        b = (rng.integers(-8, 9, (k, n)) / 2).astype(np.float16)
        np.testing.assert_array_equal(matmul(mgr, a, b), a.astype(np.float32) @ b.astype(np.float32),
                                      err_msg=f"{m} x {n} x {k}")


def test_sizes_come_from_shape_for_flat_tensors(mgr):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.arange(12, dtype=np.float32).reshape(3, 4)
    flat_a, flat_b = mgr.tensor(a.reshape(-1)), mgr.tensor(b.reshape(-1))
    c = mgr.tensor(np.zeros(8, np.float32))
    run(mgr, kp.OpSyncDevice([flat_a, flat_b]), kp.OpMatMul([flat_a, flat_b, c], mgr.algorithm(), shape=(2, 4, 3)),
        kp.OpSyncLocal([c]))
    np.testing.assert_array_equal(c.data().reshape(2, 4), a @ b)


def test_a_product_feeds_the_next_in_one_sequence(mgr):
    # the second product reads what the first wrote: the sequence must put a barrier
    # between them (synchronization validation reports it where it is missing)
    rng = np.random.default_rng(3)
    x, w1, w2 = (rng.integers(-3, 4, s).astype(np.float32) for s in ((70, 33), (33, 140), (140, 9)))
    tx, t1, t2 = mgr.tensor(x), mgr.tensor(w1), mgr.tensor(w2)
    h, y = mgr.tensor(np.zeros((70, 140), np.float32)), mgr.tensor(np.zeros((70, 9), np.float32))
    run(mgr, kp.OpSyncDevice([tx, t1, t2]), kp.OpMatMul([tx, t1, h], mgr.algorithm()),
        kp.OpMatMul([h, t2, y], mgr.algorithm()), kp.OpSyncLocal([y]))
    np.testing.assert_array_equal(y.data().reshape(70, 9), x @ w1 @ w2)


def test_matmul_reports_what_it_reads_and_writes(mgr):
    a, b, c = (mgr.tensor(np.zeros((4, 4), np.float32)) for _ in range(3))
    op = kp.OpMatMul([a, b, c], mgr.algorithm())
    accesses = {access.allocation: (access.reads, access.writes) for access in op.accesses()}
    assert accesses == {a.primary_allocation: (True, False), b.primary_allocation: (True, False),
                        c.primary_allocation: (True, True)}


@pytest.mark.memory_modes("unified")
@pytest.mark.parametrize("shapes, kwargs, match", [
    (((2, 3), (4, 5), (2, 5)), {}, r"needs a M x K, b K x N and c M x N, got shapes \[\(2, 3\), \(4, 5\), \(2, 5\)\]"),
    (((6,), (3, 4), (2, 4)), {}, r"takes its sizes from 2-D tensors, got shapes \[\(6,\)"),
    (((2, 3), (3, 4), (2, 4)), {"shape": (2, 4)}, r"shape is \(M, N, K\), three positive ints, got \(2, 4\)"),
    (((2, 3), (3, 4), (2, 4)), {"shape": (2, 4, 0)}, r"three positive ints, got \(2, 4, 0\)"),
    (((2, 3), (3, 4), (2, 4)), {"shape": (2**31, 4, 3)}, r"got \(2147483648, 4, 3\); each below 2\*\*31"),
    (((2, 3), (3, 4), (2, 4)), {"shape": (3, 4, 2)}, r"needs b of 2 x 4 = 8 elements, got 12"),
])
def test_bad_shapes_are_refused(mgr, shapes, kwargs, match):
    a, b, c = (mgr.tensor(np.zeros(s, np.float32)) for s in shapes)
    with pytest.raises(kp.InvalidArgumentError, match=match):
        kp.OpMatMul([a, b, c], mgr.algorithm(), **kwargs)


@pytest.mark.memory_modes("unified")
def test_bad_dtypes_and_aliases_are_refused(mgr):
    a = mgr.tensor(np.zeros((2, 2), np.float32))
    doubles = mgr.tensor_t(np.zeros((2, 2), np.float64))
    with pytest.raises(kp.DataTypeError, match="got a float64, b float32, c float32"):
        kp.OpMatMul([doubles, a, mgr.tensor(np.zeros((2, 2), np.float32))], mgr.algorithm())
    with pytest.raises(kp.InvalidArgumentError, match="result tensor c must not be one of its inputs"):
        kp.OpMatMul([a, mgr.tensor(np.zeros((2, 2), np.float32)), a], mgr.algorithm())
    with pytest.raises(kp.InvalidArgumentError, match="needs at least 3 tensor"):
        kp.OpMatMul([a, a], mgr.algorithm())
    with pytest.raises(kp.InvalidArgumentError, match="takes a kp.Algorithm"):
        kp.OpMatMul([a, a, mgr.tensor(np.zeros((2, 2), np.float32))], None)


def test_an_algorithm_given_to_two_products_is_refused_for_the_first(mgr):
    # each OpMatMul builds the algorithm for its own tensors: the first, recorded
    # after the second was made, would run the second's product
    a = mgr.tensor(np.full((3, 2), 2.0, np.float32))
    b, c, d, e = (mgr.tensor(np.ones(s, np.float32)) for s in ((2, 4), (3, 4), (4, 5), (3, 5)))
    shared = mgr.algorithm()
    first = kp.OpMatMul([a, b, c], shared)
    kp.OpMatMul([c, d, e], shared)
    seq = mgr.sequence().record(kp.OpSyncDevice([a, b, d]))
    with pytest.raises(kp.InvalidArgumentError, match="algorithm of this OpMatMul was rebuilt since it was made"):
        seq.record(first)
    # recorded before the next is made, each records its own product
    seq.record(kp.OpMatMul([a, b, c], shared)).record(kp.OpMatMul([c, d, e], shared))
    seq.record(kp.OpSyncLocal([c, e])).eval()
    np.testing.assert_array_equal(e.data().reshape(3, 5), np.full((3, 5), 16.0))
    with pytest.raises(kp.InvalidArgumentError, match="give each OpMatMul its own mgr.algorithm"):
        seq.rerecord()
