/* gRPC over HTTP/2, the parts that do not depend on the transport: status
 * codes, message framing, grpc-timeout and grpc-message encoding. Pure
 * functions, shared by the server and the client (ocic). */
#pragma once

#include "util/error.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default bound on one message, in either direction. */
#define GRPC_MAX_MESSAGE (16u * 1024 * 1024)
#define GRPC_FRAME_HEADER 5

typedef enum {
        GRPC_OK = 0,
        GRPC_CANCELLED = 1,
        GRPC_UNKNOWN = 2,
        GRPC_INVALID_ARGUMENT = 3,
        GRPC_DEADLINE_EXCEEDED = 4,
        GRPC_NOT_FOUND = 5,
        GRPC_ALREADY_EXISTS = 6,
        GRPC_PERMISSION_DENIED = 7,
        GRPC_RESOURCE_EXHAUSTED = 8,
        GRPC_FAILED_PRECONDITION = 9,
        GRPC_ABORTED = 10,
        GRPC_OUT_OF_RANGE = 11,
        GRPC_UNIMPLEMENTED = 12,
        GRPC_INTERNAL = 13,
        GRPC_UNAVAILABLE = 14,
        GRPC_DATA_LOSS = 15,
        GRPC_UNAUTHENTICATED = 16,
} grpc_status;

/* The one table mapping the project's error kinds to gRPC status codes. */
grpc_status grpc_status_from_error(ocid_error_kind kind);
ocid_error_kind grpc_status_to_error(grpc_status status);
/* "DEADLINE_EXCEEDED" etc.; "UNKNOWN" outside the range. */
const char *grpc_status_name(grpc_status status);

/* Reassembles length-prefixed messages from DATA frames of any size. */
typedef struct {
        size_t max_message;
        uint8_t header[GRPC_FRAME_HEADER];
        size_t header_len;
        size_t want;      /* body length of the message being read */
        strbuf body;
        bool in_body;
} grpc_frame_reader;

void grpc_frame_reader_init(grpc_frame_reader *r, size_t max_message);
void grpc_frame_reader_release(grpc_frame_reader *r);

typedef int (*grpc_message_fn)(const uint8_t *msg, size_t len, void *data);

/* Feed bytes; calls on_message for each complete message. Fails with
 * OCID_ERR_RESOURCE when a message exceeds max_message and
 * OCID_ERR_UNIMPLEMENTED for a compressed message (ocid never negotiates
 * compression). A failure from on_message is passed through. */
int grpc_frame_reader_feed(grpc_frame_reader *r, const uint8_t *data, size_t len,
                           grpc_message_fn on_message, void *fn_data, ocid_error *err);
/* True when no partial message is buffered. */
bool grpc_frame_reader_idle(const grpc_frame_reader *r);

/* Append the 5-byte prefix for an uncompressed message of len bytes. */
void grpc_frame_header(uint8_t out[GRPC_FRAME_HEADER], uint32_t len);

/* Parse a grpc-timeout value ("100m", "5S", "1H"; at most 8 digits) into
 * milliseconds, rounding sub-millisecond values up. -EINVAL when malformed. */
int grpc_timeout_parse(const char *value, size_t len, uint64_t *ret_ms);
/* Format ms as a grpc-timeout value into out (at least 16 bytes). */
void grpc_timeout_format(uint64_t ms, char out[16]);

/* Percent-encode a grpc-message per the gRPC HTTP/2 spec (bytes outside
 * 0x20-0x7E and '%' become %XX). */
void grpc_message_encode(strbuf *out, const char *msg);
/* Decode a percent-encoded grpc-message; malformed escapes stay literal. */
void grpc_message_decode(strbuf *out, const char *msg, size_t len);
