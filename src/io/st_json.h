/*
 * st_json.h - the strict JSON reader under the safetensors header parser: a cursor over
 * the header's bytes that reads one token at a time (strings decoded to UTF-8 and
 * checked, non-negative integers checked for range, any other value skipped), so the
 * safetensors layer sees every number as written and every key, duplicates included.
 * It rejects what JSON rejects (and what the safetensors reference reader's serde_json
 * rejects): invalid UTF-8, unescaped control characters, lone surrogates, numbers with
 * leading zeros, nesting deeper than KILN__JSON_MAX_DEPTH; and, for kiln, strings
 * holding NUL. Every error is KILN_E_FORMAT naming the file and the byte offset in it.
 * Not a general JSON library: nothing is built in memory.
 */
#ifndef KILN_ST_JSON_H
#define KILN_ST_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln/status.h"

#define KILN__JSON_MAX_DEPTH 64

struct kiln__json {
    const char *path;          /* borrowed: the file, for messages */
    const unsigned char *base; /* borrowed: byte 0 of the file, for offsets in messages */
    const unsigned char *p;    /* the next byte */
    const unsigned char *end;  /* one past the last byte of the JSON text */
};

/* The byte offset of the cursor in the file. */
size_t kiln__json_offset(const struct kiln__json *j);

/* Skips JSON whitespace (space, tab, line feed, carriage return). */
void kiln__json_ws(struct kiln__json *j);

/* After whitespace, consumes c and returns true, or returns false and consumes nothing. */
bool kiln__json_accept(struct kiln__json *j, char c);

/* After whitespace, consumes c or fails with a message saying that c was expected where
 * (a short phrase such as "after a key") and what was found. */
kiln_status kiln__json_expect(struct kiln__json *j, char c, const char *where);

/*
 * After whitespace, reads a string. [out] *out: a new NUL-terminated UTF-8 string
 * (malloc'd, the caller frees), *len its length. what names the string in messages
 * ("a tensor name"). Fails on anything but a valid string, on an escaped or raw NUL,
 * on invalid UTF-8 and lone surrogates. KILN_E_FORMAT, KILN_E_OUT_OF_HOST_MEMORY.
 */
kiln_status kiln__json_string(struct kiln__json *j, const char *what, char **out, size_t *len);

/*
 * After whitespace, reads a non-negative integer written without fraction or exponent
 * and at most max. what names it in messages ("dimension 2 of tensor 'w'"). A number
 * with a sign, a fraction or an exponent, or any other value, fails with what it is.
 */
kiln_status kiln__json_uint(struct kiln__json *j, const char *what, uint64_t max, uint64_t *out);

/* After whitespace, skips one value of any type (checked as strictly as the rest). */
kiln_status kiln__json_skip(struct kiln__json *j);

/* Whether the n bytes at s are valid UTF-8 without NUL (what a string may hold). */
bool kiln__json_utf8(const char *s, size_t n);

/* After whitespace, whether the next value is the literal null (consumed if so). */
bool kiln__json_null(struct kiln__json *j);

#endif /* KILN_ST_JSON_H */
