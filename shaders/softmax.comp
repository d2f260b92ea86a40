#version 450
// Row softmax (one workgroup per row of n):  y = exp(s·x − max) / Σ
// BACK (specialization constant 1 = 1):  dx (+)= y · (dy − Σ dy·y)
// Bindings: 0 x (forward) | y (back), 1 y (forward) | dy (back), 2 dx (back).
#include "common.glsl"
layout(constant_id = 1) const uint BACK = 0;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) buffer B { float b[]; };
layout(std430, binding = 2) buffer DX { float dx[]; };
layout(push_constant) uniform P { uint rows, n; float scale; uint accumulate; } p;

void main() {
    uint row = wg_linear();
    if (row >= p.rows) return;
    uint base = row * p.n, l = gl_LocalInvocationID.x;
    if (BACK == 0u) {
        float m = NEG_INF;
        for (uint i = l; i < p.n; i += WG) m = max(m, p.scale * a[base + i]);
        m = wg_max(m);
        float s = 0.0;
        for (uint i = l; i < p.n; i += WG) s += exp(p.scale * a[base + i] - m);
        s = wg_sum(s);
        for (uint i = l; i < p.n; i += WG) b[base + i] = exp(p.scale * a[base + i] - m) / s;
    } else {
        float d = 0.0;
        for (uint i = l; i < p.n; i += WG) d += a[base + i] * b[base + i];
        d = wg_sum(d);
        for (uint i = l; i < p.n; i += WG) {
            float v = a[base + i] * (b[base + i] - d);
            dx[base + i] = p.accumulate != 0u ? dx[base + i] + v : v;
        }
    }
}
