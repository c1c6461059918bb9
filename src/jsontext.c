/* JSON as text (jsontext.h): validate, walk, re-indent and compact without
 * converting numbers or strings, so what the API sent is shown byte for
 * byte; UTF-8 judged as jansson judges it, bad bytes mended to U+FFFD. */
#include "jsontext.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

size_t jt_skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
        i++;
    return i;
}

static inline int hexdig(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t jt_utf8_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0; /* a continuation byte, an overlong lead (c0, c1) or f5-ff */
    }
    if (avail < n)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Bytes a string scan must stop at: the quote, a backslash, control bytes
 * and (unless trusted) the start of a multi-byte sequence. */
static bool plain[256];
static bool plain_ascii[256];

static void plain_init(void)
{
    for (int c = 0x20; c < 0x100; c++) {
        plain[c] = c != '"' && c != '\\';
        plain_ascii[c] = plain[c] && c < 0x80;
    }
}

ssize_t jt_skip_string(const char *s, size_t len, size_t i, struct jt_scan *sc)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, plain_init);
    const bool *ok = sc->utf8 == JT_UTF8_TRUST ? plain : plain_ascii;
    const unsigned char *u = (const unsigned char *)s;
    i++;
    for (;;) {
        while (i < len && ok[u[i]])
            i++;
        if (i >= len)
            return -1;
        unsigned char c = u[i];
        if (c == '"')
            return (ssize_t)i + 1;
        if (c == '\\') {
            if (i + 1 >= len)
                return -1;
            char e = s[i + 1];
            if (e == 'u') {
                if (i + 5 >= len)
                    return -1;
                for (int k = 2; k < 6; k++)
                    if (hexdig(s[i + k]) < 0)
                        return -1;
                i += 6;
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                       e == 'r' || e == 't') {
                i += 2;
            } else {
                return -1;
            }
        } else if (c < 0x20) {
            return -1;
        } else {
            size_t n = jt_utf8_len(u + i, len - i);
            if (n) {
                i += n;
            } else if (sc->utf8 == JT_UTF8_REPORT) {
                sc->bad_utf8 = true;
                i++;
            } else {
                return -1;
            }
        }
    }
}

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static ssize_t scan_number(const char *s, size_t len, size_t i)
{
    if (i < len && s[i] == '-')
        i++;
    if (i >= len)
        return -1;
    if (s[i] == '0') {
        i++;
    } else if (is_digit(s[i])) {
        while (i < len && is_digit(s[i]))
            i++;
    } else {
        return -1;
    }
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || !is_digit(s[i]))
            return -1;
        while (i < len && is_digit(s[i]))
            i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= len || !is_digit(s[i]))
            return -1;
        while (i < len && is_digit(s[i]))
            i++;
    }
    return (ssize_t)i;
}

static ssize_t scan_literal(const char *s, size_t len, size_t i, const char *lit)
{
    size_t n = strlen(lit);
    if (len - i < n || memcmp(s + i, lit, n) != 0)
        return -1;
    return (ssize_t)(i + n);
}

