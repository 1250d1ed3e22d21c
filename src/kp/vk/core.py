"""cffi access to the Vulkan loader: result checking, handle accounting and the
ownership helper every Vulkan object of kp is built on.

Only the modules of ``kp.vk`` import this; everything above them speaks in
Python objects.
"""

from __future__ import annotations

import collections
import threading
import weakref
from typing import Any, Callable

import vulkan

C = vulkan  # the constants; calls go straight through ``lib``

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
    """The Vulkan handles kp holds right now, by kind (for leak tests), after
    destroying what was released and is no longer in use."""
    drain()
    with _live_lock:
        return {kind: n for kind, n in _live.items() if n}


class Life:
    """The lifetime record of one thing GPU work may use (a buffer range, a
    pipeline, a command pool): the last submission that used it, whether new
    work may still use it, and how to destroy it once that submission is done.

    A retired thing refuses new submissions at once; its destruction waits on
    the device's release list until ``last_use`` is done (wgpu-core's model).
    """

    __slots__ = ("kind", "destroy", "args", "last_use", "retired", "__weakref__")

    def __init__(self, kind: str | None, destroy: Callable[..., Any], args: tuple[Any, ...]):
        self.kind = kind  # a Vulkan handle kind counted by live_handles(), or None
        self.destroy = destroy
        self.args = args
        self.last_use: Any = None  # a completion point: has .done()
        self.retired = False


def _release(life: Life) -> None:
    """Finalizer and ``release()``: lock-free, no Vulkan call, never waits. The
    destruction happens in ``drain()`` once the last use is done."""
    life.retired = True
    _pending.append(life)


_pending: collections.deque[Life] = collections.deque()
_drain_lock = threading.Lock()


def drain() -> None:
    """Destroy what was released and whose last use the GPU has finished. kp calls
    this whenever it is entered; a thread that finds another draining goes on."""
    if not _pending or not _drain_lock.acquire(blocking=False):
        return
    try:
        # Destroying one thing may release its parent (a block, then the device)
        # once the last reference to it, held until _drain_once returns, is gone.
        while _drain_once():
            pass
    finally:
        _drain_lock.release()


def _drain_once() -> bool:
    destroyed = False
    for _ in range(len(_pending)):
        life = _pending.popleft()
        use = life.last_use
        if use is not None and not use.done():
            _pending.append(life)
            continue
        if life.kind:
            _count(life.kind, -1)
        life.destroy(*life.args)
        life.args = ()
        destroyed = True
    return destroyed


def pending_releases() -> int:
    """How many released things still wait for the GPU (for tests)."""
    return len(_pending)


class Owned:
    """Owns Vulkan handles through a ``Life``: released once, on ``release()`` or
    when Python collects the object, after the last submission that used them.

    ``destroy`` must not refer to ``self``; whatever it needs (the device object,
    the handles) goes in ``args``, which also keeps the parents alive until then.
    """

    _finalizer: weakref.finalize[[Life], Owned]
    life: Life

    def _own(self, kind: str | None, destroy: Callable[..., Any], *args: Any) -> None:
        if kind:
            _count(kind, 1)
        self.life = Life(kind, destroy, args)
        self._finalizer = weakref.finalize(self, _release, self.life)
        self._finalizer.atexit = False  # at exit the operating system reclaims everything

    def retire(self) -> None:
        """No new submission may use it (``Commands.check_uses`` refuses it)."""
        self.life.retired = True

    def release(self) -> None:
        """Retire now; destroy once the GPU no longer uses it (see ``drain``)."""
        self._finalizer()
        drain()

    @property
    def alive(self) -> bool:
        return self._finalizer.alive


def new(ctype: str, init: Any = None) -> Any:
    """``ffi.new`` under a name that reads as what it is."""
    return ffi.new(ctype, init)


def cstring(text: str) -> Any:
    return ffi.new("char[]", text.encode())


def string(cdata: Any) -> str:
    text: str = ffi.string(cdata).decode(errors="replace")
    return text


def version_string(version: int) -> str:
    return f"{version >> 22}.{(version >> 12) & 0x3FF}.{version & 0xFFF}"
