#include "network/cni.h"
#include "network/cni_config.h"
#include "network/cni_exec.h"
#include "util/cleanup.h"
#include "util/strbuf.h"
#include "util/strv.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/vfs.h>

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

/* Plugin results nest a few levels; anything deeper is not a result. */
#define CNI_RESULT_MAX_DEPTH 32

static inline void json_object_putp(json_object **o)
{
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

static const char *json_string(json_object *o, const char *key)
{
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* ---- results ---- */

void cni_result_free(cni_result *r)
{
        if (!r)
                return;
        free(r->cni_version);
        for (size_t i = 0; i < r->n_ips; i++) {
                free(r->ips[i].address);
                free(r->ips[i].gateway);
        }
        free(r->ips);
        strv_free(r->interfaces);
        json_object_put(r->raw);
        free(r);
}

/* "x.y.z", each part 1-9 digits: what the CNI spec calls a version. */
static bool version_valid(const char *v)
{
        for (int part = 0; part < 3; part++) {
                size_t n = 0;
                while (isdigit((unsigned char)v[n]))
                        n++;
                if (n == 0 || n > 9)
                        return false;
                v += n;
                if (part < 2 && *v++ != '.')
                        return false;
        }
        return *v == '\0';
}

static bool version_known(const char *v)
{
        static const char *const known[] = { "0.1.0", "0.2.0", "0.3.0", "0.3.1",
                                             "0.4.0", "1.0.0", "1.1.0" };
        for (size_t i = 0; i < ARRAY_SIZE(known); i++)
                if (STREQ(v, known[i]))
                        return true;
        return false;
}

/* 4 or 6 for a literal IP address, 0 otherwise. */
static int ip_family(const char *s)
{
        unsigned char buf[16];
        if (strlen(s) >= INET6_ADDRSTRLEN)
                return 0;
        if (inet_pton(AF_INET, s, buf) == 1)
                return 4;
        if (inet_pton(AF_INET6, s, buf) == 1)
                return 6;
        return 0;
}

/* 4 or 6 for "address/prefix" with a prefix that fits the family, else 0. */
static int cidr_family(const char *s)
{
        const char *slash = strrchr(s, '/');
        if (!slash || (size_t)(slash - s) >= INET6_ADDRSTRLEN)
                return 0;
        char addr[INET6_ADDRSTRLEN];
        memcpy(addr, s, (size_t)(slash - s));
        addr[slash - s] = '\0';
        int family = ip_family(addr);
        const char *p = slash + 1;
        size_t n = strspn(p, "0123456789");
        if (!family || n == 0 || n > 3 || p[n] != '\0')
                return 0;
        return atoi(p) <= (family == 4 ? 32 : 128) ? family : 0;
}

typedef struct {
        cni_result *res;
        ocid_error *err;
} result_parser;

__attribute__((format(printf, 2, 3))) static int result_invalid(result_parser *p,
                                                                const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        strbuf_vaddf(&sb, fmt, ap);
        va_end(ap);
        return ocid_error_set(p->err, OCID_ERR_INVALID, "invalid CNI result: %s", sb.buf);
}

/* Optional member of a given type: 0 and *ret NULL when absent, -1 when it
 * has another type. JSON null counts as absent (Go's omitempty is not
 * universal). */
static int member(result_parser *p, json_object *o, const char *where, const char *key,
                  json_type type, json_object **ret)
{
        json_object *v = NULL;
        *ret = NULL;
        if (!json_object_object_get_ex(o, key, &v) || !v)
                return 0;
        if (!json_object_is_type(v, type))
                return result_invalid(p, "%s\"%s\" is not %s", where, key,
                                      type == json_type_string   ? "a string"
                                      : type == json_type_array  ? "an array"
                                      : type == json_type_object ? "an object"
                                                                 : "an integer");
        /* "\u0000" would cut the C string short of what the document says. */
        if (type == json_type_string &&
            strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
                return result_invalid(p, "%s\"%s\" holds a NUL character", where, key);
        *ret = v;
        return 0;
}

static int add_ip(result_parser *p, const char *where, const char *address, const char *gateway,
                  int interface)
{
        int family = cidr_family(address);
        if (!family)
                return result_invalid(p, "%saddress '%.80s' is not an IP address in CIDR form",
                                      where, address);
        if (gateway && ip_family(gateway) != family)
                return result_invalid(p, "%sgateway '%.80s' is not an IPv%d address", where,
                                      gateway, family);
        if (p->res->n_ips >= CNI_RESULT_MAX_IPS)
                return ocid_error_set(p->err, OCID_ERR_RESOURCE,
                                      "invalid CNI result: more than %d IPs", CNI_RESULT_MAX_IPS);
        cni_ip *ip = &p->res->ips[p->res->n_ips++];
        *ip = (cni_ip){
                .address = strdup(address),
                .gateway = gateway ? strdup(gateway) : NULL,
                .family = family,
                .interface = interface,
        };
        if (!ip->address || (gateway && !ip->gateway))
                abort();
        return 0;
}

static int parse_routes(result_parser *p, json_object *o, const char *where)
{
        json_object *routes;
        if (member(p, o, where, "routes", json_type_array, &routes) < 0)
                return -1;
        for (size_t i = 0; routes && i < json_object_array_length(routes); i++) {
                json_object *route = json_object_array_get_idx(routes, i), *dst, *gw;
                if (!json_object_is_type(route, json_type_object))
                        return result_invalid(p, "%sroute %zu is not an object", where, i);
                if (member(p, route, where, "dst", json_type_string, &dst) < 0 ||
                    member(p, route, where, "gw", json_type_string, &gw) < 0)
                        return -1;
                if (!dst || !cidr_family(json_object_get_string(dst)))
                        return result_invalid(p, "%sroute %zu has no valid \"dst\"", where, i);
                if (gw && !ip_family(json_object_get_string(gw)))
                        return result_invalid(p, "%sroute %zu: gw '%.80s' is not an IP address",
                                              where, i, json_object_get_string(gw));
        }
        return 0;
}

/* 0.1.0 and 0.2.0: {"ip4": {"ip", "gateway", "routes"}, "ip6": {...}, "dns"}. */
static int parse_legacy(result_parser *p, json_object *root)
{
        static const struct {
                const char *key;
                int family;
        } fams[] = { { "ip4", 4 }, { "ip6", 6 } };
        for (size_t f = 0; f < ARRAY_SIZE(fams); f++) {
                json_object *block, *ip, *gw;
                char where[16];
                snprintf(where, sizeof(where), "%s: ", fams[f].key);
                if (member(p, root, "", fams[f].key, json_type_object, &block) < 0)
                        return -1;
                if (!block)
                        continue;
                if (member(p, block, where, "ip", json_type_string, &ip) < 0 ||
                    member(p, block, where, "gateway", json_type_string, &gw) < 0)
                        return -1;
                if (!ip)
                        return result_invalid(p, "%sno \"ip\"", where);
                if (cidr_family(json_object_get_string(ip)) != fams[f].family)
                        return result_invalid(p, "%s'%.80s' is not an IPv%d address in CIDR form",
                                              where, json_object_get_string(ip), fams[f].family);
                if (add_ip(p, where, json_object_get_string(ip),
                           gw ? json_object_get_string(gw) : NULL, -1) < 0)
                        return -1;
                if (parse_routes(p, block, where) < 0)
                        return -1;
        }
        return 0;
}

/* 0.3.0 and later: {"interfaces", "ips", "routes", "dns"}. */
static int parse_current(result_parser *p, json_object *root, bool has_ip_version)
{
        json_object *ifaces, *ips;
        if (member(p, root, "", "interfaces", json_type_array, &ifaces) < 0 ||
            member(p, root, "", "ips", json_type_array, &ips) < 0)
                return -1;

        size_t n_ifaces = ifaces ? json_object_array_length(ifaces) : 0;
        if (n_ifaces > CNI_RESULT_MAX_INTERFACES)
                return ocid_error_set(p->err, OCID_ERR_RESOURCE,
                                      "invalid CNI result: more than %d interfaces",
                                      CNI_RESULT_MAX_INTERFACES);
        for (size_t i = 0; i < n_ifaces; i++) {
                json_object *iface = json_object_array_get_idx(ifaces, i), *name, *ignored;
                char where[32];
                snprintf(where, sizeof(where), "interface %zu: ", i);
                if (!json_object_is_type(iface, json_type_object))
                        return result_invalid(p, "interface %zu is not an object", i);
                if (member(p, iface, where, "name", json_type_string, &name) < 0 ||
                    member(p, iface, where, "mac", json_type_string, &ignored) < 0 ||
                    member(p, iface, where, "sandbox", json_type_string, &ignored) < 0)
                        return -1;
                if (!name || !*json_object_get_string(name))
                        return result_invalid(p, "%sno \"name\"", where);
                p->res->interfaces = strv_push(p->res->interfaces, json_object_get_string(name));
        }

        size_t n_ips = ips ? json_object_array_length(ips) : 0;
        if (n_ips > CNI_RESULT_MAX_IPS)
                return ocid_error_set(p->err, OCID_ERR_RESOURCE,
                                      "invalid CNI result: more than %d IPs", CNI_RESULT_MAX_IPS);
        p->res->ips = calloc(n_ips ? n_ips : 1, sizeof(cni_ip));
        if (!p->res->ips)
                abort();
        for (size_t i = 0; i < n_ips; i++) {
                json_object *ip = json_object_array_get_idx(ips, i), *address, *gateway, *index,
                            *version;
                char where[32];
                snprintf(where, sizeof(where), "ip %zu: ", i);
                if (!json_object_is_type(ip, json_type_object))
                        return result_invalid(p, "ip %zu is not an object", i);
                if (member(p, ip, where, "address", json_type_string, &address) < 0 ||
                    member(p, ip, where, "gateway", json_type_string, &gateway) < 0 ||
                    member(p, ip, where, "interface", json_type_int, &index) < 0 ||
                    member(p, ip, where, "version", json_type_string, &version) < 0)
                        return -1;
                if (!address)
                        return result_invalid(p, "%sno \"address\"", where);
                int interface = -1;
                if (index) {
                        int64_t v = json_object_get_int64(index);
                        if (v < 0 || (uint64_t)v >= n_ifaces)
                                return result_invalid(p, "%sinterface index %" PRId64
                                                      " is not one of the %zu interfaces",
                                                      where, v, n_ifaces);
                        interface = (int)v;
                }
                if (add_ip(p, where, json_object_get_string(address),
                           gateway ? json_object_get_string(gateway) : NULL, interface) < 0)
                        return -1;
                /* 0.3.x and 0.4.0 also say the family; it must agree. */
                if (version && has_ip_version) {
                        const char *v = json_object_get_string(version);
                        int family = p->res->ips[p->res->n_ips - 1].family;
                        if (!STREQ(v, family == 4 ? "4" : "6"))
                                return result_invalid(p, "%sversion '%.16s' does not match '%.80s'",
                                                      where, v, json_object_get_string(address));
                }
        }
        return parse_routes(p, root, "");
}

static int result_from_object(json_object *root, cni_result **ret, ocid_error *err)
{
        cni_result *res = calloc(1, sizeof(*res));
        if (!res)
                abort();
        _cleanup_(cni_result_freep) cni_result *owned = res;
        result_parser p = { .res = res, .err = err };

        if (!json_object_is_type(root, json_type_object))
                return result_invalid(&p, "not a JSON object");
        json_object *version, *dns;
        if (member(&p, root, "", "cniVersion", json_type_string, &version) < 0 ||
            member(&p, root, "", "dns", json_type_object, &dns) < 0)
                return -1;
        const char *v = version ? json_object_get_string(version) : "0.1.0";
        if (!version_valid(v) || !version_known(v))
                return result_invalid(&p, "unsupported cniVersion '%.64s'", v);
        res->cni_version = strdup(v);
        if (!res->cni_version)
                abort();

        int r;
        if (cni_version_compare(v, "0.3.0") < 0) {
                res->ips = calloc(2, sizeof(cni_ip));
                if (!res->ips)
                        abort();
                r = parse_legacy(&p, root);
        } else {
                r = parse_current(&p, root, cni_version_compare(v, "1.0.0") < 0);
        }
        if (r < 0)
                return r;
        if (!res->interfaces)
                res->interfaces = calloc(1, sizeof(char *));
        if (!res->interfaces)
                abort();
        res->raw = json_object_get(root);
        *ret = TAKE_PTR(owned);
        return 0;
}

int cni_result_parse(const char *text, size_t len, cni_result **ret, ocid_error *err)
{
        if (len > CNI_RESULT_MAX_SIZE)
                return ocid_error_set(err, OCID_ERR_RESOURCE,
                                      "invalid CNI result: %zu bytes, more than %d", len,
                                      CNI_RESULT_MAX_SIZE);
        if (len == 0 || memchr(text, '\0', len))
                return ocid_error_set(err, OCID_ERR_INVALID, "invalid CNI result: %s",
                                      len ? "NUL byte" : "empty");
        json_tokener *tok = json_tokener_new_ex(CNI_RESULT_MAX_DEPTH);
        if (!tok)
                abort();
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        _cleanup_json_ json_object *root = json_tokener_parse_ex(tok, text, (int)len);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        if (jerr != json_tokener_success || !root) {
                return ocid_error_set(err, OCID_ERR_INVALID, "invalid CNI result: %s",
                                      jerr == json_tokener_continue
                                              ? "truncated JSON"
                                              : json_tokener_error_desc(jerr));
        }
        for (; end < len; end++)
                if (!strchr(" \t\r\n", text[end]))
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "invalid CNI result: data after the JSON document");
        return result_from_object(root, ret, err);
}

/* ---- running the chain ---- */

typedef enum { CNI_ADD, CNI_DEL, CNI_CHECK } cni_command;
static const char *const command_names[] = { "ADD", "DEL", "CHECK" };

typedef struct {
        json_object *list;
        json_object *plugins;
        size_t n_plugins;
        const char *name;
        const char *version; /* "0.1.0" when the list has none, as libcni */
        char *const *plugin_dirs;
        const cni_attachment *a;
        const char *ifname;
        char *cni_args;      /* owned */
        json_object *ports;  /* owned: the portMappings capability */
        int timeout_ms;
} chain;

static void chain_done(chain *c)
{
        free(c->cni_args);
        json_object_put(c->ports);
}

/* What libcni's ValidateContainerID and ValidateNetworkName accept. */
static bool id_valid(const char *s)
{
        if (!s || !isalnum((unsigned char)s[0]))
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
                        return false;
        return true;
}

/* What libcni's ValidateInterfaceName accepts (and the kernel's IFNAMSIZ). */
static bool ifname_valid(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 15 || STREQ(s, ".") || STREQ(s, ".."))
                return false;
        for (; *s; s++)
                if (*s == '/' || *s == ':' || isspace((unsigned char)*s))
                        return false;
        return true;
}

static int add_cni_arg(strbuf *sb, const char *key, const char *value, ocid_error *err)
{
        if (!value)
                return 0;
        if (strpbrk(value, ";="))
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "CNI argument %s '%s' may not contain ';' or '='", key,
                                      value);
        strbuf_addf(sb, ";%s=%s", key, value);
        return 0;
}

