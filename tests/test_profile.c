/* The profiler (engine/profile.h, profile_report.c, profile_plot.c, bench/bench_profile.c).
 *
 *  - costs: every op whose ops.def row says cost YES is built on small shapes and its FLOPs
 *    and bytes compared with values worked out by hand in the comments (exact: the counts
 *    are integers well inside a double's 2^53); a new YES row without a case here fails.
 *  - trace: a small training step profiled for 3 runs; trace.json parses with cJSON, has a
 *    named track, one op event per executed node per run, exactly one forward, backward and
 *    optimizer span per run, and every op event inside a span of its own phase.
 *  - jsonl: every line parses; one node record per executed node, counts = runs.
 *  - profiling the same graph twice gives identical FLOP and byte totals.
 *  - memory: the tensors found live at the peak add up exactly to et_plan_timeline's peak;
 *    recomputation lowers the peak of a 4-layer step.
 *  - limits: read from bench-kernels-style probe lines (thread preference, malformed file).
 *  - pictures and the whole `edgetune profile` path (tiny config): files written, PNGs read
 *    back with stb_image and non-blank.
 *  - profiled steps allocate nothing (malloc and friends interposed and counted, as in
 *    test_noalloc), also once the profile's sample and event arrays are full. */
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "harness.h"
#include "bench/bench_profile.h"
#include "llama.h"
#include "optim.h"
#include "profile.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

