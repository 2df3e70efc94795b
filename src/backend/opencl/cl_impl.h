/*
 * cl_impl.h - internal state of the OpenCL backend shared by its files: the device
 * state (one context, one in-order queue), the buffer pool, the program and kernel
 * caches, the KILN_CL_CHECK macro that maps cl_int codes to kiln statuses, and the
 * launch helper every op family uses. Kernels themselves are in the .cl files of opencl/.
 */
#ifndef KILN_CL_IMPL_H
#define KILN_CL_IMPL_H

#ifdef __APPLE__
#include <OpenCL/opencl.h>
#else
#include <CL/cl.h>
#endif

#include "../../graph/graph_impl.h"

/* ==== Errors ==== */

/* Maps an OpenCL error code to a kiln status. */
kiln_status kiln__cl_status(cl_int err);
/* Returns the CL_* name of an error code ("CL_OUT_OF_RESOURCES"), or "CL_UNKNOWN". */
const char *kiln__cl_error_name(cl_int err);
/* Records a failed cl* call (its text, code and name) and returns the mapped status;
 * returns KILN_OK when err is CL_SUCCESS. */
kiln_status kiln__cl_check(cl_int err, const char *call, const char *file, int line);

/* Evaluates a cl* call returning cl_int; on failure records it and returns its status. */
#define KILN_CL_CHECK(call)          KILN_TRY(kiln__cl_check((call), #call, __FILE__, __LINE__))
/* The same as an expression: KILN_OK or the recorded status (for cleanup ladders). */
#define KILN_CL_STATUS(call)         kiln__cl_check((call), #call, __FILE__, __LINE__)
/* For calls that report through an errcode_ret: what names the call in the message. */
#define KILN_CL_CHECK_ERR(err, what) KILN_TRY(kiln__cl_check((err), (what), __FILE__, __LINE__))

/* ==== Device state ==== */

enum kiln__cl_prog {
    KILN__CL_BINARY,
    KILN__CL_UNARY,
    KILN__CL_SHAPE,
    KILN__CL_REDUCE,
    KILN__CL_LOSS,
    KILN__CL_OPTIM,
    KILN__CL_LAYOUT,
    KILN__CL_POOL,
    KILN__CL_CONV,
    KILN__CL_RANDOM,
    KILN__CL_NORM,
    KILN__CL_RNN,
    KILN__CL_INDEX,
    KILN__CL_LAYERNORM,
    KILN__CL_CONVROW,
    KILN__CL_GEMM,
    KILN__CL_N_PROGS
};

/* One large cl_mem that buffers are carved from (first fit, blocks sorted by offset). */
struct kiln__cl_block {
    size_t off, size;
};
struct kiln__cl_chunk {
    cl_mem mem; /* owned */
    size_t size;
    int32_t n_blocks, cap_blocks;
    struct kiln__cl_block *blocks; /* owned */
};

struct kiln_buffer {
    /* ---- borrowed (never owned) ---- */
    cl_mem mem; /* the chunk's cl_mem */
    /* ---- owned ---- */
    size_t base; /* byte offset of this buffer in mem */
    size_t n_bytes;
    int32_t chunk;
};

struct kiln__cl_kernel_entry {
    const char *name; /* static string */
    cl_kernel kernel; /* owned */
};

#define KILN__CL_MAX_KERNELS 128

/* Staging blocks for uploads, and the bytes staged before the host drains the queue. */
#define KILN__CL_MAX_STAGE   8
#define KILN__CL_STAGE_LIMIT ((size_t)64 << 20)

struct kiln__cl {
    /* ---- borrowed (never owned) ---- */
    cl_platform_id platform;
    cl_device_id device;
    /* ---- owned ---- */
    cl_context context;
    cl_command_queue queue;
    char platform_name[128];
    char driver_version[128];
    char device_version[128];
    char cl_c_version[128];
    cl_ulong max_alloc, global_mem, local_mem;
    size_t max_wg;
    int fp16;
    int is_cpu;   /* CL_DEVICE_TYPE_CPU: kernels may prefer contiguous spans per work-item */
    cl_uint n_cu; /* CL_DEVICE_MAX_COMPUTE_UNITS */
    int pending;  /* kernels enqueued since the last flush */
    bool lost;    /* queued work failed to run (CL_OUT_OF_RESOURCES from a flush, finish or
                     blocking read): the device is treated as lost, nothing more runs */
    cl_program progs[KILN__CL_N_PROGS];
    bool cache_warned; /* an unwritable cache was reported once */
    struct kiln__cl_kernel_entry kernels[KILN__CL_MAX_KERNELS];
    int32_t n_kernels;
    struct kiln__cl_chunk *chunks;
    int32_t n_chunks;
    cl_mem scratch; /* partial sums of two-pass reductions */
    size_t scratch_bytes;
    char tuning[256]; /* the CLBlast tuning file applied, if any */
    /* Host copies of uploads whose non-blocking writes may still be in flight; reset
     * whenever the in-order queue is known to be drained (after a blocking read). */
    struct kiln__cl_stage {
        unsigned char *p;
        size_t size, used;
    } stage[KILN__CL_MAX_STAGE];
    int32_t n_stage;
    size_t staged_bytes;
    /* Profiling (cl_profile.c): the queue has CL_QUEUE_PROFILING_ENABLE; the events of
     * the launches since the last host wait, with the op each is charged to. */
    bool profiling;
    cl_event *ev;
    int32_t *ev_op;
    int32_t n_ev, cap_ev;
};

