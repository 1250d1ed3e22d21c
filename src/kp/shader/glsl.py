"""GLSL compute shaders compiled to SPIR-V with glslangValidator, and
``as_spirv``: the one place that turns whatever a user passes as a shader into
SPIR-V bytes.

>>> spirv = compile_source("#version 450\\nlayout(local_size_x = 64) in;\\nvoid main() {}")
>>> spirv[:4] == b"\\x03\\x02\\x23\\x07"
True

Compiled modules are cached in memory and on disk (``$KP_CACHE_DIR``, else
``$XDG_CACHE_HOME/kp``, else ``~/.cache/kp``; subfolder ``glsl/``), keyed by the
source, the files it includes, the options, the compiler's version and the checks
kp makes of a module (a module cached before a check existed is checked anew).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import cache
from ..errors import InvalidArgumentError, ShaderCompileError, ShaderError
from . import spirv as _spirv
from . import tools

_TARGET = ("-V", "--target-env", "vulkan1.1")
_DIAGNOSTIC = re.compile(r"^(ERROR|WARNING): ([^:\n]*):(\d+):", re.MULTILINE)
_MACRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# a quoted include line (glslangValidator finds no <name> include)
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"\n]*)"', re.MULTILINE)
# what the preprocessor takes out before it reads directives: line continuations,
# then comments (``/* header */ #include "a.h"`` is an include)
_CONTINUATION = re.compile(r"\\\r?\n")
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_INCLUDE_DEPTH = 64
# GL_KHR_memory_scope_semantics' qualifiers, which glslang drops without a word
# unless the shader asks for the Vulkan memory model (its loads and stores are then
# private: one workgroup may never see another's writes)
_SCOPED_QUALIFIER = re.compile(r"\b(workgroupcoherent|subgroupcoherent|queuefamilycoherent|devicecoherent|"
                               r"shadercallcoherent|nonprivate)\b")
# the words a macro can paste such a qualifier from
_SCOPED_QUALIFIER_WORD = re.compile(r"coherent|private")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_MEMORY_MODEL_PRAGMA = re.compile(r"^[ \t]*#[ \t]*pragma[ \t]+use_vulkan_memory_model\b", re.MULTILINE)
_CHECKSUM_SIZE = 32  # a disk cache entry starts with the SHA-256 of its SPIR-V
# The checks a module passes before it is cached (_check_memory_model): part of the
# cache key, so that a module an earlier kp cached before a check existed is checked
# anew. Change it whenever a check changes.
_CHECKS = "scoped-coherence 1"

_memory_cache: dict[str, bytes] = {}


def compile_source(source: str | bytes | Sequence[str], *, defines: dict[str, Any] | None = None,
                   include_dirs: Sequence[str | os.PathLike[str]] = (),
                   directory: str | os.PathLike[str] | None = None) -> bytes:
    """Compile a GLSL compute shader to SPIR-V for Vulkan 1.1.

    ``source`` is the GLSL text, as ``str``, UTF-8 ``bytes`` or a list of
    strings that are joined (``list(text)`` gives back ``text``). ``defines``
    become preprocessor macros (``{"N": 4}`` is ``#define N 4``; a value of
    ``None`` defines the name without a value).

    ``#include "name"`` (with ``#extension GL_GOOGLE_include_directive : require``)
    finds ``name`` as glslangValidator does: next to the including file (for the
    source itself, in ``directory``, by default the current folder), then in each
    folder of ``include_dirs`` in order (glslangValidator's ``-I``). The cache
    knows the included files' contents: editing one compiles anew.

    Raises ``ShaderCompileError`` with the compiler's diagnostics (and the full
    log in ``.log``) when the GLSL does not compile or glslangValidator is
    missing (see ``kp.shader.tools`` for where kp looks for it).
    """
    text = _source_text(source)
    compiler = tools.find(tools.GLSLANG)
    if compiler is None:
        raise ShaderCompileError(f"cannot compile GLSL: {tools.GLSLANG} is not installed; install it with "
                                 f"{tools.INSTALL_HINT}; or pass SPIR-V instead of GLSL")
    folder = Path.cwd() if directory is None else Path(directory).absolute()
    folders = _folders(include_dirs)
    args = [*_TARGET, *_define_args(defines), *(f"-I{d}" for d in folders)]
    included = _included(text, folder, folders)
    key = hashlib.sha256(json.dumps([text, args, str(folder), included, _compiler_version(compiler),
                                     _CHECKS]).encode()).hexdigest()
    cached = _memory_cache.get(key)
    if cached is None:
        cached = _read_disk_cache(key)
        if cached is None:
            cached = _run_compiler(compiler, args, text, folder)
            _check_memory_model(compiler, args, text, folder, included)
            cache.write("glsl", f"{key}.spv", _checksum(cached) + cached)
        _memory_cache[key] = cached
    return cached


def compile_file(path: str | os.PathLike[str], *, defines: dict[str, Any] | None = None,
                 include_dirs: Sequence[str | os.PathLike[str]] = ()) -> bytes:
    """Compile the GLSL compute shader in the file ``path`` to SPIR-V: as
    ``compile_source``, with its ``#include "name"`` found next to the file first.

    >>> spirv = compile_file("shaders/main.comp", include_dirs=["shaders/common"])  # doctest: +SKIP
    """
    try:
        text = Path(path).read_bytes()
    except (OSError, TypeError) as exc:
        raise ShaderError(f"cannot read GLSL file {path!r}: {exc}") from None
    return compile_source(text, defines=defines, include_dirs=include_dirs, directory=Path(path).parent)


def as_spirv(shader: Any) -> bytes:
    """SPIR-V bytes (host byte order) for anything kp accepts as a shader.

    Accepted: SPIR-V as ``bytes``/``bytearray``/``memoryview`` or a NumPy
    ``uint32`` array (either byte order); GLSL as ``str``, ``bytes`` or a list of
    strings (compiled with ``compile_source``); an object with a ``to_spirv()``
    method, such as a ``python2shader`` result. Raises ``ShaderError`` for
    anything else.
    """
    if isinstance(shader, str):
        return compile_source(shader)
    if isinstance(shader, (bytes, bytearray, memoryview)):
        data = bytes(shader)
        return _spirv_binary(data) if is_spirv(data) else compile_source(data)
    if isinstance(shader, np.ndarray):
        return _spirv_binary(shader)
    if isinstance(shader, (list, tuple)) and all(isinstance(part, str) for part in shader):
        return compile_source(shader)
    to_spirv = getattr(shader, "to_spirv", None)
    if callable(to_spirv):
        result = to_spirv()
        if not isinstance(result, (bytes, bytearray, memoryview, np.ndarray)):
            raise ShaderError(f"{type(shader).__name__}.to_spirv() returned "
                              f"{type(result).__name__}, expected SPIR-V bytes")
        return _spirv_binary(result)
    raise ShaderError(
        f"expected a shader (SPIR-V bytes, a uint32 array, GLSL source or an object "
        f"with to_spirv()), got {type(shader).__name__}")


def _spirv_binary(data: bytes | bytearray | memoryview | np.ndarray) -> bytes:
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint32:
            raise ShaderError(f"a SPIR-V array must have dtype uint32, got {data.dtype}")
        data = np.ascontiguousarray(data).tobytes()
    return _spirv.words(data).tobytes()


def is_spirv(data: bytes) -> bool:
    """Whether ``data`` starts as a SPIR-V module (either byte order) rather than GLSL."""
    return data[:4] in (b"\x03\x02\x23\x07", b"\x07\x23\x02\x03")


def _source_text(source: str | bytes | Sequence[str]) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        try:
            return bytes(source).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ShaderError(f"GLSL source bytes are not UTF-8: {exc}") from None
    if isinstance(source, (list, tuple)) and all(isinstance(part, str) for part in source):
        return "".join(source)
    raise ShaderError(f"expected GLSL source as str, bytes or a list of str, "
                      f"got {type(source).__name__}")


def _folders(include_dirs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(include_dirs, (str, bytes, os.PathLike)):
        raise InvalidArgumentError(f"include_dirs must be a list of folders, got {include_dirs!r}")
    try:
        return [Path(d).absolute() for d in include_dirs]
    except TypeError:
        raise InvalidArgumentError(f"include_dirs must be a list of folders, got {include_dirs!r}") from None


def _define_args(defines: dict[str, Any] | None) -> list[str]:
    if defines is not None and not isinstance(defines, dict):
        raise ShaderError(f"defines must be a dict of macro names and values, got {type(defines).__name__}")
    args = []
    for name, value in sorted((defines or {}).items()):
        if not isinstance(name, str) or not _MACRO_NAME.match(name):
            raise ShaderError(f"macro name must be a C identifier, got {name!r}")
        args.append(f"-D{name}" if value is None else f"-D{name}={value}")
    return args


@functools.lru_cache(maxsize=None)
def _compiler_version(compiler: tools.Tool) -> str:
    # Part of the cache key, so an upgraded compiler never serves stale SPIR-V.
    result = compiler.run(["--version"], capture_output=True, text=True)
    version: str = result.stdout
    return version


def _included(text: str, folder: Path, include_dirs: list[Path]) -> list[tuple[str, str | None]]:
    """Each file that the quoted ``#include`` lines of ``text`` (a source in
    ``folder``) reach, with a hash of its contents (None: not found), found as
    glslangValidator finds them: next to the including file, then next to the files
    that included it, innermost first, then in ``include_dirs``. Every line
    counts, also one inside a false ``#if``: the key is only ever too wide."""
    found: list[tuple[str, str | None]] = []
    # each file with the folders its includes are searched in (a folder twice in
    # the chain finds nothing new) is read once: headers that include each other
    # behind include guards would otherwise be read exponentially often
    visited: set[tuple[Path, tuple[Path, ...]]] = set()

    def visit(text: str, chain: list[Path]) -> None:
        for name in _INCLUDE.findall(_COMMENT.sub(" ", _CONTINUATION.sub("", text))):
            for candidate in (f / name for f in [*reversed(chain), *include_dirs]):
                try:
                    contents = candidate.read_bytes()
                except OSError:
                    continue
                found.append((str(candidate), hashlib.sha256(contents).hexdigest()))
                searched = (candidate, tuple(dict.fromkeys(reversed([*chain, candidate.parent]))))
                # (deeper than _INCLUDE_DEPTH is a cycle, which glslang refuses)
                if searched not in visited and len(chain) < _INCLUDE_DEPTH:
                    visited.add(searched)
                    visit(contents.decode("utf-8", "replace"), [*chain, candidate.parent])
                break
            else:
                found.append((name, None))

    visit(text, [folder])
    return found


