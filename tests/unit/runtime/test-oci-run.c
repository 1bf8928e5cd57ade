/* The generated config.json, run by the real runtimes: every case runs a
 * busybox container with `crun run` and with `runc run` and checks what the
 * process saw (capabilities, seccomp mode, user, mounts, cgroup limits).
 * crun and runc are required: the test fails when either is missing.
 *
 * The whole test runs in a private mount namespace of its own, so what it
 * mounts (see below) disappears with it. Each container gets a unique
 * cgroupsPath and runtime --root; after each run the container is deleted
 * and the test fails if any of its cgroup directories is left.
 *
 * cgroup v1 "hybrid" hosts (v1 controllers plus a cgroup2 tree at
 * /sys/fs/cgroup/unified): crun refuses every container while any
 * controller is enabled on the cgroup2 tree ("cgroups in hybrid mode not
 * supported"). On such hosts the setup mounts each of those controllers as
 * a v1 hierarchy on a temp directory inside the private namespace, which
 * moves the controller off cgroup2 for as long as this test lives; it goes
 * back by itself when the namespace dies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "runtime/oci_spec.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/spawn.h"
#include "util/strv.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

DEFINE_CLEANUP_FUNC(json_object, json_object_put)

static struct {
        char *dir;              /* the test's temp directory */
        char *bundle, *rootfs;
        char *host_rw, *host_ro, *host_rro;
        bool cgroup2_unified;
        unsigned seq;
} fx;

