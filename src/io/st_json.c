/*
 * st_json.c - the strict JSON token reader of st_json.h: whitespace, punctuation,
 * strings (escapes decoded, UTF-8 and surrogates checked, NUL refused), non-negative
 * integers (range-checked, no sign, fraction or exponent) and skipping of any value
 * with a depth limit. The safetensors header parser in safetensors.c drives it.
 */
#include "st_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../status_impl.h"

size_t kiln__json_offset(const struct kiln__json *j)
{
    return (size_t)(j->p - j->base);
}

void kiln__json_ws(struct kiln__json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) {
        j->p++;
    }
}

/* What the cursor is at, for messages: "'x'", "byte 0x07" or "the end of the header". */
struct found_text {
    char s[32];
};

static struct found_text found(const struct kiln__json *j)
{
    struct found_text t;
    if (j->p >= j->end) {
        snprintf(t.s, sizeof(t.s), "the end of the header");
    } else if (*j->p >= 0x21 && *j->p < 0x7f) {
        snprintf(t.s, sizeof(t.s), "'%c'", *j->p);
    } else {
        snprintf(t.s, sizeof(t.s), "byte 0x%02x", *j->p);
    }
    return t;
}

bool kiln__json_accept(struct kiln__json *j, char c)
{
    kiln__json_ws(j);
    if (j->p < j->end && *j->p == (unsigned char)c) {
        j->p++;
        return true;
    }
    return false;
}

kiln_status kiln__json_expect(struct kiln__json *j, char c, const char *where)
{
    if (kiln__json_accept(j, c)) {
        return KILN_OK;
    }
    return KILN_FAIL(KILN_E_FORMAT,
                     "%s: malformed JSON header at byte %zu: expected '%c' %s, found %s", j->path,
                     kiln__json_offset(j), c, where, found(j).s);
}

/* The length of the valid UTF-8 sequence at s (n bytes available), or 0 when invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t len;
    if (c < 0x80) {
        return 1;
    }
    if (c < 0xc2) {
        return 0;
    }
    if (c < 0xe0) {
        len = 2;
    } else if (c < 0xf0) {
        len = 3;
        lo = c == 0xe0 ? 0xa0 : lo;
        hi = c == 0xed ? 0x9f : hi;
    } else if (c < 0xf5) {
        len = 4;
        lo = c == 0xf0 ? 0x90 : lo;
        hi = c == 0xf4 ? 0x8f : hi;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf) {
            return 0;
        }
    }
    return len;
}

bool kiln__json_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        size_t k = *p == 0 ? 0 : utf8_seq(p, (size_t)(end - p));
        if (k == 0) {
            return false;
        }
        p += k;
    }
    return true;
}

static int hex4(const unsigned char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) {
            return 0;
        }
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(unsigned char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes the escape at *pp (just after the backslash; q is the closing quote) into o.
 * Returns the bytes written, or 0 with *why set. */
static size_t unescape(const unsigned char **pp, const unsigned char *q, unsigned char *o,
                       const char **why)
{
    const unsigned char *p = *pp;
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *k = memchr(from, *p, sizeof(from) - 1);
    if (k != NULL) {
        *o = (unsigned char)to[k - from];
        *pp = p + 1;
        return 1;
    }
    uint32_t cp, lo;
    if (*p != 'u') {
        *why = "an invalid escape";
        return 0;
    }
    if (q - p < 5 || !hex4(p + 1, &cp)) {
        *why = "a malformed \\u escape";
        return 0;
    }
    p += 5;
    if (cp >= 0xdc00 && cp <= 0xdfff) {
        *why = "a lone low surrogate";
        return 0;
    }
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (q - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, &lo) || lo < 0xdc00 ||
            lo > 0xdfff) {
            *why = "a lone high surrogate";
            return 0;
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        p += 6;
    }
    if (cp == 0) {
        *why = "an escaped NUL (\\u0000)";
        return 0;
    }
    *pp = p;
    return put_utf8(o, cp);
}

kiln_status kiln__json_string(struct kiln__json *j, const char *what, char **out, size_t *len)
{
    kiln__json_ws(j);
    if (j->p >= j->end || *j->p != '"') {
        return KILN_FAIL(KILN_E_FORMAT,
                         "%s: malformed JSON header at byte %zu: expected %s (a string), found %s",
                         j->path, kiln__json_offset(j), what, found(j).s);
    }
    const unsigned char *start = j->p, *p = j->p + 1, *q = p;
    while (q < j->end && *q != '"') {
        q += (*q == '\\' && q + 1 < j->end) ? 2 : 1;
    }
    if (q >= j->end) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "%s: malformed JSON header: %s starting at byte %zu is not terminated",
                         j->path, what, (size_t)(start - j->base));
    }
    /* Decoding never lengthens: an escape of 2, 6 or 12 bytes gives 1 to 4. */
    unsigned char *o = malloc((size_t)(q - p) + 1);
    size_t n = 0;
    if (o == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "%s: out of host memory reading the header",
                         j->path);
    }
    while (p < q) {
        const unsigned char *at = p;
        const char *why = NULL;
        size_t k = 0;
        if (*p < 0x20) {
            why = *p == 0 ? "a NUL byte" : "an unescaped control character";
        } else if (*p == '\\') {
            p++;
            k = unescape(&p, q, o + n, &why);
        } else {
            k = utf8_seq(p, (size_t)(q - p));
            why = k == 0 ? "invalid UTF-8" : NULL;
            memcpy(o + n, p, k);
            p += k;
        }
        if (why != NULL) {
            free(o);
            return KILN_FAIL(KILN_E_FORMAT, "%s: at byte %zu: %s holds %s", j->path,
                             (size_t)(at - j->base), what, why);
        }
        n += k;
    }
    o[n] = '\0';
    j->p = q + 1;
    *out = (char *)o;
    *len = n;
    return KILN_OK;
}

