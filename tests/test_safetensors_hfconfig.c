/* Hugging Face config.json parsing (engine/io/hfconfig.h).
 *
 * The accepted configs are those of real checkpoints, transcribed from their config.json on
 * the Hugging Face Hub (TinyLlama-1.1B-Chat-v1.0, Mistral-7B-v0.1, Qwen2-0.5B,
 * Llama-3.1-8B-Instruct); fields they leave out must take transformers' defaults.  Bad
 * configs must fail with a message naming the field and the value.  Exact comparisons: these
 * are integers and decimal constants parsed from text.
 */
#include <unistd.h>
#include "harness.h"
#include "io/hfconfig.h"

static const char *tinyllama =
    "{\"architectures\":[\"LlamaForCausalLM\"],\"attention_bias\":false,\"bos_token_id\":1,"
    "\"eos_token_id\":2,\"hidden_act\":\"silu\",\"hidden_size\":2048,\"initializer_range\":0.02,"
    "\"intermediate_size\":5632,\"max_position_embeddings\":2048,\"model_type\":\"llama\","
    "\"num_attention_heads\":32,\"num_hidden_layers\":22,\"num_key_value_heads\":4,"
    "\"pretraining_tp\":1,\"rms_norm_eps\":1e-05,\"rope_scaling\":null,\"rope_theta\":10000.0,"
    "\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\",\"transformers_version\":"
    "\"4.35.0\",\"use_cache\":true,\"vocab_size\":32000}";

static const char *mistral =
    "{\"architectures\":[\"MistralForCausalLM\"],\"bos_token_id\":1,\"eos_token_id\":2,"
    "\"hidden_act\":\"silu\",\"hidden_size\":4096,\"initializer_range\":0.02,"
    "\"intermediate_size\":14336,\"max_position_embeddings\":32768,\"model_type\":\"mistral\","
    "\"num_attention_heads\":32,\"num_hidden_layers\":32,\"num_key_value_heads\":8,"
    "\"rms_norm_eps\":1e-05,\"rope_theta\":10000.0,\"sliding_window\":4096,"
    "\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\",\"transformers_version\":"
    "\"4.34.0.dev0\",\"use_cache\":true,\"vocab_size\":32000}";

static const char *qwen2 =
    "{\"architectures\":[\"Qwen2ForCausalLM\"],\"attention_dropout\":0.0,\"bos_token_id\":151643,"
    "\"eos_token_id\":151643,\"hidden_act\":\"silu\",\"hidden_size\":896,\"initializer_range\":"
    "0.02,\"intermediate_size\":4864,\"max_position_embeddings\":131072,\"max_window_layers\":24,"
    "\"model_type\":\"qwen2\",\"num_attention_heads\":14,\"num_hidden_layers\":24,"
    "\"num_key_value_heads\":2,\"rms_norm_eps\":1e-06,\"rope_theta\":1000000.0,"
    "\"sliding_window\":131072,\"tie_word_embeddings\":true,\"torch_dtype\":\"bfloat16\","
    "\"transformers_version\":\"4.40.1\",\"use_cache\":true,\"use_sliding_window\":false,"
    "\"vocab_size\":151936}";

static const char *llama31 =
    "{\"architectures\":[\"LlamaForCausalLM\"],\"attention_bias\":false,\"attention_dropout\":0.0,"
    "\"bos_token_id\":128000,\"eos_token_id\":[128001,128008,128009],\"hidden_act\":\"silu\","
    "\"hidden_size\":4096,\"initializer_range\":0.02,\"intermediate_size\":14336,"
    "\"max_position_embeddings\":131072,\"mlp_bias\":false,\"model_type\":\"llama\","
    "\"num_attention_heads\":32,\"num_hidden_layers\":32,\"num_key_value_heads\":8,"
    "\"pretraining_tp\":1,\"rms_norm_eps\":1e-05,\"rope_scaling\":{\"factor\":8.0,"
    "\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192,"
    "\"rope_type\":\"llama3\"},\"rope_theta\":500000.0,\"tie_word_embeddings\":false,"
    "\"torch_dtype\":\"bfloat16\",\"transformers_version\":\"4.43.0.dev0\",\"use_cache\":true,"
    "\"vocab_size\":128256}";

