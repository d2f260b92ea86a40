/* `edgetune bench vulkan --autotune --quick --json` through its library entry point:
 *  - every line is JSON; 36 benchmark lines (12 weight types × matvec, matmul, dX) with a
 *    finite positive median, GB/s and GFLOP/s, and the variant that ran;
 *  - the LoRA training step's per-op lines: the ops of forward, backward and AdamW
 *    (matmul, matmul_dx, matmul_dw, attention, attention_back, cross_entropy(_back), adamw)
 *    each with a positive time, shares summing to 1 (+-2e-3: each printed to 4 decimals, up
 *    to 5e-5 off for each of ~25 op groups), and the step line (wall and GPU ms, tokens/s);
 *  - autotune lines for each candidate, and the choice stored under $XDG_CACHE_HOME;
 *  - a new context applies the stored choice (et_vk_tuning_load), a corrupt or foreign file
 *    is ignored, and values beyond the device's limits are never applied.
 * Shapes are --quick (K = N = 512, the tiny Llama's step): ~5 s on an idle lavapipe.
 */
#include <cjson/cJSON.h>
#include "test_vulkan.h"
#include "bench/bench_vulkan.h"

static char dir[200];

static void test_bench_autotune(void) {
    FILE *f = tmpfile();
    et_bench_vulkan_opts o = { .json = true, .quick = true, .autotune = true, .device = -1,
                               .out = f };
    int rc = et_bench_vulkan(&o);
    CHECK(rc == 0, "et_bench_vulkan returned %d", rc);
    rewind(f);
    char line[2048];
    int nbench = 0, ntune = 0, bad = 0, nstep = 0;
    double share = 0;
    const char *want_ops[] = { "matmul", "matmul_dx", "matmul_dw", "attention", "attention_back",
                               "cross_entropy", "cross_entropy_back", "adamw" };
    int seen[8] = { 0 };
    while (fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        if (!j) { bad++; continue; }
        const char *b = cJSON_GetStringValue(cJSON_GetObjectItem(j, "bench"));
        double med = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "median_us"));
        if (b && !strcmp(b, "vulkan")) {
            double gb = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "gbps"));
            double gf = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "gflops"));
            const char *var = cJSON_GetStringValue(cJSON_GetObjectItem(j, "variant"));
            if (!(med > 0 && isfinite(med) && gb > 0 && isfinite(gb) && gf > 0 && isfinite(gf) &&
                  var && (!strncmp(var, "matvec_", 7) || !strncmp(var, "matmul_", 7))))
                bad++;
            nbench++;
        } else if (b && !strcmp(b, "vulkan_autotune")) {
            if (!(med > 0 && isfinite(med))) bad++;
            ntune++;
        } else if (b && !strcmp(b, "vulkan_train")) {
            const char *op = cJSON_GetStringValue(cJSON_GetObjectItem(j, "op"));
            double ms = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "ms_per_step"));
            if (!op || !(ms > 0 && isfinite(ms))) bad++;
            for (int k = 0; k < 8 && op; k++) seen[k] |= !strcmp(op, want_ops[k]);
            share += cJSON_GetNumberValue(cJSON_GetObjectItem(j, "share"));
        } else if (b && !strcmp(b, "vulkan_train_step")) {
            double ms = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "ms_per_step"));
            double gms = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "gpu_ms_per_step"));
            double tps = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "tokens_per_s"));
            if (!(ms > 0 && gms > 0 && tps > 0 && isfinite(ms + gms + tps))) bad++;
            nstep++;
        } else {
            bad++;
        }
        cJSON_Delete(j);
    }
    fclose(f);
    CHECK(bad == 0, "%d malformed or non-positive lines", bad);
    CHECK(nbench == 36, "%d benchmark lines, want 36", nbench);
    for (int k = 0; k < 8; k++) CHECK(seen[k], "no training-step line for op %s", want_ops[k]);
    CHECK(fabs(share - 1.0) <= 2e-3, "training-step shares sum to %.4f", share);
    CHECK(nstep == 1, "%d training-step summary lines", nstep);
    CHECK(ntune >= 4, "%d autotune lines", ntune);

    /* the stored choice is applied by the next open */
    et_vk_ctx *c = vkt_open("");
    CHECK(c != NULL, "reopen");
    if (!c) return;
    char path[300];
    CHECK(et_vk_tuning_path(c, path, sizeof path) && !strncmp(path, dir, strlen(dir)),
          "tune path not under %s", dir);
    FILE *tf = fopen(path, "r");
    CHECK(tf != NULL, "no stored tuning at %s", path);
    if (tf) {
        char buf[400] = "";
        size_t n = fread(buf, 1, sizeof buf - 1, tf);
        buf[n] = 0;
        fclose(tf);
        cJSON *j = cJSON_Parse(buf);
        const et_vk_tuning *t = et_vk_tuning_get(c);
        CHECK(j && (uint32_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "wg")) == t->wg &&
              (uint32_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "mm_ts")) == t->mm_ts &&
              (uint32_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "mm_bk")) == t->mm_bk,
              "stored tuning not applied: %s", buf);
        cJSON_Delete(j);
        /* out-of-limits values are ignored */
        tf = fopen(path, "w");
        fprintf(tf, "{\"magic\": \"edgetune-vk-tune\", \"version\": 1, \"device\": \"%s\", "
                    "\"wg\": 4096, \"mm_ts\": 64, \"mm_rm\": 2, \"mm_rn\": 2, \"mm_bk\": 16}\n",
                et_vk_info(c)->name);
        fclose(tf);
        CHECK(et_vk_tuning_load(c) == 0, "out-of-limits tuning applied");
        tf = fopen(path, "w");
        fputs("{ not json", tf);
        fclose(tf);
        CHECK(et_vk_tuning_load(c) == 0, "corrupt tuning applied");
        tf = fopen(path, "w");
        fputs("{\"magic\": \"edgetune-vk-tune\", \"version\": 1, \"device\": \"other GPU\", "
              "\"wg\": 64, \"mm_ts\": 8, \"mm_rm\": 2, \"mm_rn\": 2, \"mm_bk\": 16}\n", tf);
        fclose(tf);
        CHECK(et_vk_tuning_load(c) == 0, "another device's tuning applied");
    }
    et_vk_close(c);
}

int main(void) {
    if (vkt_opted_out()) return 0;
    const char *b = getenv("BUILD");
    snprintf(dir, sizeof dir, "%s/vkcache-bench", b && *b ? b : "build");
    setenv("XDG_CACHE_HOME", dir, 1);
    unsetenv("EDGETUNE_VK_NO_TUNE");   /* this test checks that the stored tuning is applied */
    char why[256];
    if (!et_vk_available(why, sizeof why)) {
        printf("FAIL vulkan_available: %s (lavapipe is a test dependency; "
               "EDGETUNE_NO_VULKAN_TESTS=1 opts out)\n", why);
        return 1;
    }
    RUN(test_bench_autotune);
    return DONE();
}
