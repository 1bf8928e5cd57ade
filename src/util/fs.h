/* Filesystem helpers. All return 0 or -errno and never log. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read a whole file (at most max_size bytes, else -EFBIG). The result is
 * NUL-terminated; *ret_len excludes the terminator. */
int fs_read_file(const char *path, size_t max_size, char **ret, size_t *ret_len);
/* Write via a temp file in the same directory, fsync, rename: readers see
 * the old or the new content, never a torn file, even after a crash. */
int fs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* The same without the syncs: readers still never see a torn file, but a
 * power loss may lose it. For files under the run root, which a reboot
 * ends anyway. */
int fs_write_file_replace(const char *path, const void *data, size_t len, mode_t mode);
/* mkdir -p; existing directories are fine. */
int fs_mkdir_p(const char *path, mode_t mode);
/* rm -rf without crossing mount points (a mount inside gives -EBUSY); a
 * missing path is fine. Any depth: it holds two descriptors at a time. */
int fs_remove_tree(const char *path);
int fs_remove_tree_at(int dfd, const char *name);
/* Disk bytes (allocated blocks) and inodes used under path, not crossing
 * mount points; hard links counted once per directory entry. */
int fs_usage(const char *path, uint64_t *ret_bytes, uint64_t *ret_inodes);
/* Join two path pieces with exactly one slash. Aborts on allocation failure. */
char *fs_path_join(const char *a, const char *b);
