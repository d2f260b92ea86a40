/* safetensors reader and writer (format and API in safetensors.h).
 *
 * The reader parses the JSON header with cJSON (bounded by the header length, which is checked
 * against the file first), copies names and metadata out of the JSON tree, and checks every
 * tensor record; tensor bytes stay in the mapped file.  Names are kept in a sorted index both
 * to find duplicates and to look tensors up.  The writer builds the header by hand (so integers
 * are always printed as integers) and writes through et_atomic_file.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fileio.h"
#include "safetensors.h"

static const struct { const char *name; size_t size; et_type type; } et__st_dtypes[] = {
    [ET_ST_BOOL] = { "BOOL", 1, ET_TYPE_COUNT },   [ET_ST_U8] = { "U8", 1, ET_TYPE_COUNT },
    [ET_ST_I8] = { "I8", 1, ET_TYPE_COUNT },
    [ET_ST_F8_E5M2] = { "F8_E5M2", 1, ET_TYPE_COUNT },
    [ET_ST_F8_E4M3] = { "F8_E4M3", 1, ET_TYPE_COUNT },
    [ET_ST_I16] = { "I16", 2, ET_TYPE_COUNT },     [ET_ST_U16] = { "U16", 2, ET_TYPE_COUNT },
    [ET_ST_F16] = { "F16", 2, ET_F16 },             [ET_ST_BF16] = { "BF16", 2, ET_BF16 },
    [ET_ST_I32] = { "I32", 4, ET_I32 },             [ET_ST_U32] = { "U32", 4, ET_TYPE_COUNT },
    [ET_ST_F32] = { "F32", 4, ET_F32 },             [ET_ST_F64] = { "F64", 8, ET_TYPE_COUNT },
    [ET_ST_I64] = { "I64", 8, ET_TYPE_COUNT },     [ET_ST_U64] = { "U64", 8, ET_TYPE_COUNT },
};

const char *et_st_dtype_name(et_st_dtype d) {
    return (int)d >= 0 && d < ET_ST_DTYPE_COUNT ? et__st_dtypes[d].name : "?";
}
size_t et_st_dtype_size(et_st_dtype d) {
    return (int)d >= 0 && d < ET_ST_DTYPE_COUNT ? et__st_dtypes[d].size : 0;
}
et_st_dtype et_st_dtype_from_name(const char *s) {
    for (int d = 0; d < ET_ST_DTYPE_COUNT; d++)
        if (s && !strcmp(et__st_dtypes[d].name, s)) return (et_st_dtype)d;
    return ET_ST_DTYPE_COUNT;
}

/* ==== reading ============================================================================== */

struct et_st {
    char         *name;
    et_filemap    file;
    et_st_tensor *t;
    int64_t       n;
    int64_t      *by_name;        /* tensor indices sorted by name */
    char        **meta_k, **meta_v;
    int64_t       n_meta;
};

__attribute__((format(printf, 4, 5)))
static int et__sfail(char *err, size_t errlen, const char *file, const char *fmt, ...) {
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s", file, msg);
    return -1;
}

/* A JSON number that is a whole number in [0, 2^53]. */
static bool et__st_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d) return false;
    *out = (uint64_t)d;
    return true;
}

