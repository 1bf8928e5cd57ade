/* exec (streaming), attach, port-forward: the Exec, Attach and PortForward
 * calls, then the streaming sessions their URLs lead to, spoken as kubectl
 * and crictl speak them (SPDY/3.1 by default, WebSocket on request). */
#include "ocic/ocic.h"
#include "stream/client.h"
#include "util/cleanup.h"

#include "runtime/v1/api.pb-c.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK (32u * 1024)
/* Error-stream bytes kept: a Status or a message, never large. */
#define MAX_STATUS (64u * 1024)
/* Port forwarding: data for a local connection that waits beyond this
 * stops reading from the server (a server that ignores SPDY windows, or
 * WebSocket, which has none). */
#define PF_HIGH_WATER (1024u * 1024)
/* An unused PortForward URL younger than this is used for the next
 * connection (WebSocket: one URL per connection). */
#define PF_SPARE_MS 10000

static int parse_transport(const char *name, stream_transport *ret)
{
        if (!name || STREQ(name, "spdy"))
                *ret = STREAM_SPDY;
        else if (STREQ(name, "websocket") || STREQ(name, "ws"))
                *ret = STREAM_WEBSOCKET;
        else {
                fprintf(stderr, "ocic: unknown transport '%s' (spdy or websocket)\n", name);
                return -1;
        }
        return 0;
}

static int dial_options(const ocic_ctx *ctx, const ocic_stream_opts *o, bool forwarding,
                        stream_dial_options *ret)
{
        stream_transport t;
        if (parse_transport(o->transport, &t) < 0)
                return -1;
        const char *const *protocols;
        if (forwarding)
                protocols = t == STREAM_SPDY ? stream_spdy_portforward_protocols
                                             : stream_websocket_portforward_protocols;
        else
                protocols = t == STREAM_SPDY ? stream_spdy_remotecommand_protocols
                                             : stream_websocket_remotecommand_protocols;
        *ret = (stream_dial_options){
                .transport = t,
                .protocols = protocols,
                .timeout_ms = ctx->timeout_ms > INT32_MAX ? INT32_MAX : (int)ctx->timeout_ms,
                .insecure = o->insecure,
                .ca_file = o->ca_file,
        };
        return 0;
}

/* ---- terminal and signals ------------------------------------------------------------ */

static struct termios saved_termios;
static volatile sig_atomic_t raw_active;
static int signal_pipe[2] = { -1, -1 };

/* Async-signal-safe: tcsetattr is. */
static void term_restore(void)
{
        if (raw_active) {
                tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
                raw_active = 0;
        }
}

/* The terminal must come back whatever ends us. */
static void on_fatal_signal(int sig)
{
        term_restore();
        signal(sig, SIG_DFL);
        raise(sig);
}

static void on_notify_signal(int sig)
{
        int saved = errno;
        uint8_t b = (uint8_t)sig;
        if (write(signal_pipe[1], &b, 1) < 0) {
                /* full: a signal of each kind is already pending */
        }
        errno = saved;
}

static void handle_signal(int sig, void (*fn)(int))
{
        struct sigaction sa = { .sa_handler = fn, .sa_flags = SA_RESTART };
        sigemptyset(&sa.sa_mask);
        sigaction(sig, &sa, NULL);
}

static int signals_init(void)
{
        if (signal_pipe[0] < 0 && pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
                fprintf(stderr, "ocic: pipe: %s\n", strerror(errno));
                return -1;
        }
        /* Socket writes say EPIPE instead; stdout's EPIPE is handled. */
        signal(SIGPIPE, SIG_IGN);
        return 0;
}

/* The next signal noted by on_notify_signal, or 0. */
static int next_signal(void)
{
        uint8_t b;
        return read(signal_pipe[0], &b, 1) == 1 ? b : 0;
}

static int term_raw(void)
{
        static bool registered;
        if (tcgetattr(STDIN_FILENO, &saved_termios) < 0)
                return -errno;
        struct termios raw = saved_termios;
        cfmakeraw(&raw);
        static const int fatal[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS };
        for (size_t i = 0; i < ARRAY_SIZE(fatal); i++)
                handle_signal(fatal[i], on_fatal_signal);
        if (!registered) {
                atexit(term_restore);
                registered = true;
        }
        if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0)
                return -errno;
        raw_active = 1;
        return 0;
}

