#version 450
// Weight gradient of a linear layer, f32:  dW[n][k] (+)= Σ_t dy[t][n] · x[t][k]
// (dy [T][N], x [T][K]; dW [N][K] in W's row layout).  Tiled like matmul.comp: workgroup TS×TS,
// each invocation RM×RN outputs of a BM×BN tile (rows n, columns k), reduction over tokens in
// steps of BK through shared memory.  Specialization: 0 WG (= TS·TS), 1 TS, 2 RM, 3 RN, 4 BK.
// Bindings: 0 dy, 1 x, 2 dW.
#define NO_REDUCE
#include "common.glsl"
layout(constant_id = 1) const uint TS = 8;
layout(constant_id = 2) const uint RM = 2;
layout(constant_id = 3) const uint RN = 2;
layout(constant_id = 4) const uint BK = 16;

layout(std430, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) buffer DW { float dw[]; };
layout(push_constant) uniform P { uint T, K, N, accumulate; } p;

#ifdef USE_FP16
#define SH float16_t
#else
#define SH float
#endif
shared SH As[TS * RM * BK];   // [BM rows n][BK tokens]
shared SH Bs[TS * RN * BK];   // [BN cols k][BK tokens]

void main() {
    const uint BM = TS * RM, BN = TS * RN;
    uint lid = gl_LocalInvocationID.x, tx = lid % TS, ty = lid / TS;
    uint n0 = gl_WorkGroupID.y * BM, k0 = gl_WorkGroupID.x * BN;
    float acc[RM * RN];
    [[unroll]] for (uint i = 0; i < RM * RN; i++) acc[i] = 0.0;
    for (uint t0 = 0; t0 < p.T; t0 += BK) {
        for (uint e = lid; e < BM * BK; e += WG) {
            uint nn = e % BM, tt = e / BM;       // consecutive invocations: consecutive n
            uint n = n0 + nn, t = t0 + tt;
            As[nn * BK + tt] = SH(n < p.N && t < p.T ? dy[t * p.N + n] : 0.0);
        }
        for (uint e = lid; e < BN * BK; e += WG) {
            uint kk = e % BN, tt = e / BN;
            uint k = k0 + kk, t = t0 + tt;
            Bs[kk * BK + tt] = SH(k < p.K && t < p.T ? x[t * p.K + k] : 0.0);
        }
        barrier();
        for (uint tt = 0; tt < BK; tt++) {
            SH av[RM], bv[RN];
            [[unroll]] for (uint i = 0; i < RM; i++) av[i] = As[(ty + i * TS) * BK + tt];
            [[unroll]] for (uint j = 0; j < RN; j++) bv[j] = Bs[(tx + j * TS) * BK + tt];
            [[unroll]] for (uint i = 0; i < RM; i++)
                [[unroll]] for (uint j = 0; j < RN; j++) acc[i * RN + j] += float(av[i] * bv[j]);
        }
        barrier();
    }
    [[unroll]] for (uint i = 0; i < RM; i++) {
        uint n = n0 + ty + i * TS;
        [[unroll]] for (uint j = 0; j < RN; j++) {
            uint k = k0 + tx + j * TS;
            if (n < p.N && k < p.K) {
                uint o = n * p.K + k;
                dw[o] = p.accumulate != 0u ? dw[o] + acc[i * RN + j] : acc[i * RN + j];
            }
        }
    }
}
