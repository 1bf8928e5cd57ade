/* ocic: the command-line client. Shared state and helpers for commands. */
#pragma once

#include "server/client.h"
#include "util/strbuf.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum { OUTPUT_TABLE, OUTPUT_JSON, OUTPUT_YAML } ocic_output;

typedef struct {
        const char *runtime_endpoint;
        const char *image_endpoint;
        uint64_t timeout_ms;
        bool timeout_set;       /* -t given: long calls honour it too */
        bool debug;
        grpc_client *runtime;
        grpc_client *image;
} ocic_ctx;

typedef enum { RUNTIME_SERVICE, IMAGE_SERVICE } ocic_service;

/* Call service/method; on failure print "ocic: <what>: <error>" and return
 * -1. *resp is freed with protobuf_c_message_free_unpacked. */
int ocic_call(ocic_ctx *ctx, ocic_service service, const char *method,
              const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
              ProtobufCMessage **resp);

/* As ocic_call, without printing the error. */
int ocic_call_quiet(ocic_ctx *ctx, ocic_service service, const char *method,
                    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                    ProtobufCMessage **resp);

/* Print "Usage: ocic <usage>" to stderr; returns 2, the exit code for misuse. */
int ocic_usage_error(const char *usage);

/* "json", "yaml" or "table" (also accepted: "" for the command's default). */
int ocic_parse_output(const char *s, ocic_output *ret);
/* Print obj as pretty JSON or YAML. Takes ownership of obj. */
void ocic_print(json_object *obj, ocic_output output);

typedef struct {
        const char *name;
        int (*run)(ocic_ctx *ctx, int argc, char **argv);
        const char *summary;
} ocic_command;

int cmd_version(ocic_ctx *ctx, int argc, char **argv);
int cmd_info(ocic_ctx *ctx, int argc, char **argv);
int cmd_runtime_config(ocic_ctx *ctx, int argc, char **argv);
int cmd_update_runtime_config(ocic_ctx *ctx, int argc, char **argv);
int cmd_pull(ocic_ctx *ctx, int argc, char **argv);
int cmd_images(ocic_ctx *ctx, int argc, char **argv);
int cmd_inspecti(ocic_ctx *ctx, int argc, char **argv);
int cmd_rmi(ocic_ctx *ctx, int argc, char **argv);
int cmd_imagefsinfo(ocic_ctx *ctx, int argc, char **argv);
int cmd_runp(ocic_ctx *ctx, int argc, char **argv);
int cmd_stopp(ocic_ctx *ctx, int argc, char **argv);
int cmd_rmp(ocic_ctx *ctx, int argc, char **argv);
int cmd_inspectp(ocic_ctx *ctx, int argc, char **argv);
int cmd_pods(ocic_ctx *ctx, int argc, char **argv);
int cmd_create(ocic_ctx *ctx, int argc, char **argv);
int cmd_start(ocic_ctx *ctx, int argc, char **argv);
int cmd_run(ocic_ctx *ctx, int argc, char **argv);
int cmd_stop(ocic_ctx *ctx, int argc, char **argv);
int cmd_rm(ocic_ctx *ctx, int argc, char **argv);
int cmd_ps(ocic_ctx *ctx, int argc, char **argv);
int cmd_inspect(ocic_ctx *ctx, int argc, char **argv);
int cmd_exec(ocic_ctx *ctx, int argc, char **argv);
int cmd_logs(ocic_ctx *ctx, int argc, char **argv);
int cmd_update(ocic_ctx *ctx, int argc, char **argv);
int cmd_attach(ocic_ctx *ctx, int argc, char **argv);
int cmd_port_forward(ocic_ctx *ctx, int argc, char **argv);

/* Options of the streaming commands (exec, attach, port-forward). */
typedef struct {
        const char *transport;  /* "spdy" (NULL: the default) or "websocket" */
        bool insecure;          /* https: no certificate verification */
        const char *ca_file;    /* https: the CAs to trust */
} ocic_stream_opts;

/* exec without --sync: the Exec call and its streaming session. Returns
 * the remote command's exit code, 1 or 2 for ocic's own failures. */
int ocic_exec_stream(ocic_ctx *ctx, const ocic_stream_opts *o, const char *container_id, char **cmd,
                     size_t n_cmd, bool interactive, bool tty);

/* Read a CRI config file (JSON or YAML) into a message of type desc;
 * prints the problem and returns -1 on failure. */
int ocic_load_config(const char *path, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret);
