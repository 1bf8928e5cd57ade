#include "stream/websocket.h"

#include "stream/base64.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- frame headers ---------------------------------------------------------- */

static bool is_control(unsigned op)
{
        return op & 0x8;
}

static bool opcode_known(unsigned op)
{
        return op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG);
}

int ws_frame_header_parse(const uint8_t *buf, size_t len, ws_role role, ws_frame_header *ret,
                          ocid_error *err)
{
        if (len < 2)
                return 0;
        uint8_t b0 = buf[0], b1 = buf[1];
        unsigned op = b0 & 0x0f;
        bool fin = b0 & 0x80, masked = b1 & 0x80;
        unsigned len7 = b1 & 0x7f;
        if (b0 & 0x70)
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "websocket frame with reserved bits 0x%02x set (no extension negotiated)",
                                      b0 & 0x70);
        if (!opcode_known(op))
                return ocid_error_set(err, OCID_ERR_INVALID, "websocket frame with unknown opcode 0x%x", op);
        if (role == WS_ROLE_SERVER && !masked)
                return ocid_error_set(err, OCID_ERR_INVALID, "unmasked websocket frame from a client");
        if (role == WS_ROLE_CLIENT && masked)
                return ocid_error_set(err, OCID_ERR_INVALID, "masked websocket frame from a server");
        if (is_control(op) && !fin)
                return ocid_error_set(err, OCID_ERR_INVALID, "fragmented websocket control frame (opcode 0x%x)", op);
        if (is_control(op) && len7 > WS_MAX_CONTROL_PAYLOAD)
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "websocket control frame (opcode 0x%x) longer than 125 bytes", op);
        size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
        size_t need = 2 + ext + (masked ? 4 : 0);
        if (len < need)
                return 0;
        uint64_t length = len7;
        if (ext) {
                length = 0;
                for (size_t i = 0; i < ext; i++)
                        length = length << 8 | buf[2 + i];
                /* Section 5.2: the minimal number of bytes MUST be used, and
                 * the most significant bit of a 64-bit length MUST be 0. */
                if (ext == 8 && (length >> 63))
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "websocket frame length with the top bit set");
                if ((ext == 2 && length < 126) || (ext == 8 && length <= 0xffff))
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "websocket frame length %llu not in its shortest form",
                                              (unsigned long long)length);
        }
        ret->fin = fin;
        ret->opcode = (ws_opcode)op;
        ret->masked = masked;
        if (masked)
                memcpy(ret->mask, buf + 2 + ext, 4);
        else
                memset(ret->mask, 0, 4);
        ret->length = length;
        ret->header_len = need;
        return (int)need;
}

/* ---- UTF-8 and Close payloads ---------------------------------------------- */

