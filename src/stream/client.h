/* The client side of the streaming protocols, for ocic exec, attach and
 * port-forward: connect to the URL an Exec, Attach or PortForward call
 * returned (http:// or https://), upgrade the connection to SPDY/3.1 or
 * WebSocket, and carry named streams over it.
 *
 * A session is transport-neutral for its user: streams are opened by their
 * Kubernetes stream type ("stdin", "stdout", "error", "data", ...), which
 * SPDY sends as a streamtype header and WebSocket maps to a channel number.
 * Everything is single-threaded and non-blocking underneath; callers drive a
 * session with poll(), either through stream_session_pump() or, to watch
 * several sessions at once, stream_session_prepare()/_dispatch().
 *
 * Errors: OCID_ERR_INVALID for a server that breaks the protocol,
 * OCID_ERR_UNAVAILABLE for connection failures, the kind matching the HTTP
 * status when the server refuses the upgrade (its body is the message),
 * OCID_ERR_DEADLINE when the dial timeout passes. */
#pragma once

#include "stream/http.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- response heads ------------------------------------------------------------ */

/* A parsed HTTP/1.x status line and header fields. */
typedef struct {
        int version;            /* 10 or 11 */
        int status;             /* 100 to 999 */
        char *reason;           /* possibly empty */
        http_field *headers;    /* in order received; obs-folds joined with one SP */
        size_t n_headers;
} http_response_head;

/* Free what the head owns and zero it. Accepts a zeroed head. */
void http_response_head_release(http_response_head *r);

/* Parse a complete head (status line through the empty line, at most
 * HTTP_MAX_HEAD bytes). Lines end in CRLF or, leniently, a bare LF; a bare
 * CR is refused, as are control characters, a malformed status line, field
 * names that are not tokens and more than HTTP_MAX_HEADERS fields. On
 * failure *ret is left zeroed. */
int http_response_head_parse(const char *head, size_t len, http_response_head *ret, ocid_error *err);

/* Incremental: accumulates bytes until the empty line. */
typedef struct {
        strbuf head;
        bool line_start;        /* the last byte ended a line (CR aside) */
        bool done;
} http_response_parser;

void http_response_parser_init(http_response_parser *p);
void http_response_parser_release(http_response_parser *p);
/* Returns 0 when more is needed (all of data taken), 1 when the head is
 * complete: *ret filled, *ret_consumed the bytes of data that belonged to
 * it (the rest belong to the upgraded protocol). Negative on failure,
 * OCID_ERR_RESOURCE for a head over HTTP_MAX_HEAD. After 1 or a failure the
 * parser must not be fed again. */
int http_response_parser_feed(http_response_parser *p, const uint8_t *data, size_t len,
                              size_t *ret_consumed, http_response_head *ret, ocid_error *err);

/* The first field named `name` (case-insensitive), or NULL. */
const char *http_response_head_header(const http_response_head *r, const char *name);
/* Whether a field named `name` lists token (case-insensitive). */
bool http_response_head_has_token(const http_response_head *r, const char *name, const char *token);

/* ---- URLs ---------------------------------------------------------------------- */

typedef struct {
        bool tls;               /* https */
        char *host;             /* IPv6 literals without their brackets */
        char *port;             /* decimal; 80 or 443 when the URL has none */
        char *authority;        /* for Host: as written in the URL */
        char *target;           /* path and query; "/" when the URL has none */
} stream_url;

/* http://host[:port][/path][?query] or https://...; no user info, no
 * fragment. */
int stream_url_parse(const char *url, stream_url *ret, ocid_error *err);
void stream_url_release(stream_url *u);

/* ---- the exit status of exec and attach ------------------------------------------ */

/* The exit code a metav1.Status JSON (what the error stream carries with
 * v4 and later protocols) stands for: 0 for Success, the ExitCode cause of a
 * NonZeroExitCode failure (1 to 255), 1 for any other failure, which sets
 * *ret_message (to free). Unparsable input is a failure too. */
int stream_status_exit_code(const char *json, size_t len, char **ret_message);

/* ---- sessions -------------------------------------------------------------------- */

typedef enum {
        STREAM_SPDY,
        STREAM_WEBSOCKET,
} stream_transport;

/* What to offer, best first, NULL-terminated. */
extern const char *const stream_spdy_remotecommand_protocols[];      /* v4 .. channel.k8s.io */
extern const char *const stream_websocket_remotecommand_protocols[]; /* v5 .. channel.k8s.io */
extern const char *const stream_spdy_portforward_protocols[];        /* portforward.k8s.io */
extern const char *const stream_websocket_portforward_protocols[];   /* v4.channel.k8s.io */

