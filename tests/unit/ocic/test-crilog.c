/* The CRI log format of ocic logs: records, timestamps, durations, and the
 * joining of partial records into lines. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ocic/crilog.h"

#include <stdlib.h>
#include <string.h>

static int parse(const char *line, crilog_record *rec)
{
        const char *why = NULL;
        int r = crilog_parse(line, strlen(line), rec, &why);
        if (r < 0)
                assert_non_null(why);
        return r;
}

static void assert_msg(const crilog_record *rec, const char *want)
{
        assert_int_equal(rec->msg_len, strlen(want));
        assert_memory_equal(rec->msg, want, rec->msg_len);
}

/* ---- records ---- */

static void test_full_lines(void **state)
{
        crilog_record rec;
        assert_int_equal(parse("2024-02-29T12:34:56.123456789Z stdout F hello world\n", &rec), 0);
        assert_int_equal(rec.stream, CRILOG_STDOUT);
        assert_false(rec.partial);
        assert_int_equal(rec.time.sec, 1709210096);
        assert_int_equal(rec.time.nsec, 123456789);
        assert_int_equal(rec.time.offset, 0);
        assert_msg(&rec, "hello world");

        /* no trailing newline: the same record */
        assert_int_equal(parse("2024-02-29T12:34:56.123456789Z stdout F hello world", &rec), 0);
        assert_msg(&rec, "hello world");

        /* the message is kept byte for byte: spaces, tabs, a CR */
        assert_int_equal(parse("2024-02-29T12:34:56Z stdout F   two  spaces\there \r\n", &rec), 0);
        assert_msg(&rec, "  two  spaces\there \r");

        /* the message may look like a record itself */
        assert_int_equal(parse("2024-02-29T12:34:56Z stdout F 2024-02-29T12:34:56Z stderr P x\n", &rec), 0);
        assert_msg(&rec, "2024-02-29T12:34:56Z stderr P x");
}

static void test_streams(void **state)
{
        crilog_record rec;
        assert_int_equal(parse("2024-05-01T10:00:00+02:00 stderr F oops\n", &rec), 0);
        assert_int_equal(rec.stream, CRILOG_STDERR);
        assert_int_equal(rec.time.sec, 1714550400);
        assert_int_equal(rec.time.offset, 7200);
        assert_msg(&rec, "oops");
        assert_int_equal(parse("2024-05-01T10:00:00Z stdout F out\n", &rec), 0);
        assert_int_equal(rec.stream, CRILOG_STDOUT);

        /* only these two */
        assert_int_equal(parse("2024-05-01T10:00:00Z stdin F x\n", &rec), -1);
        assert_int_equal(parse("2024-05-01T10:00:00Z STDOUT F x\n", &rec), -1);
        assert_int_equal(parse("2024-05-01T10:00:00Z stdoutx F x\n", &rec), -1);
        assert_int_equal(parse("2024-05-01T10:00:00Z stdou F x\n", &rec), -1);
}

static void test_tags(void **state)
{
        crilog_record rec;
        assert_int_equal(parse("2024-05-01T10:00:00Z stdout P part\n", &rec), 0);
        assert_true(rec.partial);
        /* a partial record's message has no newline of its own */
        assert_msg(&rec, "part");

        /* forward compatible tags, as the kubelet reads them */
        assert_int_equal(parse("2024-05-01T10:00:00Z stdout P:x=y more\n", &rec), 0);
        assert_true(rec.partial);
        assert_msg(&rec, "more");
        assert_int_equal(parse("2024-05-01T10:00:00Z stdout F:x=y more\n", &rec), 0);
        assert_false(rec.partial);
        assert_int_equal(parse("2024-05-01T10:00:00Z stdout PP more\n", &rec), 0);
        assert_false(rec.partial);

        /* empty messages: with and without the separating space */
        assert_int_equal(parse("2024-05-01T10:00:00Z stdout F \n", &rec), 0);
        assert_msg(&rec, "");
        assert_int_equal(parse("2024-05-01T10:00:00Z stdout F\n", &rec), 0);
        assert_msg(&rec, "");
        assert_false(rec.partial);
        assert_int_equal(parse("2024-05-01T10:00:00Z stdout P", &rec), 0);
        assert_true(rec.partial);
        assert_msg(&rec, "");
}

