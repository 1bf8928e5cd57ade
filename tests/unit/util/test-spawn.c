/* The test binary doubles as the child for cases no standard tool covers
 * (fd inventory, signal state, two streams at once): spawned as
 * `/proc/self/exe --helper MODE ...`. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/spawn.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define SELF "/proc/self/exe"
#define ARGV(...) ((char *[]){ __VA_ARGS__, NULL })

/* ---- helper modes, run in the child ---- */

static int write_all(int fd, const char *p, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static char pattern_byte(char base, size_t i)
{
        return (char)(base + (char)(i % 26));
}

static int helper(int argc, char **argv)
{
        if (argc >= 1 && STREQ(argv[0], "fds")) {
                DIR *d = opendir("/proc/self/fd");
                if (!d)
                        return 100;
                struct dirent *de;
                int seen[256] = { 0 };
                while ((de = readdir(d))) {
                        int fd = atoi(de->d_name);
                        if (de->d_name[0] != '.' && fd != dirfd(d) && fd < 256)
                                seen[fd] = 1;
                }
                closedir(d);
                for (int fd = 0; fd < 256; fd++)
                        if (seen[fd])
                                printf("%d ", fd);
                return 0;
        }
        if (argc >= 2 && STREQ(argv[0], "both")) {
                /* Alternate 64 KiB chunks between the streams: a parent that
                 * drains one stream before the other deadlocks on this. */
                size_t total = strtoul(argv[1], NULL, 10), done = 0;
                static char o[65536], e[65536];
                while (done < total) {
                        size_t n = total - done < sizeof(o) ? total - done : sizeof(o);
                        for (size_t i = 0; i < n; i++) {
                                o[i] = pattern_byte('a', done + i);
                                e[i] = pattern_byte('A', done + i);
                        }
                        if (write_all(1, o, n) < 0 || write_all(2, e, n) < 0)
                                return 101;
                        done += n;
                }
                return 0;
        }
        if (argc >= 2 && STREQ(argv[0], "bigpipe")) {
                /* Fill an enlarged pipe in one write and exit: all of it is
                 * still unread when the parent learns of the exit. */
                size_t n = strtoul(argv[1], NULL, 10);
                if (fcntl(1, F_SETPIPE_SZ, (int)n) < 0)
                        return 104;
                char *buf = malloc(n);
                if (!buf)
                        return 105;
                for (size_t i = 0; i < n; i++)
                        buf[i] = pattern_byte('a', i);
                /* _exit: no sanitizer teardown giving the parent time to read. */
                _exit(write_all(1, buf, n) < 0 ? 106 : 0);
        }
        if (argc >= 1 && STREQ(argv[0], "fdwrite")) {
                /* Write "fd N" to each passed descriptor 3 .. 3 + count - 1. */
                int count = atoi(argv[1]);
                for (int fd = 3; fd < 3 + count; fd++)
                        if (dprintf(fd, "fd %d", fd) < 0)
                                return 102;
                return 0;
        }
        if (argc >= 1 && STREQ(argv[0], "signals")) {
                struct sigaction sa;
                sigset_t mask;
                sigaction(SIGPIPE, NULL, &sa);
                sigprocmask(SIG_BLOCK, NULL, &mask);
                int blocked = 0;
                for (int s = 1; s < NSIG; s++)
                        if (sigismember(&mask, s) == 1)
                                blocked++;
                printf("sigpipe=%s blocked=%d", sa.sa_handler == SIG_IGN ? "ignored" : "default",
                       blocked);
                return 0;
        }
        return 103;
}

/* ---- test utilities ---- */

static int count_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        assert_non_null(d);
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1; /* the directory's own fd */
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void assert_gone(pid_t pid)
{
        int status;
        assert_int_equal(waitpid(pid, &status, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
        assert_int_equal(kill(pid, 0), -1);
        assert_int_equal(errno, ESRCH);
}

static void assert_zeroed(const spawn_result *r)
{
        assert_null(r->out);
        assert_null(r->err);
        assert_int_equal(r->pid, 0);
        assert_false(r->timed_out);
}

/* A fresh directory in *state, removed even when a test fails. */
static int tmpdir_setup(void **state)
{
        char tmpl[] = "/tmp/ocid-test-spawn-XXXXXX";
        if (!mkdtemp(tmpl))
                return -1;
        *state = strdup(tmpl);
        return *state ? 0 : -1;
}

static int tmpdir_teardown(void **state)
{
        int r = fs_remove_tree(*state);
        free(*state);
        return r;
}

/* ---- tests ---- */

static void test_exit_codes(void **state)
{
        _cleanup_spawn_result_ spawn_result r = { 0 };
        assert_int_equal(spawn_run(&(spawn_options){ .argv = ARGV("true") }, &r), 0);
        assert_false(r.signaled);
        assert_int_equal(r.exit_code, 0);
        assert_true(r.pid > 0);
        assert_gone(r.pid);
        spawn_result_release(&r);

        assert_int_equal(spawn_run(&(spawn_options){ .argv = ARGV("false") }, &r), 0);
        assert_int_equal(r.exit_code, 1);
        spawn_result_release(&r);

        assert_int_equal(spawn_run(&(spawn_options){ .argv = ARGV("/bin/sh", "-c", "exit 42") }, &r), 0);
        assert_false(r.signaled);
        assert_int_equal(r.exit_code, 42);
        spawn_result_release(&r);

        assert_int_equal(spawn_run(&(spawn_options){ .argv = ARGV("sh", "-c", "kill -TERM $$") }, &r), 0);
        assert_true(r.signaled);
        assert_int_equal(r.term_signal, SIGTERM);
        assert_false(r.timed_out);
        assert_gone(r.pid);
}

static void test_capture_both_streams(void **state)
{
        _cleanup_spawn_result_ spawn_result r = { 0 };
        spawn_options o = { .argv = ARGV("sh", "-c", "echo out; echo err >&2; printf 'a\\0b'") };
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_int_equal(r.exit_code, 0);
        assert_int_equal(r.out_len, 7);
        assert_memory_equal(r.out, "out\na\0b", 8); /* including the terminator */
        assert_string_equal(r.err, "err\n");
        assert_int_equal(r.err_len, 4);
        assert_false(r.out_truncated);
        assert_false(r.err_truncated);
}

static void test_empty_output_is_empty_string(void **state)
{
        _cleanup_spawn_result_ spawn_result r = { 0 };
        assert_int_equal(spawn_run(&(spawn_options){ .argv = ARGV("true") }, &r), 0);
        assert_non_null(r.out);
        assert_non_null(r.err);
        assert_string_equal(r.out, "");
        assert_int_equal(r.out_len, 0);
        assert_int_equal(r.err_len, 0);
}

static void test_large_output_both_streams(void **state)
{
        const size_t total = 5 * 1000 * 1000;
        _cleanup_spawn_result_ spawn_result r = { 0 };
        spawn_options o = {
                .argv = ARGV(SELF, "--helper", "both", "5000000"),
                .max_output = 8 * 1024 * 1024,
                .timeout_ms = 60000,
        };
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_false(r.timed_out);
        assert_int_equal(r.exit_code, 0);
        assert_int_equal(r.out_len, total);
        assert_int_equal(r.err_len, total);
        assert_false(r.out_truncated);
        assert_false(r.err_truncated);
        for (size_t i = 0; i < total; i++) {
                if (r.out[i] != pattern_byte('a', i) || r.err[i] != pattern_byte('A', i))
                        fail_msg("mismatch at byte %zu", i);
        }
        assert_int_equal(r.out[total], '\0');
        assert_int_equal(r.err[total], '\0');
}

static void test_output_left_in_pipe_at_exit(void **state)
{
        const size_t total = 1024 * 1024;
        for (int round = 0; round < 5; round++) {
                _cleanup_spawn_result_ spawn_result r = { 0 };
                spawn_options o = { .argv = ARGV(SELF, "--helper", "bigpipe", "1048576"),
                                    .max_output = 2 * total };
                assert_int_equal(spawn_run(&o, &r), 0);
                assert_int_equal(r.exit_code, 0);
                assert_int_equal(r.out_len, total);
                for (size_t i = 0; i < total; i++)
                        if (r.out[i] != pattern_byte('a', i))
                                fail_msg("mismatch at byte %zu", i);
        }
}

static void test_stdin_roundtrip_cat(void **state)
{
        const size_t len = 4 * 1024 * 1024;
        _cleanup_free_ unsigned char *data = malloc(len);
        assert_non_null(data);
        for (size_t i = 0; i < len; i++)
                data[i] = (unsigned char)(i * 7 + i / 251); /* NULs included */
        _cleanup_spawn_result_ spawn_result r = { 0 };
        spawn_options o = {
                .argv = ARGV("cat"),
                .stdin_data = data,
                .stdin_len = len,
                .max_output = 2 * len,
                .timeout_ms = 60000,
        };
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_false(r.timed_out);
        assert_int_equal(r.exit_code, 0);
        assert_int_equal(r.out_len, len);
        assert_memory_equal(r.out, data, len);
        assert_int_equal(r.err_len, 0);
}

static void test_stdin_default_is_dev_null(void **state)
{
        /* Without stdin_data, cat must see EOF at once, not hang. */
        _cleanup_spawn_result_ spawn_result r = { 0 };
        spawn_options o = { .argv = ARGV("cat"), .timeout_ms = 5000 };
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_false(r.timed_out);
        assert_int_equal(r.exit_code, 0);
        assert_int_equal(r.out_len, 0);
        spawn_result_release(&r);

        o.stdin_data = "";
        o.stdin_len = 0;
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_false(r.timed_out);
        assert_int_equal(r.exit_code, 0);
}

static void test_child_ignores_stdin(void **state)
{
        const size_t len = 4 * 1024 * 1024;
        _cleanup_free_ char *data = calloc(1, len);
        assert_non_null(data);
        const char *scripts[] = {
                "exit 0",                                    /* EPIPE at once */
                "sleep 0.2; echo done",                      /* never reads */
                "exec 0<&-; sleep 0.1; echo done",           /* closes stdin */
                "head -c 10 >/dev/null; echo done",          /* reads a little */
        };
        for (size_t i = 0; i < ARRAY_SIZE(scripts); i++) {
                _cleanup_spawn_result_ spawn_result r = { 0 };
                spawn_options o = {
                        .argv = ARGV("sh", "-c", (char *)scripts[i]),
                        .stdin_data = data,
                        .stdin_len = len,
                        .timeout_ms = 10000,
                };
                int64_t start = now_ms();
                assert_int_equal(spawn_run(&o, &r), 0);
                assert_true(now_ms() - start < 5000);
                assert_false(r.timed_out);
                assert_false(r.signaled);
                assert_int_equal(r.exit_code, 0);
                if (i > 0)
                        assert_string_equal(r.out, "done\n");
        }
}

static void test_timeout_kills(void **state)
{
        _cleanup_spawn_result_ spawn_result r = { 0 };
        spawn_options o = { .argv = ARGV("sleep", "10"), .timeout_ms = 200 };
        int64_t start = now_ms();
        assert_int_equal(spawn_run(&o, &r), 0);
        int64_t took = now_ms() - start;
        assert_true(took >= 190);
        assert_true(took < 2000);
        assert_true(r.timed_out);
        assert_true(r.signaled);
        assert_int_equal(r.term_signal, SIGKILL);
        assert_gone(r.pid);
}

static void test_timeout_kills_process_group(void **state)
{
        /* Become the reaper of the orphaned grandchild, so its fate is ours
         * to observe (pid 1 here reaps late). */
        assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
        _cleanup_spawn_result_ spawn_result r = { 0 };
        spawn_options o = {
                .argv = ARGV("sh", "-c", "sleep 10 & echo $!; wait"),
                .timeout_ms = 300,
                .new_pgroup = true,
        };
        int64_t start = now_ms();
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_true(now_ms() - start < 2000);
        assert_true(r.timed_out);
        assert_true(r.signaled);
        assert_int_equal(r.term_signal, SIGKILL);
        assert_gone(r.pid);

        pid_t grandchild = (pid_t)atoi(r.out);
        assert_true(grandchild > 0);
        int status;
        assert_int_equal(waitpid(grandchild, &status, 0), grandchild);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);
        assert_true(now_ms() - start < 2000);
        assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0), 0);
}

