/* Each test gets a fresh directory from mkdtemp, removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "util/cleanup.h"
#include "util/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

static int setup(void **state)
{
        char tmpl[] = "/tmp/ocid-test-fs-XXXXXX";
        if (!mkdtemp(tmpl))
                return -1;
        *state = strdup(tmpl);
        return *state ? 0 : -1;
}

static int teardown(void **state)
{
        char *dir = *state;
        int r = fs_remove_tree(dir);
        free(dir);
        return r;
}

/* A path inside the test directory; the caller frees it. */
static char *at(void **state, const char *rel)
{
        return fs_path_join(*state, rel);
}

static void put(const char *path, const char *content)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        size_t len = strlen(content);
        assert_int_equal(write(fd, content, len), (ssize_t)len);
        close(fd);
}

static bool exists(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0;
}

static int count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        assert_non_null(d);
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (!STREQ(de->d_name, ".") && !STREQ(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

/* ---- fs_read_file ---- */

static void test_read_file(void **state)
{
        _cleanup_free_ char *path = at(state, "f");
        put(path, "hello\n");
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        assert_int_equal(fs_read_file(path, 1024, &data, &len), 0);
        assert_int_equal(len, 6);
        assert_string_equal(data, "hello\n");

        /* ret_len may be NULL for text. */
        _cleanup_free_ char *again = NULL;
        assert_int_equal(fs_read_file(path, 1024, &again, NULL), 0);
        assert_string_equal(again, "hello\n");
}

static void test_read_file_empty_and_binary(void **state)
{
        _cleanup_free_ char *path = at(state, "empty");
        put(path, "");
        _cleanup_free_ char *data = NULL;
        size_t len = 99;
        assert_int_equal(fs_read_file(path, 0, &data, &len), 0);
        assert_non_null(data);
        assert_int_equal(len, 0);
        assert_string_equal(data, "");

        _cleanup_free_ char *bin = at(state, "bin");
        assert_int_equal(fs_write_file_atomic(bin, "a\0b\0", 4, 0644), 0);
        _cleanup_free_ char *b = NULL;
        assert_int_equal(fs_read_file(bin, 4, &b, &len), 0);
        assert_int_equal(len, 4);
        assert_memory_equal(b, "a\0b\0", 5);
}

static void test_read_file_max_size(void **state)
{
        _cleanup_free_ char *path = at(state, "f");
        put(path, "0123456789");
        _cleanup_free_ char *data = NULL;
        size_t len;
        assert_int_equal(fs_read_file(path, 10, &data, &len), 0); /* exactly the bound */
        assert_int_equal(len, 10);
        char *none = NULL;
        assert_int_equal(fs_read_file(path, 9, &none, &len), -EFBIG);
        assert_null(none);
        assert_int_equal(fs_read_file(path, 0, &none, &len), -EFBIG);

        /* Larger than one read. */
        const size_t big = 300000;
        _cleanup_free_ char *content = malloc(big);
        assert_non_null(content);
        for (size_t i = 0; i < big; i++)
                content[i] = (char)(i % 251);
        _cleanup_free_ char *bigpath = at(state, "big");
        assert_int_equal(fs_write_file_atomic(bigpath, content, big, 0600), 0);
        assert_int_equal(fs_read_file(bigpath, big - 1, &none, &len), -EFBIG);
        assert_int_equal(fs_read_file(bigpath, 8192, &none, &len), -EFBIG);
        _cleanup_free_ char *got = NULL;
        assert_int_equal(fs_read_file(bigpath, big, &got, &len), 0);
        assert_int_equal(len, big);
        assert_memory_equal(got, content, big);
}

static void test_read_file_errors(void **state)
{
        _cleanup_free_ char *missing = at(state, "missing");
        char *data = NULL;
        size_t len;
        assert_int_equal(fs_read_file(missing, 100, &data, &len), -ENOENT);
        assert_int_equal(fs_read_file(*state, 100, &data, &len), -EISDIR);
        assert_null(data);
}

/* ---- fs_write_file_atomic ---- */

static void test_write_atomic(void **state)
{
        _cleanup_free_ char *path = at(state, "config.json");
        assert_int_equal(fs_write_file_atomic(path, "{\"a\":1}", 7, 0640), 0);
        _cleanup_free_ char *data = NULL;
        size_t len;
        assert_int_equal(fs_read_file(path, 100, &data, &len), 0);
        assert_string_equal(data, "{\"a\":1}");
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        assert_true(S_ISREG(st.st_mode));
        /* Nothing but the file itself: no temp file left behind. */
        assert_int_equal(count_entries(*state), 1);
}

static void test_write_atomic_replaces(void **state)
{
        _cleanup_free_ char *path = at(state, "f");
        assert_int_equal(fs_write_file_atomic(path, "a much longer first version", 27, 0600), 0);
        struct stat before;
        assert_int_equal(stat(path, &before), 0);
        assert_int_equal(fs_write_file_atomic(path, "v2", 2, 0644), 0);
        _cleanup_free_ char *data = NULL;
        size_t len;
        assert_int_equal(fs_read_file(path, 100, &data, &len), 0);
        assert_int_equal(len, 2);
        assert_string_equal(data, "v2");
        struct stat after;
        assert_int_equal(stat(path, &after), 0);
        assert_int_equal(after.st_mode & 07777, 0644);
        /* A new inode renamed over the old one, not a rewrite in place. */
        assert_true(after.st_ino != before.st_ino);
        assert_int_equal(count_entries(*state), 1);
}

static void test_write_atomic_mode_ignores_umask(void **state)
{
        mode_t old = umask(077);
        _cleanup_free_ char *path = at(state, "f");
        int r = fs_write_file_atomic(path, "", 0, 0755);
        umask(old);
        assert_int_equal(r, 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(st.st_size, 0);
}

static void test_write_atomic_failures(void **state)
{
        _cleanup_free_ char *nodir = at(state, "no/such/dir/f");
        assert_int_equal(fs_write_file_atomic(nodir, "x", 1, 0644), -ENOENT);
        assert_int_equal(count_entries(*state), 0);

        /* The rename fails onto a directory; the temp file must go. */
        _cleanup_free_ char *dir = at(state, "d");
        assert_int_equal(mkdir(dir, 0755), 0);
        assert_int_equal(fs_write_file_atomic(dir, "x", 1, 0644), -EISDIR);
        assert_int_equal(count_entries(*state), 1);
        assert_int_equal(count_entries(dir), 0);
}

/* ---- fs_mkdir_p ---- */

static void test_mkdir_p(void **state)
{
        _cleanup_free_ char *deep = at(state, "a/b/c/d");
        assert_int_equal(fs_mkdir_p(deep, 0755), 0);
        struct stat st;
        assert_int_equal(stat(deep, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        /* Existing is fine, at every level. */
        assert_int_equal(fs_mkdir_p(deep, 0755), 0);
        _cleanup_free_ char *mid = at(state, "a/b");
        assert_int_equal(fs_mkdir_p(mid, 0755), 0);
        assert_int_equal(fs_mkdir_p(*state, 0755), 0);
        assert_int_equal(fs_mkdir_p("/", 0755), 0);
}

static void test_mkdir_p_mode(void **state)
{
        mode_t old = umask(022);
        _cleanup_free_ char *path = at(state, "x/y");
        int r = fs_mkdir_p(path, 0710);
        umask(old);
        assert_int_equal(r, 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0710);
        _cleanup_free_ char *parent = at(state, "x");
        assert_int_equal(stat(parent, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0710);
}

static void test_mkdir_p_odd_slashes(void **state)
{
        _cleanup_free_ char *trailing = at(state, "t/u/");
        assert_int_equal(fs_mkdir_p(trailing, 0755), 0);
        _cleanup_free_ char *doubled = at(state, "v//w///x");
        assert_int_equal(fs_mkdir_p(doubled, 0755), 0);
        _cleanup_free_ char *check = at(state, "v/w/x");
        struct stat st;
        assert_int_equal(stat(check, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
}

static void test_mkdir_p_relative(void **state)
{
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        assert_non_null(cwd);
        assert_int_equal(chdir(*state), 0);
        int r = fs_mkdir_p("rel/one", 0755);
        struct stat st;
        int s = stat("rel/one", &st);
        assert_int_equal(chdir(cwd), 0);
        assert_int_equal(r, 0);
        assert_int_equal(s, 0);
}

static void test_mkdir_p_notdir(void **state)
{
        _cleanup_free_ char *file = at(state, "file");
        put(file, "x");
        assert_int_equal(fs_mkdir_p(file, 0755), -ENOTDIR);
        _cleanup_free_ char *below = at(state, "file/sub/dir");
        assert_int_equal(fs_mkdir_p(below, 0755), -ENOTDIR);
        _cleanup_free_ char *content = NULL;
        size_t len;
        assert_int_equal(fs_read_file(file, 10, &content, &len), 0);
        assert_string_equal(content, "x");
}

static void test_mkdir_p_empty(void **state)
{
        assert_int_equal(fs_mkdir_p("", 0755), -ENOENT);
}

/* ---- fs_remove_tree ---- */

static void test_remove_tree(void **state)
{
        _cleanup_free_ char *root = at(state, "tree");
        _cleanup_free_ char *deep = at(state, "tree/a/b/c");
        _cleanup_free_ char *empty = at(state, "tree/empty/inner");
        assert_int_equal(fs_mkdir_p(deep, 0755), 0);
        assert_int_equal(fs_mkdir_p(empty, 0700), 0);
        const char *files[] = { "tree/top", "tree/a/f1", "tree/a/b/f2", "tree/a/b/c/f3", "tree/.hidden" };
        for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
                _cleanup_free_ char *p = at(state, files[i]);
                put(p, files[i]);
        }
        _cleanup_free_ char *fifo = at(state, "tree/a/fifo");
        assert_int_equal(mkfifo(fifo, 0600), 0);
        /* A directory we cannot write to is no obstacle for root, and an
         * unreadable file does not need to be read to be removed. */
        _cleanup_free_ char *locked = at(state, "tree/a/f1");
        assert_int_equal(chmod(locked, 0), 0);

        assert_int_equal(fs_remove_tree(root), 0);
        assert_false(exists(root));
        assert_int_equal(count_entries(*state), 0);
}

static void test_remove_tree_deep(void **state)
{
        _cleanup_free_ char *path = at(state, "deep");
        char *p = strdup(path);
        for (int i = 0; i < 100; i++) {
                char *q = fs_path_join(p, "d");
                free(p);
                p = q;
        }
        assert_int_equal(fs_mkdir_p(p, 0755), 0);
        _cleanup_free_ char *leaf = fs_path_join(p, "leaf");
        put(leaf, "x");
        free(p);
        assert_int_equal(fs_remove_tree(path), 0);
        assert_false(exists(path));
}

static void test_remove_tree_missing_and_file(void **state)
{
        _cleanup_free_ char *missing = at(state, "missing");
        assert_int_equal(fs_remove_tree(missing), 0);
        _cleanup_free_ char *below = at(state, "missing/below");
        assert_int_equal(fs_remove_tree(below), 0);

        _cleanup_free_ char *file = at(state, "file");
        put(file, "x");
        assert_int_equal(fs_remove_tree(file), 0);
        assert_false(exists(file));
}

/* Deeper than the descriptor limit: an image layer can build such a tree. */
static void test_remove_tree_deeper_than_fd_limit(void **state)
{
        _cleanup_free_ char *tree = at(state, "deep");
        assert_int_equal(mkdir(tree, 0755), 0);
        int fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        for (int i = 0; i < 3000; i++) {
                assert_int_equal(mkdirat(fd, "d", 0755), 0);
                int next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert_true(next >= 0);
                close(fd);
                fd = next;
        }
        close(fd);
        struct rlimit old, low = { 64, 64 };
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
        low.rlim_max = old.rlim_max;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
        int r = fs_remove_tree(tree);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
        assert_int_equal(r, 0);
        assert_int_equal(access(tree, F_OK), -1);
}

static void test_remove_tree_symlinks_not_followed(void **state)
{
        /* Precious data outside the tree, reachable through links inside. */
        _cleanup_free_ char *outside = at(state, "outside");
        _cleanup_free_ char *keep = at(state, "outside/keep");
        assert_int_equal(mkdir(outside, 0755), 0);
        put(keep, "precious");

        _cleanup_free_ char *tree = at(state, "tree");
        assert_int_equal(mkdir(tree, 0755), 0);
        _cleanup_free_ char *dirlink = at(state, "tree/dirlink");
        _cleanup_free_ char *filelink = at(state, "tree/filelink");
        _cleanup_free_ char *dangling = at(state, "tree/dangling");
        assert_int_equal(symlink(outside, dirlink), 0);
        assert_int_equal(symlink(keep, filelink), 0);
        assert_int_equal(symlink("/nonexistent/target", dangling), 0);

        assert_int_equal(fs_remove_tree(tree), 0);
        assert_false(exists(tree));
        assert_true(exists(keep));

        /* The tree root itself a symlink: the link goes, the target stays. */
        _cleanup_free_ char *rootlink = at(state, "rootlink");
        assert_int_equal(symlink(outside, rootlink), 0);
        assert_int_equal(fs_remove_tree(rootlink), 0);
        assert_false(exists(rootlink));
        assert_true(exists(keep));
        _cleanup_free_ char *content = NULL;
        size_t len;
        assert_int_equal(fs_read_file(keep, 100, &content, &len), 0);
        assert_string_equal(content, "precious");
}

static void test_remove_tree_stops_at_mounts(void **state)
{
        _cleanup_free_ char *tree = at(state, "tree");
        _cleanup_free_ char *mnt = at(state, "tree/sub/mnt");
        assert_int_equal(fs_mkdir_p(mnt, 0755), 0);
        if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0)
                skip(); /* not privileged */
        _cleanup_free_ char *inside = at(state, "tree/sub/mnt/inside");
        put(inside, "on another filesystem");
        _cleanup_free_ char *sibling = at(state, "tree/sibling");
        put(sibling, "x");

        int r = fs_remove_tree(tree);
        bool kept = exists(inside);
        bool sibling_gone = !exists(sibling);
        assert_int_equal(umount(mnt), 0);
        assert_int_equal(r, -EBUSY);
        assert_true(kept);
        assert_true(sibling_gone);
        assert_int_equal(fs_remove_tree(tree), 0);
}

static void test_remove_tree_stops_at_bind_mounts(void **state)
{
        /* A bind mount from the same filesystem has the same st_dev; it is
         * still a mount point (a container volume, say) and what it shows
         * must survive. */
        _cleanup_free_ char *vol = at(state, "volume");
        _cleanup_free_ char *keep = at(state, "volume/keep");
        assert_int_equal(mkdir(vol, 0755), 0);
        put(keep, "host data");
        _cleanup_free_ char *tree = at(state, "tree");
        _cleanup_free_ char *mnt = at(state, "tree/mnt");
        assert_int_equal(fs_mkdir_p(mnt, 0755), 0);
        if (mount(vol, mnt, NULL, MS_BIND, NULL) < 0)
                skip();

        int r = fs_remove_tree(tree);
        bool kept = exists(keep);
        assert_int_equal(umount(mnt), 0);
        assert_int_equal(r, -EBUSY);
        assert_true(kept);
        assert_int_equal(fs_remove_tree(tree), 0);
        assert_true(exists(keep));
}

/* ---- fs_path_join ---- */

static void assert_join(const char *a, const char *b, const char *expect)
{
        _cleanup_free_ char *j = fs_path_join(a, b);
        assert_string_equal(j, expect);
}

static void test_path_join(void **state)
{
        assert_join("a", "b", "a/b");
        assert_join("a/", "b", "a/b");
        assert_join("a", "/b", "a/b");
        assert_join("a///", "///b", "a/b");
        assert_join("/", "b", "/b");
        assert_join("//", "b", "/b");
        assert_join("/", "/", "/");
        assert_join("/var/lib/ocid", "containers/x/config.json",
                    "/var/lib/ocid/containers/x/config.json");
        /* b is always taken relative to a: an absolute b cannot escape. */
        assert_join("/rootfs", "/etc/passwd", "/rootfs/etc/passwd");
        assert_join("a", "b/", "a/b/");
        assert_join("a", "", "a/");
        assert_join("", "b", "/b");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_read_file),
                T(test_read_file_empty_and_binary),
                T(test_read_file_max_size),
                T(test_read_file_errors),
                T(test_write_atomic),
                T(test_write_atomic_replaces),
                T(test_write_atomic_mode_ignores_umask),
                T(test_write_atomic_failures),
                T(test_mkdir_p),
                T(test_mkdir_p_mode),
                T(test_mkdir_p_odd_slashes),
                T(test_mkdir_p_relative),
                T(test_mkdir_p_notdir),
                T(test_mkdir_p_empty),
                T(test_remove_tree),
                T(test_remove_tree_deep),
                T(test_remove_tree_missing_and_file),
                T(test_remove_tree_symlinks_not_followed),
                T(test_remove_tree_stops_at_mounts),
                T(test_remove_tree_stops_at_bind_mounts),
                T(test_remove_tree_deeper_than_fd_limit),
                cmocka_unit_test(test_path_join),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
