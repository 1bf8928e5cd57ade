#include "stream/client.h"
#include "stream/base64.h"
#include "stream/spdy.h"
#include "stream/websocket.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

const char *const stream_spdy_remotecommand_protocols[] = {
        "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io", NULL,
};
const char *const stream_websocket_remotecommand_protocols[] = {
        "v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io",
        "base64.channel.k8s.io", "channel.k8s.io", NULL,
};
const char *const stream_spdy_portforward_protocols[] = { "portforward.k8s.io", NULL };
const char *const stream_websocket_portforward_protocols[] = { "v4.channel.k8s.io", NULL };

/* What one send puts in a frame: kubectl's piece size, well under what
 * servers bound a WebSocket message or a SPDY DATA frame to. */
#define CHUNK (32u * 1024)
/* Above this much unwritten output a stream stops being writable. */
#define OUT_HIGH_WATER (256u * 1024)
/* How long a send waits on a SPDY window the server never opened before
 * concluding it does no flow control (Go's spdystream does none). */
#define WINDOW_GRACE_MS 1000
/* Bytes of an upgrade refusal's body kept for the message. */
#define MAX_ERROR_BODY 4096

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- response heads --------------------------------------------------------------- */

void http_response_head_release(http_response_head *r)
{
        if (!r)
                return;
        free(r->reason);
        for (size_t i = 0; i < r->n_headers; i++) {
                free(r->headers[i].name);
                free(r->headers[i].value);
        }
        free(r->headers);
        memset(r, 0, sizeof(*r));
}

static int check_chars(const char *s, size_t len, const char *what, ocid_error *err)
{
        for (size_t i = 0; i < len; i++)
                if (!http_is_field_char((unsigned char)s[i])) {
                        _cleanup_free_ char *q = http_quoted(s, len);
                        return ocid_error_set(err, OCID_ERR_INVALID, "%s %s: control character 0x%02x",
                                              what, q, (unsigned char)s[i]);
                }
        return 0;
}

/* HTTP/1.x SP 3DIGIT [SP reason]; the SP before an empty reason may be
 * missing, as some servers write it. */
static int parse_status_line(const char *line, size_t len, http_response_head *r, ocid_error *err)
{
        _cleanup_free_ char *q = http_quoted(line, len);
        if (len < 12 || memcmp(line, "HTTP/", 5) != 0 || line[5] < '0' || line[5] > '9' || line[6] != '.' ||
            line[7] < '0' || line[7] > '9' || line[8] != ' ')
                return ocid_error_set(err, OCID_ERR_INVALID, "malformed status line %s", q);
        if (line[5] != '1' || (line[7] != '0' && line[7] != '1'))
                return ocid_error_set(err, OCID_ERR_UNIMPLEMENTED, "unsupported HTTP version in %s", q);
        for (size_t i = 9; i < 12; i++)
                if (line[i] < '0' || line[i] > '9')
                        return ocid_error_set(err, OCID_ERR_INVALID, "malformed status code in %s", q);
        if (line[9] == '0' || (len > 12 && line[12] != ' '))
                return ocid_error_set(err, OCID_ERR_INVALID, "malformed status code in %s", q);
        const char *reason = len > 12 ? line + 13 : line + 12;
        size_t rlen = len > 12 ? len - 13 : 0;
        if (check_chars(reason, rlen, "status line", err) < 0)
                return -1;
        r->version = line[7] == '1' ? 11 : 10;
        r->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
        r->reason = xstrndup(reason, rlen);
        return 0;
}

static int parse_field_line(const char *line, size_t len, http_response_head *r, ocid_error *err)
{
        if (http_is_ows(line[0])) {
                /* obs-fold: RFC 9112 section 5.2 has user agents replace
                 * it with SP. */
                if (r->n_headers == 0)
                        return ocid_error_set(err, OCID_ERR_INVALID, "whitespace before the first header field");
                http_field *last = &r->headers[r->n_headers - 1];
                http_trim_ows(&line, &len);
                if (check_chars(line, len, "header value", err) < 0)
                        return -1;
                if (len == 0)
                        return 0;
                strbuf sb = STRBUF_INIT;
                strbuf_adds(&sb, last->value);
                if (sb.len)
                        strbuf_addch(&sb, ' ');
                strbuf_add(&sb, line, len);
                free(last->value);
                last->value = strbuf_detach(&sb, NULL);
                return 0;
        }
        const char *colon = memchr(line, ':', len);
        size_t nlen = colon ? (size_t)(colon - line) : 0;
        bool ok = nlen > 0;
        for (size_t i = 0; ok && i < nlen; i++)
                ok = http_is_tchar((unsigned char)line[i]);
        if (!ok) {
                _cleanup_free_ char *q = http_quoted(line, len);
                return ocid_error_set(err, OCID_ERR_INVALID, "malformed header line %s", q);
        }
        if (r->n_headers == HTTP_MAX_HEADERS)
                return ocid_error_set(err, OCID_ERR_RESOURCE, "response has more than %u header fields",
                                      HTTP_MAX_HEADERS);
        const char *value = colon + 1;
        size_t vlen = len - nlen - 1;
        http_trim_ows(&value, &vlen);
        if (check_chars(value, vlen, "header value", err) < 0)
                return -1;
        http_fields_push(&r->headers, &r->n_headers, xstrndup(line, nlen), xstrndup(value, vlen));
        return 0;
}

int http_response_head_parse(const char *head, size_t len, http_response_head *ret, ocid_error *err)
{
        memset(ret, 0, sizeof(*ret));
        if (len > HTTP_MAX_HEAD)
                return ocid_error_set(err, OCID_ERR_RESOURCE, "response head of %zu bytes (at most %u)", len,
                                      HTTP_MAX_HEAD);
        http_response_head r = { 0 };
        size_t off = 0;
        bool first = true, ended = false;
        while (off < len) {
                const char *line = head + off;
                const char *lf = memchr(line, '\n', len - off);
                if (!lf) {
                        http_response_head_release(&r);
                        return ocid_error_set(err, OCID_ERR_INVALID, "response head not ended by an empty line");
                }
                size_t llen = (size_t)(lf - line);
                off += llen + 1;
                if (llen && line[llen - 1] == '\r')
                        llen--;
                if (memchr(line, '\r', llen)) {
                        http_response_head_release(&r);
                        return ocid_error_set(err, OCID_ERR_INVALID, "bare CR in the response head");
                }
                int q;
                if (first)
                        q = parse_status_line(line, llen, &r, err);
                else if (llen == 0) {
                        ended = true;
                        break;
                } else
                        q = parse_field_line(line, llen, &r, err);
                if (q < 0) {
                        http_response_head_release(&r);
                        return q;
                }
                first = false;
        }
        if (!ended || off != len) {
                http_response_head_release(&r);
                return ocid_error_set(err, OCID_ERR_INVALID, ended ? "bytes after the response head's empty line"
                                                                   : "response head not ended by an empty line");
        }
        *ret = r;
        return 0;
}

void http_response_parser_init(http_response_parser *p)
{
        strbuf_init(&p->head);
        p->line_start = false;
        p->done = false;
}

void http_response_parser_release(http_response_parser *p)
{
        strbuf_release(&p->head);
}

