/* Private interface between the kernel drivers (kernels/matmul.c, kernels/gemm_own.c), the
 * weight decoders (kernels/wdecode.c) and the per-ISA micro-kernels (kernels/x86/, kernels/arm/).
 *
 * One tiling scheme serves every weight type; only the innermost primitive varies per ISA:
 *
 *   strip   32 output rows of W decoded into an interleaved, cache-sized form, so that one
 *           vector register holds one k-step of 16 (zmm) or 8 (ymm) rows and the activation is
 *           a broadcast:  int8 strips (4 k per 32-bit lane: vpdpbusd / maddubs), bf16 strips
 *           (2 k per lane: vdpbf16ps), f32 strips (1 k per lane: FMA).
 *   qact    activations quantized on the fly to int8 in groups of 32 (one f32 scale per group),
 *           the same rounding as Q8_0, so the error bound is the Q8_0 step.
 *
 * The f32 micro-kernel is also the engine's own GEMM (et_sgemm_own) and the dX kernel: its
 * B operand is any k-major 32-wide panel with a row stride.
 */
#ifndef ET_KERN_PRIV_H
#define ET_KERN_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kernels.h"

#define ET__SW     32   /* rows per strip (two zmm or four ymm of 32-bit lanes) */
#define ET__QG     32   /* activation quantization group (= Q8_0 block) */

/* ---- weights ---------------------------------------------------------------------------- */

/* What the drivers know about one weight matrix. */
typedef struct et__wdesc {
    et_type     type;
    const void *base;    /* row 0; for NF4 the whole tensor (its tail follows row N-1) */
    size_t      ldw;     /* bytes between rows */
    int64_t     K, N;
} et__wdesc;

/* Decode row n to int8 in groups of G:  w[k] = dw[g] * q[k] + mw[g]   (mw NULL: no min term). */
typedef void (*et__dec_i8_fn)(const et__wdesc *w, int64_t n, int8_t *q, float *dw, float *mw);
/* Decode columns [k0, k0+nk) of row n to f32 (k0, nk multiples of the block size). */
typedef void (*et__dec_f32_fn)(const et__wdesc *w, int64_t n, int64_t k0, int64_t nk, float *y);

typedef enum { ET__KIND_F32 = 0, ET__KIND_BF16, ET__KIND_I8 } et__kind;

/* int8 strip: for group g, step s (4 k): 128 bytes, row r's 4 quants at [4r].  Per group and
 * row: dw (scale), mw (min, if the type has one), sw = -128 * sum(q) (offset correction for
 * kernels that feed activations as unsigned q+128). */
typedef struct et__qstrip {
    int      G;          /* 32, or 16 for Q6_K */
    int64_t  ngroups;
    int8_t  *q;          /* ngroups * G * 32 */
    float   *dw, *mw;    /* ngroups * 32 each; mw NULL when the type has no min */
    int32_t *sw;         /* ngroups * 32 */
} et__qstrip;

/* Activations quantized in groups of 32:  x[t,k] ≈ d[t,g] * q[t,k];  ds = d * sum(q) of the
 * group.  q is stored +128 (as uint8) when the ISA's kernel wants unsigned activations. */
