/* libFuzzer target for ocic/crilog.c, the reader of CRI container log files
 * (`ocic logs`): files a container's output ends up in, so anything can be
 * in them. Only LLVMFuzzerTestOneInput is defined, so the same file links
 * into tests/fuzz/replay.c.
 *
 * The input is a log file: each line goes through crilog_parse() and the
 * joiner, as ocic logs does. Beyond "no crash":
 *  - a parsed record's message lies inside its line, and its time formats
 *    to text that parses back to the same time;
 *  - the joined lines hold exactly the bytes of the records fed in, per
 *    stream, in order (cut lines included);
 *  - the whole input, as a C string, also goes to the duration and --since
 *    parsers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ocic/crilog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
        char *buf;
        size_t len, cap;
} bytes;

static void add(bytes *b, const char *p, size_t n)
{
        if (b->len + n > b->cap) {
                size_t cap = b->cap ? b->cap : 64;
                while (cap < b->len + n)
                        cap *= 2;
                b->buf = realloc(b->buf, cap);
                if (!b->buf)
                        abort();
                b->cap = cap;
        }
        if (n)
                memcpy(b->buf + b->len, p, n);
        b->len += n;
}

static void check_time(const crilog_time *t)
{
        if (t->nsec < 0 || t->nsec > 999999999 || t->offset <= -86400 || t->offset >= 86400)
                abort();
        char out[CRILOG_TIME_MAX];
        size_t n = crilog_format_time(t, out);
        if (n >= CRILOG_TIME_MAX || strlen(out) != n)
                abort();
        crilog_time back;
        if (crilog_parse_time(out, n, &back) != 0 || back.sec != t->sec || back.nsec != t->nsec ||
            back.offset != t->offset)
                abort();
}

static void emitted(const crilog_line *l, bytes *seen)
{
        if (l->stream != CRILOG_STDOUT && l->stream != CRILOG_STDERR)
                abort();
        if (!l->text)
                abort();
        add(&seen[l->stream], l->text, l->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *text = malloc(size ? size : 1);
        if (!text)
                abort();
        if (size)
                memcpy(text, data, size);

        crilog_joiner j;
        /* small, so cutting long lines is exercised */
        crilog_joiner_init(&j, 64);
        bytes fed[2] = { { 0 } }, seen[2] = { { 0 } };
        size_t start = 0;
        while (start < size) {
                const char *nl = memchr(text + start, '\n', size - start);
                size_t len = nl ? (size_t)(nl - (text + start)) + 1 : size - start;
                /* an exactly sized copy of the line, so reads past it are caught */
                char *line = malloc(len ? len : 1);
                if (!line)
                        abort();
                memcpy(line, text + start, len);
                crilog_record rec;
                const char *why = NULL;
                int r = crilog_parse(line, len, &rec, &why);
                if (r == 0) {
                        if (rec.stream != CRILOG_STDOUT && rec.stream != CRILOG_STDERR)
                                abort();
                        if (rec.msg < line || rec.msg + rec.msg_len > line + len)
                                abort();
                        if (rec.msg_len && memchr(rec.msg, '\n', rec.msg_len))
                                abort(); /* the line's newline is not the message's */
                        check_time(&rec.time);
                        add(&fed[rec.stream], rec.msg, rec.msg_len);
                        crilog_line l;
                        if (crilog_joiner_add(&j, &rec, &l))
                                emitted(&l, seen);
                } else if (r != -1 || !why) {
                        abort();
                }
                free(line);
                start += len;
        }
        crilog_line l;
        for (int s = 0; s < 2; s++)
                if (crilog_joiner_flush(&j, (crilog_stream)s, &l))
                        emitted(&l, seen);
        for (int s = 0; s < 2; s++) {
                if (fed[s].len != seen[s].len || (fed[s].len && memcmp(fed[s].buf, seen[s].buf, fed[s].len)))
                        abort();
                free(fed[s].buf);
                free(seen[s].buf);
        }
        crilog_joiner_release(&j);

        /* the same bytes as a flag value */
        char *str = malloc(size + 1);
        if (!str)
                abort();
        if (size)
                memcpy(str, data, size);
        str[size] = '\0';
        int64_t ns;
        crilog_parse_duration(str, &ns);
        crilog_parse_since(str, 1714557600000000000LL, &ns);
        crilog_time t;
        if (crilog_parse_time(str, strlen(str), &t) == 0)
                check_time(&t);
        free(str);
        free(text);
        return 0;
}
