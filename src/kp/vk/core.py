"""cffi access to the Vulkan loader: result checking, handle accounting and the
ownership helper every Vulkan object of kp is built on.

Only the modules of ``kp.vk`` import this; everything above them speaks in
Python objects.
"""

from __future__ import annotations

import atexit
import collections
import itertools
import threading
import weakref
from typing import Any, Callable

import vulkan as C  # the constants; calls go straight through ``lib``

from ..errors import DeviceLostError, OutOfDeviceMemoryError, VulkanError

ffi = C.ffi
lib = C.lib
NULL = ffi.NULL

RESULT_NAMES = {
    getattr(C, name): name
    for name in dir(C)
    if (name.startswith("VK_ERROR_") or name in ("VK_SUCCESS", "VK_NOT_READY", "VK_TIMEOUT", "VK_INCOMPLETE"))
    and isinstance(getattr(C, name), int)
    and not name.endswith(("_KHR", "_EXT", "_NV"))
}
RESULT_NAMES[C.VK_ERROR_VALIDATION_FAILED_EXT] = "VK_ERROR_VALIDATION_FAILED_EXT"


def check(result: int, what: str) -> int:
    """Turn a failed VkResult into the matching kp exception (the one place that does)."""
    if result >= 0:
        return result
    name = RESULT_NAMES.get(result, f"VkResult {result}")
    message = f"{what} failed: {name}"
    if result in (C.VK_ERROR_OUT_OF_DEVICE_MEMORY, C.VK_ERROR_OUT_OF_HOST_MEMORY, C.VK_ERROR_OUT_OF_POOL_MEMORY):
        raise OutOfDeviceMemoryError(message, name, result)
    if result == C.VK_ERROR_DEVICE_LOST:
        raise DeviceLostError(message, name, result)
    raise VulkanError(message, name, result)


_live: collections.Counter[str] = collections.Counter()
_live_lock = threading.Lock()


def _count(kind: str, delta: int) -> None:
    with _live_lock:
        _live[kind] += delta


def live_handles() -> dict[str, int]:
    """The Vulkan handles kp holds right now, by kind (for leak tests)."""
    with _live_lock:
        return {kind: n for kind, n in _live.items() if n}


class Owned:
    """Owns Vulkan handles and releases them exactly once: on ``release()`` or when
    Python collects the object, whichever comes first, also at interpreter exit.

    ``destroy`` must not refer to ``self``; whatever it needs (the device object,
    the handle) goes in ``args``, which also keeps the parents alive until then.
    """

    _finalizer: weakref.finalize

    def _own(self, kind: str, destroy: Callable[..., Any], *args: Any) -> None:
        _count(kind, 1)
        key = next(_keys)
        self._finalizer = weakref.finalize(self, _release, key, kind, destroy, args)
        self._finalizer.atexit = False  # _release_at_exit decides
        _unreleased[key] = self._finalizer

    def release(self) -> None:
        self._finalizer()

    @property
    def alive(self) -> bool:
        return self._finalizer.alive


def _release(key: int, kind: str, destroy: Callable[..., Any], args: tuple) -> None:
    _unreleased.pop(key, None)
    _count(kind, -1)
    destroy(*args)


_keys = itertools.count()
_unreleased: dict[int, weakref.finalize] = {}  # by creation order


@atexit.register
def _release_at_exit() -> None:
    """Release what is left, newest first (sequences before the device they use).

    Threads still alive at exit are daemon threads, which may be inside a Vulkan
    call on these very handles (waiting on a fence, submitting): destroying them
    would crash the process, so then the OS reclaims them instead.
    """
    if threading.active_count() > 1:
        return
    for key in sorted(_unreleased, reverse=True):
        finalizer = _unreleased.get(key)
        if finalizer is not None:
            finalizer()


def new(ctype: str, init: Any = None) -> Any:
    """``ffi.new`` under a name that reads as what it is."""
    return ffi.new(ctype, init)


def cstring(text: str) -> Any:
    return ffi.new("char[]", text.encode())


def string(cdata: Any) -> str:
    return ffi.string(cdata).decode(errors="replace")


def version_string(version: int) -> str:
    return f"{version >> 22}.{(version >> 12) & 0x3FF}.{version & 0xFFF}"
