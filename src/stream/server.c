#include "stream/server.h"
#include "stream/http.h"
#include "stream/spdy.h"
#include "stream/tls_server.h"
#include "stream/websocket.h"
#include "util/cleanup.h"
#include "util/helper.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TOKENS 1000
/* How long a SPDY client has to open the streams its request needs. */
#define STREAM_SETUP_TIMEOUT_MS 30000
/* After the process ended, how long output still held open by its
 * children is waited for. */
#define OUTPUT_GRACE_MS 2000
/* After the client left, how long the process has to end on its own
 * (stdin closed, terminal hung up) before it is killed. */
#define KILL_GRACE_MS 2000
/* Buffered output to the client above which reading the process pauses,
 * and input for the process above which reading the client pauses. */
#define HIGH_WATER (256u * 1024)
#define READ_CHUNK (32u * 1024)
/* Input waiting for the process beyond which even a client that keeps
 * SPDY windows is not read (it does not keep them, then). */
#define MAX_BUFFERED_INPUT (4u * 1024 * 1024)
/* conmon reads what it forwards to stdin in packets of at most this. */
#define ATTACH_PACKET 8191
#define MAX_RESIZE_BUFFER 4096
/* How long a finished session waits for the client to close. */
#define DRAIN_TIMEOUT_MS 2000

/* A session's process before it has one, or when it cannot have one. */
#define NO_PROCESS ((stream_process){ .in_fd = -1, .out_fd = -1, .err_fd = -1, .tty_fd = -1, .attach_fd = -1, \
                                      .exit_fd = -1 })

/* The remotecommand channels, numbered as the WebSocket protocol does. */
enum { CH_STDIN, CH_STDOUT, CH_STDERR, CH_ERROR, CH_RESIZE, N_CHANNELS };
static const char *const channel_names[N_CHANNELS] = { "stdin", "stdout", "stderr", "error", "resize" };

typedef struct conn conn;
typedef struct endpoint endpoint;

/* One TCP connection forwarded (port forwarding): a pair of client
 * streams (SPDY) or channels (WebSocket) and a socket in the pod. */
typedef struct fwd {
        struct fwd *next;
        uint32_t request_id;   /* SPDY: the requestid header */
        uint16_t port;
        uint32_t data_route, error_route; /* SPDY stream ids or WebSocket channels */
        spdy_window data_window;
        bool have_data, have_error;
        bool dialing;
        endpoint *ep;
        strbuf early;          /* client data sent while connecting */
        bool early_fin;
        bool done;
} fwd;

/* A descriptor the session relays: what it reads goes to out_route,
 * what arrives for in_route is written to it. */
struct endpoint {
        conn *c;
        int fd;
        loop_source *src;
        bool reading, writing;    /* directions still open */
        bool packets;             /* conmon's attach socket */
        bool is_socket;           /* half-close with shutdown() */
        bool close_write_pending; /* the client closed: close once drained */
        int out_ch;               /* remotecommand channel for what is read, or -1 */
        uint32_t in_route;        /* SPDY: the client's stream written to the fd */
        size_t credit;            /* written to the fd, not yet given back to the client */
        fwd *fwd;                 /* port forwarding */
        strbuf in;                /* for the fd */
        size_t in_off;
};

#define MAX_ENDPOINTS 4

typedef enum { MODE_HEAD, MODE_SPDY, MODE_WEBSOCKET } conn_mode;

struct conn {
        stream_server *srv;
        conn *prev, *next;
        unsigned refs;            /* the server's list + work in flight */
        int fd;
        tls_server_conn *tls;     /* NULL: plain TCP */
        loop_source *src;
        bool closed;              /* the connection is gone or going */
        bool finishing;           /* close once out is flushed */
        bool draining;            /* flushed and shut down: reading until the client closes */
        strbuf out;
        size_t out_off;
        bool conn_paused;
        int64_t last_activity_ms;
        loop_source *idle_timer;
        loop_source *timer;

        conn_mode mode;
        http_parser parser;
        stream_request *req;
        bool status_json;         /* v4+: the end is a metav1.Status */
        bool counted;             /* in srv->n_sessions */

        spdy_reader *sr;
        spdy_writer *sw;
        spdy_window window;       /* the session's, both ways */
        /* Windows for what we send are honoured once the client shows it
         * keeps them (a WINDOW_UPDATE): Go's spdystream never does. */
        bool peer_flow_control;
        uint32_t peer_initial_window;
        ws_reader wr;
        ws_channel_protocol wsp;
        strbuf scratch;

        /* remotecommand */
        uint32_t chan_stream[N_CHANNELS]; /* SPDY stream ids, 0: not opened */
        spdy_window chan_window[N_CHANNELS];
        bool started;             /* the process was asked for */
        bool have_proc;
        stream_process proc;
        loop_source *exit_src;
        bool exited;
        int exit_code;
        char *failure;            /* the process could not be started */
        endpoint *eps[MAX_ENDPOINTS];
        size_t n_eps;
        endpoint *tty_ep;         /* the terminal's master, when there is one */
        strbuf early_stdin;       /* stdin sent before the process started */
        bool early_stdin_closed;
        strbuf resize;            /* an incomplete resize message */
        uint16_t width, height;   /* the terminal size last asked for */
        loop_source *size_wait;   /* waiting for it before starting */

        /* port forwarding */
        fwd *fwds;
};

typedef struct token {
        struct token *next;
        char id[24];
        stream_request *req;
        int64_t expires_ms;
} token;

struct stream_server {
        loop *loop;
        workers *workers;
        stream_server_options o;
        int listen_fd;
        loop_source *listen_src;
        const tls_server_ops *tls_ops;
        tls_server_ctx *tls;      /* NULL: plain HTTP */
        char *base_url;
        pthread_mutex_t lock;     /* tokens */
        token *tokens;
        size_t n_tokens;
        conn *conns;
        unsigned n_sessions;
};

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void stream_request_free(stream_request *r)
{
        if (!r)
                return;
        free(r->target);
        strv_free(r->cmd);
        free(r->ports);
        free(r);
}

/* ---- tokens ------------------------------------------------------------------------ */

static void tokens_expire_locked(stream_server *s, int64_t now)
{
        for (token **p = &s->tokens; *p;) {
                token *t = *p;
                if (t->expires_ms > now) {
                        p = &t->next;
                        continue;
                }
                *p = t->next;
                stream_request_free(t->req);
                free(t);
                s->n_tokens--;
        }
}

int stream_server_url(stream_server *s, stream_request *req, char **ret_url, ocid_error *err)
{
        /* 12 random bytes, URL-safe: unguessable, and never in a path
         * segment that needs escaping. */
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        uint8_t raw[16];
        if (getrandom(raw, sizeof(raw), 0) != sizeof(raw)) {
                stream_request_free(req);
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "getrandom");
        }
        token *t = xcalloc(1, sizeof(*t));
        for (size_t i = 0; i < sizeof(raw); i++)
                t->id[i] = alphabet[raw[i] & 63];
        t->req = req;
        int64_t now = now_ms();
        t->expires_ms = now + (int64_t)s->o.token_ttl_ms;
        pthread_mutex_lock(&s->lock);
        tokens_expire_locked(s, now);
        bool full = s->n_tokens >= MAX_TOKENS;
        if (!full) {
                t->next = s->tokens;
                s->tokens = t;
                s->n_tokens++;
        }
        pthread_mutex_unlock(&s->lock);
        if (full) {
                stream_request_free(req);
                free(t);
                return ocid_error_set(err, OCID_ERR_RESOURCE, "too many streaming requests waiting for their client");
        }
        static const char *const paths[] = { [STREAM_EXEC] = "exec", [STREAM_ATTACH] = "attach",
                                             [STREAM_PORTFORWARD] = "portforward" };
        if (asprintf(ret_url, "%s/%s/%s", s->base_url, paths[req->kind], t->id) < 0)
                abort();
        return 0;
}

static stream_request *token_consume(stream_server *s, const char *id)
{
        stream_request *req = NULL;
        pthread_mutex_lock(&s->lock);
        tokens_expire_locked(s, now_ms());
        for (token **p = &s->tokens; *p; p = &(*p)->next) {
                if (strcmp((*p)->id, id) != 0)
                        continue;
                token *t = *p;
                *p = t->next;
                req = t->req;
                free(t);
                s->n_tokens--;
                break;
        }
        pthread_mutex_unlock(&s->lock);
        return req;
}

/* ---- connection output --------------------------------------------------------------- */