int http_response_parser_feed(http_response_parser *p, const uint8_t *data, size_t len,
                              size_t *ret_consumed, http_response_head *ret, ocid_error *err)
{
        *ret_consumed = 0;
        memset(ret, 0, sizeof(*ret));
        /* Find the empty line without buffering past it: what follows is
         * the upgraded protocol's. A CR does not end a line start, so both
         * "\n\n" and "\n\r\n" end the head. */
        size_t i = 0;
        bool end = false;
        for (; i < len && !end; i++) {
                if (data[i] == '\n') {
                        end = p->line_start;
                        p->line_start = true;
                } else if (data[i] != '\r') {
                        p->line_start = false;
                }
        }
        if (p->head.len + i > HTTP_MAX_HEAD)
                return ocid_error_set(err, OCID_ERR_RESOURCE, "response head over %u bytes", HTTP_MAX_HEAD);
        strbuf_add(&p->head, data, i);
        *ret_consumed = i;
        if (!end)
                return 0;
        p->done = true;
        if (http_response_head_parse(p->head.buf, p->head.len, ret, err) < 0)
                return -1;
        return 1;
}

const char *http_response_head_header(const http_response_head *r, const char *name)
{
        for (size_t i = 0; i < r->n_headers; i++)
                if (strcasecmp(r->headers[i].name, name) == 0)
                        return r->headers[i].value;
        return NULL;
}

bool http_response_head_has_token(const http_response_head *r, const char *name, const char *token)
{
        for (size_t i = 0; i < r->n_headers; i++)
                if (strcasecmp(r->headers[i].name, name) == 0 && http_list_has_token(r->headers[i].value, token))
                        return true;
        return false;
}

/* ---- URLs ------------------------------------------------------------------------ */

void stream_url_release(stream_url *u)
{
        if (!u)
                return;
        free(u->host);
        free(u->port);
        free(u->authority);
        free(u->target);
        memset(u, 0, sizeof(*u));
}

static bool all_digits(const char *s, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return len > 0;
}

/* host, [v6] or host:port, [v6]:port */
static int parse_authority(const char *a, size_t len, stream_url *u, ocid_error *err)
{
        _cleanup_free_ char *q = http_quoted(a, len);
        const char *host = a, *port = NULL;
        size_t hlen = len, plen = 0;
        if (len && a[0] == '[') {
                const char *close = memchr(a, ']', len);
                if (!close)
                        return ocid_error_set(err, OCID_ERR_INVALID, "URL authority %s: unclosed '['", q);
                host = a + 1;
                hlen = (size_t)(close - host);
                size_t rest = len - (size_t)(close + 1 - a);
                if (rest && close[1] != ':')
                        return ocid_error_set(err, OCID_ERR_INVALID, "URL authority %s: junk after ']'", q);
                if (rest) {
                        port = close + 2;
                        plen = rest - 1;
                }
        } else {
                const char *colon = memchr(a, ':', len);
                if (colon) {
                        hlen = (size_t)(colon - a);
                        port = colon + 1;
                        plen = len - hlen - 1;
                }
        }
        if (hlen == 0 || memchr(host, '@', hlen) || (port && memchr(port, '@', plen)))
                return ocid_error_set(err, OCID_ERR_INVALID, "URL authority %s: no host, or user info", q);
        for (size_t i = 0; i < hlen; i++)
                if ((unsigned char)host[i] <= 0x20 || (unsigned char)host[i] >= 0x7f)
                        return ocid_error_set(err, OCID_ERR_INVALID, "URL authority %s: bad host", q);
        if (port && (!all_digits(port, plen) || plen > 5 || atoi(port) > 65535 || atoi(port) == 0))
                return ocid_error_set(err, OCID_ERR_INVALID, "URL authority %s: bad port", q);
        u->host = xstrndup(host, hlen);
        u->port = port ? xstrndup(port, plen) : xstrndup(u->tls ? "443" : "80", 3);
        u->authority = xstrndup(a, len);
        return 0;
}

int stream_url_parse(const char *url, stream_url *ret, ocid_error *err)
{
        memset(ret, 0, sizeof(*ret));
        stream_url u = { 0 };
        size_t skip;
        if (strncasecmp(url, "http://", 7) == 0)
                skip = 7;
        else if (strncasecmp(url, "https://", 8) == 0) {
                skip = 8;
                u.tls = true;
        } else {
                _cleanup_free_ char *q = http_quoted(url, strlen(url));
                return ocid_error_set(err, OCID_ERR_INVALID, "URL %s is not http:// or https://", q);
        }
        const char *a = url + skip;
        size_t alen = strcspn(a, "/?#");
        const char *target = a + alen;
        for (const char *c = target; *c; c++)
                if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '#') {
                        _cleanup_free_ char *q = http_quoted(url, strlen(url));
                        return ocid_error_set(err, OCID_ERR_INVALID, "URL %s: bad character in the path", q);
                }
        if (parse_authority(a, alen, &u, err) < 0) {
                stream_url_release(&u);
                return -1;
        }
        strbuf t = STRBUF_INIT;
        if (*target != '/')
                strbuf_addch(&t, '/');
        strbuf_adds(&t, target);
        u.target = strbuf_detach(&t, NULL);
        *ret = u;
        return 0;
}

/* ---- exit status ----------------------------------------------------------------- */

