#include "util/helper.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/spawn.h"
#include "util/xalloc.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

char *helper_program_path(const char *name)
{
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        char *path = NULL;
        if (n > 0) {
                exe[n] = '\0';
                if (asprintf(&path, "%s/%s", dirname(exe), name) < 0)
                        abort();
                if (access(path, F_OK) == 0)
                        return path;
                free(path);
        }
        if (asprintf(&path, "%s/%s", OCID_LIBEXECDIR, name) < 0)
                abort();
        return path;
}

int helper_spawn(const char *name, const char *const *args, int stdin_fd, int stdout_fd, pid_t *ret_pid,
                 ocid_error *err)
{
        _cleanup_free_ char *program = helper_program_path(name);
        size_t n = 0;
        while (args[n])
                n++;
        _cleanup_free_ char **argv = xcalloc(n + 3, sizeof(char *));
        argv[0] = program;
        for (size_t i = 0; i < n; i++)
                argv[1 + i] = (char *)args[i];
        argv[n + 1] = (char *)log_level_name(log_get_level());
        spawn_start_options so = { .argv = argv, .stdio = { stdin_fd, stdout_fd, STDERR_FILENO } };
        int pidfd = -1;
        int r = spawn_start(&so, ret_pid, &pidfd);
        if (pidfd >= 0)
                close(pidfd);
        if (r < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, -r, "cannot run %s", program);
        return 0;
}

int helper_send(int sock, json_object *obj, int fd)
{
        size_t len;
        const char *text = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
        if (len > HELPER_MSG_MAX)
                return -EMSGSIZE;
        struct iovec iov = { .iov_base = (void *)text, .iov_len = len };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control;
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (fd >= 0) {
                memset(&control, 0, sizeof(control));
                msg.msg_control = control.buf;
                msg.msg_controllen = sizeof(control.buf);
                struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        ssize_t sent;
        do
                sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
        while (sent < 0 && errno == EINTR);
        return sent < 0 ? -errno : 0;
}

int helper_recv(int sock, json_object **ret_obj, int *ret_fd)
{
        _cleanup_free_ char *buf = xcalloc(HELPER_MSG_MAX + 1, 1);
        struct iovec iov = { .iov_base = buf, .iov_len = HELPER_MSG_MAX };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control;
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                              .msg_controllen = sizeof(control.buf) };
        ssize_t n;
        do
                n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        int fd = -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
                    c->cmsg_len == CMSG_LEN(sizeof(int)))
                        memcpy(&fd, CMSG_DATA(c), sizeof(int));
        if (n == 0) {
                if (fd >= 0)
                        close(fd);
                return -EPIPE;
        }
        buf[n] = '\0';
        json_object *obj = (msg.msg_flags & MSG_TRUNC) ? NULL : json_tokener_parse(buf);
        if (!obj || !json_object_is_type(obj, json_type_object)) {
                json_object_put(obj);
                if (fd >= 0)
                        close(fd);
                return -EBADMSG;
        }
        if (ret_fd)
                *ret_fd = fd;
        else if (fd >= 0)
                close(fd);
        *ret_obj = obj;
        return 0;
}

int helper_wait_readable(int fd, const atomic_bool *cancelled)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };
        for (;;) {
                if (cancelled && atomic_load(cancelled))
                        return -ECANCELED;
                if (poll(&p, 1, 100) > 0)
                        return 0;
        }
}

json_object *helper_error_reply(const ocid_error *err)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "ok", json_object_new_boolean(0));
        json_object_object_add(o, "kind", json_object_new_int(err->kind));
        json_object_object_add(o, "message", json_object_new_string(err->message ? err->message : ""));
        return o;
}

json_object *helper_ok_reply(void)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "ok", json_object_new_boolean(1));
        return o;
}

int helper_reply_check(json_object *reply, const char *what, ocid_error *err)
{
        json_object *ok, *kind, *message;
        if (json_object_object_get_ex(reply, "ok", &ok) && json_object_get_boolean(ok))
                return 0;
        if (json_object_object_get_ex(reply, "kind", &kind) &&
            json_object_object_get_ex(reply, "message", &message)) {
                int k = json_object_get_int(kind);
                if (k <= OCID_OK || k > OCID_ERR_UNIMPLEMENTED)
                        k = OCID_ERR_INTERNAL;
                return ocid_error_set(err, (ocid_error_kind)k, "%s", json_object_get_string(message));
        }
        return ocid_error_set(err, OCID_ERR_INTERNAL, "%s: malformed answer from the helper", what);
}
