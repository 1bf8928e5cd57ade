/* OCI runtime spec (config.json) generation, runtime-spec 1.0.2 as runc and
 * crun read it. Defaults follow containerd's CRI plugin and moby (mounts,
 * masked and read-only paths, capabilities, device cgroup rules), so a pod
 * behaves here as it does on a containerd node. */
#include "runtime/oci_spec.h"

#include "util/cleanup.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#define OCI_VERSION "1.0.2"
#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define NOFILE_LIMIT UINT64_C(1048576)
#define SECCOMP_PROFILE_MAX (4u << 20)

DEFINE_CLEANUP_FUNC(json_object, json_object_put)

/* ---- capabilities ---- */

static const char *const cap_names[] = {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};

const char *oci_capability_name(unsigned cap)
{
        return cap < ARRAY_SIZE(cap_names) ? cap_names[cap] : NULL;
}

int oci_capability_from_name(const char *name)
{
        if (!name)
                return -EINVAL;
        if (strncasecmp(name, "CAP_", 4) == 0)
                name += 4;
        for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
                if (strcasecmp(name, cap_names[i] + 4) == 0)
                        return (int)i;
        return -EINVAL;
}

uint64_t oci_default_capabilities(void)
{
        static const char *const defaults[] = {
                "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
                "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",
                "AUDIT_WRITE",
        };
        uint64_t set = 0;
        for (size_t i = 0; i < ARRAY_SIZE(defaults); i++)
                set |= UINT64_C(1) << oci_capability_from_name(defaults[i]);
        return set;
}

static uint64_t bounding_set;
static pthread_once_t bounding_once = PTHREAD_ONCE_INIT;

static void read_bounding_set(void)
{
        for (int cap = 0; cap < 64; cap++) {
                int r = prctl(PR_CAPBSET_READ, (unsigned long)cap, 0, 0, 0);
                if (r < 0)
                        break; /* EINVAL: past the kernel's last capability */
                if (r > 0)
                        bounding_set |= UINT64_C(1) << cap;
        }
}

/* The daemon's bounding set does not change while it runs: read it once. */
uint64_t oci_current_bounding_set(void)
{
        pthread_once(&bounding_once, read_bounding_set);
        return bounding_set;
}

static bool is_all(const char *name)
{
        return strcasecmp(name, "ALL") == 0 || strcasecmp(name, "CAP_ALL") == 0;
}

/* Parse every name in v (except ALL) into a mask. */
static int caps_parse(char *const *v, const char *what, uint64_t *ret, ocid_error *err)
{
        uint64_t set = 0;
        for (char *const *p = v; p && *p; p++) {
                if (is_all(*p))
                        continue;
                int cap = oci_capability_from_name(*p);
                if (cap < 0)
                        return ocid_error_set(err, OCID_ERR_INVALID, "%s: unknown capability '%s'",
                                              what, *p);
                set |= UINT64_C(1) << cap;
        }
        *ret = set;
        return 0;
}

static bool strv_has_all(char *const *v)
{
        for (char *const *p = v; p && *p; p++)
                if (is_all(*p))
                        return true;
        return false;
}

int oci_capabilities_resolve(bool privileged, char *const *cap_add, char *const *cap_drop,
                             uint64_t bounding, uint64_t *ret, ocid_error *err)
{
        uint64_t add, drop;
        /* Names are checked even when privileged makes them moot: a typo is
         * a typo. */
        if (caps_parse(cap_add, "add capabilities", &add, err) < 0 ||
            caps_parse(cap_drop, "drop capabilities", &drop, err) < 0)
                return -1;
        if (privileged) {
                *ret = bounding;
                return 0;
        }
        uint64_t outside = add & ~bounding;
        if (outside) {
                int cap = __builtin_ctzll(outside);
                const char *name = oci_capability_name((unsigned)cap);
                return ocid_error_set(err, OCID_ERR_PRECONDITION,
                                      "add capabilities: '%s' is not in the bounding set of "
                                      "the runtime daemon",
                                      name ? name : "?");
        }
        /* ALL first, then the individual names, so that "add ALL, drop X"
         * and "drop ALL, add X" both mean what they say (kubernetes#51980;
         * containerd and CRI-O agree). */
        uint64_t set = oci_default_capabilities();
        if (strv_has_all(cap_add))
                set = bounding;
        if (strv_has_all(cap_drop))
                set = 0;
        set |= add;
        set &= ~drop;
        *ret = set & bounding;
        return 0;
}

static json_object *caps_to_json(uint64_t set)
{
        json_object *a = json_object_new_array();
        for (unsigned i = 0; i < 64; i++) {
                const char *name = oci_capability_name(i);
                if ((set & (UINT64_C(1) << i)) && name)
                        json_object_array_add(a, json_object_new_string(name));
        }
        return a;
}

/* ---- small helpers ---- */

static json_object *strv_to_json(char *const *v)
{
        json_object *a = json_object_new_array();
        for (char *const *p = v; p && *p; p++)
                json_object_array_add(a, json_object_new_string(*p));
        return a;
}

static void add_str(json_object *o, const char *key, const char *value)
{
        json_object_object_add(o, key, json_object_new_string(value));
}

/* Lexically clean an absolute path: no "//", ".", "..", or trailing "/". */
static char *path_clean(const char *path)
{
        size_t len = strlen(path);
        char *out = xcalloc(len + 2, 1);
        size_t o = 0;
        const char *p = path;
        while (*p) {
                while (*p == '/')
                        p++;
                const char *seg = p;
                while (*p && *p != '/')
                        p++;
                size_t n = (size_t)(p - seg);
                if (n == 0 || (n == 1 && seg[0] == '.'))
                        continue;
                if (n == 2 && seg[0] == '.' && seg[1] == '.') {
                        while (o > 0 && out[o - 1] != '/')
                                o--;
                        if (o > 0)
                                o--;
                        continue;
                }
                out[o++] = '/';
                memcpy(out + o, seg, n);
                o += n;
        }
        if (o == 0)
                out[o++] = '/';
        out[o] = '\0';
        return out;
}

