#include "network/cni_exec.h"
#include "network/cni_config.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/spawn.h"
#include "util/strv.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CNI_MAX_OUTPUT (1024 * 1024)

int cni_plugin_find(char *const *dirs, const char *type, char **ret_path, ocid_error *err)
{
        if (!*type || strchr(type, '/') || STREQ(type, ".") || STREQ(type, ".."))
                return ocid_error_set(err, OCID_ERR_INVALID, "invalid CNI plugin type '%s'", type);
        for (size_t i = 0; dirs && dirs[i]; i++) {
                char *path = fs_path_join(dirs[i], type);
                if (access(path, X_OK) == 0) {
                        *ret_path = path;
                        return 0;
                }
                free(path);
        }
        _cleanup_free_ char *joined = strv_join(dirs, ":");
        return ocid_error_set(err, OCID_ERR_NOT_FOUND, "CNI plugin '%s' not found in %s", type,
                              joined);
}

/* Copies rather than json_object_get(): the list is shared by the threads
 * attaching pods, and json-c's reference counts are not atomic. */
static void copy_member(json_object *to, const char *key, json_object *value)
{
        json_object *copy = NULL;
        if (value && json_object_deep_copy(value, &copy, NULL) == 0)
                json_object_object_add(to, key, copy);
}

json_object *cni_plugin_config(json_object *list, size_t i, json_object *prev_result)
{
        json_object *plugins = json_object_object_get(list, "plugins");
        json_object *conf = NULL;
        if (json_object_deep_copy(json_object_array_get_idx(plugins, i), &conf, NULL) != 0 ||
            !json_object_is_type(conf, json_type_object)) {
                json_object_put(conf);
                return NULL;
        }
        copy_member(conf, "name", json_object_object_get(list, "name"));
        copy_member(conf, "cniVersion", json_object_object_get(list, "cniVersion"));
        copy_member(conf, "prevResult", prev_result);
        return conf;
}

static const char *json_string(json_object *o, const char *key)
{
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* The plugin's error object: {"code": N, "msg": "...", "details": "..."}. */
static int plugin_failed(const char *type, const cni_invocation *inv, const spawn_result *res,
                         ocid_error *err)
{
        json_object *out = res->out_len ? json_tokener_parse(res->out) : NULL;
        const char *msg = out ? json_string(out, "msg") : NULL;
        const char *details = out ? json_string(out, "details") : NULL;
        int r;
        if (msg)
                r = ocid_error_set(err, OCID_ERR_INTERNAL, "CNI plugin %s %s failed: %s%s%s%s", type,
                                   inv->command, msg, details && *details ? " (" : "",
                                   details ? details : "", details && *details ? ")" : "");
        else
                r = ocid_error_set(err, OCID_ERR_INTERNAL, "CNI plugin %s %s failed (exit %d): %.*s",
                                   type, inv->command, res->exit_code, (int)res->err_len,
                                   res->err_len ? res->err : res->out);
        json_object_put(out);
        return r;
}

int cni_exec(const char *plugin_path, const cni_invocation *inv, json_object *config,
             json_object **ret, ocid_error *err)
{
        const char *type = strrchr(plugin_path, '/') ? strrchr(plugin_path, '/') + 1 : plugin_path;
        _cleanup_free_ char *path_env = strv_join(inv->plugin_dirs, ":");
        _cleanup_strv_ char **env = NULL;
        env = strv_pushf(env, "CNI_COMMAND=%s", inv->command);
        env = strv_pushf(env, "CNI_CONTAINERID=%s", inv->container_id ? inv->container_id : "");
        env = strv_pushf(env, "CNI_NETNS=%s", inv->netns ? inv->netns : "");
        env = strv_pushf(env, "CNI_IFNAME=%s", inv->ifname ? inv->ifname : "");
        env = strv_pushf(env, "CNI_ARGS=%s", inv->args ? inv->args : "");
        env = strv_pushf(env, "CNI_PATH=%s", path_env);
        /* Plugins such as portmap call iptables, found through PATH. */
        env = strv_pushf(env, "PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/sbin:/usr/bin:/sbin:/bin");

        const char *stdin_text = json_object_to_json_string_ext(config, JSON_C_TO_STRING_PLAIN);
        char *const argv[] = { (char *)plugin_path, NULL };
        spawn_options opts = {
                .argv = argv,
                .envp = env,
                .stdin_data = stdin_text,
                .stdin_len = strlen(stdin_text),
                .timeout_ms = inv->timeout_ms,
                .max_output = CNI_MAX_OUTPUT,
                .new_pgroup = true,
        };
        spawn_result res = { 0 };
        int r = spawn_run(&opts, &res);
        if (r < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, r, "cannot run CNI plugin %s", plugin_path);
        if (res.timed_out) {
                r = ocid_error_set(err, OCID_ERR_DEADLINE, "CNI plugin %s %s timed out after %d ms",
                                   type, inv->command, inv->timeout_ms);
        } else if (res.signaled) {
                r = ocid_error_set(err, OCID_ERR_INTERNAL, "CNI plugin %s %s killed by signal %d",
                                   type, inv->command, res.term_signal);
        } else if (res.exit_code != 0) {
                r = plugin_failed(type, inv, &res, err);
        } else if (ret) {
                *ret = NULL;
                if (res.out_len) {
                        *ret = json_tokener_parse(res.out);
                        if (!*ret)
                                r = ocid_error_set(err, OCID_ERR_INTERNAL,
                                                   "CNI plugin %s %s: output is not JSON", type,
                                                   inv->command);
                }
        }
        spawn_result_release(&res);
        return r;
}

int cni_network_status(json_object *list, char *const *plugin_dirs, int timeout_ms,
                       ocid_error *err)
{
        const char *version = json_string(list, "cniVersion");
        bool has_status = version && cni_version_compare(version, "1.1.0") >= 0;
        json_object *plugins = json_object_object_get(list, "plugins");
        for (size_t i = 0; i < json_object_array_length(plugins); i++) {
                const char *type = json_string(json_object_array_get_idx(plugins, i), "type");
                _cleanup_free_ char *path = NULL;
                if (!type)
                        return ocid_error_set(err, OCID_ERR_INVALID, "a CNI plugin has no type");
                if (cni_plugin_find(plugin_dirs, type, &path, err) < 0)
                        return -1;
                if (!has_status)
                        continue;
                json_object *conf = cni_plugin_config(list, i, NULL);
                if (!conf)
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "CNI plugin %s: configuration is not an object", type);
                cni_invocation inv = { .command = "STATUS", .plugin_dirs = plugin_dirs,
                                       .timeout_ms = timeout_ms };
                int r = cni_exec(path, &inv, conf, NULL, err);
                json_object_put(conf);
                if (r < 0)
                        return r;
        }
        return 0;
}
