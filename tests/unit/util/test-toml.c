/* toml_parse(): values as json-c sees them, the table-definition rules of
 * TOML 1.0, and the exact line every error names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "util/cleanup.h"
#include "util/strbuf.h"
#include "util/toml.h"

#include <math.h>
#include <stdbool.h>

#include <json-c/json.h>

DEFINE_CLEANUP_FUNC(struct json_object, json_object_put)

/* ---- helpers ---- */

static struct json_object *parse_len(const char *text, size_t len)
{
        struct json_object *root = NULL;
        ocid_error err = OCID_ERROR_INIT;
        int r = toml_parse(text, len, &root, &err);
        if (r < 0)
                print_message("unexpected error for:\n%s\n-> %s\n", text, err.message);
        assert_int_equal(r, 0);
        assert_int_equal(err.kind, OCID_OK);
        assert_null(err.message);
        assert_non_null(root);
        assert_true(json_object_is_type(root, json_type_object));
        return root;
}

static struct json_object *parse(const char *text)
{
        return parse_len(text, strlen(text));
}

/* Fails with "line <line>: ..." containing needle, leaving *ret alone. */
static void expect_error(const char *text, int line, const char *needle)
{
        struct json_object *sentinel = (struct json_object *)&sentinel;
        struct json_object *root = sentinel;
        ocid_error err = OCID_ERROR_INIT;
        int r = toml_parse(text, strlen(text), &root, &err);

        if (r == 0) {
                print_message("expected an error for:\n%s\n-> got %s\n", text,
                              json_object_to_json_string(root));
                json_object_put(root);
                fail();
        }
        assert_int_equal(r, -1);
        assert_ptr_equal(root, sentinel);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        assert_non_null(err.message);

        char prefix[32];
        snprintf(prefix, sizeof(prefix), "line %d: ", line);
        if (strncmp(err.message, prefix, strlen(prefix)) != 0 || !strstr(err.message, needle)) {
                print_message("for:\n%s\nexpected \"%s...%s\", got \"%s\"\n", text, prefix, needle,
                              err.message);
                fail();
        }
        ocid_error_clear(&err);
}

/* Walk "a/b/0/c": object keys and array indexes separated by '/'. */
static struct json_object *get(struct json_object *root, const char *path)
{
        _cleanup_free_ char *copy = strdup(path);
        struct json_object *o = root;
        char *save = NULL;

        assert_non_null(copy);
        for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
                struct json_object *next = NULL;
                if (json_object_is_type(o, json_type_array)) {
                        size_t i = strtoul(part, NULL, 10);
                        if (i < json_object_array_length(o))
                                next = json_object_array_get_idx(o, i);
                } else if (json_object_is_type(o, json_type_object)) {
                        json_object_object_get_ex(o, part, &next);
                }
                if (!next) {
                        print_message("no '%s' in %s\n", path, json_object_to_json_string(root));
                        fail();
                }
                o = next;
        }
        return o;
}

static bool has(struct json_object *o, const char *key)
{
        return json_object_object_get_ex(o, key, NULL);
}

static void assert_str(struct json_object *root, const char *path, const char *want)
{
        struct json_object *o = get(root, path);
        assert_true(json_object_is_type(o, json_type_string));
        assert_string_equal(json_object_get_string(o), want);
}

static void assert_int(struct json_object *root, const char *path, int64_t want)
{
        struct json_object *o = get(root, path);
        assert_true(json_object_is_type(o, json_type_int));
        assert_true(json_object_get_int64(o) == want);
}

static void assert_double(struct json_object *root, const char *path, double want)
{
        struct json_object *o = get(root, path);
        assert_true(json_object_is_type(o, json_type_double));
        assert_true(json_object_get_double(o) == want);
}

static void assert_bool(struct json_object *root, const char *path, bool want)
{
        struct json_object *o = get(root, path);
        assert_true(json_object_is_type(o, json_type_boolean));
        assert_int_equal(json_object_get_boolean(o), want);
}

static void assert_len(struct json_object *root, const char *path, size_t want)
{
        struct json_object *o = get(root, path);
        if (json_object_is_type(o, json_type_array))
                assert_int_equal(json_object_array_length(o), want);
        else
                assert_int_equal(json_object_object_length(o), want);
}

static void assert_json(struct json_object *root, const char *want)
{
        assert_string_equal(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN), want);
}

/* ---- structure ---- */

static void test_empty_document(void **state)
{
        _cleanup_(json_object_putp) struct json_object *a = parse("");
        _cleanup_(json_object_putp) struct json_object *b = parse("\n\n  # only a comment\r\n\t\n# another");
        struct json_object *c = NULL;
        ocid_error err = OCID_ERROR_INIT;

        assert_json(a, "{}");
        assert_json(b, "{}");
        assert_int_equal(toml_parse(NULL, 0, &c, &err), 0);
        assert_json(c, "{}");
        json_object_put(c);
}

static void test_keys(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "bare_key-1 = 1\n"
                "1234 = 2\n"
                "\"quoted key\" = 3\n"
                "'literal \\key' = 4\n"
                "\"\" = 5\n"
                "\"\\u00e9t\\u00e9\" = 6\n"
                "x=7\n"
                "\ty\t=\t8\t\n");
        assert_int(root, "bare_key-1", 1);
        assert_int(root, "1234", 2);
        assert_int(root, "quoted key", 3);
        assert_int(root, "literal \\key", 4);
        assert_int(json_object_object_get(root, ""), "", 5);
        assert_int(root, "\xc3\xa9t\xc3\xa9", 6);
        assert_int(root, "x", 7);
        assert_int(root, "y", 8);
}

static void test_dotted_keys(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "name = \"orange\"\n"
                "physical.color = \"orange\"\n"
                "physical . shape = \"round\"\n"
                "site.\"google.com\" = true\n"
                "3.14159 = \"pi\"\n");
        assert_str(root, "physical/color", "orange");
        assert_str(root, "physical/shape", "round");
        assert_bool(json_object_object_get(root, "site"), "google.com", true);
        assert_str(root, "3/14159", "pi");
        assert_len(root, "physical", 2);
}

static void test_table_headers(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "top = 0\n"
                "[table-1]\n"
                "key1 = \"some string\"\n"
                "[ dog . \"tater.man\" ] # comment\n"
                "type.name = \"pug\"\n"
                "[a.b.\"c d\"]\n"
                "x = 1\n"
                "[a]\n" /* implicitly created above, defined once now */
                "y = 2\n"
                "[ j . 'ʞ' . 'l' ]\n");
        assert_int(root, "top", 0);
        assert_str(root, "table-1/key1", "some string");
        assert_str(json_object_object_get(root, "dog"), "tater.man/type/name", "pug");
        assert_int(root, "a/b/c d/x", 1);
        assert_int(root, "a/y", 2);
        assert_len(root, "j/ʞ/l", 0);
}

