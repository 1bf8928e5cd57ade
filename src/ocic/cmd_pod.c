/* runp, stopp, rmp, inspectp, pods */
#include "ocic/ocic.h"
#include "ocic/pbjson.h"
#include "ocic/table.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"

#include "runtime/v1/api.pb-c.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* A pod config file as crictl takes it: JSON or YAML, snake_case or
 * camelCase field names. */
int ocic_load_config(const char *path, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = fs_read_file(path, 4 << 20, &text, &len);
        if (r < 0) {
                fprintf(stderr, "ocic: cannot read %s: %s\n", path, strerror(-r));
                return -1;
        }
        json_object *doc = NULL;
        _cleanup_free_ char *msg = NULL;
        if (pbjson_parse_document(text, len, &doc, &msg) < 0 ||
            pbjson_to_message(doc, desc, ret, &msg) < 0) {
                fprintf(stderr, "ocic: %s: %s\n", path, msg ? msg : "invalid");
                json_object_put(doc);
                return -1;
        }
        json_object_put(doc);
        return 0;
}

int cmd_runp(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "runtime", required_argument, NULL, 'r' },
                { 0 },
        };
        static const char usage[] = "runp [--runtime HANDLER] POD-CONFIG.json|yaml";
        const char *handler = "";
        int c;
        while ((c = getopt_long(argc, argv, "r:", opts, NULL)) != -1) {
                if (c != 'r')
                        return ocic_usage_error(usage);
                handler = optarg;
        }
        if (optind + 1 != argc)
                return ocic_usage_error(usage);
        Runtime__V1__PodSandboxConfig *cfg;
        if (ocic_load_config(argv[optind], &runtime__v1__pod_sandbox_config__descriptor,
                             (ProtobufCMessage **)&cfg) < 0)
                return 1;
        Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
        req.config = cfg;
        req.runtime_handler = (char *)handler;
        Runtime__V1__RunPodSandboxResponse *resp;
        uint64_t saved = ctx->timeout_ms;
        if (!ctx->timeout_set)
                ctx->timeout_ms = 0; /* CNI plugins may take their time */
        int r = ocic_call(ctx, RUNTIME_SERVICE, "RunPodSandbox", &req.base,
                          &runtime__v1__run_pod_sandbox_response__descriptor, (ProtobufCMessage **)&resp);
        ctx->timeout_ms = saved;
        protobuf_c_message_free_unpacked(&cfg->base, NULL);
        if (r < 0)
                return 1;
        puts(resp->pod_sandbox_id);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return 0;
}

static int list_pods(ocic_ctx *ctx, const Runtime__V1__PodSandboxFilter *filter,
                     Runtime__V1__ListPodSandboxResponse **ret)
{
        Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        req.filter = (Runtime__V1__PodSandboxFilter *)filter;
        return ocic_call(ctx, RUNTIME_SERVICE, "ListPodSandbox", &req.base,
                         &runtime__v1__list_pod_sandbox_response__descriptor, (ProtobufCMessage **)ret);
}

/* Apply `op` (Stop or Remove) to each ID given, or to every pod with --all. */
static int for_each_pod(ocic_ctx *ctx, int argc, char **argv, bool remove)
{
        static const struct option opts[] = {
                { "all", no_argument, NULL, 'a' },
                { "force", no_argument, NULL, 'f' },
                { 0 },
        };
        const char *usage = remove ? "rmp [-a] [-f] POD-ID..." : "stopp POD-ID...";
        bool all = false;
        int c;
        while ((c = getopt_long(argc, argv, remove ? "af" : "", opts, NULL)) != -1) {
                if (c == 'a')
                        all = true;
                else if (c != 'f') /* pods are stopped before removal anyway */
                        return ocic_usage_error(usage);
        }
        _cleanup_strv_ char **ids = NULL;
        for (int i = optind; i < argc; i++)
                ids = strv_push(ids, argv[i]);
        if (all) {
                Runtime__V1__ListPodSandboxResponse *resp;
                if (list_pods(ctx, NULL, &resp) < 0)
                        return 1;
                for (size_t i = 0; i < resp->n_items; i++)
                        ids = strv_push(ids, resp->items[i]->id);
                protobuf_c_message_free_unpacked(&resp->base, NULL);
        } else if (!ids) {
                return ocic_usage_error(usage);
        }
        int status = 0;
        uint64_t saved = ctx->timeout_ms;
        if (!ctx->timeout_set)
                ctx->timeout_ms = 0;
        for (size_t i = 0; ids && ids[i]; i++) {
                ProtobufCMessage *resp;
                int r;
                if (remove) {
                        Runtime__V1__RemovePodSandboxRequest req = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
                        req.pod_sandbox_id = ids[i];
                        r = ocic_call(ctx, RUNTIME_SERVICE, "RemovePodSandbox", &req.base,
                                      &runtime__v1__remove_pod_sandbox_response__descriptor, &resp);
                } else {
                        Runtime__V1__StopPodSandboxRequest req = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
                        req.pod_sandbox_id = ids[i];
                        r = ocic_call(ctx, RUNTIME_SERVICE, "StopPodSandbox", &req.base,
                                      &runtime__v1__stop_pod_sandbox_response__descriptor, &resp);
                }
                if (r < 0) {
                        status = 1;
                        continue;
                }
                protobuf_c_message_free_unpacked(resp, NULL);
                printf("%s sandbox \"%s\"\n", remove ? "Removed" : "Stopped", ids[i]);
        }
        ctx->timeout_ms = saved;
        return status;
}

