/* create, start, run, stop, rm, ps, inspect, exec, logs, update */
#include "ocic/crilog.h"
#include "ocic/ocic.h"
#include "ocic/pbjson.h"
#include "ocic/table.h"
#include "util/cleanup.h"
#include "util/strv.h"

#include "runtime/v1/api.pb-c.h"

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>

typedef Runtime__V1__ContainerConfig ctr_config;
typedef Runtime__V1__PodSandboxConfig pod_config;

/* Long operations (pulls, creates, stops) get no deadline unless -t was
 * given; returns the timeout to restore. */
static uint64_t long_call(ocic_ctx *ctx)
{
        uint64_t saved = ctx->timeout_ms;
        if (!ctx->timeout_set)
                ctx->timeout_ms = 0;
        return saved;
}

static bool parse_int64(const char *s, int64_t *ret)
{
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || *end)
                return false;
        *ret = v;
        return true;
}

static int64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* docker/go-units HumanDuration, as crictl shows ages. */
static void human_duration(int64_t since_ns, char out[64])
{
        int64_t d = now_ns() - since_ns;
        int64_t secs = d / 1000000000, mins = secs / 60;
        int64_t hours = (int64_t)((double)d / 3.6e12 + 0.5);
        if (secs < 1)
                snprintf(out, 64, "Less than a second");
        else if (secs == 1)
                snprintf(out, 64, "1 second");
        else if (secs < 60)
                snprintf(out, 64, "%lld seconds", (long long)secs);
        else if (mins == 1)
                snprintf(out, 64, "About a minute");
        else if (mins < 60)
                snprintf(out, 64, "%lld minutes", (long long)mins);
        else if (hours == 1)
                snprintf(out, 64, "About an hour");
        else if (hours < 48)
                snprintf(out, 64, "%lld hours", (long long)hours);
        else if (hours < 24 * 7 * 2)
                snprintf(out, 64, "%lld days", (long long)(hours / 24));
        else if (hours < 24 * 30 * 2)
                snprintf(out, 64, "%lld weeks", (long long)(hours / 24 / 7));
        else if (hours < 24 * 365 * 2)
                snprintf(out, 64, "%lld months", (long long)(hours / 24 / 30));
        else
                snprintf(out, 64, "%lld years", (long long)(d / 3600000000000LL / 24 / 365));
}

static const char *state_name(Runtime__V1__ContainerState s)
{
        switch (s) {
        case RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED: return "Created";
        case RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING: return "Running";
        case RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED: return "Exited";
        default: return "Unknown";
        }
}

static const char *state_enum_name(Runtime__V1__ContainerState s)
{
        const ProtobufCEnumValue *v =
                protobuf_c_enum_descriptor_get_value(&runtime__v1__container_state__descriptor, (int)s);
        return v ? v->name : "CONTAINER_UNKNOWN";
}

/* A protoc-c map entry: every XEntry message has this layout. */
typedef struct {
        ProtobufCMessage base;
        char *key;
        char *value;
} kv_entry;

static int kv_cmp(const void *a, const void *b)
{
        return strcmp((*(kv_entry *const *)a)->key, (*(kv_entry *const *)b)->key);
}

static void print_map(const char *title, void *entries, size_t n)
{
        if (!n)
                return;
        kv_entry **sorted = calloc(n, sizeof(*sorted));
        if (!sorted)
                abort();
        memcpy(sorted, entries, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), kv_cmp);
        printf("%s:\n", title);
        for (size_t i = 0; i < n; i++)
                printf("\t%s -> %s\n", sorted[i]->key, sorted[i]->value);
        free(sorted);
}

static const char *pod_name_of(const Runtime__V1__Container *c)
{
        for (size_t i = 0; i < c->n_labels; i++)
                if (STREQ(c->labels[i]->key, "io.kubernetes.pod.name"))
                        return c->labels[i]->value;
        return "unknown";
}

static const char *truncate_id(const char *id, char out[14])
{
        snprintf(out, 14, "%s", id);
        return out;
}

/* crictl shows an image that is a digest ("sha256:<hex>") by its short ID. */
static const char *short_image(const char *image, char out[14])
{
        if (strncmp(image, "sha256:", 7) == 0 && strlen(image) == 7 + 64 &&
            strspn(image + 7, "0123456789abcdef") == 64)
                return truncate_id(image + 7, out);
        return image;
}

static int container_status(ocic_ctx *ctx, const char *id, bool verbose, bool quiet,
                            Runtime__V1__ContainerStatusResponse **ret)
{
        Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        req.container_id = (char *)id;
        req.verbose = verbose;
        int (*fn)(ocic_ctx *, ocic_service, const char *, const ProtobufCMessage *,
                  const ProtobufCMessageDescriptor *, ProtobufCMessage **) = quiet ? ocic_call_quiet : ocic_call;
        int r = fn(ctx, RUNTIME_SERVICE, "ContainerStatus", &req.base,
                   &runtime__v1__container_status_response__descriptor, (ProtobufCMessage **)ret);
        if (r == 0 && !(*ret)->status) {
                protobuf_c_message_free_unpacked(&(*ret)->base, NULL);
                if (!quiet)
                        fprintf(stderr, "ocic: ContainerStatus: no status for container '%s'\n", id);
                return -1;
        }
        return r;
}

static int list_containers(ocic_ctx *ctx, const Runtime__V1__ContainerFilter *filter,
                           Runtime__V1__ListContainersResponse **ret)
{
        Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        req.filter = (Runtime__V1__ContainerFilter *)filter;
        return ocic_call(ctx, RUNTIME_SERVICE, "ListContainers", &req.base,
                         &runtime__v1__list_containers_response__descriptor, (ProtobufCMessage **)ret);
}

/* ---- create, start, run ------------------------------------------------------ */

typedef struct {
        bool with_pull, no_pull;
        bool have_auth;
        Runtime__V1__AuthConfig auth;
        char *creds;
        uint64_t create_timeout_ms; /* 0: the global one (or none) */
        const char *runtime_handler;
} create_opts;

#define PULL_OPTIONS                                                                                  \
        { "no-pull", no_argument, NULL, 'N' }, { "with-pull", no_argument, NULL, 'W' },               \
        { "creds", required_argument, NULL, 'c' }, { "auth", required_argument, NULL, 'A' },          \
        { "username", required_argument, NULL, 'u' }

/* The flags create and run share; 1: not one of them. */
static int parse_create_flag(int c, create_opts *o)
{
        switch (c) {
        case 'N': o->no_pull = true; return 0;
        case 'W': o->with_pull = true; return 0;
        case 'c': {
                free(o->creds);
                o->creds = strdup(optarg);
                if (!o->creds)
                        abort();
                char *colon = strchr(o->creds, ':');
                if (colon)
                        *colon = '\0';
                o->auth.username = o->creds;
                o->auth.password = colon ? colon + 1 : "";
                o->have_auth = true;
                return 0;
        }
        case 'A': o->auth.auth = optarg; o->have_auth = true; return 0;
        case 'u': o->auth.username = optarg; o->have_auth = true; return 0;
        default: return 1;
        }
}