static void test_implicit_via_array_of_tables(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse("[[x.y]]\nn = 1\n[x]\nm = 2\n");
        assert_int(root, "x/y/0/n", 1);
        assert_int(root, "x/m", 2);
}

static void test_subtable_of_dotted_table(void **state)
{
        /* The spec's own example: [fruit.apple.texture] may follow dotted keys. */
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "[fruit]\n"
                "apple.color = \"red\"\n"
                "apple.taste.sweet = true\n"
                "[fruit.apple.texture]\n"
                "smooth = true\n");
        assert_str(root, "fruit/apple/color", "red");
        assert_bool(root, "fruit/apple/taste/sweet", true);
        assert_bool(root, "fruit/apple/texture/smooth", true);
}

/* ---- strings ---- */

static void test_basic_string_escapes(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "s = \"a\\bb\\tc\\nd\\fe\\rf\\\"g\\\\h\"\n"
                "path = \"C:\\\\Users\\\\nodejs\"\n"
                "tab = \"x\ty\"\n"
                "u = \"\\u00E9\\u20ac\\U0001F600\\u0041\"\n");
        assert_str(root, "s", "a\bb\tc\nd\fe\rf\"g\\h");
        assert_str(root, "path", "C:\\Users\\nodejs");
        assert_str(root, "tab", "x\ty");
        assert_str(root, "u", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" "A");
}

static void test_nul_in_string_value(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse("s = \"a\\u0000b\"\n");
        struct json_object *s = get(root, "s");
        assert_int_equal(json_object_get_string_len(s), 3);
        assert_memory_equal(json_object_get_string(s), "a\0b", 3);
        expect_error("\n\"a\\u0000b\" = 1\n", 2, "key contains a NUL character");
}

static void test_literal_strings(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "winpath = 'C:\\Users\\nodejs\\templates'\n"
                "quoted = 'Tom \"Dubs\" Preston-Werner'\n"
                "regex = '<\\i\\c*\\s*>'\n"
                "empty = ''\n");
        assert_str(root, "winpath", "C:\\Users\\nodejs\\templates");
        assert_str(root, "quoted", "Tom \"Dubs\" Preston-Werner");
        assert_str(root, "regex", "<\\i\\c*\\s*>");
        assert_str(root, "empty", "");
}

static void test_multiline_basic(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "a = \"\"\"\nRoses are red\nViolets are blue\"\"\"\n"
                "b = \"\"\"\n"
                "The quick brown \\\n"
                "\n"
                "\n"
                "  fox jumps over \\   \n"
                "    the lazy dog.\"\"\"\n"
                "c = \"\"\"Here are two quotation marks: \"\". Simple enough.\"\"\"\n"
                "d = \"\"\"Here are fifteen quotation marks: \"\"\\\"\"\"\\\"\"\"\\\"\"\"\\\"\"\"\\\".\"\"\"\n"
                "e = \"\"\"\"This,\" she said, \"is just a pointless statement.\"\"\"\"\n"
                "f = \"\"\"x\"\"\"\"\"\n"
                "g = \"\"\"\\ttab \\u00e9\"\"\"\n"
                "h = \"\"\"\"\"\"\n"
                "after = 1\n");
        assert_str(root, "a", "Roses are red\nViolets are blue");
        assert_str(root, "b", "The quick brown fox jumps over the lazy dog.");
        assert_str(root, "c", "Here are two quotation marks: \"\". Simple enough.");
        assert_str(root, "d", "Here are fifteen quotation marks: \"\"\"\"\"\"\"\"\"\"\"\"\"\"\".");
        assert_str(root, "e", "\"This,\" she said, \"is just a pointless statement.\"");
        assert_str(root, "f", "x\"\"");
        assert_str(root, "g", "\ttab \xc3\xa9");
        assert_str(root, "h", "");
        assert_int(root, "after", 1);
}

static void test_multiline_literal(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "regex2 = '''I [dw]on't need \\d{2} apples'''\n"
                "lines = '''\n"
                "The first newline is\n"
                "trimmed in raw strings.\n"
                "   All other whitespace\n"
                "   is preserved.\n"
                "'''\n"
                "quot15 = '''Here are fifteen quotation marks: \"\"\"\"\"\"\"\"\"\"\"\"\"\"\"'''\n"
                "apos15 = \"Here are fifteen apostrophes: '''''''''''''''\"\n"
                "str = ''''That,' she said, 'is still pointless.''''\n");
        assert_str(root, "regex2", "I [dw]on't need \\d{2} apples");
        assert_str(root, "lines",
                   "The first newline is\ntrimmed in raw strings.\n   All other whitespace\n   is preserved.\n");
        assert_str(root, "quot15", "Here are fifteen quotation marks: \"\"\"\"\"\"\"\"\"\"\"\"\"\"\"");
        assert_str(root, "apos15", "Here are fifteen apostrophes: '''''''''''''''");
        assert_str(root, "str", "'That,' she said, 'is still pointless.'");
}

static void test_crlf(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "a = 1\r\n# c\r\n[t]\r\nb = \"\"\"\r\nx\r\ny\"\"\"\r\nc = [\r\n1,\r\n]\r\n");
        assert_int(root, "a", 1);
        assert_str(root, "t/b", "x\ny");
        assert_int(root, "t/c/0", 1);
        expect_error("a = 1\r\nb = 2\r\na = 3\r\n", 3, "duplicate key 'a'");
        expect_error("a = 1\rb = 2\n", 1, "unexpected control character 0x0d after value");
}

static void test_string_errors(void **state)
{
        expect_error("a = 1\nb = \"abc\n", 2, "unterminated string");
        expect_error("b = \"abc", 1, "unterminated string");
        expect_error("b = \"abc\\", 1, "unterminated string");
        expect_error("a = 1\nb = 'abc\nc = 2\n", 2, "unterminated string");
        expect_error("a = 1\nb = \"\"\"abc\n\ndef\n", 2, "unterminated multi-line string");
        expect_error("a = 1\nb = '''abc\n\n", 2, "unterminated multi-line string");
        expect_error("b = \"a\\qb\"\n", 1, "invalid escape '\\q'");
        expect_error("b = \"a\\x41\"\n", 1, "invalid escape '\\x'");
        expect_error("b = \"a\\ b\"\n", 1, "invalid escape: backslash followed by whitespace");
        expect_error("b = \"a\\\nb\"\n", 1, "invalid escape: backslash followed by end of line");
        expect_error("\n\nb = \"\"\"\nok\n\\e\"\"\"\n", 5, "invalid escape '\\e'");
        expect_error("b = \"\\u12\"\n", 1, "invalid \\u escape: expected 4 hex digits");
        expect_error("b = \"\\U0000123\"\n", 1, "invalid \\U escape: expected 8 hex digits");
        expect_error("b = \"\\uD800\"\n", 1, "escape '\\uD800' is not a Unicode scalar value");
        expect_error("b = \"\\U00110000\"\n", 1, "escape '\\U00110000' is not a Unicode scalar value");
        /* Five quotes close with two of them as content; a sixth is left over. */
        expect_error("b = \"\"\"\"\"\"\"\"\"\n", 1, "unexpected '\"' after value");
}

