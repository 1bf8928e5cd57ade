#include "runtime/sandbox.h"
#include "storage/db.h"
#include "network/cni_config.h"
#include "runtime/namespaces.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/keyset.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <json-c/json.h>
#include <net/if.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#define SHM_SIZE "65536k"

struct sandbox_manager {
        char *runroot_pods;
        char *network_dir;
        char **plugin_dirs;
        int cni_timeout_ms;
        sqlite3 *db;
        pthread_mutex_t lock;   /* the database handle */
        keyset busy;            /* IDs with an operation in progress */
        keyset reserved;        /* name keys of pods being created */
};

static const char schema[] =
        "CREATE TABLE IF NOT EXISTS sandboxes ("
        "  id TEXT PRIMARY KEY,"
        "  name TEXT NOT NULL, namespace TEXT NOT NULL, uid TEXT NOT NULL,"
        "  attempt INTEGER NOT NULL,"
        "  state INTEGER NOT NULL,"
        "  created_at INTEGER NOT NULL,"
        "  runtime_handler TEXT NOT NULL,"
        "  dir TEXT NOT NULL,"
        "  host_network INTEGER NOT NULL, host_ipc INTEGER NOT NULL,"
        "  cgroup_parent TEXT NOT NULL,"
        "  ip TEXT NOT NULL,"
        "  additional_ips TEXT NOT NULL,"     /* JSON array */
        "  cni_result TEXT,"
        "  network_name TEXT,"
        "  network_config TEXT,"              /* the conflist ADD used; NULL once deleted */
        "  config BLOB NOT NULL,"
        "  infra_id TEXT NOT NULL DEFAULT '',"
        "  UNIQUE (name, namespace, uid, attempt));";

#define COLUMNS "id, name, namespace, uid, attempt, state, created_at, runtime_handler, dir, " \
                "host_network, host_ipc, cgroup_parent, ip, additional_ips, cni_result, "     \
                "network_name, config, infra_id"

void sandbox_free(sandbox *sb)
{
        if (!sb)
                return;
        free(sb->id);
        free(sb->name);
        free(sb->namespace);
        free(sb->uid);
        free(sb->runtime_handler);
        free(sb->dir);
        free(sb->cgroup_parent);
        free(sb->ip);
        strv_free(sb->additional_ips);
        free(sb->cni_result);
        free(sb->network_name);
        free(sb->config);
        free(sb->infra_id);
        free(sb);
}

void sandboxes_free(sandbox **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                sandbox_free(v[i]);
        free(v);
}

static int db_error(sandbox_manager *m, ocid_error *err, const char *what)
{
        return ocid_error_set(err, OCID_ERR_INTERNAL, "pod state: %s: %s", what, sqlite3_errmsg(m->db));
}

static char *column_text(sqlite3_stmt *st, int i)
{
        const unsigned char *t = sqlite3_column_text(st, i);
        return t ? xstrdup((const char *)t) : NULL;
}

static sandbox *sandbox_from_row(sqlite3_stmt *st)
{
        sandbox *sb = xcalloc(1, sizeof(*sb));
        sb->id = column_text(st, 0);
        sb->name = column_text(st, 1);
        sb->namespace = column_text(st, 2);
        sb->uid = column_text(st, 3);
        sb->attempt = (uint32_t)sqlite3_column_int64(st, 4);
        sb->state = (sandbox_state)sqlite3_column_int(st, 5);
        sb->created_at = sqlite3_column_int64(st, 6);
        sb->runtime_handler = column_text(st, 7);
        sb->dir = column_text(st, 8);
        sb->host_network = sqlite3_column_int(st, 9);
        sb->host_ipc = sqlite3_column_int(st, 10);
        sb->cgroup_parent = column_text(st, 11);
        sb->ip = column_text(st, 12);
        sb->additional_ips = xcalloc(1, sizeof(char *));
        json_object *ips = json_tokener_parse((const char *)sqlite3_column_text(st, 13));
        for (size_t i = 0; ips && i < json_object_array_length(ips); i++)
                sb->additional_ips = strv_push(sb->additional_ips,
                                               json_object_get_string(json_object_array_get_idx(ips, i)));
        json_object_put(ips);
        sb->cni_result = column_text(st, 14);
        sb->network_name = column_text(st, 15);
        sb->config_len = (size_t)sqlite3_column_bytes(st, 16);
        sb->config = xcalloc(sb->config_len + 1, 1);
        if (sb->config_len) /* SQLite gives NULL for an empty blob */
                memcpy(sb->config, sqlite3_column_blob(st, 16), sb->config_len);
        sb->infra_id = column_text(st, 17);
        return sb;
}

