/*
 * vk_memory.c - device memory for the Vulkan backend: memory types picked by property
 * flags, a first-fit sub-allocator over a few large VkDeviceMemory blocks (respecting
 * maxMemoryAllocationCount and maxMemoryAllocationSize), one VkBuffer per kiln buffer
 * (the planner asks for two per graph; kernels bind each tensor at its own offset),
 * and uploads and downloads: a direct copy into mapped memory on devices whose
 * tensor memory is host-visible, or through a staging buffer otherwise, with
 * flush/invalidate on non-coherent memory. KILN_VK_FORCE_STAGING=1 and
 * KILN_VK_FORCE_NONCOHERENT=1 force those paths on devices that would not need them.
 */
#include <string.h>

#include "vk_impl.h"

#define MIB               ((VkDeviceSize)1 << 20)
#define FIRST_BLOCK       (8 * MIB)   /* blocks double from here ... */
#define MAX_BLOCK         (256 * MIB) /* ... up to this size */
#define MIN_STAGING_BYTES (4 * MIB)
#define MAX_STAGING_BYTES (64 * MIB)

static VkDeviceSize round_up(VkDeviceSize x, VkDeviceSize a)
{
    return a > 1 ? (x + a - 1) / a * a : x;
}

/* ==== Memory types ==== */

/* The first type in bits with all of need, preferring one with all of want; or UINT32_MAX. */
static uint32_t find_type(const struct kiln__vk *vk, uint32_t bits, VkMemoryPropertyFlags need,
                          VkMemoryPropertyFlags want)
{
    uint32_t fallback = UINT32_MAX;
    for (uint32_t i = 0; i < vk->mem_props.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = vk->mem_props.memoryTypes[i].propertyFlags;
        if (!(bits & (1u << i)) || (f & need) != need) {
            continue;
        }
        if ((f & want) == want) {
            return i;
        }
        if (fallback == UINT32_MAX) {
            fallback = i;
        }
    }
    return fallback;
}

static bool type_has(const struct kiln__vk *vk, uint32_t type, VkMemoryPropertyFlags f)
{
    return (vk->mem_props.memoryTypes[type].propertyFlags & f) == f;
}

kiln_status kiln__vk_memory_init(struct kiln__vk *vk)
{
    const VkMemoryPropertyFlags dl = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
    const VkMemoryPropertyFlags hc = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    const VkMemoryPropertyFlags cached = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    uint32_t all = UINT32_MAX;
    /* UMA devices (integrated GPUs, CPUs, Apple) map their device memory; discrete GPUs
     * keep tensors in device-local memory and go through staging. */
    bool uma = vk->props.deviceType != VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU;
    vk->dev_type = UINT32_MAX;
    if (uma && !vk->force_staging) {
        vk->dev_type = find_type(vk, all, dl | hv, hc | cached);
        if (vk->dev_type == UINT32_MAX) {
            vk->dev_type = find_type(vk, all, hv, hc | cached);
        }
        vk->dev_mappable = vk->dev_type != UINT32_MAX;
    }
    if (vk->dev_type == UINT32_MAX) {
        vk->dev_type = find_type(vk, all, dl, 0);
        if (vk->dev_type == UINT32_MAX) {
            vk->dev_type = find_type(vk, all, 0, 0);
        }
        vk->dev_mappable = false;
    }
    vk->stage_type = find_type(vk, all, hv, hc | cached);
    if (vk->dev_type == UINT32_MAX || (!vk->dev_mappable && vk->stage_type == UINT32_MAX)) {
        return KILN_FAIL(KILN_E_BACKEND_UNAVAILABLE,
                         "vulkan: device '%s' has no usable memory type", vk->props.deviceName);
    }
    vk->dev_coherent = vk->dev_mappable && type_has(vk, vk->dev_type, hc) && !vk->force_noncoherent;
    vk->stage_coherent =
        vk->stage_type != UINT32_MAX && type_has(vk, vk->stage_type, hc) && !vk->force_noncoherent;
    vk->block_bytes = FIRST_BLOCK < vk->max_alloc ? FIRST_BLOCK : vk->max_alloc;
    vk->cap_blocks = 16;
    vk->blocks = kiln__alloc(vk->ctx, sizeof(*vk->blocks) * (size_t)vk->cap_blocks, "vk blocks");
    return vk->blocks != NULL ? KILN_OK : KILN_E_OUT_OF_HOST_MEMORY;
}

