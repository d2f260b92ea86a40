/* safetensors reader and writer (engine/io/safetensors.h).
 *
 *  - golden: files written by the reference PyPI `safetensors` package from torch tensors
 *    (tests/py/gen_safetensors.py) read back with identical names, dtypes, shapes, bytes and
 *    metadata (exact: a reader changes no bits).  A missing golden is a failure.
 *  - writer round trip: every dtype, a scalar, an empty tensor, metadata needing JSON escapes;
 *    the data section starts 8-byte aligned.
 *  - malformed input: every truncation of a real file, targeted corruptions of the header
 *    (each expecting an error naming the field and value), random byte flips; never a crash.
 */
#include <cjson/cJSON.h>
#include <unistd.h>
#include "harness.h"
#include "io/safetensors.h"

#define GOLD "build/golden/safetensors/"

static char tmpdir[] = "/tmp/et_test_st_XXXXXX";   /* files this test writes */

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

static void check_golden(const char *name) {
    char path[256], err[256] = "";
    size_t jn, bn;
    snprintf(path, sizeof path, GOLD "%s.json", name);
    char *js = slurp(path, &jn);
    snprintf(path, sizeof path, GOLD "%s.bin", name);
    uint8_t *bin = slurp(path, &bn);
    CHECK(js && bin, "golden %s missing: run tests/py/gen_safetensors.py (tests/run.sh does)", name);
    cJSON *d = js ? cJSON_Parse(js) : NULL;
    snprintf(path, sizeof path, GOLD "%s.safetensors", name);
    et_st *st = NULL;
    if (d) CHECK(et_st_open(path, &st, err, sizeof err) == 0, "open: %s", err);
    if (st) {
        const cJSON *meta = cJSON_GetObjectItem(d, "metadata"), *ts = cJSON_GetObjectItem(d, "tensors");
        CHECK(et_st_n_meta(st) == cJSON_GetArraySize(meta), "%lld metadata entries",
              (long long)et_st_n_meta(st));
        for (const cJSON *m = meta->child; m; m = m->next) {
            const char *v = et_st_meta_get(st, m->string);
            CHECK(v && !strcmp(v, m->valuestring), "metadata '%s' = '%s'", m->string, v ? v : "(none)");
        }
        CHECK(et_st_n_tensors(st) == cJSON_GetArraySize(ts), "%lld tensors", (long long)et_st_n_tensors(st));
        for (const cJSON *tj = ts->child; tj; tj = tj->next) {
            const char *tn = cJSON_GetObjectItem(tj, "name")->valuestring;
            const et_st_tensor *t = et_st_tensor_find(st, tn);
            CHECK(t != NULL, "tensor '%s' not found", tn);
            if (!t) continue;
            const char *dt = cJSON_GetObjectItem(tj, "dtype")->valuestring;
            CHECK(!strcmp(et_st_dtype_name(t->dtype), dt), "%s: dtype %s, want %s", tn,
                  et_st_dtype_name(t->dtype), dt);
            et_type want_type = !strcmp(dt, "F32") ? ET_F32 : !strcmp(dt, "F16") ? ET_F16 :
                                !strcmp(dt, "BF16") ? ET_BF16 : !strcmp(dt, "I32") ? ET_I32 :
                                ET_TYPE_COUNT;
            CHECK(t->type == want_type, "%s: et type %d", tn, (int)t->type);
            const cJSON *sh = cJSON_GetObjectItem(tj, "shape");
            CHECK(t->n_dims == cJSON_GetArraySize(sh), "%s: n_dims %d", tn, t->n_dims);
            int k = 0;
            for (const cJSON *e = sh->child; e; e = e->next, k++)
                CHECK(t->shape[k] == (int64_t)e->valuedouble, "%s: shape[%d] %lld", tn, k,
                      (long long)t->shape[k]);
            size_t nb = (size_t)cJSON_GetObjectItem(tj, "nbytes")->valuedouble;
            size_t bo = (size_t)cJSON_GetObjectItem(tj, "bin_offset")->valuedouble;
            CHECK(t->nbytes == nb && bo + nb <= bn && (!nb || !memcmp(t->data, bin + bo, nb)),
                  "%s: bytes differ", tn);
        }
        CHECK(et_st_tensor_find(st, "nope") == NULL && et_st_tensor_at(st, -1) == NULL, "absent");
        et_st_close(st);
    }
    cJSON_Delete(d);
    free(js);
    free(bin);
}

static void test_golden_reference(void) { check_golden("ref"); }
static void test_golden_peft(void) { check_golden("peft"); }

