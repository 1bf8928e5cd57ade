#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "util/cleanup.h"
#include "util/strbuf.h"
#include "util/strv.h"

#include <sys/wait.h>

/* Run fn in a child and report whether it died of SIGABRT: the documented
 * reaction to allocation failure and size overflow. */
static bool aborts(void (*fn)(void))
{
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                signal(SIGABRT, SIG_DFL);
                fn();
                _exit(0);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void assert_invariants(const strbuf *sb)
{
        assert_non_null(sb->buf);
        assert_int_equal(sb->buf[sb->len], '\0');
        assert_true(sb->alloc == 0 || sb->len < sb->alloc);
}

/* ---- strbuf ---- */

static void test_strbuf_init(void **state)
{
        strbuf a = STRBUF_INIT;
        assert_invariants(&a);
        assert_string_equal(a.buf, "");
        assert_int_equal(a.len, 0);
        assert_int_equal(a.alloc, 0);

        strbuf b;
        memset(&b, 0xaa, sizeof(b));
        strbuf_init(&b);
        assert_invariants(&b);
        assert_string_equal(b.buf, "");
        assert_int_equal(b.alloc, 0);

        /* Releasing or resetting a buffer that never allocated is fine and
         * must not write to the shared empty string. */
        strbuf_reset(&a);
        strbuf_release(&a);
        strbuf_release(&b);
        assert_invariants(&a);
        assert_string_equal(strbuf_empty_, "");
}

static void test_strbuf_add(void **state)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        strbuf_add(&sb, "hello", 5);
        strbuf_addch(&sb, ',');
        strbuf_adds(&sb, " world");
        strbuf_addf(&sb, " %d%c", 42, '!');
        assert_invariants(&sb);
        assert_string_equal(sb.buf, "hello, world 42!");
        assert_int_equal(sb.len, 16);

        strbuf_add(&sb, "", 0);
        strbuf_adds(&sb, "");
        assert_int_equal(sb.len, 16);
        assert_invariants(&sb);
}

static void test_strbuf_binary(void **state)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        strbuf_add(&sb, "a\0b", 3);
        strbuf_addch(&sb, '\0');
        assert_int_equal(sb.len, 4);
        assert_memory_equal(sb.buf, "a\0b\0", 5);
        assert_invariants(&sb);
}

static void test_strbuf_growth(void **state)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        for (size_t i = 0; i < 100000; i++)
                strbuf_addch(&sb, (char)('a' + i % 26));
        assert_int_equal(sb.len, 100000);
        assert_invariants(&sb);
        for (size_t i = 0; i < 100000; i++)
                if (sb.buf[i] != (char)('a' + i % 26))
                        fail_msg("byte %zu", i);

        /* grow reserves room without changing the content. */
        strbuf g = STRBUF_INIT;
        strbuf_grow(&g, 0);
        assert_true(g.alloc >= 1);
        assert_string_equal(g.buf, "");
        strbuf_adds(&g, "keep");
        strbuf_grow(&g, 1000);
        assert_true(g.alloc >= g.len + 1000 + 1);
        assert_string_equal(g.buf, "keep");
        char *before = g.buf;
        strbuf_add(&g, sb.buf, 1000); /* fits: no reallocation */
        assert_ptr_equal(g.buf, before);
        assert_invariants(&g);
        strbuf_release(&g);
}

static void test_strbuf_addf_long(void **state)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        char big[5000];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        strbuf_adds(&sb, "<");
        strbuf_addf(&sb, "%s|%s", big, "end");
        assert_int_equal(sb.len, 1 + 4999 + 4);
        assert_int_equal(sb.buf[0], '<');
        assert_memory_equal(sb.buf + 1, big, 4999);
        assert_string_equal(sb.buf + 5000, "|end");
        assert_invariants(&sb);

        strbuf e = STRBUF_INIT;
        strbuf_addf(&e, "%s", "");
        assert_int_equal(e.len, 0);
        assert_invariants(&e);
        strbuf_release(&e);
}

