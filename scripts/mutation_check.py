"""Mutation check: break one mechanism that the test suite guards and watch the
suite fail. A mutation the suite survives is a blind spot of the tests.

    .venv/bin/python scripts/mutation_check.py            # every mutation
    .venv/bin/python scripts/mutation_check.py barriers   # one, by name

Each mutation runs in a temporary copy of the checkout (src/, tests/, examples/)
with pytest's ``-x``, so a detected mutation costs only the tests up to the first
failure. The exit status is non-zero if any mutation survives.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name -> (file, pattern of the line to change, what replaces the match)
MUTATIONS = {
    "barriers": ("src/kp/vk/commands.py", r"(\n    def barrier\(self.*?\) -> None:\n)",
                 r"\1        return\n"),
    "device-wait": ("src/kp/vk/commands.py", r"(\nclass Timeline:.*?\n    def wait\(self.*?\) -> bool:\n)",
                    r"\1        self.completed = self.submitted\n        return True\n"),
    "op-memory-barrier": ("src/kp/operations/barrier.py", r"(\n    def record\(self.*?\) -> None:\n)",
                          r"\1        return\n"),
    "release-at-once": ("src/kp/vk/core.py", r"if use is not None and not use\.done\(\):",
                        "if False:"),
    "image-layouts": ("src/kp/hazards.py", r"(\n    def home\(self.*?\) -> None:\n)", r"\1        return\n"),
}


def mutate(tree: Path, name: str) -> None:
    path, pattern, replacement = MUTATIONS[name]
    file = tree / path
    text = file.read_text()
    changed, count = re.subn(pattern, replacement, text, count=1, flags=re.S)
    if count != 1:
        raise SystemExit(f"mutation {name}: pattern not found in {path}; update scripts/mutation_check.py")
    compile(changed, str(file), "exec")  # a mutant that does not even parse proves nothing
    file.write_text(changed)


def run(name: str, pytest_args: list[str], timeout: float) -> tuple[bool, str, float]:
    """Whether the suite failed on the mutated copy, its last lines, and the time it took."""
    with tempfile.TemporaryDirectory(prefix=f"kp-mutant-{name}-") as tmp:
        tree = Path(tmp)
        for folder in ("src", "tests", "examples"):
            shutil.copytree(ROOT / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__"))
        mutate(tree, name)
        env = dict(os.environ, PYTHONPATH=str(tree / "src"), KP_CACHE_DIR=str(tree / "cache"))
        start = time.monotonic()
        try:
            result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                                     *pytest_args], cwd=tree, env=env, capture_output=True, text=True,
                                    timeout=timeout)
            failed, output = result.returncode != 0, result.stdout + result.stderr
        except subprocess.TimeoutExpired:
            failed, output = True, f"the suite hung (over {timeout:.0f} s)"
        return failed, "\n".join(output.strip().splitlines()[-3:]), time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", choices=[[], *MUTATIONS], help="mutations to run (default: all)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds a mutated suite may take")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: arguments for pytest")
    args = parser.parse_args()
    survivors = []
    for name in args.names or list(MUTATIONS):
        failed, tail, seconds = run(name, [a for a in args.pytest_args if a != "--"], args.timeout)
        print(f"{name}: {'caught' if failed else 'SURVIVED'} in {seconds:.0f} s\n    "
              + tail.replace("\n", "\n    "), flush=True)
        if not failed:
            survivors.append(name)
    print("every mutation was caught" if not survivors else f"survived: {', '.join(survivors)}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