static size_t path_depth(const char *clean)
{
        size_t d = 0;
        for (const char *p = clean; *p; p++)
                d += *p == '/';
        return STREQ(clean, "/") ? 0 : d;
}

/* ---- mounts ---- */

typedef struct {
        const char *destination, *type, *source;
        const char *options[8];
} default_mount;

static json_object *mount_json(const char *destination, const char *type, const char *source,
                               char **options)
{
        json_object *m = json_object_new_object();
        add_str(m, "destination", destination);
        add_str(m, "type", type);
        add_str(m, "source", source);
        json_object_object_add(m, "options", strv_to_json(options));
        return m;
}

static bool dest_given(char *const *given, const char *dest)
{
        if (strv_contains(given, dest))
                return true;
        /* A /dev of the caller's own replaces everything the runtime would
         * put inside ours. */
        return strncmp(dest, "/dev/", 5) == 0 && strv_contains(given, "/dev");
}

static void add_default_mounts(json_object *mounts, bool privileged, char *const *given)
{
        const char *ro = privileged ? "rw" : "ro";
        const default_mount defaults[] = {
                { "/proc", "proc", "proc", { "nosuid", "noexec", "nodev" } },
                { "/dev", "tmpfs", "tmpfs", { "nosuid", "strictatime", "mode=755", "size=65536k" } },
                { "/dev/pts", "devpts", "devpts",
                  { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" } },
                { "/dev/mqueue", "mqueue", "mqueue", { "nosuid", "noexec", "nodev" } },
                { "/sys", "sysfs", "sysfs", { "nosuid", "noexec", "nodev", ro } },
                { "/sys/fs/cgroup", "cgroup", "cgroup", { "nosuid", "noexec", "nodev", "relatime", ro } },
                { "/dev/shm", "tmpfs", "shm", { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" } },
        };
        for (size_t i = 0; i < ARRAY_SIZE(defaults); i++) {
                const default_mount *d = &defaults[i];
                if (dest_given(given, d->destination))
                        continue;
                json_object_array_add(mounts, mount_json(d->destination, d->type, d->source,
                                                         (char **)d->options));
        }
}

static const char *propagation_name(oci_propagation p)
{
        switch (p) {
        case PROPAGATION_HOST_TO_CONTAINER:
                return "rslave";
        case PROPAGATION_BIDIRECTIONAL:
                return "rshared";
        case PROPAGATION_PRIVATE:
        default:
                return "rprivate";
        }
}

typedef struct {
        const oci_mount *m;
        char *dest;     /* cleaned */
        size_t depth;
        size_t index;
} sorted_mount;

static int sorted_mount_cmp(const void *a, const void *b)
{
        const sorted_mount *x = a, *y = b;
        if (x->depth != y->depth)
                return x->depth < y->depth ? -1 : 1;
        return x->index < y->index ? -1 : x->index > y->index;
}

static int add_given_mount(json_object *mounts, const sorted_mount *s, oci_propagation *rootfs_prop,
                           ocid_error *err)
{
        const oci_mount *m = s->m;
        bool bind = !m->type || STREQ(m->type, "bind");
        const char *options[5] = { 0 };
        size_t n = 0;

        if (bind) {
                if (!m->host_path || m->host_path[0] != '/')
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "mount '%s': host path '%s' is not absolute",
                                              m->container_path,
                                              m->host_path ? m->host_path : "");
                if (m->recursive_readonly && !m->readonly)
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "mount '%s': recursive read-only needs read-only",
                                              m->container_path);
                if (m->recursive_readonly && m->propagation != PROPAGATION_PRIVATE)
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "mount '%s': recursive read-only needs private "
                                              "propagation",
                                              m->container_path);
                options[n++] = "rbind";
                options[n++] = propagation_name(m->propagation);
                if (m->propagation > *rootfs_prop)
                        *rootfs_prop = m->propagation;
        }
        options[n++] = m->readonly ? "ro" : "rw";
        if (m->recursive_readonly)
                options[n++] = "rro";
        const char *type = bind ? "bind" : m->type;
        const char *source = m->host_path && m->host_path[0] ? m->host_path : type;
        json_object *mj = mount_json(s->dest, type, source, (char **)options);
        /* Extra options appended one by one: the string may hold many. */
        json_object *opts = json_object_object_get(mj, "options");
        for (const char *p = m->options; p && *p;) {
                size_t len = strcspn(p, ",");
                if (len > 0)
                        json_object_array_add(opts, json_object_new_string_len(p, (int)len));
                p += len;
                if (*p == ',')
                        p++;
        }
        json_object_array_add(mounts, mj);
        return 0;
}

static int add_mounts(json_object *root, const container_spec *spec, json_object *linux_obj,
                      ocid_error *err)
{
        size_t n = spec->n_mounts;
        sorted_mount *sorted = xcalloc(n, sizeof(*sorted));
        /* Borrows the cleaned destinations in sorted[]. */
        _cleanup_free_ char **given = xcalloc(n + 1, sizeof(char *));
        int r = 0;

        for (size_t i = 0; i < n; i++) {
                const oci_mount *m = &spec->mounts[i];
                if (!m->container_path || m->container_path[0] != '/') {
                        r = ocid_error_set(err, OCID_ERR_INVALID,
                                           "mount '%s': container path is not absolute",
                                           m->container_path ? m->container_path : "");
                        n = i;
                        goto out;
                }
                sorted[i] = (sorted_mount){ m, path_clean(m->container_path), 0, i };
                sorted[i].depth = path_depth(sorted[i].dest);
                given[i] = sorted[i].dest;
        }
        /* Parents before children, otherwise as given. */
        if (n > 1)
                qsort(sorted, n, sizeof(*sorted), sorted_mount_cmp);

        json_object *mounts = json_object_new_array();
        json_object_object_add(root, "mounts", mounts);
        add_default_mounts(mounts, spec->privileged, given);

        oci_propagation rootfs_prop = PROPAGATION_PRIVATE;
        for (size_t i = 0; i < n; i++) {
                r = add_given_mount(mounts, &sorted[i], &rootfs_prop, err);
                if (r < 0)
                        goto out;
        }
        /* A slave or shared mount only receives events when the container's
         * root is itself slave or shared. */
        if (rootfs_prop != PROPAGATION_PRIVATE)
                add_str(linux_obj, "rootfsPropagation", propagation_name(rootfs_prop));
out:
        for (size_t i = 0; i < n; i++)
                free(sorted[i].dest);
        free(sorted);
        return r;
}

/* ---- devices ---- */

static json_object *device_rule(bool allow, const char *type, int64_t major, int64_t minor,
                                const char *access)
{
        json_object *d = json_object_new_object();
        json_object_object_add(d, "allow", json_object_new_boolean(allow));
        if (type)
                add_str(d, "type", type);
        if (major >= 0)
                json_object_object_add(d, "major", json_object_new_int64(major));
        if (minor >= 0)
                json_object_object_add(d, "minor", json_object_new_int64(minor));
        add_str(d, "access", access);
        return d;
}

static bool valid_permissions(const char *p)
{
        if (!*p || strlen(p) > 3)
                return false;
        for (const char *c = p; *c; c++)
                if (!strchr("rwm", *c) || strchr(c + 1, *c))
                        return false;
        return true;
}

static json_object *device_json(const char *path, const struct stat *st)
{
        json_object *dev = json_object_new_object();
        add_str(dev, "path", path);
        add_str(dev, "type", S_ISCHR(st->st_mode) ? "c" : "b");
        json_object_object_add(dev, "major", json_object_new_int64(major(st->st_rdev)));
        json_object_object_add(dev, "minor", json_object_new_int64(minor(st->st_rdev)));
        json_object_object_add(dev, "fileMode", json_object_new_int((int)(st->st_mode & 0777)));
        json_object_object_add(dev, "uid", json_object_new_int64(st->st_uid));
        json_object_object_add(dev, "gid", json_object_new_int64(st->st_gid));
        return dev;
}

static bool device_requested(const container_spec *spec, const char *path)
{
        for (size_t i = 0; i < spec->n_devices; i++)
                if (spec->devices[i].container_path && STREQ(spec->devices[i].container_path, path))
                        return true;
        return false;
}

/* A privileged container sees the host's devices, as on containerd and
 * CRI-O: every character and block device under /dev, except the
 * console and what the runtime mounts itself (pts, shm, mqueue) or what
 * is not a device tree (fd, hidden directories). */
static void add_host_devices(json_object *devices, const container_spec *spec, const char *dir, int depth)
{
        if (depth > 8)
                return;
        DIR *d = opendir(dir);
        if (!d)
                return;
        struct dirent *e;
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
                        abort();
                struct stat st;
                if (lstat(path, &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        if (depth > 0 || !(STREQ(e->d_name, "pts") || STREQ(e->d_name, "shm") ||
                                           STREQ(e->d_name, "mqueue") || STREQ(e->d_name, "fd")))
                                add_host_devices(devices, spec, path, depth + 1);
                        continue;
                }
                if ((!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) || STREQ(path, "/dev/console") ||
                    device_requested(spec, path))
                        continue;
                json_object_array_add(devices, device_json(path, &st));
        }
        closedir(d);
}

static int add_devices(json_object *linux_obj, json_object *resources, const container_spec *spec,
                       ocid_error *err)
{
        json_object *rules = json_object_new_array();
        json_object_object_add(resources, "devices", rules);
        json_object *devices = json_object_new_array();
        json_object_object_add(linux_obj, "devices", devices);

        if (spec->privileged) {
                json_object_array_add(rules, device_rule(true, NULL, -1, -1, "rwm"));
        } else {
                /* Deny all, then what every container needs. The runtime
                 * creates these nodes itself (runtime-spec "default
                 * devices"); the cgroup must still let them through. */
                json_object_array_add(rules, device_rule(false, NULL, -1, -1, "rwm"));
                json_object_array_add(rules, device_rule(true, "c", -1, -1, "m"));
                json_object_array_add(rules, device_rule(true, "b", -1, -1, "m"));
                static const struct { int major, minor; } std[] = {
                        { 1, 3 },       /* null */
                        { 1, 5 },       /* zero */
                        { 1, 7 },       /* full */
                        { 1, 8 },       /* random */
                        { 1, 9 },       /* urandom */
                        { 5, 0 },       /* tty */
                        { 5, 1 },       /* console */
                        { 5, 2 },       /* ptmx */
                        { 136, -1 },    /* pts/N */
                };
                for (size_t i = 0; i < ARRAY_SIZE(std); i++)
                        json_object_array_add(rules,
                                              device_rule(true, "c", std[i].major, std[i].minor, "rwm"));
        }

        for (size_t i = 0; i < spec->n_devices; i++) {
                const oci_device *d = &spec->devices[i];
                const char *perm = d->permissions && *d->permissions ? d->permissions : "rwm";
                if (!d->container_path || d->container_path[0] != '/')
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "device '%s': container path is not absolute",
                                              d->container_path ? d->container_path : "");
                if (!d->host_path || d->host_path[0] != '/')
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "device '%s': host path '%s' is not absolute",
                                              d->container_path, d->host_path ? d->host_path : "");
                if (!valid_permissions(perm))
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "device '%s': permissions '%s' are not a subset "
                                              "of 'rwm'",
                                              d->container_path, perm);
                struct stat st;
                if (stat(d->host_path, &st) < 0)
                        return ocid_error_set_errno(err,
                                                    errno == ENOENT ? OCID_ERR_NOT_FOUND
                                                                    : OCID_ERR_INVALID,
                                                    errno, "device '%s'", d->host_path);
                const char *type = S_ISCHR(st.st_mode) ? "c" : S_ISBLK(st.st_mode) ? "b" : NULL;
                if (!type)
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "device '%s': not a character or block device",
                                              d->host_path);
                int64_t major = major(st.st_rdev), minor = minor(st.st_rdev);
                json_object *dev = json_object_new_object();
                add_str(dev, "path", d->container_path);
                add_str(dev, "type", type);
                json_object_object_add(dev, "major", json_object_new_int64(major));
                json_object_object_add(dev, "minor", json_object_new_int64(minor));
                json_object_object_add(dev, "fileMode",
                                       json_object_new_int((int)(st.st_mode & 0777)));
                json_object_object_add(dev, "uid", json_object_new_int64(st.st_uid));
                json_object_object_add(dev, "gid", json_object_new_int64(st.st_gid));
                json_object_array_add(devices, dev);
                if (!spec->privileged)
                        json_object_array_add(rules, device_rule(true, type, major, minor, perm));
        }
        if (spec->privileged)
                add_host_devices(devices, spec, "/dev", 0);
        return 0;
}

