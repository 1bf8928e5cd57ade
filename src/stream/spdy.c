#include "stream/spdy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* From the SPDY/3 specification, section 2.6.10.1: length-prefixed header
 * names and common values, then a run of status codes, reason phrases,
 * dates and content types. Written as strings so it can be read. */
const uint8_t spdy_dictionary[1423] =
        "\x00\x00\x00\x07" "options" "\x00\x00\x00\x04" "head"
        "\x00\x00\x00\x04" "post" "\x00\x00\x00\x03" "put"
        "\x00\x00\x00\x06" "delete" "\x00\x00\x00\x05" "trace"
        "\x00\x00\x00\x06" "accept" "\x00\x00\x00\x0e" "accept-charset"
        "\x00\x00\x00\x0f" "accept-encoding"
        "\x00\x00\x00\x0f" "accept-language" "\x00\x00\x00\x0d" "accept-ranges"
        "\x00\x00\x00\x03" "age" "\x00\x00\x00\x05" "allow"
        "\x00\x00\x00\x0d" "authorization" "\x00\x00\x00\x0d" "cache-control"
        "\x00\x00\x00\x0a" "connection" "\x00\x00\x00\x0c" "content-base"
        "\x00\x00\x00\x10" "content-encoding"
        "\x00\x00\x00\x10" "content-language"
        "\x00\x00\x00\x0e" "content-length"
        "\x00\x00\x00\x10" "content-location" "\x00\x00\x00\x0b" "content-md5"
        "\x00\x00\x00\x0d" "content-range" "\x00\x00\x00\x0c" "content-type"
        "\x00\x00\x00\x04" "date" "\x00\x00\x00\x04" "etag"
        "\x00\x00\x00\x06" "expect" "\x00\x00\x00\x07" "expires"
        "\x00\x00\x00\x04" "from" "\x00\x00\x00\x04" "host"
        "\x00\x00\x00\x08" "if-match" "\x00\x00\x00\x11" "if-modified-since"
        "\x00\x00\x00\x0d" "if-none-match" "\x00\x00\x00\x08" "if-range"
        "\x00\x00\x00\x13" "if-unmodified-since"
        "\x00\x00\x00\x0d" "last-modified" "\x00\x00\x00\x08" "location"
        "\x00\x00\x00\x0c" "max-forwards" "\x00\x00\x00\x06" "pragma"
        "\x00\x00\x00\x12" "proxy-authenticate"
        "\x00\x00\x00\x13" "proxy-authorization" "\x00\x00\x00\x05" "range"
        "\x00\x00\x00\x07" "referer" "\x00\x00\x00\x0b" "retry-after"
        "\x00\x00\x00\x06" "server" "\x00\x00\x00\x02" "te"
        "\x00\x00\x00\x07" "trailer" "\x00\x00\x00\x11" "transfer-encoding"
        "\x00\x00\x00\x07" "upgrade" "\x00\x00\x00\x0a" "user-agent"
        "\x00\x00\x00\x04" "vary" "\x00\x00\x00\x03" "via"
        "\x00\x00\x00\x07" "warning" "\x00\x00\x00\x10" "www-authenticate"
        "\x00\x00\x00\x06" "method" "\x00\x00\x00\x03" "get"
        "\x00\x00\x00\x06" "status" "\x00\x00\x00\x06" "200 OK"
        "\x00\x00\x00\x07" "version" "\x00\x00\x00\x08" "HTTP/1.1"
        "\x00\x00\x00\x03" "url" "\x00\x00\x00\x06" "public"
        "\x00\x00\x00\x0a" "set-cookie" "\x00\x00\x00\x0a" "keep-alive"
        "\x00\x00\x00\x06" "origin"
        "1001012012022052063003023033043053063074024054064074084094104114"
        "12413414415416417502504505203 Non-Authoritative Information204 N"
        "o Content301 Moved Permanently400 Bad Request401 Unauthorized403"
        " Forbidden404 Not Found500 Internal Server Error501 Not Implemen"
        "ted503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept O"
        "ct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunke"
        "d,text/html,image/png,image/jpg,image/gif,application/xml,applic"
        "ation/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
        "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
        ;

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
}

static void *xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        if (!p)
                abort();
        return p;
}

