#version 450
// Causal self-attention with grouped-query heads, one workgroup per (token t, query head h):
//   o[t,h] = Σ_{s in keys(t)} softmax_s(scale · q[t,h]·k[s,g]) v[s,g],   g = h / (Hq/Hkv)
//   lse[t,h] = log Σ exp(scale · q·k)  (kept for the backward pass)
// Query t sits at absolute position n_past + t and sees keys s in [lo, n_past + t], lo = 0,
// or n_past + t − window + 1 with a sliding window (engine/ops.h's et_attention).
// Scores are recomputed per pass instead of stored (no T×T buffer): pass 1 the max, pass 2 the
// sum, pass 3 the output, in chunks of WG keys whose probabilities sit in shared memory.
// Each invocation owns output dims l, l+WG, l+2WG, l+3WG: D <= 4·WG.
// Bindings: 0 q [B][T][Hq][D], 1 k [B][S][Hkv][D], 2 v [B][S][Hkv][D], 3 o [B][T][Hq][D],
// 4 lse [B][T][Hq]  (B independent sequences).
#include "common.glsl"
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 4) writeonly buffer L { float lse[]; };
layout(push_constant) uniform P {   // same block as attention_back.comp (want_dv unused here)
    uint T, Hq, Hkv, D; float scale; uint want_dv, S, n_past, window, B;
} p;

shared float sp[WG];

uint kbase;   // b · S: the first key row of this workgroup's sequence

float score(uint qoff, uint s, uint g) {
    uint koff = ((kbase + s) * p.Hkv + g) * p.D;
    float d = 0.0;
    for (uint i = 0; i < p.D; i++) d += q[qoff + i] * k[koff + i];
    return p.scale * d;
}

void main() {
    uint id = wg_linear();
    if (id >= p.T * p.Hq * p.B) return;
    uint b = id / (p.T * p.Hq), r = id % (p.T * p.Hq);
    uint t = r / p.Hq, h = r % p.Hq, g = h / (p.Hq / p.Hkv), l = gl_LocalInvocationID.x;
    kbase = b * p.S;
    uint qoff = id * p.D;
    uint hi = min(p.n_past + t, p.S - 1u);
    uint lo = p.window > 0u && p.n_past + t + 1u > p.window ? p.n_past + t + 1u - p.window : 0u;
    float m = NEG_INF;
    for (uint s = lo + l; s <= hi; s += WG) m = max(m, score(qoff, s, g));
    m = wg_max(m);
    float sum = 0.0;
    for (uint s = lo + l; s <= hi; s += WG) sum += exp(score(qoff, s, g) - m);
    sum = wg_sum(sum);
    float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);
    for (uint s0 = lo; s0 <= hi; s0 += WG) {
        uint s = s0 + l;
        sp[l] = s <= hi ? exp(score(qoff, s, g) - m) / sum : 0.0;
        barrier();
        uint nc = min(WG, hi + 1u - s0);
        [[unroll]] for (uint j = 0; j < 4u; j++) {
            uint d = l + j * WG;
            if (d < p.D)
                for (uint i = 0; i < nc; i++) acc[j] += sp[i] * v[((kbase + s0 + i) * p.Hkv + g) * p.D + d];
        }
        barrier();
    }
    [[unroll]] for (uint j = 0; j < 4u; j++) {
        uint d = l + j * WG;
        if (d < p.D) o[qoff + d] = acc[j];
    }
    if (l == 0u) lse[id] = m + log(sum);
}
