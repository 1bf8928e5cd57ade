#include "stream/http.h"

#include "stream/base64.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#include <errno.h>
#include <sha1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const http_spdy_remotecommand_protocols[] = {
        "v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io",
        "v2.channel.k8s.io", "channel.k8s.io",    NULL,
};
const char *const http_spdy_portforward_protocols[] = { "portforward.k8s.io", NULL };
const char *const http_websocket_remotecommand_protocols[] = {
        "v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io",
        "channel.k8s.io",    "base64.channel.k8s.io", NULL,
};

/* ---- character classes (RFC 9110 section 5.6.2) ------------------------ */

bool http_is_tchar(unsigned char c)
{
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
                return true;
        return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool http_is_field_char(unsigned char c)
{
        return c == '\t' || (c >= 0x20 && c != 0x7f);
}

bool http_is_ows(char c)
{
        return c == ' ' || c == '\t';
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static void add_quoted(strbuf *sb, const char *s, size_t len)
{
        size_t n = len > 64 ? 64 : len;
        strbuf_addch(sb, '\'');
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x20 || c >= 0x7f || c == '\'' || c == '\\')
                        strbuf_addf(sb, "\\x%02x", c);
                else
                        strbuf_addch(sb, (char)c);
        }
        if (n < len)
                strbuf_adds(sb, "...");
        strbuf_addch(sb, '\'');
}

char *http_quoted(const char *s, size_t len)
{
        strbuf sb = STRBUF_INIT;
        add_quoted(&sb, s, len);
        return strbuf_detach(&sb, NULL);
}

/* ---- request ------------------------------------------------------------- */

static void fields_free(http_field *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(v[i].name);
                free(v[i].value);
        }
        free(v);
}

void http_request_release(http_request *req)
{
        if (!req)
                return;
        free(req->method);
        free(req->target);
        free(req->path);
        free(req->query);
        fields_free(req->headers, req->n_headers);
        fields_free(req->params, req->n_params);
        memset(req, 0, sizeof(*req));
}

int http_percent_decode(strbuf *out, const char *s, size_t len, bool plus_space)
{
        size_t start = out->len;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (c == '%') {
                        if (len - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
                                goto fail;
                        c = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
                        i += 2;
                } else if (c == '+' && plus_space) {
                        c = ' ';
                }
                if (c == '\0')
                        goto fail;
                strbuf_addch(out, c);
        }
        return 0;
fail:
        /* An untouched strbuf points at a shared read-only "". */
        out->len = start;
        if (out->alloc)
                out->buf[out->len] = '\0';
        return -EINVAL;
}

void http_fields_push(http_field **v, size_t *n, char *name, char *value)
{
        /* Grow at powers of two; the counts are bounded by the callers. */
        if ((*n & (*n - 1)) == 0) {
                size_t alloc = *n ? *n * 2 : 4;
                http_field *nv = reallocarray(*v, alloc, sizeof(**v));
                if (!nv)
                        abort();
                *v = nv;
        }
        (*v)[*n].name = name;
        (*v)[*n].value = value;
        (*n)++;
}

static int parse_query(http_request *req, ocid_error *err)
{
        const char *q = req->query;
        for (;;) {
                const char *amp = strchr(q, '&');
                size_t n = amp ? (size_t)(amp - q) : strlen(q);
                if (n > 0) {
                        const char *eq = memchr(q, '=', n);
                        size_t klen = eq ? (size_t)(eq - q) : n;
                        strbuf key = STRBUF_INIT, value = STRBUF_INIT;
                        if (http_percent_decode(&key, q, klen, true) < 0 ||
                            (eq && http_percent_decode(&value, eq + 1, n - klen - 1, true) < 0)) {
                                strbuf_release(&key);
                                strbuf_release(&value);
                                _cleanup_free_ char *s = http_quoted(q, n);
                                return ocid_error_set(err, OCID_ERR_INVALID,
                                                      "query parameter %s: malformed percent-escape", s);
                        }
                        if (req->n_params == HTTP_MAX_PARAMS) {
                                strbuf_release(&key);
                                strbuf_release(&value);
                                return ocid_error_set(err, OCID_ERR_RESOURCE,
                                                      "query has more than %u parameters", HTTP_MAX_PARAMS);
                        }
                        http_fields_push(&req->params, &req->n_params, strbuf_detach(&key, NULL),
                                    strbuf_detach(&value, NULL));
                }
                if (!amp)
                        return 0;
                q = amp + 1;
        }
}

