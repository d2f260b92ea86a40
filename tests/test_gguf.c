/* GGUF reader and writer (engine/io/gguf.h).
 *
 *  - golden: files written by the PyPI gguf package (tests/py/gen_gguf.py) read back with
 *    every key, value type, value and tensor byte identical to what gguf-py was given; float
 *    tensors also decode (dtype table's to_f32) to gguf-py's dequantized values.  Exact
 *    comparison (0 ULP) for f32/f16/bf16, whose conversions are exact; 1e-6 of the tensor's
 *    largest magnitude for block formats, whose scale products may round in another order.
 *  - writer round trip: every value type (NUL bytes in strings, nested arrays, extremes), every
 *    tensor type incl. NF4 under its edgetune id, referenced / copied / streamed data, custom
 *    alignment, a >1 MiB file that is memory-mapped; then read back bit-exact.
 *  - malformed input: every truncation of a real file, targeted corruptions (each expecting an
 *    error that names the field and the bad value), and random byte flips; none may crash
 *    (run under `make asan` to catch out-of-bounds reads).
 * The golden files must exist: a missing golden is a failure, not a skip.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdint.h>
#include <unistd.h>
#include "graph.h"
#include "harness.h"
#include "io/fileio.h"
#include "io/gguf.h"
#include "ops.h"

#define GOLD "build/golden/gguf/"

/* Files a test writes go to a fresh directory, so concurrent test runs never collide. */
static char tmpdir[] = "/tmp/et_test_gguf_XXXXXX";
static char *tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", tmpdir, name);
    return buf;
}

static void *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    if (b) b[len] = 0;
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* ==== golden files from gguf-py ============================================================ */

static const char *vt_names[] = { "uint8", "int8", "uint16", "int16", "uint32", "int32",
                                  "float32", "bool", "string", "array", "uint64", "int64",
                                  "float64" };

static et_gguf_vtype vt_from(const char *s) {
    for (int i = 0; i < ET_GGUF_VTYPE_COUNT; i++)
        if (!strcmp(vt_names[i], s)) return (et_gguf_vtype)i;
    if (!strcmp(s, "arr")) return ET_GGUF_ARR;
    return ET_GGUF_VTYPE_COUNT;
}

