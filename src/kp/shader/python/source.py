"""A Python function's source, parsed, with what its names refer to outside it."""

from __future__ import annotations

import ast
import inspect
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ...errors import ShaderCompileError

_PARSE_LOCK = threading.Lock()

# What ``Source.outer`` returns for a name that is neither global nor a closure variable.
MISSING = object()


@dataclass
class Source:
    """``tree`` is the function's ``ast.FunctionDef``; ``line_offset`` added to its
    line numbers gives lines of ``filename``; ``defaults`` are its evaluated
    parameter defaults by name; ``outer(name)`` is a global or closure value."""

    func: Callable[..., object]
    text: str
    tree: ast.FunctionDef
    filename: str
    line_offset: int
    defaults: dict[str, object]
    closure: dict[str, object]

    def outer(self, name: str) -> object:
        return self.closure[name] if name in self.closure else self.func.__globals__.get(name, MISSING)


def where(func: Callable[..., object]) -> str:
    """``file:line`` of ``func``'s definition."""
    code = func.__code__
    return f"{code.co_filename}:{code.co_firstlineno}"


def read(func: Callable[..., object]) -> Source:
    """The source of ``func``; raises ``ShaderCompileError`` where there is none."""
    code = func.__code__
    try:
        lines, first_line = inspect.getsourcelines(func)
    except (OSError, TypeError) as error:
        raise ShaderCompileError(f"{where(func)}: cannot read the source of "
                                 f"{func.__qualname__}: {error}") from None
    text = textwrap.dedent("".join(lines))
    try:
        with _PARSE_LOCK:  # CPython 3.11's parser loses count of its depth when threads parse at once
            tree = ast.parse(text).body[0]
    except SyntaxError:  # e.g. a lambda in the middle of a line
        tree = None
    if not isinstance(tree, ast.FunctionDef):
        raise ShaderCompileError(f"{where(func)}: {func.__qualname__} must be a function defined "
                                 f"with def to be compiled to a shader")
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
    return Source(func, text, tree, code.co_filename, first_line - 1, defaults, closure)
