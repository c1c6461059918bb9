/* A tiny assertion helper for the C unit tests: no framework, no setup.
 *
 * Every CHECK prints file:line, the expression and the values it compared
 * when it fails, counts the failure and carries on, so one run shows every
 * broken case. A test program ends with `return check_done();`, which prints
 * a summary and returns non-zero when anything failed.
 *
 *   CHECK(cond)                       a condition
 *   CHECK_INT(a, b)                   two integers (as long long)
 *   CHECK_UINT(a, b)                  two unsigned integers (as unsigned long long)
 *   CHECK_STR(a, b)                   two NUL-terminated strings (NULL allowed)
 *   CHECK_MEM(a, alen, b, blen)       two byte strings, shown escaped
 *   CHECK_CONTAINS(hay, needle)       a string containing another
 */
#ifndef SCRAPEFS_TEST_CHECK_H
#define SCRAPEFS_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_count;

/* Prints at most 400 bytes of p[0..len) with non-printable bytes as \xNN. */
static inline void check_dump(FILE *f, const void *p, size_t len)
{
    const unsigned char *s = p;
    size_t shown = len > 400 ? 400 : len;
    fputc('"', f);
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = s[i];
        if (c == '\n')
            fputs("\\n", f);
        else if (c == '\\' || c == '"')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
    if (shown < len)
        fprintf(f, "... (%zu bytes)", len);
}

static inline int check_fail_begin(const char *file, int line, const char *what)
{
    check_failures++;
    fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
    return 0;
}

static inline int check_cond(int ok, const char *file, int line, const char *expr)
{
    check_count++;
    if (!ok)
        check_fail_begin(file, line, expr);
    return ok;
}

static inline int check_int(long long a, long long b, const char *file, int line, const char *ea,
                            const char *eb)
{
    check_count++;
    if (a == b)
        return 1;
    check_fail_begin(file, line, "CHECK_INT");
    fprintf(stderr, "    %s == %lld\n    %s == %lld\n", ea, a, eb, b);
    return 0;
}

static inline int check_uint(unsigned long long a, unsigned long long b, const char *file,
                             int line, const char *ea, const char *eb)
{
    check_count++;
    if (a == b)
        return 1;
    check_fail_begin(file, line, "CHECK_UINT");
    fprintf(stderr, "    %s == %llu (0x%llx)\n    %s == %llu (0x%llx)\n", ea, a, a, eb, b, b);
    return 0;
}

static inline int check_mem(const void *a, size_t alen, const void *b, size_t blen,
                            const char *file, int line, const char *ea, const char *eb)
{
    check_count++;
    if (a && b && alen == blen && (alen == 0 || memcmp(a, b, alen) == 0))
        return 1;
    if (!a && !b)
        return 1;
    check_fail_begin(file, line, "CHECK_MEM/CHECK_STR");
    fprintf(stderr, "    %s == ", ea);
    if (a)
        check_dump(stderr, a, alen);
    else
        fputs("NULL", stderr);
    fprintf(stderr, "\n    %s == ", eb);
    if (b)
        check_dump(stderr, b, blen);
    else
        fputs("NULL", stderr);
    fputc('\n', stderr);
    if (a && b) {
        size_t i = 0;
        while (i < alen && i < blen && ((const char *)a)[i] == ((const char *)b)[i])
            i++;
        fprintf(stderr, "    (lengths %zu and %zu, first difference at byte %zu)\n", alen, blen, i);
        if (i > 100) { /* show where they part */
            size_t from = i - 40;
            fprintf(stderr, "    at byte %zu: ", from);
            check_dump(stderr, (const char *)a + from, alen - from > 120 ? 120 : alen - from);
            fprintf(stderr, "\n         versus: ");
            check_dump(stderr, (const char *)b + from, blen - from > 120 ? 120 : blen - from);
            fputc('\n', stderr);
        }
    }
    return 0;
}

static inline int check_str(const char *a, const char *b, const char *file, int line,
                            const char *ea, const char *eb)
{
    return check_mem(a, a ? strlen(a) : 0, b, b ? strlen(b) : 0, file, line, ea, eb);
}

static inline int check_contains(const char *hay, const char *needle, const char *file, int line,
                                 const char *eh, const char *en)
{
    check_count++;
    if (hay && needle && strstr(hay, needle))
        return 1;
    check_fail_begin(file, line, "CHECK_CONTAINS");
    fprintf(stderr, "    %s == \"%s\"\n    does not contain %s == \"%s\"\n", eh,
            hay ? hay : "(null)", en, needle ? needle : "(null)");
    return 0;
}

#define CHECK(cond) check_cond(!!(cond), __FILE__, __LINE__, #cond)
#define CHECK_INT(a, b) check_int((long long)(a), (long long)(b), __FILE__, __LINE__, #a, #b)
#define CHECK_UINT(a, b) \
    check_uint((unsigned long long)(a), (unsigned long long)(b), __FILE__, __LINE__, #a, #b)
#define CHECK_STR(a, b) check_str((a), (b), __FILE__, __LINE__, #a, #b)
#define CHECK_MEM(a, alen, b, blen) \
    check_mem((a), (alen), (b), (blen), __FILE__, __LINE__, #a, #b)
#define CHECK_CONTAINS(hay, needle) check_contains((hay), (needle), __FILE__, __LINE__, #hay, #needle)

/* Prints the summary; the exit status of the test program. */
static inline int check_done(const char *name)
{
    if (check_failures)
        fprintf(stderr, "%s: %d of %d checks FAILED\n", name, check_failures, check_count);
    else
        printf("%s: all %d checks passed\n", name, check_count);
    return check_failures ? 1 : 0;
}

/* A small deterministic generator (xorshift64*), so random cases repeat. */
static inline uint64_t check_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif
