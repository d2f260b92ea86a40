/* The Llama family as a graph builder: llama (1/2/3), mistral (sliding window), qwen2 (q/k/v
 * biases) and gemma3, from one config struct.  Grouped-query attention, rope theta, RMSNorm
 * eps, SwiGLU or GEGLU MLP, tied or untied embeddings; Gemma 3's additions are switches of the
 * same config (per-head q/k RMSNorm, post-attention / post-MLP norms, scaled embeddings, local
 * sliding-window layers interleaved with global ones, each kind with its own rope base).
 * Weights are leaves of any supported type; the builder only records nodes.  Adapters (LoRA,
 * IA3, prompt tuning) hook in at et_llama_linear().
 */
#ifndef ET_LLAMA_H
#define ET_LLAMA_H

#include <stdint.h>
#include "graph.h"

#define ET_LLAMA_MAX_LAYERS 128

/* The GGUF architecture a model is read from and written as (general.architecture). */
typedef enum et_llama_arch { ET_ARCH_LLAMA = 0, ET_ARCH_MISTRAL, ET_ARCH_QWEN2, ET_ARCH_GEMMA3, ET_ARCH_COUNT } et_llama_arch;
extern const char *const et_llama_arch_names[ET_ARCH_COUNT];   /* "llama", "mistral", ... */

/* The MLP's gated activation. */
enum { ET_FFN_SWIGLU = 0,   /* down(silu(gate(h)) * up(h))       llama, mistral, qwen2 */
       ET_FFN_GEGLU = 1 };  /* down(gelu_tanh(gate(h)) * up(h))  gemma3 */

/* Zero-initialized fields beyond the first block mean "as llama": a config written before
 * gemma3 existed builds the same graph. */
typedef struct et_llama_config {
    int32_t vocab, dim, n_layers, n_heads, n_kv_heads, head_dim, ffn, max_seq;
    float   rope_theta, rms_eps;
    int32_t rope_mode;        /* ET_ROPE_NORM (llama) or ET_ROPE_NEOX (qwen2 in HF layout, gemma3) */
    int32_t sliding_window;   /* 0 = full causal attention; key s visible from query t iff t - s < window */
    bool    tied_embeddings, qkv_bias;
    /* ---- architecture variants (gemma3 turns all of them on) ---- */
    int32_t arch;             /* et_llama_arch */
    bool    qk_norm;          /* per-head RMSNorm·weight of q and k (attn_q_norm / attn_k_norm
                               * [head_dim], same eps) before rope */
    bool    post_norms;       /* RMSNorm·weight of the attention output (post_attention_norm) and
                               * of the MLP output (post_ffw_norm) before each residual add */
    int32_t ffn_act;          /* ET_FFN_SWIGLU or ET_FFN_GEGLU */
    float   emb_scale;        /* token embeddings are multiplied by this (gemma3: sqrt(dim)); 0 = 1 */
    int32_t swa_period;       /* 0: sliding_window (if any) applies to every layer (mistral).
                               * p > 0: layer l is global (full causal, rope_theta) when
                               * (l + 1) % p == 0, the others local (sliding_window, rope_theta_swa) */
    float   rope_theta_swa;   /* rope base of the local layers when swa_period > 0 */
    float   attn_scale;       /* attention scores' scale; 0 = 1/sqrt(head_dim) (gemma3 27B: 1/sqrt(dim/heads)) */
} et_llama_config;

/* Layer l's attention window (0 = full causal) and rope base under the rules above. */
void et_llama_layer_attn(const et_llama_config *c, int l, int32_t *window, float *theta);

/* The linear layers LoRA can target, in PEFT's naming order. */
enum { ET_LIN_Q, ET_LIN_K, ET_LIN_V, ET_LIN_O, ET_LIN_GATE, ET_LIN_UP, ET_LIN_DOWN, ET_LIN_COUNT };
extern const char *const et_llama_lin_names[ET_LIN_COUNT];   /* "q", "k", ... "down" */

typedef struct et_llama_layer {
    et_tensor *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv;
    et_tensor *ffn_norm, *w_gate, *w_up, *w_down;
    et_tensor *q_norm, *k_norm;                 /* [head_dim], with cfg.qk_norm */
    et_tensor *post_attn_norm, *post_ffn_norm;  /* [dim], with cfg.post_norms */
    /* adapters (NULL when absent) */
    et_tensor *lora_a[ET_LIN_COUNT], *lora_b[ET_LIN_COUNT];   /* A [in, r], B [r, out] */
    et_tensor *ia3_k, *ia3_v, *ia3_ff;                        /* [kv_dim], [kv_dim], [ffn] */
} et_llama_layer;

typedef enum et_adapter_kind { ET_ADAPTER_NONE, ET_ADAPTER_LORA, ET_ADAPTER_IA3, ET_ADAPTER_PROMPT } et_adapter_kind;

typedef struct et_llama_adapter {
    et_adapter_kind kind;
    int32_t   rank;          /* LoRA */
    float     alpha, dropout;
    uint32_t  targets;       /* LoRA: bit ET_LIN_* */
    int32_t   n_prompt;      /* prompt tuning: virtual tokens */
    et_tensor *soft_prompt;  /* [dim, n_prompt] */
    et_tensor *seed;         /* i32 [1] input leaf for dropout masks (bumped per step) */
} et_llama_adapter;

