/* The study runner's pure parts, without a model:
 *   - task loading in both layouts (build/data and LaMP's dev_questions/dev_outputs), and
 *     malformed files failing with a message naming the file, the field and the bad value;
 *   - the designed plan (unique cells, seeds only for learning cells, the contrasts the report
 *     needs), the full grid's size, shard splits (disjoint, complete);
 *   - results.jsonl: appends survive a torn line, resume keys, merge keeps each cell once,
 *     calibration round trip;
 *   - prompts (templates, attribution pairs, RAG within a token budget, query text);
 *   - resume end to end: with every planned cell already in results.jsonl, et_study_main runs
 *     nothing (no model needed) and renders the report from those synthetic results, with
 *     every figure as a PNG and the guideline table.
 * Files go to $BUILD/test-study/. */
#include "harness.h"
#include "bench/study/study.h"
#include <cjson/cJSON.h>
#include <sys/stat.h>
#include <unistd.h>

static char dirbuf[512];
static const char *tdir(void) {
    const char *b = getenv("BUILD");
    snprintf(dirbuf, sizeof dirbuf, "%s/test-study", b ? b : "build");
    mkdir(dirbuf, 0755);
    return dirbuf;
}

static void put(const char *dir, const char *name, const char *text) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

static const char *TASK_JSON =
    "{\"kind\":\"classification\",\"labels\":[\"admin\",\"devel\",\"libs\"],\"metrics\":[\"accuracy\"],"
    "\"name\":\"mini\",\"prompt_template\":\"Which section among [{labels}]? description: {description}\"}";

static void make_task(const char *root, const char *test_json) {
    char d[700];
    snprintf(d, sizeof d, "%s/mini", root);
    mkdir(root, 0755);
    mkdir(d, 0755);
    put(d, "task.json", TASK_JSON);
    put(d, "test.json", test_json);
    put(d, "stats.json", "{\"label_entropy_bits\":1.5,\"majority_baseline\":{\"accuracy\":0.4,\"macro_f1\":0.2},"
                         "\"profile_prior_baseline\":{\"accuracy\":0.5,\"macro_f1\":0.3},\"profile_size\":{\"median\":3}}");
}

static const char *GOOD_TEST =
    "[{\"id\":\"a0\",\"user\":\"ann\",\"input\":\"Which section among [admin, devel, libs]? description: compiler tools\","
    "\"output\":\"devel\",\"profile\":[{\"id\":\"p0\",\"description\":\"C compiler\",\"tag\":\"devel\"},"
    "{\"id\":\"p1\",\"description\":\"system daemon\",\"tag\":\"admin\"},{\"id\":\"p2\",\"description\":\"zlib library\",\"tag\":\"libs\"}]},"
    "{\"id\":\"a1\",\"user\":\"ann\",\"input\":\"Which section among [admin, devel, libs]? description: a daemon\","
    "\"output\":\"admin\",\"profile\":[]},"
    "{\"id\":\"b0\",\"user\":\"bob\",\"input\":\"Which section among [admin, devel, libs]? description: libfoo\","
    "\"output\":\"libs\",\"profile\":[{\"id\":\"p0\",\"description\":\"libbar runtime\",\"tag\":\"libs\"}]}]";