static void test_malformed(void **state)
{
        static const char *const bad[] = {
                "",
                "\n",
                "garbage",
                "garbage with spaces in it\n",
                "2024-05-01T10:00:00Z",
                "2024-05-01T10:00:00Z ",
                "2024-05-01T10:00:00Z stdout",
                "2024-05-01T10:00:00Z stdout ",      /* no tag */
                "2024-05-01T10:00:00Z stdout  msg",  /* empty tag */
                " 2024-05-01T10:00:00Z stdout F x",  /* leading space */
                "2024-05-01T10:00:00 stdout F x",    /* no zone */
                "2024-05-01t10:00:00Z stdout F x",   /* lower-case T */
                "2024-05-01 10:00:00Z stdout F x",
                "2024-05-01T10:00:00z stdout F x",
                "2024-13-01T10:00:00Z stdout F x",
                "2024-00-01T10:00:00Z stdout F x",
                "2023-02-29T10:00:00Z stdout F x",   /* not a leap year */
                "2024-04-31T10:00:00Z stdout F x",
                "2024-05-00T10:00:00Z stdout F x",
                "2024-05-01T24:00:00Z stdout F x",
                "2024-05-01T10:60:00Z stdout F x",
                "2024-05-01T10:00:60Z stdout F x",
                "2024-05-01T10:00:00.Z stdout F x",  /* a point without digits */
                "2024-05-01T10:00:00+0200 stdout F x",
                "2024-05-01T10:00:00+02 stdout F x",
                "2024-05-01T10:00:00+24:00 stdout F x",
                "2024-05-01T10:00:00+02:60 stdout F x",
                "2024-05-01T10:00:00Zjunk stdout F x",
                "24-05-01T10:00:00Z stdout F x",
                "2024-5-01T10:00:00Z stdout F x",
                "+024-05-01T10:00:00Z stdout F x",
                "2024-05-01T10:00:00.123456789 stdout F x",
                "\xff\xfe\x00 stdout F x",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                crilog_record rec;
                const char *why = NULL;
                if (crilog_parse(bad[i], strlen(bad[i]), &rec, &why) != -1)
                        fail_msg("accepted malformed line %zu: '%s'", i, bad[i]);
                assert_non_null(why);
        }
        /* an embedded NUL is part of the message, not its end */
        static const char nul[] = "2024-05-01T10:00:00Z stdout F a\0b\n";
        crilog_record rec;
        const char *why;
        assert_int_equal(crilog_parse(nul, sizeof(nul) - 1, &rec, &why), 0);
        assert_int_equal(rec.msg_len, 3);
        assert_memory_equal(rec.msg, "a\0b", 3);
        /* the length is honoured: no read past it */
        assert_int_equal(crilog_parse(nul, 20, &rec, &why), -1);
}

static void test_long_line(void **state)
{
        size_t n = 1 << 20;
        const char *head = "2024-05-01T10:00:00.5Z stderr F ";
        size_t hl = strlen(head);
        char *line = malloc(hl + n + 1);
        assert_non_null(line);
        memcpy(line, head, hl);
        for (size_t i = 0; i < n; i++)
                line[hl + i] = (char)('a' + i % 26);
        line[hl + n] = '\n';
        crilog_record rec;
        const char *why;
        assert_int_equal(crilog_parse(line, hl + n + 1, &rec, &why), 0);
        assert_int_equal(rec.msg_len, n);
        assert_ptr_equal(rec.msg, line + hl);
        assert_int_equal(rec.time.nsec, 500000000);
        free(line);
}

/* ---- timestamps ---- */

