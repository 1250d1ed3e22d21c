"""cffi access to the Vulkan loader: result checking, handle accounting and the
ownership helper every Vulkan object of kp is built on.

Only the modules of ``kp.vk`` import this; everything above them speaks in
Python objects.
"""

from __future__ import annotations

import collections
import os
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


def _count(life: Life, kind: str | None) -> None:
    """Make ``kind`` (None: nothing) what ``life`` counts in ``live_handles()``. The
    count and ``life.kind`` change with no point between them where a signal handler's
    exception (Ctrl-C) could come, so an interrupt leaves the counts right."""
    with _live_lock:
        if life.kind:
            _live[life.kind] -= 1
        if kind:
            _live[kind] += 1
        life.kind = kind


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

    __slots__ = ("kind", "destroy", "args", "last_use", "retired", "released", "generation", "__weakref__")

    def __init__(self, destroy: Callable[..., Any] | None, args: tuple[Any, ...]):
        self.kind: str | None = None  # the Vulkan handle kind live_handles() counts it as (see _count)
        self.destroy = destroy
        self.args = args
        self.last_use: Any = None  # a completion point: has .done()
        self.retired = False
        self.released = False  # on the release list (or destroyed already)
        self.generation = _generation  # another generation's handles are a parent process's


class _Retirements:
    """How many things were retired so far: recordings check what they use again
    only when it changed (``Commands.check_uses``)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


RETIREMENTS = _Retirements()


def retire(life: Life) -> None:
    """No new submission may use it. Lock-free: finalizers call it."""
    life.retired = True
    RETIREMENTS.count += 1


def _release(life: Life) -> None:
    """``release()``: lock-free, no Vulkan call, never waits. The destruction happens
    in ``drain()`` once the last use is done; a second release does nothing (one cut
    short between its two steps may list it twice: ``drain`` destroys it once)."""
    if not life.released:
        retire(life)
        _pending.append(life)
        life.released = True


def watch(owner: Any, life: Life) -> None:
    """Release ``life`` when ``owner`` is collected, unless released before. The
    weak reference's callback is the release list's own append, which runs no Python
    code: a signal handler's exception (Ctrl-C) cannot cut a collection's release
    short, as it could in a finalizer written in Python (``__del__``,
    ``weakref.finalize``), losing what it released."""
    _watched[weakref.ref(owner, _pending.append)] = life


class _Deferred:
    """A public method's work that its thread could not do where it was called (a
    user's finalizer run inside one of kp's critical sections): ``drain`` runs it."""

    __slots__ = ("call", "args")

    def __init__(self, call: Callable[..., Any], args: tuple[Any, ...]):
        self.call = call
        self.args = args


def defer(call: Callable[..., Any], *args: Any) -> None:
    """Run ``call(*args)`` at the next ``drain`` outside kp's critical sections.
    Lock-free; the call may defer itself again."""
    _pending.append(_Deferred(call, args))


_pending: collections.deque[Life | _Deferred | weakref.ref[Any]] = collections.deque()
_watched: dict[weakref.ref[Any], Life] = {}  # collected owners' references reach _pending
_drain_lock = threading.Lock()
_drainer = 0  # the thread that took _drain_lock last: the one draining while it is held


def drain() -> None:
    """Destroy what was released and whose last use the GPU has finished, and run
    deferred work. kp calls this whenever it is entered; a thread that finds another
    draining goes on, and what cannot be destroyed now (a busy block) waits for the
    next time."""
    global _drainer
    if not _pending or _drain_lock.locked():
        return  # another thread drains, or this one, and a finalizer got here
    # ``with``, not acquire() then try: a signal handler's exception (Ctrl-C) may come
    # right after acquire() returns, and a lock left held would stop every later drain.
    with _drain_lock:
        _drainer = threading.get_ident()
        # Destroying one thing may release its parent (a block, then the device)
        # once the last reference to it, held until _drain_once returns, is gone.
        while _drain_once():
            pass


def draining_here() -> bool:
    """Whether this thread is inside ``drain`` (a finalizer run there), which may hold
    a lock that another thread, holding one this thread would wait for, waits for."""
    return _drain_lock.locked() and _drainer == threading.get_ident()


def _drain_once() -> bool:
    """One pass over the release list. Each item stays at its head until it is done
    (a destroy that an exception from a signal handler cut short runs again, which
    destroys nothing twice: see ``Owned``), so Ctrl-C between any two steps loses
    nothing."""
    destroyed = False
    for _ in range(len(_pending)):
        item = _pending[0]
        if isinstance(item, _Deferred):
            _pending.popleft()
            item.call(*item.args)
            continue
        if isinstance(item, weakref.ref):  # an owner was collected (see watch)
            life = _watched.get(item)
            if life is None or life.released:  # released before
                _pending.popleft()
                _watched.pop(item, None)
                continue
            retire(life)
            life.released = True
            _pending[0] = life
            _watched.pop(item, None)
            item = life
        if item.destroy is None or item.generation != _generation:
            # listed twice and destroyed already, or a parent process's: its handles are
            # not this process's to destroy
            _pending.popleft()
            continue
        use = item.last_use
        if use is not None and not use.done():
            _pending.rotate(-1)  # another time
            continue
        destroy, args = item.destroy, item.args
        try:
            busy = destroy(*args) is False
        except Exception:
            _pending.popleft()  # it failed: not tried again
            raise
        except BaseException:
            # a signal handler's exception (Ctrl-C) cut it short. Destroy functions take
            # each handle out of its slot in the line before they destroy it (see
            # Owned): signal handlers run after a call, never between that line and the
            # call, so running it again destroys the rest and nothing twice
            _pending.rotate(-1)
            raise
        if busy:
            _pending.rotate(-1)  # busy: another time
            continue
        if item.kind:
            # before the destroy goes: an interrupt before this runs it again (see above)
            _count(item, None)
        item.destroy, item.args = None, ()  # lets go of the parents (a block, the device) on return
        _pending.popleft()
        destroyed = True
    return destroyed


def pending_releases() -> int:
    """How many released things still wait for the GPU (for tests)."""
    return len(_pending)


_generation = 0
_fork_hooks: list[Callable[[], None]] = []


def on_fork(hook: Callable[[], None]) -> None:
    """Call ``hook`` in a child process right after a fork (for kp's modules)."""
    _fork_hooks.append(hook)


def generation() -> int:
    """How many forks this process is from the one whose Vulkan objects kp made first
    (a thing made in another generation is a parent process's)."""
    return _generation


def _after_fork_in_child() -> None:
    """A forked child inherits the parent's Vulkan objects but not its driver threads:
    nothing of the parent's may be used or destroyed here. Its lives are forgotten,
    locks that a parent thread may have held are new, and kp's modules start over
    (a new instance, managers marked as the parent's)."""
    global _generation, _drain_lock, _live_lock
    _generation += 1
    _pending.clear()
    _watched.clear()
    _drain_lock, _live_lock = threading.Lock(), threading.Lock()
    _live.clear()
    for hook in _fork_hooks:
        hook()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Owned:
    """Owns Vulkan handles through a ``Life``: released once, on ``release()`` or
    when Python collects the object, after the last submission that used them.

    ``destroy`` must not refer to ``self``; whatever it needs (the device object,
    the handles) goes in ``args``, which also keeps the parents alive until then.

    The handles live in slots (``new("VkX *")``), all NULL when ``_own`` is called
    before any is made, and the driver writes each straight into its slot: an
    exception part way through making them (a failed call, or Ctrl-C, also right
    after a call returned) leaves the rest NULL, which Vulkan's destroy calls
    ignore. ``destroy`` takes each handle out of its slot in the line before it
    destroys it (``h, slot[0] = slot[0], NULL``), so a destroy that Ctrl-C cut short
    runs again (see ``_drain_once``) without destroying anything twice.
    """

    life: Life

    def _own(self, kind: str | None, destroy: Callable[..., Any], *args: Any) -> None:
        self.life = life = Life(destroy, args)
        watch(self, life)
        if kind:  # counted once it is watched: an interrupt before leaves it uncounted, not lost
            _count(life, kind)

    def retire(self) -> None:
        """No new submission may use it (``Commands.check_uses`` refuses it)."""
        retire(self.life)

    def release(self) -> None:
        """Retire now; destroy once the GPU no longer uses it (see ``drain``)."""
        self.release_later()
        drain()

    def release_later(self) -> None:
        """``release()`` without draining: lock-free, no Vulkan call (for finalizers)."""
        _release(self.life)

    @property
    def alive(self) -> bool:
        return not self.life.released


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
