/* JSON as text: validation, member lookup, string decoding, compacting and
 * re-indenting, without ever converting a number or a string. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jsontext.h"

static struct jt_span span(const char *s)
{
    struct jt_span v = {s, strlen(s)};
    return v;
}

static void valid(const char *s, size_t len, int want, int line)
{
    check_count++;
    if (jt_validate(s, len) != (want != 0)) {
        check_fail_begin(__FILE__, line, want ? "jt_validate should accept" : "jt_validate should refuse");
        fputs("    input ", stderr);
        check_dump(stderr, s, len);
        fputc('\n', stderr);
    }
}
#define VALID(lit) valid((lit), sizeof(lit) - 1, 1, __LINE__)
#define INVALID(lit) valid((lit), sizeof(lit) - 1, 0, __LINE__)

static void test_validate(void)
{
    VALID("0");
    VALID("-0");
    VALID("-0.0");
    VALID("29.99");
    VALID("1e400");
    VALID("1E+2");
    VALID("1e-2");
    VALID("1234567890123456789012345678901234567890");
    VALID("true");
    VALID("false");
    VALID("null");
    VALID("\"\"");
    VALID("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\"");
    VALID("\"\\u0000\"");
    VALID("\"caf\xc3\xa9\"");
    VALID("[]");
    VALID("{}");
    VALID(" \t\r\n[ 1 , 2 ]\r\n ");
    VALID("{\"a\":{},\"b\":[[]]}");
    VALID("{ \"a\" : 1 , \"a\" : 2 }");
    VALID("[1,\"x\",null,true,false,{\"k\":[{}]}]");

    INVALID("");
    INVALID("   ");
    INVALID("[1,]");
    INVALID("[1,2,]");
    INVALID("{\"a\":1,}");
    INVALID("[,1]");
    INVALID("01");
    INVALID("[01]");
    INVALID("-01");
    INVALID("1.");
    INVALID(".5");
    INVALID("-");
    INVALID("+1");
    INVALID("1e");
    INVALID("1e+");
    INVALID("0x10");
    INVALID("NaN");
    INVALID("Infinity");
    INVALID("\"abc");
    INVALID("\"abc\\\"");
    INVALID("\"a\nb\"");
    INVALID("\"a\tb\"");
    INVALID("\"\x01\"");
    INVALID("\"\\x41\"");
    INVALID("\"\\'\"");
    INVALID("\"\\u12\"");
    INVALID("\"\\u12");
    INVALID("\"\\u12g4\"");
    INVALID("\"\\");
    INVALID("tru");
    INVALID("nul");
    INVALID("falsey");
    INVALID("True");
    INVALID("1 2");
    INVALID("{} {}");
    INVALID("[] x");
    INVALID("{\"a\"}");
    INVALID("{\"a\" 1}");
    INVALID("{a:1}");
    INVALID("{1:1}");
    INVALID("[1}");
    INVALID("{\"a\":1]");
    INVALID("[");
    INVALID("]");
    INVALID("{");
    INVALID("[\"a\":1]");
    INVALID("\"a\"\0");
    INVALID("[1]\0");

    /* 100,000 levels: valid, one short, and a mismatched close */
    size_t deep = 100000;
    char *s = malloc(2 * deep + 2);
    memset(s, '[', deep);
    memset(s + deep, ']', deep);
    CHECK(jt_validate(s, 2 * deep));
    size_t depth = 0;
    CHECK_INT(jt_skip_value(s, 2 * deep, 0, &depth), (long long)(2 * deep));
    CHECK_UINT(depth, deep);
    CHECK(!jt_validate(s, 2 * deep - 1));
    s[deep] = '}';
    CHECK(!jt_validate(s, 2 * deep));
    s[deep] = ']';
    s[2 * deep] = ']';
    CHECK(!jt_validate(s, 2 * deep + 1));
    free(s);

    /* deep objects */
    const char *unit = "{\"k\":";
    size_t ul = strlen(unit);
    s = malloc(deep * (ul + 1) + 8);
    size_t n = 0;
    for (size_t i = 0; i < deep; i++) {
        memcpy(s + n, unit, ul);
        n += ul;
    }
    s[n++] = '1';
    memset(s + n, '}', deep);
    CHECK(jt_validate(s, n + deep));
    CHECK(!jt_validate(s, n + deep - 1));
    CHECK(!jt_validate(s, n)); /* unclosed */
    free(s);

    /* jt_skip_value from an offset, over whitespace */
    const char *t = "xx  [1, {\"a\": 2}]  tail";
    CHECK_INT(jt_skip_value(t, strlen(t), 2, NULL), 17);
    CHECK_INT(jt_skip_value(t, strlen(t), 0, NULL), -1);
}