/* ---- files ---------------------------------------------------------------- */

static int write_file(const char *dir, const char *name, const char *text, ocid_error *err)
{
        _cleanup_free_ char *path = fs_path_join(dir, name);
        int r = fs_write_file_replace(path, text, strlen(text), 0644);
        return r < 0 ? ocid_error_set_errno(err, OCID_ERR_INTERNAL, r, "cannot write %s", path) : 0;
}

static int write_resolv_conf(const char *dir, const sandbox_spec *spec, ocid_error *err)
{
        if (!spec->dns_servers && !spec->dns_searches && !spec->dns_options) {
                _cleanup_free_ char *host = NULL;
                size_t len;
                if (fs_read_file("/etc/resolv.conf", 1 << 20, &host, &len) < 0)
                        host = xstrdup("");
                return write_file(dir, "resolv.conf", host, err);
        }
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        for (size_t i = 0; spec->dns_servers && spec->dns_servers[i]; i++)
                strbuf_addf(&sb, "nameserver %s\n", spec->dns_servers[i]);
        if (spec->dns_searches && spec->dns_searches[0]) {
                _cleanup_free_ char *s = strv_join(spec->dns_searches, " ");
                strbuf_addf(&sb, "search %s\n", s);
        }
        if (spec->dns_options && spec->dns_options[0]) {
                _cleanup_free_ char *s = strv_join(spec->dns_options, " ");
                strbuf_addf(&sb, "options %s\n", s);
        }
        return write_file(dir, "resolv.conf", sb.buf, err);
}

static int write_hosts(const char *dir, const char *hostname, const char *ip, ocid_error *err)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "127.0.0.1\tlocalhost\n"
                         "::1\tlocalhost ip6-localhost ip6-loopback\n"
                         "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\n"
                         "fe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n");
        if (ip && *ip && hostname && *hostname)
                strbuf_addf(&sb, "%s\t%s\n", ip, hostname);
        return write_file(dir, "hosts", sb.buf, err);
}

static bool valid_hostname(const char *h)
{
        size_t n = strlen(h);
        if (n == 0 || n > 63)
                return false;
        for (const char *p = h; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '-' || *p == '.'))
                        return false;
        return true;
}

/* The host's addresses, for host-network pods: IPv4 first. */
static void host_ips(char **ret_primary, char ***ret_more)
{
        struct ifaddrs *list = NULL;
        char **v4 = NULL, **v6 = NULL;
        if (getifaddrs(&list) == 0) {
                for (struct ifaddrs *a = list; a; a = a->ifa_next) {
                        if (!a->ifa_addr || (a->ifa_flags & IFF_LOOPBACK) || !(a->ifa_flags & IFF_UP))
                                continue;
                        char buf[INET6_ADDRSTRLEN];
                        int fam = a->ifa_addr->sa_family;
                        if (fam == AF_INET &&
                            inet_ntop(AF_INET, &((struct sockaddr_in *)a->ifa_addr)->sin_addr, buf, sizeof(buf)))
                                v4 = strv_push(v4, buf);
                        else if (fam == AF_INET6 &&
                                 !IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr) &&
                                 inet_ntop(AF_INET6, &((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr, buf, sizeof(buf)))
                                v6 = strv_push(v6, buf);
                }
                freeifaddrs(list);
        }
        char **all = NULL;
        for (size_t i = 0; v4 && v4[i]; i++)
                all = strv_push(all, v4[i]);
        for (size_t i = 0; v6 && v6[i]; i++)
                all = strv_push(all, v6[i]);
        strv_free(v4);
        strv_free(v6);
        *ret_primary = xstrdup(all && all[0] ? all[0] : "");
        *ret_more = xcalloc(1, sizeof(char *));
        for (size_t i = 1; all && all[i]; i++)
                *ret_more = strv_push(*ret_more, all[i]);
        strv_free(all);
}

/* The pod's addresses from the CNI result, those on its own interface (or
 * on none named): IPv4 first, without prefix. */
static void result_ips(const cni_result *res, const char *ifname, char **ret_primary, char ***ret_more)
{
        char **ordered = NULL;
        size_t n_ifaces = strv_length(res->interfaces);
        for (int fam = 4; fam <= 6; fam += 2)
                for (size_t i = 0; i < res->n_ips; i++) {
                        int iface = res->ips[i].interface;
                        if (iface >= 0 && (size_t)iface < n_ifaces && !STREQ(res->interfaces[iface], ifname))
                                continue;
                        if (res->ips[i].family == fam) {
                                _cleanup_free_ char *a = xstrdup(res->ips[i].address);
                                a[strcspn(a, "/")] = '\0';
                                ordered = strv_push(ordered, a);
                        }
                }
        *ret_primary = xstrdup(ordered && ordered[0] ? ordered[0] : "");
        *ret_more = xcalloc(1, sizeof(char *));
        for (size_t i = 1; ordered && ordered[i]; i++)
                *ret_more = strv_push(*ret_more, ordered[i]);
        strv_free(ordered);
}

/* ---- teardown ------------------------------------------------------------- */

static cni_attachment attachment_for(const sandbox *sb, const char *netns)
{
        return (cni_attachment){ .container_id = sb->id, .netns = netns, .ifname = "eth0",
                                 .pod_namespace = sb->namespace, .pod_name = sb->name,
                                 .pod_uid = sb->uid };
}

/* The stored network_config is the conflist ADD used plus, under this key
 * (which no plugin sees: plugins get their own object, name and
 * cniVersion), the port mappings ADD was given. DEL must be given them
 * again: portmap's DEL removes nothing without them (libcni keeps them in
 * its cache for the same reason). */
#define SAVED_PORTS_KEY "ocidPortMappings"

static char *saved_network_config(json_object *list, const cni_port_mapping *ports, size_t n)
{
        json_object *copy = NULL;
        if (json_object_deep_copy(list, &copy, NULL) != 0)
                abort();
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
                json_object *m = json_object_new_object();
                json_object_object_add(m, "containerPort", json_object_new_int(ports[i].container_port));
                json_object_object_add(m, "hostPort", json_object_new_int(ports[i].host_port));
                if (ports[i].protocol)
                        json_object_object_add(m, "protocol", json_object_new_string(ports[i].protocol));
                if (ports[i].host_ip)
                        json_object_object_add(m, "hostIP", json_object_new_string(ports[i].host_ip));
                json_object_array_add(a, m);
        }
        json_object_object_add(copy, SAVED_PORTS_KEY, a);
        char *s = xstrdup(json_object_to_json_string_ext(copy, JSON_C_TO_STRING_PLAIN));
        json_object_put(copy);
        return s;
}

