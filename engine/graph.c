/* Graph recording (topological order by iterative depth-first search) and reverse-mode
 * autodiff.  Backward walks the forward nodes in reverse and applies each op's rule from the
 * op table; rules emit ordinary nodes, so the backward pass is planned and run like the
 * forward one.  With recomputation on, backward nodes read recomputed copies of forward
 * activations (only CHECKPOINT-flagged ones are kept from the forward pass), which the
 * planner then sees die right after the forward pass. */
#include <stdlib.h>
#include <string.h>
#include "graph.h"

et_graph *et_graph_new(et_ctx *ctx, int32_t max_nodes) {
    et_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->ctx = ctx;
    g->cap = max_nodes;
    g->nodes = calloc((size_t)max_nodes, sizeof *g->nodes);
    if (!g->nodes) { free(g); return NULL; }
    return g;
}

void et_graph_free(et_graph *g) {
    if (!g) return;
    free(g->nodes);
    free(g->visited);
    free(g);
}

static bool et__visited_grow(et_graph *g) {
    int32_t need = et_ctx_n_tensors(g->ctx);
    if (need <= g->visited_cap) return true;
    int32_t cap = need * 2 + 64;
    uint8_t *v = realloc(g->visited, (size_t)cap);
    if (!v) return false;
    memset(v + g->visited_cap, 0, (size_t)(cap - g->visited_cap));
    g->visited = v;
    g->visited_cap = cap;
    return true;
}

bool et_graph_add(et_graph *g, et_tensor *root) {
    et_ctx *ctx = g->ctx;
    if (!root) { et_ctx_fail(ctx, "et_graph_add: NULL tensor (a builder failed earlier)"); return false; }
    if (!et__visited_grow(g)) { et_ctx_fail(ctx, "et_graph_add: out of memory"); return false; }
    /* Iterative post-order DFS: stack of (tensor, next source index). */
    int32_t cap = 256, sp = 0;
    struct frame { et_tensor *t; int i; } *stack = malloc((size_t)cap * sizeof *stack);
    if (!stack) { et_ctx_fail(ctx, "et_graph_add: out of memory"); return false; }
    if (!g->visited[root->id]) { stack[sp++] = (struct frame){root, 0}; g->visited[root->id] = 1; }
    bool ok = true;
    while (sp > 0) {
        struct frame *f = &stack[sp - 1];
        if (f->i < 2 * ET_MAX_SRC) {
            /* Gradient-chain sources first, then the rest: a backward node's recomputed or
             * saved forward inputs are then scheduled right before it, not ahead of the
             * backward of every later layer (which would keep them alive far longer). */
            int i = f->i++;
            et_tensor *s = f->t->src[i % ET_MAX_SRC];
            if (s && ((s->flags & ET_FLAG_GRAD) != 0) != (i < ET_MAX_SRC)) s = NULL;
            if (s && !g->visited[s->id]) {
                g->visited[s->id] = 1;
                if (sp == cap) {
                    cap *= 2;
                    struct frame *ns = realloc(stack, (size_t)cap * sizeof *stack);
                    if (!ns) { ok = false; et_ctx_fail(ctx, "et_graph_add: out of memory"); break; }
                    stack = ns;
                }
                stack[sp++] = (struct frame){s, 0};
            }
            continue;
        }
        et_tensor *t = f->t;
        sp--;
        if (t->op == ET_OP_NONE) continue;   /* leaves are not nodes */
        if (g->n_nodes == g->cap) {
            ok = false;
            et_ctx_fail(ctx, "graph full: %d nodes (raise max_nodes)", g->cap);
            break;
        }
        g->nodes[g->n_nodes++] = t;
    }
    free(stack);
    return ok;
}

/* ---- autodiff ---- */

void et__acc_grad(et_ctx *ctx, et_tensor *src, et_tensor *contrib) {
    if (!contrib) return;
    if (!et_same_shape(src, contrib)) {
        /* a rule's bug, not bad input: say which */
        char a[96], b[96];
        et_ctx_fail(ctx, "backward of '%s': gradient shape %s does not match %s", src->name,
                    et_shape_str(contrib, b, sizeof b), et_shape_str(src, a, sizeof a));
        return;
    }
    if (!et_is_contiguous(contrib)) contrib = et_cont(ctx, contrib);
    if (!contrib) return;
    contrib->flags |= ET_FLAG_GRAD;
    if (!src->grad) {
        src->grad = contrib;
    } else {
        et_tensor *sum = et_add(ctx, src->grad, contrib);
        if (sum) sum->flags |= ET_FLAG_GRAD;
        src->grad = sum;
    }
}

