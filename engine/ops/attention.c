/* Causal attention with grouped-query heads, softmax fused, and its backward.
 *
 * q [hd, nh, T, B], k/v [hd, nkv, S, B]; query head h reads kv head h / (nh / nkv).  Query t
 * is at absolute position n_past + t and sees keys s in [lo, n_past + t], lo = 0 or, with a
 * sliding window w, n_past + t − w + 1.
 *
 * Both directions run on tiles, so the arithmetic is small GEMMs (et_sgemm_st, the engine's
 * register-blocked f32 micro-kernel on the calling thread) and vectorized exponentials
 * (et_kern_row_exp) instead of per-pair scalar dot products:
 *   a tile's rows are the grp query heads that share one kv head × up to ET__AQ/grp
 *   consecutive queries (so K and V are read once for the whole group; decoding with T = 1
 *   still has grp rows), its columns the keys any of those queries sees.
 * Forward:   S = scale·Q·Kᵀ,  P = softmax over each row's visible keys,  O = P·V.
 * Backward (ATTN_BACK) recomputes P from q and k — the flash-attention trade: a second QKᵀ
 * instead of keeping T×S×heads probabilities per layer — with one writer per output row, so
 * results are deterministic for any thread count.  Where there are at least two (batch, kv
 * head) tasks per thread, one task per head runs its query tiles in order:
 *           P (exact softmax), dP = dO·Vᵀ,  dS = P∘(dP − rowsum(dO∘O))·scale,  dQ = dS·K,
 *           dK += dSᵀ·Q,  dV += Pᵀ·dO  (five products per pair; the study's batch 4 × 8 heads
 *           on 2 threads: attention_back 70 -> 46 ms a step).
 * With fewer (one sequence and one or two kv heads), two passes split the work finer:
 *   pass A, per (batch, kv head, query tile):  exact softmax (its log-sum-exp saved),
 *           dP, dS and dQ as above;
 *   pass B, per (batch, kv head, key tile of ET__AK):  for every query tile that sees it,
 *           P from the saved log-sum-exp, dS as above,  dK += dSᵀ·Q,  dV += Pᵀ·dO.
 * dq | dk | dv are written packed in one tensor that three views split.  Scratch: per thread
 * a few tiles (rows × keys floats); no T×S matrix exists.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>
#include "kernels.h"
#include "cost.h"
#include "ops.h"

et_tensor *et_attention(et_ctx *ctx, et_tensor *q, et_tensor *k, et_tensor *v, float scale,
                        int n_past, int window) {
    if (!q || !k || !v) return NULL;
    const char *op = "attention";
    if (!et__check_f32(ctx, op, q) || !et__check_f32(ctx, op, k) || !et__check_f32(ctx, op, v)) return NULL;
    if (!et__check(ctx, q->nb[0] == 4 && k->nb[0] == 4 && v->nb[0] == 4, op, q, k, "rows must be dense"))
        return NULL;
    if (!et__check(ctx, et_same_shape(k, v), op, k, v, "k and v must have the same shape")) return NULL;
    if (!et__check(ctx, q->ne[0] == k->ne[0] && q->ne[3] == k->ne[3], op, q, k,
                   "head dim (ne[0]) and batch (ne[3]) must match"))
        return NULL;
    if (!et__check(ctx, q->ne[1] % k->ne[1] == 0, op, q, k, "query heads must be a multiple of kv heads"))
        return NULL;
    if (n_past < 0 || window < 0 || !isfinite(scale) || scale <= 0)
        return et_ctx_fail(ctx, "attention '%s': n_past=%d window=%d scale=%g (need >= 0, >= 0, > 0)",
                           q->name, n_past, window, scale);
    if (!et__check(ctx, n_past + q->ne[2] <= k->ne[2], op, q, k, "n_past + T exceeds the keys (S)"))
        return NULL;
    et_tensor *t = et__new_node(ctx, ET_OP_ATTN, ET_F32, ET_MAX_DIMS, q->ne);
    if (!t) return NULL;
    t->src[0] = q; t->src[1] = k; t->src[2] = v;
    et_param_set_f32(t, 0, scale);
    t->params[1] = n_past;
    t->params[2] = window;
    return t;
}

#define ET__AT(x, i1, i2, i3) ((float *)((char *)(x)->data + (i1) * (x)->nb[1] + (i2) * (x)->nb[2] + (i3) * (x)->nb[3]))

#define ET__AQ 32   /* rows per tile (query heads of a group × queries) */
#define ET__AK 64   /* keys per tile in the backward's key pass */