static bool term_size(uint16_t *w, uint16_t *h)
{
        struct winsize ws;
        int fds[] = { STDOUT_FILENO, STDIN_FILENO };
        for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
                if (isatty(fds[i]) && ioctl(fds[i], TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
                        *w = ws.ws_col;
                        *h = ws.ws_row;
                        return true;
                }
        return false;
}

/* Write all of data to fd, waiting when it is non-blocking. false on
 * failure (EPIPE: the reader went away). */
static bool write_fd(int fd, const uint8_t *data, size_t len)
{
        while (len) {
                ssize_t n = write(fd, data, len);
                if (n < 0 && errno == EAGAIN) {
                        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                        poll(&pfd, 1, -1);
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return false;
                data += n;
                len -= (size_t)n;
        }
        return true;
}

/* ---- exec and attach ------------------------------------------------------------------- */

typedef struct {
        stream_session *s;
        int in, out, err, error, resize; /* stream ids, -1: not opened */
        bool out_done, err_done, error_done;
        bool output_failed;     /* stdout or stderr went away */
        strbuf status;
} rc_session;

static void rc_data(void *userdata, int stream, const uint8_t *data, size_t len)
{
        rc_session *rc = userdata;
        if (stream == rc->out || stream == rc->err) {
                if (!rc->output_failed &&
                    !write_fd(stream == rc->out ? STDOUT_FILENO : STDERR_FILENO, data, len))
                        rc->output_failed = true;
        } else if (stream == rc->error && rc->status.len + len <= MAX_STATUS) {
                strbuf_add(&rc->status, data, len);
        }
        stream_consumed(rc->s, stream, len);
}

static void rc_end(void *userdata, int stream, bool reset)
{
        (void)reset;
        rc_session *rc = userdata;
        if (stream == rc->out)
                rc->out_done = true;
        else if (stream == rc->err)
                rc->err_done = true;
        else if (stream == rc->error)
                rc->error_done = true;
}

/* Which channel protocols have what: v4 and later end with a JSON Status
 * on the error stream, v3 and later have a resize stream. */
static void protocol_features(const char *p, bool *status_json, bool *resize)
{
        *status_json = STREQ(p, "v4.channel.k8s.io") || STREQ(p, "v5.channel.k8s.io") ||
                       STREQ(p, "v4.base64.channel.k8s.io");
        *resize = *status_json || STREQ(p, "v3.channel.k8s.io");
}

static int rc_open(rc_session *rc, const char *type, ocid_error *err)
{
        stream_spec spec = { .type = type };
        return stream_open(rc->s, &spec, err);
}

/* Streams in the order kubectl opens them: the server may depend on it. */
static int rc_open_all(rc_session *rc, bool interactive, bool tty, bool resize, ocid_error *err)
{
        rc->in = rc->err = rc->resize = -1;
        if ((rc->error = rc_open(rc, "error", err)) < 0)
                return -1;
        if (interactive && (rc->in = rc_open(rc, "stdin", err)) < 0)
                return -1;
        if ((rc->out = rc_open(rc, "stdout", err)) < 0)
                return -1;
        if (!tty && (rc->err = rc_open(rc, "stderr", err)) < 0)
                return -1;
        if (tty && resize && (rc->resize = rc_open(rc, "resize", err)) < 0)
                return -1;
        return 0;
}

static void send_resize(rc_session *rc)
{
        uint16_t w, h;
        if (rc->resize < 0 || !term_size(&w, &h))
                return;
        char json[64];
        int n = snprintf(json, sizeof(json), "{\"Width\":%u,\"Height\":%u}", w, h);
        ocid_error err = OCID_ERROR_INIT;
        stream_send(rc->s, rc->resize, json, (size_t)n, &err);
        ocid_error_clear(&err);
}

/* stdin to the stdin stream; at its end, a half-close. */
static int rc_read_stdin(rc_session *rc, bool *eof, ocid_error *err)
{
        uint8_t buf[READ_CHUNK];
        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                *eof = true;
                return stream_close(rc->s, rc->in, err);
        }
        return stream_send(rc->s, rc->in, buf, (size_t)n, err);
}

static bool rc_finished(const rc_session *rc)
{
        return rc->output_failed ||
               (rc->error_done && rc->out_done && (rc->err < 0 || rc->err_done));
}

/* Relay until the session ends; returns pump's last result. */
static int rc_loop(rc_session *rc, bool interactive, ocid_error *err)
{
        bool stdin_eof = !interactive;
        int r = 1;
        while (r > 0 && !rc_finished(rc)) {
                struct pollfd fds[2] = { { .fd = signal_pipe[0], .events = POLLIN }, { .fd = -1 } };
                if (!stdin_eof && stream_writable(rc->s, rc->in))
                        fds[1] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
                r = stream_session_pump(rc->s, fds, 2, -1, err);
                if (r <= 0)
                        break;
                for (int sig; (sig = next_signal());)
                        if (sig == SIGWINCH)
                                send_resize(rc);
                if (fds[1].revents && rc_read_stdin(rc, &stdin_eof, err) < 0)
                        return -1;
        }
        return r;
}

/* The exit code of the remote command, from what the error stream said. */
static int rc_exit_code(rc_session *rc, bool status_json, int r, const ocid_error *err, const char *what)
{
        if (rc->output_failed)
                return 128 + SIGPIPE;
        if (rc->status.len) {
                _cleanup_free_ char *msg = NULL;
                int code = 1;
                if (status_json)
                        code = stream_status_exit_code(rc->status.buf, rc->status.len, &msg);
                else
                        msg = strdup(rc->status.buf); /* before v4: a plain message */
                if (msg)
                        fprintf(stderr, "ocic: %s: %s\n", what, msg);
                return code;
        }
        if (r < 0) {
                fprintf(stderr, "ocic: %s: %s\n", what, err->message ? err->message : "failed");
                return 1;
        }
        if (!rc->error_done && !stream_session_ended_cleanly(rc->s)) {
                fprintf(stderr, "ocic: %s: the connection ended before the exit status came\n", what);
                return 1;
        }
        return 0;
}

static int run_remotecommand(ocic_ctx *ctx, const ocic_stream_opts *o, const char *url, bool interactive,
                             bool tty, bool raw, const char *what)
{
        stream_dial_options d;
        if (dial_options(ctx, o, false, &d) < 0)
                return 2;
        if (ctx->debug)
                fprintf(stderr, "ocic: %s: connecting to %s\n", what, url);
        if (signals_init() < 0)
                return 1;
        rc_session rc = { .in = -1, .out = -1, .err = -1, .error = -1, .resize = -1 };
        strbuf_init(&rc.status);
        static const stream_handlers handlers = { .data = rc_data, .end = rc_end };
        ocid_error err = OCID_ERROR_INIT;
        if (stream_session_dial(url, &d, &handlers, &rc, &rc.s, &err) < 0) {
                fprintf(stderr, "ocic: %s: %s\n", what, err.message);
                ocid_error_clear(&err);
                return 1;
        }
        bool status_json, resize;
        protocol_features(stream_session_protocol(rc.s), &status_json, &resize);
        if (ctx->debug)
                fprintf(stderr, "ocic: %s: protocol '%s'\n", what, stream_session_protocol(rc.s));
        int r = rc_open_all(&rc, interactive, tty, resize, &err);
        if (r == 0 && raw && term_raw() < 0)
                fprintf(stderr, "ocic: %s: cannot put the terminal in raw mode: %s\n", what, strerror(errno));
        if (r == 0 && rc.resize >= 0) {
                handle_signal(SIGWINCH, on_notify_signal);
                send_resize(&rc);
        }
        if (r == 0)
                r = rc_loop(&rc, interactive, &err);
        term_restore();
        int code = rc_exit_code(&rc, status_json, r, &err, what);
        stream_session_shutdown(rc.s, 1000);
        stream_session_free(rc.s);
        strbuf_release(&rc.status);
        ocid_error_clear(&err);
        return code;
}

int ocic_exec_stream(ocic_ctx *ctx, const ocic_stream_opts *o, const char *container_id, char **cmd,
                     size_t n_cmd, bool interactive, bool tty)
{
        Runtime__V1__ExecRequest req = RUNTIME__V1__EXEC_REQUEST__INIT;
        req.container_id = (char *)container_id;
        req.cmd = cmd;
        req.n_cmd = n_cmd;
        req.tty = tty;
        req.stdin = interactive;
        req.stdout = true;
        req.stderr = !tty;
        Runtime__V1__ExecResponse *resp;
        if (ocic_call(ctx, RUNTIME_SERVICE, "Exec", &req.base, &runtime__v1__exec_response__descriptor,
                      (ProtobufCMessage **)&resp) < 0)
                return 1;
        bool raw = tty && interactive && isatty(STDIN_FILENO);
        int code = run_remotecommand(ctx, o, resp->url, interactive, tty, raw, "exec");
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return code;
}

/* --transport, --insecure, --cacert: shared by the streaming commands. */
#define STREAM_LONG_OPTIONS                                                                     \
        { "transport", required_argument, NULL, 'X' }, { "insecure", no_argument, NULL, 'K' }, \
        { "cacert", required_argument, NULL, 'C' }

static bool stream_option(int c, ocic_stream_opts *o)
{
        switch (c) {
        case 'X': o->transport = optarg; return true;
        case 'K': o->insecure = true; return true;
        case 'C': o->ca_file = optarg; return true;
        default: return false;
        }
}

int cmd_attach(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "stdin", no_argument, NULL, 'i' },
                { "tty", no_argument, NULL, 't' },
                STREAM_LONG_OPTIONS,
                { 0 },
        };
        static const char usage[] =
                "attach [-i|--stdin] [-t|--tty] [--transport spdy|websocket] [--insecure] [--cacert FILE]\n"
                "            CONTAINER-ID";
        ocic_stream_opts so = { 0 };
        bool interactive = false, tty = false;
        int c;
        while ((c = getopt_long(argc, argv, "+it", opts, NULL)) != -1) {
                if (c == 'i')
                        interactive = true;
                else if (c == 't')
                        tty = true;
                else if (!stream_option(c, &so))
                        return ocic_usage_error(usage);
        }
        if (argc - optind != 1)
                return ocic_usage_error(usage);
        stream_transport t;
        if (parse_transport(so.transport, &t) < 0)
                return 2;
        Runtime__V1__AttachRequest req = RUNTIME__V1__ATTACH_REQUEST__INIT;
        req.container_id = argv[optind];
        req.stdin = interactive;
        req.tty = tty;
        req.stdout = true;
        req.stderr = !tty;
        Runtime__V1__AttachResponse *resp;
        if (ocic_call(ctx, RUNTIME_SERVICE, "Attach", &req.base, &runtime__v1__attach_response__descriptor,
                      (ProtobufCMessage **)&resp) < 0)
                return 1;
        /* Mirror the container's terminal only where ours is one. */
        bool raw = tty && interactive && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
        int code = run_remotecommand(ctx, &so, resp->url, interactive, tty, raw, "attach");
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return code;
}

