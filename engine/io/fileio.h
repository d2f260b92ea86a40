/* File plumbing shared by the model-file readers and writers (GGUF, safetensors):
 *
 *  - et_filemap: a whole file in memory, memory-mapped when large (advised for huge pages,
 *    which raises streaming read bandwidth for weights) or read() into one 64-byte aligned
 *    buffer when small, or when ET_GGUF_NO_MMAP=1 is set in the environment.
 *  - et_atomic_file: write a file so that it appears whole or not at all: a temporary file
 *    next to the target, fsync, rename over the target, fsync of the directory.
 */
#ifndef ET_FILEIO_H
#define ET_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ET_FILEMAP_MMAP_MIN (1u << 20)   /* files at least this large are mapped */

typedef struct et_filemap {
    const uint8_t *data;
    size_t         size;
    void          *map;       /* the mapping, or NULL */
    void          *buf;       /* the read() buffer, or NULL */
} et_filemap;

/* 0 on success; otherwise -1 with "<path>: <why>" in err. */
int  et_filemap_open(const char *path, et_filemap *m, char *err, size_t errlen);
void et_filemap_close(et_filemap *m);

typedef struct et_atomic_file {
    FILE *f;          /* write here (1 MiB buffered) */
    char *tmp;
    char *path;
} et_atomic_file;

int  et_atomic_begin(et_atomic_file *a, const char *path, char *err, size_t errlen);
/* Flush, fsync, rename.  With ok == false (the caller failed) it only removes the temporary
 * file.  Returns 0 if the file is now in place. */
int  et_atomic_end(et_atomic_file *a, bool ok, char *err, size_t errlen);

#endif