static void test_control_characters(void **state)
{
        expect_error("a = \"x\x01y\"\n", 1, "control character 0x01 in string");
        expect_error("a = 'x\x7fy'\n", 1, "control character 0x7f in string");
        expect_error("a = \"\"\"\nx\n\x1b\"\"\"\n", 3, "control character 0x1b in string");
        expect_error("a = '''x\ry'''\n", 1, "control character 0x0d in string");
        expect_error("a = 1\n# bell \x07\n", 2, "control character 0x07 in comment");
        expect_error("a = 1 # \x7f\n", 1, "control character 0x7f in comment");

        static const char nul[] = "a = 1\nb = \"x\0y\"\n";
        struct json_object *root = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(toml_parse(nul, sizeof(nul) - 1, &root, &err), -1);
        assert_string_equal(err.message, "line 2: control character 0x00 in string");
        assert_null(root);
        ocid_error_clear(&err);
}

/* ---- numbers, booleans, dates ---- */

static void test_integers(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "a = +99\nb = 42\nc = 0\nd = -17\ne = 1_000\nf = 5_349_221\ng = 53_49_221\n"
                "h = 1_2_3_4_5\ni = 0xDEADBEEF\nj = 0xdead_beef\nk = 0o01234567\nl = 0o755\n"
                "m = 0b11010110\nn = 9223372036854775807\no = -9223372036854775808\n"
                "p = 0x7fffffffffffffff\nq = -0\nr = +0\ns = 0x0\n");
        assert_int(root, "a", 99);
        assert_int(root, "b", 42);
        assert_int(root, "c", 0);
        assert_int(root, "d", -17);
        assert_int(root, "e", 1000);
        assert_int(root, "f", 5349221);
        assert_int(root, "g", 5349221);
        assert_int(root, "h", 12345);
        assert_int(root, "i", 0xDEADBEEF);
        assert_int(root, "j", 0xDEADBEEF);
        assert_int(root, "k", 01234567);
        assert_int(root, "l", 0755);
        assert_int(root, "m", 214);
        assert_int(root, "n", INT64_MAX);
        assert_int(root, "o", INT64_MIN);
        assert_int(root, "p", INT64_MAX);
        assert_int(root, "q", 0);
        assert_int(root, "r", 0);
        assert_int(root, "s", 0);
}

static void test_integer_errors(void **state)
{
        expect_error("a = 1\nb = 012\n", 2, "invalid integer '012': leading zero");
        expect_error("a = 1__2\n", 1, "invalid integer '1__2'");
        expect_error("a = 1_\n", 1, "invalid integer '1_'");
        expect_error("a = _1\n", 1, "invalid value '_1'");
        expect_error("a = +0x10\n", 1, "invalid integer '+0x10': no sign allowed before 0x");
        expect_error("a = 0x\n", 1, "invalid integer '0x'");
        expect_error("a = 0xG\n", 1, "invalid integer '0xG'");
        expect_error("a = 0o8\n", 1, "invalid integer '0o8'");
        expect_error("a = 0b102\n", 1, "invalid integer '0b102'");
        expect_error("a = 0X10\n", 1, "invalid integer '0X10'");
        expect_error("a = 0x_1\n", 1, "invalid integer '0x_1'");
        expect_error("a = 1\n\nb = 9223372036854775808\n", 3, "integer '9223372036854775808' out of range");
        expect_error("b = -9223372036854775809\n", 1, "out of range");
        expect_error("b = 0x8000000000000000\n", 1, "out of range");
        expect_error("b = 0b1_0000000000000000000000000000000000000000000000000000000000000000\n", 1,
                     "out of range");
        expect_error("b = 99999999999999999999999999999999999999999999999999999999999999999999999999\n", 1,
                     "integer '9999999999999999999999999999999999999999999999999999999999999999...' out of range");
        expect_error("b = 1 2\n", 1, "unexpected '2' after value");
        expect_error("b = 1,\n", 1, "unexpected ',' after value");
}

static void test_floats(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "a = +1.0\nb = 3.1415\nc = -0.01\nd = 5e+22\ne = 1e06\nf = -2E-2\n"
                "g = 6.626e-34\nh = 224_617.445_991_228\ni = 0.0\nj = -0.0\nk = 1e-400\n"
                "l = 0e0\nm = 1_0.5e1_0\n");
        assert_double(root, "a", 1.0);
        assert_double(root, "b", 3.1415);
        assert_double(root, "c", -0.01);
        assert_double(root, "d", 5e22);
        assert_double(root, "e", 1e6);
        assert_double(root, "f", -2e-2);
        assert_double(root, "g", 6.626e-34);
        assert_double(root, "h", 224617.445991228);
        assert_double(root, "i", 0.0);
        assert_double(root, "j", 0.0);
        assert_true(signbit(json_object_get_double(get(root, "j"))));
        assert_double(root, "k", 0.0);
        assert_double(root, "l", 0.0);
        assert_double(root, "m", 10.5e10);
}

static void test_inf_nan(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "a = inf\nb = +inf\nc = -inf\nd = nan\ne = +nan\nf = -nan\n");
        assert_true(isinf(json_object_get_double(get(root, "a"))) &&
                    json_object_get_double(get(root, "a")) > 0);
        assert_true(isinf(json_object_get_double(get(root, "b"))));
        assert_true(json_object_get_double(get(root, "c")) < 0 && isinf(json_object_get_double(get(root, "c"))));
        assert_true(isnan(json_object_get_double(get(root, "d"))));
        assert_true(isnan(json_object_get_double(get(root, "e"))));
        assert_true(isnan(json_object_get_double(get(root, "f"))));
        assert_true(signbit(json_object_get_double(get(root, "f"))));
        expect_error("a = Inf\n", 1, "invalid value 'Inf'");
        expect_error("a = infinity\n", 1, "invalid value 'infinity'");
}

static void test_float_errors(void **state)
{
        expect_error("a = .7\n", 1, "invalid value '.7'");
        expect_error("a = 7.\n", 1, "invalid float '7.'");
        expect_error("a = 3.e+20\n", 1, "invalid float '3.e+20'");
        expect_error("a = 1e\n", 1, "invalid float '1e'");
        expect_error("a = 1e+\n", 1, "invalid float '1e+'");
        expect_error("a = 01.5\n", 1, "invalid float '01.5'");
        expect_error("a = 1.5_\n", 1, "invalid float '1.5_'");
        expect_error("a = 1._5\n", 1, "invalid float '1._5'");
        expect_error("a = 1.2.3\n", 1, "invalid float '1.2.3'");
        expect_error("\na = 1e400\n", 2, "float '1e400' out of range");
        expect_error("a = -1.7e309\n", 1, "out of range");
}

