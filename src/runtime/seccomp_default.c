/* The RuntimeDefault seccomp profile: the same policy as moby's and
 * containerd's default profile (profiles/seccomp/default.json), written as C
 * tables. Deny with EPERM by default; allow the syscalls ordinary programs
 * need; allow the privileged ones only when the container holds the
 * capability that guards them in the kernel anyway (mount with
 * CAP_SYS_ADMIN, ptrace with CAP_SYS_PTRACE...), so adding a capability in
 * the pod spec is enough to make it usable.
 *
 * Deviations from the moby file, all deliberate:
 *  - only this build's architectures are listed (x86_64 + x86 + x32, or
 *    aarch64 + arm): listing foreign ones makes every runtime compile a
 *    bigger filter for syscalls that can never arrive;
 *  - the "minKernel 4.8" condition on ptrace is dropped: ocid needs 5.6+
 *    (openat2) anyway;
 *  - s390, ppc64le, mips and riscv rules are left out with their arches. */
#include "runtime/oci_spec.h"

#include "util/cleanup.h"

#include <pthread.h>

/* Capability numbers (linux/capability.h), spelled out so an older header
 * cannot drop a rule. */
#define CAPB(n) (UINT64_C(1) << (n))
#define C_DAC_READ_SEARCH CAPB(2)
#define C_SYS_MODULE CAPB(16)
#define C_SYS_RAWIO CAPB(17)
#define C_SYS_CHROOT CAPB(18)
#define C_SYS_PTRACE CAPB(19)
#define C_SYS_PACCT CAPB(20)
#define C_SYS_ADMIN CAPB(21)
#define C_SYS_BOOT CAPB(22)
#define C_SYS_NICE CAPB(23)
#define C_SYS_TIME CAPB(25)
#define C_SYS_TTY_CONFIG CAPB(26)
#define C_SYSLOG CAPB(34)
#define C_PERFMON CAPB(38)
#define C_BPF CAPB(39)

static const char *const allow_always[] = {
        "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset",
        "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
        "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
        "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range", "connect",
        "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
        "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
        "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
        "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark",
        "fchdir", "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64",
        "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
        "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
        "ftruncate64", "futex", "futex_time64", "futex_waitv", "futimesat", "getcpu", "getcwd",
        "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid",
        "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid",
        "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
        "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
        "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid",
        "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
        "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
        "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set",
        "io_setup", "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup",
        "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
        "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat",
        "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr",
        "lstat", "lstat64", "madvise", "membarrier", "memfd_create", "memfd_secret",
        "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall",
        "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
        "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
        "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
        "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect",
        "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe",
        "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll",
        "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
        "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev",
        "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv",
        "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
        "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
        "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
        "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
        "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
        "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
        "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
        "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
        "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
        "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid",
        "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups",
        "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
        "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32",
        "setrlimit", "set_robust_list", "setsid", "setsockopt", "set_thread_area",
        "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl", "shmdt",
        "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
        "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
        "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs",
        "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
        "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
        "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
        "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
        "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
        "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid",
        "write", "writev",
        /* moby gates these on kernel 4.8+, where ptrace can no longer bypass
         * seccomp; ocid needs a newer kernel anyway. */
        "process_vm_readv", "process_vm_writev", "ptrace",
        NULL,
};

#if defined(__x86_64__) || defined(__i386__)
static const char *const allow_x86[] = { "modify_ldt", NULL };
#endif
#if defined(__x86_64__)
static const char *const allow_x86_64[] = { "arch_prctl", NULL };
#endif
#if defined(__aarch64__) || defined(__arm__)
static const char *const allow_arm[] = {
        "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
        "cacheflush", "set_tls", NULL,
};
#endif

static const char *const names_socket[] = { "socket", NULL };
static const char *const names_personality[] = { "personality", NULL };
static const char *const names_clone[] = { "clone", NULL };
static const char *const names_clone3[] = { "clone3", NULL };
static const char *const names_dac_read_search[] = { "open_by_handle_at", NULL };
static const char *const names_sys_admin[] = {
        "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
        "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree",
        "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname",
        "setns", "syslog", "umount", "umount2", "unshare", NULL,
};
static const char *const names_sys_boot[] = { "reboot", NULL };
static const char *const names_sys_chroot[] = { "chroot", NULL };
static const char *const names_sys_module[] = { "delete_module", "init_module", "finit_module",
                                                NULL };
