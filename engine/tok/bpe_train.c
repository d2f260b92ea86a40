/* Byte-level BPE training (see bpe_train.h for the rules it shares with Hugging Face's
 * BpeTrainer).
 *
 * Data: the unique words with their counts, each a mutable array of symbol ids; a hash map
 * pair -> (count over the corpus, list of words that contain it); and a max-heap of
 * (count, pair) entries that is updated lazily: counts of old pairs only ever fall, so a popped
 * entry whose count is out of date is pushed back with the true count, and the first entry that
 * is up to date is the best pair.  A merge then touches only the words on that pair's list.
 * Cost: counting is linear in the text; each merge is linear in the occurrences it rewrites.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tok/bpe_train.h"
#include "tok/tok_internal.h"
#include "tok/unicode.h"

typedef struct { int64_t count; int32_t a, b; } et__tent;   /* heap entry */

typedef struct {
    int32_t a, b;
    int64_t count;
    int32_t *where;      /* words containing the pair (may repeat; deduplicated on use) */
    int32_t nwhere, capwhere;
} et__tpair;

struct et_bpe_trainer {
    et_bpe_train_opts o;
    char **special;
    /* word counting: open-addressing map bytes -> word index */
    char *wbytes;        /* all word bytes */
    int64_t nwbytes, capwbytes;
    int64_t *woff;       /* word w: wbytes + woff[w], wlen[w] */
    int32_t *wlen;
    int64_t *wcount;
    int32_t nword, capword;
    int32_t *wht;
    uint32_t wht_mask;
    int64_t total_words;
    int oom;
};

/* ---- counting ------------------------------------------------------------------------- */

et_bpe_trainer *et_bpe_trainer_new(const et_bpe_train_opts *opts, char *err, size_t errsz) {
    if (opts->vocab_size < opts->n_special + 256 || opts->vocab_size > ET__TOK_MAX_VOCAB) {
        et__tok_err(err, errsz, "tokenizer train: vocab size %d must be >= 256 + %d special tokens and <= %d",
                    opts->vocab_size, opts->n_special, ET__TOK_MAX_VOCAB);
        return NULL;
    }
    if (opts->pretok != ET_PRETOK_GPT2 && opts->pretok != ET_PRETOK_LLAMA3 && opts->pretok != ET_PRETOK_QWEN2) {
        et__tok_err(err, errsz, "tokenizer train: pre-tokenizer %d is not gpt2, llama3 or qwen2", (int)opts->pretok);
        return NULL;
    }
    et_bpe_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) goto oom;
    tr->o = *opts;
    tr->special = calloc((size_t)opts->n_special + 1, sizeof(char *));
    if (!tr->special) goto oom;
    for (int i = 0; i < opts->n_special; i++)
        if (!(tr->special[i] = strdup(opts->special[i]))) goto oom;
    tr->o.special = (const char *const *)tr->special;
    tr->wht_mask = (1u << 16) - 1;
    tr->wht = malloc((tr->wht_mask + 1) * sizeof(int32_t));
    if (!tr->wht) goto oom;
    memset(tr->wht, 0xFF, (tr->wht_mask + 1) * sizeof(int32_t));
    return tr;
oom:
    et__tok_err(err, errsz, "tokenizer train: out of memory");
    et_bpe_trainer_free(tr);
    return NULL;
}

void et_bpe_trainer_free(et_bpe_trainer *tr) {
    if (!tr) return;
    if (tr->special) for (int i = 0; i < tr->o.n_special; i++) free(tr->special[i]);
    free(tr->special); free(tr->wbytes); free(tr->woff); free(tr->wlen); free(tr->wcount); free(tr->wht);
    free(tr);
}

int64_t et_bpe_trainer_n_words(const et_bpe_trainer *tr) { return tr->total_words; }
int64_t et_bpe_trainer_n_unique(const et_bpe_trainer *tr) { return tr->nword; }