static const char *json_string_at(json_object *o, const char *key)
{
        json_object *v;
        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
            !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* The ExitCode cause of a NonZeroExitCode status, or -1. */
static int exit_code_cause(json_object *status)
{
        json_object *details, *causes;
        if (!json_object_object_get_ex(status, "details", &details) ||
            !json_object_is_type(details, json_type_object) ||
            !json_object_object_get_ex(details, "causes", &causes) ||
            !json_object_is_type(causes, json_type_array))
                return -1;
        for (size_t i = 0; i < json_object_array_length(causes); i++) {
                json_object *c = json_object_array_get_idx(causes, i);
                const char *reason = json_string_at(c, "reason"), *msg = json_string_at(c, "message");
                if (!reason || !STREQ(reason, "ExitCode") || !msg)
                        continue;
                char *end;
                errno = 0;
                long code = strtol(msg, &end, 10);
                if (errno || end == msg || *end || code < 1 || code > 255)
                        return -1;
                return (int)code;
        }
        return -1;
}

int stream_status_exit_code(const char *json, size_t len, char **ret_message)
{
        *ret_message = NULL;
        json_tokener *tok = json_tokener_new();
        if (!tok)
                abort();
        json_object *status = len <= INT_MAX ? json_tokener_parse_ex(tok, json, (int)len) : NULL;
        bool complete = status && json_tokener_get_error(tok) == json_tokener_success &&
                        json_tokener_get_parse_end(tok) == len;
        json_tokener_free(tok);
        const char *s = complete ? json_string_at(status, "status") : NULL;
        if (!s) {
                _cleanup_free_ char *q = http_quoted(json, len);
                if (asprintf(ret_message, "malformed exit status from the server: %s", q) < 0)
                        abort();
                json_object_put(status);
                return 1;
        }
        int code = 0;
        if (!STREQ(s, "Success")) {
                const char *reason = json_string_at(status, "reason");
                const char *msg = json_string_at(status, "message");
                code = reason && STREQ(reason, "NonZeroExitCode") ? exit_code_cause(status) : -1;
                if (code < 0) {
                        code = 1;
                        *ret_message = strdup(msg && *msg ? msg : "the command failed (no message)");
                        if (!*ret_message)
                                abort();
                }
        }
        json_object_put(status);
        return code;
}

/* ---- connections ------------------------------------------------------------------ */

/* Reads and writes never block: they return this when poll() must wait. */
#define IO_AGAIN (-2)

typedef struct {
        int fd;
        SSL_CTX *ctx;
        SSL *ssl;
        bool read_wants_write;  /* TLS: the last read needs the socket writable */
        bool write_wants_read;  /* TLS: the last write needs it readable */
} conn;

static void conn_close(conn *c)
{
        if (c->ssl)
                SSL_free(c->ssl);
        if (c->ctx)
                SSL_CTX_free(c->ctx);
        if (c->fd >= 0)
                close(c->fd);
        c->ssl = NULL;
        c->ctx = NULL;
        c->fd = -1;
}

static int tls_error(ocid_error *err, const char *what)
{
        unsigned long e = ERR_get_error();
        char buf[256] = "unknown error";
        if (e)
                ERR_error_string_n(e, buf, sizeof(buf));
        ERR_clear_error();
        return ocid_error_set(err, OCID_ERR_UNAVAILABLE, "%s: %s", what, buf);
}

/* > 0: bytes read; 0: end of stream; IO_AGAIN; -1: failure. */
static ssize_t conn_read(conn *c, void *buf, size_t n, ocid_error *err)
{
        if (!c->ssl) {
                ssize_t r = recv(c->fd, buf, n, 0);
                if (r >= 0)
                        return r;
                if (errno == EAGAIN || errno == EINTR)
                        return IO_AGAIN;
                return ocid_error_set_errno(err, OCID_ERR_UNAVAILABLE, errno, "read from the streaming server");
        }
        c->read_wants_write = false;
        ERR_clear_error();
        int r = SSL_read(c->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
        if (r > 0)
                return r;
        switch (SSL_get_error(c->ssl, r)) {
        case SSL_ERROR_WANT_READ:
                return IO_AGAIN;
        case SSL_ERROR_WANT_WRITE:
                c->read_wants_write = true;
                return IO_AGAIN;
        case SSL_ERROR_ZERO_RETURN:
                return 0;
        case SSL_ERROR_SYSCALL:
                if (errno == 0)
                        return 0;
                if (errno == EAGAIN || errno == EINTR)
                        return IO_AGAIN;
                return ocid_error_set_errno(err, OCID_ERR_UNAVAILABLE, errno, "read from the streaming server");
        default:
                return tls_error(err, "TLS read");
        }
}

/* > 0: bytes written; IO_AGAIN; -1: failure. */
static ssize_t conn_write(conn *c, const void *buf, size_t n, ocid_error *err)
{
        if (!c->ssl) {
                ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL);
                if (r >= 0)
                        return r;
                if (errno == EAGAIN || errno == EINTR)
                        return IO_AGAIN;
                return ocid_error_set_errno(err, OCID_ERR_UNAVAILABLE, errno, "write to the streaming server");
        }
        c->write_wants_read = false;
        ERR_clear_error();
        int r = SSL_write(c->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
        if (r > 0)
                return r;
        switch (SSL_get_error(c->ssl, r)) {
        case SSL_ERROR_WANT_WRITE:
                return IO_AGAIN;
        case SSL_ERROR_WANT_READ:
                c->write_wants_read = true;
                return IO_AGAIN;
        case SSL_ERROR_SYSCALL:
                if (errno == EAGAIN || errno == EINTR)
                        return IO_AGAIN;
                return ocid_error_set_errno(err, OCID_ERR_UNAVAILABLE, errno ? errno : EPIPE,
                                            "write to the streaming server");
        default:
                return tls_error(err, "TLS write");
        }
}

/* Wait until fd has one of events, or fail at the deadline (0: none). */
static int wait_fd(int fd, short events, int64_t deadline, const char *what, ocid_error *err)
{
        for (;;) {
                int timeout = -1;
                if (deadline) {
                        int64_t left = deadline - now_ms();
                        if (left <= 0)
                                return ocid_error_set(err, OCID_ERR_DEADLINE, "%s: timed out", what);
                        timeout = left > INT_MAX ? INT_MAX : (int)left;
                }
                struct pollfd pfd = { .fd = fd, .events = events };
                int r = poll(&pfd, 1, timeout);
                if (r > 0)
                        return 0;
                if (r < 0 && errno != EINTR)
                        return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "poll");
        }
}

/* After IO_AGAIN from a read (writing false) or a write: what to wait for. */
static short conn_wants(const conn *c, bool writing)
{
        if (writing)
                return c->write_wants_read ? POLLIN : POLLOUT;
        return c->read_wants_write ? POLLOUT : POLLIN;
}

static int send_all(conn *c, const void *data, size_t len, int64_t deadline, ocid_error *err)
{
        const uint8_t *p = data;
        while (len) {
                ssize_t n = conn_write(c, p, len, err);
                if (n == IO_AGAIN) {
                        if (wait_fd(c->fd, conn_wants(c, true), deadline, "send the upgrade request", err) < 0)
                                return -1;
                        continue;
                }
                if (n < 0)
                        return -1;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* A non-blocking connect to one address; -errno on failure. */
static int connect_one(const struct addrinfo *ai, int64_t deadline, int *ret_fd)
{
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
                return -errno;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
                int e = errno;
                ocid_error err = OCID_ERROR_INIT;
                if (e != EINPROGRESS || wait_fd(fd, POLLOUT, deadline, "connect", &err) < 0) {
                        e = err.kind == OCID_ERR_DEADLINE ? ETIMEDOUT : e;
                        ocid_error_clear(&err);
                        close(fd);
                        return -e;
                }
                socklen_t elen = sizeof(e);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
                        e = errno;
                if (e) {
                        close(fd);
                        return -e;
                }
        }
        /* Keystrokes go out as they are typed. */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        *ret_fd = fd;
        return 0;
}

static int tcp_connect(const stream_url *u, int64_t deadline, int *ret_fd, ocid_error *err)
{
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                  .ai_flags = AI_NUMERICSERV };
        struct addrinfo *res;
        int r = getaddrinfo(u->host, u->port, &hints, &res);
        if (r != 0)
                return ocid_error_set(err, OCID_ERR_UNAVAILABLE, "resolve %s: %s", u->host, gai_strerror(r));
        int e = -EHOSTUNREACH;
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                e = connect_one(ai, deadline, ret_fd);
                if (e == 0 || e == -ETIMEDOUT)
                        break;
        }
        freeaddrinfo(res);
        if (e == -ETIMEDOUT)
                return ocid_error_set(err, OCID_ERR_DEADLINE, "connect to %s: timed out", u->authority);
        if (e < 0)
                return ocid_error_set_errno(err, OCID_ERR_UNAVAILABLE, e, "connect to %s", u->authority);
        return 0;
}

static bool is_ip_literal(const char *host)
{
        uint8_t buf[16];
        return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static int tls_setup(conn *c, const stream_url *u, const stream_dial_options *o, ocid_error *err)
{
        c->ctx = SSL_CTX_new(TLS_client_method());
        if (!c->ctx)
                return tls_error(err, "TLS setup");
        SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
        if (o->insecure) {
                SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
        } else {
                SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
                int ok = o->ca_file ? SSL_CTX_load_verify_locations(c->ctx, o->ca_file, NULL)
                                    : SSL_CTX_set_default_verify_paths(c->ctx);
                if (ok != 1 && !o->ca_file)
                        return tls_error(err, "load the system's CAs");
                if (ok != 1) {
                        /* Name the file: the library's reason alone does not. */
                        _cleanup_free_ char *what = NULL;
                        if (asprintf(&what, "load the CA file %s", o->ca_file) < 0)
                                abort();
                        return tls_error(err, what);
                }
        }
        c->ssl = SSL_new(c->ctx);
        if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
                return tls_error(err, "TLS setup");
        /* The streaming server speaks HTTP/1.1 upgrades only: say so, lest
         * an HTTP/2-capable server pick h2. */
        static const uint8_t alpn[] = "\x08http/1.1";
        SSL_set_alpn_protos(c->ssl, alpn, sizeof(alpn) - 1);
        /* A server may close without close_notify; that is an end of
         * stream here, the protocols on top say whether it was complete. */
        SSL_set_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
        /* Writes are retried from a strbuf that may move in between. */
        SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        bool ip = is_ip_literal(u->host);
        if (!ip)
                SSL_set_tlsext_host_name(c->ssl, u->host);
        if (!o->insecure) {
                int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), u->host)
                            : SSL_set1_host(c->ssl, u->host);
                if (ok != 1)
                        return tls_error(err, "TLS setup");
        }
        return 0;
}

