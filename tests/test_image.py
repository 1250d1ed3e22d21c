"""Images (Kompute master's kp.Image): storage images that shaders read and write with
imageLoad / imageStore, their flat data(), copies to and from tensors, and errors."""

import gc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import kp
from conftest import examples, run
from kp.shader.glsl import compile_source
from kp.shader.spirv import reflect

# dtype -> (GLSL format suffix, image type prefix, scalar type)
KINDS = {np.float32: ("f", "", "float"), np.int32: ("i", "i", "int"), np.uint32: ("ui", "u", "uint"),
         np.int16: ("i", "i", "int"), np.uint16: ("ui", "u", "uint"), np.int8: ("i", "i", "int"),
         np.uint8: ("ui", "u", "uint")}
PREFIX = {1: "r", 2: "rg", 4: "rgba"}


def fmt(dtype, channels):
    return f"{PREFIX[channels]}{np.dtype(dtype).itemsize * 8}{KINDS[dtype][0]}"


def axpy_shader(dtype, channels):
    """o = a + 2 * b, per texel and channel, one invocation per texel."""
    suffix, prefix, scalar = KINDS[dtype]
    f = fmt(dtype, channels)
    return compile_source(f"""
        #version 450
        layout(local_size_x = 1) in;
        layout(set = 0, binding = 0, {f}) uniform readonly {prefix}image2D a;
        layout(set = 0, binding = 1, {f}) uniform readonly {prefix}image2D b;
        layout(set = 0, binding = 2, {f}) uniform writeonly {prefix}image2D o;
        void main() {{
            ivec2 p = ivec2(gl_GlobalInvocationID.xy);
            imageStore(o, p, imageLoad(a, p) + {scalar}(2) * imageLoad(b, p));
        }}""")


def sample(dtype, size, seed):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.uniform(-100, 100, size).astype(dtype)
    info = np.iinfo(dtype)
    # a + 2 * b stays in range for every width
    return rng.integers(max(info.min, -30), min(info.max, 30), size, endpoint=True).astype(dtype)


def axpy(mgr, dtype, width, height, channels, memory_type=kp.MemoryTypes.device):
    a = sample(dtype, width * height * channels, 1)
    b = sample(dtype, width * height * channels, 2)
    images = [mgr.image_t(x, width, height, channels, memory_type) for x in (a, b, np.zeros_like(a))]
    algorithm = mgr.algorithm(images, axpy_shader(dtype, channels), workgroup=(width, height, 1))
    run(mgr, kp.OpSyncDevice(images), kp.OpAlgoDispatch(algorithm), kp.OpSyncLocal([images[2]]))
    return images[2].data(), a + 2 * b


# -- the object --------------------------------------------------------------------
def test_image_data_is_a_flat_zero_copy_view_with_the_image_shape(mgr):
    source = np.arange(24, dtype=np.float64).reshape(4, 3, 2)  # 4 rows of 3 texels of 2 channels
    image = mgr.image(source, 3, 4, 2)
    view = image.data()
    assert view.shape == (24,) and view.dtype == np.float32 and len(image) == image.size() == 24
    assert view.tolist() == list(range(24))
    assert image.shape == (4, 3, 2) and view.reshape(image.shape)[3, 2, 1] == 23
    assert (image.get_width(), image.get_height(), image.get_num_channels()) == (3, 4, 2)
    assert image.data_type() == kp.DataTypes.float and image.memory_type() == kp.MemoryTypes.device
    assert image.format_name() == "rg32f" and image.is_init()
    assert view.base is image.data().base  # what holds the memory
    view[0] = 100
    assert image.data()[0] == 100 and np.shares_memory(view, image.data())


@pytest.mark.parametrize("dtype, data_type", [
    (np.float32, kp.DataTypes.float), (np.int32, kp.DataTypes.int), (np.uint32, kp.DataTypes.uint),
    (np.int16, kp.DataTypes.short), (np.uint16, kp.DataTypes.ushort), (np.int8, kp.DataTypes.char),
    (np.uint8, kp.DataTypes.uchar)])
