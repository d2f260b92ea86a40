/* The et_lm object (models/lm.h), shared by lm.c (load, score, generate) and
 * lm_finetune.c (learning). */
#ifndef ET_LM_INTERNAL_H
#define ET_LM_INTERNAL_H

#include "io/gguf.h"
#include "llama.h"
#include "lm.h"
#include "tok/tokenizer.h"

struct et_lm {
    et_gguf    *gguf;
    et_tok     *tok;
    et_ctx     *ctx;
    et_llama    m;
    int         n_threads;
    int32_t     n_ctx;
    et_ctx_mark base_mark;      /* after the base weights (adapters start here) */
    et_ctx_mark adapter_mark;   /* after the current adapter (graphs start here) */
};

/* Tokenize text into a malloc'ed array (*n ids); add_bos per the tokenizer. NULL on error. */
int32_t *et__lm_tokenize(et_lm *lm, const char *text, bool add_bos, int32_t *n);

#endif
