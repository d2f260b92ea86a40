/* Vulkan instance, device discovery and choice, the features that matter to edgetune's
 * shaders, and the limits the engine plans with (EDGETUNE_VK_LIMITS=mobile clamps them the way
 * a weak phone GPU would, so CI on lavapipe runs every fallback and the tile splitting).
 *
 * The instance asks for Vulkan 1.1 (subgroup properties, 16-bit storage are core there);
 * 1.2 features (8-bit storage, shaderFloat16, shaderInt8) are read through the extension
 * structs when the device is older and advertises the extension.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vk_internal.h"

int et__vk_fail(et_vk_ctx *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
    return -1;
}

const char *et_vk_error(const et_vk_ctx *ctx) { return ctx ? ctx->err : "no Vulkan context"; }
const et_vk_device_info *et_vk_info(const et_vk_ctx *ctx) { return &ctx->info; }
const et_vk_limits *et_vk_get_limits(const et_vk_ctx *ctx) { return &ctx->lim; }
et_vk_tuning *et_vk_tuning_get(et_vk_ctx *ctx) { return &ctx->tune; }

int et__vk_instance_create(et__vk_fns *fns, VkInstance *inst, char *err, size_t err_len) {
    if (et__vk_load_global(fns, err, err_len)) return -1;
    uint32_t ver = VK_API_VERSION_1_0;
    if (fns->vkEnumerateInstanceVersion) fns->vkEnumerateInstanceVersion(&ver);
    if (ver < VK_API_VERSION_1_1) {
        snprintf(err, err_len, "the Vulkan loader is version %u.%u; edgetune needs 1.1",
                 VK_API_VERSION_MAJOR(ver), VK_API_VERSION_MINOR(ver));
        return -1;
    }
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "edgetune",
        .pEngineName = "edgetune", .apiVersion = ver >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3
                                                 : ver,
    };
    VkInstanceCreateInfo ci = { .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                                .pApplicationInfo = &app };
    VkResult r = fns->vkCreateInstance(&ci, NULL, inst);
    if (r != VK_SUCCESS) {
        snprintf(err, err_len, "vkCreateInstance failed: %s", et__vk_result_str(r));
        return -1;
    }
    if (et__vk_load_instance(fns, *inst, err, err_len)) {
        if (fns->vkDestroyInstance) fns->vkDestroyInstance(*inst, NULL);
        return -1;
    }
    return 0;
}

static bool et__vk_has_ext(const et__vk_fns *fns, VkPhysicalDevice pd, const char *name) {
    uint32_t n = 0;
    if (fns->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS) return false;
    VkExtensionProperties *e = calloc(n ? n : 1, sizeof *e);
    if (!e) return false;
    fns->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, e);
    bool found = false;
    for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(e[i].extensionName, name);
    free(e);
    return found;
}

/* Feature structs chained for both the query and device creation. */
typedef struct et__vk_feats {
    VkPhysicalDeviceFeatures2                      f2;
    VkPhysicalDevice16BitStorageFeatures           s16;
    VkPhysicalDevice8BitStorageFeatures            s8;
    VkPhysicalDeviceShaderFloat16Int8Features      f16i8;
    VkPhysicalDeviceShaderIntegerDotProductFeatures dot;
    bool has_s8, has_f16i8, has_dot;
} et__vk_feats;

static void et__vk_feats_chain(const et__vk_fns *fns, VkPhysicalDevice pd, uint32_t api,
                               et__vk_feats *f) {
    memset(f, 0, sizeof *f);
    f->f2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    f->s16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES;
    f->f2.pNext = &f->s16;
    void **tail = &f->s16.pNext;
    f->has_s8 = api >= VK_API_VERSION_1_2 || et__vk_has_ext(fns, pd, "VK_KHR_8bit_storage");
    f->has_f16i8 = api >= VK_API_VERSION_1_2 ||
                   et__vk_has_ext(fns, pd, "VK_KHR_shader_float16_int8");
    f->has_dot = api >= VK_API_VERSION_1_3 ||
                 et__vk_has_ext(fns, pd, "VK_KHR_shader_integer_dot_product");
    if (f->has_s8) {
        f->s8.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES;
        *tail = &f->s8; tail = &f->s8.pNext;
    }
    if (f->has_f16i8) {
        f->f16i8.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES;
        *tail = &f->f16i8; tail = &f->f16i8.pNext;
    }
    if (f->has_dot) {
        f->dot.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES;
        *tail = &f->dot; tail = &f->dot.pNext;
    }
}

