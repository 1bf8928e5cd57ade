/* layer_unpack: archives are built here with libarchive's writer (or by
 * hand, for headers the writer refuses to produce), optionally compressed
 * with zlib or zstd, and unpacked from a memfd into <tmp>/layer. Every
 * unpack is followed by a containment check: <tmp> must hold exactly
 * "layer" and an untouched "canary", and no fd may leak. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "storage/unpack.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <zlib.h>
#include <zstd.h>

#define CANARY_TEXT "canary: must never change\n"

typedef struct {
        char *parent;
        char *layer;
        char *canary;
        int layer_fd;
        struct stat canary_st;
} fixture;

typedef struct {
        uint8_t *data;
        size_t len, cap;
} buf;

static void buf_add(buf *b, const void *p, size_t n)
{
        if (b->len + n > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                while (cap < b->len + n)
                        cap *= 2;
                b->data = realloc(b->data, cap);
                assert_non_null(b->data);
                b->cap = cap;
        }
        if (n)
                memcpy(b->data + b->len, p, n);
        b->len += n;
}

static void buf_release(buf *b)
{
        free(b->data);
        *b = (buf){ 0 };
}

#define _cleanup_buf_ __attribute__((cleanup(buf_release)))

/* ---- fixture ---- */

static int setup(void **state)
{
        fixture *f = calloc(1, sizeof(*f));
        char tmpl[] = "/tmp/ocid-test-unpack-XXXXXX";
        if (!f || !mkdtemp(tmpl))
                return -1;
        f->parent = strdup(tmpl);
        f->layer = fs_path_join(tmpl, "layer");
        f->canary = fs_path_join(tmpl, "canary");
        if (mkdir(f->layer, 0755) < 0)
                return -1;
        int fd = open(f->canary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, CANARY_TEXT, strlen(CANARY_TEXT)) != (ssize_t)strlen(CANARY_TEXT))
                return -1;
        close(fd);
        if (lstat(f->canary, &f->canary_st) < 0)
                return -1;
        f->layer_fd = open(f->layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (f->layer_fd < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        close(f->layer_fd);
        int r = fs_remove_tree(f->parent);
        free(f->parent);
        free(f->layer);
        free(f->canary);
        free(f);
        return r;
}

/* A path inside the layer; the caller frees it. */
static char *lp(fixture *f, const char *rel)
{
        return fs_path_join(f->layer, rel);
}

static int count_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        assert_non_null(d);
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

/* Nothing but "layer" and the unchanged canary in the parent. */
static void check_contained(fixture *f)
{
        DIR *d = opendir(f->parent);
        assert_non_null(d);
        struct dirent *de;
        int n = 0;
        while ((de = readdir(d))) {
                if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
                        continue;
                if (!STREQ(de->d_name, "layer") && !STREQ(de->d_name, "canary"))
                        fail_msg("unexpected '%s' next to the layer", de->d_name);
                n++;
        }
        closedir(d);
        assert_int_equal(n, 2);

        struct stat st;
        assert_int_equal(lstat(f->canary, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_ino, f->canary_st.st_ino);
        assert_int_equal(st.st_nlink, 1);
        assert_int_equal(st.st_mode, f->canary_st.st_mode);
        assert_int_equal(st.st_uid, f->canary_st.st_uid);
        assert_int_equal(st.st_size, (off_t)strlen(CANARY_TEXT));
        assert_int_equal(st.st_mtim.tv_sec, f->canary_st.st_mtim.tv_sec);
        assert_int_equal(st.st_mtim.tv_nsec, f->canary_st.st_mtim.tv_nsec);
        char text[64] = { 0 };
        int fd = open(f->canary, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(read(fd, text, sizeof(text) - 1), (ssize_t)strlen(CANARY_TEXT));
        close(fd);
        assert_string_equal(text, CANARY_TEXT);
        char x[16];
        assert_true(getxattr(f->canary, "trusted.x", x, sizeof(x)) < 0 && errno == ENODATA);
        assert_true(getxattr(f->parent, "trusted.overlay.opaque", x, sizeof(x)) < 0 &&
                    errno == ENODATA);

        /* Names the attacks aim at on the host. */
        assert_true(access("/etc/ocid-unpack-evil", F_OK) < 0);
        assert_true(access("/ocid-unpack-escape", F_OK) < 0);
        assert_true(access("/tmp/ocid-unpack-escape", F_OK) < 0);
}

/* ---- building archives ---- */

typedef struct {
        struct archive *a;
        buf out;
} tarw;

static la_ssize_t tarw_write(struct archive *a, void *data, const void *p, size_t n)
{
        buf_add(&((tarw *)data)->out, p, n);
        return (la_ssize_t)n;
}

static tarw *tar_new_format(int format)
{
        tarw *t = calloc(1, sizeof(*t));
        assert_non_null(t);
        t->a = archive_write_new();
        assert_int_equal(archive_write_set_format(t->a, format), ARCHIVE_OK);
        assert_int_equal(archive_write_open(t->a, t, NULL, tarw_write, NULL), ARCHIVE_OK);
        return t;
}

static tarw *tar_new(void)
{
        return tar_new_format(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
}

typedef struct {
        const char *name;
        mode_t type; /* AE_IF*; 0: regular file */
        const char *data;
        int perm; /* 0: 0644 files, 0755 directories */
        int uid, gid;
        time_t mtime;
        time_t atime; /* 0: not stored */
        const char *symlink;
        const char *hardlink;
        unsigned rmajor, rminor;
        const char *xattr_name[3];
        const void *xattr_value[3];
        size_t xattr_size[3];
} ent;

#define ENT(...) (&(ent){ __VA_ARGS__ })

static void tar_add(tarw *t, const ent *e)
{
        struct archive_entry *ae = archive_entry_new();
        mode_t type = e->hardlink ? AE_IFREG : e->type ? e->type : AE_IFREG;
        archive_entry_set_pathname(ae, e->name);
        archive_entry_set_filetype(ae, type);
        archive_entry_set_perm(ae, e->perm ? (mode_t)e->perm : type == AE_IFDIR ? 0755 : 0644);
        archive_entry_set_uid(ae, e->uid);
        archive_entry_set_gid(ae, e->gid);
        archive_entry_set_mtime(ae, e->mtime, 0);
        if (e->atime)
                archive_entry_set_atime(ae, e->atime, 500);
        size_t size = e->data && !e->hardlink ? strlen(e->data) : 0;
        archive_entry_set_size(ae, (la_int64_t)size);
        if (e->symlink)
                archive_entry_set_symlink(ae, e->symlink);
        if (e->hardlink)
                archive_entry_set_hardlink(ae, e->hardlink);
        if (type == AE_IFCHR || type == AE_IFBLK) {
                archive_entry_set_rdevmajor(ae, e->rmajor);
                archive_entry_set_rdevminor(ae, e->rminor);
        }
        for (int i = 0; i < 3 && e->xattr_name[i]; i++)
                archive_entry_xattr_add_entry(ae, e->xattr_name[i], e->xattr_value[i],
                                              e->xattr_size[i] ? e->xattr_size[i]
                                                               : strlen(e->xattr_value[i]));
        int r = archive_write_header(t->a, ae);
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
                fail_msg("archive_write_header '%s': %s", e->name, archive_error_string(t->a));
        if (size)
                assert_int_equal(archive_write_data(t->a, e->data, size), (la_ssize_t)size);
        archive_entry_free(ae);
}

static void tar_file(tarw *t, const char *name, const char *data)
{
        tar_add(t, ENT(.name = name, .data = data));
}

static buf tar_finish(tarw *t)
{
        assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
        archive_write_free(t->a);
        buf b = t->out;
        free(t);
        return b;
}

/* One raw 512-byte ustar header, for names libarchive will not write. */
static void ustar_header(buf *b, const char *name, char type, size_t size, const char *link)
{
        char h[512] = { 0 };
        memcpy(h, name, strnlen(name, 100));
        snprintf(h + 100, 8, "%07o", 0644);
        snprintf(h + 108, 8, "%07o", 0);
        snprintf(h + 116, 8, "%07o", 0);
        snprintf(h + 124, 12, "%011zo", size);
        snprintf(h + 136, 12, "%011o", 1600000000);
        h[156] = type;
        if (link)
                memcpy(h + 157, link, strnlen(link, 100));
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        memset(h + 148, ' ', 8);
        unsigned sum = 0;
        for (int i = 0; i < 512; i++)
                sum += (unsigned char)h[i];
        snprintf(h + 148, 8, "%06o", sum);
        buf_add(b, h, 512);
}

static void tar_pad(buf *b)
{
        static const char zeros[512];
        if (b->len % 512)
                buf_add(b, zeros, 512 - b->len % 512);
}

static void tar_end(buf *b)
{
        static const char zeros[1024];
        buf_add(b, zeros, sizeof(zeros));
}

/* A pax extended header block carrying `key=value`. */
static void pax_header(buf *b, const char *key, const char *value, size_t value_len)
{
        size_t body = strlen(key) + value_len + 3; /* ' ', '=', '\n' */
        size_t len = body + 1;
        for (;;) { /* the length counts its own digits */
                char digits[32];
                size_t n = body + (size_t)snprintf(digits, sizeof(digits), "%zu", len);
                if (n == len)
                        break;
                len = n;
        }
        ustar_header(b, "PaxHeader", 'x', len, NULL);
        char digits[32];
        snprintf(digits, sizeof(digits), "%zu ", len);
        buf_add(b, digits, strlen(digits));
        buf_add(b, key, strlen(key));
        buf_add(b, "=", 1);
        buf_add(b, value, value_len);
        buf_add(b, "\n", 1);
        tar_pad(b);
}

static buf gzip_data(const void *p, size_t n)
{
        z_stream z = { 0 };
        assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
        buf b = { 0 };
        size_t cap = deflateBound(&z, n) + 64;
        b.data = malloc(cap);
        b.cap = cap;
        z.next_in = (Bytef *)p;
        z.avail_in = (uInt)n;
        z.next_out = b.data;
        z.avail_out = (uInt)cap;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        b.len = cap - z.avail_out;
        deflateEnd(&z);
        return b;
}

static buf zstd_data(const void *p, size_t n)
{
        buf b = { 0 };
        b.cap = ZSTD_compressBound(n);
        b.data = malloc(b.cap);
        size_t r = ZSTD_compress(b.data, b.cap, p, n, 3);
        assert_false(ZSTD_isError(r));
        b.len = r;
        return b;
}

static void sha256_id(const void *p, size_t n, char out[72])
{
        struct sha256_ctx ctx;
        uint8_t md[SHA256_DIGEST_SIZE];
        sha256_init(&ctx);
        sha256_update(&ctx, n, p);
        sha256_digest(&ctx, sizeof(md), md);
        strcpy(out, "sha256:");
        for (unsigned i = 0; i < sizeof(md); i++)
                snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/* ---- unpacking ---- */

static int unpack_at(fixture *f, const buf *b, off_t offset, const unpack_limits *limits,
                     unpack_result *res, ocid_error *err)
{
        static const unpack_limits defaults = UNPACK_DEFAULT_LIMITS;
        int fds = count_fds();
        int fd = memfd_create("layer", MFD_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, offset), 0);
        assert_int_equal(lseek(fd, offset, SEEK_SET), offset);
        if (b->len)
                assert_int_equal(write(fd, b->data, b->len), (ssize_t)b->len);
        assert_int_equal(lseek(fd, offset, SEEK_SET), offset);
        int r = layer_unpack(fd, f->layer_fd, limits ? limits : &defaults, res, err);
        close(fd);
        assert_int_equal(count_fds(), fds);
        check_contained(f);
        return r;
}

static void unpack_ok(fixture *f, const buf *b, unpack_result *res)
{
        ocid_error err = OCID_ERROR_INIT;
        unpack_result local = { 0 };
        int r = unpack_at(f, b, 0, NULL, res ? res : &local, &err);
        if (r != 0)
                fail_msg("unpack failed: %s: %s", ocid_error_kind_name(err.kind), err.message);
        assert_int_equal(err.kind, OCID_OK);
        unpack_result_release(&local);
}

/* Fails with `kind`, and the message contains `needle` when given. */
static void unpack_fails(fixture *f, const buf *b, const unpack_limits *limits,
                         ocid_error_kind kind, const char *needle)
{
        ocid_error err = OCID_ERROR_INIT;
        unpack_result res = { 0 };
        int r = unpack_at(f, b, 0, limits, &res, &err);
        assert_int_equal(r, -1);
        assert_null(res.diff_id);
        assert_non_null(err.message);
        if (err.kind != kind)
                fail_msg("expected %s, got %s: %s", ocid_error_kind_name(kind),
                         ocid_error_kind_name(err.kind), err.message);
        if (needle && !strstr(err.message, needle))
                fail_msg("message '%s' lacks '%s'", err.message, needle);
        ocid_error_clear(&err);
}

static char *read_text(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        char *s = calloc(1, 65536);
        ssize_t n = read(fd, s, 65535);
        assert_true(n >= 0);
        return s;
}

static void assert_file(fixture *f, const char *rel, const char *content)
{
        _cleanup_free_ char *p = lp(f, rel);
        _cleanup_free_ char *text = read_text(p);
        if (!text)
                fail_msg("'%s' missing: %s", rel, strerror(errno));
        assert_string_equal(text, content);
}

static struct stat lstat_ok(fixture *f, const char *rel)
{
        _cleanup_free_ char *p = lp(f, rel);
        struct stat st;
        if (lstat(p, &st) < 0)
                fail_msg("lstat '%s': %s", rel, strerror(errno));
        return st;
}

static bool exists(fixture *f, const char *rel)
{
        _cleanup_free_ char *p = lp(f, rel);
        struct stat st;
        return lstat(p, &st) == 0;
}

static void assert_link(fixture *f, const char *rel, const char *target)
{
        _cleanup_free_ char *p = lp(f, rel);
        char t[PATH_MAX] = { 0 };
        if (readlink(p, t, sizeof(t) - 1) < 0)
                fail_msg("readlink '%s': %s", rel, strerror(errno));
        assert_string_equal(t, target);
}

static void assert_whiteout(fixture *f, const char *rel)
{
        struct stat st = lstat_ok(f, rel);
        assert_true(S_ISCHR(st.st_mode));
        assert_int_equal(st.st_rdev, makedev(0, 0));
}

/* ---- regular content and metadata ---- */

static void test_regular_file(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new_format(ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
        tar_add(t, ENT(.name = "etc/hosts", .data = "127.0.0.1 localhost\n", .perm = 0640,
                       .uid = 1000, .gid = 2000, .mtime = 1500000000, .atime = 1400000000));
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_result res = { 0 };
        unpack_ok(f, &b, &res);
        assert_int_equal(res.entries, 1);
        assert_int_equal(res.size, 20);
        unpack_result_release(&res);

        struct stat st = lstat_ok(f, "etc/hosts"); /* before reading it changes atime */
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0640);
        assert_int_equal(st.st_uid, 1000);
        assert_int_equal(st.st_gid, 2000);
        assert_int_equal(st.st_mtim.tv_sec, 1500000000);
        assert_int_equal(st.st_atim.tv_sec, 1400000000);
        assert_int_equal(st.st_atim.tv_nsec, 500);
        assert_int_equal(st.st_nlink, 1);
        assert_file(f, "etc/hosts", "127.0.0.1 localhost\n");
        /* The parent was not in the archive: created 0755, root-owned. */
        st = lstat_ok(f, "etc");
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(st.st_uid, 0);
}

static void test_special_mode_bits(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "bin/su", .data = "#!su", .perm = 04755));
        /* chown to a non-root owner clears setuid and setgid: reapplied. */
        tar_add(t, ENT(.name = "bin/x", .data = "x", .perm = 06751, .uid = 1000, .gid = 1000));
        tar_add(t, ENT(.name = "tmp", .type = AE_IFDIR, .perm = 01777));
        tar_add(t, ENT(.name = "srv", .type = AE_IFDIR, .perm = 02775, .gid = 50));
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        assert_int_equal(lstat_ok(f, "bin/su").st_mode & 07777, 04755);
        struct stat st = lstat_ok(f, "bin/x");
        assert_int_equal(st.st_mode & 07777, 06751);
        assert_int_equal(st.st_uid, 1000);
        assert_int_equal(lstat_ok(f, "tmp").st_mode & 07777, 01777);
        assert_int_equal(lstat_ok(f, "srv").st_mode & 07777, 02775);
        assert_int_equal(lstat_ok(f, "srv").st_gid, 50);
}

static void test_directories_and_times(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "a/", .type = AE_IFDIR, .perm = 0700, .uid = 5, .mtime = 1000));
        tar_add(t, ENT(.name = "a/b/", .type = AE_IFDIR, .perm = 0750, .mtime = 2000));
        tar_add(t, ENT(.name = "a/b/f", .data = "f", .mtime = 3000));
        tar_add(t, ENT(.name = "a/b/g", .type = AE_IFLNK, .symlink = "f", .mtime = 3500));
        tar_add(t, ENT(.name = "a/c", .type = AE_IFDIR, .mtime = 4000));
        tar_add(t, ENT(.name = "a/c/.wh.old", .data = ""));
        tar_add(t, ENT(.name = "z", .type = AE_IFDIR, .mtime = 5000));
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        struct stat st = lstat_ok(f, "a");
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(st.st_uid, 5);
        /* Times survive the children created after them. */
        assert_int_equal(st.st_mtim.tv_sec, 1000);
        assert_int_equal(lstat_ok(f, "a/b").st_mtim.tv_sec, 2000);
        assert_int_equal(lstat_ok(f, "a/b").st_mode & 07777, 0750);
        assert_int_equal(lstat_ok(f, "a/b/f").st_mtim.tv_sec, 3000);
        assert_int_equal(lstat_ok(f, "a/b/g").st_mtim.tv_sec, 3500);
        assert_int_equal(lstat_ok(f, "a/c").st_mtim.tv_sec, 4000);
        assert_int_equal(lstat_ok(f, "z").st_mtim.tv_sec, 5000);
}

