/* The type traits table: one row per element type, designated initializers only.  Block
 * formats register their reference converters here (kernels/ref/). */
#include <string.h>
#include "dtype.h"
#include "quant.h"
#include "ref/ref.h"
#include "ref/quant_ref.h"

const et_type_traits et_type_traits_table[ET_TYPE_COUNT] = {
    [ET_F32]  = { .name = "f32",  .blck_size = 1, .type_size = 4, .ggml_type = 0,
                  .to_f32 = et_ref_f32_copy, .from_f32 = et_ref_f32_copy_from },
    [ET_F16]  = { .name = "f16",  .blck_size = 1, .type_size = 2, .ggml_type = 1,
                  .to_f32 = et_ref_f16_to_f32, .from_f32 = et_ref_f32_to_f16 },
    [ET_BF16] = { .name = "bf16", .blck_size = 1, .type_size = 2, .ggml_type = 30,
                  .to_f32 = et_ref_bf16_to_f32, .from_f32 = et_ref_f32_to_bf16 },
    [ET_I32]  = { .name = "i32",  .blck_size = 1, .type_size = 4, .ggml_type = 26 },
    [ET_Q8_0] = { .name = "q8_0", .blck_size = ET_QK8_0, .type_size = sizeof(et_block_q8_0),
                  .is_quantized = true, .ggml_type = 8,
                  .to_f32 = et_ref_dequantize_row_q8_0, .from_f32 = et_ref_quantize_row_q8_0 },
    [ET_Q4_0] = { .name = "q4_0", .blck_size = ET_QK4_0, .type_size = sizeof(et_block_q4_0),
                  .is_quantized = true, .ggml_type = 2,
                  .to_f32 = et_ref_dequantize_row_q4_0, .from_f32 = et_ref_quantize_row_q4_0 },
    [ET_Q4_1] = { .name = "q4_1", .blck_size = ET_QK4_1, .type_size = sizeof(et_block_q4_1),
                  .is_quantized = true, .ggml_type = 3,
                  .to_f32 = et_ref_dequantize_row_q4_1, .from_f32 = et_ref_quantize_row_q4_1 },
    [ET_Q4_K] = { .name = "q4_k", .blck_size = ET_QK_K, .type_size = sizeof(et_block_q4_K),
                  .is_quantized = true, .ggml_type = 12,
                  .to_f32 = et_ref_dequantize_row_q4_k, .from_f32 = et_ref_quantize_row_q4_k },
    [ET_Q6_K] = { .name = "q6_k", .blck_size = ET_QK_K, .type_size = sizeof(et_block_q6_K),
                  .is_quantized = true, .ggml_type = 14,
                  .to_f32 = et_ref_dequantize_row_q6_k, .from_f32 = et_ref_quantize_row_q6_k },
    [ET_Q5_0] = { .name = "q5_0", .blck_size = ET_QK5_0, .type_size = sizeof(et_block_q5_0),
                  .is_quantized = true, .ggml_type = 6,
                  .to_f32 = et_ref_dequantize_row_q5_0, .from_f32 = et_ref_quantize_row_q5_0 },
    [ET_Q5_1] = { .name = "q5_1", .blck_size = ET_QK5_1, .type_size = sizeof(et_block_q5_1),
                  .is_quantized = true, .ggml_type = 7,
                  .to_f32 = et_ref_dequantize_row_q5_1, .from_f32 = et_ref_quantize_row_q5_1 },
    [ET_IQ4_NL] = { .name = "iq4_nl", .blck_size = ET_QK4_NL,
                  .type_size = sizeof(et_block_iq4_nl), .is_quantized = true, .ggml_type = 20,
                  .to_f32 = et_ref_dequantize_row_iq4_nl, .from_f32 = et_ref_quantize_row_iq4_nl },
    [ET_NF4]  = { .name = "nf4",  .blck_size = ET_QKNF4, .type_size = sizeof(et_block_nf4),
                  .is_quantized = true, .ggml_type = -1 },
    [ET_Q8_K] = { .name = "q8_k", .blck_size = ET_QK_K, .type_size = sizeof(et_block_q8_K),
                  .is_quantized = true, .ggml_type = 15,
                  .from_f32 = et_ref_quantize_row_q8_k },
};

size_t et_type_row_size(et_type t, int64_t ne0) {
    const et_type_traits *tr = et_type_get(t);
    return (size_t)(ne0 / tr->blck_size) * tr->type_size;
}

size_t et_type_nbytes(et_type t, int64_t ne0, int64_t nrows) {
    size_t n = et_type_row_size(t, ne0) * (size_t)nrows;
    if (t == ET_NF4) {
        size_t nblocks = (size_t)(ne0 / ET_QKNF4) * (size_t)nrows;
        n += ((nblocks + ET_NF4_GROUP - 1) / ET_NF4_GROUP + 1) * sizeof(float);
    }
    return n;
}

et_type et_type_from_name(const char *name) {
    for (int t = 0; t < ET_TYPE_COUNT; t++)
        if (et_type_traits_table[t].name && strcmp(et_type_traits_table[t].name, name) == 0)
            return (et_type)t;
    return ET_TYPE_COUNT;
}

et_type et_type_from_ggml(int32_t id) {
    for (int t = 0; t < ET_TYPE_COUNT; t++)
        if (et_type_traits_table[t].ggml_type == id && id >= 0) return (et_type)t;
    return ET_TYPE_COUNT;
}