#ifndef __SANITIZE_ADDRESS__   /* AddressSanitizer interposes the allocator itself */
#define ET_T_COUNT_ALLOCS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void  __libc_free(void *);
static volatile int counting;
static volatile long n_alloc;
#define ET_T_COUNT() do { if (counting) __atomic_add_fetch(&n_alloc, 1, __ATOMIC_RELAXED); } while (0)
void *malloc(size_t n) { ET_T_COUNT(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { ET_T_COUNT(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { ET_T_COUNT(); return __libc_realloc(p, n); }
void *aligned_alloc(size_t a, size_t n) { ET_T_COUNT(); return __libc_memalign(a, n); }
void *memalign(size_t a, size_t n) { ET_T_COUNT(); return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n) {
    ET_T_COUNT();
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12;
}
void free(void *p) { __libc_free(p); }
#endif

static char tmp_dir[256];

static const char *tmp(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_dir, name);
    return buf[k];
}

/* ------------------------------------------------------------------ costs */
static uint8_t covered[ET_OP_COUNT];

static void cost_is(et_tensor *t, double want_flops, double want_bytes, const char *what) {
    CHECK(t != NULL, "%s: builder failed", what);
    if (!t) return;
    covered[t->op] = 1;
    CHECK(et_op_table[t->op].cost != NULL, "%s: op %s has no cost function", what, et_op_name(t->op));
    if (!et_op_table[t->op].cost) return;
    double f = -1, b = -1;
    et_op_table[t->op].cost(t, &f, &b);
    CHECK(f == want_flops, "%s: flops %.17g, hand count %.17g", what, f, want_flops);
    CHECK(b == want_bytes, "%s: bytes %.17g, hand count %.17g", what, b, want_bytes);
}

static void test_costs(void) {
    et_ctx *ctx = et_ctx_new(4096);
    et_tensor *w = et_new_2d(ctx, ET_F32, 8, 4, 0, "w");          /* K 8, N 4: 128 B */
    et_tensor *x = et_new_2d(ctx, ET_F32, 8, 3, 0, "x");          /* 3 tokens: 96 B */
    et_tensor *dy4 = et_new_2d(ctx, ET_F32, 4, 3, 0, "dy");       /* 48 B */
    /* matmul: 2·K·N·T = 2·8·4·3 = 192; W 128 + x 96 + y [4,3] 48 = 272 */
    cost_is(et_matmul(ctx, w, x), 192, 272, "matmul f32");
    /* Q8_0 weight K 32, N 2: 2 blocks of 34 B = 68; x [32,3] 384; y [2,3] 24 -> 476; 2·32·2·3 = 384 */
    et_tensor *wq = et_new_2d(ctx, ET_Q8_0, 32, 2, 0, "wq");
    et_tensor *x32 = et_new_2d(ctx, ET_F32, 32, 3, 0, "x32");
    cost_is(et_matmul(ctx, wq, x32), 384, 476, "matmul q8_0");
    /* NF4 K 64, N 2: 2 blocks of 33 B = 66 + double-quant tail (1 group + 1) floats = 8 -> 74;
     * x [64,3] 768; y [2,3] 24 -> 866; 2·64·2·3 = 768 */
    et_tensor *wn = et_new_2d(ctx, ET_NF4, 64, 2, 0, "wn");
    et_tensor *x64 = et_new_2d(ctx, ET_F32, 64, 3, 0, "x64");
    cost_is(et_matmul(ctx, wn, x64), 768, 866, "matmul nf4");
    /* matmul_dx: dy [4,3] -> dx [8,3]: 192; 128 + 48 + 96 = 272 */
    cost_is(et_matmul_dx(ctx, w, dy4), 192, 272, "matmul_dx");
    /* matmul_dw: dy [4,3], x [8,3] -> dW [8,4]: 2·4·8·3 = 192; 48 + 96 + 128 = 272 */
    cost_is(et_matmul_dw(ctx, dy4, x), 192, 272, "matmul_dw");

    et_tensor *a = et_new_2d(ctx, ET_F32, 4, 3, 0, "a");          /* 12 elements, 48 B */
    et_tensor *a2 = et_new_2d(ctx, ET_F32, 4, 3, 0, "a2");
    et_tensor *col = et_new_2d(ctx, ET_F32, 4, 1, 0, "col");      /* 16 B */
    /* add/mul with a broadcast [4,1]: 12 flops; 48 + 16 + 48 = 112 */
    cost_is(et_add(ctx, a, col), 12, 112, "add");
    cost_is(et_mul(ctx, a, col), 12, 112, "mul");
    cost_is(et_scale(ctx, a, 2.0f), 12, 96, "scale");                 /* 48 + 48 */
    cost_is(et_sum(ctx, a), 12, 52, "sum");                           /* 48 + 4 */
    cost_is(et_repeat(ctx, col, a), 0, 64, "repeat");                 /* 16 + 48 */
    cost_is(et_repeat_back(ctx, a, col), 12, 64, "repeat_back");      /* 12 adds; 48 + 16 */
    cost_is(et_cont(ctx, et_transpose(ctx, a)), 0, 96, "cont");       /* 48 + 48 */
    /* view_back: dy [2,3] into zeros shaped [4,3]: 6 adds; 24 + 48 = 72 */
    et_tensor *win = et_view(ctx, a, 2, (int64_t[]){2, 3}, (size_t[]){4, 16}, 0);
    et_tensor *dyw = et_new_2d(ctx, ET_F32, 2, 3, 0, "dyw");
    cost_is(et_view_back(ctx, dyw, win), 6, 72, "view_back");

    /* get_rows: 3 rows of a [4,10] f32 table: 3·16 + ids 12 + out 48 = 108; Q8_0 table of
     * D 32: 3·34 + 12 + 3·32·4 = 498 */
    et_tensor *tab = et_new_2d(ctx, ET_F32, 4, 10, 0, "tab");
    et_tensor *ids = et_new_1d(ctx, ET_I32, 3, 0, "ids");
    cost_is(et_get_rows(ctx, tab, ids), 0, 108, "get_rows f32");
    et_tensor *tabq = et_new_2d(ctx, ET_Q8_0, 32, 10, 0, "tabq");
    cost_is(et_get_rows(ctx, tabq, ids), 0, 498, "get_rows q8_0");
    /* get_rows_back: 12 adds; dy 48 + ids 12 + the whole [4,10] result 160 = 220 */
    cost_is(et_get_rows_back(ctx, dy4, ids, tab), 12, 220, "get_rows_back");
    /* concat [4,2] + [4,3] -> [4,5]: 32 + 48 + 80 = 160 */
    cost_is(et_concat(ctx, et_new_2d(ctx, ET_F32, 4, 2, 0, "c0"), a), 0, 160, "concat");
    /* rmsnorm: 3 per element = 36; 48 + 48.  back: 7 per element = 84; 48·3 */
    cost_is(et_rmsnorm(ctx, a, 1e-5f), 36, 96, "rmsnorm");
    cost_is(et_rmsnorm_back(ctx, a, a2, 1e-5f), 84, 144, "rmsnorm_back");
    /* rope x [8,2,3,1], n_rot 8: 4 pairs × 6 flops × 6 head rows = 144; x 192 + pos 12 + 192 = 396;
     * n_rot 4: 72 */
    et_tensor *xr = et_new(ctx, ET_F32, 4, (int64_t[]){8, 2, 3, 1}, 0, "xr");
    et_tensor *pos = et_new_1d(ctx, ET_I32, 3, 0, "pos");
    cost_is(et_rope(ctx, xr, pos, 8, ET_ROPE_NORM, 10000.0f), 144, 396, "rope");
    cost_is(et_rope(ctx, xr, pos, 4, ET_ROPE_NEOX, 10000.0f), 72, 396, "rope n_rot 4");

    /* attention q [4,2,3,1], k v [4,1,3,1], causal: keys visited 1+2+3 = 6 per head, 12 pairs;
     * (4·4 + 4)·12 = 240; q 96 + k 48 + v 48 + out 96 = 288.  Window 2: 1+2+2 -> 10 pairs, 200.
     * n_past 1 with 4 keys: 2+3+4 -> 18 pairs, 360; k, v 64 each -> 320 B */
    et_tensor *q = et_new(ctx, ET_F32, 4, (int64_t[]){4, 2, 3, 1}, 0, "q");
    et_tensor *k = et_new(ctx, ET_F32, 4, (int64_t[]){4, 1, 3, 1}, 0, "k");
    et_tensor *v = et_new(ctx, ET_F32, 4, (int64_t[]){4, 1, 3, 1}, 0, "v");
    et_tensor *att = et_attention(ctx, q, k, v, 0.5f, 0, 0);
    cost_is(att, 240, 288, "attention");
    cost_is(et_attention(ctx, q, k, v, 0.5f, 0, 2), 200, 288, "attention window 2");
    et_tensor *k4 = et_new(ctx, ET_F32, 4, (int64_t[]){4, 1, 4, 1}, 0, "k4");
    et_tensor *v4 = et_new(ctx, ET_F32, 4, (int64_t[]){4, 1, 4, 1}, 0, "v4");
    cost_is(et_attention(ctx, q, k4, v4, 0.5f, 1, 0), 360, 320, "attention n_past 1");
    /* attention_back: (10·4 + 6)·12 + 2·4·6 rows = 600; q 96 k 48 v 48 o 96 dO 96 + packed
     * (24 + 12 + 12)·4 = 192 -> 576 */
    et_tensor *dO = et_new(ctx, ET_F32, 4, (int64_t[]){4, 2, 3, 1}, 0, "dO");
    et_tensor *ab = et__new_node(ctx, ET_OP_ATTN_BACK, ET_F32, 1, (int64_t[]){24 + 12 + 12});
    if (ab && att) {
        ab->src[0] = q; ab->src[1] = k; ab->src[2] = v; ab->src[3] = att; ab->src[4] = dO;
        memcpy(ab->params, att->params, sizeof ab->params);
    }
    cost_is(ab, 600, 576, "attention_back");

    /* activations on 12 elements: silu 3, gelu 9, silu_back 8, gelu_back 17, swiglu 4, geglu 10
     * per element; unary 48 + 48 B, binary 48 + 48 + 48 B */
    cost_is(et_silu(ctx, a), 36, 96, "silu");
    cost_is(et_gelu(ctx, a), 108, 96, "gelu");
    cost_is(et_silu_back(ctx, a, a2), 96, 144, "silu_back");
    cost_is(et_gelu_back(ctx, a, a2), 204, 144, "gelu_back");
    cost_is(et_swiglu(ctx, a, a2), 48, 144, "swiglu");
    cost_is(et_geglu(ctx, a, a2), 120, 144, "geglu");

    /* cross-entropy h [4,3], W [4,5]: 15 logits × (2·4 + 3) = 165; h 48 + W 80 + targets 12
     * + the node's loss and 3 log-sum-exps 16 = 156.  Back (reads the saved log-sum-exps, one
     * pass over W): 15 × (4·4 + 3) = 285; h 48 + W 80 + 12 + dloss 4 + forward node 16 + dh 48
     * = 208 */
    et_tensor *h = et_new_2d(ctx, ET_F32, 4, 3, 0, "h");
    et_tensor *wo = et_new_2d(ctx, ET_F32, 4, 5, 0, "wo");
    et_tensor *tg = et_new_1d(ctx, ET_I32, 3, 0, "tg");
    et_tensor *loss_view = et_cross_entropy(ctx, h, wo, tg);
    et_tensor *ce = loss_view ? loss_view->view_src : NULL;
    cost_is(ce, 165, 156, "cross_entropy");
    et_tensor *dl = et_new_1d(ctx, ET_F32, 1, 0, "dl");
    et_tensor *ceb = et__new_node(ctx, ET_OP_CROSS_ENTROPY_BACK, ET_F32, 2, (int64_t[]){4, 3});
    if (ceb) { ceb->src[0] = h; ceb->src[1] = wo; ceb->src[2] = tg; ceb->src[3] = dl; ceb->src[4] = ce; }
    cost_is(ceb, 285, 208, "cross_entropy_back");
    /* the fused form (h trained: the backward rule sets it): forward + u += e·W = 165 + 15·8 =
     * 285 flops; the node grows to a marker and u: [1 + 3 lse, marker, pad to 16, u 12] = 28
     * floats, so 48 + 80 + 12 + 112 = 252 bytes.  Its backward dh = gs·u: 12 flops; u 48 +
     * dh 48 + targets 12 + dloss 16 (the node's gradient, shaped as the node was before it
     * grew: [1 + 3]) = 124 bytes */
    et_tensor *hce = et_new_2d(ctx, ET_F32, 4, 3, ET_FLAG_PARAM, "hce");
    et_tensor *lossp = et_cross_entropy(ctx, hce, wo, tg);
    et_graph *gp = et_graph_new(ctx, 64);
    CHECK(lossp && gp && et_graph_backward(gp, lossp, NULL), "fused cross-entropy backward: %s", et_ctx_error(ctx));
    if (lossp && hce->grad && hce->grad->op == ET_OP_CROSS_ENTROPY_BACK) {
        cost_is(lossp->view_src, 285, 252, "cross_entropy (fused)");
        cost_is(hce->grad, 12, 124, "cross_entropy_back (fused)");
    } else CHECK(false, "dh is not a CROSS_ENTROPY_BACK node");
    et_graph_free(gp);

    /* adamw on 12 elements: 15 each = 180; p 2·48, g 48, m 2·48, v 2·48, hp 32 -> 368;
     * clipped: + the 4-byte scale = 372 */
    et_tensor *p = et_new_2d(ctx, ET_F32, 4, 3, 0, "p"), *g = et_new_2d(ctx, ET_F32, 4, 3, 0, "g");
    et_tensor *m = et_new_2d(ctx, ET_F32, 4, 3, 0, "m"), *vv = et_new_2d(ctx, ET_F32, 4, 3, 0, "v");
    et_tensor *hp = et_new_1d(ctx, ET_F32, ET_HP_COUNT, 0, "hp");
    cost_is(et_adamw(ctx, p, g, m, vv, hp), 180, 368, "adamw");
    et_tensor *clip = et_clip_scale(ctx, et_sumsq(ctx, g), 1.0f);
    cost_is(et_adamw_clipped(ctx, p, g, m, vv, hp, clip), 180, 372, "adamw clipped");
    /* sumsq: a multiply-add per element = 24; 48 + 4.  clip_scale: 3; 4 + 4 */
    cost_is(et_sumsq(ctx, a), 24, 52, "sumsq");
    cost_is(clip, 3, 8, "clip_scale");
    /* dropout: 12 multiplies; x 48 + seed 4 + y 48 = 100 */
    cost_is(et_dropout(ctx, a, et_new_1d(ctx, ET_I32, 1, 0, "seed"), 0.1f, 0), 12, 100, "dropout");
    /* kv_store: k [4,1,3,1] (48 B) read and written into the cache: 96 */
    et_tensor *cache = et_new(ctx, ET_F32, 4, (int64_t[]){4, 1, 8, 1}, 0, "cache");
    cost_is(et_kv_store(ctx, cache, k, 2), 0, 96, "kv_store");

    CHECK(!et_ctx_failed(ctx), "builders: %s", et_ctx_error(ctx));
    for (int op = 0; op < ET_OP_COUNT; op++)
        CHECK(!et_op_table[op].cost || covered[op], "op %s has a cost function but no hand-counted case here",
              et_op_name((et_op)op));
    et_ctx_free(ctx);
}

/* ------------------------------------------------------------------ a small training step */
static const et_llama_config cfg_small = {
    .vocab = 32, .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 8,
    .ffn = 64, .max_seq = 16, .rope_theta = 10000.0f, .rms_eps = 1e-5f,
};

typedef struct step {
    et_ctx *ctx;
    et_llama m;
    et_llama_batch b;
    et_graph *g;
    et_optim o;
    et_plan plan;
} step;

static bool step_build(step *s, const et_llama_config *cfg, bool recompute, bool alloc) {
    memset(s, 0, sizeof *s);
    const int64_t T = 8, B = 2;
    s->ctx = et_ctx_new(1 << 15);
    s->g = et_graph_new(s->ctx, 1 << 14);
    et_adamw_cfg ac = et_adamw_defaults();
    et_backward_opts bo = { .recompute = recompute };
    et_tensor *loss = NULL;
    bool ok = et_llama_init(&s->m, s->ctx, cfg, 3, 0) && et_llama_add_lora(&s->m, 4, 8.0f, 0.0f, "all", 5) &&
              et_llama_batch_new(&s->b, &s->m, T, B, (T - 1) * B) && (loss = et_llama_loss(&s->m, &s->b, recompute)) &&
              et_graph_backward(s->g, loss, &bo) && et_optim_adamw_init(&s->o, s->g, &ac) &&
              et_graph_plan(s->g, &s->plan) && (!alloc || et_graph_alloc(s->g, &s->plan));
    CHECK(ok, "step: %s", et_ctx_error(s->ctx));
    if (!ok || !alloc) return ok;
    int32_t *ids = s->b.ids->data, *sel = s->b.sel->data, *tgt = s->b.targets->data;
    for (int64_t i = 0; i < T * B; i++) ids[i] = (int32_t)((i * 7 + 3) % cfg->vocab);
    int64_t k = 0;
    for (int64_t j = 0; j < B; j++)
        for (int64_t t = 0; t + 1 < T; t++, k++) { sel[k] = (int32_t)(t + T * j); tgt[k] = ids[t + 1 + T * j]; }
    et_optim_next_step(&s->o, 1e-3f, 1.0f);
    return ok;
}

static void step_free(step *s) {
    et_plan_free(&s->plan);
    et_optim_free(&s->o);
    if (s->g) et_graph_free(s->g);
    if (s->ctx) et_ctx_free(s->ctx);
}

static int32_t n_timed(const et_graph *g) {
    int32_t n = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) n += g->nodes[i]->op != ET_OP_VIEW && g->nodes[i]->op != ET_OP_NONE;
    return n;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); s = NULL; }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

#define RUNS 3

static void test_trace_and_jsonl(void) {
    step s;
    if (!step_build(&s, &cfg_small, false, true)) { step_free(&s); return; }
    et_profile *p = et_profile_new(s.g, 8);
    CHECK(p != NULL, "et_profile_new");
    bool ok = p != NULL;
    for (int r = 0; r < RUNS && ok; r++) ok = et_graph_compute_range(s.g, &s.plan, 0, s.g->n_nodes, 2, p);
    CHECK(ok, "compute: %s", et_ctx_error(s.ctx));
    if (!ok) { et_profile_free(p); step_free(&s); return; }
    int32_t timed = n_timed(s.g);
    CHECK(p->runs == RUNS && et_profile_steps(p) == RUNS, "runs %lld steps %lld, want %d", (long long)p->runs,
          (long long)et_profile_steps(p), RUNS);

    char err[256];
    CHECK(et_profile_write_trace(p, tmp("trace.json"), err, sizeof err), "%.300s", err);
    char *txt = slurp(tmp("trace.json"));
    cJSON *root = txt ? cJSON_Parse(txt) : NULL;
    CHECK(root != NULL, "trace.json is not valid JSON");
    const cJSON *evs = root ? cJSON_GetObjectItemCaseSensitive(root, "traceEvents") : NULL;
    CHECK(cJSON_IsArray(evs), "no traceEvents array");
    int n_ops = 0, n_thread_names = 0, spans[ET_PHASE_COUNT] = {0}, outside = 0, bad = 0;
    /* spans first, then every op event must sit inside a span of its phase on its track */
    double sp_t0[64], sp_t1[64];
    int sp_ph[64], sp_tid[64], n_sp = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, evs) {
        const cJSON *ph = cJSON_GetObjectItemCaseSensitive(e, "ph"), *cat = cJSON_GetObjectItemCaseSensitive(e, "cat");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (!cJSON_IsString(ph) || !cJSON_IsString(name)) { bad++; continue; }
        if (!strcmp(ph->valuestring, "M")) { n_thread_names += !strcmp(name->valuestring, "thread_name"); continue; }
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(e, "ts"), *dur = cJSON_GetObjectItemCaseSensitive(e, "dur");
        const cJSON *tid = cJSON_GetObjectItemCaseSensitive(e, "tid");
        if (strcmp(ph->valuestring, "X") || !cJSON_IsNumber(ts) || !cJSON_IsNumber(dur) || !cJSON_IsNumber(tid) ||
            !cJSON_IsString(cat) || dur->valuedouble < 0) { bad++; continue; }
        if (!strcmp(cat->valuestring, "phase")) {
            for (int k = 0; k < ET_PHASE_COUNT; k++)
                if (!strcmp(name->valuestring, et_phase_name((et_phase)k)) && n_sp < 64) {
                    spans[k]++;
                    sp_t0[n_sp] = ts->valuedouble; sp_t1[n_sp] = ts->valuedouble + dur->valuedouble;
                    sp_ph[n_sp] = k; sp_tid[n_sp] = tid->valueint; n_sp++;
                }
        }
    }
    cJSON_ArrayForEach(e, evs) {
        const cJSON *cat = cJSON_GetObjectItemCaseSensitive(e, "cat");
        if (!cJSON_IsString(cat) || strcmp(cat->valuestring, "op")) continue;
        n_ops++;
        double t0 = cJSON_GetObjectItemCaseSensitive(e, "ts")->valuedouble;
        double t1 = t0 + cJSON_GetObjectItemCaseSensitive(e, "dur")->valuedouble;
        int tid = cJSON_GetObjectItemCaseSensitive(e, "tid")->valueint;
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(e, "args");
        const cJSON *phn = args ? cJSON_GetObjectItemCaseSensitive(args, "phase") : NULL;
        const cJSON *fl = args ? cJSON_GetObjectItemCaseSensitive(args, "flops") : NULL;
        if (!cJSON_IsString(phn) || !cJSON_IsNumber(fl)) { bad++; continue; }
        bool in = false;
        for (int k = 0; k < n_sp && !in; k++)
            in = sp_tid[k] == tid && !strcmp(et_phase_name((et_phase)sp_ph[k]), phn->valuestring) && t0 >= sp_t0[k] &&
                 t1 <= sp_t1[k] + 1e-9;
        outside += !in;
    }
    CHECK(bad == 0, "%d malformed events", bad);
    CHECK(n_thread_names >= 1, "no thread_name metadata (track name)");
    CHECK(n_ops == RUNS * timed, "%d op events, want %d runs x %d nodes", n_ops, RUNS, timed);
    for (int k = 0; k < ET_PHASE_COUNT; k++)
        CHECK(spans[k] == RUNS, "%d '%s' spans, want one per run (%d)", spans[k], et_phase_name((et_phase)k), RUNS);
    CHECK(outside == 0, "%d op events lie outside a span of their phase", outside);
    cJSON_Delete(root);
    free(txt);

    /* JSON lines: a header, then one node record per executed node with count = RUNS */
    CHECK(et_profile_write_jsonl(p, tmp("profile.jsonl"), NULL, err, sizeof err), "%.300s", err);
    FILE *f = fopen(tmp("profile.jsonl"), "r");
    char line[8192];
    int lines = 0, nodes = 0, headers = 0, ops = 0, badl = 0;
    while (f && fgets(line, sizeof line, f)) {
        lines++;
        cJSON *j = cJSON_Parse(line);
        const cJSON *rec = j ? cJSON_GetObjectItemCaseSensitive(j, "record") : NULL;
        if (!cJSON_IsString(rec)) { badl++; cJSON_Delete(j); continue; }
        if (!strcmp(rec->valuestring, "profile")) {
            headers++;
            const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "version");
            CHECK(cJSON_IsNumber(ver) && ver->valueint == 1, "header without version 1");
        } else if (!strcmp(rec->valuestring, "node")) {
            nodes++;
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "count");
            if (!cJSON_IsNumber(c) || c->valueint != RUNS) badl++;
        } else if (!strcmp(rec->valuestring, "op")) ops++;
        cJSON_Delete(j);
    }
    if (f) fclose(f);
    CHECK(f != NULL && lines > 0 && badl == 0, "profile.jsonl: %d lines, %d bad", lines, badl);
    CHECK(headers == 1 && nodes == timed && ops > 3, "jsonl: %d headers, %d node records (want %d), %d op records",
          headers, nodes, timed, ops);

    /* the terminal table names the top op and the phases */
    FILE *tf = fopen(tmp("table.txt"), "w+");
    et_profile_print_table(p, tf, 10, NULL);
    rewind(tf);
    size_t nr = fread(line, 1, sizeof line - 1, tf);
    line[nr] = 0;
    fclose(tf);
    CHECK(strstr(line, "top ops by time") && strstr(line, "forward") && strstr(line, "optimizer"),
          "table lacks its sections:\n%.300s", line);

    /* the one-call report for --profile DIR: the four files, limits or not */
    FILE *null = fopen("/dev/null", "w");
    CHECK(et_profile_write_dir(p, tmp("dir/sub"), tmp("nonexistent.jsonl"), null, err, sizeof err), "%.300s", err);
    if (null) fclose(null);
    const char *files[4] = { "dir/sub/profile.jsonl", "dir/sub/trace.json", "dir/sub/roofline.png", "dir/sub/memory.png" };
    for (int k = 0; k < 4; k++) {
        struct stat st;
        CHECK(stat(tmp(files[k]), &st) == 0 && st.st_size > 1000, "%.200s missing or tiny", tmp(files[k]));
    }
    et_profile_free(p);
    step_free(&s);
}

