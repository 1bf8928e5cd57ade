#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "stream/websocket.h"
#include "util/cleanup.h"
#include "util/strbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers -------------------------------------------------------------- */

#define MAX_EVENTS 64

typedef struct {
        size_t n;
        ws_opcode op[MAX_EVENTS];
        strbuf data[MAX_EVENTS];
        int fail_at; /* 1-based event to fail on; 0: never */
} events;

static int collect(ws_opcode op, const uint8_t *data, size_t len, void *userdata)
{
        events *e = userdata;
        assert_true(e->n < MAX_EVENTS);
        strbuf_init(&e->data[e->n]);
        strbuf_add(&e->data[e->n], data, len);
        e->op[e->n] = op;
        e->n++;
        if (e->fail_at && (int)e->n == e->fail_at)
                return -42;
        return 0;
}

static void events_release(events *e)
{
        for (size_t i = 0; i < e->n; i++)
                strbuf_release(&e->data[i]);
        e->n = 0;
}

static strbuf hex(const char *h)
{
        strbuf sb = STRBUF_INIT;
        for (size_t i = 0; h[i] && h[i + 1]; i += 2) {
                char b[3] = { h[i], h[i + 1], 0 };
                strbuf_addch(&sb, (char)strtoul(b, NULL, 16));
        }
        return sb;
}

/* Feed in chunks of `chunk` bytes. */
static int feed(ws_reader *r, const strbuf *in, size_t chunk, events *e, ocid_error *err)
{
        for (size_t off = 0; off < in->len;) {
                size_t n = in->len - off < chunk ? in->len - off : chunk;
                int q = ws_reader_feed(r, (const uint8_t *)in->buf + off, n, collect, e, err);
                if (q < 0)
                        return q;
                off += n;
        }
        return 0;
}

/* Expect input to fail a reader of role (max_message 1000) with kind, the
 * close code and a message containing want, fed whole and byte by byte. */
static void expect_fail(ws_role role, const strbuf *in, ocid_error_kind kind, uint16_t code, const char *want)
{
        static const size_t chunks[] = { 1, 3, SIZE_MAX };
        for (size_t c = 0; c < ARRAY_SIZE(chunks); c++) {
                ws_reader r;
                ws_reader_init(&r, role, 1000);
                events e = { 0 };
                ocid_error err = OCID_ERROR_INIT;
                assert_int_equal(feed(&r, in, chunks[c], &e, &err), -1);
                if (err.kind != kind || !strstr(err.message, want) || r.close_code != code)
                        fail_msg("got %s '%s' close %u; want %s '%s' close %u", ocid_error_kind_name(err.kind),
                                 err.message, r.close_code, ocid_error_kind_name(kind), want, code);
                ocid_error_clear(&err);
                events_release(&e);
                ws_reader_release(&r);
        }
}

static void expect_fail_hex(ws_role role, const char *h, ocid_error_kind kind, uint16_t code, const char *want)
{
        strbuf in = hex(h);
        expect_fail(role, &in, kind, code, want);
        strbuf_release(&in);
}

static const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* ---- RFC 6455 section 5.7 examples ----------------------------------------------- */

