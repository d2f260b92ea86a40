/* Private layout of the tokenizer object, shared by the files of engine/tok/ only:
 * tokenizer.c (construction, special tokens, encode/decode driver), tok_models.c (the SPM and
 * byte-level BPE word encoders), tok_io.c (files).  Not for use outside engine/tok/. */
#ifndef ET_TOK_INTERNAL_H
#define ET_TOK_INTERNAL_H

#include <stdarg.h>
#include "tok/tokenizer.h"

/* Caps on sizes read from files or given by callers: far above any real vocabulary. */
#define ET__TOK_MAX_VOCAB (1 << 24)
#define ET__TOK_MAX_PIECE (1 << 16)

struct et_tok {
    et_tok_model model;
    et_pretok pretok;
    et_chat_style chat;
    int32_t n_vocab;
    char *blob;               /* every stored string, then every decoded string */
    uint64_t *off;            /* stored string of token i: blob + off[i], len[i] bytes */
    uint32_t *len;
    uint64_t *roff;           /* decoded bytes (what decode emits): blob + roff[i], rlen[i] */
    uint32_t *rlen;
    float *scores;
    uint8_t *types;
    int32_t *ht;              /* open-addressing map stored string -> id */
    uint32_t ht_mask;
    int32_t bos, eos, unk, pad;
    int add_bos, add_eos, add_dummy_prefix, ignore_merges, nfc;
    /* Hugging Face Metaspace semantics for the dummy prefix (tokenizer.json only): prefix only
     * the first fragment of the input (prepend_scheme "first"), and never a fragment that
     * already starts with a space.  llama.cpp / GGUF: both 0. */
    int prefix_first_only, prefix_skip_if_space;
    /* BPE merges: rank r joins (mleft[r], mright[r]) into mresult[r]; map keyed by the pair. */
    int32_t n_merges;
    int32_t *mleft, *mright, *mresult;
    int32_t *mht;
    uint32_t mht_mask;
    int32_t byte_id[256];     /* BPE: token of each single byte; SPM: the <0xXX> token */
    /* special tokens matched in text, longest first */
    int32_t n_special;
    int32_t *special;
    uint8_t special_first[256];   /* 1 for bytes that start some special token */
};

void et__tok_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t et__tok_hash(const char *s, size_t n);
int32_t et__tok_merge_find(const et_tok *t, int32_t left, int32_t right);

/* A growable id list used while encoding. */
typedef struct { int32_t *ids; long n, cap; int oom; } et__idbuf;
void et__idbuf_push(et__idbuf *b, int32_t id);

/* Encode one fragment of text (no special tokens inside) and append the ids. */
void et__tok_spm_encode(const et_tok *t, const char *text, size_t len, et__idbuf *out);
void et__tok_bpe_encode(const et_tok *t, const char *text, size_t len, et__idbuf *out);

#endif
