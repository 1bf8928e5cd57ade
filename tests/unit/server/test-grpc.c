#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "server/grpc.h"
#include "util/cleanup.h"
#include "util/strbuf.h"

#include <string.h>

/* ---- frame reader ------------------------------------------------------- */

#define MAX_COLLECT 64

/* What on_message saw, in order. */
typedef struct {
        size_t n;
        strbuf msgs[MAX_COLLECT];
        int fail_at; /* 1-based message number to fail on; 0: never */
} collected;

static int collect(const uint8_t *msg, size_t len, void *data)
{
        collected *c = data;
        assert_true(c->n < MAX_COLLECT);
        assert_non_null(msg);
        strbuf_init(&c->msgs[c->n]);
        strbuf_add(&c->msgs[c->n], msg, len);
        c->n++;
        if (c->fail_at && (int)c->n == c->fail_at)
                return -42;
        return 0;
}

static void collected_release(collected *c)
{
        for (size_t i = 0; i < c->n; i++)
                strbuf_release(&c->msgs[i]);
        c->n = 0;
}

/* Append one framed message to out. */
static void frame(strbuf *out, const void *body, size_t len)
{
        uint8_t h[GRPC_FRAME_HEADER];
        grpc_frame_header(h, (uint32_t)len);
        strbuf_add(out, h, sizeof(h));
        if (len)
                strbuf_add(out, body, len);
}

/* Feed all of data in chunks of `chunk` bytes (the last may be shorter). */
static int feed_chunked(grpc_frame_reader *r, const strbuf *data, size_t chunk,
                        collected *c, ocid_error *err)
{
        for (size_t off = 0; off < data->len;) {
                size_t n = data->len - off < chunk ? data->len - off : chunk;
                int q = grpc_frame_reader_feed(r, (const uint8_t *)data->buf + off, n, collect, c, err);
                if (q < 0)
                        return q;
                off += n;
        }
        return 0;
}

static void test_frame_header(void **state)
{
        uint8_t h[GRPC_FRAME_HEADER];
        grpc_frame_header(h, 0x01020304);
        assert_memory_equal(h, "\x00\x01\x02\x03\x04", 5);
        grpc_frame_header(h, 0);
        assert_memory_equal(h, "\x00\x00\x00\x00\x00", 5);
        grpc_frame_header(h, UINT32_MAX);
        assert_memory_equal(h, "\x00\xff\xff\xff\xff", 5);
}

static void test_frame_reader_every_chunk_size(void **state)
{
        /* Three messages, one empty, one longer than the header. */
        _cleanup_strbuf_ strbuf data = STRBUF_INIT;
        frame(&data, "hello", 5);
        frame(&data, "", 0);
        char big[300];
        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (char)i;
        frame(&data, big, sizeof(big));

        for (size_t chunk = 1; chunk <= data.len; chunk++) {
                grpc_frame_reader r;
                grpc_frame_reader_init(&r, 1024);
                collected c = { 0 };
                ocid_error err = OCID_ERROR_INIT;
                assert_int_equal(feed_chunked(&r, &data, chunk, &c, &err), 0);
                assert_int_equal(err.kind, OCID_OK);
                assert_int_equal(c.n, 3);
                assert_int_equal(c.msgs[0].len, 5);
                assert_memory_equal(c.msgs[0].buf, "hello", 5);
                assert_int_equal(c.msgs[1].len, 0);
                assert_int_equal(c.msgs[2].len, sizeof(big));
                assert_memory_equal(c.msgs[2].buf, big, sizeof(big));
                assert_true(grpc_frame_reader_idle(&r));
                collected_release(&c);
                grpc_frame_reader_release(&r);
        }
}