typedef struct et__qact {
    int64_t  T, K, ngroups;   /* K a multiple of 32 */
    int8_t  *q;               /* T * K */
    float   *d, *ds;          /* T * ngroups */
    float   *xf;              /* f32 matvec kernels: K floats of scratch the driver prepares */
    /* int8 matvec kernels for the 32-element 4/5-bit formats (T == 1), prepared by the driver
     * over K rounded up to 128 (4 blocks; zero past K): q4 = the activations of each 4 blocks
     * as [elements 0-15 of blocks 0..3 | elements 16-31 of blocks 0..3] (the order the low and
     * high nibbles of 4 blocks' quants fall in), and per block 4 lanes of x4 = d and
     * c4 = off · ds / 4 (the offset formats: Q4_0 −8, IQ4_NL −128, Q5_0 −16) or ds / 4. */
    int8_t  *q4;
    float   *x4, *c4;
    /* The Q4_K matvec on VNNI (T == 1): x quantized per 256-element super-block, one scale
     * each (llama.cpp's Q8_K: the weight's 6-bit sub-block scales then apply in int32 and one
     * float multiply serves the whole super-block).  qk holds each super-block's 8 sub-blocks
     * in the order [0 2 1 3 4 6 5 7] (how 64 bytes of Q4_K quants fall when split into low and
     * high nibbles), dk its scale, bk per sub-block (natural order) the sum of its quants. */
    int8_t  *qk;
    float   *dk;
    int16_t *bk;
    /* bf16 matvec kernel (BF16 on AVX512-BF16): x rounded to bf16, K rounded up to even
     * (zero pad). */
    uint16_t *xb;
    /* NF4's matvec on the VNNI paths (T == 1): x quantized to int16 per 64-block, in each
     * block's nibble order (et__nf4_xw_order), and per block the scale of one unit of x̂ times
     * one unit of the int16 codes (et__nf4_code_i16). */
    int16_t *xw;
    float   *xw_d;
} et__qact;

/* ---- per-ISA primitives ------------------------------------------------------------------ */

/* y[t, 0..nr) (+)= strip · x[t] for tokens t0..t0+nt.  All three share this shape. */
typedef void (*et__qgemm_fn)(const et__qstrip *s, const et__qact *a, int64_t t0, int64_t nt,
                             float *y, size_t ldy, int nr, bool accumulate);
/* bf16 strip: k-pairs × 32 rows × 2 bf16 (padded to even K); x as bf16 rows of kp pairs. */
typedef void (*et__bgemm_fn)(const uint16_t *strip, int64_t kp, const uint16_t *xb,
                             size_t ldxb, int64_t nt, float *y, size_t ldy, int nr,
                             bool accumulate);
/* f32: C[t, 0..nr) = (C +) alpha * sum_k A[t,k] * B[k, 0..32), t < nt, with A element
 * (t,k) at a[t*sat + k*sak] and B row k at b + k*ldb (32 floats, zero-padded past nr). */
typedef void (*et__sgemm_fn)(int64_t K, const float *a, size_t sat, size_t sak, const float *b,
                             size_t ldb, float *c, size_t ldc, int64_t nt, int nr, float alpha,
                             bool accumulate);
/* Few outputs, long reduction (f32): y[t, j] (+)= sum_{k<K} a[t*lda + k] · w[j*ldw + k] for
 * j < nr ≤ ET__ROWDOT_MAX, t < nt.  May be NULL (the strip path serves instead). */
#define ET__ROWDOT_MAX 16
typedef void (*et__rowdot_fn)(const float *a, size_t lda, int64_t nt, int64_t K, const float *w,
                              size_t ldw, int nr, float *y, size_t ldy, bool accumulate);
/* Matvec fast path for one token: y[n] (+)= W[n,:] · x  for n in [n0, n1).  May be NULL. */
typedef void (*et__matvec_fn)(const et__wdesc *w, const float *x, const et__qact *xq,
                              float *y, int64_t n0, int64_t n1, bool accumulate);

