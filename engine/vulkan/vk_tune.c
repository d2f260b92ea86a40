/* Autotuned tile and workgroup sizes, stored per device and driver version so later runs use
 * them: $XDG_CACHE_HOME/edgetune (else ~/.cache/edgetune)/vk-tune-<vendor>-<device>-<driver>
 * .json, written by `edgetune bench vulkan --autotune` (bench/bench_vulkan.c) and read by
 * et_vk_open.  A file that does not parse, names another device, or holds values the
 * (possibly clamped) limits forbid is ignored — the defaults stay — and never fatal.
 *
 *   {"magic": "edgetune-vk-tune", "version": 1, "device": "...", "driver_version": N,
 *    "wg": 128, "mm_ts": 16, "mm_rm": 2, "mm_rn": 2, "mm_bk": 16}
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "vk_internal.h"

#define ET_VK_TUNE_MAGIC "edgetune-vk-tune"
#define ET_VK_TUNE_VERSION 1

static bool et__pow2(uint32_t v) { return v && !(v & (v - 1)); }

bool et_vk_tuning_valid(const et_vk_ctx *ctx, const et_vk_tuning *t) {
    const et_vk_limits *l = &ctx->lim;
    uint64_t shared = (uint64_t)(t->mm_ts * t->mm_rm + t->mm_ts * t->mm_rn) * t->mm_bk * 4;
    return et__pow2(t->wg) && t->wg >= 8 && t->wg <= l->max_invocations &&
           t->mm_ts >= 2 && t->mm_ts <= 32 && (uint64_t)t->mm_ts * t->mm_ts <= l->max_invocations &&
           t->mm_rm >= 1 && t->mm_rm <= 8 && t->mm_rn >= 1 && t->mm_rn <= 8 &&
           t->mm_bk >= 4 && t->mm_bk <= 64 && t->mm_bk % 4 == 0 &&
           shared + 4u * t->wg <= l->max_shared_bytes;
}

static bool et__tune_path(const et_vk_ctx *ctx, char *buf, size_t n) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int w;
    if (xdg && *xdg) w = snprintf(buf, n, "%s/edgetune/", xdg);
    else if (home && *home) w = snprintf(buf, n, "%s/.cache/edgetune/", home);
    else return false;
    if (w < 0 || (size_t)w >= n) return false;
    w += snprintf(buf + w, n - (size_t)w, "vk-tune-%04x-%04x-%08x%s.json", ctx->info.vendor_id,
                  ctx->info.device_id, ctx->info.driver_version, ctx->lim.mobile ? "-mobile" : "");
    return (size_t)w < n;
}

const char *et_vk_tuning_path(const et_vk_ctx *ctx, char *buf, size_t n) {
    return et__tune_path(ctx, buf, n) ? buf : NULL;
}

int et_vk_tuning_load(et_vk_ctx *ctx) {
    char path[1100];
    if (!et__tune_path(ctx, path, sizeof path)) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    int applied = 0;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "magic");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "version");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(j, "device");
    if (j && cJSON_IsString(m) && !strcmp(m->valuestring, ET_VK_TUNE_MAGIC) && cJSON_IsNumber(v) &&
        v->valueint == ET_VK_TUNE_VERSION && cJSON_IsString(dev) &&
        !strcmp(dev->valuestring, ctx->info.name)) {
        et_vk_tuning t = ctx->tune;
        const char *keys[5] = { "wg", "mm_ts", "mm_rm", "mm_rn", "mm_bk" };
        uint32_t *dst[5] = { &t.wg, &t.mm_ts, &t.mm_rm, &t.mm_rn, &t.mm_bk };
        bool ok = true;
        for (int i = 0; i < 5; i++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, keys[i]);
            if (!cJSON_IsNumber(x) || x->valuedouble < 1 || x->valuedouble > 4096) ok = false;
            else *dst[i] = (uint32_t)x->valuedouble;
        }
        if (ok && et_vk_tuning_valid(ctx, &t)) {
            ctx->tune = t;
            applied = 1;
        } else {
            fprintf(stderr, "edgetune: ignoring %s: values outside this device's limits\n", path);
        }
    }
    cJSON_Delete(j);
    return applied;
}

int et_vk_tuning_save(et_vk_ctx *ctx) {
    char path[1100], tmp[1200];
    if (!et__tune_path(ctx, path, sizeof path))
        return et__vk_fail(ctx, "no cache directory (set XDG_CACHE_HOME or HOME)");
    const et_vk_tuning *t = &ctx->tune;
    if (!et_vk_tuning_valid(ctx, t)) return et__vk_fail(ctx, "refusing to store invalid tuning");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    for (char *p = tmp + 1; *p; p++) {     /* mkdir -p of the directory */
        if (*p != '/') continue;
        *p = 0;
        mkdir(tmp, 0755);
        *p = '/';
    }
    FILE *f = fopen(tmp, "w");
    if (!f) return et__vk_fail(ctx, "cannot write %s", tmp);
    fprintf(f, "{\"magic\": \"%s\", \"version\": %d, \"device\": \"", ET_VK_TUNE_MAGIC,
            ET_VK_TUNE_VERSION);
    for (const char *c = ctx->info.name; *c; c++)   /* JSON-escape the device name */
        fprintf(f, (*c == '"' || *c == '\\') ? "\\%c" : "%c", *c);
    fprintf(f, "\", \"driver_version\": %u, \"wg\": %u, \"mm_ts\": %u, \"mm_rm\": %u, "
               "\"mm_rn\": %u, \"mm_bk\": %u}\n", ctx->info.driver_version, t->wg, t->mm_ts,
            t->mm_rm, t->mm_rn, t->mm_bk);
    if (fclose(f) || rename(tmp, path)) {
        remove(tmp);
        return et__vk_fail(ctx, "cannot write %s", path);
    }
    return 0;
}
