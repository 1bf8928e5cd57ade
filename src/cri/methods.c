#include "cri/cri.h"
#include "cri/handlers.h"
#include "util/cleanup.h"

#include "runtime/v1/api.pb-c.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct {
        const char *service;
        const char *method;
        rpc_handler_fn handler;
        unsigned flags;
} implemented;

/* One line per RPC that ocid serves. */
static const implemented table[] = {
        { "RuntimeService", "Version", cri_version, RPC_INLINE },
        { "RuntimeService", "Status", cri_status, RPC_BLOCKING },
        { "RuntimeService", "RuntimeConfig", cri_runtime_config, RPC_INLINE },
        { "RuntimeService", "UpdateRuntimeConfig", cri_update_runtime_config, RPC_INLINE },
        { "RuntimeService", "RunPodSandbox", cri_run_pod_sandbox, RPC_BLOCKING },
        { "RuntimeService", "StopPodSandbox", cri_stop_pod_sandbox, RPC_BLOCKING },
        { "RuntimeService", "RemovePodSandbox", cri_remove_pod_sandbox, RPC_BLOCKING },
        { "RuntimeService", "PodSandboxStatus", cri_pod_sandbox_status, RPC_BLOCKING },
        { "RuntimeService", "ListPodSandbox", cri_list_pod_sandbox, RPC_BLOCKING },
        { "RuntimeService", "CreateContainer", cri_create_container, RPC_BLOCKING },
        { "RuntimeService", "StartContainer", cri_start_container, RPC_BLOCKING },
        { "RuntimeService", "StopContainer", cri_stop_container, RPC_BLOCKING },
        { "RuntimeService", "RemoveContainer", cri_remove_container, RPC_BLOCKING },
        { "RuntimeService", "ContainerStatus", cri_container_status, RPC_BLOCKING },
        { "RuntimeService", "ListContainers", cri_list_containers, RPC_BLOCKING },
        { "RuntimeService", "UpdateContainerResources", cri_update_container_resources, RPC_BLOCKING },
        { "RuntimeService", "ReopenContainerLog", cri_reopen_container_log, RPC_BLOCKING },
        { "RuntimeService", "ExecSync", cri_exec_sync, RPC_BLOCKING },
        { "RuntimeService", "Exec", cri_exec, RPC_BLOCKING },
        { "RuntimeService", "Attach", cri_attach, RPC_BLOCKING },
        { "RuntimeService", "PortForward", cri_port_forward, RPC_BLOCKING },
        { "RuntimeService", "StreamPodSandboxes", cri_stream_pod_sandboxes, RPC_BLOCKING | RPC_STREAM },
        { "RuntimeService", "StreamContainers", cri_stream_containers, RPC_BLOCKING | RPC_STREAM },
        { "ImageService", "StreamImages", cri_stream_images, RPC_BLOCKING | RPC_STREAM },
        { "ImageService", "PullImage", cri_pull_image, RPC_BLOCKING },
        { "ImageService", "ListImages", cri_list_images, RPC_BLOCKING },
        { "ImageService", "ImageStatus", cri_image_status, RPC_BLOCKING },
        { "ImageService", "RemoveImage", cri_remove_image, RPC_BLOCKING },
        { "ImageService", "ImageFsInfo", cri_image_fs_info, RPC_BLOCKING },
};

#define MAX_METHODS 64

static rpc_method methods[MAX_METHODS];
static char paths[MAX_METHODS][96];
static size_t n_methods;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void add_service(const ProtobufCServiceDescriptor *svc)
{
        for (unsigned i = 0; i < svc->n_methods && n_methods < MAX_METHODS; i++) {
                const ProtobufCMethodDescriptor *m = &svc->methods[i];
                rpc_method *out = &methods[n_methods];
                snprintf(paths[n_methods], sizeof(paths[n_methods]), "/%s/%s", svc->name, m->name);
                out->path = paths[n_methods];
                out->input = m->input;
                for (size_t j = 0; j < ARRAY_SIZE(table); j++)
                        if (STREQ(table[j].service, svc->short_name) &&
                            STREQ(table[j].method, m->name)) {
                                out->handler = table[j].handler;
                                out->flags = table[j].flags;
                        }
                n_methods++;
        }
}

static void build(void)
{
        add_service(&runtime__v1__runtime_service__descriptor);
        add_service(&runtime__v1__image_service__descriptor);
}

const rpc_method *cri_methods(size_t *ret_n)
{
        pthread_once(&once, build);
        *ret_n = n_methods;
        return methods;
}
