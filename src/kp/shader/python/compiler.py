"""The compiler driver: a Python function's source to SPIR-V bytes, cached."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable

from ...errors import ShaderCompileError
from . import backend
from .frontend import MISSING, FrontEnd
from .types import ShaderType

# Compiled modules by (source, local size, parameter defaults, outer values used).
_CACHE: dict[tuple, bytes] = {}
_CACHE_SIZE = 256


def compile_function(func: Callable, local_size: tuple[int, int, int]) -> bytes:
    """The SPIR-V module of ``func``; raises ``ShaderCompileError``."""
    code = func.__code__
    where = f"{code.co_filename}:{code.co_firstlineno}"
    try:
        lines, first_line = inspect.getsourcelines(func)
    except (OSError, TypeError) as error:
        raise ShaderCompileError(f"{where}: cannot read the source of "
                                 f"{func.__qualname__}: {error}") from None
    source = textwrap.dedent("".join(lines))

    names = code.co_varnames[:code.co_argcount]
    positional = func.__defaults__ or ()
    defaults = dict(zip(names[len(names) - len(positional):], positional))
    defaults.update(func.__kwdefaults__ or {})
    closure = {}
    for name, cell in zip(code.co_freevars, func.__closure__ or ()):
        try:
            closure[name] = cell.cell_contents
        except ValueError:  # a closure variable not assigned yet
            pass

    def outer(name: str) -> object:
        return closure[name] if name in closure else func.__globals__.get(name, MISSING)

    # What the source reads from outside (global numbers and types) is part of the key.
    used = tuple((name, type(value), value)
                 for name in (*code.co_names, *code.co_freevars)
                 if isinstance(value := outer(name), (int, float, ShaderType)))
    key = (source, local_size, tuple(defaults.items()), used)
    try:
        spirv = _CACHE.get(key)
    except TypeError:  # an unhashable default; the front end reports it
        key, spirv = None, None
    if spirv is not None:
        return spirv

    try:
        tree = ast.parse(source).body[0]
        if not isinstance(tree, ast.FunctionDef):
            raise ShaderCompileError(f"{where}: python2shader needs a function defined with def")
        shader = FrontEnd(tree, code.co_filename, first_line - 1, defaults, outer, local_size).build()
        spirv = backend.emit(shader)
    except ShaderCompileError:
        raise
    except Exception as error:  # a compiler bug: still report where, as documented
        raise ShaderCompileError(
            f"{where}: internal error compiling {func.__qualname__}: {type(error).__name__}: {error}"
        ) from error
    if key is not None:
        if len(_CACHE) >= _CACHE_SIZE:
            del _CACHE[next(iter(_CACHE))]
        _CACHE[key] = spirv
    return spirv
