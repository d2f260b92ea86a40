/* real_logits: what tools/check_real_llamacpp.py compares with llama.cpp on a real model.
 *
 *   real_logits --model M.gguf --text FILE [--out OUT.bin] [--speed-text FILE] [--gen N]
 *               [--threads N] [--reps R]
 *
 * 1. With --out: tokenizes the text with the model's own tokenizer (BOS as the tokenizer says)
 *    and runs the whole sequence through et_llama_logits in one graph: every position's
 *    next-token logits.  OUT.bin: "ETLG", u32 version 1, i32 T, i32 V, i32 ids[T], f32 logits[T][V]
 *    (row t = the distribution after ids[0..t]), little-endian.
 * 2. With --speed-text (the prompt; --gen 0 skips this part): speed as edgetune generate runs
 *    it (et_lm_generate_ex, greedy, no stop string): the prompt, then N new tokens (fewer
 *    if the model emits EOS: n_gen says how many); prints the prefill tokens/s (prompt tokens
 *    over the time to the first new token) and decode tokens/s (the other new tokens over
 *    their time), the median of R runs (default 3) after one warm-up, and the greedy text.
 * The last line is one JSON object with the figures.  Exit status 0, or 1 with a message.
 * Built by tools/real_model.mk ($(BUILD)/tools/real_logits); not part of the library.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lm_internal.h"

static double et__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int et__cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *et__slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); s = NULL; }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

/* All T positions' logits of ids into out[T][V]. */
static bool et__all_logits(et_lm *lm, const int32_t *ids, int32_t T, float *out, char *err, size_t errlen) {
    et_llama *m = &lm->m;
    et_ctx_mark mark = et_ctx_get_mark(lm->ctx);
    et_llama_batch b;
    bool ok = et_llama_batch_new(&b, m, T, 1, T);
    if (ok) {
        memcpy(b.ids->data, ids, (size_t)T * sizeof *ids);
        for (int32_t t = 0; t < T; t++) {
            ((int32_t *)b.sel->data)[t] = t;
            ((int32_t *)b.targets->data)[t] = 0;
        }
    }
    et_tensor *lg = ok ? et_llama_logits(m, &b) : NULL;
    et_graph *g = NULL;
    et_plan plan = {0};
    if (lg) lg->flags |= ET_FLAG_OUTPUT;
    ok = lg && et__lm_compute(lm, &lg, 1, lm->base_mark, &g, &plan);
    if (ok) memcpy(out, lg->data, (size_t)T * (size_t)m->cfg.vocab * sizeof *out);
    else snprintf(err, errlen, "logits: %s", et_ctx_failed(lm->ctx) ? et_ctx_error(lm->ctx) : "out of memory");
    et_plan_free(&plan);
    et_graph_free(g);
    et_ctx_reset(lm->ctx, mark);
    return ok;
}

/* Part 1: the text's ids and every position's logits into out_path.  0, or 1 with a message. */
static int et__write_logits(et_lm *lm, const char *text, const char *text_path, const char *out_path) {
    char err[512];
    int32_t T = 0, *ids = et__lm_tokenize(lm, text, true, &T);
    const int32_t V = lm->m.cfg.vocab;
    float *logits = ids ? malloc((size_t)T * (size_t)V * sizeof *logits) : NULL;
    if (!ids || !logits || T < 2) { fprintf(stderr, "real_logits: cannot tokenize %s (%d tokens)\n", text_path, T); return 1; }
    double t0 = et__now();
    if (!et__all_logits(lm, ids, T, logits, err, sizeof err)) { fprintf(stderr, "real_logits: %s\n", err); return 1; }
    double secs = et__now() - t0;
    FILE *f = fopen(out_path, "wb");
    uint32_t ver = 1;
    bool wr = f && fwrite("ETLG", 1, 4, f) == 4 && fwrite(&ver, 4, 1, f) == 1 && fwrite(&T, 4, 1, f) == 1 &&
              fwrite(&V, 4, 1, f) == 1 && fwrite(ids, 4, (size_t)T, f) == (size_t)T &&
              fwrite(logits, 4, (size_t)T * (size_t)V, f) == (size_t)T * (size_t)V;
    if (f && fclose(f)) wr = false;
    if (!wr) { fprintf(stderr, "real_logits: cannot write %s\n", out_path); return 1; }
    printf("%d tokens, vocab %d: logits of every position in %.2f s, written to %s\n", T, V, secs, out_path);
    free(logits);
    free(ids);
    return 0;
}

