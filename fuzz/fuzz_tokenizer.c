/* libFuzzer target for the tokenizer file readers (engine/tok: edgetune's "ETOK" format and
 * Hugging Face tokenizer.json): any bytes load or are rejected without a crash, an
 * out-of-bounds read or undefined behaviour; a tokenizer that loads must encode and decode a
 * fixed multilingual text (with special-token text and invalid UTF-8) and the input's own
 * first bytes within the documented id bound.  Seeds in fuzz/corpus/tokenizer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tok/tokenizer.h"

#include "tok_exercise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    et_tok *t = et_tok_load_memory(data, size, "fuzz", err, sizeof err);
    if (!t) return 0;
    et_fuzz_tok_exercise(t, data, size);
    et_tok_free(t);
    return 0;
}