/* ---- port-forward -------------------------------------------------------------------- */

typedef struct {
        int fd;
        uint16_t local, remote;
} pf_listener;

/* One accepted local connection. */
typedef struct {
        int fd;
        uint16_t local, remote;
        stream_session *ws;     /* WebSocket: its own session; SPDY: NULL, the shared one */
        int data, error;        /* stream ids */
        strbuf to_local;        /* from the server, not yet written */
        size_t to_local_off;
        strbuf message;         /* what the error stream said */
        bool local_eof;         /* the local side finished sending */
        bool remote_eof;        /* the server finished sending */
        bool failed;            /* close now */
} pf_conn;

typedef struct {
        ocic_ctx *ctx;
        const char *pod;
        stream_dial_options dial;
        pf_listener *ls;
        size_t n_ls;
        pf_conn **conns;
        size_t n_conns;
        stream_session *spdy;   /* shared by every connection; NULL until needed */
        uint32_t next_request_id;
        char *spare_url;        /* WebSocket: an unused URL and when it came */
        int64_t spare_ms;
} pf_state;

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static stream_session *pf_session(const pf_state *st, const pf_conn *pc)
{
        return pc->ws ? pc->ws : st->spdy;
}

static void pf_conn_data(pf_conn *pc, stream_session *s, int stream, const uint8_t *data, size_t len)
{
        if (stream == pc->data) {
                strbuf_add(&pc->to_local, data, len);
                return; /* consumed once written */
        }
        if (stream == pc->error && pc->message.len + len <= MAX_STATUS)
                strbuf_add(&pc->message, data, len);
        stream_consumed(s, stream, len);
}

