/*
 * vk_impl.h - the Vulkan backend's internal state, shared by its files: the loader
 * function table (libvulkan is opened at run time so that a missing loader is a clean
 * KILN_E_BACKEND_UNAVAILABLE), the device and its queried limits, the memory pool,
 * command recording with hazard tracking, and the pipelines. Not installed; the
 * kernels (vk_kernels.c) see only the dispatch helpers at the end.
 */
#ifndef KILN_VK_IMPL_H
#define KILN_VK_IMPL_H

#define VK_NO_PROTOTYPES
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vulkan/vulkan.h>

#include "../../graph/graph_impl.h"
#include "vk_shaders.h"

/* ==== Loader function table ==== */

/* Functions resolved before an instance exists. */
#define KILN_VK_GLOBAL_FNS(X)                                                                      \
    X(vkCreateInstance)                                                                            \
    X(vkEnumerateInstanceExtensionProperties)                                                      \
    X(vkEnumerateInstanceLayerProperties)

/* Functions resolved through the instance (device functions go through the loader's
 * trampolines, which is fine for a compute backend). */
#define KILN_VK_INSTANCE_FNS(X)                                                                    \
    X(vkDestroyInstance)                                                                           \
    X(vkEnumeratePhysicalDevices)                                                                  \
    X(vkGetPhysicalDeviceProperties)                                                               \
    X(vkGetPhysicalDeviceProperties2)                                                              \
    X(vkGetPhysicalDeviceFeatures2)                                                                \
    X(vkGetPhysicalDeviceMemoryProperties)                                                         \
    X(vkGetPhysicalDeviceQueueFamilyProperties)                                                    \
    X(vkEnumerateDeviceExtensionProperties)                                                        \
    X(vkCreateDevice)                                                                              \
    X(vkDestroyDevice)                                                                             \
    X(vkGetDeviceQueue)                                                                            \
    X(vkDeviceWaitIdle)                                                                            \
    X(vkAllocateMemory)                                                                            \
    X(vkFreeMemory)                                                                                \
    X(vkMapMemory)                                                                                 \
    X(vkUnmapMemory)                                                                               \
    X(vkFlushMappedMemoryRanges)                                                                   \
    X(vkInvalidateMappedMemoryRanges)                                                              \
    X(vkCreateBuffer)                                                                              \
    X(vkDestroyBuffer)                                                                             \
    X(vkGetBufferMemoryRequirements)                                                               \
    X(vkBindBufferMemory)                                                                          \
    X(vkCreateShaderModule)                                                                        \
    X(vkDestroyShaderModule)                                                                       \
    X(vkCreatePipelineCache)                                                                       \
    X(vkDestroyPipelineCache)                                                                      \
    X(vkGetPipelineCacheData)                                                                      \
    X(vkCreateComputePipelines)                                                                    \
    X(vkDestroyPipeline)                                                                           \
    X(vkCreatePipelineLayout)                                                                      \
    X(vkDestroyPipelineLayout)                                                                     \
    X(vkCreateDescriptorSetLayout)                                                                 \
    X(vkDestroyDescriptorSetLayout)                                                                \
    X(vkCreateDescriptorPool)                                                                      \
    X(vkDestroyDescriptorPool)                                                                     \
    X(vkResetDescriptorPool)                                                                       \
    X(vkAllocateDescriptorSets)                                                                    \
    X(vkUpdateDescriptorSets)                                                                      \
    X(vkCreateCommandPool)                                                                         \
    X(vkDestroyCommandPool)                                                                        \
    X(vkAllocateCommandBuffers)                                                                    \
    X(vkResetCommandBuffer)                                                                        \
    X(vkBeginCommandBuffer)                                                                        \
    X(vkEndCommandBuffer)                                                                          \
    X(vkCmdBindPipeline)                                                                           \
    X(vkCmdBindDescriptorSets)                                                                     \
    X(vkCmdPushConstants)                                                                          \
    X(vkCmdDispatch)                                                                               \
    X(vkCmdPipelineBarrier)                                                                        \
    X(vkCmdCopyBuffer)                                                                             \
    X(vkCmdFillBuffer)                                                                             \
    X(vkCreateFence)                                                                               \
    X(vkDestroyFence)                                                                              \
    X(vkResetFences)                                                                               \
    X(vkWaitForFences)                                                                             \
    X(vkQueueSubmit)                                                                               \
    X(vkCreateQueryPool)                                                                           \
    X(vkDestroyQueryPool)                                                                          \
    X(vkCmdResetQueryPool)                                                                         \
    X(vkCmdWriteTimestamp)                                                                         \
    X(vkGetQueryPoolResults)