/* ==== Blocks and sub-allocation ==== */

static VkDeviceSize atom(const struct kiln__vk *vk)
{
    VkDeviceSize a = vk->props.limits.nonCoherentAtomSize;
    return a > 0 ? a : 1;
}

static void block_free(struct kiln__vk *vk, struct kiln__vk_block *b)
{
    if (b->map != NULL) {
        vk->fn.vkUnmapMemory(vk->dev, b->mem);
    }
    vk->fn.vkFreeMemory(vk->dev, b->mem, NULL);
    vk->heap_used -= b->size;
    kiln__dev_release(vk->ctx, b->size);
    kiln__free(vk->ctx, b->used);
    kiln__free(vk->ctx, b);
}

static kiln_status block_new(struct kiln__vk *vk, uint32_t type, VkDeviceSize need,
                             struct kiln__vk_block **out)
{
    uint32_t heap = vk->mem_props.memoryTypes[type].heapIndex;
    VkDeviceSize heap_bytes = vk->mem_props.memoryHeaps[heap].size;
    if ((uint32_t)vk->n_blocks >= vk->max_alloc_count) {
        return KILN_FAIL(KILN_E_OUT_OF_DEVICE_MEMORY,
                         "vulkan: out of device memory allocations: %d blocks are live and the "
                         "device allows %u (maxMemoryAllocationCount); free graphs first",
                         vk->n_blocks, vk->max_alloc_count);
    }
    if (need > vk->max_alloc) {
        return KILN_FAIL(KILN_E_OUT_OF_DEVICE_MEMORY,
                         "vulkan: a buffer of %llu bytes exceeds the device's "
                         "maxMemoryAllocationSize of %llu bytes; use a smaller batch",
                         (unsigned long long)need, (unsigned long long)vk->max_alloc);
    }
    /* Blocks double with the number of live ones: small programs keep small blocks, big
     * ones get few allocations. */
    VkDeviceSize grow = vk->block_bytes << (vk->n_blocks < 5 ? vk->n_blocks : 5);
    grow = grow < MAX_BLOCK ? grow : MAX_BLOCK;
    grow = grow < vk->max_alloc ? grow : vk->max_alloc;
    VkDeviceSize size = round_up(need > grow ? need : grow, atom(vk));
    if (size > vk->max_alloc) {
        size = need;
    }
    /* When KILN_MAX_DEVICE_MEMORY leaves less than a block, blocks are cut to the
     * request (in MiB steps): one block taking all that is left would starve the
     * staging ring, which needs memory of another type. */
    uint64_t room = kiln__dev_headroom(vk->ctx) / atom(vk) * atom(vk);
    if (size > room) {
        size = round_up(round_up(need, MIB), atom(vk));
        size = size > room ? (need > room ? need : room) : size;
    }
    if (vk->n_blocks == vk->cap_blocks) {
        int32_t cap = vk->cap_blocks ? 2 * vk->cap_blocks : 8;
        struct kiln__vk_block **nb = kiln__alloc(vk->ctx, sizeof(*nb) * (size_t)cap, "vk blocks");
        if (nb == NULL) {
            return KILN_E_OUT_OF_HOST_MEMORY;
        }
        if (vk->n_blocks > 0) {
            memcpy(nb, vk->blocks, sizeof(*nb) * (size_t)vk->n_blocks);
        }
        kiln__free(vk->ctx, vk->blocks);
        vk->blocks = nb;
        vk->cap_blocks = cap;
    }
    struct kiln__vk_block *b = kiln__calloc(vk->ctx, sizeof(*b), "a vk memory block");
    if (b == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    b->cap_used = 8;
    b->used = kiln__alloc(vk->ctx, sizeof(*b->used) * (size_t)b->cap_used, "vk ranges");
    if (b->used == NULL) {
        kiln__free(vk->ctx, b);
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    kiln_status s = kiln__dev_reserve(vk->ctx, size, "a memory block");
    if (s != KILN_OK) {
        kiln__free(vk->ctx, b->used);
        kiln__free(vk->ctx, b);
        return s;
    }
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = size,
                               .memoryTypeIndex = type};
    VkResult r = vk->fn.vkAllocateMemory(vk->dev, &ai, NULL, &b->mem);
    if (r != VK_SUCCESS) {
        kiln__dev_release(vk->ctx, size);
    }
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) {
        kiln__free(vk->ctx, b->used);
        kiln__free(vk->ctx, b);
        return KILN_FAIL_NATIVE(KILN_E_OUT_OF_DEVICE_MEMORY, r,
                                "vulkan: out of device memory allocating %llu bytes (for a "
                                "request of %llu) on '%s': heap %u has %llu MiB, kiln holds %llu "
                                "MiB in %d blocks",
                                (unsigned long long)size, (unsigned long long)need,
                                vk->props.deviceName, heap, (unsigned long long)(heap_bytes >> 20),
                                (unsigned long long)(vk->heap_used >> 20), vk->n_blocks);
    }
    if (r != VK_SUCCESS) {
        kiln__free(vk->ctx, b->used);
        kiln__free(vk->ctx, b);
        return kiln__vk_result(r, "vkAllocateMemory");
    }
    b->size = size;
    b->type = type;
    vk->heap_used += size;
    if (type_has(vk, type, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)) {
        void *p = NULL;
        r = vk->fn.vkMapMemory(vk->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &p);
        if (r != VK_SUCCESS) {
            block_free(vk, b);
            return kiln__vk_result(r, "vkMapMemory");
        }
        b->map = p;
    }
    vk->blocks[vk->n_blocks++] = b;
    *out = b;
    return KILN_OK;
}