static void test_writer_roundtrip(void) {
    char path[256];
    snprintf(path, sizeof path, "%s/et_written.safetensors", tmpdir);
    et_st_writer *w = et_st_writer_new();
    uint8_t buf[ET_ST_DTYPE_COUNT][48];
    char names[ET_ST_DTYPE_COUNT][32];
    for (int d = 0; d < ET_ST_DTYPE_COUNT; d++) {
        size_t es = et_st_dtype_size((et_st_dtype)d);
        int64_t shape[2] = { 2, (int64_t)(24 / es) };
        for (int i = 0; i < 48; i++) buf[d][i] = (uint8_t)(i * 13 + d);
        snprintf(names[d], sizeof names[d], "t.%s", et_st_dtype_name((et_st_dtype)d));
        et_st_writer_add(w, names[d], (et_st_dtype)d, 2, shape, buf[d], 48);
    }
    float one = 1.0f;
    int64_t empty_shape[2] = { 0, 5 };
    et_st_writer_add(w, "scalar", ET_ST_F32, 0, NULL, &one, 4);
    et_st_writer_add(w, "empty", ET_ST_F16, 2, empty_shape, NULL, 0);
    et_st_writer_set_meta(w, "format", "pt");
    et_st_writer_set_meta(w, "tricky", "quote\" back\\ nl\n tab\t ü");
    et_st_writer_set_meta(w, "format", "np");   /* replaced */
    char err[256] = "";
    CHECK(et_st_writer_write(w, path, err, sizeof err) == 0, "write: %s", err);
    et_st_writer_free(w);
    et_st *st = NULL;
    CHECK(et_st_open(path, &st, err, sizeof err) == 0, "reopen: %s", err);
    if (!st) return;
    for (int d = 0; d < ET_ST_DTYPE_COUNT; d++) {
        const et_st_tensor *t = et_st_tensor_at(st, d);
        CHECK(t && !strcmp(t->name, names[d]) && t->dtype == (et_st_dtype)d && t->nbytes == 48 &&
              !memcmp(t->data, buf[d], 48) && t->shape[1] * (int64_t)et_st_dtype_size(t->dtype) == 24,
              "tensor %s", names[d]);
    }
    const et_st_tensor *s = et_st_tensor_find(st, "scalar"), *e = et_st_tensor_find(st, "empty");
    CHECK(s && s->n_dims == 0 && s->nbytes == 4 && *(const float *)s->data == 1.0f, "scalar");
    CHECK(e && e->n_dims == 2 && e->shape[0] == 0 && e->shape[1] == 5 && e->nbytes == 0, "empty");
    CHECK(et_st_n_meta(st) == 2 && !strcmp(et_st_meta_get(st, "format"), "np") &&
          !strcmp(et_st_meta_get(st, "tricky"), "quote\" back\\ nl\n tab\t ü"), "metadata");
    CHECK((uintptr_t)et_st_tensor_at(st, 0)->data % 8 == 0, "data not 8-byte aligned");
    et_st_close(st);
    unlink(path);

    struct { int kind; const char *want; } bad[] = { { 0, "added twice" }, { 1, "need 8" },
                                                     { 2, "not allowed" }, { 3, "shape[0] = -1" } };
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        w = et_st_writer_new();
        int64_t sh[1] = { 2 }, neg[1] = { -1 };
        float x[2] = { 0 };
        if (bad[c].kind == 0) { et_st_writer_add(w, "a", ET_ST_F32, 1, sh, x, 8); et_st_writer_add(w, "a", ET_ST_F32, 1, sh, x, 8); }
        if (bad[c].kind == 1) et_st_writer_add(w, "a", ET_ST_F32, 1, sh, x, 7);
        if (bad[c].kind == 2) et_st_writer_add(w, "__metadata__", ET_ST_F32, 1, sh, x, 8);
        if (bad[c].kind == 3) et_st_writer_add(w, "a", ET_ST_F32, 1, neg, x, 8);
        CHECK(et_st_writer_write(w, path, err, sizeof err) != 0 && strstr(err, bad[c].want) &&
              access(path, F_OK) != 0, "writer case %zu: '%s'", c, err);
        et_st_writer_free(w);
    }
}

static void test_truncated_everywhere(void) {
    size_t n;
    uint8_t *full = slurp(GOLD "ref.safetensors", &n);
    CHECK(full != NULL, "golden ref.safetensors missing");
    if (!full) return;
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        uint8_t *b = malloc(len ? len : 1);
        memcpy(b, full, len);
        char err[256] = "";
        et_st *st = NULL;
        int rc = et_st_open_memory(b, len, "cut.safetensors", &st, err, sizeof err);
        if ((rc == 0 || st || !strstr(err, "cut.safetensors: ")) && !bad++)
            CHECK(0, "truncated at %zu of %zu: rc %d err '%s'", len, n, rc, err);
        et_st_close(st);
        free(b);
    }
    CHECK(bad == 0, "%d truncations not rejected", bad);
    free(full);
}