static void test_grandchild_holding_stdout(void **state)
{
        /* The child exits at once; a background job keeps stdout open. We
         * must return with the child's output, not wait for the job. */
        assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
        _cleanup_spawn_result_ spawn_result r = { 0 };
        spawn_options o = { .argv = ARGV("sh", "-c", "sleep 5 & echo $!"), .timeout_ms = 4000 };
        int64_t start = now_ms();
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_true(now_ms() - start < 2000);
        assert_false(r.timed_out);
        assert_int_equal(r.exit_code, 0);
        pid_t job = (pid_t)atoi(r.out);
        assert_true(job > 0);
        assert_int_equal(kill(job, SIGKILL), 0);
        assert_int_equal(waitpid(job, NULL, 0), job);
        assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0), 0);
}

static void test_truncation(void **state)
{
        _cleanup_spawn_result_ spawn_result r = { 0 };
        spawn_options o = {
                .argv = ARGV("sh", "-c", "head -c 100000 /dev/zero; head -c 50000 /dev/zero >&2"),
                .max_output = 1000,
        };
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_int_equal(r.exit_code, 0);
        assert_int_equal(r.out_len, 1000);
        assert_int_equal(r.err_len, 1000);
        assert_true(r.out_truncated);
        assert_true(r.err_truncated);
        spawn_result_release(&r);

        /* Exactly the cap is not truncated. */
        o.argv = ARGV("head", "-c", "1000", "/dev/zero");
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_int_equal(r.out_len, 1000);
        assert_false(r.out_truncated);
        spawn_result_release(&r);

        /* 0 means 1 MiB. */
        o.argv = ARGV("head", "-c", "3000000", "/dev/zero");
        o.max_output = 0;
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_int_equal(r.exit_code, 0);
        assert_int_equal(r.out_len, 1024 * 1024);
        assert_true(r.out_truncated);
        assert_false(r.err_truncated);
}

