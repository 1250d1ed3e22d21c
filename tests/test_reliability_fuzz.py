"""Bad input never crashes: random tensor data (shapes, dtypes, layouts, NaN and
infinity, read-only, huge) and damaged SPIR-V either work, with the right numbers,
or raise a ``kp.KomputeError`` subclass, and the manager keeps working."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import kp
from conftest import MULTIPLY_GLSL, assert_close, examples, run

KP_DTYPES = [np.dtype(t) for t in (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                                    np.uint8, np.uint16, np.uint32, np.uint64, np.bool_)]
FOREIGN_DTYPES = [np.dtype(t) for t in (np.complex64, np.complex128, np.longdouble, "U3", "M8[D]")]

FUZZ = settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def layouts(draw, dtypes):
    """An array of one of ``dtypes`` as a user may hold it: any shape, any values
    (NaN and infinity included), possibly strided, transposed, byte-swapped or
    read-only."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    if dtype.kind in "biuf" and draw(st.booleans()):
        dtype = dtype.newbyteorder(">" if dtype.byteorder in "<=" else "<")
    array = draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=3, max_side=9)))
    step = draw(st.integers(1, 3))
    array = array[::step]
    if draw(st.booleans()):
        array = array.T
    if draw(st.booleans()):
        array.flags.writeable = False
    return array


def same_bits(actual, expected):
    expected = np.ascontiguousarray(expected).astype(expected.dtype.newbyteorder("="))
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    assert actual.tobytes() == expected.tobytes()


def round_trip(mgr, tensor):
    """Device memory of ``tensor`` copied into a new tensor and read back."""
    copy = mgr.tensor_t(np.zeros(tensor.shape, tensor.dtype))
    run(mgr, kp.OpSyncDevice([tensor]), kp.OpCopy([tensor, copy]), kp.OpSyncLocal([copy]))
    return copy.numpy()


@FUZZ
@given(array=st.one_of(layouts(KP_DTYPES), layouts(FOREIGN_DTYPES)))
def test_tensor_t_keeps_every_bit_or_refuses_the_dtype(mgr, array):
    if array.dtype.newbyteorder("=") not in KP_DTYPES:
        with pytest.raises(kp.DataTypeError):
            mgr.tensor_t(array)
        return
    same_bits(round_trip(mgr, mgr.tensor_t(array)), array)


@FUZZ
@given(array=layouts(KP_DTYPES))
def test_tensor_converts_any_real_data_to_float32(mgr, array):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # float64 beyond float32's range becomes infinity
        expected = array.astype(np.float32)
        tensor = mgr.tensor(array)
    same_bits(round_trip(mgr, tensor), expected)


@pytest.mark.parametrize("data", [
    [[1, 2], [3]], [object()], [None, "x"], np.ones(3, np.complex64), [1 + 2j], np.array([], np.float32), [],
    np.zeros((0, 4)), np.zeros(2, "V4"), "text", b"bytes",
], ids=lambda data: repr(data).split(" at 0x")[0])  # the same ids in every process (pytest-xdist)
def test_data_kp_cannot_hold_raises(mgr, data):
    for make in (mgr.tensor, mgr.tensor_t):
        with pytest.raises((kp.DataTypeError, kp.InvalidArgumentError)):
            make(data)
    assert_close(round_trip(mgr, mgr.tensor([1, 2, 3])), [1, 2, 3])


def test_huge_data_raises_out_of_memory(mgr):
    # A broadcast view describes 4 TiB with one element of memory.
    huge = np.broadcast_to(np.float32(1), (1 << 40,))
    for make in (mgr.tensor, mgr.tensor_t):
        with pytest.raises(kp.OutOfDeviceMemoryError, match="bytes"):
            make(huge)
    assert_close(round_trip(mgr, mgr.tensor([1, 2, 3])), [1, 2, 3])


@pytest.fixture(scope="module")
def multiply_binary():
    return kp.shader.compile_source(MULTIPLY_GLSL)


@st.composite
def damaged(draw, spirv):
    """``spirv`` truncated, with words or bytes overwritten, or with bytes appended."""
    data = bytearray(spirv)
    kind = draw(st.sampled_from(["truncate", "words", "bytes", "append"]))
    if kind == "truncate":
        return bytes(data[:draw(st.integers(0, len(data) - 1))])
    if kind == "append":
        return bytes(data + draw(st.binary(min_size=1, max_size=12)))
    width = 4 if kind == "words" else 1
    for _ in range(draw(st.integers(1, 4))):
        # the first 5 words are the header: damage past it reaches the instructions
        at = draw(st.integers(5, len(data) // width - 1)) * width
        data[at:at + width] = draw(st.binary(min_size=width, max_size=width))
    return bytes(data)


@FUZZ
@given(data=st.data())
def test_damaged_spirv_raises_or_runs(mgr, multiply_binary, data):
    shader = data.draw(damaged(multiply_binary))
    a, b, out = mgr.tensor([1, 2, 3]), mgr.tensor([4, 5, 6]), mgr.tensor([0, 0, 0])
    try:
        algorithm = mgr.algorithm([a, b, out], shader)
    except kp.KomputeError:
        algorithm = None
    if algorithm is not None and algorithm.is_init():
        # a damaged constant or name can leave a valid module: it must run
        run(mgr, kp.OpSyncDevice([a, b]), kp.OpAlgoDispatch(algorithm), kp.OpSyncLocal([out]))
    healthy = mgr.algorithm([a, b, out], multiply_binary)
    run(mgr, kp.OpSyncDevice([a, b]), kp.OpAlgoDispatch(healthy), kp.OpSyncLocal([out]))
    assert_close(out.data(), [4, 10, 18])


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.sampled_from([b"\x03\x02\x23\x07", b"\x07\x23\x02\x03"]), body=st.binary(max_size=200))
def test_random_bytes_behind_a_spirv_header_raise(mgr, header, body):
    with pytest.raises(kp.ShaderError):
        mgr.algorithm([mgr.tensor([1])], header + body)


def test_invalid_spirv_names_what_spirv_val_found(mgr, multiply_binary):
    # the OpFunctionEnd and OpReturn are cut off: reflection is satisfied, the driver was not
    with pytest.raises(kp.ShaderError, match="invalid SPIR-V"):
        mgr.algorithm([mgr.tensor([1])] * 3, multiply_binary[:-8])
