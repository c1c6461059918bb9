/* Single flight (flight.h): one leader per key, waiters get its outcome, a
 * failure is given out for its pause, a flight older than not_before is not
 * joined, waiting gives up after wait_ms.
 *
 * Every call is made with the lock held, as the header asks. Knowing that a
 * thread waits: a thread counts itself in `arrived` with the lock held and
 * keeps holding it until flight_take waits (which drops it), so once the
 * lock is taken again and `arrived` says n, those n threads are waiting (or
 * have returned, which the checks would show).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "flight.h"
#include "lock.h"

/* flight_take's times: now, not_before, wait_ms */
#define WHEN(now, nb, wait) ((struct flight_when){(now), (nb), (wait)})

#define CROWD 6
#define LONG_WAIT 10000 /* ms: never reached by a passing test */

static struct lock g_mu;
static struct flights *g_fs;
static int g_arrived; /* guarded by g_mu */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* With the lock held: drops it until n threads have counted themselves. */
static void wait_arrived_locked(int n)
{
    while (g_arrived < n) {
        lock_drop(&g_mu);
        sleep_ms(1);
        lock_take(&g_mu);
    }
}

struct taker {
    pthread_t th;
    const char *key;
    size_t len;
    int64_t now, not_before, wait_ms;
    bool lead_then_land; /* a leader lands with land_rc once all CROWD arrived */
    int land_rc;
    int rc;              /* what flight_take returned */
    bool done;           /* flight_take returned (guarded by g_mu) */
    struct flight *f;
};

static void *taker_main(void *arg)
{
    struct taker *t = arg;
    lock_take(&g_mu);
    g_arrived++;
    t->f = NULL;
    t->rc = flight_take(g_fs, t->key, t->len, WHEN(t->now, t->not_before, t->wait_ms), &t->f);
    t->done = true;
    if (t->rc == FLIGHT_LEAD && t->lead_then_land) {
        wait_arrived_locked(CROWD);
        flight_land(g_fs, t->f, t->land_rc, t->now, t->now);
    }
    lock_drop(&g_mu);
    return NULL;
}

static void start_taker(struct taker *t, const char *key, int64_t now, int64_t not_before)
{
    t->key = key;
    t->len = strlen(key);
    t->now = now;
    t->not_before = not_before;
    if (!t->wait_ms)
        t->wait_ms = LONG_WAIT;
    pthread_create(&t->th, NULL, taker_main, t);
}

static void setup(void)
{
    g_arrived = 0;
    if (flights_new(&g_mu, &g_fs) != 0) {
        fprintf(stderr, "flights_new failed\n");
        exit(2);
    }
}

static void teardown(void)
{
    flights_free(g_fs);
    g_fs = NULL;
}

/* The first caller leads; every caller that comes while it is under way
 * waits and gets the leader's failure, and none of them leads. */
static void test_waiters_get_the_leaders_failure(void)
{
    setup();
    struct taker t[CROWD] = {{0}};
    lock_take(&g_mu);
    struct flight *f = NULL;
    CHECK_INT(flight_take(g_fs, "job", 3, WHEN(100, 0, LONG_WAIT), &f), FLIGHT_LEAD);
    CHECK(f != NULL);
    CHECK_UINT(flights_count(g_fs), 1);
    lock_drop(&g_mu);

    for (int i = 0; i < CROWD; i++)
        start_taker(&t[i], "job", 100 + i, 0);
    lock_take(&g_mu);
    wait_arrived_locked(CROWD);
    CHECK_UINT(flights_count(g_fs), 1); /* the crowd joined, made nothing new */
    flight_land(g_fs, f, -ETIMEDOUT, 150, 150 + 2000);
    lock_drop(&g_mu);
    for (int i = 0; i < CROWD; i++) {
        pthread_join(t[i].th, NULL);
        CHECK_INT(t[i].rc, -ETIMEDOUT);
        CHECK(t[i].f == NULL);
    }
    lock_take(&g_mu);
    CHECK_UINT(flights_count(g_fs), 1); /* the failure is remembered */
    lock_drop(&g_mu);
    teardown();
}

/* A success reaches every waiter as 0 and is not remembered: the next
 * caller after the landing leads a new flight. */