def test_image_t_keeps_the_dtype(mgr, dtype, data_type):
    source = sample(dtype, 8, 0)
    image = mgr.image_t(source, 2, 1, 4)
    assert image.data().dtype == dtype and image.data_type() == data_type
    np.testing.assert_array_equal(image.data(), source)


def test_image_converts_to_float32(mgr):
    image = mgr.image(np.array([1, 2, 3], np.int64), 3, 1, 1)
    assert image.data().dtype == np.float32 and image.data().tolist() == [1, 2, 3]


def test_tensors_and_images_are_kp_memory(mgr):
    assert isinstance(mgr.tensor([1]), kp.Memory) and isinstance(mgr.image([1], 1, 1, 1), kp.Memory)
    assert not isinstance(mgr.tensor([1]), kp.Image)


def test_master_spellings_of_the_enums():
    assert [kp.DataTypes.short, kp.DataTypes.ushort, kp.DataTypes.char, kp.DataTypes.uchar,
            kp.DataTypes.custom] == [6, 7, 8, 9, 5]
    assert kp.MemoryTypes.deviceAndHost == 3 and kp.deviceAndHost is kp.MemoryTypes.deviceAndHost
    assert kp.short is kp.DataTypes.short and kp.uchar is kp.DataTypes.uchar


# -- shaders -----------------------------------------------------------------------
@pytest.mark.parametrize("dtype, channels", [
    (np.float32, 1), (np.float32, 2), (np.float32, 4), (np.int32, 1), (np.int32, 4), (np.uint32, 1),
    (np.uint32, 2), (np.int16, 1), (np.int16, 4), (np.uint16, 2), (np.int8, 1), (np.int8, 2), (np.uint8, 1),
    (np.uint8, 4)], ids=lambda v: np.dtype(v).name if isinstance(v, type) else str(v))
def test_shader_reads_and_writes_every_format(mgr, dtype, channels):
    got, expected = axpy(mgr, dtype, 5, 3, channels)
    np.testing.assert_array_equal(got, expected)


def test_a_2d_image_keeps_rows_and_channels_in_data_order(mgr):
    """Texel (x, y) channel c is data()[(y * width + x) * channels + c], as the shader sees it."""
    width, height = 4, 3
    source = np.arange(width * height * 4, dtype=np.float32)
    image = mgr.image(source, width, height, 4)
    out = mgr.tensor(np.zeros(width * height * 4))
    shader = compile_source("""
        #version 450
        layout(local_size_x = 1) in;
        layout(set = 0, binding = 0, rgba32f) uniform readonly image2D img;
        layout(set = 0, binding = 1) buffer O { vec4 o[]; };
        void main() {
            ivec2 p = ivec2(gl_GlobalInvocationID.xy);
            o[p.y * 4 + p.x] = imageLoad(img, p) + vec4(0, 0, 0, 1000 * p.y + 100 * p.x);
        }""")
    algorithm = mgr.algorithm([image, out], shader, workgroup=(width, height, 1))
    run(mgr, kp.OpSyncDevice([image]), kp.OpAlgoDispatch(algorithm), kp.OpSyncLocal([out]))
    expected = source.reshape(height, width, 4).copy()
    expected[:, :, 3] += 1000 * np.arange(height)[:, None] + 100 * np.arange(width)[None, :]
    np.testing.assert_array_equal(out.data(), expected.reshape(-1))
    assert algorithm.get_mem_objects() == [image, out]


@pytest.mark.parametrize("memory_type", [kp.MemoryTypes.host, kp.MemoryTypes.deviceAndHost],
                         ids=lambda m: m.name)
def test_host_visible_images_need_no_syncs(mgr, memory_type):
    """64 float texels make 256-byte rows, which lavapipe and NVIDIA lay out tightly
    (NVIDIA pads a 64-byte row to 128)."""
    a, b = sample(np.float32, 128, 1), sample(np.float32, 128, 2)
    images = [mgr.image(x, 64, 2, 1, memory_type) for x in (a, b, np.zeros(128))]
    run(mgr, kp.OpAlgoDispatch(mgr.algorithm(images, axpy_shader(np.float32, 1), workgroup=(64, 2, 1))))
    np.testing.assert_array_equal(images[2].data(), a + 2 * b)
    assert images[2].memory_type() == memory_type


