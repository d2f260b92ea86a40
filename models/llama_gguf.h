/* Llama-family models <-> GGUF (see llama_gguf.c). */
#ifndef ET_LLAMA_GGUF_H
#define ET_LLAMA_GGUF_H

#include "io/gguf.h"
#include "llama.h"

int  et_llama_config_from_gguf(const et_gguf *g, et_llama_config *c, char *err, size_t errlen);
/* Weights are used in place (the GGUF handle must outlive the model). */
int  et_llama_from_gguf(et_llama *m, et_ctx *ctx, const et_gguf *g, char *err, size_t errlen);
/* Add the model's metadata and tensors to a writer under its architecture's name and keys
 * (mistral as "llama" with the window key: llama.cpp has no "mistral"). */
void et_llama_to_gguf(const et_llama *m, et_gguf_writer *w, const char *name);

#endif
