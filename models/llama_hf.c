/* Llama-family models (llama, mistral, qwen2) from Hugging Face checkpoint directories:
 * config.json (engine/io/hfconfig.c, plus the few fields checked here), the weights in
 * model.safetensors or in shards named by model.safetensors.index.json (engine/io/safetensors.c),
 * and tokenizer.json (engine/tok/tok_io.c).  Loading follows transformers' from_pretrained:
 * model.safetensors is used when present, else the index.
 *
 * Names.  HF's tensors become edgetune's under llama.cpp's GGUF names, which the rest of the
 * code (adapters, compression, GGUF writing) knows:
 *   model.embed_tokens.weight -> token_embd.weight     model.norm.weight -> output_norm.weight
 *   lm_head.weight -> output.weight (absent, or tie_word_embeddings: the embedding is reused)
 *   model.layers.N.input_layernorm -> blk.N.attn_norm, post_attention_layernorm -> ffn_norm,
 *   self_attn.{q,k,v,o}_proj -> attn_{q,k,v,output}, self_attn.{q,k,v}_proj.bias -> attn_*.bias
 *   (qwen2), mlp.{gate,up,down}_proj -> ffn_{gate,up,down}.
 * PyTorch's nn.Linear weight [out, in] is row-major with rows of `in`: GGUF's ne = [in, out],
 * so the bytes are used as they are.
 *
 * Rope.  transformers' llama / mistral / qwen2 rotate q and k with rotate_half: element i of a
 * head pairs with element i + head_dim/2 (ET_ROPE_NEOX).  llama.cpp's converter permutes the
 * q/k rows of llama and mistral so that pairs are adjacent (2i, 2i+1), and its "llama" GGUF
 * files use ET_ROPE_NORM; qwen2 GGUF files keep HF's layout.  A checkpoint read here keeps HF's
 * layout for every architecture and runs ET_ROPE_NEOX, so the weights are used in place; only
 * et_llama_hf_to_gguf, which writes a file for llama.cpp's conventions, permutes the rows.
 * (The LoRA adapter layout follows cfg.rope_mode: PEFT adapters apply to this model unpermuted.)
 *
 * Types.  F32, F16 and BF16 weights are used in place (mmap'ed).  Norms and biases are
 * computed with in f32, so they are converted into the model's context, as is any tensor whose
 * bytes are not aligned to its element size.  Other dtypes are refused by name.
 *
 * Everything the graph cannot represent is refused rather than dropped: a tensor the mapping
 * does not use (o_proj / MLP biases, layers past num_hidden_layers ...) except rope's cached
 * inv_freq, rope scaling, activations other than silu, qwen2 sliding windows on only some
 * layers.  Sharded indexes are checked both ways: every weight_map entry is in the file it
 * names, and every tensor of a shard is listed under that shard.  Errors name the file, the
 * tensor or field, and the value.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io/hfconfig.h"
#include "io/safetensors.h"
#include "llama_gguf.h"
#include "llama_hf.h"
#include "tok/tok_gguf.h"

#define ET__HF_MAX_SHARDS 4096
#define ET__HF_MAX_JSON   (64u << 20)
#define ET__HF_PATH       4096

struct et_hf_files {
    char    dir[ET__HF_PATH];
    char    index[ET__HF_PATH];   /* "" for a single model.safetensors */
    int     n;                    /* files */
    et_st **st;
    char  **names;                /* file names inside dir */
    cJSON  *root, *map;           /* the index's JSON and its weight_map (NULL when single) */
};

__attribute__((format(printf, 3, 4)))
static int et__fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

bool et_hf_is_dir(const char *path) {
    struct stat sb;
    return path && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool et__exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* dir/name into buf (false when it does not fit). */
static bool et__join(char *buf, size_t n, const char *dir, const char *name) {
    size_t l = strlen(dir);
    while (l > 1 && dir[l - 1] == '/') l--;
    return (size_t)snprintf(buf, n, "%.*s/%s", (int)l, dir, name) < n;
}

/* A whole small file (JSON), NUL-terminated; NULL with err. */
static char *et__slurp(const char *path, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) { et__fail(err, errlen, "%s: cannot open", path); return NULL; }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= ET__HF_MAX_JSON) { et__fail(err, errlen, "%s: larger than %u MiB", path, ET__HF_MAX_JSON >> 20); break; }
            cap = cap ? cap * 2 : 1 << 16;
            char *nb = realloc(buf, cap + 1);
            if (!nb) { et__fail(err, errlen, "%s: out of memory", path); break; }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) { et__fail(err, errlen, "%s: read error", path); break; }
            fclose(f);
            buf[n] = 0;
            *len = n;
            return buf;
        }
    }
    fclose(f);
    free(buf);
    return NULL;
}