static const char *type_name(unsigned type)
{
        switch (type) {
        case SPDY_SYN_STREAM: return "SYN_STREAM";
        case SPDY_SYN_REPLY: return "SYN_REPLY";
        case SPDY_RST_STREAM: return "RST_STREAM";
        case SPDY_SETTINGS: return "SETTINGS";
        case SPDY_PING: return "PING";
        case SPDY_GOAWAY: return "GOAWAY";
        case SPDY_HEADERS: return "HEADERS";
        case SPDY_WINDOW_UPDATE: return "WINDOW_UPDATE";
        default: return "unknown";
        }
}

const char *spdy_frame_header(const spdy_frame *f, const char *name)
{
        for (size_t i = 0; i < f->n_headers; i++)
                if (strcmp(f->headers[i].name, name) == 0)
                        return f->headers[i].value;
        return NULL;
}

/* ---- reader ------------------------------------------------------------------ */

struct spdy_reader {
        spdy_role role;
        size_t max_data;
        z_stream z;
        uint8_t *inflated;        /* SPDY_MAX_HEADER_BLOCK + 1 bytes, on first use */

        uint8_t hdr[SPDY_FRAME_HEADER];
        size_t hdr_len;
        bool in_frame;
        bool control;
        bool skip;                /* an unknown control type: read past it */
        uint16_t type;
        uint8_t flags;
        uint32_t data_stream_id;
        uint32_t length;
        uint32_t pos;             /* payload bytes read */
        strbuf payload;           /* a payload split across feeds */

        /* The decoded header block: "name\0value\0" pairs, and the array
         * pointing into it. */
        strbuf strings;
        spdy_header headers[SPDY_MAX_HEADERS];
        spdy_setting settings[SPDY_MAX_SETTINGS];

        uint32_t last_stream_id;
        uint32_t goaway_status;
};

spdy_reader *spdy_reader_new(spdy_role role, size_t max_data)
{
        spdy_reader *r = calloc(1, sizeof(*r));
        if (!r)
                return NULL;
        r->role = role;
        r->max_data = max_data && max_data < SPDY_MAX_LENGTH ? max_data : SPDY_MAX_LENGTH;
        strbuf_init(&r->payload);
        strbuf_init(&r->strings);
        if (inflateInit(&r->z) != Z_OK) {
                free(r);
                return NULL;
        }
        return r;
}

void spdy_reader_free(spdy_reader *r)
{
        if (!r)
                return;
        inflateEnd(&r->z);
        free(r->inflated);
        strbuf_release(&r->payload);
        strbuf_release(&r->strings);
        free(r);
}

bool spdy_reader_idle(const spdy_reader *r)
{
        return r->hdr_len == 0 && !r->in_frame;
}

uint32_t spdy_reader_last_stream_id(const spdy_reader *r)
{
        return r->last_stream_id;
}

uint32_t spdy_reader_goaway_status(const spdy_reader *r)
{
        return r->goaway_status;
}

