#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "util/cleanup.h"
#include "util/error.h"

#include <errno.h>

static void test_init(void **state)
{
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(err.kind, OCID_OK);
        assert_null(err.message);
}

static void test_set(void **state)
{
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(ocid_error_set(&err, OCID_ERR_NOT_FOUND, "image '%s' not known", "busybox"),
                         -1);
        assert_int_equal(err.kind, OCID_ERR_NOT_FOUND);
        assert_string_equal(err.message, "image 'busybox' not known");
        ocid_error_clear(&err);

        /* NULL means the caller does not want details. */
        assert_int_equal(ocid_error_set(NULL, OCID_ERR_INTERNAL, "ignored"), -1);
}

static void test_set_keeps_first(void **state)
{
        ocid_error err = OCID_ERROR_INIT;
        ocid_error_set(&err, OCID_ERR_INVALID, "root cause");
        assert_int_equal(ocid_error_set(&err, OCID_ERR_INTERNAL, "later"), -1);
        assert_int_equal(ocid_error_set_errno(&err, OCID_ERR_UNAVAILABLE, EIO, "later too"), -1);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        assert_string_equal(err.message, "root cause");
        ocid_error_clear(&err);
}

static void test_set_errno(void **state)
{
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(ocid_error_set_errno(&err, OCID_ERR_NOT_FOUND, ENOENT, "open '%s'", "/x"), -1);
        assert_int_equal(err.kind, OCID_ERR_NOT_FOUND);
        assert_string_equal(err.message, "open '/x': No such file or directory");
        ocid_error_clear(&err);

        /* util/ hands out -errno; both signs mean the same. */
        ocid_error_set_errno(&err, OCID_ERR_INTERNAL, -EACCES, "write '%s'", "/y");
        assert_string_equal(err.message, "write '/y': Permission denied");
        ocid_error_clear(&err);

        assert_int_equal(ocid_error_set_errno(NULL, OCID_ERR_INTERNAL, EIO, "x"), -1);
}

static void test_wrap(void **state)
{
        ocid_error err = OCID_ERROR_INIT;
        ocid_error_set(&err, OCID_ERR_NOT_FOUND, "manifest unknown");
        assert_int_equal(ocid_error_wrap(&err, "pull '%s'", "localhost:5000/busybox:1.36"), -1);
        assert_string_equal(err.message, "pull 'localhost:5000/busybox:1.36': manifest unknown");
        ocid_error_wrap(&err, "create container %d", 7);
        assert_string_equal(err.message,
                            "create container 7: pull 'localhost:5000/busybox:1.36': manifest unknown");
        /* Wrapping adds context; the kind is the root cause's. */
        assert_int_equal(err.kind, OCID_ERR_NOT_FOUND);
        ocid_error_clear(&err);
}

static void test_wrap_unset(void **state)
{
        /* Nothing to wrap: stays OK rather than inventing an error. */
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(ocid_error_wrap(&err, "context"), -1);
        assert_int_equal(err.kind, OCID_OK);
        assert_null(err.message);
        assert_int_equal(ocid_error_wrap(NULL, "context"), -1);
}

static void test_clear(void **state)
{
        ocid_error err = OCID_ERROR_INIT;
        ocid_error_set(&err, OCID_ERR_EXISTS, "name 'x' is taken");
        ocid_error_clear(&err);
        assert_int_equal(err.kind, OCID_OK);
        assert_null(err.message);
        ocid_error_clear(&err);
        ocid_error_clear(NULL);

        /* After clear the next failure is recorded again. */
        ocid_error_set(&err, OCID_ERR_DEADLINE, "second");
        assert_int_equal(err.kind, OCID_ERR_DEADLINE);
        assert_string_equal(err.message, "second");
        ocid_error_clear(&err);
}

static void test_message_formatting(void **state)
{
        ocid_error err = OCID_ERROR_INIT;
        char big[3000];
        memset(big, 'z', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        ocid_error_set(&err, OCID_ERR_INVALID, "100%% of '%s'", big);
        assert_int_equal(strlen(err.message), strlen("100% of ''") + sizeof(big) - 1);
        assert_memory_equal(err.message, "100% of '", 9);
        ocid_error_clear(&err);
}

static void test_kind_names(void **state)
{
        static const struct {
                ocid_error_kind kind;
                const char *name;
        } table[] = {
                { OCID_OK, "ok" },
                { OCID_ERR_INTERNAL, "internal" },
                { OCID_ERR_INVALID, "invalid argument" },
                { OCID_ERR_NOT_FOUND, "not found" },
                { OCID_ERR_EXISTS, "already exists" },
                { OCID_ERR_PRECONDITION, "failed precondition" },
                { OCID_ERR_DEADLINE, "deadline exceeded" },
                { OCID_ERR_CANCELLED, "cancelled" },
                { OCID_ERR_UNAVAILABLE, "unavailable" },
                { OCID_ERR_PERMISSION, "permission denied" },
                { OCID_ERR_RESOURCE, "resource exhausted" },
                { OCID_ERR_UNIMPLEMENTED, "unimplemented" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(table); i++)
                assert_string_equal(ocid_error_kind_name(table[i].kind), table[i].name);
        /* Every kind up to the last has a name of its own. */
        for (int k = OCID_OK; k <= OCID_ERR_UNIMPLEMENTED; k++) {
                const char *name = ocid_error_kind_name((ocid_error_kind)k);
                assert_non_null(name);
                assert_string_not_equal(name, "unknown");
                for (int j = OCID_OK; j < k; j++)
                        assert_string_not_equal(name, ocid_error_kind_name((ocid_error_kind)j));
        }
        assert_string_equal(ocid_error_kind_name((ocid_error_kind)(OCID_ERR_UNIMPLEMENTED + 1)),
                            "unknown");
        assert_string_equal(ocid_error_kind_name((ocid_error_kind)-1), "unknown");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_init),
                cmocka_unit_test(test_set),
                cmocka_unit_test(test_set_keeps_first),
                cmocka_unit_test(test_set_errno),
                cmocka_unit_test(test_wrap),
                cmocka_unit_test(test_wrap_unset),
                cmocka_unit_test(test_clear),
                cmocka_unit_test(test_message_formatting),
                cmocka_unit_test(test_kind_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