int cmd_stopp(ocic_ctx *ctx, int argc, char **argv)
{
        return for_each_pod(ctx, argc, argv, false);
}

int cmd_rmp(ocic_ctx *ctx, int argc, char **argv)
{
        return for_each_pod(ctx, argc, argv, true);
}

int cmd_inspectp(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "output", required_argument, NULL, 'o' },
                { 0 },
        };
        ocic_output out = OUTPUT_JSON;
        int c;
        while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1)
                if (c != 'o' || ocic_parse_output(optarg, &out) < 0)
                        return ocic_usage_error("inspectp [-o json|yaml] POD-ID...");
        if (optind >= argc)
                return ocic_usage_error("inspectp [-o json|yaml] POD-ID...");
        for (int i = optind; i < argc; i++) {
                Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
                req.pod_sandbox_id = argv[i];
                req.verbose = true;
                Runtime__V1__PodSandboxStatusResponse *resp;
                if (ocic_call(ctx, RUNTIME_SERVICE, "PodSandboxStatus", &req.base,
                              &runtime__v1__pod_sandbox_status_response__descriptor,
                              (ProtobufCMessage **)&resp) < 0)
                        return 1;
                json_object *obj = json_object_new_object();
                json_object_object_add(obj, "status", pbjson_from_message(&resp->status->base));
                for (size_t j = 0; j < resp->n_info; j++) {
                        json_object *v = json_tokener_parse(resp->info[j]->value);
                        json_object_object_add(obj, resp->info[j]->key,
                                               v ? v : json_object_new_string(resp->info[j]->value));
                }
                ocic_print(obj, out == OUTPUT_TABLE ? OUTPUT_JSON : out);
                protobuf_c_message_free_unpacked(&resp->base, NULL);
        }
        return 0;
}

static void format_age(int64_t created_ns, char out[64])
{
        int64_t secs = (int64_t)time(NULL) - created_ns / 1000000000;
        if (secs < 1)
                snprintf(out, 64, "Less than a second ago");
        else if (secs < 60)
                snprintf(out, 64, "%lld second%s ago", (long long)secs, secs == 1 ? "" : "s");
        else if (secs < 3600)
                snprintf(out, 64, "%lld minute%s ago", (long long)(secs / 60), secs < 120 ? "" : "s");
        else if (secs < 86400)
                snprintf(out, 64, "%lld hour%s ago", (long long)(secs / 3600), secs < 7200 ? "" : "s");
        else
                snprintf(out, 64, "%lld day%s ago", (long long)(secs / 86400), secs < 172800 ? "" : "s");
}

static bool has_label(const Runtime__V1__PodSandbox *p, const char *key, const char *value)
{
        for (size_t i = 0; i < p->n_labels; i++)
                if (STREQ(p->labels[i]->key, key) && STREQ(p->labels[i]->value, value))
                        return true;
        return false;
}