/* First fit in block b; returns false when it does not fit. */
static bool block_fit(struct kiln__vk_block *b, VkDeviceSize size, VkDeviceSize align,
                      VkDeviceSize *off, int32_t *at)
{
    VkDeviceSize pos = 0;
    for (int32_t i = 0; i <= b->n_used; i++) {
        VkDeviceSize end = i < b->n_used ? b->used[i].off : b->size;
        VkDeviceSize start = round_up(pos, align);
        if (start + size <= end) {
            *off = start;
            *at = i;
            return true;
        }
        if (i < b->n_used) {
            pos = b->used[i].off + b->used[i].size;
        }
    }
    return false;
}

static kiln_status sub_alloc(struct kiln__vk *vk, uint32_t type, VkDeviceSize size,
                             VkDeviceSize align, struct kiln__vk_block **out, VkDeviceSize *off)
{
    struct kiln__vk_block *b = NULL;
    int32_t at = 0;
    for (int32_t i = 0; i < vk->n_blocks && b == NULL; i++) {
        if (vk->blocks[i]->type == type && block_fit(vk->blocks[i], size, align, off, &at)) {
            b = vk->blocks[i];
        }
    }
    if (b == NULL) {
        KILN_TRY(block_new(vk, type, size, &b));
        *off = 0;
        at = 0;
    }
    if (b->n_used == b->cap_used) {
        int32_t cap = b->cap_used ? 2 * b->cap_used : 8;
        struct kiln__vk_range *nu = kiln__alloc(vk->ctx, sizeof(*nu) * (size_t)cap, "vk ranges");
        if (nu == NULL) {
            return KILN_E_OUT_OF_HOST_MEMORY;
        }
        if (b->n_used > 0) {
            memcpy(nu, b->used, sizeof(*nu) * (size_t)b->n_used);
        }
        kiln__free(vk->ctx, b->used);
        b->used = nu;
        b->cap_used = cap;
    }
    memmove(&b->used[at + 1], &b->used[at], sizeof(*b->used) * (size_t)(b->n_used - at));
    b->used[at].off = *off;
    b->used[at].size = size;
    b->n_used++;
    kiln__dev_use(vk->ctx, (int64_t)size);
    *out = b;
    return KILN_OK;
}

