/* Job ids and group names as file names (names.h): the reversible %XX
 * encoding and its decoder. */
#include "names.h"

#include <errno.h>
#include <string.h>

static const char *const reserved[] = {"by-status", "by-domain", "by-date"};

static int is_reserved(const char *id, size_t len)
{
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strlen(reserved[i]) == len && memcmp(reserved[i], id, len) == 0)
            return 1;
    return 0;
}

static int must_escape(unsigned char b, size_t pos, int reserved_id)
{
    if (b == '/' || b == '%' || b < 0x20 || b == 0x7f)
        return 1;
    if (pos == 0 && (b == '.' || reserved_id))
        return 1;
    return 0;
}

int names_encode(const char *id, size_t len, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    if (len == 0)
        return -EINVAL;
    int res = is_reserved(id, len);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)id[i];
        size_t need = must_escape(b, i, res) ? 3 : 1;
        if (o + need > NAME_MAX_BYTES)
            return -ENAMETOOLONG;
        if (need == 3) {
            out[o++] = '%';
            out[o++] = hex[b >> 4];
            out[o++] = hex[b & 15];
        } else {
            out[o++] = (char)b;
        }
    }
    out[o] = '\0';
    return (int)o;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* lower case is not canonical */
}

int names_decode(const char *name, char *out)
{
    size_t n = strlen(name), o = 0;
    if (n == 0 || n > NAME_MAX_BYTES)
        return -ENOENT;
    for (size_t i = 0; i < n; i++) {
        if (name[i] == '%') {
            if (i + 2 >= n)
                return -ENOENT;
            int hi = hexval(name[i + 1]), lo = hexval(name[i + 2]);
            if (hi < 0 || lo < 0)
                return -ENOENT;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = name[i];
        }
    }
    out[o] = '\0'; /* for printing; the id's length is what counts */
    /* Only the canonical spelling names the id: re-encode and compare. */
    char again[NAME_MAX_BYTES + 1];
    if (names_encode(out, o, again) < 0 || strcmp(again, name) != 0)
        return -ENOENT;
    return (int)o;
}

int names_is_probe(const char *name)
{
    return name[0] == '.';
}

int names_encode_group(const char *s, size_t len, char *out)
{
    int n = names_encode(s, len, out);
    if (n >= 6 && memcmp(out + n - 6, ".jsonl", 6) == 0) {
        if (n + 2 > NAME_MAX_BYTES)
            return -ENAMETOOLONG;
        memmove(out + n - 3, out + n - 5, 6); /* "jsonl" and the NUL */
        memcpy(out + n - 6, "%2E", 3);
        n += 2;
    }
    return n;
}