static void test_rfc_examples(void **state)
{
        ws_reader r;
        events e = { 0 };
        ocid_error err = OCID_ERROR_INIT;

        /* A single-frame masked text message, as a client sends it. */
        ws_reader_init(&r, WS_ROLE_SERVER, 0);
        strbuf in = hex("818537fa213d7f9f4d5158");
        assert_int_equal(feed(&r, &in, SIZE_MAX, &e, &err), 0);
        assert_int_equal(e.n, 1);
        assert_int_equal(e.op[0], WS_OP_TEXT);
        assert_string_equal(e.data[0].buf, "Hello");
        assert_true(ws_reader_idle(&r));
        events_release(&e);
        strbuf_release(&in);
        /* A masked pong. */
        in = hex("8a8537fa213d7f9f4d5158");
        assert_int_equal(feed(&r, &in, 1, &e, &err), 0);
        assert_int_equal(e.op[0], WS_OP_PONG);
        assert_string_equal(e.data[0].buf, "Hello");
        events_release(&e);
        strbuf_release(&in);
        ws_reader_release(&r);

        /* Unmasked, as a server sends: single, fragmented, ping, 256 and
         * 64 KiB binary. */
        ws_reader_init(&r, WS_ROLE_CLIENT, 0);
        in = hex("810548656c6c6f" "010348656c" "80026c6f" "890548656c6c6f");
        assert_int_equal(feed(&r, &in, 2, &e, &err), 0);
        assert_int_equal(e.n, 3);
        assert_string_equal(e.data[0].buf, "Hello");
        assert_int_equal(e.op[1], WS_OP_TEXT);
        assert_string_equal(e.data[1].buf, "Hello");
        assert_int_equal(e.op[2], WS_OP_PING);
        events_release(&e);
        strbuf_release(&in);

        in = hex("827e0100");
        for (int i = 0; i < 256; i++)
                strbuf_addch(&in, (char)i);
        strbuf tmp = hex("827f0000000000010000");
        strbuf_add(&in, tmp.buf, tmp.len);
        strbuf_release(&tmp);
        for (int i = 0; i < 65536; i++)
                strbuf_addch(&in, (char)(i * 7));
        assert_int_equal(feed(&r, &in, 1000, &e, &err), 0);
        assert_int_equal(e.n, 2);
        assert_int_equal(e.data[0].len, 256);
        assert_int_equal((uint8_t)e.data[0].buf[255], 255);
        assert_int_equal(e.data[1].len, 65536);
        assert_int_equal((uint8_t)e.data[1].buf[65535], (uint8_t)(65535 * 7));
        events_release(&e);
        strbuf_release(&in);
        ws_reader_release(&r);
}

/* Frames written by an independent encoder (Python's websockets 10.4,
 * mask 01020304): a k8s stdin message, a fragmented text message with a
 * ping in between, 200 bytes with a 16-bit length, a Close. */
static void test_interop_vectors(void **state)
{
        ws_reader r;
        ws_reader_init(&r, WS_ROLE_SERVER, 0);
        events e = { 0 };
        ocid_error err = OCID_ERROR_INIT;
        strbuf in = hex("828701020304016e70242c6e09"
                        "01860102030469c1aa686d6d"
                        "8982010203047172"
                        "8087010203042175c0b2736e67"
                        "82fe00c8010203040103010705070503090b090f0d0f0d0b1113111715171513191b191f1d1f1d1b"
                        "2123212725272523292b292f2d2f2d2b3133313735373533393b393f3d3f3d3b4143414745474543"
                        "494b494f4d4f4d4b5153515755575553595b595f5d5f5d5b6163616765676563696b696f6d6f6d6b"
                        "7173717775777573797b797f7d7f7d7b8183818785878583898b898f8d8f8d8b9193919795979593"
                        "999b999f9d9f9d9ba1a3a1a7a5a7a5a3a9aba9afadafadabb1b3b1b7b5b7b5b3b9bbb9bfbdbfbdbb"
                        "c1c3c1c7c5c7c5c3"
                        "88850102030402ea617d64");
        assert_int_equal(feed(&r, &in, 5, &e, &err), 0);
        assert_int_equal(e.n, 5);
        assert_int_equal(e.op[0], WS_OP_BINARY);
        assert_memory_equal(e.data[0].buf, "\0ls -l\n", 7);
        assert_int_equal(e.op[1], WS_OP_PING);
        assert_string_equal(e.data[1].buf, "pp");
        assert_int_equal(e.op[2], WS_OP_TEXT);
        assert_string_equal(e.data[2].buf, "h\xc3\xa9llo w\xc3\xb6rld");
        assert_int_equal(e.op[3], WS_OP_BINARY);
        assert_int_equal(e.data[3].len, 200);
        for (int i = 0; i < 200; i++)
                assert_int_equal((uint8_t)e.data[3].buf[i], i);
        assert_int_equal(e.op[4], WS_OP_CLOSE);
        uint16_t code;
        const char *reason;
        size_t rlen;
        assert_int_equal(ws_close_parse((const uint8_t *)e.data[4].buf, e.data[4].len, &code, &reason, &rlen, &err), 0);
        assert_int_equal(code, 1000);
        assert_int_equal(rlen, 3);
        assert_memory_equal(reason, "bye", 3);
        assert_true(r.closed);
        events_release(&e);
        strbuf_release(&in);
        ws_reader_release(&r);

        /* Our server frames are byte for byte what that encoder writes. */
        strbuf out = STRBUF_INIT;
        ws_channel_frame(&out, WS_CHANNEL_V4, 1, "hello", 5);
        ws_channel_frame(&out, WS_CHANNEL_V4_BASE64, 1, "hello", 5);
        ws_close_encode(&out, 1011, "internal");
        ws_frame_encode(&out, WS_OP_PONG, NULL, 0);
        in = hex("82060168656c6c6f" "810931614756736247383d" "880a03f3696e7465726e616c" "8a00");
        assert_int_equal(out.len, in.len);
        assert_memory_equal(out.buf, in.buf, in.len);
        strbuf_reset(&out);
        strbuf_release(&in);
        ws_frame_header_encode(&out, true, WS_OP_BINARY, 126, NULL);
        ws_frame_header_encode(&out, true, WS_OP_BINARY, 65536, NULL);
        in = hex("827e007e" "827f0000000000010000");
        assert_memory_equal(out.buf, in.buf, in.len);
        strbuf_release(&in);
        strbuf_release(&out);
}

