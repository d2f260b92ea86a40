/* Adapters on their own, as files: edgetune's format, llama.cpp's GGUF LoRA and PEFT.
 *
 * An et_adapter is the trained tensors of one LoRA, IA3 or prompt-tuning adapter, in f32 and
 * in the model's (GGUF) layout and names, plus how to re-attach them:
 *   LoRA    blk.N.<w>.weight.lora_a  ne [in, r]     blk.N.<w>.weight.lora_b  ne [r, out]
 *           (<w> = attn_q attn_k attn_v attn_output ffn_gate ffn_up ffn_down), scale alpha/r
 *   IA3     blk.N.attn_k.ia3 [kv_dim], blk.N.attn_v.ia3 [kv_dim], blk.N.ffn_up.ia3 [ffn]
 *           (scales of those projections' outputs, bias included)
 *   prompt  soft_prompt ne [dim, n_prompt]
 *
 * edgetune's format (what `edgetune finetune --out` writes and et_adapter_save writes) is a
 * GGUF file (magic "GGUF", version 3) holding only those tensors, with general.type =
 * "adapter" and the keys
 *   edgetune.adapter.version u32 (ET_ADAPTER_VERSION; absent in files from before it = 1)
 *   edgetune.adapter.kind str  lora | qlora | ia3 | prompt     (the training method)
 *   edgetune.adapter.rank u32, .alpha f32, .targets str ("q,k,v" or "all"), .n_prompt u32,
 *   edgetune.adapter.base_type str ("stored", "nf4", ... the base the adapter was trained on)
 * A LoRA file also carries adapter.type = "lora" and adapter.lora.alpha, so with an f32/f16
 * LoRA and the base's general.architecture it is at the same time a llama.cpp adapter.
 *
 * Exports:
 *   llama.cpp  (`llama-cli --lora FILE`): general.type "adapter", general.architecture of the
 *              base, adapter.type "lora", adapter.lora.alpha f32; tensors as above in f32 or
 *              f16 — ggml's ne order, so A is [in, r] and B is [r, out] (llama.cpp rejects a
 *              transposed A), scale alpha / B.ne[0].
 *   PEFT       DIR/adapter_model.safetensors + DIR/adapter_config.json.  LoRA keys
 *              base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight [r, in] and
 *              .lora_B.weight [out, r] (torch row-major: the same bytes as ggml's A and B);
 *              mlp.gate_proj / up_proj / down_proj likewise.  IA3: ...k_proj.ia3_l [kv, 1],
 *              ...v_proj.ia3_l [kv, 1], ...mlp.down_proj.ia3_l [1, ffn] (scaling down_proj's
 *              input equals scaling up's output in a SwiGLU MLP).  Prompt tuning:
 *              prompt_embeddings [n, dim].
 *              Hugging Face's llama/mistral q and k rows are in rotate-half order while GGUF
 *              (llama.cpp's converter) interleaves rope pairs; for those architectures the rows
 *              of q/k's lora_B and of the k IA3 vector are permuted between the two
 *              (et_adapter_layout.permute_qk), exactly as convert_hf_to_gguf.py permutes the
 *              base weights.  qwen2 (neox rope) needs no permutation.
 * Every format imports back; f32 round trips are bit-exact.
 *
 * Readers trust nothing: names, dims, ranks, layer numbers, dtypes and JSON fields are checked
 * and errors name the file, the field or tensor, and the bad value.
 */
#ifndef ET_ADAPTER_IO_H
#define ET_ADAPTER_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "io/gguf.h"

#define ET_ADAPTER_VERSION      1u
#define ET_ADAPTER_MAX_TENSORS  (1 << 16)
#define ET_ADAPTER_MAX_RANK     4096

/* What the adapter is (the values of et_adapter_kind in models/llama.h). */
enum { ET_ADAPTER_IO_LORA = 1, ET_ADAPTER_IO_IA3 = 2, ET_ADAPTER_IO_PROMPT = 3 };

typedef struct et_adapter_tensor {
    char    *name;       /* the model's name (see above) */
    int      n_dims;     /* 1 or 2 */
    int64_t  ne[2];      /* ggml order: ne[0] innermost */
    float   *data;       /* owned */
} et_adapter_tensor;

typedef struct et_adapter {
    int       kind;           /* ET_ADAPTER_IO_* */
    char      method[16];     /* lora, qlora, ia3, prompt */
    char      base_type[16];  /* "stored" unless the base was recompressed for training */
    int32_t   rank;           /* LoRA */
    float     alpha;          /* LoRA: scale = alpha / rank */
    uint32_t  targets;        /* LoRA: bit i = module i of et_adapter_module_names */
    int32_t   n_prompt;       /* prompt tuning */
    int64_t   n;
    et_adapter_tensor *t;
} et_adapter;

