/* The tokenizer object: construction from in-memory arrays (the path every loader takes),
 * lookups, the special-token partition of the input, and the encode / decode drivers.  The
 * per-model word encoders live in tok_models.c, files in tok_io.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tok/tok_internal.h"
#include "tok/unicode.h"

void et__tok_err(char *err, size_t errsz, const char *fmt, ...) {
    if (!err || errsz == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

uint64_t et__tok_hash(const char *s, size_t n) {   /* FNV-1a, 64-bit */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h;
}

void et__idbuf_push(et__idbuf *b, int32_t id) {
    if (b->n == b->cap) {
        long nc = b->cap ? b->cap * 2 : 64;
        int32_t *p = realloc(b->ids, (size_t)nc * sizeof *p);
        if (!p) { b->oom = 1; return; }
        b->ids = p;
        b->cap = nc;
    }
    b->ids[b->n++] = id;
}

/* ---- names ---------------------------------------------------------------------------- */

static const char *const et__pretok_names[ET_PRETOK_COUNT] = {"none", "gpt2", "llama3", "qwen2"};
static const char *const et__chat_names[ET_CHAT_COUNT] = {"none", "llama2", "llama3", "chatml", "gemma"};

const char *et_pretok_name(et_pretok p) {
    return (unsigned)p < ET_PRETOK_COUNT ? et__pretok_names[p] : "?";
}
int et_pretok_from_name(const char *name) {
    for (int i = 0; i < ET_PRETOK_COUNT; i++)
        if (!strcmp(name, et__pretok_names[i])) return i;
    return -1;
}
const char *et_chat_name(et_chat_style c) {
    return (unsigned)c < ET_CHAT_COUNT ? et__chat_names[c] : "?";
}
int et_chat_from_name(const char *name) {
    for (int i = 0; i < ET_CHAT_COUNT; i++)
        if (!strcmp(name, et__chat_names[i])) return i;
    return -1;
}

/* ---- GPT-2 byte <-> unicode alphabet -------------------------------------------------- */

/* Printable Latin-1 bytes stand for themselves; the other 68 map to U+0100.. in byte order. */
uint32_t et_bytelevel_cp(uint8_t b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE)) return b;
    uint32_t n = 0;
    for (uint32_t c = 0; c < b; c++)
        if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE))) n++;
    return 256 + n;
}

/* Inverse: byte for a code point of the alphabet, or -1. */
static int et__bytelevel_byte(uint32_t cp) {
    static int16_t inv[324];
    static int ready;
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        for (int i = 0; i < 324; i++) inv[i] = -1;
        for (int b = 0; b < 256; b++) inv[et_bytelevel_cp((uint8_t)b)] = (int16_t)b;
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    return cp < 324 ? inv[cp] : -1;
}

/* ---- construction ---------------------------------------------------------------------- */

void et_tok_spec_init(et_tok_spec *spec, et_tok_model model) {
    memset(spec, 0, sizeof *spec);
    spec->model = model;
    spec->pretok = model == ET_TOK_BPE ? ET_PRETOK_GPT2 : ET_PRETOK_NONE;
    spec->bos = spec->eos = spec->unk = spec->pad = -1;
    spec->add_bos = model == ET_TOK_SPM;
    spec->add_dummy_prefix = model == ET_TOK_SPM;
}

void et_tok_free(et_tok *t) {
    if (!t) return;
    free(t->blob); free(t->off); free(t->len); free(t->roff); free(t->rlen);
    free(t->scores); free(t->types); free(t->ht); free(t->mleft); free(t->mright);
    free(t->mresult); free(t->mht); free(t->special);
    free(t);
}

int32_t et_tok_lookup(const et_tok *t, const char *s, size_t n) {
    uint32_t h = (uint32_t)et__tok_hash(s, n) & t->ht_mask;
    for (;; h = (h + 1) & t->ht_mask) {
        int32_t id = t->ht[h];
        if (id < 0) return -1;
        if (t->len[id] == n && !memcmp(t->blob + t->off[id], s, n)) return id;
    }
}

static uint64_t et__pair_key(int32_t l, int32_t r) { return ((uint64_t)(uint32_t)l << 32) | (uint32_t)r; }
static uint32_t et__pair_hash(uint64_t k) { k *= 0x9E3779B97F4A7C15ULL; return (uint32_t)(k >> 32); }

