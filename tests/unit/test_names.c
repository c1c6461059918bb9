/* The job_id <-> file name codec of README "The tree": what is escaped, the length
 * limits, that decoding inverts encoding (ids with NUL bytes included) and
 * that every non-canonical spelling is refused. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "names.h"

/* Encodes id[0..len) and checks the name, then decodes it back. */
static void enc_ok(const char *id, size_t len, const char *want, int line)
{
    char out[NAME_MAX_BYTES + 1];
    char back[NAME_MAX_BYTES + 1];
    memset(out, 'X', sizeof out);
    int n = names_encode(id, len, out);
    if (!check_int(n, (long long)strlen(want), __FILE__, line, "names_encode", "strlen(want)"))
        return;
    check_str(out, want, __FILE__, line, "encoded", "want");
    int m = names_decode(out, back);
    if (check_int(m, (long long)len, __FILE__, line, "names_decode", "len"))
        check_mem(back, (size_t)m, id, len, __FILE__, line, "decoded", "id");
}
#define ENC(lit, want) enc_ok((lit), sizeof(lit) - 1, (want), __LINE__)

static void test_escapes(void)
{
    ENC("abc", "abc");
    ENC("job-123_x.y", "job-123_x.y");
    ENC("a/b", "a%2Fb");
    ENC("/", "%2F");
    ENC("//", "%2F%2F");
    ENC("50%", "50%25");
    ENC("%2F", "%252F");
    ENC("\x01", "%01");
    ENC("a\x1f", "a%1F");
    ENC("a\x7f" "b", "a%7Fb");
    ENC("\t\n\r", "%09%0A%0D");
    ENC("a\0b", "a%00b");
    ENC("\0", "%00");
    ENC(" spaced id ", " spaced id ");
    ENC("a:b*c?d\"e<f>g|h\\i", "a:b*c?d\"e<f>g|h\\i");
    /* a leading dot only */
    ENC(".hidden", "%2Ehidden");
    ENC(".", "%2E");
    ENC("..", "%2E.");
    ENC("../etc", "%2E.%2Fetc");
    ENC("a.b.", "a.b.");
    /* reserved names of jobs/: the whole id, not a prefix */
    ENC("by-status", "%62y-status");
    ENC("by-domain", "%62y-domain");
    ENC("by-date", "%62y-date");
    ENC("by-status2", "by-status2");
    ENC("by-stat", "by-stat");
    ENC("xby-status", "xby-status");
    ENC("By-status", "By-status");
    ENC("by-date ", "by-date ");
    /* UTF-8 and other high bytes are kept */
    ENC("caf\xc3\xa9", "caf\xc3\xa9");
    ENC("\xe6\x9d\xb1\xe4\xba\xac", "\xe6\x9d\xb1\xe4\xba\xac");
    ENC("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");
    ENC("\x80\xff\xfe", "\x80\xff\xfe");
    ENC("\xc3\xa9/.", "\xc3\xa9%2F.");
}

static void test_limits(void)
{
    char id[400], out[NAME_MAX_BYTES + 1], back[NAME_MAX_BYTES + 1];

    CHECK_INT(names_encode("", 0, out), -EINVAL);
    CHECK_INT(names_encode("abc", 0, out), -EINVAL);

    memset(id, 'a', sizeof id);
    CHECK_INT(names_encode(id, 255, out), 255);
    CHECK_INT(strlen(out), 255);
    CHECK_INT(names_decode(out, back), 255);
    CHECK_INT(names_encode(id, 256, out), -ENAMETOOLONG);
    CHECK_INT(names_encode(id, 400, out), -ENAMETOOLONG);

    memset(id, '/', sizeof id);
    CHECK_INT(names_encode(id, 85, out), 255);
    CHECK_INT(names_decode(out, back), 85);
    CHECK(memcmp(back, id, 85) == 0);
    CHECK_INT(names_encode(id, 86, out), -ENAMETOOLONG);

    /* an escape that would straddle the limit: 253 plain bytes then '/' */
    memset(id, 'b', 253);
    id[253] = '/';
    CHECK_INT(names_encode(id, 254, out), -ENAMETOOLONG);
    CHECK_INT(names_encode(id, 253, out), 253);
    memset(id, 'b', 252);
    id[252] = '/';
    CHECK_INT(names_encode(id, 253, out), 255);

    /* a leading dot costs two more bytes */
    id[0] = '.';
    memset(id + 1, 'c', 252);
    CHECK_INT(names_encode(id, 253, out), 255);
    CHECK_INT(names_encode(id, 254, out), -ENAMETOOLONG);

    /* decoding refuses names longer than a file name can be */
    char longname[300];
    memset(longname, 'a', 256);
    longname[256] = '\0';
    char big[300];
    CHECK_INT(names_decode(longname, big), -ENOENT);
}

static void dec_bad(const char *name, int line)
{
    char out[600];
    int rc = names_decode(name, out);
    if (rc != -ENOENT) {
        check_fail_begin(__FILE__, line, "names_decode should refuse a non-canonical name");
        fprintf(stderr, "    name ");
        check_dump(stderr, name, strlen(name));
        fprintf(stderr, " gave %d\n", rc);
    }
    check_count++;
}
#define DEC_BAD(name) dec_bad((name), __LINE__)