bool ws_utf8_valid(const uint8_t *s, size_t len)
{
        size_t i = 0;
        while (i < len) {
                uint8_t c = s[i];
                if (c < 0x80) {
                        i++;
                        continue;
                }
                size_t n;
                uint32_t cp, min;
                if ((c & 0xe0) == 0xc0) {
                        n = 1;
                        cp = c & 0x1f;
                        min = 0x80;
                } else if ((c & 0xf0) == 0xe0) {
                        n = 2;
                        cp = c & 0x0f;
                        min = 0x800;
                } else if ((c & 0xf8) == 0xf0) {
                        n = 3;
                        cp = c & 0x07;
                        min = 0x10000;
                } else {
                        return false;
                }
                if (len - i <= n)
                        return false;
                for (size_t k = 1; k <= n; k++) {
                        if ((s[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = cp << 6 | (s[i + k] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                i += n + 1;
        }
        return true;
}

static bool close_code_sendable(uint16_t code)
{
        /* 1004-1006 and 1015 are reserved; 1012-1014 registered since. */
        return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
               (code >= 3000 && code <= 4999);
}

int ws_close_parse(const uint8_t *data, size_t len, uint16_t *ret_code, const char **ret_reason,
                   size_t *ret_reason_len, ocid_error *err)
{
        if (len == 0) {
                *ret_code = WS_CLOSE_NO_STATUS;
                *ret_reason = NULL;
                *ret_reason_len = 0;
                return 0;
        }
        if (len == 1)
                return ocid_error_set(err, OCID_ERR_INVALID, "websocket close frame with a 1-byte payload");
        uint16_t code = (uint16_t)(data[0] << 8 | data[1]);
        if (!close_code_sendable(code))
                return ocid_error_set(err, OCID_ERR_INVALID, "websocket close frame with invalid code %u", code);
        if (!ws_utf8_valid(data + 2, len - 2))
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "websocket close frame (code %u) with a reason that is not UTF-8", code);
        *ret_code = code;
        *ret_reason = (const char *)data + 2;
        *ret_reason_len = len - 2;
        return 0;
}

/* ---- reader ----------------------------------------------------------------- */

void ws_reader_init(ws_reader *r, ws_role role, size_t max_message)
{
        memset(r, 0, sizeof(*r));
        r->role = role;
        r->max_message = max_message ? max_message : WS_DEFAULT_MAX_MESSAGE;
        strbuf_init(&r->message);
}

void ws_reader_release(ws_reader *r)
{
        if (!r)
                return;
        strbuf_release(&r->message);
        ws_reader_init(r, r->role, r->max_message);
}

bool ws_reader_idle(const ws_reader *r)
{
        return r->hdr_len == 0 && !r->in_frame && !r->in_message;
}

static int fail(ws_reader *r, uint16_t code)
{
        r->close_code = code;
        return -1;
}

/* A header was read: check it against the message state. */
static int frame_begin(ws_reader *r, ocid_error *err)
{
        const ws_frame_header *f = &r->frame;
        if (is_control(f->opcode))
                return 0;
        if (f->opcode == WS_OP_CONTINUATION) {
                if (!r->in_message) {
                        ocid_error_set(err, OCID_ERR_INVALID, "websocket continuation frame without a message to continue");
                        return fail(r, WS_CLOSE_PROTOCOL_ERROR);
                }
        } else {
                if (r->in_message) {
                        ocid_error_set(err, OCID_ERR_INVALID,
                                       "websocket data frame (opcode 0x%x) inside a fragmented message",
                                       f->opcode);
                        return fail(r, WS_CLOSE_PROTOCOL_ERROR);
                }
                r->in_message = true;
                r->message_op = f->opcode;
                strbuf_reset(&r->message);
        }
        if (f->length > r->max_message - r->message.len) {
                ocid_error_set(err, OCID_ERR_RESOURCE,
                               "websocket message exceeds %zu bytes (%zu buffered, frame of %llu)",
                               r->max_message, r->message.len, (unsigned long long)f->length);
                return fail(r, WS_CLOSE_TOO_BIG);
        }
        return 0;
}

static int frame_end(ws_reader *r, ws_message_fn fn, void *userdata, ocid_error *err)
{
        const ws_frame_header *f = &r->frame;
        size_t n = (size_t)f->length;
        r->in_frame = false;
        if (is_control(f->opcode)) {
                if (f->opcode == WS_OP_CLOSE) {
                        uint16_t code;
                        const char *reason;
                        size_t rlen;
                        if (ws_close_parse(r->control, n, &code, &reason, &rlen, err) < 0)
                                return fail(r, n >= 2 && close_code_sendable((uint16_t)(r->control[0] << 8 | r->control[1]))
                                                       ? WS_CLOSE_INVALID_PAYLOAD
                                                       : WS_CLOSE_PROTOCOL_ERROR);
                        r->closed = true;
                }
                return fn(f->opcode, r->control, n, userdata);
        }
        if (!f->fin)
                return 0;
        r->in_message = false;
        if (r->message_op == WS_OP_TEXT &&
            !ws_utf8_valid((const uint8_t *)r->message.buf, r->message.len)) {
                ocid_error_set(err, OCID_ERR_INVALID, "websocket text message is not UTF-8");
                return fail(r, WS_CLOSE_INVALID_PAYLOAD);
        }
        int q = fn(r->message_op, (const uint8_t *)r->message.buf, r->message.len, userdata);
        /* Do not keep a large buffer around on an idle connection. */
        if (r->message.alloc > 64 * 1024)
                strbuf_release(&r->message);
        else
                strbuf_reset(&r->message);
        return q;
}

int ws_reader_feed(ws_reader *r, const uint8_t *data, size_t len, ws_message_fn fn, void *userdata,
                   ocid_error *err)
{
        size_t off = 0;
        while (off < len) {
                if (r->closed) {
                        ocid_error_set(err, OCID_ERR_INVALID, "websocket data after a close frame");
                        return fail(r, WS_CLOSE_PROTOCOL_ERROR);
                }
                if (!r->in_frame) {
                        size_t take = len - off;
                        if (take > WS_MAX_FRAME_HEADER - r->hdr_len)
                                take = WS_MAX_FRAME_HEADER - r->hdr_len;
                        memcpy(r->hdr + r->hdr_len, data + off, take);
                        int h = ws_frame_header_parse(r->hdr, r->hdr_len + take, r->role, &r->frame, err);
                        if (h < 0)
                                return fail(r, WS_CLOSE_PROTOCOL_ERROR);
                        if (h == 0) {
                                r->hdr_len += take;
                                off += take;
                                continue;
                        }
                        off += (size_t)h - r->hdr_len;
                        r->hdr_len = 0;
                        if (frame_begin(r, err) < 0)
                                return -1;
                        r->in_frame = true;
                        r->frame_pos = 0;
                } else {
                        size_t n = len - off;
                        uint64_t left = r->frame.length - r->frame_pos;
                        if (n > left)
                                n = (size_t)left;
                        uint8_t *dst;
                        if (is_control(r->frame.opcode)) {
                                dst = r->control + r->frame_pos;
                        } else {
                                /* Grown as bytes arrive, not from the announced
                                 * length: a client must send what it costs us. */
                                strbuf_grow(&r->message, n);
                                dst = (uint8_t *)r->message.buf + r->message.len;
                                r->message.len += n;
                                r->message.buf[r->message.len] = '\0';
                        }
                        const uint8_t *src = data + off;
                        if (r->frame.masked)
                                for (size_t i = 0; i < n; i++)
                                        dst[i] = src[i] ^ r->frame.mask[(r->frame_pos + i) & 3];
                        else
                                memcpy(dst, src, n);
                        r->frame_pos += n;
                        off += n;
                }
                if (r->frame_pos == r->frame.length) {
                        int q = frame_end(r, fn, userdata, err);
                        if (q < 0)
                                return q;
                }
        }
        return 0;
}

/* ---- encoding ------------------------------------------------------------- */

void ws_frame_header_encode(strbuf *out, bool fin, ws_opcode op, uint64_t len, const uint8_t *mask)
{
        uint8_t h[WS_MAX_FRAME_HEADER];
        size_t n = 0;
        h[n++] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0f));
        uint8_t m = mask ? 0x80 : 0;
        if (len <= 125) {
                h[n++] = (uint8_t)(m | len);
        } else if (len <= 0xffff) {
                h[n++] = m | 126;
                h[n++] = (uint8_t)(len >> 8);
                h[n++] = (uint8_t)len;
        } else {
                h[n++] = m | 127;
                for (int shift = 56; shift >= 0; shift -= 8)
                        h[n++] = (uint8_t)(len >> shift);
        }
        if (mask) {
                memcpy(h + n, mask, 4);
                n += 4;
        }
        strbuf_add(out, h, n);
}

void ws_frame_encode(strbuf *out, ws_opcode op, const void *data, size_t len)
{
        if (is_control(op) && len > WS_MAX_CONTROL_PAYLOAD)
                abort();
        ws_frame_header_encode(out, true, op, len, NULL);
        if (len)
                strbuf_add(out, data, len);
}

void ws_frame_encode_masked(strbuf *out, bool fin, ws_opcode op, const uint8_t mask[4],
                            const void *data, size_t len)
{
        if (is_control(op) && (len > WS_MAX_CONTROL_PAYLOAD || !fin))
                abort();
        ws_frame_header_encode(out, fin, op, len, mask);
        strbuf_grow(out, len);
        const uint8_t *src = data;
        uint8_t *dst = (uint8_t *)out->buf + out->len;
        for (size_t i = 0; i < len; i++)
                dst[i] = src[i] ^ mask[i & 3];
        out->len += len;
        out->buf[out->len] = '\0';
}

void ws_close_encode(strbuf *out, uint16_t code, const char *reason)
{
        if (code == WS_CLOSE_NO_STATUS) {
                ws_frame_encode(out, WS_OP_CLOSE, NULL, 0);
                return;
        }
        uint8_t p[WS_MAX_CONTROL_PAYLOAD];
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        size_t rlen = reason ? strlen(reason) : 0;
        if (rlen > WS_MAX_CONTROL_PAYLOAD - 2) {
                rlen = WS_MAX_CONTROL_PAYLOAD - 2;
                /* Do not cut a character in half: the reason must stay UTF-8. */
                while (rlen > 0 && ((uint8_t)reason[rlen] & 0xc0) == 0x80)
                        rlen--;
        }
        if (rlen)
                memcpy(p + 2, reason, rlen);
        ws_frame_encode(out, WS_OP_CLOSE, p, 2 + rlen);
}

/* ---- channel subprotocols --------------------------------------------------- */

static const struct {
        const char *name;
        ws_channel_protocol proto;
} channel_protocols[] = {
        { "channel.k8s.io", WS_CHANNEL_V1 },
        { "base64.channel.k8s.io", WS_CHANNEL_V1_BASE64 },
        { "v4.channel.k8s.io", WS_CHANNEL_V4 },
        { "v4.base64.channel.k8s.io", WS_CHANNEL_V4_BASE64 },
        { "v5.channel.k8s.io", WS_CHANNEL_V5 },
};

int ws_channel_protocol_from_name(const char *name, ws_channel_protocol *ret)
{
        if (!name || !*name) {
                *ret = WS_CHANNEL_V1;
                return 0;
        }
        for (size_t i = 0; i < sizeof(channel_protocols) / sizeof(channel_protocols[0]); i++)
                if (strcmp(channel_protocols[i].name, name) == 0) {
                        *ret = channel_protocols[i].proto;
                        return 0;
                }
        return -EINVAL;
}

const char *ws_channel_protocol_name(ws_channel_protocol p)
{
        for (size_t i = 0; i < sizeof(channel_protocols) / sizeof(channel_protocols[0]); i++)
                if (channel_protocols[i].proto == p)
                        return channel_protocols[i].name;
        return "unknown";
}

bool ws_channel_protocol_is_base64(ws_channel_protocol p)
{
        return p == WS_CHANNEL_V1_BASE64 || p == WS_CHANNEL_V4_BASE64;
}

int ws_channel_split(ws_channel_protocol p, const uint8_t *msg, size_t len, strbuf *scratch,
                     ws_channel_message *ret, ocid_error *err)
{
        memset(ret, 0, sizeof(*ret));
        if (len == 0)
                return 0;
        if (ws_channel_protocol_is_base64(p)) {
                if (msg[0] < '0' || msg[0] > '9')
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "%s message with channel byte 0x%02x, not a digit",
                                              ws_channel_protocol_name(p), msg[0]);
                strbuf_reset(scratch);
                if (base64_decode(scratch, (const char *)msg + 1, len - 1) < 0)
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "%s message on channel %c: malformed base64 payload",
                                              ws_channel_protocol_name(p), msg[0]);
                ret->channel = (uint8_t)(msg[0] - '0');
                ret->data = (const uint8_t *)scratch->buf;
                ret->len = scratch->len;
                return 1;
        }
        if (p == WS_CHANNEL_V5 && msg[0] == WS_CHANNEL_CLOSE) {
                if (len != 2)
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "v5 close signal of %zu bytes (want 2: 255 and a channel)", len);
                ret->channel = msg[1];
                ret->close = true;
                return 1;
        }
        ret->channel = msg[0];
        ret->data = msg + 1;
        ret->len = len - 1;
        return 1;
}