static void conn_close(conn *c);
static void conn_unref(conn *c);
static void conn_update_events(conn *c);
static void endpoint_update(endpoint *ep);
static void resume_endpoints(conn *c);

static size_t out_pending(const conn *c)
{
        return c->out.len - c->out_off;
}

/* The connection's bytes, through TLS when configured: >= 0 bytes (0:
 * the peer closed, for reads), -EAGAIN when the socket is not ready, or
 * another negative errno. */
static ssize_t transport_read(conn *c, void *buf, size_t len)
{
        if (!c->tls) {
                ssize_t n = recv(c->fd, buf, len, 0);
                return n < 0 ? -errno : n;
        }
        ssize_t n = c->srv->tls_ops->read(c->tls, buf, len);
        if (n < 0 && n != -EAGAIN)
                log_debug("streaming: TLS: %s", strerror((int)-n));
        return n;
}

static ssize_t transport_write(conn *c, const void *buf, size_t len)
{
        if (!c->tls) {
                ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
                return n < 0 ? -errno : n;
        }
        return c->srv->tls_ops->write(c->tls, buf, len);
}

static void drain_expired(loop_source *src, void *data)
{
        (void)src;
        conn *c = data;
        c->timer = NULL;
        conn_close(c);
}

/* All said: end our direction and read what the client still sends until
 * it closes too. Closing a socket with unread input resets the connection,
 * and a reset can destroy our last words before the client reads them. */
static void start_draining(conn *c)
{
        c->draining = true;
        if (c->tls)
                c->srv->tls_ops->shutdown(c->tls);
        shutdown(c->fd, SHUT_WR);
        if (c->timer)
                loop_source_remove(c->timer);
        c->timer = NULL;
        if (loop_add_timer(c->srv->loop, DRAIN_TIMEOUT_MS, drain_expired, c, &c->timer) < 0)
                conn_close(c);
}

static void conn_flush(conn *c)
{
        while (out_pending(c) > 0) {
                ssize_t n = transport_write(c, c->out.buf + c->out_off, out_pending(c));
                if (n < 0) {
                        if (n == -EINTR)
                                continue;
                        if (n != -EAGAIN)
                                conn_close(c);
                        break;
                }
                c->out_off += (size_t)n;
        }
        if (out_pending(c) == 0) {
                strbuf_reset(&c->out);
                c->out_off = 0;
                if (c->finishing && !c->draining)
                        start_draining(c);
        }
        if (c->closed)
                return;
        conn_update_events(c);
        /* Output drained below the mark: resume reading the process. */
        resume_endpoints(c);
}

static bool out_congested(const conn *c)
{
        return out_pending(c) > HIGH_WATER;
}

/* The send window of one of the session's SPDY streams, or NULL. */
static spdy_window *stream_window(conn *c, uint32_t id)
{
        if (id == 0)
                return NULL;
        for (int ch = 0; ch < N_CHANNELS; ch++)
                if (c->chan_stream[ch] == id)
                        return &c->chan_window[ch];
        for (fwd *f = c->fwds; f; f = f->next)
                if (f->have_data && f->data_route == id)
                        return &f->data_window;
        return NULL;
}

/* How much may be sent on the route now. */
static size_t sendable(conn *c, uint32_t route, size_t want)
{
        if (c->mode != MODE_SPDY || !c->peer_flow_control)
                return want;
        spdy_window *w = stream_window(c, route);
        want = spdy_window_sendable(&c->window, want);
        return w ? spdy_window_sendable(w, want) : want;
}

/* Data for the client on a route: a SPDY stream or a WebSocket channel. */
static void send_data(conn *c, uint32_t route, const void *data, size_t len)
{
        if (c->closed)
                return;
        if (c->mode == MODE_SPDY) {
                if (route == 0)
                        return;
                spdy_window *w = stream_window(c, route);
                if (w)
                        spdy_window_sent(w, len);
                spdy_window_sent(&c->window, len);
                spdy_encode_data(&c->out, route, 0, data, len);
        } else {
                ws_channel_frame(&c->out, c->wsp, (uint8_t)route, data, len);
        }
}

/* We send nothing more on the route. WebSocket channels have no close
 * from the server's side. */
static void send_fin(conn *c, uint32_t route)
{
        if (!c->closed && c->mode == MODE_SPDY && route != 0)
                spdy_encode_data(&c->out, route, SPDY_FLAG_FIN, NULL, 0);
}

static uint32_t channel_route(const conn *c, int ch)
{
        return c->mode == MODE_SPDY ? c->chan_stream[ch] : (uint32_t)ch;
}

/* The client may send n more bytes on a SPDY stream: they left the
 * session (written where they go, or dropped). Windows are given back only
 * then, so a client that keeps them never has more in flight than they
 * allow, and the session need not stop reading the connection, where the
 * client's own WINDOW_UPDATEs arrive. */
static void credit(conn *c, uint32_t route, size_t n)
{
        if (c->mode != MODE_SPDY || c->closed || n == 0)
                return;
        if (route)
                spdy_encode_window_update(&c->out, route, (uint32_t)n);
        uint32_t delta = spdy_window_consumed(&c->window, n);
        if (delta)
                spdy_encode_window_update(&c->out, 0, delta);
}

/* ---- endpoints ------------------------------------------------------------------------ */

static void endpoint_io(loop_source *src, int fd, uint32_t events, void *data);

static endpoint *endpoint_new(conn *c, int fd, bool reading, bool writing, int out_ch)
{
        endpoint *ep = xcalloc(1, sizeof(*ep));
        *ep = (endpoint){ .c = c, .fd = fd, .reading = reading, .writing = writing, .out_ch = out_ch };
        strbuf_init(&ep->in);
        if (loop_add_io(c->srv->loop, fd, 0, endpoint_io, ep, &ep->src) < 0) {
                log_warn("streaming: cannot watch a descriptor");
                ep->src = NULL;
        }
        endpoint_update(ep);
        return ep;
}

/* Stop relaying and close the descriptor; the memory stays until the
 * connection is freed, as a callback of the endpoint may be running. */
static void endpoint_shut(endpoint *ep)
{
        if (!ep)
                return;
        if (ep->src)
                loop_source_remove(ep->src);
        ep->src = NULL;
        if (ep->fd >= 0)
                close(ep->fd);
        ep->fd = -1;
        ep->reading = ep->writing = ep->close_write_pending = false;
        strbuf_release(&ep->in);
        ep->in_off = 0;
}

static void endpoint_free(endpoint *ep)
{
        if (!ep)
                return;
        endpoint_shut(ep);
        free(ep);
}

static uint32_t endpoint_route(endpoint *ep)
{
        return ep->fwd ? ep->fwd->data_route : channel_route(ep->c, ep->out_ch < 0 ? CH_STDOUT : ep->out_ch);
}

static void endpoint_update(endpoint *ep)
{
        if (!ep->src)
                return;
        uint32_t ev = 0;
        if (ep->reading && !out_congested(ep->c) && sendable(ep->c, endpoint_route(ep), 1) > 0)
                ev |= EPOLLIN;
        if (ep->writing && ep->in.len > ep->in_off)
                ev |= EPOLLOUT;
        loop_source_set_events(ep->src, ev);
}

static void maybe_finish(conn *c);
static void fwd_check_done(fwd *f);

static void endpoint_close_write(endpoint *ep)
{
        if (!ep->writing)
                return;
        ep->writing = false;
        strbuf_reset(&ep->in);
        ep->in_off = 0;
        if (ep->is_socket)
                shutdown(ep->fd, SHUT_WR);
        else if (!ep->reading && ep->src) {
                /* A pipe's write end: closing it is the EOF. */
                loop_source_remove(ep->src);
                ep->src = NULL;
                close(ep->fd);
                ep->fd = -1;
        }
}

static void endpoint_read_eof(endpoint *ep)
{
        conn *c = ep->c;
        ep->reading = false;
        if (ep->fwd) {
                send_fin(c, ep->fwd->data_route);
                /* A WebSocket client cannot half-close a channel: the pod
                 * side ending is the end. */
                if (c->mode == MODE_WEBSOCKET)
                        endpoint_close_write(ep);
                fwd_check_done(ep->fwd);
        } else {
                maybe_finish(c);
        }
}