static void test_flops_deterministic(void) {
    step s;
    if (!step_build(&s, &cfg_small, false, true)) { step_free(&s); return; }
    double f[2], b[2];
    for (int r = 0; r < 2; r++) {
        et_profile *p = et_profile_new(s.g, 0);
        CHECK(p && et_graph_compute_range(s.g, &s.plan, 0, s.g->n_nodes, 2, p), "run %d", r);
        if (p) et_profile_totals(p, ET_PHASE_COUNT, NULL, &f[r], &b[r]);
        et_profile_free(p);
    }
    CHECK(f[0] > 0 && f[0] == f[1] && b[0] == b[1], "totals differ: flops %.17g vs %.17g, bytes %.17g vs %.17g",
          f[0], f[1], b[0], b[1]);
    /* the matrix products dominate: forward matmul FLOPs = 2·tokens·(weights of the 7
     * linear layers + LoRA A and B), per layer */
    et_profile *p = et_profile_new(s.g, 0);
    double mm = 0;
    for (int32_t i = 0; p && i < s.g->n_forward; i++)
        if (s.g->nodes[i]->op == ET_OP_MATMUL) mm += p->flops[i];
    const et_llama_config *c = &cfg_small;
    double kv = (double)c->n_kv_heads * c->head_dim, qd = (double)c->n_heads * c->head_dim;
    double lin = c->dim * qd + 2 * c->dim * kv + qd * c->dim + 3.0 * c->dim * c->ffn;
    double lora = 4.0 * ((c->dim + qd) + 2 * (c->dim + kv) + (qd + c->dim) + 2 * (c->dim + c->ffn) + (c->ffn + c->dim));
    double want = 2.0 * 16 * (lin + lora) * c->n_layers;
    CHECK(mm == want, "forward matmul FLOPs %.17g, hand count %.17g", mm, want);
    et_profile_free(p);
    step_free(&s);
}