static void test_task_builtin(void) {
    char root[600], err[256];
    snprintf(root, sizeof root, "%s/data", tdir());
    make_task(root, GOOD_TEST);
    et_study_task t;
    CHECK(et_study_task_load(root, "mini", &t, err, sizeof err) == 0, "load: %.120s", err);
    CHECK(t.n_users == 2 && t.users[0].n_test == 2 && t.users[1].n_test == 1, "users %d", t.n_users);
    CHECK(t.users[0].n_profile == 3 && !strcmp(t.users[0].profile[2].label, "libs"), "profile");
    CHECK(t.kind == ET_TASK_CLASSIFICATION && t.n_labels == 3, "kind/labels");
    CHECK(fabs(t.entropy_bits - 1.5) < 1e-12 && fabs(t.prior_acc - 0.5) < 1e-12, "stats");
    CHECK(!strcmp(et_study_query_text(&t, t.users[0].test[0].input), "compiler tools"),
          "query text '%.120s'", et_study_query_text(&t, t.users[0].test[0].input));
    et_study_task_free(&t);

    /* malformed inputs: file, field and value named */
    make_task(root, "[{\"id\":\"a0\",\"user\":\"ann\",\"input\":\"x\",\"output\":\"kernel\",\"profile\":[]}]");
    CHECK(et_study_task_load(root, "mini", &t, err, sizeof err) == -1 && strstr(err, "test.json") &&
          strstr(err, "output") && strstr(err, "kernel"), "bad label: %.120s", err);
    make_task(root, "[{\"id\":\"a0\",\"user\":\"ann\",\"input\":\"x\",\"output\":\"libs\",\"profile\":[{\"tag\":\"libs\"}]}]");
    CHECK(et_study_task_load(root, "mini", &t, err, sizeof err) == -1 && strstr(err, "profile item 0"),
          "item without text: %.120s", err);
    make_task(root, "[{\"id\":\"a0\",\"user\":\"ann\",\"input\":7,\"output\":\"libs\",\"profile\":[]}]");
    CHECK(et_study_task_load(root, "mini", &t, err, sizeof err) == -1 && strstr(err, "\"input\"") &&
          strstr(err, "7"), "non-string input: %.120s", err);
    make_task(root, "[{\"id\":\"a0\",\"user\":");
    CHECK(et_study_task_load(root, "mini", &t, err, sizeof err) == -1 && strstr(err, "test.json") &&
          strstr(err, "invalid JSON"), "truncated JSON: %.120s", err);
    char d[700];
    snprintf(d, sizeof d, "%s/mini", root);
    make_task(root, GOOD_TEST);
    put(d, "task.json", "{\"kind\":\"poetry\",\"labels\":null,\"prompt_template\":\"x\"}");
    CHECK(et_study_task_load(root, "mini", &t, err, sizeof err) == -1 && strstr(err, "kind") &&
          strstr(err, "poetry"), "bad kind: %.120s", err);
    CHECK(et_study_task_load(root, "absent", &t, err, sizeof err) == -1 && strstr(err, "absent/task.json"),
          "missing dir: %.120s", err);
}

/* seeded byte mutations of a valid test.json and of result lines: the loaders and the report
 * must fail cleanly or succeed, never crash (under `make asan` also: no invalid access) */
static void test_mutations(void) {
    char root[600], err[256], d[700];
    snprintf(root, sizeof root, "%s/mut", tdir());
    snprintf(d, sizeof d, "%s/mini", root);
    size_t n = strlen(GOOD_TEST);
    char *buf = malloc(n + 1);
    uint64_t s = 12345;
    int ok = 0, failed = 0;
    for (int it = 0; it < 300; it++) {
        memcpy(buf, GOOD_TEST, n + 1);
        for (int k = 0; k < 1 + it % 4; k++) {
            size_t pos = et_t_rng_next(&s) % n;
            static const char pick[] = "{}[]\",:0aZ \\\x01\xff";
            buf[pos] = pick[et_t_rng_next(&s) % (sizeof pick - 1)];
        }
        make_task(root, buf);
        et_study_task t;
        err[0] = 0;
        if (et_study_task_load(root, "mini", &t, err, sizeof err) == 0) { ok++; et_study_task_free(&t); }
        else { failed++; CHECK(strstr(err, "mini/"), "error without a file name: %s", err); }
    }
    CHECK(ok + failed == 300 && failed > 50, "mutations: %d loaded, %d refused", ok, failed);
    free(buf);
    /* garbage and wrongly typed result lines: the report skips or tolerates them */
    char out[700], res[800];
    snprintf(out, sizeof out, "%s/mutreport", tdir());
    mkdir(out, 0755);
    snprintf(res, sizeof res, "%s/results.jsonl", out);
    FILE *f = fopen(res, "w");
    fputs("garbage\n{\"key\":5}\n{\"key\":\"k\",\"config\":{\"rag_k\":1e300,\"seed\":\"x\",\"kind\":7},"
          "\"metrics\":{\"accuracy\":0.5},\"per_user\":{\"users\":[1,\"b\"],\"accuracy\":[\"x\",0.5]}}\n"
          "{\"key\":\"k2\",\"config\":[],\"metrics\":{},\"per_user\":{}}\n", f);
    fclose(f);
    make_task(root, GOOD_TEST);
    et_study_task t;
    CHECK(et_study_task_load(root, "mini", &t, err, sizeof err) == 0, "%s", err);
    CHECK(et_study_report(out, &t, 1, NULL, err, sizeof err) == 0, "report over odd lines: %s", err);
    et_study_task_free(&t);
}

