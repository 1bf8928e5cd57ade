#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "util/log.h"

#include <string.h>

#define TAIL "PRIORITY=6\nCODE_FILE=src/a.c\nCODE_LINE=42\nSYSLOG_IDENTIFIER=ocid\n"

/* buf is one byte larger than size and pre-filled, to catch overruns. */
static void assert_encodes(size_t size, const char *msg, const void *want, size_t want_len)
{
        char buf[512];
        assert_true(size < sizeof(buf));
        memset(buf, 0x5a, sizeof(buf));
        size_t len = log_journal_encode(buf, size, 6, "src/a.c", 42, msg);
        assert_int_equal(len, want_len);
        assert_memory_equal(buf, want, want_len);
        assert_int_equal(buf[size], 0x5a);
}

static void test_simple(void **state)
{
        static const char want[] = "MESSAGE=hello, world\n" TAIL;
        assert_encodes(500, "hello, world", want, sizeof(want) - 1);
        assert_encodes(sizeof(want) - 1, "hello, world", want, sizeof(want) - 1);
}

static void test_newline_is_binary(void **state)
{
        static const char want[] = "MESSAGE\n\x0b\0\0\0\0\0\0\0line1\nline2\n" TAIL;
        assert_encodes(500, "line1\nline2", want, sizeof(want) - 1);
}

static void test_too_long_cuts_message(void **state)
{
        static const char want[] = "MESSAGE=hello\n" TAIL;
        assert_encodes(sizeof(want) - 1, "hello, world", want, sizeof(want) - 1);
        /* Room for "line1" in binary form; cut before its newline, the
         * message goes back to the shorter text form. */
        static const char cut[] = "MESSAGE=line1\n" TAIL;
        assert_encodes(sizeof(cut) - 1 + 8, "line1\nline2", cut, sizeof(cut) - 1);
        static const char empty[] = "MESSAGE=\n" TAIL;
        assert_encodes(sizeof(empty) - 1, "hello", empty, sizeof(empty) - 1);
        assert_encodes(sizeof(empty) - 2, "hello", "", 0);
        assert_encodes(0, "hello", "", 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_simple),
                cmocka_unit_test(test_newline_is_binary),
                cmocka_unit_test(test_too_long_cuts_message),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
