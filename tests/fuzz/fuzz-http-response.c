/* libFuzzer target for the client side of the streaming protocols
 * (stream/client.c): what a streaming server sends back and ocic parses.
 * The response-head parser of the upgrade, incremental and one-shot; the
 * URL an Exec, Attach or PortForward call returns; the metav1.Status JSON
 * that ends an exec. Only LLVMFuzzerTestOneInput is defined, so the file
 * also links into replay.c.
 *
 * Input layout (as fuzz-http-upgrade.c):
 *   byte 0      unused
 *   byte 1      n, the number of chunk sizes that follow (n % 32)
 *   n bytes     chunk sizes, used in turn (0: an empty feed)
 *   the rest    the bytes of the connection
 *
 * Oracles beyond "no crash": fed whole and in chunks, the parser gives the
 * same outcome and consumes the same bytes, never buffering more than
 * HTTP_MAX_HEAD; a parsed head is well-formed (version, status, token
 * names, values without control characters, bounded count) and the
 * one-shot parser agrees on it; a parsed URL has a host, a port in range
 * and a target starting with '/'; an exit code is 0 to 255 with a message
 * exactly when the status was a failure without an exit code. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "stream/client.h"
#include "util/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
        int rc;
        ocid_error_kind kind;
        size_t consumed;
        http_response_head head;
} outcome;

static void run(const uint8_t *stream, size_t len, const uint8_t *sizes, size_t n_sizes, outcome *o)
{
        http_response_parser p;
        http_response_parser_init(&p);
        ocid_error err = OCID_ERROR_INIT;
        memset(o, 0, sizeof(*o));
        fuzz_chunks chunks = { .sizes = sizes, .n_sizes = n_sizes };
        size_t off = 0;
        while (off < len) {
                size_t n = fuzz_next_chunk(&chunks, len - off);
                size_t used = 0;
                o->rc = http_response_parser_feed(&p, stream + off, n, &used, &o->head, &err);
                CHECK(used <= n);
                CHECK(p.head.len <= HTTP_MAX_HEAD);
                o->consumed += used;
                if (o->rc != 0)
                        break;
                CHECK(used == n);
                off += n;
        }
        CHECK(o->rc >= -1 && o->rc <= 1);
        o->kind = err.kind;
        CHECK((o->rc < 0) == (err.kind != OCID_OK));
        CHECK((err.kind == OCID_OK) == (err.message == NULL));
        if (o->rc < 0)
                CHECK(err.kind == OCID_ERR_INVALID || err.kind == OCID_ERR_RESOURCE ||
                      err.kind == OCID_ERR_UNIMPLEMENTED);
        if (o->rc != 1)
                CHECK(o->head.reason == NULL && o->head.n_headers == 0);
        if (o->rc == 1) {
                http_response_head again;
                ocid_error err2 = OCID_ERROR_INIT;
                CHECK(http_response_head_parse((const char *)stream, o->consumed, &again, &err2) == 0);
                CHECK(again.status == o->head.status && again.n_headers == o->head.n_headers);
                CHECK(strcmp(again.reason, o->head.reason) == 0);
                http_response_head_release(&again);
        }
        ocid_error_clear(&err);
        http_response_parser_release(&p);
}

static bool is_tchar(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void check_head(const http_response_head *r)
{
        CHECK(r->version == 10 || r->version == 11);
        CHECK(r->status >= 100 && r->status <= 999);
        CHECK(r->n_headers <= HTTP_MAX_HEADERS);
        for (const unsigned char *c = (const unsigned char *)r->reason; *c; c++)
                CHECK(*c == '\t' || (*c >= 0x20 && *c != 0x7f));
        for (size_t i = 0; i < r->n_headers; i++) {
                CHECK(r->headers[i].name[0]);
                for (const char *c = r->headers[i].name; *c; c++)
                        CHECK(is_tchar((unsigned char)*c));
                for (const unsigned char *c = (const unsigned char *)r->headers[i].value; *c; c++)
                        CHECK(*c == '\t' || (*c >= 0x20 && *c != 0x7f));
                size_t vl = strlen(r->headers[i].value);
                if (vl)
                        CHECK(r->headers[i].value[0] != ' ' && r->headers[i].value[vl - 1] != ' ');
                CHECK(http_response_head_header(r, r->headers[i].name) != NULL);
        }
        http_response_head_has_token(r, "Upgrade", "websocket");
        http_response_head_has_token(r, "Connection", "upgrade");
}

static void check_url(const uint8_t *data, size_t size)
{
        char *s = strndup((const char *)data, size);
        CHECK(s);
        stream_url u;
        ocid_error err = OCID_ERROR_INIT;
        if (stream_url_parse(s, &u, &err) == 0) {
                CHECK(u.host[0] && u.authority[0] && u.target[0] == '/');
                long port = strtol(u.port, NULL, 10);
                CHECK(port >= 1 && port <= 65535);
                stream_url_release(&u);
        } else {
                CHECK(err.kind == OCID_ERR_INVALID && u.host == NULL);
        }
        ocid_error_clear(&err);
        free(s);
}

static void check_status(const uint8_t *data, size_t size)
{
        char *msg = NULL;
        int code = stream_status_exit_code((const char *)data, size, &msg);
        CHECK(code >= 0 && code <= 255);
        if (code == 0)
                CHECK(msg == NULL);
        if (msg)
                CHECK(code == 1);
        free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 2)
                return 0;
        size_t n_sizes = data[1] % 32;
        const uint8_t *rest = data + 2;
        size_t rest_len = size - 2;
        if (n_sizes > rest_len)
                n_sizes = rest_len;
        const uint8_t *stream = rest + n_sizes;
        size_t len = rest_len - n_sizes;

        outcome whole, chunked;
        run(stream, len, NULL, 0, &whole);
        run(stream, len, rest, n_sizes, &chunked);
        CHECK(whole.rc == chunked.rc);
        CHECK(whole.kind == chunked.kind);
        if (whole.rc == 1) {
                CHECK(whole.consumed == chunked.consumed);
                CHECK(whole.head.n_headers == chunked.head.n_headers);
                CHECK(strcmp(whole.head.reason, chunked.head.reason) == 0);
                check_head(&whole.head);
        }
        http_response_head_release(&whole.head);
        http_response_head_release(&chunked.head);

        check_url(stream, len);
        check_status(stream, len);
        return 0;
}
