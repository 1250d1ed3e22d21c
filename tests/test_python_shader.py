"""python2shader without a device: the SPIR-V it makes, its errors and its cache."""

import math
import re
import textwrap
import time

import pytest

import kp
from kp.shader import (
    Array, f32, f64, i32, ivec3, python2shader, reflect, u32, vec2, vec4,
)
from python_shader_helpers import shader_from_source, shaders_from_source, spirv_val


def kernel(body: str, params: str = "") -> str:
    """Source of a shader with a global id ``i``, f32 buffer ``data`` and ``body``."""
    return ("def kernel(index=(\"input\", \"GlobalInvocationId\", ivec3),\n"
            "           data=(\"buffer\", 0, Array(f32))" + params + "):\n"
            "    i = index.x\n"
            + "".join(f"    {line}\n" for line in body.splitlines()))


@python2shader(local_size=(16, 4, 1))
def interface(index=("input", "GlobalInvocationId", ivec3),
              values=("buffer", 0, Array(f32)),
              counts=("buffer", 3, Array(u32)),
              pairs=("buffer", 1, Array(vec2)),
              scale=("push_constant", 0, f32),
              shift=("push_constant", 1, i32),
              center=("push_constant", 2, vec4),
              size=("spec_constant", 7, i32, 64),
              enabled=("spec_constant", 8, kp.shader.boolean, True),
              tile=("shared", Array(f32, 64))):
    i = index.x
    if enabled and i < size:
        tile[i % 64] = values[i] * scale + f32(shift) + center.w + pairs[i].y
        atomic_add(counts, 0, 1)  # noqa: F821 (resolved by the compiler)


def test_interface_reflects_as_declared():
    spirv = interface.to_spirv()
    spirv_val(spirv)
    info = reflect(spirv)
    assert info.entry_point == "main"
    assert info.local_size == (16, 4, 1)
    assert sorted((b.set, b.binding, b.name) for b in info.bindings) == [
        (0, 0, "values"), (0, 1, "pairs"), (0, 3, "counts")]
    # std430: two 4-byte scalars, then a vec4 aligned to 16 bytes.
    assert info.push_constant_size == 32
    spec = {c.id: (c.name, c.default) for c in info.spec_constants}
    assert spec == {7: ("size", 64), 8: ("enabled", True)}


def test_capabilities_only_when_used():
    plain = reflect(interface.to_spirv()).capabilities
    assert "Float64" not in plain and "Int64" not in plain

    @python2shader
    def doubles(index=("input", "GlobalInvocationId", ivec3), data=("buffer", 0, Array(f64))):
        data[index.x] = sqrt(data[index.x])  # noqa: F821

    spirv = doubles.to_spirv()
    spirv_val(spirv)
    assert "Float64" in reflect(spirv).capabilities


def test_local_size_spellings():
    source = kernel("data[i] = 1.0")
    assert reflect(shader_from_source(source, local_size=32).to_spirv()).local_size == (32, 1, 1)
    assert reflect(shader_from_source(source, local_size=(8, 8)).to_spirv()).local_size == (8, 8, 1)
    assert shader_from_source(source).local_size == (1, 1, 1)
    with pytest.raises(kp.ShaderCompileError, match="local_size must be 1 to 3 positive ints"):
        shader_from_source(source, local_size=(0, 1, 1))


def test_cached_by_source_and_arguments():
    def make(n, local_size=(1, 1, 1)):
        @python2shader(local_size=local_size)
        def fill(index=("input", "GlobalInvocationId", ivec3), data=("buffer", 0, Array(f32))):
            data[index.x] = f32(n)
        return fill.to_spirv()

    assert make(1) is make(1)
    assert make(1) != make(2)  # the closure's value is part of the key
    assert make(1) != make(1, local_size=(64, 1, 1))