static int protocol_error(spdy_reader *r, ocid_error *err, ocid_error_kind kind, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int protocol_error(spdy_reader *r, ocid_error *err, ocid_error_kind kind, const char *fmt, ...)
{
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        r->goaway_status = kind == OCID_ERR_INTERNAL ? SPDY_GOAWAY_INTERNAL_ERROR
                                                     : SPDY_GOAWAY_PROTOCOL_ERROR;
        return ocid_error_set(err, kind, "%s", msg);
}

/* Inflate one header block: all of in, continuing the connection's zlib
 * stream. Output is bounded while inflating, so a block that expands past
 * SPDY_MAX_HEADER_BLOCK costs at most that much memory and work. */
static int inflate_block(spdy_reader *r, const uint8_t *in, size_t in_len, size_t *ret_len,
                         ocid_error *err)
{
        const size_t cap = SPDY_MAX_HEADER_BLOCK + 1;
        if (!r->inflated)
                r->inflated = xmalloc(cap);
        r->z.next_in = (Bytef *)in;
        r->z.avail_in = (uInt)in_len;
        r->z.next_out = r->inflated;
        r->z.avail_out = (uInt)cap;
        for (;;) {
                int rc = inflate(&r->z, Z_SYNC_FLUSH);
                if (rc == Z_NEED_DICT) {
                        /* Checks the dictionary id in the zlib header. */
                        if (inflateSetDictionary(&r->z, spdy_dictionary, sizeof(spdy_dictionary)) != Z_OK)
                                return protocol_error(r, err, OCID_ERR_INVALID,
                                                      "spdy header block compressed with another dictionary");
                        continue;
                }
                if (rc == Z_STREAM_END)
                        return protocol_error(r, err, OCID_ERR_INVALID,
                                              "spdy header compression stream ended");
                if (rc == Z_MEM_ERROR)
                        return protocol_error(r, err, OCID_ERR_INTERNAL, "spdy header block: zlib out of memory");
                if (rc != Z_OK && rc != Z_BUF_ERROR)
                        return protocol_error(r, err, OCID_ERR_INVALID, "corrupt spdy header block: %s",
                                              r->z.msg ? r->z.msg : "zlib error");
                if (r->z.avail_out == 0)
                        return protocol_error(r, err, OCID_ERR_RESOURCE,
                                              "spdy header block inflates past %u bytes",
                                              SPDY_MAX_HEADER_BLOCK);
                if (r->z.avail_in == 0)
                        break;
                if (rc == Z_BUF_ERROR) /* no progress with input and room left */
                        return protocol_error(r, err, OCID_ERR_INVALID, "corrupt spdy header block");
        }
        *ret_len = cap - r->z.avail_out;
        return 0;
}

static int parse_block(spdy_reader *r, const uint8_t *b, size_t len, size_t *ret_n, ocid_error *err)
{
        if (len < 4)
                return protocol_error(r, err, OCID_ERR_INVALID, "truncated spdy header block");
        uint32_t n = get32(b);
        if (n > SPDY_MAX_HEADERS)
                return protocol_error(r, err, OCID_ERR_RESOURCE,
                                      "spdy header block with %u headers (at most %u)", n, SPDY_MAX_HEADERS);
        size_t pos = 4;
        size_t offsets[SPDY_MAX_HEADERS][2];
        size_t vlens[SPDY_MAX_HEADERS];
        strbuf_reset(&r->strings);
        for (uint32_t i = 0; i < n; i++) {
                if (len - pos < 4)
                        return protocol_error(r, err, OCID_ERR_INVALID, "truncated spdy header block");
                uint32_t nlen = get32(b + pos);
                pos += 4;
                if (nlen == 0)
                        return protocol_error(r, err, OCID_ERR_INVALID, "spdy header with an empty name");
                if (nlen > len - pos)
                        return protocol_error(r, err, OCID_ERR_INVALID, "truncated spdy header block");
                const uint8_t *name = b + pos;
                for (uint32_t k = 0; k < nlen; k++)
                        if (name[k] <= 0x20 || name[k] >= 0x7f || (name[k] >= 'A' && name[k] <= 'Z'))
                                return protocol_error(r, err, OCID_ERR_INVALID,
                                                      "spdy header name with byte 0x%02x (names are lower case)",
                                                      name[k]);
                for (uint32_t k = 0; k < i; k++) {
                        const char *prev = r->strings.buf + offsets[k][0];
                        if (strlen(prev) == nlen && memcmp(prev, name, nlen) == 0)
                                return protocol_error(r, err, OCID_ERR_INVALID,
                                                      "duplicate spdy header '%.*s'", (int)(nlen > 64 ? 64 : nlen), prev);
                }
                pos += nlen;
                offsets[i][0] = r->strings.len;
                strbuf_add(&r->strings, name, nlen);
                strbuf_addch(&r->strings, '\0');
                if (len - pos < 4)
                        return protocol_error(r, err, OCID_ERR_INVALID, "truncated spdy header block");
                uint32_t vlen = get32(b + pos);
                pos += 4;
                if (vlen > len - pos)
                        return protocol_error(r, err, OCID_ERR_INVALID, "truncated spdy header block");
                offsets[i][1] = r->strings.len;
                vlens[i] = vlen;
                strbuf_add(&r->strings, b + pos, vlen);
                strbuf_addch(&r->strings, '\0');
                pos += vlen;
        }
        if (pos != len)
                return protocol_error(r, err, OCID_ERR_INVALID,
                                      "%zu bytes after the spdy header block's %u headers", len - pos, n);
        for (uint32_t i = 0; i < n; i++) {
                r->headers[i].name = r->strings.buf + offsets[i][0];
                r->headers[i].value = r->strings.buf + offsets[i][1];
                r->headers[i].value_len = vlens[i];
        }
        *ret_n = n;
        return 0;
}

static int decode_headers(spdy_reader *r, const uint8_t *in, size_t in_len, spdy_frame *f,
                          ocid_error *err)
{
        size_t len;
        if (inflate_block(r, in, in_len, &len, err) < 0)
                return -1;
        if (parse_block(r, r->inflated, len, &f->n_headers, err) < 0)
                return -1;
        f->headers = r->headers;
        return 0;
}

static int control_frame(spdy_reader *r, const uint8_t *p, spdy_frame *f, ocid_error *err)
{
        uint32_t len = r->length;
        const char *name = type_name(r->type);
        switch (r->type) {
        case SPDY_SYN_STREAM: {
                if (len < 10)
                        return protocol_error(r, err, OCID_ERR_INVALID, "SYN_STREAM of %u bytes (at least 10)", len);
                f->stream_id = get32(p) & SPDY_MAX_STREAM_ID;
                f->assoc_stream_id = get32(p + 4) & SPDY_MAX_STREAM_ID;
                f->priority = p[8] >> 5;
                f->slot = p[9];
                uint32_t id = f->stream_id;
                if (id == 0)
                        return protocol_error(r, err, OCID_ERR_INVALID, "SYN_STREAM for stream 0");
                bool odd = id & 1;
                if (odd != (r->role == SPDY_ROLE_SERVER))
                        return protocol_error(r, err, OCID_ERR_INVALID,
                                              "SYN_STREAM with %s stream id %u from the %s", odd ? "odd" : "even",
                                              id, r->role == SPDY_ROLE_SERVER ? "client" : "server");
                /* Section 2.3.2: ids increase; an id not above the last is
                 * a session error. */
                if (id <= r->last_stream_id)
                        return protocol_error(r, err, OCID_ERR_INVALID,
                                              "SYN_STREAM reuses stream id %u (last opened %u)", id,
                                              r->last_stream_id);
                /* A stream whose headers cannot be read was never opened:
                 * the GOAWAY that follows names the one before it. */
                int d = decode_headers(r, p + 10, len - 10, f, err);
                if (d >= 0)
                        r->last_stream_id = id;
                return d;
        }
        case SPDY_SYN_REPLY:
        case SPDY_HEADERS:
                if (len < 4)
                        return protocol_error(r, err, OCID_ERR_INVALID, "%s of %u bytes (at least 4)", name, len);
                f->stream_id = get32(p) & SPDY_MAX_STREAM_ID;
                if (f->stream_id == 0)
                        return protocol_error(r, err, OCID_ERR_INVALID, "%s for stream 0", name);
                return decode_headers(r, p + 4, len - 4, f, err);
        case SPDY_RST_STREAM:
                if (len != 8)
                        return protocol_error(r, err, OCID_ERR_INVALID, "RST_STREAM of %u bytes (want 8)", len);
                f->stream_id = get32(p) & SPDY_MAX_STREAM_ID;
                f->status = get32(p + 4);
                if (f->stream_id == 0)
                        return protocol_error(r, err, OCID_ERR_INVALID, "RST_STREAM for stream 0");
                if (f->status == 0)
                        return protocol_error(r, err, OCID_ERR_INVALID, "RST_STREAM with status 0");
                return 0;
        case SPDY_SETTINGS: {
                if (len < 4)
                        return protocol_error(r, err, OCID_ERR_INVALID, "SETTINGS of %u bytes (at least 4)", len);
                uint32_t n = get32(p);
                if (n > SPDY_MAX_SETTINGS)
                        return protocol_error(r, err, OCID_ERR_RESOURCE, "SETTINGS with %u entries (at most %u)",
                                              n, SPDY_MAX_SETTINGS);
                if (len != 4 + 8 * n)
                        return protocol_error(r, err, OCID_ERR_INVALID,
                                              "SETTINGS of %u bytes for %u entries", len, n);
                for (uint32_t i = 0; i < n; i++) {
                        uint32_t w = get32(p + 4 + 8 * i);
                        r->settings[i].flags = (uint8_t)(w >> 24);
                        r->settings[i].id = w & 0xffffff;
                        r->settings[i].value = get32(p + 8 + 8 * i);
                }
                f->settings = r->settings;
                f->n_settings = n;
                return 0;
        }
        case SPDY_PING:
                if (len != 4)
                        return protocol_error(r, err, OCID_ERR_INVALID, "PING of %u bytes (want 4)", len);
                f->ping_id = get32(p);
                return 0;
        case SPDY_GOAWAY:
                if (len != 8)
                        return protocol_error(r, err, OCID_ERR_INVALID, "GOAWAY of %u bytes (want 8)", len);
                f->stream_id = get32(p) & SPDY_MAX_STREAM_ID;
                f->status = get32(p + 4);
                return 0;
        case SPDY_WINDOW_UPDATE:
                if (len != 8)
                        return protocol_error(r, err, OCID_ERR_INVALID, "WINDOW_UPDATE of %u bytes (want 8)", len);
                f->stream_id = get32(p) & SPDY_MAX_STREAM_ID;
                f->delta_window = get32(p + 4) & 0x7fffffff;
                if (f->delta_window == 0)
                        return protocol_error(r, err, OCID_ERR_INVALID, "WINDOW_UPDATE with delta 0");
                return 0;
        default:
                return 0; /* not reached: unknown types are skipped */
        }
}

static int frame_end(spdy_reader *r, const uint8_t *p, spdy_frame_fn fn, void *userdata,
                     ocid_error *err)
{
        r->in_frame = false;
        if (r->skip)
                return 0;
        spdy_frame f = { .flags = r->flags };
        if (!r->control) {
                f.type = SPDY_DATA;
                f.stream_id = r->data_stream_id;
                f.data = p;
                f.data_len = r->length;
        } else {
                f.type = (spdy_frame_type)r->type;
                if (control_frame(r, p, &f, err) < 0)
                        return -1;
        }
        int q = fn(&f, userdata);
        /* p may point into payload: reset only now. Do not keep a large
         * buffer around on an idle connection. */
        if (r->payload.alloc > 64 * 1024)
                strbuf_release(&r->payload);
        else
                strbuf_reset(&r->payload);
        return q;
}

static int frame_begin(spdy_reader *r, ocid_error *err)
{
        uint32_t w0 = get32(r->hdr), w1 = get32(r->hdr + 4);
        strbuf_reset(&r->payload);
        r->control = w0 & 0x80000000u;
        r->flags = (uint8_t)(w1 >> 24);
        r->length = w1 & 0xffffff;
        r->skip = false;
        if (!r->control) {
                r->data_stream_id = w0 & SPDY_MAX_STREAM_ID;
                if (r->data_stream_id == 0)
                        return protocol_error(r, err, OCID_ERR_INVALID, "DATA frame for stream 0");
                if (r->length > r->max_data)
                        return protocol_error(r, err, OCID_ERR_RESOURCE,
                                              "DATA frame of %u bytes on stream %u (at most %zu)", r->length,
                                              r->data_stream_id, r->max_data);
                return 0;
        }
        uint16_t version = (w0 >> 16) & 0x7fff;
        r->type = w0 & 0xffff;
        if (version != SPDY_VERSION)
                return protocol_error(r, err, OCID_ERR_INVALID, "unsupported SPDY version %u (want 3)", version);
        if (r->length > SPDY_MAX_CONTROL_FRAME)
                return protocol_error(r, err, OCID_ERR_RESOURCE,
                                      "%s control frame (type %u) of %u bytes (at most %u)",
                                      type_name(r->type), r->type, r->length, SPDY_MAX_CONTROL_FRAME);
        /* Section 2.2.1: unknown control frames are ignored (CREDENTIAL,
         * NOOP and future types). */
        r->skip = r->type == 0 || r->type == 5 || r->type > SPDY_WINDOW_UPDATE;
        return 0;
}

int spdy_reader_feed(spdy_reader *r, const uint8_t *data, size_t len, spdy_frame_fn fn,
                     void *userdata, ocid_error *err)
{
        size_t off = 0;
        while (off < len) {
                if (!r->in_frame) {
                        size_t take = SPDY_FRAME_HEADER - r->hdr_len;
                        if (take > len - off)
                                take = len - off;
                        memcpy(r->hdr + r->hdr_len, data + off, take);
                        r->hdr_len += take;
                        off += take;
                        if (r->hdr_len < SPDY_FRAME_HEADER)
                                break;
                        r->hdr_len = 0;
                        if (frame_begin(r, err) < 0)
                                return -1;
                        r->in_frame = true;
                        r->pos = 0;
                        /* The whole payload is here: no copy. */
                        if (len - off >= r->length) {
                                const uint8_t *p = data + off;
                                off += r->length;
                                int q = frame_end(r, p, fn, userdata, err);
                                if (q < 0)
                                        return q;
                        }
                        continue;
                }
                size_t n = r->length - r->pos;
                if (n > len - off)
                        n = len - off;
                if (!r->skip)
                        strbuf_add(&r->payload, data + off, n);
                r->pos += (uint32_t)n;
                off += n;
                if (r->pos == r->length) {
                        int q = frame_end(r, (const uint8_t *)r->payload.buf, fn, userdata, err);
                        if (q < 0)
                                return q;
                }
        }
        return 0;
}

/* ---- writer ------------------------------------------------------------------- */

struct spdy_writer {
        z_stream z;
        strbuf block;
};

spdy_writer *spdy_writer_new(void)
{
        spdy_writer *w = calloc(1, sizeof(*w));
        if (!w)
                return NULL;
        strbuf_init(&w->block);
        if (deflateInit(&w->z, Z_DEFAULT_COMPRESSION) != Z_OK) {
                free(w);
                return NULL;
        }
        if (deflateSetDictionary(&w->z, spdy_dictionary, sizeof(spdy_dictionary)) != Z_OK) {
                deflateEnd(&w->z);
                free(w);
                return NULL;
        }
        return w;
}

void spdy_writer_free(spdy_writer *w)
{
        if (!w)
                return;
        deflateEnd(&w->z);
        strbuf_release(&w->block);
        free(w);
}

static void add32(strbuf *sb, uint32_t v)
{
        uint8_t b[4];
        put32(b, v);
        strbuf_add(sb, b, 4);
}

static int build_block(spdy_writer *w, const spdy_header *h, size_t n, ocid_error *err)
{
        strbuf_reset(&w->block);
        if (n > SPDY_MAX_HEADERS)
                return ocid_error_set(err, OCID_ERR_INVALID, "spdy header block with %zu headers (at most %u)",
                                      n, SPDY_MAX_HEADERS);
        add32(&w->block, (uint32_t)n);
        for (size_t i = 0; i < n; i++) {
                size_t nlen = strlen(h[i].name);
                if (nlen == 0)
                        return ocid_error_set(err, OCID_ERR_INVALID, "spdy header with an empty name");
                for (size_t k = 0; k < nlen; k++) {
                        unsigned char c = (unsigned char)h[i].name[k];
                        if (c <= 0x20 || c >= 0x7f || (c >= 'A' && c <= 'Z'))
                                return ocid_error_set(err, OCID_ERR_INVALID,
                                                      "spdy header name '%s' is not lower case", h[i].name);
                }
                for (size_t k = 0; k < i; k++)
                        if (strcmp(h[k].name, h[i].name) == 0)
                                return ocid_error_set(err, OCID_ERR_INVALID, "duplicate spdy header '%s'",
                                                      h[i].name);
                if (nlen + h[i].value_len > SPDY_MAX_HEADER_BLOCK ||
                    w->block.len + 8 + nlen + h[i].value_len > SPDY_MAX_HEADER_BLOCK)
                        return ocid_error_set(err, OCID_ERR_INVALID, "spdy header block over %u bytes",
                                              SPDY_MAX_HEADER_BLOCK);
                add32(&w->block, (uint32_t)nlen);
                strbuf_add(&w->block, h[i].name, nlen);
                add32(&w->block, (uint32_t)h[i].value_len);
                strbuf_add(&w->block, h[i].value, h[i].value_len);
        }
        return 0;
}

/* Deflate the block into out, flushed so the peer can inflate it whole. */
static int deflate_block(spdy_writer *w, strbuf *out, ocid_error *err)
{
        w->z.next_in = (Bytef *)w->block.buf;
        w->z.avail_in = (uInt)w->block.len;
        for (;;) {
                strbuf_grow(out, 1024 + w->z.avail_in);
                size_t room = out->alloc - out->len - 1;
                w->z.next_out = (Bytef *)out->buf + out->len;
                w->z.avail_out = (uInt)room;
                int rc = deflate(&w->z, Z_SYNC_FLUSH);
                if (rc != Z_OK && rc != Z_BUF_ERROR)
                        return ocid_error_set(err, OCID_ERR_INTERNAL, "spdy header compression failed (zlib %d)", rc);
                out->len += room - w->z.avail_out;
                out->buf[out->len] = '\0';
                /* Done when it stopped with output room to spare. */
                if (w->z.avail_in == 0 && w->z.avail_out > 0)
                        return 0;
        }
}

static int write_headers_frame(spdy_writer *w, strbuf *out, uint16_t type, uint8_t flags,
                               const uint8_t *fixed, size_t fixed_len, const spdy_header *h,
                               size_t n, ocid_error *err)
{
        if (build_block(w, h, n, err) < 0)
                return -1;
        size_t start = out->len;
        add32(out, 0x80000000u | (uint32_t)SPDY_VERSION << 16 | type);
        add32(out, 0); /* flags and length, once the length is known */
        strbuf_add(out, fixed, fixed_len);
        if (deflate_block(w, out, err) < 0) {
                out->len = start;
                out->buf[out->len] = '\0';
                return -1;
        }
        size_t len = out->len - start - SPDY_FRAME_HEADER;
        put32((uint8_t *)out->buf + start + 4, (uint32_t)flags << 24 | (uint32_t)len);
        return 0;
}

int spdy_writer_syn_stream(spdy_writer *w, strbuf *out, uint32_t stream_id, uint32_t assoc_id,
                           uint8_t priority, uint8_t flags, const spdy_header *headers,
                           size_t n_headers, ocid_error *err)
{
        uint8_t fixed[10];
        put32(fixed, stream_id & SPDY_MAX_STREAM_ID);
        put32(fixed + 4, assoc_id & SPDY_MAX_STREAM_ID);
        fixed[8] = (uint8_t)((priority & 7) << 5);
        fixed[9] = 0;
        return write_headers_frame(w, out, SPDY_SYN_STREAM, flags, fixed, sizeof(fixed), headers,
                                   n_headers, err);
}

int spdy_writer_syn_reply(spdy_writer *w, strbuf *out, uint32_t stream_id, uint8_t flags,
                          const spdy_header *headers, size_t n_headers, ocid_error *err)
{
        uint8_t fixed[4];
        put32(fixed, stream_id & SPDY_MAX_STREAM_ID);
        return write_headers_frame(w, out, SPDY_SYN_REPLY, flags, fixed, sizeof(fixed), headers,
                                   n_headers, err);
}

int spdy_writer_headers(spdy_writer *w, strbuf *out, uint32_t stream_id, uint8_t flags,
                        const spdy_header *headers, size_t n_headers, ocid_error *err)
{
        uint8_t fixed[4];
        put32(fixed, stream_id & SPDY_MAX_STREAM_ID);
        return write_headers_frame(w, out, SPDY_HEADERS, flags, fixed, sizeof(fixed), headers,
                                   n_headers, err);
}

static void control_header(strbuf *out, uint16_t type, uint8_t flags, uint32_t len)
{
        add32(out, 0x80000000u | (uint32_t)SPDY_VERSION << 16 | type);
        add32(out, (uint32_t)flags << 24 | len);
}

void spdy_encode_rst_stream(strbuf *out, uint32_t stream_id, uint32_t status)
{
        control_header(out, SPDY_RST_STREAM, 0, 8);
        add32(out, stream_id & SPDY_MAX_STREAM_ID);
        add32(out, status);
}

void spdy_encode_settings(strbuf *out, uint8_t flags, const spdy_setting *settings, size_t n)
{
        if (n > SPDY_MAX_SETTINGS)
                abort();
        control_header(out, SPDY_SETTINGS, flags, (uint32_t)(4 + 8 * n));
        add32(out, (uint32_t)n);
        for (size_t i = 0; i < n; i++) {
                add32(out, (uint32_t)settings[i].flags << 24 | (settings[i].id & 0xffffff));
                add32(out, settings[i].value);
        }
}

void spdy_encode_ping(strbuf *out, uint32_t id)
{
        control_header(out, SPDY_PING, 0, 4);
        add32(out, id);
}

void spdy_encode_goaway(strbuf *out, uint32_t last_good_stream_id, uint32_t status)
{
        control_header(out, SPDY_GOAWAY, 0, 8);
        add32(out, last_good_stream_id & SPDY_MAX_STREAM_ID);
        add32(out, status);
}

void spdy_encode_window_update(strbuf *out, uint32_t stream_id, uint32_t delta)
{
        control_header(out, SPDY_WINDOW_UPDATE, 0, 8);
        add32(out, stream_id & SPDY_MAX_STREAM_ID);
        add32(out, delta & 0x7fffffff);
}

void spdy_encode_data(strbuf *out, uint32_t stream_id, uint8_t flags, const void *data, size_t len)
{
        if (len > SPDY_MAX_LENGTH)
                abort();
        add32(out, stream_id & SPDY_MAX_STREAM_ID);
        add32(out, (uint32_t)flags << 24 | (uint32_t)len);
        if (len)
                strbuf_add(out, data, len);
}

/* ---- flow control -------------------------------------------------------------- */

void spdy_window_init(spdy_window *w, uint32_t send_initial, uint32_t recv_initial)
{
        w->send = send_initial;
        w->recv = recv_initial;
        w->recv_initial = recv_initial;
        w->recv_pending = 0;
}

size_t spdy_window_sendable(const spdy_window *w, size_t want)
{
        if (w->send <= 0)
                return 0;
        return (uint64_t)want < (uint64_t)w->send ? want : (size_t)w->send;
}

void spdy_window_sent(spdy_window *w, size_t n)
{
        w->send -= (int64_t)n;
}

int spdy_window_update(spdy_window *w, uint32_t delta, ocid_error *err)
{
        if (delta == 0 || delta > SPDY_MAX_WINDOW)
                return ocid_error_set(err, OCID_ERR_INVALID, "WINDOW_UPDATE delta %u out of range", delta);
        if (w->send + (int64_t)delta > SPDY_MAX_WINDOW)
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "WINDOW_UPDATE of %u grows the window past 2^31-1", delta);
        w->send += delta;
        return 0;
}

