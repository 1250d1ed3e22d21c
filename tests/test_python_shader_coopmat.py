"""python2shader's cooperative matrices (tensor cores): CoopMat types, loads and
stores from buffers and shared arrays, multiply-add, fill and element-wise
arithmetic, compiled to SPIR-V that spirv-val accepts; a tiled GEMM that runs
where the device lists the configuration and is refused, before the driver,
where it does not (lavapipe)."""

import re
import textwrap

import numpy as np
import pytest

import kp
from conftest import run
from kp.shader import Array, CoopMat, f16, f32, python2shader
from kp.shader.spirv import CooperativeMatrix, reflect
from python_shader_helpers import shader_from_source, shaders_from_source, spirv_val

A16 = CoopMat(f16, 16, 16, "a")
B16 = CoopMat(f16, 16, 16, "b")
C16 = CoopMat(f32, 16, 16, "accumulator")


def _documented_gemm():
    """The tiled GEMM of python2shader's documentation (which this test runs)."""
    block = kp.shader.python.__doc__.split("push_consts=[N, K]``)::\n", 1)[1].split("\nEvery mistake")[0]
    (kernel,) = shaders_from_source(textwrap.dedent(block))
    return kernel


gemm = _documented_gemm()


@python2shader(local_size=(32, 1, 1))
def elementwise(a=("buffer", 0, Array(f16)), b=("buffer", 1, Array(f16)), c=("buffer", 2, Array(f32))):
    # 2 (A @ B^T) + (A @ B^T) / 4 - 1: a column-major load, fill, scalar and matrix arithmetic
    ab = coopmat_muladd(coopmat_load(A16, a, 0, 16), coopmat_load(B16, b, 0, 16, True), C16(0.0))  # noqa: F821
    coopmat_store(ab * 2.0 + ab / 4.0 - C16(1.0), c, 0, 16)  # noqa: F821


def _lists_f16(mgr):
    return any((m["m"], m["n"], m["k"], m["a_type"], m["c_type"], m["scope"])
               == (16, 16, 16, "float16", "float32", "subgroup")
               for m in mgr.get_device_properties()["cooperative_matrices"])


@pytest.mark.parametrize("kernel", [gemm, elementwise], ids=["gemm", "elementwise"])
def test_cooperative_matrix_kernels_compile_to_valid_spirv(kernel):
    spirv = kernel.to_spirv()
    spirv_val(spirv)
    info = reflect(spirv)
    assert {"CooperativeMatrixKHR", "VulkanMemoryModel", "Float16"} <= info.capabilities
    assert info.cooperative_matrices == (CooperativeMatrix("a", 16, 16, "float16", "subgroup"),
                                         CooperativeMatrix("accumulator", 16, 16, "float32", "subgroup"),
                                         CooperativeMatrix("b", 16, 16, "float16", "subgroup"))


def test_the_gemm_is_refused_before_the_driver_where_the_device_lacks_cooperative_matrices(mgr):
    if mgr.vk_device.features.get("cooperativeMatrix"):
        pytest.skip("the device has cooperative matrices")
    tensors = [mgr.tensor_t(np.zeros(64 * 64, dtype)) for dtype in (np.float16, np.float16, np.float32)]
    with pytest.raises(kp.ShaderError, match=r"needs CooperativeMatrixKHR \(cooperativeMatrix of "
                                             r"VK_KHR_cooperative_matrix\)"):
        mgr.algorithm(tensors, gemm, (1, 1, 1), push_consts=[64, 64])


