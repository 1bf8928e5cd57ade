#include "runtime/container.h"
#include "storage/db.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/keyset.h"
#include "util/log.h"
#include "util/spawn.h"
#include "util/strbuf.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>

#define CONMON_SYNC_TIMEOUT_MS 60000
#define RUNTIME_TIMEOUT_MS 60000
#define KILL_WAIT_MS 10000
#define EXEC_MAX_OUTPUT (16 * 1024 * 1024)

struct container_manager {
        char *root_dir;     /* ROOT/containers */
        char *run_dir;      /* RUNROOT/containers */
        char *exits_dir;    /* RUNROOT/exits */
        char *attach_dir;   /* RUNROOT/attach */
        char *conmon;
        runtime_handler *handlers;
        size_t n_handlers;
        bool systemd_cgroup;
        store *store;
        sqlite3 *db;
        pthread_mutex_t lock;   /* the database handle */
        keyset busy;            /* IDs with an operation in progress */
        keyset reserved;        /* name keys of containers being created */
        /* One inotify instance for the daemon's life (destroying one costs
         * the kernel an RCU grace period: ~20 ms per StopContainer), read
         * by a thread that wakes the waiters on every change of exits/. */
        int exits_watch;
        int watcher_wake;       /* eventfd: stop the watcher */
        pthread_t watcher;
        bool watching;
        pthread_mutex_t exits_lock;
        pthread_cond_t exits_changed;
};

static const char schema[] =
        "CREATE TABLE IF NOT EXISTS containers ("
        "  id TEXT PRIMARY KEY,"
        "  sandbox_id TEXT NOT NULL, name TEXT NOT NULL, attempt INTEGER NOT NULL,"
        "  image_id TEXT NOT NULL, image_name TEXT NOT NULL,"
        "  state INTEGER NOT NULL,"
        "  created_at INTEGER NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL,"
        "  exit_code INTEGER NOT NULL, oom INTEGER NOT NULL,"
        "  log_path TEXT NOT NULL, runtime_handler TEXT NOT NULL, stop_signal TEXT NOT NULL,"
        "  pid INTEGER NOT NULL, bundle TEXT NOT NULL,"
        "  config BLOB NOT NULL, spec TEXT NOT NULL,"
        "  infra INTEGER NOT NULL DEFAULT 0,"
        "  UNIQUE (sandbox_id, name, attempt));";

#define COLUMNS "id, sandbox_id, name, attempt, image_id, image_name, state, created_at, started_at, " \
                "finished_at, exit_code, oom, log_path, runtime_handler, stop_signal, pid, bundle, "  \
                "config, spec, infra"

void container_free(container *c)
{
        if (!c)
                return;
        free(c->id);
        free(c->sandbox_id);
        free(c->name);
        free(c->image_id);
        free(c->image_name);
        free(c->log_path);
        free(c->runtime_handler);
        free(c->stop_signal);
        free(c->bundle);
        free(c->config);
        free(c->spec_json);
        free(c);
}

void containers_free(container **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                container_free(v[i]);
        free(v);
}

void exec_result_release(exec_result *r)
{
        free(r->out);
        free(r->err);
        *r = (exec_result){ 0 };
}

static int64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int db_error(container_manager *m, ocid_error *err, const char *what)
{
        return ocid_error_set(err, OCID_ERR_INTERNAL, "container state: %s: %s", what, sqlite3_errmsg(m->db));
}


static container *from_row(sqlite3_stmt *st)
{
        container *c = xcalloc(1, sizeof(*c));
        c->id = db_text(st, 0);
        c->sandbox_id = db_text(st, 1);
        c->name = db_text(st, 2);
        c->attempt = (uint32_t)sqlite3_column_int64(st, 3);
        c->image_id = db_text(st, 4);
        c->image_name = db_text(st, 5);
        c->state = (container_state)sqlite3_column_int(st, 6);
        c->created_at = sqlite3_column_int64(st, 7);
        c->started_at = sqlite3_column_int64(st, 8);
        c->finished_at = sqlite3_column_int64(st, 9);
        c->exit_code = sqlite3_column_int(st, 10);
        c->oom_killed = sqlite3_column_int(st, 11);
        c->log_path = db_text(st, 12);
        c->runtime_handler = db_text(st, 13);
        c->stop_signal = db_text(st, 14);
        c->pid = sqlite3_column_int(st, 15);
        c->bundle = db_text(st, 16);
        c->config_len = (size_t)sqlite3_column_bytes(st, 17);
        c->config = xcalloc(c->config_len + 1, 1);
        if (c->config_len) /* SQLite gives NULL for an empty blob */
                memcpy(c->config, sqlite3_column_blob(st, 17), c->config_len);
        c->spec_json = db_text(st, 18);
        c->infra = sqlite3_column_int(st, 19);
        return c;
}

/* ---- runtime invocations ---------------------------------------------------- */

static const runtime_handler *handler_named(container_manager *m, const char *name)
{
        for (size_t i = 0; i < m->n_handlers; i++)
                if (STREQ(m->handlers[i].name, name))
                        return &m->handlers[i];
        return NULL;
}

/* Run `<runtime> --root <root> <args...>`; its stderr becomes the message. */
static int run_runtime(container_manager *m, const char *handler, char *const *args, ocid_error *err)
{
        const runtime_handler *h = handler_named(m, handler);
        if (!h)
                return ocid_error_set(err, OCID_ERR_PRECONDITION, "runtime handler '%s' is not configured", handler);
        _cleanup_strv_ char **argv = NULL;
        argv = strv_push(argv, h->path);
        argv = strv_push(argv, "--root");
        argv = strv_push(argv, h->root);
        for (size_t i = 0; args[i]; i++)
                argv = strv_push(argv, args[i]);
        spawn_options opts = { .argv = argv, .timeout_ms = RUNTIME_TIMEOUT_MS };
        spawn_result res = { 0 };
        int r = spawn_run(&opts, &res);
        if (r < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, r, "cannot run %s", h->path);
        if (res.timed_out || res.signaled || res.exit_code != 0) {
                /* crun and runc print one line per problem; keep the last. */
                char *msg = res.err_len ? res.err : res.out;
                size_t n = strlen(msg);
                while (n && msg[n - 1] == '\n')
                        msg[--n] = '\0';
                r = ocid_error_set(err, OCID_ERR_INTERNAL, "%s %s: %s", handler, args[0],
                                   res.timed_out ? "timed out" : n ? msg : "failed");
        }
        spawn_result_release(&res);
        return r;
}

static bool runtime_says_gone(const ocid_error *err)
{
        return err->message && (strstr(err->message, "does not exist") || strstr(err->message, "not exist") ||
                                strstr(err->message, "not running") || strstr(err->message, "No such"));
}

/* ---- exits ------------------------------------------------------------------- */

static char *exit_file(container_manager *m, const char *id)
{
        return fs_path_join(m->exits_dir, id);
}

/* The pid of the live conmon whose pid file is in bundle: 0 when there
 * is none (any more), -1 when the file is not written yet. */
static int bundle_conmon(const char *bundle)
{
        _cleanup_free_ char *pidfile = fs_path_join(bundle, "conmon.pid");
        _cleanup_free_ char *text = NULL, *stat_path = NULL, *stat_text = NULL;
        size_t len;
        if (fs_read_file(pidfile, 64, &text, &len) < 0)
                return -1;
        int pid = atoi(text);
        if (pid <= 0 || asprintf(&stat_path, "/proc/%d/stat", pid) < 0)
                return -1;
        if (fs_read_file(stat_path, 4096, &stat_text, &len) < 0)
                return 0;
        /* "pid (comm) state ...": the pid may have been reused by another
         * program, and a killed conmon lingers as a zombie until reaped. */
        const char *open_paren = strchr(stat_text, '('), *close_paren = strrchr(stat_text, ')');
        if (!open_paren || !close_paren || strncmp(open_paren + 1, "conmon)", 7) != 0)
                return 0;
        return close_paren[1] == ' ' && close_paren[2] != 'Z' && close_paren[2] != 'X' ? pid : 0;
}

/* conmon is the only one who writes the exit file: if it is gone, the
 * container would look alive forever. */
