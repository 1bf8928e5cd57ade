/* Finding the CNI network configuration: the first valid file (.conflist,
 * .conf or .json, in name order) in the configured directory, as the
 * kubelet's network plugins and other runtimes do. */
#pragma once

#include "util/error.h"

#include <json-c/json.h>

typedef struct {
        char *file;          /* the file it came from */
        char *name;          /* the network's name */
        char *cni_version;   /* "" when the file has none */
        char **plugin_types; /* the chain, in order */
        /* The configuration as a list: {"cniVersion", "name", "plugins": [...]};
         * a single-plugin file is wrapped. Owned. */
        json_object *list;
} cni_network;

/* NOT_FOUND when the directory holds no valid configuration; the message
 * says what was looked at and why files were skipped. */
int cni_config_find(const char *dir, cni_network **ret, ocid_error *err);
void cni_network_free(cni_network *net);

/* Compare dotted versions: negative, 0 or positive like strcmp. */
int cni_version_compare(const char *a, const char *b);
