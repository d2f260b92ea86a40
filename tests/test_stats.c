/* Bootstrap CIs, sign-flip permutation p-values and Holm correction.
 *   - Holm and exact sign-flip p-values are checked against values worked out by hand
 *     (exact: tolerance 1e-15);
 *   - the percentile bootstrap CI of a mean is checked against the normal approximation
 *     mean ± 1.96·sd·sqrt((n-1)/n)/sqrt(n) (the bootstrap's own standard error): with 20,000
 *     replicates and n = 400 the two agree within 6% of the half-width (Monte Carlo error
 *     ~1.5%, skew of the resampled mean of a uniform ~0);
 *   - the two-level bootstrap must be wider than the users-only one when seeds disagree, and
 *     equal-width when all seeds are identical;
 *   - fixed seed: the same inputs give bit-identical CIs;
 *   - against numpy (tests/py/gen_stats.py): the same resampling stream re-written in Python,
 *     numpy.percentile on the replicate means -> the CI to 1e-12 (only the interpolation's
 *     last bits may differ); exact sign-flip p by numpy enumeration, to 1e-12. */
#include "harness.h"
#include "bench/stats.h"
#include <cjson/cJSON.h>

static void test_holm(void) {
    double p[] = {0.01, 0.04, 0.03, 0.005}, adj[4], want[] = {0.03, 0.06, 0.06, 0.02};
    et_stats_holm(p, 4, adj);
    for (int i = 0; i < 4; i++) CHECK(fabs(adj[i] - want[i]) < 1e-15, "adj[%d] %g want %g", i, adj[i], want[i]);
    double q[] = {0.9, 0.6}, aq[2];
    et_stats_holm(q, 2, aq);
    CHECK(aq[0] == 1.0 && aq[1] == 1.0, "capped at 1: %g %g", aq[0], aq[1]);
}

static void test_signflip(void) {
    double d[] = {1, 2, 3};
    CHECK(fabs(et_stats_signflip_p(d, 3, 0, 0) - 0.25) < 1e-15, "exact p %g", et_stats_signflip_p(d, 3, 0, 0));
    double e[] = {1, -1, 2, -2};   /* sum 0: every pattern is at least as extreme */
    CHECK(et_stats_signflip_p(e, 4, 0, 0) == 1.0, "null p");
    double f[25];
    for (int i = 0; i < 25; i++) f[i] = 0.5 + 0.01 * i;
    double p = et_stats_signflip_p(f, 25, 20000, 7);
    CHECK(p < 2e-4 && p > 0, "all-positive Monte Carlo p %g", p);
    CHECK(et_stats_signflip_p(f, 0, 0, 0) == 1.0, "empty");
}

static void test_boot_vs_normal(void) {
    enum { N = 400 };
    double x[N], m = 0, ss = 0;
    et_t_fill((float[1]){0}, 0, 1, 1);
    uint64_t s = 99;
    for (int i = 0; i < N; i++) x[i] = et_t_uniform(&s), m += x[i];
    m /= N;
    for (int i = 0; i < N; i++) ss += (x[i] - m) * (x[i] - m);
    double sd = sqrt(ss / (N - 1)), half = 1.96 * sd * sqrt((N - 1.0) / N) / sqrt((double)N);
    et_ci ci;
    CHECK(et_stats_boot_ci(x, 1, N, 20000, 0, &ci) == 0, "boot");
    CHECK(fabs(ci.mean - m) < 1e-12, "mean %g %g", ci.mean, m);
    CHECK(fabs((ci.hi - ci.lo) / 2 - half) < 0.06 * half, "half-width %g want %g", (ci.hi - ci.lo) / 2, half);
    CHECK(fabs((ci.hi + ci.lo) / 2 - m) < 0.1 * half, "centre %g mean %g", (ci.hi + ci.lo) / 2, m);
    et_ci again;
    et_stats_boot_ci(x, 1, N, 20000, 0, &again);
    CHECK(again.lo == ci.lo && again.hi == ci.hi, "not reproducible");
}

