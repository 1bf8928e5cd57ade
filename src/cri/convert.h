/* Helpers shared by the handlers for building replies. */
#pragma once

#include "runtime/oci_spec.h"
#include "runtime/sandbox.h"

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

/* Copy map<string,string> entries (labels, annotations) into entries of
 * another message's map type: every such entry is {base, key, value}.
 * Returns the new array (n + 1 slots), *ret_n = n. */
void *cri_copy_map(void **src, size_t n, size_t *ret_n, const ProtobufCMessageDescriptor *entry_desc);

/* Point spec's network, IPC and UTS namespaces at the pod's pinned ones
 * (or the host's, for host-network and host-IPC pods). The paths are
 * allocated into paths[0..2]: free them once the spec is used. */
void cri_join_pod_namespaces(const sandbox *sb, container_spec *spec, char *paths[3]);

/* Whether every selector entry (key = value) is among the labels. Both are
 * arrays of map<string,string> entries of any message type. */
bool cri_labels_match(void **labels, size_t n_labels, void **selector, size_t n_selector);
