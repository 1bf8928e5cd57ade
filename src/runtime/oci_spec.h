/* Generating the OCI runtime spec (config.json) of a container from what
 * the CRI asked for and what the image says, in the project's own terms.
 * Pure functions: no I/O except where noted (reading the container's own
 * /etc/passwd and /etc/group). */
#pragma once

#include "util/error.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
        PROPAGATION_PRIVATE = 0,        /* rprivate */
        PROPAGATION_HOST_TO_CONTAINER,  /* rslave */
        PROPAGATION_BIDIRECTIONAL,      /* rshared */
} oci_propagation;

typedef struct {
        const char *container_path;
        const char *host_path;
        bool readonly;
        bool recursive_readonly;        /* rro: needs kernel 5.12+ and runtime support */
        oci_propagation propagation;
        const char *type;               /* NULL: bind; "tmpfs" etc. for special mounts */
        const char *options;            /* extra comma-separated options, or NULL */
} oci_mount;

typedef struct {
        const char *container_path;
        const char *host_path;
        const char *permissions;        /* "rwm" subset */
} oci_device;

typedef enum { NS_MODE_NEW, NS_MODE_HOST, NS_MODE_JOIN } oci_ns_mode;

typedef struct {
        oci_ns_mode mode;
        const char *path;               /* NS_MODE_JOIN: the namespace file */
} oci_namespace;

typedef enum { SECCOMP_RUNTIME_DEFAULT, SECCOMP_UNCONFINED, SECCOMP_LOCALHOST } oci_seccomp_kind;

typedef struct {
        /* process */
        char *const *args;              /* resolved with oci_resolve_args */
        char *const *env;               /* "K=V", already merged */
        const char *cwd;                /* "" or NULL: "/" */
        uint32_t uid, gid;
        const uint32_t *additional_gids;
        size_t n_additional_gids;
        bool tty, stdin_open, stdin_once;
        const char *hostname;
        int oom_score_adj;              /* clamped by the caller to what the daemon may set */
        bool has_oom_score_adj;

        /* namespaces */
        oci_namespace net, ipc, uts, pid;

        /* root filesystem and mounts */
        const char *rootfs;
        bool readonly_rootfs;
        const oci_mount *mounts;
        size_t n_mounts;
        const oci_device *devices;
        size_t n_devices;

        /* security */
        bool privileged;
        char *const *cap_add;           /* "CAP_NET_ADMIN" or "NET_ADMIN", or "ALL" */
        char *const *cap_drop;
        uint64_t cap_bounding;          /* the daemon's own bounding set: nothing above it */
        bool no_new_privs;
        char *const *masked_paths;      /* NULL: the defaults; empty vector: none */
        char *const *readonly_paths;    /* NULL: the defaults */
        oci_seccomp_kind seccomp;
        const char *seccomp_profile;    /* SECCOMP_LOCALHOST: the profile's JSON text */
        const char *apparmor_profile;   /* NULL: none (no AppArmor on the host) */

        /* resources (0 / NULL: unset) */
        int64_t cpu_shares, cpu_quota, cpu_period;
        const char *cpuset_cpus, *cpuset_mems;
        int64_t memory_limit, memory_swap_limit;
        char *const *hugepage_limits;   /* "2MB=1073741824" */
        char *const *unified;           /* cgroup v2 "key=value" */
        const char *cgroups_path;       /* "/kubepods/.../<id>" or "slice:prefix:name" */

        char *const *annotations;       /* "k=v" */
} container_spec;

/* The config.json for spec (owned by the caller). INVALID for contradictions
 * (an unknown capability, a relative mount path...); PRECONDITION for a
 * capability asked for by name that is outside cap_bounding; NOT_FOUND for
 * a device whose host path does not exist.
 *
 * I/O: devices are stat()ed on the host (type, major, minor, mode, owner),
 * and RLIMIT_NOFILE is clamped to the daemon's own hard limit. Everything
 * else is computed from spec alone.
 *
 * What the spec contains beyond a field-by-field copy (following containerd
 * and CRI-O):
 *  - capabilities: the default set (oci_default_capabilities), then "ALL"
 *    in cap_add, "ALL" in cap_drop, the named adds, the named drops (so
 *    add ALL + drop CHOWN is everything but CHOWN, drop ALL + add X is X);
 *    privileged: all of cap_bounding. Always masked with cap_bounding, which
 *    "ALL" and privileged silently respect. bounding = effective =
 *    permitted; inheritable and ambient are empty (omitted).
 *  - env: a default PATH is appended when env has none.
 *  - user.additionalGids: gid first, then additional_gids (deduplicated),
 *    as containerd does since CVE-2023-25173.
 *  - mounts: /proc, /dev, /dev/pts, /dev/mqueue, /sys, /sys/fs/cgroup,
 *    /dev/shm, minus any whose destination a given mount replaces (and
 *    minus everything under /dev when /dev itself is given); then the given
 *    mounts, stably sorted by path depth so a parent is never mounted over
 *    its child. A bind mount with PROPAGATION_HOST_TO_CONTAINER or
 *    BIDIRECTIONAL makes linux.rootfsPropagation rslave or rshared.
 *  - hostname only when the UTS namespace is not the host's.
 *  - seccomp: RuntimeDefault is oci_seccomp_profile() of the final
 *    capability set; Unconfined and privileged omit it; Localhost must be a
 *    JSON object (at most 4 MiB) with a string defaultAction.
 *  - memory swap is emitted only when memory_swap_limit is set: the caller
 *    knows whether the host has swap accounting. */