static void test_start_failures(void **state)
{
        spawn_result r;
        memset(&r, 0xaa, sizeof(r));
        assert_int_equal(spawn_run(&(spawn_options){ .argv = ARGV("/nonexistent/prog") }, &r),
                         -ENOENT);
        assert_zeroed(&r);
        assert_int_equal(spawn_run(&(spawn_options){ .argv = ARGV("ocid-no-such-program") }, &r),
                         -ENOENT);
        assert_zeroed(&r);
        assert_int_equal(spawn_run(&(spawn_options){ .argv = ARGV("true"),
                                                     .cwd = "/nonexistent/dir" },
                                   &r),
                         -ENOENT);
        assert_zeroed(&r);
        assert_int_equal(spawn_run(&(spawn_options){ .argv = NULL }, &r), -EINVAL);
        assert_int_equal(spawn_run(&(spawn_options){ .argv = (char *[]){ NULL } }, &r), -EINVAL);
        assert_int_equal(spawn_run(&(spawn_options){ .argv = ARGV("true"),
                                                     .pass_fds = (int[]){ 999 },
                                                     .n_pass_fds = 1 },
                                   &r),
                         -EBADF);
        assert_int_equal(spawn_run(&(spawn_options){ .argv = ARGV("true"),
                                                     .pass_fds = (int[]){ -1 },
                                                     .n_pass_fds = 1 },
                                   &r),
                         -EBADF);
        assert_zeroed(&r);

        /* Present but not executable. */
        _cleanup_free_ char *prog = fs_path_join(*state, "noexec");
        assert_int_equal(fs_write_file_atomic(prog, "#!/bin/sh\n", 10, 0644), 0);
        assert_int_equal(spawn_run(&(spawn_options){ .argv = ARGV(prog) }, &r), -EACCES);
        assert_zeroed(&r);

        spawn_result_release(&r);
        spawn_result_release(&r);
        spawn_result_release(NULL);
}

