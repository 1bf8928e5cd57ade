/* WebSocket (RFC 6455) framing and the Kubernetes channel subprotocols on
 * top of it. Transport-independent: a reader takes the connection's bytes
 * and calls back with whole messages and control frames; encoders append
 * frames to a strbuf.
 *
 * Errors: OCID_ERR_INVALID for a protocol violation, OCID_ERR_RESOURCE for a
 * message over the bound. After a reader failure, reader.close_code is the
 * status for the Close frame to send before closing the connection (1002
 * protocol error, 1007 invalid payload, 1009 too big). */
#pragma once

#include "util/error.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_MAX_CONTROL_PAYLOAD 125
#define WS_MAX_FRAME_HEADER 14
/* A default bound on one (reassembled) message. kubectl sends stdin and
 * port-forward data in pieces of 32 KiB at most. */
#define WS_DEFAULT_MAX_MESSAGE (1u << 20)

typedef enum {
        WS_OP_CONTINUATION = 0x0,
        WS_OP_TEXT = 0x1,
        WS_OP_BINARY = 0x2,
        WS_OP_CLOSE = 0x8,
        WS_OP_PING = 0x9,
        WS_OP_PONG = 0xa,
} ws_opcode;

/* Close status codes (RFC 6455 section 7.4.1). */
enum {
        WS_CLOSE_NORMAL = 1000,
        WS_CLOSE_GOING_AWAY = 1001,
        WS_CLOSE_PROTOCOL_ERROR = 1002,
        WS_CLOSE_UNSUPPORTED_DATA = 1003,
        WS_CLOSE_NO_STATUS = 1005,      /* never sent: an empty Close */
        WS_CLOSE_ABNORMAL = 1006,       /* never sent: connection dropped */
        WS_CLOSE_INVALID_PAYLOAD = 1007,
        WS_CLOSE_POLICY = 1008,
        WS_CLOSE_TOO_BIG = 1009,
        WS_CLOSE_MANDATORY_EXTENSION = 1010,
        WS_CLOSE_INTERNAL_ERROR = 1011,
};

/* Which end is reading: a server requires masked frames, a client
 * unmasked ones (section 5.1). */
typedef enum {
        WS_ROLE_SERVER,
        WS_ROLE_CLIENT,
} ws_role;

typedef struct {
        bool fin;
        ws_opcode opcode;
        bool masked;
        uint8_t mask[4];
        uint64_t length;   /* payload length */
        size_t header_len; /* 2 to 14 */
} ws_frame_header;

/* Parse the frame header at buf. Returns the header length (> 0) when
 * complete, 0 when more bytes are needed, -1 (OCID_ERR_INVALID) for a
 * violation: reserved bits set (no extension is negotiated), an unknown
 * opcode, a fragmented or oversized control frame, a length not in its
 * shortest form or with the top bit set, a frame masked contrary to role. */
int ws_frame_header_parse(const uint8_t *buf, size_t len, ws_role role, ws_frame_header *ret,
                          ocid_error *err);

/* Called with each data message (TEXT, BINARY; fragments reassembled,
 * unmasked, TEXT checked to be UTF-8) and each control frame (PING, PONG,
 * CLOSE; a CLOSE payload already checked by ws_close_parse). data is valid
 * during the call only. A negative return stops the reader and is passed
 * through. Answering pings and closes is the caller's business. */
typedef int (*ws_message_fn)(ws_opcode op, const uint8_t *data, size_t len, void *userdata);

typedef struct {
        ws_role role;
        size_t max_message;
        uint8_t hdr[WS_MAX_FRAME_HEADER]; /* a header split across feeds */
        size_t hdr_len;
        bool in_frame;                    /* reading a payload */
        ws_frame_header frame;
        uint64_t frame_pos;               /* payload bytes of the frame read */
        bool in_message;                  /* a fragmented data message is open */
        ws_opcode message_op;
        strbuf message;
        uint8_t control[WS_MAX_CONTROL_PAYLOAD];
        bool closed;                      /* a Close frame was received */
        uint16_t close_code;              /* after a failure: the code to send */
} ws_reader;

/* max_message: 0 for WS_DEFAULT_MAX_MESSAGE. */
void ws_reader_init(ws_reader *r, ws_role role, size_t max_message);
void ws_reader_release(ws_reader *r);
/* Feed the connection's next bytes. A message over max_message is refused
 * from the header that announces it, before its payload is buffered. Bytes
 * after a Close frame are refused. After a failure the reader must not be
 * fed again. */
