"""SPIR-V reflection of compute shaders compiled by glslang: the numbers a
pipeline is built from."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kp.errors import ShaderError
from kp.shader import tools
from kp.shader.glsl import compile_source
from kp.shader.spirv import Binding, ShaderInfo, SpecConstant, reflect
from conftest import examples

pytestmark = pytest.mark.skipif(tools.find(tools.GLSLANG) is None,
                                reason="glslangValidator is not installed")


def push_size(members: str) -> int:
    return reflect(compile_source(f"""#version 450
#extension GL_EXT_shader_explicit_arithmetic_types : require
layout(local_size_x = 1) in;
struct S {{ vec3 p; float w; }};
layout(push_constant) uniform Params {{ {members} }} params;
void main() {{}}
""")).push_constant_size


@pytest.mark.parametrize("members, size", [
    ("uint n;", 4),
    ("float a; vec3 v; float b;", 32),   # v aligned to 16, b packed after it at 28
    ("uint n; float arr[3];", 16),
    ("uint n; vec4 arr[2];", 48),
    ("vec2 x; mat4 m;", 80),
    ("layout(row_major) mat2x3 m;", 24),  # 3 rows of vec2, row stride 8
    ("mat2x3 m;", 32),                   # 2 columns of vec3, column stride 16
    ("int a; double d;", 16),
    ("uint k; S s[2];", 48),             # struct array stride 16, starts at 16
    ("S s[2]; uint k;", 36),
    ("layout(offset = 64) uint x;", 68),
    ("float16_t h; uint8_t b;", 3),
    ("uint64_t big; ivec3 v;", 28),
])
def test_push_constant_size(members, size):
    assert push_size(members) == size


def test_no_push_constants_means_size_zero():
    info = reflect(compile_source("#version 450\nlayout(local_size_x = 1) in;\nvoid main() {}\n"))
    assert info.push_constant_size == 0
    assert info.bindings == () and info.spec_constants == ()


def test_spec_constants_of_each_kind():
    info = reflect(compile_source("""#version 450
layout(local_size_x = 1) in;
layout(constant_id = 3) const float alpha = 2.5;
layout(constant_id = 1) const int offset = -7;
layout(constant_id = 2) const uint count = 42u;
layout(constant_id = 5) const bool enabled = true;
layout(constant_id = 6) const double exact = 0.1lf;
layout(constant_id = 7) const bool disabled = false;
layout(binding = 0) buffer Out { double x[]; };
void main() {
    x[0] = enabled && !disabled ? alpha + offset + count + exact : 0.0;
}
"""))
    assert info.spec_constants == (
        SpecConstant(1, "int", 32, "offset", -7),
        SpecConstant(2, "uint", 32, "count", 42),
        SpecConstant(3, "float", 32, "alpha", 2.5),
        SpecConstant(5, "bool", 32, "enabled", True),
        SpecConstant(6, "float", 64, "exact", 0.1),
        SpecConstant(7, "bool", 32, "disabled", False),
    )


def test_64_bit_integer_spec_constants_decode_both_words():
    info = reflect(compile_source("""#version 450
#extension GL_ARB_gpu_shader_int64 : require
layout(local_size_x = 1) in;
layout(constant_id = 0) const int64_t low = -5000000000l;
layout(constant_id = 1) const uint64_t high = 18000000000000000000ul;
layout(binding = 0) buffer Out { int64_t x[]; };
void main() { x[0] = low + int64_t(high); }
"""))
    assert [(s.kind, s.width, s.default) for s in info.spec_constants] == [
        ("int", 64, -5000000000), ("uint", 64, 18000000000000000000)]
    assert {"Shader", "Int64"} <= info.capabilities


def test_local_size_literal():
    info = reflect(compile_source(
        "#version 450\nlayout(local_size_x = 8, local_size_y = 4, local_size_z = 2) in;\nvoid main() {}\n"))
    assert info.local_size == (8, 4, 2)
    assert info.local_size_spec_ids == (None, None, None)


def test_local_size_from_spec_constants():
    info = reflect(compile_source("""#version 450
layout(local_size_x_id = 0, local_size_y_id = 4) in;
layout(local_size_x = 128, local_size_y = 2, local_size_z = 3) in;
void main() {}
"""))
    assert info.local_size == (128, 2, 3)
    assert info.local_size_spec_ids == (0, 4, None)
    assert [(s.id, s.default) for s in info.spec_constants] == [(0, 128), (4, 2)]


def test_local_size_id_without_default_is_one():
    info = reflect(compile_source("#version 450\nlayout(local_size_x_id = 2) in;\nvoid main() {}\n"))
    assert info.local_size == (1, 1, 1)
    assert info.local_size_spec_ids == (2, None, None)


def test_storage_buffers_sets_and_readonly():
    info = reflect(compile_source("""#version 450