static bool has_prefix_ci(const char *s, size_t len, const char *prefix)
{
        size_t n = strlen(prefix);
        return len >= n && strncasecmp(s, prefix, n) == 0;
}

/* origin-form, or absolute-form with an http(s) scheme (RFC 9112 section
 * 3.2.2: a server must accept it); path and query are split off. */
static int parse_target(http_request *req, ocid_error *err)
{
        const char *t = req->target;
        size_t len = strlen(t);
        if (memchr(t, '#', len)) {
                _cleanup_free_ char *s = http_quoted(t, len);
                return ocid_error_set(err, OCID_ERR_INVALID, "request-target %s has a fragment", s);
        }
        const char *path = t;
        if (t[0] != '/') {
                size_t skip;
                if (has_prefix_ci(t, len, "http://"))
                        skip = 7;
                else if (has_prefix_ci(t, len, "https://"))
                        skip = 8;
                else {
                        _cleanup_free_ char *s = http_quoted(t, len);
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "request-target %s is neither a path nor an http URL", s);
                }
                const char *auth = t + skip;
                size_t alen = strcspn(auth, "/?");
                if (alen == 0) {
                        _cleanup_free_ char *s = http_quoted(t, len);
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "request-target %s has no authority", s);
                }
                path = auth + alen;
        }
        const char *qm = strchr(path, '?');
        size_t plen = qm ? (size_t)(qm - path) : strlen(path);
        /* An absolute-form target may have an empty path: it means "/". */
        req->path = plen ? xstrndup(path, plen) : xstrdup("/");
        if (qm) {
                req->query = xstrdup(qm + 1);
                return parse_query(req, err);
        }
        return 0;
}

static int parse_request_line(const char *line, size_t len, http_request *req, ocid_error *err)
{
        const char *sp1 = memchr(line, ' ', len);
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line)) : NULL;
        if (!sp1 || !sp2) {
                _cleanup_free_ char *s = http_quoted(line, len);
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "request line %s is not 'METHOD TARGET VERSION'", s);
        }
        size_t mlen = (size_t)(sp1 - line);
        size_t tlen = (size_t)(sp2 - sp1 - 1);
        const char *ver = sp2 + 1;
        size_t vlen = len - (size_t)(ver - line);
        bool ok = mlen > 0 && tlen > 0;
        for (size_t i = 0; ok && i < mlen; i++)
                ok = http_is_tchar((unsigned char)line[i]);
        for (size_t i = 0; ok && i < tlen; i++)
                ok = (unsigned char)sp1[1 + i] > 0x20 && (unsigned char)sp1[1 + i] < 0x7f;
        if (!ok) {
                _cleanup_free_ char *s = http_quoted(line, len);
                return ocid_error_set(err, OCID_ERR_INVALID, "malformed request line %s", s);
        }
        if (vlen != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' || ver[5] > '9' ||
            ver[6] != '.' || ver[7] < '0' || ver[7] > '9') {
                _cleanup_free_ char *s = http_quoted(ver, vlen);
                return ocid_error_set(err, OCID_ERR_INVALID, "malformed HTTP version %s", s);
        }
        if (ver[5] != '1' || (ver[7] != '0' && ver[7] != '1')) {
                _cleanup_free_ char *s = http_quoted(ver, vlen);
                return ocid_error_set(err, OCID_ERR_UNIMPLEMENTED, "unsupported HTTP version %s", s);
        }
        req->version = ver[7] == '1' ? 11 : 10;
        req->method = xstrndup(line, mlen);
        req->target = xstrndup(sp1 + 1, tlen);
        return parse_target(req, err);
}

static int check_value(const char *v, size_t len, const char *name, ocid_error *err)
{
        for (size_t i = 0; i < len; i++)
                if (!http_is_field_char((unsigned char)v[i])) {
                        _cleanup_free_ char *s = http_quoted(name, strlen(name));
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "header %s: control character 0x%02x in value", s,
                                              (unsigned char)v[i]);
                }
        return 0;
}

