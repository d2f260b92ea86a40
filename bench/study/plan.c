/* The study's cell plan: a designed experiment by default, the full factorial on request.
 *
 * The full factorial (tasks x methods x compressions x models x profile sizes x budgets x
 * ranks x seeds) is ~20,000 cells, weeks on a 2-core machine, so `--grid` must ask for it.
 * The default is one-factor-at-a-time slices through centre cells plus the contrasts each of
 * the study's findings needs (report.c tests exactly these):
 *
 *   slice           cells (at the centre unless varied)                      finding
 *   method          every task x {zero-shot, RAG k=4, LoRA} (+ RAG+LoRA, IA3, F1 learning vs RAG
 *                   prompt tuning on centre tasks)                            by difficulty
 *   rag-k           centre tasks x RAG k in {1, 2, 4, 8}                     (RAG depth)
 *   rag-history     centre tasks x RAG k=4 x profile cap {4, 16, 64, all}    F5 limited history
 *   compression     centre task x {zero-shot, LoRA} x every base (quick: no  (compression)
 *                   LoRA on the near-lossless f16 / q8_0, nor on 2:4)
 *   data-x-compr.   centre task x LoRA x cap {4,16,64,all} x {f32, q4_0, nf4} F3 compressed wins
 *                   (quick: f32 at 4/16/all, q4_0 and nf4 at 4/16)            with little data
 *   budget          centre task x LoRA x every budget                        F2 longer tuning
 *   rank            centre task x LoRA rank {2, 32} x {tightest, loosest}    F4 rank under
 *                   budget (quick: tightest only)                             tight resources
 *   model           centre task x every model x {zero-shot, LoRA}            learning time vs size
 *
 * The quick profile has one centre task; the full profile makes every task a centre.
 * Zero-shot and RAG are deterministic (no training, greedy scoring), so they run once (seed
 * 0); every learning cell runs n_seeds seeds.  A cell's users are a fixed, seeded sample
 * per task (task.c), the same for every cell, so cells pair user by user.
 *
 * Sizing the quick profile (`make study` <= ~30 min on 2 cores after the models exist):
 * learning costs users x seeds x sum of budgets; the paired tests need enough users that a
 * sign-flip p (at best 2/2^m for m users) survives Holm over the report's contrasts (quick:
 * 4 F1 + 1 F2 + 2 F3 + 1 F4 + 1 F5 = 9, so m >= 9); hence 10 users, 3 seeds and budgets of
 * 1 / 3 / 9 s (centre: the tightest), 21 learning configurations x 3 seeds.
 */
#include "study.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const et__bases[] = {"f32", "f16", "q8_0", "q4_0", "q4_k", "nf4", "prune50", "prune2:4"};
enum { ET__N_BASES = 8 };
static const int et__caps[] = {4, 16, 64, 0};
enum { ET__CENTRE_CAP = 16, ET__CENTRE_K = 4, ET__CENTRE_RANK = 8 };

int et_cell_learns(const et_cell *c) {
    return !strcmp(c->method, "lora") || !strcmp(c->method, "ia3") ||
           !strcmp(c->method, "prompt") || !strcmp(c->method, "rag+lora");
}

int et_cell_retrieves(const et_cell *c) {
    return !strcmp(c->method, "rag") || !strcmp(c->method, "rag+lora");
}

void et_cell_key(const et_cell *c, char *buf, size_t n) {
    /* scoring=raw+cal: labels scored both raw and calibrated against a content-free prompt
     * (run.c); rows from builds without the calibrated metrics lack the field and are neither
     * reused nor reported */
    snprintf(buf, n, "task=%s;method=%s;k=%d;base=%s;model=%s;cap=%d;budget=%g;rank=%d;seed=%d;users=%d;scoring=raw+cal",
             c->task, c->method, c->rag_k, c->base, c->model, c->profile_cap, c->budget_s,
             c->rank, c->seed, c->n_users);
}

