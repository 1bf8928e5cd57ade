/* CreateContainer, StartContainer, StopContainer, RemoveContainer,
 * ListContainers, ContainerStatus, UpdateContainerResources,
 * ReopenContainerLog, ExecSync. */
#include "cri/convert.h"
#include "cri/cri.h"
#include "cri/handlers.h"
#include "image/manifest.h"
#include "runtime/namespaces.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include "runtime/v1/api.pb-c.h"

#include <json-c/json.h>
#include <string.h>
#include <sys/stat.h>

typedef Runtime__V1__ContainerConfig ctr_config;

static ctr_config *stored_config(const container *c)
{
        return runtime__v1__container_config__unpack(NULL, c->config_len, c->config);
}

/* ---- create -------------------------------------------------------------- */

/* What prepare_spec needs once the root filesystem is mounted. */
typedef struct {
        const ctr_config *cfg;
        const image_config *image;
} create_ctx;

static int resolve_user(container_spec *spec, const char *rootfs, void *data, ocid_error *err)
{
        create_ctx *ctx = data;
        const Runtime__V1__LinuxContainerSecurityContext *sc =
                ctx->cfg->linux ? ctx->cfg->linux->security_context : NULL;
        _cleanup_free_ char *user = NULL;
        if (sc && sc->run_as_user) {
                if (asprintf(&user, "%lld", (long long)sc->run_as_user->value) < 0)
                        abort();
        } else if (sc && sc->run_as_username && *sc->run_as_username) {
                user = xstrdup(sc->run_as_username);
        } else {
                user = xstrdup(*ctx->image->user ? ctx->image->user : "0");
        }
        uint32_t uid, gid, *groups = NULL;
        size_t n_groups = 0;
        if (oci_resolve_user(rootfs, user, &uid, &gid, &groups, &n_groups, err) < 0)
                return ocid_error_wrap(err, "user '%s'", user);
        if (sc && sc->run_as_group)
                gid = (uint32_t)sc->run_as_group->value;
        /* Strict: only what the pod asks for; Merge: the image's too. */
        if (sc && sc->supplemental_groups_policy == RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict)
                n_groups = 0;
        for (size_t i = 0; sc && i < sc->n_supplemental_groups; i++) {
                groups = realloc(groups, (n_groups + 1) * sizeof(*groups));
                if (!groups)
                        abort();
                groups[n_groups++] = (uint32_t)sc->supplemental_groups[i];
        }
        spec->uid = uid;
        spec->gid = gid;
        spec->additional_gids = groups; /* freed by the handler */
        spec->n_additional_gids = n_groups;
        return 0;
}

static const char *signal_name(Runtime__V1__Signal sig)
{
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&runtime__v1__signal__descriptor, sig);
        return v && sig != RUNTIME__V1__SIGNAL__RUNTIME_DEFAULT ? v->name : NULL;
}

static int current_oom_score_adj(void)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        if (fs_read_file("/proc/self/oom_score_adj", 64, &text, &len) < 0)
                return 0;
        return atoi(text);
}

static void add_mount(oci_mount **mounts, size_t *n, oci_mount m)
{
        *mounts = realloc(*mounts, (*n + 1) * sizeof(**mounts));
        if (!*mounts)
                abort();
        (*mounts)[(*n)++] = m;
}

static bool has_mount_at(const ctr_config *cfg, const char *path)
{
        for (size_t i = 0; i < cfg->n_mounts; i++)
                if (STREQ(cfg->mounts[i]->container_path, path))
                        return true;
        return false;
}