static inline void et__key_range(const et_tensor *t, int64_t tq, int64_t *lo, int64_t *hi) {
    int64_t qpos = t->params[1] + tq, w = t->params[2];
    *hi = qpos + 1;
    *lo = (w > 0 && qpos - w + 1 > 0) ? qpos - w + 1 : 0;
}

/* Tile geometry shared by the work-size functions and the kernels. */
typedef struct {
    int64_t hd, nh, nkv, grp, T, B, S;
    int64_t qb, M;        /* queries per tile, rows per tile (grp · qb) */
} et__geom;

static et__geom et__geom_of(const et_tensor *q, const et_tensor *k) {
    et__geom g = { .hd = q->ne[0], .nh = q->ne[1], .nkv = k->ne[1], .T = q->ne[2], .B = q->ne[3], .S = k->ne[2] };
    g.grp = g.nh / g.nkv;
    g.qb = ET__AQ / g.grp > 0 ? ET__AQ / g.grp : 1;
    if (g.qb > g.T) g.qb = g.T;
    g.M = g.grp * g.qb;
    return g;
}

/* Carves 64-byte aligned float arrays out of a scratch region. */
typedef struct { char *p; } et__carver;
static float *et__carve(et__carver *c, int64_t nfloats) {
    float *r = (float *)c->p;
    c->p += ((size_t)nfloats * 4 + 63) / 64 * 64;
    return r;
}
static size_t et__carve_size(int64_t nfloats) { return ((size_t)nfloats * 4 + 63) / 64 * 64; }

/* Per-thread floats: forward Qt, S, Ot, inv. */
static size_t et__fwd_thread_bytes(const et__geom *g) {
    return et__carve_size(g->M * g->hd) * 2 + et__carve_size(g->M * g->S) + et__carve_size(g->M);
}

size_t et__work_attention(const et_tensor *t, int nthreads) {
    et__geom g = et__geom_of(t->src[0], t->src[1]);
    return 64 + (size_t)nthreads * et__fwd_thread_bytes(&g);
}

/* Gather the tile's rows (head j of the group, query t0 + i → row j·nq + i) of x. */
static void et__gather(const et_tensor *x, const et__geom *g, int64_t gh, int64_t b, int64_t t0, int64_t nq,
                       float *dst) {
    for (int64_t j = 0; j < g->grp; j++)
        for (int64_t i = 0; i < nq; i++)
            memcpy(dst + (j * nq + i) * g->hd, ET__AT(x, gh * g->grp + j, t0 + i, b), (size_t)g->hd * 4);
}

/* Row r's visible keys as columns [*a, *e) of a tile whose first key is k0 and width L. */
static inline void et__row_cols(const et_tensor *t, int64_t tq, int64_t k0, int64_t L, int64_t *a, int64_t *e) {
    int64_t lo, hi;
    et__key_range(t, tq, &lo, &hi);
    *a = lo - k0 < 0 ? 0 : lo - k0;
    *e = hi - k0 > L ? L : hi - k0;
    if (*e < *a) *e = *a;
}

static inline void et__zero_outside(float *row, int64_t L, int64_t a, int64_t e) {
    if (a > 0) memset(row, 0, (size_t)a * 4);
    if (e < L) memset(row + e, 0, (size_t)(L - e) * 4);
}

