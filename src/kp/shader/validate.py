"""SPIR-V validation with ``spirv-val`` before a module reaches the driver.

Reflection only checks the structure kp reads; a module that passes it can still
be semantically broken (a truncated function, a bad id), and drivers crash on
such modules inside ``vkCreateComputePipelines``. So SPIR-V that a user passes
as a binary is checked once per distinct module: the verdict is kept in memory
and on disk (the ``spirv-verdicts`` folder of kp's cache). Without ``spirv-val``
(``kp.shader.tools`` says where kp looks for it) modules go unchecked.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import threading

from ..errors import ShaderError
from .. import cache
from . import tools

log = logging.getLogger("kp")

# The target environment follows the module's SPIR-V version, so a valid module
# built for a newer Vulkan is not rejected for its version alone.
_TARGETS = {0x10000: "vulkan1.0", 0x10100: "vulkan1.1", 0x10200: "vulkan1.1", 0x10300: "vulkan1.1",
            0x10400: "vulkan1.1spv1.4", 0x10500: "vulkan1.2", 0x10600: "vulkan1.3"}

_verdicts: dict[bytes, str] = {}  # module -> "" when valid, else spirv-val's message
_lock = threading.Lock()

# A disk verdict starts with one of these; any other entry (damaged) is checked anew.
# (An older kp kept verdicts of another form in the folder "spirv-val".)
_FOLDER = "spirv-verdicts"
_VALID = b"valid"
_INVALID = b"invalid: "


def validate(spirv: bytes) -> None:
    """Raise ``ShaderError`` with spirv-val's message if ``spirv`` (host byte order,
    structurally checked by ``reflect``) is not a valid Vulkan compute module."""
    verdict = _verdicts.get(spirv)
    if verdict is None:
        verdict = _check(spirv)
        with _lock:
            _verdicts[spirv] = verdict
    if verdict:
        raise ShaderError(f"invalid SPIR-V: {verdict}")


def _check(spirv: bytes) -> str:
    validator = tools.find(tools.SPIRV_VAL)
    if validator is None:
        log.debug("%s is not installed (%s): SPIR-V passed as a binary is not validated", tools.SPIRV_VAL,
                  tools.INSTALL_HINT)
        return ""
    version = int.from_bytes(spirv[4:8], sys.byteorder)
    target = _TARGETS.get(version & 0xFFFF00)
    if target is None:
        return f"unsupported SPIR-V version {version >> 16}.{(version >> 8) & 0xFF}"
    # The validator's modification time is in the key so that an upgraded
    # spirv-val re-checks modules instead of trusting an old verdict.
    key = hashlib.sha256(spirv + f"{target}:{os.stat(validator.path).st_mtime_ns}".encode()).hexdigest()
    cached = cache.read(_FOLDER, key)
    if cached == _VALID:
        return ""
    if cached is not None and cached.startswith(_INVALID):
        return cached[len(_INVALID):].decode(errors="replace")
    with tempfile.TemporaryDirectory(prefix="kp-spirv-val-") as tmp:
        module = os.path.join(tmp, "shader.spv")
        with open(module, "wb") as file:
            file.write(spirv)
        result = validator.run(["--target-env", target, module], capture_output=True, text=True,
                               errors="replace")  # it quotes names from the module, which may be any bytes
    verdict = "" if result.returncode == 0 else (
        (result.stderr + result.stdout).strip().replace(module, "<module>") or f"{tools.SPIRV_VAL} failed")
    cache.write(_FOLDER, key, _INVALID + verdict.encode() if verdict else _VALID)
    return verdict