#ifdef ET_T_COUNT_ALLOCS
static void test_profiling_allocates_nothing(void) {
    step s;
    if (!step_build(&s, &cfg_small, false, true)) { step_free(&s); return; }
    et_profile *p = et_profile_new(s.g, 2);   /* full after two runs: later runs only add totals */
    bool ok = p && et_graph_compute_range(s.g, &s.plan, 0, s.g->n_nodes, 2, p);   /* warm-up */
    n_alloc = 0;
    counting = 1;
    for (int r = 0; r < 3 && ok; r++) ok = et_graph_compute_range(s.g, &s.plan, 0, s.g->n_nodes, 2, p);
    counting = 0;
    CHECK(ok, "compute: %s", et_ctx_error(s.ctx));
    CHECK(n_alloc == 0, "%ld allocations in 3 profiled steps", n_alloc);
    CHECK(!p || (p->dropped > 0 && et_profile_steps(p) == 4), "events past capacity: dropped %lld, steps %lld",
          p ? (long long)p->dropped : 0LL, p ? (long long)et_profile_steps(p) : 0LL);
    et_profile_free(p);
    step_free(&s);
}
#endif

/* ------------------------------------------------------------------ memory */
static void test_memory_timeline(void) {
    et_llama_config c4 = cfg_small;
    c4.n_layers = 4;
    step a, r;
    bool ok = step_build(&a, &c4, false, false);
    ok = step_build(&r, &c4, true, false) && ok;
    if (ok) {
        et_mem_timeline ta, tr;
        char err[256];
        bool oka = et_mem_timeline_compute(a.g, &ta, err, sizeof err);
        bool okr = oka && et_mem_timeline_compute(r.g, &tr, err, sizeof err);
        CHECK(oka && okr, "%s", err);
        if (oka && okr) {
            CHECK(ta.peak > 0 && ta.live_at_peak_bytes == ta.peak, "tensors live at the peak sum to %zu, timeline %zu",
                  ta.live_at_peak_bytes, ta.peak);
            CHECK(tr.live_at_peak_bytes == tr.peak, "recompute: tensors at the peak %zu, timeline %zu",
                  tr.live_at_peak_bytes, tr.peak);
            CHECK(tr.peak < ta.peak, "recomputation peak %zu not below %zu", tr.peak, ta.peak);
            CHECK(ta.n_top > 0 && ta.top[0].bytes >= ta.top[ta.n_top - 1].bytes, "top tensors not sorted");
            CHECK(ta.peak <= a.plan.buffer_bytes, "timeline peak %zu above the planned buffer %zu", ta.peak,
                  a.plan.buffer_bytes);
            CHECK(et_mem_timeline_plot(&ta, "plain", &tr, "recompute", tmp("memory.png"), err, sizeof err), "%s", err);
        }
        if (oka) et_mem_timeline_free(&ta);
        if (okr) et_mem_timeline_free(&tr);
    }
    step_free(&a);
    step_free(&r);
}