static void test_task_lamp(void) {
    char d[600], err[256];
    snprintf(d, sizeof d, "%s/lamp2", tdir());
    mkdir(d, 0755);
    put(d, "dev_questions.json",
        "[{\"id\":\"110\",\"input\":\"Which tag does this movie relate to among the following tags? description: a space war\","
        "\"profile\":[{\"id\":\"1\",\"description\":\"robots rebel\",\"tag\":\"sci-fi\"},"
        "{\"id\":\"2\",\"description\":\"two people fall in love\",\"tag\":\"romance\"}]},"
        "{\"id\":\"111\",\"input\":\"Which tag ... description: a joke\",\"profile\":[{\"id\":\"3\",\"description\":\"funny\",\"tag\":\"comedy\"}]}]");
    put(d, "dev_outputs.json", "{\"task\":\"LaMP_2\",\"golds\":[{\"id\":\"111\",\"output\":\"comedy\"},{\"id\":\"110\",\"output\":\"sci-fi\"}]}");
    et_study_task t;
    CHECK(et_study_task_load_lamp(d, &t, err, sizeof err) == 0, "lamp: %.120s", err);
    CHECK(t.n_users == 2 && t.kind == ET_TASK_CLASSIFICATION, "users %d kind %d", t.n_users, t.kind);
    CHECK(t.n_labels == 3 && !strcmp(t.labels[0], "comedy") && !strcmp(t.labels[2], "sci-fi"), "labels sorted");
    CHECK(!strcmp(t.users[0].test[0].output, "sci-fi") && t.users[0].n_profile == 2, "gold by id");
    /* difficulty computed from the directory (LaMP has no stats.json), by hand.  Labels in
     * order: comedy, romance, sci-fi; profile labels one of each -> the majority is the tie's
     * first, comedy: right on 1 of the golds (sci-fi, comedy).  Profile priors: user 110 ties
     * sci-fi / romance -> romance (wrong), user 111 comedy (right): 1 of 2.  Entropy of the
     * golds 1 bit; median profile size (2, 1) 1.5 */
    CHECK(fabs(t.entropy_bits - 1) < 1e-12 && fabs(t.majority_acc - 0.5) < 1e-12 &&
          fabs(t.prior_acc - 0.5) < 1e-12 && fabs(t.profile_median - 1.5) < 1e-12,
          "LaMP baselines: entropy %g majority %g prior %g median %g", t.entropy_bits, t.majority_acc,
          t.prior_acc, t.profile_median);
    /* macro-F1 of the majority (always comedy) as the cells compute it (et_metric_macro_f1:
     * LaMP's mean over every label): comedy 2/3, romance 0, sci-fi 0 -> 2/9 */
    CHECK(fabs(t.majority_f1 - 2.0 / 9) < 1e-12, "majority macro-F1 %g", t.majority_f1);
    et_study_task_free(&t);
    put(d, "dev_outputs.json", "{\"task\":\"LaMP_3\",\"golds\":[{\"id\":\"110\",\"output\":\"4\"},{\"id\":\"111\",\"output\":\"2\"}]}");
    put(d, "dev_questions.json",
        "[{\"id\":\"110\",\"input\":\"review: fine\",\"profile\":[{\"text\":\"a\",\"score\":\"5\"},{\"text\":\"b\",\"score\":\"5\"},"
        "{\"text\":\"c\",\"score\":\"1\"}]},{\"id\":\"111\",\"input\":\"review: bad\",\"profile\":[{\"text\":\"d\",\"score\":\"1\"}]}]");
    CHECK(et_study_task_load_lamp(d, &t, err, sizeof err) == 0, "lamp 3: %.120s", err);
    /* profile scores 5,5,1,1 -> majority tie between 1 and 5: "1" is listed first; MAE of
     * always-1 on golds 4, 2 = (3 + 1) / 2; priors 5 and 1: MAE (1 + 1) / 2 */
    CHECK(fabs(t.majority_mae - 2) < 1e-12 && fabs(t.prior_mae - 1) < 1e-12 && t.majority_acc == 0,
          "LaMP-3 baselines: majority MAE %g, prior MAE %g", t.majority_mae, t.prior_mae);
    et_study_task_free(&t);
    put(d, "dev_questions.json",
        "[{\"id\":\"110\",\"input\":\"Which tag does this movie relate to among the following tags? description: a space war\","
        "\"profile\":[{\"id\":\"1\",\"description\":\"robots rebel\",\"tag\":\"sci-fi\"},"
        "{\"id\":\"2\",\"description\":\"two people fall in love\",\"tag\":\"romance\"}]},"
        "{\"id\":\"111\",\"input\":\"Which tag ... description: a joke\",\"profile\":[{\"id\":\"3\",\"description\":\"funny\",\"tag\":\"comedy\"}]}]");
    put(d, "dev_outputs.json", "{\"task\":\"LaMP_3\",\"golds\":[{\"id\":\"110\",\"output\":\"9\"},{\"id\":\"111\",\"output\":\"2\"}]}");
    CHECK(et_study_task_load_lamp(d, &t, err, sizeof err) == -1 && strstr(err, "\"9\"") && strstr(err, "110"),
          "rating gold out of range: %.120s", err);
    put(d, "dev_outputs.json", "{\"task\":\"LaMP_2\",\"golds\":[{\"id\":\"110\",\"output\":\"sci-fi\"}]}");
    CHECK(et_study_task_load_lamp(d, &t, err, sizeof err) == -1 && strstr(err, "111") && strstr(err, "dev_outputs.json"),
          "missing gold: %.120s", err);
    put(d, "dev_outputs.json", "{\"task\":\"LaMP_9\",\"golds\":[]}");
    CHECK(et_study_task_load_lamp(d, &t, err, sizeof err) == -1 && strstr(err, "LaMP_9"), "bad task: %.120s", err);
    put(d, "dev_outputs.json", "{\"task\":\"LaMP_2\",\"golds\":{}}");
    CHECK(et_study_task_load_lamp(d, &t, err, sizeof err) == -1 && strstr(err, "golds"), "golds not list: %.120s", err);
}