static int et__cmp_name(const void *a, const void *b, void *ctx) {
    const et_st *st = ctx;
    return strcmp(st->t[*(const int64_t *)a].name, st->t[*(const int64_t *)b].name);
}
static int et__cmp_begin(const void *a, const void *b) {
    const et_st_tensor *x = *(const et_st_tensor *const *)a, *y = *(const et_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int et__st_tensor(et_st *st, et_st_tensor *t, const cJSON *j, uint64_t data_size,
                         const uint8_t *data, char *err, size_t errlen) {
    const char *f = st->name, *nm = t->name;
    if (!cJSON_IsObject(j)) return et__sfail(err, errlen, f, "tensor '%s': not a JSON object", nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(j, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(j, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
    if (!cJSON_IsString(dt))
        return et__sfail(err, errlen, f, "tensor '%s': dtype missing or not a string", nm);
    t->dtype = et_st_dtype_from_name(dt->valuestring);
    if (t->dtype == ET_ST_DTYPE_COUNT)
        return et__sfail(err, errlen, f, "tensor '%s': unknown dtype '%.40s'", nm, dt->valuestring);
    t->type = et__st_dtypes[t->dtype].type;
    if (!cJSON_IsArray(sh))
        return et__sfail(err, errlen, f, "tensor '%s': shape missing or not an array", nm);
    int nd = cJSON_GetArraySize(sh);
    if (nd > ET_ST_MAX_DIMS)
        return et__sfail(err, errlen, f, "tensor '%s': shape has %d dims, at most %d", nm, nd,
                         ET_ST_MAX_DIMS);
    t->n_dims = nd;
    uint64_t nel = 1;
    int d = 0;
    for (const cJSON *e = sh->child; e; e = e->next, d++) {
        uint64_t v;
        if (!et__st_uint(e, &v))
            return et__sfail(err, errlen, f, "tensor '%s': shape[%d] is not a whole number "
                             "in 0..2^53", nm, d);
        t->shape[d] = (int64_t)v;
        if (__builtin_mul_overflow(nel, v, &nel))
            return et__sfail(err, errlen, f, "tensor '%s': element count overflows at "
                             "shape[%d] = %llu", nm, d, (unsigned long long)v);
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(nel, (uint64_t)et__st_dtypes[t->dtype].size, &nbytes))
        return et__sfail(err, errlen, f, "tensor '%s': byte size overflows", nm);
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        !et__st_uint(off->child, &t->begin) || !et__st_uint(off->child->next, &t->end))
        return et__sfail(err, errlen, f, "tensor '%s': data_offsets must be [begin, end] whole "
                         "numbers", nm);
    if (t->begin > t->end || t->end > data_size)
        return et__sfail(err, errlen, f, "tensor '%s': data_offsets [%llu, %llu] outside the "
                         "%llu data bytes", nm, (unsigned long long)t->begin,
                         (unsigned long long)t->end, (unsigned long long)data_size);
    if (t->end - t->begin != nbytes)
        return et__sfail(err, errlen, f, "tensor '%s': data_offsets span %llu bytes, but "
                         "%llu elements of %s need %llu", nm,
                         (unsigned long long)(t->end - t->begin), (unsigned long long)nel,
                         et__st_dtypes[t->dtype].name, (unsigned long long)nbytes);
    t->nbytes = (size_t)nbytes;
    t->data = data + t->begin;
    return 0;
}

static int et__st_parse(et_st *st, const uint8_t *p, size_t size, char *err, size_t errlen) {
    const char *f = st->name;
    uint64_t n;
    if (size < 8)
        return et__sfail(err, errlen, f, "header length: file truncated (%zu bytes, needs 8)", size);
    memcpy(&n, p, 8);
    if (n > size - 8)
        return et__sfail(err, errlen, f, "header length %llu exceeds the %zu bytes after it "
                         "(file truncated?)", (unsigned long long)n, size - 8);
    if (n > ET_ST_MAX_HEADER)
        return et__sfail(err, errlen, f, "header length %llu exceeds the limit %u",
                         (unsigned long long)n, ET_ST_MAX_HEADER);
    const char *h = (const char *)p + 8, *end = NULL;
    if (n < 2 || h[0] != '{')
        return et__sfail(err, errlen, f, "header does not start with '{' (not a safetensors file)");
    cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)n, &end, false);
    if (!root)
        return et__sfail(err, errlen, f, "header: invalid JSON near byte %zu",
                         (size_t)(end ? end - h : 0) + 8);
    for (const char *q = end; q < h + n; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            cJSON_Delete(root);
            return et__sfail(err, errlen, f, "header: unexpected byte 0x%02x after the JSON at "
                             "byte %zu", (unsigned char)*q, (size_t)(q - h) + 8);
        }
    int rc = 0;
    if (!cJSON_IsObject(root)) {
        rc = et__sfail(err, errlen, f, "header: top level is not a JSON object");
        goto out;
    }
    int64_t cnt = 0, nmeta = 0;
    const cJSON *meta = NULL;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (e->string && !strcmp(e->string, "__metadata__")) {
            if (meta) { rc = et__sfail(err, errlen, f, "__metadata__ appears twice"); goto out; }
            meta = e;
        } else {
            cnt++;
        }
    }
    if (meta) {
        if (!cJSON_IsObject(meta)) {
            rc = et__sfail(err, errlen, f, "__metadata__ is not a JSON object");
            goto out;
        }
        for (const cJSON *e = meta->child; e; e = e->next) nmeta++;
        st->meta_k = calloc((size_t)nmeta + 1, sizeof(char *));
        st->meta_v = calloc((size_t)nmeta + 1, sizeof(char *));
        if (!st->meta_k || !st->meta_v) { rc = et__sfail(err, errlen, f, "out of memory"); goto out; }
        for (const cJSON *e = meta->child; e; e = e->next, st->n_meta++) {
            if (!cJSON_IsString(e)) {
                rc = et__sfail(err, errlen, f, "__metadata__ '%.100s': value is not a string",
                               e->string);
                goto out;
            }
            st->meta_k[st->n_meta] = strdup(e->string);
            st->meta_v[st->n_meta] = strdup(e->valuestring);
            if (!st->meta_k[st->n_meta] || !st->meta_v[st->n_meta]) {
                st->n_meta++;
                rc = et__sfail(err, errlen, f, "out of memory");
                goto out;
            }
        }
    }
    st->t = calloc((size_t)cnt + 1, sizeof *st->t);
    st->by_name = calloc((size_t)cnt + 1, sizeof *st->by_name);
    if (!st->t || !st->by_name) { rc = et__sfail(err, errlen, f, "out of memory"); goto out; }
    uint64_t data_size = size - 8 - n;
    const uint8_t *data = p + 8 + n;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (e == meta) continue;
        et_st_tensor *t = &st->t[st->n];
        t->name = strdup(e->string ? e->string : "");
        st->by_name[st->n] = st->n;
        st->n++;
        if (!t->name) { rc = et__sfail(err, errlen, f, "out of memory"); goto out; }
        if ((rc = et__st_tensor(st, t, e, data_size, data, err, errlen))) goto out;
    }
    /* Duplicate names (JSON allows them; we do not). */
    qsort_r(st->by_name, (size_t)st->n, sizeof *st->by_name, et__cmp_name, st);
    for (int64_t i = 1; i < st->n; i++)
        if (!strcmp(st->t[st->by_name[i - 1]].name, st->t[st->by_name[i]].name)) {
            rc = et__sfail(err, errlen, f, "tensor '%.200s' appears twice",
                           st->t[st->by_name[i]].name);
            goto out;
        }
    /* No two tensors may share bytes. */
    et_st_tensor **by = malloc(((size_t)st->n + 1) * sizeof *by);
    if (!by) { rc = et__sfail(err, errlen, f, "out of memory"); goto out; }
    for (int64_t i = 0; i < st->n; i++) by[i] = &st->t[i];
    qsort(by, (size_t)st->n, sizeof *by, et__cmp_begin);
    for (int64_t i = 1; i < st->n && !rc; i++)
        if (by[i - 1]->end > by[i]->begin && by[i]->nbytes)
            rc = et__sfail(err, errlen, f, "tensors '%.100s' [%llu, %llu) and '%.100s' [%llu, "
                           "%llu) overlap", by[i - 1]->name, (unsigned long long)by[i - 1]->begin,
                           (unsigned long long)by[i - 1]->end, by[i]->name,
                           (unsigned long long)by[i]->begin, (unsigned long long)by[i]->end);
    free(by);
out:
    cJSON_Delete(root);
    return rc;
}

