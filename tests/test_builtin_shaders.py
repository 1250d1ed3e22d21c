"""The shaders shipped precompiled with kp: the committed SPIR-V must be what
their GLSL compiles to, valid for Vulkan 1.1, with the interface the
operations bind."""

from __future__ import annotations

from importlib import resources

import pytest

from kp.errors import ShaderError
from kp.shader import tools
from kp.shader.builtin import builtin_spirv
from kp.shader.glsl import compile_source
from kp.shader.spirv import Binding, reflect

BUILTINS = sorted(f.name[:-5] for f in resources.files("kp.shader.builtin").iterdir()
                  if f.name.endswith(".comp"))


def test_every_source_has_its_spirv():
    assert "opmult" in BUILTINS
    for name in BUILTINS:
        assert builtin_spirv(name)[:4] == b"\x03\x02\x23\x07"


@pytest.mark.skipif(tools.find(tools.GLSLANG) is None,
                    reason="glslangValidator is not installed")
@pytest.mark.parametrize("name", BUILTINS)
def test_committed_spirv_matches_a_fresh_compile(name):
    source = resources.files("kp.shader.builtin").joinpath(f"{name}.comp").read_text()
    assert builtin_spirv(name) == compile_source(source), (
        f"{name}.spv is stale: recompile it from {name}.comp")


@pytest.mark.skipif(tools.find(tools.SPIRV_VAL) is None, reason="spirv-val is not installed")
@pytest.mark.parametrize("name", BUILTINS)
def test_spirv_validates_for_vulkan_1_1(name, tmp_path):
    path = tmp_path / f"{name}.spv"
    path.write_bytes(builtin_spirv(name))
    result = tools.find(tools.SPIRV_VAL).run(["--target-env", "vulkan1.1", str(path)],
                                             capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_opmult_interface():
    info = reflect(builtin_spirv("opmult"))
    assert info.bindings == (
        Binding(0, 0, "storage_buffer", "InA", 4, True, ("float", 32)),
        Binding(0, 1, "storage_buffer", "InB", 4, True, ("float", 32)),
        Binding(0, 2, "storage_buffer", "Out", 4, False, ("float", 32)),
    )
    assert info.push_constant_size == 4
    assert info.local_size == (256, 1, 1)
    assert info.local_size_spec_ids == (0, None, None)
    assert [(s.id, s.kind, s.default) for s in info.spec_constants] == [(0, "uint", 256)]


def test_unknown_builtin_lists_the_available_ones():
    with pytest.raises(ShaderError, match="available: .*opmult"):
        builtin_spirv("opdivide")


@pytest.mark.parametrize("name", ["opmatmul_f32", "opmatmul_f16_coopmat"])
def test_opmatmul_interfaces(name):
    # A and B read-only, C written; M, N, K as three uints; 256 invocations
    info = reflect(builtin_spirv(name))
    assert [(b.set, b.binding, b.kind, b.readonly) for b in info.bindings] == [
        (0, 0, "storage_buffer", True), (0, 1, "storage_buffer", True), (0, 2, "storage_buffer", False)]
    assert info.push_constant_size == 12
    assert info.local_size == (256, 1, 1)
    assert ("CooperativeMatrixKHR" in info.capabilities) == name.endswith("coopmat")
