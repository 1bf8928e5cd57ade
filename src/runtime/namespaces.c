#include "runtime/namespaces.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>

static const struct {
        unsigned kind;
        const char *name;
        int clone_flag;
} kinds_table[] = {
        { NS_NET, "net", CLONE_NEWNET },
        { NS_IPC, "ipc", CLONE_NEWIPC },
        { NS_UTS, "uts", CLONE_NEWUTS },
};

char *ns_path(const char *dir, unsigned kind)
{
        for (size_t i = 0; i < ARRAY_SIZE(kinds_table); i++)
                if (kinds_table[i].kind == kind)
                        return fs_path_join(dir, kinds_table[i].name);
        return NULL;
}

unsigned ns_sysctl_kind(const char *key)
{
        static const char *const ipc_prefixes[] = { "kernel.shm", "kernel.msg", "fs.mqueue." };
        if (STREQ(key, "kernel.sem"))
                return NS_IPC;
        for (size_t i = 0; i < ARRAY_SIZE(ipc_prefixes); i++)
                if (strncmp(key, ipc_prefixes[i], strlen(ipc_prefixes[i])) == 0)
                        return NS_IPC;
        if (STREQ(key, "kernel.hostname") || STREQ(key, "kernel.domainname"))
                return NS_UTS;
        if (strncmp(key, "net.", 4) == 0)
                return NS_NET;
        return 0;
}

typedef struct {
        const char *dir;
        unsigned kinds;
        const char *hostname;
        char *const *sysctls;
        ocid_error *err;
        int result;
} pin_job;

static int write_sysctl(const char *assignment, ocid_error *err)
{
        const char *eq = strchr(assignment, '=');
        if (!eq)
                return ocid_error_set(err, OCID_ERR_INVALID, "sysctl '%s': expected key=value", assignment);
        _cleanup_free_ char *key = strndup(assignment, (size_t)(eq - assignment));
        if (strstr(key, "..") || strchr(key, '/'))
                return ocid_error_set(err, OCID_ERR_INVALID, "sysctl '%s': invalid name", key);
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "/proc/sys/%s", key) < 0)
                abort();
        for (char *p = path + 10; *p; p++)
                if (*p == '.')
                        *p = '/';
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return ocid_error_set_errno(err, OCID_ERR_INVALID, errno, "sysctl '%s'", key);
        size_t n = strlen(eq + 1);
        if (write(fd, eq + 1, n) != (ssize_t)n)
                return ocid_error_set_errno(err, OCID_ERR_INVALID, errno, "sysctl '%s' = '%s'", key, eq + 1);
        return 0;
}

/* A new network namespace has its loopback down; pods expect it up
 * whatever the CNI chain does (other runtimes do this too). */
static int loopback_up(ocid_error *err)
{
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr = { .ifr_name = "lo" };
        if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "loopback");
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot bring up loopback");
        return 0;
}

/* Runs on its own thread: unshare applies to the calling thread only, and
 * the thread's end leaves the daemon's other threads untouched. */
