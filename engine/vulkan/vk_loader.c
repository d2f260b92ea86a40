/* The dynamic Vulkan loader: libvulkan is dlopen'ed at first use, never linked, so the
 * edgetune binary starts (and computes on the CPU) on machines without any Vulkan driver.
 *
 * As volk does: vkGetInstanceProcAddr is the one symbol taken from the library; global entry
 * points come from it with a NULL instance, instance entry points with the instance, and
 * device entry points from vkGetDeviceProcAddr, which skips the loader's per-call dispatch.
 * The list of entry points is vk_funcs.def.  A missing *required* entry point is an error
 * naming it; vkEnumerateInstanceVersion is optional (Vulkan 1.0 loaders lack it).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vk_internal.h"

static pthread_mutex_t et__vk_lib_lock = PTHREAD_MUTEX_INITIALIZER;
static void *et__vk_lib;                          /* dlopen handle, process lifetime */
static PFN_vkGetInstanceProcAddr et__vk_gipa;
static char et__vk_lib_err[256];

const char *et__vk_result_str(VkResult r) {
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_INCOMPLETE: return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FORMAT_NOT_SUPPORTED: return "VK_ERROR_FORMAT_NOT_SUPPORTED";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    case VK_ERROR_UNKNOWN: return "VK_ERROR_UNKNOWN";
    default: return "VkResult(other)";
    }
}

/* Opens the library once per process; later calls return the first outcome. */
static PFN_vkGetInstanceProcAddr et__vk_open_lib(char *err, size_t err_len) {
    pthread_mutex_lock(&et__vk_lib_lock);
    if (!et__vk_lib && !et__vk_lib_err[0]) {
        const char *over = getenv("EDGETUNE_VK_LOADER");
        const char *names[] = { over, "libvulkan.so.1", "libvulkan.so" };
        for (int i = over ? 0 : 1; i < 3 && !et__vk_lib; i++) {
            et__vk_lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
            if (over) break;            /* an explicit override is the only candidate */
        }
        if (!et__vk_lib) {
            const char *e = dlerror();
            snprintf(et__vk_lib_err, sizeof et__vk_lib_err, "cannot dlopen %s: %s",
                     over ? over : "libvulkan.so.1 or libvulkan.so", e ? e : "unknown");
        } else {
            et__vk_gipa = (PFN_vkGetInstanceProcAddr)dlsym(et__vk_lib, "vkGetInstanceProcAddr");
            if (!et__vk_gipa)
                snprintf(et__vk_lib_err, sizeof et__vk_lib_err,
                         "the Vulkan library has no symbol vkGetInstanceProcAddr");
        }
    }
    PFN_vkGetInstanceProcAddr r = et__vk_gipa;
    if (!r) snprintf(err, err_len, "%s", et__vk_lib_err);
    pthread_mutex_unlock(&et__vk_lib_lock);
    return r;
}

int et__vk_load_global(et__vk_fns *fns, char *err, size_t err_len) {
    memset(fns, 0, sizeof *fns);
    fns->vkGetInstanceProcAddr = et__vk_open_lib(err, err_len);
    if (!fns->vkGetInstanceProcAddr) return -1;
#define ET_VK_GLOBAL(f) fns->f = (PFN_##f)fns->vkGetInstanceProcAddr(NULL, #f);
#define ET_VK_INSTANCE(f)
#define ET_VK_DEVICE(f)
#include "vk_funcs.def"
#undef ET_VK_GLOBAL
#undef ET_VK_INSTANCE
#undef ET_VK_DEVICE
    if (!fns->vkCreateInstance) {
        snprintf(err, err_len, "the Vulkan loader lacks vkCreateInstance");
        return -1;
    }
    return 0;
}

int et__vk_load_instance(et__vk_fns *fns, VkInstance inst, char *err, size_t err_len) {
    const char *missing = NULL;
#define ET_VK_GLOBAL(f)
#define ET_VK_INSTANCE(f)                                                                   \
    fns->f = (PFN_##f)fns->vkGetInstanceProcAddr(inst, #f);                                 \
    if (!fns->f && !missing) missing = #f;
#define ET_VK_DEVICE(f)
#include "vk_funcs.def"
#undef ET_VK_GLOBAL
#undef ET_VK_INSTANCE
#undef ET_VK_DEVICE
    if (missing) {
        snprintf(err, err_len, "the Vulkan instance lacks %s (a Vulkan 1.1 loader is needed)",
                 missing);
        return -1;
    }
    return 0;
}

int et__vk_load_device(et__vk_fns *fns, VkDevice dev, char *err, size_t err_len) {
    const char *missing = NULL;
#define ET_VK_GLOBAL(f)
#define ET_VK_INSTANCE(f)
#define ET_VK_DEVICE(f)                                                                     \
    fns->f = (PFN_##f)fns->vkGetDeviceProcAddr(dev, #f);                                    \
    if (!fns->f && !missing) missing = #f;
#include "vk_funcs.def"
#undef ET_VK_GLOBAL
#undef ET_VK_INSTANCE
#undef ET_VK_DEVICE
    if (missing) {
        snprintf(err, err_len, "the Vulkan device lacks entry point %s", missing);
        return -1;
    }
    return 0;
}