typedef struct et__isa_ops {
    et__qgemm_fn  qgemm;            /* NULL on the ref path */
    et__bgemm_fn  bgemm;            /* NULL without AVX512-BF16; AMX tiles on the amx path */
    et__sgemm_fn  sgemm;            /* NULL on the ref path */
    et__rowdot_fn rowdot;           /* NULL: skinny f32 products take the strip path */
    /* pack[k*32 + j] = B[j*ldb + k] (j < nr; 0 for nr <= j < 32), k < kc; NULL: a C loop */
    void (*pack_t)(const float *B, size_t ldb, int nr, int64_t kc, float *pack);
    /* y[i] = et_fp32_to_bf16(x[i]), i < n, bit for bit; NULL: the scalar conversion */
    void (*to_bf16)(const float *x, uint16_t *y, int64_t n);
    /* y[2i] = bf16(a[i]), y[2i+1] = bf16(b[i]) (0 for b NULL), i < n, bit for bit as
     * et_fp32_to_bf16; NULL: the scalar conversion */
    void (*bf16_pairs)(const float *a, const float *b, uint16_t *y, int64_t n);
    /* hi[i] = bf16(x[i]), lo[i] = bf16(x[i] - hi[i]), i < n; NULL: the scalar split */
    void (*split_bf16)(const float *x, uint16_t *hi, uint16_t *lo, int64_t n);
    bool          act_unsigned;     /* qgemm wants q+128 */
    /* bgemm runs far above the f32 FMA rate (AMX tiles): F16 weights then take three bf16
     * products (hi·hi + hi·lo + lo·hi, see et__matmul_f16x3) instead of the f32 strips */
    bool          bgemm_x3;
    int           qgemm_tile_t;     /* tokens per register tile (scheduling hint) */
    et__matvec_fn matvec[ET_TYPE_COUNT];   /* per weight type; NULL: use the strip path */
    double (*peak[3])(int64_t n);   /* et_peak_kind → the loop of the instruction used */
    double (*read)(const void *p, size_t bytes);   /* widest streaming read, or NULL */
} et__isa_ops;

/* One table per dtype: how its weights are decoded and which kernel family consumes them on
 * the selected path. */
typedef struct et__type_ops {
    et__kind       kind;
    int            G;               /* int8 group (32, Q6_K 16) */
    bool           has_min;
    et__dec_i8_fn  dec_i8;          /* NULL for F32/F16/BF16/NF4 */
    et__dec_f32_fn dec_f32;
    et__matvec_fn  matvec;          /* T == 1 fast path, NULL if none */
} et__type_ops;

const et__isa_ops  *et__kern_isa_ops(void);               /* for et_kern_isa() */
/* Whether dX through a weight of type t runs bf16 products on this path: every type but
 * f32 where the path has vdpbf16ps (f32 weights keep f32 products: LoRA, full fine-tuning). */
static inline bool et__dx_bf16(et_type t, const et__isa_ops *io) { return io->bgemm && t != ET_F32; }
/* Whether F16's forward on this path is three bf16 tile products (at 64 tokens and more:
 * kernels/matmul.c's et__matmul_f16x3; et_kern_matmul_family's "bf16x3"). */
static inline bool et__f16x3_path(et_type t, const et__isa_ops *io) {
    return t == ET_F16 && io->bgemm && io->bgemm_x3;
}
const et__type_ops *et__kern_type_ops(et_type t);         /* NULL: unsupported weight type */
const et__isa_ops  *et__kern_isa_ops_for(et_isa isa);     /* each compiled-in path */

/* Decoders (kernels/wdecode.c). */
et__dec_i8_fn  et__dec_i8_for(et_type t, int *G, bool *has_min);
et__dec_f32_fn et__dec_f32_for(et_type t);
extern const float et__nf4_code[16];
/* NF4's int16 matvec (et__mv_nf4_vnni): code c as round(c · 2^14); and the element of a
 * 64-block held by int16 lane l of its activation vector: a block's 32 bytes read as 16 words
 * of four nibbles (byte 2j+1's high one is element 4j+2, its low 4j+3; byte 2j's 4j, 4j+1),
 * lanes 0-15 take each word's nibble 0, 16-31 nibble 1, 32-47 nibble 2, 48-63 nibble 3. */
#define ET__NF4_I16_ONE 16384.0f
static inline int16_t et__nf4_code_i16(int c) {
    const float v = et__nf4_code[c] * ET__NF4_I16_ONE;
    return (int16_t)(v < 0 ? v - 0.5f : v + 0.5f);
}
static inline int et__nf4_xw_order(int l) {
    static const int8_t base[4] = { 1, 0, 3, 2 };
    return 4 * (l % 16) + base[l / 16];
}
extern const int8_t et__iq4nl_values[16];
/* NF4: absmax of block b of a tensor with nblocks blocks (double-quantized). */
float et__nf4_absmax(const void *base, int64_t nblocks, int64_t b);