static void test_envp(void **state)
{
        _cleanup_spawn_result_ spawn_result r = { 0 };
        spawn_options o = { .argv = ARGV("env"), .envp = ARGV("FOO=bar", "X=1") };
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_string_equal(r.out, "FOO=bar\nX=1\n");
        spawn_result_release(&r);

        o.envp = (char *[]){ NULL };
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_string_equal(r.out, "");
        spawn_result_release(&r);

        assert_int_equal(setenv("OCID_TEST_INHERITED", "yes", 1), 0);
        o = (spawn_options){ .argv = ARGV("sh", "-c", "echo $OCID_TEST_INHERITED") };
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_string_equal(r.out, "yes\n");
        unsetenv("OCID_TEST_INHERITED");
}

static void test_cwd(void **state)
{
        const char *dir = *state;
        _cleanup_free_ char *real = realpath(dir, NULL);
        assert_non_null(real);
        _cleanup_free_ char *expect = NULL;
        assert_true(asprintf(&expect, "%s\n", real) > 0);

        _cleanup_spawn_result_ spawn_result r = { 0 };
        assert_int_equal(spawn_run(&(spawn_options){ .argv = ARGV("pwd", "-P"), .cwd = dir }, &r), 0);
        assert_string_equal(r.out, expect);
        spawn_result_release(&r);

        /* Inherited otherwise. */
        _cleanup_free_ char *here = getcwd(NULL, 0);
        _cleanup_free_ char *here_real = realpath(here, NULL);
        free(expect);
        expect = NULL;
        assert_true(asprintf(&expect, "%s\n", here_real) > 0);
        assert_int_equal(spawn_run(&(spawn_options){ .argv = ARGV("pwd", "-P") }, &r), 0);
        assert_string_equal(r.out, expect);
}

