/* One-token matvec (decode) for the AVX512-VNNI paths: y[n] = W[n,:] · x for a range of rows,
 * streaming each weight row once straight from its GGUF blocks.  Memory-bound by design: the
 * loops do just enough work per block to keep up with DRAM (~16 bytes per ~8 instructions),
 * using 256-bit VNNI (vpdpbusd ymm, AVX512-VL) against x quantized to int8 groups of 32.
 *   Q8_0   |w| · sign(x, w)              one int32 dot per block, one scale multiply
 *   Q4_0 Q4_1 IQ4_NL Q5_0 Q5_1   nibbles (IQ4_NL: codebook bytes by vpshufb; Q5: +16 where
 *          the qh bit is set, a masked byte add) · x, four blocks per zmm step and two
 *          rows a pass, offsets and mins from the activation's group sums
 *   Q4_K   nibbles · x quantized per super-block (Q8_K), 6-bit scales applied in int32
 *   Q6_K   6-bit quants rebuilt from ql/qh per 32 elements, int8 scales per 16
 *   NF4    int16 codes by vpermw against x in int16 per 64-block, vpdpwssd; on the plain
 *          avx512 path f32 codes by vpermps, f32 FMA
 *   F32 F16 BF16   converted to f32 in registers, f32 FMA (also on the plain avx512 path)
 */
#include <string.h>
#include "matvec_x86.h"
#include "ref/quant_ref.h"

static inline float et__h2f(uint16_t h) { return _cvtsh_ss(h); }

/* One row at a time, streaming, where a row's activations are few (the Q4_0 family and NF4,
 * whose activations outweigh their weights, take two rows a pass).  (Four rows at once —
 * four weight streams, each x block loaded once for all — measured 2.4× slower on Zen: 14
 * vs 33 GB/s for Q8_0 on one thread.) */

/* Q8_0's block step on VNNI: |w| · sign(x, w) by vpdpbusd (the row loop: matvec_x86.h). */
ET__INLINE __m256 et__q8_0_step(const et_block_q8_0 *b, const et__qact *xq, int64_t i, __m256 acc) {
    __m256i xv = _mm256_loadu_si256((const __m256i *)(xq->q + i * 32));
    __m256i wv = _mm256_loadu_si256((const __m256i *)b[i].qs);
    __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(et__h2f(b[i].d) * xq->d[i]), acc);
}

void et__mv_q8_0_vnni(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                      int64_t n0, int64_t n1, bool accumulate) {
    et__mv_q8_0_rows(w, xq, y, n0, n1, accumulate, et__q8_0_step);
}

/* The 32-element 4/5-bit formats (V selects one):
 *   V 0  Q4_0    u8 nibble q,        x = d (q - 8):      minus 8 d·sum(x̂)
 *   V 1  Q4_1    u8 nibble q,        x = d q + m:        plus  m·sum(x̂)
 *   V 2  IQ4_NL  u8 codebook[q]+128  x = d codebook[q]:  minus 128 d·sum(x̂)   (vpshufb LUT)
 *   V 3  Q5_0    u8 nibble + 16·qh,  x = d (q - 16):     minus 16 d·sum(x̂)
 *   V 4  Q5_1    u8 nibble + 16·qh,  x = d q + m:        plus  m·sum(x̂)
 * (Q5's qh, a little-endian uint32, has bit j for element j.) */

/* Format V's block size, and the offset of its 16 quant bytes in the block. */
ET__INLINE size_t et__q4x_bs(const int V) {
    return V == 1 ? sizeof(et_block_q4_1) : V == 3 ? sizeof(et_block_q5_0)
         : V == 4 ? sizeof(et_block_q5_1) : sizeof(et_block_q4_0);
}
ET__INLINE size_t et__q4x_qo(const int V) { return V == 1 ? 4 : V == 3 ? 6 : V == 4 ? 8 : 2; }

/* Word-permute indices for 4 consecutive blocks of `bs` bytes held in two zmm (128 bytes):
 * qs  the 4 blocks' 16 quant bytes side by side (64 bytes), from byte offset qo
 * d   each block's f16 scale (offset 0) 4 times: 16 halves, one per int32 lane of the block
 * m   the same for the min (offset 2)
 * qh  Q5's high bits: [low words of blocks 0..3 | high words of blocks 0..3]: the byte masks
 *     of the low and high nibbles.  (Every offset is even: word permutes, AVX512-BW only.) */
typedef struct { __m512i qs, d, m, qh; } et__q4x_idx;