static void test_parse_time(void **state)
{
        crilog_time t;
        assert_int_equal(crilog_parse_time("1970-01-01T00:00:00Z", 20, &t), 0);
        assert_int_equal(t.sec, 0);
        assert_int_equal(t.nsec, 0);
        const char *s = "1969-12-31T23:59:59.999999999Z";
        assert_int_equal(crilog_parse_time(s, strlen(s), &t), 0);
        assert_int_equal(t.sec, -1);
        assert_int_equal(t.nsec, 999999999);
        s = "2000-01-01T00:00:00-05:30";
        assert_int_equal(crilog_parse_time(s, strlen(s), &t), 0);
        assert_int_equal(t.sec, 946704600);
        assert_int_equal(t.offset, -19800);
        /* digits past nanoseconds are dropped; a comma is a decimal point too */
        s = "2000-01-01T05:30:00.1234567891234Z";
        assert_int_equal(crilog_parse_time(s, strlen(s), &t), 0);
        assert_int_equal(t.nsec, 123456789);
        s = "2000-01-01T05:30:00,25Z";
        assert_int_equal(crilog_parse_time(s, strlen(s), &t), 0);
        assert_int_equal(t.nsec, 250000000);
        s = "9999-12-31T23:59:59Z";
        assert_int_equal(crilog_parse_time(s, strlen(s), &t), 0);
        assert_int_equal(t.sec, 253402300799LL);
        assert_int_equal(crilog_time_ns(&t), INT64_MAX); /* saturated */
        s = "0001-01-01T00:00:00Z";
        assert_int_equal(crilog_parse_time(s, strlen(s), &t), 0);
        assert_int_equal(t.sec, -62135596800LL);
        assert_int_equal(crilog_time_ns(&t), INT64_MIN);
        s = "2024-05-01T10:00:00.000000001Z";
        assert_int_equal(crilog_parse_time(s, strlen(s), &t), 0);
        assert_int_equal(crilog_time_ns(&t), 1714557600000000001LL);
        /* the length is the end: no NUL needed, nothing read beyond */
        assert_int_equal(crilog_parse_time("2024-05-01T10:00:00Z garbage", 20, &t), 0);
        assert_int_equal(crilog_parse_time("2024-05-01T10:00:00Z", 19, &t), -1);
}

static void assert_format(const char *in, const char *want)
{
        crilog_time t;
        assert_int_equal(crilog_parse_time(in, strlen(in), &t), 0);
        char out[CRILOG_TIME_MAX];
        size_t n = crilog_format_time(&t, out);
        assert_string_equal(out, want);
        assert_int_equal(n, strlen(want));
}

static void test_format_time(void **state)
{
        /* Go's RFC3339Nano: trailing zeros dropped, the zone as written */
        assert_format("2024-05-01T10:00:00.123456789Z", "2024-05-01T10:00:00.123456789Z");
        assert_format("2024-05-01T10:00:00.120000000+02:00", "2024-05-01T10:00:00.12+02:00");
        assert_format("2024-05-01T10:00:00.000000000Z", "2024-05-01T10:00:00Z");
        assert_format("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z");
        assert_format("2024-05-01T10:00:00+00:00", "2024-05-01T10:00:00Z");
        assert_format("2024-05-01T00:15:00.5-05:30", "2024-05-01T00:15:00.5-05:30");
        assert_format("2024-02-29T23:59:59.000000001+14:00", "2024-02-29T23:59:59.000000001+14:00");
        assert_format("1969-12-31T23:59:59Z", "1969-12-31T23:59:59Z");
        assert_format("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z");
        assert_format("9999-12-31T23:59:59.9-23:59", "9999-12-31T23:59:59.9-23:59");
        /* a time not from the parser still formats within the buffer */
        crilog_time t = { .sec = INT64_MAX / 2, .nsec = 1, .offset = 0 };
        char out[CRILOG_TIME_MAX];
        assert_true(crilog_format_time(&t, out) < CRILOG_TIME_MAX);
}

/* ---- durations and --since ---- */

static void test_duration(void **state)
{
        static const struct {
                const char *s;
                int64_t ns;
        } good[] = {
                { "0", 0 },
                { "10s", 10000000000LL },
                { "5m", 300000000000LL },
                { "1h30m", 5400000000000LL },
                { "1.5h", 5400000000000LL },
                { ".5s", 500000000LL },
                { "5.s", 5000000000LL },
                { "250ms", 250000000LL },
                { "3us", 3000 },
                { "3\xc2\xb5s", 3000 },
                { "7ns", 7 },
                { "-5s", -5000000000LL },
                { "+5s", 5000000000LL },
                { "1h1m1s1ms", 3661001000000LL },
        };
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                int64_t ns = -12345;
                if (crilog_parse_duration(good[i].s, &ns) != 0)
                        fail_msg("rejected '%s'", good[i].s);
                assert_int_equal(ns, good[i].ns);
        }
        static const char *const bad[] = { "", "10", "s", "1x", "1.5", ".s", "-", "1s2", "5 s",
                                           "99999999999999999999s", "3000000h", "1e3s" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int64_t ns;
                if (crilog_parse_duration(bad[i], &ns) != -1)
                        fail_msg("accepted '%s'", bad[i]);
        }
}

