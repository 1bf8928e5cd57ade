/* libFuzzer target for storage/unpack.c: the input is a layer blob (tar,
 * gzip or zstd), unpacked as root into a fresh <tmp>/layer with small
 * limits. Only LLVMFuzzerTestOneInput is defined, so the same file links
 * into the corpus replay of the normal test run.
 *
 * Beyond "no crash": the layer_unpack() contract holds (result or error,
 * never both; only INVALID or RESOURCE for bad input), no fd leaks, and
 * nothing appears outside the layer: <tmp> holds exactly "layer" and an
 * untouched "canary", and "/" lists the same names as before.
 *
 * A custom mutator keeps mutated tar headers' checksums valid (inside
 * gzip and zstd too, by decompressing, mutating and recompressing), so
 * most mutations reach the extraction code instead of dying in
 * libarchive's header check; one in eight mutations stays raw. Replay
 * never calls it.
 *
 * With OCID_FUZZ_NO_OPENAT2=1 in the environment, openat2 is filtered out
 * (seccomp, ENOSYS) before the first input, so the userspace path
 * resolution that replaces it on old kernels is fuzzed instead. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "storage/unpack.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"

#define CANARY_TEXT "canary\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
/* From libFuzzer; absent (weak) when the corpus is only replayed. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size) __attribute__((weak));

#define MUTATE_TAR_MAX (64u << 10)

static uint64_t octal(const uint8_t *p, size_t n)
{
        uint64_t v = 0;
        for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '7'; i++)
                v = v * 8 + (uint64_t)(p[i] - '0');
        return v;
}

/* Recompute the checksum of every header, walking entries by their size
 * fields. */
static void fix_checksums(uint8_t *tar, size_t len)
{
        static const uint8_t zero[512];
        size_t off = 0;
        while (off + 512 <= len) {
                uint8_t *h = tar + off;
                if (memcmp(h, zero, 512) == 0) {
                        off += 512;
                        continue;
                }
                memset(h + 148, ' ', 8);
                unsigned sum = 0;
                for (int i = 0; i < 512; i++)
                        sum += h[i];
                char field[9];
                snprintf(field, sizeof(field), "%06o", sum & 0777777);
                memcpy(h + 148, field, 7);
                uint64_t size = octal(h + 124, 12);
                uint64_t blocks = (size + 511) / 512;
                if (blocks > len / 512)
                        return;
                off += 512 + (size_t)blocks * 512;
        }
}

static size_t mutate_tar(uint8_t *tar, size_t len, size_t max)
{
        len = LLVMFuzzerMutate(tar, len, max);
        fix_checksums(tar, len);
        return len;
}

static size_t gunzip(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
        z_stream z = { 0 };
        if (inflateInit2(&z, 16 + 15) != Z_OK)
                return 0;
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)len;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        int r = inflate(&z, Z_FINISH);
        size_t n = cap - z.avail_out;
        inflateEnd(&z);
        return r == Z_STREAM_END ? n : 0;
}

static size_t gzip(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
        z_stream z = { 0 };
        if (deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                return 0;
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)len;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        int r = deflate(&z, Z_FINISH);
        size_t n = cap - z.avail_out;
        deflateEnd(&z);
        return r == Z_STREAM_END ? n : 0;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
        if (!LLVMFuzzerMutate)
                return size;
        bool is_gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
        bool is_zstd = size >= 4 && data[0] == 0x28 && data[1] == 0xb5 && data[2] == 0x2f &&
                       data[3] == 0xfd;
        if (seed % 8 == 0)
                return LLVMFuzzerMutate(data, size, max_size);
        if (!is_gzip && !is_zstd)
                return mutate_tar(data, size, max_size);

        _cleanup_free_ uint8_t *tar = malloc(MUTATE_TAR_MAX);
        _cleanup_free_ uint8_t *packed = malloc(max_size);
        if (!tar || !packed)
                return LLVMFuzzerMutate(data, size, max_size);
        size_t len;
        if (is_gzip) {
                len = gunzip(data, size, tar, MUTATE_TAR_MAX);
        } else {
                size_t r = ZSTD_decompress(tar, MUTATE_TAR_MAX, data, size);
                len = ZSTD_isError(r) ? 0 : r;
        }
        if (len == 0)
                return LLVMFuzzerMutate(data, size, max_size);
        len = mutate_tar(tar, len, MUTATE_TAR_MAX);
        size_t n;
        if (is_gzip) {
                n = gzip(tar, len, packed, max_size);
        } else {
                size_t r = ZSTD_compress(packed, max_size, tar, len, 1);
                n = ZSTD_isError(r) ? 0 : r;
        }
        if (n == 0)
                return LLVMFuzzerMutate(data, size, max_size);
        memcpy(data, packed, n);
        return n;
}

static int count_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                abort();
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

