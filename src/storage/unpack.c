/* Layer unpacking. One pass over the blob: the decompressor (zlib or zstd,
 * chosen by magic bytes) feeds every uncompressed byte to SHA-256 and then
 * to libarchive's tar reader, which sees a plain tar stream through its
 * read callback. Entries are created by hand, never with
 * archive_write_disk: that works relative to the process cwd, which a
 * threaded daemon cannot chdir, and follows symlinks it has just extracted.
 *
 * Path rules. An entry name is cleaned lexically ("//", "." dropped, ".."
 * pops, clamped at the top), so absolute names and leading ".." land inside
 * the layer. The parent directory is opened with openat2(RESOLVE_IN_ROOT)
 * (or the same walk done in userspace where openat2 is missing): symlinks
 * met on the way (from earlier entries) resolve as if the layer were "/",
 * so they can never leave it. The last component is created with
 * *at() calls relative to that parent and is never followed (O_NOFOLLOW,
 * O_EXCL, AT_SYMLINK_NOFOLLOW); whatever was there before is removed
 * first, so a later entry never writes through an earlier symlink or hard
 * link.
 *
 * The layer directory is private to this call while it runs: nothing else
 * renames or replaces entries in it, so (parent fd, name) pairs stay what
 * they were when checked. */
#include "storage/unpack.h"

#include "util/cleanup.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define IO_BUFSIZE (128u * 1024u)
/* Per-entry allowance of tar overhead in the uncompressed-stream bound:
 * a header block, a pax header block and its data, padding. */
#define STREAM_OVERHEAD_PER_ENTRY 1536u
#define STREAM_OVERHEAD_FIXED (1u << 20)
#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define OVERLAY_OPAQUE_XATTR "trusted.overlay.opaque"

typedef enum { COMP_NONE, COMP_GZIP, COMP_ZSTD } compression;

/* The uncompressed tar stream, produced block by block and hashed as it
 * goes, so the digest covers exactly the bytes the tar reader sees plus
 * whatever follows the end-of-archive (drained at the end). */
typedef struct {
        int fd;
        compression comp;
        uint8_t *in;
        size_t in_len, in_pos;
        bool in_eof;
        uint8_t *out;
        z_stream z;
        bool z_ready, z_member_end;
        ZSTD_DCtx *zd;
        size_t zstd_last; /* last ZSTD_decompressStream result: 0 at a frame end */
        struct sha256_ctx md;
        uint64_t bytes;
        uint64_t max_bytes;
        const atomic_bool *cancelled;
        ocid_error *err;
        bool failed; /* err was set by the source, not by the tar reader */
} source;

typedef struct {
        char *path; /* cleaned, "" for the layer root */
        struct timespec times[2];
} dir_times;

typedef struct {
        int root_fd;
        const unpack_limits *limits;
        ocid_error *err;
        source src;
        struct archive *ar;
        uint64_t entries, size;
        strbuf name; /* printable name of the current entry, for messages */
        /* The parent directory of the previous entry, reused while entries
         * stay in one directory. Forgotten whenever anything is removed:
         * a removal can change what a path resolves to. */
        char *cached_parent;
        int cached_fd;
        /* Directories whose times wait until their subtree is complete:
         * creating children changes a directory's mtime. A stack of the
         * current entry's ancestors, so memory stays bounded by path depth;
         * archives written by a directory walk (all of them in practice)
         * never add to a directory after leaving it. */
        dir_times *dirs;
        size_t n_dirs, cap_dirs;
        bool no_openat2; /* the kernel or a sandbox refused it: resolve in userspace */
} unpacker;

/* ---- errors ---- */

static ocid_error_kind errno_kind(int e)
{
        switch (e) {
        case ENOSPC:
        case EDQUOT:
        case EMFILE:
        case ENFILE:
        case ENOMEM:
                return OCID_ERR_RESOURCE;
        case ENOTDIR:
        case EISDIR:
        case ELOOP:
        case ENAMETOOLONG:
        case EINVAL:
        case EMLINK:
        case E2BIG:
        case ERANGE:
        case EEXIST:
        case ENOENT:
        case EXDEV:
                return OCID_ERR_INVALID;
        default:
                return OCID_ERR_INTERNAL;
        }
}

/* Entry names go into messages quoted and escaped: they are outside data. */
static void set_printable_name(strbuf *sb, const char *name)
{
        strbuf_reset(sb);
        size_t n = 0;
        for (const unsigned char *p = (const unsigned char *)name; *p; p++, n++) {
                if (n >= 256) {
                        strbuf_adds(sb, "...");
                        break;
                }
                if (*p < 0x20 || *p >= 0x7f || *p == '\'' || *p == '\\')
                        strbuf_addf(sb, "\\x%02x", *p);
                else
                        strbuf_addch(sb, (char)*p);
        }
}

__attribute__((format(printf, 3, 4))) static int entry_error(unpacker *u, ocid_error_kind kind,
                                                             const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        return ocid_error_set(u->err, kind, "layer entry '%s': %s", u->name.buf,
                              msg ? msg : "out of memory");
}

__attribute__((format(printf, 3, 4))) static int entry_errno(unpacker *u, int e, const char *fmt,
                                                             ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        return ocid_error_set(u->err, errno_kind(e), "layer entry '%s': %s: %s", u->name.buf,
                              msg ? msg : "out of memory", strerror(e));
}

/* A failure reported by libarchive: the source's own error if the read
 * callback failed, else a malformed archive. */
static int archive_failure(unpacker *u, const char *what)
{
        if (u->src.failed)
                return -1;
        const char *msg = archive_error_string(u->ar);
        if (u->name.len)
                return entry_error(u, OCID_ERR_INVALID, "%s: %s", what,
                                   msg ? msg : "malformed tar");
        return ocid_error_set(u->err, OCID_ERR_INVALID, "layer: %s: %s", what,
                              msg ? msg : "malformed tar");
}

