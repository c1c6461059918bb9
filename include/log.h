/* Logging: levels, stderr or syslog, and redaction of the API key.
 *
 * Every message passes through log_msg(), which removes the registered secret
 * from the formatted text before it leaves the process, so no caller (and no
 * server echoing the key back in an error body) can leak it.
 */
#ifndef SCRAPEFS_LOG_H
#define SCRAPEFS_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOGL_ERROR = 0, LOGL_WARN = 1, LOGL_INFO = 2, LOGL_DEBUG = 3 };

/* Sets the threshold and the sink. Safe to call again (after daemonizing). */
void log_init(enum log_level level, bool use_syslog);
/* Parses "error", "warn", "info", "debug"; returns -1 when unknown. */
int log_level_parse(const char *s);
/* Remembers a copy of the secret to redact; NULL or "" forgets it. */
void log_set_secret(const char *secret);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Returns true the first time it sees (kind, key), so a bad job is logged
 * once, not at every listing. Bounded: after many keys it stops remembering
 * and answers false, trading completeness of the log for bounded memory. */
bool log_once(const char *kind, const char *key, size_t keylen);

/* Frees the secret and the once-set. */
void log_shutdown(void);

#define log_error(...) log_msg(LOGL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOGL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOGL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOGL_DEBUG, __VA_ARGS__)

#endif