void http_trim_ows(const char **s, size_t *len)
{
        while (*len && http_is_ows(**s)) {
                (*s)++;
                (*len)--;
        }
        while (*len && http_is_ows((*s)[*len - 1]))
                (*len)--;
}

static int parse_field_line(const char *line, size_t len, http_request *req, ocid_error *err)
{
        if (http_is_ows(line[0])) {
                /* obs-fold (RFC 9112 section 5.2): a server may replace it
                 * with SP and go on, which is what we do. */
                if (req->n_headers == 0)
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "whitespace before the first header field");
                http_field *last = &req->headers[req->n_headers - 1];
                http_trim_ows(&line, &len);
                if (check_value(line, len, last->name, err) < 0)
                        return -1;
                if (len == 0)
                        return 0;
                strbuf sb = STRBUF_INIT;
                strbuf_adds(&sb, last->value);
                if (sb.len)
                        strbuf_addch(&sb, ' ');
                strbuf_add(&sb, line, len);
                free(last->value);
                last->value = strbuf_detach(&sb, NULL);
                return 0;
        }
        const char *colon = memchr(line, ':', len);
        if (!colon) {
                _cleanup_free_ char *s = http_quoted(line, len);
                return ocid_error_set(err, OCID_ERR_INVALID, "header line %s has no colon", s);
        }
        size_t nlen = (size_t)(colon - line);
        if (nlen == 0)
                return ocid_error_set(err, OCID_ERR_INVALID, "header line with an empty name");
        if (http_is_ows(line[nlen - 1])) {
                /* RFC 9112 section 5.1: must be rejected (smuggling). */
                _cleanup_free_ char *s = http_quoted(line, nlen);
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "header %s: whitespace between name and colon", s);
        }
        for (size_t i = 0; i < nlen; i++)
                if (!http_is_tchar((unsigned char)line[i])) {
                        _cleanup_free_ char *s = http_quoted(line, nlen);
                        return ocid_error_set(err, OCID_ERR_INVALID, "malformed header name %s", s);
                }
        if (req->n_headers == HTTP_MAX_HEADERS)
                return ocid_error_set(err, OCID_ERR_RESOURCE, "more than %u header fields",
                                      HTTP_MAX_HEADERS);
        _cleanup_free_ char *name = xstrndup(line, nlen);
        const char *v = colon + 1;
        size_t vlen = len - nlen - 1;
        http_trim_ows(&v, &vlen);
        if (check_value(v, vlen, name, err) < 0)
                return -1;
        http_fields_push(&req->headers, &req->n_headers, TAKE_PTR(name), xstrndup(v, vlen));
        return 0;
}

/* What the streaming server needs of the fields beyond their syntax. */
static int check_semantics(const http_request *req, ocid_error *err)
{
        size_t hosts = http_request_header_count(req, "Host");
        if (req->version == 11 && hosts == 0)
                return ocid_error_set(err, OCID_ERR_INVALID, "HTTP/1.1 request without Host");
        if (hosts > 1)
                return ocid_error_set(err, OCID_ERR_INVALID, "more than one Host header field");
        const char *te = http_request_header(req, "Transfer-Encoding");
        if (te) {
                _cleanup_free_ char *s = http_quoted(te, strlen(te));
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "request bodies are not accepted (Transfer-Encoding %s)", s);
        }
        for (size_t i = 0; i < req->n_headers; i++) {
                if (strcasecmp(req->headers[i].name, "Content-Length") != 0)
                        continue;
                const char *v = req->headers[i].value;
                size_t n = strspn(v, "0");
                if (v[0] == '\0' || v[n] != '\0') {
                        _cleanup_free_ char *s = http_quoted(v, strlen(v));
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "request bodies are not accepted (Content-Length %s)", s);
                }
        }
        return 0;
}

