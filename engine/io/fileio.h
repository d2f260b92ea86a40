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
    bool           has_fd;    /* fd: a mapping's file, open until close (zeroed struct: none) */
    int            fd;
} et_filemap;

/* 0 on success; otherwise -1 with "<path>: <why>" in err. */
int  et_filemap_open(const char *path, et_filemap *m, char *err, size_t errlen);
void et_filemap_close(et_filemap *m);

/* For sparse reads of a mapped file (an embedding lookup): the file descriptor and file
 * offset behind address p when p lies in a live mapping opened here, else -1.  Reading a
 * row with pread(2) instead of through the mapping keeps it out of the process's resident
 * set: a page fault maps the 64 KiB around it (the kernel's fault-around, which MADV_RANDOM
 * does not stop), so a few batches of lookups made a whole vocabulary table resident. */
int  et_filemap_fd_at(const void *p, int64_t *offset);

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
