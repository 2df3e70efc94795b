/*
 * vk_exec.c - command recording for the Vulkan backend: a small ring of command
 * buffers with fences, one submission per graph run (run_end), host waits only when
 * the host reads (downloads, uploads over live data), pipeline barriers from hazard
 * tracking per buffer range (read-after-write, write-after-read, write-after-write),
 * descriptor pools recycled after each wait, and compute pipelines created lazily
 * from the embedded SPIR-V with specialization constants, kept in a VkPipelineCache
 * saved under KILN_CACHE_DIR (a checked entry of src/cache.h whose data must carry
 * this device's pipeline cache header before the driver sees it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cache.h"
#include "vk_impl.h"

#define SETS_PER_POOL 256
#define MAX_TRACKED   512

/* ==== Frames: record, submit, wait ==== */

/* The error of every call after the device was lost: a lost device stays lost, and the
 * context can only be destroyed. */
static kiln_status lost_error(void)
{
    return KILN_FAIL(KILN_E_DEVICE_LOST,
                     "vulkan: the device was lost earlier (VK_ERROR_DEVICE_LOST); nothing more "
                     "can run on this context: destroy it (a new context may reopen the device)");
}

/* A call reported r: remember a lost device, and describe it. */
static kiln_status vk_fail(struct kiln__vk *vk, VkResult r, const char *call)
{
    if (r == VK_ERROR_DEVICE_LOST) {
        vk->lost = true;
        return KILN_FAIL_NATIVE(KILN_E_DEVICE_LOST, r,
                                "vulkan: %s failed: VK_ERROR_DEVICE_LOST on '%s' (a driver "
                                "reset, a hung or faulting shader, or the GPU removed); the "
                                "work of this run is lost and nothing more can run on this "
                                "context",
                                call, vk->props.deviceName);
    }
    return kiln__vk_result(r, call);
}

/* Charges the time between a finished frame's timestamps to the ops of its dispatches:
 * each dispatch from the timestamp before it (the end of the previous dispatch, or the
 * frame's start) to its own. */
static void collect_times(struct kiln__vk *vk, struct kiln__vk_frame *f)
{
    if (!f->timed || f->n_q < 2) {
        return;
    }
    f->timed = false;
    VkResult r =
        vk->fn.vkGetQueryPoolResults(vk->dev, f->queries, 0, f->n_q, sizeof(uint64_t) * f->n_q,
                                     f->q_ts, sizeof(uint64_t), VK_QUERY_RESULT_64_BIT);
    if (r != VK_SUCCESS) { /* not after the fence; the frame's times are lost, not the run */
        return;
    }
    uint64_t mask = vk->ts_bits >= 64 ? UINT64_MAX : (((uint64_t)1 << vk->ts_bits) - 1);
    double period = 1e-9 * (double)vk->props.limits.timestampPeriod;
    for (uint32_t i = 1; i < f->n_q; i++) {
        uint64_t dt = (f->q_ts[i] - f->q_ts[i - 1]) & mask;
        kiln__prof_time(vk->ctx, f->q_op[i], (double)dt * period);
    }
}

kiln_status kiln__vk_wait_all(struct kiln__vk *vk)
{
    VkFence fences[KILN_VK_FRAMES];
    uint32_t n = 0;
    for (int i = 0; i < KILN_VK_FRAMES; i++) {
        if (vk->frames[i].in_flight) {
            fences[n++] = vk->frames[i].fence;
        }
    }
    if (vk->lost) {
        /* What was submitted before the loss still owns its buffers: let it finish (a
         * truly lost device returns at once) before anything is freed. */
        if (n > 0) {
            (void)vk->fn.vkWaitForFences(vk->dev, n, fences, VK_TRUE, UINT64_MAX);
            (void)vk->fn.vkResetFences(vk->dev, n, fences);
        }
        for (int i = 0; i < KILN_VK_FRAMES; i++) {
            vk->frames[i].in_flight = false;
        }
        return lost_error();
    }
    if (n > 0) {
        VkResult r = vk->fn.vkWaitForFences(vk->dev, n, fences, VK_TRUE, UINT64_MAX);
        vk->ctx->stats.host_waits++;
        if (r != VK_SUCCESS) {
            return vk_fail(vk, r, "vkWaitForFences");
        }
        KILN_VK_CHECK(vk->fn.vkResetFences(vk->dev, n, fences));
        for (int i = 0; i < KILN_VK_FRAMES; i++) {
            if (vk->frames[i].in_flight) {
                collect_times(vk, &vk->frames[i]);
            }
            vk->frames[i].in_flight = false;
        }
    }
    if (!vk->recording) { /* no descriptor set is in use any more */
        for (int32_t i = 0; i < vk->n_dpools; i++) {
            KILN_VK_CHECK(vk->fn.vkResetDescriptorPool(vk->dev, vk->dpools[i], 0));
        }
        vk->cur_dpool = 0;
        vk->stage_head = 0; /* no recorded copy reads the staging ring any more */
    }
    return KILN_OK;
}