static et__q4x_idx et__q4x_indices(size_t bs, size_t qo, size_t ho) {
    uint16_t qs[32], d[32] = { 0 }, m[32] = { 0 }, qh[32] = { 0 };
    const uint16_t w = (uint16_t)(bs / 2);
    for (int j = 0; j < 32; j++) qs[j] = (uint16_t)(w * (j / 8) + qo / 2 + j % 8);
    for (int j = 0; j < 16; j++) { d[j] = (uint16_t)(w * (j / 4)); m[j] = (uint16_t)(d[j] + 1); }
    for (int j = 0; j < 8; j++) qh[j] = (uint16_t)(w * (j % 4) + ho / 2 + j / 4);
    et__q4x_idx r;
    r.qs = _mm512_loadu_si512(qs);
    r.d = _mm512_loadu_si512(d);
    r.m = _mm512_loadu_si512(m);
    r.qh = _mm512_loadu_si512(qh);
    return r;
}

/* Four blocks at p (of which `avail` bytes may be read: masked loads past them read zeros,
 * and fault on nothing) against their permuted activations (xa, xb: elements 0-15 and 16-31
 * of each block): the int32 lane sums P (block j in lanes 4j..4j+3) as floats, and the
 * blocks' scales (and mins) per lane, zero for blocks not there. */
ET__INLINE __m512 et__q4x_step(const uint8_t *p, size_t avail, __m512i xa, __m512i xb,
                               const et__q4x_idx *ix, const int V, __m512 *dw, __m512 *mw) {
    const __m512i m4 = _mm512_set1_epi8(0xF);
    __m512i z0, z1;
    if (avail >= 96) {
        z0 = _mm512_loadu_si512(p);
        z1 = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p + 64)));
    } else {
        z0 = _mm512_maskz_loadu_epi8(avail >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << avail) - 1, p);
        z1 = _mm512_maskz_loadu_epi8(avail > 64 ? ((__mmask64)1 << (avail - 64)) - 1 : 0, p + 64);
    }
    __m512i q;
    if (avail >= 96 && V <= 2) {   /* the 4 × 16 quant bytes by (masked) 128-bit broadcasts */
        const size_t bs = et__q4x_bs(V), qo = et__q4x_qo(V);
        q = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(p + qo)));
        q = _mm512_mask_broadcast_i32x4(q, 0x00F0, _mm_loadu_si128((const __m128i *)(p + qo + bs)));
        q = _mm512_mask_broadcast_i32x4(q, 0x0F00, _mm_loadu_si128((const __m128i *)(p + qo + 2 * bs)));
        q = _mm512_mask_broadcast_i32x4(q, 0xF000, _mm_loadu_si128((const __m128i *)(p + qo + 3 * bs)));
    } else {
        q = _mm512_permutex2var_epi16(z0, ix->qs, z1);
    }
    __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    if (V == 2) {   /* IQ4_NL: codebook + 128 as unsigned bytes, per 128-bit lane */
        const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(
            1, 24, 45, 63, 79, 93, 106, 118, (char)129, (char)141, (char)153, (char)166,
            (char)181, (char)197, (char)217, (char)241));
        lo = _mm512_shuffle_epi8(lut, lo);
        hi = _mm512_shuffle_epi8(lut, hi);
    }
    if (V >= 3) {   /* Q5: +16 where the element's qh bit is set */
        __m128i h = _mm512_castsi512_si128(_mm512_permutex2var_epi16(z0, ix->qh, z1));
        const __m512i s16 = _mm512_set1_epi8(16);
        lo = _mm512_mask_add_epi8(lo, (__mmask64)_mm_cvtsi128_si64(h), lo, s16);
        hi = _mm512_mask_add_epi8(hi, (__mmask64)_mm_extract_epi64(h, 1), hi, s16);
    }
    __m512i acc = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xa);
    acc = _mm512_dpbusd_epi32(acc, hi, xb);
    /* the scales (and mins) of Q4_0, Q4_1 and IQ4_NL all lie in the first 64 bytes: one-source
     * vpermw (1 uop) instead of vpermt2w (3; Q4_0 from L2 on one thread: 21.1 -> 22.2 GB/s) */
    if (V <= 2) {
        *dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(ix->d, z0)));
        if (V == 1)
            *mw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(ix->m, z0)));
    } else {
        *dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(z0, ix->d, z1)));
        if (V == 4)
            *mw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(z0, ix->m, z1)));
    }
    return _mm512_cvtepi32_ps(acc);
}

/* The activations of one step (blocks i..i+3): permuted quants, lane scales and constants. */
typedef struct { __m512i xa, xb; __m512 xd, c; } et__q4x_act;

ET__INLINE et__q4x_act et__q4x_act_at(const et__qact *xq, int64_t i) {
    et__q4x_act a;
    a.xa = _mm512_loadu_si512(xq->q4 + i * 32);
    a.xb = _mm512_loadu_si512(xq->q4 + i * 32 + 64);
    a.xd = _mm512_loadu_ps(xq->x4 + i * 4);
    a.c = _mm512_loadu_ps(xq->c4 + i * 4);
    return a;
}

