/*
 * kiln/train.h - (filled in by the train part of the library).
 */
#ifndef KILN_TRAIN_H
#define KILN_TRAIN_H

#include "graph.h"

#endif /* KILN_TRAIN_H */
