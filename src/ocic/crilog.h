/* The CRI container log format, as conmon writes it and the kubelet reads
 * it: one record per line,
 *
 *     2024-05-01T10:00:00.123456789+02:00 stdout F the message
 *
 * an RFC 3339 timestamp with up to nanoseconds, the stream (stdout or
 * stderr), a tag (P: partial, continued by the next record of the same
 * stream; F, or any other tag: full; ':'-separated extensions after the
 * first element are ignored, as the kubelet does) and the message up to
 * the newline.
 *
 * Everything here is pure: no I/O, no clock. crilog_parse() only looks at
 * the bytes it is given; the joiner buffers partial records per stream. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { CRILOG_STDOUT = 0, CRILOG_STDERR = 1 } crilog_stream;

typedef struct {
        int64_t sec;    /* seconds since the epoch (UTC) */
        int32_t nsec;   /* 0 .. 999999999 */
        int32_t offset; /* the zone offset written, in seconds east of UTC */
} crilog_time;

typedef struct {
        crilog_time time;
        crilog_stream stream;
        bool partial;    /* tag P: the line goes on in the stream's next record */
        const char *msg; /* points into the parsed line; no trailing newline */
        size_t msg_len;
} crilog_record;

/* Parse one record: `line` need not be NUL-terminated and may end with its
 * '\n' (which is not part of the message). Returns 0, or -1 with *why (a
 * static string) saying what is wrong. */
int crilog_parse(const char *line, size_t len, crilog_record *ret, const char **why);

/* RFC 3339: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm). Fraction digits
 * beyond nine are ignored. Returns 0 or -1. */
int crilog_parse_time(const char *s, size_t len, crilog_time *ret);

/* As Go's time.RFC3339Nano formats it: in the offset it was written with,
 * trailing zeros of the fraction dropped, "Z" for a zero offset. Returns
 * the length written (NUL-terminated). */
#define CRILOG_TIME_MAX 48
size_t crilog_format_time(const crilog_time *t, char out[CRILOG_TIME_MAX]);

/* Nanoseconds since the epoch, saturated to the int64 range. */
int64_t crilog_time_ns(const crilog_time *t);

/* A Go duration ("10s", "5m", "1h30m", "1.5h", "250ms", "0"), into
 * nanoseconds. Returns 0 or -1. */
int crilog_parse_duration(const char *s, int64_t *ret_ns);

/* --since: a duration before now_ns, an RFC 3339 time, or Unix seconds
 * (fraction allowed). Returns 0 or -1. */
int crilog_parse_since(const char *s, int64_t now_ns, int64_t *ret_ns);

/* ---- joining partial records into lines ---- */

typedef struct {
        crilog_stream stream;
        crilog_time time; /* of the line's first record */
        const char *text; /* valid until the next call on the joiner */
        size_t len;
        bool complete;    /* false: cut at max_line, or flushed unfinished */
} crilog_line;

typedef struct {
        char *buf;
        size_t len, alloc;
        crilog_time first;
        bool active;  /* holds partial data (len may still be 0) */
        bool emitted; /* buf was handed out: reset before reuse */
} crilog_pending;

typedef struct {
        crilog_pending pending[2];
        size_t max_line;
} crilog_joiner;

/* max_line: a line that grows past this many bytes from partial records is
 * emitted as an incomplete line (then the rest as more lines), so a log of
 * endless P records cannot exhaust memory. 0: a default of 1 MiB. */
void crilog_joiner_init(crilog_joiner *j, size_t max_line);
void crilog_joiner_release(crilog_joiner *j);

/* Feed one record. Returns true and fills *out when a line is ready: a
 * full record (joined to the stream's pending partials), or pending data
 * past max_line. */
bool crilog_joiner_add(crilog_joiner *j, const crilog_record *rec, crilog_line *out);

/* Emit a stream's pending partial data as an incomplete line, if any. */
bool crilog_joiner_flush(crilog_joiner *j, crilog_stream stream, crilog_line *out);