/* The elementwise ops recompute_cheap recomputes: one pass over tensors that are kept. */
static bool et__cheap_op(et_op op) {
    return op == ET_OP_SWIGLU || op == ET_OP_GEGLU || op == ET_OP_RMSNORM || op == ET_OP_MUL || op == ET_OP_SCALE;
}

/* The recomputed copy of forward node t (memoized), for activation checkpointing; with
 * cheap_only, of the elementwise ops (and with marked, of RECOMPUTABLE nodes) only: every
 * other node is kept. */
static et_tensor *et__recomputed(et_ctx *ctx, et_tensor *t, int32_t first_bwd_id, bool cheap_only, bool marked) {
    if (!t || t->op == ET_OP_NONE || t->id >= first_bwd_id) return t;
    if (t->flags & (ET_FLAG_CHECKPOINT | ET_FLAG_PERSIST)) return t;
    if (cheap_only && !et__cheap_op(t->op) && !(marked && (t->flags & ET_FLAG_RECOMPUTABLE))) return t;
    if (t->recomputed) return t->recomputed;
    et_tensor *srcs[ET_MAX_SRC];
    for (int i = 0; i < ET_MAX_SRC; i++) srcs[i] = et__recomputed(ctx, t->src[i], first_bwd_id, cheap_only, marked);
    if (et_ctx_failed(ctx)) return NULL;
    et_tensor *c = et__new_node(ctx, t->op, t->type, ET_MAX_DIMS, t->ne);
    if (!c) return NULL;
    memcpy(c->nb, t->nb, sizeof c->nb);
    memcpy(c->params, t->params, sizeof c->params);
    memcpy(c->src, srcs, sizeof c->src);
    c->flags = (t->flags & ~(ET_FLAG_OUTPUT | ET_FLAG_LOSS)) | ET_FLAG_RECOMPUTE;
    if (t->view_src) {
        c->view_src = et__recomputed(ctx, t->view_src, first_bwd_id, cheap_only, marked);
        c->view_offs = t->view_offs;
    }
    et_set_name(c, "%s (recomputed)", t->name);
    t->recomputed = c;
    return c;
}

