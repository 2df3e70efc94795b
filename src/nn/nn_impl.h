/*
 * nn_impl.h - helpers shared by the layer files of src/nn that are not public API.
 */
#ifndef KILN_NN_IMPL_H
#define KILN_NN_IMPL_H

#include <stddef.h>
#include <stdint.h>

/* Whether options *o of struct type T (struct_size first) hold field f: a caller
 * compiled against an older header passes a smaller struct_size, and the fields it
 * does not have take their defaults. */
#define KILN__HAS_FIELD(T, o, f) ((o)->struct_size >= offsetof(T, f) + sizeof((o)->f))

/* The seed of dropout site `site` of the layer called name under the model seed:
 * distinct layers and sites get unrelated masks (a dropout mask is a function of its
 * seed, the run and the element index only). */
uint64_t kiln__nn_site_seed(uint64_t seed, const char *name, uint32_t site);

#endif /* KILN_NN_IMPL_H */