static int et__grow(void **p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return 0;
    int64_t nc = *cap ? *cap : 1024;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

static int et__count_word(et_bpe_trainer *tr, const char *w, size_t n) {
    tr->total_words++;
    uint32_t h = (uint32_t)et__tok_hash(w, n);
    for (uint32_t i = h & tr->wht_mask;; i = (i + 1) & tr->wht_mask) {
        int32_t id = tr->wht[i];
        if (id < 0) break;
        if ((size_t)tr->wlen[id] == n && !memcmp(tr->wbytes + tr->woff[id], w, n)) {
            tr->wcount[id]++;
            return 0;
        }
    }
    if (tr->nword == INT32_MAX / 2) return -1;
    int64_t capw = tr->capword, capw2 = tr->capword, capw3 = tr->capword;
    if (et__grow((void **)&tr->woff, &capw, tr->nword + 1, sizeof(int64_t)) ||
        et__grow((void **)&tr->wlen, &capw2, tr->nword + 1, sizeof(int32_t)) ||
        et__grow((void **)&tr->wcount, &capw3, tr->nword + 1, sizeof(int64_t)) ||
        et__grow((void **)&tr->wbytes, &tr->capwbytes, tr->nwbytes + (int64_t)n, 1))
        return -1;
    tr->capword = (int32_t)capw;
    int32_t id = tr->nword++;
    memcpy(tr->wbytes + tr->nwbytes, w, n);
    tr->woff[id] = tr->nwbytes;
    tr->wlen[id] = (int32_t)n;
    tr->wcount[id] = 1;
    tr->nwbytes += (int64_t)n;
    if ((uint32_t)tr->nword * 2 > tr->wht_mask) {   /* rehash at load 1/2 */
        uint32_t nm = tr->wht_mask * 2 + 1;
        int32_t *nh = malloc((nm + 1) * sizeof(int32_t));
        if (!nh) return -1;
        memset(nh, 0xFF, (nm + 1) * sizeof(int32_t));
        for (int32_t k = 0; k < tr->nword; k++) {
            uint32_t i = (uint32_t)et__tok_hash(tr->wbytes + tr->woff[k], (size_t)tr->wlen[k]) & nm;
            while (nh[i] >= 0) i = (i + 1) & nm;
            nh[i] = k;
        }
        free(tr->wht);
        tr->wht = nh;
        tr->wht_mask = nm;
    } else {
        uint32_t i = h & tr->wht_mask;
        while (tr->wht[i] >= 0) i = (i + 1) & tr->wht_mask;
        tr->wht[i] = id;
    }
    return 0;
}

static int et__feed_line(et_bpe_trainer *tr, const char *s, size_t n) {
    /* invalid UTF-8 -> U+FFFD per byte, as the encoder does */
    size_t cn = 0;
    for (size_t i = 0; i < n;) {
        int l = et_utf8_seq_len((const uint8_t *)s + i, n - i);
        cn += l ? (size_t)l : 3;
        i += l ? (size_t)l : 1;
    }
    char *clean = NULL;
    const char *text = s;
    if (cn != n) {
        if (!(clean = malloc(cn))) return -1;
        cn = 0;
        for (size_t i = 0; i < n;) {
            int l = et_utf8_seq_len((const uint8_t *)s + i, n - i);
            if (l) { memcpy(clean + cn, s + i, (size_t)l); cn += (size_t)l; i += (size_t)l; }
            else { memcpy(clean + cn, "\xEF\xBF\xBD", 3); cn += 3; i++; }
        }
        text = clean;
    }
    size_t stack[2 * 256];
    size_t *spans = cn < 256 ? stack : malloc(2 * (cn + 1) * sizeof *spans);
    int rc = -1;
    if (spans) {
        long nw = et_pretok_split(tr->o.pretok, text, cn, spans, (long)cn + 1);
        rc = nw < 0 ? -1 : 0;
        for (long k = 0; k < nw && rc == 0; k++)
            rc = et__count_word(tr, text + spans[2 * k], spans[2 * k + 1] - spans[2 * k]);
        if (spans != stack) free(spans);
    }
    free(clean);
    return rc;
}

int et_bpe_trainer_feed(et_bpe_trainer *tr, const char *text, size_t len) {
    size_t start = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n') {
            if (et__feed_line(tr, text + start, i + 1 - start)) return tr->oom = -1;
            start = i + 1;
        }
    if (start < len && et__feed_line(tr, text + start, len - start)) return tr->oom = -1;
    return 0;
}

