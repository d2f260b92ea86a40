/* libFuzzer target for the adapter readers (models/adapter_io.c): the first byte picks the
 * format — even: a GGUF adapter (edgetune's or llama.cpp's layout), odd: PEFT, where the rest
 * is adapter_config.json, a NUL, then adapter_model.safetensors.  Any bytes load or are
 * rejected with a message naming the input, without out-of-bounds reads (ASan) or undefined
 * behaviour (UBSan); an adapter that loads must pass et_adapter_check and is walked (every
 * tensor's first and last element, name lookups and name parsing).  Seeds in
 * fuzz/corpus/adapter (tiny LoRA / IA3 / prompt adapters in each format). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "models/adapter_io.h"

static volatile float sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char err[512];
    et_adapter a;
    int rc;
    /* a small llama/mistral-like base: 4 layers, 2 heads and 1 kv head of 4, q/k permuted */
    const et_adapter_layout lay = { .n_layers = 4, .n_heads = 2, .n_kv_heads = 1, .head_dim = 4, .permute_qk = true };
    /* the payload in its own (malloc-aligned) buffer, as a file's bytes would be */
    uint8_t *buf = malloc(size);
    if (!buf) return 0;
    memcpy(buf, data + 1, size - 1);
    if (data[0] % 2 == 0) {
        et_gguf *g = NULL;
        if (et_gguf_open_memory(buf, size - 1, "fuzz", &g, err, sizeof err)) {
            free(buf);
            if (strncmp(err, "fuzz", 4) != 0) abort();
            return 0;
        }
        rc = et_adapter_from_gguf(g, &a, err, sizeof err);
        et_gguf_close(g);
    } else {
        const uint8_t *nul = memchr(data + 1, 0, size - 1);
        size_t cfg_len = nul ? (size_t)(nul - data - 1) : size - 1, st_len = nul ? size - 2 - cfg_len : 0;
        memcpy(buf, data + 1, cfg_len);
        uint8_t *st = malloc(st_len + 1);
        if (st) {
            if (st_len) memcpy(st, nul + 1, st_len);
            rc = et_adapter_from_peft_memory((const char *)buf, cfg_len, st, st_len, "fuzz", &lay, &a, err, sizeof err);
            free(st);
        } else rc = -1, snprintf(err, sizeof err, "fuzz: out of memory");
    }
    free(buf);
    if (rc) {
        if (strncmp(err, "fuzz", 4) != 0) abort();   /* every message names the input */
        return 0;
    }
    if (et_adapter_check(&a, "fuzz", err, sizeof err) != 0) abort();
    for (int64_t i = 0; i < a.n; i++) {
        const et_adapter_tensor *t = &a.t[i];
        if (et_adapter_find(&a, t->name) != t) abort();
        int layer, mod, part;
        if (et_adapter_parse_name(t->name, &layer, &mod, &part) && (layer < 0 || mod < 0 || mod > 6 || part > 2)) abort();
        sink += t->data[0] + t->data[t->ne[0] * t->ne[1] - 1];
    }
    et_adapter_free(&a);
    return 0;
}
