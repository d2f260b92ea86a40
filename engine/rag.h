/* Retrieval for RAG personalization: Okapi BM25 over one user's profile items.
 *
 * LaMP ranks profiles with rank_bm25's BM25Okapi at its defaults (LaMP/rank_profiles.py:
 * BM25Okapi(tokenized_corpus).get_top_n(tokenized_query, profile, n)), so we compute exactly
 * that scoring: k1 = 1.5, b = 0.75, idf = ln((N - n + 0.5) / (n + 0.5)) with every negative
 * idf replaced by epsilon * (mean idf over the vocabulary), epsilon = 0.25; a query term that
 * occurs twice counts twice.  Two deliberate differences, both for determinism:
 *   - our own tokenizer (LaMP splits on whitespace, case-sensitively): ASCII is lower-cased,
 *     every character other than [A-Za-z0-9] and non-ASCII UTF-8 bytes separates words;
 *   - ties (equal scores) go to the item that comes first in the profile, where rank_bm25's
 *     np.argsort leaves the order unspecified.
 */
#ifndef ET_RAG_H
#define ET_RAG_H

#include <stddef.h>

#define ET_BM25_K1      1.5
#define ET_BM25_B       0.75
#define ET_BM25_EPSILON 0.25

typedef struct et_bm25 et_bm25;

/* The retrieval tokenizer: copies text lower-cased into buf (>= strlen(text)+1 bytes) and
 * points tok[0..] at the words.  Returns the number of words (at most max_tok). */
int  et_rag_tokenize(const char *text, char *buf, const char **tok, int max_tok);

/* Index n_docs texts (copied).  Returns 0, or -1 with a message in err. */
int  et_bm25_build(const char *const *docs, int n_docs, double k1, double b, double epsilon,
                   et_bm25 **out, char *err, size_t errlen);
void et_bm25_free(et_bm25 *bm);
int  et_bm25_n_docs(const et_bm25 *bm);

/* scores[i] = BM25(query, doc i) for every doc.  Returns 0, or -1 (out of memory). */
int  et_bm25_scores(const et_bm25 *bm, const char *query, double *scores);

/* The indices of the k best docs, best first (ties: lower index first).  Returns how many
 * were written (min(k, n_docs)), or -1 (out of memory). */
int  et_bm25_top_k(const et_bm25 *bm, const char *query, int k, int *idx);

#endif
