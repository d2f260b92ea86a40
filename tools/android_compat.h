/* Force-included (-include) into every file of `make android` (tools/android.mk): the three
 * libc functions edgetune uses that Android's bionic lacks below the API level we target
 * (24, Android 7), each replaced by a small static function over what bionic has.
 *
 *   aligned_alloc   bionic API 28   -> posix_memalign (API 16); free() releases it
 *   glob, globfree  bionic API 28   -> opendir + fnmatch over the last path component (the
 *                                      only form edgetune uses: "dir/pattern"), sorted
 *   qsort_r         not in bionic   -> qsort with the comparator and its argument in a
 *                                      thread-local slot (saved and restored around the call)
 *
 * Active when __ANDROID_API__ is below the level that has the function, or on any libc with
 * ET_ANDROID_COMPAT_FORCE defined: tests/test_android_compat.c runs these replacements on the
 * build machine's glibc, since no Android NDK is installed there.
 */
#ifndef ET_ANDROID_COMPAT_H
#define ET_ANDROID_COMPAT_H

#if defined(ET_ANDROID_COMPAT_FORCE) || (defined(__ANDROID__) && defined(__ANDROID_API__))

#include <dirent.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>

#if defined(ET_ANDROID_COMPAT_FORCE) || __ANDROID_API__ < 28
static inline void *et__compat_aligned_alloc(size_t align, size_t n) {
    void *p = NULL;
    if (align < sizeof(void *)) align = sizeof(void *);
    return posix_memalign(&p, align, n) ? NULL : p;
}
#define aligned_alloc et__compat_aligned_alloc

static inline int et__compat_strcmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}
static inline void et__compat_globfree(glob_t *g) {
    for (size_t i = 0; g->gl_pathv && i < g->gl_pathc; i++) free(g->gl_pathv[i]);
    free(g->gl_pathv);
    g->gl_pathv = NULL;
    g->gl_pathc = 0;
}
/* "dir/pattern" (or "pattern" in the current directory); flags and errfunc are ignored.
 * Returns 0 with the sorted matches, GLOB_NOMATCH, or GLOB_NOSPACE. */
static inline int et__compat_glob(const char *pattern, int flags, int (*errfunc)(const char *, int),
                                  glob_t *g) {
    (void)flags; (void)errfunc;
    memset(g, 0, sizeof *g);
    const char *slash = strrchr(pattern, '/');
    size_t dl = slash ? (size_t)(slash - pattern) : 0;
    char *dir = malloc(dl + 2);
    if (!dir) return GLOB_NOSPACE;
    if (slash) { memcpy(dir, pattern, dl ? dl : 1); dir[dl ? dl : 1] = 0; }
    else strcpy(dir, ".");
    const char *base = slash ? slash + 1 : pattern;
    DIR *d = opendir(dir);
    int rc = 0;
    size_t cap = 0;
    for (struct dirent *e; d && rc == 0 && (e = readdir(d));) {
        if (fnmatch(base, e->d_name, FNM_PERIOD)) continue;
        if (g->gl_pathc + 1 >= cap) {
            cap = cap ? 2 * cap : 16;
            char **nv = realloc(g->gl_pathv, cap * sizeof *nv);
            if (!nv) { rc = GLOB_NOSPACE; break; }
            g->gl_pathv = nv;
        }
        size_t n = (slash ? dl + 1 : 0) + strlen(e->d_name) + 1;
        char *path = malloc(n);
        if (!path) { rc = GLOB_NOSPACE; break; }
        if (slash) { memcpy(path, pattern, dl + 1); strcpy(path + dl + 1, e->d_name); }
        else strcpy(path, e->d_name);
        g->gl_pathv[g->gl_pathc++] = path;
        g->gl_pathv[g->gl_pathc] = NULL;
    }
    if (d) closedir(d);
    free(dir);
    if (rc) { et__compat_globfree(g); return rc; }
    if (g->gl_pathc == 0) return GLOB_NOMATCH;
    qsort(g->gl_pathv, g->gl_pathc, sizeof *g->gl_pathv, et__compat_strcmp);
    return 0;
}
#define glob et__compat_glob
#define globfree et__compat_globfree
#endif

typedef struct { int (*cmp)(const void *, const void *, void *); void *arg; } et__compat_qctx;
static inline et__compat_qctx *et__compat_q(void) {
    static __thread et__compat_qctx c;
    return &c;
}
static inline int et__compat_tramp(const void *a, const void *b) {
    et__compat_qctx *c = et__compat_q();
    return c->cmp(a, b, c->arg);
}
static inline void et__compat_qsort_r(void *base, size_t n, size_t size,
                                      int (*cmp)(const void *, const void *, void *), void *arg) {
    et__compat_qctx *c = et__compat_q(), saved = *c;
    c->cmp = cmp;
    c->arg = arg;
    qsort(base, n, size, et__compat_tramp);
    *c = saved;   /* a qsort_r called from inside a comparator leaves the outer one intact */
}
#define qsort_r et__compat_qsort_r

#endif
#endif