static inline struct kiln__cl *kiln__cl_of(const struct kiln_backend *be)
{
    return (struct kiln__cl *)be->impl;
}

/* ==== Devices (cl_device.c) ==== */

/* A device found on some platform, in preference order (GPUs and accelerators first). */
struct kiln__cl_dev {
    cl_platform_id platform;
    cl_device_id device;
};

/* Lists every device of every platform, GPUs first. [out] devs: up to max entries;
 * [out] n: the number found. Fails with KILN_E_BACKEND_UNAVAILABLE saying why. */
kiln_status kiln__cl_enumerate(struct kiln__cl_dev *devs, int32_t max, int32_t *n);
/* Picks a device by index or case-insensitive name substring (NULL: the first). */
kiln_status kiln__cl_pick(const char *want, struct kiln__cl_dev *out, int32_t *index);
/* Fills info for one device. */
void kiln__cl_describe(const struct kiln__cl_dev *d, int32_t index, struct kiln_device_info *info);
/* A platform string ("?" when the query fails); always terminated. */
void kiln__cl_platform_str(cl_platform_id p, cl_platform_info what, char *out, size_t n);
/* A string for fixed-size device queries; always terminated. */
void kiln__cl_device_str(cl_device_id dev, cl_device_info what, char *out, size_t n);

/* ==== Programs and launches (cl_program.c) ==== */

/* Returns the kernel name of program prog, building the program (or loading its cached
 * binary) on first use. [out] out: borrowed, valid until fini. */
kiln_status kiln__cl_kernel(struct kiln_backend *be, enum kiln__cl_prog prog, const char *name,
                            cl_kernel *out);
/* Builds source text (len bytes) as program name with kiln's options, through the
 * on-disk binary cache. Fails with KILN_E_KERNEL_BUILD carrying the build log.
 * [out] out: the program, owned by the caller. */
kiln_status kiln__cl_build(struct kiln_backend *be, const char *name, const char *text, size_t len,
                           cl_program *out);
/* The program of an op family (op_list.h's name, "binary"): the one built from
 * opencl/<family>.cl. Fails with KILN_E_UNSUPPORTED when there is no such file. */
kiln_status kiln__cl_family_prog(const char *family, enum kiln__cl_prog *out);
/* Releases every program and kernel. */
void kiln__cl_programs_release(struct kiln__cl *cl);

struct kiln__cl_arg {
    size_t size;
    const void *ptr;
};
#define KILN__CL_ARG(x)                                                                            \
    {                                                                                              \
        sizeof(x), &(x)                                                                            \
    }
#define KILN__CL_N(a) ((cl_uint)(sizeof(a) / sizeof((a)[0])))

/* Enqueues kernel name of prog over n_items work-items (rounded up to whole
 * work-groups; kernels bounds-check). local: the work-group size, 0 = the default. */
kiln_status kiln__cl_launch(struct kiln_backend *be, enum kiln__cl_prog prog, const char *name,
                            size_t n_items, size_t local, cl_uint n_args,
                            const struct kiln__cl_arg *args);
/* The default work-group size for a kernel (a power of two, at most 256). */
size_t kiln__cl_group_size(struct kiln_backend *be, cl_kernel k);

/* The cl_mem and element offset (4-byte elements) of a tensor's storage. */
void kiln__cl_tensor(const struct kiln_tensor *t, cl_mem *mem, cl_ulong *off);
/* A scratch buffer of at least n_bytes (grown as needed; valid until the next call). */
kiln_status kiln__cl_scratch(struct kiln_backend *be, size_t n_bytes, cl_mem *out);

/* ==== Launch counts and profiling (cl_profile.c) ==== */

/* Recreates the queue with or without profiling (after draining it). */
kiln_status kiln__cl_set_profiling(struct kiln_backend *be, bool on);
/* Where the next launch should put its event: NULL unless profiling (or when the event
 * list cannot grow; that launch is then not timed). */
cl_event *kiln__cl_event_slot(struct kiln_backend *be);
/* Counts a launch just enqueued with the slot ev (NULL when none was used). */
void kiln__cl_launched(struct kiln_backend *be, cl_event *ev);
/* After a host wait (every launch has finished): charges their times, releases events. */
void kiln__cl_collect(struct kiln_backend *be);
void kiln__cl_profile_fini(struct kiln_backend *be);

/* ==== Kernel families ==== */

extern const struct kiln_kernel kiln__cl_kernels[KILN_OP_COUNT];
/* The launcher of ops without an entry in kiln__cl_kernels (KILN__OPF_GENERIC): kernel
 * <op name> of opencl/<family>.cl (cl_kernels.c). */
extern const struct kiln_kernel kiln__cl_generic;

