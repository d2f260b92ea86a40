/* Recording: many dispatches into one command buffer, the barriers they need, one submit, and
 * timestamp queries around every dispatch for per-op GPU time.
 *
 * Barriers: the recorder remembers which buffers were read and written since the last barrier.
 * A dispatch that reads or writes a buffer written since then (read-after-write,
 * write-after-write), or writes one read since then (write-after-read), gets a compute→compute
 * memory barrier first; independent dispatches (different outputs, shared read-only inputs)
 * get none and may overlap on the GPU.  Hazards are tracked per VkBuffer, i.e. per chunk (views
 * of one buffer count as the whole buffer: conservative, never wrong).
 *
 * Descriptor sets come from pools of 256 sets; a recording that needs more opens another
 * pool, and et_vk_begin resets them all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vk_internal.h"

#define ET_VK_SETS_PER_POOL 256
#define ET_VK_MAX_STAMPS    16384    /* dispatches timed per submit (2 queries each) */

int et__vk_cmd_init(et_vk_ctx *ctx) {
    VkCommandPoolCreateInfo pci = { .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                    .queueFamilyIndex = ctx->qfamily };
    VkResult r = ctx->vk.vkCreateCommandPool(ctx->dev, &pci, NULL, &ctx->cpool);
    if (r == VK_SUCCESS) {
        VkCommandBufferAllocateInfo ai = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
            .commandPool = ctx->cpool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
            .commandBufferCount = 1 };
        r = ctx->vk.vkAllocateCommandBuffers(ctx->dev, &ai, &ctx->cmd);
    }
    if (r == VK_SUCCESS) {
        VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
        r = ctx->vk.vkCreateFence(ctx->dev, &fci, NULL, &ctx->fence);
    }
    if (r != VK_SUCCESS) return et__vk_fail(ctx, "command pool setup: %s", et__vk_result_str(r));
    if (ctx->timestamp_bits > 0 && ctx->info.timestamps) {
        VkQueryPoolCreateInfo qci = { .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                      .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                      .queryCount = 2 * ET_VK_MAX_STAMPS };
        if (ctx->vk.vkCreateQueryPool(ctx->dev, &qci, NULL, &ctx->qpool) == VK_SUCCESS)
            ctx->qcap = ET_VK_MAX_STAMPS;
        ctx->labels = calloc(ET_VK_MAX_STAMPS, sizeof *ctx->labels);
        ctx->tags = calloc(ET_VK_MAX_STAMPS, sizeof *ctx->tags);
        ctx->shaders = calloc(ET_VK_MAX_STAMPS, sizeof *ctx->shaders);
        ctx->timings = calloc(ET_VK_MAX_STAMPS, sizeof *ctx->timings);
        if (!ctx->labels || !ctx->tags || !ctx->shaders || !ctx->timings)
            return et__vk_fail(ctx, "out of memory");
    }
    return 0;
}

void et__vk_cmd_destroy(et_vk_ctx *ctx) {
    for (uint32_t i = 0; i < ctx->ndpools; i++)
        ctx->vk.vkDestroyDescriptorPool(ctx->dev, ctx->dpools[i], NULL);
    free(ctx->dpools);
    if (ctx->qpool) ctx->vk.vkDestroyQueryPool(ctx->dev, ctx->qpool, NULL);
    if (ctx->fence) ctx->vk.vkDestroyFence(ctx->dev, ctx->fence, NULL);
    if (ctx->cpool) ctx->vk.vkDestroyCommandPool(ctx->dev, ctx->cpool, NULL);
    free(ctx->acc);
    free(ctx->labels);
    free(ctx->tags);
    free(ctx->shaders);
    free(ctx->timings);
}

int et_vk_begin(et_vk_ctx *ctx) {
    if (ctx->recording) return et__vk_fail(ctx, "et_vk_begin: a recording is already open");
    for (uint32_t i = 0; i < ctx->ndpools; i++)
        ctx->vk.vkResetDescriptorPool(ctx->dev, ctx->dpools[i], 0);
    ctx->cur_dpool = 0;
    ctx->nacc = 0;
    ctx->nbarriers = 0;
    ctx->nstamps = 0;
    ctx->ntimings = 0;
    ctx->tag = -1;
    ctx->vk.vkResetCommandPool(ctx->dev, ctx->cpool, 0);
    VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT };
    VkResult r = ctx->vk.vkBeginCommandBuffer(ctx->cmd, &bi);
    if (r != VK_SUCCESS) return et__vk_fail(ctx, "vkBeginCommandBuffer: %s", et__vk_result_str(r));
    if (ctx->qpool) ctx->vk.vkCmdResetQueryPool(ctx->cmd, ctx->qpool, 0, 2 * ctx->qcap);
    /* Host writes to mapped memory before the submit become visible to the shaders. */
    VkMemoryBarrier mb = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                           .srcAccessMask = VK_ACCESS_HOST_WRITE_BIT,
                           .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT };
    ctx->vk.vkCmdPipelineBarrier(ctx->cmd, VK_PIPELINE_STAGE_HOST_BIT,
                                 VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    ctx->recording = true;
    return 0;
}

