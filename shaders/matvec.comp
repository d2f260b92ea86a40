#version 450
// Matrix-vector products for decode (few tokens): y[t, n] (+)= sum_k W[n, k] * x[t, k], over
// one row chunk of W of any weight type (dequantized on the fly, dequant.glsl).
// One workgroup per output row and token; its WG invocations stride over K four elements at a
// time and reduce with wg_sum.  Memory-bound: each weight byte is read once per token.
// Bindings: 0 W chunk, 1 x (T×K f32), 2 y (T×N f32), 3 NF4 aux.  Grid: rows in x (and y when
// more than 65535), tokens in z.  Rows row_off.. of the chunk (whose first row is row_base of
// the weight) go to columns col_base.. of y, as in matmul.comp.
#include "common.glsl"
#define WBIND 0
#define WAUX 3
#include "dequant.glsl"

layout(std430, binding = 1) readonly buffer X { vec4 x4[]; };
layout(std430, binding = 2) buffer Y { float y[]; };
layout(push_constant) uniform P {
    uint K, N, nrows, row_base, accumulate, row_off, col_base;
} p;

void main() {
    uint row = wg_linear();
    if (row >= p.nrows) return;                 // uniform across the workgroup
    uint t = gl_WorkGroupID.z;
    uint xb = t * (p.K / 4u);
    float acc = 0.0;
    for (uint k = 4u * gl_LocalInvocationID.x; k < p.K; k += 4u * WG) {
        vec4 w = w_load4(p.row_off + row, k, p.K, p.row_base);
        vec4 xv = x4[xb + k / 4u];
#ifdef USE_FP16
        acc += float(dot(f16vec4(w), f16vec4(xv)));
#else
        acc += dot(w, xv);
#endif
    }
    acc = wg_sum(acc);
    if (gl_LocalInvocationID.x == 0u) {
        uint o = t * p.N + p.col_base + row;
        y[o] = p.accumulate != 0u ? y[o] + acc : acc;
    }
}