/* ---- round trips --------------------------------------------------------------- */

static void test_round_trip(void **state)
{
        static const size_t sizes[] = { 0, 1, 125, 126, 127, 65535, 65536, 100000 };
        static const size_t chunks[] = { 1, 7, 4096, SIZE_MAX };
        strbuf payload = STRBUF_INIT;
        for (size_t i = 0; i < 100000; i++)
                strbuf_addch(&payload, (char)(i * 31 + 7));

        strbuf client = STRBUF_INIT, server = STRBUF_INIT;
        for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
                ws_frame_encode_masked(&client, true, WS_OP_BINARY, mask, payload.buf, sizes[s]);
                ws_frame_encode(&server, WS_OP_BINARY, payload.buf, sizes[s]);
        }
        for (size_t c = 0; c < ARRAY_SIZE(chunks); c++) {
                for (int role = 0; role < 2; role++) {
                        ws_reader r;
                        ws_reader_init(&r, role ? WS_ROLE_CLIENT : WS_ROLE_SERVER, 100000);
                        events e = { 0 };
                        ocid_error err = OCID_ERROR_INIT;
                        assert_int_equal(feed(&r, role ? &server : &client, chunks[c], &e, &err), 0);
                        assert_int_equal(e.n, ARRAY_SIZE(sizes));
                        for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
                                assert_int_equal(e.op[s], WS_OP_BINARY);
                                assert_int_equal(e.data[s].len, sizes[s]);
                                if (sizes[s])
                                        assert_memory_equal(e.data[s].buf, payload.buf, sizes[s]);
                        }
                        assert_true(ws_reader_idle(&r));
                        events_release(&e);
                        ws_reader_release(&r);
                }
        }

        /* A message in fragments, with control frames between them, and a
         * character split across fragments. */
        strbuf_reset(&client);
        ws_frame_encode_masked(&client, false, WS_OP_TEXT, mask, "caf\xc3", 4);
        ws_frame_encode_masked(&client, true, WS_OP_PING, mask, "p1", 2);
        ws_frame_encode_masked(&client, false, WS_OP_CONTINUATION, mask, "", 0);
        ws_frame_encode_masked(&client, true, WS_OP_PONG, mask, "", 0);
        ws_frame_encode_masked(&client, true, WS_OP_CONTINUATION, mask, "\xa9!", 2);
        ws_frame_encode_masked(&client, true, WS_OP_BINARY, mask, "", 0);
        for (size_t c = 0; c < ARRAY_SIZE(chunks); c++) {
                ws_reader r;
                ws_reader_init(&r, WS_ROLE_SERVER, 0);
                events e = { 0 };
                ocid_error err = OCID_ERROR_INIT;
                assert_int_equal(feed(&r, &client, chunks[c], &e, &err), 0);
                assert_int_equal(e.n, 4);
                assert_int_equal(e.op[0], WS_OP_PING);
                assert_int_equal(e.op[1], WS_OP_PONG);
                assert_int_equal(e.op[2], WS_OP_TEXT);
                assert_string_equal(e.data[2].buf, "caf\xc3\xa9!");
                assert_int_equal(e.op[3], WS_OP_BINARY);
                assert_int_equal(e.data[3].len, 0);
                events_release(&e);
                ws_reader_release(&r);
        }
        strbuf_release(&client);
        strbuf_release(&server);
        strbuf_release(&payload);
}