kiln_status kiln__vk_record(struct kiln__vk *vk)
{
    if (vk->recording) {
        return KILN_OK;
    }
    if (vk->lost) {
        return lost_error();
    }
    struct kiln__vk_frame *f = &vk->frames[vk->next];
    if (f->in_flight) { /* the ring is full: wait for everything, recycle descriptors */
        KILN_TRY(kiln__vk_wait_all(vk));
    }
    KILN_VK_CHECK(vk->fn.vkResetCommandBuffer(f->cb, 0));
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    KILN_VK_CHECK(vk->fn.vkBeginCommandBuffer(f->cb, &bi));
    vk->cur = vk->next;
    vk->recording = true;
    f->timed = vk->ctx->prof.on && f->queries != VK_NULL_HANDLE;
    f->n_q = 0;
    if (f->timed) {
        vk->fn.vkCmdResetQueryPool(f->cb, f->queries, 0, KILN_VK_QUERIES);
        vk->fn.vkCmdWriteTimestamp(f->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, f->queries, 0);
        f->n_q = 1;
    }
    return KILN_OK;
}

kiln_status kiln__vk_set_profiling(struct kiln_backend *be, bool on)
{
    struct kiln__vk *vk = be->impl;
    if (!on || vk->ts_bits == 0) {
        return KILN_OK; /* without timestamps the profile has counts but no times */
    }
    VkQueryPoolCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                 .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                 .queryCount = KILN_VK_QUERIES};
    for (int i = 0; i < KILN_VK_FRAMES; i++) {
        struct kiln__vk_frame *f = &vk->frames[i];
        if (f->queries != VK_NULL_HANDLE) {
            continue;
        }
        if (f->q_op == NULL) {
            f->q_op = kiln__alloc(vk->ctx, sizeof(*f->q_op) * KILN_VK_QUERIES, "timestamps");
        }
        if (f->q_ts == NULL) {
            f->q_ts = kiln__alloc(vk->ctx, sizeof(*f->q_ts) * KILN_VK_QUERIES, "timestamps");
        }
        if (f->q_op == NULL || f->q_ts == NULL) {
            return KILN_E_OUT_OF_HOST_MEMORY;
        }
        KILN_VK_CHECK(vk->fn.vkCreateQueryPool(vk->dev, &qci, NULL, &f->queries));
    }
    return KILN_OK;
}

void kiln__vk_barrier(struct kiln__vk *vk, VkPipelineStageFlags src, VkAccessFlags src_access,
                      VkPipelineStageFlags dst, VkAccessFlags dst_access)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = src_access,
                          .dstAccessMask = dst_access};
    vk->fn.vkCmdPipelineBarrier(vk->frames[vk->cur].cb, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
    vk->n_acc = 0;
    kiln__count_barrier(vk->ctx);
}

kiln_status kiln__vk_submit(struct kiln__vk *vk)
{
    if (!vk->recording) {
        return KILN_OK;
    }
    struct kiln__vk_frame *f = &vk->frames[vk->cur];
    /* Make every write of this batch visible to host reads after the fence. */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask =
                              VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
    vk->fn.vkCmdPipelineBarrier(
        f->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
        VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    vk->recording = false;
    vk->cur = -1;
    vk->next = (vk->next + 1) % KILN_VK_FRAMES;
    KILN_VK_CHECK(vk->fn.vkEndCommandBuffer(f->cb));
    if (vk->lost) { /* lost while this frame was recorded: it is dropped */
        return lost_error();
    }
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &f->cb};
    /* KILN_TEST_FAULT=lost:N: this submission fails as a driver reports a lost device */
    VkResult r = kiln__fault_lose(vk->ctx) ? VK_ERROR_DEVICE_LOST
                                           : vk->fn.vkQueueSubmit(vk->queue, 1, &si, f->fence);
    if (r != VK_SUCCESS) {
        return vk_fail(vk, r, "vkQueueSubmit");
    }
    f->in_flight = true;
    vk->ctx->stats.submissions++;
    return KILN_OK;
}

