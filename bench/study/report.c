/* report.md and its figures, from results.jsonl and the tasks' difficulty.
 *
 * Rows (one per finished cell) are grouped into configurations (the cell key without the
 * seed).  Scores are oriented so that higher is better where tasks are compared: accuracy,
 * ROUGE-L, and for rating 1 - MAE/4 (MAE lies in [0, 4]); tables also give the raw metric.
 * Every mean carries a 95% CI from the two-level bootstrap (users, then seeds; stats.h).
 * Each finding is a set of paired contrasts (same users, per-user means over seeds), tested
 * by sign-flip permutation and Holm-corrected across all contrasts of the report.
 * The header gives the device (the limits the study measured into device.jsonl) and whether
 * the built-in models were pretrained on prompt-shaped documents (the corpus manifest); a
 * table shows the weight types each base really ran on (Q4_K falls back on rows that are
 * not whole 256-blocks), and the roofline section projects learning and inference.
 */
#include "study.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/plot.h"
#include "bench/stats.h"

#define ET__MAXU 256

typedef struct {
    char key[600], cfg[600];          /* cfg: key without seed */
    char task[48], method[16], base[16], model[160], slice[32], metric[16], wtypes[160];
    int k, cap, rank, seed, n_users, lower_better;
    double budget, value, learn_s, steps, tok_s, planned, rss, flops, bytes, latency, model_bytes;
    double iflops, ibytes;            /* inference per query */
    double value_cal;                 /* main metric under calibrated label scoring (NaN: none) */
    double top_share, top_share_cal;  /* share of queries given the most chosen label */
    char top[24], top_cal[24];        /* that label */
    int nu;
    char **users;
    double *uval;                     /* main metric per user */
} et__row;

typedef struct {
    int first;                        /* row index of the first member */
    int n_seeds, rows[16];
    et_ci ci;                         /* of the oriented score */
    double raw;                       /* mean of the raw metric */
    double raw_cal;                   /* ... under calibrated label scoring */
    double top_share, top_share_cal;  /* mean share of the most chosen label, raw / calibrated */
    double learn_s, steps, rss, latency;
} et__cfg;

typedef struct {
    et__row *r; int n;
    int n_stale;                      /* rows skipped: keys from an older scoring rule */
    et__cfg *g; int ng;
    const et_study_task *tasks; int n_tasks;
} et__rep;

static double et__orient(const et__row *r, double v) { return r->lower_better ? 1 - v / 4 : v; }

static int et__load_rows(const char *path, et__rep *R, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: no results yet (run the study first)", path); return -1; }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rcap = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n') break;
        cJSON *j = cJSON_Parse(line);
        if (!j) continue;
        const cJSON *key = cJSON_GetObjectItem(j, "key"), *c = cJSON_GetObjectItem(j, "config"),
                    *m = cJSON_GetObjectItem(j, "metrics"), *pu = cJSON_GetObjectItem(j, "per_user");
        if (!cJSON_IsString(key) || !cJSON_IsObject(c) || !cJSON_IsObject(m) || !cJSON_IsObject(pu)) {
            cJSON_Delete(j);
            continue;
        }
        if (!strstr(key->valuestring, ";scoring=raw+cal")) {   /* scored by an older rule (plan.c's key) */
            R->n_stale++;
            cJSON_Delete(j);
            continue;
        }
        if (R->n == rcap) {
            rcap = rcap ? rcap * 2 : 64;
            et__row *nr = realloc(R->r, sizeof *nr * (size_t)rcap);
            if (!nr) { cJSON_Delete(j); break; }
            R->r = nr;
        }
        et__row *r = &R->r[R->n];
        memset(r, 0, sizeof *r);
#define S(dst, obj, name) snprintf(dst, sizeof dst, "%s", cJSON_IsString(cJSON_GetObjectItem(obj, name)) ? cJSON_GetObjectItem(obj, name)->valuestring : "")
#define N(obj, name) (cJSON_IsNumber(cJSON_GetObjectItem(obj, name)) ? cJSON_GetObjectItem(obj, name)->valuedouble : NAN)
        snprintf(r->key, sizeof r->key, "%s", key->valuestring);
        S(r->task, c, "task"); S(r->method, c, "method"); S(r->base, c, "base");
        S(r->model, c, "model"); S(r->slice, c, "slice"); S(r->wtypes, c, "weight_types");
#define I(obj, name) (isfinite(N(obj, name)) && fabs(N(obj, name)) < 1e9 ? (int)N(obj, name) : 0)
        r->k = I(c, "rag_k"), r->cap = I(c, "profile_cap"), r->rank = I(c, "rank");
        r->seed = I(c, "seed"), r->n_users = I(c, "n_users"), r->budget = N(c, "budget_s");
        r->model_bytes = N(c, "model_bytes");
        const char *kind = cJSON_IsString(cJSON_GetObjectItem(c, "kind")) ? cJSON_GetObjectItem(c, "kind")->valuestring : "";
        const char *mn = !strcmp(kind, "generation") ? "rougeL" : !strcmp(kind, "rating") ? "mae" : "accuracy";
        snprintf(r->metric, sizeof r->metric, "%s", mn);
        r->lower_better = !strcmp(mn, "mae");
        r->value = N(m, mn);
        r->learn_s = N(j, "learn_seconds_per_user"), r->steps = N(j, "steps_per_user");
        r->tok_s = N(j, "train_tokens_per_s"), r->planned = N(j, "planned_peak_bytes");
        r->rss = N(j, "measured_peak_rss"), r->flops = N(j, "learn_flops_per_user");
        r->bytes = N(j, "learn_bytes_per_user"), r->latency = N(j, "latency_ms_per_query");
        r->iflops = N(j, "infer_flops_per_query"), r->ibytes = N(j, "infer_bytes_per_query");
        const cJSON *mc = cJSON_GetObjectItem(j, "metrics_cal");
        r->value_cal = cJSON_IsObject(mc) ? N(mc, mn) : NAN;
        for (int w = 0; w < 2; w++) {   /* the most chosen label, raw and calibrated */
            const cJSON *pl = cJSON_GetObjectItem(j, w ? "predicted_labels_cal" : "predicted_labels"), *e;
            double tot = 0, best = -1;
            char *top = w ? r->top_cal : r->top;
            top[0] = 0;
            cJSON_ArrayForEach(e, pl) {
                if (!cJSON_IsNumber(e)) continue;
                tot += e->valuedouble;
                if (e->valuedouble > best) best = e->valuedouble, snprintf(top, sizeof r->top, "%s", e->string);
            }
            *(w ? &r->top_share_cal : &r->top_share) = tot > 0 ? best / tot : NAN;
        }
        const cJSON *un = cJSON_GetObjectItem(pu, "users"), *uv = cJSON_GetObjectItem(pu, mn);
        int nu = cJSON_GetArraySize(un);
        if (nu > ET__MAXU) nu = ET__MAXU;
        if (nu != cJSON_GetArraySize(uv) || !isfinite(r->value)) { cJSON_Delete(j); continue; }
        r->users = calloc((size_t)nu + 1, sizeof *r->users);
        r->uval = calloc((size_t)nu + 1, sizeof *r->uval);
        for (int i = 0; i < nu; i++) {
            const cJSON *a = cJSON_GetArrayItem(un, i), *b = cJSON_GetArrayItem(uv, i);
            r->users[i] = strdup(cJSON_IsString(a) ? a->valuestring : "?");
            r->uval[i] = cJSON_IsNumber(b) ? b->valuedouble : NAN;
        }
        r->nu = nu;
        /* configuration = key without ";seed=N" */
        snprintf(r->cfg, sizeof r->cfg, "%s", r->key);
        char *s = strstr(r->cfg, ";seed=");
        if (s) { char *e = strchr(s + 1, ';'); memmove(s, e ? e : s + strlen(s), strlen(e ? e : s + strlen(s)) + 1); }
        R->n++;
        cJSON_Delete(j);
#undef S
#undef N
#undef I
    }
    free(line);
    fclose(f);
    return 0;
}

/* user u's oriented values for config g: mean over its seeds (NaN if absent) */
static double et__user_mean(const et__rep *R, const et__cfg *g, const char *user) {
    double s = 0;
    int n = 0;
    for (int i = 0; i < g->n_seeds; i++) {
        const et__row *r = &R->r[g->rows[i]];
        for (int u = 0; u < r->nu; u++)
            if (!strcmp(r->users[u], user) && isfinite(r->uval[u])) s += et__orient(r, r->uval[u]), n++;
    }
    return n ? s / n : NAN;
}

static void et__group(et__rep *R) {
    R->g = calloc((size_t)R->n + 1, sizeof *R->g);
    for (int i = 0; i < R->n; i++) {
        int gi = -1;
        for (int k = 0; k < R->ng; k++)
            if (!strcmp(R->r[R->g[k].first].cfg, R->r[i].cfg)) gi = k;
        if (gi < 0) { gi = R->ng++; R->g[gi].first = i; }
        et__cfg *g = &R->g[gi];
        if (g->n_seeds < 16) g->rows[g->n_seeds++] = i;
    }
    for (int k = 0; k < R->ng; k++) {
        et__cfg *g = &R->g[k];
        const et__row *r0 = &R->r[g->first];
        int nu = r0->nu;
        double *x = malloc(sizeof *x * (size_t)(g->n_seeds * nu + 1));
        g->raw = g->learn_s = g->steps = g->rss = g->latency = 0;
        g->raw_cal = g->top_share = g->top_share_cal = 0;
        for (int s = 0; s < g->n_seeds; s++) {
            const et__row *r = &R->r[g->rows[s]];
            for (int u = 0; u < nu; u++) {   /* align users by name with the first seed's */
                double v = NAN;
                for (int w = 0; w < r->nu; w++)
                    if (!strcmp(r->users[w], r0->users[u])) v = r->uval[w];
                x[s * nu + u] = isfinite(v) ? et__orient(r, v) : NAN;
            }
            g->raw += r->value / g->n_seeds, g->learn_s += r->learn_s / g->n_seeds;
            g->steps += r->steps / g->n_seeds, g->latency += r->latency / g->n_seeds;
            g->raw_cal += r->value_cal / g->n_seeds, g->top_share += r->top_share / g->n_seeds;
            g->top_share_cal += r->top_share_cal / g->n_seeds;
            if (r->rss > g->rss) g->rss = r->rss;
        }
        if (et_stats_boot_ci(x, g->n_seeds, nu, 2000, ET_STATS_SEED, &g->ci))
            g->ci.mean = g->ci.lo = g->ci.hi = NAN;
        free(x);
    }
}

/* the configuration matching every given field (NULL / -1 / NAN = any); -1 if none */
static int et__find(const et__rep *R, const char *task, const char *method, int k, const char *base,
                    const char *model, int cap, double budget, int rank) {
    for (int i = 0; i < R->ng; i++) {
        const et__row *r = &R->r[R->g[i].first];
        if ((task && strcmp(r->task, task)) || (method && strcmp(r->method, method)) ||
            (k >= 0 && r->k != k) || (base && strcmp(r->base, base)) ||
            (model && strcmp(r->model, model)) || (cap >= 0 && r->cap != cap) ||
            (!isnan(budget) && fabs(r->budget - budget) > 1e-9) || (rank >= 0 && r->rank != rank))
            continue;
        return i;
    }
    return -1;
}

/* ---- contrasts ------------------------------------------------------------------------------ */

typedef struct {
    int finding;                     /* 1..5 */
    char what[160];
    int a, b;                        /* configs: a - b */
    double diff, lo, hi, p, p_holm;
    int n;
} et__contrast;

static void et__contrast_eval(const et__rep *R, et__contrast *c) {
    const et__cfg *A = &R->g[c->a], *B = &R->g[c->b];
    const et__row *ra = &R->r[A->first];
    double d[ET__MAXU];
    int n = 0;
    for (int u = 0; u < ra->nu && n < ET__MAXU; u++) {
        double x = et__user_mean(R, A, ra->users[u]), y = et__user_mean(R, B, ra->users[u]);
        if (isfinite(x) && isfinite(y)) d[n++] = x - y;
    }
    c->n = n;
    et_ci ci = { NAN, NAN, NAN };
    if (n > 0) et_stats_paired_ci(d, n, 2000, ET_STATS_SEED, &ci);
    c->diff = ci.mean, c->lo = ci.lo, c->hi = ci.hi;
    c->p = et_stats_signflip_p(d, n, 20000, ET_STATS_SEED);
}