/* ---------------------------------------------------------------- the safetensors files */

void et_hf_files_close(et_hf_files *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) { et_st_close(f->st[i]); free(f->names[i]); }
    free(f->st);
    free(f->names);
    cJSON_Delete(f->root);
    free(f);
}

static int et__add_file(et_hf_files *f, const char *name, char *err, size_t errlen) {
    char path[ET__HF_PATH];
    if (!et__join(path, sizeof path, f->dir, name)) return et__fail(err, errlen, "%s/%s: path too long", f->dir, name);
    f->names[f->n] = strdup(name);
    if (!f->names[f->n]) return et__fail(err, errlen, "%s: out of memory", path);
    if (et_st_open(path, &f->st[f->n], err, errlen)) { free(f->names[f->n]); return -1; }
    f->n++;
    return 0;
}

static int et__file_of(const et_hf_files *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->names[i], name)) return i;
    return -1;
}

/* A shard name as HF writes them: a plain file name in the same directory. */
static bool et__safe_shard(const char *s) {
    size_t l = strlen(s);
    return l > 12 && l < 256 && !strchr(s, '/') && s[0] != '.' && !strcmp(s + l - 12, ".safetensors");
}

static int et__open_index(et_hf_files *f, char *err, size_t errlen) {
    size_t len = 0;
    char *text = et__slurp(f->index, &len, err, errlen);
    if (!text) return -1;
    f->root = cJSON_ParseWithLength(text, len);
    free(text);
    const char *ix = f->index;
    if (!f->root || !cJSON_IsObject(f->root)) return et__fail(err, errlen, "%s: not a JSON object", ix);
    f->map = cJSON_GetObjectItemCaseSensitive(f->root, "weight_map");
    if (!cJSON_IsObject(f->map) || !f->map->child)
        return et__fail(err, errlen, "%s: field 'weight_map' is %s (an object of tensor -> file is required)", ix,
                        !f->map ? "missing" : cJSON_IsObject(f->map) ? "empty" : "not an object");
    const cJSON *e;
    f->st = calloc(ET__HF_MAX_SHARDS, sizeof *f->st);
    f->names = calloc(ET__HF_MAX_SHARDS, sizeof *f->names);
    if (!f->st || !f->names) return et__fail(err, errlen, "%s: out of memory", ix);
    cJSON_ArrayForEach(e, f->map) {
        if (!cJSON_IsString(e) || !et__safe_shard(e->valuestring))
            return et__fail(err, errlen, "%s: weight_map[\"%.80s\"] = %.80s%s%s is not a .safetensors file name in the "
                            "checkpoint's directory", ix, e->string, cJSON_IsString(e) ? "\"" : "(not a string)",
                            cJSON_IsString(e) ? e->valuestring : "", cJSON_IsString(e) ? "\"" : "");
        if (et__file_of(f, e->valuestring) >= 0) continue;
        if (f->n == ET__HF_MAX_SHARDS)
            return et__fail(err, errlen, "%s: more than %d shard files", ix, ET__HF_MAX_SHARDS);
        if (et__add_file(f, e->valuestring, err, errlen)) return -1;
    }
    /* both directions: every entry is in its file, every tensor of a file is listed there */
    cJSON_ArrayForEach(e, f->map) {
        int i = et__file_of(f, e->valuestring);
        if (!et_st_tensor_find(f->st[i], e->string))
            return et__fail(err, errlen, "%s: weight_map[\"%.100s\"] = \"%s\", but %s/%s holds no tensor %.100s", ix,
                            e->string, e->valuestring, f->dir, e->valuestring, e->string);
    }
    for (int i = 0; i < f->n; i++)
        for (int64_t k = 0; k < et_st_n_tensors(f->st[i]); k++) {
            const char *tn = et_st_tensor_at(f->st[i], k)->name;
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(f->map, tn);
            if (!m || strcmp(m->valuestring, f->names[i]))
                return et__fail(err, errlen, "%s/%s: holds tensor %.100s, which %s %s%s", f->dir, f->names[i], tn, ix,
                                m ? "maps to" : "does not list", m ? m->valuestring : "");
        }
    return 0;
}