/* Route what was read from the endpoint. */
static void endpoint_deliver(endpoint *ep, const uint8_t *buf, size_t n)
{
        conn *c = ep->c;
        if (ep->fwd) {
                send_data(c, ep->fwd->data_route, buf, n);
                return;
        }
        int ch = ep->out_ch;
        if (ep->packets) {
                /* Each packet: which stream (2 stdout, 3 stderr), then the bytes. */
                if (n < 1)
                        return;
                ch = buf[0] == 3 ? CH_STDERR : CH_STDOUT;
                buf++;
                n--;
        }
        /* With a terminal there is one output stream. */
        if (ch == CH_STDERR && c->req->tty)
                ch = CH_STDOUT;
        if ((ch == CH_STDOUT && !c->req->out) || (ch == CH_STDERR && !c->req->err))
                return;
        send_data(c, channel_route(c, ch), buf, n);
}

static void endpoint_do_read(endpoint *ep)
{
        conn *c = ep->c;
        uint8_t buf[READ_CHUNK];
        while (ep->reading && !c->closed && !out_congested(c)) {
                /* A packet is read whole, even past the window. */
                size_t want = ep->packets ? sizeof(buf) : sendable(c, endpoint_route(ep), sizeof(buf));
                if (want == 0)
                        break;
                ssize_t n = read(ep->fd, buf, want);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n <= 0) {
                        /* A terminal whose other side closed reads EIO. */
                        endpoint_read_eof(ep);
                        break;
                }
                c->last_activity_ms = now_ms();
                endpoint_deliver(ep, buf, (size_t)n);
                if (ep->packets)
                        continue;
        }
        if (!c->closed)
                conn_flush(c);
}

static void endpoint_do_write(endpoint *ep)
{
        while (ep->writing && ep->in.len > ep->in_off) {
                size_t want = ep->in.len - ep->in_off;
                if (ep->packets && want > ATTACH_PACKET)
                        want = ATTACH_PACKET;
                ssize_t n = ep->is_socket ? send(ep->fd, ep->in.buf + ep->in_off, want, MSG_NOSIGNAL)
                                          : write(ep->fd, ep->in.buf + ep->in_off, want);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n < 0) {
                        /* The reader is gone (the process closed its stdin). */
                        endpoint_close_write(ep);
                        break;
                }
                ep->in_off += (size_t)n;
                ep->credit += (size_t)n;
        }
        if (ep->credit >= 16 * 1024 || (ep->credit && ep->in.len == ep->in_off)) {
                credit(ep->c, ep->in_route, ep->credit);
                ep->credit = 0;
        }
        if (ep->in.len == ep->in_off) {
                strbuf_reset(&ep->in);
                ep->in_off = 0;
                if (ep->close_write_pending)
                        endpoint_close_write(ep);
        }
        conn *c = ep->c;
        if (c->conn_paused && ep->in.len - ep->in_off <= HIGH_WATER)
                conn_update_events(c);
}

static void endpoint_io(loop_source *src, int fd, uint32_t events, void *data)
{
        (void)src;
        (void)fd;
        endpoint *ep = data;
        conn *c = ep->c;
        c->refs++;
        if (events & EPOLLOUT || (ep->writing && !ep->reading && events & (EPOLLERR | EPOLLHUP)))
                endpoint_do_write(ep);
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR) && ep->reading)
                endpoint_do_read(ep);
        /* Writing may have given windows back. */
        if (!c->closed && out_pending(c))
                conn_flush(c);
        if (!c->closed)
                endpoint_update(ep);
        conn_unref(c);
}

/* Bytes from the client for an endpoint. */
/* Returns how many bytes were kept (the rest was dropped). */
static size_t endpoint_feed(endpoint *ep, const uint8_t *data, size_t len)
{
        if (!ep || !ep->writing || ep->close_write_pending)
                return 0;
        strbuf_add(&ep->in, data, len);
        endpoint_do_write(ep);
        endpoint_update(ep);
        return len;
}

static void endpoint_shutdown_input(endpoint *ep)
{
        if (!ep || !ep->writing)
                return;
        ep->close_write_pending = true;
        endpoint_do_write(ep);
}

/* ---- remotecommand: the process --------------------------------------------------------- */

static endpoint *stdin_endpoint(conn *c)
{
        for (size_t i = 0; i < c->n_eps; i++)
                if (c->eps[i]->writing || c->eps[i]->close_write_pending)
                        return c->eps[i];
        return NULL;
}

static void write_status(conn *c)
{
        uint32_t route = channel_route(c, CH_ERROR);
        if (c->mode == MODE_SPDY && route == 0)
                return;
        _cleanup_strbuf_ strbuf msg = STRBUF_INIT;
        bool ok = !c->failure && c->exit_code == 0;
        if (!c->status_json) {
                /* The older protocols: an error's text, nothing on success. */
                if (c->failure)
                        strbuf_addf(&msg, "%s", c->failure);
                else if (!ok)
                        strbuf_addf(&msg, "command terminated with non-zero exit code: exit status %d",
                                       c->exit_code);
                if (msg.len)
                        send_data(c, route, msg.buf, msg.len);
                return;
        }
        json_object *st = json_object_new_object();
        json_object_object_add(st, "metadata", json_object_new_object());
        json_object_object_add(st, "status", json_object_new_string(ok ? "Success" : "Failure"));
        if (c->failure) {
                json_object_object_add(st, "message", json_object_new_string(c->failure));
                json_object_object_add(st, "reason", json_object_new_string("InternalError"));
                json_object_object_add(st, "code", json_object_new_int(500));
        } else if (!ok) {
                _cleanup_free_ char *text = NULL, *code = NULL;
                if (asprintf(&text, "command terminated with non-zero exit code: exit status %d", c->exit_code) < 0 ||
                    asprintf(&code, "%d", c->exit_code) < 0)
                        abort();
                json_object *cause = json_object_new_object();
                json_object_object_add(cause, "reason", json_object_new_string("ExitCode"));
                json_object_object_add(cause, "message", json_object_new_string(code));
                json_object *causes = json_object_new_array();
                json_object_array_add(causes, cause);
                json_object *details = json_object_new_object();
                json_object_object_add(details, "causes", causes);
                json_object_object_add(st, "message", json_object_new_string(text));
                json_object_object_add(st, "reason", json_object_new_string("NonZeroExitCode"));
                json_object_object_add(st, "details", details);
        }
        const char *text = json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN);
        send_data(c, route, text, strlen(text));
        json_object_put(st);
}

/* Everything the process wrote was relayed and it ended (or, for attach,
 * its output ended): send the outcome and close. */
static void finish(conn *c)
{
        if (c->finishing || c->closed)
                return;
        if (c->timer) {
                loop_source_remove(c->timer);
                c->timer = NULL;
        }
        if (c->req->kind != STREAM_PORTFORWARD)
                write_status(c);
        if (c->mode == MODE_SPDY) {
                for (int ch = 0; ch < N_CHANNELS; ch++)
                        if (ch != CH_STDIN && ch != CH_RESIZE)
                                send_fin(c, c->chan_stream[ch]);
                spdy_encode_goaway(&c->out, spdy_reader_last_stream_id(c->sr), SPDY_GOAWAY_OK);
        } else {
                ws_close_encode(&c->out, WS_CLOSE_NORMAL, "");
        }
        c->finishing = true;
        conn_flush(c);
}

static bool outputs_done(const conn *c)
{
        for (size_t i = 0; i < c->n_eps; i++)
                if (c->eps[i]->reading)
                        return false;
        return true;
}

static void output_grace_expired(loop_source *src, void *data)
{
        (void)src;
        conn *c = data;
        c->timer = NULL;
        finish(c);
}

static void maybe_finish(conn *c)
{
        if (c->closed || c->finishing || !c->have_proc)
                return;
        if (c->failure || (outputs_done(c) && (c->exited || c->proc.exit_fd < 0))) {
                finish(c);
                return;
        }
        /* Attach: the session is its output. */
        if (!c->exited)
                return;
        /* Ended, but a child of the process may hold its output open. */
        if (c->timer)
                loop_source_remove(c->timer);
        loop_add_timer(c->srv->loop, OUTPUT_GRACE_MS, output_grace_expired, c, &c->timer);
}

static void process_exited(loop_source *src, int fd, uint32_t events, void *data)
{
        (void)fd;
        (void)events;
        conn *c = data;
        loop_source_remove(src);
        c->exit_src = NULL;
        c->exit_code = c->proc.ops->wait(c->proc.handle);
        c->exited = true;
        if (c->closed) {
                /* The client is gone: this was all the session waited for. */
                if (c->timer)
                        loop_source_remove(c->timer);
                c->timer = NULL;
        } else {
                /* Read what is already there before deciding. */
                for (size_t i = 0; i < c->n_eps; i++)
                        if (c->eps[i]->reading)
                                endpoint_do_read(c->eps[i]);
                maybe_finish(c);
        }
        conn_unref(c); /* the exit is no longer waited for */
}

