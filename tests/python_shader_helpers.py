"""Helpers of the python2shader tests: validate SPIR-V with spirv-val, run a
shader on the device, and compile shaders written as source text."""

from __future__ import annotations

import itertools
import linecache
import tempfile
import textwrap

import numpy as np

import kp
import kp.shader
from kp.shader import tools

_generated = itertools.count()


def spirv_val(spirv: bytes) -> None:
    """Assert that spirv-val accepts ``spirv`` for Vulkan 1.1."""
    with tempfile.NamedTemporaryFile(suffix=".spv") as file:
        file.write(spirv)
        file.flush()
        result = tools.find(tools.SPIRV_VAL).run(["--target-env", "vulkan1.1", file.name],
                                                 capture_output=True, text=True)
    assert result.returncode == 0, f"spirv-val: {result.stdout}{result.stderr}"


def dispatch(mgr: kp.Manager, shader, *arrays, workgroup=None, spec_consts=(),
             push_consts=()) -> list[np.ndarray]:
    """Validate ``shader``, run it once over tensors holding ``arrays`` (dtypes kept,
    binding i = array i) and return the arrays the device left in them."""
    spirv = shader.to_spirv()
    spirv_val(spirv)
    tensors = [mgr.tensor_t(np.array(a)) for a in arrays]
    algo = mgr.algorithm(tensors, spirv, workgroup=workgroup, spec_consts=spec_consts,
                         push_consts=push_consts)
    (mgr.sequence()
        .record(kp.OpSyncDevice(tensors))
        .record(kp.OpAlgoDispatch(algo))
        .record(kp.OpSyncLocal(tensors))
        .eval())
    return [t.numpy().copy() for t in tensors]


def shader_from_source(source: str, local_size=(1, 1, 1), namespace: dict | None = None):
    """Compile the one function defined in ``source`` (which may use every name
    ``kp.shader`` exports, and those of ``namespace``), as if written in a module."""
    source = textwrap.dedent(source)
    (func,) = _define(source, namespace)
    return kp.shader.python2shader(func, local_size=local_size)


def shaders_from_source(source: str, namespace: dict | None = None) -> list:
    """The ``@python2shader`` functions that ``source`` (a module's text) defines."""
    return [v for v in _define(source, namespace) if isinstance(v, kp.shader.PythonShader)]


def _define(source: str, namespace: dict | None) -> list:
    filename = f"<python-shader-{next(_generated)}>"
    # inspect.getsource finds the text of code compiled from a string in linecache.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = {name: getattr(kp.shader, name) for name in kp.shader.__all__}
    module.update(namespace or {})
    defined = set(module)
    exec(compile(source, filename, "exec"), module)
    return [v for k, v in module.items() if k not in defined and k != "__builtins__"]
