/* Quantizing and pruning GGUF model files tensor by tensor (see models/compress.h).  The
 * output is produced while the GGUF writer streams it: a selected tensor is converted when
 * the writer asks for its first bytes and freed after its last, so only one tensor is ever
 * held in f32. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "compress.h"
#include "io/gguf.h"
#include "kernels.h"
#include "llama_hf.h"
#include "ref/quant_ref.h"

double et_prune_parse(const char *spec, char *err, size_t errlen) {
    if (!spec) { snprintf(err, errlen, "prune: no sparsity given"); return -1; }
    if (!strcmp(spec, "2:4")) return 0.5;
    char *end;
    errno = 0;
    double pct = strtod(spec, &end);
    if (end == spec || errno || strcmp(end, "%") || !(pct > 0 && pct < 100)) {
        snprintf(err, errlen, "prune: sparsity '%s' is not a percentage in (0%%, 100%%) like 50%%, or 2:4", spec);
        return -1;
    }
    return pct / 100.0;
}

typedef struct { float v; int64_t i; } et__mag;
static int et__cmp_mag(const void *a, const void *b) {
    const et__mag *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

int64_t et_prune_f32(float *w, int64_t ne0, int64_t rows, const char *spec) {
    int64_t n = ne0 * rows, zeros = 0;
    if (!strcmp(spec, "2:4")) {
        for (int64_t g = 0; g + 4 <= n; g += 4) {   /* ne0 % 4 == 0: groups never cross rows */
            float *q = w + g;
            int lo1 = 0, lo2 = 1;   /* the two smallest |q|, lower index first on ties */
            if (fabsf(q[1]) < fabsf(q[0])) { lo1 = 1; lo2 = 0; }
            for (int i = 2; i < 4; i++) {
                if (fabsf(q[i]) < fabsf(q[lo1])) { lo2 = lo1; lo1 = i; }
                else if (fabsf(q[i]) < fabsf(q[lo2])) lo2 = i;
            }
            q[lo1] = q[lo2] = 0.0f;
        }
    } else {
        int64_t k = (int64_t)llround(strtod(spec, NULL) / 100.0 * (double)n);
        et__mag *m = malloc((size_t)n * sizeof *m);
        if (!m) return -1;
        for (int64_t i = 0; i < n; i++) m[i] = (et__mag){ fabsf(w[i]), i };
        qsort(m, (size_t)n, sizeof *m, et__cmp_mag);
        for (int64_t j = 0; j < k && j < n; j++) w[m[j].i] = 0.0f;
        free(m);
    }
    for (int64_t i = 0; i < n; i++) zeros += w[i] == 0.0f;
    return zeros;
}

/* ---------------------------------------------------------------- one tensor */

typedef struct et__job {
    const et_gguf_tensor *src;
    const char *prune;
    et_compress_stat st;
    void *bytes;           /* the converted tensor while it is being written */
    size_t nbytes;
} et__job;

static int et__convert(et__job *j, char *err, size_t errlen) {
    const et_gguf_tensor *t = j->src;
    int64_t ne0 = t->ne[0], rows = t->ne[1], n = ne0 * rows;
    float *f = malloc((size_t)n * sizeof *f), *back = malloc((size_t)n * sizeof *back);
    j->bytes = malloc(j->nbytes);
    if (!f || !back || !j->bytes) { free(f); free(back); snprintf(err, errlen, "out of memory"); return -1; }
    et_kern_to_f32(t->type, t->data, f, ne0, rows, et_type_row_size(t->type, ne0));
    if (j->prune && et_prune_f32(f, ne0, rows, j->prune) < 0) {
        free(f); free(back); snprintf(err, errlen, "out of memory"); return -1;
    }
    if (j->st.to == ET_NF4) et_ref_quantize_nf4(f, j->bytes, n);
    else et_type_get(j->st.to)->from_f32(f, j->bytes, n);
    et_kern_to_f32(j->st.to, j->bytes, back, ne0, rows, et_type_row_size(j->st.to, ne0));
    double num = 0, den = 0;
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)back[i] - f[i];
        num += d * d;
        den += (double)f[i] * f[i];
        zeros += back[i] == 0.0f;
    }
    j->st.rel_err = den > 0 ? sqrt(num / den) : sqrt(num);
    j->st.zeros = zeros;
    free(f);
    free(back);
    return 0;
}

static int et__fill(void *ctx, uint64_t offset, void *buf, size_t n, char *err, size_t errlen) {
    et__job *j = ctx;
    if (!j->bytes && et__convert(j, err, errlen)) return -1;
    memcpy(buf, (const char *)j->bytes + offset, n);
    if (offset + n >= j->nbytes) { free(j->bytes); j->bytes = NULL; }
    return 0;
}

/* ---------------------------------------------------------------- the file */

