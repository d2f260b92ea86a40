#version 450
// AdamW, in place, one invocation per parameter (decoupled weight decay, bias-corrected):
//   m = β1 m + (1−β1) g;  v = β2 v + (1−β2) g²
//   p −= lr · ( (m / bc1) / (sqrt(v / bc2) + eps) + wd · p ),  bc = 1 − β^t
// Bindings: 0 p, 1 g, 2 m, 3 v.
#define NO_REDUCE
#include "common.glsl"
layout(std430, binding = 0) buffer Pm { float prm[]; };
layout(std430, binding = 1) readonly buffer G { float g[]; };
layout(std430, binding = 2) buffer M { float m[]; };
layout(std430, binding = 3) buffer V { float v[]; };
layout(push_constant) uniform P { uint n; float lr, b1, b2, eps, wd, bc1, bc2; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_NumWorkGroups.y * WG;
    for (uint i = wg_linear() * WG + gl_LocalInvocationID.x; i < p.n; i += stride) {
        float gi = g[i];
        float mi = p.b1 * m[i] + (1.0 - p.b1) * gi;
        float vi = p.b2 * v[i] + (1.0 - p.b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float pi = prm[i];
        prm[i] = pi - p.lr * ((mi / p.bc1) / (sqrt(vi / p.bc2) + p.eps) + p.wd * pi);
    }
}