static void test_strbuf_addf_boundaries(void **state)
{
        /* Every output length against every fill level around the spare
         * room: fits exactly, one byte short, needs a second pass. */
        char piece[300];
        memset(piece, 'p', sizeof(piece));
        for (size_t fill = 0; fill < 140; fill += 3) {
                for (int k = 0; k < 260; k++) {
                        strbuf sb = STRBUF_INIT;
                        for (size_t i = 0; i < fill; i++)
                                strbuf_addch(&sb, 'f');
                        strbuf_addf(&sb, "%.*s|", k, piece);
                        assert_int_equal(sb.len, fill + (size_t)k + 1);
                        assert_invariants(&sb);
                        for (size_t i = 0; i < fill; i++)
                                assert_int_equal(sb.buf[i], 'f');
                        for (size_t i = fill; i < fill + (size_t)k; i++)
                                assert_int_equal(sb.buf[i], 'p');
                        assert_int_equal(sb.buf[fill + (size_t)k], '|');
                        strbuf_release(&sb);
                }
        }
}

static void add_via_va_list(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_via_va_list(strbuf *sb, const char *fmt, ...)
{
        /* vaddf may format twice: it must copy the va_list, not reuse it. */
        va_list ap;
        va_start(ap, fmt);
        strbuf_vaddf(sb, fmt, ap);
        va_end(ap);
}

static void test_strbuf_vaddf(void **state)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        add_via_va_list(&sb, "%s=%d;", "a", 1);
        add_via_va_list(&sb, "%s=%lu", "b", 1234567890UL);
        assert_string_equal(sb.buf, "a=1;b=1234567890");
        /* Too long for the spare room: the second pass re-reads the args. */
        char long_arg[500];
        memset(long_arg, 'L', sizeof(long_arg) - 1);
        long_arg[sizeof(long_arg) - 1] = '\0';
        add_via_va_list(&sb, "[%s|%d]", long_arg, 7);
        assert_int_equal(sb.len, 16 + 1 + 499 + 3);
        assert_memory_equal(sb.buf + 17, long_arg, 499);
        assert_string_equal(sb.buf + 16 + 1 + 499, "|7]");
}

static void test_strbuf_reset(void **state)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "something long enough");
        size_t alloc = sb.alloc;
        strbuf_reset(&sb);
        assert_int_equal(sb.len, 0);
        assert_string_equal(sb.buf, "");
        assert_int_equal(sb.alloc, alloc);
        strbuf_adds(&sb, "again");
        assert_string_equal(sb.buf, "again");
}

static void test_strbuf_detach(void **state)
{
        strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "owned");
        size_t len = 0;
        char *s = strbuf_detach(&sb, &len);
        assert_string_equal(s, "owned");
        assert_int_equal(len, 5);
        free(s);
        /* sb is empty and reusable. */
        assert_int_equal(sb.len, 0);
        assert_int_equal(sb.alloc, 0);
        assert_string_equal(sb.buf, "");
        strbuf_adds(&sb, "x");
        strbuf_release(&sb);

        /* A never-used buffer still detaches to a heap string. */
        strbuf empty = STRBUF_INIT;
        len = 99;
        s = strbuf_detach(&empty, &len);
        assert_non_null(s);
        assert_ptr_not_equal(s, strbuf_empty_);
        assert_string_equal(s, "");
        assert_int_equal(len, 0);
        free(s);

        strbuf n = STRBUF_INIT;
        strbuf_adds(&n, "no len");
        s = strbuf_detach(&n, NULL);
        assert_string_equal(s, "no len");
        free(s);
}

static void grow_huge(void)
{
        strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "x");
        strbuf_grow(&sb, SIZE_MAX - 1);
}

static void test_strbuf_overflow_aborts(void **state)
{
        assert_true(aborts(grow_huge));
}

/* ---- strv ---- */

