/* Training checkpoints (format and guarantees in checkpoint.h).
 *
 * Writing streams the header and the tensors through an et_atomic_file, hashing as it goes.
 * Reading loads the whole file, checks every field and the checksum, and only then copies
 * the tensors into place, so a bad file never leaves a half-restored model.
 *
 * Test hook: ET_CKPT_TEST_DELAY_US=N sleeps N microseconds in the middle of each write (after
 * half of the tensors), so the kill-and-resume test can land SIGKILLs inside a write.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "checkpoint.h"
#include "io/fileio.h"

#define ET__FNV_OFFSET 1469598103934665603ull
#define ET__FNV_PRIME  1099511628211ull
#define ET__MAX_NAME   1024

static uint64_t et__fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * ET__FNV_PRIME;
    return h;
}

typedef struct { FILE *f; uint64_t h; bool ok; } et__wr;

static void et__put(et__wr *w, const void *p, size_t n) {
    if (!w->ok) return;
    w->h = et__fnv(w->h, p, n);
    if (n && fwrite(p, 1, n, w->f) != n) w->ok = false;
}
#define ET__PUT(w, v) et__put((w), &(v), sizeof(v))

int et_ckpt_write(const char *path, const et_ckpt_state *st, const et_optim *o, char *err, size_t errlen) {
    et_atomic_file a;
    if (et_atomic_begin(&a, path, err, errlen)) return -1;
    et__wr w = { .f = a.f, .h = ET__FNV_OFFSET, .ok = true };
    uint32_t version = ET_CKPT_VERSION, n_tensors = (uint32_t)o->n_params;
    et__put(&w, ET_CKPT_MAGIC, 4);
    ET__PUT(&w, version);
    ET__PUT(&w, st->step); ET__PUT(&w, st->epoch); ET__PUT(&w, st->cursor);
    ET__PUT(&w, st->rng_epoch); ET__PUT(&w, st->seed);
    ET__PUT(&w, st->batch); ET__PUT(&w, st->grad_accum); ET__PUT(&w, st->seq_len); ET__PUT(&w, st->bad_evals);
    ET__PUT(&w, st->n_train);
    ET__PUT(&w, st->first_loss); ET__PUT(&w, st->best_eval);
    ET__PUT(&w, n_tensors);
    const char *delay = getenv("ET_CKPT_TEST_DELAY_US");
    for (int32_t i = 0; i < o->n_params; i++) {
        if (delay && i == o->n_params / 2) {
            fflush(a.f);
            usleep((useconds_t)atoi(delay));
        }
        const et_tensor *p = o->params[i];
        uint32_t len = (uint32_t)strlen(p->name);
        int64_t n = et_nelements(p);
        ET__PUT(&w, len);
        et__put(&w, p->name, len);
        ET__PUT(&w, n);
        et__put(&w, p->data, (size_t)n * sizeof(float));
        et__put(&w, o->m[i]->data, (size_t)n * sizeof(float));
        et__put(&w, o->v[i]->data, (size_t)n * sizeof(float));
    }
    uint64_t sum = w.h;
    if (w.ok && fwrite(&sum, sizeof sum, 1, a.f) != 1) w.ok = false;
    if (!w.ok) snprintf(err, errlen, "%s: write failed", path);
    char e2[256];
    if (et_atomic_end(&a, w.ok, e2, sizeof e2)) {
        if (w.ok) snprintf(err, errlen, "%s", e2);
        return -1;
    }
    return w.ok ? 0 : -1;
}

/* ---- reading ---- */

typedef struct { const uint8_t *p; size_t left; } et__rd;

static bool et__get(et__rd *r, void *out, size_t n) {
    if (r->left < n) return false;
    memcpy(out, r->p, n);
    r->p += n;
    r->left -= n;
    return true;
}
#define ET__GET(r, v) et__get((r), &(v), sizeof(v))

#define ET__FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); goto done; } while (0)

