/* The cell runner (bench/study/run.c) against a test double of the et_lm contract, so the
 * runner's own logic is checked without a model:
 *   - the double scores a label by how often it appears quoted in the prompt (so RAG context
 *     and only RAG context moves the answer) plus a bias toward the training answers' most
 *     frequent label once an adapter is trained; generation echoes the query's text;
 *   - checked: zero-shot/RAG/LoRA accuracies equal what the double implies (computed here
 *     independently from the task), training pairs are the capped profile's items answered
 *     by their own labels, one adapter per user and reset after it, the budget turned into
 *     steps through one calibration run per task x cap (x model, method, base, rank,
 *     threads) stored in calibration.jsonl and reused, the JSON line's fields and per-user
 *     arrays (inference FLOPs / bytes, weight types), generation metrics (ROUGE) from the echo;
 *   - a hand-made LaMP directory (LaMP_2 layout) through the whole driver (et_study_main,
 *     as `edgetune study --lamp DIR`): every cell of the plan runs and is recorded, the report
 *     has the LaMP task's baselines computed in C, and a rerun trains nothing.
 * The double lives here only (tests/), never in the library; it replaces the library's
 * et_lm because the linker takes these definitions before looking in libedgetune.a. */
#include "harness.h"
#include "bench/study/study.h"
#include "lm.h"
#include "lm_cost.h"
#include <cjson/cJSON.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the double ----------------------------------------------------------------------- */

struct et_lm { int adapter; char bias[64]; };
static int g_finetunes, g_bad_pairs, g_pairs_last, g_resets, g_loads;
static char g_base[32];

int et_lm_load(const char *path, const et_lm_opts *o, et_lm **out, char *err, size_t errlen) {
    if (strstr(path, "bad")) { snprintf(err, errlen, "%s: not a model", path); return -1; }
    *out = calloc(1, sizeof **out);
    snprintf(g_base, sizeof g_base, "%s", o->prune ? o->prune : o->base_type ? o->base_type : "?");
    g_loads++;
    return 0;
}
void et_lm_free(et_lm *lm) { free(lm); }
int et_lm_count_tokens(et_lm *lm, const char *text) {
    int n = 0, in = 0;
    for (; *text; text++) { int w = *text != ' '; n += w && !in; in = w; }
    return n;
}
static int count_quoted(const char *s, const char *label) {
    char q[80];
    snprintf(q, sizeof q, "\"%s\"", label);
    int n = 0;
    for (const char *p = strstr(s, q); p; p = strstr(p + 1, q)) n++;
    return n;
}
int et_lm_score(et_lm *lm, const char *prompt, const char *const *cands, int n, double *lp, char *err, size_t errlen) {
    for (int i = 0; i < n; i++)
        lp[i] = -1.0 + count_quoted(prompt, cands[i]) + (lm->adapter && !strcmp(cands[i], lm->bias) ? 0.5 : 0);
    return 0;
}
int et_lm_generate(et_lm *lm, const char *prompt, int max_new, char *out, size_t outlen, char *err, size_t errlen) {
    const char *d = strstr(prompt, "description: ");
    snprintf(out, outlen, "%s", d ? d + 13 : prompt);
    return 0;
}
int et_lm_finetune(et_lm *lm, const et_finetune_cfg *cfg, const char *const *prompts, const char *const *answers,
                   int n, et_finetune_stats *st, char *err, size_t errlen) {
    g_finetunes++;
    g_pairs_last = n;
    int best = 0, cnt[8] = {0};
    static const char *const labels[] = {"admin", "devel", "libs"};
    for (int i = 0; i < n; i++) {
        int k = -1;
        for (int j = 0; j < 3; j++) if (!strcmp(answers[i], labels[j])) k = j;
        if (k < 0 || !strstr(prompts[i], "description: ")) g_bad_pairs++;
        else cnt[k]++;
    }
    for (int j = 1; j < 3; j++) if (cnt[j] > cnt[best]) best = j;
    snprintf(lm->bias, sizeof lm->bias, "%s", labels[best]);
    lm->adapter = 1;
    memset(st, 0, sizeof *st);
    st->seconds = cfg->steps * 0.01;             /* 10 ms per step: calibration -> 0.01 s/step */
    st->flops = cfg->steps * 1e6, st->bytes = cfg->steps * 2e6, st->tokens_per_s = 1000;
    st->planned_peak_bytes = 1 << 20;
    return 0;
}
void et_lm_reset_adapter(et_lm *lm) { lm->adapter = 0; g_resets++; }
/* costs: 1e6 FLOPs and 1e5 bytes per prompt word and candidate */
int et_lm_score_cost(et_lm *lm, const char *prompt, const char *const *cands, int n, et_lm_cost *c, char *err,
                     size_t errlen) {
    c->flops = 1e6 * et_lm_count_tokens(lm, prompt) * n, c->bytes = 1e5 * et_lm_count_tokens(lm, prompt) * n;
    return 0;
}
int et_lm_generate_cost(et_lm *lm, const char *prompt, int max_new, int n_steps, et_lm_cost *c, char *err,
                        size_t errlen) {
    c->flops = 1e6 * (et_lm_count_tokens(lm, prompt) + n_steps), c->bytes = 1e5 * n_steps;
    return 0;
}
int et_lm_weight_types(const et_lm *lm, char *buf, size_t n) {
    return snprintf(buf, n, "linear %s x7; embedding f32", !strcmp(g_base, "q4_k") ? "iq4_nl" : g_base);
}

