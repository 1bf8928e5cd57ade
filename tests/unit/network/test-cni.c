/* network/cni.c against Debian's real plugins (/usr/lib/cni: loopback,
 * bridge, host-local, portmap, firewall) and small test plugins written
 * here, in network namespaces the test creates.
 *
 * The test network: a bridge of our own (ocnt<pid>) whose subnet,
 * 10.213.<pid % 256>.0/24 (so that runs at once rarely share one), exists
 * only inside our namespaces; ipMasq and isGateway
 * off (the host gets no address on it and no forwarding is switched on);
 * a mangle/FORWARD rule drops anything forwarded from the bridge to another
 * interface (mangle, so no CNI chain in filter/FORWARD can come first).
 * host-local keeps its allocations in a dataDir under our temp dir, so a
 * test sees exactly which IPs are held.
 *
 * Cleanup, even when a test fails: each test's teardown DELs what the test
 * added and deletes its namespace; the group teardown checks that no rule
 * of ours is left, then deletes the bridge, the rule, the temp dir, and the
 * portmap/firewall chains if they did not exist before and nothing else
 * uses them now. A run that died (abort() is not caught by cmocka) is
 * cleaned up by the next one: everything is named after the pid. Needs
 * root. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "network/cni.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/strv.h"

#define NETNAME "ocid-cnitest"
#define TIMEOUT_MS 20000

static void json_putp(json_object **o)
{
        json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_putp)

/* ---- shell helpers ---- */

__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
        _cleanup_strbuf_ strbuf cmd = STRBUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        strbuf_vaddf(&cmd, fmt, ap);
        va_end(ap);
        int status = system(cmd.buf);
        return status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* The command's stdout, owned; "" when it printed nothing. */
__attribute__((format(printf, 1, 2))) static char *sh_out(const char *fmt, ...)
{
        _cleanup_strbuf_ strbuf cmd = STRBUF_INIT, out = STRBUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        strbuf_vaddf(&cmd, fmt, ap);
        va_end(ap);
        FILE *p = popen(cmd.buf, "r");
        assert_non_null(p);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                strbuf_add(&out, buf, n);
        pclose(p);
        return strbuf_detach(&out, NULL);
}

