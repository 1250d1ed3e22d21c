"""The manager: one Vulkan device, and the tensors, algorithms and sequences made on it."""

from __future__ import annotations

import copy
import threading
import weakref
from typing import Any, Sequence as SequenceOf

import numpy as np

from . import vk
from .algorithm import Algorithm
from .errors import DestroyedError, InvalidArgumentError
from .image import Image
from .log import logger
from .memory import Memory
from .seed import SeedManagerAPI
from .sequence import Sequence
from .tensor import Tensor, as_host_array, largest_heap
from .types import MemoryTypes, memory_type_of


def list_devices() -> list[dict[str, Any]]:
    """Every Vulkan device kp sees, in order: its ``index`` (what ``kp.Manager(device=...)``
    takes), ``device_name``, ``device_type``, ``vendor``, ``driver``, ``uuid`` and the rest of
    ``Manager.get_device_properties``. ``KP_VISIBLE_DEVICES`` (indices or UUIDs,
    comma-separated, like ``CUDA_VISIBLE_DEVICES``) chooses and orders them; indices
    then count in that list.

    >>> [(d["index"], d["device_name"], d["uuid"]) for d in kp.list_devices()]
    [(0, '...', '...')...]
    """
    return [{"index": i, **copy.deepcopy(d.properties)} for i, d in enumerate(vk.shared_instance().visible_devices())]


