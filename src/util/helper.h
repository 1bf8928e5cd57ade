/* Talking to ocid's helper programs (ocid-fetch): finding them, and
 * messages over a SOCK_SEQPACKET socket, each one JSON object with at
 * most one descriptor attached.
 *
 * Work that needs large libraries (HTTP and TLS for registries, archive
 * formats for layers) runs in a helper process, so that the daemon never
 * maps those libraries: they would cost it more resident memory than
 * everything else it does, for work it does rarely. */
#pragma once

#include "util/error.h"

#include <json-c/json.h>
#include <stdatomic.h>
#include <sys/types.h>

/* The largest message either side sends. */
#define HELPER_MSG_MAX (64 * 1024)

/* The path of ocid's helper program or module `name`: next to the running
 * executable when it is there (the build tree, or both installed in one
 * directory), else in the directory ocid installs helpers into. Owned by
 * the caller. */
char *helper_program_path(const char *name);

/* Start the helper program `name` with the arguments `args` (NULL-ended)
 * and then the daemon's log level; its stdin and stdout are the given
 * descriptors (-1: /dev/null), its stderr the daemon's. The caller reaps
 * *ret_pid. -1 with *err naming the program when it cannot run. */
int helper_spawn(const char *name, const char *const *args, int stdin_fd, int stdout_fd, pid_t *ret_pid,
                 ocid_error *err);

/* Send obj (and fd when >= 0). -errno on failure. */
int helper_send(int sock, json_object *obj, int fd);

/* Receive one message: *ret_obj owned by the caller; *ret_fd (when
 * ret_fd is not NULL) the attached descriptor or -1. A descriptor the
 * caller did not ask for is closed. -EPIPE at end of stream, -EBADMSG
 * for a message that is not a JSON object, other -errno. */
int helper_recv(int sock, json_object **ret_obj, int *ret_fd);

/* Wait until fd is readable, checking *cancelled every 100 ms (cancelled
 * may be NULL). 0, or -ECANCELED. */
int helper_wait_readable(int fd, const atomic_bool *cancelled);

/* Errors cross the socket as {"ok": false, "kind": K, "message": M};
 * success is {"ok": true, ...}. */
json_object *helper_error_reply(const ocid_error *err);
json_object *helper_ok_reply(void);
/* 0 for an ok reply; -1 with *err set from an error reply, or INTERNAL
 * naming `what` for a reply of neither shape. */
int helper_reply_check(json_object *reply, const char *what, ocid_error *err);