int spdy_window_initial_changed(spdy_window *w, uint32_t old_initial, uint32_t new_initial,
                                ocid_error *err)
{
        if (new_initial > SPDY_MAX_WINDOW)
                return ocid_error_set(err, OCID_ERR_INVALID, "initial window %u over 2^31-1", new_initial);
        int64_t send = w->send + (int64_t)new_initial - (int64_t)old_initial;
        if (send > SPDY_MAX_WINDOW)
                return ocid_error_set(err, OCID_ERR_INVALID, "initial window change grows the window past 2^31-1");
        w->send = send;
        return 0;
}

int spdy_window_received(spdy_window *w, size_t n, ocid_error *err)
{
        if ((uint64_t)n > (uint64_t)(w->recv < 0 ? 0 : w->recv))
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "peer sent %zu bytes over a receive window of %lld", n,
                                      (long long)w->recv);
        w->recv -= (int64_t)n;
        return 0;
}

uint32_t spdy_window_consumed(spdy_window *w, size_t n)
{
        uint64_t pending = (uint64_t)w->recv_pending + n;
        if (pending > SPDY_MAX_WINDOW)
                pending = SPDY_MAX_WINDOW;
        if (pending < w->recv_initial / 2 || pending == 0) {
                w->recv_pending = (uint32_t)pending;
                return 0;
        }
        /* Never reopen past what was granted initially. */
        if (w->recv + (int64_t)pending > (int64_t)w->recv_initial)
                pending = (uint64_t)((int64_t)w->recv_initial - w->recv);
        w->recv += (int64_t)pending;
        w->recv_pending = 0;
        return (uint32_t)pending;
}
