/* Building a tokenizer from a GGUF model's tokenizer.ggml.* metadata (engine/io/gguf.h). */
#ifndef ET_TOK_GGUF_H
#define ET_TOK_GGUF_H

#include "io/gguf.h"
#include "tok/tokenizer.h"

/* NULL with a message naming the file and the key on a missing or malformed entry. */
et_tok *et_tok_from_gguf(const et_gguf *g, char *err, size_t errsz);
/* Write the tokenizer as tokenizer.ggml.* metadata (0, or -1 with err).  Defined in
 * tok_gguf_write.c. */
int et_tok_to_gguf(const et_tok *t, et_gguf_writer *w, char *err, size_t errsz);

#endif