int http_request_parse(const char *head, size_t len, http_request *ret, ocid_error *err)
{
        memset(ret, 0, sizeof(*ret));
        if (len > HTTP_MAX_HEAD)
                return ocid_error_set(err, OCID_ERR_RESOURCE, "request head exceeds %u bytes",
                                      HTTP_MAX_HEAD);
        /* Line ends first, over the whole head: the incremental parser
         * refuses a bare LF as soon as it sees one, and both must give the
         * same answer whichever comes first. */
        for (size_t i = 0; i < len; i++) {
                if (head[i] == '\0')
                        return ocid_error_set(err, OCID_ERR_INVALID, "NUL byte in request head");
                if (head[i] == '\r' && (i + 1 == len || head[i + 1] != '\n'))
                        return ocid_error_set(err, OCID_ERR_INVALID, "bare CR in request head");
                if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r'))
                        return ocid_error_set(err, OCID_ERR_INVALID, "bare LF in request head");
        }
        _cleanup_(http_request_release) http_request req = { 0 };
        size_t pos = 0;
        while (len - pos >= 2 && head[pos] == '\r' && head[pos + 1] == '\n')
                pos += 2;
        bool first = true, ended = false;
        while (pos < len) {
                size_t i = pos;
                while (i < len && head[i] != '\r' && head[i] != '\n' && head[i] != '\0')
                        i++;
                if (i == len)
                        break;
                if (head[i] == '\0')
                        return ocid_error_set(err, OCID_ERR_INVALID, "NUL byte in request head");
                if (head[i] == '\n')
                        return ocid_error_set(err, OCID_ERR_INVALID, "bare LF in request head");
                if (i + 1 == len || head[i + 1] != '\n')
                        return ocid_error_set(err, OCID_ERR_INVALID, "bare CR in request head");
                const char *line = head + pos;
                size_t llen = i - pos;
                pos = i + 2;
                if (first) {
                        first = false;
                        if (parse_request_line(line, llen, &req, err) < 0)
                                return -1;
                        continue;
                }
                if (llen == 0) {
                        ended = true;
                        break;
                }
                if (parse_field_line(line, llen, &req, err) < 0)
                        return -1;
        }
        if (first)
                return ocid_error_set(err, OCID_ERR_INVALID, "empty request");
        if (!ended)
                return ocid_error_set(err, OCID_ERR_INVALID, "request head not terminated by an empty line");
        if (pos != len)
                return ocid_error_set(err, OCID_ERR_INVALID, "%zu bytes after the request head", len - pos);
        if (check_semantics(&req, err) < 0)
                return -1;
        *ret = req;
        memset(&req, 0, sizeof(req));
        return 0;
}

/* ---- incremental parser ------------------------------------------------ */

void http_parser_init(http_parser *p)
{
        memset(p, 0, sizeof(*p));
        strbuf_init(&p->head);
}

void http_parser_release(http_parser *p)
{
        if (!p)
                return;
        strbuf_release(&p->head);
        http_parser_init(p);
}

static const char *find(const char *hay, size_t len, const char *needle, size_t nlen)
{
        return len >= nlen ? memmem(hay, len, needle, nlen) : NULL;
}

int http_parser_feed(http_parser *p, const uint8_t *data, size_t len, size_t *ret_consumed,
                     http_request *ret, ocid_error *err)
{
        *ret_consumed = 0;
        if (p->done)
                return ocid_error_set(err, OCID_ERR_INTERNAL, "http parser fed after the request head");
        size_t old = p->head.len;
        size_t room = HTTP_MAX_HEAD - old;
        size_t take = len < room ? len : room;
        strbuf_add(&p->head, data, take);
        const char *buf = p->head.buf;
        size_t hlen = p->head.len;

        if (!p->started) {
                while (hlen - p->start >= 2 && buf[p->start] == '\r' && buf[p->start + 1] == '\n')
                        p->start += 2;
                /* A lone CR may be the first half of another empty line. */
                p->started = hlen > p->start && !(hlen - p->start == 1 && buf[p->start] == '\r');
        }
        if (p->started) {
                size_t from = old >= 3 ? old - 3 : 0;
                if (from < p->start)
                        from = p->start;
                const char *end = find(buf + from, hlen - from, "\r\n\r\n", 4);
                if (end) {
                        size_t head_len = (size_t)(end - buf) + 4;
                        p->done = true;
                        *ret_consumed = head_len - old;
                        if (http_request_parse(buf, head_len, ret, err) < 0)
                                return -1;
                        return 1;
                }
                /* Refuse LF-only line ends now rather than at the size bound. */
                from = old >= 1 ? old - 1 : 0;
                if (from < p->start)
                        from = p->start;
                if (find(buf + from, hlen - from, "\n\n", 2)) {
                        p->done = true;
                        return ocid_error_set(err, OCID_ERR_INVALID, "bare LF in request head");
                }
        }
        if (hlen >= HTTP_MAX_HEAD) {
                p->done = true;
                return ocid_error_set(err, OCID_ERR_RESOURCE, "request head exceeds %u bytes",
                                      HTTP_MAX_HEAD);
        }
        *ret_consumed = len;
        return 0;
}

