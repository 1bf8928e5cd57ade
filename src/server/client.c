#include "server/client.h"
#include "server/grpc.h"
#include "util/cleanup.h"
#include "util/strbuf.h"

#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

struct grpc_client {
        int fd;
        char *endpoint;
        nghttp2_session *session;
};

typedef struct {
        grpc_client *client;
        int32_t id;
        bool closed;
        uint32_t rst_code;
        strbuf body; /* framed request */
        size_t body_off;
        grpc_frame_reader reader;
        const ProtobufCMessageDescriptor *resp_desc;
        grpc_client_message_fn on_message;
        void *data;
        int http_status;
        int grpc_status; /* -1 until seen */
        strbuf grpc_message;
        ocid_error *err;
        int failed;
} client_call;

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *connect_reason(int e)
{
        switch (e) {
        case ENOENT: return "no such file";
        case ECONNREFUSED: return "connection refused";
        case EACCES: return "permission denied";
        case ETIMEDOUT: return "timed out";
        default: return strerror(e);
        }
}

int grpc_client_connect(const char *endpoint, uint64_t timeout_ms, grpc_client **ret,
                        ocid_error *err)
{
        const char *path = endpoint;
        if (strncmp(path, "unix://", 7) == 0)
                path += 7;
        else if (strstr(path, "://"))
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "endpoint '%s': only unix:// endpoints are supported", endpoint);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path) || !*path)
                return ocid_error_set(err, OCID_ERR_INVALID, "endpoint '%s': bad socket path", endpoint);
        strcpy(sa.sun_path, path);

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return ocid_error_set(err, OCID_ERR_UNAVAILABLE, "cannot connect to unix://%s: %s",
                                      path, connect_reason(errno));
        if (timeout_ms) {
                struct timeval tv = { .tv_sec = (time_t)(timeout_ms / 1000),
                                      .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000 };
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        }
        grpc_client *c = calloc(1, sizeof(*c));
        if (!c)
                return ocid_error_set(err, OCID_ERR_RESOURCE, "out of memory");
        c->fd = TAKE_FD(fd);
        if (asprintf(&c->endpoint, "unix://%s", path) < 0)
                c->endpoint = NULL;
        *ret = c;
        return 0;
}

void grpc_client_free(grpc_client *c)
{
        if (!c)
                return;
        if (c->session)
                nghttp2_session_del(c->session);
        if (c->fd >= 0)
                close(c->fd);
        free(c->endpoint);
        free(c);
}

static ssize_t read_body(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *source, void *user_data)
{
        client_call *cc = source->ptr;
        size_t n = cc->body.len - cc->body_off;
        if (n > length)
                n = length;
        memcpy(buf, cc->body.buf + cc->body_off, n);
        cc->body_off += n;
        if (cc->body_off == cc->body.len)
                *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
}

/* A value that is not a status code reads as UNKNOWN, as gRPC says: never
 * as OK. */
static int parse_grpc_status(const uint8_t *value, size_t len)
{
        int code = 0;
        if (len == 0 || len > 2)
                return GRPC_UNKNOWN;
        for (size_t i = 0; i < len; i++) {
                if (value[i] < '0' || value[i] > '9')
                        return GRPC_UNKNOWN;
                code = code * 10 + (value[i] - '0');
        }
        return code <= GRPC_UNAUTHENTICATED ? code : GRPC_UNKNOWN;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
        client_call *cc = user_data;
        if (frame->hd.stream_id != cc->id)
                return 0;
        if (namelen == 7 && memcmp(name, ":status", 7) == 0)
                cc->http_status = atoi(strndupa((const char *)value, valuelen));
        else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0)
                cc->grpc_status = parse_grpc_status(value, valuelen);
        else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0)
                grpc_message_decode(&cc->grpc_message, (const char *)value, valuelen);
        return 0;
}

static int deliver(const uint8_t *msg, size_t len, void *data)
{
        client_call *cc = data;
        ProtobufCMessage *m = protobuf_c_message_unpack(cc->resp_desc, NULL, len, msg);
        if (!m)
                return ocid_error_set(cc->err, OCID_ERR_INTERNAL, "cannot decode the response message");
        int r = cc->on_message ? cc->on_message(m, cc->data, cc->err) : 0;
        if (r <= 0)
                protobuf_c_message_free_unpacked(m, NULL);
        return r < 0 ? r : 0;
}

