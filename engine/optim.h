/* Optimizer state and its graph nodes.  After et_graph_backward, et_optim_adamw_init creates
 * the two moments of every trained parameter (leaves: they persist across steps) and appends
 * one ADAMW node per parameter to the graph, so the planner sees the optimizer as part of the
 * step.  Before each run, et_optim_next_step writes the step's hyperparameters (learning rate
 * from the schedule, bias corrections, gradient scale) into one small leaf. */
#ifndef ET_OPTIM_H
#define ET_OPTIM_H

#include "graph.h"

typedef struct et_adamw_cfg {
    float lr, beta1, beta2, eps, weight_decay;
} et_adamw_cfg;

typedef struct et_optim {
    et_adamw_cfg cfg;
    et_tensor   *hp;            /* f32 [8]: see ET_HP_* in ops.h */
    int32_t      n_params;
    et_tensor  **params, **m, **v;
    et_tensor  **acc;           /* gradient accumulators when grad_accum > 1, else NULL */
    int64_t      step;          /* steps taken */
} et_optim;

/* torch.optim.AdamW's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01. */
et_adamw_cfg et_adamw_defaults(void);
bool et_optim_adamw_init(et_optim *o, et_graph *g, const et_adamw_cfg *cfg);

/* The same with global grad-norm clipping (clip > 0: SUMSQ per gradient, added, CLIP_SCALE,
 * read by every ADAMW node) and gradient accumulation (grad_accum > 1: ADAMW and the norm read
 * one persistent f32 accumulator per parameter, o->acc[k], which the caller fills from the
 * micro-batches' gradients; the clip threshold then applies to their mean). */
typedef struct et_optim_opts { float clip; int32_t grad_accum; } et_optim_opts;
bool et_optim_adamw_init_ex(et_optim *o, et_graph *g, const et_adamw_cfg *cfg, const et_optim_opts *opts);
/* Advance to the next step with learning rate lr and gradient multiplier grad_scale. */
void et_optim_next_step(et_optim *o, float lr, float grad_scale);
void et_optim_free(et_optim *o);
/* Bytes of optimizer state (the moments). */
size_t et_optim_state_bytes(const et_optim *o);

#endif
