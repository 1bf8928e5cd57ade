#include "daemon/config.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/toml.h"

#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_CONFIG_FILE "/etc/ocid/ocid.conf"
#define DEFAULT_CONFIG_DIR "/etc/ocid/ocid.conf.d"
#define MAX_CONFIG_SIZE (1024 * 1024)

typedef enum { T_STRING, T_STRV, T_UINT, T_BOOL } value_type;

typedef struct {
        const char *section;
        const char *key;
        const char *flag;
        value_type type;
        size_t offset;
        const char *def; /* lists: comma-separated */
        const char *help;
} config_key;

#define K(sec, key, flag, type, field, def, help) \
        { sec, key, flag, type, offsetof(ocid_config, field), def, help }

static const config_key keys[] = {
        K("ocid", "root", "root", T_STRING, root, "/var/lib/ocid",
          "directory for persistent state: images, layers, metadata"),
        K("ocid", "runroot", "runroot", T_STRING, runroot, "/run/ocid",
          "directory for state that ends with the boot"),
        K("ocid.api", "listen", "listen", T_STRING, listen, "/run/ocid/ocid.sock",
          "path of the CRI gRPC unix socket"),
        K("ocid.api", "grpc_max_recv_msg_size", "grpc-max-recv-msg-size", T_UINT,
          grpc_max_recv_msg_size, "16777216", "largest gRPC message accepted, in bytes"),
        K("ocid.api", "grpc_max_send_msg_size", "grpc-max-send-msg-size", T_UINT,
          grpc_max_send_msg_size, "16777216", "largest gRPC message sent, in bytes"),
        K("ocid.api", "stream_address", "stream-address", T_STRING, stream_address, "127.0.0.1",
          "address the streaming server (exec, attach, port-forward) listens on"),
        K("ocid.api", "stream_port", "stream-port", T_STRING, stream_port, "0",
          "port of the streaming server; 0 picks a free one"),
        K("ocid.api", "stream_idle_timeout", "stream-idle-timeout", T_UINT, stream_idle_timeout, "14400",
          "seconds a streaming session may pass without traffic before it is closed; 0: never"),
        K("ocid.api", "stream_token_timeout", "stream-token-timeout", T_UINT, stream_token_timeout, "60",
          "seconds a URL returned by Exec, Attach or PortForward stays valid unused"),
        K("ocid.api", "stream_tls_cert", "stream-tls-cert", T_STRING, stream_tls_cert, "",
          "PEM certificate (chain) of the streaming server; empty: plain HTTP"),
        K("ocid.api", "stream_tls_key", "stream-tls-key", T_STRING, stream_tls_key, "",
          "PEM private key of that certificate"),
        K("ocid.api", "stream_max_sessions", "stream-max-sessions", T_UINT, stream_max_sessions, "256",
          "streaming sessions served at once"),
        K("ocid.runtime", "default_runtime", "default-runtime", T_STRING, default_runtime, "crun",
          "runtime handler for pods that name none: crun or runc"),
        K("ocid.runtime", "conmon", "conmon", T_STRING, conmon, "/usr/bin/conmon",
          "path of conmon, the container monitor"),
        K("ocid.runtime", "pause_binary", "pause-binary", T_STRING, pause_binary, OCID_PAUSE_PATH,
          "static program run as the infra process of pods that share a PID namespace"),
        K("ocid.runtime", "cgroup_manager", "cgroup-manager", T_STRING, cgroup_manager, "",
          "cgroupfs or systemd; empty picks systemd when it runs, else cgroupfs"),
        K("ocid.runtime", "log_level", "log-level", T_STRING, log_level, "info",
          "fatal, error, warn, info, debug or trace"),
        K("ocid.runtime", "log_to_journald", "log-journald", T_BOOL, log_to_journald, "false",
          "log to the systemd journal instead of stderr"),
        K("ocid.runtime", "shutdown_timeout", "shutdown-timeout", T_UINT, shutdown_timeout, "10",
          "seconds calls in flight may take to finish on SIGTERM"),
        K("ocid.runtime", "worker_threads", "worker-threads", T_UINT, worker_threads, "4",
          "threads running blocking work (pulls, runtime and CNI calls)"),
        K("ocid.image", "registries_conf", "registries-conf", T_STRING, registries_conf,
          "/etc/containers/registries.conf", "containers-registries.conf(5) file: search registries, mirrors"),
        K("ocid.image", "registries_conf_dir", "registries-conf-dir", T_STRING, registries_conf_dir,
          "/etc/containers/registries.conf.d", "drop-ins for the registries file"),
        K("ocid.image", "certs_dir", "certs-dir", T_STRING, certs_dir, "/etc/ocid/certs.d",
          "per-registry TLS files: HOST[:PORT]/ca.crt, client.cert, client.key"),
        K("ocid.image", "pinned_images", "pinned-images", T_STRV, pinned_images, "",
          "images the kubelet must not garbage-collect (names; a trailing * matches any suffix)"),
        K("ocid.image", "max_parallel_downloads", "max-parallel-downloads", T_UINT,
          max_parallel_downloads, "3", "layers of one image downloaded at once"),
        K("ocid.image", "pull_progress_timeout", "pull-progress-timeout", T_UINT,
          pull_progress_timeout, "60", "seconds a download may make no progress before the pull fails"),
        K("ocid.network", "network_dir", "cni-config-dir", T_STRING, network_dir, "/etc/cni/net.d",
          "directory of CNI network configurations"),
        K("ocid.network", "plugin_dirs", "cni-plugin-dir", T_STRV, plugin_dirs,
          "/opt/cni/bin,/usr/lib/cni", "directories searched for CNI plugins (flag repeatable)"),
        K("ocid.network", "cni_timeout", "cni-timeout", T_UINT, cni_timeout, "60",
          "seconds one CNI plugin may take before it is killed and the change undone"),
};