/* UTF-8 inside strings, judged as jansson judges it (fuzz_utf8 compares
 * the two on random input). */
static void test_utf8(void)
{
    VALID("\"caf\xc3\xa9 \xe6\x9d\xb1 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"");
    INVALID("\"\xc3\"");              /* cut short */
    INVALID("\"\xc3(\"");             /* no continuation byte */
    INVALID("\"\x80\"");              /* a continuation byte alone */
    INVALID("\"\xc0\xaf\"");          /* overlong */
    INVALID("\"\xe0\x80\xaf\"");      /* overlong */
    INVALID("\"\xed\xa0\x80\"");      /* a surrogate */
    INVALID("\"\xf4\x90\x80\x80\"");  /* above U+10FFFF */
    INVALID("\"\xff\"");
    INVALID("{\"k\xff\":1}");          /* in a key too */

    /* reported, not refused, when the caller asks so */
    const char *t = "[\"a\xff" "b\", \"\xc3\xa9\"]";
    struct jt_scan sc = {.utf8 = JT_UTF8_REPORT};
    CHECK_INT(jt_skip(t, strlen(t), 0, &sc), (long long)strlen(t));
    CHECK(sc.bad_utf8);
    sc = (struct jt_scan){.utf8 = JT_UTF8_REPORT};
    CHECK_INT(jt_skip("[\"\xc3\xa9\"]", 6, 0, &sc), 6);
    CHECK(!sc.bad_utf8);

    /* mending writes U+FFFD for each byte that is not UTF-8 */
    struct buf b = {0};
    jt_compact_mend((struct jt_span){t, strlen(t)}, &b);
    buf_putc(&b, '\0');
    CHECK_STR(b.p, "[\"a\xef\xbf\xbd" "b\",\"\xc3\xa9\"]");
    CHECK(jt_validate(b.p, b.len - 1));
    buf_free(&b);
    const char *cut = "\"\xe6\x9d\"";
    jt_compact_mend((struct jt_span){cut, strlen(cut)}, &b);
    buf_putc(&b, '\0');
    CHECK_STR(b.p, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    buf_free(&b);
}

static void test_type_and_iter(void)
{
    CHECK_INT(jt_type_of(span("{}")), JT_OBJECT);
    CHECK_INT(jt_type_of(span("[]")), JT_ARRAY);
    CHECK_INT(jt_type_of(span("\"\"")), JT_STRING);
    CHECK_INT(jt_type_of(span("-1")), JT_NUMBER);
    CHECK_INT(jt_type_of(span("true")), JT_TRUE);
    CHECK_INT(jt_type_of(span("false")), JT_FALSE);
    CHECK_INT(jt_type_of(span("null")), JT_NULL);
    CHECK_INT(jt_type_of(span("")), JT_INVALID);

    struct jt_iter it;
    struct jt_span k, v;
    const char *obj = "{ \"a\" : 1 ,\n\t\"b\":[1, 2], \"\\u0063\": {} }";
    CHECK(jt_object_begin(&it, span(obj)));
    CHECK(jt_object_next(&it, &k, &v));
    CHECK_MEM(k.p, k.len, "\"a\"", 3);
    CHECK_MEM(v.p, v.len, "1", 1);
    CHECK(jt_object_next(&it, &k, &v));
    CHECK_MEM(k.p, k.len, "\"b\"", 3);
    CHECK_MEM(v.p, v.len, "[1, 2]", 6);
    CHECK(jt_object_next(&it, &k, &v));
    CHECK_MEM(k.p, k.len, "\"\\u0063\"", 8);
    CHECK_MEM(v.p, v.len, "{}", 2);
    CHECK(!jt_object_next(&it, &k, &v));
    CHECK(!jt_array_begin(&it, span(obj)));

    const char *arr = "[ 1,\"two\" , [3] ,{\"4\":4}]";
    CHECK(jt_array_begin(&it, span(arr)));
    const char *want[] = {"1", "\"two\"", "[3]", "{\"4\":4}"};
    for (int i = 0; i < 4; i++) {
        CHECK(jt_array_next(&it, &v));
        CHECK_MEM(v.p, v.len, want[i], strlen(want[i]));
    }
    CHECK(!jt_array_next(&it, &v));
    CHECK(jt_array_begin(&it, span("[ ]")));
    CHECK(!jt_array_next(&it, &v));
    CHECK(jt_object_begin(&it, span("{}")));
    CHECK(!jt_object_next(&it, &k, &v));
    CHECK(!jt_object_begin(&it, span("[]")));
}

static void get_ok(const char *obj, const char *key, const char *want, int line)
{
    struct jt_span v = {NULL, 0};
    check_count++;
    if (!jt_object_get(span(obj), key, &v)) {
        check_fail_begin(__FILE__, line, "jt_object_get did not find the key");
        fprintf(stderr, "    key \"%s\" in %s\n", key, obj);
        return;
    }
    check_mem(v.p, v.len, want, strlen(want), __FILE__, line, "value", "want");
}

static void get_none(const char *obj, const char *key, int line)
{
    struct jt_span v;
    check_count++;
    if (jt_object_get(span(obj), key, &v)) {
        check_fail_begin(__FILE__, line, "jt_object_get found a key that is not there");
        fprintf(stderr, "    key \"%s\" in %s gave ", key, obj);
        check_dump(stderr, v.p, v.len);
        fputc('\n', stderr);
    }
}

static void test_object_get(void)
{
    get_ok("{\"job_id\":\"x\"}", "job_id", "\"x\"", __LINE__);
    get_ok("{\"job\\u005fid\" : \"y\"}", "job_id", "\"y\"", __LINE__);
    get_ok("{\"\\u006a\\u006F\\u0062_id\":1}", "job_id", "1", __LINE__);
    get_ok("{\"a\\\"b\":2}", "a\"b", "2", __LINE__);
    get_ok("{\"\\/x\":3}", "/x", "3", __LINE__);
    get_ok("{\"a\\\\b\":4}", "a\\b", "4", __LINE__);
    get_ok("{\"caf\\u00e9\":5}", "caf\xc3\xa9", "5", __LINE__);
    get_ok("{\"caf\xc3\xa9\":6}", "caf\xc3\xa9", "6", __LINE__);
    get_ok("{\"\\ud83d\\ude00\":7}", "\xf0\x9f\x98\x80", "7", __LINE__);
    get_ok("{\"a\\tb\":8}", "a\tb", "8", __LINE__);
    get_ok("{\"\":9}", "", "9", __LINE__);
    /* the first of duplicate keys wins */
    get_ok("{\"k\":1,\"k\":2}", "k", "1", __LINE__);
    get_ok("{\"k\\u0000\":1,\"k\":2}", "k", "2", __LINE__);
    get_ok("{\"a\":{\"job_id\":1},\"job_id\":[ 2 ]}", "job_id", "[ 2 ]", __LINE__);
    get_none("{\"a\":{\"job_id\":1}}", "job_id", __LINE__);
    get_none("{\"x\":\"\\\"job_id\\\":1\"}", "job_id", __LINE__);
    get_none("{\"job_idx\":1,\"Job_id\":2,\"job_i\":3}", "job_id", __LINE__);
    get_none("{\"k\\u0000\":1}", "k", __LINE__);
    get_none("[\"job_id\",1]", "job_id", __LINE__);
    get_none("{}", "job_id", __LINE__);
    /* A key is compared unescaped: the raw token "a\nb" is a, newline, b,
     * not the four bytes a \ n b. */
    get_none("{\"a\\nb\":1}", "a\\nb", __LINE__);
    get_ok("{\"a\\nb\":1,\"a\\\\nb\":2}", "a\\nb", "2", __LINE__);
    get_ok("{\"a\\nb\":1,\"a\\\\nb\":2}", "a\nb", "1", __LINE__);

    CHECK(jt_string_equals(span("\"abc\""), "abc"));
    CHECK(jt_string_equals(span("\"a\\u0062c\""), "abc"));
    CHECK(!jt_string_equals(span("\"abc\""), "ab"));
    CHECK(!jt_string_equals(span("\"abc\""), "abcd"));
    CHECK(!jt_string_equals(span("\"a\\\\\""), "a\\\\"));
    CHECK(jt_string_equals(span("\"a\\\\\""), "a\\"));
}

static void dec_ok(const char *tok, const char *want, size_t wantlen, int line)
{
    size_t n = 12345;
    char *d = jt_string_decode(span(tok), &n);
    check_count++;
    if (!d) {
        check_fail_begin(__FILE__, line, "jt_string_decode returned NULL");
        return;
    }
    check_mem(d, n, want, wantlen, __FILE__, line, "decoded", "want");
    check_int(d[n], 0, __FILE__, line, "terminator", "0");
    free(d);
}
#define DEC(tok, want) dec_ok((tok), (want), sizeof(want) - 1, __LINE__)

static void test_string_decode(void)
{
    DEC("\"\"", "");
    DEC("\"plain\"", "plain");
    DEC("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t");
    DEC("\"\\u0041\\u00e9\\u00E9\"", "A\xc3\xa9\xc3\xa9");
    DEC("\"\\u20ac\"", "\xe2\x82\xac");
    DEC("\"\\u07ff\\u0800\\uffff\"", "\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf");
    DEC("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80");
    DEC("\"\\uD83D\\uDE00!\"", "\xf0\x9f\x98\x80!");
    DEC("\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf");
    DEC("\"\\ud800\\udc00\"", "\xf0\x90\x80\x80");
    /* lone surrogates become U+FFFD */
    DEC("\"\\ud83d\"", "\xef\xbf\xbd");
    DEC("\"\\ude00\"", "\xef\xbf\xbd");
    DEC("\"a\\ud83dz\"", "a\xef\xbf\xbdz");
    DEC("\"\\ud83d\\u0041\"", "\xef\xbf\xbd" "A");
    DEC("\"\\ud83d\\ud83d\\ude00\"", "\xef\xbf\xbd\xf0\x9f\x98\x80");
    DEC("\"\\ude00\\ud83d\"", "\xef\xbf\xbd\xef\xbf\xbd");
    DEC("\"\\ud83d\\n\"", "\xef\xbf\xbd\n");
    /* NUL bytes are kept: the length says where the text ends */
    DEC("\"\\u0000\"", "\0");
    DEC("\"a\\u0000b\\u0000\"", "a\0b\0");
    /* raw UTF-8 passes through */
    DEC("\"caf\xc3\xa9 \xe6\x9d\xb1 \xf0\x9f\x98\x80\"", "caf\xc3\xa9 \xe6\x9d\xb1 \xf0\x9f\x98\x80");
}

static void compact_ok(const char *in, const char *want, int line)
{
    struct buf b = {0};
    jt_compact(span(in), &b);
    check_mem(b.p, b.len, want, strlen(want), __FILE__, line, "jt_compact", "want");
    buf_free(&b);
}

static void test_compact(void)
{
    compact_ok("{ \"a\" : 1 ,\r\n\t\"b\" : [ 1 , 2.50 , -0.0 , 1E+2 ] }",
               "{\"a\":1,\"b\":[1,2.50,-0.0,1E+2]}", __LINE__);
    compact_ok("\"  spaces  stay \\\"  \\\\\"", "\"  spaces  stay \\\"  \\\\\"", __LINE__);
    compact_ok("[ \"a , b\" , \"[ ]\" , \"\\u0000\" ]", "[\"a , b\",\"[ ]\",\"\\u0000\"]", __LINE__);
    compact_ok("{ }", "{}", __LINE__);
    compact_ok("[ [ ] , { } ]", "[[],{}]", __LINE__);
    compact_ok(" true ", "true", __LINE__);
    compact_ok("1234567890123456789012345678901234567890", "1234567890123456789012345678901234567890",
               __LINE__);
    compact_ok("{\"k\":\"\\\\\" , \"l\" : \"x\"}", "{\"k\":\"\\\\\",\"l\":\"x\"}", __LINE__);
    compact_ok("[\"caf\xc3\xa9\", \"\\/\"]", "[\"caf\xc3\xa9\",\"\\/\"]", __LINE__);

    /* appends, and keeps what is there */
    struct buf b = {0};
    buf_put(&b, "x", 1);
    jt_compact(span("[ 1 ]"), &b);
    CHECK_MEM(b.p, b.len, "x[1]", 4);
    buf_free(&b);
}

static void pretty_ok(const char *in, const char *want, int line)
{
    struct buf b = {0};
    jt_pretty(span(in), &b);
    check_mem(b.p, b.len, want, strlen(want), __FILE__, line, "jt_pretty", "want");
    buf_free(&b);
}

static void test_pretty(void)
{
    pretty_ok("1", "1", __LINE__);
    pretty_ok(" \"x\" ", "\"x\"", __LINE__);
    pretty_ok("{}", "{}", __LINE__);
    pretty_ok("[ ]", "[]", __LINE__);
    pretty_ok("{\"a\":1}", "{\n  \"a\": 1\n}", __LINE__);
    pretty_ok("{\"a\" :\t[1 ,2.50], \"b\":{ }, \"c\":[[ ]]}",
              "{\n  \"a\": [\n    1,\n    2.50\n  ],\n  \"b\": {},\n  \"c\": [\n    []\n  ]\n}",
              __LINE__);
    pretty_ok("[\"a,b:[c]\", \"{\\\"d\\\": 1}\"]",
              "[\n  \"a,b:[c]\",\n  \"{\\\"d\\\": 1}\"\n]", __LINE__);
}

/* Nesting deeper than JT_PRETTY_MAX_DEPTH stays valid, with its indentation
 * bounded; a container that starts deeper than that is written compactly. */
static void test_pretty_depth(void)
{
    size_t n = JT_PRETTY_MAX_DEPTH + 88;
    char *s = malloc(2 * n + 1);
    memset(s, '[', n);
    s[n] = '1';
    memset(s + n + 1, ']', n);
    struct jt_span v = {s, 2 * n + 1};
    struct buf b = {0};
    jt_pretty(v, &b);
    CHECK(jt_validate(b.p, b.len));
    size_t maxrun = 0, run = 0;
    for (size_t i = 0; i < b.len; i++) {
        run = b.p[i] == ' ' ? run + 1 : 0;
        if (run > maxrun)
            maxrun = run;
    }
    CHECK_UINT(maxrun, 2 * JT_PRETTY_MAX_DEPTH);

    /* The container at depth MAX+1 and all inside it: one compact line. */
    size_t inner = n - JT_PRETTY_MAX_DEPTH;
    struct buf want = {0};
    for (size_t d = 0; d < JT_PRETTY_MAX_DEPTH; d++) {
        buf_putc(&want, '[');
        buf_putc(&want, '\n');
        buf_fill(&want, ' ', 2 * (d + 1));
    }
    buf_fill(&want, '[', inner);
    buf_putc(&want, '1');
    buf_fill(&want, ']', inner);
    for (size_t d = JT_PRETTY_MAX_DEPTH; d > 0; d--) {
        buf_putc(&want, '\n');
        buf_fill(&want, ' ', 2 * (d - 1));
        buf_putc(&want, ']');
    }
    CHECK_MEM(b.p, b.len, want.p, want.len);
    buf_free(&want);
    buf_free(&b);
    free(s);
}

/* A document whose indentation would grow past 16 times its size plus 1 MiB
 * (jsontext.h) is written compactly, whole. */
static void test_pretty_blowup(void)
{
    size_t depth = JT_PRETTY_MAX_DEPTH, items = 5000;
    struct buf in = {0};
    buf_fill(&in, '[', depth);
    for (size_t i = 0; i < items; i++)
        buf_put(&in, i ? ", 1" : "1", i ? 3 : 1);
    buf_fill(&in, ']', depth);
    CHECK(jt_validate(in.p, in.len));

    struct jt_span v = {in.p, in.len};
    struct buf b = {0}, c = {0};
    buf_put(&b, "prefix", 6);
    jt_pretty(v, &b);
    jt_compact(v, &c);
    CHECK(b.len == 6 + c.len && memcmp(b.p, "prefix", 6) == 0);
    CHECK_MEM(b.p + 6, b.len - 6, c.p, c.len);
    CHECK(b.len <= 16 * in.len + (1u << 20) + 6);
    buf_free(&b);
    buf_free(&c);

    /* the same shape, smaller, is still pretty */
    buf_free(&in);
    buf_fill(&in, '[', depth);
    for (size_t i = 0; i < 200; i++)
        buf_put(&in, i ? ",1" : "1", i ? 2 : 1);
    buf_fill(&in, ']', depth);
    v.p = in.p;
    v.len = in.len;
    jt_pretty(v, &b);
    CHECK(memchr(b.p, '\n', b.len) != NULL);
    CHECK(jt_validate(b.p, b.len));
    buf_free(&b);
    buf_free(&in);
}

/* Pretty and compact of a valid document are valid and agree on the tokens. */
static void test_round_trips(void)
{
    static const char *const docs[] = {
        "{\"job_id\":\"a\",\"n\":[1,2.0,-0.0,1e400,{\"x\":null}],\"s\":\"\\u0000 \\\" \\\\ , : [ ] { }\"}",
        "[[[],{}],[{\"\":\"\"}],true,false,null]",
        " { \"a\" :\r\n [ ] }\t",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        struct jt_span v = span(docs[i]);
        struct buf p = {0}, c = {0}, pc = {0};
        jt_pretty(v, &p);
        jt_compact(v, &c);
        CHECK(jt_validate(p.p, p.len));
        CHECK(jt_validate(c.p, c.len));
        struct jt_span pv = {p.p, p.len};
        jt_compact(pv, &pc);
        CHECK_MEM(pc.p, pc.len, c.p, c.len);
        buf_free(&p);
        buf_free(&c);
        buf_free(&pc);
    }
}

int main(void)
{
    test_utf8();
    test_validate();
    test_type_and_iter();
    test_object_get();
    test_string_decode();
    test_compact();
    test_pretty();
    test_pretty_depth();
    test_pretty_blowup();
    test_round_trips();
    return check_done("test_jsontext");
}
