/* A toy sequence task for demos and learning tests: each sequence starts with a "stride"
 * token k in [1, V/2), and every later token is the previous one plus k, modulo V.  Predicting
 * the next token needs attention back to the first token, so a model that learns it is
 * really using its attention, MLP and embeddings.  Chance loss is log(V). */
#ifndef ET_TOY_H
#define ET_TOY_H

#include <stdint.h>
#include "llama.h"

/* Fill ids/sel/targets of a batch (T tokens × B sequences, P = (T-1)·B loss positions:
 * every position but the last of each sequence), deterministically from `seed`. */
void et_toy_fill_batch(const et_llama_batch *b, int32_t vocab, uint64_t seed);

#endif
