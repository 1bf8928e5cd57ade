/* version, info, runtime-config, update-runtime-config */
#include "ocic/ocic.h"
#include "ocic/pbjson.h"
#include "util/cleanup.h"

#include "runtime/v1/api.pb-c.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

/* Flags shared by the read-only commands here: -o FORMAT. */
static int parse_output_flag(int argc, char **argv, ocic_output def, ocic_output *ret)
{
        static const struct option opts[] = {
                { "output", required_argument, NULL, 'o' },
                { 0 },
        };
        *ret = def;
        int c;
        while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
                if (c != 'o' || ocic_parse_output(optarg, ret) < 0)
                        return -1;
        }
        if (optind < argc) {
                fprintf(stderr, "ocic: %s: unexpected argument '%s'\n", argv[0], argv[optind]);
                return -1;
        }
        return 0;
}

int cmd_version(ocic_ctx *ctx, int argc, char **argv)
{
        ocic_output out;
        if (parse_output_flag(argc, argv, OUTPUT_TABLE, &out) < 0)
                return 2;
        Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
        req.version = "v1";
        Runtime__V1__VersionResponse *resp;
        if (ocic_call(ctx, RUNTIME_SERVICE, "Version", &req.base,
                      &runtime__v1__version_response__descriptor, (ProtobufCMessage **)&resp) < 0)
                return 1;
        if (out == OUTPUT_TABLE)
                printf("Version:  %s\nRuntimeName:  %s\nRuntimeVersion:  %s\nRuntimeApiVersion:  %s\n",
                       resp->version, resp->runtime_name, resp->runtime_version,
                       resp->runtime_api_version);
        else
                ocic_print(pbjson_from_message(&resp->base), out);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return 0;
}

int cmd_info(ocic_ctx *ctx, int argc, char **argv)
{
        ocic_output out;
        if (parse_output_flag(argc, argv, OUTPUT_JSON, &out) < 0)
                return 2;
        Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;
        req.verbose = true;
        Runtime__V1__StatusResponse *resp;
        if (ocic_call(ctx, RUNTIME_SERVICE, "Status", &req.base,
                      &runtime__v1__status_response__descriptor, (ProtobufCMessage **)&resp) < 0)
                return 1;
        /* Like crictl: the status, then each verbose info entry (JSON text)
         * as a top-level key. */
        json_object *obj = json_object_new_object();
        json_object *status = pbjson_from_message(&resp->base);
        json_object *inner;
        if (json_object_object_get_ex(status, "status", &inner))
                json_object_object_add(obj, "status", json_object_get(inner));
        if (json_object_object_get_ex(status, "runtimeHandlers", &inner))
                json_object_object_add(obj, "runtimeHandlers", json_object_get(inner));
        if (json_object_object_get_ex(status, "features", &inner))
                json_object_object_add(obj, "features", json_object_get(inner));
        json_object_put(status);
        for (size_t i = 0; i < resp->n_info; i++) {
                json_object *v = json_tokener_parse(resp->info[i]->value);
                json_object_object_add(obj, resp->info[i]->key,
                                       v ? v : json_object_new_string(resp->info[i]->value));
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        ocic_print(obj, out == OUTPUT_TABLE ? OUTPUT_JSON : out);
        return 0;
}

int cmd_runtime_config(ocic_ctx *ctx, int argc, char **argv)
{
        ocic_output out;
        if (parse_output_flag(argc, argv, OUTPUT_JSON, &out) < 0)
                return 2;
        Runtime__V1__RuntimeConfigRequest req = RUNTIME__V1__RUNTIME_CONFIG_REQUEST__INIT;
        Runtime__V1__RuntimeConfigResponse *resp;
        if (ocic_call(ctx, RUNTIME_SERVICE, "RuntimeConfig", &req.base,
                      &runtime__v1__runtime_config_response__descriptor,
                      (ProtobufCMessage **)&resp) < 0)
                return 1;
        ocic_print(pbjson_from_message(&resp->base), out == OUTPUT_TABLE ? OUTPUT_JSON : out);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return 0;
}

int cmd_update_runtime_config(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "pod-cidr", required_argument, NULL, 'p' },
                { 0 },
        };
        const char *cidr = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "p:", opts, NULL)) != -1) {
                if (c != 'p')
                        return 2;
                cidr = optarg;
        }
        if (!cidr || optind < argc) {
                fprintf(stderr, "Usage: ocic update-runtime-config --pod-cidr CIDR\n");
                return 2;
        }
        Runtime__V1__NetworkConfig net = RUNTIME__V1__NETWORK_CONFIG__INIT;
        net.pod_cidr = (char *)cidr;
        Runtime__V1__RuntimeConfig rc = RUNTIME__V1__RUNTIME_CONFIG__INIT;
        rc.network_config = &net;
        Runtime__V1__UpdateRuntimeConfigRequest req = RUNTIME__V1__UPDATE_RUNTIME_CONFIG_REQUEST__INIT;
        req.runtime_config = &rc;
        ProtobufCMessage *resp;
        if (ocic_call(ctx, RUNTIME_SERVICE, "UpdateRuntimeConfig", &req.base,
                      &runtime__v1__update_runtime_config_response__descriptor, &resp) < 0)
                return 1;
        protobuf_c_message_free_unpacked(resp, NULL);
        return 0;
}
