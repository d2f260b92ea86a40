/* libFuzzer target for the GGUF reader (engine/io/gguf.c): any bytes must either load or be
 * rejected with a message naming the input; nothing may read out of bounds (ASan) or hit
 * undefined behaviour (UBSan).  A file that loads is walked completely: every key through
 * every typed getter, every array element, every byte of every tensor.  Build and run with
 * `make fuzz` / `make fuzz-ci` (tools/fuzz.mk); seeds in fuzz/corpus/gguf. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "io/gguf.h"

static volatile uint64_t sink;

static void walk(const et_gguf_value *v) {
    if (v->type == ET_GGUF_STR) {
        for (uint64_t i = 0; i < v->v.str.len; i++) sink += (uint8_t)v->v.str.ptr[i];
        sink += (uint8_t)v->v.str.ptr[v->v.str.len];   /* the terminating NUL */
    } else if (v->type == ET_GGUF_ARR) {
        const et_gguf_array *a = &v->v.arr;
        if (a->type == ET_GGUF_ARR) {
            for (uint64_t i = 0; i < a->n; i++) walk(&((const et_gguf_value *)a->data)[i]);
        } else if (a->type == ET_GGUF_STR) {
            for (uint64_t i = 0; i < a->n; i++) {
                et_gguf_value s = { .type = ET_GGUF_STR, .v.str = ((const et_gguf_str *)a->data)[i] };
                walk(&s);
            }
        } else if (a->n) {
            sink += ((const uint8_t *)a->data)[0];
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    et_gguf *g = NULL;
    if (et_gguf_open_memory(data, size, "fuzz", &g, err, sizeof err) != 0) {
        if (strncmp(err, "fuzz: ", 6) != 0) abort();   /* every error names its input */
        return 0;
    }
    for (int64_t i = 0; i < et_gguf_n_kv(g); i++) {
        const et_gguf_kv *kv = et_gguf_kv_at(g, i);
        if (et_gguf_find(g, kv->key) != &kv->value) abort();
        walk(&kv->value);
        uint32_t u32; int64_t i64; uint64_t u64; double f64; float f32; bool b;
        et_gguf_str s; et_gguf_array a;
        et_gguf_get_u32(g, kv->key, &u32, err, sizeof err);
        et_gguf_get_i64(g, kv->key, &i64, err, sizeof err);
        et_gguf_get_u64(g, kv->key, &u64, err, sizeof err);
        et_gguf_get_f64(g, kv->key, &f64, err, sizeof err);
        et_gguf_get_f32(g, kv->key, &f32, err, sizeof err);
        et_gguf_get_bool(g, kv->key, &b, err, sizeof err);
        et_gguf_get_str(g, kv->key, &s, err, sizeof err);
        et_gguf_get_arr(g, kv->key, ET_GGUF_VTYPE_COUNT, &a, err, sizeof err);
    }
    for (int64_t i = 0; i < et_gguf_n_tensors(g); i++) {
        const et_gguf_tensor *t = et_gguf_tensor_at(g, i);
        if (et_gguf_tensor_find(g, t->name) != t) abort();
        const uint8_t *p = t->data;
        if (t->nbytes) sink += p[0] + p[t->nbytes - 1];
    }
    et_gguf_close(g);
    return 0;
}