/* ---- lookups ------------------------------------------------------------- */

const char *http_request_header(const http_request *req, const char *name)
{
        for (size_t i = 0; i < req->n_headers; i++)
                if (strcasecmp(req->headers[i].name, name) == 0)
                        return req->headers[i].value;
        return NULL;
}

size_t http_request_header_count(const http_request *req, const char *name)
{
        size_t n = 0;
        for (size_t i = 0; i < req->n_headers; i++)
                if (strcasecmp(req->headers[i].name, name) == 0)
                        n++;
        return n;
}

/* Next non-empty element of a comma-separated list (RFC 9110 section
 * 5.6.1: empty elements are ignored), OWS trimmed. */
static bool next_element(const char **cursor, const char **ret, size_t *ret_len)
{
        const char *p = *cursor;
        while (*p) {
                size_t n = strcspn(p, ",");
                const char *e = p;
                size_t elen = n;
                p += n;
                if (*p == ',')
                        p++;
                http_trim_ows(&e, &elen);
                if (elen) {
                        *cursor = p;
                        *ret = e;
                        *ret_len = elen;
                        return true;
                }
        }
        *cursor = p;
        return false;
}

bool http_list_has_token(const char *list, const char *token)
{
        size_t tlen = strlen(token);
        const char *e;
        size_t elen;
        while (next_element(&list, &e, &elen))
                if (elen == tlen && strncasecmp(e, token, tlen) == 0)
                        return true;
        return false;
}

bool http_request_header_has_token(const http_request *req, const char *name, const char *token)
{
        for (size_t i = 0; i < req->n_headers; i++)
                if (strcasecmp(req->headers[i].name, name) == 0 &&
                    http_list_has_token(req->headers[i].value, token))
                        return true;
        return false;
}

const char *http_request_param(const http_request *req, const char *key)
{
        for (size_t i = 0; i < req->n_params; i++)
                if (STREQ(req->params[i].name, key))
                        return req->params[i].value;
        return NULL;
}

/* ---- upgrades ------------------------------------------------------------ */

static int check_websocket(const http_request *req, const char **ret_key, ocid_error *err)
{
        if (!STREQ(req->method, "GET")) {
                _cleanup_free_ char *s = http_quoted(req->method, strlen(req->method));
                return ocid_error_set(err, OCID_ERR_INVALID, "websocket upgrade with method %s (want GET)", s);
        }
        size_t nver = http_request_header_count(req, "Sec-WebSocket-Version");
        const char *ver = http_request_header(req, "Sec-WebSocket-Version");
        if (nver != 1 || !STREQ(ver, "13")) {
                if (nver == 0)
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "websocket upgrade without Sec-WebSocket-Version");
                _cleanup_free_ char *s = http_quoted(ver, strlen(ver));
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "unsupported Sec-WebSocket-Version %s%s (want 13)", s,
                                      nver > 1 ? " and others" : "");
        }
        size_t nkey = http_request_header_count(req, "Sec-WebSocket-Key");
        if (nkey != 1)
                return ocid_error_set(err, OCID_ERR_INVALID, nkey ? "more than one Sec-WebSocket-Key"
                                                                  : "websocket upgrade without Sec-WebSocket-Key");
        const char *key = http_request_header(req, "Sec-WebSocket-Key");
        strbuf raw = STRBUF_INIT;
        int r = base64_decode(&raw, key, strlen(key));
        size_t n = raw.len;
        strbuf_release(&raw);
        if (r < 0 || n != 16) {
                _cleanup_free_ char *s = http_quoted(key, strlen(key));
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "Sec-WebSocket-Key %s is not 16 base64-encoded bytes", s);
        }
        if (ret_key)
                *ret_key = key;
        return 0;
}

