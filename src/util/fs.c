#include "util/fs.h"
#include "util/cleanup.h"
#include "util/strbuf.h"

#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

int fs_read_file(const char *path, size_t max_size, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        for (;;) {
                strbuf_grow(&sb, 8192);
                ssize_t n = read(fd, sb.buf + sb.len, sb.alloc - sb.len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                sb.len += (size_t)n;
                sb.buf[sb.len] = '\0';
                if (sb.len > max_size)
                        return -EFBIG;
        }
        *ret = strbuf_detach(&sb, ret_len);
        return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
        const char *p = data;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static int write_replacing(const char *path, const void *data, size_t len, mode_t mode, bool durable)
{
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = write_all(fd, data, len);
        if (r == 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r == 0 && durable && fsync(fd) < 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        if (!durable)
                return 0;
        /* Make the rename itself durable. */
        _cleanup_free_ char *dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        _cleanup_close_ int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                fsync(dfd);
        return 0;
}

int fs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
        return write_replacing(path, data, len, mode, true);
}

int fs_write_file_replace(const char *path, const void *data, size_t len, mode_t mode)
{
        return write_replacing(path, data, len, mode, false);
}

int fs_mkdir_p(const char *path, mode_t mode)
{
        if (!*path)
                return -ENOENT; /* as mkdir(""); the loop below starts at p + 1 */
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0) {
                if (errno != EEXIST)
                        return -errno;
                struct stat st;
                if (stat(p, &st) < 0)
                        return -errno;
                if (!S_ISDIR(st.st_mode))
                        return -ENOTDIR;
        }
        return 0;
}

/* A mount point is recognised by its mount id: a bind mount from the same
 * filesystem (a container volume) has the same st_dev as its parent.
 * Kernels before 5.8 report no mount id; then only mounts of other
 * filesystems are recognised. */
static bool same_mount(const struct statx *a, const struct statx *b)
{
        if (a->stx_dev_major != b->stx_dev_major || a->stx_dev_minor != b->stx_dev_minor)
                return false;
        if (a->stx_mask & b->stx_mask & STATX_MNT_ID)
                return a->stx_mnt_id == b->stx_mnt_id;
        return true;
}

typedef int (*visit_fn)(int dfd, const char *name, const struct statx *stx, void *data);

/* Walk the tree at dfd/name depth-first, calling visit on each entry after
 * its children. Never descends into another mount (that subtree gives
 * -EBUSY) nor follows symlinks. Keeps going after errors and returns the
 * first one. One descriptor per level: for counting, not removing. */
static int walk_at(int dfd, const char *name, const struct statx *top, visit_fn visit, void *data)
{
        struct statx stx;
        if (statx(dfd, name, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MNT_ID | STATX_BLOCKS, &stx) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISDIR(stx.stx_mode)) {
                if (!same_mount(&stx, top))
                        return -EBUSY;
                int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                DIR *d = fdopendir(fd);
                if (!d) {
                        close(fd);
                        return -errno;
                }
                int r = 0;
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
                                continue;
                        int q = walk_at(dirfd(d), de->d_name, top, visit, data);
                        if (q < 0 && r == 0)
                                r = q;
                }
                closedir(d);
                if (r < 0)
                        return r;
        }
        return visit(dfd, name, &stx, data);
}

static int walk(const char *path, visit_fn visit, void *data)
{
        struct statx top;
        if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MNT_ID, &top) < 0)
                return errno == ENOENT ? 0 : -errno;
        return walk_at(AT_FDCWD, path, &top, visit, data);
}

typedef struct {
        uint64_t *keys; /* dev << 32 ^ ino of directories that cannot be emptied */
        size_t n;
} stuck_set;

static uint64_t dir_key(const struct statx *stx)
{
        return ((uint64_t)stx->stx_dev_major << 48) ^ ((uint64_t)stx->stx_dev_minor << 32) ^ stx->stx_ino;
}

static bool stuck_has(const stuck_set *s, uint64_t key)
{
        for (size_t i = 0; i < s->n; i++)
                if (s->keys[i] == key)
                        return true;
        return false;
}

static void stuck_add(stuck_set *s, uint64_t key)
{
        uint64_t *k = realloc(s->keys, (s->n + 1) * sizeof(*k));
        if (!k)
                abort();
        s->keys = k;
        s->keys[s->n++] = key;
}