layout(local_size_x = 1) in;
struct Particle { vec4 pos; vec4 vel; };
layout(set = 0, binding = 0) readonly buffer In { float values[]; } inputs;
layout(set = 0, binding = 2) buffer Out { uint count; vec3 points[]; };
layout(set = 1, binding = 0) writeonly buffer Particles { Particle particles[]; };
layout(set = 1, binding = 5) uniform Config { mat4 transform; float scale; } config;
void main() {}
"""))
    assert info.bindings == (
        Binding(0, 0, "storage_buffer", "inputs", 4, True, ("float", 32)),
        Binding(0, 2, "storage_buffer", "Out", 16, False, ("float", 32)),
        Binding(1, 0, "storage_buffer", "Particles", 32, False, None),  # structs
        Binding(1, 5, "uniform_buffer", "config", None, True),
    )


def test_images_samplers_and_texel_buffers():
    info = reflect(compile_source("""#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0, r32f) uniform image2D storage;
layout(set = 0, binding = 1, rgba8) readonly uniform image3D volume;
layout(set = 0, binding = 2) uniform sampler2D combined;
layout(set = 0, binding = 3) uniform texture2D sampled;
layout(set = 0, binding = 4) uniform sampler plain;
layout(set = 0, binding = 5) uniform samplerBuffer texels;
layout(set = 0, binding = 6, r32ui) uniform uimageBuffer storage_texels;
layout(set = 0, binding = 7, r32f) uniform image2D array_of_images[4];
layout(set = 0, binding = 8) uniform textureBuffer separate_texels;
void main() {}
"""))
    assert [(b.binding, b.kind, b.name, b.readonly) for b in info.bindings] == [
        (0, "storage_image", "storage", False),
        (1, "storage_image", "volume", True),
        (2, "combined_image_sampler", "combined", True),
        (3, "sampled_image", "sampled", True),
        (4, "sampler", "plain", True),
        (5, "uniform_texel_buffer", "texels", True),
        (6, "storage_texel_buffer", "storage_texels", False),
        (7, "storage_image", "array_of_images", False),
        (8, "uniform_texel_buffer", "separate_texels", True),
    ]
    assert all(b.element_size is None for b in info.bindings)


def test_aliased_views_of_one_buffer_are_one_binding():
    info = reflect(compile_source("""#version 450
layout(local_size_x = 1) in;
layout(binding = 0) readonly buffer Wide { vec4 wide[]; };
layout(binding = 0) readonly buffer Narrow { float narrow[]; };
layout(binding = 1) readonly buffer RO { float ro[]; };
layout(binding = 1) buffer RW { vec2 rw[]; };
void main() {}
"""))
    assert info.bindings == (
        Binding(0, 0, "storage_buffer", "Narrow", 4, True, ("float", 32)),
        Binding(0, 1, "storage_buffer", "RO", 4, False, ("float", 32)),
    )


def test_conflicting_descriptor_kinds_at_one_binding_are_rejected():
    spirv = compile_source("""#version 450
layout(local_size_x = 1) in;
layout(binding = 0) buffer A { float a[]; };
layout(binding = 0) uniform B { float b; };
void main() {}
""")
    with pytest.raises(ShaderError, match="binding 0 is declared both as"):
        reflect(spirv)


def test_old_style_buffer_blocks_of_spirv_1_0(tmp_path):
    # Vulkan 1.0 / SPIR-V 1.0 storage buffers: Uniform storage class + BufferBlock.
    source = tmp_path / "old.comp"
    source.write_text("""#version 450
