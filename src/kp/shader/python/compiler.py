"""The compiler driver: a Python function's source to SPIR-V bytes, cached."""

from __future__ import annotations

import ast
import threading
import types
from collections.abc import Callable

import numpy as np

from ...errors import ShaderCompileError
from . import backend
from .frontend import FrontEnd
from .source import Source, read, where
from .types import ShaderType

# Compiled modules by what they depend on (see _key).
_CACHE: dict[tuple[object, ...], bytes] = {}
_CACHE_SIZE = 256
_CACHE_LOCK = threading.Lock()  # threads compiling at once evict one entry each


def compile_function(func: Callable[..., object], local_size: tuple[int, int, int] | None) -> bytes:
    """The SPIR-V module of ``func``; raises ``ShaderCompileError``."""
    source = read(func)
    key: tuple[object, ...] | None
    try:
        key = (local_size, _key(source, set()))
        spirv = _CACHE.get(key)
    except (ShaderCompileError, TypeError):  # a called function without source, an unhashable
        # type: the front end reports what it cannot compile
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
        with _CACHE_LOCK:
            if len(_CACHE) >= _CACHE_SIZE:
                del _CACHE[next(iter(_CACHE))]
            _CACHE[key] = spirv
    return spirv


def _key(source: Source, seen: set[Callable[..., object]]) -> tuple[object, ...]:
    """What the compiled code of a function depends on: its source, its parameters'
    defaults (the kernel's declare its arguments' types) and the values of the outer
    names its body reads (globals, closure cells, a module's numbers), through every
    function it calls. ``seen``: the functions keyed so far (a recursive call is
    refused by the front end, and keyed once here)."""
    seen.add(source.func)
    nodes = [node for statement in source.tree.body for node in ast.walk(statement)]
    attributes = tuple(dict.fromkeys(node.attr for node in nodes if isinstance(node, ast.Attribute)))
    names = dict.fromkeys(node.id for node in nodes if isinstance(node, ast.Name))
    return (source.text, _value_key(tuple(source.defaults.items()), attributes, seen),
            tuple((name, _value_key(source.outer(name), attributes, seen)) for name in names))


def _value_key(value: object, attributes: tuple[str, ...], seen: set[Callable[..., object]]) -> object:
    """``value`` as a key part equal to another only where the compiled code would be
    the same: numbers by type and exact value (``-0.0`` is not ``0.0``), functions by
    what they depend on, modules by their numbers, types and functions that the code reads
    (``attributes``)."""
    # by the value itself, not by repr(), which a subclass (of float, an IntEnum) may change
    if isinstance(value, float):
        return type(value), float.hex(value)
    if isinstance(value, int):
        return type(value), int.__repr__(value)
    if isinstance(value, str):
        return type(value), str.__repr__(value)
    if isinstance(value, np.generic):
        return type(value), value.tobytes()
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(_value_key(v, attributes, seen) for v in value)
    if isinstance(value, ShaderType):
        return value
    if isinstance(value, types.FunctionType):
        return ("function", value.__qualname__) if value in seen else _key(read(value), seen)
    if isinstance(value, types.ModuleType):
        return value.__name__, tuple((name, _value_key(attribute, (), seen)) for name in attributes if isinstance(
            attribute := getattr(value, name, None), (bool, int, float, np.generic, ShaderType, types.FunctionType)))
    return type(value)  # what a shader cannot use: the front end refuses it where the code reads it