def test_host_visible_image_with_padded_rows_says_what_to_use(mgr):
    try:
        image = mgr.image(np.arange(6), 3, 2, 1, kp.MemoryTypes.host)
    except kp.InvalidArgumentError as error:
        assert "memory_type=device" in str(error)
    else:  # the device lays these rows out tightly
        assert image.data().tolist() == [0, 1, 2, 3, 4, 5]


def test_storage_image_has_no_host_data_and_copies_out(mgr):
    image = mgr.image(np.zeros(4), 4, 1, 1, kp.MemoryTypes.storage)
    with pytest.raises(kp.KomputeError, match="storage"):
        image.data()
    source, back = mgr.tensor([1, 2, 3, 4]), mgr.tensor(np.zeros(4))
    run(mgr, kp.OpSyncDevice([source]), kp.OpCopy([source, image]), kp.OpCopy([image, back]),
        kp.OpSyncLocal([back]))
    assert back.data().tolist() == [1, 2, 3, 4]


def test_tensor_and_image_bindings_in_one_algorithm(mgr):
    tensor = mgr.tensor_t(np.arange(8, dtype=np.int32))
    image = mgr.image_t(np.zeros(8, np.int32), 8, 1, 1)
    shader = compile_source("""
        #version 450
        layout(local_size_x = 1) in;
        layout(set = 0, binding = 0) buffer T { int t[]; };
        layout(set = 0, binding = 1, r32i) uniform writeonly iimage2D img;
        void main() {
            int x = int(gl_GlobalInvocationID.x);
            imageStore(img, ivec2(x, 0), ivec4(t[x] * t[x]));
        }""")
    run(mgr, kp.OpSyncDevice([tensor]), kp.OpAlgoDispatch(mgr.algorithm([tensor, image], shader)),
        kp.OpSyncLocal([image]))
    assert image.data().tolist() == [i * i for i in range(8)]


# -- copies ------------------------------------------------------------------------
def test_copies_between_tensors_and_images_both_ways(mgr):
    data = sample(np.uint8, 24, 3)
    tensor = mgr.tensor_t(data)
    image = mgr.image_t(np.zeros(24, np.uint8), 3, 2, 4)
    other = mgr.image_t(np.zeros(24, np.uint8), 3, 2, 4)
    back = mgr.tensor_t(np.zeros(24, np.uint8))
    run(mgr, kp.OpSyncDevice([tensor]), kp.OpCopy([tensor, image]), kp.OpCopy([image, other]),
        kp.OpCopy([other, back]))
    # OpCopy writes each destination's host copy too
    for memory in (image, other, back):
        np.testing.assert_array_equal(memory.data(), data)


def test_image_copy_then_shader_then_copy_back_in_one_sequence(mgr):
    """The image goes transfer-destination, then shader storage, then transfer-source layout."""
    source = sample(np.float32, 8, 4)
    tensor, result = mgr.tensor(source), mgr.tensor(np.zeros(8))
    a, b, out = (mgr.image(np.zeros(8), 4, 2, 1) for _ in range(3))
    algorithm = mgr.algorithm([a, b, out], axpy_shader(np.float32, 1), workgroup=(4, 2, 1))
    run(mgr, kp.OpSyncDevice([tensor]), kp.OpCopy([tensor, a, b]), kp.OpAlgoDispatch(algorithm),
        kp.OpCopy([out, a]), kp.OpAlgoDispatch(algorithm), kp.OpCopy([out, result]), kp.OpSyncLocal([result]))
    np.testing.assert_allclose(result.data(), 5 * source, rtol=1e-6)  # a + 2b = 3s, then 3s + 2s


def test_sequences_evaluated_in_any_order_find_images_ready(mgr):
    """Each recording leaves its images as the next submission of any sequence expects them."""
    tensor = mgr.tensor([1, 2, 3, 4])
    image, back = mgr.image(np.zeros(4), 4, 1, 1), mgr.tensor(np.zeros(4))
    first = mgr.sequence().record(kp.OpSyncDevice([tensor])).record(kp.OpCopy([tensor, image]))
    second = mgr.sequence().record(kp.OpCopy([image, back])).record(kp.OpSyncLocal([back]))
    second.eval()
    first.eval()
    second.eval()
    assert back.data().tolist() == [1, 2, 3, 4]


