/* Pod sandboxes: the namespaces, files and network a pod's containers
 * share. No process runs for a pod: its network, IPC and UTS namespaces
 * are pinned (runtime/namespaces.h). State lives in SQLite (ROOT/state.db);
 * each pod's files in RUNROOT/pods/<id>/.
 *
 * Every operation either completes or is undone: a RunPodSandbox that
 * fails halfway leaves no namespace, mount, IP or file behind. Operations
 * on one sandbox are serialised; different sandboxes proceed in parallel.
 * Thread-safe. */
#pragma once

#include "network/cni.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { SANDBOX_READY = 0, SANDBOX_NOTREADY = 1 } sandbox_state;

/* What RunPodSandbox asks for, in the project's own terms. Borrowed. */
typedef struct {
        const char *name, *namespace, *uid;
        uint32_t attempt;
        const char *hostname;
        char *const *dns_servers;
        char *const *dns_searches;
        char *const *dns_options;
        const cni_port_mapping *ports;
        size_t n_ports;
        bool host_network, host_ipc, host_pid;
        bool shared_pid;            /* pid namespace POD: the caller adds an infra container */
        const char *cgroup_parent;
        char *const *sysctls;       /* "key=value" */
        const char *runtime_handler; /* already resolved to a known handler */
        /* The CRI request's config, stored as given for status and lists. */
        const void *config;
        size_t config_len;
} sandbox_spec;

typedef struct {
        char *id;
        char *name, *namespace, *uid;
        uint32_t attempt;
        sandbox_state state;
        int64_t created_at;         /* unix nanoseconds */
        char *runtime_handler;
        char *dir;                  /* RUNROOT/pods/<id> */
        bool host_network, host_ipc;
        char *cgroup_parent;
        char *ip;                   /* primary pod IP, "" when none */
        char **additional_ips;
        char *cni_result;           /* JSON of the ADD result, or NULL */
        char *network_name;
        void *config;
        size_t config_len;
        char *infra_id;             /* the infra container, "" without one */
} sandbox;

void sandbox_free(sandbox *sb);
void sandboxes_free(sandbox **v, size_t n);

typedef struct {
        const char *root;           /* state.db lives here */
        const char *runroot;        /* pods/ lives here */
        const char *network_dir;    /* CNI configurations */
        char *const *plugin_dirs;
        int cni_timeout_ms;         /* per plugin; 0: 60 s */
} sandbox_options;

typedef struct sandbox_manager sandbox_manager;

/* Opens the state and reconciles it with the machine: a ready pod whose
 * namespaces vanished (a reboot) becomes NOTREADY. */
int sandbox_manager_new(const sandbox_options *opts, sandbox_manager **ret, ocid_error *err);
void sandbox_manager_free(sandbox_manager *m);

/* EXISTS when a sandbox with the same name, namespace, uid and attempt
 * exists (the message names it); INVALID for a bad spec; the CNI plugin's
 * own message when networking fails. */
int sandbox_run(sandbox_manager *m, const sandbox_spec *spec, char **ret_id, ocid_error *err);
/* Record the pod's infra container. */
int sandbox_set_infra(sandbox_manager *m, const char *id, const char *infra_id, ocid_error *err);
/* Tear down network, /dev/shm and namespaces; NOTREADY. Idempotent. */
int sandbox_stop(sandbox_manager *m, const char *id, ocid_error *err);
/* Stop if needed, then delete files and record. A missing ID is fine. */
int sandbox_remove(sandbox_manager *m, const char *id, ocid_error *err);
/* By full ID or unique prefix. NOT_FOUND otherwise. */
int sandbox_get(sandbox_manager *m, const char *id, sandbox **ret, ocid_error *err);
int sandbox_list(sandbox_manager *m, sandbox ***ret, size_t *ret_n, ocid_error *err);
