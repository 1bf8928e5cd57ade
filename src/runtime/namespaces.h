/* Pod namespaces without a pause process: new network, IPC and UTS
 * namespaces are created by a short-lived thread and pinned by
 * bind-mounting their nsfs files into the pod's directory, where they live
 * until unpinned (CRI-O calls this pinns). */
#pragma once

#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>

enum {
        NS_NET = 1 << 0,
        NS_IPC = 1 << 1,
        NS_UTS = 1 << 2,
};

/* Create and pin the namespaces in `kinds` as DIR/net, DIR/ipc, DIR/uts.
 * In the new UTS namespace the hostname is set; sysctls ("key=value")
 * are written inside the new namespaces (each must belong to one of them:
 * see ns_sysctl_check). On failure nothing stays pinned. */
int ns_pin(const char *dir, unsigned kinds, const char *hostname, char *const *sysctls,
           ocid_error *err);

/* Unmount and remove whatever of DIR/{net,ipc,uts} exists. Idempotent. */
int ns_unpin(const char *dir, ocid_error *err);

/* The path of a pinned namespace file (whether or not it exists). */
char *ns_path(const char *dir, unsigned kind);

/* Which namespace a sysctl belongs to (NS_NET, NS_IPC, NS_UTS), or 0 when
 * it is not namespaced and so may not be set for a pod. */
unsigned ns_sysctl_kind(const char *key);

/* A TCP connection to port on localhost (127.0.0.1, else ::1) from inside
 * the network namespace pinned at netns_path (NULL: the daemon's own),
 * made non-blocking. UNAVAILABLE when nothing listens. */
int ns_dial_localhost(const char *netns_path, uint16_t port, int *ret_fd, ocid_error *err);
