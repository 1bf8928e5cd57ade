#include "server/server.h"
#include "server/grpc.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/strbuf.h"

#include <nghttp2/nghttp2.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define READ_CHUNK (64 * 1024)
/* Flow-control windows: large enough that a 16 MiB request does not crawl. */
#define STREAM_WINDOW (1 << 20)
#define CONNECTION_WINDOW (16 << 20)
#define MAX_CONCURRENT_STREAMS 1024
#define MAX_PATH_LEN 256
/* nghttp2 gives flow-control credit back as data arrives, so without this
 * one connection could park 1024 streams of 16 MiB each in memory. */
#define MAX_PENDING_PER_CONNECTION (64u << 20)

typedef struct conn conn;
typedef struct stream stream;

struct server {
        loop *loop;
        workers *workers;
        int listen_fd;
        loop_source *listen_src;
        server_options opts;
        conn *conns;
        unsigned in_flight;
        bool shutting_down;
        loop_source *grace_timer;
        void (*shutdown_done)(void *);
        void *shutdown_data;
};

struct conn {
        server *srv;
        int fd;
        loop_source *src;
        nghttp2_session *session;
        strbuf out; /* bytes nghttp2 produced that the socket has not taken */
        size_t out_off;
        uint32_t events; /* what the loop watches for */
        size_t pending;  /* request bytes held by streams not yet dispatched */
        stream *streams;
        conn *prev, *next;
};

struct stream {
        conn *conn;
        int32_t id;
        stream *prev, *next;
        char *path;
        bool is_post;
        bool is_grpc;
        bool has_timeout;
        uint64_t timeout_ms;
        uint64_t started_ms;
        const rpc_method *method;
        grpc_frame_reader reader;
        strbuf request;
        unsigned n_messages;
        size_t pending;  /* bytes counted in conn->pending */
        bool responded; /* response headers submitted */
        bool finished;  /* final status decided */
        bool deferred;  /* data provider is waiting for output */
        grpc_status status;
        char *message;
        strbuf out;
        size_t out_off;
        loop_source *deadline;
        rpc_call *call;
};

/* Worker threads touch only the call (and the loop, to post): what they
 * need of the server is copied in, so a handler still running when the
 * server is freed does not reach into freed memory. */
struct rpc_call {
        server *srv;     /* loop thread only */
        loop *loop;
        void *context;
        size_t max_send;
        /* The call itself plus each message queued by rpc_call_send and not
         * yet delivered on the loop thread. */
        atomic_uint refs;
        stream *stream; /* NULL once the stream is gone or the call completed */
        const rpc_method *method;
        ProtobufCMessage *request;
        ProtobufCMessage *response;
        strbuf packed;
        int rc;
        ocid_error err;
        atomic_bool cancelled;
        uint64_t deadline_ms; /* CLOCK_MONOTONIC; 0: none */
};

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void conn_flush(conn *c);
static void conn_close(conn *c);
static void maybe_finish_shutdown(server *s);

/* ---- responses ---------------------------------------------------------- */

static void stream_submit_trailers(stream *st)
{
        _cleanup_strbuf_ strbuf msg = STRBUF_INIT;
        char code[12];
        snprintf(code, sizeof(code), "%d", st->status);
        nghttp2_nv trailers[2] = {
                { (uint8_t *)"grpc-status", (uint8_t *)code, 11, strlen(code), NGHTTP2_NV_FLAG_NONE },
        };
        size_t n = 1;
        if (st->message && *st->message) {
                grpc_message_encode(&msg, st->message);
                trailers[n++] = (nghttp2_nv){ (uint8_t *)"grpc-message", (uint8_t *)msg.buf, 12,
                                              msg.len, NGHTTP2_NV_FLAG_NONE };
        }
        int r = nghttp2_submit_trailer(st->conn->session, st->id, trailers, n);
        if (r != 0)
                log_warn("grpc %s: cannot submit trailers: %s", st->path, nghttp2_strerror(r));
}

