"""kp is typed (``py.typed``): the package passes ``mypy --strict`` (the ``[tool.mypy]``
configuration in pyproject.toml), and so does a user program over the public API of
both generations (tests/typing_usage.py), which also runs."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
USAGE = ROOT / "tests" / "typing_usage.py"


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory):
    """mypy's error lines for src/kp and the usage program, checked in one run under
    the project's strict configuration."""
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")
    cache = tmp_path_factory.mktemp("mypy_cache")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(cache), "--no-error-summary", "src/kp", str(USAGE)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    if result.returncode not in (0, 1):  # 2: mypy itself failed (bad configuration, crash)
        pytest.fail(f"mypy failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    return [line for line in result.stdout.splitlines() if ": error:" in line]


def test_py_typed_marker_ships_with_the_package():
    assert (ROOT / "src" / "kp" / "py.typed").is_file()


def test_kp_passes_mypy_strict(mypy_errors):
    errors = [e for e in mypy_errors if e.startswith("src")]
    assert not errors, f"mypy --strict finds {len(errors)} error(s) in src/kp:\n" + "\n".join(errors)


def test_a_user_program_over_the_public_api_passes_mypy_strict(mypy_errors):
    errors = [e for e in mypy_errors if not e.startswith("src")]
    assert not errors, f"mypy --strict finds {len(errors)} error(s) in {USAGE.name}:\n" + "\n".join(errors)


def test_the_typed_user_program_runs(memory_mode):
    import typing_usage  # tests/ is on sys.path, as for conftest

    typing_usage.main()  # it checks its numbers against NumPy's