typedef struct et_llama {
    et_llama_config  cfg;
    et_ctx          *ctx;
    et_tensor       *tok_emb, *out_norm, *output;   /* output == tok_emb when tied */
    et_llama_layer   layers[ET_LLAMA_MAX_LAYERS];
    et_llama_adapter ad;
} et_llama;

/* ---- adapters (models/llama_adapt.c); each marks only its own tensors ET_FLAG_PARAM ---- */
/* LoRA on the linear layers named in `targets` ("q,k,v,o,gate,up,down" or "all"): A is
 * Kaiming-uniform (PEFT's a=sqrt(5): bound 1/sqrt(in)), B zero, scale alpha/rank. */
bool et_llama_add_lora(et_llama *m, int rank, float alpha, float dropout, const char *targets, uint64_t seed);
/* IA3: learned scales (init 1) of the k and v projections' outputs and of the MLP's up
 * projection output (for SwiGLU identical to PEFT's scaling of down_proj's input). */
bool et_llama_add_ia3(et_llama *m);
/* Prompt tuning: n trainable virtual-token embeddings prepended to every sequence,
 * initialized from the embeddings of n seeded random vocabulary tokens (times emb_scale: the
 * soft prompt itself enters unscaled, as PEFT's inputs_embeds do in Hugging Face's Gemma 3). */
bool et_llama_add_prompt(et_llama *m, int n, uint64_t seed);
/* Full fine-tuning: every f32 weight becomes a parameter. */
bool et_llama_train_all(et_llama *m);
/* Parse "q,k,v" into ET_LIN_* bits; 0 with a message on an unknown name. */
uint32_t et_llama_parse_targets(const char *s, char *err, size_t errlen);
/* Fold LoRA (W += scale·B·A) and IA3 scales into f32 weights, then drop the adapter. */
bool et_llama_merge_adapter(et_llama *m);
/* Convert the linear layers' weights to `type` (quantize / convert from f32 or f16/bf16),
 * optionally after magnitude pruning ("50%" unstructured per tensor, "2:4" semi-structured
 * along the input dimension).  Embeddings, norms and the output matrix keep their type.
 * Reports the achieved sparsity. */
bool et_llama_compress(et_llama *m, et_type type, const char *prune, double *sparsity);
/* Convert the output matrix (tied: the token embeddings with it) to `type`, for a head that
 * is not trained.  bf16 is the bf16-compute setting's head: the loss's logits and its dX
 * then run bf16 products with f32 sums, as the trunk does over a bf16 base.  NF4 is refused
 * (its double quantization spans rows: no vocabulary chunk of it can be read alone). */
bool et_llama_compress_head(et_llama *m, et_type type);
/* The same for the token embeddings (tied: the head with them).  Only the rows a batch looks
 * up are read, but a memory-mapped table is resident nearly whole after a few batches (the
 * kernel maps 64 KiB around each faulting page): a bf16 table halves that. */
bool et_llama_compress_embeddings(et_llama *m, et_type type);
/* Head and token embeddings in bf16: the frozen tables of the bf16-compute setting and of
 * QLoRA (whose recipe keeps what is not quantized in bf16). */
bool et_llama_frozen_tables_bf16(et_llama *m);

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

/* With prompt tuning the batch has n_prompt extra leading positions: pos has n_prompt+T
 * entries and sel indexes the (n_prompt+T)·B positions; et_llama_sel_index maps text
 * position t of sequence j to it. */
bool et_llama_batch_new(et_llama_batch *b, et_llama *m, int64_t T, int64_t B, int64_t P);
int32_t et_llama_sel_index(const et_llama *m, const et_llama_batch *b, int64_t t, int64_t j);
/* Records the training forward pass; returns the scalar mean loss (NULL on error).
 * checkpoint: mark each layer's input ET_FLAG_CHECKPOINT (for recomputation). */
et_tensor *et_llama_loss(et_llama *m, const et_llama_batch *b, bool checkpoint);
/* Same forward, returning the per-position negative log-likelihood [P] (for scoring). */
et_tensor *et_llama_nll(et_llama *m, const et_llama_batch *b);
/* Same forward, returning the logits [vocab, P] at the P selected positions (b->targets is
 * not read): the full next-token distributions, e.g. for KL divergence between two models. */
et_tensor *et_llama_logits(et_llama *m, const et_llama_batch *b);

/* ---- inference with a KV cache ---- */
typedef struct et_llama_cache {
    et_tensor *k[ET_LLAMA_MAX_LAYERS], *v[ET_LLAMA_MAX_LAYERS];  /* [hd, nkv, n_ctx, 1] */
    int32_t    n_ctx;
} et_llama_cache;
bool et_llama_cache_new(et_llama_cache *c, et_llama *m, et_ctx *ctx, int32_t n_ctx);
/* Records one decoding step: ids i32 [T] (new tokens) at positions n_past.. (pos i32 [T],
 * filled by the caller), writes their keys/values into the cache, and returns the logits of
 * the last new token [vocab]. */
et_tensor *et_llama_decode(et_llama *m, et_llama_cache *c, et_tensor *ids, et_tensor *pos, int n_past);
/* The same step returning the logits of every new token, [vocab, T] (scoring a continuation). */
et_tensor *et_llama_decode_all(et_llama *m, et_llama_cache *c, et_tensor *ids, et_tensor *pos, int n_past);

#endif