ssize_t jt_skip(const char *s, size_t len, size_t i, struct jt_scan *sc)
{
    char small[64];
    char *stack = small;
    size_t cap = sizeof small, depth = 0, deepest = 0;
    ssize_t r, result = -1;

value:
    i = jt_skip_ws(s, len, i);
    if (i >= len)
        goto out;
    switch (s[i]) {
    case '{':
    case '[': {
        char open = s[i];
        if (depth == cap) {
            char *n = malloc(cap * 2);
            if (!n)
                goto out;
            memcpy(n, stack, depth);
            if (stack != small)
                free(stack);
            stack = n;
            cap *= 2;
        }
        stack[depth++] = open;
        if (depth > deepest)
            deepest = depth;
        i = jt_skip_ws(s, len, i + 1);
        if (i < len && s[i] == (open == '{' ? '}' : ']')) {
            i++;
            depth--;
            goto after;
        }
        if (open == '[')
            goto value;
        goto key;
    }
    case '"':
        r = jt_skip_string(s, len, i, sc);
        break;
    case 't':
        r = scan_literal(s, len, i, "true");
        break;
    case 'f':
        r = scan_literal(s, len, i, "false");
        break;
    case 'n':
        r = scan_literal(s, len, i, "null");
        break;
    default:
        r = scan_number(s, len, i);
        break;
    }
    if (r < 0)
        goto out;
    i = (size_t)r;
    goto after;

key:
    i = jt_skip_ws(s, len, i);
    if (i >= len || s[i] != '"')
        goto out;
    r = jt_skip_string(s, len, i, sc);
    if (r < 0)
        goto out;
    i = jt_skip_ws(s, len, (size_t)r);
    if (i >= len || s[i] != ':')
        goto out;
    i++;
    goto value;

after:
    if (depth == 0) {
        result = (ssize_t)i;
        goto out;
    }
    i = jt_skip_ws(s, len, i);
    if (i >= len)
        goto out;
    if (s[i] == ',') {
        i++;
        if (stack[depth - 1] == '{')
            goto key;
        goto value;
    }
    if (s[i] == (stack[depth - 1] == '{' ? '}' : ']')) {
        i++;
        depth--;
        goto after;
    }
    goto out;

out:
    if (stack != small)
        free(stack);
    sc->depth = deepest;
    return result;
}

ssize_t jt_skip_value(const char *s, size_t len, size_t pos, size_t *depth)
{
    struct jt_scan sc = {.utf8 = JT_UTF8_STRICT};
    ssize_t end = jt_skip(s, len, pos, &sc);
    if (depth)
        *depth = sc.depth;
    return end;
}

bool jt_validate(const char *s, size_t len)
{
    ssize_t end = jt_skip_value(s, len, 0, NULL);
    return end >= 0 && jt_skip_ws(s, len, (size_t)end) == len;
}

enum jt_type jt_type_of(struct jt_span v)
{
    if (!v.len)
        return JT_INVALID;
    switch (v.p[0]) {
    case '{':
        return JT_OBJECT;
    case '[':
        return JT_ARRAY;
    case '"':
        return JT_STRING;
    case 't':
        return JT_TRUE;
    case 'f':
        return JT_FALSE;
    case 'n':
        return JT_NULL;
    default:
        return JT_NUMBER;
    }
}

static bool iter_begin(struct jt_iter *it, struct jt_span v, char open)
{
    if (!v.len || v.p[0] != open)
        return false;
    it->s = v.p;
    it->len = v.len;
    it->pos = 1;
    return true;
}

/* Moves past the separator before the next item; false at the closing byte. */
static bool iter_step(struct jt_iter *it)
{
    size_t i = jt_skip_ws(it->s, it->len, it->pos);
    if (i < it->len && it->s[i] == ',')
        i = jt_skip_ws(it->s, it->len, i + 1);
    it->pos = i;
    return i < it->len && it->s[i] != '}' && it->s[i] != ']';
}

bool jt_object_begin(struct jt_iter *it, struct jt_span v)
{
    return iter_begin(it, v, '{');
}

bool jt_array_begin(struct jt_iter *it, struct jt_span v)
{
    return iter_begin(it, v, '[');
}

bool jt_object_next(struct jt_iter *it, struct jt_span *key, struct jt_span *val)
{
    if (!iter_step(it))
        return false;
    struct jt_scan sc = {.utf8 = JT_UTF8_TRUST};
    ssize_t kend = jt_skip_string(it->s, it->len, it->pos, &sc);
    if (kend < 0)
        return false;
    key->p = it->s + it->pos;
    key->len = (size_t)kend - it->pos;
    size_t i = jt_skip_ws(it->s, it->len, (size_t)kend);
    if (i >= it->len || it->s[i] != ':')
        return false;
    i = jt_skip_ws(it->s, it->len, i + 1);
    ssize_t vend = jt_skip(it->s, it->len, i, &sc);
    if (vend < 0)
        return false;
    val->p = it->s + i;
    val->len = (size_t)vend - i;
    it->pos = (size_t)vend;
    return true;
}

