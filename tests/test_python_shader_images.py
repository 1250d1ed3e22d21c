"""python2shader reads and writes storage images: img[ivec2(x, y)] is imageLoad
and an assignment to it imageStore. The SPIR-V is checked with spirv-val and
reflection here; the device tests run once kp.Image exists."""

import struct

import numpy as np
import pytest

import kp
from kp.shader import Array, Image2D, f32, ivec2, ivec3, python2shader, reflect
from kp.shader.python.types import BASIC_IMAGE_FORMATS, IMAGE_FORMATS
from python_shader_helpers import shader_from_source, spirv_val

KERNEL = """
def axpy(index=("input", "GlobalInvocationId", ivec3),
         a=("image", 0, Image2D({format!r})), b=("image", 1, Image2D({format!r})),
         o=("image", 2, Image2D({format!r}))):
    p = index.xy
    o[p] = a[p] + {two} * b[p]
"""


def axpy_kernel(format):
    two = "2.0" if IMAGE_FORMATS[format][1].kind == "float" else "2"
    return shader_from_source(KERNEL.format(format=format, two=two), local_size=None)


def image_formats(spirv: bytes) -> list[int]:
    """The ImageFormat operand of every OpTypeImage in ``spirv``."""
    words = struct.unpack(f"<{len(spirv) // 4}I", spirv)
    formats, at = [], 5
    while at < len(words):
        count, opcode = words[at] >> 16, words[at] & 0xFFFF
        if opcode == 25:  # OpTypeImage: result, sampled type, dim, depth, arrayed, ms, sampled, format
            formats.append(words[at + 8])
        at += count
    return formats


@pytest.mark.parametrize("format", list(IMAGE_FORMATS))
def test_image_kernels_validate_and_reflect_as_storage_images(format):
    spirv = axpy_kernel(format).to_spirv()
    spirv_val(spirv)
    info = reflect(spirv)
    assert [(b.binding, b.kind) for b in info.bindings] == [(i, "storage_image") for i in range(3)]
    assert image_formats(spirv) == [IMAGE_FORMATS[format][0]]
    assert ("StorageImageExtendedFormats" in info.capabilities) == (format not in BASIC_IMAGE_FORMATS)
    for binding in info.bindings:
        # reflection names the format where it reads it (with kp.Image's reflection)
        assert getattr(binding, "image_format", format) == format


def test_image_texels_are_4_vectors_of_the_formats_kind():
    source = """
    def texels(index=("input", "GlobalInvocationId", ivec3), f=("image", 0, Image2D("r32f")),
               i=("image", 1, Image2D("rg16i")), u=("image", 2, Image2D("rgba8ui")),
               out=("buffer", 3, Array(f32))):
        p = ivec2(index.x, 0)
        v = f[p]
        w: ivec4 = i[p]
        x: uvec4 = u[uvec2(index.xy)]
        f[p] = 1.0  # a scalar fills every channel
        u[p] = x + uvec4(1, 2, 3, 4)
        out[index.x] = v.x + f32(w.y) + f32(x.w)
    """
    spirv_val(shader_from_source(source).to_spirv())


ERRORS = [
    ('img[0] = 1.0', "an image is indexed by an ivec2 (x, y), not i32"),
    ('x = img[vec2(0.0, 1.0)]', "an image is indexed by an ivec2 (x, y), not vec2"),
    ('x = img', "the image 'img' can only be indexed by an ivec2"),
    ('img[ivec2(0, 0)] = vec2(1.0, 2.0)', "cannot use a vec2 as vec4"),
]


