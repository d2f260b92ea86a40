/* The GGUF v3 writer (API in gguf.h).
 *
 * A writer collects metadata values (deep copies, in the order first set) and tensor records
 * (a reference to the caller's bytes, an owned copy, or a fill callback), then writes the
 * whole file in one pass: header, metadata, tensor infos with offsets laid out at the
 * alignment, padding, tensor data.  The file appears atomically: it is written to a temporary
 * file in the same directory, fsync'ed and renamed over the target, so a crash or an error
 * never leaves a half-written model where a good one was.
 *
 * Setters record the first error instead of returning one, so that building a file reads as
 * a flat list of calls with one check at the end (et_gguf_writer_write).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fileio.h"
#include "gguf.h"

#define ET__NF4_DOC                                                                          \
    "NF4 (QLoRA 4-bit NormalFloat, double-quantized like bitsandbytes), tensor type id 1024. " \
    "A tensor is its rows of 33-byte blocks of 64 elements {u8 absmax_q; u8 qs[32]} (element " \
    "2j in the high nibble of qs[j], 2j+1 in the low), then ceil(nblocks/256) f32 group "      \
    "scales, then one f32 offset. absmax = dyn8[absmax_q] * scale[block/256] + offset (dyn8: " \
    "bitsandbytes' signed dynamic 8-bit map); x = nf4_code[nibble] * absmax. Defined by "       \
    "edgetune kernels/quant.h."

typedef struct { char *key; et_gguf_value value; } et__wkv;

typedef struct {
    char           *name;
    et_type         type;
    int             n_dims;
    int64_t         ne[ET_GGUF_MAX_DIMS];
    size_t          nbytes;
    const void     *data;
    void           *owned;
    et_gguf_fill_fn fill;
    void           *ctx;
} et__wtensor;

struct et_gguf_writer {
    et__wkv     *kv;
    size_t       n_kv, cap_kv;
    et__wtensor *t;
    size_t       n_t, cap_t;
    bool         failed;
    char         err[512];
};

__attribute__((format(printf, 2, 3)))
static void et__werr(et_gguf_writer *w, const char *fmt, ...) {
    if (w->failed) return;   /* keep the first error */
    w->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
}

static bool et__grow(void **p, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return true;
    size_t nc = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, nc * elem);
    if (!q) return false;
    *p = q;
    *cap = nc;
    return true;
}

/* ---- values: deep copy and free ---- */

static void et__vfree(et_gguf_value *v) {
    if (v->type == ET_GGUF_STR) {
        free((void *)v->v.str.ptr);
    } else if (v->type == ET_GGUF_ARR) {
        const et_gguf_array *a = &v->v.arr;
        if (a->type == ET_GGUF_STR) {
            const et_gguf_str *s = a->data;
            for (uint64_t i = 0; i < a->n; i++) free((void *)s[i].ptr);
        } else if (a->type == ET_GGUF_ARR) {
            et_gguf_value *e = (et_gguf_value *)a->data;
            for (uint64_t i = 0; i < a->n; i++) et__vfree(&e[i]);
        }
        free((void *)a->data);
    }
    v->type = ET_GGUF_U8;
}

static size_t et__elem_size(et_gguf_vtype t) {   /* native size in et_gguf_array.data */
    switch (t) {
    case ET_GGUF_U8: case ET_GGUF_I8: case ET_GGUF_BOOL: return 1;
    case ET_GGUF_U16: case ET_GGUF_I16: return 2;
    case ET_GGUF_U32: case ET_GGUF_I32: case ET_GGUF_F32: return 4;
    case ET_GGUF_U64: case ET_GGUF_I64: case ET_GGUF_F64: return 8;
    case ET_GGUF_STR: return sizeof(et_gguf_str);
    case ET_GGUF_ARR: return sizeof(et_gguf_value);
    default: return 0;
    }
}

static char *et__memdup0(const char *p, uint64_t n) {
    char *d = malloc((size_t)n + 1);
    if (d) {
        if (n) memcpy(d, p, (size_t)n);
        d[n] = 0;
    }
    return d;
}