static void test_booleans(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse("t = true\nf = false\n");
        assert_bool(root, "t", true);
        assert_bool(root, "f", false);
        expect_error("a = True\n", 1, "invalid value 'True'");
        expect_error("a = truex\n", 1, "invalid value 'truex'");
        expect_error("a = yes\n", 1, "invalid value 'yes'");
}

static void test_datetimes(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "odt1 = 1979-05-27T07:32:00Z\n"
                "odt2 = 1979-05-27T00:32:00-07:00\n"
                "odt3 = 1979-05-27T00:32:00.999999-07:00\n"
                "odt4 = 1979-05-27 07:32:00Z\n"
                "odt5 = 1979-05-27t07:32:00z\n"
                "ldt1 = 1979-05-27T07:32:00\n"
                "ld1 = 1979-05-27 # a date, not a date-time\n"
                "lt1 = 07:32:00\n"
                "lt2 = 00:32:00.999999\n"
                "leap = 2024-02-29\n"
                "sec60 = 1990-12-31T23:59:60Z\n"
                "arr = [1979-05-27, 1979-05-27 07:32:00]\n");
        assert_str(root, "odt1", "1979-05-27T07:32:00Z");
        assert_str(root, "odt2", "1979-05-27T00:32:00-07:00");
        assert_str(root, "odt3", "1979-05-27T00:32:00.999999-07:00");
        assert_str(root, "odt4", "1979-05-27 07:32:00Z");
        assert_str(root, "odt5", "1979-05-27t07:32:00z");
        assert_str(root, "ldt1", "1979-05-27T07:32:00");
        assert_str(root, "ld1", "1979-05-27");
        assert_str(root, "lt1", "07:32:00");
        assert_str(root, "lt2", "00:32:00.999999");
        assert_str(root, "leap", "2024-02-29");
        assert_str(root, "sec60", "1990-12-31T23:59:60Z");
        assert_str(root, "arr/0", "1979-05-27");
        assert_str(root, "arr/1", "1979-05-27 07:32:00");
}

static void test_datetime_errors(void **state)
{
        expect_error("d = 1979-13-27\n", 1, "invalid date-time '1979-13-27'");
        expect_error("d = 2023-02-29\n", 1, "invalid date-time '2023-02-29'");
        expect_error("d = 1900-02-29\n", 1, "invalid date-time");
        expect_error("d = 1979-04-31\n", 1, "invalid date-time");
        expect_error("d = 1979-05-27T25:00:00\n", 1, "invalid date-time");
        expect_error("d = 1979-05-27T07:32Z\n", 1, "invalid date-time '1979-05-27T07:32Z'");
        expect_error("d = 07:32\n", 1, "invalid date-time '07:32'");
        expect_error("d = 07:32:00Z\n", 1, "invalid date-time '07:32:00Z'");
        expect_error("d = 1979-05-27T07:32:00+7:00\n", 1, "invalid date-time");
        expect_error("d = 1979-05-27T07:32:00.\n", 1, "invalid date-time");
        expect_error("d = 1979-5-27\n", 1, "invalid date-time '1979-5-27'");
        expect_error("d = 1979-05-27 07\n", 1, "invalid date-time '1979-05-27 07'");
        expect_error("d = 1979-05-27 x\n", 1, "unexpected 'x' after value");
        expect_error("d = 1979-05-27X07:32:00\n", 1, "invalid date-time '1979-05-27X07:32:00'");
}

/* ---- arrays and inline tables ---- */

static void test_arrays(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "integers = [ 1, 2, 3 ]\n"
                "colors = [ \"red\", 'yellow', \"\"\"green\"\"\" ]\n"
                "nested_arrays_of_ints = [ [ 1, 2 ], [3, 4, 5] ]\n"
                "nested_mixed_array = [ [ 1, 2 ], [\"a\", \"b\", \"c\"] ]\n"
                "numbers = [ 0.1, 0.2, 0.5, 1, 2, 5 ]\n"
                "contributors = [\n"
                "  \"Foo Bar <foo@example.com>\", # first\n"
                "  # a comment line\n"
                "  { name = \"Baz Qux\", email = \"bazqux@example.com\", url = \"https://example.com/bazqux\" },\n"
                "]\n"
                "empty = []\n"
                "empty2 = [ # comment\n"
                "]\n"
                "integers3 = [\n  1,\n  2, # this is ok\n]\n");
        assert_len(root, "integers", 3);
        assert_int(root, "integers/2", 3);
        assert_str(root, "colors/2", "green");
        assert_int(root, "nested_arrays_of_ints/1/2", 5);
        assert_str(root, "nested_mixed_array/1/0", "a");
        assert_double(root, "numbers/0", 0.1);
        assert_int(root, "numbers/3", 1);
        assert_str(root, "contributors/0", "Foo Bar <foo@example.com>");
        assert_str(root, "contributors/1/email", "bazqux@example.com");
        assert_len(root, "empty", 0);
        assert_len(root, "empty2", 0);
        assert_len(root, "integers3", 2);
}

static void test_array_errors(void **state)
{
        expect_error("a = [1 2]\n", 1, "expected ',' or ']' in array, found '2'");
        expect_error("a = [,]\n", 1, "expected a value, found ','");
        expect_error("a = [1,,2]\n", 1, "expected a value, found ','");
        expect_error("x = 1\na = [1,\n2,\n", 2, "unterminated array");
        expect_error("x = 1\na = [1,\n2\n", 2, "unterminated array");
        expect_error("a = [1,\n\n  2 3]\n", 3, "expected ',' or ']' in array, found '3'");
        expect_error("a = [1] ]\n", 1, "unexpected ']' after value");
}

static void test_inline_tables(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "name = { first = \"Tom\", last = \"Preston-Werner\" }\n"
                "point = {x=1,y=2}\n"
                "animal = { type.name = \"pug\", type.color = \"black\" }\n"
                "nested = { a = { b = { c = [ { d = 1 } ] } } }\n"
                "empty = {}\n"
                "spaced = {   }\n"
                "multiline_array = { list = [\n  1,\n  2,\n] }\n");
        assert_str(root, "name/last", "Preston-Werner");
        assert_int(root, "point/y", 2);
        assert_str(root, "animal/type/name", "pug");
        assert_str(root, "animal/type/color", "black");
        assert_int(root, "nested/a/b/c/0/d", 1);
        assert_len(root, "empty", 0);
        assert_len(root, "spaced", 0);
        assert_int(root, "multiline_array/list/1", 2);
}