bool jt_array_next(struct jt_iter *it, struct jt_span *val)
{
    if (!iter_step(it))
        return false;
    struct jt_scan sc = {.utf8 = JT_UTF8_TRUST};
    ssize_t vend = jt_skip(it->s, it->len, it->pos, &sc);
    if (vend < 0)
        return false;
    val->p = it->s + it->pos;
    val->len = (size_t)vend - it->pos;
    it->pos = (size_t)vend;
    return true;
}

bool jt_string_equals(struct jt_span str, const char *lit)
{
    size_t n = strlen(lit);
    if (!memchr(str.p, '\\', str.len))
        return str.len == n + 2 && memcmp(str.p + 1, lit, n) == 0;
    size_t dl;
    char *d = jt_string_decode(str, &dl);
    bool eq = d && dl == n && memcmp(d, lit, n) == 0;
    free(d);
    return eq;
}

bool jt_object_get(struct jt_span obj, const char *key, struct jt_span *val)
{
    struct jt_iter it;
    struct jt_span k, v;
    if (!jt_object_begin(&it, obj))
        return false;
    while (jt_object_next(&it, &k, &v)) {
        if (jt_string_equals(k, key)) {
            *val = v;
            return true;
        }
    }
    return false;
}

static void put_utf8(struct buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12);
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18);
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    buf_put(b, u, n);
}

static uint32_t hex4(const char *p)
{
    return (uint32_t)(hexdig(p[0]) << 12 | hexdig(p[1]) << 8 | hexdig(p[2]) << 4 | hexdig(p[3]));
}

void jt_string_append(struct jt_span str, struct buf *out)
{
    struct buf b = *out;
    const char *p = str.p + 1, *end = str.p + str.len - 1;
    while (p < end) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        if (!bs) {
            buf_put(&b, p, (size_t)(end - p));
            break;
        }
        buf_put(&b, p, (size_t)(bs - p));
        char e = bs[1];
        p = bs + 2;
        switch (e) {
        case 'b': buf_putc(&b, '\b'); break;
        case 'f': buf_putc(&b, '\f'); break;
        case 'n': buf_putc(&b, '\n'); break;
        case 'r': buf_putc(&b, '\r'); break;
        case 't': buf_putc(&b, '\t'); break;
        case 'u': {
            uint32_t cp = hex4(p);
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00) {
                if (end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                    uint32_t lo = hex4(p + 2);
                    if (lo >= 0xdc00 && lo < 0xe000) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        p += 6;
                    } else {
                        cp = 0xfffd;
                    }
                } else {
                    cp = 0xfffd;
                }
            } else if (cp >= 0xdc00 && cp < 0xe000) {
                cp = 0xfffd;
            }
            put_utf8(&b, cp);
            break;
        }
        default: buf_putc(&b, e); break; /* " \ / */
        }
    }
    *out = b;
}

char *jt_string_decode(struct jt_span str, size_t *outlen)
{
    /* decoding never lengthens a string (an escape is at least as long as
     * the bytes it stands for): one exact allocation, no growth */
    struct buf b = {.p = malloc(str.len), .cap = str.len};
    if (!b.p)
        return NULL;
    jt_string_append(str, &b);
    buf_putc(&b, '\0');
    if (b.oom) {
        buf_free(&b);
        return NULL;
    }
    *outlen = b.len - 1;
    return b.p;
}

size_t jt_string_decoded_len(struct jt_span str)
{
    size_t n = 0;
    const char *p = str.p + 1, *end = str.p + str.len - 1;
    while (p < end) {
        if (*p != '\\') {
            n++;
            p++;
            continue;
        }
        if (p[1] != 'u') {
            n++;
            p += 2;
            continue;
        }
        uint32_t cp = hex4(p + 2);
        p += 6;
        if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
            uint32_t lo = hex4(p + 2);
            if (lo >= 0xdc00 && lo < 0xe000) {
                n += 4;
                p += 6;
                continue;
            }
        }
        if (cp >= 0xd800 && cp < 0xe000)
            cp = 0xfffd;
        n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
    }
    return n;
}

static inline void newline(struct buf *out, size_t depth)
{
    if (depth > JT_PRETTY_MAX_DEPTH)
        return;
    buf_putc(out, '\n');
    buf_fill(out, ' ', depth * 2);
}