static void test_boot_two_level(void) {
    enum { S = 3, U = 40 };
    double same[S * U], diff[S * U];
    uint64_t s = 5;
    for (int u = 0; u < U; u++) {
        double v = et_t_uniform(&s);
        for (int k = 0; k < S; k++) same[k * U + u] = v, diff[k * U + u] = v + (k - 1) * 0.5;
    }
    et_ci a, b, one;
    et_stats_boot_ci(same, S, U, 4000, 0, &a);
    et_stats_boot_ci(same, 1, U, 4000, 0, &one);
    et_stats_boot_ci(diff, S, U, 4000, 0, &b);
    CHECK(fabs((a.hi - a.lo) - (one.hi - one.lo)) < 0.1 * (one.hi - one.lo), "identical seeds: %g vs %g",
          a.hi - a.lo, one.hi - one.lo);
    CHECK(b.hi - b.lo > 2 * (a.hi - a.lo), "seed spread must widen the CI: %g vs %g", b.hi - b.lo, a.hi - a.lo);
    double nanx[4] = {1, NAN, 3, NAN};
    CHECK(et_stats_boot_ci(nanx, 1, 4, 100, 0, &a) == 0 && a.mean == 2, "NaN ignored: %g", a.mean);
    double allnan[2] = {NAN, NAN};
    CHECK(et_stats_boot_ci(allnan, 1, 2, 100, 0, &a) == -1, "all missing must fail");
}

static void test_vs_numpy(void) {
    FILE *f = fopen("build/golden/stats_boot.json", "rb");
    CHECK(f != NULL, "missing build/golden/stats_boot.json (run tests/py/gen_stats.py)");
    if (!f) return;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    cJSON *g = cJSON_Parse(buf);
    CHECK(g != NULL, "golden is not JSON");
    if (!g) return;
    uint64_t seed = (uint64_t)cJSON_GetObjectItem(g, "seed")->valuedouble;
    cJSON *c;
    int cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(g, "boot")) {
        int S = cJSON_GetObjectItem(c, "n_seeds")->valueint, U = cJSON_GetObjectItem(c, "n_users")->valueint;
        double x[256];
        cJSON *jx = cJSON_GetObjectItem(c, "x");
        for (int i = 0; i < S * U; i++) {
            cJSON *v = cJSON_GetArrayItem(jx, i);
            x[i] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        }
        et_ci ci;
        CHECK(et_stats_boot_ci(x, S, U, cJSON_GetObjectItem(c, "n_boot")->valueint, seed, &ci) == 0, "boot");
        double wm = cJSON_GetObjectItem(c, "mean")->valuedouble, wl = cJSON_GetObjectItem(c, "lo")->valuedouble,
               wh = cJSON_GetObjectItem(c, "hi")->valuedouble;
        CHECK(fabs(ci.mean - wm) <= 1e-12, "%dx%d mean %.17g want %.17g", S, U, ci.mean, wm);
        CHECK(fabs(ci.lo - wl) <= 1e-12, "%dx%d lo %.17g want %.17g", S, U, ci.lo, wl);
        CHECK(fabs(ci.hi - wh) <= 1e-12, "%dx%d hi %.17g want %.17g", S, U, ci.hi, wh);
        cases++;
    }
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(g, "signflip")) {
        cJSON *jd = cJSON_GetObjectItem(c, "d");
        int m = cJSON_GetArraySize(jd);
        double d[32];
        for (int i = 0; i < m; i++) d[i] = cJSON_GetArrayItem(jd, i)->valuedouble;
        double p = et_stats_signflip_p(d, m, 0, 0), w = cJSON_GetObjectItem(c, "p")->valuedouble;
        CHECK(fabs(p - w) <= 1e-12, "sign-flip n=%d p %.17g want %.17g", m, p, w);
        cases++;
    }
    CHECK(cases == 8, "cases %d", cases);
    cJSON_Delete(g);
}

int main(void) {
    RUN(test_vs_numpy);
    RUN(test_holm);
    RUN(test_signflip);
    RUN(test_boot_vs_normal);
    RUN(test_boot_two_level);
    return DONE();
}
