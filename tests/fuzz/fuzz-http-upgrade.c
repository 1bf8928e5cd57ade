/* libFuzzer target for stream/http.c: the request-head parser every
 * streaming connection starts with, the upgrade checks, protocol
 * negotiation and the response builders; and stream/base64.c. Only
 * LLVMFuzzerTestOneInput is defined, so the file also links into replay.c.
 *
 * Input layout:
 *   byte 0      unused (kept for the same layout as the frame targets)
 *   byte 1      n, the number of chunk sizes that follow (n % 32)
 *   n bytes     chunk sizes, used in turn (0: an empty feed)
 *   the rest    the bytes of the connection
 *
 * Oracles beyond "no crash": fed whole and fed in chunks, the parser gives
 * the same outcome, consumes the same bytes and never buffers more than
 * HTTP_MAX_HEAD; a parsed request is well-formed (tokens, no control
 * characters, bounded counts); the one-shot parser agrees on the head; a
 * response never carries a client-controlled line break; base64 decoding
 * is canonical (decode then encode gives the input back). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "stream/base64.h"
#include "stream/http.h"
#include "util/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
        int rc;
        ocid_error_kind kind;
        size_t consumed;
        http_request req;
} outcome;

static void run(const uint8_t *stream, size_t len, const uint8_t *sizes, size_t n_sizes, outcome *o)
{
        http_parser p;
        http_parser_init(&p);
        ocid_error err = OCID_ERROR_INIT;
        memset(o, 0, sizeof(*o));
        fuzz_chunks chunks = { .sizes = sizes, .n_sizes = n_sizes };
        size_t off = 0;
        while (off < len) {
                size_t n = fuzz_next_chunk(&chunks, len - off);
                size_t used = 0;
                o->rc = http_parser_feed(&p, stream + off, n, &used, &o->req, &err);
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
        if (o->rc == 1) {
                /* The one-shot parser agrees on the head. */
                http_request again;
                ocid_error err2 = OCID_ERROR_INIT;
                CHECK(http_request_parse((const char *)stream, o->consumed, &again, &err2) == 0);
                CHECK(strcmp(again.target, o->req.target) == 0);
                CHECK(again.n_headers == o->req.n_headers);
                http_request_release(&again);
        }
        ocid_error_clear(&err);
        http_parser_release(&p);
}

static bool is_tchar(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void check_request(const http_request *req)
{
        CHECK(req->version == 10 || req->version == 11);
        CHECK(req->method[0]);
        for (const char *c = req->method; *c; c++)
                CHECK(is_tchar((unsigned char)*c));
        CHECK(req->path[0] == '/');
        CHECK(req->n_headers <= HTTP_MAX_HEADERS);
        CHECK(req->n_params <= HTTP_MAX_PARAMS);
        for (size_t i = 0; i < req->n_headers; i++) {
                CHECK(req->headers[i].name[0]);
                for (const char *c = req->headers[i].name; *c; c++)
                        CHECK(is_tchar((unsigned char)*c));
                for (const unsigned char *c = (const unsigned char *)req->headers[i].value; *c; c++)
                        CHECK(*c == '\t' || (*c >= 0x20 && *c != 0x7f));
                size_t vl = strlen(req->headers[i].value);
                if (vl)
                        CHECK(req->headers[i].value[0] != ' ' && req->headers[i].value[vl - 1] != ' ');
                CHECK(http_request_header(req, req->headers[i].name) != NULL);
        }
        CHECK(http_request_header_count(req, "Host") <= 1);
        CHECK(http_request_header(req, "Transfer-Encoding") == NULL);

        ocid_error err = OCID_ERROR_INIT;
        http_upgrade up;
        const char *key;
        if (http_request_upgrade(req, &up, &key, &err) == 0) {
                CHECK(err.kind == OCID_OK);
                strbuf out = STRBUF_INIT;
                if (up == HTTP_UPGRADE_WEBSOCKET) {
                        CHECK(key && strlen(key) == 24);
                        http_response_websocket_upgrade(&out, key, "v4.channel.k8s.io");
                } else if (up == HTTP_UPGRADE_SPDY) {
                        http_response_spdy_upgrade(&out, NULL);
                }
                strbuf_release(&out);
        } else {
                CHECK(up == HTTP_UPGRADE_NONE);
                CHECK(err.kind == OCID_ERR_INVALID);
        }
        ocid_error_clear(&err);

        const char *const *lists[] = { http_spdy_remotecommand_protocols, http_spdy_portforward_protocols,
                                       http_websocket_remotecommand_protocols };
        for (size_t l = 0; l < 3; l++) {
                const char *proto;
                int r = http_negotiate(req, HTTP_STREAM_PROTOCOL_HEADER, lists[l], &proto, &err);
                CHECK(r >= -1 && r <= 1);
                CHECK((r == 1) == (proto != NULL));
                if (r < 0) {
                        strbuf out = STRBUF_INIT;
                        http_response_negotiation_failed(&out, lists[l], err.message);
                        strbuf_release(&out);
                }
                ocid_error_clear(&err);
        }
}

/* Whatever the message, an error response is a fixed set of lines, the
 * declared length is the body's. */
static void check_error_response(const uint8_t *data, size_t size)
{
        char *msg = strndup((const char *)data, size);
        CHECK(msg);
        const char *extra[] = { "X-Echo", msg, NULL };
        strbuf out = STRBUF_INIT;
        http_response_error(&out, 400, msg, extra);
        const char *end = strstr(out.buf, "\r\n\r\n");
        CHECK(end);
        size_t lines = 0;
        for (const char *c = out.buf; c < end; c++) {
                CHECK(*c != '\n' || c[-1] == '\r');
                CHECK(*c != '\r' || c[1] == '\n');
                lines += *c == '\n';
        }
        CHECK(lines == 5); /* status, 4 fixed fields and X-Echo; the 6th ends at end */
        const char *cl = strstr(out.buf, "\r\nContent-Length: ");
        CHECK(cl && cl < end);
        size_t body = strtoul(cl + 18, NULL, 10);
        CHECK(body == out.len - (size_t)(end + 4 - out.buf));
        strbuf_release(&out);
        free(msg);
}

static void check_base64(const uint8_t *data, size_t size)
{
        strbuf d = STRBUF_INIT, e = STRBUF_INIT;
        if (base64_decode(&d, (const char *)data, size) == 0) {
                base64_encode(&e, d.buf, d.len);
                CHECK(e.len == size && memcmp(e.buf, data, size) == 0);
        } else {
                CHECK(d.len == 0);
        }
        strbuf_reset(&e);
        strbuf_reset(&d);
        base64_encode(&e, data, size);
        CHECK(base64_decode(&d, e.buf, e.len) == 0);
        CHECK(d.len == size && memcmp(d.buf, data, size) == 0);
        strbuf_release(&d);
        strbuf_release(&e);

        strbuf p = STRBUF_INIT;
        if (http_percent_decode(&p, (const char *)data, size, true) == 0)
                CHECK(p.len <= size && strlen(p.buf) == p.len);
        strbuf_release(&p);
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
                CHECK(strcmp(whole.req.target, chunked.req.target) == 0);
                CHECK(whole.req.n_headers == chunked.req.n_headers);
                CHECK(whole.req.n_params == chunked.req.n_params);
                check_request(&whole.req);
        }
        http_request_release(&whole.req);
        http_request_release(&chunked.req);

        check_error_response(stream, len);
        check_base64(stream, len);
        return 0;
}
