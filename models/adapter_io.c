/* Adapter files: edgetune's GGUF format, llama.cpp's GGUF LoRA and PEFT's safetensors + JSON
 * (formats and layouts: models/adapter_io.h).  This file knows formats only — no model, no
 * graph — so the fuzz target links it with the readers alone.  Attaching an adapter to a
 * model and merging it into a base file live in models/adapter_model.c. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "adapter_io.h"
#include "io/fileio.h"
#include "io/safetensors.h"

const char *const et_adapter_module_names[7] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                                "ffn_gate", "ffn_up", "ffn_down"};
const char *const et_adapter_peft_names[7] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                              "gate_proj", "up_proj", "down_proj"};
static const char *const et__short[7] = {"q", "k", "v", "o", "gate", "up", "down"};
enum { M_Q, M_K, M_V, M_O, M_GATE, M_UP, M_DOWN };
#define ET__PEFT_PREFIX "base_model.model.model.layers."

/* ---------------------------------------------------------------- the in-memory adapter */

void et_adapter_free(et_adapter *a) {
    if (!a) return;
    for (int64_t i = 0; i < a->n; i++) { free(a->t[i].name); free(a->t[i].data); }
    free(a->t);
    memset(a, 0, sizeof *a);
}

const et_adapter_tensor *et_adapter_find(const et_adapter *a, const char *name) {
    for (int64_t i = 0; i < a->n; i++)
        if (!strcmp(a->t[i].name, name)) return &a->t[i];
    return NULL;
}

/* Append a tensor with uninitialized data; NULL when out of memory, a duplicate or too many. */
static et_adapter_tensor *et__push(et_adapter *a, const char *name, int n_dims, const int64_t *ne) {
    if (a->n >= ET_ADAPTER_MAX_TENSORS || et_adapter_find(a, name)) return NULL;
    if (n_dims < 1 || n_dims > 2 || ne[0] < 1 || (n_dims == 2 && ne[1] < 1)) return NULL;
    int64_t ne1 = n_dims == 2 ? ne[1] : 1;
    if (ne[0] > (INT64_C(1) << 40) / ne1) return NULL;
    et_adapter_tensor *t = realloc(a->t, (size_t)(a->n + 1) * sizeof *t);
    if (!t) return NULL;
    a->t = t;
    t = &a->t[a->n];
    *t = (et_adapter_tensor){ .name = strdup(name), .n_dims = n_dims, .ne = {ne[0], ne1} };
    t->data = malloc((size_t)(ne[0] * ne1) * sizeof(float));
    if (!t->name || !t->data) { free(t->name); free(t->data); return NULL; }
    a->n++;
    return t;
}

bool et_adapter_add(et_adapter *a, const char *name, int n_dims, const int64_t *ne, const float *data) {
    et_adapter_tensor *t = et__push(a, name, n_dims, ne);
    if (t) memcpy(t->data, data, (size_t)(t->ne[0] * t->ne[1]) * sizeof(float));
    return t != NULL;
}

bool et_adapter_parse_name(const char *name, int *layer, int *module, int *part) {
    if (strncmp(name, "blk.", 4)) return false;
    const char *p = name + 4;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9')) return false;
    long l = 0;
    while (*p >= '0' && *p <= '9') { l = l * 10 + (*p++ - '0'); if (l >= 4096) return false; }
    if (*p++ != '.') return false;
    for (int m = 0; m < 7; m++) {
        size_t n = strlen(et_adapter_module_names[m]);
        if (strncmp(p, et_adapter_module_names[m], n)) continue;
        const char *s = p + n;
        int pt = !strcmp(s, ".weight.lora_a") ? 0 : !strcmp(s, ".weight.lora_b") ? 1 : !strcmp(s, ".ia3") ? 2 : -1;
        if (pt < 0) continue;
        *layer = (int)l; *module = m; *part = pt;
        return true;
    }
    return false;
}

static void et__targets_str(uint32_t targets, char *out, size_t n) {
    out[0] = 0;
    if (targets == 0x7f) { snprintf(out, n, "all"); return; }
    for (int m = 0; m < 7; m++)
        if (targets & (1u << m)) snprintf(out + strlen(out), n - strlen(out), "%s%s", out[0] ? "," : "", et__short[m]);
}