def test_compiles_in_milliseconds():
    source = open(__file__.replace("test_python_shader.py", "test_python_shader_run.py")).read()
    start = source.index("def logistic_regression(")
    logistic = source[start:source.index("\n\n\n", start)]
    timings = []
    for n in range(5):
        # A distinct comment makes a distinct source: no cache hit.
        text = logistic.replace("    i = index.x", f"    i = index.x  # {n}")
        begin = time.perf_counter()
        spirv = shader_from_source(text).to_spirv()
        timings.append(time.perf_counter() - begin)
    spirv_val(spirv)
    assert min(timings) < 0.05, timings


ERRORS = [
    (kernel("data[i] = y"), 4, "undefined name 'y'"),
    (kernel("x = 0\nx = data[i]"), 5, "'x' holds integers (i32, from its first assignment)"),
    (kernel("acc = 0\nacc += data[i]"), 5, "start it as a float (`acc = 0.0`)"),
    (kernel("x = u32(1)\nx = 2.5 * data[i]"), 5, "'x' holds integers (u32"),
    (kernel("x = 1\nx = 2.5"), 5, "'x': cannot use the float 2.5 as i32"),
    (kernel("v = vec2(1.0, 2.0) + vec3(1.0, 2.0, 3.0)"), 4, "vec2 and vec3 have different lengths"),
    (kernel("import math"), 4, "unsupported statement `import math`"),
    (kernel("try:\n    pass\nexcept Exception:\n    pass"), 4, "unsupported statement `try:`"),
    (kernel("x = [1, 2] + [3]"), 4, "unsupported expression `[1, 2]`"),
    (kernel("x = min(i, u32(3))"), 4, "min() of signed and unsigned integers (i32, u32): convert"),
    (kernel("x = max(-1, u32(3))"), 4, "max() of signed and unsigned integers"),
    (kernel("x = subgroup_broadcast(data[i], i)"), 4, "subgroup_broadcast() needs a constant invocation id"),
    (kernel("x = subgroup_and(data[i])"), 4, "subgroup_and() is not defined for f32"),
    (kernel("x = subgroup_inclusive_add(data[i] > 0.0)"), 4, "subgroup_inclusive_add() is not defined for boolean"),
    (kernel("x = subgroup_elect(1)"), 4, "subgroup_elect() takes 0 arguments, got 1"),
    (kernel("x = [0.0] * i"), 4, "the length of a local array must be a positive number known"),
    (kernel("x = []"), 4, "a local array needs at least one element"),
    (kernel("x = [vec2(1.0) > 0.0]"), 4, "a local array holds numbers or vectors, not bvec2"),
    (kernel("x = [0.0] * 4\nx = [0] * 4"), 5, "'x' is a Array(f32, 4); cannot assign a Array(i32, 4)"),
    (kernel("x: Array(f32, i)"), 4, "Array(type, length) with a length known when compiling"),
    (kernel("x = [0.0] * 4\ndata[i] = square(x)"), 5, "the local array 'x' cannot be passed to square()"),
    (kernel("data[i] = foo(1.0)"), 4, "unknown function 'foo'"),
    (kernel("data[i] = math.gcd(1, 2)"), 4, "math.gcd() is not available in shaders; use one of"),
    (kernel("data[i] = math.sqrt(vec2(1.0, 2.0) > 1.0).x"), 4, "math.sqrt() needs numbers, not bvec2"),
    (kernel("data[i] = math.hypot(vec2(1.0), vec2(2.0)).x"), 4, "math.hypot() needs scalars"),
    (kernel("data[i] = math.sqrt"), 4, "`math.sqrt` is not a number"),
    (kernel('data[i] = float("one")'), 4, "could not convert 'one' to a float"),
    (kernel('data[i] = int("1")'), 4, 'only float("inf"), float("-inf") and float("nan")'),
    (kernel("data[i] = recurse(1.0)"), None, "recurse() is recursive (recurse -> recurse)"),
    (kernel("data[i] = ping(1.0)"), None, "ping() is recursive (ping -> pong -> ping)"),
    (kernel("data[i] = pair(1.0)"), 4, "pair() returns 2 values, not 1; unpack them"),
    (kernel("a, b, c = pair(1.0)"), 4, "pair() returns 2 values, not 3"),
    (kernel("data[i] = nothing(1.0)"), 4, "nothing() returns no value"),
    (kernel("data[i] = square()"), 4, "square() is missing argument 'x'"),
    (kernel("data[i] = square(1.0, 2.0)"), 4, "square() takes 1 arguments, got 2"),
    (kernel("data[i] = square(y=1.0)"), 4, "square() got an unexpected or repeated argument 'y'"),
    (kernel("data[i] = mixed(data[i])"), None, "'mixed' returns a value on one path and none"),
    (kernel("data = 1.0"), 4, "cannot assign to parameter 'data'"),
    (kernel("index.x = 1"), 4, "cannot assign to 'index', a read-only parameter"),
    (kernel("return 1"), 4, "a shader returns no value"),
    (kernel("for x in i:\n    pass"), 4, "a for loop must iterate over range(...) or an array, not `i`"),
    (kernel("data[i] = sqrt(1.0, 2.0)"), 4, "sqrt() takes 1 argument, got 2"),
    (kernel("if vec2(1.0, 2.0) > 1.0:\n    pass"), 4, "is a bvec2, not a condition; use any() or all()"),
    (kernel("data[i] = vec2(1.0, 2.0).q"), 4, "vec2 has no attribute 'q'"),
    (kernel("atomic_and(data, i, 1.0)"), 4, "atomic_and() needs an array of i32 or u32; float arrays have atomic_add"),
    (kernel("x = [0] * 4\natomic_add(x, 0, 1)"), 5, "atomic_add() needs a buffer or shared array; 'x' is local"),
    (kernel("data[i] = True + 1"), 4, "cannot use 1 as a boolean"),
    (kernel("data[i] = data"), 4, "the array 'data' can only be indexed"),
    (kernel("x = u32(1) + -1"), 4, "-1 does not fit in u32"),
    (kernel("data[i] = 1 // 0"), 4, "division or modulo by zero"),
    (kernel("data[i] = vec2(1.0, 2.0, 3.0).x"), 4, "vec2() needs 2 components, got 3"),
    (kernel("data[-1] = 1.0"), 4, "negative index -1 is not supported"),
    (kernel("m = mat2(1.0) * vec2(1.0, 2.0)"), 4, "use @ for the matrix product"),
    (kernel("x = vec3(1.0, 2.0, 3.0) @ vec2(1.0, 2.0)"), 4, "have different lengths"),
    (kernel("barrier(1)"), 4, "barrier() takes no arguments"),
    (kernel("x = range(3)"), 4, "range() is only allowed as the iterable of a for loop"),
    (kernel("x = 1\nx.y = 2"), 5, "i32 has no attribute 'y'"),
    (kernel("pass", ',\n           other=("buffer", 0, Array(f32))'), 3,
     "'other' and 'data' both use binding 0"),
    (kernel("pass", ',\n           n=("push_constant", 1, f32)'), 3,
     "push constant 'n' has index 1; the indices of push constants must be 0, 1, 2"),
    (kernel("pass", ',\n           n=("buffer", "a", Array(f32))'), 3,
     "buffer 'n' must be ('buffer', binding, Array(type))"),
    (kernel("pass", ",\n           n=5"), 3, "parameter 'n' needs a default like"),
    (kernel("pass", ',\n           n=("input", "Everything", ivec3)'), 3,
     "input 'n' must be ('input', name, type) with name one of GlobalInvocationId"),
    (kernel("pass", ',\n           n=("shared", Array(f32))'), 3,
     "shared 'n' must be ('shared', Array(type, length))"),
    # past a SPIR-V word: an internal error from struct.pack
    (kernel("pass", ',\n           n=("buffer", 2 ** 32, Array(f32))'), 3,
     "buffer 'n' must be ('buffer', binding, Array(type)), got ('buffer', 4294967296"),
    (kernel("pass", ',\n           n=("spec_constant", 2 ** 32, i32)'), 3,
     "parameter 'n' must be ('spec_constant', id, type[, default]), got ('spec_constant', 4294967296"),
    # the id of the local size kp chooses: two SpecId decorations of one id
    (kernel("pass", ',\n           n=("spec_constant", 0x6B700003, i32)'), 3,
     "constant id 1802502147 of 'n' is reserved: kp gives kernels that declare no local size theirs"),
]


