"""Images: 2-D storage images on a Vulkan device, as Kompute master has them.

``mgr.image(data, width, height, num_channels)`` (float32) and ``mgr.image_t(...)``
(keeping the dtype) make an image of ``width`` x ``height`` texels of 1, 2 or 4
channels. Shaders bind it as a storage image (``layout(r32f) uniform image2D``)
and read it with ``imageLoad`` / ``imageStore``. Its ``data()`` is the flat,
zero-copy NumPy view of its texels, row after row, channel after channel, and
``numpy()`` the same memory shaped ``(height, width, num_channels)``; ``set_data``,
``np.asarray(image)`` and ``to(manager)`` work as for tensors.

Memory types as for tensors: ``device`` (an optimal-tiling image and a host-visible
staging buffer that ``OpSyncDevice`` / ``OpSyncLocal`` copy to and from),
``host`` and ``deviceAndHost`` (a linear image the host maps, no syncs needed),
``storage`` (device only, no host data: the data it is made with is uploaded once,
through a temporary host-visible copy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataTypeError, InvalidArgumentError, KomputeError
from .memory import Memory
from .tensor import as_host_array
from .types import MemoryTypes, data_type_of
from . import vk

if TYPE_CHECKING:
    from .context import DeviceContext

# dtype -> (Vulkan component kind, GLSL format suffix)
IMAGE_DTYPES = {np.dtype(np.float32): ("float", "f"), np.dtype(np.int32): ("int", "i"),
                np.dtype(np.uint32): ("uint", "ui"), np.dtype(np.int16): ("int", "i"),
                np.dtype(np.uint16): ("uint", "ui"), np.dtype(np.int8): ("int", "i"),
                np.dtype(np.uint8): ("uint", "ui")}
CHANNEL_PREFIX = {1: "r", 2: "rg", 4: "rgba"}
_VK_KINDS = {MemoryTypes.device: "device", MemoryTypes.storage: "device", MemoryTypes.host: "host",
             MemoryTypes.deviceAndHost: "device_host"}


def as_image_array(data: Any, limit: int | None = None) -> np.ndarray:
    """``data`` as ``mgr.image_t`` keeps it: as ``mgr.tensor_t`` does (``limit`` as in
    ``as_host_array``), except that numbers without a dtype of their own (a list of ints
    or floats), which NumPy makes int64 or float64, become int32 or float32, the widest
    image formats."""
    array = as_host_array(data, limit=limit)
    if hasattr(data, "dtype") or array.dtype.kind not in "if" or array.dtype in IMAGE_DTYPES:
        return array
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    limits = np.iinfo(np.int32)
    if not limits.min <= array.min() <= array.max() <= limits.max:
        raise DataTypeError(f"image data holds integers beyond int32 ({array.min()} .. {array.max()}); "
                            f"images hold at most 32-bit integers")
    return array.astype(np.int32)


def image_format_name(dtype: np.dtype, num_channels: int) -> str:
    """The GLSL format qualifier of images of ``dtype`` and ``num_channels``
    (``r32f``, ``rgba8ui``, ...)."""
    return f"{CHANNEL_PREFIX[num_channels]}{dtype.itemsize * 8}{IMAGE_DTYPES[dtype][1]}"


class Image(Memory):
    """A ``width`` x ``height`` image of ``num_channels`` channels of one dtype on a
    Vulkan device. Make it with ``mgr.image(...)`` or ``mgr.image_t(...)``.

    >>> img = mgr.image(np.zeros((4, 8)), 8, 4, 1)
    >>> img.get_width(), img.get_height(), img.get_num_channels(), img.shape, len(img.data())
    (8, 4, 1, (4, 8, 1), 32)
    """

    _noun = "image"

    def __init__(self, *args: Any, **kwargs: Any):
        raise KomputeError("make images with mgr.image(data, width, height, num_channels) or mgr.image_t(...)")

    @classmethod
    def create_on(cls, manager: "DeviceContext", array: np.ndarray, width: Any, height: Any, num_channels: Any,
                  memory_type: MemoryTypes, upload: bool = True) -> "Image":
        """An image of ``array`` with device memory on ``manager`` at once; for kp's
        ``mgr.image`` / ``mgr.image_t``. Storage memory, which has no host copy, gets
        ``array`` through a temporary host-visible copy where ``upload`` (one transfer,
        waited for)."""
        for name, value in (("width", width), ("height", height), ("num_channels", num_channels)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise InvalidArgumentError(f"image {name} must be a positive integer, got {value!r}")
        width, height, num_channels = int(width), int(height), int(num_channels)
        if num_channels not in CHANNEL_PREFIX:
            raise InvalidArgumentError(f"images have 1, 2 or 4 channels (Vulkan storage-image formats R, RG, RGBA), "
                                       f"got num_channels={num_channels}")
        dtype = array.dtype
        if dtype not in IMAGE_DTYPES:
            supported = ", ".join(str(d) for d in IMAGE_DTYPES)
            raise DataTypeError(f"images cannot hold {dtype} data; image dtypes are {supported}")
        if array.size != width * height * num_channels:
            raise InvalidArgumentError(f"image data has {array.size} elements but a {width} x {height} image of "
                                       f"{num_channels} channel(s) holds {width * height * num_channels}")
        image = cls.__new__(cls)
        image._array, image._shape, image._dtype = None, (height, width, num_channels), dtype
        image._data_type, image._memory_type = data_type_of(dtype), memory_type
        image._manager = image._primary = image._staging = image._host = None
        image._destroyed = False
        image._allocate(manager, array)
        if memory_type == MemoryTypes.storage and upload:
            image._upload(manager, array)
        return image

    def _made_on(self, manager: "DeviceContext", array: np.ndarray, kind: MemoryTypes, upload: bool) -> "Image":
        height, width, channels = self._shape
        return Image.create_on(manager, array, width, height, channels, kind, upload)

    def _allocate(self, manager: "DeviceContext", array: np.ndarray) -> None:
        device, allocator = manager.live_vk_device(), manager.live_vk_allocator()
        height, width, channels = self._shape
        kind, itemsize = IMAGE_DTYPES[self._dtype][0], self._dtype.itemsize
        what = f"{width} x {height} {self.format_name()} image"
        format = vk.image_format(kind, itemsize * 8, channels)
        assert format is not None  # every dtype and channel count create_on accepts has one
        primary = vk.Image(device, allocator, width, height, format,
                           channels * itemsize, _VK_KINDS[self._memory_type], what)
        if self._memory_type == MemoryTypes.device:
            self._staging = self._host = allocator.allocate("host", self.nbytes)
        elif self._memory_type != MemoryTypes.storage:
            self._host = primary
        if self._host is not None:
            self._array = np.frombuffer(self._host.host_buffer(), dtype=self._dtype, count=self.size())
            np.copyto(self._array, array.reshape(-1))
        primary.to_general()  # after the host's writes to a linear image, which it keeps
        self._primary = primary
        self._device_unwritten = self._staging is not None
        self._manager = manager
        manager.adopt(self)

    # -- Kompute's accessors -----------------------------------------------------------
    def get_width(self) -> int:
        """Texels per row."""
        return self._shape[1]

    def get_height(self) -> int:
        """Rows."""
        return self._shape[0]

    def get_num_channels(self) -> int:
        """Channels per texel: 1, 2 or 4."""
        return self._shape[2]

    def format_name(self) -> str:
        """The GLSL format qualifier a shader declares the image with (``r32f``,
        ``rgba8ui``, ...)."""
        return image_format_name(self._dtype, self._shape[2])

    def __repr__(self) -> str:
        state = "on device" if self.is_init() else "destroyed"
        return (f"kp.Image({self.get_width()} x {self.get_height()} x {self.get_num_channels()}, "
                f"{self.format_name()}, memory_type={self._memory_type.name}, {state})")
