#version 450
// C = A @ B on tensor cores: float16 A (M x K) and B (K x N), float32 C
// (M x N), row-major, any M, N, K; through GL_KHR_cooperative_matrix with
// 16 x 16 x 16 float16 -> float32 products at subgroup scope (subgroups of 32).
//
// Each workgroup computes a BM x BN tile of C, each subgroup a WM x WN part of
// it as (WM/16) x (WN/16) accumulators. K is walked BK at a time: the next
// BM x BK slice of A and BK x BN slice of B are read from global memory into
// registers (16 bytes per read) while the current ones, in shared memory, are
// multiplied; NBUF = 2 shared buffers need one barrier per step, 1 needs two.
// Shared rows are padded by 16 bytes so that the rows a cooperative load reads
// start in different banks. The defaults are the fastest of the sizes tried on an
// NVIDIA H200 (benchmarks/run_all.py --only matmul; README).
//
// Slices wholly inside the matrices, where rows start on 16 bytes (K and N
// multiples of 8), are read as uvec4; the others element by element with zeros
// outside, and result tiles that cross the edge of C are written through
// shared memory, element by element: that is what makes any size work.

#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_control_flow_attributes : require

#ifndef BM
#define BM 256
#endif
#ifndef BN
#define BN 128
#endif
#ifndef BK
#define BK 32
#endif
#ifndef WM
#define WM 64
#endif
#ifndef WN
#define WN 64
#endif
#ifndef NBUF
#define NBUF 1
#endif
#ifndef GROUP_M
#define GROUP_M 16
#endif

#define SUBGROUPS ((BM / WM) * (BN / WN))
#define THREADS (SUBGROUPS * 32)
layout(local_size_x = THREADS) in;

layout(push_constant) uniform Params { uint M; uint N; uint K; } params;

