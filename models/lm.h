/* A language model as the study and the command line use it: weights + tokenizer + an
 * optional adapter, with the three things personalization needs — score candidate answers
 * by likelihood, generate text, and learn from a user's examples.  (Implementations land
 * with the model/training and I/O issues; this page is the contract.)
 *
 * All functions return 0 on success, or -1 with a message in err naming what was wrong.
 */
#ifndef ET_LM_H
#define ET_LM_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct et_lm et_lm;

typedef enum et_method {
    ET_METHOD_NONE = 0,     /* zero-shot (and RAG: retrieval only changes the prompt) */
    ET_METHOD_LORA,         /* QLoRA = LoRA over an NF4 base: choose the base type */
    ET_METHOD_IA3,
    ET_METHOD_PROMPT,       /* prompt tuning: trainable soft-prompt embeddings */
    ET_METHOD_FULL,         /* every parameter (f32 models) */
    ET_METHOD_COUNT
} et_method;

typedef struct et_lm_opts {
    const char *base_type;  /* compress the base on load: "f32" "f16" "q8_0" "q4_0" "q4_k" "nf4" ... NULL = as stored */
    const char *prune;      /* NULL, "50%" (magnitude, unstructured) or "2:4" */
    int         n_threads;  /* 0 = all */
    int         n_ctx;      /* 0 = the model's */
    const char *device;     /* where inference graphs run: NULL/"cpu", "vulkan", "vulkan:N", "auto"
                               (engine/vulkan/vk_backend.h); a graph the device cannot run fails
                               with the op and node it lacks, it never falls back to the CPU */
} et_lm_opts;

/* path: a GGUF model file, or a Hugging Face checkpoint directory (config.json,
 * model.safetensors or shards with model.safetensors.index.json, tokenizer.json) of a llama,
 * mistral or qwen2 model (models/llama_hf.h). */
int  et_lm_load(const char *path, const et_lm_opts *opts, et_lm **out, char *err, size_t errlen);
void et_lm_free(et_lm *lm);

/* Number of tokens of text (prompt budgeting for retrieval). */
int  et_lm_count_tokens(et_lm *lm, const char *text);

/* logprob[i] = log p(cands[i] | prompt), summed over the candidate's tokens. */
int  et_lm_score(et_lm *lm, const char *prompt, const char *const *cands, int n_cands,
                 double *logprob, char *err, size_t errlen);

/* Greedy decoding of up to max_new tokens after prompt, stopping at EOS or a newline:
 * the token ids (n_out of them, at most max_new), and the text. */
int  et_lm_generate_ids(et_lm *lm, const char *prompt, int max_new, int32_t *out_ids, int *n_out,
                        char *err, size_t errlen);
int  et_lm_generate(et_lm *lm, const char *prompt, int max_new, char *out, size_t outlen,
                    char *err, size_t errlen);

/* Sampling: temperature 0 = greedy; top_k 0 = off; top_p 1 = off.  Decoding stops at EOS, at
 * max_new tokens, or when the text ends with one of the stop strings (which is cut off).
 * The order is Hugging Face generate()'s: logits / temperature, then top-k, then top-p (the
 * smallest set of most likely tokens whose probability reaches top_p), then a draw from the
 * kept set renormalized. */
typedef struct et_sample_opts {
    float       temperature, top_p;
    int         top_k;
    uint64_t    seed;
    const char *const *stop;  /* NULL-terminated list, or NULL */
    /* called with each new piece of text as it is decoded (streaming); may be NULL.  The
     * pieces concatenate to the returned text; text of a stop string is never passed. */
    void      (*on_text)(void *user, const char *text, size_t len);
    void       *user;
    /* the prompt is written in the model's chat template (et_lm_chat_prompt): its special
     * tokens are parsed, BOS is added as the tokenizer says, and the template's end-of-turn
     * token stops decoding like EOS */
    bool        chat;
    /* profiling (CPU): after the prefill and after the first decoding step, that step's graph
     * is run again (`profile_runs` times, 0: 3 and 32; it rewrites the same cache entries, so
     * the output is unchanged) under the profiler, and its reports go to profile_dir/prefill
     * and profile_dir/decode (et_profile_write_dir; limits from profile_limits or the default
     * build/bench/kernels.jsonl).  The timing figures of et_gen_stats exclude those runs. */
    const char *profile_dir, *profile_limits;
    int         profile_runs;
} et_sample_opts;

/* The set a draw picks from under so (temperature, top-k, top-p; greedy when temperature is
 * 0: the argmax alone): its size, the ids in ids[] and their renormalized probabilities in
 * probs[] (both room for V), most likely first (ties: lower id first). */
int32_t et_sample_candidates(const float *logits, int32_t V, const et_sample_opts *so, int32_t *ids, float *probs);

/* One user turn (after an optional system message, NULL for none) in a chat template,
 * ending with the assistant's header: "llama2", "llama3", "chatml", "gemma", or NULL for the
 * template the model's tokenizer names.  malloc'ed; NULL with err when the model names none. */