def _run_compiler(compiler: tools.Tool, args: list[str], text: str, folder: Path) -> bytes:
    with tempfile.TemporaryDirectory(prefix="kp-glsl-") as tmp:
        output = Path(tmp) / "shader.spv"
        # "--stdin" must come before "-S": glslang rejects the other order. It
        # looks for the source's includes in its working folder.
        try:
            result = compiler.run([*args, "--stdin", "-S", "comp", "-o", str(output)],
                                  input=text, capture_output=True, text=True, errors="replace", cwd=folder)
        except OSError as exc:  # the folder is missing, say
            raise ShaderCompileError(f"cannot run {tools.GLSLANG} in {folder}: {exc}") from None
        log = (result.stdout + result.stderr).strip()
        if result.returncode != 0 or not output.exists():
            raise _compile_error(log, text)
        return output.read_bytes()


def _check_memory_model(compiler: tools.Tool, args: list[str], text: str, folder: Path,
                        included: list[tuple[str, str | None]]) -> None:
    """A ``ShaderCompileError`` where the shader (with the files it includes, as
    ``_included`` found them) uses a scoped coherence qualifier without ``#pragma
    use_vulkan_memory_model``, read in the preprocessor's output: a word in a
    comment, a string or a false ``#if`` is no use, one that a macro makes is, and
    so is a pragma only where it is active."""
    texts = [text, *(Path(path).read_text("utf-8", "replace") for path, digest in included if digest is not None)]
    if not any(_SCOPED_QUALIFIER_WORD.search(t) for t in [*texts, *args]):
        return  # no word a qualifier can be made of: no need to preprocess
    # -E cannot be used with -V, which defines VULKAN (to 100) for the shader
    options = [a for a in args if a.startswith(("-D", "-I"))]
    result = compiler.run(["-E", "-DVULKAN=100", *options, "--stdin", "-S", "comp"], input=text,
                          capture_output=True, text=True, errors="replace", cwd=folder)
    code = _STRING.sub('""', result.stdout)  # debugPrintfEXT's format strings
    used = _SCOPED_QUALIFIER.search(code)
    if used and not _MEMORY_MODEL_PRAGMA.search(code):
        raise ShaderCompileError(f"the shader declares {used.group(1)}, which glslang drops unless the shader uses "
                                 f"the Vulkan memory model: add '#pragma use_vulkan_memory_model' after '#version' "
                                 f"(without it, one workgroup's writes need not become visible to another)")


