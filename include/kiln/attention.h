/*
 * kiln/attention.h - attention and transformer layers built from graph ops, with
 * PyTorch's parameter names, layouts and initialization so that weights exchange with
 * torch.nn unchanged: layer normalization (nn.LayerNorm), attention masks, scaled
 * dot-product attention with padding and causal masks, multi-head attention
 * (nn.MultiheadAttention), sinusoidal and learned positional embeddings, a transformer
 * encoder layer (nn.TransformerEncoderLayer, pre-norm or post-norm), additive
 * (Bahdanau) attention pooling for a recurrent classifier, and a transformer text
 * classifier.
 *
 * Masks are f32 tensors holding 1 where attention is allowed and 0 where it is not
 * (kiln_sequence_mask gives the key padding mask of a padded batch); note that
 * PyTorch's boolean masks hold True where attention is NOT allowed. Masked scores are
 * replaced by KILN_ATTN_MASKED, a large negative finite value (not -inf, which fast-math
 * GPU compilers may mishandle: PORTABILITY.md 4.2), so they get a weight of exactly 0
 * and no gradient as long as every row of scores keeps one unmasked entry. A padded
 * position therefore changes neither the outputs at real positions nor any gradient.
 *
 * Like every builder (kiln/graph.h), these append nodes and parameters to a graph,
 * return a tensor, and on a bad argument record the graph's first error and return the
 * poisoned tensor. name is a parameter prefix of 1 to 40 characters; seed keys the
 * initializers and the dropout masks. Not thread-safe with respect to other builders on
 * the same graph.
 */
#ifndef KILN_ATTENTION_H
#define KILN_ATTENTION_H

#include <stdint.h>

#include "graph.h"
#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The score given to masked positions before the softmax. */
#define KILN_ATTN_MASKED (-1e9f)

/* ---- Linear layers and layer norm ---- */

/*
 * nn.Linear(in_features, n_out) applied to the last dim of x [..., in_features] (any
 * rank >= 1; unlike kiln_dense nothing is flattened): "<name>.weight" [n_out,
 * in_features] and, when use_bias, "<name>.bias" [n_out], both U(-b, b) with b =
 * 1 / sqrt(in_features) as PyTorch initializes them. Returns [..., n_out].
 */
KILN_API kiln_tensor *kiln_linear(kiln_graph *g, kiln_tensor *x, int64_t n_out, int use_bias,
                                  const char *name, uint64_t seed);

/*
 * nn.LayerNorm(x.shape[-norm_dims:], eps) with elementwise affine: "<name>.weight"
 * (ones) and "<name>.bias" (zeros), both of x's last norm_dims dims (kiln_layer_norm).
 * PyTorch's default eps is 1e-5.
 */
KILN_API kiln_tensor *kiln_layer_norm_layer(kiln_graph *g, kiln_tensor *x, int32_t norm_dims,
                                            float eps, const char *name);

/* ---- Masks and positions ---- */

/* The causal mask of t steps: a constant f32 [t, t] with 1 where key j <= query i
 * (nn.Transformer.generate_square_subsequent_mask, as a keep mask). */
KILN_API kiln_tensor *kiln_causal_mask(kiln_graph *g, int64_t t);

/* Sinusoidal positions (Vaswani et al.): a constant f32 [t, d] with row p holding
 * sin(p / 10000^(2i / d)) at column 2i and cos(p / 10000^(2i / d)) at column 2i + 1,
 * computed in double on the host. Add it to embeddings [N, t, d] (broadcasting). */
KILN_API kiln_tensor *kiln_sinusoidal_positions(kiln_graph *g, int64_t t, int64_t d);

/* Learned positions: the first t rows of the parameter "<name>.weight" [max_len, d]
 * (N(0, std^2); nn.Embedding uses std 1), as f32 [t, d] (a view of the parameter when
 * the backend can bind it); t <= max_len. Graphs of several lengths over one store share
 * the table. */
KILN_API kiln_tensor *kiln_learned_positions(kiln_graph *g, int64_t t, int64_t max_len, int64_t d,
                                             float std, const char *name, uint64_t seed);

/* ---- Attention ---- */

/*
 * Scaled dot-product attention: softmax(q k^T scale, masked) v over the last two dims,
 * the dims before them a batch (broadcast like kiln_matmul's): q [..., L, E],
 * k [..., S, E], v [..., S, Ev] -> [..., L, Ev]. mask: f32 broadcastable to the scores
 * [..., L, S], 1 to attend and 0 to mask (NULL: none). scale: 0 means 1 / sqrt(E).
 * dropout: probability of dropping an attention weight in training runs (inverted
 * dropout; 0: none). [out] weights: when not NULL, the attention weights [..., L, S]
 * (after the softmax, before dropout).
 */
