/* Replays fuzz corpora without libFuzzer: calls LLVMFuzzerTestOneInput once
 * for every file named on the command line and every regular file inside
 * the directories named there (recursively, in name order; dot files are
 * skipped). Linked with one fuzz target, it runs as an ordinary test in the
 * normal build, with gcc and the sanitizers of the build.
 *
 * Each input is copied into a buffer of exactly its size, so that ASan sees
 * a read past the end. A target reports a failure by crashing (abort,
 * sanitizer); replay fails when a path cannot be read or when no input was
 * found at all (a misconfigured corpus path must not pass silently). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target, as with libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static unsigned replayed;

static int replay_file(const char *path)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                close(fd);
                return -1;
        }
        size_t size = (size_t)st.st_size;
        uint8_t *buf = malloc(size ? size : 1);
        if (!buf) {
                close(fd);
                return -1;
        }
        size_t got = 0;
        while (got < size) {
                ssize_t n = read(fd, buf + got, size - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        fprintf(stderr, "replay: %s: short read\n", path);
                        free(buf);
                        close(fd);
                        return -1;
                }
                got += (size_t)n;
        }
        close(fd);
        /* A stable name in the log tells which input crashed. */
        fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
        LLVMFuzzerTestOneInput(buf, size);
        free(buf);
        replayed++;
        return 0;
}

static int skip_dots(const struct dirent *d)
{
        return d->d_name[0] != '.';
}

static int replay_path(const char *path)
{
        struct stat st;
        if (stat(path, &st) < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        if (!S_ISDIR(st.st_mode))
                return replay_file(path);

        struct dirent **names = NULL;
        int n = scandir(path, &names, skip_dots, alphasort);
        if (n < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        int r = 0;
        for (int i = 0; i < n; i++) {
                char *child = NULL;
                if (r == 0 && asprintf(&child, "%s/%s", path, names[i]->d_name) >= 0) {
                        r = replay_path(child);
                        free(child);
                }
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: %s CORPUS-DIR-OR-FILE...\n", argv[0]);
                return 2;
        }
        if (LLVMFuzzerInitialize)
                LLVMFuzzerInitialize(&argc, &argv);
        for (int i = 1; i < argc; i++)
                if (replay_path(argv[i]) < 0)
                        return 1;
        if (replayed == 0) {
                fprintf(stderr, "replay: no inputs found\n");
                return 1;
        }
        printf("replayed %u inputs\n", replayed);
        return 0;
}