/* Length of the scalar token at s[i] (number or literal): up to a delimiter. */
static size_t scalar_len(const char *s, size_t len, size_t i)
{
    size_t j = i;
    while (j < len && s[j] != ',' && s[j] != ']' && s[j] != '}' && s[j] != ':' && s[j] != ' ' &&
           s[j] != '\n' && s[j] != '\r' && s[j] != '\t')
        j++;
    return j - i;
}

/* The end of the string token at s[i] in validated text. */
static size_t string_end(const char *s, size_t len, size_t i)
{
    struct jt_scan sc = {.utf8 = JT_UTF8_TRUST};
    ssize_t e = jt_skip_string(s, len, i, &sc);
    return e < 0 ? len : (size_t)e;
}

size_t jt_pretty_budget(size_t len)
{
    return 16 * len + (1u << 20);
}

bool jt_pretty_limit(struct jt_span v, struct buf *out, size_t limit)
{
    const char *s = v.p;
    size_t len = v.len, i = 0, depth = 0, start = out->len;
    while (i < len) {
        i = jt_skip_ws(s, len, i);
        if (i >= len)
            break;
        char c = s[i];
        switch (c) {
        case '{':
        case '[': {
            size_t j = jt_skip_ws(s, len, i + 1);
            if (j < len && s[j] == (c == '{' ? '}' : ']')) {
                buf_putc(out, c);
                buf_putc(out, s[j]);
                i = j + 1;
                break;
            }
            buf_putc(out, c);
            newline(out, ++depth);
            i++;
            break;
        }
        case '}':
        case ']':
            /* the close lines up with its open, which was compact when
             * it sat deeper than the limit */
            if (depth-- <= JT_PRETTY_MAX_DEPTH)
                newline(out, depth);
            buf_putc(out, c);
            i++;
            break;
        case ',':
            buf_putc(out, ',');
            newline(out, depth);
            i++;
            break;
        case ':':
            buf_put(out, ": ", 2);
            i++;
            break;
        case '"': {
            size_t end = string_end(s, len, i);
            buf_put(out, s + i, end - i);
            i = end;
            break;
        }
        default: {
            size_t n = scalar_len(s, len, i);
            if (n == 0)
                n = 1;
            buf_put(out, s + i, n);
            i += n;
            break;
        }
        }
        if (out->len - start > limit) {
            out->len = start;
            jt_compact(v, out);
            return false;
        }
    }
    return true;
}

void jt_pretty(struct jt_span v, struct buf *out)
{
    jt_pretty_limit(v, out, jt_pretty_budget(v.len));
}

/* Appends the string token s[i..end) writing U+FFFD for each byte that is
 * not part of a valid UTF-8 sequence. */
static void put_mended(struct buf *out, const char *s, size_t i, size_t end)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t run = i;
    while (i < end) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = jt_utf8_len(u + i, end - i);
        if (n) {
            i += n;
            continue;
        }
        buf_put(out, s + run, i - run);
        buf_put(out, "\xef\xbf\xbd", 3);
        run = ++i;
    }
    buf_put(out, s + run, end - run);
}

static void compact(struct jt_span v, struct buf *out, bool mend)
{
    const char *s = v.p;
    size_t len = v.len, i = 0;
    buf_reserve(out, len);
    while (i < len) {
        char c = s[i];
        if (c == '"') {
            size_t end = string_end(s, len, i);
            if (mend)
                put_mended(out, s, i, end);
            else
                buf_put(out, s + i, end - i);
            i = end;
        } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            i++;
        } else {
            /* runs of structural bytes and scalars copy in one go */
            size_t j = i + 1;
            while (j < len && s[j] != '"' && s[j] != ' ' && s[j] != '\n' && s[j] != '\r' &&
                   s[j] != '\t')
                j++;
            buf_put(out, s + i, j - i);
            i = j;
        }
    }
}

void jt_compact(struct jt_span v, struct buf *out)
{
    compact(v, out, false);
}

void jt_compact_mend(struct jt_span v, struct buf *out)
{
    compact(v, out, true);
}