static const char *const names_sys_pacct[] = { "acct", NULL };
static const char *const names_sys_ptrace[] = { "kcmp", "pidfd_getfd", "process_madvise",
                                                "process_vm_readv", "process_vm_writev",
                                                "ptrace", NULL };
static const char *const names_sys_rawio[] = { "iopl", "ioperm", NULL };
static const char *const names_sys_time[] = { "settimeofday", "stime", "clock_settime",
                                              "clock_settime64", NULL };
static const char *const names_sys_tty_config[] = { "vhangup", NULL };
static const char *const names_sys_nice[] = { "get_mempolicy", "mbind", "set_mempolicy",
                                              "set_mempolicy_home_node", NULL };
static const char *const names_syslog[] = { "syslog", NULL };
static const char *const names_bpf[] = { "bpf", NULL };
static const char *const names_perfmon[] = { "perf_event_open", NULL };

typedef struct {
        unsigned index;
        uint64_t value, value_two;
        const char *op;
} seccomp_arg;

typedef struct {
        const char *const *names;
        const char *action;
        int errno_ret;                  /* > 0: errnoRet for SCMP_ACT_ERRNO */
        uint64_t if_caps;               /* applies only when all of these are held */
        uint64_t unless_caps;           /* applies only when none of these is held */
        seccomp_arg arg;                /* op NULL: no argument condition */
} seccomp_rule;

#define ALLOW "SCMP_ACT_ALLOW"
/* CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: creating
 * namespaces needs CAP_SYS_ADMIN, so without it clone may not ask for any. */
#define CLONE_NS_FLAGS UINT64_C(0x7E020000)
/* AF_VSOCK: sockets to the hypervisor, outside the container's network. */
#define AF_VSOCK_FAMILY 40

static const seccomp_rule rules[] = {
        { allow_always, ALLOW, 0, 0, 0, { 0 } },
#if defined(__x86_64__) || defined(__i386__)
        { allow_x86, ALLOW, 0, 0, 0, { 0 } },
#endif
#if defined(__x86_64__)
        { allow_x86_64, ALLOW, 0, 0, 0, { 0 } },
#endif
#if defined(__aarch64__) || defined(__arm__)
        { allow_arm, ALLOW, 0, 0, 0, { 0 } },
#endif
        { names_socket, ALLOW, 0, 0, 0, { 0, AF_VSOCK_FAMILY, 0, "SCMP_CMP_NE" } },
        /* PER_LINUX, UNAME26, PER_LINUX32, UNAME26|PER_LINUX32, and the query 0xffffffff. */
        { names_personality, ALLOW, 0, 0, 0, { 0, 0x0, 0, "SCMP_CMP_EQ" } },
        { names_personality, ALLOW, 0, 0, 0, { 0, 0x8, 0, "SCMP_CMP_EQ" } },
        { names_personality, ALLOW, 0, 0, 0, { 0, 0x20000, 0, "SCMP_CMP_EQ" } },
        { names_personality, ALLOW, 0, 0, 0, { 0, 0x20008, 0, "SCMP_CMP_EQ" } },
        { names_personality, ALLOW, 0, 0, 0, { 0, 0xffffffff, 0, "SCMP_CMP_EQ" } },
        { names_dac_read_search, ALLOW, 0, C_DAC_READ_SEARCH, 0, { 0 } },
        { names_sys_admin, ALLOW, 0, C_SYS_ADMIN, 0, { 0 } },
        { names_clone, ALLOW, 0, 0, C_SYS_ADMIN,
          { 0, CLONE_NS_FLAGS, 0, "SCMP_CMP_MASKED_EQ" } },
        /* clone3 passes its flags in memory, out of seccomp's sight: answer
         * ENOSYS so libc falls back to clone, which is checked above. */
        { names_clone3, "SCMP_ACT_ERRNO", 38, 0, C_SYS_ADMIN, { 0 } },
        { names_sys_boot, ALLOW, 0, C_SYS_BOOT, 0, { 0 } },
        { names_sys_chroot, ALLOW, 0, C_SYS_CHROOT, 0, { 0 } },
        { names_sys_module, ALLOW, 0, C_SYS_MODULE, 0, { 0 } },
        { names_sys_pacct, ALLOW, 0, C_SYS_PACCT, 0, { 0 } },
        { names_sys_ptrace, ALLOW, 0, C_SYS_PTRACE, 0, { 0 } },
        { names_sys_rawio, ALLOW, 0, C_SYS_RAWIO, 0, { 0 } },
        { names_sys_time, ALLOW, 0, C_SYS_TIME, 0, { 0 } },
        { names_sys_tty_config, ALLOW, 0, C_SYS_TTY_CONFIG, 0, { 0 } },
        { names_sys_nice, ALLOW, 0, C_SYS_NICE, 0, { 0 } },
        { names_syslog, ALLOW, 0, C_SYSLOG, 0, { 0 } },
        { names_bpf, ALLOW, 0, C_BPF, 0, { 0 } },
        { names_perfmon, ALLOW, 0, C_PERFMON, 0, { 0 } },
};