void et__vk_query_info(const et__vk_fns *fns, VkPhysicalDevice pd, et_vk_device_info *info) {
    memset(info, 0, sizeof *info);
    VkPhysicalDeviceProperties p0;
    fns->vkGetPhysicalDeviceProperties(pd, &p0);
    VkPhysicalDeviceSubgroupProperties sg = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES };
    VkPhysicalDeviceDriverProperties drv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES };
    VkPhysicalDeviceShaderIntegerDotProductProperties dotp = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES };
    bool has_drv = p0.apiVersion >= VK_API_VERSION_1_2 ||
                   et__vk_has_ext(fns, pd, "VK_KHR_driver_properties");
    bool has_dotp = p0.apiVersion >= VK_API_VERSION_1_3 ||
                    et__vk_has_ext(fns, pd, "VK_KHR_shader_integer_dot_product");
    VkPhysicalDeviceProperties2 p2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                       .pNext = &sg };
    void **tail = &sg.pNext;
    if (has_drv) { *tail = &drv; tail = &drv.pNext; }
    if (has_dotp) { *tail = &dotp; tail = &dotp.pNext; }
    fns->vkGetPhysicalDeviceProperties2(pd, &p2);
    const VkPhysicalDeviceProperties *p = &p2.properties;

    snprintf(info->name, sizeof info->name, "%s", p->deviceName);
    if (has_drv) {
        snprintf(info->driver_name, sizeof info->driver_name, "%s", drv.driverName);
        snprintf(info->driver_info, sizeof info->driver_info, "%s", drv.driverInfo);
    }
    info->api_version = p->apiVersion;
    info->driver_version = p->driverVersion;
    info->vendor_id = p->vendorID;
    info->device_id = p->deviceID;
    info->type = p->deviceType;
    info->max_storage_range = p->limits.maxStorageBufferRange;
    info->max_shared_bytes = p->limits.maxComputeSharedMemorySize;
    info->max_invocations = p->limits.maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) info->max_wg_count[i] = p->limits.maxComputeWorkGroupCount[i];
    info->min_storage_align = p->limits.minStorageBufferOffsetAlignment;
    info->timestamp_period_ns = p->limits.timestampPeriod;
    info->timestamps = p->limits.timestampComputeAndGraphics;
    info->subgroup_size = sg.subgroupSize;
    info->subgroup_ops = sg.supportedOperations;
    info->subgroup_compute = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
    info->int_dot_accel = has_dotp && dotp.integerDotProduct4x8BitPackedSignedAccelerated;

    et__vk_feats f;
    et__vk_feats_chain(fns, pd, p->apiVersion, &f);
    fns->vkGetPhysicalDeviceFeatures2(pd, &f.f2);
    info->storage16 = f.s16.storageBuffer16BitAccess;
    info->storage8 = f.has_s8 && f.s8.storageBuffer8BitAccess;
    info->fp16 = f.has_f16i8 && f.f16i8.shaderFloat16;
    info->int8 = f.has_f16i8 && f.f16i8.shaderInt8;
    info->int_dot = f.has_dot && f.dot.shaderIntegerDotProduct;

    /* Unified memory: the biggest device-local heap also has a host-visible, coherent type. */
    VkPhysicalDeviceMemoryProperties mp;
    fns->vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    uint32_t big = UINT32_MAX;
    for (uint32_t h = 0; h < mp.memoryHeapCount; h++)
        if ((mp.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            (big == UINT32_MAX || mp.memoryHeaps[h].size > mp.memoryHeaps[big].size))
            big = h;
    if (big != UINT32_MAX) {
        info->device_local_bytes = mp.memoryHeaps[big].size;
        const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT |
            VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
        for (uint32_t t = 0; t < mp.memoryTypeCount; t++)
            if (mp.memoryTypes[t].heapIndex == big &&
                (mp.memoryTypes[t].propertyFlags & want) == want)
                info->unified_memory = true;
    }
}

static const char *et__vk_type_name(int t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU (software)";
    default: return "other";
    }
}

