#include "util/log.h"
#include "util/cleanup.h"

#include <endian.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>

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

/* journald's native protocol: a field is NAME=value\n, or when the value
 * holds a newline, NAME\n, its length as 64-bit little-endian, value, \n. */
static size_t journal_field_size(const char *name, const char *value, size_t len)
{
        return strlen(name) + 1 + (memchr(value, '\n', len) ? 8 : 0) + len + 1;
}

static char *journal_put_field(char *p, const char *name, const char *value, size_t len)
{
        p = mempcpy(p, name, strlen(name));
        if (memchr(value, '\n', len)) {
                uint64_t le = htole64(len);
                *p++ = '\n';
                p = mempcpy(p, &le, sizeof(le));
        } else {
                *p++ = '=';
        }
        p = mempcpy(p, value, len);
        *p++ = '\n';
        return p;
}

size_t log_journal_encode(char *buf, size_t size, int priority, const char *file, int line,
                          const char *msg)
{
        char prio[16], lineno[16];
        snprintf(prio, sizeof(prio), "%d", priority);
        snprintf(lineno, sizeof(lineno), "%d", line);
        const char *const names[] = { "MESSAGE", "PRIORITY", "CODE_FILE", "CODE_LINE",
                                      "SYSLOG_IDENTIFIER" };
        const char *const values[] = { msg, prio, file, lineno, "ocid" };
        size_t lens[ARRAY_SIZE(values)], total = 0;
        for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
                lens[i] = strlen(values[i]);
                total += journal_field_size(names[i], values[i], lens[i]);
        }
        /* Cutting MESSAGE can only shrink its field further: losing its
         * last newline drops the 8-byte length. */
        if (total > size) {
                if (total - size > lens[0])
                        return 0;
                lens[0] -= total - size;
        }
        char *p = buf;
        for (size_t i = 0; i < ARRAY_SIZE(values); i++)
                p = journal_put_field(p, names[i], values[i], lens[i]);
        return (size_t)(p - buf);
}

static void journal_send(const char *buf, size_t len)
{
        static const struct sockaddr_un addr = { .sun_family = AF_UNIX,
                                                 .sun_path = "/run/systemd/journal/socket" };
        static atomic_int journal_fd = -1;
        int fd = atomic_load(&journal_fd);
        if (fd < 0) {
                fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return;
                int expected = -1;
                if (!atomic_compare_exchange_strong(&journal_fd, &expected, fd)) {
                        close(fd);
                        fd = expected;
                }
        }
        /* Like libsystemd, a record journald does not take is lost. */
        sendto(fd, buf, len, MSG_NOSIGNAL, (const struct sockaddr *)&addr, sizeof(addr));
}

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
                /* One datagram, no memfd: msg was cut at 4 KiB above, and a
                 * very long CODE_FILE cuts MESSAGE further rather than grow
                 * the record. */
                char record[sizeof(msg) + 512];
                size_t len = log_journal_encode(record, sizeof(record), priorities[level],
                                                file, line, msg);
                if (len > 0)
                        journal_send(record, len);
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