int http_request_upgrade(const http_request *req, http_upgrade *ret, const char **ret_ws_key,
                         ocid_error *err)
{
        *ret = HTTP_UPGRADE_NONE;
        if (ret_ws_key)
                *ret_ws_key = NULL;
        if (http_request_header_count(req, "Upgrade") == 0)
                return 0;
        /* The first protocol listed that we speak (the client's order). */
        http_upgrade kind = HTTP_UPGRADE_NONE;
        for (size_t i = 0; i < req->n_headers && kind == HTTP_UPGRADE_NONE; i++) {
                if (strcasecmp(req->headers[i].name, "Upgrade") != 0)
                        continue;
                const char *cur = req->headers[i].value, *e;
                size_t elen;
                while (kind == HTTP_UPGRADE_NONE && next_element(&cur, &e, &elen)) {
                        if (elen == 9 && strncasecmp(e, "websocket", 9) == 0)
                                kind = HTTP_UPGRADE_WEBSOCKET;
                        else if (elen == 8 && strncasecmp(e, "SPDY/3.1", 8) == 0)
                                kind = HTTP_UPGRADE_SPDY;
                }
        }
        if (kind == HTTP_UPGRADE_NONE) {
                const char *up = http_request_header(req, "Upgrade");
                _cleanup_free_ char *s = http_quoted(up, strlen(up));
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "unsupported upgrade %s (want SPDY/3.1 or websocket)", s);
        }
        if (!http_request_header_has_token(req, "Connection", "upgrade"))
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "Upgrade without 'Connection: Upgrade'");
        if (req->version != 11)
                return ocid_error_set(err, OCID_ERR_INVALID, "upgrade needs HTTP/1.1");
        if (kind == HTTP_UPGRADE_WEBSOCKET) {
                if (check_websocket(req, ret_ws_key, err) < 0)
                        return -1;
        } else if (!STREQ(req->method, "GET") && !STREQ(req->method, "POST")) {
                _cleanup_free_ char *s = http_quoted(req->method, strlen(req->method));
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "SPDY upgrade with method %s (want GET or POST)", s);
        }
        *ret = kind;
        return 0;
}

/* Whether the field lines named `header` hold `s` (exactly), or, with s
 * NULL, any element at all. */
static bool offers(const http_request *req, const char *header, const char *s)
{
        size_t slen = s ? strlen(s) : 0;
        for (size_t i = 0; i < req->n_headers; i++) {
                if (strcasecmp(req->headers[i].name, header) != 0)
                        continue;
                const char *cur = req->headers[i].value, *e;
                size_t elen;
                while (next_element(&cur, &e, &elen))
                        if (!s || (elen == slen && memcmp(e, s, slen) == 0))
                                return true;
        }
        return false;
}

int http_negotiate(const http_request *req, const char *header, const char *const *supported,
                   const char **ret, ocid_error *err)
{
        *ret = NULL;
        for (const char *const *s = supported; *s; s++)
                if (offers(req, header, *s)) {
                        *ret = *s;
                        return 1;
                }
        bool offered = offers(req, header, NULL);
        if (!offered)
                return 0;
        strbuf msg = STRBUF_INIT;
        strbuf_adds(&msg, "none of the offered protocols ");
        bool first = true;
        for (size_t i = 0; i < req->n_headers; i++) {
                if (strcasecmp(req->headers[i].name, header) != 0)
                        continue;
                const char *cur = req->headers[i].value, *e;
                size_t elen;
                while (next_element(&cur, &e, &elen)) {
                        if (!first)
                                strbuf_adds(&msg, ", ");
                        first = false;
                        if (msg.len > 400) {
                                strbuf_adds(&msg, "...");
                                break;
                        }
                        add_quoted(&msg, e, elen);
                }
        }
        strbuf_adds(&msg, " is supported (supported:");
        for (const char *const *s = supported; *s; s++)
                strbuf_addf(&msg, "%s '%s'", s == supported ? "" : ",", *s);
        strbuf_adds(&msg, ")");
        ocid_error_set(err, OCID_ERR_INVALID, "%s", msg.buf);
        strbuf_release(&msg);
        return -1;
}

/* ---- responses ------------------------------------------------------------ */

