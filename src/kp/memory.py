"""What tensors and images share (Kompute's ``kp::Memory``): data of one dtype on a
device, a flat zero-copy NumPy view of its host-visible copy (and the same in its
shape), moving it to another device, and its lifetime."""

from __future__ import annotations

import math
import os
import weakref
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .errors import DataTypeError, DestroyedError, InvalidArgumentError, KomputeError, OutOfDeviceMemoryError
from .types import DataTypes, MemoryTypes, memory_type_of
from . import vk
from .context import DeviceContext

if TYPE_CHECKING:
    from .operations import OpBase
    from .vk import Allocation

_M = TypeVar("_M", bound="Memory")


# NumPy converts a sequence through a list of its elements: a pointer and a Python
# number (32 bytes) each, then 8 bytes of the array
_BYTES_PER_CONVERTED_NUMBER = 48
_HOST_MEMORY = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 2**64


def _length(data: Any) -> int:
    """The number of elements a (nested) sequence says it has: the product of the
    lengths along its first elements, as NumPy finds its shape (1 where NumPy makes
    no elements of its own: a scalar, an array, an object with ``__array__``, a
    string); an OverflowError for a length beyond sys.maxsize."""
    count = 1
    try:
        for _ in range(64):  # NumPy arrays have at most 64 dimensions
            if isinstance(data, (str, bytes, bytearray, memoryview, dict)) or hasattr(data, "__array__"):
                break
            count *= len(data)
            data = data[0]
    except OverflowError:
        raise
    except Exception:  # no length or first element, or one that fails: NumPy decides what it is
        pass
    return count


def numbers(data: Any) -> np.ndarray:
    """``data`` (an array-like; a kp tensor's data) as a NumPy array of real numbers,
    without a copy where it is one already; a ``DataTypeError`` for anything else:
    None, strings, complex numbers, objects, ragged lists."""
    if type(data) is np.ndarray and data.dtype.kind in "biuf":
        return data  # the common case, as it is
    if isinstance(data, Memory):
        data = data.numpy()
    try:
        if _length(data) * _BYTES_PER_CONVERTED_NUMBER > _HOST_MEMORY:
            # a range, or a sequence that makes its elements: where the host overcommits
            # memory, NumPy's allocation would succeed and filling it would end the process
            raise MemoryError
        array = np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise DataTypeError(f"tensor data must be numbers, got {type(data).__name__}: {exc}") from None
    except (MemoryError, OverflowError):  # OverflowError: a length beyond sys.maxsize
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


def fitting(values: np.ndarray, dtype: np.dtype, what: str) -> np.ndarray:
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
            raise InvalidArgumentError(f"{what}: {value!r} does not fit {dtype} elements "
                                       f"({info.min} to {info.max})")
    return values


class HostData:
    """The host memory behind ``data()`` views, and the ``base`` of each: the views hold
    it, and it holds the host memory and its tensor or image (so ``view.base`` answers
    for it, ``view.base.is_init()`` as in Kompute). A destroyed tensor's host memory goes
    with its last view, even while kp's objects (an algorithm, a recording) still hold
    the tensor."""

    __slots__ = ("__array_interface__", "array", "allocation", "memory", "__weakref__")

    def __init__(self, array: np.ndarray, allocation: Any, memory: "Memory"):
        self.__array_interface__ = {"data": (array.ctypes.data, False), "shape": (array.size,),
                                    "typestr": array.dtype.str, "version": 3}
        self.array = array  # kp's own flat array over the memory (or the data itself)
        self.allocation = allocation  # the mapped range or image it lies in, held
        self.memory = memory

    def __getattr__(self, name: str) -> Any:
        if name == "memory":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.memory, name)


