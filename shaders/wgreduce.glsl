/*
 * wgreduce.glsl - workgroup reductions for the shaders that reduce one row (or one
 * output) per workgroup, included after common.glsl. A shader instantiates the ones it
 * uses (each declares its own shared memory):
 *   KILN_WG_SUM    float kiln_wg_sum(float v)   the sum of v over the workgroup
 *   KILN_WG_SUM2   vec2 kiln_wg_sum2(vec2 v)    two sums at once
 *   KILN_WG_MAX    float kiln_wg_max(float v)   the max
 *   KILN_WG_ARGMAX int kiln_wg_argmax(float v, int i)  the smallest index i holding the
 *                  largest v over the invocations with i >= 0 (v ignored where i < 0),
 *                  -1 when there is none; v is never NaN
 * Every invocation calls them in uniform control flow and gets the result.
 *
 * The default build reduces through a shared-memory tree (WG a power of two): log2(WG)
 * barriers. Built with -DKILN_SUBGROUP (variants the host picks when the device has the
 * basic and arithmetic subgroup operations in compute shaders and WG is a multiple of
 * its subgroup size) each subgroup reduces with subgroupAdd / subgroupMax, writes its
 * partial to shared memory, and the first subgroup combines the partials: two barriers.
 * Both orders are fixed for a device and subgroup size, so results repeat run to run;
 * the two paths group the float additions differently.
 */
#ifdef KILN_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

/* Defines T name(T v): v reduced by subgroup operation SGOP and combine function COMB,
 * through one partial per subgroup (at most WG of them). Lane k of the first subgroup
 * combines partials k, k + subgroup size, ... in order; a lane past the last partial
 * contributes IDLE (an expression of t, which holds partial 0 there). Only the first
 * subgroup reads the partials; the result goes through name_out, so two barriers keep
 * consecutive calls apart. */