static void add_endpoint(conn *c, endpoint *ep)
{
        if (c->n_eps < MAX_ENDPOINTS)
                c->eps[c->n_eps++] = ep;
        else
                endpoint_free(ep);
}

static void start_now(conn *c);

/* A terminal's size is set on its master, which the session holds;
 * otherwise (attach) the backend knows how. */
static void resize_process(conn *c)
{
        struct winsize ws = { .ws_row = c->height, .ws_col = c->width };
        if (c->tty_ep && c->tty_ep->fd >= 0)
                ioctl(c->tty_ep->fd, TIOCSWINSZ, &ws);
        else if (c->proc.ops && c->proc.ops->resize)
                c->proc.ops->resize(c->proc.handle, c->width, c->height);
}

/* The resize channel carries {"Width":W,"Height":H} objects, one per
 * WebSocket message, back to back on a SPDY stream (split anywhere). */
static void resize_data(conn *c, const uint8_t *data, size_t len)
{
        if (c->resize.len + len > MAX_RESIZE_BUFFER)
                strbuf_reset(&c->resize); /* not resize messages: drop */
        strbuf_add(&c->resize, data, len);
        json_tokener *tok = json_tokener_new();
        size_t off = 0;
        bool got = false;
        while (off < c->resize.len) {
                json_object *o = json_tokener_parse_ex(tok, c->resize.buf + off, (int)(c->resize.len - off));
                if (!o && json_tokener_get_error(tok) == json_tokener_continue)
                        break; /* incomplete: wait for the rest */
                size_t used = json_tokener_get_parse_end(tok);
                off += used ? used : c->resize.len - off;
                json_tokener_reset(tok);
                json_object *w, *h;
                if (o && json_object_object_get_ex(o, "Width", &w) && json_object_object_get_ex(o, "Height", &h)) {
                        int64_t wi = json_object_get_int64(w), hi = json_object_get_int64(h);
                        if (wi > 0 && hi > 0 && wi <= UINT16_MAX && hi <= UINT16_MAX) {
                                c->width = (uint16_t)wi;
                                c->height = (uint16_t)hi;
                                got = true;
                        }
                }
                json_object_put(o);
        }
        json_tokener_free(tok);
        _cleanup_strbuf_ strbuf rest = STRBUF_INIT;
        strbuf_add(&rest, c->resize.buf + off, c->resize.len - off);
        strbuf_reset(&c->resize);
        strbuf_add(&c->resize, rest.buf, rest.len);
        if (!got)
                return;
        if (c->have_proc)
                resize_process(c);
        else if (c->size_wait)
                start_now(c);
}

typedef struct {
        conn *c;
        stream_process proc;
        bool ok;
        ocid_error err;
} open_work;

static void open_run(void *data)
{
        open_work *w = data;
        stream_server *s = w->c->srv;
        w->proc = NO_PROCESS;
        w->ok = s->o.backend.open(s->o.backend.context, w->c->req, &w->proc, &w->err) == 0;
}

static void close_process_fds(stream_process *p)
{
        closep(&p->in_fd);
        closep(&p->out_fd);
        closep(&p->err_fd);
        closep(&p->tty_fd);
        closep(&p->attach_fd);
}

static void open_done(void *data)
{
        open_work *w = data;
        conn *c = w->c;
        if (!w->ok) {
                log_info("streaming %s of %s: %s", w->c->req->kind == STREAM_EXEC ? "exec" : "attach",
                         c->req->target, w->err.message);
                c->failure = xstrdup(w->err.message);
                ocid_error_clear(&w->err);
                free(w);
                if (!c->closed) {
                        c->have_proc = true;
                        c->proc = NO_PROCESS;
                        finish(c);
                }
                conn_unref(c);
                return;
        }
        c->proc = w->proc;
        c->have_proc = true;
        free(w);
        stream_process *p = &c->proc;
        if (c->closed) {
                close_process_fds(p);
                if (p->ops->kill)
                        p->ops->kill(p->handle);
                conn_unref(c);
                return;
        }
        if (p->tty_fd >= 0) {
                c->tty_ep = endpoint_new(c, p->tty_fd, true, c->req->in, CH_STDOUT);
                add_endpoint(c, c->tty_ep);
                p->tty_fd = -1;
        }
        if (p->attach_fd >= 0) {
                endpoint *ep = endpoint_new(c, p->attach_fd, true, c->req->in, CH_STDOUT);
                ep->packets = ep->is_socket = true;
                add_endpoint(c, ep);
                p->attach_fd = -1;
        }
        if (p->in_fd >= 0) {
                add_endpoint(c, endpoint_new(c, p->in_fd, false, true, -1));
                p->in_fd = -1;
        }
        if (p->out_fd >= 0) {
                add_endpoint(c, endpoint_new(c, p->out_fd, true, false, CH_STDOUT));
                p->out_fd = -1;
        }
        if (p->err_fd >= 0) {
                add_endpoint(c, endpoint_new(c, p->err_fd, true, false, c->req->tty ? CH_STDOUT : CH_STDERR));
                p->err_fd = -1;
        }
        if (p->exit_fd >= 0) {
                /* The session now also waits for the exit. */
                c->refs++;
                if (loop_add_io(c->srv->loop, p->exit_fd, EPOLLIN, process_exited, c, &c->exit_src) < 0) {
                        c->refs--;
                        c->exit_code = p->ops->wait(p->handle);
                        c->exited = true;
                }
        }
        /* The client may have sent stdin (and closed it) already. */
        endpoint *in = stdin_endpoint(c);
        if (in)
                in->in_route = c->chan_stream[CH_STDIN];
        if (in && c->early_stdin.len)
                endpoint_feed(in, (const uint8_t *)c->early_stdin.buf, c->early_stdin.len);
        strbuf_release(&c->early_stdin);
        if (in && c->early_stdin_closed)
                endpoint_shutdown_input(in);
        /* A resize that came while the process was starting. */
        if (c->width)
                resize_process(c);
        maybe_finish(c);
        if (!c->closed)
                conn_flush(c); /* windows given back for the early stdin */
        conn_unref(c);
}

static void start_now(conn *c)
{
        if (c->started)
                return;
        c->started = true;
        if (c->size_wait) {
                loop_source_remove(c->size_wait);
                c->size_wait = NULL;
        }
        c->req->width = c->width;
        c->req->height = c->height;
        log_debug("streaming: starting %s, terminal %ux%u", c->req->target, c->width, c->height);
        open_work *w = xcalloc(1, sizeof(*w));
        w->c = c;
        c->refs++;
        if (workers_submit(c->srv->workers, open_run, open_done, w) < 0) {
                c->refs--;
                free(w);
                c->failure = xstrdup("cannot start the session");
                c->have_proc = true;
                c->proc = NO_PROCESS;
                finish(c);
        }
}

static void size_wait_expired(loop_source *src, void *data)
{
        (void)src;
        conn *c = data;
        c->size_wait = NULL;
        start_now(c);
}

/* A terminal is best started at the client's size: clients send it first
 * thing, so it is waited for a moment. */
#define SIZE_WAIT_MS 1000

static void start_process(conn *c)
{
        if (c->started || c->size_wait)
                return;
        if (c->req->tty && !c->width &&
            loop_add_timer(c->srv->loop, SIZE_WAIT_MS, size_wait_expired, c, &c->size_wait) == 0)
                return;
        start_now(c);
}

static size_t stdin_data(conn *c, const uint8_t *data, size_t len)
{
        if (!c->req->in)
                return 0;
        if (!c->have_proc) {
                strbuf_add(&c->early_stdin, data, len);
                return len;
        }
        return endpoint_feed(stdin_endpoint(c), data, len);
}

static void stdin_close(conn *c)
{
        if (!c->have_proc)
                c->early_stdin_closed = true;
        else
                endpoint_shutdown_input(stdin_endpoint(c));
}

/* Bytes from the client on a remotecommand channel. */
static size_t channel_data(conn *c, int ch, const uint8_t *data, size_t len)
{
        if (ch == CH_STDIN)
                return stdin_data(c, data, len);
        if (ch == CH_RESIZE)
                resize_data(c, data, len);
        return 0;
}

/* ---- port forwarding -------------------------------------------------------------------- */

typedef struct {
        conn *c;
        fwd *f;
        int fd;
        ocid_error err;
} dial_work;

static void fwd_free(fwd *f)
{
        endpoint_free(f->ep);
        strbuf_release(&f->early);
        free(f);
}