static int build_ports(chain *c, ocid_error *err)
{
        const cni_attachment *a = c->a;
        if (a->n_ports && !a->ports)
                return ocid_error_set(err, OCID_ERR_INVALID, "port mappings missing");
        c->ports = json_object_new_array();
        for (size_t i = 0; i < a->n_ports; i++) {
                const cni_port_mapping *pm = &a->ports[i];
                if (pm->host_port <= 0)
                        continue;
                const char *proto = pm->protocol && *pm->protocol ? pm->protocol : "tcp";
                const char *canon = !strcasecmp(proto, "tcp")    ? "tcp"
                                    : !strcasecmp(proto, "udp")  ? "udp"
                                    : !strcasecmp(proto, "sctp") ? "sctp"
                                                                 : NULL;
                if (!canon)
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "port mapping %d: unknown protocol '%s'",
                                              pm->host_port, proto);
                if (pm->host_port > 65535 || pm->container_port <= 0 ||
                    pm->container_port > 65535)
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "port mapping %d:%d: port out of range",
                                              pm->host_port, pm->container_port);
                if (pm->host_ip && *pm->host_ip && !ip_family(pm->host_ip))
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "port mapping %d: host IP '%s' is not an IP address",
                                              pm->host_port, pm->host_ip);
                json_object *m = json_object_new_object();
                json_object_object_add(m, "hostPort", json_object_new_int(pm->host_port));
                json_object_object_add(m, "containerPort", json_object_new_int(pm->container_port));
                json_object_object_add(m, "protocol", json_object_new_string(canon));
                if (pm->host_ip && *pm->host_ip)
                        json_object_object_add(m, "hostIP", json_object_new_string(pm->host_ip));
                json_object_array_add(c->ports, m);
        }
        return 0;
}