static void *pin_thread(void *arg)
{
        pin_job *job = arg;
        int flags = 0;
        for (size_t i = 0; i < ARRAY_SIZE(kinds_table); i++)
                if (job->kinds & kinds_table[i].kind)
                        flags |= kinds_table[i].clone_flag;
        if (unshare(flags) < 0) {
                job->result = ocid_error_set_errno(job->err, OCID_ERR_INTERNAL, errno,
                                                   "cannot create namespaces");
                return NULL;
        }
        if ((job->kinds & NS_NET) && (job->result = loopback_up(job->err)) < 0)
                return NULL;
        if ((job->kinds & NS_UTS) && job->hostname && *job->hostname &&
            sethostname(job->hostname, strlen(job->hostname)) < 0) {
                job->result = ocid_error_set_errno(job->err, OCID_ERR_INVALID, errno,
                                                   "cannot set hostname '%s'", job->hostname);
                return NULL;
        }
        /* /proc/sys reaches the namespaces of the task that opens it. */
        for (size_t i = 0; job->sysctls && job->sysctls[i]; i++)
                if ((job->result = write_sysctl(job->sysctls[i], job->err)) < 0)
                        return NULL;
        for (size_t i = 0; i < ARRAY_SIZE(kinds_table); i++) {
                if (!(job->kinds & kinds_table[i].kind))
                        continue;
                _cleanup_free_ char *target = fs_path_join(job->dir, kinds_table[i].name);
                _cleanup_free_ char *source = NULL;
                if (asprintf(&source, "/proc/thread-self/ns/%s", kinds_table[i].name) < 0)
                        abort();
                _cleanup_close_ int fd = open(target, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
                if (fd < 0 || mount(source, target, NULL, MS_BIND, NULL) < 0) {
                        job->result = ocid_error_set_errno(job->err, OCID_ERR_INTERNAL, errno,
                                                           "cannot pin %s", target);
                        return NULL;
                }
        }
        return NULL;
}

int ns_pin(const char *dir, unsigned kinds, const char *hostname, char *const *sysctls,
           ocid_error *err)
{
        for (size_t i = 0; sysctls && sysctls[i]; i++) {
                _cleanup_free_ char *key = strndup(sysctls[i], strcspn(sysctls[i], "="));
                unsigned kind = ns_sysctl_kind(key);
                if (!kind)
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "sysctl '%s' is not namespaced and cannot be set for a pod", key);
                if (!(kind & kinds))
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "sysctl '%s' needs the pod's own %s namespace", key,
                                              kind == NS_NET ? "network" : kind == NS_IPC ? "IPC" : "UTS");
        }
        if (!kinds)
                return 0;
        pin_job job = { .dir = dir, .kinds = kinds, .hostname = hostname, .sysctls = sysctls, .err = err };
        pthread_t thread;
        int r = pthread_create(&thread, NULL, pin_thread, &job);
        if (r != 0)
                return ocid_error_set_errno(err, OCID_ERR_RESOURCE, r, "cannot start a thread");
        pthread_join(thread, NULL);
        if (job.result < 0) {
                ns_unpin(dir, NULL);
                return -1;
        }
        return 0;
}

int ns_unpin(const char *dir, ocid_error *err)
{
        int r = 0;
        for (size_t i = 0; i < ARRAY_SIZE(kinds_table); i++) {
                _cleanup_free_ char *path = fs_path_join(dir, kinds_table[i].name);
                if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT && r == 0)
                        r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot unmount %s", path);
                if (unlink(path) < 0 && errno != ENOENT && r == 0)
                        r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot remove %s", path);
        }
        return r;
}

typedef struct {
        const char *netns;
        uint16_t port;
        int fd;
        int error;
} dial_job;

static int connect_localhost(int family, uint16_t port, int *ret_errno)
{
        struct sockaddr_storage ss = { 0 };
        socklen_t len;
        if (family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *)&ss;
                a->sin_family = AF_INET;
                a->sin_port = htons(port);
                a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                len = sizeof(*a);
        } else {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
                a->sin6_family = AF_INET6;
                a->sin6_port = htons(port);
                a->sin6_addr = in6addr_loopback;
                len = sizeof(*a);
        }
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                *ret_errno = errno;
                return -1;
        }
        struct timeval tv = { .tv_sec = 10 };
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
                *ret_errno = errno;
                close(fd);
                return -1;
        }
        return fd;
}

/* On its own thread: setns applies to the calling thread only, and a
 * socket stays in the namespace it was made in. */
static void *dial_thread(void *arg)
{
        dial_job *job = arg;
        if (job->netns) {
                _cleanup_close_ int ns = open(job->netns, O_RDONLY | O_CLOEXEC);
                if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
                        job->error = errno;
                        return NULL;
                }
        }
        int e4 = 0, e6 = 0;
        job->fd = connect_localhost(AF_INET, job->port, &e4);
        if (job->fd < 0)
                job->fd = connect_localhost(AF_INET6, job->port, &e6);
        if (job->fd < 0)
                job->error = e4;
        return NULL;
}

int ns_dial_localhost(const char *netns_path, uint16_t port, int *ret_fd, ocid_error *err)
{
        dial_job job = { .netns = netns_path, .port = port, .fd = -1 };
        pthread_t thread;
        int r = pthread_create(&thread, NULL, dial_thread, &job);
        if (r != 0)
                return ocid_error_set_errno(err, OCID_ERR_RESOURCE, r, "cannot start a thread");
        pthread_join(thread, NULL);
        if (job.fd < 0)
                return ocid_error_set_errno(err, OCID_ERR_UNAVAILABLE, job.error,
                                            "cannot connect to localhost:%u", port);
        fcntl(job.fd, F_SETFL, O_NONBLOCK);
        *ret_fd = job.fd;
        return 0;
}