/* One step (four blocks at p, of which `avail` bytes may be read) into *acc (and *accm). */
ET__INLINE void et__q4x_acc(const uint8_t *p, size_t avail, const et__q4x_act *a,
                            const et__q4x_idx *ix, const int V, __m512 *acc, __m512 *accm) {
    ET__PF_AT((const char *)p, ET__MV_PF_L2_Q4);   /* 4 blocks <= 96 bytes */
    ET__PF_AT((const char *)p + 64, ET__MV_PF_L2_Q4);
    __m512 dw, mw = _mm512_setzero_ps();
    const __m512 P = et__q4x_step(p, avail, a->xa, a->xb, ix, V, &dw, &mw);
    if (V == 1 || V == 4) {
        *acc = _mm512_fmadd_ps(_mm512_mul_ps(P, a->xd), dw, *acc);
        *accm = _mm512_fmadd_ps(mw, a->c, *accm);
    } else {
        *acc = _mm512_fmadd_ps(_mm512_fmadd_ps(P, a->xd, a->c), dw, *acc);
    }
}

/* The 32-element 4/5-bit formats, four blocks per step, all block-scale work in vectors:
 *   offset formats  acc += d_w · (P · d_x + off · ds_x / 4)
 *   min formats     acc += d_w · (P · d_x),  accm += m_w · ds_x / 4
 * (x4, c4: 4 lanes per block, prepared by the driver with the permuted activations q4).  With
 * per-block scalar scale arithmetic instead this loop ran at ~12.7 GB/s on one Zen 4 thread.
 * Two rows per pass share each step's four activation loads (a step read 256 bytes of them
 * against 72 of weights): rows in L2, one Sapphire Rapids thread, Q4_0 22.5 -> 24.0 GB/s,
 * Q4_1 20.6 -> 22.2, Q5_0 19.9 -> 20.7, IQ4_NL 21.5 -> 22.0.  (On Zen 4, before the rows
 * were prefetched, two rows a pass measured slower: 10.9 vs 16.6 GB/s; four rows a pass are
 * slower here too: 20 GB/s.)
 * A step reads 96 bytes: the last steps of a row, which could run past the tensor, use
 * masked loads; their missing blocks get zero scales (and meet zero activation scales). */
ET__INLINE void et__mv_q4x_rows(const et__wdesc *w, const et__qact *xq, float *y, int64_t n0,
                                int64_t n1, const int V, bool accumulate) {
    const int64_t nb = w->K / 32;
    const size_t bs = et__q4x_bs(V), qo = et__q4x_qo(V);
    const size_t ho = V == 4 ? 4 : 2;                               /* offset of qh (Q5) */
    const et__q4x_idx ix = et__q4x_indices(bs, qo, ho);
    const int64_t nfull = nb >= 6 ? (nb - 6) / 4 * 4 + 4 : 0;      /* blocks read unmasked */
    int64_t n = n0;
    for (; n + 2 <= n1; n += 2) {   /* two rows a pass: each step's activations loaded once */
        const uint8_t *r0 = (const uint8_t *)w->base + (size_t)n * w->ldw, *r1 = r0 + w->ldw;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, m0 = a0, m1 = a0;
        for (int64_t i = 0; i < nb; i += 4) {
            const et__q4x_act a = et__q4x_act_at(xq, i);
            const size_t avail = i < nfull ? 96 : (size_t)(nb - i) * bs;
            et__q4x_acc(r0 + (size_t)i * bs, avail, &a, &ix, V, &a0, &m0);
            et__q4x_acc(r1 + (size_t)i * bs, avail, &a, &ix, V, &a1, &m1);
        }
        et__put(y, n, _mm512_reduce_add_ps(_mm512_add_ps(a0, m0)), accumulate);
        et__put(y, n + 1, _mm512_reduce_add_ps(_mm512_add_ps(a1, m1)), accumulate);
    }
    for (; n < n1; n++) {
        const uint8_t *row = (const uint8_t *)w->base + (size_t)n * w->ldw;
        __m512 acc = _mm512_setzero_ps(), accm = acc;
        for (int64_t i = 0; i < nb; i += 4) {
            const et__q4x_act a = et__q4x_act_at(xq, i);
            et__q4x_acc(row + (size_t)i * bs, i < nfull ? 96 : (size_t)(nb - i) * bs, &a, &ix, V,
                        &acc, &accm);
        }
        et__put(y, n, _mm512_reduce_add_ps(_mm512_add_ps(acc, accm)), accumulate);
    }
}