static void pf_conn_end(pf_conn *pc, int stream, bool reset)
{
        if (stream == pc->data) {
                pc->remote_eof = true;
                pc->failed |= reset;
        }
}

static pf_conn *pf_conn_by_stream(pf_state *st, int stream)
{
        for (size_t i = 0; i < st->n_conns; i++) {
                pf_conn *pc = st->conns[i];
                if (!pc->ws && (pc->data == stream || pc->error == stream))
                        return pc;
        }
        return NULL;
}

static void pf_spdy_data(void *userdata, int stream, const uint8_t *data, size_t len)
{
        pf_state *st = userdata;
        pf_conn *pc = pf_conn_by_stream(st, stream);
        if (pc)
                pf_conn_data(pc, st->spdy, stream, data, len);
        else
                stream_consumed(st->spdy, stream, len);
}

static void pf_spdy_end(void *userdata, int stream, bool reset)
{
        pf_conn *pc = pf_conn_by_stream(userdata, stream);
        if (pc)
                pf_conn_end(pc, stream, reset);
}

static void pf_ws_data(void *userdata, int stream, const uint8_t *data, size_t len)
{
        pf_conn *pc = userdata;
        pf_conn_data(pc, pc->ws, stream, data, len);
}

static void pf_ws_end(void *userdata, int stream, bool reset)
{
        pf_conn_end(userdata, stream, reset);
}