/* Enumerate physical devices of a fresh instance; the caller destroys the instance. */
static int et__vk_enum(et__vk_fns *fns, VkInstance *inst, VkPhysicalDevice **pds,
                       char *err, size_t err_len) {
    if (et__vk_instance_create(fns, inst, err, err_len)) return -1;
    uint32_t n = 0;
    VkResult r = fns->vkEnumeratePhysicalDevices(*inst, &n, NULL);
    if (r != VK_SUCCESS || n == 0) {
        snprintf(err, err_len, "no Vulkan device (vkEnumeratePhysicalDevices: %s, %u devices)",
                 et__vk_result_str(r), n);
        fns->vkDestroyInstance(*inst, NULL);
        return -1;
    }
    *pds = calloc(n, sizeof **pds);
    if (!*pds) {
        snprintf(err, err_len, "out of memory listing %u devices", n);
        fns->vkDestroyInstance(*inst, NULL);
        return -1;
    }
    fns->vkEnumeratePhysicalDevices(*inst, &n, *pds);
    return (int)n;
}

int et_vk_list_devices(et_vk_device_info *out, int max, char *err, size_t err_len) {
    et__vk_fns fns;
    VkInstance inst;
    VkPhysicalDevice *pds = NULL;
    int n = et__vk_enum(&fns, &inst, &pds, err, err_len);
    if (n < 0) return -1;
    for (int i = 0; i < n && i < max; i++) et__vk_query_info(&fns, pds[i], &out[i]);
    free(pds);
    fns.vkDestroyInstance(inst, NULL);
    return n;
}

bool et_vk_available(char *why, size_t why_len) {
    static int said;
    char err[256] = "";
    et_vk_device_info info;
    bool ok = et_vk_list_devices(&info, 1, err, sizeof err) > 0;
    if (!ok && !__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
        fprintf(stderr, "edgetune: no Vulkan (%s): running on the CPU\n", err);
    if (why) snprintf(why, why_len, "%s", ok ? "" : err);
    return ok;
}

int et_vk_print_devices(FILE *f) {
    enum { MAXDEV = 16 };
    et_vk_device_info info[MAXDEV];
    char err[256];
    int n = et_vk_list_devices(info, MAXDEV, err, sizeof err);
    if (n < 0) {
        fprintf(f, "no Vulkan devices: %s\n", err);
        return -1;
    }
    for (int i = 0; i < n && i < MAXDEV; i++) {
        const et_vk_device_info *d = &info[i];
        uint32_t ops = d->subgroup_ops;
        fprintf(f, "vulkan:%d  %s  [%s]\n", i, d->name, et__vk_type_name(d->type));
        fprintf(f, "    api %u.%u.%u  driver %s %s (0x%08x)  vendor 0x%04x device 0x%04x\n",
                VK_API_VERSION_MAJOR(d->api_version), VK_API_VERSION_MINOR(d->api_version),
                VK_API_VERSION_PATCH(d->api_version), d->driver_name[0] ? d->driver_name : "?",
                d->driver_info, d->driver_version, d->vendor_id, d->device_id);
        fprintf(f, "    storage 16-bit %s, 8-bit %s; shaderFloat16 %s; shaderInt8 %s; "
                   "integer dot product %s%s\n",
                d->storage16 ? "yes" : "no", d->storage8 ? "yes" : "no", d->fp16 ? "yes" : "no",
                d->int8 ? "yes" : "no", d->int_dot ? "yes" : "no",
                d->int_dot ? (d->int_dot_accel ? " (accelerated)" : " (not accelerated)") : "");
        fprintf(f, "    subgroup size %u in compute %s; ops:%s%s%s%s%s%s\n", d->subgroup_size,
                d->subgroup_compute ? "yes" : "no",
                ops & VK_SUBGROUP_FEATURE_BASIC_BIT ? " basic" : "",
                ops & VK_SUBGROUP_FEATURE_VOTE_BIT ? " vote" : "",
                ops & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT ? " arithmetic" : "",
                ops & VK_SUBGROUP_FEATURE_BALLOT_BIT ? " ballot" : "",
                ops & VK_SUBGROUP_FEATURE_SHUFFLE_BIT ? " shuffle" : "",
                ops & VK_SUBGROUP_FEATURE_QUAD_BIT ? " quad" : "");
        fprintf(f, "    max storage buffer range %llu MiB; shared memory %u KiB; "
                   "%u invocations/workgroup\n",
                (unsigned long long)(d->max_storage_range >> 20), d->max_shared_bytes >> 10,
                d->max_invocations);
        fprintf(f, "    memory: %s, %llu MiB device-local; timestamps %s\n",
                d->unified_memory ? "unified (host-visible, no staging)"
                                  : "discrete (device-local + staging)",
                (unsigned long long)(d->device_local_bytes >> 20),
                d->timestamps ? "yes" : "no");
    }
    const char *sel = getenv("EDGETUNE_VK_DEVICE");
    const char *lim = getenv("EDGETUNE_VK_LIMITS");
    if (sel) fprintf(f, "EDGETUNE_VK_DEVICE=%s\n", sel);
    if (lim) fprintf(f, "EDGETUNE_VK_LIMITS=%s\n", lim);
    return n;
}

static int et__vk_rank(int type) {
    switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
    default: return 0;
    }
}

