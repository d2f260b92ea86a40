/* What the tokenizer fuzz targets do with a tokenizer that loaded: encode a fixed
 * multilingual text (special-token text, combining marks, invalid UTF-8) with special-token
 * parsing, and the input's own first bytes as text; check the documented id bound; decode. */
#ifndef ET_FUZZ_TOK_EXERCISE_H
#define ET_FUZZ_TOK_EXERCISE_H

#include <stdint.h>
#include <stdlib.h>
#include "tok/tokenizer.h"

static void et_fuzz_tok_exercise(const et_tok *t, const uint8_t *data, size_t size) {
    static const char text[] = "Hello wörld! 你好 🙂 <|endoftext|><s></s>\t\n  12345 \xff\xfe bad "
                               "\xcc\x81 combining";
    static int32_t ids[8192];
    static char out[32768];
    const char *texts[2] = { text, (const char *)data };
    size_t lens[2] = { sizeof text - 1, size < 200 ? size : 200 };
    for (int k = 0; k < 2; k++) {
        unsigned flags = k ? 0 : ET_TOK_ADD_SPECIAL | ET_TOK_PARSE_SPECIAL;
        long n = et_tok_encode(t, texts[k], lens[k], flags, ids, 8192);
        if (n < 0) continue;                                   /* out of memory */
        if (n > et_tok_encode_bound(lens[k])) abort();         /* the documented bound */
        et_tok_decode(t, ids, n < 8192 ? n : 8192, k ? ET_TOK_SKIP_SPECIAL : 0, out, sizeof out);
    }
}

#endif