static int chain_init(chain *c, json_object *list, char *const *plugin_dirs,
                      const cni_attachment *a, int timeout_ms, ocid_error *err)
{
        *c = (chain){ .list = list, .plugin_dirs = plugin_dirs, .a = a, .timeout_ms = timeout_ms };
        if (!json_object_is_type(list, json_type_object) ||
            !json_object_object_get_ex(list, "plugins", &c->plugins) ||
            !json_object_is_type(c->plugins, json_type_array) ||
            json_object_array_length(c->plugins) == 0)
                return ocid_error_set(err, OCID_ERR_INVALID, "CNI configuration has no plugins");
        c->n_plugins = json_object_array_length(c->plugins);
        c->name = json_string(list, "name");
        if (!id_valid(c->name))
                return ocid_error_set(err, OCID_ERR_INVALID, "CNI network name '%s' is invalid",
                                      c->name ? c->name : "");
        c->version = json_string(list, "cniVersion");
        if (!c->version || !*c->version)
                c->version = "0.1.0";
        for (size_t i = 0; i < c->n_plugins; i++) {
                json_object *p = json_object_array_get_idx(c->plugins, i);
                if (!json_object_is_type(p, json_type_object) || !json_string(p, "type"))
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "network '%s': plugin %zu has no \"type\"",
                                              c->name, i);
        }

        if (!a || !id_valid(a->container_id))
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "network '%s': container ID '%s' is invalid", c->name,
                                      a && a->container_id ? a->container_id : "");
        c->ifname = a->ifname && *a->ifname ? a->ifname : "eth0";
        if (!ifname_valid(c->ifname))
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "network '%s': interface name '%s' is invalid", c->name,
                                      c->ifname);
        _cleanup_strbuf_ strbuf args = STRBUF_INIT;
        strbuf_adds(&args, "IgnoreUnknown=1");
        if (add_cni_arg(&args, "K8S_POD_NAMESPACE", a->pod_namespace, err) < 0 ||
            add_cni_arg(&args, "K8S_POD_NAME", a->pod_name, err) < 0 ||
            add_cni_arg(&args, "K8S_POD_INFRA_CONTAINER_ID", a->container_id, err) < 0 ||
            add_cni_arg(&args, "K8S_POD_UID", a->pod_uid, err) < 0)
                return ocid_error_wrap(err, "network '%s'", c->name);
        c->cni_args = strbuf_detach(&args, NULL);
        if (build_ports(c, err) < 0)
                return ocid_error_wrap(err, "network '%s'", c->name);
        return 0;
}