static int parse_timeout_flag(const char *s, uint64_t *ret_ms)
{
        int64_t ns;
        if (crilog_parse_duration(s, &ns) < 0 || ns < 0) {
                /* plain seconds, as crictl's older integer flags */
                int64_t secs;
                if (!parse_int64(s, &secs) || secs < 0) {
                        fprintf(stderr, "ocic: bad timeout '%s' (e.g. 30s, 2m)\n", s);
                        return -1;
                }
                ns = secs * 1000000000;
        }
        *ret_ms = (uint64_t)(ns / 1000000);
        if (*ret_ms == 0 && ns > 0)
                *ret_ms = 1;
        return 0;
}

static int pull_image(ocic_ctx *ctx, const char *image, const pod_config *pcfg, create_opts *o)
{
        Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
        spec.image = (char *)image;
        Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
        req.image = &spec;
        req.sandbox_config = (pod_config *)pcfg;
        if (o->have_auth)
                req.auth = &o->auth;
        ProtobufCMessage *resp;
        uint64_t saved = long_call(ctx);
        int r = ocic_call(ctx, IMAGE_SERVICE, "PullImage", &req.base,
                          &runtime__v1__pull_image_response__descriptor, &resp);
        ctx->timeout_ms = saved;
        if (r < 0)
                return -1;
        protobuf_c_message_free_unpacked(resp, NULL);
        return 0;
}

static bool image_present(ocic_ctx *ctx, const char *image)
{
        Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
        spec.image = (char *)image;
        Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
        req.image = &spec;
        Runtime__V1__ImageStatusResponse *resp;
        if (ocic_call_quiet(ctx, IMAGE_SERVICE, "ImageStatus", &req.base,
                            &runtime__v1__image_status_response__descriptor, (ProtobufCMessage **)&resp) < 0)
                return true; /* let CreateContainer say what is wrong */
        bool present = resp->image != NULL;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return present;
}

/* Pull per the flags: --with-pull always, `run` (pull_if_missing) when the
 * image is not there, never with --no-pull. */
static int ensure_image(ocic_ctx *ctx, const ctr_config *cfg, const pod_config *pcfg, create_opts *o,
                        bool pull_if_missing)
{
        if (o->no_pull || !cfg->image || !*cfg->image->image)
                return 0;
        if (o->with_pull || (pull_if_missing && !image_present(ctx, cfg->image->image)))
                return pull_image(ctx, cfg->image->image, pcfg, o);
        return 0;
}

static int create_container(ocic_ctx *ctx, const char *pod_id, ctr_config *cfg, pod_config *pcfg,
                            create_opts *o, char **ret_id)
{
        Runtime__V1__CreateContainerRequest req = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
        req.pod_sandbox_id = (char *)pod_id;
        req.config = cfg;
        req.sandbox_config = pcfg;
        Runtime__V1__CreateContainerResponse *resp;
        uint64_t saved = long_call(ctx);
        if (o->create_timeout_ms)
                ctx->timeout_ms = o->create_timeout_ms;
        int r = ocic_call(ctx, RUNTIME_SERVICE, "CreateContainer", &req.base,
                          &runtime__v1__create_container_response__descriptor, (ProtobufCMessage **)&resp);
        ctx->timeout_ms = saved;
        if (r < 0)
                return -1;
        *ret_id = strdup(resp->container_id);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return *ret_id ? 0 : -1;
}

static int start_container(ocic_ctx *ctx, const char *id)
{
        Runtime__V1__StartContainerRequest req = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
        req.container_id = (char *)id;
        ProtobufCMessage *resp;
        uint64_t saved = long_call(ctx);
        int r = ocic_call(ctx, RUNTIME_SERVICE, "StartContainer", &req.base,
                          &runtime__v1__start_container_response__descriptor, &resp);
        ctx->timeout_ms = saved;
        if (r < 0)
                return -1;
        protobuf_c_message_free_unpacked(resp, NULL);
        return 0;
}

static int stop_container(ocic_ctx *ctx, const char *id, int64_t timeout, bool quiet)
{
        Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
        req.container_id = (char *)id;
        req.timeout = timeout;
        ProtobufCMessage *resp;
        uint64_t saved = long_call(ctx);
        int r = (quiet ? ocic_call_quiet : ocic_call)(ctx, RUNTIME_SERVICE, "StopContainer", &req.base,
                                                      &runtime__v1__stop_container_response__descriptor, &resp);
        ctx->timeout_ms = saved;
        if (r < 0)
                return -1;
        protobuf_c_message_free_unpacked(resp, NULL);
        return 0;
}

static int remove_container(ocic_ctx *ctx, const char *id, bool quiet)
{
        Runtime__V1__RemoveContainerRequest req = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
        req.container_id = (char *)id;
        ProtobufCMessage *resp;
        uint64_t saved = long_call(ctx);
        int r = (quiet ? ocic_call_quiet : ocic_call)(ctx, RUNTIME_SERVICE, "RemoveContainer", &req.base,
                                                      &runtime__v1__remove_container_response__descriptor, &resp);
        ctx->timeout_ms = saved;
        if (r < 0)
                return -1;
        protobuf_c_message_free_unpacked(resp, NULL);
        return 0;
}

static int load_configs(const char *ctr_path, const char *pod_path, ctr_config **cfg, pod_config **pcfg)
{
        *cfg = NULL;
        *pcfg = NULL;
        if (ocic_load_config(ctr_path, &runtime__v1__container_config__descriptor, (ProtobufCMessage **)cfg) < 0)
                return -1;
        if (ocic_load_config(pod_path, &runtime__v1__pod_sandbox_config__descriptor, (ProtobufCMessage **)pcfg) < 0) {
                protobuf_c_message_free_unpacked(&(*cfg)->base, NULL);
                *cfg = NULL;
                return -1;
        }
        return 0;
}

static void free_configs(ctr_config *cfg, pod_config *pcfg)
{
        if (cfg)
                protobuf_c_message_free_unpacked(&cfg->base, NULL);
        if (pcfg)
                protobuf_c_message_free_unpacked(&pcfg->base, NULL);
}

int cmd_create(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                PULL_OPTIONS,
                { "cancel-timeout", required_argument, NULL, 'T' },
                { 0 },
        };
        static const char usage[] =
                "create [--no-pull | --with-pull] [--creds USER[:PASS] | --auth BASE64] [-T DURATION]\n"
                "            POD-ID CONTAINER-CONFIG.json|yaml POD-CONFIG.json|yaml";
        create_opts o = { .auth = RUNTIME__V1__AUTH_CONFIG__INIT };
        _cleanup_free_ char *id = NULL;
        int c, status = 1;
        while ((c = getopt_long(argc, argv, "T:", opts, NULL)) != -1) {
                if (c == 'T') {
                        if (parse_timeout_flag(optarg, &o.create_timeout_ms) < 0)
                                goto usage;
                } else if (parse_create_flag(c, &o)) {
                        goto usage;
                }
        }
        if (optind + 3 != argc || (o.no_pull && o.with_pull))
                goto usage;
        ctr_config *cfg;
        pod_config *pcfg;
        if (load_configs(argv[optind + 1], argv[optind + 2], &cfg, &pcfg) < 0)
                goto out;
        if (ensure_image(ctx, cfg, pcfg, &o, false) == 0 &&
            create_container(ctx, argv[optind], cfg, pcfg, &o, &id) == 0) {
                puts(id);
                status = 0;
        }
        free_configs(cfg, pcfg);
