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
#include "common.glsl"
layout(constant_id = 1) const uint MODE = 0;
layout(std430, binding = 0) readonly buffer Lg { float logits[]; };
layout(std430, binding = 1) readonly buffer Tg { int targets[]; };
layout(std430, binding = 2) buffer LS { float lse[]; };
layout(std430, binding = 3) buffer RL { float rowloss[]; };
layout(std430, binding = 4) buffer LO { float loss[]; };
layout(std430, binding = 5) buffer DL { float dlogits[]; };
layout(push_constant) uniform P { uint T, V, accumulate, per_pos; } p;

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
        float d = g * (exp(logits[base + v] - L) - (int(v) == tg ? 1.0 : 0.0));
        dlogits[base + v] = p.accumulate != 0u ? dlogits[base + v] + d : d;
    }
}
