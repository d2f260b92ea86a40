/* results.jsonl: the study's only record of finished work, and the calibration file.
 *
 * A cell's result is one JSON object on one line, written with a single write() on an
 * O_APPEND descriptor and fsync'ed before the next cell starts.  A run killed at any moment
 * therefore leaves whole lines, plus at worst one torn last line without its newline, which
 * readers ignore (and the next append starts on a fresh line).  Resume = read the keys of
 * finished cells and skip them; merge = concatenate files keeping each key once.
 */
#include "study.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int et__write_all(int fd, const char *buf, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        buf += w, n -= (size_t)w;
    }
    return 0;
}

int et_results_append(const char *path, const char *json_line, char *err, size_t errlen) {
    if (strchr(json_line, '\n')) {
        snprintf(err, errlen, "%s: a result line must not contain a newline", path);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open for appending: %s", path, strerror(errno));
        return -1;
    }
    /* a torn previous line (killed mid-write) must not swallow this one */
    struct stat st;
    int need_nl = 0;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        int rfd = open(path, O_RDONLY | O_CLOEXEC);
        char last = '\n';
        if (rfd >= 0 && pread(rfd, &last, 1, st.st_size - 1) == 1) need_nl = last != '\n';
        if (rfd >= 0) close(rfd);
    }
    size_t n = strlen(json_line);
    char *buf = malloc(n + 3);
    if (!buf) { close(fd); snprintf(err, errlen, "%s: out of memory", path); return -1; }
    size_t o = 0;
    if (need_nl) buf[o++] = '\n';
    memcpy(buf + o, json_line, n);
    o += n;
    buf[o++] = '\n';
    int rc = et__write_all(fd, buf, o);
    free(buf);
    if (rc || fsync(fd)) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* calls fn(line, ctx) for each complete line; 0, or -1 if the file cannot be read (missing
 * counts as empty) */
static int et__each_line(const char *path, int (*fn)(const char *line, void *ctx), void *ctx,
                         char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n') break;            /* torn last line */
        line[len - 1] = 0;
        if (len > 1 && (rc = fn(line, ctx))) break;
    }
    free(line);
    fclose(f);
    if (rc) snprintf(err, errlen, "%s: out of memory", path);
    return rc;
}

typedef struct { char **keys; int n, cap; } et__keyset;

static int et__push(et__keyset *k, const char *key) {
    if (k->n == k->cap) {
        int nc = k->cap ? k->cap * 2 : 64;
        char **nk = realloc(k->keys, sizeof *nk * (size_t)nc);
        if (!nk) return -1;
        k->keys = nk, k->cap = nc;
    }
    return (k->keys[k->n++] = strdup(key)) ? 0 : -1;
}

static int et__key_line(const char *line, void *ctx) {
    cJSON *j = cJSON_Parse(line);
    if (!j) return 0;                                /* not a result line: ignore */
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "key");
    int rc = cJSON_IsString(k) ? et__push(ctx, k->valuestring) : 0;
    cJSON_Delete(j);
    return rc;
}

int et_results_keys(const char *path, char ***keys, char *err, size_t errlen) {
    et__keyset k = {0};
    if (et__each_line(path, et__key_line, &k, err, errlen)) {
        et_results_keys_free(k.keys, k.n);
        *keys = NULL;
        return -1;
    }
    *keys = k.keys;
    return k.n;
}

void et_results_keys_free(char **keys, int n) {
    for (int i = 0; i < n; i++) free(keys[i]);
    free(keys);
}

int et_results_has(char *const *keys, int n, const char *key) {
    for (int i = 0; i < n; i++)
        if (!strcmp(keys[i], key)) return 1;
    return 0;
}

typedef struct { et__keyset seen; FILE *out; } et__merge;