static et_st *et__st_new(const char *name) {
    et_st *st = calloc(1, sizeof *st);
    if (st && !(st->name = strdup(name ? name : "(memory)"))) {
        free(st);
        st = NULL;
    }
    return st;
}

int et_st_open_memory(const void *data, size_t size, const char *name, et_st **out, char *err,
                      size_t errlen) {
    *out = NULL;
    et_st *st = et__st_new(name);
    if (!st) return et__sfail(err, errlen, name ? name : "(memory)", "out of memory");
    if (et__st_parse(st, data, data ? size : 0, err, errlen)) {
        et_st_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

int et_st_open(const char *path, et_st **out, char *err, size_t errlen) {
    *out = NULL;
    et_st *st = et__st_new(path);
    if (!st) return et__sfail(err, errlen, path, "out of memory");
    if (et_filemap_open(path, &st->file, err, errlen) ||
        et__st_parse(st, st->file.data, st->file.size, err, errlen)) {
        et_st_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

void et_st_close(et_st *st) {
    if (!st) return;
    for (int64_t i = 0; i < st->n; i++) free((void *)st->t[i].name);
    for (int64_t i = 0; i < st->n_meta; i++) {
        free(st->meta_k[i]);
        free(st->meta_v[i]);
    }
    free(st->meta_k);
    free(st->meta_v);
    free(st->t);
    free(st->by_name);
    et_filemap_close(&st->file);
    free(st->name);
    free(st);
}

int64_t et_st_n_tensors(const et_st *st) { return st->n; }
int64_t et_st_n_meta(const et_st *st) { return st->n_meta; }
const et_st_tensor *et_st_tensor_at(const et_st *st, int64_t i) {
    return i >= 0 && i < st->n ? &st->t[i] : NULL;
}
const et_st_tensor *et_st_tensor_find(const et_st *st, const char *name) {
    int64_t lo = 0, hi = st->n - 1;
    while (name && lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->t[st->by_name[mid]].name, name);
        if (!c) return &st->t[st->by_name[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}
bool et_st_meta_at(const et_st *st, int64_t i, const char **key, const char **value) {
    if (i < 0 || i >= st->n_meta) return false;
    *key = st->meta_k[i];
    *value = st->meta_v[i];
    return true;
}
const char *et_st_meta_get(const et_st *st, const char *key) {
    for (int64_t i = 0; key && i < st->n_meta; i++)
        if (!strcmp(st->meta_k[i], key)) return st->meta_v[i];
    return NULL;
}

/* ==== writing ============================================================================== */

typedef struct { char *name; et_st_dtype dtype; int n_dims; int64_t shape[ET_ST_MAX_DIMS];
                 const void *data; size_t nbytes; } et__st_wt;

struct et_st_writer {
    et__st_wt *t;
    size_t     n, cap;
    char     **mk, **mv;
    size_t     nm, capm;
    bool       failed;
    char       err[400];
};

__attribute__((format(printf, 2, 3)))
static void et__swerr(et_st_writer *w, const char *fmt, ...) {
    if (w->failed) return;
    w->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
}

#define ET__SWFAIL(...) do { et__swerr(w, __VA_ARGS__); return; } while (0)

et_st_writer *et_st_writer_new(void) { return calloc(1, sizeof(et_st_writer)); }

void et_st_writer_free(et_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->t[i].name);
    for (size_t i = 0; i < w->nm; i++) {
        free(w->mk[i]);
        free(w->mv[i]);
    }
    free(w->t);
    free(w->mk);
    free(w->mv);
    free(w);
}

void et_st_writer_set_meta(et_st_writer *w, const char *key, const char *value) {
    if (!w || w->failed) return;
    if (!key || !value) ET__SWFAIL("metadata key or value is NULL");
    for (size_t i = 0; i < w->nm; i++)
        if (!strcmp(w->mk[i], key)) {
            char *v = strdup(value);
            if (!v) ET__SWFAIL("out of memory");
            free(w->mv[i]);
            w->mv[i] = v;
            return;
        }
    if (w->nm == w->capm) {
        size_t nc = w->capm ? 2 * w->capm : 8;
        char **a = realloc(w->mk, nc * sizeof *a);
        if (a) w->mk = a;
        char **b = realloc(w->mv, nc * sizeof *b);
        if (b) w->mv = b;
        if (!a || !b) ET__SWFAIL("out of memory");
        w->capm = nc;
    }
    w->mk[w->nm] = strdup(key);
    w->mv[w->nm] = strdup(value);
    w->nm++;
    if (!w->mk[w->nm - 1] || !w->mv[w->nm - 1]) ET__SWFAIL("out of memory");
}

void et_st_writer_add(et_st_writer *w, const char *name, et_st_dtype dtype, int n_dims,
                      const int64_t *shape, const void *data, size_t nbytes) {
    if (!w || w->failed) return;
    if (!name || !*name || !strcmp(name, "__metadata__"))
        ET__SWFAIL("tensor name '%s' is not allowed", name ? name : "(null)");
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name)) ET__SWFAIL("tensor '%s' added twice", name);
    if ((int)dtype < 0 || dtype >= ET_ST_DTYPE_COUNT)
        ET__SWFAIL("tensor '%s': dtype %d unknown", name, (int)dtype);
    if (n_dims < 0 || n_dims > ET_ST_MAX_DIMS)
        ET__SWFAIL("tensor '%s': n_dims %d, must be 0..%d", name, n_dims, ET_ST_MAX_DIMS);
    et__st_wt t = { .dtype = dtype, .n_dims = n_dims, .data = data, .nbytes = nbytes };
    uint64_t nel = 1;
    for (int d = 0; d < n_dims; d++) {
        if (shape[d] < 0 || __builtin_mul_overflow(nel, (uint64_t)shape[d], &nel))
            ET__SWFAIL("tensor '%s': shape[%d] = %lld invalid", name, d,
                             (long long)shape[d]);
        t.shape[d] = shape[d];
    }
    if (__builtin_mul_overflow(nel, (uint64_t)et__st_dtypes[dtype].size, &nel) || nel != nbytes ||
        (nbytes && !data))
        ET__SWFAIL("tensor '%s': %zu bytes given, its shape and dtype %s need %llu",
                         name, nbytes, et__st_dtypes[dtype].name, (unsigned long long)nel);
    if (w->n == w->cap) {
        size_t nc = w->cap ? 2 * w->cap : 16;
        et__st_wt *q = realloc(w->t, nc * sizeof *q);
        if (!q) ET__SWFAIL("out of memory");
        w->t = q;
        w->cap = nc;
    }
    if (!(t.name = strdup(name))) ET__SWFAIL("out of memory");
    w->t[w->n++] = t;
}

/* A growable string for the header. */
typedef struct { char *p; size_t n, cap; bool oom; } et__sb;
static void et__sb_put(et__sb *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *q = realloc(b->p, nc);
        if (!q) { b->oom = true; return; }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
__attribute__((format(printf, 2, 3)))
static void et__sb_fmt(et__sb *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    et__sb_put(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}
static void et__sb_json_str(et__sb *b, const char *s) {
    et__sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { char e[2] = { '\\', (char)c }; et__sb_put(b, e, 2); }
        else if (c < 0x20) et__sb_fmt(b, "\\u%04x", c);
        else et__sb_put(b, s, 1);
    }
    et__sb_put(b, "\"", 1);
}

int et_st_writer_write(et_st_writer *w, const char *path, char *err, size_t errlen) {
    if (!w) return et__sfail(err, errlen, path, "no writer (out of memory?)");
    if (w->failed) return et__sfail(err, errlen, path, "%s", w->err);
    et__sb h = { 0 };
    et__sb_put(&h, "{", 1);
    if (w->nm) {
        et__sb_put(&h, "\"__metadata__\":{", 16);
        for (size_t i = 0; i < w->nm; i++) {
            if (i) et__sb_put(&h, ",", 1);
            et__sb_json_str(&h, w->mk[i]);
            et__sb_put(&h, ":", 1);
            et__sb_json_str(&h, w->mv[i]);
        }
        et__sb_put(&h, "}", 1);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        const et__st_wt *t = &w->t[i];
        if (i || w->nm) et__sb_put(&h, ",", 1);
        et__sb_json_str(&h, t->name);
        et__sb_fmt(&h, ":{\"dtype\":\"%s\",\"shape\":[", et__st_dtypes[t->dtype].name);
        for (int d = 0; d < t->n_dims; d++) et__sb_fmt(&h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        et__sb_fmt(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                   (unsigned long long)(off + t->nbytes));
        off += t->nbytes;
    }
    et__sb_put(&h, "}", 1);
    while ((8 + h.n) % 8) et__sb_put(&h, " ", 1);   /* data starts 8-byte aligned */
    if (h.oom) {
        free(h.p);
        return et__sfail(err, errlen, path, "out of memory building the header");
    }
    et_atomic_file af;
    if (et_atomic_begin(&af, path, err, errlen)) {
        free(h.p);
        return -1;
    }
    uint64_t hl = h.n;
    bool ok = fwrite(&hl, 8, 1, af.f) == 1 && fwrite(h.p, 1, h.n, af.f) == h.n;
    for (size_t i = 0; ok && i < w->n; i++)
        ok = !w->t[i].nbytes || fwrite(w->t[i].data, 1, w->t[i].nbytes, af.f) == w->t[i].nbytes;
    free(h.p);
    if (!ok) et__sfail(err, errlen, path, "write failed");
    return et_atomic_end(&af, ok, err, errlen);
}