static bool capability_on(json_object *caps, const char *key)
{
        json_object *v;
        return json_object_object_get_ex(caps, key, &v) &&
               json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

/* The i-th plugin's stdin: its object with name, cniVersion, prevResult and
 * (as libcni's injectRuntimeConfig) a runtimeConfig of the capabilities it
 * declares that we have values for; none leaves its own runtimeConfig be. */
static json_object *plugin_stdin(const chain *c, size_t i, json_object *prev)
{
        json_object *conf = cni_plugin_config(c->list, i, prev);
        if (!conf)
                return NULL;
        json_object *caps = json_object_object_get(conf, "capabilities");
        json_object *rc = json_object_new_object();
        if (capability_on(caps, "portMappings")) {
                json_object *copy = NULL;
                json_object_deep_copy(c->ports, &copy, NULL);
                json_object_object_add(rc, "portMappings", copy);
        }
        if (capability_on(caps, "cgroupPath") && c->a->cgroup_path && *c->a->cgroup_path)
                json_object_object_add(rc, "cgroupPath", json_object_new_string(c->a->cgroup_path));
        if (json_object_object_length(rc) > 0)
                json_object_object_add(conf, "runtimeConfig", rc);
        else
                json_object_put(rc);
        return conf;
}

/* Run plugin i; errors name the network. */
static int run_plugin(const chain *c, size_t i, cni_command cmd, const char *netns,
                      json_object *prev, json_object **ret, ocid_error *err)
{
        const char *type = json_string(json_object_array_get_idx(c->plugins, i), "type");
        _cleanup_free_ char *path = NULL;
        if (cni_plugin_find(c->plugin_dirs, type, &path, err) < 0)
                return ocid_error_wrap(err, "network '%s'", c->name);
        _cleanup_json_ json_object *conf = plugin_stdin(c, i, prev);
        if (!conf)
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "network '%s': plugin %zu is not an object", c->name, i);
        cni_invocation inv = {
                .command = command_names[cmd],
                .container_id = c->a->container_id,
                .netns = netns,
                .ifname = c->ifname,
                .args = c->cni_args,
                .plugin_dirs = c->plugin_dirs,
                .timeout_ms = c->timeout_ms,
        };
        if (cni_exec(path, &inv, conf, ret, err) < 0)
                return ocid_error_wrap(err, "network '%s'", c->name);
        return 0;
}

