/* The GGUF v3 reader (the format and the API are described in gguf.h).
 *
 * Reading is one forward pass of a bounds-checked cursor over the file's bytes: header,
 * metadata, tensor infos; then the data section is located and every tensor is checked to lie
 * inside it, aligned, without overlapping another.  A number from the file is never used as a
 * size before it has been compared with the bytes that are left: a count of N elements needs
 * at least N times the smallest encoding of one element still in the file, so no allocation
 * can be larger than a small multiple of the file itself.  Values, strings and the tables live
 * in one arena freed with the handle.  Keys and tensor names are found through small
 * open-addressing hash tables (also how duplicates are caught in linear time).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fileio.h"
#include "gguf.h"

/* ==== arena ================================================================================ */

typedef struct et__chunk { struct et__chunk *next; size_t used, cap; max_align_t data[]; } et__chunk;

static void *et__arena_alloc(et__chunk **head, size_t n, size_t align) {
    et__chunk *c = *head;
    if (c) {
        size_t at = (c->used + align - 1) & ~(align - 1);
        if (at <= c->cap && n <= c->cap - at) {
            c->used = at + n;
            return (char *)c->data + at;
        }
    }
    /* Chunks grow from 16 KiB to 1 MiB, so small files cost little and big ones few mallocs. */
    size_t cap = c ? (c->cap < (1u << 20) ? c->cap * 2 : c->cap) : (16u << 10);
    if (cap > (1u << 20)) cap = 1u << 20;
    if (n > cap) cap = n;
    if (cap > SIZE_MAX - sizeof(et__chunk)) return NULL;
    et__chunk *nc = malloc(sizeof(et__chunk) + cap);
    if (!nc) return NULL;
    nc->cap = cap;
    nc->used = n;
    /* A big allocation gets its own chunk behind the current one, which stays in use. */
    if (c && n > (1u << 19)) {
        nc->next = c->next;
        c->next = nc;
    } else {
        nc->next = c;
        *head = nc;
    }
    return nc->data;
}

static void et__arena_free(et__chunk *c) {
    while (c) {
        et__chunk *n = c->next;
        free(c);
        c = n;
    }
}

/* ==== the handle =========================================================================== */

struct et_gguf {
    char           *name;
    const uint8_t  *base;
    size_t          size;
    et_filemap      file;       /* when opened from a path */
    uint32_t        alignment;
    uint64_t        data_offset;
    et_gguf_kv     *kv;
    int64_t         n_kv;
    et_gguf_tensor *tensors;
    int64_t         n_tensors;
    int64_t        *kv_slots, *t_slots;   /* hash tables of index+1, 0 = empty */
    size_t          kv_cap, t_cap;
    et__chunk      *arena;
};

static uint64_t et__hash(const char *s) {   /* FNV-1a */
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* Find `name` in a table; returns the slot (empty or matching). */
static size_t et__slot(const int64_t *slots, size_t cap, const char *name,
                       const char *(*name_of)(const et_gguf *, int64_t), const et_gguf *g) {
    size_t i = (size_t)et__hash(name) & (cap - 1);
    while (slots[i] && strcmp(name_of(g, slots[i] - 1), name) != 0) i = (i + 1) & (cap - 1);
    return i;
}
static const char *et__kv_name(const et_gguf *g, int64_t i) { return g->kv[i].key; }
static const char *et__t_name(const et_gguf *g, int64_t i) { return g->tensors[i].name; }

/* ==== the cursor =========================================================================== */

typedef struct {
    et_gguf       *g;
    const uint8_t *p;
    size_t         size, pos;
    char          *err;
    size_t         errlen;
    char           field[320];   /* what is being read, for messages: "kv[3] 'general.name'" */
} et__rd;

__attribute__((format(printf, 2, 3)))
static int et__fail(et__rd *r, const char *fmt, ...) {
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->err && r->errlen)
        snprintf(r->err, r->errlen, "%s: %s: %s", r->g->name, r->field, msg);
    return ET_GGUF_ERR;
}

static int et__need(et__rd *r, uint64_t n, const char *what) {
    if (n > r->size - r->pos)
        return et__fail(r, "%s: file truncated (needs %llu bytes at offset %zu, file is %zu)",
                        what, (unsigned long long)n, r->pos, r->size);
    return 0;
}

