#include "util/log.h"
#include "util/cleanup.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <systemd/sd-journal.h>

static atomic_int current_level = LOG_LEVEL_INFO;
static atomic_bool to_journal = false;

static const char *const level_names[] = {
        [LOG_LEVEL_FATAL] = "fatal", [LOG_LEVEL_ERROR] = "error",
        [LOG_LEVEL_WARN] = "warn",   [LOG_LEVEL_INFO] = "info",
        [LOG_LEVEL_DEBUG] = "debug", [LOG_LEVEL_TRACE] = "trace",
};

int log_level_parse(const char *name, log_level *ret)
{
        for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
                if (strcasecmp(name, level_names[i]) == 0) {
                        *ret = (log_level)i;
                        return 0;
                }
        if (strcasecmp(name, "warning") == 0) {
                *ret = LOG_LEVEL_WARN;
                return 0;
        }
        return -EINVAL;
}

const char *log_level_name(log_level level)
{
        if ((unsigned)level >= ARRAY_SIZE(level_names))
                return "unknown";
        return level_names[level];
}

void log_set_level(log_level level) { atomic_store(&current_level, level); }
log_level log_get_level(void) { return atomic_load(&current_level); }
void log_set_journal(bool journal) { atomic_store(&to_journal, journal); }

void log_write(log_level level, const char *file, int line, const char *fmt, ...)
{
        int saved = errno;
        char msg[4096];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        if (atomic_load(&to_journal)) {
                static const int priorities[] = {
                        [LOG_LEVEL_FATAL] = LOG_CRIT, [LOG_LEVEL_ERROR] = LOG_ERR,
                        [LOG_LEVEL_WARN] = LOG_WARNING, [LOG_LEVEL_INFO] = LOG_INFO,
                        [LOG_LEVEL_DEBUG] = LOG_DEBUG, [LOG_LEVEL_TRACE] = LOG_DEBUG,
                };
                if ((unsigned)level >= ARRAY_SIZE(priorities))
                        level = LOG_LEVEL_DEBUG;
                sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", priorities[level],
                                "CODE_FILE=%s", file, "CODE_LINE=%d", line,
                                "SYSLOG_IDENTIFIER=ocid", NULL);
        } else {
                struct timespec ts;
                struct tm tm;
                clock_gettime(CLOCK_REALTIME, &ts);
                gmtime_r(&ts.tv_sec, &tm);
                /* One fprintf per record keeps lines whole across threads. */
                fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %-5s %s\n",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                        tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000, log_level_name(level), msg);
        }
        errno = saved;
}