class Manager(SeedManagerAPI):
    """Owns a Vulkan device and everything made on it.

    >>> with kp.Manager() as mgr:
    ...     t = mgr.tensor([1, 2, 3])

    ``device`` is an index into ``kp.list_devices()`` or a device's UUID (or a unique
    start of it, with or without ``GPU-``); ``family_queue_indices``
    gives one queue per entry (a family repeated gives several queues of it), by
    default one queue of the first compute family; ``desired_extensions`` are
    enabled where the device supports them. ``vk_device`` (the ``kp.vk.Device``,
    None once destroyed) is for kp's objects and operations, and read-only.
    """

    def __init__(self, device: int | str = 0, family_queue_indices: SequenceOf[int] = (),
                 desired_extensions: SequenceOf[str] = ()):
        instance = vk.shared_instance()
        self._index, physical = instance.find_device(device)
        if not _list_of(family_queue_indices, (int, np.integer)):
            raise InvalidArgumentError(f"family_queue_indices must be a list of ints, got {family_queue_indices!r}")
        family_queue_indices = [int(f) for f in family_queue_indices]
        if not _list_of(desired_extensions, str):
            raise InvalidArgumentError(f"desired_extensions must be a list of extension names (str), got "
                                       f"{desired_extensions!r}")
        vk.drain()
        # The Vulkan device, None once destroyed: kp's objects read it (a plain
        # attribute: sequences check it on every evaluation); only the manager sets it.
        self.vk_device: vk.Device | None = vk.Device(instance, physical, family_queue_indices, desired_extensions)
        # The manager owns the allocator, whose blocks hold the device: dropping the
        # manager lets go of all three without a reference cycle.
        self._allocator: vk.Allocator | None = vk.Allocator(self.vk_device)
        self._objects: weakref.WeakSet[Any] = weakref.WeakSet()
        self._objects_lock = threading.Lock()
        self._init_seed_api()
        logger.info("Using physical device index %d found %s", self._index, physical.properties["device_name"])

    # -- for kp's tensors, algorithms, sequences and operations ------------------------
    def live_vk_device(self) -> vk.Device:
        """The Vulkan device, for kp's objects and operations; raises DestroyedError once
        the manager is destroyed (kp is entered: what was released and is done is destroyed)."""
        vk.drain()
        device = self.vk_device
        if device is None:
            raise DestroyedError("the manager was destroyed")
        return device

    def live_vk_allocator(self) -> vk.Allocator:
        """The device memory allocator, for kp's tensors; raises DestroyedError once the
        manager is destroyed."""
        self.live_vk_device()
        allocator = self._allocator
        assert allocator is not None  # cleared only after vk_device
        return allocator

    def adopt(self, obj: Any) -> None:
        """Track a tensor, image, algorithm or sequence made on this device, so that ``destroy()``
        destroys it; for kp's objects, which call it as they are made."""
        with self._objects_lock:
            self._objects.add(obj)

    # -- the current API ----------------------------------------------------------------
    def tensor(self, data: Any, memory_type: MemoryTypes | None = None, *,
               tensor_type: MemoryTypes | None = None) -> Tensor:
        """A float32 tensor holding ``data`` (any array-like; its shape is kept)."""
        return self._make_tensor(as_host_array(data, np.float32, self._largest_heap()), memory_type, tensor_type)

    def tensor_t(self, data: Any, memory_type: MemoryTypes | None = None, *,
                 tensor_type: MemoryTypes | None = None) -> Tensor:
        """A tensor keeping ``data``'s NumPy dtype (float16/32/64, int8..64, uint8..64, bool)."""
        return self._make_tensor(as_host_array(data, limit=self._largest_heap()), memory_type, tensor_type)

    def _largest_heap(self) -> int | None:
        """Data larger than this is refused before it is copied or converted."""
        return largest_heap([self.live_vk_device().physical])

    def _make_tensor(self, array: np.ndarray, memory_type: Any, tensor_type: Any) -> Tensor:
        kind = memory_type_of(memory_type if memory_type is not None else tensor_type)
        self.live_vk_device()
        return Tensor.create_on(self, array, kind)

    def image(self, data: Any, width: int, height: int, num_channels: int,
              memory_type: MemoryTypes = MemoryTypes.device) -> Image:
        """A float32 ``width`` x ``height`` image of ``num_channels`` (1, 2 or 4) channels
        holding ``data`` (``width * height * num_channels`` numbers, row after row)."""
        return self._make_image(as_host_array(data, np.float32, self._largest_heap()), width, height, num_channels,
                                memory_type)

    def image_t(self, data: Any, width: int, height: int, num_channels: int,
                memory_type: MemoryTypes = MemoryTypes.device) -> Image:
        """An image keeping ``data``'s dtype (float32, int32, uint32, int16, uint16, int8
        or uint8); otherwise as ``image``."""
        return self._make_image(as_host_array(data, limit=self._largest_heap()), width, height, num_channels,
                                memory_type)

    def _make_image(self, array: np.ndarray, width: Any, height: Any, num_channels: Any,
                    memory_type: Any) -> Image:
        kind = memory_type_of(memory_type)
        self.live_vk_device()
        return Image.create_on(self, array, width, height, num_channels, kind)

    def algorithm(self, tensors: SequenceOf[Memory] = (), spirv: Any = b"", workgroup: SequenceOf[int] | None = None,
                  spec_consts: Any = (), push_consts: Any = ()) -> Algorithm:
        """A compute shader (SPIR-V bytes, GLSL source or a python2shader function)
        bound to ``tensors`` (binding i = tensor or image i: a storage buffer or a
        storage image). ``workgroup`` is the number of
        workgroups (default: one invocation per element of ``tensors[0]``)."""
        self.live_vk_device()
        return Algorithm(self, tensors, spirv, workgroup, spec_consts, push_consts)

    def sequence(self, queue_index: int = 0, total_timestamps: int = 0) -> Sequence:
        """A sequence on queue ``queue_index`` (position in ``family_queue_indices``).
        With ``total_timestamps`` (at most ``kp.sequence.MAX_TIMESTAMPS``, 65536) it
        latches, as Kompute does, up to ``total_timestamps + 1`` device timestamps per
        evaluation: one before the operations and one after each."""
        return Sequence(self, queue_index, total_timestamps)

    def list_devices(self) -> list[dict[str, Any]]:
        return list_devices()

    def get_device_properties(self) -> dict[str, Any]:
        """Index (in ``kp.list_devices()`` when the manager was made), name, type, vendor,
        driver, UUID, API version, limits, subgroup size, timestamp support, memory
        heaps, queue families and features."""
        return {"index": self._index, **copy.deepcopy(self.live_vk_device().physical.properties)}

    # -- lifetime ---------------------------------------------------------------------
    def destroy(self) -> None:
        """Destroy every sequence, algorithm and tensor made here, then the device.
        Objects still referenced report ``is_init() == False`` and raise when used;
        NumPy views from ``data()`` stay readable until they are collected."""
        device = self.vk_device
        if device is None:
            return
        with device.lock:  # from here on no thread makes or submits anything here
            if self.vk_device is None:
                return
            self.vk_device = None
        device.wait_idle()
        self._destroy_objects()
        assert self._allocator is not None  # set until now
        self._allocator.close()
        self._allocator = None
        del device
        vk.drain()

    def _destroy_objects(self) -> None:
        with self._objects_lock:
            objects = list(self._objects)
        for kind in (Sequence, Algorithm, Memory):
            for obj in objects:
                if isinstance(obj, kind):
                    obj.destroy()

    def is_init(self) -> bool:
        return self.vk_device is not None

    def __enter__(self) -> "Manager":
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def __repr__(self) -> str:
        if self.vk_device is None:
            return "kp.Manager(destroyed)"
        return f"kp.Manager({self.vk_device.physical.properties['device_name']!r})"


def _list_of(values: Any, kinds: Any) -> bool:
    """Whether ``values`` is a list, tuple or NumPy array of ``kinds`` (bools are no ints)."""
    return isinstance(values, (list, tuple, np.ndarray)) and all(
        isinstance(v, kinds) and not isinstance(v, (bool, np.bool_)) for v in values)
