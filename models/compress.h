/* Compressing a GGUF model file: quantization (`edgetune quantize`) and magnitude pruning
 * (`edgetune prune`), tensor by tensor, with everything else — all metadata including the
 * tokenizer, norms, any tensor not selected — copied unchanged.
 *
 * Selected tensors: the linear layers' weights, i.e. every 2-D "blk.*.weight" tensor (for the
 * Llama family attn_q/k/v/output and ffn_gate/up/down), and, only when emb_type is given,
 * token_embd.weight and output.weight.  Each is converted to f32 (any source type), pruned if
 * asked, and written as the target type (NF4 under edgetune's GGUF type id, engine/io/gguf.h).
 * A tensor already of the target type and not pruned is copied byte for byte.
 *
 * Pruning is per tensor, by magnitude:
 *   "P%"   unstructured: exactly round(P/100 · n) weights of the smallest |w| become 0 (ties
 *          broken by position), so a tensor of n weights ends with that many zeros at least;
 *   "2:4"  semi-structured along the input dimension (ne[0]): in every group of 4 consecutive
 *          weights the 2 of smallest |w| become 0 (the pattern sparse tensor cores use).
 * The sparsity reported is measured on the tensor as written (dequantized): types with an
 * exact zero (f32, f16, bf16, q8_0, q4_0, q6_k, nf4) keep every pruned zero; q4_1, q4_k and
 * iq4_nl have no exact zero code, so their reported sparsity is lower.
 *
 * Tensors are processed one at a time while the file is written (the writer's fill callback),
 * so memory use is about one tensor in f32, not the whole model.
 */
#ifndef ET_COMPRESS_H
#define ET_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dtype.h"

typedef struct et_compress_stat {
    const char *name;
    et_type     from, to;
    int64_t     n, zeros;         /* elements; zeros in the written tensor (counted when pruning) */
    size_t      bytes_in, bytes_out;
    double      rel_err;          /* ||written - input|| / ||input|| (after pruning), f64 */
    bool        changed;          /* converted or pruned (false: copied as is) */
    bool        fallback;         /* rows not a multiple of the type's block: written as `to` */
} et_compress_stat;

typedef struct et_compress_opts {
    et_type     type;             /* linear layers' type; ET_TYPE_COUNT keeps theirs */
    et_type     emb_type;         /* token_embd / output; ET_TYPE_COUNT keeps theirs */
    const char *prune;            /* NULL, "P%" or "2:4" */
    /* When a row length is not a multiple of the type's block (256 for the k-quants): false =
     * an error naming the tensor; true = like llama.cpp, use the type of the same bits per
     * weight with 32-blocks (q4_k -> iq4_nl, q6_k -> q8_0) and say so in the stat. */
    bool        fallback;
    /* Called once per tensor in file order after the file is written (may be NULL). */
    void      (*on_tensor)(void *ctx, const et_compress_stat *s);
    void       *cb_ctx;
} et_compress_opts;

typedef struct et_compress_report {
    uint64_t file_in, file_out;   /* file sizes in bytes */
    uint64_t tensor_in, tensor_out;
    int64_t  n_changed, n_fallback;
    int64_t  pruned_n, pruned_zeros;  /* over the pruned tensors */
} et_compress_report;

/* Parse a pruning spec ("50%", "87.5%", "2:4"): the fraction (0.5 for 2:4) or -1 with a
 * message naming the value. */
double et_prune_parse(const char *spec, char *err, size_t errlen);
/* Prune rows of f32 weights [rows][ne0] in place (spec already valid); returns zeros after. */
int64_t et_prune_f32(float *w, int64_t ne0, int64_t rows, const char *spec);

/* Rewrite `in` as `out`.  0, or -1 with a message naming the file, tensor and value (nothing
 * is left at `out` on failure). */
int et_gguf_compress(const char *in, const char *out, const et_compress_opts *o, et_compress_report *r, char *err,
                     size_t errlen);

#endif