static bool et__is_linear(const et_gguf_tensor *t) {
    size_t len = strlen(t->name);
    return !strncmp(t->name, "blk.", 4) && len > 7 && !strcmp(t->name + len - 7, ".weight") && t->ne[1] > 1 &&
           t->ne[2] == 1 && t->ne[3] == 1;
}

static uint64_t et__file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

int et_gguf_compress(const char *in, const char *out, const et_compress_opts *o, et_compress_report *r, char *err,
                     size_t errlen) {
    memset(r, 0, sizeof *r);
    const et_type bad[2] = {ET_I32, ET_Q8_K};
    for (int k = 0; k < 2; k++)
        if (o->type == bad[k] || o->emb_type == bad[k]) {
            snprintf(err, errlen, "%s: type %s cannot hold weights", out, et_type_get(bad[k])->name);
            return -1;
        }
    if (o->type > ET_TYPE_COUNT || o->emb_type > ET_TYPE_COUNT) {
        snprintf(err, errlen, "%s: unknown target type", out);
        return -1;
    }
    if (o->prune && et_prune_parse(o->prune, err, errlen) < 0) return -1;
    et_gguf *g;
    if (et_llama_gguf_open(in, &g, err, errlen)) return -1;   /* a GGUF file or an HF checkpoint directory */
    int64_t nt = et_gguf_n_tensors(g);
    et__job *jobs = calloc((size_t)nt + 1, sizeof *jobs);
    et_gguf_writer *w = et_gguf_writer_new();
    int rc = -1;
    if (!jobs || !w) { snprintf(err, errlen, "%s: out of memory", out); goto done; }
    for (int64_t i = 0; i < et_gguf_n_kv(g); i++) {
        const et_gguf_kv *kv = et_gguf_kv_at(g, i);
        et_gguf_writer_set_value(w, kv->key, &kv->value);
    }
    for (int64_t i = 0; i < nt; i++) {
        const et_gguf_tensor *t = et_gguf_tensor_at(g, i);
        et__job *j = &jobs[i];
        bool lin = et__is_linear(t);
        bool emb = (!strcmp(t->name, "token_embd.weight") || !strcmp(t->name, "output.weight")) && t->ne[2] == 1 &&
                   t->ne[3] == 1;
        et_type to = lin ? o->type : emb ? o->emb_type : ET_TYPE_COUNT;
        if (to == ET_TYPE_COUNT && (lin || emb) && o->prune) to = t->type;   /* prune keeps the type */
        j->src = t;
        j->prune = lin && o->prune ? o->prune : NULL;
        j->st = (et_compress_stat){ .name = t->name, .from = t->type, .to = t->type, .n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3],
                                    .bytes_in = t->nbytes, .bytes_out = t->nbytes };
        r->tensor_in += t->nbytes;
        if (to == ET_TYPE_COUNT || (to == t->type && !j->prune) || t->type == ET_I32 || t->type == ET_Q8_K) {
            et_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
            r->tensor_out += t->nbytes;
            continue;
        }
        et_type fb = to == ET_Q4_K ? ET_IQ4_NL : to == ET_Q6_K ? ET_Q8_0 : ET_TYPE_COUNT;
        if (o->fallback && t->ne[0] % et_type_get(to)->blck_size && fb != ET_TYPE_COUNT &&
            t->ne[0] % et_type_get(fb)->blck_size == 0) {
            to = fb;
            j->st.fallback = true;
            r->n_fallback++;
        }
        const et_type_traits *tr = et_type_get(to);
        if (t->ne[0] % tr->blck_size || (j->prune && !strcmp(j->prune, "2:4") && t->ne[0] % 4)) {
            int blk = t->ne[0] % tr->blck_size ? tr->blck_size : 4;
            snprintf(err, errlen, "%s: tensor %s has rows of %lld elements, not a multiple of %d (%s)", in, t->name,
                     (long long)t->ne[0], blk, blk == 4 && j->prune ? "2:4 pruning groups" : tr->name);
            goto done;
        }
        j->st.to = to;
        j->st.changed = true;
        j->nbytes = j->st.bytes_out = et_type_nbytes(to, t->ne[0], t->ne[1]);
        r->tensor_out += j->nbytes;
        r->n_changed++;
        et_gguf_writer_add_tensor_fill(w, t->name, to, t->n_dims, t->ne, et__fill, j);
    }
    if (et_gguf_writer_write(w, out, err, errlen)) goto done;
    r->file_in = et_hf_is_dir(in) ? et_hf_dir_bytes(in) : et__file_size(in);
    r->file_out = et__file_size(out);
    for (int64_t i = 0; i < nt; i++) {
        if (jobs[i].prune) { r->pruned_n += jobs[i].st.n; r->pruned_zeros += jobs[i].st.zeros; }
        if (o->on_tensor) o->on_tensor(o->cb_ctx, &jobs[i].st);
    }
    rc = 0;
done:
    for (int64_t i = 0; jobs && i < nt; i++) free(jobs[i].bytes);
    free(jobs);
    et_gguf_writer_free(w);
    et_gguf_close(g);
    return rc;
}