bool et_graph_backward(et_graph *g, et_tensor *loss, const et_backward_opts *opts) {
    et_ctx *ctx = g->ctx;
    if (!loss) { et_ctx_fail(ctx, "backward: loss is NULL"); return false; }
    if (et_nelements(loss) != 1 || loss->type != ET_F32) {
        char b[96];
        et_ctx_fail(ctx, "backward: loss '%s' must be an f32 scalar, is %s", loss->name,
                    et_shape_str(loss, b, sizeof b));
        return false;
    }
    loss->flags |= ET_FLAG_LOSS | ET_FLAG_OUTPUT;   /* readable after the step */
    if (!et_graph_add(g, loss)) return false;
    int32_t n_fwd = g->n_nodes;

    /* 1. which nodes lie between a PARAM and the loss */
    for (int32_t i = 0; i < n_fwd; i++) {
        et_tensor *t = g->nodes[i];
        for (int j = 0; j < ET_MAX_SRC; j++) {
            et_tensor *s = t->src[j];
            if (!s) continue;
            if (s->flags & ET_FLAG_PARAM) s->flags |= ET_FLAG_NEEDS_GRAD;
            if (s->flags & ET_FLAG_NEEDS_GRAD) t->flags |= ET_FLAG_NEEDS_GRAD;
        }
        if (t->view_src && (t->view_src->flags & ET_FLAG_NEEDS_GRAD)) t->flags |= ET_FLAG_NEEDS_GRAD;
    }
    if (!(loss->flags & ET_FLAG_NEEDS_GRAD)) {
        et_ctx_fail(ctx, "backward: loss '%s' does not depend on any PARAM tensor", loss->name);
        return false;
    }

    /* 2. seed dloss = 1 */
    int32_t first_bwd_id = et_ctx_n_tensors(ctx);
    et_tensor *one = et_new_1d(ctx, ET_F32, 1, 0, "dloss");
    if (!one) return false;
    ((float *)one->data)[0] = 1.0f;
    if (et_n_dims(loss) > 1 || loss->ne[0] != 1) one = et_reshape(ctx, one, ET_MAX_DIMS, loss->ne);
    loss->grad = one;

    /* 3. rules, in reverse */
    for (int32_t i = n_fwd - 1; i >= 0; i--) {
        et_tensor *t = g->nodes[i];
        if (!t->grad || !(t->flags & ET_FLAG_NEEDS_GRAD)) continue;
        et_bwd_fn rule = et_op_table[t->op].backward;
        if (!rule) {
            et_ctx_fail(ctx, "backward: op '%s' (node '%s') has no gradient rule",
                        et_op_name(t->op), t->name);
            return false;
        }
        if (!rule(ctx, t) || et_ctx_failed(ctx)) {
            if (!et_ctx_failed(ctx))
                et_ctx_fail(ctx, "backward: rule of '%s' failed on '%s'", et_op_name(t->op), t->name);
            return false;
        }
    }

    /* 4. checkpointing: backward nodes read recomputed activations */
    if (opts && (opts->recompute || opts->recompute_cheap || opts->recompute_marked)) {
        const bool cheap = !opts->recompute, marked = opts->recompute_marked;
        int32_t n_now = et_ctx_n_tensors(ctx);
        for (int32_t id = first_bwd_id; id < n_now; id++) {
            et_tensor *t = et_ctx_tensor(ctx, id);
            if (t->flags & ET_FLAG_RECOMPUTE) continue;
            for (int j = 0; j < ET_MAX_SRC; j++)
                t->src[j] = et__recomputed(ctx, t->src[j], first_bwd_id, cheap, marked);
            if (t->view_src) t->view_src = et__recomputed(ctx, t->view_src, first_bwd_id, cheap, marked);
            if (et_ctx_failed(ctx)) return false;
        }
    }

    /* every node the rules created (but recomputed copies) is on the gradient chain */
    for (int32_t id = first_bwd_id; id < et_ctx_n_tensors(ctx); id++) {
        et_tensor *t = et_ctx_tensor(ctx, id);
        if (!(t->flags & ET_FLAG_RECOMPUTE) && t->op != ET_OP_NONE) t->flags |= ET_FLAG_GRAD;
    }

    /* 5. schedule the backward pass.  Rules created their nodes in a valid order (each after
     * its inputs, layer by layer from the top), which is also a good order for memory: a
     * layer's dW runs right after its dx, so dy dies at once.  So the nodes the parameters'
     * gradients need are appended in creation order; appending pulls in, just in time, the
     * recomputed activations they read (created last, by step 4). */
    int32_t n_all = et_ctx_n_tensors(ctx);
    uint8_t *needed = calloc((size_t)n_all, 1);
    et_tensor **stack = malloc((size_t)n_all * sizeof *stack);
    if (!needed || !stack) { free(needed); free(stack); et_ctx_fail(ctx, "backward: out of memory"); return false; }
    int32_t sp = 0;
    for (int32_t id = 0; id < n_all; id++) {
        et_tensor *p = et_ctx_tensor(ctx, id);
        if ((p->flags & ET_FLAG_PARAM) && (p->flags & ET_FLAG_NEEDS_GRAD) && p->grad && !needed[p->grad->id]) {
            needed[p->grad->id] = 1;
            stack[sp++] = p->grad;
        }
    }
    while (sp > 0) {
        et_tensor *t = stack[--sp];
        for (int j = 0; j < ET_MAX_SRC; j++) {
            et_tensor *s = t->src[j];
            if (s && !needed[s->id]) { needed[s->id] = 1; stack[sp++] = s; }
        }
    }
    bool ok = true;
    for (int32_t id = first_bwd_id; id < n_all && ok; id++) {
        et_tensor *t = et_ctx_tensor(ctx, id);
        if (needed[id] && t->op != ET_OP_NONE && !(t->flags & ET_FLAG_RECOMPUTE)) ok = et_graph_add(g, t);
    }
    free(needed);
    free(stack);
    if (!ok) return false;
    for (int32_t id = 0; id < n_all; id++) {
        et_tensor *p = et_ctx_tensor(ctx, id);
        if (!(p->flags & ET_FLAG_PARAM) || !(p->flags & ET_FLAG_NEEDS_GRAD)) continue;
        if (!p->grad) continue;
        p->grad->flags |= ET_FLAG_OUTPUT;
        if (!p->grad->name[0] || p->grad->op == ET_OP_ADD) et_set_name(p->grad, "d%s", p->name);
        if (!et_graph_add(g, p->grad)) return false;
    }
    g->n_forward = n_fwd;
    return true;
}