static void test_since(void **state)
{
        int64_t now = 1714557600000000000LL, ns;
        assert_int_equal(crilog_parse_since("10s", now, &ns), 0);
        assert_int_equal(ns, now - 10000000000LL);
        assert_int_equal(crilog_parse_since("2024-05-01T10:00:00+02:00", now, &ns), 0);
        assert_int_equal(ns, 1714550400000000000LL);
        assert_int_equal(crilog_parse_since("1714550400", now, &ns), 0);
        assert_int_equal(ns, 1714550400000000000LL);
        assert_int_equal(crilog_parse_since("1714550400.25", now, &ns), 0);
        assert_int_equal(ns, 1714550400250000000LL);
        assert_int_equal(crilog_parse_since("yesterday", now, &ns), -1);
        assert_int_equal(crilog_parse_since("", now, &ns), -1);
        assert_int_equal(crilog_parse_since("12:00", now, &ns), -1);
        assert_int_equal(crilog_parse_since("99999999999999999999", now, &ns), -1);
}

/* ---- joining ---- */

static crilog_record rec_of(crilog_stream s, bool partial, const char *msg, int64_t sec)
{
        return (crilog_record){ .time = { .sec = sec }, .stream = s, .partial = partial, .msg = msg,
                                .msg_len = strlen(msg) };
}

static void assert_line(const crilog_line *l, crilog_stream s, const char *text, bool complete, int64_t sec)
{
        assert_int_equal(l->stream, s);
        assert_int_equal(l->len, strlen(text));
        assert_memory_equal(l->text, text, l->len);
        assert_int_equal(l->complete, complete);
        assert_int_equal(l->time.sec, sec);
}

static void test_join_partials(void **state)
{
        crilog_joiner j;
        crilog_joiner_init(&j, 0);
        crilog_line l;
        crilog_record r;

        /* a full record alone is a line */
        r = rec_of(CRILOG_STDOUT, false, "one", 1);
        assert_true(crilog_joiner_add(&j, &r, &l));
        assert_line(&l, CRILOG_STDOUT, "one", true, 1);

        /* P P F: one line, with the first record's time */
        r = rec_of(CRILOG_STDOUT, true, "ab", 2);
        assert_false(crilog_joiner_add(&j, &r, &l));
        r = rec_of(CRILOG_STDOUT, true, "cd", 3);
        assert_false(crilog_joiner_add(&j, &r, &l));
        /* the other stream is not held up meanwhile */
        r = rec_of(CRILOG_STDERR, false, "err", 4);
        assert_true(crilog_joiner_add(&j, &r, &l));
        assert_line(&l, CRILOG_STDERR, "err", true, 4);
        r = rec_of(CRILOG_STDOUT, false, "ef", 5);
        assert_true(crilog_joiner_add(&j, &r, &l));
        assert_line(&l, CRILOG_STDOUT, "abcdef", true, 2);

        /* the next line starts afresh */
        r = rec_of(CRILOG_STDOUT, true, "g", 6);
        assert_false(crilog_joiner_add(&j, &r, &l));
        r = rec_of(CRILOG_STDOUT, false, "", 7);
        assert_true(crilog_joiner_add(&j, &r, &l));
        assert_line(&l, CRILOG_STDOUT, "g", true, 6);

        /* both streams partial at once */
        r = rec_of(CRILOG_STDOUT, true, "o1", 8);
        assert_false(crilog_joiner_add(&j, &r, &l));
        r = rec_of(CRILOG_STDERR, true, "e1", 9);
        assert_false(crilog_joiner_add(&j, &r, &l));
        r = rec_of(CRILOG_STDERR, false, "e2", 10);
        assert_true(crilog_joiner_add(&j, &r, &l));
        assert_line(&l, CRILOG_STDERR, "e1e2", true, 9);
        r = rec_of(CRILOG_STDOUT, false, "o2", 11);
        assert_true(crilog_joiner_add(&j, &r, &l));
        assert_line(&l, CRILOG_STDOUT, "o1o2", true, 8);

        /* at the end, what is pending comes out unfinished */
        r = rec_of(CRILOG_STDERR, true, "tail", 12);
        assert_false(crilog_joiner_add(&j, &r, &l));
        assert_false(crilog_joiner_flush(&j, CRILOG_STDOUT, &l));
        assert_true(crilog_joiner_flush(&j, CRILOG_STDERR, &l));
        assert_line(&l, CRILOG_STDERR, "tail", false, 12);
        assert_false(crilog_joiner_flush(&j, CRILOG_STDERR, &l));

        /* an empty partial still makes a pending line */
        r = rec_of(CRILOG_STDOUT, true, "", 13);
        assert_false(crilog_joiner_add(&j, &r, &l));
        assert_true(crilog_joiner_flush(&j, CRILOG_STDOUT, &l));
        assert_line(&l, CRILOG_STDOUT, "", false, 13);

        crilog_joiner_release(&j);
}

