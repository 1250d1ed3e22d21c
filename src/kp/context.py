"""What the objects made on a device need of it: the Vulkan device and its memory
allocator while they last, the registry through which destroying the device destroys
them, and the reason they are gone once it is (destroyed, or a parent process's
after ``os.fork()``). ``kp.Manager`` is one, with the factories on top; tensors,
images, algorithms, sequences and operations know only this."""

from __future__ import annotations

import weakref
from typing import Any

from . import vk
from .errors import DestroyedError


class DeviceContext:
    """A Vulkan device and the kp objects made on it (the lower half of ``kp.Manager``)."""

    def __init__(self, device: vk.Device):
        # The Vulkan device, None once destroyed: kp's objects read it (a plain
        # attribute: sequences check it on every evaluation); only the context sets it.
        self.vk_device: vk.Device | None = device
        # The context owns the allocator, whose blocks hold the device: dropping the
        # context lets go of all three without a reference cycle.
        self._allocator: vk.Allocator | None = vk.Allocator(device)
        # the objects made here, by a weak reference whose callback (the dict's own pop,
        # no Python code: also safe from Ctrl-C) drops it when the object is collected;
        # each change is one step, so no lock is needed
        self._objects: dict[weakref.ref[Any], None] = {}
        self._gone = "was destroyed"  # why vk_device is None, once it is
        _contexts.add(self)

    def live_vk_device(self) -> vk.Device:
        """The Vulkan device, for kp's objects and operations; raises DestroyedError once
        the device is destroyed (kp is entered: what was released and is done is destroyed)."""
        vk.drain()
        device = self.vk_device
        if device is None:
            raise DestroyedError(f"the manager {self._gone}")
        return device

    def live_vk_allocator(self) -> vk.Allocator:
        """The device memory allocator, for kp's tensors and images; raises DestroyedError
        once the device is destroyed."""
        allocator = self._allocator
        if allocator is None or self.vk_device is None:
            raise DestroyedError(f"the manager {self._gone}")
        return allocator

    def adopt(self, obj: Any) -> None:
        """Track a tensor, image, algorithm or sequence made on this device, so that
        ``destroy()`` destroys it; kp's objects call it as they are made."""
        self._objects[weakref.ref(obj, self._objects.pop)] = None

    def gone_error(self, what: str) -> DestroyedError:
        """The error for using ``what`` (an object made here) once it or the device is
        gone: destroyed, or made in the parent process of a fork."""
        if self.vk_device is not None:
            return DestroyedError(f"{what} was destroyed")
        return DestroyedError(f"{what} is unusable: its manager {self._gone}")

    def is_init(self) -> bool:
        return self.vk_device is not None

    def destroy(self) -> None:
        """Destroy every sequence, algorithm and tensor made here, then the device,
        once the work in flight has finished (waited for holding no lock). Objects
        still referenced report ``is_init() == False`` and raise when used; NumPy
        views from ``data()`` stay readable until they are collected."""
        device = self.vk_device
        if device is None:
            return
        if device.lock._is_owned():  # type: ignore[attr-defined]
            vk.defer(self.destroy)  # a finalizer run inside kp's own work: as soon as that is done
            return
        with device.lock:  # from here on no thread makes or submits anything here
            if self.vk_device is None:
                return
            self.vk_device = None
        objects = [obj for ref in list(self._objects) if (obj := ref()) is not None]
        for obj in objects:  # sequences: their last submissions
            getattr(obj, "wait_submitted", lambda: None)()
        # sequences first, then algorithms, then memory (what the ones before use)
        for obj in sorted(objects, key=lambda o: o.DESTROY_ORDER):
            obj.destroy()
        assert self._allocator is not None  # set until now
        self._allocator.close()
        self._allocator = None
        del device
        vk.drain()

    def _forget_after_fork(self) -> None:
        """In a forked child: the parent's device is not this process's to use or destroy."""
        self.vk_device, self._allocator = None, None
        self._gone = ("was made in the parent process before os.fork(); make a new kp.Manager in the child "
                      "(or use the 'spawn' start method)")


_contexts: weakref.WeakSet[DeviceContext] = weakref.WeakSet()


def _forget_contexts_after_fork() -> None:
    for context in list(_contexts):
        context._forget_after_fork()


vk.on_fork(_forget_contexts_after_fork)