/* A PortForward call for ports; the URL to free, or NULL (printed). */
static char *pf_call(pf_state *st, const int32_t *ports, size_t n)
{
        Runtime__V1__PortForwardRequest req = RUNTIME__V1__PORT_FORWARD_REQUEST__INIT;
        req.pod_sandbox_id = (char *)st->pod;
        req.port = (int32_t *)ports;
        req.n_port = n;
        Runtime__V1__PortForwardResponse *resp;
        if (ocic_call(st->ctx, RUNTIME_SERVICE, "PortForward", &req.base,
                      &runtime__v1__port_forward_response__descriptor, (ProtobufCMessage **)&resp) < 0)
                return NULL;
        char *url = strdup(resp->url);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        if (!url)
                abort();
        return url;
}

static char *pf_call_all(pf_state *st)
{
        int32_t ports[64];
        size_t n = 0;
        for (size_t i = 0; i < st->n_ls && n < ARRAY_SIZE(ports); i++)
                ports[n++] = st->ls[i].remote;
        return pf_call(st, ports, n);
}

static int pf_dial_spdy(pf_state *st)
{
        if (st->spdy)
                return 0;
        _cleanup_free_ char *url = pf_call_all(st);
        if (!url)
                return -1;
        static const stream_handlers handlers = { .data = pf_spdy_data, .end = pf_spdy_end };
        ocid_error err = OCID_ERROR_INIT;
        if (stream_session_dial(url, &st->dial, &handlers, st, &st->spdy, &err) < 0) {
                fprintf(stderr, "ocic: port-forward: %s\n", err.message);
                ocid_error_clear(&err);
                return -1;
        }
        return 0;
}

/* The URL for a WebSocket session: one per connection, naming its port. */
static char *pf_ws_url(pf_state *st, uint16_t remote)
{
        _cleanup_free_ char *base = NULL;
        if (st->spare_url && mono_ms() - st->spare_ms < PF_SPARE_MS)
                base = TAKE_PTR(st->spare_url);
        free(TAKE_PTR(st->spare_url));
        if (!base) {
                int32_t port = remote;
                base = pf_call(st, &port, 1);
                if (!base)
                        return NULL;
        }
        char *url;
        if (asprintf(&url, "%s%cport=%u", base, strchr(base, '?') ? '&' : '?', remote) < 0)
                abort();
        return url;
}

static void pf_conn_free(pf_conn *pc)
{
        if (pc->fd >= 0)
                close(pc->fd);
        if (pc->ws) {
                stream_session_shutdown(pc->ws, 100);
                stream_session_free(pc->ws);
        }
        strbuf_release(&pc->to_local);
        strbuf_release(&pc->message);
        free(pc);
}

