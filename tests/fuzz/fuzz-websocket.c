/* libFuzzer target for stream/websocket.c: the frame reader every
 * WebSocket connection's bytes go through, and the Kubernetes channel
 * split on each message. Only LLVMFuzzerTestOneInput is defined, so the
 * file also links into replay.c.
 *
 * Input layout:
 *   byte 0      bit 0: role (0 server: frames must be masked, 1 client);
 *               bits 1-3: message bound selector; bits 4-6: callback
 *               failure selector (fail on that event, 0: never)
 *   byte 1      n, the number of chunk sizes that follow (n % 32)
 *   n bytes     chunk sizes, used in turn (0: an empty feed)
 *   the rest    the bytes of the connection
 *
 * Oracles beyond "no crash": fed whole and in chunks, the reader delivers
 * the same events and ends the same way (kind and close code); no message
 * exceeds the bound nor a control payload 125 bytes, text is UTF-8; a parsed
 * header re-encodes to the same bytes (lengths in shortest form); messages
 * re-encoded by us and read back come out the same; base64 channel
 * payloads re-encode to the message. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "stream/websocket.h"
#include "util/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
        ws_role role;
        size_t limit;
        unsigned fail_at;
        unsigned count;
        uint64_t hash;
        strbuf echo; /* every event re-encoded as the peer would send it */
} outcome;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
        const uint8_t *b = p;
        for (size_t i = 0; i < n; i++)
                h = (h ^ b[i]) * 0x100000001b3ull;
        return h;
}

static void check_channels(const uint8_t *msg, size_t len)
{
        static const ws_channel_protocol protos[] = { WS_CHANNEL_V1, WS_CHANNEL_V1_BASE64, WS_CHANNEL_V4,
                                                      WS_CHANNEL_V4_BASE64, WS_CHANNEL_V5 };
        for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
                strbuf scratch = STRBUF_INIT;
                ws_channel_message m;
                ocid_error err = OCID_ERROR_INIT;
                int r = ws_channel_split(protos[i], msg, len, &scratch, &m, &err);
                CHECK(r >= -1 && r <= 1);
                CHECK((r < 0) == (err.kind != OCID_OK));
                CHECK(r != 0 || len == 0);
                if (r == 1 && !m.close) {
                        strbuf back = STRBUF_INIT;
                        ws_channel_build(&back, protos[i], m.channel, m.data, m.len);
                        CHECK(back.len == len && memcmp(back.buf, msg, len) == 0);
                        strbuf_release(&back);
                }
                if (r == 1 && m.close) {
                        CHECK(protos[i] == WS_CHANNEL_V5 && len == 2);
                        strbuf back = STRBUF_INIT;
                        CHECK(ws_channel_close_build(&back, protos[i], m.channel) == 0);
                        CHECK(back.len == 2 && memcmp(back.buf, msg, 2) == 0);
                        strbuf_release(&back);
                }
                ocid_error_clear(&err);
                strbuf_release(&scratch);
        }
}

static int on_event(ws_opcode op, const uint8_t *msg, size_t len, void *userdata)
{
        outcome *o = userdata;
        CHECK(op == WS_OP_TEXT || op == WS_OP_BINARY || op == WS_OP_PING || op == WS_OP_PONG ||
              op == WS_OP_CLOSE);
        /* The bound is on data messages; control frames have their own. */
        if (op & 0x8)
                CHECK(len <= WS_MAX_CONTROL_PAYLOAD);
        else
                CHECK(len <= o->limit);
        if (op == WS_OP_TEXT)
                CHECK(ws_utf8_valid(msg, len));
        if (op == WS_OP_CLOSE) {
                uint16_t code;
                const char *reason;
                size_t rlen;
                ocid_error err = OCID_ERROR_INIT;
                CHECK(ws_close_parse(msg, len, &code, &reason, &rlen, &err) == 0);
        }
        o->count++;
        o->hash = fnv(o->hash, &op, sizeof(op));
        o->hash = fnv(o->hash, &len, sizeof(len));
        o->hash = fnv(o->hash, msg, len);
        if (op == WS_OP_TEXT || op == WS_OP_BINARY)
                check_channels(msg, len);
        static const uint8_t mask[4] = { 0xde, 0xad, 0xbe, 0xef };
        if (o->role == WS_ROLE_SERVER)
                ws_frame_encode_masked(&o->echo, true, op, mask, msg, len);
        else
                ws_frame_encode(&o->echo, op, msg, len);
        if (o->fail_at && o->count == o->fail_at)
                return -7;
        return 0;
}

