/* ocic: a crictl-like client for ocid (and any CRI runtime). */
#include "ocic/ocic.h"
#include "ocic/pbjson.h"
#include "util/cleanup.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ENDPOINT "unix:///run/ocid/ocid.sock"

static const ocic_command commands[] = {
        { "version", cmd_version, "show the runtime's name and version" },
        { "info", cmd_info, "show the runtime's status and configuration" },
        { "runtime-config", cmd_runtime_config, "show the runtime's configuration for the kubelet" },
        { "update-runtime-config", cmd_update_runtime_config, "set the node's pod CIDR" },
        { "pull", cmd_pull, "pull an image from a registry" },
        { "images", cmd_images, "list images" },
        { "inspecti", cmd_inspecti, "show the status of images" },
        { "rmi", cmd_rmi, "remove images" },
        { "imagefsinfo", cmd_imagefsinfo, "show the image filesystem's usage" },
        { "runp", cmd_runp, "run a pod sandbox from a config file" },
        { "stopp", cmd_stopp, "stop pod sandboxes" },
        { "rmp", cmd_rmp, "remove pod sandboxes" },
        { "inspectp", cmd_inspectp, "show the status of pod sandboxes" },
        { "pods", cmd_pods, "list pod sandboxes" },
        { "create", cmd_create, "create a container in a pod" },
        { "start", cmd_start, "start created containers" },
        { "run", cmd_run, "run a container in a new pod" },
        { "stop", cmd_stop, "stop running containers" },
        { "rm", cmd_rm, "remove containers" },
        { "ps", cmd_ps, "list containers" },
        { "inspect", cmd_inspect, "show the status of containers" },
        { "exec", cmd_exec, "run a command in a running container" },
        { "attach", cmd_attach, "attach to a running container" },
        { "port-forward", cmd_port_forward, "forward local ports to a pod" },
        { "logs", cmd_logs, "show a container's logs" },
        { "update", cmd_update, "update a container's resources" },
};

static void usage(FILE *f)
{
        fprintf(f, "Usage: ocic [GLOBAL FLAGS] COMMAND [FLAGS]\n\n"
                   "Global flags:\n"
                   "  -r, --runtime-endpoint URL   runtime service (env CONTAINER_RUNTIME_ENDPOINT,\n"
                   "                               default " DEFAULT_ENDPOINT ")\n"
                   "  -i, --image-endpoint URL     image service (env IMAGE_SERVICE_ENDPOINT,\n"
                   "                               default: the runtime endpoint)\n"
                   "  -t, --timeout DURATION       per-call timeout, e.g. 2s, 500ms (default 2s)\n"
                   "  -D, --debug                  print each call\n"
                   "  -h, --help\n\nCommands:\n");
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
                fprintf(f, "  %-24s %s\n", commands[i].name, commands[i].summary);
}

/* "2s", "500ms", "1m", or plain seconds. */
static int parse_duration(const char *s, uint64_t *ret_ms)
{
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || v < 0)
                return -EINVAL;
        double scale;
        if (!*end || STREQ(end, "s"))
                scale = 1000;
        else if (STREQ(end, "ms"))
                scale = 1;
        else if (STREQ(end, "m"))
                scale = 60000;
        else if (STREQ(end, "h"))
                scale = 3600000;
        else
                return -EINVAL;
        *ret_ms = (uint64_t)(v * scale);
        return 0;
}

static grpc_client **client_for(ocic_ctx *ctx, ocic_service service, const char **endpoint)
{
        if (service == IMAGE_SERVICE && ctx->image_endpoint &&
            !STREQ(ctx->image_endpoint, ctx->runtime_endpoint)) {
                *endpoint = ctx->image_endpoint;
                return &ctx->image;
        }
        *endpoint = ctx->runtime_endpoint;
        return &ctx->runtime;
}