/* The port mappings saved with the network config; the strings point into
 * `list`. */
static cni_port_mapping *saved_ports(json_object *list, size_t *ret_n)
{
        json_object *a = NULL, *v;
        *ret_n = 0;
        if (!json_object_object_get_ex(list, SAVED_PORTS_KEY, &a) || !json_object_is_type(a, json_type_array))
                return NULL;
        size_t n = json_object_array_length(a);
        cni_port_mapping *ports = xcalloc(n ? n : 1, sizeof(*ports));
        for (size_t i = 0; i < n; i++) {
                json_object *m = json_object_array_get_idx(a, i);
                if (json_object_object_get_ex(m, "containerPort", &v))
                        ports[i].container_port = json_object_get_int(v);
                if (json_object_object_get_ex(m, "hostPort", &v))
                        ports[i].host_port = json_object_get_int(v);
                if (json_object_object_get_ex(m, "protocol", &v))
                        ports[i].protocol = json_object_get_string(v);
                if (json_object_object_get_ex(m, "hostIP", &v))
                        ports[i].host_ip = json_object_get_string(v);
        }
        *ret_n = n;
        return ports;
}

/* Undo what a pod holds on the machine: network, /dev/shm, namespaces.
 * network_config is the conflist ADD used (NULL: no network to delete). */
