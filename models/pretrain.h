/* Pretraining edgetune's own small base models from scratch (full fine-tuning of every f32
 * parameter) on a plain-text corpus, then exporting them as GGUF with their tokenizer.
 * Sizes are presets chosen for this class of machine (2 cores: compute-optimal is a few
 * million parameters for tens of minutes): see et_pretrain_preset().
 *
 * A preset's budget is a step count, so a run is reproducible for a fixed seed and thread
 * count, and a busy machine takes longer instead of yielding a worse model.  Training runs in
 * two phases over the same token stream: most steps on short windows (seq_len), then a final
 * phase on windows of the model's full context (long_seq_len = max_seq) with the same number
 * of tokens per step, so every position the study's prompts reach has been trained. */
#ifndef ET_PRETRAIN_H
#define ET_PRETRAIN_H

#include "llama.h"
#include "tok/tokenizer.h"
#include "trainer.h"

typedef struct et_pretrain_cfg {
    et_llama_config model;
    int32_t  seq_len;          /* phase 1 window (tokens) */
    int32_t  batch;            /* phase 1 sequences per step */
    int32_t  long_seq_len;     /* phase 2 window: the model's max_seq (0: no phase 2) */
    int32_t  long_batch;       /* phase 2 sequences per step */
    float    lr;               /* phase 1 peak; phase 2 restarts its own cosine at lr * long_lr_scale */
    float    long_lr_scale;
    int32_t  warmup;
    int64_t  steps;            /* optimizer steps of both phases together (the preset's budget) */
    int64_t  long_steps;       /* of those, the last ones at long_seq_len */
    double   minutes;          /* > 0: a wall-clock budget instead of steps, split between the
                                * phases in proportion to their step counts (not reproducible) */
    uint64_t seed;
    int      n_threads;
    const char *device;        /* where the steps run: "cpu" (NULL), "vulkan[:N]", "auto" (trainer.h) */
    FILE    *log;              /* the trainer's progress lines: the loss curve (NULL: silent) */
} et_pretrain_cfg;

typedef struct et_pretrain_result {
    int64_t steps, long_steps, tokens, long_tokens;
    double  seconds, long_seconds;   /* of the steps (both phases; phase 2 alone) */
    double  train_loss, heldout_nll, heldout_ppl;
    int32_t heldout_window;    /* tokens per held-out window (the longest trained) */
    int64_t n_params, n_params_nonembed;
} et_pretrain_result;

/* "tiny" (~0.3M non-embedding parameters), "small" (~1.2M), "medium" (~3.1M); vocab filled
 * in by the caller.  false if the name is unknown. */
bool et_pretrain_preset(const char *name, et_pretrain_cfg *cfg);

/* Train on the token stream `train` (documents already joined with EOS), evaluate mean NLL on
 * `heldout`, and write the model + tokenizer to out_gguf (atomically).  0 or -1 with err. */
int et_pretrain_run(const et_pretrain_cfg *cfg, const et_tok *tok, const int32_t *train, int64_t n_train,
                    const int32_t *heldout, int64_t n_heldout, const char *out_gguf, et_pretrain_result *res,
                    char *err, size_t errlen);

#endif
