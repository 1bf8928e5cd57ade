/* OCI spec generation: the config.json for representative containers,
 * asserted through json-c lookups; argument, environment and user
 * resolution (users against temp rootfs directories). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "runtime/oci_spec.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#define CAP(n) (UINT64_C(1) << (n))
#define CAP_CHOWN_BIT 0
#define CAP_KILL_BIT 5
#define CAP_NET_ADMIN_BIT 12
#define CAP_SYS_ADMIN_BIT 21
#define CAP_SYS_RESOURCE_BIT 24
/* This machine's bounding set: 0..40 without CAP_SYS_RESOURCE. */
#define BOUNDING (((UINT64_C(1) << 41) - 1) & ~CAP(CAP_SYS_RESOURCE_BIT))

DEFINE_CLEANUP_FUNC(json_object, json_object_put)
#define _cleanup_json_ _cleanup_(json_object_putp)

static char *const default_args[] = { "/bin/sh", "-c", "true", NULL };

static container_spec base_spec(void)
{
        container_spec s = { 0 };
        s.args = default_args;
        s.rootfs = "/var/lib/ocid/c/rootfs";
        s.cap_bounding = BOUNDING;
        return s;
}

/* Look up "a.b.0.c": object keys, or array indexes for array nodes. */
static json_object *jget(json_object *o, const char *path)
{
        _cleanup_strv_ char **parts = strv_split(path, ".");
        for (char **p = parts; o && p && *p; p++) {
                if (json_object_is_type(o, json_type_array)) {
                        char *end;
                        long i = strtol(*p, &end, 10);
                        if (*end || i < 0 || (size_t)i >= json_object_array_length(o))
                                return NULL;
                        o = json_object_array_get_idx(o, (size_t)i);
                } else if (!json_object_object_get_ex(o, *p, &o)) {
                        return NULL;
                }
        }
        return o;
}

