/* Unpacking one image layer: a tar stream, gzip- or zstd-compressed or
 * not (detected from the bytes), extracted into an empty directory that
 * becomes an overlay lower layer.
 *
 * This is a security boundary: every path is resolved inside the layer
 * directory (openat2 RESOLVE_IN_ROOT), so no entry, symlink or hard link
 * can create or modify anything outside it, whatever "..", absolute paths
 * or symlinks earlier in the archive say. Ownership, modes (setuid and
 * setgid included), xattrs, device nodes, FIFOs and timestamps are kept as
 * the archive says. Whiteouts become overlay whiteouts: ".wh.NAME" a 0/0
 * character device NAME, ".wh..wh..opq" the xattr trusted.overlay.opaque=y
 * on its directory.
 *
 * The rules, in detail:
 * - Names are cleaned lexically first ("//" and "." dropped, ".." pops and
 *   stops at the top), so "/etc/x" and "../../etc/x" both become
 *   <dir>/etc/x. Empty names, names of PATH_MAX bytes or more, and
 *   non-directories naming the root itself are INVALID. (A NUL inside a
 *   pax path ends the name: libarchive's API cannot show one.)
 * - Missing parents are created 0755 root:root. A parent that is a file,
 *   or a symlink to nothing, is INVALID. Symlinks on the way resolve inside
 *   <dir> (absolute targets from <dir>, ".." stops at <dir>).
 * - A later entry replaces an earlier one of the same name (a directory
 *   with its contents), except that a directory entry over a directory
 *   only updates its metadata. The last component is never followed.
 * - Hard links must name an existing non-directory of this layer (resolved
 *   like any path); a symlink target is stored verbatim.
 * - Ownership, mode (after chown, which clears setuid), then xattrs, then
 *   times. Directory times are set once their subtree is done (archives
 *   list a directory's contents right after it; a directory modified after
 *   that keeps the time of the change).
 * - xattrs applied: user.*, trusted.*, security.capability,
 *   system.posix_acl_{access,default}; other security.* (SELinux labels,
 *   IMA) are dropped; trusted.overlay.* and user.overlay.* are INVALID
 *   (they would forge whiteouts, opaque or redirect markers). A filesystem
 *   without xattr support (ENOTSUP) drops them silently.
 * - ".wh..wh..opq" marks its directory opaque; other ".wh..wh.*" (aufs
 *   bookkeeping) are ignored; ".wh." alone is INVALID.
 * - The whole uncompressed stream is hashed, zero padding after the
 *   end-of-archive blocks included. gzip members may be concatenated;
 *   zstd frames may be; anything else after the compressed data is
 *   INVALID. Blobs that are neither gzip nor zstd are read as plain tar.
 *
 * Path lookups use openat2 (Linux 5.6); where it fails with ENOSYS or
 * EPERM (older kernels, seccomp sandboxes, valgrind) the same resolution
 * is done in userspace, component by component. Needs /proc (xattrs of
 * symlinks and devices are set through /proc/self/fd/N/name) and root
 * (mknod, chown, trusted.* xattrs). */
#pragma once

#include "util/error.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* Bounds on what a layer may make this call do. The uncompressed stream
 * itself (tar headers, padding, data of skipped entries, anything after
 * the end-of-archive) is bounded too, by
 * max_total_size + 1536 * max_entries + 1 MiB, so a small blob cannot
 * expand into endless work. */
typedef struct {
        uint64_t max_entry_size;  /* one file's (apparent) size */
        uint64_t max_total_size;  /* sum of file sizes */
        uint64_t max_entries;     /* tar entries of any type, whiteouts included */
        const atomic_bool *cancelled; /* optional: checked between entries and
                                       * for every block of the stream */
} unpack_limits;

#define UNPACK_DEFAULT_LIMITS                                                  \
        { .max_entry_size = 16ull << 30, .max_total_size = 64ull << 30,        \
          .max_entries = 1u << 22 }

typedef struct {
        char *diff_id;       /* "sha256:<hex>" of the uncompressed tar stream */
        uint64_t size;       /* sum of regular files' sizes (a sparse file's
                              * apparent size; hard links not counted again) */
        uint64_t entries;
} unpack_result;

/* Read the layer from blob_fd (from its current offset, to its end) and
 * extract into the directory dir_fd (any open mode, O_PATH included),
 * which must not change under this call. *ret is set only on success; the
 * caller releases it. INVALID for a malformed archive or compression, or an
 * entry that breaks the rules (with the entry's name), RESOURCE when a
 * limit is hit (or the disk is full), CANCELLED when cancelled, INTERNAL
 * for the rest (reading the blob, permissions). On failure the directory
 * holds a partial extraction: the caller removes it. err may be NULL. */
int layer_unpack(int blob_fd, int dir_fd, const unpack_limits *limits, unpack_result *ret,
                 ocid_error *err);
/* Free the diff ID and zero *r. Accepts NULL. */
static inline void unpack_result_release(unpack_result *r)
{
        if (!r)
                return;
        free(r->diff_id);
        *r = (unpack_result){ 0 };
}
