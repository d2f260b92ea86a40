/* The toy stride task (see toy.h). */
#include "toy.h"

void et_toy_fill_batch(const et_llama_batch *b, int32_t vocab, uint64_t seed) {
    int64_t T = b->ids->ne[0], B = b->ids->ne[1];
    int32_t *ids = b->ids->data, *sel = b->sel->data, *tg = b->targets->data;
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
    int64_t p = 0;
    for (int64_t j = 0; j < B; j++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        int32_t k = 1 + (int32_t)(s % (uint64_t)(vocab / 2 - 1));
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        int32_t x = (int32_t)(s % (uint64_t)vocab);
        ids[j * T] = k;
        for (int64_t t = 1; t < T; t++) { ids[j * T + t] = x; x = (x + k) % vocab; }
        for (int64_t t = 0; t + 1 < T; t++) { sel[p] = (int32_t)(j * T + t); tg[p] = ids[j * T + t + 1]; p++; }
    }
    /* positions beyond (T-1)·B, if the batch has room for more, are padding */
    for (; p < b->sel->ne[0]; p++) { sel[p] = 0; tg[p] = -1; }
}