static int tls_handshake(conn *c, int64_t deadline, ocid_error *err)
{
        for (;;) {
                ERR_clear_error();
                int r = SSL_connect(c->ssl);
                if (r == 1)
                        return 0;
                int e = SSL_get_error(c->ssl, r);
                short events = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
                if (!events) {
                        long v = SSL_get_verify_result(c->ssl);
                        if (v != X509_V_OK) {
                                ERR_clear_error();
                                return ocid_error_set(err, OCID_ERR_UNAVAILABLE,
                                                      "TLS handshake: certificate verification failed: %s "
                                                      "(--insecure skips verification)",
                                                      X509_verify_cert_error_string(v));
                        }
                        if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
                                return ocid_error_set(err, OCID_ERR_UNAVAILABLE,
                                                      "TLS handshake: the server closed the connection");
                        return tls_error(err, "TLS handshake");
                }
                if (wait_fd(c->fd, events, deadline, "TLS handshake", err) < 0)
                        return -1;
        }
}

/* ---- sessions ---------------------------------------------------------------------- */

typedef struct {
        int id;                 /* SPDY stream id, WebSocket channel */
        bool replied;           /* SPDY: SYN_REPLY received; WebSocket: always */
        bool fin_queued;        /* stream_close() called */
        bool fin_sent;
        bool remote_fin;
        bool reset;             /* by either side: no more callbacks */
        unsigned skip;          /* WebSocket port-forward: port prefix bytes still to drop */
        spdy_window window;
        strbuf pending;         /* SPDY: waits for the reply or the window */
        size_t pending_off;
} stream_entry;

struct stream_session {
        conn c;
        stream_transport transport;
        char *protocol;
        stream_handlers h;
        void *userdata;
        strbuf out;             /* for the server, from out_off on */
        size_t out_off;
        strbuf early;           /* what followed the 101 head */
        bool paused;
        bool eof;               /* the server closed its side */
        bool failed;            /* a protocol or I/O failure: the session is over */
        bool broken;            /* an I/O failure: nothing more can be written */
        stream_entry **streams;
        size_t n_streams;
        ocid_error *feed_err;   /* while feeding a reader: where callbacks fail */

        /* SPDY */
        spdy_reader *sr;
        spdy_writer *sw;
        uint32_t next_id;
        bool goaway;            /* sent or received: no new streams */
        bool goaway_sent;
        spdy_window window;     /* the session's own */
        uint32_t peer_initial_window;
        uint32_t recv_window;   /* ours, for each stream and the session */
        bool peer_flow_control; /* the server sent WINDOW_UPDATE or SETTINGS with a window */
        bool ignore_windows;    /* it showed none within WINDOW_GRACE_MS */
        int64_t blocked_since;

        /* WebSocket */
        ws_reader wr;
        ws_channel_protocol channels;
        strbuf scratch;
        bool close_sent;
        bool close_received;
};

const char *stream_session_protocol(const stream_session *s)
{
        return s->protocol;
}

stream_transport stream_session_transport(const stream_session *s)
{
        return s->transport;
}

static stream_entry *find(const stream_session *s, int id)
{
        for (size_t i = 0; i < s->n_streams; i++)
                if (s->streams[i]->id == id)
                        return s->streams[i];
        return NULL;
}

static stream_entry *add_entry(stream_session *s, int id)
{
        stream_entry **v = reallocarray(s->streams, s->n_streams + 1, sizeof(*v));
        if (!v)
                abort();
        s->streams = v;
        stream_entry *e = xcalloc(1, sizeof(*e));
        e->id = id;
        strbuf_init(&e->pending);
        spdy_window_init(&e->window, s->peer_initial_window, s->recv_window);
        s->streams[s->n_streams++] = e;
        return e;
}

static void free_entry(stream_entry *e)
{
        strbuf_release(&e->pending);
        free(e);
}

/* Entries are freed only here, outside every callback, so that a pointer
 * held across a handler call stays valid whatever the handler did. */
static void sweep(stream_session *s)
{
        if (s->transport != STREAM_SPDY)
                return;
        size_t n = 0;
        for (size_t i = 0; i < s->n_streams; i++) {
                stream_entry *e = s->streams[i];
                bool local_done = e->fin_sent || e->reset, remote_done = e->remote_fin || e->reset;
                if (local_done && remote_done)
                        free_entry(e);
                else
                        s->streams[n++] = e;
        }
        s->n_streams = n;
}

void stream_session_free(stream_session *s)
{
        if (!s)
                return;
        conn_close(&s->c);
        free(s->protocol);
        strbuf_release(&s->out);
        strbuf_release(&s->early);
        for (size_t i = 0; i < s->n_streams; i++)
                free_entry(s->streams[i]);
        free(s->streams);
        spdy_reader_free(s->sr);
        spdy_writer_free(s->sw);
        ws_reader_release(&s->wr);
        strbuf_release(&s->scratch);
        free(s);
}

static size_t out_pending(const stream_session *s)
{
        return s->out.len - s->out_off;
}

static void random_bytes(void *buf, size_t len)
{
        uint8_t *p = buf;
        while (len) {
                ssize_t n = getrandom(p, len, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        abort(); /* no entropy source at all */
                }
                p += n;
                len -= (size_t)n;
        }
}

/* ---- WebSocket ---------------------------------------------------------------------- */

static void ws_send_frame(stream_session *s, ws_opcode op, const void *data, size_t len)
{
        uint8_t mask[4];
        random_bytes(mask, sizeof(mask));
        ws_frame_encode_masked(&s->out, true, op, mask, data, len);
}

static void ws_send_close(stream_session *s, uint16_t code)
{
        if (s->close_sent)
                return;
        s->close_sent = true;
        uint8_t p[2] = { (uint8_t)(code >> 8), (uint8_t)code };
        ws_send_frame(s, WS_OP_CLOSE, p, code == WS_CLOSE_NO_STATUS ? 0 : 2);
}

static void ws_send_channel(stream_session *s, uint8_t channel, const void *data, size_t len)
{
        _cleanup_strbuf_ strbuf msg = STRBUF_INIT;
        ws_channel_build(&msg, s->channels, channel, data, len);
        ws_send_frame(s, ws_channel_protocol_is_base64(s->channels) ? WS_OP_TEXT : WS_OP_BINARY, msg.buf,
                      msg.len);
}

static void deliver(stream_session *s, stream_entry *e, const uint8_t *data, size_t len)
{
        if (len && s->h.data)
                s->h.data(s->userdata, e->id, data, len);
}

static void remote_end(stream_session *s, stream_entry *e, bool reset)
{
        if (e->reset || (e->remote_fin && !reset))
                return;
        if (reset) {
                e->reset = true;
                strbuf_release(&e->pending);
                e->pending_off = 0;
        } else {
                e->remote_fin = true;
        }
        if (s->h.end)
                s->h.end(s->userdata, e->id, reset);
}

static int ws_on_data_message(stream_session *s, const uint8_t *data, size_t len)
{
        ws_channel_message m;
        int r = ws_channel_split(s->channels, data, len, &s->scratch, &m, s->feed_err);
        if (r <= 0)
                return r;
        stream_entry *e = find(s, m.channel);
        if (!e || e->reset)
                return 0; /* a channel nobody opened */
        if (m.close) {
                remote_end(s, e, false);
                return 0;
        }
        size_t skip = e->skip < m.len ? e->skip : m.len;
        e->skip -= (unsigned)skip;
        if (!e->remote_fin)
                deliver(s, e, m.data + skip, m.len - skip);
        return 0;
}

