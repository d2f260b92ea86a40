/* `edgetune gguf dump FILE`, `edgetune gguf copy IN OUT [--align N]`, `edgetune gguf bench
 * FILE [--runs N]`.
 *
 * dump prints what the validating reader sees (metadata with types, tensors with type, shape
 * in ggml order, offset and size); copy reads a file and writes it back through edgetune's
 * writer (optionally with another alignment), which is how tests/py/test_gguf.py checks that
 * files edgetune writes load in the independent gguf-py reader; bench times opening (map +
 * validate) and one streaming pass over every tensor byte, as a JSON line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "io/gguf.h"

static void et__print_scalar(et_gguf_vtype t, const void *p) {
    switch (t) {
    case ET_GGUF_U8:   printf("%u", *(const uint8_t *)p); break;
    case ET_GGUF_I8:   printf("%d", *(const int8_t *)p); break;
    case ET_GGUF_U16:  printf("%u", *(const uint16_t *)p); break;
    case ET_GGUF_I16:  printf("%d", *(const int16_t *)p); break;
    case ET_GGUF_U32:  printf("%u", *(const uint32_t *)p); break;
    case ET_GGUF_I32:  printf("%d", *(const int32_t *)p); break;
    case ET_GGUF_U64:  printf("%llu", (unsigned long long)*(const uint64_t *)p); break;
    case ET_GGUF_I64:  printf("%lld", (long long)*(const int64_t *)p); break;
    case ET_GGUF_F32:  printf("%.9g", *(const float *)p); break;
    case ET_GGUF_F64:  printf("%.17g", *(const double *)p); break;
    case ET_GGUF_BOOL: printf("%s", *(const uint8_t *)p ? "true" : "false"); break;
    case ET_GGUF_STR: {
        const et_gguf_str *s = p;
        putchar('"');
        for (uint64_t i = 0; i < s->len && i < 120; i++) {
            unsigned char c = (unsigned char)s->ptr[i];
            if (c == '"' || c == '\\') printf("\\%c", c);
            else if (c < 0x20) printf("\\x%02x", c);
            else putchar(c);
        }
        printf(s->len > 120 ? "\"...(%llu bytes)" : "\"", (unsigned long long)s->len);
        break;
    }
    default: printf("?"); break;
    }
}

static size_t et__native_size(et_gguf_vtype t) {
    switch (t) {
    case ET_GGUF_U8: case ET_GGUF_I8: case ET_GGUF_BOOL: return 1;
    case ET_GGUF_U16: case ET_GGUF_I16: return 2;
    case ET_GGUF_U32: case ET_GGUF_I32: case ET_GGUF_F32: return 4;
    case ET_GGUF_STR: return sizeof(et_gguf_str);
    case ET_GGUF_ARR: return sizeof(et_gguf_value);
    default: return 8;
    }
}

static void et__print_value(const et_gguf_value *v) {
    if (v->type != ET_GGUF_ARR) {
        uint8_t b = v->v.b;
        et__print_scalar(v->type, v->type == ET_GGUF_BOOL ? (const void *)&b :
                                  v->type == ET_GGUF_STR ? (const void *)&v->v.str :
                                                           (const void *)&v->v);
        return;
    }
    const et_gguf_array *a = &v->v.arr;
    printf("[");
    for (uint64_t i = 0; i < a->n && i < 8; i++) {
        const char *p = (const char *)a->data + i * et__native_size(a->type);
        if (i) printf(", ");
        if (a->type == ET_GGUF_ARR) et__print_value((const et_gguf_value *)p);
        else et__print_scalar(a->type, p);
    }
    printf(a->n > 8 ? ", ... (%llu)]" : "]", (unsigned long long)a->n);
}

static int et__dump(const char *path) {
    char err[512];
    et_gguf *g;
    if (et_gguf_open(path, &g, err, sizeof err)) {
        fprintf(stderr, "edgetune gguf: %s\n", err);
        return 1;
    }
    printf("%s: GGUF v3, %lld keys, %lld tensors, alignment %u, data at %llu (%s)\n", path,
           (long long)et_gguf_n_kv(g), (long long)et_gguf_n_tensors(g), et_gguf_alignment(g),
           (unsigned long long)et_gguf_data_offset(g), et_gguf_is_mapped(g) ? "mmap" : "read");
    for (int64_t i = 0; i < et_gguf_n_kv(g); i++) {
        const et_gguf_kv *kv = et_gguf_kv_at(g, i);
        printf("kv %-40s %-4s ", kv->key, et_gguf_vtype_name(kv->value.type));
        if (kv->value.type == ET_GGUF_ARR)
            printf("of %s ", et_gguf_vtype_name(kv->value.v.arr.type));
        et__print_value(&kv->value);
        putchar('\n');
    }
    for (int64_t i = 0; i < et_gguf_n_tensors(g); i++) {
        const et_gguf_tensor *t = et_gguf_tensor_at(g, i);
        printf("tensor %-40s %-6s ne [%lld, %lld, %lld, %lld] offset %llu bytes %zu\n", t->name,
               et_type_get(t->type)->name, (long long)t->ne[0], (long long)t->ne[1],
               (long long)t->ne[2], (long long)t->ne[3], (unsigned long long)t->offset,
               t->nbytes);
    }
    et_gguf_close(g);
    return 0;
}

static int et__copy(const char *in, const char *out, long align) {
    char err[512];
    et_gguf *g;
    if (et_gguf_open(in, &g, err, sizeof err)) {
        fprintf(stderr, "edgetune gguf: %s\n", err);
        return 1;
    }
    et_gguf_writer *w = et_gguf_writer_new();
    for (int64_t i = 0; i < et_gguf_n_kv(g); i++) {
        const et_gguf_kv *kv = et_gguf_kv_at(g, i);
        et_gguf_writer_set_value(w, kv->key, &kv->value);
    }
    if (align > 0) et_gguf_writer_set_alignment(w, (uint32_t)align);
    for (int64_t i = 0; i < et_gguf_n_tensors(g); i++) {
        const et_gguf_tensor *t = et_gguf_tensor_at(g, i);
        et_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
    }
    int rc = et_gguf_writer_write(w, out, err, sizeof err);
    if (rc) fprintf(stderr, "edgetune gguf: %s\n", err);
    et_gguf_writer_free(w);
    et_gguf_close(g);
    return rc ? 1 : 0;
}

static double et__now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int et__cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One pass summing every tensor byte with 64-bit loads; returns the bytes read. */
static uint64_t et__sum_tensors(const et_gguf *g, uint64_t *sum) {
    uint64_t bytes = 0;
    for (int64_t i = 0; i < et_gguf_n_tensors(g); i++) {
        const et_gguf_tensor *t = et_gguf_tensor_at(g, i);
        const uint8_t *p = t->data;
        size_t n = t->nbytes, k = 0;
        for (; k + 8 <= n; k += 8) {
            uint64_t v;
            memcpy(&v, p + k, 8);
            *sum += v;
        }
        for (; k < n; k++) *sum += p[k];
        bytes += n;
    }
    return bytes;
}