int et_ckpt_read(const char *path, et_ckpt_state *st, et_optim *o, char *err, size_t errlen) {
    et_filemap fm;
    if (et_filemap_open(path, &fm, err, errlen)) return -1;
    int rc = -1;
    const size_t **offs = NULL;
    et__rd r = { fm.data, fm.size };
    char magic[4];
    uint32_t version = 0, n_tensors = 0;
    et_ckpt_state f = {0};
    if (fm.size < 4 + 4 + 8 || !et__get(&r, magic, 4) || memcmp(magic, ET_CKPT_MAGIC, 4))
        ET__FAIL("%s: magic: not an edgetune checkpoint (expected \"%s\")", path, ET_CKPT_MAGIC);
    if (!ET__GET(&r, version) || version != ET_CKPT_VERSION)
        ET__FAIL("%s: version: %u is not supported (expected %u)", path, version, ET_CKPT_VERSION);
    uint64_t sum_file;
    memcpy(&sum_file, fm.data + fm.size - 8, 8);
    uint64_t sum = et__fnv(ET__FNV_OFFSET, fm.data, fm.size - 8);
    r.left -= 8;   /* the checksum is not part of the body */
    if (!(ET__GET(&r, f.step) && ET__GET(&r, f.epoch) && ET__GET(&r, f.cursor) && ET__GET(&r, f.rng_epoch) &&
          ET__GET(&r, f.seed) && ET__GET(&r, f.batch) && ET__GET(&r, f.grad_accum) && ET__GET(&r, f.seq_len) &&
          ET__GET(&r, f.bad_evals) && ET__GET(&r, f.n_train) && ET__GET(&r, f.first_loss) &&
          ET__GET(&r, f.best_eval) && ET__GET(&r, n_tensors)))
        ET__FAIL("%s: header: truncated (%zu bytes)", path, fm.size);
    if (sum != sum_file)
        ET__FAIL("%s: checksum: %016llx in the file, %016llx computed (corrupt or truncated file)", path,
                 (unsigned long long)sum_file, (unsigned long long)sum);
    if (f.step < 0 || f.epoch < 0 || f.cursor < 0 || f.bad_evals < 0)
        ET__FAIL("%s: step/epoch/cursor/bad_evals: %lld/%lld/%lld/%d must be >= 0", path, (long long)f.step,
                 (long long)f.epoch, (long long)f.cursor, f.bad_evals);
    if (f.cursor > st->n_train)
        ET__FAIL("%s: cursor: %lld is beyond the %lld examples", path, (long long)f.cursor, (long long)st->n_train);
#define ET__SAME(fld, fmt, cast)                                                                             \
    if (f.fld != st->fld)                                                                                    \
        ET__FAIL("%s: " #fld ": the checkpoint has " fmt ", this run " fmt " (resume needs the same setting)", \
                 path, (cast)f.fld, (cast)st->fld);
    ET__SAME(seed, "%llu", unsigned long long)
    ET__SAME(batch, "%d", int)
    ET__SAME(grad_accum, "%d", int)
    ET__SAME(seq_len, "%d", int)
    ET__SAME(n_train, "%lld", long long)
#undef ET__SAME
    if (n_tensors != (uint32_t)o->n_params)
        ET__FAIL("%s: n_tensors: %u in the file, the model trains %d", path, n_tensors, o->n_params);
    offs = calloc(n_tensors ? n_tensors : 1, sizeof *offs);
    if (!offs) ET__FAIL("%s: out of memory", path);
    for (uint32_t i = 0; i < n_tensors; i++) {
        const et_tensor *p = o->params[i];
        uint32_t len;
        int64_t n;
        char name[ET__MAX_NAME + 1];
        if (!ET__GET(&r, len) || len > ET__MAX_NAME || !et__get(&r, name, len))
            ET__FAIL("%s: tensor %u: name truncated or longer than %d bytes", path, i, ET__MAX_NAME);
        name[len] = 0;
        if (strcmp(name, p->name)) ET__FAIL("%s: tensor %u: name \"%s\", the model expects \"%s\"", path, i, name, p->name);
        if (!ET__GET(&r, n) || n != et_nelements(p))
            ET__FAIL("%s: tensor \"%s\": n_elements %lld, the model has %lld", path, name, (long long)n,
                     (long long)et_nelements(p));
        size_t bytes = (size_t)n * sizeof(float);
        if (r.left < 3 * bytes) ET__FAIL("%s: tensor \"%s\": data truncated", path, name);
        offs[i] = (const size_t *)r.p;
        r.p += 3 * bytes;
        r.left -= 3 * bytes;
    }
    if (r.left != 0) ET__FAIL("%s: size: %zu unexpected bytes after the last tensor", path, r.left);
    /* everything checked: now change the model */
    for (uint32_t i = 0; i < n_tensors; i++) {
        size_t bytes = (size_t)et_nelements(o->params[i]) * sizeof(float);
        const uint8_t *src = (const uint8_t *)offs[i];
        memcpy(o->params[i]->data, src, bytes);
        memcpy(o->m[i]->data, src + bytes, bytes);
        memcpy(o->v[i]->data, src + 2 * bytes, bytes);
    }
    o->step = f.step;
    *st = f;
    rc = 0;
done:
    free(offs);
    et_filemap_close(&fm);
    return rc;
}
