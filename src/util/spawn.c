#include "util/spawn.h"
#include "util/cleanup.h"
#include "util/strbuf.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same number on every architecture */
#endif

extern char **environ;

#define SPAWN_DEFAULT_MAX_OUTPUT ((size_t)1024 * 1024)
/* Bytes read from one stream per wakeup, so a chatty stream cannot starve
 * the other or the stdin writer. */
#define SPAWN_READ_CHUNK ((size_t)64 * 1024)
/* Kernels before 5.3 have no pidfd: the exit is then noticed by polling. */
#define SPAWN_NO_PIDFD_TICK_MS 10
#define SPAWN_MAX_PASS_FDS 64

typedef struct {
        int fd;
        strbuf buf;
        size_t max;
        bool truncated;
} capture;

typedef struct {
        int fd;
        const char *data;
        size_t len, off;
} feeder;

typedef struct {
        int fd[SPAWN_MAX_PASS_FDS];
        size_t n;
} fd_list;

static void capture_done(capture *c)
{
        closep(&c->fd);
        c->fd = -1;
        strbuf_release(&c->buf);
}

static void feeder_done(feeder *f)
{
        closep(&f->fd);
        f->fd = -1;
}

static void fd_list_done(fd_list *l)
{
        for (size_t i = 0; i < l->n; i++)
                closep(&l->fd[i]);
        l->n = 0;
}

static void file_actions_destroyp(posix_spawn_file_actions_t **p)
{
        if (*p)
                posix_spawn_file_actions_destroy(*p);
}

static void spawnattr_destroyp(posix_spawnattr_t **p)
{
        if (*p)
                posix_spawnattr_destroy(*p);
}

/* Attributes every child gets, plus extra flags (new process group,
 * session). The daemon blocks signals in its threads and ignores SIGPIPE;
 * exec keeps both, and a child should start with neither. Returns an
 * errno value; on failure attr is destroyed. */
static int spawnattr_init(posix_spawnattr_t *attr, short extra)
{
        int r = posix_spawnattr_init(attr);
        if (r != 0)
                return r;
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        r = posix_spawnattr_setsigmask(attr, &none);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(attr, &all);
        if (r == 0)
                r = posix_spawnattr_setpgroup(attr, 0);
        if (r == 0)
                r = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | extra);
        if (r != 0)
                posix_spawnattr_destroy(attr);
        return r;
}

static int64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A descriptor the child dup2()s from must not be the target of an earlier
 * dup2 (0 .. first_free - 1), or that action would clobber it before use. */
static int fd_move_above(int *fd, int min)
{
        if (*fd >= min)
                return 0;
        int n = fcntl(*fd, F_DUPFD_CLOEXEC, min);
        if (n < 0)
                return -errno;
        close(*fd);
        *fd = n;
        return 0;
}

static int make_pipe(int *parent, int *child, bool child_reads, int first_free)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        *parent = child_reads ? p[1] : p[0];
        *child = child_reads ? p[0] : p[1];
        /* O_NONBLOCK belongs to the open file description, so only the
         * parent's end gets it: the child expects ordinary blocking stdio. */
        if (fcntl(*parent, F_SETFL, O_NONBLOCK) < 0)
                return -errno;
        return fd_move_above(child, first_free);
}

typedef struct {
        pid_t pid;
        int pidfd;
        int in_w, out_r, err_r;
} child;

