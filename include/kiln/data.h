/*
 * kiln/data.h - (filled in by the data part of the library).
 */
#ifndef KILN_DATA_H
#define KILN_DATA_H

#include "graph.h"

#endif /* KILN_DATA_H */
