"""kp's on-disk cache (compiled GLSL, SPIR-V verdicts, pipeline caches): one
folder, entries written atomically, and a cache that cannot be written is only
slower, never an error."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_dir() -> Path:
    """``$KP_CACHE_DIR``, else ``$XDG_CACHE_HOME/kp``, else ``~/.cache/kp``."""
    base = os.environ.get("KP_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = os.path.join(xdg, "kp") if xdg else os.path.join(os.path.expanduser("~"), ".cache", "kp")
    return Path(base)


def read(kind: str, name: str) -> bytes | None:
    """The entry ``name`` of the cache's ``kind`` folder, or None."""
    try:
        return (cache_dir() / kind / name).read_bytes()
    except OSError:
        return None


def write(kind: str, name: str, data: bytes) -> None:
    """Store an entry; a concurrent reader sees the old entry or the whole new one."""
    directory = cache_dir() / kind
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(tmp, directory / name)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass
