/* One cell of the study through the model contract (models/lm.h).
 *
 * Per sampled user: cap the profile to its latest `profile_cap` items; for RAG index them
 * with BM25 and put the top k in front of each query (within the prompt budget); for
 * parameter learning train one adapter on prompts made from those items (prompts.c), with the
 * step count that the time budget buys on this machine (one calibration run per model x
 * method x base x rank x task x profile cap x threads, kept in calibration.jsonl so reruns
 * use the same steps); then score every allowed label by likelihood (rating,
 * classification, attribution) or generate (generation), and compute the metrics per user
 * and over the cell.
 *
 * Labels are predicted by the argmax of log P(label | query prompt) (`metrics`).  The same
 * queries are also scored calibrated ("Calibrate before use", Zhao et al., 2021): log P(label
 * | prompt) − log P(label | the task's prompt with the content-free input "N/A"), the second
 * term once per user after learning (the adapter moves the prior too), as `metrics_cal` —
 * small models tend to pick one high-prior label for every query (`predicted_labels` shows
 * it; `predicted_labels_cal` the calibrated choice), and the report compares both rules.
 * The content-free call's time and cost count as inference, spread over the user's queries.  Learning and inference both record their FLOPs and bytes moved (the
 * op table's counts: models/lm_cost.h, the trainer's), and the cell records the weight
 * types the base really ran on (a Q4_K request on rows that are not whole 256-blocks runs
 * on IQ4_NL).
 *
 * The et_lm calls are compiled only when the build has the model implementation
 * (tools/study.mk defines ET_STUDY_HAVE_LM when models/lm.c defines every function used
 * here), so the library links in every state of the tree; without it a cell fails with a
 * message saying so.
 */
#include "study.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "metrics.h"
#include "rag.h"

#ifdef ET_STUDY_HAVE_LM
#include <unistd.h>
#include "lm.h"
#include "lm_cost.h"
#endif

int et_study_have_models(void) {
#ifdef ET_STUDY_HAVE_LM
    return 1;
#else
    return 0;
#endif
}

static const char *et__device;   /* et_study_set_device: et_lm_opts.device of later loads */
void et_study_set_device(const char *device) { et__device = device; }

#ifndef ET_STUDY_HAVE_LM

int et_study_run_cell(const et_cell *c, const et_study_task *t, const char *out_dir,
                      int n_threads, char **line, char *err, size_t errlen) {
    *line = NULL;
    snprintf(err, errlen, "study: this edgetune was built without the model implementation "
             "(models/lm.c with et_lm_load/score/generate/finetune); cannot run cell %s/%s",
             c->task, c->method);
    return -1;
}

double et_study_measure_infer(const char *model, const et_study_task *t, int n_threads) {
    (void)model, (void)t, (void)n_threads;
    return 0;
}

#else

#define ET__PROMPT_TOKENS 384   /* RAG context budget: fits every built-in model's context */
#define ET__GEN_TOKENS    ET_STUDY_GEN_TOKENS   /* synopsis / headline length cap */

static double et__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* VmHWM of this process in bytes; reset by writing "5" to clear_refs at a cell's start */
static size_t et__peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) { kb = strtoull(line + 6, NULL, 10); break; }
    fclose(f);
    return kb * 1024;
}
static void et__reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) { fputs("5", f); fclose(f); }
}

static int et__count(void *ctx, const char *s) { return et_lm_count_tokens(ctx, s); }

/* one loaded model is kept between cells of the same (model, base) */
static et_lm *et__lm;
static char   et__lm_key[400];

static et_lm *et__load(const et_cell *c, int n_threads, char *err, size_t errlen) {
    char key[400];
    snprintf(key, sizeof key, "%s|%s|%d|%s", c->model, c->base, n_threads, et__device ? et__device : "cpu");
    if (et__lm && !strcmp(key, et__lm_key)) return et__lm;
    et_lm_free(et__lm);
    et__lm = NULL;
    et_lm_opts o = { 0 };
    o.n_threads = n_threads;
    o.device = et__device;
    if (!strcmp(c->base, "prune50")) o.prune = "50%";
    else if (!strcmp(c->base, "prune2:4")) o.prune = "2:4";
    else o.base_type = c->base;
    if (et_lm_load(c->model, &o, &et__lm, err, errlen)) return NULL;
    snprintf(et__lm_key, sizeof et__lm_key, "%s", key);
    return et__lm;
}

