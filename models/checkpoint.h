/* Training checkpoints: everything a killed run needs to continue exactly where it was.
 *
 * One file holds the trained tensors (the adapter, or every weight for full fine-tuning), the
 * two AdamW moments of each, the optimizer step, the trainer's RNG state and data cursor, and
 * a few configuration figures that must match on resume (seed, batch, accumulation, sequence
 * length, number of examples).  The file is written atomically (temporary file in the same
 * directory, fsync, rename, fsync of the directory: engine/io/fileio.h), so a kill at any
 * moment leaves either the previous checkpoint or the new one, never a torn file.
 *
 * Layout (little-endian, as the host writes it; version 1):
 *   "ETCK" u32 version
 *   i64 step, i64 epoch, i64 cursor, u64 rng_epoch, u64 seed,
 *   i32 batch, i32 grad_accum, i32 seq_len, i32 bad_evals, i64 n_train,
 *   f32 first_loss, f32 best_eval, u32 n_tensors
 *   n_tensors × { u32 name_len, name bytes, i64 n_elements, f32 param[n], f32 m[n], f32 v[n] }
 *   u64 FNV-1a 64 of every byte before it
 * Reading validates everything (magic, version, sizes, names and element counts against the
 * optimizer's tensors, the checksum) before it changes a single byte of the model.
 */
#ifndef ET_CHECKPOINT_H
#define ET_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include "optim.h"

#define ET_CKPT_MAGIC   "ETCK"
#define ET_CKPT_VERSION 1u

typedef struct et_ckpt_state {
    int64_t  step;          /* optimizer steps taken */
    int64_t  epoch, cursor; /* data cursor: epoch number and position in its permutation */
    uint64_t rng_epoch;     /* RNG state at the start of this epoch (re-derives its shuffle) */
    uint64_t seed;
    int32_t  batch, grad_accum, seq_len, bad_evals;
    int64_t  n_train;
    float    first_loss, best_eval;
} et_ckpt_state;

/* Atomically write st and the optimizer's tensors (params, m, v) to path.  0, or -1 + err. */
int et_ckpt_write(const char *path, const et_ckpt_state *st, const et_optim *o, char *err, size_t errlen);
/* Read path into st and the optimizer's tensors (and o->step).  The file's configuration
 * figures must equal those already in *st (seed, batch, grad_accum, seq_len, n_train) and its
 * tensors those of o; otherwise -1 with a message naming the file, the field and both values,
 * and nothing is changed. */
int et_ckpt_read(const char *path, et_ckpt_state *st, et_optim *o, char *err, size_t errlen);

#endif
