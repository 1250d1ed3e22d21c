"""Kompute's enums: memory types (with the v0.5/v0.9 names as aliases) and data types."""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

from .errors import DataTypeError, InvalidArgumentError


class MemoryTypes(enum.IntEnum):
    """Where a tensor lives. ``device``: GPU memory plus a mapped staging copy for
    the host; ``host``: host-visible memory the GPU reads directly; ``storage``:
    GPU only; ``deviceAndHost``: GPU memory the host maps (ReBAR or unified memory).
    ``staging`` is the seed API's name for ``host``."""

    device = 0
    host = 1
    storage = 2
    deviceAndHost = 3
    staging = 1


TensorTypes = MemoryTypes


def memory_type_of(kind: Any) -> MemoryTypes:
    """The MemoryTypes member ``kind`` names (None: ``device``), or an
    ``InvalidArgumentError`` naming it."""
    if kind is None:
        return MemoryTypes.device
    # (only ints are compared: comparing an array with each member would compare its elements)
    if isinstance(kind, (int, np.integer)) and not isinstance(kind, bool) and int(kind) in set(MemoryTypes):
        return MemoryTypes(int(kind))
    raise InvalidArgumentError(f"unknown memory type {kind!r}; use kp.MemoryTypes")


class DataTypes(enum.IntEnum):
    """Element types (Kompute HEAD's numbering, extended with 64-bit ints and half)."""

    bool = 0
    int = 1
    uint = 2
    float = 3
    double = 4
    custom = 5
    short = 6
    ushort = 7
    char = 8
    uchar = 9
    long = 10
    ulong = 11
    half = 12


DTYPES = {
    np.dtype(np.bool_): DataTypes.bool, np.dtype(np.int32): DataTypes.int, np.dtype(np.uint32): DataTypes.uint,
    np.dtype(np.float32): DataTypes.float, np.dtype(np.float64): DataTypes.double,
    np.dtype(np.int16): DataTypes.short, np.dtype(np.uint16): DataTypes.ushort, np.dtype(np.int8): DataTypes.char,
    np.dtype(np.uint8): DataTypes.uchar, np.dtype(np.int64): DataTypes.long, np.dtype(np.uint64): DataTypes.ulong,
    np.dtype(np.float16): DataTypes.half,
}

# Device features a dtype needs before shaders can read it from a storage buffer.
DTYPE_FEATURES = {
    DataTypes.double: ("shaderFloat64",), DataTypes.long: ("shaderInt64",), DataTypes.ulong: ("shaderInt64",),
    DataTypes.half: ("storageBuffer16BitAccess",), DataTypes.short: ("storageBuffer16BitAccess",),
    DataTypes.ushort: ("storageBuffer16BitAccess",), DataTypes.char: ("storageBuffer8BitAccess",),
    DataTypes.uchar: ("storageBuffer8BitAccess",),
}


def data_type_of(dtype: np.dtype) -> DataTypes:
    """The DataTypes member of a NumPy dtype, or a DataTypeError naming it."""
    try:
        return DTYPES[dtype]  # a native dtype of kp's (the common case, without np.dtype's 0.1 us)
    except (KeyError, TypeError):  # TypeError: unhashable
        pass
    try:
        dtype = np.dtype(dtype)
    except (TypeError, ValueError, SyntaxError) as error:  # (NumPy parses strings such as "," as Python)
        raise DataTypeError(f"{dtype!r} is not a dtype: {error}") from None
    native = dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype
    if native not in DTYPES:
        supported = ", ".join(sorted(str(d) for d in DTYPES))
        raise DataTypeError(f"kp tensors cannot hold dtype {dtype}; supported dtypes are {supported}")
    return DTYPES[native]