static ssize_t stream_read_data(nghttp2_session *session, int32_t id, uint8_t *buf,
                                size_t length, uint32_t *flags,
                                nghttp2_data_source *source, void *user_data)
{
        stream *st = source->ptr;
        size_t avail = st->out.len - st->out_off;
        if (avail == 0) {
                if (!st->finished) {
                        st->deferred = true;
                        return NGHTTP2_ERR_DEFERRED;
                }
                *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
                stream_submit_trailers(st);
                return 0;
        }
        size_t n = avail < length ? avail : length;
        memcpy(buf, st->out.buf + st->out_off, n);
        st->out_off += n;
        if (st->out_off == st->out.len) {
                strbuf_reset(&st->out);
                st->out_off = 0;
        }
        return (ssize_t)n;
}

static const nghttp2_nv response_headers[] = {
        { (uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE },
        { (uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE },
        { (uint8_t *)"grpc-accept-encoding", (uint8_t *)"identity", 20, 8, NGHTTP2_NV_FLAG_NONE },
};

static void stream_start_response(stream *st)
{
        if (st->responded)
                return;
        st->responded = true;
        nghttp2_data_provider provider = { .source.ptr = st, .read_callback = stream_read_data };
        nghttp2_submit_response(st->conn->session, st->id, response_headers,
                                ARRAY_SIZE(response_headers), &provider);
}

static void stream_resume(stream *st)
{
        if (st->deferred) {
                st->deferred = false;
                nghttp2_session_resume_data(st->conn->session, st->id);
        }
}

static void stream_write_message(stream *st, const strbuf *framed)
{
        strbuf_add(&st->out, framed->buf, framed->len);
        stream_start_response(st);
        stream_resume(st);
}

/* Decide the call's final status. An error before any message goes out as a
 * single trailers-only HEADERS frame; otherwise trailers follow the data. */
static void stream_finish(stream *st, grpc_status status, const char *message)
{
        if (st->finished)
                return;
        st->finished = true;
        st->status = status;
        st->message = message ? strdup(message) : NULL;
        loop_source_remove(st->deadline);
        st->deadline = NULL;
        if (st->call)
                atomic_store(&st->call->cancelled, true);
        /* Failures of the daemon itself are worth an operator's attention;
         * a caller's bad request or a missing object is not. */
        log_at(status == GRPC_INTERNAL || status == GRPC_UNKNOWN || status == GRPC_UNAVAILABLE
                       ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG,
               "grpc %s: %s%s%s (%llu ms)", st->path ? st->path : "?",
               grpc_status_name(status), message ? ": " : "", message ? message : "",
               (unsigned long long)(now_ms() - st->started_ms));

        if (!st->responded) {
                st->responded = true;
                _cleanup_strbuf_ strbuf msg = STRBUF_INIT;
                char code[12];
                snprintf(code, sizeof(code), "%d", status);
                nghttp2_nv nv[5] = {
                        response_headers[0], response_headers[1], response_headers[2],
                        { (uint8_t *)"grpc-status", (uint8_t *)code, 11, strlen(code), NGHTTP2_NV_FLAG_NONE },
                };
                size_t n = 4;
                if (message && *message) {
                        grpc_message_encode(&msg, message);
                        nv[n++] = (nghttp2_nv){ (uint8_t *)"grpc-message", (uint8_t *)msg.buf,
                                                12, msg.len, NGHTTP2_NV_FLAG_NONE };
                }
                nghttp2_submit_response(st->conn->session, st->id, nv, n, NULL);
                return;
        }
        stream_resume(st);
}

static void stream_fail(stream *st, const ocid_error *err)
{
        stream_finish(st, grpc_status_from_error(err->kind),
                      err->message ? err->message : ocid_error_kind_name(err->kind));
}

/* A request that is not gRPC at all gets a plain HTTP status. */
static void stream_reject_http(stream *st, const char *status)
{
        st->finished = st->responded = true;
        nghttp2_nv nv[] = {
                { (uint8_t *)":status", (uint8_t *)status, 7, strlen(status), NGHTTP2_NV_FLAG_NONE },
        };
        nghttp2_submit_response(st->conn->session, st->id, nv, 1, NULL);
}

/* ---- calls -------------------------------------------------------------- */

void *rpc_call_context(rpc_call *call) { return call->context; }
const char *rpc_call_path(rpc_call *call) { return call->method->path; }
bool rpc_call_cancelled(rpc_call *call) { return atomic_load(&call->cancelled); }
const atomic_bool *rpc_call_cancelled_flag(rpc_call *call) { return &call->cancelled; }

uint64_t rpc_call_remaining_ms(rpc_call *call)
{
        if (!call->deadline_ms)
                return UINT64_MAX;
        uint64_t now = now_ms();
        return now >= call->deadline_ms ? 0 : call->deadline_ms - now;
}

static int pack_message(const ProtobufCMessage *msg, size_t limit, strbuf *out, ocid_error *err)
{
        size_t size = protobuf_c_message_get_packed_size(msg);
        if (size > limit)
                return ocid_error_set(err, OCID_ERR_RESOURCE,
                                      "response of %zu bytes exceeds the limit of %zu bytes",
                                      size, limit);
        uint8_t header[GRPC_FRAME_HEADER];
        grpc_frame_header(header, (uint32_t)size);
        strbuf_add(out, header, sizeof(header));
        strbuf_grow(out, size);
        protobuf_c_message_pack(msg, (uint8_t *)out->buf + out->len);
        out->len += size;
        out->buf[out->len] = '\0';
        return 0;
}

typedef struct {
        rpc_call *call;
        strbuf framed;
} stream_message;

static void call_free(rpc_call *call);

static void call_unref(rpc_call *call)
{
        if (atomic_fetch_sub(&call->refs, 1) == 1)
                call_free(call);
}

static void deliver_stream_message(void *p)
{
        stream_message *m = p;
        stream *st = m->call->stream;
        if (st && !st->finished) {
                stream_write_message(st, &m->framed);
                conn_flush(st->conn);
        }
        call_unref(m->call);
        strbuf_release(&m->framed);
        free(m);
}

int rpc_call_send(rpc_call *call, const ProtobufCMessage *msg, ocid_error *err)
{
        if (rpc_call_cancelled(call))
                return ocid_error_set(err, OCID_ERR_CANCELLED, "call cancelled");
        stream_message *m = calloc(1, sizeof(*m));
        if (!m)
                return ocid_error_set(err, OCID_ERR_RESOURCE, "out of memory");
        m->call = call;
        strbuf_init(&m->framed);
        if (pack_message(msg, call->max_send, &m->framed, err) < 0) {
                strbuf_release(&m->framed);
                free(m);
                return -1;
        }
        atomic_fetch_add(&call->refs, 1);
        if (loop_post(call->loop, deliver_stream_message, m) < 0) {
                atomic_fetch_sub(&call->refs, 1);
                strbuf_release(&m->framed);
                free(m);
                return ocid_error_set(err, OCID_ERR_RESOURCE, "cannot queue message");
        }
        return 0;
}

static void call_free(rpc_call *call)
{
        if (call->request)
                protobuf_c_message_free_unpacked(call->request, NULL);
        if (call->response)
                protobuf_c_message_free_unpacked(call->response, NULL);
        strbuf_release(&call->packed);
        ocid_error_clear(&call->err);
        free(call);
}

static void call_run(void *p)
{
        rpc_call *call = p;
        if (rpc_call_cancelled(call)) {
                call->rc = ocid_error_set(&call->err, OCID_ERR_CANCELLED, "call cancelled");
                return;
        }
        call->rc = call->method->handler(call, call->request, &call->response, &call->err);
        if (call->rc < 0 && call->err.kind == OCID_OK)
                ocid_error_set(&call->err, OCID_ERR_INTERNAL, "handler failed without a reason");
        if (call->rc == 0 && call->response)
                call->rc = pack_message(call->response, call->max_send, &call->packed, &call->err);
}

/* Settle the stream with the call's outcome, without writing to the socket:
 * this may run inside an nghttp2 callback, where the session must not be
 * driven (mem_send) nor, on a write error, deleted. Returns the connection
 * to flush, if any. */
static conn *call_settle(rpc_call *call)
{
        server *s = call->srv;
        stream *st = call->stream;
        conn *c = NULL;
        if (!(call->method->flags & RPC_INLINE))
                s->in_flight--;
        if (st) {
                c = st->conn;
                st->call = NULL;
                call->stream = NULL;
                if (call->rc < 0) {
                        stream_fail(st, &call->err);
                } else {
                        if (call->packed.len)
                                stream_write_message(st, &call->packed);
                        stream_finish(st, GRPC_OK, NULL);
                }
        }
        call_unref(call);
        return c;
}

/* On the loop thread, outside nghttp2: the worker's result is in. */
static void call_complete(void *p)
{
        rpc_call *call = p;
        server *s = call->srv;
        conn *c = call_settle(call);
        if (c)
                conn_flush(c);
        maybe_finish_shutdown(s);
}

static void deadline_expired(loop_source *src, void *data)
{
        stream *st = data;
        st->deadline = NULL;
        stream_finish(st, GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
        conn_flush(st->conn);
}

static const rpc_method *find_method(server *s, const char *path)
{
        for (size_t i = 0; i < s->opts.n_methods; i++)
                if (STREQ(s->opts.methods[i].path, path))
                        return &s->opts.methods[i];
        return NULL;
}

/* All headers are in: validate, find the method, arm the deadline. */
static void stream_headers_done(stream *st)
{
        server *s = st->conn->srv;
        if (!st->is_post) {
                stream_reject_http(st, "405");
                return;
        }
        if (!st->is_grpc) {
                stream_reject_http(st, "415");
                return;
        }
        /* Missing, or longer than any method's: still a gRPC request, which
         * gets a gRPC status, not an HTTP one. */
        if (!st->path) {
                stream_finish(st, GRPC_UNIMPLEMENTED, "unknown method");
                return;
        }
        if (st->has_timeout && st->timeout_ms == 0) {
                stream_finish(st, GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
                return;
        }
        st->method = find_method(s, st->path);
        /* Inline handlers answer as soon as the request is in: a timer
         * would cost more than the call. */
        if (st->has_timeout && st->method && !(st->method->flags & RPC_INLINE))
                loop_add_timer(s->loop, st->timeout_ms, deadline_expired, st, &st->deadline);
        if (!st->method) {
                _cleanup_free_ char *m = NULL;
                if (asprintf(&m, "unknown method %s", st->path) < 0)
                        m = NULL;
                stream_finish(st, GRPC_UNIMPLEMENTED, m);
        } else if (!st->method->handler) {
                _cleanup_free_ char *m = NULL;
                if (asprintf(&m, "method %s is not implemented", st->path) < 0)
                        m = NULL;
                stream_finish(st, GRPC_UNIMPLEMENTED, m);
        }
}

static int collect_message(const uint8_t *msg, size_t len, void *data)
{
        stream *st = data;
        if (++st->n_messages > 1)
                return -1;
        strbuf_add(&st->request, msg, len);
        return 0;
}

/* The request is decoded or given up: its bytes no longer count. */
static void stream_release_pending(stream *st)
{
        st->conn->pending -= st->pending;
        st->pending = 0;
}

/* The client's half is complete: decode and run the handler. */
static void stream_dispatch(stream *st)
{
        server *s = st->conn->srv;
        stream_release_pending(st);
        if (st->finished)
                return;
        if (st->n_messages != 1 || !grpc_frame_reader_idle(&st->reader)) {
                stream_finish(st, GRPC_INTERNAL, st->n_messages > 1 ?
                              "more than one request message for a unary call" :
                              "missing or truncated request message");
                return;
        }
        rpc_call *call = calloc(1, sizeof(*call));
        if (!call) {
                stream_finish(st, GRPC_RESOURCE_EXHAUSTED, "out of memory");
                return;
        }
        call->srv = s;
        call->loop = s->loop;
        call->context = s->opts.context;
        call->max_send = s->opts.max_send_message;
        atomic_init(&call->refs, 1);
        call->method = st->method;
        strbuf_init(&call->packed);
        if (st->has_timeout)
                call->deadline_ms = st->started_ms + st->timeout_ms;
        call->request = protobuf_c_message_unpack(st->method->input, NULL, st->request.len,
                                                  (const uint8_t *)st->request.buf);
        strbuf_release(&st->request);
        if (!call->request) {
                call_free(call);
                stream_finish(st, GRPC_INVALID_ARGUMENT, "cannot decode the request message");
                return;
        }
        call->stream = st;
        st->call = call;
        /* We are inside nghttp2_session_mem_recv: settle without flushing;
         * conn_io flushes once the input is processed. */
        if (st->method->flags & RPC_INLINE) {
                call_run(call);
                /* Messages an inline streaming handler sent are still queued
                 * on the loop: complete behind them, or they would be
                 * dropped after the final status. */
                if (atomic_load(&call->refs) > 1 && loop_post(s->loop, call_complete, call) == 0)
                        return;
                call_settle(call);
                return;
        }
        s->in_flight++;
        if (workers_submit(s->workers, call_run, call_complete, call) < 0) {
                call->rc = ocid_error_set(&call->err, OCID_ERR_RESOURCE, "out of memory");
                call_settle(call);
        }
}

/* ---- nghttp2 callbacks -------------------------------------------------- */

static void stream_free(stream *st)
{
        conn *c = st->conn;
        stream_release_pending(st);
        if (st->prev)
                st->prev->next = st->next;
        else
                c->streams = st->next;
        if (st->next)
                st->next->prev = st->prev;
        if (st->call) {
                atomic_store(&st->call->cancelled, true);
                st->call->stream = NULL;
        }
        loop_source_remove(st->deadline);
        grpc_frame_reader_release(&st->reader);
        strbuf_release(&st->request);
        strbuf_release(&st->out);
        free(st->path);
        free(st->message);
        free(st);
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
        conn *c = user_data;
        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0;
        stream *st = calloc(1, sizeof(*st));
        if (!st)
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        st->conn = c;
        st->id = frame->hd.stream_id;
        st->started_ms = now_ms();
        grpc_frame_reader_init(&st->reader, c->srv->opts.max_recv_message);
        strbuf_init(&st->request);
        strbuf_init(&st->out);
        st->next = c->streams;
        if (c->streams)
                c->streams->prev = st;
        c->streams = st;
        nghttp2_session_set_stream_user_data(session, st->id, st);
        return 0;
}

static bool header_is(const uint8_t *name, size_t len, const char *want)
{
        return len == strlen(want) && memcmp(name, want, len) == 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, uint8_t flags, void *user_data)
{
        stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (!st || frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0;
        if (header_is(name, namelen, ":path")) {
                if (valuelen <= MAX_PATH_LEN && !st->path)
                        st->path = strndup((const char *)value, valuelen);
        } else if (header_is(name, namelen, ":method")) {
                st->is_post = valuelen == 4 && memcmp(value, "POST", 4) == 0;
        } else if (header_is(name, namelen, "content-type")) {
                st->is_grpc = valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
                              (valuelen == 16 || value[16] == '+' || value[16] == ';');
        } else if (header_is(name, namelen, "grpc-timeout")) {
                uint64_t ms;
                if (grpc_timeout_parse((const char *)value, valuelen, &ms) == 0) {
                        st->has_timeout = true;
                        st->timeout_ms = ms;
                }
        }
        return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t id,
                         const uint8_t *data, size_t len, void *user_data)
{
        stream *st = nghttp2_session_get_stream_user_data(session, id);
        if (!st || st->finished)
                return 0;
        conn *c = st->conn;
        if (c->pending + len > MAX_PENDING_PER_CONNECTION) {
                stream_finish(st, GRPC_RESOURCE_EXHAUSTED, "too much request data in flight on this connection");
                stream_release_pending(st);
                return 0;
        }
        c->pending += len;
        st->pending += len;
        ocid_error err = OCID_ERROR_INIT;
        if (grpc_frame_reader_feed(&st->reader, data, len, collect_message, st, &err) < 0) {
                if (err.kind == OCID_OK)
                        stream_finish(st, GRPC_INTERNAL, "more than one request message for a unary call");
                else
                        stream_fail(st, &err);
                ocid_error_clear(&err);
        }
        return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
        stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (!st)
                return 0;
        if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
                stream_headers_done(st);
        if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
            (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
                stream_dispatch(st);
        return 0;
}

/* A response that ended before the request did (an error found early: an
 * oversized or compressed message, an unknown method, a deadline): ask the
 * client to stop sending (RFC 9113 section 8.1) rather than reading and
 * dropping however much it still has. */
static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
        if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
            (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
            nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0)
                nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                          NGHTTP2_NO_ERROR);
        return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code,
                           void *user_data)
{
        stream *st = nghttp2_session_get_stream_user_data(session, id);
        if (st) {
                if (st->call)
                        log_debug("grpc %s: cancelled by the client", st->path);
                stream_free(st);
        }
        return 0;
}

/* ---- connections -------------------------------------------------------- */

static void conn_update_events(conn *c)
{
        uint32_t ev = EPOLLIN | EPOLLRDHUP;
        if (c->out.len > c->out_off)
                ev |= EPOLLOUT;
        if (ev != c->events) {
                c->events = ev;
                loop_source_set_events(c->src, ev);
        }
}

static void conn_flush(conn *c)
{
        /* Gather everything nghttp2 has to say, then write it in one go:
         * a unary answer is HEADERS, DATA and trailers in a single send. */
        for (;;) {
                const uint8_t *data;
                ssize_t n = nghttp2_session_mem_send(c->session, &data);
                if (n < 0) {
                        log_warn("http2: %s", nghttp2_strerror((int)n));
                        conn_close(c);
                        return;
                }
                if (n == 0)
                        break;
                strbuf_add(&c->out, data, (size_t)n);
        }
        while (c->out_off < c->out.len) {
                ssize_t w = send(c->fd, c->out.buf + c->out_off, c->out.len - c->out_off,
                                 MSG_NOSIGNAL);
                if (w < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        conn_close(c);
                        return;
                }
                c->out_off += (size_t)w;
        }
        if (c->out_off == c->out.len) {
                strbuf_reset(&c->out);
                c->out_off = 0;
        }
        if (c->out.len == 0 && !nghttp2_session_want_read(c->session) &&
            !nghttp2_session_want_write(c->session)) {
                conn_close(c);
                return;
        }
        conn_update_events(c);
}

static void conn_close(conn *c)
{
        server *s = c->srv;
        while (c->streams) {
                nghttp2_session_set_stream_user_data(c->session, c->streams->id, NULL);
                stream_free(c->streams);
        }
        nghttp2_session_del(c->session);
        loop_source_remove(c->src);
        close(c->fd);
        strbuf_release(&c->out);
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        free(c);
        maybe_finish_shutdown(s);
}

static void conn_io(loop_source *src, int fd, uint32_t events, void *data)
{
        conn *c = data;
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
                uint8_t buf[READ_CHUNK];
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                        conn_close(c);
                        return;
                }
                if (n > 0) {
                        ssize_t r = nghttp2_session_mem_recv(c->session, buf, (size_t)n);
                        if (r < 0) {
                                log_debug("http2: %s", nghttp2_strerror((int)r));
                                conn_close(c);
                                return;
                        }
                }
        }
        conn_flush(c);
}

static nghttp2_session_callbacks *server_callbacks(void)
{
        nghttp2_session_callbacks *cb;
        if (nghttp2_session_callbacks_new(&cb) != 0)
                return NULL;
        nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
        nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
        return cb;
}

static int conn_new(server *s, int fd)
{
        conn *c = calloc(1, sizeof(*c));
        if (!c) {
                close(fd);
                return -ENOMEM;
        }
        c->srv = s;
        c->fd = fd;
        strbuf_init(&c->out);

        nghttp2_session_callbacks *cb = server_callbacks();
        nghttp2_option *opt = NULL;
        int r = cb ? nghttp2_option_new(&opt) : NGHTTP2_ERR_NOMEM;
        if (r == 0) {
                /* grpc-go sends the socket path as :authority, which
                 * nghttp2's HTTP messaging rules reject; we validate the
                 * request ourselves instead. */
                nghttp2_option_set_no_http_messaging(opt, 1);
                r = nghttp2_session_server_new2(&c->session, cb, c, opt);
        }
        nghttp2_option_del(opt);
        nghttp2_session_callbacks_del(cb);
        if (r != 0) {
                close(fd);
                free(c);
                return -ENOMEM;
        }
        nghttp2_settings_entry settings[] = {
                { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS },
                { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW },
                { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 64 * 1024 },
        };
        nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, ARRAY_SIZE(settings));
        nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, CONNECTION_WINDOW);

        c->events = EPOLLIN | EPOLLRDHUP;
        r = loop_add_io(s->loop, fd, c->events, conn_io, c, &c->src);
        if (r < 0) {
                nghttp2_session_del(c->session);
                close(fd);
                free(c);
                return r;
        }
        c->next = s->conns;
        if (s->conns)
                s->conns->prev = c;
        s->conns = c;
        conn_flush(c);
        return 0;
}

