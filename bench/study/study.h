/* The personalization study: tasks, the cell plan, the runner, results and the report.
 *
 *   task.c     LaMP-style tasks: edgetune's build/data/<task>/ layout and LaMP's own files
 *   plan.c     cells (one configuration x seed), the designed plan / full grid, shards, cost
 *   results.c  append-only results.jsonl (line-atomic + fsync), resume, merge, calibration
 *   prompts.c  prompts from profile items (training pairs, RAG context, label candidates)
 *   run.c      one cell's work through the et_lm contract (models/lm.h)
 *   report.c   report.md + figures from results.jsonl
 *   study.c    the driver behind `edgetune study`: plan -> skip finished -> run -> report
 *
 * Nothing here knows how a model computes; everything model-side goes through models/lm.h.
 */
#ifndef ET_STUDY_H
#define ET_STUDY_H

#include <stddef.h>
#include <stdint.h>

/* ---- tasks --------------------------------------------------------------------------- */

typedef enum et_task_kind {
    ET_TASK_RATING = 0,          /* LaMP-3: labels "1".."5", MAE / RMSE */
    ET_TASK_CLASSIFICATION,      /* LaMP-2: K labels, accuracy / macro-F1 */
    ET_TASK_ATTRIBUTION,         /* LaMP-1: "[1]" / "[2]", accuracy */
    ET_TASK_GENERATION,          /* LaMP-4/5/7: free text, ROUGE-1 / ROUGE-L */
    ET_TASK_KIND_COUNT
} et_task_kind;

typedef struct et_study_item {   /* one profile item */
    char *text;                  /* what retrieval indexes and prompts show */
    char *label;                 /* score / tag / title; NULL when the item has none */
} et_study_item;

typedef struct et_study_query {
    char *id, *input, *output;
} et_study_query;

typedef struct et_study_user {
    char *name;
    et_study_item  *profile; int n_profile;
    et_study_query *test;    int n_test;
} et_study_user;

typedef struct et_study_task {
    char *name, *source;          /* source: the directory or file it came from */
    et_task_kind kind;
    char **labels; int n_labels;  /* rating/classification/attribution; 0 for generation */
    char *prompt_template;        /* {item} {description} {labels} {a} {b} placeholders */
    et_study_user *users; int n_users;
    /* difficulty (stats.json; NaN when not known) */
    double entropy_bits, majority_acc, majority_f1, majority_mae, prior_acc, prior_f1, prior_mae;
    double profile_median;
} et_study_task;

const char *et_task_kind_name(et_task_kind k);

/* build/data/<name>/{task,test,stats}.json.  0, or -1 with err naming file, field, value. */
int  et_study_task_load(const char *data_dir, const char *name, et_study_task *t,
                        char *err, size_t errlen);
/* LaMP's files: DIR/dev_questions.json + DIR/dev_outputs.json (each question is a user). */
int  et_study_task_load_lamp(const char *dir, et_study_task *t, char *err, size_t errlen);
void et_study_task_free(et_study_task *t);
/* Difficulty from the task itself (LaMP directories have no stats.json): label entropy of
 * the golds, the majority-class baseline (majority of the profiles' labels, never the
 * golds; first label when profiles have none), the profile-prior baseline (each user's own
 * most frequent profile label, ties to the label listed first), their accuracy / macro-F1
 * (and MAE for rating), and the median profile size.  NaN where a field does not apply.
 * 0, or -1 out of memory. */
int  et_study_task_baselines(et_study_task *t);
/* Index of label s in t->labels, or -1. */
int  et_study_task_label(const et_study_task *t, const char *s);

/* ---- cells and plans ------------------------------------------------------------------- */

#define ET_STUDY_MAX_CELL_STR 160

typedef struct et_cell {
    char   task[48];
    char   method[16];          /* zero-shot rag lora ia3 prompt rag+lora */
    int    rag_k;               /* rag, rag+lora */
    char   base[16];            /* f32 f16 q8_0 q4_0 q4_k nf4 prune50 prune2:4 */
    char   model[ET_STUDY_MAX_CELL_STR];   /* path of the GGUF */
    int    profile_cap;         /* 0 = all */
    double budget_s;            /* learning time per user (parameter-learning methods) */
    int    rank;                /* LoRA rank */
    int    seed;
    int    n_users;             /* users sampled (seeded, fixed per task) */
    char   slice[32];           /* which slice / contrast asked for it (first one) */
} et_cell;

