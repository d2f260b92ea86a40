/* What an et_lm call costs and which weights it runs on, for the study's records:
 *   - FLOPs and bytes moved of one et_lm_score or et_lm_generate call, by the op table's own
 *     cost functions (engine/cost.h) summed over the nodes of the graphs that call records,
 *     so an inference cell can be projected to another device by roofline exactly as a
 *     learning cell is (the trainer's et_train_graph_bytes counts the same way);
 *   - the storage types the base's linear weights actually have after loading, which can
 *     differ from the type asked for (a row that is not a whole number of Q4_K's 256-element
 *     blocks falls back to IQ4_NL, as in llama.cpp).
 * Nothing is computed: the graphs are recorded after a context mark, counted, and dropped. */
#ifndef ET_LM_COST_H
#define ET_LM_COST_H

#include <stddef.h>
#include "lm.h"

typedef struct et_lm_cost {
    double flops, bytes;
} et_lm_cost;

/* The cost of et_lm_score(lm, prompt, cands, n_cands, ...): the same batch (prompt truncated
 * from the left to fit the context, one row per candidate).  0, or -1 with err. */
int et_lm_score_cost(et_lm *lm, const char *prompt, const char *const *cands, int n_cands, et_lm_cost *c,
                     char *err, size_t errlen);

/* The cost of a greedy et_lm_generate(lm, prompt, max_new, ...) that ran n_steps decoding
 * steps (the prompt's prefill, then one token per step; the step that draws the stop token
 * counts).  Attention over the KV cache grows by one key per step, linearly, so the decode
 * steps are counted exactly from the first and the last.  0, or -1 with err. */
int et_lm_generate_cost(et_lm *lm, const char *prompt, int max_new, int n_steps, et_lm_cost *c, char *err,
                        size_t errlen);

/* The storage types of the base's linear weights (q k v o gate up down of every layer, and
 * the output matrix when untied) and of the token embedding, as "linear q8_0 x42;
 * embedding f32" (types in order of first use, counts after "x").  Returns the length
 * written (snprintf-style). */
int et_lm_weight_types(const et_lm *lm, char *buf, size_t n);

#endif