/* ---- the uncompressed stream ---- */

static int source_fill(source *s)
{
        s->in_pos = 0;
        s->in_len = 0;
        for (;;) {
                ssize_t n = read(s->fd, s->in, IO_BUFSIZE);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        s->failed = true;
                        return ocid_error_set_errno(s->err, OCID_ERR_INTERNAL, errno,
                                                    "layer: read blob");
                }
                if (n == 0)
                        s->in_eof = true;
                s->in_len = (size_t)n;
                return 0;
        }
}

__attribute__((format(printf, 3, 4))) static int source_fail(source *s, ocid_error_kind kind,
                                                             const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        s->failed = true;
        return ocid_error_set(s->err, kind, "layer: %s", msg ? msg : "out of memory");
}

static ssize_t gzip_read(source *s)
{
        for (;;) {
                if (s->z_member_end) {
                        /* Concatenated members are one stream (RFC 1952);
                         * anything else after a member is corruption. */
                        if (s->in_pos == s->in_len && !s->in_eof && source_fill(s) < 0)
                                return -1;
                        if (s->in_pos == s->in_len)
                                return 0;
                        if (inflateReset(&s->z) != Z_OK)
                                return source_fail(s, OCID_ERR_INTERNAL, "gzip: reset failed");
                        s->z_member_end = false;
                }
                if (s->in_pos == s->in_len && !s->in_eof && source_fill(s) < 0)
                        return -1;
                s->z.next_in = s->in + s->in_pos;
                s->z.avail_in = (uInt)(s->in_len - s->in_pos);
                s->z.next_out = s->out;
                s->z.avail_out = IO_BUFSIZE;
                int r = inflate(&s->z, Z_NO_FLUSH);
                s->in_pos = s->in_len - s->z.avail_in;
                size_t produced = IO_BUFSIZE - s->z.avail_out;
                if (r == Z_STREAM_END) {
                        s->z_member_end = true;
                } else if (r == Z_MEM_ERROR) {
                        return source_fail(s, OCID_ERR_RESOURCE, "gzip: out of memory");
                } else if (r != Z_OK && r != Z_BUF_ERROR) {
                        return source_fail(s, OCID_ERR_INVALID, "gzip: %s",
                                           s->z.msg ? s->z.msg : "corrupt data");
                }
                if (produced > 0)
                        return (ssize_t)produced;
                if (!s->z_member_end && s->in_pos == s->in_len && s->in_eof)
                        return source_fail(s, OCID_ERR_INVALID, "gzip: unexpected end of data");
        }
}

static ssize_t zstd_read(source *s)
{
        for (;;) {
                if (s->in_pos == s->in_len && !s->in_eof && source_fill(s) < 0)
                        return -1;
                /* The end: input consumed after a frame fully decoded and
                 * flushed. (A further call would report a new frame's
                 * header as missing.) */
                if (s->in_pos == s->in_len && s->in_eof && s->zstd_last == 0)
                        return 0;
                ZSTD_inBuffer ib = { s->in + s->in_pos, s->in_len - s->in_pos, 0 };
                ZSTD_outBuffer ob = { s->out, IO_BUFSIZE, 0 };
                size_t r = ZSTD_decompressStream(s->zd, &ob, &ib);
                if (ZSTD_isError(r)) {
                        /* A frame asking for a window over the decoder's
                         * default bound (2^27) is a bound, not corruption. */
                        ZSTD_ErrorCode code = ZSTD_getErrorCode(r);
                        bool bound = code == ZSTD_error_memory_allocation ||
                                     code == ZSTD_error_frameParameter_windowTooLarge;
                        return source_fail(s, bound ? OCID_ERR_RESOURCE : OCID_ERR_INVALID,
                                           "zstd: %s", ZSTD_getErrorName(r));
                }
                s->in_pos += ib.pos;
                s->zstd_last = r;
                if (ob.pos > 0)
                        return (ssize_t)ob.pos;
                if (s->in_pos == s->in_len && s->in_eof && r != 0)
                        return source_fail(s, OCID_ERR_INVALID, "zstd: unexpected end of data");
        }
}

/* Next block of the uncompressed stream: its length, 0 at the end, -1 on
 * failure (err set). The block stays valid until the next call. */