static bool conmon_alive(const container *c)
{
        return bundle_conmon(c->bundle) != 0; /* not written yet: conmon is starting */
}

/* If conmon wrote the exit file, record the end. If conmon died, stop the
 * container it no longer watches and record that. */
static void refresh(container_manager *m, container *c)
{
        if (c->state != CONTAINER_RUNNING && c->state != CONTAINER_CREATED)
                return;
        _cleanup_free_ char *path = exit_file(m, c->id);
        _cleanup_free_ char *text = NULL;
        size_t len;
        struct stat st;
        if (stat(path, &st) < 0 && !conmon_alive(c)) {
                log_warn("container %s: conmon is gone; killing the container", c->id);
                ocid_error ignored = OCID_ERROR_INIT;
                char *args[] = { "kill", c->id, "KILL", NULL };
                run_runtime(m, c->runtime_handler, args, &ignored);
                ocid_error_clear(&ignored);
                fs_write_file_replace(path, "137", 3, 0600);
        }
        if (stat(path, &st) < 0 || fs_read_file(path, 64, &text, &len) < 0)
                return;
        c->state = CONTAINER_EXITED;
        c->exit_code = atoi(text);
        /* File times come from the kernel's coarse clock, up to a tick
         * behind the one started_at was read from: a process that exits at
         * once must not look as if it ended before it started. */
        int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        c->finished_at = mtime > c->started_at ? mtime : c->started_at;
        _cleanup_free_ char *oom = fs_path_join(c->bundle, "oom");
        c->oom_killed = access(oom, F_OK) == 0;
        c->pid = 0;
        sqlite3_stmt *q;
        pthread_mutex_lock(&m->lock);
        if (sqlite3_prepare_v2(m->db, "UPDATE containers SET state = ?, exit_code = ?, finished_at = ?, oom = ?, pid = 0 "
                                      "WHERE id = ? AND state IN (0, 1)", -1, &q, NULL) == SQLITE_OK) {
                sqlite3_bind_int(q, 1, c->state);
                sqlite3_bind_int(q, 2, c->exit_code);
                sqlite3_bind_int64(q, 3, c->finished_at);
                sqlite3_bind_int(q, 4, c->oom_killed);
                sqlite3_bind_text(q, 5, c->id, -1, SQLITE_STATIC);
                sqlite3_step(q);
                sqlite3_finalize(q);
        }
        pthread_mutex_unlock(&m->lock);
}

static void *watch_exits(void *arg)
{
        container_manager *m = arg;
        for (;;) {
                struct pollfd pfd[2] = { { .fd = m->exits_watch, .events = POLLIN },
                                         { .fd = m->watcher_wake, .events = POLLIN } };
                if (poll(pfd, 2, -1) < 0 && errno != EINTR)
                        return NULL;
                if (pfd[1].revents)
                        return NULL;
                char buf[4096];
                while (read(m->exits_watch, buf, sizeof(buf)) > 0)
                        ;
                pthread_mutex_lock(&m->exits_lock);
                pthread_cond_broadcast(&m->exits_changed);
                pthread_mutex_unlock(&m->exits_lock);
        }
}

static struct timespec realtime_after_ms(long ms)
{
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += ms / 1000;
        t.tv_nsec += (ms % 1000) * 1000000;
        if (t.tv_nsec >= 1000000000) {
                t.tv_sec++;
                t.tv_nsec -= 1000000000;
        }
        return t;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
        return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Wait until conmon writes the exit file, at most timeout_ms. */
static bool wait_exit(container_manager *m, const char *id, int timeout_ms)
{
        _cleanup_free_ char *path = exit_file(m, id);
        struct timespec deadline = realtime_after_ms(timeout_ms);
        bool exited;
        pthread_mutex_lock(&m->exits_lock);
        for (;;) {
                /* Checked under the lock the watcher signals with: no exit
                 * can slip between the check and the wait. */
                exited = access(path, F_OK) == 0;
                if (exited)
                        break;
                struct timespec until = deadline;
                if (!m->watching) {
                        /* No inotify: look again every 100 ms. */
                        struct timespec step = realtime_after_ms(100);
                        if (before(&step, &deadline))
                                until = step;
                }
                pthread_cond_timedwait(&m->exits_changed, &m->exits_lock, &until);
                struct timespec now = realtime_after_ms(0);
                if (!before(&now, &deadline)) {
                        exited = access(path, F_OK) == 0;
                        break;
                }
        }
        pthread_mutex_unlock(&m->exits_lock);
        return exited;
}

/* ---- queries -------------------------------------------------------------------- */

static int find(container_manager *m, const char *id, container **ret, ocid_error *err)
{
        if (!id || !*id)
                return ocid_error_set(err, OCID_ERR_INVALID, "no container ID given");
        if (strspn(id, "0123456789abcdef") != strlen(id))
                return ocid_error_set(err, OCID_ERR_NOT_FOUND, "container '%s' not found", id);
        _cleanup_free_ char *pattern = NULL;
        if (asprintf(&pattern, "%s%%", id) < 0)
                abort();
        sqlite3_stmt *st;
        container *c = NULL;
        int r = 0;
        pthread_mutex_lock(&m->lock);
        if (sqlite3_prepare_v2(m->db, "SELECT " COLUMNS " FROM containers WHERE id LIKE ? LIMIT 2", -1, &st,
                               NULL) != SQLITE_OK) {
                r = db_error(m, err, "prepare");
        } else {
                sqlite3_bind_text(st, 1, pattern, -1, SQLITE_STATIC);
                if (sqlite3_step(st) == SQLITE_ROW)
                        c = from_row(st);
                if (c && sqlite3_step(st) == SQLITE_ROW)
                        r = ocid_error_set(err, OCID_ERR_INVALID, "container ID prefix '%s' is ambiguous", id);
                else if (!c)
                        r = ocid_error_set(err, OCID_ERR_NOT_FOUND, "container '%s' not found", id);
                sqlite3_finalize(st);
        }
        pthread_mutex_unlock(&m->lock);
        if (r < 0) {
                container_free(c);
                return r;
        }
        refresh(m, c);
        *ret = c;
        return 0;
}

int container_get(container_manager *m, const char *id, container **ret, ocid_error *err)
{
        return find(m, id, ret, err);
}

int container_list(container_manager *m, container ***ret, size_t *ret_n, ocid_error *err)
{
        sqlite3_stmt *st;
        container **list = NULL;
        size_t n = 0;
        int r = 0;
        pthread_mutex_lock(&m->lock);
        if (sqlite3_prepare_v2(m->db, "SELECT " COLUMNS " FROM containers ORDER BY created_at", -1, &st, NULL) != SQLITE_OK) {
                r = db_error(m, err, "prepare");
        } else {
                while (sqlite3_step(st) == SQLITE_ROW) {
                        list = realloc(list, (n + 1) * sizeof(*list));
                        if (!list)
                                abort();
                        list[n++] = from_row(st);
                }
                sqlite3_finalize(st);
        }
        pthread_mutex_unlock(&m->lock);
        for (size_t i = 0; i < n; i++)
                refresh(m, list[i]);
        *ret = list;
        *ret_n = n;
        return r;
}

int container_list_by_sandbox(container_manager *m, const char *sandbox_id, char ***ret_ids,
                              ocid_error *err)
{
        sqlite3_stmt *st;
        char **ids = xcalloc(1, sizeof(char *));
        int r = 0;
        pthread_mutex_lock(&m->lock);
        if (sqlite3_prepare_v2(m->db, "SELECT id FROM containers WHERE sandbox_id = ?", -1, &st, NULL) != SQLITE_OK) {
                r = db_error(m, err, "prepare");
        } else {
                sqlite3_bind_text(st, 1, sandbox_id, -1, SQLITE_STATIC);
                while (sqlite3_step(st) == SQLITE_ROW)
                        ids = strv_push(ids, (const char *)sqlite3_column_text(st, 0));
                sqlite3_finalize(st);
        }
        pthread_mutex_unlock(&m->lock);
        *ret_ids = ids;
        return r;
}

static int set_state(container_manager *m, const char *id, const char *sql, int64_t value, ocid_error *err)
{
        sqlite3_stmt *st;
        int r = 0;
        pthread_mutex_lock(&m->lock);
        if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK) {
                r = db_error(m, err, "prepare");
        } else {
                sqlite3_bind_int64(st, 1, value);
                sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
                if (sqlite3_step(st) != SQLITE_DONE)
                        r = db_error(m, err, "update");
                sqlite3_finalize(st);
        }
        pthread_mutex_unlock(&m->lock);
        return r;
}

