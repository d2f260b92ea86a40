/* The two word encoders behind et_tok_encode().
 *
 * SPM (SentencePiece BPE, as llama.cpp's llm_tokenizer_spm and sentencepiece's bpe_model.cc):
 * spaces become '▁', the text is split into UTF-8 characters, and the adjacent pair whose
 * concatenation is a NORMAL or USER_DEFINED piece with the highest score is merged (ties: the
 * leftmost), until no pair is a piece.  Symbols that are not pieces fall back to <0xXX> byte
 * tokens (or <unk> when the vocabulary has none).
 *
 * BPE (GPT-2 byte-level): invalid UTF-8 bytes become U+FFFD, the pre-tokenizer splits words,
 * each byte of a word starts as its alphabet token, and the pair with the lowest merge rank is
 * joined (ties: the leftmost) until no pair has a merge.  With ignore_merges (Llama 3) a word
 * that is itself a token is emitted whole first, as Hugging Face tokenizers and llama.cpp do.
 *
 * Both use a binary heap of candidate pairs with lazy invalidation: O(n log n) per word, so a
 * long run of letters (a CJK sentence is one "word") costs no more than it should.
 */
#include <stdlib.h>
#include <string.h>
#include "tok/tok_internal.h"
#include "tok/unicode.h"

/* ---- a small heap of (key, pos) pairs: lowest key first, then lowest pos -------------- */

typedef struct { double key; long pos; long aux; } et__hent;
typedef struct { et__hent *a; long n, cap; int oom; } et__heap;

static int et__hless(const et__hent *x, const et__hent *y) {
    return x->key < y->key || (x->key == y->key && x->pos < y->pos);
}

static void et__hpush(et__heap *h, et__hent e) {
    if (h->n == h->cap) {
        long nc = h->cap ? 2 * h->cap : 64;
        et__hent *p = realloc(h->a, (size_t)nc * sizeof *p);
        if (!p) { h->oom = 1; return; }
        h->a = p;
        h->cap = nc;
    }
    long i = h->n++;
    while (i > 0 && et__hless(&e, &h->a[(i - 1) / 2])) { h->a[i] = h->a[(i - 1) / 2]; i = (i - 1) / 2; }
    h->a[i] = e;
}

static et__hent et__hpop(et__heap *h) {
    et__hent top = h->a[0], last = h->a[--h->n];
    long i = 0;
    for (;;) {
        long c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && et__hless(&h->a[c + 1], &h->a[c])) c++;
        if (!et__hless(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0) h->a[i] = last;
    return top;
}

/* ---- SentencePiece BPE ---------------------------------------------------------------- */

typedef struct { size_t start, n; long prev, next; } et__sym;

static int et__spm_mergeable(const et_tok *t, int32_t id) {
    return id >= 0 && (t->types[id] == ET_TOKT_NORMAL || t->types[id] == ET_TOKT_USER);
}

static void et__spm_try(const et_tok *t, const char *s, const et__sym *sym, long l, et__heap *h) {
    if (l < 0 || sym[l].next < 0) return;
    long r = sym[l].next;
    int32_t id = et_tok_lookup(t, s + sym[l].start, sym[l].n + sym[r].n);
    if (!et__spm_mergeable(t, id)) return;
    /* highest score first: the heap pops the lowest key */
    et__hpush(h, (et__hent){-(double)t->scores[id], l, (long)(sym[l].n + sym[r].n)});
}

static void et__spm_emit(const et_tok *t, const char *s, size_t n, et__idbuf *out) {
    int32_t id = et_tok_lookup(t, s, n);
    if (et__spm_mergeable(t, id)) { et__idbuf_push(out, id); return; }
    for (size_t i = 0; i < n; i++) {
        int32_t b = t->byte_id[(uint8_t)s[i]];
        if (b >= 0) et__idbuf_push(out, b);
        else if (t->unk >= 0) {
            et__idbuf_push(out, t->unk);
            break;   /* one <unk> per unknown character, as sentencepiece without byte fallback */
        }
    }
}

void et__tok_spm_encode(const et_tok *t, const char *text, size_t len, et__idbuf *out) {
    /* escape spaces: ' ' -> U+2581 (3 bytes) */
    size_t ns = 0;
    for (size_t i = 0; i < len; i++) ns += text[i] == ' ' ? 3 : 1;
    char *s = malloc(ns + 1);
    et__sym *sym = malloc((ns + 1) * sizeof *sym);
    et__heap h = {0};
    if (!s || !sym) { out->oom = 1; goto done; }
    ns = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') { memcpy(s + ns, "\xE2\x96\x81", 3); ns += 3; }
        else s[ns++] = text[i];
    }
    long nsym = 0;
    for (size_t i = 0; i < ns;) {
        int l = et_utf8_seq_len((const uint8_t *)s + i, ns - i);
        if (l == 0) l = 1;   /* an invalid byte is a symbol of its own: byte fallback keeps it */
        sym[nsym] = (et__sym){i, (size_t)l, nsym - 1, -1};
        if (nsym > 0) sym[nsym - 1].next = nsym;
        nsym++;
        i += (size_t)l;
    }
    for (long i = 0; i + 1 < nsym; i++) et__spm_try(t, s, sym, i, &h);
    while (h.n > 0 && !h.oom) {
        et__hent e = et__hpop(&h);
        long l = e.pos, r = sym[l].next;
        if (sym[l].n == 0 || r < 0 || (long)(sym[l].n + sym[r].n) != e.aux) continue;   /* stale */
        sym[l].n += sym[r].n;
        sym[r].n = 0;
        sym[l].next = sym[r].next;
        if (sym[r].next >= 0) sym[sym[r].next].prev = l;
        et__spm_try(t, s, sym, sym[l].prev, &h);
        et__spm_try(t, s, sym, l, &h);
    }
    if (h.oom) { out->oom = 1; goto done; }
    for (long i = 0; i >= 0 && nsym > 0; i = sym[i].next) et__spm_emit(t, s + sym[i].start, sym[i].n, out);
done:
    free(s); free(sym); free(h.a);
}