static int teardown(sandbox_manager *m, const sandbox *sb, const char *network_config,
                    ocid_error *err)
{
        int r = 0;
        _cleanup_free_ char *netns = ns_path(sb->dir, NS_NET);
        if (network_config) {
                json_object *list = json_tokener_parse(network_config);
                json_object *prev = sb->cni_result ? json_tokener_parse(sb->cni_result) : NULL;
                struct stat st;
                /* A netns already gone is fine: plugins still release what
                 * they allocated (IPs, iptables rules) with an empty netns. */
                cni_attachment a = attachment_for(sb, stat(netns, &st) == 0 ? netns : "");
                _cleanup_free_ cni_port_mapping *ports = list ? saved_ports(list, &a.n_ports) : NULL;
                a.ports = ports;
                a.cgroup_path = sb->cgroup_parent;
                if (list && cni_del(list, m->plugin_dirs, &a, prev, m->cni_timeout_ms, err) < 0)
                        r = ocid_error_wrap(err, "pod %s: tear down network", sb->id);
                json_object_put(list);
                json_object_put(prev);
                if (r < 0)
                        return r; /* keep the namespace so a retry can DEL properly */
        }
        _cleanup_free_ char *shm = fs_path_join(sb->dir, "shm");
        if (umount2(shm, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot unmount %s", shm);
        return ns_unpin(sb->dir, err);
}

/* ---- crash safety ------------------------------------------------------------ */

/* Until a pod's row is committed, what must be undone after a crash (the
 * network it is being attached to) is written in its directory. */
#define INTENT_FILE "network-intent.json"

static int write_intent(const sandbox *sb, const char *network_config, ocid_error *err)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(sb->name));
        json_object_object_add(o, "namespace", json_object_new_string(sb->namespace));
        json_object_object_add(o, "uid", json_object_new_string(sb->uid));
        json_object_object_add(o, "cgroupParent", json_object_new_string(sb->cgroup_parent));
        json_object_object_add(o, "networkConfig", json_object_new_string(network_config));
        int r = write_file(sb->dir, INTENT_FILE, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), err);
        json_object_put(o);
        return r;
}

/* A pod directory without a row is a RunPodSandbox that died halfway:
 * detach it from the network its intent names, then remove it. */
static void undo_unrecorded(sandbox_manager *m, const char *id)
{
        _cleanup_free_ char *dir = fs_path_join(m->runroot_pods, id);
        _cleanup_free_ char *intent_path = fs_path_join(dir, INTENT_FILE);
        _cleanup_free_ char *text = NULL;
        size_t len;
        json_object *intent = fs_read_file(intent_path, 1 << 20, &text, &len) == 0 ? json_tokener_parse(text) : NULL;
        sandbox sb = {
                .id = (char *)id, .dir = dir,
                .name = (char *)json_object_get_string(json_object_object_get(intent, "name")),
                .namespace = (char *)json_object_get_string(json_object_object_get(intent, "namespace")),
                .uid = (char *)json_object_get_string(json_object_object_get(intent, "uid")),
                .cgroup_parent = (char *)json_object_get_string(json_object_object_get(intent, "cgroupParent")),
        };
        const char *config = json_object_get_string(json_object_object_get(intent, "networkConfig"));
        ocid_error err = OCID_ERROR_INIT;
        log_info("pod %s: cleaning up after an interrupted start", id);
        if (teardown(m, &sb, config, &err) < 0)
                log_warn("pod %s: %s", id, err.message);
        else
                fs_remove_tree(dir);
        ocid_error_clear(&err);
        json_object_put(intent);
}

/* ---- run ------------------------------------------------------------------ */

static char *name_key(const char *name, const char *ns, const char *uid, uint32_t attempt)
{
        char *k;
        if (asprintf(&k, "%s\x1f%s\x1f%s\x1f%u", name, ns, uid, attempt) < 0)
                abort();
        return k;
}


static int existing_by_name(sandbox_manager *m, const sandbox_spec *spec, char **ret_id)
{
        sqlite3_stmt *st;
        *ret_id = NULL;
        if (sqlite3_prepare_v2(m->db, "SELECT id FROM sandboxes WHERE name = ? AND namespace = ? AND uid = ? AND attempt = ?",
                               -1, &st, NULL) != SQLITE_OK)
                return -1;
        sqlite3_bind_text(st, 1, spec->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, spec->namespace, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, spec->uid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, spec->attempt);
        if (sqlite3_step(st) == SQLITE_ROW)
                *ret_id = column_text(st, 0);
        sqlite3_finalize(st);
        return 0;
}

static int validate(const sandbox_spec *spec, ocid_error *err)
{
        if (!spec->name || !*spec->name || !spec->namespace || !*spec->namespace || !spec->uid ||
            !*spec->uid)
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "pod sandbox metadata needs a name, a namespace and a uid");
        if (strlen(spec->name) > 253 || strlen(spec->namespace) > 253 || strlen(spec->uid) > 253)
                return ocid_error_set(err, OCID_ERR_INVALID, "pod sandbox metadata is too long");
        if (spec->hostname && *spec->hostname && !valid_hostname(spec->hostname))
                return ocid_error_set(err, OCID_ERR_INVALID, "invalid hostname '%s'", spec->hostname);
        if (spec->cgroup_parent && *spec->cgroup_parent && spec->cgroup_parent[0] != '/' &&
            !strstr(spec->cgroup_parent, ".slice"))
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "cgroup parent '%s' is neither a cgroupfs path nor a systemd slice",
                                      spec->cgroup_parent);
        for (size_t i = 0; i < spec->n_ports; i++)
                if (spec->ports[i].container_port <= 0 || spec->ports[i].container_port > 65535 ||
                    spec->ports[i].host_port < 0 || spec->ports[i].host_port > 65535)
                        return ocid_error_set(err, OCID_ERR_INVALID, "invalid port mapping %d:%d",
                                              spec->ports[i].host_port, spec->ports[i].container_port);
        return 0;
}