static void test_header_parse(void **state)
{
        ws_frame_header h;
        ocid_error err = OCID_ERROR_INIT;
        const uint8_t partial[] = { 0x82, 0xfe, 0x01 };
        assert_int_equal(ws_frame_header_parse(partial, 0, WS_ROLE_SERVER, &h, &err), 0);
        assert_int_equal(ws_frame_header_parse(partial, 1, WS_ROLE_SERVER, &h, &err), 0);
        assert_int_equal(ws_frame_header_parse(partial, 3, WS_ROLE_SERVER, &h, &err), 0);
        const uint8_t full[] = { 0x02, 0xfe, 0x01, 0x00, 1, 2, 3, 4 };
        assert_int_equal(ws_frame_header_parse(full, 7, WS_ROLE_SERVER, &h, &err), 0);
        assert_int_equal(ws_frame_header_parse(full, 8, WS_ROLE_SERVER, &h, &err), 8);
        assert_false(h.fin);
        assert_int_equal(h.opcode, WS_OP_BINARY);
        assert_true(h.masked);
        assert_int_equal(h.length, 256);
        assert_memory_equal(h.mask, "\x01\x02\x03\x04", 4);
        assert_int_equal(err.kind, OCID_OK);
}

/* ---- the "Bad input" list: malformed and oversized frames ------------------------ */

static void test_malformed_frames(void **state)
{
        expect_fail_hex(WS_ROLE_SERVER, "810548656c6c6f", OCID_ERR_INVALID, 1002, "unmasked websocket frame from a client");
        expect_fail_hex(WS_ROLE_CLIENT, "818537fa213d7f9f4d5158", OCID_ERR_INVALID, 1002, "masked websocket frame from a server");
        expect_fail_hex(WS_ROLE_SERVER, "c18000000000", OCID_ERR_INVALID, 1002, "reserved bits 0x40 set");
        expect_fail_hex(WS_ROLE_SERVER, "918000000000", OCID_ERR_INVALID, 1002, "reserved bits 0x10 set");
        expect_fail_hex(WS_ROLE_SERVER, "838000000000", OCID_ERR_INVALID, 1002, "unknown opcode 0x3");
        expect_fail_hex(WS_ROLE_SERVER, "8b8000000000", OCID_ERR_INVALID, 1002, "unknown opcode 0xb");
        expect_fail_hex(WS_ROLE_SERVER, "098000000000", OCID_ERR_INVALID, 1002, "fragmented websocket control frame");
        expect_fail_hex(WS_ROLE_SERVER, "89fe007e", OCID_ERR_INVALID, 1002, "longer than 125 bytes");
        expect_fail_hex(WS_ROLE_SERVER, "82fe007d00000000", OCID_ERR_INVALID, 1002, "length 125 not in its shortest form");
        expect_fail_hex(WS_ROLE_SERVER, "82ff000000000000ffff00000000", OCID_ERR_INVALID, 1002,
                        "length 65535 not in its shortest form");
        expect_fail_hex(WS_ROLE_SERVER, "82ff800000000000000000000000", OCID_ERR_INVALID, 1002, "top bit set");
        expect_fail_hex(WS_ROLE_SERVER, "808100000000aa", OCID_ERR_INVALID, 1002, "continuation frame without a message");
        expect_fail_hex(WS_ROLE_SERVER, "018100000000aa" "818100000000aa", OCID_ERR_INVALID, 1002,
                        "data frame (opcode 0x1) inside a fragmented message");
        /* Text that is not UTF-8: overlong, surrogate, truncated. */
        expect_fail_hex(WS_ROLE_SERVER, "818200000000c080", OCID_ERR_INVALID, 1007, "not UTF-8");
        expect_fail_hex(WS_ROLE_SERVER, "818300000000eda080", OCID_ERR_INVALID, 1007, "not UTF-8");
        expect_fail_hex(WS_ROLE_SERVER, "018100000000e2" "808100000000" "82", OCID_ERR_INVALID, 1007, "not UTF-8");
        /* Close frames. */
        expect_fail_hex(WS_ROLE_SERVER, "88810000000003", OCID_ERR_INVALID, 1002, "1-byte payload");
        expect_fail_hex(WS_ROLE_SERVER, "88820000000003ed", OCID_ERR_INVALID, 1002, "invalid code 1005");
        expect_fail_hex(WS_ROLE_SERVER, "8882000000000000", OCID_ERR_INVALID, 1002, "invalid code 0");
        expect_fail_hex(WS_ROLE_SERVER, "888200000000138c", OCID_ERR_INVALID, 1002, "invalid code 5004");
        expect_fail_hex(WS_ROLE_SERVER, "88830000000003e8ff", OCID_ERR_INVALID, 1007, "reason that is not UTF-8");
        expect_fail_hex(WS_ROLE_SERVER, "8880000000008180000000", OCID_ERR_INVALID, 1002, "data after a close frame");
}

