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
from .errors import DataTypeError, DestroyedError, InvalidArgumentError, KomputeError, OutOfDeviceMemoryError
from .memory import Memory
from .types import DTYPE_FEATURES, MemoryTypes, data_type_of, memory_type_of

if TYPE_CHECKING:
    from .manager import Manager
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
            raise DataTypeError(f"tensor data cannot be held as {np.dtype(dtype)}: {exc}") from None
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


def numbers(data: Any) -> np.ndarray:
    """``data`` (an array-like; a kp tensor's data) as a NumPy array of real numbers,
    without a copy where it is one already; a ``DataTypeError`` for anything else:
    None, strings, complex numbers, objects, ragged lists."""
    if isinstance(data, Tensor):
        data = data.numpy()
    try:
        array = np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise DataTypeError(f"tensor data must be numbers, got {type(data).__name__}: {exc}") from None
    except MemoryError:  # a range or a sequence of many elements
        raise OutOfDeviceMemoryError(f"no host memory to convert the tensor data ({type(data).__name__}) "
                                     f"to an array") from None
    if array.dtype.kind == "O":  # Python ints beyond 64 bits pass, as numbers
        for value in array.flat:
            if not isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
                raise DataTypeError(f"tensor data must be numbers, got {value!r} ({type(value).__name__})")
    elif array.dtype.kind not in "biuf":
        raise DataTypeError(f"kp tensors cannot hold {array.dtype} data"
                            + (" (a cast to a real dtype would drop the imaginary part)" if array.dtype.kind == "c"
                               else ""))
    return array


def _fitting(values: np.ndarray, dtype: np.dtype, what: str) -> np.ndarray:
    """``values`` to be stored in data of ``dtype``; an ``InvalidArgumentError`` where
    that dtype is an integer one that cannot hold them: NumPy would wrap an integer out
    of its range, turn NaN into any integer, or raise OverflowError."""
    if dtype.kind not in "iu" or values.size == 0 or values.dtype.kind == "b":
        return values
    info = np.iinfo(dtype)
    flat = values.reshape(-1)
    # min and max are NaN where any value is; a NaN fails every comparison
    extremes = flat.tolist() if values.dtype.kind == "O" else [flat.min().item(), flat.max().item()]
    for value in extremes:
        if not info.min - 1 < value < info.max + 1:
            raise InvalidArgumentError(f"{what}: {value!r} does not fit the tensor's {dtype} elements "
                                       f"({info.min} to {info.max})")
    return values


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
        self._array: np.ndarray | None = array.reshape(-1) if array.flags.c_contiguous else array
        self._shape = array.shape
        self._dtype = array.dtype
        self._data_type = data_type_of(array.dtype)
        self._memory_type = memory_type
        self._list_data = list_data
        self._manager: Manager | None = None
        self._primary: Allocation | None = None
        self._staging: Allocation | None = None
        self._host: Allocation | None = None
        self._destroyed = False

    @classmethod
    def create_on(cls, manager: "Manager", array: np.ndarray, memory_type: MemoryTypes) -> "Tensor":
        """A tensor of ``array`` with device memory on ``manager`` at once; for kp's
        ``mgr.tensor`` / ``mgr.tensor_t``."""
        tensor = cls.__new__(cls)
        tensor._setup(array, memory_type, list_data=False)
        tensor.allocate_on(manager)
        return tensor

    def allocate_on(self, manager: "Manager") -> None:
        """Give the tensor device memory on ``manager``, holding its data; for kp's
        seed-API tensor_create."""
        if self._manager is not None:
            raise KomputeError("tensor has already been created on a device")
        device = manager.live_vk_device()
        missing = [f for f in DTYPE_FEATURES.get(self._data_type, ()) if not device.features.get(f)]
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
            mapped = np.frombuffer(self._host.host_buffer(), dtype=self._dtype, count=array.size)
            np.copyto(mapped.reshape(self._shape), array.reshape(self._shape))
            self._array = mapped
        elif not self._list_data:
            self._array = None  # storage tensors of the current API have no host copy
        self._manager = manager
        manager.adopt(self)

    # -- moving to another device --------------------------------------------------
    def to(self, manager: "Manager", memory_type: MemoryTypes | None = None) -> "Tensor":
        """A new tensor on ``manager`` (another device's, or this one's) holding this
        tensor's device data, with its shape and dtype, and ``memory_type`` (by default
        this tensor's). Both the new tensor's device memory and its ``data()`` hold the
        copy, so it is ready for ``manager``'s sequences without a sync. Waits until the
        copy is done; this tensor is left as it was.

        >>> part = mgr.tensor([1.0, 2.0])              # say, computed on another device
        >>> gathered = part.to(kp.Manager())
        >>> gathered.data()
        array([1., 2.], dtype=float32)

        Between two managers the data passes through host memory (Vulkan has no copy
        between separate devices); on the same manager it is a copy on the device.
        """
        from .manager import Manager
        from .operations import OpCopy, OpSyncDevice

        if not isinstance(manager, Manager):
            raise InvalidArgumentError(f"Tensor.to takes a kp.Manager, got {type(manager).__name__}")
        self.check_usable()
        kind = self._memory_type if memory_type is None else memory_type  # the manager checks it
        empty = np.broadcast_to(np.zeros((), self._dtype), self._shape)
        if manager is self._manager:
            out = manager.tensor_t(empty, kind)
            _evaluate(manager, OpCopy([self, out]))
            return out
        # Read the device data into a host tensor here, then write it on the other device.
        source = self._manager
        assert source is not None  # check_usable
        host = source.tensor_t(empty, MemoryTypes.host)
        try:
            _evaluate(source, OpCopy([self, host]))
            if kind != MemoryTypes.storage:
                out = manager.tensor_t(host.numpy(), kind)
                _evaluate(manager, OpSyncDevice([out]))
                return out
            staged = manager.tensor_t(host.numpy(), MemoryTypes.host)
            try:
                out = manager.tensor_t(empty, kind)
                _evaluate(manager, OpCopy([staged, out]))
                return out
            finally:
                staged.destroy()
        finally:
            host.destroy()

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
        view: np.ndarray = self.data()
        return view.reshape(self._shape)

    def set_data(self, data: Any) -> None:
        """Replace the host data (same element count; the device copy changes on the
        next sync to the device)."""
        array = numbers(data).reshape(-1)
        if array.size != self.size():
            raise InvalidArgumentError(f"set_data got {array.size} elements for a tensor of {self.size()}")
        self._local()[:] = _fitting(array, self._dtype, "set_data")

    def _local(self) -> np.ndarray:
        if self._array is None:
            raise KomputeError("storage tensors have no host data")
        if self._destroyed:
            raise DestroyedError("tensor was destroyed (or its manager was)")
        return self._array

    def map_data_from_host(self) -> None:
        """Seed API: refresh local data from host-visible memory. kp's local data *is*
        that memory, so there is nothing to copy."""

    def map_data_into_host(self) -> None:
        """Seed API: push local data into host-visible memory (already there in kp)."""

    def __getitem__(self, index: Any) -> Any:
        return self._selected(index).tolist()

    def __setitem__(self, index: Any, value: Any) -> None:
        selected, values = self._selected(index), numbers(value)
        values = _fitting(values, self._dtype, f"tensor[{index!r}]")
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


def _evaluate(manager: "Manager", op: "OpBase") -> None:
    """Run ``op`` on a sequence of its own on ``manager`` and wait for it."""
    sequence = manager.sequence()
    try:
        sequence.eval(op)
    finally:
        sequence.destroy()