int et_adapter_check(const et_adapter *a, const char *what, char *err, size_t errlen) {
    if (a->n < 1) { snprintf(err, errlen, "%s: the adapter has no tensors", what); return -1; }
    for (int64_t i = 0; i < a->n; i++) {
        const et_adapter_tensor *t = &a->t[i];
        for (int64_t j = 0; j < t->ne[0] * t->ne[1]; j++)
            if (!isfinite(t->data[j])) {
                snprintf(err, errlen, "%s: tensor %s: element %lld is %g", what, t->name, (long long)j, t->data[j]);
                return -1;
            }
        int layer, mod, part;
        if (a->kind == ET_ADAPTER_IO_PROMPT) {
            if (strcmp(t->name, "soft_prompt") || a->n != 1 || t->n_dims != 2 || t->ne[1] != a->n_prompt) {
                snprintf(err, errlen, "%s: prompt tuning wants one tensor soft_prompt [dim, %d]; found %s [%lld, %lld]",
                         what, a->n_prompt, t->name, (long long)t->ne[0], (long long)t->ne[1]);
                return -1;
            }
            continue;
        }
        if (!et_adapter_parse_name(t->name, &layer, &mod, &part) || (a->kind == ET_ADAPTER_IO_LORA) != (part < 2)) {
            snprintf(err, errlen, "%s: tensor '%s' is not a %s tensor of a Llama-family layer", what, t->name,
                     a->kind == ET_ADAPTER_IO_LORA ? "LoRA (blk.N.<module>.weight.lora_a|lora_b)"
                                                   : "IA3 (blk.N.attn_k|attn_v|ffn_up.ia3)");
            return -1;
        }
        if (part == 2) {
            if ((mod != M_K && mod != M_V && mod != M_UP) || t->ne[1] != 1) {
                snprintf(err, errlen, "%s: IA3 tensor %s: only attn_k, attn_v and ffn_up vectors are supported "
                         "(shape [%lld, %lld])", what, t->name, (long long)t->ne[0], (long long)t->ne[1]);
                return -1;
            }
            continue;
        }
        /* LoRA: A [in, r] with its B [r, out] */
        char other[160];
        snprintf(other, sizeof other, "%.*s%s", (int)(strlen(t->name) - 1), t->name, part == 0 ? "b" : "a");
        const et_adapter_tensor *o = et_adapter_find(a, other);
        int64_t r = part == 0 ? t->ne[1] : t->ne[0];
        if (!o) { snprintf(err, errlen, "%s: tensor %s has no partner %s", what, t->name, other); return -1; }
        if (r != a->rank || (part == 0 ? o->ne[0] : o->ne[1]) != a->rank) {
            snprintf(err, errlen, "%s: tensor %s has shape [%lld, %lld], expected %s with rank %d (ggml order; "
                     "lora_a [in, r], lora_b [r, out])", what, t->name, (long long)t->ne[0], (long long)t->ne[1],
                     part == 0 ? "[in, r]" : "[r, out]", a->rank);
            return -1;
        }
    }
    if (a->kind == ET_ADAPTER_IO_LORA && !(a->rank >= 1 && a->rank <= ET_ADAPTER_MAX_RANK && isfinite(a->alpha) &&
                                           a->alpha > 0)) {
        snprintf(err, errlen, "%s: LoRA rank %d (1..%d) or alpha %g (> 0) out of range", what, a->rank,
                 ET_ADAPTER_MAX_RANK, a->alpha);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- GGUF (edgetune, llama.cpp) */

static int et__str(const et_gguf *g, const char *key, char *out, size_t n, bool required, char *err, size_t errlen) {
    et_gguf_str s;
    int rc = et_gguf_get_str(g, key, &s, err, errlen);
    if (rc == ET_GGUF_MISSING && !required) return 0;
    if (rc) return -1;
    if (s.len >= n || memchr(s.ptr, 0, s.len)) {
        snprintf(err, errlen, "%s: %s: '%.*s' is not a short name", et_gguf_name(g), key, (int)(s.len < 40 ? s.len : 40),
                 s.ptr);
        return -1;
    }
    memcpy(out, s.ptr, s.len);
    out[s.len] = 0;
    return 0;
}

int et_adapter_from_gguf(const et_gguf *g, et_adapter *a, char *err, size_t errlen) {
    const char *fn = et_gguf_name(g);
    memset(a, 0, sizeof *a);
    char type[32] = "", kind[32] = "";
    if (et__str(g, "general.type", type, sizeof type, true, err, errlen)) return -1;
    if (strcmp(type, "adapter")) {
        snprintf(err, errlen, "%s: general.type is '%s', not 'adapter' (is this a model?)", fn, type);
        return -1;
    }
    bool native = et_gguf_find(g, "edgetune.adapter.kind") != NULL;
    if (native) {
        uint32_t ver = 1;
        if (et_gguf_get_u32(g, "edgetune.adapter.version", &ver, err, errlen) < 0) return -1;
        if (ver < 1 || ver > ET_ADAPTER_VERSION) {
            snprintf(err, errlen, "%s: edgetune.adapter.version %u is not supported (1..%u)", fn, ver, ET_ADAPTER_VERSION);
            return -1;
        }
        if (et__str(g, "edgetune.adapter.kind", kind, sizeof kind, true, err, errlen)) return -1;
        if (et__str(g, "edgetune.adapter.base_type", a->base_type, sizeof a->base_type, false, err, errlen)) return -1;
    } else {
        if (et__str(g, "adapter.type", kind, sizeof kind, true, err, errlen)) return -1;
        if (strcmp(kind, "lora")) {
            snprintf(err, errlen, "%s: adapter.type is '%s'; only 'lora' adapters are supported", fn, kind);
            return -1;
        }
    }
    if (!a->base_type[0]) snprintf(a->base_type, sizeof a->base_type, "stored");
    if (!strcmp(kind, "lora") || !strcmp(kind, "qlora")) a->kind = ET_ADAPTER_IO_LORA;
    else if (!strcmp(kind, "ia3")) a->kind = ET_ADAPTER_IO_IA3;
    else if (!strcmp(kind, "prompt")) a->kind = ET_ADAPTER_IO_PROMPT;
    else {
        snprintf(err, errlen, "%s: edgetune.adapter.kind '%s' is not lora, qlora, ia3 or prompt%s", fn, kind,
                 strcmp(kind, "full") ? "" : " (a full fine-tune is a whole model, not an adapter)");
        return -1;
    }
    snprintf(a->method, sizeof a->method, "%.15s", kind);
    int64_t n = et_gguf_n_tensors(g);
    if (n > ET_ADAPTER_MAX_TENSORS) {
        snprintf(err, errlen, "%s: %lld tensors (at most %d in an adapter)", fn, (long long)n, ET_ADAPTER_MAX_TENSORS);
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        const et_gguf_tensor *t = et_gguf_tensor_at(g, i);
        const et_type_traits *tr = et_type_get(t->type);
        if (t->type == ET_NF4 || t->type == ET_I32 || t->type == ET_Q8_K || !tr->to_f32) {
            snprintf(err, errlen, "%s: tensor %s has type %s; adapters hold float tensors", fn, t->name, tr->name);
            goto fail;
        }
        if (t->ne[2] != 1 || t->ne[3] != 1 || t->n_dims < 1) {
            snprintf(err, errlen, "%s: tensor %s has %d dims; adapter tensors have 1 or 2", fn, t->name, t->n_dims);
            goto fail;
        }
        et_adapter_tensor *at = et__push(a, t->name, t->ne[1] > 1 || t->n_dims == 2 ? 2 : 1, t->ne);
        if (!at) {
            snprintf(err, errlen, "%s: tensor %s [%lld, %lld]: duplicate, too large or out of memory", fn, t->name,
                     (long long)t->ne[0], (long long)t->ne[1]);
            goto fail;
        }
        if ((uintptr_t)t->data % 4 == 0) tr->to_f32(t->data, at->data, at->ne[0] * at->ne[1]);
        else {   /* a file with general.alignment < 4: convert from an aligned copy */
            void *tmp = malloc(t->nbytes);
            if (!tmp) { snprintf(err, errlen, "%s: tensor %s: out of memory", fn, t->name); goto fail; }
            memcpy(tmp, t->data, t->nbytes);
            tr->to_f32(tmp, at->data, at->ne[0] * at->ne[1]);
            free(tmp);
        }
        int layer, mod, part;
        if (et_adapter_parse_name(t->name, &layer, &mod, &part) && part < 2) at->n_dims = 2;   /* rank-1 A is [in, 1] */
    }
    uint32_t u = 0;
    if (a->kind == ET_ADAPTER_IO_LORA) {
        /* rank: from the file's key if any, else from the first B (llama.cpp stores none) */
        for (int64_t i = 0; i < a->n && !a->rank; i++) {
            int layer, mod, part;
            if (et_adapter_parse_name(a->t[i].name, &layer, &mod, &part) && part == 1 && a->t[i].ne[0] <= INT32_MAX)
                a->rank = (int32_t)a->t[i].ne[0];
        }
        if (native) {
            if (et_gguf_get_u32(g, "edgetune.adapter.rank", &u, err, errlen)) goto fail;
            if ((int64_t)u != a->rank) {
                snprintf(err, errlen, "%s: edgetune.adapter.rank %u disagrees with the tensors' rank %d", fn, u, a->rank);
                goto fail;
            }
            if (et_gguf_get_f32(g, "edgetune.adapter.alpha", &a->alpha, err, errlen)) goto fail;
        } else {
            /* llama.cpp: alpha 0 (or absent) means scale 1, i.e. alpha = rank */
            a->alpha = 0;
            if (et_gguf_get_f32(g, "adapter.lora.alpha", &a->alpha, err, errlen) < 0) goto fail;
            if (a->alpha == 0) a->alpha = (float)a->rank;
        }
        for (int64_t i = 0; i < a->n; i++) {
            int layer, mod, part;
            if (et_adapter_parse_name(a->t[i].name, &layer, &mod, &part)) a->targets |= 1u << mod;
        }
    } else if (a->kind == ET_ADAPTER_IO_PROMPT) {
        if (et_gguf_get_u32(g, "edgetune.adapter.n_prompt", &u, err, errlen)) goto fail;
        a->n_prompt = u > 1u << 20 ? -1 : (int32_t)u;
    }
    if (et_adapter_check(a, fn, err, errlen)) goto fail;
    return 0;
fail:
    et_adapter_free(a);
    return -1;
}

static void et__gguf_tensors(const et_adapter *a, et_gguf_writer *w, int type, void **bufs) {
    for (int64_t i = 0; i < a->n; i++) {
        const et_adapter_tensor *t = &a->t[i];
        int64_t n = t->ne[0] * t->ne[1];
        if (type == ET_F32) {
            et_gguf_writer_add_tensor(w, t->name, ET_F32, t->n_dims, t->ne, t->data, (size_t)n * 4);
            continue;
        }
        uint16_t *h = bufs[i] = malloc((size_t)n * 2);
        if (!h) { et_gguf_writer_add_tensor(w, t->name, ET_F16, t->n_dims, t->ne, NULL, 1); continue; }
        for (int64_t j = 0; j < n; j++) h[j] = et_fp32_to_fp16(t->data[j]);
        et_gguf_writer_add_tensor(w, t->name, ET_F16, t->n_dims, t->ne, h, (size_t)n * 2);
    }
}

static int et__write_gguf(const et_adapter *a, const char *arch, bool native, int type, const char *path, char *err,
                          size_t errlen) {
    if (et_adapter_check(a, path, err, errlen)) return -1;
    et_gguf_writer *w = et_gguf_writer_new();
    void **bufs = calloc((size_t)a->n, sizeof *bufs);
    if (!w || !bufs) { et_gguf_writer_free(w); free(bufs); snprintf(err, errlen, "%s: out of memory", path); return -1; }
    et_gguf_writer_set_str(w, "general.architecture", arch && *arch ? arch : "llama");
    et_gguf_writer_set_str(w, "general.type", "adapter");
    if (a->kind == ET_ADAPTER_IO_LORA) {
        et_gguf_writer_set_str(w, "adapter.type", "lora");
        et_gguf_writer_set_f32(w, "adapter.lora.alpha", a->alpha);
    }
    if (native) {
        char targets[64];
        et__targets_str(a->targets, targets, sizeof targets);
        const char *kind = a->method[0] ? a->method : a->kind == ET_ADAPTER_IO_LORA ? "lora"
                                                      : a->kind == ET_ADAPTER_IO_IA3 ? "ia3" : "prompt";
        et_gguf_writer_set_u32(w, "edgetune.adapter.version", ET_ADAPTER_VERSION);
        et_gguf_writer_set_str(w, "edgetune.adapter.kind", kind);
        et_gguf_writer_set_str(w, "edgetune.adapter.base_type", a->base_type[0] ? a->base_type : "stored");
        et_gguf_writer_set_u32(w, "edgetune.adapter.rank", (uint32_t)a->rank);
        et_gguf_writer_set_f32(w, "edgetune.adapter.alpha", a->alpha);
        et_gguf_writer_set_str(w, "edgetune.adapter.targets", targets);
        et_gguf_writer_set_u32(w, "edgetune.adapter.n_prompt", (uint32_t)a->n_prompt);
    }
    et__gguf_tensors(a, w, type, bufs);
    int rc = et_gguf_writer_write(w, path, err, errlen);
    et_gguf_writer_free(w);
    for (int64_t i = 0; i < a->n; i++) free(bufs[i]);
    free(bufs);
    return rc ? -1 : 0;
}

int et_adapter_save(const et_adapter *a, const char *arch, const char *path, char *err, size_t errlen) {
    return et__write_gguf(a, arch, true, ET_F32, path, err, errlen);
}

int et_adapter_export_llamacpp(const et_adapter *a, const char *arch, int type, const char *path, char *err,
                               size_t errlen) {
    if (a->kind != ET_ADAPTER_IO_LORA) {
        snprintf(err, errlen, "%s: llama.cpp loads LoRA adapters only (this one is %s)", path, a->method);
        return -1;
    }
    if (type != ET_F32 && type != ET_F16) {
        snprintf(err, errlen, "%s: llama.cpp adapters are exported in f32 or f16, not %s", path,
                 type >= 0 && type < ET_TYPE_COUNT ? et_type_get((et_type)type)->name : "?");
        return -1;
    }
    return et__write_gguf(a, arch, false, type, path, err, errlen);
}

/* ---------------------------------------------------------------- PEFT */

/* Rows of q/k outputs between GGUF's interleaved rope pairs and HF's rotate-half order:
 * GGUF row h·hd + 2i + j  <->  HF row h·hd + j·hd/2 + i.  `to_hf` picks the direction. */
static void et__permute_rows(float *x, int64_t rows, int64_t row_len, int64_t hd, bool to_hf, float *tmp) {
    memcpy(tmp, x, (size_t)(rows * row_len) * sizeof *x);
    for (int64_t h = 0; h < rows / hd; h++)
        for (int64_t i = 0; i < hd / 2; i++)
            for (int64_t j = 0; j < 2; j++) {
                int64_t g = h * hd + 2 * i + j, f = h * hd + j * (hd / 2) + i;
                memcpy(x + (to_hf ? f : g) * row_len, tmp + (to_hf ? g : f) * row_len, (size_t)row_len * sizeof *x);
            }
}

/* Whether module `mod`'s output rows need the q/k permutation; checks the row count. */
static int et__needs_perm(const et_adapter_layout *lay, int mod, int64_t rows, const char *what, const char *tname,
                          char *err, size_t errlen) {
    if (!lay || !lay->permute_qk || (mod != M_Q && mod != M_K)) return 0;
    int64_t heads = mod == M_Q ? lay->n_heads : lay->n_kv_heads;
    if (lay->head_dim < 2 || lay->head_dim % 2 || heads < 1 || rows != heads * lay->head_dim) {
        snprintf(err, errlen, "%s: %s has %lld output rows; the model's %s has %lld heads of %d", what, tname,
                 (long long)rows, mod == M_Q ? "q" : "k", (long long)heads, lay->head_dim);
        return -1;
    }
    return 1;
}

static int et__write_text(const char *path, const char *text, char *err, size_t errlen) {
    et_atomic_file f;
    if (et_atomic_begin(&f, path, err, errlen)) return -1;
    bool ok = fputs(text, f.f) >= 0 && fputc('\n', f.f) != EOF;
    return et_atomic_end(&f, ok, err, errlen);
}

int et_adapter_export_peft(const et_adapter *a, const et_adapter_layout *lay, const char *base_name,
                           const char *dir, char *err, size_t errlen) {
    if (et_adapter_check(a, dir, err, errlen)) return -1;
    if (mkdir(dir, 0777) && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create the directory: %s", dir, strerror(errno));
        return -1;
    }
    et_st_writer *w = et_st_writer_new();
    float **own = calloc((size_t)a->n, sizeof *own);
    cJSON *cfg = cJSON_CreateObject(), *mods = cJSON_CreateArray();
    int rc = -1;
    if (!w || !own || !cfg || !mods) { snprintf(err, errlen, "%s: out of memory", dir); goto done; }
    for (int64_t i = 0; i < a->n; i++) {
        const et_adapter_tensor *t = &a->t[i];
        char key[192];
        int layer = 0, mod = 0, part = 0;
        const float *data = t->data;
        int64_t shape[2];
        if (a->kind == ET_ADAPTER_IO_PROMPT) {
            snprintf(key, sizeof key, "prompt_embeddings");
            shape[0] = t->ne[1]; shape[1] = t->ne[0];
        } else {
            et_adapter_parse_name(t->name, &layer, &mod, &part);   /* checked above */
            const char *blk = mod <= M_O ? "self_attn" : "mlp";
            if (part == 2) {
                bool ff = mod == M_UP;   /* up's output scale == down_proj's input scale */
                snprintf(key, sizeof key, ET__PEFT_PREFIX "%d.%s.%s.ia3_l", layer, blk,
                         et_adapter_peft_names[ff ? M_DOWN : mod]);
                shape[0] = ff ? 1 : t->ne[0]; shape[1] = ff ? t->ne[0] : 1;
            } else {
                snprintf(key, sizeof key, ET__PEFT_PREFIX "%d.%s.%s.lora_%c.weight", layer, blk,
                         et_adapter_peft_names[mod], part ? 'B' : 'A');
                shape[0] = t->ne[1]; shape[1] = t->ne[0];   /* torch order */
            }
            int64_t rows = part == 0 ? 0 : part == 1 ? t->ne[1] : t->ne[0];
            int p = part ? et__needs_perm(lay, mod, rows, dir, t->name, err, errlen) : 0;
            if (p < 0) goto done;
            if (p) {
                int64_t n = t->ne[0] * t->ne[1], len = part == 1 ? t->ne[0] : 1;
                float *tmp = malloc((size_t)n * sizeof *tmp);
                own[i] = malloc((size_t)n * sizeof *tmp);
                if (!tmp || !own[i]) { free(tmp); snprintf(err, errlen, "%s: out of memory", dir); goto done; }
                memcpy(own[i], t->data, (size_t)n * sizeof *tmp);
                et__permute_rows(own[i], rows, len, lay->head_dim, true, tmp);
                free(tmp);
                data = own[i];
            }
        }
        et_st_writer_add(w, key, ET_ST_F32, 2, shape, data, (size_t)(t->ne[0] * t->ne[1]) * sizeof(float));
    }
    cJSON_AddStringToObject(cfg, "task_type", "CAUSAL_LM");
    if (base_name) cJSON_AddStringToObject(cfg, "base_model_name_or_path", base_name);
    else cJSON_AddNullToObject(cfg, "base_model_name_or_path");
    cJSON_AddBoolToObject(cfg, "inference_mode", true);
    if (a->kind == ET_ADAPTER_IO_LORA) {
        cJSON_AddStringToObject(cfg, "peft_type", "LORA");
        cJSON_AddNumberToObject(cfg, "r", a->rank);
        cJSON_AddNumberToObject(cfg, "lora_alpha", a->alpha);
        cJSON_AddNumberToObject(cfg, "lora_dropout", 0.0);
        cJSON_AddStringToObject(cfg, "bias", "none");
        cJSON_AddBoolToObject(cfg, "fan_in_fan_out", false);
        cJSON_AddBoolToObject(cfg, "use_rslora", false);
        cJSON_AddBoolToObject(cfg, "init_lora_weights", true);
        cJSON_AddNullToObject(cfg, "modules_to_save");
        for (int m = 0; m < 7; m++)
            if (a->targets & (1u << m)) cJSON_AddItemToArray(mods, cJSON_CreateString(et_adapter_peft_names[m]));
    } else if (a->kind == ET_ADAPTER_IO_IA3) {
        cJSON_AddStringToObject(cfg, "peft_type", "IA3");
        cJSON *ff = cJSON_AddArrayToObject(cfg, "feedforward_modules");
        if (ff) cJSON_AddItemToArray(ff, cJSON_CreateString("down_proj"));
        const char *names[3] = {"k_proj", "v_proj", "down_proj"};
        for (int m = 0; m < 3; m++) cJSON_AddItemToArray(mods, cJSON_CreateString(names[m]));
        cJSON_AddBoolToObject(cfg, "fan_in_fan_out", false);
        cJSON_AddBoolToObject(cfg, "init_ia3_weights", true);
    } else {
        cJSON_AddStringToObject(cfg, "peft_type", "PROMPT_TUNING");
        cJSON_AddNumberToObject(cfg, "num_virtual_tokens", a->n_prompt);
        cJSON_AddNumberToObject(cfg, "token_dim", (double)a->t[0].ne[0]);
        cJSON_AddNumberToObject(cfg, "num_transformer_submodules", 1);
        cJSON_AddStringToObject(cfg, "prompt_tuning_init", "RANDOM");
    }
    if (a->kind != ET_ADAPTER_IO_PROMPT) { cJSON_AddItemToObject(cfg, "target_modules", mods); mods = NULL; }
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    et_st_writer_set_meta(w, "format", "pt");
    if (et_st_writer_write(w, path, err, errlen)) goto done;
    char *text = cJSON_Print(cfg);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    if (!text) { snprintf(err, errlen, "%s: out of memory", path); goto done; }
    rc = et__write_text(path, text, err, errlen);
    free(text);
done:
    et_st_writer_free(w);
    for (int64_t i = 0; own && i < a->n; i++) free(own[i]);
    free(own);
    cJSON_Delete(cfg);
    cJSON_Delete(mods);
    return rc;
}

/* A safetensors tensor as f32 (F32, F16, BF16). */
static bool et__st_f32(const et_st_tensor *t, float *dst, int64_t n) {
    if (t->dtype == ET_ST_F32) { memcpy(dst, t->data, (size_t)n * 4); return true; }
    const uint8_t *p = t->data;   /* a safetensors header may leave the data 2-byte misaligned */
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = t->dtype == ET_ST_F16 ? et_fp16_to_fp32(h) : et_bf16_to_fp32(h);
    }
    return t->dtype == ET_ST_F16 || t->dtype == ET_ST_BF16;
}

/* Parse a PEFT key: "...layers.N.(self_attn|mlp).<proj>.<rest>"; returns rest or NULL. */
static const char *et__peft_key(const char *key, int *layer, int *mod) {
    const char *p = strstr(key, "layers.");
    if (!p) return NULL;
    p += 7;
    long l = 0;
    if (*p < '0' || *p > '9') return NULL;
    while (*p >= '0' && *p <= '9') { l = l * 10 + (*p++ - '0'); if (l >= 4096) return NULL; }
    if (*p++ != '.') return NULL;
    for (int m = 0; m < 7; m++) {
        const char *blk = m <= M_O ? "self_attn." : "mlp.";
        size_t nb = strlen(blk), nm = strlen(et_adapter_peft_names[m]);
        if (!strncmp(p, blk, nb) && !strncmp(p + nb, et_adapter_peft_names[m], nm) && p[nb + nm] == '.') {
            *layer = (int)l; *mod = m;
            return p + nb + nm + 1;
        }
    }
    return NULL;
}

static int et__json_num(const cJSON *cfg, const char *key, double lo, double hi, double *out, const char *what,
                        char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
        snprintf(err, errlen, "%s: adapter_config.json: %s is %s, expected a number in [%g, %g]", what, key,
                 !v ? "missing" : cJSON_IsNumber(v) ? "out of range" : "not a number", lo, hi);
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

int et_adapter_from_peft_memory(const char *config_json, size_t config_len, const void *stb, size_t st_len,
                                const char *name, const et_adapter_layout *lay, et_adapter *a, char *err,
                                size_t errlen) {
    memset(a, 0, sizeof *a);
    cJSON *cfg = cJSON_ParseWithLength(config_json, config_len);
    et_st *st = NULL;
    int rc = -1;
    float *tmp = NULL;
    if (!cJSON_IsObject(cfg)) { snprintf(err, errlen, "%s: adapter_config.json is not a JSON object", name); goto done; }
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(cfg, "peft_type");
    const char *ptype = cJSON_IsString(pt) ? pt->valuestring : "";
    double v = 0;
    if (!strcmp(ptype, "LORA")) {
        a->kind = ET_ADAPTER_IO_LORA;
        if (et__json_num(cfg, "r", 1, ET_ADAPTER_MAX_RANK, &v, name, err, errlen)) goto done;
        a->rank = (int32_t)v;
        if (v != a->rank) { snprintf(err, errlen, "%s: adapter_config.json: r %g is not an integer", name, v); goto done; }
        if (et__json_num(cfg, "lora_alpha", 1e-30, 1e30, &v, name, err, errlen)) goto done;
        a->alpha = (float)v;
        /* rsLoRA scales by alpha/sqrt(r): the same as alpha' = alpha·sqrt(r) over r */
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "use_rslora"))) a->alpha *= sqrtf((float)a->rank);
        const cJSON *bias = cJSON_GetObjectItemCaseSensitive(cfg, "bias");
        if (bias && !cJSON_IsNull(bias) && !(cJSON_IsString(bias) && !strcmp(bias->valuestring, "none"))) {
            snprintf(err, errlen, "%s: adapter_config.json: bias '%s' is not supported (only 'none')", name,
                     cJSON_IsString(bias) ? bias->valuestring : "?");
            goto done;
        }
        const char *unsupported[] = {"fan_in_fan_out", "use_dora"};
        for (int i = 0; i < 2; i++)
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, unsupported[i]))) {
                snprintf(err, errlen, "%s: adapter_config.json: %s = true is not supported", name, unsupported[i]);
                goto done;
            }
        const char *patterns[] = {"rank_pattern", "alpha_pattern"};
        for (int i = 0; i < 2; i++) {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(cfg, patterns[i]);
            if (p && cJSON_GetArraySize(p) > 0) {
                snprintf(err, errlen, "%s: adapter_config.json: a non-empty %s (per-module ranks or alphas) is not "
                         "supported", name, patterns[i]);
                goto done;
            }
        }
        snprintf(a->method, sizeof a->method, "lora");
    } else if (!strcmp(ptype, "IA3")) {
        a->kind = ET_ADAPTER_IO_IA3;
        snprintf(a->method, sizeof a->method, "ia3");
    } else if (!strcmp(ptype, "PROMPT_TUNING")) {
        a->kind = ET_ADAPTER_IO_PROMPT;
        snprintf(a->method, sizeof a->method, "prompt");
        if (et__json_num(cfg, "num_virtual_tokens", 1, 1 << 20, &v, name, err, errlen)) goto done;
        a->n_prompt = (int32_t)v;
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(cfg, "num_transformer_submodules");
        if (sub && !(cJSON_IsNumber(sub) && sub->valuedouble == 1)) {
            snprintf(err, errlen, "%s: adapter_config.json: num_transformer_submodules must be 1 for a causal LM", name);
            goto done;
        }
    } else {
        snprintf(err, errlen, "%s: adapter_config.json: peft_type '%.40s' is not LORA, IA3 or PROMPT_TUNING", name, ptype);
        goto done;
    }
    snprintf(a->base_type, sizeof a->base_type, "stored");
    if (et_st_open_memory(stb, st_len, name, &st, err, errlen)) goto done;
    for (int64_t i = 0; i < et_st_n_tensors(st); i++) {
        const et_st_tensor *t = et_st_tensor_at(st, i);
        int64_t rows = t->n_dims >= 1 ? t->shape[0] : 1, cols = t->n_dims == 2 ? t->shape[1] : 1;
        if (t->n_dims < 1 || t->n_dims > 2 || rows < 1 || cols < 1 ||
            (t->dtype != ET_ST_F32 && t->dtype != ET_ST_F16 && t->dtype != ET_ST_BF16)) {
            snprintf(err, errlen, "%s: tensor %s: %s with %d dims; expected a non-empty 1-D/2-D F32, F16 or BF16 tensor",
                     name, t->name, et_st_dtype_name(t->dtype), t->n_dims);
            goto done;
        }
        char tname[160];
        int64_t ne[2] = {cols, rows};   /* ggml order */
        int layer = 0, mod = 0, part = -1;
        if (a->kind == ET_ADAPTER_IO_PROMPT) {
            if (strcmp(t->name, "prompt_embeddings") || t->n_dims != 2 || rows != a->n_prompt) {
                snprintf(err, errlen, "%s: tensor %s: expected prompt_embeddings [%d, dim]", name, t->name, a->n_prompt);
                goto done;
            }
            snprintf(tname, sizeof tname, "soft_prompt");
        } else {
            const char *rest = et__peft_key(t->name, &layer, &mod);
            if (rest && a->kind == ET_ADAPTER_IO_LORA)
                part = !strcmp(rest, "lora_A.weight") ? 0 : !strcmp(rest, "lora_B.weight") ? 1 : -1;
            else if (rest && !strcmp(rest, "ia3_l") && (mod == M_K || mod == M_V || mod == M_DOWN)) part = 2;
            if (part < 0 || (lay && layer >= lay->n_layers)) {
                snprintf(err, errlen, "%s: tensor %s is not a supported %s tensor of layers 0..%d (%s)", name, t->name,
                         ptype, lay ? lay->n_layers - 1 : 4095,
                         a->kind == ET_ADAPTER_IO_LORA ? "q/k/v/o/gate/up/down_proj lora_A/lora_B"
                                                       : "k_proj, v_proj or down_proj ia3_l");
                goto done;
            }
            if (part == 2) {   /* [out, 1] for k/v, [1, in] for down (feed-forward) */
                bool ff = mod == M_DOWN;
                if ((ff ? rows : cols) != 1) {
                    snprintf(err, errlen, "%s: tensor %s has shape [%lld, %lld]; IA3 vectors are %s", name, t->name,
                             (long long)rows, (long long)cols, ff ? "[1, in]" : "[out, 1]");
                    goto done;
                }
                ne[0] = ff ? cols : rows; ne[1] = 1;
                if (ff) mod = M_UP;
                snprintf(tname, sizeof tname, "blk.%d.%s.ia3", layer, et_adapter_module_names[mod]);
            } else {
                snprintf(tname, sizeof tname, "blk.%d.%s.weight.lora_%c", layer, et_adapter_module_names[mod],
                         part ? 'b' : 'a');
                a->targets |= 1u << mod;
            }
        }
        et_adapter_tensor *at = et__push(a, tname, 2, ne);
        if (!at) {
            snprintf(err, errlen, "%s: tensor %s: duplicate, too large or out of memory", name, t->name);
            goto done;
        }
        if (part == 2 || a->kind == ET_ADAPTER_IO_PROMPT) at->n_dims = part == 2 ? 1 : 2;
        et__st_f32(t, at->data, ne[0] * ne[1]);
        int64_t prow = part == 1 ? ne[1] : ne[0];
        int p = part >= 1 ? et__needs_perm(lay, mod, prow, name, t->name, err, errlen) : 0;
        if (p < 0) goto done;
        if (p) {
            free(tmp);
            if (!(tmp = malloc((size_t)(ne[0] * ne[1]) * sizeof *tmp))) {
                snprintf(err, errlen, "%s: out of memory", name);
                goto done;
            }
            et__permute_rows(at->data, prow, part == 1 ? ne[0] : 1, lay->head_dim, false, tmp);
        }
    }
    rc = et_adapter_check(a, name, err, errlen);