static void test_non_canonical(void)
{
    DEC_BAD("");
    DEC_BAD("%2f");           /* lower-case hex */
    DEC_BAD("a%2fb");
    DEC_BAD("%2e");
    DEC_BAD("%41");           /* "A" needs no escape */
    DEC_BAD("a%62");          /* "b" needs no escape */
    DEC_BAD("%4");            /* truncated */
    DEC_BAD("abc%");
    DEC_BAD("%");
    DEC_BAD("%zz");
    DEC_BAD("%G0");
    DEC_BAD("%-1");
    DEC_BAD(".hidden");       /* a raw leading dot */
    DEC_BAD(".");
    DEC_BAD("..");
    DEC_BAD("by-status");     /* the reserved names themselves */
    DEC_BAD("by-domain");
    DEC_BAD("by-date");
    DEC_BAD("%62y-status2");  /* escaping that is not needed */
    DEC_BAD("a%2E");          /* only a leading dot is escaped */
    DEC_BAD("%C3%A9");        /* high bytes are kept */
    DEC_BAD("%20");

    /* and the canonical ones are accepted */
    char out[64];
    CHECK_INT(names_decode("%62y-status", out), 9);
    CHECK_MEM(out, 9, "by-status", 9);
    CHECK_INT(names_decode("%2E%2E", out), -ENOENT); /* second dot is not leading */
    CHECK_INT(names_decode("%2E.", out), 2);
    CHECK_MEM(out, 2, "..", 2);
    CHECK_INT(names_decode("a%00b", out), 3);
    CHECK_MEM(out, 3, "a\0b", 3);
    CHECK_INT(names_decode("%25", out), 1);
    CHECK_MEM(out, 1, "%", 1);
}

static void test_probe(void)
{
    CHECK(names_is_probe(".git"));
    CHECK(names_is_probe(".swp"));
    CHECK(names_is_probe("."));
    CHECK(names_is_probe(".."));
    CHECK(names_is_probe(".scrapefs"));
    CHECK(!names_is_probe("git"));
    CHECK(!names_is_probe("%2Egit"));
    CHECK(!names_is_probe("a.b"));
    CHECK(!names_is_probe("by-status"));
}

/* The length the encoding's rules give, computed independently of names.c. */
static size_t model_len(const unsigned char *id, size_t len)
{
    int reserved = (len == 9 && memcmp(id, "by-status", 9) == 0) ||
                   (len == 9 && memcmp(id, "by-domain", 9) == 0) ||
                   (len == 7 && memcmp(id, "by-date", 7) == 0);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = id[i];
        int esc = b == '/' || b == '%' || b < 0x20 || b == 0x7f || (i == 0 && (b == '.' || reserved));
        n += esc ? 3 : 1;
    }
    return n;
}

static void test_random_round_trip(void)
{
    static const unsigned char interesting[] = {'/', '%', '.', 0, 0x1f, 0x7f, 0x80, 0xff,
                                                 'A', 'F', '2', 'b', 'y', '-', ' ', '\\'};
    uint64_t seed = 0x5c4a9ef5u;
    int failed = 0;
    for (int n = 0; n < 10000 && failed < 5; n++) {
        unsigned char id[300];
        size_t len = 1 + check_rand(&seed) % (n % 10 == 0 ? 300 : 90);
        for (size_t i = 0; i < len; i++) {
            uint64_t r = check_rand(&seed);
            id[i] = (r & 3) == 0 ? interesting[(r >> 8) % sizeof interesting] : (unsigned char)(r >> 16);
        }
        if (n % 50 == 1) { /* now and then, a reserved name or a near miss */
            static const char *const near[] = {"by-status", "by-domain", "by-date", "by-dat", "by-statusX"};
            const char *s = near[check_rand(&seed) % 5];
            len = strlen(s);
            memcpy(id, s, len);
        }
        char out[NAME_MAX_BYTES + 1], back[NAME_MAX_BYTES + 1];
        int rc = names_encode((const char *)id, len, out);
        size_t want = model_len(id, len);
        if (want > NAME_MAX_BYTES) {
            if (!CHECK_INT(rc, -ENAMETOOLONG))
                failed++;
            continue;
        }
        if (!CHECK_INT(rc, (long long)want) || !CHECK_INT(strlen(out), want)) {
            failed++;
            continue;
        }
        for (size_t i = 0; i < want; i++) {
            unsigned char c = (unsigned char)out[i];
            if (c == '/' || c < 0x20 || c == 0x7f || (i == 0 && c == '.')) {
                CHECK(!"an encoded name holds a byte it may not");
                failed++;
                break;
            }
        }
        CHECK(!names_is_probe(out));
        int m = names_decode(out, back);
        if (!CHECK_INT(m, (long long)len) || !CHECK_MEM(back, (size_t)m, id, len))
            failed++;
    }
}

int main(void)
{
    test_escapes();
    test_limits();
    test_non_canonical();
    test_probe();
    test_random_round_trip();
    return check_done("test_names");
}