int32_t et__tok_merge_find(const et_tok *t, int32_t left, int32_t right) {
    if (!t->mht) return -1;
    uint64_t k = et__pair_key(left, right);
    for (uint32_t h = et__pair_hash(k) & t->mht_mask;; h = (h + 1) & t->mht_mask) {
        int32_t r = t->mht[h];
        if (r < 0) return -1;
        if (t->mleft[r] == left && t->mright[r] == right) return r;
    }
}

/* Decoded bytes of a stored string: SPM '▁' -> ' ' and <0xXX> -> the byte; byte-level BPE
 * alphabet -> raw bytes (characters outside the alphabet are kept as they are). */
static size_t et__decode_piece(const et_tok *t, int type, const char *s, size_t n, char *out) {
    if (type == ET_TOKT_CONTROL || type == ET_TOKT_USER || type == ET_TOKT_UNKNOWN) {
        memcpy(out, s, n);
        return n;
    }
    if (t->model == ET_TOK_SPM) {
        unsigned v;
        if (type == ET_TOKT_BYTE && n == 6 && sscanf(s, "<0x%2X>", &v) == 1) {
            out[0] = (char)v;
            return 1;
        }
        size_t o = 0;
        for (size_t i = 0; i < n;) {
            if (i + 3 <= n && !memcmp(s + i, "\xE2\x96\x81", 3)) { out[o++] = ' '; i += 3; }
            else out[o++] = s[i++];
        }
        return o;
    }
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t p = i;
        uint32_t cp = et_utf8_decode((const uint8_t *)s, n, &p, NULL);
        int b = et__bytelevel_byte(cp);
        if (b >= 0) out[o++] = (char)b;
        else { memcpy(out + o, s + i, p - i); o += p - i; }
        i = p;
    }
    return o;
}

static int et__cmp_special(const void *a, const void *b, void *ctx) {
    const et_tok *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->len[x] != t->len[y]) return t->len[x] > t->len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

