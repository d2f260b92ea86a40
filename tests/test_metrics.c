/* Metrics against reference implementations (goldens from tests/py/gen_metrics.py):
 * ROUGE-1/ROUGE-L vs the rouge-score package, macro-F1/accuracy vs their sklearn
 * definitions, MAE/RMSE against hand values.  Tolerance: 1e-12 absolute — every value is a
 * ratio of small integers computed the same way, so only the last bit may differ. */
#include "harness.h"
#include "metrics.h"
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

static void test_rouge_vs_rouge_score(void) {
    cJSON *g = load_golden("metrics_rouge.json");
    CHECK(g != NULL, "missing build/golden/metrics_rouge.json (run tests/py/gen_metrics.py)");
    if (!g) return;
    int n = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, g) {
        const char *pred = cJSON_GetObjectItem(c, "pred")->valuestring;
        const char *ref = cJSON_GetObjectItem(c, "ref")->valuestring;
        et_rouge r1, rl;
        CHECK(et_metric_rouge(pred, ref, &r1, &rl) == 0, "rouge failed");
        cJSON *w1 = cJSON_GetObjectItem(c, "r1"), *wl = cJSON_GetObjectItem(c, "rl");
        double got1[3] = {r1.p, r1.r, r1.f}, gotl[3] = {rl.p, rl.r, rl.f};
        for (int k = 0; k < 3; k++) {
            double e1 = cJSON_GetArrayItem(w1, k)->valuedouble, el = cJSON_GetArrayItem(wl, k)->valuedouble;
            CHECK(fabs(got1[k] - e1) <= 1e-12, "rouge1[%d] '%s' vs '%s': %g want %g", k, pred, ref, got1[k], e1);
            CHECK(fabs(gotl[k] - el) <= 1e-12, "rougeL[%d] '%s' vs '%s': %g want %g", k, pred, ref, gotl[k], el);
        }
        n++;
    }
    CHECK(n >= 200, "only %d rouge cases", n);
    cJSON_Delete(g);
}

static void test_rouge_tokenizer(void) {
    const char *tok[16];
    char buf[128];
    int n = et_rouge_tokenize("Caf\xc3\xa9-Au LAIT x_1", buf, tok, 16);
    CHECK(n == 5, "tokens %d", n);
    const char *want[] = {"caf", "au", "lait", "x", "1"};
    for (int i = 0; i < n && i < 5; i++) CHECK(!strcmp(tok[i], want[i]), "tok %d '%s'", i, tok[i]);
    /* a prediction that differs from the reference in one word out of four */
    et_rouge r1, rl;
    et_metric_rouge("a b c d", "a b x d", &r1, &rl);
    CHECK(fabs(r1.f - 0.75) < 1e-15 && fabs(rl.f - 0.75) < 1e-15, "f %g %g", r1.f, rl.f);
    et_metric_rouge("d c b a", "a b c d", &r1, &rl);   /* order matters only for LCS */
    CHECK(fabs(r1.f - 1.0) < 1e-15 && fabs(rl.f - 0.25) < 1e-15, "f %g %g", r1.f, rl.f);
}

static void test_f1_accuracy(void) {
    cJSON *g = load_golden("metrics_f1.json");
    CHECK(g != NULL, "missing build/golden/metrics_f1.json (run tests/py/gen_metrics.py)");
    if (!g) return;
    cJSON *c;
    int cases = 0;
    cJSON_ArrayForEach(c, g) {
        int k = cJSON_GetObjectItem(c, "k")->valueint;
        cJSON *p = cJSON_GetObjectItem(c, "pred"), *q = cJSON_GetObjectItem(c, "gold");
        int n = cJSON_GetArraySize(p), pred[64], gold[64];
        for (int i = 0; i < n; i++)
            pred[i] = cJSON_GetArrayItem(p, i)->valueint, gold[i] = cJSON_GetArrayItem(q, i)->valueint;
        double f1 = et_metric_macro_f1(pred, gold, n, k), acc = et_metric_accuracy(pred, gold, n);
        CHECK(fabs(f1 - cJSON_GetObjectItem(c, "macro_f1")->valuedouble) <= 1e-12, "f1 %g", f1);
        CHECK(fabs(acc - cJSON_GetObjectItem(c, "accuracy")->valuedouble) <= 1e-12, "acc %g", acc);
        cases++;
    }
    CHECK(cases == 50, "cases %d", cases);
    cJSON_Delete(g);
    /* labels never seen count as F1 0 (sklearn with labels=all, zero_division=0) */
    int pr[] = {0, 1}, go[] = {0, 1};
    CHECK(fabs(et_metric_macro_f1(pr, go, 2, 4) - 0.5) < 1e-15, "unseen labels");
}

static void test_mae_rmse(void) {
    double p[] = {1, 2, 5, 4}, g[] = {2, 2, 3, 4};
    CHECK(fabs(et_metric_mae(p, g, 4) - 0.75) < 1e-15, "mae");
    CHECK(fabs(et_metric_rmse(p, g, 4) - sqrt(5.0 / 4)) < 1e-15, "rmse");
    CHECK(et_metric_mae(p, g, 0) == 0, "empty");
}

int main(void) {
    RUN(test_rouge_vs_rouge_score);
    RUN(test_rouge_tokenizer);
    RUN(test_f1_accuracy);
    RUN(test_mae_rmse);
    return DONE();
}