/* ---- create ---------------------------------------------------------------------- */


/* The container's root: its image's layers below its own upper dir. */
static int mount_rootfs(container_manager *m, const char *dir, char *const *layers, ocid_error *err)
{
        _cleanup_strbuf_ strbuf opts = STRBUF_INIT;
        size_t n = strv_length(layers);
        if (n == 0)
                return ocid_error_set(err, OCID_ERR_INVALID, "the image has no layers");
        strbuf_adds(&opts, "lowerdir=");
        for (size_t i = n; i-- > 0;) {
                _cleanup_free_ char *p = store_layer_path(m->store, layers[i]);
                strbuf_addf(&opts, "%s%s", p, i ? ":" : "");
        }
        /* The upper dir is thrown away with the container: no need to
         * sync it at unmount. */
        strbuf_addf(&opts, ",upperdir=%s/upper,workdir=%s/work,volatile", dir, dir);
        if (opts.len >= 4000)
                return ocid_error_set(err, OCID_ERR_INVALID, "the image has too many layers (%zu) to mount", n);
        /* The merged root directory takes its mode and owner from the
         * upper dir, which was made 0700 root: give it the image's own
         * (the topmost layer's root), or a non-root user in the container
         * cannot even traverse "/". */
        _cleanup_free_ char *top = store_layer_path(m->store, layers[n - 1]);
        _cleanup_free_ char *upper = fs_path_join(dir, "upper");
        struct stat st;
        if (stat(top, &st) < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "layer %s", top);
        if (chown(upper, st.st_uid, st.st_gid) < 0 || chmod(upper, st.st_mode & 07777) < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot set up %s", upper);
        _cleanup_free_ char *rootfs = fs_path_join(dir, "rootfs");
        if (mount("overlay", rootfs, "overlay", 0, opts.buf) < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot mount the root filesystem");
        return 0;
}

/* conmon's entry for the container in the attach directory (a symlink
 * to the bundle, named after the container): it outlives conmon. */
static void remove_attach_link(container_manager *m, const char *id)
{
        _cleanup_free_ char *link = fs_path_join(m->attach_dir, id);
        unlink(link);
}

/* A runtime whose create failed can leave the container's (empty)
 * cgroups behind: crun does when writing a controller file fails. rmdir
 * removes only empty cgroups, so this never touches a live one. Every
 * hierarchy under /sys/fs/cgroup (v1 controllers, the unified one) and
 * the v2 root itself. */
static void remove_cgroups(const char *cgroups_path)
{
        if (!cgroups_path || cgroups_path[0] != '/')
                return; /* the systemd driver's slice:prefix:name form */
        _cleanup_free_ char *top = fs_path_join("/sys/fs/cgroup", cgroups_path);
        rmdir(top);
        DIR *d = opendir("/sys/fs/cgroup");
        if (!d)
                return;
        struct dirent *e;
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "/sys/fs/cgroup/%s%s", e->d_name, cgroups_path) < 0)
                        abort();
                rmdir(p);
        }
        closedir(d);
}

static void unmount_rootfs(const char *dir)
{
        _cleanup_free_ char *rootfs = fs_path_join(dir, "rootfs");
        if (umount2(rootfs, 0) < 0 && errno != EINVAL && errno != ENOENT)
                umount2(rootfs, MNT_DETACH);
}

/* Start conmon, which runs `runtime create` and reports the container's
 * pid (or the runtime's error) on the sync pipe. */
static int start_conmon(container_manager *m, const container *c, const runtime_handler *h, bool tty,
                        bool stdin_open, bool stdin_once, int *ret_pid, ocid_error *err)
{
        int sync[2];
        if (pipe2(sync, O_CLOEXEC) < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "pipe");
        _cleanup_close_ int sync_read = sync[0];
        _cleanup_close_ int sync_write = sync[1];
        _cleanup_free_ char *pidfile = fs_path_join(c->bundle, "pidfile");
        _cleanup_free_ char *conmon_pidfile = fs_path_join(c->bundle, "conmon.pid");
        _cleanup_free_ char *log = NULL;
        if (asprintf(&log, "k8s-file:%s", *c->log_path ? c->log_path : "/dev/null") < 0)
                abort();
        _cleanup_strv_ char **argv = NULL;
        argv = strv_push(argv, m->conmon);
#define ARG2(a, b) (argv = strv_push(strv_push(argv, a), b))
        ARG2("--api-version", "1");
        ARG2("-c", c->id);
        ARG2("-u", c->id);
        ARG2("-r", h->path);
        ARG2("-b", c->bundle);
        ARG2("-p", pidfile);
        ARG2("-n", c->name);
        ARG2("--exit-dir", m->exits_dir);
        ARG2("-l", log);
        ARG2("--log-level", "error");
        ARG2("--socket-dir-path", m->attach_dir);
        ARG2("--persist-dir", c->bundle);
        ARG2("--conmon-pidfile", conmon_pidfile);
        ARG2("--runtime-arg", "--root");
        ARG2("--runtime-arg", h->root);
#undef ARG2
        argv = strv_push(argv, "--syslog");
        /* The log stays readable from the page cache: a sync at every
         * container exit would only guard against a power loss. */
        argv = strv_push(argv, "--no-sync-log");
        if (m->systemd_cgroup)
                argv = strv_push(argv, "-s");
        if (tty)
                argv = strv_push(argv, "-t");
        if (stdin_open) {
                argv = strv_push(argv, "-i");
                if (!stdin_once)
                        argv = strv_push(argv, "--leave-stdin-open");
        }
        _cleanup_strv_ char **env = NULL;
        env = strv_push(env, "_OCI_SYNCPIPE=3");
        env = strv_pushf(env, "PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/sbin:/usr/bin:/sbin:/bin");
        int fds[] = { sync_write };
        /* conmon writes its "oom" file into its working directory too:
         * the bundle, not wherever the daemon was started. */
        spawn_options opts = { .argv = argv, .envp = env, .pass_fds = fds, .n_pass_fds = 1, .cwd = c->bundle,
                               .timeout_ms = CONMON_SYNC_TIMEOUT_MS };
        spawn_result res = { 0 };
        int r = spawn_run(&opts, &res);
        if (r < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, r, "cannot run %s", m->conmon);
        close(TAKE_FD(sync_write));
        if (res.exit_code != 0 || res.signaled) {
                r = ocid_error_set(err, OCID_ERR_INTERNAL, "conmon failed: %s", res.err_len ? res.err : res.out);
                spawn_result_release(&res);
                return r;
        }
        spawn_result_release(&res);

        /* The daemonized conmon writes {"data": pid} or {"data": -1,
         * "message": "..."} once the runtime's create is done, and keeps
         * the pipe open: read until one whole JSON document arrived. */
        _cleanup_strbuf_ strbuf msg = STRBUF_INIT;
        json_object *doc = NULL;
        struct pollfd pfd = { .fd = sync_read, .events = POLLIN };
        while (!doc) {
                int p = poll(&pfd, 1, CONMON_SYNC_TIMEOUT_MS);
                if (p <= 0)
                        return ocid_error_set(err, OCID_ERR_DEADLINE, "conmon did not report the container's start");
                char buf[4096];
                ssize_t n = read(sync_read, buf, sizeof(buf));
                if (n <= 0 || msg.len > 65536)
                        break;
                strbuf_add(&msg, buf, (size_t)n);
                doc = json_tokener_parse(msg.buf);
        }
        json_object *pid = NULL, *text = NULL;
        if (!doc || !(json_object_object_get_ex(doc, "data", &pid) || json_object_object_get_ex(doc, "pid", &pid))) {
                json_object_put(doc);
                return ocid_error_set(err, OCID_ERR_INTERNAL, "conmon: unexpected answer '%.200s'", msg.buf);
        }
        int value = json_object_get_int(pid);
        if (value <= 0) {
                json_object_object_get_ex(doc, "message", &text);
                _cleanup_free_ char *why = xstrdup(text ? json_object_get_string(text) : "failed");
                why[strcspn(why, "\n")] = '\0';
                r = ocid_error_set(err, OCID_ERR_INTERNAL, "%s create: %s%s", h->name, why,
                                   strstr(why, "hybrid mode")
                                           ? " (mount the hugetlb controller as cgroup v1: "
                                             "mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb)"
                                           : "");
        } else {
                *ret_pid = value;
        }
        json_object_put(doc);
        return r;
}