out:
        free(o.creds);
        return status;
usage:
        free(o.creds);
        return ocic_usage_error(usage);
}

int cmd_start(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = { { 0 } };
        if (getopt_long(argc, argv, "", opts, NULL) != -1 || optind >= argc)
                return ocic_usage_error("start CONTAINER-ID...");
        for (int i = optind; i < argc; i++) {
                if (start_container(ctx, argv[i]) < 0)
                        return 1;
                puts(argv[i]);
        }
        return 0;
}

static void remove_pod_quietly(ocic_ctx *ctx, const char *pod_id)
{
        ProtobufCMessage *resp;
        uint64_t saved = long_call(ctx);
        Runtime__V1__StopPodSandboxRequest sreq = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
        sreq.pod_sandbox_id = (char *)pod_id;
        if (ocic_call_quiet(ctx, RUNTIME_SERVICE, "StopPodSandbox", &sreq.base,
                            &runtime__v1__stop_pod_sandbox_response__descriptor, &resp) == 0)
                protobuf_c_message_free_unpacked(resp, NULL);
        Runtime__V1__RemovePodSandboxRequest rreq = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
        rreq.pod_sandbox_id = (char *)pod_id;
        if (ocic_call_quiet(ctx, RUNTIME_SERVICE, "RemovePodSandbox", &rreq.base,
                            &runtime__v1__remove_pod_sandbox_response__descriptor, &resp) == 0)
                protobuf_c_message_free_unpacked(resp, NULL);
        ctx->timeout_ms = saved;
}

/* Like crictl run: a new pod from POD-CONFIG, the container in it, started.
 * Unlike crictl, a failure removes what this command made. */
int cmd_run(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                PULL_OPTIONS,
                { "runtime", required_argument, NULL, 'r' },
                { "timeout", required_argument, NULL, 't' },
                { 0 },
        };
        static const char usage[] =
                "run [--no-pull | --with-pull] [--creds USER[:PASS] | --auth BASE64] [-r HANDLER] [-t DURATION]\n"
                "            CONTAINER-CONFIG.json|yaml POD-CONFIG.json|yaml";
        create_opts o = { .auth = RUNTIME__V1__AUTH_CONFIG__INIT, .runtime_handler = "" };
        _cleanup_free_ char *id = NULL;
        int c, status = 1;
        while ((c = getopt_long(argc, argv, "r:t:", opts, NULL)) != -1) {
                if (c == 'r') {
                        o.runtime_handler = optarg;
                } else if (c == 't') {
                        if (parse_timeout_flag(optarg, &o.create_timeout_ms) < 0)
                                goto usage;
                } else if (parse_create_flag(c, &o)) {
                        goto usage;
                }
        }
        if (optind + 2 != argc || (o.no_pull && o.with_pull))
                goto usage;
        ctr_config *cfg;
        pod_config *pcfg;
        if (load_configs(argv[optind], argv[optind + 1], &cfg, &pcfg) < 0)
                goto out;
        /* The image first: a failed pull leaves no pod behind. */
        if (ensure_image(ctx, cfg, pcfg, &o, true) < 0)
                goto free;
        Runtime__V1__RunPodSandboxRequest preq = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
        preq.config = pcfg;
        preq.runtime_handler = (char *)o.runtime_handler;
        Runtime__V1__RunPodSandboxResponse *presp;
        uint64_t saved = long_call(ctx);
        int r = ocic_call(ctx, RUNTIME_SERVICE, "RunPodSandbox", &preq.base,
                          &runtime__v1__run_pod_sandbox_response__descriptor, (ProtobufCMessage **)&presp);
        ctx->timeout_ms = saved;
        if (r < 0)
                goto free;
        if (create_container(ctx, presp->pod_sandbox_id, cfg, pcfg, &o, &id) < 0) {
                remove_pod_quietly(ctx, presp->pod_sandbox_id);
        } else if (start_container(ctx, id) < 0) {
                remove_container(ctx, id, true);
                remove_pod_quietly(ctx, presp->pod_sandbox_id);
        } else {
                puts(id);
                status = 0;
        }
        protobuf_c_message_free_unpacked(&presp->base, NULL);
free:
        free_configs(cfg, pcfg);
out:
        free(o.creds);
        return status;
usage:
        free(o.creds);
        return ocic_usage_error(usage);
}

/* ---- stop, rm ------------------------------------------------------------------ */

int cmd_stop(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "timeout", required_argument, NULL, 't' },
                { 0 },
        };
        static const char usage[] = "stop [-t SECONDS] CONTAINER-ID...";
        int64_t timeout = 0;
        int c;
        while ((c = getopt_long(argc, argv, "t:", opts, NULL)) != -1) {
                if (c != 't' || !parse_int64(optarg, &timeout) || timeout < 0)
                        return ocic_usage_error(usage);
        }
        if (optind >= argc)
                return ocic_usage_error(usage);
        int status = 0;
        for (int i = optind; i < argc; i++) {
                if (stop_container(ctx, argv[i], timeout, false) < 0) {
                        status = 1;
                        continue;
                }
                puts(argv[i]);
        }
        return status;
}

int cmd_rm(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "all", no_argument, NULL, 'a' },
                { "force", no_argument, NULL, 'f' },
                { 0 },
        };
        static const char usage[] = "rm [-f] [-a | CONTAINER-ID...]";
        bool all = false, force = false;
        int c;
        while ((c = getopt_long(argc, argv, "af", opts, NULL)) != -1) {
                switch (c) {
                case 'a': all = true; break;
                case 'f': force = true; break;
                default: return ocic_usage_error(usage);
                }
        }
        _cleanup_strv_ char **ids = NULL;
        for (int i = optind; i < argc; i++)
                ids = strv_push(ids, argv[i]);
        if (all) {
                Runtime__V1__ListContainersResponse *resp;
                if (list_containers(ctx, NULL, &resp) < 0)
                        return 1;
                for (size_t i = 0; i < resp->n_containers; i++)
                        if (!strv_contains(ids, resp->containers[i]->id))
                                ids = strv_push(ids, resp->containers[i]->id);
                protobuf_c_message_free_unpacked(&resp->base, NULL);
                if (!ids)
                        return 0;
        } else if (!ids) {
                return ocic_usage_error(usage);
        }
        int status = 0;
        for (size_t i = 0; ids[i]; i++) {
                Runtime__V1__ContainerStatusResponse *st;
                if (container_status(ctx, ids[i], false, false, &st) < 0) {
                        status = 1;
                        continue;
                }
                bool running = st->status->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
                protobuf_c_message_free_unpacked(&st->base, NULL);
                if (running && !force) {
                        fprintf(stderr, "ocic: container %s is running, stop it first or use --force\n", ids[i]);
                        status = 1;
                        continue;
                }
                if (running && stop_container(ctx, ids[i], 0, false) < 0) {
                        status = 1;
                        continue;
                }
                if (remove_container(ctx, ids[i], false) < 0) {
                        status = 1;
                        continue;
                }
                puts(ids[i]);
        }
        return status;
}

