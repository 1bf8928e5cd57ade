/* Run a program to completion with captured output and a timeout, from a
 * multi-threaded daemon (CNI plugins, the OCI runtime, conmon).
 *
 * The child is started with posix_spawn (glibc clones with CLONE_VFORK, so a
 * large daemon heap is never copied). It gets exactly stdin, stdout, stderr
 * and the descriptors in pass_fds: everything else is closed in the child,
 * even descriptors some library leaked without O_CLOEXEC. Its signal mask is
 * empty and every signal disposition is reset to the default, so a daemon
 * that blocks or ignores signals does not hand that on.
 *
 * No global state: any number of threads may call spawn_run at once.
 *
 * Process-wide requirements on the caller:
 *  - SIGPIPE must be ignored (writing stdin to a child that exited without
 *    reading it fails with EPIPE, which spawn_run expects and handles).
 *  - SIGCHLD must not be SIG_IGN / SA_NOCLDWAIT, and nothing else may reap
 *    our child: a reaper for orphans must wait for specific pids, never
 *    waitpid(-1) (it would steal the status spawn_run waits for).
 *
 * Output written after the child exits, by grandchildren that inherited its
 * stdout/stderr (a runtime's container process, a daemonizing helper), is
 * not waited for: once the child is gone, what is already in the pipes is
 * collected and spawn_run returns. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
        /* argv[0] is the program: a path, or searched for in the daemon's
         * PATH (not envp's) when it has no slash. */
        char *const *argv;
        char *const *envp;      /* NULL: inherit the daemon's environment */
        const char *cwd;        /* NULL: inherit */
        /* Written to the child's stdin, which is then closed; a child that
         * stops reading or exits early is fine. NULL or stdin_len 0: the
         * child's stdin is /dev/null. Borrowed for the call. */
        const void *stdin_data;
        size_t stdin_len;
        /* <= 0: none. On expiry the child gets SIGKILL (its whole process
         * group when new_pgroup) and the result says timed_out. */
        int timeout_ms;
        /* Cap per captured stream; 0: 1 MiB. The excess is read and
         * dropped (the child never blocks on a full pipe) and
         * out_truncated / err_truncated is set. */
        size_t max_output;
        bool new_pgroup;        /* make the child a process group leader */
        /* Descriptors the child receives as 3, 4, ... in this order (at
         * most 64). Borrowed: the caller keeps them open or closes them. */
        const int *pass_fds;
        size_t n_pass_fds;
} spawn_options;

typedef struct {
        pid_t pid;              /* already reaped: for logs only, never signal it */
        int exit_code;          /* valid when !signaled */
        int term_signal;        /* valid when signaled */
        bool signaled, timed_out, out_truncated, err_truncated;
        char *out;              /* owned, NUL-terminated, never NULL on success */
        size_t out_len;         /* excludes the terminator; output may hold NULs */
        char *err;              /* owned, as out */
        size_t err_len;
} spawn_result;

/* Returns 0 when the child ran, whatever its exit status or signal, with the
 * result in *ret (release it with spawn_result_release). Otherwise a -errno
 * and *ret is zeroed:
 *   -EINVAL   no argv[0], more than 64 pass_fds
 *   -EBADF    a pass_fds entry is not an open descriptor
 *   -ENOENT   the program (or cwd) does not exist; -EACCES, -ENOEXEC... as
 *             execve reports them
 *   -ECHILD   someone else reaped the child (see above)
 *   other     resources (pipes, descriptors) ran out; if the child had
 *             already started, it was killed and reaped before returning.
 * The child never outlives a failed call and is reaped in every case. */
int spawn_run(const spawn_options *opts, spawn_result *ret);

/* Free the captured output and zero *r. Accepts a zeroed result and may be
 * called twice. */
void spawn_result_release(spawn_result *r);

/* ---- long-running children ------------------------------------------------
 * For a child whose stdio the caller wires itself (an interactive exec):
 * started the same way (signals reset, every other descriptor closed), but
 * spawn_start returns at once. The caller owns the child: it must reap it
 * (waitid on the pidfd, or waitpid) exactly once. */
typedef struct {
        char *const *argv;
        /* The child's 0, 1 and 2; -1: /dev/null. Borrowed. */
        int stdio[3];
        /* A terminal (the path of a pty's slave) the child opens as 0, 1 and
         * 2 in a session of its own, so that it is the child's controlling
         * terminal: the child gets SIGWINCH and SIGHUP from it. Overrides
         * stdio. */
        const char *ctty;
        bool new_pgroup;
} spawn_start_options;

/* 0 with *ret_pid and *ret_pidfd (-1 on kernels without pidfd), or -errno
 * as for spawn_run. */
int spawn_start(const spawn_start_options *o, pid_t *ret_pid, int *ret_pidfd);

static inline void spawn_result_releasep(spawn_result *r) { spawn_result_release(r); }
#define _cleanup_spawn_result_ __attribute__((cleanup(spawn_result_releasep)))