static void test_child_gets_only_stdio(void **state)
{
        /* A descriptor someone opened without O_CLOEXEC must not leak. */
        int leaky = open("/dev/null", O_RDONLY);
        assert_true(leaky >= 0);
        _cleanup_spawn_result_ spawn_result r = { 0 };
        assert_int_equal(spawn_run(&(spawn_options){ .argv = ARGV(SELF, "--helper", "fds") }, &r), 0);
        assert_int_equal(r.exit_code, 0);
        assert_string_equal(r.out, "0 1 2 ");
        spawn_result_release(&r);

        /* Even with stdin data (a pipe rather than /dev/null). */
        spawn_options o = { .argv = ARGV(SELF, "--helper", "fds"), .stdin_data = "x", .stdin_len = 1 };
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_string_equal(r.out, "0 1 2 ");
        close(leaky);
}

static void test_pass_fds(void **state)
{
        int a[2], b[2];
        assert_int_equal(pipe2(a, O_CLOEXEC), 0);
        assert_int_equal(pipe2(b, O_CLOEXEC), 0);

        _cleanup_spawn_result_ spawn_result r = { 0 };
        spawn_options o = {
                .argv = ARGV(SELF, "--helper", "fdwrite", "2"),
                .pass_fds = (int[]){ a[1], b[1] },
                .n_pass_fds = 2,
        };
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_int_equal(r.exit_code, 0);
        /* The caller still owns them. */
        assert_true(fcntl(a[1], F_GETFD) >= 0);
        close(a[1]);
        close(b[1]);
        char buf[32] = { 0 };
        assert_int_equal(read(a[0], buf, sizeof(buf) - 1), 4);
        assert_string_equal(buf, "fd 3");
        memset(buf, 0, sizeof(buf));
        assert_int_equal(read(b[0], buf, sizeof(buf) - 1), 4);
        assert_string_equal(buf, "fd 4");
        close(a[0]);
        close(b[0]);
        spawn_result_release(&r);

        o.argv = ARGV(SELF, "--helper", "fds");
        assert_int_equal(pipe2(a, O_CLOEXEC), 0);
        o.pass_fds = (int[]){ a[1] };
        o.n_pass_fds = 1;
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_string_equal(r.out, "0 1 2 3 ");
        close(a[0]);
        close(a[1]);
}

