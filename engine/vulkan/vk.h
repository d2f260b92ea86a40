/* The Vulkan backend's public interface: device discovery, buffers, and recording of compute
 * dispatches into one submit.  Everything here works — and reports "no Vulkan" cleanly — on
 * a machine without a Vulkan driver: libvulkan is opened with dlopen at first use
 * (vk_loader.c), never linked.
 *
 *   et_vk_ctx  one device: instance, logical device, a compute queue, pipelines, pools.
 *   et_vk_buf  a buffer split into chunks ("tiles") of whole rows, each small enough for one
 *              storage-buffer binding (maxStorageBufferRange, and at most 128 MiB as Adreno
 *              drivers require; 1 MiB under EDGETUNE_VK_LIMITS=mobile).  Uploads and downloads
 *              see one contiguous byte range; shaders see one chunk per binding.
 *
 * A recording: et_vk_begin(), any number of et_vk_dispatch() (barriers are inserted only
 * where a dispatch touches a buffer an earlier one wrote, or writes one an earlier one read),
 * et_vk_submit() — one vkQueueSubmit, then per-dispatch GPU times from timestamp queries.
 *
 * Environment: EDGETUNE_VK_DEVICE=N picks device N of `edgetune devices`;
 * EDGETUNE_VK_LIMITS=mobile clamps limits like a weak phone GPU (1 MiB per binding, 16 KiB
 * shared memory, 256 invocations, no fp16/int8/subgroups; mobile:BYTES also lowers the binding
 * size, so tests tile small weights into many chunks); EDGETUNE_VK_STAGING=1 forces
 * device-local memory + staging copies even on unified-memory devices (so CI exercises that
 * path); EDGETUNE_VK_NO_TUNE=1 ignores a stored autotuning (vk_tune.c);
 * EDGETUNE_VK_NO_CACHE=1 skips the on-disk pipeline cache; EDGETUNE_VK_LOADER=path overrides the library dlopen'ed (tests use a bogus path to
 * exercise the no-driver path).  Errors come back as a negative status with a message from
 * et_vk_error() naming the call and the bad value; nothing here exits or aborts.
 */
#ifndef ET_VK_H
#define ET_VK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct et_vk_ctx et_vk_ctx;
typedef struct et_vk_buf et_vk_buf;

#define ET_VK_MAX_BINDINGS 8
#define ET_VK_MAX_SPEC     12
#define ET_VK_MAX_PUSH     128   /* the minimum maxPushConstantsSize Vulkan guarantees */

/* What a device offers, as reported by the driver (before any mobile clamp). */
typedef struct et_vk_device_info {
    char     name[256];
    char     driver_name[256];
    char     driver_info[256];
    uint32_t api_version, driver_version, vendor_id, device_id;
    int      type;                 /* VkPhysicalDeviceType */
    bool     storage16, storage8;  /* 16/8-bit storage buffer access */
    bool     fp16, int8;           /* shaderFloat16, shaderInt8 */
    bool     int_dot;              /* shaderIntegerDotProduct (feature) */
    bool     int_dot_accel;        /* 4x8-bit packed signed dot product accelerated */
    uint32_t subgroup_size;
    uint32_t subgroup_ops;         /* VkSubgroupFeatureFlags */
    bool     subgroup_compute;     /* subgroup ops supported in compute shaders */
    uint64_t max_storage_range;
    uint32_t max_shared_bytes;
    uint32_t max_invocations;
    uint32_t max_wg_count[3];
    uint64_t min_storage_align;
    bool     unified_memory;       /* one memory heap that is device-local and host-visible */
    uint64_t device_local_bytes;
    bool     timestamps;
    float    timestamp_period_ns;
} et_vk_device_info;

