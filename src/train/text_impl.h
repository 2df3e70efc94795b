/*
 * text_impl.h - helpers shared by kiln's text, CSV and language-model readers (not
 * installed): strict UTF-8 stepping, reading a whole file (plain or gzip) into memory,
 * and turning a byte offset into a line and byte column for error messages.
 */
#ifndef KILN_TEXT_IMPL_H
#define KILN_TEXT_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/status.h"

/*
 * Decodes the code point that starts at s[*pos] (strictly; see kiln_utf8_decode) into
 * *cp and advances *pos past it. Returns NULL on success, else a static description of
 * the fault ("overlong encoding", ...), leaving *pos at the sequence's first byte.
 */
const char *kiln__utf8_next(const unsigned char *s, size_t n, size_t *pos, int32_t *cp);

/* Writes the UTF-8 form of scalar value cp to out (up to 4 bytes); returns its length. */
int kiln__utf8_put(int32_t cp, char *out);

/* 1 when cp is a Unicode scalar value other than U+0000 (what texts may hold). */
int kiln__utf8_valid_cp(int64_t cp);

/*
 * Reads the whole file at path (through zlib, so gzip files are decompressed) into a
 * new NUL-terminated buffer *buf of *n_bytes bytes (the NUL not counted), owned by the
 * caller (free). An empty file gives *n_bytes = 0.
 * Returns KILN_OK, KILN_E_IO (naming the file), KILN_E_FORMAT (corrupt gzip),
 * KILN_E_OUT_OF_HOST_MEMORY.
 */
kiln_status kiln__read_file(const char *path, char **buf, size_t *n_bytes);

/* The 1-based line and byte column of byte offset off in buf. */
void kiln__line_col(const char *buf, size_t off, int64_t *line, int64_t *col);

#endif /* KILN_TEXT_IMPL_H */