static bool path_exists(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0;
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the test network ---- */

static char *tmpdir, *bindir, *datadir, *plugin_dirs[3];
static char bridge[16], token[32], subnet[16]; /* subnet: "10.213.N" */
static bool had_portmap_chains, had_firewall_chains;

static bool chain_exists(const char *table, const char *chain)
{
        return sh("iptables -w -t %s -S %s >/dev/null 2>&1", table, chain) == 0;
}

/* Remove what run `pid` made: namespaces, portmap's per-container rules
 * (found by container ID) and chains, firewall's rules for its subnet
 * (unless a live run shares that subnet), the FORWARD rule, the bridge and
 * the temp dir. Each step tolerates there being nothing to remove. */
static void remove_run(int pid, bool subnet_shared)
{
        sh("for ns in $(ip netns list | awk '{print $1}' | grep '^ocid-cnitest%d-'); do "
           "ip netns del $ns; done",
           pid);
        sh("rules=$(iptables-save -t nat 2>/dev/null | grep -F -e 'cnitest%d-'); "
           "[ -z \"$rules\" ] || { echo '*nat'; "
           "printf '%%s\\n' \"$rules\" | sed 's/^-A /-D /'; "
           "for c in $(printf '%%s\\n' \"$rules\" | grep -o 'CNI-DN-[0-9a-f]*' | sort -u); do "
           "echo \"-F $c\"; echo \"-X $c\"; done; "
           "echo COMMIT; } | iptables-restore -w --noflush",
           pid);
        if (!subnet_shared)
                sh("rules=$(iptables-save -t filter 2>/dev/null | "
                   "grep -E '^-A CNI-FORWARD .* 10\\.213\\.%d\\.[0-9]+/32 '); "
                   "[ -z \"$rules\" ] || { echo '*filter'; "
                   "printf '%%s\\n' \"$rules\" | sed 's/^-A /-D /'; "
                   "echo COMMIT; } | iptables-restore -w --noflush",
                   pid % 256);
        while (sh("iptables -w -t mangle -D FORWARD -i ocnt%d ! -o ocnt%d -j DROP 2>/dev/null",
                  pid, pid) == 0)
                ;
        sh("ip link del ocnt%d 2>/dev/null", pid);
        sh("rm -rf /tmp/ocid-test-cni-%d-*", pid);
}

/* Runs of this test that died before their teardown. */
static void remove_stale_runs(void)
{
        _cleanup_free_ char *out = sh_out(
                "{ ip -o link show type bridge | awk -F': ' '{print $2}' | sed -n 's/^ocnt//p'; "
                "ls /tmp | sed -n 's/^ocid-test-cni-\\([0-9]*\\)-.*/\\1/p'; "
                "ip netns list | sed -n 's/^ocid-cnitest\\([0-9]*\\)-.*/\\1/p'; } | sort -u");
        _cleanup_strv_ char **pids = strv_split(out, "\n");
        for (size_t i = 0; pids[i]; i++) {
                int pid = atoi(pids[i]);
                if (pid <= 0 || pid == (int)getpid() || kill(pid, 0) == 0 || errno != ESRCH)
                        continue;
                bool shared = false;
                for (size_t j = 0; pids[j]; j++) {
                        int other = atoi(pids[j]);
                        if (other != pid && other % 256 == pid % 256 && kill(other, 0) == 0)
                                shared = true;
                }
                fprintf(stderr, "test-cni: removing what run %d left behind\n", pid);
                remove_run(pid, shared);
        }
}

static void write_script(const char *name, const char *body)
{
        _cleanup_free_ char *path = fs_path_join(bindir, name);
        _cleanup_strbuf_ strbuf text = STRBUF_INIT;
        strbuf_addf(&text, "#!/bin/sh\nD='%s'\n%s", tmpdir, body);
        assert_int_equal(fs_write_file_atomic(path, text.buf, text.len, 0755), 0);
}

static int group_setup(void **state)
{
        if (geteuid() != 0) {
                fprintf(stderr, "test-cni needs root (network namespaces, bridges, iptables)\n");
                return -1;
        }
        const char *need[] = { "loopback", "bridge", "host-local", "portmap", "firewall" };
        for (size_t i = 0; i < ARRAY_SIZE(need); i++) {
                _cleanup_free_ char *p = fs_path_join("/usr/lib/cni", need[i]);
                if (access(p, X_OK) != 0) {
                        fprintf(stderr, "%s missing: install containernetworking-plugins\n", p);
                        return -1;
                }
        }
        remove_stale_runs();
        char tmpl[64];
        snprintf(tmpl, sizeof(tmpl), "/tmp/ocid-test-cni-%d-XXXXXX", (int)getpid());
        if (!mkdtemp(tmpl))
                return -1;
        tmpdir = strdup(tmpl);
        bindir = fs_path_join(tmpdir, "bin");
        datadir = fs_path_join(tmpdir, "ipam");
        if (fs_mkdir_p(bindir, 0755) < 0)
                return -1;
        plugin_dirs[0] = bindir;
        plugin_dirs[1] = (char *)"/usr/lib/cni";
        snprintf(bridge, sizeof(bridge), "ocnt%d", (int)getpid());
        snprintf(token, sizeof(token), "cnitest%d", (int)getpid());
        snprintf(subnet, sizeof(subnet), "10.213.%d", (int)getpid() % 256);

        had_portmap_chains = chain_exists("nat", "CNI-HOSTPORT-DNAT");
        had_firewall_chains = chain_exists("filter", "CNI-FORWARD");
        if (sh("ip link add %s type bridge && ip link set %s up", bridge, bridge) != 0)
                return -1;
        if (sh("iptables -w -t mangle -I FORWARD -i %s ! -o %s -j DROP", bridge, bridge) != 0)
                return -1;

        /* Test plugins. D is our temp dir. */
        write_script("ocidtest-fail",
                     "cat >/dev/null\n"
                     "case \"$CNI_COMMAND\" in ADD|CHECK)\n"
                     "  echo '{\"cniVersion\":\"1.0.0\",\"code\":999,\"msg\":\"boom\","
                     "\"details\":\"the test plugin always fails\"}'\n"
                     "  exit 1;;\n"
                     "esac\n");
        /* Hangs on every command, with a child in its process group. */
        write_script("ocidtest-hang",
                     "sleep 60 &\n"
                     "echo $! >> \"$D/hang.pids\"\n"
                     "wait\n");
        write_script("ocidtest-badresult",
                     "cat >/dev/null\n"
                     "[ \"$CNI_COMMAND\" = ADD ] && "
                     "echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"not-an-ip\"}]}'\n"
                     "exit 0\n");
        /* Logs "seq tag command" to record.log, its stdin to rec-<seq>.json
         * and its CNI_* environment to rec-<seq>.env; on ADD passes the
         * prevResult on, or makes up a result when first. */
        write_script("ocidtest-record",
                     "in=$(cat)\n"
                     "n=$(( $(cat \"$D/seq\" 2>/dev/null || echo 0) + 1 ))\n"
                     "echo $n > \"$D/seq\"\n"
                     "tag=$(printf '%s' \"$in\" | jq -r '.tag // \"rec\"')\n"
                     "printf '%s' \"$in\" > \"$D/rec-$n.json\"\n"
                     "env | grep '^CNI_' | sort > \"$D/rec-$n.env\"\n"
                     "echo \"$n $tag $CNI_COMMAND\" >> \"$D/record.log\"\n"
                     "[ \"$CNI_COMMAND\" = ADD ] && printf '%s' \"$in\" | jq -c --arg tag \"$tag\" "
                     "'if .prevResult then .prevResult else {cniVersion: .cniVersion, "
                     "interfaces: [{name: (\"rec-\" + $tag)}], "
                     "ips: [{address: \"192.0.2.250/32\", interface: 0}]} end'\n"
                     "exit 0\n");
        return 0;
}

static void remove_chains(const char *table, const char *const *jumps, size_t n_jumps,
                          const char *const *chains, size_t n_chains)
{
        for (size_t i = 0; i < n_jumps; i++)
                while (sh("iptables -w -t %s -D %s 2>/dev/null", table, jumps[i]) == 0)
                        ;
        for (size_t i = 0; i < n_chains; i++)
                sh("iptables -w -t %s -F %s 2>/dev/null", table, chains[i]);
        for (size_t i = 0; i < n_chains; i++)
                sh("iptables -w -t %s -X %s 2>/dev/null", table, chains[i]);
}

static int group_teardown(void **state)
{
        /* Nothing of ours may be left by the tests themselves. */
        _cleanup_free_ char *left = sh_out("iptables-save 2>/dev/null | grep -F -e '%s-' -e ' %s.'",
                                           token, subnet);
        if (*left)
                fprintf(stderr, "test-cni: iptables rules left behind:\n%s", left);
        remove_run((int)getpid(), false);
        /* The shared chains portmap and firewall make stay after the last
         * DEL; remove them if we caused them and no one else uses them. */
        if (!had_portmap_chains && chain_exists("nat", "CNI-HOSTPORT-DNAT") &&
            sh("[ $(iptables -w -t nat -S CNI-HOSTPORT-DNAT | wc -l) = 1 ]") == 0) {
                const char *jumps[] = {
                        "PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
                        "OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
                        ("POSTROUTING -m comment --comment 'CNI portfwd requiring masquerade' "
                         "-j CNI-HOSTPORT-MASQ"),
                };
                const char *chains[] = { "CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ",
                                         "CNI-HOSTPORT-SETMARK" };
                remove_chains("nat", jumps, ARRAY_SIZE(jumps), chains, ARRAY_SIZE(chains));
        }
        if (!had_firewall_chains && chain_exists("filter", "CNI-FORWARD") &&
            sh("[ $(iptables -w -S CNI-FORWARD | wc -l) = 2 ]") == 0) {
                const char *jumps[] = {
                        "FORWARD -m comment --comment 'CNI firewall plugin rules' -j CNI-FORWARD",
                };
                const char *chains[] = { "CNI-FORWARD", "CNI-ADMIN" };
                remove_chains("filter", jumps, ARRAY_SIZE(jumps), chains, ARRAY_SIZE(chains));
        }
        fs_remove_tree(tmpdir);
        free(tmpdir);
        free(bindir);
        free(datadir);
        return *left ? -1 : 0;
}

/* ---- per test: a namespace, a container ID, what to DEL at the end ---- */

typedef struct {
        char ns[64], nspath[96], id[64];
        cni_attachment a;
        json_object *list;     /* owned; DELed in teardown when added */
        json_object *prev;     /* owned: the ADD result */
        bool added;
} fixture;

static int test_setup(void **state)
{
        static int seq;
        fixture *f = calloc(1, sizeof(*f));
        if (!f)
                return -1;
        seq++;
        snprintf(f->ns, sizeof(f->ns), "ocid-%s-%d", token, seq);
        snprintf(f->nspath, sizeof(f->nspath), "/run/netns/%s", f->ns);
        snprintf(f->id, sizeof(f->id), "%s-%d", token, seq);
        if (sh("ip netns add %s", f->ns) != 0)
                return -1;
        f->a = (cni_attachment){
                .container_id = f->id,
                .netns = f->nspath,
                .pod_namespace = "ns1",
                .pod_name = "pod1",
                .pod_uid = "uid-1",
        };
        /* Each test starts with a fresh record log. */
        sh("rm -f '%s'/rec-* '%s/seq' '%s/record.log' '%s/hang.pids'", tmpdir, tmpdir, tmpdir,
           tmpdir);
        *state = f;
        return 0;
}

static int test_teardown(void **state)
{
        fixture *f = *state;
        if (f->added) {
                ocid_error err = OCID_ERROR_INIT;
                if (cni_del(f->list, plugin_dirs, &f->a, f->prev, TIMEOUT_MS, &err) < 0)
                        fprintf(stderr, "teardown DEL: %s\n", err.message);
                ocid_error_clear(&err);
        }
        sh("ip netns del %s 2>/dev/null", f->ns);
        json_object_put(f->list);
        json_object_put(f->prev);
        free(f);
        return 0;
}

/* ---- configurations ---- */

static const char *loopback_plugin(void)
{
        return "{\"type\": \"loopback\"}";
}

/* The bridge plugin with host-local in our dataDir; a static buffer. */
static const char *bridge_plugin(void)
{
        static char buf[512];
        snprintf(buf, sizeof(buf),
                 "{\"type\": \"bridge\", \"bridge\": \"%s\", \"isGateway\": false, "
                 "\"ipMasq\": false, \"ipam\": {\"type\": \"host-local\", \"dataDir\": \"%s\", "
                 "\"ranges\": [[{\"subnet\": \"%s.0/24\"}]]}}",
                 bridge, datadir, subnet);
        return buf;
}

/* A list named NETNAME of the given plugins (each a JSON object text). */
static json_object *make_list(const char *version, const char *extra, ...)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        strbuf_addf(&sb, "{\"cniVersion\": \"%s\", \"name\": \"" NETNAME "\", %s%s\"plugins\": [",
                    version, extra ? extra : "", extra ? ", " : "");
        va_list ap;
        va_start(ap, extra);
        const char *p;
        for (int i = 0; (p = va_arg(ap, const char *)); i++)
                strbuf_addf(&sb, "%s%s", i ? ", " : "", p);
        va_end(ap);
        strbuf_adds(&sb, "]}");
        json_object *list = json_tokener_parse(sb.buf);
        if (!list)
                fail_msg("bad test list: %s", sb.buf);
        return list;
}

