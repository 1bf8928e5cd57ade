/* HTTP/1.1 request heads for the streaming server's upgrade requests, and
 * the responses that answer them. Transport-independent: bytes in, a parsed
 * request out; a response is appended to a strbuf for the caller to write.
 *
 * Only what an upgrade needs: the request line, the header fields, the query
 * string. A request with a body (Content-Length > 0, Transfer-Encoding) is
 * refused: the bytes after the head belong to the upgraded protocol, so a
 * body could only be smuggled into it.
 *
 * Errors: OCID_ERR_INVALID for a malformed request (answer 400),
 * OCID_ERR_RESOURCE when a bound is exceeded (431), OCID_ERR_UNIMPLEMENTED
 * for an HTTP version other than 1.0/1.1 (505); http_status_from_error()
 * maps them. Messages name the offending element and quote it. */
#pragma once

#include "util/error.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on what a client controls. */
#define HTTP_MAX_HEAD (16u * 1024)   /* request line + fields + blank line */
#define HTTP_MAX_HEADERS 100         /* field lines */
#define HTTP_MAX_PARAMS 100          /* query parameters */

/* One header field line or one query parameter. Both strings owned by the
 * request, NUL-terminated (NUL is refused in either). */
typedef struct {
        char *name;
        char *value;
} http_field;

typedef struct {
        char *method;   /* case-sensitive token: "GET" */
        char *target;   /* request-target as received */
        char *path;     /* origin-form path as received (not decoded), from '/' up to '?' */
        char *query;    /* raw query after '?'; NULL when there is no '?' */
        int version;    /* 10 or 11 (HTTP/1.0, HTTP/1.1) */
        http_field *headers; /* in order received; obs-folds joined with one SP */
        size_t n_headers;
        http_field *params;  /* the query, '+' and %XX decoded, in order */
        size_t n_params;
} http_request;

/* Free everything the request owns and zero it. Accepts a zeroed request. */
void http_request_release(http_request *req);

/* Parse a complete head (request line through the empty line; len at most
 * HTTP_MAX_HEAD). Empty lines before the request line are skipped (RFC 9112
 * section 2.2). Line ends must be CRLF; a bare CR or LF is refused. On
 * success *ret is filled (the caller releases it); on failure it is left
 * zeroed. */
int http_request_parse(const char *head, size_t len, http_request *ret, ocid_error *err);

/* Incremental: accumulates bytes until the head is complete. */
typedef struct {
        strbuf head;
        size_t start;      /* where the request line starts (after empty lines) */
        bool started;      /* start is known */
        bool done;
} http_parser;

void http_parser_init(http_parser *p);
void http_parser_release(http_parser *p);

/* Feed the next bytes of the connection. Returns 0 when the head is not
 * complete yet (all of data was taken: *ret_consumed == len), 1 when it is:
 * *ret is filled and *ret_consumed tells how many bytes of data belonged to
 * the head (the rest are the upgraded protocol's). Negative on failure,
 * including a head larger than HTTP_MAX_HEAD (OCID_ERR_RESOURCE, decided
 * without buffering more than that). After 1 or a failure, the parser must
 * not be fed again. */
int http_parser_feed(http_parser *p, const uint8_t *data, size_t len, size_t *ret_consumed,
                     http_request *ret, ocid_error *err);

/* Character classes (RFC 9110 section 5.6.2): a token character; a field
 * value character (field-vchar, SP, HTAB, obs-text); optional whitespace. */
bool http_is_tchar(unsigned char c);
bool http_is_field_char(unsigned char c);
bool http_is_ows(char c);

/* Also used by the response parser of client.c. */

/* At most 64 bytes of what the peer sent, in quotes, unprintable bytes
 * escaped: an error message stays one readable line. Owned by the caller. */
char *http_quoted(const char *s, size_t len);
/* Drop optional whitespace at both ends of s[0..*len). */
void http_trim_ows(const char **s, size_t *len);
/* Append a field (taking name and value) to an array of *n fields. */
void http_fields_push(http_field **v, size_t *n, char *name, char *value);

/* ---- lookups ----------------------------------------------------------- */

/* The value of the first field line named `name` (case-insensitive), or
 * NULL. */
const char *http_request_header(const http_request *req, const char *name);
/* How many field lines are named `name`. */
size_t http_request_header_count(const http_request *req, const char *name);
/* Whether any field line named `name` holds `token` as an element of its
 * comma-separated list, compared case-insensitively (Connection: Upgrade,
 * Upgrade: websocket). */