static int parse(const char *js, et_hf_config *c, char *err, size_t n) {
    return et_hf_config_parse(js, strlen(js), "config.json", c, err, n);
}

static void test_real_configs(void) {
    et_hf_config c;
    char err[256] = "";
    CHECK(parse(tinyllama, &c, err, sizeof err) == 0, "tinyllama: %s", err);
    CHECK(c.arch == ET_HF_LLAMA && c.vocab_size == 32000 && c.hidden_size == 2048 &&
          c.intermediate_size == 5632 && c.n_layers == 22 && c.n_heads == 32 &&
          c.n_kv_heads == 4 && c.head_dim == 64 && c.max_position_embeddings == 2048 &&
          c.rope_theta == 10000.0 && c.rms_eps == 1e-5 && !c.tie_word_embeddings &&
          !c.attention_bias && c.sliding_window == 0 && c.bos_token_id == 1 &&
          c.eos_token_id == 2 && !strcmp(c.torch_dtype, "bfloat16") && !c.rope_scaling.type[0],
          "tinyllama fields");
    CHECK(parse(mistral, &c, err, sizeof err) == 0, "mistral: %s", err);
    CHECK(c.arch == ET_HF_MISTRAL && c.n_kv_heads == 8 && c.head_dim == 128 &&
          c.sliding_window == 4096 && c.intermediate_size == 14336 && !c.attention_bias,
          "mistral fields");
    CHECK(parse(qwen2, &c, err, sizeof err) == 0, "qwen2: %s", err);
    CHECK(c.arch == ET_HF_QWEN2 && c.hidden_size == 896 && c.n_heads == 14 && c.head_dim == 64 &&
          c.n_kv_heads == 2 && c.attention_bias && c.tie_word_embeddings &&
          c.sliding_window == 0 && c.rope_theta == 1e6 && c.rms_eps == 1e-6 &&
          c.vocab_size == 151936 && c.max_position_embeddings == 131072, "qwen2 fields");
    CHECK(parse(llama31, &c, err, sizeof err) == 0, "llama3.1: %s", err);
    CHECK(c.eos_token_id == 128001 && c.rope_theta == 500000.0 &&
          !strcmp(c.rope_scaling.type, "llama3") && c.rope_scaling.factor == 8.0 &&
          c.rope_scaling.low_freq_factor == 1.0 && c.rope_scaling.high_freq_factor == 4.0 &&
          c.rope_scaling.original_max_position_embeddings == 8192, "llama3.1 rope scaling");
    CHECK(!strcmp(et_hf_arch_name(c.arch), "llama"), "arch name");

    /* From a file, and the defaults of a minimal config (arch from "architectures"). */
    char path[] = "/tmp/et_config_XXXXXX.json";
    int fd = mkstemps(path, 5);
    CHECK(fd >= 0, "mkstemps");
    if (fd < 0) return;
    close(fd);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs("{\"architectures\":[\"Qwen2ForCausalLM\"],\"vocab_size\":10,\"hidden_size\":64,"
          "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
          "\"use_sliding_window\":true,\"sliding_window\":32}", f);
    fclose(f);
    CHECK(et_hf_config_load(path, &c, err, sizeof err) == 0, "load: %s", err);
    CHECK(c.arch == ET_HF_QWEN2 && c.n_kv_heads == 4 && c.head_dim == 16 &&
          c.rope_theta == 10000.0 && c.rms_eps == 1e-6 && c.max_position_embeddings == 32768 &&
          c.sliding_window == 32 && c.attention_bias && c.bos_token_id == -1, "defaults");
    unlink(path);
    CHECK(et_hf_config_load(path, &c, err, sizeof err) != 0 && strstr(err, path), "missing: %s", err);
}

