/* `edgetune gguf dump FILE` and `edgetune gguf copy IN OUT [--align N]`.
 *
 * dump prints what the validating reader sees (metadata with types, tensors with type, shape
 * in ggml order, offset and size); copy reads a file and writes it back through edgetune's
 * writer (optionally with another alignment), which is how tests/py/test_gguf.py checks that
 * files edgetune writes load in the independent gguf-py reader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int et_cmd_gguf(int argc, char **argv) {
    const char *usage = "usage: edgetune gguf dump FILE\n"
                        "       edgetune gguf copy IN OUT [--align N]\n";
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "dump")) return et__dump(argv[2]);
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