void et__mv_q4_0_vnni(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                      int64_t n0, int64_t n1, bool accumulate) {
    et__mv_q4x_rows(w, xq, y, n0, n1, 0, accumulate);
}

void et__mv_q4_1_vnni(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                      int64_t n0, int64_t n1, bool accumulate) {
    et__mv_q4x_rows(w, xq, y, n0, n1, 1, accumulate);
}

void et__mv_iq4_nl_vnni(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                        int64_t n0, int64_t n1, bool accumulate) {
    et__mv_q4x_rows(w, xq, y, n0, n1, 2, accumulate);
}

void et__mv_q5_0_vnni(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                      int64_t n0, int64_t n1, bool accumulate) {
    et__mv_q4x_rows(w, xq, y, n0, n1, 3, accumulate);
}

void et__mv_q5_1_vnni(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                      int64_t n0, int64_t n1, bool accumulate) {
    et__mv_q4x_rows(w, xq, y, n0, n1, 4, accumulate);
}

/* Q4_K, one super-block (256 elements, 144 bytes) per step, against x quantized per
 * super-block (et__qact.qk, one scale: llama.cpp's Q8_K), so the 6-bit sub-block scales apply
 * in int32 and one float FMA serves all 256 products.  64 bytes of quants split into their low
 * nibbles (sub-blocks 2c, 2c+2) and high ones (2c+1, 2c+3) meet 64 activation bytes laid out
 * in that order; vpdpbusd gives each lane a 4-product sum (|p| <= 4·15·127, an int16), and
 * vpdpwssd against the lane's scale in the low half of a dword (high half zero) adds p·scale
 * exactly.  Mins: Σ m·bsum by one pmaddwd per super-block.  (The earlier form, per-32 x scales
 * and a float multiply per pair of sub-blocks, ran at 16 GB/s on one Zen 4 thread; with
 * per-sub-block scalar scale decoding, 7.) */
void et__mv_q4_k_vnni(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                      int64_t n0, int64_t n1, bool accumulate) {
    const int64_t nb = w->K / ET_QK_K;
    const __m512i m4 = _mm512_set1_epi8(0xF);
    /* the scale-pair dwords (sc2j, sc2j+1) for each half: [0 | 1] for w01, [2 | 3] for w23 */
    __m512i pidx[2];
    for (int j = 0; j < 2; j++)
        pidx[j] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(2 * j)),
                                     _mm256_set1_epi32(2 * j + 1), 1);
    for (int64_t n = n0; n < n1; n++) {
        const et_block_q4_K *b = (const et_block_q4_K *)((const char *)w->base + (size_t)n * w->ldw);
        __m512 acc = _mm512_setzero_ps();
        __m128 accm = _mm_setzero_ps();
        for (int64_t i = 0; i < nb; i++) {
            for (int l = 0; l < (int)sizeof b[i]; l += 64)   /* 144-byte blocks */
                ET__PF_AT((const char *)(b + i) + l, ET__MV_PF_L2_Q4);
            uint32_t u[3];
            memcpy(u, b[i].scales, 12);
            /* the 6-bit scales and mins as two 64-bit words (one vmovq each: four 32-bit
             * inserts cost 7 uops, most on the shuffle port) */
            const uint64_t sc = (u[0] & 0x3F3F3F3Fu) |
                                (uint64_t)((u[2] & 0x0F0F0F0Fu) | ((u[0] >> 6 & 0x03030303u) << 4)) << 32;
            const uint64_t mn = (u[1] & 0x3F3F3F3Fu) |
                                (uint64_t)((u[2] >> 4 & 0x0F0F0F0Fu) | ((u[1] >> 6 & 0x03030303u) << 4)) << 32;
            const int8_t *xs = xq->qk + i * ET_QK_K;
            const __m512i v0 = _mm512_loadu_si512(b[i].qs), v1 = _mm512_loadu_si512(b[i].qs + 64);
            const __m512i z = _mm512_setzero_si512();
            /* two int32 chains (p·scale of pairs 0,1 and 2,3), written out: as a loop gcc
             * spilled the nibble vectors to the stack and chained all four vpdpwssd */
            __m512i p0 = _mm512_dpbusd_epi32(z, _mm512_and_si512(v0, m4), _mm512_loadu_si512(xs));
            __m512i p1 = _mm512_dpbusd_epi32(z, _mm512_and_si512(_mm512_srli_epi16(v0, 4), m4),
                                             _mm512_loadu_si512(xs + 64));
            __m512i p2 = _mm512_dpbusd_epi32(z, _mm512_and_si512(v1, m4), _mm512_loadu_si512(xs + 128));
            __m512i p3 = _mm512_dpbusd_epi32(z, _mm512_and_si512(_mm512_srli_epi16(v1, 4), m4),
                                             _mm512_loadu_si512(xs + 192));
            /* p0 (sub-blocks 0|2) and p1 (1|3) as the low and high words of one vector (each
             * |p| < 2^13): one vpdpwssd against the scale pairs (sc0,sc1 | sc2,sc3); p2, p3 alike */
            const __m512i lo16 = _mm512_set1_epi32(0xFFFF);
            const __m512i w01 = _mm512_ternarylogic_epi32(_mm512_slli_epi32(p1, 16), p0, lo16, 0xF8);
            const __m512i w23 = _mm512_ternarylogic_epi32(_mm512_slli_epi32(p3, 16), p2, lo16, 0xF8);
            const __m512i s16 = _mm512_castsi256_si512(_mm256_castsi128_si256(
                _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc))));
            __m512i sa = _mm512_dpwssd_epi32(z, w01, _mm512_permutexvar_epi32(pidx[0], s16));
            __m512i sb = _mm512_dpwssd_epi32(z, w23, _mm512_permutexvar_epi32(pidx[1], s16));
            const float dk = xq->dk[i];
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(sa, sb)),
                                  _mm512_set1_ps(et__h2f(b[i].d) * dk), acc);
            const __m128i mb = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn)),
                                              _mm_loadu_si128((const __m128i *)(xq->bk + i * 8)));
            accm = _mm_fmadd_ps(_mm_cvtepi32_ps(mb), _mm_set1_ps(et__h2f(b[i].dmin) * dk), accm);
        }
        __m128 m = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
        m = _mm_add_ss(m, _mm_movehdup_ps(m));
        et__put(y, n, _mm512_reduce_add_ps(acc) - _mm_cvtss_f32(m), accumulate);
    }
}