static int ws_on_message(ws_opcode op, const uint8_t *data, size_t len, void *userdata)
{
        stream_session *s = userdata;
        switch (op) {
        case WS_OP_TEXT:
        case WS_OP_BINARY:
                return ws_on_data_message(s, data, len);
        case WS_OP_PING:
                if (!s->close_sent)
                        ws_send_frame(s, WS_OP_PONG, data, len);
                return 0;
        case WS_OP_CLOSE: {
                s->close_received = true;
                uint16_t code = len >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : WS_CLOSE_NO_STATUS;
                /* Echo the code (section 5.5.1); 1005 means an empty Close. */
                ws_send_close(s, code);
                return 0;
        }
        default:
                return 0;
        }
}

/* ---- SPDY --------------------------------------------------------------------------- */

static void spdy_flush_stream(stream_session *s, stream_entry *e)
{
        if (e->reset || !e->replied || e->fin_sent)
                return;
        while (e->pending_off < e->pending.len) {
                size_t n = e->pending.len - e->pending_off;
                if (n > CHUNK)
                        n = CHUNK;
                if (!s->ignore_windows)
                        n = spdy_window_sendable(&s->window, spdy_window_sendable(&e->window, n));
                if (n == 0) {
                        if (!s->peer_flow_control && !s->blocked_since)
                                s->blocked_since = now_ms();
                        return;
                }
                spdy_encode_data(&s->out, (uint32_t)e->id, 0, e->pending.buf + e->pending_off, n);
                spdy_window_sent(&e->window, n);
                spdy_window_sent(&s->window, n);
                e->pending_off += n;
        }
        if (e->pending.alloc > 4 * CHUNK)
                strbuf_release(&e->pending);
        else
                strbuf_reset(&e->pending);
        e->pending_off = 0;
        if (e->fin_queued) {
                spdy_encode_data(&s->out, (uint32_t)e->id, SPDY_FLAG_FIN, NULL, 0);
                e->fin_sent = true;
        }
}

static void spdy_flush_all(stream_session *s)
{
        for (size_t i = 0; i < s->n_streams; i++)
                spdy_flush_stream(s, s->streams[i]);
}

static void spdy_reset(stream_session *s, stream_entry *e, uint32_t status)
{
        spdy_encode_rst_stream(&s->out, (uint32_t)e->id, status);
        remote_end(s, e, true);
}

/* Credit the session window for n bytes no stream will consume. */
static void spdy_credit_session(stream_session *s, size_t n)
{
        uint32_t delta = spdy_window_consumed(&s->window, n);
        if (delta)
                spdy_encode_window_update(&s->out, 0, delta);
}

static void spdy_on_data(stream_session *s, const spdy_frame *f)
{
        /* Counted without a check: a server that ignores our window
         * (spdystream) is tolerated, the protocol is not worth failing
         * for it. */
        s->window.recv -= (int64_t)f->data_len;
        stream_entry *e = find(s, (int)f->stream_id);
        if (!e || e->reset || e->remote_fin) {
                spdy_credit_session(s, f->data_len);
                if (e && e->remote_fin && !e->reset)
                        spdy_reset(s, e, SPDY_STREAM_ALREADY_CLOSED);
                return;
        }
        e->window.recv -= (int64_t)f->data_len;
        if (f->data_len)
                deliver(s, e, f->data, f->data_len);
        if (f->flags & SPDY_FLAG_FIN)
                remote_end(s, e, false);
}

static void spdy_on_settings(stream_session *s, const spdy_frame *f)
{
        for (size_t i = 0; i < f->n_settings; i++) {
                if (f->settings[i].id != SPDY_SETTINGS_INITIAL_WINDOW_SIZE)
                        continue;
                uint32_t v = f->settings[i].value;
                if (v > SPDY_MAX_WINDOW)
                        continue;
                for (size_t k = 0; k < s->n_streams; k++) {
                        ocid_error ignored = OCID_ERROR_INIT;
                        spdy_window_initial_changed(&s->streams[k]->window, s->peer_initial_window, v, &ignored);
                        ocid_error_clear(&ignored);
                }
                s->peer_initial_window = v;
                s->peer_flow_control = true;
                s->blocked_since = 0;
        }
        spdy_flush_all(s);
}

static void spdy_on_window_update(stream_session *s, const spdy_frame *f)
{
        s->peer_flow_control = true;
        s->blocked_since = 0;
        ocid_error e_err = OCID_ERROR_INIT;
        if (f->stream_id == 0) {
                /* An overflow of the session window: keep the window at
                 * its largest rather than end every stream. */
                if (spdy_window_update(&s->window, f->delta_window, &e_err) < 0)
                        s->window.send = SPDY_MAX_WINDOW;
        } else {
                stream_entry *e = find(s, (int)f->stream_id);
                if (e && !e->reset && spdy_window_update(&e->window, f->delta_window, &e_err) < 0)
                        spdy_reset(s, e, SPDY_FLOW_CONTROL_ERROR);
        }
        ocid_error_clear(&e_err);
        spdy_flush_all(s);
}

static int spdy_on_frame(const spdy_frame *f, void *userdata)
{
        stream_session *s = userdata;
        stream_entry *e = NULL;
        if (f->type != SPDY_DATA && f->type != SPDY_SYN_STREAM && f->stream_id)
                e = find(s, (int)f->stream_id);
        switch (f->type) {
        case SPDY_DATA:
                spdy_on_data(s, f);
                break;
        case SPDY_SYN_REPLY:
                if (e && !e->reset && !e->replied) {
                        e->replied = true;
                        spdy_flush_stream(s, e);
                        if (f->flags & SPDY_FLAG_FIN)
                                remote_end(s, e, false);
                }
                break;
        case SPDY_HEADERS:
                if (e && (f->flags & SPDY_FLAG_FIN))
                        remote_end(s, e, false);
                break;
        case SPDY_RST_STREAM:
                if (e)
                        remote_end(s, e, true);
                break;
        case SPDY_SETTINGS:
                spdy_on_settings(s, f);
                break;
        case SPDY_PING:
                /* Even ids are the server's pings: echo them. */
                if (f->ping_id % 2 == 0)
                        spdy_encode_ping(&s->out, f->ping_id);
                break;
        case SPDY_GOAWAY:
                s->goaway = true;
                break;
        case SPDY_WINDOW_UPDATE:
                spdy_on_window_update(s, f);
                break;
        case SPDY_SYN_STREAM:
                /* The server has no business opening streams here. */
                spdy_encode_rst_stream(&s->out, f->stream_id, SPDY_REFUSED_STREAM);
                break;
        }
        return 0;
}

/* ---- driving ------------------------------------------------------------------------ */

static int feed(stream_session *s, const uint8_t *data, size_t len, ocid_error *err)
{
        s->feed_err = err;
        int r;
        if (s->transport == STREAM_SPDY) {
                r = spdy_reader_feed(s->sr, data, len, spdy_on_frame, s, err);
                if (r < 0 && err->kind != OCID_OK) {
                        spdy_encode_goaway(&s->out, 0, spdy_reader_goaway_status(s->sr));
                        s->goaway = s->goaway_sent = true;
                }
        } else {
                /* Bytes after a Close are the server's mistake, not worth
                 * a failure: the session is over anyway. */
                if (s->close_received)
                        return 0;
                r = ws_reader_feed(&s->wr, data, len, ws_on_message, s, err);
                if (r < 0 && s->wr.close_code)
                        ws_send_close(s, s->wr.close_code);
        }
        s->feed_err = NULL;
        if (r < 0) {
                if (err->kind == OCID_OK)
                        ocid_error_set(err, OCID_ERR_INTERNAL, "stream session: callback failed");
                ocid_error_wrap(err, "streaming protocol");
                s->failed = true;
                return -1;
        }
        return 0;
}