static VkDescriptorSet et__vk_alloc_set(et_vk_ctx *ctx, VkDescriptorSetLayout dsl) {
    for (;;) {
        if (ctx->cur_dpool == ctx->ndpools) {
            VkDescriptorPoolSize ps = { .type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                        .descriptorCount = ET_VK_SETS_PER_POOL *
                                                           ET_VK_MAX_BINDINGS };
            VkDescriptorPoolCreateInfo ci = {
                .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                .maxSets = ET_VK_SETS_PER_POOL, .poolSizeCount = 1, .pPoolSizes = &ps };
            VkDescriptorPool *np = realloc(ctx->dpools, (ctx->ndpools + 1) * sizeof *np);
            if (!np) return VK_NULL_HANDLE;
            ctx->dpools = np;
            if (ctx->vk.vkCreateDescriptorPool(ctx->dev, &ci, NULL, &np[ctx->ndpools]) !=
                VK_SUCCESS)
                return VK_NULL_HANDLE;
            ctx->ndpools++;
        }
        VkDescriptorSetAllocateInfo ai = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
            .descriptorPool = ctx->dpools[ctx->cur_dpool], .descriptorSetCount = 1,
            .pSetLayouts = &dsl };
        VkDescriptorSet set;
        VkResult r = ctx->vk.vkAllocateDescriptorSets(ctx->dev, &ai, &set);
        if (r == VK_SUCCESS) return set;
        if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL)
            return VK_NULL_HANDLE;
        ctx->cur_dpool++;           /* this pool is full: next (or a new) one */
    }
}

static bool et__vk_hazard(const et_vk_ctx *ctx, VkBuffer b, bool write) {
    for (uint32_t i = 0; i < ctx->nacc; i++)
        if (ctx->acc[i].buf == b && (write || ctx->acc[i].write)) return true;
    return false;
}

static int et__vk_note(et_vk_ctx *ctx, VkBuffer b, bool write) {
    for (uint32_t i = 0; i < ctx->nacc; i++)
        if (ctx->acc[i].buf == b) { ctx->acc[i].write |= write; return 0; }
    if (ctx->nacc == ctx->cap_acc) {
        uint32_t cap = ctx->cap_acc ? 2 * ctx->cap_acc : 64;
        et__vk_access *na = realloc(ctx->acc, cap * sizeof *na);
        if (!na) return et__vk_fail(ctx, "out of memory");
        ctx->acc = na;
        ctx->cap_acc = cap;
    }
    ctx->acc[ctx->nacc++] = (et__vk_access){ b, write };
    return 0;
}

int et_vk_dispatch(et_vk_ctx *ctx, const char *shader, const uint32_t *spec, uint32_t nspec,
                   const et_vk_bind *binds, uint32_t nbind, const void *push,
                   uint32_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz,
                   const char *label) {
    if (!ctx->recording) return et__vk_fail(ctx, "et_vk_dispatch('%s') outside a recording", shader);
    if (push_bytes > ET_VK_MAX_PUSH || (push_bytes && !push))
        return et__vk_fail(ctx, "dispatch '%s': %u push-constant bytes (max %d)", shader,
                           push_bytes, ET_VK_MAX_PUSH);
    for (int i = 0; i < 3; i++) {
        uint32_t g = i == 0 ? gx : i == 1 ? gy : gz;
        if (g == 0 || g > ctx->info.max_wg_count[i])
            return et__vk_fail(ctx, "dispatch '%s': %u workgroups in dimension %d (max %u)",
                               shader, g, i, ctx->info.max_wg_count[i]);
    }
    VkDescriptorBufferInfo bi[ET_VK_MAX_BINDINGS];
    VkWriteDescriptorSet w[ET_VK_MAX_BINDINGS];
    bool hazard = false;
    if (nbind > ET_VK_MAX_BINDINGS)
        return et__vk_fail(ctx, "dispatch '%s': %u bindings (max %d)", shader, nbind,
                           ET_VK_MAX_BINDINGS);
    for (uint32_t i = 0; i < nbind; i++) {
        const et_vk_buf *b = binds[i].buf;
        if (!b || binds[i].chunk >= b->nchunks)
            return et__vk_fail(ctx, "dispatch '%s': binding %u has no buffer or chunk %u",
                               shader, i, binds[i].chunk);
        const et__vk_chunk *ch = &b->chunks[binds[i].chunk];
        bi[i] = (VkDescriptorBufferInfo){ .buffer = ch->buf, .offset = ch->bind_off,
                                          .range = ch->alloc };
        hazard |= et__vk_hazard(ctx, ch->buf, binds[i].write);
    }
    et__vk_pipe *p;
    if (et__vk_pipe_get(ctx, shader, spec, nspec, nbind, &p)) return -1;
    VkDescriptorSet set = et__vk_alloc_set(ctx, p->dsl);
    if (!set) return et__vk_fail(ctx, "dispatch '%s': cannot allocate a descriptor set", shader);
    for (uint32_t i = 0; i < nbind; i++)
        w[i] = (VkWriteDescriptorSet){ .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set, .dstBinding = i, .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = &bi[i] };
    ctx->vk.vkUpdateDescriptorSets(ctx->dev, nbind, w, 0, NULL);

    VkCommandBuffer cb = ctx->cmd;
    if (hazard) {
        VkMemoryBarrier mb = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                               .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                               .dstAccessMask = VK_ACCESS_SHADER_READ_BIT |
                                                VK_ACCESS_SHADER_WRITE_BIT };
        ctx->vk.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                     VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL,
                                     0, NULL);
        ctx->nbarriers++;
        ctx->nacc = 0;
    }
    for (uint32_t i = 0; i < nbind; i++)
        if (et__vk_note(ctx, bi[i].buffer, binds[i].write)) return -1;
    ctx->vk.vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipe);
    ctx->vk.vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set,
                                    0, NULL);
    if (push_bytes) {
        uint8_t pc[ET_VK_MAX_PUSH] = { 0 };
        memcpy(pc, push, push_bytes);
        ctx->vk.vkCmdPushConstants(cb, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                                   ET_VK_MAX_PUSH, pc);
    }
    bool timed = ctx->qpool && ctx->nstamps < ctx->qcap;
    if (timed)
        ctx->vk.vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, ctx->qpool,
                                    2 * ctx->nstamps);
    ctx->vk.vkCmdDispatch(cb, gx, gy, gz);
    if (timed) {
        ctx->vk.vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, ctx->qpool,
                                    2 * ctx->nstamps + 1);
        ctx->tags[ctx->nstamps] = ctx->tag;
        ctx->shaders[ctx->nstamps] = p->shader;
        snprintf(ctx->labels[ctx->nstamps++], 64, "%s",
                 ctx->label[0] ? ctx->label : label ? label : shader);
    }
    return 0;
}