int ws_reader_feed(ws_reader *r, const uint8_t *data, size_t len, ws_message_fn fn, void *userdata,
                   ocid_error *err);
/* True when no partial frame or message is buffered. */
bool ws_reader_idle(const ws_reader *r);

/* Whether data is well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF). */
bool ws_utf8_valid(const uint8_t *data, size_t len);

/* Check a Close payload: empty (*ret_code = 1005, no reason) or a code that
 * may be sent on the wire and a UTF-8 reason (pointing into data). */
int ws_close_parse(const uint8_t *data, size_t len, uint16_t *ret_code, const char **ret_reason,
                   size_t *ret_reason_len, ocid_error *err);

/* ---- encoding ------------------------------------------------------------ */

/* A frame header; mask NULL for an unmasked (server) frame. */
void ws_frame_header_encode(strbuf *out, bool fin, ws_opcode op, uint64_t len, const uint8_t *mask);
/* A whole unmasked frame with FIN set, as a server sends. Control frames
 * must be at most 125 bytes (abort otherwise: a programming error). */
void ws_frame_encode(strbuf *out, ws_opcode op, const void *data, size_t len);
/* A masked frame, as a client sends. */
void ws_frame_encode_masked(strbuf *out, bool fin, ws_opcode op, const uint8_t mask[4],
                            const void *data, size_t len);
/* A Close frame (unmasked): code and reason, the reason cut at a UTF-8
 * character boundary to fit 125 bytes; code 1005 sends an empty Close. */
void ws_close_encode(strbuf *out, uint16_t code, const char *reason);

/* ---- Kubernetes channel subprotocols --------------------------------------- */

/* Each message carries one stream's bytes, the stream named by a leading
 * channel byte. base64 variants send TEXT frames with the channel as an
 * ASCII digit and the payload base64-encoded; v5 adds channel 255, "close
 * the channel named by the next byte" (half-close of stdin). */
typedef enum {
        WS_CHANNEL_V1,          /* channel.k8s.io */
        WS_CHANNEL_V1_BASE64,   /* base64.channel.k8s.io */
        WS_CHANNEL_V4,          /* v4.channel.k8s.io */
        WS_CHANNEL_V4_BASE64,   /* v4.base64.channel.k8s.io */
        WS_CHANNEL_V5,          /* v5.channel.k8s.io */
} ws_channel_protocol;

enum {
        WS_CHANNEL_STDIN = 0,
        WS_CHANNEL_STDOUT = 1,
        WS_CHANNEL_STDERR = 2,
        WS_CHANNEL_ERROR = 3,   /* v4+: a JSON metav1.Status when the process ends */
        WS_CHANNEL_RESIZE = 4,  /* v4+: JSON {"Width":w,"Height":h} */
        WS_CHANNEL_CLOSE = 255, /* v5 */
};

/* The protocol for a negotiated subprotocol name; "" (nothing negotiated)
 * is channel.k8s.io, as the kubelet does. -EINVAL for any other name. */
int ws_channel_protocol_from_name(const char *name, ws_channel_protocol *ret);
const char *ws_channel_protocol_name(ws_channel_protocol p);
bool ws_channel_protocol_is_base64(ws_channel_protocol p);

typedef struct {
        uint8_t channel;
        bool close;             /* v5 close signal: channel is the one closed */
        const uint8_t *data;    /* into the message or the scratch buffer */
        size_t len;
} ws_channel_message;

/* Split one received data message. Returns 1 with *ret filled; 0 for an
 * empty message (ignored, as the kubelet does); -1 (OCID_ERR_INVALID) for a
 * non-digit channel or bad base64 in a base64 protocol, or a malformed v5
 * close signal. The channel number is not range-checked: which channels a
 * session has is the caller's. scratch receives decoded base64 (reset
 * first). */
int ws_channel_split(ws_channel_protocol p, const uint8_t *msg, size_t len, strbuf *scratch,
                     ws_channel_message *ret, ocid_error *err);
/* Append the message payload for data on channel (channel < 10 for base64
 * protocols). */
void ws_channel_build(strbuf *out, ws_channel_protocol p, uint8_t channel, const void *data,
                      size_t len);
/* Append a whole server frame: BINARY, or TEXT for the base64 protocols. */
void ws_channel_frame(strbuf *out, ws_channel_protocol p, uint8_t channel, const void *data,
                      size_t len);
/* Append the v5 message closing channel. -EINVAL for other protocols. */
int ws_channel_close_build(strbuf *out, ws_channel_protocol p, uint8_t channel);
