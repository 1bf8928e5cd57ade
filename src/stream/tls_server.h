/* The streaming server's TLS (OpenSSL), built as a module of its own that
 * the daemon loads only when TLS is configured: linking OpenSSL into the
 * daemon would cost about 2 MiB of memory to every daemon, TLS or not.
 *
 * The module exports one symbol, TLS_SERVER_SYMBOL: a tls_server_ops. An
 * incompatible change to the interface gets a new symbol name. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#define TLS_SERVER_MODULE "ocid-tls-server.so"
#define TLS_SERVER_SYMBOL "ocid_tls_server_v1"

typedef struct tls_server_ctx tls_server_ctx;
typedef struct tls_server_conn tls_server_conn;

typedef struct {
        /* A context serving a PEM certificate (chain) and its PEM private
         * key, TLS 1.2 and later. NULL on failure, the reason in err
         * (err_size > 0). */
        tls_server_ctx *(*ctx_new)(const char *cert_file, const char *key_file, char *err, size_t err_size);
        void (*ctx_free)(tls_server_ctx *ctx);
        /* The server side of TLS on an accepted non-blocking socket, which
         * stays the caller's to close. NULL on failure. */
        tls_server_conn *(*conn_new)(tls_server_ctx *ctx, int fd);
        /* >= 0 bytes (0: the peer ended the session, for reads), -EAGAIN
         * when the socket is not ready, -EPIPE when the connection broke,
         * -EIO for any other TLS failure. */
        ssize_t (*read)(tls_server_conn *conn, void *buf, size_t len);
        ssize_t (*write)(tls_server_conn *conn, const void *buf, size_t len);
        /* Tell the peer we are done (close_notify), without waiting. */
        void (*shutdown)(tls_server_conn *conn);
        void (*conn_free)(tls_server_conn *conn);
} tls_server_ops;

extern const tls_server_ops ocid_tls_server_v1;