/* ---- resources ---- */

/* "2MB", "1GB", "64KB": digits and a unit, as the kernel names page sizes
 * in hugetlb.<size>.limit_in_bytes. */
static bool valid_page_size(const char *s, size_t len)
{
        size_t digits = 0;
        while (digits < len && isdigit((unsigned char)s[digits]))
                digits++;
        if (digits == 0 || digits > 10 || len - digits != 2)
                return false;
        return s[len - 1] == 'B' && strchr("KMGT", s[len - 2]);
}

static int parse_u64(const char *s, uint64_t *ret)
{
        if (!isdigit((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int add_resources(json_object *resources, const container_spec *spec, ocid_error *err)
{
        json_object *cpu = json_object_new_object();
        if (spec->cpu_shares > 0)
                json_object_object_add(cpu, "shares", json_object_new_int64(spec->cpu_shares));
        if (spec->cpu_quota != 0)
                json_object_object_add(cpu, "quota", json_object_new_int64(spec->cpu_quota));
        if (spec->cpu_period > 0)
                json_object_object_add(cpu, "period", json_object_new_int64(spec->cpu_period));
        if (spec->cpuset_cpus && *spec->cpuset_cpus)
                add_str(cpu, "cpus", spec->cpuset_cpus);
        if (spec->cpuset_mems && *spec->cpuset_mems)
                add_str(cpu, "mems", spec->cpuset_mems);
        if (json_object_object_length(cpu) > 0)
                json_object_object_add(resources, "cpu", cpu);
        else
                json_object_put(cpu);

        json_object *memory = json_object_new_object();
        if (spec->memory_limit != 0)
                json_object_object_add(memory, "limit", json_object_new_int64(spec->memory_limit));
        if (spec->memory_swap_limit != 0)
                json_object_object_add(memory, "swap",
                                       json_object_new_int64(spec->memory_swap_limit));
        if (json_object_object_length(memory) > 0)
                json_object_object_add(resources, "memory", memory);
        else
                json_object_put(memory);

        if (spec->hugepage_limits && *spec->hugepage_limits) {
                json_object *limits = json_object_new_array();
                json_object_object_add(resources, "hugepageLimits", limits);
                for (char *const *p = spec->hugepage_limits; *p; p++) {
                        const char *eq = strchr(*p, '=');
                        uint64_t limit;
                        if (!eq || !valid_page_size(*p, (size_t)(eq - *p)) ||
                            parse_u64(eq + 1, &limit) < 0)
                                return ocid_error_set(err, OCID_ERR_INVALID,
                                                      "hugepage limit '%s': expected "
                                                      "'<size>=<bytes>' such as '2MB=1073741824'",
                                                      *p);
                        json_object *l = json_object_new_object();
                        json_object_object_add(l, "pageSize",
                                               json_object_new_string_len(*p, (int)(eq - *p)));
                        json_object_object_add(l, "limit", json_object_new_uint64(limit));
                        json_object_array_add(limits, l);
                }
        }

        if (spec->unified && *spec->unified) {
                json_object *unified = json_object_new_object();
                json_object_object_add(resources, "unified", unified);
                for (char *const *p = spec->unified; *p; p++) {
                        const char *eq = strchr(*p, '=');
                        if (!eq || eq == *p || memchr(*p, '/', (size_t)(eq - *p)))
                                return ocid_error_set(err, OCID_ERR_INVALID,
                                                      "unified resource '%s': expected "
                                                      "'<file>=<value>'",
                                                      *p);
                        _cleanup_free_ char *key = strndup(*p, (size_t)(eq - *p));
                        if (!key)
                                abort();
                        add_str(unified, key, eq + 1);
                }
        }
        return 0;
}

/* ---- namespaces ---- */

static int add_namespace(json_object *list, const char *type, const oci_namespace *ns,
                         ocid_error *err)
{
        if (ns->mode == NS_MODE_HOST)
                return 0;
        json_object *o = json_object_new_object();
        add_str(o, "type", type);
        json_object_array_add(list, o);
        if (ns->mode == NS_MODE_JOIN) {
                if (!ns->path || ns->path[0] != '/')
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "%s namespace: path to join '%s' is not absolute",
                                              type, ns->path ? ns->path : "");
                add_str(o, "path", ns->path);
        }
        return 0;
}

/* ---- seccomp ---- */

static int localhost_seccomp(const char *text, json_object **ret, ocid_error *err)
{
        if (!text)
                return ocid_error_set(err, OCID_ERR_INVALID, "seccomp: localhost profile missing");
        size_t len = strlen(text);
        if (len > SECCOMP_PROFILE_MAX)
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "seccomp: localhost profile is larger than %u bytes",
                                      SECCOMP_PROFILE_MAX);
        json_tokener *tok = json_tokener_new();
        if (!tok)
                abort();
        json_object *o = json_tokener_parse_ex(tok, text, (int)len);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t used = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        if (jerr != json_tokener_success) {
                json_object_put(o);
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "seccomp: localhost profile is not valid JSON: %s",
                                      jerr == json_tokener_continue
                                              ? "unexpected end of input"
                                              : json_tokener_error_desc(jerr));
        }
        for (; used < len; used++)
                if (!isspace((unsigned char)text[used])) {
                        json_object_put(o);
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "seccomp: localhost profile has trailing data");
                }
        json_object *action;
        if (!json_object_is_type(o, json_type_object) ||
            !json_object_object_get_ex(o, "defaultAction", &action) ||
            !json_object_is_type(action, json_type_string) ||
            json_object_get_string_len(action) == 0) {
                json_object_put(o);
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "seccomp: localhost profile is not an object with a "
                                      "\"defaultAction\"");
        }
        *ret = o;
        return 0;
}

