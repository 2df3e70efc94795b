/*
 * kiln/nn.h - (filled in by the nn part of the library).
 */
#ifndef KILN_NN_H
#define KILN_NN_H

#include "graph.h"

#endif /* KILN_NN_H */
