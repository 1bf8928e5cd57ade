#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "stream/base64.h"
#include "stream/http.h"
#include "util/cleanup.h"
#include "util/strbuf.h"

#include <errno.h>
#include <string.h>

/* What kubectl's SPDY round tripper sends for `kubectl exec -i`. */
static const char spdy_request[] =
        "POST /exec/tok3n?command=sh&command=-c&command=echo%20hi+there&input=1&output=1&tty=0 HTTP/1.1\r\n"
        "Host: 127.0.0.1:10010\r\n"
        "User-Agent: kubectl/v1.29.0\r\n"
        "Content-Length: 0\r\n"
        "Connection: Upgrade\r\n"
        "Upgrade: SPDY/3.1\r\n"
        "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
        "X-Stream-Protocol-Version: v3.channel.k8s.io\r\n"
        "X-Stream-Protocol-Version: v2.channel.k8s.io\r\n"
        "X-Stream-Protocol-Version: channel.k8s.io\r\n"
        "\r\n";

/* RFC 6455 section 1.3, with Kubernetes subprotocols. */
static const char ws_request[] =
        "GET /attach/abc?token=x%2By HTTP/1.1\r\n"
        "Host: server.example.com\r\n"
        "Upgrade: websocket\r\n"
        "Connection: keep-alive, Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Protocol: base64.channel.k8s.io, v4.channel.k8s.io\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "\r\n";

static int parse(const char *s, http_request *req, ocid_error *err)
{
        return http_request_parse(s, strlen(s), req, err);
}

/* Parse s; expect failure of kind with a message containing `want`. */
static void expect_fail(const char *s, ocid_error_kind kind, const char *want)
{
        http_request req;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(parse(s, &req, &err), -1);
        if (err.kind != kind || !strstr(err.message, want))
                fail_msg("request %s: got %s '%s', want %s containing '%s'", s,
                         ocid_error_kind_name(err.kind), err.message, ocid_error_kind_name(kind), want);
        assert_null(req.method);
        ocid_error_clear(&err);

        /* The incremental parser gives the same answer. */
        http_parser p;
        http_parser_init(&p);
        size_t used;
        int r = http_parser_feed(&p, (const uint8_t *)s, strlen(s), &used, &req, &err);
        /* Without a terminator the parser waits for more (empty lines
         * before the request line are skipped). */
        if (r == 0) {
                if (!strstr(want, "terminated") && !strstr(want, "LF") && !strstr(want, "empty request"))
                        fail_msg("request %s: parser wants more bytes", s);
        } else {
                assert_int_equal(r, -1);
                assert_int_equal(err.kind, kind);
        }
        ocid_error_clear(&err);
        http_parser_release(&p);
}

static void test_spdy_request(void **state)
{
        http_request req;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(parse(spdy_request, &req, &err), 0);
        assert_string_equal(req.method, "POST");
        assert_string_equal(req.path, "/exec/tok3n");
        assert_int_equal(req.version, 11);
        assert_string_equal(req.query, "command=sh&command=-c&command=echo%20hi+there&input=1&output=1&tty=0");
        assert_int_equal(req.n_params, 6);
        assert_string_equal(req.params[2].name, "command");
        assert_string_equal(req.params[2].value, "echo hi there");
        assert_string_equal(http_request_param(&req, "command"), "sh");
        assert_string_equal(http_request_param(&req, "tty"), "0");
        assert_null(http_request_param(&req, "TTY"));
        assert_string_equal(http_request_header(&req, "host"), "127.0.0.1:10010");
        assert_string_equal(http_request_header(&req, "UPGRADE"), "SPDY/3.1");
        assert_null(http_request_header(&req, "Sec-WebSocket-Key"));
        assert_int_equal(http_request_header_count(&req, "x-stream-protocol-version"), 4);
        assert_true(http_request_header_has_token(&req, "connection", "upgrade"));

        http_upgrade up;
        const char *key = "unset";
        assert_int_equal(http_request_upgrade(&req, &up, &key, &err), 0);
        assert_int_equal(up, HTTP_UPGRADE_SPDY);
        assert_null(key);

        const char *proto;
        assert_int_equal(http_negotiate(&req, HTTP_STREAM_PROTOCOL_HEADER,
                                        http_spdy_remotecommand_protocols, &proto, &err), 1);
        assert_string_equal(proto, "v4.channel.k8s.io");

        strbuf out = STRBUF_INIT;
        http_response_spdy_upgrade(&out, proto);
        assert_string_equal(out.buf, "HTTP/1.1 101 Switching Protocols\r\n"
                                     "Connection: Upgrade\r\n"
                                     "Upgrade: SPDY/3.1\r\n"
                                     "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
                                     "\r\n");
        strbuf_reset(&out);
        http_response_spdy_upgrade(&out, NULL);
        assert_null(strstr(out.buf, "X-Stream"));
        strbuf_release(&out);
        http_request_release(&req);
        http_request_release(&req); /* idempotent */
}