/* ---- the spec ---- */

static json_object *default_masked_paths(void)
{
        static char *const paths[] = {
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/sys/devices/virtual/powercap",
                "/proc/scsi", NULL,
        };
        return strv_to_json(paths);
}

static json_object *default_readonly_paths(void)
{
        static char *const paths[] = {
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
        };
        return strv_to_json(paths);
}

static bool env_has_path(char *const *env)
{
        for (char *const *p = env; p && *p; p++)
                if (strncmp(*p, "PATH=", 5) == 0)
                        return true;
        return false;
}

static json_object *process_json(const container_spec *spec, uint64_t caps)
{
        json_object *proc = json_object_new_object();
        json_object_object_add(proc, "terminal", json_object_new_boolean(spec->tty));

        json_object *user = json_object_new_object();
        json_object_object_add(user, "uid", json_object_new_int64(spec->uid));
        json_object_object_add(user, "gid", json_object_new_int64(spec->gid));
        /* The primary group listed too: with setgroups() replacing the
         * supplementary list, leaving it out would let "deny by group"
         * permissions be bypassed (CVE-2023-25173). */
        json_object *gids = json_object_new_array();
        json_object_array_add(gids, json_object_new_int64(spec->gid));
        for (size_t i = 0; i < spec->n_additional_gids; i++) {
                bool seen = spec->additional_gids[i] == spec->gid;
                for (size_t j = 0; j < i && !seen; j++)
                        seen = spec->additional_gids[j] == spec->additional_gids[i];
                if (!seen)
                        json_object_array_add(gids,
                                              json_object_new_int64(spec->additional_gids[i]));
        }
        json_object_object_add(user, "additionalGids", gids);
        json_object_object_add(proc, "user", user);

        json_object_object_add(proc, "args", strv_to_json(spec->args));
        json_object *env = strv_to_json(spec->env);
        if (!env_has_path(spec->env))
                json_object_array_add(env, json_object_new_string(DEFAULT_PATH));
        json_object_object_add(proc, "env", env);
        add_str(proc, "cwd", spec->cwd && *spec->cwd ? spec->cwd : "/");

        json_object *c = json_object_new_object();
        json_object_object_add(c, "bounding", caps_to_json(caps));
        json_object_object_add(c, "effective", caps_to_json(caps));
        json_object_object_add(c, "permitted", caps_to_json(caps));
        json_object_object_add(proc, "capabilities", c);

        /* The runtime raises the limit before dropping privileges, so it can
         * not go past the daemon's own hard limit. */
        uint64_t nofile = NOFILE_LIMIT;
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
            rl.rlim_max < nofile)
                nofile = rl.rlim_max;
        json_object *rlimit = json_object_new_object();
        add_str(rlimit, "type", "RLIMIT_NOFILE");
        json_object_object_add(rlimit, "hard", json_object_new_uint64(nofile));
        json_object_object_add(rlimit, "soft", json_object_new_uint64(nofile));
        json_object *rlimits = json_object_new_array();
        json_object_array_add(rlimits, rlimit);
        json_object_object_add(proc, "rlimits", rlimits);

        json_object_object_add(proc, "noNewPrivileges", json_object_new_boolean(spec->no_new_privs));
        if (spec->has_oom_score_adj)
                json_object_object_add(proc, "oomScoreAdj", json_object_new_int(spec->oom_score_adj));
        if (spec->apparmor_profile && *spec->apparmor_profile)
                add_str(proc, "apparmorProfile", spec->apparmor_profile);
        return proc;
}

