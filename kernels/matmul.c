/* Linear layers over any weight type: y = x·Wᵀ (et_kern_matmul) and dX = dY·W
 * (et_kern_matmul_dx).  See kernels.h for the contract and kern_priv.h for the strip scheme.
 *
 * One driver, three kernel families (chosen per weight type and path in kernels/dispatch.c):
 *   int8  Q8_0 Q4_0 Q4_1 IQ4_NL Q4_K Q6_K: activations quantized once per call to int8 groups
 *         of 32 (Q8_0 rounding); each thread decodes a strip of 32 weight rows to int8 (the
 *         whole K, ~K·33 bytes, stays in L2) and runs the token tiles over it.
 *   bf16  BF16, NF4 on AVX512-BF16: x rounded to bf16 once; strips of 32 rows in bf16 pairs
 *         (vdpbf16ps; on the amx path the same strips feed AMX tile products).
 *   f32   F32, F16, and BF16/NF4 elsewhere: strips of 32 rows × KC columns in f32.
 * T == 1 (decode) takes the per-type matvec where the path has one: it streams W once.
 * Strips are split statically over OpenMP threads, and each output element is computed by one
 * thread in a fixed order, so results are deterministic for any thread count.
 * No weight is ever materialized whole in f32: at most one strip (or dX panel) per thread.
 *
 * dX: each thread owns 256-column ranges of dx; it decodes NC-row panels of W restricted to
 * its columns into f32 and runs the f32 micro-kernel with the panel as a k-major B operand.
 * Every type but f32 on AVX512-BF16 instead: strips of Wᵀ in bf16 n-pairs through the
 * forward's bf16 micro-kernel, dY rounded to bf16 once (bf16 products, f32 sums).
 */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "kern_priv.h"
#include "quant.h"
#include "ref/quant_ref.h"
#include "ref/ref.h"

#define ET__KC     2048   /* f32 strip columns per chunk: 32 × 2048 × 4 = 256 KiB (L2) */
#define ET__DX_KB  512    /* f32 dX column range per task, at most (a multiple of every block size) */
#define ET__DX_NC  256    /* dX panel rows */
#define ET__ALIGN  64

static size_t et__al(size_t n) { return (n + ET__ALIGN - 1) & ~(size_t)(ET__ALIGN - 1); }

/* ---- activation quantization (Q8_0's rounding: d = amax/127, q = round(x/d)) ------------------ */

/* The largest |x| of 32 floats (NaNs skipped, as `v > m ? v : m` skips them). */
static inline float et__amax32(const float *p);
/* q[j] = round-half-even(p[j]·id) clamped to ±127 (xor 0x80 when unsigned); returns Σ q. */
static inline int et__q8_32(const float *p, float id, int8_t *q, bool uns);

#if defined(__AVX2__)
#include <immintrin.h>
/* AVX2 (every x86 path but ref): the scalar loops below were 2.7 ns an element -- 11 µs of a
 * 4096-wide decode matvec's setup, more than the 256 rows after it.  Same results bit for bit
 * on finite input: vcvtps2dq rounds half-even like rintf; amax skips NaNs as the scalar does. */
static inline float et__amax32(const float *p) {
    const __m256 ab = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < 32; j += 8) m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(p + j), ab), m);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

static inline int et__q8_32(const float *p, float id, int8_t *q, bool uns) {
    const __m256 vid = _mm256_set1_ps(id), hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);
    __m256i v[4];
    for (int j = 0; j < 4; j++)
        v[j] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_loadu_ps(p + 8 * j), vid), lo), hi));
    const __m256i s = _mm256_add_epi32(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3]));
    __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    if (uns) b = _mm256_xor_si256(b, _mm256_set1_epi8((char)0x80));
    _mm256_storeu_si256((__m256i *)q, b);
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    return _mm_cvtsi128_si32(t);
}
#else
static inline float et__amax32(const float *p) {
    float m = 0.0f;
    for (int j = 0; j < 32; j++) { float v = fabsf(p[j]); m = v > m ? v : m; }
    return m;
}

static inline int et__q8_32(const float *p, float id, int8_t *q, bool uns) {
    int sum = 0;
    for (int j = 0; j < 32; j++) {
        float v = __builtin_rintf(p[j] * id);   /* inline (frintx), where lrintf was a call */
        int iv = (int)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
        sum += iv;
        q[j] = (int8_t)(uns ? (iv ^ 0x80) : iv);
    }
    return sum;
}
#endif

void et__quant_act_c(const float *x, size_t ldx, int64_t T, int64_t K, et__qact *a,
                     bool act_unsigned) {
    for (int64_t t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * ldx;
        int8_t *q = a->q + (size_t)t * (size_t)K;
        for (int64_t g = 0; g < a->ngroups; g++) {
            const float d = et__amax32(xr + g * ET__QG) / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
            const int sum = et__q8_32(xr + g * ET__QG, id, q + g * ET__QG, act_unsigned);
            a->d[t * a->ngroups + g] = d;
            a->ds[t * a->ngroups + g] = d * (float)sum;
        }
    }
}

/* ---- work-buffer layout ------------------------------------------------------------------------ */
static int et__threads(void) { return omp_get_max_threads(); }

/* Bytes one thread needs for its strip (and decode scratch). */
static size_t et__strip_bytes(et__kind kind, int G, int64_t K) {
    int64_t Kp = (K + 1) & ~(int64_t)1;
    switch (kind) {
    case ET__KIND_I8: {
        size_t ng = (size_t)(K / G);
        return et__al((size_t)K * ET__SW) + 3 * et__al(ng * ET__SW * 4)    /* q, dw mw sw */
               + et__al((size_t)K) + 2 * et__al(ng * 4);                 /* one decoded row */
    }
    case ET__KIND_BF16:   /* the strip, one decoded row, 32 rounded rows */
        return 2 * et__al((size_t)Kp * ET__SW * 2) + et__al((size_t)Kp * 4);
    default:
        return 2 * et__al((size_t)ET__KC * ET__SW * 4);   /* the strip, 32 decoded rows */
    }
}