static char *ips_json(char *const *ips)
{
        json_object *a = json_object_new_array();
        for (size_t i = 0; ips && ips[i]; i++)
                json_object_array_add(a, json_object_new_string(ips[i]));
        char *s = xstrdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
        json_object_put(a);
        return s;
}

static int insert(sandbox_manager *m, const sandbox *sb, const char *network_config, ocid_error *err)
{
        sqlite3_stmt *st;
        pthread_mutex_lock(&m->lock);
        int r = 0;
        if (sqlite3_prepare_v2(m->db, "INSERT INTO sandboxes (" COLUMNS ", network_config) "
                                      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                               -1, &st, NULL) != SQLITE_OK) {
                r = db_error(m, err, "prepare");
        } else {
                _cleanup_free_ char *more = ips_json(sb->additional_ips);
                sqlite3_bind_text(st, 1, sb->id, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, sb->name, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 3, sb->namespace, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 4, sb->uid, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 5, sb->attempt);
                sqlite3_bind_int(st, 6, sb->state);
                sqlite3_bind_int64(st, 7, sb->created_at);
                sqlite3_bind_text(st, 8, sb->runtime_handler, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 9, sb->dir, -1, SQLITE_STATIC);
                sqlite3_bind_int(st, 10, sb->host_network);
                sqlite3_bind_int(st, 11, sb->host_ipc);
                sqlite3_bind_text(st, 12, sb->cgroup_parent, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 13, sb->ip, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 14, more, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 15, sb->cni_result, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 16, sb->network_name, -1, SQLITE_STATIC);
                sqlite3_bind_blob(st, 17, sb->config, (int)sb->config_len, SQLITE_STATIC);
                sqlite3_bind_text(st, 18, "", -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 19, network_config, -1, SQLITE_STATIC);
                if (sqlite3_step(st) != SQLITE_DONE)
                        r = db_error(m, err, "insert");
                sqlite3_finalize(st);
        }
        pthread_mutex_unlock(&m->lock);
        return r;
}

