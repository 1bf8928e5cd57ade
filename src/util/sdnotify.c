#include "util/sdnotify.h"
#include "util/cleanup.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

int sdnotify(const char *state)
{
        const char *name = getenv("NOTIFY_SOCKET");
        if (!name || !*name)
                return 0;
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        size_t len = strlen(name);
        if (name[0] != '/' && name[0] != '@')
                return -EAFNOSUPPORT;
        if (len >= sizeof(addr.sun_path))
                return -EINVAL;
        memcpy(addr.sun_path, name, len);
        socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
        /* An abstract address is exactly its bytes, without a terminator. */
        if (name[0] == '@')
                addr.sun_path[0] = '\0';
        else
                addr_len++;

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len) < 0)
                return -errno;
        return 1;
}