#define KILN_SG_REDUCE(T, name, SGOP, COMB, IDLE)                                              \
    shared T name##_part[WG];                                                                  \
    shared T name##_out;                                                                       \
    T name(T v)                                                                                \
    {                                                                                          \
        T s = SGOP(v);                                                                         \
        if (subgroupElect()) {                                                                 \
            name##_part[gl_SubgroupID] = s;                                                    \
        }                                                                                      \
        barrier();                                                                             \
        if (gl_SubgroupID == 0u) {                                                             \
            uint lane = gl_SubgroupInvocationID;                                               \
            T t = name##_part[lane < gl_NumSubgroups ? lane : 0u];                             \
            for (uint k = lane + gl_SubgroupSize; k < gl_NumSubgroups; k += gl_SubgroupSize) { \
                t = COMB(t, name##_part[k]);                                                   \
            }                                                                                  \
            t = SGOP(lane < gl_NumSubgroups ? t : IDLE);                                       \
            if (subgroupElect()) {                                                             \
                name##_out = t;                                                                \
            }                                                                                  \
        }                                                                                      \
        barrier();                                                                             \
        return name##_out;                                                                     \
    }

#define KILN_SG_ADD(a, b) ((a) + (b))
#define KILN_WG_SUM       KILN_SG_REDUCE(float, kiln_wg_sum, subgroupAdd, KILN_SG_ADD, 0.0)
#define KILN_WG_SUM2      KILN_SG_REDUCE(vec2, kiln_wg_sum2, subgroupAdd, KILN_SG_ADD, vec2(0.0))
#define KILN_WG_MAX       KILN_SG_REDUCE(float, kiln_wg_max, subgroupMax, max, t)

/* Argmax over (key, index) pairs: the key orders floats as integers (-0 as +0; i < 0
 * gets the lowest key, which no float but a NaN maps to), the index is 0x7fffffff for
 * none. The largest key, then the smallest index holding it: max and min are exact and
 * order-free, so the result does not depend on the grouping. */
#define KILN_WG_ARGMAX                                                                         \
    shared ivec2 kiln_wg_argmax_part[WG];                                                      \
    shared ivec2 kiln_wg_argmax_out;                                                           \
    ivec2 kiln_sg_pick(ivec2 p)                                                                \
    {                                                                                          \
        int m = subgroupMax(p.x);                                                              \
        return ivec2(m, subgroupMin(p.x == m ? p.y : 0x7fffffff));                             \
    }                                                                                          \
    int kiln_wg_argmax(float v, int i)                                                         \
    {                                                                                          \
        int b = v == 0.0 ? 0 : floatBitsToInt(v);                                              \
        ivec2 p = i < 0 ? ivec2(int(0x80000000u), 0x7fffffff)                                  \
                        : ivec2(b >= 0 ? b : b ^ 0x7fffffff, i);                               \
        p = kiln_sg_pick(p);                                                                   \
        if (subgroupElect()) {                                                                 \
            kiln_wg_argmax_part[gl_SubgroupID] = p;                                            \
        }                                                                                      \
        barrier();                                                                             \
        if (gl_SubgroupID == 0u) {                                                             \
            ivec2 t = ivec2(int(0x80000000u), 0x7fffffff);                                     \
            for (uint k = gl_SubgroupInvocationID; k < gl_NumSubgroups; k += gl_SubgroupSize) { \
                ivec2 o = kiln_wg_argmax_part[k];                                              \
                if (o.x > t.x || (o.x == t.x && o.y < t.y)) {                                  \
                    t = o;                                                                     \
                }                                                                              \
            }                                                                                  \
            t = kiln_sg_pick(t);                                                               \
            if (subgroupElect()) {                                                             \
                kiln_wg_argmax_out = t;                                                        \
            }                                                                                  \
        }                                                                                      \
        barrier();                                                                             \
        int r = kiln_wg_argmax_out.y;                                                          \
        return r == 0x7fffffff ? -1 : r;                                                       \
    }
#else
/* Defines T name(T v): a tree over shared memory, pairs combined by COMB. */
#define KILN_TREE_REDUCE(T, name, COMB)                                                        \
    shared T name##_red[WG];                                                                   \
    T name(T v)                                                                                \
    {                                                                                          \
        uint lid = gl_LocalInvocationID.x;                                                     \
        name##_red[lid] = v;                                                                   \
        barrier();                                                                             \
        for (uint s = WG / 2u; s > 0u; s >>= 1) {                                              \
            if (lid < s) {                                                                     \
                name##_red[lid] = COMB(name##_red[lid], name##_red[lid + s]);                  \
            }                                                                                  \
            barrier();                                                                         \
        }                                                                                      \
        T r = name##_red[0];                                                                   \
        barrier();                                                                             \
        return r;                                                                              \
    }

#define KILN_TREE_ADD(a, b) ((a) + (b))
#define KILN_WG_SUM         KILN_TREE_REDUCE(float, kiln_wg_sum, KILN_TREE_ADD)
#define KILN_WG_SUM2        KILN_TREE_REDUCE(vec2, kiln_wg_sum2, KILN_TREE_ADD)
#define KILN_WG_MAX         KILN_TREE_REDUCE(float, kiln_wg_max, max)

/* The tree keeps the first (lowest-index) of equal maxima. */
#define KILN_WG_ARGMAX                                                                         \
    shared float kiln_wg_argmax_v[WG];                                                         \
    shared int kiln_wg_argmax_i[WG];                                                           \
    int kiln_wg_argmax(float v, int i)                                                         \
    {                                                                                          \
        uint lid = gl_LocalInvocationID.x;                                                     \
        kiln_wg_argmax_v[lid] = v;                                                             \
        kiln_wg_argmax_i[lid] = i;                                                             \
        barrier();                                                                             \
        for (uint s = WG / 2u; s > 0u; s >>= 1) {                                              \
            if (lid < s) {                                                                     \
                int oi = kiln_wg_argmax_i[lid + s], si = kiln_wg_argmax_i[lid];                \
                float ov = kiln_wg_argmax_v[lid + s], sv = kiln_wg_argmax_v[lid];              \
                if (oi >= 0 && (si < 0 || ov > sv || (ov == sv && oi < si))) {                 \
                    kiln_wg_argmax_v[lid] = ov;                                                \
                    kiln_wg_argmax_i[lid] = oi;                                                \
                }                                                                              \
            }                                                                                  \
            barrier();                                                                         \
        }                                                                                      \
        int r = kiln_wg_argmax_i[0];                                                           \
        barrier();                                                                             \
        return r;                                                                              \
    }
#endif
