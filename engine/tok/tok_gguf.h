/* Building a tokenizer from a GGUF model's tokenizer.ggml.* metadata (engine/io/gguf.h). */
#ifndef ET_TOK_GGUF_H
#define ET_TOK_GGUF_H

#include "io/gguf.h"
#include "tok/tokenizer.h"

/* NULL with a message naming the file and the key on a missing or malformed entry. */
et_tok *et_tok_from_gguf(const et_gguf *g, char *err, size_t errsz);

#endif
