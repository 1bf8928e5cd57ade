/* RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus,
 * ListPodSandbox. */
#include "cri/convert.h"
#include "cri/cri.h"
#include "cri/handlers.h"
#include "runtime/namespaces.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include "runtime/v1/api.pb-c.h"

#include <json-c/json.h>
#include <string.h>

#define MAX_LABELS 512

typedef Runtime__V1__PodSandboxConfig pod_config;

static char **strv_from(char **v, size_t n)
{
        char **out = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
                out[i] = xstrdup(v[i]);
        return out;
}

static int resolve_handler(cri_state *st, const char *asked, const char **ret, ocid_error *err)
{
        const char *name = asked && *asked ? asked : st->default_runtime;
        _cleanup_strv_ char **names = NULL;
        for (size_t i = 0; i < st->n_handlers; i++) {
                if (STREQ(st->handlers[i].name, name)) {
                        *ret = st->handlers[i].name;
                        return 0;
                }
                names = strv_push(names, st->handlers[i].name);
        }
        _cleanup_free_ char *list = strv_join(names, ", ");
        return ocid_error_set(err, OCID_ERR_INVALID, "unknown runtime handler '%s' (configured: %s)", name,
                              *list ? list : "none");
}

static int for_pod_containers(cri_state *st, const char *pod_id, bool remove, ocid_error *err);

/* A pod sharing one PID namespace gets ocid's pause program as its first
 * process, in the pod's other namespaces; containers join its PID
 * namespace. */
static int start_infra(cri_state *st, const char *pod_id, ocid_error *err)
{
        sandbox *sb = NULL;
        if (sandbox_get(st->sandboxes, pod_id, &sb, err) < 0)
                return -1;
        char *args[] = { "/pause", NULL };
        char *env[] = { "PATH=/", NULL };
        char *drop[] = { "ALL", NULL };
        container_spec spec = {
                .args = args, .env = env, .cwd = "/", .readonly_rootfs = true, .no_new_privs = true,
                .cap_drop = drop, .cap_bounding = oci_current_bounding_set(),
                /* No capabilities and one system call: no filter to pay for. */
                .seccomp = SECCOMP_UNCONFINED,
                .pid = { .mode = NS_MODE_NEW },
        };
        char *ns_paths[3];
        cri_join_pod_namespaces(sb, &spec, ns_paths);
        _cleanup_free_ char *net = ns_paths[0], *ipc = ns_paths[1], *uts = ns_paths[2];
        container_request creq = {
                .sandbox_id = sb->id, .name = "POD", .image_id = "", .image_name = "",
                .rootfs_dir = st->pause_rootfs, .infra = true, .runtime_handler = sb->runtime_handler,
                .cgroup_parent = sb->cgroup_parent, .config = "", .config_len = 0,
        };
        _cleanup_free_ char *id = NULL;
        int r = container_create(st->containers, &creq, &spec, &id, err);
        if (r == 0)
                r = container_start(st->containers, id, err);
        if (r == 0)
                r = sandbox_set_infra(st->sandboxes, sb->id, id, err);
        sandbox_free(sb);
        return r < 0 ? ocid_error_wrap(err, "infra process") : 0;
}