/* Compare one scalar element of type t at p against a JSON value; returns a reason or NULL. */
static bool scalar_eq(et_gguf_vtype t, const void *p, const cJSON *j) {
    if (t == ET_GGUF_STR) {
        const et_gguf_str *s = p;
        return cJSON_IsString(j) && strlen(j->valuestring) == s->len &&
               !memcmp(s->ptr, j->valuestring, s->len);
    }
    if (t == ET_GGUF_BOOL) return cJSON_IsBool(j) && (*(const uint8_t *)p != 0) == cJSON_IsTrue(j);
    if (t == ET_GGUF_F32) return cJSON_IsNumber(j) && (double)*(const float *)p == j->valuedouble;
    if (t == ET_GGUF_F64) return cJSON_IsNumber(j) && *(const double *)p == j->valuedouble;
    if (!cJSON_IsString(j)) return false;
    char buf[32];
    switch (t) {
    case ET_GGUF_U8:  snprintf(buf, sizeof buf, "%u", *(const uint8_t *)p); break;
    case ET_GGUF_I8:  snprintf(buf, sizeof buf, "%d", *(const int8_t *)p); break;
    case ET_GGUF_U16: snprintf(buf, sizeof buf, "%u", *(const uint16_t *)p); break;
    case ET_GGUF_I16: snprintf(buf, sizeof buf, "%d", *(const int16_t *)p); break;
    case ET_GGUF_U32: snprintf(buf, sizeof buf, "%u", *(const uint32_t *)p); break;
    case ET_GGUF_I32: snprintf(buf, sizeof buf, "%d", *(const int32_t *)p); break;
    case ET_GGUF_U64: snprintf(buf, sizeof buf, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case ET_GGUF_I64: snprintf(buf, sizeof buf, "%lld", (long long)*(const int64_t *)p); break;
    default: return false;
    }
    return !strcmp(buf, j->valuestring);
}

static const void *scalar_ptr(const et_gguf_value *v) {
    return v->type == ET_GGUF_STR ? (const void *)&v->v.str : (const void *)&v->v;
}

static size_t elem_size(et_gguf_vtype t) {
    switch (t) {
    case ET_GGUF_U8: case ET_GGUF_I8: case ET_GGUF_BOOL: return 1;
    case ET_GGUF_U16: case ET_GGUF_I16: return 2;
    case ET_GGUF_U32: case ET_GGUF_I32: case ET_GGUF_F32: return 4;
    case ET_GGUF_STR: return sizeof(et_gguf_str);
    case ET_GGUF_ARR: return sizeof(et_gguf_value);
    default: return 8;
    }
}

/* A value against {"type":..., ["elem":...,] "value":...}. */
static bool value_eq(const et_gguf_value *v, const cJSON *d) {
    et_gguf_vtype t = vt_from(cJSON_GetObjectItem(d, "type")->valuestring);
    const cJSON *val = cJSON_GetObjectItem(d, "value");
    if (v->type != t) return false;
    if (t == ET_GGUF_BOOL) { uint8_t b = v->v.b; return scalar_eq(t, &b, val); }
    if (t != ET_GGUF_ARR) return scalar_eq(t, scalar_ptr(v), val);
    const char *es = cJSON_GetObjectItem(d, "elem")->valuestring;
    et_gguf_vtype et = vt_from(es);
    if (v->v.arr.type != et || v->v.arr.n != (uint64_t)cJSON_GetArraySize(val)) return false;
    const char *p = v->v.arr.data;
    int i = 0;
    for (const cJSON *e = val->child; e; e = e->next, i++) {
        const void *ep = p + (size_t)i * elem_size(et);
        if (et == ET_GGUF_ARR ? !value_eq(ep, e) : !scalar_eq(et, ep, e)) return false;
    }
    return true;
}

static void check_golden(const char *name) {
    char path[256];
    size_t jn, bn, fn;
    snprintf(path, sizeof path, GOLD "%s.json", name);
    char *js = slurp(path, &jn);
    snprintf(path, sizeof path, GOLD "%s.bin", name);
    uint8_t *bin = slurp(path, &bn);
    snprintf(path, sizeof path, GOLD "%s.f32", name);
    float *f32 = slurp(path, &fn);
    CHECK(js && bin && f32, "golden %s missing: run tests/py/gen_gguf.py (tests/run.sh does)", name);
    cJSON *d = js ? cJSON_Parse(js) : NULL;
    if (!d) goto out;
    snprintf(path, sizeof path, GOLD "%s.gguf", name);
    for (int pass = 0; pass < 2; pass++) {
        char err[256];
        et_gguf *g = NULL;
        size_t raw_n = 0;
        void *raw = NULL;
        if (pass == 0) {
            CHECK(et_gguf_open(path, &g, err, sizeof err) == 0, "open: %s", err);
        } else {   /* the same bytes, from memory, in an exact-size buffer */
            raw = slurp(path, &raw_n);
            CHECK(raw && et_gguf_open_memory(raw, raw_n, path, &g, err, sizeof err) == 0,
                  "open_memory: %s", err);
        }
        if (!g) { free(raw); continue; }
        const cJSON *kvs = cJSON_GetObjectItem(d, "kv"), *ts = cJSON_GetObjectItem(d, "tensors");
        CHECK(et_gguf_n_kv(g) == cJSON_GetArraySize(kvs), "%s: %lld keys, want %d", name,
              (long long)et_gguf_n_kv(g), cJSON_GetArraySize(kvs));
        CHECK(et_gguf_alignment(g) == (uint32_t)cJSON_GetObjectItem(d, "alignment")->valueint,
              "%s: alignment %u", name, et_gguf_alignment(g));
        int i = 0;
        for (const cJSON *kv = kvs->child; kv; kv = kv->next, i++) {
            const et_gguf_kv *k = et_gguf_kv_at(g, i);
            const char *key = cJSON_GetObjectItem(kv, "key")->valuestring;
            CHECK(k && !strcmp(k->key, key), "%s: kv[%d] is '%s', want '%s'", name, i,
                  k ? k->key : "(none)", key);
            CHECK(k && value_eq(&k->value, kv), "%s: value of '%s' (type %s) differs", name, key,
                  k ? et_gguf_vtype_name(k->value.type) : "?");
            CHECK(et_gguf_find(g, key) == (k ? &k->value : NULL), "%s: find('%s')", name, key);
        }
        CHECK(et_gguf_n_tensors(g) == cJSON_GetArraySize(ts), "%s: %lld tensors, want %d",
              name, (long long)et_gguf_n_tensors(g), cJSON_GetArraySize(ts));
        i = 0;
        for (const cJSON *tj = ts ? ts->child : NULL; tj; tj = tj->next, i++) {
            const char *tn = cJSON_GetObjectItem(tj, "name")->valuestring;
            const et_gguf_tensor *t = et_gguf_tensor_find(g, tn);
            CHECK(t && t == et_gguf_tensor_at(g, i), "%s: tensor '%s' not found at %d", name, tn, i);
            if (!t) continue;
            const cJSON *ne = cJSON_GetObjectItem(tj, "ne");
            CHECK(t->ggml_type == cJSON_GetObjectItem(tj, "ggml_type")->valueint &&
                  t->type == et_type_from_ggml(t->ggml_type), "%s: type id %d", tn, t->ggml_type);
            CHECK(t->n_dims == cJSON_GetArraySize(ne), "%s: n_dims %d", tn, t->n_dims);
            for (int dd = 0; dd < 4; dd++) {
                const cJSON *e = cJSON_GetArrayItem(ne, dd);
                CHECK(t->ne[dd] == (e ? (int64_t)e->valuedouble : 1), "%s: ne[%d] = %lld", tn,
                      dd, (long long)t->ne[dd]);
            }
            size_t nb = (size_t)cJSON_GetObjectItem(tj, "nbytes")->valuedouble;
            size_t bo = (size_t)cJSON_GetObjectItem(tj, "bin_offset")->valuedouble;
            CHECK(t->nbytes == nb && bo + nb <= bn && !memcmp(t->data, bin + bo, nb),
                  "%s: data differs (%zu bytes, want %zu)", tn, t->nbytes, nb);
            CHECK(t->file_offset % et_gguf_alignment(g) == 0 &&
                  t->file_offset == et_gguf_data_offset(g) + t->offset, "%s: offset", tn);
            if (pass == 0)   /* our own buffer/mapping keeps the file's alignment */
                CHECK((uintptr_t)t->data % (et_gguf_alignment(g) < 64 ? et_gguf_alignment(g) : 64)
                      == 0, "%s: data pointer %p not aligned", tn, t->data);
            const cJSON *fo = cJSON_GetObjectItem(tj, "f32_offset");
            const et_type_traits *tr = et_type_get(t->type);
            if (fo && tr->to_f32) {
                int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
                float *x = malloc((size_t)n * sizeof *x);
                const float *want = f32 + (size_t)fo->valuedouble;
                tr->to_f32(t->data, x, n);
                double amax = 0, tol;
                for (int64_t k = 0; k < n; k++) amax = fmax(amax, fabs(want[k]));
                tol = tr->is_quantized ? 1e-6 * amax : 0;
                int64_t bad = 0;
                for (int64_t k = 0; k < n; k++) bad += !(fabs(x[k] - want[k]) <= tol);
                CHECK(bad == 0, "%s: %lld of %lld values differ from gguf-py's dequantization",
                      tn, (long long)bad, (long long)n);
                free(x);
            }
        }
        et_gguf_close(g);
        free(raw);
    }
out:
    cJSON_Delete(d);
    free(js);
    free(bin);
    free(f32);
}

static void test_golden_all_types(void) { check_golden("all_types"); }
static void test_golden_align64(void) { check_golden("align64"); }
static void test_golden_empty(void) { check_golden("empty"); }

static void test_getters(void) {
    char err[256] = "";
    et_gguf *g = NULL;
    CHECK(et_gguf_open(GOLD "all_types.gguf", &g, err, sizeof err) == 0, "open: %s", err);
    if (!g) return;
    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    double f64;
    float f32;
    bool b;
    et_gguf_str s;
    et_gguf_array a;
    CHECK(et_gguf_get_u32(g, "t.u16", &u32, err, sizeof err) == 0 && u32 == 65535, "u16->u32");
    CHECK(et_gguf_get_u32(g, "t.i32", &u32, err, sizeof err) == ET_GGUF_ERR &&
          strstr(err, "t.i32") && strstr(err, "-2147483648"), "negative into u32: %s", err);
    CHECK(et_gguf_get_u32(g, "t.u64", &u32, err, sizeof err) == ET_GGUF_ERR, "u64 max into u32");
    CHECK(et_gguf_get_i64(g, "t.i64", &i64, err, sizeof err) == 0 && i64 == INT64_MIN, "i64");
    CHECK(et_gguf_get_i64(g, "t.u64", &i64, err, sizeof err) == ET_GGUF_ERR, "u64 max -> i64");
    CHECK(et_gguf_get_u64(g, "t.u64", &u64, err, sizeof err) == 0 && u64 == UINT64_MAX, "u64");
    CHECK(et_gguf_get_u64(g, "t.i8", &u64, err, sizeof err) == ET_GGUF_ERR, "i8 -128 -> u64");
    CHECK(et_gguf_get_f64(g, "t.f64", &f64, err, sizeof err) == 0 && f64 == 2.718281828459045, "f64");
    CHECK(et_gguf_get_f32(g, "t.f32", &f32, err, sizeof err) == 0 && f32 == 3.14159f, "f32");
    CHECK(et_gguf_get_f32(g, "t.str", &f32, err, sizeof err) == ET_GGUF_ERR &&
          strstr(err, "has type str"), "str as f32: %s", err);
    CHECK(et_gguf_get_bool(g, "t.bool_true", &b, err, sizeof err) == 0 && b, "bool");
    CHECK(et_gguf_get_str(g, "general.architecture", &s, err, sizeof err) == 0 &&
          !strcmp(s.ptr, "edgetune-test"), "str");
    CHECK(et_gguf_get_str(g, "no.such.key", &s, err, sizeof err) == ET_GGUF_MISSING &&
          strstr(err, "no.such.key"), "missing: %s", err);
    CHECK(et_gguf_get_arr(g, "tokenizer.ggml.scores", ET_GGUF_F32, &a, err, sizeof err) == 0 &&
          a.n == 300 && ((const float *)a.data)[7] == -1.0f, "arr f32");
    CHECK(et_gguf_get_arr(g, "tokenizer.ggml.tokens", ET_GGUF_I32, &a, err, sizeof err) ==
          ET_GGUF_ERR && strstr(err, "array of str"), "arr wrong elem: %s", err);
    CHECK(et_gguf_tensor_find(g, "nope") == NULL && et_gguf_tensor_at(g, 1000) == NULL, "absent");
    et_gguf_close(g);
}

/* ==== writer round trip ==================================================================== */

typedef struct { uint64_t seed; } fill_ctx;
static int fill_bytes(void *ctx, uint64_t off, void *buf, size_t n, char *err, size_t errlen) {
    for (size_t i = 0; i < n; i++) ((uint8_t *)buf)[i] = (uint8_t)((off + i) * 131 + ((fill_ctx *)ctx)->seed);
    return 0;
}
static int fill_fail(void *ctx, uint64_t off, void *buf, size_t n, char *err, size_t errlen) {
    snprintf(err, errlen, "deliberate failure");
    return 1;
}

static long rss_kib(void) {
    long pages = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = -1;
    fclose(f);
    return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Embedding lookups from tables in a memory-mapped file (f32: pread into the output; bf16,
 * q8_0: through a row of scratch): the rows are the table's, and 4 × 2048 random lookups in
 * 32 MiB of tables leave the resident set nearly where it was (through the mapping, the
 * kernel's fault-around made nearly all of it resident).  After close, no descriptor is
 * left behind for the address. */
static void test_mapped_lookup(void) {
    const int64_t D = 512, V = 8192;
    const et_type types[3] = { ET_F32, ET_BF16, ET_Q8_0 };
    const char *names[3] = { "emb_f32", "emb_bf16", "emb_q8_0" };
    float *f = malloc((size_t)(D * V) * 4);
    void *enc[3] = { NULL, NULL, NULL };
    char path[256], err[256];
    for (int64_t i = 0; i < D * V; i++) f[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    et_gguf_writer *w = et_gguf_writer_new();
    for (int k = 0; k < 3; k++) {
        size_t nb = et_type_nbytes(types[k], D, V);
        enc[k] = malloc(nb);
        et_type_get(types[k])->from_f32(f, enc[k], D * V);
        et_gguf_writer_add_tensor(w, names[k], types[k], 2, (int64_t[]){ D, V }, enc[k], nb);
    }
    CHECK(et_gguf_writer_write(w, tmp_path(path, sizeof path, "emb.gguf"), err, sizeof err) == 0, "write: %s", err);
    et_gguf_writer_free(w);
    et_gguf *g = NULL;
    CHECK(et_gguf_open(path, &g, err, sizeof err) == 0, "open: %s", err);
    const void *at = NULL;
    for (int k = 0; g && k < 3; k++) {
        const et_gguf_tensor *gt = et_gguf_tensor_find(g, names[k]);
        CHECK(gt != NULL, "%s missing", names[k]);
        if (!gt) continue;
        at = gt->data;
        int64_t off = -1;
        CHECK(et_filemap_fd_at(gt->data, &off) >= 0 && off == (int64_t)gt->file_offset,
              "%s: no descriptor for the mapped table (offset %lld, file offset %llu)", names[k], (long long)off,
              (unsigned long long)gt->file_offset);
        et_ctx *ctx = et_ctx_new(64);
        et_tensor *tab = et_new_external(ctx, types[k], 2, (int64_t[]){ D, V }, (void *)gt->data, ET_FLAG_PERSIST, names[k]);
        et_tensor *ids = et_new_1d(ctx, ET_I32, 2048, ET_FLAG_INPUT, "ids");
        et_tensor *y = et_get_rows(ctx, tab, ids);
        et_graph *gr = et_graph_new(ctx, 64);
        et_plan plan = { 0 };
        bool ok = y && gr && et_graph_add(gr, y) && et_graph_plan(gr, &plan) && et_graph_alloc(gr, &plan);
        CHECK(ok, "%s graph: %s", names[k], et_ctx_error(ctx));
        uint64_t s = 12345 + (uint64_t)k;
        int64_t bad = 0;
        float *want = malloc((size_t)D * 4);
        if (ok) memset(y->data, 0, et_nbytes(y));   /* the output's pages resident before the mark */
        if (want) memset(want, 0, (size_t)D * 4);
        long r0 = rss_kib();
        for (int rep = 0; ok && rep < 4; rep++) {
            int32_t *id = ids->data;
            for (int i = 0; i < 2048; i++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                id[i] = (int32_t)((s >> 33) % (uint64_t)V);
            }
            ok = et_graph_compute(gr, &plan, 1);
            CHECK(ok, "%s lookup: %s", names[k], et_ctx_error(ctx));
            for (int i = 0; ok && i < 2048; i++) {   /* the row decoded from the encoded copy */
                et_type_get(types[k])->to_f32((const char *)enc[k] + (size_t)id[i] * et_type_row_size(types[k], D),
                                              want, D);
                bad += memcmp(want, (const float *)y->data + (size_t)i * D, (size_t)D * 4) != 0;
            }
        }
        long grew = rss_kib() - r0;
        size_t tb = et_type_nbytes(types[k], D, V);
        printf("  %s (%.1f MiB mapped): 8192 lookups grew the resident set by %ld KiB\n", names[k], tb / 1048576.0, grew);
        CHECK(bad == 0, "%s: %lld looked-up rows differ from the table's", names[k], (long long)bad);
        CHECK(r0 > 0 && grew < (long)(tb / 1024 / 8), "%s: the resident set grew by %ld KiB (table %zu KiB)", names[k],
              grew, tb / 1024);
        free(want);
        et_plan_free(&plan);
        et_graph_free(gr);
        et_ctx_free(ctx);
    }
    if (g) et_gguf_close(g);
    int64_t off = 0;
    CHECK(!at || et_filemap_fd_at(at, &off) < 0, "a descriptor outlived the mapping");
    for (int k = 0; k < 3; k++) free(enc[k]);
    free(f);
}

static void test_writer_roundtrip(void) {
    char pbuf[256];
    const char *path = tmp_path(pbuf, sizeof pbuf, "et_roundtrip.gguf");
    et_gguf_writer *w = et_gguf_writer_new();
    static const char nul_str[] = "a\0b\0c";
    et_gguf_value sv = { .type = ET_GGUF_STR, .v.str = { nul_str, 5 } };
    et_gguf_writer_set_value(w, "v.nul_str", &sv);
    et_gguf_writer_set_u8(w, "v.u8", 200);
    et_gguf_writer_set_i8(w, "v.i8", -7);
    et_gguf_writer_set_u16(w, "v.u16", 60000);
    et_gguf_writer_set_i16(w, "v.i16", -30000);
    et_gguf_writer_set_u32(w, "v.u32", 4000000000u);
    et_gguf_writer_set_i32(w, "v.i32", -2000000000);
    et_gguf_writer_set_u64(w, "v.u64", UINT64_MAX - 1);
    et_gguf_writer_set_i64(w, "v.i64", INT64_MIN + 1);
    et_gguf_writer_set_f32(w, "v.f32", -0.0f);
    et_gguf_writer_set_f64(w, "v.f64", 1e-310);
    et_gguf_writer_set_bool(w, "v.bool", true);
    et_gguf_writer_set_str(w, "v.str", "first");
    et_gguf_writer_set_str(w, "v.str", "replaced");   /* same key: value replaced in place */
    int16_t i16s[3] = { -1, 2, -3 };
    et_gguf_writer_set_arr(w, "v.a_i16", ET_GGUF_I16, i16s, 3);
    et_gguf_writer_set_arr(w, "v.a_empty", ET_GGUF_F64, NULL, 0);
    et_gguf_str strs[2] = { { "x", 1 }, { "", 0 } };
    et_gguf_writer_set_arr(w, "v.a_str", ET_GGUF_STR, strs, 2);
    uint32_t in0[2] = { 1, 2 }, in1[1] = { 3 };
    et_gguf_value inner[2] = { { .type = ET_GGUF_ARR, .v.arr = { ET_GGUF_U32, 2, in0 } },
                               { .type = ET_GGUF_ARR, .v.arr = { ET_GGUF_U32, 1, in1 } } };
    et_gguf_value outer = { .type = ET_GGUF_ARR, .v.arr = { ET_GGUF_ARR, 2, inner } };
    et_gguf_value deep = { .type = ET_GGUF_ARR, .v.arr = { ET_GGUF_ARR, 1, &outer } };
    et_gguf_writer_set_value(w, "v.a_nested", &deep);
    et_gguf_writer_set_alignment(w, 128);

    /* One tensor of every type: 2 rows of two blocks each (NF4 gets its tail). */
    uint8_t *bufs[ET_TYPE_COUNT] = { 0 };
    size_t sizes[ET_TYPE_COUNT];
    char names[ET_TYPE_COUNT][32];
    for (int t = 0; t < ET_TYPE_COUNT; t++) {
        const et_type_traits *tr = et_type_get((et_type)t);
        int64_t ne[3] = { 2 * tr->blck_size, 2, 1 };
        sizes[t] = et_type_nbytes((et_type)t, ne[0], 2);
        bufs[t] = malloc(sizes[t]);
        for (size_t i = 0; i < sizes[t]; i++) bufs[t][i] = (uint8_t)(i * 7 + t);
        snprintf(names[t], sizeof names[t], "t.%s", tr->name);
        if (t % 2) et_gguf_writer_add_tensor(w, names[t], (et_type)t, 3, ne, bufs[t], sizes[t]);
        else et_gguf_writer_add_tensor_copy(w, names[t], (et_type)t, 3, ne, bufs[t], sizes[t]);
    }
    fill_ctx fc = { 9 };
    int64_t big_ne[2] = { 1024, 300 };   /* 1.2 MB f32: large enough to be memory-mapped */
    et_gguf_writer_add_tensor_fill(w, "big", ET_F32, 2, big_ne, fill_bytes, &fc);
    char err[256] = "";
    CHECK(et_gguf_writer_write(w, path, err, sizeof err) == 0, "write: %s", err);
    et_gguf_writer_free(w);

    et_gguf *g = NULL;
    CHECK(et_gguf_open(path, &g, err, sizeof err) == 0, "reopen: %s", err);
    if (g) {
        CHECK(et_gguf_is_mapped(g), "a 1.2 MB file should be memory-mapped");
        CHECK(et_gguf_alignment(g) == 128, "alignment %u", et_gguf_alignment(g));
        const et_gguf_value *v = et_gguf_find(g, "v.nul_str");
        CHECK(v && v->type == ET_GGUF_STR && v->v.str.len == 5 && !memcmp(v->v.str.ptr, nul_str, 5),
              "string with NULs");
        v = et_gguf_find(g, "v.u8");  CHECK(v && v->type == ET_GGUF_U8 && v->v.u8 == 200, "u8");
        v = et_gguf_find(g, "v.i8");  CHECK(v && v->type == ET_GGUF_I8 && v->v.i8 == -7, "i8");
        v = et_gguf_find(g, "v.u16"); CHECK(v && v->type == ET_GGUF_U16 && v->v.u16 == 60000, "u16");
        v = et_gguf_find(g, "v.i16"); CHECK(v && v->type == ET_GGUF_I16 && v->v.i16 == -30000, "i16");
        v = et_gguf_find(g, "v.u32"); CHECK(v && v->type == ET_GGUF_U32 && v->v.u32 == 4000000000u, "u32");
        v = et_gguf_find(g, "v.i32"); CHECK(v && v->type == ET_GGUF_I32 && v->v.i32 == -2000000000, "i32");
        v = et_gguf_find(g, "v.u64"); CHECK(v && v->type == ET_GGUF_U64 && v->v.u64 == UINT64_MAX - 1, "u64");
        v = et_gguf_find(g, "v.i64"); CHECK(v && v->type == ET_GGUF_I64 && v->v.i64 == INT64_MIN + 1, "i64");
        v = et_gguf_find(g, "v.f32");
        CHECK(v && v->type == ET_GGUF_F32 && v->v.f32 == 0 && signbit(v->v.f32), "f32 -0");
        v = et_gguf_find(g, "v.f64"); CHECK(v && v->type == ET_GGUF_F64 && v->v.f64 == 1e-310, "f64");
        v = et_gguf_find(g, "v.bool"); CHECK(v && v->type == ET_GGUF_BOOL && v->v.b, "bool");
        CHECK(et_gguf_kv_at(g, 12) && !strcmp(et_gguf_kv_at(g, 12)->key, "v.str") &&
              !strcmp(et_gguf_kv_at(g, 12)->value.v.str.ptr, "replaced"), "replaced in place");
        v = et_gguf_find(g, "v.a_i16");
        CHECK(v && v->v.arr.type == ET_GGUF_I16 && v->v.arr.n == 3 &&
              !memcmp(v->v.arr.data, i16s, 6), "a_i16");
        v = et_gguf_find(g, "v.a_empty");
        CHECK(v && v->v.arr.type == ET_GGUF_F64 && v->v.arr.n == 0, "empty array");
        v = et_gguf_find(g, "v.a_str");
        const et_gguf_str *rs = v ? v->v.arr.data : NULL;
        CHECK(v && v->v.arr.n == 2 && rs[0].len == 1 && rs[0].ptr[0] == 'x' && rs[1].len == 0, "a_str");
        v = et_gguf_find(g, "v.a_nested");
        const et_gguf_value *o = v && v->v.arr.n == 1 ? v->v.arr.data : NULL;
        const et_gguf_value *in = o && o->v.arr.n == 2 ? o->v.arr.data : NULL;
        CHECK(in && in[0].v.arr.type == ET_GGUF_U32 && in[0].v.arr.n == 2 &&
              ((const uint32_t *)in[0].v.arr.data)[1] == 2 && in[1].v.arr.n == 1 &&
              ((const uint32_t *)in[1].v.arr.data)[0] == 3, "3-deep nested array");
        et_gguf_str doc;
        CHECK(et_gguf_get_str(g, ET_GGUF_KEY_NF4, &doc, err, sizeof err) == 0 &&
              strstr(doc.ptr, "1024"), "NF4 writes its explanation key");
        for (int t = 0; t < ET_TYPE_COUNT; t++) {
            const et_gguf_tensor *ti = et_gguf_tensor_find(g, names[t]);
            CHECK(ti && ti->type == (et_type)t && ti->nbytes == sizes[t] &&
                  !memcmp(ti->data, bufs[t], sizes[t]) && ti->n_dims == 3 && ti->ne[2] == 1 &&
                  ti->file_offset % 128 == 0, "tensor %s", names[t]);
            if (t == ET_NF4) CHECK(ti && ti->ggml_type == ET_GGUF_TYPE_NF4, "nf4 id");
        }
        const et_gguf_tensor *big = et_gguf_tensor_find(g, "big");
        uint8_t *want = malloc(big_ne[0] * big_ne[1] * 4);
        fill_bytes(&fc, 0, want, big_ne[0] * big_ne[1] * 4, NULL, 0);
        CHECK(big && big->nbytes == (size_t)(big_ne[0] * big_ne[1] * 4) &&
              !memcmp(big->data, want, big->nbytes), "streamed tensor");
        free(want);
        et_gguf_close(g);
    }
    setenv("ET_GGUF_NO_MMAP", "1", 1);
    CHECK(et_gguf_open(path, &g, err, sizeof err) == 0 && !et_gguf_is_mapped(g),
          "ET_GGUF_NO_MMAP=1 reads into memory: %s", err);
    et_gguf_close(g);
    unsetenv("ET_GGUF_NO_MMAP");
    for (int t = 0; t < ET_TYPE_COUNT; t++) free(bufs[t]);
    unlink(path);
}

static int count_tmp(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += !strncmp(e->d_name, prefix, strlen(prefix));
    if (d) closedir(d);
    return n;
}

static void test_writer_errors(void) {
    char pbuf[256], nbuf[256];
    const char *path = tmp_path(pbuf, sizeof pbuf, "et_atomic.gguf");
    char err[256] = "";
    et_gguf_writer *w = et_gguf_writer_new();
    et_gguf_writer_set_str(w, "k", "original");
    CHECK(et_gguf_writer_write(w, path, err, sizeof err) == 0, "write: %s", err);
    et_gguf_writer_free(w);

    /* A failing stream: the error is reported, the old file survives, no temp file is left. */
    w = et_gguf_writer_new();
    int64_t ne[1] = { 16 };
    et_gguf_writer_add_tensor_fill(w, "x", ET_F32, 1, ne, fill_fail, NULL);
    CHECK(et_gguf_writer_write(w, path, err, sizeof err) != 0 && strstr(err, "'x'") &&
          strstr(err, "deliberate"), "fill failure: %s", err);
    et_gguf_writer_free(w);
    et_gguf *g = NULL;
    et_gguf_str s = { 0 };
    CHECK(et_gguf_open(path, &g, err, sizeof err) == 0 &&
          et_gguf_get_str(g, "k", &s, err, sizeof err) == 0 && !strcmp(s.ptr, "original"),
          "old file intact: %s", err);
    et_gguf_close(g);
    CHECK(count_tmp(tmpdir, "et_atomic.gguf.tmp") == 0, "temp file left behind");
    unlink(path);

    struct { const char *want; int kind; } cases[] = {
        { "added twice", 0 }, { "bytes given", 1 }, { "block size", 2 }, { "power-of-two", 3 },
        { "length 0", 4 }, { "No such file", 5 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        w = et_gguf_writer_new();
        float x[32] = { 0 };
        int64_t n32[1] = { 32 }, n33[1] = { 33 };
        const char *p = path;
        switch (cases[c].kind) {
        case 0: et_gguf_writer_add_tensor(w, "a", ET_F32, 1, n32, x, sizeof x);
                et_gguf_writer_add_tensor(w, "a", ET_F32, 1, n32, x, sizeof x); break;
        case 1: et_gguf_writer_add_tensor(w, "a", ET_F32, 1, n32, x, 12); break;
        case 2: et_gguf_writer_add_tensor(w, "a", ET_Q8_0, 1, n33, x, 34); break;
        case 3: et_gguf_writer_set_alignment(w, 48); break;
        case 4: et_gguf_writer_set_u8(w, "", 1); break;
        case 5: p = tmp_path(nbuf, sizeof nbuf, "no/such/dir/x.gguf"); break;
        }
        CHECK(et_gguf_writer_write(w, p, err, sizeof err) != 0 && strstr(err, cases[c].want),
              "case %zu: got '%s', want '%s'", c, err, cases[c].want);
        et_gguf_writer_free(w);
    }
}

/* ==== malformed files ====================================================================== */

static void test_truncated_everywhere(void) {
    size_t n;
    uint8_t *full = slurp(GOLD "all_types.gguf", &n);
    CHECK(full != NULL, "golden all_types.gguf missing: run tests/py/gen_gguf.py");
    if (!full) return;
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        uint8_t *b = malloc(len ? len : 1);   /* exact size: ASan sees any read past it */
        memcpy(b, full, len);
        char err[256] = "";
        et_gguf *g = NULL;
        int rc = et_gguf_open_memory(b, len, "cut.gguf", &g, err, sizeof err);
        if (rc == 0 || g || !strstr(err, "cut.gguf: ")) {
            if (!bad++) CHECK(0, "truncated at %zu of %zu: rc %d, err '%s'", len, n, rc, err);
        }
        et_gguf_close(g);
        free(b);
    }
    CHECK(bad == 0, "%d truncations not rejected", bad);
    /* The same through a real, truncated file. */
    char pbuf[256];
    const char *p = tmp_path(pbuf, sizeof pbuf, "et_trunc.gguf");
    FILE *f = fopen(p, "wb");
    fwrite(full, 1, n - 1, f);
    fclose(f);
    char err[256] = "";
    et_gguf *g = NULL;
    CHECK(et_gguf_open(p, &g, err, sizeof err) != 0 && strstr(err, p) &&
          strstr(err, "past the end"), "truncated file: %s", err);
    unlink(p);
    free(full);
}

/* A tiny hand-assembler for GGUF bytes. */
typedef struct { uint8_t b[4096]; size_t n; } bb;
static void put(bb *x, const void *p, size_t n) { memcpy(x->b + x->n, p, n); x->n += n; }
static void u32(bb *x, uint32_t v) { put(x, &v, 4); }
static void u64(bb *x, uint64_t v) { put(x, &v, 8); }
static void str(bb *x, const char *s) { u64(x, strlen(s)); put(x, s, strlen(s)); }
static void hdr(bb *x, uint64_t nt, uint64_t nkv) { u32(x, ET_GGUF_MAGIC); u32(x, 3); u64(x, nt); u64(x, nkv); }
static void tinfo(bb *x, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off) {
    str(x, name); u32(x, nd);
    for (uint32_t i = 0; i < nd; i++) u64(x, ne[i]);
    u32(x, type); u64(x, off);
}
static void pad_data(bb *x, size_t align, size_t nbytes) {
    while (x->n % align) x->b[x->n++] = 0;
    memset(x->b + x->n, 0, nbytes);
    x->n += nbytes;
}

static void expect_err(const bb *x, const char *what, const char *s1, const char *s2) {
    uint8_t *b = malloc(x->n);
    memcpy(b, x->b, x->n);
    char err[256] = "";
    et_gguf *g = NULL;
    int rc = et_gguf_open_memory(b, x->n, "bad.gguf", &g, err, sizeof err);
    CHECK(rc != 0 && !g && strstr(err, "bad.gguf") && strstr(err, s1) && (!s2 || strstr(err, s2)),
          "%s: rc %d, err '%s' (want '%s' and '%s')", what, rc, err, s1, s2 ? s2 : "");
    et_gguf_close(g);
    free(b);
}

static void test_corruptions(void) {
    bb x;
    uint64_t ne2[2] = { 4, 2 }, ne1[1] = { 8 };
    /* A valid reference file first, so each case below differs from it in one field. */
    x.n = 0; hdr(&x, 1, 1); str(&x, "k"); u32(&x, ET_GGUF_U32); u32(&x, 5);
    tinfo(&x, "w", 2, ne2, 0, 0); pad_data(&x, 32, 32);
    et_gguf *g = NULL;
    char err[256] = "";
    CHECK(et_gguf_open_memory(x.b, x.n, "ok.gguf", &g, err, sizeof err) == 0, "reference: %s", err);
    et_gguf_close(g);

    x.n = 0; u32(&x, 0x46554748); u32(&x, 3); u64(&x, 0); u64(&x, 0);
    expect_err(&x, "magic", "magic", "0x46554748");
    x.n = 0; u32(&x, ET_GGUF_MAGIC); u32(&x, 2); u64(&x, 0); u64(&x, 0);
    expect_err(&x, "version", "version is 2", NULL);
    x.n = 0; hdr(&x, 0, UINT64_MAX); expect_err(&x, "n_kv", "metadata_kv_count 18446744073709551615", NULL);
    x.n = 0; hdr(&x, 1ull << 40, 0); expect_err(&x, "n_tensors", "tensor_count 1099511627776", NULL);
    x.n = 0; hdr(&x, 0, 1); u64(&x, 1ull << 62); pad_data(&x, 1, 16); expect_err(&x, "key length", "kv[0]", "4611686018427387904");
    x.n = 0; hdr(&x, 0, 1); u64(&x, 0); u32(&x, 0); pad_data(&x, 1, 16); expect_err(&x, "empty key", "key: empty", NULL);
    x.n = 0; hdr(&x, 0, 1); str(&x, "k"); u32(&x, 13); u32(&x, 0); expect_err(&x, "vtype", "'k'", "unknown value type 13");
    x.n = 0; hdr(&x, 0, 1); str(&x, "k"); u32(&x, ET_GGUF_STR); u64(&x, 1000); put(&x, "abc", 3);
    expect_err(&x, "string past end", "'k'", "truncated");
    x.n = 0; hdr(&x, 0, 1); str(&x, "k"); u32(&x, ET_GGUF_BOOL); x.b[x.n++] = 2;
    expect_err(&x, "bool 2", "'k'", "bool value is 2");
    x.n = 0; hdr(&x, 0, 1); str(&x, "k"); u32(&x, ET_GGUF_ARR); u32(&x, ET_GGUF_U64); u64(&x, 1ull << 61);
    expect_err(&x, "array count", "'k'", "array count 2305843009213693952");
    x.n = 0; hdr(&x, 0, 1); str(&x, "k"); u32(&x, ET_GGUF_ARR); u32(&x, 99); u64(&x, 1);
    expect_err(&x, "array type", "'k'", "unknown value type 99");
    x.n = 0; hdr(&x, 0, 1); str(&x, "k"); u32(&x, ET_GGUF_ARR);
    for (int i = 0; i < 20; i++) { u32(&x, ET_GGUF_ARR); u64(&x, 1); }
    expect_err(&x, "depth", "'k'", "nested deeper");
    x.n = 0; hdr(&x, 0, 2); str(&x, "k"); u32(&x, ET_GGUF_U8); x.b[x.n++] = 1;
    str(&x, "k"); u32(&x, ET_GGUF_U8); x.b[x.n++] = 1;
    expect_err(&x, "dup key", "kv[1] 'k'", "duplicate key");
    x.n = 0; hdr(&x, 0, 1); str(&x, "general.alignment"); u32(&x, ET_GGUF_U32); u32(&x, 48);
    expect_err(&x, "alignment 48", "general.alignment", "48");
    x.n = 0; hdr(&x, 0, 1); str(&x, "general.alignment"); u32(&x, ET_GGUF_U64); u64(&x, 64);
    expect_err(&x, "alignment type", "general.alignment", "type is u64");
    x.n = 0; hdr(&x, 1, 0); tinfo(&x, "w", 5, (uint64_t[5]){ 1, 1, 1, 1, 1 }, 0, 0); pad_data(&x, 32, 4);
    expect_err(&x, "n_dims", "tensor[0] 'w'", "n_dims is 5");
    x.n = 0; hdr(&x, 1, 0); tinfo(&x, "w", 2, (uint64_t[2]){ 4, 0 }, 0, 0); pad_data(&x, 32, 16);
    expect_err(&x, "dim 0", "'w'", "ne[1] is 0");
    x.n = 0; hdr(&x, 1, 0); tinfo(&x, "w", 3, (uint64_t[3]){ 1ull << 32, 1ull << 32, 4 }, 0, 0);
    pad_data(&x, 32, 16); expect_err(&x, "overflow", "'w'", "overflows");
    x.n = 0; hdr(&x, 1, 0); tinfo(&x, "w", 1, (uint64_t[1]){ UINT64_MAX }, 0, 0); pad_data(&x, 32, 4);
    expect_err(&x, "dim > int64", "'w'", "ne[0] is 18446744073709551615");
    x.n = 0; hdr(&x, 1, 0); tinfo(&x, "w", 1, (uint64_t[1]){ 1ull << 40 }, 0, 0); pad_data(&x, 32, 4);
    expect_err(&x, "huge tensor", "'w'", "past the end");
    x.n = 0; hdr(&x, 1, 0); tinfo(&x, "w", 1, ne1, 10, 0); pad_data(&x, 32, 32);   /* q2_k */
    expect_err(&x, "q2_k", "'w'", "unsupported tensor type id 10");
    x.n = 0; hdr(&x, 1, 0); tinfo(&x, "w", 1, ne1, 0xFFFFFFFFu, 0); pad_data(&x, 32, 32);
    expect_err(&x, "type -1", "'w'", "type id 4294967295");
    x.n = 0; hdr(&x, 1, 0); tinfo(&x, "w", 1, (uint64_t[1]){ 64 }, ET_GGUF_TYPE_NF4, 0); pad_data(&x, 32, 64);
    expect_err(&x, "nf4 without key", "'w'", "edgetune.nf4");
    x.n = 0; hdr(&x, 1, 0); tinfo(&x, "w", 1, (uint64_t[1]){ 48 }, 8, 0); pad_data(&x, 32, 64);
    expect_err(&x, "q8_0 ne0 48", "'w'", "ne[0] = 48 is not a multiple");
    x.n = 0; hdr(&x, 1, 0); tinfo(&x, "w", 1, ne1, 0, 16); pad_data(&x, 32, 64);
    expect_err(&x, "misaligned", "'w'", "offset 16 is not a multiple");
    x.n = 0; hdr(&x, 1, 0); tinfo(&x, "w", 1, ne1, 0, 64); pad_data(&x, 32, 64);
    expect_err(&x, "past end", "'w'", "runs past the end");
    x.n = 0; hdr(&x, 2, 0); tinfo(&x, "w", 1, ne1, 0, 0); tinfo(&x, "w", 1, ne1, 0, 32); pad_data(&x, 32, 64);
    expect_err(&x, "dup tensor", "tensor[1] 'w'", "duplicate tensor name");
    x.n = 0; hdr(&x, 2, 0); tinfo(&x, "a", 1, (uint64_t[1]){ 16 }, 0, 0); tinfo(&x, "b", 1, ne1, 0, 32);
    pad_data(&x, 32, 96); expect_err(&x, "overlap", "'a'", "overlap");
    x.n = 0; hdr(&x, 1, 0); str(&x, "w\001"); x.b[x.n - 1] = 0; u32(&x, 1); u64(&x, 8); u32(&x, 0); u64(&x, 0);
    pad_data(&x, 32, 32); expect_err(&x, "NUL in name", "tensor[0]", "NUL");
    char longname[300];
    memset(longname, 'n', 299); longname[299] = 0;
    x.n = 0; hdr(&x, 1, 0); tinfo(&x, longname, 1, ne1, 0, 0); pad_data(&x, 32, 32);
    expect_err(&x, "long name", "length 299", "limit 255");
    x.n = 0; hdr(&x, 1, 0); tinfo(&x, "w", 1, ne1, 0, 0);   /* no data at all */
    expect_err(&x, "no data", "data section", "past the end");
    expect_err(&(bb){ .n = 0 }, "empty file", "magic", "truncated");
}

/* Random single- and multi-byte changes of a real file: must never crash; errors must say
 * where.  (The fuzzers in fuzz/ go much further; this runs in every test pass.) */
/* Deep, bitwise equality of two values (floats compared as bits, so NaN == NaN). */
static bool value_same(const et_gguf_value *a, const et_gguf_value *b) {
    if (a->type != b->type) return false;
    if (a->type == ET_GGUF_STR)
        return a->v.str.len == b->v.str.len && !memcmp(a->v.str.ptr, b->v.str.ptr, a->v.str.len);
    if (a->type == ET_GGUF_BOOL) return a->v.b == b->v.b;
    if (a->type != ET_GGUF_ARR) return !memcmp(&a->v, &b->v, elem_size(a->type));
    const et_gguf_array *x = &a->v.arr, *y = &b->v.arr;
    if (x->type != y->type || x->n != y->n) return false;
    for (uint64_t i = 0; i < x->n; i++) {
        if (x->type == ET_GGUF_ARR || x->type == ET_GGUF_STR) {
            et_gguf_value u = { .type = x->type }, v = { .type = x->type };
            if (x->type == ET_GGUF_STR) {
                u.v.str = ((const et_gguf_str *)x->data)[i];
                v.v.str = ((const et_gguf_str *)y->data)[i];
            } else {
                u = ((const et_gguf_value *)x->data)[i];
                v = ((const et_gguf_value *)y->data)[i];
            }
            if (!value_same(&u, &v)) return false;
        } else if (memcmp((const char *)x->data + i * elem_size(x->type),
                          (const char *)y->data + i * elem_size(x->type), elem_size(x->type))) {
            return false;
        }
    }
    return true;
}

/* Copy g through the writer and read it back: every key, value and tensor must survive. */
static bool writer_round_trip(const et_gguf *g, char *why, size_t wl) {
    char path[256], err[256] = "";
    snprintf(path, sizeof path, "%s/rt.gguf", tmpdir);
    et_gguf_writer *w = et_gguf_writer_new();
    for (int64_t i = 0; i < et_gguf_n_kv(g); i++)
        et_gguf_writer_set_value(w, et_gguf_kv_at(g, i)->key, &et_gguf_kv_at(g, i)->value);
    for (int64_t i = 0; i < et_gguf_n_tensors(g); i++) {
        const et_gguf_tensor *t = et_gguf_tensor_at(g, i);
        et_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
    }
    int rc = et_gguf_writer_write(w, path, err, sizeof err);
    et_gguf_writer_free(w);
    et_gguf *h = NULL;
    if (rc || et_gguf_open(path, &h, err, sizeof err)) {
        snprintf(why, wl, "write/reopen: %s", err);
        return false;
    }
    bool same = et_gguf_n_kv(g) == et_gguf_n_kv(h) && et_gguf_n_tensors(g) == et_gguf_n_tensors(h) &&
                et_gguf_alignment(g) == et_gguf_alignment(h);
    for (int64_t i = 0; same && i < et_gguf_n_kv(g); i++)
        same = !strcmp(et_gguf_kv_at(g, i)->key, et_gguf_kv_at(h, i)->key) &&
               value_same(&et_gguf_kv_at(g, i)->value, &et_gguf_kv_at(h, i)->value);
    for (int64_t i = 0; same && i < et_gguf_n_tensors(g); i++) {
        const et_gguf_tensor *a = et_gguf_tensor_at(g, i), *b = et_gguf_tensor_at(h, i);
        same = !strcmp(a->name, b->name) && a->type == b->type && a->n_dims == b->n_dims &&
               !memcmp(a->ne, b->ne, sizeof a->ne) && a->nbytes == b->nbytes &&
               !memcmp(a->data, b->data, a->nbytes);
    }
    if (!same) snprintf(why, wl, "content changed");
    et_gguf_close(h);
    unlink(path);
    return same;
}

static void test_random_flips(void) {
    size_t n;
    uint8_t *full = slurp(GOLD "all_types.gguf", &n);
    CHECK(full != NULL, "golden all_types.gguf missing");
    if (!full) return;
    uint64_t s = 77;
    int ok = 0, rejected = 0, silent = 0, rt_bad = 0;
    uint8_t *b = malloc(n);
    for (int it = 0; it < 3000; it++) {
        memcpy(b, full, n);
        int k = 1 + (int)(et_t_rng_next(&s) % 4);
        /* bias toward the header and metadata, where counts and lengths live */
        size_t span = it % 2 ? n : (n < 1024 ? n : 1024);
        for (int j = 0; j < k; j++) {
            size_t at = (size_t)(et_t_rng_next(&s) % span);
            b[at] = it % 3 ? (uint8_t)et_t_rng_next(&s) : (uint8_t)(b[at] ^ 0x80);
        }
        char err[256] = "";
        et_gguf *g = NULL;
        if (et_gguf_open_memory(b, n, "flip.gguf", &g, err, sizeof err) == 0) {
            ok++;
            for (int64_t i = 0; i < et_gguf_n_tensors(g); i++) {   /* touch every byte */
                const et_gguf_tensor *t = et_gguf_tensor_at(g, i);
                volatile uint8_t sum = 0;
                for (size_t q = 0; q < t->nbytes; q++) sum += ((const uint8_t *)t->data)[q];
            }
            /* Whatever the reader accepts, the writer reproduces (the first 30 such files). */
            char why[300];
            if (ok <= 30 && !writer_round_trip(g, why, sizeof why) && !rt_bad++)
                CHECK(0, "iteration %d: accepted file does not survive the writer: %s", it, why);
        } else {
            rejected++;
            silent += strncmp(err, "flip.gguf: ", 11) != 0;
        }
        et_gguf_close(g);
    }
    CHECK(silent == 0, "%d rejections without a message naming the file", silent);
    CHECK(ok > 30, "only %d mutated files accepted: the round trip saw too few", ok);
    CHECK(rejected > 500, "only %d of 3000 corrupted files rejected (%d accepted)", rejected, ok);
    free(b);
    free(full);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_golden_all_types);
    RUN(test_golden_align64);
    RUN(test_golden_empty);
    RUN(test_getters);
    RUN(test_writer_roundtrip);
    RUN(test_mapped_lookup);
    RUN(test_writer_errors);
    RUN(test_truncated_everywhere);
    RUN(test_corruptions);
    RUN(test_random_flips);
    rmdir(tmpdir);
    return DONE();
}