static void test_inline_table_errors(void **state)
{
        expect_error("a = { x = 1, }\n", 1, "trailing comma in inline table");
        expect_error("a = { x = 1,\n y = 2 }\n", 1, "newline in inline table");
        expect_error("a = {\n}\n", 1, "newline in inline table");
        expect_error("a = { x = 1, x = 2 }\n", 1, "duplicate key 'x'");
        expect_error("a = { x.y = 1, x = 2 }\n", 1, "duplicate key 'x'");
        expect_error("a = { x = {}, x.y = 2 }\n", 1, "inline table 'x' cannot be extended");
        expect_error("a = { x = 1 y = 2 }\n", 1, "expected ',' or '}' in inline table, found 'y'");
        expect_error("a = { x = 1", 1, "unterminated inline table");
        expect_error("a = { x = 1,", 1, "unterminated inline table");
        expect_error("a = { x = 1\n}\n", 1, "newline in inline table");
        expect_error("a = { x = 1 } }\n", 1, "unexpected '}' after value");
        expect_error("a = {x = 1}\n\n[a.b]\n", 3, "inline table 'a' cannot be extended");
        expect_error("a = {x = 1}\n\n[a]\n", 3, "inline table 'a' cannot be extended");
        expect_error("a = {x = 1}\na.y = 2\n", 2, "inline table 'a' cannot be extended");
        expect_error("[product]\ntype = { name = \"Nail\" }\ntype.edible = false\n", 3,
                     "inline table 'type' cannot be extended");
        expect_error("[product]\ntype.name = \"Nail\"\ntype = { edible = false }\n", 3,
                     "duplicate key 'type'");
}

/* ---- arrays of tables ---- */

static void test_array_of_tables(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "[[products]]\n"
                "name = \"Hammer\"\n"
                "sku = 738594937\n"
                "\n"
                "[[products]]  # empty table within the array\n"
                "\n"
                "[[products]]\n"
                "name = \"Nail\"\n"
                "color = \"gray\"\n");
        assert_len(root, "products", 3);
        assert_str(root, "products/0/name", "Hammer");
        assert_int(root, "products/0/sku", 738594937);
        assert_len(root, "products/1", 0);
        assert_str(root, "products/2/color", "gray");
}

static void test_nested_array_of_tables(void **state)
{
        /* Sub-tables and sub-arrays attach to the most recent element. */
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "[[fruits]]\n"
                "name = \"apple\"\n"
                "[fruits.physical]  # subtable\n"
                "color = \"red\"\n"
                "shape = \"round\"\n"
                "[[fruits.varieties]]  # nested array of tables\n"
                "name = \"red delicious\"\n"
                "[[fruits.varieties]]\n"
                "name = \"granny smith\"\n"
                "\n"
                "[[fruits]]\n"
                "name = \"banana\"\n"
                "[[fruits.varieties]]\n"
                "name = \"plantain\"\n"
                "[fruits.physical]\n"
                "color = \"yellow\"\n");
        assert_len(root, "fruits", 2);
        assert_str(root, "fruits/0/physical/color", "red");
        assert_len(root, "fruits/0/varieties", 2);
        assert_str(root, "fruits/0/varieties/1/name", "granny smith");
        assert_str(root, "fruits/1/name", "banana");
        assert_len(root, "fruits/1/varieties", 1);
        assert_str(root, "fruits/1/varieties/0/name", "plantain");
        assert_str(root, "fruits/1/physical/color", "yellow");
}

static void test_array_of_tables_errors(void **state)
{
        expect_error("fruits = []\n\n[[fruits]]\n", 3,
                     "key 'fruits' is already defined and is not an array of tables");
        expect_error("[fruit]\n[[fruit]]\n", 2, "key 'fruit' is already defined and is not an array of tables");
        expect_error("[[fruit]]\n[fruit]\n", 2, "'fruit' is already defined as an array of tables");
        expect_error("[[fruits]]\nname = \"apple\"\n[[fruits.varieties]]\nname = \"red\"\n"
                     "[fruits.varieties]\nname = \"granny\"\n",
                     5, "'fruits.varieties' is already defined as an array of tables");
        expect_error("[[fruits]]\nname = \"apple\"\n[[fruits.physical]]\n[fruits.physical]\n", 4,
                     "'fruits.physical' is already defined as an array of tables");
        expect_error("[[fruits]]\n[fruits.physical]\ncolor = \"red\"\n[[fruits.physical]]\n", 4,
                     "key 'fruits.physical' is already defined and is not an array of tables");
        expect_error("a = [{ b = 1 }]\n[a.c]\n", 2, "key 'a' is already defined and is not a table");
        expect_error("[[ a ]\n", 1, "expected ']]' to close the table header, found end of line");
        expect_error("[ a ]]\n", 1, "unexpected ']' after table header");
        expect_error("[[a]]]\n", 1, "unexpected ']' after table header");
}

/* ---- redefinition rules ---- */

static void test_duplicate_keys(void **state)
{
        expect_error("name = \"Tom\"\n# comment\nname = \"Pradyun\"\n", 3, "duplicate key 'name'");
        expect_error("spelling = \"favorite\"\n\"spelling\" = \"favourite\"\n", 2, "duplicate key 'spelling'");
        expect_error("a.b = 1\na.b = 2\n", 2, "duplicate key 'a.b'");
        expect_error("[t]\nx.\"y z\" = 1\nx . 'y z' = 2\n", 3, "duplicate key 'x.\"y z\"'");
        expect_error("a = [\n1,\n2]\na = 3\n", 4, "duplicate key 'a'");
        expect_error("a = \"\"\"\n\n\"\"\"\n[b]\n[a]\n", 5, "key 'a' is already defined and is not a table");
}

static void test_dotted_key_conflicts(void **state)
{
        expect_error("name = \"Fido\"\nname.first = \"x\"\n", 2, "key 'name' is already defined and is not a table");
        expect_error("fruit.apple = 1\nfruit.apple.smooth = true\n", 2,
                     "key 'fruit.apple' is already defined and is not a table");
        /* A table from a header may not be reopened through dotted keys ... */
        expect_error("[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n", 4,
                     "table 'b' is defined elsewhere and cannot be extended with dotted keys");
        expect_error("[fruit.apple.texture]\n[fruit]\napple.texture.smooth = true\n", 3,
                     "table 'apple' is defined elsewhere");
        /* ... nor may a dotted-key table get a header of its own. */
        expect_error("[fruit]\napple.color = \"red\"\n[fruit.apple]\n", 3,
                     "table 'fruit.apple' is already defined by dotted keys");
        expect_error("[fruit]\napple.taste.sweet = true\n[fruit.apple.taste]\n", 3,
                     "table 'fruit.apple.taste' is already defined by dotted keys");
        expect_error("a.b = 1\n[a]\n", 2, "table 'a' is already defined by dotted keys");
        expect_error("[[arr]]\narr2.x = 1\n[t]\n[arr]\n", 4, "'arr' is already defined as an array of tables");
}

static void test_table_redefinition(void **state)
{
        expect_error("[fruit]\napple = \"red\"\n\n[fruit]\norange = \"orange\"\n", 4,
                     "table 'fruit' is already defined");
        expect_error("[fruit]\napple = \"red\"\n\n[fruit.apple]\ntexture = \"smooth\"\n", 4,
                     "key 'fruit.apple' is already defined and is not a table");
        expect_error("[a]\nb = 1\n[a.b.c]\n", 3, "key 'a.b' is already defined and is not a table");
        expect_error("[a.b]\n[a]\n[a]\n", 3, "table 'a' is already defined");
        expect_error("[a]\n[\"a\"]\n", 2, "table 'a' is already defined");
        expect_error("[a]\n[a.b]\n[a.b]\n", 3, "table 'a.b' is already defined");
}

