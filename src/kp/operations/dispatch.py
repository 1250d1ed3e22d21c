"""Running an algorithm."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import vk
from ..algorithm import Algorithm
from ..errors import DestroyedError, InvalidArgumentError
from .base import Access, OpBase

if TYPE_CHECKING:
    from ..manager import Manager
    from ..vk import Commands


class OpAlgoDispatch(OpBase):
    """Dispatch ``algorithm``; ``push_consts`` replace its push constants (for this
    and later dispatches of it) and must have the same size in bytes."""

    def __init__(self, algorithm: Algorithm, push_consts: Any = None):
        if not isinstance(algorithm, Algorithm):
            raise InvalidArgumentError(f"OpAlgoDispatch takes a kp.Algorithm, got {type(algorithm).__name__}")
        self.algorithm = algorithm
        self.push_consts = push_consts
        self._pipeline = None

    def check(self, manager: "Manager") -> None:
        self.algorithm._check_usable(manager)
        if self._pipeline is not None and not self._pipeline.alive:
            raise DestroyedError("the algorithm this dispatch recorded was destroyed")

    def record(self, commands: "Commands") -> None:
        algorithm = self.algorithm
        if self.push_consts is not None:
            algorithm._set_push_consts(self.push_consts)
        self._pipeline = algorithm._pipeline
        commands.dispatch(self._pipeline, algorithm._push, algorithm._groups)

    def accesses(self) -> list[Access]:
        """Each bound tensor's device memory, read and written by the shader, or
        only read where its binding is ``readonly``; a binding the shader does not
        declare is not accessed."""
        algorithm = self.algorithm
        if algorithm._info is None:
            return [Access(t._primary, vk.COMPUTE, True, True) for t in algorithm._tensors]
        tensors = algorithm._tensors
        return [Access(tensors[b.binding]._primary, vk.COMPUTE, True, not b.readonly)
                for b in algorithm._info.bindings if b.set == 0 and b.binding < len(tensors)]

    def memory_objects(self) -> list:
        return self.algorithm.get_tensors()

    def __repr__(self) -> str:
        return f"kp.OpAlgoDispatch({self.algorithm!r})"
