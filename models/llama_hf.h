/* Llama-family models from Hugging Face checkpoint directories (see llama_hf.c): config.json,
 * model.safetensors or shards listed by model.safetensors.index.json, and tokenizer.json. */
#ifndef ET_LLAMA_HF_H
#define ET_LLAMA_HF_H

#include <stdbool.h>
#include <stdint.h>
#include "io/gguf.h"
#include "llama.h"
#include "tok/tokenizer.h"

/* The open safetensors files of a checkpoint; the weights of a model read from it point into
 * them, so it must outlive the model. */
typedef struct et_hf_files et_hf_files;

/* Whether path names a directory (a checkpoint directory for et_llama_from_hf_dir: what it
 * lacks is reported by the loader, naming the file). */
bool et_hf_is_dir(const char *path);

/* Read config.json and the weights of dir into m (tensors in ctx under edgetune's GGUF names:
 * token_embd.weight, blk.N.attn_q.weight, ...).  F32 / F16 / BF16 weights are used in place;
 * norms and biases (which the graph needs in f32) and tensors not aligned to their element
 * size are converted or copied into ctx.  *files is set on success (close it after the model).
 * 0, or -1 with a message naming the file, the tensor or field and the value. */
int  et_llama_from_hf_dir(et_llama *m, et_ctx *ctx, const char *dir, et_hf_files **files, char *err, size_t errlen);
void et_hf_files_close(et_hf_files *f);

/* dir/tokenizer.json (engine/tok/tok_io.c reads it).  NULL with err. */
et_tok *et_tok_from_hf_dir(const char *dir, char *err, size_t errlen);

/* Bytes of the checkpoint's safetensors files (what a compression ratio is measured against). */
uint64_t et_hf_dir_bytes(const char *dir);

/* Write the checkpoint as a GGUF file llama.cpp and edgetune's GGUF tools read: llama.cpp's
 * names and metadata (mistral as "llama" with its window key, see llama_gguf.c), the
 * tokenizer as tokenizer.ggml.*, weights in their stored type (norms f32), and q/k rows of
 * llama / mistral permuted into llama.cpp's rope layout (what its converter does). */
int  et_llama_hf_to_gguf(const char *dir, const char *out, char *err, size_t errlen);

/* A model file for the GGUF-based tools (quantize, prune, merge, adapter, finetune): a GGUF
 * file is opened as is; a checkpoint directory is converted by et_llama_hf_to_gguf into a
 * temporary file under $TMPDIR (default /tmp), opened, and unlinked at once, so nothing is
 * left behind (the disk space is held until et_gguf_close).  Errors about the converted file
 * name that temporary file, whose name starts with the directory's base name. */
int  et_llama_gguf_open(const char *path, et_gguf **g, char *err, size_t errlen);

#endif
