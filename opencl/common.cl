/*
 * common.cl - helpers shared by every kiln OpenCL program; the backend prepends this
 * file to each family's source before building it. Work-group reductions assume a
 * power-of-two work-group size and local memory of one float per work-item.
 * OpenCL C 1.2.
 */
#pragma OPENCL FP_CONTRACT OFF

/* Sum of v over the work-group; every item gets it. */
static float group_sum(local float *buf, float v)
{
    uint l = get_local_id(0), n = get_local_size(0);
    buf[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = n / 2; s > 0; s >>= 1) {
        if (l < s) {
            buf[l] += buf[l + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* Maximum of v over the work-group (NaN loses, as in the reference's comparison). */
static float group_max(local float *buf, float v)
{
    uint l = get_local_id(0), n = get_local_size(0);
    buf[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = n / 2; s > 0; s >>= 1) {
        if (l < s) {
            buf[l] = fmax(buf[l], buf[l + s]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* The element offset of row-major element i of dims d (8 dims, outermost first) in an
 * operand with element strides st: the 8-dim kernels' index arithmetic, used when a
 * shape does not merge into 4 dims. */
static long offset8(long i, long8 d, long8 st)
{
    long dd[8], ss[8], off = 0;
    vstore8(d, 0, dd);
    vstore8(st, 0, ss);
    for (int k = 7; k >= 0; k--) {
        off += (i % dd[k]) * ss[k];
        i /= dd[k];
    }
    return off;
}

/* The header of every generic kernel (src/ops/op_desc.h, struct kiln__gen_hdr): the
 * work-items, whether the graph runs in training mode, and its run count. Generic kernels
 * take (buffer, element offset) pairs for their sources and output, this header, then
 * the op's params struct, mirrored field by field from its row in src/ops/op_list.h. */
typedef struct {
    uint n, training, run_lo, run_hi;
} kiln_hdr;
