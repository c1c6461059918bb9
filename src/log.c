/* Logging (log.h): levels, stderr or syslog, every message scrubbed of the
 * API key before it leaves, and a bounded "log once" set. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "hash.h"

static enum log_level g_level = LOGL_WARN;
static bool g_syslog;
static char *g_secret;
static size_t g_secret_len;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

#define ONCE_SLOTS 4096
static uint64_t g_once[ONCE_SLOTS];
static size_t g_once_used;

void log_init(enum log_level level, bool use_syslog)
{
    g_level = level;
    if (use_syslog && !g_syslog)
        openlog("scrapefs", LOG_PID, LOG_DAEMON);
    g_syslog = use_syslog;
}

int log_level_parse(const char *s)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void log_set_secret(const char *secret)
{
    pthread_mutex_lock(&g_lock);
    free(g_secret);
    g_secret = NULL;
    g_secret_len = 0;
    if (secret && *secret) {
        g_secret = strdup(secret);
        g_secret_len = g_secret ? strlen(g_secret) : 0;
    }
    pthread_mutex_unlock(&g_lock);
}

/* Writes text to out (outlen bytes) with each occurrence of the secret
 * replaced by "***"; always terminates, never overruns. */
static void redact(const char *text, char *out, size_t outlen)
{
    size_t o = 0;
    while (*text && o + 1 < outlen) {
        if (g_secret_len && strncmp(text, g_secret, g_secret_len) == 0) {
            for (int k = 0; k < 3 && o + 1 < outlen; k++)
                out[o++] = '*';
            text += g_secret_len;
        } else {
            out[o++] = *text++;
        }
    }
    out[o] = '\0';
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > g_level)
        return;
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    /* Control bytes from the network (ids, bodies) must not drive a terminal. */
    for (char *c = text; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    char clean[sizeof text + 16];
    pthread_mutex_lock(&g_lock);
    redact(text, clean, sizeof clean);
    if (g_syslog) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        syslog(prio[level], "%s", clean);
    } else {
        static const char *const tag[] = {"error", "warning", "info", "debug"};
        fprintf(stderr, "scrapefs: %s: %s\n", tag[level], clean);
    }
    pthread_mutex_unlock(&g_lock);
}

static uint64_t hash_bytes(const char *kind, const char *key, size_t len)
{
    uint64_t h = fnv1a_more(fnv1a(kind, strlen(kind)), key, len);
    return h ? h : 1;
}

bool log_once(const char *kind, const char *key, size_t keylen)
{
    uint64_t h = hash_bytes(kind, key, keylen);
    bool first = false;
    pthread_mutex_lock(&g_lock);
    size_t i = h % ONCE_SLOTS;
    for (size_t n = 0; n < ONCE_SLOTS; n++, i = (i + 1) % ONCE_SLOTS) {
        if (g_once[i] == h)
            break;
        if (g_once[i] == 0) {
            if (g_once_used < ONCE_SLOTS / 2) {
                g_once[i] = h;
                g_once_used++;
                first = true;
            }
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return first;
}

void log_shutdown(void)
{
    log_set_secret(NULL);
    if (g_syslog)
        closelog();
}