static size_t et__shared_bytes(et__kind kind, int64_t T, int64_t K) {
    int64_t Kp = (K + 1) & ~(int64_t)1;
    if (kind == ET__KIND_I8)
        return et__al((size_t)(T * K)) + 2 * et__al((size_t)(T * (K / ET__QG)) * 4);
    if (kind == ET__KIND_BF16) return et__al((size_t)(T * Kp) * 2);
    return et__al((size_t)((T + 7) / 8 * 8) * (size_t)K * 4);   /* f32: x in 8-token tiles */
}

/* Rows [t0, t0+8) of x (fewer at the end: zeros) into one k-major tile, dst[k*8 + t], so the
 * f32 micro-kernel broadcasts from one contiguous line per k instead of 8 rows a row stride
 * apart — rows of 4 KiB multiples alias in L1, and the unpacked kernel ran at 47% of peak. */
static void et__pack_tile8(const float *x, size_t ldx, int64_t t0, int64_t T, int64_t k0, int64_t K,
                           float *dst) {
    const int64_t nt = T - t0 < 8 ? T - t0 : 8;
    for (int t = 0; t < 8; t++) {
        if (t >= nt) { for (int64_t k = 0; k < K; k++) dst[k * 8 + t] = 0.0f; continue; }
        const float *xr = x + (size_t)(t0 + t) * ldx + k0;
        for (int64_t k = 0; k < K; k++) dst[k * 8 + t] = xr[k];
    }
}

/* The kernel family a type uses on a path: its own, or f32 where the path lacks it. */
static et__kind et__eff_kind(const et__type_ops *to, const et__isa_ops *io) {
    if (to->kind == ET__KIND_BF16 && !io->bgemm) return ET__KIND_F32;
    if (to->kind == ET__KIND_I8 && !io->qgemm) return ET__KIND_F32;
    return to->kind;
}

/* The matvec scratch after the shared activations: K floats (NF4's split x, or its int16 x
 * and block units), or the int8
 * kernels' permuted activations and lane scales over K rounded up to 4 blocks. */
static size_t et__xf_bytes(int64_t K) {
    size_t k4 = (size_t)(K + 127) / 128 * 128, a = et__al(k4) + 2 * et__al(k4 / 8 * 4);
    return a > et__al((size_t)K * 4) ? a : et__al((size_t)K * 4);
}

/* et__qact.xw / xw_d (NF4's int16 matvec) in p, the matvec scratch (K int16 and K/64 floats
 * fit in its K floats): per 64-block x̂ = round(x · 2^14 / max|x|), so |x̂| <= 2^14, and the
 * block's unit max|x| / 2^14 / 2^14 (the second 2^14 undoes the codes' scale).  A block with
 * a non-finite value gets x̂ = 0 and a NaN unit: its rows' outputs are NaN, not a silent
 * finite number. */
static void et__prep_nf4_xw(et__qact *a, const float *x, char *p) {
    const int64_t nb = a->K / 64;
    a->xw = (int16_t *)p;
    a->xw_d = (float *)(p + et__al((size_t)a->K * 2));
    for (int64_t b = 0; b < nb; b++) {
        const float *xb = x + b * 64;
        float m = 0.0f;
        bool finite = true;
        for (int k = 0; k < 64; k++) {
            const float v = fabsf(xb[k]);
            finite &= v <= FLT_MAX;   /* false for inf and NaN */
            m = v > m ? v : m;
        }
        const float inv = finite && m > 0.0f ? ET__NF4_I16_ONE / m : 0.0f;
        for (int l = 0; l < 64; l++)
            a->xw[b * 64 + l] = (int16_t)lrintf(inv > 0.0f ? xb[et__nf4_xw_order(l)] * inv : 0.0f);
        a->xw_d[b] = finite ? m / ET__NF4_I16_ONE / ET__NF4_I16_ONE : NAN;
    }
}

/* Whether the path's NF4 matvec is the int16 one (x prepared by et__prep_nf4_xw). */
static bool et__nf4_i16(et__matvec_fn mv) {
#if defined(__x86_64__)
    return mv == et__mv_nf4_vnni;
#else
    (void)mv;
    return false;
#endif
}

/* et__qact.qk / dk / bk (see kern_priv.h): x quantized per super-block of 256, in p -- the
 * shared activation region, which holds it (K bytes, then K/256 scales and K/32 sums fit in
 * the space of the K/32 scales and sums of 32-groups) and is otherwise unused by this path. */
static void et__prep_qk(et__qact *a, const float *x, char *p) {
    static const int ord[8] = { 0, 2, 1, 3, 4, 6, 5, 7 };
    const int64_t nsb = a->K / 256;
    a->qk = (int8_t *)p;
    a->dk = (float *)(p + et__al((size_t)a->K));
    a->bk = (int16_t *)((char *)a->dk + et__al((size_t)nsb * 4));
    for (int64_t i = 0; i < nsb; i++) {
        const float *xs = x + i * 256;
        float amax = 0.0f;
        for (int j = 0; j < 8; j++) {
            float m = et__amax32(xs + 32 * j);
            amax = m > amax ? m : amax;
        }
        const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
        a->dk[i] = d;
        for (int j = 0; j < 8; j++)
            a->bk[i * 8 + ord[j]] = (int16_t)et__q8_32(xs + ord[j] * 32, id, a->qk + i * 256 + j * 32, false);
    }
}

/* Whether the matvec of wtype takes et__qact.qk (x per super-block): Q4_K's, which only the
 * VNNI paths have. */
static bool et__uses_qk(et_type wtype, et__kind kind, const et__isa_ops *io) {
    return wtype == ET_Q4_K && kind == ET__KIND_I8 && io->matvec[wtype];
}

int et_kern_matmul_act_group(et_type wtype, int64_t T) {
    const et__type_ops *to = et__kern_type_ops(wtype);
    const et__isa_ops *io = et__kern_isa_ops();
    if (!to || !io->sgemm) return 0;   /* the reference path: f32 throughout */
    const et__kind kind = et__eff_kind(to, io);
    if (kind != ET__KIND_I8) return 0;
    return T == 1 && et__uses_qk(wtype, kind, io) ? 256 : ET__QG;
}