static char *find_in_path(const char *name)
{
        const char *path = getenv("PATH");
        _cleanup_strv_ char **dirs = strv_split(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin", ":");
        for (char **d = dirs; d && *d; d++) {
                char *p = fs_path_join(*d, name);
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return NULL;
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = fs_read_file(from, 64u << 20, &data, &len);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        if (write(fd, data, len) != (ssize_t)len)
                return -EIO;
        return 0;
}

static int mkdir_in(const char *dir, const char *rel)
{
        _cleanup_free_ char *p = fs_path_join(dir, rel);
        return fs_mkdir_p(p, 0755);
}

/* Move controllers enabled on a hybrid host's cgroup2 tree to v1
 * hierarchies (see the top of the file). */
static int fix_hybrid_cgroups(void)
{
        struct statfs sfs;
        if (statfs("/sys/fs/cgroup", &sfs) < 0)
                return -errno;
        if (sfs.f_type == CGROUP2_SUPER_MAGIC) {
                fx.cgroup2_unified = true;
                return 0;
        }
        _cleanup_free_ char *controllers = NULL;
        size_t len;
        if (fs_read_file("/sys/fs/cgroup/unified/cgroup.controllers", 4096, &controllers, &len) < 0)
                return 0; /* pure v1 */
        _cleanup_strv_ char **names = strv_split(controllers, " \n");
        for (char **n = names; n && *n; n++) {
                _cleanup_free_ char *rel = NULL;
                if (asprintf(&rel, "cgroup-v1-%s", *n) < 0)
                        return -ENOMEM;
                _cleanup_free_ char *target = fs_path_join(fx.dir, rel);
                if (fs_mkdir_p(target, 0755) < 0 || mount("cgroup", target, "cgroup", 0, *n) < 0) {
                        fprintf(stderr, "# cannot mount the '%s' controller as cgroup v1: %m\n", *n);
                        return -errno;
                }
                fprintf(stderr,
                        "# hybrid cgroups: '%s' mounted as a v1 hierarchy in the test's own "
                        "mount namespace, so crun accepts containers\n",
                        *n);
        }
        return 0;
}

static int group_setup(void **state)
{
        (void)state;
        const char *needed[] = { "crun", "runc" };
        for (size_t i = 0; i < ARRAY_SIZE(needed); i++) {
                _cleanup_free_ char *p = find_in_path(needed[i]);
                if (!p) {
                        fprintf(stderr, "# '%s' is not installed: this test needs it\n", needed[i]);
                        return -1;
                }
        }
        if (access("/bin/busybox", X_OK) < 0) {
                fprintf(stderr, "# /bin/busybox is missing (install busybox-static)\n");
                return -1;
        }
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                fprintf(stderr, "# cannot make a private mount namespace: %m\n");
                return -1;
        }
        char tmpl[] = "/tmp/ocid-test-oci-run-XXXXXX";
        if (!mkdtemp(tmpl))
                return -1;
        fx.dir = strdup(tmpl);
        fx.bundle = fs_path_join(fx.dir, "bundle");
        fx.rootfs = fs_path_join(fx.bundle, "rootfs");
        fx.host_rw = fs_path_join(fx.dir, "host-rw");
        fx.host_ro = fs_path_join(fx.dir, "host-ro");
        fx.host_rro = fs_path_join(fx.dir, "host-rro");
        const char *dirs[] = { "proc", "sys", "dev", "tmp", "etc", "rw", "ro", "rro" };
        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
                if (mkdir_in(fx.rootfs, dirs[i]) < 0)
                        return -1;
        _cleanup_free_ char *node = fs_path_join(fx.dir, "nodev");
        if (mknod(node, S_IFCHR | 0666, makedev(240, 0)) < 0)
                return -1;
        _cleanup_free_ char *bb = fs_path_join(fx.rootfs, "busybox");
        if (copy_file("/bin/busybox", bb, 0755) < 0)
                return -1;
        /* Each read-only source has a mount below it: "ro" leaves that one
         * writable, "rro" does not. Private to this namespace. */
        const char *hosts[] = { fx.host_rw, fx.host_ro, fx.host_rro };
        for (size_t i = 0; i < ARRAY_SIZE(hosts); i++) {
                if (mkdir_in(hosts[i], "sub") < 0)
                        return -1;
                _cleanup_free_ char *sub = fs_path_join(hosts[i], "sub");
                if (i > 0 && mount("tmpfs", sub, "tmpfs", 0, "size=1m") < 0)
                        return -1;
        }
        return fix_hybrid_cgroups() < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
        (void)state;
        if (!fx.dir)
                return 0;
        /* Unmount what the setup mounted (the namespace would drop it at
         * exit anyway), then remove the files. */
        umount2(fx.host_ro, MNT_DETACH);
        _cleanup_free_ char *s1 = fs_path_join(fx.host_ro, "sub");
        _cleanup_free_ char *s2 = fs_path_join(fx.host_rro, "sub");
        umount2(s1, MNT_DETACH);
        umount2(s2, MNT_DETACH);
        DIR *d = opendir(fx.dir);
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (strncmp(de->d_name, "cgroup-v1-", 10) == 0) {
                        _cleanup_free_ char *p = fs_path_join(fx.dir, de->d_name);
                        umount2(p, MNT_DETACH);
                }
        if (d)
                closedir(d);
        int r = fs_remove_tree(fx.dir);
        free(fx.dir);
        free(fx.bundle);
        free(fx.rootfs);
        free(fx.host_rw);
        free(fx.host_ro);
        free(fx.host_rro);
        return r;
}

/* Every directory a cgroup `path` would have in any mounted hierarchy:
 * the test fails if one exists after the runtime deleted the container. */
static void assert_no_cgroup_left(const char *cgpath)
{
        _cleanup_free_ char *mountinfo = NULL;
        size_t len;
        assert_int_equal(fs_read_file("/proc/self/mountinfo", 1 << 20, &mountinfo, &len), 0);
        _cleanup_strv_ char **lines = strv_split(mountinfo, "\n");
        for (char **l = lines; l && *l; l++) {
                /* "id parent maj:min root mountpoint opts ... - fstype source super" */
                if (!strstr(*l, " - cgroup ") && !strstr(*l, " - cgroup2 "))
                        continue;
                char mp[4096];
                if (sscanf(*l, "%*s %*s %*s %*s %4095s", mp) != 1)
                        continue;
                _cleanup_free_ char *p = fs_path_join(mp, cgpath);
                struct stat st;
                if (stat(p, &st) == 0) {
                        rmdir(p); /* leave nothing behind, then fail */
                        fail_msg("cgroup '%s' left behind", p);
                }
        }
}

typedef struct {
        int exit_code;
        char *out, *err;
} run_result;

static void run_result_free(run_result *r)
{
        free(r->out);
        free(r->err);
}

/* Generate the spec for s (rootfs and cgroupsPath filled in here), write
 * it to the bundle and `runtime run` it; then delete the container and
 * check its cgroups are gone. */
static run_result run_container(const char *runtime, container_spec *s)
{
        unsigned n = ++fx.seq;
        char id[96], cgpath[128];
        snprintf(id, sizeof(id), "ocid-test-%d-%s-%u", (int)getpid(), runtime, n);
        snprintf(cgpath, sizeof(cgpath), "/ocid-test-oci-run/%s", id);
        s->rootfs = fx.rootfs;
        s->cgroups_path = cgpath;

        _cleanup_(json_object_putp) json_object *spec = NULL;
        ocid_error err = OCID_ERROR_INIT;
        if (oci_spec_generate(s, &spec, &err) < 0)
                fail_msg("oci_spec_generate: %s", err.message);
        const char *text = json_object_to_json_string_ext(
                spec, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        _cleanup_free_ char *config = fs_path_join(fx.bundle, "config.json");
        assert_int_equal(fs_write_file_atomic(config, text, strlen(text), 0644), 0);

        _cleanup_free_ char *rel = NULL;
        assert_true(asprintf(&rel, "state-%s", runtime) > 0);
        _cleanup_free_ char *state = fs_path_join(fx.dir, rel);

        char *argv[] = { (char *)runtime, "--root", state, "run", "--bundle", fx.bundle, id, NULL };
        spawn_options o = { .argv = argv, .timeout_ms = 60000 };
        spawn_result res;
        int r = spawn_run(&o, &res);
        assert_int_equal(r, 0);

        char *del[] = { (char *)runtime, "--root", state, "delete", "--force", id, NULL };
        spawn_options od = { .argv = del, .timeout_ms = 30000 };
        spawn_result dres;
        if (spawn_run(&od, &dres) == 0)
                spawn_result_release(&dres);
        assert_no_cgroup_left(cgpath);

        if (res.timed_out || res.signaled)
                fail_msg("%s run: %s; stderr: %s", runtime,
                         res.timed_out ? "timed out" : "killed by a signal", res.err);
        run_result out = { res.exit_code, res.out, res.err };
        res.out = res.err = NULL;
        spawn_result_release(&res);
        return out;
}

/* Remove the per-test parent cgroup directories. */
static void remove_parent_cgroups(void)
{
        _cleanup_free_ char *mountinfo = NULL;
        size_t len;
        if (fs_read_file("/proc/self/mountinfo", 1 << 20, &mountinfo, &len) < 0)
                return;
        _cleanup_strv_ char **lines = strv_split(mountinfo, "\n");
        for (char **l = lines; l && *l; l++) {
                if (!strstr(*l, " - cgroup ") && !strstr(*l, " - cgroup2 "))
                        continue;
                char mp[4096];
                if (sscanf(*l, "%*s %*s %*s %*s %4095s", mp) != 1)
                        continue;
                _cleanup_free_ char *p = fs_path_join(mp, "ocid-test-oci-run");
                rmdir(p);
        }
}

static void expect_success(const char *runtime, container_spec *s, const char *want_out)
{
        run_result r = run_container(runtime, s);
        if (r.exit_code != 0)
                fail_msg("%s run exited %d; stdout: %s; stderr: %s", runtime, r.exit_code, r.out,
                         r.err);
        if (want_out && !STREQ(r.out, want_out))
                fail_msg("%s: stdout '%s', expected '%s' (stderr: %s)", runtime, r.out, want_out,
                         r.err);
        run_result_free(&r);
}

static container_spec base_spec(char *const *args)
{
        container_spec s = { 0 };
        s.args = args;
        s.cap_bounding = oci_current_bounding_set();
        s.hostname = "ocid-test";
        return s;
}

/* ---- cases, each run by both runtimes (state: the runtime's name) ---- */

static void test_true(void **state)
{
        char *args[] = { "/busybox", "true", NULL };
        container_spec s = base_spec(args);
        expect_success(*state, &s, "");
}

static void test_exit_code(void **state)
{
        char *args[] = { "/busybox", "sh", "-c", "exit 7", NULL };
        container_spec s = base_spec(args);
        run_result r = run_container(*state, &s);
        assert_int_equal(r.exit_code, 7);
        run_result_free(&r);
}

static void test_process_view(void **state)
{
        char *args[] = { "/busybox", "sh", "-c",
                         "/busybox grep -E '^(CapEff|CapBnd|CapInh|CapAmb|Seccomp|NoNewPrivs):' "
                         "/proc/self/status; /busybox cat /proc/self/oom_score_adj; "
                         "/busybox hostname; echo \"$A $PATH\"",
                         NULL };
        char *add[] = { "NET_ADMIN", NULL };
        char *drop[] = { "KILL", NULL };
        char *env[] = { "A=b c", NULL };
        container_spec s = base_spec(args);
        s.cap_add = add;
        s.cap_drop = drop;
        s.env = env;
        s.no_new_privs = true;
        s.has_oom_score_adj = true;
        s.oom_score_adj = 500;
        uint64_t caps = (oci_default_capabilities() | (UINT64_C(1) << 12)) & ~(UINT64_C(1) << 5);
        char want[1024];
        snprintf(want, sizeof(want),
                 "CapInh:\t0000000000000000\nCapEff:\t%016llx\nCapBnd:\t%016llx\n"
                 "CapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n500\nocid-test\n"
                 "b c /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
                 (unsigned long long)caps, (unsigned long long)caps);
        expect_success(*state, &s, want);
}

static void test_user(void **state)
{
        char *args[] = { "/busybox", "sh", "-c", "/busybox id -u; /busybox id -G", NULL };
        uint32_t gids[] = { 2000, 3000 };
        container_spec s = base_spec(args);
        s.uid = 1000;
        s.gid = 1000;
        s.additional_gids = gids;
        s.n_additional_gids = 2;
        expect_success(*state, &s, "1000\n1000 2000 3000\n");
}

static void test_privileged_all_caps(void **state)
{
        char *args[] = { "/busybox", "sh", "-c",
                         "/busybox grep -E '^(CapEff|Seccomp):' /proc/self/status", NULL };
        char *add[] = { "ALL", NULL };
        container_spec s = base_spec(args);
        s.privileged = true;
        s.cap_add = add;
        char want[256];
        snprintf(want, sizeof(want), "CapEff:\t%016llx\nSeccomp:\t0\n",
                 (unsigned long long)s.cap_bounding);
        expect_success(*state, &s, want);
}

static void test_add_all_unprivileged(void **state)
{
        char *args[] = { "/busybox", "sh", "-c",
                         "/busybox grep -E '^CapEff:' /proc/self/status", NULL };
        char *add[] = { "ALL", NULL };
        container_spec s = base_spec(args);
        s.cap_add = add;
        char want[256];
        snprintf(want, sizeof(want), "CapEff:\t%016llx\n", (unsigned long long)s.cap_bounding);
        expect_success(*state, &s, want);
}

static void test_mounts(void **state)
{
        char *args[] = { "/busybox", "sh", "-c",
                         "echo x > /rw/f && ! (echo y > /ro/f) 2>/dev/null && "
                         "echo z > /ro/sub/f && ! (echo w > /rro/sub/f) 2>/dev/null && "
                         "! (echo v > /rro/f) 2>/dev/null && echo ok",
                         NULL };
        oci_mount mounts[] = {
                { "/rw", fx.host_rw, false, false, PROPAGATION_PRIVATE, NULL, NULL },
                { "/ro", fx.host_ro, true, false, PROPAGATION_PRIVATE, NULL, NULL },
                { "/rro", fx.host_rro, true, true, PROPAGATION_PRIVATE, NULL, NULL },
                { "/tmp", NULL, false, false, PROPAGATION_PRIVATE, "tmpfs", "nosuid,size=1m" },
        };
        container_spec s = base_spec(args);
        s.mounts = mounts;
        s.n_mounts = ARRAY_SIZE(mounts);
        expect_success(*state, &s, "ok\n");
        _cleanup_free_ char *f = fs_path_join(fx.host_rw, "f");
        assert_int_equal(access(f, F_OK), 0);
        unlink(f);
}

static void test_readonly_rootfs(void **state)
{
        char *args[] = { "/busybox", "sh", "-c",
                         "! /busybox touch /newfile 2>/dev/null && /busybox touch /dev/shm/f && "
                         "! /busybox cat /proc/kcore 2>/dev/null | /busybox head -c1 | "
                         "/busybox grep -q . && echo ok",
                         NULL };
        container_spec s = base_spec(args);
        s.readonly_rootfs = true;
        expect_success(*state, &s, "ok\n");
}

static void test_seccomp_localhost(void **state)
{
        char *args[] = { "/busybox", "sh", "-c",
                         "! /busybox mkdir /tmp/d 2>/dev/null && /busybox touch /tmp/f && echo ok",
                         NULL };
        container_spec s = base_spec(args);
        s.no_new_privs = true;
        s.seccomp = SECCOMP_LOCALHOST;
        s.seccomp_profile = "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":"
                            "[\"mkdir\",\"mkdirat\"],\"action\":\"SCMP_ACT_ERRNO\","
                            "\"errnoRet\":13}]}";
        expect_success(*state, &s, "ok\n");
}

static void test_resources(void **state)
{
        char *args[] = { "/busybox", "sh", "-c",
                         fx.cgroup2_unified
                                 ? "/busybox cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.weight"
                                 : "/busybox cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                                   "/sys/fs/cgroup/cpu/cpu.shares",
                         NULL };
        container_spec s = base_spec(args);
        s.memory_limit = 64 << 20;
        s.cpu_shares = 512;
        /* cgroup v2 maps shares 512 to weight 20 (runc and crun alike). */
        expect_success(*state, &s, fx.cgroup2_unified ? "67108864\n20\n" : "67108864\n512\n");
}

static void test_devices(void **state)
{
        /* fx.dir/nodev is c 240:0, a number no driver has: opening it gives
         * ENXIO where the device cgroup lets the open through and EPERM
         * where it does not, so the two are told apart. A node made inside
         * the container for a device nobody allowed cannot be opened. */
        char *args[] = { "/busybox", "sh", "-c",
                         "echo x > /dev/extra-null && /busybox stat -c '%t:%T' /dev/extra-null && "
                         "(/busybox dd if=/dev/read-only count=0) 2>&1 | "
                         "/busybox grep -q 'No such device or address' && "
                         "(echo x > /dev/read-only) 2>&1 | /busybox grep -q 'not permitted' && "
                         "/busybox mknod /dev/made c 240 1 && "
                         "(/busybox dd if=/dev/made count=0) 2>&1 | /busybox grep -q 'not permitted' && "
                         "echo ok",
                         NULL };
        _cleanup_free_ char *node = fs_path_join(fx.dir, "nodev");
        oci_device devs[] = {
                { "/dev/extra-null", "/dev/null", "rwm" },
                { "/dev/read-only", node, "r" },
        };
        container_spec s = base_spec(args);
        s.devices = devs;
        s.n_devices = ARRAY_SIZE(devs);
        expect_success(*state, &s, "1:3\nok\n");
}

static int cleanup_cgroups(void **state)
{
        (void)state;
        remove_parent_cgroups();
        return 0;
}

#define BOTH(fn)                                                                               \
        cmocka_unit_test_prestate_setup_teardown(fn, NULL, cleanup_cgroups, (void *)"crun"),     \
                cmocka_unit_test_prestate_setup_teardown(fn, NULL, cleanup_cgroups, (void *)"runc")

int main(void)
{
        const struct CMUnitTest tests[] = {
                BOTH(test_true),
                BOTH(test_exit_code),
                BOTH(test_process_view),
                BOTH(test_user),
                BOTH(test_privileged_all_caps),
                BOTH(test_add_all_unprivileged),
                BOTH(test_mounts),
                BOTH(test_readonly_rootfs),
                BOTH(test_seccomp_localhost),
                BOTH(test_resources),
                BOTH(test_devices),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
