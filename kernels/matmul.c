/* Linear-layer entry points over any weight type (see kernels.h for the contract).
 *
 * F32 weights go straight to et_sgemm.  Other types take the generic path until a fast
 * kernel is registered for them: dequantize a panel of weight rows that fits in L2 into the
 * work buffer, then one GEMM per panel — W is never materialized whole in f32. */
#include <string.h>
#include "kernels.h"

#define ET__PANEL_BYTES (256u * 1024u)

static int64_t et__panel_rows(int64_t K) {
    int64_t r = (int64_t)(ET__PANEL_BYTES / ((size_t)K * sizeof(float)));
    return r < 16 ? 16 : r;
}

size_t et_kern_matmul_work(et_type wtype, int64_t T, int64_t K, int64_t N) {
    if (wtype == ET_F32) return 0;
    int64_t r = et__panel_rows(K);
    if (r > N) r = N;
    return (size_t)r * (size_t)K * sizeof(float);
}

size_t et_kern_matmul_dx_work(et_type wtype, int64_t T, int64_t K, int64_t N) {
    return et_kern_matmul_work(wtype, T, K, N);
}

/* Dequantize rows [n0, n0+nr) of W into dst (nr × K, contiguous). */
static void et__dequant_panel(et_type wtype, const void *w, size_t ldw, int64_t K, int64_t N,
                              int64_t n0, int64_t nr, float *dst) {
    et_kern_to_f32(wtype, (const char *)w + (size_t)n0 * ldw, dst, K, nr, ldw);
    (void)N;
}

void et_kern_matmul(et_type wtype, const void *w, size_t ldw, const float *x, size_t ldx,
                    float *y, size_t ldy, int64_t T, int64_t K, int64_t N, bool accumulate,
                    void *work) {
    if (wtype == ET_F32) {
        et_sgemm(false, true, T, N, K, 1.0f, x, (int64_t)ldx, w, (int64_t)(ldw / 4),
                 accumulate ? 1.0f : 0.0f, y, (int64_t)ldy);
        return;
    }
    int64_t pr = et__panel_rows(K);
    float *panel = work;
    for (int64_t n0 = 0; n0 < N; n0 += pr) {
        int64_t nr = N - n0 < pr ? N - n0 : pr;
        et__dequant_panel(wtype, w, ldw, K, N, n0, nr, panel);
        et_sgemm(false, true, T, nr, K, 1.0f, x, (int64_t)ldx, panel, K,
                 accumulate ? 1.0f : 0.0f, y + n0, (int64_t)ldy);
    }
}

void et_kern_matmul_dx(et_type wtype, const void *w, size_t ldw, const float *dy, size_t lddy,
                       float *dx, size_t lddx, int64_t T, int64_t K, int64_t N,
                       bool accumulate, void *work) {
    if (wtype == ET_F32) {
        et_sgemm(false, false, T, K, N, 1.0f, dy, (int64_t)lddy, w, (int64_t)(ldw / 4),
                 accumulate ? 1.0f : 0.0f, dx, (int64_t)lddx);
        return;
    }
    int64_t pr = et__panel_rows(K);
    float *panel = work;
    for (int64_t n0 = 0; n0 < N; n0 += pr) {
        int64_t nr = N - n0 < pr ? N - n0 : pr;
        et__dequant_panel(wtype, w, ldw, K, N, n0, nr, panel);
        et_sgemm(false, false, T, K, nr, 1.0f, dy + n0, (int64_t)lddy, panel, K,
                 (accumulate || n0 > 0) ? 1.0f : 0.0f, dx, (int64_t)lddx);
    }
}

void et_kern_to_f32(et_type t, const void *src, float *dst, int64_t ne0, int64_t nrows,
                    size_t src_row_bytes) {
    const et_type_traits *tr = et_type_get(t);
    for (int64_t r = 0; r < nrows; r++)
        tr->to_f32((const char *)src + (size_t)r * src_row_bytes, dst + r * ne0, ne0);
}