static const char *const sections[] = { "ocid", "ocid.api", "ocid.runtime", "ocid.image",
                                        "ocid.network" };

bool config_key_at(size_t i, const char **ret_key, const char **ret_flag)
{
        static char buf[ARRAY_SIZE(keys)][64];
        if (i >= ARRAY_SIZE(keys))
                return false;
        snprintf(buf[i], sizeof(buf[i]), "%s.%s", keys[i].section, keys[i].key);
        *ret_key = buf[i];
        *ret_flag = keys[i].flag;
        return true;
}

static void *field(ocid_config *cfg, const config_key *k)
{
        return (char *)cfg + k->offset;
}

static bool parse_bool(const char *s, bool *ret)
{
        if (STREQ(s, "true") || STREQ(s, "1") || STREQ(s, "yes")) {
                *ret = true;
                return true;
        }
        if (STREQ(s, "false") || STREQ(s, "0") || STREQ(s, "no")) {
                *ret = false;
                return true;
        }
        return false;
}

/* Set a key from text: defaults and flags. `append` adds to a list instead
 * of replacing it. */
static int set_from_text(ocid_config *cfg, const config_key *k, const char *text, bool append,
                         ocid_error *err)
{
        void *f = field(cfg, k);
        switch (k->type) {
        case T_STRING:
                free(*(char **)f);
                *(char **)f = strdup(text);
                return 0;
        case T_STRV: {
                char **v = strv_split(text, ",");
                if (append) {
                        for (size_t i = 0; v[i]; i++)
                                *(char ***)f = strv_push(*(char ***)f, v[i]);
                        strv_free(v);
                } else {
                        strv_free(*(char ***)f);
                        *(char ***)f = v;
                }
                return 0;
        }
        case T_UINT: {
                char *end;
                errno = 0;
                unsigned long long n = strtoull(text, &end, 10);
                if (errno || end == text || *end || text[0] == '-')
                        return ocid_error_set(err, OCID_ERR_INVALID, "%s: '%s' is not a number",
                                              k->flag, text);
                *(uint64_t *)f = n;
                return 0;
        }
        case T_BOOL:
                if (!parse_bool(text, (bool *)f))
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "%s: '%s' is not true or false", k->flag, text);
                return 0;
        }
        return 0;
}

