/* GGUF v3 model files: a validating reader (memory-mapped) and an atomic writer.
 *
 * A GGUF file is: magic "GGUF", version 3, tensor count, metadata count; the metadata
 * key/value pairs; one info record per tensor (name, dims, type id, offset); padding to the
 * alignment (metadata key general.alignment, default 32); then the tensor data, each tensor at
 * an aligned offset from the start of the data section.  All numbers are little endian (this
 * code assumes a little-endian host, as every target of edgetune is).
 *
 * The reader trusts nothing in the file: every count, length, offset, size and alignment is
 * checked (overflow-checked arithmetic, caps, bounds against the file size) and a bad file gets
 * a message naming the file, the field and the value, never a crash.  It returns a plain
 * description — metadata values and, per tensor, et_type + ne[4] + a pointer to its bytes — and
 * knows nothing of the engine's tensors.  Tensor bytes are used in place: files of 1 MiB or
 * more are mmap'ed (and advised for huge pages), smaller ones — or any, with ET_GGUF_NO_MMAP=1
 * in the environment — are read into one 64-byte aligned buffer (engine/io/fileio.h).  A
 * tensor's data pointer is therefore as aligned as its file offset: general.alignment (32 by
 * default) or 64, whichever is smaller; kernels must not assume more for files with a smaller
 * alignment.
 *
 * NF4: GGUF has no NF4 type.  edgetune writes NF4 tensors under the type id
 * ET_GGUF_TYPE_NF4 (1024, outside ggml's range) and adds the string key ET_GGUF_KEY_NF4
 * ("edgetune.nf4") describing the layout (kernels/quant.h); the reader accepts id 1024 only in
 * files that carry that key.  Other loaders (llama.cpp, gguf-py) reject such files, as they
 * should, since they cannot compute with them.
 *
 *   et_gguf *g; char err[256];
 *   if (et_gguf_open("m.gguf", &g, err, sizeof err)) { puts(err); return 1; }
 *   uint32_t n_layer;
 *   if (et_gguf_get_u32(g, "llama.block_count", &n_layer, err, sizeof err)) ...
 *   const et_gguf_tensor *t = et_gguf_tensor_find(g, "token_embd.weight");
 *   ... t->data, t->type, t->ne[0] (innermost), t->nbytes ...
 *   et_gguf_close(g);
 */
#ifndef ET_GGUF_H
#define ET_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dtype.h"

#define ET_GGUF_MAGIC      0x46554747u    /* "GGUF" read as a little-endian uint32 */
#define ET_GGUF_VERSION    3u
#define ET_GGUF_DEFAULT_ALIGNMENT 32u
#define ET_GGUF_MAX_DIMS   4
#define ET_GGUF_TYPE_NF4   1024           /* edgetune's NF4 type id (see above) */
#define ET_GGUF_KEY_NF4    "edgetune.nf4"
#define ET_GGUF_KEY_ALIGNMENT "general.alignment"

/* Caps on what a file may claim (beyond "fits in the file", which is always checked). */
#define ET_GGUF_MAX_KEY_LEN    65535u       /* the spec's limit for keys */
#define ET_GGUF_MAX_NAME_LEN   255u         /* tensor names (ggml itself allows 63) */
#define ET_GGUF_MAX_STR_LEN    (1u << 30)   /* any string value */
#define ET_GGUF_MAX_ARRAY_DEPTH 8           /* arrays of arrays of ... */
#define ET_GGUF_MAX_ALIGNMENT  (1u << 24)

/* Metadata value types, numbered as in the file. */
typedef enum et_gguf_vtype {
    ET_GGUF_U8 = 0, ET_GGUF_I8 = 1, ET_GGUF_U16 = 2, ET_GGUF_I16 = 3, ET_GGUF_U32 = 4,
    ET_GGUF_I32 = 5, ET_GGUF_F32 = 6, ET_GGUF_BOOL = 7, ET_GGUF_STR = 8, ET_GGUF_ARR = 9,
    ET_GGUF_U64 = 10, ET_GGUF_I64 = 11, ET_GGUF_F64 = 12,
    ET_GGUF_VTYPE_COUNT
} et_gguf_vtype;

/* A string: `len` bytes at `ptr`, followed by a NUL that is not part of it (GGUF strings may
 * contain NUL bytes; use len when that matters). */
typedef struct et_gguf_str { const char *ptr; uint64_t len; } et_gguf_str;