CRI_HANDLER(cri_create_container)
{
        const Runtime__V1__CreateContainerRequest *in = (const Runtime__V1__CreateContainerRequest *)req;
        cri_state *st = rpc_call_context(call);
        const ctr_config *cfg = in->config;
        if (!cfg || !cfg->metadata || !*cfg->metadata->name)
                return ocid_error_set(err, OCID_ERR_INVALID, "container config without a name");
        if (!cfg->image || !*cfg->image->image)
                return ocid_error_set(err, OCID_ERR_INVALID, "container '%s' has no image", cfg->metadata->name);
        sandbox *sb = NULL;
        if (sandbox_get(st->sandboxes, in->pod_sandbox_id, &sb, err) < 0)
                return -1;
        int r = 0;
        if (sb->state != SANDBOX_READY)
                r = ocid_error_set(err, OCID_ERR_PRECONDITION, "pod sandbox %s is not ready", sb->id);
        image_record *img = NULL;
        image_config *icfg = NULL;
        if (r == 0 && (r = image_lookup(st->puller, cfg->image->image, &img, err)) < 0)
                ocid_error_wrap(err, "image '%s'", cfg->image->image);
        if (r == 0)
                r = image_config_parse(img->config_json, strlen(img->config_json), &icfg, err);

        _cleanup_strv_ char **args = NULL, **env = NULL, **cri_env = NULL, **cmd = NULL, **cargs = NULL;
        for (size_t i = 0; i < cfg->n_command; i++)
                cmd = strv_push(cmd, cfg->command[i]);
        for (size_t i = 0; i < cfg->n_args; i++)
                cargs = strv_push(cargs, cfg->args[i]);
        for (size_t i = 0; i < cfg->n_envs; i++)
                cri_env = strv_pushf(cri_env, "%s=%s", cfg->envs[i]->key, cfg->envs[i]->value);
        if (r == 0)
                r = oci_resolve_args(icfg->entrypoint, icfg->cmd, cmd, cargs, &args, err);
        if (r == 0)
                env = oci_merge_env(icfg->env, cri_env);

        const Runtime__V1__LinuxContainerConfig *lx = cfg->linux;
        const Runtime__V1__LinuxContainerSecurityContext *sc = lx ? lx->security_context : NULL;
        const Runtime__V1__LinuxContainerResources *res = lx ? lx->resources : NULL;
        container_spec spec = { 0 };
        spec.args = args;
        spec.env = env;
        spec.cwd = *cfg->working_dir ? cfg->working_dir : (icfg && *icfg->working_dir ? icfg->working_dir : "/");
        spec.tty = cfg->tty;
        spec.stdin_open = cfg->stdin;
        spec.stdin_once = cfg->stdin_once;
        spec.privileged = sc && sc->privileged;
        spec.readonly_rootfs = sc && sc->readonly_rootfs;
        spec.no_new_privs = sc && sc->no_new_privs;
        spec.cap_bounding = oci_current_bounding_set();

        /* Namespaces: the pod's, or the host's, or (pid) per the request. */
        char *ns_paths[3];
        cri_join_pod_namespaces(sb, &spec, ns_paths);
        _cleanup_free_ char *net_path = ns_paths[0], *ipc_path = ns_paths[1], *uts_path = ns_paths[2];
        _cleanup_free_ char *pid_path = NULL;
        const Runtime__V1__NamespaceOption *nso = sc ? sc->namespace_options : NULL;
        spec.pid.mode = NS_MODE_NEW;
        if (nso && nso->pid == RUNTIME__V1__NAMESPACE_MODE__NODE) {
                spec.pid.mode = NS_MODE_HOST;
        } else if (r == 0 && nso && nso->pid == RUNTIME__V1__NAMESPACE_MODE__TARGET) {
                container *target = NULL;
                if (container_get(st->containers, nso->target_id, &target, err) < 0) {
                        r = ocid_error_wrap(err, "target of the PID namespace");
                } else if (target->state != CONTAINER_RUNNING || target->pid <= 0) {
                        r = ocid_error_set(err, OCID_ERR_PRECONDITION, "target container %s is not running", target->id);
                } else {
                        if (asprintf(&pid_path, "/proc/%d/ns/pid", target->pid) < 0)
                                abort();
                        spec.pid = (oci_namespace){ .mode = NS_MODE_JOIN, .path = pid_path };
                }
                container_free(target);
        } else if (r == 0 && nso && nso->pid == RUNTIME__V1__NAMESPACE_MODE__POD) {
                /* The pod's infra process holds its PID namespace. */
                container *infra = NULL;
                if (!*sb->infra_id)
                        r = ocid_error_set(err, OCID_ERR_PRECONDITION,
                                           "pod %s has no shared PID namespace (its pid mode is not POD)", sb->id);
                else if (container_get(st->containers, sb->infra_id, &infra, err) < 0)
                        r = ocid_error_wrap(err, "infra process of pod %s", sb->id);
                else if (infra->state != CONTAINER_RUNNING || infra->pid <= 0)
                        r = ocid_error_set(err, OCID_ERR_PRECONDITION, "the infra process of pod %s is not running", sb->id);
                else {
                        if (asprintf(&pid_path, "/proc/%d/ns/pid", infra->pid) < 0)
                                abort();
                        spec.pid = (oci_namespace){ .mode = NS_MODE_JOIN, .path = pid_path };
                }
                container_free(infra);
        }

        /* The pod's files, then the CRI mounts. */
        oci_mount *mounts = NULL;
        size_t n_mounts = 0;
        _cleanup_free_ char *resolv = fs_path_join(sb->dir, "resolv.conf");
        _cleanup_free_ char *hostname_file = fs_path_join(sb->dir, "hostname");
        _cleanup_free_ char *hosts = fs_path_join(sb->dir, "hosts");
        _cleanup_free_ char *shm = fs_path_join(sb->dir, "shm");
        add_mount(&mounts, &n_mounts, (oci_mount){ .container_path = "/etc/resolv.conf", .host_path = resolv,
                                                   .readonly = spec.readonly_rootfs });
        add_mount(&mounts, &n_mounts, (oci_mount){ .container_path = "/etc/hostname", .host_path = hostname_file,
                                                   .readonly = spec.readonly_rootfs });
        if (!has_mount_at(cfg, "/etc/hosts"))
                add_mount(&mounts, &n_mounts, (oci_mount){ .container_path = "/etc/hosts", .host_path = hosts,
                                                           .readonly = spec.readonly_rootfs });
        if (!has_mount_at(cfg, "/dev/shm"))
                add_mount(&mounts, &n_mounts, (oci_mount){ .container_path = "/dev/shm",
                                                           .host_path = sb->host_ipc ? "/dev/shm" : shm });
        for (size_t i = 0; r == 0 && i < cfg->n_mounts; i++) {
                const Runtime__V1__Mount *mt = cfg->mounts[i];
                struct stat stb;
                if (!*mt->container_path || mt->container_path[0] != '/')
                        r = ocid_error_set(err, OCID_ERR_INVALID, "mount target '%s' is not an absolute path",
                                           mt->container_path);
                else if (stat(mt->host_path, &stb) < 0)
                        r = ocid_error_set_errno(err, OCID_ERR_INVALID, errno, "mount source '%s'", mt->host_path);
                else if (mt->recursive_read_only && !mt->readonly)
                        r = ocid_error_set(err, OCID_ERR_INVALID, "recursive read-only mount '%s' must be read-only",
                                           mt->container_path);
                else
                        add_mount(&mounts, &n_mounts, (oci_mount){
                                .container_path = mt->container_path, .host_path = mt->host_path,
                                .readonly = mt->readonly, .recursive_readonly = mt->recursive_read_only,
                                .propagation = (oci_propagation)mt->propagation });
        }
        spec.mounts = mounts;
        spec.n_mounts = n_mounts;
        oci_device *devices = xcalloc(cfg->n_devices + 1, sizeof(*devices));
        for (size_t i = 0; i < cfg->n_devices; i++)
                devices[i] = (oci_device){ .container_path = cfg->devices[i]->container_path,
                                           .host_path = cfg->devices[i]->host_path,
                                           .permissions = cfg->devices[i]->permissions };
        spec.devices = devices;
        spec.n_devices = cfg->n_devices;

        /* Security. */
        _cleanup_strv_ char **cap_add = NULL, **cap_drop = NULL, **masked = NULL, **ro_paths = NULL,
                            **hugepages = NULL, **unified = NULL, **annotations = NULL;
        if (sc && sc->capabilities) {
                for (size_t i = 0; i < sc->capabilities->n_add_capabilities; i++)
                        cap_add = strv_push(cap_add, sc->capabilities->add_capabilities[i]);
                for (size_t i = 0; i < sc->capabilities->n_drop_capabilities; i++)
                        cap_drop = strv_push(cap_drop, sc->capabilities->drop_capabilities[i]);
        }
        spec.cap_add = cap_add;
        spec.cap_drop = cap_drop;
        if (sc && sc->n_masked_paths) {
                for (size_t i = 0; i < sc->n_masked_paths; i++)
                        masked = strv_push(masked, sc->masked_paths[i]);
                spec.masked_paths = masked;
        }
        if (sc && sc->n_readonly_paths) {
                for (size_t i = 0; i < sc->n_readonly_paths; i++)
                        ro_paths = strv_push(ro_paths, sc->readonly_paths[i]);
                spec.readonly_paths = ro_paths;
        }
        _cleanup_free_ char *seccomp_text = NULL;
        spec.seccomp = SECCOMP_RUNTIME_DEFAULT;
        /* Older kubelets still send the profile as a path string. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        const char *legacy = sc ? sc->seccomp_profile_path : "";
#pragma GCC diagnostic pop
        if (sc && sc->seccomp) {
                if (sc->seccomp->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined)
                        spec.seccomp = SECCOMP_UNCONFINED;
                else if (sc->seccomp->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost)
                        legacy = sc->seccomp->localhost_ref;
        } else if (!legacy || !*legacy || STREQ(legacy, "unconfined")) {
                /* The CRI default without a profile is unconfined. */
                spec.seccomp = SECCOMP_UNCONFINED;
        }
        if (r == 0 && legacy && (strncmp(legacy, "localhost/", 10) == 0 || legacy[0] == '/')) {
                const char *path = legacy[0] == '/' ? legacy : legacy + 9;
                size_t len;
                int q = fs_read_file(path, 4 << 20, &seccomp_text, &len);
                if (q < 0)
                        r = ocid_error_set_errno(err, OCID_ERR_INVALID, q, "seccomp profile '%s'", path);
                spec.seccomp = SECCOMP_LOCALHOST;
                spec.seccomp_profile = seccomp_text;
        }

        /* Resources. */
        if (res) {
                spec.cpu_shares = res->cpu_shares;
                spec.cpu_quota = res->cpu_quota;
                spec.cpu_period = res->cpu_period;
                spec.cpuset_cpus = *res->cpuset_cpus ? res->cpuset_cpus : NULL;
                spec.cpuset_mems = *res->cpuset_mems ? res->cpuset_mems : NULL;
                spec.memory_limit = res->memory_limit_in_bytes;
                spec.memory_swap_limit = res->memory_swap_limit_in_bytes;
                for (size_t i = 0; i < res->n_hugepage_limits; i++)
                        hugepages = strv_pushf(hugepages, "%s=%llu", res->hugepage_limits[i]->page_size,
                                               (unsigned long long)res->hugepage_limits[i]->limit);
                for (size_t i = 0; i < res->n_unified; i++)
                        unified = strv_pushf(unified, "%s=%s", res->unified[i]->key, res->unified[i]->value);
                /* oom_score_adj may not go below the daemon's own here. */
                int floor = current_oom_score_adj();
                spec.has_oom_score_adj = true;
                spec.oom_score_adj = res->oom_score_adj < floor ? floor : (int)res->oom_score_adj;
        }
        spec.hugepage_limits = hugepages;
        spec.unified = unified;
        for (size_t i = 0; i < cfg->n_annotations; i++)
                annotations = strv_pushf(annotations, "%s=%s", cfg->annotations[i]->key, cfg->annotations[i]->value);
        spec.annotations = annotations;

        _cleanup_free_ char *log_path = NULL;
        Runtime__V1__PodSandboxConfig *pcfg = runtime__v1__pod_sandbox_config__unpack(NULL, sb->config_len, sb->config);
        if (pcfg && *pcfg->log_directory && *cfg->log_path)
                log_path = fs_path_join(pcfg->log_directory, cfg->log_path);

        size_t len = protobuf_c_message_get_packed_size(&cfg->base);
        _cleanup_free_ uint8_t *packed = xcalloc(len + 1, 1);
        protobuf_c_message_pack(&cfg->base, packed);
        const char *stop = signal_name(cfg->stop_signal);
        create_ctx ctx = { .cfg = cfg, .image = icfg };
        container_request creq = {
                .sandbox_id = sb->id, .name = cfg->metadata->name, .attempt = cfg->metadata->attempt,
                .image_id = img ? img->id : "", .image_name = cfg->image->image,
                .layers = img ? img->layers : NULL, .log_path = log_path,
                .runtime_handler = sb->runtime_handler,
                .stop_signal = stop ? stop : (icfg && *icfg->stop_signal ? icfg->stop_signal : NULL),
                .cgroup_parent = sb->cgroup_parent, .config = packed, .config_len = len,
                .prepare_spec = resolve_user, .prepare_data = &ctx,
        };
        _cleanup_free_ char *id = NULL;
        if (r == 0)
                r = container_create(st->containers, &creq, &spec, &id, err);
        free((void *)spec.additional_gids);
        free(mounts);
        free(devices);
        if (pcfg)
                runtime__v1__pod_sandbox_config__free_unpacked(pcfg, NULL);
        image_config_free(icfg);
        image_record_free(img);
        const char *pod_id = sb->id;
        if (r < 0) {
                ocid_error_wrap(err, "create container '%s' in pod %s", cfg->metadata->name, pod_id);
                sandbox_free(sb);
                return -1;
        }
        sandbox_free(sb);
        Runtime__V1__CreateContainerResponse *resp_msg =
                XNEW_MSG(Runtime__V1__CreateContainerResponse, runtime__v1__create_container_response__init);
        resp_msg->container_id = TAKE_PTR(id);
        *resp = &resp_msg->base;
        return 0;
}