/* Copy src into dst; on failure dst is left freeable and a message is in why. */
static int et__vcopy(et_gguf_value *dst, const et_gguf_value *src, int depth, char *why,
                     size_t wl) {
    dst->type = ET_GGUF_U8;
    if ((int)src->type < 0 || src->type >= ET_GGUF_VTYPE_COUNT) {
        snprintf(why, wl, "value type %d is not a GGUF type", (int)src->type);
        return -1;
    }
    if (src->type == ET_GGUF_STR) {
        if (src->v.str.len > ET_GGUF_MAX_STR_LEN || (src->v.str.len && !src->v.str.ptr)) {
            snprintf(why, wl, "string of length %llu is invalid",
                     (unsigned long long)src->v.str.len);
            return -1;
        }
        char *d = et__memdup0(src->v.str.ptr, src->v.str.len);
        if (!d) return snprintf(why, wl, "out of memory"), -1;
        dst->type = ET_GGUF_STR;
        dst->v.str.ptr = d;
        dst->v.str.len = src->v.str.len;
        return 0;
    }
    if (src->type != ET_GGUF_ARR) {
        *dst = *src;
        return 0;
    }
    const et_gguf_array *a = &src->v.arr;
    size_t es = et__elem_size(a->type);
    if (depth >= ET_GGUF_MAX_ARRAY_DEPTH) {
        snprintf(why, wl, "arrays nested deeper than %d", ET_GGUF_MAX_ARRAY_DEPTH);
        return -1;
    }
    if (!es || a->n > SIZE_MAX / es / 2 || (a->n && !a->data)) {
        snprintf(why, wl, "array of %llu elements of type %d is invalid",
                 (unsigned long long)a->n, (int)a->type);
        return -1;
    }
    void *d = calloc(a->n ? (size_t)a->n : 1, es);
    if (!d) return snprintf(why, wl, "out of memory"), -1;
    dst->type = ET_GGUF_ARR;
    dst->v.arr.type = a->type;
    dst->v.arr.n = 0;                 /* counts elements copied so far, for et__vfree */
    dst->v.arr.data = d;
    if (a->type == ET_GGUF_STR) {
        const et_gguf_str *s = a->data;
        et_gguf_str *o = d;
        for (uint64_t i = 0; i < a->n; i++, dst->v.arr.n++) {
            if (s[i].len > ET_GGUF_MAX_STR_LEN || (s[i].len && !s[i].ptr))
                return snprintf(why, wl, "array string %llu is invalid", (unsigned long long)i), -1;
            o[i].ptr = et__memdup0(s[i].ptr, s[i].len);
            o[i].len = s[i].len;
            if (!o[i].ptr) return snprintf(why, wl, "out of memory"), -1;
        }
    } else if (a->type == ET_GGUF_ARR) {
        const et_gguf_value *s = a->data;
        et_gguf_value *o = d;
        for (uint64_t i = 0; i < a->n; i++, dst->v.arr.n++) {
            if (s[i].type != ET_GGUF_ARR)
                return snprintf(why, wl, "element %llu of an array of arrays has type %s",
                                (unsigned long long)i, et_gguf_vtype_name(s[i].type)), -1;
            if (et__vcopy(&o[i], &s[i], depth + 1, why, wl)) {
                dst->v.arr.n++;
                return -1;
            }
        }
    } else {
        if (a->n) memcpy(d, a->data, (size_t)a->n * es);
        dst->v.arr.n = a->n;
        if (a->type == ET_GGUF_BOOL)
            for (uint64_t i = 0; i < a->n; i++)
                if (((uint8_t *)d)[i] > 1)
                    return snprintf(why, wl, "bool array element %llu is not 0/1",
                                    (unsigned long long)i), -1;
    }
    return 0;
}

/* ---- the writer ---- */

et_gguf_writer *et_gguf_writer_new(void) { return calloc(1, sizeof(et_gguf_writer)); }

void et_gguf_writer_free(et_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        et__vfree(&w->kv[i].value);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].owned);
    }
    free(w->kv);
    free(w->t);
    free(w);
}

static et__wkv *et__wfind(et_gguf_writer *w, const char *key) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) return &w->kv[i];
    return NULL;
}

