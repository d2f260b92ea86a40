#version 450
// Rotary position embedding of x[T][H][D] (one invocation per rotated pair):
//   θ_i = pos[t] · base^(−2i/D);  (x0, x1) -> (x0 cos θ − x1 sin θ, x0 sin θ + x1 cos θ)
// Pairs: llama (NEOX = 0) interleaved (2i, 2i+1); neox (NEOX = 1) halves (i, i + D/2).
// The backward is the rotation by −θ (sign = −1), the exact transpose.
// Batches: x holds B·T token rows; row t uses pos[t % npos] (npos = T).
// Specialization: 1 NEOX.  Bindings: 0 x, 1 pos (int32), 2 y (may alias x).
#define NO_REDUCE
#include "common.glsl"
layout(constant_id = 1) const uint NEOX = 0;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Pos { int pos[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint T, H, D; float base, sign; uint npos; } p;

void main() {
    uint half_d = p.D / 2u;
    uint id = wg_linear() * WG + gl_LocalInvocationID.x;
    if (id >= p.T * p.H * half_d) return;
    uint i = id % half_d, th = id / half_d, t = th / p.H;
    uint row = th * p.D;
    uint i0 = NEOX != 0u ? row + i : row + 2u * i;
    uint i1 = NEOX != 0u ? row + i + half_d : row + 2u * i + 1u;
    // the angle in float: pos · base^(−2i/D) with exp2/log2 (same rounding class as the CPU's powf)
    float theta = float(pos[t % p.npos]) * exp2(-2.0 * float(i) / float(p.D) * log2(p.base));
    float c = cos(theta), s = p.sign * sin(theta);
    float x0 = x[i0], x1 = x[i1];
    y[i0] = x0 * c - x1 * s;
    y[i1] = x0 * s + x1 * c;
}
