"""The manager: one Vulkan device, and the tensors, algorithms and sequences made on it."""

from __future__ import annotations

import copy
from typing import Any, Sequence as SequenceOf

import numpy as np

from . import vk
from .algorithm import Algorithm
from .context import DeviceContext
from .errors import InvalidArgumentError
from .image import Image, as_image_array
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


class Manager(DeviceContext, SeedManagerAPI):
    """Owns a Vulkan device and everything made on it.

    >>> with kp.Manager() as mgr:
    ...     t = mgr.tensor([1, 2, 3])

    ``device`` is an index into ``kp.list_devices()`` or a device's UUID (or a unique
    start of it, with or without ``GPU-``); ``family_queue_indices``
    gives one queue per entry (a family repeated gives several queues of it), by
    default one queue of the first compute family; ``desired_extensions`` are
    enabled where the device supports them. ``debug_printf=True`` (default: the
    ``KP_SHADER_PRINTF=1`` environment variable) prints what shaders print
    (``print()`` in python2shader kernels, ``debugPrintfEXT`` in GLSL) to stdout,
    one line per message in order, through the Vulkan validation layer.
    ``vk_device`` (the ``kp.vk.Device``,
    None once destroyed) is for kp's objects and operations, and read-only.
    """

    def __init__(self, device: int | str = 0, family_queue_indices: SequenceOf[int] = (),
                 desired_extensions: SequenceOf[str] = (), *, debug_printf: bool | None = None):
        if debug_printf is None:
            debug_printf = vk.shader_printf_enabled()
        elif not isinstance(debug_printf, bool):
            raise InvalidArgumentError(f"debug_printf must be True or False, got {debug_printf!r}")
        instance = vk.shared_instance(debug_printf)
        self._index, physical = instance.find_device(device)
        if not _list_of(family_queue_indices, (int, np.integer)):
            raise InvalidArgumentError(f"family_queue_indices must be a list of ints, got {family_queue_indices!r}")
        family_queue_indices = [int(f) for f in family_queue_indices]
        if not _list_of(desired_extensions, str):
            raise InvalidArgumentError(f"desired_extensions must be a list of extension names (str), got "
                                       f"{desired_extensions!r}")
        vk.drain()
        super().__init__(vk.Device(instance, physical, family_queue_indices, desired_extensions))
        self._heap_limit = largest_heap([physical])  # heaps never change
        self._init_seed_api()
        logger.info("Using physical device index %d found %s", self._index, physical.properties["device_name"])

    # -- the current API ----------------------------------------------------------------
    def tensor(self, data: Any, memory_type: MemoryTypes | None = None, *,
               tensor_type: MemoryTypes | None = None) -> Tensor:
        """A float32 tensor holding ``data`` (any array-like; its shape is kept).
        ``storage`` memory, which has no host copy, gets ``data`` through a temporary
        host-visible copy (one transfer, waited for); other memory types hold it in
        their host-visible memory until an ``OpSyncDevice``."""
        return self._make_tensor(as_host_array(data, np.float32, self._largest_heap()), memory_type, tensor_type)

    def tensor_t(self, data: Any, memory_type: MemoryTypes | None = None, *,
                 tensor_type: MemoryTypes | None = None) -> Tensor:
        """A tensor keeping ``data``'s NumPy dtype (float16/32/64, int8..64, uint8..64, bool)."""
        return self._make_tensor(as_host_array(data, limit=self._largest_heap()), memory_type, tensor_type)

    def _largest_heap(self) -> int | None:
        """Data larger than this is refused before it is copied or converted."""
        self.live_vk_device()
        return self._heap_limit

    def _make_tensor(self, array: np.ndarray, memory_type: Any, tensor_type: Any) -> Tensor:
        kind = memory_type_of(memory_type if memory_type is not None else tensor_type)
        if memory_type is not None and tensor_type is not None and memory_type_of(tensor_type) != kind:
            raise InvalidArgumentError(f"memory_type={kind.name} and tensor_type={memory_type_of(tensor_type).name} "
                                       f"disagree; give one of them (tensor_type is its older name)")
        return Tensor.create_on(self, array, kind)  # (which checks the device is alive)

    def image(self, data: Any, width: int, height: int, num_channels: int,
              memory_type: MemoryTypes = MemoryTypes.device) -> Image:
        """A float32 ``width`` x ``height`` image of ``num_channels`` (1, 2 or 4) channels
        holding ``data`` (``width * height * num_channels`` numbers, row after row).
        ``storage`` memory, which has no host copy, gets ``data`` through a temporary
        host-visible copy (one transfer, waited for)."""
        return self._make_image(as_host_array(data, np.float32, self._largest_heap()), width, height, num_channels,
                                memory_type)

    def image_t(self, data: Any, width: int, height: int, num_channels: int,
                memory_type: MemoryTypes = MemoryTypes.device) -> Image:
        """An image keeping ``data``'s dtype (float32, int32, uint32, int16, uint16, int8
        or uint8; a plain list of ints or floats gives int32 or float32); otherwise as
        ``image``."""
        return self._make_image(as_image_array(data, self._largest_heap()), width, height, num_channels, memory_type)

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
        driver, UUID, API version, limits, subgroup size, ``multiprocessors`` (the SM count
        NVIDIA's driver reports through VK_NV_shader_sm_builtins; None where the driver does
        not say), timestamp support, memory heaps, queue families, features and
        cooperative-matrix configurations (none where this device does not enable
        cooperative matrices: an older validation layer that checks it keeps them off)."""
        device = self.live_vk_device()
        return {"index": self._index, **copy.deepcopy(device.physical.properties),
                "cooperative_matrices": copy.deepcopy(device.cooperative_matrices)}

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