static int set_from_json(ocid_config *cfg, const config_key *k, json_object *v, const char *file,
                         ocid_error *err)
{
        void *f = field(cfg, k);
        switch (k->type) {
        case T_STRING:
                if (json_object_is_type(v, json_type_int)) {
                        /* stream_port = 10010 is a common way to write it */
                        free(*(char **)f);
                        if (asprintf((char **)f, "%" PRId64, json_object_get_int64(v)) < 0)
                                abort();
                        return 0;
                }
                if (!json_object_is_type(v, json_type_string))
                        break;
                free(*(char **)f);
                *(char **)f = strdup(json_object_get_string(v));
                return 0;
        case T_STRV: {
                if (!json_object_is_type(v, json_type_array))
                        break;
                char **list = NULL;
                for (size_t i = 0; i < json_object_array_length(v); i++) {
                        json_object *e = json_object_array_get_idx(v, i);
                        if (!json_object_is_type(e, json_type_string)) {
                                strv_free(list);
                                return ocid_error_set(err, OCID_ERR_INVALID,
                                                      "%s: %s.%s: expected a list of strings", file,
                                                      k->section, k->key);
                        }
                        list = strv_push(list, json_object_get_string(e));
                }
                if (!list)
                        list = calloc(1, sizeof(char *));
                strv_free(*(char ***)f);
                *(char ***)f = list;
                return 0;
        }
        case T_UINT:
                if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
                        break;
                *(uint64_t *)f = (uint64_t)json_object_get_int64(v);
                return 0;
        case T_BOOL:
                if (!json_object_is_type(v, json_type_boolean))
                        break;
                *(bool *)f = json_object_get_boolean(v);
                return 0;
        }
        static const char *const type_names[] = { "a string", "a list of strings",
                                                  "a non-negative integer", "true or false" };
        return ocid_error_set(err, OCID_ERR_INVALID, "%s: %s.%s: expected %s", file, k->section,
                              k->key, type_names[k->type]);
}

static const config_key *find_key(const char *section, const char *key)
{
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                if (STREQ(keys[i].section, section) && STREQ(keys[i].key, key))
                        return &keys[i];
        return NULL;
}

static bool is_section(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
                if (STREQ(sections[i], name))
                        return true;
        return false;
}

#define RUNTIMES_TABLE "ocid.runtime.runtimes"

static config_runtime *runtime_named(ocid_config *cfg, const char *name)
{
        for (size_t i = 0; i < cfg->n_runtimes; i++)
                if (STREQ(cfg->runtimes[i].name, name))
                        return &cfg->runtimes[i];
        cfg->runtimes = realloc(cfg->runtimes, (cfg->n_runtimes + 1) * sizeof(*cfg->runtimes));
        if (!cfg->runtimes)
                abort();
        config_runtime *rt = &cfg->runtimes[cfg->n_runtimes++];
        *rt = (config_runtime){ strdup(name), strdup(""), strdup(""), strdup("oci") };
        return rt;
}

static bool valid_runtime_name(const char *name)
{
        return *name && strlen(name) <= 64 && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_") == strlen(name);
}

/* [ocid.runtime.runtimes.NAME]: runtime_path, runtime_root, runtime_type.
 * A later file's table for the same name replaces the keys it sets. */
static int apply_runtimes(ocid_config *cfg, json_object *table, const char *file, ocid_error *err)
{
        json_object_object_foreach(table, name, value) {
                if (!valid_runtime_name(name) || !json_object_is_type(value, json_type_object))
                        return ocid_error_set(err, OCID_ERR_INVALID, "%s: [%s.%s]: expected a table named [a-z0-9_-]",
                                              file, RUNTIMES_TABLE, name);
                config_runtime *rt = runtime_named(cfg, name);
                json_object_object_foreach(value, key, v) {
                        char **slot = STREQ(key, "runtime_path") ? &rt->path
                                      : STREQ(key, "runtime_root") ? &rt->root
                                      : STREQ(key, "runtime_type") ? &rt->type : NULL;
                        if (!slot)
                                return ocid_error_set(err, OCID_ERR_INVALID, "%s: unknown key '%s.%s.%s'", file,
                                                      RUNTIMES_TABLE, name, key);
                        if (!json_object_is_type(v, json_type_string))
                                return ocid_error_set(err, OCID_ERR_INVALID, "%s: %s.%s.%s: expected a string",
                                                      file, RUNTIMES_TABLE, name, key);
                        free(*slot);
                        *slot = strdup(json_object_get_string(v));
                }
        }
        return 0;
}