/* One query tile (batch b, kv head gh, tile qt): its geometry, Qt gathered, and P, the
 * softmax of scale · Qt · Kᵀ over each row's visible keys (exactly 0 elsewhere), M × L at
 * P, with each row's log-sum-exp in lse[r].  Shared by the forward and the backward's pass A. */
typedef struct { int64_t t0, nq, M, klo, L; } et__qtile;

static et__qtile et__qtile_softmax(const et_tensor *t, const et__geom *g, int64_t b, int64_t gh, int64_t qt,
                                   float *Qt, float *P, float *lse) {
    const et_tensor *q = t->src[0], *k = t->src[1];
    et__qtile w;
    w.t0 = qt * g->qb;
    w.nq = g->T - w.t0 < g->qb ? g->T - w.t0 : g->qb;
    w.M = g->grp * w.nq;
    int64_t khi, lo1, hi1;
    et__key_range(t, w.t0, &w.klo, &hi1);
    et__key_range(t, w.t0 + w.nq - 1, &lo1, &khi);
    w.L = khi - w.klo;
    et__gather(q, g, gh, b, w.t0, w.nq, Qt);
    et_sgemm_st(false, true, w.M, w.L, g->hd, et_param_f32(t, 0), Qt, g->hd, ET__AT(k, gh, w.klo, b),
                (int64_t)(k->nb[2] / 4), 0.0f, P, w.L);
    for (int64_t r = 0; r < w.M; r++) {
        float *row = P + r * w.L;
        int64_t a, e;
        et__row_cols(t, w.t0 + r % w.nq, w.klo, w.L, &a, &e);
        float mx = et_kern_row_max(row + a, e - a);
        float sum = et_kern_row_exp(row + a, e - a, 1.0f, mx, 1.0f), in = 1.0f / sum;
        for (int64_t j = a; j < e; j++) row[j] *= in;
        et__zero_outside(row, w.L, a, e);
        lse[r] = mx + logf(sum);
    }
    return w;
}

void et__fwd_attention(et_tensor *t, et_exec *ex) {
    const et_tensor *q = t->src[0], *k = t->src[1], *v = t->src[2];
    const et__geom g = et__geom_of(q, k);
    const int64_t nqt = (g.T + g.qb - 1) / g.qb;
    char *base = (char *)(((uintptr_t)ex->work + 63) & ~(uintptr_t)63);
    #pragma omp parallel num_threads(ex->nthreads)
    {
        et__carver cv = { base + (size_t)omp_get_thread_num() * et__fwd_thread_bytes(&g) };
        float *Qt = et__carve(&cv, g.M * g.hd), *Sc = et__carve(&cv, g.M * g.S);
        float *Ot = et__carve(&cv, g.M * g.hd), *lse = et__carve(&cv, g.M);
        #pragma omp for collapse(3) schedule(dynamic, 1)
        for (int64_t b = 0; b < g.B; b++)
            for (int64_t gh = 0; gh < g.nkv; gh++)
                for (int64_t qt = 0; qt < nqt; qt++) {
                    et__qtile w = et__qtile_softmax(t, &g, b, gh, qt, Qt, Sc, lse);
                    /* O = P · V */
                    et_sgemm_st(false, false, w.M, g.hd, w.L, 1.0f, Sc, w.L, ET__AT(v, gh, w.klo, b),
                                (int64_t)(v->nb[2] / 4), 0.0f, Ot, g.hd);
                    for (int64_t r = 0; r < w.M; r++)
                        memcpy(ET__AT(t, gh * g.grp + r / w.nq, w.t0 + r % w.nq, b), Ot + r * g.hd, (size_t)g.hd * 4);
                }
    }
}

