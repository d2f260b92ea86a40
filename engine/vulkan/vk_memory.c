/* Device memory and buffers.
 *
 * Unified-memory devices (phones, integrated GPUs, lavapipe): every chunk lives in memory that
 * is device-local *and* host-visible, mapped once; uploads and downloads are memcpy, no extra
 * copy.  Discrete GPUs (or EDGETUNE_VK_STAGING=1): chunks are device-local only, and transfers
 * go through a host-visible staging buffer with vkCmdCopyBuffer, one submit per transfer.
 *
 * A buffer is split into chunks of whole rows, each at most the binding limit (see vk.h), so a
 * weight larger than one storage binding is tiled transparently: shaders bind one chunk and
 * get the chunk's first row as a push constant.  An optional tail (NF4's double-quantization
 * scales) gets a chunk of its own so every row chunk's shader can bind it.
 */
#include <stdlib.h>
#include <string.h>
#include "vk_internal.h"

static int et__vk_memtype(et_vk_ctx *ctx, uint32_t bits, VkMemoryPropertyFlags want,
                          VkMemoryPropertyFlags avoid) {
    const VkPhysicalDeviceMemoryProperties *mp = &ctx->memprops;
    for (uint32_t t = 0; t < mp->memoryTypeCount; t++)
        if ((bits & (1u << t)) && (mp->memoryTypes[t].propertyFlags & want) == want &&
            !(mp->memoryTypes[t].propertyFlags & avoid))
            return (int)t;
    return -1;
}

int et__vk_raw_alloc(et_vk_ctx *ctx, uint64_t bytes, bool host, VkBufferUsageFlags usage,
                     VkBuffer *buf, VkDeviceMemory *mem, void **map) {
    *buf = VK_NULL_HANDLE; *mem = VK_NULL_HANDLE; *map = NULL;
    VkBufferCreateInfo bci = { .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                               .size = bytes ? bytes : 16, .usage = usage,
                               .sharingMode = VK_SHARING_MODE_EXCLUSIVE };
    VkResult r = ctx->vk.vkCreateBuffer(ctx->dev, &bci, NULL, buf);
    if (r != VK_SUCCESS)
        return et__vk_fail(ctx, "vkCreateBuffer(%llu bytes): %s", (unsigned long long)bytes,
                           et__vk_result_str(r));
    VkMemoryRequirements req;
    ctx->vk.vkGetBufferMemoryRequirements(ctx->dev, *buf, &req);
    const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                     VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    const VkMemoryPropertyFlags dl = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    int t;
    if (host) {   /* prefer device-local + host-visible (unified), else plain host memory */
        t = et__vk_memtype(ctx, req.memoryTypeBits, hv | dl, 0);
        if (t < 0) t = et__vk_memtype(ctx, req.memoryTypeBits, hv, 0);
    } else {      /* device-local; avoid host-visible types when staging is forced */
        t = et__vk_memtype(ctx, req.memoryTypeBits, dl, hv);
        if (t < 0) t = et__vk_memtype(ctx, req.memoryTypeBits, dl, 0);
        if (t < 0) t = et__vk_memtype(ctx, req.memoryTypeBits, 0, 0);
    }
    if (t < 0) {
        ctx->vk.vkDestroyBuffer(ctx->dev, *buf, NULL);
        *buf = VK_NULL_HANDLE;
        return et__vk_fail(ctx, "no memory type for a %s buffer of %llu bytes (type bits 0x%x)",
                           host ? "host-visible" : "device", (unsigned long long)bytes,
                           req.memoryTypeBits);
    }
    VkMemoryAllocateInfo mai = { .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                 .allocationSize = req.size, .memoryTypeIndex = (uint32_t)t };
    r = ctx->vk.vkAllocateMemory(ctx->dev, &mai, NULL, mem);
    if (r == VK_SUCCESS) r = ctx->vk.vkBindBufferMemory(ctx->dev, *buf, *mem, 0);
    if (r == VK_SUCCESS && host) r = ctx->vk.vkMapMemory(ctx->dev, *mem, 0, VK_WHOLE_SIZE, 0, map);
    if (r != VK_SUCCESS) {
        et__vk_raw_free(ctx, *buf, *mem, NULL);
        *buf = VK_NULL_HANDLE; *mem = VK_NULL_HANDLE; *map = NULL;
        return et__vk_fail(ctx, "allocating %llu bytes of %s memory: %s",
                           (unsigned long long)bytes, host ? "host-visible" : "device",
                           et__vk_result_str(r));
    }
    return 0;
}

