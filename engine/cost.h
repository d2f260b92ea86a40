/* Helpers for the op files' cost functions (et__cost_<name>, see ops.def): the FLOPs and bytes
 * one execution of a node performs and moves, computed from shapes alone, for the profiler's
 * GFLOP/s, GB/s and roofline points (engine/profile.c).
 *
 * Bytes are the traffic an ideal kernel cannot avoid: every element of every source read once
 * and the result written once, each at its real storage size (a Q4_0 weight counts its
 * 18-byte blocks, an NF4 weight its blocks plus its double-quantized scales).  Where a kernel
 * must stream a source that cannot stay in cache more than once (the fused cross-entropy
 * passes over the vocabulary matrix), the cost function says so and counts each pass.
 * FLOPs count a multiply-add as 2 and every other arithmetic operation (add, multiply,
 * divide, sqrt, exp, tanh, compare-and-select is not counted) as 1. */
#ifndef ET_COST_H
#define ET_COST_H

#include "ops.h"

/* Bytes of the elements of t at its storage type (views: the elements they cover). */
static inline double et__cost_nbytes(const et_tensor *t) {
    if (!t) return 0.0;
    return (double)et_type_nbytes(t->type, t->ne[0], et_nrows(t));
}

/* Elements of t as a double. */
static inline double et__cost_n(const et_tensor *t) { return t ? (double)et_nelements(t) : 0.0; }

#endif
