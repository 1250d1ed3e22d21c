"""The interface every operation implements, and the checks they share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

from ..errors import InvalidArgumentError
from ..memory import Memory

if TYPE_CHECKING:
    from ..context import DeviceContext
    from ..vk import Allocation, Commands, Image


class Access(NamedTuple):
    """How an operation's commands use one buffer range or image: in ``stage``
    (``kp.vk.TRANSFER`` or ``kp.vk.COMPUTE``), reading and/or writing it."""

    allocation: "Allocation | Image"
    stage: int
    reads: bool
    writes: bool


class Barrier(NamedTuple):
    """A pipeline barrier an operation records: Vulkan stage and access masks, on
    ``ranges`` (buffer and image barriers) or, where that is None, on all memory."""

    src_stage: int
    dst_stage: int
    src_access: int
    dst_access: int
    ranges: "tuple[Allocation | Image, ...] | None" = None


class OpBase:
    """An operation a sequence records.

    ``check`` raises if anything the operation uses is unusable (destroyed, of
    another manager); ``record`` appends its commands; ``pre_eval`` and
    ``post_eval`` run on the host before each submission and after each
    successful wait.

    ``accesses`` and ``barriers`` describe what ``record`` records, so that the
    sequence puts a barrier only where an operation depends on an earlier one.
    A subclass that overrides ``record`` without overriding ``accesses`` gets a
    full barrier before and after it.
    """

    def check(self, manager: "DeviceContext") -> None:
        """Raise if the operation cannot run on ``manager``'s device."""

    def record(self, commands: "Commands") -> None:
        """Append the operation's commands."""

    def pre_eval(self) -> None:
        """Host work before each submission."""

    def post_eval(self) -> None:
        """Host work after each completed submission."""

    def memory_objects(self) -> list[Memory]:
        """The tensors and images the recorded commands read or write."""
        return []

    def accesses(self) -> "list[Access] | None":
        """The buffer ranges and images the commands ``record`` appends read or write, asked
        just before ``record``; None where unknown."""
        return []

    def barriers(self) -> "list[Barrier]":
        """The barriers among those commands, which the sequence counts on."""
        return []


def tensor_list(tensors: Any, op: str, minimum: int = 1) -> list[Memory]:
    """``tensors`` as a list of kp.Tensor or kp.Image (kp.Memory), at least ``minimum`` long."""
    if isinstance(tensors, Memory):
        tensors = [tensors]
    if not isinstance(tensors, Sequence) or isinstance(tensors, (str, bytes)):
        raise InvalidArgumentError(f"{op} takes a list of kp.Tensor or kp.Image, got {type(tensors).__name__}")
    items: list[Memory] = list(tensors)
    for i, tensor in enumerate(items):
        if not isinstance(tensor, Memory):
            raise InvalidArgumentError(f"{op}: item {i} is a {type(tensor).__name__}, not a kp.Tensor or kp.Image")
    if len(items) < minimum:
        raise InvalidArgumentError(f"{op} needs at least {minimum} tensor(s) or image(s), got {len(items)}")
    return items


class TensorOp(OpBase):
    """An operation over a list of tensors and images (``kp.Memory``; one alone is a list of one)."""

    minimum = 1

    def __init__(self, tensors: Memory | Sequence[Memory]):
        self.tensors = tensor_list(tensors, type(self).__name__, self.minimum)

    def check(self, manager: "DeviceContext") -> None:
        for tensor in self.tensors:
            tensor.check_recordable(manager)

    def memory_objects(self) -> list[Memory]:
        return list(self.tensors)

    def _unique(self) -> list[Memory]:
        """The tensors, each once (a tensor given twice is synced or copied once)."""
        return list({id(t): t for t in self.tensors}.values())

    get_tensors = memory_objects

    def __repr__(self) -> str:
        return f"kp.{type(self).__name__}({len(self.tensors)} tensors)"
