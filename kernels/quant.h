/* Block formats, byte for byte as GGUF defines them (ggml's block_* structs), plus NF4.
 *
 * Every weight row is a sequence of blocks; a block packs QK consecutive elements of the row.
 * Half-precision scales are stored as raw IEEE binary16 bits (uint16_t).  The static asserts
 * pin the sizes: a change here breaks every file ever written, so they must never move.
 *
 * NF4 (QLoRA's 4-bit NormalFloat, double-quantized as bitsandbytes does it) is edgetune's own
 * layout — GGUF has no NF4 — and is documented next to its struct below.
 */
#ifndef ET_QUANT_H
#define ET_QUANT_H

#include <assert.h>
#include <stdint.h>

#define ET_QK4_0  32
#define ET_QK4_1  32
#define ET_QK5_0  32
#define ET_QK5_1  32
#define ET_QK8_0  32
#define ET_QK4_NL 32
#define ET_QK_K   256
#define ET_K_SCALE_SIZE 12
#define ET_QKNF4  64          /* elements per NF4 block (bitsandbytes' QLoRA blocksize) */
#define ET_NF4_GROUP 256      /* NF4 blocks per second-level (double-quant) group */

/* Q8_0: x = d * q, q in [-127, 127]. */
typedef struct { uint16_t d; int8_t qs[ET_QK8_0]; } et_block_q8_0;
static_assert(sizeof(et_block_q8_0) == 34, "q8_0 block size");

/* Q4_0: x = d * (q - 8); element j in the low nibble of qs[j], element j+16 in the high. */
typedef struct { uint16_t d; uint8_t qs[ET_QK4_0 / 2]; } et_block_q4_0;
static_assert(sizeof(et_block_q4_0) == 18, "q4_0 block size");

/* Q4_1: x = d * q + m; same nibble order as Q4_0. */
typedef struct { uint16_t d; uint16_t m; uint8_t qs[ET_QK4_1 / 2]; } et_block_q4_1;
static_assert(sizeof(et_block_q4_1) == 20, "q4_1 block size");

/* Q5_0: x = d * (q - 16), q a 5-bit value: its low 4 bits in the nibbles of qs (element j
 * low, element j+16 high, as Q4_0), its high bit in bit j of qh read as a little-endian
 * uint32 (ggml keeps qh as bytes so the block stays 2-byte aligned). */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[ET_QK5_0 / 2]; } et_block_q5_0;
static_assert(sizeof(et_block_q5_0) == 22, "q5_0 block size");

/* Q5_1: x = d * q + m; the 5-bit q packed as in Q5_0. */
typedef struct { uint16_t d; uint16_t m; uint8_t qh[4]; uint8_t qs[ET_QK5_1 / 2]; } et_block_q5_1;
static_assert(sizeof(et_block_q5_1) == 24, "q5_1 block size");

/* Q4_K: super-block of 256 = 8 sub-blocks of 32, each with a 6-bit scale and 6-bit min packed
 * in scales[12]; x = d * sc * q - dmin * m. */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t  scales[ET_K_SCALE_SIZE];
    uint8_t  qs[ET_QK_K / 2];
} et_block_q4_K;
static_assert(sizeof(et_block_q4_K) == 144, "q4_K block size");

/* Q6_K: 16 sub-blocks of 16 with int8 scales; 6-bit quants split in low 4 bits (ql) and high
 * 2 bits (qh); x = d * sc * (q - 32). */
typedef struct {
    uint8_t  ql[ET_QK_K / 2];
    uint8_t  qh[ET_QK_K / 4];
    int8_t   scales[ET_QK_K / 16];
    uint16_t d;
} et_block_q6_K;
static_assert(sizeof(et_block_q6_K) == 210, "q6_K block size");

/* Q8_K: activations for K-quant dots; float scale, and the sums of each 16 quants. */
typedef struct { float d; int8_t qs[ET_QK_K]; int16_t bsums[ET_QK_K / 16]; } et_block_q8_K;
static_assert(sizeof(et_block_q8_K) == 292, "q8_K block size");

/* IQ4_NL: Q4_0's layout with a non-linear 16-entry int8 codebook. */
typedef struct { uint16_t d; uint8_t qs[ET_QK4_NL / 2]; } et_block_iq4_nl;
static_assert(sizeof(et_block_iq4_nl) == 18, "iq4_nl block size");

/* NF4 block: 64 elements.  `absmax_q` indexes bitsandbytes' signed 8-bit dynamic map; the
 * block's absmax is  dyn[absmax_q] * group_scale[block / 256] + offset  (double quantization).
 * qs[j] holds element 2j in its high nibble and 2j+1 in its low nibble (bitsandbytes order);
 * x = nf4_code[nibble] * absmax.  A tensor is its blocks in row-major order, then the tail:
 * ceil(nblocks / 256) float group scales, then one float offset.  See kernels/ref/ for the
 * reference and et_type_nbytes() for the total size. */
typedef struct { uint8_t absmax_q; uint8_t qs[ET_QKNF4 / 2]; } et_block_nf4;
static_assert(sizeof(et_block_nf4) == 33, "nf4 block size");

/* NF4 tensor layout in full (checked against a numpy re-implementation of bitsandbytes'
 * quantize_4bit(blocksize=64, compress_statistics=True, quant_type="nf4") by tests/test_quant.c):
 *
 *   offset 0                      nblocks x et_block_nf4 (33 bytes each, no padding), block b
 *                                 covering elements 64b .. 64b+63 of the row-major tensor
 *   offset 33 * nblocks           float group_scale[ceil(nblocks / 256)]
 *   then                          float offset
 *   total                         et_type_nbytes(ET_NF4, ne0, nrows) == et_nf4_nbytes(n)
 *
 * The floats are little-endian IEEE binary32 and, since 33 * nblocks is usually odd, unaligned:
 * read them with memcpy.  How the numbers are made (bitsandbytes' method):
 *   absmax[b]      = max |x| over block b (float32), used for the 4-bit codes of block b:
 *                    nibble = dQuantizeNF4(x * (1 / absmax[b])), midpoint decision tree
 *   offset         = mean of all absmax[b]  (bitsandbytes: absmax.mean(), then absmax -= offset)
 *   group_scale[g] = max |absmax[b] - offset| over the (up to) 256 blocks of group g
 *   absmax_q[b]    = 8-bit code of (absmax[b] - offset) / group_scale[g] in the signed dynamic
 *                    map (create_dynamic_map(signed=True)), nearest by bitsandbytes' search
 * and decoded as  absmax'[b] = dyn[absmax_q[b]] * group_scale[b / 256] + offset (float32),
 * x' = nf4_code[nibble] * absmax'[b].  The codebook and the map are kernels/ref/quant_ref.h's
 * et_nf4_codebook and et_nf4_dynamic_map. */

#endif