static int call(ocic_ctx *ctx, ocic_service service, const char *method,
                const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                ProtobufCMessage **resp, bool quiet)
{
        const char *endpoint;
        grpc_client **client = client_for(ctx, service, &endpoint);
        ocid_error err = OCID_ERROR_INIT;
        char path[128];
        snprintf(path, sizeof(path), "/runtime.v1.%s/%s",
                 service == IMAGE_SERVICE ? "ImageService" : "RuntimeService", method);
        if (ctx->debug)
                fprintf(stderr, "ocic: calling %s on %s\n", path, endpoint);
        int r = 0;
        if (!*client)
                r = grpc_client_connect(endpoint, ctx->timeout_ms, client, &err);
        if (r == 0)
                r = grpc_client_unary(*client, path, req, resp_desc, ctx->timeout_ms, resp, &err);
        if (r < 0) {
                if (!quiet)
                        fprintf(stderr, "ocic: %s: %s\n", method, err.message ? err.message : "failed");
                ocid_error_clear(&err);
                return -1;
        }
        return 0;
}

int ocic_call(ocic_ctx *ctx, ocic_service service, const char *method,
              const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
              ProtobufCMessage **resp)
{
        return call(ctx, service, method, req, resp_desc, resp, false);
}

int ocic_call_quiet(ocic_ctx *ctx, ocic_service service, const char *method,
                    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                    ProtobufCMessage **resp)
{
        return call(ctx, service, method, req, resp_desc, resp, true);
}

int ocic_usage_error(const char *usage)
{
        fprintf(stderr, "Usage: ocic %s\n", usage);
        return 2;
}

int ocic_parse_output(const char *s, ocic_output *ret)
{
        if (STREQ(s, "json"))
                *ret = OUTPUT_JSON;
        else if (STREQ(s, "yaml"))
                *ret = OUTPUT_YAML;
        else if (STREQ(s, "table"))
                *ret = OUTPUT_TABLE;
        else {
                fprintf(stderr, "ocic: unknown output format '%s' (json, yaml or table)\n", s);
                return -1;
        }
        return 0;
}

void ocic_print(json_object *obj, ocic_output output)
{
        if (output == OUTPUT_YAML) {
                _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
                pbjson_to_yaml(obj, &sb);
                fputs(sb.buf, stdout);
        } else {
                puts(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
                                                         JSON_C_TO_STRING_SPACED |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
        }
        json_object_put(obj);
}

int main(int argc, char **argv)
{
        ocic_ctx ctx = { .timeout_ms = 2000 };
        ctx.runtime_endpoint = getenv("CONTAINER_RUNTIME_ENDPOINT");
        ctx.image_endpoint = getenv("IMAGE_SERVICE_ENDPOINT");
        static const struct option opts[] = {
                { "runtime-endpoint", required_argument, NULL, 'r' },
                { "image-endpoint", required_argument, NULL, 'i' },
                { "timeout", required_argument, NULL, 't' },
                { "debug", no_argument, NULL, 'D' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        int c;
        /* '+': stop at the command; its flags are its own. */
        while ((c = getopt_long(argc, argv, "+r:i:t:Dh", opts, NULL)) != -1) {
                switch (c) {
                case 'r': ctx.runtime_endpoint = optarg; break;
                case 'i': ctx.image_endpoint = optarg; break;
                case 't':
                        if (parse_duration(optarg, &ctx.timeout_ms) < 0) {
                                fprintf(stderr, "ocic: bad --timeout '%s'\n", optarg);
                                return 2;
                        }
                        ctx.timeout_set = true;
                        break;
                case 'D': ctx.debug = true; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (!ctx.runtime_endpoint || !*ctx.runtime_endpoint)
                ctx.runtime_endpoint = DEFAULT_ENDPOINT;
        if (optind >= argc) {
                usage(stderr);
                return 2;
        }
        const char *name = argv[optind];
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
                if (!STREQ(commands[i].name, name))
                        continue;
                int sub_argc = argc - optind;
                char **sub_argv = argv + optind;
                optind = 1;
                int r = commands[i].run(&ctx, sub_argc, sub_argv);
                grpc_client_free(ctx.runtime);
                grpc_client_free(ctx.image);
                return r;
        }
        fprintf(stderr, "ocic: unknown command '%s'\n", name);
        usage(stderr);
        return 2;
}