/* ---- lifecycle ---------------------------------------------------------------- */

CRI_HANDLER(cri_start_container)
{
        const Runtime__V1__StartContainerRequest *in = (const Runtime__V1__StartContainerRequest *)req;
        cri_state *st = rpc_call_context(call);
        if (container_start(st->containers, in->container_id, err) < 0)
                return ocid_error_wrap(err, "start container");
        *resp = (ProtobufCMessage *)XNEW_MSG(Runtime__V1__StartContainerResponse,
                                             runtime__v1__start_container_response__init);
        return 0;
}

CRI_HANDLER(cri_stop_container)
{
        const Runtime__V1__StopContainerRequest *in = (const Runtime__V1__StopContainerRequest *)req;
        cri_state *st = rpc_call_context(call);
        if (container_stop(st->containers, in->container_id, in->timeout, err) < 0)
                return ocid_error_wrap(err, "stop container");
        *resp = (ProtobufCMessage *)XNEW_MSG(Runtime__V1__StopContainerResponse,
                                             runtime__v1__stop_container_response__init);
        return 0;
}

CRI_HANDLER(cri_remove_container)
{
        const Runtime__V1__RemoveContainerRequest *in = (const Runtime__V1__RemoveContainerRequest *)req;
        cri_state *st = rpc_call_context(call);
        if (container_remove(st->containers, in->container_id, err) < 0)
                return ocid_error_wrap(err, "remove container");
        *resp = (ProtobufCMessage *)XNEW_MSG(Runtime__V1__RemoveContainerResponse,
                                             runtime__v1__remove_container_response__init);
        return 0;
}