/* ------------------------------------------------------------------ limits and pictures */
static void write_limits(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "{\"bench\":\"provenance\",\"git\":\"x\"}\n");
    const int th[2] = {1, 2};
    for (int i = 0; i < 2; i++) {
        fprintf(f, "{\"bench\":\"probe\",\"what\":\"read_bw_pattern\",\"pattern\":\"seq4\",\"threads\":%d,\"gbps\":1.0}\n", th[i]);
        fprintf(f, "{\"bench\":\"probe\",\"what\":\"read_bw\",\"pattern\":\"seq4\",\"threads\":%d,\"gbps\":%g}\n", th[i], 20.0 * th[i]);
        fprintf(f, "{\"bench\":\"probe\",\"what\":\"fma_peak\",\"threads\":%d,\"gflops\":%g}\n", th[i], 100.0 * th[i]);
        fprintf(f, "{\"bench\":\"probe\",\"what\":\"bf16_peak\",\"threads\":%d,\"gflops\":%g}\n", th[i], 200.0 * th[i]);
        fprintf(f, "{\"bench\":\"probe\",\"what\":\"int8_peak\",\"threads\":%d,\"gflops\":%g}\n", th[i], 400.0 * th[i]);
    }
    fprintf(f, "{\"bench\":\"matmul\",\"type\":\"f32\",\"gflops\":12.0}\n");
    fclose(f);
}