int sandbox_run(sandbox_manager *m, const sandbox_spec *spec, char **ret_id, ocid_error *err)
{
        if (validate(spec, err) < 0)
                return -1;
        _cleanup_free_ char *key = name_key(spec->name, spec->namespace, spec->uid, spec->attempt);
        _cleanup_free_ char *existing = NULL;
        bool reserved = keyset_try_enter(&m->reserved, key);
        if (reserved) {
                pthread_mutex_lock(&m->lock);
                existing_by_name(m, spec, &existing);
                pthread_mutex_unlock(&m->lock);
        }
        if (existing || !reserved) {
                if (reserved)
                        keyset_leave(&m->reserved, key);
                return ocid_error_set(err, OCID_ERR_EXISTS,
                                      "pod sandbox '%s' in namespace '%s' (uid %s, attempt %u) already exists%s%s",
                                      spec->name, spec->namespace, spec->uid, spec->attempt,
                                      existing ? " with id " : " (being created)", existing ? existing : "");
        }

        sandbox sb = {
                .id = db_new_id(), .name = (char *)spec->name, .namespace = (char *)spec->namespace,
                .uid = (char *)spec->uid, .attempt = spec->attempt, .state = SANDBOX_READY,
                .runtime_handler = (char *)spec->runtime_handler, .host_network = spec->host_network,
                .host_ipc = spec->host_ipc,
                .cgroup_parent = (char *)(spec->cgroup_parent ? spec->cgroup_parent : ""),
                .config = (void *)spec->config, .config_len = spec->config_len,
        };
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        sb.created_at = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
        sb.dir = fs_path_join(m->runroot_pods, sb.id);
        char hostname[65] = "";
        if (spec->host_network)
                gethostname(hostname, sizeof(hostname) - 1);
        else
                snprintf(hostname, sizeof(hostname), "%s",
                         spec->hostname && *spec->hostname ? spec->hostname : spec->name);

        _cleanup_free_ char *network_config = NULL;
        cni_result *result = NULL;
        cni_network *net = NULL;
        bool made_dir = false, pinned = false, added = false;
        int r = fs_mkdir_p(sb.dir, 0711);
        if (r < 0)
                r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, r, "cannot create %s", sb.dir);
        else
                made_dir = true;
        unsigned kinds = (spec->host_network ? 0 : NS_NET | NS_UTS) | (spec->host_ipc ? 0 : NS_IPC);
        if (r == 0 && (r = ns_pin(sb.dir, kinds, hostname, spec->sysctls, err)) == 0)
                pinned = true;
        if (r == 0 && !spec->host_ipc) {
                _cleanup_free_ char *shm = fs_path_join(sb.dir, "shm");
                if (mkdir(shm, 0755) < 0 ||
                    mount("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=" SHM_SIZE) < 0)
                        r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot mount %s", shm);
        }
        if (r == 0) {
                _cleanup_free_ char *line = NULL;
                if (asprintf(&line, "%s\n", hostname) < 0)
                        abort();
                r = write_file(sb.dir, "hostname", line, err);
        }
        if (r == 0)
                r = write_resolv_conf(sb.dir, spec, err);
        if (r == 0 && spec->host_network) {
                host_ips(&sb.ip, &sb.additional_ips);
        } else if (r == 0) {
                if (cni_config_find(m->network_dir, &net, err) < 0) {
                        err->kind = OCID_ERR_PRECONDITION;
                        r = ocid_error_wrap(err, "network not ready");
                }
                _cleanup_free_ char *netns = ns_path(sb.dir, NS_NET);
                cni_attachment a = attachment_for(&sb, netns);
                a.ports = spec->ports;
                a.n_ports = spec->n_ports;
                a.cgroup_path = spec->cgroup_parent;
                if (r == 0) {
                        network_config = saved_network_config(net->list, spec->ports, spec->n_ports);
                        r = write_intent(&sb, network_config, err);
                }
                if (r == 0 && (r = cni_add(net->list, m->plugin_dirs, &a, m->cni_timeout_ms, &result, err)) == 0) {
                        added = true;
                        sb.network_name = net->name;
                        sb.cni_result = (char *)json_object_to_json_string_ext(result->raw, JSON_C_TO_STRING_PLAIN);
                        result_ips(result, "eth0", &sb.ip, &sb.additional_ips);
                }
        }
        if (r == 0)
                r = write_hosts(sb.dir, hostname, sb.ip, err);
        if (r == 0)
                r = insert(m, &sb, network_config, err);
        if (r == 0) {
                /* Recorded: the intent file has served its purpose. */
                _cleanup_free_ char *intent = fs_path_join(sb.dir, INTENT_FILE);
                unlink(intent);
        }

        if (r < 0) {
                /* Undo in reverse; a failing step must not hide the cause. */
                ocid_error ignored = OCID_ERROR_INIT;
                if (pinned || added)
                        teardown(m, &sb, added ? network_config : NULL, &ignored);
                if (ignored.kind != OCID_OK)
                        log_warn("pod %s: cleanup after a failed start: %s", sb.id, ignored.message);
                ocid_error_clear(&ignored);
                if (made_dir)
                        fs_remove_tree(sb.dir);
        } else {
                log_info("pod %s (%s/%s) ready%s%s", sb.id, spec->namespace, spec->name,
                         *sb.ip ? ", ip " : "", sb.ip);
                *ret_id = xstrdup(sb.id);
        }
        keyset_leave(&m->reserved, key);
        cni_result_free(result);
        cni_network_free(net);
        free(sb.id);
        free(sb.dir);
        free(sb.ip);
        strv_free(sb.additional_ips);
        return r;
}

/* ---- queries --------------------------------------------------------------- */