/* A directory's names in readdir order, as one string. */
static char *listing(const char *path)
{
        DIR *d = opendir(path);
        if (!d)
                abort();
        strbuf sb = STRBUF_INIT;
        struct dirent *de;
        size_t n = 0;
        while ((de = readdir(d))) {
                n++;
                strbuf_adds(&sb, de->d_name);
                strbuf_addch(&sb, '/');
        }
        closedir(d);
        strbuf_addf(&sb, "#%zu", n);
        return strbuf_detach(&sb, NULL);
}

static void check_outside(const char *parent, const char *canary, const struct stat *before)
{
        DIR *d = opendir(parent);
        if (!d)
                abort();
        struct dirent *de;
        int n = 0;
        while ((de = readdir(d))) {
                if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
                        continue;
                if (!STREQ(de->d_name, "layer") && !STREQ(de->d_name, "canary")) {
                        fprintf(stderr, "escape: '%s' next to the layer\n", de->d_name);
                        abort();
                }
                n++;
        }
        closedir(d);
        if (n != 2)
                abort();

        struct stat st;
        if (lstat(canary, &st) < 0 || !S_ISREG(st.st_mode) || st.st_ino != before->st_ino ||
            st.st_nlink != 1 || st.st_mode != before->st_mode || st.st_uid != before->st_uid ||
            st.st_gid != before->st_gid || st.st_size != (off_t)strlen(CANARY_TEXT) ||
            st.st_mtim.tv_sec != before->st_mtim.tv_sec ||
            st.st_mtim.tv_nsec != before->st_mtim.tv_nsec)
                abort();
        char text[32] = { 0 };
        int fd = open(canary, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || read(fd, text, sizeof(text) - 1) != (ssize_t)strlen(CANARY_TEXT))
                abort();
        close(fd);
        if (!STREQ(text, CANARY_TEXT))
                abort();
        char names[256];
        if (llistxattr(canary, names, sizeof(names)) > 0 ||
            llistxattr(parent, names, sizeof(names)) > 0)
                abort();
}

static void check_result(int r, const unpack_result *res, const ocid_error *err,
                         const unpack_limits *l)
{
        if (r == 0) {
                if (err->kind != OCID_OK || err->message || !res->diff_id ||
                    strlen(res->diff_id) != 71 || strncmp(res->diff_id, "sha256:", 7) != 0 ||
                    strspn(res->diff_id + 7, "0123456789abcdef") != 64 ||
                    res->entries > l->max_entries || res->size > l->max_total_size)
                        abort();
                return;
        }
        if (r != -1 || res->diff_id || !err->message)
                abort();
        if (err->kind != OCID_ERR_INVALID && err->kind != OCID_ERR_RESOURCE) {
                fprintf(stderr, "unexpected error kind: %s: %s\n", ocid_error_kind_name(err->kind),
                        err->message);
                abort();
        }
}

static void deny_openat2(void)
{
        struct sock_filter filter[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static char *root_before;
        if (!root_before) {
                const char *no_openat2 = getenv("OCID_FUZZ_NO_OPENAT2");
                if (no_openat2 && STREQ(no_openat2, "1"))
                        deny_openat2();
                root_before = listing("/");
        }

        int fds = count_fds();
        char parent[] = "/tmp/ocid-fuzz-unpack-XXXXXX";
        if (!mkdtemp(parent))
                abort();
        _cleanup_free_ char *layer = fs_path_join(parent, "layer");
        _cleanup_free_ char *canary = fs_path_join(parent, "canary");
        if (mkdir(layer, 0755) < 0)
                abort();
        int cfd = open(canary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (cfd < 0 || write(cfd, CANARY_TEXT, strlen(CANARY_TEXT)) != (ssize_t)strlen(CANARY_TEXT))
                abort();
        close(cfd);
        struct stat canary_st;
        if (lstat(canary, &canary_st) < 0)
                abort();

        int blob = memfd_create("fuzz-layer", MFD_CLOEXEC);
        if (blob < 0 || (size && write(blob, data, size) != (ssize_t)size) ||
            lseek(blob, 0, SEEK_SET) != 0)
                abort();
        int dir = open(layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
                abort();

        const unpack_limits limits = {
                /* Small enough for inputs of a few KiB to reach each. */
                .max_entry_size = 64 << 10,
                .max_total_size = 128 << 10,
                .max_entries = 24,
        };
        unpack_result res = { 0 };
        ocid_error err = OCID_ERROR_INIT;
        int r = layer_unpack(blob, dir, &limits, &res, &err);
        check_result(r, &res, &err, &limits);
        unpack_result_release(&res);
        ocid_error_clear(&err);
        close(dir);
        close(blob);

        check_outside(parent, canary, &canary_st);
        _cleanup_free_ char *root_after = listing("/");
        if (!STREQ(root_before, root_after)) {
                fprintf(stderr, "escape: '/' changed: %s -> %s\n", root_before, root_after);
                abort();
        }
        int q = fs_remove_tree(parent);
        if (q < 0) {
                fprintf(stderr, "remove '%s': %s\n", parent, strerror(-q));
                abort();
        }
        if (count_fds() != fds)
                abort();
        return 0;
}