static void fwd_check_done(fwd *f)
{
        endpoint *ep = f->ep;
        if (f->done || (ep && (ep->reading || ep->writing)))
                return;
        f->done = true;
        conn *c = ep ? ep->c : NULL;
        if (c && c->mode == MODE_SPDY) {
                /* The client waits for its error stream to end. */
                send_fin(c, f->error_route);
                return;
        }
        if (c && c->mode == MODE_WEBSOCKET) {
                /* A WebSocket session forwards fixed connections: it is over
                 * when all of them are. */
                for (fwd *o = c->fwds; o; o = o->next)
                        if (!o->done)
                                return;
                finish(c);
        }
}

static void dial_run(void *data)
{
        dial_work *w = data;
        stream_server *s = w->c->srv;
        w->fd = -1;
        if (s->o.backend.dial(s->o.backend.context, w->c->req->target, w->f->port, &w->fd, &w->err) < 0)
                w->fd = -1;
}

static void dial_done(void *data)
{
        dial_work *w = data;
        conn *c = w->c;
        fwd *f = w->f;
        f->dialing = false;
        if (c->closed) {
                closep(&w->fd);
        } else if (w->fd < 0) {
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "error forwarding port %u to pod %s: %s", f->port, c->req->target,
                             w->err.message ? w->err.message : "cannot connect") < 0)
                        abort();
                send_data(c, f->error_route, msg, strlen(msg));
                send_fin(c, f->error_route);
                send_fin(c, f->data_route);
                f->done = true;
                if (c->mode == MODE_WEBSOCKET)
                        finish(c);
                conn_flush(c);
        } else {
                f->ep = endpoint_new(c, w->fd, true, true, -1);
                f->ep->is_socket = true;
                f->ep->fwd = f;
                f->ep->in_route = f->data_route;
                /* Data the client sent while we were connecting. */
                if (f->early.len)
                        endpoint_feed(f->ep, (const uint8_t *)f->early.buf, f->early.len);
                strbuf_release(&f->early);
                if (f->early_fin)
                        endpoint_shutdown_input(f->ep);
                conn_flush(c);
        }
        ocid_error_clear(&w->err);
        free(w);
        conn_unref(c);
}

static void fwd_start(conn *c, fwd *f)
{
        if (f->dialing || f->ep || f->done)
                return;
        f->dialing = true;
        dial_work *w = xcalloc(1, sizeof(*w));
        *w = (dial_work){ .c = c, .f = f, .fd = -1 };
        c->refs++;
        if (workers_submit(c->srv->workers, dial_run, dial_done, w) < 0) {
                c->refs--;
                free(w);
                f->dialing = false;
                f->done = true;
        }
}

static fwd *fwd_by_route(conn *c, uint32_t route, bool *ret_is_error)
{
        for (fwd *f = c->fwds; f; f = f->next) {
                if (f->have_data && f->data_route == route) {
                        *ret_is_error = false;
                        return f;
                }
                if (f->have_error && f->error_route == route) {
                        *ret_is_error = true;
                        return f;
                }
        }
        return NULL;
}

static size_t fwd_data(conn *c, uint32_t route, const uint8_t *data, size_t len, bool fin)
{
        bool is_error;
        fwd *f = fwd_by_route(c, route, &is_error);
        if (!f || is_error || f->done)
                return 0;
        if (!f->ep) {
                strbuf_add(&f->early, data, len);
                f->early_fin |= fin;
                return len;
        }
        size_t kept = len ? endpoint_feed(f->ep, data, len) : 0;
        if (fin)
                endpoint_shutdown_input(f->ep);
        return kept;
}

/* ---- SPDY --------------------------------------------------------------------------------- */

static bool expected_streams_present(const conn *c)
{
        const stream_request *r = c->req;
        if (!c->chan_stream[CH_ERROR] || (r->in && !c->chan_stream[CH_STDIN]) ||
            (r->out && !c->chan_stream[CH_STDOUT]) || (r->err && !r->tty && !c->chan_stream[CH_STDERR]))
                return false;
        /* The resize stream came with v3; kubectl opens it for a tty. */
        return !r->tty || !c->status_json || c->chan_stream[CH_RESIZE];
}

static void spdy_reply(conn *c, uint32_t id)
{
        ocid_error err = OCID_ERROR_INIT;
        if (spdy_writer_syn_reply(c->sw, &c->out, id, 0, NULL, 0, &err) < 0)
                ocid_error_clear(&err);
}

static int spdy_remotecommand_stream(conn *c, const spdy_frame *f)
{
        const char *type = spdy_frame_header(f, "streamtype");
        int ch = -1;
        for (int i = 0; type && i < N_CHANNELS; i++)
                if (strcmp(type, channel_names[i]) == 0)
                        ch = i;
        if (ch < 0 || c->chan_stream[ch]) {
                log_debug("streaming: refusing a %s stream '%s'", ch < 0 ? "unknown" : "second",
                          type ? type : "(none)");
                spdy_encode_rst_stream(&c->out, f->stream_id, ch < 0 ? SPDY_REFUSED_STREAM : SPDY_PROTOCOL_ERROR);
                return 0;
        }
        c->chan_stream[ch] = f->stream_id;
        spdy_window_init(&c->chan_window[ch], c->peer_initial_window, SPDY_INITIAL_WINDOW);
        spdy_reply(c, f->stream_id);
        if (ch == CH_STDIN && f->flags & SPDY_FLAG_FIN)
                stdin_close(c);
        if (!c->started && expected_streams_present(c)) {
                if (c->timer) {
                        loop_source_remove(c->timer);
                        c->timer = NULL;
                }
                start_process(c);
        }
        return 0;
}

static bool parse_u32(const char *s, uint32_t max, uint32_t *ret)
{
        if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
                return false;
        unsigned long long v = strtoull(s, NULL, 10);
        if (v > max)
                return false;
        *ret = (uint32_t)v;
        return true;
}

#define MAX_FORWARDS 256

static int spdy_portforward_stream(conn *c, const spdy_frame *f)
{
        const char *type = spdy_frame_header(f, "streamtype");
        bool is_data = type && strcmp(type, "data") == 0, is_error = type && strcmp(type, "error") == 0;
        uint32_t port, request_id;
        if ((!is_data && !is_error) || !parse_u32(spdy_frame_header(f, "port"), 65535, &port) || port == 0) {
                spdy_encode_rst_stream(&c->out, f->stream_id, SPDY_PROTOCOL_ERROR);
                return 0;
        }
        const char *rid = spdy_frame_header(f, "requestid");
        if (!rid) {
                /* Clients before requestid paired an error stream with the
                 * data stream opened right after it. */
                request_id = is_error ? f->stream_id : f->stream_id - 2;
        } else if (!parse_u32(rid, UINT32_MAX, &request_id)) {
                spdy_encode_rst_stream(&c->out, f->stream_id, SPDY_PROTOCOL_ERROR);
                return 0;
        }
        /* Forget finished pairs. */
        size_t n = 0;
        for (fwd **p = &c->fwds; *p;) {
                fwd *o = *p;
                if (o->done && !o->dialing) {
                        *p = o->next;
                        fwd_free(o);
                } else {
                        p = &o->next;
                        n++;
                }
        }
        fwd *pair = NULL;
        for (fwd *o = c->fwds; o; o = o->next)
                if (o->request_id == request_id)
                        pair = o;
        if ((pair && ((is_data && pair->have_data) || (is_error && pair->have_error) || pair->port != port)) ||
            (!pair && n >= MAX_FORWARDS)) {
                spdy_encode_rst_stream(&c->out, f->stream_id, pair ? SPDY_PROTOCOL_ERROR : SPDY_REFUSED_STREAM);
                return 0;
        }
        if (!pair) {
                pair = xcalloc(1, sizeof(*pair));
                pair->request_id = request_id;
                pair->port = (uint16_t)port;
                strbuf_init(&pair->early);
                pair->next = c->fwds;
                c->fwds = pair;
        }
        if (is_data) {
                pair->have_data = true;
                pair->data_route = f->stream_id;
                spdy_window_init(&pair->data_window, c->peer_initial_window, SPDY_INITIAL_WINDOW);
        } else {
                pair->have_error = true;
                pair->error_route = f->stream_id;
        }
        spdy_reply(c, f->stream_id);
        if (pair->have_data && pair->have_error)
                fwd_start(c, pair);
        return 0;
}

static int channel_of_stream(const conn *c, uint32_t id)
{
        for (int ch = 0; ch < N_CHANNELS; ch++)
                if (c->chan_stream[ch] == id)
                        return ch;
        return -1;
}