/* The limits the engine plans with: the device's, clamped as a phone under mobile. */
static int et__vk_set_limits(et_vk_ctx *ctx) {
    const et_vk_device_info *d = &ctx->info;
    et_vk_limits *l = &ctx->lim;
    const uint64_t adreno_cap = 128ull << 20;
    l->max_binding_bytes = d->max_storage_range < adreno_cap ? d->max_storage_range : adreno_cap;
    l->max_shared_bytes = d->max_shared_bytes;
    l->max_invocations = d->max_invocations;
    l->fp16 = d->fp16;
    l->int8 = d->int8;
    const uint32_t need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
    l->subgroups = d->subgroup_compute && (d->subgroup_ops & need) == need &&
                   d->subgroup_size > 0;
    l->subgroup_size = l->subgroups ? d->subgroup_size : 0;
    const char *st = getenv("EDGETUNE_VK_STAGING");
    l->unified_memory = d->unified_memory && !(st && !strcmp(st, "1"));
    const char *m = getenv("EDGETUNE_VK_LIMITS");
    if (m && *m) {
        /* "mobile", or "mobile:BYTES" with a smaller binding size so tests tile small data */
        uint64_t bind = 1u << 20;
        if (!strncmp(m, "mobile:", 7)) {
            char *end;
            unsigned long long v = strtoull(m + 7, &end, 10);
            if (*end || v < 1024 || v > bind)
                return et__vk_fail(ctx, "EDGETUNE_VK_LIMITS='%s': binding bytes must be in "
                                   "[1024, 1048576]", m);
            bind = v;
        } else if (strcmp(m, "mobile")) {
            return et__vk_fail(ctx, "EDGETUNE_VK_LIMITS='%s' is unknown (use 'mobile', "
                               "'mobile:BYTES' or unset)", m);
        }
        l->mobile = true;
        if (l->max_binding_bytes > bind) l->max_binding_bytes = bind;
        if (l->max_shared_bytes > 16384) l->max_shared_bytes = 16384;
        if (l->max_invocations > 256) l->max_invocations = 256;
        l->fp16 = l->int8 = l->subgroups = false;
        l->subgroup_size = 0;
    }
    /* Defaults that fit every device that reaches here, a clamped phone included:
     * 256 invocations, (32+32)·16 floats = 8 KiB of shared memory per matmul tile. */
    et_vk_tuning *t = &ctx->tune;
    t->subgroups = l->subgroups;
    t->fp16 = false;              /* fp32 arithmetic unless asked: fp16 loses precision */
    t->wg = l->max_invocations >= 128 ? 128 : 64;
    t->mm_ts = l->max_invocations >= 256 ? 16 : 8;
    t->mm_rm = t->mm_rn = 2;
    t->mm_bk = 16;
    t->matvec_max_tokens = 4;
    return 0;
}