/* ---- status and lists -------------------------------------------------------------- */

static Runtime__V1__ContainerMetadata *metadata_of(const container *c)
{
        Runtime__V1__ContainerMetadata *md =
                XNEW_MSG(Runtime__V1__ContainerMetadata, runtime__v1__container_metadata__init);
        md->name = xstrdup(c->name);
        md->attempt = c->attempt;
        return md;
}

static Runtime__V1__ImageSpec *image_spec_of(const container *c)
{
        Runtime__V1__ImageSpec *is = XNEW_MSG(Runtime__V1__ImageSpec, runtime__v1__image_spec__init);
        is->image = xstrdup(c->image_name);
        return is;
}

static Runtime__V1__ContainerState state_of(const container *c)
{
        switch (c->state) {
        case CONTAINER_CREATED: return RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
        case CONTAINER_RUNNING: return RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
        case CONTAINER_EXITED: return RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
        default: return RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
        }
}

/* Copy a message through its wire form: the stored config's pieces. */
static ProtobufCMessage *clone_message(const ProtobufCMessage *m)
{
        if (!m)
                return NULL;
        size_t len = protobuf_c_message_get_packed_size(m);
        _cleanup_free_ uint8_t *buf = xcalloc(len + 1, 1);
        protobuf_c_message_pack(m, buf);
        return protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
}

