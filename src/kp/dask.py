"""kp on a Dask cluster: a kp kernel mapped over the blocks of a ``dask.array``.

>>> import dask.array as da, kp
>>> SQUARE_GLSL = ("#version 450\\nlayout(local_size_x = 1) in;\\n"
...                "layout(binding = 0) readonly buffer X { float x[]; };\\n"
...                "layout(binding = 1) buffer Y { float y[]; };\\n"
...                "void main() { uint i = gl_GlobalInvocationID.x; y[i] = x[i] * x[i]; }")
>>> x = da.arange(8, chunks=4).astype("float32")
>>> y = kp.dask.map_blocks(SQUARE_GLSL, x)        # lazy, like any dask array
>>> y.compute(scheduler="threads")  # on a cluster: client.compute(y, resources={"GPU": 1}).result()
array([ 0.,  1.,  4.,  9., 16., 25., 36., 49.], dtype=float32)

Each process that runs blocks (a Dask worker, or this one under Dask's local
schedulers) holds one ``kp.Manager`` per GPU it is given, made by its first block
and reused by every later one: a worker started with ``--resources "GPU=2"`` uses
the first two devices of ``kp.list_devices()`` (``KP_VISIBLE_DEVICES`` chooses them
per worker); a process without a GPU resource uses every device it sees. Each
block takes a free manager of its process, so a worker with as many threads as
GPUs keeps them all busy. The managers live until the process ends; at exit kp does
nothing with them (the operating system reclaims the devices).

Dask is imported only when a function here is called (``pip install
"dask[distributed]"``).
"""

from __future__ import annotations

import collections
import collections.abc
import contextlib
import pickle
import queue
import threading
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from .errors import DeviceNotFoundError, InvalidArgumentError, OutOfDeviceMemoryError
from .manager import Manager, list_devices
from .operations import OpAlgoDispatch, OpSyncDevice, OpSyncLocal
from .shader import as_spirv, reflect
from .memory import numbers
from .types import MemoryTypes, data_type_of

if TYPE_CHECKING:
    import dask.array

    from .algorithm import Algorithm
    from .sequence import Sequence
    from .tensor import Tensor

    # a block kind's input tensors, output tensor, algorithm and recorded sequence on one manager
    _Prepared = tuple[list[Tensor], Tensor, Algorithm, Sequence]

# What each block's kernel runs on a manager is kept for this many kinds of block
# (shapes, dtypes, constants) per manager; a dask array has few distinct block shapes.
PREPARED_PER_MANAGER = 4

_lock = threading.Lock()
_managers: list[Manager] = []
_free: queue.SimpleQueue[Manager] = queue.SimpleQueue()
_prepared: dict[int, collections.OrderedDict[tuple[Any, ...], _Prepared]] = {}


def map_blocks(kernel: Any, *arrays: Any, dtype: Any = None, workgroup: Any = None, spec_consts: Any = (),
               push_consts: Any = ()) -> dask.array.Array:
    """A dask array whose every block is ``kernel`` run by kp on the matching blocks
    of ``arrays``.

    ``kernel`` is anything ``mgr.algorithm`` takes (GLSL source, SPIR-V bytes, a
    ``python2shader`` function); it is compiled here, once. Binding ``i`` is block
    ``i`` of ``arrays`` and the last binding is the output block, of the first
    array's block shape and of ``dtype`` (default: the first array's dtype).
    ``workgroup``, ``spec_consts`` and ``push_consts`` are as in ``mgr.algorithm``
    (the default workgroup gives one invocation per element of the first block).
    The arrays must have one shape; the blocks are the first array's chunks (the
    others are rechunked to match).

    On a cluster, compute it with ``client.compute(result, resources={"GPU": 1})``:
    each task then goes to a worker started with ``--resources "GPU=n"`` and takes
    one of its GPUs (Dask drops a resource annotation on blocks it fuses with their
    inputs, so kp does not annotate; the restriction applies to the whole graph).
    """
    import dask.array as da

    if not arrays:
        raise InvalidArgumentError("kp.dask.map_blocks needs at least one dask array")
    # a dask array of a dtype a tensor holds, or numbers that make one
    try:
        arrays = tuple(da.asarray(a if isinstance(a, da.Array) else numbers(a)) for a in arrays)
    except MemoryError:  # dask copies a NumPy array that is a view
        raise OutOfDeviceMemoryError("no host memory for a copy of the arrays given to kp.dask.map_blocks") from None
    for a in arrays:
        data_type_of(a.dtype)
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise InvalidArgumentError(f"kp.dask.map_blocks: the arrays must have one shape, got {sorted(shapes)}")
    arrays = (arrays[0], *(a.rechunk(arrays[0].chunks) for a in arrays[1:]))
    out_dtype = arrays[0].dtype if dtype is None else dtype
    data_type_of(out_dtype)  # here, not in a worker: what no kp tensor holds
    out_dtype = np.dtype(out_dtype)
    spirv = as_spirv(kernel)
    bindings = sorted(b.binding for b in reflect(spirv).bindings)
    if bindings != list(range(len(arrays) + 1)):
        raise InvalidArgumentError(f"kp.dask.map_blocks: {len(arrays)} array(s) need a kernel with bindings 0 to "
                                   f"{len(arrays)} (the last for the output), it has {bindings}")
    # an iterator would feed only the first block; every block gets the same values
    constants = tuple(tuple(c) if isinstance(c, collections.abc.Iterator) else c
                      for c in (workgroup, spec_consts, push_consts))
    try:
        pickle.dumps(constants)  # each block's key, and what a cluster ships
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise InvalidArgumentError(f"kp.dask.map_blocks: workgroup, spec_consts and push_consts must be "
                                   f"picklable values, got {constants!r}: {exc}") from None
    meta = np.empty((0,) * arrays[0].ndim, out_dtype)
    mapped: dask.array.Array = da.map_blocks(run_block, *arrays, dtype=out_dtype, meta=meta, spirv=spirv,
                                             out_dtype=out_dtype, constants=constants)
    return mapped


