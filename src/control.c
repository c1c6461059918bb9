/* Signals, turned into work for one control thread (control.h): the
 * handlers only write a byte to a pipe; the thread makes SIGHUP a refresh
 * and SIGINT/SIGTERM a stop in an order that always ends. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* The write end the handlers use: one daemon, one control. */
static volatile sig_atomic_t g_fd = -1;

struct control {
    int pipe[2];
    pthread_t thread, loop_thread;
    struct fuse_session *se;
    struct http_client *http;
    struct notify *nf;
    _Atomic bool loop_done; /* the session loop has returned */
    struct sigaction old[4];
};

static const int signals[4] = {SIGHUP, SIGINT, SIGTERM, SIGUSR2};

static void on_signal(int sig)
{
    int saved = errno;
    char b = sig == SIGHUP ? 'h' : sig == SIGUSR2 ? 'w' : 's';
    if (g_fd >= 0 && b != 'w') {
        ssize_t r = write(g_fd, &b, 1);
        (void)r;
    }
    errno = saved;
}

static void restore_signals(struct control *c)
{
    for (int i = 0; i < 4; i++)
        sigaction(signals[i], &c->old[i], NULL);
    g_fd = -1;
}

static void stop_all(struct control *c)
{
    log_info("stopping");
    http_client_stop(c->http);
    notify_stop(c->nf);
    fuse_session_exit(c->se);
    /* the loop sleeps in sem_wait (or read): a signal wakes it, and is sent
     * again until the loop has noticed, in case the first came just before
     * it went to sleep */
    while (!atomic_load(&c->loop_done)) {
        pthread_kill(c->loop_thread, SIGUSR2);
        nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
    }
}

static void *run(void *arg)
{
    struct control *c = arg;
    for (;;) {
        char b;
        ssize_t r = read(c->pipe[0], &b, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (b == 'h') {
            notify_refresh(c->nf);
        } else {
            stop_all(c); /* 's': a signal; 'q': the loop ended by itself */
            break;
        }
    }
    return NULL;
}

int control_start(struct fuse_session *se, struct http_client *http, struct notify *nf,
                  struct control **out)
{
    struct control *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    if (pipe2(c->pipe, O_CLOEXEC) != 0) {
        free(c);
        return -errno;
    }
    c->se = se;
    c->http = http;
    c->nf = nf;
    c->loop_thread = pthread_self();
    /* the handlers must run in the loop's thread and interrupt its waits:
     * no SA_RESTART */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    g_fd = c->pipe[1];
    for (int i = 0; i < 4; i++)
        sigaction(signals[i], &sa, &c->old[i]);
    int rc = pthread_create(&c->thread, NULL, run, c);
    if (rc) {
        restore_signals(c);
        close(c->pipe[0]);
        close(c->pipe[1]);
        free(c);
        return -rc;
    }
    *out = c;
    return 0;
}

void control_finish(struct control *c)
{
    if (!c)
        return;
    atomic_store(&c->loop_done, true);
    char b = 'q';
    ssize_t r = write(c->pipe[1], &b, 1);
    (void)r;
    pthread_join(c->thread, NULL);
    restore_signals(c);
    close(c->pipe[0]);
    close(c->pipe[1]);
    free(c);
}