/* Optional: present only with VK_EXT_debug_utils (validation runs). */
#define KILN_VK_DEBUG_FNS(X)                                                                       \
    X(vkCreateDebugUtilsMessengerEXT)                                                              \
    X(vkDestroyDebugUtilsMessengerEXT)

struct kiln__vk_fns {
    void *lib;
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
#define KILN_VK_FN_FIELD(f) PFN_##f f;
    KILN_VK_GLOBAL_FNS(KILN_VK_FN_FIELD)
    KILN_VK_INSTANCE_FNS(KILN_VK_FN_FIELD)
    KILN_VK_DEBUG_FNS(KILN_VK_FN_FIELD)
#undef KILN_VK_FN_FIELD
};

/* ==== Device state ==== */

#define KILN_VK_MAX_BINDINGS 5 /* storage buffers per shader (<= 8 for Metal) */
#define KILN_VK_PUSH_BYTES   128
#define KILN_VK_FRAMES       4 /* command buffers that may be in flight */

/* One VkDeviceMemory block, sub-allocated first-fit. */
struct kiln__vk_block {
    VkDeviceMemory mem;
    VkDeviceSize size;
    unsigned char *map; /* persistently mapped, or NULL */
    uint32_t type;
    int32_t n_used;
    struct kiln__vk_range {
        VkDeviceSize off, size;
    } * used; /* sorted by offset */
    int32_t cap_used;
};

struct kiln_buffer {
    VkBuffer buf;
    VkDeviceSize n_bytes;
    struct kiln__vk_block *block; /* borrowed: the pool's */
    VkDeviceSize mem_off;
    bool host_visible;
};

/* A range of a buffer a recorded dispatch reads or writes (hazard tracking). */
struct kiln__vk_access {
    VkBuffer buf;
    VkDeviceSize off, end;
    bool write;
};

#define KILN_VK_QUERIES 1024 /* timestamp queries per frame when profiling */

struct kiln__vk_frame {
    VkCommandBuffer cb;
    VkFence fence;
    bool in_flight;
    /* Profiling: a timestamp at the start and after every dispatch, and the op each
     * dispatch is charged to (query i > 0). */
    VkQueryPool queries; /* VK_NULL_HANDLE until profiling is first switched on */
    int32_t *q_op;
    uint64_t *q_ts;
    uint32_t n_q;
    bool timed; /* recorded with timestamps */
};

struct kiln__vk_pipeline_info {
    uint32_t n_spec;
    uint32_t spec[8];
};

struct kiln__vk {
    /* ---- borrowed (never owned) ---- */
    struct kiln_context *ctx;
    /* ---- owned ---- */
    struct kiln__vk_fns fn;
    VkInstance inst;
    VkDebugUtilsMessengerEXT messenger;
    uint32_t n_validation; /* validation warnings and errors seen */
    VkPhysicalDevice pd;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;

    /* queried once */
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem_props;
    uint32_t subgroup_size;
    uint32_t max_wg;        /* invocations we use per workgroup (<= 256) */
    uint32_t max_shared;    /* shared memory we plan for (<= 32 KiB) */
    VkDeviceSize max_range; /* maxStorageBufferRange */
    VkDeviceSize max_alloc; /* maxMemoryAllocationSize */
    uint32_t max_alloc_count;
    bool ieee;        /* SignedZeroInfNanPreserve shader variants usable */
    bool subgroup;    /* the _SG reduction variants (shaders/wgreduce.glsl) run */
    uint32_t ts_bits; /* the queue's timestampValidBits (0: no timestamps) */

    /* memory */
    bool force_staging, force_noncoherent;
    uint32_t dev_type, stage_type; /* memory type indices */
    bool dev_mappable;             /* tensors live in mappable memory (no staging) */
    bool dev_coherent, stage_coherent;
    struct kiln__vk_block **blocks;
    int32_t n_blocks, cap_blocks;
    VkDeviceSize block_bytes;
    VkDeviceSize heap_used;
    struct kiln_buffer *staging; /* a ring, grown on demand */
    VkDeviceSize stage_head;     /* bytes of the ring used since the last wait */