/* ---- other errors ---- */

static void test_syntax_errors(void **state)
{
        expect_error("a = 1\nkey\n", 2, "expected '=' after key 'key', found end of line");
        expect_error("key = \n", 1, "expected a value, found end of line");
        expect_error("key =", 1, "expected a value, found end of input");
        expect_error("key = # c\n", 1, "expected a value, found '#'");
        expect_error("= 1\n", 1, "expected a key, found '='");
        expect_error("a.= 1\n", 1, "expected a key, found '='");
        expect_error("a..b = 1\n", 1, "expected a key, found '.'");
        expect_error("first = \"Tom\" last = \"Preston-Werner\"\n", 1, "unexpected 'l' after value");
        expect_error("a = \"x\" y\n", 1, "unexpected 'y' after value");
        expect_error("a = 'x' 'y'\n", 1, "unexpected ''' after value");
        expect_error("[a] b = 1\n", 1, "unexpected 'b' after table header");
        expect_error("[]\n", 1, "expected a key, found ']'");
        expect_error("[a\nb = 1\n", 1, "expected ']' to close the table header, found end of line");
        expect_error("[a.]\n", 1, "expected a key, found ']'");
        expect_error("\"\"\"key\"\"\" = 1\n", 1, "expected '=' after key '\"\"', found '\"'");
        expect_error("a = 1\n\n\n   \xc3\x28 = 2\n", 4, "invalid UTF-8");
        expect_error("a = \"\xc0\xaf\"\n", 1, "invalid UTF-8");         /* overlong '/' */
        expect_error("a = \"\xed\xa0\x80\"\n", 1, "invalid UTF-8");     /* surrogate */
        expect_error("a = \"\xf4\x90\x80\x80\"\n", 1, "invalid UTF-8"); /* above U+10FFFF */
        expect_error("a = \"\xe2\x82\"", 1, "invalid UTF-8");           /* truncated */
        expect_error("a = \"\xe0\x80\x80\"\n", 1, "invalid UTF-8");     /* overlong NUL */
        expect_error("a = \"\xf1\x80\x80\"\n", 1, "invalid UTF-8");     /* short 4-byte */
        expect_error("a = \"\xff\"\n", 1, "invalid UTF-8");
        expect_error("\xc3\xa9 = 1\n", 1, "expected a key, found a non-ASCII character");
}

static void test_utf8_and_bom(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "\xef\xbb\xbf# leading byte order mark\n"
                "name = \"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\" # comment \xe2\x9c\x93\n"
                "'\xe2\x82\xac' = 'x'\n"
                "edges = \"\xe0\xa0\x80 \xed\x9f\xbf \xf1\x80\x80\x80 \xf4\x8f\xbf\xbf\"\n");
        assert_str(root, "name", "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
        assert_str(root, "edges", "\xe0\xa0\x80 \xed\x9f\xbf \xf1\x80\x80\x80 \xf4\x8f\xbf\xbf");
        assert_str(root, "\xe2\x82\xac", "x");
}

static void test_not_nul_terminated(void **state)
{
        /* The length, not a terminator, ends the input: the bytes after it
         * would be a syntax error if read. */
        const char text[] = "a = 1\nb = \"two\" garbage";
        _cleanup_(json_object_putp) struct json_object *root = parse_len(text, strlen("a = 1\nb = \"two\""));
        assert_int(root, "a", 1);
        assert_str(root, "b", "two");

        _cleanup_free_ char *heap = malloc(5);
        memcpy(heap, "x = 7", 5);
        _cleanup_(json_object_putp) struct json_object *root2 = parse_len(heap, 5);
        assert_int(root2, "x", 7);
}

static void test_depth_limit(void **state)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;

        /* Arrays: the root is depth 0, so 64 nested arrays are the limit. */
        strbuf_adds(&sb, "a = ");
        for (int i = 0; i < TOML_MAX_DEPTH; i++)
                strbuf_addch(&sb, '[');
        for (int i = 0; i < TOML_MAX_DEPTH; i++)
                strbuf_addch(&sb, ']');
        json_object_put(parse(sb.buf));

        strbuf_reset(&sb);
        strbuf_adds(&sb, "x = 1\na = ");
        for (int i = 0; i < TOML_MAX_DEPTH + 1; i++)
                strbuf_addch(&sb, '[');
        for (int i = 0; i < TOML_MAX_DEPTH + 1; i++)
                strbuf_addch(&sb, ']');
        expect_error(sb.buf, 2, "nesting deeper than 64 levels");

        /* Inline tables. */
        strbuf_reset(&sb);
        strbuf_adds(&sb, "a = ");
        for (int i = 0; i < TOML_MAX_DEPTH + 1; i++)
                strbuf_adds(&sb, "{ b = ");
        strbuf_adds(&sb, "1");
        for (int i = 0; i < TOML_MAX_DEPTH + 1; i++)
                strbuf_adds(&sb, " }");
        expect_error(sb.buf, 1, "nesting deeper than 64 levels");

        /* Headers: 64 parts fit, 65 do not. */
        strbuf_reset(&sb);
        strbuf_adds(&sb, "[t");
        for (int i = 1; i < TOML_MAX_DEPTH; i++)
                strbuf_adds(&sb, ".t");
        strbuf_adds(&sb, "]\nv = 1\n");
        _cleanup_(json_object_putp) struct json_object *root = parse(sb.buf);
        struct json_object *o = root;
        for (int i = 0; i < TOML_MAX_DEPTH; i++)
                o = json_object_object_get(o, "t");
        assert_int_equal(json_object_get_int(json_object_object_get(o, "v")), 1);

        strbuf_reset(&sb);
        strbuf_adds(&sb, "\n[t");
        for (int i = 1; i < TOML_MAX_DEPTH + 1; i++)
                strbuf_adds(&sb, ".t");
        strbuf_adds(&sb, "]\n");
        expect_error(sb.buf, 2, "nesting deeper than 64 levels");

        /* Each nested [[x]] costs two levels: the array and its element. */
        strbuf_reset(&sb);
        for (int parts = 1; parts <= TOML_MAX_DEPTH / 2; parts++) {
                strbuf_adds(&sb, "[[t");
                for (int i = 1; i < parts; i++)
                        strbuf_adds(&sb, ".t");
                strbuf_adds(&sb, "]]\n");
        }
        json_object_put(parse(sb.buf));
        strbuf_adds(&sb, "[[t");
        for (int i = 1; i < TOML_MAX_DEPTH / 2 + 1; i++)
                strbuf_adds(&sb, ".t");
        strbuf_adds(&sb, "]]\n");
        expect_error(sb.buf, TOML_MAX_DEPTH / 2 + 1, "nesting deeper than 64 levels");

        /* A long dotted key is bounded by the same limit. */
        strbuf_reset(&sb);
        for (int i = 0; i < 1000; i++)
                strbuf_adds(&sb, "k.");
        strbuf_adds(&sb, "k = 1\n");
        expect_error(sb.buf, 1, "more than 65 parts");

        strbuf_reset(&sb);
        strbuf_adds(&sb, "[a.b]\n");
        for (int i = 0; i < TOML_MAX_DEPTH - 1; i++)
                strbuf_adds(&sb, "k.");
        strbuf_adds(&sb, "k = 1\n");
        expect_error(sb.buf, 2, "nesting deeper than 64 levels");
}