int et_bpe_trainer_feed_file(et_bpe_trainer *tr, const char *path, char *err, size_t errsz) {
    FILE *f = fopen(path, "rb");
    if (!f) { et__tok_err(err, errsz, "%s: cannot open", path); return -1; }
    size_t cap = 1 << 20, have = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : -1;
    /* feed whole lines; keep a partial last line for the next read */
    while (rc == 0) {
        if (have == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) { rc = -1; break; }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + have, 1, cap - have, f);
        have += got;
        if (got == 0) {
            if (have) rc = et_bpe_trainer_feed(tr, buf, have);
            break;
        }
        size_t cut = have;
        while (cut > 0 && buf[cut - 1] != '\n') cut--;
        if (cut == 0) continue;   /* no newline yet: read more */
        rc = et_bpe_trainer_feed(tr, buf, cut);
        memmove(buf, buf + cut, have - cut);
        have -= cut;
    }
    if (ferror(f)) { et__tok_err(err, errsz, "%s: read error", path); rc = -1; }
    else if (rc) et__tok_err(err, errsz, "%s: out of memory while counting words", path);
    fclose(f);
    free(buf);
    return rc;
}

/* ---- merging -------------------------------------------------------------------------- */

typedef struct {
    et__tpair *p;
    int32_t np, capp;
    int32_t *ht;
    uint32_t mask;
    et__tent *heap;
    int64_t nheap, capheap;
    int oom;
} et__tstate;

static uint32_t et__phash(int32_t a, int32_t b) {
    uint64_t k = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) * 0x9E3779B97F4A7C15ULL;
    return (uint32_t)(k >> 32);
}

static int32_t et__pair_get(et__tstate *s, int32_t a, int32_t b, int create) {
    uint32_t i = et__phash(a, b) & s->mask;
    for (;; i = (i + 1) & s->mask) {
        int32_t k = s->ht[i];
        if (k < 0) break;
        if (s->p[k].a == a && s->p[k].b == b) return k;
    }
    if (!create) return -1;
    if (s->np == s->capp) {
        int32_t nc = s->capp ? 2 * s->capp : 4096;
        et__tpair *q = realloc(s->p, (size_t)nc * sizeof *q);
        if (!q) { s->oom = 1; return -1; }
        s->p = q;
        s->capp = nc;
    }
    int32_t k = s->np++;
    s->p[k] = (et__tpair){a, b, 0, NULL, 0, 0};
    s->ht[i] = k;
    if ((uint32_t)s->np * 2 > s->mask) {
        uint32_t nm = s->mask * 2 + 1;
        int32_t *nh = malloc((nm + 1) * sizeof(int32_t));
        if (!nh) { s->oom = 1; return k; }
        memset(nh, 0xFF, (nm + 1) * sizeof(int32_t));
        for (int32_t j = 0; j < s->np; j++) {
            uint32_t h = et__phash(s->p[j].a, s->p[j].b) & nm;
            while (nh[h] >= 0) h = (h + 1) & nm;
            nh[h] = j;
        }
        free(s->ht);
        s->ht = nh;
        s->mask = nm;
    }
    return k;
}

static void et__pair_add(et__tstate *s, int32_t a, int32_t b, int64_t delta, int32_t word) {
    int32_t k = et__pair_get(s, a, b, delta > 0);
    if (k < 0) return;
    et__tpair *p = &s->p[k];
    p->count += delta;
    if (delta > 0 && (p->nwhere == 0 || p->where[p->nwhere - 1] != word)) {
        if (p->nwhere == p->capwhere) {
            int32_t nc = p->capwhere ? 2 * p->capwhere : 4;
            int32_t *q = realloc(p->where, (size_t)nc * sizeof *q);
            if (!q) { s->oom = 1; return; }
            p->where = q;
            p->capwhere = nc;
        }
        p->where[p->nwhere++] = word;
    }
}

/* max-heap: higher count first, then smaller (a, b) */
static int et__tbetter(const et__tent *x, const et__tent *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}

