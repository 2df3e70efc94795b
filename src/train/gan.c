/*
 * gan.c - DCGAN training on two graphs over one parameter store. The generator's graph
 * runs G(z), then the discriminator frozen (kiln_graph_freeze: its parameters borrowed
 * from the store without gradients), and copies the generated batch into a shared
 * store tensor; the discriminator's graph reads that tensor after the real batch, so
 * the generated images never leave the device. Each network has its own Adam over its
 * prefix of the store. Noise comes from the counter-based generator on the host.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "../rng.h"
#include "kiln/nn.h"
#include "kiln/train.h"

#define STREAM_NOISE  0x6e6f6973u
#define STREAM_SAMPLE 0x73616d70u

struct kiln_gan {
    /* ---- borrowed (never owned) ---- */
    kiln_context *ctx;
    kiln_tensor *z, *fake, *g_targets, *g_loss;
    kiln_tensor *x, *d_targets, *d_loss;
    kiln_optimizer *g_opt, *d_opt; /* owned by the store */
    /* ---- owned ---- */
    struct kiln_gan_options o;
    kiln_store *store;
    kiln_graph *gg, *dg;
    float *zbuf, *ones, *dt;
    uint64_t noise_counter;
};

static kiln_status build(kiln_gan *gan)
{
    const struct kiln_gan_options *o = &gan->o;
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    int64_t b = o->batch_size;
    int64_t zd[2] = {b, o->nz}, xd[4] = {b, 1, 28, 28}, td[2] = {2 * b, 1};
    oo.kind = KILN_OPTIM_ADAM;
    oo.lr = o->lr;
    oo.beta1 = o->beta1;
    oo.beta2 = 0.999f;

    KILN_TRY(kiln_store_create(gan->ctx, &gan->store));
    /* The discriminator sees the real batch, then the generated one from the store. */
    KILN_TRY(kiln_graph_create_in(gan->store, &gan->dg));
    gan->x = kiln_input(gan->dg, "x", KILN_DTYPE_F32, 4, xd);
    kiln_tensor *both[2] = {gan->x,
                            kiln_store_tensor(gan->dg, "gan.fake", KILN_STORE_SHARED,
                                              KILN_DTYPE_F32, 4, xd, KILN_INIT_ZEROS, 0.0f, 0)};
    gan->d_targets = kiln_input(gan->dg, "targets", KILN_DTYPE_F32, 2, td);
    kiln_tensor *logits = kiln_dcgan_discriminator(gan->dg, kiln_concat(gan->dg, 2, both, 0),
                                                   o->d_width, 0, o->seed + 1);
    gan->d_loss = kiln_tensor_keep(kiln_bce_logits(gan->dg, logits, gan->d_targets));
    KILN_TRY(kiln_graph_backward(gan->dg, gan->d_loss));
    KILN_TRY(kiln_graph_compile(gan->dg));

    td[0] = b;
    KILN_TRY(kiln_graph_create_in(gan->store, &gan->gg));
    gan->z = kiln_input(gan->gg, "z", KILN_DTYPE_F32, 2, zd);
    gan->g_targets = kiln_input(gan->gg, "targets", KILN_DTYPE_F32, 2, td);
    gan->fake = kiln_tensor_keep(kiln_dcgan_generator(gan->gg, gan->z, o->g_width, o->seed));
    logits = kiln_dcgan_discriminator(gan->gg, gan->fake, o->d_width, 1, 0);
    gan->g_loss = kiln_tensor_keep(kiln_bce_logits(gan->gg, logits, gan->g_targets));
    kiln_assign(gan->gg,
                kiln_store_tensor(gan->gg, "gan.fake", KILN_STORE_SHARED, KILN_DTYPE_F32, 4, xd,
                                  KILN_INIT_ZEROS, 0.0f, 0),
                gan->fake);
    KILN_TRY(kiln_graph_backward(gan->gg, gan->g_loss));
    KILN_TRY(kiln_graph_compile(gan->gg));

    oo.prefix = "gen.";
    KILN_TRY(kiln_optimizer_create(gan->store, &oo, &gan->g_opt));
    oo.prefix = "disc.";
    return kiln_optimizer_create(gan->store, &oo, &gan->d_opt);
}

