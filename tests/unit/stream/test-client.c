#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "stream/base64.h"
#include "stream/client.h"
#include "stream/http.h"
#include "stream/spdy.h"
#include "stream/websocket.h"
#include "util/cleanup.h"
#include "util/strbuf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- response heads ---------------------------------------------------------------- */

static int parse_head(const char *s, http_response_head *r, ocid_error *err)
{
        return http_response_head_parse(s, strlen(s), r, err);
}

static void test_head_upgrades(void **state)
{
        (void)state;
        http_response_head r;
        ocid_error err = OCID_ERROR_INIT;

        /* What the daemon's own builders write parses back. */
        strbuf sb = STRBUF_INIT;
        http_response_spdy_upgrade(&sb, "v4.channel.k8s.io");
        assert_int_equal(http_response_head_parse(sb.buf, sb.len, &r, &err), 0);
        assert_int_equal(r.status, 101);
        assert_int_equal(r.version, 11);
        assert_string_equal(r.reason, "Switching Protocols");
        assert_string_equal(http_response_head_header(&r, "x-stream-protocol-version"), "v4.channel.k8s.io");
        assert_true(http_response_head_has_token(&r, "Upgrade", "spdy/3.1"));
        assert_true(http_response_head_has_token(&r, "connection", "upgrade"));
        assert_null(http_response_head_header(&r, "Sec-WebSocket-Accept"));
        http_response_head_release(&r);
        strbuf_reset(&sb);

        http_response_websocket_upgrade(&sb, "dGhlIHNhbXBsZSBub25jZQ==", "v5.channel.k8s.io");
        assert_int_equal(http_response_head_parse(sb.buf, sb.len, &r, &err), 0);
        assert_string_equal(http_response_head_header(&r, "Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_string_equal(http_response_head_header(&r, "Sec-WebSocket-Protocol"), "v5.channel.k8s.io");
        http_response_head_release(&r);
        strbuf_reset(&sb);

        /* An error response: the head ends before the body. */
        http_response_error(&sb, 404, "no such token", NULL);
        http_response_parser p;
        http_response_parser_init(&p);
        size_t used;
        assert_int_equal(http_response_parser_feed(&p, (const uint8_t *)sb.buf, sb.len, &used, &r, &err), 1);
        assert_int_equal(r.status, 404);
        assert_string_equal(sb.buf + used, "no such token\n");
        assert_string_equal(http_response_head_header(&r, "Content-Length"), "14");
        http_response_head_release(&r);
        http_response_parser_release(&p);
        strbuf_release(&sb);
}

static void test_head_incremental(void **state)
{
        (void)state;
        static const char head[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: SPDY/3.1\r\n"
                                   "Connection: Upgrade\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n";
        static const char after[] = "\x80\x03\x00\x04";
        strbuf all = STRBUF_INIT;
        strbuf_adds(&all, head);
        strbuf_add(&all, after, 4);
        for (size_t chunk = 1; chunk <= all.len; chunk++) {
                http_response_parser p;
                http_response_parser_init(&p);
                http_response_head r;
                ocid_error err = OCID_ERROR_INIT;
                size_t consumed = 0;
                int q = 0;
                for (size_t off = 0; off < all.len && q == 0; off += chunk) {
                        size_t n = all.len - off < chunk ? all.len - off : chunk, used;
                        q = http_response_parser_feed(&p, (const uint8_t *)all.buf + off, n, &used, &r, &err);
                        consumed += used;
                        if (q == 0)
                                assert_int_equal(used, n);
                }
                assert_int_equal(q, 1);
                assert_int_equal(consumed, strlen(head));
                assert_int_equal(r.n_headers, 3);
                http_response_head_release(&r);
                http_response_parser_release(&p);
        }
        strbuf_release(&all);
}

static void test_head_lenient(void **state)
{
        (void)state;
        http_response_head r;
        ocid_error err = OCID_ERROR_INIT;
        /* Bare LF line ends, an empty reason without its SP, obs-fold. */
        assert_int_equal(parse_head("HTTP/1.0 101\nUpgrade: websocket\nX-A: one\n \t two \n\n", &r, &err), 0);
        assert_int_equal(r.version, 10);
        assert_string_equal(r.reason, "");
        assert_string_equal(http_response_head_header(&r, "x-a"), "one two");
        http_response_head_release(&r);
        /* A line end mixing both, and an empty value. */
        assert_int_equal(parse_head("HTTP/1.1 200 OK\nX-Empty:\r\n\r\n", &r, &err), 0);
        assert_string_equal(http_response_head_header(&r, "X-Empty"), "");
        http_response_head_release(&r);

        http_response_parser p;
        http_response_parser_init(&p);
        size_t used;
        static const char mixed[] = "HTTP/1.1 101 Yes\r\nA: b\n\r\nrest";
        assert_int_equal(http_response_parser_feed(&p, (const uint8_t *)mixed, strlen(mixed), &used, &r, &err), 1);
        assert_int_equal(used, strlen(mixed) - 4);
        http_response_head_release(&r);
        http_response_parser_release(&p);
}

static void expect_head_fail(const char *s, ocid_error_kind kind, const char *want)
{
        http_response_head r;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(parse_head(s, &r, &err), -1);
        if (err.kind != kind || !strstr(err.message, want))
                fail_msg("head %s: got %s '%s', want %s with '%s'", s, ocid_error_kind_name(err.kind), err.message,
                         ocid_error_kind_name(kind), want);
        assert_null(r.reason);
        assert_int_equal(r.n_headers, 0);
        ocid_error_clear(&err);
}

static void test_head_malformed(void **state)
{
        (void)state;
        expect_head_fail("HTTP/1.1 10 Short\r\n\r\n", OCID_ERR_INVALID, "status");
        expect_head_fail("HTTP/1.1 1a1 x\r\n\r\n", OCID_ERR_INVALID, "status code");
        expect_head_fail("HTTP/1.1 101x\r\n\r\n", OCID_ERR_INVALID, "status code");
        expect_head_fail("HTTP/1.1 099 x\r\n\r\n", OCID_ERR_INVALID, "status code");
        expect_head_fail("HTTP/2 101 x\r\n\r\n", OCID_ERR_INVALID, "status line");
        expect_head_fail("HTTP/1.2 101 x\r\n\r\n", OCID_ERR_UNIMPLEMENTED, "version");
        expect_head_fail("HTTP/2.0 101 x\r\n\r\n", OCID_ERR_UNIMPLEMENTED, "version");
        expect_head_fail("HTP/1.1 101 x\r\n\r\n", OCID_ERR_INVALID, "status line");
        expect_head_fail("\r\nHTTP/1.1 101 x\r\n\r\n", OCID_ERR_INVALID, "status line");
        expect_head_fail("HTTP/1.1 101 x\x01y\r\n\r\n", OCID_ERR_INVALID, "control character 0x01");
        expect_head_fail("HTTP/1.1 101 x\r\nBad Name: x\r\n\r\n", OCID_ERR_INVALID, "header line");
        expect_head_fail("HTTP/1.1 101 x\r\nName : x\r\n\r\n", OCID_ERR_INVALID, "header line");
        expect_head_fail("HTTP/1.1 101 x\r\n: x\r\n\r\n", OCID_ERR_INVALID, "header line");
        expect_head_fail("HTTP/1.1 101 x\r\nNoColon\r\n\r\n", OCID_ERR_INVALID, "header line");
        expect_head_fail("HTTP/1.1 101 x\r\n folded\r\n\r\n", OCID_ERR_INVALID, "whitespace before");
        expect_head_fail("HTTP/1.1 101 x\r\nA: b\rc\r\n\r\n", OCID_ERR_INVALID, "bare CR");
        expect_head_fail("HTTP/1.1 101 x\r\nA: b\x7f\r\n\r\n", OCID_ERR_INVALID, "control character 0x7f");
        expect_head_fail("HTTP/1.1 101 x\r\nA: b\r\n", OCID_ERR_INVALID, "not ended");
        expect_head_fail("HTTP/1.1 101 x\r\n\r\nextra", OCID_ERR_INVALID, "after");
        /* A NUL is a control character too. */
        http_response_head r;
        ocid_error err = OCID_ERROR_INIT;
        static const char nul[] = "HTTP/1.1 101 x\r\nA: b\0c\r\n\r\n";
        assert_int_equal(http_response_head_parse(nul, sizeof(nul) - 1, &r, &err), -1);
        assert_non_null(strstr(err.message, "0x00"));
        ocid_error_clear(&err);
}

static void test_head_bounds(void **state)
{
        (void)state;
        http_response_head r;
        ocid_error err = OCID_ERROR_INIT;
        strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "HTTP/1.1 101 x\r\n");
        for (int i = 0; i < HTTP_MAX_HEADERS; i++)
                strbuf_addf(&sb, "H%d: v\r\n", i);
        strbuf_adds(&sb, "\r\n");
        assert_int_equal(http_response_head_parse(sb.buf, sb.len, &r, &err), 0);
        assert_int_equal(r.n_headers, HTTP_MAX_HEADERS);
        http_response_head_release(&r);
        sb.len -= 2;
        strbuf_adds(&sb, "One: more\r\n\r\n");
        assert_int_equal(http_response_head_parse(sb.buf, sb.len, &r, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_RESOURCE);
        ocid_error_clear(&err);

        /* A head that never ends stops at the bound, without buffering
         * past it. */
        http_response_parser p;
        http_response_parser_init(&p);
        strbuf_reset(&sb);
        strbuf_adds(&sb, "HTTP/1.1 101 x\r\nX: ");
        while (sb.len < HTTP_MAX_HEAD + 100)
                strbuf_adds(&sb, "aaaaaaaaaaaaaaaa");
        int q = 0;
        size_t used;
        for (size_t off = 0; off < sb.len && q == 0; off += 1000)
                q = http_response_parser_feed(&p, (const uint8_t *)sb.buf + off,
                                              sb.len - off < 1000 ? sb.len - off : 1000, &used, &r, &err);
        assert_int_equal(q, -1);
        assert_int_equal(err.kind, OCID_ERR_RESOURCE);
        assert_true(p.head.len <= HTTP_MAX_HEAD);
        ocid_error_clear(&err);
        http_response_parser_release(&p);
        strbuf_release(&sb);
}

/* ---- URLs ------------------------------------------------------------------------------- */

static void expect_url(const char *url, bool tls, const char *host, const char *port, const char *authority,
                       const char *target)
{
        stream_url u;
        ocid_error err = OCID_ERROR_INIT;
        if (stream_url_parse(url, &u, &err) < 0)
                fail_msg("%s: %s", url, err.message);
        assert_int_equal(u.tls, tls);
        assert_string_equal(u.host, host);
        assert_string_equal(u.port, port);
        assert_string_equal(u.authority, authority);
        assert_string_equal(u.target, target);
        stream_url_release(&u);
}

static void test_urls(void **state)
{
        (void)state;
        expect_url("http://127.0.0.1:36555/exec/AbC_12", false, "127.0.0.1", "36555", "127.0.0.1:36555",
                   "/exec/AbC_12");
        expect_url("https://[::1]:10250/portforward/x?port=80&port=443", true, "::1", "10250", "[::1]:10250",
                   "/portforward/x?port=80&port=443");
        expect_url("http://node.example", false, "node.example", "80", "node.example", "/");
        expect_url("HTTPS://node.example?x=1", true, "node.example", "443", "node.example", "/?x=1");
        expect_url("http://[fe80::1]", false, "fe80::1", "80", "[fe80::1]", "/");

        static const char *bad[] = {
                "ftp://h/", "http://", "http:///x", "http://u@h/", "http://h:0/", "http://h:99999/",
                "http://h:12a/", "http://h:/", "http://[::1/", "http://[::1]x/", "http://h/a b", "http://h/#frag",
                "h:80/x", "",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                stream_url u;
                ocid_error err = OCID_ERROR_INIT;
                if (stream_url_parse(bad[i], &u, &err) == 0)
                        fail_msg("'%s' parsed", bad[i]);
                assert_int_equal(err.kind, OCID_ERR_INVALID);
                assert_null(u.host);
                ocid_error_clear(&err);
        }
}

/* ---- exit status --------------------------------------------------------------------------- */

static void expect_status(const char *json, int code, const char *message)
{
        char *msg;
        int r = stream_status_exit_code(json, strlen(json), &msg);
        if (r != code || (message == NULL) != (msg == NULL) || (message && !strstr(msg, message)))
                fail_msg("%s: got %d '%s', want %d '%s'", json, r, msg ? msg : "(null)", code,
                         message ? message : "(null)");
        free(msg);
}

static void test_status(void **state)
{
        (void)state;
        expect_status("{\"metadata\":{},\"status\":\"Success\"}", 0, NULL);
        expect_status("{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated with non-zero "
                      "exit code: error executing command [sh -c exit 7], exit code 7\",\"reason\":\"NonZeroExitCode\","
                      "\"details\":{\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"7\"}]}}",
                      7, NULL);
        expect_status("{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":["
                      "{\"reason\":\"Other\",\"message\":\"x\"},{\"reason\":\"ExitCode\",\"message\":\"255\"}]}}",
                      255, NULL);
        /* An exit code ocic cannot return as it is. */
        expect_status("{\"status\":\"Failure\",\"message\":\"odd\",\"reason\":\"NonZeroExitCode\","
                      "\"details\":{\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"300\"}]}}",
                      1, "odd");
        expect_status("{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":"
                      "[{\"reason\":\"ExitCode\",\"message\":\"seven\"}]}}",
                      1, "no message");
        expect_status("{\"metadata\":{},\"status\":\"Failure\",\"message\":\"container not running\","
                      "\"reason\":\"InternalError\"}",
                      1, "container not running");
        expect_status("not json", 1, "malformed exit status");
        expect_status("", 1, "malformed");
        expect_status("[]", 1, "malformed");
        expect_status("{\"status\":\"Success\"} {}", 1, "malformed");
        expect_status("{\"status\":7}", 1, "malformed");
}

/* ---- a fake streaming server on a thread ---------------------------------------------------- */

#define MAX_PEER_STREAMS 16

/* What the client opened and sent, as the server saw it. */
typedef struct {
        uint32_t id;            /* SPDY id; WebSocket channel */
        char type[16], port[8], request_id[12];
        uint8_t syn_flags;
        strbuf data;
        bool fin;
} peer_stream;

typedef struct fake fake;
struct fake {
        int listen_fd, fd;
        char url[128];
        void (*script)(fake *f);
        pthread_t thread;
        bool websocket;
        http_request req;
        strbuf early;
        spdy_reader *sr;
        spdy_writer *sw;
        ws_reader wr;
        ws_channel_protocol wsp;
        peer_stream streams[MAX_PEER_STREAMS];
        size_t n_streams;
        bool replied;           /* SPDY: SYN_REPLYs sent */
        uint64_t data_total;    /* SPDY: DATA payload bytes received */
        uint64_t window_stream, window_session; /* WINDOW_UPDATE deltas received */
        uint32_t last_ping;
        uint32_t initial_window; /* SETTINGS_INITIAL_WINDOW_SIZE received, 0: none */
        bool goaway, ws_close, eof;
        strbuf pong;
        char failure[256];
};

static void fake_fail(fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fake_fail(fake *f, const char *fmt, ...)
{
        if (f->failure[0])
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->failure, sizeof(f->failure), fmt, ap);
        va_end(ap);
}

static peer_stream *peer_by_id(fake *f, uint32_t id)
{
        for (size_t i = 0; i < f->n_streams; i++)
                if (f->streams[i].id == id)
                        return &f->streams[i];
        if (f->n_streams == MAX_PEER_STREAMS)
                return NULL;
        peer_stream *p = &f->streams[f->n_streams++];
        memset(p, 0, sizeof(*p));
        p->id = id;
        strbuf_init(&p->data);
        return p;
}

static void copy_header(const spdy_frame *fr, const char *name, char *out, size_t size)
{
        const char *v = spdy_frame_header(fr, name);
        snprintf(out, size, "%s", v ? v : "");
}

static int fake_spdy_frame(const spdy_frame *fr, void *userdata)
{
        fake *f = userdata;
        peer_stream *p;
        switch (fr->type) {
        case SPDY_SYN_STREAM:
                if (!(p = peer_by_id(f, fr->stream_id)))
                        return 0;
                copy_header(fr, "streamtype", p->type, sizeof(p->type));
                copy_header(fr, "port", p->port, sizeof(p->port));
                copy_header(fr, "requestid", p->request_id, sizeof(p->request_id));
                p->syn_flags = fr->flags;
                break;
        case SPDY_DATA:
                if (!(p = peer_by_id(f, fr->stream_id)))
                        return 0;
                if (p->fin)
                        fake_fail(f, "DATA on stream %u after its FIN", fr->stream_id);
                strbuf_add(&p->data, fr->data, fr->data_len);
                p->fin |= fr->flags & SPDY_FLAG_FIN;
                f->data_total += fr->data_len;
                break;
        case SPDY_WINDOW_UPDATE:
                if (fr->stream_id)
                        f->window_stream += fr->delta_window;
                else
                        f->window_session += fr->delta_window;
                break;
        case SPDY_PING:
                f->last_ping = fr->ping_id;
                break;
        case SPDY_SETTINGS:
                for (size_t i = 0; i < fr->n_settings; i++)
                        if (fr->settings[i].id == SPDY_SETTINGS_INITIAL_WINDOW_SIZE)
                                f->initial_window = fr->settings[i].value;
                break;
        case SPDY_GOAWAY:
                f->goaway = true;
                break;
        default:
                break;
        }
        return 0;
}

static int fake_ws_message(ws_opcode op, const uint8_t *data, size_t len, void *userdata)
{
        fake *f = userdata;
        if (op == WS_OP_CLOSE) {
                f->ws_close = true;
                return 0;
        }
        if (op == WS_OP_PONG) {
                strbuf_add(&f->pong, data, len);
                return 0;
        }
        if (op != WS_OP_BINARY && op != WS_OP_TEXT)
                return 0;
        if ((op == WS_OP_TEXT) != ws_channel_protocol_is_base64(f->wsp))
                fake_fail(f, "a %s message with %s", op == WS_OP_TEXT ? "text" : "binary",
                          ws_channel_protocol_name(f->wsp));
        strbuf scratch = STRBUF_INIT;
        ws_channel_message m;
        ocid_error err = OCID_ERROR_INIT;
        if (ws_channel_split(f->wsp, data, len, &scratch, &m, &err) == 1) {
                peer_stream *p = peer_by_id(f, m.channel);
                if (p && m.close)
                        p->fin = true;
                else if (p)
                        strbuf_add(&p->data, m.data, m.len);
        } else if (err.message) {
                fake_fail(f, "%s", err.message);
        }
        ocid_error_clear(&err);
        strbuf_release(&scratch);
        return 0;
}

static void fake_feed(fake *f, const uint8_t *data, size_t len)
{
        ocid_error err = OCID_ERROR_INIT;
        int r = f->websocket ? ws_reader_feed(&f->wr, data, len, fake_ws_message, f, &err)
                             : spdy_reader_feed(f->sr, data, len, fake_spdy_frame, f, &err);
        if (r < 0) {
                fake_fail(f, "reader: %s", err.message);
                f->eof = true;
        }
        ocid_error_clear(&err);
}

/* Read what the client sent for at most timeout_ms. */
static void fake_pump(fake *f, int timeout_ms)
{
        if (f->early.len) {
                fake_feed(f, (const uint8_t *)f->early.buf, f->early.len);
                strbuf_reset(&f->early);
        }
        struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
        if (f->eof || poll(&pfd, 1, timeout_ms) <= 0)
                return;
        uint8_t buf[65536];
        ssize_t n = read(f->fd, buf, sizeof(buf));
        if (n <= 0) {
                f->eof = true;
                return;
        }
        fake_feed(f, buf, (size_t)n);
}

#define FAKE_WAIT(f, cond)                                                   \
        ({                                                                   \
                int64_t end_ = mono_ms() + 5000;                             \
                while (!(cond) && !(f)->eof && mono_ms() < end_)             \
                        fake_pump((f), 20);                                  \
                (cond);                                                      \
        })

/* Pump for a while, whatever comes. */
static void fake_linger(fake *f, int ms)
{
        int64_t end = mono_ms() + ms;
        while (!f->eof && mono_ms() < end)
                fake_pump(f, 10);
}

static void fake_send(fake *f, const strbuf *sb)
{
        for (size_t off = 0; off < sb->len;) {
                ssize_t n = write(f->fd, sb->buf + off, sb->len - off);
                if (n <= 0) {
                        fake_fail(f, "write: %s", strerror(errno));
                        return;
                }
                off += (size_t)n;
        }
}

/* Accept one connection, read its request head, run the script. */
static void *fake_main(void *data)
{
        fake *f = data;
        struct pollfd pfd = { .fd = f->listen_fd, .events = POLLIN };
        if (poll(&pfd, 1, 5000) <= 0) {
                fake_fail(f, "no connection");
                return NULL;
        }
        f->fd = accept(f->listen_fd, NULL, NULL);
        http_parser p;
        http_parser_init(&p);
        ocid_error err = OCID_ERROR_INIT;
        int r = 0;
        while (r == 0) {
                uint8_t buf[4096];
                struct pollfd q = { .fd = f->fd, .events = POLLIN };
                ssize_t n = poll(&q, 1, 5000) > 0 ? read(f->fd, buf, sizeof(buf)) : -1;
                if (n <= 0) {
                        fake_fail(f, "no request");
                        break;
                }
                size_t used;
                r = http_parser_feed(&p, buf, (size_t)n, &used, &f->req, &err);
                if (r == 1)
                        strbuf_add(&f->early, buf + used, (size_t)n - used);
        }
        if (r < 0)
                fake_fail(f, "request: %s", err.message);
        ocid_error_clear(&err);
        http_parser_release(&p);
        if (r == 1)
                f->script(f);
        shutdown(f->fd, SHUT_RDWR);
        return NULL;
}

static void fake_start(fake *f, bool websocket, void (*script)(fake *f), const char *path)
{
        memset(f, 0, sizeof(*f));
        f->websocket = websocket;
        f->script = script;
        f->fd = -1;
        strbuf_init(&f->early);
        strbuf_init(&f->pong);
        f->sr = spdy_reader_new(SPDY_ROLE_SERVER, 0);
        f->sw = spdy_writer_new();
        ws_reader_init(&f->wr, WS_ROLE_SERVER, 0);
        f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(f->listen_fd, 4), 0);
        assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&sa, &len), 0);
        snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u%s", ntohs(sa.sin_port), path);
        assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

/* Join the server and release it; fails the test with what its script
 * found wrong. */
static void fake_finish(fake *f)
{
        pthread_join(f->thread, NULL);
        if (f->fd >= 0)
                close(f->fd);
        close(f->listen_fd);
        http_request_release(&f->req);
        strbuf_release(&f->early);
        strbuf_release(&f->pong);
        spdy_reader_free(f->sr);
        spdy_writer_free(f->sw);
        ws_reader_release(&f->wr);
        for (size_t i = 0; i < f->n_streams; i++)
                strbuf_release(&f->streams[i].data);
        if (f->failure[0])
                fail_msg("server: %s", f->failure);
}

static void spdy_reply_all(fake *f)
{
        strbuf out = STRBUF_INIT;
        ocid_error err = OCID_ERROR_INIT;
        for (size_t i = 0; i < f->n_streams; i++)
                if (f->streams[i].type[0])
                        assert_int_equal(spdy_writer_syn_reply(f->sw, &out, f->streams[i].id, 0, NULL, 0, &err), 0);
        f->replied = true;
        fake_send(f, &out);
        strbuf_release(&out);
}

static peer_stream *peer_by_type(fake *f, const char *type, size_t nth)
{
        for (size_t i = 0; i < f->n_streams; i++)
                if (STREQ(f->streams[i].type, type) && nth-- == 0)
                        return &f->streams[i];
        return NULL;
}

/* ---- the client's side of the tests ---------------------------------------------------------- */

typedef struct {
        stream_session *s;
        int ids[8];
        strbuf data[8];
        bool ended[8], reset[8];
        size_t n;
        bool consume;           /* give the windows back as data comes */
} sink;

static int sink_slot(sink *k, int id)
{
        for (size_t i = 0; i < k->n; i++)
                if (k->ids[i] == id)
                        return (int)i;
        assert_true(k->n < 8);
        k->ids[k->n] = id;
        strbuf_init(&k->data[k->n]);
        return (int)k->n++;
}

static void sink_data(void *userdata, int stream, const uint8_t *data, size_t len)
{
        sink *k = userdata;
        strbuf_add(&k->data[sink_slot(k, stream)], data, len);
        if (k->consume)
                stream_consumed(k->s, stream, len);
}

static void sink_end(void *userdata, int stream, bool reset)
{
        sink *k = userdata;
        int i = sink_slot(k, stream);
        k->ended[i] = true;
        k->reset[i] = reset;
}

static const stream_handlers sink_handlers = { .data = sink_data, .end = sink_end };

static const char *sink_text(sink *k, int id)
{
        return k->data[sink_slot(k, id)].buf;
}

static void sink_release(sink *k)
{
        for (size_t i = 0; i < k->n; i++)
                strbuf_release(&k->data[i]);
}

static stream_session *dial_window(const fake *f, stream_transport t, const char *const *protocols, sink *k,
                                   uint32_t window)
{
        stream_dial_options o = { .transport = t, .protocols = protocols, .timeout_ms = 5000, .recv_window = window };
        ocid_error err = OCID_ERROR_INIT;
        stream_session *s = NULL;
        if (stream_session_dial(f->url, &o, &sink_handlers, k, &s, &err) < 0)
                fail_msg("dial %s: %s", f->url, err.message);
        k->s = s;
        k->consume = true;
        return s;
}

static stream_session *dial(const fake *f, stream_transport t, const char *const *protocols, sink *k)
{
        return dial_window(f, t, protocols, k, 0);
}

/* Drive the session until cond, its end, or 5 s; returns pump's last result. */
#define CLIENT_RUN(s, cond)                                                  \
        ({                                                                   \
                int64_t end_ = mono_ms() + 5000;                             \
                int r_ = 1;                                                  \
                ocid_error e_ = OCID_ERROR_INIT;                             \
                while (!(cond) && r_ > 0 && mono_ms() < end_)                \
                        r_ = stream_session_pump((s), NULL, 0, 20, &e_);     \
                if (r_ < 0)                                                  \
                        print_message("pump: %s\n", e_.message);             \
                ocid_error_clear(&e_);                                       \
                r_;                                                          \
        })

static int open_stream(stream_session *s, const char *type)
{
        stream_spec spec = { .type = type };
        ocid_error err = OCID_ERROR_INIT;
        int id = stream_open(s, &spec, &err);
        if (id < 0)
                fail_msg("open %s: %s", type, err.message);
        return id;
}

static void send_text(stream_session *s, int id, const char *text)
{
        ocid_error err = OCID_ERROR_INIT;
        if (stream_send(s, id, text, strlen(text), &err) < 0)
                fail_msg("send: %s", err.message);
}

/* ---- SPDY exec --------------------------------------------------------------------------------- */

static const char status_7[] = "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"exit code 7\","
                               "\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":\"ExitCode\","
                               "\"message\":\"7\"}]}}";

static void script_spdy_exec(fake *f)
{
        http_request *q = &f->req;
        if (!STREQ(q->method, "GET") || !STREQ(q->target, "/exec/tok3n") ||
            !http_request_header(q, "Host") || !http_request_header_has_token(q, "Connection", "upgrade") ||
            !http_request_header_has_token(q, "Upgrade", "SPDY/3.1"))
                fake_fail(f, "request line or upgrade fields wrong");
        if (http_request_header_count(q, HTTP_STREAM_PROTOCOL_HEADER) != 4 ||
            !STREQ(http_request_header(q, HTTP_STREAM_PROTOCOL_HEADER), "v4.channel.k8s.io"))
                fake_fail(f, "protocols offered wrongly");
        /* The 101, then frames in the same write: the client must keep
         * what follows the head. */
        strbuf out = STRBUF_INIT;
        http_response_spdy_upgrade(&out, "v4.channel.k8s.io");
        spdy_setting set = { .id = SPDY_SETTINGS_MAX_CONCURRENT_STREAMS, .value = 100 };
        spdy_encode_settings(&out, 0, &set, 1);
        spdy_encode_ping(&out, 2);
        fake_send(f, &out);
        strbuf_reset(&out);

        if (!FAKE_WAIT(f, f->n_streams >= 4))
                fake_fail(f, "%zu streams opened, want 4", f->n_streams);
        static const char *const order[] = { "error", "stdin", "stdout", "stderr" };
        for (size_t i = 0; i < 4 && i < f->n_streams; i++)
                if (!STREQ(f->streams[i].type, order[i]) || f->streams[i].id != 2 * i + 1)
                        fake_fail(f, "stream %zu is '%s' id %u", i, f->streams[i].type, f->streams[i].id);
        /* stdin was sent at once: it must wait for the reply. */
        fake_linger(f, 100);
        peer_stream *in = peer_by_type(f, "stdin", 0);
        if (in && (in->data.len || in->fin))
                fake_fail(f, "stdin sent before SYN_REPLY");
        spdy_reply_all(f);
        if (!FAKE_WAIT(f, in && in->fin))
                fake_fail(f, "no stdin FIN");
        if (in && !STREQ(in->data.buf, "input"))
                fake_fail(f, "stdin '%s'", in->data.buf);
        if (!FAKE_WAIT(f, f->last_ping == 2))
                fake_fail(f, "ping not answered");
        /* The client's windows are opened wide first thing. */
        if (f->initial_window != SPDY_MAX_WINDOW || f->window_session != SPDY_MAX_WINDOW - SPDY_INITIAL_WINDOW)
                fake_fail(f, "initial window %u, session window update %llu", f->initial_window,
                          (unsigned long long)f->window_session);

        spdy_encode_data(&out, 5, 0, "hello ", 6);
        spdy_encode_data(&out, 7, 0, "oops", 4);
        spdy_encode_data(&out, 5, 0, "world", 5);
        spdy_encode_data(&out, 1, SPDY_FLAG_FIN, status_7, strlen(status_7));
        spdy_encode_data(&out, 5, SPDY_FLAG_FIN, NULL, 0);
        spdy_encode_data(&out, 7, SPDY_FLAG_FIN, NULL, 0);
        spdy_encode_goaway(&out, 0, SPDY_GOAWAY_OK);
        fake_send(f, &out);
        strbuf_release(&out);
        fake_linger(f, 200);
        if (!f->goaway)
                fake_fail(f, "the client did not say GOAWAY");
}

static void test_spdy_exec(void **state)
{
        (void)state;
        fake f;
        fake_start(&f, false, script_spdy_exec, "/exec/tok3n");
        sink k = { 0 };
        stream_session *s = dial(&f, STREAM_SPDY, stream_spdy_remotecommand_protocols, &k);
        assert_string_equal(stream_session_protocol(s), "v4.channel.k8s.io");
        assert_int_equal(stream_session_transport(s), STREAM_SPDY);
        int error = open_stream(s, "error"), in = open_stream(s, "stdin");
        int out = open_stream(s, "stdout"), err = open_stream(s, "stderr");
        assert_int_equal(error, 1);
        assert_int_equal(err, 7);
        assert_true(stream_writable(s, in));
        send_text(s, in, "input");
        ocid_error e = OCID_ERROR_INIT;
        assert_int_equal(stream_close(s, in, &e), 0);
        assert_false(stream_writable(s, in));
        assert_int_equal(stream_send(s, in, "x", 1, &e), -1);
        ocid_error_clear(&e);

        int r = CLIENT_RUN(s, k.n >= 3 && k.ended[sink_slot(&k, error)] && k.ended[sink_slot(&k, out)] &&
                                      k.ended[sink_slot(&k, err)]);
        assert_int_equal(r, 1);
        assert_string_equal(sink_text(&k, out), "hello world");
        assert_string_equal(sink_text(&k, err), "oops");
        char *msg;
        const char *status = sink_text(&k, error);
        assert_int_equal(stream_status_exit_code(status, strlen(status), &msg), 7);
        assert_null(msg);
        stream_session_shutdown(s, 1000);
        stream_session_free(s);
        sink_release(&k);
        fake_finish(&f);
}

/* ---- SPDY flow control ------------------------------------------------------------------------- */

#define FLOW_BYTES 200000

static void spdy_flow_start(fake *f)
{
        strbuf out = STRBUF_INIT;
        http_response_spdy_upgrade(&out, "v4.channel.k8s.io");
        fake_send(f, &out);
        strbuf_release(&out);
        if (!FAKE_WAIT(f, f->n_streams >= 1))
                fake_fail(f, "no stream opened");
        spdy_reply_all(f);
}

/* A server that does flow control: the client must stop at each window
 * and go on when it is reopened. */
static void script_spdy_windows(fake *f)
{
        spdy_flow_start(f);
        strbuf out = STRBUF_INIT;
        for (uint64_t granted = SPDY_INITIAL_WINDOW; f->data_total < FLOW_BYTES; granted += SPDY_INITIAL_WINDOW) {
                uint64_t want = granted < FLOW_BYTES ? granted : FLOW_BYTES;
                if (!FAKE_WAIT(f, f->data_total >= want)) {
                        fake_fail(f, "stalled at %llu bytes, %llu granted", (unsigned long long)f->data_total,
                                  (unsigned long long)granted);
                        break;
                }
                fake_linger(f, 100);
                if (f->data_total > granted) {
                        fake_fail(f, "%llu bytes sent over a window of %llu", (unsigned long long)f->data_total,
                                  (unsigned long long)granted);
                        break;
                }
                strbuf_reset(&out);
                spdy_encode_window_update(&out, 1, SPDY_INITIAL_WINDOW);
                spdy_encode_window_update(&out, 0, SPDY_INITIAL_WINDOW);
                fake_send(f, &out);
        }
        /* Now the other way: the client gives back what it consumed. */
        strbuf_reset(&out);
        static uint8_t chunk[10000];
        for (int i = 0; i < 15; i++)
                spdy_encode_data(&out, 1, 0, chunk, sizeof(chunk));
        spdy_encode_data(&out, 1, SPDY_FLAG_FIN, NULL, 0);
        fake_send(f, &out);
        strbuf_release(&out);
        if (!FAKE_WAIT(f, f->window_stream >= 100000 && f->window_session >= 100000) || f->initial_window)
                fake_fail(f, "window updates: stream %llu, session %llu", (unsigned long long)f->window_stream,
                          (unsigned long long)f->window_session);
}

static void run_flow_client(fake *f, int64_t *ret_ms)
{
        sink k = { 0 };
        /* The default windows: no SETTINGS, WINDOW_UPDATEs as consumed. */
        stream_session *s = dial_window(f, STREAM_SPDY, stream_spdy_remotecommand_protocols, &k, SPDY_INITIAL_WINDOW);
        int in = open_stream(s, "stdin");
        static uint8_t big[FLOW_BYTES];
        memset(big, 'x', sizeof(big));
        int64_t start = mono_ms();
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(stream_send(s, in, big, sizeof(big), &err), 0);
        assert_false(stream_writable(s, in));
        CLIENT_RUN(s, k.n && k.ended[0]);
        *ret_ms = mono_ms() - start;
        assert_int_equal(k.n, 1);
        assert_int_equal(k.data[0].len, 150000);
        stream_session_free(s);
        sink_release(&k);
}

static void test_spdy_flow_control(void **state)
{
        (void)state;
        fake f;
        fake_start(&f, false, script_spdy_windows, "/x");
        int64_t ms;
        run_flow_client(&f, &ms);
        fake_finish(&f);
}

/* Go's spdystream never reopens a window: after a grace period the client
 * sends on regardless. */
static void script_spdy_no_windows(fake *f)
{
        spdy_flow_start(f);
        if (!FAKE_WAIT(f, f->data_total >= SPDY_INITIAL_WINDOW))
                fake_fail(f, "not even a window's worth");
        fake_linger(f, 300);
        if (f->data_total != SPDY_INITIAL_WINDOW)
                fake_fail(f, "%llu bytes before the grace period", (unsigned long long)f->data_total);
        int64_t end = mono_ms() + 3000;
        while (f->data_total < FLOW_BYTES && mono_ms() < end && !f->eof)
                fake_pump(f, 20);
        if (f->data_total != FLOW_BYTES)
                fake_fail(f, "%llu bytes in all", (unsigned long long)f->data_total);
        strbuf out = STRBUF_INIT;
        static uint8_t chunk[10000];
        for (int i = 0; i < 15; i++)
                spdy_encode_data(&out, 1, 0, chunk, sizeof(chunk));
        spdy_encode_data(&out, 1, SPDY_FLAG_FIN, NULL, 0);
        fake_send(f, &out);
        strbuf_release(&out);
        fake_linger(f, 100);
}

static void test_spdy_no_flow_control(void **state)
{
        (void)state;
        fake f;
        fake_start(&f, false, script_spdy_no_windows, "/x");
        int64_t ms;
        run_flow_client(&f, &ms);
        assert_true(ms >= 900);
        fake_finish(&f);
}

/* ---- SPDY port forwarding ------------------------------------------------------------------------ */

static void script_spdy_portforward(fake *f)
{
        if (http_request_header_count(&f->req, HTTP_STREAM_PROTOCOL_HEADER) != 1 ||
            !STREQ(http_request_header(&f->req, HTTP_STREAM_PROTOCOL_HEADER), "portforward.k8s.io"))
                fake_fail(f, "protocols offered wrongly");
        strbuf out = STRBUF_INIT;
        http_response_spdy_upgrade(&out, "portforward.k8s.io");
        fake_send(f, &out);
        strbuf_reset(&out);
        if (!FAKE_WAIT(f, f->n_streams >= 4))
                fake_fail(f, "streams: %zu", f->n_streams);
        spdy_reply_all(f);
        if (!FAKE_WAIT(f, f->streams[1].data.len >= 4 && f->streams[3].data.len >= 4 && f->streams[0].fin &&
                              f->streams[2].fin))
                fake_fail(f, "data missing");
        for (size_t i = 0; i < 4 && i < f->n_streams; i++) {
                peer_stream *p = &f->streams[i];
                const char *type = i % 2 ? "data" : "error";
                const char *rid = i < 2 ? "0" : "1";
                if (!STREQ(p->type, type) || !STREQ(p->port, "8080") || !STREQ(p->request_id, rid))
                        fake_fail(f, "stream %u: type '%s' port '%s' requestid '%s'", p->id, p->type, p->port,
                                  p->request_id);
                if (i % 2 == 0 && !p->fin)
                        fake_fail(f, "error stream %u not closed by the client", p->id);
        }
        if (!STREQ(f->streams[1].data.buf, "ping") || !STREQ(f->streams[3].data.buf, "PING"))
                fake_fail(f, "data '%s' '%s'", f->streams[1].data.buf, f->streams[3].data.buf);
        spdy_encode_data(&out, 9, 0, "zz", 2); /* a stream never opened: ignored */
        spdy_encode_data(&out, 3, SPDY_FLAG_FIN, "pong", 4);
        static const char msg[] = "error forwarding port 8080: refused";
        spdy_encode_data(&out, 5, SPDY_FLAG_FIN, msg, strlen(msg));
        spdy_encode_rst_stream(&out, 7, SPDY_CANCEL);
        fake_send(f, &out);
        strbuf_release(&out);
        fake_linger(f, 200);
}

static void test_spdy_portforward(void **state)
{
        (void)state;
        fake f;
        fake_start(&f, false, script_spdy_portforward, "/portforward/t");
        sink k = { 0 };
        stream_session *s = dial(&f, STREAM_SPDY, stream_spdy_portforward_protocols, &k);
        assert_string_equal(stream_session_protocol(s), "portforward.k8s.io");
        ocid_error err = OCID_ERROR_INIT;
        int ids[4];
        for (uint32_t rid = 0; rid < 2; rid++) {
                stream_spec spec = { .type = "error", .port = 8080, .request_id = rid };
                ids[2 * rid] = stream_open(s, &spec, &err);
                spec.type = "data";
                ids[2 * rid + 1] = stream_open(s, &spec, &err);
                assert_int_equal(stream_close(s, ids[2 * rid], &err), 0);
        }
        assert_int_equal(ids[3], 7);
        send_text(s, ids[1], "ping");
        send_text(s, ids[3], "PING");
        CLIENT_RUN(s, k.n >= 3 && k.ended[sink_slot(&k, ids[1])] && k.ended[sink_slot(&k, ids[2])] &&
                              k.ended[sink_slot(&k, ids[3])]);
        assert_string_equal(sink_text(&k, ids[1]), "pong");
        assert_false(k.reset[sink_slot(&k, ids[1])]);
        assert_string_equal(sink_text(&k, ids[2]), "error forwarding port 8080: refused");
        assert_true(k.reset[sink_slot(&k, ids[3])]);
        /* A reset stream takes nothing more. */
        assert_false(stream_writable(s, ids[3]));
        assert_int_equal(stream_send(s, ids[3], "x", 1, &err), -1);
        ocid_error_clear(&err);
        stream_reset(s, ids[1]);
        stream_session_shutdown(s, 1000);
        stream_session_free(s);
        sink_release(&k);
        fake_finish(&f);
}

/* ---- WebSocket exec ---------------------------------------------------------------------------- */

static void ws_server_frame(strbuf *out, ws_channel_protocol p, uint8_t channel, const char *text)
{
        ws_channel_frame(out, p, channel, text, strlen(text));
}

static void script_ws_exec(fake *f)
{
        http_request *q = &f->req;
        http_upgrade up;
        const char *key;
        ocid_error err = OCID_ERROR_INIT;
        if (http_request_upgrade(q, &up, &key, &err) < 0 || up != HTTP_UPGRADE_WEBSOCKET)
                fake_fail(f, "upgrade: %s", err.message ? err.message : "not websocket");
        ocid_error_clear(&err);
        const char *offer = http_request_header(q, HTTP_WEBSOCKET_PROTOCOL_HEADER);
        if (!offer || !STREQ(offer, "v5.channel.k8s.io, v4.channel.k8s.io, v4.base64.channel.k8s.io, "
                                    "base64.channel.k8s.io, channel.k8s.io"))
                fake_fail(f, "offered '%s'", offer ? offer : "");
        f->wsp = WS_CHANNEL_V5;
        strbuf out = STRBUF_INIT;
        http_response_websocket_upgrade(&out, key ? key : "", "v5.channel.k8s.io");
        ws_server_frame(&out, f->wsp, 1, "early ");
        fake_send(f, &out);
        strbuf_reset(&out);

        peer_stream *in = peer_by_id(f, 0), *resize = peer_by_id(f, 4);
        if (!FAKE_WAIT(f, in->fin && resize->data.len >= 24))
                fake_fail(f, "no stdin close or resize");
        if (!STREQ(in->data.buf, "abc") || !STREQ(resize->data.buf, "{\"Width\":80,\"Height\":24}"))
                fake_fail(f, "stdin '%s', resize '%s'", in->data.buf, resize->data.buf);
        ws_frame_encode(&out, WS_OP_PING, "p!", 2);
        fake_send(f, &out);
        strbuf_reset(&out);
        if (!FAKE_WAIT(f, f->pong.len == 2) || memcmp(f->pong.buf, "p!", 2) != 0)
                fake_fail(f, "no pong");
        ws_server_frame(&out, f->wsp, 1, "late");
        ws_server_frame(&out, f->wsp, 2, "warn");
        ws_server_frame(&out, f->wsp, 9, "nobody listens");
        ws_server_frame(&out, f->wsp, 3,
                        "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"boom\",\"reason\":\"InternalError\"}");
        ws_close_encode(&out, WS_CLOSE_NORMAL, "");
        fake_send(f, &out);
        strbuf_release(&out);
        if (!FAKE_WAIT(f, f->ws_close))
                fake_fail(f, "the client did not answer the Close");
}

static void test_websocket_exec(void **state)
{
        (void)state;
        fake f;
        fake_start(&f, true, script_ws_exec, "/exec/w");
        sink k = { 0 };
        stream_session *s = dial(&f, STREAM_WEBSOCKET, stream_websocket_remotecommand_protocols, &k);
        assert_string_equal(stream_session_protocol(s), "v5.channel.k8s.io");
        int error = open_stream(s, "error"), in = open_stream(s, "stdin"), out = open_stream(s, "stdout");
        int err = open_stream(s, "stderr"), resize = open_stream(s, "resize");
        assert_int_equal(error, 3);
        assert_int_equal(in, 0);
        assert_int_equal(out, 1);
        assert_int_equal(err, 2);
        assert_int_equal(resize, 4);
        send_text(s, resize, "{\"Width\":80,\"Height\":24}");
        send_text(s, in, "abc");
        ocid_error e = OCID_ERROR_INIT;
        assert_int_equal(stream_close(s, in, &e), 0);
        int r = CLIENT_RUN(s, false);
        assert_int_equal(r, 0);
        assert_true(stream_session_ended_cleanly(s));
        assert_string_equal(sink_text(&k, out), "early late");
        assert_string_equal(sink_text(&k, err), "warn");
        char *msg;
        const char *status = sink_text(&k, error);
        assert_int_equal(stream_status_exit_code(status, strlen(status), &msg), 1);
        assert_string_equal(msg, "boom");
        free(msg);
        stream_session_shutdown(s, 1000);
        stream_session_free(s);
        sink_release(&k);
        fake_finish(&f);
}

/* The base64 protocols: text frames, a digit for the channel. */
static void script_ws_base64(fake *f)
{
        const char *key = http_request_header(&f->req, "Sec-WebSocket-Key");
        f->wsp = WS_CHANNEL_V4_BASE64;
        strbuf out = STRBUF_INIT;
        http_response_websocket_upgrade(&out, key ? key : "", "v4.base64.channel.k8s.io");
        fake_send(f, &out);
        strbuf_reset(&out);
        peer_stream *in = peer_by_id(f, 0);
        if (!FAKE_WAIT(f, in->data.len >= 6) || !STREQ(in->data.buf, "\x01\xff bin"))
                fake_fail(f, "stdin '%s'", in->data.buf);
        ws_server_frame(&out, f->wsp, 1, "\x02\xfe out");
        ws_close_encode(&out, WS_CLOSE_NORMAL, "");
        fake_send(f, &out);
        strbuf_release(&out);
        FAKE_WAIT(f, f->ws_close);
}

static void test_websocket_base64(void **state)
{
        (void)state;
        fake f;
        fake_start(&f, true, script_ws_base64, "/attach/b");
        sink k = { 0 };
        stream_session *s = dial(&f, STREAM_WEBSOCKET, stream_websocket_remotecommand_protocols, &k);
        int in = open_stream(s, "stdin"), out = open_stream(s, "stdout");
        send_text(s, in, "\x01\xff bin");
        /* No half-close in v4: nothing is sent, nothing fails. */
        ocid_error e = OCID_ERROR_INIT;
        assert_int_equal(stream_close(s, in, &e), 0);
        assert_int_equal(CLIENT_RUN(s, false), 0);
        assert_string_equal(sink_text(&k, out), "\x02\xfe out");
        stream_session_free(s);
        sink_release(&k);
        fake_finish(&f);
}

/* ---- WebSocket port forwarding ------------------------------------------------------------------ */

static void script_ws_portforward(fake *f)
{
        const char *key = http_request_header(&f->req, "Sec-WebSocket-Key");
        if (!STREQ(f->req.target, "/portforward/p?port=8080") ||
            !STREQ(http_request_header(&f->req, HTTP_WEBSOCKET_PROTOCOL_HEADER), "v4.channel.k8s.io"))
                fake_fail(f, "target '%s'", f->req.target);
        f->wsp = WS_CHANNEL_V4;
        strbuf out = STRBUF_INIT;
        http_response_websocket_upgrade(&out, key ? key : "", "v4.channel.k8s.io");
        uint8_t le[2] = { 8080 & 0xff, 8080 >> 8 };
        ws_channel_frame(&out, f->wsp, 0, le, 2);
        ws_channel_frame(&out, f->wsp, 1, le, 2);
        fake_send(f, &out);
        strbuf_reset(&out);
        peer_stream *data = peer_by_id(f, 0);
        if (!FAKE_WAIT(f, data->data.len >= 4) || !STREQ(data->data.buf, "ping"))
                fake_fail(f, "data '%s'", data->data.buf);
        ws_server_frame(&out, f->wsp, 0, "pong");
        ws_server_frame(&out, f->wsp, 1, "it broke");
        ws_close_encode(&out, WS_CLOSE_NORMAL, "");
        fake_send(f, &out);
        strbuf_release(&out);
        FAKE_WAIT(f, f->ws_close);
}

static void test_websocket_portforward(void **state)
{
        (void)state;
        fake f;
        fake_start(&f, true, script_ws_portforward, "/portforward/p?port=8080");
        sink k = { 0 };
        stream_session *s = dial(&f, STREAM_WEBSOCKET, stream_websocket_portforward_protocols, &k);
        ocid_error err = OCID_ERROR_INIT;
        stream_spec spec = { .type = "error", .port = 8080 };
        int error = stream_open(s, &spec, &err);
        spec.type = "data";
        int data = stream_open(s, &spec, &err);
        assert_int_equal(error, 1);
        assert_int_equal(data, 0);
        send_text(s, data, "ping");
        assert_int_equal(CLIENT_RUN(s, false), 0);
        /* The port prefixes are not data. */
        assert_string_equal(sink_text(&k, data), "pong");
        assert_string_equal(sink_text(&k, error), "it broke");
        stream_session_free(s);
        sink_release(&k);
        fake_finish(&f);
}

/* ---- refusals and bad upgrades -------------------------------------------------------------------- */

static void script_refuse(fake *f)
{
        strbuf out = STRBUF_INIT;
        http_response_error(&out, 404, "unknown or expired token", NULL);
        fake_send(f, &out);
        strbuf_release(&out);
}

static void script_bad_accept(fake *f)
{
        strbuf out = STRBUF_INIT;
        http_response_websocket_upgrade(&out, "dGhlIHNhbXBsZSBub25jZQ==", "v4.channel.k8s.io");
        fake_send(f, &out);
        strbuf_release(&out);
}

static void script_unoffered(fake *f)
{
        strbuf out = STRBUF_INIT;
        http_response_spdy_upgrade(&out, "v5.channel.k8s.io");
        fake_send(f, &out);
        strbuf_release(&out);
}

static void script_wrong_upgrade(fake *f)
{
        strbuf out = STRBUF_INIT;
        strbuf_adds(&out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
        fake_send(f, &out);
        strbuf_release(&out);
}

static void script_hang_up(fake *f)
{
        (void)f;
}

static void expect_dial_fail(void (*script)(fake *f), stream_transport t, const char *const *protocols,
                             ocid_error_kind kind, const char *want)
{
        fake f;
        fake_start(&f, t == STREAM_WEBSOCKET, script, "/exec/x");
        stream_dial_options o = { .transport = t, .protocols = protocols, .timeout_ms = 5000 };
        ocid_error err = OCID_ERROR_INIT;
        stream_session *s = NULL;
        sink k = { 0 };
        assert_int_equal(stream_session_dial(f.url, &o, &sink_handlers, &k, &s, &err), -1);
        assert_null(s);
        if (err.kind != kind || !strstr(err.message, want))
                fail_msg("got %s '%s', want %s with '%s'", ocid_error_kind_name(err.kind), err.message,
                         ocid_error_kind_name(kind), want);
        ocid_error_clear(&err);
        fake_finish(&f);
}

static void test_refusals(void **state)
{
        (void)state;
        /* The server's text is the message, as is. */
        fake f;
        fake_start(&f, false, script_refuse, "/exec/x");
        stream_dial_options o = { .transport = STREAM_SPDY, .protocols = stream_spdy_remotecommand_protocols };
        ocid_error err = OCID_ERROR_INIT;
        stream_session *s = NULL;
        sink k = { 0 };
        assert_int_equal(stream_session_dial(f.url, &o, &sink_handlers, &k, &s, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_NOT_FOUND);
        assert_string_equal(err.message, "unknown or expired token");
        ocid_error_clear(&err);
        fake_finish(&f);

        expect_dial_fail(script_bad_accept, STREAM_WEBSOCKET, stream_websocket_remotecommand_protocols,
                         OCID_ERR_INVALID, "Sec-WebSocket-Accept");
        expect_dial_fail(script_unoffered, STREAM_SPDY, stream_spdy_remotecommand_protocols, OCID_ERR_INVALID,
                         "not offered");
        expect_dial_fail(script_wrong_upgrade, STREAM_SPDY, stream_spdy_remotecommand_protocols,
                         OCID_ERR_INVALID, "'h2c'");
        expect_dial_fail(script_hang_up, STREAM_SPDY, stream_spdy_remotecommand_protocols, OCID_ERR_UNAVAILABLE,
                         "closed the connection");
}

static void test_connect_failures(void **state)
{
        (void)state;
        /* A port nobody listens on. */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/exec/x", ntohs(sa.sin_port));
        stream_dial_options o = { .transport = STREAM_SPDY, .protocols = stream_spdy_remotecommand_protocols,
                                  .timeout_ms = 2000 };
        ocid_error err = OCID_ERROR_INIT;
        stream_session *s = NULL;
        sink k = { 0 };
        assert_int_equal(stream_session_dial(url, &o, &sink_handlers, &k, &s, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_UNAVAILABLE);
        assert_non_null(strstr(err.message, "refused"));
        ocid_error_clear(&err);
        close(fd);

        /* A server that accepts and never answers: the dial times out. */
        fd = socket(AF_INET, SOCK_STREAM, 0);
        sa.sin_port = 0;
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 1), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/exec/x", ntohs(sa.sin_port));
        o.timeout_ms = 200;
        assert_int_equal(stream_session_dial(url, &o, &sink_handlers, &k, &s, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_DEADLINE);
        ocid_error_clear(&err);
        close(fd);

        assert_int_equal(stream_session_dial("ftp://x/", &o, &sink_handlers, &k, &s, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        ocid_error_clear(&err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_head_upgrades),
                cmocka_unit_test(test_head_incremental),
                cmocka_unit_test(test_head_lenient),
                cmocka_unit_test(test_head_malformed),
                cmocka_unit_test(test_head_bounds),
                cmocka_unit_test(test_urls),
                cmocka_unit_test(test_status),
                cmocka_unit_test(test_spdy_exec),
                cmocka_unit_test(test_spdy_flow_control),
                cmocka_unit_test(test_spdy_no_flow_control),
                cmocka_unit_test(test_spdy_portforward),
                cmocka_unit_test(test_websocket_exec),
                cmocka_unit_test(test_websocket_base64),
                cmocka_unit_test(test_websocket_portforward),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_connect_failures),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