static void listen_io(loop_source *src, int fd, uint32_t events, void *data)
{
        server *s = data;
        for (;;) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                log_warn("accept: %m");
                        return;
                }
                int r = conn_new(s, cfd);
                if (r < 0)
                        log_warn("cannot set up a connection: %s", strerror(-r));
        }
}

int server_new(loop *l, workers *w, int listen_fd, const server_options *opts, server **ret)
{
        server *s = calloc(1, sizeof(*s));
        if (!s) {
                close(listen_fd);
                return -ENOMEM;
        }
        s->loop = l;
        s->workers = w;
        s->listen_fd = listen_fd;
        s->opts = *opts;
        if (!s->opts.max_recv_message)
                s->opts.max_recv_message = GRPC_MAX_MESSAGE;
        if (!s->opts.max_send_message)
                s->opts.max_send_message = GRPC_MAX_MESSAGE;
        int r = loop_add_io(l, listen_fd, EPOLLIN, listen_io, s, &s->listen_src);
        if (r < 0) {
                close(listen_fd);
                free(s);
                return r;
        }
        *ret = s;
        return 0;
}

unsigned server_calls_in_flight(const server *s)
{
        return s->in_flight;
}

static void maybe_finish_shutdown(server *s)
{
        if (!s->shutting_down || !s->shutdown_done || s->in_flight > 0)
                return;
        for (conn *c = s->conns; c; c = c->next)
                if (c->out.len > c->out_off || nghttp2_session_want_write(c->session))
                        return;
        void (*done)(void *) = s->shutdown_done;
        s->shutdown_done = NULL;
        loop_source_remove(s->grace_timer);
        s->grace_timer = NULL;
        done(s->shutdown_data);
}