CRI_HANDLER(cri_run_pod_sandbox)
{
        const Runtime__V1__RunPodSandboxRequest *in = (const Runtime__V1__RunPodSandboxRequest *)req;
        cri_state *st = rpc_call_context(call);
        const pod_config *cfg = in->config;
        if (!cfg || !cfg->metadata)
                return ocid_error_set(err, OCID_ERR_INVALID, "pod sandbox config without metadata");
        if (cfg->n_labels > MAX_LABELS || cfg->n_annotations > MAX_LABELS)
                return ocid_error_set(err, OCID_ERR_INVALID, "too many labels or annotations (at most %d)",
                                      MAX_LABELS);
        const char *handler = NULL;
        if (resolve_handler(st, in->runtime_handler, &handler, err) < 0)
                return -1;

        const Runtime__V1__LinuxPodSandboxConfig *lx = cfg->linux;
        const Runtime__V1__NamespaceOption *ns =
                lx && lx->security_context ? lx->security_context->namespace_options : NULL;
        _cleanup_strv_ char **servers = NULL, **searches = NULL, **options = NULL, **sysctls = NULL;
        if (cfg->dns_config) {
                servers = strv_from(cfg->dns_config->servers, cfg->dns_config->n_servers);
                searches = strv_from(cfg->dns_config->searches, cfg->dns_config->n_searches);
                options = strv_from(cfg->dns_config->options, cfg->dns_config->n_options);
        }
        for (size_t i = 0; lx && i < lx->n_sysctls; i++)
                sysctls = strv_pushf(sysctls, "%s=%s", lx->sysctls[i]->key, lx->sysctls[i]->value);
        _cleanup_free_ cni_port_mapping *ports = xcalloc(cfg->n_port_mappings, sizeof(*ports));
        size_t n_ports = 0;
        static const char *const protocols[] = { "tcp", "udp", "sctp" };
        for (size_t i = 0; i < cfg->n_port_mappings; i++) {
                const Runtime__V1__PortMapping *pm = cfg->port_mappings[i];
                /* host_port 0: not published on the host, nothing to map. */
                if (pm->host_port == 0)
                        continue;
                ports[n_ports++] = (cni_port_mapping){
                        .container_port = pm->container_port, .host_port = pm->host_port,
                        .protocol = (unsigned)pm->protocol < 3 ? protocols[pm->protocol] : "tcp",
                        .host_ip = pm->host_ip,
                };
        }
        size_t len = protobuf_c_message_get_packed_size(&cfg->base);
        _cleanup_free_ uint8_t *packed = xcalloc(len + 1, 1);
        protobuf_c_message_pack(&cfg->base, packed);

        sandbox_spec spec = {
                .name = cfg->metadata->name, .namespace = cfg->metadata->namespace_,
                .uid = cfg->metadata->uid, .attempt = cfg->metadata->attempt,
                .hostname = cfg->hostname,
                .dns_servers = servers, .dns_searches = searches, .dns_options = options,
                .ports = ports, .n_ports = n_ports,
                .host_network = ns && ns->network == RUNTIME__V1__NAMESPACE_MODE__NODE,
                .host_ipc = ns && ns->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE,
                .host_pid = ns && ns->pid == RUNTIME__V1__NAMESPACE_MODE__NODE,
                .shared_pid = ns && ns->pid == RUNTIME__V1__NAMESPACE_MODE__POD,
                .cgroup_parent = lx ? lx->cgroup_parent : NULL,
                .sysctls = sysctls,
                .runtime_handler = handler,
                .config = packed, .config_len = len,
        };
        _cleanup_free_ char *id = NULL;
        if (sandbox_run(st->sandboxes, &spec, &id, err) < 0)
                return ocid_error_wrap(err, "run pod sandbox '%s/%s'", spec.namespace, spec.name);
        if (spec.shared_pid && start_infra(st, id, err) < 0) {
                ocid_error ignored = OCID_ERROR_INIT;
                if (for_pod_containers(st, id, true, &ignored) < 0 || sandbox_remove(st->sandboxes, id, &ignored) < 0)
                        log_warn("pod %s: cleanup after a failed start: %s", id, ignored.message);
                ocid_error_clear(&ignored);
                return ocid_error_wrap(err, "run pod sandbox '%s/%s'", spec.namespace, spec.name);
        }
        Runtime__V1__RunPodSandboxResponse *r =
                XNEW_MSG(Runtime__V1__RunPodSandboxResponse, runtime__v1__run_pod_sandbox_response__init);
        r->pod_sandbox_id = TAKE_PTR(id);
        *resp = &r->base;
        return 0;
}

/* Stop (and with remove, delete) every container of the pod. */
static int for_pod_containers(cri_state *st, const char *pod_id, bool remove, ocid_error *err)
{
        sandbox *sb = NULL;
        if (sandbox_get(st->sandboxes, pod_id, &sb, err) < 0)
                return -1;
        _cleanup_strv_ char **ids = NULL;
        int r = container_list_by_sandbox(st->containers, sb->id, &ids, err);
        for (size_t i = 0; r == 0 && ids[i]; i++)
                r = remove ? container_remove(st->containers, ids[i], err)
                           : container_stop(st->containers, ids[i], 0, err);
        sandbox_free(sb);
        return r;
}

CRI_HANDLER(cri_stop_pod_sandbox)
{
        const Runtime__V1__StopPodSandboxRequest *in = (const Runtime__V1__StopPodSandboxRequest *)req;
        cri_state *st = rpc_call_context(call);
        if (for_pod_containers(st, in->pod_sandbox_id, false, err) < 0 ||
            sandbox_stop(st->sandboxes, in->pod_sandbox_id, err) < 0) {
                /* The kubelet may stop a sandbox that is already gone. */
                if (err->kind != OCID_ERR_NOT_FOUND)
                        return ocid_error_wrap(err, "stop pod sandbox");
                ocid_error_clear(err);
        }
        *resp = (ProtobufCMessage *)XNEW_MSG(Runtime__V1__StopPodSandboxResponse,
                                             runtime__v1__stop_pod_sandbox_response__init);
        return 0;
}