typedef struct {
        stream_transport transport;
        const char *const *protocols;
        int timeout_ms;         /* connecting and upgrading; <= 0: none */
        bool insecure;          /* https: no certificate verification */
        const char *ca_file;    /* https: trust these CAs, not the system's */
        /* SPDY: the receive window offered for each stream and the
         * session; 0 for the largest, 2^31-1 (see client.c). */
        uint32_t recv_window;
} stream_dial_options;

/* Streams are named by an int: the SPDY stream id, or the WebSocket
 * channel. Callbacks may call any stream_* function, the session's free
 * excepted. */
typedef struct {
        /* Bytes arrived on stream; call stream_consumed() once they are
         * used (SPDY flow control). */
        void (*data)(void *userdata, int stream, const uint8_t *data, size_t len);
        /* The server will send no more on stream: FIN (reset false), or a
         * RST_STREAM (reset true). */
        void (*end)(void *userdata, int stream, bool reset);
} stream_handlers;

typedef struct stream_session stream_session;

int stream_session_dial(const char *url, const stream_dial_options *o, const stream_handlers *h,
                        void *userdata, stream_session **ret, ocid_error *err);
void stream_session_free(stream_session *s);
DEFINE_CLEANUP_FUNC(stream_session, stream_session_free)

/* The protocol the server chose; "" when it named none. */
const char *stream_session_protocol(const stream_session *s);
stream_transport stream_session_transport(const stream_session *s);

typedef struct {
        const char *type;       /* streamtype: stdin, stdout, stderr, error, resize, data */
        int port;               /* port-forward: the remote port; 0 for exec and attach */
        uint32_t request_id;    /* port-forward over SPDY: pairs error and data */
        unsigned port_index;    /* port-forward over WebSocket: the URL's n-th port */
} stream_spec;

/* Open a stream; returns its id (>= 0). SPDY sends SYN_STREAM now; data
 * sent before the server's SYN_REPLY is held until it arrives (some servers
 * drop it otherwise). WebSocket channels need no opening: this only names
 * them. */
int stream_open(stream_session *s, const stream_spec *spec, ocid_error *err);
/* Queue bytes for stream. Check stream_writable() before reading more
 * input: nothing here bounds what is queued. */
int stream_send(stream_session *s, int stream, const void *data, size_t len, ocid_error *err);
/* Half-close: SPDY FIN after the queued data; v5.channel.k8s.io close
 * signal; nothing with older WebSocket protocols, which cannot say it. */
int stream_close(stream_session *s, int stream, ocid_error *err);
/* Abandon a stream: RST_STREAM CANCEL, queued data dropped, no more
 * callbacks for it. */
void stream_reset(stream_session *s, int stream);
/* n received bytes of stream were used: may send WINDOW_UPDATEs. Valid
 * after the stream ended too. */
void stream_consumed(stream_session *s, int stream, size_t n);
/* Whether the session can take more for stream without queueing much. */
bool stream_writable(const stream_session *s, int stream);

/* Stop or resume reading from the server (a consumer is behind). */
void stream_session_pause(stream_session *s, bool paused);

/* Driving a session. prepare fills pfd and returns how long poll may
 * wait for the session's sake (-1: no limit); dispatch takes poll's
 * revents for pfd (also 0: it never blocks) and does the I/O, calling the
 * handlers. dispatch returns 1 while the session is open, 0 once it ended
 * (connection closed, WebSocket Close received), -1 on failure. */
int stream_session_prepare(stream_session *s, struct pollfd *pfd);
int stream_session_dispatch(stream_session *s, short revents, ocid_error *err);
/* Both, around one poll() that also watches fds (their revents are set;
 * all zero when a signal interrupted poll). timeout_ms -1: no limit. */
int stream_session_pump(stream_session *s, struct pollfd *fds, size_t n_fds, int timeout_ms,
                        ocid_error *err);
/* Whether the session ended the protocol's way: a WebSocket Close from the
 * server, for SPDY an end of the connection without a failure. */
bool stream_session_ended_cleanly(const stream_session *s);
/* End the session politely: GOAWAY or a Close frame, then write out what
 * is queued, waiting at most timeout_ms. */
void stream_session_shutdown(stream_session *s, int timeout_ms);
