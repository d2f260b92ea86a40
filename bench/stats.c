/* Bootstrap CIs, sign-flip permutation tests and Holm correction (see stats.h for why
 * each is the one used).  Percentiles use linear interpolation between order statistics
 * (numpy's default "linear" method), so they can be checked against numpy.percentile.
 */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uint64_t et_stats_rng(uint64_t *s) {
    *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static int et__below(uint64_t *s, int n) {          /* uniform in [0, n) */
    return (int)((et_stats_rng(s) >> 11) * (1.0 / 9007199254740992.0) * n);
}

static int et__cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double et__percentile(double *v, int n, double q) {   /* v sorted in place */
    qsort(v, (size_t)n, sizeof *v, et__cmp_d);
    double pos = q / 100.0 * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1) return v[n - 1];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

int et_stats_boot_ci(const double *x, int n_seeds, int n_users, int n_boot, uint64_t seed,
                     et_ci *out) {
    if (n_seeds <= 0 || n_users <= 0) return -1;
    if (n_boot <= 0) n_boot = 2000;
    double sum = 0; int cnt = 0;
    for (int i = 0; i < n_seeds * n_users; i++)
        if (!isnan(x[i])) sum += x[i], cnt++;
    if (cnt == 0) return -1;
    out->mean = sum / cnt;
    double *rep = malloc(sizeof *rep * (size_t)n_boot);
    int *us = malloc(sizeof *us * (size_t)n_users), *ss = malloc(sizeof *ss * (size_t)n_seeds);
    if (!rep || !us || !ss) { free(rep); free(us); free(ss); return -1; }
    uint64_t st = seed ? seed : ET_STATS_SEED;
    int nr = 0;
    for (int b = 0; b < n_boot; b++) {
        for (int u = 0; u < n_users; u++) us[u] = et__below(&st, n_users);
        for (int s = 0; s < n_seeds; s++) ss[s] = et__below(&st, n_seeds);
        double t = 0; int c = 0;
        for (int s = 0; s < n_seeds; s++)
            for (int u = 0; u < n_users; u++) {
                double v = x[ss[s] * n_users + us[u]];
                if (!isnan(v)) t += v, c++;
            }
        if (c) rep[nr++] = t / c;
    }
    out->lo = nr ? et__percentile(rep, nr, 2.5) : out->mean;
    out->hi = nr ? et__percentile(rep, nr, 97.5) : out->mean;
    free(rep); free(us); free(ss);
    return 0;
}

int et_stats_paired_ci(const double *d, int n, int n_boot, uint64_t seed, et_ci *out) {
    return et_stats_boot_ci(d, 1, n, n_boot, seed, out);
}

double et_stats_signflip_p(const double *d, int n, int n_perm, uint64_t seed) {
    if (n <= 0) return 1.0;
    double obs = 0;
    for (int i = 0; i < n; i++) obs += d[i];
    obs = fabs(obs);
    /* compare sums, not means (same n); a relative slack keeps exact ties counted as ties */
    double tol = 1e-12 * (obs + 1.0);
    long long hits = 0, total;
    if (n <= 20) {
        total = 1LL << n;
        for (long long m = 0; m < total; m++) {
            double t = 0;
            for (int i = 0; i < n; i++) t += (m >> i & 1) ? -d[i] : d[i];
            hits += fabs(t) >= obs - tol;
        }
        return (double)hits / (double)total;     /* the identity pattern is one of them */
    }
    if (n_perm <= 0) n_perm = 20000;
    uint64_t st = seed ? seed : ET_STATS_SEED;
    for (int p = 0; p < n_perm; p++) {
        double t = 0;
        for (int i = 0; i < n; i++) t += (et_stats_rng(&st) >> 63) ? -d[i] : d[i];
        hits += fabs(t) >= obs - tol;
    }
    total = n_perm;
    return (double)(1 + hits) / (double)(1 + total);
}

void et_stats_holm(const double *p, int n, double *adj) {
    int *ord = malloc(sizeof *ord * (size_t)(n > 0 ? n : 1));
    if (!ord) {                                   /* Bonferroni is a valid, stricter fallback */
        for (int i = 0; i < n; i++) adj[i] = fmin(1.0, p[i] * n);
        return;
    }
    for (int i = 0; i < n; i++) ord[i] = i;
    for (int i = 1; i < n; i++)                   /* insertion sort by p, stable */
        for (int j = i; j > 0 && p[ord[j - 1]] > p[ord[j]]; j--) {
            int t = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = t;
        }
    double run = 0;
    for (int r = 0; r < n; r++) {
        double a = fmin(1.0, (n - r) * p[ord[r]]);
        if (a < run) a = run;                     /* step-down: never below a smaller p's */
        run = a;
        adj[ord[r]] = a;
    }
    free(ord);
}
