/* Whole-file mapping and atomic file replacement (see fileio.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fileio.h"

/* Live mappings, for et_filemap_fd_at: a few model files at a time. */
#define ET__MAPS_MAX 64
static struct { const uint8_t *base; size_t size; int fd; } et__maps[ET__MAPS_MAX];
static pthread_mutex_t et__maps_lock = PTHREAD_MUTEX_INITIALIZER;

static bool et__maps_add(const void *base, size_t size, int fd) {
    bool ok = false;
    pthread_mutex_lock(&et__maps_lock);
    for (int i = 0; i < ET__MAPS_MAX && !ok; i++)
        if (!et__maps[i].base) {
            et__maps[i].base = base;
            et__maps[i].size = size;
            et__maps[i].fd = fd;
            ok = true;
        }
    pthread_mutex_unlock(&et__maps_lock);
    return ok;
}

static void et__maps_remove(const void *base) {
    pthread_mutex_lock(&et__maps_lock);
    for (int i = 0; i < ET__MAPS_MAX; i++)
        if (et__maps[i].base == base) et__maps[i].base = NULL;
    pthread_mutex_unlock(&et__maps_lock);
}

int et_filemap_fd_at(const void *p, int64_t *offset) {
    int fd = -1;
    const uint8_t *q = p;
    pthread_mutex_lock(&et__maps_lock);
    for (int i = 0; i < ET__MAPS_MAX && fd < 0; i++)
        if (et__maps[i].base && q >= et__maps[i].base && q < et__maps[i].base + et__maps[i].size) {
            fd = et__maps[i].fd;
            *offset = (int64_t)(q - et__maps[i].base);
        }
    pthread_mutex_unlock(&et__maps_lock);
    return fd;
}

int et_filemap_open(const char *path, et_filemap *m, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    const char *no_mmap = getenv("ET_GGUF_NO_MMAP");
    if (size >= ET_FILEMAP_MMAP_MIN && !(no_mmap && *no_mmap && *no_mmap != '0')) {
        void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            /* The mapping starts on a page, so data keeps the file's alignment.  The advice
             * is a hint the kernel may ignore. */
#ifdef MADV_HUGEPAGE
            madvise(p, size, MADV_HUGEPAGE);
#endif
            m->map = p;
            m->data = p;
            /* keep the file open for et_filemap_fd_at (if the table is full, sparse readers
             * read through the mapping) */
            if (et__maps_add(p, size, fd)) {
                m->has_fd = true;
                m->fd = fd;
            }
        }
    }
    if (!m->map) {
        size_t cap = (size + 63) & ~(size_t)63;
        m->buf = aligned_alloc(64, cap ? cap : 64);
        if (!m->buf) {
            snprintf(err, errlen, "%s: out of memory reading %zu bytes", path, size);
            close(fd);
            return -1;
        }
        size_t got = 0;
        while (got < size) {
            ssize_t k = read(fd, (char *)m->buf + got, size - got);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                snprintf(err, errlen, "%s: read failed at byte %zu of %zu: %s", path, got, size,
                         k < 0 ? strerror(errno) : "unexpected end of file");
                close(fd);
                et_filemap_close(m);
                return -1;
            }
            got += (size_t)k;
        }
        m->data = m->buf;
    }
    m->size = size;
    if (!m->has_fd) close(fd);
    return 0;
}

void et_filemap_close(et_filemap *m) {
    if (m->map) {
        if (m->has_fd) et__maps_remove(m->map);
        munmap(m->map, m->size);
    }
    if (m->has_fd) close(m->fd);
    free(m->buf);
    memset(m, 0, sizeof *m);
}

int et_atomic_begin(et_atomic_file *a, const char *path, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    size_t pl = strlen(path);
    a->tmp = malloc(pl + 16);
    a->path = strdup(path);
    if (!a->tmp || !a->path) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    snprintf(a->tmp, pl + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(a->tmp);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create a temporary file: %s", path, strerror(errno));
        goto fail;
    }
    fchmod(fd, 0644);
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        snprintf(err, errlen, "%s: fdopen: %s", path, strerror(errno));
        close(fd);
        unlink(a->tmp);
        goto fail;
    }
    setvbuf(a->f, NULL, _IOFBF, 1u << 20);
    return 0;
fail:
    free(a->tmp);
    free(a->path);
    memset(a, 0, sizeof *a);
    return -1;
}

int et_atomic_end(et_atomic_file *a, bool ok, char *err, size_t errlen) {
    if (!a->f) return -1;
    bool io_ok = !ferror(a->f) && fflush(a->f) == 0;
    int saved = errno;
    if (ok && io_ok && fsync(fileno(a->f)) != 0) io_ok = false, saved = errno;
    if (fclose(a->f) != 0 && io_ok) io_ok = false, saved = errno;
    int rc = 0;
    if (ok && !io_ok) {
        snprintf(err, errlen, "%s: write failed: %s", a->path, strerror(saved));
        rc = -1;
    } else if (ok && rename(a->tmp, a->path) != 0) {
        snprintf(err, errlen, "%s: rename from %s failed: %s", a->path, a->tmp, strerror(errno));
        rc = -1;
    }
    if (!ok || rc) {
        unlink(a->tmp);
        rc = -1;
    } else {   /* make the rename itself durable */
        char *dirbuf = strdup(a->path);
        if (dirbuf) {
            int dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
            free(dirbuf);
        }
    }
    free(a->tmp);
    free(a->path);
    memset(a, 0, sizeof *a);
    return rc;
}
