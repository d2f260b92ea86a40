/* The byte-level BPE trainer behind `edgetune tokenizer train`: learns a GPT-2-style
 * vocabulary (merges + byte-level tokens) from text, deterministically, with the same rule as
 * Hugging Face tokenizers' BpeTrainer so the two give the same merges on the same input:
 *   - input is cut into lines (each keeping its '\n'), each line pre-tokenized on its own
 *     (GPT-2 / Llama 3 / Qwen2 rules), words counted;
 *   - ids: special tokens first, then the 256 byte symbols ordered by their code point in the
 *     GPT-2 byte-to-unicode alphabet, then merged tokens in creation order;
 *   - each step merges the adjacent pair with the highest count over the corpus, ties broken
 *     by the smaller (left id, right id); a merge whose string already exists reuses its id;
 *   - stop when the vocabulary reaches vocab_size or no pair occurs min_frequency times.
 * One known difference: when a merge makes a string that already exists, tokenizers queues the
 * pairs of the reused id in a second entry covering only the newly touched words; we count
 * such pairs over all words.  The test texts (tests/py/test_tok_train.py) show no difference.
 * Speed: 10 MB of English (vocabulary 8192) in 0.3 s on one core, see the report command in
 * tests/py/test_tok_train.py.
 */
#ifndef ET_TOK_BPE_TRAIN_H
#define ET_TOK_BPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "tok/tokenizer.h"

typedef struct et_bpe_train_opts {
    int32_t vocab_size;         /* including special tokens and the 256 bytes */
    et_pretok pretok;           /* ET_PRETOK_GPT2 (default), LLAMA3 or QWEN2 */
    const char *const *special; /* special tokens, ids 0.. in this order (CONTROL type) */
    int n_special;
    int64_t min_frequency;      /* 0: merge while any pair occurs */
    int verbose;                /* progress lines on stderr */
} et_bpe_train_opts;

typedef struct et_bpe_trainer et_bpe_trainer;

et_bpe_trainer *et_bpe_trainer_new(const et_bpe_train_opts *opts, char *err, size_t errsz);
void et_bpe_trainer_free(et_bpe_trainer *tr);
/* Count the words of a text (cut into lines).  0 on success, -1 when out of memory. */
int et_bpe_trainer_feed(et_bpe_trainer *tr, const char *text, size_t len);
int et_bpe_trainer_feed_file(et_bpe_trainer *tr, const char *path, char *err, size_t errsz);
/* Run the merges and build the tokenizer (the first special token becomes EOS). */
et_tok *et_bpe_trainer_finish(et_bpe_trainer *tr, char *err, size_t errsz);
/* Statistics of the counted text. */
int64_t et_bpe_trainer_n_words(const et_bpe_trainer *tr);
int64_t et_bpe_trainer_n_unique(const et_bpe_trainer *tr);

#endif
