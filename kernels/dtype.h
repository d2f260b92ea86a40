/* Element types and their traits: one table of designated initializers (kernels/dtype.c).
 *
 * A type is either a plain scalar (F32, F16, BF16, I32) or a block format: `blck_size`
 * consecutive elements of one row packed into `type_size` bytes (kernels/quant.h holds the
 * block structs).  Rows always hold whole blocks.  The enum is dense and edgetune's own; the
 * GGUF/GGML type id of each is in the table (`ggml_type`, -1 for types GGUF lacks), so file
 * I/O maps ids in one place.
 *
 * NF4 is the one type whose bytes are not just rows of blocks: double quantization stores one
 * float per 256 blocks of the whole tensor after the blocks (see quant.h), so the size of an
 * NF4 tensor comes from et_type_nbytes(), never from rows × row size alone.
 */
#ifndef ET_DTYPE_H
#define ET_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef enum et_type {
    ET_F32 = 0,
    ET_F16,
    ET_BF16,
    ET_I32,
    ET_Q8_0,
    ET_Q4_0,
    ET_Q4_1,
    ET_Q4_K,
    ET_Q6_K,
    ET_IQ4_NL,
    ET_NF4,
    ET_Q8_K,      /* activations for K-quant dot products (GGUF id 15); never a weight here */
    ET_Q5_0,      /* appended (not next to Q4_*) so no earlier enum value moves */
    ET_Q5_1,
    ET_TYPE_COUNT
} et_type;

typedef struct et_type_traits {
    const char *name;          /* lower case, as on the command line: "q4_0", "nf4" */
    int32_t     blck_size;     /* elements per block (1 for scalars) */
    size_t      type_size;     /* bytes per block */
    bool        is_quantized;
    int32_t     ggml_type;     /* GGUF tensor type id, -1 if GGUF has none */
    /* Reference conversions of a contiguous run of n elements (n a multiple of blck_size).
     * For NF4 these cover the blocks of one row only: use kernels/quant.h's nf4 helpers for
     * whole tensors.  NULL where not applicable (I32). */
    void (*to_f32)(const void *src, float *dst, int64_t n);
    void (*from_f32)(const float *src, void *dst, int64_t n);
} et_type_traits;

extern const et_type_traits et_type_traits_table[ET_TYPE_COUNT];

static inline const et_type_traits *et_type_get(et_type t) { return &et_type_traits_table[t]; }

/* Bytes of one row of ne0 elements (ne0 must be a multiple of the block size). */
size_t et_type_row_size(et_type t, int64_t ne0);
/* Bytes of a whole contiguous tensor of `nrows` rows of ne0 elements (adds NF4's tail). */
size_t et_type_nbytes(et_type t, int64_t ne0, int64_t nrows);
/* Look a type up by name ("q4_k"); returns ET_TYPE_COUNT if unknown. */
et_type et_type_from_name(const char *name);
/* Map a GGUF type id to ours; ET_TYPE_COUNT if unsupported. */
et_type et_type_from_ggml(int32_t ggml_type);

/* Scalar half conversions, bit-exact with numpy (round to nearest even, NaN kept a NaN). */
uint16_t et_fp32_to_fp16(float f);
float    et_fp16_to_fp32(uint16_t h);
/* bf16 as GGUF/gguf-py define it: round to nearest even, NaN forced quiet. */
uint16_t et_fp32_to_bf16(float f);
float    et_bf16_to_fp32(uint16_t h);

#endif
