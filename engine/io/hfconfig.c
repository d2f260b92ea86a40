/* Hugging Face config.json → et_hf_config (see hfconfig.h for the fields and defaults). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hfconfig.h"

#define ET__HF_MAX_FILE (16u << 20)
#define ET__HF_MAX_DIM  (1ll << 40)    /* far above any real model, far below overflow */

static const char *et__hf_names[ET_HF_ARCH_COUNT] = { "llama", "mistral", "qwen2" };
static const char *et__hf_classes[ET_HF_ARCH_COUNT] = { "LlamaForCausalLM",
                                                        "MistralForCausalLM",
                                                        "Qwen2ForCausalLM" };

const char *et_hf_arch_name(et_hf_arch a) {
    return (int)a >= 0 && a < ET_HF_ARCH_COUNT ? et__hf_names[a] : "?";
}

typedef struct { const char *name; char *err; size_t errlen; const cJSON *root; } et__hf;

__attribute__((format(printf, 3, 4)))
static int et__hfail(et__hf *c, const char *field, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%s: field '%s': %s", c->name, field, msg);
    return -1;
}

static const char *et__jtype(const cJSON *j) {
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsBool(j)) return "a boolean";
    if (cJSON_IsNull(j)) return "null";
    if (cJSON_IsArray(j)) return "an array";
    return "an object";
}

/* An integer value j (NULL or null → def, or an error if required) in [lo, hi]. */
static int et__hf_intval(et__hf *c, const cJSON *j, const char *field, bool required,
                         int64_t def, int64_t lo, int64_t hi, int64_t *out) {
    if (!j || cJSON_IsNull(j)) {
        if (required) return et__hfail(c, field, "missing (required)");
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(j))
        return et__hfail(c, field, "must be an integer, got %s", et__jtype(j));
    double d = j->valuedouble;
    if (d != floor(d) || !(d >= (double)lo && d <= (double)hi))
        return et__hfail(c, field, "must be an integer in %lld..%lld, got %.17g", (long long)lo,
                         (long long)hi, d);
    *out = (int64_t)d;
    return 0;
}

static int et__hf_int(et__hf *c, const cJSON *obj, const char *field, bool required, int64_t def,
                      int64_t lo, int64_t hi, int64_t *out) {
    return et__hf_intval(c, cJSON_GetObjectItemCaseSensitive(obj, field), field, required, def,
                         lo, hi, out);
}

static int et__hf_num(et__hf *c, const char *field, double def, double lo, double hi, double *out) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(c->root, field);
    if (!j || cJSON_IsNull(j)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(j)) return et__hfail(c, field, "must be a number, got %s", et__jtype(j));
    if (!(j->valuedouble > lo && j->valuedouble <= hi))
        return et__hfail(c, field, "must be in (%g, %g], got %.17g", lo, hi, j->valuedouble);
    *out = j->valuedouble;
    return 0;
}

static int et__hf_bool(et__hf *c, const char *field, bool def, bool *out) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(c->root, field);
    if (!j || cJSON_IsNull(j)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(j)) return et__hfail(c, field, "must be true or false, got %s", et__jtype(j));
    *out = cJSON_IsTrue(j);
    return 0;
}

static int et__hf_str(et__hf *c, const cJSON *obj, const char *field, char *out, size_t n) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, field);
    out[0] = 0;
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsString(j)) return et__hfail(c, field, "must be a string, got %s", et__jtype(j));
    if (strlen(j->valuestring) >= n)
        return et__hfail(c, field, "'%.40s' is longer than %zu bytes", j->valuestring, n - 1);
    strcpy(out, j->valuestring);
    return 0;
}

/* A token id: an integer, or (eos in newer configs) a non-empty list whose first is used. */
static int et__hf_token(et__hf *c, const char *field, int64_t *out) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(c->root, field);
    if (cJSON_IsArray(j)) {
        if (!j->child) return et__hfail(c, field, "empty list");
        j = j->child;
    }
    return et__hf_intval(c, j, field, false, -1, 0, INT32_MAX, out);
}

static int et__hf_arch(et__hf *c, et_hf_arch *arch) {
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(c->root, "model_type");
    if (mt && !cJSON_IsString(mt))
        return et__hfail(c, "model_type", "must be a string, got %s", et__jtype(mt));
    if (mt) {
        for (int a = 0; a < ET_HF_ARCH_COUNT; a++)
            if (!strcmp(mt->valuestring, et__hf_names[a])) {
                *arch = (et_hf_arch)a;
                return 0;
            }
        return et__hfail(c, "model_type", "'%.60s' is not supported (llama, mistral, qwen2)",
                         mt->valuestring);
    }
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(c->root, "architectures");
    if (cJSON_IsArray(ar) && cJSON_IsString(ar->child)) {
        for (int a = 0; a < ET_HF_ARCH_COUNT; a++)
            if (!strcmp(ar->child->valuestring, et__hf_classes[a])) {
                *arch = (et_hf_arch)a;
                return 0;
            }
        return et__hfail(c, "architectures", "'%.60s' is not supported", ar->child->valuestring);
    }
    return et__hfail(c, "model_type", "missing (and no architectures list)");
}

