/* The et_lm object (models/lm.h), shared by lm.c (load, score, generate) and
 * lm_finetune.c (learning). */
#ifndef ET_LM_INTERNAL_H
#define ET_LM_INTERNAL_H

#include "io/gguf.h"
#include "llama.h"
#include "llama_hf.h"
#include "lm.h"
#include "tok/tokenizer.h"
#include "backend.h"

struct et_lm {
    et_gguf    *gguf;           /* a GGUF model file, or NULL for ... */
    et_hf_files *hf;            /* ... a Hugging Face checkpoint directory (models/llama_hf.h) */
    et_tok     *tok;
    et_ctx     *ctx;
    et_llama    m;
    int         n_threads;
    int32_t     n_ctx;
    et_ctx_mark base_mark;      /* after the base weights (adapters start here) */
    et_ctx_mark adapter_mark;   /* after the current adapter (graphs start here) */
    et_backend *be;             /* where inference graphs run (et_lm_opts.device; CPU: NULL) */
};

/* Plan, allocate and compute the graph of outs[0..n) (each marked OUTPUT) on the model's
 * device, downloading the outputs there; their data stay valid until et_plan_free(plan) and
 * et_graph_free(*g).  A device first forgets every tensor from id keep.n_tensors on (tensors
 * an et_ctx_reset dropped, whose ids the new graph reuses): pass lm->base_mark for a graph
 * that shares nothing with earlier ones (the adapter is re-uploaded: it may have changed),
 * or the mark after state that must stay on the device (a KV cache).  false with the
 * context's error (a device that cannot run a node names it and its op). */
bool et__lm_compute(et_lm *lm, et_tensor *const *outs, int n, et_ctx_mark keep, et_graph **g, et_plan *plan);

/* Tokenize text into a malloc'ed array (*n ids); add_bos per the tokenizer. NULL on error. */
int32_t *et__lm_tokenize(et_lm *lm, const char *text, bool add_bos, int32_t *n);

#endif