static void test_waiters_get_the_leaders_success(void)
{
    setup();
    struct taker t[CROWD] = {{0}};
    lock_take(&g_mu);
    struct flight *f = NULL;
    CHECK_INT(flight_take(g_fs, "view", 4, WHEN(100, 0, LONG_WAIT), &f), FLIGHT_LEAD);
    lock_drop(&g_mu);
    for (int i = 0; i < CROWD; i++)
        start_taker(&t[i], "view", 100, 0);
    lock_take(&g_mu);
    wait_arrived_locked(CROWD);
    flight_land(g_fs, f, 0, 200, 5000);
    CHECK_UINT(flights_count(g_fs), 0);
    lock_drop(&g_mu);
    for (int i = 0; i < CROWD; i++) {
        pthread_join(t[i].th, NULL);
        CHECK_INT(t[i].rc, 0);
    }
    lock_take(&g_mu);
    f = NULL;
    CHECK_INT(flight_take(g_fs, "view", 4, WHEN(201, 0, LONG_WAIT), &f), FLIGHT_LEAD);
    flight_land(g_fs, f, 0, 202, 202);
    CHECK_UINT(flights_count(g_fs), 0);
    lock_drop(&g_mu);
    teardown();
}

/* Threads racing for the same key: exactly one of them leads. */
static void test_racing_threads_elect_one_leader(void)
{
    setup();
    struct taker t[CROWD] = {{0}};
    for (int i = 0; i < CROWD; i++) {
        t[i].lead_then_land = true;
        t[i].land_rc = -EHOSTUNREACH;
        start_taker(&t[i], "k", 10, 0);
    }
    int leaders = 0, failed = 0;
    for (int i = 0; i < CROWD; i++) {
        pthread_join(t[i].th, NULL);
        leaders += t[i].rc == FLIGHT_LEAD;
        failed += t[i].rc == -EHOSTUNREACH;
    }
    CHECK_INT(leaders, 1);
    CHECK_INT(failed, CROWD - 1);
    teardown();
}

/* Different keys are different flights; keys are bytes, NULs included. */
static void test_keys_are_byte_strings(void)
{
    setup();
    lock_take(&g_mu);
    struct flight *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    CHECK_INT(flight_take(g_fs, "a\0b", 3, WHEN(1, 0, LONG_WAIT), &a), FLIGHT_LEAD);
    CHECK_INT(flight_take(g_fs, "a\0c", 3, WHEN(1, 0, LONG_WAIT), &b), FLIGHT_LEAD);
    CHECK_INT(flight_take(g_fs, "a", 1, WHEN(1, 0, LONG_WAIT), &c), FLIGHT_LEAD);
    CHECK_INT(flight_take(g_fs, "a\0", 2, WHEN(1, 0, LONG_WAIT), &d), FLIGHT_LEAD);
    CHECK(a && b && c && d && a != b && b != c && c != d);
    CHECK_UINT(flights_count(g_fs), 4);
    flight_land(g_fs, a, 0, 2, 2);
    flight_land(g_fs, b, -EIO, 2, 100);
    flight_land(g_fs, c, 0, 2, 2);
    flight_land(g_fs, d, -EIO, 2, 100);
    CHECK_UINT(flights_count(g_fs), 2);
    /* each key keeps its own outcome */
    struct flight *x = NULL;
    CHECK_INT(flight_take(g_fs, "a\0c", 3, WHEN(3, 0, LONG_WAIT), &x), -EIO);
    CHECK_INT(flight_take(g_fs, "a\0", 2, WHEN(3, 0, LONG_WAIT), &x), -EIO);
    CHECK(x == NULL);
    CHECK_INT(flight_take(g_fs, "a\0b", 3, WHEN(3, 0, LONG_WAIT), &x), FLIGHT_LEAD);
    flight_land(g_fs, x, 0, 3, 3);
    lock_drop(&g_mu);
    teardown(); /* two failures still remembered: freed with the set */
}

/* A failure is given out at once during its pause (up to, not including,
 * pause_until) and forgotten after it: the next caller leads. */
static void test_failure_remembered_for_its_pause(void)
{
    setup();
    lock_take(&g_mu);
    struct flight *f = NULL;
    CHECK_INT(flight_take(g_fs, "j", 1, WHEN(1000, 0, LONG_WAIT), &f), FLIGHT_LEAD);
    flight_land(g_fs, f, -EIO, 1000, 3000);
    CHECK_UINT(flights_count(g_fs), 1);

    int64_t t0 = clock_mono_ms();
    f = NULL;
    CHECK_INT(flight_take(g_fs, "j", 1, WHEN(1000, 0, LONG_WAIT), &f), -EIO);
    CHECK_INT(flight_take(g_fs, "j", 1, WHEN(2999, 0, LONG_WAIT), &f), -EIO);
    CHECK(f == NULL);
    CHECK(clock_mono_ms() - t0 < 1000); /* given out at once, no waiting */
    CHECK_UINT(flights_count(g_fs), 1);

    CHECK_INT(flight_take(g_fs, "j", 1, WHEN(3000, 0, LONG_WAIT), &f), FLIGHT_LEAD);
    CHECK(f != NULL);
    CHECK_UINT(flights_count(g_fs), 1); /* the new flight, not the old failure */
    flight_land(g_fs, f, 0, 3001, 3001);
    CHECK_UINT(flights_count(g_fs), 0);
    lock_drop(&g_mu);
    teardown();
}

