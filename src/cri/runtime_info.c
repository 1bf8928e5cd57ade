/* Version, Status, RuntimeConfig, UpdateRuntimeConfig. */
#include "cri/cri.h"
#include "cri/handlers.h"
#include "network/cni_config.h"
#include "network/cni_exec.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

#include "runtime/v1/api.pb-c.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

/* The CRI's own version field: the kubelet runtime API version. */
#define KUBELET_API_VERSION "0.1.0"

void cri_state_init(cri_state *st)
{
        *st = (cri_state){ 0 };
        pthread_mutex_init(&st->lock, NULL);
}

void cri_state_release(cri_state *st)
{
        free(st->config_json);
        free(st->pod_cidr);
        pthread_mutex_destroy(&st->lock);
}

void cri_state_set_config_json(cri_state *st, char *json)
{
        pthread_mutex_lock(&st->lock);
        free(st->config_json);
        st->config_json = json;
        pthread_mutex_unlock(&st->lock);
}

CRI_HANDLER(cri_version)
{
        Runtime__V1__VersionResponse *r = xcalloc(1, sizeof(*r));
        runtime__v1__version_response__init(r);
        r->version = xstrdup(KUBELET_API_VERSION);
        r->runtime_name = xstrdup("ocid");
        r->runtime_version = xstrdup(OCID_VERSION);
        r->runtime_api_version = xstrdup("v1");
        *resp = &r->base;
        return 0;
}

static Runtime__V1__RuntimeCondition *condition(const char *type, bool ok, const char *reason,
                                                const char *message)
{
        Runtime__V1__RuntimeCondition *c = xcalloc(1, sizeof(*c));
        runtime__v1__runtime_condition__init(c);
        c->type = xstrdup(type);
        c->status = ok;
        c->reason = xstrdup(reason);
        c->message = xstrdup(message);
        return c;
}

static Runtime__V1__StatusResponse__InfoEntry *info_entry(const char *key, const char *value)
{
        Runtime__V1__StatusResponse__InfoEntry *e = xcalloc(1, sizeof(*e));
        runtime__v1__status_response__info_entry__init(e);
        e->key = xstrdup(key);
        e->value = xstrdup(value);
        return e;
}

/* A plugin's STATUS gets what is left of the call's deadline, at most 10 s. */
static int status_timeout_ms(rpc_call *call)
{
        uint64_t left = rpc_call_remaining_ms(call);
        return left > 10000 ? 10000 : (int)(left ? left : 1);
}

