#version 450
// Backward of attention.comp (flash-attention style, probabilities recomputed from lse):
//   P_ts = exp(scale·q_t·k_s − lse_t),  dP_ts = do_t·v_s,  dS_ts = P_ts (dP_ts − δ_t),
//   δ_t = do_t·o_t,  dq_t = scale Σ_s dS_ts k_s,  dk_s = scale Σ_t dS_ts q_t,  dv_s = Σ_t P_ts do_t
// KV = 0 (specialization 1): one workgroup per (t, h): δ and dq; writes δ for the KV pass.
// KV = 1: one workgroup per (s, kv head g), summing over the query heads of the group and
// the queries that see key s: dk and dv.  Key ranges as in attention.comp (n_past, window).  Sums in a fixed order: deterministic, no atomics.  D <= 4·WG.
// Bindings: 0 q, 1 k, 2 v, 3 o, 4 lse, 5 do, 6 delta, 7 dq (KV=0) | dk or dv (KV=1, push
// constant `want_dv`).  Eight storage bindings is what phones reliably offer per stage, so the
// KV pass runs twice, once per output, rather than binding both.  Layouts as attention.comp
// (B independent sequences: q [B][T][Hq][D], k, v [B][S][Hkv][D], lse, delta [B][T][Hq]).
#include "common.glsl"
layout(constant_id = 1) const uint KV = 0;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) readonly buffer O { float o[]; };
layout(std430, binding = 4) readonly buffer L { float lse[]; };
layout(std430, binding = 5) readonly buffer DO { float dout[]; };
layout(std430, binding = 6) buffer DL { float delta[]; };
layout(std430, binding = 7) writeonly buffer G { float grad[]; };
layout(push_constant) uniform P {
    uint T, Hq, Hkv, D; float scale; uint want_dv, S, n_past, window, B;
} p;

shared float sp[WG];
shared float sd[WG];

float dotqk(uint qoff, uint koff) {
    float d = 0.0;
    for (uint i = 0; i < p.D; i++) d += q[qoff + i] * k[koff + i];
    return d;
}
float dotdv(uint ooff, uint voff) {
    float d = 0.0;
    for (uint i = 0; i < p.D; i++) d += dout[ooff + i] * v[voff + i];
    return d;
}

void main() {
    uint id = wg_linear(), l = gl_LocalInvocationID.x;
    uint grp = p.Hq / p.Hkv;
    float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);
    if (KV == 0u) {
        if (id >= p.T * p.Hq * p.B) return;
        uint b = id / (p.T * p.Hq), r = id % (p.T * p.Hq);
        uint t = r / p.Hq, h = r % p.Hq, g = h / grp, qoff = id * p.D, kbase = b * p.S;
        float dl = 0.0;
        for (uint d = l; d < p.D; d += WG) dl += dout[qoff + d] * o[qoff + d];
        dl = wg_sum(dl);
        float L0 = lse[id];
        uint hi = min(p.n_past + t, p.S - 1u);
        uint lo = p.window > 0u && p.n_past + t + 1u > p.window ? p.n_past + t + 1u - p.window : 0u;
        for (uint s0 = lo; s0 <= hi; s0 += WG) {
            uint s = s0 + l;
            float ds = 0.0;
            if (s <= hi) {
                uint koff = ((kbase + s) * p.Hkv + g) * p.D;
                float P = exp(p.scale * dotqk(qoff, koff) - L0);
                ds = P * (dotdv(qoff, koff) - dl);
            }
            sd[l] = ds;
            barrier();
            uint nc = min(WG, hi + 1u - s0);
            [[unroll]] for (uint j = 0; j < 4u; j++) {
                uint d = l + j * WG;
                if (d < p.D)
                    for (uint i = 0; i < nc; i++) acc[j] += sd[i] * k[((kbase + s0 + i) * p.Hkv + g) * p.D + d];
            }
            barrier();
        }
        [[unroll]] for (uint j = 0; j < 4u; j++) {
            uint d = l + j * WG;
            if (d < p.D) grad[qoff + d] = p.scale * acc[j];
        }
        if (l == 0u) delta[id] = dl;
    } else {
        if (id >= p.S * p.Hkv * p.B) return;
        uint b = id / (p.S * p.Hkv), r = id % (p.S * p.Hkv);
        uint s = r / p.Hkv, g = r % p.Hkv, koff = id * p.D, qbase = b * p.T;
        // queries that see key s: n_past + t >= s, and n_past + t < s + window with a window
        uint tlo = s > p.n_past ? s - p.n_past : 0u;
        uint tend = p.T;
        if (p.window > 0u) tend = min(tend, s + p.window > p.n_past ? s + p.window - p.n_past : 0u);
        float accv[4] = float[4](0.0, 0.0, 0.0, 0.0);
        for (uint h = g * grp; h < (g + 1u) * grp; h++) {
            for (uint t0 = tlo; t0 < tend; t0 += WG) {
                uint t = t0 + l;
                float P = 0.0, ds = 0.0;
                if (t < tend) {
                    uint qrow = (qbase + t) * p.Hq + h, qoff = qrow * p.D;
                    P = exp(p.scale * dotqk(qoff, koff) - lse[qrow]);
                    ds = P * (dotdv(qoff, koff) - delta[qrow]);
                }
                sp[l] = P;
                sd[l] = ds;
                barrier();
                uint nc = min(WG, tend - t0);
                [[unroll]] for (uint j = 0; j < 4u; j++) {
                    uint d = l + j * WG;
                    if (d < p.D)
                        for (uint i = 0; i < nc; i++) {
                            uint qo = ((qbase + t0 + i) * p.Hq + h) * p.D + d;
                            acc[j] += sd[i] * q[qo];
                            accv[j] += sp[i] * dout[qo];
                        }
                }
                barrier();
            }
        }
        [[unroll]] for (uint j = 0; j < 4u; j++) {
            uint d = l + j * WG;
            if (d < p.D) grad[koff + d] = p.want_dv != 0u ? accv[j] : p.scale * acc[j];
        }
    }
}