/* Iterative, holding two descriptors whatever the depth: a tree deeper
 * than the descriptor limit (a hostile image can make one) still goes.
 * Descends into the first non-empty subdirectory, climbs back through ".."
 * when a directory is done; nothing else may change the tree meanwhile.
 * Mount points, and the directories above them, are left standing. */
int fs_remove_tree_at(int dfd, const char *name)
{
        struct statx top;
        if (statx(dfd, name, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MNT_ID | STATX_INO, &top) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(top.stx_mode))
                return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
        _cleanup_close_ int cur = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cur < 0)
                return -errno;
        stuck_set stuck = { 0 };
        size_t depth = 0;
        int r = 0;
        for (;;) {
                int dup = fcntl(cur, F_DUPFD_CLOEXEC, 0);
                DIR *d = dup < 0 ? NULL : fdopendir(dup);
                if (!d) {
                        r = -errno;
                        if (dup >= 0)
                                close(dup);
                        break;
                }
                rewinddir(d);
                int child = -1;
                bool has_stuck = false;
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
                                continue;
                        if (unlinkat(cur, de->d_name, 0) == 0 || errno == ENOENT)
                                continue;
                        if (errno != EISDIR) {
                                r = -errno;
                                break;
                        }
                        struct statx stx;
                        if (statx(cur, de->d_name, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MNT_ID | STATX_INO,
                                  &stx) < 0) {
                                r = -errno;
                                break;
                        }
                        if (stuck_has(&stuck, dir_key(&stx))) {
                                has_stuck = true;
                                continue;
                        }
                        if (!same_mount(&stx, &top)) {
                                stuck_add(&stuck, dir_key(&stx)); /* never descend into a mount */
                                has_stuck = true;
                                continue;
                        }
                        if (unlinkat(cur, de->d_name, AT_REMOVEDIR) == 0 || errno == ENOENT)
                                continue;
                        if (errno != ENOTEMPTY && errno != EEXIST) {
                                r = -errno;
                                break;
                        }
                        child = openat(cur, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (child < 0)
                                r = -errno;
                        break;
                }
                closedir(d);
                if (r < 0)
                        break;
                if (child >= 0) {
                        close(cur);
                        cur = child;
                        depth++;
                        continue;
                }
                if (has_stuck) {
                        struct statx self;
                        if (statx(cur, "", AT_EMPTY_PATH, STATX_INO, &self) == 0)
                                stuck_add(&stuck, dir_key(&self));
                        r = -EBUSY;
                }
                if (depth == 0)
                        break;
                r = 0;
                /* Done here: go back up; the next scan of the parent removes it. */
                int up = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (up < 0) {
                        r = -errno;
                        break;
                }
                close(cur);
                cur = up;
                depth--;
        }
        free(stuck.keys);
        if (r < 0)
                return r;
        return unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

int fs_remove_tree(const char *path)
{
        return fs_remove_tree_at(AT_FDCWD, path);
}

typedef struct {
        uint64_t bytes;
        uint64_t inodes;
} usage;

static int count_entry(int dfd, const char *name, const struct statx *stx, void *data)
{
        usage *u = data;
        u->bytes += stx->stx_blocks * 512;
        u->inodes++;
        return 0;
}

int fs_usage(const char *path, uint64_t *ret_bytes, uint64_t *ret_inodes)
{
        struct stat st;
        if (stat(path, &st) < 0)
                return -errno;
        usage u = { 0 };
        int r = walk(path, count_entry, &u);
        /* Other mounts are not ours to count; a tree deeper than the
         * descriptor limit is counted as far as it can be. */
        if (r < 0 && r != -EBUSY && r != -EMFILE && r != -ENFILE)
                return r;
        *ret_bytes = u.bytes;
        *ret_inodes = u.inodes;
        return 0;
}

char *fs_path_join(const char *a, const char *b)
{
        strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, a);
        while (sb.len > 1 && sb.buf[sb.len - 1] == '/')
                sb.buf[--sb.len] = '\0';
        while (*b == '/')
                b++;
        if (sb.len == 0 || sb.buf[sb.len - 1] != '/')
                strbuf_addch(&sb, '/');
        strbuf_adds(&sb, b);
        return strbuf_detach(&sb, NULL);
}