bool et__bwd_attention(et_ctx *ctx, et_tensor *t) {
    et_tensor *q = t->src[0], *k = t->src[1], *v = t->src[2];
    int64_t nq = et_nelements(q), nk = et_nelements(k);
    et_tensor *pk = et__new_node(ctx, ET_OP_ATTN_BACK, ET_F32, 1, (int64_t[]){nq + 2 * nk});
    if (!pk) return false;
    pk->src[0] = q; pk->src[1] = k; pk->src[2] = v; pk->src[3] = t; pk->src[4] = t->grad;
    memcpy(pk->params, t->params, sizeof pk->params);
    et_set_name(pk, "d(%s) packed", t->name);
    et_tensor *parts[3] = {q, k, v};
    size_t offs[3] = {0, (size_t)nq * 4, (size_t)(nq + nk) * 4};
    for (int i = 0; i < 3; i++) {
        if (!et__needs_grad(parts[i])) continue;
        const int64_t *ne = parts[i]->ne;
        size_t nb[4] = {4, 4 * (size_t)ne[0], 4 * (size_t)(ne[0] * ne[1]), 4 * (size_t)(ne[0] * ne[1] * ne[2])};
        et__acc_grad(ctx, parts[i], et_view(ctx, pk, 4, ne, nb, offs[i]));
    }
    return true;
}

/* Per-thread bytes of the backward: the larger of the two passes' tiles. */
static size_t et__bwd_thread_bytes(const et__geom *g) {
    size_t a = et__carve_size(g->M * g->hd) * 3 + et__carve_size(g->M * g->S) * 2 + et__carve_size(g->M) * 2;
    size_t b = et__carve_size(g->M * g->hd) * 2 + et__carve_size(g->M * ET__AK) * 2 +
               et__carve_size(ET__AK * g->hd) * 2 + et__carve_size(g->M) * 2;
    return a > b ? a : b;
}

size_t et__work_attention_back(const et_tensor *t, int nthreads) {
    et__geom g = et__geom_of(t->src[0], t->src[1]);
    return 64 + 2 * et__carve_size(g.B * g.nh * g.T) + (size_t)nthreads * et__bwd_thread_bytes(&g);
}

/* dS = P ∘ (dP − D_row) · scale, in place in dP, over a tile of M rows × L columns. */
static void et__ds(float *dP, const float *P, int64_t M, int64_t L, const float *D, float scale) {
    for (int64_t r = 0; r < M; r++) {
        float *d = dP + r * L;
        const float *p = P + r * L;
        const float Dr = D[r];
        for (int64_t j = 0; j < L; j++) d[j] = p[j] * (d[j] - Dr) * scale;
    }
}

/* Per query tile: dO gathered, each row's D = dO·o (into D, and into Dall where not NULL),
 * dP = dO · Vᵀ turned into dS in place, and dQ = dS · K written out.  P, the tile's softmax,
 * is already there.  Shared by both backward schemes. */
static void et__tile_dq(const et_tensor *t, const et__geom *g, int64_t b, int64_t gh, const et__qtile *w,
                        const float *P, float *dOt, float *dP, float *dQt, float *D, float *Dall, float *dq) {
    const et_tensor *k = t->src[1], *v = t->src[2], *o = t->src[3], *dO = t->src[4];
    const int64_t t0 = w->t0, nq = w->nq, M = w->M, klo = w->klo, L = w->L;
    et__gather(dO, g, gh, b, t0, nq, dOt);
    for (int64_t r = 0; r < M; r++) {
        const int64_t h = gh * g->grp + r / nq, tq = t0 + r % nq;
        const float *dor = dOt + r * g->hd, *orow = ET__AT(o, h, tq, b);
        float Dr = 0;
        for (int64_t i = 0; i < g->hd; i++) Dr += dor[i] * orow[i];
        D[r] = Dr;
        if (Dall) Dall[((b * g->nh + h) * g->T + tq)] = Dr;
    }
    /* dP = dO · Vᵀ;  dS;  dQ = dS · K */
    et_sgemm_st(false, true, M, L, g->hd, 1.0f, dOt, g->hd, ET__AT(v, gh, klo, b), (int64_t)(v->nb[2] / 4), 0.0f, dP, L);
    et__ds(dP, P, M, L, D, et_param_f32(t, 0));
    et_sgemm_st(false, false, M, g->hd, L, 1.0f, dP, L, ET__AT(k, gh, klo, b), (int64_t)(k->nb[2] / 4), 0.0f, dQt, g->hd);
    for (int64_t r = 0; r < M; r++) {
        const int64_t h = gh * g->grp + r / nq, tq = t0 + r % nq;
        memcpy(dq + ((b * g->T + tq) * g->nh + h) * g->hd, dQt + r * g->hd, (size_t)g->hd * 4);
    }
}