static void png_nonblank(const char *path, int min_w) {
    int w = 0, h = 0, ch = 0;
    unsigned char *img = stbi_load(path, &w, &h, &ch, 3);
    CHECK(img != NULL && w >= min_w && h > 100, "%s: not a PNG of at least %d px width (%dx%d)", path, min_w, w, h);
    if (!img) return;
    long dark = 0, colour = 0;
    for (long i = 0; i < (long)w * h; i++) {
        const unsigned char *p = img + i * 3;
        dark += p[0] < 128 && p[1] < 128 && p[2] < 128;
        colour += abs(p[0] - p[1]) > 40 || abs(p[1] - p[2]) > 40;
    }
    /* text and axes are dark; points and lines are coloured: a blank or white image has neither */
    CHECK(dark > 500 && colour > 200, "%s looks blank: %ld dark, %ld coloured pixels", path, dark, colour);
    stbi_image_free(img);
}

static void test_limits_and_pictures(void) {
    char err[256];
    et_roofline_limits lim;
    write_limits(tmp("limits.jsonl"));
    CHECK(et_roofline_limits_read(tmp("limits.jsonl"), 2, &lim, err, sizeof err), "%s", err);
    CHECK(lim.ok && lim.bw_gbps == 40 && lim.peak_gflops[0] == 200 && lim.peak_gflops[1] == 400 &&
              lim.peak_gflops[2] == 800 && lim.threads == 2,
          "2 threads: bw %g peaks %g %g %g", lim.bw_gbps, lim.peak_gflops[0], lim.peak_gflops[1], lim.peak_gflops[2]);
    CHECK(et_roofline_limits_read(tmp("limits.jsonl"), 1, &lim, err, sizeof err) && lim.bw_gbps == 20 &&
              lim.peak_gflops[0] == 100,
          "1 thread: bw %g fma %g", lim.bw_gbps, lim.peak_gflops[0]);
    CHECK(et_roofline_limits_read(tmp("limits.jsonl"), 7, &lim, err, sizeof err) && lim.threads == 2 &&
              lim.bw_gbps == 40,
          "absent thread count should fall back to the most threads");
    CHECK(!et_roofline_limits_read(tmp("nonexistent.jsonl"), 2, &lim, err, sizeof err) &&
              strstr(err, "nonexistent.jsonl"), "missing file: '%s'", err);
    FILE *f = fopen(tmp("bad.jsonl"), "w");
    if (f) { fprintf(f, "{\"bench\":\"probe\",\"what\":\"read_bw\",\"threads\":2,\"gbps\":3}\n{not json\n"); fclose(f); }
    CHECK(!et_roofline_limits_read(tmp("bad.jsonl"), 2, &lim, err, sizeof err) && strstr(err, "bad.jsonl:2"),
          "malformed line: '%s'", err);

    step s;
    if (!step_build(&s, &cfg_small, false, true)) { step_free(&s); return; }
    et_profile *p = et_profile_new(s.g, 4);
    bool ok = p && et_graph_compute_range(s.g, &s.plan, 0, s.g->n_nodes, 2, p) &&
              et_graph_compute_range(s.g, &s.plan, 0, s.g->n_nodes, 2, p);
    CHECK(ok, "compute");
    et_roofline_limits_read(tmp("limits.jsonl"), 2, &lim, err, sizeof err);
    /* a node's fraction of the roofline: bound = max(flops/peak, bytes/bw) */
    for (int32_t i = 0; ok && i < s.g->n_nodes; i++) {
        if (s.g->nodes[i]->op != ET_OP_MATMUL) continue;
        double want = fmax(p->flops[i] / 200.0, p->bytes[i] / 40.0);
        CHECK(fabs(et_profile_bound_ns(p, &lim, i) - want) <= 1e-9 * want, "node %d bound %g, want %g", i,
              et_profile_bound_ns(p, &lim, i), want);
        break;
    }
    CHECK(ok && et_profile_write_roofline(p, &lim, tmp("roofline.png"), err, sizeof err), "%s", err);
    if (ok) png_nonblank(tmp("roofline.png"), 800);
    png_nonblank(tmp("memory.png"), 800);
    et_profile_free(p);
    step_free(&s);
}

