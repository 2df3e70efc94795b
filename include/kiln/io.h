/*
 * kiln/io.h - saving and loading a parameter store as safetensors files.
 *
 * A checkpoint holds every parameter and buffer of a store (kiln/store.h) under its
 * name (and, when asked, the optimizer state, "<parameter>.<kind>"), in the
 * safetensors format that PyTorch and other frameworks read. Writes go to a temporary
 * file "<path>.tmp.<pid>" that is flushed to disk, renamed over the target and made
 * durable by syncing its directory, so a crash mid-write never destroys the last good
 * checkpoint (a killed writer leaves only its temporary file behind).
 *
 * The safetensors header's "__metadata__" (string keys and values) carries what a
 * program needs besides the tensors: kiln_checkpoint_save writes the caller's pairs
 * (a kiln_meta: model configuration, input normalization, training position...) and
 * its own "kiln.*" keys: "kiln.format" ("1"), "kiln.version", and with the optimizer
 * state "kiln.runs" (the store's run count, which keys dropout masks) and
 * "kiln.optimizers" (a JSON array with the kind, parameter prefix, step count and
 * learning rate of each optimizer of the store, in creation order).
 * Data loading (IDX, CSV) is in kiln/data.h.
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

/* ---- Metadata (src/io/meta.c) ---- */

/* An ordered set of string key/value pairs (keys unique), as in a checkpoint's header. */
typedef struct kiln_meta kiln_meta;

/* Creates an empty set. [out] out: owned by the caller (kiln_meta_destroy).
 * Returns KILN_OK, KILN_E_INVALID_ARG or KILN_E_OUT_OF_HOST_MEMORY. */
KILN_API kiln_status kiln_meta_create(kiln_meta **out);

/* Destroys m. NULL is a no-op. */
KILN_API void kiln_meta_destroy(kiln_meta *m);

/* Sets key to value (both copied; an existing key keeps its place). Returns KILN_OK,
 * KILN_E_INVALID_ARG (NULL or empty key, NULL value) or KILN_E_OUT_OF_HOST_MEMORY. */
KILN_API kiln_status kiln_meta_set(kiln_meta *m, const char *key, const char *value);

/* Returns the value of key (a view valid until m changes or is destroyed), or NULL. */
KILN_API const char *kiln_meta_get(const kiln_meta *m, const char *key);

/* Returns the number of pairs, and the key and value of pair i (views as above; NULL
 * when i is out of range). */
KILN_API int32_t kiln_meta_count(const kiln_meta *m);
KILN_API const char *kiln_meta_key(const kiln_meta *m, int32_t i);
KILN_API const char *kiln_meta_value(const kiln_meta *m, int32_t i);

/*
 * Reads the "__metadata__" of the safetensors file path (the header only, not the
 * data); a file without metadata gives an empty set. [out] out: owned by the caller.
 * Returns KILN_OK, KILN_E_IO, KILN_E_FORMAT (a malformed header or a non-string
 * metadata value, naming the file) or KILN_E_OUT_OF_HOST_MEMORY. Thread-safe.
 */
KILN_API kiln_status kiln_meta_read(const char *path, kiln_meta **out);

/* ---- Checkpoints with metadata and training state ---- */

struct kiln_save_options {
    uint32_t struct_size;  /* sizeof(struct kiln_save_options) */
    int32_t with_state;    /* 1 (default): the optimizer state, step counts and run count */
    const kiln_meta *meta; /* the caller's pairs, borrowed; NULL: none. Keys starting
                              with "kiln." are kiln's own and refused */
};

#define KILN_SAVE_OPTIONS_INIT                                                                     \
    {                                                                                              \
        sizeof(struct kiln_save_options), 1, NULL                                                  \
    }

/*
 * Writes the allocated parameters and buffers of s, with o->with_state the optimizer
 * state tensors, and the metadata described at the top of this file to path,
 * atomically. [in] path: borrowed. [in] o: borrowed; NULL means
 * KILN_SAVE_OPTIONS_INIT.
 * Returns KILN_OK, KILN_E_INVALID_ARG, KILN_E_IO (naming the file and the failing call),
 * KILN_E_OUT_OF_HOST_MEMORY, or a device error from the downloads.
 * Not thread-safe with respect to other calls on s.
 */
KILN_API kiln_status kiln_checkpoint_save(kiln_store *s, const char *path,
                                          const struct kiln_save_options *o);

struct kiln_load_options {
    uint32_t struct_size; /* sizeof(struct kiln_load_options) */
    /* 1: also the optimizer state: every state tensor of the store's parameters, the
     * step count of each optimizer (the file's "kiln.optimizers" must list the store's
     * optimizers: same kinds and prefixes, in order) and the run count (kiln.runs), so
     * training continues exactly where the checkpoint was written. 0 (default): the
     * parameters and buffers only (weights to start from); state tensors in the file
     * are then ignored. */
    int32_t with_state;
    /* 0 (default, strict): every parameter and buffer of the store must be in the file
     * with its shape and an F32 dtype, and every tensor of the file must be one of them
     * or the state of one ("<parameter>.<kind>"). 1: the tensors that match by name,
     * shape and dtype are loaded, the others are skipped and counted in the report. */
    int32_t partial;
};

#define KILN_LOAD_OPTIONS_INIT                                                                     \
    {                                                                                              \
        sizeof(struct kiln_load_options), 0, 0                                                     \
    }

/* What kiln_checkpoint_load did. The names are of the first tensor of each kind. */
struct kiln_load_report {
    int32_t n_loaded;     /* parameters and buffers written */
    int32_t n_state;      /* optimizer state tensors written */
    int32_t n_missing;    /* parameters and buffers of the store not in the file */
    int32_t n_extra;      /* tensors of the file that the store has no place for */
    int32_t n_mismatched; /* tensors present in both with another shape or dtype */
    char first_missing[KILN_MAX_NAME];
    char first_extra[KILN_MAX_NAME];
    char first_mismatched[KILN_MAX_NAME];
};

/*
 * Reads the safetensors file path into s (allocating pending entries first) as o says.
 * Everything is checked before anything is written, so a refused file changes nothing.
 * [in] path: borrowed. [in] o: borrowed; NULL means KILN_LOAD_OPTIONS_INIT.
 * [out] report: may be NULL.
 * Returns KILN_OK; KILN_E_IO; KILN_E_FORMAT (a malformed file, a missing or extra
 * tensor, optimizer metadata that does not match the store: the message names the file
 * and the tensor or optimizer); KILN_E_SHAPE or KILN_E_DTYPE (naming the tensor, both
 * shapes); KILN_E_OUT_OF_HOST_MEMORY; or a device error.
 * Not thread-safe with respect to other calls on s.
 */
KILN_API kiln_status kiln_checkpoint_load(kiln_store *s, const char *path,
                                          const struct kiln_load_options *o,
                                          struct kiln_load_report *report);

#ifdef __cplusplus
}
#endif

#endif /* KILN_IO_H */
