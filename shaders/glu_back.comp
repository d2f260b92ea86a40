#version 450
// Backward of out = f(a)·b (f = silu, or gelu when specialization constant 1 is 1):
//   da (+)= dy · b · f'(a),   db (+)= dy · f(a)
// Bindings: 0 a, 1 b, 2 dy, 3 da, 4 db.
#define NO_REDUCE
#include "common.glsl"
#include "act.glsl"
layout(constant_id = 1) const uint GELU = 0;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) readonly buffer DY { float dy[]; };
layout(std430, binding = 3) buffer DA { float da[]; };
layout(std430, binding = 4) buffer DB { float db[]; };
layout(push_constant) uniform P { uint n, accumulate; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_NumWorkGroups.y * WG;
    for (uint i = wg_linear() * WG + gl_LocalInvocationID.x; i < p.n; i += stride) {
        float x = a[i], g = dy[i];
        float f = GELU != 0u ? gelu(x) : silu(x);
        float fp = GELU != 0u ? gelu_grad(x) : silu_grad(x);
        float va = g * b[i] * fp, vb = g * f;
        da[i] = p.accumulate != 0u ? da[i] + va : va;
        db[i] = p.accumulate != 0u ? db[i] + vb : vb;
    }
}