static void test_task_real_data(void) {
    if (access("build/data/section/task.json", R_OK)) {
        printf("  (build/data not built: real-data case checks the loader only on the files above)\n");
        return;
    }
    char err[256];
    static const char *const names[] = {"rating", "section", "attribution", "synopsis"};
    for (int i = 0; i < 4; i++) {
        /* the user count the data builder wrote in stats.json (100, 62, 100, 93 today) */
        char sp[256];
        snprintf(sp, sizeof sp, "build/data/%s/stats.json", names[i]);
        FILE *f = fopen(sp, "rb");
        static char sb[1 << 16];
        size_t sn = f ? fread(sb, 1, sizeof sb - 1, f) : 0;
        if (f) fclose(f);
        sb[sn] = 0;
        cJSON *js = cJSON_Parse(sb);
        int want = js && cJSON_IsNumber(cJSON_GetObjectItem(js, "n_users")) ? cJSON_GetObjectItem(js, "n_users")->valueint : -1;
        cJSON_Delete(js);
        et_study_task t;
        CHECK(et_study_task_load("build/data", names[i], &t, err, sizeof err) == 0, "%.120s: %.120s", names[i], err);
        CHECK(t.n_users == want, "%.120s users %d, stats.json says %d", names[i], t.n_users, want);
        for (int u = 0; u < t.n_users; u++)
            for (int k = 0; k < t.users[u].n_profile; k++)
                if (t.kind != ET_TASK_ATTRIBUTION && !t.users[u].profile[k].label) {
                    CHECK(0, "%.120s user %d item %d has no label", names[i], u, k);
                    u = t.n_users; break;
                }
        const char *q = et_study_query_text(&t, t.users[0].test[0].input);
        CHECK(q != t.users[0].test[0].input, "%.120s: the instruction prefix was not recognised", names[i]);
        et_study_task_free(&t);
    }
}