CRI_HANDLER(cri_container_status)
{
        const Runtime__V1__ContainerStatusRequest *in = (const Runtime__V1__ContainerStatusRequest *)req;
        cri_state *st = rpc_call_context(call);
        container *c = NULL;
        if (container_get(st->containers, in->container_id, &c, err) < 0)
                return -1;
        ctr_config *cfg = stored_config(c);
        Runtime__V1__ContainerStatus *s = XNEW_MSG(Runtime__V1__ContainerStatus, runtime__v1__container_status__init);
        s->id = xstrdup(c->id);
        s->metadata = metadata_of(c);
        s->state = state_of(c);
        s->created_at = c->created_at;
        s->started_at = c->started_at;
        s->finished_at = c->finished_at;
        s->exit_code = c->exit_code;
        s->image = image_spec_of(c);
        s->image_ref = xstrdup(c->image_id);
        s->image_id = xstrdup(c->image_id);
        s->log_path = xstrdup(c->log_path);
        if (c->state == CONTAINER_EXITED) {
                s->reason = xstrdup(c->oom_killed ? "OOMKilled" : c->exit_code == 0 ? "Completed" : "Error");
                if (c->oom_killed)
                        s->message = xstrdup("the container's memory limit was reached");
        }
        if (cfg) {
                s->labels = cri_copy_map((void **)cfg->labels, cfg->n_labels, &s->n_labels,
                                     &runtime__v1__container_status__labels_entry__descriptor);
                s->annotations = cri_copy_map((void **)cfg->annotations, cfg->n_annotations, &s->n_annotations,
                                          &runtime__v1__container_status__annotations_entry__descriptor);
                s->mounts = xcalloc(cfg->n_mounts + 1, sizeof(*s->mounts));
                for (size_t i = 0; i < cfg->n_mounts; i++)
                        s->mounts[s->n_mounts++] = (Runtime__V1__Mount *)clone_message(&cfg->mounts[i]->base);
                if (cfg->linux && cfg->linux->resources) {
                        s->resources = XNEW_MSG(Runtime__V1__ContainerResources, runtime__v1__container_resources__init);
                        s->resources->linux = (Runtime__V1__LinuxContainerResources *)clone_message(
                                &cfg->linux->resources->base);
                }
                s->stop_signal = cfg->stop_signal;
        }
        /* The user the process runs as, from the generated spec. */
        json_object *spec = json_tokener_parse(c->spec_json);
        json_object *user = NULL;
        if (spec && json_object_object_get_ex(json_object_object_get(spec, "process"), "user", &user)) {
                s->user = XNEW_MSG(Runtime__V1__ContainerUser, runtime__v1__container_user__init);
                s->user->linux = XNEW_MSG(Runtime__V1__LinuxContainerUser, runtime__v1__linux_container_user__init);
                s->user->linux->uid = json_object_get_int64(json_object_object_get(user, "uid"));
                s->user->linux->gid = json_object_get_int64(json_object_object_get(user, "gid"));
                json_object *groups = json_object_object_get(user, "additionalGids");
                size_t n = groups ? json_object_array_length(groups) : 0;
                s->user->linux->supplemental_groups = xcalloc(n + 1, sizeof(int64_t));
                for (size_t i = 0; i < n; i++)
                        s->user->linux->supplemental_groups[i] = json_object_get_int64(json_object_array_get_idx(groups, i));
                s->user->linux->n_supplemental_groups = n;
        }

        Runtime__V1__ContainerStatusResponse *r =
                XNEW_MSG(Runtime__V1__ContainerStatusResponse, runtime__v1__container_status_response__init);
        r->status = s;
        if (in->verbose) {
                json_object *info = json_object_new_object();
                json_object_object_add(info, "sandboxID", json_object_new_string(c->sandbox_id));
                json_object_object_add(info, "pid", json_object_new_int(c->pid));
                json_object_object_add(info, "runtimeHandler", json_object_new_string(c->runtime_handler));
                json_object_object_add(info, "bundle", json_object_new_string(c->bundle));
                json_object_object_add(info, "runtimeSpec", json_object_get(spec));
                Runtime__V1__ContainerStatusResponse__InfoEntry *e = XNEW_MSG(
                        Runtime__V1__ContainerStatusResponse__InfoEntry,
                        runtime__v1__container_status_response__info_entry__init);
                e->key = xstrdup("info");
                e->value = xstrdup(json_object_to_json_string_ext(info, JSON_C_TO_STRING_PLAIN |
                                                                      JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(info);
                r->info = xcalloc(1, sizeof(*r->info));
                r->info[r->n_info++] = e;
        }
        json_object_put(spec);
        if (cfg)
                runtime__v1__container_config__free_unpacked(cfg, NULL);
        container_free(c);
        *resp = &r->base;
        return 0;
}


CRI_HANDLER(cri_list_containers)
{
        const Runtime__V1__ListContainersRequest *in = (const Runtime__V1__ListContainersRequest *)req;
        cri_state *st = rpc_call_context(call);
        const Runtime__V1__ContainerFilter *f = in->filter;
        container **list = NULL;
        size_t n = 0;
        if (container_list(st->containers, &list, &n, err) < 0)
                return -1;
        Runtime__V1__ListContainersResponse *r =
                XNEW_MSG(Runtime__V1__ListContainersResponse, runtime__v1__list_containers_response__init);
        r->containers = xcalloc(n + 1, sizeof(*r->containers));
        for (size_t i = 0; i < n; i++) {
                container *c = list[i];
                if (c->infra)
                        continue;
                if (f && *f->id && strncmp(c->id, f->id, strlen(f->id)) != 0)
                        continue;
                if (f && *f->pod_sandbox_id && strncmp(c->sandbox_id, f->pod_sandbox_id, strlen(f->pod_sandbox_id)) != 0)
                        continue;
                if (f && f->state && f->state->state != state_of(c))
                        continue;
                ctr_config *cfg = stored_config(c);
                if (f && !cri_labels_match(cfg ? (void **)cfg->labels : NULL, cfg ? cfg->n_labels : 0,
                                           (void **)f->label_selector, f->n_label_selector)) {
                        if (cfg)
                                runtime__v1__container_config__free_unpacked(cfg, NULL);
                        continue;
                }
                Runtime__V1__Container *o = XNEW_MSG(Runtime__V1__Container, runtime__v1__container__init);
                o->id = xstrdup(c->id);
                o->pod_sandbox_id = xstrdup(c->sandbox_id);
                o->metadata = metadata_of(c);
                o->image = image_spec_of(c);
                o->image_ref = xstrdup(c->image_id);
                o->image_id = xstrdup(c->image_id);
                o->state = state_of(c);
                o->created_at = c->created_at;
                if (cfg) {
                        o->labels = cri_copy_map((void **)cfg->labels, cfg->n_labels, &o->n_labels,
                                             &runtime__v1__container__labels_entry__descriptor);
                        o->annotations = cri_copy_map((void **)cfg->annotations, cfg->n_annotations, &o->n_annotations,
                                                  &runtime__v1__container__annotations_entry__descriptor);
                        runtime__v1__container_config__free_unpacked(cfg, NULL);
                }
                r->containers[r->n_containers++] = o;
        }
        containers_free(list, n);
        *resp = &r->base;
        return 0;
}

/* ---- updates, logs, exec --------------------------------------------------------- */

static void replace_string(char **field, const char *value)
{
        if (*field && *field != protobuf_c_empty_string)
                free(*field);
        *field = xstrdup(value);
}

/* After a successful update: the stored config's resources with what the
 * update set (the fields it gives; the others keep their values, as in the
 * cgroup), so that ContainerStatus reports what is in force. */
static void remember_resources(cri_state *st, const char *id, const Runtime__V1__LinuxContainerResources *res)
{
        ocid_error ignored = OCID_ERROR_INIT;
        container *c = NULL;
        if (container_get(st->containers, id, &c, &ignored) < 0) {
                ocid_error_clear(&ignored);
                return;
        }
        ctr_config *cfg = stored_config(c);
        if (!cfg) {
                container_free(c);
                return;
        }
        if (!cfg->linux) {
                cfg->linux = xcalloc(1, sizeof(*cfg->linux));
                runtime__v1__linux_container_config__init(cfg->linux);
        }
        Runtime__V1__LinuxContainerResources *cur = cfg->linux->resources;
        if (!cur) {
                cfg->linux->resources = (Runtime__V1__LinuxContainerResources *)clone_message(&res->base);
        } else {
                if (res->cpu_period)
                        cur->cpu_period = res->cpu_period;
                if (res->cpu_quota)
                        cur->cpu_quota = res->cpu_quota;
                if (res->cpu_shares)
                        cur->cpu_shares = res->cpu_shares;
                if (res->memory_limit_in_bytes) {
                        cur->memory_limit_in_bytes = res->memory_limit_in_bytes;
                        cur->memory_swap_limit_in_bytes = res->memory_swap_limit_in_bytes;
                }
                if (*res->cpuset_cpus)
                        replace_string(&cur->cpuset_cpus, res->cpuset_cpus);
                if (*res->cpuset_mems)
                        replace_string(&cur->cpuset_mems, res->cpuset_mems);
                if (res->n_unified) {
                        for (size_t i = 0; i < cur->n_unified; i++)
                                protobuf_c_message_free_unpacked(&cur->unified[i]->base, NULL);
                        free(cur->unified);
                        cur->unified = xcalloc(res->n_unified, sizeof(*cur->unified));
                        for (size_t i = 0; i < res->n_unified; i++)
                                cur->unified[i] = (Runtime__V1__LinuxContainerResources__UnifiedEntry *)clone_message(
                                        &res->unified[i]->base);
                        cur->n_unified = res->n_unified;
                }
        }
        size_t len = protobuf_c_message_get_packed_size(&cfg->base);
        _cleanup_free_ uint8_t *packed = xcalloc(len + 1, 1);
        protobuf_c_message_pack(&cfg->base, packed);
        if (container_set_config(st->containers, c->id, packed, len, &ignored) < 0)
                log_warn("container %s: cannot record its new resources: %s", c->id, ignored.message);
        ocid_error_clear(&ignored);
        runtime__v1__container_config__free_unpacked(cfg, NULL);
        container_free(c);
}

CRI_HANDLER(cri_update_container_resources)
{
        const Runtime__V1__UpdateContainerResourcesRequest *in =
                (const Runtime__V1__UpdateContainerResourcesRequest *)req;
        cri_state *st = rpc_call_context(call);
        const Runtime__V1__LinuxContainerResources *res = in->linux;
        if (!res)
                return ocid_error_set(err, OCID_ERR_INVALID, "no linux resources given");
        /* An OCI "resources" object, as `runtime update --resources` reads it. */
        json_object *o = json_object_new_object();
        json_object *cpu = json_object_new_object();
        if (res->cpu_shares)
                json_object_object_add(cpu, "shares", json_object_new_int64(res->cpu_shares));
        if (res->cpu_quota)
                json_object_object_add(cpu, "quota", json_object_new_int64(res->cpu_quota));
        if (res->cpu_period)
                json_object_object_add(cpu, "period", json_object_new_int64(res->cpu_period));
        if (*res->cpuset_cpus)
                json_object_object_add(cpu, "cpus", json_object_new_string(res->cpuset_cpus));
        if (*res->cpuset_mems)
                json_object_object_add(cpu, "mems", json_object_new_string(res->cpuset_mems));
        json_object_object_add(o, "cpu", cpu);
        json_object *mem = json_object_new_object();
        if (res->memory_limit_in_bytes) {
                json_object_object_add(mem, "limit", json_object_new_int64(res->memory_limit_in_bytes));
                json_object_object_add(mem, "swap", json_object_new_int64(res->memory_swap_limit_in_bytes
                                                                                   ? res->memory_swap_limit_in_bytes
                                                                                   : res->memory_limit_in_bytes));
        }
        json_object_object_add(o, "memory", mem);
        if (res->n_unified) {
                json_object *u = json_object_new_object();
                for (size_t i = 0; i < res->n_unified; i++)
                        json_object_object_add(u, res->unified[i]->key, json_object_new_string(res->unified[i]->value));
                json_object_object_add(o, "unified", u);
        }
        int rc = container_update_resources(st->containers, in->container_id, o, err);
        json_object_put(o);
        if (rc < 0)
                return ocid_error_wrap(err, "update container resources");
        remember_resources(st, in->container_id, res);
        *resp = (ProtobufCMessage *)XNEW_MSG(Runtime__V1__UpdateContainerResourcesResponse,
                                             runtime__v1__update_container_resources_response__init);
        return 0;
}

CRI_HANDLER(cri_reopen_container_log)
{
        const Runtime__V1__ReopenContainerLogRequest *in = (const Runtime__V1__ReopenContainerLogRequest *)req;
        cri_state *st = rpc_call_context(call);
        if (container_reopen_log(st->containers, in->container_id, err) < 0)
                return ocid_error_wrap(err, "reopen container log");
        *resp = (ProtobufCMessage *)XNEW_MSG(Runtime__V1__ReopenContainerLogResponse,
                                             runtime__v1__reopen_container_log_response__init);
        return 0;
}

CRI_HANDLER(cri_exec_sync)
{
        const Runtime__V1__ExecSyncRequest *in = (const Runtime__V1__ExecSyncRequest *)req;
        cri_state *st = rpc_call_context(call);
        _cleanup_strv_ char **cmd = NULL;
        for (size_t i = 0; i < in->n_cmd; i++)
                cmd = strv_push(cmd, in->cmd[i]);
        exec_result res = { 0 };
        if (container_exec_sync(st->containers, in->container_id, cmd, in->timeout, &res, err) < 0)
                return ocid_error_wrap(err, "exec in container");
        if (res.timed_out) {
                exec_result_release(&res);
                return ocid_error_set(err, OCID_ERR_DEADLINE, "command timed out after %lld s",
                                      (long long)in->timeout);
        }
        Runtime__V1__ExecSyncResponse *r = XNEW_MSG(Runtime__V1__ExecSyncResponse, runtime__v1__exec_sync_response__init);
        r->stdout.data = (uint8_t *)res.out;
        r->stdout.len = res.out_len;
        r->stderr.data = (uint8_t *)res.err;
        r->stderr.len = res.err_len;
        r->exit_code = res.exit_code;
        *resp = &r->base;
        return 0;
}
