#version 450
// C = A @ B for float32 matrices in row-major order: A is M x K, B is K x N,
// C is M x N, for any M, N, K.
//
// Each workgroup of 256 invocations computes one 128 x 128 tile of C; each
// invocation 8 x 8 of it, held in registers, as two 4-row by two 4-column
// blocks 64 apart so that its reads of the shared tiles are 16-byte and hit
// distinct banks across a subgroup. The K dimension is walked 8 at a time:
// the next 128 x 8 slice of A and 8 x 128 slice of B are read from global
// memory into registers while the current ones, in shared memory (two
// buffers, one barrier per step), are multiplied.
//
// Tiles wholly inside the matrices, where rows start on 16 bytes (K and N
// multiples of 4), are read as vec4; the others element by element, with
// zeros outside, which is what makes any size work.

#extension GL_EXT_control_flow_attributes : require

layout(local_size_x = 256) in;

layout(push_constant) uniform Params { uint M; uint N; uint K; } params;

layout(std430, set = 0, binding = 0) readonly buffer InA4 { vec4 a4[]; };
layout(std430, set = 0, binding = 0) readonly buffer InA { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer InB4 { vec4 b4[]; };
layout(std430, set = 0, binding = 1) readonly buffer InB { float b[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Out4 { vec4 c4[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Out { float c[]; };

const uint BM = 128u, BN = 128u, BK = 8u;

// A's slice transposed (k-major) so that a row of invocations reads 4 rows of
// A as one vec4; B's slice as it is.
shared vec4 As[2][BK][BM / 4u];
shared vec4 Bs[2][BK][BN / 4u];

vec4 loadA(uint row, uint k, bool fast) {
    uint M = params.M, K = params.K;
    if (fast) {
        return a4[(row * K + k) / 4u];
    }
    vec4 v = vec4(0.0);
    if (row < M) {
        [[unroll]] for (uint i = 0u; i < 4u; i++) {
            if (k + i < K) {
                v[i] = a[row * K + k + i];
            }
        }
    }
    return v;
}

vec4 loadB(uint k, uint col, bool fast) {
    uint N = params.N, K = params.K;
    if (fast) {
        return b4[(k * N + col) / 4u];
    }
    vec4 v = vec4(0.0);
    if (k < K) {
        [[unroll]] for (uint i = 0u; i < 4u; i++) {
            if (col + i < N) {
                v[i] = b[k * N + col + i];
            }
        }
    }
    return v;
}

void main() {
    uint M = params.M, N = params.N, K = params.K;
    uint t = gl_LocalInvocationID.x;
    uint tx = t % 16u, ty = t / 16u;
    uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;

    // What each invocation copies: one vec4 of A (row aRow, columns aK..aK+3 of
    // the slice) and one of B (row bK, columns bCol..bCol+3).
    uint aRow = t / 2u, aK = (t % 2u) * 4u;
    uint bK = t / 32u, bCol = (t % 32u) * 4u;
    bool aligned = (K % 4u == 0u) && (N % 4u == 0u);
    bool rowsInside = aligned && m0 + BM <= M;
    bool colsInside = aligned && n0 + BN <= N;

    vec4 acc[8][2];
    [[unroll]] for (uint i = 0u; i < 8u; i++) {
        acc[i][0] = vec4(0.0);
        acc[i][1] = vec4(0.0);
    }

    uint steps = (K + BK - 1u) / BK;
    bool kInside = BK <= K;
    vec4 nextA = loadA(m0 + aRow, aK, rowsInside && kInside);
    vec4 nextB = loadB(bK, n0 + bCol, colsInside && kInside);
    for (uint s = 0u; s < steps; s++) {
        uint buf = s & 1u;
        [[unroll]] for (uint i = 0u; i < 4u; i++) {
            As[buf][aK + i][aRow / 4u][aRow % 4u] = nextA[i];
        }
        Bs[buf][bK][bCol / 4u] = nextB;
        barrier();
        uint k1 = (s + 1u) * BK;
        if (s + 1u < steps) {  // the next slice's reads overlap this slice's products
            kInside = k1 + BK <= K;
            nextA = loadA(m0 + aRow, k1 + aK, rowsInside && kInside);
            nextB = loadB(k1 + bK, n0 + bCol, colsInside && kInside);
        }
        [[unroll]] for (uint k = 0u; k < BK; k++) {
            vec4 a0 = As[buf][k][ty], a1 = As[buf][k][ty + 16u];
            vec4 b0 = Bs[buf][k][tx], b1 = Bs[buf][k][tx + 16u];
            [[unroll]] for (uint i = 0u; i < 4u; i++) {
                acc[i][0] += a0[i] * b0;
                acc[i][1] += a0[i] * b1;
                acc[i + 4u][0] += a1[i] * b0;
                acc[i + 4u][1] += a1[i] * b1;
            }
        }
        // No second barrier: the next step writes the other buffer, and the step
        // after that writes this one only after the next step's barrier.
    }

    [[unroll]] for (uint i = 0u; i < 8u; i++) {
        uint row = m0 + (i < 4u ? ty * 4u + i : 64u + ty * 4u + i - 4u);
        if (row >= M) {
            continue;
        }
        [[unroll]] for (uint j = 0u; j < 2u; j++) {
            uint col = n0 + j * 64u + tx * 4u;
            if (aligned && col + 4u <= N) {
                c4[(row * N + col) / 4u] = acc[i][j];
            } else {
                [[unroll]] for (uint e = 0u; e < 4u; e++) {
                    if (col + e < N) {
                        c[row * N + col + e] = acc[i][j][e];
                    }
                }
            }
        }
    }
}
