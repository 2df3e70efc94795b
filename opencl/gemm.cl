/*
 * gemm.cl - kiln's own matrix product for small products (the CPU reference is
 * src/ops/gemm.c; larger products go to CLBlast, src/backend/opencl/cl_gemm.c):
 * C = op(A) op(B), each work-item four rows of one column of C (neighbouring items
 * neighbouring columns, so B's rows are read in runs and A's value is shared by the
 * four sums), each sum taken in order over k, with no local memory or barriers (on CPU
 * devices the work-group loop then vectorizes across items). The epilogue is the fused
 * ops' second part: mode 1 adds a bias along the last dim (MATMUL_BIAS), mode 2 then
 * applies kiln's ReLU (NaN gives 0), mode 3 keeps the product where the mask y is > 0
 * (MATMUL_RELU_BWD). gemm_small_db (MATMUL_DB, one matrix) also writes e[i] = the sum
 * over k of op(A)'s row i: the items of column 0, which own four rows each, add those
 * rows' k values in order after their product. Operands are addressed through strides,
 * so a transposed operand needs no copy. OpenCL C 1.2.
 */
#pragma OPENCL FP_CONTRACT OFF

#define ROWS 4

static float epilogue(float acc, global const float *e, ulong oe, ulong at, uint j, int mode)
{
    if (mode == 1 || mode == 2) {
        float v = acc + e[oe + j];
        return mode == 2 && !(v > 0.0f) ? 0.0f : v;
    }
    if (mode == 3) {
        return e[oe + at] > 0.0f ? acc : 0.0f;
    }
    return acc;
}

/* The sums over k of the rows i0 + t (t < rows) of op(A), each in k order, into e. */
static void row_sums(global const float *pa, uint sak, ulong sam, uint rows, uint k,
                     global float *e, ulong oe, uint i0)
{
    for (uint t = 0; t < rows; t++) {
        float s = 0.0f;
        for (uint q = 0; q < k; q++) {
            s += pa[(ulong)q * sak + t * sam];
        }
        e[oe + i0 + t] = s;
    }
}

/* A's element (i, kk) is a[oa + i sam + kk sak], B's (kk, j) b[ob + kk sbk + j sbn];
 * batch entry z starts bsa (bsb) elements further, C's z m n further. e is the bias
 * (mode 1, 2) or the mask y (mode 3, laid out as C), unused in mode 0. db, where not
 * NULL, gets the sums of op(A)'s rows. Work-item g: column g % n, rows 4
 * ((g / n) % row_blocks) on, batch entry g / (n row_blocks). */
static inline void gemm_item(global const float *a, ulong oa, global const float *b, ulong ob,
                             global float *c, ulong oc, global const float *e, ulong oe, uint m,
                             uint n, uint k, uint sam, uint sak, uint sbk, uint sbn, ulong bsa,
                             ulong bsb, uint row_blocks, ulong items, int mode, global float *db,
                             ulong od)
{
    ulong g = get_global_id(0);
    if (g >= items) {
        return;
    }
    uint j = (uint)(g % n);
    ulong r = g / n;
    uint i0 = (uint)(r % row_blocks) * ROWS;
    ulong z = r / row_blocks;
    global const float *pa = a + oa + z * bsa + (ulong)i0 * sam;
    global const float *pb = b + ob + z * bsb + (ulong)j * sbn;
    uint rows = min((uint)ROWS, m - i0);
    /* Rows past m repeat the last row (their sums are dropped), so every item runs the
     * same loop. */
    ulong s1 = rows > 1 ? sam : 0, s2 = rows > 2 ? 2 * (ulong)sam : s1;
    ulong s3 = rows > 3 ? 3 * (ulong)sam : s2;
    float c0 = 0.0f, c1 = 0.0f, c2 = 0.0f, c3 = 0.0f;
    for (uint q = 0; q < k; q++) {
        float bv = pb[(ulong)q * sbk];
        global const float *pq = pa + (ulong)q * sak;
        c0 += pq[0] * bv;
        c1 += pq[s1] * bv;
        c2 += pq[s2] * bv;
        c3 += pq[s3] * bv;
    }
    float acc[ROWS] = {c0, c1, c2, c3};
    for (uint t = 0; t < rows; t++) {
        ulong at = z * (ulong)m * n + (ulong)(i0 + t) * n + j;
        c[oc + at] = epilogue(acc[t], e, oe, at, j, mode);
    }
    if (db != 0 && j == 0 && z == 0) {
        row_sums(pa, sak, sam, rows, k, db, od, i0);
    }
}

/* The product with epilogue mode (gemm_item; e read only). */
kernel void gemm_small(global const float *a, ulong oa, global const float *b, ulong ob,
                       global float *c, ulong oc, global const float *e, ulong oe, uint m, uint n,
                       uint k, uint sam, uint sak, uint sbk, uint sbn, ulong bsa, ulong bsb,
                       uint row_blocks, ulong items, int mode)
{
    gemm_item(a, oa, b, ob, c, oc, e, oe, m, n, k, sam, sak, sbk, sbn, bsa, bsb, row_blocks, items,
              mode, 0, 0);
}

/* MATMUL_DB: the product (no epilogue; mode is ignored) and e written with the sums of
 * op(A)'s rows by the items of column 0. A kernel of its own, so that gemm_small's
 * items have no such branch. */
kernel void gemm_small_db(global const float *a, ulong oa, global const float *b, ulong ob,
                          global float *c, ulong oc, global float *e, ulong oe, uint m, uint n,
                          uint k, uint sam, uint sak, uint sbk, uint sbn, ulong bsa, ulong bsb,
                          uint row_blocks, ulong items, int mode)
{
    (void)mode;
    gemm_item(a, oa, b, ob, c, oc, e, oe, m, n, k, sam, sak, sbk, sbn, bsa, bsb, row_blocks, items,
              0, e, oe);
}

/* MATMUL_DB where CLBlast runs the product: e[i] = the sum over q of a[q m + i] (a
 * stored [k, m]) in q order, as row_sums adds op(A)'s rows; one work-item per i. */
kernel void col_sums(global const float *a, ulong oa, global float *e, ulong oe, uint m, uint k)
{
    uint i = (uint)get_global_id(0);
    if (i >= m) {
        return;
    }
    float s = 0.0f;
    for (uint q = 0; q < k; q++) {
        s += a[oa + (ulong)q * m + i];
    }
    e[oe + i] = s;
}