/* A failure with no pause (pause_until <= now) is not remembered. */
static void test_failure_without_pause_is_forgotten(void)
{
    setup();
    lock_take(&g_mu);
    struct flight *f = NULL;
    CHECK_INT(flight_take(g_fs, "j", 1, WHEN(1000, 0, LONG_WAIT), &f), FLIGHT_LEAD);
    flight_land(g_fs, f, -ENOENT, 1000, 1000);
    CHECK_UINT(flights_count(g_fs), 0);
    f = NULL;
    CHECK_INT(flight_take(g_fs, "j", 1, WHEN(1000, 0, LONG_WAIT), &f), FLIGHT_LEAD);
    flight_land(g_fs, f, -ENOENT, 1000, 900);
    CHECK_UINT(flights_count(g_fs), 0);
    lock_drop(&g_mu);
    teardown();
}

/* A remembered failure counts only when it landed at or after not_before:
 * a refresh asked for since then leads a new flight. */
static void test_failure_before_not_before_is_not_given_out(void)
{
    setup();
    lock_take(&g_mu);
    struct flight *f = NULL;
    CHECK_INT(flight_take(g_fs, "j", 1, WHEN(900, 0, LONG_WAIT), &f), FLIGHT_LEAD);
    flight_land(g_fs, f, -EIO, 1000, 5000);
    f = NULL;
    CHECK_INT(flight_take(g_fs, "j", 1, WHEN(1200, 1000, LONG_WAIT), &f), -EIO);
    CHECK(f == NULL);
    CHECK_INT(flight_take(g_fs, "j", 1, WHEN(1200, 1001, LONG_WAIT), &f), FLIGHT_LEAD);
    CHECK(f != NULL);
    CHECK_UINT(flights_count(g_fs), 1);
    flight_land(g_fs, f, 0, 1300, 1300);
    CHECK_UINT(flights_count(g_fs), 0);
    lock_drop(&g_mu);
    teardown();
}

/* A flight under way that started before not_before is not joined: the
 * caller leads a new one. The old one still lands for those who waited on
 * it (with its own outcome), and is not remembered; those who want the new
 * one wait for the new one. */
static void test_flight_started_before_not_before_is_not_joined(void)
{
    setup();
    lock_take(&g_mu);
    struct flight *old = NULL, *fresh = NULL;
    CHECK_INT(flight_take(g_fs, "v", 1, WHEN(100, 0, LONG_WAIT), &old), FLIGHT_LEAD);
    lock_drop(&g_mu);

    struct taker on_old = {0}, on_new = {0};
    start_taker(&on_old, "v", 120, 0); /* content with the old flight */
    lock_take(&g_mu);
    wait_arrived_locked(1);
    CHECK_INT(flight_take(g_fs, "v", 1, WHEN(200, 150, LONG_WAIT), &fresh), FLIGHT_LEAD);
    CHECK(fresh != NULL && fresh != old);
    lock_drop(&g_mu);

    start_taker(&on_new, "v", 210, 150); /* joins the new flight */
    lock_take(&g_mu);
    wait_arrived_locked(2);
    flight_land(g_fs, old, -ECONNRESET, 250, 10000);
    CHECK_UINT(flights_count(g_fs), 1); /* a detached failure is not remembered */
    lock_drop(&g_mu);
    pthread_join(on_old.th, NULL);
    CHECK_INT(on_old.rc, -ECONNRESET);

    sleep_ms(20); /* time for a wrongly woken waiter to return */
    lock_take(&g_mu);
    /* the old landing woke the new flight's waiter only to wait again */
    CHECK(!on_new.done);
    flight_land(g_fs, fresh, 0, 300, 300);
    CHECK_UINT(flights_count(g_fs), 0);
    lock_drop(&g_mu);
    pthread_join(on_new.th, NULL);
    CHECK_INT(on_new.rc, 0);
    CHECK(on_new.f == NULL);
    teardown();
}

/* The old flight landing with success (which forgets a flight) while the
 * new one is under way leaves the new one in place: later callers join it
 * instead of leading a third. */
