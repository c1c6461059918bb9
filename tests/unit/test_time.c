/* Timestamps: job_parse_time's ISO 8601 / RFC 3339 subset, and which time a
 * job's files carry (completed_at, else created_at, else the fetch time). */
#include <string.h>

#include "check.h"
#include "job.h"

#define T_2026_11_28_10 1795860000LL /* 2026-11-28T10:00:00Z */

static void time_ok(const char *s, long long want, int line)
{
    time_t t = 0;
    int rc = job_parse_time(s, &t);
    if (!check_int(rc, 0, __FILE__, line, "job_parse_time", "0")) {
        fprintf(stderr, "    input \"%s\"\n", s);
        return;
    }
    if (!check_int((long long)t, want, __FILE__, line, "time", "want"))
        fprintf(stderr, "    input \"%s\"\n", s);
}

static void time_bad(const char *s, int line)
{
    time_t t = 12345;
    int rc = job_parse_time(s, &t);
    if (!check_int(rc, -1, __FILE__, line, "job_parse_time", "-1"))
        fprintf(stderr, "    input \"%s\" gave %lld\n", s ? s : "(null)", (long long)t);
}
#define OK(s, want) time_ok((s), (want), __LINE__)
#define BAD(s) time_bad((s), __LINE__)

static void test_parse_time(void)
{
    OK("2026-11-28T10:00:00Z", T_2026_11_28_10);
    OK("2026-11-28T10:00:00.123Z", T_2026_11_28_10);
    OK("2026-11-28T10:00:00.123456789Z", T_2026_11_28_10);
    OK("2026-11-28T10:00:00,5Z", T_2026_11_28_10);
    OK("2026-11-28T10:00:00.999999", T_2026_11_28_10);
    OK("2026-11-28T12:00:00+02:00", T_2026_11_28_10);
    OK("2026-11-28T10:00:00+02:00", T_2026_11_28_10 - 2 * 3600);
    OK("2026-11-28T10:00:00+0200", T_2026_11_28_10 - 2 * 3600);
    OK("2026-11-28T10:00:00+02", T_2026_11_28_10 - 2 * 3600);
    OK("2026-11-28T10:00:00-0530", T_2026_11_28_10 + 5 * 3600 + 30 * 60);
    OK("2026-11-28T10:00:00-05:30", T_2026_11_28_10 + 5 * 3600 + 30 * 60);
    OK("2026-11-28T10:00:00.5+00:00", T_2026_11_28_10);
    OK("2026-11-28T10:00:00+14:00", 1795809600);
    OK("2026-11-28t10:00:00z", T_2026_11_28_10);
    OK("2026-11-28 10:00:00Z", T_2026_11_28_10);
    OK("2026-11-28 10:00:00", T_2026_11_28_10);
    OK("2026-11-28T10:00:00", T_2026_11_28_10);
    OK("2026-11-28T10:00", T_2026_11_28_10);
    OK("2026-11-28", 1795824000);
    OK("1970-01-01T00:00:00Z", 0);
    OK("2024-02-29T23:59:59Z", 1709251199);
    OK("2026-12-31T23:59:59Z", 1798761599);
    OK("1969-07-20T20:17:40Z", -14182940);
    /* one second before the epoch is a time like any other (timegm's -1 is
     * not an error here) */
    OK("1969-12-31T23:59:59Z", -1);
    OK("1970-01-01T00:59:59+01:00", -1);

    BAD("not a date");
    BAD("");
    BAD(NULL);
    BAD("2026");
    BAD("2026-11");
    BAD("2026-11-2");
    BAD("26-11-28");
    BAD("2026/11/28");
    BAD("2026-13-01T00:00:00Z");
    BAD("2026-00-10T00:00:00Z");
    BAD("2026-11-00T00:00:00Z");
    BAD("2026-11-32T00:00:00Z");
    BAD("2026-11-28T25:00:00Z");
    BAD("2026-11-28T24:00:00Z");
    BAD("2026-11-28T10:60:00Z");
    BAD("2026-11-28T10:00:61Z");
    BAD("2026-11-28T10:00:00Zjunk");
    BAD("2026-11-28T10:00:00Z ");
    BAD("2026-11-28T10:00:00 ");
    BAD("2026-11-28T10:00:00.Z");
    BAD("2026-11-28T10:00:00+2:00");
    BAD("2026-11-28T10:00:00+25:00");
    BAD("2026-11-28T10:00:00+02:60");
    BAD("2026-11-28T10:00:00+02:0");
    BAD("2026-11-28T10:00:00+");
    BAD("2026-11-28T");
    BAD("2026-11-28T1");
    BAD("2026-11-28T10");
    BAD("2026-11-28T10:0");
    BAD("2026-11-28X10:00:00Z");
    BAD("2026-11-28junk");
    BAD(" 2026-11-28");
}

/* The job's mtime; *created is its created_at time, or -1 when unparsable. */
static time_t mtime_of(const char *json, time_t now, time_t *created)
{
    struct job *j = NULL;
    char why[128];
    if (!CHECK_INT(job_parse(json, strlen(json), now, &j, why, sizeof why), 0))
        return -2;
    time_t t = j->mtime;
    *created = j->created_ok ? (time_t)(j->created_us / 1000000) : -1;
    job_unref(j);
    return t;
}

