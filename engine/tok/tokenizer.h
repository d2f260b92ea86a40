/* Tokenizers: text <-> token ids, in C with no Python at run time.
 *
 * One object, two model kinds, as llama.cpp's GGUF files describe them:
 *   ET_TOK_SPM  SentencePiece-style BPE ("llama" in tokenizer.ggml.model): token strings with
 *               scores; '▁' stands for a space, an optional dummy-prefix space, and byte fallback
 *               (<0xXX> tokens) for what the vocabulary cannot spell.  Merging picks the adjacent
 *               pair whose concatenation is a vocabulary piece with the highest score.
 *   ET_TOK_BPE  GPT-2-style byte-level BPE ("gpt2"): a pre-tokenizer splits text into words
 *               (GPT-2, Llama 3 or Qwen2 rules), each word's bytes are merged by merge rank.
 *
 * Special tokens (CONTROL, USER_DEFINED) are cut out of the text before the model sees it:
 * user-defined ones always, control ones only with ET_TOK_PARSE_SPECIAL (llama.cpp's rule).
 *
 * Invalid UTF-8 (documented choice, both as llama.cpp does):
 *   SPM: each invalid byte is its own symbol, which no piece matches, so byte fallback emits it
 *        as <0xXX> and decoding restores the exact bytes.
 *   BPE: each invalid byte becomes U+FFFD before pre-tokenization (llama.cpp's
 *        unicode_cpts_from_utf8), so it is encoded as the bytes EF BF BD.
 *
 * Llama 3's ignore_merges (a word that is itself a token is emitted whole) is on for the llama3
 * pre-tokenizer, as llama.cpp does, or as a tokenizer.json's model.ignore_merges says.
 * SPM dummy prefix: llama.cpp's rule (a space before every text fragment that starts the input
 * or follows a special token); a tokenizer.json with a Metaspace pre-tokenizer gets tokenizers'
 * rule instead (see tok_io.c).  NFC is applied only when a tokenizer.json asks for it (Qwen).
 *
 * Construction: et_tok_create() from in-memory arrays (what a GGUF reader has), et_tok_load()
 * from our own file (magic "ETOK") or a Hugging Face tokenizer.json, et_tok_save() to either;
 * et_tok_from_gguf() (tok/tok_gguf.h) from a GGUF model's tokenizer.ggml.* metadata.
 * Encoding and decoding only read the object, so one tokenizer serves many threads.
 * Errors never abort: constructors return NULL and write a message naming the file, the
 * field and the bad value into err.
 */
#ifndef ET_TOK_TOKENIZER_H
#define ET_TOK_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef enum et_tok_model { ET_TOK_SPM = 1, ET_TOK_BPE = 2 } et_tok_model;

/* Pre-tokenizer split rules (byte-level BPE only). */
typedef enum et_pretok {
    ET_PRETOK_NONE = 0,  /* the whole fragment is one word */
    ET_PRETOK_GPT2,      /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    ET_PRETOK_LLAMA3,    /* (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
                            \s*[\r\n]+|\s+(?!\S)|\s+ */
    ET_PRETOK_QWEN2,     /* as LLAMA3 but \p{N} one digit at a time */
    ET_PRETOK_COUNT
} et_pretok;

/* Token types: the values of GGUF's tokenizer.ggml.token_type. */
typedef enum et_tok_type {
    ET_TOKT_NORMAL = 1, ET_TOKT_UNKNOWN = 2, ET_TOKT_CONTROL = 3, ET_TOKT_USER = 4,
    ET_TOKT_UNUSED = 5, ET_TOKT_BYTE = 6
} et_tok_type;

typedef enum et_chat_style {
    ET_CHAT_NONE = 0, ET_CHAT_LLAMA2, ET_CHAT_LLAMA3, ET_CHAT_CHATML, ET_CHAT_GEMMA, ET_CHAT_COUNT
} et_chat_style;

/* Encode flags. */
enum {
    ET_TOK_ADD_SPECIAL = 1,    /* add BOS / EOS as the tokenizer's add_bos / add_eos say */
    ET_TOK_PARSE_SPECIAL = 2,  /* match control tokens' text (e.g. "<|eot_id|>") in the input */
};
/* Decode flags. */
enum {
    ET_TOK_SKIP_SPECIAL = 1,   /* drop control / unknown tokens */
    ET_TOK_STRIP_PREFIX = 2,   /* SPM: drop the dummy-prefix space of the first token */
};

/* Everything needed to build a tokenizer; a GGUF reader fills this straight from its arrays.
 * Token strings are as stored by the format: SPM with '▁', byte-level BPE in GPT-2's
 * byte-to-unicode alphabet (control / user-defined tokens in plain text). */