/* Portable pieces shared by every path. */
void et__quant_act_c(const float *x, size_t ldx, int64_t T, int64_t K, et__qact *a,
                     bool act_unsigned);

/* aarch64 primitives (kernels/arm/). */
#if defined(__aarch64__)
void et__sgemm_neon(int64_t, const float *, size_t, size_t, const float *, size_t, float *,
                    size_t, int64_t, int, float, bool);
void et__qgemm_neon(const et__qstrip *, const et__qact *, int64_t, int64_t, float *, size_t,
                    int, bool);
void et__qgemm_sdot(const et__qstrip *, const et__qact *, int64_t, int64_t, float *, size_t,
                    int, bool);
void et__qgemm_i8mm(const et__qstrip *, const et__qact *, int64_t, int64_t, float *, size_t,
                    int, bool);
double et__peak_fma_neon(int64_t n);
double et__peak_sdot(int64_t n);
double et__peak_smmla(int64_t n);
#endif

/* x86 primitives (kernels/x86/). */
#if defined(__x86_64__)
/* Software prefetch, two levels: each cache line of the row stream is asked into L1 1 KiB
 * ahead of its use and into L2 (prefetcht1) 4 KiB ahead.  The hardware prefetchers alone
 * left the rows latency-bound on both Xeon hosts here (Q8_0, 2 threads, no software prefetch:
 * 15-16 GB/s against a 33 GB/s read probe), and one level was a compromise: near, too few
 * lines in flight; far, prefetcht0's lines held the L1 fill buffers for a full DRAM latency
 * (Sapphire Rapids, 2 threads, medians of 100 calls in two interleaved rounds, /tmp harness
 * over 5 copies of 4096x14336: T0 2 KiB alone Q8_0 21-23, Q4_0 25-27, Q4_K 22-26, NF4 15 GB/s;
 * T0 1 KiB + T1 4 KiB 27.5-28, 28-30, 28-29, 19; T1 farther (7 KiB) or T0 nearer (512 B) no
 * better).  The matvec row loops (matvec_avx512.c, matvec_avx2.c) issue both per cache line
 * of their step (ET__PF; <immintrin.h> gives _mm_prefetch). */
#ifndef ET__MV_PF
#define ET__MV_PF ET_KERN_PF_L1
#endif
#ifndef ET__MV_PF_L2
#define ET__MV_PF_L2 ET_KERN_PF_L2
#endif
/* The 4-bit block formats' VNNI loops (the Q4_0 family, Q4_K) ask for L2 8 KiB ahead
 * (ET__MV_PF_L2_Q4).  2 threads, 4096x14336 over 5 copies, 200 calls each timed right after a
 * read of another copy, medians of 3-5 interleaved runs, fraction of that paired read, 4 KiB
 * -> 8 KiB: Q4_0 0.82-0.86 -> 0.87-0.88, Q4_1 0.83-0.86 -> 0.90, Q5_0 0.83-0.85 -> 0.89-0.90,
 * IQ4_NL 0.80-0.82 -> 0.85-0.94, Q4_K 0.83 -> 0.86; 12 or 16 KiB no better.  The rest keep
 * 4 KiB: Q8_0 0.97 -> 0.94-0.96 and F32 / F16 / BF16 4-5% lower with 8; NF4 (compute-bound),
 * Q6_K and the AVX2 loops do not move. */
#ifndef ET__MV_PF_L2_Q4
#define ET__MV_PF_L2_Q4 8192
#endif
#define ET__PF_AT(p, l2) do {                                                     \
        _mm_prefetch((const char *)(p) + ET__MV_PF, _MM_HINT_T0);                 \
        _mm_prefetch((const char *)(p) + (l2), _MM_HINT_T1);                      \
    } while (0)
