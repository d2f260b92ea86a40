/* Scalar reference quantizers and dequantizers for every block format in kernels/quant.h.
 *
 * These are the definitions the SIMD kernels (kernels/x86, kernels/arm) are tested against,
 * so they favour being obviously right over being fast.  They live in three rooms:
 *   quant_ref.c      Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL   (the 32-element GGUF formats)
 *   quant_kquants.c  Q4_K, Q6_K, Q8_K           (256-element super-blocks)
 *   quant_nf4.c      NF4 with double quantization (bitsandbytes' QLoRA format)
 *
 * Bit-exactness contract (checked by tests/test_quant.c against goldens written by the PyPI
 * gguf package, tests/py/gen_quant.py):
 *   - quantize Q8_0, Q4_0, Q4_1, Q5_0, Q5_1: byte-exact with gguf.quants on finite input whose block
 *     scale fits in binary16 (|x| up to ~65504 * qmax).  Beyond that gguf writes an inf scale
 *     (every value then dequantizes to inf or NaN); these saturate the scale at 65504 instead,
 *     so no NaN or inf comes out of finite input.
 *   - dequantize every GGUF format: bit-exact with gguf (the products are evaluated in the same
 *     order: (d * sc) * q - (dmin * m) ...), which the -ffp-contract=off build guarantees.
 *   - Q4_K, Q6_K, Q8_K quantize: ggml's quantize_row_*_ref algorithms (make_qkx2_quants,
 *     make_qx_quants); IQ4_NL: llama.cpp's quantize_iq4_nl (the ntry = 7 scale search that
 *     llama-quantize uses, not the no-search quantize_row_iq4_nl_ref).  gguf has no quantizer
 *     for them, so the test bounds their error instead (tests/test_quant.c says how).
 * A block whose scale would be zero (all-zero input, or a scale that underflows) gets scale 0
 * and zero quants: never a NaN from 0 * inf.
 *
 * n is the element count and must be a multiple of the format's block size; callers check it
 * (these are kernels: raw pointers and sizes, no status returns).
 */
#ifndef ET_QUANT_REF_H
#define ET_QUANT_REF_H

#include <stddef.h>
#include <stdint.h>
#include "quant.h"     /* the block structs and sizes these functions read and write */

/* ---- 32-element formats ---- */
void et_ref_quantize_row_q8_0(const float *x, void *y, int64_t n);
void et_ref_dequantize_row_q8_0(const void *x, float *y, int64_t n);
void et_ref_quantize_row_q4_0(const float *x, void *y, int64_t n);
void et_ref_dequantize_row_q4_0(const void *x, float *y, int64_t n);
void et_ref_quantize_row_q4_1(const float *x, void *y, int64_t n);
void et_ref_dequantize_row_q4_1(const void *x, float *y, int64_t n);
void et_ref_quantize_row_q5_0(const float *x, void *y, int64_t n);
void et_ref_dequantize_row_q5_0(const void *x, float *y, int64_t n);
void et_ref_quantize_row_q5_1(const float *x, void *y, int64_t n);
void et_ref_dequantize_row_q5_1(const void *x, float *y, int64_t n);
void et_ref_quantize_row_iq4_nl(const float *x, void *y, int64_t n);
void et_ref_dequantize_row_iq4_nl(const void *x, float *y, int64_t n);

/* ---- K-quants (256-element super-blocks) ---- */
void et_ref_quantize_row_q4_k(const float *x, void *y, int64_t n);
void et_ref_dequantize_row_q4_k(const void *x, float *y, int64_t n);
void et_ref_quantize_row_q6_k(const float *x, void *y, int64_t n);
void et_ref_dequantize_row_q6_k(const void *x, float *y, int64_t n);
/* Q8_K is only ever an activation format (the other operand of K-quant dot products), as
 * ggml's quantize_row_q8_K_ref: with max the signed value of largest magnitude, iscale =
 * -127 / max, qs = nearest_int(iscale * x) (so max itself maps to -127), d = 1 / iscale (a float
 * of the opposite sign to max), bsums[i] = sum of qs[16 i .. 16 i + 15].  All-zero, subnormal-
 * only or infinite blocks get d = 0 and zero quants. */
void et_ref_quantize_row_q8_k(const float *x, void *y, int64_t n);

/* ---- NF4 (per tensor: the double-quantization tail spans the whole tensor) ----
 * Layout (kernels/quant.h): nblocks = n / 64 blocks of 33 bytes in row-major order, then
 * ceil(nblocks / 256) float group scales, then one float offset; floats are little-endian
 * and unaligned (read them with memcpy). */
size_t et_nf4_nbytes(int64_t n);                      /* == et_type_nbytes(ET_NF4, n, 1) */
void   et_ref_quantize_nf4(const float *x, void *dst, int64_t n);   /* n multiple of 64 */
/* Rows r0 .. r0+nr-1 of an nrows x ne0 NF4 tensor (ne0 a multiple of 64) into dst[nr][ne0]. */
void   et_ref_dequantize_nf4_rows(const void *base, int64_t nrows, int64_t ne0, int64_t r0,
                                  int64_t nr, float *dst);
/* The dequantized absmax of block `block_index`: dyn[absmax_q] * group_scale + offset. */
float  et_nf4_block_absmax(const void *base, int64_t nblocks_total, int64_t block_index);

/* bitsandbytes' NF4 codebook (get_4bit_type("nf4")), index = the 4-bit code. */
extern const float et_nf4_codebook[16];
/* bitsandbytes' create_dynamic_map(signed=True): 256 sorted values in [-0.993, 1]. */
extern const float et_nf4_dynamic_map[256];
/* ggml's kvalues_iq4nl: the IQ4_NL codebook, x = d * value[code]. */
extern const int8_t et_iq4nl_values[16];

#endif