static void test_existing_directory_updated(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "d", .type = AE_IFDIR));
        tar_file(t, "d/f", "keep");
        tar_add(t, ENT(.name = "d/", .type = AE_IFDIR, .perm = 0710, .uid = 7, .mtime = 42));
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        assert_file(f, "d/f", "keep");
        struct stat st = lstat_ok(f, "d");
        assert_int_equal(st.st_mode & 07777, 0710);
        assert_int_equal(st.st_uid, 7);
        assert_int_equal(st.st_mtim.tv_sec, 42);
}

static void test_root_entry(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "./", .type = AE_IFDIR, .perm = 0751, .uid = 3, .mtime = 1234));
        tar_file(t, "./f", "x");
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        struct stat st;
        assert_int_equal(fstat(f->layer_fd, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0751);
        assert_int_equal(st.st_uid, 3);
        assert_int_equal(st.st_mtim.tv_sec, 1234);
        assert_file(f, "f", "x");
}

static void test_symlinks(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "abs", .type = AE_IFLNK, .symlink = "/etc/passwd", .uid = 11,
                       .gid = 12, .mtime = 777));
        tar_add(t, ENT(.name = "dir/rel", .type = AE_IFLNK, .symlink = "../x/./y//"));
        tar_add(t, ENT(.name = "dangling", .type = AE_IFLNK, .symlink = "nowhere"));
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        assert_link(f, "abs", "/etc/passwd");
        assert_link(f, "dir/rel", "../x/./y//");
        assert_link(f, "dangling", "nowhere");
        struct stat st = lstat_ok(f, "abs");
        assert_true(S_ISLNK(st.st_mode));
        assert_int_equal(st.st_uid, 11);
        assert_int_equal(st.st_gid, 12);
        assert_int_equal(st.st_mtim.tv_sec, 777);
}