/* ---- the task: 3 users, labels admin/devel/libs ------------------------------------------- */

static const char *TEST_JSON =
    "[{\"id\":\"a0\",\"user\":\"ann\",\"input\":\"Which section among [admin, devel, libs]? description: gcc compiler\",\"output\":\"devel\","
    "\"profile\":[{\"id\":\"p0\",\"description\":\"clang compiler frontend\",\"tag\":\"devel\"},"
    "{\"id\":\"p1\",\"description\":\"cron daemon\",\"tag\":\"admin\"},"
    "{\"id\":\"p2\",\"description\":\"gcc compiler plugins\",\"tag\":\"devel\"},"
    "{\"id\":\"p3\",\"description\":\"zlib runtime\",\"tag\":\"libs\"}]},"
    "{\"id\":\"a1\",\"user\":\"ann\",\"input\":\"Which section among [admin, devel, libs]? description: cron daemon tools\",\"output\":\"admin\",\"profile\":[]},"
    "{\"id\":\"b0\",\"user\":\"bob\",\"input\":\"Which section among [admin, devel, libs]? description: zlib headers\",\"output\":\"libs\","
    "\"profile\":[{\"id\":\"p0\",\"description\":\"zlib runtime\",\"tag\":\"libs\"},{\"id\":\"p1\",\"description\":\"png runtime\",\"tag\":\"libs\"}]},"
    "{\"id\":\"c0\",\"user\":\"cat\",\"input\":\"Which section among [admin, devel, libs]? description: disk admin\",\"output\":\"admin\","
    "\"profile\":[{\"id\":\"p0\",\"description\":\"disk admin tool\",\"tag\":\"admin\"},{\"id\":\"p1\",\"description\":\"other thing\",\"tag\":\"devel\"},"
    "{\"id\":\"p2\",\"description\":\"third\",\"tag\":\"devel\"}]}]";

static char dir[512];