static void grace_expired(loop_source *src, void *data)
{
        server *s = data;
        s->grace_timer = NULL;
        if (s->shutdown_done) {
                log_warn("shutdown: %u call(s) still in flight after the grace period", s->in_flight);
                void (*done)(void *) = s->shutdown_done;
                s->shutdown_done = NULL;
                done(s->shutdown_data);
        }
}

void server_shutdown(server *s, uint64_t grace_ms, void (*done)(void *), void *data)
{
        if (s->shutting_down)
                return;
        s->shutting_down = true;
        s->shutdown_done = done;
        s->shutdown_data = data;
        loop_source_remove(s->listen_src);
        s->listen_src = NULL;
        close(s->listen_fd);
        s->listen_fd = -1;
        /* Armed first: flushing below may close connections and finish the
         * shutdown, and done() may stop the loop. */
        loop_add_timer(s->loop, grace_ms, grace_expired, s, &s->grace_timer);
        for (conn *c = s->conns, *next; c; c = next) {
                next = c->next;
                nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
                                      nghttp2_session_get_last_proc_stream_id(c->session),
                                      NGHTTP2_NO_ERROR, NULL, 0);
                conn_flush(c);
        }
        maybe_finish_shutdown(s);
}

void server_free(server *s)
{
        if (!s)
                return;
        while (s->conns)
                conn_close(s->conns);
        loop_source_remove(s->listen_src);
        loop_source_remove(s->grace_timer);
        if (s->listen_fd >= 0)
                close(s->listen_fd);
        free(s);
}