static int et__open_files(const char *dir, et_hf_files **out, char *err, size_t errlen) {
    *out = NULL;
    et_hf_files *f = calloc(1, sizeof *f);
    if (!f) return et__fail(err, errlen, "%s: out of memory", dir);
    char single[ET__HF_PATH];
    if (!et__join(f->dir, sizeof f->dir, dir, "") || !et__join(single, sizeof single, dir, "model.safetensors") ||
        !et__join(f->index, sizeof f->index, dir, "model.safetensors.index.json")) {
        free(f);
        return et__fail(err, errlen, "%s: path too long", dir);
    }
    f->dir[strlen(f->dir) - 1] = 0;   /* no trailing '/' */
    int rc;
    if (et__exists(single)) {
        f->index[0] = 0;
        f->st = calloc(1, sizeof *f->st);
        f->names = calloc(1, sizeof *f->names);
        rc = f->st && f->names ? et__add_file(f, "model.safetensors", err, errlen)
                               : et__fail(err, errlen, "%s: out of memory", dir);
    } else if (et__exists(f->index)) {
        rc = et__open_index(f, err, errlen);
    } else {
        char bin[ET__HF_PATH];
        bool pt = et__join(bin, sizeof bin, dir, "pytorch_model.bin") && et__exists(bin);
        rc = et__fail(err, errlen, "%s: neither model.safetensors nor model.safetensors.index.json is there%s", f->dir,
                      pt ? " (pytorch_model.bin is, which edgetune does not read: convert it to safetensors)" : "");
    }
    if (rc) { et_hf_files_close(f); return -1; }
    *out = f;
    return 0;
}

/* The tensor and the path of its file (for messages); NULL when absent. */
static const et_st_tensor *et__find(const et_hf_files *f, const char *name, char *path, size_t n) {
    int i = 0;
    if (f->map) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(f->map, name);
        if (!m) { snprintf(path, n, "%s", f->index); return NULL; }
        i = et__file_of(f, m->valuestring);
    }
    snprintf(path, n, "%s/%s", f->dir, f->names[i]);
    return et_st_tensor_find(f->st[i], name);
}

uint64_t et_hf_dir_bytes(const char *dir) {
    et_hf_files *f;
    char err[64], path[ET__HF_PATH];
    uint64_t sum = 0;
    if (et__open_files(dir, &f, err, sizeof err)) return 0;
    for (int i = 0; i < f->n; i++) {
        struct stat sb;
        if (et__join(path, sizeof path, f->dir, f->names[i]) && stat(path, &sb) == 0) sum += (uint64_t)sb.st_size;
    }
    et_hf_files_close(f);
    return sum;
}

/* ---------------------------------------------------------------- config.json */

/* The fields hfconfig.c does not cover but that change the computation: refused unless they
 * describe what the graph does.  May clear c->sliding_window (qwen2 windows on no layer). */