char *et_lm_chat_prompt(et_lm *lm, const char *style, const char *system, const char *user, char *err,
                        size_t errlen);

typedef struct et_gen_stats {
    int    n_prompt, n_gen;
    double prefill_s, decode_s;   /* wall clock: prompt (time to first token) and the rest */
    size_t kv_bytes;
} et_gen_stats;

int  et_lm_generate_ex(et_lm *lm, const char *prompt, int max_new, const et_sample_opts *so, char *out,
                       size_t outlen, et_gen_stats *st, char *err, size_t errlen);
/* Decoding from token ids (no tokenizer, no stop strings): exactly max_new tokens unless EOS
 * is drawn and stop_at_eos (a benchmark passes false).  The ids go to out[0..*n_out). */
int  et_lm_generate_tokens(et_lm *lm, const int32_t *prompt, int n_prompt, int max_new, const et_sample_opts *so,
                           bool stop_at_eos, int32_t *out, int *n_out, et_gen_stats *st, char *err, size_t errlen);

/* Negative log-likelihoods of ids[1..n) given their prefixes, in windows of n_ctx tokens:
 * mode 0 ("full") scores every token after the first of each window; mode 1 ("llama",
 * llama.cpp's perplexity tool) puts BOS first in each window and scores its second half.
 * Returns the summed NLL and the count of scored tokens. */
int  et_lm_nll(et_lm *lm, const int32_t *ids, int64_t n, int mode, int n_ctx, double *sum_nll, int64_t *count,
               char *err, size_t errlen);
/* Quantization quality, as llama.cpp's perplexity --kl-divergence: over the same windows and
 * scored positions as et_lm_nll, the KL divergence KL(base || lm) = sum_v p_base(v) ·
 * log(p_base(v) / p_lm(v)) of each next-token distribution, in nats.  The two models must
 * share the vocabulary (same size and token strings; otherwise an error naming both). */
typedef struct et_lm_kl_stats {
    int64_t n;                              /* scored positions */
    double  nll, nll_base;                  /* summed NLL of the scored tokens under each model */
    double  kl_mean, kl_stderr, kl_median, kl_p90, kl_p99, kl_max;
    double  top1;                           /* fraction of positions whose argmax tokens agree */
} et_lm_kl_stats;
int  et_lm_kl(et_lm *lm, et_lm *base, const int32_t *ids, int64_t n, int mode, int n_ctx, et_lm_kl_stats *st,
              char *err, size_t errlen);
/* What a decode step reads, from the step's own graph (for benchmarks): every weight once
 * (the token embedding's single row), the KV cache growing by kv_bytes_per_token. */
typedef struct et_lm_info {
    int64_t     n_params;              /* weights of the decode graph, embedding included */
    size_t      weight_bytes;          /* their bytes as loaded (quantized sizes) */
    size_t      decode_weight_bytes;   /* bytes one decode step reads from them */
    size_t      kv_bytes_per_token;    /* K and V of every layer, f32 */
    int32_t     n_ctx, vocab, n_layers, dim;
    const char *weight_type;           /* of the linear layers ("q8_0", "f32", ...) */
    const char *device;                /* "cpu" or the backend's name */
} et_lm_info;
int  et_lm_get_info(et_lm *lm, et_lm_info *info, char *err, size_t errlen);
/* Tokenize (add_bos per the tokenizer when add_bos); returns a malloc'ed array or NULL. */
int32_t *et_lm_tokenize(et_lm *lm, const char *text, bool add_bos, int32_t *n);
int32_t  et_lm_vocab(const et_lm *lm);

typedef struct et_finetune_cfg {
    et_method method;
    int       rank;           /* LoRA rank */
    float     alpha;          /* LoRA alpha (scale alpha/rank) */
    const char *targets;      /* LoRA target modules, e.g. "q,k,v,o,gate,up,down" */
    int       n_prompt_tokens;/* prompt tuning */
    float     lr;
    int       steps;          /* optimizer steps (a time budget is turned into steps by calibration) */
    int       batch;          /* examples per step */
    uint64_t  seed;
} et_finetune_cfg;

typedef struct et_finetune_stats {
    double   seconds;         /* wall-clock learning time */
    double   tokens_per_s;
    double   flops;           /* model FLOPs of the whole run (forward + backward + optimizer) */
    double   bytes;           /* bytes moved, by the ops' own counts */
    size_t   planned_peak_bytes, measured_peak_rss;
    float    first_loss, final_loss;
} et_finetune_stats;

/* Train an adapter (replacing any current one) on (prompt, answer) pairs: loss on answer
 * tokens only.  The adapter then applies to et_lm_score / et_lm_generate until
 * et_lm_reset_adapter. */
int  et_lm_finetune(et_lm *lm, const et_finetune_cfg *cfg, const char *const *prompts,
                    const char *const *answers, int n, et_finetune_stats *stats,
                    char *err, size_t errlen);
void et_lm_reset_adapter(et_lm *lm);

#endif
