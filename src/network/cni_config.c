#include "network/cni_config.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/strv.h"

#include <dirent.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CNI_CONFIG_SIZE (1024 * 1024)

void cni_network_free(cni_network *net)
{
        if (!net)
                return;
        free(net->file);
        free(net->name);
        free(net->cni_version);
        strv_free(net->plugin_types);
        json_object_put(net->list);
        free(net);
}

static bool has_suffix(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);
        return n > m && STREQ(s + n - m, suffix);
}

static int filter_config(const struct dirent *de)
{
        return de->d_name[0] != '.' &&
               (has_suffix(de->d_name, ".conflist") || has_suffix(de->d_name, ".conf") ||
                has_suffix(de->d_name, ".json"));
}

static const char *get_string(json_object *obj, const char *key)
{
        json_object *v;
        if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* Parse one file; on failure say why in *why (owned by the caller). */
static cni_network *parse_config(const char *path, bool is_list, char **why)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = fs_read_file(path, MAX_CNI_CONFIG_SIZE, &text, &len);
        if (r < 0) {
                if (asprintf(why, "%s", strerror(-r)) < 0)
                        *why = NULL;
                return NULL;
        }
        json_tokener *tok = json_tokener_new();
        json_object *root = json_tokener_parse_ex(tok, text, (int)len);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        json_tokener_free(tok);
        if (!root || jerr != json_tokener_success || !json_object_is_type(root, json_type_object)) {
                json_object_put(root);
                *why = strdup("not a JSON object");
                return NULL;
        }
        cni_network *net = calloc(1, sizeof(*net));
        const char *name = get_string(root, "name");
        const char *version = get_string(root, "cniVersion");
        json_object *plugins = NULL;
        if (is_list) {
                if (!json_object_object_get_ex(root, "plugins", &plugins) ||
                    !json_object_is_type(plugins, json_type_array) ||
                    json_object_array_length(plugins) == 0)
                        *why = strdup("no \"plugins\" list");
                for (size_t i = 0; plugins && !*why && i < json_object_array_length(plugins); i++) {
                        const char *type = get_string(json_object_array_get_idx(plugins, i), "type");
                        if (!type)
                                *why = strdup("a plugin has no \"type\"");
                        else
                                net->plugin_types = strv_push(net->plugin_types, type);
                }
        } else {
                const char *type = get_string(root, "type");
                if (!type)
                        *why = strdup("no \"type\"");
                else
                        net->plugin_types = strv_push(net->plugin_types, type);
        }
        if (!*why && !name)
                *why = strdup("no \"name\"");
        if (*why) {
                json_object_put(root);
                cni_network_free(net);
                return NULL;
        }
        net->file = strdup(path);
        net->name = strdup(name);
        net->cni_version = strdup(version ? version : "");
        if (is_list) {
                net->list = root;
        } else {
                net->list = json_object_new_object();
                json_object_object_add(net->list, "cniVersion", json_object_new_string(net->cni_version));
                json_object_object_add(net->list, "name", json_object_new_string(name));
                json_object *chain = json_object_new_array();
                json_object_array_add(chain, root);
                json_object_object_add(net->list, "plugins", chain);
        }
        return net;
}

int cni_config_find(const char *dir, cni_network **ret, ocid_error *err)
{
        struct dirent **list;
        int n = scandir(dir, &list, filter_config, alphasort);
        if (n < 0)
                return ocid_error_set_errno(err, OCID_ERR_NOT_FOUND, errno,
                                            "no CNI configuration in %s", dir);
        cni_network *found = NULL;
        _cleanup_strbuf_ strbuf skipped = STRBUF_INIT;
        for (int i = 0; i < n; i++) {
                if (!found) {
                        _cleanup_free_ char *path = fs_path_join(dir, list[i]->d_name);
                        _cleanup_free_ char *why = NULL;
                        found = parse_config(path, has_suffix(path, ".conflist"), &why);
                        if (!found)
                                strbuf_addf(&skipped, "; skipped %s: %s", list[i]->d_name,
                                            why ? why : "invalid");
                }
                free(list[i]);
        }
        free(list);
        if (!found)
                return ocid_error_set(err, OCID_ERR_NOT_FOUND, "no valid CNI configuration in %s%s",
                                      dir, skipped.buf);
        *ret = found;
        return 0;
}

int cni_version_compare(const char *a, const char *b)
{
        unsigned va[3] = { 0 }, vb[3] = { 0 };
        sscanf(a, "%u.%u.%u", &va[0], &va[1], &va[2]);
        sscanf(b, "%u.%u.%u", &vb[0], &vb[1], &vb[2]);
        for (int i = 0; i < 3; i++)
                if (va[i] != vb[i])
                        return va[i] < vb[i] ? -1 : 1;
        return 0;
}