/* host-local's files for allocated addresses in our network. */
static size_t ips_held(void)
{
        _cleanup_free_ char *out =
                sh_out("ls '%s/" NETNAME "' 2>/dev/null | grep -c '^%s\\.'", datadir, subnet);
        return (size_t)atoi(out);
}

static char *ip_file(const char *cidr)
{
        _cleanup_free_ char *ip = strdup(cidr);
        *strchr(ip, '/') = '\0';
        _cleanup_free_ char *dir = fs_path_join(datadir, NETNAME);
        return fs_path_join(dir, ip);
}

static void add_ok(fixture *f, cni_result **ret)
{
        ocid_error err = OCID_ERROR_INIT;
        int r = cni_add(f->list, plugin_dirs, &f->a, TIMEOUT_MS, ret, &err);
        if (r < 0)
                fail_msg("cni_add: %s", err.message);
        assert_int_equal(err.kind, OCID_OK);
        f->added = true;
        json_object_put(TAKE_PTR(f->prev));
        assert_int_equal(json_object_deep_copy((*ret)->raw, &f->prev, NULL), 0);
}

static void del_ok(fixture *f)
{
        ocid_error err = OCID_ERROR_INIT;
        int r = cni_del(f->list, plugin_dirs, &f->a, f->prev, TIMEOUT_MS, &err);
        if (r < 0)
                fail_msg("cni_del: %s", err.message);
        f->added = false;
}

/* The ip whose interface is ifname, asserting there is exactly one. */
static const cni_ip *ip_on(const cni_result *res, const char *ifname)
{
        const cni_ip *found = NULL;
        for (size_t i = 0; i < res->n_ips; i++) {
                int idx = res->ips[i].interface;
                if (idx >= 0 && STREQ(res->interfaces[idx], ifname)) {
                        assert_null(found);
                        found = &res->ips[i];
                }
        }
        assert_non_null(found);
        return found;
}

/* ---- ADD / CHECK / DEL with the real plugins ---- */