#define ET__RD_SCALAR(fn, T)                                                                \
    static int fn(et__rd *r, T *out, const char *what) {                                    \
        if (et__need(r, sizeof(T), what)) return ET_GGUF_ERR;                               \
        memcpy(out, r->p + r->pos, sizeof(T));                                              \
        r->pos += sizeof(T);                                                                \
        return 0;                                                                           \
    }
ET__RD_SCALAR(et__rd_u32, uint32_t)
ET__RD_SCALAR(et__rd_u64, uint64_t)

static void *et__alloc(et__rd *r, size_t n, size_t align) {
    void *p = et__arena_alloc(&r->g->arena, n ? n : 1, align);
    if (!p) et__fail(r, "out of memory allocating %zu bytes", n);
    return p;
}

/* A string of at most `cap` bytes, copied NUL-terminated into the arena.  With `c_name` it
 * must also be non-empty and free of NUL bytes (keys and tensor names are C strings). */
static int et__rd_str(et__rd *r, et_gguf_str *s, uint64_t cap, bool c_name, const char *what) {
    uint64_t len;
    if (et__rd_u64(r, &len, what)) return ET_GGUF_ERR;
    if (len > cap) return et__fail(r, "%s: length %llu exceeds the limit %llu", what,
                                   (unsigned long long)len, (unsigned long long)cap);
    if (et__need(r, len, what)) return ET_GGUF_ERR;
    if (c_name && len == 0) return et__fail(r, "%s: empty", what);
    if (c_name && memchr(r->p + r->pos, 0, len))
        return et__fail(r, "%s: contains a NUL byte", what);
    char *d = et__alloc(r, len + 1, 1);
    if (!d) return ET_GGUF_ERR;
    memcpy(d, r->p + r->pos, len);
    d[len] = 0;
    r->pos += len;
    s->ptr = d;
    s->len = len;
    return 0;
}

static size_t et__vtype_size(et_gguf_vtype t) {    /* bytes in the file, 0 for str/arr */
    switch (t) {
    case ET_GGUF_U8: case ET_GGUF_I8: case ET_GGUF_BOOL: return 1;
    case ET_GGUF_U16: case ET_GGUF_I16: return 2;
    case ET_GGUF_U32: case ET_GGUF_I32: case ET_GGUF_F32: return 4;
    case ET_GGUF_U64: case ET_GGUF_I64: case ET_GGUF_F64: return 8;
    default: return 0;
    }
}

static int et__rd_value(et__rd *r, et_gguf_vtype t, et_gguf_value *out, int depth);

static int et__rd_vtype(et__rd *r, et_gguf_vtype *t, const char *what) {
    uint32_t v;
    if (et__rd_u32(r, &v, what)) return ET_GGUF_ERR;
    if (v >= ET_GGUF_VTYPE_COUNT)
        return et__fail(r, "%s: unknown value type %u (valid: 0..12)", what, v);
    *t = (et_gguf_vtype)v;
    return 0;
}

