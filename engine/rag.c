/* Okapi BM25 over a user's profile (see rag.h for the exact scoring and why).
 *
 * The index is small (a profile holds at most a few hundred items), so it is kept simple:
 * one open-addressing hash from word to term id, and per document a list of (term id,
 * count) pairs sorted by term id, searched by bisection at query time.
 */
#include "rag.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int term, count; } et__tf;

struct et_bm25 {
    int      n_docs, n_terms, cap;      /* cap: hash slots, a power of two */
    char   **words;                     /* [n_terms] */
    int     *slots;                     /* [cap] term id or -1 */
    double  *idf;                       /* [n_terms] */
    int     *doc_len;                   /* [n_docs] words per doc */
    et__tf **tf;                        /* [n_docs] sorted by term */
    int     *n_tf;                      /* [n_docs] */
    double   k1, b, avgdl;
};

int et_rag_tokenize(const char *text, char *buf, const char **tok, int max_tok) {
    int nt = 0, in_tok = 0;
    size_t o = 0;
    for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
        unsigned char c = *s;
        int word = c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                   (c >= 'A' && c <= 'Z');
        if (word) {
            if (!in_tok) {
                if (nt < max_tok) tok[nt] = buf + o;
                nt++;
                in_tok = 1;
            }
            buf[o++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        } else if (in_tok) {
            buf[o++] = 0;
            in_tok = 0;
        }
    }
    buf[o] = 0;
    return nt < max_tok ? nt : max_tok;
}