CRI_HANDLER(cri_remove_pod_sandbox)
{
        const Runtime__V1__RemovePodSandboxRequest *in = (const Runtime__V1__RemovePodSandboxRequest *)req;
        cri_state *st = rpc_call_context(call);
        if (for_pod_containers(st, in->pod_sandbox_id, true, err) < 0) {
                if (err->kind != OCID_ERR_NOT_FOUND)
                        return ocid_error_wrap(err, "remove pod sandbox");
                ocid_error_clear(err);
        }
        if (sandbox_remove(st->sandboxes, in->pod_sandbox_id, err) < 0)
                return ocid_error_wrap(err, "remove pod sandbox");
        *resp = (ProtobufCMessage *)XNEW_MSG(Runtime__V1__RemovePodSandboxResponse,
                                             runtime__v1__remove_pod_sandbox_response__init);
        return 0;
}

/* The config stored at RunPodSandbox time. */
static pod_config *stored_config(const sandbox *sb)
{
        return runtime__v1__pod_sandbox_config__unpack(NULL, sb->config_len, sb->config);
}

static Runtime__V1__PodSandboxMetadata *metadata_of(const sandbox *sb)
{
        Runtime__V1__PodSandboxMetadata *md =
                XNEW_MSG(Runtime__V1__PodSandboxMetadata, runtime__v1__pod_sandbox_metadata__init);
        md->name = xstrdup(sb->name);
        md->namespace_ = xstrdup(sb->namespace);
        md->uid = xstrdup(sb->uid);
        md->attempt = sb->attempt;
        return md;
}


