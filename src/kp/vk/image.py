"""Images: a 2-D VkImage (one mip level, one layer) with its own memory and a view
for storage-image descriptors.

Between submissions an image is in the GENERAL layout (valid for shader storage
access, transfers and the host): its first transition, out of the creation
layout, is submitted and waited for when the image is made, and every command
buffer that moves it to a transfer layout moves it back before it ends
(``kp.hazards``). So no recording depends on the layout another recording,
evaluated in any order, left behind.

An optimal-tiling image is device memory only; a linear one (host-visible) is
mapped, and offered to the host only where its rows are tightly packed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgumentError
from .commands import COLOR_RANGE, GENERAL, Commands
from .core import NULL, C, Owned, check, ffi, lib, new

if TYPE_CHECKING:
    from .device import Device
    from .memory import Allocator

USAGE = C.VK_IMAGE_USAGE_STORAGE_BIT | C.VK_IMAGE_USAGE_TRANSFER_SRC_BIT | C.VK_IMAGE_USAGE_TRANSFER_DST_BIT
_SUFFIX = {"float": "SFLOAT", "int": "SINT", "uint": "UINT"}


def image_format(kind: str, bits: int, channels: int) -> int | None:
    """The Vulkan format of ``channels`` components of ``kind`` (float, int, uint)
    and ``bits`` each (``VK_FORMAT_R32G32B32A32_SFLOAT`` for float, 32, 4), None
    where Vulkan has none."""
    name = "VK_FORMAT_" + "".join(f"{c}{bits}" for c in "RGBA"[:channels]) + "_" + _SUFFIX.get(kind, "")
    return getattr(C, name, None)


class Image(Owned):
    """A ``width`` x ``height`` image of ``format`` (``texel_size`` bytes a texel) in
    memory of ``kind`` (``device``, ``host`` or ``device_host``; the last two are
    linear and mapped: ``host_buffer()``), with a view, in the GENERAL layout.
    ``what`` names the image in errors."""

    def __init__(self, device: "Device", allocator: "Allocator", width: int, height: int, format: int,
                 texel_size: int, kind: str, what: str):
        self.device = device
        self.width, self.height, self.format = width, height, format
        self.size = width * height * texel_size
        self.linear = kind != "device"
        self.pointer = NULL
        name = device.physical.properties["device_name"]
        tiling = C.VK_IMAGE_TILING_LINEAR if self.linear else C.VK_IMAGE_TILING_OPTIMAL
        limits = new("VkImageFormatProperties *")
        result = lib.vkGetPhysicalDeviceImageFormatProperties(device.physical.handle, format, C.VK_IMAGE_TYPE_2D,
                                                              tiling, USAGE, 0, limits)
        if result == C.VK_ERROR_FORMAT_NOT_SUPPORTED:
            raise InvalidArgumentError(f"{name} does not support {what} as a {'linear' if self.linear else 'optimal'}"
                                       f" storage image; use another memory type or format")
        check(result, "vkGetPhysicalDeviceImageFormatProperties")
        if width > limits.maxExtent.width or height > limits.maxExtent.height:
            raise InvalidArgumentError(f"{what} of {width} x {height} exceeds {name}'s largest such image, "
                                       f"{limits.maxExtent.width} x {limits.maxExtent.height}")
        dev = device.handle
        # what _destroy_image destroys (slots: see core.Owned)
        handles = {"image": new("VkImage *"), "view": new("VkImageView *"), "memory": new("VkDeviceMemory *")}
        self._own("VkImage", _destroy_image, device, handles)
        families = new("uint32_t[]", device.queue_families)
        info = new("VkImageCreateInfo *", {
            "sType": C.VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO, "imageType": C.VK_IMAGE_TYPE_2D, "format": format,
            "extent": {"width": width, "height": height, "depth": 1}, "mipLevels": 1, "arrayLayers": 1,
            "samples": C.VK_SAMPLE_COUNT_1_BIT, "tiling": tiling, "usage": USAGE,
            "sharingMode": C.VK_SHARING_MODE_EXCLUSIVE,
            # host-written texels of a linear image survive only the PREINITIALIZED layout
            "initialLayout": C.VK_IMAGE_LAYOUT_PREINITIALIZED if self.linear else C.VK_IMAGE_LAYOUT_UNDEFINED})
        if len(device.queue_families) > 1:
            # as the memory blocks: used from queues of several families without ownership transfers
            info.sharingMode = C.VK_SHARING_MODE_CONCURRENT
            info.queueFamilyIndexCount, info.pQueueFamilyIndices = len(device.queue_families), families
        check(lib.vkCreateImage(dev, info, NULL, handles["image"]), "vkCreateImage")
        self.handle = handles["image"][0]
        self.offset = 0
        if self.linear:
            layout = new("VkSubresourceLayout *")
            lib.vkGetImageSubresourceLayout(dev, self.handle, new("VkImageSubresource *", {
                "aspectMask": C.VK_IMAGE_ASPECT_COLOR_BIT}), layout)
            if height > 1 and layout.rowPitch != width * texel_size:
                raise InvalidArgumentError(
                    f"{name} lays out a host-visible {what} with rows of {layout.rowPitch} bytes, not the "
                    f"{width * texel_size} its data() would need to be one flat array: use memory_type=device "
                    f"(or storage), or a width that makes each row a multiple of {layout.rowPitch} bytes")
            self.offset = layout.offset
        req = new("VkMemoryRequirements *")
        lib.vkGetImageMemoryRequirements(dev, self.handle, req)
        memory_type = allocator.memory_type(kind, req.memoryTypeBits)
        if memory_type is None:
            raise InvalidArgumentError(f"{name} has no {kind.replace('_', '-')} memory for {what}")
        mem = handles["memory"]
        check(lib.vkAllocateMemory(dev, new("VkMemoryAllocateInfo *", {
            "sType": C.VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, "allocationSize": req.size,
            "memoryTypeIndex": memory_type}), NULL, mem), f"allocating {req.size} bytes for {what}")
        check(lib.vkBindImageMemory(dev, self.handle, mem[0], 0), "vkBindImageMemory")
        if self.linear:
            ptr = new("void **")
            check(lib.vkMapMemory(dev, mem[0], 0, req.size, 0, ptr), "vkMapMemory")
            self.pointer = ffi.cast("char *", ptr[0])
        check(lib.vkCreateImageView(dev, new("VkImageViewCreateInfo *", {
            "sType": C.VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO, "image": self.handle,
            "viewType": C.VK_IMAGE_VIEW_TYPE_2D, "format": format, "subresourceRange": COLOR_RANGE}),
            NULL, handles["view"]), "vkCreateImageView")
        self.view = handles["view"][0]

    @property
    def extent(self) -> dict[str, int]:
        return {"width": self.width, "height": self.height, "depth": 1}

    def host_buffer(self) -> Any:
        """A writable Python buffer over the mapped texels (linear images only)."""
        return ffi.buffer(self.pointer + self.offset, self.size)

    def to_general(self) -> None:
        """Move the new image to the GENERAL layout it keeps, on the device's first
        queue, and wait (once, at creation: every later use finds it there)."""
        commands = Commands(self.device, self.device.queues[0])
        commands.begin()
        commands.use((self,))
        barrier = new("VkImageMemoryBarrier *", {
            "sType": C.VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER, "srcAccessMask": C.VK_ACCESS_HOST_WRITE_BIT,
            "dstAccessMask": C.VK_ACCESS_MEMORY_READ_BIT | C.VK_ACCESS_MEMORY_WRITE_BIT,
            "oldLayout": C.VK_IMAGE_LAYOUT_PREINITIALIZED if self.linear else C.VK_IMAGE_LAYOUT_UNDEFINED,
            "newLayout": GENERAL, "srcQueueFamilyIndex": C.VK_QUEUE_FAMILY_IGNORED,
            "dstQueueFamilyIndex": C.VK_QUEUE_FAMILY_IGNORED, "image": self.handle,
            "subresourceRange": COLOR_RANGE})
        lib.vkCmdPipelineBarrier(commands.cmd, C.VK_PIPELINE_STAGE_HOST_BIT, C.VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                                 0, 0, NULL, 0, NULL, 1, barrier)
        commands.end()
        commands.submit().wait()
        commands.release()


def _destroy_image(device: "Device", handles: dict[str, Any]) -> None:
    """Runs once the last submission that used the image has finished."""
    dev = device.handle
    # each handle out of its slot, then destroyed (see core.Owned)
    view, handles["view"][0] = handles["view"][0], NULL
    lib.vkDestroyImageView(dev, view, NULL)
    image, handles["image"][0] = handles["image"][0], NULL
    lib.vkDestroyImage(dev, image, NULL)
    memory, handles["memory"][0] = handles["memory"][0], NULL
    lib.vkFreeMemory(dev, memory, NULL)  # also unmaps