def _compile_error(log: str, text: str) -> ShaderCompileError:
    """A ``ShaderCompileError`` listing each diagnostic with its source line."""
    source_lines = text.splitlines()
    messages = []
    for line in log.splitlines():
        match = _DIAGNOSTIC.match(line)
        if match is None:
            continue
        messages.append(line.rstrip())
        number = int(match.group(3))
        # the source reaches glslang on stdin; another name is an included file
        if match.group(2) == "stdin" and 1 <= number <= len(source_lines):
            messages.append(f"    {number:4d} | {source_lines[number - 1]}")
    detail = "\n".join(messages) or log
    error = ShaderCompileError(f"GLSL compilation failed:\n{detail}")
    error.log = log  # type: ignore[attr-defined]
    return error


def _checksum(spirv: bytes) -> bytes:
    return hashlib.sha256(spirv).digest()


def _read_disk_cache(key: str) -> bytes | None:
    """The SPIR-V of a cache entry (its checksum, then the module), None where there
    is none or it is damaged (cut short, overwritten): that is recompiled, not trusted."""
    entry = cache.read("glsl", f"{key}.spv")
    if entry is None or len(entry) < _CHECKSUM_SIZE:
        return None
    checksum, spirv = entry[:_CHECKSUM_SIZE], entry[_CHECKSUM_SIZE:]
    return spirv if checksum == _checksum(spirv) and is_spirv(spirv) else None