layout(local_size_x = 16) in;
layout(binding = 0) readonly buffer In { float a[]; };
layout(binding = 1) buffer Out { ivec2 b[]; };
layout(binding = 2) uniform U { float k; };
void main() { b[0] = ivec2(a[0] * k); }
""")
    output = tmp_path / "old.spv"
    tools.find(tools.GLSLANG).run(["-V", "--target-env", "vulkan1.0", "-o", str(output), str(source)],
                                  check=True, capture_output=True)
    spirv = output.read_bytes()
    assert struct.unpack_from("<I", spirv, 4)[0] == 0x00010000
    info = reflect(spirv)
    assert [(b.binding, b.kind, b.element_size, b.readonly) for b in info.bindings] == [
        (0, "storage_buffer", 4, True),
        (1, "storage_buffer", 8, False),
        (2, "uniform_buffer", None, True),
    ]
    assert info.local_size == (16, 1, 1)


def test_capabilities_of_small_types():
    info = reflect(compile_source("""#version 450
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types : require
layout(local_size_x = 1) in;
layout(binding = 0) buffer Half { float16_t h[]; };
layout(binding = 1) buffer Bytes { int8_t b[]; };
layout(binding = 2) buffer Doubles { double d[]; };
void main() { h[0] = h[0] * float16_t(2); b[0] = b[0] + int8_t(1); d[0] = d[0] * 2.0; }
"""))
    assert {"Shader", "Float16", "Int8", "Float64", "StorageBuffer16BitAccess",
            "StorageBuffer8BitAccess"} <= info.capabilities
    assert [b.element_size for b in info.bindings] == [2, 1, 8]


def test_push_constant_scalars_in_declaration_order():
    info = reflect(compile_source("""#version 450
#extension GL_EXT_shader_explicit_arithmetic_types : require
layout(local_size_x = 1) in;
struct S { vec2 p; uint8_t tag; };
layout(push_constant) uniform Params {
    int n; float scale; uvec2 size; layout(row_major) mat2 m; S s[2]; int64_t big; bool on;
} params;
void main() {}
"""))
    assert [(c.name, c.offset, c.kind, c.width) for c in info.push_constants] == [
        ("n", 0, "int", 32), ("scale", 4, "float", 32),
        ("size[0]", 8, "uint", 32), ("size[1]", 12, "uint", 32),
        # GLSL order m[column][row]; row-major rows are 8 bytes apart
        ("m[0][0]", 16, "float", 32), ("m[0][1]", 24, "float", 32),
        ("m[1][0]", 20, "float", 32), ("m[1][1]", 28, "float", 32),
        ("s[0].p[0]", 32, "float", 32), ("s[0].p[1]", 36, "float", 32), ("s[0].tag", 40, "uint", 8),
        ("s[1].p[0]", 48, "float", 32), ("s[1].p[1]", 52, "float", 32), ("s[1].tag", 56, "uint", 8),
        ("big", 64, "int", 64), ("on", 72, "uint", 32),  # glslang stores a bool as a uint
    ]
    assert info.push_constant_size == 76


def test_storage_buffer_element_scalar_types():
    info = reflect(compile_source("""#version 450
#extension GL_EXT_shader_explicit_arithmetic_types : require
layout(local_size_x = 1) in;
struct Pair { float a; int b; };
layout(binding = 0) buffer Bytes { int8_t bytes[]; };
layout(binding = 1) buffer Vectors { uvec4 vectors[]; };
layout(binding = 2) buffer Matrices { dmat3 matrices[]; };
layout(binding = 3) buffer Nested { uint16_t nested[][4]; };
layout(binding = 4) buffer Pairs { Pair pairs[]; };
layout(binding = 5) buffer Fixed { float fixed_[16]; };
layout(binding = 6) buffer AsFloats { float as_floats[]; };
layout(binding = 6) buffer AsInts { int as_ints[]; };
void main() {}
"""))
    assert [b.element_scalar for b in info.bindings] == [
        ("int", 8), ("uint", 32), ("float", 64), ("uint", 16),
        None,  # an array of structs
        None,  # no runtime array
        None,  # views that disagree
    ]


def workgroup_memory(declarations: str, spec_values=None) -> int:
    return reflect(compile_source(f"""#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const uint N = 8;