static int pf_open_streams(pf_state *st, pf_conn *pc, ocid_error *err)
{
        stream_session *s = pf_session(st, pc);
        stream_spec spec = { .type = "error", .port = pc->remote, .request_id = st->next_request_id++ };
        if ((pc->error = stream_open(s, &spec, err)) < 0)
                return -1;
        spec.type = "data";
        if ((pc->data = stream_open(s, &spec, err)) < 0)
                return -1;
        /* Nothing is ever sent on the error stream (as kubectl does). */
        return stream_close(s, pc->error, err);
}

static void pf_accept(pf_state *st, const pf_listener *l)
{
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
                return;
        printf("Handling connection for %u\n", l->local);
        fflush(stdout);
        pf_conn *pc = calloc(1, sizeof(*pc));
        if (!pc)
                abort();
        *pc = (pf_conn){ .fd = fd, .local = l->local, .remote = l->remote, .data = -1, .error = -1 };
        strbuf_init(&pc->to_local);
        strbuf_init(&pc->message);
        ocid_error err = OCID_ERROR_INIT;
        int r;
        if (st->dial.transport == STREAM_SPDY) {
                r = pf_dial_spdy(st);
        } else {
                _cleanup_free_ char *url = pf_ws_url(st, l->remote);
                static const stream_handlers handlers = { .data = pf_ws_data, .end = pf_ws_end };
                r = url ? stream_session_dial(url, &st->dial, &handlers, pc, &pc->ws, &err) : -1;
        }
        if (r == 0)
                r = pf_open_streams(st, pc, &err);
        if (r < 0) {
                if (err.message)
                        fprintf(stderr, "ocic: port-forward: %s\n", err.message);
                ocid_error_clear(&err);
                pf_conn_free(pc);
                return;
        }
        pf_conn **v = reallocarray(st->conns, st->n_conns + 1, sizeof(*v));
        if (!v)
                abort();
        st->conns = v;
        st->conns[st->n_conns++] = pc;
}

static void pf_local_read(pf_state *st, pf_conn *pc)
{
        stream_session *s = pf_session(st, pc);
        uint8_t buf[READ_CHUNK];
        ssize_t n = read(pc->fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        ocid_error err = OCID_ERROR_INIT;
        if (n > 0 && stream_send(s, pc->data, buf, (size_t)n, &err) == 0)
                return;
        if (n < 0 || (n > 0 && err.kind != OCID_OK)) {
                pc->failed = true;
        } else {
                /* The local client finished sending: so do we. */
                pc->local_eof = true;
                stream_close(s, pc->data, &err);
        }
        ocid_error_clear(&err);
}

static void pf_local_write(pf_state *st, pf_conn *pc)
{
        size_t left = pc->to_local.len - pc->to_local_off;
        ssize_t n = write(pc->fd, pc->to_local.buf + pc->to_local_off, left);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n < 0) {
                pc->failed = true;
                return;
        }
        pc->to_local_off += (size_t)n;
        stream_consumed(pf_session(st, pc), pc->data, (size_t)n);
        if (pc->to_local_off == pc->to_local.len) {
                strbuf_reset(&pc->to_local);
                pc->to_local_off = 0;
        }
}

static bool pf_conn_done(const pf_conn *pc)
{
        return pc->failed || pc->message.len ||
               (pc->remote_eof && pc->to_local_off == pc->to_local.len);
}

static void pf_report(const pf_conn *pc)
{
        if (!pc->message.len)
                return;
        /* ocid's message already says which port. */
        if (strncmp(pc->message.buf, "error forwarding port", 21) == 0)
                fprintf(stderr, "ocic: port-forward: %s\n", pc->message.buf);
        else
                fprintf(stderr, "ocic: port-forward: error forwarding port %u: %s\n", pc->remote,
                        pc->message.buf);
}

/* Close finished connections; those of a shared session are reset there. */
static void pf_reap(pf_state *st)
{
        size_t n = 0;
        for (size_t i = 0; i < st->n_conns; i++) {
                pf_conn *pc = st->conns[i];
                if (!pf_conn_done(pc)) {
                        st->conns[n++] = pc;
                        continue;
                }
                pf_report(pc);
                if (!pc->ws && st->spdy) {
                        stream_reset(st->spdy, pc->data);
                        stream_reset(st->spdy, pc->error);
                }
                pf_conn_free(pc);
        }
        st->n_conns = n;
}

