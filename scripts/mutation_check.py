"""Mutation check: break one mechanism that the test suite guards and watch the
tests that guard it fail. A mutation they survive is a blind spot of the tests.

    .venv/bin/python scripts/mutation_check.py            # every mutation
    .venv/bin/python scripts/mutation_check.py barriers   # one, by name
    .venv/bin/python scripts/mutation_check.py --whole    # the whole suite per mutation

Each mutation runs in a temporary copy of the checkout (everything but the
version control, the virtual environment and caches). The unmutated copy runs
first, and its guard tests must pass; a mutation counts as caught only when one
of the tests named as its guards fails, hangs or crashes the interpreter (not a
collection or usage error). The exit status is non-zero if the unmutated copy fails or any
mutation survives.
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
SKIPPED = shutil.ignore_patterns(".git", ".venv", ".gl", ".whl", ".probe", ".x*", "__pycache__", "site", "*.egg-info",
                                 ".mypy_cache", ".pytest_cache", ".hypothesis")

# name -> (the changes: (file, pattern of the text to change, what replaces the match), the guard tests)
MUTATIONS: dict[str, tuple[list[tuple[str, str, str]], list[str]]] = {
    "barriers": ([("src/kp/vk/commands.py", r"(\n    def barrier\(self.*?\) -> None:\n)", r"\1        return\n")],
                 ["tests/test_hazards.py"]),
    "device-wait": ([("src/kp/vk/commands.py", r"(\nclass Timeline:.*?\n    def wait\(self.*?\) -> bool:\n)",
                      r"\1        self.completed = self.submitted\n        return True\n")],
                    ["tests/test_async.py", "tests/test_sequence.py"]),
    "op-memory-barrier": ([("src/kp/operations/barrier.py", r"(\n    def record\(self.*?\) -> None:\n)",
                            r"\1        return\n")],
                          ["tests/test_hazards.py::test_a_users_memory_barrier_is_the_one_kp_relies_on",
                           "tests/test_operations.py::test_memory_barrier"]),
    "release-at-once": ([("src/kp/vk/core.py", r"if use is not None and not use\.done\(\):", "if False:")],
                        ["tests/test_reliability_release.py"]),
    "image-layouts": ([("src/kp/hazards.py", r"(\n    def home\(self.*?\) -> None:\n)", r"\1        return\n")],
                      ["tests/test_image.py"]),
    # a recording that holds no references: what it binds can be collected and its memory reused
    "recording-holds-nothing": ([("src/kp/vk/commands.py", r"uses\[thing\.life\] = thing", "uses[thing.life] = None"),
                                 ("src/kp/vk/pipeline.py", r"self\.bound = tuple\(resources\)",
                                  "self.bound = tuple(r.life for r in resources)")],
                                ["tests/test_ownership.py"]),
    # a retirement the submissions do not check for (as collection once retired)
    "retirement-unchecked": ([("src/kp/vk/core.py", r"    life\.retired = True\n    RETIREMENTS\.count \+= 1\n",
                               "    life.retired = True\n")],
                             ["tests/test_ownership.py", "tests/test_reliability_release.py"]),
    # the submission's bookkeeping after vkQueueSubmit, where a signal handler can cut it off
    "bookkeeping-after-signal": ([("src/kp/vk/commands.py", r"            except BaseException:\n                if "
                                   r"timeline\.unsettled:\n                    timeline\.settle\(\)\n",
                                   "            except BaseException:\n                timeline.unsettled = 0\n")],
                                 ["tests/test_ownership.py::test_ctrl_c_during_evaluations_leaves_every_submission_tracked"]),
}


def mutate(tree: Path, name: str) -> None:
    for path, pattern, replacement in MUTATIONS[name][0]:
        file = tree / path
        text = file.read_text()
        changed, count = re.subn(pattern, replacement, text, count=1, flags=re.S)
        if count != 1:
            raise SystemExit(f"mutation {name}: pattern not found in {path}; update scripts/mutation_check.py")
        compile(changed, str(file), "exec")  # a mutant that does not even parse proves nothing
        file.write_text(changed)


def run(name: str | None, tests: list[str], timeout: float) -> tuple[int | None, str, float]:
    """pytest's exit status on a copy of the checkout (mutated by ``name``, if given;
    None if it hung), its last lines, and the time it took."""
    with tempfile.TemporaryDirectory(prefix=f"kp-mutant-{name or 'none'}-") as tmp:
        tree = Path(tmp) / "kp"
        shutil.copytree(ROOT, tree, ignore=SKIPPED)
        if name:
            mutate(tree, name)
        env = dict(os.environ, PYTHONPATH=str(tree / "src"), KP_CACHE_DIR=str(tree / "cache"))
        start = time.monotonic()
        try:
            result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                                    cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
            code: int | None = result.returncode
            output = result.stdout + result.stderr
        except subprocess.TimeoutExpired:
            code, output = None, f"the tests hung (over {timeout:.0f} s)"
        return code, "\n".join(output.strip().splitlines()[-3:]), time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", choices=[[], *MUTATIONS], help="mutations to run (default: all)")
    parser.add_argument("--whole", action="store_true", help="run the whole suite, not the guard tests")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds the tests of one copy may take")
    args = parser.parse_args()
    names = args.names or list(MUTATIONS)

    def tests(name: str) -> list[str]:
        return [] if args.whole else MUTATIONS[name][1]

    every = sorted({t for name in names for t in tests(name)})
    code, tail, seconds = run(None, every, args.timeout)
    print(f"unmutated: {'passed' if code == 0 else 'FAILED'} in {seconds:.0f} s\n    " + tail.replace("\n", "\n    "),
          flush=True)
    if code != 0:
        print("the unmutated copy must pass before any mutation counts")
        return 1
    survivors = []
    for name in names:
        code, tail, seconds = run(name, tests(name), args.timeout)
        caught = code is None or code == 1 or code < 0  # a guard test failed, hung or crashed the interpreter
        print(f"{name}: {'caught' if caught else 'SURVIVED'} by {', '.join(tests(name)) or 'the suite'} in "
              f"{seconds:.0f} s (exit status {code})\n    " + tail.replace("\n", "\n    "), flush=True)
        if not caught:
            survivors.append(name)
    print("every mutation was caught" if not survivors else f"survived: {', '.join(survivors)}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