et_tok *et_tok_create(const et_tok_spec *sp, char *err, size_t errsz) {
    if (sp->model != ET_TOK_SPM && sp->model != ET_TOK_BPE) {
        et__tok_err(err, errsz, "tokenizer: model kind %d is neither spm (1) nor bpe (2)", (int)sp->model);
        return NULL;
    }
    if (sp->n_vocab <= 0 || sp->n_vocab > ET__TOK_MAX_VOCAB || !sp->tokens) {
        et__tok_err(err, errsz, "tokenizer: vocabulary size %d out of range (1..%d)", sp->n_vocab,
                    ET__TOK_MAX_VOCAB);
        return NULL;
    }
    if ((unsigned)sp->pretok >= ET_PRETOK_COUNT) {
        et__tok_err(err, errsz, "tokenizer: pre-tokenizer id %d unknown", (int)sp->pretok);
        return NULL;
    }
    if (sp->n_merges < 0 || sp->n_merges > ET__TOK_MAX_VOCAB || (sp->n_merges && !sp->merges)) {
        et__tok_err(err, errsz, "tokenizer: merge count %d out of range", sp->n_merges);
        return NULL;
    }
    const int32_t sids[4] = {sp->bos, sp->eos, sp->unk, sp->pad};
    static const char *const snames[4] = {"bos", "eos", "unk", "pad"};
    for (int i = 0; i < 4; i++)
        if (sids[i] < -1 || sids[i] >= sp->n_vocab) {
            et__tok_err(err, errsz, "tokenizer: %s token id %d out of range (vocabulary %d)",
                        snames[i], sids[i], sp->n_vocab);
            return NULL;
        }
    et_tok *t = calloc(1, sizeof *t);
    if (!t) goto oom;
    int32_t n = sp->n_vocab;
    t->model = sp->model;
    t->pretok = sp->model == ET_TOK_BPE ? sp->pretok : ET_PRETOK_NONE;
    t->chat = (unsigned)sp->chat < ET_CHAT_COUNT ? sp->chat : ET_CHAT_NONE;
    t->n_vocab = n;
    t->bos = sp->bos; t->eos = sp->eos; t->unk = sp->unk; t->pad = sp->pad;
    t->add_bos = sp->add_bos; t->add_eos = sp->add_eos;
    t->add_dummy_prefix = sp->model == ET_TOK_SPM && sp->add_dummy_prefix;
    t->ignore_merges = sp->model == ET_TOK_BPE && sp->pretok == ET_PRETOK_LLAMA3;
    t->nfc = sp->nfc != 0;
    t->off = malloc((size_t)n * sizeof *t->off);
    t->len = malloc((size_t)n * sizeof *t->len);
    t->roff = malloc((size_t)n * sizeof *t->roff);
    t->rlen = malloc((size_t)n * sizeof *t->rlen);
    t->scores = malloc((size_t)n * sizeof *t->scores);
    t->types = malloc((size_t)n);
    if (!t->off || !t->len || !t->roff || !t->rlen || !t->scores || !t->types) goto oom;
    uint64_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!sp->tokens[i]) {
            et__tok_err(err, errsz, "tokenizer: token %d string is missing", i);
            goto fail;
        }
        size_t l = sp->token_lens ? sp->token_lens[i] : strlen(sp->tokens[i]);
        if (l > ET__TOK_MAX_PIECE) {
            et__tok_err(err, errsz, "tokenizer: token %d length %zu exceeds %d", i, l, ET__TOK_MAX_PIECE);
            goto fail;
        }
        int ty = sp->types ? sp->types[i] : ET_TOKT_NORMAL;
        if (ty < ET_TOKT_NORMAL || ty > ET_TOKT_BYTE) {
            et__tok_err(err, errsz, "tokenizer: token %d type %d is not 1..6", i, ty);
            goto fail;
        }
        t->len[i] = (uint32_t)l;
        t->types[i] = (uint8_t)ty;
        t->scores[i] = sp->scores ? sp->scores[i] : 0.0f;
        total += 2 * (uint64_t)l + 1;
    }
    t->blob = malloc(total + 1);
    if (!t->blob) goto oom;
    uint64_t o = 0;
    for (int32_t i = 0; i < n; i++) {
        memcpy(t->blob + o, sp->tokens[i], t->len[i]);
        t->off[i] = o;
        o += t->len[i];
        t->blob[o++] = 0;
    }
    for (int32_t i = 0; i < n; i++) {
        t->roff[i] = o;
        t->rlen[i] = (uint32_t)et__decode_piece(t, t->types[i], t->blob + t->off[i], t->len[i], t->blob + o);
        o += t->rlen[i];
    }
    /* string -> id map at load factor <= 1/2; the first id wins for duplicate strings */
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)n) cap <<= 1;
    t->ht = malloc(cap * sizeof *t->ht);
    if (!t->ht) goto oom;
    memset(t->ht, 0xFF, cap * sizeof *t->ht);
    t->ht_mask = cap - 1;
    for (int32_t i = 0; i < n; i++) {
        const char *s = t->blob + t->off[i];
        if (et_tok_lookup(t, s, t->len[i]) >= 0) continue;
        uint32_t h = (uint32_t)et__tok_hash(s, t->len[i]) & t->ht_mask;
        while (t->ht[h] >= 0) h = (h + 1) & t->ht_mask;
        t->ht[h] = i;
    }
    /* single bytes: BPE alphabet characters, SPM <0xXX> pieces */
    for (int b = 0; b < 256; b++) {
        char s[8];
        int l;
        if (t->model == ET_TOK_BPE) l = et_utf8_encode(et_bytelevel_cp((uint8_t)b), s);
        else l = snprintf(s, sizeof s, "<0x%02X>", b);
        t->byte_id[b] = et_tok_lookup(t, s, (size_t)l);
    }
    /* merges "left right" -> (left id, right id, result id) */
    if (t->model == ET_TOK_BPE && sp->n_merges > 0) {
        int32_t m = sp->n_merges;
        t->mleft = malloc((size_t)m * sizeof(int32_t));
        t->mright = malloc((size_t)m * sizeof(int32_t));
        t->mresult = malloc((size_t)m * sizeof(int32_t));
        uint32_t mc = 16;
        while (mc < 2u * (uint32_t)m) mc <<= 1;
        t->mht = malloc(mc * sizeof(int32_t));
        char *cat = malloc(2 * ET__TOK_MAX_PIECE + 2);
        if (!t->mleft || !t->mright || !t->mresult || !t->mht || !cat) { free(cat); goto oom; }
        memset(t->mht, 0xFF, mc * sizeof(int32_t));
        t->mht_mask = mc - 1;
        for (int32_t r = 0; r < m; r++) {
            const char *s = sp->merges[r];
            const char *sp1 = s ? strchr(s, ' ') : NULL;
            if (!sp1 || sp1 == s || !sp1[1] || strchr(sp1 + 1, ' ')) {
                et__tok_err(err, errsz, "tokenizer: merge %d \"%.60s\" is not \"left right\"", r, s ? s : "(null)");
                free(cat);
                goto fail;
            }
            size_t ll = (size_t)(sp1 - s), rl = strlen(sp1 + 1);
            if (ll + rl > 2 * ET__TOK_MAX_PIECE) {
                et__tok_err(err, errsz, "tokenizer: merge %d is %zu bytes long", r, ll + rl);
                free(cat);
                goto fail;
            }
            memcpy(cat, s, ll);
            memcpy(cat + ll, sp1 + 1, rl);
            int32_t a = et_tok_lookup(t, s, ll), b = et_tok_lookup(t, sp1 + 1, rl);
            int32_t c = et_tok_lookup(t, cat, ll + rl);
            if (a < 0 || b < 0 || c < 0) {
                et__tok_err(err, errsz, "tokenizer: merge %d \"%.60s\": %s is not in the vocabulary", r, s,
                            a < 0 ? "left part" : b < 0 ? "right part" : "the joined token");
                free(cat);
                goto fail;
            }
            t->mleft[t->n_merges] = a; t->mright[t->n_merges] = b; t->mresult[t->n_merges] = c;
            if (et__tok_merge_find(t, a, b) >= 0) continue;   /* a repeated merge keeps its first rank */
            uint32_t h = et__pair_hash(et__pair_key(a, b)) & t->mht_mask;
            while (t->mht[h] >= 0) h = (h + 1) & t->mht_mask;
            t->mht[h] = t->n_merges++;
        }
        free(cat);
    }
    /* special tokens matched in text, longest first */
    t->special = malloc((size_t)n * sizeof(int32_t));
    if (!t->special) goto oom;
    for (int32_t i = 0; i < n; i++)
        if ((t->types[i] == ET_TOKT_CONTROL || t->types[i] == ET_TOKT_USER ||
             t->types[i] == ET_TOKT_UNKNOWN) && t->len[i] > 0)
            t->special[t->n_special++] = i;
    qsort_r(t->special, (size_t)t->n_special, sizeof(int32_t), et__cmp_special, t);
    for (int32_t k = 0; k < t->n_special; k++) t->special_first[(uint8_t)t->blob[t->off[t->special[k]]]] = 1;
    return t;