static size_t channel_payload_len(ws_channel_protocol p, size_t len)
{
        return 1 + (ws_channel_protocol_is_base64(p) ? (len + 2) / 3 * 4 : len);
}

void ws_channel_build(strbuf *out, ws_channel_protocol p, uint8_t channel, const void *data,
                      size_t len)
{
        if (ws_channel_protocol_is_base64(p)) {
                if (channel > 9)
                        abort();
                strbuf_addch(out, (char)('0' + channel));
                base64_encode(out, data, len);
                return;
        }
        strbuf_addch(out, (char)channel);
        if (len)
                strbuf_add(out, data, len);
}

void ws_channel_frame(strbuf *out, ws_channel_protocol p, uint8_t channel, const void *data,
                      size_t len)
{
        ws_opcode op = ws_channel_protocol_is_base64(p) ? WS_OP_TEXT : WS_OP_BINARY;
        ws_frame_header_encode(out, true, op, channel_payload_len(p, len), NULL);
        ws_channel_build(out, p, channel, data, len);
}

int ws_channel_close_build(strbuf *out, ws_channel_protocol p, uint8_t channel)
{
        if (p != WS_CHANNEL_V5)
                return -EINVAL;
        uint8_t m[2] = { WS_CHANNEL_CLOSE, channel };
        strbuf_add(out, m, 2);
        return 0;
}
