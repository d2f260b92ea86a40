/* Small pieces the GGUF reader and writer share: the size of a tensor computed with every
 * multiplication overflow-checked (the reader runs it on numbers from untrusted files), the
 * type id mapping including edgetune's NF4 id, and value-type names for messages. */
#include <stdio.h>
#include "gguf.h"
#include "quant.h"

size_t et__gguf_tensor_nbytes(et_type type, int n_dims, const int64_t *ne, char *err,
                              size_t errlen) {
    if ((int)type < 0 || type >= ET_TYPE_COUNT) {
        snprintf(err, errlen, "type %d is not an edgetune type", (int)type);
        return 0;
    }
    if (n_dims < 0 || n_dims > ET_GGUF_MAX_DIMS) {
        snprintf(err, errlen, "n_dims = %d, must be 0..%d", n_dims, ET_GGUF_MAX_DIMS);
        return 0;
    }
    const et_type_traits *tr = et_type_get(type);
    for (int i = 0; i < n_dims; i++)
        if (ne[i] < 1) {
            snprintf(err, errlen, "ne[%d] = %lld, must be >= 1", i, (long long)ne[i]);
            return 0;
        }
    int64_t ne0 = n_dims > 0 ? ne[0] : 1, nrows = 1, nel;
    if (ne0 % tr->blck_size != 0) {
        snprintf(err, errlen, "ne[0] = %lld is not a multiple of %s's block size %d",
                 (long long)ne0, tr->name, (int)tr->blck_size);
        return 0;
    }
    for (int i = 1; i < n_dims; i++)
        if (__builtin_mul_overflow(nrows, ne[i], &nrows)) {
            snprintf(err, errlen, "element count overflows (dims %lld x %lld x %lld x %lld)",
                     (long long)ne[0], (long long)(n_dims > 1 ? ne[1] : 1),
                     (long long)(n_dims > 2 ? ne[2] : 1), (long long)(n_dims > 3 ? ne[3] : 1));
            return 0;
        }
    if (__builtin_mul_overflow(ne0, nrows, &nel)) {
        snprintf(err, errlen, "element count overflows (%lld x %lld)", (long long)ne0,
                 (long long)nrows);
        return 0;
    }
    uint64_t nblocks = (uint64_t)(ne0 / tr->blck_size), bytes;
    if (__builtin_mul_overflow(nblocks, (uint64_t)nrows, &nblocks) ||
        __builtin_mul_overflow(nblocks, (uint64_t)tr->type_size, &bytes)) {
        snprintf(err, errlen, "byte size overflows (%lld elements of %s)", (long long)nel,
                 tr->name);
        return 0;
    }
    if (type == ET_NF4) {   /* double-quant tail: one float per 256 blocks, one offset */
        uint64_t tail = ((nblocks + ET_NF4_GROUP - 1) / ET_NF4_GROUP + 1) * sizeof(float);
        if (__builtin_add_overflow(bytes, tail, &bytes)) {
            snprintf(err, errlen, "byte size overflows (%lld elements of nf4)", (long long)nel);
            return 0;
        }
    }
    if (bytes > (uint64_t)SIZE_MAX / 2) {
        snprintf(err, errlen, "byte size %llu is too large", (unsigned long long)bytes);
        return 0;
    }
    /* Same number as the dtype table's own formula (no overflow is possible any more). */
    if (bytes != et_type_nbytes(type, ne0, nrows)) {
        snprintf(err, errlen, "size %llu disagrees with et_type_nbytes (%zu) for %s",
                 (unsigned long long)bytes, et_type_nbytes(type, ne0, nrows), tr->name);
        return 0;
    }
    return (size_t)bytes;
}

int32_t et__gguf_type_id(et_type type) {
    if ((int)type < 0 || type >= ET_TYPE_COUNT) return -1;
    if (type == ET_NF4) return ET_GGUF_TYPE_NF4;
    return et_type_get(type)->ggml_type;
}

const char *et_gguf_vtype_name(et_gguf_vtype t) {
    static const char *names[ET_GGUF_VTYPE_COUNT] = {
        [ET_GGUF_U8] = "u8",   [ET_GGUF_I8] = "i8",   [ET_GGUF_U16] = "u16",
        [ET_GGUF_I16] = "i16", [ET_GGUF_U32] = "u32", [ET_GGUF_I32] = "i32",
        [ET_GGUF_F32] = "f32", [ET_GGUF_BOOL] = "bool", [ET_GGUF_STR] = "str",
        [ET_GGUF_ARR] = "arr", [ET_GGUF_U64] = "u64", [ET_GGUF_I64] = "i64",
        [ET_GGUF_F64] = "f64",
    };
    return (int)t >= 0 && t < ET_GGUF_VTYPE_COUNT ? names[t] : "?";
}
