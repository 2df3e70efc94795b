/*
 * main.c - the kiln command-line program: `kiln info` lists the backends compiled in,
 * their devices (or why they are unavailable) and what "auto" picks; `kiln train`
 * dispatches to the image classifiers (train_image.c), the GAN (train_gan.c), the
 * text classifiers (train_text.c) and the character language model (train_lm.c, which
 * also holds `kiln sample`). It uses the public API only.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: kiln info\n"
               "       kiln train mlp [--epochs N] [--max-steps N] [--batch B] [--lr X]\n"
               "                      [--optimizer sgd|adam] [--data DIR] [--seed S] [--val N]\n"
               "                      [--train-limit N] [--test-limit N] [--stats]\n"
               "       kiln train lenet|alexnet|vgg|googlenet|resnet [the options of mlp]\n"
               "                      [--augment] [--size 28|32] [--no-prefetch] [--wd X]\n"
               "                      [--cosine] [--depth N] [--width N]\n"
               "       kiln train gan [--epochs N] [--max-steps N] [--batch B] [--lr X]\n"
               "                      [--data DIR] [--seed S] [--train-limit N] [--out DIR]\n"
               "                      [--width N]\n"
               "       kiln train textcnn|textrnn [--data DIR] [--rnn lstm|gru] [--bidirectional]\n"
               "                      [--layers N] [--hidden N] [--embed N] [--max-len T]\n"
               "                      [--dropout P] [--clip X] [--epochs N] [--max-steps N]\n"
               "                      [--batch B] [--lr X] [--optimizer sgd|adam] [--seed S]\n"
               "                      [--out DIR]\n"
               "       kiln train charlm [--data FILE] [--rnn lstm|gru] [--layers N] [--hidden N]\n"
               "                      [--bptt T] [--dropout P] [--clip X] [--epochs N]\n"
               "                      [--max-steps N] [--batch B] [--lr X] [--optimizer sgd|adam]\n"
               "                      [--seed S] [--train-limit N] [--out DIR]\n"
               "       kiln sample CHECKPOINT [--prompt TEXT] [--length N] [--temperature T]\n"
               "                      [--seed S]\n"
               "       kiln --version | --help\n"
               "\n"
               "Environment: KILN_BACKEND (auto, cpu, opencl, vulkan), KILN_DEVICE (index or\n"
               "name substring), KILN_CHECK=1 (check every node against the CPU reference),\n"
               "KILN_LOG (error, warn, info, debug), KILN_CACHE_DIR (kernel cache).\n");
}

/* ==== kiln info ==== */

static void print_details(const char *details)
{
    const char *p = details;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        int len = nl != NULL ? (int)(nl - p) : (int)strlen(p);
        printf("      %.*s\n", len, p);
        p += len + (nl != NULL);
    }
}

static int cmd_info(void)
{
    struct kiln_device_info devs[16];
    const char *env = getenv("KILN_BACKEND"), *sel = NULL;
    if (env != NULL && env[0] != '\0') {
        sel = kiln_backend_resolve(env);
        if (sel == NULL) {
            fprintf(stderr, "kiln: KILN_BACKEND=%s: %s\n", env, kiln_last_error());
            return EXIT_FAILURE;
        }
    }
    printf("kiln %s\n", kiln_version());
    printf("backends compiled in:");
    for (int32_t i = 0; i < kiln_backend_count(); i++) {
        printf(" %s", kiln_backend_name(i));
    }
    printf("\n");
    for (int32_t i = 0; i < kiln_backend_count(); i++) {
        const char *name = kiln_backend_name(i);
        int32_t n = 0;
        kiln_status s = kiln_backend_devices(name, devs, 16, &n);
        if (s != KILN_OK) {
            printf("%s: unavailable: %s\n", name, kiln_last_error());
            kiln_clear_error();
            continue;
        }
        printf("%s: %d device%s\n", name, n, n == 1 ? "" : "s");
        for (int32_t d = 0; d < n && d < 16; d++) {
            printf("  %d: %s (%s)\n", devs[d].index, devs[d].name, devs[d].type);
            print_details(devs[d].details);
        }
    }
    const char *automatic = kiln_backend_resolve("auto");
    printf("auto resolves to: %s\n", automatic != NULL ? automatic : "(none)");
    if (sel != NULL) {
        printf("KILN_BACKEND=%s selects: %s\n", env, sel);
    }
    return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
    /* Line-buffered, so epoch lines and the progress on stderr interleave in order. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_SUCCESS;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("kiln %s\n", kiln_version());
        return EXIT_SUCCESS;
    }
    if (strcmp(argv[1], "info") == 0) {
        if (argc > 2) {
            fprintf(stderr, "kiln info: takes no arguments (got '%s')\n", argv[2]);
            return EXIT_USAGE;
        }
        return cmd_info();
    }
    if (strcmp(argv[1], "train") == 0) {
        kiln_model model;
        if (argc >= 3 && strcmp(argv[2], "mlp") == 0) {
            return cmd_train_mlp(argc - 3, argv + 3);
        }
        if (argc >= 3 && strcmp(argv[2], "gan") == 0) {
            return cmd_train_gan(argc - 3, argv + 3);
        }
        if (argc >= 3 && strcmp(argv[2], "charlm") == 0) {
            return cmd_train_charlm(argc - 3, argv + 3);
        }
        if (argc >= 3 && (strcmp(argv[2], "textcnn") == 0 || strcmp(argv[2], "textrnn") == 0)) {
            return cmd_train_text(argv[2][4] == 'c' ? KILN_TEXT_CNN : KILN_TEXT_RNN, argc - 3,
                                  argv + 3);
        }
        if (argc < 3 || kiln_model_from_name(argv[2], &model) != KILN_OK) {
            fprintf(stderr,
                    "kiln train: unknown model '%s'; available: mlp, lenet, alexnet, vgg, "
                    "googlenet, resnet, gan, charlm, textcnn, textrnn\n",
                    argc < 3 ? "" : argv[2]);
            return EXIT_USAGE;
        }
        return cmd_train_conv(model, argc - 3, argv + 3);
    }
    if (strcmp(argv[1], "sample") == 0) {
        return cmd_sample(argc - 2, argv + 2);
    }
    fprintf(stderr, "kiln: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