/* Per run: open + validate, a first pass over every tensor byte (page faults of a fresh
 * mapping, or cache misses after a read), and a second pass (steady state, what decode sees).
 * Medians over `runs`; the page cache is as the machine has it (warm after the first run). */
static int et__bench(const char *path, int runs) {
    double open_s[64], first_s[64], steady_s[64];
    uint64_t bytes = 0, sum = 0;
    int mapped = 0;
    for (int r = 0; r < runs; r++) {
        char err[512];
        et_gguf *g;
        double t0 = et__now();
        if (et_gguf_open(path, &g, err, sizeof err)) {
            fprintf(stderr, "edgetune gguf: %s\n", err);
            return 1;
        }
        double t1 = et__now();
        bytes = et__sum_tensors(g, &sum);
        double t2 = et__now();
        et__sum_tensors(g, &sum);
        double t3 = et__now();
        mapped = et_gguf_is_mapped(g);
        et_gguf_close(g);
        open_s[r] = t1 - t0;
        first_s[r] = t2 - t1;
        steady_s[r] = t3 - t2;
    }
    qsort(open_s, (size_t)runs, sizeof(double), et__cmp_d);
    qsort(first_s, (size_t)runs, sizeof(double), et__cmp_d);
    qsort(steady_s, (size_t)runs, sizeof(double), et__cmp_d);
    double o = open_s[runs / 2], f = bytes / first_s[runs / 2] / 1e9,
           st = bytes / steady_s[runs / 2] / 1e9;
    printf("{\"bench\":\"gguf_load\",\"file\":\"");
    for (const char *c = path; *c; c++)   /* JSON-escape the path */
        printf((unsigned char)*c < 0x20 ? "\\u%04x" : *c == '"' || *c == '\\' ? "\\%c" : "%c",
               *c);
    printf("\",\"tensor_bytes\":%llu,\"mapped\":%s,\"runs\":%d,\"open_ms_median\":%.3f,"
           "\"open_ms_min\":%.3f,\"open_ms_max\":%.3f,\"first_pass_GBps_median\":%.2f,"
           "\"steady_GBps_median\":%.2f,\"steady_GBps_min\":%.2f,\"steady_GBps_max\":%.2f,"
           "\"checksum\":%llu}\n", (unsigned long long)bytes, mapped ? "true" : "false", runs,
           o * 1e3, open_s[0] * 1e3, open_s[runs - 1] * 1e3, f, st,
           bytes / steady_s[runs - 1] / 1e9, bytes / steady_s[0] / 1e9, (unsigned long long)sum);
    printf("gguf load (%s, median of %d): open+validate %.2f ms, first pass %.1f GB/s, "
           "steady %.1f GB/s\n", mapped ? "mmap" : "read", runs, o * 1e3, f, st);
    return 0;
}

int et_cmd_gguf(int argc, char **argv) {
    const char *usage = "usage: edgetune gguf dump FILE\n"
                        "       edgetune gguf copy IN OUT [--align N]\n"
                        "       edgetune gguf bench FILE [--runs N]   (N in 1..64, default 5)\n";
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "dump")) return et__dump(argv[2]);
    if ((argc == 3 || argc == 5) && !strcmp(argv[1], "bench")) {
        int runs = 5;
        if (argc == 5) {
            char *end;
            long v = strtol(argv[4], &end, 10);
            if (strcmp(argv[3], "--runs") || *end || v < 1 || v > 64) {
                fprintf(stderr, "edgetune gguf: --runs takes 1..64, got '%s'\n%s", argv[4], usage);
                return 2;
            }
            runs = (int)v;
        }
        return et__bench(argv[2], runs);
    }
    if ((argc == 4 || argc == 6) && !strcmp(argv[1], "copy")) {
        long align = 0;
        if (argc == 6) {
            char *end;
            align = strtol(argv[5], &end, 10);
            if (strcmp(argv[4], "--align") || *end || align < 1 || align > (1L << 24) ||
                (align & (align - 1))) {
                fprintf(stderr, "edgetune gguf: --align takes a power of two in 1..2^24, "
                                "got '%s'\n%s", argv[5], usage);
                return 2;
            }
        }
        return et__copy(argv[2], argv[3], align);
    }
    fputs(usage, stderr);
    return 2;
}