static void test_frame_reader_many_in_one_chunk(void **state)
{
        _cleanup_strbuf_ strbuf data = STRBUF_INIT;
        for (int i = 0; i < 40; i++) {
                char body[16];
                int n = snprintf(body, sizeof(body), "msg-%d", i);
                frame(&data, body, (size_t)n);
        }
        grpc_frame_reader r;
        grpc_frame_reader_init(&r, 64);
        collected c = { 0 };
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(grpc_frame_reader_feed(&r, (const uint8_t *)data.buf, data.len, collect,
                                                &c, &err), 0);
        assert_int_equal(c.n, 40);
        for (int i = 0; i < 40; i++) {
                char body[16];
                snprintf(body, sizeof(body), "msg-%d", i);
                assert_string_equal(c.msgs[i].buf, body);
        }
        assert_true(grpc_frame_reader_idle(&r));
        collected_release(&c);
        grpc_frame_reader_release(&r);
}

static void test_frame_reader_idle_tracking(void **state)
{
        grpc_frame_reader r;
        grpc_frame_reader_init(&r, 64);
        collected c = { 0 };
        ocid_error err = OCID_ERROR_INIT;
        assert_true(grpc_frame_reader_idle(&r));
        /* Part of a header. */
        assert_int_equal(grpc_frame_reader_feed(&r, (const uint8_t *)"\0\0", 2, collect, &c, &err), 0);
        assert_false(grpc_frame_reader_idle(&r));
        /* Rest of the header: body of 2 bytes pending. */
        assert_int_equal(grpc_frame_reader_feed(&r, (const uint8_t *)"\0\0\2", 3, collect, &c, &err), 0);
        assert_false(grpc_frame_reader_idle(&r));
        assert_int_equal(c.n, 0);
        assert_int_equal(grpc_frame_reader_feed(&r, (const uint8_t *)"a", 1, collect, &c, &err), 0);
        assert_false(grpc_frame_reader_idle(&r));
        assert_int_equal(grpc_frame_reader_feed(&r, (const uint8_t *)"b", 1, collect, &c, &err), 0);
        assert_true(grpc_frame_reader_idle(&r));
        assert_int_equal(c.n, 1);
        assert_string_equal(c.msgs[0].buf, "ab");
        /* Feeding nothing changes nothing. */
        assert_int_equal(grpc_frame_reader_feed(&r, (const uint8_t *)"", 0, collect, &c, &err), 0);
        assert_true(grpc_frame_reader_idle(&r));
        collected_release(&c);
        grpc_frame_reader_release(&r);
}

static void test_frame_reader_zero_length_alone(void **state)
{
        /* A zero-length message whose header ends exactly at the chunk end
         * must be delivered right away, not wait for more bytes. */
        grpc_frame_reader r;
        grpc_frame_reader_init(&r, 0);
        collected c = { 0 };
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(grpc_frame_reader_feed(&r, (const uint8_t *)"\0\0\0\0\0", 5, collect, &c, &err), 0);
        assert_int_equal(c.n, 1);
        assert_int_equal(c.msgs[0].len, 0);
        assert_true(grpc_frame_reader_idle(&r));
        collected_release(&c);
        grpc_frame_reader_release(&r);
}