def test_memory_barrier_on_an_image_in_a_transfer_layout(mgr):
    tensor = mgr.tensor([3, 4])
    a, b, out = mgr.image([1, 1], 2, 1, 1), mgr.image([0, 0], 2, 1, 1), mgr.image([0, 0], 2, 1, 1)
    algorithm = mgr.algorithm([a, b, out], axpy_shader(np.float32, 1), workgroup=(2, 1, 1))
    run(mgr, kp.OpSyncDevice([tensor, a]), kp.OpCopy([tensor, b]),
        kp.OpMemoryBarrier([b], kp.AccessFlags.transfer_write, kp.AccessFlags.shader_read,
                           kp.PipelineStages.transfer, kp.PipelineStages.compute_shader),
        kp.OpAlgoDispatch(algorithm), kp.OpSyncLocal([out]))
    assert out.data().tolist() == [7, 9]


# -- lifetime ----------------------------------------------------------------------
def test_destroyed_image_keeps_its_view_and_refuses_work(mgr):
    image = mgr.image([1, 2, 3], 3, 1, 1)
    view = image.data()
    seq = mgr.sequence().record(kp.OpSyncDevice([image]))
    image.destroy()
    assert not image.is_init() and view.tolist() == [1, 2, 3]
    with pytest.raises(kp.DestroyedError):
        seq.eval()
    with pytest.raises(kp.DestroyedError):
        image.data()
    image.destroy()  # twice is harmless


def test_manager_destroy_destroys_its_images_and_nothing_leaks(memory_mode):
    gc.collect()  # images of earlier tests that failed are still held by their tracebacks
    before = kp.vk.live_handles().get("VkImage", 0)
    mgr = kp.Manager()
    image = mgr.image(np.arange(16), 4, 4, 1)
    dropped = mgr.image(np.arange(16), 4, 4, 1, kp.MemoryTypes.storage)
    assert kp.vk.live_handles()["VkImage"] == before + 2
    del dropped
    gc.collect()
    assert kp.vk.live_handles().get("VkImage", 0) == before + 1
    mgr.destroy()
    assert not image.is_init()
    del image
    gc.collect()
    assert kp.vk.live_handles().get("VkImage", 0) == before


# -- errors ------------------------------------------------------------------------
@pytest.mark.parametrize("channels", [0, 3, 5, 8])
def test_images_have_1_2_or_4_channels(mgr, channels):
    with pytest.raises(kp.KomputeError, match="1, 2 or 4 channels|positive"):
        mgr.image(np.zeros(max(channels, 1) * 2), 2, 1, channels)


@pytest.mark.parametrize("width, height, size", [(0, 1, 1), (2, -1, 2), (2, 2, 3), (2.0, 1, 2)])
def test_bad_sizes_are_refused(mgr, width, height, size):
    with pytest.raises(kp.InvalidArgumentError, match="width|height|elements"):
        mgr.image(np.zeros(size), width, height, 1)


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.bool_, np.float16])
def test_image_dtypes_are_kompute_masters(mgr, dtype):
    with pytest.raises(kp.DataTypeError, match="images cannot hold"):
        mgr.image_t(np.zeros(4, dtype), 4, 1, 1)


def test_images_are_made_by_a_manager():
    with pytest.raises(kp.KomputeError, match="mgr.image"):
        kp.Image([1, 2, 3])


def test_unknown_memory_type(mgr):
    with pytest.raises(kp.InvalidArgumentError, match="memory type"):
        mgr.image([1], 1, 1, 1, 7)


def test_tensor_for_an_image_binding_and_image_for_a_buffer_binding(mgr):
    images = [mgr.image([1, 2], 2, 1, 1) for _ in range(3)]
    with pytest.raises(kp.InvalidArgumentError, match="binding 1 .*storage image .*Tensor was given"):
        mgr.algorithm([images[0], mgr.tensor([1, 2]), images[2]], axpy_shader(np.float32, 1))
    buffers = compile_source("""
        #version 450
        layout(set = 0, binding = 0) buffer A { float a[]; };
        void main() { a[0] = 1.0; }""")
    with pytest.raises(kp.InvalidArgumentError, match="storage buffer .*image was given"):
        mgr.algorithm([images[0]], buffers)