static int et__config_extra(const char *path, const et_hf_config *hc, int64_t *window, double *theta, char *err,
                            size_t errlen) {
    size_t len = 0;
    char *text = et__slurp(path, &len, err, errlen);
    if (!text) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    int rc = -1;
    if (!root) { et__fail(err, errlen, "%s: invalid JSON", path); goto done; }
    const char *acts[2] = {"hidden_act", "hidden_activation"};
    for (int i = 0; i < 2; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, acts[i]);
        if (a && !cJSON_IsNull(a) && (!cJSON_IsString(a) || strcmp(a->valuestring, "silu"))) {
            et__fail(err, errlen, "%s: field '%s' = %s%s%s: only \"silu\" (SwiGLU) is supported", path, acts[i],
                     cJSON_IsString(a) ? "\"" : "", cJSON_IsString(a) ? a->valuestring : "(not a string)",
                     cJSON_IsString(a) ? "\"" : "");
            goto done;
        }
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "mlp_bias"))) {
        et__fail(err, errlen, "%s: field 'mlp_bias' = true: MLP biases are not supported", path);
        goto done;
    }
    if (hc->arch != ET_HF_QWEN2 && hc->attention_bias) {
        et__fail(err, errlen, "%s: field 'attention_bias' = true: %s then has an o_proj bias, which is not supported "
                 "(qwen2's q/k/v biases are)", path, et_hf_arch_name(hc->arch));
        goto done;
    }
    const cJSON *prf = cJSON_GetObjectItemCaseSensitive(root, "partial_rotary_factor");
    if (prf && !cJSON_IsNull(prf) && (!cJSON_IsNumber(prf) || prf->valuedouble != 1.0)) {
        et__fail(err, errlen, "%s: field 'partial_rotary_factor' = %g: only 1 (rope over the whole head) is supported",
                 path, cJSON_IsNumber(prf) ? prf->valuedouble : -1.0);
        goto done;
    }
    const char *rs = hc->rope_scaling.type;
    if (rs[0] && strcmp(rs, "default")) {
        et__fail(err, errlen, "%s: field 'rope_scaling': type '%s' (factor %g) is not supported (edgetune's rope has no "
                 "frequency scaling)", path, rs, hc->rope_scaling.factor);
        goto done;
    }
    /* transformers 5 moves the base into rope_parameters */
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if (rp && !cJSON_IsNull(rp)) {
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(rp, "rope_type");
        const cJSON *th = cJSON_GetObjectItemCaseSensitive(rp, "rope_theta");
        if (!cJSON_IsObject(rp) || (rt && (!cJSON_IsString(rt) || strcmp(rt->valuestring, "default")))) {
            et__fail(err, errlen, "%s: field 'rope_parameters': rope_type %s is not supported (only \"default\")", path,
                     cJSON_IsString(rt) ? rt->valuestring : "(not a string)");
            goto done;
        }
        if (th) {
            if (!cJSON_IsNumber(th) || !(th->valuedouble > 1.0 && th->valuedouble < 1e12)) {
                et__fail(err, errlen, "%s: field 'rope_parameters.rope_theta' must be a number in (1, 1e12)", path);
                goto done;
            }
            *theta = th->valuedouble;
        }
    }
    /* qwen2: the window applies to layers >= max_window_layers (transformers' layer_types) */
    if (hc->arch == ET_HF_QWEN2 && *window > 0) {
        const cJSON *lt = cJSON_GetObjectItemCaseSensitive(root, "layer_types");
        const cJSON *mw = cJSON_GetObjectItemCaseSensitive(root, "max_window_layers");
        int64_t n_slide = 0;
        if (cJSON_IsArray(lt)) {
            const cJSON *e;
            cJSON_ArrayForEach(e, lt) n_slide += cJSON_IsString(e) && !strcmp(e->valuestring, "sliding_attention");
        } else {
            double first = mw && !cJSON_IsNull(mw) ? (cJSON_IsNumber(mw) ? mw->valuedouble : -1) : 28;   /* Qwen2Config */
            if (first < 0 || first != (double)(int64_t)first) {
                et__fail(err, errlen, "%s: field 'max_window_layers' must be a non-negative integer", path);
                goto done;
            }
            n_slide = (int64_t)first >= hc->n_layers ? 0 : hc->n_layers - (int64_t)first;
        }
        if (n_slide == 0) *window = 0;
        else if (n_slide != hc->n_layers) {
            et__fail(err, errlen, "%s: field '%s': a sliding window of %lld on %lld of %lld layers is not supported "
                     "(only on all or none)", path, cJSON_IsArray(lt) ? "layer_types" : "max_window_layers",
                     (long long)*window, (long long)n_slide, (long long)hc->n_layers);
            goto done;
        }
    }
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

