/* The Vulkan backend behind engine/backend.h's table: the same planned graphs the CPU runs,
 * recorded as one command buffer per run() and submitted once. */
#ifndef ET_VK_BACKEND_H
#define ET_VK_BACKEND_H

#include <stddef.h>
#include "backend.h"

/* Open Vulkan device `device` (-1: EDGETUNE_VK_DEVICE or the best one).  NULL with `err` set
 * when there is no Vulkan (the caller then stays on et_backend_cpu()). */
et_backend *et_vk_backend_new(int device, char *err, size_t err_len);

/* Forget every tensor with id >= first_id, freeing its device buffers: call when
 * et_ctx_reset() has dropped them (or before their ids are reused), so a later graph's new
 * tensors get fresh buffers and their inputs are uploaded again.  A no-op on other backends. */
void et_vk_backend_forget(et_backend *be, int32_t first_id);

/* GPU time of each dispatch of the backend's last run, labelled with the graph node it
 * computed (a node may take several dispatches); returns the count, 0 for a non-Vulkan
 * backend or a queue without timestamps.  The per-op profile of a training step. */
typedef struct et_vk_timing et_vk_timing;
int et_vk_backend_timings(et_backend *be, const et_vk_timing **out);

/* The Vulkan device's name (for logs), NULL for a non-Vulkan backend. */
const char *et_vk_backend_device(et_backend *be);

/* The backend a `--device` argument names: "cpu", "vulkan" (EDGETUNE_VK_DEVICE or the best
 * device), "vulkan:N", or "auto" (Vulkan when a device opens, else the CPU — saying once on
 * stderr why).  NULL with `err` naming the bad value or the Vulkan failure.  Free a Vulkan
 * backend with be->free(be); the CPU backend is static (free is a no-op). */
et_backend *et_backend_open(const char *spec, char *err, size_t err_len);
/* Only the syntax of a --device value (commands check it before loading anything). */
bool et_backend_spec_ok(const char *spec, char *err, size_t err_len);

#endif
