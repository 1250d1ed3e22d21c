"""The documentation: every example in a docstring or a guide runs, and the site
(mkdocs with mkdocstrings: the guides in docs/ and the API reference from the
docstrings) builds without a warning."""

from __future__ import annotations

import doctest
import importlib
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kp

ROOT = Path(__file__).resolve().parents[1]
GUIDES = sorted((ROOT / "docs").rglob("*.md"))
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# A fenced Python block of a guide: a script (the page's blocks run in order in
# one namespace); its asserts check the numbers.
FENCED_PYTHON = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
# An example that imports an optional package (kp.dask's) is skipped without it.
OPTIONAL_IMPORT = re.compile(r"^\s*(?:>>> )?(?:import|from) (dask|distributed)\b", re.MULTILINE)


def skip_without_optional_imports(text: str) -> None:
    for name in sorted(set(OPTIONAL_IMPORT.findall(text))):
        pytest.importorskip(name, reason=f"the example needs {name} (a test extra)")


def docstring_tests() -> list[doctest.DocTest]:
    """The docstring examples of every module of kp there is now."""
    names = ["kp", *(info.name for info in pkgutil.walk_packages(kp.__path__, "kp."))]
    finder = doctest.DocTestFinder()
    tests = []
    for name in names:
        if name == "kp.__main__":  # running it is the command line
            continue
        module = importlib.import_module(name)
        tests += [test for test in finder.find(module, extraglobs={"kp": kp, "np": np}) if test.examples]
    return tests


def run_doctest(test: doctest.DocTest) -> None:
    report: list[str] = []
    result = doctest.DocTestRunner(optionflags=FLAGS).run(test, out=report.append)
    assert result.failed == 0, "".join(report)


@pytest.mark.parametrize("test", docstring_tests(), ids=lambda test: test.name)
def test_docstring_examples_run(test):
    skip_without_optional_imports(test.docstring or "")
    # docstrings may use `mgr`, as Kompute's documentation does: a fresh manager
    manager = test.globs.setdefault("mgr", kp.Manager())
    try:
        run_doctest(test)
    finally:
        manager.destroy()


@pytest.mark.parametrize("guide", GUIDES, ids=lambda path: str(path.relative_to(ROOT / "docs")))
def test_guide_examples_run(guide, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    text = guide.read_text()
    skip_without_optional_imports(text)
    # a guide may set environment variables (KP_VISIBLE_DEVICES): the next test gets them back as they were
    environment = dict(os.environ)
    try:
        run_guide(guide, text)
    finally:
        os.environ.clear()
        os.environ.update(environment)


def run_guide(guide: Path, text: str) -> None:
    # the fences around an example end its expected output
    unfenced = re.sub(r"^```.*$", "", text, flags=re.MULTILINE)
    test = doctest.DocTestParser().get_doctest(unfenced, {}, guide.name, str(guide), 0)
    if test.examples:
        run_doctest(test)
    namespace: dict = {"__name__": "__main__"}
    for block in FENCED_PYTHON.finditer(text):
        # padded to its lines in the guide: tracebacks (and python2shader, which
        # reads a kernel's source) see the guide's own line numbers
        padding = "\n" * text.count("\n", 0, block.start(1))
        exec(compile(padding + block.group(1), str(guide), "exec"), namespace)


def test_every_guide_is_in_the_navigation():
    config = (ROOT / "mkdocs.yml").read_text()
    assert [g for g in GUIDES if str(g.relative_to(ROOT / "docs")) not in config] == []


def test_site_builds_without_warnings(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra (pip install kp[docs]) builds the site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    reference = (tmp_path / "reference" / "kp" / "index.html").read_text()
    assert "Owns a Vulkan device" in reference  # the Manager's docstring