static void test_plan(void) {
    const char *tasks[] = {"rating", "section", "attribution", "synopsis"}, *models[] = {"m1.gguf", "m2.gguf"};
    et_study_plan p;
    char err[256], k1[600], k2[600];
    CHECK(et_study_plan_build(&p, "quick", 0, tasks, 4, models, 2, err, sizeof err) == 0, "%.120s", err);
    int lora_centre = 0, zs = 0, learn_seed0 = 0, learn = 0;
    double learn_s = 0;
    for (int i = 0; i < p.n; i++) {
        et_cell *c = &p.cells[i];
        et_cell_key(c, k1, sizeof k1);
        for (int j = 0; j < i; j++) {
            et_cell_key(&p.cells[j], k2, sizeof k2);
            CHECK(strcmp(k1, k2), "duplicate cell %.120s", k1);
        }
        if (!strcmp(c->task, "section") && !strcmp(c->method, "lora") && !strcmp(c->base, "f32") &&
            c->profile_cap == 16 && c->rank == 8 && c->budget_s == 1 && !strcmp(c->model, "m1.gguf"))
            lora_centre++;
        if (!strcmp(c->method, "zero-shot")) { zs++; CHECK(c->seed == 0, "zero-shot seeded"); }
        if (et_cell_learns(c) && c->seed == 0) learn_seed0++;
        if (et_cell_learns(c)) learn++, learn_s += c->budget_s * c->n_users;
        CHECK(c->n_users == 10, "quick users %d", c->n_users);
        /* quick: retrieval depth / history and the other learners only on the centre task */
        if (strcmp(c->task, "section"))
            CHECK(!strcmp(c->method, "zero-shot") || !strcmp(c->method, "lora") ||
                  (!strcmp(c->method, "rag") && c->rag_k == 4 && c->profile_cap == 16),
                  "quick non-centre cell %.120s", k1);
    }
    /* 20 learning configurations x 3 seeds with these 2 models (21 with the 3 built-in ones):
     * 18 at the tightest budget, one each at 3 s and 9 s; budgets x users = learning time */
    CHECK(learn == 60, "quick learning cells %d", learn);
    CHECK(fabs(learn_s - 3 * 10 * (18 * 1 + 3 + 9)) < 1e-9, "quick learning seconds %g", learn_s);
    /* 10 users: the best sign-flip p, 2/2^10, survives Holm over the quick report's 9 contrasts */
    CHECK(ldexp(2.0, -10) * 9 < 0.05, "too few users for Holm");
    CHECK(lora_centre == 3, "centre LoRA cell should have 3 seeds, has %d", lora_centre);
    CHECK(learn_seed0 == 0, "learning cell without a seed");
    CHECK(zs >= 8, "zero-shot of each model on each task: %d", zs);
    int n = p.n;
    /* shards: disjoint and complete */
    int covered = 0;
    for (int s = 0; s < 3; s++) {
        et_study_plan q;
        et_study_plan_build(&q, "quick", 0, tasks, 4, models, 2, err, sizeof err);
        et_study_plan_shard(&q, s, 3);
        covered += q.n;
        for (int i = 0; i < q.n; i++) {
            et_cell_key(&q.cells[i], k1, sizeof k1);
            et_cell_key(&p.cells[i * 3 + s], k2, sizeof k2);
            CHECK(!strcmp(k1, k2), "shard %d cell %d", s, i);
        }
        et_study_plan_free(&q);
    }
    CHECK(covered == n, "shards cover %d of %d", covered, n);
    et_study_plan_free(&p);
    CHECK(et_study_plan_build(&p, "huge", 0, tasks, 4, models, 1, err, sizeof err) == -1 && strstr(err, "huge"),
          "bad profile: %.120s", err);
    CHECK(et_study_plan_build(&p, "quick", 1, tasks, 4, models, 1, err, sizeof err) == 0, "%.120s", err);
    /* the factorial, after dropping axes a method does not use:
     * zero-shot 8 bases; rag 8 x 4 caps x 4 k; lora and rag+lora x ranks 3 x budgets 3 x seeds 3
     * (x4 k for rag+lora); ia3, prompt x budgets 3 x seeds 3 -- each x 4 caps where used */
    int per_task = 8 + 8 * 4 * 4 + 8 * 4 * 3 * 3 * 3 + 8 * 4 * 4 * 3 * 3 * 3 + 2 * 8 * 4 * 3 * 3;
    CHECK(p.n == 4 * per_task, "grid %d want %d", p.n, 4 * per_task);
    et_study_plan_free(&p);
}