@pytest.mark.parametrize("dtype, channels", [(np.float32, 4), (np.int32, 1), (np.uint8, 1)])
def test_image_format_must_match_the_shader(mgr, dtype, channels):
    images = [mgr.image_t(np.zeros(2 * channels, dtype), 2, 1, channels) for _ in range(3)]
    with pytest.raises(kp.DataTypeError, match=f"r32f image in the shader.* {fmt(dtype, channels)}"):
        mgr.algorithm(images, axpy_shader(np.float32, 1))


def test_only_2d_images(mgr):
    shader = compile_source("""
        #version 450
        layout(set = 0, binding = 0, r32f) uniform image1D a;
        void main() { imageStore(a, 0, vec4(1)); }""")
    with pytest.raises(kp.ShaderError, match="1d image"):
        mgr.algorithm([mgr.image([1], 1, 1, 1)], shader)


def test_copies_need_matching_dtypes_sizes_and_extents(mgr):
    image = mgr.image(np.zeros(8), 4, 2, 1)
    with pytest.raises(kp.InvalidArgumentError, match="4 x 2 .*2 x 4"):
        kp.OpCopy([mgr.image(np.zeros(8), 2, 4, 1), image])
    with pytest.raises(kp.InvalidArgumentError, match="int32"):
        kp.OpCopy([image, mgr.tensor_t(np.zeros(8, np.int32))])
    with pytest.raises(kp.InvalidArgumentError, match="7"):
        kp.OpCopy([mgr.tensor(np.zeros(7)), image])


def test_reflection_reads_image_formats_and_dimensions():
    info = reflect(compile_source("""
        #version 450
        layout(set = 0, binding = 0, r32f) uniform readonly image2D a;
        layout(set = 0, binding = 1, rgba8ui) uniform writeonly uimage2D b;
        void main() { imageStore(b, ivec2(0), uvec4(imageLoad(a, ivec2(0)).x)); }"""))
    a, b = info.bindings
    assert (a.kind, a.image_format, a.image_dim, a.element_scalar, a.readonly) == (
        "storage_image", "r32f", "2d", ("float", 32), True)
    assert (b.image_format, b.element_scalar, b.readonly) == ("rgba8ui", ("uint", 32), False)


# -- barriers ----------------------------------------------------------------------
def test_layout_transitions_go_in_the_barriers_the_hazards_need(mgr):
    """One barrier at the start, one moving ``a`` to the transfer layout for its sync,
    one moving it back for the shaders (with the read-after-write), none between the
    two shaders that only read it, one to the source layout for the copy out, one back
    to GENERAL at the end, one to the host."""
    a = mgr.image([1, 2], 2, 1, 1)
    b = mgr.image([10, 20], 2, 1, 1, kp.MemoryTypes.host)
    outs = [mgr.image([0, 0], 2, 1, 1, kp.MemoryTypes.host) for _ in range(2)]
    back = mgr.tensor([0, 0])
    shader = axpy_shader(np.float32, 1)
    seq = run(mgr, kp.OpSyncDevice([a]), *(kp.OpAlgoDispatch(mgr.algorithm([a, b, out], shader, workgroup=(2, 1, 1)))
                                          for out in outs), kp.OpCopy([a, back]))
    assert seq._commands.barriers_recorded == 1 + 1 + 1 + 0 + 1 + 1 + 1
    assert [out.data().tolist() for out in outs] == [[21, 42]] * 2 and back.data().tolist() == [1, 2]


def test_no_images_on_a_destroyed_manager(memory_mode):
    mgr = kp.Manager()
    mgr.destroy()
    with pytest.raises(kp.DestroyedError):
        mgr.image([1], 1, 1, 1)


# -- any mix of operations on tensors and images: the numbers of a model, and no hazard --
def _declare(binding, memory, name):
    if isinstance(memory, kp.Image):
        return f"layout(set = 0, binding = {binding}, r32f) uniform image2D {name};"
    return f"layout(set = 0, binding = {binding}) buffer B{binding} {{ float {name}[]; }};"


