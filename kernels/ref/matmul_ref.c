/* Scalar reference for the linear-layer kernels: the definition et_kern_matmul and
 * et_kern_matmul_dx are tested against, and the EDGETUNE_ISA=ref path.
 *
 * Each weight row is dequantized with the format's own reference converter (kernels/ref/quant_ref.h;
 * NF4 through its whole-tensor helper), and dot products accumulate in double, so the
 * only error left is the final rounding to f32.  Slow by design.  Returns false (and writes
 * nothing) for a type that has no reference converter. */
#include <stdlib.h>
#include <string.h>
#include "ref.h"
#include "quant.h"
#include "quant_ref.h"

typedef void (*et__deq_fn)(const void *x, float *y, int64_t n);

static et__deq_fn et__ref_deq(et_type t) {
    switch (t) {
    case ET_F32:    return et_ref_f32_copy;
    case ET_F16:    return et_ref_f16_to_f32;
    case ET_BF16:   return et_ref_bf16_to_f32;
    case ET_Q8_0:   return et_ref_dequantize_row_q8_0;
    case ET_Q4_0:   return et_ref_dequantize_row_q4_0;
    case ET_Q4_1:   return et_ref_dequantize_row_q4_1;
    case ET_Q5_0:   return et_ref_dequantize_row_q5_0;
    case ET_Q5_1:   return et_ref_dequantize_row_q5_1;
    case ET_IQ4_NL: return et_ref_dequantize_row_iq4_nl;
    case ET_Q4_K:   return et_ref_dequantize_row_q4_k;
    case ET_Q6_K:   return et_ref_dequantize_row_q6_k;
    default:        return NULL;
    }
}

/* Row n of W in f32 into dst (K floats). */
static void et__ref_row(et_type t, const void *w, size_t ldw, int64_t K, int64_t N, int64_t n,
                        float *dst) {
    if (t == ET_NF4) et_ref_dequantize_nf4_rows(w, N, K, n, 1, dst);
    else et__ref_deq(t)((const char *)w + (size_t)n * ldw, dst, K);
}

bool et_ref_matmul_supports(et_type t) {
    return t < ET_TYPE_COUNT && (t == ET_NF4 || et__ref_deq(t) != NULL);
}

bool et_ref_matmul(et_type t, const void *w, size_t ldw, const float *x, size_t ldx, float *y,
                   size_t ldy, int64_t T, int64_t K, int64_t N, bool accumulate) {
    if (!et_ref_matmul_supports(t)) return false;
    float *row = malloc((size_t)(K > 0 ? K : 1) * sizeof(float));
    if (!row) return false;
    for (int64_t n = 0; n < N; n++) {
        et__ref_row(t, w, ldw, K, N, n, row);
        for (int64_t i = 0; i < T; i++) {
            const float *xr = x + (size_t)i * ldx;
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += (double)xr[k] * row[k];
            float *o = y + (size_t)i * ldy + n;
            *o = accumulate ? *o + (float)s : (float)s;
        }
    }
    free(row);
    return true;
}

bool et_ref_matmul_dx(et_type t, const void *w, size_t ldw, const float *dy, size_t lddy,
                      float *dx, size_t lddx, int64_t T, int64_t K, int64_t N, bool accumulate) {
    if (!et_ref_matmul_supports(t)) return false;
    float *row = malloc((size_t)(K > 0 ? K : 1) * sizeof(float));
    double *acc = calloc((size_t)(T * K > 0 ? T * K : 1), sizeof(double));
    if (!row || !acc) { free(row); free(acc); return false; }
    for (int64_t n = 0; n < N; n++) {
        et__ref_row(t, w, ldw, K, N, n, row);
        for (int64_t i = 0; i < T; i++) {
            double g = dy[(size_t)i * lddy + n];
            for (int64_t k = 0; k < K; k++) acc[i * K + k] += g * row[k];
        }
    }
    for (int64_t i = 0; i < T; i++)
        for (int64_t k = 0; k < K; k++) {
            float *o = dx + (size_t)i * lddx + k;
            *o = accumulate ? *o + (float)acc[i * K + k] : (float)acc[i * K + k];
        }
    free(row);
    free(acc);
    return true;
}