static void test_results(void) {
    char path[700], err[256];
    snprintf(path, sizeof path, "%s/res.jsonl", tdir());
    unlink(path);
    char **keys;
    CHECK(et_results_keys(path, &keys, err, sizeof err) == 0, "missing file = no keys");
    et_results_keys_free(keys, 0);
    CHECK(et_results_append(path, "{\"key\":\"a\"}", err, sizeof err) == 0, "%.120s", err);
    FILE *f = fopen(path, "a");
    fputs("{\"key\":\"torn", f);                    /* a run killed mid-line */
    fclose(f);
    int n = et_results_keys(path, &keys, err, sizeof err);
    CHECK(n == 1 && !strcmp(keys[0], "a"), "torn line ignored: %d", n);
    et_results_keys_free(keys, n);
    CHECK(et_results_append(path, "{\"key\":\"b\"}", err, sizeof err) == 0, "%.120s", err);
    n = et_results_keys(path, &keys, err, sizeof err);
    CHECK(n == 2 && et_results_has(keys, n, "b") && !et_results_has(keys, n, "torn"), "after torn: %d", n);
    et_results_keys_free(keys, n);
    CHECK(et_results_append(path, "{\"key\":\n\"c\"}", err, sizeof err) == -1, "newline refused");

    char p2[700], out[700];
    snprintf(p2, sizeof p2, "%s/res2.jsonl", tdir());
    snprintf(out, sizeof out, "%s/merged.jsonl", tdir());
    unlink(p2);
    et_results_append(p2, "{\"key\":\"b\",\"x\":2}", err, sizeof err);
    et_results_append(p2, "{\"key\":\"d\"}", err, sizeof err);
    const char *in[] = {path, p2};
    CHECK(et_results_merge(out, in, 2, err, sizeof err) == 3, "merge: %.120s", err);
    n = et_results_keys(out, &keys, err, sizeof err);
    CHECK(n == 3 && !strcmp(keys[0], "a") && !strcmp(keys[1], "b") && !strcmp(keys[2], "d"), "merged order");
    et_results_keys_free(keys, n);
    const char *bad[] = {path, "/nonexistent/x.jsonl"};
    CHECK(et_results_merge(out, bad, 2, err, sizeof err) == -1 && strstr(err, "/nonexistent/x.jsonl"), "%.120s", err);

    double v;
    char cal[700];
    snprintf(cal, sizeof cal, "%s/calibration.jsonl", tdir());
    unlink(cal);
    et_calib_key k = { "m", "lora", "f32", "section", 8, 16, 2 };
    CHECK(et_calib_get(tdir(), &k, &v) == -1, "no calibration yet");
    CHECK(et_calib_put(tdir(), &k, 0.25, err, sizeof err) == 0, "%.120s", err);
    CHECK(et_calib_put(tdir(), &k, 0.5, err, sizeof err) == 0, "%.120s", err);
    CHECK(et_calib_get(tdir(), &k, &v) == 0 && v == 0.25, "first measurement kept: %g", v);
    /* everything that changes a step's time is part of the key */
    et_calib_key other[5] = { k, k, k, k, k };
    other[0].base = "q4_0", other[1].task = "rating", other[2].profile_cap = 4, other[3].n_threads = 1,
    other[4].rank = 2;
    for (int i = 0; i < 5; i++) CHECK(et_calib_get(tdir(), &other[i], &v) == -1, "key field %d ignored", i);
    /* a line of the old format (no task, cap, threads) is never taken for a new key */
    put(tdir(), "calibration.jsonl", "{\"model\":\"m\",\"method\":\"lora\",\"base\":\"f32\",\"rank\":8,\"sec_per_step\":9}\n");
    CHECK(et_calib_get(tdir(), &k, &v) == -1, "old-format line matched: %g", v);
}

static int count_words(void *ctx, const char *s) {
    int n = 0, in = 0;
    for (; *s; s++) { int w = *s != ' ' && *s != '\n'; n += w && !in; in = w; }
    return n;
}

static void test_prompts(void) {
    char root[600], err[256];
    snprintf(root, sizeof root, "%s/data", tdir());
    make_task(root, GOOD_TEST);
    et_study_task t;
    CHECK(et_study_task_load(root, "mini", &t, err, sizeof err) == 0, "%.120s", err);
    char *ans;
    char *pr = et_study_item_prompt(&t, &t.users[0].profile[0], NULL, 0, &ans);
    CHECK(pr && !strcmp(pr, "Which section among [admin, devel, libs]? description: C compiler") &&
          !strcmp(ans, "devel"), "item prompt '%.120s' -> '%.120s'", pr, ans);
    free(pr); free(ans);
    int idx[3] = {2, 0, 1};
    char *rp = et_study_rag_prompt(&t, &t.users[0], idx, 3, "QUERY", 1000, count_words, NULL);
    CHECK(rp && strstr(rp, "zlib") && strstr(rp, "system daemon") && strstr(rp, "QUERY"), "rag all: %.120s", rp);
    CHECK(strstr(rp, "zlib") < strstr(rp, "C compiler"), "best first");
    free(rp);
    rp = et_study_rag_prompt(&t, &t.users[0], idx, 3, "QUERY", 14, count_words, NULL);
    CHECK(rp && strstr(rp, "zlib") && !strstr(rp, "daemon") && count_words(NULL, rp) <= 14,
          "budget keeps the first item only: %.120s", rp);
    free(rp);
    rp = et_study_rag_prompt(&t, &t.users[0], idx, 3, "QUERY", 1, count_words, NULL);
    CHECK(rp && !strcmp(rp, "QUERY"), "nothing fits: '%.120s'", rp);
    free(rp);
    et_study_task_free(&t);

    et_study_task a;
    memset(&a, 0, sizeof a);
    a.kind = ET_TASK_ATTRIBUTION;
    a.prompt_template = "[1]: \"{a}\" [2]: \"{b}\"";
    et_study_item it = {"mine", NULL};
    pr = et_study_item_prompt(&a, &it, "theirs", 1, &ans);
    CHECK(pr && !strcmp(pr, "[1]: \"theirs\" [2]: \"mine\"") && !strcmp(ans, "[2]"), "attribution '%.120s' %.120s", pr, ans);
    free(pr); free(ans);
}