static int child_start(const spawn_options *o, child *ret)
{
        if (o->n_pass_fds > SPAWN_MAX_PASS_FDS || (o->n_pass_fds && !o->pass_fds))
                return -EINVAL;
        int first_free = 3 + (int)o->n_pass_fds;
        bool feed = o->stdin_data && o->stdin_len > 0;
        int r;

        _cleanup_close_ int in_w = -1, in_r = -1, out_r = -1, out_w = -1, err_r = -1,
                            err_w = -1;
        if (feed && (r = make_pipe(&in_w, &in_r, true, first_free)) < 0)
                return r;
        if ((r = make_pipe(&out_r, &out_w, false, first_free)) < 0)
                return r;
        if ((r = make_pipe(&err_r, &err_w, false, first_free)) < 0)
                return r;

        /* The caller's descriptors stay theirs; low ones are copied up. */
        _cleanup_(fd_list_done) fd_list copies = { .n = 0 };
        int pass[SPAWN_MAX_PASS_FDS];
        for (size_t i = 0; i < o->n_pass_fds; i++) {
                pass[i] = o->pass_fds[i];
                if (pass[i] < 0)
                        return -EBADF;
                if (pass[i] >= first_free)
                        continue;
                int fd = fcntl(pass[i], F_DUPFD_CLOEXEC, first_free);
                if (fd < 0)
                        return -errno;
                copies.fd[copies.n++] = pass[i] = fd;
        }

        posix_spawn_file_actions_t fa_storage;
        if ((r = posix_spawn_file_actions_init(&fa_storage)) != 0)
                return -r;
        _cleanup_(file_actions_destroyp) posix_spawn_file_actions_t *fa = &fa_storage;
        if (feed)
                r = posix_spawn_file_actions_adddup2(fa, in_r, 0);
        else
                r = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(fa, out_w, 1);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(fa, err_w, 2);
        for (size_t i = 0; r == 0 && i < o->n_pass_fds; i++)
                r = posix_spawn_file_actions_adddup2(fa, pass[i], 3 + (int)i);
        if (r == 0 && o->cwd)
                r = posix_spawn_file_actions_addchdir_np(fa, o->cwd);
        /* O_CLOEXEC covers our own descriptors, not those some library or
         * another thread opened without it. */
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(fa, first_free);
        if (r != 0)
                return -r;

        posix_spawnattr_t attr_storage;
        if ((r = spawnattr_init(&attr_storage, o->new_pgroup ? POSIX_SPAWN_SETPGROUP : 0)) != 0)
                return -r;
        _cleanup_(spawnattr_destroyp) posix_spawnattr_t *attr = &attr_storage;

        /* glibc runs the child with CLONE_VFORK and reports exec failures
         * (ENOENT, EACCES...) here rather than as an exit status. */
        pid_t pid;
        r = posix_spawnp(&pid, o->argv[0], fa, attr, o->argv,
                         o->envp ? o->envp : environ);
        if (r != 0)
                return -r;

        /* The child-side ends close when this function returns, so EOF and
         * EPIPE reach us as soon as the child (and its children) let go. */
        *ret = (child){
                .pid = pid,
                .pidfd = (int)syscall(SYS_pidfd_open, pid, 0),
                .in_w = TAKE_FD(in_w),
                .out_r = TAKE_FD(out_r),
                .err_r = TAKE_FD(err_r),
        };
        return 0;
}

/* Read at most budget bytes without blocking; the fd is closed at EOF. */
static void capture_read(capture *c, size_t budget)
{
        char scratch[16384];
        size_t got = 0;
        while (c->fd >= 0 && got < budget) {
                size_t want = budget - got;
                size_t room = c->max - c->buf.len;
                char *dst = scratch;
                if (room > 0) {
                        if (want > room)
                                want = room;
                        strbuf_grow(&c->buf, want);
                        dst = c->buf.buf + c->buf.len;
                } else if (want > sizeof(scratch)) {
                        want = sizeof(scratch);
                }
                ssize_t n = read(c->fd, dst, want);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0) {
                        /* An error on our own pipe can only mean it is unusable:
                         * treat it as EOF. */
                        closep(&c->fd);
                        c->fd = -1;
                        return;
                }
                if (dst == scratch) {
                        c->truncated = true;
                } else {
                        c->buf.len += (size_t)n;
                        c->buf.buf[c->buf.len] = '\0';
                }
                got += (size_t)n;
        }
}