    /* pipelines */
    VkDescriptorSetLayout dsl[KILN_VK_MAX_BINDINGS + 1]; /* by number of bindings */
    VkPipelineLayout layout[KILN_VK_MAX_BINDINGS + 1];
    VkPipeline pipes[KILN__VK_SHADER_COUNT];
    /* per shader, the workgroups of its largest dispatch since kiln__vk_take_dispatched
     * last cleared them (0: not dispatched) */
    uint64_t n_groups[KILN__VK_SHADER_COUNT];
    VkPipelineCache cache;
    bool cache_dirty;  /* pipelines created since the cache was saved */
    bool cache_warned; /* an unwritable cache was reported once */
    char cache_path[1024];
    uint32_t mm_tile[5];         /* matmul BM, BN, BK, TM, TN */
    uint32_t cv_tile[3][5];      /* convolution GEMM tiles: M <= 16, larger M, small filter */
    struct kiln_buffer *scratch; /* split-k partial products (conv filter gradient) */
    VkDeviceSize scratch_bytes;

    /* recording */
    VkCommandPool cmd_pool;
    struct kiln__vk_frame frames[KILN_VK_FRAMES];
    int32_t cur;    /* frame being recorded, or -1 */
    int32_t next;   /* frame to use next */
    bool recording; /* frames[cur].cb is in the recording state */
    bool lost;      /* a submission or wait reported VK_ERROR_DEVICE_LOST: nothing runs */
    VkDescriptorPool *dpools;
    int32_t n_dpools, cap_dpools, cur_dpool;
    struct kiln__vk_access *acc;
    int32_t n_acc, cap_acc;
};

/* ==== Internal API (vk_*.c) ==== */

/* vk_memory.c */
kiln_status kiln__vk_memory_init(struct kiln__vk *vk);
void kiln__vk_memory_fini(struct kiln__vk *vk);
kiln_status kiln__vk_buffer_alloc(struct kiln_backend *be, size_t n_bytes,
                                  struct kiln_buffer **out);
void kiln__vk_buffer_free(struct kiln_backend *be, struct kiln_buffer *buf);
kiln_status kiln__vk_scratch_reserve(struct kiln__vk *vk, VkDeviceSize n_bytes);
const uint32_t *kiln__vk_tile_of(const struct kiln__vk *vk, enum kiln__vk_shader sh);
kiln_status kiln__vk_upload(struct kiln_backend *be, struct kiln_buffer *dst, size_t off,
                            const void *src, size_t n_bytes);
kiln_status kiln__vk_download(struct kiln_backend *be, const struct kiln_buffer *src, size_t off,
                              void *dst, size_t n_bytes);

/* vk_exec.c */
kiln_status kiln__vk_exec_init(struct kiln__vk *vk);
void kiln__vk_exec_fini(struct kiln__vk *vk);
/* Starts recording into a free frame when none is being recorded. */
kiln_status kiln__vk_record(struct kiln__vk *vk);
/* Ends and submits the frame being recorded, if any (no wait). */
kiln_status kiln__vk_submit(struct kiln__vk *vk);
/* Waits for every submitted frame and recycles descriptor pools. */
kiln_status kiln__vk_wait_all(struct kiln__vk *vk);
/* Records a full memory barrier between all earlier and later commands of the given
 * stages and forgets the tracked accesses. */
void kiln__vk_barrier(struct kiln__vk *vk, VkPipelineStageFlags src, VkAccessFlags src_access,
                      VkPipelineStageFlags dst, VkAccessFlags dst_access);
kiln_status kiln__vk_run_begin(struct kiln_backend *be);
kiln_status kiln__vk_run_end(struct kiln_backend *be);
kiln_status kiln__vk_synchronize(struct kiln_backend *be);
kiln_status kiln__vk_set_profiling(struct kiln_backend *be, bool on);
kiln_status kiln__vk_result(VkResult r, const char *call);

/* One storage-buffer binding of a dispatch. */
struct kiln__vk_bind {
    const struct kiln_buffer *buf;
    VkDeviceSize off, size;
    bool write;
};

/* Binds a tensor's storage (views resolve to their root). */
struct kiln__vk_bind kiln__vk_bind_tensor(const struct kiln_tensor *t, bool write);