static bool tls_buffered(const stream_session *s)
{
        return s->c.ssl && SSL_pending(s->c.ssl) > 0;
}

static int read_some(stream_session *s, ocid_error *err)
{
        uint8_t buf[64 * 1024];
        /* Bounded, so that a fast server cannot starve the caller's fds. */
        for (int round = 0; round < 16 && !s->paused && !s->eof && !s->failed; round++) {
                ssize_t n = conn_read(&s->c, buf, sizeof(buf), err);
                if (n == IO_AGAIN)
                        return 0;
                if (n < 0) {
                        s->failed = s->broken = true;
                        return -1;
                }
                if (n == 0) {
                        s->eof = true;
                        return 0;
                }
                if (feed(s, buf, (size_t)n, err) < 0)
                        return -1;
        }
        return 0;
}

static int write_some(stream_session *s, ocid_error *err)
{
        while (out_pending(s)) {
                ssize_t n = conn_write(&s->c, s->out.buf + s->out_off, out_pending(s), err);
                if (n == IO_AGAIN)
                        return 0;
                if (n < 0) {
                        s->failed = s->broken = true;
                        return -1;
                }
                s->out_off += (size_t)n;
        }
        if (s->out.alloc > 1024 * 1024)
                strbuf_release(&s->out);
        else
                strbuf_reset(&s->out);
        s->out_off = 0;
        return 0;
}

static void check_window_grace(stream_session *s)
{
        if (s->blocked_since && !s->peer_flow_control && now_ms() - s->blocked_since >= WINDOW_GRACE_MS) {
                s->ignore_windows = true;
                s->blocked_since = 0;
                spdy_flush_all(s);
        }
}

int stream_session_prepare(stream_session *s, struct pollfd *pfd)
{
        pfd->fd = s->c.fd;
        pfd->events = 0;
        pfd->revents = 0;
        bool reading = !s->paused && !s->eof;
        if (reading || s->c.write_wants_read)
                pfd->events |= POLLIN;
        if (out_pending(s) || (reading && s->c.read_wants_write))
                pfd->events |= POLLOUT;
        if (s->early.len || (reading && tls_buffered(s)))
                return 0;
        if (s->blocked_since && !s->peer_flow_control) {
                int64_t left = s->blocked_since + WINDOW_GRACE_MS - now_ms();
                return left < 0 ? 0 : (int)left;
        }
        return -1;
}

static bool ended(const stream_session *s)
{
        if (s->eof)
                return true;
        /* WebSocket: once both Closes are out, the TCP connection is the
         * server's to close; nothing more is read. */
        return s->transport == STREAM_WEBSOCKET && s->close_received && s->close_sent && !out_pending(s);
}

int stream_session_dispatch(stream_session *s, short revents, ocid_error *err)
{
        (void)revents; /* reads and writes are attempted anyway: they never block */
        if (s->failed)
                return ocid_error_set(err, OCID_ERR_UNAVAILABLE, "the stream session has failed");
        int r = 0;
        if (s->early.len && !s->paused) {
                _cleanup_strbuf_ strbuf early = s->early;
                strbuf_init(&s->early);
                r = feed(s, (const uint8_t *)early.buf, early.len, err);
        }
        if (r == 0)
                r = read_some(s, err);
        if (s->transport == STREAM_SPDY)
                check_window_grace(s);
        /* Even after a protocol failure: a GOAWAY or Close may be queued. */
        ocid_error werr = OCID_ERROR_INIT;
        int w = s->broken ? 0 : write_some(s, r < 0 ? &werr : err);
        ocid_error_clear(&werr);
        sweep(s);
        if (r < 0 || w < 0)
                return -1;
        return ended(s) ? 0 : 1;
}

int stream_session_pump(stream_session *s, struct pollfd *fds, size_t n_fds, int timeout_ms,
                        ocid_error *err)
{
        struct pollfd stack[16];
        struct pollfd *all = n_fds < ARRAY_SIZE(stack) ? stack : xcalloc(n_fds + 1, sizeof(*all));
        int t = stream_session_prepare(s, &all[0]);
        if (t >= 0 && (timeout_ms < 0 || t < timeout_ms))
                timeout_ms = t;
        for (size_t i = 0; i < n_fds; i++) {
                all[i + 1] = fds[i];
                all[i + 1].revents = 0;
        }
        int r = poll(all, n_fds + 1, timeout_ms);
        if (r < 0 && errno != EINTR) {
                r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "poll");
        } else {
                for (size_t i = 0; i < n_fds; i++)
                        fds[i].revents = r > 0 ? all[i + 1].revents : 0;
                r = stream_session_dispatch(s, r > 0 ? all[0].revents : 0, err);
        }
        if (all != stack)
                free(all);
        return r;
}

bool stream_session_ended_cleanly(const stream_session *s)
{
        if (s->failed)
                return false;
        return s->transport == STREAM_SPDY ? s->eof || s->goaway : s->close_received;
}

void stream_session_pause(stream_session *s, bool paused)
{
        s->paused = paused;
}

void stream_session_shutdown(stream_session *s, int timeout_ms)
{
        if (s->broken)
                return;
        if (s->transport == STREAM_SPDY && !s->goaway_sent) {
                spdy_encode_goaway(&s->out, spdy_reader_last_stream_id(s->sr), SPDY_GOAWAY_OK);
                s->goaway = s->goaway_sent = true;
        } else if (s->transport == STREAM_WEBSOCKET && !s->failed) {
                ws_send_close(s, WS_CLOSE_NORMAL);
        }
        int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
        ocid_error err = OCID_ERROR_INIT;
        while (out_pending(s) && !s->broken) {
                if (write_some(s, &err) < 0 || !out_pending(s))
                        break;
                if (wait_fd(s->c.fd, conn_wants(&s->c, true), deadline, "shutdown", &err) < 0)
                        break;
        }
        ocid_error_clear(&err);
        if (s->c.ssl && !s->broken)
                SSL_shutdown(s->c.ssl); /* close_notify, best effort: no waiting for the answer */
        if (s->c.fd >= 0)
                shutdown(s->c.fd, SHUT_WR);
}

/* ---- streams ------------------------------------------------------------------------- */

/* The channel a stream type has over WebSocket: exec and attach use fixed
 * channels; port-forward pairs data and error per port. */
static int ws_channel_for(const stream_spec *spec)
{
        static const char *const names[] = { "stdin", "stdout", "stderr", "error", "resize" };
        if (spec->port) {
                if (spec->port_index > 126)
                        return -1;
                return (int)(2 * spec->port_index + (STREQ(spec->type, "error") ? 1 : 0));
        }
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if (STREQ(spec->type, names[i]))
                        return (int)i;
        return -1;
}

static int ws_open(stream_session *s, const stream_spec *spec, ocid_error *err)
{
        int ch = ws_channel_for(spec);
        if (ch < 0)
                return ocid_error_set(err, OCID_ERR_INVALID, "no WebSocket channel for stream type '%s'",
                                      spec->type);
        if (ws_channel_protocol_is_base64(s->channels) && ch > 9)
                return ocid_error_set(err, OCID_ERR_INVALID, "channel %d does not fit %s", ch,
                                      ws_channel_protocol_name(s->channels));
        stream_entry *e = find(s, ch);
        if (e)
                return ch;
        e = add_entry(s, ch);
        e->replied = true;
        /* The server starts each port-forward channel with the port it
         * serves, two bytes little-endian. */
        e->skip = spec->port ? 2 : 0;
        return ch;
}