static int on_data(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data,
                   size_t len, void *user_data)
{
        client_call *cc = user_data;
        if (id != cc->id || cc->failed)
                return 0;
        if (grpc_frame_reader_feed(&cc->reader, data, len, deliver, cc, cc->err) < 0) {
                cc->failed = -1;
                nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        }
        return 0;
}

static int on_close(nghttp2_session *session, int32_t id, uint32_t code, void *user_data)
{
        client_call *cc = user_data;
        if (id == cc->id) {
                cc->closed = true;
                cc->rst_code = code;
        }
        return 0;
}

static int session_setup(grpc_client *c, client_call *cc, ocid_error *err)
{
        if (c->session) {
                nghttp2_session_set_user_data(c->session, cc);
                return 0;
        }
        nghttp2_session_callbacks *cb;
        if (nghttp2_session_callbacks_new(&cb) != 0)
                return ocid_error_set(err, OCID_ERR_RESOURCE, "out of memory");
        nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
        int r = nghttp2_session_client_new(&c->session, cb, cc);
        nghttp2_session_callbacks_del(cb);
        if (r != 0)
                return ocid_error_set(err, OCID_ERR_RESOURCE, "out of memory");
        nghttp2_settings_entry settings[] = {
                { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20 },
        };
        nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, ARRAY_SIZE(settings));
        nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, 16 << 20);
        return 0;
}

/* Move bytes both ways until the call's stream closes or time runs out. */
static int pump(grpc_client *c, client_call *cc, uint64_t deadline, ocid_error *err)
{
        while (!cc->closed) {
                const uint8_t *out;
                ssize_t n;
                while ((n = nghttp2_session_mem_send(c->session, &out)) > 0) {
                        for (ssize_t off = 0; off < n;) {
                                ssize_t w = send(c->fd, out + off, (size_t)(n - off), MSG_NOSIGNAL);
                                if (w < 0) {
                                        if (errno == EINTR)
                                                continue;
                                        return ocid_error_set_errno(err, OCID_ERR_UNAVAILABLE, errno,
                                                                    "%s: write", c->endpoint);
                                }
                                off += w;
                        }
                }
                if (n < 0)
                        return ocid_error_set(err, OCID_ERR_INTERNAL, "http2: %s",
                                              nghttp2_strerror((int)n));
                /* Sending the request's last frame closes the stream when the
                 * response already arrived (an early error): do not wait
                 * for input that will never come. */
                if (cc->closed)
                        break;
                int wait = -1;
                if (deadline) {
                        uint64_t now = now_ms();
                        /* Give the server a moment past the deadline to say
                         * DEADLINE_EXCEEDED itself. */
                        if (now >= deadline + 1000)
                                return ocid_error_set(err, OCID_ERR_DEADLINE, "deadline exceeded");
                        wait = (int)(deadline + 1000 - now);
                }
                struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
                int p = poll(&pfd, 1, wait);
                if (p < 0 && errno != EINTR)
                        return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "poll");
                if (p <= 0)
                        continue;
                uint8_t buf[65536];
                ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
                if (r == 0)
                        return ocid_error_set(err, OCID_ERR_UNAVAILABLE,
                                              "%s: connection closed by the server", c->endpoint);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return ocid_error_set_errno(err, OCID_ERR_UNAVAILABLE, errno, "%s: read",
                                                    c->endpoint);
                }
                ssize_t q = nghttp2_session_mem_recv(c->session, buf, (size_t)r);
                if (q < 0)
                        return ocid_error_set(err, OCID_ERR_UNAVAILABLE, "http2: %s",
                                              nghttp2_strerror((int)q));
        }
        return 0;
}

