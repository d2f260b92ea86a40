#version 450
// Weight gradient of RMS norm: dw[j] (+)= Σ_rows dy[r][j] · x[r][j] · rstd[r], one invocation
// per column, rows summed in order (deterministic, no atomics).  rstd from rmsnorm's BACK pass.
// Bindings: 0 x, 1 dy, 2 rstd, 3 dw.
#define NO_REDUCE
#include "common.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) readonly buffer R { float rstd[]; };
layout(std430, binding = 3) buffer DW { float dw[]; };
layout(push_constant) uniform P { uint rows, n, accumulate; } p;

void main() {
    uint j = wg_linear() * WG + gl_LocalInvocationID.x;
    if (j >= p.n) return;
    float s = 0.0;
    for (uint r = 0; r < p.rows; r++) s += dy[r * p.n + j] * x[r * p.n + j] * rstd[r];
    dw[j] = p.accumulate != 0u ? dw[j] + s : s;
}
