/* AMX-BF16 micro-kernel for the bf16 family (compiled with AVX-512 and AMX-TILE/AMX-BF16;
 * called only on the "amx" path, which kernels/dispatch.c offers where CPUID reports AMX and
 * the kernel has granted this process the tile state).
 *
 * Same contract as et__bgemm_avx512bf16: y[t, 0..nr) (+)= strip · x[t], the strip holding
 * k-pairs × 32 rows × 2 bf16 — for 16 rows, exactly the B operand of TDPBF16PS (16 k-pairs
 * of 64 bytes, one row of the strip every 128 bytes), and x's bf16 rows, 32 k at a time, its
 * A operand.  Register blocking: 32 tokens × 32 rows in four C tiles (tmm0-3), two A tiles
 * (tokens t..t+15, t+16..t+31: tmm4-5) and two B tiles (rows 0-15, 16-31: tmm6-7); each
 * k-step of 32 is four loads and four tile products of 16×16×32.  Sums are f32, in the
 * hardware's fixed order: results are deterministic, within bf16 rounding of x and W.
 * Tokens past the last multiple of 16, and strips whose K is not a multiple of 32, run the
 * vdpbf16ps kernel (same products, same rounding of the inputs).
 *
 * The tile configuration is per thread: loaded on entry, released on exit (so a context
 * switch in between the calls saves no tile data). */
#include <immintrin.h>
#include <string.h>
#include "kern_priv.h"

/* Tile loads, stores and the configuration, with the memory they touch declared: GCC 12's
 * intrinsics give their asm only the address registers (no memory clobber; ldtilecfg an
 * 8-byte operand), so the compiler would be free to drop the configuration's stores as dead
 * or to read a stored C tile's buffer before the store. */
#define ET__TLOAD(t, base, stride) \
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #t ::"r"(base), "r"((long)(stride)) : "memory")
#define ET__TSTORE(t, base, stride) \
    __asm__ volatile("tilestored %%tmm" #t ", (%0,%1,1)" ::"r"(base), "r"((long)(stride)) : "memory")

typedef struct {
    uint8_t  palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t  rows[16];
} et__tilecfg;

/* every tile 16 rows of 64 bytes */
static void et__amx_config(void) {
    et__tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) { cfg.colsb[i] = 64; cfg.rows[i] = 16; }
    __asm__ volatile("ldtilecfg %0" ::"m"(cfg) : "memory");
}

static inline __mmask16 et__m16(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* rows of c0 | c1 (16 tokens × 16 + 16 outputs) into y, nr outputs wide */
static inline void et__amx_out(const float *c0, const float *c1, float *y, size_t ldy, int nr, bool accumulate) {
    const __mmask16 m0 = et__m16(nr), m1 = et__m16(nr - 16);
    for (int r = 0; r < 16; r++) {
        __m512 v0 = _mm512_load_ps(c0 + 16 * r), v1 = _mm512_load_ps(c1 + 16 * r);
        float *yr = y + (size_t)r * ldy;
        if (accumulate) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, yr));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, yr + 16));
        }
        _mm512_mask_storeu_ps(yr, m0, v0);
        _mm512_mask_storeu_ps(yr + 16, m1, v1);
    }
}

/* One block of 16 tokens (two: 32) against the strip's 32 rows, y (+)= the product: C tiles
 * 0-1 (tokens t..t+15), 2-3 (t+16..t+31); A tiles 4-5, B tiles 6-7.  `two` is a constant at
 * each call, so each instance is straight-line tile code. */
static inline __attribute__((always_inline)) void et__amx_block(const uint16_t *strip, int64_t kp, const uint16_t *a0,
                                                                 size_t ldxb, float *y, size_t ldy, int nr,
                                                                 bool accumulate, const bool two, float c[4][256]) {
    const size_t sa = ldxb * 2;   /* bytes between tokens */
    const uint16_t *a1 = a0 + 16 * ldxb;
    _tile_zero(0);
    _tile_zero(1);
    if (two) {
        _tile_zero(2);
        _tile_zero(3);
    }
    for (int64_t p = 0; p < kp; p += 16) {
        ET__TLOAD(4, a0 + 2 * p, sa);
        ET__TLOAD(6, strip + p * 64, 128);
        ET__TLOAD(7, strip + p * 64 + 32, 128);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        if (two) {
            ET__TLOAD(5, a1 + 2 * p, sa);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
    }
    ET__TSTORE(0, c[0], 64);
    ET__TSTORE(1, c[1], 64);
    et__amx_out(c[0], c[1], y, ldy, nr, accumulate);
    if (two) {
        ET__TSTORE(2, c[2], 64);
        ET__TSTORE(3, c[3], 64);
        et__amx_out(c[2], c[3], y + 16 * ldy, ldy, nr, accumulate);
    }
}

void et__bgemm_amx(const uint16_t *strip, int64_t kp, const uint16_t *xb, size_t ldxb, int64_t nt, float *y,
                   size_t ldy, int nr, bool accumulate) {
    if ((kp & 15) || nt < 16) {
        et__bgemm_avx512bf16(strip, kp, xb, ldxb, nt, y, ldy, nr, accumulate);
        return;
    }
    float c[4][256] __attribute__((aligned(64)));
    et__amx_config();
    int64_t t = 0;
    for (; t + 32 <= nt; t += 32)
        et__amx_block(strip, kp, xb + (size_t)t * ldxb, ldxb, y + (size_t)t * ldy, ldy, nr, accumulate, true, c);
    if (t + 16 <= nt) {
        et__amx_block(strip, kp, xb + (size_t)t * ldxb, ldxb, y + (size_t)t * ldy, ldy, nr, accumulate, false, c);
        t += 16;
    }
    _tile_release();
    if (t < nt) et__bgemm_avx512bf16(strip, kp, xb + (size_t)t * ldxb, ldxb, nt - t, y + (size_t)t * ldy, ldy, nr,
                                     accumulate);
}

static volatile float et__amx_sink;

/* The peak of TDPBF16PS: four independent 16×16×32 products per round (the kernel's four C
 * tiles), operands in tiles.  Returns the flops performed. */
__attribute__((no_sanitize("address", "undefined"))) double et__peak_amx_bf16(int64_t n) {
    float out[256] __attribute__((aligned(64)));
    et__amx_config();
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_zero(4);
    _tile_zero(5);
    _tile_zero(6);
    _tile_zero(7);
    for (int64_t i = 0; i < n; i++) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    ET__TSTORE(0, out, 64);
    _tile_release();
    et__amx_sink = out[0];
    return (double)n * 4 * 16 * 16 * 32 * 2;
}