/* The shared session ended: its connections go with it (reaped at the
 * end of the round), and the next connection dials anew. */
static void pf_drop_spdy(pf_state *st, int r, const ocid_error *err)
{
        if (r < 0)
                fprintf(stderr, "ocic: port-forward: %s\n", err->message ? err->message : "session failed");
        for (size_t i = 0; i < st->n_conns; i++)
                if (!st->conns[i]->ws)
                        st->conns[i]->failed = true;
        stream_session_free(TAKE_PTR(st->spdy));
}

/* Pause a session while a local connection has too much waiting. */
static void pf_flow(pf_state *st)
{
        bool spdy_full = false;
        for (size_t i = 0; i < st->n_conns; i++) {
                pf_conn *pc = st->conns[i];
                bool full = pc->to_local.len - pc->to_local_off > PF_HIGH_WATER;
                if (pc->ws)
                        stream_session_pause(pc->ws, full);
                else
                        spdy_full |= full;
        }
        if (st->spdy)
                stream_session_pause(st->spdy, spdy_full);
}

/* The pollfds of one round: the signal pipe, the listeners, the shared
 * session, then two per connection (its socket, its own session). Returns
 * poll's timeout. */
static int pf_poll_setup(pf_state *st, struct pollfd *fds)
{
        int timeout = -1;
        fds[0] = (struct pollfd){ .fd = signal_pipe[0], .events = POLLIN };
        for (size_t i = 0; i < st->n_ls; i++)
                fds[1 + i] = (struct pollfd){ .fd = st->ls[i].fd, .events = POLLIN };
        struct pollfd *sp = &fds[1 + st->n_ls], *cf = sp + 1;
        sp->fd = -1;
        if (st->spdy)
                timeout = stream_session_prepare(st->spdy, sp);
        for (size_t i = 0; i < st->n_conns; i++) {
                pf_conn *pc = st->conns[i];
                cf[2 * i] = (struct pollfd){ .fd = pc->fd };
                if (!pc->local_eof && stream_writable(pf_session(st, pc), pc->data))
                        cf[2 * i].events |= POLLIN;
                if (pc->to_local_off < pc->to_local.len)
                        cf[2 * i].events |= POLLOUT;
                cf[2 * i + 1].fd = -1;
                if (pc->ws) {
                        int t = stream_session_prepare(pc->ws, &cf[2 * i + 1]);
                        if (t >= 0 && (timeout < 0 || t < timeout))
                                timeout = t;
                }
        }
        return timeout;
}

static void pf_serve_conn(pf_state *st, pf_conn *pc, short local, short session)
{
        ocid_error err = OCID_ERROR_INIT;
        if (pc->ws) {
                int r = stream_session_dispatch(pc->ws, session, &err);
                if (r < 0) {
                        fprintf(stderr, "ocic: port-forward: %s\n", err.message);
                        pc->failed = true;
                } else if (r == 0) {
                        pc->remote_eof = true;
                }
                ocid_error_clear(&err);
        }
        if (pc->failed)
                return;
        if (local & POLLOUT)
                pf_local_write(st, pc);
        /* poll reports these even unasked: after our EOF they mean the
         * connection is gone both ways. */
        if ((local & (POLLHUP | POLLERR)) && pc->local_eof)
                pc->failed = true;
        else if (local & (POLLIN | POLLHUP | POLLERR))
                pf_local_read(st, pc);
}

/* One round: poll everything, then serve what is ready. Returns false once
 * a signal asked us to stop. */
static bool pf_round(pf_state *st)
{
        size_t n = 1 + st->n_ls + 1 + 2 * st->n_conns;
        _cleanup_free_ struct pollfd *fds = calloc(n, sizeof(*fds));
        if (!fds)
                abort();
        int timeout = pf_poll_setup(st, fds);
        if (poll(fds, n, timeout) < 0 && errno != EINTR)
                return false;
        for (int sig; (sig = next_signal());)
                if (sig == SIGINT || sig == SIGTERM)
                        return false;
        struct pollfd *sp = &fds[1 + st->n_ls], *cf = sp + 1;
        if (st->spdy) {
                ocid_error err = OCID_ERROR_INIT;
                int r = stream_session_dispatch(st->spdy, sp->revents, &err);
                if (r <= 0)
                        pf_drop_spdy(st, r, &err);
                ocid_error_clear(&err);
        }
        /* Connections are added and removed only below: cf[] still
         * matches st->conns[]. */
        for (size_t i = 0; i < st->n_conns; i++)
                pf_serve_conn(st, st->conns[i], cf[2 * i].revents, cf[2 * i + 1].revents);
        pf_reap(st);
        for (size_t i = 0; i < st->n_ls; i++)
                if (fds[1 + i].revents & POLLIN)
                        pf_accept(st, &st->ls[i]);
        pf_flow(st);
        return true;
}

