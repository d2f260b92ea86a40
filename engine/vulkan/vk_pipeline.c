/* Compute pipelines from the embedded SPIR-V, keyed by (shader variant, specialization
 * constants, binding count), created on first use and kept for the context's lifetime; and
 * the on-disk pipeline cache, so a second run skips the driver's shader compile.
 *
 * Specialization constants are all 32-bit and numbered from 0 (constant_id i = spec[i]);
 * shaders use them for workgroup and tile sizes and for variant switches.  Every pipeline
 * layout has one descriptor set of `nbind` storage buffers and ET_VK_MAX_PUSH bytes of push
 * constants.
 *
 * Cache file: $XDG_CACHE_HOME/edgetune (else ~/.cache/edgetune)/vk-<vendor>-<device>-<driver>
 * .bin, prefixed by a small header with a magic and version; Vulkan's own header inside the
 * data makes the driver reject a cache from another driver build, and we check it too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "vk_internal.h"

#define ET_VK_CACHE_MAGIC 0x43504B56u   /* "VKPC" */
#define ET_VK_CACHE_VERSION 1u

bool et_vk_has_shader(const char *shader) {
    for (uint32_t i = 0; i < et_vk_spv_count; i++)
        if (!strcmp(et_vk_spv_table[i].name, shader)) return true;
    return false;
}

const char *et_vk_cache_path(const et_vk_ctx *ctx) { return ctx->cache_path; }

static int et__vk_mkdirs(char *path) {   /* mkdir -p of the directory part of path */
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        int bad = mkdir(path, 0755) && errno != EEXIST;
        *p = '/';
        if (bad) return -1;
    }
    return 0;
}

int et__vk_pcache_open(et_vk_ctx *ctx) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    const char *nocache = getenv("EDGETUNE_VK_NO_CACHE");
    ctx->cache_path[0] = 0;
    if (!(nocache && !strcmp(nocache, "1"))) {
        if (xdg && *xdg)
            snprintf(ctx->cache_path, sizeof ctx->cache_path, "%s/edgetune/", xdg);
        else if (home && *home)
            snprintf(ctx->cache_path, sizeof ctx->cache_path, "%s/.cache/edgetune/", home);
    }
    void *data = NULL;
    size_t n = 0;
    if (ctx->cache_path[0]) {
        size_t l = strlen(ctx->cache_path);
        snprintf(ctx->cache_path + l, sizeof ctx->cache_path - l, "vk-%04x-%04x-%08x.bin",
                 ctx->info.vendor_id, ctx->info.device_id, ctx->info.driver_version);
        FILE *f = fopen(ctx->cache_path, "rb");
        uint32_t hdr[2];
        if (f && fread(hdr, sizeof hdr, 1, f) == 1 && hdr[0] == ET_VK_CACHE_MAGIC &&
            hdr[1] == ET_VK_CACHE_VERSION && !fseek(f, 0, SEEK_END)) {
            long end = ftell(f);
            if (end >= 8 + 32 && end < (64l << 20)) {
                n = (size_t)end - 8;
                data = malloc(n);
                if (!data || fseek(f, 8, SEEK_SET) || fread(data, 1, n, f) != n) {
                    free(data); data = NULL; n = 0;
                }
            }
        }
        if (f) fclose(f);
        /* Vulkan's header: length, version, vendor, device, 16-byte UUID.  A mismatch means
         * the file belongs to another driver; start empty instead of trusting it. */
        if (data) {
            const uint32_t *h = data;
            if (h[0] < 32 || h[2] != ctx->info.vendor_id || h[3] != ctx->info.device_id) {
                free(data); data = NULL; n = 0;
            }
        }
    }
    VkPipelineCacheCreateInfo ci = { .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                     .initialDataSize = n, .pInitialData = data };
    VkResult r = ctx->vk.vkCreatePipelineCache(ctx->dev, &ci, NULL, &ctx->pcache);
    if (r != VK_SUCCESS && data) {   /* a corrupt cache is not an error: start empty */
        ci.initialDataSize = 0; ci.pInitialData = NULL;
        r = ctx->vk.vkCreatePipelineCache(ctx->dev, &ci, NULL, &ctx->pcache);
    }
    free(data);
    if (r != VK_SUCCESS)
        return et__vk_fail(ctx, "vkCreatePipelineCache: %s", et__vk_result_str(r));
    return 0;
}

void et__vk_pcache_save(et_vk_ctx *ctx) {
    if (!ctx->pcache) return;
    size_t n = 0;
    void *data = NULL;
    if (ctx->cache_path[0] && ctx->npipes > 0 &&
        ctx->vk.vkGetPipelineCacheData(ctx->dev, ctx->pcache, &n, NULL) == VK_SUCCESS && n &&
        (data = malloc(n)) &&
        ctx->vk.vkGetPipelineCacheData(ctx->dev, ctx->pcache, &n, data) == VK_SUCCESS) {
        char tmp[1100];
        snprintf(tmp, sizeof tmp, "%s.%d.tmp", ctx->cache_path, (int)getpid());
        if (!et__vk_mkdirs(tmp)) {
            FILE *f = fopen(tmp, "wb");
            uint32_t hdr[2] = { ET_VK_CACHE_MAGIC, ET_VK_CACHE_VERSION };
            bool ok = f && fwrite(hdr, sizeof hdr, 1, f) == 1 && fwrite(data, 1, n, f) == n;
            if (f && fclose(f)) ok = false;
            if (ok) rename(tmp, ctx->cache_path);   /* atomic: readers never see half a file */
            else remove(tmp);
        }
    }
    free(data);
    ctx->vk.vkDestroyPipelineCache(ctx->dev, ctx->pcache, NULL);
    ctx->pcache = VK_NULL_HANDLE;
}

