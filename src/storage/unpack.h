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
 * on its directory. */
#pragma once

#include "util/error.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
        uint64_t max_entry_size;  /* one file's size */
        uint64_t max_total_size;  /* sum of file sizes */
        uint64_t max_entries;
        const atomic_bool *cancelled; /* optional: checked between entries */
} unpack_limits;

#define UNPACK_DEFAULT_LIMITS                                                  \
        { .max_entry_size = 16ull << 30, .max_total_size = 64ull << 30,        \
          .max_entries = 1u << 22 }

typedef struct {
        char *diff_id;       /* "sha256:<hex>" of the uncompressed tar stream */
        uint64_t size;       /* bytes of file content written */
        uint64_t entries;
} unpack_result;

/* Read the layer from blob_fd (from its current offset) and extract into
 * the directory dir_fd. INVALID for a malformed archive or an entry that
 * breaks the rules (with the entry's name), RESOURCE when a limit is hit,
 * CANCELLED when cancelled. On failure the directory holds a partial
 * extraction: the caller removes it. */
int layer_unpack(int blob_fd, int dir_fd, const unpack_limits *limits, unpack_result *ret,
                 ocid_error *err);
void unpack_result_release(unpack_result *r);
