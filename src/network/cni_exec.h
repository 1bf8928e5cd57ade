/* Running CNI plugins: the CNI environment and stdin protocol, the result
 * or the plugin's error object. */
#pragma once

#include "util/error.h"

#include <json-c/json.h>

/* Find plugin `type` in dirs (first match). NOT_FOUND names the dirs. */
int cni_plugin_find(char *const *dirs, const char *type, char **ret_path, ocid_error *err);

typedef struct {
        const char *command;     /* ADD, DEL, CHECK, STATUS, VERSION */
        const char *container_id;
        const char *netns;
        const char *ifname;
        const char *args;        /* CNI_ARGS */
        char *const *plugin_dirs; /* CNI_PATH */
        int timeout_ms;
} cni_invocation;

/* Run the plugin with config (one plugin's configuration, with name and
 * cniVersion) on stdin. On success *ret gets the parsed stdout (NULL when
 * the plugin printed nothing); on failure the error says which plugin and
 * command failed and carries the plugin's own msg and details. */
int cni_exec(const char *plugin_path, const cni_invocation *inv, json_object *config,
             json_object **ret, ocid_error *err);

/* Build the configuration the i-th plugin of a list receives: a copy of its
 * own object plus the list's name and cniVersion (and prevResult if given).
 * list and prev_result are only read, never their reference counts, so
 * threads may share them. NULL when the i-th plugin is not an object. */
json_object *cni_plugin_config(json_object *list, size_t i, json_object *prev_result);

/* CNI STATUS over a whole list: for cniVersion 1.1.0 and later every
 * plugin is asked whether it is ready; for older versions only the
 * presence of every plugin binary is checked. */
int cni_network_status(json_object *list, char *const *plugin_dirs, int timeout_ms,
                       ocid_error *err);
