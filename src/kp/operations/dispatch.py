"""Running an algorithm."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from .. import vk
from ..algorithm import Algorithm, push_constants_bytes
from ..errors import DestroyedError, InvalidArgumentError
from ..memory import Memory
from .base import Access, OpBase

if TYPE_CHECKING:
    from ..context import DeviceContext
    from ..shader.spirv import ShaderInfo
    from ..vk import Commands, ComputePipeline


class OpAlgoDispatch(OpBase):
    """Dispatch ``algorithm``. ``push_consts`` are this dispatch's push constants,
    converted as ``mgr.algorithm`` converts them (a list to the shader's member
    types, a NumPy array or bytes as they are); later dispatches of the algorithm
    without push constants of their own use them too, as in Kompute."""

    def __init__(self, algorithm: Algorithm, push_consts: Any = None):
        if not isinstance(algorithm, Algorithm):
            raise InvalidArgumentError(f"OpAlgoDispatch takes a kp.Algorithm, got {type(algorithm).__name__}")
        self.algorithm = algorithm
        self.push_consts = push_consts
        self._pipeline: "ComputePipeline | None" = None
        # (shader interface, push_consts as bytes for it): this op's own bytes, never
        # read back from the algorithm that other threads' dispatches share
        self._converted: tuple["ShaderInfo", bytes] | None = None
        self._built: "weakref.ref[ComputePipeline] | None" = None  # see _keep_build
        info = algorithm.shader_info
        if push_consts is not None and info is not None:
            self._own_push(info)  # a bad value is refused where it was given

    def _own_push(self, info: "ShaderInfo") -> bytes:
        converted = self._converted
        if converted is None or converted[0] is not info:  # first use, or the algorithm was rebuilt
            converted = self._converted = (info, push_constants_bytes(self.push_consts, info))
        return converted[1]

    def _keep_build(self) -> None:
        """For an operation that built its algorithm for its own tensors (OpMult,
        OpMatMul): refuse to record once the algorithm is rebuilt, for instance by
        another operation given the same algorithm, whose dispatch it would record."""
        pipeline = self.algorithm.pipeline
        self._built = None if pipeline is None else weakref.ref(pipeline)

    def check(self, manager: "DeviceContext") -> None:
        self.algorithm.check_usable(manager)
        if self._pipeline is not None and not self._pipeline.alive:
            raise DestroyedError("the algorithm this dispatch recorded was destroyed")
        if self._built is not None and self._built() is not self.algorithm.pipeline:
            name = type(self).__name__
            raise InvalidArgumentError(f"the algorithm of this {name} was rebuilt since it was made (another "
                                       f"operation was given the same algorithm, or rebuild() was called): "
                                       f"give each {name} its own mgr.algorithm()")

    def record(self, commands: "Commands") -> None:
        algorithm = self.algorithm
        info, pipeline = algorithm.shader_info, algorithm.pipeline
        # check() refused an algorithm never built or destroyed, under the device lock held since
        assert info is not None and pipeline is not None
        if self.push_consts is None:
            push = algorithm.push_constants
        else:
            push = self._own_push(info)
            algorithm.store_push_constants(push)
        self._pipeline = pipeline
        commands.dispatch(pipeline, push, algorithm.dispatch_groups)

    def accesses(self) -> list[Access]:
        """Each bound tensor's device memory, read and written by the shader, or
        only read where its binding is ``readonly``; a binding the shader does not
        declare is not accessed."""
        info, tensors = self.algorithm.shader_info, self.algorithm.get_tensors()
        if info is None:
            return [Access(t.primary_allocation, vk.COMPUTE, True, True) for t in tensors]
        return [Access(tensors[b.binding].primary_allocation, vk.COMPUTE, True, not b.readonly)
                for b in info.bindings if b.set == 0 and b.binding < len(tensors)]

    def memory_objects(self) -> list[Memory]:
        return self.algorithm.get_tensors()

    def __repr__(self) -> str:
        return f"kp.{type(self).__name__}({self.algorithm!r})"  # OpMult's and others' own names in profiles