void et__vk_raw_free(et_vk_ctx *ctx, VkBuffer buf, VkDeviceMemory mem, void *map) {
    if (map) ctx->vk.vkUnmapMemory(ctx->dev, mem);
    if (buf) ctx->vk.vkDestroyBuffer(ctx->dev, buf, NULL);
    if (mem) ctx->vk.vkFreeMemory(ctx->dev, mem, NULL);
}

et_vk_buf *et_vk_buf_alloc(et_vk_ctx *ctx, uint64_t nrows, uint64_t row_bytes,
                           uint64_t tail_bytes) {
    const uint64_t lim = ctx->lim.max_binding_bytes;
    if (row_bytes == 0 || row_bytes > lim - 16) {
        et__vk_fail(ctx, "buffer row of %llu bytes does not fit one binding (%llu bytes)",
                    (unsigned long long)row_bytes, (unsigned long long)lim);
        return NULL;
    }
    if (tail_bytes > lim - 16) {
        et__vk_fail(ctx, "buffer tail of %llu bytes exceeds one binding (%llu bytes)",
                    (unsigned long long)tail_bytes, (unsigned long long)lim);
        return NULL;
    }
    if (nrows > (UINT64_MAX - tail_bytes) / row_bytes) {
        et__vk_fail(ctx, "buffer of %llu rows x %llu bytes overflows", (unsigned long long)nrows,
                    (unsigned long long)row_bytes);
        return NULL;
    }
    et_vk_buf *b = calloc(1, sizeof *b);
    if (!b) { et__vk_fail(ctx, "out of memory"); return NULL; }
    b->nrows = nrows; b->row_bytes = row_bytes; b->tail_bytes = tail_bytes;
    b->has_tail = tail_bytes > 0;
    /* 16 bytes of slack per chunk: shaders read packed data as 32-bit words, and rows of
     * odd-sized blocks (Q8_0's 34 bytes) end mid-word. */
    b->chunk_rows = (lim - 16) / row_bytes;
    uint64_t nrc = nrows ? (nrows + b->chunk_rows - 1) / b->chunk_rows : 1;
    b->nchunks = (uint32_t)nrc + (b->has_tail ? 1 : 0);
    b->chunks = calloc(b->nchunks, sizeof *b->chunks);
    if (!b->chunks) { free(b); et__vk_fail(ctx, "out of memory"); return NULL; }
    const bool host = ctx->lim.unified_memory;
    const VkBufferUsageFlags usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
        VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    uint64_t off = 0;
    for (uint32_t c = 0; c < b->nchunks; c++) {
        et__vk_chunk *ch = &b->chunks[c];
        if (b->has_tail && c == b->nchunks - 1) {
            ch->bytes = tail_bytes;
        } else {
            uint64_t r0 = (uint64_t)c * b->chunk_rows;
            uint64_t rows = nrows - r0 < b->chunk_rows ? nrows - r0 : b->chunk_rows;
            ch->bytes = rows * row_bytes;
        }
        ch->offset = off;
        off += ch->bytes;
        ch->alloc = (ch->bytes + 16 + 15) & ~(uint64_t)15;
        if (et__vk_raw_alloc(ctx, ch->alloc, host, usage, &ch->buf, &ch->mem, &ch->map)) {
            et_vk_buf_free(ctx, b);
            return NULL;
        }
        if (ch->map) memset(ch->map, 0, ch->alloc);
    }
    if (!host) {   /* zero device-only chunks so slack words read as 0, like the host path */
        for (uint32_t c = 0; c < b->nchunks; c++) {
            void *z = calloc(1, b->chunks[c].alloc);
            int bad = !z || et_vk_buf_upload(ctx, b, b->chunks[c].offset, z, b->chunks[c].bytes);
            free(z);
            if (bad) { et_vk_buf_free(ctx, b); return NULL; }
        }
    }
    return b;
}

