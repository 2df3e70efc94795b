/*
 * cache.c - the checked on-disk cache entries of cache.h: directory resolution, entry
 * paths, validated reads (length, CRC-32 through zlib, key) and atomic writes, with the
 * warnings that say why an entry was ignored or could not be written.
 */
#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "checked.h"

static const unsigned char magic[8] = {'K', 'I', 'L', 'N', 'C', 'A', 'C', 'H'};
#define FORMAT_VERSION 1u

void kiln__cache_dir(char *out, size_t n)
{
    const char *d = getenv("KILN_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int w = 0;
    if (d != NULL && d[0] != '\0') {
        w = snprintf(out, n, "%s", d);
    } else if (xdg != NULL && xdg[0] != '\0') {
        w = snprintf(out, n, "%s/kiln", xdg);
    } else if (home != NULL && home[0] != '\0') {
        w = snprintf(out, n, "%s/.cache/kiln", home);
    } else {
        out[0] = '\0';
    }
    if (w < 0 || (size_t)w >= n) {
        out[0] = '\0';
    }
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    }
    return h;
}

void kiln__cache_path(const char *sub, const char *stem, const char *key, char *out, size_t n)
{
    char dir[768];
    kiln__cache_dir(dir, sizeof(dir));
    int w = dir[0] ? snprintf(out, n, "%s/%s/%s-%016llx.kcache", dir, sub, stem,
                              (unsigned long long)fnv1a(key))
                   : -1;
    if (w < 0 || (size_t)w >= n) {
        out[0] = '\0';
    }
}

static uint32_t get_u32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void put_u32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        b[i] = (unsigned char)(v >> (8 * i));
    }
}

/* CRC-32 of n bytes, in zlib's chunks of at most UINT_MAX. */
static uLong crc_of(uLong crc, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        uInt k = n > 0x40000000u ? 0x40000000u : (uInt)n;
        crc = crc32(crc, b, k);
        b += k;
        n -= k;
    }
    return crc;
}

/* Why the file image buf (n bytes) is not a valid entry for key, or NULL if it is. On
 * success *off and *len locate the payload. */
static const char *check_entry(const unsigned char *buf, size_t n, const char *key, size_t *off,
                               size_t *len, char *why, size_t why_n)
{
    size_t key_len = strlen(key), total;
    if (n < KILN__CACHE_HEADER_BYTES || memcmp(buf, magic, sizeof(magic)) != 0) {
        snprintf(why, why_n, "%s",
                 n < KILN__CACHE_HEADER_BYTES ? "truncated before the end of its header"
                                              : "not a kiln cache file");
        return why;
    }
    if (get_u32(buf + 8) != FORMAT_VERSION) {
        snprintf(why, why_n, "format version %u, not %u", get_u32(buf + 8), FORMAT_VERSION);
        return why;
    }
    uint64_t file_key = get_u32(buf + 12);
    uint64_t payload = (uint64_t)get_u32(buf + 16) | (uint64_t)get_u32(buf + 20) << 32;
    if (payload > SIZE_MAX || !kiln__size_add(KILN__CACHE_HEADER_BYTES, (size_t)file_key, &total) ||
        !kiln__size_add(total, (size_t)payload, &total) || total != n) {
        snprintf(why, why_n, "truncated or damaged: %zu bytes where its header says %llu", n,
                 (unsigned long long)(KILN__CACHE_HEADER_BYTES + file_key + payload));
        return why;
    }
    uLong crc = crc_of(crc32(0L, Z_NULL, 0), buf + KILN__CACHE_HEADER_BYTES, n - 32);
    if ((uint32_t)crc != get_u32(buf + 24)) {
        snprintf(why, why_n, "corrupt: its checksum does not match");
        return why;
    }
    if (file_key != key_len || memcmp(buf + KILN__CACHE_HEADER_BYTES, key, key_len) != 0) {
        snprintf(why, why_n, "made for another kiln version, device, driver or options");
        return why;
    }
    *off = KILN__CACHE_HEADER_BYTES + key_len;
    *len = (size_t)payload;
    return NULL;
}

