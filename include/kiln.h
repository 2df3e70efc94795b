/*
 * kiln.h - the umbrella header of kiln, a C11 library that trains neural networks on
 * Vulkan and OpenCL GPUs and checks every result against a CPU reference. Include this
 * one header; it pulls in every public part.
 */
#ifndef KILN_H
#define KILN_H

#include "kiln/attention.h"
#include "kiln/backend.h"
#include "kiln/comm.h"
#include "kiln/data.h"
#include "kiln/graph.h"
#include "kiln/image.h"
#include "kiln/io.h"
#include "kiln/nn.h"
#include "kiln/optim.h"
#include "kiln/selfcheck.h"
#include "kiln/status.h"
#include "kiln/store.h"
#include "kiln/table.h"
#include "kiln/tensor.h"
#include "kiln/text.h"
#include "kiln/train.h"
#include "kiln/tree.h"
#include "kiln/treenet.h"

#endif /* KILN_H */