typedef struct {
        int rc;
        ocid_error_kind kind;
        uint16_t close_code;
} result;

static result run(const uint8_t *stream, size_t len, const uint8_t *sizes, size_t n_sizes, outcome *o)
{
        ws_reader r;
        ws_reader_init(&r, o->role, o->limit);
        ocid_error err = OCID_ERROR_INIT;
        result res = { 0 };
        fuzz_chunks chunks = { .sizes = sizes, .n_sizes = n_sizes };
        size_t off = 0;
        while (off < len) {
                size_t n = fuzz_next_chunk(&chunks, len - off);
                res.rc = ws_reader_feed(&r, stream + off, n, on_event, o, &err);
                /* Never more buffered than the bound (the buffer doubles). */
                CHECK(r.message.alloc <= 2 * o->limit + 64);
                if (res.rc < 0)
                        break;
                off += n;
        }
        res.kind = err.kind;
        if (res.rc == -7) {
                CHECK(err.kind == OCID_OK);
        } else if (res.rc < 0) {
                CHECK(res.rc == -1);
                CHECK(err.kind == OCID_ERR_INVALID || err.kind == OCID_ERR_RESOURCE);
                CHECK(r.close_code == WS_CLOSE_PROTOCOL_ERROR || r.close_code == WS_CLOSE_INVALID_PAYLOAD ||
                      r.close_code == WS_CLOSE_TOO_BIG);
                CHECK((err.kind == OCID_ERR_RESOURCE) == (r.close_code == WS_CLOSE_TOO_BIG));
                res.close_code = r.close_code;
        } else {
                CHECK(res.rc == 0 && err.kind == OCID_OK);
        }
        CHECK((err.kind == OCID_OK) == (err.message == NULL));
        ocid_error_clear(&err);
        ws_reader_release(&r);
        return res;
}

static void check_header(const uint8_t *data, size_t size)
{
        for (int role = 0; role < 2; role++) {
                ws_frame_header h;
                ocid_error err = OCID_ERROR_INIT;
                int n = ws_frame_header_parse(data, size, (ws_role)role, &h, &err);
                CHECK(n >= -1 && n <= WS_MAX_FRAME_HEADER);
                if (n > 0) {
                        CHECK((size_t)n == h.header_len && (size_t)n <= size);
                        strbuf back = STRBUF_INIT;
                        ws_frame_header_encode(&back, h.fin, h.opcode, h.length, h.masked ? h.mask : NULL);
                        CHECK(back.len == (size_t)n && memcmp(back.buf, data, (size_t)n) == 0);
                        strbuf_release(&back);
                }
                ocid_error_clear(&err);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 2)
                return 0;
        static const size_t limits[] = { 1, 16, 125, 126, 1000, 65536, 65537, WS_DEFAULT_MAX_MESSAGE };
        outcome whole = {
                .role = (data[0] & 1) ? WS_ROLE_CLIENT : WS_ROLE_SERVER,
                .limit = limits[(data[0] >> 1) & 7],
                .fail_at = (data[0] >> 4) & 7,
                .hash = 14695981039346656037ull,
        };
        strbuf_init(&whole.echo);
        outcome chunked = whole;
        strbuf_init(&chunked.echo);
        size_t n_sizes = data[1] % 32;
        const uint8_t *rest = data + 2;
        size_t rest_len = size - 2;
        if (n_sizes > rest_len)
                n_sizes = rest_len;
        const uint8_t *stream = rest + n_sizes;
        size_t len = rest_len - n_sizes;

        result a = run(stream, len, NULL, 0, &whole);
        result b = run(stream, len, rest, n_sizes, &chunked);
        CHECK(a.rc == b.rc);
        CHECK(a.kind == b.kind);
        CHECK(a.close_code == b.close_code);
        CHECK(whole.count == chunked.count);
        CHECK(whole.hash == chunked.hash);

        /* What was read, re-encoded by us, reads back the same. */
        outcome again = {
                .role = whole.role,
                .limit = whole.limit,
                .hash = 14695981039346656037ull,
        };
        strbuf_init(&again.echo);
        result c = run((const uint8_t *)whole.echo.buf, whole.echo.len, NULL, 0, &again);
        CHECK(c.rc == 0);
        CHECK(again.count == whole.count);
        CHECK(again.hash == whole.hash);

        check_header(stream, len);
        strbuf_release(&whole.echo);
        strbuf_release(&chunked.echo);
        strbuf_release(&again.echo);
        return 0;
}