/* Whether the backward runs one task per (batch, kv head): its query tiles in order on one
 * thread, dK and dV accumulated straight into the output (FlashAttention-2's loop: five
 * products per pair, no recomputation).  It needs tasks for every thread; with fewer (one
 * sequence, one or two kv heads) the two-pass scheme below splits the work finer. */
static bool et__back_per_head(const et__geom *g, int nthreads) { return g->B * g->nkv >= 2 * (int64_t)nthreads; }

void et__fwd_attention_back(et_tensor *t, et_exec *ex) {
    const et_tensor *q = t->src[0], *k = t->src[1], *v = t->src[2], *dO = t->src[4];
    const et__geom g = et__geom_of(q, k);
    const float scale = et_param_f32(t, 0);
    const int64_t n_past = t->params[1], w = t->params[2];
    const int64_t ldk = (int64_t)(k->nb[2] / 4), ldv = (int64_t)(v->nb[2] / 4);
    float *dq = t->data, *dk = dq + et_nelements(q), *dv = dk + et_nelements(k);
    const int64_t nqt = (g.T + g.qb - 1) / g.qb;
    /* shared: every row's log-sum-exp and D (the two-pass scheme's), then per-thread tiles */
    et__carver shared = { (char *)(((uintptr_t)ex->work + 63) & ~(uintptr_t)63) };
    float *lse = et__carve(&shared, g.B * g.nh * g.T), *Dall = et__carve(&shared, g.B * g.nh * g.T);
    char *tbase = shared.p;
    if (et__back_per_head(&g, ex->nthreads)) {
        const int64_t ldo = g.nkv * g.hd;   /* dk, dv: [hd, nkv, S, B] */
        #pragma omp parallel num_threads(ex->nthreads)
        {
            et__carver cv = { tbase + (size_t)omp_get_thread_num() * et__bwd_thread_bytes(&g) };
            float *Qt = et__carve(&cv, g.M * g.hd), *dOt = et__carve(&cv, g.M * g.hd);
            float *dQt = et__carve(&cv, g.M * g.hd), *P = et__carve(&cv, g.M * g.S);
            float *dP = et__carve(&cv, g.M * g.S), *D = et__carve(&cv, g.M), *Lr = et__carve(&cv, g.M);
            #pragma omp for collapse(2) schedule(dynamic, 1)
            for (int64_t b = 0; b < g.B; b++)
                for (int64_t gh = 0; gh < g.nkv; gh++) {
                    float *dkh = dk + (b * g.S * g.nkv + gh) * g.hd, *dvh = dv + (b * g.S * g.nkv + gh) * g.hd;
                    for (int64_t s = 0; s < g.S; s++) {
                        memset(dkh + s * ldo, 0, (size_t)g.hd * 4);
                        memset(dvh + s * ldo, 0, (size_t)g.hd * 4);
                    }
                    for (int64_t qt = 0; qt < nqt; qt++) {
                        et__qtile wt = et__qtile_softmax(t, &g, b, gh, qt, Qt, P, Lr);
                        et__tile_dq(t, &g, b, gh, &wt, P, dOt, dP, dQt, D, NULL, dq);   /* dS in dP */
                        /* dK[klo..klo+L) += dSᵀ · Q,  dV[klo..klo+L) += Pᵀ · dO */
                        et_sgemm_st(true, false, wt.L, g.hd, wt.M, 1.0f, dP, wt.L, Qt, g.hd, 1.0f, dkh + wt.klo * ldo, ldo);
                        et_sgemm_st(true, false, wt.L, g.hd, wt.M, 1.0f, P, wt.L, dOt, g.hd, 1.0f, dvh + wt.klo * ldo, ldo);
                    }
                }
        }
        return;
    }
    const int64_t nkt = (g.S + ET__AK - 1) / ET__AK;
#define ET__ROW(b, h, tq) (((b) * g.nh + (h)) * g.T + (tq))
    #pragma omp parallel num_threads(ex->nthreads)
    {
        char *mine = tbase + (size_t)omp_get_thread_num() * et__bwd_thread_bytes(&g);
        /* ---- pass A: softmax statistics and dQ, per query tile ---- */
        {
            et__carver cv = { mine };
            float *Qt = et__carve(&cv, g.M * g.hd), *dOt = et__carve(&cv, g.M * g.hd);
            float *dQt = et__carve(&cv, g.M * g.hd), *P = et__carve(&cv, g.M * g.S);
            float *dP = et__carve(&cv, g.M * g.S), *D = et__carve(&cv, g.M), *Lr = et__carve(&cv, g.M);
            #pragma omp for collapse(3) schedule(dynamic, 1)
            for (int64_t b = 0; b < g.B; b++)
                for (int64_t gh = 0; gh < g.nkv; gh++)
                    for (int64_t qt = 0; qt < nqt; qt++) {
                        et__qtile w = et__qtile_softmax(t, &g, b, gh, qt, Qt, P, Lr);
                        for (int64_t r = 0; r < w.M; r++)
                            lse[ET__ROW(b, gh * g.grp + r / w.nq, w.t0 + r % w.nq)] = Lr[r];
                        et__tile_dq(t, &g, b, gh, &w, P, dOt, dP, dQt, D, Dall, dq);
                    }
            /* the implicit barrier: pass B reads every row's lse and D */
        }
        /* ---- pass B: dK and dV, per key tile ---- */
        {
            et__carver cv = { mine };
            float *Qt = et__carve(&cv, g.M * g.hd), *dOt = et__carve(&cv, g.M * g.hd);
            float *P = et__carve(&cv, g.M * ET__AK), *dP = et__carve(&cv, g.M * ET__AK);
            float *dKt = et__carve(&cv, ET__AK * g.hd), *dVt = et__carve(&cv, ET__AK * g.hd);
            float *Lr = et__carve(&cv, g.M), *D = et__carve(&cv, g.M);
            #pragma omp for collapse(3) schedule(dynamic, 1)
            for (int64_t b = 0; b < g.B; b++)
                for (int64_t gh = 0; gh < g.nkv; gh++)
                    for (int64_t kt = 0; kt < nkt; kt++) {
                        const int64_t s0 = kt * ET__AK, Kb = g.S - s0 < ET__AK ? g.S - s0 : ET__AK;
                        memset(dKt, 0, (size_t)(Kb * g.hd) * 4);
                        memset(dVt, 0, (size_t)(Kb * g.hd) * 4);
                        /* queries that see a key of [s0, s0 + Kb): position ≥ s0, and within the window */
                        int64_t tlo = s0 - n_past > 0 ? s0 - n_past : 0, thi = g.T;
                        if (w > 0 && s0 + Kb + w - 1 - n_past < thi) thi = s0 + Kb + w - 1 - n_past;
                        for (int64_t t0 = tlo; t0 < thi; t0 += g.qb) {
                            const int64_t nq = thi - t0 < g.qb ? thi - t0 : g.qb, M = g.grp * nq;
                            et__gather(q, &g, gh, b, t0, nq, Qt);
                            et__gather(dO, &g, gh, b, t0, nq, dOt);
                            et_sgemm_st(false, true, M, Kb, g.hd, scale, Qt, g.hd, ET__AT(k, gh, s0, b), ldk, 0.0f, P, Kb);
                            for (int64_t r = 0; r < M; r++) {
                                const int64_t h = gh * g.grp + r / nq, tq = t0 + r % nq;
                                Lr[r] = lse[ET__ROW(b, h, tq)];
                                D[r] = Dall[ET__ROW(b, h, tq)];
                                float *row = P + r * Kb;
                                int64_t a, e;
                                et__row_cols(t, tq, s0, Kb, &a, &e);
                                et_kern_row_exp(row + a, e - a, 1.0f, Lr[r], 1.0f);
                                et__zero_outside(row, Kb, a, e);
                            }
                            et_sgemm_st(false, true, M, Kb, g.hd, 1.0f, dOt, g.hd, ET__AT(v, gh, s0, b), ldv, 0.0f, dP, Kb);
                            et__ds(dP, P, M, Kb, D, scale);
                            /* dK += dSᵀ · Q,  dV += Pᵀ · dO  (tiles stored rows × keys) */
                            et_sgemm_st(true, false, Kb, g.hd, M, 1.0f, dP, Kb, Qt, g.hd, 1.0f, dKt, g.hd);
                            et_sgemm_st(true, false, Kb, g.hd, M, 1.0f, P, Kb, dOt, g.hd, 1.0f, dVt, g.hd);
                        }
                        for (int64_t s = 0; s < Kb; s++) {
                            memcpy(dk + ((b * g.S + s0 + s) * g.nkv + gh) * g.hd, dKt + s * g.hd, (size_t)g.hd * 4);
                            memcpy(dv + ((b * g.S + s0 + s) * g.nkv + gh) * g.hd, dVt + s * g.hd, (size_t)g.hd * 4);
                        }
                    }
        }
    }
#undef ET__ROW
}