static int insert(container_manager *m, const container *c, ocid_error *err)
{
        sqlite3_stmt *st;
        int r = 0;
        pthread_mutex_lock(&m->lock);
        if (sqlite3_prepare_v2(m->db, "INSERT INTO containers (" COLUMNS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                               -1, &st, NULL) != SQLITE_OK) {
                r = db_error(m, err, "prepare");
        } else {
                sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, c->sandbox_id, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 3, c->name, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 4, c->attempt);
                sqlite3_bind_text(st, 5, c->image_id, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 6, c->image_name, -1, SQLITE_STATIC);
                sqlite3_bind_int(st, 7, c->state);
                sqlite3_bind_int64(st, 8, c->created_at);
                sqlite3_bind_int64(st, 9, 0);
                sqlite3_bind_int64(st, 10, 0);
                sqlite3_bind_int(st, 11, 0);
                sqlite3_bind_int(st, 12, 0);
                sqlite3_bind_text(st, 13, c->log_path, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 14, c->runtime_handler, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 15, c->stop_signal, -1, SQLITE_STATIC);
                sqlite3_bind_int(st, 16, c->pid);
                sqlite3_bind_text(st, 17, c->bundle, -1, SQLITE_STATIC);
                sqlite3_bind_blob(st, 18, c->config, (int)c->config_len, SQLITE_STATIC);
                sqlite3_bind_text(st, 19, c->spec_json, -1, SQLITE_STATIC);
                sqlite3_bind_int(st, 20, c->infra);
                if (sqlite3_step(st) != SQLITE_DONE)
                        r = db_error(m, err, "insert");
                sqlite3_finalize(st);
        }
        pthread_mutex_unlock(&m->lock);
        return r;
}

static bool name_taken(container_manager *m, const container_request *req, char **ret_id)
{
        sqlite3_stmt *st;
        bool taken = false;
        if (sqlite3_prepare_v2(m->db, "SELECT id FROM containers WHERE sandbox_id = ? AND name = ? AND attempt = ?",
                               -1, &st, NULL) != SQLITE_OK)
                return false;
        sqlite3_bind_text(st, 1, req->sandbox_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, req->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, req->attempt);
        if (sqlite3_step(st) == SQLITE_ROW) {
                taken = true;
                *ret_id = db_text(st, 0);
        }
        sqlite3_finalize(st);
        return taken;
}

int container_create(container_manager *m, const container_request *req, container_spec *spec,
                     char **ret_id, ocid_error *err)
{
        const runtime_handler *h = handler_named(m, req->runtime_handler);
        if (!h)
                return ocid_error_set(err, OCID_ERR_INVALID, "runtime handler '%s' is not configured",
                                      req->runtime_handler);
        _cleanup_free_ char *key = NULL;
        if (asprintf(&key, "%s\x1f%s\x1f%u", req->sandbox_id, req->name, req->attempt) < 0)
                abort();
        _cleanup_free_ char *existing = NULL;
        bool reserved = keyset_try_enter(&m->reserved, key);
        if (reserved) {
                pthread_mutex_lock(&m->lock);
                name_taken(m, req, &existing);
                pthread_mutex_unlock(&m->lock);
        }
        if (existing || !reserved) {
                if (reserved)
                        keyset_leave(&m->reserved, key);
                return ocid_error_set(err, OCID_ERR_EXISTS,
                                      "container '%s' (attempt %u) already exists in pod %s%s%s", req->name,
                                      req->attempt, req->sandbox_id, existing ? " with id " : "",
                                      existing ? existing : "");
        }

        container c = {
                .id = db_new_id(), .sandbox_id = (char *)req->sandbox_id, .name = (char *)req->name,
                .attempt = req->attempt, .image_id = (char *)req->image_id,
                .image_name = (char *)req->image_name, .state = CONTAINER_CREATED,
                .created_at = now_ns(), .log_path = (char *)(req->log_path ? req->log_path : ""),
                .runtime_handler = (char *)req->runtime_handler,
                .stop_signal = (char *)(req->stop_signal ? req->stop_signal : ""),
                .config = (void *)req->config, .config_len = req->config_len,
                .infra = req->infra,
        };
        c.bundle = fs_path_join(m->run_dir, c.id);
        _cleanup_free_ char *dir = fs_path_join(m->root_dir, c.id);
        _cleanup_free_ char *rootfs = req->rootfs_dir ? xstrdup(req->rootfs_dir) : fs_path_join(dir, "rootfs");
        _cleanup_free_ char *cgroups_path = NULL;
        const char *parent = req->cgroup_parent && *req->cgroup_parent ? req->cgroup_parent : NULL;
        if (m->systemd_cgroup) {
                if (asprintf(&cgroups_path, "%s:ocid:%s", parent ? parent : "system.slice", c.id) < 0)
                        abort();
        } else if (asprintf(&cgroups_path, "%s/ocid-%s", parent ? parent : "", c.id) < 0) {
                abort();
        }
        bool mounted = false, used = false, conmon_started = false;
        int r = 0;
        char *subdirs[] = { "upper", "work", "rootfs" };
        for (size_t i = 0; r == 0 && i < ARRAY_SIZE(subdirs); i++) {
                _cleanup_free_ char *p = fs_path_join(dir, subdirs[i]);
                int q = fs_mkdir_p(p, 0700);
                if (q < 0)
                        r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, q, "cannot create %s", p);
        }
        if (r == 0) {
                int q = fs_mkdir_p(c.bundle, 0700);
                if (q < 0)
                        r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, q, "cannot create %s", c.bundle);
        }
        if (r == 0 && !req->rootfs_dir && (r = store_layers_use(m->store, c.id, req->layers, err)) == 0)
                used = true;
        if (r == 0 && !req->rootfs_dir && (r = mount_rootfs(m, dir, req->layers, err)) == 0)
                mounted = true;
        spec->rootfs = rootfs;
        spec->cgroups_path = cgroups_path;
        if (r == 0 && req->prepare_spec)
                r = req->prepare_spec(spec, rootfs, req->prepare_data, err);
        json_object *config = NULL;
        if (r == 0)
                r = oci_spec_generate(spec, &config, err);
        if (r == 0) {
                c.spec_json = xstrdup(json_object_to_json_string_ext(config, JSON_C_TO_STRING_PLAIN |
                                                                             JSON_C_TO_STRING_NOSLASHESCAPE));
                _cleanup_free_ char *path = fs_path_join(c.bundle, "config.json");
                int q = fs_write_file_replace(path, c.spec_json, strlen(c.spec_json), 0600);
                if (q < 0)
                        r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, q, "cannot write %s", path);
        }
        json_object_put(config);
        if (r == 0 && c.log_path[0]) {
                _cleanup_free_ char *logdir = xstrdup(c.log_path);
                *strrchr(logdir, '/') = '\0';
                if (*logdir)
                        fs_mkdir_p(logdir, 0755);
        }
        if (r == 0 && (r = start_conmon(m, &c, h, spec->tty, spec->stdin_open, spec->stdin_once, &c.pid, err)) == 0)
                conmon_started = true;
        if (r == 0)
                r = insert(m, &c, err);

        if (r < 0) {
                ocid_error ignored = OCID_ERROR_INIT;
                if (conmon_started) {
                        char *args[] = { "delete", "--force", c.id, NULL };
                        run_runtime(m, c.runtime_handler, args, &ignored);
                        ocid_error_clear(&ignored);
                }
                if (mounted)
                        unmount_rootfs(dir);
                fs_remove_tree(dir);
                fs_remove_tree(c.bundle);
                _cleanup_free_ char *exitf = exit_file(m, c.id);
                unlink(exitf);
                remove_attach_link(m, c.id);
                if (!m->systemd_cgroup)
                        remove_cgroups(cgroups_path);
                if (used)
                        store_layers_unuse(m->store, c.id, &ignored);
                ocid_error_clear(&ignored);
        } else {
                log_info("container %s (%s) created in pod %s, pid %d", c.id, c.name, c.sandbox_id, c.pid);
                *ret_id = xstrdup(c.id);
        }
        keyset_leave(&m->reserved, key);
        free(c.id);
        free(c.bundle);
        free(c.spec_json);
        return r;
}