static void test_frame_reader_limit(void **state)
{
        const size_t limit = 1000;
        _cleanup_free_ char *body = malloc(limit + 1);
        memset(body, 'x', limit + 1);

        /* Exactly the limit is fine. */
        {
                _cleanup_strbuf_ strbuf data = STRBUF_INIT;
                frame(&data, body, limit);
                grpc_frame_reader r;
                grpc_frame_reader_init(&r, limit);
                collected c = { 0 };
                ocid_error err = OCID_ERROR_INIT;
                assert_int_equal(feed_chunked(&r, &data, 7, &c, &err), 0);
                assert_int_equal(c.n, 1);
                assert_int_equal(c.msgs[0].len, limit);
                collected_release(&c);
                grpc_frame_reader_release(&r);
        }
        /* One byte more fails as soon as the header is in, before any of the
         * body is buffered. */
        {
                grpc_frame_reader r;
                grpc_frame_reader_init(&r, limit);
                collected c = { 0 };
                ocid_error err = OCID_ERROR_INIT;
                uint8_t h[GRPC_FRAME_HEADER];
                grpc_frame_header(h, (uint32_t)limit + 1);
                assert_int_equal(grpc_frame_reader_feed(&r, h, 3, collect, &c, &err), 0);
                assert_true(grpc_frame_reader_feed(&r, h + 3, 2, collect, &c, &err) < 0);
                assert_int_equal(err.kind, OCID_ERR_RESOURCE);
                assert_non_null(strstr(err.message, "1001"));
                assert_non_null(strstr(err.message, "1000"));
                assert_int_equal(r.body.alloc, 0);
                assert_int_equal(c.n, 0);
                ocid_error_clear(&err);
                grpc_frame_reader_release(&r);
        }
        /* The largest length a header can carry is refused without
         * allocating it. */
        {
                grpc_frame_reader r;
                grpc_frame_reader_init(&r, GRPC_MAX_MESSAGE);
                collected c = { 0 };
                ocid_error err = OCID_ERROR_INIT;
                assert_true(grpc_frame_reader_feed(&r, (const uint8_t *)"\0\xff\xff\xff\xff" "abc", 8,
                                                   collect, &c, &err) < 0);
                assert_int_equal(err.kind, OCID_ERR_RESOURCE);
                assert_int_equal(r.body.alloc, 0);
                ocid_error_clear(&err);
                grpc_frame_reader_release(&r);
        }
        /* Messages before the oversized one are still delivered. */
        {
                _cleanup_strbuf_ strbuf data = STRBUF_INIT;
                frame(&data, "ok", 2);
                frame(&data, body, limit + 1);
                grpc_frame_reader r;
                grpc_frame_reader_init(&r, limit);
                collected c = { 0 };
                ocid_error err = OCID_ERROR_INIT;
                assert_true(grpc_frame_reader_feed(&r, (const uint8_t *)data.buf, data.len, collect,
                                                   &c, &err) < 0);
                assert_int_equal(err.kind, OCID_ERR_RESOURCE);
                assert_int_equal(c.n, 1);
                assert_string_equal(c.msgs[0].buf, "ok");
                ocid_error_clear(&err);
                collected_release(&c);
                grpc_frame_reader_release(&r);
        }
}

static void test_frame_reader_compressed(void **state)
{
        grpc_frame_reader r;
        grpc_frame_reader_init(&r, 64);
        collected c = { 0 };
        ocid_error err = OCID_ERROR_INIT;
        assert_true(grpc_frame_reader_feed(&r, (const uint8_t *)"\1\0\0\0\2zz", 7, collect, &c, &err) < 0);
        assert_int_equal(err.kind, OCID_ERR_UNIMPLEMENTED);
        assert_non_null(strstr(err.message, "compress"));
        assert_int_equal(c.n, 0);
        ocid_error_clear(&err);
        grpc_frame_reader_release(&r);
}

static void test_frame_reader_invalid_flags(void **state)
{
        static const uint8_t bad[] = { 0x02, 0x80, 0x04, 0xfe };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                grpc_frame_reader r;
                grpc_frame_reader_init(&r, 64);
                collected c = { 0 };
                ocid_error err = OCID_ERROR_INIT;
                uint8_t msg[] = { bad[i], 0, 0, 0, 1, 'x' };
                assert_true(grpc_frame_reader_feed(&r, msg, sizeof(msg), collect, &c, &err) < 0);
                assert_int_equal(err.kind, OCID_ERR_INTERNAL);
                assert_non_null(strstr(err.message, "flags"));
                assert_int_equal(c.n, 0);
                ocid_error_clear(&err);
                grpc_frame_reader_release(&r);
        }
        /* 0x03: compressed wins. */
        grpc_frame_reader r;
        grpc_frame_reader_init(&r, 64);
        collected c = { 0 };
        ocid_error err = OCID_ERROR_INIT;
        assert_true(grpc_frame_reader_feed(&r, (const uint8_t *)"\3\0\0\0\0", 5, collect, &c, &err) < 0);
        assert_int_equal(err.kind, OCID_ERR_UNIMPLEMENTED);
        ocid_error_clear(&err);
        grpc_frame_reader_release(&r);
}

