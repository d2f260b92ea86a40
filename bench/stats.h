/* Statistics for the study's report: confidence intervals and paired tests.
 *
 * A cell's score is a mean over a fixed sample of users and over seeds.  Its uncertainty has
 * two sources, so the CI comes from a two-level (hierarchical) bootstrap: each replicate draws
 * users with replacement, then seeds with replacement, and averages x[seed][user] over both
 * draws; the CI is the 2.5 / 97.5 percentile of the replicates.  Comparisons of two
 * configurations on the same users are paired: per user, average over seeds, take the
 * difference, and test mean difference = 0 by sign-flip permutation (exact when n <= 20,
 * else Monte Carlo).  Across the findings of a report, p-values are Holm-corrected.
 * Everything random draws from one xorshift stream with a fixed seed, so a report's numbers
 * are reproducible.
 */
#ifndef ET_STATS_H
#define ET_STATS_H

#include <stdint.h>

#define ET_STATS_SEED 20240601ULL

typedef struct et_ci {
    double mean, lo, hi;   /* point estimate (mean over users and seeds) and 95% CI */
} et_ci;

/* x: n_seeds rows of n_users values (x[s * n_users + u]); NaN marks a missing value (ignored
 * in every mean).  n_boot replicates (0 = 2000).  Returns 0, or -1 (empty input / no memory). */
int et_stats_boot_ci(const double *x, int n_seeds, int n_users, int n_boot, uint64_t seed,
                     et_ci *out);

/* Two-sided sign-flip permutation test of mean(d) = 0 over n paired differences.  Exact
 * over all 2^n sign patterns when n <= 20, else n_perm random ones (0 = 20000), p =
 * (1 + #{|mean*| >= |mean|}) / (1 + n_perm).  Returns the p-value (1 for n == 0). */
double et_stats_signflip_p(const double *d, int n, int n_perm, uint64_t seed);

/* Paired bootstrap CI of mean(d) (percentile, n_boot replicates, 0 = 2000). */
int et_stats_paired_ci(const double *d, int n, int n_boot, uint64_t seed, et_ci *out);

/* Holm's step-down correction: adj[i] for p[i], monotone, capped at 1. */
void et_stats_holm(const double *p, int n, double *adj);

/* xorshift64* stream shared by the resamplers (exposed for tests). */
uint64_t et_stats_rng(uint64_t *state);

#endif