const char *http_status_reason(int status)
{
        switch (status) {
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 426: return "Upgrade Required";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 503: return "Service Unavailable";
        case 505: return "HTTP Version Not Supported";
        default: return "Unknown";
        }
}

int http_status_from_error(ocid_error_kind kind)
{
        switch (kind) {
        case OCID_ERR_INVALID: return 400;
        case OCID_ERR_PERMISSION: return 403;
        case OCID_ERR_NOT_FOUND: return 404;
        case OCID_ERR_RESOURCE: return 431;
        case OCID_ERR_UNIMPLEMENTED: return 505;
        case OCID_ERR_UNAVAILABLE: return 503;
        default: return 500;
        }
}

#define WEBSOCKET_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void http_websocket_accept(const char *key, char out[29])
{
        SHA1_CTX ctx;
        uint8_t md[SHA1_DIGEST_LENGTH];
        SHA1Init(&ctx);
        SHA1Update(&ctx, (const uint8_t *)key, strlen(key));
        SHA1Update(&ctx, (const uint8_t *)WEBSOCKET_GUID, strlen(WEBSOCKET_GUID));
        SHA1Final(md, &ctx);
        strbuf b = STRBUF_INIT;
        base64_encode(&b, md, sizeof(md));
        memcpy(out, b.buf, 29); /* 28 characters and the NUL */
        strbuf_release(&b);
}

/* Header values and bodies we write carry no control characters, so a
 * client-supplied string quoted in a message cannot split the response. */
static void add_sanitized(strbuf *out, const char *s, size_t max)
{
        size_t n = strnlen(s, max);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                strbuf_addch(out, c < 0x20 || c == 0x7f ? ' ' : (char)c);
        }
}

void http_response_spdy_upgrade(strbuf *out, const char *protocol)
{
        strbuf_adds(out, "HTTP/1.1 101 Switching Protocols\r\n"
                         "Connection: Upgrade\r\n"
                         "Upgrade: SPDY/3.1\r\n");
        if (protocol) {
                strbuf_adds(out, HTTP_STREAM_PROTOCOL_HEADER ": ");
                add_sanitized(out, protocol, 256);
                strbuf_adds(out, "\r\n");
        }
        strbuf_adds(out, "\r\n");
}

void http_response_websocket_upgrade(strbuf *out, const char *key, const char *subprotocol)
{
        char accept[29];
        http_websocket_accept(key, accept);
        strbuf_addf(out, "HTTP/1.1 101 Switching Protocols\r\n"
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: %s\r\n", accept);
        if (subprotocol) {
                strbuf_adds(out, HTTP_WEBSOCKET_PROTOCOL_HEADER ": ");
                add_sanitized(out, subprotocol, 256);
                strbuf_adds(out, "\r\n");
        }
        strbuf_adds(out, "\r\n");
}

void http_response_error(strbuf *out, int status, const char *message, const char *const *extra)
{
        strbuf body = STRBUF_INIT;
        add_sanitized(&body, message ? message : http_status_reason(status), 512);
        strbuf_addch(&body, '\n');
        strbuf_addf(out, "HTTP/1.1 %03d %s\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\n"
                         "X-Content-Type-Options: nosniff\r\n"
                         "Connection: close\r\n",
                    status, http_status_reason(status));
        for (size_t i = 0; extra && extra[i] && extra[i + 1]; i += 2) {
                add_sanitized(out, extra[i], 256);
                strbuf_adds(out, ": ");
                add_sanitized(out, extra[i + 1], 1024);
                strbuf_adds(out, "\r\n");
        }
        strbuf_addf(out, "Content-Length: %zu\r\n\r\n", body.len);
        strbuf_add(out, body.buf, body.len);
        strbuf_release(&body);
}

void http_response_negotiation_failed(strbuf *out, const char *const *supported, const char *message)
{
        strbuf list = STRBUF_INIT;
        for (const char *const *s = supported; *s; s++) {
                if (s != supported)
                        strbuf_adds(&list, ",");
                strbuf_adds(&list, *s);
        }
        const char *extra[] = { HTTP_ACCEPTED_PROTOCOLS_HEADER, list.buf, NULL };
        http_response_error(out, 403, message, extra);
        strbuf_release(&list);
}