/* f32 products with at most ET__ROWDOT_MAX outputs (a LoRA down-projection, its dX through
 * the up-projection): the path's rowdot kernel, tokens split between threads. */
static bool et__use_rowdot(et_type wtype, const et__isa_ops *io, int64_t n_out) {
    return wtype == ET_F32 && io->rowdot && n_out <= ET__ROWDOT_MAX;
}

static void et__rowdot_tokens(const et__isa_ops *io, const float *a, size_t lda, int64_t T, int64_t R,
                              const float *w, size_t ldw, int nr, float *y, size_t ldy, bool accumulate, int nth) {
    const int64_t nchunk = (T + 15) / 16;   /* 16 tokens a chunk: even, so pairs never straddle */
    #pragma omp parallel for num_threads(nth) schedule(static)
    for (int64_t c = 0; c < nchunk; c++) {
        int64_t t0 = c * 16, nt = T - t0 < 16 ? T - t0 : 16;
        io->rowdot(a + (size_t)t0 * lda, lda, nt, R, w, ldw, nr, y + (size_t)t0 * ldy, ldy, accumulate);
    }
}

/* F16 weights on a path with fast bf16 tiles (AMX), T >= ET__X3_MIN_T: w = wh + wl exactly (an
 * f16 value's 11 significant bits are bf16's 8 and a residual of at most 4), x = xh + xl +
 * O(2^-17 x), and y = wh·xh + wh·xl + wl·xh in three bf16 tile products with f32 sums (wl·xl,
 * ~2^-18 of w·x, is left out): error about 2^-16 of Σ|w x|, within the f32 path's test bound.
 * 4096x14336 on 2 threads of the Sapphire Rapids host: T=64 223, T=256 367, T=512 379 GFLOP/s
 * against 200 / 276 / 294 on the f32 strips (OpenBLAS sgemm 190 / 286 / 303).  Fewer tokens
 * take the f32 strips: the tile kernel's vector tails, three times over, would lose.  A
 * non-finite x or w makes the outputs it reaches NaN (inf - inf in the split).
 * et__matmul_f16x3 (below) runs it; here: when, and its work layout. */
#define ET__X3_MIN_T 64

static bool et__f16x3(et_type t, const et__isa_ops *io, int64_t T) {
    return et__f16x3_path(t, io) && T >= ET__X3_MIN_T;
}

static size_t et__x3_shared(int64_t T, int64_t K) {
    const int64_t kp = (K + 1) / 2;
    return 2 * et__al((size_t)(T * 2 * kp) * 2);
}

static size_t et__x3_per_thread(int64_t K) {   /* strips hi, lo; one f32 row; rows hi, lo */
    const int64_t kp = (K + 1) / 2;
    return 4 * et__al((size_t)kp * 2 * ET__SW * 2) + et__al((size_t)kp * 2 * 4);
}

size_t et_kern_matmul_work(et_type wtype, int64_t T, int64_t K, int64_t N) {
    const et__type_ops *to = et__kern_type_ops(wtype);
    const et__isa_ops *io = et__kern_isa_ops();
    if (!to || !io->sgemm || T <= 0 || K <= 0 || N <= 0) return 0;
    et__kind kind = et__eff_kind(to, io);
    if (et__f16x3(wtype, io, T))
        return et__x3_shared(T, K) + (size_t)et__threads() * et__x3_per_thread(K) + ET__ALIGN;
    return et__shared_bytes(kind, T, K) + et__xf_bytes(K) +
           (size_t)et__threads() * et__strip_bytes(kind, to->G, K) + ET__ALIGN;
}

/* bf16 dX (every type but f32 where the path has vdpbf16ps): dY rounded to bf16 once, then
 * per thread the strips of Wᵀ for one column range (a range is 64 columns — 256 for 2-byte
 * types, see below — or one block of a type whose blocks are longer: K-quants' 256, since a
 * block decodes whole), as n-pairs × 32 × 2 bf16 over ET__DXB_NC rows at a time (a 128 KiB
 * panel at 64 columns: deep enough that the micro-kernel's C tile loads and stores are
 * amortized over 512 n-pairs), and two decoded row segments (a pair). */
#define ET__DXB_NC 1024
#define ET__DXB_MAXS 8   /* strips of the widest range: 256 columns */
static int64_t et__dxb_range(et_type t) {
    /* 2-byte rows are a power of two apart (8 KiB at K = 4096): a 64-column range would read
     * 128 bytes from each, all in the same L1 sets, so those read 256 columns at a time */
    const et_type_traits *tr = et_type_get(t);
    int64_t want = tr->blck_size == 1 && tr->type_size == 2 ? 256 : 64;
    return tr->blck_size > want ? tr->blck_size : want;
}
static size_t et__dxb_shared(int64_t T, int64_t N) { return et__al((size_t)(T * ((N + 1) & ~(int64_t)1)) * 2); }
static size_t et__dxb_thread(int64_t rw) {
    return (size_t)(rw / 32) * et__al((size_t)ET__DXB_NC * 32 * 2) + et__al((size_t)rw * 2 * 4);
}

size_t et_kern_matmul_dx_work(et_type wtype, int64_t T, int64_t K, int64_t N) {
    const et__type_ops *to = et__kern_type_ops(wtype);
    const et__isa_ops *io = et__kern_isa_ops();
    if (!to || !io->sgemm) return 0;
    if (et__dx_bf16(wtype, io))
        return et__dxb_shared(T, N) + (size_t)et__threads() * et__dxb_thread(et__dxb_range(wtype)) + ET__ALIGN;
    if (et__use_rowdot(wtype, io, K)) return et__al((size_t)(K * N) * 4) + ET__ALIGN;   /* Wᵀ */
    return et__al((size_t)((T + 7) / 8 * 8 * N) * 4) +   /* dY packed, shared */
           (size_t)et__threads() * et__al(((size_t)ET__DX_NC * ET__DX_KB + ET__DX_KB) * 4) + ET__ALIGN;
}

static char *et__align_ptr(void *p) {
    return (char *)(((uintptr_t)p + ET__ALIGN - 1) & ~(uintptr_t)(ET__ALIGN - 1));
}

/* ---- strip builders ------------------------------------------------------------------------------ */