def _load(memory, name):
    return f"imageLoad({name}, ivec2(x, 0)).x" if isinstance(memory, kp.Image) else f"{name}[x]"


def _store(memory, name, value):
    return f"imageStore({name}, ivec2(x, 0), vec4({value}));" if isinstance(memory, kp.Image) \
        else f"{name}[x] = {value};"


def plus_one(mgr, source, target):
    """target = source + 1 (target = target + 1 where they are one object), element-wise."""
    objects = [source] if source is target else [source, target]
    shader = "\n".join(["#version 450", "layout(local_size_x = 1) in;",
                        *(_declare(k, m, f"m{k}") for k, m in enumerate(objects)),
                        "void main() {", "    int x = int(gl_GlobalInvocationID.x);",
                        "    " + _store(target, f"m{len(objects) - 1}", _load(source, "m0") + " + 1.0"), "}"])
    return mgr.algorithm(objects, compile_source(shader), workgroup=(4, 1, 1))


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=st.lists(st.tuples(st.sampled_from(["up", "down", "copy", "plus", "barrier"]),
                                  st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=12))
def test_any_mix_of_tensor_and_image_operations_computes_what_a_model_says(mgr, program):
    """Objects 0 and 1 are tensors, 2 and 3 images; ``plus`` i -> i increments in place."""
    memory = [mgr.tensor(np.zeros(4)), mgr.tensor(np.full(4, 10)), mgr.image(np.full(4, 20), 4, 1, 1),
              mgr.image(np.full(4, 30), 4, 1, 1)]
    staged = [m.staging_allocation is not None for m in memory]
    mgr.sequence().eval(kp.OpSyncDevice(memory))
    host = [np.array(m.data(), np.float64) for m in memory]
    device = [h.copy() for h in host]
    algorithms = {}
    seq = mgr.sequence()
    for kind, i, j in program:
        if kind == "up":
            seq.record(kp.OpSyncDevice([memory[i]]))
            device[i] = host[i].copy()
        elif kind == "down":
            seq.record(kp.OpSyncLocal([memory[i]]))
            host[i] = device[i].copy()
        elif kind == "copy" and i != j:
            seq.record(kp.OpCopy([memory[i], memory[j]]))
            device[j] = device[i].copy()
            host[j] = device[i].copy()
        elif kind == "plus":
            if (i, j) not in algorithms:
                algorithms[i, j] = plus_one(mgr, memory[i], memory[j])
            seq.record(kp.OpAlgoDispatch(algorithms[i, j]))
            device[j] = device[i] + 1
        elif kind == "barrier":
            seq.record(kp.OpMemoryBarrier([memory[i]]))
        for k in range(4):
            if not staged[k]:
                host[k] = device[k]
    seq.eval()
    for m, expected in zip(memory, host):
        assert m.data().tolist() == expected.tolist()
    mgr.sequence().eval(kp.OpSyncLocal(memory))
    for m, expected in zip(memory, device):
        assert m.data().tolist() == expected.tolist()
    assert not kp.vk.take_validation_messages()  # here, so that hypothesis finds the smallest program


# -- as easy as tensors ----------------------------------------------------------------
def test_numpy_is_the_data_shaped_height_width_channels(mgr):
    image = mgr.image(np.arange(24), 3, 4, 2)
    shaped = image.numpy()
    assert shaped.shape == (4, 3, 2) and shaped[3, 2, 1] == 23 and shaped[1, 0, 0] == 6
    shaped[0, 0, 0] = -1  # the same memory as data()
    assert image.data()[0] == -1


def test_np_asarray_is_a_zero_copy_view_and_set_data_replaces_the_texels(mgr):
    image = mgr.image_t(np.zeros(8, np.int16), 4, 1, 2)
    view = np.asarray(image)
    assert view.dtype == np.int16 and view.shape == (8,) and np.shares_memory(view, image.data())
    image.set_data(np.arange(8).reshape(1, 4, 2))
    assert view.tolist() == list(range(8))
    with pytest.raises(kp.InvalidArgumentError, match="set_data got 3 elements for an image of 8"):
        image.set_data([1, 2, 3])
    out = mgr.tensor_t(np.zeros(8, np.int16))
    run(mgr, kp.OpSyncDevice([image]), kp.OpCopy([image, out]))
    assert out.data().tolist() == list(range(8))