static int et__config(const char *dir, et_llama_config *c, char *err, size_t errlen) {
    char path[ET__HF_PATH];
    if (!et__join(path, sizeof path, dir, "config.json")) return et__fail(err, errlen, "%s: path too long", dir);
    if (!et__exists(path)) return et__fail(err, errlen, "%s: missing (a Hugging Face checkpoint directory has one)", path);
    et_hf_config hc;
    if (et_hf_config_load(path, &hc, err, errlen)) return -1;
    int64_t window = hc.sliding_window;
    double theta = hc.rope_theta;
    if (et__config_extra(path, &hc, &window, &theta, err, errlen)) return -1;
    const struct { const char *field; int64_t v, max; } lim[] = {
        {"vocab_size", hc.vocab_size, (1 << 24) - 1},   {"num_hidden_layers", hc.n_layers, ET_LLAMA_MAX_LAYERS},
        {"hidden_size", hc.hidden_size, 65536},         {"head_dim", hc.head_dim, 1024},
        {"intermediate_size", hc.intermediate_size, INT32_MAX},
        {"max_position_embeddings", hc.max_position_embeddings, INT32_MAX}, {"sliding_window", window, INT32_MAX},
    };
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++)
        if (lim[i].v > lim[i].max)
            return et__fail(err, errlen, "%s: field '%s' = %lld is above edgetune's limit %lld", path, lim[i].field,
                            (long long)lim[i].v, (long long)lim[i].max);
    if (hc.head_dim % 2) return et__fail(err, errlen, "%s: field 'head_dim' = %lld is odd (rope pairs need it even)",
                                         path, (long long)hc.head_dim);
    memset(c, 0, sizeof *c);
    c->arch = hc.arch == ET_HF_MISTRAL ? ET_ARCH_MISTRAL : hc.arch == ET_HF_QWEN2 ? ET_ARCH_QWEN2 : ET_ARCH_LLAMA;
    c->vocab = (int32_t)hc.vocab_size;
    c->dim = (int32_t)hc.hidden_size;
    c->n_layers = (int32_t)hc.n_layers;
    c->n_heads = (int32_t)hc.n_heads;
    c->n_kv_heads = (int32_t)hc.n_kv_heads;
    c->head_dim = (int32_t)hc.head_dim;
    c->ffn = (int32_t)hc.intermediate_size;
    c->max_seq = (int32_t)hc.max_position_embeddings;
    c->rope_theta = (float)theta;
    c->rms_eps = (float)hc.rms_eps;
    c->rope_mode = ET_ROPE_NEOX;          /* rotate_half, HF's layout (see the top of the file) */
    c->sliding_window = (int32_t)window;  /* mistral: t - s < window, as transformers' mask */
    c->qkv_bias = hc.attention_bias;
    c->tied_embeddings = hc.tie_word_embeddings;   /* also when lm_head.weight is absent (below) */
    c->ffn_act = ET_FFN_SWIGLU;
    char e2[256];
    if (!et_llama_config_check(c, e2, sizeof e2)) return et__fail(err, errlen, "%s: %s", path, e2);
    return 0;
}

/* ---------------------------------------------------------------- tensors */

typedef struct et__ld {
    et_llama    *m;
    et_hf_files *f;
    char        *err;
    size_t       errlen;
} et__ld;

/* The HF tensor `hf` of shape [ne1, ne0] (ne1 = 0: 1-D [ne0]) as edgetune's `gg`; `what`
 * says which config fields give the expected shape.  f32: the graph needs it in f32. */
