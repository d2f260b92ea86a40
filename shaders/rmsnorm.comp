#version 450
// RMS norm, one workgroup per row of n:  y = x · rstd · w,  rstd = 1/sqrt(mean(x²) + eps).
// With BACK (specialization constant 1 = 1), the input gradient, also one workgroup per row:
//   dx (+)= rstd · (dy·w) − x · rstd³/n · Σ(dy·w·x),  and rstd[row] is stored for the dw pass.
// Bindings: 0 x, 1 w, 2 y (forward) | dy (back), 3 dx (back), 4 rstd (back).
#include "common.glsl"
layout(constant_id = 1) const uint BACK = 0;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) buffer Y { float y[]; };
layout(std430, binding = 3) buffer DX { float dx[]; };
layout(std430, binding = 4) buffer R { float rstd[]; };
layout(push_constant) uniform P { uint rows, n; float eps; uint accumulate; } p;

void main() {
    uint row = wg_linear();
    if (row >= p.rows) return;
    uint base = row * p.n, l = gl_LocalInvocationID.x;
    float ss = 0.0;
    for (uint i = l; i < p.n; i += WG) ss += x[base + i] * x[base + i];
    float r = inversesqrt(wg_sum(ss) / float(p.n) + p.eps);
    if (BACK == 0u) {
        for (uint i = l; i < p.n; i += WG) y[base + i] = x[base + i] * r * w[i];
        return;
    }
    float dot = 0.0;
    for (uint i = l; i < p.n; i += WG) dot += y[base + i] * w[i] * x[base + i];
    dot = wg_sum(dot);
    float c = r * r * r / float(p.n) * dot;
    for (uint i = l; i < p.n; i += WG) {
        float v = r * y[base + i] * w[i] - x[base + i] * c;
        dx[base + i] = p.accumulate != 0u ? dx[base + i] + v : v;
    }
    if (l == 0u) rstd[row] = r;
}