void et_gguf_writer_set_value(et_gguf_writer *w, const char *key, const et_gguf_value *v) {
    if (!w || w->failed) return;
    size_t kl = key ? strlen(key) : 0;
    if (kl == 0 || kl > ET_GGUF_MAX_KEY_LEN) {
        et__werr(w, "key '%.100s' has length %zu, must be 1..%u", key ? key : "(null)", kl,
                 ET_GGUF_MAX_KEY_LEN);
        return;
    }
    et_gguf_value copy;
    char why[200];
    if (et__vcopy(&copy, v, 0, why, sizeof why)) {
        et__vfree(&copy);
        et__werr(w, "key '%s': %s", key, why);
        return;
    }
    et__wkv *kv = et__wfind(w, key);
    if (kv) {
        et__vfree(&kv->value);
        kv->value = copy;
        return;
    }
    char *k = strdup(key);
    if (!k || !et__grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv)) {
        free(k);
        et__vfree(&copy);
        et__werr(w, "key '%s': out of memory", key);
        return;
    }
    w->kv[w->n_kv++] = (et__wkv){ .key = k, .value = copy };
}

#define ET__SETTER(fn, T, VT, field)                                                        \
    void fn(et_gguf_writer *w, const char *key, T x) {                                     \
        et_gguf_value v = { .type = VT };                                                   \
        v.v.field = x;                                                                      \
        et_gguf_writer_set_value(w, key, &v);                                               \
    }
ET__SETTER(et_gguf_writer_set_u8, uint8_t, ET_GGUF_U8, u8)
ET__SETTER(et_gguf_writer_set_i8, int8_t, ET_GGUF_I8, i8)
ET__SETTER(et_gguf_writer_set_u16, uint16_t, ET_GGUF_U16, u16)
ET__SETTER(et_gguf_writer_set_i16, int16_t, ET_GGUF_I16, i16)
ET__SETTER(et_gguf_writer_set_u32, uint32_t, ET_GGUF_U32, u32)
ET__SETTER(et_gguf_writer_set_i32, int32_t, ET_GGUF_I32, i32)
ET__SETTER(et_gguf_writer_set_u64, uint64_t, ET_GGUF_U64, u64)
ET__SETTER(et_gguf_writer_set_i64, int64_t, ET_GGUF_I64, i64)
ET__SETTER(et_gguf_writer_set_f32, float, ET_GGUF_F32, f32)
ET__SETTER(et_gguf_writer_set_f64, double, ET_GGUF_F64, f64)
ET__SETTER(et_gguf_writer_set_bool, bool, ET_GGUF_BOOL, b)

void et_gguf_writer_set_str(et_gguf_writer *w, const char *key, const char *s) {
    et_gguf_value v = { .type = ET_GGUF_STR };
    v.v.str.ptr = s ? s : "";
    v.v.str.len = strlen(v.v.str.ptr);
    et_gguf_writer_set_value(w, key, &v);
}

void et_gguf_writer_set_arr(et_gguf_writer *w, const char *key, et_gguf_vtype elem,
                            const void *data, uint64_t n) {
    et_gguf_value v = { .type = ET_GGUF_ARR };
    v.v.arr = (et_gguf_array){ .type = elem, .n = n, .data = data };
    et_gguf_writer_set_value(w, key, &v);
}

void et_gguf_writer_set_alignment(et_gguf_writer *w, uint32_t alignment) {
    et_gguf_writer_set_u32(w, ET_GGUF_KEY_ALIGNMENT, alignment);
}