static int check_args(const container_spec *spec, ocid_error *err)
{
        if (!spec->args || !spec->args[0] || !spec->args[0][0])
                return ocid_error_set(err, OCID_ERR_INVALID, "no command to run");
        if (!spec->rootfs || !*spec->rootfs)
                return ocid_error_set(err, OCID_ERR_INVALID, "no root filesystem");
        if (spec->cwd && *spec->cwd && spec->cwd[0] != '/')
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "working directory '%s' is not absolute", spec->cwd);
        return 0;
}

static int add_annotations(json_object *root, char *const *annotations, ocid_error *err)
{
        if (!annotations || !*annotations)
                return 0;
        json_object *a = json_object_new_object();
        json_object_object_add(root, "annotations", a);
        for (char *const *p = annotations; *p; p++) {
                const char *eq = strchr(*p, '=');
                if (!eq || eq == *p)
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "annotation '%s': expected 'key=value'", *p);
                _cleanup_free_ char *key = strndup(*p, (size_t)(eq - *p));
                if (!key)
                        abort();
                add_str(a, key, eq + 1);
        }
        return 0;
}

int oci_spec_generate(const container_spec *spec, json_object **ret, ocid_error *err)
{
        if (check_args(spec, err) < 0)
                return -1;
        uint64_t caps;
        if (oci_capabilities_resolve(spec->privileged, spec->cap_add, spec->cap_drop,
                                     spec->cap_bounding, &caps, err) < 0)
                return -1;

        _cleanup_(json_object_putp) json_object *root = json_object_new_object();
        add_str(root, "ociVersion", OCI_VERSION);
        json_object_object_add(root, "process", process_json(spec, caps));

        json_object *r = json_object_new_object();
        add_str(r, "path", spec->rootfs);
        json_object_object_add(r, "readonly", json_object_new_boolean(spec->readonly_rootfs));
        json_object_object_add(root, "root", r);

        if (spec->uts.mode != NS_MODE_HOST && spec->hostname && *spec->hostname)
                add_str(root, "hostname", spec->hostname);

        json_object *linux_obj = json_object_new_object();
        if (add_mounts(root, spec, linux_obj, err) < 0) {
                json_object_put(linux_obj);
                return -1;
        }
        json_object_object_add(root, "linux", linux_obj);

        json_object *resources = json_object_new_object();
        json_object_object_add(linux_obj, "resources", resources);
        if (add_devices(linux_obj, resources, spec, err) < 0 ||
            add_resources(resources, spec, err) < 0)
                return -1;
        if (spec->cgroups_path && *spec->cgroups_path)
                add_str(linux_obj, "cgroupsPath", spec->cgroups_path);

        json_object *ns = json_object_new_array();
        json_object_object_add(linux_obj, "namespaces", ns);
        if (add_namespace(ns, "pid", &spec->pid, err) < 0 ||
            add_namespace(ns, "network", &spec->net, err) < 0 ||
            add_namespace(ns, "ipc", &spec->ipc, err) < 0 ||
            add_namespace(ns, "uts", &spec->uts, err) < 0)
                return -1;
        /* Always a mount namespace of its own: the rootfs is set up in it. */
        add_namespace(ns, "mount", &(oci_namespace){ NS_MODE_NEW, NULL }, err);

        if (!spec->privileged) {
                json_object_object_add(linux_obj, "maskedPaths",
                                       spec->masked_paths ? strv_to_json(spec->masked_paths)
                                                          : default_masked_paths());
                json_object_object_add(linux_obj, "readonlyPaths",
                                       spec->readonly_paths ? strv_to_json(spec->readonly_paths)
                                                            : default_readonly_paths());
                json_object *seccomp = NULL;
                if (spec->seccomp == SECCOMP_RUNTIME_DEFAULT)
                        seccomp = oci_seccomp_profile(caps);
                else if (spec->seccomp == SECCOMP_LOCALHOST &&
                         localhost_seccomp(spec->seccomp_profile, &seccomp, err) < 0)
                        return -1;
                if (seccomp)
                        json_object_object_add(linux_obj, "seccomp", seccomp);
        }

        if (add_annotations(root, spec->annotations, err) < 0)
                return -1;
        *ret = TAKE_PTR(root);
        return 0;
}