/* A netns that is gone, or whose bind mount is gone (leaving an empty file
 * behind), makes plugins fail their DEL; they are told there is none. */
static const char *netns_for_del(const char *netns)
{
        struct statfs st;
        if (!netns || !*netns || statfs(netns, &st) < 0)
                return "";
        if ((unsigned long)st.f_type != NSFS_MAGIC && (unsigned long)st.f_type != PROC_SUPER_MAGIC)
                return "";
        return netns;
}

static int chain_del(const chain *c, json_object *prev, ocid_error *err)
{
        const char *netns = netns_for_del(c->a->netns);
        if (cni_version_compare(c->version, "0.4.0") < 0)
                prev = NULL;
        int ret = 0;
        for (size_t i = c->n_plugins; i-- > 0;) {
                ocid_error one = OCID_ERROR_INIT;
                if (run_plugin(c, i, CNI_DEL, netns, prev, NULL, &one) < 0) {
                        if (ret == 0)
                                ret = ocid_error_set(err, one.kind, "%s", one.message);
                        ocid_error_clear(&one);
                }
        }
        return ret;
}

int cni_del(json_object *list, char *const *plugin_dirs, const cni_attachment *a,
            json_object *prev_result, int timeout_ms, ocid_error *err)
{
        _cleanup_(chain_done) chain c = { .list = NULL };
        if (chain_init(&c, list, plugin_dirs, a, timeout_ms, err) < 0)
                return -1;
        return chain_del(&c, prev_result, err);
}

