/* A blocking gRPC client over HTTP/2 on a unix socket, for ocic and tests.
 * One call at a time per client. */
#pragma once

#include "util/error.h"

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

typedef struct grpc_client grpc_client;

/* endpoint: "unix:///path" or "/path". */
int grpc_client_connect(const char *endpoint, uint64_t timeout_ms, grpc_client **ret,
                        ocid_error *err);
void grpc_client_free(grpc_client *c);

/* Called for each response message. Return 1 to keep the message (the
 * callback then owns it), 0 to have it freed, negative to fail the call. */
typedef int (*grpc_client_message_fn)(ProtobufCMessage *msg, void *data, ocid_error *err);

/* Make a call with a deadline (0: none). A non-OK grpc-status comes back as
 * an error of the corresponding kind carrying the server's message. */
int grpc_client_call(grpc_client *c, const char *path, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, uint64_t timeout_ms,
                     grpc_client_message_fn on_message, void *data, ocid_error *err);

/* A unary call: *ret gets the one response (free with
 * protobuf_c_message_free_unpacked). */
int grpc_client_unary(grpc_client *c, const char *path, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *resp_desc, uint64_t timeout_ms,
                      ProtobufCMessage **ret, ocid_error *err);
