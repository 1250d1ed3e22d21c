"""Cooperative matrices (tensor cores): the device's configurations in
kp.list_devices() and `kp devices`, the extension and its features enabled
where a shader needs them, and a clear refusal, before the driver, where the
device lacks them (lavapipe does: Mesa 22.3 has no cooperative matrices)."""

import numpy as np
import pytest

import kp
from conftest import run
from kp.algorithm import unlisted_cooperative_matrix
from kp.shader import compile_source
from kp.shader.spirv import CooperativeMatrix, reflect
from kp.vk.instance import EXTENSION_FEATURES, feature_chain, feature_source

# One 16x16x16 product per subgroup: C = A @ B, float16 inputs, float32 result.
COOPMAT_GLSL = """
#version 450
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
layout(local_size_x = 32) in;
layout(std430, binding = 0) readonly buffer A { float16_t a[]; };
layout(std430, binding = 1) readonly buffer B { float16_t b[]; };
layout(std430, binding = 2) writeonly buffer C { float c[]; };
void main() {
    coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA> ma;
    coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB> mb;
    coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator> acc =
        coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>(0.0);
    coopMatLoad(ma, a, 0, 16, gl_CooperativeMatrixLayoutRowMajor);
    coopMatLoad(mb, b, 0, 16, gl_CooperativeMatrixLayoutRowMajor);
    acc = coopMatMulAdd(ma, mb, acc);
    coopMatStore(acc, c, 0, 16, gl_CooperativeMatrixLayoutRowMajor);
}
"""


def _has_16x16x16_f16(device):
    return any((c["m"], c["n"], c["k"], c["a_type"], c["b_type"], c["c_type"], c["result_type"], c["scope"])
               == (16, 16, 16, "float16", "float16", "float32", "float32", "subgroup")
               for c in device["cooperative_matrices"])


def test_list_devices_gives_the_cooperative_matrix_configurations():
    for device in kp.list_devices():
        configurations = device["cooperative_matrices"]
        assert isinstance(configurations, list)
        if not device["features"].get("cooperativeMatrix"):
            assert configurations == []
        for c in configurations:
            assert c["m"] > 0 and c["n"] > 0 and c["k"] > 0
            assert c["scope"] in ("subgroup", "workgroup", "device", "queue_family")
            assert all(isinstance(c[key], str) for key in ("a_type", "b_type", "c_type", "result_type"))


def test_a_cooperative_matrix_shader_the_device_lacks_is_refused_before_the_driver(mgr):
    if mgr.vk_device.features.get("cooperativeMatrix"):
        pytest.skip("the device has cooperative matrices")
    a, b = mgr.tensor_t(np.ones(256, np.float16)), mgr.tensor_t(np.ones(256, np.float16))
    c = mgr.tensor(np.zeros(256, np.float32))
    with pytest.raises(kp.ShaderError, match=r"needs CooperativeMatrixKHR \(cooperativeMatrix of "
                                             r"VK_KHR_cooperative_matrix\), which .* (does not support|has but kp "
                                             r"keeps off here: the validation layer loaded predates it)"):
        mgr.algorithm([a, b, c], COOPMAT_GLSL)


def test_a_cooperative_matrix_shader_runs_where_the_device_lists_its_configuration(mgr):
    if not _has_16x16x16_f16(mgr.get_device_properties()):
        pytest.skip("the device lists no 16x16x16 float16 -> float32 subgroup cooperative matrix")
    assert "VK_KHR_cooperative_matrix" in mgr.vk_device.extensions  # enabled without asking
    rng = np.random.default_rng(1)
    a_host = rng.integers(-4, 5, (16, 16)).astype(np.float16)
    b_host = rng.integers(-4, 5, (16, 16)).astype(np.float16)
    a, b = mgr.tensor_t(a_host.reshape(-1)), mgr.tensor_t(b_host.reshape(-1))
    c = mgr.tensor(np.zeros(256, np.float32))
    run(mgr, kp.OpSyncDevice([a, b, c]), kp.OpAlgoDispatch(mgr.algorithm([a, b, c], COOPMAT_GLSL)),
        kp.OpSyncLocal([c]))
    np.testing.assert_array_equal(c.data().reshape(16, 16), a_host.astype(np.float32) @ b_host.astype(np.float32))


