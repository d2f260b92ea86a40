/* tools/android_compat.h's replacements for what bionic lacks below API 28 (aligned_alloc,
 * glob/globfree, qsort_r), run here on glibc with ET_ANDROID_COMPAT_FORCE since no Android NDK
 * is installed: alignment and writability of aligned_alloc; glob's sorted matches of a
 * "dir/<star>.ext" pattern, no dot files, GLOB_NOMATCH and an empty result after globfree;
 * qsort_r's context reaching the comparator, also for a sort nested in a comparator.
 * Exact checks (no tolerance: nothing here is numeric).  The whole project's compile under the
 * header is checked on Android only (`make android`); glibc builds never include it. */
#define ET_ANDROID_COMPAT_FORCE 1
#include "../tools/android_compat.h"
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "harness.h"

static void test_aligned_alloc(void) {
    const size_t aligns[] = { 1, 8, 64, 4096 };
    for (size_t i = 0; i < 4; i++) {
        unsigned char *p = aligned_alloc(aligns[i], 3 * 4096);
        CHECK(p && (uintptr_t)p % (aligns[i] < sizeof(void *) ? sizeof(void *) : aligns[i]) == 0,
              "aligned_alloc(%zu) = %p", aligns[i], (void *)p);
        if (p) { memset(p, 0xab, 3 * 4096); free(p); }
    }
}

static void test_glob(void) {
    char dir[] = "/tmp/et-compat-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    const char *names[] = { "b.gguf", "a.gguf", ".hidden.gguf", "c.txt", "ab.gguf" };
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "w");
        if (f) fclose(f);
    }
    char pat[300];
    snprintf(pat, sizeof pat, "%s/*.gguf", dir);
    glob_t g;
    int rc = glob(pat, 0, NULL, &g);
    CHECK(rc == 0 && g.gl_pathc == 3, "glob %s: rc %d, %zu matches", pat, rc, g.gl_pathc);
    const char *want[] = { "a.gguf", "ab.gguf", "b.gguf" };
    for (size_t i = 0; rc == 0 && i < 3 && i < g.gl_pathc; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, want[i]);
        CHECK(!strcmp(g.gl_pathv[i], path), "match %zu: %s, want %s", i, g.gl_pathv[i], path);
    }
    if (rc == 0) globfree(&g);
    CHECK(g.gl_pathc == 0 && g.gl_pathv == NULL, "globfree left %zu paths", g.gl_pathc);
    snprintf(pat, sizeof pat, "%s/*.none", dir);
    CHECK(glob(pat, 0, NULL, &g) == GLOB_NOMATCH && g.gl_pathc == 0, "no match not reported");
    CHECK(glob("/nonexistent-dir-et/*.gguf", 0, NULL, &g) == GLOB_NOMATCH, "missing directory");
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static int by_key(const void *a, const void *b, void *arg) {   /* order of keys[] */
    const int *keys = arg;
    return keys[*(const int *)a] - keys[*(const int *)b];
}
static int nested(const void *a, const void *b, void *arg) {
    int inner[3] = { 2, 0, 1 }, keys[3] = { 5, 3, 4 };
    qsort_r(inner, 3, sizeof *inner, by_key, keys);   /* a sort inside a comparator */
    (void)inner;
    return by_key(a, b, arg);
}

static void test_qsort_r(void) {
    int keys[6] = { 50, 10, 40, 20, 60, 30 }, idx[6] = { 0, 1, 2, 3, 4, 5 };
    qsort_r(idx, 6, sizeof *idx, by_key, keys);
    const int want[6] = { 1, 3, 5, 2, 0, 4 };
    CHECK(!memcmp(idx, want, sizeof want), "qsort_r order %d %d %d %d %d %d", idx[0], idx[1], idx[2], idx[3],
          idx[4], idx[5]);
    int idx2[6] = { 5, 4, 3, 2, 1, 0 };
    qsort_r(idx2, 6, sizeof *idx2, nested, keys);
    CHECK(!memcmp(idx2, want, sizeof want), "nested qsort_r lost the outer context");
}

int main(void) {
    RUN(test_aligned_alloc);
    RUN(test_glob);
    RUN(test_qsort_r);
    return DONE();
}