et_vk_buf *et_vk_buf_alloc_bytes(et_vk_ctx *ctx, uint64_t nbytes) {
    return et_vk_buf_alloc(ctx, 1, nbytes ? nbytes : 4, 0);
}

et_vk_buf *et_vk_buf_view(et_vk_ctx *ctx, const et_vk_buf *parent, uint64_t offset,
                          uint64_t nbytes) {
    if (!parent || offset > et_vk_buf_size(parent) || nbytes > et_vk_buf_size(parent) - offset) {
        et__vk_fail(ctx, "buffer view [%llu, +%llu) outside its buffer", (unsigned long long)offset,
                    (unsigned long long)nbytes);
        return NULL;
    }
    const et__vk_chunk *pc = NULL;
    for (uint32_t c = 0; c < parent->nchunks && !pc; c++)
        if (offset >= parent->chunks[c].offset &&
            offset + nbytes <= parent->chunks[c].offset + parent->chunks[c].bytes)
            pc = &parent->chunks[c];
    if (!pc) {
        et__vk_fail(ctx, "buffer view [%llu, +%llu) spans two chunks", (unsigned long long)offset,
                    (unsigned long long)nbytes);
        return NULL;
    }
    uint64_t rel = pc->bind_off + (offset - pc->offset);
    if (rel % ctx->info.min_storage_align) {
        et__vk_fail(ctx, "buffer view offset %llu is not a multiple of the device's storage "
                    "alignment %llu", (unsigned long long)rel,
                    (unsigned long long)ctx->info.min_storage_align);
        return NULL;
    }
    et_vk_buf *b = calloc(1, sizeof *b);
    et__vk_chunk *ch = calloc(1, sizeof *ch);
    if (!b || !ch) { free(b); free(ch); et__vk_fail(ctx, "out of memory"); return NULL; }
    *ch = (et__vk_chunk){ .buf = pc->buf, .mem = pc->mem,
                          .map = pc->map ? (uint8_t *)pc->map + (offset - pc->offset) : NULL,
                          .bytes = nbytes, .offset = 0, .bind_off = rel,
                          .alloc = pc->bind_off + pc->alloc - rel };
    *b = (et_vk_buf){ .nchunks = 1, .borrowed = true, .nrows = 1, .row_bytes = nbytes,
                      .chunk_rows = 1, .chunks = ch };
    return b;
}

et_vk_buf *et_vk_buf_view_rows(et_vk_ctx *ctx, const et_vk_buf *parent, uint64_t offset,
                               uint64_t nrows, uint64_t row_bytes) {
    if (row_bytes == 0 || nrows > UINT64_MAX / row_bytes) {
        et__vk_fail(ctx, "buffer view of %llu rows x %llu bytes", (unsigned long long)nrows,
                    (unsigned long long)row_bytes);
        return NULL;
    }
    et_vk_buf *b = et_vk_buf_view(ctx, parent, offset, nrows * row_bytes);
    if (b) { b->nrows = nrows; b->row_bytes = row_bytes; b->chunk_rows = nrows ? nrows : 1; }
    return b;
}

void et_vk_buf_free(et_vk_ctx *ctx, et_vk_buf *b) {
    if (!b) return;
    for (uint32_t c = 0; c < b->nchunks && !b->borrowed; c++)
        et__vk_raw_free(ctx, b->chunks[c].buf, b->chunks[c].mem, b->chunks[c].map);
    free(b->chunks);
    free(b);
}

uint64_t et_vk_buf_size(const et_vk_buf *b) { return b->nrows * b->row_bytes + b->tail_bytes; }
uint32_t et_vk_buf_nchunks(const et_vk_buf *b) { return b->nchunks; }
uint64_t et_vk_buf_chunk_rows(const et_vk_buf *b) { return b->chunk_rows; }
bool et_vk_buf_has_tail(const et_vk_buf *b) { return b->has_tail; }

