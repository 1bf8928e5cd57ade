/* The daemon's side of registry.h: each session is an ocid-fetch helper
 * process (fetch_helper.c) running the libcurl client of registry.c, so
 * that libcurl, TLS and their dependencies never load into the daemon.
 * Results come back through descriptors the daemon passes: the helper
 * writes a manifest or blob straight into them. A cancelled call kills the
 * helper; the session is unusable after that, as after any failure of the
 * helper itself. */
#include "image/manifest.h"
#include "image/registry.h"
#include "util/cleanup.h"
#include "util/helper.h"
#include "util/xalloc.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct registry_session {
        int sock;
        pid_t pid;
        const atomic_bool *cancelled;
        bool broken;
};

static void add_string(json_object *o, const char *key, const char *value)
{
        if (value)
                json_object_object_add(o, key, json_object_new_string(value));
}

/* Returns the helper's wait status. */
static int session_stop(registry_session *s, bool kill_it)
{
        int status = 0;
        if (s->sock >= 0)
                close(s->sock); /* the helper exits at end of input */
        s->sock = -1;
        if (s->pid > 0) {
                if (kill_it)
                        kill(s->pid, SIGKILL);
                while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
                        ;
        }
        s->pid = 0;
        return status;
}

/* Send a request (with fd) and wait for its answer; *ret_reply owned. */
static int call(registry_session *s, json_object *req, int fd, json_object **ret_reply,
                ocid_error *err)
{
        if (s->broken)
                return ocid_error_set(err, OCID_ERR_INTERNAL, "the registry helper ocid-fetch is gone");
        int r = helper_send(s->sock, req, fd);
        if (r == 0)
                r = helper_wait_readable(s->sock, s->cancelled);
        if (r == 0)
                r = helper_recv(s->sock, ret_reply, NULL);
        if (r == 0)
                return 0;
        s->broken = true;
        /* The helper closes its end only by exiting: then say how it ended. */
        bool gone = r == -EPIPE || r == -ECONNRESET;
        int status = session_stop(s, !gone);
        if (r == -ECANCELED)
                return ocid_error_set(err, OCID_ERR_CANCELLED, "cancelled");
        if (gone && WIFSIGNALED(status))
                return ocid_error_set(err, OCID_ERR_INTERNAL, "the registry helper ocid-fetch was killed by signal %d",
                                      WTERMSIG(status));
        if (gone && WIFEXITED(status))
                return ocid_error_set(err, OCID_ERR_INTERNAL, "the registry helper ocid-fetch exited with status %d",
                                      WEXITSTATUS(status));
        return ocid_error_set_errno(err, OCID_ERR_INTERNAL, -r, "the registry helper ocid-fetch failed");
}

int registry_session_new(const pull_source *src, const registry_auth *auth,
                         const registry_options *opts, registry_session **ret, ocid_error *err)
{
        int pair[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                return ocid_error_set_errno(err, OCID_ERR_RESOURCE, errno, "socketpair");
        pid_t pid;
        int r = helper_spawn("ocid-fetch", (const char *const[]){ "session", NULL }, pair[1], -1, &pid, err);
        close(pair[1]);
        if (r < 0) {
                close(pair[0]);
                return -1;
        }
        registry_session *s = xcalloc(1, sizeof(*s));
        s->sock = pair[0];
        s->pid = pid;
        s->cancelled = opts->cancelled;

        json_object *hello = json_object_new_object();
        add_string(hello, "host", src->host);
        add_string(hello, "repository", src->repository);
        json_object_object_add(hello, "insecure", json_object_new_boolean(src->insecure));
        add_string(hello, "certs_dir", opts->certs_dir);
        json_object_object_add(hello, "connect_timeout_ms", json_object_new_int64(opts->connect_timeout_ms));
        json_object_object_add(hello, "stall_timeout_s", json_object_new_int64(opts->stall_timeout_s));
        if (auth) {
                add_string(hello, "username", auth->username);
                add_string(hello, "password", auth->password);
                add_string(hello, "auth", auth->auth);
                add_string(hello, "identity_token", auth->identity_token);
                add_string(hello, "registry_token", auth->registry_token);
        }
        json_object *reply = NULL;
        r = call(s, hello, -1, &reply, err);
        json_object_put(hello);
        if (r == 0)
                r = helper_reply_check(reply, "registry session", err);
        json_object_put(reply);
        if (r < 0) {
                registry_session_free(s);
                return -1;
        }
        *ret = s;
        return 0;
}

void registry_session_free(registry_session *s)
{
        if (!s)
                return;
        session_stop(s, false);
        free(s);
}

static const char *reply_string(json_object *reply, const char *key)
{
        json_object *v;
        return json_object_object_get_ex(reply, key, &v) ? json_object_get_string(v) : NULL;
}

int registry_fetch_manifest(registry_session *s, const char *reference, char **ret_body,
                            size_t *ret_len, char **ret_content_type, char **ret_digest,
                            ocid_error *err)
{
        _cleanup_close_ int fd = memfd_create("manifest", MFD_CLOEXEC);
        if (fd < 0)
                return ocid_error_set_errno(err, OCID_ERR_RESOURCE, errno, "memfd_create");
        json_object *req = json_object_new_object();
        add_string(req, "op", "manifest");
        add_string(req, "reference", reference);
        json_object *reply = NULL;
        int r = call(s, req, fd, &reply, err);
        json_object_put(req);
        if (r == 0)
                r = helper_reply_check(reply, "manifest", err);
        const char *digest = r == 0 ? reply_string(reply, "digest") : NULL;
        if (r == 0 && !digest)
                r = ocid_error_set(err, OCID_ERR_INTERNAL, "manifest: malformed answer from the helper");
        if (r == 0) {
                off_t len = lseek(fd, 0, SEEK_END);
                char *body = len >= 0 && len <= MANIFEST_MAX_SIZE ? xcalloc((size_t)len + 1, 1) : NULL;
                if (!body || pread(fd, body, (size_t)len, 0) != len) {
                        free(body);
                        r = ocid_error_set(err, OCID_ERR_INTERNAL, "manifest: cannot read the helper's copy");
                } else {
                        const char *type = reply_string(reply, "content_type");
                        *ret_body = body;
                        *ret_len = (size_t)len;
                        *ret_content_type = type ? xstrdup(type) : NULL;
                        *ret_digest = xstrdup(digest);
                }
        }
        json_object_put(reply);
        return r;
}

int registry_fetch_blob(registry_session *s, const char *digest, int64_t size, int out_fd,
                        ocid_error *err)
{
        json_object *req = json_object_new_object();
        add_string(req, "op", "blob");
        add_string(req, "digest", digest);
        json_object_object_add(req, "size", json_object_new_int64(size));
        json_object *reply = NULL;
        int r = call(s, req, out_fd, &reply, err);
        json_object_put(req);
        if (r == 0)
                r = helper_reply_check(reply, "blob", err);
        json_object_put(reply);
        return r;
}