def recurse(x):
    return recurse(x - 1.0) if x > 0.0 else x


def ping(x):
    return pong(x)


def pong(x):
    return ping(x)


def pair(x):
    return x, x


def nothing(x):
    pass


def square(x):
    return x * x


def mixed(x):
    if x > 0.0:
        return x


HELPERS = {f.__name__: f for f in (recurse, ping, pong, pair, nothing, square, mixed)}
HELPERS["math"] = math


@pytest.mark.parametrize("source, line, message", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_errors_name_file_line_and_construct(source, line, message):
    with pytest.raises(kp.ShaderCompileError) as error:
        shader_from_source(source, namespace=HELPERS)
    # line None: the mistake is in a function of this file that the kernel calls.
    where = rf"<python-shader-\d+>:{line}" if line else rf"{re.escape(__file__)}:\d+"
    assert re.fullmatch(rf"{where}: .*", str(error.value)), str(error.value)
    assert message in str(error.value)
    # Raised by the compiler's checks, not translated from an exception inside it.
    assert error.value.__cause__ is None and error.value.__context__ is None


def test_error_points_into_the_module_file():
    with pytest.raises(kp.ShaderCompileError) as error:
        @python2shader
        def broken(index=("input", "GlobalInvocationId", ivec3), data=("buffer", 0, Array(f32))):
            data[index.x] = undefined_name  # noqa: F821
    line = test_error_points_into_the_module_file.__code__.co_firstlineno + 4
    assert str(error.value) == f"{__file__}:{line}: undefined name 'undefined_name'"


def test_decorator_misuse_and_bad_types_are_compile_errors():
    line = test_decorator_misuse_and_bad_types_are_compile_errors.__code__.co_firstlineno
    with pytest.raises(kp.ShaderCompileError) as error:
        python2shader(64)
    assert str(error.value) == (f"{__file__}:{line + 3}: python2shader(64) takes a function; "
                                f"write @python2shader(local_size=64)")
    with pytest.raises(kp.ShaderCompileError) as error:
        Array(float)
    assert str(error.value) == (f"{__file__}:{line + 7}: Array elements must be numeric shader "
                                f"types, not float; write Array(f32)")
    with pytest.raises(kp.ShaderCompileError, match=r"Array length must be a positive int, not 0"):
        Array(f32, 0)


def test_called_function_errors_point_into_its_source():
    def helper(x):
        return x.nope

    line = helper.__code__.co_firstlineno + 1
    with pytest.raises(kp.ShaderCompileError) as error:
        @python2shader
        def calls(index=("input", "GlobalInvocationId", ivec3), data=("buffer", 0, Array(f32))):
            data[index.x] = helper(data[index.x])
    assert str(error.value) == f"{__file__}:{line}: f32 has no attribute 'nope'"


def test_source_must_be_available():
    namespace = {"ivec3": ivec3, "Array": Array, "f32": f32}
    exec("def nosource(index=('input', 'GlobalInvocationId', ivec3)):\n    pass\n", namespace)
    with pytest.raises(kp.ShaderCompileError, match="cannot read the source of nosource"):
        python2shader(namespace["nosource"])


def test_module_docstring_examples_compile():
    import kp.shader.python as module
    examples = re.findall(r"::\n\n((?:(?: {4,}.*)?\n)+)", module.__doc__)
    kernels = [textwrap.dedent(e) for e in examples if "@python2shader" in e and "mgr." not in e]
    assert len(kernels) >= 5
    for n, source in enumerate(kernels):
        shaders = shaders_from_source(source, namespace={"math": math})
        for shader in shaders:
            spirv_val(shader.to_spirv())
