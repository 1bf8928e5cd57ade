#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "util/cleanup.h"
#include "util/sdnotify.h"

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Bind a datagram socket at name ('@' for abstract) and point
 * $NOTIFY_SOCKET at it. */
static int listen_at(const char *name)
{
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        size_t len = strlen(name);
        assert_true(len < sizeof(addr.sun_path));
        memcpy(addr.sun_path, name, len);
        socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
        if (name[0] == '@')
                addr.sun_path[0] = '\0';
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&addr, addr_len), 0);
        assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
        return fd;
}

static void assert_received(int fd, const char *want)
{
        char buf[256];
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        assert_int_equal(n, (ssize_t)strlen(want));
        assert_memory_equal(buf, want, (size_t)n);
}

static void test_path(void **state)
{
        char dir[] = "/tmp/ocid-test-sdnotify-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char path[sizeof(dir) + 16];
        snprintf(path, sizeof(path), "%s/notify", dir);
        _cleanup_close_ int fd = listen_at(path);

        assert_int_equal(sdnotify("READY=1"), 1);
        assert_received(fd, "READY=1");
        assert_int_equal(sdnotify("STOPPING=1"), 1);
        assert_received(fd, "STOPPING=1");

        unlink(path);
        rmdir(dir);
        assert_int_equal(sdnotify("READY=1"), -ENOENT);
        unsetenv("NOTIFY_SOCKET");
}

static void test_abstract(void **state)
{
        char name[64];
        snprintf(name, sizeof(name), "@ocid-test-sdnotify-%d", getpid());
        _cleanup_close_ int fd = listen_at(name);

        assert_int_equal(sdnotify("READY=1"), 1);
        assert_received(fd, "READY=1");
        unsetenv("NOTIFY_SOCKET");
}

static void test_unset_or_unusable(void **state)
{
        unsetenv("NOTIFY_SOCKET");
        assert_int_equal(sdnotify("READY=1"), 0);
        setenv("NOTIFY_SOCKET", "", 1);
        assert_int_equal(sdnotify("READY=1"), 0);
        setenv("NOTIFY_SOCKET", "relative/notify", 1);
        assert_int_equal(sdnotify("READY=1"), -EAFNOSUPPORT);
        char long_path[200];
        memset(long_path, 'x', sizeof(long_path) - 1);
        long_path[0] = '/';
        long_path[sizeof(long_path) - 1] = '\0';
        setenv("NOTIFY_SOCKET", long_path, 1);
        assert_int_equal(sdnotify("READY=1"), -EINVAL);
        unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_path),
                cmocka_unit_test(test_abstract),
                cmocka_unit_test(test_unset_or_unusable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