static void resume_endpoints(conn *c)
{
        for (size_t i = 0; i < c->n_eps; i++)
                endpoint_update(c->eps[i]);
        for (fwd *f = c->fwds; f; f = f->next)
                if (f->ep)
                        endpoint_update(f->ep);
}

static int spdy_window_update_frame(conn *c, const spdy_frame *f)
{
        ocid_error err = OCID_ERROR_INIT;
        spdy_window *w = f->stream_id == 0 ? &c->window : stream_window(c, f->stream_id);
        c->peer_flow_control = true;
        if (w && spdy_window_update(w, f->delta_window, &err) < 0) {
                log_debug("streaming: %s", err.message);
                ocid_error_clear(&err);
                spdy_encode_rst_stream(&c->out, f->stream_id, SPDY_FLOW_CONTROL_ERROR);
        }
        resume_endpoints(c);
        return 0;
}

static void spdy_initial_window(conn *c, uint32_t value)
{
        ocid_error err = OCID_ERROR_INIT;
        for (int ch = 0; ch < N_CHANNELS; ch++)
                if (c->chan_stream[ch])
                        spdy_window_initial_changed(&c->chan_window[ch], c->peer_initial_window, value, &err);
        for (fwd *f = c->fwds; f; f = f->next)
                if (f->have_data)
                        spdy_window_initial_changed(&f->data_window, c->peer_initial_window, value, &err);
        ocid_error_clear(&err);
        c->peer_initial_window = value;
        resume_endpoints(c);
}

static int spdy_on_frame(const spdy_frame *f, void *data)
{
        conn *c = data;
        bool forwarding = c->req->kind == STREAM_PORTFORWARD;
        switch (f->type) {
        case SPDY_SYN_STREAM:
                return forwarding ? spdy_portforward_stream(c, f) : spdy_remotecommand_stream(c, f);
        case SPDY_DATA: {
                bool fin = f->flags & SPDY_FLAG_FIN;
                ocid_error ignored = OCID_ERROR_INIT;
                spdy_window_received(&c->window, f->data_len, &ignored);
                ocid_error_clear(&ignored);
                /* What is kept is given back once written; the rest now. */
                if (forwarding) {
                        size_t kept = fwd_data(c, f->stream_id, f->data, f->data_len, fin);
                        credit(c, f->stream_id, f->data_len - kept);
                        return 0;
                }
                int ch = channel_of_stream(c, f->stream_id);
                if (ch < 0) {
                        credit(c, 0, f->data_len);
                        spdy_encode_rst_stream(&c->out, f->stream_id, SPDY_INVALID_STREAM);
                        return 0;
                }
                size_t kept = channel_data(c, ch, f->data, f->data_len);
                credit(c, f->stream_id, f->data_len - kept);
                if (fin && ch == CH_STDIN)
                        stdin_close(c);
                return 0;
        }
        case SPDY_RST_STREAM:
                if (forwarding) {
                        bool is_error;
                        fwd *pair = fwd_by_route(c, f->stream_id, &is_error);
                        if (pair && !is_error) {
                                endpoint_free(pair->ep);
                                pair->ep = NULL;
                                pair->done = true;
                        }
                } else if (channel_of_stream(c, f->stream_id) == CH_STDIN) {
                        stdin_close(c);
                }
                return 0;
        case SPDY_PING:
                spdy_encode_ping(&c->out, f->ping_id);
                return 0;
        case SPDY_WINDOW_UPDATE:
                return spdy_window_update_frame(c, f);
        case SPDY_SETTINGS:
                for (size_t i = 0; i < f->n_settings; i++)
                        if (f->settings[i].id == SPDY_SETTINGS_INITIAL_WINDOW_SIZE)
                                spdy_initial_window(c, f->settings[i].value);
                return 0;
        case SPDY_GOAWAY:
                /* The client leaves: as if it disconnected. */
                conn_close(c);
                return -1;
        default:
                return 0;
        }
}

/* ---- WebSocket ---------------------------------------------------------------------------- */

static int ws_on_message(ws_opcode op, const uint8_t *data, size_t len, void *userdata)
{
        conn *c = userdata;
        if (op == WS_OP_PING) {
                ws_frame_encode(&c->out, WS_OP_PONG, data, len);
                return 0;
        }
        if (op == WS_OP_PONG)
                return 0;
        if (op == WS_OP_CLOSE) {
                if (!c->finishing)
                        ws_close_encode(&c->out, WS_CLOSE_NORMAL, "");
                c->finishing = true;
                return -1;
        }
        ws_channel_message m;
        ocid_error err = OCID_ERROR_INIT;
        int r = ws_channel_split(c->wsp, data, len, &c->scratch, &m, &err);
        if (r < 0) {
                log_debug("streaming: %s", err.message);
                ws_close_encode(&c->out, WS_CLOSE_INVALID_PAYLOAD, err.message);
                ocid_error_clear(&err);
                c->finishing = true;
                return -1;
        }
        if (r == 0)
                return 0;
        if (c->req->kind == STREAM_PORTFORWARD) {
                if (m.channel % 2 == 0)
                        fwd_data(c, m.channel, m.data, m.len, m.close);
                return 0;
        }
        if (m.close) {
                if (m.channel == CH_STDIN)
                        stdin_close(c);
                return 0;
        }
        channel_data(c, m.channel, m.data, m.len);
        return 0;
}

/* ---- the HTTP request and the upgrade -------------------------------------------------------- */

static const char *const websocket_portforward_protocols[] = {
        "v4.channel.k8s.io", "v4.base64.channel.k8s.io", "channel.k8s.io", "base64.channel.k8s.io", NULL,
};

static void refuse(conn *c, int status, const char *message)
{
        log_debug("streaming: %d %s", status, message);
        http_response_error(&c->out, status, message, NULL);
        c->finishing = true;
}

static void setup_expired(loop_source *src, void *data)
{
        (void)src;
        conn *c = data;
        c->timer = NULL;
        if (c->mode == MODE_HEAD) {
                refuse(c, 408, "the request took too long");
                conn_flush(c);
                return;
        }
        c->failure = xstrdup("the client did not open the streams it asked for in time");
        c->have_proc = true;
        c->proc = NO_PROCESS;
        finish(c);
}

static void start_websocket_forwarding(conn *c, const http_request *hreq)
{
        /* The ports come with the request (kubectl puts them in the
         * query); else those of the RPC. */
        size_t n = 0;
        for (size_t i = 0; i < hreq->n_params; i++)
                if (strcmp(hreq->params[i].name, "port") == 0)
                        n++;
        uint32_t *ports = xcalloc(n ? n : c->req->n_ports, sizeof(*ports));
        size_t k = 0;
        for (size_t i = 0; i < hreq->n_params; i++) {
                uint32_t p;
                if (strcmp(hreq->params[i].name, "port") != 0)
                        continue;
                if (!parse_u32(hreq->params[i].value, 65535, &p) || p == 0) {
                        free(ports);
                        refuse(c, 400, "invalid port in the request");
                        return;
                }
                ports[k++] = p;
        }
        for (size_t i = 0; k == 0 && i < c->req->n_ports; i++)
                ports[i] = c->req->ports[i];
        if (k == 0)
                k = c->req->n_ports;
        if (k == 0 || k > 64) {
                free(ports);
                refuse(c, 400, k ? "too many ports" : "no port to forward");
                return;
        }
        fwd **tail = &c->fwds;
        for (size_t i = 0; i < k; i++) {
                fwd *f = xcalloc(1, sizeof(*f));
                f->port = (uint16_t)ports[i];
                f->data_route = (uint32_t)(2 * i);
                f->error_route = (uint32_t)(2 * i + 1);
                f->have_data = f->have_error = true;
                strbuf_init(&f->early);
                *tail = f;
                tail = &f->next;
        }
        free(ports);
        for (fwd *f = c->fwds; f; f = f->next) {
                uint8_t le[2] = { (uint8_t)(f->port & 0xff), (uint8_t)(f->port >> 8) };
                send_data(c, f->data_route, le, 2);
                send_data(c, f->error_route, le, 2);
                fwd_start(c, f);
        }
}

static void feed_protocol(conn *c, const uint8_t *data, size_t len);