static et_tensor *et__take(et__ld *L, const char *hf, const char *gg, int64_t ne0, int64_t ne1, bool f32,
                           const char *what) {
    char path[ET__HF_PATH + 64];
    const et_st_tensor *t = et__find(L->f, hf, path, sizeof path);
    if (!t) {
        et__fail(L->err, L->errlen, "%s: tensor %s is missing", path, hf);
        return NULL;
    }
    if (t->type != ET_F32 && t->type != ET_F16 && t->type != ET_BF16) {
        et__fail(L->err, L->errlen, "%s: tensor %s has dtype %s (edgetune reads F32, F16 and BF16)", path, hf,
                 et_st_dtype_name(t->dtype));
        return NULL;
    }
    int nd = ne1 ? 2 : 1;
    if (t->n_dims != nd || t->shape[0] != (ne1 ? ne1 : ne0) || (ne1 && t->shape[1] != ne0)) {
        char got[128] = "[";
        for (int d = 0; d < t->n_dims; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        strncat(got, "]", sizeof got - strlen(got) - 1);
        if (ne1) et__fail(L->err, L->errlen, "%s: tensor %s has shape %s, expected [%lld, %lld] (%s)", path, hf, got,
                          (long long)ne1, (long long)ne0, what);
        else et__fail(L->err, L->errlen, "%s: tensor %s has shape %s, expected [%lld] (%s)", path, hf, got, (long long)ne0,
                      what);
        return NULL;
    }
    et_ctx *ctx = L->m->ctx;
    const et_type_traits *tr = et_type_get(t->type);
    bool aligned = (uintptr_t)t->data % tr->type_size == 0;
    int64_t ne[2] = {ne0, ne1 ? ne1 : 1};
    et_tensor *x;
    if (aligned && (!f32 || t->type == ET_F32)) {
        x = et_new_external(ctx, t->type, nd, ne, (void *)t->data, ET_FLAG_FROZEN, gg);
    } else {
        x = et_new(ctx, f32 ? ET_F32 : t->type, nd, ne, ET_FLAG_FROZEN, gg);
        if (x) {
            void *src = (void *)t->data, *tmp = NULL;
            if (!aligned && f32 && t->type != ET_F32) {   /* realign before converting */
                tmp = malloc(t->nbytes);
                if (!tmp) { et__fail(L->err, L->errlen, "%s: tensor %s: out of memory", path, hf); return NULL; }
                memcpy(tmp, t->data, t->nbytes);
                src = tmp;
            }
            if (f32 && t->type != ET_F32) tr->to_f32(src, x->data, ne0 * ne[1]);
            else memcpy(x->data, t->data, t->nbytes);
            free(tmp);
        }
    }
    if (!x) et__fail(L->err, L->errlen, "%s: tensor %s: %s", path, hf, et_ctx_error(ctx));
    return x;
}

/* The per-layer tensors: HF suffix, GGUF suffix, what their shape is made of. */
enum { ET__K_NORM, ET__K_Q, ET__K_KV, ET__K_O, ET__K_UP, ET__K_DOWN, ET__K_QB, ET__K_KVB };
static const struct { const char *hf, *gg; int kind; } et__layer_map[] = {
    {"input_layernorm.weight", "attn_norm.weight", ET__K_NORM},
    {"self_attn.q_proj.weight", "attn_q.weight", ET__K_Q},
    {"self_attn.k_proj.weight", "attn_k.weight", ET__K_KV},
    {"self_attn.v_proj.weight", "attn_v.weight", ET__K_KV},
    {"self_attn.o_proj.weight", "attn_output.weight", ET__K_O},
    {"post_attention_layernorm.weight", "ffn_norm.weight", ET__K_NORM},
    {"mlp.gate_proj.weight", "ffn_gate.weight", ET__K_UP},
    {"mlp.up_proj.weight", "ffn_up.weight", ET__K_UP},
    {"mlp.down_proj.weight", "ffn_down.weight", ET__K_DOWN},
    {"self_attn.q_proj.bias", "attn_q.bias", ET__K_QB},
    {"self_attn.k_proj.bias", "attn_k.bias", ET__K_KVB},
    {"self_attn.v_proj.bias", "attn_v.bias", ET__K_KVB},
};
#define ET__N_LAYER_MAP ((int)(sizeof et__layer_map / sizeof et__layer_map[0]))

static et_tensor **et__slot(et_llama_layer *L, int i) {
    et_tensor **s[ET__N_LAYER_MAP] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_norm,
                                      &L->w_gate, &L->w_up, &L->w_down, &L->bq, &L->bk, &L->bv};
    return s[i];
}

/* Every tensor of every file must be one the mapping used (or rope's cached inv_freq). */
static int et__check_unused(const et_hf_files *f, const et_llama_config *c, char *err, size_t errlen) {
    for (int i = 0; i < f->n; i++)
        for (int64_t k = 0; k < et_st_n_tensors(f->st[i]); k++) {
            const char *n = et_st_tensor_at(f->st[i], k)->name;
            if (!strcmp(n, "model.embed_tokens.weight") || !strcmp(n, "model.norm.weight") ||
                !strcmp(n, "lm_head.weight"))
                continue;
            int l = -1, off = 0;
            const char *why = "not a llama / mistral / qwen2 tensor";
            if (sscanf(n, "model.layers.%d.%n", &l, &off) == 1 && off > 0) {
                const char *s = n + off;
                bool known = !strcmp(s, "self_attn.rotary_emb.inv_freq");
                for (int j = 0; j < ET__N_LAYER_MAP && !known; j++)
                    known = !strcmp(s, et__layer_map[j].hf) && (et__layer_map[j].kind < ET__K_QB || c->qkv_bias);
                if (known && l >= 0 && l < c->n_layers) continue;
                why = l < 0 || l >= c->n_layers ? "its layer is outside num_hidden_layers"
                      : strstr(s, ".bias") ? "a bias edgetune lacks: only qwen2's q/k/v biases are supported"
                                           : "not part of a llama / mistral / qwen2 layer";
            }
            char path[ET__HF_PATH + 256];
            snprintf(path, sizeof path, "%s/%s", f->dir, f->names[i]);
            return et__fail(err, errlen, "%s: tensor %s is not used by edgetune's model (%s; num_hidden_layers %d)", path,
                            n, why, c->n_layers);
        }
    return 0;
}

