"""Shader compilation: GLSL through glslangValidator, SPIR-V reflection, and
Python functions compiled to SPIR-V with ``python2shader``."""

from .builtin import builtin_spirv
from .glsl import as_spirv, compile_file, compile_source
from .python import *  # noqa: F401,F403
from .python import __all__ as _python_all
from .spirv import ShaderInfo, reflect

__all__ = ["ShaderInfo", "as_spirv", "builtin_spirv", "compile_file", "compile_source", "reflect", *_python_all]