kiln_status kiln__vk_run_begin(struct kiln_backend *be)
{
    (void)be; /* recording starts with the first dispatch */
    return KILN_OK;
}

static kiln_status cache_save(struct kiln__vk *vk);

kiln_status kiln__vk_run_end(struct kiln_backend *be)
{
    KILN_TRY(kiln__vk_submit(be->impl));
    return cache_save(be->impl);
}

kiln_status kiln__vk_synchronize(struct kiln_backend *be)
{
    KILN_TRY(kiln__vk_submit(be->impl));
    return kiln__vk_wait_all(be->impl);
}

/* ==== Pipeline cache on disk ==== */

#define CACHE_WHAT "vulkan: pipeline cache"

/* Everything the driver's pipeline cache data depends on. */
static void cache_key(const struct kiln__vk *vk, char *out, size_t n)
{
    char uuid[2 * VK_UUID_SIZE + 1];
    for (uint32_t i = 0; i < VK_UUID_SIZE; i++) {
        snprintf(uuid + 2 * i, 3, "%02x", vk->props.pipelineCacheUUID[i]);
    }
    snprintf(out, n,
             "kiln %s vulkan pipeline cache; device '%s' vendor 0x%04x device 0x%04x; driver "
             "version 0x%08x; api 0x%08x; cache uuid %s",
             KILN_VERSION, vk->props.deviceName, vk->props.vendorID, vk->props.deviceID,
             vk->props.driverVersion, vk->props.apiVersion, uuid);
}

static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Why the n bytes of pipeline cache data do not start with this device's
 * VkPipelineCacheHeaderVersionOne (headerSize, headerVersion, vendorID, deviceID,
 * pipelineCacheUUID, each little-endian), or NULL when they do. */
static const char *cache_header_mismatch(const struct kiln__vk *vk, const unsigned char *d,
                                         size_t n)
{
    enum { HEADER_ONE = 16 + VK_UUID_SIZE };
    if (n < HEADER_ONE) {
        return "shorter than a pipeline cache header";
    }
    if (le32(d) < HEADER_ONE || le32(d) > n) {
        return "a pipeline cache header of a bad size";
    }
    if (le32(d + 4) != VK_PIPELINE_CACHE_HEADER_VERSION_ONE) {
        return "a pipeline cache header of an unknown version";
    }
    if (le32(d + 8) != vk->props.vendorID || le32(d + 12) != vk->props.deviceID) {
        return "pipeline cache data of another device";
    }
    if (memcmp(d + 16, vk->props.pipelineCacheUUID, VK_UUID_SIZE) != 0) {
        return "pipeline cache data of another driver build";
    }
    return NULL;
}

/* Creates the pipeline cache, from the file when it holds a valid entry whose data
 * carries this device's header; anything else is ignored (with a warning) and is
 * replaced at the next save. */
static kiln_status cache_load(struct kiln__vk *vk)
{
    void *data = NULL;
    size_t n = 0;
    char key[512];
    cache_key(vk, key, sizeof(key));
    kiln__cache_path("vulkan", "pipelines", key, vk->cache_path, sizeof(vk->cache_path));
    KILN_TRY(kiln__cache_load(vk->ctx, CACHE_WHAT, vk->cache_path, key, &data, &n));
    const char *bad = data != NULL ? cache_header_mismatch(vk, data, n) : NULL;
    if (bad != NULL) {
        kiln__log(vk->ctx, KILN_LOG_WARN, "%s %s holds %s; ignoring it, it will be rebuilt",
                  CACHE_WHAT, vk->cache_path, bad);
        n = 0;
    }
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                    .initialDataSize = n,
                                    .pInitialData = n ? data : NULL};
    VkResult r = vk->fn.vkCreatePipelineCache(vk->dev, &ci, NULL, &vk->cache);
    if (r != VK_SUCCESS && n > 0) {
        kiln__log(vk->ctx, KILN_LOG_WARN,
                  "%s %s: the driver refused it (VkResult %d); rebuilding it", CACHE_WHAT,
                  vk->cache_path, (int)r);
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        r = vk->fn.vkCreatePipelineCache(vk->dev, &ci, NULL, &vk->cache);
    }
    vk->cache_dirty = bad != NULL; /* a bad file is replaced even if no pipeline is new */
    kiln__free(vk->ctx, data);
    if (r != VK_SUCCESS) {
        return kiln__vk_result(r, "vkCreatePipelineCache");
    }
    return KILN_OK;
}