/* ---- args and env ---- */

int oci_resolve_args(char *const *image_entrypoint, char *const *image_cmd, char *const *command,
                     char *const *args, char ***ret, ocid_error *err)
{
        char *const *first = command && *command ? command : image_entrypoint;
        char *const *second = command && *command ? args : (args && *args ? args : image_cmd);
        size_t n1 = strv_length(first), n2 = strv_length(second);
        _cleanup_strv_ char **out = xcalloc(n1 + n2 + 1, sizeof(char *));
        for (size_t i = 0; i < n1; i++)
                out[i] = xstrdup(first[i]);
        for (size_t i = 0; i < n2; i++)
                out[n1 + i] = xstrdup(second[i]);
        if (!out[0])
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "no command specified: neither the container nor the "
                                      "image gives one");
        if (!out[0][0])
                return ocid_error_set(err, OCID_ERR_INVALID, "the command to run is ''");
        *ret = TAKE_PTR(out);
        return 0;
}

static uint64_t env_key_hash(const char *s, size_t len)
{
        uint64_t h = UINT64_C(1469598103934665603);
        for (size_t i = 0; i < len; i++) {
                h ^= (unsigned char)s[i];
                h *= UINT64_C(1099511628211);
        }
        return h;
}

char **oci_merge_env(char *const *image_env, char *const *cri_env)
{
        size_t total = strv_length(image_env) + strv_length(cri_env);
        char **out = xcalloc(total + 1, sizeof(char *));
        size_t n = 0;
        /* Open addressing over indexes into out (+1; 0 is empty), at most
         * half full. */
        size_t cap = 16;
        while (cap < total * 2)
                cap <<= 1;
        size_t *slots = xcalloc(cap, sizeof(size_t));

        char *const *lists[2] = { image_env, cri_env };
        for (int l = 0; l < 2; l++) {
                for (char *const *p = lists[l]; p && *p; p++) {
                        size_t klen = strcspn(*p, "=");
                        size_t i = (size_t)env_key_hash(*p, klen) & (cap - 1);
                        for (;; i = (i + 1) & (cap - 1)) {
                                if (slots[i] == 0) {
                                        out[n] = xstrdup(*p);
                                        slots[i] = ++n;
                                        break;
                                }
                                char *cur = out[slots[i] - 1];
                                if (strcspn(cur, "=") == klen && memcmp(cur, *p, klen) == 0) {
                                        free(cur);
                                        out[slots[i] - 1] = xstrdup(*p);
                                        break;
                                }
                        }
                }
        }
        free(slots);
        return out;
}

