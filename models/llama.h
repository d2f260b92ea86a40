/* The Llama family as a graph builder: llama (1/2/3), mistral (sliding window), qwen2 (q/k/v
 * biases), from one config struct.  Grouped-query attention, rope theta, RMSNorm eps, SwiGLU
 * MLP, tied or untied embeddings.  Weights are leaves of any supported type; the builder only
 * records nodes.  Adapters (LoRA, IA3, prompt tuning) hook in at et_llama_linear().
 */
#ifndef ET_LLAMA_H
#define ET_LLAMA_H

#include <stdint.h>
#include "graph.h"

#define ET_LLAMA_MAX_LAYERS 128

typedef struct et_llama_config {
    int32_t vocab, dim, n_layers, n_heads, n_kv_heads, head_dim, ffn, max_seq;
    float   rope_theta, rms_eps;
    int32_t rope_mode;        /* ET_ROPE_NORM (llama) or ET_ROPE_NEOX (qwen2 in HF layout) */
    int32_t sliding_window;   /* 0 = full causal attention */
    bool    tied_embeddings, qkv_bias;
} et_llama_config;

typedef struct et_llama_layer {
    et_tensor *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv;
    et_tensor *ffn_norm, *w_gate, *w_up, *w_down;
} et_llama_layer;

typedef struct et_llama {
    et_llama_config cfg;
    et_ctx         *ctx;
    et_tensor      *tok_emb, *out_norm, *output;   /* output == tok_emb when tied */
    et_llama_layer  layers[ET_LLAMA_MAX_LAYERS];
} et_llama;

/* Validate a config; on failure writes a message naming the field and value. */
bool et_llama_config_check(const et_llama_config *c, char *err, size_t errlen);
/* Create f32 weights in ctx, initialized from seed (normal, std 0.02; residual outputs
 * scaled by 1/sqrt(2·n_layers), norms 1).  flags: ET_FLAG_PARAM to train them all. */
bool et_llama_init(et_llama *m, et_ctx *ctx, const et_llama_config *cfg, uint64_t seed, uint32_t flags);
/* Number of parameters (all, and without the embedding / output matrices). */
int64_t et_llama_n_params(const et_llama_config *c, bool with_embeddings);

/* Training inputs: ids i32 [T, B], pos i32 [T], sel i32 [P] (flat token indices t + T·b
 * whose next-token loss counts), targets i32 [P].  The head runs only at the P positions. */
typedef struct et_llama_batch {
    et_tensor *ids, *pos, *sel, *targets;
} et_llama_batch;

bool et_llama_batch_new(et_llama_batch *b, et_ctx *ctx, int64_t T, int64_t B, int64_t P);
/* Records the training forward pass; returns the scalar mean loss (NULL on error).
 * checkpoint: mark each layer's input ET_FLAG_CHECKPOINT (for recomputation). */
et_tensor *et_llama_loss(et_llama *m, const et_llama_batch *b, bool checkpoint);
/* The linear layer every projection goes through: x·Wᵀ (+ bias). */
et_tensor *et_llama_linear(et_llama *m, et_tensor *w, et_tensor *bias, et_tensor *x);

#endif