/* Writes the cache when pipelines were created since the last save. A file that cannot
 * be written is a warning (the next run compiles again); out of memory is an error. */
static kiln_status cache_save(struct kiln__vk *vk)
{
    size_t n = 0;
    char key[512];
    if (!vk->cache_dirty || vk->cache_path[0] == '\0' ||
        vk->fn.vkGetPipelineCacheData(vk->dev, vk->cache, &n, NULL) != VK_SUCCESS || n == 0) {
        return KILN_OK;
    }
    void *data = kiln__alloc(vk->ctx, n, "the pipeline cache");
    if (data == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    vk->cache_dirty = false;
    if (vk->fn.vkGetPipelineCacheData(vk->dev, vk->cache, &n, data) == VK_SUCCESS) {
        cache_key(vk, key, sizeof(key));
        kiln__cache_store(vk->ctx, CACHE_WHAT, vk->cache_path, key, data, n, &vk->cache_warned);
    }
    kiln__free(vk->ctx, data);
    return KILN_OK;
}

/* ==== Pipelines ==== */

/* A tile BM,BN,BK,TM,TN fits when TM and TN are multiples of 4 dividing BM and BN, the
 * workgroup (BM / TM) (BN / TN) is within our limit and a multiple of the subgroup size
 * (or smaller than one), and both shared tiles fit, with `extra` bytes of other shared
 * memory. */
static bool tile_fits(const struct kiln__vk *vk, const uint32_t t[5], uint32_t extra)
{
    if (t[0] == 0 || t[1] == 0 || t[2] == 0 || t[3] == 0 || t[4] == 0 || t[3] % 4 != 0 ||
        t[4] % 4 != 0 || t[0] % t[3] != 0 || t[1] % t[4] != 0) {
        return false;
    }
    uint32_t wg = (t[0] / t[3]) * (t[1] / t[4]);
    return wg <= vk->max_wg && (wg % vk->subgroup_size == 0 || wg < vk->subgroup_size) &&
           (t[0] + t[1]) * t[2] * 4 + extra <= vk->max_shared;
}

/* The tile named by environment variable env ("BM,BN,BK,TM,TN", for benchmarks) when
 * it is set and fits, else the first candidate that fits, else the smallest one. Other
 * shared memory: convgemm.comp's tables, or the row sums of matmul.comp -DDB. */
static void choose_tile(const struct kiln__vk *vk, const char *env, const uint32_t (*cands)[5],
                        size_t n, bool conv, uint32_t out[5])
{
    const char *e = getenv(env);
    uint32_t t[5];
    if (e != NULL && sscanf(e, "%u,%u,%u,%u,%u", &t[0], &t[1], &t[2], &t[3], &t[4]) == 5 &&
        tile_fits(vk, t, conv ? 16 * (t[1] + t[2]) : 4 * t[0])) {
        memcpy(out, t, sizeof(t));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (tile_fits(vk, cands[i], conv ? 16 * (cands[i][1] + cands[i][2]) : 4 * cands[i][0])) {
            memcpy(out, cands[i], sizeof(t));
            return;
        }
    }
    static const uint32_t smallest[5] = {8, 8, 8, 4, 4};
    memcpy(out, smallest, sizeof(t));
}

/* GEMM tiles from the device's limits. CPU devices (lavapipe) run one SIMD batch of
 * invocations at a time, where shared-memory reads cost a gather each: large register
 * blocks (16 x 16) and a short k step measured fastest there. GPUs get 8 x 8 blocks in
 * square tiles for the matmul. Convolutions have few output channels (M) and many
 * pixels (N), so their tiles are wide; the small tile serves M <= 16 (bench/conv).
 * KILN_VK_MATMUL_TILE, KILN_VK_CONV_TILE_S and KILN_VK_CONV_TILE override. */
static void choose_tiles(struct kiln__vk *vk)
{
    static const uint32_t mm_cpu[][5] = {
        {256, 128, 4, 16, 16}, {128, 128, 8, 8, 8}, {64, 64, 16, 4, 4},
        {32, 32, 16, 4, 4},    {16, 16, 16, 4, 4},
    };
    static const uint32_t cv_cpu[3][2][5] = {
        {{16, 256, 4, 16, 16}, {16, 64, 8, 4, 4}},
        {{64, 128, 4, 16, 16}, {32, 64, 8, 4, 4}},
        {{16, 64, 4, 8, 8}, {8, 8, 8, 4, 4}},
    };
    static const uint32_t cv_gpu[3][2][5] = {
        {{16, 128, 16, 4, 8}, {16, 64, 8, 4, 4}},
        {{64, 64, 16, 4, 4}, {32, 32, 16, 4, 4}},
        {{16, 32, 16, 4, 4}, {8, 8, 8, 4, 4}},
    };
    bool cpu = vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    const uint32_t(*mm)[5] = cpu ? mm_cpu : mm_cpu + 1;
    choose_tile(vk, "KILN_VK_MATMUL_TILE", mm, cpu ? 5 : 4, false, vk->mm_tile);
    const uint32_t(*cv)[2][5] = cpu ? cv_cpu : cv_gpu;
    choose_tile(vk, "KILN_VK_CONV_TILE_S", cv[0], 2, true, vk->cv_tile[0]);
    choose_tile(vk, "KILN_VK_CONV_TILE", cv[1], 2, true, vk->cv_tile[1]);
    choose_tile(vk, "KILN_VK_CONV_TILE_F", cv[2], 2, true, vk->cv_tile[2]);
}

/* The tile a GEMM shader is specialized with, or NULL for the other shaders. */
const uint32_t *kiln__vk_tile_of(const struct kiln__vk *vk, enum kiln__vk_shader sh)
{
    switch (sh) {
    case KILN__VK_SH_MATMUL_NN:
    case KILN__VK_SH_MATMUL_NT:
    case KILN__VK_SH_MATMUL_TN:
    case KILN__VK_SH_MATMUL_TT:
    case KILN__VK_SH_MATMUL_BIAS_NN:
    case KILN__VK_SH_MATMUL_BIAS_NT:
    case KILN__VK_SH_MATMUL_BIAS_TN:
    case KILN__VK_SH_MATMUL_BIAS_TT:
    case KILN__VK_SH_MATMUL_RELU_BWD_NN:
    case KILN__VK_SH_MATMUL_RELU_BWD_NT:
    case KILN__VK_SH_MATMUL_RELU_BWD_TN:
    case KILN__VK_SH_MATMUL_RELU_BWD_TT:
    case KILN__VK_SH_MATMUL_DB_TN:
    case KILN__VK_SH_RNN_GEMM_NT:
    case KILN__VK_SH_RNN_GEMM_NN_ACC:
        return vk->mm_tile;
    case KILN__VK_SH_CONVGEMM_FWD_S:
    case KILN__VK_SH_CONVGEMM_DATA_S:
        return vk->cv_tile[0];
    case KILN__VK_SH_CONVGEMM_FILTER_S:
        return vk->cv_tile[2];
    case KILN__VK_SH_CONVGEMM_FWD:
    case KILN__VK_SH_CONVGEMM_DATA:
    case KILN__VK_SH_CONVGEMM_FILTER:
        return vk->cv_tile[1];
    default:
        return NULL;
    }
}

uint32_t kiln__vk_matmul_wg(const struct kiln__vk *vk)
{
    return (vk->mm_tile[0] / vk->mm_tile[3]) * (vk->mm_tile[1] / vk->mm_tile[4]);
}

/* The pipeline of shader sh, whose layout has n_binds storage buffers (created on first
 * use; a shader always runs with the same number of bindings). */
static kiln_status pipeline(struct kiln__vk *vk, enum kiln__vk_shader sh, int n_binds,
                            VkPipeline *out)
{
    if (vk->pipes[sh] != VK_NULL_HANDLE) {
        *out = vk->pipes[sh];
        return KILN_OK;
    }
    const struct kiln__vk_shader_info *si = &kiln__vk_shaders[sh];
    uint32_t spec[6] = {vk->max_wg, 0, 0, 0, 0, 0};
    uint32_t n_spec = 1;
    const uint32_t *tile = kiln__vk_tile_of(vk, sh);
    if (tile != NULL) {
        spec[0] = (tile[0] / tile[3]) * (tile[1] / tile[4]);
        memcpy(&spec[1], tile, 5 * sizeof(uint32_t));
        n_spec = 6;
    }
    VkSpecializationMapEntry map[6];
    for (uint32_t i = 0; i < n_spec; i++) {
        map[i].constantID = i;
        map[i].offset = i * 4;
        map[i].size = 4;
    }
    VkSpecializationInfo spi = {
        .mapEntryCount = n_spec, .pMapEntries = map, .dataSize = n_spec * 4, .pData = spec};
    VkShaderModuleCreateInfo mci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                    .codeSize = si->n_bytes,
                                    .pCode = si->words};
    VkShaderModule mod;
    VkResult r = vk->fn.vkCreateShaderModule(vk->dev, &mci, NULL, &mod);
    if (r != VK_SUCCESS) {
        return KILN_FAIL_NATIVE(KILN_E_KERNEL_BUILD, r,
                                "vulkan: vkCreateShaderModule(%s) failed with VkResult %d",
                                si->name, (int)r);
    }
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = mod,
                  .pName = "main",
                  .pSpecializationInfo = &spi},
        .layout = vk->layout[n_binds]};
    r = vk->fn.vkCreateComputePipelines(vk->dev, vk->cache, 1, &ci, NULL, &vk->pipes[sh]);
    vk->fn.vkDestroyShaderModule(vk->dev, mod, NULL);
    if (r != VK_SUCCESS) {
        vk->pipes[sh] = VK_NULL_HANDLE;
        return KILN_FAIL_NATIVE(KILN_E_KERNEL_BUILD, r,
                                "vulkan: creating the pipeline of shader %s failed (VkResult %d)",
                                si->name, (int)r);
    }
    vk->cache_dirty = true;
    *out = vk->pipes[sh];
    return KILN_OK;
}