static void handle_request(conn *c, http_request *hreq, const uint8_t *rest, size_t rest_len)
{
        stream_server *s = c->srv;
        ocid_error err = OCID_ERROR_INIT;
        static const struct {
                const char *prefix;
                stream_kind kind;
        } routes[] = { { "/exec/", STREAM_EXEC }, { "/attach/", STREAM_ATTACH }, { "/portforward/", STREAM_PORTFORWARD } };
        const char *id = NULL;
        stream_kind kind = STREAM_EXEC;
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
                if (strncmp(hreq->path, routes[i].prefix, strlen(routes[i].prefix)) == 0) {
                        id = hreq->path + strlen(routes[i].prefix);
                        kind = routes[i].kind;
                }
        if (!id || !*id || strchr(id, '/')) {
                refuse(c, 404, "no such streaming endpoint");
                return;
        }
        http_upgrade up;
        const char *ws_key = NULL;
        if (http_request_upgrade(hreq, &up, &ws_key, &err) < 0) {
                refuse(c, http_status_from_error(err.kind), err.message);
                ocid_error_clear(&err);
                return;
        }
        if (up == HTTP_UPGRADE_NONE) {
                refuse(c, 400, "this endpoint needs an upgrade to SPDY/3.1 or websocket");
                return;
        }
        const char *const *supported =
                up == HTTP_UPGRADE_SPDY ? (kind == STREAM_PORTFORWARD ? http_spdy_portforward_protocols
                                                                       : http_spdy_remotecommand_protocols)
                                        : (kind == STREAM_PORTFORWARD ? websocket_portforward_protocols
                                                                       : http_websocket_remotecommand_protocols);
        const char *protocol = NULL;
        int r = http_negotiate(hreq, up == HTTP_UPGRADE_SPDY ? HTTP_STREAM_PROTOCOL_HEADER : HTTP_WEBSOCKET_PROTOCOL_HEADER,
                               supported, &protocol, &err);
        if (r < 0) {
                log_debug("streaming: %s", err.message);
                http_response_negotiation_failed(&c->out, supported, err.message);
                ocid_error_clear(&err);
                c->finishing = true;
                return;
        }
        c->req = token_consume(s, id);
        if (!c->req) {
                refuse(c, 404, "unknown or expired streaming token");
                return;
        }
        if (c->req->kind != kind) {
                refuse(c, 400, "the token was issued for another kind of session");
                return;
        }
        if (s->n_sessions >= s->o.max_sessions) {
                refuse(c, 503, "too many streaming sessions");
                return;
        }
        s->n_sessions++;
        c->counted = true;
        /* v4 and later end with a metav1.Status; so does every WebSocket
         * protocol the server speaks for exec. */
        c->status_json = protocol && (strncmp(protocol, "v4.", 3) == 0 || strncmp(protocol, "v5.", 3) == 0);
        if (c->timer) {
                loop_source_remove(c->timer);
                c->timer = NULL;
        }
        if (up == HTTP_UPGRADE_SPDY) {
                http_response_spdy_upgrade(&c->out, r == 1 ? protocol : NULL);
                c->mode = MODE_SPDY;
                c->sr = spdy_reader_new(SPDY_ROLE_SERVER, 0);
                c->sw = spdy_writer_new();
                if (!c->sr || !c->sw)
                        abort();
                spdy_window_init(&c->window, SPDY_INITIAL_WINDOW, SPDY_INITIAL_WINDOW);
                c->peer_initial_window = SPDY_INITIAL_WINDOW;
                if (kind != STREAM_PORTFORWARD)
                        loop_add_timer(s->loop, STREAM_SETUP_TIMEOUT_MS, setup_expired, c, &c->timer);
        } else {
                ws_channel_protocol p = WS_CHANNEL_V1;
                ws_channel_protocol_from_name(r == 1 ? protocol : "", &p);
                c->wsp = p;
                http_response_websocket_upgrade(&c->out, ws_key, r == 1 ? protocol : NULL);
                c->mode = MODE_WEBSOCKET;
                ws_reader_init(&c->wr, WS_ROLE_SERVER, 0);
                if (kind == STREAM_PORTFORWARD)
                        start_websocket_forwarding(c, hreq);
                else
                        start_process(c);
        }
        if (rest_len && !c->finishing)
                feed_protocol(c, rest, rest_len);
}

/* ---- connections ------------------------------------------------------------------------------ */

static void conn_free(conn *c)
{
        for (size_t i = 0; i < c->n_eps; i++)
                endpoint_free(c->eps[i]);
        while (c->fwds) {
                fwd *f = c->fwds;
                c->fwds = f->next;
                fwd_free(f);
        }
        if (c->have_proc && c->proc.ops && c->proc.ops->release)
                c->proc.ops->release(c->proc.handle);
        close_process_fds(&c->proc);
        stream_request_free(c->req);
        http_parser_release(&c->parser);
        spdy_reader_free(c->sr);
        spdy_writer_free(c->sw);
        if (c->mode == MODE_WEBSOCKET)
                ws_reader_release(&c->wr);
        strbuf_release(&c->scratch);
        strbuf_release(&c->out);
        strbuf_release(&c->resize);
        strbuf_release(&c->early_stdin);
        free(c->failure);
        free(c);
}

static void conn_unref(conn *c)
{
        if (--c->refs == 0)
                conn_free(c);
}

static void kill_grace_expired(loop_source *src, void *data)
{
        (void)src;
        conn *c = data;
        c->timer = NULL;
        if (!c->exited && c->proc.ops->kill) {
                log_debug("streaming: the client left; killing the process");
                c->proc.ops->kill(c->proc.handle);
        }
}

static void conn_close(conn *c)
{
        if (c->closed)
                return;
        c->closed = true;
        stream_server *s = c->srv;
        if (c->src)
                loop_source_remove(c->src);
        c->src = NULL;
        if (c->tls)
                s->tls_ops->conn_free(c->tls);
        c->tls = NULL;
        close(c->fd);
        c->fd = -1;
        if (c->timer)
                loop_source_remove(c->timer);
        c->timer = NULL;
        if (c->size_wait)
                loop_source_remove(c->size_wait);
        c->size_wait = NULL;
        if (c->idle_timer)
                loop_source_remove(c->idle_timer);
        c->idle_timer = NULL;
        if (c->counted)
                s->n_sessions--;
        c->counted = false;
        /* Closing stdin and the terminal's master is the process's cue:
         * EOF, and a hangup for a terminal. */
        for (size_t i = 0; i < c->n_eps; i++)
                endpoint_shut(c->eps[i]);
        for (fwd *f = c->fwds; f; f = f->next)
                endpoint_shut(f->ep);
        if (c->exit_src && !c->exited)
                loop_add_timer(s->loop, KILL_GRACE_MS, kill_grace_expired, c, &c->timer);
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        conn_unref(c);
}

static void conn_update_events(conn *c)
{
        if (c->closed)
                return;
        /* A SPDY client that keeps windows sends no more than they allow:
         * reading it on is what lets its WINDOW_UPDATEs for our output
         * through. Others are held back by not reading them. */
        size_t bound = c->mode == MODE_SPDY && c->peer_flow_control ? MAX_BUFFERED_INPUT : HIGH_WATER;
        bool paused = false;
        for (size_t i = 0; i < c->n_eps; i++)
                if (c->eps[i]->in.len - c->eps[i]->in_off > bound)
                        paused = true;
        for (fwd *f = c->fwds; f; f = f->next)
                if ((f->ep && f->ep->in.len - f->ep->in_off > bound) || f->early.len > bound)
                        paused = true;
        if (c->early_stdin.len > bound)
                paused = true;
        c->conn_paused = paused;
        uint32_t ev = 0;
        if (!paused)
                ev |= EPOLLIN;
        if (out_pending(c))
                ev |= EPOLLOUT;
        loop_source_set_events(c->src, ev);
}

static void feed_protocol(conn *c, const uint8_t *data, size_t len)
{
        ocid_error err = OCID_ERROR_INIT;
        if (c->finishing) {
                /* The session is over: what else the client sends is read
                 * and dropped, so that closing does not reset the
                 * connection under our last words. */
                return;
        }
        if (c->mode == MODE_SPDY) {
                if (spdy_reader_feed(c->sr, data, len, spdy_on_frame, c, &err) < 0 && !c->closed) {
                        if (err.message) {
                                log_debug("streaming: %s", err.message);
                                spdy_encode_goaway(&c->out, spdy_reader_last_stream_id(c->sr),
                                                   spdy_reader_goaway_status(c->sr));
                        }
                        c->finishing = true;
                }
        } else {
                if (ws_reader_feed(&c->wr, data, len, ws_on_message, c, &err) < 0 && !c->closed) {
                        if (err.message) {
                                log_debug("streaming: %s", err.message);
                                ws_close_encode(&c->out, c->wr.close_code, err.message);
                        }
                        c->finishing = true;
                }
        }
        ocid_error_clear(&err);
}