/* A file from a header string and `data` zero bytes. */
static void expect(const char *hdr, size_t data, const char *what, const char *s1, const char *s2) {
    size_t hn = strlen(hdr), n = 8 + hn + data;
    uint8_t *b = calloc(1, n);
    uint64_t h = hn;
    memcpy(b, &h, 8);
    memcpy(b + 8, hdr, hn);
    char err[256] = "";
    et_st *st = NULL;
    int rc = et_st_open_memory(b, n, "bad.st", &st, err, sizeof err);
    if (!s1) CHECK(rc == 0, "%s: should load: %s", what, err);
    else CHECK(rc != 0 && !st && strstr(err, "bad.st: ") && strstr(err, s1) && (!s2 || strstr(err, s2)),
               "%s: rc %d err '%s' (want '%s', '%s')", what, rc, err, s1, s2 ? s2 : "");
    et_st_close(st);
    free(b);
}

static void test_corruptions(void) {
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  ", 8, "reference", NULL, NULL);
    expect("{}", 0, "no tensors", NULL, NULL);
    expect("[1]", 0, "not {", "not a safetensors", NULL);
    expect("{\"a\":", 0, "bad json", "invalid JSON", NULL);
    expect("{} x", 0, "trailing", "unexpected byte 0x78", NULL);
    expect("{\"a\":1}", 0, "not object", "'a'", "not a JSON object");
    expect("{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype", "'a'", "unknown dtype 'F33'");
    expect("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "no dtype", "'a'", "dtype missing");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "neg dim", "'a'", "shape[0]");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "frac dim", "'a'", "shape[0]");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "dims", "9 dims", NULL);
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,8]}}", 8, "overflow", "'a'", "overflows");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "reversed", "'a'", "[8, 0]");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "past end", "'a'", "outside the 8 data bytes");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "size", "'a'", "need 12");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "offsets", "'a'", "data_offsets");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e300]}}", 8, "huge", "'a'", "data_offsets");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, "dup", "'a' appears twice", NULL);
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 16, "overlap", "overlap", "'b'");
    expect("{\"__metadata__\":{\"k\":1}}", 0, "meta value", "__metadata__ 'k'", "not a string");
    expect("{\"__metadata__\":[]}", 0, "meta type", "__metadata__", "not a JSON object");
    /* Header length fields that lie. */
    uint8_t b[16] = { 0 };
    uint64_t h = UINT64_MAX;
    memcpy(b, &h, 8);
    char err[256] = "";
    et_st *st = NULL;
    CHECK(et_st_open_memory(b, 16, "len.st", &st, err, sizeof err) != 0 &&
          strstr(err, "header length 18446744073709551615"), "huge header length: %s", err);
    h = 6;
    memcpy(b, &h, 8);
    memcpy(b + 8, "{}      ", 8);
    CHECK(et_st_open_memory(b, 16, "len.st", &st, err, sizeof err) == 0, "padded: %s", err);
    et_st_close(st);
    st = NULL;
    CHECK(et_st_open("build/golden/safetensors/does-not-exist", &st, err, sizeof err) != 0 &&
          strstr(err, "does-not-exist"), "missing file: %s", err);
}

static void test_random_flips(void) {
    size_t n;
    uint8_t *full = slurp(GOLD "ref.safetensors", &n);
    CHECK(full != NULL, "golden ref.safetensors missing");
    if (!full) return;
    uint64_t hl;
    memcpy(&hl, full, 8);
    uint64_t s = 99;
    int rejected = 0, silent = 0;
    uint8_t *b = malloc(n);
    for (int it = 0; it < 3000; it++) {
        memcpy(b, full, n);
        for (int j = 0, k = 1 + (int)(et_t_rng_next(&s) % 3); j < k; j++) {
            size_t at = (size_t)(et_t_rng_next(&s) % (8 + hl));   /* header bytes */
            b[at] = it % 2 ? (uint8_t)et_t_rng_next(&s) : "0123456789{}[],:\"-e."[et_t_rng_next(&s) % 20];
        }
        char err[256] = "";
        et_st *st = NULL;
        if (et_st_open_memory(b, n, "flip.st", &st, err, sizeof err) == 0) {
            for (int64_t i = 0; i < et_st_n_tensors(st); i++) {
                const et_st_tensor *t = et_st_tensor_at(st, i);
                volatile uint8_t sum = 0;
                for (size_t q = 0; q < t->nbytes; q++) sum += ((const uint8_t *)t->data)[q];
            }
        } else {
            rejected++;
            silent += strncmp(err, "flip.st: ", 9) != 0;
        }
        et_st_close(st);
    }
    CHECK(silent == 0, "%d rejections without the file name", silent);
    CHECK(rejected > 1000, "only %d of 3000 corrupted headers rejected", rejected);
    free(b);
    free(full);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_golden_reference);
    RUN(test_golden_peft);
    RUN(test_writer_roundtrip);
    RUN(test_truncated_everywhere);
    RUN(test_corruptions);
    RUN(test_random_flips);
    rmdir(tmpdir);
    return DONE();
}
