/* systemd's readiness notification (sd_notify(3)) without libsystemd. */
#pragma once

/* Send state ("READY=1", "STOPPING=1", ...) as one datagram to the socket
 * $NOTIFY_SOCKET names: a path, or with a leading '@' an abstract address.
 * Returns 1 when sent, 0 when $NOTIFY_SOCKET is unset, else -errno. */
int sdnotify(const char *state);
