#version 450
// Tiled matrix products over one row chunk of W (any weight type, dequantized on the fly into
// shared memory as tiles are loaded), for prefill and training:
//   forward (default):  y[t, n]  (+)= sum_k x[t, k]  * W[n, k]      n in this chunk's rows
//   DX defined:         dx[t, k] (+)= sum_n dy[t, n] * W[n, k]      n in this chunk's rows
// (dX = dY·W: the input gradient through a frozen, possibly quantized, weight).
// Workgroup TS×TS invocations; each computes RM×RN outputs; tiles BM=TS·RM by BN=TS·RN, BK deep.
// Specialization: 0 WG (= TS·TS), 1 TS, 2 RM, 3 RN, 4 BK (multiple of 4).  Shared memory:
// (BM + BN)·BK floats (halves with USE_FP16).
// Bindings: 0 W chunk, 1 A (x or dy, f32), 2 C (y or dx, f32), 3 NF4 aux.
// Rows: the dispatch covers rows row_off .. row_off + nrows of the bound chunk, whose first row
// is row row_base of the whole weight; they are columns col_base.. of y (forward) or of dy (DX),
// whose rows are N floats long.  A whole chunk: row_off 0, col_base = row_base, N = W's rows; a
// vocabulary chunk of the cross-entropy head: its rows, col_base 0, N = the chunk's rows.
#define NO_REDUCE
#include "common.glsl"
#define WBIND 0
#define WAUX 3
#include "dequant.glsl"

layout(constant_id = 1) const uint TS = 8;
layout(constant_id = 2) const uint RM = 2;
layout(constant_id = 3) const uint RN = 2;
layout(constant_id = 4) const uint BK = 16;

layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) buffer C { float c[]; };
layout(push_constant) uniform P {
    uint T, K, N, nrows, row_base, accumulate, row_off, col_base;
} p;

#ifdef USE_FP16
#define SH float16_t
#else
#define SH float
#endif
shared SH As[TS * RM * BK];   // [BM][BK]
shared SH Bs[TS * RN * BK];   // [BN][BK]: B(o, r)

void main() {
    const uint BM = TS * RM, BN = TS * RN;
    uint lid = gl_LocalInvocationID.x;
    uint tx = lid % TS, ty = lid / TS;
    uint t0 = gl_WorkGroupID.y * BM, o0 = gl_WorkGroupID.x * BN;
#ifdef DX
    uint OUT = p.K, R = p.nrows, lda = p.N, acol = p.col_base, ldc = p.K, ccol = 0u;
#else
    uint OUT = p.nrows, R = p.K, lda = p.K, acol = 0u, ldc = p.N, ccol = p.col_base;
#endif
    float acc[RM * RN];
    [[unroll]] for (uint i = 0; i < RM * RN; i++) acc[i] = 0.0;

    for (uint r0 = 0; r0 < R; r0 += BK) {
        for (uint e = lid; e < BM * BK; e += WG) {          // A tile: rows t, cols r
            uint tt = e / BK, rr = e % BK;
            uint t = t0 + tt, r = r0 + rr;
            As[e] = SH(t < p.T && r < R ? a[t * lda + acol + r] : 0.0);
        }
        for (uint e = lid; e < BN * BK / 4u; e += WG) {     // B tile, 4 elements per load
#ifdef DX
            uint rr = e / (BN / 4u), oo = 4u * (e % (BN / 4u));
            uint r = r0 + rr, o = o0 + oo;                   // W row r, columns o..o+3
            vec4 w = r < R && o < OUT ? w_load4(p.row_off + r, o, p.K, p.row_base) : vec4(0.0);
            [[unroll]] for (uint i = 0; i < 4u; i++) Bs[(oo + i) * BK + rr] = SH(w[i]);
#else
            uint oo = e / (BK / 4u), rr = 4u * (e % (BK / 4u));
            uint o = o0 + oo, r = r0 + rr;                   // W row o, columns r..r+3
            vec4 w = o < OUT && r < R ? w_load4(p.row_off + o, r, p.K, p.row_base) : vec4(0.0);
            [[unroll]] for (uint i = 0; i < 4u; i++) Bs[oo * BK + rr + i] = SH(w[i]);
#endif
        }
        barrier();
        for (uint kk = 0; kk < BK; kk++) {
            SH av[RM], bv[RN];
            [[unroll]] for (uint i = 0; i < RM; i++) av[i] = As[(ty + i * TS) * BK + kk];
            [[unroll]] for (uint j = 0; j < RN; j++) bv[j] = Bs[(tx + j * TS) * BK + kk];
            [[unroll]] for (uint i = 0; i < RM; i++)
                [[unroll]] for (uint j = 0; j < RN; j++) acc[i * RN + j] += float(av[i] * bv[j]);
        }
        barrier();
    }
    [[unroll]] for (uint i = 0; i < RM; i++) {
        uint t = t0 + ty + i * TS;
        [[unroll]] for (uint j = 0; j < RN; j++) {
            uint o = o0 + tx + j * TS;
            if (t < p.T && o < OUT) {
                uint ci = t * ldc + ccol + o;
                c[ci] = p.accumulate != 0u ? c[ci] + acc[i * RN + j] : acc[i * RN + j];
            }
        }
    }
}
