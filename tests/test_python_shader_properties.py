"""Property tests: random arithmetic expressions compiled by python2shader and run
on the device give what NumPy computes from the same expression."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import kp
from conftest import MEMORY_MODES, examples
from python_shader_helpers import dispatch, shader_from_source

N = 32
TEMPLATE = """
def expression(index=("input", "GlobalInvocationId", ivec3),
               xa=("buffer", 0, Array({t})), xb=("buffer", 1, Array({t})),
               out=("buffer", 2, Array({t}))):
    a = xa[index.x]
    b = xb[index.x]
    out[index.x] = {expression}
"""

# Each operation as shader source and as Python / NumPy, by name. A divisor is
# made 2..5 (or -5..-2) from its operand so that no division fails or overflows.
BINARY = {
    "add": ("({} + {})", lambda x, y: x + y),
    "sub": ("({} - {})", lambda x, y: x - y),
    "mul": ("({} * {})", lambda x, y: x * y),
    "div": ("({} / (abs({}) + 1.0))", lambda x, y: x / (np.abs(y) + 1)),
    "floordiv": ("({} // (({} & 3) + 2))", lambda x, y: x // ((y & 3) + 2)),
    "floordiv_negative": ("({} // -(({} & 3) + 2))", lambda x, y: x // -((y & 3) + 2)),
    "mod": ("({} % (({} & 3) + 2))", lambda x, y: x % ((y & 3) + 2)),
    "mod_negative": ("({} % -(({} & 3) + 2))", lambda x, y: x % -((y & 3) + 2)),
    "and": ("({} & {})", lambda x, y: x & y),
    "or": ("({} | {})", lambda x, y: x | y),
    "xor": ("({} ^ {})", lambda x, y: x ^ y),
    "min": ("min({}, {})", np.minimum),
    "max": ("max({}, {})", np.maximum),
    "select": ("({0} if {0} < {1} else {1})", lambda x, y: np.where(x < y, x, y)),
}
UNARY = {
    "neg": ("(-{})", lambda x: -x),
    "shl": ("({} << 3)", lambda x: x << 3),
    "shr": ("({} >> 2)", lambda x: x >> 2),
    "abs": ("abs({})", np.abs),
}
# Operations on literals alone that the compiler folds with Python's arithmetic
# (except "div", which has an array operand): their result is still a literal.
FOLDED = {"add", "sub", "mul", "floordiv", "floordiv_negative", "mod", "mod_negative", "and",
          "or", "xor", "neg", "shl", "shr"}
FLOAT_BINARY = ["add", "sub", "mul", "min", "max", "select", "div"]
INT_BINARY = ["add", "sub", "mul", "min", "max", "select", "floordiv", "floordiv_negative", "mod",
              "mod_negative", "and", "or", "xor"]


def trees(binary, unary, literals):
    leaves = st.sampled_from([("var", "a"), ("var", "b")]) | literals.map(lambda v: ("lit", v))
    return st.recursive(
        leaves,
        lambda children: (st.tuples(st.sampled_from(binary), children, children)
                          | st.tuples(st.sampled_from(unary), children)),
        max_leaves=6)


def source(tree) -> str:
    op, *args = tree
    if op == "var":
        return args[0]
    if op == "lit":
        return repr(args[0])
    template = (BINARY.get(op) or UNARY[op])[0]
    return template.format(*(source(a) for a in args))


class Literal:
    """A literal value in the reference computation: exact Python arithmetic until it
    meets an array, where it takes the array's type, as the compiler does."""

    def __init__(self, value):
        self.value = value


def evaluate(tree, a, b, dtype):
    """The value of ``tree`` (an array or a ``Literal``) and a bound of the
    magnitudes it was computed from (what rounding errors scale with)."""
    op, *args = tree
    if op == "var":
        value = a if args[0] == "a" else b
        return value, np.abs(value.astype(np.float64))
    if op == "lit":
        return Literal(args[0]), abs(args[0])
    values, bounds = zip(*(evaluate(x, a, b, dtype) for x in args))
    fn = (BINARY.get(op) or UNARY[op])[1]
    if op in FOLDED and all(isinstance(v, Literal) for v in values):
        value = Literal(fn(*(v.value for v in values)))
    else:
        value = fn(*(materialize(v, dtype) for v in values))
    if op == "mul":
        bound = bounds[0] * bounds[1]
    elif op in ("add", "sub"):
        bound = bounds[0] + bounds[1]
    elif op == "div":
        bound = bounds[0] * (1 + bounds[1])
    else:
        bound = np.maximum(*bounds) if len(bounds) == 2 else bounds[0]
    return value, bound


def materialize(value, dtype):
    if not isinstance(value, Literal):
        return value
    if dtype == np.int32:
        # The compiler rejects a literal that does not fit; such trees are not tested.
        assume(-2**31 <= value.value < 2**31)
        return np.int32(value.value)
    return np.float64(np.float32(value.value))