kiln_status kiln_gan_create(kiln_context *ctx, const struct kiln_gan_options *o, kiln_gan **out)
{
    struct kiln_gan_options d = KILN_GAN_OPTIONS_INIT;
    kiln_status s;
    if (ctx == NULL || out == NULL || (o != NULL && o->struct_size < sizeof(*o))) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_gan_create: bad arguments");
    }
    *out = NULL;
    o = o != NULL ? o : &d;
    if (o->batch_size < 1 || o->nz < 1 || o->g_width < 1 || o->d_width < 1 || !(o->lr > 0.0f) ||
        !(o->beta1 >= 0.0f && o->beta1 < 1.0f)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_gan_create: bad options");
    }
    kiln_gan *gan = calloc(1, sizeof(*gan));
    if (gan == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_gan_create");
    }
    gan->ctx = ctx;
    gan->o = *o;
    int64_t b = o->batch_size;
    gan->zbuf = malloc((size_t)(b * o->nz) * sizeof(float));
    gan->ones = malloc((size_t)b * sizeof(float));
    gan->dt = malloc((size_t)(2 * b) * sizeof(float));
    if (gan->zbuf == NULL || gan->ones == NULL || gan->dt == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_gan_create: host buffers");
        goto fail;
    }
    for (int64_t i = 0; i < 2 * b; i++) {
        gan->dt[i] = i < b ? 1.0f : 0.0f;
    }
    for (int64_t i = 0; i < b; i++) {
        gan->ones[i] = 1.0f;
    }
    s = build(gan);
    if (s == KILN_OK) {
        s = kiln_tensor_upload(gan->g_targets, gan->ones, (size_t)b * sizeof(float));
    }
    if (s == KILN_OK) {
        s = kiln_tensor_upload(gan->d_targets, gan->dt, (size_t)(2 * b) * sizeof(float));
    }
    if (s != KILN_OK) {
        goto fail;
    }
    *out = gan;
    return KILN_OK;

fail:
    kiln_gan_destroy(gan);
    return s;
}

void kiln_gan_destroy(kiln_gan *gan)
{
    if (gan == NULL) {
        return;
    }
    kiln_graph_destroy(gan->gg);
    kiln_graph_destroy(gan->dg);
    kiln_store_destroy(gan->store);
    free(gan->dt);
    free(gan->ones);
    free(gan->zbuf);
    free(gan);
}

void kiln_gan_n_params(const kiln_gan *gan, int64_t *generator, int64_t *discriminator)
{
    if (generator != NULL) {
        *generator = kiln_graph_n_param_elems(gan->gg);
    }
    if (discriminator != NULL) {
        *discriminator = kiln_graph_n_param_elems(gan->dg);
    }
}

void kiln_gan_flops(const kiln_gan *gan, double *generator, double *discriminator)
{
    double d = kiln_graph_flops(gan->dg, 2 * gan->o.batch_size);
    if (generator != NULL) {
        /* the generator's graph also runs the frozen discriminator */
        *generator = kiln_graph_flops(gan->gg, gan->o.batch_size) - d;
    }
    if (discriminator != NULL) {
        *discriminator = d;
    }
}

kiln_graph *kiln_gan_generator_graph(const kiln_gan *gan)
{
    return gan != NULL ? gan->gg : NULL;
}

kiln_store *kiln_gan_store(const kiln_gan *gan)
{
    return gan != NULL ? gan->store : NULL;
}

uint64_t kiln_gan_noise_position(const kiln_gan *gan)
{
    return gan != NULL ? gan->noise_counter : 0;
}

void kiln_gan_set_noise_position(kiln_gan *gan, uint64_t position)
{
    if (gan != NULL) {
        gan->noise_counter = position;
    }
}

static void fill_noise(kiln_gan *gan, uint64_t stream, uint64_t counter)
{
    int64_t n = gan->o.batch_size * gan->o.nz;
    for (int64_t i = 0; i < n; i++) {
        gan->zbuf[i] = kiln__rng_normal(gan->o.seed, stream, counter + (uint64_t)i);
    }
}

kiln_status kiln_gan_step(kiln_gan *gan, const float *real, float *d_loss, float *g_loss)
{
    if (gan == NULL || real == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_gan_step: NULL argument");
    }
    int64_t b = gan->o.batch_size, img = 28 * 28;
    fill_noise(gan, STREAM_NOISE, gan->noise_counter);
    gan->noise_counter += (uint64_t)(b * gan->o.nz);
    KILN_TRY(kiln_tensor_upload(gan->z, gan->zbuf, (size_t)(b * gan->o.nz) * sizeof(float)));
    KILN_TRY(kiln_train_step(gan->gg, gan->g_opt));
    if (g_loss != NULL) {
        KILN_TRY(kiln_tensor_download(gan->g_loss, g_loss, sizeof(float)));
    }
    KILN_TRY(kiln_tensor_upload(gan->x, real, (size_t)(b * img) * sizeof(float)));
    KILN_TRY(kiln_train_step(gan->dg, gan->d_opt));
    if (d_loss != NULL) {
        KILN_TRY(kiln_tensor_download(gan->d_loss, d_loss, sizeof(float)));
    }
    return KILN_OK;
}

kiln_status kiln_gan_sample(kiln_gan *gan, float *images)
{
    if (gan == NULL || images == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_gan_sample: NULL argument");
    }
    int64_t b = gan->o.batch_size;
    fill_noise(gan, STREAM_SAMPLE, 0);
    KILN_TRY(kiln_tensor_upload(gan->z, gan->zbuf, (size_t)(b * gan->o.nz) * sizeof(float)));
    KILN_TRY(kiln_graph_eval(gan->gg, 1, &gan->fake));
    return kiln_tensor_download(gan->fake, images, (size_t)(b * 28 * 28) * sizeof(float));
}
