/* libFuzzer target for storage/unpack.c: the input is a layer blob (tar,
 * gzip or zstd), unpacked as root into a fresh <tmp>/layer with small
 * limits. Only LLVMFuzzerTestOneInput is defined, so the same file links
 * into the corpus replay of the normal test run.
 *
 * Beyond "no crash": the layer_unpack() contract holds (result or error,
 * never both; only INVALID or RESOURCE for bad input), no fd leaks, and
 * nothing appears outside the layer: <tmp> holds exactly "layer" and an
 * untouched "canary", and "/" lists the same names as before. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "storage/unpack.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"

#define CANARY_TEXT "canary\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
        if (llistxattr(canary, names, sizeof(names)) > 0 || llistxattr(parent, names, sizeof(names)) > 0)
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static char *root_before;
        if (!root_before)
                root_before = listing("/");

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
                .max_entry_size = 64 << 10,
                .max_total_size = 1 << 20,
                .max_entries = 256,
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