/* Sums of 32 / 16 int8 (constant trip counts, so they vectorize). */
static inline int32_t et__sum16(const int8_t *p) {
    int16_t s = 0;
    for (int j = 0; j < 16; j++) s = (int16_t)(s + p[j]);
    return s;
}
static inline int32_t et__sum32(const int8_t *p) { return et__sum16(p) + et__sum16(p + 16); }

/* Rows [n0, n0+nr) of W as an int8 strip; rows past nr are zero. */
static void et__build_qstrip(const et__wdesc *w, const et__type_ops *to, int64_t n0, int nr,
                             et__qstrip *s, int8_t *rq, float *rdw, float *rmw) {
    const int G = to->G;
    const int64_t ng = w->K / G;
    s->G = G;
    s->ngroups = ng;
    if (nr < ET__SW) {
        memset(s->q, 0, (size_t)w->K * ET__SW);
        memset(s->dw, 0, (size_t)ng * ET__SW * 4);
        memset(s->sw, 0, (size_t)ng * ET__SW * 4);
        if (s->mw) memset(s->mw, 0, (size_t)ng * ET__SW * 4);
    }
    for (int r = 0; r < nr; r++) {
        to->dec_i8(w, n0 + r, rq, rdw, rmw);
        /* 4 quants (one 32-bit lane) per k-step: step u of the row goes to lane r of step u */
        const uint32_t *src = (const uint32_t *)rq;
        uint32_t *dst = (uint32_t *)s->q + r;
        for (int64_t u = 0; u < w->K / 4; u++) dst[u * ET__SW] = src[u];
        for (int64_t g = 0; g < ng; g++) {
            int32_t sum = G == 32 ? et__sum32(rq + g * G) : et__sum16(rq + g * G);
            s->dw[g * ET__SW + r] = rdw[g];
            s->sw[g * ET__SW + r] = -128 * sum;
            if (s->mw) s->mw[g * ET__SW + r] = rmw[g];
        }
    }
}

/* Rows [n0, n0+nr) as bf16 pairs: strip[p*64 + 2r + {0,1}] = W[n0+r, 2p + {0,1}]. */
/* et_fp32_to_bf16, inlined for the strip loops (round to nearest even, NaN kept quiet). */
static inline uint16_t et__bf16_rne(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

/* y[0..n) = bf16 of x[0..n), the path's vector form where it has one. */
static void et__to_bf16(const et__isa_ops *io, const float *x, uint16_t *y, int64_t n) {
    if (io->to_bf16) { io->to_bf16(x, y, n); return; }
    for (int64_t i = 0; i < n; i++) y[i] = et__bf16_rne(x[i]);
}

/* dst[2i] = bf16(a[i]), dst[2i+1] = bf16(b[i]) (0 where b is NULL), i < n: two rows' k-pair
 * interleave, the form a bf16 strip holds them in. */
static void et__bf16_pairs(const et__isa_ops *io, const float *a, const float *b, uint16_t *dst, int64_t n) {
    if (io->bf16_pairs) { io->bf16_pairs(a, b, dst, n); return; }
    for (int64_t i = 0; i < n; i++) {
        dst[2 * i] = et__bf16_rne(a[i]);
        dst[2 * i + 1] = b ? et__bf16_rne(b[i]) : 0;
    }
}

/* A bf16 strip: strip[p·64 + 2r + e] = bf16 of W[n0 + r][2p + e] — as 32-bit words, the
 * transpose of the rows' k-pairs, so the path's pack_t does it.  BF16 rows with even K are
 * its source as they are; other types (and odd K) are decoded and rounded a row at a time
 * into rows[32][Kp] first. */
/* A bf16 strip from nr rows of k-pairs (ld32 32-bit units apart): strip[p*32 + r] = pair p of
 * row r, zero past nr (the path's pack_t moves the 32-bit pairs as it moves floats). */
static void et__pack_pairs(const et__isa_ops *io, const void *src, size_t ld32, int nr, int64_t kp,
                           uint16_t *strip) {
    if (io->pack_t) {
        io->pack_t((const float *)src, ld32, nr, kp, (float *)strip);
        return;
    }
    const uint32_t *s32 = (const uint32_t *)src;
    uint32_t *d32 = (uint32_t *)strip;
    for (int64_t p = 0; p < kp; p++)
        for (int r = 0; r < ET__SW; r++) d32[p * ET__SW + r] = r < nr ? s32[(size_t)r * ld32 + p] : 0;
}

static void et__build_bstrip(const et__wdesc *w, const et__type_ops *to, const et__isa_ops *io, int64_t n0,
                             int nr, uint16_t *strip, float *row, uint16_t *rows) {
    const int64_t kp = (w->K + 1) / 2;
    const void *src = (const char *)w->base + (size_t)n0 * w->ldw;
    size_t ld32 = w->ldw / 4;
    if (w->type != ET_BF16 || (w->K & 1) || (w->ldw & 3)) {
        for (int r = 0; r < nr; r++) {
            to->dec_f32(w, n0 + r, 0, w->K, row);
            if (w->K & 1) row[w->K] = 0.0f;
            et__to_bf16(io, row, rows + (size_t)r * 2 * kp, 2 * kp);
        }
        src = rows;
        ld32 = (size_t)kp;
    }
    et__pack_pairs(io, src, ld32, nr, kp, strip);
}

/* Columns [k0, k0+kc) of rows [n0, n0+nr) in f32: strip[k*32 + r].  The rows decoded into
 * rows[32][kc] (f32 weights read in place), then transposed by the path's pack_t. */
static void et__build_fstrip(const et__wdesc *w, const et__type_ops *to, const et__isa_ops *io, int64_t n0, int nr,
                             int64_t k0, int64_t kc, float *strip, float *rows) {
    const float *src = rows;
    size_t ld = (size_t)kc;
    if (w->type == ET_F32 && (w->ldw & 3) == 0) {
        src = (const float *)((const char *)w->base + (size_t)n0 * w->ldw) + k0;
        ld = w->ldw / 4;
    } else {
        for (int r = 0; r < nr; r++) to->dec_f32(w, n0 + r, k0, kc, rows + (size_t)r * kc);
    }
    if (io->pack_t) {
        io->pack_t(src, ld, nr, kc, strip);
        return;
    }
    for (int64_t k = 0; k < kc; k++)
        for (int r = 0; r < ET__SW; r++) strip[k * ET__SW + r] = r < nr ? src[(size_t)r * ld + k] : 0.0f;
}

/* Whether t is one of the 32-element 4/5-bit formats whose matvec wants et__qact.q4/x4/c4,
 * and the constant it folds into c4: what an offset format subtracts from its unsigned quants
 * (off · d · Σx̂ per block), 1 for the formats with a min term (c4 = ds / 4, scaled by the min). */
static bool et__q4x_offset(et_type t, float *off) {
    switch (t) {
    case ET_Q4_0:   *off = -8.0f;   return true;
    case ET_Q5_0:   *off = -16.0f;  return true;
    case ET_IQ4_NL: *off = -128.0f; return true;
    case ET_Q4_1: case ET_Q5_1: *off = 1.0f; return true;
    default:        return false;
    }
}

/* et__qact.q4 / x4 / c4 (see kern_priv.h) from the quantized activations, in scratch `p`. */
static void et__prep_q4(et__qact *a, float off, char *p) {
    const int64_t K = a->K, k4 = (K + 127) / 128 * 128, nb = K / 32;
    a->q4 = (int8_t *)p;
    a->x4 = (float *)(p + et__al((size_t)k4));
    a->c4 = (float *)((char *)a->x4 + et__al((size_t)k4 / 8 * 4));
    for (int64_t b = 0; b < k4 / 32; b++) {
        int8_t *g = a->q4 + b / 4 * 128 + b % 4 * 16;
        const bool in = b < nb;
        if (in) {
            memcpy(g, a->q + b * 32, 16);
            memcpy(g + 64, a->q + b * 32 + 16, 16);
        } else {
            memset(g, 0, 16);
            memset(g + 64, 0, 16);
        }
        const float d = in ? a->d[b] : 0.0f, c = in ? off * a->ds[b] * 0.25f : 0.0f;
        for (int l = 0; l < 4; l++) {
            a->x4[b * 4 + l] = d;
            a->c4[b * 4 + l] = c;
        }
    }
}

/* hi[i] = bf16(x[i]), lo[i] = bf16(x[i] - hi[i]). */
static void et__split_bf16(const et__isa_ops *io, const float *x, uint16_t *hi, uint16_t *lo, int64_t n) {
    if (io->split_bf16) { io->split_bf16(x, hi, lo, n); return; }
    et__to_bf16(io, x, hi, n);
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)hi[i] << 16;
        float h;
        memcpy(&h, &u, 4);
        lo[i] = et__bf16_rne(x[i] - h);
    }
}

