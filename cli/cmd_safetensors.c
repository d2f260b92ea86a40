/* `edgetune safetensors dump FILE` and `edgetune safetensors copy IN OUT`.
 *
 * dump prints the metadata and every tensor (dtype, shape, offsets) as the validating reader
 * sees them; copy rewrites a file through edgetune's writer, which is how
 * tests/py/test_safetensors.py checks that the reference safetensors package loads files
 * edgetune writes. */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "io/safetensors.h"

static int et__st_dump(const char *path) {
    char err[512];
    et_st *st;
    if (et_st_open(path, &st, err, sizeof err)) {
        fprintf(stderr, "edgetune safetensors: %s\n", err);
        return 1;
    }
    printf("%s: %lld tensors, %lld metadata entries\n", path, (long long)et_st_n_tensors(st),
           (long long)et_st_n_meta(st));
    const char *k, *v;
    for (int64_t i = 0; et_st_meta_at(st, i, &k, &v); i++) printf("meta %s = %s\n", k, v);
    for (int64_t i = 0; i < et_st_n_tensors(st); i++) {
        const et_st_tensor *t = et_st_tensor_at(st, i);
        printf("tensor %-48s %-7s [", t->name, et_st_dtype_name(t->dtype));
        for (int d = 0; d < t->n_dims; d++) printf(d ? ", %lld" : "%lld", (long long)t->shape[d]);
        printf("] bytes [%llu, %llu)\n", (unsigned long long)t->begin, (unsigned long long)t->end);
    }
    et_st_close(st);
    return 0;
}

static int et__st_copy(const char *in, const char *out) {
    char err[512];
    et_st *st;
    if (et_st_open(in, &st, err, sizeof err)) {
        fprintf(stderr, "edgetune safetensors: %s\n", err);
        return 1;
    }
    et_st_writer *w = et_st_writer_new();
    const char *k, *v;
    for (int64_t i = 0; et_st_meta_at(st, i, &k, &v); i++) et_st_writer_set_meta(w, k, v);
    for (int64_t i = 0; i < et_st_n_tensors(st); i++) {
        const et_st_tensor *t = et_st_tensor_at(st, i);
        et_st_writer_add(w, t->name, t->dtype, t->n_dims, t->shape, t->data, t->nbytes);
    }
    int rc = et_st_writer_write(w, out, err, sizeof err);
    if (rc) fprintf(stderr, "edgetune safetensors: %s\n", err);
    et_st_writer_free(w);
    et_st_close(st);
    return rc ? 1 : 0;
}

int et_cmd_safetensors(int argc, char **argv) {
    const char *usage = "usage: edgetune safetensors dump FILE\n"
                        "       edgetune safetensors copy IN OUT\n";
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "dump")) return et__st_dump(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "copy")) return et__st_copy(argv[2], argv[3]);
    fputs(usage, stderr);
    return 2;
}
