/* KV_STORE: write this step's keys or values k [hd, nkv, T, B] into a persistent cache
 * [hd, nkv, S_max, B] at positions n_past .. n_past+T−1, and return a view of the filled
 * prefix [hd, nkv, n_past+T, B] for attention to read.  The node is a view of the cache (no
 * planned memory); reading it orders attention after the write. */
#include <string.h>
#include "cost.h"
#include "ops.h"

et_tensor *et_kv_store(et_ctx *ctx, et_tensor *cache, et_tensor *k, int n_past) {
    if (!cache || !k) return NULL;
    if (!et__check(ctx, cache->type == ET_F32 && (cache->flags & ET_FLAG_PERSIST) && et_is_contiguous(cache),
                   "kv_store", cache, NULL, "the cache must be a contiguous f32 leaf"))
        return NULL;
    if (!et__check_f32(ctx, "kv_store", k) ||
        !et__check(ctx, k->ne[0] == cache->ne[0] && k->ne[1] == cache->ne[1] && k->ne[3] == cache->ne[3] &&
                            k->nb[0] == 4, "kv_store", k, cache, "head dim, kv heads and batch must match"))
        return NULL;
    if (n_past < 0 || n_past + k->ne[2] > cache->ne[2])
        return et_ctx_fail(ctx, "kv_store '%s': n_past %d + %lld new tokens exceed the cache's %lld positions",
                           cache->name, n_past, (long long)k->ne[2], (long long)cache->ne[2]);
    et_tensor *t = et__new_node(ctx, ET_OP_KV_STORE, ET_F32, ET_MAX_DIMS,
                                (int64_t[]){cache->ne[0], cache->ne[1], n_past + k->ne[2], cache->ne[3]});
    if (!t) return NULL;
    memcpy(t->nb, cache->nb, sizeof t->nb);
    t->src[0] = k;
    t->src[1] = cache;
    t->view_src = cache;
    t->params[0] = n_past;
    return t;
}

void et__fwd_kv_store(et_tensor *t, et_exec *ex) {
    const et_tensor *k = t->src[0], *c = t->src[1];
    int64_t n_past = t->params[0];
    for (int64_t b = 0; b < k->ne[3]; b++)
        for (int64_t s = 0; s < k->ne[2]; s++)
            for (int64_t h = 0; h < k->ne[1]; h++)
                memcpy((char *)c->data + h * c->nb[1] + (n_past + s) * c->nb[2] + b * c->nb[3],
                       (const char *)k->data + h * k->nb[1] + s * k->nb[2] + b * k->nb[3], (size_t)k->ne[0] * 4);
}

/* ---- cost (see cost.h): a copy of the new keys/values into the cache, no arithmetic ---- */
void et__cost_kv_store(const et_tensor *t, double *flops, double *bytes) {
    *flops = 0;
    *bytes = 2.0 * et__cost_nbytes(t->src[0]);
}