oom:
    et__tok_err(err, errsz, "tokenizer: out of memory for a vocabulary of %d", sp->n_vocab);
fail:
    et_tok_free(t);
    return NULL;
}

/* ---- accessors ------------------------------------------------------------------------ */

int32_t et_tok_n_vocab(const et_tok *t) { return t->n_vocab; }
et_tok_model et_tok_model_kind(const et_tok *t) { return t->model; }
et_pretok et_tok_pretok(const et_tok *t) { return t->pretok; }
et_chat_style et_tok_chat_style(const et_tok *t) { return t->chat; }
int32_t et_tok_bos(const et_tok *t) { return t->bos; }
int32_t et_tok_eos(const et_tok *t) { return t->eos; }
int32_t et_tok_unk(const et_tok *t) { return t->unk; }
int32_t et_tok_pad(const et_tok *t) { return t->pad; }
int et_tok_adds_bos(const et_tok *t) { return t->add_bos; }
int et_tok_adds_eos(const et_tok *t) { return t->add_eos; }
int et_tok_adds_dummy_prefix(const et_tok *t) { return t->add_dummy_prefix; }
int et_tok_normalizes_nfc(const et_tok *t) { return t->nfc; }
int32_t et_tok_n_merges(const et_tok *t) { return t->n_merges; }
const char *et_tok_piece(const et_tok *t, int32_t id, uint32_t *len) {
    if (id < 0 || id >= t->n_vocab) return NULL;
    if (len) *len = t->len[id];
    return t->blob + t->off[id];
}
float et_tok_score(const et_tok *t, int32_t id) {
    return id >= 0 && id < t->n_vocab ? t->scores[id] : 0.0f;
}
et_tok_type et_tok_type_of(const et_tok *t, int32_t id) {
    return id >= 0 && id < t->n_vocab ? (et_tok_type)t->types[id] : ET_TOKT_UNUSED;
}
void et_tok_merge(const et_tok *t, int32_t r, int32_t *left, int32_t *right, int32_t *result) {
    int ok = r >= 0 && r < t->n_merges;
    *left = ok ? t->mleft[r] : -1;
    *right = ok ? t->mright[r] : -1;
    *result = ok ? t->mresult[r] : -1;
}