static et__wtensor *et__add(et_gguf_writer *w, const char *name, et_type type, int n_dims,
                            const int64_t *ne) {
    if (!w || w->failed) return NULL;
    size_t nl = name ? strlen(name) : 0;
    if (nl == 0 || nl > ET_GGUF_MAX_NAME_LEN) {
        et__werr(w, "tensor name '%.100s' has length %zu, must be 1..%u",
                 name ? name : "(null)", nl, ET_GGUF_MAX_NAME_LEN);
        return NULL;
    }
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) {
            et__werr(w, "tensor '%s' added twice", name);
            return NULL;
        }
    if (et__gguf_type_id(type) < 0) {
        et__werr(w, "tensor '%s': type %d has no GGUF type id", name, (int)type);
        return NULL;
    }
    et__wtensor t = { .type = type, .n_dims = n_dims };
    for (int d = 0; d < ET_GGUF_MAX_DIMS; d++) t.ne[d] = d < n_dims && ne ? ne[d] : 1;
    char why[200];
    t.nbytes = et__gguf_tensor_nbytes(type, n_dims, t.ne, why, sizeof why);
    if (!t.nbytes) {
        et__werr(w, "tensor '%s': %s", name, why);
        return NULL;
    }
    t.name = strdup(name);
    if (!t.name || !et__grow((void **)&w->t, &w->cap_t, w->n_t, sizeof *w->t)) {
        free(t.name);
        et__werr(w, "tensor '%s': out of memory", name);
        return NULL;
    }
    if (type == ET_NF4 && !et__wfind(w, ET_GGUF_KEY_NF4))
        et_gguf_writer_set_str(w, ET_GGUF_KEY_NF4, ET__NF4_DOC);
    w->t[w->n_t] = t;
    return &w->t[w->n_t++];
}

static bool et__size_ok(et_gguf_writer *w, et__wtensor *t, const void *data, size_t nbytes) {
    if (nbytes != t->nbytes || !data) {
        et__werr(w, "tensor '%s': %zu bytes given, its shape and type need %zu", t->name,
                 nbytes, t->nbytes);
        return false;
    }
    return true;
}

void et_gguf_writer_add_tensor(et_gguf_writer *w, const char *name, et_type type, int n_dims,
                               const int64_t *ne, const void *data, size_t nbytes) {
    et__wtensor *t = et__add(w, name, type, n_dims, ne);
    if (t && et__size_ok(w, t, data, nbytes)) t->data = data;
}

void et_gguf_writer_add_tensor_copy(et_gguf_writer *w, const char *name, et_type type,
                                    int n_dims, const int64_t *ne, const void *data,
                                    size_t nbytes) {
    et__wtensor *t = et__add(w, name, type, n_dims, ne);
    if (!t || !et__size_ok(w, t, data, nbytes)) return;
    t->owned = malloc(nbytes);
    if (!t->owned) {
        et__werr(w, "tensor '%s': out of memory copying %zu bytes", name, nbytes);
        return;
    }
    memcpy(t->owned, data, nbytes);
    t->data = t->owned;
}

void et_gguf_writer_add_tensor_fill(et_gguf_writer *w, const char *name, et_type type,
                                    int n_dims, const int64_t *ne, et_gguf_fill_fn fill,
                                    void *ctx) {
    et__wtensor *t = et__add(w, name, type, n_dims, ne);
    if (!t) return;
    if (!fill) {
        et__werr(w, "tensor '%s': no fill function", name);
        return;
    }
    t->fill = fill;
    t->ctx = ctx;
}

/* ---- serialization ---- */

typedef struct { FILE *f; uint64_t pos; bool io_error; } et__out;

static void et__put(et__out *o, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, o->f) != n) o->io_error = true;
    o->pos += n;
}
static void et__put_u32(et__out *o, uint32_t v) { et__put(o, &v, 4); }
static void et__put_u64(et__out *o, uint64_t v) { et__put(o, &v, 8); }
static void et__put_str(et__out *o, const char *p, uint64_t n) {
    et__put_u64(o, n);
    et__put(o, p, (size_t)n);
}
static void et__pad(et__out *o, uint32_t align) {
    static const uint8_t zeros[256];
    uint64_t n = (align - o->pos % align) % align;
    while (n) {
        size_t k = n > sizeof zeros ? sizeof zeros : (size_t)n;
        et__put(o, zeros, k);
        n -= k;
    }
}