static void test_hardlinks(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_file(t, "f", "shared");
        tar_add(t, ENT(.name = "h", .hardlink = "f"));
        tar_add(t, ENT(.name = "sub/h2", .hardlink = "/f"));
        tar_add(t, ENT(.name = "s", .type = AE_IFLNK, .symlink = "f"));
        tar_add(t, ENT(.name = "hs", .hardlink = "./s"));
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_result res = { 0 };
        unpack_ok(f, &b, &res);
        assert_int_equal(res.entries, 5);
        assert_int_equal(res.size, 6);
        unpack_result_release(&res);
        struct stat a = lstat_ok(f, "f"), h = lstat_ok(f, "h"), h2 = lstat_ok(f, "sub/h2");
        assert_int_equal(a.st_ino, h.st_ino);
        assert_int_equal(a.st_ino, h2.st_ino);
        assert_int_equal(a.st_nlink, 3);
        /* A hard link to a symlink links the symlink itself. */
        assert_int_equal(lstat_ok(f, "s").st_ino, lstat_ok(f, "hs").st_ino);
        assert_link(f, "hs", "f");
}

static void test_hardlink_missing_target(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "h", .hardlink = "nothing/here"));
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "'h': hard link target not found");
        assert_false(exists(f, "h"));
}

static void test_hardlink_to_directory(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "d", .type = AE_IFDIR));
        tar_add(t, ENT(.name = "h", .hardlink = "d"));
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "hard link to a directory");
}

static void test_hardlink_edge_cases(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_file(t, "f", "content");
        tar_add(t, ENT(.name = "f", .hardlink = "f")); /* itself */
        tar_add(t, ENT(.name = "g", .hardlink = "f"));
        tar_add(t, ENT(.name = "g", .hardlink = "./f")); /* listed again */
        tar_add(t, ENT(.name = "here", .type = AE_IFLNK, .symlink = "."));
        tar_add(t, ENT(.name = "here/f", .hardlink = "f")); /* f itself, spelt otherwise */
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        assert_file(f, "f", "content");
        assert_int_equal(lstat_ok(f, "f").st_nlink, 2);
        assert_int_equal(lstat_ok(f, "g").st_ino, lstat_ok(f, "f").st_ino);

        /* Replacing the entry removes the target with it. */
        t = tar_new();
        tar_add(t, ENT(.name = "d", .type = AE_IFDIR));
        tar_file(t, "d/t", "t");
        tar_add(t, ENT(.name = "d", .hardlink = "d/t"));
        _cleanup_buf_ buf b2 = tar_finish(t);
        unpack_fails(f, &b2, NULL, OCID_ERR_INVALID, "'d': hard link target not found");

        /* A link to itself that does not exist yet. */
        t = tar_new();
        tar_add(t, ENT(.name = "new", .hardlink = "new"));
        _cleanup_buf_ buf b3 = tar_finish(t);
        unpack_fails(f, &b3, NULL, OCID_ERR_INVALID, "'new': hard link to itself");
}