int  et_cell_learns(const et_cell *c);       /* method trains an adapter */
int  et_cell_retrieves(const et_cell *c);
/* The identity of a cell (everything but slice), e.g. for resume: "task=..;method=..;...". */
void et_cell_key(const et_cell *c, char *buf, size_t n);

typedef struct et_study_profile {
    const char *name;            /* quick | full | grid */
    int    n_seeds, n_users;
    double budgets[4]; int n_budgets;   /* budgets[centre_budget] is the centre */
    int    centre_budget;
} et_study_profile;

typedef struct et_study_plan {
    et_cell  *cells; int n, cap;
    uint64_t *hash;              /* of each cell's key, for de-duplication */
} et_study_plan;

/* tasks/models: the study's axes of tasks and model files (models[0] is the centre model).
 * grid != 0: the full factorial.  Cells are unique by key, in a stable order. */
int  et_study_plan_build(et_study_plan *p, const char *profile, int grid, const char *const *tasks,
                   int n_tasks, const char *const *models, int n_models, char *err, size_t errlen);
/* The same with overrides (small end-to-end runs): n_users > 0 and n_budgets > 0 (budgets[0]
 * becomes the centre) replace the profile's; NULL = none. */
int  et_study_plan_build_with(et_study_plan *p, const char *profile, int grid,
                              const char *const *tasks, int n_tasks, const char *const *models,
                              int n_models, const et_study_profile *ovr, char *err, size_t errlen);
void et_study_plan_free(et_study_plan *p);
/* Keep cells i with i % n == k (0-based k; a cell's index in the full plan), in place. */
void et_study_plan_shard(et_study_plan *p, int k, int n);
/* What turns a cell into estimated seconds on this machine (--plan, the ETA).  Inference is
 * counted in candidate-tokens x parameters (a scored query runs every label over the whole
 * prompt; a generated one its prompt plus ET_STUDY_GEN_TOKENS steps) and converted with a
 * speed measured here on a real call (et_study_measure_infer), or, where no model could be
 * run, with 2 FLOPs per unit at the f32 GEMM's measured GFLOP/s (optimistic: small models'
 * matrices run far below the GEMM's rate). */
#define ET_STUDY_GEN_TOKENS 32
typedef struct et_cell_cost_in {
    double model_params;       /* the cell's model: file bytes / 4 */
    double query_tokens;       /* mean tokens of a query's own prompt */
    double item_tokens;        /* mean tokens one retrieved profile item adds */
    int    n_cands;            /* labels scored per query; 0 for generation */
    double queries_per_user;
    double sec_per_unit;       /* measured seconds per candidate-token-parameter (0: unknown) */
    double sec_per_gen_unit;   /* the same for generation (prefill + decode tokens) */
    double gflops;             /* fallback */
} et_cell_cost_in;
double et_cell_estimate_s(const et_cell *c, const et_cell_cost_in *in);

/* ---- results ------------------------------------------------------------------------------ */

/* Append one line (must be a single JSON object without newline) with one write() on an
 * O_APPEND descriptor, then fsync: a killed run leaves whole lines only.  0 or -1. */
int  et_results_append(const char *path, const char *json_line, char *err, size_t errlen);
/* Keys of finished cells in path (missing file = none).  Returns the count or -1; *keys is
 * an array of strdup'ed strings (free with et_results_keys_free).  Torn last lines (no
 * newline, unparsable) are ignored. */
int  et_results_keys(const char *path, char ***keys, char *err, size_t errlen);
void et_results_keys_free(char **keys, int n);
int  et_results_has(char *const *keys, int n, const char *key);
/* Join result files into out: each cell once (first occurrence wins), in input order. */
int  et_results_merge(const char *out, const char *const *in, int n_in, char *err, size_t errlen);

/* Calibration: seconds per optimizer step, stored as JSON lines in DIR/calibration.jsonl so
 * reruns turn budgets into the same step counts.  Keyed by everything that changes a step's
 * time: the model, method, base and LoRA rank (the graph), the task and profile cap (the
 * training prompts' lengths: rating's short prompts step several times faster than
 * section's long ones) and the thread count. */
