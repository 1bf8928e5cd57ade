/* The CRI handlers and the dispatch table. Handlers translate between the
 * protobuf-c messages and the subsystems; nothing below cri/ sees protobuf. */
#pragma once

#include "image/pull.h"
#include "runtime/container.h"
#include "runtime/sandbox.h"
#include "server/server.h"
#include "storage/store.h"
#include "stream/server.h"

#include <pthread.h>
#include <stdbool.h>

typedef struct {
        const char *name;
        bool recursive_read_only_mounts;
} cri_handler_info;

/* What the handlers need from the daemon. Owned by the daemon; fields the
 * handlers change are guarded by `lock`. */
typedef struct {
        pthread_mutex_t lock;
        const char *network_dir;
        char *const *plugin_dirs;
        bool cgroup_systemd;      /* the cgroup driver in use */
        char *config_json;        /* effective configuration, for Status verbose */
        char *pod_cidr;           /* from UpdateRuntimeConfig */
        store *store;
        puller *puller;
        char *const *pinned_images; /* names or patterns ending in '*' */
        const char *containers_dir; /* the container filesystem, for ImageFsInfo */
        sandbox_manager *sandboxes;
        container_manager *containers;
        const char *default_runtime;
        const char *pause_rootfs;   /* root filesystem of infra processes */
        const cri_handler_info *handlers; /* the runtime handlers available */
        size_t n_handlers;
        stream_server *streams;     /* where Exec, Attach and PortForward send clients */
} cri_state;

void cri_state_init(cri_state *st);
void cri_state_release(cri_state *st);
/* Replace the configuration shown by Status verbose (takes ownership). */
void cri_state_set_config_json(cri_state *st, char *json);

/* Every RPC of the CRI services, built from the proto's service
 * descriptors: the ones ocid implements have a handler, the others answer
 * UNIMPLEMENTED. The array is static; *ret_n gets its length. */
const rpc_method *cri_methods(size_t *ret_n);

/* What the streaming server calls to open sessions (cri/stream.c). */
stream_backend cri_stream_backend(cri_state *st);