static void sub_free(struct kiln__vk *vk, struct kiln__vk_block *b, VkDeviceSize off)
{
    for (int32_t i = 0; i < b->n_used; i++) {
        if (b->used[i].off == off) {
            kiln__dev_use(vk->ctx, -(int64_t)b->used[i].size);
            memmove(&b->used[i], &b->used[i + 1], sizeof(*b->used) * (size_t)(b->n_used - i - 1));
            b->n_used--;
            break;
        }
    }
    if (b->n_used > 0) {
        return;
    }
    for (int32_t i = 0; i < vk->n_blocks; i++) { /* an empty block goes back to the driver */
        if (vk->blocks[i] == b) {
            vk->blocks[i] = vk->blocks[--vk->n_blocks];
            break;
        }
    }
    block_free(vk, b);
}

/* ==== Buffers ==== */

static kiln_status buffer_new(struct kiln__vk *vk, VkDeviceSize n_bytes, uint32_t type,
                              struct kiln_buffer **out)
{
    struct kiln_buffer *b = kiln__calloc(vk->ctx, sizeof(*b), "a vk buffer");
    if (b == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = n_bytes,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = vk->fn.vkCreateBuffer(vk->dev, &bi, NULL, &b->buf);
    if (r != VK_SUCCESS) {
        uint32_t heap = vk->mem_props.memoryTypes[type].heapIndex;
        kiln__free(vk->ctx, b);
        if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) {
            return KILN_FAIL_NATIVE(
                KILN_E_OUT_OF_DEVICE_MEMORY, r,
                "vulkan: out of device memory creating a buffer of %llu bytes on '%s' (heap %u "
                "has %llu MiB, maxMemoryAllocationSize %llu bytes, kiln holds %llu MiB)",
                (unsigned long long)n_bytes, vk->props.deviceName, heap,
                (unsigned long long)(vk->mem_props.memoryHeaps[heap].size >> 20),
                (unsigned long long)vk->max_alloc, (unsigned long long)(vk->heap_used >> 20));
        }
        return kiln__vk_result(r, "vkCreateBuffer");
    }
    VkMemoryRequirements req;
    vk->fn.vkGetBufferMemoryRequirements(vk->dev, b->buf, &req);
    if (!(req.memoryTypeBits & (1u << type))) {
        type = find_type(vk, req.memoryTypeBits, vk->mem_props.memoryTypes[type].propertyFlags, 0);
    }
    kiln_status s = KILN_OK;
    if (type == UINT32_MAX) {
        s = KILN_FAIL(KILN_E_BACKEND_UNAVAILABLE, "vulkan: no memory type fits a storage buffer");
    }
    VkDeviceSize align = req.alignment;
    if (s == KILN_OK && type_has(vk, type, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)) {
        align = round_up(align, atom(vk)); /* flush/invalidate ranges stay inside it */
    }
    if (s == KILN_OK) {
        s = sub_alloc(vk, type, round_up(req.size, atom(vk)), align, &b->block, &b->mem_off);
    }
    if (s == KILN_OK) {
        r = vk->fn.vkBindBufferMemory(vk->dev, b->buf, b->block->mem, b->mem_off);
        if (r != VK_SUCCESS) {
            sub_free(vk, b->block, b->mem_off);
            s = kiln__vk_result(r, "vkBindBufferMemory");
        }
    }
    if (s != KILN_OK) {
        vk->fn.vkDestroyBuffer(vk->dev, b->buf, NULL);
        kiln__free(vk->ctx, b);
        return s;
    }
    b->n_bytes = n_bytes;
    b->host_visible = b->block->map != NULL;
    *out = b;
    return KILN_OK;
}

static void buffer_destroy(struct kiln__vk *vk, struct kiln_buffer *b)
{
    if (b == NULL) {
        return;
    }
    vk->fn.vkDestroyBuffer(vk->dev, b->buf, NULL);
    sub_free(vk, b->block, b->mem_off);
    kiln__free(vk->ctx, b);
}