static void test_devices_and_fifos(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t,
                ENT(.name = "dev/null", .type = AE_IFCHR, .rmajor = 1, .rminor = 3, .perm = 0666));
        tar_add(t, ENT(.name = "dev/loop0", .type = AE_IFBLK, .rmajor = 7, .rminor = 0,
                       .perm = 0660, .gid = 6, .mtime = 99));
        tar_add(t, ENT(.name = "run/fifo", .type = AE_IFIFO, .perm = 0620, .uid = 33));
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        struct stat st = lstat_ok(f, "dev/null");
        assert_true(S_ISCHR(st.st_mode));
        assert_int_equal(st.st_rdev, makedev(1, 3));
        assert_int_equal(st.st_mode & 07777, 0666);
        st = lstat_ok(f, "dev/loop0");
        assert_true(S_ISBLK(st.st_mode));
        assert_int_equal(st.st_rdev, makedev(7, 0));
        assert_int_equal(st.st_mode & 07777, 0660);
        assert_int_equal(st.st_gid, 6);
        assert_int_equal(st.st_mtim.tv_sec, 99);
        st = lstat_ok(f, "run/fifo");
        assert_true(S_ISFIFO(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0620);
        assert_int_equal(st.st_uid, 33);
}

/* VFS_CAP_REVISION_2 with CAP_NET_RAW permitted and effective. */
static const uint8_t cap_net_raw[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x20 };

static void test_xattrs(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "bin/ping", .data = "ping", .perm = 0755, .uid = 1, .gid = 1,
                       .xattr_name = { "security.capability", "user.comment", "security.selinux" },
                       .xattr_value = { cap_net_raw, "hello", "system_u:object_r:bin_t" },
                       .xattr_size = { sizeof(cap_net_raw) }));
        tar_add(t, ENT(.name = "etc", .type = AE_IFDIR, .xattr_name = { "user.dir" },
                       .xattr_value = { "d" }));
        /* user.* cannot exist on a symlink: dropped. trusted.* can. */
        tar_add(t, ENT(.name = "l", .type = AE_IFLNK, .symlink = "bin/ping",
                       .xattr_name = { "trusted.mark", "user.no" }, .xattr_value = { "t", "u" }));
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);

        _cleanup_free_ char *ping = lp(f, "bin/ping");
        uint8_t v[64];
        assert_int_equal(getxattr(ping, "security.capability", v, sizeof(v)), sizeof(cap_net_raw));
        assert_memory_equal(v, cap_net_raw, sizeof(cap_net_raw));
        assert_int_equal(getxattr(ping, "user.comment", v, sizeof(v)), 5);
        assert_memory_equal(v, "hello", 5);
        assert_true(getxattr(ping, "security.selinux", v, sizeof(v)) < 0);
        _cleanup_free_ char *etc = lp(f, "etc");
        assert_int_equal(getxattr(etc, "user.dir", v, sizeof(v)), 1);
        _cleanup_free_ char *l = lp(f, "l");
        assert_int_equal(lgetxattr(l, "trusted.mark", v, sizeof(v)), 1);
        assert_true(lgetxattr(l, "user.no", v, sizeof(v)) < 0);
        /* Not set on the symlink's target either. */
        assert_true(getxattr(ping, "trusted.mark", v, sizeof(v)) < 0);
        assert_int_equal(lstat_ok(f, "bin/ping").st_uid, 1);
}

static void test_xattr_overlay_refused(void **state)
{
        fixture *f = *state;
        const char *names[] = { "trusted.overlay.opaque", "trusted.overlay.redirect",
                                "user.overlay.opaque" };
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                tarw *t = tar_new();
                tar_add(t, ENT(.name = "d", .type = AE_IFDIR, .xattr_name = { names[i] },
                               .xattr_value = { "y" }));
                _cleanup_buf_ buf b = tar_finish(t);
                unpack_fails(f, &b, NULL, OCID_ERR_INVALID, names[i]);
                assert_false(exists(f, "d"));
        }
}

static void test_bad_xattr_value(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "f", .data = "x", .xattr_name = { "security.capability" },
                       .xattr_value = { "bad" }));
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "'f': set xattr 'security.capability'");
}

/* ---- whiteouts ---- */

static void test_whiteouts(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_file(t, ".wh.gone", "");
        tar_file(t, "etc/.wh.passwd", "");
        /* Earlier content of this layer is replaced by the whiteout. */
        tar_add(t, ENT(.name = "d", .type = AE_IFDIR));
        tar_file(t, "d/f", "x");
        tar_add(t, ENT(.name = "d/e/g", .type = AE_IFLNK, .symlink = "/"));
        tar_file(t, ".wh.d", "");
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_result res = { 0 };
        unpack_ok(f, &b, &res);
        assert_int_equal(res.entries, 6);
        unpack_result_release(&res);
        assert_whiteout(f, "gone");
        assert_whiteout(f, "etc/passwd");
        assert_whiteout(f, "d");
        assert_false(exists(f, ".wh.gone"));
        assert_false(exists(f, "etc/.wh.passwd"));
}

static void test_opaque_directory(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "etc", .type = AE_IFDIR, .mtime = 10));
        tar_file(t, "etc/.wh..wh..opq", "");
        tar_file(t, "etc/.wh..wh.plnk", "");
        tar_file(t, "etc/kept", "k");
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        _cleanup_free_ char *etc = lp(f, "etc");
        char v[8] = { 0 };
        assert_int_equal(getxattr(etc, "trusted.overlay.opaque", v, sizeof(v)), 1);
        assert_string_equal(v, "y");
        assert_false(exists(f, "etc/.wh..wh..opq"));
        assert_false(exists(f, "etc/.wh..wh.plnk"));
        assert_false(exists(f, "etc/plnk"));
        assert_file(f, "etc/kept", "k");
        assert_int_equal(lstat_ok(f, "etc").st_mtim.tv_sec, 10);
}

static void test_whiteout_of_nothing(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_file(t, "a/.wh.", "");
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "whiteout");
}

/* ---- digests and compression ---- */

static buf sample_tar(void)
{
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "bin", .type = AE_IFDIR));
        tar_add(t, ENT(.name = "bin/sh", .data = "#!/bin/sh\necho hi\n", .perm = 0755));
        tar_add(t, ENT(.name = "bin/ash", .type = AE_IFLNK, .symlink = "sh"));
        tar_add(t, ENT(.name = "etc/os-release", .data = "ID=test\n"));
        return tar_finish(t);
}

static void check_sample(fixture *f)
{
        assert_file(f, "bin/sh", "#!/bin/sh\necho hi\n");
        assert_link(f, "bin/ash", "sh");
        assert_file(f, "etc/os-release", "ID=test\n");
}

static void test_diff_id_plain(void **state)
{
        fixture *f = *state;
        _cleanup_buf_ buf b = sample_tar();
        char want[72];
        sha256_id(b.data, b.len, want);
        unpack_result res = { 0 };
        unpack_ok(f, &b, &res);
        assert_string_equal(res.diff_id, want);
        assert_int_equal(res.entries, 4);
        assert_int_equal(res.size, 18 + 8);
        unpack_result_release(&res);
        assert_null(res.diff_id);
        check_sample(f);
}