@pytest.mark.parametrize("body, message", ERRORS, ids=[e[1][:40] for e in ERRORS])
def test_image_errors(body, message):
    source = ('def k(index=("input", "GlobalInvocationId", ivec3), img=("image", 0, Image2D("r32f"))):\n'
              f'    {body}\n')
    with pytest.raises(kp.ShaderCompileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        shader_from_source(source)


def test_image_declaration_errors():
    line = test_image_declaration_errors.__code__.co_firstlineno
    with pytest.raises(kp.ShaderCompileError) as error:
        Image2D("rgb32f")
    assert str(error.value).startswith(f"{__file__}:{line + 3}: unknown image format 'rgb32f'; use one of r")
    source = 'def k(img=("image", 0, Array(f32))):\n    pass\n'
    with pytest.raises(kp.ShaderCompileError, match=r"image 'img' must be \('image', binding, Image2D"):
        shader_from_source(source)


@pytest.mark.parametrize("format", ["r8", "rg8", "rgba8"])
def test_normalized_formats_no_image_holds_are_refused_with_what_to_declare(format):
    with pytest.raises(kp.ShaderCompileError, match=rf"image format '{format}' is normalized \(0\.0 to 1\.0\), "
                                                    rf"which no kp\.Image holds: a uint8 image is "
                                                    rf"Image2D\('{format}ui'\), its texels 0 to 255"):
        Image2D(format)


def test_every_image_format_a_kernel_declares_is_one_a_kp_image_has():
    made = {kp.image.image_format_name(np.dtype(dtype), channels)
            for dtype in kp.image.IMAGE_DTYPES for channels in (1, 2, 4)}
    assert set(IMAGE_FORMATS) <= made


needs_images = pytest.mark.skipif(not hasattr(kp, "Image"), reason="needs kp.Image")

FORMATS = {(np.float32, 1): "r32f", (np.float32, 2): "rg32f", (np.float32, 4): "rgba32f",
           (np.int32, 1): "r32i", (np.int32, 4): "rgba32i", (np.uint32, 2): "rg32ui",
           (np.int16, 1): "r16i", (np.uint16, 4): "rgba16ui", (np.int8, 2): "rg8i",
           (np.uint8, 4): "rgba8ui", (np.uint8, 1): "r8ui"}


@needs_images
@pytest.mark.parametrize("dtype, channels", list(FORMATS), ids=list(FORMATS.values()))
def test_image_kernels_on_the_device(mgr, dtype, channels):
    width, height = 5, 3
    rng = np.random.default_rng(3)
    a, b = (rng.integers(0, 30, width * height * channels).astype(dtype) for _ in range(2))
    images = [mgr.image_t(x, width, height, channels) for x in (a, b, np.zeros_like(a))]
    algorithm = mgr.algorithm(images, axpy_kernel(FORMATS[dtype, channels]), workgroup=(width, height, 1))
    (mgr.sequence().record(kp.OpSyncDevice(images)).record(kp.OpAlgoDispatch(algorithm))
        .record(kp.OpSyncLocal([images[2]])).eval())
    np.testing.assert_array_equal(np.asarray(images[2].data()).reshape(-1), a + 2 * b)


@needs_images
def test_a_glsl_normalized_image_binding_says_what_to_declare(mgr):
    shader = kp.shader.compile_source("""
        #version 450
        layout(set = 0, binding = 0, rgba8) uniform image2D img;
        void main() { imageStore(img, ivec2(0), vec4(1.0)); }""")
    image = mgr.image_t(np.zeros(4, np.uint8), 1, 1, 4)
    with pytest.raises(kp.ShaderError, match=r"binding 0 \(img\) is a normalized rgba8 image in the shader, "
                                             r"which no kp\.Image holds: declare rgba8ui"):
        mgr.algorithm([image], shader)


@needs_images
def test_image_and_buffer_in_one_kernel(mgr):
    @python2shader
    def row_sums(index=("input", "GlobalInvocationId", ivec3),
                 img=("image", 0, Image2D("r32f")), sums=("buffer", 1, Array(f32))):
        total = 0.0
        for x in range(4):
            total += img[ivec2(x, index.x)].x
        sums[index.x] = total

    data = np.arange(12, dtype=np.float32)
    image, sums = mgr.image_t(data, 4, 3, 1), mgr.tensor_t(np.zeros(3, np.float32))
    algorithm = mgr.algorithm([image, sums], row_sums, workgroup=(3, 1, 1))
    (mgr.sequence().record(kp.OpSyncDevice([image, sums])).record(kp.OpAlgoDispatch(algorithm))
        .record(kp.OpSyncLocal([sums])).eval())
    np.testing.assert_array_equal(sums.data(), data.reshape(3, 4).sum(axis=1))
