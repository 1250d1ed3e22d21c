"""kp's built-in matrix multiply."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..algorithm import Algorithm
from ..errors import DataTypeError, InvalidArgumentError
from ..memory import Memory
from ..shader.builtin import builtin_spirv
from .base import tensor_list
from .dispatch import OpAlgoDispatch

# The built-in kernels, by the dtypes of (A, B, C): the tile of C each workgroup
# computes, and the cooperative-matrix configuration (M, N, K, A, B, C and result
# types, scope) the kernel needs the device to list, or None.
KERNELS: dict[tuple[str, str, str], tuple[str, tuple[int, int], tuple[Any, ...] | None]] = {
    ("float32", "float32", "float32"): ("opmatmul_f32", (128, 128), None),
    ("float16", "float16", "float32"): (
        "opmatmul_f16_coopmat", (256, 128),
        (16, 16, 16, "float16", "float16", "float32", "float32", "subgroup")),
}


def _configuration(c: dict[str, Any]) -> tuple[Any, ...]:
    return (c["m"], c["n"], c["k"], c["a_type"], c["b_type"], c["c_type"], c["result_type"], c["scope"])


class OpMatMul(OpAlgoDispatch):
    """``C = A @ B`` for the tensors ``[a, b, c]``, through ``algorithm`` (pass
    ``mgr.algorithm()``), with a kernel kp ships for the device.

    A is M x K, B is K x N and C is M x N, all row-major; the sizes come from the
    tensors' ``shape`` (2-D), or from ``shape=(M, N, K)`` for tensors of any shape
    with those many elements. Any M, N, K work. float32 inputs and result use a
    tiled shared-memory kernel on every device; float16 inputs with a float32
    result use the tensor cores, through cooperative matrices, where the device
    lists a 16 x 16 x 16 float16 configuration (``kp.list_devices()``).

    >>> a, b = mgr.tensor(np.full((64, 32), 2.0)), mgr.tensor(np.full((32, 16), 0.5))
    >>> c = mgr.tensor(np.zeros((64, 16)))
    >>> seq = mgr.sequence().record(kp.OpSyncDevice([a, b])).record(kp.OpMatMul([a, b, c], mgr.algorithm())) \\
    ...     .record(kp.OpSyncLocal([c])).eval()
    >>> c.numpy()[:2, :4]
    array([[32., 32., 32., 32.],
           [32., 32., 32., 32.]], dtype=float32)
    """

    def __init__(self, tensors: Memory | Sequence[Memory], algorithm: Algorithm,
                 shape: Sequence[int] | None = None):
        tensors = tensor_list(tensors, "OpMatMul", 3)
        if len(tensors) != 3:
            raise InvalidArgumentError(f"OpMatMul takes exactly 3 tensors (a, b, c for c = a @ b), "
                                       f"got {len(tensors)}")
        if not isinstance(algorithm, Algorithm):
            raise InvalidArgumentError(f"OpMatMul takes a kp.Algorithm, got {type(algorithm).__name__}")
        a, b, c = tensors
        if c is a or c is b:
            raise InvalidArgumentError("OpMatMul's result tensor c must not be one of its inputs a, b")
        m, n, k = _sizes(a, b, c, shape)
        dtypes = (str(a.dtype), str(b.dtype), str(c.dtype))
        kernel = KERNELS.get(dtypes)
        if kernel is None:
            raise DataTypeError(f"OpMatMul multiplies float32 a, b into float32 c, or float16 a, b into float32 c; "
                                f"got a {dtypes[0]}, b {dtypes[1]}, c {dtypes[2]}")
        name, (tile_m, tile_n), needs = kernel
        device = algorithm.manager.live_vk_device()
        properties = device.physical.properties
        if needs is not None and needs not in map(_configuration, device.cooperative_matrices):
            held_back = device.held_back.get("VK_KHR_cooperative_matrix")
            raise DataTypeError(
                f"OpMatMul of {dtypes[0]} matrices needs a cooperative matrix of {needs[0]} x {needs[1]} x "
                f"{needs[2]} with {needs[3]} inputs and {needs[5]} accumulators, which "
                f"{properties['device_name']} does not list (mgr.get_device_properties()['cooperative_matrices']"
                f"{f'; kp keeps VK_KHR_cooperative_matrix off here: {held_back}' if held_back else ''}); "
                f"multiply float32 tensors instead")
        if needs is not None and properties["subgroup_size"] != 32:
            raise DataTypeError(f"OpMatMul of {dtypes[0]} matrices runs its cooperative matrices in subgroups of 32 "
                                f"invocations; {properties['device_name']} has subgroups of "
                                f"{properties['subgroup_size']}; multiply float32 tensors instead")
        limit = properties["max_work_group_count"]
        groups = (-(-n // tile_n), -(-m // tile_m), 1)
        if groups[0] > limit[0] or groups[1] > limit[1]:
            raise InvalidArgumentError(f"OpMatMul of {m} x {k} by {k} x {n} needs {groups[0]} x {groups[1]} "
                                       f"workgroups; {properties['device_name']} allows {limit[0]} x {limit[1]}")
        algorithm.rebuild(tensors, builtin_spirv(name), groups, push_consts=np.array([m, n, k], dtype=np.uint32))
        self.shape = (m, n, k)
        self._dtypes = dtypes
        super().__init__(algorithm)
        self._keep_build()

    def __repr__(self) -> str:
        m, n, k = self.shape
        return f"kp.OpMatMul({m} x {k} @ {k} x {n}, {self._dtypes[0]})"


def _sizes(a: Memory, b: Memory, c: Memory, shape: Sequence[int] | None) -> tuple[int, int, int]:
    """(M, N, K): given, or from the tensors' 2-D shapes; checked against their sizes."""
    if shape is None:
        shapes = [a.shape, b.shape, c.shape]
        if any(len(s) != 2 for s in shapes):
            raise InvalidArgumentError(f"OpMatMul takes its sizes from 2-D tensors, got shapes {shapes}; "
                                       f"give shape=(M, N, K) for tensors of other shapes")
        (m, k), (k2, n), (m2, n2) = shapes
        if (k2, m2, n2) != (k, m, n):
            raise InvalidArgumentError(f"OpMatMul needs a M x K, b K x N and c M x N, got shapes {shapes}")
        return m, n, k
    if (not isinstance(shape, Sequence) or len(shape) != 3
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and 0 < s < 2 ** 31
                       for s in shape)):
        raise InvalidArgumentError(f"OpMatMul's shape is (M, N, K), three positive ints, got {shape!r}; "
                                   f"each below 2**31")
    m, n, k = (int(s) for s in shape)
    for name, tensor, (rows, cols) in (("a", a, (m, k)), ("b", b, (k, n)), ("c", c, (m, n))):
        if math.prod(tensor.shape) != rows * cols:
            raise InvalidArgumentError(f"OpMatMul with shape (M, N, K) = {(m, n, k)} needs {name} of {rows} x "
                                       f"{cols} = {rows * cols} elements, got {math.prod(tensor.shape)}")
    return m, n, k
