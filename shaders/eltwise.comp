#version 450
// Elementwise ops over n floats, one invocation per element (grid-stride over a 2-D grid).
// The op is specialization constant 1 (et_vk_ew in engine/vulkan/vk_ops.h):
//   0 add  a + b[i % nb]      1 mul  a * b[i % nb]      2 scale  a * s
//   3 silu a·σ(a)             4 gelu (tanh form)         5 silu_back  b · silu'(a)
//   6 gelu_back b · gelu'(a)  7 swiglu silu(a) · b       8 geglu  gelu(a) · b
//   9 fill  s (a is not read)      10 clip_scale  min(1, s / (sqrt(a) + 1e-6))  (torch's
//   clip_grad_norm_ coefficient from a sum of squares)
// Bindings: 0 a, 1 b, 2 out (may alias a: each element is read before it is written).
#define NO_REDUCE
#include "common.glsl"
#include "act.glsl"
layout(constant_id = 1) const uint OP = 0;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(push_constant) uniform P { uint n, nb; float s; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_NumWorkGroups.y * WG;
    for (uint i = wg_linear() * WG + gl_LocalInvocationID.x; i < p.n; i += stride) {
        if (OP == 9u) { o[i] = p.s; continue; }
        float x = a[i], r;
        if (OP == 0u) r = x + b[i % p.nb];
        else if (OP == 1u) r = x * b[i % p.nb];
        else if (OP == 2u) r = x * p.s;
        else if (OP == 3u) r = silu(x);
        else if (OP == 4u) r = gelu(x);
        else if (OP == 5u) r = b[i] * silu_grad(x);
        else if (OP == 6u) r = b[i] * gelu_grad(x);
        else if (OP == 7u) r = silu(x) * b[i];
        else if (OP == 10u) r = min(1.0, p.s / (sqrt(x) + 1e-6));
        else r = gelu(x) * b[i];
        o[i] = r;
    }
}
