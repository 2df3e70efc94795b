/*
 * store_impl.h - the parameter store's internals, shared by the store (store.c), the
 * graph builders and planner that bind graph leaves to its storage, the optimizers
 * (src/train/optim.c) and checkpoints (src/io/checkpoint.c).
 *
 * Entries are allocated in segments: each compile that meets unallocated entries packs
 * them into a new segment of flat device buffers - values (trainable parameters first,
 * then buffers and shared tensors), gradients (the parameters' part) and one buffer per
 * optimizer state kind (mirroring the gradients) - with every entry at an offset the
 * backend can bind. Segments never move, so graphs bind leaves to (buffer, offset) once.
 */
#ifndef KILN_STORE_IMPL_H
#define KILN_STORE_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "../context_impl.h"
#include "kiln/graph.h"
#include "kiln/store.h"

/* Optimizer state kinds one store holds at most (SGD momentum, Adam's two moments...). */
#define KILN__MAX_STATE      4
#define KILN__STATE_NAME_LEN 24

/* Which buffer of an entry's segment a graph leaf binds. */
enum kiln__part {
    KILN__PART_NONE = 0,  /* not store storage */
    KILN__PART_VALUE = 1, /* the segment's values */
    KILN__PART_GRAD = 2,  /* the segment's gradients */
    KILN__PART_STATE = 3, /* KILN__PART_STATE + k: state kind k */
};

struct kiln__entry {
    char name[KILN_MAX_NAME];
    kiln_store_kind kind;
    kiln_dtype dtype;
    struct kiln_shape shape;
    int64_t n_elems;
    kiln_init init;
    float init_arg;
    uint64_t init_seed, init_stream;
    int32_t seg; /* -1 until allocated */
    int64_t off; /* element offset in the segment's values (and gradients, for parameters) */
};

struct kiln__segment {
    int64_t n_param; /* elements of the parameter part (with alignment gaps) */
    int64_t n_vals;  /* elements of the values buffer */
    /* ---- owned ---- */
    struct kiln_buffer *vals;
    struct kiln_buffer *grads;                  /* NULL when n_param is 0 */
    struct kiln_buffer *state[KILN__MAX_STATE]; /* per registered kind; NULL when n_param 0 */
};

struct kiln_store {
    /* ---- borrowed (never owned) ---- */
    struct kiln_context *ctx;
    /* ---- owned ---- */
    struct kiln__entry **entries; /* each allocated on its own: pointers stay valid */
    int32_t n_entries, cap_entries;
    struct kiln__segment *segs;
    int32_t n_segs, cap_segs;
    char state_names[KILN__MAX_STATE][KILN__STATE_NAME_LEN];
    int32_t n_state;
    struct kiln_optimizer **optims;
    int32_t n_optims, cap_optims;
    uint64_t runs;     /* training runs of graphs over the store */
    int64_t n_streams; /* parameters created: the next parameter's init stream */
    int32_t n_graphs;  /* graphs borrowing the store */
    uint32_t gen;      /* bumped whenever a segment is added */
    bool grads_zero;   /* every gradient is known to be zero */
};

/* The entry named name, or NULL. */
struct kiln__entry *kiln__store_lookup(const struct kiln_store *s, const char *name);

/* Adds an entry (name unique, shape valid: the caller checked). Returns NULL with
 * KILN_E_OUT_OF_HOST_MEMORY recorded. */
struct kiln__entry *kiln__store_add(struct kiln_store *s, const char *name, kiln_store_kind kind,
                                    kiln_dtype dt, const struct kiln_shape *shape, kiln_init init,
                                    float arg, uint64_t seed);

/* The buffer of part of segment seg (NULL when it has none). */
struct kiln_buffer *kiln__store_buffer(const struct kiln_store *s, int32_t seg, int part);

/* Registers the optimizer state kind name (allocating zeroed buffers for every existing
 * segment) and returns its index in *k. */
kiln_status kiln__store_state_kind(struct kiln_store *s, const char *name, int32_t *k);

/* Registers and unregisters an optimizer (the store destroys registered ones). */
kiln_status kiln__store_add_optim(struct kiln_store *s, struct kiln_optimizer *o);
void kiln__store_remove_optim(struct kiln_store *s, struct kiln_optimizer *o);

/* Resets an optimizer's step count (src/train/optim.c); called by kiln_store_reset. */
void kiln__optimizer_reset(struct kiln_optimizer *o);
/* Destroys an optimizer without unregistering it (the store is going away). */
void kiln__optimizer_free(struct kiln_optimizer *o);
/* What a checkpoint records of an optimizer (src/train/optim.c): its kind's name
 * ("sgd", "adam"...), parameter prefix (a view valid while o lives) and learning rate. */
void kiln__optimizer_info(const struct kiln_optimizer *o, const char **kind, const char **prefix,
                          float *lr);

/* Sets (obs NULL: clears) the observer of the run that kiln_train_step runs before
 * o's step (src/train/optim.c): the gradient hook's owner uses it to act on gradients
 * that are final before the backward pass ends. [in] obs: copied. */
struct kiln__run_observer;
void kiln__optimizer_set_run_observer(struct kiln_optimizer *o,
                                      const struct kiln__run_observer *obs);

/* Host values of an initializer for a tensor of shape s (fan_in/fan_out as PyTorch). */
kiln_status kiln__init_values(const struct kiln_shape *s, kiln_init init, float arg, uint64_t seed,
                              uint64_t stream, const char *name, float *host);

#endif /* KILN_STORE_IMPL_H */