CRI_HANDLER(cri_pod_sandbox_status)
{
        const Runtime__V1__PodSandboxStatusRequest *in = (const Runtime__V1__PodSandboxStatusRequest *)req;
        cri_state *st = rpc_call_context(call);
        sandbox *sb = NULL;
        if (sandbox_get(st->sandboxes, in->pod_sandbox_id, &sb, err) < 0)
                return -1;
        pod_config *cfg = stored_config(sb);

        Runtime__V1__PodSandboxStatus *s =
                XNEW_MSG(Runtime__V1__PodSandboxStatus, runtime__v1__pod_sandbox_status__init);
        s->id = xstrdup(sb->id);
        s->metadata = metadata_of(sb);
        s->state = sb->state == SANDBOX_READY ? RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
                                              : RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
        s->created_at = sb->created_at;
        s->runtime_handler = xstrdup(sb->runtime_handler);
        s->network = XNEW_MSG(Runtime__V1__PodSandboxNetworkStatus, runtime__v1__pod_sandbox_network_status__init);
        s->network->ip = xstrdup(sb->ip);
        size_t n_more = strv_length(sb->additional_ips);
        s->network->additional_ips = xcalloc(n_more + 1, sizeof(void *));
        for (size_t i = 0; i < n_more; i++) {
                Runtime__V1__PodIP *ip = XNEW_MSG(Runtime__V1__PodIP, runtime__v1__pod_ip__init);
                ip->ip = xstrdup(sb->additional_ips[i]);
                s->network->additional_ips[s->network->n_additional_ips++] = ip;
        }
        s->linux = XNEW_MSG(Runtime__V1__LinuxPodSandboxStatus, runtime__v1__linux_pod_sandbox_status__init);
        s->linux->namespaces = XNEW_MSG(Runtime__V1__Namespace, runtime__v1__namespace__init);
        s->linux->namespaces->options = XNEW_MSG(Runtime__V1__NamespaceOption, runtime__v1__namespace_option__init);
        const Runtime__V1__NamespaceOption *asked = cfg && cfg->linux && cfg->linux->security_context
                ? cfg->linux->security_context->namespace_options : NULL;
        /* Without options the pod has its own network and IPC and no
         * shared PID namespace. */
        s->linux->namespaces->options->pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
        if (asked) {
                s->linux->namespaces->options->network = asked->network;
                s->linux->namespaces->options->pid = asked->pid;
                s->linux->namespaces->options->ipc = asked->ipc;
                s->linux->namespaces->options->target_id = xstrdup(asked->target_id);
        }
        if (cfg) {
                s->labels = cri_copy_map((void **)cfg->labels, cfg->n_labels, &s->n_labels,
                                         &runtime__v1__pod_sandbox_status__labels_entry__descriptor);
                s->annotations = cri_copy_map((void **)cfg->annotations, cfg->n_annotations, &s->n_annotations,
                                              &runtime__v1__pod_sandbox_status__annotations_entry__descriptor);
        }

        Runtime__V1__PodSandboxStatusResponse *r =
                XNEW_MSG(Runtime__V1__PodSandboxStatusResponse, runtime__v1__pod_sandbox_status_response__init);
        r->status = s;
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        r->timestamp = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
        if (in->verbose) {
                json_object *info = json_object_new_object();
                json_object *nss = json_object_new_object();
                static const struct { unsigned kind; const char *name; } kinds[] = {
                        { NS_NET, "network" }, { NS_IPC, "ipc" }, { NS_UTS, "uts" },
                };
                for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
                        bool host = (kinds[i].kind == NS_IPC) ? sb->host_ipc : sb->host_network;
                        _cleanup_free_ char *p = ns_path(sb->dir, kinds[i].kind);
                        json_object_object_add(nss, kinds[i].name, json_object_new_string(host ? "host" : p));
                }
                json_object_object_add(info, "namespaces", nss);
                json_object_object_add(info, "runDir", json_object_new_string(sb->dir));
                json_object_object_add(info, "cgroupParent", json_object_new_string(sb->cgroup_parent));
                json_object_object_add(info, "runtimeHandler", json_object_new_string(sb->runtime_handler));
                if (sb->network_name)
                        json_object_object_add(info, "network", json_object_new_string(sb->network_name));
                json_object_object_add(info, "cniResult",
                                       sb->cni_result ? json_tokener_parse(sb->cni_result) : NULL);
                Runtime__V1__PodSandboxStatusResponse__InfoEntry *e = XNEW_MSG(
                        Runtime__V1__PodSandboxStatusResponse__InfoEntry,
                        runtime__v1__pod_sandbox_status_response__info_entry__init);
                e->key = xstrdup("info");
                e->value = xstrdup(json_object_to_json_string_ext(info, JSON_C_TO_STRING_PLAIN |
                                                                      JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(info);
                r->info = xcalloc(1, sizeof(*r->info));
                r->info[r->n_info++] = e;
        }
        if (cfg)
                runtime__v1__pod_sandbox_config__free_unpacked(cfg, NULL);
        sandbox_free(sb);
        *resp = &r->base;
        return 0;
}


CRI_HANDLER(cri_list_pod_sandbox)
{
        const Runtime__V1__ListPodSandboxRequest *in = (const Runtime__V1__ListPodSandboxRequest *)req;
        cri_state *st = rpc_call_context(call);
        const Runtime__V1__PodSandboxFilter *f = in->filter;
        sandbox **list = NULL;
        size_t n = 0;
        if (sandbox_list(st->sandboxes, &list, &n, err) < 0)
                return -1;
        Runtime__V1__ListPodSandboxResponse *r =
                XNEW_MSG(Runtime__V1__ListPodSandboxResponse, runtime__v1__list_pod_sandbox_response__init);
        r->items = xcalloc(n ? n : 1, sizeof(*r->items));
        for (size_t i = 0; i < n; i++) {
                sandbox *sb = list[i];
                if (f && f->id && *f->id && strncmp(sb->id, f->id, strlen(f->id)) != 0)
                        continue;
                if (f && f->state && (int)f->state->state != (int)sb->state)
                        continue;
                pod_config *cfg = stored_config(sb);
                if (f && !cri_labels_match(cfg ? (void **)cfg->labels : NULL, cfg ? cfg->n_labels : 0,
                                           (void **)f->label_selector, f->n_label_selector)) {
                        if (cfg)
                                runtime__v1__pod_sandbox_config__free_unpacked(cfg, NULL);
                        continue;
                }
                Runtime__V1__PodSandbox *p = XNEW_MSG(Runtime__V1__PodSandbox, runtime__v1__pod_sandbox__init);
                p->id = xstrdup(sb->id);
                p->metadata = metadata_of(sb);
                p->state = sb->state == SANDBOX_READY ? RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
                                                      : RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
                p->created_at = sb->created_at;
                p->runtime_handler = xstrdup(sb->runtime_handler);
                if (cfg) {
                        p->labels = cri_copy_map((void **)cfg->labels, cfg->n_labels, &p->n_labels,
                                                 &runtime__v1__pod_sandbox__labels_entry__descriptor);
                        p->annotations = cri_copy_map((void **)cfg->annotations, cfg->n_annotations,
                                                      &p->n_annotations,
                                                      &runtime__v1__pod_sandbox__annotations_entry__descriptor);
                        runtime__v1__pod_sandbox_config__free_unpacked(cfg, NULL);
                }
                r->items[r->n_items++] = p;
        }
        sandboxes_free(list, n);
        *resp = &r->base;
        return 0;
}