static void test_job_mtime(void)
{
    time_t created;
    const time_t now = 424242;

    CHECK_INT(mtime_of("{\"job_id\":\"a\",\"created_at\":\"2026-11-28T10:00:00Z\","
                       "\"completed_at\":\"2026-11-28T11:00:00+01:00\"}", now, &created),
              T_2026_11_28_10);
    CHECK_INT(created, T_2026_11_28_10);
    CHECK_INT(mtime_of("{\"job_id\":\"a\",\"created_at\":\"2026-11-28T10:00:00Z\","
                       "\"completed_at\":\"2026-11-28T10:00:07Z\"}", now, &created),
              T_2026_11_28_10 + 7);
    /* completed_at null, missing, of the wrong type or unparsable: created_at */
    CHECK_INT(mtime_of("{\"job_id\":\"a\",\"created_at\":\"2026-11-28T10:00:00Z\","
                       "\"completed_at\":null}", now, &created),
              T_2026_11_28_10);
    CHECK_INT(mtime_of("{\"job_id\":\"a\",\"created_at\":\"2026-11-28T10:00:00Z\"}", now, &created),
              T_2026_11_28_10);
    CHECK_INT(mtime_of("{\"job_id\":\"a\",\"created_at\":\"2026-11-28T10:00:00Z\","
                       "\"completed_at\":1795860000}", now, &created),
              T_2026_11_28_10);
    CHECK_INT(mtime_of("{\"job_id\":\"a\",\"created_at\":\"2026-11-28T10:00:00Z\","
                       "\"completed_at\":\"soon\"}", now, &created),
              T_2026_11_28_10);
    /* completed_at alone */
    CHECK_INT(mtime_of("{\"job_id\":\"a\",\"completed_at\":\"2026-11-28T10:00:00Z\"}", now, &created),
              T_2026_11_28_10);
    CHECK_INT(created, -1);
    /* neither: the time passed in */
    CHECK_INT(mtime_of("{\"job_id\":\"a\"}", now, &created), now);
    CHECK_INT(created, -1);
    CHECK_INT(mtime_of("{\"job_id\":\"a\",\"created_at\":\"yesterday\",\"completed_at\":null}", now,
                       &created),
              now);
    CHECK_INT(created, -1);
    CHECK_INT(mtime_of("{\"job_id\":\"a\",\"created_at\":null,\"completed_at\":\"2026-13-01\"}", now,
                       &created),
              now);
    /* escapes in the timestamp text are decoded first */
    CHECK_INT(mtime_of("{\"job_id\":\"a\",\"created_at\":\"2026-11-28T10:00:00\\u005a\"}", now, &created),
              T_2026_11_28_10);
}

static void test_groups(void)
{
    struct job *j = NULL;
    char why[128], out[NAME_MAX_BYTES + 1];
    const char *t = "{\"job_id\":\"g\",\"url\":\"https://Shop.Example.COM:8443/a\","
                    "\"created_at\":\"2026-11-28T23:30:00-02:00\"}";
    if (CHECK_INT(job_parse(t, strlen(t), 0, &j, why, sizeof why), 0)) {
        snprintf(out, sizeof out, "%s", j->domain);
        CHECK_STR(out, "shop.example.com:8443");
        snprintf(out, sizeof out, "%s", j->date);
        CHECK_STR(out, "2026-11-29");
        job_unref(j);
    }
    t = "{\"job_id\":\"g\",\"url\":\"not a url\",\"created_at\":\"bad\"}";
    if (CHECK_INT(job_parse(t, strlen(t), 0, &j, why, sizeof why), 0)) {
        snprintf(out, sizeof out, "%s", j->domain);
        CHECK_STR(out, JOB_GROUP_INVALID);
        snprintf(out, sizeof out, "%s", j->date);
        CHECK_STR(out, JOB_GROUP_INVALID);
        job_unref(j);
    }
    /* the by-date directory is YYYY-MM-DD or _invalid, also for odd years */
    static const char *const odd[] = {"0999-12-31T00:00:00Z", "0001-01-01", "0000-01-01",
                                      "9999-12-31T23:59:59-05:00"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"job_id\":\"g\",\"created_at\":\"%s\"}", odd[i]);
        if (!CHECK_INT(job_parse(text, strlen(text), 0, &j, why, sizeof why), 0))
            continue;
        snprintf(out, sizeof out, "%s", j->date);
        int shape = strlen(out) == 10 && out[4] == '-' && out[7] == '-';
        for (int k = 0; k < 10 && shape; k++)
            shape = k == 4 || k == 7 || (out[k] >= '0' && out[k] <= '9');
        if (!CHECK(shape || strcmp(out, JOB_GROUP_INVALID) == 0))
            fprintf(stderr, "    created_at \"%s\" gave the by-date name \"%s\"\n", odd[i], out);
        job_unref(j);
    }
    t = "{\"job_id\":\"g\",\"url\":\"http://example.org/x\",\"created_at\":\"2026-01-05\"}";
    if (CHECK_INT(job_parse(t, strlen(t), 0, &j, why, sizeof why), 0)) {
        snprintf(out, sizeof out, "%s", j->domain);
        CHECK_STR(out, "example.org");
        snprintf(out, sizeof out, "%s", j->date);
        CHECK_STR(out, "2026-01-05");
        job_unref(j);
    }
}

int main(void)
{
    test_parse_time();
    test_job_mtime();
    test_groups();
    return check_done("test_time");
}