static void unpack_compressed(fixture *f, buf (*compress)(const void *, size_t))
{
        _cleanup_buf_ buf b = sample_tar();
        char want[72];
        sha256_id(b.data, b.len, want);
        _cleanup_buf_ buf c = compress(b.data, b.len);
        unpack_result res = { 0 };
        unpack_ok(f, &c, &res);
        assert_string_equal(res.diff_id, want);
        unpack_result_release(&res);
        check_sample(f);
}

static void test_diff_id_gzip(void **state)
{
        unpack_compressed(*state, gzip_data);
}

static void test_diff_id_zstd(void **state)
{
        unpack_compressed(*state, zstd_data);
}

static void test_diff_id_covers_trailing_padding(void **state)
{
        fixture *f = *state;
        _cleanup_buf_ buf b = sample_tar();
        static const char zeros[8192];
        buf_add(&b, zeros, sizeof(zeros));
        char want[72];
        sha256_id(b.data, b.len, want);
        _cleanup_buf_ buf c = zstd_data(b.data, b.len);
        unpack_result res = { 0 };
        unpack_ok(f, &c, &res);
        assert_string_equal(res.diff_id, want);
        unpack_result_release(&res);
}

static void test_gzip_multi_member(void **state)
{
        fixture *f = *state;
        _cleanup_buf_ buf b = sample_tar();
        char want[72];
        sha256_id(b.data, b.len, want);
        _cleanup_buf_ buf one = gzip_data(b.data, 1000);
        _cleanup_buf_ buf two = gzip_data(b.data + 1000, b.len - 1000);
        buf_add(&one, two.data, two.len);
        unpack_result res = { 0 };
        unpack_ok(f, &one, &res);
        assert_string_equal(res.diff_id, want);
        unpack_result_release(&res);
        check_sample(f);
}

static void test_blob_offset(void **state)
{
        fixture *f = *state;
        _cleanup_buf_ buf b = sample_tar();
        _cleanup_buf_ buf c = gzip_data(b.data, b.len);
        char want[72];
        sha256_id(b.data, b.len, want);
        ocid_error err = OCID_ERROR_INIT;
        unpack_result res = { 0 };
        assert_int_equal(unpack_at(f, &c, 12345, NULL, &res, &err), 0);
        assert_string_equal(res.diff_id, want);
        unpack_result_release(&res);
        check_sample(f);
}

/* dir_fd may be an O_PATH descriptor. */
static void test_dir_fd_opath(void **state)
{
        fixture *f = *state;
        _cleanup_buf_ buf b = sample_tar();
        int fd = memfd_create("layer", MFD_CLOEXEC);
        assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        int dir = open(f->layer, O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(dir >= 0);
        static const unpack_limits l = UNPACK_DEFAULT_LIMITS;
        unpack_result res = { 0 };
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(layer_unpack(fd, dir, &l, &res, &err), 0);
        close(dir);
        close(fd);
        unpack_result_release(&res);
        check_sample(f);
        check_contained(f);
}

static void test_empty_blob(void **state)
{
        fixture *f = *state;
        buf b = { 0 };
        unpack_result res = { 0 };
        unpack_ok(f, &b, &res);
        assert_string_equal(res.diff_id, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca4"
                                         "95991b7852b855");
        assert_int_equal(res.entries, 0);
        unpack_result_release(&res);
}

static void test_formats(void **state)
{
        fixture *f = *state;
        const int formats[] = { ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FORMAT_TAR_GNUTAR,
                                ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE,
                                ARCHIVE_FORMAT_TAR_PAX_RESTRICTED };
        char long_name[300];
        memset(long_name, 'n', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        for (size_t i = 3; i < sizeof(long_name) - 2; i += 60)
                long_name[i] = '/';
        for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
                tarw *t = tar_new_format(formats[i]);
                tar_add(t, ENT(.name = "f", .data = "data", .uid = 7));
                if (formats[i] != ARCHIVE_FORMAT_TAR_USTAR)
                        tar_file(t, long_name, "long");
                _cleanup_buf_ buf b = tar_finish(t);
                unpack_ok(f, &b, NULL);
                assert_file(f, "f", "data");
                assert_int_equal(lstat_ok(f, "f").st_uid, 7);
                if (formats[i] != ARCHIVE_FORMAT_TAR_USTAR)
                        assert_file(f, long_name, "long");
        }
}

/* Names are bytes: UTF-8 from a pax header (which libarchive cannot
 * convert in the C locale) and invalid UTF-8 are kept as they are. */
static void test_name_bytes(void **state)
{
        fixture *f = *state;
        buf b = { 0 };
        pax_header(&b, "path", "caf\xc3\xa9", 5);
        ustar_header(&b, "ignored", '0', 2, NULL);
        buf_add(&b, "c\n", 2);
        tar_pad(&b);
        ustar_header(&b, "bad\xff", '0', 0, NULL);
        tar_end(&b);
        unpack_ok(f, &b, NULL);
        buf_release(&b);
        assert_file(f, "caf\xc3\xa9", "c\n");
        assert_true(exists(f, "bad\xff"));
}

static void test_sparse_file(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new_format(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, "sparse");
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_size(ae, 1 << 20);
        archive_entry_sparse_add_entry(ae, 0, 4096);
        archive_entry_sparse_add_entry(ae, (1 << 20) - 4096, 4096);
        assert_int_equal(archive_write_header(t->a, ae), ARCHIVE_OK);
        char *data = malloc(1 << 20);
        memset(data, 0, 1 << 20);
        memset(data, 'a', 4096);
        memset(data + (1 << 20) - 4096, 'z', 4096);
        assert_int_equal(archive_write_data(t->a, data, 1 << 20), 1 << 20);
        archive_entry_free(ae);
        _cleanup_buf_ buf b = tar_finish(t);
        assert_true(b.len < 64 * 1024); /* the hole is not in the archive */
        unpack_result res = { 0 };
        unpack_ok(f, &b, &res);
        assert_int_equal(res.size, 1 << 20);
        unpack_result_release(&res);
        struct stat st = lstat_ok(f, "sparse");
        assert_int_equal(st.st_size, 1 << 20);
        _cleanup_free_ char *p = lp(f, "sparse");
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        char *got = malloc(1 << 20);
        assert_int_equal(read(fd, got, 1 << 20), 1 << 20);
        close(fd);
        assert_memory_equal(got, data, 1 << 20);
        free(got);
        free(data);
}

/* ---- later entries replace earlier ones ---- */

static void test_replacements(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "x", .type = AE_IFDIR));
        tar_file(t, "x/y/z", "deep");
        tar_file(t, "x", "now a file");
        tar_file(t, "f", "file");
        tar_add(t, ENT(.name = "f", .type = AE_IFDIR, .perm = 0700));
        tar_add(t, ENT(.name = "s", .type = AE_IFLNK, .symlink = "x"));
        tar_add(t, ENT(.name = "s", .type = AE_IFIFO));
        tar_add(t, ENT(.name = "n", .type = AE_IFIFO));
        tar_add(t, ENT(.name = "n", .type = AE_IFLNK, .symlink = "target"));
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        assert_file(f, "x", "now a file");
        assert_true(S_ISDIR(lstat_ok(f, "f").st_mode));
        assert_int_equal(lstat_ok(f, "f").st_mode & 07777, 0700);
        assert_true(S_ISFIFO(lstat_ok(f, "s").st_mode));
        assert_link(f, "n", "target");
}