/* ---- /etc/passwd and /etc/group ---- */

/* Split line into at most max fields at ':', the last one taking the rest
 * of the line; returns the count. */
static size_t split_fields(const char *line, size_t len, const char **f, size_t *flen, size_t max)
{
        size_t n = 0;
        const char *start = line, *end = line + len;
        while (n < max) {
                const char *c = n + 1 < max ? memchr(start, ':', (size_t)(end - start)) : NULL;
                const char *stop = c ? c : end;
                f[n] = start;
                flen[n] = (size_t)(stop - start);
                n++;
                if (!c)
                        break;
                start = c + 1;
        }
        return n;
}

/* A decimal id below 2^32-1 ((uid_t)-1 means "no change" to the kernel). */
static int parse_id(const char *s, size_t len, uint32_t *ret)
{
        if (len == 0 || len > 10)
                return -EINVAL;
        uint64_t v = 0;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        if (v >= UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t)v;
        return 0;
}

static size_t trim_line(const char *line, size_t len)
{
        if (len > 0 && line[len - 1] == '\r')
                len--;
        return len;
}

static bool skippable(const char *line, size_t len)
{
        return len == 0 || line[0] == '#' || line[0] == '+' || line[0] == '-';
}

int oci_passwd_parse_line(const char *line, size_t len, oci_passwd_entry *ret)
{
        len = trim_line(line, len);
        if (skippable(line, len))
                return -EINVAL;
        const char *f[5];
        size_t fl[5];
        if (split_fields(line, len, f, fl, 5) < 4 || fl[0] == 0)
                return -EINVAL;
        oci_passwd_entry e = { f[0], fl[0], 0, 0 };
        if (parse_id(f[2], fl[2], &e.uid) < 0 || parse_id(f[3], fl[3], &e.gid) < 0)
                return -EINVAL;
        *ret = e;
        return 0;
}

int oci_group_parse_line(const char *line, size_t len, oci_group_entry *ret)
{
        len = trim_line(line, len);
        if (skippable(line, len))
                return -EINVAL;
        const char *f[4];
        size_t fl[4];
        size_t n = split_fields(line, len, f, fl, 4);
        if (n < 3 || fl[0] == 0)
                return -EINVAL;
        oci_group_entry e = { f[0], fl[0], 0, NULL, 0 };
        if (parse_id(f[2], fl[2], &e.gid) < 0)
                return -EINVAL;
        if (n == 4) {
                /* The member list is the last field: a ':' inside it is
                 * malformed, not a fifth field to ignore. */
                if (memchr(f[3], ':', fl[3]))
                        return -EINVAL;
                e.members = f[3];
                e.members_len = fl[3];
        }
        *ret = e;
        return 0;
}

bool oci_group_has_member(const oci_group_entry *g, const char *user, size_t user_len)
{
        if (!g->members || user_len == 0)
                return false;
        const char *p = g->members, *end = g->members + g->members_len;
        while (p < end) {
                const char *c = memchr(p, ',', (size_t)(end - p));
                const char *stop = c ? c : end;
                if ((size_t)(stop - p) == user_len && memcmp(p, user, user_len) == 0)
                        return true;
                p = stop + 1;
        }
        return false;
}

/* Call fn on each line of text (without its '\n'); stop when fn returns
 * non-zero and return that. */
static int for_each_line(const char *text, size_t len, int (*fn)(const char *, size_t, void *),
                         void *data)
{
        const char *p = text, *end = text ? text + len : NULL;
        while (p && p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                const char *stop = nl ? nl : end;
                int r = fn(p, (size_t)(stop - p), data);
                if (r)
                        return r;
                p = stop + 1;
        }
        return 0;
}

typedef struct {
        const char *name;       /* by name when set, else by uid */
        size_t name_len;
        uint32_t uid;
        oci_passwd_entry found;
} passwd_query;

static int passwd_match(const char *line, size_t len, void *data)
{
        passwd_query *q = data;
        oci_passwd_entry e;
        if (oci_passwd_parse_line(line, len, &e) < 0)
                return 0;
        if (q->name ? e.name_len == q->name_len && memcmp(e.name, q->name, e.name_len) == 0
                    : e.uid == q->uid) {
                q->found = e;
                return 1;
        }
        return 0;
}

typedef struct {
        const char *name;
        size_t name_len;
        uint32_t gid;
} group_query;

static int group_match(const char *line, size_t len, void *data)
{
        group_query *q = data;
        oci_group_entry e;
        if (oci_group_parse_line(line, len, &e) < 0)
                return 0;
        if (e.name_len == q->name_len && memcmp(e.name, q->name, e.name_len) == 0) {
                q->gid = e.gid;
                return 1;
        }
        return 0;
}

typedef struct {
        const char *user;
        size_t user_len;
        uint32_t *gids;
        size_t n, alloc;
        bool too_many;
} member_query;

static int member_match(const char *line, size_t len, void *data)
{
        member_query *q = data;
        oci_group_entry e;
        if (oci_group_parse_line(line, len, &e) < 0 ||
            !oci_group_has_member(&e, q->user, q->user_len))
                return 0;
        for (size_t i = 0; i < q->n; i++)
                if (q->gids[i] == e.gid)
                        return 0;
        if (q->n == OCI_MAX_GROUPS) {
                q->too_many = true;
                return 1;
        }
        if (q->n == q->alloc) {
                q->alloc = q->alloc ? q->alloc * 2 : 8;
                q->gids = realloc(q->gids, q->alloc * sizeof(uint32_t));
                if (!q->gids)
                        abort();
        }
        q->gids[q->n++] = e.gid;
        return 0;
}