/* ---- start, stop, remove ------------------------------------------------------------ */

int container_start(container_manager *m, const char *id, ocid_error *err)
{
        container *c = NULL;
        if (find(m, id, &c, err) < 0)
                return -1;
        keyset_enter(&m->busy, c->id);
        int r = 0;
        if (c->state != CONTAINER_CREATED) {
                r = ocid_error_set(err, OCID_ERR_PRECONDITION, "container %s is %s, not created", c->id,
                                   c->state == CONTAINER_RUNNING ? "running" : "not startable");
        } else {
                char *args[] = { "start", c->id, NULL };
                /* Taken before: a quick process can exit (and conmon stamp
                 * its exit file) before `start` returns. */
                int64_t started = now_ns();
                r = run_runtime(m, c->runtime_handler, args, err);
                if (r == 0)
                        r = set_state(m, c->id, "UPDATE containers SET state = 1, started_at = ? WHERE id = ?",
                                      started, err);
                if (r == 0)
                        log_info("container %s started", c->id);
        }
        keyset_leave(&m->busy, c->id);
        container_free(c);
        return r;
}

static int signal_number(const char *name)
{
        static const struct { const char *name; int sig; } table[] = {
                { "TERM", SIGTERM }, { "KILL", SIGKILL }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
                { "HUP", SIGHUP }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "WINCH", SIGWINCH },
                { "STOP", SIGSTOP }, { "PWR", SIGPWR },
        };
        if (!name || !*name)
                return SIGTERM;
        if (strncasecmp(name, "SIG", 3) == 0)
                name += 3;
        char *end;
        long n = strtol(name, &end, 10);
        if (!*end && n > 0 && n < 65)
                return (int)n;
        for (size_t i = 0; i < ARRAY_SIZE(table); i++)
                if (strcasecmp(name, table[i].name) == 0)
                        return table[i].sig;
        return SIGTERM;
}

static int kill_container(container_manager *m, const container *c, int sig, ocid_error *err)
{
        char num[16];
        snprintf(num, sizeof(num), "%d", sig);
        char *args[] = { "kill", c->id, num, NULL };
        if (run_runtime(m, c->runtime_handler, args, err) < 0) {
                if (!runtime_says_gone(err))
                        return -1;
                ocid_error_clear(err);
        }
        return 0;
}

static int stop_locked(container_manager *m, container *c, int64_t timeout_s, ocid_error *err)
{
        refresh(m, c);
        if (c->state == CONTAINER_EXITED)
                return 0;
        if (c->state == CONTAINER_RUNNING && timeout_s > 0) {
                if (kill_container(m, c, signal_number(c->stop_signal), err) < 0)
                        return -1;
                if (wait_exit(m, c->id, (int)(timeout_s > 3600 ? 3600000 : timeout_s * 1000))) {
                        refresh(m, c);
                        return 0;
                }
        }
        if (kill_container(m, c, SIGKILL, err) < 0)
                return -1;
        bool exited = wait_exit(m, c->id, KILL_WAIT_MS);
        refresh(m, c);
        if (!exited && c->state == CONTAINER_RUNNING)
                return ocid_error_set(err, OCID_ERR_INTERNAL, "container %s did not exit after SIGKILL", c->id);
        if (c->state == CONTAINER_CREATED) {
                /* Never started: it has no exit to wait for. */
                set_state(m, c->id, "UPDATE containers SET state = 2, finished_at = ? WHERE id = ?", now_ns(), err);
        }
        return 0;
}

int container_stop(container_manager *m, const char *id, int64_t timeout_s, ocid_error *err)
{
        container *c = NULL;
        if (find(m, id, &c, err) < 0)
                return -1;
        keyset_enter(&m->busy, c->id);
        int r = stop_locked(m, c, timeout_s, err);
        if (r == 0)
                log_info("container %s stopped", c->id);
        keyset_leave(&m->busy, c->id);
        container_free(c);
        return r;
}

int container_remove(container_manager *m, const char *id, ocid_error *err)
{
        container *c = NULL;
        if (find(m, id, &c, err) < 0) {
                if (err->kind != OCID_ERR_NOT_FOUND)
                        return -1;
                ocid_error_clear(err);
                return 0;
        }
        keyset_enter(&m->busy, c->id);
        int r = stop_locked(m, c, 0, err);
        if (r == 0) {
                char *args[] = { "delete", "--force", c->id, NULL };
                if (run_runtime(m, c->runtime_handler, args, err) < 0) {
                        if (runtime_says_gone(err)) {
                                ocid_error_clear(err);
                        } else {
                                r = -1;
                        }
                }
        }
        if (r == 0) {
                _cleanup_free_ char *dir = fs_path_join(m->root_dir, c->id);
                _cleanup_free_ char *exitf = exit_file(m, c->id);
                unmount_rootfs(dir);
                int q = fs_remove_tree(dir);
                if (q == 0)
                        q = fs_remove_tree(c->bundle);
                if (q < 0)
                        r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, q, "cannot remove container %s", c->id);
                unlink(exitf);
                remove_attach_link(m, c->id);
        }
        if (r == 0)
                r = store_layers_unuse(m->store, c->id, err);
        if (r == 0) {
                sqlite3_stmt *st;
                pthread_mutex_lock(&m->lock);
                if (sqlite3_prepare_v2(m->db, "DELETE FROM containers WHERE id = ?", -1, &st, NULL) == SQLITE_OK) {
                        sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
                        if (sqlite3_step(st) != SQLITE_DONE)
                                r = db_error(m, err, "delete");
                        sqlite3_finalize(st);
                }
                pthread_mutex_unlock(&m->lock);
        }
        if (r == 0)
                log_info("container %s removed", c->id);
        keyset_leave(&m->busy, c->id);
        container_free(c);
        return r;
}

/* ---- exec, update, logs ---------------------------------------------------------------- */

/* Write the process spec for running args in c: the container's own
 * process settings with this command. */
static int write_exec_spec(const container *c, char *const *args, bool tty, uint16_t width, uint16_t height,
                           char **ret_spec_path, char **ret_pid_path, ocid_error *err)
{
        if (!args || !args[0])
                return ocid_error_set(err, OCID_ERR_INVALID, "no command to execute");
        json_object *spec = json_tokener_parse(c->spec_json);
        json_object *process = NULL;
        json_object_deep_copy(json_object_object_get(spec, "process"), &process, NULL);
        json_object_put(spec);
        if (!process)
                return ocid_error_set(err, OCID_ERR_INTERNAL, "container %s has no process spec", c->id);
        json_object *argv = json_object_new_array();
        for (size_t i = 0; args[i]; i++)
                json_object_array_add(argv, json_object_new_string(args[i]));
        json_object_object_add(process, "args", argv);
        json_object_object_add(process, "terminal", json_object_new_boolean(tty));
        json_object_object_del(process, "consoleSize");
        if (tty && width) {
                /* The runtime sizes the terminal before the command runs. */
                json_object *size = json_object_new_object();
                json_object_object_add(size, "height", json_object_new_int(height));
                json_object_object_add(size, "width", json_object_new_int(width));
                json_object_object_add(process, "consoleSize", size);
        }
        _cleanup_free_ char *spec_path = NULL, *pid_path = NULL;
        if (asprintf(&spec_path, "%s/exec-XXXXXX", c->bundle) < 0)
                abort();
        int fd = mkstemp(spec_path);
        if (fd < 0) {
                json_object_put(process);
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "exec spec");
        }
        if (asprintf(&pid_path, "%s.pid", spec_path) < 0)
                abort();
        const char *text = json_object_to_json_string_ext(process, JSON_C_TO_STRING_PLAIN);
        int r = 0;
        if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
                r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "exec spec");
        close(fd);
        json_object_put(process);
        if (r < 0) {
                unlink(spec_path);
                return r;
        }
        *ret_spec_path = TAKE_PTR(spec_path);
        *ret_pid_path = TAKE_PTR(pid_path);
        return 0;
}