/* ==== Descriptors ==== */

static kiln_status alloc_set(struct kiln__vk *vk, int n_binds, VkDescriptorSet *out)
{
    for (;;) {
        if (vk->cur_dpool == vk->n_dpools) {
            if (vk->n_dpools == vk->cap_dpools) {
                int32_t cap = vk->cap_dpools ? 2 * vk->cap_dpools : 4;
                VkDescriptorPool *np = kiln__alloc(vk->ctx, sizeof(*np) * (size_t)cap, "pools");
                if (np == NULL) {
                    return KILN_E_OUT_OF_HOST_MEMORY;
                }
                if (vk->n_dpools > 0) {
                    memcpy(np, vk->dpools, sizeof(*np) * (size_t)vk->n_dpools);
                }
                kiln__free(vk->ctx, vk->dpools);
                vk->dpools = np;
                vk->cap_dpools = cap;
            }
            VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                       SETS_PER_POOL * KILN_VK_MAX_BINDINGS};
            VkDescriptorPoolCreateInfo pci = {.sType =
                                                  VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                              .maxSets = SETS_PER_POOL,
                                              .poolSizeCount = 1,
                                              .pPoolSizes = &ps};
            KILN_VK_CHECK(
                vk->fn.vkCreateDescriptorPool(vk->dev, &pci, NULL, &vk->dpools[vk->n_dpools]));
            vk->n_dpools++;
        }
        VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                          .descriptorPool = vk->dpools[vk->cur_dpool],
                                          .descriptorSetCount = 1,
                                          .pSetLayouts = &vk->dsl[n_binds]};
        VkResult r = vk->fn.vkAllocateDescriptorSets(vk->dev, &ai, out);
        if (r == VK_SUCCESS) {
            return KILN_OK;
        }
        if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL) {
            return kiln__vk_result(r, "vkAllocateDescriptorSets");
        }
        vk->cur_dpool++;
    }
}

