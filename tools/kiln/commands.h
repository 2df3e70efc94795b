/*
 * commands.h - the commands of the kiln program and their help, for main.c's dispatch
 * and `kiln help`.
 */
#ifndef KILN_TOOLS_COMMANDS_H
#define KILN_TOOLS_COMMANDS_H

#include <stdio.h>

#include "run.h"

int cmd_train_classifier(const char *model, int argc, char **argv); /* train_image.c */
int cmd_train_gan(int argc, char **argv);                           /* train_gan.c */
int cmd_train_text(const char *model, int argc, char **argv);       /* train_text.c */
int cmd_train_charlm(int argc, char **argv);                        /* train_lm.c */
int cmd_train_treenn(int argc, char **argv);                        /* train_tree.c */
void treenn_help(FILE *f);

int cmd_info(int argc, char **argv); /* info.c */
void info_help(FILE *f);
int cmd_eval(int argc, char **argv); /* eval.c */
void eval_help(FILE *f);
int cmd_predict(int argc, char **argv); /* predict.c */
void predict_help(FILE *f);
int cmd_plot(int argc, char **argv); /* plot.c */
void plot_help(FILE *f);
int cmd_doctor(int argc, char **argv); /* doctor.c */
void doctor_help(FILE *f);
int cmd_sample(int argc, char **argv); /* train_lm.c */
void sample_help(FILE *f);

/* A command other than train: its name, entry point (argv after the name) and help. */
struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    void (*help)(FILE *f);
};

/* The commands, ending with a NULL name (main.c). */
extern const struct command commands[];

#endif /* KILN_TOOLS_COMMANDS_H */