typedef struct et_tok_spec {
    et_tok_model model;
    et_pretok pretok;               /* BPE only */
    int32_t n_vocab;
    const char *const *tokens;      /* n_vocab strings */
    const uint32_t *token_lens;     /* byte lengths, or NULL for NUL-terminated strings */
    const float *scores;            /* n_vocab, or NULL (all 0) */
    const int32_t *types;           /* n_vocab et_tok_type values, or NULL (all NORMAL) */
    int32_t n_merges;               /* BPE: merges "left right" in rank order */
    const char *const *merges;
    int32_t bos, eos, unk, pad;     /* -1 when absent */
    int add_bos, add_eos;           /* applied with ET_TOK_ADD_SPECIAL */
    int add_dummy_prefix;           /* SPM: prefix a space (llama's add_space_prefix) */
    int nfc;                        /* NFC-normalize text before encoding (tokenizer.json's
                                       "NFC" normalizer, e.g. Qwen; GGUF has no such key) */
    et_chat_style chat;
} et_tok_spec;

typedef struct et_tok et_tok;

/* Defaults: bos/eos/unk/pad -1, SPM add_bos 1 and add_dummy_prefix 1, BPE add_bos 0. */
void et_tok_spec_init(et_tok_spec *spec, et_tok_model model);
et_tok *et_tok_create(const et_tok_spec *spec, char *err, size_t errsz);
void et_tok_free(et_tok *t);

/* Our file format (magic "ETOK", version 1) or a Hugging Face tokenizer.json (by content). */
et_tok *et_tok_load(const char *path, char *err, size_t errsz);
/* The same from bytes in memory (name is used in messages; the bytes are not kept). */
et_tok *et_tok_load_memory(const void *data, size_t size, const char *name, char *err, size_t errsz);
/* Write our format, or a tokenizer.json when path ends in ".json".  0 on success. */
int et_tok_save(const et_tok *t, const char *path, char *err, size_t errsz);

/* Encode len bytes of text.  Writes at most cap ids and returns how many the text needs
 * (call again with a larger buffer when the result exceeds cap); -1 on allocation failure.
 * et_tok_encode_bound(len) ids always suffice. */
long et_tok_encode(const et_tok *t, const char *text, size_t len, unsigned flags,
                   int32_t *ids, long cap);
long et_tok_encode_bound(size_t len);
/* Decode n ids into out (cap bytes, NUL-terminated when room); returns the byte count needed
 * excluding the NUL.  Ids out of range decode to nothing. */
size_t et_tok_decode(const et_tok *t, const int32_t *ids, long n, unsigned flags, char *out,
                     size_t cap);

int32_t et_tok_n_vocab(const et_tok *t);
et_tok_model et_tok_model_kind(const et_tok *t);
et_pretok et_tok_pretok(const et_tok *t);
/* A token's stored string (as in et_tok_spec.tokens), its length in *len; NULL if out of range. */
const char *et_tok_piece(const et_tok *t, int32_t id, uint32_t *len);
float et_tok_score(const et_tok *t, int32_t id);
et_tok_type et_tok_type_of(const et_tok *t, int32_t id);
/* Id of an exact stored string, or -1. */
int32_t et_tok_lookup(const et_tok *t, const char *s, size_t len);
int32_t et_tok_bos(const et_tok *t);
int32_t et_tok_eos(const et_tok *t);
int32_t et_tok_unk(const et_tok *t);
int32_t et_tok_pad(const et_tok *t);
/* The encoding options given at construction (for writers such as a GGUF exporter):
 * add_bos / add_eos (applied with ET_TOK_ADD_SPECIAL) and the SPM dummy-prefix space. */
int et_tok_adds_bos(const et_tok *t);
int et_tok_adds_eos(const et_tok *t);
int et_tok_adds_dummy_prefix(const et_tok *t);
int et_tok_normalizes_nfc(const et_tok *t);
int32_t et_tok_n_merges(const et_tok *t);
/* Merge r as token ids (left, right, result). */
void et_tok_merge(const et_tok *t, int32_t r, int32_t *left, int32_t *right, int32_t *result);

/* Names used in files and on the command line ("gpt2", "llama3", "qwen2", "none";
 * "llama2", "llama3", "chatml", "gemma"). -1 when unknown. */
const char *et_pretok_name(et_pretok p);
int et_pretok_from_name(const char *name);
const char *et_chat_name(et_chat_style c);
int et_chat_from_name(const char *name);

/* Pre-tokenize len bytes of valid UTF-8 into words: writes word byte boundaries as pairs
 * (start, end) into spans (room for cap pairs); returns the number of words. */
long et_pretok_split(et_pretok p, const char *text, size_t len, size_t *spans, long cap);

/* GPT-2's byte <-> unicode alphabet: the code point standing for byte b. */
uint32_t et_bytelevel_cp(uint8_t b);

/* Chat template: render messages (roles "system", "user", "assistant") into a prompt string
 * ending with the assistant header (add_generation_prompt).  Returns bytes needed (excluding
 * NUL), writing at most cap with a NUL when room.  BOS text is not included: encode with
 * ET_TOK_ADD_SPECIAL | ET_TOK_PARSE_SPECIAL. */
typedef struct et_chat_msg { const char *role, *content; } et_chat_msg;
size_t et_chat_render(et_chat_style style, const et_chat_msg *msgs, int n, int add_generation_prompt,
                      char *out, size_t cap);
et_chat_style et_tok_chat_style(const et_tok *t);

#endif