/* Kill a process the runtime exec'd (its pid in pid_path) with its
 * process group: crun and runc start it in a session of its own. Never
 * the container's own group. */
static void kill_exec_process(const char *pid_path, int init_pid)
{
        _cleanup_free_ char *pid_text = NULL;
        size_t len;
        int pid = fs_read_file(pid_path, 64, &pid_text, &len) == 0 ? atoi(pid_text) : 0;
        if (pid <= 0)
                return;
        pid_t pgid = getpgid(pid);
        pid_t init_pgid = init_pid > 0 ? getpgid(init_pid) : -1;
        if (pgid > 1 && pgid != getpgrp() && pgid != init_pgid)
                kill(-pgid, SIGKILL);
        kill(pid, SIGKILL);
}

static int find_running(container_manager *m, const char *id, container **ret, ocid_error *err)
{
        if (find(m, id, ret, err) < 0)
                return -1;
        if ((*ret)->state != CONTAINER_RUNNING) {
                int r = ocid_error_set(err, OCID_ERR_PRECONDITION, "container %s is not running", (*ret)->id);
                container_free(*ret);
                *ret = NULL;
                return r;
        }
        return 0;
}

static const runtime_handler *handler_of(container_manager *m, const container *c, ocid_error *err)
{
        const runtime_handler *h = handler_named(m, c->runtime_handler);
        if (!h)
                ocid_error_set(err, OCID_ERR_PRECONDITION, "runtime handler '%s' is not configured",
                               c->runtime_handler);
        return h;
}

int container_exec_sync(container_manager *m, const char *id, char *const *args, int64_t timeout_s,
                        exec_result *ret, ocid_error *err)
{
        container *c = NULL;
        if (find_running(m, id, &c, err) < 0)
                return -1;
        _cleanup_free_ char *spec_path = NULL, *pid_path = NULL;
        const runtime_handler *h = handler_of(m, c, err);
        int r = h ? write_exec_spec(c, args, false, 0, 0, &spec_path, &pid_path, err) : -1;
        if (r == 0) {
                char *argv_run[] = { (char *)h->path, "--root", (char *)h->root, "exec", "--process", spec_path,
                                     "--pid-file", pid_path, c->id, NULL };
                spawn_options opts = { .argv = argv_run, .max_output = EXEC_MAX_OUTPUT, .new_pgroup = true,
                                       .timeout_ms = timeout_s > 0 ? (int)(timeout_s > 86400 ? 86400000 : timeout_s * 1000) : 0 };
                spawn_result res = { 0 };
                int q = spawn_run(&opts, &res);
                if (q < 0) {
                        r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, q, "cannot run %s exec", h->name);
                } else {
                        /* The runtime is gone; the process it started
                         * inside the container must go too. */
                        if (res.timed_out)
                                kill_exec_process(pid_path, c->pid);
                        ret->timed_out = res.timed_out;
                        ret->exit_code = res.signaled ? 128 + res.term_signal : res.exit_code;
                        ret->out = res.out;
                        ret->out_len = res.out_len;
                        ret->err = res.err;
                        ret->err_len = res.err_len;
                        res.out = res.err = NULL;
                }
                spawn_result_release(&res);
                unlink(spec_path);
                unlink(pid_path);
        }
        container_free(c);
        return r;
}

/* ---- interactive exec and attach ------------------------------------------------ */

/* Whether the runtime, run without --detach, can hand the terminal of an
 * exec'd process to a console socket and still wait for the process (crun
 * can; runc refuses the combination). A runtime that cannot gets a
 * terminal of ours as its controlling terminal instead, and relays it. */
static bool runtime_takes_console_socket(const runtime_handler *h)
{
        char *argv[] = { (char *)h->path, "--version", NULL };
        spawn_options opts = { .argv = argv, .timeout_ms = 5000 };
        _cleanup_spawn_result_ spawn_result res = { 0 };
        return spawn_run(&opts, &res) == 0 && strncmp(res.out, "crun", 4) == 0;
}

/* Wait (at most timeout_ms, or until the runtime exits) for the runtime to
 * connect to the console socket, and receive the terminal's master. */
static int receive_console(int listen_fd, int runtime_pidfd, int *ret_fd, ocid_error *err)
{
        struct pollfd p[2] = { { .fd = listen_fd, .events = POLLIN }, { .fd = runtime_pidfd, .events = POLLIN } };
        int n = poll(p, runtime_pidfd >= 0 ? 2 : 1, RUNTIME_TIMEOUT_MS);
        if (n <= 0 || !(p[0].revents & POLLIN))
                return ocid_error_set(err, OCID_ERR_INTERNAL, "the runtime did not hand over the terminal");
        _cleanup_close_ int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "console socket");
        char byte;
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = { 0 };
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                              .msg_controllen = sizeof(control.buf) };
        struct pollfd pc = { .fd = conn, .events = POLLIN };
        if (poll(&pc, 1, RUNTIME_TIMEOUT_MS) <= 0 || recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) < 0)
                return ocid_error_set(err, OCID_ERR_INTERNAL, "the runtime did not hand over the terminal");
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
            cm->cmsg_len != CMSG_LEN(sizeof(int)))
                return ocid_error_set(err, OCID_ERR_INTERNAL, "the runtime sent no terminal");
        memcpy(ret_fd, CMSG_DATA(cm), sizeof(int));
        return 0;
}

/* Listen on dir/name. The runtime connects to *ret_path, which reaches
 * the socket through *ret_dir_fd (keep it open until then): a bundle's
 * path can be longer than a socket address holds. */
static int console_socket(const char *dir, const char *name, int *ret_dir_fd, char **ret_path, ocid_error *err)
{
        _cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "console socket in %s", dir);
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", dfd, name);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "console socket in %s", dir);
        if (asprintf(ret_path, "/proc/%d/fd/%d/%s", getpid(), dfd, name) < 0)
                abort();
        *ret_dir_fd = TAKE_FD(dfd);
        return TAKE_FD(fd);
}

/* A terminal for the runtime's own stdio, which it relays to and from the
 * container's terminal: raw, so that the container's terminal alone does
 * the line discipline (runc makes it raw too, but only once the process
 * may have written: a newline would become CR CR LF). The mode is the
 * slave's, and the kernel resets it when the slave's last descriptor
 * closes: *ret_slave_fd must stay open until the runtime has the slave. */
static int open_pty(int *ret_master, int *ret_slave_fd, char **ret_slave, ocid_error *err)
{
        _cleanup_close_ int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        _cleanup_close_ int slave = -1;
        char name[128];
        struct termios tio;
        if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
            ptsname_r(master, name, sizeof(name)) != 0 ||
            (slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0 || tcgetattr(slave, &tio) < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot allocate a terminal");
        cfmakeraw(&tio);
        if (tcsetattr(slave, TCSANOW, &tio) < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot allocate a terminal");
        *ret_slave_fd = TAKE_FD(slave);
        *ret_slave = xstrdup(name);
        *ret_master = TAKE_FD(master);
        return 0;
}

static int pipe_pair(int *parent, int *child, bool child_reads, ocid_error *err)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "pipe");
        *parent = child_reads ? p[1] : p[0];
        *child = child_reads ? p[0] : p[1];
        fcntl(*parent, F_SETFL, O_NONBLOCK);
        return 0;
}