/* --runtimes NAME:PATH[:ROOT] */
static int runtime_from_flag(ocid_config *cfg, const char *text, ocid_error *err)
{
        _cleanup_strv_ char **parts = strv_split(text, ":");
        size_t n = strv_length(parts);
        if (n < 2 || n > 3 || !valid_runtime_name(parts[0]))
                return ocid_error_set(err, OCID_ERR_INVALID, "--runtimes '%s': expected NAME:PATH[:ROOT]", text);
        config_runtime *rt = runtime_named(cfg, parts[0]);
        free(rt->path);
        rt->path = strdup(parts[1]);
        free(rt->root);
        rt->root = strdup(n == 3 ? parts[2] : "");
        return 0;
}

/* Walk a parsed table: every table must be a known section and every
 * value a known key, so that a typo is an error rather than ignored. */
static int apply_table(ocid_config *cfg, json_object *table, const char *section,
                       const char *file, ocid_error *err)
{
        json_object_object_foreach(table, name, value) {
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s%s%s", section, *section ? "." : "", name) < 0)
                        abort();
                if (json_object_is_type(value, json_type_object) && STREQ(path, RUNTIMES_TABLE)) {
                        if (apply_runtimes(cfg, value, file, err) < 0)
                                return -1;
                        continue;
                }
                if (json_object_is_type(value, json_type_object)) {
                        if (!is_section(path))
                                return ocid_error_set(err, OCID_ERR_INVALID,
                                                      "%s: unknown table [%s]", file, path);
                        if (apply_table(cfg, value, path, file, err) < 0)
                                return -1;
                        continue;
                }
                const config_key *k = *section ? find_key(section, name) : NULL;
                if (!k)
                        return ocid_error_set(err, OCID_ERR_INVALID, "%s: unknown key '%s'", file, path);
                if (set_from_json(cfg, k, value, file, err) < 0)
                        return -1;
        }
        return 0;
}

static int load_file(ocid_config *cfg, const char *file, bool must_exist, ocid_error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = fs_read_file(file, MAX_CONFIG_SIZE, &text, &len);
        if (r == -ENOENT && !must_exist)
                return 0;
        if (r < 0)
                return ocid_error_set_errno(err, OCID_ERR_INVALID, r, "cannot read %s", file);
        json_object *root = NULL;
        if (toml_parse(text, len, &root, err) < 0)
                return ocid_error_wrap(err, "%s", file);
        r = apply_table(cfg, root, "", file, err);
        json_object_put(root);
        return r;
}

static int filter_conf(const struct dirent *de)
{
        size_t n = strlen(de->d_name);
        return de->d_name[0] != '.' && n > 5 && STREQ(de->d_name + n - 5, ".conf");
}

static int load_dir(ocid_config *cfg, const char *dir, ocid_error *err)
{
        struct dirent **list;
        int n = scandir(dir, &list, filter_conf, alphasort);
        if (n < 0)
                return errno == ENOENT ? 0 : ocid_error_set_errno(err, OCID_ERR_INVALID, errno,
                                                                  "cannot read %s", dir);
        int r = 0;
        for (int i = 0; i < n; i++) {
                if (r == 0) {
                        _cleanup_free_ char *path = fs_path_join(dir, list[i]->d_name);
                        r = load_file(cfg, path, true, err);
                }
                free(list[i]);
        }
        free(list);
        return r;
}

enum { FLAG_CONFIG = 1000, FLAG_CONFIG_DIR, FLAG_RUNTIMES, FLAG_KEY_BASE };

static void build_options(struct option *opts)
{
        size_t n = 0;
        opts[n++] = (struct option){ "config", required_argument, NULL, FLAG_CONFIG };
        opts[n++] = (struct option){ "config-dir", required_argument, NULL, FLAG_CONFIG_DIR };
        opts[n++] = (struct option){ "runtimes", required_argument, NULL, FLAG_RUNTIMES };
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                opts[n++] = (struct option){ keys[i].flag,
                                             keys[i].type == T_BOOL ? optional_argument
                                                                    : required_argument,
                                             NULL, (int)(FLAG_KEY_BASE + i) };
        opts[n] = (struct option){ 0 };
}