static const char *const architectures[] = {
#if defined(__x86_64__)
        "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
#elif defined(__i386__)
        "SCMP_ARCH_X86",
#elif defined(__aarch64__)
        "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM",
#elif defined(__arm__)
        "SCMP_ARCH_ARM",
#endif
        NULL,
};

static bool rule_applies(const seccomp_rule *r, uint64_t caps)
{
        return (caps & r->if_caps) == r->if_caps && (caps & r->unless_caps) == 0;
}

static json_object *rule_to_json(const seccomp_rule *r)
{
        json_object *o = json_object_new_object();
        json_object *names = json_object_new_array();
        for (const char *const *n = r->names; *n; n++)
                json_object_array_add(names, json_object_new_string(*n));
        json_object_object_add(o, "names", names);
        json_object_object_add(o, "action", json_object_new_string(r->action));
        if (r->errno_ret > 0)
                json_object_object_add(o, "errnoRet", json_object_new_int(r->errno_ret));
        if (r->arg.op) {
                json_object *a = json_object_new_object();
                json_object_object_add(a, "index", json_object_new_int((int)r->arg.index));
                json_object_object_add(a, "value", json_object_new_uint64(r->arg.value));
                json_object_object_add(a, "valueTwo", json_object_new_uint64(r->arg.value_two));
                json_object_object_add(a, "op", json_object_new_string(r->arg.op));
                json_object *args = json_object_new_array();
                json_object_array_add(args, a);
                json_object_object_add(o, "args", args);
        }
        return o;
}

static json_object *profile_build(uint64_t caps)
{
        json_object *p = json_object_new_object();
        json_object_object_add(p, "defaultAction", json_object_new_string("SCMP_ACT_ERRNO"));
        /* EPERM, as moby's profile; runtimes default to it as well, this
         * only makes it explicit. */
        json_object_object_add(p, "defaultErrnoRet", json_object_new_int(1));
        if (architectures[0]) {
                json_object *arches = json_object_new_array();
                for (const char *const *a = architectures; *a; a++)
                        json_object_array_add(arches, json_object_new_string(*a));
                json_object_object_add(p, "architectures", arches);
        }
        json_object *syscalls = json_object_new_array();
        for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
                if (rule_applies(&rules[i], caps))
                        json_object_array_add(syscalls, rule_to_json(&rules[i]));
        json_object_object_add(p, "syscalls", syscalls);
        return p;
}

/* Built once, never modified after: safe to read from any thread. */
static json_object *default_profile;
static pthread_once_t default_profile_once = PTHREAD_ONCE_INIT;

static void default_profile_init(void)
{
        default_profile = profile_build(oci_default_capabilities());
}

json_object *oci_default_seccomp(void)
{
        pthread_once(&default_profile_once, default_profile_init);
        return default_profile;
}

/* Built fresh for each spec: building from the tables (~70 us) is faster
 * than json_object_deep_copy of the shared object (~90 us), and json-c's
 * non-atomic reference counts rule out sharing it between threads' trees. */
json_object *oci_seccomp_profile(uint64_t caps)
{
        return profile_build(caps);
}
