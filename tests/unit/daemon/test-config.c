/* The daemon configuration: precedence of defaults, file, drop-ins and
 * flags; errors that name what is wrong; docs that list every key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/config.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
        char dir[64];
        char file[96];
        char dropins[96];
} fixture;

static int setup(void **state)
{
        fixture *f = calloc(1, sizeof(*f));
        strcpy(f->dir, "/tmp/ocid-config-test.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->file, sizeof(f->file), "%s/ocid.conf", f->dir);
        snprintf(f->dropins, sizeof(f->dropins), "%s/conf.d", f->dir);
        assert_int_equal(mkdir(f->dropins, 0755), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        fs_remove_tree(f->dir);
        free(f);
        return 0;
}

static void write_text(const char *path, const char *text)
{
        assert_int_equal(fs_write_file_atomic(path, text, strlen(text), 0644), 0);
}

/* Load with --config/--config-dir pointing into the fixture plus extra flags. */
static int load(fixture *f, ocid_config *cfg, ocid_error *err, ...)
{
        char *argv[32] = { "ocid", "--config", f->file, "--config-dir", f->dropins };
        int argc = 5;
        va_list ap;
        va_start(ap, err);
        for (char *a; (a = va_arg(ap, char *));)
                argv[argc++] = a;
        va_end(ap);
        return config_load(cfg, argc, argv, 1, err);
}

static void test_defaults(void **state)
{
        fixture *f = *state;
        write_text(f->file, "");
        ocid_config cfg;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(load(f, &cfg, &err, NULL), 0);
        assert_string_equal(cfg.root, "/var/lib/ocid");
        assert_string_equal(cfg.runroot, "/run/ocid");
        assert_string_equal(cfg.listen, "/run/ocid/ocid.sock");
        assert_string_equal(cfg.log_level, "info");
        assert_int_equal(cfg.grpc_max_recv_msg_size, 16 * 1024 * 1024);
        assert_int_equal(cfg.shutdown_timeout, 10);
        assert_false(cfg.log_to_journald);
        assert_int_equal(strv_length(cfg.plugin_dirs), 2);
        assert_string_equal(cfg.plugin_dirs[0], "/opt/cni/bin");
        /* No systemd on the test machines: the automatic choice is cgroupfs. */
        struct stat st;
        if (stat("/run/systemd/system", &st) < 0)
                assert_string_equal(cfg.cgroup_manager, "cgroupfs");
        config_release(&cfg);
}

static void test_precedence(void **state)
{
        fixture *f = *state;
        write_text(f->file, "[ocid]\nroot = \"/from/file\"\nrunroot = \"/run/file\"\n"
                            "[ocid.runtime]\nlog_level = \"debug\"\nshutdown_timeout = 3\n"
                            "[ocid.network]\nplugin_dirs = [\"/a\", \"/b\", \"/c\"]\n");
        char dropin[160];
        snprintf(dropin, sizeof(dropin), "%s/10-first.conf", f->dropins);
        write_text(dropin, "[ocid]\nrunroot = \"/run/dropin10\"\n");
        snprintf(dropin, sizeof(dropin), "%s/20-second.conf", f->dropins);
        write_text(dropin, "[ocid]\nrunroot = \"/run/dropin20\"\n[ocid.runtime]\nlog_to_journald = true\n");
        snprintf(dropin, sizeof(dropin), "%s/30-ignored.toml", f->dropins);
        write_text(dropin, "this is not read");

        ocid_config cfg;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(load(f, &cfg, &err, "--log-level", "trace", "--cni-plugin-dir", "/x",
                              "--cni-plugin-dir=/y", "--log-journald=false", NULL), 0);
        assert_string_equal(cfg.root, "/from/file");
        assert_string_equal(cfg.runroot, "/run/dropin20");
        assert_string_equal(cfg.log_level, "trace");
        assert_int_equal(cfg.shutdown_timeout, 3);
        assert_false(cfg.log_to_journald);
        /* The first list flag replaces the file's list, the next appends. */
        assert_int_equal(strv_length(cfg.plugin_dirs), 2);
        assert_string_equal(cfg.plugin_dirs[0], "/x");
        assert_string_equal(cfg.plugin_dirs[1], "/y");
        config_release(&cfg);
}