/* An array: `n` elements of type `type`.  `data` points to n native values: uint8_t for U8
 * and BOOL (0 or 1), int8_t, uint16_t, ..., float, double for the scalars; et_gguf_str for
 * STR; et_gguf_value (each of type ARR) for nested arrays. */
typedef struct et_gguf_array { et_gguf_vtype type; uint64_t n; const void *data; } et_gguf_array;

typedef struct et_gguf_value {
    et_gguf_vtype type;
    union {
        uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
        float f32; bool b; uint64_t u64; int64_t i64; double f64;
        et_gguf_str str;
        et_gguf_array arr;
    } v;
} et_gguf_value;

typedef struct et_gguf_kv { const char *key; et_gguf_value value; } et_gguf_kv;

typedef struct et_gguf_tensor {
    const char *name;
    et_type     type;
    int32_t     ggml_type;      /* the id in the file */
    int         n_dims;         /* 0..4; ne[] beyond n_dims are 1 */
    int64_t     ne[ET_GGUF_MAX_DIMS];   /* elements per dim, ne[0] innermost (ggml order) */
    uint64_t    offset;         /* from the start of the data section, as in the file */
    uint64_t    file_offset;    /* from the start of the file */
    size_t      nbytes;
    const void *data;           /* into the mapped/read file; valid until et_gguf_close */
} et_gguf_tensor;

typedef struct et_gguf et_gguf;

/* Status of the getters and of the whole API: 0 on success, ET_GGUF_MISSING when a key is
 * absent (err says which), negative on any other error (err says what). */
#define ET_GGUF_OK       0
#define ET_GGUF_MISSING  1
#define ET_GGUF_ERR     (-1)

/* ---- reading ---------------------------------------------------------------------------- */

/* Open and validate a file.  On failure *out is NULL and err holds "<path>: <field>: <why>". */
int  et_gguf_open(const char *path, et_gguf **out, char *err, size_t errlen);
/* The same over bytes in memory (`name` is used in messages).  The bytes are not copied and
 * must outlive the handle; tensor data pointers point into them. */
int  et_gguf_open_memory(const void *data, size_t size, const char *name, et_gguf **out,
                         char *err, size_t errlen);
void et_gguf_close(et_gguf *g);

const char *et_gguf_name(const et_gguf *g);       /* the path or name given at open */
uint32_t    et_gguf_alignment(const et_gguf *g);
uint64_t    et_gguf_data_offset(const et_gguf *g);  /* file offset of the data section */
bool        et_gguf_is_mapped(const et_gguf *g);    /* mmap'ed (true) or read into memory */

int64_t              et_gguf_n_kv(const et_gguf *g);
const et_gguf_kv    *et_gguf_kv_at(const et_gguf *g, int64_t i);   /* file order */
const et_gguf_value *et_gguf_find(const et_gguf *g, const char *key); /* NULL if absent */

/* Typed getters.  Integers are accepted from any integer type whose value fits the requested
 * one; floats from F32 or F64.  A wrong type or an out-of-range value is an error naming the
 * key, the type found and the value. */
int et_gguf_get_u32 (const et_gguf *g, const char *key, uint32_t *out, char *err, size_t errlen);
int et_gguf_get_i64 (const et_gguf *g, const char *key, int64_t *out, char *err, size_t errlen);
int et_gguf_get_u64 (const et_gguf *g, const char *key, uint64_t *out, char *err, size_t errlen);
int et_gguf_get_f32 (const et_gguf *g, const char *key, float *out, char *err, size_t errlen);
int et_gguf_get_f64 (const et_gguf *g, const char *key, double *out, char *err, size_t errlen);
int et_gguf_get_bool(const et_gguf *g, const char *key, bool *out, char *err, size_t errlen);
int et_gguf_get_str (const et_gguf *g, const char *key, et_gguf_str *out, char *err,
                     size_t errlen);
/* An array whose elements have type `elem` (ET_GGUF_VTYPE_COUNT: any). */
int et_gguf_get_arr (const et_gguf *g, const char *key, et_gguf_vtype elem,
                     et_gguf_array *out, char *err, size_t errlen);

int64_t               et_gguf_n_tensors(const et_gguf *g);
const et_gguf_tensor *et_gguf_tensor_at(const et_gguf *g, int64_t i);  /* file order */
const et_gguf_tensor *et_gguf_tensor_find(const et_gguf *g, const char *name);

const char *et_gguf_vtype_name(et_gguf_vtype t);   /* "u8", ..., "arr"; "?" if out of range */