/* ---- ps, inspect --------------------------------------------------------------------- */

static int by_created_desc(const void *a, const void *b)
{
        const Runtime__V1__Container *x = *(Runtime__V1__Container *const *)a;
        const Runtime__V1__Container *y = *(Runtime__V1__Container *const *)b;
        return x->created_at < y->created_at ? 1 : x->created_at > y->created_at ? -1 : 0;
}

/* The ID of an image as the image service knows it, or NULL. */
static char *image_id_of(ocic_ctx *ctx, const char *image)
{
        Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
        spec.image = (char *)image;
        Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
        req.image = &spec;
        Runtime__V1__ImageStatusResponse *resp;
        if (ocic_call_quiet(ctx, IMAGE_SERVICE, "ImageStatus", &req.base,
                            &runtime__v1__image_status_response__descriptor, (ProtobufCMessage **)&resp) < 0)
                return NULL;
        char *id = resp->image ? strdup(resp->image->id) : NULL;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return id;
}

static bool image_matches(const Runtime__V1__Container *c, const char *filter, const char *filter_id)
{
        const char *img = c->image ? c->image->image : "";
        if (STREQ(img, filter) || STREQ(c->image_ref, filter) || STREQ(c->image_id, filter))
                return true;
        return filter_id && (STREQ(c->image_ref, filter_id) || STREQ(c->image_id, filter_id) || STREQ(img, filter_id));
}

int cmd_ps(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "all", no_argument, NULL, 'a' },
                { "id", required_argument, NULL, 'I' },
                { "pod", required_argument, NULL, 'p' },
                { "state", required_argument, NULL, 's' },
                { "label", required_argument, NULL, 'L' },
                { "name", required_argument, NULL, 'm' },
                { "image", required_argument, NULL, 'i' },
                { "latest", no_argument, NULL, 'l' },
                { "last", required_argument, NULL, 'n' },
                { "quiet", no_argument, NULL, 'q' },
                { "verbose", no_argument, NULL, 'v' },
                { "no-trunc", no_argument, NULL, 'T' },
                { "output", required_argument, NULL, 'o' },
                { 0 },
        };
        static const char usage[] =
                "ps [-a] [--id ID] [-p POD-ID] [-s created|running|exited|unknown] [--label K=V]...\n"
                "          [--name REGEX] [--image IMAGE] [-l | -n N] [-q] [-v] [--no-trunc] [-o json|yaml|table]";
        const char *id = NULL, *pod = NULL, *state = NULL, *name = NULL, *image = NULL;
        _cleanup_strv_ char **labels = NULL;
        bool all = false, quiet = false, verbose = false, no_trunc = false;
        int64_t last = 0;
        ocic_output out = OUTPUT_TABLE;
        int c;
        while ((c = getopt_long(argc, argv, "ap:s:ln:qvo:", opts, NULL)) != -1) {
                switch (c) {
                case 'a': all = true; break;
                case 'I': id = optarg; break;
                case 'p': pod = optarg; break;
                case 's': state = optarg; break;
                case 'L':
                        if (!strchr(optarg, '='))
                                return ocic_usage_error(usage);
                        labels = strv_push(labels, optarg);
                        break;
                case 'm': name = optarg; break;
                case 'i': image = optarg; break;
                case 'l': last = 1; break;
                case 'n':
                        if (!parse_int64(optarg, &last) || last < 0)
                                return ocic_usage_error(usage);
                        break;
                case 'q': quiet = true; break;
                case 'v': verbose = true; break;
                case 'T': no_trunc = true; break;
                case 'o':
                        if (ocic_parse_output(optarg, &out) < 0)
                                return 2;
                        break;
                default: return ocic_usage_error(usage);
                }
        }
        if (optind != argc)
                return ocic_usage_error(usage);
        Runtime__V1__ContainerFilter filter = RUNTIME__V1__CONTAINER_FILTER__INIT;
        Runtime__V1__ContainerStateValue sv = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
        filter.id = (char *)(id ? id : "");
        filter.pod_sandbox_id = (char *)(pod ? pod : "");
        if (state) {
                if (strcasecmp(state, "created") == 0)
                        sv.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
                else if (strcasecmp(state, "running") == 0)
                        sv.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
                else if (strcasecmp(state, "exited") == 0)
                        sv.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
                else if (strcasecmp(state, "unknown") == 0)
                        sv.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
                else {
                        fprintf(stderr, "ocic: --state should be one of created, running, exited or unknown\n");
                        return 2;
                }
                filter.state = &sv;
        } else if (!all && last == 0) {
                /* crictl: only running containers unless -a (or -l/-n) */
                sv.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
                filter.state = &sv;
        }
        size_t n_sel = strv_length(labels);
        Runtime__V1__ContainerFilter__LabelSelectorEntry *entries = calloc(n_sel + 1, sizeof(*entries));
        Runtime__V1__ContainerFilter__LabelSelectorEntry **sel = calloc(n_sel + 1, sizeof(*sel));
        if (!entries || !sel)
                abort();
        for (size_t i = 0; i < n_sel; i++) {
                runtime__v1__container_filter__label_selector_entry__init(&entries[i]);
                char *eq = strchr(labels[i], '=');
                *eq = '\0';
                entries[i].key = labels[i];
                entries[i].value = eq + 1;
                sel[i] = &entries[i];
        }
        filter.n_label_selector = n_sel;
        filter.label_selector = sel;
        regex_t re;
        if (name && regcomp(&re, name, REG_EXTENDED | REG_NOSUB) != 0) {
                fprintf(stderr, "ocic: --name: invalid regular expression '%s'\n", name);
                free(entries);
                free(sel);
                return 2;
        }
        Runtime__V1__ListContainersResponse *resp;
        int r = list_containers(ctx, &filter, &resp);
        free(entries);
        free(sel);
        if (r < 0) {
                if (name)
                        regfree(&re);
                return 1;
        }
        _cleanup_free_ char *image_id = image ? image_id_of(ctx, image) : NULL;
        /* Name and image filters are the client's, as in crictl. */
        size_t kept = 0;
        for (size_t i = 0; i < resp->n_containers; i++) {
                Runtime__V1__Container *ctr = resp->containers[i];
                bool keep = (!name || regexec(&re, ctr->metadata ? ctr->metadata->name : "", 0, NULL, 0) == 0) &&
                            (!image || image_matches(ctr, image, image_id));
                if (keep)
                        resp->containers[kept++] = ctr;
                else
                        protobuf_c_message_free_unpacked(&ctr->base, NULL);
        }
        resp->n_containers = kept;
        if (name)
                regfree(&re);
        qsort(resp->containers, resp->n_containers, sizeof(*resp->containers), by_created_desc);
        if (last > 0 && resp->n_containers > (size_t)last) {
                for (size_t i = (size_t)last; i < resp->n_containers; i++)
                        protobuf_c_message_free_unpacked(&resp->containers[i]->base, NULL);
                resp->n_containers = (size_t)last;
        }
        if (out != OUTPUT_TABLE) {
                ocic_print(pbjson_from_message(&resp->base), out);
        } else if (quiet) {
                for (size_t i = 0; i < resp->n_containers; i++)
                        puts(resp->containers[i]->id);
        } else if (verbose) {
                for (size_t i = 0; i < resp->n_containers; i++) {
                        Runtime__V1__Container *ctr = resp->containers[i];
                        char sid[14], spod[14], age[64];
                        human_duration(ctr->created_at, age);
                        printf("ID: %s\nPodID: %s\n", no_trunc ? ctr->id : truncate_id(ctr->id, sid),
                               no_trunc ? ctr->pod_sandbox_id : truncate_id(ctr->pod_sandbox_id, spod));
                        if (ctr->metadata) {
                                if (*ctr->metadata->name)
                                        printf("Name: %s\n", ctr->metadata->name);
                                printf("Attempt: %u\n", ctr->metadata->attempt);
                        }
                        printf("State: %s\n", state_name(ctr->state));
                        if (ctr->image)
                                printf("Image: %s\n", ctr->image->image);
                        printf("Created: %s\n", age);
                        print_map("Labels", ctr->labels, ctr->n_labels);
                        print_map("Annotations", ctr->annotations, ctr->n_annotations);
                        putchar('\n');
                }
        } else {
                table *t = table_new(8, "CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD");
                for (size_t i = 0; i < resp->n_containers; i++) {
                        Runtime__V1__Container *ctr = resp->containers[i];
                        char sid[14], spod[14], simg[14], age[80], attempt[16];
                        human_duration(ctr->created_at, age);
                        strcat(age, " ago");
                        snprintf(attempt, sizeof(attempt), "%u", ctr->metadata ? ctr->metadata->attempt : 0);
                        const char *img = ctr->image ? ctr->image->image : "";
                        table_add(t, no_trunc ? ctr->id : truncate_id(ctr->id, sid),
                                  no_trunc ? img : short_image(img, simg), age, state_name(ctr->state),
                                  ctr->metadata ? ctr->metadata->name : "", attempt,
                                  no_trunc ? ctr->pod_sandbox_id : truncate_id(ctr->pod_sandbox_id, spod),
                                  pod_name_of(ctr));
                }
                table_print(t);
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return 0;
}