/* A JSON number at the cursor: its grammar checked, its integer part accumulated. */
struct number {
    const unsigned char *start;
    bool neg, frac, exp, big;
    uint64_t value;
};

static bool digit(const struct kiln__json *j, const unsigned char *p)
{
    return p < j->end && *p >= '0' && *p <= '9';
}

static kiln_status scan_number(struct kiln__json *j, const char *what, struct number *num)
{
    const unsigned char *p = j->p;
    memset(num, 0, sizeof(*num));
    num->start = p;
    if (p < j->end && *p == '-') {
        num->neg = true;
        p++;
    }
    const char *bad = NULL;
    if (!digit(j, p)) {
        bad = "a sign without digits";
    } else if (*p == '0' && digit(j, p + 1)) {
        bad = "a leading zero";
    }
    while (bad == NULL && digit(j, p)) {
        uint64_t d = (uint64_t)(*p++ - '0');
        num->big = num->big || num->value > (UINT64_MAX - d) / 10;
        num->value = num->value * 10 + d;
    }
    if (bad == NULL && p < j->end && *p == '.') {
        num->frac = true;
        p++;
        bad = digit(j, p) ? NULL : "a fraction without digits";
        while (digit(j, p)) {
            p++;
        }
    }
    if (bad == NULL && p < j->end && (*p == 'e' || *p == 'E')) {
        num->exp = true;
        p++;
        p += p < j->end && (*p == '+' || *p == '-');
        bad = digit(j, p) ? NULL : "an exponent without digits";
        while (digit(j, p)) {
            p++;
        }
    }
    if (bad != NULL) {
        return KILN_FAIL(KILN_E_FORMAT, "%s: malformed JSON header at byte %zu: %s has %s", j->path,
                         (size_t)(num->start - j->base), what, bad);
    }
    j->p = p;
    return KILN_OK;
}

/* The JSON type of the value at the cursor, for messages. */
static const char *kind(const struct kiln__json *j)
{
    if (j->p >= j->end) {
        return "missing";
    }
    switch (*j->p) {
    case '"':
        return "a string";
    case '{':
        return "an object";
    case '[':
        return "an array";
    case 't':
    case 'f':
        return "a boolean";
    case 'n':
        return "null";
    default:
        return "not a JSON value";
    }
}

kiln_status kiln__json_uint(struct kiln__json *j, const char *what, uint64_t max, uint64_t *out)
{
    kiln__json_ws(j);
    if (j->p >= j->end || (*j->p != '-' && (*j->p < '0' || *j->p > '9'))) {
        return KILN_FAIL(KILN_E_FORMAT, "%s: at byte %zu: %s is %s, not an integer", j->path,
                         kiln__json_offset(j), what, kind(j));
    }
    struct number num;
    KILN_TRY(scan_number(j, what, &num));
    const char *why = num.neg && (num.value != 0 || num.frac || num.exp) ? "negative"
                      : num.frac || num.exp                              ? "not an integer"
                      : num.neg                                          ? "negative zero"
                      : num.big || num.value > max                       ? "too large"
                                                                         : NULL;
    if (why != NULL) {
        int n = (int)(j->p - num.start);
        return KILN_FAIL(KILN_E_FORMAT, "%s: at byte %zu: %s is %s (%.*s%s)", j->path,
                         (size_t)(num.start - j->base), what, why, n > 40 ? 40 : n,
                         (const char *)num.start, n > 40 ? "..." : "");
    }
    *out = num.value;
    return KILN_OK;
}

bool kiln__json_null(struct kiln__json *j)
{
    kiln__json_ws(j);
    if (j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) {
        j->p += 4;
        return true;
    }
    return false;
}

static kiln_status skip_at(struct kiln__json *j, int depth)
{
    kiln__json_ws(j);
    if (j->p >= j->end) {
        return KILN_FAIL(KILN_E_FORMAT, "%s: malformed JSON header: a value is missing at byte %zu",
                         j->path, kiln__json_offset(j));
    }
    unsigned char c = *j->p;
    if (c == '"') {
        char *s = NULL;
        size_t n;
        KILN_TRY(kiln__json_string(j, "a string", &s, &n));
        free(s);
        return KILN_OK;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        struct number num;
        return scan_number(j, "a number", &num);
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(j->end - j->p) >= n && memcmp(j->p, words[i], n) == 0) {
            j->p += n;
            return KILN_OK;
        }
    }
    if (c != '{' && c != '[') {
        return KILN_FAIL(KILN_E_FORMAT, "%s: malformed JSON header at byte %zu: %s is not a value",
                         j->path, kiln__json_offset(j), found(j).s);
    }
    if (depth >= KILN__JSON_MAX_DEPTH) {
        return KILN_FAIL(KILN_E_FORMAT, "%s: at byte %zu: JSON nested deeper than %d levels",
                         j->path, kiln__json_offset(j), KILN__JSON_MAX_DEPTH);
    }
    char close = c == '{' ? '}' : ']';
    j->p++;
    if (kiln__json_accept(j, close)) {
        return KILN_OK;
    }
    do {
        if (close == '}') {
            char *key = NULL;
            size_t n;
            KILN_TRY(kiln__json_string(j, "a key", &key, &n));
            free(key);
            KILN_TRY(kiln__json_expect(j, ':', "after a key"));
        }
        KILN_TRY(skip_at(j, depth + 1));
    } while (kiln__json_accept(j, ','));
    return kiln__json_expect(j, close, close == '}' ? "to close an object" : "to close an array");
}

kiln_status kiln__json_skip(struct kiln__json *j)
{
    return skip_at(j, 1);
}
