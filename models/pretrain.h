/* Pretraining edgetune's own small base models from scratch (full fine-tuning of every f32
 * parameter) on a plain-text corpus, then exporting them as GGUF with their tokenizer.
 * Sizes are presets chosen for this class of machine (2 cores: compute-optimal is a few
 * million parameters for tens of minutes): see et_pretrain_preset(). */
#ifndef ET_PRETRAIN_H
#define ET_PRETRAIN_H

#include "llama.h"
#include "tok/tokenizer.h"
#include "trainer.h"

typedef struct et_pretrain_cfg {
    et_llama_config model;
    int32_t  seq_len;          /* training context (>= 1024 for the study's retrieval prompts) */
    int32_t  batch;
    float    lr;
    int32_t  warmup;
    double   minutes;          /* wall-clock budget for the optimizer steps */
    int64_t  steps;            /* or a fixed step count (wins when > 0) */
    uint64_t seed;
    int      n_threads;
    FILE    *log;              /* the trainer's progress lines: the loss curve (NULL: silent) */
} et_pretrain_cfg;

typedef struct et_pretrain_result {
    int64_t steps, tokens;
    double  seconds, train_loss, heldout_nll, heldout_ppl;
    int64_t n_params, n_params_nonembed;
} et_pretrain_result;

/* "tiny" (~0.2M non-embedding parameters), "small" (~1.3M), "medium" (~3.5M); vocab filled
 * in by the caller.  false if the name is unknown. */
bool et_pretrain_preset(const char *name, et_pretrain_cfg *cfg);

/* Train on the token stream `train` (documents already joined with EOS), evaluate mean NLL on
 * `heldout`, and write the model + tokenizer to out_gguf (atomically).  0 or -1 with err. */
int et_pretrain_run(const et_pretrain_cfg *cfg, const et_tok *tok, const int32_t *train, int64_t n_train,
                    const int32_t *heldout, int64_t n_heldout, const char *out_gguf, et_pretrain_result *res,
                    char *err, size_t errlen);

#endif