/* Rewriting a file must not write through an earlier hard link to it. */
static void test_no_write_through_hardlink(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_file(t, "a", "old");
        tar_add(t, ENT(.name = "b", .hardlink = "a"));
        tar_file(t, "a", "new");
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        assert_file(f, "a", "new");
        assert_file(f, "b", "old");
        assert_int_not_equal(lstat_ok(f, "a").st_ino, lstat_ok(f, "b").st_ino);
}

static char *repeat(const char *prefix, const char *unit, int n, const char *suffix)
{
        strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, prefix);
        for (int i = 0; i < n; i++)
                strbuf_adds(&sb, unit);
        strbuf_adds(&sb, suffix);
        return strbuf_detach(&sb, NULL);
}

/* Symlinked parents nest directories deeper than PATH_MAX allows a name
 * to, and deeper than the fd limit: replacing the top of such a tree must
 * still remove it all. */
static void test_deep_tree_replaced(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        _cleanup_free_ char *d1 = repeat("top/", "d/", 1000, "");
        _cleanup_free_ char *t1 = repeat("", "d/", 999, "d");
        _cleanup_free_ char *d2 = repeat("top/l1/", "e/", 1000, "");
        _cleanup_free_ char *t2 = repeat("l1/", "e/", 999, "e");
        _cleanup_free_ char *d3 = repeat("top/l2/", "g/", 1000, "f");
        tar_add(t, ENT(.name = "top", .type = AE_IFDIR));
        tar_add(t, ENT(.name = d1, .type = AE_IFDIR));
        tar_add(t, ENT(.name = "top/l1", .type = AE_IFLNK, .symlink = t1));
        tar_add(t, ENT(.name = d2, .type = AE_IFDIR));
        tar_add(t, ENT(.name = "top/l2", .type = AE_IFLNK, .symlink = t2));
        tar_file(t, d3, "deep");
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        _cleanup_free_ char *deep = repeat("", "e/", 1000, "");
        _cleanup_free_ char *path = fs_path_join(t1, deep);
        _cleanup_free_ char *fd_path = NULL;
        assert_true(asprintf(&fd_path, "top/%s", path) > 0);
        assert_true(S_ISDIR(lstat_ok(f, fd_path).st_mode));

        t = tar_new();
        tar_file(t, "top", "flat now");
        _cleanup_buf_ buf b2 = tar_finish(t);
        struct rlimit saved, low;
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
        low = saved;
        low.rlim_cur = 64;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
        unpack_ok(f, &b2, NULL);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
        assert_file(f, "top", "flat now");
}

/* ---- attacks: nothing may appear outside the layer ---- */

static void test_attack_dotdot(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_file(t, "../../escape", "e");
        tar_file(t, "a/../../../canary", "overwrite?");
        tar_file(t, "../ocid-unpack-escape", "e");
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        assert_file(f, "escape", "e");
        assert_file(f, "canary", "overwrite?");
        assert_file(f, "ocid-unpack-escape", "e");
}

static void test_attack_absolute(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_file(t, "/abs/path", "a");
        tar_file(t, "/etc/ocid-unpack-evil", "a");
        tar_file(t, "//tmp/ocid-unpack-escape", "a");
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        assert_file(f, "abs/path", "a");
        assert_file(f, "etc/ocid-unpack-evil", "a");
        assert_file(f, "tmp/ocid-unpack-escape", "a");
}

static void test_attack_symlink_to_root(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "link", .type = AE_IFLNK, .symlink = "/"));
        tar_file(t, "link/etc/ocid-unpack-evil", "evil");
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        assert_link(f, "link", "/");
        assert_file(f, "etc/ocid-unpack-evil", "evil");
}

static void test_attack_symlink_dotdot(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "link", .type = AE_IFLNK, .symlink = "../../.."));
        tar_file(t, "link/x", "x");
        tar_add(t, ENT(.name = "link2", .type = AE_IFLNK, .symlink = "../canary"));
        tar_file(t, "link2", "replaces the link");
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        assert_file(f, "x", "x");
        assert_file(f, "link2", "replaces the link");
}

static void test_attack_symlink_chain(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "a", .type = AE_IFLNK, .symlink = "b"));
        tar_add(t, ENT(.name = "b", .type = AE_IFLNK, .symlink = "sub/c"));
        tar_add(t, ENT(.name = "sub/c", .type = AE_IFLNK, .symlink = "../../../../.."));
        tar_file(t, "a/pwned", "p");
        tar_file(t, "a/sub/c/pwned2", "p");
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        assert_file(f, "pwned", "p");
        assert_file(f, "pwned2", "p");
}

static void test_attack_symlink_to_outside_dir(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        /* Absolute paths of the real parent and canary: inside the layer
         * they name <layer>/tmp/... */
        tar_add(t, ENT(.name = f->parent, .type = AE_IFDIR));
        tar_add(t, ENT(.name = "out", .type = AE_IFLNK, .symlink = f->parent));
        _cleanup_free_ char *through = fs_path_join("out", "pwned");
        tar_file(t, through, "p");
        tar_add(t, ENT(.name = "can", .type = AE_IFLNK, .symlink = f->canary));
        tar_file(t, "can", "file over the symlink");
        tar_add(t, ENT(.name = "can2", .type = AE_IFLNK, .symlink = f->canary));
        tar_add(t, ENT(.name = "can2", .type = AE_IFCHR, .rmajor = 1, .rminor = 3));
        tar_add(t, ENT(.name = "can3", .type = AE_IFLNK, .symlink = f->canary,
                       .xattr_name = { "trusted.x" }, .xattr_value = { "x" }));
        tar_add(t, ENT(.name = "out", .type = AE_IFDIR));
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        _cleanup_free_ char *inside = fs_path_join(f->parent, "pwned");
        assert_file(f, inside, "p");
        assert_file(f, "can", "file over the symlink");
        assert_true(S_ISCHR(lstat_ok(f, "can2").st_mode));
        assert_link(f, "can3", f->canary);
        assert_true(S_ISDIR(lstat_ok(f, "out").st_mode));
}

static void test_attack_dir_replaced_by_symlink(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "d", .type = AE_IFDIR));
        tar_file(t, "d/f", "f");
        tar_add(t, ENT(.name = "d", .type = AE_IFLNK, .symlink = "../../.."));
        tar_file(t, "d/x", "x");
        tar_add(t, ENT(.name = "d/y", .type = AE_IFDIR));
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        assert_link(f, "d", "../../..");
        assert_file(f, "x", "x");
        assert_true(S_ISDIR(lstat_ok(f, "y").st_mode));
        assert_false(exists(f, "f"));
}

static void test_attack_hardlink_host_file(void **state)
{
        fixture *f = *state;
        struct stat before;
        assert_int_equal(stat("/etc/passwd", &before), 0);
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "pw", .hardlink = "/etc/passwd"));
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "'pw': hard link target not found");
        assert_false(exists(f, "pw"));

        /* With the layer's own /etc/passwd, that is what gets linked. */
        t = tar_new();
        tar_file(t, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
        tar_add(t, ENT(.name = "pw", .hardlink = "/etc/passwd"));
        tar_add(t, ENT(.name = "link", .type = AE_IFLNK, .symlink = "/"));
        tar_add(t, ENT(.name = "pw2", .hardlink = "link/etc/passwd"));
        _cleanup_buf_ buf b2 = tar_finish(t);
        unpack_ok(f, &b2, NULL);
        struct stat after;
        assert_int_equal(stat("/etc/passwd", &after), 0);
        assert_int_equal(after.st_nlink, before.st_nlink);
        struct stat pw = lstat_ok(f, "pw");
        assert_int_not_equal(pw.st_ino, before.st_ino);
        assert_int_equal(pw.st_ino, lstat_ok(f, "etc/passwd").st_ino);
        assert_int_equal(pw.st_ino, lstat_ok(f, "pw2").st_ino);
}