static void conn_read(conn *c)
{
        uint8_t buf[64 * 1024];
        while (!c->closed && !c->conn_paused) {
                ssize_t n = transport_read(c, buf, sizeof(buf));
                if (n == -EINTR)
                        continue;
                if (n == -EAGAIN)
                        break;
                if (n <= 0) {
                        conn_close(c);
                        return;
                }
                c->last_activity_ms = now_ms();
                if (c->draining)
                        continue;
                if (c->mode != MODE_HEAD) {
                        feed_protocol(c, buf, (size_t)n);
                } else {
                        size_t used = 0;
                        http_request req = { 0 };
                        ocid_error err = OCID_ERROR_INIT;
                        int r = http_parser_feed(&c->parser, buf, (size_t)n, &used, &req, &err);
                        if (r < 0) {
                                refuse(c, http_status_from_error(err.kind), err.message);
                                ocid_error_clear(&err);
                        } else if (r == 1) {
                                handle_request(c, &req, buf + used, (size_t)n - used);
                                http_request_release(&req);
                        }
                }
                if (!c->closed)
                        conn_update_events(c);
        }
        if (!c->closed)
                conn_flush(c);
}

static void conn_io(loop_source *src, int fd, uint32_t events, void *data)
{
        (void)src;
        (void)fd;
        conn *c = data;
        c->refs++;
        if (events & EPOLLOUT)
                conn_flush(c);
        if (!c->closed && events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                conn_read(c);
        conn_unref(c);
}

static void idle_check(loop_source *src, void *data);

static void arm_idle(conn *c, uint64_t ms)
{
        if (loop_add_timer(c->srv->loop, ms, idle_check, c, &c->idle_timer) < 0)
                c->idle_timer = NULL;
}

static void idle_check(loop_source *src, void *data)
{
        (void)src;
        conn *c = data;
        c->idle_timer = NULL;
        c->refs++;
        if (!c->closed) {
                int64_t idle = now_ms() - c->last_activity_ms;
                int64_t limit = (int64_t)c->srv->o.idle_timeout_ms;
                if (idle >= limit) {
                        log_info("streaming: closing a session idle for %" PRId64 " s", idle / 1000);
                        conn_close(c);
                } else {
                        arm_idle(c, (uint64_t)(limit - idle));
                }
        }
        conn_unref(c);
}

static void on_accept(loop_source *src, int fd, uint32_t events, void *data)
{
        (void)src;
        (void)events;
        stream_server *s = data;
        for (;;) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                log_warn("streaming: accept: %s", strerror(errno));
                        return;
                }
                int one = 1;
                setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                conn *c = xcalloc(1, sizeof(*c));
                c->srv = s;
                c->fd = cfd;
                c->refs = 1;
                c->proc = NO_PROCESS;
                c->last_activity_ms = now_ms();
                strbuf_init(&c->out);
                strbuf_init(&c->scratch);
                strbuf_init(&c->resize);
                strbuf_init(&c->early_stdin);
                http_parser_init(&c->parser);
                if (s->tls && !(c->tls = s->tls_ops->conn_new(s->tls, cfd))) {
                        log_warn("streaming: cannot set up TLS for a connection");
                        close(cfd);
                        conn_free(c);
                        continue;
                }
                if (loop_add_io(s->loop, cfd, EPOLLIN, conn_io, c, &c->src) < 0) {
                        if (c->tls)
                                s->tls_ops->conn_free(c->tls);
                        close(cfd);
                        conn_free(c);
                        continue;
                }
                c->next = s->conns;
                if (s->conns)
                        s->conns->prev = c;
                s->conns = c;
                loop_add_timer(s->loop, STREAM_SETUP_TIMEOUT_MS, setup_expired, c, &c->timer);
                if (s->o.idle_timeout_ms)
                        arm_idle(c, s->o.idle_timeout_ms);
        }
}

/* ---- the server ----------------------------------------------------------------------------------- */

/* OpenSSL costs every process that maps it about 2 MiB, so the TLS code is
 * a module, loaded only when TLS is configured: next to the binary (the
 * build tree) or where it is installed. It stays loaded: a daemon serves
 * TLS until it exits. */
static const tls_server_ops *tls_module_load(ocid_error *err)
{
        _cleanup_free_ char *path = helper_program_path(TLS_SERVER_MODULE);
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
                ocid_error_set(err, OCID_ERR_INTERNAL, "stream TLS: cannot load the module %s: %s", path,
                               dlerror());
                return NULL;
        }
        const tls_server_ops *ops = dlsym(h, TLS_SERVER_SYMBOL);
        if (!ops) {
                ocid_error_set(err, OCID_ERR_INTERNAL, "stream TLS: the module %s has no %s", path,
                               TLS_SERVER_SYMBOL);
                dlclose(h);
                return NULL;
        }
        log_debug("streaming: TLS from %s", path);
        return ops;
}

int stream_server_new(loop *l, workers *w, const stream_server_options *o, stream_server **ret,
                      ocid_error *err)
{
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                  .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
        struct addrinfo *ai = NULL;
        int g = getaddrinfo(o->address, o->port, &hints, &ai);
        if (g != 0)
                return ocid_error_set(err, OCID_ERR_INVALID, "stream address %s port %s: %s", o->address,
                                      o->port, gai_strerror(g));
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd >= 0)
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
                int e = errno;
                freeaddrinfo(ai);
                if (fd >= 0)
                        close(fd);
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, e, "cannot listen on %s port %s",
                                            o->address, o->port);
        }
        freeaddrinfo(ai);
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        char host[INET6_ADDRSTRLEN + 2] = "", port[8] = "";
        getsockname(fd, (struct sockaddr *)&ss, &len);
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV);
        const tls_server_ops *tls_ops = NULL;
        tls_server_ctx *tls = NULL;
        if (o->tls_cert && *o->tls_cert) {
                char why[256];
                if (!(tls_ops = tls_module_load(err))) {
                        close(fd);
                        return -1;
                }
                if (!(tls = tls_ops->ctx_new(o->tls_cert, o->tls_key, why, sizeof(why)))) {
                        close(fd);
                        return ocid_error_set(err, OCID_ERR_INVALID, "stream TLS certificate %s, key %s: %s",
                                              o->tls_cert, o->tls_key ? o->tls_key : "(none)", why);
                }
        }
        stream_server *s = xcalloc(1, sizeof(*s));
        s->tls_ops = tls_ops;
        s->tls = tls;
        s->loop = l;
        s->workers = w;
        s->o = *o;
        s->listen_fd = fd;
        pthread_mutex_init(&s->lock, NULL);
        /* A wildcard address is not somewhere a client can go. */
        const char *url_host = host;
        if (strcmp(host, "0.0.0.0") == 0)
                url_host = "127.0.0.1";
        else if (strcmp(host, "::") == 0)
                url_host = "::1";
        if (asprintf(&s->base_url, strchr(url_host, ':') ? "%s://[%s]:%s" : "%s://%s:%s", tls ? "https" : "http",
                     url_host, port) < 0)
                abort();
        if (loop_add_io(l, fd, EPOLLIN, on_accept, s, &s->listen_src) < 0) {
                stream_server_free(s);
                return ocid_error_set(err, OCID_ERR_INTERNAL, "cannot watch the streaming socket");
        }
        *ret = s;
        return 0;
}

void stream_server_free(stream_server *s)
{
        if (!s)
                return;
        while (s->conns) {
                conn *c = s->conns;
                c->refs++;
                conn_close(c);
                /* Nothing waits for the process any more: end it now. */
                if (c->exit_src) {
                        loop_source_remove(c->exit_src);
                        c->exit_src = NULL;
                        if (c->timer)
                                loop_source_remove(c->timer);
                        c->timer = NULL;
                        if (c->proc.ops->kill)
                                c->proc.ops->kill(c->proc.handle);
                        c->refs--;
                }
                conn_unref(c);
        }
        if (s->listen_src)
                loop_source_remove(s->listen_src);
        close(s->listen_fd);
        while (s->tokens) {
                token *t = s->tokens;
                s->tokens = t->next;
                stream_request_free(t->req);
                free(t);
        }
        pthread_mutex_destroy(&s->lock);
        if (s->tls)
                s->tls_ops->ctx_free(s->tls);
        free(s->base_url);
        free(s);
}

const char *stream_server_base_url(const stream_server *s)
{
        return s->base_url;
}

unsigned stream_server_sessions(const stream_server *s)
{
        return s->n_sessions;
}
