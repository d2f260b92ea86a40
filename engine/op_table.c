/* The op table, generated from ops.def: each row's name, arity and function pointers. */
#include <stdarg.h>
#include <stdio.h>
#include "ops.h"

#define ET__BWD_YES(n) et__bwd_##n
#define ET__BWD_NO(n) NULL
#define ET__WORK_YES(n) et__work_##n
#define ET__WORK_NO(n) NULL
#define ET__DECL_BWD_YES(n) bool et__bwd_##n(et_ctx *ctx, et_tensor *t);
#define ET__DECL_BWD_NO(n)
#define ET__DECL_WORK_YES(n) size_t et__work_##n(const et_tensor *t, int nthreads);
#define ET__DECL_WORK_NO(n)
#define ET__COST_YES(n) et__cost_##n
#define ET__COST_NO(n) NULL
#define ET__DECL_COST_YES(n) void et__cost_##n(const et_tensor *t, double *flops, double *bytes);
#define ET__DECL_COST_NO(n)

#define ET_OP(E, n, nsrc, bw, wk, inpl, co) \
    void et__fwd_##n(et_tensor *t, et_exec *ex); ET__DECL_BWD_##bw(n) ET__DECL_WORK_##wk(n) ET__DECL_COST_##co(n)
#include "ops.def"
#undef ET_OP

const et_op_info et_op_table[ET_OP_COUNT] = {
#define ET_OP(E, n, ns, bw, wk, inpl, co) \
    [ET_OP_##E] = { .name = #n, .n_src = ns, .inplace = inpl, .forward = et__fwd_##n, \
                    .backward = ET__BWD_##bw(n), .work = ET__WORK_##wk(n), .cost = ET__COST_##co(n) },
#include "ops.def"
#undef ET_OP
};

void et_exec_fail(et_exec *ex, const char *fmt, ...) {
    if (ex->failed) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ex->err, sizeof ex->err, fmt, ap);
    va_end(ap);
    ex->failed = 1;
}