@pytest.fixture(scope="module", params=MEMORY_MODES)
def device(request):
    """One manager per memory mode for all the examples (``mgr`` would make one per test)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KP_DISABLE_UMA", "1" if request.param == "staging" else "0")
        manager = kp.Manager()
    yield manager
    manager.destroy()


PROPERTY_SETTINGS = settings(max_examples=examples(100), deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY_SETTINGS
@given(tree=trees(FLOAT_BINARY, ["neg", "abs"],
                  st.integers(-16, 16).map(lambda v: v / 4)),
       a=st.lists(st.floats(-8, 8, width=32), min_size=N, max_size=N),
       b=st.lists(st.floats(-8, 8, width=32), min_size=N, max_size=N))
def test_f32_expressions_match_numpy(device, tree, a, b):
    a, b = np.array(a, np.float32), np.array(b, np.float32)
    expected, bound = evaluate(tree, a.astype(np.float64), b.astype(np.float64), np.float32)
    expected = materialize(expected, np.float32)
    shader = shader_from_source(TEMPLATE.format(t="f32", expression=source(tree)))
    *_, out = dispatch(device, shader, a, b, np.zeros(N, np.float32))
    # f32 rounding of every operation, relative to the magnitudes involved.
    np.testing.assert_array_less(np.abs(out - expected), 1e-5 * bound + 1e-30)


@PROPERTY_SETTINGS
@given(tree=trees(INT_BINARY, list(UNARY), st.integers(-9, 9)),
       a=st.lists(st.integers(-2**31, 2**31 - 1), min_size=N, max_size=N),
       b=st.lists(st.integers(-1000, 1000), min_size=N, max_size=N))
def test_i32_expressions_match_numpy(device, tree, a, b):
    a, b = np.array(a, np.int32), np.array(b, np.int32)
    with np.errstate(over="ignore"):
        expected, _ = evaluate(tree, a, b, np.int32)
        expected = materialize(expected, np.int32)
    shader = shader_from_source(TEMPLATE.format(t="i32", expression=source(tree)))
    *_, out = dispatch(device, shader, a, b, np.zeros(N, np.int32))
    # Wrapping arithmetic and Python's floor semantics, as NumPy's int32 has them.
    np.testing.assert_array_equal(out, np.broadcast_to(expected, (N,)))


COMPARE_TEMPLATE = """
def compare(index=("input", "GlobalInvocationId", ivec3), xs=("buffer", 0, Array(i32)),
            xu=("buffer", 1, Array(u32)), out=("buffer", 2, Array(i32))):
    s = xs[index.x]
    u = xu[index.x]
    out[index.x] = i32({expression})
"""
COMPARISONS = ["<", "<=", ">", ">=", "==", "!="]


@PROPERTY_SETTINGS
@given(op=st.sampled_from(COMPARISONS), unsigned_first=st.booleans(),
       s=st.lists(st.integers(-2**31, 2**31 - 1) | st.integers(-3, 3), min_size=N, max_size=N),
       u=st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 3), min_size=N, max_size=N))
def test_signed_unsigned_comparisons_match_python(device, op, unsigned_first, s, u):
    expression = f"u {op} s" if unsigned_first else f"s {op} u"
    shader = shader_from_source(COMPARE_TEMPLATE.format(expression=expression))
    *_, out = dispatch(device, shader, np.array(s, np.int32), np.array(u, np.uint32),
                       np.zeros(N, np.int32))
    expected = [eval(expression, {"s": a, "u": b}) for a, b in zip(s, u)]
    assert out.tolist() == [int(e) for e in expected]


@PROPERTY_SETTINGS
@given(x=st.lists(st.floats(-4, 4, width=32, allow_subnormal=False), min_size=N, max_size=N),
       y=st.lists(st.integers(-6, 6).map(float) | st.floats(-3, 3, width=32, allow_subnormal=False),
                  min_size=N, max_size=N))
def test_pow_matches_python(device, x, y):
    shader = shader_from_source(TEMPLATE.format(t="f32", expression="a ** b"))
    x, y = np.array(x, np.float32), np.array(y, np.float32)
    *_, out = dispatch(device, shader, x, y, np.zeros(N, np.float32))
    for a, b, got in zip(x.tolist(), y.tolist(), out.tolist()):
        try:
            want = a ** b
        except ZeroDivisionError:  # 0.0 ** negative: the device gives inf
            continue
        if isinstance(want, complex):  # a negative base and a fractional exponent
            assert np.isnan(got), (a, b, got)
        elif abs(want) < 1e30:
            assert got == pytest.approx(want, rel=1e-4, abs=1e-30), (a, b, got)