static void et__tpush(et__tstate *s, et__tent e) {
    if (et__grow((void **)&s->heap, &s->capheap, s->nheap + 1, sizeof(et__tent))) { s->oom = 1; return; }
    int64_t i = s->nheap++;
    while (i > 0 && et__tbetter(&e, &s->heap[(i - 1) / 2])) { s->heap[i] = s->heap[(i - 1) / 2]; i = (i - 1) / 2; }
    s->heap[i] = e;
}

static et__tent et__tpop(et__tstate *s) {
    et__tent top = s->heap[0], last = s->heap[--s->nheap];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= s->nheap) break;
        if (c + 1 < s->nheap && et__tbetter(&s->heap[c + 1], &s->heap[c])) c++;
        if (!et__tbetter(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->nheap > 0) s->heap[i] = last;
    return top;
}

/* token strings as raw bytes while training */
typedef struct { char *bytes; int64_t n, cap; int64_t *off; int32_t *len; int64_t ntok, captok; } et__tstr;

et_tok *et_bpe_trainer_finish(et_bpe_trainer *tr, char *err, size_t errsz) {
    et_tok *result = NULL;
    et__tstate s = {0};
    et__tstr ts = {0};
    int32_t *sym = NULL, *slen = NULL, *stamp = NULL, *byte_tok = NULL, *mrg = NULL;
    int64_t *soff = NULL;
    int32_t *tht = NULL;
    uint32_t tmask = 0;
    int32_t nmerge = 0;
    char **tokstr = NULL, **mstr = NULL;
    if (tr->oom) goto oom;
    const int32_t V = tr->o.vocab_size, nsp = tr->o.n_special;
    /* byte symbols: ids nsp.. ordered by their alphabet code point */
    byte_tok = malloc(256 * sizeof(int32_t));
    int order[256];
    for (int b = 0; b < 256; b++) order[b] = b;
    for (int i = 1; i < 256; i++)   /* insertion sort by code point (256 items, once) */
        for (int j = i; j > 0 && et_bytelevel_cp((uint8_t)order[j]) < et_bytelevel_cp((uint8_t)order[j - 1]); j--) {
            int x = order[j]; order[j] = order[j - 1]; order[j - 1] = x;
        }
    ts.captok = V + 1;
    ts.off = malloc((size_t)ts.captok * sizeof(int64_t));
    ts.len = malloc((size_t)ts.captok * sizeof(int32_t));
    mrg = malloc(3 * (size_t)V * sizeof(int32_t));
    tmask = 16;
    while (tmask < 2u * (uint32_t)V) tmask <<= 1;
    tht = malloc(tmask * sizeof(int32_t));
    tmask--;
    if (!byte_tok || !ts.off || !ts.len || !mrg || !tht) goto oom;
    memset(tht, 0xFF, (tmask + 1) * sizeof(int32_t));
    /* token table: raw bytes of each token; specials first (never merged, not in the map) */
    for (int32_t i = 0; i < nsp + 256; i++) {
        const char *src;
        int32_t n;
        char one;
        if (i < nsp) { src = tr->o.special[i]; n = (int32_t)strlen(src); }
        else { one = (char)order[i - nsp]; src = &one; n = 1; byte_tok[(uint8_t)one] = i; }
        if (et__grow((void **)&ts.bytes, &ts.cap, ts.n + n, 1)) goto oom;
        memcpy(ts.bytes + ts.n, src, (size_t)n);
        ts.off[i] = ts.n; ts.len[i] = n; ts.n += n; ts.ntok++;
        if (i >= nsp) {
            uint32_t h = (uint32_t)et__tok_hash(src, (size_t)n) & tmask;
            while (tht[h] >= 0) h = (h + 1) & tmask;
            tht[h] = i;
        }
    }
    /* words as symbol arrays */
    int32_t nw = tr->nword;
    soff = malloc(((size_t)nw + 1) * sizeof(int64_t));
    slen = malloc(((size_t)nw + 1) * sizeof(int32_t));
    stamp = malloc(((size_t)nw + 1) * sizeof(int32_t));
    sym = malloc(((size_t)tr->nwbytes + 1) * sizeof(int32_t));
    s.mask = (1u << 16) - 1;
    s.ht = malloc((s.mask + 1) * sizeof(int32_t));
    if (!soff || !slen || !stamp || !sym || !s.ht) goto oom;
    memset(s.ht, 0xFF, (s.mask + 1) * sizeof(int32_t));
    for (int32_t w = 0; w < nw; w++) {
        soff[w] = tr->woff[w];
        slen[w] = tr->wlen[w];
        stamp[w] = -1;
        const uint8_t *wb = (const uint8_t *)tr->wbytes + tr->woff[w];
        for (int32_t i = 0; i < slen[w]; i++) sym[soff[w] + i] = byte_tok[wb[i]];
        for (int32_t i = 0; i + 1 < slen[w]; i++)
            et__pair_add(&s, sym[soff[w] + i], sym[soff[w] + i + 1], tr->wcount[w], w);
    }
    for (int32_t k = 0; k < s.np; k++)
        if (s.p[k].count > 0) et__tpush(&s, (et__tent){s.p[k].count, s.p[k].a, s.p[k].b});
    if (s.oom) goto oom;
    int32_t ntok = nsp + 256;
    int32_t *touched = NULL;
    int64_t ntouched = 0, captouched = 0;
    while (ntok < V && s.nheap > 0) {
        et__tent e = et__tpop(&s);
        int32_t k = et__pair_get(&s, e.a, e.b, 0);
        int64_t cur = k >= 0 ? s.p[k].count : 0;
        if (cur != e.count) {   /* stale: counts only fall, so re-queue with the true count */
            if (cur > 0) et__tpush(&s, (et__tent){cur, e.a, e.b});
            continue;
        }
        if (cur < 1 || cur < tr->o.min_frequency) break;
        /* the new token: the two strings joined, reusing an existing id for the same string */
        int32_t la = ts.len[e.a], lb = ts.len[e.b];
        if (et__grow((void **)&ts.bytes, &ts.cap, ts.n + la + lb, 1)) goto oom;
        memcpy(ts.bytes + ts.n, ts.bytes + ts.off[e.a], (size_t)la);
        memcpy(ts.bytes + ts.n + la, ts.bytes + ts.off[e.b], (size_t)lb);
        uint32_t h = (uint32_t)et__tok_hash(ts.bytes + ts.n, (size_t)(la + lb)) & tmask;
        int32_t c = -1;
        for (; tht[h] >= 0; h = (h + 1) & tmask)
            if (ts.len[tht[h]] == la + lb && !memcmp(ts.bytes + ts.off[tht[h]], ts.bytes + ts.n, (size_t)(la + lb))) {
                c = tht[h];
                break;
            }
        if (c < 0) {
            c = ntok++;
            ts.off[c] = ts.n; ts.len[c] = la + lb; ts.n += la + lb; ts.ntok++;
            tht[h] = c;
        }
        mrg[3 * nmerge] = e.a; mrg[3 * nmerge + 1] = e.b; mrg[3 * nmerge + 2] = c;
        nmerge++;
        /* rewrite every word on the pair's list */
        int32_t nwhere = s.p[k].nwhere;
        int32_t *where = s.p[k].where;
        s.p[k].where = NULL; s.p[k].nwhere = s.p[k].capwhere = 0;
        ntouched = 0;
        for (int32_t q = 0; q < nwhere; q++) {
            int32_t w = where[q];
            if (stamp[w] == nmerge) continue;
            stamp[w] = nmerge;
            int32_t *x = sym + soff[w];
            int32_t n = slen[w];
            int64_t cnt = tr->wcount[w];
            for (int32_t i = 0; i + 1 < n; i++) {
                if (x[i] != e.a || x[i + 1] != e.b) continue;
                if (i > 0) {
                    et__pair_add(&s, x[i - 1], e.a, -cnt, w);
                    et__pair_add(&s, x[i - 1], c, cnt, w);
                    if (et__grow((void **)&touched, &captouched, ntouched + 1, 2 * sizeof(int32_t))) goto oom;
                    touched[2 * ntouched] = x[i - 1]; touched[2 * ntouched + 1] = c; ntouched++;
                }
                x[i] = c;
                memmove(x + i + 1, x + i + 2, (size_t)(n - i - 2) * sizeof(int32_t));
                n--;
                if (i + 1 < n) {
                    et__pair_add(&s, c, x[i + 1], cnt, w);
                    et__pair_add(&s, e.b, x[i + 1], -cnt, w);
                    if (et__grow((void **)&touched, &captouched, ntouched + 1, 2 * sizeof(int32_t))) goto oom;
                    touched[2 * ntouched] = c; touched[2 * ntouched + 1] = x[i + 1]; ntouched++;
                }
            }
            slen[w] = n;
        }
        free(where);
        k = et__pair_get(&s, e.a, e.b, 0);
        if (k >= 0) s.p[k].count = 0;   /* every occurrence was rewritten */
        /* queue the pairs the merge created, once each, with their final counts */
        for (int64_t q = 0; q < ntouched; q++) {
            int32_t j = et__pair_get(&s, touched[2 * q], touched[2 * q + 1], 0);
            if (j < 0 || s.p[j].count <= 0) continue;
            et__tpush(&s, (et__tent){s.p[j].count, s.p[j].a, s.p[j].b});
        }
        if (s.oom) { free(touched); goto oom; }
        if (tr->o.verbose && nmerge % 1000 == 0)
            fprintf(stderr, "tokenizer train: %d merges, vocabulary %d of %d\n", nmerge, ntok, V);
    }
    free(touched);
    /* build the tokenizer: byte-level strings for the vocabulary and the merges */
    tokstr = calloc((size_t)ntok, sizeof(char *));
    mstr = calloc((size_t)nmerge + 1, sizeof(char *));
    int32_t *types = malloc((size_t)ntok * sizeof(int32_t));
    if (!tokstr || !mstr || !types) { free(types); goto oom; }
    for (int32_t i = 0; i < ntok; i++) {
        types[i] = i < nsp ? ET_TOKT_CONTROL : ET_TOKT_NORMAL;
        tokstr[i] = malloc(2 * (size_t)ts.len[i] + 1);
        if (!tokstr[i]) { free(types); goto oom; }
        size_t o = 0;
        for (int32_t j = 0; j < ts.len[i]; j++) {
            uint8_t b = (uint8_t)ts.bytes[ts.off[i] + j];
            if (i < nsp) tokstr[i][o++] = (char)b;
            else o += (size_t)et_utf8_encode(et_bytelevel_cp(b), tokstr[i] + o);
        }
        tokstr[i][o] = 0;
    }
    for (int32_t m = 0; m < nmerge; m++) {
        const char *a = tokstr[mrg[3 * m]], *b = tokstr[mrg[3 * m + 1]];
        mstr[m] = malloc(strlen(a) + strlen(b) + 2);
        if (!mstr[m]) { free(types); goto oom; }
        sprintf(mstr[m], "%s %s", a, b);
    }
    et_tok_spec sp;
    et_tok_spec_init(&sp, ET_TOK_BPE);
    sp.pretok = tr->o.pretok;
    sp.n_vocab = ntok;
    sp.tokens = (const char *const *)tokstr;
    sp.types = types;
    sp.n_merges = nmerge;
    sp.merges = (const char *const *)mstr;
    sp.eos = nsp > 0 ? 0 : -1;
    result = et_tok_create(&sp, err, errsz);
    free(types);
    goto done;
oom:
    et__tok_err(err, errsz, "tokenizer train: out of memory");
done:
    if (tokstr) for (int64_t i = 0; i < ts.ntok; i++) free(tokstr[i]);
    if (mstr) for (int32_t m = 0; m < nmerge; m++) free(mstr[m]);
    free(tokstr); free(mstr);
    for (int32_t k = 0; k < s.np; k++) free(s.p[k].where);
    free(s.p); free(s.ht); free(s.heap);
    free(ts.bytes); free(ts.off); free(ts.len);
    free(sym); free(slen); free(soff); free(stamp); free(byte_tok); free(mrg); free(tht);
    return result;
}