layout(std430, set = 0, binding = 0) readonly buffer InA8 { uvec4 a8[]; };
layout(std430, set = 0, binding = 0) readonly buffer InA { float16_t a[]; };
layout(std430, set = 0, binding = 1) readonly buffer InB8 { uvec4 b8[]; };
layout(std430, set = 0, binding = 1) readonly buffer InB { float16_t b[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Out { float c[]; };

// Row strides in uvec4 (8 halves), one uvec4 of padding each.
const uint A_STRIDE = BK / 8 + 1;
const uint B_STRIDE = BN / 8 + 1;
const uint A_CHUNKS = BM * BK / 8 / THREADS;  // uvec4 per invocation per slice
const uint B_CHUNKS = BK * BN / 8 / THREADS;

shared uvec4 As[NBUF][BM * A_STRIDE];
shared uvec4 Bs[NBUF][BK * B_STRIDE];
shared float Cs[SUBGROUPS][16 * 16];  // one accumulator per subgroup, for edge tiles

// Eight halves of row `row` from column `col` of a rows x cols matrix, zeros outside.
uvec4 gatherA(uint row, uint col) {
    uint M = params.M, K = params.K;
    f16vec2 h[4];
    [[unroll]] for (uint i = 0; i < 4; i++) {
        h[i] = f16vec2(0.0hf);
        [[unroll]] for (uint j = 0; j < 2; j++) {
            uint k = col + 2 * i + j;
            if (row < M && k < K) {
                h[i][j] = a[row * K + k];
            }
        }
    }
    return uvec4(packFloat2x16(h[0]), packFloat2x16(h[1]), packFloat2x16(h[2]), packFloat2x16(h[3]));
}

uvec4 gatherB(uint row, uint col) {
    uint N = params.N, K = params.K;
    f16vec2 h[4];
    [[unroll]] for (uint i = 0; i < 4; i++) {
        h[i] = f16vec2(0.0hf);
        [[unroll]] for (uint j = 0; j < 2; j++) {
            uint n = col + 2 * i + j;
            if (row < K && n < N) {
                h[i][j] = b[row * N + n];
            }
        }
    }
    return uvec4(packFloat2x16(h[0]), packFloat2x16(h[1]), packFloat2x16(h[2]), packFloat2x16(h[3]));
}

void main() {
    uint M = params.M, N = params.N, K = params.K;
    uint t = gl_LocalInvocationID.x;
    uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
    uint wm = sg / (BN / WN), wn = sg % (BN / WN);
    // Workgroups run in groups of GROUP_M tile rows, column after column, so that
    // the tiles computed at one time share rows of A and columns of B in the L2 cache
    // (on the H200 8 rows gave 212-214 TFLOP/s against 144 without, 16 rows 221-222;
    // the float32 kernel ran slower so).
    uint tilesN = gl_NumWorkGroups.x, tilesM = gl_NumWorkGroups.y;
    uint id = gl_WorkGroupID.y * tilesN + gl_WorkGroupID.x;
    uint firstM = id / (GROUP_M * tilesN) * GROUP_M;
    uint groupM = min(tilesM - firstM, GROUP_M);
    uint m0 = (firstM + id % groupM) * BM, n0 = (id % (GROUP_M * tilesN)) / groupM * BN;
    bool aligned = (K % 8 == 0) && (N % 8 == 0);
    bool rowsInside = aligned && m0 + BM <= M;
    bool colsInside = aligned && n0 + BN <= N;

    coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator> acc[WM / 16][WN / 16];
    [[unroll]] for (uint i = 0; i < WM / 16; i++) {
        [[unroll]] for (uint j = 0; j < WN / 16; j++) {
            acc[i][j] = coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>(0.0);
        }
    }

    uvec4 ra[A_CHUNKS], rb[B_CHUNKS];
    uint steps = (K + BK - 1) / BK;
    for (uint s = 0; s <= steps; s++) {
        if (s > 0) {
            uint buf = (s - 1) % NBUF;
            [[unroll]] for (uint i = 0; i < A_CHUNKS; i++) {
                uint q = t + i * THREADS;
                As[buf][(q / (BK / 8)) * A_STRIDE + q % (BK / 8)] = ra[i];
            }
            [[unroll]] for (uint i = 0; i < B_CHUNKS; i++) {
                uint q = t + i * THREADS;
                Bs[buf][(q / (BN / 8)) * B_STRIDE + q % (BN / 8)] = rb[i];
            }
            barrier();
        }
        if (s < steps) {  // the next slice's reads overlap this slice's products
            uint k0 = s * BK;
            bool kInside = k0 + BK <= K;
            [[unroll]] for (uint i = 0; i < A_CHUNKS; i++) {
                uint q = t + i * THREADS;
                uint row = m0 + q / (BK / 8), col = k0 + (q % (BK / 8)) * 8;
                ra[i] = rowsInside && kInside ? a8[(row * K + col) / 8] : gatherA(row, col);
            }
            [[unroll]] for (uint i = 0; i < B_CHUNKS; i++) {
                uint q = t + i * THREADS;
                uint row = k0 + q / (BN / 8), col = n0 + (q % (BN / 8)) * 8;
                rb[i] = colsInside && kInside ? b8[(row * N + col) / 8] : gatherB(row, col);
            }
        }
        if (s > 0) {
            uint buf = (s - 1) % NBUF;
            [[unroll]] for (uint kk = 0; kk < BK / 16; kk++) {
                coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA> fa[WM / 16];
                coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB> fb[WN / 16];
                [[unroll]] for (uint i = 0; i < WM / 16; i++) {
                    coopMatLoad(fa[i], As[buf], (wm * WM + i * 16) * A_STRIDE + kk * 2, A_STRIDE,
                                gl_CooperativeMatrixLayoutRowMajor);
                }
                [[unroll]] for (uint j = 0; j < WN / 16; j++) {
                    coopMatLoad(fb[j], Bs[buf], (kk * 16) * B_STRIDE + (wn * WN + j * 16) / 8, B_STRIDE,
                                gl_CooperativeMatrixLayoutRowMajor);
                }
                [[unroll]] for (uint i = 0; i < WM / 16; i++) {
                    [[unroll]] for (uint j = 0; j < WN / 16; j++) {
                        acc[i][j] = coopMatMulAdd(fa[i], fb[j], acc[i][j]);
                    }
                }
            }
#if NBUF == 1
            barrier();  // everyone is done with the buffer before it is refilled
#endif
        }
    }

    [[unroll]] for (uint i = 0; i < WM / 16; i++) {
        [[unroll]] for (uint j = 0; j < WN / 16; j++) {
            uint row = m0 + wm * WM + i * 16, col = n0 + wn * WN + j * 16;
            if (row + 16 <= M && col + 16 <= N && N % 4 == 0) {
                coopMatStore(acc[i][j], c, row * N + col, N, gl_CooperativeMatrixLayoutRowMajor);
            } else {
                coopMatStore(acc[i][j], Cs[sg], 0, 16, gl_CooperativeMatrixLayoutRowMajor);
                subgroupMemoryBarrierShared();
                subgroupBarrier();
                for (uint e = lane; e < 256; e += 32) {
                    uint r = row + e / 16, cc = col + e % 16;
                    if (r < M && cc < N) {
                        c[r * N + cc] = Cs[sg][e];
                    }
                }
                subgroupBarrier();  // read before the next accumulator overwrites it
            }
        }
    }
}