/* One pass over the flags; `apply` false only picks up --config/--config-dir. */
static int parse_flags(ocid_config *cfg, int argc, char **argv, int first, bool apply,
                       ocid_error *err)
{
        struct option opts[ARRAY_SIZE(keys) + 4];
        build_options(opts);
        bool list_seen[ARRAY_SIZE(keys)] = { false };
        optind = first;
        opterr = 0;
        int c;
        while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
                if (c == '?')
                        return ocid_error_set(err, OCID_ERR_INVALID, "unknown flag '%s'",
                                              argv[optind - 1]);
                if (c == ':')
                        return ocid_error_set(err, OCID_ERR_INVALID, "flag '%s' needs a value",
                                              argv[optind - 1]);
                if (c == FLAG_CONFIG || c == FLAG_CONFIG_DIR) {
                        char **f = c == FLAG_CONFIG ? &cfg->config_file : &cfg->config_dir;
                        free(*f);
                        *f = strdup(optarg);
                        continue;
                }
                if (!apply)
                        continue;
                if (c == FLAG_RUNTIMES) {
                        if (runtime_from_flag(cfg, optarg, err) < 0)
                                return -1;
                        continue;
                }
                size_t i = (size_t)(c - FLAG_KEY_BASE);
                const config_key *k = &keys[i];
                const char *value = optarg ? optarg : "true";
                /* The first occurrence of a list flag replaces the file's list. */
                bool append = k->type == T_STRV && list_seen[i];
                list_seen[i] = true;
                if (set_from_text(cfg, k, value, append, err) < 0)
                        return -1;
        }
        if (optind < argc)
                return ocid_error_set(err, OCID_ERR_INVALID, "unexpected argument '%s'", argv[optind]);
        return 0;
}

static int validate(ocid_config *cfg, ocid_error *err)
{
        log_level level;
        if (log_level_parse(cfg->log_level, &level) < 0)
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "log_level '%s': expected fatal, error, warn, info, debug or trace",
                                      cfg->log_level);
        struct stat st;
        bool systemd_running = stat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
        if (!*cfg->cgroup_manager) {
                free(cfg->cgroup_manager);
                cfg->cgroup_manager = strdup(systemd_running ? "systemd" : "cgroupfs");
        } else if (STREQ(cfg->cgroup_manager, "systemd")) {
                if (!systemd_running)
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "cgroup_manager 'systemd': systemd is not running on this host; use 'cgroupfs'");
        } else if (!STREQ(cfg->cgroup_manager, "cgroupfs")) {
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "cgroup_manager '%s': expected 'cgroupfs' or 'systemd'",
                                      cfg->cgroup_manager);
        }
        bool known = !cfg->n_runtimes &&
                     (STREQ(cfg->default_runtime, "crun") || STREQ(cfg->default_runtime, "runc"));
        for (size_t i = 0; i < cfg->n_runtimes; i++) {
                config_runtime *rt = &cfg->runtimes[i];
                if (!*rt->path || rt->path[0] != '/')
                        return ocid_error_set(err, OCID_ERR_INVALID, "runtime '%s': runtime_path must be an absolute path",
                                              rt->name);
                if (!STREQ(rt->type, "oci"))
                        return ocid_error_set(err, OCID_ERR_INVALID, "runtime '%s': runtime_type '%s': only 'oci' is supported",
                                              rt->name, rt->type);
                known = known || STREQ(rt->name, cfg->default_runtime);
        }
        if (!known)
                return ocid_error_set(err, OCID_ERR_INVALID, "default_runtime '%s' is not a configured runtime",
                                      cfg->default_runtime);
        if (cfg->listen[0] != '/')
                return ocid_error_set(err, OCID_ERR_INVALID, "listen '%s': must be an absolute path",
                                      cfg->listen);
        if (cfg->worker_threads < 1 || cfg->worker_threads > 256)
                return ocid_error_set(err, OCID_ERR_INVALID, "worker_threads %" PRIu64
                                      ": expected 1 to 256", cfg->worker_threads);
        if (cfg->max_parallel_downloads < 1 || cfg->max_parallel_downloads > 64)
                return ocid_error_set(err, OCID_ERR_INVALID, "max_parallel_downloads %" PRIu64
                                      ": expected 1 to 64", cfg->max_parallel_downloads);
        if (cfg->cni_timeout < 1 || cfg->cni_timeout > 3600)
                return ocid_error_set(err, OCID_ERR_INVALID, "cni_timeout %" PRIu64 ": expected 1 to 3600 seconds",
                                      cfg->cni_timeout);
        if (cfg->grpc_max_recv_msg_size < 1024 || cfg->grpc_max_send_msg_size < 1024)
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "grpc message size limits must be at least 1024 bytes");
        return 0;
}

