/* SPDY/3.1 framing, the part of the protocol that does not depend on the
 * transport: a reader that takes the connection's bytes and calls back with
 * whole decoded frames, and a writer that appends frames to a strbuf.
 *
 * Header blocks are zlib-compressed with the SPDY/3 dictionary, and all the
 * blocks one side sends share one zlib stream: the reader holds the inflate
 * state for what the peer sends, the writer the deflate state for what we
 * send, one of each per connection. Because the shared state cannot be
 * resynchronised, every reader failure is fatal to the connection: send
 * GOAWAY (spdy_reader_goaway_status()) and close.
 *
 * Bounds: a control frame's payload (SPDY_MAX_CONTROL_FRAME), a DATA
 * frame's payload (configurable), a decompressed header block
 * (SPDY_MAX_HEADER_BLOCK, checked while inflating: a zlib bomb stops at the
 * bound), the header count (SPDY_MAX_HEADERS), SETTINGS entries.
 *
 * Errors: OCID_ERR_INVALID for a protocol violation, OCID_ERR_RESOURCE for
 * an exceeded bound, OCID_ERR_INTERNAL when zlib itself fails. */
#pragma once

#include "util/cleanup.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPDY_VERSION 3
#define SPDY_FRAME_HEADER 8
#define SPDY_MAX_LENGTH 0xffffffu               /* the 24-bit length field */
#define SPDY_MAX_HEADER_BLOCK (64u * 1024)      /* one block, decompressed */
/* Payload of one control frame: a header block of SPDY_MAX_HEADER_BLOCK
 * bytes plus what deflate may add to incompressible data, so that whatever
 * the writer produces, the reader takes. */
#define SPDY_MAX_CONTROL_FRAME (65u * 1024)
#define SPDY_DEFAULT_MAX_DATA SPDY_MAX_LENGTH   /* payload of one DATA frame */
#define SPDY_MAX_HEADERS 100                    /* name/value pairs in one block */
#define SPDY_MAX_SETTINGS 64                    /* entries in one SETTINGS frame */
#define SPDY_MAX_STREAM_ID 0x7fffffffu
#define SPDY_INITIAL_WINDOW (64u * 1024)
#define SPDY_MAX_WINDOW 0x7fffffff

/* The SPDY/3 header compression dictionary (its Adler-32 is 0xe3c6a7c2). */
extern const uint8_t spdy_dictionary[1423];

typedef enum {
        SPDY_DATA = 0, /* not a control type: DATA frames have none */
        SPDY_SYN_STREAM = 1,
        SPDY_SYN_REPLY = 2,
        SPDY_RST_STREAM = 3,
        SPDY_SETTINGS = 4,
        SPDY_PING = 6,
        SPDY_GOAWAY = 7,
        SPDY_HEADERS = 8,
        SPDY_WINDOW_UPDATE = 9,
} spdy_frame_type;

enum {
        SPDY_FLAG_FIN = 0x01,
        SPDY_FLAG_UNIDIRECTIONAL = 0x02,       /* SYN_STREAM */
        SPDY_FLAG_CLEAR_SETTINGS = 0x01,       /* SETTINGS */
};

/* RST_STREAM status codes. */
enum {
        SPDY_PROTOCOL_ERROR = 1,
        SPDY_INVALID_STREAM = 2,
        SPDY_REFUSED_STREAM = 3,
        SPDY_UNSUPPORTED_VERSION = 4,
        SPDY_CANCEL = 5,
        SPDY_INTERNAL_ERROR = 6,
        SPDY_FLOW_CONTROL_ERROR = 7,
        SPDY_STREAM_IN_USE = 8,
        SPDY_STREAM_ALREADY_CLOSED = 9,
        SPDY_FRAME_TOO_LARGE = 11,
};

/* GOAWAY status codes. */
enum {
        SPDY_GOAWAY_OK = 0,
        SPDY_GOAWAY_PROTOCOL_ERROR = 1,
        SPDY_GOAWAY_INTERNAL_ERROR = 2,
};

enum {
        SPDY_SETTINGS_MAX_CONCURRENT_STREAMS = 4,
        SPDY_SETTINGS_INITIAL_WINDOW_SIZE = 7,
};

/* One header: a lower-case name and a value that may hold several values
 * separated by NUL bytes (hence value_len). Both are NUL-terminated too. */
typedef struct {
        char *name;
        char *value;
        size_t value_len;
} spdy_header;

typedef struct {
        uint8_t flags;
        uint32_t id;    /* 24 bits */
        uint32_t value;
} spdy_setting;

/* A decoded frame. Which fields mean something depends on type; pointers
 * are valid during the callback only. */
typedef struct {
        spdy_frame_type type;
        uint8_t flags;
        uint32_t stream_id;       /* DATA, SYN_STREAM, SYN_REPLY, RST_STREAM,
                                     HEADERS, WINDOW_UPDATE (0: the session);
                                     GOAWAY: the last good stream id */
        uint32_t assoc_stream_id; /* SYN_STREAM */
        uint8_t priority;         /* SYN_STREAM, 0 (highest) to 7 */
        uint8_t slot;             /* SYN_STREAM */
        uint32_t status;          /* RST_STREAM, GOAWAY */
        uint32_t ping_id;         /* PING */
        uint32_t delta_window;    /* WINDOW_UPDATE */
        const spdy_setting *settings; /* SETTINGS */
        size_t n_settings;
        const spdy_header *headers;   /* SYN_STREAM, SYN_REPLY, HEADERS */
        size_t n_headers;
        const uint8_t *data;      /* DATA */
        size_t data_len;
} spdy_frame;

/* The first value of header `name` (names are lower case), up to its first
 * NUL; NULL when absent. */
