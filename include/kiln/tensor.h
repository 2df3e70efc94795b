/*
 * kiln/tensor.h - tensors: dtypes, shapes and explicit host<->device transfer.
 *
 * A kiln_tensor is a node of a kiln_graph: an input, a parameter, or the result of an
 * op. Tensors are dense, contiguous and row-major, of rank 0 to KILN_MAX_DIMS (images
 * are NCHW). Their storage lives on the graph's backend once the graph is compiled;
 * kiln_tensor_upload() and kiln_tensor_download() are the only ways data crosses
 * between host and device. Graph construction is in kiln/graph.h.
 */
#ifndef KILN_TENSOR_H
#define KILN_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_MAX_DIMS 8

/* ---- Types ---- */

typedef enum kiln_dtype {
    KILN_DTYPE_F32 = 0,
    KILN_DTYPE_I32 = 1,
} kiln_dtype;

/* A shape: rank and the extent of each dimension, outermost first. A plain value. */
struct kiln_shape {
    int32_t rank;
    int64_t dims[KILN_MAX_DIMS];
};

typedef struct kiln_tensor kiln_tensor;
typedef struct kiln_graph kiln_graph; /* kiln/graph.h */

/* ---- Accessors (thread-safe for a graph not being built concurrently) ---- */

/* Returns the element type of t. */
KILN_API kiln_dtype kiln_tensor_dtype(const kiln_tensor *t);

/* Writes the shape of t to *out. [out] out: borrowed. */
KILN_API void kiln_tensor_shape(const kiln_tensor *t, struct kiln_shape *out);

/* Returns the number of elements of t (1 for rank 0). */
KILN_API int64_t kiln_tensor_n_elems(const kiln_tensor *t);

/* Returns the size of t's data in bytes. */
KILN_API size_t kiln_tensor_n_bytes(const kiln_tensor *t);

/* Returns t's name; a view valid while the graph lives. Unnamed op results are named
 * after their op and id ("matmul#12"). */
KILN_API const char *kiln_tensor_name(const kiln_tensor *t);

/* Returns the gradient of the loss with respect to t once kiln_graph_backward() ran, or
 * NULL when t does not influence the loss. The gradient is a tensor of the same graph;
 * for a parameter it is the store's gradient, accumulated over runs until an optimizer
 * step or kiln_store_zero_grad clears it. */
KILN_API kiln_tensor *kiln_tensor_grad(const kiln_tensor *t);

/* Returns the graph t belongs to. */
KILN_API kiln_graph *kiln_tensor_graph(const kiln_tensor *t);

/* Returns the name of a dtype ("f32"). */
KILN_API const char *kiln_dtype_name(kiln_dtype dt);

/* Returns the size in bytes of one element of dtype dt. */
KILN_API size_t kiln_dtype_size(kiln_dtype dt);

/* ---- Transfer ---- */

/*
 * Copies n_bytes from host memory into t's device storage. The graph must be compiled,
 * and t must be an input, a parameter, or a tensor marked with kiln_tensor_keep().
 * [in] src: borrowed, n_bytes must equal kiln_tensor_n_bytes(t).
 * Returns KILN_OK, KILN_E_INVALID_ARG, KILN_E_STATE (graph not compiled), or a device error.
 * Not thread-safe with respect to other calls on the same graph.
 */
KILN_API kiln_status kiln_tensor_upload(kiln_tensor *t, const void *src, size_t n_bytes);

/*
 * Copies t's data from the device to host memory, waiting for the work that produces it.
 * Valid after a run for inputs, parameters and tensors kept with kiln_tensor_keep().
 * [out] dst: borrowed, n_bytes must equal kiln_tensor_n_bytes(t).
 * Returns KILN_OK, KILN_E_INVALID_ARG, KILN_E_STATE, or a device error.
 */
KILN_API kiln_status kiln_tensor_download(const kiln_tensor *t, void *dst, size_t n_bytes);

/*
 * Marks t so that its storage is never reused by the memory planner: its value stays
 * readable after a run. Call before kiln_graph_compile(). Returns t.
 */
KILN_API kiln_tensor *kiln_tensor_keep(kiln_tensor *t);

#ifdef __cplusplus
}
#endif

#endif /* KILN_TENSOR_H */
