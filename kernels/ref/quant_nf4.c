/* Reference NF4: QLoRA's 4-bit NormalFloat with double quantization, as bitsandbytes does it
 * (quantize_4bit(..., blocksize=64, compress_statistics=True, quant_type="nf4")).
 *
 * Quantization, for a whole tensor of n elements (n a multiple of 64):
 *   1. per 64-element block: absmax = max |x|; each x * (1/absmax) is mapped to a 4-bit code by
 *      bitsandbytes' decision tree (strict '>' against the midpoints between codebook values,
 *      dQuantizeNF4); element 2j goes to the high nibble of qs[j], 2j+1 to the low nibble.
 *   2. offset = mean of all absmaxes (accumulated in double here; bitsandbytes takes a float32
 *      torch mean, which can differ in the last bit; the offset is stored, so dequantization
 *      stays self-consistent either way);
 *   3. per group of 256 blocks: a = absmax - offset (float), scale2 = max |a| over the group,
 *      absmax_q = the 8-bit code of a * (1/scale2) in the signed dynamic map, found by
 *      bitsandbytes' dQuantize binary search with its midpoint rule.
 * Dequantization: absmax' = dyn[absmax_q] * scale2 + offset, x = nf4[code] * absmax'
 * (float32, in that order, as bitsandbytes' dequantize_4bit).
 * Zero-scale guard: a zero absmax (or scale2) uses reciprocal 0, so an all-zero block gets the
 * code of 0.0 (7) instead of bitsandbytes' NaN-driven code 0 (-1.0 * 0); a subnormal absmax
 * whose reciprocal overflows divides instead of multiplying; and near FLT_MAX an 8-bit code
 * whose dequantized absmax would round to inf is replaced by the next one down.
 */
#include <math.h>
#include <string.h>
#include "quant.h"
#include "ref/quant_ref.h"