int grpc_client_call(grpc_client *c, const char *path, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, uint64_t timeout_ms,
                     grpc_client_message_fn on_message, void *data, ocid_error *err)
{
        client_call cc = {
                .client = c, .resp_desc = resp_desc, .on_message = on_message, .data = data,
                .grpc_status = -1, .err = err, .body = STRBUF_INIT, .grpc_message = STRBUF_INIT,
        };
        grpc_frame_reader_init(&cc.reader, GRPC_MAX_MESSAGE);
        size_t size = protobuf_c_message_get_packed_size(req);
        uint8_t header[GRPC_FRAME_HEADER];
        grpc_frame_header(header, (uint32_t)size);
        strbuf_add(&cc.body, header, sizeof(header));
        strbuf_grow(&cc.body, size);
        protobuf_c_message_pack(req, (uint8_t *)cc.body.buf + cc.body.len);
        cc.body.len += size;

        int r = session_setup(c, &cc, err);
        if (r == 0) {
                char timeout[16];
                nghttp2_nv nv[7] = {
#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }
                        NV(":method", "POST"), NV(":scheme", "http"), NV(":path", path),
                        NV(":authority", "localhost"), NV("content-type", "application/grpc"),
                        NV("te", "trailers"),
                };
                size_t n = 6;
                if (timeout_ms) {
                        grpc_timeout_format(timeout_ms, timeout);
                        nv[n++] = (nghttp2_nv)NV("grpc-timeout", timeout);
                }
#undef NV
                nghttp2_data_provider provider = { .source.ptr = &cc, .read_callback = read_body };
                cc.id = nghttp2_submit_request(c->session, NULL, nv, n, &provider, &cc);
                if (cc.id < 0)
                        r = ocid_error_set(err, OCID_ERR_INTERNAL, "http2: %s", nghttp2_strerror(cc.id));
        }
        if (r == 0)
                r = pump(c, &cc, timeout_ms ? now_ms() + timeout_ms : 0, err);
        if (r == 0 && cc.failed)
                r = -1;
        if (r == 0) {
                if (cc.grpc_status > 0) {
                        grpc_status st = (grpc_status)cc.grpc_status;
                        r = ocid_error_set(err, grpc_status_to_error(st), "%s",
                                           cc.grpc_message.len ? cc.grpc_message.buf : grpc_status_name(st));
                } else if (cc.grpc_status < 0) {
                        r = cc.http_status && cc.http_status != 200
                                ? ocid_error_set(err, OCID_ERR_INTERNAL, "server answered HTTP %d", cc.http_status)
                                : ocid_error_set(err, OCID_ERR_INTERNAL,
                                                 "call ended without a status (stream reset, code %u)", cc.rst_code);
                }
        }
        if (c->session && cc.id > 0 && !cc.closed) {
                /* Giving up on a stream still open (a deadline, a broken
                 * connection): reset it and push the reset out now, so that
                 * the session drops the stream's data source, which points
                 * into this stack frame, before the next call runs it. */
                nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, cc.id, NGHTTP2_CANCEL);
                const uint8_t *out;
                ssize_t n;
                while ((n = nghttp2_session_mem_send(c->session, &out)) > 0)
                        if (send(c->fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                                break;
        }
        if (c->session)
                nghttp2_session_set_user_data(c->session, NULL);
        strbuf_release(&cc.body);
        strbuf_release(&cc.grpc_message);
        grpc_frame_reader_release(&cc.reader);
        return r;
}

typedef struct {
        ProtobufCMessage *msg;
        unsigned count;
} unary_result;

static int keep_one(ProtobufCMessage *msg, void *data, ocid_error *err)
{
        unary_result *u = data;
        if (++u->count > 1)
                return ocid_error_set(err, OCID_ERR_INTERNAL, "more than one response to a unary call");
        u->msg = msg;
        return 1;
}

int grpc_client_unary(grpc_client *c, const char *path, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *resp_desc, uint64_t timeout_ms,
                      ProtobufCMessage **ret, ocid_error *err)
{
        unary_result u = { 0 };
        int r = grpc_client_call(c, path, req, resp_desc, timeout_ms, keep_one, &u, err);
        if (r == 0 && u.count == 0)
                r = ocid_error_set(err, OCID_ERR_INTERNAL, "no response message");
        if (r < 0) {
                if (u.msg)
                        protobuf_c_message_free_unpacked(u.msg, NULL);
                return r;
        }
        *ret = u.msg;
        return 0;
}