CRI_HANDLER(cri_status)
{
        const Runtime__V1__StatusRequest *in = (const Runtime__V1__StatusRequest *)req;
        cri_state *st = rpc_call_context(call);

        /* Read the directory on every call: a configuration added or
         * removed while ocid runs is seen without a restart. */
        cni_network *net = NULL;
        ocid_error net_err = OCID_ERROR_INIT;
        bool network_ready = cni_config_find(st->network_dir, &net, &net_err) == 0 &&
                             cni_network_status(net->list, st->plugin_dirs,
                                                status_timeout_ms(call), &net_err) == 0;
        _cleanup_free_ char *net_msg = NULL;
        if (!network_ready && asprintf(&net_msg, "Network plugin returns error: %s",
                                       net_err.message ? net_err.message : "no CNI configuration") < 0)
                abort();

        Runtime__V1__StatusResponse *r = xcalloc(1, sizeof(*r));
        runtime__v1__status_response__init(r);
        r->status = xcalloc(1, sizeof(*r->status));
        runtime__v1__runtime_status__init(r->status);
        r->status->n_conditions = 2;
        r->status->conditions = xcalloc(2, sizeof(*r->status->conditions));
        r->status->conditions[0] = condition("RuntimeReady", true, "", "");
        r->status->conditions[1] = network_ready
                ? condition("NetworkReady", true, "", "")
                : condition("NetworkReady", false, "NetworkPluginNotReady", net_msg);

        /* The handlers with what they really support; "" is the default. */
        r->runtime_handlers = xcalloc(st->n_handlers + 2, sizeof(*r->runtime_handlers));
        for (size_t i = 0; i <= st->n_handlers; i++) {
                const cri_handler_info *h = NULL;
                if (i == 0) {
                        for (size_t j = 0; j < st->n_handlers; j++)
                                if (STREQ(st->handlers[j].name, st->default_runtime))
                                        h = &st->handlers[j];
                        if (!h)
                                continue;
                } else {
                        h = &st->handlers[i - 1];
                }
                Runtime__V1__RuntimeHandler *rh = XNEW_MSG(Runtime__V1__RuntimeHandler, runtime__v1__runtime_handler__init);
                rh->name = xstrdup(i == 0 ? "" : h->name);
                rh->features = XNEW_MSG(Runtime__V1__RuntimeHandlerFeatures, runtime__v1__runtime_handler_features__init);
                rh->features->recursive_read_only_mounts = h->recursive_read_only_mounts;
                rh->features->user_namespaces = false;
                r->runtime_handlers[r->n_runtime_handlers++] = rh;
        }

        if (in->verbose) {
                json_object *network = json_object_new_object();
                if (network_ready) {
                        json_object_object_add(network, "name", json_object_new_string(net->name));
                        json_object_object_add(network, "file", json_object_new_string(net->file));
                }
                pthread_mutex_lock(&st->lock);
                json_object_object_add(network, "podCIDR",
                                       json_object_new_string(st->pod_cidr ? st->pod_cidr : ""));
                r->info = xcalloc(2, sizeof(*r->info));
                r->info[r->n_info++] = info_entry("config", st->config_json ? st->config_json : "{}");
                pthread_mutex_unlock(&st->lock);
                r->info[r->n_info++] = info_entry("network", json_object_to_json_string_ext(
                                                                     network, JSON_C_TO_STRING_PLAIN |
                                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(network);
        }
        cni_network_free(net);
        ocid_error_clear(&net_err);
        *resp = &r->base;
        return 0;
}

CRI_HANDLER(cri_runtime_config)
{
        cri_state *st = rpc_call_context(call);
        Runtime__V1__RuntimeConfigResponse *r = xcalloc(1, sizeof(*r));
        runtime__v1__runtime_config_response__init(r);
        r->linux = xcalloc(1, sizeof(*r->linux));
        runtime__v1__linux_runtime_configuration__init(r->linux);
        r->linux->cgroup_driver = st->cgroup_systemd ? RUNTIME__V1__CGROUP_DRIVER__SYSTEMD
                                                     : RUNTIME__V1__CGROUP_DRIVER__CGROUPFS;
        *resp = &r->base;
        return 0;
}

/* "10.0.0.0/24" or the kubelet's dual-stack "10.0.0.0/24,fd00::/64". */
static bool valid_cidrs(const char *s)
{
        if (strlen(s) > 256)
                return false;
        _cleanup_free_ char *copy = xstrdup(s);
        char *save = NULL;
        int n = 0;
        for (char *cidr = strtok_r(copy, ",", &save); cidr; cidr = strtok_r(NULL, ",", &save), n++) {
                char *slash = strchr(cidr, '/');
                if (!slash)
                        return false;
                *slash = '\0';
                unsigned char addr[16];
                int family = strchr(cidr, ':') ? AF_INET6 : AF_INET;
                char *end;
                long bits = strtol(slash + 1, &end, 10);
                if (inet_pton(family, cidr, addr) != 1 || *end || end == slash + 1 || bits < 0 ||
                    bits > (family == AF_INET ? 32 : 128))
                        return false;
        }
        return n > 0;
}

CRI_HANDLER(cri_update_runtime_config)
{
        const Runtime__V1__UpdateRuntimeConfigRequest *in =
                (const Runtime__V1__UpdateRuntimeConfigRequest *)req;
        cri_state *st = rpc_call_context(call);
        /* The kubelet sends the node's pod CIDR here; an empty one or a
         * missing runtime_config leaves it as it was. */
        const char *cidr = in->runtime_config && in->runtime_config->network_config
                ? in->runtime_config->network_config->pod_cidr : NULL;
        if (cidr && *cidr && !valid_cidrs(cidr))
                return ocid_error_set(err, OCID_ERR_INVALID, "pod CIDR '%.64s%s' is not a CIDR list",
                                      cidr, strlen(cidr) > 64 ? "..." : "");
        if (cidr && *cidr) {
                pthread_mutex_lock(&st->lock);
                free(st->pod_cidr);
                st->pod_cidr = xstrdup(cidr);
                pthread_mutex_unlock(&st->lock);
                log_info("pod CIDR set to %s", cidr);
        }
        Runtime__V1__UpdateRuntimeConfigResponse *r = xcalloc(1, sizeof(*r));
        runtime__v1__update_runtime_config_response__init(r);
        *resp = &r->base;
        return 0;
}