/* NF4's double-quantized block absmax, dyn[absmax_q] · group_scale + offset, from the tensor's
 * tail (group scales, then the offset): the offset read once per call and the rest inline per
 * block (et__nf4_absmax, out of line, is the decoders' form of the same). */
typedef struct { const uint8_t *tail; float off; int64_t bpr; } et__nf4_scales;

static inline et__nf4_scales et__nf4_scales_of(const et__wdesc *w) {
    et__nf4_scales s = { NULL, 0.0f, w->K / ET_QKNF4 };
    const int64_t nblocks = s.bpr * w->N;
    s.tail = (const uint8_t *)w->base + (size_t)nblocks * sizeof(et_block_nf4);
    memcpy(&s.off, s.tail + (size_t)((nblocks + ET_NF4_GROUP - 1) / ET_NF4_GROUP) * 4, 4);
    return s;
}

static inline float et__nf4_amax_at(const et__nf4_scales *s, int64_t n, int64_t i, uint8_t q) {
    float gs;
    memcpy(&gs, s->tail + (size_t)((n * s->bpr + i) / ET_NF4_GROUP) * 4, 4);
    return et_nf4_dynamic_map[q] * gs + s->off;
}

/* NF4: nibbles → f32 codes with vpermps over the 16-entry codebook (one zmm), against x split
 * into its even and odd elements (xq->xf: K/2 even, then K/2 odd; the driver prepares it once
 * per call) since a byte holds element 2j in its high nibble and 2j+1 in its low one. */
void et__mv_nf4_avx512(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                       int64_t n0, int64_t n1, bool accumulate) {
    const et__nf4_scales sc = et__nf4_scales_of(w);
    const int64_t bpr = sc.bpr, K2 = w->K / 2;
    const __m512 cb = _mm512_loadu_ps(et__nf4_code);
    const __m512i m4 = _mm512_set1_epi32(0xF);
    const float *xe = xq->xf, *xo = xq->xf + K2;
    for (int64_t n = n0; n < n1; n++) {
        const et_block_nf4 *b = (const et_block_nf4 *)((const char *)w->base + (size_t)n * w->ldw);
        __m512 acc = _mm512_setzero_ps();
        for (int64_t i = 0; i < bpr; i++) {
            ET__PF((const char *)(b + i));   /* 33-byte blocks */
            const float amax = et__nf4_amax_at(&sc, n, i, b[i].absmax_q);
            __m512 blk = _mm512_setzero_ps();
            for (int h = 0; h < 2; h++) {    /* 16 bytes = elements 32h .. 32h+31 */
                __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b[i].qs + 16 * h)));
                __m512 ce = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), cb);
                __m512 co = _mm512_permutexvar_ps(_mm512_and_si512(v, m4), cb);
                blk = _mm512_fmadd_ps(ce, _mm512_loadu_ps(xe + i * 32 + 16 * h), blk);
                blk = _mm512_fmadd_ps(co, _mm512_loadu_ps(xo + i * 32 + 16 * h), blk);
            }
            acc = _mm512_fmadd_ps(blk, _mm512_set1_ps(amax), acc);
        }
        et__put(y, n, _mm512_reduce_add_ps(acc), accumulate);
    }
}

