/* Finding the CNI network configuration: the first valid file (.conflist,
 * .conf or .json, in name order) in the configured directory, as the
 * kubelet's network plugins and other runtimes do. */
#pragma once

#include "util/error.h"

typedef struct {
        char *file;     /* the file it came from */
        char *name;     /* the network's name */
        char *cni_version;
        char **plugin_types; /* the chain, in order */
} cni_network;

/* NOT_FOUND when the directory holds no valid configuration; the message
 * says what was looked at and why files were skipped. */
int cni_config_find(const char *dir, cni_network **ret, ocid_error *err);
void cni_network_free(cni_network *net);