static const char *const et__findings[6] = {
    "",
    "Parameter learning vs RAG depends on task difficulty",
    "Longer fine-tuning does not necessarily help",
    "A compressed model can beat an uncompressed one with little data",
    "A smaller LoRA rank is better under tight resources",
    "RAG needs only a limited history",
};

static void et__cfg_label(const et__rep *R, int gi, char *buf, size_t n) {
    const et__row *r = &R->r[R->g[gi].first];
    const char *m = strrchr(r->model, '/') ? strrchr(r->model, '/') + 1 : r->model;
    size_t l = (size_t)snprintf(buf, n, "%s %s", r->task, r->method);
    if (r->k > 0 && l < n) l += (size_t)snprintf(buf + l, n - l, " k=%d", r->k);
    if (l < n) l += (size_t)snprintf(buf + l, n - l, " %s", r->base);
    if (l < n && strcmp(r->method, "zero-shot"))
        l += r->cap ? (size_t)snprintf(buf + l, n - l, " cap %d", r->cap) : (size_t)snprintf(buf + l, n - l, " cap all");
    if (r->budget > 0 && l < n) l += (size_t)snprintf(buf + l, n - l, " %gs", r->budget);
    if (r->rank > 0 && l < n) l += (size_t)snprintf(buf + l, n - l, " r%d", r->rank);
    if (l < n) snprintf(buf + l, n - l, " `%s`", m);
}

/* ---- the report ------------------------------------------------------------------------------ */

/* the device header: CPU model and threads from /proc, bandwidth and peaks from the probe
 * lines the study measured into out_dir/device.jsonl (else a `make bench` run's file) */
static void et__device(FILE *f, const char *out_dir) {
    char model[256] = "unknown";
    FILE *c = fopen("/proc/cpuinfo", "r");
    if (c) {
        char line[512];
        while (fgets(line, sizeof line, c))
            if (!strncmp(line, "model name", 10)) {
                char *p = strchr(line, ':');
                if (p) { snprintf(model, sizeof model, "%s", p + 2); model[strcspn(model, "\n")] = 0; }
                break;
            }
        fclose(c);
    }
    fprintf(f, "**Device:** %s, %ld hardware threads.  ", model, sysconf(_SC_NPROCESSORS_ONLN));
    char src[1100];
    snprintf(src, sizeof src, "%s/device.jsonl", out_dir);
    FILE *k = fopen(src, "r");
    if (!k) snprintf(src, sizeof src, "build/bench/kernels.jsonl"), k = fopen(src, "r");
    /* the figures at the largest thread count probed: the count the study ran with */
    double bw = 0, peak[3] = {0, 0, 0};
    int threads = 0;
    static const char *const pk[3] = {"fma_peak", "bf16_peak", "int8_peak"};
    if (k) {
        char line[2048];
        while (fgets(line, sizeof line, k)) {
            cJSON *j = cJSON_Parse(line);
            if (!j) continue;
            const cJSON *w = cJSON_GetObjectItem(j, "what"), *th = cJSON_GetObjectItem(j, "threads");
            int n = cJSON_IsNumber(th) ? th->valueint : 0;
            if (cJSON_IsString(w) && n >= threads) {
                const cJSON *gb = cJSON_GetObjectItem(j, "gbps"), *gf = cJSON_GetObjectItem(j, "gflops");
                int is_bw = !strcmp(w->valuestring, "read_bw") && cJSON_IsNumber(gb);
                int pi = -1;
                for (int i = 0; i < 3; i++)
                    if (!strcmp(w->valuestring, pk[i]) && cJSON_IsNumber(gf)) pi = i;
                if ((is_bw || pi >= 0) && n > threads) threads = n, bw = 0, peak[0] = peak[1] = peak[2] = 0;
                if (is_bw) bw = fmax(bw, gb->valuedouble);   /* a re-probe's line: the larger */
                if (pi >= 0) peak[pi] = fmax(peak[pi], gf->valuedouble);
            }
            cJSON_Delete(j);
        }
        fclose(k);
    }
    if (bw > 0 && peak[0] > 0)
        fprintf(f, "Measured (`%s`, %d threads): read bandwidth %.1f GB/s, f32 FMA peak %.0f GFLOP/s "
                "(bf16 %.0f GFLOP/s, int8 %.0f GOP/s).\n\n", src, threads, bw, peak[0], peak[1], peak[2]);
    else
        fprintf(f, "Bandwidth and peak FLOP/s: not measured (no probe lines in %s/device.jsonl; `edgetune "
                "study` measures them before running its cells).\n\n", out_dir);
}

/* whether the built-in models' pretraining mix has prompt-shaped documents (issue 7 asks
 * the report to say), from the corpus manifest `make corpus` wrote */
static void et__corpus(FILE *f) {
    const char *path = "build/corpus/manifest.json";
    FILE *m = fopen(path, "rb");
    cJSON *j = NULL;
    if (m) {
        char *buf = NULL;
        size_t cap = 0, n = 0;
        for (;;) {
            if (n + 4096 + 1 > cap) {
                char *nb = realloc(buf, cap = cap ? cap * 2 : 65536);
                if (!nb) break;
                buf = nb;
            }
            size_t r = fread(buf + n, 1, 4096, m);
            n += r;
            if (r == 0) break;
        }
        fclose(m);
        if (buf) { buf[n] = 0; j = cJSON_Parse(buf); }
        free(buf);
    }
    const cJSON *p = j ? cJSON_GetObjectItem(j, "prompt_shaped_documents") : NULL;
    if (cJSON_IsBool(p))
        fprintf(f, "**Pretraining mix of the built-in models:** %s (`%s`, field `prompt_shaped_documents`).\n\n",
                cJSON_IsTrue(p) ? "includes documents shaped like the study's prompts (profile records then a "
                                  "query, from users who appear in no evaluation)"
                                : "no documents shaped like the study's prompts: the models saw only the "
                                  "corpus's books, dictionaries and glosses, never a profile-then-query layout",
                path);
    else
        fprintf(f, "**Pretraining mix of the built-in models:** not known (`%s` %s).\n\n", path,
                j ? "has no `prompt_shaped_documents` field" : "is missing or unreadable");
    cJSON_Delete(j);
}

