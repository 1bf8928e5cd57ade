/* ocid: the CRI daemon. */
#include "cri/cri.h"
#include "daemon/config.h"
#include "server/loop.h"
#include "server/server.h"
#include "server/workers.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/helper.h"
#include "util/log.h"
#include "util/sdnotify.h"
#include "util/strv.h"
#include "util/toml.h"

#include <fcntl.h>
#include <malloc.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

typedef struct {
        int argc;
        char **argv;
        ocid_config config;
        loop *loop;
        workers *workers;
        server *server;
        cri_state cri;
        bool stopping;
} daemon_state;

static void usage(FILE *f)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        config_format_usage(&sb);
        fprintf(f, "Usage: ocid [FLAGS]          serve the CRI on a unix socket\n"
                   "       ocid config [FLAGS]   print the effective configuration as TOML\n"
                   "       ocid version\n\nFlags:\n%s", sb.buf);
}

/* The configuration as JSON, for Status verbose: format it as TOML and
 * read that back, so there is one description of the keys. */
static char *config_json(const ocid_config *cfg)
{
        _cleanup_strbuf_ strbuf toml = STRBUF_INIT;
        config_format_toml(cfg, &toml);
        json_object *root = NULL;
        ocid_error err = OCID_ERROR_INIT;
        if (toml_parse(toml.buf, toml.len, &root, &err) < 0) {
                ocid_error_clear(&err);
                return strdup("{}");
        }
        char *s = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(root);
        return s;
}

static void apply_logging(const ocid_config *cfg)
{
        log_level level = LOG_LEVEL_INFO;
        log_level_parse(cfg->log_level, &level);
        log_set_level(level);
        log_set_journal(cfg->log_to_journald);
}

/* Only one daemon may own a socket path: the lock sits beside it, and is
 * held for the daemon's lifetime (the kernel drops it when we die). */
static int take_lock(const char *socket_path, int *ret_fd, ocid_error *err)
{
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s.lock", socket_path) < 0)
                abort();
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot open lock %s", path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno != EWOULDBLOCK)
                        return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot lock %s", path);
                char pid[32] = "";
                ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
                if (n > 0)
                        pid[strcspn(pid, "\n")] = '\0';
                return ocid_error_set(err, OCID_ERR_EXISTS,
                                      "another ocid (pid %s) is already serving %s (lock %s is held)",
                                      *pid ? pid : "unknown", socket_path, path);
        }
        char pid[32];
        int len = snprintf(pid, sizeof(pid), "%d\n", getpid());
        if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)len, 0) < 0)
                log_debug("cannot record pid in %s: %m", path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int open_socket(const char *path, ocid_error *err)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path))
                return ocid_error_set(err, OCID_ERR_INVALID, "socket path '%s' is too long", path);
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "socket");
        /* We hold the lock, so a socket file left here is stale. */
        if (unlink(path) < 0 && errno != ENOENT)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot remove %s", path);
        mode_t old = umask(0117);
        int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot bind %s", path);
        if (chmod(path, 0660) < 0 || listen(fd, 128) < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot listen on %s", path);
        return TAKE_FD(fd);
}

/* The infra process's root: the pause program alone, copied in. Copied
 * from a mapping: a megabyte through the heap would stay resident. */
static int prepare_pause_rootfs(const char *pause_binary, const char *rootfs)
{
        _cleanup_close_ int fd = open(pause_binary, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size == 0) {
                errno = EINVAL;
                return -EINVAL;
        }
        void *data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (data == MAP_FAILED)
                return -errno;
        _cleanup_free_ char *target = fs_path_join(rootfs, "pause");
        int r = fs_mkdir_p(rootfs, 0755);
        if (r == 0)
                r = fs_write_file_atomic(target, data, (size_t)st.st_size, 0755);
        munmap(data, (size_t)st.st_size);
        if (r < 0)
                errno = -r;
        return r;
}

/* crun refuses every container on a v1 hybrid host with a controller on
 * the cgroup2 hierarchy: say so at start, with the fix. */