static void test_pass_fds_crossed(void **state)
{
        /* Sources that are each other's targets: pass 4 as 3 and 3 as 4. A
         * naive dup2 sequence would send both writes to one pipe. */
        if (fcntl(3, F_GETFD) >= 0 || fcntl(4, F_GETFD) >= 0)
                skip();
        int a[2], b[2];
        assert_int_equal(pipe2(a, O_CLOEXEC), 0);
        assert_int_equal(pipe2(b, O_CLOEXEC), 0);
        for (int i = 0; i < 2; i++) {
                int *fds[] = { &a[i], &b[i] };
                for (int j = 0; j < 2; j++) {
                        int high = fcntl(*fds[j], F_DUPFD_CLOEXEC, 10);
                        assert_true(high >= 10);
                        close(*fds[j]);
                        *fds[j] = high;
                }
        }
        assert_int_equal(dup3(a[1], 4, O_CLOEXEC), 4);
        assert_int_equal(dup3(b[1], 3, O_CLOEXEC), 3);
        close(a[1]);
        close(b[1]);

        _cleanup_spawn_result_ spawn_result r = { 0 };
        spawn_options o = {
                .argv = ARGV(SELF, "--helper", "fdwrite", "2"),
                .pass_fds = (int[]){ 4, 3 },
                .n_pass_fds = 2,
        };
        assert_int_equal(spawn_run(&o, &r), 0);
        assert_int_equal(r.exit_code, 0);
        close(3);
        close(4);
        char buf[32] = { 0 };
        assert_int_equal(read(a[0], buf, sizeof(buf) - 1), 4);
        assert_string_equal(buf, "fd 3");
        memset(buf, 0, sizeof(buf));
        assert_int_equal(read(b[0], buf, sizeof(buf) - 1), 4);
        assert_string_equal(buf, "fd 4");
        close(a[0]);
        close(b[0]);
}

static void test_signal_state_reset(void **state)
{
        /* main() ignores SIGPIPE like the daemon; block another one here. */
        sigset_t set, old;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigaddset(&set, SIGCHLD);
        assert_int_equal(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
        _cleanup_spawn_result_ spawn_result r = { 0 };
        int q = spawn_run(&(spawn_options){ .argv = ARGV(SELF, "--helper", "signals") }, &r);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        assert_int_equal(q, 0);
        assert_string_equal(r.out, "sigpipe=default blocked=0");
}

static void test_no_fd_leak(void **state)
{
        int before = count_fds();
        char data[100000] = { 0 };
        spawn_options cases[] = {
                { .argv = ARGV("true") },
                { .argv = ARGV("cat"), .stdin_data = data, .stdin_len = sizeof(data) },
                { .argv = ARGV("true"), .stdin_data = data, .stdin_len = sizeof(data) },
                { .argv = ARGV("ocid-no-such-program") },
                { .argv = ARGV("true"), .cwd = "/nonexistent" },
                { .argv = ARGV("sleep", "10"), .timeout_ms = 50 },
                { .argv = ARGV("sleep", "10"), .timeout_ms = 50, .new_pgroup = true },
                { .argv = ARGV("head", "-c", "100000", "/dev/zero"), .max_output = 10 },
                { .argv = ARGV("true"), .pass_fds = (int[]){ 0, 1, 2 }, .n_pass_fds = 3 },
        };
        for (int round = 0; round < 3; round++)
                for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                        spawn_result r = { 0 };
                        spawn_run(&cases[i], &r);
                        spawn_result_release(&r);
                }
        assert_int_equal(count_fds(), before);
}

#define THREADS 8
#define PER_THREAD 20

typedef struct {
        int id;
        int failures;
} worker;

static void *worker_run(void *arg)
{
        worker *w = arg;
        char data[70000];
        for (int i = 0; i < PER_THREAD; i++) {
                int n = snprintf(data, sizeof(data), "thread %d round %d ", w->id, i);
                memset(data + n, 'a' + w->id, sizeof(data) - (size_t)n);
                spawn_result r = { 0 };
                spawn_options o = {
                        .argv = ARGV("cat"),
                        .stdin_data = data,
                        .stdin_len = sizeof(data),
                        .timeout_ms = 30000,
                };
                if (spawn_run(&o, &r) < 0 || r.exit_code != 0 || r.out_len != sizeof(data) ||
                    memcmp(r.out, data, sizeof(data)) != 0)
                        w->failures++;
                spawn_result_release(&r);

                char code[16];
                snprintf(code, sizeof(code), "exit %d", (w->id * 31 + i) % 200);
                o = (spawn_options){ .argv = ARGV("sh", "-c", code), .timeout_ms = 30000 };
                if (spawn_run(&o, &r) < 0 || r.signaled || r.exit_code != (w->id * 31 + i) % 200)
                        w->failures++;
                spawn_result_release(&r);
        }
        return NULL;
}