int cmd_inspect(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "output", required_argument, NULL, 'o' },
                { "quiet", no_argument, NULL, 'q' },
                { 0 },
        };
        static const char usage[] = "inspect [-o json|yaml|table] [-q] CONTAINER-ID...";
        ocic_output out = OUTPUT_JSON;
        bool quiet = false;
        int c;
        while ((c = getopt_long(argc, argv, "o:q", opts, NULL)) != -1) {
                if (c == 'q')
                        quiet = true;
                else if (c != 'o' || ocic_parse_output(optarg, &out) < 0)
                        return ocic_usage_error(usage);
        }
        if (optind >= argc)
                return ocic_usage_error(usage);
        int status = 0;
        for (int i = optind; i < argc; i++) {
                Runtime__V1__ContainerStatusResponse *resp;
                if (container_status(ctx, argv[i], !quiet, false, &resp) < 0) {
                        status = 1;
                        continue;
                }
                const Runtime__V1__ContainerStatus *s = resp->status;
                if (out == OUTPUT_TABLE) {
                        char age[64];
                        printf("ID: %s\n", s->id);
                        if (s->metadata && *s->metadata->name)
                                printf("Name: %s\n", s->metadata->name);
                        if (s->metadata && s->metadata->attempt)
                                printf("Attempt: %u\n", s->metadata->attempt);
                        printf("State: %s\n", state_enum_name(s->state));
                        human_duration(s->created_at, age);
                        printf("Created: %s ago\n", age);
                        if (s->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED) {
                                human_duration(s->started_at, age);
                                printf("Started: %s ago\n", age);
                        }
                        if (s->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED) {
                                if (s->finished_at > 0) {
                                        human_duration(s->finished_at, age);
                                        printf("Finished: %s ago\n", age);
                                }
                                printf("Exit Code: %d\n", s->exit_code);
                                if (*s->reason)
                                        printf("Reason: %s\n", s->reason);
                        }
                        print_map("Labels", s->labels, s->n_labels);
                        print_map("Annotations", s->annotations, s->n_annotations);
                } else {
                        /* Like crictl: the status, then each verbose info
                         * entry (JSON text) as a top-level key. */
                        json_object *obj = json_object_new_object();
                        json_object_object_add(obj, "status", pbjson_from_message(&s->base));
                        for (size_t j = 0; j < resp->n_info; j++) {
                                json_object *v = json_tokener_parse(resp->info[j]->value);
                                json_object_object_add(obj, resp->info[j]->key,
                                                       v ? v : json_object_new_string(resp->info[j]->value));
                        }
                        ocic_print(obj, out);
                }
                protobuf_c_message_free_unpacked(&resp->base, NULL);
        }
        return status;
}

/* ---- exec, update ------------------------------------------------------------------ */

static void write_all(FILE *f, const uint8_t *data, size_t len)
{
        if (len && fwrite(data, 1, len, f) != len)
                return;
        fflush(f);
}

/* Without --sync, the streaming Exec (cmd_stream.c), as crictl does; with
 * it, ExecSync: output collected, then printed. */
