/* The trainer: runs optimizer steps of a Llama-family model with an adapter (or full
 * fine-tuning) over a set of examples, under a step, epoch or wall-clock budget.
 *
 *   - AdamW (engine/optim.h), global grad-norm clipping, constant or cosine schedule with
 *     linear warm-up, gradient accumulation, fixed seeds -> reproducible runs;
 *   - loss on answer tokens only, head evaluated only at those positions (the batch's sel);
 *   - the planner's peak is reported before the run; mem_limit refuses a run that would not
 *     fit, with both figures, before anything is allocated;
 *   - evaluation on held-out examples every eval_every steps, optional early stopping;
 *   - a progress bar on a terminal (step, loss, tokens/s, ETA), plain log lines otherwise;
 *   - checkpoints written atomically (temporary file, fsync, rename) holding the adapter,
 *     the optimizer moments, the RNG state and the data cursor; resume continues a killed
 *     run exactly (bit-identical for step-counted runs);
 *   - on the CPU or a device backend (cfg.device / cfg.backend: Vulkan), the same graph.
 */
#ifndef ET_TRAINER_H
#define ET_TRAINER_H

#include <stdint.h>
#include <stdio.h>
#include "llama.h"
#include "optim.h"

/* One training example: token ids, of which the last n_answer are the answer (loss only
 * there: position t predicts ids[t+1]). */
typedef struct et_example {
    const int32_t *ids;
    int32_t        n;
    int32_t        n_answer;
} et_example;

typedef enum { ET_SCHED_CONSTANT, ET_SCHED_COSINE } et_sched;

typedef struct et_train_cfg {
    et_adamw_cfg opt;
    float     clip;            /* max global grad norm; 0 = off */
    et_sched  sched;
    int32_t   warmup;          /* linear warm-up steps */
    int64_t   steps;           /* optimizer steps (0: use epochs or the time budget) */
    int32_t   epochs;          /* 0: not epoch-limited */
    double    time_budget_s;   /* 0: none; else stop at the first step boundary past it */
    int32_t   batch;           /* sequences per micro-batch */
    int32_t   grad_accum;      /* micro-batches per optimizer step (>= 1) */
    int32_t   seq_len;         /* T of a micro-batch (examples are truncated from the left) */
    uint64_t  seed;            /* shuffling and dropout */
    int32_t   eval_every;      /* 0: no evaluation */
    int32_t   early_stop;      /* stop after this many evaluations without improvement; 0 = off */
    bool      recompute;       /* activation checkpointing */
    bool      keep_activations;   /* false (default): backward recomputes the elementwise ops'
                                     outputs (SwiGLU, norms, scales) from kept inputs
                                     (et_backward_opts.recompute_cheap); true: keep them all */
    bool      recompute_mlp;   /* backward recomputes the MLP's gate and up products instead of
                                  keeping them (et_backward_opts.recompute_marked): 2 × ffn
                                  floats a token a layer less, for two matmuls a layer more */
    size_t    mem_limit;       /* bytes; 0 = none */
    int       n_threads;       /* 0 = all */
    const char *ckpt_path;     /* NULL: no checkpoints */
    int32_t   ckpt_every;      /* steps between checkpoints */
    bool      resume;          /* continue from ckpt_path if it exists */
    FILE     *log;             /* progress output; NULL = silent */
    const char *profile_dir;   /* per-node profile of the steps: table (to log), profile.jsonl,
                                  trace.json, roofline.png, memory.png; NULL = off */
    const char *profile_limits;/* bench kernels --json file for the roofline (NULL: default) */
    /* Where the steps run.  backend: a device backend the caller owns (e.g. et_lm's), which
     * the trainer first clears of every tensor it knew (et_vk_backend_forget from 0) and
     * leaves cleared; else device: "cpu" (or NULL), "vulkan", "vulkan:N", "auto", opened for
     * the run and closed after it.  On a device the whole step (forward, backward, clipping,
     * AdamW) runs there: inputs go up and the loss comes down every micro-batch, the trained
     * tensors and moments come down for each checkpoint and at the end; an op the device
     * lacks fails the run naming the op (no CPU fallback). */
    struct et_backend *backend;
    const char *device;
} et_train_cfg;

typedef struct et_train_result {
    int64_t steps;             /* optimizer steps taken */
    double  seconds;           /* wall clock of the steps (not set-up) */
    double  tokens_per_s;      /* tokens through the model per second */
    float   first_loss, final_loss, best_eval;
    size_t  planned_peak_bytes;   /* step buffer + scratch, known before the run */
    size_t  peak_rss_bytes;       /* measured (VmHWM) */
    double  flops;             /* model FLOPs: 6·params·tokens style count from the graph */
    bool    stopped_early, resumed;
    double  flops_per_step;    /* the step graph's FLOPs (et_train_graph_flops), all micro-batches */
    double  bytes, bytes_per_step;   /* bytes moved by the ops' own counts (et_train_graph_bytes) */
} et_train_result;

et_train_cfg et_train_defaults(void);
/* Train m (its PARAM tensors) on the examples.  Returns 0, or -1 with err set. */
int et_train(et_llama *m, const et_train_cfg *cfg, const et_example *train, int64_t n_train,
             const et_example *eval, int64_t n_eval, et_train_result *res, char *err, size_t errlen);

/* Learning rate of 0-based step `step` of `total` (0: unknown, then the cosine follows frac,
 * the elapsed fraction of the time budget): warm-up then constant or cosine, as transformers'
 * get_{constant,cosine}_schedule_with_warmup. */
float et_train_lr(const et_train_cfg *cfg, int64_t step, int64_t total, double frac);
/* Measured seconds per optimizer step of this configuration (median of n_steps after one
 * warm-up step), so a time budget can be turned into a step count once.  Runs real steps with
 * learning rate 0 (weights unchanged) and zeroes the moments afterwards.  It records its own
 * step graph in the model's context, which needs room for it.  cpu_sec_per_step (may be
 * NULL): the process's CPU seconds per timed step (mean), a figure a loaded machine disturbs
 * less than wall time. */
int et_train_calibrate(et_llama *m, const et_train_cfg *cfg, const et_example *train, int64_t n_train, int n_steps,
                       double *sec_per_step, double *cpu_sec_per_step, char *err, size_t errlen);
/* FLOPs of nodes [from, to) of a graph (2·M·N·K per matrix product, see trainer.c). */
double et_train_graph_flops(const et_graph *g, int32_t from, int32_t to);
/* Bytes nodes [from, to) move by the op table's cost functions (engine/cost.h: every source
 * read once at its storage size, the result written once): a roofline's memory term. */
double et_train_graph_bytes(const et_graph *g, int32_t from, int32_t to);
/* The process's peak resident set (VmHWM of /proc/self/status) in bytes; 0 if unknown. */
size_t et_train_peak_rss(void);

#endif
