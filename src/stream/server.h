/* The streaming server: what the URLs returned by Exec, Attach and
 * PortForward point at. HTTP/1.1 on TCP, on the daemon's event loop; a
 * request naming a valid single-use token is upgraded to SPDY/3.1 or
 * WebSocket and becomes a session that relays the client's streams to a
 * process (exec, attach) or to TCP connections inside a pod (port
 * forwarding), speaking the Kubernetes remotecommand and portforward
 * protocols.
 *
 * What a session talks to comes from a backend (the CRI layer), whose
 * calls run on worker threads: the server itself knows nothing about
 * containers. */
#pragma once

#include "server/loop.h"
#include "server/workers.h"
#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
        STREAM_EXEC,
        STREAM_ATTACH,
        STREAM_PORTFORWARD,
} stream_kind;

/* What an RPC asked for, kept under its token until the client comes. */
typedef struct {
        stream_kind kind;
        char *target;           /* container ID; pod sandbox ID for port forwarding */
        char **cmd;             /* exec: the command */
        bool tty, in, out, err;
        uint16_t width, height; /* a terminal's first size, 0: unknown */
        uint16_t *ports;        /* port forwarding: the ports of the RPC (may be none) */
        size_t n_ports;
} stream_request;

void stream_request_free(stream_request *r);

typedef struct stream_process_ops stream_process_ops;

/* The process side of an exec or attach session. The descriptors become
 * the session's (it closes them); -1 where absent. */
typedef struct {
        int in_fd;              /* the process's stdin, write end */
        int out_fd, err_fd;     /* its stdout and stderr, read ends */
        int tty_fd;             /* its terminal's master: reads are stdout, writes stdin */
        int attach_fd;          /* conmon's attach socket (runtime/container.h) */
        /* Readable once the process ended (a pidfd); -1: the session ends
         * when the output does (attach). */
        int exit_fd;
        void *handle;
        const stream_process_ops *ops;
} stream_process;

struct stream_process_ops {
        void (*resize)(void *handle, uint16_t width, uint16_t height);
        /* After exit_fd became readable: the exit code. */
        int (*wait)(void *handle);
        /* The client went away and the process did not end. */
        void (*kill)(void *handle);
        void (*release)(void *handle);
};

typedef struct {
        void *context;
        /* Start the exec or open the attach of req. */
        int (*open)(void *context, const stream_request *req, stream_process *ret, ocid_error *err);
        /* A TCP connection to localhost:port inside the pod's network
         * namespace, non-blocking and connected. */
        int (*dial)(void *context, const char *sandbox_id, uint16_t port, int *ret_fd, ocid_error *err);
} stream_backend;

typedef struct {
        const char *address;    /* "127.0.0.1", "::1", "0.0.0.0"... */
        const char *port;       /* "0": any free port */
        uint64_t token_ttl_ms;  /* an unused URL expires */
        uint64_t idle_timeout_ms; /* a session without traffic is closed; 0: never */
        unsigned max_sessions;
        /* PEM files; no certificate: plain HTTP. */
        const char *tls_cert, *tls_key;
        stream_backend backend;
} stream_server_options;

typedef struct stream_server stream_server;

int stream_server_new(loop *l, workers *w, const stream_server_options *o, stream_server **ret,
                      ocid_error *err);
/* Close every session (their processes are killed) and free. On the loop
 * thread, after the loop stopped or from it. */
void stream_server_free(stream_server *s);

/* From any thread: store req (owned from now on, also on failure) under a
 * new token and return the URL to give the client. RESOURCE when too many
 * tokens wait. */
int stream_server_url(stream_server *s, stream_request *req, char **ret_url, ocid_error *err);

/* "http://127.0.0.1:PORT" (https with TLS), the port resolved. */
const char *stream_server_base_url(const stream_server *s);
unsigned stream_server_sessions(const stream_server *s);