const char *spdy_frame_header(const spdy_frame *f, const char *name);

/* Which end reads: the peer's streams are odd when we are the server,
 * even when we are the client. */
typedef enum {
        SPDY_ROLE_SERVER,
        SPDY_ROLE_CLIENT,
} spdy_role;

typedef struct spdy_reader spdy_reader;

/* max_data: bound on one DATA frame's payload, 0 for SPDY_DEFAULT_MAX_DATA.
 * Returns NULL only when zlib cannot allocate its state. */
spdy_reader *spdy_reader_new(spdy_role role, size_t max_data);
void spdy_reader_free(spdy_reader *r);
DEFINE_CLEANUP_FUNC(spdy_reader, spdy_reader_free)

typedef int (*spdy_frame_fn)(const spdy_frame *f, void *userdata);

/* Feed the connection's next bytes; calls fn for each complete frame. A
 * negative return from fn stops the reader and is passed through.
 * Checked here: the version (3), lengths per frame type, stream ids (non
 * zero where needed; a new stream's id from the peer's parity and greater
 * than every earlier one: a reused id is a protocol error), header names
 * (non-empty, lower case, no duplicates), the bounds above. Unknown
 * control frame types are skipped, as the spec says. After a failure the
 * reader must not be fed again. */
int spdy_reader_feed(spdy_reader *r, const uint8_t *data, size_t len, spdy_frame_fn fn,
                     void *userdata, ocid_error *err);
/* True when no partial frame is buffered. */
bool spdy_reader_idle(const spdy_reader *r);
/* The last stream id the peer opened (for GOAWAY). */
uint32_t spdy_reader_last_stream_id(const spdy_reader *r);
/* After a failure: the GOAWAY status to send. */
uint32_t spdy_reader_goaway_status(const spdy_reader *r);

typedef struct spdy_writer spdy_writer;

/* NULL only when zlib cannot allocate its state. */
spdy_writer *spdy_writer_new(void);
void spdy_writer_free(spdy_writer *w);
DEFINE_CLEANUP_FUNC(spdy_writer, spdy_writer_free)

/* Frames carrying header blocks go through the writer's deflate state, so
 * they must be written to the connection in the order they were encoded.
 * Names must be non-empty and lower case, no two the same; the block at
 * most SPDY_MAX_HEADER_BLOCK bytes before compression (OCID_ERR_INVALID
 * otherwise; out is then unchanged, the writer still usable). */
int spdy_writer_syn_stream(spdy_writer *w, strbuf *out, uint32_t stream_id, uint32_t assoc_id,
                           uint8_t priority, uint8_t flags, const spdy_header *headers,
                           size_t n_headers, ocid_error *err);
int spdy_writer_syn_reply(spdy_writer *w, strbuf *out, uint32_t stream_id, uint8_t flags,
                          const spdy_header *headers, size_t n_headers, ocid_error *err);
int spdy_writer_headers(spdy_writer *w, strbuf *out, uint32_t stream_id, uint8_t flags,
                        const spdy_header *headers, size_t n_headers, ocid_error *err);

/* Frames without header blocks need no state. */
void spdy_encode_rst_stream(strbuf *out, uint32_t stream_id, uint32_t status);
void spdy_encode_settings(strbuf *out, uint8_t flags, const spdy_setting *settings, size_t n);
void spdy_encode_ping(strbuf *out, uint32_t id);
void spdy_encode_goaway(strbuf *out, uint32_t last_good_stream_id, uint32_t status);
void spdy_encode_window_update(strbuf *out, uint32_t stream_id, uint32_t delta);
/* A DATA frame; len at most SPDY_MAX_LENGTH (abort otherwise: split
 * larger writes). */
void spdy_encode_data(strbuf *out, uint32_t stream_id, uint8_t flags, const void *data, size_t len);

/* ---- flow control (SPDY/3.1 section 2.6.8) ----------------------------------
 * One window per stream and one for the session, each direction. Interop
 * note: Go's spdystream (what kubectl and the apiserver use) neither sends
 * WINDOW_UPDATE nor honours our window, so a server must not stall its
 * sends on a window the peer never reopens, nor fail a peer that overruns
 * its receive window: track, send WINDOW_UPDATEs, and enforce only where the
 * peer has shown it does flow control. */
typedef struct {
        int64_t send;          /* bytes we may still send; negative after a
                                  SETTINGS shrink */
        int64_t recv;          /* bytes the peer may still send us */
        uint32_t recv_initial; /* our initial receive window */
        uint32_t recv_pending; /* consumed, not yet given back in a WINDOW_UPDATE */
} spdy_window;

void spdy_window_init(spdy_window *w, uint32_t send_initial, uint32_t recv_initial);
/* How many of want bytes may be sent now. */
size_t spdy_window_sendable(const spdy_window *w, size_t want);
void spdy_window_sent(spdy_window *w, size_t n);
/* The peer's WINDOW_UPDATE: a window over 2^31-1 is a flow-control error
 * (OCID_ERR_INVALID; answer RST_STREAM FLOW_CONTROL_ERROR). */
int spdy_window_update(spdy_window *w, uint32_t delta, ocid_error *err);
/* The peer's SETTINGS_INITIAL_WINDOW_SIZE changed from old to new: every
 * stream's send window moves by the difference. */
int spdy_window_initial_changed(spdy_window *w, uint32_t old_initial, uint32_t new_initial,
                                ocid_error *err);
/* The peer sent n bytes of DATA: over the receive window is an error. */
int spdy_window_received(spdy_window *w, size_t n, ocid_error *err);
/* The application consumed n received bytes. Returns the delta to send in
 * a WINDOW_UPDATE now (once at least half the window is pending), else 0. */
uint32_t spdy_window_consumed(spdy_window *w, size_t n);