/* Flush (host wrote) or invalidate (host will read) a mapped range when not coherent. */
static kiln_status sync_range(struct kiln__vk *vk, const struct kiln_buffer *b, VkDeviceSize off,
                              VkDeviceSize n, bool flush)
{
    bool coherent = b->block->type == vk->dev_type ? vk->dev_coherent : vk->stage_coherent;
    if (coherent) {
        return KILN_OK;
    }
    VkDeviceSize a = atom(vk);
    VkDeviceSize start = (b->mem_off + off) / a * a;
    VkDeviceSize end = round_up(b->mem_off + off + n, a);
    VkMappedMemoryRange mr = {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
                              .memory = b->block->mem,
                              .offset = start,
                              .size = end >= b->block->size ? VK_WHOLE_SIZE : end - start};
    if (flush) {
        KILN_VK_CHECK(vk->fn.vkFlushMappedMemoryRanges(vk->dev, 1, &mr));
    } else {
        KILN_VK_CHECK(vk->fn.vkInvalidateMappedMemoryRanges(vk->dev, 1, &mr));
    }
    return KILN_OK;
}

static kiln_status staging_get(struct kiln__vk *vk, VkDeviceSize n)
{
    if (vk->staging != NULL && vk->staging->n_bytes >= n) {
        return KILN_OK;
    }
    buffer_destroy(vk, vk->staging);
    vk->staging = NULL;
    return buffer_new(vk, n > MIN_STAGING_BYTES ? n : MIN_STAGING_BYTES, vk->stage_type,
                      &vk->staging);
}

/* Waits for all recorded and submitted work (a host wait only when there is some). */
static kiln_status drain(struct kiln__vk *vk)
{
    KILN_TRY(kiln__vk_submit(vk));
    return kiln__vk_wait_all(vk);
}

