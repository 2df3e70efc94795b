/*
 * test_rng.c - the counter-based generator and the parameter initializers built on it:
 * Philox4x32-10 against the Random123 known-answer vectors, the uniform and normal
 * draws' range and moments, and every kiln_init's documented bound or standard
 * deviation (read back after compile), determinism for a seed and change with another.
 * Dropout masks on GPUs are tested with their backend.
 */
#include <math.h>
#include <stdlib.h>

#include "core_util.h"
#include "rng.h"

/* ==== Philox4x32-10 ==== */

/* Random123's kat_vectors: counter (4 words), key (2 words) -> output (4 words). */
static const struct {
    uint32_t ctr[4], key[2], out[4];
} kat[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

START_TEST(test_philox_known_answers)
{
    /* kiln__philox: counter words c0, c1 = index lo/hi, c2, c3 = stream lo/hi; key =
     * seed lo/hi. */
    uint64_t index = kat[_i].ctr[0] | ((uint64_t)kat[_i].ctr[1] << 32);
    uint64_t stream = kat[_i].ctr[2] | ((uint64_t)kat[_i].ctr[3] << 32);
    uint64_t seed = kat[_i].key[0] | ((uint64_t)kat[_i].key[1] << 32);
    uint32_t out[4];
    kiln__philox(seed, stream, index, out);
    for (int w = 0; w < 4; w++) {
        ck_assert_msg(out[w] == kat[_i].out[w], "vector %d word %d: got 0x%08x, expected 0x%08x",
                      _i, w, out[w], kat[_i].out[w]);
    }
}
END_TEST

START_TEST(test_philox_is_pure)
{
    uint32_t a[4], b[4], c[4];
    kiln__philox(42, 3, 1000, a);
    kiln__philox(42, 3, 1000, b);
    ck_assert_mem_eq(a, b, sizeof(a));
    /* Every argument matters. */
    kiln__philox(43, 3, 1000, c);
    ck_assert_mem_ne(a, c, sizeof(a));
    kiln__philox(42, 4, 1000, c);
    ck_assert_mem_ne(a, c, sizeof(a));
    kiln__philox(42, 3, 1001, c);
    ck_assert_mem_ne(a, c, sizeof(a));
    /* The high halves of index, stream and seed are used too. */
    kiln__philox(42, 3, 1000 + (UINT64_C(1) << 32), c);
    ck_assert_mem_ne(a, c, sizeof(a));
    kiln__philox(42, 3 + (UINT64_C(1) << 32), 1000, c);
    ck_assert_mem_ne(a, c, sizeof(a));
    kiln__philox(42 + (UINT64_C(1) << 32), 3, 1000, c);
    ck_assert_mem_ne(a, c, sizeof(a));
}
END_TEST

/* ==== Uniform and normal draws ==== */

#define N_DRAWS 100000

START_TEST(test_uniform_range_and_moments)
{
    double sum = 0.0, sq = 0.0;
    float lo = 1.0f, hi = 0.0f;
    int buckets[10] = {0};
    for (int i = 0; i < N_DRAWS; i++) {
        float u = kiln__rng_uniform(1234, 5, (uint64_t)i);
        ck_assert_msg(u >= 0.0f && u < 1.0f, "draw %d is %.9g", i, u);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        sum += u;
        sq += (double)u * u;
        buckets[(int)(u * 10.0f)]++;
    }
    double mean = sum / N_DRAWS, var = sq / N_DRAWS - mean * mean;
    /* Standard error of the mean is sqrt(1/12 / 1e5) = 9e-4. */
    ck_assert_msg(fabs(mean - 0.5) < 0.005, "mean %g", mean);
    ck_assert_msg(fabs(var - 1.0 / 12.0) < 0.002, "variance %g", var);
    ck_assert(lo < 1e-3f && hi > 0.999f);
    for (int b = 0; b < 10; b++) {
        ck_assert_msg(abs(buckets[b] - N_DRAWS / 10) < 600, "bucket %d has %d", b, buckets[b]);
    }
    /* The largest value the 24-bit mapping gives is below 1. */
    ck_assert(kiln__u01(0xffffffffu) < 1.0f);
    ck_assert(kiln__u01(0) == 0.0f);
}
END_TEST

START_TEST(test_normal_moments)
{
    double sum = 0.0, sq = 0.0, cube = 0.0, quad = 0.0;
    int within1 = 0;
    for (int i = 0; i < N_DRAWS; i++) {
        double z = kiln__rng_normal(99, 0, (uint64_t)i);
        ck_assert_msg(isfinite(z), "draw %d is not finite", i);
        sum += z;
        sq += z * z;
        cube += z * z * z;
        quad += z * z * z * z;
        within1 += fabs(z) < 1.0;
    }
    double mean = sum / N_DRAWS, var = sq / N_DRAWS - mean * mean;
    ck_assert_msg(fabs(mean) < 0.015, "mean %g", mean);
    ck_assert_msg(fabs(var - 1.0) < 0.02, "variance %g", var);
    ck_assert_msg(fabs(cube / N_DRAWS) < 0.05, "third moment %g", cube / N_DRAWS);
    ck_assert_msg(fabs(quad / N_DRAWS - 3.0) < 0.1, "fourth moment %g", quad / N_DRAWS);
    /* P(|z| < 1) = 0.6827. */
    ck_assert_msg(fabs((double)within1 / N_DRAWS - 0.6827) < 0.01, "P(|z|<1) = %g",
                  (double)within1 / N_DRAWS);
}
END_TEST

START_TEST(test_streams_are_uncorrelated)
{
    double sxy = 0.0;
    for (int i = 0; i < N_DRAWS; i++) {
        sxy += (double)kiln__rng_normal(7, 0, (uint64_t)i) * kiln__rng_normal(7, 1, (uint64_t)i);
    }
    ck_assert_msg(fabs(sxy / N_DRAWS) < 0.015, "correlation %g", sxy / N_DRAWS);
}
END_TEST

/* ==== Initializers ==== */

struct init_case {
    const char *what;
    kiln_init init;
    float arg;
    int32_t rank;
    int64_t dims[4];
    int uniform;  /* 1: U(-bound, bound); 0: N(0, std^2); -1: constant */
    double scale; /* bound, std or the constant */
};

/* fan_in/fan_out: [64, 32] -> 32, 64; [24, 8, 3, 3] -> 72, 216; [50] -> 50, 50. */
static const struct init_case init_cases[] = {
    {"zeros", KILN_INIT_ZEROS, 0.0f, 2, {64, 32}, -1, 0.0},
    {"ones", KILN_INIT_ONES, 0.0f, 2, {64, 32}, -1, 1.0},
    {"constant", KILN_INIT_CONSTANT, -0.25f, 2, {64, 32}, -1, -0.25},
    {"uniform", KILN_INIT_UNIFORM, 0.3f, 2, {64, 32}, 1, 0.3},
    {"normal", KILN_INIT_NORMAL, 0.2f, 2, {64, 32}, 0, 0.2},
    {"xavier_uniform", KILN_INIT_XAVIER_UNIFORM, 0.0f, 2, {64, 32}, 1, 0.25},       /* 6/96 */
    {"xavier_normal", KILN_INIT_XAVIER_NORMAL, 0.0f, 2, {64, 32}, 0, 0.1443375673}, /* 2/96 */
    {"he_uniform", KILN_INIT_HE_UNIFORM, 0.0f, 2, {64, 32}, 1, 0.4330127019},       /* 6/32 */
    {"he_normal", KILN_INIT_HE_NORMAL, 0.0f, 2, {64, 32}, 0, 0.25},                 /* 2/32 */
    {"fan_in_uniform", KILN_INIT_FAN_IN_UNIFORM, 0.0f, 2, {64, 32}, 1, 0.1767766953},
    {"conv xavier_uniform",
     KILN_INIT_XAVIER_UNIFORM,
     0.0f,
     4,
     {24, 8, 3, 3},
     1,
     0.1443375673}, /* 6 / (72 + 216) */
    {"conv he_normal", KILN_INIT_HE_NORMAL, 0.0f, 4, {24, 8, 3, 3}, 0, 0.1666666667}, /* 2/72 */
    {"conv fan_in_uniform",
     KILN_INIT_FAN_IN_UNIFORM,
     0.0f,
     4,
     {24, 8, 3, 3},
     1,
     0.1178511302}, /* 1/sqrt(72) */
    {"bias fan_in_uniform", KILN_INIT_FAN_IN_UNIFORM, 0.0f, 1, {50}, 1, 0.1414213562},
};
#define N_INIT_CASES ((int)(sizeof(init_cases) / sizeof(init_cases[0])))

/* Compiles a graph holding one parameter p (after a decoy parameter when decoy is set,
 * which moves p to stream 1) and returns its initial values (malloc'd). */
static float *init_values(const struct init_case *c, uint64_t seed, int decoy, int64_t *n_out)
{
    kiln_context *ctx = core_context();
    kiln_graph *g = NULL;
    EXPECT_OK(kiln_graph_create(ctx, &g));
    if (decoy) {
        kiln_param(g, "decoy", c->rank, c->dims, c->init, c->arg, seed);
    }
    kiln_tensor *p = kiln_param(g, "p", c->rank, c->dims, c->init, c->arg, seed);
    EXPECT_OK(kiln_graph_compile(g));
    int64_t n = kiln_tensor_n_elems(p);
    float *v = malloc((size_t)n * sizeof(float));
    ck_assert_ptr_nonnull(v);
    EXPECT_OK(kiln_tensor_download(p, v, (size_t)n * sizeof(float)));
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
    *n_out = n;
    return v;
}

START_TEST(test_initializer_distribution)
{
    const struct init_case *c = &init_cases[_i];
    int64_t n;
    float *v = init_values(c, 2024, 0, &n);
    double sum = 0.0, sq = 0.0, max_abs = 0.0;
    for (int64_t i = 0; i < n; i++) {
        ck_assert_msg(isfinite(v[i]), "%s: element %lld is not finite", c->what, (long long)i);
        if (c->uniform < 0) {
            ck_assert_msg(v[i] == (float)c->scale, "%s: element %lld is %g", c->what, (long long)i,
                          v[i]);
        }
        if (c->uniform > 0) {
            ck_assert_msg(fabs(v[i]) <= c->scale * (1 + 1e-6), "%s: element %lld = %g, bound %g",
                          c->what, (long long)i, v[i], c->scale);
        }
        sum += v[i];
        sq += (double)v[i] * v[i];
        max_abs = fabs(v[i]) > max_abs ? fabs(v[i]) : max_abs;
    }
    free(v);
    if (c->uniform < 0) {
        return;
    }
    double mean = sum / (double)n, var = sq / (double)n - mean * mean;
    double want_var = c->uniform ? c->scale * c->scale / 3.0 : c->scale * c->scale;
    /* With n >= 50 draws, 6 standard errors of the mean and a loose variance bound. */
    double tol_var = n >= 1000 ? 0.12 : 0.45;
    ck_assert_msg(fabs(mean) < 6.0 * sqrt(want_var / (double)n), "%s: mean %g", c->what, mean);
    ck_assert_msg(fabs(var / want_var - 1.0) < tol_var, "%s: variance %g, expected %g", c->what,
                  var, want_var);
    if (c->uniform > 0) {
        /* The draws fill the range: the largest is close to the bound. */
        ck_assert_msg(max_abs > 0.9 * c->scale, "%s: largest |value| %g, bound %g", c->what,
                      max_abs, c->scale);
    } else {
        ck_assert_msg(max_abs > 2.0 * c->scale, "%s: largest |value| %g for std %g", c->what,
                      max_abs, c->scale);
    }
}
END_TEST

START_TEST(test_initializer_determinism)
{
    const struct init_case *c = &init_cases[_i];
    int64_t n, n2, n3, n4;
    float *a = init_values(c, 77, 0, &n);
    float *b = init_values(c, 77, 0, &n2);
    float *other_seed = init_values(c, 78, 0, &n3);
    float *other_stream = init_values(c, 77, 1, &n4);
    ck_assert_mem_eq(a, b, (size_t)n * sizeof(float));
    if (c->uniform >= 0) {
        int64_t same_seed = 0, same_stream = 0;
        for (int64_t i = 0; i < n; i++) {
            same_seed += a[i] == other_seed[i];
            same_stream += a[i] == other_stream[i];
        }
        ck_assert_msg(same_seed < n / 50 + 1, "%s: another seed repeats %lld of %lld values",
                      c->what, (long long)same_seed, (long long)n);
        ck_assert_msg(same_stream < n / 50 + 1,
                      "%s: the second parameter repeats %lld of %lld values of the first", c->what,
                      (long long)same_stream, (long long)n);
    } else {
        ck_assert_mem_eq(a, other_seed, (size_t)n * sizeof(float));
    }
    free(a);
    free(b);
    free(other_seed);
    free(other_stream);
}
END_TEST

START_TEST(test_reset_restores_initial_values)
{
    kiln_context *ctx = core_context();
    kiln_graph *g = NULL;
    EXPECT_OK(kiln_graph_create(ctx, &g));
    int64_t d[2] = {8, 6};
    kiln_tensor *p = kiln_param(g, "p", 2, d, KILN_INIT_HE_NORMAL, 0.0f, 5);
    EXPECT_OK(kiln_graph_compile(g));
    float a[48], b[48], junk[48];
    EXPECT_OK(kiln_tensor_download(p, a, sizeof(a)));
    for (int i = 0; i < 48; i++) {
        junk[i] = (float)i;
    }
    EXPECT_OK(kiln_tensor_upload(p, junk, sizeof(junk)));
    EXPECT_OK(kiln_graph_reset_params(g));
    EXPECT_OK(kiln_tensor_download(p, b, sizeof(b)));
    ck_assert_mem_eq(a, b, sizeof(a));
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
}
END_TEST

static Suite *rng_suite(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("philox");
    tcase_add_loop_test(tc, test_philox_known_answers, 0, (int)(sizeof(kat) / sizeof(kat[0])));
    tcase_add_test(tc, test_philox_is_pure);
    tcase_add_test(tc, test_uniform_range_and_moments);
    tcase_add_test(tc, test_normal_moments);
    tcase_add_test(tc, test_streams_are_uncorrelated);
    suite_add_tcase(s, tc);
    tc = tcase_create("init");
    tcase_add_loop_test(tc, test_initializer_distribution, 0, N_INIT_CASES);
    tcase_add_loop_test(tc, test_initializer_determinism, 0, N_INIT_CASES);
    tcase_add_test(tc, test_reset_restores_initial_values);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return core_run_suite(rng_suite());
}