/* ------------------------------------------------------------------ a scratch regression
 * The fused cross-entropy's backward calls the dX kernel inside its own scratch; sized for the
 * forward product only, it wrote past the step's scratch whenever cross-entropy needed the
 * largest scratch of the graph (the bench config: `edgetune profile` died in free()).  Here
 * cross-entropy is the whole graph, so its scratch is the buffer's end: `make asan` reports
 * any write past it. */
static void test_cross_entropy_scratch(void) {
    et_ctx *ctx = et_ctx_new(256);
    et_tensor *h = et_new_2d(ctx, ET_F32, 512, 64, ET_FLAG_PARAM, "h");   /* 512: two dX column ranges, both threads write */
    et_tensor *w = et_new_2d(ctx, ET_F32, 512, 20000, 0, "w");
    et_tensor *tg = et_new_1d(ctx, ET_I32, 64, ET_FLAG_INPUT, "targets");
    et_graph *g = et_graph_new(ctx, 64);
    et_plan plan = {0};
    for (int i = 0; h && i < 64; i++) ((int32_t *)tg->data)[i] = i * 311 % 20000;
    for (int64_t i = 0; w && i < 512 * 20000; i++) ((float *)w->data)[i] = (float)((i * 7919) % 13) * 0.01f;
    et_tensor *loss = et_cross_entropy(ctx, h, w, tg);
    bool ok = loss && et_graph_backward(g, loss, NULL) && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan) &&
              et_graph_compute(g, &plan, 2);
    CHECK(ok, "cross-entropy step: %s", et_ctx_error(ctx));
    CHECK(!ok || (h->grad && isfinite(*(float *)loss->data)), "no gradient or a non-finite loss");
    et_plan_free(&plan);
    et_graph_free(g);
    et_ctx_free(ctx);
}