/* ---- costs (see cost.h) ----
 * Only the (query, key) pairs the causal mask (and the window) lets a query visit count.
 * Forward per pair: q·k (2·hd) and p·v (2·hd), plus exp, max, sum and scale (4).  Backward
 * per pair: q·k again, dO·v, and the three accumulations into dq, dk, dv (5 × 2·hd), plus 6
 * for the probability and ds; per query row dO·o (2·hd).  Bytes: every source once, the
 * result once. */
static double et__attn_pairs(const et_tensor *t, const et_tensor *q) {
    double pairs = 0;
    for (int64_t tq = 0; tq < q->ne[2]; tq++) {
        int64_t lo, hi;
        et__key_range(t, tq, &lo, &hi);
        pairs += (double)(hi - lo);
    }
    return pairs * (double)q->ne[1] * (double)q->ne[3];
}

void et__cost_attention(const et_tensor *t, double *flops, double *bytes) {
    const et_tensor *q = t->src[0];
    double hd = (double)q->ne[0];
    *flops = (4.0 * hd + 4.0) * et__attn_pairs(t, q);
    *bytes = et__cost_nbytes(q) + et__cost_nbytes(t->src[1]) + et__cost_nbytes(t->src[2]) + et__cost_nbytes(t);
}

void et__cost_attention_back(const et_tensor *t, double *flops, double *bytes) {
    const et_tensor *q = t->src[0];
    double hd = (double)q->ne[0], rows = (double)et_nrows(q);
    *flops = (10.0 * hd + 6.0) * et__attn_pairs(t, q) + 2.0 * hd * rows;
    *bytes = 0;
    for (int i = 0; i < 5; i++) *bytes += et__cost_nbytes(t->src[i]);
    *bytes += et__cost_nbytes(t);
}