/* A long line as conmon writes it: 8 KiB partial records, then the end. */
static void test_join_long_line(void **state)
{
        crilog_joiner j;
        crilog_joiner_init(&j, 0);
        size_t chunk = 8192, chunks = 40;
        char *want = malloc(chunk * chunks + 1);
        assert_non_null(want);
        crilog_line l;
        for (size_t i = 0; i < chunks; i++) {
                char *piece = want + i * chunk;
                memset(piece, 'a' + (int)(i % 26), chunk);
                crilog_record r = { .stream = CRILOG_STDOUT, .partial = i + 1 < chunks, .msg = piece,
                                    .msg_len = chunk, .time = { .sec = 100 + (int64_t)i } };
                bool got = crilog_joiner_add(&j, &r, &l);
                assert_int_equal(got, i + 1 == chunks);
        }
        assert_int_equal(l.len, chunk * chunks);
        assert_memory_equal(l.text, want, l.len);
        assert_true(l.complete);
        assert_int_equal(l.time.sec, 100);
        free(want);
        crilog_joiner_release(&j);
}

/* Endless partials are cut at max_line instead of growing without end. */
static void test_join_max_line(void **state)
{
        crilog_joiner j;
        crilog_joiner_init(&j, 10);
        crilog_line l;
        crilog_record r = rec_of(CRILOG_STDOUT, true, "123456", 1);
        assert_false(crilog_joiner_add(&j, &r, &l));
        r = rec_of(CRILOG_STDOUT, true, "789012", 2);
        assert_true(crilog_joiner_add(&j, &r, &l));
        assert_line(&l, CRILOG_STDOUT, "123456789012", false, 1);
        r = rec_of(CRILOG_STDOUT, false, "end", 3);
        assert_true(crilog_joiner_add(&j, &r, &l));
        assert_line(&l, CRILOG_STDOUT, "end", true, 3);
        crilog_joiner_release(&j);
}

/* Records straight from the parser: the pieces point into the input. */
static void test_parse_and_join(void **state)
{
        static const char *const lines[] = {
                "2024-05-01T10:00:00.1Z stdout P hel\n",
                "2024-05-01T10:00:00.2Z stderr F warning\n",
                "not a record\n",
                "2024-05-01T10:00:00.3Z stdout F lo\n",
        };
        crilog_joiner j;
        crilog_joiner_init(&j, 0);
        crilog_line l;
        int emitted = 0;
        for (size_t i = 0; i < 4; i++) {
                crilog_record r;
                const char *why;
                if (crilog_parse(lines[i], strlen(lines[i]), &r, &why) < 0)
                        continue;
                if (!crilog_joiner_add(&j, &r, &l))
                        continue;
                emitted++;
                if (emitted == 1) {
                        assert_line(&l, CRILOG_STDERR, "warning", true, 1714557600);
                } else {
                        assert_line(&l, CRILOG_STDOUT, "hello", true, 1714557600);
                        assert_int_equal(l.time.nsec, 100000000);
                }
        }
        assert_int_equal(emitted, 2);
        crilog_joiner_release(&j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full_lines),
                cmocka_unit_test(test_streams),
                cmocka_unit_test(test_tags),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_long_line),
                cmocka_unit_test(test_parse_time),
                cmocka_unit_test(test_format_time),
                cmocka_unit_test(test_duration),
                cmocka_unit_test(test_since),
                cmocka_unit_test(test_join_partials),
                cmocka_unit_test(test_join_long_line),
                cmocka_unit_test(test_join_max_line),
                cmocka_unit_test(test_parse_and_join),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