static void et__put_value(et__out *o, const et_gguf_value *v) {
    switch (v->type) {
    case ET_GGUF_STR: et__put_str(o, v->v.str.ptr, v->v.str.len); break;
    case ET_GGUF_ARR: {
        const et_gguf_array *a = &v->v.arr;
        et__put_u32(o, (uint32_t)a->type);
        et__put_u64(o, a->n);
        if (a->type == ET_GGUF_STR) {
            const et_gguf_str *s = a->data;
            for (uint64_t i = 0; i < a->n; i++) et__put_str(o, s[i].ptr, s[i].len);
        } else if (a->type == ET_GGUF_ARR) {
            const et_gguf_value *e = a->data;
            for (uint64_t i = 0; i < a->n; i++) et__put_value(o, &e[i]);
        } else {
            et__put(o, a->data, (size_t)a->n * et__elem_size(a->type));
        }
        break;
    }
    case ET_GGUF_BOOL: { uint8_t b = v->v.b; et__put(o, &b, 1); break; }
    default: et__put(o, &v->v, et__elem_size(v->type)); break;   /* little-endian host */
    }
}

static int et__emit(et_gguf_writer *w, et__out *o, uint32_t align, char *err, size_t errlen,
                    const char *path) {
    et__put_u32(o, ET_GGUF_MAGIC);
    et__put_u32(o, ET_GGUF_VERSION);
    et__put_u64(o, w->n_t);
    et__put_u64(o, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        et__put_str(o, w->kv[i].key, strlen(w->kv[i].key));
        et__put_u32(o, (uint32_t)w->kv[i].value.type);
        et__put_value(o, &w->kv[i].value);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const et__wtensor *t = &w->t[i];
        et__put_str(o, t->name, strlen(t->name));
        et__put_u32(o, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) et__put_u64(o, (uint64_t)t->ne[d]);
        et__put_u32(o, (uint32_t)et__gguf_type_id(t->type));
        et__put_u64(o, off);
        off += t->nbytes;
        off += (align - off % align) % align;
    }
    et__pad(o, align);
    void *buf = NULL;
    for (size_t i = 0; i < w->n_t && !o->io_error; i++) {
        const et__wtensor *t = &w->t[i];
        if (!t->fill) {
            et__put(o, t->data, t->nbytes);
        } else {
            const size_t chunk = 1u << 20;
            if (!buf && !(buf = malloc(chunk))) {
                snprintf(err, errlen, "%s: out of memory", path);
                return -1;
            }
            for (size_t at = 0; at < t->nbytes; at += chunk) {
                size_t n = t->nbytes - at < chunk ? t->nbytes - at : chunk;
                char why[256] = "";
                if (t->fill(t->ctx, at, buf, n, why, sizeof why)) {
                    snprintf(err, errlen, "%s: tensor '%s': filling bytes at %zu failed: %s",
                             path, t->name, at, why);
                    free(buf);
                    return -1;
                }
                et__put(o, buf, n);
            }
        }
        et__pad(o, align);
    }
    free(buf);
    return 0;
}

int et_gguf_writer_write(et_gguf_writer *w, const char *path, char *err, size_t errlen) {
    if (!w) {
        snprintf(err, errlen, "%s: no writer (out of memory?)", path);
        return ET_GGUF_ERR;
    }
    if (w->failed) {
        snprintf(err, errlen, "%s: %s", path, w->err);
        return ET_GGUF_ERR;
    }
    uint32_t align = ET_GGUF_DEFAULT_ALIGNMENT;
    et__wkv *al = et__wfind(w, ET_GGUF_KEY_ALIGNMENT);
    if (al) {
        if (al->value.type != ET_GGUF_U32 || !al->value.v.u32 ||
            (al->value.v.u32 & (al->value.v.u32 - 1)) || al->value.v.u32 > ET_GGUF_MAX_ALIGNMENT) {
            snprintf(err, errlen, "%s: %s must be a power-of-two u32 <= %u", path,
                     ET_GGUF_KEY_ALIGNMENT, ET_GGUF_MAX_ALIGNMENT);
            return ET_GGUF_ERR;
        }
        align = al->value.v.u32;
    }
    et_atomic_file af;
    if (et_atomic_begin(&af, path, err, errlen)) return ET_GGUF_ERR;
    et__out o = { .f = af.f };
    int rc = et__emit(w, &o, align, err, errlen, path);
    if (!rc && o.io_error) snprintf(err, errlen, "%s: write failed", path);
    return et_atomic_end(&af, !rc && !o.io_error, err, errlen) ? ET_GGUF_ERR : ET_GGUF_OK;
}
