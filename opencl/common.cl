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