static const char *jstr(json_object *o, const char *path)
{
        json_object *v = jget(o, path);
        return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int64_t jint(json_object *o, const char *path)
{
        json_object *v = jget(o, path);
        assert_non_null(v);
        return json_object_get_int64(v);
}

static bool array_has_string(json_object *a, const char *s)
{
        if (!a)
                return false;
        for (size_t i = 0; i < json_object_array_length(a); i++)
                if (STREQ(json_object_get_string(json_object_array_get_idx(a, i)), s))
                        return true;
        return false;
}

static json_object *gen(const container_spec *s)
{
        json_object *o = NULL;
        ocid_error err = OCID_ERROR_INIT;
        int r = oci_spec_generate(s, &o, &err);
        if (r < 0)
                fail_msg("oci_spec_generate: %s", err.message);
        assert_non_null(o);
        return o;
}

static void gen_fails(const container_spec *s, ocid_error_kind kind, const char *substr)
{
        json_object *o = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(oci_spec_generate(s, &o, &err), -1);
        assert_null(o);
        assert_int_equal(err.kind, kind);
        assert_non_null(err.message);
        if (substr && !strstr(err.message, substr))
                fail_msg("message '%s' lacks '%s'", err.message, substr);
        ocid_error_clear(&err);
}

static json_object *find_mount(json_object *spec, const char *dest)
{
        json_object *mounts = jget(spec, "mounts");
        for (size_t i = 0; mounts && i < json_object_array_length(mounts); i++) {
                json_object *m = json_object_array_get_idx(mounts, i);
                if (STREQ(jstr(m, "destination"), dest))
                        return m;
        }
        return NULL;
}

static int mount_index(json_object *spec, const char *dest)
{
        json_object *mounts = jget(spec, "mounts");
        for (size_t i = 0; mounts && i < json_object_array_length(mounts); i++)
                if (STREQ(jstr(json_object_array_get_idx(mounts, i), "destination"), dest))
                        return (int)i;
        return -1;
}

static bool mount_has(json_object *spec, const char *dest, const char *option)
{
        json_object *m = find_mount(spec, dest);
        return m && array_has_string(jget(m, "options"), option);
}

/* The capability set as a mask, from one of process.capabilities' lists,
 * asserting the three lists agree. */
static uint64_t caps_of(json_object *spec)
{
        uint64_t sets[3] = { 0 };
        const char *names[] = { "process.capabilities.bounding", "process.capabilities.effective",
                                "process.capabilities.permitted" };
        for (int k = 0; k < 3; k++) {
                json_object *a = jget(spec, names[k]);
                assert_non_null(a);
                for (size_t i = 0; i < json_object_array_length(a); i++) {
                        int cap = oci_capability_from_name(
                                json_object_get_string(json_object_array_get_idx(a, i)));
                        assert_true(cap >= 0);
                        sets[k] |= CAP(cap);
                }
        }
        assert_true(sets[0] == sets[1] && sets[1] == sets[2]);
        assert_null(jget(spec, "process.capabilities.inheritable"));
        assert_null(jget(spec, "process.capabilities.ambient"));
        return sets[0];
}

/* ---- process ---- */

static void test_process_basics(void **state)
{
        (void)state;
        char *env[] = { "A=1", "B=2", NULL };
        uint32_t gids[] = { 10, 1000, 10, 20 };
        container_spec s = base_spec();
        s.env = env;
        s.uid = 1000;
        s.gid = 1000;
        s.additional_gids = gids;
        s.n_additional_gids = 4;
        s.no_new_privs = true;
        s.apparmor_profile = "runtime/default";
        s.has_oom_score_adj = true;
        s.oom_score_adj = 500;
        _cleanup_json_ json_object *o = gen(&s);

        assert_string_equal(jstr(o, "ociVersion"), "1.0.2");
        assert_string_equal(jstr(o, "process.args.0"), "/bin/sh");
        assert_string_equal(jstr(o, "process.args.2"), "true");
        assert_int_equal(json_object_array_length(jget(o, "process.args")), 3);
        assert_string_equal(jstr(o, "process.env.0"), "A=1");
        assert_string_equal(jstr(o, "process.env.1"), "B=2");
        assert_true(strncmp(jstr(o, "process.env.2"), "PATH=", 5) == 0);
        assert_string_equal(jstr(o, "process.cwd"), "/");
        assert_false(json_object_get_boolean(jget(o, "process.terminal")));
        assert_int_equal(jint(o, "process.user.uid"), 1000);
        assert_int_equal(jint(o, "process.user.gid"), 1000);
        /* The primary gid first, then the others once each. */
        json_object *ag = jget(o, "process.user.additionalGids");
        assert_int_equal(json_object_array_length(ag), 3);
        assert_int_equal(jint(o, "process.user.additionalGids.0"), 1000);
        assert_int_equal(jint(o, "process.user.additionalGids.1"), 10);
        assert_int_equal(jint(o, "process.user.additionalGids.2"), 20);
        assert_true(json_object_get_boolean(jget(o, "process.noNewPrivileges")));
        assert_int_equal(jint(o, "process.oomScoreAdj"), 500);
        assert_string_equal(jstr(o, "process.apparmorProfile"), "runtime/default");
        assert_string_equal(jstr(o, "root.path"), "/var/lib/ocid/c/rootfs");
        assert_false(json_object_get_boolean(jget(o, "root.readonly")));
}

static void test_process_tty_cwd_readonly_root(void **state)
{
        (void)state;
        char *env[] = { "PATH=/bin", NULL };
        container_spec s = base_spec();
        s.env = env;
        s.tty = true;
        s.cwd = "/work";
        s.readonly_rootfs = true;
        _cleanup_json_ json_object *o = gen(&s);
        assert_true(json_object_get_boolean(jget(o, "process.terminal")));
        assert_string_equal(jstr(o, "process.cwd"), "/work");
        assert_true(json_object_get_boolean(jget(o, "root.readonly")));
        /* The given PATH, and no default added. */
        assert_int_equal(json_object_array_length(jget(o, "process.env")), 1);
        assert_null(jget(o, "process.oomScoreAdj"));
        assert_null(jget(o, "process.apparmorProfile"));
        assert_false(json_object_get_boolean(jget(o, "process.noNewPrivileges")));
}

static void test_process_rlimit_clamped(void **state)
{
        (void)state;
        container_spec s = base_spec();
        _cleanup_json_ json_object *o = gen(&s);
        struct rlimit rl;
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
        uint64_t want = 1048576;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
                want = rl.rlim_max;
        assert_string_equal(jstr(o, "process.rlimits.0.type"), "RLIMIT_NOFILE");
        assert_int_equal(jint(o, "process.rlimits.0.hard"), want);
        assert_int_equal(jint(o, "process.rlimits.0.soft"), want);
}

static void test_invalid_process(void **state)
{
        (void)state;
        container_spec s = base_spec();
        s.args = NULL;
        gen_fails(&s, OCID_ERR_INVALID, "no command");
        char *empty[] = { "", NULL };
        s.args = empty;
        gen_fails(&s, OCID_ERR_INVALID, "no command");
        s = base_spec();
        s.cwd = "relative/dir";
        gen_fails(&s, OCID_ERR_INVALID, "'relative/dir'");
        s = base_spec();
        s.rootfs = NULL;
        gen_fails(&s, OCID_ERR_INVALID, "root filesystem");
}

/* ---- namespaces and hostname ---- */

static void test_namespaces_new(void **state)
{
        (void)state;
        container_spec s = base_spec();
        s.hostname = "pod-a";
        _cleanup_json_ json_object *o = gen(&s);
        json_object *ns = jget(o, "linux.namespaces");
        const char *want[] = { "pid", "network", "ipc", "uts", "mount" };
        assert_int_equal(json_object_array_length(ns), 5);
        for (size_t i = 0; i < 5; i++) {
                json_object *n = json_object_array_get_idx(ns, i);
                assert_string_equal(jstr(n, "type"), want[i]);
                assert_null(jget(n, "path"));
        }
        assert_string_equal(jstr(o, "hostname"), "pod-a");
}

static void test_namespaces_join_and_host(void **state)
{
        (void)state;
        container_spec s = base_spec();
        s.net = (oci_namespace){ NS_MODE_JOIN, "/run/ocid/pods/p1/net" };
        s.ipc = (oci_namespace){ NS_MODE_JOIN, "/run/ocid/pods/p1/ipc" };
        s.uts = (oci_namespace){ NS_MODE_HOST, NULL };
        s.pid = (oci_namespace){ NS_MODE_HOST, NULL };
        s.hostname = "ignored-with-host-uts";
        _cleanup_json_ json_object *o = gen(&s);
        json_object *ns = jget(o, "linux.namespaces");
        assert_int_equal(json_object_array_length(ns), 3);
        assert_string_equal(jstr(ns, "0.type"), "network");
        assert_string_equal(jstr(ns, "0.path"), "/run/ocid/pods/p1/net");
        assert_string_equal(jstr(ns, "1.type"), "ipc");
        assert_string_equal(jstr(ns, "1.path"), "/run/ocid/pods/p1/ipc");
        /* The mount namespace is always a new one. */
        assert_string_equal(jstr(ns, "2.type"), "mount");
        assert_null(jget(ns, "2.path"));
        assert_null(jget(o, "hostname"));
}

static void test_namespace_join_uts_keeps_hostname(void **state)
{
        (void)state;
        container_spec s = base_spec();
        s.uts = (oci_namespace){ NS_MODE_JOIN, "/run/ocid/pods/p1/uts" };
        s.pid = (oci_namespace){ NS_MODE_JOIN, "/proc/42/ns/pid" };
        s.hostname = "pod-b";
        _cleanup_json_ json_object *o = gen(&s);
        assert_string_equal(jstr(o, "hostname"), "pod-b");
        assert_string_equal(jstr(o, "linux.namespaces.0.type"), "pid");
        assert_string_equal(jstr(o, "linux.namespaces.0.path"), "/proc/42/ns/pid");
}

static void test_namespace_join_bad_path(void **state)
{
        (void)state;
        container_spec s = base_spec();
        s.net = (oci_namespace){ NS_MODE_JOIN, NULL };
        gen_fails(&s, OCID_ERR_INVALID, "network namespace");
        s.net = (oci_namespace){ NS_MODE_JOIN, "run/net" };
        gen_fails(&s, OCID_ERR_INVALID, "'run/net'");
}

/* ---- mounts ---- */

static void test_default_mounts(void **state)
{
        (void)state;
        container_spec s = base_spec();
        _cleanup_json_ json_object *o = gen(&s);
        const char *order[] = { "/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys",
                                "/sys/fs/cgroup", "/dev/shm" };
        assert_int_equal(json_object_array_length(jget(o, "mounts")), ARRAY_SIZE(order));
        for (size_t i = 0; i < ARRAY_SIZE(order); i++)
                assert_int_equal(mount_index(o, order[i]), (int)i);
        assert_string_equal(jstr(find_mount(o, "/proc"), "type"), "proc");
        assert_string_equal(jstr(find_mount(o, "/dev"), "type"), "tmpfs");
        assert_true(mount_has(o, "/dev", "mode=755"));
        assert_true(mount_has(o, "/dev", "size=65536k"));
        assert_true(mount_has(o, "/dev/pts", "newinstance"));
        assert_true(mount_has(o, "/dev/pts", "ptmxmode=0666"));
        assert_true(mount_has(o, "/dev/pts", "mode=0620"));
        assert_true(mount_has(o, "/dev/pts", "gid=5"));
        assert_string_equal(jstr(find_mount(o, "/dev/mqueue"), "type"), "mqueue");
        assert_true(mount_has(o, "/sys", "ro"));
        assert_string_equal(jstr(find_mount(o, "/sys/fs/cgroup"), "type"), "cgroup");
        assert_true(mount_has(o, "/sys/fs/cgroup", "ro"));
        assert_true(mount_has(o, "/dev/shm", "mode=1777"));
        assert_null(jget(o, "linux.rootfsPropagation"));
}

static void test_privileged_mounts_rw(void **state)
{
        (void)state;
        container_spec s = base_spec();
        s.privileged = true;
        _cleanup_json_ json_object *o = gen(&s);
        assert_true(mount_has(o, "/sys", "rw"));
        assert_false(mount_has(o, "/sys", "ro"));
        assert_true(mount_has(o, "/sys/fs/cgroup", "rw"));
        assert_false(mount_has(o, "/sys/fs/cgroup", "ro"));
}

static void test_bind_mount_options(void **state)
{
        (void)state;
        oci_mount mounts[] = {
                { "/data", "/srv/data", true, false, PROPAGATION_PRIVATE, NULL, NULL },
                { "/scratch", "/srv/scratch", false, false, PROPAGATION_PRIVATE, NULL, NULL },
                { "/etc/hosts", "/run/ocid/pods/p1/hosts", true, false, PROPAGATION_PRIVATE, "bind",
                  NULL },
        };
        container_spec s = base_spec();
        s.mounts = mounts;
        s.n_mounts = ARRAY_SIZE(mounts);
        _cleanup_json_ json_object *o = gen(&s);
        json_object *m = find_mount(o, "/data");
        assert_non_null(m);
        assert_string_equal(jstr(m, "type"), "bind");
        assert_string_equal(jstr(m, "source"), "/srv/data");
        assert_string_equal(jstr(m, "options.0"), "rbind");
        assert_string_equal(jstr(m, "options.1"), "rprivate");
        assert_string_equal(jstr(m, "options.2"), "ro");
        assert_false(mount_has(o, "/data", "rro"));
        assert_true(mount_has(o, "/scratch", "rw"));
        assert_false(mount_has(o, "/scratch", "ro"));
        assert_true(mount_has(o, "/etc/hosts", "rbind"));
        /* Given mounts come after the defaults. */
        assert_true(mount_index(o, "/data") > mount_index(o, "/dev/shm"));
        assert_null(jget(o, "linux.rootfsPropagation"));
}

static void test_bind_mount_propagation(void **state)
{
        (void)state;
        oci_mount slave[] = {
                { "/a", "/srv/a", false, false, PROPAGATION_HOST_TO_CONTAINER, NULL, NULL },
        };
        container_spec s = base_spec();
        s.mounts = slave;
        s.n_mounts = 1;
        json_object *o = gen(&s);
        assert_true(mount_has(o, "/a", "rslave"));
        assert_string_equal(jstr(o, "linux.rootfsPropagation"), "rslave");
        json_object_put(o);

        oci_mount both[] = {
                { "/a", "/srv/a", false, false, PROPAGATION_BIDIRECTIONAL, NULL, NULL },
                { "/b", "/srv/b", false, false, PROPAGATION_HOST_TO_CONTAINER, NULL, NULL },
        };
        s.mounts = both;
        s.n_mounts = 2;
        o = gen(&s);
        assert_true(mount_has(o, "/a", "rshared"));
        assert_true(mount_has(o, "/b", "rslave"));
        assert_string_equal(jstr(o, "linux.rootfsPropagation"), "rshared");
        json_object_put(o);
}

static void test_recursive_readonly(void **state)
{
        (void)state;
        oci_mount mounts[] = {
                { "/ro", "/srv/ro", true, true, PROPAGATION_PRIVATE, NULL, NULL },
        };
        container_spec s = base_spec();
        s.mounts = mounts;
        s.n_mounts = 1;
        _cleanup_json_ json_object *o = gen(&s);
        assert_true(mount_has(o, "/ro", "ro"));
        assert_true(mount_has(o, "/ro", "rro"));
        assert_true(mount_has(o, "/ro", "rprivate"));

        mounts[0].readonly = false;
        gen_fails(&s, OCID_ERR_INVALID, "needs read-only");
        mounts[0].readonly = true;
        mounts[0].propagation = PROPAGATION_HOST_TO_CONTAINER;
        gen_fails(&s, OCID_ERR_INVALID, "private propagation");
}

static void test_given_mount_replaces_default(void **state)
{
        (void)state;
        oci_mount mounts[] = {
                { "/dev/shm/", "/run/ocid/pods/p1/shm", false, false, PROPAGATION_PRIVATE, NULL,
                  NULL },
        };
        container_spec s = base_spec();
        s.mounts = mounts;
        s.n_mounts = 1;
        json_object *o = gen(&s);
        json_object *m = find_mount(o, "/dev/shm");
        assert_non_null(m);
        assert_string_equal(jstr(m, "type"), "bind");
        assert_string_equal(jstr(m, "source"), "/run/ocid/pods/p1/shm");
        /* Exactly one /dev/shm: the default is gone. */
        assert_int_equal(json_object_array_length(jget(o, "mounts")), 7);
        json_object_put(o);

        /* A whole /dev replaces /dev and everything below it. */
        oci_mount dev[] = {
                { "/dev", "/srv/dev", false, false, PROPAGATION_PRIVATE, NULL, NULL },
        };
        s.mounts = dev;
        o = gen(&s);
        assert_int_equal(mount_index(o, "/dev/pts"), -1);
        assert_int_equal(mount_index(o, "/dev/shm"), -1);
        assert_int_equal(mount_index(o, "/dev/mqueue"), -1);
        assert_string_equal(jstr(find_mount(o, "/dev"), "source"), "/srv/dev");
        assert_true(mount_index(o, "/sys") >= 0);
        json_object_put(o);
}

static void test_mounts_sorted_by_depth(void **state)
{
        (void)state;
        oci_mount mounts[] = {
                { "/a/b/c", "/srv/1", false, false, PROPAGATION_PRIVATE, NULL, NULL },
                { "/x", "/srv/2", false, false, PROPAGATION_PRIVATE, NULL, NULL },
                { "/a//b/", "/srv/3", false, false, PROPAGATION_PRIVATE, NULL, NULL },
                { "/a", "/srv/4", false, false, PROPAGATION_PRIVATE, NULL, NULL },
                { "/y", "/srv/5", false, false, PROPAGATION_PRIVATE, NULL, NULL },
        };
        container_spec s = base_spec();
        s.mounts = mounts;
        s.n_mounts = ARRAY_SIZE(mounts);
        _cleanup_json_ json_object *o = gen(&s);
        /* Parents first; equal depths keep the given order; paths cleaned. */
        assert_int_equal(mount_index(o, "/x"), 7);
        assert_int_equal(mount_index(o, "/a"), 8);
        assert_int_equal(mount_index(o, "/y"), 9);
        assert_int_equal(mount_index(o, "/a/b"), 10);
        assert_int_equal(mount_index(o, "/a/b/c"), 11);
}

static void test_special_mount_and_bad_paths(void **state)
{
        (void)state;
        oci_mount tmpfs[] = {
                { "/tmp", NULL, false, false, PROPAGATION_PRIVATE, "tmpfs", "nosuid,size=1m" },
        };
        container_spec s = base_spec();
        s.mounts = tmpfs;
        s.n_mounts = 1;
        json_object *o = gen(&s);
        json_object *m = find_mount(o, "/tmp");
        assert_string_equal(jstr(m, "type"), "tmpfs");
        assert_string_equal(jstr(m, "source"), "tmpfs");
        assert_true(mount_has(o, "/tmp", "nosuid"));
        assert_true(mount_has(o, "/tmp", "size=1m"));
        assert_false(mount_has(o, "/tmp", "rbind"));
        json_object_put(o);

        oci_mount rel_dest[] = {
                { "data", "/srv/data", false, false, PROPAGATION_PRIVATE, NULL, NULL },
        };
        s.mounts = rel_dest;
        gen_fails(&s, OCID_ERR_INVALID, "container path is not absolute");
        oci_mount rel_src[] = {
                { "/data", "srv/data", false, false, PROPAGATION_PRIVATE, NULL, NULL },
        };
        s.mounts = rel_src;
        gen_fails(&s, OCID_ERR_INVALID, "'srv/data'");
}

/* ---- masked and read-only paths ---- */

static void test_masked_readonly_defaults(void **state)
{
        (void)state;
        container_spec s = base_spec();
        _cleanup_json_ json_object *o = gen(&s);
        const char *masked[] = { "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                                 "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                 "/proc/sched_debug", "/sys/firmware",
                                 "/sys/devices/virtual/powercap", "/proc/scsi" };
        const char *ro[] = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                             "/proc/sysrq-trigger" };
        json_object *m = jget(o, "linux.maskedPaths"), *r = jget(o, "linux.readonlyPaths");
        assert_int_equal(json_object_array_length(m), ARRAY_SIZE(masked));
        assert_int_equal(json_object_array_length(r), ARRAY_SIZE(ro));
        for (size_t i = 0; i < ARRAY_SIZE(masked); i++)
                assert_true(array_has_string(m, masked[i]));
        for (size_t i = 0; i < ARRAY_SIZE(ro); i++)
                assert_true(array_has_string(r, ro[i]));
}