static int et__merge_line(const char *line, void *ctx) {
    et__merge *m = ctx;
    cJSON *j = cJSON_Parse(line);
    if (!j) return 0;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "key");
    int rc = 0;
    if (cJSON_IsString(k) && !et_results_has(m->seen.keys, m->seen.n, k->valuestring)) {
        rc = et__push(&m->seen, k->valuestring);
        if (!rc) fprintf(m->out, "%s\n", line);
    }
    cJSON_Delete(j);
    return rc;
}

int et_results_merge(const char *out, const char *const *in, int n_in, char *err, size_t errlen) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    et__merge m = { {0}, fopen(tmp, "wb") };
    if (!m.out) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n_in && !rc; i++) {
        struct stat st;
        if (stat(in[i], &st) != 0) {
            snprintf(err, errlen, "%s: no such results file", in[i]);
            rc = -1;
            break;
        }
        rc = et__each_line(in[i], et__merge_line, &m, err, errlen);
    }
    int n = m.seen.n;
    et_results_keys_free(m.seen.keys, m.seen.n);
    if (fflush(m.out) || fsync(fileno(m.out))) rc = rc ? rc : -1;
    fclose(m.out);
    if (rc || rename(tmp, out)) {
        if (!rc) snprintf(err, errlen, "%s: cannot rename into place: %s", out, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return n;
}

/* ---- calibration ------------------------------------------------------------------------ */

typedef struct { const et_calib_key *k; double v; int found; } et__cal;

static int et__str_is(const cJSON *j, const char *name, const char *want) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    return cJSON_IsString(v) && !strcmp(v->valuestring, want);
}
static int et__int_is(const cJSON *j, const char *name, int want) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    return cJSON_IsNumber(v) && v->valueint == want;
}

static int et__cal_line(const char *line, void *ctx) {
    et__cal *c = ctx;
    cJSON *j = cJSON_Parse(line);
    if (!j) return 0;
    const et_calib_key *k = c->k;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "sec_per_step");
    /* lines of an older format (no task / cap / threads) never match: they are re-measured */
    if (!c->found && cJSON_IsNumber(v) && v->valuedouble > 0 && et__str_is(j, "model", k->model) &&
        et__str_is(j, "method", k->method) && et__str_is(j, "base", k->base) && et__str_is(j, "task", k->task) &&
        et__int_is(j, "rank", k->rank) && et__int_is(j, "profile_cap", k->profile_cap) &&
        et__int_is(j, "n_threads", k->n_threads)) {
        c->v = v->valuedouble;                       /* the first measurement is the one */
        c->found = 1;
    }
    cJSON_Delete(j);
    return 0;
}

int et_calib_get(const char *dir, const et_calib_key *k, double *sec_per_step) {
    char path[1100], err[256];
    snprintf(path, sizeof path, "%s/calibration.jsonl", dir);
    et__cal c = { k, 0, 0 };
    if (et__each_line(path, et__cal_line, &c, err, sizeof err) || !c.found) return -1;
    *sec_per_step = c.v;
    return 0;
}

int et_calib_put(const char *dir, const et_calib_key *k, double sec_per_step, char *err, size_t errlen) {
    char path[1100];
    snprintf(path, sizeof path, "%s/calibration.jsonl", dir);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "edgetune-study-calibration");
    cJSON_AddNumberToObject(j, "version", 2);
    cJSON_AddStringToObject(j, "model", k->model);
    cJSON_AddStringToObject(j, "method", k->method);
    cJSON_AddStringToObject(j, "base", k->base);
    cJSON_AddStringToObject(j, "task", k->task);
    cJSON_AddNumberToObject(j, "rank", k->rank);
    cJSON_AddNumberToObject(j, "profile_cap", k->profile_cap);
    cJSON_AddNumberToObject(j, "n_threads", k->n_threads);
    cJSON_AddNumberToObject(j, "sec_per_step", sec_per_step);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) { snprintf(err, errlen, "%s: out of memory", path); return -1; }
    int rc = et_results_append(path, s, err, errlen);
    free(s);
    return rc;
}