static void setup(et_study_task *t) {
    const char *b = getenv("BUILD");
    snprintf(dir, sizeof dir, "%s/test-study-run", b ? b : "build");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/data/mini'", dir, dir);
    CHECK(system(cmd) == 0, "mkdir");
    char p[700];
    snprintf(p, sizeof p, "%s/data/mini/task.json", dir);
    FILE *f = fopen(p, "w");
    fputs("{\"kind\":\"classification\",\"labels\":[\"admin\",\"devel\",\"libs\"],"
          "\"prompt_template\":\"Which section among [{labels}]? description: {description}\"}", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/data/mini/test.json", dir);
    f = fopen(p, "w");
    fputs(TEST_JSON, f);
    fclose(f);
    char data[700], err[256];
    snprintf(data, sizeof data, "%s/data", dir);
    CHECK(et_study_task_load(data, "mini", t, err, sizeof err) == 0, "load: %s", err);
}

static et_cell cell(const char *method, int k, int cap) {
    et_cell c;
    memset(&c, 0, sizeof c);
    snprintf(c.task, sizeof c.task, "mini");
    snprintf(c.method, sizeof c.method, "%s", method);
    snprintf(c.base, sizeof c.base, "q4_0");
    snprintf(c.model, sizeof c.model, "fake.gguf");
    c.rag_k = k, c.profile_cap = cap, c.budget_s = 0.5, c.rank = 8, c.seed = 1, c.n_users = 3;
    return c;
}

static cJSON *run(const et_cell *c, const et_study_task *t) {
    char *line = NULL, err[256];
    int rc = et_study_run_cell(c, t, dir, 1, &line, err, sizeof err);
    CHECK(rc == 0 && line, "%s: %s", c->method, err);
    cJSON *j = line ? cJSON_Parse(line) : NULL;
    CHECK(j != NULL, "line is not JSON");
    free(line);
    return j;
}

static double num(cJSON *j, const char *a, const char *b) {
    cJSON *v = cJSON_GetObjectItem(j, a);
    if (b) v = cJSON_GetObjectItem(v, b);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static double user_acc(cJSON *j, const char *user) {
    cJSON *pu = cJSON_GetObjectItem(j, "per_user"), *u = cJSON_GetObjectItem(pu, "users"),
          *a = cJSON_GetObjectItem(pu, "accuracy");
    for (int i = 0; i < cJSON_GetArraySize(u); i++)
        if (!strcmp(cJSON_GetArrayItem(u, i)->valuestring, user)) return cJSON_GetArrayItem(a, i)->valuedouble;
    return NAN;
}

static void test_runner_with_double(void) {
    et_study_task t;
    setup(&t);
    if (!et_study_have_models()) {
        char *line, err[256];
        et_cell c = cell("zero-shot", 0, 0);
        CHECK(et_study_run_cell(&c, &t, dir, 1, &line, err, sizeof err) == -1 && strstr(err, "without the model"),
              "stub must say why: %s", err);
        et_study_task_free(&t);
        return;
    }
    /* zero-shot: every label scores -1 (the query quotes none), ties go to "admin": right on
     * the 2 admin queries of 4 */
    et_cell c = cell("zero-shot", 0, 0);
    cJSON *j = run(&c, &t);
    CHECK(fabs(num(j, "metrics", "accuracy") - 0.5) < 1e-12, "zero-shot acc %g", num(j, "metrics", "accuracy"));
    CHECK(num(j, "n_queries", NULL) == 4, "queries");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "deterministic")), "deterministic");
    cJSON *pu = cJSON_GetObjectItem(j, "per_user");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(pu, "users")) == 3 &&
          cJSON_GetArraySize(cJSON_GetObjectItem(pu, "accuracy")) == 3 &&
          cJSON_GetArraySize(cJSON_GetObjectItem(pu, "macro_f1")) == 3, "per-user arrays");
    CHECK(!strcmp(g_base, "q4_0"), "base passed to et_lm_load: %s", g_base);
    CHECK(user_acc(j, "ann") == 0.5 && user_acc(j, "bob") == 0 && user_acc(j, "cat") == 1, "zero-shot per user");
    CHECK(num(j, "predicted_labels", "admin") == 4 && num(j, "predicted_labels", "libs") == 0, "ties go to the first label");
    /* the double's cost: 1e6 FLOPs per word per label; the prompts have 9, 10, 9, 9 words, and
     * each of the 3 users' content-free prompt ("Which section among [admin, devel, libs]?
     * description: N/A") 8 */
    CHECK(fabs(num(j, "infer_flops_per_query", NULL) - 1e6 * 3 * (37 + 3 * 8) / 4) < 1e-3, "inference FLOPs/query %g",
          num(j, "infer_flops_per_query", NULL));
    /* calibrated: the content-free prompt quotes no label, so the scores only shift: same choices */
    CHECK(fabs(num(j, "metrics_cal", "accuracy") - 0.5) < 1e-12 && num(j, "predicted_labels_cal", "admin") == 4,
          "zero-shot calibrated acc %g", num(j, "metrics_cal", "accuracy"));
    cJSON_Delete(j);

    /* RAG k=1: the best BM25 item's label is quoted in the prompt and wins, except where
     * retrieval finds no word in common (ann's "cron daemon tools" -> "cron daemon": admin
     * right; ann's "gcc compiler" -> "gcc compiler plugins": devel right; bob's "zlib headers"
     * -> libs right; cat's "disk admin" -> admin right): 4 of 4 */
    c = cell("rag", 1, 0);
    j = run(&c, &t);
    CHECK(fabs(num(j, "metrics", "accuracy") - 1.0) < 1e-12, "rag acc %g", num(j, "metrics", "accuracy"));
    cJSON_Delete(j);

    /* LoRA, cap 2: each user's adapter learns from its latest 2 items; the double's bias goes
     * to their majority label (ties: admin, devel, libs order) -> ann: the latest two are
     * "gcc compiler plugins"/devel and "zlib runtime"/libs -> devel; bob: libs; cat: devel.
     * Queries: ann devel(right) admin(wrong), bob libs(right), cat admin(wrong): 0.5 */
    g_finetunes = g_bad_pairs = g_resets = 0;
    char cal[700];
    snprintf(cal, sizeof cal, "%s/calibration.jsonl", dir);
    unlink(cal);
    c = cell("lora", 0, 2);
    j = run(&c, &t);
    CHECK(fabs(num(j, "metrics", "accuracy") - 0.5) < 1e-12, "lora acc %g", num(j, "metrics", "accuracy"));
    /* calibrated, the adapter's bias (+0.5 on its label, on the content-free prompt too) cancels:
     * every query ties and goes to admin, as zero-shot */
    CHECK(num(j, "predicted_labels_cal", "admin") == 4 && num(j, "predicted_labels", "admin") < 4,
          "calibration removes the adapter's label bias: cal admin %g, raw admin %g",
          num(j, "predicted_labels_cal", "admin"), num(j, "predicted_labels", "admin"));
    CHECK(user_acc(j, "ann") == 0.5 && user_acc(j, "bob") == 1 && user_acc(j, "cat") == 0, "lora per user: %g %g %g",
          user_acc(j, "ann"), user_acc(j, "bob"), user_acc(j, "cat"));
    CHECK(g_finetunes == 4 && g_bad_pairs == 0, "1 calibration + 3 users, got %d finetunes, %d bad pairs",
          g_finetunes, g_bad_pairs);
    CHECK(g_pairs_last == 2, "cap 2 -> 2 pairs, got %d", g_pairs_last);
    CHECK(g_resets >= 4, "adapter reset after calibration and each user: %d", g_resets);
    CHECK(num(j, "steps_per_user", NULL) == 50, "0.5 s / 0.01 s per step = 50, got %g", num(j, "steps_per_user", NULL));
    CHECK(fabs(num(j, "learn_seconds_per_user", NULL) - 0.5) < 1e-9, "learn s %g", num(j, "learn_seconds_per_user", NULL));
    CHECK(num(j, "learn_flops_per_user", NULL) == 5e7 && num(j, "planned_peak_bytes", NULL) == 1 << 20, "flops/peak");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "deterministic")), "learning cell not deterministic");
    cJSON_Delete(j);
    /* a second cell with the same calibration key reuses the stored calibration */
    g_finetunes = 0;
    c.seed = 2;
    j = run(&c, &t);
    CHECK(g_finetunes == 3, "no second calibration: %d finetunes", g_finetunes);
    FILE *f = fopen(cal, "r");
    int lines = 0, ch;
    while (f && (ch = fgetc(f)) != EOF) lines += ch == '\n';
    if (f) fclose(f);
    CHECK(lines == 1, "calibration.jsonl has %d lines", lines);
    /* inference costs from the double: 4 queries, each 1e6 FLOPs x words x 3 labels */
    CHECK(num(j, "infer_flops_per_query", NULL) > 0 && num(j, "infer_bytes_per_query", NULL) > 0, "inference cost");
    cJSON *cf = cJSON_GetObjectItem(j, "config");
    CHECK(cJSON_IsString(cJSON_GetObjectItem(cf, "weight_types")) &&
          !strcmp(cJSON_GetObjectItem(cf, "weight_types")->valuestring, "linear q4_0 x7; embedding f32"),
          "weight types recorded");
    cJSON_Delete(j);
    /* another profile cap changes the training prompts: a second calibration */
    g_finetunes = 0;
    c.profile_cap = 3;
    j = run(&c, &t);
    CHECK(g_finetunes == 4, "a new cap calibrates again: %d finetunes", g_finetunes);
    cJSON_Delete(j);

    /* a model that fails to load: the error comes back, nothing is written */
    c = cell("zero-shot", 0, 0);
    snprintf(c.model, sizeof c.model, "bad.gguf");
    char *line = NULL, err[256];
    CHECK(et_study_run_cell(&c, &t, dir, 1, &line, err, sizeof err) == -1 && strstr(err, "bad.gguf") && !line,
          "load failure: %s", err);
    et_study_task_free(&t);
}

