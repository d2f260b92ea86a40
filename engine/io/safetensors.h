/* safetensors files (Hugging Face checkpoints and PEFT adapters): a validating reader and an
 * atomic writer.
 *
 * The format: an 8-byte little-endian header length N, N bytes of JSON (UTF-8, possibly padded
 * with spaces), then the data.  The JSON maps each tensor name to
 *   {"dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end]}
 * with offsets relative to the start of the data, and may hold "__metadata__": a map of
 * strings.  Shapes are outermost first (PyTorch order) — the reverse of GGUF's ne[].
 *
 * Everything read from the file is checked: the header length against the file and a cap,
 * the JSON's shape, dtypes, integer fields (whole, non-negative, < 2^53), dims (a product that
 * does not overflow and matches end - begin), offsets inside the data, no two tensors sharing
 * bytes, no duplicate names.  Errors name the file, the tensor or field and the bad value.
 *
 *   et_st *st; char err[256];
 *   if (et_st_open("model.safetensors", &st, err, sizeof err)) { puts(err); ... }
 *   const et_st_tensor *t = et_st_tensor_find(st, "model.embed_tokens.weight");
 *   ... t->dtype, t->shape[0..n_dims-1], t->data, t->nbytes ...
 *   et_st_close(st);
 */
#ifndef ET_SAFETENSORS_H
#define ET_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dtype.h"

#define ET_ST_MAX_DIMS    8
#define ET_ST_MAX_HEADER  (100u << 20)   /* the reference implementation's limit */

typedef enum et_st_dtype {
    ET_ST_BOOL, ET_ST_U8, ET_ST_I8, ET_ST_F8_E5M2, ET_ST_F8_E4M3, ET_ST_I16, ET_ST_U16,
    ET_ST_F16, ET_ST_BF16, ET_ST_I32, ET_ST_U32, ET_ST_F32, ET_ST_F64, ET_ST_I64, ET_ST_U64,
    ET_ST_DTYPE_COUNT
} et_st_dtype;

typedef struct et_st_tensor {
    const char *name;
    et_st_dtype dtype;
    et_type     type;            /* the engine type (F32/F16/BF16/I32), ET_TYPE_COUNT if none */
    int         n_dims;          /* 0 (a scalar) .. ET_ST_MAX_DIMS */
    int64_t     shape[ET_ST_MAX_DIMS];   /* outermost first; a dim may be 0 (empty tensor) */
    uint64_t    begin, end;      /* data_offsets, relative to the data section */
    size_t      nbytes;          /* end - begin */
    const void *data;            /* into the file; valid until et_st_close */
} et_st_tensor;

typedef struct et_st et_st;

int  et_st_open(const char *path, et_st **out, char *err, size_t errlen);
/* Over bytes in memory (not copied; they must outlive the handle). */
int  et_st_open_memory(const void *data, size_t size, const char *name, et_st **out, char *err,
                       size_t errlen);
void et_st_close(et_st *st);

int64_t             et_st_n_tensors(const et_st *st);
const et_st_tensor *et_st_tensor_at(const et_st *st, int64_t i);   /* header order */
const et_st_tensor *et_st_tensor_find(const et_st *st, const char *name);
int64_t             et_st_n_meta(const et_st *st);
/* The i-th __metadata__ entry; returns false if out of range. */
bool                et_st_meta_at(const et_st *st, int64_t i, const char **key, const char **value);
const char         *et_st_meta_get(const et_st *st, const char *key);  /* NULL if absent */

const char *et_st_dtype_name(et_st_dtype d);      /* "F32", ...; "?" if out of range */
et_st_dtype et_st_dtype_from_name(const char *s); /* ET_ST_DTYPE_COUNT if unknown */
size_t      et_st_dtype_size(et_st_dtype d);      /* bytes per element; 0 if out of range */

/* ---- writing ---- */

typedef struct et_st_writer et_st_writer;

/* As with the GGUF writer, setters keep the first error for et_st_writer_write to report.
 * Tensors are written in the order added; `data` is referenced until write returns.  The
 * header is padded with spaces so the data starts 8-byte aligned. */
et_st_writer *et_st_writer_new(void);
void et_st_writer_free(et_st_writer *w);
void et_st_writer_set_meta(et_st_writer *w, const char *key, const char *value);
void et_st_writer_add(et_st_writer *w, const char *name, et_st_dtype dtype, int n_dims,
                      const int64_t *shape, const void *data, size_t nbytes);
int  et_st_writer_write(et_st_writer *w, const char *path, char *err, size_t errlen);

#endif
