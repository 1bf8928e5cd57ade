/* Leveled logging to stderr or the journal. The level is process-wide and
 * may change at any time (SIGHUP reload); logging is thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef enum {
        LOG_LEVEL_FATAL,
        LOG_LEVEL_ERROR,
        LOG_LEVEL_WARN,
        LOG_LEVEL_INFO,
        LOG_LEVEL_DEBUG,
        LOG_LEVEL_TRACE,
} log_level;

/* Parse "error", "warn"/"warning", "info", "debug", "trace", "fatal". */
int log_level_parse(const char *name, log_level *ret);
const char *log_level_name(log_level level);

void log_set_level(log_level level);
log_level log_get_level(void);
/* Send records to the systemd journal instead of stderr. */
void log_set_journal(bool journal);

void log_write(log_level level, const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* The journal record log_write() sends, in journald's native protocol:
 * MESSAGE, PRIORITY (syslog), CODE_FILE, CODE_LINE, SYSLOG_IDENTIFIER=ocid.
 * Returns its length; MESSAGE is cut to fit size, and 0 means not even the
 * other fields fit. */
size_t log_journal_encode(char *buf, size_t size, int priority, const char *file, int line,
                          const char *msg);

#define log_at(level, ...)                                                     \
        do {                                                                   \
                if ((level) <= log_get_level())                                \
                        log_write((level), __FILE__, __LINE__, __VA_ARGS__);   \
        } while (0)
#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_trace(...) log_at(LOG_LEVEL_TRACE, __VA_ARGS__)