static void et__matmul_f16x3(const et__wdesc *wd, const et__type_ops *to, const et__isa_ops *io,
                             const float *x, size_t ldx, float *y, size_t ldy, int64_t T,
                             bool accumulate, char *base, int nth) {
    const int64_t K = wd->K, N = wd->N, kp = (K + 1) / 2, nstrips = (N + ET__SW - 1) / ET__SW;
    const size_t sb = et__al((size_t)kp * 2 * ET__SW * 2);
    uint16_t *xh = (uint16_t *)base, *xl = (uint16_t *)(base + et__al((size_t)(T * 2 * kp) * 2));
    char *tbase = base + et__x3_shared(T, K);
    #pragma omp parallel num_threads(nth)
    {
        #pragma omp for schedule(static)
        for (int64_t t = 0; t < T; t++) {
            et__split_bf16(io, x + (size_t)t * ldx, xh + t * 2 * kp, xl + t * 2 * kp, K);
            if (K & 1) xh[t * 2 * kp + K] = xl[t * 2 * kp + K] = 0;
        }
        char *p = tbase + (size_t)omp_get_thread_num() * et__x3_per_thread(K);
        uint16_t *sh = (uint16_t *)p, *sl = (uint16_t *)(p + sb);
        uint16_t *rh = (uint16_t *)(p + 2 * sb), *rl = (uint16_t *)(p + 3 * sb);
        float *row = (float *)(p + 4 * sb);
        #pragma omp for schedule(static)
        for (int64_t i = 0; i < nstrips; i++) {
            const int64_t n0 = i * ET__SW;
            const int nr = (int)(N - n0 < ET__SW ? N - n0 : ET__SW);
            for (int r = 0; r < nr; r++) {
                to->dec_f32(wd, n0 + r, 0, K, row);
                if (K & 1) row[K] = 0.0f;
                et__split_bf16(io, row, rh + (size_t)r * 2 * kp, rl + (size_t)r * 2 * kp, 2 * kp);
            }
            et__pack_pairs(io, rh, (size_t)kp, nr, kp, sh);
            et__pack_pairs(io, rl, (size_t)kp, nr, kp, sl);
            io->bgemm(sh, kp, xh, (size_t)(2 * kp), T, y + n0, ldy, nr, accumulate);
            io->bgemm(sh, kp, xl, (size_t)(2 * kp), T, y + n0, ldy, nr, true);
            io->bgemm(sl, kp, xh, (size_t)(2 * kp), T, y + n0, ldy, nr, true);
        }
    }
}

/* ---- forward ----------------------------------------------------------------------------------- */

