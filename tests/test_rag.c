/* BM25 against rank_bm25's BM25Okapi (LaMP's retriever), goldens from
 * tests/py/gen_metrics.py over synthetic and real profiles.  Scores: relative 1e-12 (the
 * same arithmetic in the same order; only libm's log may differ in the last bit).
 * Top-k: exact, with ties broken toward the earlier profile item. */
#include "harness.h"
#include "rag.h"
#include <cjson/cJSON.h>

static cJSON *load_golden(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "build/golden/%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = 0;
    fclose(f);
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    return j;
}

static void test_bm25_vs_rank_bm25(void) {
    cJSON *g = load_golden("rag_bm25.json");
    CHECK(g != NULL, "missing build/golden/rag_bm25.json (run tests/py/gen_metrics.py)");
    if (!g) return;
    cJSON *c;
    int cases = 0;
    char err[256];
    cJSON_ArrayForEach(c, g) {
        cJSON *jd = cJSON_GetObjectItem(c, "docs");
        int n = cJSON_GetArraySize(jd);
        const char **docs = malloc(sizeof *docs * (size_t)n);
        for (int i = 0; i < n; i++) docs[i] = cJSON_GetArrayItem(jd, i)->valuestring;
        et_bm25 *bm = NULL;
        CHECK(et_bm25_build(docs, n, ET_BM25_K1, ET_BM25_B, ET_BM25_EPSILON, &bm, err, sizeof err) == 0, "%s", err);
        if (!bm) { free(docs); continue; }
        const char *q = cJSON_GetObjectItem(c, "query")->valuestring;
        double *s = malloc(sizeof *s * (size_t)n);
        et_bm25_scores(bm, q, s);
        cJSON *js = cJSON_GetObjectItem(c, "scores");
        for (int i = 0; i < n; i++) {
            double w = cJSON_GetArrayItem(js, i)->valuedouble;
            CHECK(fabs(s[i] - w) <= 1e-12 * fabs(w) + 1e-12, "case %d doc %d: %.17g want %.17g", cases, i, s[i], w);
        }
        cJSON *jt = cJSON_GetObjectItem(c, "top");
        int k = cJSON_GetArraySize(jt), idx[8];
        CHECK(et_bm25_top_k(bm, q, k, idx) == k, "top-k count");
        for (int i = 0; i < k; i++)
            CHECK(idx[i] == cJSON_GetArrayItem(jt, i)->valueint, "case %d rank %d: %d want %d",
                  cases, i, idx[i], cJSON_GetArrayItem(jt, i)->valueint);
        free(s); free(docs); et_bm25_free(bm);
        cases++;
    }
    CHECK(cases >= 30, "only %d cases", cases);
    cJSON_Delete(g);
}

static void test_bm25_edges(void) {
    char err[256];
    et_bm25 *bm = NULL;
    CHECK(et_bm25_build(NULL, 0, 1.5, 0.75, 0.25, &bm, err, sizeof err) == 0, "empty: %s", err);
    int idx[4];
    CHECK(et_bm25_top_k(bm, "anything", 4, idx) == 0, "empty top-k");
    et_bm25_free(bm);
    const char *docs[] = {"", "...", "apple pie", "apple"};
    CHECK(et_bm25_build(docs, 4, 1.5, 0.75, 0.25, &bm, err, sizeof err) == 0, "%s", err);
    CHECK(et_bm25_top_k(bm, "APPLE pie", 4, idx) == 4, "k");
    /* "apple" is in 2 of 4 docs: idf ln(2.5/2.5) = 0, so doc 3 ties with the empty docs at 0
     * and the earlier items win the tie */
    CHECK(idx[0] == 2 && idx[1] == 0 && idx[2] == 1 && idx[3] == 3, "order %d %d %d %d",
          idx[0], idx[1], idx[2], idx[3]);
    et_bm25_free(bm);
    CHECK(et_bm25_build(docs, -1, 1.5, 0.75, 0.25, &bm, err, sizeof err) == -1 && strstr(err, "-1"),
          "negative count must fail naming the value: %s", err);
    bm = NULL;
    et_bm25_build(docs, 4, 1.5, 0.75, 0.25, &bm, err, sizeof err);
    CHECK(et_bm25_top_k(bm, "", 2, idx) == 2 && idx[0] == 0 && idx[1] == 1, "empty query keeps order");
    et_bm25_free(bm);
}

int main(void) {
    RUN(test_bm25_vs_rank_bm25);
    RUN(test_bm25_edges);
    return DONE();
}