int cmd_exec(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "sync", no_argument, NULL, 's' },
                { "timeout", required_argument, NULL, 'T' },
                { "interactive", no_argument, NULL, 'i' },
                { "tty", no_argument, NULL, 't' },
                { "transport", required_argument, NULL, 'X' },
                { "insecure", no_argument, NULL, 'K' },
                { "cacert", required_argument, NULL, 'C' },
                { 0 },
        };
        static const char usage[] =
                "exec [-i|--interactive] [-t|--tty] [--transport spdy|websocket] [--insecure]\n"
                "            [--cacert FILE] CONTAINER-ID COMMAND [ARG...]\n"
                "       ocic exec -s|--sync [--timeout SECONDS] CONTAINER-ID COMMAND [ARG...]";
        int64_t timeout = 0;
        bool sync = false, interactive = false, tty = false, stream_flags = false;
        ocic_stream_opts so = { 0 };
        int c;
        /* '+': the command's own flags are not ours. */
        while ((c = getopt_long(argc, argv, "+sit", opts, NULL)) != -1) {
                switch (c) {
                case 's': sync = true; break;
                case 'T':
                        if (!parse_int64(optarg, &timeout) || timeout < 0)
                                return ocic_usage_error(usage);
                        break;
                case 'i': interactive = true; break;
                case 't': tty = true; break;
                case 'X': so.transport = optarg; stream_flags = true; break;
                case 'K': so.insecure = true; stream_flags = true; break;
                case 'C': so.ca_file = optarg; stream_flags = true; break;
                default: return ocic_usage_error(usage);
                }
        }
        if (argc - optind < 2)
                return ocic_usage_error(usage);
        if (!sync)
                return ocic_exec_stream(ctx, &so, argv[optind], argv + optind + 1, (size_t)(argc - optind - 1),
                                        interactive, tty);
        if (interactive || tty || stream_flags) {
                fprintf(stderr, "ocic: exec: -i, -t, --transport, --insecure and --cacert are for the "
                                "streaming exec, not --sync\n");
                return 2;
        }
        Runtime__V1__ExecSyncRequest req = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
        req.container_id = argv[optind];
        req.cmd = argv + optind + 1;
        req.n_cmd = (size_t)(argc - optind - 1);
        req.timeout = timeout;
        Runtime__V1__ExecSyncResponse *resp;
        /* The daemon enforces --timeout; the call itself waits for it. */
        uint64_t saved = long_call(ctx);
        int r = ocic_call(ctx, RUNTIME_SERVICE, "ExecSync", &req.base,
                          &runtime__v1__exec_sync_response__descriptor, (ProtobufCMessage **)&resp);
        ctx->timeout_ms = saved;
        if (r < 0)
                return 1;
        write_all(stdout, resp->stdout.data, resp->stdout.len);
        write_all(stderr, resp->stderr.data, resp->stderr.len);
        int code = resp->exit_code;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return code;
}

/* Bytes, or with a k/m/g suffix (binary, as docker's --memory). */
static bool parse_bytes(const char *s, int64_t *ret)
{
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || v < 0)
                return false;
        int64_t mult = 1;
        if (*end) {
                switch (*end | 0x20) {
                case 'b': mult = 1; break;
                case 'k': mult = 1LL << 10; break;
                case 'm': mult = 1LL << 20; break;
                case 'g': mult = 1LL << 30; break;
                default: return false;
                }
                end++;
                if ((*end | 0x20) == 'b' && mult > 1)
                        end++;
                if (*end)
                        return false;
        }
        if (v > INT64_MAX / mult)
                return false;
        *ret = v * mult;
        return true;
}

int cmd_update(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "cpu-period", required_argument, NULL, 'P' },
                { "cpu-quota", required_argument, NULL, 'Q' },
                { "cpu-share", required_argument, NULL, 'S' },
                { "cpuset-cpus", required_argument, NULL, 'C' },
                { "cpuset-mems", required_argument, NULL, 'M' },
                { "memory", required_argument, NULL, 'm' },
                { 0 },
        };
        static const char usage[] =
                "update [--cpu-period N] [--cpu-quota N] [--cpu-share N] [--cpuset-cpus LIST]\n"
                "            [--cpuset-mems LIST] [--memory BYTES] CONTAINER-ID...";
        Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
        int c;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                bool ok = true;
                switch (c) {
                case 'P': ok = parse_int64(optarg, &res.cpu_period) && res.cpu_period >= 0; break;
                case 'Q': ok = parse_int64(optarg, &res.cpu_quota); break;
                case 'S': ok = parse_int64(optarg, &res.cpu_shares) && res.cpu_shares >= 0; break;
                case 'C': res.cpuset_cpus = optarg; break;
                case 'M': res.cpuset_mems = optarg; break;
                case 'm': ok = parse_bytes(optarg, &res.memory_limit_in_bytes); break;
                default: ok = false;
                }
                if (!ok)
                        return ocic_usage_error(usage);
        }
        if (optind >= argc)
                return ocic_usage_error(usage);
        int status = 0;
        for (int i = optind; i < argc; i++) {
                Runtime__V1__UpdateContainerResourcesRequest req = RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_REQUEST__INIT;
                req.container_id = argv[i];
                req.linux = &res;
                ProtobufCMessage *resp;
                uint64_t saved = long_call(ctx);
                int r = ocic_call(ctx, RUNTIME_SERVICE, "UpdateContainerResources", &req.base,
                                  &runtime__v1__update_container_resources_response__descriptor, &resp);
                ctx->timeout_ms = saved;
                if (r < 0) {
                        status = 1;
                        continue;
                }
                protobuf_c_message_free_unpacked(resp, NULL);
                puts(argv[i]);
        }
        return status;
}

/* ---- logs ------------------------------------------------------------------------------- */

/* A raw line longer than this (no newline in sight) is not a CRI record:
 * skipped up to its newline. */
#define RAW_LINE_MAX (16u << 20)

typedef struct {
        crilog_stream stream;
        crilog_time time;
        char *text;
        size_t len;
        bool complete;
        bool at_start; /* the start of a line: gets the timestamp */
} saved_line;

typedef struct {
        ocic_ctx *ctx;
        const char *id;
        const char *path;
        /* options */
        bool follow, timestamps, reverse;
        int64_t tail;  /* < 0: all */
        int64_t limit; /* < 0: none */
        bool has_since;
        int64_t since_ns;
        int only_stream; /* -1: both */
        /* output */
        int64_t written;
        bool limit_hit;
        FILE *last_out;
        bool mid_line[2];   /* the stream's last line was cut: no timestamp next */
        bool keep_cont[2];  /* the filter's verdict for the cut line */
        /* --tail and --reverse: the kept lines, a ring of at most tail */
        bool collecting;
        saved_line *ring;
        size_t ring_cap, ring_len, ring_head;
        crilog_joiner joiner;
        /* the file */
        int fd;
        dev_t dev;
        ino_t ino;
        off_t off;
        char *raw;
        size_t raw_len, raw_cap;
        bool discarding;
} logs_state;

static void out_bytes(logs_state *st, FILE *f, const char *data, size_t len)
{
        if (st->limit >= 0) {
                int64_t room = st->limit - st->written;
                if (room <= 0) {
                        st->limit_hit = true;
                        return;
                }
                if ((int64_t)len >= room) {
                        len = (size_t)room;
                        st->limit_hit = true;
                }
        }
        if (len)
                fwrite(data, 1, len, f);
        st->written += (int64_t)len;
}

static void print_line(logs_state *st, crilog_stream stream, const crilog_time *t, const char *text, size_t len,
                       bool complete, bool at_start)
{
        FILE *f = stream == CRILOG_STDERR ? stderr : stdout;
        if (st->last_out && st->last_out != f)
                fflush(st->last_out);
        st->last_out = f;
        if (st->timestamps && at_start) {
                char ts[CRILOG_TIME_MAX + 1];
                size_t n = crilog_format_time(t, ts);
                ts[n++] = ' ';
                out_bytes(st, f, ts, n);
        }
        out_bytes(st, f, text, len);
        if (complete)
                out_bytes(st, f, "\n", 1);
}