int et_llama_from_hf_dir(et_llama *m, et_ctx *ctx, const char *dir, et_hf_files **files, char *err, size_t errlen) {
    *files = NULL;
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
    if (!et_hf_is_dir(dir)) return et__fail(err, errlen, "%s: not a directory", dir);
    if (et__config(dir, &m->cfg, err, errlen)) return -1;
    et_hf_files *f;
    if (et__open_files(dir, &f, err, errlen)) return -1;
    et_llama_config *c = &m->cfg;
    char path[ET__HF_PATH + 64];
    if (!c->tied_embeddings && !et__find(f, "lm_head.weight", path, sizeof path))
        c->tied_embeddings = true;        /* transformers ties an absent head too */
    et__ld L = {m, f, err, errlen};
    int64_t q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim;
    char what[ET__N_LAYER_MAP][160];
    snprintf(what[ET__K_NORM], 160, "hidden_size %d", c->dim);
    snprintf(what[ET__K_Q], 160, "num_attention_heads %d x head_dim %d, hidden_size %d", c->n_heads, c->head_dim, c->dim);
    snprintf(what[ET__K_KV], 160, "num_key_value_heads %d x head_dim %d, hidden_size %d", c->n_kv_heads, c->head_dim,
             c->dim);
    snprintf(what[ET__K_O], 160, "hidden_size %d, num_attention_heads %d x head_dim %d", c->dim, c->n_heads, c->head_dim);
    snprintf(what[ET__K_UP], 160, "intermediate_size %d, hidden_size %d", c->ffn, c->dim);
    snprintf(what[ET__K_DOWN], 160, "hidden_size %d, intermediate_size %d", c->dim, c->ffn);
    snprintf(what[ET__K_QB], 160, "num_attention_heads %d x head_dim %d", c->n_heads, c->head_dim);
    snprintf(what[ET__K_KVB], 160, "num_key_value_heads %d x head_dim %d", c->n_kv_heads, c->head_dim);
    char vw[96];
    snprintf(vw, sizeof vw, "vocab_size %d, hidden_size %d", c->vocab, c->dim);
    if (!(m->tok_emb = et__take(&L, "model.embed_tokens.weight", "token_embd.weight", c->dim, c->vocab, false, vw)) ||
        !(m->out_norm = et__take(&L, "model.norm.weight", "output_norm.weight", c->dim, 0, true, what[ET__K_NORM])))
        goto fail;
    if (c->tied_embeddings) m->output = m->tok_emb;
    else if (!(m->output = et__take(&L, "lm_head.weight", "output.weight", c->dim, c->vocab, false, vw))) goto fail;
    for (int l = 0; l < c->n_layers; l++) {
        for (int i = 0; i < ET__N_LAYER_MAP; i++) {
            int k = et__layer_map[i].kind;
            if (k >= ET__K_QB && !c->qkv_bias) continue;
            int64_t ne0 = k == ET__K_O ? q : k == ET__K_DOWN ? c->ffn : k == ET__K_QB ? q : k == ET__K_KVB ? kv : c->dim;
            int64_t ne1 = k == ET__K_Q ? q : k == ET__K_KV ? kv : k == ET__K_O || k == ET__K_DOWN ? c->dim
                          : k == ET__K_UP ? c->ffn : 0;
            char hn[128], gn[64];
            snprintf(hn, sizeof hn, "model.layers.%d.%s", l, et__layer_map[i].hf);
            snprintf(gn, sizeof gn, "blk.%d.%s", l, et__layer_map[i].gg);
            bool f32 = k == ET__K_NORM || k >= ET__K_QB;
            if (!(*et__slot(&m->layers[l], i) = et__take(&L, hn, gn, ne0, ne1, f32, what[k]))) goto fail;
        }
    }
    if (et__check_unused(f, c, err, errlen)) goto fail;
    *files = f;
    return 0;
fail:
    et_hf_files_close(f);
    return -1;
}

/* ---------------------------------------------------------------- tokenizer */

et_tok *et_tok_from_hf_dir(const char *dir, char *err, size_t errlen) {
    char path[ET__HF_PATH], spm[ET__HF_PATH];
    if (!et__join(path, sizeof path, dir, "tokenizer.json")) { et__fail(err, errlen, "%s: path too long", dir); return NULL; }
    if (!et__exists(path)) {
        bool has_spm = et__join(spm, sizeof spm, dir, "tokenizer.model") && et__exists(spm);
        et__fail(err, errlen, "%s: missing (edgetune reads a checkpoint's tokenizer from tokenizer.json%s)", path,
                 has_spm ? "; tokenizer.model alone is not read" : "");
        return NULL;
    }
    return et_tok_load(path, err, errlen);
}

/* ---------------------------------------------------------------- to GGUF */