typedef struct {            /* per-user training set */
    char **prompts, **answers;
    int n;
} et__pairs;

static void et__pairs_free(et__pairs *p) {
    for (int i = 0; i < p->n; i++) free(p->prompts[i]), free(p->answers[i]);
    free(p->prompts); free(p->answers);
    memset(p, 0, sizeof *p);
}

/* training pairs from items first..first+n-1 of user u; attribution distractors come from
 * the next sampled user's profile, the true position alternating from a seeded start */
static int et__make_pairs(const et_study_task *t, const et_study_user *u, int first, int n,
                          const et_study_user *other, int seed, et__pairs *p) {
    p->prompts = calloc((size_t)(n > 0 ? n : 1), sizeof *p->prompts);
    p->answers = calloc((size_t)(n > 0 ? n : 1), sizeof *p->answers);
    if (!p->prompts || !p->answers) return -1;
    for (int i = 0; i < n; i++) {
        const et_study_item *it = &u->profile[first + i];
        const char *dis = other && other->n_profile ? other->profile[(i * 7 + seed) % other->n_profile].text : "";
        char *ans = NULL;
        char *pr = et_study_item_prompt(t, it, dis, (i + seed) & 1, &ans);
        if (!pr) continue;
        p->prompts[p->n] = pr, p->answers[p->n] = ans;
        p->n++;
    }
    return 0;
}

static et_method et__method(const char *m) {
    if (!strcmp(m, "ia3")) return ET_METHOD_IA3;
    if (!strcmp(m, "prompt")) return ET_METHOD_PROMPT;
    return ET_METHOD_LORA;
}

static et_finetune_cfg et__ft_cfg(const et_cell *c, int steps, uint64_t seed) {
    et_finetune_cfg f;
    memset(&f, 0, sizeof f);
    f.method = et__method(c->method);
    f.rank = c->rank > 0 ? c->rank : 8;
    f.alpha = 2.0f * f.rank;
    f.targets = "q,k,v,o";
    f.n_prompt_tokens = 8;
    /* learning rates for few-step adaptation of small models: adapters start at identity */
    f.lr = f.method == ET_METHOD_LORA ? 1e-3f : f.method == ET_METHOD_IA3 ? 1e-2f : 3e-2f;
    f.steps = steps;
    f.batch = 4;
    f.seed = seed;
    return f;
}

/* seconds per step for this cell's calibration key (see et_calib_key): stored, else measured
 * now with a short run on the given pairs (the cell's first user's) */
static int et__steps(const et_cell *c, const char *task, int n_threads, const char *out_dir, et__pairs *p,
                     int *steps, double *sec_per_step, char *err, size_t errlen) {
    double sps;
    et_calib_key k = { c->model, c->method, c->base, task,
                       strcmp(c->method, "lora") && strcmp(c->method, "rag+lora") ? 0 : c->rank, c->profile_cap,
                       n_threads > 0 ? n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN) };
    if (et_calib_get(out_dir, &k, &sps)) {
        enum { CAL_STEPS = 4 };
        et_finetune_cfg f = et__ft_cfg(c, CAL_STEPS, 12345);
        et_finetune_stats st;
        memset(&st, 0, sizeof st);
        if (et_lm_finetune(et__lm, &f, (const char *const *)p->prompts,
                           (const char *const *)p->answers, p->n, &st, err, errlen))
            return -1;
        et_lm_reset_adapter(et__lm);
        sps = st.seconds / CAL_STEPS;
        if (!(sps > 0)) sps = 1e-3;
        if (et_calib_put(out_dir, &k, sps, err, errlen)) return -1;
    }
    *sec_per_step = sps;
    *steps = (int)floor(c->budget_s / sps);
    if (*steps < 1) *steps = 1;
    return 0;
}