static int find(sandbox_manager *m, const char *id, sandbox **ret, char **ret_network_config,
                ocid_error *err)
{
        if (!id || !*id)
                return ocid_error_set(err, OCID_ERR_INVALID, "no pod sandbox ID given");
        if (strspn(id, "0123456789abcdef") != strlen(id))
                return ocid_error_set(err, OCID_ERR_NOT_FOUND, "pod sandbox '%s' not found", id);
        _cleanup_free_ char *pattern = NULL;
        if (asprintf(&pattern, "%s%%", id) < 0)
                abort();
        sqlite3_stmt *st;
        pthread_mutex_lock(&m->lock);
        int r = 0;
        sandbox *sb = NULL;
        if (sqlite3_prepare_v2(m->db, "SELECT " COLUMNS ", network_config FROM sandboxes WHERE id LIKE ? LIMIT 2",
                               -1, &st, NULL) != SQLITE_OK) {
                r = db_error(m, err, "prepare");
        } else {
                sqlite3_bind_text(st, 1, pattern, -1, SQLITE_STATIC);
                if (sqlite3_step(st) == SQLITE_ROW) {
                        sb = sandbox_from_row(st);
                        if (ret_network_config)
                                *ret_network_config = column_text(st, 18);
                }
                if (sb && sqlite3_step(st) == SQLITE_ROW)
                        r = ocid_error_set(err, OCID_ERR_INVALID, "pod sandbox ID prefix '%s' is ambiguous", id);
                else if (!sb)
                        r = ocid_error_set(err, OCID_ERR_NOT_FOUND, "pod sandbox '%s' not found", id);
                sqlite3_finalize(st);
        }
        pthread_mutex_unlock(&m->lock);
        if (r < 0) {
                sandbox_free(sb);
                if (ret_network_config) {
                        free(*ret_network_config);
                        *ret_network_config = NULL;
                }
                return r;
        }
        *ret = sb;
        return 0;
}

int sandbox_get(sandbox_manager *m, const char *id, sandbox **ret, ocid_error *err)
{
        return find(m, id, ret, NULL, err);
}

int sandbox_list(sandbox_manager *m, sandbox ***ret, size_t *ret_n, ocid_error *err)
{
        sqlite3_stmt *st;
        sandbox **list = NULL;
        size_t n = 0;
        pthread_mutex_lock(&m->lock);
        int r = 0;
        if (sqlite3_prepare_v2(m->db, "SELECT " COLUMNS " FROM sandboxes ORDER BY created_at", -1, &st,
                               NULL) != SQLITE_OK) {
                r = db_error(m, err, "prepare");
        } else {
                while (sqlite3_step(st) == SQLITE_ROW) {
                        list = realloc(list, (n + 1) * sizeof(*list));
                        if (!list)
                                abort();
                        list[n++] = sandbox_from_row(st);
                }
                sqlite3_finalize(st);
        }
        pthread_mutex_unlock(&m->lock);
        *ret = list;
        *ret_n = n;
        return r;
}

/* ---- stop and remove -------------------------------------------------------- */

static int exec_sql(sandbox_manager *m, const char *sql, const char *id, ocid_error *err)
{
        sqlite3_stmt *st;
        pthread_mutex_lock(&m->lock);
        int r = 0;
        if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK) {
                r = db_error(m, err, "prepare");
        } else {
                sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                if (sqlite3_step(st) != SQLITE_DONE)
                        r = db_error(m, err, "update");
                sqlite3_finalize(st);
        }
        pthread_mutex_unlock(&m->lock);
        return r;
}

static int stop_locked(sandbox_manager *m, const char *full_id, ocid_error *err)
{
        sandbox *sb = NULL;
        _cleanup_free_ char *network_config = NULL;
        if (find(m, full_id, &sb, &network_config, err) < 0)
                return -1;
        int r = teardown(m, sb, network_config, err);
        /* The network is gone once DEL succeeded: never DEL twice. */
        if (r == 0)
                r = exec_sql(m, "UPDATE sandboxes SET state = 1, network_config = NULL WHERE id = ?",
                             sb->id, err);
        if (r == 0 && sb->state == SANDBOX_READY)
                log_info("pod %s stopped", sb->id);
        sandbox_free(sb);
        return r;
}

/* Resolve a prefix to the full ID, so that the busy set holds the real one. */
static int full_id(sandbox_manager *m, const char *id, char **ret, ocid_error *err)
{
        sandbox *sb = NULL;
        if (find(m, id, &sb, NULL, err) < 0)
                return -1;
        *ret = xstrdup(sb->id);
        sandbox_free(sb);
        return 0;
}

