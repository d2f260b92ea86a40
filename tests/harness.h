/* A tiny test harness shared by every C test binary.
 *
 *   static void test_foo(void) { CHECK(x == 1, "x was %d", x); }
 *   int main(void) { RUN(test_foo); return DONE(); }
 *
 * Each RUN prints "PASS <case>" or "FAIL <case>: <first failed check>"; tests/run.sh counts
 * those lines across binaries.  A case passes only if none of its CHECKs failed; DONE()
 * returns non-zero if any case failed, so a binary that fails never exits 0.
 */
#ifndef ET_HARNESS_H
#define ET_HARNESS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int et_t_cases_passed, et_t_cases_failed, et_t_case_fails;
static char et_t_first_fail[512];

#define CHECK(cond, ...)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            if (et_t_case_fails++ == 0) {                                                   \
                int n_ = snprintf(et_t_first_fail, sizeof et_t_first_fail, "%s:%d: ",       \
                                  __FILE__, __LINE__);                                      \
                snprintf(et_t_first_fail + n_, sizeof et_t_first_fail - (size_t)n_,          \
                         __VA_ARGS__);                                                      \
            }                                                                               \
            fprintf(stderr, "  check failed %s:%d: ", __FILE__, __LINE__);                  \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fputc('\n', stderr);                                                            \
        }                                                                                   \
    } while (0)

/* Relative/absolute closeness: |a-b| <= atol + rtol*|b|. */
#define CHECK_CLOSE(a, b, rtol, atol, what)                                                 \
    do {                                                                                    \
        double a_ = (a), b_ = (b);                                                          \
        CHECK(fabs(a_ - b_) <= (atol) + (rtol) * fabs(b_) && !isnan(a_),                    \
              "%s: got %.9g want %.9g (rtol %g atol %g)", what, a_, b_, (double)(rtol),      \
              (double)(atol));                                                              \
    } while (0)

static inline void et_t_run(const char *name, void (*fn)(void)) {
    et_t_case_fails = 0;
    et_t_first_fail[0] = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fn();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (et_t_case_fails == 0) {
        et_t_cases_passed++;
        printf("PASS %s (%.0f ms)\n", name, ms);
    } else {
        et_t_cases_failed++;
        printf("FAIL %s: %s (%d checks failed)\n", name, et_t_first_fail, et_t_case_fails);
    }
    fflush(stdout);
}

#define RUN(fn) et_t_run(#fn, fn)
#define DONE() (printf("# %d passed, %d failed\n", et_t_cases_passed, et_t_cases_failed), \
                et_t_cases_failed ? 1 : 0)

/* Deterministic test data (xorshift64*), so failures reproduce. */
static inline uint64_t et_t_rng_next(uint64_t *s) {
    *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}
static inline float et_t_uniform(uint64_t *s) {  /* [-1, 1) */
    return (float)((et_t_rng_next(s) >> 40) * (2.0 / 16777216.0) - 1.0);
}
static inline void et_t_fill(float *x, long n, uint64_t seed, float scale) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (long i = 0; i < n; i++) x[i] = scale * et_t_uniform(&s);
}

#endif
