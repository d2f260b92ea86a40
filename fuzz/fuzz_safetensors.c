/* libFuzzer target for the safetensors reader (engine/io/safetensors.c): any bytes load or are
 * rejected with a message naming the input, without out-of-bounds reads (ASan) or undefined
 * behaviour (UBSan); a file that loads is walked (metadata, every tensor's first and last
 * byte, name lookups).  Seeds in fuzz/corpus/safetensors. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "io/safetensors.h"

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    et_st *st = NULL;
    if (et_st_open_memory(data, size, "fuzz", &st, err, sizeof err) != 0) {
        if (strncmp(err, "fuzz: ", 6) != 0) abort();
        return 0;
    }
    const char *k, *v;
    for (int64_t i = 0; et_st_meta_at(st, i, &k, &v); i++) {
        sink += strlen(k) + strlen(v);
        if (et_st_meta_get(st, k) == NULL) abort();
    }
    for (int64_t i = 0; i < et_st_n_tensors(st); i++) {
        const et_st_tensor *t = et_st_tensor_at(st, i);
        if (et_st_tensor_find(st, t->name) != t) abort();
        const uint8_t *p = t->data;
        if (t->nbytes) sink += p[0] + p[t->nbytes - 1];
    }
    et_st_close(st);
    return 0;
}