done:
    free(tmp);
    if (rc) et_adapter_free(a);
    et_st_close(st);
    cJSON_Delete(cfg);
    return rc;
}

/* ---------------------------------------------------------------- any file */

int et_adapter_load(const char *path, const et_adapter_layout *lay, et_adapter *a, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    struct stat sb;
    size_t n = strlen(path);
    bool is_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    bool is_st = n >= 12 && !strcmp(path + n - 12, ".safetensors");
    if (!is_dir && !is_st) {
        et_gguf *g;
        if (et_gguf_open(path, &g, err, errlen)) return -1;
        int rc = et_adapter_from_gguf(g, a, err, errlen);
        et_gguf_close(g);
        return rc;
    }
    if (!lay) { snprintf(err, errlen, "%s: a PEFT adapter needs the base model's shape", path); return -1; }
    char dir[4096], cfg_path[4200], st_path[4200];
    snprintf(dir, sizeof dir, "%s", path);
    if (!is_dir) {
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
        snprintf(st_path, sizeof st_path, "%s", path);
    } else {
        snprintf(st_path, sizeof st_path, "%s/adapter_model.safetensors", dir);
    }
    snprintf(cfg_path, sizeof cfg_path, "%s/adapter_config.json", dir);
    et_filemap cm = {0}, sm = {0};
    if (et_filemap_open(cfg_path, &cm, err, errlen)) return -1;
    if (et_filemap_open(st_path, &sm, err, errlen)) { et_filemap_close(&cm); return -1; }
    int rc = et_adapter_from_peft_memory((const char *)cm.data, cm.size, sm.data, sm.size, st_path, lay, a, err, errlen);
    et_filemap_close(&cm);
    et_filemap_close(&sm);
    return rc;
}
