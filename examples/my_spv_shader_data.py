"""The shader module the seed's "multiple sequences" example imports: SPIR-V
bytes compiled from GLSL. Each shader runs one invocation per element."""

import kp

_ELEMENTWISE = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer Lhs {{ float lhs[]; }};
layout(set = 0, binding = 1) buffer Rhs {{ float rhs[]; }};
layout(set = 0, binding = 2) buffer Out {{ float result[]; }};
void main() {{
    uint i = gl_GlobalInvocationID.x;
    result[i] = lhs[i] {} rhs[i];
}}
"""

# tensors [a, b, out]: out = a * b
mult_shader: bytes = kp.shader.compile_source(_ELEMENTWISE.format("*"))
# tensors [a, b, out]: out = a + b
sum_shader: bytes = kp.shader.compile_source(_ELEMENTWISE.format("+"))