typedef struct et_calib_key {
    const char *model, *method, *base, *task;
    int rank, profile_cap, n_threads;
} et_calib_key;
int  et_calib_get(const char *dir, const et_calib_key *k, double *sec_per_step);
int  et_calib_put(const char *dir, const et_calib_key *k, double sec_per_step, char *err, size_t errlen);

/* ---- prompts ----------------------------------------------------------------------------- */

/* The task's prompt for one profile item (training pairs: prompt + answer).  For attribution
 * the other quotation (distractor) and the true one's position (0 or 1) are given.  Returns
 * a malloc'ed string or NULL. */
/* The task's template with the content-free input "N/A" (label calibration, run.c). */
char *et_study_content_free_prompt(const et_study_task *t);
char *et_study_item_prompt(const et_study_task *t, const et_study_item *it,
                           const char *distractor, int true_pos, char **answer);
/* RAG context: the retrieved items, best first, formatted in front of the query's input,
 * adding items while count_tokens(result) <= max_tokens (count_tokens NULL: 4 bytes/token). */
char *et_study_rag_prompt(const et_study_task *t, const et_study_user *u, const int *idx,
                          int k, const char *input, int max_tokens,
                          int (*count_tokens)(void *ctx, const char *s), void *ctx);
/* The text of a query that retrieval matches against (input without the instruction). */
const char *et_study_query_text(const et_study_task *t, const char *input);

/* ---- running and reporting ------------------------------------------------------------- */

typedef struct et_study_opts {
    const char *profile;         /* quick | full */
    int         grid, plan_only, report_only;
    const char *lamp_dir;        /* NULL: built-in tasks from data_dir */
    const char *data_dir;        /* default build/data */
    const char *const *models; int n_models;   /* --model files: added to the built-in ones */
    int         no_builtin;      /* only the --model files, not the built-in build/models ones */
    const char *out_dir;         /* default build/study */
    int         shard_k, shard_n;
    int         n_threads;       /* 0: OpenMP's count when the study starts */
    const char *device;          /* NULL/"cpu", "vulkan[:N]": where cells score and train (et_lm_opts) */
    double      phone_gflops, phone_gbps;   /* 0: not given */
    const char *tasks;           /* NULL: all; else comma-separated task names */
    int         n_users;         /* > 0: users per cell instead of the profile's */
    double      budgets[4]; int n_budgets;  /* > 0: budgets instead (first = centre) */
} et_study_opts;

int et_study_main(const et_study_opts *o, char *err, size_t errlen);

/* Runs one cell over its users, writing one JSON line (no newline) into *line (malloc'ed).
 * Needs the model implementation (models/lm.c); without it returns -1 saying so. */
int et_study_run_cell(const et_cell *c, const et_study_task *t, const char *out_dir,
                      int n_threads, char **line, char *err, size_t errlen);
int et_study_have_models(void);
/* Times one real inference call of task t's first query on `model` at f32 (scoring its
 * labels, or generating for a generation task; after one warm-up) and returns seconds per
 * candidate-token-parameter as et_cell_cost_in counts them; 0 when the model cannot be run
 * (no model implementation, an unreadable file). */
double et_study_measure_infer(const char *model, const et_study_task *t, int n_threads);
/* The device later cells' models load on (et_study_main sets it from et_study_opts.device). */
void et_study_set_device(const char *device);

/* The machine's limits the report's header and roofline need, measured once per output
 * directory into out_dir/device.jsonl (edgetune bench kernels' probe lines: read bandwidth,
 * f32 FMA / bf16 / int8 peaks, with --quick --types f32, ~25 s) unless the file exists. */
int et_study_probe_device(const char *out_dir, int n_threads, char *err, size_t errlen);

/* report.md and figures in out_dir from out_dir/results.jsonl and the tasks' difficulty. */
int et_study_report(const char *out_dir, const et_study_task *tasks, int n_tasks,
                    const et_study_opts *o, char *err, size_t errlen);

/* Seeded, fixed user sample of a task: the first n of a seeded permutation (indices). */
int et_study_sample_users(const et_study_task *t, int n, int *idx);

#endif