static ssize_t source_read(source *s, const void **ret)
{
        if (s->cancelled && atomic_load_explicit(s->cancelled, memory_order_relaxed))
                return source_fail(s, OCID_ERR_CANCELLED, "unpack cancelled");
        ssize_t n;
        switch (s->comp) {
        case COMP_GZIP:
                n = gzip_read(s);
                *ret = s->out;
                break;
        case COMP_ZSTD:
                n = zstd_read(s);
                *ret = s->out;
                break;
        default:
                if (s->in_pos == s->in_len && !s->in_eof && source_fill(s) < 0)
                        return -1;
                n = (ssize_t)(s->in_len - s->in_pos);
                *ret = s->in + s->in_pos;
                s->in_pos = s->in_len;
                break;
        }
        if (n <= 0)
                return n;
        if ((uint64_t)n > s->max_bytes - s->bytes)
                return source_fail(s, OCID_ERR_RESOURCE,
                                   "uncompressed stream larger than %llu bytes",
                                   (unsigned long long)s->max_bytes);
        s->bytes += (uint64_t)n;
        sha256_update(&s->md, (size_t)n, *ret);
        return n;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
        return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

static int source_open(source *s, int fd, const unpack_limits *limits, ocid_error *err)
{
        s->fd = fd;
        s->err = err;
        s->cancelled = limits->cancelled;
        s->max_bytes = sat_add(sat_add(limits->max_total_size,
                                       sat_mul(limits->max_entries, STREAM_OVERHEAD_PER_ENTRY)),
                               STREAM_OVERHEAD_FIXED);
        s->in = malloc(IO_BUFSIZE);
        s->out = malloc(IO_BUFSIZE);
        sha256_init(&s->md);
        if (!s->in || !s->out)
                return ocid_error_set(err, OCID_ERR_RESOURCE, "layer: out of memory");

        /* Peek at the magic: read until 4 bytes or the end. */
        s->in_len = 0;
        while (s->in_len < 4 && !s->in_eof) {
                ssize_t n = read(fd, s->in + s->in_len, IO_BUFSIZE - s->in_len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno,
                                                    "layer: read blob");
                }
                if (n == 0)
                        s->in_eof = true;
                s->in_len += (size_t)n;
        }
        const uint8_t *m = s->in;
        if (s->in_len >= 2 && m[0] == 0x1f && m[1] == 0x8b)
                s->comp = COMP_GZIP;
        else if (s->in_len >= 4 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd && m[0] == 0x28)
                s->comp = COMP_ZSTD;
        else if (s->in_len >= 4 && (m[0] & 0xf0) == 0x50 && m[1] == 0x2a && m[2] == 0x4d &&
                 m[3] == 0x18)
                s->comp = COMP_ZSTD; /* a zstd skippable frame first */
        else
                s->comp = COMP_NONE;

        if (s->comp == COMP_GZIP) {
                /* 16 + 15: gzip wrapper only, full window. */
                if (inflateInit2(&s->z, 16 + 15) != Z_OK)
                        return ocid_error_set(err, OCID_ERR_RESOURCE, "layer: gzip init failed");
                s->z_ready = true;
        } else if (s->comp == COMP_ZSTD) {
                s->zd = ZSTD_createDCtx();
                if (!s->zd)
                        return ocid_error_set(err, OCID_ERR_RESOURCE, "layer: zstd init failed");
                s->zstd_last = 1; /* inside a frame until one is complete */
        }
        return 0;
}

static void source_close(source *s)
{
        if (s->z_ready)
                inflateEnd(&s->z);
        ZSTD_freeDCtx(s->zd);
        free(s->in);
        free(s->out);
}

static la_ssize_t tar_read_cb(struct archive *a, void *data, const void **buf)
{
        unpacker *u = data;
        ssize_t n = source_read(&u->src, buf);
        if (n < 0) {
                archive_set_error(a, EIO, "%s", u->err->message ? u->err->message : "read failed");
                return -1;
        }
        return n;
}

/* ---- paths ---- */

/* Clean a name lexically into "a/b/c": no empty, "." or ".." components,
 * "" for the layer root. ".." at the top stays at the top, like "/.." on a
 * real root. */
static void path_clean(const char *name, strbuf *out)
{
        strbuf_reset(out);
        const char *p = name;
        while (*p) {
                while (*p == '/')
                        p++;
                const char *start = p;
                while (*p && *p != '/')
                        p++;
                size_t len = (size_t)(p - start);
                if (len == 0 || (len == 1 && start[0] == '.'))
                        continue;
                if (len == 2 && start[0] == '.' && start[1] == '.') {
                        char *slash = strrchr(out->buf, '/');
                        out->len = slash ? (size_t)(slash - out->buf) : 0;
                        if (out->alloc)
                                out->buf[out->len] = '\0';
                        continue;
                }
                if (out->len)
                        strbuf_addch(out, '/');
                strbuf_add(out, start, len);
        }
}

/* The same lookup in userspace, for kernels without openat2 (before 5.6)
 * and sandboxes that filter it (old seccomp profiles, valgrind). Sound only
 * because nothing else changes the layer while it is unpacked: every
 * component is opened with O_NOFOLLOW, symlinks are read and expanded
 * here, an absolute target restarts at the root, ".." never goes above
 * it, and a different st_dev (a mount) is refused. flags: O_DIRECTORY is
 * implied; O_NOFOLLOW applies to the last component, as with openat2. */
