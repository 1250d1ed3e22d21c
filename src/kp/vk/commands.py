"""Command recording and submission: one command pool, command buffer, two fences
and (optionally) timestamp query pool per sequence, with the submit info built once.

Recording remembers the ``Life`` of everything the commands use (buffer ranges,
pipelines); each submission is a completion point (``Submission``) stamped on
all of them, so that their destruction waits for it and nothing retired is
ever submitted.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, TypeVar, cast

from ..errors import DestroyedError
from .core import NULL, RETIREMENTS, C, Life, Owned, check, ffi, generation, lib, new
from .memory import Allocation
from .settings import int_variable

if TYPE_CHECKING:
    from .device import Device, Queue
    from .image import Image
    from .pipeline import ComputePipeline

COMPUTE: int = C.VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT
TRANSFER: int = C.VK_PIPELINE_STAGE_TRANSFER_BIT
HOST: int = C.VK_PIPELINE_STAGE_HOST_BIT
ALL_COMMANDS: int = C.VK_PIPELINE_STAGE_ALL_COMMANDS_BIT
WRITES: int = C.VK_ACCESS_SHADER_WRITE_BIT | C.VK_ACCESS_TRANSFER_WRITE_BIT
READS_WRITES: int = (C.VK_ACCESS_SHADER_READ_BIT | C.VK_ACCESS_SHADER_WRITE_BIT | C.VK_ACCESS_TRANSFER_READ_BIT
                | C.VK_ACCESS_TRANSFER_WRITE_BIT)
HOST_READ: int = C.VK_ACCESS_HOST_READ_BIT
# Images stay in this layout (see ``image``); one mip level, one layer, colour.
GENERAL: int = C.VK_IMAGE_LAYOUT_GENERAL
TRANSFER_SRC_LAYOUT: int = C.VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL
TRANSFER_DST_LAYOUT: int = C.VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL
COLOR_RANGE: dict[str, int] = {"aspectMask": C.VK_IMAGE_ASPECT_COLOR_BIT, "baseMipLevel": 0, "levelCount": 1,
                               "baseArrayLayer": 0, "layerCount": 1}
COLOR_LAYERS: dict[str, int] = {"aspectMask": C.VK_IMAGE_ASPECT_COLOR_BIT, "mipLevel": 0, "baseArrayLayer": 0,
                                "layerCount": 1}

# How long a wait spins on the fence before it blocks in the driver: a blocking
# wait costs a thread wake-up (tens of microseconds), which dominates short work.
SPIN_NS = int_variable("KP_SPIN_NS", 200_000, "nanoseconds a wait spins before it blocks")

_R = TypeVar("_R")
_NOT_READY: int = C.VK_NOT_READY
_TIMEOUT: int = C.VK_TIMEOUT
# A blocking wait returns this often: signal handlers (Ctrl-C) run between slices, and
# a poller of the same fence waits at most this long for it.
_WAIT_SLICE_NS = 5_000_000


class Timeline:
    """The numbered submissions of one command buffer, with their fences (by the
    serial's parity) and, on devices with several queues, its timeline semaphore.
    Completion points refer to this small object, not to the commands, so they keep
    no command pool alive.

    ``completed`` is the one truth about work in flight: every wait and poll reads
    it first and raises it when a fence says a submission finished. A waiter counts
    itself in ``waiting`` (under ``fence_lock``) while it reads a fence, and the fence
    is reset or destroyed only under that lock with nobody counted, so no fence
    changes under a waiter, and no lock is held while one waits. Waits block in
    short slices, so that signal handlers (Ctrl-C) run meanwhile."""

    __slots__ = ("device", "queue", "fences", "semaphore", "submitted", "completed", "unreset", "unsettled",
                 "fence_lock", "waiting", "generation", "_status", "_wait", "_reset", "_dev")

    def __init__(self, device: "Device", queue: "Queue", fences: Any, semaphore: Any):
        self.device: Any = device  # None once closed
        self.queue = queue
        self.fences = fences  # VkFence[2]: submission n signals fences[n & 1]
        self.semaphore = semaphore
        self.submitted = 0
        self.completed = 0  # the last submission known to be finished
        self.unreset = 0  # a finished submission whose fence is still to be reset
        self.unsettled = 0  # a submission an exception may have cut short (see settle)
        self.fence_lock = threading.Lock()
        self.waiting = [0, 0]  # threads reading each fence
        self.generation = generation()  # a forked child's waits for its parent's submissions are refused
        self._status, self._wait, self._reset = device.fn.vkGetFenceStatus, device.fn.vkWaitForFences, \
            device.fn.vkResetFences
        self._dev = device.handle

    def poll(self, serial: int) -> bool:
        """Whether submission ``serial`` has finished, asking its fence (no wait)."""
        return self.completed >= serial or self.wait(serial, 0)

    def wait(self, serial: int, timeout_ns: int | None = None) -> bool:
        """Wait until submission ``serial`` finishes, spinning on its fence for up to
        ``SPIN_NS`` before blocking; False when ``timeout_ns`` expired first."""
        if self.completed >= serial:
            return True
        if self.generation != generation():
            # the parent's fences: no thread of this process will ever signal them
            raise DestroyedError("the submission was made in the parent process before os.fork(): a forked "
                                 "child cannot wait for it (make a new kp.Manager in the child)")
        if self.unsettled:
            self.settle()
            return self.completed >= serial
        parity = serial & 1
        waiting = self.waiting
        counted = done = False
        try:
            with self.fence_lock:  # ``with``: no signal handler runs between taking and releasing it
                if self.completed >= serial:
                    return True
                waiting[parity] += 1
                counted = True  # no signal handler runs between these two lines either
            done = self._wait_counted(self.fences + parity, timeout_ns)
        finally:
            if counted:
                with self.fence_lock:
                    waiting[parity] -= 1
                    if done and self.completed < serial:
                        self.completed = serial
        return bool(done) or self.completed >= serial

    def _wait_counted(self, fence: Any, timeout_ns: int | None) -> bool:
        status_of, dev = self._status, self._dev
        status = status_of(dev, fence[0])
        if status == _NOT_READY and timeout_ns != 0:
            clock = time.perf_counter_ns
            start = clock()
            spin = SPIN_NS if timeout_ns is None else min(SPIN_NS, timeout_ns)
            while (status := status_of(dev, fence[0])) == _NOT_READY and clock() - start < spin:
                pass
            while status in (_NOT_READY, _TIMEOUT):
                elapsed = clock() - start
                if timeout_ns is not None and elapsed >= timeout_ns:
                    return False
                left = _WAIT_SLICE_NS if timeout_ns is None else min(_WAIT_SLICE_NS, timeout_ns - elapsed)
                status = self._wait(dev, 1, fence, 1, left)
        if status not in (C.VK_SUCCESS, _NOT_READY, _TIMEOUT):
            check(status, "waiting for a submission")
        return bool(status == C.VK_SUCCESS)

    def quietly(self, parities: tuple[int, ...], action: Callable[[], _R]) -> _R:
        """``action()`` under ``fence_lock`` once nobody reads the fences of these
        parities (fences of finished submissions: their readers leave at once), for
        resetting or destroying them."""
        while True:
            with self.fence_lock:
                if not any(self.waiting[p] for p in parities):
                    return action()
            time.sleep(0)

    def reset(self) -> None:
        """Make the fence of the finished submission ``unreset`` ready for its next use."""
        serial = self.unreset
        if not serial:
            return
        parity = serial & 1
        fence = self.fences + parity
        with self.fence_lock:
            result = None if self.waiting[parity] else self._reset(self._dev, 1, fence)
        if result is None:  # a reader of the finished fence is still leaving
            result = self.quietly((parity,), lambda: self._reset(self._dev, 1, fence))
        self.unreset = 0
        if result:
            check(result, "vkResetFences")

    def close(self) -> None:
        """The commands are destroyed, after their last submission finished: nothing is
        asked of the device any more, and a destroyed sequence that keeps this (for
        ``eval_await``) no longer holds the device."""
        self.completed = self.submitted
        self.device = None

    def settle(self) -> None:
        """After a submission was interrupted or failed at an unknown point (it may or
        may not have reached the queue): wait until the device is idle, so that
        everything submitted is finished either way. The exceptional path only, also
        taken by the next wait or submission if an exception cut this one short."""
        with self.device.lock:  # a submission in progress holds it, and ends settled
            if not self.unsettled:
                return
            lib.vkDeviceWaitIdle(self._dev)  # its result is the device's state, which later calls report
            with self.fence_lock:
                self.completed = max(self.completed, self.submitted)
            self.unsettled = 0


class Submission:
    """A completion point: submission number ``serial`` of a ``Timeline``."""

    __slots__ = ("timeline", "serial")

    def __init__(self, timeline: Timeline, serial: int):
        self.timeline = timeline
        self.serial = serial

    def done(self) -> bool:
        """Whether the GPU has finished it (no wait)."""
        return self.timeline.completed >= self.serial or self.timeline.poll(self.serial)

    def wait(self, timeout_ns: int | None = None) -> bool:
        """Wait for it (no lock of kp's held meanwhile); False when ``timeout_ns`` expired."""
        return self.timeline.completed >= self.serial or self.timeline.wait(self.serial, timeout_ns)


class Commands(Owned):
    """What a sequence records into and submits."""

    def __init__(self, device: "Device", queue: "Queue", timestamps: int = 0):
        self.device = device
        self.queue = queue
        dev = device.handle
        # what _destroy_commands destroys (slots: see core.Owned)
        self._fences = fences = new("VkFence[]", 2)
        pool, queries, semaphore_out = new("VkCommandPool *"), new("VkQueryPool *"), new("VkSemaphore *")
        handles = {"pool": pool, "fences": fences, "queries": queries, "semaphore": semaphore_out, "timeline": None}
        self._own("VkCommandPool", _destroy_commands, device, handles)
        check(lib.vkCreateCommandPool(dev, new("VkCommandPoolCreateInfo *", {
            "sType": C.VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, "queueFamilyIndex": queue.family,
            "flags": C.VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT}), NULL, pool), "vkCreateCommandPool")
        self._buffers = new("VkCommandBuffer[]", 1)
        check(lib.vkAllocateCommandBuffers(dev, new("VkCommandBufferAllocateInfo *", {
            "sType": C.VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, "commandPool": pool[0],
            "level": C.VK_COMMAND_BUFFER_LEVEL_PRIMARY, "commandBufferCount": 1}), self._buffers),
            "vkAllocateCommandBuffers")
        self.cmd = self._buffers[0]
        # Submissions alternate between two fences: the one the last submission
        # left signaled is reset while the GPU runs the next, not after it.
        fence_info = new("VkFenceCreateInfo *", {"sType": C.VK_STRUCTURE_TYPE_FENCE_CREATE_INFO})
        for i in range(2):
            check(lib.vkCreateFence(dev, fence_info, NULL, fences + i), "vkCreateFence")
        self.query_count = timestamps + 1 if timestamps else 0
        if timestamps:
            check(lib.vkCreateQueryPool(dev, new("VkQueryPoolCreateInfo *", {
                "sType": C.VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO, "queryType": C.VK_QUERY_TYPE_TIMESTAMP,
                "queryCount": self.query_count}), NULL, queries), "vkCreateQueryPool")
            self.queries = queries[0]
        self._submit_info = new("VkSubmitInfo *", {"sType": C.VK_STRUCTURE_TYPE_SUBMIT_INFO,
                                                   "commandBufferCount": 1, "pCommandBuffers": self._buffers})
        # What the recorded commands use, in order: each thing's Life, and the thing,
        # which the recording owns until it is reset or re-recorded.
        self.uses: dict[Life, Any] = {}
        self._checked = -1  # RETIREMENTS.count when ``uses`` was last checked
        # Submissions are numbered; each signals its number on a timeline semaphore,
        # which submissions on other queues wait for when they use the same buffers.
        semaphore = NULL
        # Only devices with several queues need it (destroying one right after its
        # wait also hung lavapipe's queue thread now and then).
        if device.features.get("timelineSemaphore") and len(device.queues) > 1:
            type_info = new("VkSemaphoreTypeCreateInfo *", {"sType": C.VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                                            "semaphoreType": C.VK_SEMAPHORE_TYPE_TIMELINE})
            check(lib.vkCreateSemaphore(dev, new("VkSemaphoreCreateInfo *", {
                "sType": C.VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, "pNext": type_info}), NULL, semaphore_out),
                "vkCreateSemaphore")
            semaphore = semaphore_out[0]
            self._signal = new("VkSemaphore[]", [semaphore])
            self._signal_value = new("uint64_t[]", 1)
            self._timeline_info = new("VkTimelineSemaphoreSubmitInfo *", {
                "sType": C.VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO, "signalSemaphoreValueCount": 1,
                "pSignalSemaphoreValues": self._signal_value})
            info = self._submit_info
            info.pNext = self._timeline_info
            info.signalSemaphoreCount, info.pSignalSemaphores = 1, self._signal
        self.timeline = handles["timeline"] = Timeline(device, queue, fences, semaphore)
        # what submit() asks each time, as plain bools
        self._several_queues, self._signals = len(device.queues) > 1, semaphore != NULL
        self._queue_submit, self._queue_handle = device.fn.vkQueueSubmit, queue.handle
        self._begin_info = new("VkCommandBufferBeginInfo *", {"sType": C.VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO})
        self._barrier = new("VkMemoryBarrier *", {"sType": C.VK_STRUCTURE_TYPE_MEMORY_BARRIER})
        self.timestamps_written = 0
        self.barriers_recorded = 0  # pipeline barriers in the current recording

    # -- recording -----------------------------------------------------------------
    def begin(self) -> None:
        check(lib.vkBeginCommandBuffer(self.cmd, self._begin_info), "vkBeginCommandBuffer")
        self.uses = {}
        self._checked = -1
        self.timestamps_written = 0
        self.barriers_recorded = 0
        self._submitted_before_begin = self.timeline.submitted
        if self.query_count:
            lib.vkCmdResetQueryPool(self.cmd, self.queries, 0, self.query_count)

    def reset(self) -> None:
        """Discard what was recorded (also a buffer that something destroyed invalidated)."""
        check(lib.vkResetCommandBuffer(self.cmd, 0), "vkResetCommandBuffer")
        self.uses = {}

    def use(self, things: Iterable[Any]) -> None:
        """Note that the recorded commands use these (objects with a ``life``: buffer
        ranges, images, pipelines): the recording holds them, and each submission
        checks and stamps them."""
        uses = self.uses
        for thing in things:
            uses[thing.life] = thing

    def check_uses(self) -> None:
        """Raise DestroyedError if anything the recording uses was destroyed since
        it was recorded. Call with ``device.lock`` held, before adding commands or
        submitting: destroy() retires under the same lock."""
        if self.life.retired:
            raise DestroyedError("the sequence was destroyed")
        serial = RETIREMENTS.count
        if serial == self._checked:
            return
        for life in self.uses:
            if life.retired:
                raise DestroyedError(f"the recorded commands use a {life.kind or 'buffer'} that was destroyed")
        self._checked = serial

    def end(self) -> None:
        check(lib.vkEndCommandBuffer(self.cmd), "vkEndCommandBuffer")

    def barrier(self, src_stage: int, dst_stage: int, src_access: int, dst_access: int,
                ranges: "Sequence[Allocation | Image] | None" = None,
                transitions: "Sequence[tuple[Image, int, int, int, int]]" = ()) -> None:
        """A pipeline barrier: a global memory barrier, or one buffer or image barrier
        per buffer range or image of ``ranges``; without access masks, an execution
        dependency only. ``transitions`` adds layout transitions of images, as
        (image, old layout, new layout, source access, destination access)."""
        self.barriers_recorded += 1
        if transitions:
            self.use(t[0] for t in transitions)
            image_barriers = new("VkImageMemoryBarrier[]", [{
                "sType": C.VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER, "srcAccessMask": old_access,
                "dstAccessMask": new_access, "oldLayout": old, "newLayout": layout,
                "srcQueueFamilyIndex": C.VK_QUEUE_FAMILY_IGNORED, "dstQueueFamilyIndex": C.VK_QUEUE_FAMILY_IGNORED,
                "image": image.handle, "subresourceRange": COLOR_RANGE}
                for image, old, layout, old_access, new_access in transitions])
            memory = self._barrier
            memory.srcAccessMask, memory.dstAccessMask = src_access, dst_access
            global_count = 1 if src_access or dst_access else 0
            lib.vkCmdPipelineBarrier(self.cmd, src_stage, dst_stage, 0, global_count, memory if global_count else NULL,
                                     0, NULL, len(transitions), image_barriers)
        elif ranges is not None:
            self.use(ranges)
            buffers = [a for a in ranges if isinstance(a, Allocation)]
            images = [a for a in ranges if not isinstance(a, Allocation)]
            common = {"srcAccessMask": src_access, "dstAccessMask": dst_access,
                      "srcQueueFamilyIndex": C.VK_QUEUE_FAMILY_IGNORED,
                      "dstQueueFamilyIndex": C.VK_QUEUE_FAMILY_IGNORED}
            buffer_barriers = new("VkBufferMemoryBarrier[]", [{
                "sType": C.VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER, **common, "buffer": a.buffer, "offset": a.offset,
                "size": a.size} for a in buffers])
            image_barriers = new("VkImageMemoryBarrier[]", [{
                "sType": C.VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER, **common, "oldLayout": GENERAL,
                "newLayout": GENERAL, "image": i.handle, "subresourceRange": COLOR_RANGE} for i in images])
            lib.vkCmdPipelineBarrier(self.cmd, src_stage, dst_stage, 0, 0, NULL, len(buffers), buffer_barriers,
                                     len(images), image_barriers)
        elif src_access or dst_access:
            b = self._barrier
            b.srcAccessMask, b.dstAccessMask = src_access, dst_access
            lib.vkCmdPipelineBarrier(self.cmd, src_stage, dst_stage, 0, 1, b, 0, NULL, 0, NULL)
        else:
            lib.vkCmdPipelineBarrier(self.cmd, src_stage, dst_stage, 0, 0, NULL, 0, NULL, 0, NULL)

    def copy(self, src: "Allocation | Image", dst: "Allocation | Image", size: int) -> None:
        """Copy ``size`` bytes between buffer ranges, or a whole image to or from a
        buffer range (tightly packed texels) or an image of the same extent; images
        in the transfer layouts (``kp.hazards`` moves them there)."""
        self.use((src, dst))
        cmd = self.cmd
        if isinstance(src, Allocation) and isinstance(dst, Allocation):
            region = new("VkBufferCopy *", {"srcOffset": src.offset, "dstOffset": dst.offset, "size": size})
            lib.vkCmdCopyBuffer(cmd, src.buffer, dst.buffer, 1, region)
        elif isinstance(src, Allocation):
            image = cast("Image", dst)  # not both buffer ranges
            lib.vkCmdCopyBufferToImage(cmd, src.buffer, image.handle, TRANSFER_DST_LAYOUT, 1,
                                       _buffer_image_copy(src, image))
        elif isinstance(dst, Allocation):
            lib.vkCmdCopyImageToBuffer(cmd, src.handle, TRANSFER_SRC_LAYOUT, dst.buffer, 1,
                                       _buffer_image_copy(dst, src))
        else:
            region = new("VkImageCopy *", {"srcSubresource": COLOR_LAYERS, "dstSubresource": COLOR_LAYERS,
                                           "extent": src.extent})
            lib.vkCmdCopyImage(cmd, src.handle, TRANSFER_SRC_LAYOUT, dst.handle, TRANSFER_DST_LAYOUT, 1, region)

    def dispatch(self, pipeline: "ComputePipeline", push: bytes, groups: tuple[int, int, int]) -> None:
        self.use((pipeline, *pipeline.bound))
        lib.vkCmdBindPipeline(self.cmd, C.VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline)
        if pipeline.descriptor_set != NULL:
            sets = new("VkDescriptorSet[]", [pipeline.descriptor_set])
            lib.vkCmdBindDescriptorSets(self.cmd, C.VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout, 0, 1, sets,
                                        0, NULL)
        if push:
            padded = push + b"\0" * (-len(push) % 4)
            lib.vkCmdPushConstants(self.cmd, pipeline.layout, C.VK_SHADER_STAGE_COMPUTE_BIT, 0, len(padded),
                                   ffi.from_buffer(padded))
        lib.vkCmdDispatch(self.cmd, *groups)

    def timestamp(self) -> None:
        if self.timestamps_written < self.query_count:
            lib.vkCmdWriteTimestamp(self.cmd, C.VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, self.queries,
                                    self.timestamps_written)
            self.timestamps_written += 1

    # -- submission (the hot path: no allocation, a handful of calls) ------------------
    def submit(self) -> Submission:
        """Submit the command buffer, after the unfinished submissions of other
        queues that use the same buffers; returns this submission's completion
        point, stamped on everything it uses. Raises DestroyedError (submitting
        nothing) if something it uses was destroyed. The previous submission must
        have finished (``Submission.wait``).

        The bookkeeping comes before the call: an exception anywhere in between (a
        signal handler's, such as Ctrl-C's KeyboardInterrupt) leaves a submission
        that is either tracked or settled, never lost."""
        timeline = self.timeline
        with self.device.lock:  # ``with``: a signal handler cannot come between taking it and the try
            if self.life.retired or RETIREMENTS.count != self._checked:
                self.check_uses()
            if timeline.unsettled:
                timeline.settle()
            serial = timeline.submitted + 1
            if timeline.unreset:  # an exception came between the last submission and its reset
                timeline.reset()
            keep = None
            if self._several_queues:
                keep = self._wait_for_other_queues()
                if self._signals:
                    self._signal_value[0] = serial
            submission = Submission(timeline, serial)
            try:
                # First the number, which settle() reads, then the stamps, then the call.
                timeline.unsettled = timeline.submitted = serial
                timeline.unreset = serial - 1  # its fence is the next one's, submitted or not
                self.life.last_use = submission
                for life in self.uses:
                    life.last_use = submission
                result = self._queue_submit(self._queue_handle, 1, self._submit_info, timeline.fences[serial & 1])
                if result:
                    timeline.settle()
                    check(result, "vkQueueSubmit")
                timeline.unsettled = 0
            except BaseException:
                if timeline.unsettled:
                    timeline.settle()
                raise
            finally:
                if keep is not None:
                    info = self._submit_info
                    info.waitSemaphoreCount = self._timeline_info.waitSemaphoreValueCount = 0
        timeline.reset()  # the previous submission's fence (finished), while the GPU works
        return submission

    def _wait_for_other_queues(self) -> list[Any] | None:
        """Make the next submission wait for the unfinished submissions of other
        queues that used what it uses; returns what must stay alive until it is
        submitted (None when nothing needs a semaphore)."""
        pending: dict[Timeline, int] = {}
        for life in self.uses:
            last = life.last_use
            if last is not None and last.timeline.queue is not self.queue and not last.done():
                pending[last.timeline] = max(pending.get(last.timeline, 0), last.serial)
        if not pending:
            return None
        if self.timeline.semaphore == NULL or any(t.semaphore == NULL for t in pending):
            for timeline, serial in pending.items():  # no timeline semaphores: wait on the host
                timeline.wait(serial)
            return None
        semaphores = new("VkSemaphore[]", [t.semaphore for t in pending])
        values = new("uint64_t[]", list(pending.values()))
        stages = new("VkPipelineStageFlags[]", [ALL_COMMANDS] * len(pending))
        info, timeline = self._submit_info, self._timeline_info
        info.waitSemaphoreCount = timeline.waitSemaphoreValueCount = len(pending)
        info.pWaitSemaphores, info.pWaitDstStageMask, timeline.pWaitSemaphoreValues = semaphores, stages, values
        return [semaphores, values, stages]

    def read_timestamps(self) -> list[int]:
        """The timestamps the last submission of the recorded commands wrote, or []
        where they are not all written. Never waits: a query of a recording that was
        not submitted stays unwritten, and waiting for it blocks for ever (NVIDIA)."""
        count = self.timestamps_written
        if not count or self.timeline.submitted == self._submitted_before_begin:
            return []
        data = new("uint64_t[]", count)
        result = lib.vkGetQueryPoolResults(self.device.handle, self.queries, 0, count, 8 * count, data, 8,
                                           C.VK_QUERY_RESULT_64_BIT)
        if check(result, "vkGetQueryPoolResults") == _NOT_READY:
            return []
        return list(data)


def _buffer_image_copy(buffer: Allocation, image: "Image") -> Any:
    return new("VkBufferImageCopy *", {"bufferOffset": buffer.offset, "imageSubresource": COLOR_LAYERS,
                                       "imageExtent": image.extent})


def _destroy_commands(device: "Device", handles: dict[str, Any]) -> None:
    """Runs once the last submission has finished (see ``core.drain``); under the
    device lock, since a submission on another queue may be about to wait on the
    semaphore."""
    dev = device.handle

    def destroy_fences() -> None:
        fences = handles["fences"]
        for i in range(2):
            fence, fences[i] = fences[i], NULL  # (see core.Owned)
            lib.vkDestroyFence(dev, fence, NULL)

    with device.lock:
        timeline = handles["timeline"]
        if timeline is None:  # made no submission: its construction stopped before the timeline
            destroy_fences()
        else:
            timeline.quietly((0, 1), destroy_fences)
            timeline.close()
        semaphore, handles["semaphore"][0] = handles["semaphore"][0], NULL
        lib.vkDestroySemaphore(dev, semaphore, NULL)
        queries, handles["queries"][0] = handles["queries"][0], NULL
        lib.vkDestroyQueryPool(dev, queries, NULL)
        pool, handles["pool"][0] = handles["pool"][0], NULL
        lib.vkDestroyCommandPool(dev, pool, NULL)
