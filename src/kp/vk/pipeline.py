"""Compute pipelines: shader module, descriptor set, layout and pipeline, made once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from .commands import GENERAL
from .core import NULL, C, Owned, check, ffi, lib, new
from .memory import Allocation

if TYPE_CHECKING:
    from .device import Device
    from .image import Image

DESCRIPTOR_TYPES = {"storage_buffer": C.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                    "storage_image": C.VK_DESCRIPTOR_TYPE_STORAGE_IMAGE}


class ComputePipeline(Owned):
    """Everything one dispatch binds: in set 0, binding i of kind ``kinds[i]``
    (``storage_buffer`` or ``storage_image``), a push-constant range of
    ``push_size`` bytes, specialisation constants given as (constant_id, bytes)
    pairs."""

    def __init__(self, device: "Device", spirv: bytes, kinds: Sequence[str], push_size: int,
                 spec_constants: Sequence[tuple[int, bytes]] = (), entry_point: str = "main"):
        binding_count = len(kinds)
        types = [DESCRIPTOR_TYPES[kind] for kind in kinds]
        self.device = device
        self.push_size = push_size
        self.bound: tuple[Any, ...] = ()  # the buffer ranges and images the descriptor set points at, held
        dev = device.handle
        # what _destroy_pipeline destroys (slots: see core.Owned)
        handles = {"module": new("VkShaderModule *"), "set_layout": new("VkDescriptorSetLayout *"),
                   "pool": new("VkDescriptorPool *"), "layout": new("VkPipelineLayout *"),
                   "pipeline": new("VkPipeline *")}
        self._own("VkPipeline", _destroy_pipeline, device, handles)
        code = ffi.from_buffer("uint32_t[]", spirv)
        check(lib.vkCreateShaderModule(dev, new("VkShaderModuleCreateInfo *", {
            "sType": C.VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, "codeSize": len(spirv), "pCode": code}),
            NULL, handles["module"]), "vkCreateShaderModule")

        bindings = new("VkDescriptorSetLayoutBinding[]", [
            {"binding": i, "descriptorType": type_, "descriptorCount": 1,
             "stageFlags": C.VK_SHADER_STAGE_COMPUTE_BIT} for i, type_ in enumerate(types)])
        check(lib.vkCreateDescriptorSetLayout(dev, new("VkDescriptorSetLayoutCreateInfo *", {
            "sType": C.VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, "bindingCount": binding_count,
            "pBindings": bindings}), NULL, handles["set_layout"]), "vkCreateDescriptorSetLayout")

        self.descriptor_set = NULL
        if binding_count:
            counts = {type_: types.count(type_) for type_ in types}
            sizes = new("VkDescriptorPoolSize[]", [{"type": type_, "descriptorCount": count}
                                                   for type_, count in counts.items()])
            check(lib.vkCreateDescriptorPool(dev, new("VkDescriptorPoolCreateInfo *", {
                "sType": C.VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, "maxSets": 1, "poolSizeCount": len(counts),
                "pPoolSizes": sizes}), NULL, handles["pool"]), "vkCreateDescriptorPool")
            layouts = new("VkDescriptorSetLayout[]", [handles["set_layout"][0]])
            sets = new("VkDescriptorSet *")
            check(lib.vkAllocateDescriptorSets(dev, new("VkDescriptorSetAllocateInfo *", {
                "sType": C.VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, "descriptorPool": handles["pool"][0],
                "descriptorSetCount": 1, "pSetLayouts": layouts}), sets), "vkAllocateDescriptorSets")
            self.descriptor_set = sets[0]

        layouts = new("VkDescriptorSetLayout[]", [handles["set_layout"][0]])
        ranges = new("VkPushConstantRange[]", [{"stageFlags": C.VK_SHADER_STAGE_COMPUTE_BIT, "offset": 0,
                                                "size": -(-push_size // 4) * 4}] if push_size else [])
        check(lib.vkCreatePipelineLayout(dev, new("VkPipelineLayoutCreateInfo *", {
            "sType": C.VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, "setLayoutCount": 1, "pSetLayouts": layouts,
            "pushConstantRangeCount": 1 if push_size else 0, "pPushConstantRanges": ranges}), NULL,
            handles["layout"]), "vkCreatePipelineLayout")
        self.layout = handles["layout"][0]

        data = b"".join(value for _, value in spec_constants)
        entries, offset = [], 0
        for constant_id, value in spec_constants:
            entries.append({"constantID": constant_id, "offset": offset, "size": len(value)})
            offset += len(value)
        spec_entries = new("VkSpecializationMapEntry[]", entries)
        spec_data = new("char[]", data or b"\0")
        spec = new("VkSpecializationInfo *", {"mapEntryCount": len(entries), "pMapEntries": spec_entries,
                                              "dataSize": len(data), "pData": spec_data})
        name = new("char[]", entry_point.encode())
        info = new("VkComputePipelineCreateInfo *", {
            "sType": C.VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
            "stage": {"sType": C.VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                      "stage": C.VK_SHADER_STAGE_COMPUTE_BIT, "module": handles["module"][0], "pName": name,
                      "pSpecializationInfo": spec if entries else NULL},
            "layout": self.layout})
        check(lib.vkCreateComputePipelines(dev, device.pipeline_cache, 1, info, NULL, handles["pipeline"]),
              "vkCreateComputePipelines")
        self.pipeline = handles["pipeline"][0]
        device.save_pipeline_cache()

    def bind(self, resources: Sequence["Allocation | Image"], sizes: Sequence[int]) -> None:
        """Point binding i of the descriptor set at the first ``sizes[i]`` bytes of
        the buffer range ``resources[i]`` (what a shader's ``.length()`` counts), or
        at the view of the image ``resources[i]`` (in the GENERAL layout)."""
        if not resources:
            return
        self.bound = tuple(resources)
        buffers = new("VkDescriptorBufferInfo[]", [
            {"buffer": r.buffer, "offset": r.offset, "range": size} if isinstance(r, Allocation) else {}
            for r, size in zip(resources, sizes)])
        images = new("VkDescriptorImageInfo[]", [
            {} if isinstance(r, Allocation) else {"imageView": r.view, "imageLayout": GENERAL} for r in resources])
        writes = new("VkWriteDescriptorSet[]", [
            {"sType": C.VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, "dstSet": self.descriptor_set, "dstBinding": i,
             "descriptorCount": 1,
             **({"descriptorType": C.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, "pBufferInfo": buffers + i}
                if isinstance(r, Allocation) else
                {"descriptorType": C.VK_DESCRIPTOR_TYPE_STORAGE_IMAGE, "pImageInfo": images + i})}
            for i, r in enumerate(resources)])
        lib.vkUpdateDescriptorSets(self.device.handle, len(resources), writes, 0, NULL)


def _destroy_pipeline(device: "Device", handles: dict[str, Any]) -> None:
    """Runs once the last submission that used the pipeline has finished."""
    dev = device.handle
    # each handle out of its slot, then destroyed (see core.Owned)
    pipeline, handles["pipeline"][0] = handles["pipeline"][0], NULL
    lib.vkDestroyPipeline(dev, pipeline, NULL)
    layout, handles["layout"][0] = handles["layout"][0], NULL
    lib.vkDestroyPipelineLayout(dev, layout, NULL)
    pool, handles["pool"][0] = handles["pool"][0], NULL
    lib.vkDestroyDescriptorPool(dev, pool, NULL)  # frees the set too
    set_layout, handles["set_layout"][0] = handles["set_layout"][0], NULL
    lib.vkDestroyDescriptorSetLayout(dev, set_layout, NULL)
    module, handles["module"][0] = handles["module"][0], NULL
    lib.vkDestroyShaderModule(dev, module, NULL)