/* The base model's shape, as far as the PEFT layout needs it. */
typedef struct et_adapter_layout {
    int32_t n_layers, n_heads, n_kv_heads, head_dim;
    bool    permute_qk;       /* llama / mistral: GGUF q/k rows interleave rope pairs */
} et_adapter_layout;

/* GGUF module names in ET_LIN_* order (attn_q ... ffn_down) and PEFT's (q_proj ... down_proj). */
extern const char *const et_adapter_module_names[7];
extern const char *const et_adapter_peft_names[7];

void et_adapter_free(et_adapter *a);
/* Add a tensor (data copied); false when out of memory or the name is a duplicate. */
bool et_adapter_add(et_adapter *a, const char *name, int n_dims, const int64_t *ne, const float *data);
const et_adapter_tensor *et_adapter_find(const et_adapter *a, const char *name);
/* Check the tensors against the kind: names, pairs, ranks, shapes.  0 or -1 + err. */
int et_adapter_check(const et_adapter *a, const char *what, char *err, size_t errlen);

/* Read any supported file: a GGUF (edgetune's format or a llama.cpp LoRA), a PEFT directory
 * or its adapter_model.safetensors (adapter_config.json next to it).  `lay` is needed for
 * PEFT (q/k permutation, shapes) and may be NULL otherwise.  0, or -1 with a message. */
int et_adapter_load(const char *path, const et_adapter_layout *lay, et_adapter *a, char *err, size_t errlen);
/* A GGUF adapter already opened (edgetune's or llama.cpp's layout). */
int et_adapter_from_gguf(const et_gguf *g, et_adapter *a, char *err, size_t errlen);
/* PEFT from memory: the adapter_config.json text and the safetensors bytes. */
int et_adapter_from_peft_memory(const char *config_json, size_t config_len, const void *st, size_t st_len,
                                const char *name, const et_adapter_layout *lay, et_adapter *a, char *err,
                                size_t errlen);

/* edgetune's format (see above); `arch` (the base's general.architecture) may be NULL. */
int et_adapter_save(const et_adapter *a, const char *arch, const char *path, char *err, size_t errlen);
/* llama.cpp's LoRA GGUF, tensors in f32 or f16 (type ET_F32 / ET_F16).  LoRA only. */
int et_adapter_export_llamacpp(const et_adapter *a, const char *arch, int type, const char *path, char *err,
                               size_t errlen);
/* PEFT: creates DIR if needed and writes its two files.  base_name may be NULL. */
int et_adapter_export_peft(const et_adapter *a, const et_adapter_layout *lay, const char *base_name,
                           const char *dir, char *err, size_t errlen);

/* Parse "blk.N.<module>.weight.lora_a|lora_b" / "blk.N.<module>.ia3": layer, module
 * (0..6) and part (0 = lora_a, 1 = lora_b, 2 = ia3).  false if the name is none of those. */
bool et_adapter_parse_name(const char *name, int *layer, int *module, int *part);

/* ---- with a model (models/adapter_model.c) ---- */
struct et_llama;
struct et_llama_config;

/* The layout of a Llama-family config (permute_qk for ET_ROPE_NORM, i.e. llama / mistral). */
et_adapter_layout et_adapter_layout_of(const struct et_llama_config *c);
/* The model's trained adapter (LoRA, IA3 or prompt) as an et_adapter (copies the data). */
int et_adapter_from_llama(const struct et_llama *m, et_adapter *a, char *err, size_t errlen);
/* Add the adapter to a model without one: creates it with et_llama_add_lora / _ia3 / _prompt
 * and copies the tensors in, checking every shape against the model's weights.  Layers or
 * modules the file lacks stay at their no-op initialization (B = 0, IA3 scale 1). */
int et_adapter_attach(const et_adapter *a, struct et_llama *m, char *err, size_t errlen);
/* The same on a loaded et_lm (models/lm.h), replacing its current adapter; scoring and
 * generation then run with it (e.g. a --adapter option of generate / perplexity). */
struct et_lm;
int et_adapter_attach_lm(const et_adapter *a, struct et_lm *lm, char *err, size_t errlen);
/* Write base with the adapter folded in (W += alpha/r·B·A; IA3 scales rows of the weight and
 * its bias) to out_path: every other tensor and all metadata (tokenizer included) copied.
 * Merged weights are written as `type` (ET_TYPE_COUNT: the base tensor's own type).  Returns
 * the number of base tensors changed, or -1 with a message. */
int et_adapter_merge_gguf(const et_adapter *a, const et_gguf *base, int type, const char *out_path, char *err,
                          size_t errlen);

#endif