static void test_oversized(void **state)
{
        /* One frame over the bound (1000 in expect_fail): refused from its
         * header, before any payload arrives. */
        expect_fail_hex(WS_ROLE_SERVER, "82fe03e900000000", OCID_ERR_RESOURCE, 1009,
                        "websocket message exceeds 1000 bytes (0 buffered, frame of 1001)");
        expect_fail_hex(WS_ROLE_SERVER, "82ff7fffffffffffffff00000000", OCID_ERR_RESOURCE, 1009, "exceeds 1000 bytes");
        /* Fragments adding up past it. */
        strbuf in = STRBUF_INIT;
        char buf[600] = { 0 };
        ws_frame_encode_masked(&in, false, WS_OP_BINARY, mask, buf, 600);
        ws_frame_encode_masked(&in, true, WS_OP_CONTINUATION, mask, buf, 401);
        expect_fail(WS_ROLE_SERVER, &in, OCID_ERR_RESOURCE, 1009, "(600 buffered, frame of 401)");
        strbuf_release(&in);

        /* Exactly the bound passes. */
        ws_reader r;
        ws_reader_init(&r, WS_ROLE_SERVER, 1000);
        ws_frame_encode_masked(&in, false, WS_OP_BINARY, mask, buf, 600);
        ws_frame_encode_masked(&in, true, WS_OP_CONTINUATION, mask, buf, 400);
        events e = { 0 };
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(feed(&r, &in, SIZE_MAX, &e, &err), 0);
        assert_int_equal(e.data[0].len, 1000);
        events_release(&e);
        ws_reader_release(&r);
        strbuf_release(&in);
}

static void test_callback_failure(void **state)
{
        strbuf in = STRBUF_INIT;
        ws_frame_encode_masked(&in, true, WS_OP_BINARY, mask, "a", 1);
        ws_frame_encode_masked(&in, true, WS_OP_PING, mask, "b", 1);
        ws_frame_encode_masked(&in, true, WS_OP_BINARY, mask, "c", 1);
        ws_reader r;
        ws_reader_init(&r, WS_ROLE_SERVER, 0);
        events e = { .fail_at = 2 };
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(ws_reader_feed(&r, (const uint8_t *)in.buf, in.len, collect, &e, &err), -42);
        assert_int_equal(e.n, 2);
        assert_int_equal(err.kind, OCID_OK);
        events_release(&e);
        ws_reader_release(&r);
        strbuf_release(&in);
}