/* ---- a LaMP directory through the whole driver ------------------------------------------- */

static void test_lamp_study(void) {
    if (!et_study_have_models()) return;   /* the stub build: test_runner_with_double checks it */
    char d[560], out[560], model[560], p[2400], err[256];
    snprintf(d, sizeof d, "%s/lamp", dir);
    snprintf(out, sizeof out, "%s/lamp-study", dir);
    snprintf(model, sizeof model, "%s/fake.gguf", dir);
    snprintf(p, sizeof p, "rm -rf '%s' '%s' && mkdir -p '%s' '%s'", d, out, d, out);
    CHECK(system(p) == 0, "mkdir");
    /* LaMP_2's layout (one question = one user with its own profile), our double's tags */
    static const char *const qs =
        "[{\"id\":\"200\",\"input\":\"Which tag does this movie relate to among the following tags? Just answer with the tag "
        "name without further explanation. tags: [admin, devel, libs] description: a cron daemon\",\"profile\":["
        "{\"id\":\"1\",\"description\":\"cron daemon\",\"tag\":\"admin\"},{\"id\":\"2\",\"description\":\"gcc\",\"tag\":\"devel\"},"
        "{\"id\":\"3\",\"description\":\"disk tool\",\"tag\":\"admin\"}]},"
        "{\"id\":\"201\",\"input\":\"Which tag does this movie relate to among the following tags? Just answer with the tag "
        "name without further explanation. tags: [admin, devel, libs] description: zlib headers\",\"profile\":["
        "{\"id\":\"4\",\"description\":\"zlib runtime\",\"tag\":\"libs\"},{\"id\":\"5\",\"description\":\"png\",\"tag\":\"libs\"}]},"
        "{\"id\":\"202\",\"input\":\"Which tag does this movie relate to among the following tags? Just answer with the tag "
        "name without further explanation. tags: [admin, devel, libs] description: clang\",\"profile\":["
        "{\"id\":\"6\",\"description\":\"gcc plugins\",\"tag\":\"devel\"},{\"id\":\"7\",\"description\":\"cron\",\"tag\":\"admin\"}]}]";
    snprintf(p, sizeof p, "%s/dev_questions.json", d);
    FILE *f = fopen(p, "w");
    fputs(qs, f);
    fclose(f);
    snprintf(p, sizeof p, "%s/dev_outputs.json", d);
    f = fopen(p, "w");
    fputs("{\"task\":\"LaMP_2\",\"golds\":[{\"id\":\"200\",\"output\":\"admin\"},{\"id\":\"201\",\"output\":\"libs\"},"
          "{\"id\":\"202\",\"output\":\"devel\"}]}", f);
    fclose(f);
    f = fopen(model, "w");
    fputs("the double never reads it", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/device.jsonl", out);   /* skip the ~25 s probe: its lines, given */
    f = fopen(p, "w");
    fputs("{\"bench\":\"probe\",\"what\":\"read_bw\",\"threads\":2,\"gbps\":30}\n"
          "{\"bench\":\"probe\",\"what\":\"fma_peak\",\"threads\":2,\"gflops\":300}\n", f);
    fclose(f);
    const char *models[] = { model };
    et_study_opts o;
    memset(&o, 0, sizeof o);
    o.profile = "quick", o.lamp_dir = d, o.out_dir = out, o.models = models, o.n_models = 1, o.no_builtin = 1;
    o.shard_n = 1, o.n_threads = 1;
    g_finetunes = g_bad_pairs = 0;
    CHECK(et_study_main(&o, err, sizeof err) == 0, "study --lamp: %s", err);
    CHECK(g_finetunes > 0 && g_bad_pairs == 0, "learning cells trained %d adapters, %d bad pairs", g_finetunes,
          g_bad_pairs);
    /* every cell of the plan is recorded */
    et_study_task t;
    CHECK(et_study_task_load_lamp(d, &t, err, sizeof err) == 0, "%s", err);
    const char *tn[] = { t.name };
    et_study_plan plan;
    CHECK(et_study_plan_build(&plan, "quick", 0, tn, 1, models, 1, err, sizeof err) == 0, "%s", err);
    char res[600], **keys = NULL;
    snprintf(res, sizeof res, "%s/results.jsonl", out);
    int nk = et_results_keys(res, &keys, err, sizeof err);
    CHECK(nk == plan.n && plan.n > 40, "%d of %d cells recorded", nk, plan.n);
    et_results_keys_free(keys, nk > 0 ? nk : 0);
    et_study_plan_free(&plan);
    /* the difficulty row: LaMP-2, 3 classes; profile labels admin 3, devel 2, libs 2 ->
     * majority admin: right on 1 of 3 golds; priors admin, libs, devel (tie devel/admin ->
     * admin, listed first): right on 2 of 3 */
    CHECK(fabs(t.majority_acc - 1.0 / 3) < 1e-12 && fabs(t.prior_acc - 2.0 / 3) < 1e-12, "baselines %g %g",
          t.majority_acc, t.prior_acc);
    et_study_task_free(&t);
    snprintf(p, sizeof p, "%s/report.md", out);
    f = fopen(p, "r");
    static char md[300000];
    size_t len = f ? fread(md, 1, sizeof md - 1, f) : 0;
    md[len] = 0;
    if (f) fclose(f);
    CHECK(strstr(md, "| LaMP-2 | classification | 3 | 0.333 | 0.667 |") != NULL, "LaMP-2 difficulty row with "
          "baselines missing: %.200s", strstr(md, "| LaMP-2") ? strstr(md, "| LaMP-2") : "(no row)");
    CHECK(strstr(md, "read bandwidth 30.0 GB/s") != NULL, "device header");
    /* a rerun: every cell finished, nothing trained */
    g_finetunes = 0;
    CHECK(et_study_main(&o, err, sizeof err) == 0 && g_finetunes == 0, "rerun: %s, %d finetunes", err, g_finetunes);
}

int main(void) {
    RUN(test_runner_with_double);
    RUN(test_lamp_study);
    return DONE();
}