/* a synthetic results line for cell c: user u scores base + effect + small noise */
static char *fake_line(const et_cell *c, int n_users) {
    static char buf[4096], wt[64];
    /* what the runner records: the base's own type, f32 for pruned bases, and q4_k on these
     * rows runs as iq4_nl */
    snprintf(wt, sizeof wt, "linear %s x14; embedding f32", !strcmp(c->base, "q4_k") ? "iq4_nl" :
             !strncmp(c->base, "prune", 5) ? "f32" : c->base);
    char key[600];
    et_cell_key(c, key, sizeof key);
    double eff = !strcmp(c->method, "lora") ? 0.15 : !strcmp(c->method, "rag") ? 0.05 * (c->rag_k > 1) : 0;
    if (!strcmp(c->base, "nf4")) eff += 0.02;
    if (c->rank == 32) eff -= 0.05;
    int o = snprintf(buf, sizeof buf,
        "{\"format\":\"edgetune-study\",\"version\":1,\"key\":\"%s\",\"config\":{\"task\":\"%s\",\"kind\":\"classification\","
        "\"method\":\"%s\",\"rag_k\":%d,\"base\":\"%s\",\"model\":\"%s\",\"model_bytes\":%d,\"profile_cap\":%d,"
        "\"budget_s\":%g,\"rank\":%d,\"seed\":%d,\"n_users\":%d,\"slice\":\"%s\",\"weight_types\":\"%s\"},"
        "\"metrics\":{\"accuracy\":%.3f},"
        "\"per_user\":{\"users\":[",
        key, c->task, c->method, c->rag_k, c->base, c->model, 1000000, c->profile_cap, c->budget_s, c->rank,
        c->seed, n_users, c->slice, wt, 0.3 + eff);
    for (int u = 0; u < n_users; u++) o += snprintf(buf + o, sizeof buf - (size_t)o, "%s\"u%d\"", u ? "," : "", u);
    o += snprintf(buf + o, sizeof buf - (size_t)o, "],\"accuracy\":[");
    for (int u = 0; u < n_users; u++)
        o += snprintf(buf + o, sizeof buf - (size_t)o, "%s%.3f", u ? "," : "", 0.2 + 0.05 * u + eff + 0.01 * ((c->seed + u) % 3));
    snprintf(buf + o, sizeof buf - (size_t)o,
             "]},\"n_queries\":%d,\"learn_seconds_per_user\":%g,\"steps_per_user\":%d,\"measured_peak_rss\":%g,"
             "\"latency_ms_per_query\":12,\"learn_flops_per_user\":1e12,\"learn_bytes_per_user\":1e10,"
             "\"infer_flops_per_query\":2e9,\"infer_bytes_per_query\":4e8}",
             n_users * 4, c->budget_s, et_cell_learns(c) ? 10 : 0,
             (et_cell_learns(c) ? 3e8 : 2e8) * (!strcmp(c->base, "f32") ? 1 : 0.5));
    return buf;
}