int sandbox_set_infra(sandbox_manager *m, const char *id, const char *infra_id, ocid_error *err)
{
        sqlite3_stmt *st;
        int r = 0;
        pthread_mutex_lock(&m->lock);
        if (sqlite3_prepare_v2(m->db, "UPDATE sandboxes SET infra_id = ? WHERE id = ?", -1, &st, NULL) != SQLITE_OK) {
                r = db_error(m, err, "prepare");
        } else {
                sqlite3_bind_text(st, 1, infra_id, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
                if (sqlite3_step(st) != SQLITE_DONE)
                        r = db_error(m, err, "update");
                sqlite3_finalize(st);
        }
        pthread_mutex_unlock(&m->lock);
        return r;
}

int sandbox_stop(sandbox_manager *m, const char *id, ocid_error *err)
{
        _cleanup_free_ char *full = NULL;
        if (full_id(m, id, &full, err) < 0)
                return -1;
        keyset_enter(&m->busy, full);
        int r = stop_locked(m, full, err);
        keyset_leave(&m->busy, full);
        return r;
}

int sandbox_remove(sandbox_manager *m, const char *id, ocid_error *err)
{
        _cleanup_free_ char *full = NULL;
        if (full_id(m, id, &full, err) < 0) {
                if (err->kind != OCID_ERR_NOT_FOUND)
                        return -1;
                /* The CRI: removing a sandbox that does not exist succeeds. */
                ocid_error_clear(err);
                return 0;
        }
        keyset_enter(&m->busy, full);
        int r = stop_locked(m, full, err);
        _cleanup_free_ char *dir = fs_path_join(m->runroot_pods, full);
        if (r == 0) {
                int q = fs_remove_tree(dir);
                if (q < 0)
                        r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, q, "cannot remove %s", dir);
        }
        if (r == 0)
                r = exec_sql(m, "DELETE FROM sandboxes WHERE id = ?", full, err);
        if (r == 0)
                log_info("pod %s removed", full);
        keyset_leave(&m->busy, full);
        return r;
}

/* ---- manager ----------------------------------------------------------------- */

/* After a reboot the pinned namespaces are gone: such pods are not ready.
 * Directories of pods that were never recorded are undone. */
static void reconcile(sandbox_manager *m)
{
        DIR *d = opendir(m->runroot_pods);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                sandbox *sb = NULL;
                ocid_error lookup = OCID_ERROR_INIT;
                if (find(m, de->d_name, &sb, NULL, &lookup) < 0 && lookup.kind == OCID_ERR_NOT_FOUND)
                        undo_unrecorded(m, de->d_name);
                sandbox_free(sb);
                ocid_error_clear(&lookup);
        }
        if (d)
                closedir(d);

        sandbox **list = NULL;
        size_t n = 0;
        ocid_error err = OCID_ERROR_INIT;
        sandbox_list(m, &list, &n, &err);
        for (size_t i = 0; i < n; i++) {
                if (list[i]->state != SANDBOX_READY)
                        continue;
                _cleanup_free_ char *net = ns_path(list[i]->dir, NS_NET);
                _cleanup_free_ char *uts = ns_path(list[i]->dir, NS_UTS);
                struct stat st;
                const char *probe = list[i]->host_network ? NULL : net;
                if (probe && stat(probe, &st) < 0) {
                        log_info("pod %s: namespaces gone (reboot?), marking it not ready", list[i]->id);
                        exec_sql(m, "UPDATE sandboxes SET state = 1 WHERE id = ?", list[i]->id, &err);
                        ocid_error_clear(&err);
                }
        }
        sandboxes_free(list, n);
        ocid_error_clear(&err);
}

int sandbox_manager_new(const sandbox_options *opts, sandbox_manager **ret, ocid_error *err)
{
        sandbox_manager *m = xcalloc(1, sizeof(*m));
        pthread_mutex_init(&m->lock, NULL);
        keyset_init(&m->busy);
        keyset_init(&m->reserved);
        m->runroot_pods = fs_path_join(opts->runroot, "pods");
        m->network_dir = xstrdup(opts->network_dir);
        for (size_t i = 0; opts->plugin_dirs && opts->plugin_dirs[i]; i++)
                m->plugin_dirs = strv_push(m->plugin_dirs, opts->plugin_dirs[i]);
        m->cni_timeout_ms = opts->cni_timeout_ms ? opts->cni_timeout_ms : 60000;
        int r = fs_mkdir_p(m->runroot_pods, 0711);
        if (r < 0) {
                ocid_error_set_errno(err, OCID_ERR_INTERNAL, r, "cannot create %s", m->runroot_pods);
                sandbox_manager_free(m);
                return -1;
        }
        _cleanup_free_ char *db_path = fs_path_join(opts->root, "state.db");
        if (db_open(db_path, schema, DB_SURVIVES_CRASHES, &m->db, err) < 0) {
                sandbox_manager_free(m);
                return -1;
        }
        reconcile(m);
        *ret = m;
        return 0;
}

void sandbox_manager_free(sandbox_manager *m)
{
        if (!m)
                return;
        if (m->db)
                sqlite3_close(m->db);
        free(m->runroot_pods);
        free(m->network_dir);
        strv_free(m->plugin_dirs);
        keyset_release(&m->busy);
        keyset_release(&m->reserved);
        pthread_mutex_destroy(&m->lock);
        free(m);
}