/* Reads exactly n bytes from fd. */
static bool read_all(int fd, unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return false;
        }
        got += (size_t)r;
    }
    return true;
}

kiln_status kiln__cache_load(struct kiln_context *ctx, const char *what, const char *path,
                             const char *key, void **data, size_t *n)
{
    struct stat st;
    char why[160];
    const char *bad = NULL;
    unsigned char *buf = NULL;
    *data = NULL;
    *n = 0;
    int fd = path[0] ? open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC) : -1;
    if (fd < 0) {
        return KILN_OK; /* no entry yet */
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size > KILN__CACHE_MAX_BYTES) {
        bad = "not a regular file of at most 1 GiB";
    } else {
        size_t size = (size_t)st.st_size, off = 0, len = 0;
        buf = kiln__alloc(ctx, size > 0 ? size : 1, what);
        if (buf == NULL) {
            close(fd);
            return KILN_E_OUT_OF_HOST_MEMORY;
        }
        if (!read_all(fd, buf, size)) {
            bad = "unreadable";
        } else if ((bad = check_entry(buf, size, key, &off, &len, why, sizeof(why))) == NULL) {
            memmove(buf, buf + off, len);
            *data = buf;
            *n = len;
            buf = NULL;
        }
    }
    close(fd);
    kiln__free(ctx, buf);
    if (bad != NULL) {
        kiln__log(ctx, KILN_LOG_WARN, "%s %s is bad (%s); ignoring it, it will be rebuilt", what,
                  path, bad);
    }
    return KILN_OK;
}

/* mkdir -p of path's directory part. */
static int make_parent_dirs(const char *path)
{
    char dir[1024];
    int w = snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (w < 0 || (size_t)w >= sizeof(dir) || slash == NULL || slash == dir) {
        return 0;
    }
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = c;
            if (c == '\0') {
                return 0;
            }
        }
    }
}

static bool write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return false;
        }
        b += w;
        n -= (size_t)w;
    }
    return true;
}

void kiln__cache_store(struct kiln_context *ctx, const char *what, const char *path,
                       const char *key, const void *data, size_t n, bool *warned)
{
    unsigned char h[KILN__CACHE_HEADER_BYTES] = {0};
    char tmp[1100];
    size_t key_len = strlen(key);
    const char *step = "create its directory";
    int fd = -1;
    if (path[0] == '\0') {
        return;
    }
    memcpy(h, magic, sizeof(magic));
    put_u32(h + 8, FORMAT_VERSION);
    put_u32(h + 12, (uint32_t)key_len);
    put_u32(h + 16, (uint32_t)((uint64_t)n & 0xffffffffu));
    put_u32(h + 20, (uint32_t)((uint64_t)n >> 32));
    put_u32(h + 24, (uint32_t)crc_of(crc_of(crc32(0L, Z_NULL, 0), key, key_len), data, n));
    errno = 0;
    if (make_parent_dirs(path) == 0) {
        step = "create a temporary file";
        snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
        fd = mkstemp(tmp);
    }
    if (fd >= 0) {
        step = "write";
        bool ok =
            write_all(fd, h, sizeof(h)) && write_all(fd, key, key_len) && write_all(fd, data, n);
        ok = close(fd) == 0 && ok;
        if (ok) {
            step = "rename it into place";
            ok = rename(tmp, path) == 0;
        }
        if (ok) {
            return;
        }
        int e = errno;
        unlink(tmp);
        errno = e;
    }
    kiln__log(ctx, *warned ? KILN_LOG_DEBUG : KILN_LOG_WARN,
              "%s %s: cannot %s: %s; kiln works without the cache (set KILN_CACHE_DIR to a "
              "writable directory to keep compiled code between runs)",
              what, path, step, errno ? strerror(errno) : "unknown error");
    *warned = true;
}
