#version 450
// AdamW, in place, one invocation per parameter, exactly engine/ops/adamw.c's update (torch's
// order: decoupled decay first, then bias-corrected moments):
//   g ← g · gscale · clip;  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²
//   p ← p (1 − lr·wd) − (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps)
// The hyperparameters are read from a buffer (lr, β1, β2, eps, wd, bc1, bc2, gscale), the f32
// [8] leaf the trainer rewrites each step, so a recorded step needs no re-recording.
// Bindings: 0 p, 1 g, 2 m, 3 v, 4 hp[8], 5 clip[1] (read only when has_clip).
#define NO_REDUCE
#include "common.glsl"
layout(std430, binding = 0) buffer Pm { float prm[]; };
layout(std430, binding = 1) readonly buffer G { float g[]; };
layout(std430, binding = 2) buffer M { float m[]; };
layout(std430, binding = 3) buffer V { float v[]; };
layout(std430, binding = 4) readonly buffer H { float hp[]; };
layout(std430, binding = 5) readonly buffer Cl { float clip[]; };
layout(push_constant) uniform P { uint n, has_clip; } p;

void main() {
    float lr = hp[0], b1 = hp[1], b2 = hp[2], eps = hp[3];
    float decay = 1.0 - lr * hp[4], step = lr / hp[5], sbc2 = sqrt(hp[6]);
    float gs = hp[7] * (p.has_clip != 0u ? clip[0] : 1.0);
    uint stride = gl_NumWorkGroups.x * gl_NumWorkGroups.y * WG;
    for (uint i = wg_linear() * WG + gl_LocalInvocationID.x; i < p.n; i += stride) {
        float gi = g[i] * gs;
        float mi = b1 * m[i] + (1.0 - b1) * gi;
        float vi = b2 * v[i] + (1.0 - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        prm[i] = prm[i] * decay - step * mi / (sqrt(vi) / sbc2 + eps);
    }
}