static int spdy_open(stream_session *s, const stream_spec *spec, ocid_error *err)
{
        if (s->goaway || s->eof || s->failed)
                return ocid_error_set(err, OCID_ERR_UNAVAILABLE, "the streaming session is closing");
        if (s->next_id > SPDY_MAX_STREAM_ID)
                return ocid_error_set(err, OCID_ERR_RESOURCE, "out of SPDY stream ids");
        char port[16], request_id[16];
        spdy_header h[3] = { { .name = (char *)"streamtype", .value = (char *)spec->type } };
        size_t n = 1;
        if (spec->port) {
                snprintf(port, sizeof(port), "%d", spec->port);
                snprintf(request_id, sizeof(request_id), "%u", spec->request_id);
                h[n++] = (spdy_header){ .name = (char *)"port", .value = port };
                h[n++] = (spdy_header){ .name = (char *)"requestid", .value = request_id };
        }
        for (size_t i = 0; i < n; i++)
                h[i].value_len = strlen(h[i].value);
        uint32_t id = s->next_id;
        if (spdy_writer_syn_stream(s->sw, &s->out, id, 0, 0, 0, h, n, err) < 0)
                return -1;
        s->next_id += 2;
        add_entry(s, (int)id);
        return (int)id;
}

int stream_open(stream_session *s, const stream_spec *spec, ocid_error *err)
{
        if (!spec->type || !*spec->type)
                return ocid_error_set(err, OCID_ERR_INVALID, "stream without a type");
        return s->transport == STREAM_SPDY ? spdy_open(s, spec, err) : ws_open(s, spec, err);
}

int stream_send(stream_session *s, int stream, const void *data, size_t len, ocid_error *err)
{
        stream_entry *e = find(s, stream);
        if (!e || e->reset || e->fin_queued)
                return ocid_error_set(err, OCID_ERR_PRECONDITION, "stream %d is closed", stream);
        if (s->failed || s->eof || s->close_sent)
                return ocid_error_set(err, OCID_ERR_UNAVAILABLE, "the streaming session has ended");
        if (s->transport == STREAM_WEBSOCKET) {
                const uint8_t *p = data;
                for (size_t off = 0; off < len; off += CHUNK)
                        ws_send_channel(s, (uint8_t)e->id, p + off, len - off < CHUNK ? len - off : CHUNK);
                return 0;
        }
        strbuf_add(&e->pending, data, len);
        spdy_flush_stream(s, e);
        return 0;
}

int stream_close(stream_session *s, int stream, ocid_error *err)
{
        stream_entry *e = find(s, stream);
        if (!e || e->reset || e->fin_queued)
                return 0;
        e->fin_queued = true;
        if (s->transport == STREAM_SPDY) {
                spdy_flush_stream(s, e);
                return 0;
        }
        e->fin_sent = true;
        if (s->channels != WS_CHANNEL_V5 || s->close_sent)
                return 0;
        _cleanup_strbuf_ strbuf msg = STRBUF_INIT;
        if (ws_channel_close_build(&msg, s->channels, (uint8_t)e->id) < 0)
                return ocid_error_set(err, OCID_ERR_INTERNAL, "cannot close channel %d", e->id);
        ws_send_frame(s, WS_OP_BINARY, msg.buf, msg.len);
        return 0;
}

void stream_reset(stream_session *s, int stream)
{
        stream_entry *e = find(s, stream);
        if (!e || e->reset)
                return;
        if (s->transport == STREAM_SPDY && !(e->fin_sent && e->remote_fin))
                spdy_encode_rst_stream(&s->out, (uint32_t)e->id, SPDY_CANCEL);
        e->reset = true;
        strbuf_release(&e->pending);
        e->pending_off = 0;
}

void stream_consumed(stream_session *s, int stream, size_t n)
{
        if (s->transport != STREAM_SPDY || n == 0)
                return;
        spdy_credit_session(s, n);
        stream_entry *e = find(s, stream);
        if (!e || e->reset || e->remote_fin)
                return;
        uint32_t delta = spdy_window_consumed(&e->window, n);
        if (delta)
                spdy_encode_window_update(&s->out, (uint32_t)e->id, delta);
}

bool stream_writable(const stream_session *s, int stream)
{
        const stream_entry *e = find(s, stream);
        if (!e || e->reset || e->fin_queued || s->failed || s->eof)
                return false;
        return out_pending(s) < OUT_HIGH_WATER && e->pending.len - e->pending_off < 2 * CHUNK;
}

/* ---- dialing ------------------------------------------------------------------------ */

static void build_request(strbuf *out, const stream_url *u, const stream_dial_options *o, const char *ws_key)
{
        strbuf_addf(out, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ocic/%s\r\nConnection: Upgrade\r\n",
                    u->target, u->authority, OCID_VERSION);
        if (o->transport == STREAM_SPDY) {
                strbuf_adds(out, "Upgrade: SPDY/3.1\r\n");
                for (const char *const *p = o->protocols; p && *p; p++)
                        strbuf_addf(out, HTTP_STREAM_PROTOCOL_HEADER ": %s\r\n", *p);
        } else {
                strbuf_addf(out, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n",
                            ws_key);
                if (o->protocols && *o->protocols) {
                        strbuf_adds(out, HTTP_WEBSOCKET_PROTOCOL_HEADER ": ");
                        for (const char *const *p = o->protocols; *p; p++)
                                strbuf_addf(out, "%s%s", p == o->protocols ? "" : ", ", *p);
                        strbuf_adds(out, "\r\n");
                }
        }
        strbuf_adds(out, "\r\n");
}

/* Read the response head; bytes after it go to *early. */
static int read_head(conn *c, int64_t deadline, http_response_head *head, strbuf *early, ocid_error *err)
{
        http_response_parser p;
        http_response_parser_init(&p);
        uint8_t buf[4096];
        int r = 0;
        while (r == 0) {
                ssize_t n = conn_read(c, buf, sizeof(buf), err);
                if (n == IO_AGAIN) {
                        r = wait_fd(c->fd, conn_wants(c, false), deadline, "wait for the upgrade response", err);
                        continue;
                }
                if (n == 0)
                        r = ocid_error_set(err, OCID_ERR_UNAVAILABLE,
                                           "the streaming server closed the connection before answering");
                if (n <= 0)
                        break;
                size_t used;
                r = http_response_parser_feed(&p, buf, (size_t)n, &used, head, err);
                if (r == 1)
                        strbuf_add(early, buf + used, (size_t)n - used);
        }
        http_response_parser_release(&p);
        if (r < 0 && err->kind != OCID_ERR_DEADLINE && err->kind != OCID_ERR_UNAVAILABLE)
                ocid_error_wrap(err, "upgrade response");
        return r < 0 ? -1 : 0;
}

/* The body of a refusal: up to its Content-Length, or the end of the
 * connection, within a short wait; failures just end it. */
static void read_body(conn *c, const http_response_head *head, strbuf *body, int64_t deadline)
{
        const char *cl = http_response_head_header(head, "Content-Length");
        size_t want = MAX_ERROR_BODY;
        if (cl && all_digits(cl, strlen(cl)) && strlen(cl) < 10 && (size_t)atol(cl) < want)
                want = (size_t)atol(cl);
        int64_t soon = now_ms() + 2000;
        if (!deadline || soon < deadline)
                deadline = soon;
        uint8_t buf[1024];
        ocid_error err = OCID_ERROR_INIT;
        while (body->len < want) {
                ssize_t n = conn_read(c, buf, sizeof(buf), &err);
                if (n == IO_AGAIN) {
                        if (wait_fd(c->fd, conn_wants(c, false), deadline, "read", &err) < 0)
                                break;
                        continue;
                }
                if (n <= 0)
                        break;
                strbuf_add(body, buf, (size_t)n);
        }
        ocid_error_clear(&err);
        if (body->len > want)
                body->len = want;
        body->buf[body->len] = '\0';
}

