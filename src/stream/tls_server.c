#include "stream/tls_server.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>

static SSL_CTX *ssl_ctx(tls_server_ctx *ctx)
{
        return (SSL_CTX *)ctx;
}

static SSL *ssl_of(tls_server_conn *conn)
{
        return (SSL *)conn;
}

static tls_server_ctx *ctx_new(const char *cert_file, const char *key_file, char *err, size_t err_size)
{
        if (!cert_file || !*cert_file || !key_file || !*key_file) {
                snprintf(err, err_size, "a certificate and a key file are needed");
                return NULL;
        }
        ERR_clear_error();
        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
            SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
                unsigned long e = ERR_get_error();
                const char *reason = e ? ERR_reason_error_string(e) : NULL;
                snprintf(err, err_size, "%s", reason ? reason : "unusable");
                SSL_CTX_free(ctx);
                return NULL;
        }
        /* The caller retries a write with whatever it still has buffered,
         * possibly moved, and wants to hear about partial progress. */
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        return (tls_server_ctx *)ctx;
}

static void ctx_free(tls_server_ctx *ctx)
{
        SSL_CTX_free(ssl_ctx(ctx));
}

static tls_server_conn *conn_new(tls_server_ctx *ctx, int fd)
{
        SSL *ssl = SSL_new(ssl_ctx(ctx));
        if (!ssl || !SSL_set_fd(ssl, fd)) {
                SSL_free(ssl);
                return NULL;
        }
        SSL_set_accept_state(ssl);
        return (tls_server_conn *)ssl;
}

static ssize_t failure(SSL *ssl, int n)
{
        switch (SSL_get_error(ssl, n)) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
                return -EAGAIN;
        case SSL_ERROR_ZERO_RETURN:
                return 0;
        case SSL_ERROR_SYSCALL:
                return -EPIPE;
        default:
                return -EIO;
        }
}

static ssize_t conn_read(tls_server_conn *conn, void *buf, size_t len)
{
        ERR_clear_error();
        int n = SSL_read(ssl_of(conn), buf, len > INT_MAX ? INT_MAX : (int)len);
        return n > 0 ? n : failure(ssl_of(conn), n);
}

static ssize_t conn_write(tls_server_conn *conn, const void *buf, size_t len)
{
        ERR_clear_error();
        int n = SSL_write(ssl_of(conn), buf, len > INT_MAX ? INT_MAX : (int)len);
        if (n > 0)
                return n;
        ssize_t r = failure(ssl_of(conn), n);
        return r == 0 ? -EPIPE : r;
}

static void conn_shutdown(tls_server_conn *conn)
{
        ERR_clear_error();
        SSL_shutdown(ssl_of(conn));
}

static void conn_free(tls_server_conn *conn)
{
        SSL_free(ssl_of(conn));
}

__attribute__((visibility("default"))) const tls_server_ops ocid_tls_server_v1 = {
        .ctx_new = ctx_new,
        .ctx_free = ctx_free,
        .conn_new = conn_new,
        .read = conn_read,
        .write = conn_write,
        .shutdown = conn_shutdown,
        .conn_free = conn_free,
};
