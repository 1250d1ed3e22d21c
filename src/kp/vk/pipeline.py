"""Compute pipelines: shader module, descriptor set, layout and pipeline, made once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from .core import NULL, C, Owned, check, ffi, lib, new

if TYPE_CHECKING:
    from .device import Device
    from .memory import Allocation


class ComputePipeline(Owned):
    """Everything one dispatch binds: ``binding_count`` storage buffers in set 0, a
    push-constant range of ``push_size`` bytes, specialisation constants given as
    (constant_id, bytes) pairs."""

    def __init__(self, device: "Device", spirv: bytes, binding_count: int, push_size: int,
                 spec_constants: Sequence[tuple[int, bytes]] = (), entry_point: str = "main"):
        self.device = device
        self.push_size = push_size
        self.bound: tuple = ()  # the Lives of the buffer ranges the descriptor set points at
        dev = device.handle
        handles = {"module": NULL, "set_layout": NULL, "pool": NULL, "layout": NULL, "pipeline": NULL}
        self._own("VkPipeline", _destroy_pipeline, device, handles)
        code = ffi.from_buffer("uint32_t[]", spirv)
        out = new("VkShaderModule *")
        check(lib.vkCreateShaderModule(dev, new("VkShaderModuleCreateInfo *", {
            "sType": C.VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, "codeSize": len(spirv), "pCode": code}),
            NULL, out), "vkCreateShaderModule")
        handles["module"] = out[0]

        bindings = new("VkDescriptorSetLayoutBinding[]", [
            {"binding": i, "descriptorType": C.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, "descriptorCount": 1,
             "stageFlags": C.VK_SHADER_STAGE_COMPUTE_BIT} for i in range(binding_count)])
        out = new("VkDescriptorSetLayout *")
        check(lib.vkCreateDescriptorSetLayout(dev, new("VkDescriptorSetLayoutCreateInfo *", {
            "sType": C.VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, "bindingCount": binding_count,
            "pBindings": bindings}), NULL, out), "vkCreateDescriptorSetLayout")
        handles["set_layout"] = out[0]

        self.descriptor_set = NULL
        if binding_count:
            sizes = new("VkDescriptorPoolSize[]", [{"type": C.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                    "descriptorCount": binding_count}])
            out = new("VkDescriptorPool *")
            check(lib.vkCreateDescriptorPool(dev, new("VkDescriptorPoolCreateInfo *", {
                "sType": C.VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, "maxSets": 1, "poolSizeCount": 1,
                "pPoolSizes": sizes}), NULL, out), "vkCreateDescriptorPool")
            handles["pool"] = out[0]
            layouts = new("VkDescriptorSetLayout[]", [handles["set_layout"]])
            sets = new("VkDescriptorSet *")
            check(lib.vkAllocateDescriptorSets(dev, new("VkDescriptorSetAllocateInfo *", {
                "sType": C.VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, "descriptorPool": handles["pool"],
                "descriptorSetCount": 1, "pSetLayouts": layouts}), sets), "vkAllocateDescriptorSets")
            self.descriptor_set = sets[0]

        layouts = new("VkDescriptorSetLayout[]", [handles["set_layout"]])
        ranges = new("VkPushConstantRange[]", [{"stageFlags": C.VK_SHADER_STAGE_COMPUTE_BIT, "offset": 0,
                                                "size": -(-push_size // 4) * 4}] if push_size else [])
        out = new("VkPipelineLayout *")
        check(lib.vkCreatePipelineLayout(dev, new("VkPipelineLayoutCreateInfo *", {
            "sType": C.VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, "setLayoutCount": 1, "pSetLayouts": layouts,
            "pushConstantRangeCount": 1 if push_size else 0, "pPushConstantRanges": ranges}), NULL, out),
            "vkCreatePipelineLayout")
        handles["layout"] = out[0]
        self.layout = out[0]

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
                      "stage": C.VK_SHADER_STAGE_COMPUTE_BIT, "module": handles["module"], "pName": name,
                      "pSpecializationInfo": spec if entries else NULL},
            "layout": handles["layout"]})
        out = new("VkPipeline *")
        check(lib.vkCreateComputePipelines(dev, device.pipeline_cache, 1, info, NULL, out),
              "vkCreateComputePipelines")
        handles["pipeline"] = out[0]
        self.pipeline = out[0]
        device.save_pipeline_cache()

    def bind(self, allocations: Sequence["Allocation"], sizes: Sequence[int]) -> None:
        """Point binding i of the descriptor set at the first ``sizes[i]`` bytes of
        ``allocations[i]`` (what a shader's ``.length()`` counts)."""
        if not allocations:
            return
        self.bound = tuple(a.life for a in allocations)
        infos = new("VkDescriptorBufferInfo[]", [{"buffer": a.buffer, "offset": a.offset, "range": size}
                                                 for a, size in zip(allocations, sizes)])
        writes = new("VkWriteDescriptorSet[]", [
            {"sType": C.VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, "dstSet": self.descriptor_set, "dstBinding": i,
             "descriptorCount": 1, "descriptorType": C.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
             "pBufferInfo": infos + i} for i in range(len(allocations))])
        lib.vkUpdateDescriptorSets(self.device.handle, len(allocations), writes, 0, NULL)


def _destroy_pipeline(device: "Device", handles: dict) -> None:
    """Runs once the last submission that used the pipeline has finished."""
    dev = device.handle
    lib.vkDestroyPipeline(dev, handles["pipeline"], NULL)
    lib.vkDestroyPipelineLayout(dev, handles["layout"], NULL)
    lib.vkDestroyDescriptorPool(dev, handles["pool"], NULL)  # frees the set too
    lib.vkDestroyDescriptorSetLayout(dev, handles["set_layout"], NULL)
    lib.vkDestroyShaderModule(dev, handles["module"], NULL)