void container_exec_free(container_exec *x)
{
        if (!x)
                return;
        if (x->pid > 0) {
                container_exec_kill(x);
                int status;
                while (waitpid(x->pid, &status, 0) < 0 && errno == EINTR)
                        ;
        }
        closep(&x->pidfd);
        closep(&x->stdin_fd);
        closep(&x->stdout_fd);
        closep(&x->stderr_fd);
        closep(&x->tty_fd);
        if (x->spec_path)
                unlink(x->spec_path);
        if (x->pid_path)
                unlink(x->pid_path);
        free(x->spec_path);
        free(x->pid_path);
        free(x);
}

int container_exec_open(container_manager *m, const container_exec_request *req, container_exec **ret,
                        ocid_error *err)
{
        container *c = NULL;
        if (find_running(m, req->id, &c, err) < 0)
                return -1;
        container_exec *x = xcalloc(1, sizeof(*x));
        *x = (container_exec){ .pidfd = -1, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1, .tty_fd = -1,
                               .init_pid = c->pid };
        _cleanup_close_ int child_in = -1, child_out = -1, child_err = -1, console = -1;
        _cleanup_close_ int console_dir = -1, slave_fd = -1; /* open until the runtime has its terminal */
        _cleanup_free_ char *slave = NULL, *console_path = NULL, *console_name = NULL;
        const runtime_handler *h = handler_of(m, c, err);
        int r = h ? write_exec_spec(c, req->args, req->tty, req->width, req->height, &x->spec_path, &x->pid_path, err) : -1;
        bool use_console = r == 0 && req->tty && runtime_takes_console_socket(h);
        if (r == 0 && req->tty && use_console) {
                if (asprintf(&console_name, "%s.sock", strrchr(x->spec_path, '/') + 1) < 0)
                        abort();
                r = console = console_socket(c->bundle, console_name, &console_dir, &console_path, err);
                /* The runtime's own complaints, as there is no stderr. */
                if (r >= 0)
                        r = pipe_pair(&x->stderr_fd, &child_err, false, err);
        } else if (r == 0 && req->tty) {
                r = open_pty(&x->tty_fd, &slave_fd, &slave, err);
                /* The runtime copies it to the terminal it makes. */
                if (r == 0 && req->width)
                        container_exec_resize(x, req->width, req->height);
        } else if (r == 0) {
                if (req->in)
                        r = pipe_pair(&x->stdin_fd, &child_in, true, err);
                if (r == 0 && req->out)
                        r = pipe_pair(&x->stdout_fd, &child_out, false, err);
                if (r == 0 && req->err)
                        r = pipe_pair(&x->stderr_fd, &child_err, false, err);
        }
        if (r >= 0) {
                _cleanup_strv_ char **argv = NULL;
                argv = strv_push(argv, h->path);
                argv = strv_push(argv, "--root");
                argv = strv_push(argv, h->root);
                argv = strv_push(argv, "exec");
                argv = strv_push(argv, "--process");
                argv = strv_push(argv, x->spec_path);
                argv = strv_push(argv, "--pid-file");
                argv = strv_push(argv, x->pid_path);
                if (console_path) {
                        argv = strv_push(argv, "--console-socket");
                        argv = strv_push(argv, console_path);
                }
                argv = strv_push(argv, c->id);
                spawn_start_options o = { .argv = argv, .stdio = { child_in, child_out, child_err },
                                          .ctty = slave, .new_pgroup = true };
                int q = spawn_start(&o, &x->pid, &x->pidfd);
                if (q < 0)
                        r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, q, "cannot run %s exec", h->name);
        }
        if (r >= 0 && console >= 0) {
                r = receive_console(console, x->pidfd, &x->tty_fd, err);
                if (r < 0 && x->stderr_fd >= 0) {
                        /* Say why, when the runtime said something. */
                        char buf[512];
                        ssize_t n = read(x->stderr_fd, buf, sizeof(buf) - 1);
                        if (n > 0) {
                                buf[n] = '\0';
                                ocid_error_set(err, OCID_ERR_INTERNAL, "%s exec: %s", h->name, buf);
                        }
                }
        }
        if (console_dir >= 0)
                unlinkat(console_dir, console_name, 0);
        if (r >= 0 && x->tty_fd >= 0) {
                fcntl(x->tty_fd, F_SETFL, O_NONBLOCK);
                if (req->width)
                        container_exec_resize(x, req->width, req->height);
        }
        container_free(c);
        if (r < 0) {
                container_exec_free(x);
                return -1;
        }
        *ret = x;
        return 0;
}

void container_exec_resize(container_exec *x, uint16_t width, uint16_t height)
{
        struct winsize ws = { .ws_row = height, .ws_col = width };
        if (x->tty_fd >= 0)
                ioctl(x->tty_fd, TIOCSWINSZ, &ws);
}

void container_exec_kill(container_exec *x)
{
        if (x->pid <= 0)
                return;
        kill_exec_process(x->pid_path, x->init_pid);
        kill(x->pid, SIGKILL); /* not reaped yet, so still ours */
}

