"""Device memory: a few large blocks per memory kind, each one VkDeviceMemory bound to
one VkBuffer that spans it (mapped once when host-visible); tensors get ranges of
them. Creating a tensor therefore costs no Vulkan call in the common case, and the
driver's cap on allocations (4096 on NVIDIA) is never reached.

A range goes back to its block through the release list (``core.drain``), once
the last submission that used it has finished: never from a finalizer, which may
run inside ``Block.take`` itself.

Small ranges (up to ``SLOT_LIMIT`` bytes: the many small tensors a program makes in
a loop) are slots of a size class, a power of two: a block cuts runs of them from its
free space, and hands them out and takes them back with one dict operation each,
which needs no lock and which neither a finalizer nor Ctrl-C can cut in two.
"""

from __future__ import annotations

import bisect
import os
import threading
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgumentError, OutOfDeviceMemoryError
from .core import NULL, C, Life, Owned, _release, check, draining_here, ffi, lib, new, retire

if TYPE_CHECKING:
    from .device import Device

DEVICE_LOCAL = C.VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT
HOST_VISIBLE = C.VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT
HOST_COHERENT = C.VK_MEMORY_PROPERTY_HOST_COHERENT_BIT
HOST_CACHED = C.VK_MEMORY_PROPERTY_HOST_CACHED_BIT

BUFFER_USAGE = (C.VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | C.VK_BUFFER_USAGE_TRANSFER_SRC_BIT
                | C.VK_BUFFER_USAGE_TRANSFER_DST_BIT)

# kind -> (required flags, preferred flags, avoided flags)
MEMORY_KINDS = {
    "device": (DEVICE_LOCAL, 0, HOST_VISIBLE),
    "host": (HOST_VISIBLE | HOST_COHERENT, HOST_CACHED, DEVICE_LOCAL),
    "device_host": (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT, HOST_CACHED, 0),
}

BLOCK_SIZE = 64 << 20
SLOT_LIMIT = 4096  # ranges up to this many bytes are slots of a size class
SLOT_RUN = 16  # slots a block cuts from its free space at a time (at least 4 KiB of them)