layout(constant_id = 1) const int M = 2;
struct S {{ vec3 p; float w; }};
{declarations}
void main() {{}}
""")).workgroup_memory_size(spec_values)


@pytest.mark.parametrize("declarations, spec_values, size", [
    ("", None, 0),
    ("shared float a[100];", None, 400),
    ("shared float a[100]; shared uvec2 b;", None, 408),
    ("shared vec3 v[10];", None, 120),          # packed: no padding to 16
    ("shared S s[4];", None, 64),
    ("shared mat3 m; shared bool flag;", None, 40),
    ("shared double d[2][3];", None, 48),
    ("shared float a[N];", None, 32),            # the default
    ("shared float a[N];", {0: 1000}, 4000),     # the specialised length
    ("shared float a[N][M]; shared int b;", {0: 10, 1: 3}, 124),
    ("shared float a[N * 2u];", None, 0),        # a length computed from spec constants is not counted
])
def test_workgroup_memory_size(declarations, spec_values, size):
    assert workgroup_memory(declarations, spec_values) == size


def test_reflection_is_cached_by_content():
    spirv = compile_source("#version 450\nlayout(local_size_x = 1) in;\nvoid main() {}\n")
    assert reflect(spirv) is reflect(bytearray(spirv))
    assert isinstance(reflect(spirv), ShaderInfo)
    assert reflect(spirv).entry_point == "main"


# -- invalid SPIR-V -----------------------------------------------------------

SAMPLE = """#version 450
layout(local_size_x_id = 0) in;
layout(local_size_x = 64) in;
layout(constant_id = 1) const float scale = 0.5;
layout(push_constant) uniform P { uint n; vec3 v; mat2 m; float arr[2]; } p;
layout(binding = 0) readonly buffer A { vec4 a[]; };
layout(set = 1, binding = 1) buffer B { float b[]; } bb;
layout(binding = 2, rgba8) uniform image2D img;
layout(binding = 3) uniform sampler2D tex;
void main() {
    uint i = gl_GlobalInvocationID.x;
    bb.b[i] = a[i].x * scale * float(p.n) + imageLoad(img, ivec2(0)).x + texture(tex, vec2(0)).x;
}
"""


@pytest.fixture(scope="module")
def sample() -> bytes:
    return compile_source(SAMPLE)


def words_of(spirv: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(spirv) // 4}I", spirv))


def pack(words: list[int]) -> bytes:
    return struct.pack(f"<{len(words)}I", *words)


def test_sample_reflects(sample):
    info = reflect(sample)
    assert info.push_constant_size == 56  # arr (stride 4) starts at 48, after m at 32
    assert info.local_size == (64, 1, 1) and info.local_size_spec_ids == (0, None, None)
    assert [(b.set, b.binding, b.kind) for b in info.bindings] == [
        (0, 0, "storage_buffer"), (0, 2, "storage_image"), (0, 3, "combined_image_sampler"),
        (1, 1, "storage_buffer")]
    assert math.isclose(info.spec_constants[1].default, 0.5)


def test_bad_magic(sample):
    with pytest.raises(ShaderError, match="magic number"):
        reflect(b"\0\0\0\0" + sample[4:])


def test_truncated_instruction(sample):
    # Header, then only the first of OpCapability's two words.
    with pytest.raises(ShaderError, match="truncated"):
        reflect(sample[:24])


def test_word_count_zero(sample):
    words = words_of(sample)
    words[5] = 17  # OpCapability with word count 0
    with pytest.raises(ShaderError, match="word count 0"):
        reflect(pack(words))


def test_not_a_compute_shader(sample):
    words = words_of(sample)
    i = 5
    while words[i] & 0xFFFF != 15:  # OpEntryPoint
        i += words[i] >> 16
    words[i + 1] = 4  # ExecutionModel Fragment
    with pytest.raises(ShaderError, match="no GLCompute entry point"):
        reflect(pack(words))


def test_unterminated_string(sample):
    words = words_of(sample)
    i = 5
    while words[i] & 0xFFFF != 15:
        i += words[i] >> 16
    count = words[i] >> 16
    words[i + 3:i + count] = [0x61616161] * (count - 3)
    with pytest.raises(ShaderError, match="unterminated"):
        reflect(pack(words))


def check_reflect_or_shader_error(data: bytes) -> None:
    try:
        assert isinstance(reflect(data), ShaderInfo)
    except ShaderError:
        pass


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=4000))
def test_fuzz_truncated(sample, cut):
    check_reflect_or_shader_error(sample[:cut])


@settings(max_examples=examples(600), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_corrupted_words(sample, data):
    words = words_of(sample)
    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        index = data.draw(st.integers(min_value=0, max_value=len(words) - 1))
        words[index] = data.draw(st.one_of(
            st.integers(min_value=0, max_value=2**32 - 1),
            st.integers(min_value=0, max_value=64),
            st.just(words[index] ^ (1 << data.draw(st.integers(min_value=0, max_value=31)))),
        ))
    check_reflect_or_shader_error(pack(words))


@settings(max_examples=examples(300), deadline=None)
@given(body=st.lists(st.integers(min_value=0, max_value=2**32 - 1), max_size=64))
def test_fuzz_random_instructions(body):
    check_reflect_or_shader_error(pack([0x07230203, 0x00010300, 0, 100, 0, *body]))