int container_exec_wait(container_exec *x)
{
        int status;
        pid_t p;
        while ((p = waitpid(x->pid, &status, 0)) < 0 && errno == EINTR)
                ;
        x->pid = 0;
        if (p < 0)
                return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int container_attach_open(container_manager *m, const char *id, container_attach *ret, ocid_error *err)
{
        container *c = NULL;
        if (find_running(m, id, &c, err) < 0)
                return -1;
        json_object *spec = json_tokener_parse(c->spec_json);
        json_object *terminal = json_object_object_get(json_object_object_get(spec, "process"), "terminal");
        ret->tty = json_object_get_boolean(terminal);
        json_object_put(spec);
        ret->ctl_path = fs_path_join(c->bundle, "ctl");
        /* conmon's socket, reached through the directory it sits in: the
         * path itself may be longer than a socket address holds. */
        _cleanup_close_ int dir = open(c->bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/attach", dir);
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        int r = 0;
        if (dir < 0 || fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
                r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot attach to %s", c->id);
                if (fd >= 0)
                        close(fd);
                free(ret->ctl_path);
                ret->ctl_path = NULL;
        } else {
                fcntl(fd, F_SETFL, O_NONBLOCK);
                ret->fd = fd;
        }
        container_free(c);
        return r;
}

void container_attach_resize(const container_attach *a, uint16_t width, uint16_t height)
{
        /* conmon's control FIFO: "<event> <height> <width>\n", event 1 = resize. */
        _cleanup_close_ int fd = open(a->ctl_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        char line[64];
        int n = snprintf(line, sizeof(line), "1 %u %u\n", height, width);
        if (fd >= 0 && write(fd, line, (size_t)n) < 0)
                log_debug("resize through %s: %s", a->ctl_path, strerror(errno));
}

int container_update_resources(container_manager *m, const char *id, json_object *resources,
                               ocid_error *err)
{
        container *c = NULL;
        if (find(m, id, &c, err) < 0)
                return -1;
        int r = 0;
        if (c->state != CONTAINER_RUNNING && c->state != CONTAINER_CREATED) {
                r = ocid_error_set(err, OCID_ERR_PRECONDITION, "container %s is not running", c->id);
        } else {
                _cleanup_free_ char *path = fs_path_join(c->bundle, "resources.json");
                const char *text = json_object_to_json_string_ext(resources, JSON_C_TO_STRING_PLAIN);
                int q = fs_write_file_replace(path, text, strlen(text), 0600);
                if (q < 0) {
                        r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, q, "cannot write %s", path);
                } else {
                        char *args[] = { "update", "--resources", path, c->id, NULL };
                        r = run_runtime(m, c->runtime_handler, args, err);
                }
        }
        container_free(c);
        return r;
}

int container_set_config(container_manager *m, const char *id, const void *config, size_t len,
                         ocid_error *err)
{
        sqlite3_stmt *st;
        int r = 0;
        pthread_mutex_lock(&m->lock);
        if (sqlite3_prepare_v2(m->db, "UPDATE containers SET config = ? WHERE id = ?", -1, &st, NULL) != SQLITE_OK) {
                r = db_error(m, err, "prepare");
        } else {
                sqlite3_bind_blob(st, 1, config, (int)len, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
                if (sqlite3_step(st) != SQLITE_DONE)
                        r = db_error(m, err, "update");
                else if (sqlite3_changes(m->db) == 0)
                        r = ocid_error_set(err, OCID_ERR_NOT_FOUND, "container '%s' not found", id);
                sqlite3_finalize(st);
        }
        pthread_mutex_unlock(&m->lock);
        return r;
}

int container_reopen_log(container_manager *m, const char *id, ocid_error *err)
{
        container *c = NULL;
        if (find(m, id, &c, err) < 0)
                return -1;
        int r = 0;
        if (c->state != CONTAINER_RUNNING) {
                r = ocid_error_set(err, OCID_ERR_PRECONDITION, "container %s is not running", c->id);
        } else {
                /* conmon's control FIFO: "<event> <height> <width>\n", event 2 = reopen the log. */
                _cleanup_free_ char *ctl = fs_path_join(c->bundle, "ctl");
                _cleanup_close_ int fd = open(ctl, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
                if (fd < 0 || write(fd, "2 0 0\n", 6) != 6)
                        r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot reach conmon of %s", c->id);
        }
        container_free(c);
        return r;
}

bool runtime_supports_rro(const runtime_handler *h)
{
        struct utsname u;
        unsigned major = 0, minor = 0;
        if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2 ||
            major < 5 || (major == 5 && minor < 12))
                return false;
        char *argv[] = { (char *)h->path, "features", NULL };
        spawn_options opts = { .argv = argv, .timeout_ms = 5000 };
        spawn_result res = { 0 };
        bool rro = false;
        if (spawn_run(&opts, &res) == 0 && !res.signaled && res.exit_code == 0) {
                json_object *doc = json_tokener_parse(res.out);
                json_object *options = json_object_object_get(doc, "mountOptions");
                for (size_t i = 0; options && i < json_object_array_length(options); i++)
                        rro = rro || STREQ(json_object_get_string(json_object_array_get_idx(options, i)), "rro");
                json_object_put(doc);
        }
        spawn_result_release(&res);
        return rro;
}

/* ---- manager ------------------------------------------------------------------------------ */

/* A container directory without a row is a CreateContainer that died
 * halfway: delete what it made. */
static void undo_unrecorded(container_manager *m, const char *id)
{
        log_info("container %s: cleaning up after an interrupted create", id);
        _cleanup_free_ char *bundle = fs_path_join(m->run_dir, id);
        /* A conmon still waiting for the runtime's create: it and the
         * runtime it runs (its process group) go first. */
        int conmon = bundle_conmon(bundle);
        if (conmon > 0) {
                pid_t pgid = getpgid(conmon);
                if (pgid > 1 && pgid != getpgrp())
                        kill(-pgid, SIGKILL);
                kill(conmon, SIGKILL);
        }
        ocid_error ignored = OCID_ERROR_INIT;
        char *args[] = { "delete", "--force", (char *)id, NULL };
        for (size_t i = 0; i < m->n_handlers; i++) {
                run_runtime(m, m->handlers[i].name, args, &ignored);
                ocid_error_clear(&ignored);
        }
        _cleanup_free_ char *dir = fs_path_join(m->root_dir, id);
        _cleanup_free_ char *exitf = exit_file(m, id);
        remove_attach_link(m, id);
        /* The runtime may have made the cgroups before it was stopped. */
        _cleanup_free_ char *config = fs_path_join(bundle, "config.json");
        json_object *spec = json_object_from_file(config);
        json_object *linux_ = NULL, *cgroups = NULL;
        if (json_object_object_get_ex(spec, "linux", &linux_) &&
            json_object_object_get_ex(linux_, "cgroupsPath", &cgroups))
                remove_cgroups(json_object_get_string(cgroups));
        json_object_put(spec);
        unmount_rootfs(dir);
        fs_remove_tree(dir);
        fs_remove_tree(bundle);
        unlink(exitf);
        store_layers_unuse(m->store, id, &ignored);
        ocid_error_clear(&ignored);
}

static void reconcile(container_manager *m)
{
        const char *dirs[] = { m->run_dir, m->root_dir };
        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
                DIR *d = opendir(dirs[i]);
                struct dirent *de;
                while (d && (de = readdir(d))) {
                        if (de->d_name[0] == '.')
                                continue;
                        container *c = NULL;
                        ocid_error lookup = OCID_ERROR_INIT;
                        if (find(m, de->d_name, &c, &lookup) < 0 && lookup.kind == OCID_ERR_NOT_FOUND)
                                undo_unrecorded(m, de->d_name);
                        container_free(c);
                        ocid_error_clear(&lookup);
                }
                if (d)
                        closedir(d);
        }
}

int container_manager_new(const container_options *opts, container_manager **ret, ocid_error *err)
{
        container_manager *m = xcalloc(1, sizeof(*m));
        pthread_mutex_init(&m->lock, NULL);
        pthread_mutex_init(&m->exits_lock, NULL);
        pthread_cond_init(&m->exits_changed, NULL);
        m->exits_watch = m->watcher_wake = -1;
        keyset_init(&m->busy);
        keyset_init(&m->reserved);
        m->root_dir = fs_path_join(opts->root, "containers");
        m->run_dir = fs_path_join(opts->runroot, "containers");
        m->exits_dir = fs_path_join(opts->runroot, "exits");
        m->attach_dir = fs_path_join(opts->runroot, "attach");
        m->conmon = xstrdup(opts->conmon);
        m->systemd_cgroup = opts->systemd_cgroup;
        m->store = opts->store;
        m->handlers = xcalloc(opts->n_handlers ? opts->n_handlers : 1, sizeof(*m->handlers));
        for (size_t i = 0; i < opts->n_handlers; i++) {
                m->handlers[i].name = xstrdup(opts->handlers[i].name);
                m->handlers[i].path = xstrdup(opts->handlers[i].path);
                m->handlers[i].root = xstrdup(opts->handlers[i].root);
        }
        m->n_handlers = opts->n_handlers;
        const char *dirs[] = { m->root_dir, m->run_dir, m->exits_dir, m->attach_dir };
        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
                int r = fs_mkdir_p(dirs[i], 0700);
                if (r < 0) {
                        ocid_error_set_errno(err, OCID_ERR_INTERNAL, r, "cannot create %s", dirs[i]);
                        container_manager_free(m);
                        return -1;
                }
        }
        _cleanup_free_ char *db_path = fs_path_join(opts->root, "state.db");
        if (db_open(db_path, schema, DB_SURVIVES_CRASHES, &m->db, err) < 0) {
                container_manager_free(m);
                return -1;
        }
        reconcile(m);
        m->exits_watch = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        m->watcher_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m->exits_watch >= 0 && m->watcher_wake >= 0 &&
            inotify_add_watch(m->exits_watch, m->exits_dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) >= 0 &&
            pthread_create(&m->watcher, NULL, watch_exits, m) == 0)
                m->watching = true;
        else
                log_warn("no inotify on %s: waiting for container exits by looking every 100 ms", m->exits_dir);
        *ret = m;
        return 0;
}

void container_manager_free(container_manager *m)
{
        if (!m)
                return;
        if (m->watching) {
                uint64_t one = 1;
                if (write(m->watcher_wake, &one, sizeof(one)) == sizeof(one))
                        pthread_join(m->watcher, NULL);
        }
        if (m->exits_watch >= 0)
                close(m->exits_watch);
        if (m->watcher_wake >= 0)
                close(m->watcher_wake);
        pthread_mutex_destroy(&m->exits_lock);
        pthread_cond_destroy(&m->exits_changed);
        if (m->db)
                sqlite3_close(m->db);
        for (size_t i = 0; i < m->n_handlers; i++) {
                free((char *)m->handlers[i].name);
                free((char *)m->handlers[i].path);
                free((char *)m->handlers[i].root);
        }
        free(m->handlers);
        free(m->root_dir);
        free(m->run_dir);
        free(m->exits_dir);
        free(m->attach_dir);
        free(m->conmon);
        keyset_release(&m->busy);
        keyset_release(&m->reserved);
        pthread_mutex_destroy(&m->lock);
        free(m);
}
