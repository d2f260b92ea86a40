#version 450
// Embedding lookup from a table of any weight type (dequantized on the fly), one workgroup per
// output row:  out[i][:] = table[ids[i]][:].  The table may be split into row chunks: each
// chunk's dispatch fills the rows whose id falls in it.  An id outside [0, N) yields a row of
// NaN (written by the first chunk's dispatch) and never a read outside the buffer.
// Bindings: 0 table chunk, 1 ids (int32), 2 out, 3 NF4 aux.
#define NO_REDUCE
#include "common.glsl"
#define WBIND 0
#define WAUX 3
#include "dequant.glsl"
layout(std430, binding = 1) readonly buffer I { int ids[]; };
layout(std430, binding = 2) writeonly buffer O { vec4 o4[]; };
layout(push_constant) uniform P { uint n, K, N, nrows, row_base, first; } p;

void main() {
    uint i = wg_linear();
    if (i >= p.n) return;
    int id = ids[i];
    bool valid = id >= 0 && uint(id) < p.N;
    if (!valid) {
        if (p.first != 0u)
            for (uint k = 4u * gl_LocalInvocationID.x; k < p.K; k += 4u * WG)
                o4[(i * p.K + k) / 4u] = vec4(0.0 / 0.0);
        return;
    }
    uint r = uint(id);
    if (r < p.row_base || r >= p.row_base + p.nrows) return;
    for (uint k = 4u * gl_LocalInvocationID.x; k < p.K; k += 4u * WG)
        o4[(i * p.K + k) / 4u] = w_load4(r - p.row_base, k, p.K, p.row_base);
}
