"""The compiler driver: a Python function's source to SPIR-V bytes, cached."""

from __future__ import annotations

import types
from collections.abc import Callable

import numpy as np

from ...errors import ShaderCompileError
from . import backend
from .frontend import FrontEnd
from .source import read, where
from .types import ShaderType

# Compiled modules by (source, local size, parameter defaults, outer values used).
_CACHE: dict[tuple[object, ...], bytes] = {}
_CACHE_SIZE = 256


def compile_function(func: Callable[..., object], local_size: tuple[int, int, int] | None) -> bytes:
    """The SPIR-V module of ``func``; raises ``ShaderCompileError``."""
    source = read(func)
    code = func.__code__
    # What the source reads from outside (global numbers, types and the functions
    # it calls) is part of the key.
    used = tuple((name, type(value), value)
                 for name in (*code.co_names, *code.co_freevars)
                 if isinstance(value := source.outer(name),
                               (int, float, np.generic, ShaderType, types.FunctionType, types.ModuleType)))
    key: tuple[object, ...] | None
    key = (source.text, local_size, tuple(source.defaults.items()), used)
    try:
        spirv = _CACHE.get(key)
    except TypeError:  # an unhashable default; the front end reports it
        key, spirv = None, None
    if spirv is not None:
        return spirv

    try:
        spirv = backend.emit(FrontEnd(source, local_size).build())
    except ShaderCompileError:
        raise
    except Exception as error:  # a compiler bug: still report where, as documented
        raise ShaderCompileError(
            f"{where(func)}: internal error compiling {func.__qualname__}: {type(error).__name__}: {error}"
        ) from error
    if key is not None:
        if len(_CACHE) >= _CACHE_SIZE:
            del _CACHE[next(iter(_CACHE))]
        _CACHE[key] = spirv
    return spirv