static void test_long_key_in_message(void **state)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        for (int line = 0; line < 2; line++) {
                for (int i = 0; i < 1000; i++)
                        strbuf_addch(&sb, 'k');
                strbuf_adds(&sb, " = 1\n");
        }

        struct json_object *root = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(toml_parse(sb.buf, sb.len, &root, &err), -1);
        assert_true(strlen(err.message) < 120);
        assert_non_null(strstr(err.message, "line 2: duplicate key 'kkkk"));
        assert_non_null(strstr(err.message, "...'"));
        ocid_error_clear(&err);

        expect_error("\"a\\tb\\\"c\" = 1\n\"a\\tb\\\"c\" = 2\n", 2, "duplicate key '\"a\\u0009b\\\"c\"'");

        /* A cut never splits a UTF-8 sequence: the 'é' straddling byte 64 goes. */
        strbuf_reset(&sb);
        for (int line = 0; line < 2; line++) {
                strbuf_addch(&sb, '"');
                for (int i = 0; i < 63; i++)
                        strbuf_addch(&sb, 'a');
                strbuf_adds(&sb, "\xc3\xa9\xc3\xa9\" = 1\n");
        }
        assert_int_equal(toml_parse(sb.buf, sb.len, &root, &err), -1);
        assert_non_null(strstr(err.message, "line 2: duplicate key '\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"'"));
        ocid_error_clear(&err);
}

static void test_whitespace_and_comments(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "# full-line comment\n"
                "   \t# indented comment\n"
                "a=1#no space before comment\n"
                "b = \"# not a comment\" # a comment\n"
                "   [ t ]   # comment after header\n"
                "\t\tc\t=\t'x'\t\n"
                "  [[ arr ]] # comment after array-of-tables header\n"
                "d = [ 1 , 2 ] # comment\n");
        assert_int(root, "a", 1);
        assert_str(root, "b", "# not a comment");
        assert_str(root, "t/c", "x");
        assert_int(root, "arr/0/d/1", 2);
}

/* ---- real files ---- */

static void test_registries_conf_v2(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "# For more information on this configuration file, see containers-registries.conf(5).\n"
                "unqualified-search-registries = [\"registry.fedoraproject.org\", \"registry.access.redhat.com\", \"docker.io\"]\n"
                "short-name-mode = \"enforcing\"\n"
                "credential-helpers = [ \"containers-auth.json\" ]\n"
                "\n"
                "[[registry]]\n"
                "# The \"prefix\" field is used to choose the relevant [[registry]] TOML table;\n"
                "prefix = \"example.com/foo\"\n"
                "insecure = false\n"
                "blocked = false\n"
                "location = \"internal-registry-for-example.com/bar\"\n"
                "\n"
                "[[registry.mirror]]\n"
                "location = \"example-mirror-0.local/mirror-for-foo\"\n"
                "\n"
                "[[registry.mirror]]\n"
                "location = \"example-mirror-1.local/mirrors/foo\"\n"
                "insecure = true\n"
                "\n"
                "[[registry]]\n"
                "location = \"registry.example.org\"\n"
                "mirror-by-digest-only = true\n"
                "\n"
                "[[registry.mirror]]\n"
                "location = \"mirror.example.org:5000\"\n"
                "pull-from-mirror = \"digest-only\"\n"
                "\n"
                "[[registry]]\n"
                "prefix = \"*.blocked.example.com\"\n"
                "blocked = true\n"
                "\n"
                "[aliases]\n"
                "\"fedora\" = \"registry.fedoraproject.org/fedora\"\n"
                "\"ubi8\" = \"registry.access.redhat.com/ubi8\"\n"
                "\"rhel8/podman\" = \"registry.access.redhat.com/rhel8/podman\"\n");

        assert_len(root, "unqualified-search-registries", 3);
        assert_str(root, "unqualified-search-registries/2", "docker.io");
        assert_str(root, "short-name-mode", "enforcing");
        assert_str(root, "credential-helpers/0", "containers-auth.json");

        assert_len(root, "registry", 3);
        assert_str(root, "registry/0/prefix", "example.com/foo");
        assert_bool(root, "registry/0/insecure", false);
        assert_str(root, "registry/0/location", "internal-registry-for-example.com/bar");
        assert_len(root, "registry/0/mirror", 2);
        assert_str(root, "registry/0/mirror/0/location", "example-mirror-0.local/mirror-for-foo");
        assert_false(has(get(root, "registry/0/mirror/0"), "insecure"));
        assert_str(root, "registry/0/mirror/1/location", "example-mirror-1.local/mirrors/foo");
        assert_bool(root, "registry/0/mirror/1/insecure", true);

        assert_str(root, "registry/1/location", "registry.example.org");
        assert_bool(root, "registry/1/mirror-by-digest-only", true);
        assert_len(root, "registry/1/mirror", 1);
        assert_str(root, "registry/1/mirror/0/location", "mirror.example.org:5000");
        assert_str(root, "registry/1/mirror/0/pull-from-mirror", "digest-only");

        assert_str(root, "registry/2/prefix", "*.blocked.example.com");
        assert_false(has(get(root, "registry/2"), "mirror"));

        assert_str(root, "aliases/fedora", "registry.fedoraproject.org/fedora");
        /* get() splits at '/', so look this one up directly. */
        assert_string_equal(json_object_get_string(json_object_object_get(get(root, "aliases"), "rhel8/podman")),
                            "registry.access.redhat.com/rhel8/podman");
        assert_len(root, "", 5);
}