/* ---- encode / decode -------------------------------------------------------------------- */

/* 3 ids per byte at most (a space becomes U+2581 and an invalid byte U+FFFD, 3 byte tokens
 * each), the SPM dummy prefix, BOS and EOS. */
long et_tok_encode_bound(size_t len) { return 3 * (long)len + 8; }

/* Longest special token starting at text[i] that may be matched, or -1. */
static int32_t et__match_special(const et_tok *t, const char *text, size_t len, size_t i,
                                 unsigned flags) {
    for (int32_t k = 0; k < t->n_special; k++) {
        int32_t id = t->special[k];
        uint32_t l = t->len[id];
        if (l > len - i) continue;
        if (t->types[id] != ET_TOKT_USER && !(flags & ET_TOK_PARSE_SPECIAL)) continue;
        const char *s = t->blob + t->off[id];
        if (s[0] == text[i] && !memcmp(s, text + i, l)) return id;
    }
    return -1;
}

long et_tok_encode(const et_tok *t, const char *text, size_t len, unsigned flags, int32_t *ids,
                   long cap) {
    et__idbuf out = {0};
    if ((flags & ET_TOK_ADD_SPECIAL) && t->add_bos && t->bos >= 0) et__idbuf_push(&out, t->bos);
    /* SPM: llama.cpp prefixes a space to each text fragment that starts the input or follows
     * a special token (SentencePiece's add_dummy_prefix). */
    int prev_special = 1;
    char *frag = NULL;
    size_t start = 0;
    for (size_t i = 0; i <= len;) {
        int32_t sid = i < len && t->special_first[(uint8_t)text[i]] ? et__match_special(t, text, len, i, flags) : -1;
        if (i < len && sid < 0) { i++; continue; }
        if (i > start) {
            const char *s = text + start;
            size_t n = i - start;
            char *norm = NULL;
            if (t->nfc) {   /* normalize each fragment between special tokens, as tokenizers does */
                if (!(norm = et_utf8_nfc(s, n, &n))) { out.oom = 1; break; }
                s = norm;
            }
            if (t->model == ET_TOK_SPM) {
                int pre = t->add_dummy_prefix && prev_special && !(t->prefix_first_only && start > 0) &&
                          !(t->prefix_skip_if_space && s[0] == ' ');
                free(frag);
                frag = malloc(n + 1);
                if (!frag) { out.oom = 1; free(norm); break; }
                if (pre) frag[0] = ' ';
                memcpy(frag + pre, s, n);
                et__tok_spm_encode(t, frag, n + (size_t)pre, &out);
            } else {
                et__tok_bpe_encode(t, s, n, &out);
            }
            free(norm);
            prev_special = 0;
        }
        if (sid < 0) break;
        et__idbuf_push(&out, sid);
        prev_special = 1;
        i += t->len[sid];
        start = i;
    }
    free(frag);
    if ((flags & ET_TOK_ADD_SPECIAL) && t->add_eos && t->eos >= 0) et__idbuf_push(&out, t->eos);
    long n = out.oom ? -1 : out.n;
    if (n > 0 && ids) memcpy(ids, out.ids, (size_t)(n < cap ? n : cap) * sizeof(int32_t));
    free(out.ids);
    return n;
}

size_t et_tok_decode(const et_tok *t, const int32_t *ids, long n, unsigned flags, char *out,
                     size_t cap) {
    size_t o = 0;
    int first = 1;   /* STRIP_PREFIX applies to the first token that produces text */
    for (long k = 0; k < n; k++) {
        int32_t id = ids[k];
        if (id < 0 || id >= t->n_vocab) continue;
        int ty = t->types[id];
        if ((flags & ET_TOK_SKIP_SPECIAL) && (ty == ET_TOKT_CONTROL || ty == ET_TOKT_UNKNOWN)) continue;
        const char *s = t->blob + t->roff[id];
        size_t l = t->rlen[id];
        if ((flags & ET_TOK_STRIP_PREFIX) && first && t->add_dummy_prefix && l > 0 && s[0] == ' ') {
            s++;
            l--;
        }
        if (t->rlen[id] > 0) first = 0;
        if (o < cap) memcpy(out + o, s, l < cap - o ? l : cap - o);
        o += l;
    }
    if (cap > 0) out[o < cap ? o : cap - 1] = 0;
    return o;
}