static void test_websocket_request(void **state)
{
        http_request req;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(parse(ws_request, &req, &err), 0);
        assert_string_equal(http_request_param(&req, "token"), "x+y");
        http_upgrade up;
        const char *key;
        assert_int_equal(http_request_upgrade(&req, &up, &key, &err), 0);
        assert_int_equal(up, HTTP_UPGRADE_WEBSOCKET);
        assert_string_equal(key, "dGhlIHNhbXBsZSBub25jZQ==");

        /* The server's preference wins over the client's order. */
        const char *proto;
        assert_int_equal(http_negotiate(&req, HTTP_WEBSOCKET_PROTOCOL_HEADER,
                                        http_websocket_remotecommand_protocols, &proto, &err), 1);
        assert_string_equal(proto, "v4.channel.k8s.io");

        strbuf out = STRBUF_INIT;
        http_response_websocket_upgrade(&out, key, proto);
        assert_string_equal(out.buf, "HTTP/1.1 101 Switching Protocols\r\n"
                                     "Upgrade: websocket\r\n"
                                     "Connection: Upgrade\r\n"
                                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                     "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n"
                                     "\r\n");
        strbuf_release(&out);
        http_request_release(&req);
}

static void test_websocket_accept_vector(void **state)
{
        char accept[29];
        http_websocket_accept("dGhlIHNhbXBsZSBub25jZQ==", accept);
        assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_incremental_every_chunk_size(void **state)
{
        /* The head and, after it, the first bytes of the upgraded protocol. */
        strbuf stream = STRBUF_INIT;
        strbuf_adds(&stream, "\r\n"); /* an empty line first is skipped */
        strbuf_adds(&stream, spdy_request);
        size_t head_len = stream.len;
        strbuf_add(&stream, "\x80\x03\x00\x01", 4);

        for (size_t chunk = 1; chunk <= stream.len; chunk++) {
                http_parser p;
                http_parser_init(&p);
                http_request req;
                ocid_error err = OCID_ERROR_INIT;
                size_t off = 0;
                int r = 0;
                while (off < stream.len) {
                        size_t n = stream.len - off < chunk ? stream.len - off : chunk;
                        size_t used;
                        r = http_parser_feed(&p, (const uint8_t *)stream.buf + off, n, &used, &req, &err);
                        assert_true(r >= 0);
                        assert_true(used <= n);
                        off += used;
                        if (r == 1)
                                break;
                        assert_int_equal(used, n);
                }
                assert_int_equal(r, 1);
                assert_int_equal(off, head_len);
                assert_string_equal(req.path, "/exec/tok3n");
                assert_int_equal(req.n_headers, 9);
                http_request_release(&req);

                /* Fed again: refused. */
                size_t used;
                assert_int_equal(http_parser_feed(&p, (const uint8_t *)"x", 1, &used, &req, &err), -1);
                assert_int_equal(err.kind, OCID_ERR_INTERNAL);
                ocid_error_clear(&err);
                http_parser_release(&p);
        }
        strbuf_release(&stream);
}

static void test_leading_crlf_split(void **state)
{
        http_parser p;
        http_parser_init(&p);
        http_request req;
        ocid_error err = OCID_ERROR_INIT;
        size_t used;
        assert_int_equal(http_parser_feed(&p, (const uint8_t *)"\r", 1, &used, &req, &err), 0);
        assert_int_equal(http_parser_feed(&p, (const uint8_t *)"\n\r", 2, &used, &req, &err), 0);
        const char *rest = "\nGET / HTTP/1.0\r\n\r\n";
        assert_int_equal(http_parser_feed(&p, (const uint8_t *)rest, strlen(rest), &used, &req, &err), 1);
        assert_int_equal(used, strlen(rest));
        assert_int_equal(req.version, 10);
        assert_null(req.query);
        assert_int_equal(req.n_params, 0);
        http_request_release(&req);
        http_parser_release(&p);
}

static void test_fields(void **state)
{
        http_request req;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(parse("GET http://Host:1/p/q?a=1#", &req, &err), -1); /* fragment */
        ocid_error_clear(&err);
        assert_int_equal(parse("GET http://h:1?k=v HTTP/1.1\r\n"
                               "host: h:1\r\n"
                               "X-Folded: first\r\n"
                               " \t second part \r\n"
                               "\tthird\r\n"
                               "X-Empty:\r\n"
                               "X-Spaces:  \t padded value \t \r\n"
                               "X-List: a, b\r\n"
                               "x-list: ,, C ,\r\n"
                               "X-Obs-Text: caf\xc3\xa9\r\n"
                               "\r\n",
                               &req, &err),
                         0);
        assert_string_equal(req.path, "/"); /* absolute-form without a path */
        assert_string_equal(http_request_param(&req, "k"), "v");
        assert_string_equal(http_request_header(&req, "X-Folded"), "first second part third");
        assert_string_equal(http_request_header(&req, "x-empty"), "");
        assert_string_equal(http_request_header(&req, "X-Spaces"), "padded value");
        assert_string_equal(http_request_header(&req, "X-Obs-Text"), "caf\xc3\xa9");
        assert_int_equal(http_request_header_count(&req, "X-LIST"), 2);
        assert_true(http_request_header_has_token(&req, "x-list", "a"));
        assert_true(http_request_header_has_token(&req, "x-list", "B"));
        assert_true(http_request_header_has_token(&req, "x-list", "c"));
        assert_false(http_request_header_has_token(&req, "x-list", ""));
        assert_false(http_request_header_has_token(&req, "x-list", "a, b"));
        http_request_release(&req);

        assert_true(http_list_has_token("keep-alive,Upgrade", "upgrade"));
        assert_false(http_list_has_token("keep-alive,Upgrades", "upgrade"));
        assert_false(http_list_has_token("", "upgrade"));
}

static void test_query(void **state)
{
        http_request req;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(parse("GET /pf/t?&token=a%2Fb+c&flag&empty=&x=%41%62&=v&&port=80&port=443 HTTP/1.1\r\n"
                               "Host: h\r\n\r\n",
                               &req, &err),
                         0);
        assert_int_equal(req.n_params, 7);
        assert_string_equal(http_request_param(&req, "token"), "a/b c");
        assert_string_equal(http_request_param(&req, "flag"), "");
        assert_string_equal(http_request_param(&req, "empty"), "");
        assert_string_equal(http_request_param(&req, "x"), "Ab");
        assert_string_equal(http_request_param(&req, ""), "v");
        assert_string_equal(req.params[5].value, "80");
        assert_string_equal(req.params[6].value, "443");
        http_request_release(&req);

        strbuf sb = STRBUF_INIT;
        assert_int_equal(http_percent_decode(&sb, "a+b%20", 6, false), 0);
        assert_string_equal(sb.buf, "a+b ");
        assert_int_equal(http_percent_decode(&sb, "%4", 2, false), -EINVAL);
        assert_int_equal(http_percent_decode(&sb, "%00", 3, false), -EINVAL);
        assert_int_equal(http_percent_decode(&sb, "%g0", 3, false), -EINVAL);
        assert_string_equal(sb.buf, "a+b "); /* untouched by failures */
        strbuf_release(&sb);
}

/* The "Bad input" list: malformed requests, each refused with a message
 * naming the problem. */
static void test_malformed(void **state)
{
        expect_fail("GET /\r\n\r\n", OCID_ERR_INVALID, "is not 'METHOD TARGET VERSION'");
        expect_fail("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", OCID_ERR_INVALID, "malformed request line");
        expect_fail("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", OCID_ERR_INVALID, "malformed HTTP version");
        expect_fail("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", OCID_ERR_INVALID, "malformed request line");
        expect_fail("GET / HTTP/1.1x\r\nHost: h\r\n\r\n", OCID_ERR_INVALID, "malformed HTTP version");
        expect_fail("GET / http/1.1\r\nHost: h\r\n\r\n", OCID_ERR_INVALID, "malformed HTTP version");
        expect_fail("GET / HTTP/2.0\r\nHost: h\r\n\r\n", OCID_ERR_UNIMPLEMENTED, "unsupported HTTP version 'HTTP/2.0'");
        expect_fail("GET / HTTP/1.1\nHost: h\n\n", OCID_ERR_INVALID, "bare LF");
        expect_fail("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", OCID_ERR_INVALID, "bare CR");
        expect_fail("GET / HTTP/1.1\r\nHost: h\r\nX: a\nY: b\r\n\r\n", OCID_ERR_INVALID, "bare LF");
        /* Found by fuzzing: a bare LF after an unsupported version is
         * reported the same whether the head came whole or in pieces. */
        expect_fail("GET / HTTP/0.1\r\nHost: h\r\nX: a\n\nY: b\r\n\r\n", OCID_ERR_INVALID, "bare LF");
        expect_fail("GET * HTTP/1.1\r\nHost: h\r\n\r\n", OCID_ERR_INVALID, "neither a path nor an http URL");
        expect_fail("GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n", OCID_ERR_INVALID, "neither a path");
        expect_fail("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", OCID_ERR_INVALID, "no authority");
        expect_fail("GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", OCID_ERR_INVALID, "fragment");
        expect_fail("GET /a HTTP/1.1\r\nHost h\r\n\r\n", OCID_ERR_INVALID, "has no colon");
        expect_fail("GET /a HTTP/1.1\r\nHost : h\r\n\r\n", OCID_ERR_INVALID, "whitespace between name and colon");
        expect_fail("GET /a HTTP/1.1\r\n: h\r\nHost: h\r\n\r\n", OCID_ERR_INVALID, "empty name");
        expect_fail("GET /a HTTP/1.1\r\nH{st: h\r\n\r\n", OCID_ERR_INVALID, "malformed header name");
        expect_fail("GET /a HTTP/1.1\r\n folded: x\r\nHost: h\r\n\r\n", OCID_ERR_INVALID,
                    "whitespace before the first header field");
        expect_fail("GET /a HTTP/1.1\r\nHost: h\x01\r\n\r\n", OCID_ERR_INVALID, "control character 0x01");
        expect_fail("GET /a HTTP/1.1\r\nHost: h\x7f\r\n\r\n", OCID_ERR_INVALID, "control character 0x7f");
        expect_fail("GET /a HTTP/1.1\r\nX: a\r\n \x02\r\nHost: h\r\n\r\n", OCID_ERR_INVALID, "control character");
        expect_fail("GET /a HTTP/1.1\r\nX: y\r\n\r\n", OCID_ERR_INVALID, "without Host");
        expect_fail("GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", OCID_ERR_INVALID, "more than one Host");
        expect_fail("GET /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", OCID_ERR_INVALID,
                    "request bodies are not accepted (Transfer-Encoding 'chunked')");
        expect_fail("GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", OCID_ERR_INVALID,
                    "request bodies are not accepted (Content-Length '5')");
        expect_fail("GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: -0\r\n\r\n",
                    OCID_ERR_INVALID, "Content-Length '-0'");
        expect_fail("GET /a HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", OCID_ERR_INVALID, "Content-Length ''");
        expect_fail("GET /a?token=%zz HTTP/1.1\r\nHost: a\r\n\r\n", OCID_ERR_INVALID,
                    "query parameter 'token=%zz': malformed percent-escape");
        expect_fail("GET /a?token=ab%00cd HTTP/1.1\r\nHost: a\r\n\r\n", OCID_ERR_INVALID, "malformed percent-escape");
        expect_fail("GET /a?%0 HTTP/1.1\r\nHost: a\r\n\r\n", OCID_ERR_INVALID, "malformed percent-escape");
        expect_fail("\r\n\r\n", OCID_ERR_INVALID, "empty request");

        /* Only for the one-shot parser: its input must be the head exactly. */
        http_request req;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\nxx", &req, &err), -1);
        assert_non_null(strstr(err.message, "2 bytes after the request head"));
        ocid_error_clear(&err);
        assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n", &req, &err), -1);
        assert_non_null(strstr(err.message, "not terminated"));
        ocid_error_clear(&err);
        assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\0\r\n\r\n", &req, &err), -1);
        ocid_error_clear(&err);
        assert_int_equal(http_request_parse("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 29, &req, &err), -1);
        assert_non_null(strstr(err.message, "NUL"));
        ocid_error_clear(&err);
}

static void test_bounds(void **state)
{
        /* 100 fields pass, 101 do not. */
        strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "GET / HTTP/1.1\r\nHost: h\r\n");
        for (int i = 1; i < HTTP_MAX_HEADERS; i++)
                strbuf_addf(&sb, "X-%d: v\r\n", i);
        strbuf_adds(&sb, "\r\n");
        http_request req;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(http_request_parse(sb.buf, sb.len, &req, &err), 0);
        assert_int_equal(req.n_headers, HTTP_MAX_HEADERS);
        http_request_release(&req);
        sb.len -= 2;
        strbuf_adds(&sb, "X-Last: v\r\n\r\n");
        assert_int_equal(http_request_parse(sb.buf, sb.len, &req, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_RESOURCE);
        assert_string_equal(err.message, "more than 100 header fields");
        ocid_error_clear(&err);

        /* Query parameters. */
        strbuf_reset(&sb);
        strbuf_adds(&sb, "GET /?p0");
        for (int i = 1; i <= HTTP_MAX_PARAMS; i++)
                strbuf_addf(&sb, "&p%d", i);
        strbuf_adds(&sb, " HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_int_equal(http_request_parse(sb.buf, sb.len, &req, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_RESOURCE);
        ocid_error_clear(&err);

        /* A head past 16 KiB is refused without buffering more than that,
         * whether it comes in one feed or many. */
        strbuf_reset(&sb);
        strbuf_adds(&sb, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
        while (sb.len < 3 * HTTP_MAX_HEAD)
                strbuf_adds(&sb, "aaaaaaaaaaaaaaaa");
        for (size_t chunk = 1000; chunk <= sb.len; chunk *= 7) {
                http_parser p;
                http_parser_init(&p);
                int r = 0;
                for (size_t off = 0; off < sb.len && r == 0;) {
                        size_t n = sb.len - off < chunk ? sb.len - off : chunk;
                        size_t used;
                        r = http_parser_feed(&p, (const uint8_t *)sb.buf + off, n, &used, &req, &err);
                        off += used;
                        assert_true(p.head.len <= HTTP_MAX_HEAD);
                }
                assert_int_equal(r, -1);
                assert_int_equal(err.kind, OCID_ERR_RESOURCE);
                assert_string_equal(err.message, "request head exceeds 16384 bytes");
                ocid_error_clear(&err);
                http_parser_release(&p);
        }
        assert_int_equal(http_request_parse(sb.buf, sb.len, &req, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_RESOURCE);
        ocid_error_clear(&err);

        /* Exactly 16 KiB is fine. */
        strbuf_reset(&sb);
        strbuf_adds(&sb, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
        while (sb.len < HTTP_MAX_HEAD - 4)
                strbuf_addch(&sb, 'a');
        strbuf_adds(&sb, "\r\n\r\n");
        assert_int_equal(sb.len, HTTP_MAX_HEAD);
        http_parser p;
        http_parser_init(&p);
        size_t used;
        assert_int_equal(http_parser_feed(&p, (const uint8_t *)sb.buf, sb.len, &used, &req, &err), 1);
        assert_int_equal(used, sb.len);
        http_request_release(&req);
        http_parser_release(&p);
        strbuf_release(&sb);
}

/* Upgrade requests that parse but cannot be served. */
static void expect_upgrade_fail(const char *s, const char *want)
{
        http_request req;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(parse(s, &req, &err), 0);
        http_upgrade up = HTTP_UPGRADE_SPDY;
        assert_int_equal(http_request_upgrade(&req, &up, NULL, &err), -1);
        assert_int_equal(up, HTTP_UPGRADE_NONE);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        if (!strstr(err.message, want))
                fail_msg("got '%s', want '%s'", err.message, want);
        ocid_error_clear(&err);
        http_request_release(&req);
}

static void test_malformed_upgrades(void **state)
{
#define WS_HEAD "Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        expect_upgrade_fail("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
                            "unsupported upgrade 'h2c' (want SPDY/3.1 or websocket)");
        expect_upgrade_fail("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: SPDY/3\r\nConnection: Upgrade\r\n\r\n",
                            "unsupported upgrade 'SPDY/3'");
        expect_upgrade_fail("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: SPDY/3.1\r\n\r\n",
                            "without 'Connection: Upgrade'");
        expect_upgrade_fail("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: SPDY/3.1\r\nConnection: keep-alive\r\n\r\n",
                            "without 'Connection: Upgrade'");
        expect_upgrade_fail("PUT / HTTP/1.1\r\nHost: h\r\nUpgrade: SPDY/3.1\r\nConnection: upgrade\r\n\r\n",
                            "SPDY upgrade with method 'PUT'");
        expect_upgrade_fail("GET / HTTP/1.0\r\nUpgrade: SPDY/3.1\r\nConnection: upgrade\r\n\r\n",
                            "upgrade needs HTTP/1.1");
        expect_upgrade_fail("POST / HTTP/1.1\r\n" WS_HEAD "Sec-WebSocket-Version: 13\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                            "websocket upgrade with method 'POST' (want GET)");
        expect_upgrade_fail("GET / HTTP/1.1\r\n" WS_HEAD "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                            "without Sec-WebSocket-Version");
        expect_upgrade_fail("GET / HTTP/1.1\r\n" WS_HEAD "Sec-WebSocket-Version: 8\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                            "unsupported Sec-WebSocket-Version '8' (want 13)");
        expect_upgrade_fail("GET / HTTP/1.1\r\n" WS_HEAD "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 8\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                            "and others");
        expect_upgrade_fail("GET / HTTP/1.1\r\n" WS_HEAD "Sec-WebSocket-Version: 13\r\n\r\n",
                            "without Sec-WebSocket-Key");
        expect_upgrade_fail("GET / HTTP/1.1\r\n" WS_HEAD "Sec-WebSocket-Version: 13\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: x\r\n\r\n",
                            "more than one Sec-WebSocket-Key");
        expect_upgrade_fail("GET / HTTP/1.1\r\n" WS_HEAD "Sec-WebSocket-Version: 13\r\n"
                            "Sec-WebSocket-Key: c2hvcnQ=\r\n\r\n",
                            "Sec-WebSocket-Key 'c2hvcnQ=' is not 16 base64-encoded bytes");
        expect_upgrade_fail("GET / HTTP/1.1\r\n" WS_HEAD "Sec-WebSocket-Version: 13\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n\r\n",
                            "not 16 base64-encoded bytes");

        /* No Upgrade at all: a plain request, not an error. */
        http_request req;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n\r\n", &req, &err), 0);
        http_upgrade up;
        assert_int_equal(http_request_upgrade(&req, &up, NULL, &err), 0);
        assert_int_equal(up, HTTP_UPGRADE_NONE);
        http_request_release(&req);

        /* Several protocols offered: the first one served here. */
        assert_int_equal(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
                               "Upgrade: h2c, spdy/3.1, websocket\r\n\r\n", &req, &err), 0);
        assert_int_equal(http_request_upgrade(&req, &up, NULL, &err), 0);
        assert_int_equal(up, HTTP_UPGRADE_SPDY);
        http_request_release(&req);
#undef WS_HEAD
}

static void test_negotiation(void **state)
{
        http_request req;
        ocid_error err = OCID_ERROR_INIT;
        const char *proto;

        assert_int_equal(parse("GET / HTTP/1.1\r\nHost: h\r\n"
                               "X-Stream-Protocol-Version: channel.k8s.io\r\n"
                               "X-Stream-Protocol-Version: v5.channel.k8s.io,v2.channel.k8s.io\r\n\r\n",
                               &req, &err), 0);
        assert_int_equal(http_negotiate(&req, HTTP_STREAM_PROTOCOL_HEADER,
                                        http_spdy_remotecommand_protocols, &proto, &err), 1);
        assert_string_equal(proto, "v5.channel.k8s.io");
        http_request_release(&req);

        /* Nothing offered: the caller falls back to the unversioned protocol. */
        assert_int_equal(parse("GET / HTTP/1.1\r\nHost: h\r\nX-Stream-Protocol-Version: , \r\n\r\n", &req, &err), 0);
        proto = "unset";
        assert_int_equal(http_negotiate(&req, HTTP_STREAM_PROTOCOL_HEADER,
                                        http_spdy_remotecommand_protocols, &proto, &err), 0);
        assert_null(proto);
        http_request_release(&req);

        /* Unknown subprotocols: negotiation fails, naming both sides; names
         * compare exactly. */
        assert_int_equal(parse("GET / HTTP/1.1\r\nHost: h\r\n"
                               "Sec-WebSocket-Protocol: v9.channel.k8s.io, V4.CHANNEL.K8S.IO\r\n\r\n",
                               &req, &err), 0);
        assert_int_equal(http_negotiate(&req, HTTP_WEBSOCKET_PROTOCOL_HEADER,
                                        http_websocket_remotecommand_protocols, &proto, &err), -1);
        assert_null(proto);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        assert_string_equal(err.message,
                            "none of the offered protocols 'v9.channel.k8s.io', 'V4.CHANNEL.K8S.IO' is supported "
                            "(supported: 'v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', "
                            "'channel.k8s.io', 'base64.channel.k8s.io')");
        strbuf out = STRBUF_INIT;
        http_response_negotiation_failed(&out, http_spdy_remotecommand_protocols, err.message);
        assert_true(strncmp(out.buf, "HTTP/1.1 403 Forbidden\r\n", 24) == 0);
        assert_non_null(strstr(out.buf, "\r\nX-Accepted-Stream-Protocol-Versions: v5.channel.k8s.io,"
                                        "v4.channel.k8s.io,v3.channel.k8s.io,v2.channel.k8s.io,channel.k8s.io\r\n"));
        strbuf_release(&out);
        ocid_error_clear(&err);

        assert_int_equal(http_negotiate(&req, HTTP_WEBSOCKET_PROTOCOL_HEADER,
                                        http_spdy_portforward_protocols, &proto, &err), -1);
        ocid_error_clear(&err);
        http_request_release(&req);
}

static void test_error_responses(void **state)
{
        strbuf out = STRBUF_INIT;
        http_response_error(&out, 404, "exec session 'x' not found", NULL);
        assert_string_equal(out.buf, "HTTP/1.1 404 Not Found\r\n"
                                     "Content-Type: text/plain; charset=utf-8\r\n"
                                     "X-Content-Type-Options: nosniff\r\n"
                                     "Connection: close\r\n"
                                     "Content-Length: 27\r\n"
                                     "\r\n"
                                     "exec session 'x' not found\n");
        strbuf_reset(&out);

        /* Nothing a client put in a message can add a header line. */
        const char *extra[] = { "Sec-WebSocket-Version", "13\r\nX-Evil: 1", NULL };
        http_response_error(&out, 400, "bad\r\nX-Injected: 1", extra);
        assert_null(strstr(out.buf, "\r\nX-Injected"));
        assert_null(strstr(out.buf, "\r\nX-Evil"));
        assert_non_null(strstr(out.buf, "\r\nSec-WebSocket-Version: 13  X-Evil: 1\r\n"));
        assert_true(strncmp(out.buf, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
        strbuf_reset(&out);

        /* Long messages are cut. */
        char big[2000];
        memset(big, 'm', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        http_response_error(&out, 403, big, NULL);
        assert_non_null(strstr(out.buf, "Content-Length: 513\r\n"));
        strbuf_reset(&out);
        http_response_error(&out, 418, NULL, NULL);
        assert_true(strncmp(out.buf, "HTTP/1.1 418 Unknown\r\n", 22) == 0);
        strbuf_release(&out);

        assert_int_equal(http_status_from_error(OCID_ERR_INVALID), 400);
        assert_int_equal(http_status_from_error(OCID_ERR_PERMISSION), 403);
        assert_int_equal(http_status_from_error(OCID_ERR_NOT_FOUND), 404);
        assert_int_equal(http_status_from_error(OCID_ERR_RESOURCE), 431);
        assert_int_equal(http_status_from_error(OCID_ERR_UNIMPLEMENTED), 505);
        assert_int_equal(http_status_from_error(OCID_ERR_INTERNAL), 500);
        assert_string_equal(http_status_reason(101), "Switching Protocols");
        assert_string_equal(http_status_reason(431), "Request Header Fields Too Large");
}

static void check_b64(const char *plain, const char *enc)
{
        strbuf sb = STRBUF_INIT;
        base64_encode(&sb, plain, strlen(plain));
        assert_string_equal(sb.buf, enc);
        strbuf_reset(&sb);
        assert_int_equal(base64_decode(&sb, enc, strlen(enc)), 0);
        assert_int_equal(sb.len, strlen(plain));
        assert_memory_equal(sb.buf, plain, sb.len);
        strbuf_release(&sb);
}

static void test_base64(void **state)
{
        /* RFC 4648 section 10. */
        check_b64("", "");
        check_b64("f", "Zg==");
        check_b64("fo", "Zm8=");
        check_b64("foo", "Zm9v");
        check_b64("foob", "Zm9vYg==");
        check_b64("fooba", "Zm9vYmE=");
        check_b64("foobar", "Zm9vYmFy");
        check_b64("\xff\xfe\xfd", "//79");

        static const char *bad[] = { "Zg=", "Zh==", "Zm9=", "Zg==Zg==", "Z===", "====", "Zm9v\n", "@@@@",
                                     "Zm=v", "Zg=x" };
        strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "keep");
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                if (base64_decode(&sb, bad[i], strlen(bad[i])) != -EINVAL)
                        fail_msg("'%s' decoded", bad[i]);
                assert_string_equal(sb.buf, "keep");
        }
        strbuf_release(&sb);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spdy_request),
                cmocka_unit_test(test_websocket_request),
                cmocka_unit_test(test_websocket_accept_vector),
                cmocka_unit_test(test_incremental_every_chunk_size),
                cmocka_unit_test(test_leading_crlf_split),
                cmocka_unit_test(test_fields),
                cmocka_unit_test(test_query),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_bounds),
                cmocka_unit_test(test_malformed_upgrades),
                cmocka_unit_test(test_negotiation),
                cmocka_unit_test(test_error_responses),
                cmocka_unit_test(test_base64),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