void et_study_plan_free(et_study_plan *p) {
    free(p->cells);
    free(p->hash);
    memset(p, 0, sizeof *p);
}

/* add cell c (normalised: fields a method does not use are zeroed), once per key */
static int et__add(et_study_plan *p, et_cell c) {
    if (!et_cell_retrieves(&c)) c.rag_k = 0;
    if (!et_cell_learns(&c)) c.budget_s = 0, c.rank = 0, c.seed = 0;
    else if (strcmp(c.method, "lora") && strcmp(c.method, "rag+lora")) c.rank = 0;
    if (!et_cell_learns(&c) && !et_cell_retrieves(&c)) c.profile_cap = 0;  /* zero-shot uses none */
    char k1[600], k2[600];
    et_cell_key(&c, k1, sizeof k1);
    uint64_t h = 1469598103934665603ULL;              /* FNV-1a of the key */
    for (const char *s = k1; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    for (int i = 0; i < p->n; i++)                    /* the grid has ~20,000 cells: compare hashes */
        if (p->hash[i] == h) {
            et_cell_key(&p->cells[i], k2, sizeof k2);
            if (!strcmp(k1, k2)) return 0;
        }
    if (p->n == p->cap) {
        int nc = p->cap ? p->cap * 2 : 64;
        et_cell *ncells = realloc(p->cells, sizeof *ncells * (size_t)nc);
        if (!ncells) return -1;
        p->cells = ncells;
        uint64_t *nh = realloc(p->hash, sizeof *nh * (size_t)nc);
        if (!nh) return -1;
        p->hash = nh, p->cap = nc;
    }
    p->hash[p->n] = h;
    p->cells[p->n++] = c;
    return 0;
}

/* the cell with each seed (learning) or once (deterministic) */
static int et__add_seeds(et_study_plan *p, et_cell c, int n_seeds) {
    if (!et_cell_learns(&c)) return et__add(p, c);
    for (int s = 1; s <= n_seeds; s++) {
        c.seed = s;
        if (et__add(p, c)) return -1;
    }
    return 0;
}

static et_cell et__cell(const char *task, const char *method, const char *model, double budget,
                        int n_users, const char *slice) {
    et_cell c;
    memset(&c, 0, sizeof c);
    snprintf(c.task, sizeof c.task, "%s", task);
    snprintf(c.method, sizeof c.method, "%s", method);
    snprintf(c.base, sizeof c.base, "f32");
    snprintf(c.model, sizeof c.model, "%s", model);
    snprintf(c.slice, sizeof c.slice, "%s", slice);
    c.rag_k = ET__CENTRE_K, c.profile_cap = ET__CENTRE_CAP, c.budget_s = budget;
    c.rank = ET__CENTRE_RANK, c.n_users = n_users;
    return c;
}

int et_study_plan_build(et_study_plan *p, const char *profile, int grid, const char *const *tasks,
                        int n_tasks, const char *const *models, int n_models, char *err, size_t errlen) {
    return et_study_plan_build_with(p, profile, grid, tasks, n_tasks, models, n_models, NULL, err, errlen);
}

int et_study_plan_build_with(et_study_plan *p, const char *profile, int grid,
                             const char *const *tasks, int n_tasks, const char *const *models,
                             int n_models, const et_study_profile *ovr, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    et_study_profile pr;
    if (!strcmp(profile, "quick"))
        pr = (et_study_profile){"quick", 3, 10, {1, 3, 9}, 3, 0};
    else if (!strcmp(profile, "full"))
        pr = (et_study_profile){"full", 3, 24, {10, 60, 300}, 3, 1};
    else {
        snprintf(err, errlen, "study: --profile must be quick or full, not \"%.40s\"", profile);
        return -1;
    }
    if (ovr && ovr->n_users > 0) pr.n_users = ovr->n_users;
    if (ovr && ovr->n_budgets > 0 && ovr->n_budgets <= 4) {
        pr.n_budgets = ovr->n_budgets, pr.centre_budget = 0;
        for (int i = 0; i < ovr->n_budgets; i++) pr.budgets[i] = ovr->budgets[i];
    }
    if (n_tasks <= 0 || n_models <= 0) {
        snprintf(err, errlen, "study: the plan needs at least one task and one model (%d, %d)",
                 n_tasks, n_models);
        return -1;
    }
    const char *model = models[0];
    double bc = pr.budgets[pr.centre_budget];
    int rc = 0;
    static const char *const learn[] = {"lora", "ia3", "prompt", "rag+lora"};
    if (grid) {
        static const char *const methods[] = {"zero-shot", "rag", "lora", "ia3", "prompt", "rag+lora"};
        static const int ks[] = {1, 2, 4, 8}, ranks[] = {2, 8, 32};
        for (int t = 0; t < n_tasks; t++)
            for (int m = 0; m < n_models; m++)
                for (int me = 0; me < 6; me++)
                    for (int b = 0; b < ET__N_BASES; b++)
                        for (int ca = 0; ca < 4; ca++)
                            for (int k = 0; k < 4; k++)
                                for (int bu = 0; bu < pr.n_budgets; bu++)
                                    for (int r = 0; r < 3; r++) {
                                        et_cell c = et__cell(tasks[t], methods[me], models[m],
                                                             pr.budgets[bu], pr.n_users, "grid");
                                        snprintf(c.base, sizeof c.base, "%s", et__bases[b]);
                                        c.profile_cap = et__caps[ca], c.rag_k = ks[k], c.rank = ranks[r];
                                        rc |= et__add_seeds(p, c, pr.n_seeds);
                                    }
        goto done;
    }
    /* centre tasks: the quick profile centres on one task (section when present: a K-class
     * task where both retrieval and learning have room), the full profile on every task */
    int centre = 0;
    for (int t = 0; t < n_tasks; t++)
        if (!strcmp(tasks[t], "section")) centre = t;
    int quick = !strcmp(pr.name, "quick");
    for (int t = 0; t < n_tasks; t++) {
        int is_centre = !quick || t == centre;
        const char *T = tasks[t];
        /* method slice (F1): zero-shot, RAG and LoRA on every task; the other learners on centres */
        rc |= et__add_seeds(p, et__cell(T, "zero-shot", model, bc, pr.n_users, "method"), pr.n_seeds);
        rc |= et__add_seeds(p, et__cell(T, "rag", model, bc, pr.n_users, "method"), pr.n_seeds);
        for (int m = 0; m < 4; m++)
            if (is_centre || m == 0)
                rc |= et__add_seeds(p, et__cell(T, learn[m], model, bc, pr.n_users, "method"), pr.n_seeds);
        if (!is_centre) continue;
        /* retrieval depth and history (F5) */
        for (int k = 1; k <= 8; k *= 2) {
            et_cell c = et__cell(T, "rag", model, bc, pr.n_users, "rag-k");
            c.rag_k = k;
            rc |= et__add(p, c);
        }
        for (int ca = 0; ca < 4; ca++) {
            et_cell c = et__cell(T, "rag", model, bc, pr.n_users, "rag-history");
            c.profile_cap = et__caps[ca];
            rc |= et__add(p, c);
        }
        /* compression */
        for (int b = 0; b < ET__N_BASES; b++) {
            et_cell z = et__cell(T, "zero-shot", model, bc, pr.n_users, "compression");
            et_cell l = et__cell(T, "lora", model, bc, pr.n_users, "compression");
            snprintf(z.base, sizeof z.base, "%s", et__bases[b]);
            snprintf(l.base, sizeof l.base, "%s", et__bases[b]);
            rc |= et__add(p, z);
            /* quick (30 min): LoRA on every base but the near-lossless f16 and q8_0 (~f32) and
             * 2:4 (~50% pruning); their zero-shot cells still run */
            if (quick && (!strcmp(et__bases[b], "f16") || !strcmp(et__bases[b], "q8_0") ||
                          !strcmp(et__bases[b], "prune2:4")))
                continue;
            rc |= et__add_seeds(p, l, pr.n_seeds);
        }
        /* data amount x compression (F3) */
        static const char *const dc_bases[] = {"f32", "q4_0", "nf4"};
        for (int b = 0; b < 3; b++)
            for (int ca = 0; ca < 4; ca++) {
                /* quick: f32 at 4, 16 and all; q4_0 and nf4 at 4 (and 16: the compression slice's) */
                if (quick && ((b == 0 && ca == 2) || (b > 0 && ca != 0))) continue;
                et_cell c = et__cell(T, "lora", model, bc, pr.n_users, "data-x-compression");
                snprintf(c.base, sizeof c.base, "%s", dc_bases[b]);
                c.profile_cap = et__caps[ca];
                rc |= et__add_seeds(p, c, pr.n_seeds);
            }
        /* budget (F2) */
        for (int bu = 0; bu < pr.n_budgets; bu++)
            rc |= et__add_seeds(p, et__cell(T, "lora", model, pr.budgets[bu], pr.n_users, "budget"),
                                pr.n_seeds);
        /* rank under tight and loose budgets (F4) */
        static const int ranks[] = {2, 32};
        for (int r = 0; r < 2; r++)
            for (int bu = 0; bu < pr.n_budgets; bu += pr.n_budgets - 1) {
                et_cell c = et__cell(T, "lora", model, pr.budgets[bu], pr.n_users, "rank");
                c.rank = ranks[r];
                rc |= et__add_seeds(p, c, pr.n_seeds);
                if (pr.n_budgets == 1 || !strcmp(pr.name, "quick")) break;  /* quick: tightest only */
            }
        /* model size */
        for (int m = 1; m < n_models; m++) {
            rc |= et__add(p, et__cell(T, "zero-shot", models[m], bc, pr.n_users, "model"));
            rc |= et__add_seeds(p, et__cell(T, "lora", models[m], bc, pr.n_users, "model"), pr.n_seeds);
        }
    }
    /* zero-shot of every model on every task: the difficulty table's zero-shot column */
    for (int t = 0; t < n_tasks; t++)
        for (int m = 1; m < n_models; m++)
            rc |= et__add(p, et__cell(tasks[t], "zero-shot", models[m], bc, pr.n_users, "difficulty"));
done:
    if (rc) {
        et_study_plan_free(p);
        snprintf(err, errlen, "study: out of memory building the plan");
        return -1;
    }
    return 0;
}

void et_study_plan_shard(et_study_plan *p, int k, int n) {
    if (n <= 1) return;
    int m = 0;
    for (int i = 0; i < p->n; i++)
        if (i % n == k) p->hash[m] = p->hash[i], p->cells[m++] = p->cells[i];
    p->n = m;
}

double et_cell_estimate_s(const et_cell *c, const et_cell_cost_in *in) {
    double learn = et_cell_learns(c) ? c->budget_s * c->n_users : 0;
    double ctx = in->query_tokens;
    if (et_cell_retrieves(c)) {   /* the retrieved items, within the runner's 384-token budget */
        double add = c->rag_k * in->item_tokens;
        ctx += add < 384 ? add : 384;
    }
    double queries = in->queries_per_user * c->n_users;
    double units = in->n_cands > 0 ? (ctx + 2) * in->n_cands * in->model_params
                                   : (ctx + ET_STUDY_GEN_TOKENS) * in->model_params;
    double spu = in->n_cands > 0 ? in->sec_per_unit : in->sec_per_gen_unit;
    double infer = spu > 0 ? units * spu : in->gflops > 0 ? 2.0 * units / (in->gflops * 1e9) : 0;
    return learn + infer * queries;
}
