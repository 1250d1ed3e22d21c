#version 450
// Element-wise product of two float32 tensors: out[i] = a[i] * b[i] for i < n.
//
// Each buffer is declared twice at the same binding: as vec4[] for the bulk of
// the work (one 16-byte load per operand per iteration) and as float[] for the
// last n % 4 elements, so tensors of any length work without padding.

// local_size_x is a specialization constant (id 0) so the runtime can pick the
// workgroup size per device; 256 is its default.
layout(local_size_x = 256, local_size_x_id = 0) in;

layout(push_constant) uniform Params { uint n; } params;

layout(std430, set = 0, binding = 0) readonly buffer InA4 { vec4 a4[]; };
layout(std430, set = 0, binding = 0) readonly buffer InA { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer InB4 { vec4 b4[]; };
layout(std430, set = 0, binding = 1) readonly buffer InB { float b[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Out4 { vec4 out4[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Out { float out1[]; };

void main() {
    uint id = gl_GlobalInvocationID.x;
    uint n = params.n;
    uint n4 = n / 4u;
    // Grid-stride loop: any number of workgroups covers any n.
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = id; i < n4; i += stride) {
        out4[i] = a4[i] * b4[i];
    }
    // The first n % 4 invocations take one tail element each; comparing id to
    // the remainder first keeps n4 * 4 + id from overflowing near 2^32.
    if (id < (n & 3u)) {
        uint t = n4 * 4u + id;
        out1[t] = a[t] * b[t];
    }
}