int config_load(ocid_config *cfg, int argc, char **argv, int first, ocid_error *err)
{
        *cfg = (ocid_config){ 0 };
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                set_from_text(cfg, &keys[i], keys[i].def, false, NULL);
        if (parse_flags(cfg, argc, argv, first, false, err) < 0)
                return -1;
        bool explicit_file = cfg->config_file != NULL;
        if (!cfg->config_file)
                cfg->config_file = strdup(DEFAULT_CONFIG_FILE);
        if (!cfg->config_dir)
                cfg->config_dir = strdup(DEFAULT_CONFIG_DIR);
        if (load_file(cfg, cfg->config_file, explicit_file, err) < 0 ||
            load_dir(cfg, cfg->config_dir, err) < 0 ||
            parse_flags(cfg, argc, argv, first, true, err) < 0)
                return -1;
        return validate(cfg, err);
}

void config_release(ocid_config *cfg)
{
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
                void *f = field(cfg, &keys[i]);
                if (keys[i].type == T_STRING)
                        free(*(char **)f);
                else if (keys[i].type == T_STRV)
                        strv_free(*(char ***)f);
        }
        for (size_t i = 0; i < cfg->n_runtimes; i++) {
                free(cfg->runtimes[i].name);
                free(cfg->runtimes[i].path);
                free(cfg->runtimes[i].root);
                free(cfg->runtimes[i].type);
        }
        free(cfg->runtimes);
        free(cfg->config_file);
        free(cfg->config_dir);
        *cfg = (ocid_config){ 0 };
}

static void format_string(strbuf *out, const char *s)
{
        json_object *j = json_object_new_string(s);
        strbuf_adds(out, json_object_to_json_string_ext(j, JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(j);
}

void config_format_toml(const ocid_config *cfg, strbuf *out)
{
        for (size_t s = 0; s < ARRAY_SIZE(sections); s++) {
                strbuf_addf(out, "%s[%s]\n", s ? "\n" : "", sections[s]);
                for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
                        const config_key *k = &keys[i];
                        if (!STREQ(k->section, sections[s]))
                                continue;
                        const void *f = (const char *)cfg + k->offset;
                        strbuf_addf(out, "# %s\n%s = ", k->help, k->key);
                        switch (k->type) {
                        case T_STRING:
                                format_string(out, *(char *const *)f);
                                break;
                        case T_STRV: {
                                char *const *v = *(char **const *)f;
                                strbuf_addch(out, '[');
                                for (size_t j = 0; v && v[j]; j++) {
                                        if (j)
                                                strbuf_adds(out, ", ");
                                        format_string(out, v[j]);
                                }
                                strbuf_addch(out, ']');
                                break;
                        }
                        case T_UINT:
                                strbuf_addf(out, "%" PRIu64, *(const uint64_t *)f);
                                break;
                        case T_BOOL:
                                strbuf_adds(out, *(const bool *)f ? "true" : "false");
                                break;
                        }
                        strbuf_addch(out, '\n');
                }
                if (STREQ(sections[s], "ocid.runtime")) {
                        for (size_t i = 0; i < cfg->n_runtimes; i++) {
                                const config_runtime *rt = &cfg->runtimes[i];
                                strbuf_addf(out, "\n[" RUNTIMES_TABLE ".%s]\nruntime_path = ", rt->name);
                                format_string(out, rt->path);
                                strbuf_adds(out, "\nruntime_root = ");
                                format_string(out, rt->root);
                                strbuf_adds(out, "\nruntime_type = ");
                                format_string(out, rt->type);
                                strbuf_addch(out, '\n');
                        }
                }
        }
}

void config_format_usage(strbuf *out)
{
        strbuf_adds(out, "  --config FILE                 configuration file (default " DEFAULT_CONFIG_FILE ")\n"
                         "  --config-dir DIR              drop-in directory (default " DEFAULT_CONFIG_DIR ")\n"
                         "  --runtimes NAME:PATH[:ROOT]   a runtime handler (repeatable; default: crun and runc from PATH)\n");
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
                char left[64];
                snprintf(left, sizeof(left), "--%s%s", keys[i].flag,
                         keys[i].type == T_BOOL ? "[=BOOL]" : " VALUE");
                strbuf_addf(out, "  %-29s %s\n", left, keys[i].help);
        }
}