static void test_attack_hardlink_outside(void **state)
{
        fixture *f = *state;
        const char *targets[] = { "../canary", "../../canary", "x/../../canary" };
        for (size_t i = 0; i < ARRAY_SIZE(targets); i++) {
                tarw *t = tar_new();
                tar_add(t, ENT(.name = "h", .hardlink = targets[i]));
                _cleanup_buf_ buf b = tar_finish(t);
                unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "hard link target not found");
        }
        /* Through symlinks pointing outside: resolved inside the root. */
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "up", .type = AE_IFLNK, .symlink = "../.."));
        tar_add(t, ENT(.name = "h", .hardlink = "up/canary"));
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "hard link target not found");
        t = tar_new();
        tar_add(t, ENT(.name = "abs", .type = AE_IFLNK, .symlink = f->canary));
        tar_add(t, ENT(.name = "h", .hardlink = "abs"));
        tar_file(t, "h", "rewrite the link");
        _cleanup_buf_ buf b2 = tar_finish(t);
        unpack_ok(f, &b2, NULL);
        assert_link(f, "abs", f->canary);
        assert_file(f, "h", "rewrite the link");
}

static void test_attack_whiteout_through_symlink(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "l", .type = AE_IFLNK, .symlink = "../.."));
        tar_file(t, "l/.wh.canary", "");
        tar_file(t, "l/.wh..wh..opq", "");
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_ok(f, &b, NULL);
        assert_whiteout(f, "canary");
        char v[4];
        assert_int_equal(getxattr(f->layer, "trusted.overlay.opaque", v, sizeof(v)), 1);
        assert_link(f, "l", "../..");

        t = tar_new();
        tar_add(t, ENT(.name = "m", .type = AE_IFLNK, .symlink = f->parent));
        tar_file(t, "m/.wh..wh..opq", "");
        _cleanup_buf_ buf b2 = tar_finish(t);
        unpack_fails(f, &b2, NULL, OCID_ERR_INVALID, "symlink to a missing directory");
}

static void test_attack_parent_is_file(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_file(t, "f", "file");
        tar_file(t, "f/x", "x");
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "'f/x'");
        assert_file(f, "f", "file");
}

/* ---- malformed input ---- */

static void test_empty_name(void **state)
{
        fixture *f = *state;
        buf b = { 0 };
        ustar_header(&b, "", '0', 0, NULL);
        tar_end(&b);
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "empty name");
        buf_release(&b);
}

static void test_root_as_non_directory(void **state)
{
        fixture *f = *state;
        /* (A name ending in '/' is a directory whatever the type says.) */
        const char *names[] = { "..", ".", "a/..", "/.." };
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                buf b = { 0 };
                ustar_header(&b, names[i], '0', 0, NULL);
                tar_end(&b);
                unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "layer root");
                buf_release(&b);
        }
        buf b = { 0 };
        ustar_header(&b, "..", '2', 0, "somewhere");
        tar_end(&b);
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "layer root");
        buf_release(&b);
}

static void test_empty_link_target(void **state)
{
        fixture *f = *state;
        buf b = { 0 };
        ustar_header(&b, "l", '2', 0, NULL);
        tar_end(&b);
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "'l': symlink without a target");
        buf_release(&b);
}

/* Owners that chown cannot take: -1 would mean "unchanged". */
static void test_owner_out_of_range(void **state)
{
        fixture *f = *state;
        const char *ids[] = { "4294967295", "4294967296", "-5" };
        const char *keys[] = { "uid", "gid" };
        for (size_t i = 0; i < ARRAY_SIZE(ids) * 2; i++) {
                buf b = { 0 };
                pax_header(&b, keys[i % 2], ids[i / 2], strlen(ids[i / 2]));
                ustar_header(&b, "f", '0', 0, NULL);
                tar_end(&b);
                unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "out of range");
                buf_release(&b);
                assert_false(exists(f, "f"));
        }
}

static void test_name_too_long(void **state)
{
        fixture *f = *state;
        char name[PATH_MAX + 10];
        memset(name, 'a', sizeof(name));
        for (size_t i = 100; i < sizeof(name); i += 100)
                name[i] = '/';
        buf b = { 0 };
        pax_header(&b, "path", name, sizeof(name));
        ustar_header(&b, "x", '0', 0, NULL);
        tar_end(&b);
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "longer than");
        buf_release(&b);

        /* A component over NAME_MAX. */
        char comp[300];
        memset(comp, 'c', sizeof(comp) - 1);
        comp[sizeof(comp) - 1] = '\0';
        tarw *t = tar_new();
        tar_file(t, comp, "x");
        _cleanup_buf_ buf b2 = tar_finish(t);
        unpack_fails(f, &b2, NULL, OCID_ERR_INVALID, "File name too long");
}

static void test_symlink_parent_missing(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "l", .type = AE_IFLNK, .symlink = "nowhere"));
        tar_file(t, "l/x", "x");
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "symlink to a missing directory");
}

static void test_symlink_loop_parent(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_add(t, ENT(.name = "loop", .type = AE_IFLNK, .symlink = "loop"));
        tar_add(t, ENT(.name = "ping", .type = AE_IFLNK, .symlink = "/pong/"));
        tar_add(t, ENT(.name = "pong", .type = AE_IFLNK, .symlink = "ping/."));
        tar_file(t, "loop/x", "x");
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "Too many levels of symbolic links");
        t = tar_new();
        tar_file(t, "ping/x", "x");
        _cleanup_buf_ buf b2 = tar_finish(t);
        unpack_fails(f, &b2, NULL, OCID_ERR_INVALID, "Too many levels of symbolic links");
}

static void test_corrupt_gzip(void **state)
{
        fixture *f = *state;
        _cleanup_buf_ buf b = sample_tar();
        _cleanup_buf_ buf c = gzip_data(b.data, b.len);
        for (size_t i = 20; i < c.len - 20; i += 7)
                c.data[i] ^= 0x5a;
        unpack_fails(f, &c, NULL, OCID_ERR_INVALID, "gzip");
}

static void test_truncated_gzip(void **state)
{
        fixture *f = *state;
        _cleanup_buf_ buf b = sample_tar();
        _cleanup_buf_ buf c = gzip_data(b.data, b.len);
        c.len -= 10;
        unpack_fails(f, &c, NULL, OCID_ERR_INVALID, "gzip: unexpected end");
}

static void test_gzip_trailing_garbage(void **state)
{
        fixture *f = *state;
        _cleanup_buf_ buf b = sample_tar();
        _cleanup_buf_ buf c = gzip_data(b.data, b.len);
        buf_add(&c, "garbage!", 8);
        unpack_fails(f, &c, NULL, OCID_ERR_INVALID, "gzip");
}

static void test_truncated_zstd(void **state)
{
        fixture *f = *state;
        _cleanup_buf_ buf b = sample_tar();
        _cleanup_buf_ buf c = zstd_data(b.data, b.len);
        c.len -= 5;
        unpack_fails(f, &c, NULL, OCID_ERR_INVALID, "zstd");
}

static void test_truncated_tar(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        char big[4096];
        memset(big, 'b', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        tar_file(t, "big", big);
        _cleanup_buf_ buf b = tar_finish(t);
        b.len = 512 + 1000; /* header and part of the data */
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, NULL);
        b.len = 300; /* part of the header */
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, NULL);
}