static int open_in_root_slow(int root, const char *path, int flags)
{
        _cleanup_strbuf_ strbuf todo = STRBUF_INIT; /* what is left to walk */
        _cleanup_strbuf_ strbuf walked = STRBUF_INIT; /* real directories, from root */
        _cleanup_close_ int cur = fcntl(root, F_DUPFD_CLOEXEC, 0);
        struct stat root_st;
        if (cur < 0 || fstat(root, &root_st) < 0)
                return -errno;
        strbuf_adds(&todo, path);
        int links = 0;
        for (;;) {
                char *p = todo.buf;
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                char *end = strchrnul(p, '/');
                _cleanup_free_ char *comp = strndup(p, (size_t)(end - p));
                if (!comp)
                        return -ENOMEM;
                const char *rest = end;
                while (*rest == '/')
                        rest++;
                bool last = !*rest;
                memmove(todo.buf, rest, strlen(rest) + 1);
                todo.len = strlen(todo.buf);

                if (STREQ(comp, "."))
                        continue;
                if (STREQ(comp, "..")) {
                        char *slash = strrchr(walked.buf, '/');
                        walked.len = slash ? (size_t)(slash - walked.buf) : 0;
                        if (walked.alloc)
                                walked.buf[walked.len] = '\0';
                        int up = openat(root, walked.len ? walked.buf : ".",
                                        O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (up < 0)
                                return -errno;
                        closep(&cur);
                        cur = up;
                        continue;
                }
                struct stat st;
                if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                if (S_ISLNK(st.st_mode)) {
                        if (last && (flags & O_NOFOLLOW))
                                return -ELOOP;
                        if (++links > 40)
                                return -ELOOP;
                        char target[PATH_MAX + 1];
                        ssize_t n = readlinkat(cur, comp, target, PATH_MAX);
                        if (n < 0)
                                return -errno;
                        if (n == 0)
                                return -ENOENT;
                        if (n == PATH_MAX)
                                return -ENAMETOOLONG;
                        target[n] = '\0';
                        if (target[0] == '/') {
                                int top = fcntl(root, F_DUPFD_CLOEXEC, 0);
                                if (top < 0)
                                        return -errno;
                                closep(&cur);
                                cur = top;
                                strbuf_reset(&walked);
                        }
                        _cleanup_strbuf_ strbuf next = STRBUF_INIT;
                        strbuf_adds(&next, target);
                        strbuf_addch(&next, '/');
                        strbuf_add(&next, todo.buf, todo.len);
                        strbuf_reset(&todo);
                        strbuf_add(&todo, next.buf, next.len);
                        continue;
                }
                if (!S_ISDIR(st.st_mode))
                        return -ENOTDIR;
                if (st.st_dev != root_st.st_dev)
                        return -EXDEV;
                int fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                closep(&cur);
                cur = fd;
                if (walked.len)
                        strbuf_addch(&walked, '/');
                strbuf_adds(&walked, comp);
        }
        /* The walk ends on an O_PATH fd (or the root): reopen it as asked. */
        int fd = openat(cur, ".", (flags & ~O_NOFOLLOW) | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* openat2 inside the layer: symlinks and ".." resolve as if root were
 * "/"; magic links (/proc) and mount crossings are refused. Only
 * directories are looked up this way. */
static int open_in_root(unpacker *u, const char *path, int flags)
{
        if (u->no_openat2)
                return open_in_root_slow(u->root_fd, path, flags);
        struct open_how how = {
                .flags = (uint64_t)(flags | O_DIRECTORY | O_CLOEXEC),
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        for (int tries = 0;; tries++) {
                long fd = syscall(SYS_openat2, u->root_fd, path, &how, sizeof(how));
                if (fd >= 0)
                        return (int)fd;
                if (errno == ENOSYS || errno == EPERM) {
                        u->no_openat2 = true;
                        return open_in_root_slow(u->root_fd, path, flags);
                }
                /* EAGAIN: a concurrent rename raced a ".." walk; retry. */
                if ((errno != EAGAIN && errno != EINTR) || tries >= 32)
                        return -errno;
        }
}

static void forget_parent(unpacker *u)
{
        free(u->cached_parent);
        u->cached_parent = NULL;
        /* The fd stays open until replaced: the current entry may still
         * be using it. */
}

/* Walk parent one component at a time, creating missing directories
 * (0755, root-owned). A component that is a symlink is resolved from the
 * layer root with openat2, like any other lookup. */
static int make_parents(unpacker *u, const char *parent)
{
        _cleanup_close_ int cur = -1;
        const char *p = parent;
        while (*p) {
                const char *end = strchrnul(p, '/');
                size_t len = (size_t)(end - p);
                _cleanup_free_ char *comp = strndup(p, len);
                _cleanup_free_ char *prefix = strndup(parent, (size_t)(end - parent));
                if (!comp || !prefix)
                        return ocid_error_set(u->err, OCID_ERR_RESOURCE, "out of memory");
                int dfd = cur >= 0 ? cur : u->root_fd;
                struct stat st;
                int next;
                if (fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT)
                                return entry_errno(u, errno, "parent '%s'", prefix);
                        if (mkdirat(dfd, comp, 0755) < 0)
                                return entry_errno(u, errno, "create parent '%s'", prefix);
                        next = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (next < 0)
                                return entry_errno(u, errno, "open parent '%s'", prefix);
                } else if (S_ISDIR(st.st_mode)) {
                        next = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (next < 0)
                                return entry_errno(u, errno, "open parent '%s'", prefix);
                } else if (S_ISLNK(st.st_mode)) {
                        next = open_in_root(u, prefix, O_RDONLY | O_DIRECTORY);
                        if (next == -ENOENT)
                                return entry_error(
                                        u, OCID_ERR_INVALID,
                                        "parent '%s' is a symlink to a missing directory", prefix);
                        if (next < 0)
                                return entry_errno(u, -next, "open parent '%s'", prefix);
                } else {
                        return entry_error(u, OCID_ERR_INVALID, "parent '%s' is not a directory",
                                           prefix);
                }
                closep(&cur);
                cur = next;
                p = *end ? end + 1 : end;
        }
        return TAKE_FD(cur);
}

/* The directory `parent` (cleaned, "" for the root), created if missing.
 * The fd is borrowed: valid until the next call. */
static int open_parent(unpacker *u, const char *parent)
{
        if (!*parent)
                return u->root_fd;
        if (u->cached_parent && STREQ(u->cached_parent, parent))
                return u->cached_fd;
        int fd = open_in_root(u, parent, O_RDONLY | O_DIRECTORY);
        if (fd == -ENOENT) {
                fd = make_parents(u, parent);
                if (fd < 0)
                        return -1;
        } else if (fd < 0) {
                if (fd == -ENOTDIR)
                        return entry_error(u, OCID_ERR_INVALID, "a parent is not a directory");
                return entry_errno(u, -fd, "open parent");
        }
        char *key = strdup(parent);
        if (!key) {
                close(fd);
                return ocid_error_set(u->err, OCID_ERR_RESOURCE, "out of memory");
        }
        forget_parent(u);
        closep(&u->cached_fd);
        u->cached_fd = fd;
        u->cached_parent = key;
        return fd;
}

/* Make room for a new `name` in pfd: a later entry replaces an earlier
 * one. With keep_dir an existing directory stays (and *ret_is_dir says so);
 * otherwise directories go with their contents. */
static int remove_existing(unpacker *u, int pfd, const char *name, bool keep_dir, bool *ret_is_dir)
{
        struct stat st;
        if (ret_is_dir)
                *ret_is_dir = false;
        if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return entry_errno(u, errno, "stat existing");
        }
        if (S_ISDIR(st.st_mode)) {
                if (keep_dir) {
                        if (ret_is_dir)
                                *ret_is_dir = true;
                        return 0;
                }
                forget_parent(u);
                int r = fs_remove_tree_at(pfd, name);
                if (r < 0)
                        return entry_errno(u, -r, "remove existing directory");
                return 0;
        }
        forget_parent(u);
        if (unlinkat(pfd, name, 0) < 0 && errno != ENOENT)
                return entry_errno(u, errno, "remove existing");
        return 0;
}

/* ---- metadata ---- */

typedef struct {
        uid_t uid;
        gid_t gid;
        mode_t mode; /* permission bits with setuid, setgid, sticky */
        struct timespec times[2];
        bool has_times;
} entry_meta;

static int entry_meta_get(unpacker *u, struct archive_entry *e, entry_meta *m)
{
        la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
        /* (uid_t)-1 means "leave unchanged" to chown: not an owner. */
        if (uid < 0 || uid >= (la_int64_t)UINT32_MAX || gid < 0 || gid >= (la_int64_t)UINT32_MAX)
                return entry_error(u, OCID_ERR_INVALID, "owner %lld:%lld out of range",
                                   (long long)uid, (long long)gid);
        m->uid = (uid_t)uid;
        m->gid = (gid_t)gid;
        m->mode = archive_entry_perm(e) & 07777;

        struct timespec *t = m->times;
        if (archive_entry_mtime_is_set(e)) {
                t[1].tv_sec = archive_entry_mtime(e);
                long ns = archive_entry_mtime_nsec(e);
                t[1].tv_nsec = ns >= 0 && ns < 1000000000 ? ns : 0;
        } else {
                t[1].tv_sec = 0;
                t[1].tv_nsec = UTIME_OMIT;
        }
        if (archive_entry_atime_is_set(e)) {
                t[0].tv_sec = archive_entry_atime(e);
                long ns = archive_entry_atime_nsec(e);
                t[0].tv_nsec = ns >= 0 && ns < 1000000000 ? ns : 0;
        } else {
                t[0] = t[1];
        }
        m->has_times = t[1].tv_nsec != UTIME_OMIT || t[0].tv_nsec != UTIME_OMIT;
        return 0;
}

static bool has_prefix(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* xattrs that would let a layer forge overlay state (whiteouts, opaque
 * directories, redirects, metacopy) in whatever namespace overlay reads
 * them from: refused. */
static bool xattr_forbidden(const char *name)
{
        return has_prefix(name, "trusted.overlay.") || has_prefix(name, "user.overlay.");
}

/* Which archived xattrs are applied; the rest are dropped. security.* is
 * host policy (SELinux labels, IMA) except file capabilities, which are
 * part of the image. */
static bool xattr_wanted(const char *name)
{
        return has_prefix(name, "user.") || has_prefix(name, "trusted.") ||
               STREQ(name, "security.capability") || STREQ(name, "system.posix_acl_access") ||
               STREQ(name, "system.posix_acl_default");
}

static int xattrs_check(unpacker *u, struct archive_entry *e)
{
        const char *name;
        const void *value;
        size_t size;
        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
                if (!name || !*name)
                        return entry_error(u, OCID_ERR_INVALID, "xattr without a name");
                if (xattr_forbidden(name))
                        return entry_error(u, OCID_ERR_INVALID,
                                           "xattr '%s' is not allowed in a layer", name);
        }
        return 0;
}

/* Apply xattrs through fd when there is one (regular files, directories),
 * else by path "/proc/self/fd/<pfd>/<name>" with lsetxattr, which does not
 * follow the last component (symlinks, devices, FIFOs). */
static int xattrs_apply(unpacker *u, struct archive_entry *e, int fd, int pfd, const char *base,
                        bool user_allowed)
{
        _cleanup_free_ char *path = NULL;
        const char *name;
        const void *value;
        size_t size;
        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
                if (!xattr_wanted(name))
                        continue;
                /* The kernel refuses user.* on anything but files and
                 * directories; such an attribute cannot exist. */
                if (!user_allowed && has_prefix(name, "user."))
                        continue;
                int r;
                if (fd >= 0) {
                        r = fsetxattr(fd, name, value, size, 0);
                } else {
                        if (!path && asprintf(&path, "/proc/self/fd/%d/%s", pfd, base) < 0) {
                                path = NULL;
                                return ocid_error_set(u->err, OCID_ERR_RESOURCE, "out of memory");
                        }
                        r = lsetxattr(path, name, value, size, 0);
                }
                /* A filesystem without xattr support keeps the layer
                 * usable, as other runtimes do. */
                if (r < 0 && errno != ENOTSUP)
                        return entry_errno(u, errno, "set xattr '%s'", name);
        }
        return 0;
}

/* Ownership, then mode (chown clears setuid/setgid), then xattrs (chown
 * also drops security.capability), then times. */
static int meta_apply_fd(unpacker *u, struct archive_entry *e, const entry_meta *m, int fd,
                         bool times)
{
        if (fchown(fd, m->uid, m->gid) < 0)
                return entry_errno(u, errno, "chown");
        if (fchmod(fd, m->mode) < 0)
                return entry_errno(u, errno, "chmod");
        if (xattrs_apply(u, e, fd, -1, NULL, true) < 0)
                return -1;
        if (times && m->has_times && futimens(fd, m->times) < 0)
                return entry_errno(u, errno, "set times");
        return 0;
}

/* The same for a node that cannot be opened for writing (symlink, device,
 * FIFO), addressed as (pfd, base) without following it. */
static int meta_apply_at(unpacker *u, struct archive_entry *e, const entry_meta *m, int pfd,
                         const char *base, bool is_symlink)
{
        if (fchownat(pfd, base, m->uid, m->gid, AT_SYMLINK_NOFOLLOW) < 0)
                return entry_errno(u, errno, "chown");
        /* A symlink has no mode of its own on Linux. */
        if (!is_symlink && fchmodat(pfd, base, m->mode, AT_SYMLINK_NOFOLLOW) < 0)
                return entry_errno(u, errno, "chmod");
        if (xattrs_apply(u, e, -1, pfd, base, false) < 0)
                return -1;
        if (m->has_times && utimensat(pfd, base, m->times, AT_SYMLINK_NOFOLLOW) < 0)
                return entry_errno(u, errno, "set times");
        return 0;
}

/* ---- directory times ---- */

static bool path_within(const char *dir, const char *path)
{
        size_t n = strlen(dir);
        if (n == 0)
                return true;
        return strncmp(dir, path, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static void dir_times_apply(unpacker *u, dir_times *d)
{
        /* Best effort: a later entry may have replaced the directory;
         * O_NOFOLLOW and O_DIRECTORY make sure only a directory inside the
         * layer is touched. */
        if (!*d->path) {
                (void)futimens(u->root_fd, d->times);
        } else {
                int fd = open_in_root(u, d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                if (fd >= 0) {
                        (void)futimens(fd, d->times);
                        close(fd);
                }
        }
        free(d->path);
        d->path = NULL;
}

/* Apply the times of directories the entry `path` is not inside of. */
static void dir_times_leave(unpacker *u, const char *path)
{
        while (u->n_dirs > 0 && !path_within(u->dirs[u->n_dirs - 1].path, path))
                dir_times_apply(u, &u->dirs[--u->n_dirs]);
}

static void dir_times_push(unpacker *u, const char *path, const struct timespec times[2])
{
        if (u->n_dirs > 0 && STREQ(u->dirs[u->n_dirs - 1].path, path)) {
                memcpy(u->dirs[u->n_dirs - 1].times, times, sizeof(u->dirs[0].times));
                return;
        }
        if (u->n_dirs == u->cap_dirs) {
                size_t cap = u->cap_dirs ? u->cap_dirs * 2 : 16;
                dir_times *n = realloc(u->dirs, cap * sizeof(*n));
                if (!n)
                        abort();
                u->dirs = n;
                u->cap_dirs = cap;
        }
        char *p = strdup(path);
        if (!p)
                abort();
        u->dirs[u->n_dirs].path = p;
        memcpy(u->dirs[u->n_dirs].times, times, sizeof(u->dirs[0].times));
        u->n_dirs++;
}

/* ---- entries ---- */

static int write_all_at(int fd, const void *buf, size_t len, off_t off)
{
        const char *p = buf;
        while (len > 0) {
                ssize_t n = pwrite(fd, p, len, off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
                off += n;
        }
        return 0;
}

static int extract_regular(unpacker *u, struct archive_entry *e, const entry_meta *m, int pfd,
                           const char *base)
{
        la_int64_t size = archive_entry_size(e);
        if (size < 0)
                return entry_error(u, OCID_ERR_INVALID, "negative size");
        if ((uint64_t)size > u->limits->max_entry_size)
                return entry_error(u, OCID_ERR_RESOURCE,
                                   "size %lld exceeds the limit of %llu bytes", (long long)size,
                                   (unsigned long long)u->limits->max_entry_size);
        if ((uint64_t)size > u->limits->max_total_size - u->size)
                return entry_error(u, OCID_ERR_RESOURCE,
                                   "layer content exceeds the limit of %llu bytes",
                                   (unsigned long long)u->limits->max_total_size);
        if (remove_existing(u, pfd, base, false, NULL) < 0)
                return -1;
        _cleanup_close_ int fd =
                openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return entry_errno(u, errno, "create file");

        la_int64_t end = 0;
        for (;;) {
                const void *buf;
                size_t len;
                la_int64_t off;
                int r = archive_read_data_block(u->ar, &buf, &len, &off);
                if (r == ARCHIVE_EOF)
                        break;
                if (r != ARCHIVE_OK)
                        return archive_failure(u, "read data");
                if (off < 0 || off > size || len > (uint64_t)(size - off))
                        return entry_error(u, OCID_ERR_INVALID, "data beyond the entry's size");
                int q = write_all_at(fd, buf, len, (off_t)off);
                if (q < 0)
                        return entry_errno(u, -q, "write");
                if (off + (la_int64_t)len > end)
                        end = off + (la_int64_t)len;
        }
        /* Sparse files end in a hole. */
        if (end < size && ftruncate(fd, (off_t)size) < 0)
                return entry_errno(u, errno, "truncate");
        u->size += (uint64_t)size;
        return meta_apply_fd(u, e, m, fd, true);
}

static int extract_directory(unpacker *u, struct archive_entry *e, const entry_meta *m, int pfd,
                             const char *base, const char *path)
{
        _cleanup_close_ int fd = -1;
        if (!base) {
                fd = fcntl(u->root_fd, F_DUPFD_CLOEXEC, 0);
                if (fd < 0)
                        return entry_errno(u, errno, "open layer root");
        } else {
                bool is_dir;
                if (remove_existing(u, pfd, base, true, &is_dir) < 0)
                        return -1;
                if (!is_dir && mkdirat(pfd, base, 0700) < 0)
                        return entry_errno(u, errno, "create directory");
                fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return entry_errno(u, errno, "open directory");
        }
        if (meta_apply_fd(u, e, m, fd, false) < 0)
                return -1;
        if (m->has_times)
                dir_times_push(u, path, m->times);
        return 0;
}

static int extract_symlink(unpacker *u, struct archive_entry *e, const entry_meta *m, int pfd,
                           const char *base)
{
        /* Stored verbatim: a target only matters when followed, and every
         * lookup here follows it inside the layer. */
        const char *target = archive_entry_symlink(e);
        if (!target || !*target)
                return entry_error(u, OCID_ERR_INVALID, "symlink without a target");
        if (strlen(target) >= PATH_MAX)
                return entry_error(u, OCID_ERR_INVALID, "symlink target longer than %d bytes",
                                   PATH_MAX - 1);
        if (remove_existing(u, pfd, base, false, NULL) < 0)
                return -1;
        if (symlinkat(target, pfd, base) < 0)
                return entry_errno(u, errno, "create symlink");
        return meta_apply_at(u, e, m, pfd, base, true);
}

static int extract_hardlink(unpacker *u, const char *target, int pfd, const char *base,
                            const char *path)
{
        if (!*target)
                return entry_error(u, OCID_ERR_INVALID, "hard link without a target");
        if (strlen(target) >= PATH_MAX)
                return entry_error(u, OCID_ERR_INVALID, "hard link target longer than %d bytes",
                                   PATH_MAX - 1);
        _cleanup_strbuf_ strbuf t = STRBUF_INIT;
        path_clean(target, &t);
        if (t.len == 0)
                return entry_error(u, OCID_ERR_INVALID, "hard link to the layer root");
        if (STREQ(t.buf, path)) {
                /* A link to itself: fine if it exists, and nothing to do. */
                struct stat st;
                if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode))
                        return entry_error(u, OCID_ERR_INVALID, "hard link to itself");
                return 0;
        }
        char *slash = strrchr(t.buf, '/');
        const char *tbase = slash ? slash + 1 : t.buf;
        _cleanup_close_ int tfd = -1;
        if (slash) {
                *slash = '\0';
                tfd = open_in_root(u, t.buf, O_RDONLY | O_DIRECTORY);
                *slash = '/';
                if (tfd < 0)
                        return entry_error(u, OCID_ERR_INVALID,
                                           "hard link target not found in the layer");
        }
        int tdir = tfd >= 0 ? tfd : u->root_fd;
        struct stat st;
        if (fstatat(tdir, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return entry_error(u, OCID_ERR_INVALID, "hard link target not found in the layer");
        if (S_ISDIR(st.st_mode))
                return entry_error(u, OCID_ERR_INVALID, "hard link to a directory");
        /* Through symlinked parents the entry's own name can be the target
         * under another spelling: then there is nothing to do, and removing
         * it first would lose the target. */
        struct stat existing;
        if (fstatat(pfd, base, &existing, AT_SYMLINK_NOFOLLOW) == 0 &&
            existing.st_ino == st.st_ino && existing.st_dev == st.st_dev)
                return 0; /* already that inode */
        if (remove_existing(u, pfd, base, false, NULL) < 0)
                return -1;
        /* flags 0: a symlink target is linked itself, never followed. */
        if (linkat(tdir, tbase, pfd, base, 0) < 0) {
                if (errno == ENOENT)
                        return entry_error(u, OCID_ERR_INVALID,
                                           "hard link target not found in the layer");
                return entry_errno(u, errno, "create hard link");
        }
        return 0;
}

static int extract_node(unpacker *u, struct archive_entry *e, const entry_meta *m, int pfd,
                        const char *base, mode_t type)
{
        if (remove_existing(u, pfd, base, false, NULL) < 0)
                return -1;
        dev_t dev = type == S_IFIFO
                            ? 0
                            : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
        if (mknodat(pfd, base, type | 0600, dev) < 0)
                return entry_errno(u, errno, "create %s", type == S_IFIFO ? "fifo" : "device node");
        return meta_apply_at(u, e, m, pfd, base, false);
}

static int extract_whiteout(unpacker *u, int pfd, const char *base)
{
        if (STREQ(base, WHITEOUT_OPAQUE)) {
                if (fsetxattr(pfd, OVERLAY_OPAQUE_XATTR, "y", 1, 0) < 0)
                        return entry_errno(u, errno, "mark directory opaque");
                return 0;
        }
        if (has_prefix(base, WHITEOUT_META_PREFIX))
                return 0; /* aufs bookkeeping (.wh..wh.plnk, ...): meaningless here */
        const char *name = base + strlen(WHITEOUT_PREFIX);
        if (!*name || STREQ(name, ".") || STREQ(name, ".."))
                return entry_error(u, OCID_ERR_INVALID, "whiteout of nothing");
        if (remove_existing(u, pfd, name, false, NULL) < 0)
                return -1;
        /* Overlay's whiteout: a 0/0 character device. */
        if (mknodat(pfd, name, S_IFCHR | 0, makedev(0, 0)) < 0)
                return entry_errno(u, errno, "create whiteout");
        return 0;
}

static int extract_entry(unpacker *u, struct archive_entry *e, strbuf *path)
{
        const char *name = archive_entry_pathname(e);
        if (!name)
                name = "";
        set_printable_name(&u->name, name);
        if (!*name)
                return entry_error(u, OCID_ERR_INVALID, "empty name");
        if (strlen(name) >= PATH_MAX)
                return entry_error(u, OCID_ERR_INVALID, "name longer than %d bytes", PATH_MAX - 1);

        path_clean(name, path);
        dir_times_leave(u, path->buf);

        const char *hardlink = archive_entry_hardlink(e);
        mode_t type = archive_entry_filetype(e);
        char *slash = strrchr(path->buf, '/');
        const char *base = path->len == 0 ? NULL : slash ? slash + 1 : path->buf;

        if (!base) {
                if (hardlink || type != AE_IFDIR)
                        return entry_error(u, OCID_ERR_INVALID, "names the layer root");
        }

        entry_meta m;
        if (entry_meta_get(u, e, &m) < 0)
                return -1;
        if (xattrs_check(u, e) < 0)
                return -1;

        int pfd = u->root_fd;
        if (slash) {
                *slash = '\0';
                pfd = open_parent(u, path->buf);
                *slash = '/';
                if (pfd < 0)
                        return -1;
        }

        if (base && has_prefix(base, WHITEOUT_PREFIX))
                return extract_whiteout(u, pfd, base);
        if (hardlink)
                return extract_hardlink(u, hardlink, pfd, base, path->buf);
        switch (type) {
        case AE_IFREG:
                return extract_regular(u, e, &m, pfd, base);
        case AE_IFDIR:
                return extract_directory(u, e, &m, pfd, base, path->buf);
        case AE_IFLNK:
                return extract_symlink(u, e, &m, pfd, base);
        case AE_IFCHR:
                return extract_node(u, e, &m, pfd, base, S_IFCHR);
        case AE_IFBLK:
                return extract_node(u, e, &m, pfd, base, S_IFBLK);
        case AE_IFIFO:
                return extract_node(u, e, &m, pfd, base, S_IFIFO);
        default:
                return entry_error(u, OCID_ERR_INVALID, "unsupported entry type 0%o",
                                   (unsigned)type);
        }
}

static bool cancelled(const unpack_limits *l)
{
        return l->cancelled && atomic_load_explicit(l->cancelled, memory_order_relaxed);
}

static int unpack_entries(unpacker *u)
{
        if (archive_read_support_format_tar(u->ar) != ARCHIVE_OK ||
            archive_read_support_format_empty(u->ar) != ARCHIVE_OK)
                return ocid_error_set(u->err, OCID_ERR_INTERNAL, "layer: libarchive setup failed");
        if (archive_read_open(u->ar, u, NULL, tar_read_cb, NULL) != ARCHIVE_OK)
                return archive_failure(u, "not a tar archive");

        _cleanup_strbuf_ strbuf path = STRBUF_INIT;
        for (;;) {
                if (cancelled(u->limits))
                        return ocid_error_set(u->err, OCID_ERR_CANCELLED,
                                              "layer: unpack cancelled");
                struct archive_entry *e;
                strbuf_reset(&u->name);
                int r = archive_read_next_header(u->ar, &e);
                if (r == ARCHIVE_EOF)
                        break;
                /* WARN: a name libarchive could not convert to the locale's
                 * charset, kept as raw bytes, which is what a layer wants. */
                if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
                        return archive_failure(u, "read header");
                if (u->entries >= u->limits->max_entries) {
                        const char *n = archive_entry_pathname(e);
                        set_printable_name(&u->name, n ? n : "");
                        return entry_error(u, OCID_ERR_RESOURCE, "more than %llu entries",
                                           (unsigned long long)u->limits->max_entries);
                }
                u->entries++;
                if (extract_entry(u, e, &path) < 0)
                        return -1;
        }
        if (u->src.failed)
                return -1;
        while (u->n_dirs > 0)
                dir_times_apply(u, &u->dirs[--u->n_dirs]);

        /* The digest covers the whole stream, zero padding after the
         * end-of-archive blocks included. */
        for (;;) {
                const void *buf;
                ssize_t n = source_read(&u->src, &buf);
                if (n < 0)
                        return -1;
                if (n == 0)
                        break;
        }
        return 0;
}

int layer_unpack(int blob_fd, int dir_fd, const unpack_limits *limits, unpack_result *ret,
                 ocid_error *err)
{
        unpacker u = {
                .limits = limits,
                .err = err,
                .name = STRBUF_INIT,
                .root_fd = -1,
                .cached_fd = -1,
        };
        ocid_error local = OCID_ERROR_INIT;
        if (!err)
                u.err = err = &local;
        int r = -1;

        u.root_fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (u.root_fd < 0) {
                ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "layer: open directory");
                goto out;
        }
        if (source_open(&u.src, blob_fd, limits, err) < 0)
                goto out;
        u.ar = archive_read_new();
        if (!u.ar) {
                ocid_error_set(err, OCID_ERR_RESOURCE, "layer: out of memory");
                goto out;
        }
        if (unpack_entries(&u) < 0)
                goto out;

        uint8_t raw[SHA256_DIGEST_SIZE];
        char digest[DIGEST_SHA256_STRSIZE];
        sha256_digest(&u.src.md, sizeof(raw), raw);
        digest_sha256_format(raw, digest);
        char *id = strdup(digest);
        if (!id) {
                ocid_error_set(err, OCID_ERR_RESOURCE, "layer: out of memory");
                goto out;
        }
        *ret = (unpack_result){ .diff_id = id, .size = u.size, .entries = u.entries };
        r = 0;
out:
        /* On failure the stacked directory times are dropped unapplied:
         * the caller removes the directory anyway. */
        for (size_t i = 0; i < u.n_dirs; i++)
                free(u.dirs[i].path);
        free(u.dirs);
        if (u.ar)
                archive_read_free(u.ar);
        source_close(&u.src);
        free(u.cached_parent);
        closep(&u.cached_fd);
        closep(&u.root_fd);
        strbuf_release(&u.name);
        if (r < 0 && err->kind == OCID_OK)
                ocid_error_set(err, OCID_ERR_INTERNAL, "layer: unpack failed");
        ocid_error_clear(&local);
        return r;
}