static void test_concurrent_threads(void **state)
{
        int before = count_fds();
        pthread_t t[THREADS];
        worker w[THREADS];
        for (int i = 0; i < THREADS; i++) {
                w[i] = (worker){ .id = i };
                assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
        }
        for (int i = 0; i < THREADS; i++) {
                assert_int_equal(pthread_join(t[i], NULL), 0);
                assert_int_equal(w[i].failures, 0);
        }
        assert_int_equal(count_fds(), before);
        /* Every child was reaped by its own spawn_run. */
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
}

/* spawn_start: the caller's descriptors become the child's stdio; the
 * caller reaps it. */
static void test_start_stdio(void **state)
{
        (void)state;
        int out[2];
        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        char *argv[] = { "/bin/sh", "-c", "echo started; exit 3", NULL };
        spawn_start_options o = { .argv = argv, .stdio = { -1, out[1], -1 } };
        pid_t pid;
        int pidfd;
        assert_int_equal(spawn_start(&o, &pid, &pidfd), 0);
        close(out[1]);
        char buf[64] = "";
        ssize_t n = read(out[0], buf, sizeof(buf) - 1);
        assert_int_equal(n, 8);
        assert_string_equal(buf, "started\n");
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 3);
        close(out[0]);
        if (pidfd >= 0)
                close(pidfd);
}

/* With ctty, the terminal is the child's controlling terminal: its size
 * is the one set on the master, and the child leads its own session. */
static void test_start_ctty(void **state)
{
        (void)state;
        int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        assert_true(master >= 0);
        assert_int_equal(grantpt(master), 0);
        assert_int_equal(unlockpt(master), 0);
        char name[128];
        assert_int_equal(ptsname_r(master, name, sizeof(name)), 0);
        struct winsize ws = { .ws_row = 12, .ws_col = 34 };
        assert_int_equal(ioctl(master, TIOCSWINSZ, &ws), 0);
        char *argv[] = { "/bin/sh", "-c", "stty size; test \"$(ps -o sid= -p $$)\" -eq $$ && echo leader", NULL };
        spawn_start_options o = { .argv = argv, .ctty = name };
        pid_t pid;
        int pidfd;
        assert_int_equal(spawn_start(&o, &pid, &pidfd), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        /* A pty hands its output over in pieces; with the child gone and
         * no slave left open, reading ends with EIO once all is read. */
        char buf[256] = "";
        size_t len = 0;
        ssize_t n;
        while (len < sizeof(buf) - 1 && (n = read(master, buf + len, sizeof(buf) - 1 - len)) > 0)
                len += (size_t)n;
        assert_true(len > 0);
        assert_non_null(strstr(buf, "12 34"));
        assert_non_null(strstr(buf, "leader"));
        close(master);
        if (pidfd >= 0)
                close(pidfd);
}

int main(int argc, char **argv)
{
        if (argc > 1 && STREQ(argv[1], "--helper"))
                return helper(argc - 2, argv + 2);
        signal(SIGPIPE, SIG_IGN); /* as the daemon does */

        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exit_codes),
                cmocka_unit_test(test_capture_both_streams),
                cmocka_unit_test(test_empty_output_is_empty_string),
                cmocka_unit_test(test_large_output_both_streams),
                cmocka_unit_test(test_output_left_in_pipe_at_exit),
                cmocka_unit_test(test_stdin_roundtrip_cat),
                cmocka_unit_test(test_stdin_default_is_dev_null),
                cmocka_unit_test(test_child_ignores_stdin),
                cmocka_unit_test(test_timeout_kills),
                cmocka_unit_test(test_timeout_kills_process_group),
                cmocka_unit_test(test_grandchild_holding_stdout),
                cmocka_unit_test(test_truncation),
                cmocka_unit_test_setup_teardown(test_start_failures, tmpdir_setup, tmpdir_teardown),
                cmocka_unit_test(test_envp),
                cmocka_unit_test_setup_teardown(test_cwd, tmpdir_setup, tmpdir_teardown),
                cmocka_unit_test(test_child_gets_only_stdio),
                cmocka_unit_test(test_pass_fds),
                cmocka_unit_test(test_pass_fds_crossed),
                cmocka_unit_test(test_signal_state_reset),
                cmocka_unit_test(test_no_fd_leak),
                cmocka_unit_test(test_concurrent_threads),
                cmocka_unit_test(test_start_stdio),
                cmocka_unit_test(test_start_ctty),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
