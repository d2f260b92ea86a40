#version 450
// Dropout, bit-exact with engine/ops/dropout.c: element i is dropped when
//   hash3(seed, site, i) < thresh   (thresh = p · 2^32), else y = x · keep (keep = 1/(1−p)).
// hash3 is a SplitMix64 finalizer over ((seed << 32 | site) ^ i · 0x9E3779B97F4A7C15); the
// 64-bit arithmetic is emulated on (hi, lo) pairs of 32-bit words with umulExtended, so no
// shaderInt64 is needed (many phone GPUs lack it).
// Bindings: 0 x, 1 seed (int32 [1]), 2 y (may alias x).
#define NO_REDUCE
#include "common.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Sd { int seed[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n, site, thresh; float keep; } p;

// 64-bit values as uvec2(hi, lo)
uvec2 mul64(uvec2 a, uvec2 b) {       // low 64 bits of a · b
    uint hi, lo;
    umulExtended(a.y, b.y, hi, lo);
    return uvec2(hi + a.y * b.x + a.x * b.y, lo);
}
uvec2 xorshr(uvec2 z, uint s) {       // z ^ (z >> s), 0 < s < 32
    return z ^ uvec2(z.x >> s, (z.y >> s) | (z.x << (32u - s)));
}

uint hash3(uint a, uint b, uint i) {
    uvec2 z = uvec2(a, b) ^ mul64(uvec2(0u, i), uvec2(0x9E3779B9u, 0x7F4A7C15u));
    z = mul64(xorshr(z, 30u), uvec2(0xBF58476Du, 0x1CE4E5B9u));
    z = mul64(xorshr(z, 27u), uvec2(0x94D049BBu, 0x133111EBu));
    z = xorshr(z, 31u);
    return z.x;                        // (z >> 32) truncated to 32 bits
}

void main() {
    uint s = uint(seed[0]);
    uint stride = gl_NumWorkGroups.x * gl_NumWorkGroups.y * WG;
    for (uint i = wg_linear() * WG + gl_LocalInvocationID.x; i < p.n; i += stride)
        y[i] = hash3(s, p.site, i) < p.thresh ? 0.0 : x[i] * p.keep;
}