static double et__zero_shot(const et__rep *R, const char *task, const char *model) {
    int g = et__find(R, task, "zero-shot", -1, "f32", model, -1, NAN, -1);
    return g >= 0 ? R->g[g].raw : NAN;
}

static void et__fmt(char *b, size_t n, double v, const char *fmt) {
    if (isfinite(v)) snprintf(b, n, fmt, v); else snprintf(b, n, "—");
}

static int et__fig_save(et_plot *p, const char *dir, const char *name, FILE *md, const char *caption,
                        char *err, size_t errlen) {
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = et_plot_save(p, path, err, errlen);
    et_plot_free(p);
    if (rc) return -1;
    fprintf(md, "![%s](%s)\n\n*%s*\n\n", caption, name, caption);
    return 0;
}

int et_study_report(const char *out_dir, const et_study_task *tasks, int n_tasks,
                    const et_study_opts *o, char *err, size_t errlen) {
    char path[1100];
    snprintf(path, sizeof path, "%s/results.jsonl", out_dir);
    et__rep R = { 0 };
    R.tasks = tasks, R.n_tasks = n_tasks;
    if (et__load_rows(path, &R, err, errlen)) return -1;
    et__group(&R);
    snprintf(path, sizeof path, "%s/report.md.tmp", out_dir);
    FILE *f = fopen(path, "w");
    if (!f) { snprintf(err, errlen, "%s: cannot create", path); return -1; }
    int rc = -1;

    /* the centre: the method slice's LoRA cell */
    int centre = -1;
    for (int i = 0; i < R.n && centre < 0; i++)
        if (!strcmp(R.r[i].slice, "method") && !strcmp(R.r[i].method, "lora")) centre = i;
    const et__row *C = centre >= 0 ? &R.r[centre] : (R.n ? &R.r[0] : NULL);
    const char *cm = C ? C->model : "";
    double cb = C ? C->budget : NAN;
    const char *ct = C ? C->task : "";
    for (int i = 0; i < R.n; i++)                     /* centre task: where the compression slice ran */
        if (!strcmp(R.r[i].slice, "compression")) { ct = R.r[i].task; break; }

    fprintf(f, "# edgetune study report\n\n");
    et__device(f, out_dir);
    et__corpus(f);
    fprintf(f, "Results: `%s/results.jsonl`, %d cells in %d configurations.  Centre: model `%s`, "
            "base f32, profile cap 16, RAG k=4, LoRA rank 8, budget %g s per user, centre task "
            "`%s`.  Scores where tasks are compared are oriented higher-is-better: accuracy, "
            "ROUGE-L, and 1 - MAE/4 for rating.  CIs: 95%%, two-level bootstrap (users, then "
            "seeds; 2,000 replicates, fixed seed).  Zero-shot and RAG cells are deterministic and "
            "run once; learning cells run every seed.  Labels (rating, classification, "
            "attribution) are predicted by the highest log P(label | prompt); the section "
            "\"Label scoring\" below compares that with calibrated scoring (Zhao et al., 2021).\n\n",
            out_dir, R.n, R.ng, cm, cb, ct);
    if (R.n_stale)
        fprintf(f, "%d older rows of results.jsonl (without calibrated metrics: no `scoring=raw+cal` "
                "in their key) are not part of this report.\n\n", R.n_stale);

    /* ---- difficulty ---- */
    fprintf(f, "## Task difficulty (before any run)\n\n| task | kind | classes | majority | "
            "profile prior | label entropy (bits) | median profile |");
    const char *mlist[8];
    int nm = 0;
    for (int i = 0; i < R.n && nm < 8; i++) {
        int seen = 0;
        for (int k = 0; k < nm; k++) seen |= !strcmp(mlist[k], R.r[i].model);
        if (!seen) mlist[nm++] = R.r[i].model;
    }
    for (int m = 0; m < nm; m++) fprintf(f, " zero-shot `%s` |", strrchr(mlist[m], '/') ? strrchr(mlist[m], '/') + 1 : mlist[m]);
    fprintf(f, "\n|---|---|---|---|---|---|---|");
    for (int m = 0; m < nm; m++) fprintf(f, "---|");
    fprintf(f, "\n");
    for (int t = 0; t < n_tasks; t++) {
        const et_study_task *T = &tasks[t];
        char maj[48], pri[48], ent[32], med[32];
        int rating = T->kind == ET_TASK_RATING;
        if (rating) {
            char a[16], b[16];
            et__fmt(a, sizeof a, T->majority_acc, "%.3f"); et__fmt(b, sizeof b, T->majority_mae, "%.2f");
            snprintf(maj, sizeof maj, "acc %s, MAE %s", a, b);
            et__fmt(a, sizeof a, T->prior_acc, "%.3f"); et__fmt(b, sizeof b, T->prior_mae, "%.2f");
            snprintf(pri, sizeof pri, "acc %s, MAE %s", a, b);
        } else {
            et__fmt(maj, sizeof maj, T->majority_acc, "%.3f");
            et__fmt(pri, sizeof pri, T->prior_acc, "%.3f");
        }
        et__fmt(ent, sizeof ent, T->entropy_bits, "%.2f");
        et__fmt(med, sizeof med, T->profile_median, "%.0f");
        char ncls[16];
        if (T->kind == ET_TASK_GENERATION) snprintf(ncls, sizeof ncls, "free text");
        else snprintf(ncls, sizeof ncls, "%d", T->n_labels);
        fprintf(f, "| %s | %s | %s | %s | %s | %s | %s |", T->name, et_task_kind_name(T->kind),
                ncls, maj, pri, ent, med);
        for (int m = 0; m < nm; m++) {
            char z[32];
            et__fmt(z, sizeof z, et__zero_shot(&R, T->name, mlist[m]), "%.3f");
            fprintf(f, " %s |", z);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\nZero-shot columns give the task's raw metric (accuracy; MAE for rating; ROUGE-L "
            "for generation) of each base model at f32.\n\n");

    /* ---- all configurations ---- */
    fprintf(f, "## Results (mean and 95%% CI)\n\n| configuration | seeds | users | metric | raw | "
            "score [95%% CI] | learn s/user | steps | peak RSS MB | ms/query |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n");
    for (int g = 0; g < R.ng; g++) {
        const et__cfg *G = &R.g[g];
        const et__row *r = &R.r[G->first];
        char lab[300];
        et__cfg_label(&R, g, lab, sizeof lab);
        fprintf(f, "| %s | %d | %d | %s | %.3f | %.3f [%.3f, %.3f] | %.1f | %.0f | %.0f | %.1f |\n",
                lab, G->n_seeds, r->nu, r->metric, G->raw, G->ci.mean, G->ci.lo, G->ci.hi,
                G->learn_s, G->steps, G->rss / 1048576.0, G->latency);
    }

    /* ---- label scoring: raw likelihood against calibrated ---- */
    fprintf(f, "\n## Label scoring\n\nThe tables above predict a label by the highest log P(label | "
            "prompt).  Small models tend to give one high-prior label to every query; calibrated "
            "scoring (\"Calibrate before use\", Zhao et al., 2021) subtracts each label's log "
            "P(label | the task's prompt with the content-free input \"N/A\"), scored once per user "
            "after learning.  Both rules on the same queries (raw metric, mean over seeds; the most "
            "chosen label and its share of the queries):\n\n"
            "| configuration | metric | raw scoring | most chosen | calibrated | most chosen |\n"
            "|---|---|---|---|---|---|\n");
    for (int g = 0; g < R.ng; g++) {
        const et__cfg *G = &R.g[g];
        const et__row *r = &R.r[G->first];
        if (!strcmp(r->metric, "rougeL")) continue;
        char lab[300];
        et__cfg_label(&R, g, lab, sizeof lab);
        fprintf(f, "| %s | %s | %.3f | %s (%.0f%%) | %.3f | %s (%.0f%%) |\n", lab, r->metric, G->raw, r->top,
                100 * G->top_share, G->raw_cal, r->top_cal, 100 * G->top_share_cal);
    }

    /* ---- the weights each base really ran on ---- */
    fprintf(f, "\n## Base weights as run\n\nThe storage types of each model's linear weights after "
            "loading with the cell's base (from `weight_types` in results.jsonl).  Q4_K and Q6_K need "
            "rows that are whole 256-element blocks; a row that is not falls back to IQ4_NL / Q8_0 as "
            "llama.cpp does, so such a cell measures the fallback type.\n\n| base | model | weights used | "
            "as asked? |\n|---|---|---|---|\n");
    for (int i = 0; i < R.n; i++) {
        const et__row *r = &R.r[i];
        int seen = 0;
        for (int k = 0; k < i && !seen; k++)
            seen = !strcmp(R.r[k].base, r->base) && !strcmp(R.r[k].model, r->model);
        if (seen) continue;
        /* the type a base asks for: its own name, f32 for pruned bases */
        const char *want = !strncmp(r->base, "prune", 5) ? "f32" : r->base;
        char pat[32];
        snprintf(pat, sizeof pat, " %s x", want);
        const char *ok = !r->wtypes[0] ? "not recorded" : strstr(r->wtypes, pat) && !strchr(r->wtypes, ',')
                       ? "yes" : strstr(r->wtypes, pat) ? "partly (fallback on some rows)" : "**no: fallback**";
        const char *mb = strrchr(r->model, '/') ? strrchr(r->model, '/') + 1 : r->model;
        fprintf(f, "| %s | `%s` | %s | %s |\n", r->base, mb, r->wtypes[0] ? r->wtypes : "—", ok);
    }

    /* ---- contrasts ---- */
    et__contrast con[64];
    int nc = 0;
    double bmin = INFINITY, bmax = -INFINITY;
    for (int i = 0; i < R.n; i++)
        if (!strcmp(R.r[i].method, "lora") && R.r[i].budget > 0)
            bmin = fmin(bmin, R.r[i].budget), bmax = fmax(bmax, R.r[i].budget);
    for (int t = 0; t < n_tasks && nc < 60; t++) {
        int a = et__find(&R, tasks[t].name, "lora", -1, "f32", cm, 16, cb, 8);
        int b = et__find(&R, tasks[t].name, "rag", 4, "f32", cm, 16, NAN, -1);
        if (a >= 0 && b >= 0) {
            con[nc] = (et__contrast){ 1, "", a, b, 0, 0, 0, 0, 0, 0 };
            snprintf(con[nc].what, sizeof con[nc].what, "%s: LoRA - RAG(k=4)", tasks[t].name);
            nc++;
        }
        a = et__find(&R, tasks[t].name, "rag", 4, "f32", cm, 0, NAN, -1);
        b = et__find(&R, tasks[t].name, "rag", 4, "f32", cm, 16, NAN, -1);
        if (a >= 0 && b >= 0) {
            con[nc] = (et__contrast){ 5, "", a, b, 0, 0, 0, 0, 0, 0 };
            snprintf(con[nc].what, sizeof con[nc].what, "%s: RAG all history - RAG 16 items", tasks[t].name);
            nc++;
        }
    }
    if (isfinite(bmin) && bmax > bmin) {
        int a = et__find(&R, ct, "lora", -1, "f32", cm, 16, bmax, 8), b = et__find(&R, ct, "lora", -1, "f32", cm, 16, bmin, 8);
        if (a >= 0 && b >= 0) {
            con[nc] = (et__contrast){ 2, "", a, b, 0, 0, 0, 0, 0, 0 };
            snprintf(con[nc].what, sizeof con[nc].what, "%s: LoRA %gs - LoRA %gs", ct, bmax, bmin);
            nc++;
        }
        a = et__find(&R, ct, "lora", -1, "f32", cm, 16, bmin, 2), b = et__find(&R, ct, "lora", -1, "f32", cm, 16, bmin, 32);
        if (a >= 0 && b >= 0) {
            con[nc] = (et__contrast){ 4, "", a, b, 0, 0, 0, 0, 0, 0 };
            snprintf(con[nc].what, sizeof con[nc].what, "%s: rank 2 - rank 32 at %gs", ct, bmin);
            nc++;
        }
    }
    static const char *const cbases[] = {"q4_0", "nf4"};
    for (int i = 0; i < 2; i++) {
        int a = et__find(&R, ct, "lora", -1, cbases[i], cm, 4, cb, 8), b = et__find(&R, ct, "lora", -1, "f32", cm, 4, cb, 8);
        if (a >= 0 && b >= 0) {
            con[nc] = (et__contrast){ 3, "", a, b, 0, 0, 0, 0, 0, 0 };
            snprintf(con[nc].what, sizeof con[nc].what, "%s: LoRA on %s%s - LoRA on f32, 4 profile items", ct,
                     cbases[i], !strcmp(cbases[i], "nf4") ? " (QLoRA)" : "");
            nc++;
        }
    }
    double ps[64], adj[64];
    for (int i = 0; i < nc; i++) et__contrast_eval(&R, &con[i]), ps[i] = con[i].p;
    et_stats_holm(ps, nc, adj);
    for (int i = 0; i < nc; i++) con[i].p_holm = adj[i];
    fprintf(f, "\n## Paired tests (per-user differences, sign-flip permutation, Holm across all %d)\n\n"
            "| finding | contrast | users | mean diff [95%% CI] | p | p (Holm) |\n|---|---|---|---|---|---|\n", nc);
    for (int i = 0; i < nc; i++)
        fprintf(f, "| F%d | %s | %d | %+.3f [%+.3f, %+.3f] | %.4f | %.4f |\n", con[i].finding, con[i].what,
                con[i].n, con[i].diff, con[i].lo, con[i].hi, con[i].p, con[i].p_holm);

    /* ---- figures ---- */
    fprintf(f, "\n## Figures\n\n");
    {   /* F: score vs data amount per compression (centre task) */
        et_plot *p = et_plot_new(1000, 650);
        char t[200];
        snprintf(t, sizeof t, "%s: score vs personal data (LoRA per base; RAG k=4 on f32)", ct);
        et_plot_title(p, t); et_plot_xlabel(p, "profile items used (cap; 'all' drawn at 200)");
        et_plot_ylabel(p, "score (higher is better)"); et_plot_log(p, 1, 0);
        static const char *const bases[] = {"f32", "f16", "q8_0", "q4_0", "q4_k", "nf4", "prune50", "prune2:4"};
        static const int caps[] = {4, 16, 64, 0};
        for (int b = 0; b < 9; b++) {
            double x[4], y[4], lo[4], hi[4];
            int n = 0;
            for (int c = 0; c < 4; c++) {
                int g = b < 8 ? et__find(&R, ct, "lora", -1, bases[b], cm, caps[c], cb, 8)
                              : et__find(&R, ct, "rag", 4, "f32", cm, caps[c], NAN, -1);
                if (g < 0) continue;
                /* series side by side (a few % apart on the log axis) so error bars stay apart */
                x[n] = (caps[c] ? caps[c] : 200) * pow(1.04, b - 4), y[n] = R.g[g].ci.mean;
                lo[n] = R.g[g].ci.lo, hi[n] = R.g[g].ci.hi;
                n++;
            }
            if (n >= 2) et_plot_line(p, b < 8 ? bases[b] : "RAG k=4 (f32)", x, y, lo, hi, n);
        }
        if (et__fig_save(p, out_dir, "fig_data_amount.png", f, "Score vs personal-data amount per compression", err, errlen)) goto out;
    }
    {   /* F: method vs task difficulty */
        et_plot *p = et_plot_new(1000, 650);
        et_plot_title(p, "Method vs task difficulty (tasks ordered hardest first by zero-shot score)");
        et_plot_ylabel(p, "score (higher is better)");
        int ord[8], nt = 0;
        double zs[8];
        for (int t = 0; t < n_tasks && t < 8; t++) {
            int g = et__find(&R, tasks[t].name, "zero-shot", -1, "f32", cm, -1, NAN, -1);
            zs[t] = g >= 0 ? R.g[g].ci.mean : 0;
            ord[nt++] = t;
        }
        for (int i = 1; i < nt; i++)
            for (int j = i; j > 0 && zs[ord[j - 1]] > zs[ord[j]]; j--) { int x = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = x; }
        const char *cats[8];
        char catbuf[8][64];
        for (int i = 0; i < nt; i++) {
            snprintf(catbuf[i], sizeof catbuf[i], "%s (zs %.2f)", tasks[ord[i]].name, zs[ord[i]]);
            cats[i] = catbuf[i];
        }
        static const char *const meths[] = {"zero-shot", "rag", "lora", "rag+lora", "ia3", "prompt"};
        for (int m = 0; m < 6; m++) {
            double v[8], lo[8], hi[8];
            int any = 0;
            for (int i = 0; i < nt; i++) {
                int g = et__find(&R, tasks[ord[i]].name, meths[m], !strcmp(meths[m], "rag") || !strcmp(meths[m], "rag+lora") ? 4 : -1,
                                 "f32", cm, !strcmp(meths[m], "zero-shot") ? -1 : 16, !strcmp(meths[m], "zero-shot") || !strcmp(meths[m], "rag") ? NAN : cb,
                                 !strcmp(meths[m], "lora") || !strcmp(meths[m], "rag+lora") ? 8 : -1);
                v[i] = g >= 0 ? R.g[g].ci.mean : NAN, lo[i] = g >= 0 ? R.g[g].ci.lo : NAN, hi[i] = g >= 0 ? R.g[g].ci.hi : NAN;
                any |= g >= 0;
            }
            if (any && nt > 0) et_plot_bars(p, meths[m], cats, nt, v, lo, hi);
        }
        if (nt == 0) { double z = 0; const char *c0 = "none"; et_plot_bars(p, "no data", &c0, 1, &z, NULL, NULL); }
        if (et__fig_save(p, out_dir, "fig_method_difficulty.png", f, "Method vs task difficulty", err, errlen)) goto out;
    }
    {   /* F: score vs time budget */
        et_plot *p = et_plot_new(1000, 650);
        char t[200];
        snprintf(t, sizeof t, "%s: score vs learning time budget (LoRA)", ct);
        et_plot_title(p, t); et_plot_xlabel(p, "budget per user (s)"); et_plot_ylabel(p, "score"); et_plot_log(p, 1, 0);
        static const int ranks[] = {8, 2, 32};
        for (int rk = 0; rk < 3; rk++) {
            double x[8], y[8], lo[8], hi[8];
            int n = 0;
            for (int g = 0; g < R.ng && n < 8; g++) {
                const et__row *r = &R.r[R.g[g].first];
                if (strcmp(r->task, ct) || strcmp(r->method, "lora") || strcmp(r->base, "f32") ||
                    strcmp(r->model, cm) || r->cap != 16 || r->rank != ranks[rk])
                    continue;
                x[n] = r->budget * pow(1.04, rk - 1), y[n] = R.g[g].ci.mean, lo[n] = R.g[g].ci.lo, hi[n] = R.g[g].ci.hi;
                n++;
            }
            for (int i = 1; i < n; i++)      /* by budget */
                for (int j = i; j > 0 && x[j - 1] > x[j]; j--) {
                    double s;
                    s = x[j]; x[j] = x[j - 1]; x[j - 1] = s; s = y[j]; y[j] = y[j - 1]; y[j - 1] = s;
                    s = lo[j]; lo[j] = lo[j - 1]; lo[j - 1] = s; s = hi[j]; hi[j] = hi[j - 1]; hi[j - 1] = s;
                }
            char nmr[32];
            snprintf(nmr, sizeof nmr, "LoRA rank %d", ranks[rk]);
            if (n >= 1) et_plot_line(p, nmr, x, y, lo, hi, n);
        }
        if (et__fig_save(p, out_dir, "fig_budget.png", f, "Score vs time budget", err, errlen)) goto out;
    }
    {   /* F: accuracy vs peak memory, Pareto front */
        et_plot *p = et_plot_new(1000, 650);
        char t[200];
        snprintf(t, sizeof t, "%s: score vs measured peak memory (Pareto front dashed)", ct);
        et_plot_title(p, t); et_plot_xlabel(p, "peak RSS (MB)"); et_plot_ylabel(p, "score");
        double x[256], y[256];
        char labs[256][48];
        const char *lp[256];
        int n = 0;
        for (int g = 0; g < R.ng && n < 256; g++) {
            const et__row *r = &R.r[R.g[g].first];
            if (strcmp(r->task, ct) || !(R.g[g].rss > 0)) continue;
            x[n] = R.g[g].rss / 1048576.0, y[n] = R.g[g].ci.mean;
            snprintf(labs[n], sizeof labs[n], "%s/%s", r->method, r->base);
            lp[n] = labs[n];
            n++;
        }
        if (n) et_plot_scatter(p, "configurations", x, y, lp, n);
        /* front: sorted by memory, keep points better than every cheaper one */
        int ordr[256];
        for (int i = 0; i < n; i++) ordr[i] = i;
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && x[ordr[j - 1]] > x[ordr[j]]; j--) { int s = ordr[j]; ordr[j] = ordr[j - 1]; ordr[j - 1] = s; }
        double fx[256], fy[256], best = -INFINITY;
        int nf = 0;
        for (int i = 0; i < n; i++)
            if (y[ordr[i]] > best) { best = y[ordr[i]]; fx[nf] = x[ordr[i]]; fy[nf] = best; nf++; }
        if (nf >= 2) et_plot_line_dashed(p, "Pareto front", fx, fy, nf);
        if (!n) { double z[1] = {0}; et_plot_scatter(p, "no memory data", z, z, NULL, 1); }
        if (et__fig_save(p, out_dir, "fig_pareto_memory.png", f, "Accuracy vs peak memory with the Pareto front", err, errlen)) goto out;
    }
    {   /* F: learning time vs model size */
        et_plot *p = et_plot_new(1000, 650);
        et_plot_title(p, "Learning time per optimizer step vs model size (LoRA, f32 base)");
        et_plot_xlabel(p, "model file size (MB)"); et_plot_ylabel(p, "seconds per step"); et_plot_log(p, 1, 1);
        double x[16], y[16];
        const char *lp[16];
        char labs[16][160];
        int n = 0;
        for (int g = 0; g < R.ng && n < 16; g++) {
            const et__row *r = &R.r[R.g[g].first];
            if (strcmp(r->method, "lora") || strcmp(r->base, "f32") || strcmp(r->task, ct) || r->cap != 16 ||
                fabs(r->budget - cb) > 1e-9 || r->rank != 8 || !(R.g[g].steps > 0) || !(r->model_bytes > 0))
                continue;
            x[n] = r->model_bytes / 1048576.0, y[n] = R.g[g].learn_s / R.g[g].steps;
            snprintf(labs[n], sizeof labs[n], "%s", strrchr(r->model, '/') ? strrchr(r->model, '/') + 1 : r->model);
            lp[n] = labs[n];
            if (y[n] > 0) n++;
        }
        if (n) et_plot_scatter(p, "models", x, y, lp, n);
        else { double z[1] = {1}; et_plot_scatter(p, "no learning cells yet", z, z, NULL, 1); }
        if (et__fig_save(p, out_dir, "fig_model_size.png", f, "Learning time vs model size", err, errlen)) goto out;
    }

    /* ---- guideline table ---- */
    fprintf(f, "## Findings of the study, checked against our data\n\n| finding | verdict | evidence |\n|---|---|---|\n");
    for (int F = 1; F <= 5; F++) {
        int pos = 0, neg = 0, sig_pos = 0, sig_neg = 0, n = 0, powered = 0;
        char ev[2048] = "";
        for (int i = 0; i < nc; i++) {
            if (con[i].finding != F) continue;
            n++;
            /* the smallest p a sign-flip test on m users can give is 2/2^m; times Holm's largest
             * factor it must be able to reach 0.05, else absence of significance means nothing */
            powered += con[i].n > 20 || ldexp(1.0, 1 - con[i].n) * nc < 0.05;
            pos += con[i].diff > 0, neg += con[i].diff < 0;
            sig_pos += con[i].diff > 0 && con[i].p_holm < 0.05, sig_neg += con[i].diff < 0 && con[i].p_holm < 0.05;
            size_t l = strlen(ev);
            snprintf(ev + l, sizeof ev - l, "%s%s %+.3f (p_Holm %.3f)", l ? "; " : "", con[i].what, con[i].diff, con[i].p_holm);
        }
        const char *v = "inconclusive";
        if (n == 0) v = "not tested (cells missing)";
        else if (F == 1) v = (sig_pos && sig_neg) || ((pos && neg) && (sig_pos || sig_neg)) ? "supported"
                             : (sig_pos == n || sig_neg == n) ? "contradicted" : "inconclusive";
        else if (F == 2 || F == 5) v = sig_pos ? "contradicted" : "supported (no significant gain)";
        else v = sig_pos ? "supported" : sig_neg == n ? "contradicted" : "inconclusive";
        if (n && !powered && !sig_pos && !sig_neg)
            v = "inconclusive (too few users for any contrast to reach p < 0.05 after Holm)";
        fprintf(f, "| F%d %s | %s | %s |\n", F, et__findings[F], v, n ? ev : "—");
    }
    fprintf(f, "\nF1 is supported when the better of LoRA and RAG changes sign across tasks with at "
            "least one significant contrast, contradicted when one method wins significantly on "
            "every task.  F2 and F5 claim the absence of a gain: a significant gain contradicts "
            "them, otherwise they are reported as not contradicted (\"no significant gain\").  F3 "
            "and F4 claim a gain: supported only by a significant one.  Significance: Holm-adjusted "
            "p < 0.05.  With m users the smallest attainable sign-flip p is 2/2^m (users whose "
            "difference is exactly 0 add nothing), so after Holm over the %d contrasts a contrast "
            "needs 2/2^m x %d < 0.05, m >= %d; this report's cells have %d users.\n\n", nc, nc,
            (int)ceil(log2(2.0 * (nc > 0 ? nc : 1) / 0.05)), C ? C->nu : 0);
    fprintf(f, "### What our data suggests\n\n");
    for (int t = 0; t < n_tasks; t++) {
        int best = -1;
        for (int g = 0; g < R.ng; g++)
            if (!strcmp(R.r[R.g[g].first].task, tasks[t].name) && (best < 0 || R.g[g].ci.mean > R.g[best].ci.mean)) best = g;
        if (best < 0) continue;
        char lab[300];
        et__cfg_label(&R, best, lab, sizeof lab);
        /* the cheapest configuration whose mean lies inside the best one's CI */
        int cheap = best;
        for (int g = 0; g < R.ng; g++)
            if (!strcmp(R.r[R.g[g].first].task, tasks[t].name) && R.g[g].ci.mean >= R.g[best].ci.lo &&
                R.g[g].rss > 0 && R.g[g].rss < R.g[cheap].rss)
                cheap = g;
        char lab2[300];
        et__cfg_label(&R, cheap, lab2, sizeof lab2);
        fprintf(f, "- **%s**: best configuration %s (score %.3f [%.3f, %.3f]); the least memory "
                "within its CI: %s (%.0f MB peak).\n", tasks[t].name, lab, R.g[best].ci.mean,
                R.g[best].ci.lo, R.g[best].ci.hi, lab2, R.g[cheap].rss / 1048576.0);
    }

    /* ---- projection ---- */
    fprintf(f, "\n## Projecting a cell's time to another device (roofline)\n\n"
            "Every cell records the FLOPs and bytes moved of its work, by the ops' own counts "
            "(engine/cost.h summed over the nodes of each graph): learning per user "
            "(`learn_flops_per_user`, `learn_bytes_per_user`) and inference per query "
            "(`infer_flops_per_query`, `infer_bytes_per_query`) in results.jsonl.  On a device with "
            "measured peak P (FLOP/s) and memory bandwidth B (bytes/s) the work cannot run faster "
            "than its roofline bound, so the projected time is\n\n"
            "    t_device = max(FLOPs / P, bytes / B)\n\n"
            "Measure P and B on the phone with `edgetune bench kernels` (its probe lines), then apply "
            "the formula per cell; `edgetune study --report --phone-gflops P --phone-gbps B` adds the "
            "table below.  The bound is optimistic by the kernels' achieved fraction of the limits, "
            "which `edgetune bench kernels` reports per kernel on both machines; the same bound for "
            "this machine's measured P and B, next to the measured time, shows that fraction here.\n\n");
    if (o && o->phone_gflops > 0 && o->phone_gbps > 0) {
        fprintf(f, "Phone: P %.0f GFLOP/s, B %.1f GB/s.\n\n", o->phone_gflops, o->phone_gbps);
        fprintf(f, "| configuration | learn FLOPs/user | learn bytes/user | here s/user | projected s/user | "
                "infer FLOPs/query | infer bytes/query | here ms/query | projected ms/query |\n"
                "|---|---|---|---|---|---|---|---|---|\n");
        double P = o->phone_gflops * 1e9, B = o->phone_gbps * 1e9;
        for (int g = 0; g < R.ng; g++) {
            const et__row *r = &R.r[R.g[g].first];
            if (!(r->flops > 0) && !(r->iflops > 0)) continue;
            char lab[300], l1[32] = "—", l2[32] = "—", l3[32] = "—", l4[32] = "—";
            et__cfg_label(&R, g, lab, sizeof lab);
            if (r->flops > 0) {
                snprintf(l1, sizeof l1, "%.3g", r->flops), snprintf(l2, sizeof l2, "%.3g", r->bytes);
                snprintf(l3, sizeof l3, "%.1f", R.g[g].learn_s);
                snprintf(l4, sizeof l4, "%.2f", fmax(r->flops / P, r->bytes / B));
            }
            fprintf(f, "| %s | %s | %s | %s | %s | %.3g | %.3g | %.1f | %.2f |\n", lab, l1, l2, l3, l4, r->iflops,
                    r->ibytes, R.g[g].latency, 1e3 * fmax(r->iflops / P, r->ibytes / B));
        }
    }
    rc = 0;
out:
    fclose(f);
    if (rc == 0) {
        char fin[1100];
        snprintf(fin, sizeof fin, "%s/report.md", out_dir);
        if (rename(path, fin)) { snprintf(err, errlen, "%s: cannot write", fin); rc = -1; }
    }
    for (int i = 0; i < R.n; i++) {
        for (int u = 0; u < R.r[i].nu; u++) free(R.r[i].users[u]);
        free(R.r[i].users); free(R.r[i].uval);
    }
    free(R.r); free(R.g);
    return rc;
}