/* the fastest of up to 16 calls of one query within ~2 s, after a warm-up (contention on a
 * shared machine comes in bursts); *units: the call's candidate-token-parameters */
static double et__time_query(const char *model, const et_study_task *t, int n_threads, double *units) {
    struct stat sb;
    et_lm_opts o = { 0 };
    o.n_threads = n_threads, o.base_type = "f32";
    et_lm *lm = NULL;
    char err[256], out[4096];
    if (stat(model, &sb) != 0 || et_lm_load(model, &o, &lm, err, sizeof err)) return 0;
    /* the task's longest query of its first users: a call long enough to time */
    const char *q = t->users[0].test[0].input;
    for (int u = 0; u < t->n_users && u < 8; u++)
        for (int i = 0; i < t->users[u].n_test; i++)
            if (strlen(t->users[u].test[i].input) > strlen(q)) q = t->users[u].test[i].input;
    double *lp = calloc((size_t)t->n_labels + 1, sizeof *lp), best = 0;
    int ntok = et_lm_count_tokens(lm, q);
    double t_start = et__now();
    for (int r = 0; lp && ntok > 0 && r < 17 && (r < 3 || et__now() - t_start < 2.0); r++) {
        double t0 = et__now();
        int rc = t->kind == ET_TASK_GENERATION
               ? et_lm_generate(lm, q, ET__GEN_TOKENS, out, sizeof out, err, sizeof err)
               : et_lm_score(lm, q, (const char *const *)t->labels, t->n_labels, lp, err, sizeof err);
        double dt = et__now() - t0;
        if (rc) { best = 0; break; }
        if (r > 0 && (best == 0 || dt < best)) best = dt;
        if (t->kind == ET_TASK_GENERATION) *units = (ntok + et_lm_count_tokens(lm, out) + 1.0) * (double)sb.st_size / 4;
        else *units = (ntok + 2.0) * t->n_labels * (double)sb.st_size / 4;
    }
    free(lp);
    et_lm_free(lm);
    return best;
}

double et_study_measure_infer(const char *model, const et_study_task *t, int n_threads) {
    if (!t->n_users || !t->users[0].n_test) return 0;
    /* with the run's threads, and with one: on a machine shared with other jobs a
     * multi-threaded call mostly measures its threads waiting at barriers for a descheduled
     * peer (the process's CPU time is no better: OpenMP threads spin meanwhile), while one
     * thread's fastest call stays the machine's speed.  The smaller of the two is never
     * faster than what was measured: the threads' own speed-up where it showed, none where
     * the machine hid it */
    double u1 = 0, un = 0, t1 = et__time_query(model, t, 1, &u1), tn = et__time_query(model, t, n_threads, &un);
    double s1 = t1 > 0 && u1 > 0 ? t1 / u1 : 0, sn = tn > 0 && un > 0 ? tn / un : 0;
    return s1 > 0 && sn > 0 ? fmin(s1, sn) : s1 > 0 ? s1 : sn;
}

static int et__argmax(const double *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (v[i] > v[b]) b = i;   /* ties: the label listed first */
    return b;
}

/* A label task's metrics over nq queries: MAE, RMSE and accuracy (rating; pv/gv are the
 * predicted and gold values) or accuracy and macro-F1 (classification, attribution). */
static void et__label_metrics(cJSON *m, const et_study_task *t, const int *pred, const double *pv, const int *gold,
                              const double *gv, int nq) {
    if (t->kind == ET_TASK_RATING) {
        cJSON_AddNumberToObject(m, "mae", et_metric_mae(pv, gv, nq));
        cJSON_AddNumberToObject(m, "rmse", et_metric_rmse(pv, gv, nq));
    } else {
        cJSON_AddNumberToObject(m, "macro_f1", et_metric_macro_f1(pred, gold, nq, t->n_labels));
    }
    cJSON_AddNumberToObject(m, "accuracy", et_metric_accuracy(pred, gold, nq));
}

