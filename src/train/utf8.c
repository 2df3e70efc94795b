/*
 * utf8.c - strict UTF-8 decoding (kiln_utf8_decode and the stepping helper the text,
 * CSV and language-model readers share), and reading a whole file into memory through
 * zlib. Strict means what RFC 3629 allows and nothing else: no overlong forms, no
 * surrogates, nothing above U+10FFFF. U+0000 is refused too, because texts are handed
 * out as C strings.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../file.h"
#include "../status_impl.h"
#include "kiln/text.h"
#include "text_impl.h"

int kiln__utf8_valid_cp(int64_t cp)
{
    return cp > 0 && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
}

const char *kiln__utf8_next(const unsigned char *s, size_t n, size_t *pos, int32_t *cp)
{
    size_t i = *pos;
    unsigned b = s[i];
    if (b < 0x80) {
        if (b == 0) {
            return "NUL byte";
        }
        *cp = (int32_t)b;
        *pos = i + 1;
        return NULL;
    }
    int len;
    int32_t v, min;
    if (b < 0xC0) {
        return "unexpected continuation byte";
    } else if (b < 0xE0) {
        len = 2, v = (int32_t)(b & 0x1F), min = 0x80;
    } else if (b < 0xF0) {
        len = 3, v = (int32_t)(b & 0x0F), min = 0x800;
    } else if (b < 0xF8) {
        len = 4, v = (int32_t)(b & 0x07), min = 0x10000;
    } else {
        return "invalid byte (0xF8..0xFF never occur in UTF-8)";
    }
    for (int k = 1; k < len; k++) {
        if (i + (size_t)k >= n) {
            return "truncated sequence at the end of the text";
        }
        unsigned c = s[i + (size_t)k];
        if ((c & 0xC0) != 0x80) {
            return "missing continuation byte";
        }
        v = v << 6 | (int32_t)(c & 0x3F);
    }
    if (v < min) {
        return "overlong encoding";
    }
    if (v >= 0xD800 && v <= 0xDFFF) {
        return "encoded surrogate (U+D800..U+DFFF)";
    }
    if (v > 0x10FFFF) {
        return "code point above U+10FFFF";
    }
    *cp = v;
    *pos = i + (size_t)len;
    return NULL;
}

int kiln__utf8_put(int32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

kiln_status kiln_utf8_decode(const char *s, size_t n_bytes, int32_t *cps, int64_t *n_cps)
{
    if (s == NULL && n_bytes > 0) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_utf8_decode: NULL text of %zu bytes", n_bytes);
    }
    const unsigned char *u = (const unsigned char *)s;
    size_t pos = 0;
    int64_t k = 0;
    while (pos < n_bytes) {
        int32_t cp;
        const char *why = kiln__utf8_next(u, n_bytes, &pos, &cp);
        if (why != NULL) {
            return KILN_FAIL(KILN_E_FORMAT, "invalid UTF-8 at byte offset %zu (byte 0x%02X): %s",
                             pos, u[pos], why);
        }
        if (cps != NULL) {
            cps[k] = cp;
        }
        k++;
    }
    if (n_cps != NULL) {
        *n_cps = k;
    }
    return KILN_OK;
}

void kiln__line_col(const char *buf, size_t off, int64_t *line, int64_t *col)
{
    int64_t l = 1;
    size_t start = 0;
    for (size_t i = 0; i < off; i++) {
        if (buf[i] == '\n') {
            l++;
            start = i + 1;
        }
    }
    *line = l;
    *col = (int64_t)(off - start) + 1;
}

/* Files larger than this are refused rather than risking size arithmetic near
 * SIZE_MAX (readers multiply the byte count by up to 8 for their arrays); it is far
 * above any text data set kiln reads: 2^40 bytes, or SIZE_MAX / 16 where size_t is
 * narrower. */
#define MAX_FILE_BYTES                                                                             \
    ((size_t)((UINT64_C(1) << 40) < SIZE_MAX / 16 ? (UINT64_C(1) << 40) : SIZE_MAX / 16))

kiln_status kiln__read_file(const char *path, char **buf, size_t *n_bytes)
{
    *buf = NULL;
    *n_bytes = 0;
    int fd;
    KILN_TRY(kiln__open_regular(path, "a data file is read to its end", &fd));
    gzFile f = gzdopen(fd, "rb");
    if (f == NULL) {
        close(fd);
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory opening '%s'", path);
    }
    kiln_status s = KILN_OK;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    if (b == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory reading '%s'", path);
        goto fail;
    }
    for (;;) {
        if (cap - n < 2) {
            char *nb = cap <= MAX_FILE_BYTES / 2 ? realloc(b, cap * 2) : NULL;
            if (nb == NULL) {
                s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "'%s' is too large: %zu bytes read", path,
                              n);
                goto fail;
            }
            b = nb;
            cap *= 2;
        }
        size_t want = cap - n - 1 > (1u << 30) ? (1u << 30) : cap - n - 1;
        int r = gzread(f, b + n, (unsigned)want);
        int zerr = Z_OK;
        const char *zmsg = r <= 0 ? gzerror(f, &zerr) : "";
        if (zerr != Z_OK) {
            /* Z_BUF_ERROR here is a gzip stream cut short. */
            s = zerr == Z_ERRNO ? KILN_FAIL_NATIVE(KILN_E_IO, errno, "'%s': read error: %s", path,
                                                   strerror(errno))
                                : KILN_FAIL_NATIVE(KILN_E_FORMAT, zerr,
                                                   "'%s': corrupt compressed data after %zu "
                                                   "bytes: %s",
                                                   path, n, zmsg);
            goto fail;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    gzclose(f);
    b[n] = '\0';
    *buf = b;
    *n_bytes = n;
    return KILN_OK;

fail:
    free(b);
    gzclose(f);
    return s;
}