void et_kern_matmul(et_type wtype, const void *w, size_t ldw, const float *x, size_t ldx,
                    float *y, size_t ldy, int64_t T, int64_t K, int64_t N, bool accumulate,
                    void *work) {
    if (T <= 0 || N <= 0) return;
    const et__type_ops *to = et__kern_type_ops(wtype);
    const et__isa_ops *io = et__kern_isa_ops();
    if (!to || !io->sgemm) {   /* the scalar reference path */
        et_ref_matmul(wtype, w, ldw, x, ldx, y, ldy, T, K, N, accumulate);
        return;
    }
    et__wdesc wd = { wtype, w, ldw, K, N };
    et__kind kind = et__eff_kind(to, io);
    const int nth = et__threads();
    const int64_t nstrips = (N + ET__SW - 1) / ET__SW;
    char *base = et__align_ptr(work);

    if (T == 1 && io->matvec[wtype]) {
        et__matvec_fn mv = io->matvec[wtype];
        et__qact xq = { .T = 1, .K = K, .ngroups = K / ET__QG, .q = (int8_t *)base };
        if (et__uses_qk(wtype, kind, io)) {
            et__prep_qk(&xq, x, base);
        } else if (kind == ET__KIND_I8) {
            xq.d = (float *)(base + et__al((size_t)K));
            xq.ds = (float *)((char *)xq.d + et__al((size_t)(K / ET__QG) * 4));
            et__quant_act_c(x, ldx, 1, K, &xq, false);
            float off;
            if (et__q4x_offset(wtype, &off))
                et__prep_q4(&xq, off, (char *)base + et__shared_bytes(kind, 1, K));
        }
        if (et__nf4_i16(mv)) {
            et__prep_nf4_xw(&xq, x, base + et__shared_bytes(kind, 1, K));
        } else if (kind == ET__KIND_BF16) {   /* x in bf16 (the shared region: Kp halves) */
            xq.xb = (uint16_t *)base;
            for (int64_t k = 0; k < K; k++) xq.xb[k] = et_fp32_to_bf16(x[k]);
            if (K & 1) xq.xb[K] = 0;
        } else if (wtype == ET_NF4) {   /* x split into even and odd elements (NF4's nibble order) */
            xq.xf = (float *)(base + et__shared_bytes(kind, 1, K));
            for (int64_t k = 0; k < K / 2; k++) {
                xq.xf[k] = x[2 * k];
                xq.xf[K / 2 + k] = x[2 * k + 1];
            }
        }
        #pragma omp parallel num_threads(nth)
        {
            int it = omp_get_thread_num(), nt = omp_get_num_threads();
            /* split rows in multiples of 32 so no two threads share a cache line of y */
            int64_t per = (nstrips + nt - 1) / nt * ET__SW;
            int64_t n0 = it * per, n1 = n0 + per < N ? n0 + per : N;
            if (n0 < n1) mv(&wd, x, &xq, y, n0, n1, accumulate);
        }
        return;
    }

    if (et__use_rowdot(wtype, io, N)) {
        et__rowdot_tokens(io, x, ldx, T, K, (const float *)w, ldw / 4, (int)N, y, ldy, accumulate, nth);
        return;
    }
    if (et__f16x3(wtype, io, T)) {
        et__matmul_f16x3(&wd, to, io, x, ldx, y, ldy, T, accumulate, base, nth);
        return;
    }
    const size_t per_thread = et__strip_bytes(kind, to->G, K);
    char *tbase = base + et__shared_bytes(kind, T, K) + et__xf_bytes(K);
    if (kind == ET__KIND_I8) {
        const int64_t ng = K / ET__QG;
        et__qact xq = { .T = T, .K = K, .ngroups = ng, .q = (int8_t *)base };
        xq.d = (float *)(base + et__al((size_t)(T * K)));
        xq.ds = (float *)((char *)xq.d + et__al((size_t)(T * ng) * 4));
        /* quantize in parallel over tokens (rows are independent) */
        #pragma omp parallel for num_threads(nth) schedule(static)
        for (int64_t t = 0; t < T; t++) {
            et__qact one = { .T = 1, .K = K, .ngroups = ng, .q = xq.q + t * K, .d = xq.d + t * ng,
                              .ds = xq.ds + t * ng };
            et__quant_act_c(x + (size_t)t * ldx, ldx, 1, K, &one, io->act_unsigned);
        }
        const int G = to->G;
        const int64_t sg = K / G;
        #pragma omp parallel num_threads(nth)
        {
            char *p = tbase + (size_t)omp_get_thread_num() * per_thread;
            et__qstrip s;
            s.q = (int8_t *)p;                       p += et__al((size_t)K * ET__SW);
            s.dw = (float *)p;                       p += et__al((size_t)sg * ET__SW * 4);
            s.mw = to->has_min ? (float *)p : NULL;  p += et__al((size_t)sg * ET__SW * 4);
            s.sw = (int32_t *)p;                     p += et__al((size_t)sg * ET__SW * 4);
            int8_t *rq = (int8_t *)p;                p += et__al((size_t)K);
            float *rdw = (float *)p;                 p += et__al((size_t)sg * 4);
            float *rmw = (float *)p;
            #pragma omp for schedule(static)
            for (int64_t i = 0; i < nstrips; i++) {
                int64_t n0 = i * ET__SW;
                int nr = (int)(N - n0 < ET__SW ? N - n0 : ET__SW);
                et__build_qstrip(&wd, to, n0, nr, &s, rq, rdw, rmw);
                io->qgemm(&s, &xq, 0, T, y + n0, ldy, nr, accumulate);
            }
        }
        return;
    }
    if (kind == ET__KIND_BF16) {
        const int64_t kp = (K + 1) / 2;
        uint16_t *xb = (uint16_t *)base;
        #pragma omp parallel for num_threads(nth) schedule(static)
        for (int64_t t = 0; t < T; t++) {
            et__to_bf16(io, x + (size_t)t * ldx, xb + t * 2 * kp, K);
            if (K & 1) xb[t * 2 * kp + K] = 0;
        }
        #pragma omp parallel num_threads(nth)
        {
            char *p = tbase + (size_t)omp_get_thread_num() * per_thread;
            uint16_t *strip = (uint16_t *)p;
            float *row = (float *)(p + et__al((size_t)kp * 2 * ET__SW * 2));
            uint16_t *rows = (uint16_t *)(p + et__al((size_t)kp * 2 * ET__SW * 2) + et__al((size_t)kp * 2 * 4));
            #pragma omp for schedule(static)
            for (int64_t i = 0; i < nstrips; i++) {
                int64_t n0 = i * ET__SW;
                int nr = (int)(N - n0 < ET__SW ? N - n0 : ET__SW);
                et__build_bstrip(&wd, to, io, n0, nr, strip, row, rows);
                io->bgemm(strip, kp, xb, (size_t)(2 * kp), T, y + n0, ldy, nr, accumulate);
            }
        }
        return;
    }
    /* f32: x packed once into 8-token tiles (xp, tile j at j·K·8); then per strip, K in
     * chunks (a multiple of every block size) accumulating after the first, every tile
     * against the strip while it is in cache.  Measured and not taken (4096×14336, 2 threads,
     * T = 512, this 274 GFLOP/s, OpenBLAS 297): K chunks outer, every strip per chunk (the
     * x chunk stays in L2, but y is re-read per chunk) 216 / 245 / 266 at chunks of 256 /
     * 512 / 1024; 12- or 14-token register tiles 263 / 270. */
    const int64_t ntile = (T + 7) / 8;
    float *xp = (float *)base;
    #pragma omp parallel num_threads(nth)
    {
        #pragma omp for schedule(static)
        for (int64_t j = 0; j < ntile; j++) et__pack_tile8(x, ldx, j * 8, T, 0, K, xp + j * K * 8);
        char *p = tbase + (size_t)omp_get_thread_num() * per_thread;
        float *strip = (float *)p;
        float *rows = (float *)(p + et__al((size_t)ET__KC * ET__SW * 4));
        #pragma omp for schedule(static)
        for (int64_t i = 0; i < nstrips; i++) {
            int64_t n0 = i * ET__SW;
            int nr = (int)(N - n0 < ET__SW ? N - n0 : ET__SW);
            for (int64_t k0 = 0; k0 < K; k0 += ET__KC) {
                int64_t kc = K - k0 < ET__KC ? K - k0 : ET__KC;
                et__build_fstrip(&wd, to, io, n0, nr, k0, kc, strip, rows);
                for (int64_t j = 0; j < ntile; j++) {
                    int64_t nt = T - j * 8 < 8 ? T - j * 8 : 8;
                    io->sgemm(kc, xp + j * K * 8 + k0 * 8, 1, 8, strip, ET__SW, y + j * 8 * ldy + n0, ldy,
                              nt, nr, 1.0f, accumulate || k0 > 0);
                }
            }
        }
    }
}