/* cl_reduce.c: reductions, softmax and losses. */
kiln_status kiln__cl_reduce_sum(struct kiln_backend *be, const struct kiln_tensor *n);
kiln_status kiln__cl_argmax(struct kiln_backend *be, const struct kiln_tensor *n);
kiln_status kiln__cl_softmax(struct kiln_backend *be, const struct kiln_tensor *n);
kiln_status kiln__cl_softmax_bwd(struct kiln_backend *be, const struct kiln_tensor *n);
kiln_status kiln__cl_loss(struct kiln_backend *be, const struct kiln_tensor *n);
kiln_status kiln__cl_loss_bwd(struct kiln_backend *be, const struct kiln_tensor *n);

/* cl_layers.c: concat, slice, pad, pooling and upsampling. */
kiln_status kiln__cl_concat(struct kiln_backend *be, const struct kiln_tensor *n);
kiln_status kiln__cl_slice_pad(struct kiln_backend *be, const struct kiln_tensor *n);
kiln_status kiln__cl_pool(struct kiln_backend *be, const struct kiln_tensor *n);
kiln_status kiln__cl_upsample(struct kiln_backend *be, const struct kiln_tensor *n);
kiln_status kiln__cl_conv(struct kiln_backend *be, const struct kiln_tensor *n);
/* Whether CONV2D_BIAS node n runs as one launch: on the row kernels (stride and
 * dilation 1), whose epilogue adds the bias; elsewhere a second launch adds it. */
bool kiln__cl_conv_one_launch(const struct kiln_backend *be, const struct kiln_tensor *n);
kiln_status kiln__cl_dropout(struct kiln_backend *be, const struct kiln_tensor *n);

/* cl_norm.c: batch and local response normalization. */
kiln_status kiln__cl_bn(struct kiln_backend *be, const struct kiln_tensor *n);
kiln_status kiln__cl_lrn(struct kiln_backend *be, const struct kiln_tensor *n);

/* cl_gemm.c: matrix products on kiln's own kernel (small ones) or through CLBlast. */
kiln_status kiln__cl_matmul(struct kiln_backend *be, const struct kiln_tensor *n);
/* Whether the product of node n (MATMUL or a fused product) runs on kiln's
 * own kernel: small enough (or KILN_CL_GEMM=own, or no CLBlast) and laid out for it. */
bool kiln__cl_gemm_own(const struct kiln_backend *be, const struct kiln_tensor *n);
/* Runs node n's product on kiln's own kernel with epilogue mode: 0 none, 1 the bias
 * src[2] along the last dim, 2 that and ReLU, 3 the ReLU mask src[2] (y > 0 keeps), 4
 * none, and src[2] written with the sums of op(A)'s rows (MATMUL_DB). */
kiln_status kiln__cl_gemm_small(struct kiln_backend *be, const struct kiln_tensor *n, int mode);
bool kiln__cl_matmul_supports(const struct kiln_backend *be, const struct kiln_tensor *n);
/* CONV2D through CLBlastSconvgemm, where it fits and was measured faster (cl_gemm.c). */
bool kiln__cl_conv_uses_convgemm(const struct kiln_tensor *n);
kiln_status kiln__cl_conv_convgemm(struct kiln_backend *be, const struct kiln_tensor *n);
/* One row-major C = op(A) op(B) + beta C through CLBlastSgemm on the backend's queue,
 * for launchers that multiply parts of their tensors (element offsets and leading
 * dimensions); what names it in an error. */
struct kiln__cl_gemm {
    int trans_a, trans_b;
    size_t m, n, k;
    cl_mem a, b, c;
    size_t off_a, off_b, off_c, ld_a, ld_b, ld_c;
    float beta;
};
kiln_status kiln__cl_sgemm(struct kiln_backend *be, const struct kiln__cl_gemm *gm,
                           const char *what);
/* cl_rnn.c: the recurrent ops, a product and a cell kernel per step. */
kiln_status kiln__cl_rnn(struct kiln_backend *be, const struct kiln_tensor *n);
bool kiln__cl_rnn_supports(const struct kiln_backend *be, const struct kiln_tensor *n);
/* Applies CLBlast tuner JSON output for dev: path is a .json file or a directory of them.
 * Files for other devices are skipped. apply = 0 only counts the files that would apply.
 * [out] n_applied: kernel families overridden (or that would be).
 * Returns KILN_E_IO, KILN_E_FORMAT, KILN_E_UNSUPPORTED (no CLBlast or cJSON) or the
 * mapped CLBlast status. */
kiln_status kiln__cl_apply_tuning(cl_device_id dev, const char *path, int apply,
                                  int32_t *n_applied);
/* Applies one tuner JSON document (text) for dev. origin names it in messages.
 * [out] applied: 1 if it was for this device and was used. */
kiln_status kiln__cl_apply_tuning_json(cl_device_id dev, const char *json, const char *origin,
                                       int apply, int32_t *applied);
/* Maps a CLBlastStatusCode (an int here) to a kiln status, recording what failed. */
kiln_status kiln__cl_clblast_fail(int code, const char *what);

#endif /* KILN_CL_IMPL_H */
