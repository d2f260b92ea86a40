/* Hugging Face config.json of Llama-family checkpoints (llama, mistral, qwen2) as a plain
 * struct, so that a model builder can size a graph from a safetensors checkpoint.
 *
 * The architecture comes from "model_type" (or, if absent, "architectures"[0]).  Required:
 * vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads.  Optional
 * fields take the defaults of transformers' LlamaConfig / MistralConfig / Qwen2Config:
 *   num_key_value_heads = num_attention_heads, head_dim = hidden_size / num_attention_heads,
 *   rope_theta = 10000, rms_norm_eps = 1e-6, tie_word_embeddings = false,
 *   max_position_embeddings = 2048 (llama) | 32768 (mistral, qwen2),
 *   attention_bias = false (llama, mistral; the "attention_bias" key) | true (qwen2: q/k/v
 *   projections carry biases), sliding_window = 0 (none) unless mistral's "sliding_window"
 *   is a number or qwen2 has "use_sliding_window": true.
 * Every value is type- and range-checked; shapes must be consistent (heads divide evenly, kv
 * heads divide heads).  An error names the file, the field and the value.
 */
#ifndef ET_HFCONFIG_H
#define ET_HFCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum et_hf_arch { ET_HF_LLAMA, ET_HF_MISTRAL, ET_HF_QWEN2, ET_HF_ARCH_COUNT } et_hf_arch;

typedef struct et_hf_rope_scaling {   /* "rope_scaling", e.g. Llama 3.1's "llama3" */
    char   type[16];                  /* "" if absent; "linear", "dynamic", "llama3", "yarn"... */
    double factor, low_freq_factor, high_freq_factor;
    int64_t original_max_position_embeddings;
} et_hf_rope_scaling;

typedef struct et_hf_config {
    et_hf_arch arch;
    int64_t    vocab_size;
    int64_t    hidden_size;             /* n_embd */
    int64_t    intermediate_size;       /* n_ff */
    int64_t    n_layers;
    int64_t    n_heads;
    int64_t    n_kv_heads;
    int64_t    head_dim;
    int64_t    max_position_embeddings;
    int64_t    sliding_window;          /* 0: full attention */
    double     rope_theta;
    double     rms_eps;
    bool       tie_word_embeddings;
    bool       attention_bias;          /* q/k/v projections have biases */
    int64_t    bos_token_id, eos_token_id;   /* -1 if absent (eos: the first if a list) */
    et_hf_rope_scaling rope_scaling;
    char       torch_dtype[16];         /* "" if absent */
} et_hf_config;

/* Parse config JSON text of `len` bytes (`name` is used in messages). 0 or -1 with err. */
int et_hf_config_parse(const char *json, size_t len, const char *name, et_hf_config *out,
                       char *err, size_t errlen);
/* Read and parse a config.json file (at most 16 MiB). */
int et_hf_config_load(const char *path, et_hf_config *out, char *err, size_t errlen);

const char *et_hf_arch_name(et_hf_arch a);   /* "llama", "mistral", "qwen2" */

#endif