void et__vk_pipes_destroy(et_vk_ctx *ctx) {
    for (uint32_t i = 0; i < ctx->npipes; i++) {
        et__vk_pipe *p = &ctx->pipes[i];
        ctx->vk.vkDestroyPipeline(ctx->dev, p->pipe, NULL);
        ctx->vk.vkDestroyPipelineLayout(ctx->dev, p->layout, NULL);
        ctx->vk.vkDestroyDescriptorSetLayout(ctx->dev, p->dsl, NULL);
    }
    free(ctx->pipes);
    ctx->pipes = NULL;
    ctx->npipes = ctx->cap_pipes = 0;
}

int et__vk_pipe_get(et_vk_ctx *ctx, const char *name, const uint32_t *spec, uint32_t nspec,
                    uint32_t nbind, et__vk_pipe **out) {
    if (nspec > ET_VK_MAX_SPEC || nbind > ET_VK_MAX_BINDINGS || strlen(name) >= 64)
        return et__vk_fail(ctx, "pipeline '%s': %u spec constants / %u bindings over the limit",
                           name, nspec, nbind);
    for (uint32_t i = 0; i < ctx->npipes; i++) {
        et__vk_pipe *p = &ctx->pipes[i];
        if (p->nspec == nspec && p->nbind == nbind && !strcmp(p->name, name) &&
            !memcmp(p->spec, spec, nspec * sizeof *spec)) {
            *out = p;
            return 0;
        }
    }
    const et_vk_spv *spv = NULL;
    for (uint32_t i = 0; i < et_vk_spv_count && !spv; i++)
        if (!strcmp(et_vk_spv_table[i].name, name)) spv = &et_vk_spv_table[i];
    if (!spv) return et__vk_fail(ctx, "no embedded shader named '%s'", name);
    if (ctx->npipes == ctx->cap_pipes) {
        uint32_t cap = ctx->cap_pipes ? 2 * ctx->cap_pipes : 32;
        et__vk_pipe *np = realloc(ctx->pipes, cap * sizeof *np);
        if (!np) return et__vk_fail(ctx, "out of memory");
        ctx->pipes = np;
        ctx->cap_pipes = cap;
    }
    et__vk_pipe *p = &ctx->pipes[ctx->npipes];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->shader = spv->name;
    memcpy(p->spec, spec, nspec * sizeof *spec);
    p->nspec = nspec; p->nbind = nbind;

    VkDescriptorSetLayoutBinding b[ET_VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < nbind; i++)
        b[i] = (VkDescriptorSetLayoutBinding){ .binding = i, .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT };
    VkDescriptorSetLayoutCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, .bindingCount = nbind,
        .pBindings = b };
    VkPushConstantRange pr = { .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0,
                               .size = ET_VK_MAX_PUSH };
    VkShaderModuleCreateInfo sci = { .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                     .codeSize = spv->nwords * 4u, .pCode = spv->words };
    VkSpecializationMapEntry me[ET_VK_MAX_SPEC];
    for (uint32_t i = 0; i < nspec; i++)
        me[i] = (VkSpecializationMapEntry){ .constantID = i, .offset = 4 * i, .size = 4 };
    VkSpecializationInfo si = { .mapEntryCount = nspec, .pMapEntries = me,
                                .dataSize = 4u * nspec, .pData = p->spec };
    VkShaderModule mod = VK_NULL_HANDLE;
    VkResult r = ctx->vk.vkCreateDescriptorSetLayout(ctx->dev, &dci, NULL, &p->dsl);
    if (r == VK_SUCCESS) {
        VkPipelineLayoutCreateInfo lci = { .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
            .setLayoutCount = 1, .pSetLayouts = &p->dsl, .pushConstantRangeCount = 1,
            .pPushConstantRanges = &pr };
        r = ctx->vk.vkCreatePipelineLayout(ctx->dev, &lci, NULL, &p->layout);
    }
    if (r == VK_SUCCESS) r = ctx->vk.vkCreateShaderModule(ctx->dev, &sci, NULL, &mod);
    if (r == VK_SUCCESS) {
        VkComputePipelineCreateInfo cci = {
            .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
            .stage = { .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                       .stage = VK_SHADER_STAGE_COMPUTE_BIT, .module = mod, .pName = "main",
                       .pSpecializationInfo = nspec ? &si : NULL },
            .layout = p->layout };
        r = ctx->vk.vkCreateComputePipelines(ctx->dev, ctx->pcache, 1, &cci, NULL, &p->pipe);
        ctx->vk.vkDestroyShaderModule(ctx->dev, mod, NULL);
    }
    if (r != VK_SUCCESS) {
        if (p->layout) ctx->vk.vkDestroyPipelineLayout(ctx->dev, p->layout, NULL);
        if (p->dsl) ctx->vk.vkDestroyDescriptorSetLayout(ctx->dev, p->dsl, NULL);
        return et__vk_fail(ctx, "creating pipeline '%s': %s", name, et__vk_result_str(r));
    }
    ctx->npipes++;
    *out = p;
    return 0;
}