/* The limits the engine actually plans with (the device's, or clamped). */
typedef struct et_vk_limits {
    uint64_t max_binding_bytes;    /* bytes one storage binding may cover */
    uint32_t max_shared_bytes;
    uint32_t max_invocations;
    bool     fp16, int8, subgroups;
    uint32_t subgroup_size;        /* 0 when subgroups are off */
    bool     unified_memory;       /* false also when EDGETUNE_VK_STAGING=1 */
    bool     mobile;               /* EDGETUNE_VK_LIMITS=mobile in effect */
} et_vk_limits;

/* Which shader variants and tile sizes the op helpers (vk_ops.c) use.  Defaults come from the
 * limits at et_vk_open; tests and the autotuner change them through et_vk_tuning_get().  A
 * variant the limits forbid (fp16 under mobile) is never used whatever these say. */
typedef struct et_vk_tuning {
    bool     subgroups;           /* use subgroup reductions where the device has them */
    bool     fp16;                /* use fp16-arithmetic variants where the device has them */
    uint32_t wg;                  /* invocations for row-reduction shaders (power of two) */
    uint32_t mm_ts, mm_rm, mm_rn, mm_bk;   /* matmul tile: TS×TS threads, RM×RN each, BK deep */
    uint32_t matvec_max_tokens;   /* T at or below this uses matvec, above it tiled matmul */
} et_vk_tuning;

/* Stored autotuning (vk_tune.c): et_vk_open applies a stored choice for this device, driver
 * and limits (mobile is stored apart); save writes the context's current tuning. */
bool        et_vk_tuning_valid(const et_vk_ctx *ctx, const et_vk_tuning *t);
int         et_vk_tuning_save(et_vk_ctx *ctx);
int         et_vk_tuning_load(et_vk_ctx *ctx);   /* 1 applied, 0 none or ignored */
const char *et_vk_tuning_path(const et_vk_ctx *ctx, char *buf, size_t n);

/* Per-dispatch GPU time of the last submit (ns); label as passed to et_vk_dispatch (or set by
 * et_vk_set_label), tag as set by et_vk_set_tag (-1: none; the backend tags each dispatch
 * with its graph node), start_ns from the first timed dispatch's start, shader the variant's
 * name (a static string). */
typedef struct et_vk_timing {
    const char *label;
    double      ns;
    int32_t     tag;
    double      start_ns;
    const char *shader;
} et_vk_timing;

/* ---- discovery ---------------------------------------------------------------------- */
/* True when a Vulkan loader and at least one device exist.  The first failure is reported once
 * on stderr ("edgetune: no Vulkan (...): running on the CPU"); `why` gets the reason. */
bool et_vk_available(char *why, size_t why_len);
/* Fill up to `max` infos; returns the device count, or -1 with `err` set. */
int  et_vk_list_devices(et_vk_device_info *out, int max, char *err, size_t err_len);
/* Pretty-print the devices (for `edgetune devices`); returns the count, -1 on error. */
int  et_vk_print_devices(FILE *f);

/* ---- context ------------------------------------------------------------------------ */
/* Open device `index` (-1: EDGETUNE_VK_DEVICE, else the best: discrete > integrated > virtual
 * > cpu).  NULL with `err` set on failure. */
et_vk_ctx *et_vk_open(int index, char *err, size_t err_len);
void       et_vk_close(et_vk_ctx *ctx);
const et_vk_device_info *et_vk_info(const et_vk_ctx *ctx);
const et_vk_limits      *et_vk_get_limits(const et_vk_ctx *ctx);
const char              *et_vk_error(const et_vk_ctx *ctx);
et_vk_tuning            *et_vk_tuning_get(et_vk_ctx *ctx);
/* Where the pipeline cache lives ("" if none could be chosen). */
const char *et_vk_cache_path(const et_vk_ctx *ctx);

/* ---- buffers ------------------------------------------------------------------------ */
/* A buffer of `nrows` rows of `row_bytes` bytes, then `tail_bytes` that get a chunk of their
 * own (NF4's scales).  Chunks hold whole rows only. */