static void expect_error(fixture *f, const char *text, const char *needle, ...)
{
        write_text(f->file, text);
        char *argv[32] = { "ocid", "--config", f->file, "--config-dir", f->dropins };
        int argc = 5;
        va_list ap;
        va_start(ap, needle);
        for (char *a; (a = va_arg(ap, char *));)
                argv[argc++] = a;
        va_end(ap);
        ocid_config cfg;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(config_load(&cfg, argc, argv, 1, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        if (!strstr(err.message, needle))
                fail_msg("error '%s' does not mention '%s'", err.message, needle);
        ocid_error_clear(&err);
        config_release(&cfg);
}

static void test_errors(void **state)
{
        fixture *f = *state;
        expect_error(f, "[ocid.api]\nlisen = \"/x\"\n", "unknown key 'ocid.api.lisen'", NULL);
        expect_error(f, "[ocid.apis]\nlisten = \"/x\"\n", "unknown table [ocid.apis]", NULL);
        expect_error(f, "root = \"/x\"\n", "unknown key 'root'", NULL);
        expect_error(f, "[ocid.runtime]\nshutdown_timeout = \"ten\"\n",
                     "ocid.runtime.shutdown_timeout: expected a non-negative integer", NULL);
        expect_error(f, "[ocid.runtime]\nshutdown_timeout = -1\n", "non-negative", NULL);
        expect_error(f, "[ocid.network]\nplugin_dirs = [1]\n", "expected a list of strings", NULL);
        expect_error(f, "[ocid\n", "ocid.conf: line 1", NULL);
        expect_error(f, "[ocid.runtime]\nlog_level = \"loud\"\n", "log_level 'loud'", NULL);
        expect_error(f, "[ocid.runtime]\ncgroup_manager = \"cgroupv3\"\n", "cgroup_manager 'cgroupv3'", NULL);
        expect_error(f, "[ocid.api]\nlisten = \"relative.sock\"\n", "absolute path", NULL);
        expect_error(f, "", "unknown flag '--no-such-flag'", "--no-such-flag", NULL);
        expect_error(f, "", "'abc' is not a number", "--shutdown-timeout", "abc", NULL);
        expect_error(f, "", "needs a value", "--root", NULL);
        expect_error(f, "", "unexpected argument 'extra'", "extra", NULL);

        /* A file named with --config must exist; the default one need not. */
        char *argv[] = { "ocid", "--config", "/nonexistent/ocid.conf", NULL };
        ocid_config cfg;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(config_load(&cfg, 3, argv, 1, &err), -1);
        assert_non_null(strstr(err.message, "cannot read /nonexistent/ocid.conf"));
        ocid_error_clear(&err);
        config_release(&cfg);
}

static void test_format_round_trip(void **state)
{
        fixture *f = *state;
        write_text(f->file, "[ocid]\nroot = \"/q\\\"uoted\"\n[ocid.network]\nplugin_dirs = []\n");
        ocid_config cfg;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(load(f, &cfg, &err, NULL), 0);
        strbuf out = STRBUF_INIT;
        config_format_toml(&cfg, &out);
        config_release(&cfg);
        /* What `ocid config` prints must load back to the same values. */
        write_text(f->file, out.buf);
        strbuf_release(&out);
        assert_int_equal(load(f, &cfg, &err, NULL), 0);
        assert_string_equal(cfg.root, "/q\"uoted");
        assert_int_equal(strv_length(cfg.plugin_dirs), 0);
        config_release(&cfg);
}

static void test_docs_list_every_key(void **state)
{
        const char *src = getenv("OCID_SOURCE_DIR");
        assert_non_null(src);
        _cleanup_free_ char *path = fs_path_join(src, "docs/configuration.md");
        _cleanup_free_ char *doc = NULL;
        size_t len;
        assert_int_equal(fs_read_file(path, 1 << 20, &doc, &len), 0);
        const char *key, *flag;
        for (size_t i = 0; config_key_at(i, &key, &flag); i++) {
                /* "ocid.api.listen" is documented as "[ocid.api] listen". */
                char want[160], want_flag[80];
                const char *dot = strrchr(key, '.');
                snprintf(want, sizeof(want), "`[%.*s] %s`", (int)(dot - key), key, dot + 1);
                snprintf(want_flag, sizeof(want_flag), "`--%s", flag);
                if (!strstr(doc, want))
                        fail_msg("docs/configuration.md does not document %s", want);
                if (!strstr(doc, want_flag))
                        fail_msg("docs/configuration.md does not document %s", want_flag);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
                cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
                cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_format_round_trip, setup, teardown),
                cmocka_unit_test(test_docs_list_every_key),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