static ocid_error_kind kind_for_status(int status)
{
        switch (status) {
        case 400: return OCID_ERR_INVALID;
        case 401: case 403: return OCID_ERR_PERMISSION;
        case 404: return OCID_ERR_NOT_FOUND;
        case 429: case 503: return OCID_ERR_UNAVAILABLE;
        default: return status >= 500 ? OCID_ERR_INTERNAL : OCID_ERR_UNAVAILABLE;
        }
}

/* The server's text/plain body becomes the message: one line, control
 * characters blanked, surrounding space dropped. */
static int refusal(conn *c, const http_response_head *head, strbuf *early, int64_t deadline, ocid_error *err)
{
        read_body(c, head, early, deadline);
        char *b = early->buf;
        for (size_t i = 0; i < early->len; i++)
                if ((unsigned char)b[i] < 0x20 || b[i] == 0x7f)
                        b[i] = ' ';
        size_t start = 0, end = early->len;
        while (start < end && b[start] == ' ')
                start++;
        while (end > start && b[end - 1] == ' ')
                end--;
        if (start == end)
                return ocid_error_set(err, kind_for_status(head->status),
                                      "the streaming server refused the upgrade: %d %s", head->status,
                                      head->reason);
        return ocid_error_set(err, kind_for_status(head->status), "%.*s", (int)(end - start), b + start);
}

static bool offered(const char *const *protocols, const char *p)
{
        for (; protocols && *protocols; protocols++)
                if (STREQ(*protocols, p))
                        return true;
        return false;
}

static int check_upgrade(stream_session *s, const http_response_head *head, const stream_dial_options *o,
                         const char *ws_key, ocid_error *err)
{
        const char *want = o->transport == STREAM_SPDY ? "SPDY/3.1" : "websocket";
        if (!http_response_head_has_token(head, "Upgrade", want)) {
                const char *got = http_response_head_header(head, "Upgrade");
                _cleanup_free_ char *q = http_quoted(got ? got : "", got ? strlen(got) : 0);
                return ocid_error_set(err, OCID_ERR_INVALID, "the server upgraded to %s, not %s", q, want);
        }
        const char *proto;
        if (o->transport == STREAM_SPDY) {
                proto = http_response_head_header(head, HTTP_STREAM_PROTOCOL_HEADER);
        } else {
                char accept[29];
                http_websocket_accept(ws_key, accept);
                const char *got = http_response_head_header(head, "Sec-WebSocket-Accept");
                if (!got || !STREQ(got, accept))
                        return ocid_error_set(err, OCID_ERR_INVALID, "wrong or missing Sec-WebSocket-Accept");
                proto = http_response_head_header(head, HTTP_WEBSOCKET_PROTOCOL_HEADER);
        }
        proto = proto ? proto : "";
        if (*proto && !offered(o->protocols, proto)) {
                _cleanup_free_ char *q = http_quoted(proto, strlen(proto));
                return ocid_error_set(err, OCID_ERR_INVALID, "the server chose protocol %s, which was not offered",
                                      q);
        }
        if (o->transport == STREAM_WEBSOCKET && ws_channel_protocol_from_name(proto, &s->channels) < 0) {
                _cleanup_free_ char *q = http_quoted(proto, strlen(proto));
                return ocid_error_set(err, OCID_ERR_INVALID, "unknown WebSocket subprotocol %s", q);
        }
        s->protocol = strdup(proto);
        if (!s->protocol)
                abort();
        return 0;
}

/* Our receive windows are opened wide before anything else is sent. What
 * holds a fast server back is TCP: we stop reading when our consumer is
 * slow. Small windows add nothing to that and can deadlock a server that
 * stops reading our connection while its process is behind on stdin:
 * our WINDOW_UPDATEs would wait behind that stdin, and the process behind
 * output the server may not send. */
static void spdy_open_windows(stream_session *s, uint32_t window)
{
        s->recv_window = window ? window : SPDY_MAX_WINDOW;
        /* The session window cannot shrink below its initial size. */
        if (s->recv_window <= SPDY_INITIAL_WINDOW) {
                s->recv_window = SPDY_INITIAL_WINDOW;
                return;
        }
        spdy_setting set = { .id = SPDY_SETTINGS_INITIAL_WINDOW_SIZE, .value = s->recv_window };
        spdy_encode_settings(&s->out, 0, &set, 1);
        spdy_window_init(&s->window, SPDY_INITIAL_WINDOW, s->recv_window);
        spdy_encode_window_update(&s->out, 0, s->recv_window - SPDY_INITIAL_WINDOW);
}

static int init_transport(stream_session *s, uint32_t recv_window)
{
        if (s->transport == STREAM_WEBSOCKET)
                return 0;
        s->sr = spdy_reader_new(SPDY_ROLE_CLIENT, 0);
        s->sw = spdy_writer_new();
        if (!s->sr || !s->sw)
                return -1;
        s->next_id = 1;
        s->peer_initial_window = SPDY_INITIAL_WINDOW;
        spdy_window_init(&s->window, SPDY_INITIAL_WINDOW, SPDY_INITIAL_WINDOW);
        spdy_open_windows(s, recv_window);
        return 0;
}

static int upgrade(stream_session *s, const stream_url *u, const stream_dial_options *o, int64_t deadline,
                   ocid_error *err)
{
        char key[25] = "";
        if (o->transport == STREAM_WEBSOCKET) {
                uint8_t nonce[16];
                random_bytes(nonce, sizeof(nonce));
                _cleanup_strbuf_ strbuf k = STRBUF_INIT;
                base64_encode(&k, nonce, sizeof(nonce));
                snprintf(key, sizeof(key), "%s", k.buf);
        }
        _cleanup_strbuf_ strbuf req = STRBUF_INIT;
        build_request(&req, u, o, key);
        if (send_all(&s->c, req.buf, req.len, deadline, err) < 0)
                return -1;
        http_response_head head;
        if (read_head(&s->c, deadline, &head, &s->early, err) < 0)
                return -1;
        int r;
        if (head.status != 101)
                r = refusal(&s->c, &head, &s->early, deadline, err);
        else
                r = check_upgrade(s, &head, o, key, err);
        http_response_head_release(&head);
        return r;
}

int stream_session_dial(const char *url, const stream_dial_options *o, const stream_handlers *h,
                        void *userdata, stream_session **ret, ocid_error *err)
{
        stream_url u;
        if (stream_url_parse(url, &u, err) < 0)
                return -1;
        int64_t deadline = o->timeout_ms > 0 ? now_ms() + o->timeout_ms : 0;
        stream_session *s = xcalloc(1, sizeof(*s));
        s->c.fd = -1;
        s->transport = o->transport;
        s->h = *h;
        s->userdata = userdata;
        strbuf_init(&s->out);
        strbuf_init(&s->early);
        strbuf_init(&s->scratch);
        ws_reader_init(&s->wr, WS_ROLE_CLIENT, 0);
        int r = tcp_connect(&u, deadline, &s->c.fd, err);
        if (r == 0 && u.tls) {
                r = tls_setup(&s->c, &u, o, err);
                if (r == 0)
                        r = tls_handshake(&s->c, deadline, err);
        }
        if (r == 0)
                r = upgrade(s, &u, o, deadline, err);
        if (r == 0 && init_transport(s, o->recv_window) < 0)
                r = ocid_error_set(err, OCID_ERR_INTERNAL, "out of memory for the SPDY compression state");
        stream_url_release(&u);
        if (r < 0) {
                stream_session_free(s);
                return -1;
        }
        *ret = s;
        return 0;
}