static void save_line(logs_state *st, const crilog_line *l, bool at_start)
{
        if (st->tail == 0)
                return;
        saved_line *s;
        if (st->tail > 0 && st->ring_len == (size_t)st->tail) {
                /* full: overwrite the oldest */
                s = &st->ring[st->ring_head];
                free(s->text);
                st->ring_head = (st->ring_head + 1) % st->ring_len;
        } else {
                if (st->ring_len == st->ring_cap) {
                        size_t cap = st->ring_cap ? st->ring_cap * 2 : 64;
                        if (st->tail > 0 && cap > (size_t)st->tail)
                                cap = (size_t)st->tail;
                        st->ring = realloc(st->ring, cap * sizeof(*st->ring));
                        if (!st->ring)
                                abort();
                        st->ring_cap = cap;
                }
                s = &st->ring[st->ring_len++];
        }
        *s = (saved_line){ .stream = l->stream, .time = l->time, .len = l->len, .complete = l->complete,
                           .at_start = at_start };
        s->text = malloc(l->len + 1);
        if (!s->text)
                abort();
        memcpy(s->text, l->text, l->len);
}

static void print_saved(logs_state *st)
{
        for (size_t i = 0; i < st->ring_len && !st->limit_hit; i++) {
                size_t k = st->reverse ? st->ring_len - 1 - i : i;
                saved_line *s = &st->ring[(st->ring_head + k) % st->ring_len];
                print_line(st, s->stream, &s->time, s->text, s->len, s->complete, s->at_start);
        }
        for (size_t i = 0; i < st->ring_len; i++)
                free(st->ring[i].text);
        free(st->ring);
        st->ring = NULL;
        st->ring_len = st->ring_cap = st->ring_head = 0;
}

static void handle_line(logs_state *st, const crilog_line *l)
{
        int s = l->stream;
        bool at_start = !st->mid_line[s];
        bool keep;
        if (at_start)
                keep = (st->only_stream < 0 || st->only_stream == s) &&
                       (!st->has_since || crilog_time_ns(&l->time) >= st->since_ns);
        else
                keep = st->keep_cont[s];
        st->mid_line[s] = !l->complete;
        st->keep_cont[s] = keep;
        if (!keep)
                return;
        if (st->collecting)
                save_line(st, l, at_start);
        else
                print_line(st, l->stream, &l->time, l->text, l->len, l->complete, at_start);
}

static void handle_raw(logs_state *st, const char *line, size_t len)
{
        crilog_record rec;
        const char *why;
        if (crilog_parse(line, len, &rec, &why) < 0) {
                if (len && line[len - 1] == '\n')
                        len--;
                if (st->ctx->debug)
                        fprintf(stderr, "ocic: %s: skipping a malformed line (%s): %.*s\n", st->path, why,
                                (int)(len > 80 ? 80 : len), line);
                return;
        }
        crilog_line out;
        if (crilog_joiner_add(&st->joiner, &rec, &out))
                handle_line(st, &out);
}

static void flush_joiner(logs_state *st)
{
        crilog_line out;
        for (int s = 0; s < 2; s++)
                if (crilog_joiner_flush(&st->joiner, (crilog_stream)s, &out))
                        handle_line(st, &out);
}

/* Split st->raw into lines; the unfinished tail stays. */
static void process_raw(logs_state *st)
{
        size_t start = 0;
        while (start < st->raw_len && !st->limit_hit) {
                char *nl = memchr(st->raw + start, '\n', st->raw_len - start);
                if (!nl)
                        break;
                size_t len = (size_t)(nl - (st->raw + start)) + 1;
                if (st->discarding)
                        st->discarding = false;
                else
                        handle_raw(st, st->raw + start, len);
                start += len;
        }
        memmove(st->raw, st->raw + start, st->raw_len - start);
        st->raw_len -= start;
        if (st->raw_len > RAW_LINE_MAX) {
                if (st->ctx->debug)
                        fprintf(stderr, "ocic: %s: skipping a line longer than %u bytes\n", st->path, RAW_LINE_MAX);
                st->raw_len = 0;
                st->discarding = true;
        }
}

/* The file's last line, if it has no newline: at the end of its life. */
static void finish_raw(logs_state *st)
{
        if (st->raw_len && !st->discarding)
                handle_raw(st, st->raw, st->raw_len);
        st->raw_len = 0;
        st->discarding = false;
}

/* Read what the file has now. Returns bytes read, or -1. */
static ssize_t read_available(logs_state *st)
{
        ssize_t total = 0;
        while (!st->limit_hit) {
                if (st->raw_cap - st->raw_len < 65536) {
                        st->raw_cap = st->raw_cap ? st->raw_cap * 2 : 131072;
                        st->raw = realloc(st->raw, st->raw_cap);
                        if (!st->raw)
                                abort();
                }
                ssize_t n = read(st->fd, st->raw + st->raw_len, st->raw_cap - st->raw_len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        fprintf(stderr, "ocic: logs: reading %s: %s\n", st->path, strerror(errno));
                        return -1;
                }
                if (n == 0)
                        break;
                st->raw_len += (size_t)n;
                st->off += n;
                total += n;
                process_raw(st);
                /* keep the buffer from growing without bound on huge files */
                if (st->raw_cap > (size_t)RAW_LINE_MAX * 2 + 131072 && st->raw_len < 65536) {
                        st->raw_cap = 131072;
                        st->raw = realloc(st->raw, st->raw_cap);
                        if (!st->raw)
                                abort();
                }
        }
        return total;
}

