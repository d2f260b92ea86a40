/* libFuzzer target for the study's JSON task files (bench/study/task.c) and its results
 * JSONL reader (bench/study/results.c).  The first byte picks the reader; the rest is split
 * at NUL bytes into the files it reads, written to a private temporary directory:
 *   0: edgetune's layout  DIR/t/task.json, test.json, stats.json  (et_study_task_load)
 *   1: LaMP's layout      DIR/dev_questions.json, dev_outputs.json (et_study_task_load_lamp)
 *   2: a results.jsonl                                             (et_results_keys)
 * A missing part is a missing file.  Any bytes load or are rejected with a message naming
 * the file, without out-of-bounds reads (ASan), undefined behaviour (UBSan) or leaks; a task
 * that loads is walked and must be consistent: every label found at its own index (or an
 * earlier duplicate's), every user with at least one test query, every non-generation
 * query's output one of the labels, every profile item with its text.
 * (The fine-tuning JSONL reader of `edgetune finetune` is static in cli/cmd_finetune.c, so
 * it is not reachable from here; results.jsonl is the library's public JSONL reader.)
 * Seeds in fuzz/corpus/task. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bench/study/study.h"

static char dir[256];

static void put(const char *path, const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

/* Write parts[i] (split at NULs) to names[i]; remove the files with no part. */
static void write_parts(const uint8_t *data, size_t size, const char *const *names, int n) {
    char path[512];
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (at > size) { unlink(path); continue; }
        const uint8_t *nul = memchr(data + at, 0, size - at);
        size_t len = nul ? (size_t)(nul - data - at) : size - at;
        put(path, data + at, len);
        at += len + 1;
    }
}

static volatile size_t sink;

static void cleanup(void) {
    static const char *const names[] = { "t/task.json", "t/test.json", "t/stats.json", "dev_questions.json",
                                         "dev_outputs.json", "results.jsonl", "t", "" };
    char path[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        remove(path);
    }
}

static void walk(const et_study_task *t) {
    for (int i = 0; i < t->n_labels; i++) {
        int k = et_study_task_label(t, t->labels[i]);
        if (k < 0 || k > i || strcmp(t->labels[k], t->labels[i])) abort();
    }
    if (t->n_users < 1 || !t->name || !t->prompt_template) abort();
    for (int u = 0; u < t->n_users; u++) {
        const et_study_user *us = &t->users[u];
        if (us->n_test < 1 || !us->name) abort();
        for (int i = 0; i < us->n_profile; i++) {
            if (!us->profile[i].text) abort();
            sink += strlen(us->profile[i].text) + (us->profile[i].label ? strlen(us->profile[i].label) : 0);
        }
        for (int i = 0; i < us->n_test; i++) {
            const et_study_query *q = &us->test[i];
            if (!q->id || !q->input || !q->output) abort();
            if (t->kind != ET_TASK_GENERATION && et_study_task_label(t, q->output) < 0) abort();
        }
    }
    if (strcmp(et_task_kind_name(t->kind), "?") == 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof dir, "%s/et_fuzz_task_XXXXXX", base);
        if (!mkdtemp(dir)) abort();
        char sub[300];
        snprintf(sub, sizeof sub, "%s/t", dir);
        mkdir(sub, 0700);
        atexit(cleanup);
    }
    if (size < 1) return 0;
    char err[512];
    int which = data[0] % 3;
    if (which == 0) {
        static const char *const names[] = { "t/task.json", "t/test.json", "t/stats.json" };
        write_parts(data + 1, size - 1, names, 3);
        et_study_task t;
        if (et_study_task_load(dir, "t", &t, err, sizeof err) != 0) {
            if (!strstr(err, dir)) abort();   /* every message names the file */
            return 0;
        }
        walk(&t);
        et_study_task_free(&t);
    } else if (which == 1) {
        static const char *const names[] = { "dev_questions.json", "dev_outputs.json" };
        write_parts(data + 1, size - 1, names, 2);
        et_study_task t;
        if (et_study_task_load_lamp(dir, &t, err, sizeof err) != 0) {
            if (!strstr(err, dir)) abort();
            return 0;
        }
        walk(&t);
        et_study_task_free(&t);
    } else {
        static const char *const names[] = { "results.jsonl" };
        write_parts(data + 1, size - 1, names, 1);
        char path[512], **keys = NULL;
        snprintf(path, sizeof path, "%s/results.jsonl", dir);
        int n = et_results_keys(path, &keys, err, sizeof err);
        if (n < 0) {
            if (!strstr(err, dir)) abort();
            return 0;
        }
        for (int i = 0; i < n; i++) if (!et_results_has(keys, n, keys[i])) abort();
        et_results_keys_free(keys, n);
    }
    return 0;
}