/* How many of the nq queries got each label: {"label": count, ...}. */
static cJSON *et__label_counts(const et_study_task *t, const int *pred, int nq) {
    cJSON *pc = cJSON_CreateObject();
    for (int l = 0; l < t->n_labels; l++) {
        int cnt = 0;
        for (int i = 0; i < nq; i++) cnt += pred[i] == l;
        cJSON_AddNumberToObject(pc, t->labels[l], cnt);
    }
    return pc;
}

int et_study_run_cell(const et_cell *c, const et_study_task *t, const char *out_dir,
                      int n_threads, char **line, char *err, size_t errlen) {
    *line = NULL;
    et__reset_peak_rss();
    double t_cell = et__now();
    if (!et__load(c, n_threads, err, errlen)) return -1;
    int *uidx = malloc(sizeof *uidx * (size_t)(t->n_users > 0 ? t->n_users : 1));
    if (!uidx) { snprintf(err, errlen, "study: out of memory"); return -1; }
    int nu = et_study_sample_users(t, c->n_users, uidx);
    int max_q = 0;
    for (int i = 0; i < nu; i++) max_q += t->users[uidx[i]].n_test;

    /* per query: predictions, per user: metric values */
    int *pred = calloc((size_t)max_q + 1, sizeof *pred), *gold = calloc((size_t)max_q + 1, sizeof *gold);
    double *pv = calloc((size_t)max_q + 1, sizeof *pv), *gv = calloc((size_t)max_q + 1, sizeof *gv);
    double *u_main = calloc((size_t)nu + 1, sizeof *u_main), *u_second = calloc((size_t)nu + 1, sizeof *u_second);
    double *lp = calloc((size_t)t->n_labels + 1, sizeof *lp), *lp0 = calloc((size_t)t->n_labels + 1, sizeof *lp0);
    int *pred_cal = calloc((size_t)max_q + 1, sizeof *pred_cal);
    double *pv_cal = calloc((size_t)max_q + 1, sizeof *pv_cal);
    cJSON *gens = cJSON_CreateArray();
    int nq = 0, rc = -1, steps_used = 0;
    double learn_s = 0, tok_s = 0, flops = 0, bytes = 0, loss0 = 0, loss1 = 0, infer_s = 0, sec_per_step = 0;
    double infer_flops = 0, infer_bytes = 0;
    char wtypes[160];
    et_lm_weight_types(et__lm, wtypes, sizeof wtypes);
    size_t planned_peak = 0, rss_peak_train = 0;
    long infer_tokens = 0;
    int n_trained = 0;
    char *out_text = malloc(4096);
    if (!pred || !gold || !pv || !gv || !u_main || !u_second || !lp || !lp0 || !pred_cal || !pv_cal || !out_text) {
        snprintf(err, errlen, "study: out of memory");
        goto done;
    }
    for (int ui = 0; ui < nu; ui++) {
        const et_study_user *u = &t->users[uidx[ui]];
        int first = 0, n_items = u->n_profile;
        if (c->profile_cap > 0 && n_items > c->profile_cap)     /* the latest items */
            first = n_items - c->profile_cap, n_items = c->profile_cap;
        et_bm25 *bm = NULL;
        if (et_cell_retrieves(c)) {
            const char **docs = malloc(sizeof *docs * (size_t)(n_items + 1));
            if (!docs) { snprintf(err, errlen, "study: out of memory"); goto done; }
            for (int i = 0; i < n_items; i++) docs[i] = u->profile[first + i].text;
            int brc = et_bm25_build(docs, n_items, ET_BM25_K1, ET_BM25_B, ET_BM25_EPSILON, &bm, err, errlen);
            free(docs);
            if (brc) goto done;
        }
        if (et_cell_learns(c)) {
            et__pairs p = {0};
            const et_study_user *other = &t->users[uidx[(ui + 1) % nu]];
            if (et__make_pairs(t, u, first, n_items, other, c->seed, &p) || p.n == 0) {
                et__pairs_free(&p);
                et_bm25_free(bm);
                snprintf(err, errlen, "study: user %s of %s has no trainable profile items", u->name, t->name);
                goto done;
            }
            int steps;
            if (et__steps(c, t->name, n_threads, out_dir, &p, &steps, &sec_per_step, err, errlen)) {
                et__pairs_free(&p);
                et_bm25_free(bm);
                goto done;
            }
            et_finetune_cfg f = et__ft_cfg(c, steps, (uint64_t)c->seed * 1000003u + (uint64_t)ui);
            et_finetune_stats st;
            memset(&st, 0, sizeof st);
            int frc = et_lm_finetune(et__lm, &f, (const char *const *)p.prompts,
                                     (const char *const *)p.answers, p.n, &st, err, errlen);
            et__pairs_free(&p);
            if (frc) { et_bm25_free(bm); goto done; }
            learn_s += st.seconds, tok_s += st.tokens_per_s, flops += st.flops, bytes += st.bytes;
            loss0 += st.first_loss, loss1 += st.final_loss, steps_used += steps, n_trained++;
            if (st.planned_peak_bytes > planned_peak) planned_peak = st.planned_peak_bytes;
            if (st.measured_peak_rss > rss_peak_train) rss_peak_train = st.measured_peak_rss;
        }
        if (t->kind != ET_TASK_GENERATION) {   /* the content-free prior of each label */
            char *cf = et_study_content_free_prompt(t);
            if (!cf) { snprintf(err, errlen, "study: out of memory"); et_bm25_free(bm); goto done; }
            double t0 = et__now();
            int crc = et_lm_score(et__lm, cf, (const char *const *)t->labels, t->n_labels, lp0, err, errlen);
            infer_s += et__now() - t0;
            et_lm_cost cost = { 0, 0 };
            if (!crc) crc = et_lm_score_cost(et__lm, cf, (const char *const *)t->labels, t->n_labels, &cost, err, errlen);
            infer_flops += cost.flops, infer_bytes += cost.bytes;
            free(cf);
            if (crc) { et_bm25_free(bm); goto done; }
        }
        int q0 = nq;
        for (int qi = 0; qi < u->n_test; qi++) {
            const et_study_query *q = &u->test[qi];
            char *prompt = NULL;
            if (bm) {
                int idx[16], k = c->rag_k < 16 ? c->rag_k : 16;
                k = et_bm25_top_k(bm, et_study_query_text(t, q->input), k, idx);
                if (k < 0) { snprintf(err, errlen, "study: out of memory"); et_bm25_free(bm); goto done; }
                for (int i = 0; i < k; i++) idx[i] += first;
                prompt = et_study_rag_prompt(t, u, idx, k, q->input, ET__PROMPT_TOKENS, et__count, et__lm);
            } else {
                prompt = strdup(q->input);
            }
            if (!prompt) { snprintf(err, errlen, "study: out of memory"); et_bm25_free(bm); goto done; }
            infer_tokens += et_lm_count_tokens(et__lm, prompt);
            double t0 = et__now();
            int src;
            if (t->kind == ET_TASK_GENERATION) {
                src = et_lm_generate(et__lm, prompt, ET__GEN_TOKENS, out_text, 4096, err, errlen);
            } else {
                src = et_lm_score(et__lm, prompt, (const char *const *)t->labels, t->n_labels, lp, err, errlen);
            }
            infer_s += et__now() - t0;
            /* what that call cost: the same graphs counted, not run */
            et_lm_cost cost = { 0, 0 };
            if (!src && t->kind == ET_TASK_GENERATION) {
                int n_steps = et_lm_count_tokens(et__lm, out_text) + 1;   /* + the step drawing the stop */
                src = et_lm_generate_cost(et__lm, prompt, ET__GEN_TOKENS,
                                          n_steps < 1 ? 1 : n_steps > ET__GEN_TOKENS ? ET__GEN_TOKENS : n_steps,
                                          &cost, err, errlen);
            } else if (!src) {
                src = et_lm_score_cost(et__lm, prompt, (const char *const *)t->labels, t->n_labels, &cost, err, errlen);
            }
            infer_flops += cost.flops, infer_bytes += cost.bytes;
            free(prompt);
            if (src) { et_bm25_free(bm); goto done; }
            if (t->kind == ET_TASK_GENERATION) {
                et_rouge r1, rl;
                if (et_metric_rouge(out_text, q->output, &r1, &rl)) { et_bm25_free(bm); goto done; }
                pv[nq] = r1.f, gv[nq] = rl.f;        /* rouge1 / rougeL per query */
                if (cJSON_GetArraySize(gens) < 12) cJSON_AddItemToArray(gens, cJSON_CreateString(out_text));
            } else {
                pred[nq] = et__argmax(lp, t->n_labels);
                for (int l = 0; l < t->n_labels; l++) lp[l] -= lp0[l];
                pred_cal[nq] = et__argmax(lp, t->n_labels);
                gold[nq] = et_study_task_label(t, q->output);
                pv[nq] = atof(t->labels[pred[nq]]), gv[nq] = atof(q->output);
                pv_cal[nq] = atof(t->labels[pred_cal[nq]]);
            }
            nq++;
        }
        et_bm25_free(bm);
        if (et_cell_learns(c)) et_lm_reset_adapter(et__lm);
        /* per-user values: main metric and the second one */
        int n = nq - q0;
        if (t->kind == ET_TASK_GENERATION) {
            double a = 0, b = 0;
            for (int i = q0; i < nq; i++) a += pv[i], b += gv[i];
            u_main[ui] = n ? b / n : NAN, u_second[ui] = n ? a / n : NAN;   /* rougeL, rouge1 */
        } else if (t->kind == ET_TASK_RATING) {
            u_main[ui] = et_metric_mae(pv + q0, gv + q0, n);
            u_second[ui] = et_metric_rmse(pv + q0, gv + q0, n);
        } else {
            u_main[ui] = et_metric_accuracy(pred + q0, gold + q0, n);
            u_second[ui] = et_metric_macro_f1(pred + q0, gold + q0, n, t->n_labels);
        }
    }

    /* the cell's line */
    cJSON *j = cJSON_CreateObject(), *cfg = cJSON_CreateObject(), *m = cJSON_CreateObject(),
          *pu = cJSON_CreateObject();
    char key[600];
    et_cell_key(c, key, sizeof key);
    cJSON_AddStringToObject(j, "format", "edgetune-study");
    cJSON_AddNumberToObject(j, "version", 1);
    cJSON_AddStringToObject(j, "key", key);
    cJSON_AddStringToObject(cfg, "task", c->task);
    cJSON_AddStringToObject(cfg, "kind", et_task_kind_name(t->kind));
    cJSON_AddStringToObject(cfg, "method", c->method);
    cJSON_AddNumberToObject(cfg, "rag_k", c->rag_k);
    cJSON_AddStringToObject(cfg, "base", c->base);
    cJSON_AddStringToObject(cfg, "model", c->model);
    struct stat sb;
    cJSON_AddNumberToObject(cfg, "model_bytes", stat(c->model, &sb) == 0 ? (double)sb.st_size : 0);
    cJSON_AddStringToObject(cfg, "weight_types", wtypes);   /* what `base` really ran on */
    cJSON_AddNumberToObject(cfg, "profile_cap", c->profile_cap);
    cJSON_AddNumberToObject(cfg, "budget_s", c->budget_s);
    cJSON_AddNumberToObject(cfg, "rank", c->rank);
    cJSON_AddNumberToObject(cfg, "seed", c->seed);
    cJSON_AddNumberToObject(cfg, "n_users", nu);
    cJSON_AddStringToObject(cfg, "slice", c->slice);
    cJSON_AddItemToObject(j, "config", cfg);
    const char *mn = t->kind == ET_TASK_GENERATION ? "rougeL" : t->kind == ET_TASK_RATING ? "mae" : "accuracy";
    const char *sn = t->kind == ET_TASK_GENERATION ? "rouge1" : t->kind == ET_TASK_RATING ? "rmse" : "macro_f1";
    if (t->kind == ET_TASK_GENERATION) {
        double a = 0, b = 0;
        for (int i = 0; i < nq; i++) a += pv[i], b += gv[i];
        cJSON_AddNumberToObject(m, "rouge1", nq ? a / nq : 0);
        cJSON_AddNumberToObject(m, "rougeL", nq ? b / nq : 0);
    } else {
        et__label_metrics(m, t, pred, pv, gold, gv, nq);
    }
    cJSON_AddItemToObject(j, "metrics", m);
    if (t->kind != ET_TASK_GENERATION) {
        /* which labels the model chose (a model that always picks one label shows up here),
         * and the same queries scored calibrated */
        cJSON_AddItemToObject(j, "predicted_labels", et__label_counts(t, pred, nq));
        cJSON *mc = cJSON_CreateObject();
        et__label_metrics(mc, t, pred_cal, pv_cal, gold, gv, nq);
        cJSON_AddItemToObject(j, "metrics_cal", mc);
        cJSON_AddItemToObject(j, "predicted_labels_cal", et__label_counts(t, pred_cal, nq));
    }
    cJSON *names = cJSON_CreateArray(), *a1 = cJSON_CreateArray(), *a2 = cJSON_CreateArray();
    for (int i = 0; i < nu; i++) {
        cJSON_AddItemToArray(names, cJSON_CreateString(t->users[uidx[i]].name));
        cJSON_AddItemToArray(a1, cJSON_CreateNumber(u_main[i]));
        cJSON_AddItemToArray(a2, cJSON_CreateNumber(u_second[i]));
    }
    cJSON_AddItemToObject(pu, "users", names);
    cJSON_AddItemToObject(pu, mn, a1);
    cJSON_AddItemToObject(pu, sn, a2);
    cJSON_AddItemToObject(j, "per_user", pu);
    cJSON_AddNumberToObject(j, "n_queries", nq);
    cJSON_AddBoolToObject(j, "deterministic", !et_cell_learns(c));
    cJSON_AddNumberToObject(j, "steps_per_user", n_trained ? (double)steps_used / n_trained : 0);
    cJSON_AddNumberToObject(j, "learn_seconds_per_user", n_trained ? learn_s / n_trained : 0);
    cJSON_AddNumberToObject(j, "train_tokens_per_s", n_trained ? tok_s / n_trained : 0);
    cJSON_AddNumberToObject(j, "first_loss", n_trained ? loss0 / n_trained : 0);
    cJSON_AddNumberToObject(j, "final_loss", n_trained ? loss1 / n_trained : 0);
    cJSON_AddNumberToObject(j, "learn_flops_per_user", n_trained ? flops / n_trained : 0);
    cJSON_AddNumberToObject(j, "learn_bytes_per_user", n_trained ? bytes / n_trained : 0);
    cJSON_AddNumberToObject(j, "calibration_sec_per_step", sec_per_step);
    cJSON_AddNumberToObject(j, "infer_flops_per_query", nq ? infer_flops / nq : 0);
    cJSON_AddNumberToObject(j, "infer_bytes_per_query", nq ? infer_bytes / nq : 0);
    cJSON_AddNumberToObject(j, "planned_peak_bytes", (double)planned_peak);
    size_t rss = et__peak_rss();
    cJSON_AddNumberToObject(j, "measured_peak_rss", (double)(rss > rss_peak_train ? rss : rss_peak_train));
    cJSON_AddNumberToObject(j, "latency_ms_per_query", nq ? infer_s * 1e3 / nq : 0);
    cJSON_AddNumberToObject(j, "infer_prompt_tokens", (double)infer_tokens);
    cJSON_AddNumberToObject(j, "infer_tokens_per_s", infer_s > 0 ? infer_tokens / infer_s : 0);
    cJSON_AddNumberToObject(j, "wall_s", et__now() - t_cell);
    cJSON_AddItemToObject(j, "sample_outputs", gens);
    gens = NULL;
    *line = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    rc = *line ? 0 : -1;
    if (rc) snprintf(err, errlen, "study: out of memory");
done:
    cJSON_Delete(gens);
    free(uidx); free(pred); free(gold); free(pv); free(gv); free(u_main); free(u_second);
    free(lp); free(lp0); free(pred_cal); free(pv_cal); free(out_text);
    if (rc && et_cell_learns(c) && et__lm) et_lm_reset_adapter(et__lm);
    return rc;
}

#endif