KILN_API kiln_tensor *kiln_attention(kiln_graph *g, kiln_tensor *q, kiln_tensor *k, kiln_tensor *v,
                                     kiln_tensor *mask, float scale, float dropout, uint64_t seed,
                                     kiln_tensor **weights);

/* Options of kiln_multihead_attention(). Initialize with KILN_MHA_OPTIONS_INIT and set
 * embed_dim and n_heads. */
struct kiln_mha_options {
    uint32_t struct_size; /* sizeof(struct kiln_mha_options) */
    int64_t embed_dim;    /* E, divisible by n_heads (no default) */
    int32_t n_heads;      /* H >= 1 (no default) */
    int32_t batch_first;  /* 1: tensors are [N, L, E]; 0 (PyTorch's default): [L, N, E] */
    int32_t use_bias;     /* 1 (default): in_proj_bias and out_proj.bias */
    float dropout;        /* on the attention weights in training runs; default 0 */
    uint64_t seed;        /* initializer and dropout seed */
};

#define KILN_MHA_OPTIONS_INIT                                                                      \
    {                                                                                              \
        sizeof(struct kiln_mha_options), 0, 0, 0, 1, 0.0f, 0                                       \
    }

/*
 * nn.MultiheadAttention(E, H, dropout, bias, batch_first) with kdim = vdim = E:
 * query [L, N, E], key and value [S, N, E] (batch first: [N, L, E], [N, S, E]) ->
 * [L, N, E] (or [N, L, E]). Parameters "<name>.in_proj_weight" [3 E, E]
 * (xavier_uniform), "<name>.in_proj_bias" [3 E] (zeros), "<name>.out_proj.weight" [E, E]
 * (U(-1/sqrt(E), 1/sqrt(E))) and "<name>.out_proj.bias" [E] (zeros), as PyTorch makes
 * them. The rows of in_proj_weight project q, k, v in turn; each head attends with
 * scale 1 / sqrt(E / H). For self-attention pass the same tensor three times.
 * key_padding_mask: f32 [N, S], 1 at real keys and 0 at padding (NULL: none);
 * attn_mask: f32 [L, S], 1 where query i may attend key j (kiln_causal_mask; NULL:
 * none). [out] weights: when not NULL, the attention weights averaged over the heads,
 * [N, L, S] (PyTorch's need_weights=True, average_attn_weights=True).
 * [in] o: borrowed. name: 1 to 40 characters.
 */
KILN_API kiln_tensor *kiln_multihead_attention(kiln_graph *g, kiln_tensor *query, kiln_tensor *key,
                                               kiln_tensor *value, kiln_tensor *key_padding_mask,
                                               kiln_tensor *attn_mask,
                                               const struct kiln_mha_options *o, const char *name,
                                               kiln_tensor **weights);

/* ---- Transformer encoder layer ---- */

/* Options of kiln_transformer_encoder_layer(). Initialize with
 * KILN_ENCODER_LAYER_OPTIONS_INIT and set d_model and n_heads. */
struct kiln_encoder_layer_options {
    uint32_t struct_size;       /* sizeof(struct kiln_encoder_layer_options) */
    int64_t d_model;            /* E (no default) */
    int32_t n_heads;            /* H, dividing E (no default) */
    int64_t dim_feedforward;    /* default 2048, as PyTorch */
    float dropout;              /* default 0.1, as PyTorch: attention weights, the feed-
                                   forward hidden layer and both residual branches */
    kiln_activation activation; /* KILN_ACTIVATION_RELU (default) or _GELU (the tanh form:
                                   PyTorch's F.gelu(approximate="tanh")) */
    float eps;                  /* layer norm eps; default 1e-5 */
    int32_t batch_first;        /* 1: x is [N, L, E]; 0 (PyTorch's default): [L, N, E] */
    int32_t norm_first;         /* 1 (default): pre-norm; 0: post-norm (PyTorch's default) */
    uint64_t seed;              /* initializer and dropout seed */
};

#define KILN_ENCODER_LAYER_OPTIONS_INIT                                                            \
    {                                                                                              \
        sizeof(struct kiln_encoder_layer_options), 0, 0, 2048, 0.1f, KILN_ACTIVATION_RELU, 1e-5f,  \
            0, 1, 0                                                                                \
    }

/*
 * nn.TransformerEncoderLayer(E, H, dim_feedforward, dropout, activation, eps,
 * batch_first, norm_first) on x [L, N, E] (batch first: [N, L, E]), same shape out.
 * Pre-norm (norm_first): x + SA(norm1(x)), then x + FF(norm2(x)); post-norm:
 * norm1(x + SA(x)), then norm2(x + FF(x)); FF(x) = linear2(dropout(act(linear1(x)))).
 * Parameters "<name>.self_attn.*" (kiln_multihead_attention), "<name>.linear1.*"
 * [F, E], "<name>.linear2.*" [E, F], "<name>.norm1.*", "<name>.norm2.*" [E]: a
 * TransformerEncoderLayer's state dict. key_padding_mask f32 [N, L] (1 = real) and
 * attn_mask f32 [L, L] (1 = attend) as for kiln_multihead_attention (NULL: none).
 * [in] o: borrowed. name: 1 to 24 characters.
 */
