/*
 * main.c - the kiln command-line program: dispatches `kiln train` (train_image.c,
 * train_gan.c, and train_text.c and train_lm.c for the text models), `kiln eval`
 * (eval.c), `kiln predict` (predict.c), `kiln plot` (plot.c), `kiln doctor` (doctor.c),
 * `kiln sample` (train_lm.c), `kiln info` and `kiln help`, after checking the KILN_*
 * environment variables, so that a misspelt backend or device is reported before any
 * data is read. It uses the public API only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

const struct command commands[] = {
    {"info", cmd_info, info_help},
    {"eval", cmd_eval, eval_help},
    {"predict", cmd_predict, predict_help},
    {"plot", cmd_plot, plot_help},
    {"doctor", cmd_doctor, doctor_help},
    {"sample", cmd_sample, sample_help},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: kiln COMMAND [options]\n"
               "\n"
               "commands:\n"
               "  train MODEL      train mlp, lenet, alexnet, vgg, googlenet, resnet or gan on\n"
               "                   Fashion-MNIST, with checkpoints, --resume and a metrics log;\n"
               "                   textcnn, textrnn or textattn on label<TAB>text files\n"
               "                   (fortunes-zh-5);\n"
               "                   charlm, a character language model, on a text;\n"
               "                   treenn, a tree net on boolean-expression trees\n"
               "  sample CHECKPOINT\n"
               "                   generate text with a character language model\n"
               "  eval CHECKPOINT  test accuracy, loss, per-class precision and recall, confusion\n"
               "                   matrix of a trained classifier\n"
               "  predict CHECKPOINT FILE...\n"
               "                   classify PNG images (or lines of text) with a trained\n"
               "                   classifier\n"
               "  plot LOG.csv...  draw loss and accuracy curves of --log files (SVG or PNG)\n"
               "  doctor           devices, limits, and every op checked on the device against\n"
               "                   the CPU reference\n"
               "  info             the backends compiled in and their devices\n"
               "  help [COMMAND [MODEL]]\n"
               "                   this text, or a command's options with their defaults\n"
               "  --version        the version\n"
               "\n"
               "Environment: KILN_BACKEND (auto, cpu, opencl, vulkan), KILN_DEVICE (index or\n"
               "name substring), KILN_CHECK=1 (check every node against the CPU reference),\n"
               "KILN_LOG (error, warn, info, debug), KILN_CACHE_DIR (kernel cache); `kiln info`\n"
               "checks them. `kiln help COMMAND` (or `kiln COMMAND --help`) shows a command's\n"
               "options.\n");
}

/* `kiln help [COMMAND [MODEL]]`. */
static int cmd_help(int argc, char **argv)
{
    const char *c = argc > 0 ? argv[0] : NULL;
    if (c == NULL) {
        usage(stdout);
        return EXIT_SUCCESS;
    }
    if (strcmp(c, "train") == 0) {
        if (argc > 1 && strcmp(argv[1], "treenn") == 0) {
            treenn_help(stdout);
            return EXIT_SUCCESS;
        }
        if (argc > 1 && train_scope(argv[1]) == 0) {
            fprintf(stderr, "kiln help: unknown model '%s'\n", argv[1]);
            return EXIT_USAGE;
        }
        train_help(stdout, argc > 1 ? argv[1] : NULL);
        return EXIT_SUCCESS;
    }
    for (const struct command *k = commands; k->name != NULL; k++) {
        if (strcmp(c, k->name) == 0 && k->help != NULL) {
            k->help(stdout);
            return EXIT_SUCCESS;
        }
    }
    fprintf(stderr, "kiln help: unknown command '%s'\n", c);
    usage(stderr);
    return EXIT_USAGE;
}

static int cmd_train(int argc, char **argv)
{
    const char *model = NULL;
    if (argc > 0 && argv[0][0] != '-') {
        model = argv[0];
        argc--;
        argv++;
        int single =
            strcmp(model, "treenn") == 0 || strcmp(model, "gan") == 0 || text_scope(model) != 0;
        if (single && dist_single(model) != EXIT_SUCCESS) {
            return EXIT_USAGE;
        }
        if (strcmp(model, "treenn") == 0) {
            return cmd_train_treenn(argc, argv);
        }
        if (train_scope(model) == 0) {
            fprintf(stderr,
                    "kiln train: unknown model '%s'; available: mlp, lenet, alexnet, vgg, "
                    "googlenet, resnet, gan, textcnn, textrnn, textattn, charlm, treenn\n",
                    model);
            return EXIT_USAGE;
        }
    }
    for (int i = 0; model == NULL && i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            train_help(stdout, NULL);
            return EXIT_SUCCESS;
        }
    }
    if (model != NULL && strcmp(model, "gan") == 0) {
        return cmd_train_gan(argc, argv);
    }
    if (text_scope(model) == SC_CHARLM) {
        return cmd_train_charlm(argc, argv);
    }
    if (text_scope(model) != 0) {
        return cmd_train_text(model, argc, argv);
    }
    /* the model may come from --resume's checkpoint */
    return cmd_train_classifier(model, argc, argv);
}

static int is_help(const char *s)
{
    return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0 || strcmp(s, "help") == 0;
}

int main(int argc, char **argv)
{
    /* Line-buffered, so epoch lines and the progress on stderr interleave in order. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (is_help(argv[1])) {
        return cmd_help(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("kiln %s\n", kiln_version());
        return EXIT_SUCCESS;
    }
    int help = 0;
    for (int i = 2; i < argc; i++) {
        help |= strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
    }
    /* Configuration errors before any work (info and doctor report them themselves). */
    if (!help && strcmp(argv[1], "info") != 0 && strcmp(argv[1], "doctor") != 0 &&
        kiln_env_check() != KILN_OK) {
        fprintf(stderr, "kiln: %s\n", kiln_last_error());
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "train") == 0) {
        return cmd_train(argc - 2, argv + 2);
    }
    for (const struct command *k = commands; k->name != NULL; k++) {
        if (strcmp(argv[1], k->name) == 0) {
            return k->run(argc - 2, argv + 2);
        }
    }
    fprintf(stderr, "kiln: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