/* ==== Dispatch ==== */

struct kiln__vk_bind kiln__vk_bind_tensor(const struct kiln_tensor *t, bool write)
{
    size_t off;
    struct kiln__vk_bind b;
    b.buf = kiln__tensor_buffer(t, &off);
    b.off = off;
    b.size = kiln_tensor_n_bytes(t);
    if (b.size == 0) {
        b.size = 4; /* a valid range; the shader reads nothing */
    }
    b.write = write;
    return b;
}

static bool overlaps(const struct kiln__vk_access *a, const struct kiln__vk_bind *b)
{
    return a->buf == b->buf->buf && a->off < b->off + b->size && b->off < a->end;
}

/* Records the barrier this dispatch's accesses need, then tracks them. */
static kiln_status track(struct kiln__vk *vk, int n_binds, const struct kiln__vk_bind *binds)
{
    bool hazard = vk->n_acc + n_binds > MAX_TRACKED;
    for (int i = 0; i < n_binds && !hazard; i++) {
        for (int32_t j = 0; j < vk->n_acc && !hazard; j++) {
            hazard = overlaps(&vk->acc[j], &binds[i]) && (vk->acc[j].write || binds[i].write);
        }
    }
    if (hazard) {
        kiln__vk_barrier(vk, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                         VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
    }
    for (int i = 0; i < n_binds; i++) {
        struct kiln__vk_access *a = &vk->acc[vk->n_acc++];
        a->buf = binds[i].buf->buf;
        a->off = binds[i].off;
        a->end = binds[i].off + binds[i].size;
        a->write = binds[i].write;
    }
    return KILN_OK;
}

kiln_status kiln__vk_dispatch(struct kiln__vk *vk, enum kiln__vk_shader sh, int n_binds,
                              const struct kiln__vk_bind *binds, const void *pc, size_t pc_bytes,
                              uint32_t gx, uint32_t gy, uint32_t gz)
{
    VkPipeline pipe = VK_NULL_HANDLE;
    VkDescriptorSet set = VK_NULL_HANDLE;
    KILN_ASSERT(n_binds >= 1 && n_binds <= KILN_VK_MAX_BINDINGS && pc_bytes <= KILN_VK_PUSH_BYTES);
    KILN_TRY(pipeline(vk, sh, n_binds, &pipe));
    KILN_TRY(kiln__vk_record(vk));
    KILN_TRY(track(vk, n_binds, binds));
    KILN_TRY(alloc_set(vk, n_binds, &set));
    VkDescriptorBufferInfo bi[KILN_VK_MAX_BINDINGS];
    VkWriteDescriptorSet w[KILN_VK_MAX_BINDINGS];
    for (int i = 0; i < n_binds; i++) {
        KILN_ASSERT(binds[i].size <= vk->max_range);
        bi[i].buffer = binds[i].buf->buf;
        bi[i].offset = binds[i].off;
        bi[i].range = binds[i].size;
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                      .dstSet = set,
                                      .dstBinding = (uint32_t)i,
                                      .descriptorCount = 1,
                                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                      .pBufferInfo = &bi[i]};
    }
    vk->fn.vkUpdateDescriptorSets(vk->dev, (uint32_t)n_binds, w, 0, NULL);
    VkCommandBuffer cb = vk->frames[vk->cur].cb;
    VkPipelineLayout layout = vk->layout[n_binds];
    vk->fn.vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
    vk->fn.vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, &set, 0, NULL);
    if (pc_bytes > 0) {
        vk->fn.vkCmdPushConstants(cb, layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, (uint32_t)pc_bytes,
                                  pc);
    }
    vk->fn.vkCmdDispatch(cb, gx, gy, gz);
    kiln__count_dispatch(vk->ctx);
    uint64_t n_groups = (uint64_t)gx * gy * gz;
    vk->n_groups[sh] = n_groups > vk->n_groups[sh] ? n_groups : vk->n_groups[sh];
    struct kiln__vk_frame *f = &vk->frames[vk->cur];
    if (f->timed && f->n_q < KILN_VK_QUERIES) {
        vk->fn.vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, f->queries, f->n_q);
        f->q_op[f->n_q++] = vk->ctx->prof.op;
    }
    return KILN_OK;
}

