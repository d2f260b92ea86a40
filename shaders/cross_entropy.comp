#version 450
// Cross-entropy over selected positions (target >= 0; target < 0 means "not scored"), logits
// [T][V] f32, targets int32.  Rows are walked in vocabulary chunks of WG (any V).
// MODE (specialization 1):
//   0 per row (workgroup per row): lse[t] = logsumexp(logits[t]), rowloss[t] = lse − logit[target]
//     (0 when not selected; NaN when the target is >= V)
//   1 reduce (one workgroup): loss[0] = Σ rowloss / n_selected (0 when none is selected)
//   2 backward (workgroup per row): dlogits[t][v] (+)= g · (softmax − onehot), g = dloss[0]/n_sel
//     for the mean, or dloss[t] when per_pos (the per-position losses' gradient); 0 unselected
// Bindings: 0 logits, 1 targets, 2 lse, 3 rowloss, 4 loss (MODE 0/1) | dloss (2), 5 dlogits.
// Vocabulary chunks (the backend's fused head: logits of V rows at a time, never all P x V):
// logits then hold one chunk [T][V] whose first column is vocabulary entry v0 (push), and
//   3 online (workgroup per row): the running max m (binding 2) and sum s (binding 3) of
//     exp(logit - m) merge this chunk's (first: start from it); the target's logit goes to
//     zt (binding 4) when it falls in the chunk
//   4 finish (workgroup per row): lse = m + log s over m (binding 2), and rowloss (binding 5)
//     = lse − zt (0 unselected, NaN for a target >= Vtot); then MODE 1 reduces rowloss
//   2 with v0: the chunk's columns of g · (softmax − onehot), given lse.
#include "common.glsl"
layout(constant_id = 1) const uint MODE = 0;
layout(std430, binding = 0) readonly buffer Lg { float logits[]; };
layout(std430, binding = 1) readonly buffer Tg { int targets[]; };
layout(std430, binding = 2) buffer LS { float lse[]; };
layout(std430, binding = 3) buffer RL { float rowloss[]; };
layout(std430, binding = 4) buffer LO { float loss[]; };
layout(std430, binding = 5) buffer DL { float dlogits[]; };
layout(push_constant) uniform P { uint T, V, accumulate, per_pos, v0, first, Vtot; } p;

float n_selected() {
    float c = 0.0;
    for (uint t = gl_LocalInvocationID.x; t < p.T; t += WG) c += targets[t] >= 0 ? 1.0 : 0.0;
    return wg_sum(c);
}

void main() {
    uint l = gl_LocalInvocationID.x;
    if (MODE == 1u) {
        float s = 0.0;
        for (uint t = l; t < p.T; t += WG) s += rowloss[t];
        s = wg_sum(s);
        float c = n_selected();
        if (l == 0u) loss[0] = c > 0.0 ? s / c : 0.0;
        return;
    }
    uint t = wg_linear();
    if (t >= p.T) return;
    int tg = targets[t];
    uint base = t * p.V;
    if (MODE == 3u) {
        if (tg < 0) return;
        float mc = NEG_INF;
        for (uint v = l; v < p.V; v += WG) mc = max(mc, logits[base + v]);
        mc = wg_max(mc);
        float sc = 0.0;
        for (uint v = l; v < p.V; v += WG) sc += exp(logits[base + v] - mc);
        sc = wg_sum(sc);
        uint j = uint(tg) - p.v0;   // wraps to a huge value below the chunk
        if (uint(tg) >= p.v0 && j < p.V && j % WG == l) loss[t] = logits[base + j];   // zt
        if (l == 0u) {
            float m0 = p.first != 0u ? NEG_INF : lse[t], s0 = p.first != 0u ? 0.0 : rowloss[t];
            float m = max(m0, mc);
            lse[t] = m;
            rowloss[t] = m == NEG_INF ? 0.0 : s0 * exp(m0 - m) + sc * exp(mc - m);
        }
        return;
    }
    if (MODE == 4u) {
        if (l != 0u) return;
        if (tg < 0) { lse[t] = 0.0; dlogits[t] = 0.0; return; }
        float L = lse[t] + log(rowloss[t]);
        lse[t] = L;
        dlogits[t] = uint(tg) < p.Vtot ? L - loss[t] : 0.0 / 0.0;
        return;
    }
    if (MODE == 0u) {
        if (tg < 0) {
            if (l == 0u) { lse[t] = 0.0; rowloss[t] = 0.0; }
            return;
        }
        float m = NEG_INF;
        for (uint v = l; v < p.V; v += WG) m = max(m, logits[base + v]);
        m = wg_max(m);
        float s = 0.0;
        for (uint v = l; v < p.V; v += WG) s += exp(logits[base + v] - m);
        s = wg_sum(s);
        if (l == 0u) {
            float L = m + log(s);
            lse[t] = L;
            rowloss[t] = uint(tg) < p.V ? L - logits[base + uint(tg)] : 0.0 / 0.0;
        }
        return;
    }
    float c = n_selected();
    float g = tg < 0 ? 0.0 : p.per_pos != 0u ? loss[t] : c > 0.0 ? loss[0] / c : 0.0;
    float L = lse[t];
    for (uint v = l; v < p.V; v += WG) {
        float d = g * (exp(logits[base + v] - L) - (int(p.v0 + v) == tg ? 1.0 : 0.0));
        dlogits[base + v] = p.accumulate != 0u ? dlogits[base + v] + d : d;
    }
}