int oci_spec_generate(const container_spec *spec, json_object **ret, ocid_error *err);

/* The default seccomp profile as an OCI "seccomp" object, for the default
 * capability set (built once, shared, never modified).
 * json-c's reference count is not atomic (Debian builds it without
 * threading), so from any thread but one: read it only; do not
 * json_object_get / json_object_put it, add it to another tree, or
 * serialize it as a top-level object (json-c caches the text inside it).
 * To own one, json_object_deep_copy it or call oci_seccomp_profile. */
json_object *oci_default_seccomp(void);

/* The default profile for a container holding capabilities `caps`: the
 * capability-conditional rules (mount with CAP_SYS_ADMIN, ptrace with
 * CAP_SYS_PTRACE...) included where held. A new object owned by the caller,
 * equal to oci_default_seccomp() for the default capabilities. */
json_object *oci_seccomp_profile(uint64_t caps);

/* Kubernetes semantics: command replaces the image's Entrypoint (and drops
 * its Cmd), args replace Cmd. INVALID when nothing is left to run or the
 * program is "". The result is owned by the caller (strv_free). */
int oci_resolve_args(char *const *image_entrypoint, char *const *image_cmd, char *const *command,
                     char *const *args, char ***ret, ocid_error *err);

/* Merge environments: later entries win by name; order of first appearance
 * kept. An entry without '=' is named by the whole string. Linear time. The
 * result is owned by the caller (strv_free); never NULL. */
char **oci_merge_env(char *const *image_env, char *const *cri_env);

/* Resolve a user ("name", "uid", "name:group", "uid:gid", "uid:group";
 * NULL or "": root) inside rootfs (its /etc/passwd and /etc/group, opened
 * with openat2 RESOLVE_IN_ROOT so no symlink or ".." leads outside rootfs;
 * each at most OCI_PASSWD_MAX_SIZE, a missing file reads as empty): uid, gid
 * and the supplementary groups the user is a member of (groups listing the
 * user's name, in file order, without duplicates; *ret_groups owned by the
 * caller, NULL when none). A numeric user missing from /etc/passwd is fine
 * (gid 0 unless given); a user or group name that is missing is NOT_FOUND;
 * a malformed or out-of-range number is INVALID. */
int oci_resolve_user(const char *rootfs, const char *user, uint32_t *ret_uid, uint32_t *ret_gid,
                     uint32_t **ret_groups, size_t *ret_n_groups, ocid_error *err);

/* The daemon's capability bounding set, as a bit mask (CAP_LAST_CAP+1 bits). */
uint64_t oci_current_bounding_set(void);

/* Capabilities. */

/* The set a container gets when it asks for nothing: containerd 1.x's and
 * moby's (CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID,
 * SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE). */
uint64_t oci_default_capabilities(void);

/* "CAP_SYS_ADMIN", "sys_admin"... (case-insensitive, prefix optional) to its
 * number, or -EINVAL for an unknown name (and for "ALL"). */
int oci_capability_from_name(const char *name);

/* "CAP_SYS_ADMIN" for 21; NULL for a number this build has no name for. */
const char *oci_capability_name(unsigned cap);

/* The final capability set of a container, as oci_spec_generate computes it
 * (see there). Errors: INVALID (unknown name), PRECONDITION (a named add
 * outside bounding). */
int oci_capabilities_resolve(bool privileged, char *const *cap_add, char *const *cap_drop,
                             uint64_t bounding, uint64_t *ret, ocid_error *err);

/* /etc/passwd and /etc/group parsing, exposed for tests and the fuzz target
 * (tests/fuzz/fuzz-passwd.c). Pure: no I/O. */

#define OCI_PASSWD_MAX_SIZE (4u << 20)
#define OCI_MAX_GROUPS 65536u   /* NGROUPS_MAX: setgroups refuses more */

/* One line of /etc/passwd, "name:password:uid:gid[:gecos:home:shell]",
 * without its '\n' (a trailing '\r' is ignored). Fields point into line.
 * -EINVAL for a blank, comment ('#'), NIS ('+'/'-') or malformed line, or
 * an id that is not a decimal number below 2^32-1. */
typedef struct {
        const char *name;
        size_t name_len;
        uint32_t uid, gid;
} oci_passwd_entry;
int oci_passwd_parse_line(const char *line, size_t len, oci_passwd_entry *ret);

/* One line of /etc/group, "name:password:gid[:member,member...]", as above.
 * members points at the comma-separated list (members_len 0: none). */
typedef struct {
        const char *name;
        size_t name_len;
        uint32_t gid;
        const char *members;
        size_t members_len;
} oci_group_entry;
int oci_group_parse_line(const char *line, size_t len, oci_group_entry *ret);

/* Whether the comma-separated member list of g names user exactly. */
bool oci_group_has_member(const oci_group_entry *g, const char *user, size_t user_len);

/* oci_resolve_user on file contents already read (passwd / group NULL: the
 * file is missing). Same results and errors. */
int oci_resolve_user_text(const char *passwd, size_t passwd_len, const char *group,
                          size_t group_len, const char *user, uint32_t *ret_uid,
                          uint32_t *ret_gid, uint32_t **ret_groups, size_t *ret_n_groups,
                          ocid_error *err);