static void test_frame_reader_callback_failure(void **state)
{
        _cleanup_strbuf_ strbuf data = STRBUF_INIT;
        frame(&data, "a", 1);
        frame(&data, "b", 1);
        frame(&data, "c", 1);
        grpc_frame_reader r;
        grpc_frame_reader_init(&r, 64);
        collected c = { .fail_at = 2 };
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(grpc_frame_reader_feed(&r, (const uint8_t *)data.buf, data.len, collect, &c, &err),
                         -42);
        /* Stops at the failing message; err untouched. */
        assert_int_equal(c.n, 2);
        assert_int_equal(err.kind, OCID_OK);
        collected_release(&c);
        grpc_frame_reader_release(&r);
}

static void test_frame_reader_reuse_after_big(void **state)
{
        /* A big message followed by a small one: the small one must not see
         * leftovers of the big one. */
        char big[500];
        memset(big, 'B', sizeof(big));
        _cleanup_strbuf_ strbuf data = STRBUF_INIT;
        frame(&data, big, sizeof(big));
        frame(&data, "s", 1);
        grpc_frame_reader r;
        grpc_frame_reader_init(&r, 1000);
        collected c = { 0 };
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(feed_chunked(&r, &data, 13, &c, &err), 0);
        assert_int_equal(c.n, 2);
        assert_int_equal(c.msgs[1].len, 1);
        assert_string_equal(c.msgs[1].buf, "s");
        collected_release(&c);
        grpc_frame_reader_release(&r);
        /* Release twice is harmless. */
        grpc_frame_reader_release(&r);
}

/* ---- grpc-timeout ------------------------------------------------------- */

static int parse(const char *s, uint64_t *ms)
{
        return grpc_timeout_parse(s, strlen(s), ms);
}

static void test_timeout_units(void **state)
{
        uint64_t ms = 0;
        assert_int_equal(parse("1H", &ms), 0);
        assert_int_equal(ms, 3600000);
        assert_int_equal(parse("2M", &ms), 0);
        assert_int_equal(ms, 120000);
        assert_int_equal(parse("5S", &ms), 0);
        assert_int_equal(ms, 5000);
        assert_int_equal(parse("100m", &ms), 0);
        assert_int_equal(ms, 100);
        assert_int_equal(parse("0m", &ms), 0);
        assert_int_equal(ms, 0);
        assert_int_equal(parse("3000u", &ms), 0);
        assert_int_equal(ms, 3);
        assert_int_equal(parse("4000000n", &ms), 0);
        assert_int_equal(ms, 4);
        assert_int_equal(parse("00000007S", &ms), 0);
        assert_int_equal(ms, 7000);
        /* The largest values do not overflow. */
        assert_int_equal(parse("99999999H", &ms), 0);
        assert_int_equal(ms, 99999999ull * 3600 * 1000);
        assert_int_equal(parse("99999999n", &ms), 0);
        assert_int_equal(ms, 100);
}

static void test_timeout_rounds_up(void **state)
{
        uint64_t ms = 0;
        assert_int_equal(parse("1u", &ms), 0);
        assert_int_equal(ms, 1);
        assert_int_equal(parse("999u", &ms), 0);
        assert_int_equal(ms, 1);
        assert_int_equal(parse("1000u", &ms), 0);
        assert_int_equal(ms, 1);
        assert_int_equal(parse("1001u", &ms), 0);
        assert_int_equal(ms, 2);
        assert_int_equal(parse("1n", &ms), 0);
        assert_int_equal(ms, 1);
        assert_int_equal(parse("1000000n", &ms), 0);
        assert_int_equal(ms, 1);
        assert_int_equal(parse("1000001n", &ms), 0);
        assert_int_equal(ms, 2);
        assert_int_equal(parse("0u", &ms), 0);
        assert_int_equal(ms, 0);
        assert_int_equal(parse("0n", &ms), 0);
        assert_int_equal(ms, 0);
}