/* ------------------------------------------------------------------ the command's path */
static void test_profile_run_tiny(void) {
    char err[256], dir[512];
    snprintf(dir, sizeof dir, "%s/run", tmp_dir);
    FILE *out = fopen(tmp("run.txt"), "w+");
    et_profile_run_opts o = { .method = "lora", .config = "tiny", .steps = 2, .out_dir = dir,
                              .limits_path = tmp("limits.jsonl"), .threads = 2, .out = out };
    et_profile_run_result res;
    int rc = et_profile_run(&o, &res, err, sizeof err);
    CHECK(rc == 0, "et_profile_run: %.300s", err);
    const char *files[4] = { "profile.jsonl", "trace.json", "roofline.png", "memory.png" };
    for (int k = 0; k < 4 && rc == 0; k++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s", dir, files[k]);
        struct stat st;
        CHECK(stat(path, &st) == 0 && st.st_size > 1000, "%.200s missing or tiny", path);
    }
    CHECK(rc != 0 || (res.have_limits && res.hook_ns > 0 && res.hook_ns < 1e5 && res.off_ms > 0 && res.on_ms > 0 && res.bare_ms > 0 && res.nodes > 100 &&
                      res.peak_bytes_other < res.peak_bytes),
          "result: limits %d, ms %g %g %g, nodes %d, peaks %zu / %zu", res.have_limits, res.bare_ms, res.off_ms,
          res.on_ms, res.nodes, res.peak_bytes, res.peak_bytes_other);
    o.method = "sgd";
    CHECK(et_profile_run(&o, &res, err, sizeof err) != 0 && strstr(err, "sgd"), "bad method accepted: '%.300s'", err);
    if (out) fclose(out);
}

/* --answer: the loss and the head on each sequence's last N positions only (the tiny config:
 * batch 2 × 32, dim 64): the cross-entropy node gets 2·N rows, the step fewer flops; an
 * answer as long as the sequence is refused with the value in the message. */
static void test_profile_run_answer(void) {
    char err[256], dir[512], path[700];
    snprintf(dir, sizeof dir, "%s/answer", tmp_dir);
    FILE *out = fopen(tmp("answer.txt"), "w+");
    et_profile_run_opts o = { .method = "lora", .config = "tiny", .steps = 1, .out_dir = dir,
                              .limits_path = tmp("limits.jsonl"), .threads = 2, .out = out };
    et_profile_run_result all, ans;
    CHECK(et_profile_run(&o, &all, err, sizeof err) == 0, "all positions: %.300s", err);
    o.answer = 5;
    CHECK(et_profile_run(&o, &ans, err, sizeof err) == 0, "--answer 5: %.300s", err);
    CHECK(ans.step_flops < all.step_flops, "answer-only step %g flops, all positions %g", ans.step_flops,
          all.step_flops);
    snprintf(path, sizeof path, "%s/profile.jsonl", dir);
    FILE *f = fopen(path, "r");
    char line[4096];
    int ce = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "\"record\":\"node\"") && strstr(line, "\"op\":\"cross_entropy\"")) ce += strstr(line, "\"[64,10] f32\"") != NULL ? 1 : 100;
    if (f) fclose(f);
    CHECK(ce == 1, "cross_entropy nodes over [64,10]: %d (100 per node of another shape)", ce);
    if (out) {
        rewind(out);
        bool said = false;
        while (fgets(line, sizeof line, out)) said |= strstr(line, "loss and head on the last 5 positions") != NULL;
        CHECK(said, "the header does not say where the loss is");
        fclose(out);
    }
    o.answer = 32;
    o.out = NULL;
    CHECK(et_profile_run(&o, &ans, err, sizeof err) != 0 && strstr(err, "--answer 32"), "answer = T accepted: '%.300s'",
          err);
}

int main(void) {
    const char *b = getenv("BUILD");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/test-profile", b ? b : "build");
    mkdir(tmp_dir, 0755);
    RUN(test_costs);
    RUN(test_trace_and_jsonl);
    RUN(test_flops_deterministic);
#ifdef ET_T_COUNT_ALLOCS
    RUN(test_profiling_allocates_nothing);
#else
    printf("  (allocations are not counted under AddressSanitizer: the plain build checks them)\n");
#endif
    RUN(test_memory_timeline);
    RUN(test_limits_and_pictures);
    RUN(test_cross_entropy_scratch);
    RUN(test_profile_run_tiny);
    RUN(test_profile_run_answer);
    return DONE();
}