/* NF4 on the VNNI paths: int16 codes against x quantized to int16 per 64-block (et__qact.xw,
 * xw_d; the driver prepares them once per call).  A block's 32 bytes are loaded into both
 * halves of a zmm as 16 words of four nibbles each; vpsrlvw by (0 | 4) and (8 | 12) leaves one
 * nibble per word in the low bits (bit 4 is the next nibble's: the 32-entry table holds the
 * 16 codes twice), two vpermw look the codes up, two vpdpwssd (which runs at twice the rate of
 * vdpbf16ps here) take the dot, and one multiply and one FMA apply x's block scale and the
 * weight block's absmax, read from a 256-entry table per double-quant group (dyn · group scale
 * + offset, built when the group changes: the absmax work per block is one byte load).
 * Codes are round(c · 2^14) (error <= 2^-15, bf16 rounding's 2^-9 relative), |x̂| <= 2^14, so
 * a lane's four products per block stay below 2^30: exact in int32.  (Sapphire Rapids, one
 * thread, rows in L2: 15.6 GB/s against the vdpbf16ps loop's 10.7; the f32 vpermps loop above
 * remains for the plain avx512 path.)
 * Measured and not taken (same host, one thread, rows in L2, 14.0-14.3 GB/s for this loop):
 * vpermw zmm is two uops here (port 0 + port 5: with vpaddd a pair issues in 1.5 cycles, with
 * vpsrlw in 2), vpermb / vpshufb / vpmultishiftqb one (port 5); taking the second nibble pair
 * by vpmultishiftqb instead of vpsrlvw moves a uop to port 5 and changed nothing (14.0 vs
 * 14.0-14.3 GB/s; it would also need VBMI), nor did codes by two vpshufb (low and high bytes)
 * and two byte unpacks, which leave port 0 one uop of the six (13.3-13.4 vs 13.4-14.1).  An
 * AMX form -- 16 rows × 32 codes decoded to bf16 into a tile buffer, x in the column of its
 * block's position so one C tile collects 16 blocks' dots, absmax applied per 16 blocks -- is
 * decode-and-store bound: the decode with its stores alone ran at 16.8 GB/s, with the tile
 * loads and products 10.6, whole 6.8; a tileloadd waits for the stores that wrote its operand
 * (90 TSC ticks per 1024 weights, 36 when it trails them by two steps), and bf16 would cost
 * the int16 codes' precision besides. */
/* One NF4 block's int32 dot against x̂ (xa, xb: its 64 int16 activations), as floats. */
ET__INLINE __m512 et__nf4_dot(const et_block_nf4 *b, __m512i xa, __m512i xb, __m512i cb,
                              __m512i sh0, __m512i sh1) {
    ET__PF((const char *)b);   /* 33-byte blocks */
    const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)b->qs));
    const __m512i ca = _mm512_permutexvar_epi16(_mm512_srlv_epi16(v, sh0), cb);
    const __m512i cc = _mm512_permutexvar_epi16(_mm512_srlv_epi16(v, sh1), cb);
    return _mm512_cvtepi32_ps(_mm512_dpwssd_epi32(_mm512_dpwssd_epi32(_mm512_setzero_si512(), ca, xa), cc, xb));
}

/* The 256 absmax values of double-quant group g into amax (where it is not there already). */
static inline void et__nf4_group_amax(const et__nf4_scales *sc, int64_t g, int64_t *have, float *amax) {
    if (g == *have) return;
    float gs;
    memcpy(&gs, sc->tail + (size_t)g * 4, 4);
    for (int q = 0; q < 256; q += 16)
        _mm512_store_ps(amax + q, _mm512_fmadd_ps(_mm512_loadu_ps(et_nf4_dynamic_map + q),
                                                  _mm512_set1_ps(gs), _mm512_set1_ps(sc->off)));
    *have = g;
}