class Memory:
    """The base of ``kp.Tensor`` and ``kp.Image``: ``data()``, ``size()``,
    ``data_type()``, ``memory_type()``, ``is_init()``, ``destroy()`` and ``shape``.

    Subclasses set the state below as they are made: the flat host array, if any
    (``_array``), the memory the device uses (``_primary``: a buffer range or an
    image), the host-visible copy that syncs move to and from it (``_staging``) and
    the host-visible memory ``_array`` maps (``_host``). ``_device_unwritten`` is
    True while the primary memory is separate from the host data and no recorded
    operation has used it: its contents are not the user's yet."""

    DESTROY_ORDER = 2  # a device's destroy() destroys sequences, then algorithms, then memory

    _noun = "memory object"
    _array: np.ndarray | None
    _shape: tuple[int, ...]
    _dtype: np.dtype
    _data_type: DataTypes
    _memory_type: MemoryTypes
    _manager: "DeviceContext | None" = None
    _primary: Any = None
    _staging: "Allocation | None" = None
    _host: Any = None
    _destroyed = False
    _keeper: "HostData | None" = None  # what data() views hold (made at the first)
    _device_unwritten = False

    # -- state ---------------------------------------------------------------------
    def is_init(self) -> bool:
        """True while it has device memory (created and not destroyed)."""
        return (self._primary is not None and not self._destroyed and self._manager is not None
                and self._manager.vk_device is not None)

    def check_usable(self, manager: "DeviceContext | None" = None) -> None:
        """Raise unless it has device memory (of ``manager``, where given); for kp's
        operations."""
        if self._manager is None:
            raise KomputeError(f"{self._noun} has not been created on a device yet "
                               f"(use mgr.eval_tensor_create_def([t]) or mgr.tensor(...))")
        if not self.is_init():
            raise self._manager.gone_error(f"the {self._noun}")
        if manager is not None and manager is not self._manager:
            raise InvalidArgumentError(f"{self._noun} belongs to another kp.Manager")

    def check_recordable(self, manager: "DeviceContext") -> None:
        """``check_usable(manager)`` for an operation being recorded: from then on its
        device memory holds what the device wrote, which ``to()`` moves; for kp's
        operations."""
        self.check_usable(manager)
        self._device_unwritten = False

    def destroy(self) -> None:
        """Free the device memory (once the GPU has finished any work that uses it;
        this does not wait). Recordings that use it raise ``kp.DestroyedError`` when
        evaluated. Views from ``data()`` stay readable: the host memory behind them is
        released when the last of them is gone."""
        already = self._destroyed
        self._destroyed = True
        if not already and self._primary is not None:
            self._retire()
            vk.drain()

    def _retire(self) -> None:
        """Retire the memory under the device lock and release it; deferred where this
        thread is inside kp's own work (a finalizer run there)."""
        primary, host = self._primary, self._host
        device = primary.device
        if device.lock._is_owned():
            vk.defer(self._retire)
            return
        with device.lock:
            device.retire(*self.allocations())
            if primary is not host:
                self._primary = None
                primary.release()
        keeper, self._keeper = self._keeper, None
        if host is not None:
            if keeper is not None:
                weakref.finalize(keeper, host.release_later)  # with the last view; no Vulkan call there
            else:
                host.release()

    def allocations(self) -> list[Any]:
        """The device memory behind it (buffer ranges, images), for kp's operations."""
        return [a for a in (self._primary, self._staging) if a is not None]

    @property
    def primary_allocation(self) -> Any:
        """The memory shaders bind and copies use (a ``kp.vk.Allocation`` or, for images,
        a ``kp.vk.Image``), None before it is created; for kp's operations."""
        return self._primary

    @property
    def staging_allocation(self) -> "Allocation | None":
        """The host-visible copy that syncs copy to and from the primary memory, None
        where there is none (host-mapped and storage memory); for kp's operations."""
        return self._staging

    @property
    def manager(self) -> "DeviceContext | None":
        """The manager it was created on, None before; for kp's operations."""
        return self._manager

    # -- data ----------------------------------------------------------------------
    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """``np.asarray(t)``: the same zero-copy view as ``data()``."""
        self._local()  # a KomputeError where there is no host data
        view = self._view()
        converts = dtype is not None and np.dtype(dtype) != view.dtype
        if converts and copy is False:
            # NumPy's contract: writes to what copy=False gives must reach the data
            raise InvalidArgumentError(f"np.asarray(..., dtype={np.dtype(dtype)}, copy=False): the {self._noun} "
                                       f"holds {view.dtype}, and only a copy has another dtype")
        if copy or converts:
            return view.astype(dtype if dtype is not None else view.dtype)
        return view

    def _view(self) -> np.ndarray:
        keeper = self._keeper
        if keeper is None:
            assert self._array is not None  # the callers checked
            keeper = self._keeper = HostData(self._array, self._host, self)
        return np.asarray(keeper)

    def data(self) -> Any:
        """The host data, flat as in Kompute: a writable zero-copy 1-D NumPy view of
        ``size()`` elements (``data().reshape(shape)`` gives it in its shape). The
        views hold the host memory: it stays readable after ``destroy()`` until the
        last view is gone."""
        self._local()
        return self._view()

    def numpy(self) -> np.ndarray:
        """The host data in its ``shape`` (``(height, width, channels)`` for an image): a
        writable zero-copy view of the same memory as ``data()``.

        >>> mgr.image(np.zeros((4, 8, 2)), 8, 4, 2).numpy().shape
        (4, 8, 2)
        """
        view: np.ndarray = self.data()
        return view.reshape(self._shape)

    def set_data(self, data: Any) -> None:
        """Replace the host data with ``data``'s numbers, in order (as many as ``size()``;
        the device copy changes on the next ``OpSyncDevice``)."""
        article = "an" if self._noun[0] in "aeiou" else "a"
        array = numbers(data).reshape(-1)
        if array.size != self.size():
            raise InvalidArgumentError(f"set_data got {array.size} elements for {article} {self._noun} of {self.size()}")
        array = fitting(array, self._dtype, "set_data")
        self._local()[:] = array

    def _local(self) -> np.ndarray:
        """The flat host array; raises where there is none (destroyed, its manager gone,
        or a storage object)."""
        manager = self._manager
        if self._destroyed or (manager is not None and manager.vk_device is None):
            if manager is None:
                raise DestroyedError(f"the {self._noun} was destroyed: it has no data")
            raise manager.gone_error(f"the {self._noun}")
        if self._array is None:
            raise KomputeError(f"storage {self._noun}s live on the device only and have no host data; "
                               f"copy them into a device or host {self._noun} to read them")
        return self._array

    def size(self) -> int:
        """The number of elements."""
        return math.prod(self._shape)

    def __len__(self) -> int:
        return self.size()

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the data (``data()`` is flat; it has ``math.prod(shape)``
        elements)."""
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def nbytes(self) -> int:
        return self.size() * self._dtype.itemsize

    def data_type(self) -> DataTypes:
        return self._data_type

    def memory_type(self) -> MemoryTypes:
        return self._memory_type

    # -- moving to another device --------------------------------------------------
    def to(self: _M, manager: "DeviceContext", memory_type: MemoryTypes | None = None) -> _M:
        """A new tensor or image on ``manager`` (another device's, or this one's) holding
        this one's device data, with its shape and dtype, and ``memory_type`` (by
        default this one's). Both the new object's device memory and its ``data()``
        hold the copy, so it is ready for ``manager``'s sequences without a sync. Waits
        until the copy is done; this object is left as it was.

        >>> part = mgr.tensor([1.0, 2.0])              # say, computed on another device
        >>> gathered = part.to(kp.Manager())
        >>> gathered.data()
        array([1., 2.], dtype=float32)

        Between two managers the data passes through host memory (Vulkan has no copy
        between separate devices); on the same manager it is a copy on the device. A
        tensor or image whose device memory no operation has used yet (made by
        ``mgr.tensor`` in staging memory, before its ``OpSyncDevice``) moves its host
        data: its device memory holds nothing of the user's yet.
        """
        from .operations import OpCopy

        if not isinstance(manager, DeviceContext):
            raise InvalidArgumentError(f"{type(self).__name__}.to takes a kp.Manager, got {type(manager).__name__}")
        self.check_usable()
        kind = self._memory_type if memory_type is None else memory_type_of(memory_type)
        if self._device_unwritten:
            return self._filled_on(manager, self.numpy(), kind)
        source = self._manager
        assert source is not None  # check_usable
        if manager is source:
            out = self._made_on(manager, self._zeros(), kind, upload=False)
            _evaluate(manager, OpCopy([self, out]))
            return out
        # Read the device data into a host tensor here, then write it on the other device.
        host = _host_tensor(source, self._zeros().reshape(-1))
        try:
            _evaluate(source, OpCopy([self, host]))
            return self._filled_on(manager, host.numpy().reshape(self._shape), kind)
        finally:
            host.destroy()

    def _zeros(self) -> np.ndarray:
        """Zeros of its shape and dtype, without memory of their own."""
        return np.broadcast_to(np.zeros((), self._dtype), self._shape)

    def _filled_on(self: _M, manager: "DeviceContext", array: np.ndarray, kind: MemoryTypes) -> _M:
        """One like it on ``manager`` holding ``array`` in its device memory too."""
        from .operations import OpSyncDevice

        out = self._made_on(manager, array, kind, upload=True)
        if out.staging_allocation is not None:
            _evaluate(manager, OpSyncDevice([out]))
        return out

    def _made_on(self: _M, manager: "DeviceContext", array: np.ndarray, kind: MemoryTypes, upload: bool) -> _M:
        """A new object of its kind and size on ``manager`` holding ``array`` (storage
        memory: uploaded where ``upload``); for ``to()``."""
        raise NotImplementedError

    def _upload(self, manager: "DeviceContext", array: np.ndarray) -> None:
        """Write ``array`` into the new storage memory through a temporary host-visible
        tensor, and wait: storage memory has no host copy to hold it until a sync."""
        from .operations import OpCopy

        staged = _host_tensor(manager, array)
        try:
            _evaluate(manager, OpCopy([staged, self]))
        finally:
            staged.destroy()


def _evaluate(manager: "DeviceContext", op: "OpBase") -> None:
    """Run ``op`` on a sequence of its own on ``manager`` and wait for it."""
    from .sequence import Sequence

    sequence = Sequence(manager)
    try:
        sequence.eval(op)
    finally:
        sequence.destroy()


def _host_tensor(manager: "DeviceContext", array: np.ndarray) -> "Memory":
    """A host-visible tensor of ``array`` on ``manager``, for moving data through the host."""
    from .tensor import Tensor

    return Tensor.create_on(manager, np.asarray(array), MemoryTypes.host)