KILN_API kiln_tensor *kiln_transformer_encoder_layer(kiln_graph *g, kiln_tensor *x,
                                                     kiln_tensor *key_padding_mask,
                                                     kiln_tensor *attn_mask,
                                                     const struct kiln_encoder_layer_options *o,
                                                     const char *name);

/* ---- Attention pooling ---- */

/*
 * Additive (Bahdanau) attention pooling over the steps of h [N, T, D] (batch first):
 * e_t = v^T tanh(W h_t + b), a = softmax over the real steps of e, and the result
 * sum_t a_t h_t [N, D]: a recurrent classifier's summary of its outputs. Parameters
 * "<name>.proj.weight" [attn_dim, D], "<name>.proj.bias" [attn_dim] and
 * "<name>.score.weight" [1, attn_dim] (nn.Linear's init). mask: f32 [N, T], 1 at real
 * steps and 0 at padding (NULL: all real); padded steps get weight 0 and no gradient.
 * [out] weights: when not NULL, a [N, T].
 */
KILN_API kiln_tensor *kiln_additive_attention_pool(kiln_graph *g, kiln_tensor *h, kiln_tensor *mask,
                                                   int64_t attn_dim, const char *name,
                                                   uint64_t seed, kiln_tensor **weights);

/* ---- A transformer text classifier ---- */

/* Options of kiln_text_transformer(). Initialize with KILN_TEXT_TRANSFORMER_OPTIONS_INIT
 * and set vocab and n_classes. */
struct kiln_text_transformer_options {
    uint32_t struct_size;       /* sizeof(struct kiln_text_transformer_options) */
    int64_t vocab;              /* rows of the embedding (id 0 is padding); no default */
    int64_t n_classes;          /* no default */
    int64_t embed;              /* d_model; default 128 */
    int32_t n_heads;            /* default 4 */
    int32_t n_layers;           /* encoder layers; default 2 */
    int64_t dim_feedforward;    /* default 0: 4 embed */
    int64_t max_len;            /* > 0: learned positions for up to max_len steps
                                   ("pos_embedding.weight", N(0, 0.02^2)); 0 (default):
                                   sinusoidal positions */
    float dropout;              /* in the layers, on the embeddings and the pooled
                                   features, in training runs; default 0.1 */
    kiln_activation activation; /* default KILN_ACTIVATION_GELU (tanh form) */
    uint64_t seed;              /* initializer and dropout seed */
    int32_t pool_max;           /* 1: the maximum over the real steps beside the mean
                                   (features concatenated, [mean, max]); default 0 */
    float embed_std;            /* the embedding's N(0, embed_std^2) init; default 1
                                   (nn.Embedding's) */
};

#define KILN_TEXT_TRANSFORMER_OPTIONS_INIT                                                         \
    {                                                                                              \
        sizeof(struct kiln_text_transformer_options), 0, 0, 128, 4, 2, 0, 0, 0.1f,                 \
            KILN_ACTIVATION_GELU, 0, 0, 1.0f                                                       \
    }

/*
 * A transformer-encoder text classifier over padded id matrices (kiln_text_iter's
 * batches): ids i32 [N, T] (0 is padding), lengths i32 [N] (each >= 1) and optionally
 * bigram_ids i32 [N, T] (the character bigram at each step, in the same id space; NULL:
 * none). Ids are embedded ("embedding.weight" [vocab, embed], N(0, 1) as nn.Embedding;
 * the padding row gets no gradient), a step's bigram embedding added to its
 * character's, then positions (sinusoidal, or learned with max_len), dropout,
 * n_layers pre-norm kiln_transformer_encoder_layer ("layers.<i>.*", batch first, the
 * padded steps masked as keys), a final layer norm ("norm"), the mean over the real
 * steps (with pool_max, also the maximum over them, concatenated after it), dropout and a linear
 * layer "fc" to logits [N, n_classes] (train with kiln_softmax_xent). Padded steps change neither
 * the logits nor any gradient. [in] o: borrowed. Returns the logits or the poisoned tensor (errors
 * recorded in g).
 */
KILN_API kiln_tensor *kiln_text_transformer(kiln_graph *g, kiln_tensor *ids,
                                            kiln_tensor *bigram_ids, kiln_tensor *lengths,
                                            const struct kiln_text_transformer_options *o);

#ifdef __cplusplus
}
#endif

#endif /* KILN_ATTENTION_H */