int cmd_pods(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "id", required_argument, NULL, 'i' },
                { "name", required_argument, NULL, 'n' },
                { "namespace", required_argument, NULL, 's' },
                { "label", required_argument, NULL, 'l' },
                { "state", required_argument, NULL, 't' },
                { "quiet", no_argument, NULL, 'q' },
                { "no-trunc", no_argument, NULL, 'N' },
                { "output", required_argument, NULL, 'o' },
                { 0 },
        };
        static const char usage[] =
                "pods [--id ID] [--name NAME] [--namespace NS] [--label K=V]... [--state ready|notready] [-q] [--no-trunc] [-o json|yaml|table]";
        const char *id = NULL, *name = NULL, *ns = NULL, *state = NULL;
        _cleanup_strv_ char **labels = NULL;
        bool quiet = false, no_trunc = false;
        ocic_output out = OUTPUT_TABLE;
        int c;
        while ((c = getopt_long(argc, argv, "qo:", opts, NULL)) != -1) {
                switch (c) {
                case 'i': id = optarg; break;
                case 'n': name = optarg; break;
                case 's': ns = optarg; break;
                case 'l':
                        if (!strchr(optarg, '='))
                                return ocic_usage_error(usage);
                        labels = strv_push(labels, optarg);
                        break;
                case 't': state = optarg; break;
                case 'q': quiet = true; break;
                case 'N': no_trunc = true; break;
                case 'o':
                        if (ocic_parse_output(optarg, &out) < 0)
                                return 2;
                        break;
                default: return ocic_usage_error(usage);
                }
        }
        if (optind != argc)
                return ocic_usage_error(usage);
        Runtime__V1__PodSandboxFilter filter = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
        Runtime__V1__PodSandboxStateValue sv = RUNTIME__V1__POD_SANDBOX_STATE_VALUE__INIT;
        filter.id = (char *)(id ? id : "");
        if (state) {
                if (strcasecmp(state, "ready") == 0)
                        sv.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
                else if (strcasecmp(state, "notready") == 0)
                        sv.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
                else
                        return ocic_usage_error(usage);
                filter.state = &sv;
        }
        size_t n_sel = strv_length(labels);
        Runtime__V1__PodSandboxFilter__LabelSelectorEntry entries[64], *sel[64];
        for (size_t i = 0; i < n_sel && i < 64; i++) {
                runtime__v1__pod_sandbox_filter__label_selector_entry__init(&entries[i]);
                char *eq = strchr(labels[i], '=');
                *eq = '\0';
                entries[i].key = labels[i];
                entries[i].value = eq + 1;
                sel[i] = &entries[i];
        }
        filter.n_label_selector = n_sel < 64 ? n_sel : 64;
        filter.label_selector = sel;
        Runtime__V1__ListPodSandboxResponse *resp;
        if (list_pods(ctx, &filter, &resp) < 0)
                return 1;
        /* Name and namespace filters are the client's, as in crictl. */
        size_t kept = 0;
        for (size_t i = 0; i < resp->n_items; i++) {
                Runtime__V1__PodSandbox *p = resp->items[i];
                bool keep = (!name || strstr(p->metadata->name, name)) &&
                            (!ns || strstr(p->metadata->namespace_, ns));
                for (size_t j = 0; keep && j < n_sel; j++)
                        keep = has_label(p, entries[j].key, entries[j].value);
                if (keep)
                        resp->items[kept++] = p;
                else
                        protobuf_c_message_free_unpacked(&p->base, NULL);
        }
        resp->n_items = kept;
        if (out != OUTPUT_TABLE) {
                ocic_print(pbjson_from_message(&resp->base), out);
        } else if (quiet) {
                for (size_t i = 0; i < resp->n_items; i++)
                        puts(resp->items[i]->id);
        } else {
                table *t = table_new(7, "POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME");
                for (size_t i = 0; i < resp->n_items; i++) {
                        Runtime__V1__PodSandbox *p = resp->items[i];
                        char shown[14], age[64], attempt[16];
                        snprintf(shown, sizeof(shown), "%s", p->id);
                        format_age(p->created_at, age);
                        snprintf(attempt, sizeof(attempt), "%u", p->metadata->attempt);
                        table_add(t, no_trunc ? p->id : shown, age,
                                  p->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY ? "Ready" : "NotReady",
                                  p->metadata->name, p->metadata->namespace_, attempt,
                                  *p->runtime_handler ? p->runtime_handler : "(default)");
                }
                table_print(t);
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return 0;
}