static void test_bridge_add_check_del(void **state)
{
        fixture *f = *state;
        f->list = make_list("1.0.0", NULL, loopback_plugin(), bridge_plugin(), NULL);
        _cleanup_cni_result_ cni_result *res = NULL;
        add_ok(f, &res);

        assert_string_equal(res->cni_version, "1.0.0");
        const cni_ip *ip = ip_on(res, "eth0");
        assert_int_equal(ip->family, 4);
        assert_true(strncmp(ip->address, subnet, strlen(subnet)) == 0);
        assert_int_equal(ip->address[strlen(subnet)], '.');
        assert_true(strstr(ip->address, "/24") != NULL);
        _cleanup_free_ char *gw = NULL;
        assert_true(asprintf(&gw, "%s.1", subnet) > 0);
        assert_string_equal(ip->gateway, gw);
        assert_true(strv_contains(res->interfaces, bridge));

        /* Configured inside the namespace, lo up, and held by host-local
         * under our container ID. */
        _cleanup_free_ char *addr = sh_out("ip -n %s -4 -o addr show dev eth0", f->ns);
        assert_non_null(strstr(addr, ip->address));
        _cleanup_free_ char *lo = sh_out("ip -n %s -o link show lo", f->ns);
        assert_non_null(strstr(lo, "UP"));
        _cleanup_free_ char *file = ip_file(ip->address);
        assert_true(path_exists(file));
        _cleanup_free_ char *owner = NULL;
        assert_int_equal(fs_read_file(file, 4096, &owner, NULL), 0);
        assert_non_null(strstr(owner, f->id));
        assert_int_equal(ips_held(), 1);

        ocid_error err = OCID_ERROR_INIT;
        if (cni_check(f->list, plugin_dirs, &f->a, f->prev, TIMEOUT_MS, &err) < 0)
                fail_msg("cni_check: %s", err.message);
        /* CHECK needs the ADD result. */
        assert_int_equal(cni_check(f->list, plugin_dirs, &f->a, NULL, TIMEOUT_MS, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_PRECONDITION);
        ocid_error_clear(&err);

        del_ok(f);
        assert_false(path_exists(file));
        assert_int_equal(ips_held(), 0);
        _cleanup_free_ char *links = sh_out("ip -n %s -o link show", f->ns);
        assert_null(strstr(links, "eth0"));
        _cleanup_free_ char *ports = sh_out("ip -o link show master %s", bridge);
        assert_string_equal(ports, "");

        /* DEL again: nothing to do, still fine; also without a result. */
        del_ok(f);
        json_object_put(TAKE_PTR(f->prev));
        del_ok(f);
        assert_int_equal(ips_held(), 0);
}

static void test_del_after_netns_gone(void **state)
{
        fixture *f = *state;
        f->list = make_list("1.0.0", NULL, loopback_plugin(), bridge_plugin(), NULL);
        _cleanup_cni_result_ cni_result *res = NULL;
        add_ok(f, &res);
        _cleanup_free_ char *file = ip_file(ip_on(res, "eth0")->address);
        assert_true(path_exists(file));

        assert_int_equal(sh("ip netns del %s", f->ns), 0);
        assert_false(path_exists(f->nspath));
        del_ok(f);
        assert_false(path_exists(file));
        assert_int_equal(ips_held(), 0);

        /* A netns path that is left as an empty file (its bind mount gone)
         * is no namespace either. */
        _cleanup_free_ char *stale = fs_path_join(tmpdir, "stale-netns");
        assert_int_equal(fs_write_file_atomic(stale, "", 0, 0644), 0);
        assert_int_equal(sh("ip netns add %s", f->ns), 0);
        cni_result_free(TAKE_PTR(res));
        add_ok(f, &res);
        assert_int_equal(ips_held(), 1);
        assert_int_equal(sh("ip netns del %s", f->ns), 0);
        f->a.netns = stale;
        del_ok(f);
        assert_int_equal(ips_held(), 0);
        f->a.netns = f->nspath;
        unlink(stale);
}

static void assert_nothing_left(fixture *f)
{
        assert_int_equal(ips_held(), 0);
        _cleanup_free_ char *ports = sh_out("ip -o link show master %s", bridge);
        assert_string_equal(ports, "");
        _cleanup_free_ char *links = sh_out("ip -n %s -o link show", f->ns);
        assert_null(strstr(links, "eth0"));
        _cleanup_free_ char *rules = sh_out("iptables-save 2>/dev/null | grep -e '%s'", f->id);
        assert_string_equal(rules, "");
}

static void test_add_fails_midchain(void **state)
{
        fixture *f = *state;
        f->list = make_list("1.0.0", NULL, loopback_plugin(), bridge_plugin(),
                            "{\"type\": \"ocidtest-fail\"}",
                            "{\"type\": \"portmap\", \"capabilities\": {\"portMappings\": true}}",
                            NULL);
        cni_port_mapping pm[] = { { .container_port = 80, .host_port = 41080 } };
        f->a.ports = pm;
        f->a.n_ports = 1;
        cni_result *res = (cni_result *)&res;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(cni_add(f->list, plugin_dirs, &f->a, TIMEOUT_MS, &res, &err), -1);
        assert_ptr_equal(res, (cni_result *)&res);
        assert_int_equal(err.kind, OCID_ERR_INTERNAL);
        assert_non_null(strstr(err.message, "boom"));
        assert_non_null(strstr(err.message, "the test plugin always fails"));
        assert_non_null(strstr(err.message, "ocidtest-fail"));
        assert_non_null(strstr(err.message, "network '" NETNAME "'"));
        assert_null(strstr(err.message, "undoing"));
        ocid_error_clear(&err);
        assert_nothing_left(f);
}

static void test_add_bad_result_undone(void **state)
{
        fixture *f = *state;
        f->list = make_list("1.0.0", NULL, bridge_plugin(), "{\"type\": \"ocidtest-badresult\"}",
                            NULL);
        cni_result *res = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(cni_add(f->list, plugin_dirs, &f->a, TIMEOUT_MS, &res, &err), -1);
        assert_non_null(strstr(err.message, "not-an-ip"));
        assert_non_null(strstr(err.message, "ocidtest-badresult"));
        ocid_error_clear(&err);
        assert_nothing_left(f);
}

static void test_add_missing_plugin_undone(void **state)
{
        fixture *f = *state;
        f->list = make_list("1.0.0", NULL, bridge_plugin(), "{\"type\": \"ocidtest-record\"}",
                            "{\"type\": \"ocidtest-no-such-plugin\"}", NULL);
        cni_result *res = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(cni_add(f->list, plugin_dirs, &f->a, TIMEOUT_MS, &res, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_NOT_FOUND);
        assert_non_null(strstr(err.message, "ocidtest-no-such-plugin"));
        /* The undo found the missing plugin missing again, and said so. */
        assert_non_null(strstr(err.message, "undoing it failed too"));
        ocid_error_clear(&err);
        assert_nothing_left(f);
        _cleanup_free_ char *log = NULL;
        _cleanup_free_ char *path = fs_path_join(tmpdir, "record.log");
        assert_int_equal(fs_read_file(path, 4096, &log, NULL), 0);
        assert_string_equal(log, "1 rec ADD\n2 rec DEL\n");
}

static void test_add_hang_times_out(void **state)
{
        fixture *f = *state;
        f->list = make_list("1.0.0", NULL, loopback_plugin(), bridge_plugin(),
                            "{\"type\": \"ocidtest-hang\"}", NULL);
        cni_result *res = NULL;
        ocid_error err = OCID_ERROR_INIT;
        int64_t t0 = now_ms();
        assert_int_equal(cni_add(f->list, plugin_dirs, &f->a, 400, &res, &err), -1);
        int64_t took = now_ms() - t0;
        assert_null(res);
        assert_int_equal(err.kind, OCID_ERR_DEADLINE);
        assert_non_null(strstr(err.message, "ocidtest-hang ADD timed out after 400 ms"));
        /* Its DEL hung as well, and was cut off too; the rest was undone. */
        assert_non_null(strstr(err.message, "ocidtest-hang DEL timed out"));
        print_message("hanging ADD + DEL undone in %lld ms\n", (long long)took);
        assert_true(took >= 800 && took < 8000);
        ocid_error_clear(&err);
        assert_nothing_left(f);

        /* The plugin's children went with it (killed; maybe not yet reaped
         * by init, which is slow here). */
        _cleanup_free_ char *pids = NULL;
        _cleanup_free_ char *path = fs_path_join(tmpdir, "hang.pids");
        assert_int_equal(fs_read_file(path, 4096, &pids, NULL), 0);
        _cleanup_strv_ char **v = strv_split(pids, "\n");
        assert_int_equal(strv_length(v), 2);
        for (size_t i = 0; v[i]; i++) {
                _cleanup_free_ char *st = sh_out("awk '{print $3}' /proc/%s/stat 2>/dev/null", v[i]);
                if (*st)
                        assert_string_equal(st, "Z\n");
        }
}

/* ---- portmap and firewall ---- */

static void test_portmap(void **state)
{
        fixture *f = *state;
        f->list = make_list("1.0.0", NULL, loopback_plugin(), bridge_plugin(),
                            "{\"type\": \"portmap\", \"capabilities\": {\"portMappings\": true}, "
                            "\"snat\": false}",
                            NULL);
        cni_port_mapping pm[] = {
                { .container_port = 80, .host_port = 41080, .protocol = "TCP" },
                { .container_port = 81, .host_port = 0 }, /* no host port: skipped */
                { .container_port = 53, .host_port = 41053, .protocol = "udp",
                  .host_ip = "127.0.0.1" },
        };
        f->a.ports = pm;
        f->a.n_ports = ARRAY_SIZE(pm);
        _cleanup_cni_result_ cni_result *res = NULL;
        add_ok(f, &res);
        _cleanup_free_ char *ip = strdup(ip_on(res, "eth0")->address);
        *strchr(ip, '/') = '\0';

        _cleanup_free_ char *nat = sh_out("iptables-save -t nat");
        assert_non_null(strstr(nat, "CNI-HOSTPORT-DNAT"));
        _cleanup_free_ char *mine = sh_out("iptables-save -t nat | grep -F -e '%s'", f->id);
        assert_non_null(strstr(mine, "--dports 41080"));
        assert_non_null(strstr(mine, "--dports 41053"));
        _cleanup_free_ char *to80 = NULL, *to53 = NULL;
        assert_true(asprintf(&to80, "--dport 41080 -j DNAT --to-destination %s:80", ip) > 0);
        assert_true(asprintf(&to53, "-d 127.0.0.1/32 -p udp -m udp --dport 41053 -j DNAT "
                                    "--to-destination %s:53", ip) > 0);
        assert_non_null(strstr(nat, to80));
        assert_non_null(strstr(nat, to53));
        _cleanup_free_ char *to81 = NULL;
        assert_true(asprintf(&to81, "--to-destination %s:81", ip) > 0);
        assert_null(strstr(nat, to81));

        del_ok(f);
        _cleanup_free_ char *after = sh_out("iptables-save -t nat");
        assert_null(strstr(after, f->id));
        assert_null(strstr(after, to80));
        assert_null(strstr(after, to53));
        assert_int_equal(ips_held(), 0);
}

static void test_firewall_and_disable_check(void **state)
{
        fixture *f = *state;
        f->list = make_list("1.0.0", NULL, loopback_plugin(), bridge_plugin(),
                            "{\"type\": \"firewall\", \"backend\": \"iptables\"}", NULL);
        _cleanup_cni_result_ cni_result *res = NULL;
        add_ok(f, &res);
        _cleanup_free_ char *ip = strdup(ip_on(res, "eth0")->address);
        *strchr(ip, '/') = '\0';
        _cleanup_free_ char *accept = NULL;
        assert_true(asprintf(&accept, "-A CNI-FORWARD -s %s/32 -j ACCEPT", ip) > 0);
        _cleanup_free_ char *rules = sh_out("iptables-save -t filter");
        assert_non_null(strstr(rules, accept));

        ocid_error err = OCID_ERROR_INIT;
        if (cni_check(f->list, plugin_dirs, &f->a, f->prev, TIMEOUT_MS, &err) < 0)
                fail_msg("cni_check: %s", err.message);
        /* A rule gone: firewall's CHECK notices. */
        assert_int_equal(sh("iptables -w -D CNI-FORWARD -s %s/32 -j ACCEPT", ip), 0);
        assert_int_equal(cni_check(f->list, plugin_dirs, &f->a, f->prev, TIMEOUT_MS, &err), -1);
        assert_non_null(strstr(err.message, "firewall CHECK failed"));
        ocid_error_clear(&err);

        del_ok(f);
        _cleanup_free_ char *after = sh_out("iptables-save -t filter");
        assert_null(strstr(after, ip));
        assert_int_equal(ips_held(), 0);

        /* disableCheck: CHECK is not run at all (this plugin fails it). */
        json_object *lists[] = {
                make_list("1.0.0", "\"disableCheck\": true", "{\"type\": \"ocidtest-fail\"}", NULL),
                make_list("1.0.0", "\"disableCheck\": \"true\"", "{\"type\": \"ocidtest-fail\"}", NULL),
                make_list("0.3.1", NULL, "{\"type\": \"ocidtest-fail\"}", NULL),
                make_list("1.0.0", "\"disableCheck\": false", "{\"type\": \"ocidtest-fail\"}", NULL),
        };
        for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
                int r = cni_check(lists[i], plugin_dirs, &f->a, f->prev, TIMEOUT_MS, &err);
                assert_int_equal(r, i == 3 ? -1 : 0);
                if (i == 3)
                        assert_non_null(strstr(err.message, "boom"));
                ocid_error_clear(&err);
                json_object_put(lists[i]);
        }
}

/* ---- the protocol, seen from a plugin ---- */

static json_object *record_stdin(int n)
{
        char name[32];
        snprintf(name, sizeof(name), "rec-%d.json", n);
        _cleanup_free_ char *path = fs_path_join(tmpdir, name);
        json_object *o = json_object_from_file(path);
        if (!o)
                fail_msg("no %s", path);
        return o;
}

static char *record_env(int n)
{
        char name[32];
        snprintf(name, sizeof(name), "rec-%d.env", n);
        _cleanup_free_ char *path = fs_path_join(tmpdir, name);
        char *text = NULL;
        assert_int_equal(fs_read_file(path, 65536, &text, NULL), 0);
        return text;
}

static char *record_log(void)
{
        _cleanup_free_ char *path = fs_path_join(tmpdir, "record.log");
        char *text = NULL;
        if (fs_read_file(path, 65536, &text, NULL) < 0)
                return strdup("");
        return text;
}

static void test_protocol(void **state)
{
        fixture *f = *state;
        f->list = make_list(
                "1.0.0", NULL,
                "{\"type\": \"ocidtest-record\", \"tag\": \"a\", \"cniVersion\": \"0.3.0\", "
                "\"capabilities\": {\"portMappings\": true, \"cgroupPath\": true, \"bandwidth\": true}}",
                "{\"type\": \"ocidtest-record\", \"tag\": \"b\", \"runtimeConfig\": {\"own\": 1}}",
                "{\"type\": \"ocidtest-record\", \"tag\": \"c\", "
                "\"capabilities\": {\"portMappings\": false}}",
                NULL);
        cni_port_mapping pm[] = { { .container_port = 8080, .host_port = 41081, .protocol = "sctp",
                                    .host_ip = "::1" } };
        f->a.ports = pm;
        f->a.n_ports = 1;
        f->a.cgroup_path = "/kubepods/pod-uid-1";
        f->a.ifname = "net1";
        _cleanup_cni_result_ cni_result *res = NULL;
        add_ok(f, &res);
        assert_int_equal(res->n_ips, 1);
        assert_string_equal(res->ips[0].address, "192.0.2.250/32");
        assert_int_equal(res->ips[0].interface, 0);
        assert_null(res->ips[0].gateway);
        assert_string_equal(res->interfaces[0], "rec-a");

        /* The environment. */
        _cleanup_free_ char *env = record_env(1);
        _cleanup_free_ char *want = NULL;
        assert_true(asprintf(&want,
                             "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=pod1;"
                             "K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=uid-1\n"
                             "CNI_COMMAND=ADD\nCNI_CONTAINERID=%s\nCNI_IFNAME=net1\n"
                             "CNI_NETNS=%s\nCNI_PATH=%s:/usr/lib/cni\n",
                             f->id, f->id, f->nspath, bindir) > 0);
        assert_string_equal(env, want);

        /* The list's name and version for everyone; runtimeConfig only with
         * declared capabilities we have values for. */
        _cleanup_json_ json_object *a = record_stdin(1);
        _cleanup_json_ json_object *b = record_stdin(2);
        _cleanup_json_ json_object *c = record_stdin(3);
        assert_string_equal(json_object_get_string(json_object_object_get(a, "cniVersion")), "1.0.0");
        assert_string_equal(json_object_get_string(json_object_object_get(b, "name")), NETNAME);
        assert_null(json_object_object_get(a, "prevResult"));
        _cleanup_json_ json_object *rc_want = json_tokener_parse(
                "{\"portMappings\": [{\"hostPort\": 41081, \"containerPort\": 8080, "
                "\"protocol\": \"sctp\", \"hostIP\": \"::1\"}], "
                "\"cgroupPath\": \"/kubepods/pod-uid-1\"}");
        assert_true(json_object_equal(json_object_object_get(a, "runtimeConfig"), rc_want));
        _cleanup_json_ json_object *own = json_tokener_parse("{\"own\": 1}");
        assert_true(json_object_equal(json_object_object_get(b, "runtimeConfig"), own));
        assert_null(json_object_object_get(c, "runtimeConfig"));
        /* Chaining: b got a's result, c got b's. */
        assert_true(json_object_equal(json_object_object_get(b, "prevResult"), f->prev));
        assert_true(json_object_equal(json_object_object_get(c, "prevResult"), f->prev));

        ocid_error err = OCID_ERROR_INIT;
        if (cni_check(f->list, plugin_dirs, &f->a, f->prev, TIMEOUT_MS, &err) < 0)
                fail_msg("cni_check: %s", err.message);
        del_ok(f);
        _cleanup_free_ char *log = record_log();
        assert_string_equal(log, "1 a ADD\n2 b ADD\n3 c ADD\n"
                                 "4 a CHECK\n5 b CHECK\n6 c CHECK\n"
                                 "7 c DEL\n8 b DEL\n9 a DEL\n");
        for (int n = 4; n <= 9; n++) {
                _cleanup_json_ json_object *in = record_stdin(n);
                assert_true(json_object_equal(json_object_object_get(in, "prevResult"), f->prev));
        }
        /* DEL keeps the same runtimeConfig and CNI_ARGS as ADD. */
        _cleanup_json_ json_object *del_a = record_stdin(9);
        assert_true(json_object_equal(json_object_object_get(del_a, "runtimeConfig"), rc_want));
        _cleanup_free_ char *del_env = record_env(9);
        assert_non_null(strstr(del_env, "K8S_POD_INFRA_CONTAINER_ID="));
        assert_non_null(strstr(del_env, "CNI_COMMAND=DEL\n"));
}

/* Before 0.4.0: no CHECK, and DEL gets no prevResult (as libcni). A
 * missing netns on DEL is passed as an empty CNI_NETNS. */
static void test_protocol_old_version(void **state)
{
        fixture *f = *state;
        f->list = make_list("0.3.1", NULL, "{\"type\": \"ocidtest-record\", \"tag\": \"a\"}",
                            "{\"type\": \"ocidtest-record\", \"tag\": \"b\"}", NULL);
        f->a.pod_uid = NULL;
        _cleanup_cni_result_ cni_result *res = NULL;
        add_ok(f, &res);
        assert_string_equal(res->cni_version, "0.3.1");
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(cni_check(f->list, plugin_dirs, &f->a, f->prev, TIMEOUT_MS, &err), 0);
        assert_int_equal(sh("ip netns del %s", f->ns), 0);
        del_ok(f);
        _cleanup_free_ char *log = record_log();
        assert_string_equal(log, "1 a ADD\n2 b ADD\n3 b DEL\n4 a DEL\n");
        _cleanup_json_ json_object *del = record_stdin(3);
        assert_null(json_object_object_get(del, "prevResult"));
        _cleanup_free_ char *env = record_env(3);
        assert_non_null(strstr(env, "CNI_NETNS=\n"));
        assert_null(strstr(env, "K8S_POD_UID"));
        assert_non_null(strstr(env, "K8S_POD_NAME=pod1;"));
}

/* DEL goes on past a failing plugin and returns the first error. */
static void test_del_continues_after_failure(void **state)
{
        fixture *f = *state;
        f->list = make_list("1.0.0", NULL, "{\"type\": \"ocidtest-record\", \"tag\": \"a\"}",
                            "{\"type\": \"ocidtest-gone\"}",
                            "{\"type\": \"ocidtest-record\", \"tag\": \"c\"}", NULL);
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(cni_del(f->list, plugin_dirs, &f->a, NULL, TIMEOUT_MS, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_NOT_FOUND);
        assert_non_null(strstr(err.message, "ocidtest-gone"));
        ocid_error_clear(&err);
        _cleanup_free_ char *log = record_log();
        assert_string_equal(log, "1 c DEL\n2 a DEL\n");
}

static void test_invalid_attachments(void **state)
{
        fixture *f = *state;
        f->list = make_list("1.0.0", NULL, "{\"type\": \"ocidtest-record\"}", NULL);
        cni_port_mapping bad_proto = { .container_port = 1, .host_port = 2, .protocol = "icmp" };
        cni_port_mapping bad_port = { .container_port = 70000, .host_port = 2 };
        cni_port_mapping bad_host_ip = { .container_port = 1, .host_port = 2, .host_ip = "x" };
        struct {
                cni_attachment a;
                const char *needle;
        } cases[] = {
                { { .container_id = "", .netns = f->nspath }, "container ID" },
                { { .container_id = "-x", .netns = f->nspath }, "container ID" },
                { { .container_id = "a/b", .netns = f->nspath }, "container ID" },
                { { .container_id = "ok", .netns = f->nspath, .ifname = "0123456789abcdef" },
                  "interface name" },
                { { .container_id = "ok", .netns = f->nspath, .ifname = "a:b" }, "interface name" },
                { { .container_id = "ok", .netns = f->nspath, .pod_name = "a;b" }, "K8S_POD_NAME" },
                { { .container_id = "ok", .netns = f->nspath, .pod_uid = "a=b" }, "K8S_POD_UID" },
                { { .container_id = "ok", .netns = f->nspath, .ports = &bad_proto, .n_ports = 1 },
                  "protocol 'icmp'" },
                { { .container_id = "ok", .netns = f->nspath, .ports = &bad_port, .n_ports = 1 },
                  "out of range" },
                { { .container_id = "ok", .netns = f->nspath, .ports = &bad_host_ip, .n_ports = 1 },
                  "host IP 'x'" },
                { { .container_id = "ok", .netns = NULL }, "no network namespace" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                cni_result *res = NULL;
                ocid_error err = OCID_ERROR_INIT;
                assert_int_equal(cni_add(f->list, plugin_dirs, &cases[i].a, TIMEOUT_MS, &res, &err),
                                 -1);
                assert_int_equal(err.kind, OCID_ERR_INVALID);
                if (!strstr(err.message, cases[i].needle))
                        fail_msg("case %zu: '%s' lacks '%s'", i, err.message, cases[i].needle);
                ocid_error_clear(&err);
        }
        /* Bad lists. */
        const char *lists[] = {
                "{\"cniVersion\": \"1.0.0\", \"name\": \"x\", \"plugins\": []}",
                "{\"cniVersion\": \"1.0.0\", \"name\": \"x\"}",
                "{\"cniVersion\": \"1.0.0\", \"name\": \"bad name\", \"plugins\": [{\"type\": \"a\"}]}",
                "{\"cniVersion\": \"1.0.0\", \"name\": \"x\", \"plugins\": [{\"notype\": 1}]}",
                "{\"cniVersion\": \"1.0.0\", \"name\": \"x\", \"plugins\": [3]}",
                "[]",
        };
        for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
                _cleanup_json_ json_object *l = json_tokener_parse(lists[i]);
                ocid_error err = OCID_ERROR_INIT;
                assert_int_equal(cni_del(l, plugin_dirs, &f->a, NULL, TIMEOUT_MS, &err), -1);
                assert_int_equal(err.kind, OCID_ERR_INVALID);
                ocid_error_clear(&err);
        }
        /* Nothing reached the plugin. */
        _cleanup_free_ char *log = record_log();
        assert_string_equal(log, "");
}

/* ---- result parsing ---- */

static cni_result *parse_ok(const char *text)
{
        cni_result *res = NULL;
        ocid_error err = OCID_ERROR_INIT;
        if (cni_result_parse(text, strlen(text), &res, &err) < 0)
                fail_msg("cni_result_parse: %s\nfor: %s", err.message, text);
        assert_non_null(res);
        assert_non_null(res->raw);
        assert_non_null(res->interfaces);
        return res;
}

static void assert_ip(const cni_ip *ip, const char *address, const char *gateway, int family,
                      int interface)
{
        assert_string_equal(ip->address, address);
        if (gateway)
                assert_string_equal(ip->gateway, gateway);
        else
                assert_null(ip->gateway);
        assert_int_equal(ip->family, family);
        assert_int_equal(ip->interface, interface);
}

static void test_parse_versions(void **state)
{
        (void)state;
        cni_result *r = parse_ok(
                "{\"cniVersion\": \"0.2.0\", "
                "\"ip4\": {\"ip\": \"10.1.0.5/16\", \"gateway\": \"10.1.0.1\", "
                "\"routes\": [{\"dst\": \"0.0.0.0/0\"}]}, "
                "\"ip6\": {\"ip\": \"fd00::5/64\", \"gateway\": \"fd00::1\"}, "
                "\"dns\": {\"nameservers\": [\"10.1.0.1\"]}}");
        assert_string_equal(r->cni_version, "0.2.0");
        assert_int_equal(r->n_ips, 2);
        assert_ip(&r->ips[0], "10.1.0.5/16", "10.1.0.1", 4, -1);
        assert_ip(&r->ips[1], "fd00::5/64", "fd00::1", 6, -1);
        assert_null(r->interfaces[0]);
        cni_result_free(r);

        /* No cniVersion: 0.1.0, as libcni reads it. */
        r = parse_ok("{\"ip6\": {\"ip\": \"2001:db8::1/128\"}}");
        assert_string_equal(r->cni_version, "0.1.0");
        assert_int_equal(r->n_ips, 1);
        assert_ip(&r->ips[0], "2001:db8::1/128", NULL, 6, -1);
        cni_result_free(r);

        r = parse_ok("{\"cniVersion\": \"0.3.1\", "
                     "\"interfaces\": [{\"name\": \"cni0\", \"mac\": \"00:11:22:33:44:55\"}, "
                     "{\"name\": \"eth0\", \"sandbox\": \"/run/netns/x\"}], "
                     "\"ips\": [{\"version\": \"4\", \"address\": \"10.22.0.9/16\", "
                     "\"gateway\": \"10.22.0.1\", \"interface\": 1}, "
                     "{\"version\": \"6\", \"address\": \"fd00:22::9/64\", \"interface\": 1}], "
                     "\"routes\": [{\"dst\": \"0.0.0.0/0\", \"gw\": \"10.22.0.1\"}], \"dns\": {}}");
        assert_int_equal(r->n_ips, 2);
        assert_ip(&r->ips[0], "10.22.0.9/16", "10.22.0.1", 4, 1);
        assert_ip(&r->ips[1], "fd00:22::9/64", NULL, 6, 1);
        assert_string_equal(r->interfaces[0], "cni0");
        assert_string_equal(r->interfaces[1], "eth0");
        assert_null(r->interfaces[2]);
        cni_result_free(r);

        r = parse_ok("{\"cniVersion\": \"0.4.0\", \"interfaces\": [{\"name\": \"eth0\"}], "
                     "\"ips\": [{\"version\": \"4\", \"address\": \"192.168.1.2/24\", "
                     "\"interface\": 0}]}");
        assert_ip(&r->ips[0], "192.168.1.2/24", NULL, 4, 0);
        cni_result_free(r);

        r = parse_ok("{\"cniVersion\": \"1.0.0\", \"interfaces\": [{\"name\": \"eth0\", "
                     "\"sandbox\": \"/proc/1/ns/net\"}], "
                     "\"ips\": [{\"address\": \"2001:db8:1::42/64\", \"gateway\": \"2001:db8:1::1\", "
                     "\"interface\": 0}, {\"address\": \"::ffff:10.0.0.1/120\"}, "
                     "{\"address\": \"10.0.0.7/32\", \"gateway\": null}]}\n  ");
        assert_int_equal(r->n_ips, 3);
        assert_ip(&r->ips[0], "2001:db8:1::42/64", "2001:db8:1::1", 6, 0);
        assert_ip(&r->ips[1], "::ffff:10.0.0.1/120", NULL, 6, -1);
        assert_ip(&r->ips[2], "10.0.0.7/32", NULL, 4, -1);
        cni_result_free(r);

        r = parse_ok("{\"cniVersion\": \"1.1.0\"} \r\n\t");
        assert_int_equal(r->n_ips, 0);
        assert_null(r->interfaces[0]);
        cni_result_free(r);

        /* Exactly at the bounds. */
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "{\"cniVersion\": \"1.0.0\", \"interfaces\": [");
        for (int i = 0; i < CNI_RESULT_MAX_INTERFACES; i++)
                strbuf_addf(&sb, "%s{\"name\": \"if%d\"}", i ? "," : "", i);
        strbuf_adds(&sb, "], \"ips\": [");
        for (int i = 0; i < CNI_RESULT_MAX_IPS; i++)
                strbuf_addf(&sb, "%s{\"address\": \"10.0.0.%d/24\", \"interface\": %d}", i ? "," : "",
                            i, CNI_RESULT_MAX_INTERFACES - 1 - i);
        strbuf_adds(&sb, "]}");
        r = parse_ok(sb.buf);
        assert_int_equal(r->n_ips, CNI_RESULT_MAX_IPS);
        assert_int_equal(strv_length(r->interfaces), CNI_RESULT_MAX_INTERFACES);
        assert_int_equal(r->ips[0].interface, CNI_RESULT_MAX_INTERFACES - 1);
        cni_result_free(r);
        cni_result_free(NULL);
}

static void parse_fails(const char *text, size_t len, ocid_error_kind kind, const char *needle)
{
        cni_result *sentinel = (cni_result *)&sentinel;
        cni_result *res = sentinel;
        ocid_error err = OCID_ERROR_INIT;
        int r = cni_result_parse(text, len, &res, &err);
        if (r != -1)
                fail_msg("parsed, but should not have: %.200s", text);
        assert_ptr_equal(res, sentinel);
        if (err.kind != kind || !strstr(err.message, needle))
                fail_msg("for %.200s: got %s '%s', want %s '%s'", text,
                         ocid_error_kind_name(err.kind), err.message, ocid_error_kind_name(kind),
                         needle);
        ocid_error_clear(&err);
}

static void test_parse_malformed(void **state)
{
        (void)state;
        struct {
                const char *text;
                const char *needle;
        } cases[] = {
                { "", "empty" },
                { "   ", "truncated" },
                { "not json", "invalid CNI result" },
                { "{\"cniVersion\": \"1.0.0\"", "truncated" },
                { "{\"cniVersion\": \"1.0.0\"} x", "invalid CNI result" },
                { "{\"cniVersion\": \"1.0.0\"}{}", "invalid CNI result" },
                { "[]", "not a JSON object" },
                { "\"1.0.0\"", "not a JSON object" },
                { "{'cniVersion': '1.0.0'}", "invalid CNI result" },
                { "{\"cniVersion\": \"1.0.0\",}", "invalid CNI result" },
                { "{\"cniVersion\": 1}", "\"cniVersion\" is not a string" },
                { "{\"cniVersion\": \"2.0.0\"}", "unsupported cniVersion '2.0.0'" },
                { "{\"cniVersion\": \"1.0\"}", "unsupported cniVersion" },
                { "{\"cniVersion\": \"\"}", "unsupported cniVersion" },
                { "{\"cniVersion\": \"1.0.0\", \"ips\": {}}", "\"ips\" is not an array" },
                { "{\"cniVersion\": \"1.0.0\", \"ips\": [1]}", "ip 0 is not an object" },
                { "{\"cniVersion\": \"1.0.0\", \"ips\": [{}]}", "no \"address\"" },
                { "{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": 5}]}", "is not a string" },
                { "{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": \"10.0.0.1\"}]}",
                  "'10.0.0.1' is not an IP address in CIDR form" },
                { "{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": \"10.0.0.1/33\"}]}",
                  "CIDR" },
                { "{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": \"fd00::1/129\"}]}", "CIDR" },
                { "{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": \"10.0.0.1/+8\"}]}", "CIDR" },
                { "{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": \"10.0.0.1/\"}]}", "CIDR" },
                { "{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": \"/8\"}]}", "CIDR" },
                { "{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": \"fe80::1%eth0/64\"}]}",
                  "CIDR" },
                { "{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": \"10.0.0.1/8\", "
                  "\"gateway\": \"fd00::1\"}]}",
                  "gateway 'fd00::1' is not an IPv4 address" },
                { "{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": \"10.0.0.1/8\", "
                  "\"gateway\": \"10.0.0.1/8\"}]}",
                  "gateway" },
                { "{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": \"10.0.0.1/8\", "
                  "\"interface\": 0}]}",
                  "interface index 0 is not one of the 0 interfaces" },
                { "{\"cniVersion\": \"1.0.0\", \"interfaces\": [{\"name\": \"e\"}], "
                  "\"ips\": [{\"address\": \"10.0.0.1/8\", \"interface\": -1}]}",
                  "interface index -1" },
                { "{\"cniVersion\": \"1.0.0\", \"interfaces\": [{\"name\": \"e\"}], "
                  "\"ips\": [{\"address\": \"10.0.0.1/8\", \"interface\": \"0\"}]}",
                  "\"interface\" is not an integer" },
                { "{\"cniVersion\": \"1.0.0\", \"interfaces\": [{\"name\": \"e\"}], "
                  "\"ips\": [{\"address\": \"10.0.0.1/8\", \"interface\": 1.0}]}",
                  "\"interface\" is not an integer" },
                { "{\"cniVersion\": \"0.3.1\", \"ips\": [{\"version\": \"6\", "
                  "\"address\": \"10.0.0.1/8\"}]}",
                  "version '6' does not match" },
                { "{\"cniVersion\": \"1.0.0\", \"interfaces\": {}}", "\"interfaces\" is not an array" },
                { "{\"cniVersion\": \"1.0.0\", \"interfaces\": [\"eth0\"]}", "not an object" },
                { "{\"cniVersion\": \"1.0.0\", \"interfaces\": [{\"mac\": \"x\"}]}", "no \"name\"" },
                { "{\"cniVersion\": \"1.0.0\", \"interfaces\": [{\"name\": \"\"}]}", "no \"name\"" },
                { "{\"cniVersion\": \"1.0.0\", \"interfaces\": [{\"name\": \"e\", \"sandbox\": 1}]}",
                  "\"sandbox\" is not a string" },
                { "{\"cniVersion\": \"1.0.0\", \"routes\": [{\"gw\": \"10.0.0.1\"}]}", "\"dst\"" },
                { "{\"cniVersion\": \"1.0.0\", \"routes\": [{\"dst\": \"0.0.0.0/0\", \"gw\": \"x\"}]}",
                  "gw 'x'" },
                { "{\"cniVersion\": \"1.0.0\", \"routes\": {}}", "\"routes\" is not an array" },
                { "{\"cniVersion\": \"1.0.0\", \"dns\": []}", "\"dns\" is not an object" },
                { "{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": \"10.0.0.1/8\\u0000x\"}]}",
                  "\"address\" holds a NUL character" },
                { "{\"cniVersion\": \"1.0.0\\u0000\"}", "\"cniVersion\" holds a NUL" },
                { "{\"cniVersion\": \"0.2.0\", \"ip4\": {\"ip\": \"fd00::1/64\"}}",
                  "is not an IPv4 address" },
                { "{\"cniVersion\": \"0.2.0\", \"ip6\": {\"ip\": \"10.0.0.1/8\"}}",
                  "is not an IPv6 address" },
                { "{\"cniVersion\": \"0.2.0\", \"ip4\": {\"gateway\": \"10.0.0.1\"}}", "no \"ip\"" },
                { "{\"cniVersion\": \"0.2.0\", \"ip4\": []}", "\"ip4\" is not an object" },
                { "{\"cniVersion\": \"0.2.0\", \"ip4\": {\"ip\": \"10.0.0.2/8\", "
                  "\"routes\": [{\"dst\": \"x\"}]}}",
                  "\"dst\"" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
                parse_fails(cases[i].text, strlen(cases[i].text), OCID_ERR_INVALID, cases[i].needle);

        parse_fails("{\"cniVersion\": \"1.0.0\"}\0", 24, OCID_ERR_INVALID, "NUL byte");
        parse_fails("{\"cniVersion\": \"1.0\0.0\"}", 24, OCID_ERR_INVALID, "NUL byte");

        /* Too deep. */
        _cleanup_strbuf_ strbuf deep = STRBUF_INIT;
        strbuf_adds(&deep, "{\"cniVersion\": \"1.0.0\", \"x\": ");
        for (int i = 0; i < 100; i++)
                strbuf_adds(&deep, "[");
        for (int i = 0; i < 100; i++)
                strbuf_adds(&deep, "]");
        strbuf_adds(&deep, "}");
        parse_fails(deep.buf, deep.len, OCID_ERR_INVALID, "invalid CNI result");

        /* Beyond the bounds. */
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "{\"cniVersion\": \"1.0.0\", \"ips\": [");
        for (int i = 0; i <= CNI_RESULT_MAX_IPS; i++)
                strbuf_addf(&sb, "%s{\"address\": \"10.0.0.%d/24\"}", i ? "," : "", i);
        strbuf_adds(&sb, "]}");
        parse_fails(sb.buf, sb.len, OCID_ERR_RESOURCE, "more than 64 IPs");
        strbuf_reset(&sb);
        strbuf_adds(&sb, "{\"cniVersion\": \"1.0.0\", \"interfaces\": [");
        for (int i = 0; i <= CNI_RESULT_MAX_INTERFACES; i++)
                strbuf_addf(&sb, "%s{\"name\": \"if%d\"}", i ? "," : "", i);
        strbuf_adds(&sb, "]}");
        parse_fails(sb.buf, sb.len, OCID_ERR_RESOURCE, "more than 64 interfaces");
        strbuf_reset(&sb);
        strbuf_adds(&sb, "{\"cniVersion\": \"1.0.0\", \"pad\": \"");
        while (sb.len <= CNI_RESULT_MAX_SIZE)
                strbuf_adds(&sb, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        strbuf_adds(&sb, "\"}");
        parse_fails(sb.buf, sb.len, OCID_ERR_RESOURCE, "more than 1048576");
}

/* The seed corpus of the fuzz target parses as its names say: ok-* files
 * parse, bad-* files do not. */
static void test_parse_corpus(void **state)
{
        (void)state;
        const char *src = getenv("OCID_SOURCE_DIR");
        if (!src)
                skip();
        _cleanup_free_ char *dir = fs_path_join(src, "tests/fuzz/corpus/cni-result");
        _cleanup_free_ char *names = sh_out("ls '%s'", dir);
        _cleanup_strv_ char **v = strv_split(names, "\n");
        assert_true(strv_length(v) >= 10);
        for (size_t i = 0; v[i]; i++) {
                _cleanup_free_ char *path = fs_path_join(dir, v[i]);
                _cleanup_free_ char *text = NULL;
                size_t len;
                assert_int_equal(fs_read_file(path, 2 * CNI_RESULT_MAX_SIZE, &text, &len), 0);
                cni_result *res = NULL;
                ocid_error err = OCID_ERROR_INIT;
                int r = cni_result_parse(text, len, &res, &err);
                bool want_ok = strncmp(v[i], "ok-", 3) == 0;
                if ((r == 0) != want_ok)
                        fail_msg("%s: %s", v[i], r == 0 ? "parsed" : err.message);
                cni_result_free(res);
                ocid_error_clear(&err);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_versions),
                cmocka_unit_test(test_parse_malformed),
                cmocka_unit_test(test_parse_corpus),
                cmocka_unit_test_setup_teardown(test_bridge_add_check_del, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_del_after_netns_gone, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_add_fails_midchain, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_add_bad_result_undone, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_add_missing_plugin_undone, test_setup,
                                                test_teardown),
                cmocka_unit_test_setup_teardown(test_add_hang_times_out, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_portmap, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_firewall_and_disable_check, test_setup,
                                                test_teardown),
                cmocka_unit_test_setup_teardown(test_protocol, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_protocol_old_version, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_del_continues_after_failure, test_setup,
                                                test_teardown),
                cmocka_unit_test_setup_teardown(test_invalid_attachments, test_setup, test_teardown),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