static void warn_hybrid_cgroups(void)
{
        _cleanup_free_ char *controllers = NULL;
        size_t len;
        struct stat st;
        if (stat("/sys/fs/cgroup/memory", &st) < 0 ||
            fs_read_file("/sys/fs/cgroup/unified/cgroup.controllers", 4096, &controllers, &len) < 0)
                return;
        controllers[strcspn(controllers, "\n")] = '\0';
        if (*controllers)
                log_warn("cgroup v1 hybrid host with controllers on cgroup2 (%s): crun will refuse containers; "
                         "mount them as v1, e.g. mkdir -p /sys/fs/cgroup/hugetlb && "
                         "mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb", controllers);
}

/* The first executable `name` in PATH, or NULL. */
static char *find_program(const char *name)
{
        const char *path = getenv("PATH");
        _cleanup_strv_ char **dirs = strv_split(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin", ":");
        for (size_t i = 0; dirs[i]; i++) {
                char *p = fs_path_join(dirs[i], name);
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return NULL;
}

static void shutdown_done(void *data)
{
        daemon_state *d = data;
        log_info("shutdown complete");
        loop_quit(d->loop, 0);
}

static void reload(daemon_state *d)
{
        ocid_config fresh;
        ocid_error err = OCID_ERROR_INIT;
        if (config_load(&fresh, d->argc, d->argv, 1, &err) < 0) {
                log_error("reload: %s; keeping the current configuration", err.message);
                ocid_error_clear(&err);
                config_release(&fresh);
                return;
        }
        /* Only what can change under a running server is applied; the
         * rest takes a restart. */
        if (!STREQ(fresh.log_level, d->config.log_level) ||
            fresh.log_to_journald != d->config.log_to_journald) {
                free(d->config.log_level);
                d->config.log_level = strdup(fresh.log_level);
                d->config.log_to_journald = fresh.log_to_journald;
                apply_logging(&d->config);
        }
        log_info("configuration reloaded (log level %s)", d->config.log_level);
        cri_state_set_config_json(&d->cri, config_json(&d->config));
        config_release(&fresh);
}

static void on_signal(loop_source *src, int fd, uint32_t events, void *data)
{
        daemon_state *d = data;
        struct signalfd_siginfo si;
        while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                switch (si.ssi_signo) {
                case SIGHUP:
                        reload(d);
                        break;
                case SIGTERM:
                case SIGINT:
                        if (d->stopping) {
                                log_warn("second %s: exiting now", strsignal((int)si.ssi_signo));
                                loop_quit(d->loop, 1);
                                break;
                        }
                        d->stopping = true;
                        log_info("%s: shutting down, %u call(s) in flight",
                                 strsignal((int)si.ssi_signo), server_calls_in_flight(d->server));
                        sdnotify("STOPPING=1");
                        server_shutdown(d->server, d->config.shutdown_timeout * 1000, shutdown_done, d);
                        break;
                }
        }
}

static int serve(daemon_state *d)
{
        ocid_config *cfg = &d->config;
        ocid_error err = OCID_ERROR_INIT;
        _cleanup_close_ int lock_fd = -1;
        _cleanup_free_ char *socket_dir = strdup(cfg->listen);
        *strrchr(socket_dir, '/') = '\0';
        int r = 0;
        if ((r = fs_mkdir_p(cfg->root, 0711)) < 0 || (r = fs_mkdir_p(cfg->runroot, 0711)) < 0 ||
            (*socket_dir && (r = fs_mkdir_p(socket_dir, 0755)) < 0)) {
                log_error("cannot create state directories: %s", strerror(-r));
                return 1;
        }
        if (take_lock(cfg->listen, &lock_fd, &err) < 0) {
                log_error("%s", err.message);
                ocid_error_clear(&err);
                return 1;
        }
        int listen_fd = open_socket(cfg->listen, &err);
        if (listen_fd < 0) {
                log_error("%s", err.message);
                ocid_error_clear(&err);
                return 1;
        }

        /* Signals arrive through a signalfd on the loop; block them before
         * any thread starts so that every thread inherits the mask. */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        _cleanup_close_ int sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

        _cleanup_free_ char *containers_dir = fs_path_join(cfg->root, "containers");
        store *image_store = NULL;
        puller *image_puller = NULL;
        puller_options pull_opts = {
                .registries_conf = cfg->registries_conf,
                .registries_conf_dir = cfg->registries_conf_dir,
                .certs_dir = cfg->certs_dir,
                .max_parallel_layers = (unsigned)cfg->max_parallel_downloads,
                .stall_timeout_s = (long)cfg->pull_progress_timeout,
        };
        sandbox_manager *sandboxes = NULL;
        container_manager *containers = NULL;
        /* The runtime handlers ocid knows, where their binaries exist;
         * each keeps its state under the run root. */
        /* The configured runtime handlers, or crun and runc wherever PATH
         * has them; each keeps its state under the run root by default. */
        size_t n_handlers = 0, cap = cfg->n_runtimes ? cfg->n_runtimes : 2;
        _cleanup_free_ runtime_handler *handlers = calloc(cap, sizeof(*handlers));
        _cleanup_strv_ char **owned = NULL; /* paths and roots made here */
        if (!handlers)
                return 1;
        for (size_t i = 0; i < cfg->n_runtimes; i++) {
                const config_runtime *rt = &cfg->runtimes[i];
                const char *root = rt->root;
                if (!*root) {
                        owned = strv_push_take(owned, fs_path_join(cfg->runroot, rt->name));
                        root = owned[strv_length(owned) - 1];
                }
                handlers[n_handlers++] = (runtime_handler){ rt->name, rt->path, root };
        }
        static const char *const known[] = { "crun", "runc" };
        for (size_t i = 0; !cfg->n_runtimes && i < ARRAY_SIZE(known); i++) {
                char *path = find_program(known[i]);
                if (!path)
                        continue;
                owned = strv_push_take(owned, path);
                owned = strv_push_take(owned, fs_path_join(cfg->runroot, known[i]));
                size_t n = strv_length(owned);
                handlers[n_handlers++] = (runtime_handler){ known[i], owned[n - 2], owned[n - 1] };
        }
        sandbox_options sandbox_opts = {
                .root = cfg->root,
                .runroot = cfg->runroot,
                .network_dir = cfg->network_dir,
                .plugin_dirs = cfg->plugin_dirs,
                .cni_timeout_ms = (int)cfg->cni_timeout * 1000,
        };
        if (store_open(cfg->root, &image_store, &err) < 0 ||
            puller_new(image_store, &pull_opts, &image_puller, &err) < 0 ||
            sandbox_manager_new(&sandbox_opts, &sandboxes, &err) < 0 ||
            container_manager_new(&(container_options){
                    .root = cfg->root, .runroot = cfg->runroot, .conmon = cfg->conmon,
                    .handlers = handlers, .n_handlers = n_handlers,
                    .systemd_cgroup = STREQ(cfg->cgroup_manager, "systemd"), .store = image_store },
                    &containers, &err) < 0) {
                sandbox_manager_free(sandboxes);
                log_error("%s", err.message);
                ocid_error_clear(&err);
                puller_free(image_puller);
                store_close(image_store);
                close(listen_fd);
                unlink(cfg->listen);
                return 1;
        }
        fs_mkdir_p(containers_dir, 0711);

        cri_state_init(&d->cri);
        d->cri.store = image_store;
        d->cri.puller = image_puller;
        d->cri.pinned_images = cfg->pinned_images;
        d->cri.containers_dir = containers_dir;
        d->cri.sandboxes = sandboxes;
        d->cri.containers = containers;
        _cleanup_free_ char *pause_rootfs = fs_path_join(cfg->runroot, "pause/rootfs");
        if (prepare_pause_rootfs(cfg->pause_binary, pause_rootfs) < 0)
                log_warn("no infra process for shared PID namespaces: cannot use %s: %m", cfg->pause_binary);
        d->cri.pause_rootfs = pause_rootfs;
        _cleanup_free_ char *fetch_helper = helper_program_path("ocid-fetch");
        if (access(fetch_helper, X_OK) < 0)
                log_warn("image pulls will fail: cannot run %s: %m", fetch_helper);
        _cleanup_free_ cri_handler_info *handler_info = calloc(cap, sizeof(*handler_info));
        for (size_t i = 0; handler_info && i < n_handlers; i++)
                handler_info[i] = (cri_handler_info){ handlers[i].name, runtime_supports_rro(&handlers[i]) };
        d->cri.handlers = handler_info;
        d->cri.n_handlers = n_handlers;
        warn_hybrid_cgroups();
        d->cri.default_runtime = cfg->default_runtime;
        d->cri.network_dir = cfg->network_dir;
        d->cri.plugin_dirs = cfg->plugin_dirs;
        d->cri.cgroup_systemd = STREQ(cfg->cgroup_manager, "systemd");
        d->cri.config_json = config_json(cfg);

        size_t n_methods;
        const rpc_method *methods = cri_methods(&n_methods);
        server_options opts = {
                .methods = methods,
                .n_methods = n_methods,
                .context = &d->cri,
                .max_recv_message = cfg->grpc_max_recv_msg_size,
                .max_send_message = cfg->grpc_max_send_msg_size,
        };
        int exit_code = 1;
        if ((r = loop_new(&d->loop)) < 0 || sig_fd < 0 ||
            (r = loop_add_io(d->loop, sig_fd, EPOLLIN, on_signal, d, NULL)) < 0 ||
            (r = workers_new(d->loop, (unsigned)cfg->worker_threads, &d->workers)) < 0 ||
            (r = server_new(d->loop, d->workers, listen_fd, &opts, &d->server)) < 0) {
                log_error("cannot start: %s", strerror(r < 0 ? -r : errno));
        } else if (stream_server_new(d->loop, d->workers, &(stream_server_options){
                           .address = cfg->stream_address, .port = cfg->stream_port,
                           .token_ttl_ms = cfg->stream_token_timeout * 1000,
                           .idle_timeout_ms = cfg->stream_idle_timeout * 1000,
                           .max_sessions = (unsigned)cfg->stream_max_sessions,
                           .tls_cert = cfg->stream_tls_cert, .tls_key = cfg->stream_tls_key,
                           .backend = cri_stream_backend(&d->cri) }, &d->cri.streams, &err) < 0) {
                log_error("cannot start the streaming server: %s", err.message);
                ocid_error_clear(&err);
        } else {
                log_info("ocid %s serving CRI v1 on unix://%s (cgroup driver %s, pid %d), streams on %s",
                         OCID_VERSION, cfg->listen, cfg->cgroup_manager, getpid(),
                         stream_server_base_url(d->cri.streams));
                /* Start-up (configuration, recovering pods, containers and
                 * images) leaves freed heap an idle daemon does not need. */
                malloc_trim(0);
                sdnotify("READY=1");
                exit_code = loop_run(d->loop);
        }
        unlink(cfg->listen);
        server_free(d->server);
        stream_server_free(d->cri.streams);
        d->cri.streams = NULL;
        workers_free(d->workers);
        loop_free(d->loop);
        container_manager_free(containers);
        sandbox_manager_free(sandboxes);
        puller_free(image_puller);
        store_close(image_store);
        cri_state_release(&d->cri);
        return exit_code;
}

int main(int argc, char **argv)
{
        daemon_state d = { .argc = argc, .argv = argv };
        int first = 1;
        bool print_config = false;
        if (argc > 1 && (STREQ(argv[1], "--help") || STREQ(argv[1], "-h") || STREQ(argv[1], "help"))) {
                usage(stdout);
                return 0;
        }
        if (argc > 1 && (STREQ(argv[1], "version") || STREQ(argv[1], "--version"))) {
                printf("ocid version %s\n", OCID_VERSION);
                return 0;
        }
        if (argc > 1 && STREQ(argv[1], "config")) {
                print_config = true;
                first = 2;
        }
        ocid_error err = OCID_ERROR_INIT;
        if (config_load(&d.config, argc, argv, first, &err) < 0) {
                fprintf(stderr, "ocid: %s\n", err.message);
                ocid_error_clear(&err);
                config_release(&d.config);
                return 2;
        }
        if (print_config) {
                _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
                config_format_toml(&d.config, &sb);
                fputs(sb.buf, stdout);
                config_release(&d.config);
                return 0;
        }
        if (first == 1)
                d.argv = argv; /* SIGHUP reloads with the same flags */
        apply_logging(&d.config);
        int code = serve(&d);
        config_release(&d.config);
        return code;
}
