"""kp.shader.stdlib: pyshader's standard library names, written the pyshader way
(``from ... stdlib import exp, log``), compiled as kp's built-ins."""

import numpy as np
import pytest

import kp
import kp.shader.stdlib as stdlib
from kp.shader import Array, Image2D, f32, ivec2, ivec3, python2shader, vec2, vec3
from kp.shader.stdlib import exp, face_forward, log, nmax, read, round, smooth_step, write
from python_shader_helpers import dispatch, shader_from_source

# pyshader 0.7.0's stdlib functions, all of which kernels written for it may import.
PYSHADER_NAMES = (
    "read write sample round round_even trunc abs sign floor ceil fract radians degrees sin cos tan asin "
    "acos atan sinh cosh tanh asinh acosh atanh atan2 pow exp log exp2 log2 sqrt matrix_inverse min max "
    "clamp mix step smooth_step length distance cross normalize face_forward reflect nmin nmax nclamp"
).split()


@python2shader
def logistic(index=("input", "GlobalInvocationId", ivec3), x=("buffer", 0, Array(f32)),
             y=("buffer", 1, Array(f32)), loss=("buffer", 2, Array(f32))):
    i = index.x
    y_hat = 1.0 / (1.0 + exp(-x[i]))
    loss[i] = -(y[i] * log(y_hat) + (1.0 - y[i]) * log(1.0 - y_hat))


def test_logistic_loss_with_pyshader_imports(mgr):
    x = np.array([-2.0, -0.5, 0.0, 0.7, 3.0], np.float32)
    y = np.array([0.0, 1.0, 0.0, 1.0, 1.0], np.float32)
    *_, loss = dispatch(mgr, logistic, x, y, np.zeros(5, np.float32))
    y_hat = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(loss, -(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat)), rtol=1e-5)


@python2shader
def pyshader_meanings(index=("input", "GlobalInvocationId", ivec3), x=("buffer", 0, Array(f32)),
                      out=("buffer", 1, Array(f32))):
    i = index.x
    v = x[i]
    # the module-qualified form, pyshader's own names, and round keeping the float type
    out[i * 4] = stdlib.sqrt(abs(v)) + stdlib.matrix_inverse(mat2(2.0)) [0][0]  # noqa: F821
    out[i * 4 + 1] = round(v) + 0.25
    out[i * 4 + 2] = smooth_step(-1.0, 1.0, v) + nmax(v, 0.0)
    out[i * 4 + 3] = face_forward(vec3(1.0, 0.0, 0.0), vec3(v, 0.0, 0.0), vec3(1.0, 0.0, 0.0)).x


def test_pyshader_names_keep_pyshader_meanings(mgr):
    x = np.array([-2.5, -0.5, 0.5, 1.5, 2.5], np.float32)
    _, out = dispatch(mgr, pyshader_meanings, x, np.zeros(20, np.float32))
    t = np.clip((x + 1) / 2, 0, 1)
    expected = np.stack([np.sqrt(np.abs(x)) + 0.5, np.round(x) + 0.25, t * t * (3 - 2 * t) + np.maximum(x, 0),
                         np.where(x < 0, 1.0, -1.0)], axis=1)
    np.testing.assert_allclose(out.reshape(5, 4), expected, rtol=1e-6)


@python2shader
def flip(index=("input", "GlobalInvocationId", ivec3), src=("image", 0, Image2D("r32f")),
         dst=("image", 1, Image2D("r32f"))):
    p = index.xy
    write(dst, p, read(src, ivec2(p.y, p.x)) * 2.0)


def test_read_and_write_images(mgr):
    data = np.arange(16, dtype=np.float32).reshape(4, 4)
    src, dst = mgr.image(data.reshape(-1), 4, 4, 1), mgr.image(np.zeros(16), 4, 4, 1)
    algo = mgr.algorithm([src, dst], flip, workgroup=(4, 4, 1))
    mgr.sequence().record(kp.OpSyncDevice([src, dst])).record(kp.OpAlgoDispatch(algo)) \
        .record(kp.OpSyncLocal([dst])).eval()
    np.testing.assert_array_equal(dst.data().reshape(4, 4), data.T * 2)


def test_stdlib_has_pyshaders_names_and_they_raise_outside_a_shader():
    assert sorted(stdlib.__all__) == sorted(PYSHADER_NAMES)
    for name in PYSHADER_NAMES:
        assert getattr(stdlib, name).__doc__
    with pytest.raises(kp.ShaderCompileError, match=r"kp\.shader\.stdlib\.exp\(\) only works inside "
                                                    r"a function compiled with @python2shader"):
        exp(1.0)


def test_sample_is_refused_with_what_to_write():
    def sampled(index=("input", "GlobalInvocationId", ivec3), img=("image", 0, Image2D("r32f")),
                out=("buffer", 1, Array(f32))):
        out[index.x] = stdlib.sample(img, 0, vec2(0.5, 0.5)).x

    with pytest.raises(kp.ShaderCompileError, match=r"sample\(\) needs a sampled texture; kp binds "
                                                    r"storage images: read a texel with read"):
        python2shader(sampled)


@pytest.mark.parametrize("body, message", [
    # a keyword was dropped, then counted as a missing argument
    ("out[index.x] = exp(x=out[index.x])", r"exp\(\) takes no keyword arguments"),
    ("out[index.x] = stdlib.clamp(out[index.x], 0.0, max_val=1.0)", r"clamp\(\) takes no keyword arguments"),
])
def test_stdlib_functions_take_no_keywords(body, message):
    source = f"def kernel(index=('input', 'GlobalInvocationId', ivec3), out=('buffer', 0, Array(f32))):\n    {body}\n"
    with pytest.raises(kp.ShaderCompileError, match=message):
        shader_from_source(source, namespace={"exp": exp, "stdlib": stdlib})