/* [LOCAL:]REMOTE, LOCAL empty or 0 for any free port. */
static bool parse_port_spec(const char *s, pf_listener *ret)
{
        const char *colon = strchr(s, ':');
        const char *remote = colon ? colon + 1 : s;
        char *end;
        errno = 0;
        long r = strtol(remote, &end, 10);
        if (errno || end == remote || *end || r < 1 || r > 65535)
                return false;
        long l = r;
        if (colon && colon == s) {
                l = 0;
        } else if (colon) {
                l = strtol(s, &end, 10);
                if (end != colon || l < 0 || l > 65535)
                        return false;
        }
        *ret = (pf_listener){ .fd = -1, .local = (uint16_t)l, .remote = (uint16_t)r };
        return true;
}

static int pf_listen(pf_listener *l)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(l->local),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        l->fd = fd;
        l->local = ntohs(sa.sin_port);
        return 0;
}

static void pf_release(pf_state *st)
{
        for (size_t i = 0; i < st->n_conns; i++)
                pf_conn_free(st->conns[i]);
        free(st->conns);
        if (st->spdy) {
                stream_session_shutdown(st->spdy, 500);
                stream_session_free(st->spdy);
        }
        for (size_t i = 0; i < st->n_ls; i++)
                if (st->ls[i].fd >= 0)
                        close(st->ls[i].fd);
        free(st->ls);
        free(st->spare_url);
}

/* Connect first (a wrong pod fails now, not at the first connection),
 * then listen. */
static int pf_start(pf_state *st)
{
        if (st->dial.transport == STREAM_SPDY) {
                if (pf_dial_spdy(st) < 0)
                        return 1;
        } else {
                st->spare_url = pf_call_all(st);
                st->spare_ms = mono_ms();
                if (!st->spare_url)
                        return 1;
        }
        for (size_t i = 0; i < st->n_ls; i++) {
                pf_listener *l = &st->ls[i];
                uint16_t asked = l->local;
                int r = pf_listen(l);
                if (r < 0) {
                        fprintf(stderr, "ocic: port-forward: listen on 127.0.0.1:%u: %s\n", asked, strerror(-r));
                        return 1;
                }
                printf("Forwarding from 127.0.0.1:%u -> %u\n", l->local, l->remote);
        }
        fflush(stdout);
        return 0;
}

int cmd_port_forward(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = { STREAM_LONG_OPTIONS, { 0 } };
        static const char usage[] =
                "port-forward [--transport spdy|websocket] [--insecure] [--cacert FILE] POD-ID [LOCAL:]REMOTE...";
        ocic_stream_opts so = { 0 };
        int c;
        while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1)
                if (!stream_option(c, &so))
                        return ocic_usage_error(usage);
        if (argc - optind < 2 || argc - optind > 65)
                return ocic_usage_error(usage);
        pf_state st = { .ctx = ctx, .pod = argv[optind] };
        if (dial_options(ctx, &so, true, &st.dial) < 0)
                return 2;
        st.ls = calloc((size_t)(argc - optind - 1), sizeof(*st.ls));
        if (!st.ls)
                abort();
        for (int i = optind + 1; i < argc; i++) {
                if (!parse_port_spec(argv[i], &st.ls[st.n_ls++])) {
                        fprintf(stderr, "ocic: port-forward: bad port '%s' ([LOCAL:]REMOTE)\n", argv[i]);
                        pf_release(&st);
                        return 2;
                }
        }
        if (signals_init() < 0) {
                pf_release(&st);
                return 1;
        }
        handle_signal(SIGINT, on_notify_signal);
        handle_signal(SIGTERM, on_notify_signal);
        int code = pf_start(&st);
        while (code == 0 && pf_round(&st))
                ;
        pf_release(&st);
        return code;
}