void et__mv_nf4_vnni(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                     int64_t n0, int64_t n1, bool accumulate) {
    const et__nf4_scales sc = et__nf4_scales_of(w);
    const int64_t bpr = sc.bpr;
    int16_t tab[32];
    for (int c = 0; c < 32; c++) tab[c] = et__nf4_code_i16(c & 15);
    const __m512i cb = _mm512_loadu_si512(tab);
    const __m512i sh0 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    const __m512i sh1 = _mm512_add_epi16(sh0, _mm512_set1_epi16(8));
    float amax[256] __attribute__((aligned(64)));
    int64_t group = -1;
    for (int64_t n = n0; n < n1;) {
        const et_block_nf4 *b = (const et_block_nf4 *)((const char *)w->base + (size_t)n * w->ldw);
        const int64_t g = n * bpr / ET_NF4_GROUP;
        if (n + 2 <= n1 && ((n + 2) * bpr - 1) / ET_NF4_GROUP == g) {
            /* two rows of one group a pass: each block's activations loaded once */
            const et_block_nf4 *b1 = (const et_block_nf4 *)((const char *)b + w->ldw);
            et__nf4_group_amax(&sc, g, &group, amax);
            __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
            for (int64_t i = 0; i < bpr; i++) {
                const __m512i xa = _mm512_loadu_si512(xq->xw + i * 64);
                const __m512i xb = _mm512_loadu_si512(xq->xw + i * 64 + 32);
                const __m512 dx = _mm512_set1_ps(xq->xw_d[i]);
                const __m512 t0 = _mm512_mul_ps(et__nf4_dot(b + i, xa, xb, cb, sh0, sh1), dx);
                const __m512 t1 = _mm512_mul_ps(et__nf4_dot(b1 + i, xa, xb, cb, sh0, sh1), dx);
                acc0 = _mm512_fmadd_ps(t0, _mm512_set1_ps(amax[b[i].absmax_q]), acc0);
                acc1 = _mm512_fmadd_ps(t1, _mm512_set1_ps(amax[b1[i].absmax_q]), acc1);
            }
            et__put(y, n, _mm512_reduce_add_ps(acc0), accumulate);
            et__put(y, n + 1, _mm512_reduce_add_ps(acc1), accumulate);
            n += 2;
            continue;
        }
        __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
        for (int64_t i = 0; i < bpr;) {   /* one row, in segments of one group each */
            const int64_t gi = (n * bpr + i) / ET_NF4_GROUP;
            const int64_t end = (gi + 1) * ET_NF4_GROUP - n * bpr < bpr ? (gi + 1) * ET_NF4_GROUP - n * bpr : bpr;
            et__nf4_group_amax(&sc, gi, &group, amax);
            for (; i < end; i++) {
                const __m512 t = _mm512_mul_ps(et__nf4_dot(b + i, _mm512_loadu_si512(xq->xw + i * 64),
                                                           _mm512_loadu_si512(xq->xw + i * 64 + 32), cb, sh0, sh1),
                                               _mm512_set1_ps(xq->xw_d[i]));
                if (i & 1) acc1 = _mm512_fmadd_ps(t, _mm512_set1_ps(amax[b[i].absmax_q]), acc1);
                else acc0 = _mm512_fmadd_ps(t, _mm512_set1_ps(amax[b[i].absmax_q]), acc0);
            }
        }
        et__put(y, n, _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)), accumulate);
        n++;
    }
}

/* BF16 rows on AVX512-BF16: vdpbf16ps of 32 weights at a time against x in bf16 (the pair
 * past an odd K is zero on both sides, masked). */
void et__mv_bf16_bf16(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                      int64_t n0, int64_t n1, bool accumulate) {
    const int64_t K = w->K, Kp = (K + 1) & ~(int64_t)1;
    for (int64_t n = n0; n < n1; n++) {
        const uint16_t *row = (const uint16_t *)((const char *)w->base + (size_t)n * w->ldw);
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        int64_t k = 0;
        for (; k + 64 <= K; k += 64) {
            ET__PF((const char *)(row + k));
            ET__PF((const char *)(row + k) + 64);
            a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(row + k),
                                  (__m512bh)_mm512_loadu_si512(xq->xb + k));
            a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_loadu_si512(row + k + 32),
                                  (__m512bh)_mm512_loadu_si512(xq->xb + k + 32));
        }
        for (; k < Kp; k += 32) {
            const int64_t left = K - k;   /* weights there; x is zero up to Kp */
            const __mmask32 m = left >= 32 ? ~(__mmask32)0 : ((__mmask32)1 << left) - 1;
            a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_maskz_loadu_epi16(m, row + k),
                                  (__m512bh)_mm512_maskz_loadu_epi16(m, xq->xb + k));
        }
        et__put(y, n, _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)), accumulate);
    }
}

/* F32 / F16 / BF16 rows: convert 16 elements at a time (vcvtph2ps, a 16-bit shift for bf16)
 * and FMA against x in f32; the last partial vector masked.  Exact up to f32 summation order. */
static inline __m512 et__ld16(et_type t, const void *row, int64_t k, __mmask16 m) {
    switch (t) {
    case ET_F16:
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + k));
    case ET_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + k)), 16));
    default:
        return _mm512_maskz_loadu_ps(m, (const float *)row + k);
    }
}