/* ---- backward: dX = dY · W ------------------------------------------------------------------------ */

/* dX with bf16 products and f32 accumulation: dx[t, k0..k0+rw) over n in chunks of
 * ET__DXB_NC rows, each chunk's Wᵀ strips fed to the forward's bf16 micro-kernel (whose
 * reduction runs over n-pairs here); rows are decoded two at a time and interleaved into
 * the strips by the path's bf16_pairs.  Each thread owns whole column ranges of dx:
 * deterministic for a fixed thread count.  Error within bf16 rounding of dY and W. */

static void et__matmul_dx_bf16(const et__wdesc *wd, const et__type_ops *to, const et__isa_ops *io,
                               const float *dy, size_t lddy, float *dx, size_t lddx, int64_t T,
                               bool accumulate, char *base, int nth) {
    const int64_t K = wd->K, N = wd->N, Np = (N + 1) & ~(int64_t)1;
    uint16_t *dyb = (uint16_t *)base;
    char *tbase = base + et__dxb_shared(T, N);
    #pragma omp parallel for num_threads(nth) schedule(static)
    for (int64_t t = 0; t < T; t++) {
        et__to_bf16(io, dy + (size_t)t * lddy, dyb + t * Np, N);
        if (N & 1) dyb[t * Np + N] = 0;
    }
    const int64_t rw = et__dxb_range(wd->type), nranges = (K + rw - 1) / rw;
    #pragma omp parallel num_threads(nth)
    {
        char *p = tbase + (size_t)omp_get_thread_num() * et__dxb_thread(rw);
        uint16_t *st[ET__DXB_MAXS];
        for (int s = 0; s < rw / 32; s++) st[s] = (uint16_t *)(p + (size_t)s * et__al((size_t)ET__DXB_NC * 32 * 2));
        float *rowa = (float *)(p + (size_t)(rw / 32) * et__al((size_t)ET__DXB_NC * 32 * 2));
        float *rowb = rowa + rw;
        #pragma omp for schedule(static)
        for (int64_t i = 0; i < nranges; i++) {
            const int64_t k0 = i * rw, kw = K - k0 < rw ? K - k0 : rw;
            const int ns = (int)((kw + 31) / 32);
            for (int64_t n0 = 0; n0 < N; n0 += ET__DXB_NC) {
                const int64_t nc = N - n0 < ET__DXB_NC ? N - n0 : ET__DXB_NC, kp = (nc + 1) / 2;
                for (int64_t p = 0; p < kp; p++) {   /* rows 2p, 2p+1 → pair p of each strip */
                    const int64_t r = 2 * p;
                    to->dec_f32(wd, n0 + r, k0, kw, rowa);
                    for (int64_t c = kw; c < ns * 32; c++) rowa[c] = 0.0f;
                    const float *b = NULL;
                    if (r + 1 < nc) {
                        to->dec_f32(wd, n0 + r + 1, k0, kw, rowb);
                        for (int64_t c = kw; c < ns * 32; c++) rowb[c] = 0.0f;
                        b = rowb;
                    }
                    for (int s = 0; s < ns; s++)
                        et__bf16_pairs(io, rowa + 32 * s, b ? b + 32 * s : NULL, st[s] + p * 64, 32);
                }
                for (int s = 0; s < ns; s++) {
                    const int nr = (int)(kw - 32 * s < 32 ? kw - 32 * s : 32);
                    io->bgemm(st[s], kp, dyb + n0, (size_t)Np, T, dx + k0 + 32 * s, lddx, nr,
                              accumulate || n0 > 0);
                }
            }
        }
    }
}

