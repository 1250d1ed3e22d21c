"""What tensors and images share (Kompute's ``kp::Memory``): data of one dtype on a
device, a flat zero-copy NumPy view of its host-visible copy, and its lifetime."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DestroyedError, InvalidArgumentError, KomputeError
from .types import DataTypes, MemoryTypes
from . import vk

if TYPE_CHECKING:
    from .manager import Manager
    from .vk import Allocation


class Memory:
    """The base of ``kp.Tensor`` and ``kp.Image``: ``data()``, ``size()``,
    ``data_type()``, ``memory_type()``, ``is_init()``, ``destroy()`` and ``shape``.

    Subclasses set the state below as they are made: the flat host array, if any
    (``_array``), the memory the device uses (``_primary``: a buffer range or an
    image), the host-visible copy that syncs move to and from it (``_staging``) and
    the host-visible memory ``_array`` maps (``_host``)."""

    _noun = "memory object"
    _array: np.ndarray | None
    _shape: tuple[int, ...]
    _dtype: np.dtype
    _data_type: DataTypes
    _memory_type: MemoryTypes
    _manager: "Manager | None"
    _primary: Any
    _staging: "Allocation | None"
    _host: Any
    _destroyed: bool

    # -- state ---------------------------------------------------------------------
    def is_init(self) -> bool:
        """True while it has device memory (created and not destroyed)."""
        return self._primary is not None and not self._destroyed and self._manager.vk_device is not None

    def check_usable(self, manager: "Manager | None" = None) -> None:
        """Raise unless it has device memory (of ``manager``, where given); for kp's
        operations."""
        if self._manager is None:
            raise KomputeError(f"{self._noun} has not been created on a device yet "
                               f"(use mgr.eval_tensor_create_def([t]) or mgr.tensor(...))")
        if not self.is_init():
            raise DestroyedError(f"{self._noun} was destroyed (or its manager was)")
        if manager is not None and manager is not self._manager:
            raise InvalidArgumentError(f"{self._noun} belongs to another kp.Manager")

    def destroy(self) -> None:
        """Free the device memory (once the GPU has finished any work that uses it;
        this does not wait). Views from ``data()`` stay readable: the host memory
        behind them is released when the last of them is gone."""
        primary = self._primary
        if self._destroyed or primary is None:
            self._destroyed = True
            return
        device = primary.device
        with device.lock:
            self._destroyed = True
            device.retire(*self.allocations())
        if primary is not self._host:
            self._primary = None
            primary.release()
        vk.drain()

    def allocations(self) -> list:
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
    def manager(self) -> "Manager | None":
        """The manager it was created on, None before; for kp's operations."""
        return self._manager

    # -- data ----------------------------------------------------------------------
    @property
    def __array_interface__(self) -> dict:
        if self._array is None or self._destroyed:
            raise AttributeError(f"{self._noun} has no host data")
        return {"data": (self._array.ctypes.data, False), "shape": (self._array.size,),
                "typestr": self._dtype.str, "version": 3}

    def data(self) -> Any:
        """The host data, flat as in Kompute: a writable zero-copy 1-D NumPy view of
        ``size()`` elements whose ``base`` is this object (``data().reshape(shape)``
        gives it in its shape)."""
        if self._destroyed or not self.is_init():
            raise DestroyedError(f"{self._noun} was destroyed (or its manager was): it has no data")
        if self._array is None:
            raise KomputeError(f"storage {self._noun}s live on the device only and have no host data; "
                               f"copy them into a device or host {self._noun} to read them")
        return np.asarray(self)

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