et_vk_ctx *et_vk_open(int index, char *err, size_t err_len) {
    et_vk_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) { snprintf(err, err_len, "out of memory"); return NULL; }
    VkPhysicalDevice *pds = NULL;
    int n = et__vk_enum(&ctx->vk, &ctx->inst, &pds, err, err_len);
    if (n < 0) { free(ctx); return NULL; }
    const char *env = getenv("EDGETUNE_VK_DEVICE");
    if (index < 0 && env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end || v < 0 || v >= n) {
            snprintf(err, err_len, "EDGETUNE_VK_DEVICE='%s' is not a device index in [0, %d)",
                     env, n);
            goto fail;
        }
        index = (int)v;
    }
    if (index >= n) {
        snprintf(err, err_len, "Vulkan device %d requested; only %d present", index, n);
        goto fail;
    }
    if (index < 0) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            et_vk_device_info di;
            et__vk_query_info(&ctx->vk, pds[i], &di);
            if (best < 0 || et__vk_rank(di.type) > best) { best = et__vk_rank(di.type); index = i; }
        }
    }
    ctx->pd = pds[index];
    et__vk_query_info(&ctx->vk, ctx->pd, &ctx->info);
    ctx->vk.vkGetPhysicalDeviceMemoryProperties(ctx->pd, &ctx->memprops);
    if (et__vk_set_limits(ctx)) { snprintf(err, err_len, "%s", ctx->err); goto fail; }

    uint32_t nq = 0;
    ctx->vk.vkGetPhysicalDeviceQueueFamilyProperties(ctx->pd, &nq, NULL);
    VkQueueFamilyProperties qf[32];
    if (nq > 32) nq = 32;
    ctx->vk.vkGetPhysicalDeviceQueueFamilyProperties(ctx->pd, &nq, qf);
    ctx->qfamily = UINT32_MAX;
    for (uint32_t i = 0; i < nq; i++)   /* prefer a compute queue without graphics */
        if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) &&
            (ctx->qfamily == UINT32_MAX || !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)))
            ctx->qfamily = i;
    if (ctx->qfamily == UINT32_MAX) {
        snprintf(err, err_len, "device '%s' has no compute queue", ctx->info.name);
        goto fail;
    }
    ctx->timestamp_bits = qf[ctx->qfamily].timestampValidBits;

    et__vk_feats f;
    et__vk_feats_chain(&ctx->vk, ctx->pd, ctx->info.api_version, &f);
    ctx->vk.vkGetPhysicalDeviceFeatures2(ctx->pd, &f.f2);
    /* Enable exactly what the shaders may use, nothing else (keeps drivers on fast paths). */
    VkPhysicalDeviceFeatures2 en = f.f2;
    memset(&en.features, 0, sizeof en.features);
    en.features.shaderInt16 = f.f2.features.shaderInt16;
    f.f2 = en;
    const char *exts[4];
    uint32_t next = 0;
    if (ctx->info.api_version < VK_API_VERSION_1_2) {
        if (f.has_s8) exts[next++] = "VK_KHR_8bit_storage";
        if (f.has_f16i8) exts[next++] = "VK_KHR_shader_float16_int8";
    }
    if (ctx->info.api_version < VK_API_VERSION_1_3 && f.has_dot)
        exts[next++] = "VK_KHR_shader_integer_dot_product";
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = { .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                    .queueFamilyIndex = ctx->qfamily, .queueCount = 1,
                                    .pQueuePriorities = &prio };
    VkDeviceCreateInfo dci = { .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = &f.f2,
                               .queueCreateInfoCount = 1, .pQueueCreateInfos = &qci,
                               .enabledExtensionCount = next, .ppEnabledExtensionNames = exts };
    VkResult r = ctx->vk.vkCreateDevice(ctx->pd, &dci, NULL, &ctx->dev);
    if (r != VK_SUCCESS) {
        snprintf(err, err_len, "vkCreateDevice('%s') failed: %s", ctx->info.name,
                 et__vk_result_str(r));
        goto fail;
    }
    if (et__vk_load_device(&ctx->vk, ctx->dev, err, err_len)) goto fail;
    ctx->vk.vkGetDeviceQueue(ctx->dev, ctx->qfamily, 0, &ctx->queue);
    if (!getenv("EDGETUNE_VK_NO_TUNE")) et_vk_tuning_load(ctx);
    if (et__vk_pcache_open(ctx) || et__vk_cmd_init(ctx)) {
        snprintf(err, err_len, "%s", ctx->err);
        goto fail;
    }
    free(pds);
    return ctx;
fail:
    free(pds);
    et_vk_close(ctx);
    return NULL;
}

void et_vk_close(et_vk_ctx *ctx) {
    if (!ctx) return;
    if (ctx->dev) {
        ctx->vk.vkDeviceWaitIdle(ctx->dev);
        et__vk_cmd_destroy(ctx);
        et__vk_pcache_save(ctx);
        et__vk_pipes_destroy(ctx);
        ctx->vk.vkDestroyDevice(ctx->dev, NULL);
    }
    if (ctx->inst) ctx->vk.vkDestroyInstance(ctx->inst, NULL);
    free(ctx);
}
