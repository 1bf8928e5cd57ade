/* ocid-fetch: the daemon's helper for the work that needs large libraries.
 *
 *   ocid-fetch session LEVEL   one registry session (registry.c, libcurl)
 *                              served over the SOCK_SEQPACKET socket on
 *                              stdin: first the session's parameters, then
 *                              requests, each answered in turn; the
 *                              daemon's side is registry_proxy.c
 *   ocid-fetch unpack DIR LEVEL
 *                              extract the layer read from stdin into DIR
 *                              (unpack.c, libarchive) and print the result
 *                              as one JSON object on stdout; the daemon's
 *                              side is storage/unpack_child.c
 *
 * LEVEL is the daemon's log level; messages go to stderr, which is the
 * daemon's. The helper dies with the thread that started it. */
#include "image/registry.h"
#include "storage/unpack.h"
#include "util/cleanup.h"
#include "util/helper.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static const char *get_string(json_object *o, const char *key)
{
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
                ? json_object_get_string(v) : NULL;
}

static int64_t get_int(json_object *o, const char *key)
{
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, buf, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

static json_object *fetch_manifest(registry_session *s, json_object *req, int fd, ocid_error *err)
{
        const char *reference = get_string(req, "reference");
        _cleanup_free_ char *body = NULL, *type = NULL, *digest = NULL;
        size_t len;
        if (!reference || fd < 0) {
                ocid_error_set(err, OCID_ERR_INTERNAL, "manifest request without reference or descriptor");
                return NULL;
        }
        if (registry_fetch_manifest(s, reference, &body, &len, &type, &digest, err) < 0)
                return NULL;
        int r = write_all(fd, body, len);
        if (r < 0) {
                ocid_error_set_errno(err, OCID_ERR_INTERNAL, -r, "cannot hand the manifest over");
                return NULL;
        }
        json_object *reply = helper_ok_reply();
        json_object_object_add(reply, "digest", json_object_new_string(digest));
        if (type)
                json_object_object_add(reply, "content_type", json_object_new_string(type));
        return reply;
}

static json_object *fetch_blob(registry_session *s, json_object *req, int fd, ocid_error *err)
{
        const char *digest = get_string(req, "digest");
        if (!digest || fd < 0) {
                ocid_error_set(err, OCID_ERR_INTERNAL, "blob request without digest or descriptor");
                return NULL;
        }
        if (registry_fetch_blob(s, digest, get_int(req, "size"), fd, err) < 0)
                return NULL;
        return helper_ok_reply();
}

static int serve_session(int sock)
{
        json_object *hello = NULL;
        if (helper_recv(sock, &hello, NULL) < 0)
                return 1;
        pull_source src = {
                .host = (char *)get_string(hello, "host"),
                .repository = (char *)get_string(hello, "repository"),
                .insecure = json_object_get_boolean(json_object_object_get(hello, "insecure")),
        };
        registry_auth auth = {
                .username = get_string(hello, "username"),
                .password = get_string(hello, "password"),
                .auth = get_string(hello, "auth"),
                .identity_token = get_string(hello, "identity_token"),
                .registry_token = get_string(hello, "registry_token"),
        };
        registry_options opts = {
                .certs_dir = get_string(hello, "certs_dir"),
                .connect_timeout_ms = (long)get_int(hello, "connect_timeout_ms"),
                .stall_timeout_s = (long)get_int(hello, "stall_timeout_s"),
        };
        registry_session *s = NULL;
        ocid_error err = OCID_ERROR_INIT;
        json_object *reply;
        if (!src.host || !src.repository)
                ocid_error_set(&err, OCID_ERR_INTERNAL, "session without host or repository");
        else
                registry_session_new(&src, &auth, &opts, &s, &err);
        reply = s ? helper_ok_reply() : helper_error_reply(&err);
        int r = helper_send(sock, reply, -1);
        json_object_put(reply);
        ocid_error_clear(&err);
        while (s && r == 0) {
                json_object *req = NULL;
                int fd = -1;
                if (helper_recv(sock, &req, &fd) < 0)
                        break; /* the daemon closed the session */
                const char *op = get_string(req, "op");
                if (op && strcmp(op, "manifest") == 0)
                        reply = fetch_manifest(s, req, fd, &err);
                else if (op && strcmp(op, "blob") == 0)
                        reply = fetch_blob(s, req, fd, &err);
                else
                        reply = (ocid_error_set(&err, OCID_ERR_INTERNAL, "unknown request"), NULL);
                if (!reply)
                        reply = helper_error_reply(&err);
                r = helper_send(sock, reply, -1);
                json_object_put(reply);
                json_object_put(req);
                ocid_error_clear(&err);
                if (fd >= 0)
                        close(fd);
        }
        registry_session_free(s);
        json_object_put(hello);
        return 0;
}

static int unpack_into(const char *dir)
{
        ocid_error err = OCID_ERROR_INIT;
        unpack_result res = { 0 };
        unpack_limits limits = UNPACK_DEFAULT_LIMITS;
        json_object *reply;
        _cleanup_close_ int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                ocid_error_set_errno(&err, OCID_ERR_INTERNAL, errno, "cannot open %s", dir);
        if (dir_fd >= 0 && layer_unpack(STDIN_FILENO, dir_fd, &limits, &res, &err) == 0) {
                reply = helper_ok_reply();
                json_object_object_add(reply, "diff_id", json_object_new_string(res.diff_id));
                json_object_object_add(reply, "size", json_object_new_int64((int64_t)res.size));
                json_object_object_add(reply, "entries", json_object_new_int64((int64_t)res.entries));
        } else {
                reply = helper_error_reply(&err);
        }
        int r = puts(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN)) < 0 || fflush(stdout) != 0;
        json_object_put(reply);
        unpack_result_release(&res);
        ocid_error_clear(&err);
        return r;
}

int main(int argc, char **argv)
{
        log_level level = LOG_LEVEL_INFO;
        if (argc >= 3)
                log_level_parse(argv[argc - 1], &level);
        log_set_level(level);
        /* Nothing this process does is worth finishing once its daemon is gone. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGPIPE, SIG_IGN);
        if (argc == 3 && strcmp(argv[1], "session") == 0) {
                curl_global_init(CURL_GLOBAL_DEFAULT);
                int r = serve_session(STDIN_FILENO);
                curl_global_cleanup();
                return r;
        }
        if (argc == 4 && strcmp(argv[1], "unpack") == 0)
                return unpack_into(argv[2]);
        fprintf(stderr, "usage: ocid-fetch session LEVEL | ocid-fetch unpack DIR LEVEL\n"
                        "(a helper of ocid, not meant to be run by hand)\n");
        return 2;
}