static int open_log(logs_state *st)
{
        int fd = open(st->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct stat sb;
        if (fstat(fd, &sb) < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        if (st->fd >= 0)
                close(st->fd);
        st->fd = fd;
        st->dev = sb.st_dev;
        st->ino = sb.st_ino;
        st->off = 0;
        return 0;
}

/* Still worth waiting for output: created or running. */
static bool container_alive(logs_state *st)
{
        Runtime__V1__ContainerStatusResponse *resp;
        if (container_status(st->ctx, st->id, false, true, &resp) < 0)
                return false; /* gone */
        Runtime__V1__ContainerState s = resp->status->state;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return s == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING ||
               s == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
}

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait up to ms for the log directory to change. */
static void wait_change(int ino_fd, int ms)
{
        if (ino_fd < 0) {
                struct timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000000L };
                nanosleep(&ts, NULL);
                return;
        }
        struct pollfd pfd = { .fd = ino_fd, .events = POLLIN };
        if (poll(&pfd, 1, ms) > 0) {
                char buf[4096];
                while (read(ino_fd, buf, sizeof(buf)) > 0)
                        ;
        }
}

static int watch_dir(const char *path)
{
        int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (fd < 0)
                return -1;
        _cleanup_free_ char *dir = strdup(path);
        if (!dir)
                abort();
        char *slash = strrchr(dir, '/');
        if (slash == dir)
                slash[1] = '\0';
        else if (slash)
                *slash = '\0';
        else
                strcpy(dir, ".");
        /* Events of the files inside too: writes, rotation, creation. */
        if (inotify_add_watch(fd, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                               IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

static int follow_log(logs_state *st)
{
        _cleanup_close_ int ino_fd = watch_dir(st->path);
        int64_t last_check = INT64_MIN / 2;
        bool stopping = false;
        while (!st->limit_hit) {
                if (st->fd >= 0) {
                        ssize_t n = read_available(st);
                        if (n < 0)
                                return 1;
                        if (n > 0) {
                                fflush(stdout);
                                fflush(stderr);
                                continue;
                        }
                }
                /* At the end of the file: replaced (rotated), truncated? */
                struct stat sb;
                if (stat(st->path, &sb) == 0 && (st->fd < 0 || sb.st_ino != st->ino || sb.st_dev != st->dev)) {
                        finish_raw(st);
                        int r = open_log(st);
                        if (r == 0)
                                continue;
                        if (r != -ENOENT) {
                                fprintf(stderr, "ocic: logs: cannot open %s: %s\n", st->path, strerror(-r));
                                return 1;
                        }
                }
                if (st->fd >= 0 && fstat(st->fd, &sb) == 0 && sb.st_size < st->off) {
                        /* truncated in place (copytruncate) */
                        lseek(st->fd, 0, SEEK_SET);
                        st->off = 0;
                        st->raw_len = 0;
                        st->discarding = false;
                        continue;
                }
                if (stopping)
                        break;
                int64_t now = mono_ms();
                if (now - last_check >= 500) {
                        last_check = now;
                        if (!container_alive(st)) {
                                /* one more pass: what was written before it stopped */
                                stopping = true;
                                continue;
                        }
                }
                wait_change(ino_fd, 500);
        }
        finish_raw(st);
        flush_joiner(st);
        return 0;
}

int cmd_logs(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "follow", no_argument, NULL, 'f' },
                { "tail", required_argument, NULL, 'T' },
                { "timestamps", no_argument, NULL, 't' },
                { "since", required_argument, NULL, 'S' },
                { "limit-bytes", required_argument, NULL, 'L' },
                { "previous", no_argument, NULL, 'p' },
                { "reverse", no_argument, NULL, 'r' },
                { "stream", required_argument, NULL, 's' },
                { 0 },
        };
        static const char usage[] =
                "logs [-f] [--tail N] [-t] [--since TIME|DURATION] [--limit-bytes N] [-p] [-r]\n"
                "          [--stream stdout|stderr] CONTAINER-ID";
        logs_state st = { .ctx = ctx, .tail = -1, .limit = -1, .only_stream = -1, .fd = -1 };
        bool previous = false;
        const char *since = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "ftpr", opts, NULL)) != -1) {
                switch (c) {
                case 'f': st.follow = true; break;
                case 't': st.timestamps = true; break;
                case 'p': previous = true; break;
                case 'r': st.reverse = true; break;
                case 'T':
                        if (!parse_int64(optarg, &st.tail))
                                return ocic_usage_error(usage);
                        if (st.tail < 0)
                                st.tail = -1;
                        break;
                case 'L':
                        if (!parse_int64(optarg, &st.limit))
                                return ocic_usage_error(usage);
                        if (st.limit < 0)
                                st.limit = -1;
                        break;
                case 'S': since = optarg; break;
                case 's':
                        if (STREQ(optarg, "stdout"))
                                st.only_stream = CRILOG_STDOUT;
                        else if (STREQ(optarg, "stderr"))
                                st.only_stream = CRILOG_STDERR;
                        else if (!STREQ(optarg, "all") && *optarg)
                                return ocic_usage_error(usage);
                        break;
                default: return ocic_usage_error(usage);
                }
        }
        if (optind + 1 != argc)
                return ocic_usage_error(usage);
        if (st.follow && st.reverse) {
                fprintf(stderr, "ocic: logs: --reverse cannot be used with --follow\n");
                return 2;
        }
        if (since) {
                if (crilog_parse_since(since, now_ns(), &st.since_ns) < 0) {
                        fprintf(stderr, "ocic: logs: bad --since '%s' (an RFC 3339 time or a duration like 10s, 5m)\n",
                                since);
                        return 2;
                }
                st.has_since = true;
        }
        st.id = argv[optind];
        Runtime__V1__ContainerStatusResponse *resp;
        if (container_status(ctx, st.id, false, false, &resp) < 0)
                return 1;
        _cleanup_free_ char *path = strdup(resp->status->log_path);
        _cleanup_free_ char *name = strdup(resp->status->metadata ? resp->status->metadata->name : st.id);
        _cleanup_free_ char *id = strdup(resp->status->id);
        uint32_t attempt = resp->status->metadata ? resp->status->metadata->attempt : 0;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        if (!path || !name || !id)
                abort();
        st.id = id; /* the full ID: a prefix could become ambiguous */
        if (!*path) {
                fprintf(stderr, "ocic: logs: container %s has no log path (its pod has no log_directory "
                                "or the container no log_path)\n", st.id);
                return 1;
        }
        if (previous) {
                /* <dir>/<attempt>.log: the previous attempt's file */
                if (attempt == 0) {
                        fprintf(stderr, "ocic: logs: previous terminated container %s not found\n", name);
                        return 1;
                }
                char *slash = strrchr(path, '/');
                char *dot = strrchr(path, '.');
                _cleanup_free_ char *prev = NULL;
                if (asprintf(&prev, "%.*s%u%s", slash ? (int)(slash - path + 1) : 0, path, attempt - 1,
                             dot && (!slash || dot > slash) ? dot : "") < 0)
                        abort();
                free(path);
                path = TAKE_PTR(prev);
                st.follow = false;
        }
        st.path = path;
        crilog_joiner_init(&st.joiner, 0);
        st.collecting = st.tail >= 0 || st.reverse;
        int status = 0;
        int r = open_log(&st);
        if (r < 0 && !(st.follow && r == -ENOENT)) {
                fprintf(stderr, "ocic: logs: cannot open %s: %s\n", path, strerror(-r));
                status = 1;
                goto out;
        }
        if (st.fd >= 0 && read_available(&st) < 0) {
                status = 1;
                goto out;
        }
        if (!st.follow) {
                finish_raw(&st);
                flush_joiner(&st);
        }
        if (st.collecting) {
                print_saved(&st);
                st.collecting = false;
        }
        if (st.follow) {
                fflush(stdout);
                fflush(stderr);
                status = follow_log(&st);
        }
out:
        fflush(stdout);
        fflush(stderr);
        if (st.fd >= 0)
                close(st.fd);
        free(st.raw);
        for (size_t i = 0; i < st.ring_len; i++)
                free(st.ring[i].text);
        free(st.ring);
        crilog_joiner_release(&st.joiner);
        return status;
}