static void test_timeout_rejects(void **state)
{
        static const char *const bad[] = {
                "", "m", "S", "1", "12", "123456789m", "000000001S", "1x", "1h", "1s", "1 m",
                " 1m", "-1m", "+1m", "1.5S", "0x10m", "1mm", "m1", "1Sm", "\x01m", "9999999999H",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                uint64_t ms = 12345;
                if (parse(bad[i], &ms) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i]);
                assert_int_equal(ms, 12345); /* untouched on failure */
        }
        /* Length is explicit: bytes past len do not count, NULs inside do. */
        uint64_t ms = 0;
        assert_int_equal(grpc_timeout_parse("5Sxyz", 2, &ms), 0);
        assert_int_equal(ms, 5000);
        assert_int_equal(grpc_timeout_parse("5\0S", 3, &ms), -EINVAL);
        assert_int_equal(grpc_timeout_parse(NULL, 0, &ms), -EINVAL);
}

static void test_timeout_format(void **state)
{
        char out[16];
        grpc_timeout_format(0, out);
        assert_string_equal(out, "0m");
        grpc_timeout_format(200, out);
        assert_string_equal(out, "200m");
        grpc_timeout_format(99999999, out);
        assert_string_equal(out, "99999999m");
        grpc_timeout_format(100000000, out);
        assert_string_equal(out, "100000S");
        grpc_timeout_format(UINT64_MAX, out);
        uint64_t ms;
        assert_int_equal(parse(out, &ms), 0);
        assert_true(ms > 0);
}

static void test_timeout_round_trip(void **state)
{
        static const uint64_t values[] = {
                0, 1, 2, 999, 1000, 1001, 59999, 60000, 3600000, 99999999, 100000000,
                100000001, 123456789, 99999999000, 99999999001, 99999999999, 6000000000000ull,
                99999999ull * 60000, 99999999ull * 60000 + 1, 1ull << 40,
        };
        for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
                char out[16];
                grpc_timeout_format(values[i], out);
                uint64_t ms;
                assert_int_equal(parse(out, &ms), 0);
                assert_true(strlen(out) <= 9);
                if (values[i] <= 99999999)
                        assert_int_equal(ms, values[i]);
                else
                        /* Coarser units never shorten a deadline. */
                        assert_true(ms >= values[i]);
        }
        /* Every value parsed comes back the same when formatted and parsed. */
        static const char *const inputs[] = { "1H", "7M", "30S", "250m", "1500u", "20n" };
        for (size_t i = 0; i < ARRAY_SIZE(inputs); i++) {
                uint64_t a, b;
                char out[16];
                assert_int_equal(parse(inputs[i], &a), 0);
                grpc_timeout_format(a, out);
                assert_int_equal(parse(out, &b), 0);
                assert_int_equal(a, b);
        }
}

/* ---- grpc-message ------------------------------------------------------- */

static char *encode(const char *s)
{
        strbuf sb = STRBUF_INIT;
        grpc_message_encode(&sb, s);
        return strbuf_detach(&sb, NULL);
}

static char *decode(const char *s, size_t len)
{
        strbuf sb = STRBUF_INIT;
        grpc_message_decode(&sb, s, len);
        return strbuf_detach(&sb, NULL);
}

static void test_message_encode(void **state)
{
        _cleanup_free_ char *a = encode("plain text: ok (1/2) ~!");
        assert_string_equal(a, "plain text: ok (1/2) ~!");
        _cleanup_free_ char *b = encode("100%");
        assert_string_equal(b, "100%25");
        _cleanup_free_ char *c = encode("caf\xc3\xa9 \xe2\x9c\x93");
        assert_string_equal(c, "caf%C3%A9 %E2%9C%93");
        _cleanup_free_ char *d = encode("a\nb\tc\r\x7f\x01");
        assert_string_equal(d, "a%0Ab%09c%0D%7F%01");
        _cleanup_free_ char *e = encode("");
        assert_string_equal(e, "");
        _cleanup_free_ char *f = encode("%%25");
        assert_string_equal(f, "%25%2525");
        /* Appends; does not reset. */
        strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "x=");
        grpc_message_encode(&sb, "%");
        assert_string_equal(sb.buf, "x=%25");
        strbuf_release(&sb);
}