static void test_old_flight_landing_leaves_the_new_one_findable(void)
{
    setup();
    lock_take(&g_mu);
    struct flight *old = NULL, *fresh = NULL, *x = NULL;
    CHECK_INT(flight_take(g_fs, "v", 1, WHEN(100, 0, LONG_WAIT), &old), FLIGHT_LEAD);
    CHECK_INT(flight_take(g_fs, "v", 1, WHEN(200, 150, LONG_WAIT), &fresh), FLIGHT_LEAD);
    flight_land(g_fs, old, 0, 250, 250);
    CHECK_UINT(flights_count(g_fs), 1);
    /* nobody lands the new one meanwhile: joining it means timing out */
    CHECK_INT(flight_take(g_fs, "v", 1, WHEN(260, 150, 30), &x), -EIO);
    CHECK(x == NULL);
    flight_land(g_fs, fresh, -EIO, 300, 1000);
    CHECK_INT(flight_take(g_fs, "v", 1, WHEN(400, 150, LONG_WAIT), &x), -EIO); /* its failure */
    CHECK(x == NULL);
    lock_drop(&g_mu);
    teardown();
}

/* not_before equal to the start: "started at or after" joins it. */
static void test_flight_started_at_not_before_is_joined(void)
{
    setup();
    lock_take(&g_mu);
    struct flight *f = NULL;
    CHECK_INT(flight_take(g_fs, "v", 1, WHEN(100, 0, LONG_WAIT), &f), FLIGHT_LEAD);
    lock_drop(&g_mu);
    struct taker t = {0};
    start_taker(&t, "v", 150, 100);
    lock_take(&g_mu);
    wait_arrived_locked(1);
    CHECK_UINT(flights_count(g_fs), 1);
    flight_land(g_fs, f, -EPIPE, 160, 160);
    lock_drop(&g_mu);
    pthread_join(t.th, NULL);
    CHECK_INT(t.rc, -EPIPE);
    CHECK(t.f == NULL);
    teardown();
}

/* A waiter gives up with -EIO after wait_ms of real time; the flight is
 * unharmed and still lands. */
static void test_waiting_gives_up_after_wait_ms(void)
{
    setup();
    lock_take(&g_mu);
    struct flight *f = NULL;
    CHECK_INT(flight_take(g_fs, "slow", 4, WHEN(100, 0, LONG_WAIT), &f), FLIGHT_LEAD);
    lock_drop(&g_mu);

    struct taker t = {.wait_ms = 150};
    int64_t t0 = clock_mono_ms();
    start_taker(&t, "slow", 100, 0);
    pthread_join(t.th, NULL);
    int64_t took = clock_mono_ms() - t0;
    CHECK_INT(t.rc, -EIO);
    CHECK(took >= 150);
    CHECK(took < LONG_WAIT);

    /* the same in the leader's own thread (nobody can land it meanwhile) */
    lock_take(&g_mu);
    struct flight *x = NULL;
    t0 = clock_mono_ms();
    CHECK_INT(flight_take(g_fs, "slow", 4, WHEN(100, 0, 50), &x), -EIO);
    CHECK(clock_mono_ms() - t0 >= 50);
    CHECK(x == NULL);
    CHECK_UINT(flights_count(g_fs), 1);
    flight_land(g_fs, f, 0, 200, 200);
    CHECK_UINT(flights_count(g_fs), 0);
    lock_drop(&g_mu);
    teardown();
}

/* Calling without the lock is a programming error the module asserts. */
static void test_take_without_the_lock_aborts(void)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* the child's abort is the expected outcome: keep its core and
         * its stderr out of the way */
        if (!freopen("/dev/null", "w", stderr))
            _exit(4);
        struct lock mu;
        lock_init(&mu);
        struct flights *fs = NULL;
        struct flight *f = NULL;
        if (flights_new(&mu, &fs) != 0)
            _exit(3);
        flight_take(fs, "k", 1, WHEN(0, 0, 0), &f);
        _exit(0);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

int main(void)
{
    lock_init(&g_mu);
    /* first, while the process has no other thread: the forked child
     * then has no thread stacks for valgrind to report */
    test_take_without_the_lock_aborts();
    test_waiters_get_the_leaders_failure();
    test_waiters_get_the_leaders_success();
    test_racing_threads_elect_one_leader();
    test_keys_are_byte_strings();
    test_failure_remembered_for_its_pause();
    test_failure_without_pause_is_forgotten();
    test_failure_before_not_before_is_not_given_out();
    test_flight_started_before_not_before_is_not_joined();
    test_old_flight_landing_leaves_the_new_one_findable();
    test_flight_started_at_not_before_is_joined();
    test_waiting_gives_up_after_wait_ms();
    lock_destroy(&g_mu);
    return check_done("test_flight");
}