static bool all_digits(const char *s, size_t len)
{
        if (len == 0)
                return false;
        for (size_t i = 0; i < len; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

int oci_resolve_user_text(const char *passwd, size_t passwd_len, const char *group,
                          size_t group_len, const char *user, uint32_t *ret_uid,
                          uint32_t *ret_gid, uint32_t **ret_groups, size_t *ret_n_groups,
                          ocid_error *err)
{
        if (!user || !*user)
                user = "0";
        const char *colon = strchr(user, ':');
        size_t ulen = colon ? (size_t)(colon - user) : strlen(user);
        const char *grp = colon ? colon + 1 : NULL;
        size_t glen = grp ? strlen(grp) : 0;

        if (ulen == 0 || (grp && (glen == 0 || strchr(grp, ':'))))
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "user '%s': expected 'user', 'user:group' or 'uid:gid'",
                                      user);

        uint32_t uid = 0, gid = 0;
        const char *name = NULL;        /* for the supplementary groups */
        size_t name_len = 0;
        if (all_digits(user, ulen)) {
                if (parse_id(user, ulen, &uid) < 0)
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "user '%.*s': uid out of range", (int)ulen, user);
                passwd_query q = { NULL, 0, uid, { 0 } };
                if (for_each_line(passwd, passwd_len, passwd_match, &q)) {
                        gid = q.found.gid;
                        name = q.found.name;
                        name_len = q.found.name_len;
                }
        } else {
                passwd_query q = { user, ulen, 0, { 0 } };
                if (!for_each_line(passwd, passwd_len, passwd_match, &q))
                        return ocid_error_set(err, OCID_ERR_NOT_FOUND,
                                              "user '%.*s' not found in the image's /etc/passwd",
                                              (int)ulen, user);
                uid = q.found.uid;
                gid = q.found.gid;
                name = user;
                name_len = ulen;
        }

        if (grp) {
                if (all_digits(grp, glen)) {
                        if (parse_id(grp, glen, &gid) < 0)
                                return ocid_error_set(err, OCID_ERR_INVALID,
                                                      "group '%s': gid out of range", grp);
                } else {
                        group_query q = { grp, glen, 0 };
                        if (!for_each_line(group, group_len, group_match, &q))
                                return ocid_error_set(err, OCID_ERR_NOT_FOUND,
                                                      "group '%s' not found in the image's "
                                                      "/etc/group",
                                                      grp);
                        gid = q.gid;
                }
        }

        member_query m = { name, name_len, NULL, 0, 0, false };
        if (name)
                for_each_line(group, group_len, member_match, &m);
        if (m.too_many) {
                free(m.gids);
                return ocid_error_set(err, OCID_ERR_RESOURCE,
                                      "user '%.*s' is a member of more than %u groups",
                                      (int)name_len, name, OCI_MAX_GROUPS);
        }
        *ret_uid = uid;
        *ret_gid = gid;
        *ret_groups = m.gids;
        *ret_n_groups = m.n;
        return 0;
}

/* Read rootfs/rel without leaving rootfs: symlinks and ".." resolve as if
 * rootfs were "/". A missing file gives *ret NULL. */
static int read_in_root(int rootfd, const char *rel, char **ret, size_t *ret_len)
{
        struct open_how how = {
                .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        _cleanup_close_ int fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
        if (fd < 0) {
                if (errno == ENOENT || errno == ENOTDIR) {
                        *ret = NULL;
                        *ret_len = 0;
                        return 0;
                }
                return -errno;
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        /* A FIFO or device would block or stream forever. */
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t)st.st_size > OCI_PASSWD_MAX_SIZE)
                return -EFBIG;
        size_t alloc = (size_t)st.st_size + 1, len = 0;
        _cleanup_free_ char *buf = xcalloc(alloc, 1);
        for (;;) {
                if (len + 1 == alloc) {
                        /* It grew since fstat. */
                        if (alloc > OCI_PASSWD_MAX_SIZE)
                                return -EFBIG;
                        alloc *= 2;
                        char *nb = realloc(buf, alloc);
                        if (!nb)
                                abort();
                        buf = nb;
                }
                ssize_t n = read(fd, buf + len, alloc - len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

static int read_error(int r, const char *file, const char *rootfs, ocid_error *err)
{
        if (r == -EBADFD)
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "%s of '%s' is not a regular file", file, rootfs);
        if (r == -EFBIG)
                return ocid_error_set(err, OCID_ERR_INVALID, "%s of '%s' is larger than %u bytes",
                                      file, rootfs, OCI_PASSWD_MAX_SIZE);
        return ocid_error_set_errno(err, OCID_ERR_INTERNAL, r, "read %s of '%s'", file, rootfs);
}

int oci_resolve_user(const char *rootfs, const char *user, uint32_t *ret_uid, uint32_t *ret_gid,
                     uint32_t **ret_groups, size_t *ret_n_groups, ocid_error *err)
{
        _cleanup_close_ int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return ocid_error_set_errno(err,
                                            errno == ENOENT ? OCID_ERR_NOT_FOUND : OCID_ERR_INTERNAL,
                                            errno, "root filesystem '%s'", rootfs);
        _cleanup_free_ char *passwd = NULL, *group = NULL;
        size_t passwd_len = 0, group_len = 0;
        int r = read_in_root(rootfd, "etc/passwd", &passwd, &passwd_len);
        if (r < 0)
                return read_error(r, "/etc/passwd", rootfs, err);
        r = read_in_root(rootfd, "etc/group", &group, &group_len);
        if (r < 0)
                return read_error(r, "/etc/group", rootfs, err);
        return oci_resolve_user_text(passwd, passwd_len, group, group_len, user, ret_uid, ret_gid,
                                     ret_groups, ret_n_groups, err);
}