int et_vk_submit(et_vk_ctx *ctx) {
    if (!ctx->recording) return et__vk_fail(ctx, "et_vk_submit without et_vk_begin");
    ctx->recording = false;
    VkMemoryBarrier mb = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                           .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                           .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT };
    ctx->vk.vkCmdPipelineBarrier(ctx->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                 VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0,
                                 1, &mb, 0, NULL, 0, NULL);
    VkResult r = ctx->vk.vkEndCommandBuffer(ctx->cmd);
    if (r != VK_SUCCESS) return et__vk_fail(ctx, "vkEndCommandBuffer: %s", et__vk_result_str(r));
    VkSubmitInfo si = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1,
                        .pCommandBuffers = &ctx->cmd };
    ctx->vk.vkResetFences(ctx->dev, 1, &ctx->fence);
    r = ctx->vk.vkQueueSubmit(ctx->queue, 1, &si, ctx->fence);
    if (r == VK_SUCCESS) r = ctx->vk.vkWaitForFences(ctx->dev, 1, &ctx->fence, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS) return et__vk_fail(ctx, "queue submit: %s", et__vk_result_str(r));
    if (ctx->nstamps) {
        uint64_t *q = malloc(2 * ctx->nstamps * sizeof *q);
        if (!q) return et__vk_fail(ctx, "out of memory");
        r = ctx->vk.vkGetQueryPoolResults(ctx->dev, ctx->qpool, 0, 2 * ctx->nstamps,
                                          2 * ctx->nstamps * sizeof *q, q, sizeof *q,
                                          VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
        if (r == VK_SUCCESS) {
            uint64_t mask = ctx->timestamp_bits >= 64 ? ~0ull
                                                      : (1ull << ctx->timestamp_bits) - 1;
            const double per = ctx->info.timestamp_period_ns;
            for (uint32_t i = 0; i < ctx->nstamps; i++) {
                uint64_t d = ((q[2 * i + 1] - q[2 * i]) & mask);
                uint64_t s0 = ((q[2 * i] - q[0]) & mask);
                ctx->timings[i] = (et_vk_timing){ .label = ctx->labels[i], .ns = (double)d * per,
                                                  .tag = ctx->tags[i], .start_ns = (double)s0 * per,
                                                  .shader = ctx->shaders[i] };
            }
            ctx->ntimings = ctx->nstamps;
        }
        free(q);
    }
    return 0;
}

int et_vk_timings(const et_vk_ctx *ctx, const et_vk_timing **out) {
    *out = ctx->timings;
    return (int)ctx->ntimings;
}

uint32_t et_vk_barrier_count(const et_vk_ctx *ctx) { return ctx->nbarriers; }

void et_vk_set_label(et_vk_ctx *ctx, const char *label) {
    snprintf(ctx->label, sizeof ctx->label, "%s", label ? label : "");
}

void et_vk_set_tag(et_vk_ctx *ctx, int32_t tag) { ctx->tag = tag; }
