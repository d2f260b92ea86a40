#version 450
// Backward of get_rows for an f32 table: dtable[ids[i]][d] += dy[i][d].  One invocation per
// column d walks the ids in order, so repeated ids add up deterministically without atomics.
// Ids outside [0, N) are skipped.  Bindings: 0 dy, 1 ids (int32), 2 dtable.
#define NO_REDUCE
#include "common.glsl"
layout(std430, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, binding = 1) readonly buffer I { int ids[]; };
layout(std430, binding = 2) buffer DT { float dt[]; };
layout(push_constant) uniform P { uint n, N, D; } p;

void main() {
    uint d = wg_linear() * WG + gl_LocalInvocationID.x;
    if (d >= p.D) return;
    for (uint i = 0; i < p.n; i++) {
        int id = ids[i];
        if (id >= 0 && uint(id) < p.N) dt[uint(id) * p.D + d] += dy[i * p.D + d];
    }
}