def run_block(*blocks: np.ndarray, spirv: bytes, out_dtype: Any,
              constants: tuple[Any, Any, Any] = (None, (), ())) -> np.ndarray:
    """``spirv`` run on one of this process's managers over ``blocks`` (bindings 0..n-1)
    into a new array of ``out_dtype`` (binding n); what ``map_blocks`` runs per block."""
    shape = blocks[0].shape
    if any(b.shape != shape for b in blocks):
        raise InvalidArgumentError(f"kp.dask: blocks of different shapes {[b.shape for b in blocks]}")
    if blocks[0].size == 0:
        return np.empty(shape, out_dtype)
    with _manager() as mgr:
        inputs, out, _algorithm, sequence = _prepare(mgr, blocks, spirv, np.dtype(out_dtype), constants)
        for tensor, block in zip(inputs, blocks):
            tensor.numpy()[...] = block
        # the output is reused from block to block: a kernel that writes only some
        # elements, or adds to them, must find zeros, as in a fresh array
        out.numpy()[...] = 0
        sequence.eval()
        result: np.ndarray = out.numpy().copy()
        return result


def worker_managers() -> list[Manager]:
    """This process's managers, made on first use: one per GPU the Dask worker running
    here was given (its ``GPU`` resource) on the first devices of ``kp.list_devices()``,
    or one per device where there is no such worker or resource."""
    with _lock:
        if not _managers:
            devices = list_devices()
            count = _gpus_given()
            count = len(devices) if count is None else count
            if not 1 <= count <= len(devices):
                raise DeviceNotFoundError(
                    f"this Dask worker was given GPU={count} but kp sees {len(devices)} device(s); give it "
                    f"--resources \"GPU=n\" with 1 <= n <= {len(devices)}, or set KP_VISIBLE_DEVICES for it")
            _managers.extend(Manager(d["index"]) for d in devices[:count])
            for mgr in _managers:
                _free.put(mgr)
        return list(_managers)


def release_managers() -> None:
    """Destroy this process's managers and what their blocks left prepared (waiting for
    their work); the next block makes new ones. For a process that is done with the
    GPUs but goes on, such as a client that ran blocks under a local scheduler."""
    with _lock:
        managers = list(_managers)
        _managers.clear()
        for _ in managers:
            _free.get()  # waits for blocks that still hold a manager
        _prepared.clear()
    for mgr in managers:
        mgr.destroy()


def _gpus_given() -> int | None:
    """The GPU resource of the Dask worker running in this process, None if none."""
    try:
        from distributed import get_worker
        gpus = get_worker().state.total_resources.get("GPU")
    except (ImportError, ValueError):  # no distributed, or not inside a worker
        return None
    return None if gpus is None else int(gpus)


@contextlib.contextmanager
def _manager() -> Iterator[Manager]:
    """A manager of this process that no other block is using, for one block."""
    worker_managers()
    mgr = _free.get()
    try:
        yield mgr
    finally:
        _free.put(mgr)


def _prepare(mgr: Manager, blocks: tuple[np.ndarray, ...], spirv: bytes, out_dtype: np.dtype,
             constants: tuple[Any, Any, Any]) -> _Prepared:
    """The input tensors, output tensor and recorded sequence for blocks like these on
    ``mgr``: made for the first such block, reused by the next ones (only the thread
    holding ``mgr`` uses them)."""
    key = (spirv, tuple((b.shape, b.dtype.str) for b in blocks), out_dtype.str, pickle.dumps(constants))
    cache = _prepared.setdefault(id(mgr), collections.OrderedDict())
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    inputs = [mgr.tensor_t(np.ascontiguousarray(b)) for b in blocks]
    out = mgr.tensor_t(np.broadcast_to(np.zeros((), out_dtype), blocks[0].shape), MemoryTypes.device)
    workgroup, spec_consts, push_consts = constants
    algorithm = mgr.algorithm([*inputs, out], spirv, workgroup, spec_consts, push_consts)
    sequence = mgr.sequence().record(OpSyncDevice([*inputs, out])).record(OpAlgoDispatch(algorithm)) \
        .record(OpSyncLocal([out]))
    cache[key] = (inputs, out, algorithm, sequence)
    if len(cache) > PREPARED_PER_MANAGER:
        old_inputs, old_out, old_algorithm, old_sequence = cache.popitem(last=False)[1]
        old: list[Sequence | Algorithm | Tensor] = [old_sequence, old_algorithm, *old_inputs, old_out]
        for thing in old:
            thing.destroy()
    return cache[key]