static void test_resume_and_report(void) {
    char root[600], out[600], model[700], err[256], res[800];
    snprintf(root, sizeof root, "%s/data", tdir());
    snprintf(out, sizeof out, "%s/study", tdir());
    snprintf(model, sizeof model, "%s/tiny.gguf", tdir());
    make_task(root, GOOD_TEST);
    /* rename the mini task "section" so the quick plan centres on it */
    char src[700], dst[700];
    snprintf(src, sizeof src, "%s/mini", root);
    snprintf(dst, sizeof dst, "%s/section", root);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' && mkdir -p '%s' && cp -r '%s' '%s'", dst, out, out, src, dst);
    CHECK(system(cmd) == 0, "setup");
    put(tdir(), "tiny.gguf", "not a model: never opened when every cell is finished");
    const char *tasks[] = {"section"}, *models[] = {model};
    et_study_plan p;
    CHECK(et_study_plan_build(&p, "quick", 0, tasks, 1, models, 1, err, sizeof err) == 0, "%.120s", err);
    snprintf(res, sizeof res, "%s/results.jsonl", out);
    for (int i = 0; i < p.n; i++)
        CHECK(et_results_append(res, fake_line(&p.cells[i], 6), err, sizeof err) == 0, "%.120s", err);
    int n = p.n;
    et_study_plan_free(&p);

    et_study_opts o;
    memset(&o, 0, sizeof o);
    o.profile = "quick", o.data_dir = root, o.out_dir = out, o.models = models, o.n_models = 1, o.shard_n = 1;
    o.phone_gflops = 50, o.phone_gbps = 10;
    o.no_builtin = 1;   /* only this test's model, whatever build/models holds */
    /* the device file the study measures before running cells: written here (the probe takes
     * ~25 s), so the header must show exactly these figures */
    char dev[700];
    snprintf(dev, sizeof dev, "%s/device.jsonl", out);
    put(out, "device.jsonl",
        "{\"bench\":\"probe\",\"what\":\"read_bw\",\"threads\":1,\"gbps\":9.5}\n"
        "{\"bench\":\"probe\",\"what\":\"read_bw\",\"threads\":2,\"gbps\":31.25}\n"
        "{\"bench\":\"probe\",\"what\":\"fma_peak\",\"threads\":2,\"gflops\":321.5}\n"
        "{\"bench\":\"probe\",\"what\":\"bf16_peak\",\"threads\":2,\"gflops\":170}\n"
        "{\"bench\":\"probe\",\"what\":\"int8_peak\",\"threads\":2,\"gflops\":1400}\n");
    CHECK(et_study_main(&o, err, sizeof err) == 0, "resume with every cell finished: %.120s", err);
    char **keys;
    int nk = et_results_keys(res, &keys, err, sizeof err);
    CHECK(nk == n, "no cell re-run or lost: %d of %d", nk, n);
    et_results_keys_free(keys, nk);

    char rp[800];
    snprintf(rp, sizeof rp, "%s/report.md", out);
    FILE *f = fopen(rp, "r");
    CHECK(f != NULL, "no report.md");
    if (!f) return;
    static char md[200000];
    size_t len = fread(md, 1, sizeof md - 1, f);
    md[len] = 0;
    fclose(f);
    static const char *const must[] = {"**Device:**", "## Task difficulty", "| section | classification | 3 |",
        "## Results (mean and 95% CI)", "## Paired tests", "F1 Parameter learning vs RAG", "F4 A smaller LoRA rank",
        "fig_data_amount.png", "fig_method_difficulty.png", "fig_budget.png", "fig_pareto_memory.png",
        "fig_model_size.png", "t_device = max(FLOPs / P, bytes / B)", "projected s/user", "What our data suggests",
        "2 threads): read bandwidth 31.2 GB/s, f32 FMA peak 322 GFLOP/s", "**Pretraining mix of the built-in models:**",
        "## Base weights as run", "| q4_k | `tiny.gguf` | linear iq4_nl x14; embedding f32 | **no: fallback** |",
        "| q8_0 | `tiny.gguf` | linear q8_0 x14; embedding f32 | yes |", "projected ms/query",
        "this report's cells have 6 users"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        CHECK(strstr(md, must[i]) != NULL, "report lacks \"%.120s\"", must[i]);
    /* LoRA beats RAG(k=4) by 0.10 on every one of 6 users: exact sign-flip p = 2/64 */
    CHECK(strstr(md, "section: LoRA - RAG(k=4) | 6 | +0.100") != NULL, "F1 contrast row missing or wrong");
    CHECK(strstr(md, "| 0.0312 |") != NULL, "exact p-value 2/64 = 0.0312 not printed");
    static const char *const figs[] = {"fig_data_amount.png", "fig_method_difficulty.png", "fig_budget.png",
                                       "fig_pareto_memory.png", "fig_model_size.png"};
    for (int i = 0; i < 5; i++) {
        char fp[800];
        snprintf(fp, sizeof fp, "%s/%s", out, figs[i]);
        struct stat st;
        CHECK(stat(fp, &st) == 0 && st.st_size > 8000, "%.120s missing or blank (%ld bytes)", figs[i],
              (long)(stat(fp, &st) == 0 ? st.st_size : -1));
    }
    /* a torn line at the end (killed run) does not stop the report or the resume */
    f = fopen(res, "a");
    fputs("{\"key\":\"half", f);
    fclose(f);
    CHECK(et_study_main(&o, err, sizeof err) == 0, "after a torn line: %.120s", err);
}

int main(void) {
    RUN(test_task_builtin);
    RUN(test_task_lamp);
    RUN(test_mutations);
    RUN(test_task_real_data);
    RUN(test_plan);
    RUN(test_results);
    RUN(test_prompts);
    RUN(test_resume_and_report);
    return DONE();
}