/* ---- writing ---------------------------------------------------------------------------- */

typedef struct et_gguf_writer et_gguf_writer;

/* Streams a tensor's bytes: fill buf with the n bytes starting at `offset` of the tensor.
 * Return 0, or non-zero with a message in err to abort the write. */
typedef int (*et_gguf_fill_fn)(void *ctx, uint64_t offset, void *buf, size_t n, char *err,
                               size_t errlen);

/* Setters never fail loudly: the first error (bad key, duplicate tensor, out of memory) is
 * kept and reported by et_gguf_writer_write, so a builder can add everything and check once.
 * Setting an existing key replaces its value in place (its position is kept).  Keys are
 * written in the order first set.  general.alignment, if set, must be a power-of-two U32. */
et_gguf_writer *et_gguf_writer_new(void);       /* NULL only when out of memory */
void et_gguf_writer_free(et_gguf_writer *w);

void et_gguf_writer_set_u8  (et_gguf_writer *w, const char *key, uint8_t v);
void et_gguf_writer_set_i8  (et_gguf_writer *w, const char *key, int8_t v);
void et_gguf_writer_set_u16 (et_gguf_writer *w, const char *key, uint16_t v);
void et_gguf_writer_set_i16 (et_gguf_writer *w, const char *key, int16_t v);
void et_gguf_writer_set_u32 (et_gguf_writer *w, const char *key, uint32_t v);
void et_gguf_writer_set_i32 (et_gguf_writer *w, const char *key, int32_t v);
void et_gguf_writer_set_u64 (et_gguf_writer *w, const char *key, uint64_t v);
void et_gguf_writer_set_i64 (et_gguf_writer *w, const char *key, int64_t v);
void et_gguf_writer_set_f32 (et_gguf_writer *w, const char *key, float v);
void et_gguf_writer_set_f64 (et_gguf_writer *w, const char *key, double v);
void et_gguf_writer_set_bool(et_gguf_writer *w, const char *key, bool v);
void et_gguf_writer_set_str (et_gguf_writer *w, const char *key, const char *s);  /* NUL-ended */
/* An array of n elements laid out as in et_gguf_array.data (see above). */
void et_gguf_writer_set_arr (et_gguf_writer *w, const char *key, et_gguf_vtype elem,
                             const void *data, uint64_t n);
/* Any value, deep-copied (e.g. copied over from a reader). */
void et_gguf_writer_set_value(et_gguf_writer *w, const char *key, const et_gguf_value *v);
/* Shorthand for general.alignment. */
void et_gguf_writer_set_alignment(et_gguf_writer *w, uint32_t alignment);

/* Tensors, written in the order added.  ne[0] is innermost; ne[i] for i >= n_dims is ignored.
 * nbytes must equal et_type_nbytes(type, ne[0], rows).  add_tensor references `data` (it must
 * stay valid until et_gguf_writer_write returns); add_tensor_copy copies it now;
 * add_tensor_fill calls fill() while writing, so a tensor never has to exist whole in memory.
 * An NF4 tensor adds the key edgetune.nf4 (see the top of this file). */
void et_gguf_writer_add_tensor(et_gguf_writer *w, const char *name, et_type type, int n_dims,
                               const int64_t *ne, const void *data, size_t nbytes);
void et_gguf_writer_add_tensor_copy(et_gguf_writer *w, const char *name, et_type type,
                                    int n_dims, const int64_t *ne, const void *data,
                                    size_t nbytes);
void et_gguf_writer_add_tensor_fill(et_gguf_writer *w, const char *name, et_type type,
                                    int n_dims, const int64_t *ne, et_gguf_fill_fn fill,
                                    void *ctx);

/* Write the file atomically: a temporary file next to `path`, fsync, rename over `path`,
 * fsync of the directory.  On any error nothing is left behind and `path` is untouched. */
int et_gguf_writer_write(et_gguf_writer *w, const char *path, char *err, size_t errlen);

/* ---- shared by reader and writer (engine/io/gguf_util.c) -------------------------------- */

/* Bytes of a tensor of this type and shape, or 0 with a reason in err (ne[0] not a multiple
 * of the block size, a dim < 1, overflow). */
size_t et__gguf_tensor_nbytes(et_type type, int n_dims, const int64_t *ne, char *err,
                              size_t errlen);
/* The GGUF type id we write for an et_type (ET_GGUF_TYPE_NF4 for NF4), -1 if none. */
int32_t et__gguf_type_id(et_type type);

#endif