/* ==== Setup ==== */

kiln_status kiln__vk_exec_init(struct kiln__vk *vk)
{
    VkDescriptorSetLayoutBinding lb[KILN_VK_MAX_BINDINGS];
    for (int i = 0; i < KILN_VK_MAX_BINDINGS; i++) {
        lb[i] = (VkDescriptorSetLayoutBinding){.binding = (uint32_t)i,
                                               .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                               .descriptorCount = 1,
                                               .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    }
    VkPushConstantRange pr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, KILN_VK_PUSH_BYTES};
    for (int n = 1; n <= KILN_VK_MAX_BINDINGS; n++) {
        VkDescriptorSetLayoutCreateInfo dci = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
            .bindingCount = (uint32_t)n,
            .pBindings = lb};
        KILN_VK_CHECK(vk->fn.vkCreateDescriptorSetLayout(vk->dev, &dci, NULL, &vk->dsl[n]));
        VkPipelineLayoutCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                          .setLayoutCount = 1,
                                          .pSetLayouts = &vk->dsl[n],
                                          .pushConstantRangeCount = 1,
                                          .pPushConstantRanges = &pr};
        KILN_VK_CHECK(vk->fn.vkCreatePipelineLayout(vk->dev, &pci, NULL, &vk->layout[n]));
    }
    VkCommandPoolCreateInfo cpi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = vk->queue_family};
    KILN_VK_CHECK(vk->fn.vkCreateCommandPool(vk->dev, &cpi, NULL, &vk->cmd_pool));
    VkCommandBuffer cbs[KILN_VK_FRAMES];
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = vk->cmd_pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = KILN_VK_FRAMES};
    KILN_VK_CHECK(vk->fn.vkAllocateCommandBuffers(vk->dev, &ai, cbs));
    for (int i = 0; i < KILN_VK_FRAMES; i++) {
        VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        vk->frames[i].cb = cbs[i];
        KILN_VK_CHECK(vk->fn.vkCreateFence(vk->dev, &fci, NULL, &vk->frames[i].fence));
    }
    /* Host arrays the runs need are allocated here, so that a graph gives back exactly
     * the host memory it took. */
    vk->acc = kiln__alloc(vk->ctx, sizeof(*vk->acc) * MAX_TRACKED, "hazard tracking");
    vk->cap_dpools = 16;
    vk->dpools = kiln__alloc(vk->ctx, sizeof(*vk->dpools) * (size_t)vk->cap_dpools, "pools");
    if (vk->acc == NULL || vk->dpools == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    choose_tiles(vk);
    return cache_load(vk);
}