int et_hf_config_parse(const char *json, size_t len, const char *name, et_hf_config *o,
                       char *err, size_t errlen) {
    memset(o, 0, sizeof *o);
    et__hf c = { .name = name ? name : "config.json", .err = err, .errlen = errlen };
    const char *end = NULL;
    cJSON *root = json ? cJSON_ParseWithLengthOpts(json, len, &end, false) : NULL;
    if (!root) {
        snprintf(err, errlen, "%s: invalid JSON near byte %zu", c.name,
                 (size_t)(end && json ? end - json : 0));
        return -1;
    }
    c.root = root;
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: top level is not a JSON object", c.name);
        goto out;
    }
    if (et__hf_arch(&c, &o->arch)) goto out;
    bool qwen2 = o->arch == ET_HF_QWEN2, mistral = o->arch == ET_HF_MISTRAL;
    if (et__hf_int(&c, root, "vocab_size", true, 0, 1, INT32_MAX, &o->vocab_size) ||
        et__hf_int(&c, root, "hidden_size", true, 0, 1, ET__HF_MAX_DIM, &o->hidden_size) ||
        et__hf_int(&c, root, "intermediate_size", true, 0, 1, ET__HF_MAX_DIM,
                   &o->intermediate_size) ||
        et__hf_int(&c, root, "num_hidden_layers", true, 0, 1, 1 << 16, &o->n_layers) ||
        et__hf_int(&c, root, "num_attention_heads", true, 0, 1, 1 << 16, &o->n_heads) ||
        et__hf_int(&c, root, "num_key_value_heads", false, o->n_heads, 1, 1 << 16,
                   &o->n_kv_heads) ||
        et__hf_int(&c, root, "max_position_embeddings", false, o->arch == ET_HF_LLAMA ? 2048 : 32768,
                   1, ET__HF_MAX_DIM, &o->max_position_embeddings) ||
        et__hf_num(&c, "rope_theta", 10000.0, 0, 1e12, &o->rope_theta) ||
        et__hf_num(&c, "rms_norm_eps", 1e-6, 0, 1, &o->rms_eps) ||
        et__hf_bool(&c, "tie_word_embeddings", false, &o->tie_word_embeddings) ||
        et__hf_token(&c, "bos_token_id", &o->bos_token_id) ||
        et__hf_token(&c, "eos_token_id", &o->eos_token_id) ||
        et__hf_str(&c, root, "torch_dtype", o->torch_dtype, sizeof o->torch_dtype))
        goto out;
    if (o->n_heads % o->n_kv_heads) {
        et__hfail(&c, "num_key_value_heads", "%lld does not divide num_attention_heads %lld",
                  (long long)o->n_kv_heads, (long long)o->n_heads);
        goto out;
    }
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(root, "head_dim");
    if ((!hd || cJSON_IsNull(hd)) && o->hidden_size % o->n_heads) {
        et__hfail(&c, "hidden_size", "%lld is not a multiple of num_attention_heads %lld (and "
                  "head_dim is not given)", (long long)o->hidden_size, (long long)o->n_heads);
        goto out;
    }
    if (et__hf_int(&c, root, "head_dim", false, o->hidden_size / o->n_heads, 1, 1 << 16,
                   &o->head_dim))
        goto out;
    if (qwen2) {
        o->attention_bias = true;
    } else if (et__hf_bool(&c, "attention_bias", false, &o->attention_bias)) {
        goto out;
    }
    bool use_sw = mistral;
    if (qwen2 && et__hf_bool(&c, "use_sliding_window", false, &use_sw)) goto out;
    if (use_sw && et__hf_int(&c, root, "sliding_window", false, 0, 0, ET__HF_MAX_DIM,
                             &o->sliding_window))
        goto out;
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) {
        if (!cJSON_IsObject(rs)) {
            et__hfail(&c, "rope_scaling", "must be an object or null, got %s", et__jtype(rs));
            goto out;
        }
        et_hf_rope_scaling *r = &o->rope_scaling;
        const char *tk = cJSON_GetObjectItemCaseSensitive(rs, "rope_type") ? "rope_type" : "type";
        if (et__hf_str(&c, rs, tk, r->type, sizeof r->type)) goto out;
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(rs, "factor");
        const cJSON *lf = cJSON_GetObjectItemCaseSensitive(rs, "low_freq_factor");
        const cJSON *hf = cJSON_GetObjectItemCaseSensitive(rs, "high_freq_factor");
        if ((f && !cJSON_IsNumber(f)) || (lf && !cJSON_IsNumber(lf)) || (hf && !cJSON_IsNumber(hf))) {
            et__hfail(&c, "rope_scaling", "factor, low_freq_factor and high_freq_factor must be "
                      "numbers");
            goto out;
        }
        r->factor = f ? f->valuedouble : 1.0;
        r->low_freq_factor = lf ? lf->valuedouble : 0;
        r->high_freq_factor = hf ? hf->valuedouble : 0;
        if (!(r->factor > 0 && r->factor < 1e6)) {
            et__hfail(&c, "rope_scaling.factor", "must be in (0, 1e6), got %g", r->factor);
            goto out;
        }
        if (et__hf_int(&c, rs, "original_max_position_embeddings", false, 0, 0, ET__HF_MAX_DIM,
                       &r->original_max_position_embeddings))
            goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int et_hf_config_load(const char *path, et_hf_config *out, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return -1;
    }
    char *buf = malloc(ET__HF_MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, ET__HF_MAX_FILE + 1, f) : 0;
    fclose(f);
    if (!buf || n > ET__HF_MAX_FILE) {
        snprintf(err, errlen, "%s: %s", path, buf ? "larger than 16 MiB" : "out of memory");
        free(buf);
        return -1;
    }
    int rc = et_hf_config_parse(buf, n, path, out, err, errlen);
    free(buf);
    return rc;
}
