/* Scalar reference kernels: the living definition of every format and kernel.  Compiled with
 * -ffp-contract=off so results do not depend on the compiler's FMA contraction.  Never
 * deleted: every SIMD path is tested against these. */
#ifndef ET_REF_H
#define ET_REF_H

#include <stdint.h>
#include <stddef.h>
#include "dtype.h"

void et_ref_f32_to_f16(const float *src, void *dst, int64_t n);
void et_ref_f16_to_f32(const void *src, float *dst, int64_t n);
void et_ref_f32_to_bf16(const float *src, void *dst, int64_t n);
void et_ref_bf16_to_f32(const void *src, float *dst, int64_t n);
void et_ref_f32_copy(const void *src, float *dst, int64_t n);
void et_ref_f32_copy_from(const float *src, void *dst, int64_t n);

/* Naive triple-loop GEMM with the et_sgemm contract (double accumulation). */
void et_ref_sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc);


/* Linear layer y = x·Wᵀ and dX = dY·W over any weight type (kernels/ref/matmul_ref.c): rows
 * dequantized by the format's reference converter, double accumulation.  false: no reference
 * for this type (nothing written). */
bool et_ref_matmul_supports(et_type t);
bool et_ref_matmul(et_type t, const void *w, size_t ldw, const float *x, size_t ldx, float *y,
                   size_t ldy, int64_t T, int64_t K, int64_t N, bool accumulate);
bool et_ref_matmul_dx(et_type t, const void *w, size_t ldw, const float *dy, size_t lddy,
                      float *dx, size_t lddx, int64_t T, int64_t K, int64_t N, bool accumulate);

#endif