/* ---- byte-level BPE ------------------------------------------------------------------- */

/* Merge one word's bytes; scratch arrays hold at least n entries. */
static void et__bpe_word(const et_tok *t, const uint8_t *w, long n, int32_t *id, long *prev,
                         long *next, char *bl, et__heap *h, et__idbuf *out) {
    if (t->ignore_merges) {
        size_t bn = 0;
        for (long i = 0; i < n; i++) bn += (size_t)et_utf8_encode(et_bytelevel_cp(w[i]), bl + bn);
        int32_t whole = et_tok_lookup(t, bl, bn);
        if (whole >= 0 && t->types[whole] == ET_TOKT_NORMAL) { et__idbuf_push(out, whole); return; }
    }
    long m = 0;
    for (long i = 0; i < n; i++) {
        int32_t b = t->byte_id[w[i]];
        if (b < 0) b = t->unk;
        if (b < 0) continue;   /* no token for this byte and no <unk>: the byte is dropped */
        id[m] = b;
        prev[m] = m - 1;
        next[m] = -1;
        if (m > 0) next[m - 1] = m;
        m++;
    }
    h->n = 0;
    for (long i = 0; i + 1 < m; i++) {
        int32_t r = et__tok_merge_find(t, id[i], id[i + 1]);
        if (r >= 0) et__hpush(h, (et__hent){(double)r, i, r});
    }
    while (h->n > 0 && !h->oom) {
        et__hent e = et__hpop(h);
        long l = e.pos, r = next[l];
        if (id[l] < 0 || r < 0 || et__tok_merge_find(t, id[l], id[r]) != e.aux) continue;   /* stale */
        id[l] = t->mresult[e.aux];
        id[r] = -1;
        next[l] = next[r];
        if (next[r] >= 0) prev[next[r]] = l;
        if (prev[l] >= 0) {
            int32_t q = et__tok_merge_find(t, id[prev[l]], id[l]);
            if (q >= 0) et__hpush(h, (et__hent){(double)q, prev[l], q});
        }
        if (next[l] >= 0) {
            int32_t q = et__tok_merge_find(t, id[l], id[next[l]]);
            if (q >= 0) et__hpush(h, (et__hent){(double)q, l, q});
        }
    }
    if (h->oom) { out->oom = 1; return; }
    for (long i = 0; i >= 0 && m > 0; i = next[i]) et__idbuf_push(out, id[i]);
}

void et__tok_bpe_encode(const et_tok *t, const char *text, size_t len, et__idbuf *out) {
    /* invalid UTF-8 -> U+FFFD per byte (llama.cpp's rule), so the pre-tokenizer sees text */
    size_t cn = 0;
    for (size_t i = 0; i < len;) {
        int l = et_utf8_seq_len((const uint8_t *)text + i, len - i);
        cn += l ? (size_t)l : 3;
        i += l ? (size_t)l : 1;
    }
    char *clean = malloc(cn + 1);
    size_t *spans = malloc(2 * (cn + 1) * sizeof *spans);
    int32_t *id = malloc((cn + 1) * sizeof *id);
    long *prev = malloc((cn + 1) * sizeof *prev), *next = malloc((cn + 1) * sizeof *next);
    char *bl = malloc(2 * cn + 1);
    et__heap h = {0};
    if (!clean || !spans || !id || !prev || !next || !bl) { out->oom = 1; goto done; }
    cn = 0;
    for (size_t i = 0; i < len;) {
        int l = et_utf8_seq_len((const uint8_t *)text + i, len - i);
        if (l) { memcpy(clean + cn, text + i, (size_t)l); cn += (size_t)l; i += (size_t)l; }
        else { memcpy(clean + cn, "\xEF\xBF\xBD", 3); cn += 3; i++; }
    }
    long nw = et_pretok_split(t->pretok, clean, cn, spans, (long)cn + 1);
    if (nw < 0) { out->oom = 1; goto done; }
    for (long k = 0; k < nw; k++)
        et__bpe_word(t, (const uint8_t *)clean + spans[2 * k], (long)(spans[2 * k + 1] - spans[2 * k]),
                     id, prev, next, bl, &h, out);
done:
    free(clean); free(spans); free(id); free(prev); free(next); free(bl); free(h.a);
}