class Block(Owned):
    """One VkDeviceMemory with a buffer over all of it; hands out aligned ranges."""

    def __init__(self, device: "Device", kind: str, memory_type: int, size: int, mapped: bool):
        self.device = device
        self.kind = kind
        self.size = size
        self._free: list[tuple[int, int]] = [(0, size)]  # sorted (offset, size) gaps
        # size class -> the offsets of its free slots, cut from the gaps and never
        # returned to them (a dict: take and give-back are one step each, and a slot
        # given back twice is listed once)
        self._slots: dict[int, dict[int, None]] = {}
        self._lock = threading.Lock()
        dev = device.handle
        families = new("uint32_t[]", device.queue_families)
        info = new("VkBufferCreateInfo *", {"sType": C.VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, "size": size,
                                            "usage": BUFFER_USAGE, "sharingMode": C.VK_SHARING_MODE_EXCLUSIVE})
        if len(device.queue_families) > 1:
            # used from queues of several families: concurrent sharing keeps the
            # contents valid without ownership transfers
            info.sharingMode = C.VK_SHARING_MODE_CONCURRENT
            info.queueFamilyIndexCount, info.pQueueFamilyIndices = len(device.queue_families), families
        # what _free_block destroys (slots: see core.Owned)
        handles = {"buffer": new("VkBuffer *"), "memory": new("VkDeviceMemory *")}
        self._own("VkDeviceMemory", _free_block, device, handles)
        check(lib.vkCreateBuffer(dev, info, NULL, handles["buffer"]), "vkCreateBuffer")
        self.buffer = buffer = handles["buffer"][0]
        req = new("VkMemoryRequirements *")
        lib.vkGetBufferMemoryRequirements(dev, buffer, req)
        ainfo = new("VkMemoryAllocateInfo *", {"sType": C.VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                               "allocationSize": req.size, "memoryTypeIndex": memory_type})
        check(lib.vkAllocateMemory(dev, ainfo, NULL, handles["memory"]), f"allocating {size} bytes of {kind} memory")
        self.memory = memory = handles["memory"][0]
        check(lib.vkBindBufferMemory(dev, buffer, memory, 0), "vkBindBufferMemory")
        self.pointer = NULL
        self.mapped: memoryview | None = None
        if mapped:
            ptr = new("void **")
            check(lib.vkMapMemory(dev, memory, 0, req.size, 0, ptr), "vkMapMemory")
            self.pointer = ffi.cast("char *", ptr[0])
            # what Allocation.host_buffer slices (a third of ffi.buffer's cost per range)
            self.mapped = memoryview(ffi.buffer(self.pointer, size))

    def take(self, size: int, alignment: int) -> int | None:
        """Reserve ``size`` bytes at an ``alignment`` multiple; None when full."""
        with self._lock:
            free = self._free
            for i, (start, length) in enumerate(free):
                offset = -(-start // alignment) * alignment
                end, free_end = offset + size, start + length
                if end <= free_end:
                    pieces = [(start, offset - start)] if offset > start else []
                    if end < free_end:
                        pieces.append((end, free_end - end))
                    free[i:i + 1] = pieces
                    return offset
            return None

    def give_back(self, offset: int, size: int, size_class: int, returned: list[None]) -> bool:
        """Return a range (for ``drain``): a slot of ``size_class`` (where not 0) at
        once, lock-free; any other into the gaps, or False, to be tried again later,
        where the block is busy, which may be this thread's own ``take`` that a
        finalizer interrupted. ``returned`` (the range's own, empty until then) is
        marked first: drain runs a return that Ctrl-C cut short again, also one cut
        short after the range went back, which another thread may have taken since;
        the mark makes that run add nothing (an interrupt between the mark and the
        return loses the range rather than hand it out twice)."""
        lock = self._lock
        if not size_class and lock.locked():
            return False
        if returned:
            return True
        returned.append(None)
        if size_class:
            self._slots[size_class][offset] = None
            return True
        with lock:  # not acquire() then try: Ctrl-C could come between them (see core.drain)
            free = self._free
            i = bisect.bisect(free, (offset, size))
            merged: list[tuple[int, int]] = []
            for start, length in [*free[max(i - 1, 0):i], (offset, size), *free[i:i + 1]]:
                if merged and merged[-1][0] + merged[-1][1] == start:
                    merged[-1] = (merged[-1][0], merged[-1][1] + length)
                else:
                    merged.append((start, length))
            free[max(i - 1, 0):i + 1] = merged  # one step, which Ctrl-C cannot cut in two
        return True

    def take_slot(self, size_class: int) -> int | None:
        """A free slot of ``size_class`` bytes (a power of two, and aligned to it);
        None when there is none. One popitem: lock-free, and atomic."""
        try:
            return self._slots[size_class].popitem()[0]
        except KeyError:  # no slot of that class free (or ever cut)
            return None

    def add_slots(self, size_class: int) -> int | None:
        """Cut a run of slots of ``size_class`` from the free space and take one of
        them; None when not even one fits."""
        run = max(SLOT_RUN * size_class, 4096)
        offset = self.take(run, size_class)
        if offset is None:
            run = size_class
            offset = self.take(run, size_class)
            if offset is None:
                return None
        # Ctrl-C between the take and this update loses the run (never hands it out twice)
        self._slots.setdefault(size_class, {}).update(dict.fromkeys(range(offset + size_class, offset + run,
                                                                           size_class)))
        return offset

    @property
    def empty(self) -> bool:
        """Whether no range of it is in use."""
        slots = sum(size_class * len(free) for size_class, free in list(self._slots.items()))
        return sum(length for _start, length in list(self._free)) + slots == self.size


def _free_block(device: "Device", handles: dict[str, Any]) -> None:
    """No submission uses the block any more: its ranges went back only after
    their last use."""
    # each handle out of its slot, then destroyed (see core.Owned)
    buffer, handles["buffer"][0] = handles["buffer"][0], NULL
    lib.vkDestroyBuffer(device.handle, buffer, NULL)
    memory, handles["memory"][0] = handles["memory"][0], NULL
    lib.vkFreeMemory(device.handle, memory, NULL)  # also unmaps


class Allocation:
    """A range of a block: what a tensor's buffer is. ``retire()`` stops GPU work
    from using it; the range returns to its block once it is ``release()``d (or
    collected) and its last use has finished. Recordings hold the Allocations they
    use, so a collected one is used by no recording."""

    __slots__ = ("block", "buffer", "offset", "size", "life", "__weakref__")

    def __init__(self, block: Block, offset: int, size: int, size_class: int = 0):
        """``size_class``: the range is a slot of that class (``Block.take_slot``)."""
        self.block: Block | None = block  # None once released
        self.buffer = block.buffer
        self.offset = offset
        self.size = size
        self.life = Life(block.give_back, (offset, size, size_class, []))

    def __del__(self) -> None:
        # lock-free, no Vulkan call (see core._release); cheaper than core.watch (2 us a
        # tensor), which matters for a tensor made in a loop
        try:
            life = self.life
        except AttributeError:  # __init__ was cut short (Ctrl-C): the range was never handed out
            return
        if self.block is not None:
            _release(life)

    def retire(self) -> None:
        """No new submission may use the range (``Commands.check_uses`` refuses it)."""
        retire(self.life)

    def release(self) -> None:
        """Retire, and return the range once its last use has finished. The block is
        no longer held from here: recordings that still hold this Allocation refuse
        to run, and a block of its own is freed with the range."""
        if self.block is not None:
            _release(self.life)  # first: Ctrl-C between the two leaves it to __del__, not lost
            self.block = None

    release_later = release  # lock-free, no Vulkan call: as Owned.release_later, for finalizers

    @property
    def device(self) -> "Device":
        block = self.block
        assert block is not None, "a released range"
        return block.device

    @property
    def address(self) -> int:
        """Host address of the range (host-visible blocks only)."""
        block = self.block
        assert block is not None, "a released range"
        return int(ffi.cast("uintptr_t", block.pointer)) + self.offset

    def host_buffer(self) -> Any:
        """A writable Python buffer over the mapped range."""
        mapped = self.block.mapped if self.block is not None else None
        assert mapped is not None, "a released or unmapped range"
        return mapped[self.offset:self.offset + self.size]


class Allocator:
    """Sub-allocates buffers from blocks, one list of blocks per memory kind. Its
    owner (the manager) holds it; blocks hold the device, never the allocator."""

    def __init__(self, device: "Device"):
        self._device = device
        self._physical = device.physical
        self._buffer_bits = device.buffer_memory_type_bits
        self._blocks: dict[str, list[Block]] = {kind: [] for kind in MEMORY_KINDS}
        # re-entrant: a finalizer run inside allocate() may make a tensor (see there)
        self._lock = threading.RLock()
        self._types = {kind: self.memory_type(kind, self._buffer_bits) for kind in MEMORY_KINDS}
        self._heaps = {kind: self.heap_size(kind) for kind in MEMORY_KINDS if self._types[kind] is not None}
        self.alignment = max(16, device.physical.limits["min_storage_buffer_offset_alignment"])
        # size -> the size class of its slot: the power of two that holds it, aligned
        self._size_classes = [max(self.alignment, 1 << (size - 1).bit_length()) for size in range(SLOT_LIMIT + 1)]
        # Unified memory: the host maps the device's own memory and syncs are no-ops.
        self.uma = (device.physical.properties["device_type"] in ("cpu", "integrated_gpu")
                    and self.supports("device_host") and os.environ.get("KP_DISABLE_UMA", "") in ("", "0"))

    def memory_type(self, kind: str, bits: int) -> int | None:
        """The best memory type of ``kind`` among those in ``bits`` (a resource's
        memoryTypeBits), None where none fits; also for kp's images."""
        required, preferred, avoided = MEMORY_KINDS[kind]
        best, best_score = None, None
        for index, (flags, _heap) in enumerate(self._physical.memory_types):
            if not bits & (1 << index) or flags & required != required:
                continue
            score = (bool(flags & preferred) if preferred else 0) - (bool(flags & avoided) if avoided else 0)
            if best_score is None or score > best_score:
                best, best_score = index, score
        return best

    def supports(self, kind: str) -> bool:
        return self._types[kind] is not None

    def _memory_type(self, kind: str) -> int:
        memory_type = self._types[kind]
        if memory_type is None:
            raise InvalidArgumentError(f"this device has no {kind.replace('_', '-')} memory "
                                       f"(required property flags {MEMORY_KINDS[kind][0]:#x})")
        return memory_type

    def heap_size(self, kind: str) -> int:
        heap = self._physical.memory_types[self._memory_type(kind)][1]
        return self._physical.memory_heaps[heap][0]

    def allocate(self, kind: str, size: int) -> Allocation:
        """``size`` bytes of ``kind`` memory (a key of ``MEMORY_KINDS``)."""
        if size < 4:
            size = 4
        size_class = self._size_classes[size] if size <= SLOT_LIMIT else 0
        if size_class:
            # lock-free: a slot freed before (also where a finalizer runs inside allocate())
            for block in self._blocks[kind]:
                offset = block.take_slot(size_class)
                if offset is not None:
                    return Allocation(block, offset, size, size_class)
        memory_type, heap = self._types[kind], self._heaps.get(kind)
        if memory_type is None or heap is None:
            memory_type, heap = self._memory_type(kind), self.heap_size(kind)  # raises: no such memory
        if size > heap:
            raise OutOfDeviceMemoryError(f"cannot allocate {size} bytes of {kind} memory: "
                                         f"the device's heap holds {heap} bytes")
        mapped = kind != "device"
        if size > BLOCK_SIZE // 4 or self._lock._is_owned() or draining_here():  # type: ignore[attr-defined]
            # A block of its own, not listed for reuse, so that it is freed with the
            # tensor instead of holding that much memory until a later allocation;
            # also where a finalizer run inside kp's own allocation asks for memory,
            # so that nothing half-changed is touched, or one run inside drain, which
            # may hold a block's lock (give_back) that a thread holding the
            # allocator's lock waits for.
            block = Block(self._device, kind, memory_type, -(-size // self.alignment) * self.alignment, mapped)
            offset = block.take(size, self.alignment)
            assert offset is not None  # a block of its size
            return Allocation(block, offset, size)
        with self._lock:
            for block in self._blocks[kind]:
                allocation = self._take(block, size, size_class)
                if allocation is not None:
                    return allocation
            self._drop_empty(kind)
            block = Block(self._device, kind, memory_type, min(BLOCK_SIZE, heap), mapped)
            self._blocks[kind].append(block)
            allocation = self._take(block, size, size_class)
            assert allocation is not None  # a new block of at least size bytes (size <= heap, checked above)
            return allocation

    def _take(self, block: Block, size: int, size_class: int) -> Allocation | None:
        """``size`` bytes of ``block``: a new slot of ``size_class`` where it is not 0."""
        offset = block.add_slots(size_class) if size_class else block.take(size, self.alignment)
        return None if offset is None else Allocation(block, offset, size, size_class)

    def _drop_empty(self, kind: str) -> None:
        """Let go of blocks nothing uses any more (their memory is freed with them), as
        a new block is made, which serves what comes next: an empty block that could
        not serve this range holds slots of other size classes only."""
        self._blocks[kind] = [b for b in self._blocks[kind] if not b.empty]

    def close(self) -> None:
        """Stop holding blocks; each is freed once the last range in it is collected."""
        with self._lock:
            for blocks in self._blocks.values():
                blocks.clear()
