#version 450
// Layout ops on f32 tensors of up to 4 dims (ggml order: dim 0 innermost), strides in floats.
// MODE (specialization constant 1):
//   0 gather  out[i] = src[off + Σ_k (i_k % sne_k) · sst_k]   i over the dense output of dims ne:
//             CONT (sne = ne) and REPEAT (broadcast: sne_k divides ne_k)
//   1 scatter out[off + Σ_k i_k · dst_k] = src[i]              i over the dense src of dims ne:
//             VIEW_BACK (after the output was filled with 0)
//   2 repeat_back  out[i] = Σ src[j], j_k = i_k + m·ne_k < sne_k   (i over the output of dims ne,
//             src dense of dims sne): sums every preimage in a fixed order, no atomics
//   3 sum     out[0] = Σ src[0 .. n)   one workgroup
//   4 sumsq   out[0] = Σ src[i]²       one workgroup (gradient norms for clipping)
// Bindings: 0 src, 1 out.
#include "common.glsl"
layout(constant_id = 1) const uint MODE = 0;
layout(std430, binding = 0) readonly buffer S { float src[]; };
layout(std430, binding = 1) buffer O { float o[]; };
layout(push_constant) uniform P { uvec4 ne, sne, sst, dst; uint off, n; } p;

void main() {
    if (MODE == 3u || MODE == 4u) {
        if (wg_linear() != 0u) return;
        float s = 0.0;
        for (uint i = gl_LocalInvocationID.x; i < p.n; i += WG)
            s += MODE == 4u ? src[i] * src[i] : src[i];
        s = wg_sum(s);
        if (gl_LocalInvocationID.x == 0u) o[0] = s;
        return;
    }
    uint stride = gl_NumWorkGroups.x * gl_NumWorkGroups.y * WG;
    for (uint i = wg_linear() * WG + gl_LocalInvocationID.x; i < p.n; i += stride) {
        uvec4 ix = uvec4(i % p.ne.x, (i / p.ne.x) % p.ne.y, (i / (p.ne.x * p.ne.y)) % p.ne.z,
                         i / (p.ne.x * p.ne.y * p.ne.z));
        if (MODE == 0u) {
            uvec4 j = ix % p.sne;
            o[i] = src[p.off + j.x * p.sst.x + j.y * p.sst.y + j.z * p.sst.z + j.w * p.sst.w];
        } else if (MODE == 1u) {
            o[p.off + ix.x * p.dst.x + ix.y * p.dst.y + ix.z * p.dst.z + ix.w * p.dst.w] = src[i];
        } else {
            float s = 0.0;
            for (uint j3 = ix.w; j3 < p.sne.w; j3 += p.ne.w)
                for (uint j2 = ix.z; j2 < p.sne.z; j2 += p.ne.z)
                    for (uint j1 = ix.y; j1 < p.sne.y; j1 += p.ne.y)
                        for (uint j0 = ix.x; j0 < p.sne.x; j0 += p.ne.x)
                            s += src[((j3 * p.sne.z + j2) * p.sne.y + j1) * p.sne.x + j0];
            o[i] = s;
        }
    }
}