/* Records one dispatch of shader with the bindings and push constants, inserting the
 * barrier that earlier accesses to the same ranges need. */
kiln_status kiln__vk_dispatch(struct kiln__vk *vk, enum kiln__vk_shader sh, int n_binds,
                              const struct kiln__vk_bind *binds, const void *pc, size_t pc_bytes,
                              uint32_t gx, uint32_t gy, uint32_t gz);

/* Invocations per workgroup of the matmul pipelines (from the chosen tile). */
uint32_t kiln__vk_matmul_wg(const struct kiln__vk *vk);

/* vk_kernels.c */
extern const struct kiln_kernel kiln__vk_kernels[KILN_OP_COUNT];
/* The launcher of ops without an entry in kiln__vk_kernels (KILN__OPF_GENERIC). */
extern const struct kiln_kernel kiln__vk_generic;
/* A shader whose workgroup reductions (shaders/wgreduce.glsl) come in two variants: sub,
 * on subgroup operations, where the device runs them (vk->subgroup), else plain. */
enum kiln__vk_shader kiln__vk_reduction(const struct kiln__vk *vk, enum kiln__vk_shader plain,
                                        enum kiln__vk_shader sub);
/* Workgroups for a grid-stride loop over n items. */
uint32_t kiln__vk_groups(const struct kiln__vk *vk, int64_t n, uint32_t wg);
/* One dispatch binding the node's sources then its output. */
kiln_status kiln__vk_run_simple(struct kiln_backend *be, const struct kiln_tensor *n,
                                enum kiln__vk_shader sh, const void *pc, size_t pc_bytes,
                                uint32_t gx);
/* Every tensor of n fits one storage-buffer binding (else the message says what to do). */
bool kiln__vk_supports(const struct kiln_backend *be, const struct kiln_tensor *n);

/* vk_kernels_cnn.c: convolution, pooling, layout, dropout, batch norm and LRN. */
kiln_status kiln__vk_conv(struct kiln_backend *be, const struct kiln_tensor *n);
bool kiln__vk_conv_supports(const struct kiln_backend *be, const struct kiln_tensor *n);
/* Whether CONV2D_BIAS node n runs as one launch (the row-blocked forward shaders add the
 * bias; the other paths run a second launch for it). */
bool kiln__vk_conv_one_launch(const struct kiln_backend *be, const struct kiln_tensor *n);
kiln_status kiln__vk_pool(struct kiln_backend *be, const struct kiln_tensor *n);
kiln_status kiln__vk_concat(struct kiln_backend *be, const struct kiln_tensor *n);
kiln_status kiln__vk_slice_pad(struct kiln_backend *be, const struct kiln_tensor *n);
kiln_status kiln__vk_dropout(struct kiln_backend *be, const struct kiln_tensor *n);
kiln_status kiln__vk_norm(struct kiln_backend *be, const struct kiln_tensor *n);

/* vk_rnn.c: the recurrent ops, a product and a cell dispatch per step. */
kiln_status kiln__vk_rnn(struct kiln_backend *be, const struct kiln_tensor *n);
bool kiln__vk_rnn_supports(const struct kiln_backend *be, const struct kiln_tensor *n);

/* vk_device.c: test hook, the number of validation messages this backend received. */
uint32_t kiln__vk_validation_count(const struct kiln_backend *be);

/* vk_exec.c: test hooks for the op matrix's pipeline coverage (tests/test_ops.c). Copies
 * the workgroups of each shader's largest dispatch since the last call into n_groups
 * (cap entries; shaders beyond cap are left out), clears the record, and returns the
 * number of shaders (KILN__VK_SHADER_COUNT); n_groups[i] == 0: shader i did not run. */
uint32_t kiln__vk_take_dispatched(struct kiln_backend *be, uint64_t *n_groups, uint32_t cap);
/* The name of shader i (< KILN__VK_SHADER_COUNT), as in shaders/. */
const char *kiln__vk_shader_name(uint32_t i);

#define KILN_VK_CHECK(call)                                                                        \
    do {                                                                                           \
        VkResult kiln__r = (call);                                                                 \
        if (kiln__r != VK_SUCCESS) {                                                               \
            return kiln__vk_result(kiln__r, #call);                                                \
        }                                                                                          \
    } while (0)

#endif /* KILN_VK_IMPL_H */
