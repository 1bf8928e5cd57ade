/* Attaching a pod to a CNI network: the plugin chain of a configuration
 * list run for ADD, CHECK and DEL as libcni does it (name and cniVersion of
 * the list given to every plugin, prevResult chaining, runtimeConfig
 * capabilities), plus the parser of plugin results.
 *
 * Thread safety: `list` and `prev_result` are only read (never their
 * reference counts, which json-c does not update atomically), so any number
 * of threads may run attachments of one network at once.
 *
 * Errors: INVALID for a malformed attachment or configuration, NOT_FOUND for
 * a plugin missing from plugin_dirs, DEADLINE for a plugin killed at its
 * timeout, INTERNAL for a plugin that failed (the message carries the
 * plugin's own msg and details). Messages start with "network '<name>': "
 * once the list's name is known. */
#pragma once

#include "util/error.h"

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define CNI_RESULT_MAX_SIZE (1024 * 1024)
#define CNI_RESULT_MAX_IPS 64
#define CNI_RESULT_MAX_INTERFACES 64

typedef struct {
        int32_t container_port, host_port; /* a host_port <= 0 is no mapping */
        const char *protocol;              /* "tcp", "udp", "sctp" (any case); NULL: tcp */
        const char *host_ip;               /* NULL or "": all addresses */
} cni_port_mapping;

/* Everything about one pod's attachment besides the network. All borrowed.
 * DEL and CHECK must be given what ADD was given (container_id, ifname, the
 * CNI_ARGS fields, ports, cgroup_path): plugins find what they made by them. */
typedef struct {
        const char *container_id;  /* [A-Za-z0-9][A-Za-z0-9_.-]* */
        const char *netns;         /* path of the network namespace */
        const char *ifname;        /* NULL: "eth0" */
        /* CNI_ARGS: IgnoreUnknown=1;K8S_POD_NAMESPACE=..;K8S_POD_NAME=..;
         * K8S_POD_INFRA_CONTAINER_ID=<container_id>;K8S_POD_UID=..
         * (a NULL field is left out; values may not hold ';' or '='). */
        const char *pod_namespace, *pod_name, *pod_uid;
        const cni_port_mapping *ports; /* "portMappings" capability */
        size_t n_ports;
        const char *cgroup_path;   /* "cgroupPath" capability; NULL: none */
} cni_attachment;

typedef struct {
        char *address;  /* CIDR, as the plugin wrote it */
        char *gateway;  /* NULL when the plugin gave none */
        int family;     /* 4 or 6, from the address itself */
        int interface;  /* index into cni_result.interfaces, -1 when not given */
} cni_ip;

typedef struct {
        char *cni_version;  /* the result's; "0.1.0" when it has none (as libcni) */
        cni_ip *ips;        /* n_ips entries, at most CNI_RESULT_MAX_IPS */
        size_t n_ips;
        /* Names, NULL-terminated, never NULL; at most CNI_RESULT_MAX_INTERFACES.
         * Empty for 0.1.0/0.2.0 results, which have no interfaces. */
        char **interfaces;
        json_object *raw;   /* the whole document, owned: store it for DEL/CHECK */
} cni_result;

/* Run ADD through the chain: plugin i gets plugin i-1's result as
 * prevResult, and a "runtimeConfig" with the capabilities its
 * "capabilities" object declares and the attachment provides (portMappings:
 * [{hostPort, containerPort, protocol, hostIP}]; cgroupPath). timeout_ms
 * (<= 0: none) applies to each plugin; a plugin that overruns is killed with
 * its process group.
 *
 * On any failure (a plugin fails, hangs, is missing, or the final result is
 * unusable) DEL is run for the whole chain in reverse, tolerating errors,
 * before returning, so nothing stays allocated; if that DEL fails too, the
 * message says so after the cause. On success *ret (owned; cni_result_free)
 * holds the last plugin's result. */
int cni_add(json_object *list, char *const *plugin_dirs, const cni_attachment *a, int timeout_ms,
            cni_result **ret, ocid_error *err);

/* DEL in reverse order. prev_result (may be NULL) is the stored ADD result;
 * as in libcni it is passed as prevResult for cniVersion >= 0.4.0 only.
 * Tolerant: a netns that no longer exists (or is no longer a namespace) is
 * passed as an empty CNI_NETNS, so plugins still release what they hold
 * outside it (IPAM, iptables); every plugin is attempted even if one fails;
 * the first error is returned. Running it twice is fine. */
int cni_del(json_object *list, char *const *plugin_dirs, const cni_attachment *a,
            json_object *prev_result, int timeout_ms, ocid_error *err);

/* CHECK in chain order with prevResult = the stored ADD result, for
 * cniVersion >= 0.4.0 unless the list says "disableCheck"; otherwise a
 * no-op success. PRECONDITION when there is no prev_result to check. */
int cni_check(json_object *list, char *const *plugin_dirs, const cni_attachment *a,
              json_object *prev_result, int timeout_ms, ocid_error *err);

/* Parse a plugin result of any supported version (0.1.0 to 1.1.0): ip4/ip6
 * for 0.1.0 and 0.2.0, interfaces/ips for the others. Addresses and gateways
 * are checked (CIDR, IP of the address's family), as are interface indexes.
 * INVALID for malformed input (not strict JSON, wrong types, NUL bytes,
 * unknown version); RESOURCE above CNI_RESULT_MAX_SIZE bytes or the bounds
 * on ips and interfaces. *ret is set only on success. */
int cni_result_parse(const char *text, size_t len, cni_result **ret, ocid_error *err);

void cni_result_free(cni_result *r);
static inline void cni_result_freep(cni_result **r) { cni_result_free(*r); }
#define _cleanup_cni_result_ __attribute__((cleanup(cni_result_freep)))