static void test_message_decode(void **state)
{
#define DEC(in, want)                                                          \
        do {                                                                   \
                _cleanup_free_ char *_d = decode(in, sizeof(in) - 1);          \
                assert_string_equal(_d, want);                                 \
        } while (0)
        DEC("plain", "plain");
        DEC("100%25", "100%");
        DEC("caf%C3%A9", "caf\xc3\xa9");
        DEC("caf%c3%a9", "caf\xc3\xa9");
        DEC("%0A%09", "\n\t");
        /* Malformed escapes stay literal. */
        DEC("%", "%");
        DEC("%4", "%4");
        DEC("a%", "a%");
        DEC("a%4", "a%4");
        DEC("%zz", "%zz");
        DEC("%4g", "%4g");
        DEC("%g4", "%g4");
        DEC("%%41", "%A");
        DEC("%41%", "A%");
        DEC("%-1", "%-1");
        DEC("", "");
#undef DEC
        /* Only len bytes are read. */
        _cleanup_free_ char *p = decode("%41%42", 5);
        assert_string_equal(p, "A%4");
        _cleanup_free_ char *q = decode("%41", 2);
        assert_string_equal(q, "%4");
        /* %00 decodes to a NUL byte inside the buffer. */
        strbuf sb = STRBUF_INIT;
        grpc_message_decode(&sb, "a%00b", 5);
        assert_int_equal(sb.len, 3);
        assert_memory_equal(sb.buf, "a\0b", 3);
        strbuf_release(&sb);
}

static void test_message_round_trip(void **state)
{
        static const char *const msgs[] = {
                "", "ok", "100% done", "%25 is not an escape here", "日本語のエラー",
                "line1\nline2", "tab\there", "quote \" and backslash \\", "\x7f\xff\x80",
                "pull 'localhost:5000/busybox:1.36': manifest unknown",
        };
        for (size_t i = 0; i < ARRAY_SIZE(msgs); i++) {
                _cleanup_free_ char *e = encode(msgs[i]);
                for (const char *p = e; *p; p++)
                        assert_true(*p >= 0x20 && *p <= 0x7e);
                _cleanup_free_ char *d = decode(e, strlen(e));
                assert_string_equal(d, msgs[i]);
        }
        /* Every byte value 1..255. */
        char all[256];
        for (int i = 1; i < 256; i++)
                all[i - 1] = (char)i;
        all[255] = '\0';
        _cleanup_free_ char *e = encode(all);
        _cleanup_free_ char *d = decode(e, strlen(e));
        assert_memory_equal(d, all, 256);
}

/* ---- status table ------------------------------------------------------- */