static void test_masked_readonly_privileged_and_custom(void **state)
{
        (void)state;
        container_spec s = base_spec();
        s.privileged = true;
        json_object *o = gen(&s);
        assert_null(jget(o, "linux.maskedPaths"));
        assert_null(jget(o, "linux.readonlyPaths"));
        json_object_put(o);

        char *none[] = { NULL };
        char *one[] = { "/proc/custom", NULL };
        s = base_spec();
        s.masked_paths = none;
        s.readonly_paths = one;
        o = gen(&s);
        assert_int_equal(json_object_array_length(jget(o, "linux.maskedPaths")), 0);
        assert_int_equal(json_object_array_length(jget(o, "linux.readonlyPaths")), 1);
        assert_string_equal(jstr(o, "linux.readonlyPaths.0"), "/proc/custom");
        json_object_put(o);
}

/* ---- capabilities ---- */

static void test_caps_default(void **state)
{
        (void)state;
        container_spec s = base_spec();
        _cleanup_json_ json_object *o = gen(&s);
        uint64_t caps = caps_of(o);
        assert_true(caps == oci_default_capabilities());
        assert_int_equal(__builtin_popcountll(caps), 14);
        const char *want[] = { "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
                               "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
                               "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                               "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE" };
        for (size_t i = 0; i < ARRAY_SIZE(want); i++)
                assert_true(array_has_string(jget(o, "process.capabilities.effective"), want[i]));
}

static void test_caps_add_drop_spellings(void **state)
{
        (void)state;
        char *add[] = { "net_admin", "CAP_SYS_PTRACE", "Sys_Time", NULL };
        char *drop[] = { "CHOWN", "cap_kill", NULL };
        container_spec s = base_spec();
        s.cap_add = add;
        s.cap_drop = drop;
        _cleanup_json_ json_object *o = gen(&s);
        uint64_t caps = caps_of(o);
        uint64_t want = (oci_default_capabilities() | CAP(12) | CAP(19) | CAP(25)) &
                        ~(CAP(CAP_CHOWN_BIT) | CAP(CAP_KILL_BIT));
        assert_true(caps == want);
}

static void test_caps_drop_all_add_one(void **state)
{
        (void)state;
        char *add[] = { "NET_BIND_SERVICE", NULL };
        char *drop[] = { "ALL", NULL };
        container_spec s = base_spec();
        s.cap_add = add;
        s.cap_drop = drop;
        _cleanup_json_ json_object *o = gen(&s);
        assert_true(caps_of(o) == CAP(10));
        assert_int_equal(json_object_array_length(jget(o, "process.capabilities.bounding")), 1);
}

static void test_caps_add_all(void **state)
{
        (void)state;
        char *add[] = { "all", NULL };
        char *drop[] = { "CHOWN", NULL };
        container_spec s = base_spec();
        s.cap_add = add;
        json_object *o = gen(&s);
        uint64_t caps = caps_of(o);
        assert_true(caps == BOUNDING);
        assert_false(caps & CAP(CAP_SYS_RESOURCE_BIT));
        assert_false(array_has_string(jget(o, "process.capabilities.bounding"),
                                      "CAP_SYS_RESOURCE"));
        json_object_put(o);

        s.cap_drop = drop;
        o = gen(&s);
        assert_true(caps_of(o) == (BOUNDING & ~CAP(CAP_CHOWN_BIT)));
        json_object_put(o);
}

static void test_caps_privileged_within_bounding(void **state)
{
        (void)state;
        char *drop[] = { "ALL", NULL };
        container_spec s = base_spec();
        s.privileged = true;
        s.cap_drop = drop; /* privileged wins */
        _cleanup_json_ json_object *o = gen(&s);
        uint64_t caps = caps_of(o);
        assert_true(caps == BOUNDING);
        assert_int_equal(json_object_array_length(jget(o, "process.capabilities.permitted")),
                         __builtin_popcountll(BOUNDING));
        assert_false(array_has_string(jget(o, "process.capabilities.permitted"),
                                      "CAP_SYS_RESOURCE"));
        assert_true(array_has_string(jget(o, "process.capabilities.permitted"), "CAP_SYS_ADMIN"));
}

static void test_caps_never_above_bounding(void **state)
{
        (void)state;
        /* A bounding set without even some default capabilities. */
        container_spec s = base_spec();
        s.cap_bounding = oci_default_capabilities() & ~CAP(CAP_KILL_BIT);
        _cleanup_json_ json_object *o = gen(&s);
        assert_true(caps_of(o) == s.cap_bounding);

        char *add[] = { "SYS_RESOURCE", NULL };
        s = base_spec();
        s.cap_add = add;
        gen_fails(&s, OCID_ERR_PRECONDITION, "'CAP_SYS_RESOURCE'");
}

static void test_caps_unknown(void **state)
{
        (void)state;
        char *add[] = { "CAP_FLY", NULL };
        container_spec s = base_spec();
        s.cap_add = add;
        gen_fails(&s, OCID_ERR_INVALID, "'CAP_FLY'");
        char *drop[] = { "", NULL };
        s = base_spec();
        s.cap_drop = drop;
        gen_fails(&s, OCID_ERR_INVALID, "unknown capability");
        s.privileged = true;
        gen_fails(&s, OCID_ERR_INVALID, "unknown capability");
}

static void test_capability_names(void **state)
{
        (void)state;
        assert_int_equal(oci_capability_from_name("CAP_CHOWN"), 0);
        assert_int_equal(oci_capability_from_name("chown"), 0);
        assert_int_equal(oci_capability_from_name("cap_sys_admin"), 21);
        assert_int_equal(oci_capability_from_name("CHECKPOINT_RESTORE"), 40);
        assert_int_equal(oci_capability_from_name("ALL"), -EINVAL);
        assert_int_equal(oci_capability_from_name("CAP_"), -EINVAL);
        assert_int_equal(oci_capability_from_name("CAP_SYS_ADMINX"), -EINVAL);
        assert_string_equal(oci_capability_name(24), "CAP_SYS_RESOURCE");
        assert_null(oci_capability_name(63));
        for (unsigned i = 0; i <= 40; i++)
                assert_int_equal(oci_capability_from_name(oci_capability_name(i)), (int)i);
}

static void test_current_bounding_set(void **state)
{
        (void)state;
        _cleanup_free_ char *status = NULL;
        size_t len;
        assert_int_equal(fs_read_file("/proc/self/status", 1 << 20, &status, &len), 0);
        const char *p = strstr(status, "CapBnd:");
        assert_non_null(p);
        uint64_t want = strtoull(p + 7, NULL, 16);
        assert_true(oci_current_bounding_set() == want);
}

/* ---- seccomp ---- */

/* Whether some rule allows `name` unconditionally (no args). */
static bool seccomp_allows(json_object *profile, const char *name)
{
        json_object *rules = jget(profile, "syscalls");
        for (size_t i = 0; rules && i < json_object_array_length(rules); i++) {
                json_object *r = json_object_array_get_idx(rules, i);
                if (STREQ(jstr(r, "action"), "SCMP_ACT_ALLOW") && !jget(r, "args") &&
                    array_has_string(jget(r, "names"), name))
                        return true;
        }
        return false;
}

static json_object *seccomp_rule_for(json_object *profile, const char *name, const char *action)
{
        json_object *rules = jget(profile, "syscalls");
        for (size_t i = 0; rules && i < json_object_array_length(rules); i++) {
                json_object *r = json_object_array_get_idx(rules, i);
                if (STREQ(jstr(r, "action"), action) && array_has_string(jget(r, "names"), name))
                        return r;
        }
        return NULL;
}

static void test_seccomp_runtime_default(void **state)
{
        (void)state;
        container_spec s = base_spec();
        _cleanup_json_ json_object *o = gen(&s);
        json_object *p = jget(o, "linux.seccomp");
        assert_non_null(p);
        assert_string_equal(jstr(p, "defaultAction"), "SCMP_ACT_ERRNO");
        assert_int_equal(jint(p, "defaultErrnoRet"), 1);
#if defined(__x86_64__)
        assert_true(array_has_string(jget(p, "architectures"), "SCMP_ARCH_X86_64"));
        assert_true(array_has_string(jget(p, "architectures"), "SCMP_ARCH_X86"));
        assert_true(array_has_string(jget(p, "architectures"), "SCMP_ARCH_X32"));
        assert_true(seccomp_allows(p, "arch_prctl"));
#endif
        const char *allowed[] = { "read", "write", "openat", "execve", "exit_group", "futex",
                                  "epoll_wait", "chroot", "ptrace" };
        for (size_t i = 0; i < ARRAY_SIZE(allowed); i++)
                if (!seccomp_allows(p, allowed[i]))
                        fail_msg("'%s' not allowed", allowed[i]);
        const char *denied[] = { "mount", "umount2", "unshare", "setns", "reboot", "init_module",
                                 "kexec_load", "bpf", "clone3", "clock_settime", "acct" };
        for (size_t i = 0; i < ARRAY_SIZE(denied); i++)
                if (seccomp_allows(p, denied[i]))
                        fail_msg("'%s' allowed", denied[i]);
        /* clone without namespace flags; clone3 answered ENOSYS. */
        json_object *clone = seccomp_rule_for(p, "clone", "SCMP_ACT_ALLOW");
        assert_non_null(clone);
        assert_string_equal(jstr(clone, "args.0.op"), "SCMP_CMP_MASKED_EQ");
        assert_int_equal(jint(clone, "args.0.value"), 2114060288);
        json_object *clone3 = seccomp_rule_for(p, "clone3", "SCMP_ACT_ERRNO");
        assert_non_null(clone3);
        assert_int_equal(jint(clone3, "errnoRet"), 38);
        /* socket: anything but AF_VSOCK. */
        json_object *sock = seccomp_rule_for(p, "socket", "SCMP_ACT_ALLOW");
        assert_string_equal(jstr(sock, "args.0.op"), "SCMP_CMP_NE");
        assert_int_equal(jint(sock, "args.0.value"), 40);
}

static void test_seccomp_follows_capabilities(void **state)
{
        (void)state;
        char *add[] = { "SYS_ADMIN", "SYS_PTRACE", NULL };
        char *drop[] = { "SYS_CHROOT", NULL };
        container_spec s = base_spec();
        s.cap_add = add;
        s.cap_drop = drop;
        _cleanup_json_ json_object *o = gen(&s);
        json_object *p = jget(o, "linux.seccomp");
        assert_true(seccomp_allows(p, "mount"));
        assert_true(seccomp_allows(p, "unshare"));
        assert_true(seccomp_allows(p, "clone"));
        assert_true(seccomp_allows(p, "clone3"));
        assert_true(seccomp_allows(p, "kcmp"));
        assert_false(seccomp_allows(p, "chroot"));
        assert_null(seccomp_rule_for(p, "clone3", "SCMP_ACT_ERRNO"));
}

static void test_seccomp_unconfined_and_privileged(void **state)
{
        (void)state;
        container_spec s = base_spec();
        s.seccomp = SECCOMP_UNCONFINED;
        json_object *o = gen(&s);
        assert_null(jget(o, "linux.seccomp"));
        json_object_put(o);
        s = base_spec();
        s.privileged = true;
        o = gen(&s);
        assert_null(jget(o, "linux.seccomp"));
        json_object_put(o);
}

static void test_seccomp_localhost(void **state)
{
        (void)state;
        container_spec s = base_spec();
        s.seccomp = SECCOMP_LOCALHOST;
        s.seccomp_profile = "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":"
                            "[\"mkdir\"],\"action\":\"SCMP_ACT_ERRNO\"}]}\n";
        json_object *o = gen(&s);
        assert_string_equal(jstr(o, "linux.seccomp.defaultAction"), "SCMP_ACT_ALLOW");
        assert_string_equal(jstr(o, "linux.seccomp.syscalls.0.names.0"), "mkdir");
        json_object_put(o);

        const char *bad[] = {
                "{\"defaultAction\":", "[1,2]", "{\"syscalls\":[]}", "{\"defaultAction\":7}",
                "{\"defaultAction\":\"SCMP_ACT_ALLOW\"} trailing", "null", "",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                s.seccomp_profile = bad[i];
                gen_fails(&s, OCID_ERR_INVALID, "seccomp");
        }
        s.seccomp_profile = NULL;
        gen_fails(&s, OCID_ERR_INVALID, "seccomp");
}

static void test_seccomp_shared_profile(void **state)
{
        (void)state;
        json_object *a = oci_default_seccomp(), *b = oci_default_seccomp();
        assert_non_null(a);
        assert_ptr_equal(a, b);
        container_spec s = base_spec();
        _cleanup_json_ json_object *o = gen(&s);
        json_object *p = jget(o, "linux.seccomp");
        /* The spec owns a copy, equal to the shared one. */
        assert_ptr_not_equal(p, a);
        assert_true(json_object_equal(p, a));
        _cleanup_json_ json_object *fresh = oci_seccomp_profile(oci_default_capabilities());
        assert_true(json_object_equal(fresh, a));
}

/* ---- resources, devices, annotations ---- */

static void test_resources(void **state)
{
        (void)state;
        char *huge[] = { "2MB=1073741824", "1GB=0", NULL };
        char *unified[] = { "memory.high=1000000", "pids.max=max", NULL };
        container_spec s = base_spec();
        s.cpu_shares = 512;
        s.cpu_quota = 50000;
        s.cpu_period = 100000;
        s.cpuset_cpus = "0-1";
        s.cpuset_mems = "0";
        s.memory_limit = 67108864;
        s.memory_swap_limit = 134217728;
        s.hugepage_limits = huge;
        s.unified = unified;
        s.cgroups_path = "/kubepods/besteffort/pod1/c1";
        _cleanup_json_ json_object *o = gen(&s);
        assert_int_equal(jint(o, "linux.resources.cpu.shares"), 512);
        assert_int_equal(jint(o, "linux.resources.cpu.quota"), 50000);
        assert_int_equal(jint(o, "linux.resources.cpu.period"), 100000);
        assert_string_equal(jstr(o, "linux.resources.cpu.cpus"), "0-1");
        assert_string_equal(jstr(o, "linux.resources.cpu.mems"), "0");
        assert_int_equal(jint(o, "linux.resources.memory.limit"), 67108864);
        assert_int_equal(jint(o, "linux.resources.memory.swap"), 134217728);
        assert_string_equal(jstr(o, "linux.resources.hugepageLimits.0.pageSize"), "2MB");
        assert_int_equal(jint(o, "linux.resources.hugepageLimits.0.limit"), 1073741824);
        assert_string_equal(jstr(o, "linux.resources.hugepageLimits.1.pageSize"), "1GB");
        json_object *u = jget(o, "linux.resources.unified");
        json_object *v;
        assert_true(json_object_object_get_ex(u, "memory.high", &v));
        assert_string_equal(json_object_get_string(v), "1000000");
        assert_true(json_object_object_get_ex(u, "pids.max", &v));
        assert_string_equal(json_object_get_string(v), "max");
        assert_string_equal(jstr(o, "linux.cgroupsPath"), "/kubepods/besteffort/pod1/c1");
}

static void test_resources_unset(void **state)
{
        (void)state;
        container_spec s = base_spec();
        s.memory_limit = 1 << 20;
        _cleanup_json_ json_object *o = gen(&s);
        assert_null(jget(o, "linux.resources.cpu"));
        assert_null(jget(o, "linux.resources.memory.swap"));
        assert_null(jget(o, "linux.resources.hugepageLimits"));
        assert_null(jget(o, "linux.resources.unified"));
        assert_null(jget(o, "linux.cgroupsPath"));
        assert_non_null(jget(o, "linux.resources.devices"));
}

static void test_resources_invalid(void **state)
{
        (void)state;
        const char *bad_huge[] = { "2MB", "2XB=1", "MB=1", "2MB=-1", "2MB=x", "=5", "2MB=" };
        for (size_t i = 0; i < ARRAY_SIZE(bad_huge); i++) {
                char *v[] = { (char *)bad_huge[i], NULL };
                container_spec s = base_spec();
                s.hugepage_limits = v;
                gen_fails(&s, OCID_ERR_INVALID, "hugepage limit");
        }
        const char *bad_unified[] = { "memory.high", "=1", "../x=1" };
        for (size_t i = 0; i < ARRAY_SIZE(bad_unified); i++) {
                char *v[] = { (char *)bad_unified[i], NULL };
                container_spec s = base_spec();
                s.unified = v;
                gen_fails(&s, OCID_ERR_INVALID, "unified resource");
        }
}

static json_object *device_rule_for(json_object *o, const char *type, int major, int minor)
{
        json_object *rules = jget(o, "linux.resources.devices");
        for (size_t i = 0; rules && i < json_object_array_length(rules); i++) {
                json_object *r = json_object_array_get_idx(rules, i);
                json_object *ma = jget(r, "major"), *mi = jget(r, "minor");
                if (!STREQ(jstr(r, "type") ? jstr(r, "type") : "a", type))
                        continue;
                if ((major < 0 ? !ma : ma && json_object_get_int(ma) == major) &&
                    (minor < 0 ? !mi : mi && json_object_get_int(mi) == minor))
                        return r;
        }
        return NULL;
}

static void test_devices_default(void **state)
{
        (void)state;
        container_spec s = base_spec();
        _cleanup_json_ json_object *o = gen(&s);
        /* Deny everything first. */
        json_object *first = jget(o, "linux.resources.devices.0");
        assert_false(json_object_get_boolean(jget(first, "allow")));
        assert_null(jget(first, "type"));
        assert_string_equal(jstr(first, "access"), "rwm");
        const int std[][2] = { { 1, 3 }, { 1, 5 }, { 1, 7 }, { 1, 8 }, { 1, 9 }, { 5, 0 }, { 5, 2 } };
        for (size_t i = 0; i < ARRAY_SIZE(std); i++) {
                json_object *r = device_rule_for(o, "c", std[i][0], std[i][1]);
                assert_non_null(r);
                assert_true(json_object_get_boolean(jget(r, "allow")));
                assert_string_equal(jstr(r, "access"), "rwm");
        }
        json_object *pts = device_rule_for(o, "c", 136, -1);
        assert_non_null(pts);
        assert_true(json_object_get_boolean(jget(pts, "allow")));
        assert_int_equal(json_object_array_length(jget(o, "linux.devices")), 0);
}

static void test_devices_given(void **state)
{
        (void)state;
        oci_device devs[] = { { "/dev/xnull", "/dev/null", "rw" } };
        container_spec s = base_spec();
        s.devices = devs;
        s.n_devices = 1;
        _cleanup_json_ json_object *o = gen(&s);
        assert_string_equal(jstr(o, "linux.devices.0.path"), "/dev/xnull");
        assert_string_equal(jstr(o, "linux.devices.0.type"), "c");
        assert_int_equal(jint(o, "linux.devices.0.major"), 1);
        assert_int_equal(jint(o, "linux.devices.0.minor"), 3);
        assert_int_equal(jint(o, "linux.devices.0.fileMode"), 0666);
        json_object *rules = jget(o, "linux.resources.devices");
        json_object *last = json_object_array_get_idx(rules, json_object_array_length(rules) - 1);
        assert_true(json_object_get_boolean(jget(last, "allow")));
        assert_int_equal(jint(last, "major"), 1);
        assert_int_equal(jint(last, "minor"), 3);
        assert_string_equal(jstr(last, "access"), "rw");
}

static void test_devices_invalid(void **state)
{
        (void)state;
        container_spec s = base_spec();
        oci_device missing[] = { { "/dev/x", "/dev/ocid-test-no-such-device", NULL } };
        s.devices = missing;
        s.n_devices = 1;
        gen_fails(&s, OCID_ERR_NOT_FOUND, "'/dev/ocid-test-no-such-device'");
        oci_device regular[] = { { "/dev/x", "/proc/self/status", NULL } };
        s.devices = regular;
        gen_fails(&s, OCID_ERR_INVALID, "not a character or block device");
        oci_device perms[] = { { "/dev/x", "/dev/null", "rwx" } };
        s.devices = perms;
        gen_fails(&s, OCID_ERR_INVALID, "'rwx'");
        oci_device twice[] = { { "/dev/x", "/dev/null", "rr" } };
        s.devices = twice;
        gen_fails(&s, OCID_ERR_INVALID, "'rr'");
        oci_device rel[] = { { "dev/x", "/dev/null", NULL } };
        s.devices = rel;
        gen_fails(&s, OCID_ERR_INVALID, "not absolute");
}

static void test_devices_privileged(void **state)
{
        (void)state;
        container_spec s = base_spec();
        s.privileged = true;
        _cleanup_json_ json_object *o = gen(&s);
        json_object *rules = jget(o, "linux.resources.devices");
        assert_int_equal(json_object_array_length(rules), 1);
        assert_true(json_object_get_boolean(jget(rules, "0.allow")));
        assert_null(jget(rules, "0.type"));
        assert_string_equal(jstr(rules, "0.access"), "rwm");
        /* The host's devices are in the container: /dev/null at least,
         * never the console nor anything under /dev/pts. */
        json_object *devs = jget(o, "linux.devices");
        bool null_seen = false;
        for (size_t i = 0; i < json_object_array_length(devs); i++) {
                const char *p = json_object_get_string(json_object_object_get(json_object_array_get_idx(devs, i), "path"));
                null_seen |= strcmp(p, "/dev/null") == 0;
                assert_string_not_equal(p, "/dev/console");
                assert_true(strncmp(p, "/dev/pts/", 9) != 0);
        }
        assert_true(null_seen);
}

static void test_annotations(void **state)
{
        (void)state;
        char *ann[] = { "io.kubernetes.pod.name=web", "empty=", "k=a=b", NULL };
        container_spec s = base_spec();
        s.annotations = ann;
        _cleanup_json_ json_object *o = gen(&s);
        json_object *a = jget(o, "annotations");
        json_object *v;
        assert_true(json_object_object_get_ex(a, "io.kubernetes.pod.name", &v));
        assert_string_equal(json_object_get_string(v), "web");
        assert_true(json_object_object_get_ex(a, "empty", &v));
        assert_string_equal(json_object_get_string(v), "");
        assert_true(json_object_object_get_ex(a, "k", &v));
        assert_string_equal(json_object_get_string(v), "a=b");

        char *bad[] = { "novalue", NULL };
        s.annotations = bad;
        gen_fails(&s, OCID_ERR_INVALID, "'novalue'");
}

static void test_spec_serializes(void **state)
{
        (void)state;
        container_spec s = base_spec();
        _cleanup_json_ json_object *o = gen(&s);
        const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        _cleanup_json_ json_object *back = json_tokener_parse(text);
        assert_non_null(back);
        assert_true(json_object_equal(o, back));
}

/* ---- args and env ---- */

static void check_args(char *const *ep, char *const *cmd, char *const *command,
                       char *const *args, const char *want)
{
        char **out = NULL;
        ocid_error err = OCID_ERROR_INIT;
        if (!want) {
                assert_int_equal(oci_resolve_args(ep, cmd, command, args, &out, &err), -1);
                assert_int_equal(err.kind, OCID_ERR_INVALID);
                assert_null(out);
                ocid_error_clear(&err);
                return;
        }
        assert_int_equal(oci_resolve_args(ep, cmd, command, args, &out, &err), 0);
        _cleanup_free_ char *joined = strv_join(out, " ");
        assert_string_equal(joined, want);
        strv_free(out);
}

static void test_resolve_args(void **state)
{
        (void)state;
        char *ep[] = { "/entry", "-e", NULL };
        char *cmd[] = { "serve", "--port=80", NULL };
        char *command[] = { "/bin/sh", "-c", NULL };
        char *args[] = { "echo hi", NULL };
        char *none[] = { NULL };
        char *empty_prog[] = { "", NULL };

        /* neither: the image's entrypoint and cmd */
        check_args(ep, cmd, NULL, NULL, "/entry -e serve --port=80");
        check_args(ep, cmd, none, none, "/entry -e serve --port=80");
        /* command only: the image's entrypoint and cmd both ignored */
        check_args(ep, cmd, command, NULL, "/bin/sh -c");
        /* args only: the image's entrypoint with these args */
        check_args(ep, cmd, NULL, args, "/entry -e echo hi");
        /* both */
        check_args(ep, cmd, command, args, "/bin/sh -c echo hi");
        /* image with cmd only */
        check_args(NULL, cmd, NULL, NULL, "serve --port=80");
        check_args(NULL, cmd, NULL, args, "echo hi");
        /* image with entrypoint only */
        check_args(ep, NULL, NULL, NULL, "/entry -e");
        /* nothing at all */
        check_args(NULL, NULL, NULL, NULL, NULL);
        check_args(none, none, none, none, NULL);
        check_args(empty_prog, NULL, NULL, NULL, NULL);
}

static void test_merge_env(void **state)
{
        (void)state;
        char *image[] = { "PATH=/usr/bin", "LANG=C", "HOME=/root", "FLAG", NULL };
        char *cri[] = { "LANG=en_US.UTF-8", "NEW=1", "PATH=/bin", "FLAG=on", "NEW=2", NULL };
        char **out = oci_merge_env(image, cri);
        _cleanup_free_ char *joined = strv_join(out, " ");
        assert_string_equal(joined, "PATH=/bin LANG=en_US.UTF-8 HOME=/root FLAG=on NEW=2");
        strv_free(out);

        out = oci_merge_env(NULL, NULL);
        assert_non_null(out);
        assert_null(out[0]);
        strv_free(out);

        /* A prefix of a name is another name. */
        char *a[] = { "AB=1", "A=2", NULL };
        char *b[] = { "A=3", NULL };
        out = oci_merge_env(a, b);
        _cleanup_free_ char *j2 = strv_join(out, " ");
        assert_string_equal(j2, "AB=1 A=3");
        strv_free(out);
}

static void test_merge_env_large(void **state)
{
        (void)state;
        /* Linear time: 100k variables, all overridden, in well under a second. */
        size_t n = 100000;
        char **image = calloc(n + 1, sizeof(char *)), **cri = calloc(n + 1, sizeof(char *));
        assert_non_null(image);
        assert_non_null(cri);
        for (size_t i = 0; i < n; i++) {
                assert_true(asprintf(&image[i], "VAR_%zu=image", i) > 0);
                assert_true(asprintf(&cri[i], "VAR_%zu=cri", n - 1 - i) > 0);
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        char **out = oci_merge_env(image, cri);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        assert_true(secs < 1.0);
        assert_int_equal(strv_length(out), n);
        assert_string_equal(out[0], "VAR_0=cri");
        assert_string_equal(out[n - 1], "VAR_99999=cri");
        strv_free(out);
        strv_free(image);
        strv_free(cri);
}

/* ---- users ---- */

static void put(const char *dir, const char *rel, const char *content)
{
        _cleanup_free_ char *path = fs_path_join(dir, rel);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        size_t len = strlen(content);
        assert_int_equal(write(fd, content, len), (ssize_t)len);
        close(fd);
}

static const char passwd_text[] =
        "root:x:0:0:root:/root:/bin/sh\n"
        "# a comment\n"
        "\n"
        "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
        "broken line without colons\n"
        "bad:x:notanumber:1::/:/bin/false\n"
        "app:x:1000:1000:App User:/home/app:/bin/sh\r\n"
        "+nisuser::::::\n"
        "svc:x:1001:1001::/:/bin/false";     /* no final newline */

static const char group_text[] =
        "root:x:0:\n"
        "wheel:x:10:root,app\n"
        "app:x:1000:\n"
        "audio:x:29:app\n"
        "video:x:44:daemon,svc\n"
        "dup:x:10:app\n"               /* same gid as wheel: listed once */
        "apps2:x:2000:xapp,appx,app\n"
        "staff:x:50:";

static int rootfs_setup(void **state)
{
        char tmpl[] = "/tmp/ocid-test-oci-spec-XXXXXX";
        if (!mkdtemp(tmpl))
                return -1;
        _cleanup_free_ char *root = fs_path_join(tmpl, "rootfs");
        _cleanup_free_ char *etc = fs_path_join(root, "etc");
        if (fs_mkdir_p(etc, 0755) < 0)
                return -1;
        put(root, "etc/passwd", passwd_text);
        put(root, "etc/group", group_text);
        *state = strdup(tmpl);
        return 0;
}

static int rootfs_teardown(void **state)
{
        char *dir = *state;
        int r = fs_remove_tree(dir);
        free(dir);
        return r;
}

typedef struct {
        uint32_t uid, gid;
        uint32_t *groups;
        size_t n;
} user_result;

static int resolve(const char *rootfs, const char *user, user_result *res, ocid_error *err)
{
        memset(res, 0, sizeof(*res));
        return oci_resolve_user(rootfs, user, &res->uid, &res->gid, &res->groups, &res->n, err);
}

static void expect_user(const char *rootfs, const char *user, uint32_t uid, uint32_t gid,
                        const char *groups)
{
        user_result res;
        ocid_error err = OCID_ERROR_INIT;
        if (resolve(rootfs, user, &res, &err) < 0)
                fail_msg("resolve '%s': %s", user, err.message);
        assert_int_equal(res.uid, uid);
        assert_int_equal(res.gid, gid);
        char buf[256] = "";
        for (size_t i = 0; i < res.n; i++)
                snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%u", i ? "," : "",
                         res.groups[i]);
        assert_string_equal(buf, groups);
        free(res.groups);
}

static void expect_user_error(const char *rootfs, const char *user, ocid_error_kind kind)
{
        user_result res;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(resolve(rootfs, user, &res, &err), -1);
        assert_int_equal(err.kind, kind);
        assert_non_null(err.message);
        ocid_error_clear(&err);
}

static void test_user_names_and_numbers(void **state)
{
        _cleanup_free_ char *root = fs_path_join(*state, "rootfs");
        expect_user(root, NULL, 0, 0, "10");
        expect_user(root, "", 0, 0, "10");
        expect_user(root, "root", 0, 0, "10");
        expect_user(root, "app", 1000, 1000, "10,29,2000");
        expect_user(root, "1000", 1000, 1000, "10,29,2000");
        expect_user(root, "daemon", 1, 1, "44");
        expect_user(root, "svc", 1001, 1001, "44");
        /* Numeric and unknown: fine, gid 0, no groups. */
        expect_user(root, "4242", 4242, 0, "");
        expect_user(root, "4242:77", 4242, 77, "");
}

static void test_user_with_group(void **state)
{
        _cleanup_free_ char *root = fs_path_join(*state, "rootfs");
        expect_user(root, "app:audio", 1000, 29, "10,29,2000");
        expect_user(root, "app:44", 1000, 44, "10,29,2000");
        expect_user(root, "1000:staff", 1000, 50, "10,29,2000");
        expect_user(root, "0:0", 0, 0, "10");
}

static void test_user_errors(void **state)
{
        _cleanup_free_ char *root = fs_path_join(*state, "rootfs");
        expect_user_error(root, "nobody-here", OCID_ERR_NOT_FOUND);
        expect_user_error(root, "bad", OCID_ERR_NOT_FOUND); /* its line is malformed */
        expect_user_error(root, "nisuser", OCID_ERR_NOT_FOUND);
        expect_user_error(root, "app:nogroup", OCID_ERR_NOT_FOUND);
        expect_user_error(root, ":10", OCID_ERR_INVALID);
        expect_user_error(root, "app:", OCID_ERR_INVALID);
        expect_user_error(root, "app:a:b", OCID_ERR_INVALID);
        expect_user_error(root, "4294967295", OCID_ERR_INVALID);
        expect_user_error(root, "1:99999999999", OCID_ERR_INVALID);
        _cleanup_free_ char *missing = fs_path_join(*state, "no-such-rootfs");
        expect_user_error(missing, "root", OCID_ERR_NOT_FOUND);
}

static void test_user_missing_files(void **state)
{
        _cleanup_free_ char *root = fs_path_join(*state, "empty-rootfs");
        assert_int_equal(fs_mkdir_p(root, 0755), 0);
        expect_user(root, "0", 0, 0, "");
        expect_user(root, "1000:1000", 1000, 1000, "");
        expect_user_error(root, "root", OCID_ERR_NOT_FOUND);
        expect_user_error(root, "0:wheel", OCID_ERR_NOT_FOUND);
}

static void test_user_symlink_stays_in_root(void **state)
{
        /* The host side: a passwd with a user the image does not have. */
        _cleanup_free_ char *outside = fs_path_join(*state, "outside");
        assert_int_equal(fs_mkdir_p(outside, 0755), 0);
        put(outside, "passwd", "intruder:x:4321:4321::/:/bin/sh\n");
        _cleanup_free_ char *outside_passwd = fs_path_join(outside, "passwd");

        _cleanup_free_ char *root = fs_path_join(*state, "evil-rootfs");
        _cleanup_free_ char *etc = fs_path_join(root, "etc");
        assert_int_equal(fs_mkdir_p(etc, 0755), 0);
        _cleanup_free_ char *link = fs_path_join(etc, "passwd");

        /* Absolute: resolved inside the root, where it does not exist. */
        assert_int_equal(symlink(outside_passwd, link), 0);
        expect_user_error(root, "intruder", OCID_ERR_NOT_FOUND);
        expect_user(root, "4321", 4321, 0, "");

        /* Relative with enough ".." to climb out: clamped at the root. */
        assert_int_equal(unlink(link), 0);
        _cleanup_free_ char *rel = NULL;
        assert_true(asprintf(&rel, "../../../../../../../..%s", outside_passwd) > 0);
        assert_int_equal(symlink(rel, link), 0);
        expect_user_error(root, "intruder", OCID_ERR_NOT_FOUND);

        /* A symlinked /etc directory too. */
        assert_int_equal(unlink(link), 0);
        assert_int_equal(rmdir(etc), 0);
        assert_int_equal(symlink(outside, etc), 0);
        expect_user_error(root, "intruder", OCID_ERR_NOT_FOUND);

        /* The same file inside the root is read. */
        assert_int_equal(unlink(etc), 0);
        assert_int_equal(fs_mkdir_p(etc, 0755), 0);
        put(root, "etc/passwd", "intruder:x:4321:4321::/:/bin/sh\n");
        expect_user(root, "intruder", 4321, 4321, "");
}

static void test_user_special_files(void **state)
{
        _cleanup_free_ char *root = fs_path_join(*state, "fifo-rootfs");
        _cleanup_free_ char *etc = fs_path_join(root, "etc");
        assert_int_equal(fs_mkdir_p(etc, 0755), 0);
        _cleanup_free_ char *fifo = fs_path_join(etc, "passwd");
        assert_int_equal(mkfifo(fifo, 0644), 0);
        /* Refused at once, not blocked on. */
        expect_user_error(root, "root", OCID_ERR_INVALID);
        assert_int_equal(unlink(fifo), 0);

        /* Larger than the bound. */
        int fd = open(fifo, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, OCI_PASSWD_MAX_SIZE + 1), 0);
        close(fd);
        expect_user_error(root, "root", OCID_ERR_INVALID);
}