def test_the_gemm_matches_numpy_where_the_device_lists_its_configuration(mgr):
    if not _lists_f16(mgr):
        pytest.skip("the device lists no 16x16x16 float16 -> float32 subgroup cooperative matrix")
    rng = np.random.default_rng(4)
    m, n, k = 128, 192, 96
    a = (rng.integers(-8, 9, (m, k)) / 2).astype(np.float16)
    b = (rng.integers(-8, 9, (k, n)) / 2).astype(np.float16)
    ta, tb, tc = mgr.tensor_t(a), mgr.tensor_t(b), mgr.tensor(np.zeros((m, n), np.float32))
    algorithm = mgr.algorithm([ta, tb, tc], gemm, (n // 64, m // 64, 1), push_consts=[n, k])
    run(mgr, kp.OpSyncDevice([ta, tb, tc]), kp.OpAlgoDispatch(algorithm), kp.OpSyncLocal([tc]))
    np.testing.assert_array_equal(tc.data().reshape(m, n), a.astype(np.float32) @ b.astype(np.float32))

    a, b = a[:16, :16].copy(), b[:16, :16].copy()
    ta, tb, tc = mgr.tensor_t(a), mgr.tensor_t(b), mgr.tensor(np.zeros(256, np.float32))
    run(mgr, kp.OpSyncDevice([ta, tb, tc]), kp.OpAlgoDispatch(mgr.algorithm([ta, tb, tc], elementwise, (1, 1, 1))),
        kp.OpSyncLocal([tc]))
    ab = a.astype(np.float32) @ b.astype(np.float32).T
    np.testing.assert_array_equal(tc.data().reshape(16, 16), ab * 2 + ab / 4 - 1)


@pytest.mark.parametrize("body, message", [
    ("x = coopmat_muladd(coopmat_load(A16, a, 0, 16), coopmat_load(A16, a, 0, 16), C16(0.0))",
     "takes cooperative matrices of use 'a', 'b' and 'accumulator'"),
    ("x = coopmat_muladd(coopmat_load(A16, a, 0, 16), coopmat_load(B8, a, 0, 16), C16(0.0))",
     "16 x 16 @ 16 x 8 does not make the accumulator's 16 x 16"),
    ("x = coopmat_load(C16, a, 0, 16)", "is read from and written to an array of f32, not Array(f16)"),
    ("x = coopmat_load(f16, a, 0, 16)", "needs a CoopMat type first"),
    ("x = coopmat_load(A16, a, 0)", "takes 4 or 5 arguments"),
    ("x = coopmat_load(A16, a, 0, 16, 1)", "column_major is True or False"),
    ("x = C16(0.0) + 1.0", "is multiplied or divided by a scalar"),
    ("x = C16(0.0) + A16(0.0)", "take + - * / with one of the same type"),
    ("x = 2.0 / C16(1.0)", "is multiplied or divided by a scalar"),
    ("x = coopmat_store(C16(0.0), a, 0, 16)", "coopmat_store() is only allowed as a statement"),
    ("coopmat_store(1.0, a, 0, 16)", "needs a cooperative matrix first"),
    ("x = C16(vec2(1.0, 2.0))", "takes the scalar that fills it"),
])
def test_cooperative_matrix_mistakes_are_compile_errors(body, message):
    source = f"""
    def kernel(a=("buffer", 0, Array(f16))):
        {body}
    """
    namespace = {"A16": A16, "B8": CoopMat(f16, 16, 8, "b"), "C16": C16}
    with pytest.raises(kp.ShaderCompileError, match=re.escape(message)):
        shader_from_source(source, namespace=namespace).to_spirv()


def test_coopmat_types_are_checked_when_declared():
    with pytest.raises(kp.ShaderCompileError, match="CoopMat use must be one of 'a', 'b', 'accumulator'"):
        CoopMat(f16, 16, 16, "c")
    with pytest.raises(kp.ShaderCompileError, match="CoopMat rows must be a positive int, not 0"):
        CoopMat(f16, 0, 16, "a")
    with pytest.raises(kp.ShaderCompileError, match="elements are a numeric scalar type"):
        CoopMat(Array(f16), 16, 16, "a")


def test_sizes_past_32_bits_are_refused_rather_than_truncated():
    # a 2**32 + 16 row matrix compiled to a 16-row one (and an array of 2**32 + 4
    # shared floats to 4 of them): SPIR-V writes sizes as 32-bit constants
    with pytest.raises(kp.ShaderCompileError, match=r"CoopMat rows must be a positive int, not 4294967312 "
                                                    r"\(a SPIR-V module holds sizes below 2\*\*32\)"):
        CoopMat(f16, 2 ** 32 + 16, 16, "a")
    with pytest.raises(kp.ShaderCompileError, match=r"Array length must be a positive int, not 4294967300"):
        Array(f32, 2 ** 32 + 4)
    assert CoopMat(f16, 2 ** 32 - 1, 16, "a").rows == 2 ** 32 - 1