static void test_crio_conf(void **state)
{
        _cleanup_(json_object_putp) struct json_object *root = parse(
                "# The CRI-O configuration file specifies all of the available configuration\n"
                "# options and command-line flags for the crio(8) OCI Kubernetes Container Runtime\n"
                "\n"
                "[crio]\n"
                "root = \"/var/lib/containers/storage\"\n"
                "runroot = \"/run/containers/storage\"\n"
                "storage_driver = \"overlay\"\n"
                "storage_option = [\n"
                "\t\"overlay.mountopt=nodev,metacopy=on\",\n"
                "]\n"
                "log_dir = \"/var/log/crio/pods\"\n"
                "\n"
                "[crio.api]\n"
                "listen = \"/var/run/crio/crio.sock\"\n"
                "stream_address = \"127.0.0.1\"\n"
                "stream_port = \"0\"\n"
                "stream_enable_tls = false\n"
                "grpc_max_send_msg_size = 83886080\n"
                "grpc_max_recv_msg_size = 83_886_080\n"
                "\n"
                "[crio.runtime]\n"
                "default_runtime = \"runc\"\n"
                "conmon_cgroup = \"pod\"\n"
                "conmon_env = [\n"
                "\t\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\n"
                "]\n"
                "default_ulimits = []\n"
                "selinux = false\n"
                "seccomp_profile = \"\"\n"
                "cgroup_manager = \"systemd\"\n"
                "default_capabilities = [\n"
                "\t\"CHOWN\",\n"
                "\t\"DAC_OVERRIDE\",\n"
                "\t\"FSETID\",\n"
                "\t\"FOWNER\",\n"
                "\t\"SETGID\",\n"
                "\t\"SETUID\",\n"
                "\t\"SETPCAP\",\n"
                "\t\"NET_BIND_SERVICE\",\n"
                "\t\"KILL\",\n"
                "]\n"
                "pids_limit = 1024\n"
                "log_size_max = -1\n"
                "ctr_stop_timeout = 30\n"
                "default_sysctls = [\n"
                "  \"net.ipv4.ping_group_range=0 2147483647\",\n"
                "]\n"
                "\n"
                "  [crio.runtime.runtimes.runc]\n"
                "  runtime_path = \"\"\n"
                "  runtime_type = \"oci\"\n"
                "  runtime_root = \"/run/runc\"\n"
                "  allowed_annotations = [\n"
                "      \"io.containers.trace-syscall\",\n"
                "  ]\n"
                "\n"
                "  [crio.runtime.runtimes.\"kata-qemu\"]\n"
                "  runtime_path = \"/usr/bin/containerd-shim-kata-v2\"\n"
                "  runtime_type = \"vm\"\n"
                "  privileged_without_host_devices = true\n"
                "\n"
                "[crio.image]\n"
                "default_transport = \"docker://\"\n"
                "pause_image = \"registry.k8s.io/pause:3.9\"\n"
                "pause_command = \"/pause\"\n"
                "insecure_registries = [\n"
                "]\n"
                "\n"
                "[crio.network]\n"
                "network_dir = \"/etc/cni/net.d/\"\n"
                "plugin_dirs = [\"/opt/cni/bin/\", '/usr/libexec/cni']\n"
                "\n"
                "[crio.metrics]\n"
                "enable_metrics = false\n"
                "metrics_port = 9090\n"
                "metrics_collectors = [\"operations\", \"image_pulls_layer_size\"]\n");

        assert_str(root, "crio/root", "/var/lib/containers/storage");
        assert_str(root, "crio/storage_option/0", "overlay.mountopt=nodev,metacopy=on");
        assert_str(root, "crio/api/listen", "/var/run/crio/crio.sock");
        assert_str(root, "crio/api/stream_port", "0");
        assert_bool(root, "crio/api/stream_enable_tls", false);
        assert_int(root, "crio/api/grpc_max_send_msg_size", 83886080);
        assert_int(root, "crio/api/grpc_max_recv_msg_size", 83886080);
        assert_str(root, "crio/runtime/default_runtime", "runc");
        assert_len(root, "crio/runtime/default_capabilities", 9);
        assert_str(root, "crio/runtime/default_capabilities/8", "KILL");
        assert_len(root, "crio/runtime/default_ulimits", 0);
        assert_int(root, "crio/runtime/log_size_max", -1);
        assert_str(root, "crio/runtime/default_sysctls/0", "net.ipv4.ping_group_range=0 2147483647");
        assert_str(root, "crio/runtime/runtimes/runc/runtime_root", "/run/runc");
        assert_str(root, "crio/runtime/runtimes/runc/allowed_annotations/0", "io.containers.trace-syscall");
        assert_str(root, "crio/runtime/runtimes/kata-qemu/runtime_type", "vm");
        assert_bool(root, "crio/runtime/runtimes/kata-qemu/privileged_without_host_devices", true);
        assert_str(root, "crio/image/pause_image", "registry.k8s.io/pause:3.9");
        assert_len(root, "crio/image/insecure_registries", 0);
        assert_str(root, "crio/network/plugin_dirs/1", "/usr/libexec/cni");
        assert_int(root, "crio/metrics/metrics_port", 9090);
        assert_len(root, "crio", 10);
}

static void test_error_kept_first(void **state)
{
        /* A caller's error that is already set is the root cause and stays. */
        struct json_object *root = NULL;
        ocid_error err = OCID_ERROR_INIT;
        ocid_error_set(&err, OCID_ERR_NOT_FOUND, "open '/etc/ocid/ocid.conf'");
        assert_int_equal(toml_parse("a = ", 4, &root, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_NOT_FOUND);
        assert_null(root);
        ocid_error_clear(&err);

        /* NULL err is allowed by the error model. */
        assert_int_equal(toml_parse("a = ", 4, &root, NULL), -1);
        assert_null(root);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty_document),
                cmocka_unit_test(test_keys),
                cmocka_unit_test(test_dotted_keys),
                cmocka_unit_test(test_table_headers),
                cmocka_unit_test(test_implicit_via_array_of_tables),
                cmocka_unit_test(test_subtable_of_dotted_table),
                cmocka_unit_test(test_basic_string_escapes),
                cmocka_unit_test(test_nul_in_string_value),
                cmocka_unit_test(test_literal_strings),
                cmocka_unit_test(test_multiline_basic),
                cmocka_unit_test(test_multiline_literal),
                cmocka_unit_test(test_crlf),
                cmocka_unit_test(test_string_errors),
                cmocka_unit_test(test_control_characters),
                cmocka_unit_test(test_integers),
                cmocka_unit_test(test_integer_errors),
                cmocka_unit_test(test_floats),
                cmocka_unit_test(test_inf_nan),
                cmocka_unit_test(test_float_errors),
                cmocka_unit_test(test_booleans),
                cmocka_unit_test(test_datetimes),
                cmocka_unit_test(test_datetime_errors),
                cmocka_unit_test(test_arrays),
                cmocka_unit_test(test_array_errors),
                cmocka_unit_test(test_inline_tables),
                cmocka_unit_test(test_inline_table_errors),
                cmocka_unit_test(test_array_of_tables),
                cmocka_unit_test(test_nested_array_of_tables),
                cmocka_unit_test(test_array_of_tables_errors),
                cmocka_unit_test(test_duplicate_keys),
                cmocka_unit_test(test_dotted_key_conflicts),
                cmocka_unit_test(test_table_redefinition),
                cmocka_unit_test(test_syntax_errors),
                cmocka_unit_test(test_utf8_and_bom),
                cmocka_unit_test(test_not_nul_terminated),
                cmocka_unit_test(test_depth_limit),
                cmocka_unit_test(test_long_key_in_message),
                cmocka_unit_test(test_whitespace_and_comments),
                cmocka_unit_test(test_registries_conf_v2),
                cmocka_unit_test(test_crio_conf),
                cmocka_unit_test(test_error_kept_first),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