#define ET__PF(p) ET__PF_AT(p, ET__MV_PF_L2)

void et__qgemm_avx2(const et__qstrip *, const et__qact *, int64_t, int64_t, float *, size_t,
                    int, bool);
void et__qgemm_vnni(const et__qstrip *, const et__qact *, int64_t, int64_t, float *, size_t,
                    int, bool);
void et__bgemm_avx512bf16(const uint16_t *, int64_t, const uint16_t *, size_t, int64_t,
                          float *, size_t, int, bool);
void et__bgemm_amx(const uint16_t *, int64_t, const uint16_t *, size_t, int64_t, float *, size_t, int,
                   bool);
double et__peak_amx_bf16(int64_t n);
void et__sgemm_avx2(int64_t, const float *, size_t, size_t, const float *, size_t, float *,
                    size_t, int64_t, int, float, bool);
void et__sgemm_avx512(int64_t, const float *, size_t, size_t, const float *, size_t, float *,
                      size_t, int64_t, int, float, bool);
void et__pack_t_avx512(const float *, size_t, int, int64_t, float *);
void et__to_bf16_avx512(const float *, uint16_t *, int64_t);
void et__split_bf16_avx512(const float *, uint16_t *, uint16_t *, int64_t);
void et__bf16_pairs_avx512(const float *, const float *, uint16_t *, int64_t);
void et__rowdot_avx512(const float *, size_t, int64_t, int64_t, const float *, size_t, int, float *,
                       size_t, bool);
void et__mv_nf4_avx512(const et__wdesc *, const float *, const et__qact *, float *, int64_t,
                       int64_t, bool);
void et__mv_nf4_vnni(const et__wdesc *, const float *, const et__qact *, float *, int64_t,
                     int64_t, bool);
void et__mv_bf16_bf16(const et__wdesc *, const float *, const et__qact *, float *, int64_t,
                      int64_t, bool);
void et__mv_f32_avx512(const et__wdesc *, const float *, const et__qact *, float *, int64_t,
                       int64_t, bool);
void et__mv_f16_avx512(const et__wdesc *, const float *, const et__qact *, float *, int64_t,
                       int64_t, bool);
void et__mv_bf16_avx512(const et__wdesc *, const float *, const et__qact *, float *, int64_t,
                        int64_t, bool);
double et__read_avx512(const void *p, size_t bytes);
double et__peak_fma512(int64_t n);
double et__peak_bf16_512(int64_t n);
double et__peak_vnni512(int64_t n);
double et__peak_fma256(int64_t n);
double et__peak_int8_avx2(int64_t n);
void et__mv_q8_0_avx2(const et__wdesc *, const float *, const et__qact *, float *, int64_t,
                      int64_t, bool);
void et__mv_q4_0_avx2(const et__wdesc *, const float *, const et__qact *, float *, int64_t,
                      int64_t, bool);
void et__mv_q8_0_vnni(const et__wdesc *, const float *, const et__qact *, float *, int64_t,
                      int64_t, bool);
void et__mv_q4_0_vnni(const et__wdesc *, const float *, const et__qact *, float *, int64_t,
                      int64_t, bool);
void et__mv_q4_1_vnni(const et__wdesc *, const float *, const et__qact *, float *, int64_t,
                      int64_t, bool);
void et__mv_iq4_nl_vnni(const et__wdesc *, const float *, const et__qact *, float *, int64_t,
                        int64_t, bool);
void et__mv_q5_0_vnni(const et__wdesc *, const float *, const et__qact *, float *, int64_t,
                      int64_t, bool);
void et__mv_q5_1_vnni(const et__wdesc *, const float *, const et__qact *, float *, int64_t,
                      int64_t, bool);
void et__mv_q6_k_vnni(const et__wdesc *, const float *, const et__qact *, float *, int64_t,
                      int64_t, bool);
void et__mv_q4_k_vnni(const et__wdesc *, const float *, const et__qact *, float *, int64_t,
                      int64_t, bool);
#endif

#endif