void et_kern_matmul_dx(et_type wtype, const void *w, size_t ldw, const float *dy, size_t lddy,
                       float *dx, size_t lddx, int64_t T, int64_t K, int64_t N,
                       bool accumulate, void *work) {
    if (T <= 0 || K <= 0) return;
    const et__type_ops *to = et__kern_type_ops(wtype);
    const et__isa_ops *io = et__kern_isa_ops();
    if (!to || !io->sgemm) {
        et_ref_matmul_dx(wtype, w, ldw, dy, lddy, dx, lddx, T, K, N, accumulate);
        return;
    }
    if (N <= 0) {
        if (!accumulate)
            for (int64_t t = 0; t < T; t++) memset(dx + (size_t)t * lddx, 0, (size_t)K * 4);
        return;
    }
    et__wdesc wd = { wtype, w, ldw, K, N };
    const int nth = et__threads();
    if (et__dx_bf16(wtype, io)) {
        et__matmul_dx_bf16(&wd, to, io, dy, lddy, dx, lddx, T, accumulate, et__align_ptr(work), nth);
        return;
    }
    if (et__use_rowdot(wtype, io, K)) {   /* dx[t, k] = dy[t, :] · Wᵀ[k, :] with Wᵀ [K, N] */
        float *wt = (float *)et__align_ptr(work);
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < K; k++) wt[k * N + n] = ((const float *)((const char *)w + (size_t)n * ldw))[k];
        et__rowdot_tokens(io, dy, lddy, T, N, wt, (size_t)N, (int)K, dx, lddx, accumulate, nth);
        return;
    }
    /* Tasks: column ranges of kb (512, or 256 where 512 would leave a thread without a range),
     * times groups of token tiles where there are still fewer ranges than threads (a 256-wide
     * model's dX was one range: one thread).  A task packs its panel, then for each 8-token
     * tile runs every strip of the range, so the tile stays in L1 while the strips stream from
     * L2 (strips outer, tiles inner, re-read the tiles from L2: 4096x14336 T=512 on 2 threads,
     * 235 -> 260 GFLOP/s; ranges of 512 instead of 256 then 284, 0.95x OpenBLAS's sgemm).
     * Each dX element is one task's, summed over n in the same order whatever the split. */
    const int64_t ntile = (T + 7) / 8;
    const int64_t kb = (K + ET__DX_KB - 1) / ET__DX_KB >= nth ? ET__DX_KB : ET__DX_KB / 2;
    const int64_t nranges = (K + kb - 1) / kb;
    int64_t ngroups = nranges >= nth ? 1 : (nth + nranges - 1) / nranges;
    if (ngroups > ntile) ngroups = ntile;
    const int64_t per_group = (ntile + ngroups - 1) / ngroups;
    const size_t per_thread = et__al(((size_t)ET__DX_NC * ET__DX_KB + ET__DX_KB) * 4);
    /* dY in 8-token k-major tiles (see et__pack_tile8), tile j at j·N·8, packed once for every
     * column range (per range, it was repacked K/256 times: 29 MB × 16 for a 4096-wide dX) */
    float *dyp = (float *)et__align_ptr(work);
    char *base = (char *)dyp + et__al((size_t)(ntile * 8 * N) * 4);
    #pragma omp parallel num_threads(nth)
    {
        #pragma omp for schedule(static)
        for (int64_t j = 0; j < ntile; j++) et__pack_tile8(dy, lddy, j * 8, T, 0, N, dyp + j * N * 8);
        /* panel: the 32-column strips of W[n0.., k0..k0+kw) one after another, each nc × 32
         * contiguous (k-major B operand with ldb 32, L1-friendly), zero-padded past kw */
        float *panel = (float *)(base + (size_t)omp_get_thread_num() * per_thread);
        float *row = panel + (size_t)ET__DX_NC * ET__DX_KB;
        #pragma omp for schedule(static)
        for (int64_t task = 0; task < nranges * ngroups; task++) {
            const int64_t i = task / ngroups, g = task % ngroups;
            const int64_t j0 = g * per_group, j1 = j0 + per_group < ntile ? j0 + per_group : ntile;
            int64_t k0 = i * kb, kw = K - k0 < kb ? K - k0 : kb;
            int64_t ns = (kw + ET__SW - 1) / ET__SW;
            for (int64_t n0 = 0; n0 < N && j0 < j1; n0 += ET__DX_NC) {
                int64_t nc = N - n0 < ET__DX_NC ? N - n0 : ET__DX_NC;
                for (int64_t r = 0; r < nc; r++) {
                    /* f32 rows straight from W where the range fills whole strips (the row
                     * buffer's extra copy was a tenth of the packing) */
                    const float *src = row;
                    if (wtype == ET_F32 && (ldw & 3) == 0 && kw == ns * ET__SW) {
                        src = (const float *)((const char *)w + (size_t)(n0 + r) * ldw) + k0;
                    } else {
                        to->dec_f32(&wd, n0 + r, k0, kw, row);
                        for (int64_t j = kw; j < ns * ET__SW; j++) row[j] = 0.0f;
                    }
                    for (int64_t sj = 0; sj < ns; sj++)
                        memcpy(panel + (sj * nc + r) * ET__SW, src + sj * ET__SW, ET__SW * 4);
                }
                for (int64_t j = j0; j < j1; j++) {
                    int64_t nt = T - j * 8 < 8 ? T - j * 8 : 8;
                    for (int64_t sj = 0; sj < ns; sj++) {
                        int nr = (int)(kw - sj * ET__SW < ET__SW ? kw - sj * ET__SW : ET__SW);
                        io->sgemm(nc, dyp + j * N * 8 + n0 * 8, 1, 8, panel + sj * nc * ET__SW, ET__SW,
                                  dx + j * 8 * lddx + k0 + sj * ET__SW, lddx, nt, nr, 1.0f, accumulate || n0 > 0);
                    }
                }
            }
        }
    }
}

/* ---- conversion -------------------------------------------------------------------------------- */

void et_kern_to_f32(et_type t, const void *src, float *dst, int64_t ne0, int64_t nrows,
                    size_t src_row_bytes) {
    et__dec_f32_fn dec = et__dec_f32_for(t);
    if (t == ET_NF4) {   /* NF4 rows need the whole tensor (its scale tail): the reference */
        et_ref_dequantize_nf4_rows(src, nrows, ne0, 0, nrows, dst);
        return;
    }
    if (!dec) {
        const et_type_traits *tr = et_type_get(t);
        for (int64_t r = 0; r < nrows; r++)
            tr->to_f32((const char *)src + (size_t)r * src_row_bytes, dst + r * ne0, ne0);
        return;
    }
    et__wdesc wd = { t, src, src_row_bytes, ne0, nrows };
    for (int64_t r = 0; r < nrows; r++) dec(&wd, r, 0, ne0, dst + r * ne0);
}