/* Everything the child wrote before it exited is in the pipe by now; take
 * exactly that, as a grandchild holding the pipe may keep writing forever. */
static void capture_drain(capture *c)
{
        int avail = 0;
        if (c->fd < 0)
                return;
        if (ioctl(c->fd, FIONREAD, &avail) < 0)
                avail = 1024 * 1024; /* the largest pipe buffer by default */
        if (avail > 0)
                capture_read(c, (size_t)avail);
}

static void feeder_write(feeder *f)
{
        while (f->fd >= 0 && f->off < f->len) {
                size_t want = f->len - f->off;
                if (want > SSIZE_MAX)
                        want = SSIZE_MAX;
                ssize_t n = write(f->fd, f->data + f->off, want);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n < 0)
                        break; /* EPIPE: the child closed its stdin, fine */
                f->off += (size_t)n;
        }
        feeder_done(f);
}

static void child_kill(pid_t pid, bool group)
{
        /* Not reaped yet, so neither the pid nor the process group id (the
         * leader's pid) can have been reused. */
        kill(group ? -pid : pid, SIGKILL);
}

static int child_reap(pid_t pid, int *status)
{
        while (waitpid(pid, status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

int spawn_run(const spawn_options *o, spawn_result *ret)
{
        *ret = (spawn_result){ .pid = 0 };
        if (!o || !o->argv || !o->argv[0])
                return -EINVAL;
        int64_t deadline = o->timeout_ms > 0 ? now_ns() + (int64_t)o->timeout_ms * 1000000 : -1;
        size_t max = o->max_output ? o->max_output : SPAWN_DEFAULT_MAX_OUTPUT;

        child c = { .pid = 0, .pidfd = -1, .in_w = -1, .out_r = -1, .err_r = -1 };
        int r = child_start(o, &c);
        if (r < 0)
                return r;
        _cleanup_close_ int pidfd = c.pidfd;
        _cleanup_(capture_done) capture out = { .fd = c.out_r, .buf = STRBUF_INIT, .max = max };
        _cleanup_(capture_done) capture err = { .fd = c.err_r, .buf = STRBUF_INIT, .max = max };
        _cleanup_(feeder_done) feeder in = {
                .fd = c.in_w, .data = o->stdin_data, .len = o->stdin_len,
        };

        bool exited = false, reaped = false, timed_out = false;
        int status = 0;
        while (!exited) {
                int wait_ms = -1;
                if (deadline >= 0) {
                        int64_t left = deadline - now_ns();
                        if (left <= 0) {
                                child_kill(c.pid, o->new_pgroup);
                                timed_out = true;
                                break;
                        }
                        /* Round up: waking early would only spin. */
                        int64_t ms = (left + 999999) / 1000000;
                        wait_ms = ms > INT_MAX ? INT_MAX : (int)ms;
                }
                if (pidfd < 0 && (wait_ms < 0 || wait_ms > SPAWN_NO_PIDFD_TICK_MS))
                        wait_ms = SPAWN_NO_PIDFD_TICK_MS;

                struct pollfd p[4];
                nfds_t n = 0;
                int i_out = -1, i_err = -1, i_in = -1, i_pid = -1;
                if (out.fd >= 0)
                        p[i_out = (int)n++] = (struct pollfd){ .fd = out.fd, .events = POLLIN };
                if (err.fd >= 0)
                        p[i_err = (int)n++] = (struct pollfd){ .fd = err.fd, .events = POLLIN };
                if (in.fd >= 0)
                        p[i_in = (int)n++] = (struct pollfd){ .fd = in.fd, .events = POLLOUT };
                if (pidfd >= 0)
                        p[i_pid = (int)n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };

                if (poll(p, n, wait_ms) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        child_kill(c.pid, o->new_pgroup);
                        break;
                }
                if (i_in >= 0 && p[i_in].revents)
                        feeder_write(&in);
                if (i_out >= 0 && p[i_out].revents)
                        capture_read(&out, SPAWN_READ_CHUNK);
                if (i_err >= 0 && p[i_err].revents)
                        capture_read(&err, SPAWN_READ_CHUNK);
                if (i_pid >= 0 && p[i_pid].revents) {
                        exited = true;
                } else if (pidfd < 0) {
                        pid_t w = waitpid(c.pid, &status, WNOHANG);
                        if (w < 0 && errno != EINTR) {
                                r = -errno;
                                break; /* ECHILD: someone else reaped it */
                        }
                        exited = reaped = w == c.pid;
                }
        }

        if (!reaped) {
                int q = child_reap(c.pid, &status);
                if (q < 0 && r == 0)
                        r = q;
        }
        if (r < 0)
                return r;
        capture_drain(&out);
        capture_drain(&err);

        ret->pid = c.pid;
        ret->timed_out = timed_out;
        if (WIFSIGNALED(status)) {
                ret->signaled = true;
                ret->term_signal = WTERMSIG(status);
        } else {
                ret->exit_code = WEXITSTATUS(status);
        }
        ret->out_truncated = out.truncated;
        ret->err_truncated = err.truncated;
        ret->out = strbuf_detach(&out.buf, &ret->out_len);
        ret->err = strbuf_detach(&err.buf, &ret->err_len);
        return 0;
}

int spawn_start(const spawn_start_options *o, pid_t *ret_pid, int *ret_pidfd)
{
        if (!o->argv || !o->argv[0])
                return -EINVAL;
        /* Copies above 2, so no dup2 clobbers a source before it is used. */
        _cleanup_(fd_list_done) fd_list copies = { .n = 0 };
        int src[3];
        for (int i = 0; i < 3; i++) {
                src[i] = -1;
                if (o->ctty || o->stdio[i] < 0)
                        continue;
                src[i] = fcntl(o->stdio[i], F_DUPFD_CLOEXEC, 3);
                if (src[i] < 0)
                        return -errno;
                copies.fd[copies.n++] = src[i];
        }

        posix_spawn_file_actions_t fa_storage;
        int r;
        if ((r = posix_spawn_file_actions_init(&fa_storage)) != 0)
                return -r;
        _cleanup_(file_actions_destroyp) posix_spawn_file_actions_t *fa = &fa_storage;
        if (o->ctty) {
                /* glibc runs setsid before the file actions, and a session
                 * leader opening a terminal without O_NOCTTY acquires it. */
                r = posix_spawn_file_actions_addopen(fa, 0, o->ctty, O_RDWR, 0);
                if (r == 0)
                        r = posix_spawn_file_actions_adddup2(fa, 0, 1);
                if (r == 0)
                        r = posix_spawn_file_actions_adddup2(fa, 0, 2);
        } else {
                for (int i = 0; r == 0 && i < 3; i++)
                        r = src[i] >= 0 ? posix_spawn_file_actions_adddup2(fa, src[i], i)
                                        : posix_spawn_file_actions_addopen(fa, i, "/dev/null", O_RDWR, 0);
        }
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(fa, 3);
        if (r != 0)
                return -r;

        posix_spawnattr_t attr_storage;
        short flags = o->ctty ? POSIX_SPAWN_SETSID : o->new_pgroup ? POSIX_SPAWN_SETPGROUP : 0;
        if ((r = spawnattr_init(&attr_storage, flags)) != 0)
                return -r;
        _cleanup_(spawnattr_destroyp) posix_spawnattr_t *attr = &attr_storage;
        pid_t pid;
        if ((r = posix_spawnp(&pid, o->argv[0], fa, attr, o->argv, environ)) != 0)
                return -r;
        *ret_pid = pid;
        *ret_pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        return 0;
}

void spawn_result_release(spawn_result *r)
{
        if (!r)
                return;
        free(r->out);
        free(r->err);
        *r = (spawn_result){ .pid = 0 };
}