kiln_status kiln__vk_buffer_alloc(struct kiln_backend *be, size_t n_bytes, struct kiln_buffer **out)
{
    struct kiln__vk *vk = be->impl;
    VkDeviceSize n = round_up(n_bytes ? n_bytes : 4, 4);
    KILN_TRY(kiln__fault_alloc(vk->ctx, n_bytes));
    KILN_TRY(buffer_new(vk, n, vk->dev_type, out));
    struct kiln_buffer *b = *out;
    /* Tensors are mapped only where their memory type was chosen for it: with
     * KILN_VK_FORCE_STAGING the same (mappable) type goes through staging. */
    b->host_visible = b->host_visible && vk->dev_mappable;
    if (b->host_visible) { /* start from zeros, like the CPU backend */
        memset(b->block->map + b->mem_off, 0, (size_t)n);
        return sync_range(vk, b, 0, n, true);
    }
    KILN_TRY(drain(vk));
    KILN_TRY(kiln__vk_record(vk));
    vk->fn.vkCmdFillBuffer(vk->frames[vk->cur].cb, b->buf, 0, VK_WHOLE_SIZE, 0);
    kiln__vk_barrier(vk, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                     VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                     VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                         VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
    return KILN_OK;
}

void kiln__vk_buffer_free(struct kiln_backend *be, struct kiln_buffer *buf)
{
    struct kiln__vk *vk = be->impl;
    if (buf == NULL) {
        return;
    }
    drain(vk); /* the device may still use it; on failure there is nothing left to wait for */
    buffer_destroy(vk, buf);
}

/* A full memory barrier between transfers and dispatches on both sides of a copy. */
static void copy_barrier(struct kiln__vk *vk)
{
    const VkPipelineStageFlags st =
        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    kiln__vk_barrier(vk, st, VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT, st,
                     VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                         VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
}

/* Room for n bytes in the staging ring: its start offset. The ring restarts after each
 * wait; when it is full, the recorded work is submitted and waited for. */
static kiln_status staging_take(struct kiln__vk *vk, VkDeviceSize n, VkDeviceSize *at)
{
    n = round_up(n, 16);
    if (vk->staging == NULL || vk->staging->n_bytes < n) {
        KILN_TRY(drain(vk)); /* recorded copies may use the old staging buffer */
        KILN_TRY(staging_get(vk, n));
    }
    if (vk->stage_head + n > vk->staging->n_bytes) {
        KILN_TRY(drain(vk));
    }
    *at = vk->stage_head;
    vk->stage_head += n;
    return KILN_OK;
}

kiln_status kiln__vk_upload(struct kiln_backend *be, struct kiln_buffer *dst, size_t off,
                            const void *src, size_t n_bytes)
{
    struct kiln__vk *vk = be->impl;
    KILN_ASSERT(off + n_bytes <= dst->n_bytes);
    if (dst->host_visible) {
        /* Recorded or running work may still read the old contents. */
        KILN_TRY(drain(vk));
        memcpy(dst->block->map + dst->mem_off + off, src, n_bytes);
        return sync_range(vk, dst, off, n_bytes, true);
    }
    /* Through the staging ring: the copy is recorded with the work that follows, behind
     * barriers against the work before it, so an upload costs no submission or wait. */
    size_t done = 0;
    while (done < n_bytes) {
        size_t chunk = n_bytes - done < MAX_STAGING_BYTES ? n_bytes - done : MAX_STAGING_BYTES;
        VkDeviceSize at;
        KILN_TRY(staging_take(vk, chunk, &at));
        memcpy(vk->staging->block->map + vk->staging->mem_off + at, (const char *)src + done,
               chunk);
        KILN_TRY(sync_range(vk, vk->staging, at, chunk, true));
        KILN_TRY(kiln__vk_record(vk));
        copy_barrier(vk);
        VkBufferCopy cp = {.srcOffset = at, .dstOffset = off + done, .size = chunk};
        vk->fn.vkCmdCopyBuffer(vk->frames[vk->cur].cb, vk->staging->buf, dst->buf, 1, &cp);
        copy_barrier(vk);
        done += chunk;
    }
    return KILN_OK;
}

kiln_status kiln__vk_download(struct kiln_backend *be, const struct kiln_buffer *src, size_t off,
                              void *dst, size_t n_bytes)
{
    struct kiln__vk *vk = be->impl;
    KILN_ASSERT(off + n_bytes <= src->n_bytes);
    if (src->host_visible) {
        KILN_TRY(drain(vk));
        KILN_TRY(sync_range(vk, src, off, n_bytes, false));
        memcpy(dst, src->block->map + src->mem_off + off, n_bytes);
        return KILN_OK;
    }
    size_t done = 0;
    while (done < n_bytes) {
        size_t chunk = n_bytes - done < MAX_STAGING_BYTES ? n_bytes - done : MAX_STAGING_BYTES;
        VkDeviceSize at;
        KILN_TRY(staging_take(vk, chunk, &at));
        /* The copy joins the work already recorded: one submission, one wait. */
        KILN_TRY(kiln__vk_record(vk));
        copy_barrier(vk);
        VkBufferCopy cp = {.srcOffset = off + done, .dstOffset = at, .size = chunk};
        vk->fn.vkCmdCopyBuffer(vk->frames[vk->cur].cb, src->buf, vk->staging->buf, 1, &cp);
        kiln__vk_barrier(vk, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
        KILN_TRY(drain(vk));
        KILN_TRY(sync_range(vk, vk->staging, at, chunk, false));
        memcpy((char *)dst + done, vk->staging->block->map + vk->staging->mem_off + at, chunk);
        done += chunk;
    }
    return KILN_OK;
}

/* Makes the scratch buffer at least n_bytes long. Called while graphs compile; a
 * buffer being replaced may still be read by submitted work, so that is waited for. */
kiln_status kiln__vk_scratch_reserve(struct kiln__vk *vk, VkDeviceSize n_bytes)
{
    if (vk->scratch != NULL && vk->scratch_bytes >= n_bytes) {
        return KILN_OK;
    }
    KILN_TRY(drain(vk));
    buffer_destroy(vk, vk->scratch);
    vk->scratch = NULL;
    vk->scratch_bytes = 0;
    KILN_TRY(buffer_new(vk, round_up(n_bytes, 4), vk->dev_type, &vk->scratch));
    vk->scratch_bytes = n_bytes;
    return KILN_OK;
}

void kiln__vk_memory_fini(struct kiln__vk *vk)
{
    buffer_destroy(vk, vk->staging);
    vk->staging = NULL;
    buffer_destroy(vk, vk->scratch);
    vk->scratch = NULL;
    while (vk->n_blocks > 0) {
        block_free(vk, vk->blocks[--vk->n_blocks]);
    }
    kiln__free(vk->ctx, vk->blocks);
    vk->blocks = NULL;
}