int main(int argc, char **argv) {
    const char *model = NULL, *text_path = NULL, *out_path = NULL, *speed_path = NULL;
    int gen = 32, threads = 0, reps = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) { fprintf(stderr, "real_logits: %s needs a value\n", a); return 2; }
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--text")) text_path = v;
        else if (!strcmp(a, "--out")) out_path = v;
        else if (!strcmp(a, "--speed-text")) speed_path = v;
        else if (!strcmp(a, "--gen")) gen = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else { fprintf(stderr, "real_logits: unknown option %s\n", a); return 2; }
        i++;
    }
    if (!model || !(out_path ? text_path : speed_path) || (speed_path && gen < 2) || reps < 1 || reps > 50) {
        fprintf(stderr, "usage: real_logits --model M.gguf [--text FILE --out OUT.bin] [--speed-text FILE [--gen N>=2]]\n"
                        "                   [--threads N] [--reps R]\n");
        return 2;
    }
    char err[512];
    et_lm *lm = NULL;
    double t0 = et__now();
    if (et_lm_load(model, &(et_lm_opts){.n_threads = threads}, &lm, err, sizeof err)) {
        fprintf(stderr, "real_logits: %s\n", err);
        return 1;
    }
    double load_s = et__now() - t0;
    printf("loaded %s in %.2f s\n", model, load_s);
    if (out_path) {
        char *text = et__slurp(text_path);
        if (!text) { fprintf(stderr, "real_logits: cannot read %s\n", text_path); return 1; }
        if (et__write_logits(lm, text, text_path, out_path)) return 1;
        free(text);
    }
    if (!speed_path) { et_lm_free(lm); return 0; }
    char *text = et__slurp(speed_path);
    if (!text) { fprintf(stderr, "real_logits: cannot read %s\n", speed_path); return 1; }


    /* speed: one warm-up, then the median of reps runs */
    static char out[1 << 16];
    double pre[50], dec[50];
    et_gen_stats st = {0};
    for (int r = 0; r <= reps; r++) {
        st = (et_gen_stats){0};
        et_sample_opts so = {.temperature = 0.0f, .top_p = 1.0f};
        if (et_lm_generate_ex(lm, text, gen, &so, out, sizeof out, &st, err, sizeof err)) {
            fprintf(stderr, "real_logits: generate: %s\n", err);
            return 1;
        }
        if (r == 0) continue;
        pre[r - 1] = st.prefill_s > 0 ? st.n_prompt / st.prefill_s : 0;
        dec[r - 1] = st.decode_s > 0 && st.n_gen > 1 ? (st.n_gen - 1) / st.decode_s : 0;
    }
    qsort(pre, (size_t)reps, sizeof *pre, et__cmp_d);
    qsort(dec, (size_t)reps, sizeof *dec, et__cmp_d);
    printf("greedy continuation: ");   /* on one line: newlines as \n */
    for (const char *c = out; *c; c++) fputs(*c == '\n' ? "\\n" : (char[]){*c, 0}, stdout);
    printf("\n");
    printf("{\"n_prompt\":%d,\"n_gen\":%d,\"threads\":%d,\"prefill_tok_s\":%.2f,\"decode_tok_s\":%.2f,\"reps\":%d}\n",
           st.n_prompt, st.n_gen, threads, pre[reps / 2], dec[reps / 2], reps);
    free(text);
    et_lm_free(lm);
    return 0;
}