static uint64_t et__hash(const char *s) {            /* FNV-1a */
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* term id of w, or -1; with add, inserts a new term (returns -2 when out of memory) */
static int et__term(et_bm25 *bm, const char *w, int add) {
    uint64_t h = et__hash(w);
    for (size_t i = h & (size_t)(bm->cap - 1);; i = (i + 1) & (size_t)(bm->cap - 1)) {
        int t = bm->slots[i];
        if (t < 0) {
            if (!add) return -1;
            char *copy = strdup(w);
            if (!copy) return -2;
            bm->words[bm->n_terms] = copy;
            bm->slots[i] = bm->n_terms;
            return bm->n_terms++;
        }
        if (!strcmp(bm->words[t], w)) return t;
    }
}

static int et__cmp_tf(const void *a, const void *b) {
    return ((const et__tf *)a)->term - ((const et__tf *)b)->term;
}

void et_bm25_free(et_bm25 *bm) {
    if (!bm) return;
    for (int t = 0; t < bm->n_terms; t++) free(bm->words[t]);
    for (int d = 0; d < bm->n_docs; d++) free(bm->tf ? bm->tf[d] : NULL);
    free(bm->words); free(bm->slots); free(bm->idf); free(bm->doc_len); free(bm->tf);
    free(bm->n_tf); free(bm);
}

int et_bm25_n_docs(const et_bm25 *bm) { return bm->n_docs; }

int et_bm25_build(const char *const *docs, int n_docs, double k1, double b, double epsilon,
                  et_bm25 **out, char *err, size_t errlen) {
    *out = NULL;
    if (n_docs < 0 || (n_docs > 0 && !docs)) {
        snprintf(err, errlen, "bm25: bad document count %d", n_docs);
        return -1;
    }
    size_t total = 0;
    for (int d = 0; d < n_docs; d++) total += docs[d] ? strlen(docs[d]) : 0;
    size_t max_words = total / 2 + (size_t)n_docs + 1;  /* words are separated: <= len/2+1 */
    if (max_words > (size_t)INT32_MAX / 4) {
        snprintf(err, errlen, "bm25: profile too large (%zu bytes)", total);
        return -1;
    }
    et_bm25 *bm = calloc(1, sizeof *bm);
    if (!bm) goto oom;
    bm->k1 = k1, bm->b = b;
    bm->cap = 16;
    while ((size_t)bm->cap < 2 * max_words) bm->cap *= 2;
    bm->words = malloc(sizeof *bm->words * max_words);
    bm->slots = malloc(sizeof *bm->slots * (size_t)bm->cap);
    bm->doc_len = calloc((size_t)n_docs + 1, sizeof *bm->doc_len);
    bm->tf = calloc((size_t)n_docs + 1, sizeof *bm->tf);
    bm->n_tf = calloc((size_t)n_docs + 1, sizeof *bm->n_tf);
    if (!bm->words || !bm->slots || !bm->doc_len || !bm->tf || !bm->n_tf) goto oom;
    memset(bm->slots, 0xff, sizeof *bm->slots * (size_t)bm->cap);
    bm->n_docs = n_docs;

    long long words_all = 0;
    for (int d = 0; d < n_docs; d++) {
        const char *text = docs[d] ? docs[d] : "";
        size_t len = strlen(text);
        char *buf = malloc(len + 1);
        const char **tok = malloc(sizeof *tok * (len / 2 + 1));
        et__tf *tf = malloc(sizeof *tf * (len / 2 + 1));
        if (!buf || !tok || !tf) { free(buf); free(tok); free(tf); goto oom; }
        int nt = et_rag_tokenize(text, buf, tok, (int)(len / 2 + 1));
        for (int i = 0; i < nt; i++) {
            int t = et__term(bm, tok[i], 1);
            if (t < 0) { free(buf); free(tok); free(tf); goto oom; }
            tf[i].term = t, tf[i].count = 1;
        }
        qsort(tf, (size_t)nt, sizeof *tf, et__cmp_tf);
        int m = 0;                                  /* merge equal terms into counts */
        for (int i = 0; i < nt; i++) {
            if (m > 0 && tf[m - 1].term == tf[i].term) tf[m - 1].count++;
            else tf[m++] = tf[i];
        }
        bm->tf[d] = tf, bm->n_tf[d] = m, bm->doc_len[d] = nt;
        words_all += nt;
        free(buf); free(tok);
    }
    bm->avgdl = n_docs > 0 ? (double)words_all / n_docs : 0.0;

    /* idf, rank_bm25 BM25Okapi._calc_idf: negative idfs become epsilon * mean idf */
    bm->idf = calloc((size_t)bm->n_terms + 1, sizeof *bm->idf);
    int *df = calloc((size_t)bm->n_terms + 1, sizeof *df);
    if (!bm->idf || !df) { free(df); goto oom; }
    for (int d = 0; d < n_docs; d++)
        for (int i = 0; i < bm->n_tf[d]; i++) df[bm->tf[d][i].term]++;
    double idf_sum = 0.0;
    for (int t = 0; t < bm->n_terms; t++) {
        bm->idf[t] = log(n_docs - df[t] + 0.5) - log(df[t] + 0.5);
        idf_sum += bm->idf[t];
    }
    double eps = bm->n_terms > 0 ? epsilon * (idf_sum / bm->n_terms) : 0.0;
    for (int t = 0; t < bm->n_terms; t++)
        if (bm->idf[t] < 0) bm->idf[t] = eps;
    free(df);
    *out = bm;
    return 0;
oom:
    et_bm25_free(bm);
    snprintf(err, errlen, "bm25: out of memory indexing %d documents", n_docs);
    return -1;
}

int et_bm25_scores(const et_bm25 *bm, const char *query, double *scores) {
    for (int d = 0; d < bm->n_docs; d++) scores[d] = 0.0;
    size_t len = strlen(query);
    char *buf = malloc(len + 1);
    const char **tok = malloc(sizeof *tok * (len / 2 + 1));
    if (!buf || !tok) { free(buf); free(tok); return -1; }
    int nt = et_rag_tokenize(query, buf, tok, (int)(len / 2 + 1));
    for (int q = 0; q < nt; q++) {
        int t = et__term((et_bm25 *)bm, tok[q], 0);
        if (t < 0 || bm->avgdl <= 0) continue;      /* unknown word: idf 0, adds nothing */
        et__tf key = { t, 0 };
        for (int d = 0; d < bm->n_docs; d++) {
            et__tf *hit = bsearch(&key, bm->tf[d], (size_t)bm->n_tf[d], sizeof key, et__cmp_tf);
            if (!hit) continue;
            double f = hit->count;
            /* same association as rank_bm25 (numpy), so equal inputs give equal bits */
            scores[d] += bm->idf[t] * (f * (bm->k1 + 1) /
                         (f + bm->k1 * (1 - bm->b + bm->b * bm->doc_len[d] / bm->avgdl)));
        }
    }
    free(buf); free(tok);
    return 0;
}

int et_bm25_top_k(const et_bm25 *bm, const char *query, int k, int *idx) {
    int n = bm->n_docs;
    if (k > n) k = n;
    if (k <= 0) return 0;
    double *s = malloc(sizeof *s * (size_t)n);
    char *used = calloc((size_t)n, 1);
    if (!s || !used || et_bm25_scores(bm, query, s) != 0) { free(s); free(used); return -1; }
    /* k selection passes: k <= 8 in the study, n <= a few hundred */
    for (int r = 0; r < k; r++) {
        int best = -1;
        for (int d = 0; d < n; d++)
            if (!used[d] && (best < 0 || s[d] > s[best])) best = d;   /* strict: first wins ties */
        used[best] = 1;
        idx[r] = best;
    }
    free(s); free(used);
    return k;
}
