"""Tensors: NumPy data on a Vulkan device.

``mgr.tensor(...)`` / ``mgr.tensor_t(...)`` make tensors that live on the device at
once; their ``data()`` is a writable zero-copy flat (1-D) NumPy view of the
host-visible memory, as in Kompute, and ``numpy()`` the same memory in the shape the
data was given in (``shape``).
``kp.Tensor([...])`` is the seed API's tensor: it holds its data until a manager
creates it on the device, and its ``data()`` returns a Python list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from . import vk
from .errors import DataTypeError, InvalidArgumentError, KomputeError, OutOfDeviceMemoryError
from .memory import Memory, fitting, numbers
from .types import DTYPE_FEATURES, MemoryTypes, data_type_of, memory_type_of

if TYPE_CHECKING:
    from .context import DeviceContext
    from .operations import OpBase
    from .vk import Allocation


def as_host_array(data: Any, dtype: Any = None, limit: int | None = None) -> np.ndarray:
    """``data`` as an array of a kp dtype in native byte order (float32 when ``dtype``
    is float32 or the data has no dtype of its own), refusing what kp cannot hold,
    also data of more than ``limit`` bytes, before any copy of it is made.
    No copy is made: a strided or broadcast array is copied straight into device
    memory once that memory exists, so it is never materialised on the host."""
    array = numbers(data)
    itemsize = array.dtype.itemsize if dtype is None else np.dtype(dtype).itemsize
    if limit is not None and array.size * itemsize > limit:
        raise OutOfDeviceMemoryError(f"tensor data of {array.size * itemsize} bytes ({array.size} elements) is "
                                     f"larger than the device's largest memory heap ({limit} bytes)")
    if dtype is not None:
        try:
            array = array.astype(dtype, copy=False)
        except (TypeError, ValueError, OverflowError) as exc:  # Python ints too large for the dtype
            raise DataTypeError(f"tensor data must be numbers, got {type(data).__name__}: {exc} "
                                f"(as {np.dtype(dtype)})") from None
        except MemoryError:
            raise OutOfDeviceMemoryError(f"no host memory to convert {array.size} elements of tensor data to "
                                         f"{np.dtype(dtype)}") from None
    if array.dtype.kind == "O":
        raise DataTypeError("kp tensors cannot hold dtype object: give numbers of a NumPy dtype (Python ints "
                            "of more than 64 bits have none)")
    data_type_of(array.dtype)
    if array.size == 0:
        raise InvalidArgumentError("a tensor needs at least one element (got zero-sized data)")
    if array.dtype.isnative:
        return array
    try:
        return array.astype(array.dtype.newbyteorder("="))
    except MemoryError:
        raise OutOfDeviceMemoryError(f"no host memory to convert {array.nbytes} bytes of tensor data to "
                                     f"native byte order") from None


def largest_heap(devices: "Sequence[vk.PhysicalDevice]") -> int | None:
    """The size of the largest memory heap of ``devices`` (None without devices): no
    tensor larger than it can be made on them."""
    return max((size for device in devices for size, _flags in device.memory_heaps), default=None)


class Tensor(Memory):
    """A 1-D or N-D array of one dtype on a Vulkan device."""

    _noun = "tensor"

    def __init__(self, data: Any, tensor_type: MemoryTypes = MemoryTypes.device):
        """Seed API: ``kp.Tensor([1, 2, 3])`` is float32 data waiting to be created on a
        device (``mgr.eval_tensor_create_def([t])`` or ``mgr.build_tensor``)."""
        # an array (a broadcast view, say) is refused before a copy if no device could
        # hold it; a list is in memory already
        limit = largest_heap(vk.shared_instance().physical_devices) if isinstance(data, np.ndarray) else None
        self._setup(as_host_array(data, np.float32, limit).copy(), memory_type_of(tensor_type), list_data=True)

    def _setup(self, array: np.ndarray, memory_type: MemoryTypes, list_data: bool) -> None:
        # flat when contiguous; a strided source stays as given until it is copied
        self._array: np.ndarray | None = (array if array.ndim == 1 else
                                          array.reshape(-1) if array.flags.c_contiguous else array)
        self._shape = array.shape
        self._dtype = array.dtype
        self._data_type = data_type_of(array.dtype)
        self._memory_type = memory_type
        self._list_data = list_data
        # (no device memory, manager or destruction yet: Memory's class defaults say so)

    @classmethod
    def create_on(cls, manager: "DeviceContext", array: np.ndarray, memory_type: MemoryTypes,
                  upload: bool = True) -> "Tensor":
        """A tensor of ``array`` with device memory on ``manager`` at once; for kp's
        ``mgr.tensor`` / ``mgr.tensor_t``. Storage memory holds ``array`` only where
        ``upload`` (``allocate_on``)."""
        tensor = cls.__new__(cls)
        tensor._setup(array, memory_type, list_data=False)
        tensor.allocate_on(manager, upload)
        return tensor

    def _made_on(self, manager: "DeviceContext", array: np.ndarray, kind: MemoryTypes, upload: bool) -> "Tensor":
        return Tensor.create_on(manager, array, kind, upload)

    def allocate_on(self, manager: "DeviceContext", upload: bool = True) -> None:
        """Give the tensor device memory on ``manager``, holding its data; for kp's
        seed-API tensor_create. Storage memory, which has no host copy, gets the data
        through a temporary host-visible copy where ``upload`` (one transfer, waited
        for)."""
        if self._manager is not None:
            raise KomputeError("tensor has already been created on a device")
        device = manager.live_vk_device()
        features = DTYPE_FEATURES.get(self._data_type)
        missing = [f for f in features if not device.features.get(f)] if features else None
        if missing:
            raise DataTypeError(f"{device.physical.properties['device_name']} cannot hold {self._dtype} tensors "
                                f"(missing device feature {', '.join(missing)})")
        array = self._array
        assert array is not None  # it holds its data until it is created
        allocator, size = manager.live_vk_allocator(), array.nbytes
        kind = self._memory_type
        if kind == MemoryTypes.device and not allocator.uma:
            self._primary = allocator.allocate("device", size)
            self._staging = self._host = allocator.allocate("host", size)
        elif kind == MemoryTypes.storage:
            self._primary = allocator.allocate("device", size)
        else:
            self._primary = self._host = allocator.allocate(
                "host" if kind == MemoryTypes.host else "device_host", size)
        if self._host is not None:
            mapped = np.frombuffer(self._host.host_buffer(), self._dtype, array.size)  # (keywords cost 0.2 us)
            (mapped if array.ndim == 1 else mapped.reshape(self._shape))[...] = array
            self._array = mapped
        elif not self._list_data:
            self._array = None  # storage tensors of the current API have no host copy
        self._device_unwritten = self._staging is not None
        self._manager = manager
        manager.adopt(self)
        if kind == MemoryTypes.storage and upload:
            self._upload(manager, array)

    def data(self) -> Any:
        """The tensor's host data, flat as in Kompute: a writable zero-copy 1-D NumPy
        view of ``size()`` elements (``mgr.tensor``), or a flat list copy for seed-API
        tensors (``kp.Tensor([...])``). ``numpy()`` (or ``data().reshape(t.shape)``)
        gives it in the tensor's shape."""
        if self._list_data:
            assert self._array is not None  # seed-API tensors keep their data
            return self._array.tolist()
        return super().data()

    def numpy(self) -> np.ndarray:
        """The host data in the tensor's ``shape``: for ``mgr.tensor`` tensors a writable
        zero-copy view of the same memory as ``data()``, for seed-API tensors an array
        copy.

        >>> mgr.tensor(np.zeros((16, 8))).numpy().shape
        (16, 8)
        """
        if self._list_data:
            return np.array(self._array).reshape(self._shape)
        return super().numpy()

    def map_data_from_host(self) -> None:
        """Seed API: refresh local data from host-visible memory. kp's local data *is*
        that memory, so there is nothing to copy."""

    def map_data_into_host(self) -> None:
        """Seed API: push local data into host-visible memory (already there in kp)."""

    def __getitem__(self, index: Any) -> Any:
        return self._selected(index).tolist()

    def __setitem__(self, index: Any, value: Any) -> None:
        selected, values = self._selected(index), numbers(value)
        values = fitting(values, self._dtype, f"tensor[{index!r}]")
        try:
            self._local()[index] = values
        except ValueError as exc:
            raise InvalidArgumentError(f"{values.size} value(s) do not fit tensor[{index!r}] "
                                       f"({selected.size} element(s)): {exc}") from None

    def _selected(self, index: Any) -> np.ndarray:
        local = self._local()
        try:
            return np.asarray(local[index])
        except (IndexError, TypeError, ValueError, OverflowError) as exc:
            raise InvalidArgumentError(f"tensor index {index!r} does not fit a tensor of {local.size} "
                                       f"elements: {exc}") from None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._local().tolist())

    def __contains__(self, value: object) -> bool:
        return value in self._local()

    def __reversed__(self) -> list[Any]:
        reversed_data: list[Any] = self._local()[::-1].tolist()
        return reversed_data

    def tensor_type(self) -> MemoryTypes:
        return self._memory_type

    def __repr__(self) -> str:
        state = "on device" if self.is_init() else ("destroyed" if self._destroyed else "not created")
        return (f"kp.Tensor(shape={self._shape}, dtype={self._dtype}, "
                f"memory_type={self._memory_type.name}, {state})")