bool http_request_header_has_token(const http_request *req, const char *name, const char *token);
/* Whether the comma-separated list holds token (case-insensitive). */
bool http_list_has_token(const char *list, const char *token);
/* The decoded value of the first query parameter `key` (case-sensitive),
 * or NULL. A key without '=' has the value "". */
const char *http_request_param(const http_request *req, const char *key);

/* Percent-decode s into out; with plus_space, '+' becomes ' ' (form
 * encoding, as in queries). -EINVAL on a malformed escape or an encoded
 * NUL; out is then left as it was. */
int http_percent_decode(strbuf *out, const char *s, size_t len, bool plus_space);

/* ---- upgrades and protocol negotiation ---------------------------------- */

typedef enum {
        HTTP_UPGRADE_NONE = 0,  /* no Upgrade header field: a plain request */
        HTTP_UPGRADE_SPDY,      /* Upgrade: SPDY/3.1 */
        HTTP_UPGRADE_WEBSOCKET, /* Upgrade: websocket (RFC 6455 section 4.2.1 checked) */
} http_upgrade;

/* Classify an upgrade request and check it is well-formed for its kind:
 * Connection must list "upgrade"; SPDY accepts GET and POST (kubectl posts),
 * WebSocket wants GET over HTTP/1.1, Sec-WebSocket-Version 13 and exactly one
 * Sec-WebSocket-Key of 16 base64-encoded bytes (returned in *ret_ws_key,
 * pointing into req; may be NULL). An Upgrade naming only protocols not
 * served here is OCID_ERR_INVALID. */
int http_request_upgrade(const http_request *req, http_upgrade *ret, const char **ret_ws_key,
                         ocid_error *err);

/* Header fields carrying the offered protocols. SPDY clients send one or
 * more X-Stream-Protocol-Version lines; WebSocket clients a comma list in
 * Sec-WebSocket-Protocol. */
#define HTTP_STREAM_PROTOCOL_HEADER "X-Stream-Protocol-Version"
#define HTTP_ACCEPTED_PROTOCOLS_HEADER "X-Accepted-Stream-Protocol-Versions"
#define HTTP_WEBSOCKET_PROTOCOL_HEADER "Sec-WebSocket-Protocol"

/* What the server speaks, best first, NULL-terminated. */
extern const char *const http_spdy_remotecommand_protocols[];    /* exec, attach over SPDY */
extern const char *const http_spdy_portforward_protocols[];      /* port-forward over SPDY */
extern const char *const http_websocket_remotecommand_protocols[]; /* exec, attach over WebSocket */

/* Pick, among the protocols the client offered in the `header` field lines
 * (comma lists, several lines allowed), the one the server prefers: the
 * first of `supported` offered. Names compare exactly (they are not HTTP
 * tokens). Returns 1 with *ret pointing into `supported`; 0 when the client
 * offered nothing (callers fall back to the unversioned protocol, as the
 * kubelet does); -1 with OCID_ERR_INVALID when nothing offered is
 * supported, the message listing both sides. */
int http_negotiate(const http_request *req, const char *header, const char *const *supported,
                   const char **ret, ocid_error *err);

/* ---- responses ----------------------------------------------------------- */

/* "Switching Protocols", "Bad Request", ...; "Unknown" for others. */
const char *http_status_reason(int status);
/* The status answering a failure of the kind: INVALID 400, PERMISSION 403,
 * NOT_FOUND 404, RESOURCE 431, UNIMPLEMENTED 505, UNAVAILABLE 503, others 500. */
int http_status_from_error(ocid_error_kind kind);

/* base64(SHA-1(key + the RFC 6455 GUID)): 28 characters and a NUL. */
void http_websocket_accept(const char *key, char out[29]);

/* 101 for SPDY/3.1; protocol (the negotiated X-Stream-Protocol-Version) may
 * be NULL when none was negotiated. */
void http_response_spdy_upgrade(strbuf *out, const char *protocol);
/* 101 for WebSocket with Sec-WebSocket-Accept computed from key;
 * subprotocol may be NULL. */
void http_response_websocket_upgrade(strbuf *out, const char *key, const char *subprotocol);

/* An error response with a text/plain body holding message (one line,
 * truncated to 512 bytes, control characters replaced) and
 * Connection: close. extra: NULL, or name/value pairs ending with NULL
 * (values with control characters are sanitized the same way). */
void http_response_error(strbuf *out, int status, const char *message, const char *const *extra);
/* The 403 a failed negotiation gets, listing what is supported in
 * X-Accepted-Stream-Protocol-Versions (as the kubelet answers). */
void http_response_negotiation_failed(strbuf *out, const char *const *supported, const char *message);
