/* Containers: created from an OCI spec (runtime/oci_spec.h) on an overlay
 * root filesystem, run by an OCI runtime (crun, runc) under conmon, which
 * owns their stdio, writes their CRI log and an exit file when they end.
 *
 *   ROOT/containers/<id>/{upper,work,rootfs}   the writable layer and the mount
 *   RUNROOT/containers/<id>/                   bundle: config.json, conmon's
 *                                              pid files, ctl FIFO, attach socket
 *   RUNROOT/exits/<id>                         exit code, written by conmon
 *
 * A container's end is read from its exit file when its state is next
 * looked at, so nothing polls. State lives in ROOT/state.db. Thread-safe;
 * operations on one container are serialised. */
#pragma once

#include "runtime/oci_spec.h"
#include "storage/store.h"
#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum {
        CONTAINER_CREATED = 0,
        CONTAINER_RUNNING = 1,
        CONTAINER_EXITED = 2,
        CONTAINER_UNKNOWN = 3,
} container_state;

typedef struct {
        char *id;
        char *sandbox_id;
        char *name;                 /* metadata name */
        uint32_t attempt;
        char *image_id;             /* "sha256:..." */
        char *image_name;           /* as the caller gave it */
        container_state state;
        int64_t created_at, started_at, finished_at; /* unix ns; 0: not yet */
        int exit_code;
        bool oom_killed;
        char *log_path;             /* "" when none */
        char *runtime_handler;
        char *stop_signal;          /* from the image, "" for SIGTERM */
        int pid;                    /* the container's init, while running */
        char *bundle;
        void *config;               /* the CRI ContainerConfig, as given */
        size_t config_len;
        char *spec_json;            /* the OCI spec */
        bool infra;                 /* the pod's infra process */
} container;

void container_free(container *c);
void containers_free(container **v, size_t n);

typedef struct {
        const char *name;           /* runtime handler name: "crun", "runc" */
        const char *path;           /* the binary */
        const char *root;           /* --root for the runtime's state */
} runtime_handler;

typedef struct {
        const char *root;
        const char *runroot;
        const char *conmon;         /* path of conmon */
        const runtime_handler *handlers;
        size_t n_handlers;
        bool systemd_cgroup;
        store *store;               /* image layers; borrowed */
} container_options;

/* Whether the runtime says (`<runtime> features`) that it handles
 * recursive read-only mounts ("rro"), and the kernel can (5.12+). A runtime
 * without the features command is taken not to. */
bool runtime_supports_rro(const runtime_handler *h);

typedef struct container_manager container_manager;

int container_manager_new(const container_options *opts, container_manager **ret, ocid_error *err);
void container_manager_free(container_manager *m);

/* What CreateContainer needs beyond the OCI spec. */
typedef struct {
        const char *sandbox_id;
        const char *name;
        uint32_t attempt;
        const char *image_id;
        const char *image_name;
        char *const *layers;        /* chain IDs, bottom first */
        const char *rootfs_dir;     /* instead of layers: a ready directory (the pause rootfs) */
        bool infra;                 /* the pod's infra process, hidden from lists */
        const char *log_path;       /* absolute, or NULL */
        const char *runtime_handler;
        const char *stop_signal;
        const char *cgroup_parent;
        const void *config;
        size_t config_len;
        /* Fill the parts of the spec that depend on the rootfs (user
         * lookup) and mounts; called once the rootfs is mounted. */
        int (*prepare_spec)(container_spec *spec, const char *rootfs, void *data, ocid_error *err);
        void *prepare_data;
} container_request;

/* EXISTS when a container of that name and attempt is already in the pod. */
int container_create(container_manager *m, const container_request *req, container_spec *spec,
                     char **ret_id, ocid_error *err);
int container_start(container_manager *m, const char *id, ocid_error *err);
/* Signal, wait up to timeout_s, then SIGKILL. A stopped container is fine. */
int container_stop(container_manager *m, const char *id, int64_t timeout_s, ocid_error *err);
/* Kill if needed and delete everything. A missing ID is fine. */
int container_remove(container_manager *m, const char *id, ocid_error *err);
int container_get(container_manager *m, const char *id, container **ret, ocid_error *err);
int container_list(container_manager *m, container ***ret, size_t *ret_n, ocid_error *err);

typedef struct {
        int exit_code;
        char *out;
        size_t out_len;
        char *err;
        size_t err_len;
        bool timed_out;
} exec_result;

void exec_result_release(exec_result *r);

/* Run args in the running container, capturing output; timeout_s 0: none.
 * At the timeout the process is killed and timed_out set. */
int container_exec_sync(container_manager *m, const char *id, char *const *args, int64_t timeout_s,
                        exec_result *ret, ocid_error *err);

/* An interactive exec (the Exec RPC's streaming session): `<runtime>
 * exec` runs as the daemon's child, the process it starts in the
 * container wired to pipes or to a terminal. */
typedef struct {
        const char *id;
        char *const *args;
        bool tty, in, out, err;
        uint16_t width, height;     /* the terminal's first size; 0: unknown */
} container_exec_request;

typedef struct {
        pid_t pid;          /* the runtime's exec, our child; 0 once reaped */
        int pidfd;          /* readable when it ended; -1 without pidfd support */
        int stdin_fd;       /* write end of the process's stdin, or -1 */
        int stdout_fd;      /* read ends, or -1 */
        int stderr_fd;      /* with a tty: the runtime's own messages */
        int tty_fd;         /* with a tty: the terminal's master, both ways */
        int init_pid;       /* the container's init, whose group is never killed */
        char *spec_path, *pid_path;
} container_exec;

int container_exec_open(container_manager *m, const container_exec_request *req, container_exec **ret,
                        ocid_error *err);
void container_exec_resize(container_exec *x, uint16_t width, uint16_t height);
/* Kill the exec'd process (with its process group) and the runtime. */
void container_exec_kill(container_exec *x);
/* Reap the runtime (blocks until it ended): the command's exit code, or
 * 128 + the signal that ended it; -1 when it could not be reaped. */
int container_exec_wait(container_exec *x);
/* Kills and reaps the runtime if still running; closes everything. */
void container_exec_free(container_exec *x);

/* Attaching to a running container's stdio: conmon's attach socket
 * (SOCK_SEQPACKET; what the container writes arrives in packets whose
 * first byte names the stream, 2 stdout or 3 stderr; what is sent becomes
 * the container's stdin; shutting down the write side closes that stdin
 * when the container was created with stdin_once). */
typedef struct {
        int fd;
        bool tty;           /* the container has a terminal */
        char *ctl_path;     /* conmon's control FIFO, for resizes */
} container_attach;

enum { CONTAINER_ATTACH_STDOUT = 2, CONTAINER_ATTACH_STDERR = 3 };

int container_attach_open(container_manager *m, const char *id, container_attach *ret, ocid_error *err);
void container_attach_resize(const container_attach *a, uint16_t width, uint16_t height);

/* Apply new resources (an OCI "resources" object) to a running or created
 * container. */
int container_update_resources(container_manager *m, const char *id, json_object *resources,
                               ocid_error *err);

/* Replace the stored CRI config (the serialized ContainerConfig) of a
 * container: after UpdateContainerResources, its status shows the new
 * resources. */
int container_set_config(container_manager *m, const char *id, const void *config, size_t len,
                         ocid_error *err);

/* Ask conmon to reopen the log file (after a rotation). */
int container_reopen_log(container_manager *m, const char *id, ocid_error *err);

/* Every container of a pod, for stopping and removing the pod. */
int container_list_by_sandbox(container_manager *m, const char *sandbox_id, char ***ret_ids,
                              ocid_error *err);