/* bitsandbytes get_4bit_type("nf4"), functional.py; the values are float32 as stored there */
const float et_nf4_codebook[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

/* bitsandbytes create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): for
 * i = 0..6, the midpoints of linspace(0.1, 1, 2^i + 1) (float32) times ±10^(i-6), plus 0 and
 * 1, sorted.  Generated with torch 1.13 from that function; tests/py/gen_quant.py recomputes
 * it and tests/test_quant.c compares bit for bit. */
const float et_nf4_dynamic_map[256] = {
    -0x1.fc6666p-1f, -0x1.f53332p-1f, -0x1.eep-1f, -0x1.e6ccccp-1f,
    -0x1.df9998p-1f, -0x1.d86666p-1f, -0x1.d13334p-1f, -0x1.cap-1f,
    -0x1.c2ccccp-1f, -0x1.bb9998p-1f, -0x1.b46666p-1f, -0x1.ad3332p-1f,
    -0x1.a6p-1f, -0x1.9eccccp-1f, -0x1.979998p-1f, -0x1.906666p-1f,
    -0x1.893334p-1f, -0x1.82p-1f, -0x1.7acccep-1f, -0x1.73999ap-1f,
    -0x1.6c6668p-1f, -0x1.653334p-1f, -0x1.5ep-1f, -0x1.56cccep-1f,
    -0x1.4f999ap-1f, -0x1.486666p-1f, -0x1.413334p-1f, -0x1.3ap-1f,
    -0x1.32ccccp-1f, -0x1.2b999ap-1f, -0x1.246668p-1f, -0x1.1d3334p-1f,
    -0x1.16p-1f, -0x1.0eccccp-1f, -0x1.07999ap-1f, -0x1.006666p-1f,
    -0x1.f26668p-2f, -0x1.e4p-2f, -0x1.d59998p-2f, -0x1.c73334p-2f,
    -0x1.b8ccccp-2f, -0x1.aa6664p-2f, -0x1.9cp-2f, -0x1.8d9998p-2f,
    -0x1.7f3334p-2f, -0x1.70ccccp-2f, -0x1.626664p-2f, -0x1.54p-2f,
    -0x1.459998p-2f, -0x1.373334p-2f, -0x1.28ccccp-2f, -0x1.1a6668p-2f,
    -0x1.0cp-2f, -0x1.fb3334p-3f, -0x1.de6668p-3f, -0x1.c1999ap-3f,
    -0x1.a4ccccp-3f, -0x1.88p-3f, -0x1.6b3332p-3f, -0x1.4e6666p-3f,
    -0x1.31999ap-3f, -0x1.14ccccp-3f, -0x1.fp-4f, -0x1.b66668p-4f,
    -0x1.93d70ap-4f, -0x1.8851eap-4f, -0x1.7ccccep-4f, -0x1.7147aep-4f,
    -0x1.65c29p-4f, -0x1.5a3d7p-4f, -0x1.4eb85p-4f, -0x1.433334p-4f,
    -0x1.37ae14p-4f, -0x1.2c28f6p-4f, -0x1.20a3d6p-4f, -0x1.151ebap-4f,
    -0x1.09999ap-4f, -0x1.fc28f4p-5f, -0x1.e51ebap-5f, -0x1.ce147ap-5f,
    -0x1.b70a3ep-5f, -0x1.ap-5f, -0x1.88f5c2p-5f, -0x1.71eb86p-5f,
    -0x1.5ae146p-5f, -0x1.43d70ap-5f, -0x1.2ccccep-5f, -0x1.15c28ep-5f,
    -0x1.fd70a4p-6f, -0x1.cf5c26p-6f, -0x1.a147aep-6f, -0x1.733334p-6f,
    -0x1.451eb8p-6f, -0x1.170a3ep-6f, -0x1.d1eb86p-7f, -0x1.75c29p-7f,
    -0x1.3e76c8p-7f, -0x1.2c083p-7f, -0x1.19999ap-7f, -0x1.072b02p-7f,
    -0x1.e978d4p-8f, -0x1.c49ba6p-8f, -0x1.9fbe76p-8f, -0x1.7ae148p-8f,
    -0x1.56041ap-8f, -0x1.3126e8p-8f, -0x1.0c49bap-8f, -0x1.ced914p-9f,
    -0x1.851eb8p-9f, -0x1.3b645ap-9f, -0x1.e353f8p-10f, -0x1.4fdf3ap-10f,
    -0x1.eecbfep-11f, -0x1.b3d07cp-11f, -0x1.78d5p-11f, -0x1.3dd982p-11f,
    -0x1.02de02p-11f, -0x1.8fc506p-12f, -0x1.19ce0ap-12f, -0x1.47ae16p-13f,
    -0x1.743e96p-14f, -0x1.15df66p-14f, -0x1.6f0068p-15f, -0x1.64840cp-16f,
    -0x1.040bfep-17f, -0x1.b43528p-19f, -0x1.27476ep-21f, 0x0p+0f,
    0x1.27476ep-21f, 0x1.b43528p-19f, 0x1.040bfep-17f, 0x1.64840cp-16f,
    0x1.6f0068p-15f, 0x1.15df66p-14f, 0x1.743e96p-14f, 0x1.47ae16p-13f,
    0x1.19ce0ap-12f, 0x1.8fc506p-12f, 0x1.02de02p-11f, 0x1.3dd982p-11f,
    0x1.78d5p-11f, 0x1.b3d07cp-11f, 0x1.eecbfep-11f, 0x1.4fdf3ap-10f,
    0x1.e353f8p-10f, 0x1.3b645ap-9f, 0x1.851eb8p-9f, 0x1.ced914p-9f,
    0x1.0c49bap-8f, 0x1.3126e8p-8f, 0x1.56041ap-8f, 0x1.7ae148p-8f,
    0x1.9fbe76p-8f, 0x1.c49ba6p-8f, 0x1.e978d4p-8f, 0x1.072b02p-7f,
    0x1.19999ap-7f, 0x1.2c083p-7f, 0x1.3e76c8p-7f, 0x1.75c29p-7f,
    0x1.d1eb86p-7f, 0x1.170a3ep-6f, 0x1.451eb8p-6f, 0x1.733334p-6f,
    0x1.a147aep-6f, 0x1.cf5c26p-6f, 0x1.fd70a4p-6f, 0x1.15c28ep-5f,
    0x1.2ccccep-5f, 0x1.43d70ap-5f, 0x1.5ae146p-5f, 0x1.71eb86p-5f,
    0x1.88f5c2p-5f, 0x1.ap-5f, 0x1.b70a3ep-5f, 0x1.ce147ap-5f,
    0x1.e51ebap-5f, 0x1.fc28f4p-5f, 0x1.09999ap-4f, 0x1.151ebap-4f,
    0x1.20a3d6p-4f, 0x1.2c28f6p-4f, 0x1.37ae14p-4f, 0x1.433334p-4f,
    0x1.4eb85p-4f, 0x1.5a3d7p-4f, 0x1.65c29p-4f, 0x1.7147aep-4f,
    0x1.7ccccep-4f, 0x1.8851eap-4f, 0x1.93d70ap-4f, 0x1.b66668p-4f,
    0x1.fp-4f, 0x1.14ccccp-3f, 0x1.31999ap-3f, 0x1.4e6666p-3f,
    0x1.6b3332p-3f, 0x1.88p-3f, 0x1.a4ccccp-3f, 0x1.c1999ap-3f,
    0x1.de6668p-3f, 0x1.fb3334p-3f, 0x1.0cp-2f, 0x1.1a6668p-2f,
    0x1.28ccccp-2f, 0x1.373334p-2f, 0x1.459998p-2f, 0x1.54p-2f,
    0x1.626664p-2f, 0x1.70ccccp-2f, 0x1.7f3334p-2f, 0x1.8d9998p-2f,
    0x1.9cp-2f, 0x1.aa6664p-2f, 0x1.b8ccccp-2f, 0x1.c73334p-2f,
    0x1.d59998p-2f, 0x1.e4p-2f, 0x1.f26668p-2f, 0x1.006666p-1f,
    0x1.07999ap-1f, 0x1.0eccccp-1f, 0x1.16p-1f, 0x1.1d3334p-1f,
    0x1.246668p-1f, 0x1.2b999ap-1f, 0x1.32ccccp-1f, 0x1.3ap-1f,
    0x1.413334p-1f, 0x1.486666p-1f, 0x1.4f999ap-1f, 0x1.56cccep-1f,
    0x1.5ep-1f, 0x1.653334p-1f, 0x1.6c6668p-1f, 0x1.73999ap-1f,
    0x1.7acccep-1f, 0x1.82p-1f, 0x1.893334p-1f, 0x1.906666p-1f,
    0x1.979998p-1f, 0x1.9eccccp-1f, 0x1.a6p-1f, 0x1.ad3332p-1f,
    0x1.b46666p-1f, 0x1.bb9998p-1f, 0x1.c2ccccp-1f, 0x1.cap-1f,
    0x1.d13334p-1f, 0x1.d86666p-1f, 0x1.df9998p-1f, 0x1.e6ccccp-1f,
    0x1.eep-1f, 0x1.f53332p-1f, 0x1.fc6666p-1f, 0x1p+0f,
};

/* bitsandbytes' dQuantizeNF4: a decision tree on the midpoints between codebook values,
 * strict '>' at every node (so a value exactly on a midpoint takes the lower code). */
static uint8_t et__nf4_code(float x) {
    if (x > 0.03979014977812767f) {
        if (x > 0.3893125355243683f) {
            if (x > 0.6427869200706482f) return x > 0.8614784181118011f ? 15 : 14;
            return x > 0.5016634166240692f ? 13 : 12;
        }
        if (x > 0.2035212516784668f) return x > 0.2920137718319893f ? 11 : 10;
        return x > 0.1202552504837513f ? 9 : 8;
    }
    if (x > -0.33967943489551544f) {
        if (x > -0.13791173323988914f) return x > -0.045525018125772476f ? 7 : 6;
        return x > -0.23460740596055984f ? 5 : 4;
    }
    if (x > -0.6106329262256622f) return x > -0.4599952697753906f ? 3 : 2;
    return x > -0.8480964004993439f ? 1 : 0;     /* NaN lands here, as in bitsandbytes */
}

/* bitsandbytes' dQuantize<0> over the 256-entry dynamic map: a 7-step binary search from the
 * middle, then the nearer of the final pivot and its bracketing neighbour (midpoint rule). */
static uint8_t et__dyn_code(float x) {
    const float *code = et_nf4_dynamic_map;
    int pivot = 127, upper_pivot = 255, lower_pivot = 0;
    float lower = -1.0f, upper = 1.0f;
    float val = code[pivot];
    for (int i = 64; i > 0; i >>= 1) {
        if (x > val) { lower_pivot = pivot; lower = val; pivot += i; }
        else         { upper_pivot = pivot; upper = val; pivot -= i; }
        val = code[pivot];
    }
    if (upper_pivot == 255) upper = code[upper_pivot];
    if (lower_pivot == 0) lower = code[lower_pivot];
    if (x > val) return (uint8_t)(x > (upper + val) * 0.5f ? upper_pivot : pivot);
    return (uint8_t)(x < (lower + val) * 0.5f ? lower_pivot : pivot);
}

static float et__block_absmax(const float *x) {
    float amax = 0.0f;
    for (int j = 0; j < ET_QKNF4; j++) amax = fmaxf(amax, fabsf(x[j]));
    return amax;
}

/* v * (1/s) as bitsandbytes computes it, with the zero-scale guard (module comment). */
typedef struct { float r; int divide; float s; } et__nf4_scaler;
static et__nf4_scaler et__scaler(float s) {
    et__nf4_scaler k = { 0.0f, 0, s };
    if (s > 0.0f) {
        k.r = 1.0f / s;
        k.divide = isinf(k.r);
    }
    return k;
}
static inline float et__scale(et__nf4_scaler k, float v) { return k.divide ? v / k.s : v * k.r; }

size_t et_nf4_nbytes(int64_t n) {
    const size_t nb = (size_t)(n / ET_QKNF4);
    return nb * sizeof(et_block_nf4) + ((nb + ET_NF4_GROUP - 1) / ET_NF4_GROUP + 1) * sizeof(float);
}

void et_ref_quantize_nf4(const float *x, void *dst, int64_t n) {
    const int64_t nb = n / ET_QKNF4, ngroups = (nb + ET_NF4_GROUP - 1) / ET_NF4_GROUP;
    et_block_nf4 *blk = dst;
    uint8_t *tail = (uint8_t *)dst + (size_t)nb * sizeof(et_block_nf4);

    /* 1. 4-bit codes against each block's exact absmax */
    double sum = 0.0;
    for (int64_t b = 0; b < nb; b++) {
        const float *xb = x + b * ET_QKNF4;
        const float amax = et__block_absmax(xb);
        const et__nf4_scaler k = et__scaler(amax);
        sum += amax;
        for (int j = 0; j < ET_QKNF4 / 2; j++)
            blk[b].qs[j] = (uint8_t)(et__nf4_code(et__scale(k, xb[2 * j])) << 4 |
                                     et__nf4_code(et__scale(k, xb[2 * j + 1])));
    }
    /* 2. the offset, 3. 8-bit codes of the centred absmaxes per group of 256 blocks
     *    (absmaxes are recomputed rather than stored: the reference allocates nothing) */
    const float offset = nb ? (float)(sum / (double)nb) : 0.0f;
    for (int64_t g = 0; g < ngroups; g++) {
        const int64_t b0 = g * ET_NF4_GROUP;
        const int64_t b1 = b0 + ET_NF4_GROUP < nb ? b0 + ET_NF4_GROUP : nb;
        float scale2 = 0.0f;
        for (int64_t b = b0; b < b1; b++)
            scale2 = fmaxf(scale2, fabsf(et__block_absmax(x + b * ET_QKNF4) - offset));
        const et__nf4_scaler k = et__scaler(scale2);
        for (int64_t b = b0; b < b1; b++) {
            uint8_t c = et__dyn_code(et__scale(k, et__block_absmax(x + b * ET_QKNF4) - offset));
            /* near FLT_MAX, code * scale2 + offset can round up to inf: take the next code
             * down (the map is sorted; never happens below ~FLT_MAX / 2) */
            while (c > 0 && isinf(et_nf4_dynamic_map[c] * scale2 + offset)) c--;
            blk[b].absmax_q = c;
        }
        memcpy(tail + (size_t)g * sizeof(float), &scale2, sizeof(float));
    }
    memcpy(tail + (size_t)ngroups * sizeof(float), &offset, sizeof(float));
}

float et_nf4_block_absmax(const void *base, int64_t nblocks_total, int64_t block_index) {
    const et_block_nf4 *blk = base;
    const uint8_t *tail = (const uint8_t *)base + (size_t)nblocks_total * sizeof(et_block_nf4);
    const int64_t ngroups = (nblocks_total + ET_NF4_GROUP - 1) / ET_NF4_GROUP;
    float scale2, offset;
    memcpy(&scale2, tail + (size_t)(block_index / ET_NF4_GROUP) * sizeof(float), sizeof(float));
    memcpy(&offset, tail + (size_t)ngroups * sizeof(float), sizeof(float));
    return et_nf4_dynamic_map[blk[block_index].absmax_q] * scale2 + offset;
}

void et_ref_dequantize_nf4_rows(const void *base, int64_t nrows, int64_t ne0, int64_t r0,
                                int64_t nr, float *dst) {
    const et_block_nf4 *blk = base;
    const int64_t bpr = ne0 / ET_QKNF4, nb = nrows * bpr;
    for (int64_t b = r0 * bpr; b < (r0 + nr) * bpr; b++, dst += ET_QKNF4) {
        const float amax = et_nf4_block_absmax(base, nb, b);
        for (int j = 0; j < ET_QKNF4 / 2; j++) {
            dst[2 * j]     = et_nf4_codebook[blk[b].qs[j] >> 4] * amax;
            dst[2 * j + 1] = et_nf4_codebook[blk[b].qs[j] & 0x0f] * amax;
        }
    }
}
