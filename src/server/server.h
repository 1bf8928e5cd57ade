/* The gRPC server: HTTP/2 (libnghttp2) on a listening unix socket, driven by
 * the event loop. Requests are decoded with protobuf-c and dispatched through
 * a table of methods; blocking handlers run on the worker pool.
 *
 * Handler contract: a handler gets the decoded request and either fills
 * *resp with a heap-allocated message (freed by the server with
 * protobuf_c_message_free_unpacked, so every field must be heap-allocated)
 * and returns 0, or returns negative with err set. A server-streaming
 * handler sends with rpc_call_send() and leaves *resp NULL. */
#pragma once

#include "server/loop.h"
#include "server/workers.h"
#include "util/error.h"

#include <protobuf-c/protobuf-c.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct rpc_call rpc_call;

typedef int (*rpc_handler_fn)(rpc_call *call, const ProtobufCMessage *req,
                              ProtobufCMessage **resp, ocid_error *err);

enum {
        RPC_BLOCKING = 0,       /* runs on a worker thread */
        RPC_INLINE = 1 << 0,    /* cheap and non-blocking: runs on the loop */
        RPC_STREAM = 1 << 1,    /* server-streaming */
};

typedef struct {
        const char *path; /* "/runtime.v1.RuntimeService/Version" */
        const ProtobufCMessageDescriptor *input;
        rpc_handler_fn handler; /* NULL: answered UNIMPLEMENTED */
        unsigned flags;
} rpc_method;

/* The handler's view of its call; valid until the handler returns. */
void *rpc_call_context(rpc_call *call);
const char *rpc_call_path(rpc_call *call);
/* True once the client cancelled, went away, or the deadline passed:
 * long-running handlers check it and give up early. */
bool rpc_call_cancelled(rpc_call *call);
/* The same as a flag that blocking code can watch (curl, unpacking). */
const atomic_bool *rpc_call_cancelled_flag(rpc_call *call);
/* Milliseconds left before the call's deadline; UINT64_MAX without one. */
uint64_t rpc_call_remaining_ms(rpc_call *call);
/* Server-streaming: queue one message. Thread-safe. */
int rpc_call_send(rpc_call *call, const ProtobufCMessage *msg, ocid_error *err);

typedef struct server server;

typedef struct {
        const rpc_method *methods;
        size_t n_methods;
        void *context;          /* handed to handlers, not owned */
        size_t max_recv_message;
        size_t max_send_message;
} server_options;

/* Serve on listen_fd (owned from now on). */
int server_new(loop *l, workers *w, int listen_fd, const server_options *opts,
               server **ret);
/* Stop accepting, send GOAWAY, let calls in flight finish; done(data) runs
 * when none is left or after grace_ms, whichever comes first. */
void server_shutdown(server *s, uint64_t grace_ms, void (*done)(void *), void *data);
unsigned server_calls_in_flight(const server *s);
void server_free(server *s);