static void test_strv_push(void **state)
{
        _cleanup_strv_ char **v = NULL;
        assert_int_equal(strv_length(v), 0);
        char src[] = "first";
        v = strv_push(v, src);
        src[0] = 'X'; /* push copied it */
        v = strv_push_take(v, strdup("second"));
        v = strv_pushf(v, "n=%d", 3);
        assert_int_equal(strv_length(v), 3);
        assert_string_equal(v[0], "first");
        assert_string_equal(v[1], "second");
        assert_string_equal(v[2], "n=3");
        assert_null(v[3]);
}

static void test_strv_contains(void **state)
{
        _cleanup_strv_ char **v = NULL;
        assert_false(strv_contains(v, "a"));
        v = strv_push(v, "a");
        v = strv_push(v, "bc");
        assert_true(strv_contains(v, "a"));
        assert_true(strv_contains(v, "bc"));
        assert_false(strv_contains(v, "b"));
        assert_false(strv_contains(v, ""));
        assert_false(strv_contains(v, "A"));
}

static void assert_split(const char *s, const char *sep, char *const *expect)
{
        _cleanup_strv_ char **v = strv_split(s, sep);
        assert_non_null(v);
        size_t n = strv_length(expect);
        assert_int_equal(strv_length(v), n);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(v[i], expect[i]);
        assert_null(v[n]);
}

#define V(...) ((char *[]){ __VA_ARGS__, NULL })

static void test_strv_split(void **state)
{
        assert_split("a:b:c", ":", V("a", "b", "c"));
        assert_split("a::b", ":", V("a", "b"));
        assert_split(":a:", ":", V("a"));
        assert_split("::", ":", (char *[]){ NULL });
        assert_split("", ":", (char *[]){ NULL });
        assert_split("abc", ":", V("abc"));
        assert_split(" a\tb \t c ", " \t", V("a", "b", "c"));
        assert_split("/usr/local/bin:/usr/bin", ":", V("/usr/local/bin", "/usr/bin"));
        assert_split("a,b", "", V("a,b"));
}

static void test_strv_join(void **state)
{
        _cleanup_free_ char *a = strv_join(NULL, ",");
        assert_string_equal(a, "");
        _cleanup_free_ char *b = strv_join(V("one"), ", ");
        assert_string_equal(b, "one");
        _cleanup_free_ char *c = strv_join(V("a", "b", "c"), ", ");
        assert_string_equal(c, "a, b, c");
        _cleanup_free_ char *d = strv_join(V("a", "", "c"), "");
        assert_string_equal(d, "ac");
        _cleanup_free_ char *e = strv_join((char *[]){ NULL }, ":");
        assert_string_equal(e, "");

        /* split and join round-trip when there are no empty pieces. */
        _cleanup_strv_ char **v = strv_split("x:y:z", ":");
        _cleanup_free_ char *f = strv_join(v, ":");
        assert_string_equal(f, "x:y:z");
}

static void test_strv_free(void **state)
{
        strv_free(NULL);
        char **v = strv_split("a b c", " ");
        strv_free(v);
        _cleanup_strv_ char **scoped = strv_push(NULL, "freed at scope end");
        assert_int_equal(strv_length(scoped), 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_strbuf_init),
                cmocka_unit_test(test_strbuf_add),
                cmocka_unit_test(test_strbuf_binary),
                cmocka_unit_test(test_strbuf_growth),
                cmocka_unit_test(test_strbuf_addf_long),
                cmocka_unit_test(test_strbuf_addf_boundaries),
                cmocka_unit_test(test_strbuf_vaddf),
                cmocka_unit_test(test_strbuf_reset),
                cmocka_unit_test(test_strbuf_detach),
                cmocka_unit_test(test_strbuf_overflow_aborts),
                cmocka_unit_test(test_strv_push),
                cmocka_unit_test(test_strv_contains),
                cmocka_unit_test(test_strv_split),
                cmocka_unit_test(test_strv_join),
                cmocka_unit_test(test_strv_free),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
