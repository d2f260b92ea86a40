/* libFuzzer target for reading a tokenizer out of GGUF metadata (engine/tok/tok_gguf.c on top
 * of engine/io/gguf.c): malformed vocabularies (wrong array types, mismatched lengths, bad
 * token types or merges) must be rejected, not crash; a tokenizer that loads is exercised as
 * in fuzz_tokenizer.c.  Seeds: small SPM and byte-level BPE vocabularies in
 * fuzz/corpus/tok_gguf. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "io/gguf.h"
#include "tok/tokenizer.h"
#include "tok/tok_gguf.h"

#include "tok_exercise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    et_gguf *g = NULL;
    if (et_gguf_open_memory(data, size, "fuzz", &g, err, sizeof err) != 0) return 0;
    et_tok *t = et_tok_from_gguf(g, err, sizeof err);
    if (t) {
        et_fuzz_tok_exercise(t, data, size);
        et_tok_free(t);
    }
    et_gguf_close(g);
    return 0;
}
