/*
 * kiln/io.h - saving and loading a parameter store as safetensors files.
 *
 * A checkpoint holds every parameter and buffer of a store (kiln/store.h) under its
 * name (and, when asked, the optimizer state, "<parameter>.<kind>"), in the
 * safetensors format that PyTorch and other frameworks read. Writes go to a temporary
 * file that is renamed over the target, so a crash mid-write never destroys the last
 * good checkpoint. Data loading (IDX, CSV) is in kiln/data.h.
 */
#ifndef KILN_IO_H
#define KILN_IO_H

#include "graph.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Writes the allocated parameters and buffers of s (and the optimizer state when
 * with_state != 0) to path as safetensors, atomically. [in] path: borrowed.
 * Returns KILN_OK, KILN_E_IO (naming the file and the failing call), or a device error
 * from the downloads.
 */
KILN_API kiln_status kiln_store_save(kiln_store *s, const char *path, int with_state);

/*
 * Reads a safetensors file into the parameters and buffers of s (allocating pending
 * entries first), matching tensors by name. Every parameter and buffer must be present
 * with the same shape and an F32 dtype, unless allow_missing is set; tensors in the file
 * that the store does not have are ignored. Optimizer state present in the file is
 * loaded too. Nothing is written unless the whole file checks out.
 * Returns KILN_OK, KILN_E_IO, KILN_E_FORMAT (malformed file: names the file and byte
 * offset), KILN_E_SHAPE or KILN_E_DTYPE (naming the tensor), or a device error.
 */
KILN_API kiln_status kiln_store_load(kiln_store *s, const char *path, int allow_missing);

/* kiln_store_save and kiln_store_load of compiled graph g's store (KILN_E_STATE when g
 * is not compiled). */
KILN_API kiln_status kiln_graph_save(kiln_graph *g, const char *path, int with_state);
KILN_API kiln_status kiln_graph_load(kiln_graph *g, const char *path, int allow_missing);

#ifdef __cplusplus
}
#endif

#endif /* KILN_IO_H */