static void test_utf8_and_close(void **state)
{
        static const struct {
                const char *s;
                bool ok;
        } cases[] = {
                { "", true },
                { "plain", true },
                { "\xc2\x80", true },
                { "\xe2\x82\xac", true },
                { "\xf0\x9f\x98\x80", true },
                { "\xf4\x8f\xbf\xbf", true },
                { "\xc0\x80", false },
                { "\xc1\xbf", false },
                { "\xe0\x9f\xbf", false },
                { "\xed\xa0\x80", false },
                { "\xf4\x90\x80\x80", false },
                { "\xf8\x88\x80\x80\x80", false },
                { "\xe2\x82", false },
                { "\x80", false },
                { "\xc2\x41", false },
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
                assert_int_equal(ws_utf8_valid((const uint8_t *)cases[i].s, strlen(cases[i].s)), cases[i].ok);

        /* A long reason is cut at a character boundary. */
        strbuf reason = STRBUF_INIT;
        for (int i = 0; i < 100; i++)
                strbuf_adds(&reason, "\xc3\xa9");
        strbuf out = STRBUF_INIT;
        ws_close_encode(&out, WS_CLOSE_POLICY, reason.buf);
        assert_int_equal((uint8_t)out.buf[1], 124); /* 2 + 61 characters of 2 bytes */
        ws_reader r;
        ws_reader_init(&r, WS_ROLE_CLIENT, 0);
        events e = { 0 };
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(feed(&r, &out, SIZE_MAX, &e, &err), 0);
        uint16_t code;
        const char *why;
        size_t wlen;
        assert_int_equal(ws_close_parse((const uint8_t *)e.data[0].buf, e.data[0].len, &code, &why, &wlen, &err), 0);
        assert_int_equal(code, WS_CLOSE_POLICY);
        assert_int_equal(wlen, 122);
        events_release(&e);
        ws_reader_release(&r);

        strbuf_reset(&out);
        ws_close_encode(&out, WS_CLOSE_NO_STATUS, "ignored");
        assert_int_equal(out.len, 2);
        assert_memory_equal(out.buf, "\x88\x00", 2);
        assert_int_equal(ws_close_parse(NULL, 0, &code, &why, &wlen, &err), 0);
        assert_int_equal(code, WS_CLOSE_NO_STATUS);
        assert_null(why);
        strbuf_release(&out);
        strbuf_release(&reason);
}

/* ---- channel subprotocols ------------------------------------------------------- */

static void test_channel_protocols(void **state)
{
        ws_channel_protocol p;
        assert_int_equal(ws_channel_protocol_from_name("", &p), 0);
        assert_int_equal(p, WS_CHANNEL_V1);
        assert_int_equal(ws_channel_protocol_from_name(NULL, &p), 0);
        assert_int_equal(p, WS_CHANNEL_V1);
        assert_int_equal(ws_channel_protocol_from_name("v5.channel.k8s.io", &p), 0);
        assert_int_equal(p, WS_CHANNEL_V5);
        assert_int_equal(ws_channel_protocol_from_name("base64.channel.k8s.io", &p), 0);
        assert_int_equal(p, WS_CHANNEL_V1_BASE64);
        assert_true(ws_channel_protocol_is_base64(p));
        assert_int_equal(ws_channel_protocol_from_name("v4.base64.channel.k8s.io", &p), 0);
        assert_int_equal(p, WS_CHANNEL_V4_BASE64);
        assert_int_equal(ws_channel_protocol_from_name("v3.channel.k8s.io", &p), -EINVAL);
        assert_int_equal(ws_channel_protocol_from_name("V4.channel.k8s.io", &p), -EINVAL);
        assert_string_equal(ws_channel_protocol_name(WS_CHANNEL_V4), "v4.channel.k8s.io");
}

static void test_channel_split(void **state)
{
        strbuf scratch = STRBUF_INIT;
        ws_channel_message m;
        ocid_error err = OCID_ERROR_INIT;

        assert_int_equal(ws_channel_split(WS_CHANNEL_V4, (const uint8_t *)"\x01hello", 6, &scratch, &m, &err), 1);
        assert_int_equal(m.channel, 1);
        assert_false(m.close);
        assert_int_equal(m.len, 5);
        assert_memory_equal(m.data, "hello", 5);
        assert_int_equal(ws_channel_split(WS_CHANNEL_V4, (const uint8_t *)"\x04", 1, &scratch, &m, &err), 1);
        assert_int_equal(m.channel, WS_CHANNEL_RESIZE);
        assert_int_equal(m.len, 0);
        assert_int_equal(ws_channel_split(WS_CHANNEL_V4, (const uint8_t *)"", 0, &scratch, &m, &err), 0);

        /* v5: channel 255 closes the channel in the next byte; before v5 it
         * is just a channel number. */
        assert_int_equal(ws_channel_split(WS_CHANNEL_V5, (const uint8_t *)"\xff\x00", 2, &scratch, &m, &err), 1);
        assert_true(m.close);
        assert_int_equal(m.channel, WS_CHANNEL_STDIN);
        assert_int_equal(ws_channel_split(WS_CHANNEL_V4, (const uint8_t *)"\xff\x00", 2, &scratch, &m, &err), 1);
        assert_false(m.close);
        assert_int_equal(m.channel, 255);
        assert_int_equal(ws_channel_split(WS_CHANNEL_V5, (const uint8_t *)"\xff", 1, &scratch, &m, &err), -1);
        assert_string_equal(err.message, "v5 close signal of 1 bytes (want 2: 255 and a channel)");
        ocid_error_clear(&err);
        assert_int_equal(ws_channel_split(WS_CHANNEL_V5, (const uint8_t *)"\xff\x00\x01", 3, &scratch, &m, &err), -1);
        ocid_error_clear(&err);

        /* base64 variants. */
        assert_int_equal(ws_channel_split(WS_CHANNEL_V1_BASE64, (const uint8_t *)"1aGVsbG8=", 9, &scratch, &m, &err), 1);
        assert_int_equal(m.channel, 1);
        assert_int_equal(m.len, 5);
        assert_memory_equal(m.data, "hello", 5);
        assert_int_equal(ws_channel_split(WS_CHANNEL_V4_BASE64, (const uint8_t *)"0", 1, &scratch, &m, &err), 1);
        assert_int_equal(m.channel, 0);
        assert_int_equal(m.len, 0);
        assert_int_equal(ws_channel_split(WS_CHANNEL_V1_BASE64, (const uint8_t *)"\x01" "aGVsbG8=", 9, &scratch, &m, &err), -1);
        assert_string_equal(err.message, "base64.channel.k8s.io message with channel byte 0x01, not a digit");
        ocid_error_clear(&err);
        assert_int_equal(ws_channel_split(WS_CHANNEL_V1_BASE64, (const uint8_t *)"1aGVsbG8", 8, &scratch, &m, &err), -1);
        assert_string_equal(err.message, "base64.channel.k8s.io message on channel 1: malformed base64 payload");
        ocid_error_clear(&err);
        strbuf_release(&scratch);
}

static void test_channel_build(void **state)
{
        static const ws_channel_protocol protos[] = { WS_CHANNEL_V1, WS_CHANNEL_V1_BASE64, WS_CHANNEL_V4,
                                                      WS_CHANNEL_V4_BASE64, WS_CHANNEL_V5 };
        static const char *payloads[] = { "", "x", "ab", "abc", "{\"Width\":80,\"Height\":24}" };
        for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
                for (size_t k = 0; k < ARRAY_SIZE(payloads); k++) {
                        /* A whole frame, read back as a client would. */
                        strbuf frame = STRBUF_INIT, scratch = STRBUF_INIT;
                        size_t plen = strlen(payloads[k]);
                        ws_channel_frame(&frame, protos[i], (uint8_t)k, payloads[k], plen);
                        ws_reader r;
                        ws_reader_init(&r, WS_ROLE_CLIENT, 0);
                        events e = { 0 };
                        ocid_error err = OCID_ERROR_INIT;
                        assert_int_equal(feed(&r, &frame, SIZE_MAX, &e, &err), 0);
                        assert_int_equal(e.n, 1);
                        assert_int_equal(e.op[0], ws_channel_protocol_is_base64(protos[i]) ? WS_OP_TEXT : WS_OP_BINARY);
                        ws_channel_message m;
                        assert_int_equal(ws_channel_split(protos[i], (const uint8_t *)e.data[0].buf, e.data[0].len,
                                                          &scratch, &m, &err), 1);
                        assert_int_equal(m.channel, k);
                        assert_int_equal(m.len, plen);
                        if (plen)
                                assert_memory_equal(m.data, payloads[k], plen);
                        events_release(&e);
                        ws_reader_release(&r);
                        strbuf_release(&frame);
                        strbuf_release(&scratch);
                }
        }
        strbuf out = STRBUF_INIT;
        assert_int_equal(ws_channel_close_build(&out, WS_CHANNEL_V5, WS_CHANNEL_STDIN), 0);
        assert_memory_equal(out.buf, "\xff\x00", 2);
        assert_int_equal(ws_channel_close_build(&out, WS_CHANNEL_V4, WS_CHANNEL_STDIN), -EINVAL);
        assert_int_equal(out.len, 2);
        strbuf_release(&out);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rfc_examples),
                cmocka_unit_test(test_interop_vectors),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_header_parse),
                cmocka_unit_test(test_malformed_frames),
                cmocka_unit_test(test_oversized),
                cmocka_unit_test(test_callback_failure),
                cmocka_unit_test(test_utf8_and_close),
                cmocka_unit_test(test_channel_protocols),
                cmocka_unit_test(test_channel_split),
                cmocka_unit_test(test_channel_build),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