/* After a failed ADD: undo everything, and say so if that failed too. */
static int add_failed(const chain *c, json_object *partial, ocid_error *err)
{
        ocid_error undo = OCID_ERROR_INIT;
        if (chain_del(c, partial, &undo) < 0 && err && err->message) {
                char *joined = NULL;
                if (asprintf(&joined, "%s; undoing it failed too: %s", err->message,
                             undo.message ? undo.message : "unknown error") >= 0) {
                        free(err->message);
                        err->message = joined;
                }
        }
        ocid_error_clear(&undo);
        return -1;
}

int cni_add(json_object *list, char *const *plugin_dirs, const cni_attachment *a, int timeout_ms,
            cni_result **ret, ocid_error *err)
{
        _cleanup_(chain_done) chain c = { .list = NULL };
        if (chain_init(&c, list, plugin_dirs, a, timeout_ms, err) < 0)
                return -1;
        if (!a->netns || !*a->netns)
                return ocid_error_set(err, OCID_ERR_INVALID, "network '%s': no network namespace",
                                      c.name);

        _cleanup_json_ json_object *result = NULL;
        size_t last = 0;
        for (size_t i = 0; i < c.n_plugins; i++) {
                json_object *out = NULL;
                if (run_plugin(&c, i, CNI_ADD, a->netns, result, &out, err) < 0)
                        return add_failed(&c, result, err);
                if (!out)
                        continue; /* printed nothing: the chain's result so far stands */
                if (!json_object_is_type(out, json_type_object)) {
                        json_object_put(out);
                        const char *type =
                                json_string(json_object_array_get_idx(c.plugins, i), "type");
                        ocid_error_set(err, OCID_ERR_INTERNAL,
                                       "network '%s': CNI plugin %s ADD printed a result that is "
                                       "not an object",
                                       c.name, type);
                        return add_failed(&c, result, err);
                }
                json_object_put(result);
                result = out;
                last = i;
        }
        const char *type = json_string(json_object_array_get_idx(c.plugins, last), "type");
        if (!result) {
                ocid_error_set(err, OCID_ERR_INTERNAL, "network '%s': CNI plugins gave no result",
                               c.name);
                return add_failed(&c, NULL, err);
        }
        cni_result *res = NULL;
        if (result_from_object(result, &res, err) < 0) {
                ocid_error_wrap(err, "network '%s': CNI plugin %s ADD", c.name, type);
                return add_failed(&c, result, err);
        }
        *ret = res;
        return 0;
}