#define ET__MV_PLAIN(name, T)                                                                   \
    void name(const et__wdesc *w, const float *x, const et__qact *xq, float *y, int64_t n0,    \
              int64_t n1, bool accumulate) {                                                    \
        const int64_t K = w->K, K16 = K / 16 * 16, es = T == ET_F32 ? 4 : 2;                    \
        const __mmask16 mt = (__mmask16)((1u << (K - K16)) - 1);                                \
        for (int64_t n = n0; n < n1; n++) {                                                     \
            const void *row = (const char *)w->base + (size_t)n * w->ldw;                       \
            __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();                          \
            int64_t k = 0;                                                                      \
            for (; k + 32 <= K16; k += 32) {                                                    \
                /* a step is 32 elements: 64 bytes (16-bit) or 128 (f32; on the Sapphire      \
                 * Rapids host 24.5 -> 27.1 GB/s with its two lines prefetched) */            \
                for (int l = 0; l < 32 * es; l += 64)                                           \
                    ET__PF((const char *)row + k * es + l);                                     \
                a0 = _mm512_fmadd_ps(et__ld16(T, row, k, 0xFFFF), _mm512_loadu_ps(x + k), a0);  \
                a1 = _mm512_fmadd_ps(et__ld16(T, row, k + 16, 0xFFFF),                          \
                                     _mm512_loadu_ps(x + k + 16), a1);                          \
            }                                                                                   \
            for (; k < K16; k += 16)                                                            \
                a0 = _mm512_fmadd_ps(et__ld16(T, row, k, 0xFFFF), _mm512_loadu_ps(x + k), a0);  \
            if (mt) a1 = _mm512_fmadd_ps(et__ld16(T, row, k, mt), _mm512_maskz_loadu_ps(mt, x + k), a1); \
            et__put(y, n, _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)), accumulate);             \
        }                                                                                       \
    }
ET__MV_PLAIN(et__mv_f32_avx512, ET_F32)
ET__MV_PLAIN(et__mv_f16_avx512, ET_F16)
ET__MV_PLAIN(et__mv_bf16_avx512, ET_BF16)

/* Q6_K: the 6-bit quants of each 32-element chunk rebuilt from ql/qh in one ymm, made signed
 * (q - 32), dotted with |q| · sign(x, q); the two 16-element sub-blocks of a chunk sit in the
 * low and high 128-bit halves of the int32 result, so one vector [sc_a ×4 | sc_b ×4] scales it. */
void et__mv_q6_k_vnni(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                      int64_t n0, int64_t n1, bool accumulate) {
    const int64_t nb = w->K / ET_QK_K;
    const __m256i m4 = _mm256_set1_epi8(0xF), m30 = _mm256_set1_epi8(0x30);
    const __m256i b32 = _mm256_set1_epi8(32);
    for (int64_t n = n0; n < n1; n++) {
        const et_block_q6_K *b = (const et_block_q6_K *)((const char *)w->base + (size_t)n * w->ldw);
        __m256 acc = _mm256_setzero_ps();
        for (int64_t i = 0; i < nb; i++) {
            for (int l = 0; l < (int)sizeof b[i]; l += 64)   /* 210-byte blocks */
                ET__PF((const char *)(b + i) + l);
            const float d = et__h2f(b[i].d);
            for (int h = 0; h < 2; h++) {
                __m256i A = _mm256_loadu_si256((const __m256i *)(b[i].ql + 64 * h));
                __m256i B = _mm256_loadu_si256((const __m256i *)(b[i].ql + 64 * h + 32));
                __m256i H = _mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h));
                __m256i q[4] = {
                    _mm256_or_si256(_mm256_and_si256(A, m4), _mm256_and_si256(_mm256_slli_epi16(H, 4), m30)),
                    _mm256_or_si256(_mm256_and_si256(B, m4), _mm256_and_si256(_mm256_slli_epi16(H, 2), m30)),
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(A, 4), m4), _mm256_and_si256(H, m30)),
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(B, 4), m4),
                                    _mm256_and_si256(_mm256_srli_epi16(H, 2), m30)),
                };
                for (int j = 0; j < 4; j++) {
                    const int64_t c = i * 8 + h * 4 + j;          /* 32-element chunk index */
                    const int sa = h * 8 + 2 * j;                /* its sub-blocks: sa, sa+1 */
                    __m256i qs = _mm256_sub_epi8(q[j], b32);
                    __m256i xv = _mm256_loadu_si256((const __m256i *)(xq->q + c * 32));
                    __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(qs),
                                                    _mm256_sign_epi8(xv, qs));
                    const float f = d * xq->d[c];
                    __m256 sc = _mm256_set_m128(_mm_set1_ps(f * b[i].scales[sa + 1]),
                                                _mm_set1_ps(f * b[i].scales[sa]));
                    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), sc, acc);
                }
            }
        }
        et__put(y, n, et__hsum256(acc), accumulate);
    }
}