@pytest.mark.parametrize("data, error, message", [
    ([300, 1, 2, 3], kp.InvalidArgumentError, r"set_data: 300 does not fit uint8 elements \(0 to 255\)"),
    ([-1.0, 1, 2, 3], kp.InvalidArgumentError, r"set_data: -1.0 does not fit uint8"),
    ([float("nan"), 1, 2, 3], kp.InvalidArgumentError, r"set_data: nan does not fit uint8"),
    ([2 ** 70, 1, 2, 3], kp.InvalidArgumentError, r"set_data: 1180591620717411303424 does not fit uint8"),
    (["1", "2", "3", "4"], kp.DataTypeError, r"kp tensors cannot hold <U1 data"),
    ([1j, 2, 3, 4], kp.DataTypeError, r"cannot hold complex128 data"),
    ([[1, 2], [3]], kp.DataTypeError, r"must be numbers, got list"),
])
def test_set_data_refuses_what_the_dtype_cannot_hold_and_keeps_the_texels(mgr, data, error, message):
    # NumPy's cast would make 300 a 44 and NaN some integer
    image = mgr.image_t(np.arange(4, dtype=np.uint8), 2, 2, 1)
    with pytest.raises(error, match=message):
        image.set_data(data)
    assert image.data().tolist() == [0, 1, 2, 3]
    image.set_data(np.array([255.0, 0.0, 7.0, 1.0]))  # whole numbers in range pass from any dtype
    assert image.data().tolist() == [255, 0, 7, 1]


def test_np_asarray_with_copy_false_never_hands_back_a_copy(mgr):
    image = mgr.image_t(np.zeros(4, np.int16), 2, 2, 1)
    with pytest.raises(kp.InvalidArgumentError, match=r"dtype=float32, copy=False\): the image holds int16"):
        np.asarray(image, dtype=np.float32, copy=False)  # writes to it would be lost
    np.asarray(image, dtype=np.int16, copy=False)[0] = 7
    assert image.data().tolist() == [7, 0, 0, 0]


def test_image_t_takes_plain_lists_as_tensor_t_does(mgr):
    ints = mgr.image_t([1, 2, -3, 4], 2, 2, 1)
    floats = mgr.image_t([0.5, 1.5], 1, 1, 2)
    assert ints.dtype == np.int32 and ints.numpy().tolist() == [[[1], [2]], [[-3], [4]]]
    assert floats.dtype == np.float32 and floats.data().tolist() == [0.5, 1.5]
    with pytest.raises(kp.DataTypeError, match="beyond int32"):
        mgr.image_t([2 ** 40], 1, 1, 1)
    with pytest.raises(kp.DataTypeError, match="must be numbers, got list: int too large to convert to float"):
        mgr.image([2 ** 2000], 1, 1, 1)
    with pytest.raises(kp.DataTypeError, match="images cannot hold int64"):
        mgr.image_t(np.array([1], np.int64), 1, 1, 1)  # a dtype the user chose is kept, or refused


def test_a_storage_image_holds_the_data_it_was_made_with(mgr):
    image = mgr.image_t(np.arange(12, dtype=np.uint8), 3, 2, 2, kp.MemoryTypes.storage)
    out = mgr.tensor_t(np.zeros(12, np.uint8))
    run(mgr, kp.OpCopy([image, out]), kp.OpSyncLocal([out]))
    assert out.data().tolist() == list(range(12))


def test_np_asarray_of_a_storage_or_destroyed_image_says_why(mgr):
    image = mgr.image(np.zeros(4), 2, 2, 1, kp.MemoryTypes.storage)
    with pytest.raises(kp.KomputeError, match="storage images live on the device only"):
        np.asarray(image)
    with pytest.raises(kp.KomputeError, match="storage images"):
        image.numpy()
    gone = mgr.image(np.zeros(4), 2, 2, 1)
    gone.destroy()
    with pytest.raises(kp.DestroyedError, match="image was destroyed"):
        np.asarray(gone)