et_vk_buf *et_vk_buf_alloc(et_vk_ctx *ctx, uint64_t nrows, uint64_t row_bytes,
                           uint64_t tail_bytes);
/* A plain buffer of n bytes (one row of n bytes per chunk is not what you want for big data:
 * use et_vk_buf_alloc with a real row size when shaders must see it tiled). */
et_vk_buf *et_vk_buf_alloc_bytes(et_vk_ctx *ctx, uint64_t nbytes);
/* A view of bytes [offset, offset + nbytes) of `parent` (within one chunk; the offset must be a
 * multiple of the device's minStorageBufferOffsetAlignment): binds, uploads and downloads like
 * a buffer of its own, shares the memory.  Free it before the parent. */
et_vk_buf *et_vk_buf_view(et_vk_ctx *ctx, const et_vk_buf *parent, uint64_t offset,
                          uint64_t nbytes);
/* The same view seen as nrows rows of row_bytes (one chunk): a weight over an activation's or a
 * trained parameter's buffer, so matrix shaders and AdamW share one copy. */
et_vk_buf *et_vk_buf_view_rows(et_vk_ctx *ctx, const et_vk_buf *parent, uint64_t offset,
                               uint64_t nrows, uint64_t row_bytes);
void       et_vk_buf_free(et_vk_ctx *ctx, et_vk_buf *b);
uint64_t   et_vk_buf_size(const et_vk_buf *b);          /* rows + tail, in bytes */
uint32_t   et_vk_buf_nchunks(const et_vk_buf *b);       /* row chunks, then the tail chunk */
uint64_t   et_vk_buf_chunk_rows(const et_vk_buf *b);    /* rows per full row chunk */
bool       et_vk_buf_has_tail(const et_vk_buf *b);
/* Copy bytes [off, off+n) of the buffer's logical contents (crosses chunks transparently). */
int et_vk_buf_upload(et_vk_ctx *ctx, et_vk_buf *b, uint64_t off, const void *src, uint64_t n);
int et_vk_buf_download(et_vk_ctx *ctx, const et_vk_buf *b, uint64_t off, void *dst,
                       uint64_t n);

/* ---- recording ---------------------------------------------------------------------- */
typedef struct et_vk_bind {
    const et_vk_buf *buf;
    uint32_t chunk;     /* which chunk of buf this binding sees */
    bool     write;     /* the shader writes it (drives barriers) */
} et_vk_bind;

int et_vk_begin(et_vk_ctx *ctx);
/* Record one dispatch of embedded shader `shader` (a name from shaders/variants.txt) with
 * specialization constants spec[0..nspec) (constant_id i = spec[i]), bindings 0..nbind-1 of
 * set 0, push constants, and a grid of workgroups. */
int et_vk_dispatch(et_vk_ctx *ctx, const char *shader, const uint32_t *spec, uint32_t nspec,
                   const et_vk_bind *binds, uint32_t nbind, const void *push,
                   uint32_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz,
                   const char *label);
/* End, submit once, wait.  Returns 0 or a negative status. */
int et_vk_submit(et_vk_ctx *ctx);
/* Label the following dispatches `label` (e.g. the graph node they compute) instead of their
 * shader names in et_vk_timings; NULL or "" goes back to shader names. */
void et_vk_set_label(et_vk_ctx *ctx, const char *label);
/* Tag the following dispatches' timings with `tag` (-1: none, the default after et_vk_begin). */
void et_vk_set_tag(et_vk_ctx *ctx, int32_t tag);
/* Timings of the last submit; returns the count (0 when the queue has no timestamps). */
int et_vk_timings(const et_vk_ctx *ctx, const et_vk_timing **out);
/* Barriers recorded in the last submit (tests check that independent dispatches get none). */
uint32_t et_vk_barrier_count(const et_vk_ctx *ctx);

/* True if the embedded SPIR-V table has this shader variant. */
bool et_vk_has_shader(const char *shader);

#endif