static void test_passwd_group_lines(void **state)
{
        (void)state;
        oci_passwd_entry p;
        const char *l = "app:x:1000:1001:gecos:/home:/bin/sh";
        assert_int_equal(oci_passwd_parse_line(l, strlen(l), &p), 0);
        assert_int_equal(p.name_len, 3);
        assert_memory_equal(p.name, "app", 3);
        assert_int_equal(p.uid, 1000);
        assert_int_equal(p.gid, 1001);
        l = "short:x:5:6";
        assert_int_equal(oci_passwd_parse_line(l, strlen(l), &p), 0);
        const char *bad[] = { "", "#c:x:1:1", "+nis", "-nis:x:1:1", ":x:1:1", "a:x:1",
                              "a:x::1", "a:x:1:-1", "a:x:4294967295:0", "a:x:1 :1",
                              "a:x:12345678901:1" };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                assert_int_equal(oci_passwd_parse_line(bad[i], strlen(bad[i]), &p), -EINVAL);
        /* Only len bytes count. */
        l = "app:x:10:20:rest";
        assert_int_equal(oci_passwd_parse_line(l, 9, &p), -EINVAL);
        assert_int_equal(oci_passwd_parse_line(l, 10, &p), 0);
        assert_int_equal(p.gid, 2);

        oci_group_entry g;
        l = "wheel:x:10:root,app";
        assert_int_equal(oci_group_parse_line(l, strlen(l), &g), 0);
        assert_int_equal(g.gid, 10);
        assert_true(oci_group_has_member(&g, "app", 3));
        assert_true(oci_group_has_member(&g, "root", 4));
        assert_false(oci_group_has_member(&g, "ap", 2));
        assert_false(oci_group_has_member(&g, "roo", 3));
        assert_false(oci_group_has_member(&g, "", 0));
        l = "nomembers:x:5";
        assert_int_equal(oci_group_parse_line(l, strlen(l), &g), 0);
        assert_int_equal(g.members_len, 0);
        assert_false(oci_group_has_member(&g, "x", 1));
        const char *gbad[] = { "", "#x:x:1:", "g:x", "g:x:y:", "g:x:1:a:b", ":x:1:" };
        for (size_t i = 0; i < ARRAY_SIZE(gbad); i++)
                assert_int_equal(oci_group_parse_line(gbad[i], strlen(gbad[i]), &g), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_process_basics),
                cmocka_unit_test(test_process_tty_cwd_readonly_root),
                cmocka_unit_test(test_process_rlimit_clamped),
                cmocka_unit_test(test_invalid_process),
                cmocka_unit_test(test_namespaces_new),
                cmocka_unit_test(test_namespaces_join_and_host),
                cmocka_unit_test(test_namespace_join_uts_keeps_hostname),
                cmocka_unit_test(test_namespace_join_bad_path),
                cmocka_unit_test(test_default_mounts),
                cmocka_unit_test(test_privileged_mounts_rw),
                cmocka_unit_test(test_bind_mount_options),
                cmocka_unit_test(test_bind_mount_propagation),
                cmocka_unit_test(test_recursive_readonly),
                cmocka_unit_test(test_given_mount_replaces_default),
                cmocka_unit_test(test_mounts_sorted_by_depth),
                cmocka_unit_test(test_special_mount_and_bad_paths),
                cmocka_unit_test(test_masked_readonly_defaults),
                cmocka_unit_test(test_masked_readonly_privileged_and_custom),
                cmocka_unit_test(test_caps_default),
                cmocka_unit_test(test_caps_add_drop_spellings),
                cmocka_unit_test(test_caps_drop_all_add_one),
                cmocka_unit_test(test_caps_add_all),
                cmocka_unit_test(test_caps_privileged_within_bounding),
                cmocka_unit_test(test_caps_never_above_bounding),
                cmocka_unit_test(test_caps_unknown),
                cmocka_unit_test(test_capability_names),
                cmocka_unit_test(test_current_bounding_set),
                cmocka_unit_test(test_seccomp_runtime_default),
                cmocka_unit_test(test_seccomp_follows_capabilities),
                cmocka_unit_test(test_seccomp_unconfined_and_privileged),
                cmocka_unit_test(test_seccomp_localhost),
                cmocka_unit_test(test_seccomp_shared_profile),
                cmocka_unit_test(test_resources),
                cmocka_unit_test(test_resources_unset),
                cmocka_unit_test(test_resources_invalid),
                cmocka_unit_test(test_devices_default),
                cmocka_unit_test(test_devices_given),
                cmocka_unit_test(test_devices_invalid),
                cmocka_unit_test(test_devices_privileged),
                cmocka_unit_test(test_annotations),
                cmocka_unit_test(test_spec_serializes),
                cmocka_unit_test(test_resolve_args),
                cmocka_unit_test(test_merge_env),
                cmocka_unit_test(test_merge_env_large),
                cmocka_unit_test_setup_teardown(test_user_names_and_numbers, rootfs_setup,
                                                rootfs_teardown),
                cmocka_unit_test_setup_teardown(test_user_with_group, rootfs_setup,
                                                rootfs_teardown),
                cmocka_unit_test_setup_teardown(test_user_errors, rootfs_setup, rootfs_teardown),
                cmocka_unit_test_setup_teardown(test_user_missing_files, rootfs_setup,
                                                rootfs_teardown),
                cmocka_unit_test_setup_teardown(test_user_symlink_stays_in_root, rootfs_setup,
                                                rootfs_teardown),
                cmocka_unit_test_setup_teardown(test_user_special_files, rootfs_setup,
                                                rootfs_teardown),
                cmocka_unit_test(test_passwd_group_lines),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