static bool check_disabled(json_object *list)
{
        json_object *v;
        if (!json_object_object_get_ex(list, "disableCheck", &v))
                return false;
        if (json_object_is_type(v, json_type_boolean))
                return json_object_get_boolean(v);
        /* libcni takes strings too, as Go's strconv.ParseBool reads them. */
        if (json_object_is_type(v, json_type_string)) {
                static const char *const truths[] = { "1", "t", "T", "true", "TRUE", "True" };
                for (size_t i = 0; i < ARRAY_SIZE(truths); i++)
                        if (STREQ(json_object_get_string(v), truths[i]))
                                return true;
        }
        return false;
}

int cni_check(json_object *list, char *const *plugin_dirs, const cni_attachment *a,
              json_object *prev_result, int timeout_ms, ocid_error *err)
{
        _cleanup_(chain_done) chain c = { .list = NULL };
        if (chain_init(&c, list, plugin_dirs, a, timeout_ms, err) < 0)
                return -1;
        if (cni_version_compare(c.version, "0.4.0") < 0 || check_disabled(list))
                return 0;
        if (!a->netns || !*a->netns)
                return ocid_error_set(err, OCID_ERR_INVALID, "network '%s': no network namespace",
                                      c.name);
        if (!prev_result)
                return ocid_error_set(err, OCID_ERR_PRECONDITION,
                                      "network '%s': no ADD result to check against", c.name);
        for (size_t i = 0; i < c.n_plugins; i++)
                if (run_plugin(&c, i, CNI_CHECK, a->netns, prev_result, NULL, err) < 0)
                        return -1;
        return 0;
}
