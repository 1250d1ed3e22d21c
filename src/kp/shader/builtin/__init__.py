"""Shaders that ship with kp, precompiled so that running them needs no GLSL
compiler: ``NAME.comp`` is the source and ``NAME.spv`` its SPIR-V, kept equal
by ``tests/test_builtin_shaders.py``.

>>> spirv = builtin_spirv("opmult")
"""

from __future__ import annotations

import functools
from importlib import resources

from ...errors import ShaderError

__all__ = ["builtin_spirv"]


@functools.lru_cache(maxsize=None)
def builtin_spirv(name: str) -> bytes:
    """The SPIR-V of the built-in shader ``name`` (e.g. ``"opmult"``)."""
    files = resources.files(__name__)
    available = sorted(f.name[:-4] for f in files.iterdir() if f.name.endswith(".spv"))
    if name not in available:
        raise ShaderError(f"no built-in shader named {name!r}; available: {', '.join(available)}")
    return files.joinpath(f"{name}.spv").read_bytes()