uint32_t kiln__vk_take_dispatched(struct kiln_backend *be, uint64_t *n_groups, uint32_t cap)
{
    struct kiln__vk *vk = be->impl;
    for (uint32_t i = 0; i < KILN__VK_SHADER_COUNT && i < cap; i++) {
        n_groups[i] = vk->n_groups[i];
        vk->n_groups[i] = 0;
    }
    return KILN__VK_SHADER_COUNT;
}

const char *kiln__vk_shader_name(uint32_t i)
{
    return i < KILN__VK_SHADER_COUNT ? kiln__vk_shaders[i].name : "?";
}

void kiln__vk_exec_fini(struct kiln__vk *vk)
{
    for (int i = 0; i < KILN__VK_SHADER_COUNT; i++) {
        if (vk->pipes[i] != VK_NULL_HANDLE) {
            vk->fn.vkDestroyPipeline(vk->dev, vk->pipes[i], NULL);
        }
    }
    if (vk->cache != VK_NULL_HANDLE) {
        vk->fn.vkDestroyPipelineCache(vk->dev, vk->cache, NULL);
    }
    for (int32_t i = 0; i < vk->n_dpools; i++) {
        vk->fn.vkDestroyDescriptorPool(vk->dev, vk->dpools[i], NULL);
    }
    kiln__free(vk->ctx, vk->dpools);
    kiln__free(vk->ctx, vk->acc);
    for (int i = 0; i < KILN_VK_FRAMES; i++) {
        struct kiln__vk_frame *f = &vk->frames[i];
        if (f->fence != VK_NULL_HANDLE) {
            vk->fn.vkDestroyFence(vk->dev, f->fence, NULL);
        }
        if (f->queries != VK_NULL_HANDLE) {
            vk->fn.vkDestroyQueryPool(vk->dev, f->queries, NULL);
        }
        kiln__free(vk->ctx, f->q_op);
        kiln__free(vk->ctx, f->q_ts);
    }
    if (vk->cmd_pool != VK_NULL_HANDLE) {
        vk->fn.vkDestroyCommandPool(vk->dev, vk->cmd_pool, NULL);
    }
    for (int n = 1; n <= KILN_VK_MAX_BINDINGS; n++) {
        if (vk->layout[n] != VK_NULL_HANDLE) {
            vk->fn.vkDestroyPipelineLayout(vk->dev, vk->layout[n], NULL);
        }
        if (vk->dsl[n] != VK_NULL_HANDLE) {
            vk->fn.vkDestroyDescriptorSetLayout(vk->dev, vk->dsl[n], NULL);
        }
    }
}