static void test_not_a_tar(void **state)
{
        fixture *f = *state;
        buf b = { 0 };
        for (int i = 0; i < 100; i++)
                buf_add(&b, "this is not a tar archive. ", 27);
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, "not a tar archive");
        buf_release(&b);
}

static void test_bad_checksum_mid_archive(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        tar_file(t, "a", "a");
        tar_file(t, "b", "b");
        _cleanup_buf_ buf b = tar_finish(t);
        b.data[1024 + 148] ^= 1; /* the second header's checksum */
        unpack_fails(f, &b, NULL, OCID_ERR_INVALID, NULL);
}

/* ---- limits ---- */

static void test_limit_total_size(void **state)
{
        fixture *f = *state;
        char data[601];
        memset(data, 'x', 600);
        data[600] = '\0';
        tarw *t = tar_new();
        tar_file(t, "one", data);
        tar_file(t, "two", data);
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_limits l = UNPACK_DEFAULT_LIMITS;
        l.max_total_size = 1000;
        unpack_fails(f, &b, &l, OCID_ERR_RESOURCE, "'two'");
        l.max_total_size = 1200;
        ocid_error err = OCID_ERROR_INIT;
        unpack_result res = { 0 };
        assert_int_equal(unpack_at(f, &b, 0, &l, &res, &err), 0);
        assert_int_equal(res.size, 1200);
        unpack_result_release(&res);
}

static void test_limit_entry_size(void **state)
{
        fixture *f = *state;
        char data[2001];
        memset(data, 'x', 2000);
        data[2000] = '\0';
        tarw *t = tar_new();
        tar_file(t, "big", data);
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_limits l = UNPACK_DEFAULT_LIMITS;
        l.max_entry_size = 1999;
        unpack_fails(f, &b, &l, OCID_ERR_RESOURCE, "'big': size 2000 exceeds");
        assert_false(exists(f, "big"));
}

static void test_limit_entries(void **state)
{
        fixture *f = *state;
        tarw *t = tar_new();
        for (int i = 0; i < 5; i++) {
                char name[8];
                snprintf(name, sizeof(name), "f%d", i);
                tar_add(t, ENT(.name = name, .type = AE_IFDIR));
        }
        _cleanup_buf_ buf b = tar_finish(t);
        unpack_limits l = UNPACK_DEFAULT_LIMITS;
        l.max_entries = 4;
        unpack_fails(f, &b, &l, OCID_ERR_RESOURCE, "'f4/': more than 4 entries");
        l.max_entries = 5;
        ocid_error err = OCID_ERROR_INIT;
        unpack_result res = { 0 };
        assert_int_equal(unpack_at(f, &b, 0, &l, &res, &err), 0);
        assert_int_equal(res.entries, 5);
        unpack_result_release(&res);
}

/* A small blob expanding to a large stream of zeros after the archive. */
static void test_limit_stream(void **state)
{
        fixture *f = *state;
        _cleanup_buf_ buf b = sample_tar();
        size_t n = 8 << 20;
        char *zeros = calloc(1, n);
        buf_add(&b, zeros, n);
        free(zeros);
        _cleanup_buf_ buf c = zstd_data(b.data, b.len);
        assert_true(c.len < 4096);
        unpack_limits l = { .max_entry_size = 1000, .max_total_size = 1000, .max_entries = 10 };
        unpack_fails(f, &c, &l, OCID_ERR_RESOURCE, "uncompressed stream larger than");
}

static void test_cancelled(void **state)
{
        fixture *f = *state;
        _cleanup_buf_ buf b = sample_tar();
        atomic_bool stop = true;
        unpack_limits l = UNPACK_DEFAULT_LIMITS;
        l.cancelled = &stop;
        unpack_fails(f, &b, &l, OCID_ERR_CANCELLED, "cancelled");
        assert_false(exists(f, "bin"));
}

static void test_null_error(void **state)
{
        fixture *f = *state;
        buf b = { 0 };
        buf_add(&b, "junk", 4);
        static const unpack_limits l = UNPACK_DEFAULT_LIMITS;
        int fd = memfd_create("layer", MFD_CLOEXEC);
        assert_int_equal(write(fd, b.data, b.len), 4);
        lseek(fd, 0, SEEK_SET);
        unpack_result res = { 0 };
        assert_int_equal(layer_unpack(fd, f->layer_fd, &l, &res, NULL), -1);
        assert_null(res.diff_id);
        close(fd);
        buf_release(&b);
        unpack_result_release(NULL);
}

/* Make openat2 fail with ENOSYS, as on kernels before 5.6, in old
 * container sandboxes and under valgrind: unpacking must then resolve
 * paths in userspace, with the same results. */
static void deny_openat2(void)
{
        struct sock_filter filter[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = ARRAY_SIZE(filter), .filter = filter };
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
                perror("seccomp");
                _exit(1);
        }
        if (syscall(SYS_openat2, AT_FDCWD, ".", NULL, 0) >= 0 || errno != ENOSYS)
                _exit(1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_regular_file),
                T(test_special_mode_bits),
                T(test_directories_and_times),
                T(test_existing_directory_updated),
                T(test_root_entry),
                T(test_symlinks),
                T(test_hardlinks),
                T(test_hardlink_missing_target),
                T(test_hardlink_to_directory),
                T(test_hardlink_edge_cases),
                T(test_devices_and_fifos),
                T(test_xattrs),
                T(test_xattr_overlay_refused),
                T(test_bad_xattr_value),
                T(test_whiteouts),
                T(test_opaque_directory),
                T(test_whiteout_of_nothing),
                T(test_diff_id_plain),
                T(test_diff_id_gzip),
                T(test_diff_id_zstd),
                T(test_diff_id_covers_trailing_padding),
                T(test_gzip_multi_member),
                T(test_blob_offset),
                T(test_dir_fd_opath),
                T(test_empty_blob),
                T(test_formats),
                T(test_name_bytes),
                T(test_sparse_file),
                T(test_replacements),
                T(test_no_write_through_hardlink),
                T(test_deep_tree_replaced),
                T(test_attack_dotdot),
                T(test_attack_absolute),
                T(test_attack_symlink_to_root),
                T(test_attack_symlink_dotdot),
                T(test_attack_symlink_chain),
                T(test_attack_symlink_to_outside_dir),
                T(test_attack_dir_replaced_by_symlink),
                T(test_attack_hardlink_host_file),
                T(test_attack_hardlink_outside),
                T(test_attack_whiteout_through_symlink),
                T(test_attack_parent_is_file),
                T(test_empty_name),
                T(test_root_as_non_directory),
                T(test_empty_link_target),
                T(test_owner_out_of_range),
                T(test_name_too_long),
                T(test_symlink_parent_missing),
                T(test_symlink_loop_parent),
                T(test_corrupt_gzip),
                T(test_truncated_gzip),
                T(test_gzip_trailing_garbage),
                T(test_truncated_zstd),
                T(test_truncated_tar),
                T(test_not_a_tar),
                T(test_bad_checksum_mid_archive),
                T(test_limit_total_size),
                T(test_limit_entry_size),
                T(test_limit_entries),
                T(test_limit_stream),
                T(test_cancelled),
                T(test_null_error),
        };
#undef T
        int failed = cmocka_run_group_tests_name("openat2", tests, NULL, NULL);

        /* Everything again, in a child without openat2. */
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
                return 1;
        if (pid == 0) {
                deny_openat2();
                exit(cmocka_run_group_tests_name("no openat2", tests, NULL, NULL) ? 1 : 0);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                failed++;
        return failed ? 1 : 0;
}