/* Rows of a [ne0, n_head·hd] weight (or elements of a bias) from HF's rotate_half layout into
 * llama.cpp's: GGUF row h·hd + 2i + j is HF row h·hd + j·hd/2 + i (its converter's permute). */
static et_tensor *et__permute_qk(et_llama *m, et_tensor *w, int n_head, int hd) {
    et_tensor *p = et_new(m->ctx, w->type, et_n_dims(w), w->ne, ET_FLAG_FROZEN, w->name);
    if (!p) return NULL;
    bool bias = et_n_dims(w) == 1;
    size_t row = bias ? et_type_get(w->type)->type_size : w->nb[1];
    for (int h = 0; h < n_head; h++)
        for (int i = 0; i < hd / 2; i++)
            for (int j = 0; j < 2; j++)
                memcpy((char *)p->data + (size_t)(h * hd + 2 * i + j) * row,
                       (const char *)w->data + (size_t)(h * hd + j * hd / 2 + i) * row, row);
    return p;
}

int et_llama_hf_to_gguf(const char *dir, const char *out, char *err, size_t errlen) {
    et_ctx *ctx = et_ctx_new(1 << 16);
    et_tok *tok = NULL;
    et_hf_files *f = NULL;
    et_gguf_writer *w = NULL;
    et_llama m;
    int rc = -1;
    if (!ctx) { et__fail(err, errlen, "%s: out of memory", dir); goto done; }
    if (et_llama_from_hf_dir(&m, ctx, dir, &f, err, errlen)) goto done;
    if (!(tok = et_tok_from_hf_dir(dir, err, errlen))) goto done;
    if (et_tok_n_vocab(tok) > m.cfg.vocab) {
        et__fail(err, errlen, "%s: tokenizer.json has %d tokens but config.json's vocab_size is %d", dir,
                 et_tok_n_vocab(tok), m.cfg.vocab);
        goto done;
    }
    if (m.cfg.arch != ET_ARCH_QWEN2)
        for (int l = 0; l < m.cfg.n_layers; l++) {
            et_llama_layer *L = &m.layers[l];
            et_tensor **qk[4] = {&L->wq, &L->wk, &L->bq, &L->bk};
            for (int i = 0; i < 4; i++)
                if (*qk[i] && !(*qk[i] = et__permute_qk(&m, *qk[i], i % 2 ? m.cfg.n_kv_heads : m.cfg.n_heads,
                                                         m.cfg.head_dim))) {
                    et__fail(err, errlen, "%s: %s", dir, et_ctx_error(ctx));
                    goto done;
                }
        }
    if (m.cfg.arch != ET_ARCH_QWEN2) m.cfg.rope_mode = ET_ROPE_NORM;   /* what the GGUF reader will set */
    const char *base = strrchr(f->dir, '/');
    base = base ? base + 1 : f->dir;
    if (!(w = et_gguf_writer_new())) { et__fail(err, errlen, "%s: out of memory", out); goto done; }
    et_llama_to_gguf(&m, w, base);
    if (et_tok_to_gguf(tok, w, err, errlen)) goto done;
    rc = et_gguf_writer_write(w, out, err, errlen) ? -1 : 0;
done:
    et_gguf_writer_free(w);
    et_tok_free(tok);
    et_hf_files_close(f);
    et_ctx_free(ctx);
    return rc;
}

int et_llama_gguf_open(const char *path, et_gguf **g, char *err, size_t errlen) {
    *g = NULL;
    if (!et_hf_is_dir(path)) return et_gguf_open(path, g, err, errlen);
    const char *td = getenv("TMPDIR");
    td = td && *td ? td : "/tmp";
    size_t l = strlen(path);
    while (l > 1 && path[l - 1] == '/') l--;
    const char *b = path + l;
    while (b > path && b[-1] != '/') b--;
    char tmp[ET__HF_PATH];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/%.*s.edgetune-XXXXXX.gguf", td, (int)(path + l - b), b) >= sizeof tmp)
        return et__fail(err, errlen, "%s: temporary path too long", path);
    int fd = mkstemps(tmp, 5);
    if (fd < 0) return et__fail(err, errlen, "%s: cannot create a temporary GGUF file in %s (set TMPDIR)", path, td);
    close(fd);
    int rc = et_llama_hf_to_gguf(path, tmp, err, errlen);
    if (rc == 0) rc = et_gguf_open(tmp, g, err, errlen);
    unlink(tmp);
    return rc;
}
