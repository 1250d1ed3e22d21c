"""Kompute's built-in element-wise multiplication."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..algorithm import Algorithm
from ..errors import DataTypeError, InvalidArgumentError
from ..memory import Memory
from ..shader.builtin import builtin_spirv
from .base import tensor_list
from .dispatch import OpAlgoDispatch

LOCAL_SIZE = 256  # the built-in shader's default local_size_x


class OpMult(OpAlgoDispatch):
    """``tensors[2][i] = tensors[0][i] * tensors[1][i]`` for float32 tensors of one
    size, through ``algorithm`` (pass ``mgr.algorithm()``), with 16-byte loads."""

    def __init__(self, tensors: Memory | Sequence[Memory], algorithm: Algorithm):
        tensors = tensor_list(tensors, "OpMult", 3)
        if len(tensors) != 3:
            raise InvalidArgumentError(f"OpMult takes exactly 3 tensors (lhs, rhs, out), got {len(tensors)}")
        sizes = {t.size() for t in tensors}
        if len(sizes) != 1:
            raise InvalidArgumentError(f"OpMult tensors must have one size, got {[t.size() for t in tensors]}")
        if any(t.dtype != np.float32 for t in tensors):
            raise DataTypeError(f"OpMult multiplies float32 tensors, got {[str(t.dtype) for t in tensors]}")
        if not isinstance(algorithm, Algorithm):
            raise InvalidArgumentError(f"OpMult takes a kp.Algorithm, got {type(algorithm).__name__}")
        n = sizes.pop()
        # one vec4 per invocation where the device allows that many workgroups (on
        # the H100 that beat a grid-stride loop over fewer); the shader loops otherwise
        limit = algorithm.manager.live_vk_device().physical.properties["max_work_group_count"][0]
        groups = min(limit, max(1, -(-(n // 4) // LOCAL_SIZE)))
        algorithm.rebuild(tensors, builtin_spirv("opmult"), (groups, 1, 1),
                          push_consts=np.array([n], dtype=np.uint32))
        super().__init__(algorithm)
        self._keep_build()