static void test_bad_configs(void) {
    static const struct { const char *json, *want1, *want2; } cases[] = {
        { "{\"model_type\":\"gpt2\"}", "'model_type'", "'gpt2' is not supported" },
        { "{\"vocab_size\":5}", "'model_type'", "missing" },
        { "{\"model_type\":\"llama\",\"vocab_size\":5,\"hidden_size\":\"64\"}", "'hidden_size'",
          "got a string" },
        { "{\"model_type\":\"llama\",\"vocab_size\":5,\"hidden_size\":64}", "'intermediate_size'",
          "missing" },
        { "{\"model_type\":\"llama\",\"vocab_size\":5,\"hidden_size\":64.5}", "'hidden_size'",
          "got 64.5" },
        { "{\"model_type\":\"llama\",\"vocab_size\":-5}", "'vocab_size'", "got -5" },
        { "{\"model_type\":\"llama\",\"vocab_size\":5,\"hidden_size\":64,\"intermediate_size\":8,"
          "\"num_hidden_layers\":1,\"num_attention_heads\":32,\"num_key_value_heads\":5}",
          "'num_key_value_heads'", "5 does not divide" },
        { "{\"model_type\":\"llama\",\"vocab_size\":5,\"hidden_size\":66,\"intermediate_size\":8,"
          "\"num_hidden_layers\":1,\"num_attention_heads\":4}", "'hidden_size'", "66" },
        { "{\"model_type\":\"llama\",\"vocab_size\":5,\"hidden_size\":64,\"intermediate_size\":8,"
          "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"rms_norm_eps\":-1}",
          "'rms_norm_eps'", "got -1" },
        { "{\"model_type\":\"llama\",\"vocab_size\":5,\"hidden_size\":64,\"intermediate_size\":8,"
          "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"tie_word_embeddings\":1}",
          "'tie_word_embeddings'", "true or false" },
        { "{\"model_type\":\"llama\",\"vocab_size\":5,\"hidden_size\":64,\"intermediate_size\":8,"
          "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"eos_token_id\":[]}",
          "'eos_token_id'", "empty list" },
        { "{\"model_type\":\"llama\",\"vocab_size\":5,\"hidden_size\":64,\"intermediate_size\":8,"
          "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"rope_scaling\":[1]}",
          "'rope_scaling'", "an array" },
        { "{\"model_type\":\"llama\",\"vocab_size\":5,\"hidden_size\":64,\"intermediate_size\":8,"
          "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"rope_scaling\":{\"factor\":-2}}",
          "'rope_scaling.factor'", "got -2" },
        { "{\"model_type\":\"llama\",", "invalid JSON", NULL },
        { "[]", "not a JSON object", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        et_hf_config c;
        char err[256] = "";
        int rc = parse(cases[i].json, &c, err, sizeof err);
        CHECK(rc != 0 && strstr(err, "config.json: ") && strstr(err, cases[i].want1) &&
              (!cases[i].want2 || strstr(err, cases[i].want2)),
              "case %zu: rc %d err '%s' (want '%s', '%s')", i, rc, err, cases[i].want1,
              cases[i].want2 ? cases[i].want2 : "");
    }
    /* Every truncation of a real config is rejected without a crash (exact-size buffers). */
    size_t n = strlen(llama31);
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        char *b = malloc(len ? len : 1);
        memcpy(b, llama31, len);
        et_hf_config c;
        char err[256] = "";
        bad += et_hf_config_parse(b, len, "cut.json", &c, err, sizeof err) == 0;
        free(b);
    }
    CHECK(bad == 0, "%d truncations of a config accepted", bad);
}

int main(void) {
    RUN(test_real_configs);
    RUN(test_bad_configs);
    return DONE();
}