def test_features_the_vulkan_headers_lack_are_laid_out_by_kp():
    # the vulkan package's 1.3.275 headers have neither struct
    chain, structs = feature_chain({"cooperativeMatrixBlockLoads": True, "shaderBFloat16CooperativeMatrix": True},
                                   ["VK_NV_cooperative_matrix2", "VK_KHR_shader_bfloat16"])
    by_name = {name: struct for names, struct in structs for name in names}
    coopmat2, bfloat16 = by_name["cooperativeMatrixBlockLoads"], by_name["shaderBFloat16Type"]
    names = EXTENSION_FEATURES["VK_NV_cooperative_matrix2"].names
    assert [getattr(coopmat2, n) for n in names] == [0] * (len(names) - 1) + [1]
    assert [bfloat16.shaderBFloat16Type, bfloat16.shaderBFloat16DotProduct,
            bfloat16.shaderBFloat16CooperativeMatrix] == [0, 0, 1]
    # the bytes the driver reads: sType, pNext, then the VkBool32s in the struct's order
    words = np.frombuffer(kp.vk.core.ffi.buffer(coopmat2.pointer), np.uint32)
    assert words[0] == 1000593000 and words[4:11].tolist() == [0, 0, 0, 0, 0, 0, 1]
    assert np.frombuffer(kp.vk.core.ffi.buffer(bfloat16.pointer), np.uint32)[0] == 1000141000


def test_every_feature_names_its_extension():
    assert feature_source("cooperativeMatrix") == "VK_KHR_cooperative_matrix"
    assert feature_source("cooperativeMatrixNV") == "VK_NV_cooperative_matrix"
    assert feature_source("shaderBFloat16CooperativeMatrix") == "VK_KHR_shader_bfloat16"
    assert feature_source("shaderFloat16") == "VK_KHR_shader_float16_int8, core in Vulkan 1.2"
    assert feature_source("storageBuffer16BitAccess") == "VK_KHR_16bit_storage, core in Vulkan 1.1"
    assert feature_source("shaderFloat64") == ""
    for capability, feature in kp.algorithm.CAPABILITY_FEATURES.items():
        assert feature in kp.list_devices()[0]["features"] or feature_source(feature), capability


def _configuration(m, n, k, a, c, scope="subgroup"):
    return {"m": m, "n": n, "k": k, "a_type": a, "b_type": a, "c_type": c, "result_type": c,
            "saturating_accumulation": False, "scope": scope}


# what the H200 (driver 580.159.04) lists, in part
H200 = [_configuration(16, 16, 16, "float16", "float32"), _configuration(16, 8, 16, "float16", "float16"),
        _configuration(16, 16, 32, "int8", "int32"), _configuration(16, 16, 16, "bfloat16", "float32")]


def test_a_shader_s_cooperative_matrices_are_read_from_its_spirv():
    assert reflect(compile_source(COOPMAT_GLSL)).cooperative_matrices == (
        CooperativeMatrix("a", 16, 16, "float16", "subgroup"),
        CooperativeMatrix("accumulator", 16, 16, "float32", "subgroup"),
        CooperativeMatrix("b", 16, 16, "float16", "subgroup"))


def test_a_cooperative_matrix_no_configuration_has_is_found():
    matrices = reflect(compile_source(COOPMAT_GLSL)).cooperative_matrices
    assert unlisted_cooperative_matrix(matrices, H200) is None
    # a 16 x 32 A matrix: no configuration has K = 32 for float16
    wide = reflect(compile_source(COOPMAT_GLSL.replace("16, 16, gl_MatrixUseA", "16, 32, gl_MatrixUseA")
                                  .replace("16, 16, gl_MatrixUseB", "32, 16, gl_MatrixUseB")))
    assert unlisted_cooperative_matrix(wide.cooperative_matrices, H200) == CooperativeMatrix(
        "a", 16, 32, "float16", "subgroup")
    assert unlisted_cooperative_matrix(matrices, [_configuration(16, 16, 16, "float16", "float16")]) == \
        CooperativeMatrix("accumulator", 16, 16, "float32", "subgroup")
    assert unlisted_cooperative_matrix(matrices, [_configuration(16, 16, 16, "float16", "float32", "workgroup")]) \
        == CooperativeMatrix("a", 16, 16, "float16", "subgroup")
    assert unlisted_cooperative_matrix(matrices, []) is not None