static void test_status_names(void **state)
{
        static const struct {
                grpc_status status;
                const char *name;
        } names[] = {
                { GRPC_OK, "OK" },
                { GRPC_CANCELLED, "CANCELLED" },
                { GRPC_UNKNOWN, "UNKNOWN" },
                { GRPC_INVALID_ARGUMENT, "INVALID_ARGUMENT" },
                { GRPC_DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED" },
                { GRPC_NOT_FOUND, "NOT_FOUND" },
                { GRPC_ALREADY_EXISTS, "ALREADY_EXISTS" },
                { GRPC_PERMISSION_DENIED, "PERMISSION_DENIED" },
                { GRPC_RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED" },
                { GRPC_FAILED_PRECONDITION, "FAILED_PRECONDITION" },
                { GRPC_ABORTED, "ABORTED" },
                { GRPC_OUT_OF_RANGE, "OUT_OF_RANGE" },
                { GRPC_UNIMPLEMENTED, "UNIMPLEMENTED" },
                { GRPC_INTERNAL, "INTERNAL" },
                { GRPC_UNAVAILABLE, "UNAVAILABLE" },
                { GRPC_DATA_LOSS, "DATA_LOSS" },
                { GRPC_UNAUTHENTICATED, "UNAUTHENTICATED" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                assert_string_equal(grpc_status_name(names[i].status), names[i].name);
        assert_string_equal(grpc_status_name((grpc_status)17), "UNKNOWN");
        assert_string_equal(grpc_status_name((grpc_status)-1), "UNKNOWN");
        assert_string_equal(grpc_status_name((grpc_status)1000), "UNKNOWN");
}

static void test_status_mapping(void **state)
{
        static const struct {
                ocid_error_kind kind;
                grpc_status status;
        } table[] = {
                { OCID_OK, GRPC_OK },
                { OCID_ERR_INTERNAL, GRPC_INTERNAL },
                { OCID_ERR_INVALID, GRPC_INVALID_ARGUMENT },
                { OCID_ERR_NOT_FOUND, GRPC_NOT_FOUND },
                { OCID_ERR_EXISTS, GRPC_ALREADY_EXISTS },
                { OCID_ERR_PRECONDITION, GRPC_FAILED_PRECONDITION },
                { OCID_ERR_DEADLINE, GRPC_DEADLINE_EXCEEDED },
                { OCID_ERR_CANCELLED, GRPC_CANCELLED },
                { OCID_ERR_UNAVAILABLE, GRPC_UNAVAILABLE },
                { OCID_ERR_PERMISSION, GRPC_PERMISSION_DENIED },
                { OCID_ERR_RESOURCE, GRPC_RESOURCE_EXHAUSTED },
                { OCID_ERR_UNIMPLEMENTED, GRPC_UNIMPLEMENTED },
        };
        for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
                assert_int_equal(grpc_status_from_error(table[i].kind), table[i].status);
                /* Every kind survives the round trip through the wire. */
                assert_int_equal(grpc_status_to_error(table[i].status), table[i].kind);
        }
        /* Codes with no kind of their own. */
        assert_int_equal(grpc_status_to_error(GRPC_OUT_OF_RANGE), OCID_ERR_INVALID);
        assert_int_equal(grpc_status_to_error(GRPC_UNKNOWN), OCID_ERR_INTERNAL);
        assert_int_equal(grpc_status_to_error(GRPC_ABORTED), OCID_ERR_INTERNAL);
        assert_int_equal(grpc_status_to_error(GRPC_DATA_LOSS), OCID_ERR_INTERNAL);
        assert_int_equal(grpc_status_to_error(GRPC_UNAUTHENTICATED), OCID_ERR_PERMISSION);
        assert_int_equal(grpc_status_to_error((grpc_status)99), OCID_ERR_INTERNAL);
        assert_int_equal(grpc_status_from_error((ocid_error_kind)99), GRPC_INTERNAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_frame_header),
                cmocka_unit_test(test_frame_reader_every_chunk_size),
                cmocka_unit_test(test_frame_reader_many_in_one_chunk),
                cmocka_unit_test(test_frame_reader_idle_tracking),
                cmocka_unit_test(test_frame_reader_zero_length_alone),
                cmocka_unit_test(test_frame_reader_limit),
                cmocka_unit_test(test_frame_reader_compressed),
                cmocka_unit_test(test_frame_reader_invalid_flags),
                cmocka_unit_test(test_frame_reader_callback_failure),
                cmocka_unit_test(test_frame_reader_reuse_after_big),
                cmocka_unit_test(test_timeout_units),
                cmocka_unit_test(test_timeout_rounds_up),
                cmocka_unit_test(test_timeout_rejects),
                cmocka_unit_test(test_timeout_format),
                cmocka_unit_test(test_timeout_round_trip),
                cmocka_unit_test(test_message_encode),
                cmocka_unit_test(test_message_decode),
                cmocka_unit_test(test_message_round_trip),
                cmocka_unit_test(test_status_names),
                cmocka_unit_test(test_status_mapping),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
