#include "storage/unpack_child.h"
#include "util/cleanup.h"
#include "util/helper.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* Read the helper's answer to its end, unless cancelled. */
static int read_answer(int fd, const atomic_bool *cancelled, strbuf *out)
{
        char buf[4096];
        for (;;) {
                int r = helper_wait_readable(fd, cancelled);
                if (r < 0)
                        return r;
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                if (out->len + (size_t)n > HELPER_MSG_MAX)
                        return -EMSGSIZE;
                strbuf_add(out, buf, (size_t)n);
        }
}

int layer_unpack_child(int blob_fd, const char *dir, const atomic_bool *cancelled, unpack_result *ret,
                       ocid_error *err)
{
        if (lseek(blob_fd, 0, SEEK_SET) < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "seek");
        int out[2];
        if (pipe2(out, O_CLOEXEC) < 0)
                return ocid_error_set_errno(err, OCID_ERR_RESOURCE, errno, "pipe");
        pid_t pid;
        int r = helper_spawn("ocid-fetch", (const char *const[]){ "unpack", dir, NULL }, blob_fd, out[1], &pid,
                             err);
        close(out[1]);
        if (r < 0) {
                close(out[0]);
                return -1;
        }
        _cleanup_strbuf_ strbuf answer = STRBUF_INIT;
        r = read_answer(out[0], cancelled, &answer);
        close(out[0]);
        if (r < 0)
                kill(pid, SIGKILL);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (r == -ECANCELED)
                return ocid_error_set(err, OCID_ERR_CANCELLED, "cancelled");
        if (r < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, -r, "unpack: reading the helper's answer");
        json_object *reply = json_tokener_parse(answer.buf);
        if (!reply) {
                if (WIFSIGNALED(status))
                        return ocid_error_set(err, OCID_ERR_INTERNAL,
                                              "the unpack helper ocid-fetch was killed by signal %d",
                                              WTERMSIG(status));
                return ocid_error_set(err, OCID_ERR_INTERNAL,
                                      "the unpack helper ocid-fetch exited with status %d without an answer",
                                      WEXITSTATUS(status));
        }
        r = helper_reply_check(reply, "unpack", err);
        json_object *diff_id, *size, *entries;
        if (r == 0 && json_object_object_get_ex(reply, "diff_id", &diff_id) &&
            json_object_object_get_ex(reply, "size", &size) &&
            json_object_object_get_ex(reply, "entries", &entries)) {
                ret->diff_id = xstrdup(json_object_get_string(diff_id));
                ret->size = (uint64_t)json_object_get_int64(size);
                ret->entries = (uint64_t)json_object_get_int64(entries);
        } else if (r == 0) {
                r = ocid_error_set(err, OCID_ERR_INTERNAL, "unpack: malformed answer from the helper");
        }
        json_object_put(reply);
        return r;
}