/* One staging copy between host memory and part of a chunk, submitted and waited for. */
static int et__vk_staged(et_vk_ctx *ctx, const et__vk_chunk *ch, uint64_t off, void *host,
                         uint64_t n, bool to_device) {
    if (ctx->recording)
        return et__vk_fail(ctx, "buffer transfer while a recording is open (submit first)");
    VkBuffer sb; VkDeviceMemory sm; void *map;
    if (et__vk_raw_alloc(ctx, n, true, VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                         VK_BUFFER_USAGE_TRANSFER_DST_BIT, &sb, &sm, &map))
        return -1;
    if (to_device) memcpy(map, host, n);
    ctx->vk.vkResetCommandPool(ctx->dev, ctx->cpool, 0);
    VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT };
    ctx->vk.vkBeginCommandBuffer(ctx->cmd, &bi);
    /* Order against earlier shader work on the chunk, and make the copy visible to later. */
    VkMemoryBarrier mb = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                           .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT,
                           .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT |
                                            VK_ACCESS_TRANSFER_WRITE_BIT };
    ctx->vk.vkCmdPipelineBarrier(ctx->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                 VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    uint64_t at = ch->bind_off + off;
    VkBufferCopy cp = { .srcOffset = to_device ? 0 : at, .dstOffset = to_device ? at : 0,
                        .size = n };
    if (to_device) ctx->vk.vkCmdCopyBuffer(ctx->cmd, sb, ch->buf, 1, &cp);
    else ctx->vk.vkCmdCopyBuffer(ctx->cmd, ch->buf, sb, 1, &cp);
    VkMemoryBarrier mb2 = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                            .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                            .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_HOST_READ_BIT |
                                             VK_ACCESS_SHADER_WRITE_BIT };
    ctx->vk.vkCmdPipelineBarrier(ctx->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                                 VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                                 VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb2, 0, NULL, 0, NULL);
    ctx->vk.vkEndCommandBuffer(ctx->cmd);
    VkSubmitInfo si = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1,
                        .pCommandBuffers = &ctx->cmd };
    ctx->vk.vkResetFences(ctx->dev, 1, &ctx->fence);
    VkResult r = ctx->vk.vkQueueSubmit(ctx->queue, 1, &si, ctx->fence);
    if (r == VK_SUCCESS) r = ctx->vk.vkWaitForFences(ctx->dev, 1, &ctx->fence, VK_TRUE, UINT64_MAX);
    if (r == VK_SUCCESS && !to_device) memcpy(host, map, n);
    et__vk_raw_free(ctx, sb, sm, map);
    if (r != VK_SUCCESS) return et__vk_fail(ctx, "staging copy: %s", et__vk_result_str(r));
    return 0;
}

static int et__vk_xfer(et_vk_ctx *ctx, const et_vk_buf *b, uint64_t off, void *host, uint64_t n,
                       bool to_device) {
    uint64_t size = et_vk_buf_size(b);
    if (off > size || n > size - off)
        return et__vk_fail(ctx, "%s of bytes [%llu, %llu) outside a %llu-byte buffer",
                           to_device ? "upload" : "download", (unsigned long long)off,
                           (unsigned long long)(off + n), (unsigned long long)size);
    uint8_t *h = host;
    for (uint32_t c = 0; c < b->nchunks && n > 0; c++) {
        const et__vk_chunk *ch = &b->chunks[c];
        if (off >= ch->offset + ch->bytes) continue;
        uint64_t lo = off - ch->offset;
        uint64_t m = ch->bytes - lo < n ? ch->bytes - lo : n;
        if (ch->map) {
            if (to_device) memcpy((uint8_t *)ch->map + lo, h, m);
            else memcpy(h, (uint8_t *)ch->map + lo, m);
        } else if (et__vk_staged(ctx, ch, lo, h, m, to_device)) {
            return -1;
        }
        h += m; off += m; n -= m;
    }
    return 0;
}

int et_vk_buf_upload(et_vk_ctx *ctx, et_vk_buf *b, uint64_t off, const void *src, uint64_t n) {
    return et__vk_xfer(ctx, b, off, (void *)src, n, true);
}

int et_vk_buf_download(et_vk_ctx *ctx, const et_vk_buf *b, uint64_t off, void *dst,
                       uint64_t n) {
    return et__vk_xfer(ctx, b, off, dst, n, false);
}