static int et__rd_array(et__rd *r, et_gguf_array *a, int depth) {
    if (depth >= ET_GGUF_MAX_ARRAY_DEPTH)
        return et__fail(r, "arrays nested deeper than %d", ET_GGUF_MAX_ARRAY_DEPTH);
    uint64_t n;
    if (et__rd_vtype(r, &a->type, "array element type") || et__rd_u64(r, &n, "array count"))
        return ET_GGUF_ERR;
    /* Smallest encoding of one element: its size, a string's length field, or an array's
     * type + count.  N elements need N times that in what is left of the file. */
    size_t esz = et__vtype_size(a->type);
    size_t min = esz ? esz : a->type == ET_GGUF_STR ? 8 : 12;
    if (n > (r->size - r->pos) / min)
        return et__fail(r, "array count %llu of %s (at least %zu bytes each) cannot fit in "
                        "the %zu bytes left", (unsigned long long)n,
                        et_gguf_vtype_name(a->type), min, r->size - r->pos);
    a->n = n;
    if (esz) {   /* scalars: copy as a native, aligned array (host is little endian) */
        uint8_t *d = et__alloc(r, (size_t)n * esz, 8);
        if (!d) return ET_GGUF_ERR;
        memcpy(d, r->p + r->pos, (size_t)n * esz);
        if (a->type == ET_GGUF_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (d[i] > 1)
                    return et__fail(r, "bool array element %llu is %u, must be 0 or 1",
                                    (unsigned long long)i, d[i]);
        r->pos += (size_t)n * esz;
        a->data = d;
    } else if (a->type == ET_GGUF_STR) {
        et_gguf_str *s = et__alloc(r, (size_t)n * sizeof *s, _Alignof(et_gguf_str));
        if (!s) return ET_GGUF_ERR;
        for (uint64_t i = 0; i < n; i++)
            if (et__rd_str(r, &s[i], ET_GGUF_MAX_STR_LEN, false, "array string"))
                return ET_GGUF_ERR;
        a->data = s;
    } else {
        et_gguf_value *v = et__alloc(r, (size_t)n * sizeof *v, _Alignof(et_gguf_value));
        if (!v) return ET_GGUF_ERR;
        for (uint64_t i = 0; i < n; i++)
            if (et__rd_value(r, ET_GGUF_ARR, &v[i], depth + 1)) return ET_GGUF_ERR;
        a->data = v;
    }
    return 0;
}

static int et__rd_value(et__rd *r, et_gguf_vtype t, et_gguf_value *out, int depth) {
    out->type = t;
    if (t == ET_GGUF_STR) return et__rd_str(r, &out->v.str, ET_GGUF_MAX_STR_LEN, false, "string");
    if (t == ET_GGUF_ARR) return et__rd_array(r, &out->v.arr, depth);
    size_t n = et__vtype_size(t);
    if (et__need(r, n, "value")) return ET_GGUF_ERR;
    const uint8_t *p = r->p + r->pos;
    switch (t) {
    case ET_GGUF_U8:  out->v.u8 = p[0]; break;
    case ET_GGUF_I8:  memcpy(&out->v.i8, p, 1); break;
    case ET_GGUF_U16: memcpy(&out->v.u16, p, 2); break;
    case ET_GGUF_I16: memcpy(&out->v.i16, p, 2); break;
    case ET_GGUF_U32: memcpy(&out->v.u32, p, 4); break;
    case ET_GGUF_I32: memcpy(&out->v.i32, p, 4); break;
    case ET_GGUF_F32: memcpy(&out->v.f32, p, 4); break;
    case ET_GGUF_U64: memcpy(&out->v.u64, p, 8); break;
    case ET_GGUF_I64: memcpy(&out->v.i64, p, 8); break;
    case ET_GGUF_F64: memcpy(&out->v.f64, p, 8); break;
    case ET_GGUF_BOOL:
        if (p[0] > 1) return et__fail(r, "bool value is %u, must be 0 or 1", p[0]);
        out->v.b = p[0];
        break;
    default: return et__fail(r, "unknown value type %d", (int)t);
    }
    r->pos += n;
    return 0;
}

/* ==== parsing a whole file ================================================================= */

static int et__cmp_offset(const void *a, const void *b) {
    const et_gguf_tensor *x = *(const et_gguf_tensor *const *)a, *y = *(const et_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static size_t et__table_cap(int64_t n) {
    size_t cap = 16;
    while (cap < (size_t)n * 2) cap *= 2;
    return cap;
}

static int et__parse(et__rd *r) {
    et_gguf *g = r->g;
    uint32_t magic, version;
    uint64_t n_tensors, n_kv;
    snprintf(r->field, sizeof r->field, "header");
    if (et__rd_u32(r, &magic, "magic")) return ET_GGUF_ERR;
    if (magic != ET_GGUF_MAGIC)
        return et__fail(r, "magic is 0x%08x, not \"GGUF\" (0x%08x): not a GGUF file", magic,
                        ET_GGUF_MAGIC);
    if (et__rd_u32(r, &version, "version")) return ET_GGUF_ERR;
    if (version != ET_GGUF_VERSION)
        return et__fail(r, "version is %u; only GGUF version 3 is supported", version);
    if (et__rd_u64(r, &n_tensors, "tensor_count") || et__rd_u64(r, &n_kv, "metadata_kv_count"))
        return ET_GGUF_ERR;
    /* A kv is at least key length (8) + 1 key byte + type (4) + 1 value byte; a tensor info at
     * least name length (8) + 1 name byte + n_dims (4) + type (4) + offset (8). */
    size_t left = r->size - r->pos;
    if (n_kv > left / 14)
        return et__fail(r, "metadata_kv_count %llu cannot fit in the %zu bytes left",
                        (unsigned long long)n_kv, left);
    if (n_tensors > left / 25)
        return et__fail(r, "tensor_count %llu cannot fit in the %zu bytes left",
                        (unsigned long long)n_tensors, left);
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    g->kv = et__alloc(r, (size_t)n_kv * sizeof *g->kv, _Alignof(et_gguf_kv));
    g->tensors = et__alloc(r, (size_t)n_tensors * sizeof *g->tensors, _Alignof(et_gguf_tensor));
    g->kv_cap = et__table_cap(g->n_kv);
    g->t_cap = et__table_cap(g->n_tensors);
    g->kv_slots = et__alloc(r, g->kv_cap * sizeof(int64_t), 8);
    g->t_slots = et__alloc(r, g->t_cap * sizeof(int64_t), 8);
    if (!g->kv || !g->tensors || !g->kv_slots || !g->t_slots) return ET_GGUF_ERR;
    memset(g->kv_slots, 0, g->kv_cap * sizeof(int64_t));
    memset(g->t_slots, 0, g->t_cap * sizeof(int64_t));

    /* ---- metadata ---- */
    for (int64_t i = 0; i < g->n_kv; i++) {
        et_gguf_kv *kv = &g->kv[i];
        et_gguf_str key;
        et_gguf_vtype t = ET_GGUF_U8;
        snprintf(r->field, sizeof r->field, "kv[%lld]", (long long)i);
        if (et__rd_str(r, &key, ET_GGUF_MAX_KEY_LEN, true, "key")) return ET_GGUF_ERR;
        kv->key = key.ptr;
        snprintf(r->field, sizeof r->field, "kv[%lld] '%.200s'", (long long)i, key.ptr);
        size_t s = et__slot(g->kv_slots, g->kv_cap, key.ptr, et__kv_name, g);
        if (g->kv_slots[s])
            return et__fail(r, "duplicate key (first at kv[%lld])", (long long)g->kv_slots[s] - 1);
        g->kv_slots[s] = i + 1;
        if (et__rd_vtype(r, &t, "value type") || et__rd_value(r, t, &kv->value, 0))
            return ET_GGUF_ERR;
    }

    g->alignment = ET_GGUF_DEFAULT_ALIGNMENT;
    const et_gguf_value *al = et_gguf_find(g, ET_GGUF_KEY_ALIGNMENT);
    snprintf(r->field, sizeof r->field, "kv '%s'", ET_GGUF_KEY_ALIGNMENT);
    if (al) {
        if (al->type != ET_GGUF_U32)
            return et__fail(r, "type is %s, must be u32", et_gguf_vtype_name(al->type));
        uint32_t a = al->v.u32;
        if (a == 0 || (a & (a - 1)) || a > ET_GGUF_MAX_ALIGNMENT)
            return et__fail(r, "alignment %u is not a power of two in 1..%u", a,
                            ET_GGUF_MAX_ALIGNMENT);
        g->alignment = a;
    }
    bool has_nf4_key = et_gguf_find(g, ET_GGUF_KEY_NF4) != NULL;

    /* ---- tensor infos ---- */
    for (int64_t i = 0; i < g->n_tensors; i++) {
        et_gguf_tensor *t = &g->tensors[i];
        et_gguf_str name;
        uint32_t n_dims, type;
        snprintf(r->field, sizeof r->field, "tensor[%lld]", (long long)i);
        if (et__rd_str(r, &name, ET_GGUF_MAX_NAME_LEN, true, "name")) return ET_GGUF_ERR;
        t->name = name.ptr;
        snprintf(r->field, sizeof r->field, "tensor[%lld] '%s'", (long long)i, name.ptr);
        size_t s = et__slot(g->t_slots, g->t_cap, name.ptr, et__t_name, g);
        if (g->t_slots[s])
            return et__fail(r, "duplicate tensor name (first at tensor[%lld])",
                            (long long)g->t_slots[s] - 1);
        g->t_slots[s] = i + 1;
        if (et__rd_u32(r, &n_dims, "n_dims")) return ET_GGUF_ERR;
        if (n_dims > ET_GGUF_MAX_DIMS)
            return et__fail(r, "n_dims is %u, at most %d", n_dims, ET_GGUF_MAX_DIMS);
        t->n_dims = (int)n_dims;
        for (int d = 0; d < ET_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < n_dims; d++) {
            uint64_t v;
            if (et__rd_u64(r, &v, "dims")) return ET_GGUF_ERR;
            if (v == 0 || v > (uint64_t)INT64_MAX)
                return et__fail(r, "ne[%u] is %llu, must be in 1..2^63-1", d,
                                (unsigned long long)v);
            t->ne[d] = (int64_t)v;
        }
        if (et__rd_u32(r, &type, "type")) return ET_GGUF_ERR;
        t->ggml_type = (int32_t)type;
        if (type == ET_GGUF_TYPE_NF4) {
            if (!has_nf4_key)
                return et__fail(r, "type id %u is edgetune's NF4, but the file has no '%s' key",
                                type, ET_GGUF_KEY_NF4);
            t->type = ET_NF4;
        } else {
            t->type = type > (uint32_t)INT32_MAX ? ET_TYPE_COUNT : et_type_from_ggml((int32_t)type);
            if (t->type == ET_TYPE_COUNT)
                return et__fail(r, "unsupported tensor type id %u", type);
        }
        if (et__rd_u64(r, &t->offset, "offset")) return ET_GGUF_ERR;
        if (t->offset % g->alignment)
            return et__fail(r, "offset %llu is not a multiple of the alignment %u",
                            (unsigned long long)t->offset, g->alignment);
        char why[200];
        t->nbytes = et__gguf_tensor_nbytes(t->type, t->n_dims, t->ne, why, sizeof why);
        if (!t->nbytes) return et__fail(r, "%s", why);
    }

    /* ---- data section ---- */
    snprintf(r->field, sizeof r->field, "data section");
    uint64_t data = r->pos;
    if (data % g->alignment) data += g->alignment - data % g->alignment;
    g->data_offset = data;
    if (g->n_tensors == 0) return 0;
    if (data > r->size)
        return et__fail(r, "starts at offset %llu, past the end of the file (%zu bytes)",
                        (unsigned long long)data, r->size);
    uint64_t avail = r->size - data;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        et_gguf_tensor *t = &g->tensors[i];
        if (t->offset > avail || t->nbytes > avail - t->offset) {
            snprintf(r->field, sizeof r->field, "tensor[%lld] '%s'", (long long)i, t->name);
            return et__fail(r, "data [%llu, +%zu) runs past the end of the data section "
                            "(%llu bytes; file truncated?)", (unsigned long long)t->offset,
                            t->nbytes, (unsigned long long)avail);
        }
        t->file_offset = data + t->offset;
        t->data = r->p + t->file_offset;
    }
    /* No two tensors may share bytes. */
    et_gguf_tensor **by = malloc((size_t)g->n_tensors * sizeof *by);
    if (!by) return et__fail(r, "out of memory");
    for (int64_t i = 0; i < g->n_tensors; i++) by[i] = &g->tensors[i];
    qsort(by, (size_t)g->n_tensors, sizeof *by, et__cmp_offset);
    for (int64_t i = 1; i < g->n_tensors; i++)
        if (by[i - 1]->offset + by[i - 1]->nbytes > by[i]->offset) {
            int rc = et__fail(r, "tensors '%s' (offset %llu, %zu bytes) and '%s' (offset %llu) "
                              "overlap", by[i - 1]->name, (unsigned long long)by[i - 1]->offset,
                              by[i - 1]->nbytes, by[i]->name, (unsigned long long)by[i]->offset);
            free(by);
            return rc;
        }
    free(by);
    return 0;
}

static et_gguf *et__new(const char *name) {
    et_gguf *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->name = strdup(name ? name : "(memory)");
    if (!g->name) {
        free(g);
        return NULL;
    }
    return g;
}

static int et__parse_into(et_gguf *g, et_gguf **out, char *err, size_t errlen) {
    et__rd r = { .g = g, .p = g->base, .size = g->size, .err = err, .errlen = errlen };
    if (et__parse(&r)) {
        et_gguf_close(g);
        return ET_GGUF_ERR;
    }
    *out = g;
    return ET_GGUF_OK;
}

int et_gguf_open_memory(const void *data, size_t size, const char *name, et_gguf **out,
                        char *err, size_t errlen) {
    *out = NULL;
    et_gguf *g = et__new(name);
    if (!g) {
        snprintf(err, errlen, "%s: out of memory", name ? name : "(memory)");
        return ET_GGUF_ERR;
    }
    g->base = data;
    g->size = data ? size : 0;
    return et__parse_into(g, out, err, errlen);
}

int et_gguf_open(const char *path, et_gguf **out, char *err, size_t errlen) {
    *out = NULL;
    et_gguf *g = et__new(path);
    if (!g) {
        snprintf(err, errlen, "%s: out of memory", path);
        return ET_GGUF_ERR;
    }
    if (et_filemap_open(path, &g->file, err, errlen)) {
        et_gguf_close(g);
        return ET_GGUF_ERR;
    }
    g->base = g->file.data;
    g->size = g->file.size;
    return et__parse_into(g, out, err, errlen);
}

void et_gguf_close(et_gguf *g) {
    if (!g) return;
    et_filemap_close(&g->file);
    et__arena_free(g->arena);
    free(g->name);
    free(g);
}

/* ==== lookups ============================================================================== */

const char *et_gguf_name(const et_gguf *g) { return g->name; }
uint32_t et_gguf_alignment(const et_gguf *g) { return g->alignment; }
uint64_t et_gguf_data_offset(const et_gguf *g) { return g->data_offset; }
bool et_gguf_is_mapped(const et_gguf *g) { return g->file.map != NULL; }
int64_t et_gguf_n_kv(const et_gguf *g) { return g->n_kv; }
int64_t et_gguf_n_tensors(const et_gguf *g) { return g->n_tensors; }

const et_gguf_kv *et_gguf_kv_at(const et_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? &g->kv[i] : NULL;
}
const et_gguf_tensor *et_gguf_tensor_at(const et_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const et_gguf_value *et_gguf_find(const et_gguf *g, const char *key) {
    if (!g->kv_slots || !key) return NULL;
    size_t s = et__slot(g->kv_slots, g->kv_cap, key, et__kv_name, g);
    return g->kv_slots[s] ? &g->kv[g->kv_slots[s] - 1].value : NULL;
}

const et_gguf_tensor *et_gguf_tensor_find(const et_gguf *g, const char *name) {
    if (!g->t_slots || !name) return NULL;
    size_t s = et__slot(g->t_slots, g->t_cap, name, et__t_name, g);
    return g->t_slots[s] ? &g->tensors[g->t_slots[s] - 1] : NULL;
}

/* ---- typed getters ---- */

static const et_gguf_value *et__get(const et_gguf *g, const char *key, char *err, size_t errlen) {
    const et_gguf_value *v = et_gguf_find(g, key);
    if (!v) snprintf(err, errlen, "%s: key '%s' is missing", g->name, key);
    return v;
}

static int et__wrong(const et_gguf *g, const char *key, const et_gguf_value *v, const char *want,
                     char *err, size_t errlen) {
    snprintf(err, errlen, "%s: key '%s' has type %s, expected %s", g->name, key,
             et_gguf_vtype_name(v->type), want);
    return ET_GGUF_ERR;
}

/* An integer value as (negative?, magnitude-ish): returns false if v is not an integer. */
static bool et__as_int(const et_gguf_value *v, int64_t *s, uint64_t *u, bool *neg) {
    switch (v->type) {
    case ET_GGUF_U8:  *u = v->v.u8;  *neg = false; break;
    case ET_GGUF_U16: *u = v->v.u16; *neg = false; break;
    case ET_GGUF_U32: *u = v->v.u32; *neg = false; break;
    case ET_GGUF_U64: *u = v->v.u64; *neg = false; break;
    case ET_GGUF_I8:  *s = v->v.i8;  *neg = *s < 0; *u = (uint64_t)*s; break;
    case ET_GGUF_I16: *s = v->v.i16; *neg = *s < 0; *u = (uint64_t)*s; break;
    case ET_GGUF_I32: *s = v->v.i32; *neg = *s < 0; *u = (uint64_t)*s; break;
    case ET_GGUF_I64: *s = v->v.i64; *neg = *s < 0; *u = (uint64_t)*s; break;
    default: return false;
    }
    if (!*neg) *s = *u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)*u;
    return true;
}

static int et__get_int(const et_gguf *g, const char *key, int64_t lo, uint64_t hi, int64_t *s_out,
                       uint64_t *u_out, char *err, size_t errlen) {
    const et_gguf_value *v = et__get(g, key, err, errlen);
    if (!v) return ET_GGUF_MISSING;
    int64_t s = 0;
    uint64_t u = 0;
    bool neg = false;
    if (!et__as_int(v, &s, &u, &neg)) return et__wrong(g, key, v, "an integer", err, errlen);
    if ((neg && s < lo) || (!neg && u > hi)) {
        if (neg) snprintf(err, errlen, "%s: key '%s' = %lld is out of range", g->name, key,
                          (long long)s);
        else snprintf(err, errlen, "%s: key '%s' = %llu is out of range", g->name, key,
                      (unsigned long long)u);
        return ET_GGUF_ERR;
    }
    if (s_out) *s_out = s;
    if (u_out) *u_out = u;
    return ET_GGUF_OK;
}

int et_gguf_get_u32(const et_gguf *g, const char *key, uint32_t *out, char *err, size_t errlen) {
    uint64_t u;
    int rc = et__get_int(g, key, 0, UINT32_MAX, NULL, &u, err, errlen);
    if (rc == ET_GGUF_OK) *out = (uint32_t)u;
    return rc;
}
int et_gguf_get_u64(const et_gguf *g, const char *key, uint64_t *out, char *err, size_t errlen) {
    return et__get_int(g, key, 0, UINT64_MAX, NULL, out, err, errlen);
}
int et_gguf_get_i64(const et_gguf *g, const char *key, int64_t *out, char *err, size_t errlen) {
    return et__get_int(g, key, INT64_MIN, INT64_MAX, out, NULL, err, errlen);
}

int et_gguf_get_f64(const et_gguf *g, const char *key, double *out, char *err, size_t errlen) {
    const et_gguf_value *v = et__get(g, key, err, errlen);
    if (!v) return ET_GGUF_MISSING;
    if (v->type == ET_GGUF_F32) *out = v->v.f32;
    else if (v->type == ET_GGUF_F64) *out = v->v.f64;
    else return et__wrong(g, key, v, "f32 or f64", err, errlen);
    return ET_GGUF_OK;
}
int et_gguf_get_f32(const et_gguf *g, const char *key, float *out, char *err, size_t errlen) {
    double d;
    int rc = et_gguf_get_f64(g, key, &d, err, errlen);
    if (rc == ET_GGUF_OK) *out = (float)d;
    return rc;
}

int et_gguf_get_bool(const et_gguf *g, const char *key, bool *out, char *err, size_t errlen) {
    const et_gguf_value *v = et__get(g, key, err, errlen);
    if (!v) return ET_GGUF_MISSING;
    if (v->type != ET_GGUF_BOOL) return et__wrong(g, key, v, "bool", err, errlen);
    *out = v->v.b;
    return ET_GGUF_OK;
}

int et_gguf_get_str(const et_gguf *g, const char *key, et_gguf_str *out, char *err,
                    size_t errlen) {
    const et_gguf_value *v = et__get(g, key, err, errlen);
    if (!v) return ET_GGUF_MISSING;
    if (v->type != ET_GGUF_STR) return et__wrong(g, key, v, "str", err, errlen);
    *out = v->v.str;
    return ET_GGUF_OK;
}

int et_gguf_get_arr(const et_gguf *g, const char *key, et_gguf_vtype elem, et_gguf_array *out,
                    char *err, size_t errlen) {
    const et_gguf_value *v = et__get(g, key, err, errlen);
    if (!v) return ET_GGUF_MISSING;
    if (v->type != ET_GGUF_ARR) return et__wrong(g, key, v, "arr", err, errlen);
    if (elem != ET_GGUF_VTYPE_COUNT && v->v.arr.type != elem) {
        snprintf(err, errlen, "%s: key '%s' is an array of %s, expected an array of %s", g->name,
                 key, et_gguf_vtype_name(v->v.arr.type), et_gguf_vtype_name(elem));
        return ET_GGUF_ERR;
    }
    *out = v->v.arr;
    return ET_GGUF_OK;
}
