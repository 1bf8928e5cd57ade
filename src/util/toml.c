/* TOML 1.0 -> json-c. A single pass over the text: values are built
 * directly into the tree, headers move the "current table" cursor.
 *
 * TOML forbids defining a table twice, but which additions count as a
 * redefinition depends on how the table came to exist (a [header], an
 * implicit parent of a header, a dotted key, an inline table). That state
 * rides in the json-c userdata slot of each table and array-of-tables while
 * parsing and is cleared before the tree is returned. */
#include "util/toml.h"

#include <errno.h>
#include <locale.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util/cleanup.h"
#include "util/strbuf.h"

DEFINE_CLEANUP_FUNC(struct json_object, json_object_put)

enum {
        /* A parent created on the way to a [header]; its own [header] may
         * still come later, once. */
        NODE_IMPLICIT = 1 << 0,
        /* Defined by [header] or [[header]] (and the root): closed to dotted
         * keys from other sections and to a second header. */
        NODE_HEADER = 1 << 1,
        /* Created by a dotted key: more dotted keys may add to it (they can
         * only reach it from the section that made it), headers may add
         * sub-tables, but it may not get a header of its own. */
        NODE_DOTTED = 1 << 2,
        /* Inline tables are complete once their '}' is read. */
        NODE_INLINE = 1 << 3,
        /* An array created by [[header]]; static arrays are never appended to. */
        NODE_AOT = 1 << 4,
};
#define NODE_FLAG_BITS 8

/* Long keys and tokens are cut in messages so one bad line cannot turn into
 * a megabyte of log. */
#define SHOW_MAX 64
#define TOKEN_FMT "'%.*s%s'"
#define TOKEN_ARGS(s, n) (int)((n) > SHOW_MAX ? SHOW_MAX : (n)), (s), (n) > SHOW_MAX ? "..." : ""

struct parser {
        const char *p;
        const char *end;
        size_t line;
        struct json_object *root;
        struct json_object *cur; /* where key/value lines go: owned by root */
        locale_t c_locale;       /* created on the first float */
        ocid_error *err;
};

static void parser_done(struct parser *ps)
{
        if (ps->c_locale)
                freelocale(ps->c_locale);
}

/* Up to TOML_MAX_DEPTH tables deep, plus the final key naming a value. */
struct key {
        char *parts[TOML_MAX_DEPTH + 1];
        size_t n;
};

static void key_release(struct key *k)
{
        for (size_t i = 0; i < k->n; i++)
                free(k->parts[i]);
        k->n = 0;
}

static int parse_value(struct parser *ps, unsigned depth, struct json_object **ret);

static int fail_at(struct parser *ps, size_t line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int fail_at(struct parser *ps, size_t line, const char *fmt, ...)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        va_list ap;

        va_start(ap, fmt);
        strbuf_vaddf(&sb, fmt, ap);
        va_end(ap);
        return ocid_error_set(ps->err, OCID_ERR_INVALID, "line %zu: %s", line, sb.buf);
}

#define fail(ps, ...) fail_at((ps), (ps)->line, __VA_ARGS__)

static struct json_object *xnew_object(void)
{
        struct json_object *o = json_object_new_object();
        if (!o)
                abort();
        return o;
}

static struct json_object *xnew_array(void)
{
        struct json_object *o = json_object_new_array();
        if (!o)
                abort();
        return o;
}

/* Callers look the key up first: json-c would silently replace a value. */
static void xobject_add(struct json_object *o, const char *key, struct json_object *v)
{
        if (!v || json_object_object_add(o, key, v) < 0)
                abort();
}

static void xarray_add(struct json_object *a, struct json_object *v)
{
        if (!v || json_object_array_add(a, v) < 0)
                abort();
}

static unsigned node_flags(struct json_object *o)
{
        return (unsigned)((uintptr_t)json_object_get_userdata(o) & ((1u << NODE_FLAG_BITS) - 1));
}

static unsigned node_depth(struct json_object *o)
{
        return (unsigned)((uintptr_t)json_object_get_userdata(o) >> NODE_FLAG_BITS);
}

static void node_mark(struct json_object *o, unsigned flags, unsigned depth)
{
        json_object_set_userdata(o, (void *)(uintptr_t)(flags | depth << NODE_FLAG_BITS), NULL);
}

static bool is_table(struct json_object *o)
{
        return json_object_is_type(o, json_type_object);
}

static bool is_aot(struct json_object *o)
{
        return json_object_is_type(o, json_type_array) && (node_flags(o) & NODE_AOT);
}

static void clear_marks(struct json_object *o)
{
        if (is_table(o)) {
                json_object_set_userdata(o, NULL, NULL);
                json_object_object_foreach(o, name, child) {
                        (void)name;
                        clear_marks(child);
                }
        } else if (json_object_is_type(o, json_type_array)) {
                json_object_set_userdata(o, NULL, NULL);
                size_t n = json_object_array_length(o);
                for (size_t i = 0; i < n; i++)
                        clear_marks(json_object_array_get_idx(o, i));
        }
}

/* ---- characters ---- */

static bool is_digit(int c)
{
        return c >= '0' && c <= '9';
}

static bool is_bare(int c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '-';
}

/* Everything an unquoted value (number, boolean, date-time) can contain. */
static bool is_token_char(int c)
{
        return is_bare(c) || c == '+' || c == '.' || c == ':';
}

/* TOML allows tab but no other C0 control character, nor DEL. */
static bool is_control(unsigned char c)
{
        return (c < 0x20 && c != '\t') || c == 0x7f;
}

static int hex_value(int c)
{
        if (is_digit(c))
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static int peek(const struct parser *ps)
{
        return ps->p < ps->end ? (unsigned char)*ps->p : -1;
}

static int peek_at(const struct parser *ps, size_t off)
{
        return (size_t)(ps->end - ps->p) > off ? (unsigned char)ps->p[off] : -1;
}

static bool at_newline(const struct parser *ps)
{
        int c = peek(ps);
        return c == '\n' || (c == '\r' && peek_at(ps, 1) == '\n');
}

static void eat_newline(struct parser *ps)
{
        if (*ps->p == '\r')
                ps->p++;
        ps->p++;
        ps->line++;
}

static void skip_ws(struct parser *ps)
{
        while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
                ps->p++;
}

struct char_desc {
        char s[32];
};

/* Name the character at the cursor for a message. The result is a
 * temporary that lives until the end of the calling full expression. */
static struct char_desc describe(const struct parser *ps)
{
        struct char_desc d;
        int c = peek(ps);

        if (c < 0)
                snprintf(d.s, sizeof(d.s), "end of input");
        else if (at_newline(ps))
                snprintf(d.s, sizeof(d.s), "end of line");
        else if (c == ' ' || c == '\t')
                snprintf(d.s, sizeof(d.s), "whitespace");
        else if (c > 0x20 && c < 0x7f)
                snprintf(d.s, sizeof(d.s), "'%c'", c);
        else if (c >= 0x80)
                snprintf(d.s, sizeof(d.s), "a non-ASCII character");
        else
                snprintf(d.s, sizeof(d.s), "control character 0x%02x", (unsigned)c);
        return d;
}

static int skip_comment(struct parser *ps)
{
        if (peek(ps) != '#')
                return 0;
        ps->p++;
        while (ps->p < ps->end && !at_newline(ps)) {
                unsigned char c = *ps->p;
                if (is_control(c))
                        return fail(ps, "control character 0x%02x in comment", c);
                ps->p++;
        }
        return 0;
}

/* Whitespace, comments and newlines, as allowed between array elements. */
static int skip_ws_nl(struct parser *ps)
{
        for (;;) {
                skip_ws(ps);
                int r = skip_comment(ps);
                if (r < 0)
                        return r;
                if (!at_newline(ps))
                        return 0;
                eat_newline(ps);
        }
}

/* A header or key/value pair owns its whole line: only a comment may follow. */
static int expect_eol(struct parser *ps, const char *after)
{
        skip_ws(ps);
        int r = skip_comment(ps);
        if (r < 0)
                return r;
        if (ps->p >= ps->end)
                return 0;
        if (at_newline(ps)) {
                eat_newline(ps);
                return 0;
        }
        return fail(ps, "unexpected %s after %s", describe(ps).s, after);
}

/* Checking the whole document first means every later byte >= 0x80 is part
 * of a well-formed sequence, so strings can be copied through unchanged and
 * json-c never holds invalid UTF-8. */
static int validate_utf8(struct parser *ps)
{
        const unsigned char *s = (const unsigned char *)ps->p;
        const unsigned char *end = (const unsigned char *)ps->end;
        size_t line = 1;

        while (s < end) {
                unsigned c = *s;
                if (c < 0x80) {
                        if (c == '\n')
                                line++;
                        s++;
                        continue;
                }
                /* Second-byte ranges exclude overlong forms, surrogates and
                 * code points above U+10FFFF (RFC 3629). */
                size_t n;
                unsigned lo = 0x80, hi = 0xbf;
                if (c >= 0xc2 && c <= 0xdf)
                        n = 1;
                else if (c == 0xe0)
                        n = 2, lo = 0xa0;
                else if (c == 0xed)
                        n = 2, hi = 0x9f;
                else if (c >= 0xe1 && c <= 0xef)
                        n = 2;
                else if (c == 0xf0)
                        n = 3, lo = 0x90;
                else if (c >= 0xf1 && c <= 0xf3)
                        n = 3;
                else if (c == 0xf4)
                        n = 3, hi = 0x8f;
                else
                        return fail_at(ps, line, "invalid UTF-8");
                if ((size_t)(end - s) <= n || s[1] < lo || s[1] > hi)
                        return fail_at(ps, line, "invalid UTF-8");
                for (size_t i = 2; i <= n; i++)
                        if ((s[i] & 0xc0) != 0x80)
                                return fail_at(ps, line, "invalid UTF-8");
                s += n + 1;
        }
        return 0;
}

/* ---- strings ---- */

static void utf8_put(strbuf *sb, uint32_t cp)
{
        char b[4];
        size_t n;

        if (cp < 0x80) {
                b[0] = (char)cp;
                n = 1;
        } else if (cp < 0x800) {
                b[0] = (char)(0xc0 | cp >> 6);
                b[1] = (char)(0x80 | (cp & 0x3f));
                n = 2;
        } else if (cp < 0x10000) {
                b[0] = (char)(0xe0 | cp >> 12);
                b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
                b[2] = (char)(0x80 | (cp & 0x3f));
                n = 3;
        } else {
                b[0] = (char)(0xf0 | cp >> 18);
                b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
                b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
                b[3] = (char)(0x80 | (cp & 0x3f));
                n = 4;
        }
        strbuf_add(sb, b, n);
}

/* The cursor is on the backslash. */
static int parse_escape(struct parser *ps, strbuf *out, size_t start_line)
{
        int c = peek_at(ps, 1);
        char ch;

        switch (c) {
        case 'b': ch = '\b'; break;
        case 't': ch = '\t'; break;
        case 'n': ch = '\n'; break;
        case 'f': ch = '\f'; break;
        case 'r': ch = '\r'; break;
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case 'u':
        case 'U': {
                int digits = c == 'u' ? 4 : 8;
                uint32_t cp = 0;
                for (int i = 0; i < digits; i++) {
                        int v = hex_value(peek_at(ps, 2 + (size_t)i));
                        if (v < 0)
                                return fail(ps, "invalid \\%c escape: expected %d hex digits", c, digits);
                        cp = cp << 4 | (uint32_t)v;
                }
                if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return fail(ps, "escape '%.*s' is not a Unicode scalar value", digits + 2, ps->p);
                ps->p += 2 + digits;
                utf8_put(out, cp);
                return 0;
        }
        case -1:
                return fail_at(ps, start_line, "unterminated string");
        default:
                if (c > 0x20 && c < 0x7f)
                        return fail(ps, "invalid escape '\\%c'", c);
                ps->p++;
                return fail(ps, "invalid escape: backslash followed by %s", describe(ps).s);
        }
        ps->p += 2;
        strbuf_addch(out, ch);
        return 0;
}

/* In a multi-line basic string a backslash that ends a line swallows the
 * newline and all whitespace up to the next visible character. */
static bool skip_line_ending_backslash(struct parser *ps)
{
        const char *q = ps->p + 1;

        while (q < ps->end && (*q == ' ' || *q == '\t'))
                q++;
        if (q >= ps->end || !(*q == '\n' || (*q == '\r' && q + 1 < ps->end && q[1] == '\n')))
                return false;
        ps->p = q;
        for (;;) {
                skip_ws(ps);
                if (!at_newline(ps))
                        return true;
                eat_newline(ps);
        }
}

/* Basic ("...", """...""") or literal ('...', '''...''') string, starting on
 * the opening quote. Keys pass allow_multi = false: """ is then an empty
 * string followed by garbage. */
static int parse_string(struct parser *ps, strbuf *out, char quote, bool allow_multi)
{
        size_t start = ps->line;
        bool basic = quote == '"';
        bool multi = allow_multi && peek_at(ps, 1) == quote && peek_at(ps, 2) == quote;

        ps->p += multi ? 3 : 1;
        /* A newline right after the opening delimiter is not content. */
        if (multi && at_newline(ps))
                eat_newline(ps);

        for (;;) {
                const char *run = ps->p;
                while (ps->p < ps->end && *ps->p != quote && !(basic && *ps->p == '\\') &&
                       !is_control((unsigned char)*ps->p))
                        ps->p++;
                strbuf_add(out, run, (size_t)(ps->p - run));

                if (ps->p >= ps->end)
                        return fail_at(ps, start, multi ? "unterminated multi-line string" : "unterminated string");
                unsigned char c = *ps->p;
                if (c == quote) {
                        if (!multi) {
                                ps->p++;
                                return 0;
                        }
                        /* Up to two quotes may sit right before the closing
                         * three; a longer run leaves garbage after the value. */
                        size_t n = 0;
                        while (n < 5 && peek_at(ps, n) == quote)
                                n++;
                        if (n >= 3) {
                                for (size_t i = 3; i < n; i++)
                                        strbuf_addch(out, quote);
                                ps->p += n;
                                return 0;
                        }
                        strbuf_add(out, ps->p, n);
                        ps->p += n;
                } else if (c == '\\') {
                        if (multi && skip_line_ending_backslash(ps))
                                continue;
                        int r = parse_escape(ps, out, start);
                        if (r < 0)
                                return r;
                } else if (at_newline(ps)) {
                        if (!multi)
                                return fail_at(ps, start, "unterminated string");
                        eat_newline(ps);
                        strbuf_addch(out, '\n');
                } else {
                        return fail(ps, "control character 0x%02x in string", c);
                }
        }
}

/* ---- keys ---- */

static void show_part(strbuf *sb, const char *s)
{
        size_t n = strlen(s);
        bool bare = n > 0;

        for (size_t i = 0; i < n && bare; i++)
                bare = is_bare((unsigned char)s[i]);
        if (bare && n <= SHOW_MAX) {
                strbuf_add(sb, s, n);
                return;
        }
        bool cut = n > SHOW_MAX;
        if (cut) {
                n = SHOW_MAX;
                /* Do not split a UTF-8 sequence. */
                while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
                        n--;
        }
        if (!bare)
                strbuf_addch(sb, '"');
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == '"' || c == '\\')
                        strbuf_addf(sb, "\\%c", c);
                else if (is_control(c) || c == '\t')
                        strbuf_addf(sb, "\\u%04x", c);
                else
                        strbuf_addch(sb, (char)c);
        }
        if (cut)
                strbuf_adds(sb, "...");
        if (!bare)
                strbuf_addch(sb, '"');
}

/* The first n parts of k, written back as TOML. */
static char *key_show(const struct key *k, size_t n)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;

        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        strbuf_addch(&sb, '.');
                show_part(&sb, k->parts[i]);
        }
        return strbuf_detach(&sb, NULL);
}

/* fail() with the first n parts of k as the first %s of fmt. */
#define fail_key(ps, k, n, fmt, ...)                                           \
        ({                                                                     \
                _cleanup_free_ char *_name = key_show((k), (n));               \
                fail((ps), fmt, _name, ##__VA_ARGS__);                         \
        })

static int parse_key(struct parser *ps, struct key *k)
{
        for (;;) {
                skip_ws(ps);
                if (k->n == ARRAY_SIZE(k->parts))
                        return fail(ps, "key has more than %zu parts", ARRAY_SIZE(k->parts));

                int c = peek(ps);
                char *part;
                if (c == '"' || c == '\'') {
                        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
                        int r = parse_string(ps, &sb, (char)c, false);
                        if (r < 0)
                                return r;
                        /* json-c keys are C strings. */
                        if (memchr(sb.buf, '\0', sb.len))
                                return fail(ps, "key contains a NUL character");
                        part = strbuf_detach(&sb, NULL);
                } else if (is_bare(c)) {
                        const char *s = ps->p;
                        while (is_bare(peek(ps)))
                                ps->p++;
                        part = strndup(s, (size_t)(ps->p - s));
                        if (!part)
                                abort();
                } else {
                        return fail(ps, "expected a key, found %s", describe(ps).s);
                }
                k->parts[k->n++] = part;

                skip_ws(ps);
                if (peek(ps) != '.')
                        return 0;
                ps->p++;
        }
}

/* ---- tables ---- */

static int nested_too_deep(struct parser *ps)
{
        return fail(ps, "nesting deeper than %d levels", TOML_MAX_DEPTH);
}

/* New table under parent (an object, or an array of tables when key is NULL). */
static int new_table(struct parser *ps, struct json_object *parent, const char *key, unsigned flags,
                     struct json_object **ret)
{
        unsigned depth = node_depth(parent) + 1;

        if (depth > TOML_MAX_DEPTH)
                return nested_too_deep(ps);
        struct json_object *t = xnew_object();
        node_mark(t, flags, depth);
        if (key)
                xobject_add(parent, key, t);
        else
                xarray_add(parent, t);
        *ret = t;
        return 0;
}

static int parse_header(struct parser *ps)
{
        _cleanup_(key_release) struct key k = { .n = 0 };
        struct json_object *t = ps->root, *child;
        int r;

        ps->p++;
        bool aot = peek(ps) == '[';
        if (aot)
                ps->p++;
        r = parse_key(ps, &k);
        if (r < 0)
                return r;
        if (peek(ps) != ']' || (aot && peek_at(ps, 1) != ']')) {
                if (peek(ps) == ']')
                        ps->p++;
                return fail(ps, "expected '%s' to close the table header, found %s", aot ? "]]" : "]",
                            describe(ps).s);
        }
        ps->p += aot ? 2 : 1;

        for (size_t i = 0; i + 1 < k.n; i++) {
                if (!json_object_object_get_ex(t, k.parts[i], &child)) {
                        r = new_table(ps, t, k.parts[i], NODE_IMPLICIT, &t);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (is_aot(child)) {
                        /* [a.b] after [[a]] refers to the last element of a. */
                        t = json_object_array_get_idx(child, json_object_array_length(child) - 1);
                        continue;
                }
                if (!is_table(child))
                        return fail_key(ps, &k, i + 1, "key '%s' is already defined and is not a table");
                if (node_flags(child) & NODE_INLINE)
                        return fail_key(ps, &k, i + 1, "inline table '%s' cannot be extended");
                t = child;
        }

        const char *last = k.parts[k.n - 1];
        if (!json_object_object_get_ex(t, last, &child)) {
                if (!aot)
                        return new_table(ps, t, last, NODE_HEADER, &ps->cur);
                unsigned depth = node_depth(t) + 1;
                if (depth > TOML_MAX_DEPTH)
                        return nested_too_deep(ps);
                struct json_object *array = xnew_array();
                node_mark(array, NODE_AOT, depth);
                xobject_add(t, last, array);
                return new_table(ps, array, NULL, NODE_HEADER, &ps->cur);
        }

        if (aot) {
                if (!is_aot(child))
                        return fail_key(ps, &k, k.n, "key '%s' is already defined and is not an array of tables");
                return new_table(ps, child, NULL, NODE_HEADER, &ps->cur);
        }
        if (is_aot(child))
                return fail_key(ps, &k, k.n, "'%s' is already defined as an array of tables");
        if (!is_table(child))
                return fail_key(ps, &k, k.n, "key '%s' is already defined and is not a table");
        unsigned flags = node_flags(child);
        if (flags & NODE_INLINE)
                return fail_key(ps, &k, k.n, "inline table '%s' cannot be extended");
        if (flags & NODE_DOTTED)
                return fail_key(ps, &k, k.n, "table '%s' is already defined by dotted keys");
        if (flags & NODE_HEADER)
                return fail_key(ps, &k, k.n, "table '%s' is already defined");
        node_mark(child, NODE_HEADER, node_depth(child));
        ps->cur = child;
        return 0;
}

static int parse_keyval(struct parser *ps, struct json_object *table)
{
        _cleanup_(key_release) struct key k = { .n = 0 };
        struct json_object *t = table, *child;
        int r;

        r = parse_key(ps, &k);
        if (r < 0)
                return r;
        if (peek(ps) != '=')
                return fail_key(ps, &k, k.n, "expected '=' after key '%s', found %s", describe(ps).s);
        ps->p++;
        skip_ws(ps);

        for (size_t i = 0; i + 1 < k.n; i++) {
                if (!json_object_object_get_ex(t, k.parts[i], &child)) {
                        r = new_table(ps, t, k.parts[i], NODE_DOTTED, &t);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!is_table(child))
                        return fail_key(ps, &k, i + 1, "key '%s' is already defined and is not a table");
                unsigned flags = node_flags(child);
                if (flags & NODE_INLINE)
                        return fail_key(ps, &k, i + 1, "inline table '%s' cannot be extended");
                if (!(flags & NODE_DOTTED))
                        return fail_key(ps, &k, i + 1,
                                        "table '%s' is defined elsewhere and cannot be extended with dotted keys");
                t = child;
        }

        const char *last = k.parts[k.n - 1];
        if (json_object_object_get_ex(t, last, NULL))
                return fail_key(ps, &k, k.n, "duplicate key '%s'");
        struct json_object *v = NULL;
        r = parse_value(ps, node_depth(t) + 1, &v);
        if (r < 0)
                return r;
        xobject_add(t, last, v);
        return 0;
}

/* ---- values ---- */

static int parse_array(struct parser *ps, unsigned depth, struct json_object **ret)
{
        size_t start = ps->line;
        int r;

        if (depth > TOML_MAX_DEPTH)
                return nested_too_deep(ps);
        _cleanup_(json_object_putp) struct json_object *array = xnew_array();
        ps->p++;
        for (;;) {
                r = skip_ws_nl(ps);
                if (r < 0)
                        return r;
                if (peek(ps) == ']')
                        break;
                if (peek(ps) < 0)
                        return fail_at(ps, start, "unterminated array");

                struct json_object *v = NULL;
                r = parse_value(ps, depth + 1, &v);
                if (r < 0)
                        return r;
                xarray_add(array, v);

                r = skip_ws_nl(ps);
                if (r < 0)
                        return r;
                if (peek(ps) == ',') {
                        ps->p++;
                        continue;
                }
                if (peek(ps) == ']')
                        break;
                if (peek(ps) < 0)
                        return fail_at(ps, start, "unterminated array");
                return fail(ps, "expected ',' or ']' in array, found %s", describe(ps).s);
        }
        ps->p++;
        *ret = TAKE_PTR(array);
        return 0;
}

static int parse_inline_table(struct parser *ps, unsigned depth, struct json_object **ret)
{
        size_t start = ps->line;
        int r;

        if (depth > TOML_MAX_DEPTH)
                return nested_too_deep(ps);
        _cleanup_(json_object_putp) struct json_object *table = xnew_object();
        node_mark(table, 0, depth);
        ps->p++;
        skip_ws(ps);
        if (peek(ps) != '}') {
                for (;;) {
                        skip_ws(ps);
                        if (peek(ps) < 0)
                                return fail_at(ps, start, "unterminated inline table");
                        /* TOML 1.0 keeps inline tables on one line (1.1 will not). */
                        if (at_newline(ps))
                                return fail(ps, "newline in inline table");
                        r = parse_keyval(ps, table);
                        if (r < 0)
                                return r;
                        skip_ws(ps);
                        int c = peek(ps);
                        if (c == '}')
                                break;
                        if (c == ',') {
                                ps->p++;
                                skip_ws(ps);
                                if (peek(ps) == '}')
                                        return fail(ps, "trailing comma in inline table");
                                continue;
                        }
                        if (c < 0)
                                return fail_at(ps, start, "unterminated inline table");
                        if (at_newline(ps))
                                return fail(ps, "newline in inline table");
                        return fail(ps, "expected ',' or '}' in inline table, found %s", describe(ps).s);
                }
        }
        ps->p++;
        node_mark(table, NODE_INLINE, depth);
        *ret = TAKE_PTR(table);
        return 0;
}

static bool all_digits(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!is_digit((unsigned char)s[i]))
                        return false;
        return true;
}

static int num2(const char *s)
{
        return (s[0] - '0') * 10 + (s[1] - '0');
}

static bool looks_like_date(const char *s, size_t n)
{
        return n >= 10 && all_digits(s, 4) && s[4] == '-' && all_digits(s + 5, 2) && s[7] == '-' &&
               all_digits(s + 8, 2);
}

static bool valid_date(const char *s)
{
        static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        int year = num2(s) * 100 + num2(s + 2), month = num2(s + 5), day = num2(s + 8);

        if (month < 1 || month > 12 || day < 1)
                return false;
        bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        return day <= days[month - 1] + (month == 2 && leap);
}

/* HH:MM:SS[.fraction] at the start of s; returns its length, 0 if invalid.
 * TOML 1.0 requires the seconds. */
static size_t valid_time(const char *s, size_t n)
{
        if (n < 8 || !all_digits(s, 2) || s[2] != ':' || !all_digits(s + 3, 2) || s[5] != ':' ||
            !all_digits(s + 6, 2))
                return 0;
        /* 60: RFC 3339 leap second. */
        if (num2(s) > 23 || num2(s + 3) > 59 || num2(s + 6) > 60)
                return 0;
        size_t i = 8;
        if (i < n && s[i] == '.') {
                size_t digits = ++i;
                while (i < n && is_digit((unsigned char)s[i]))
                        i++;
                if (i == digits)
                        return 0;
        }
        return i;
}

static bool valid_datetime(const char *s, size_t n)
{
        if (n >= 3 && s[2] == ':')
                return valid_time(s, n) == n;
        if (!looks_like_date(s, n) || !valid_date(s))
                return false;
        if (n == 10)
                return true;
        if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
                return false;
        s += 11;
        n -= 11;
        size_t t = valid_time(s, n);
        if (!t)
                return false;
        s += t;
        n -= t;
        if (n == 0)
                return true;
        if (n == 1)
                return s[0] == 'Z' || s[0] == 'z';
        return n == 6 && (s[0] == '+' || s[0] == '-') && all_digits(s + 1, 2) && s[3] == ':' &&
               all_digits(s + 4, 2) && num2(s + 1) <= 23 && num2(s + 4) <= 59;
}

static int digit_value(int c, int base)
{
        int v = hex_value(c);
        return v >= 0 && v < base ? v : -1;
}

/* Digits of base with single underscores strictly between digits. */
static bool valid_digits(const char *s, size_t n, int base)
{
        if (n == 0 || s[0] == '_' || s[n - 1] == '_')
                return false;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '_') {
                        if (s[i + 1] == '_')
                                return false;
                } else if (digit_value((unsigned char)s[i], base) < 0) {
                        return false;
                }
        }
        return true;
}

static int parse_integer(struct parser *ps, const char *s, size_t n, struct json_object **ret)
{
        bool signed_ = s[0] == '+' || s[0] == '-';
        bool negative = s[0] == '-';
        const char *d = s + signed_;
        size_t dn = n - signed_;
        int base = 10;

        if (dn > 2 && d[0] == '0' && (d[1] == 'x' || d[1] == 'o' || d[1] == 'b')) {
                if (signed_)
                        return fail(ps, "invalid integer " TOKEN_FMT ": no sign allowed before 0%c",
                                    TOKEN_ARGS(s, n), d[1]);
                base = d[1] == 'x' ? 16 : d[1] == 'o' ? 8 : 2;
                d += 2;
                dn -= 2;
        } else if (dn > 1 && d[0] == '0' && (is_digit((unsigned char)d[1]) || d[1] == '_')) {
                return fail(ps, "invalid integer " TOKEN_FMT ": leading zero", TOKEN_ARGS(s, n));
        }
        if (!valid_digits(d, dn, base))
                return fail(ps, "invalid integer " TOKEN_FMT, TOKEN_ARGS(s, n));

        uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        uint64_t v = 0;
        for (size_t i = 0; i < dn; i++) {
                if (d[i] == '_')
                        continue;
                uint64_t dv = (uint64_t)digit_value((unsigned char)d[i], base);
                if (v > (limit - dv) / (uint64_t)base)
                        return fail(ps, "integer " TOKEN_FMT " out of range", TOKEN_ARGS(s, n));
                v = v * (uint64_t)base + dv;
        }
        int64_t value;
        if (!negative)
                value = (int64_t)v;
        else if (v == (uint64_t)INT64_MAX + 1)
                value = INT64_MIN;
        else
                value = -(int64_t)v;
        *ret = json_object_new_int64(value);
        if (!*ret)
                abort();
        return 0;
}

static size_t span_digits(const char *s, size_t i, size_t n)
{
        while (i < n && (is_digit((unsigned char)s[i]) || s[i] == '_'))
                i++;
        return i;
}

/* [+-] int-part ( frac [exp] | exp ), no leading zeros in the int part. */
static bool float_syntax_ok(const char *s, size_t n)
{
        size_t i = s[0] == '+' || s[0] == '-';
        size_t j = span_digits(s, i, n);
        bool has_frac = false, has_exp = false;

        if (!valid_digits(s + i, j - i, 10) || (s[i] == '0' && j - i > 1))
                return false;
        if (j < n && s[j] == '.') {
                size_t k = ++j;
                j = span_digits(s, j, n);
                if (!valid_digits(s + k, j - k, 10))
                        return false;
                has_frac = true;
        }
        if (j < n && (s[j] == 'e' || s[j] == 'E')) {
                j++;
                if (j < n && (s[j] == '+' || s[j] == '-'))
                        j++;
                size_t k = j;
                j = span_digits(s, j, n);
                if (!valid_digits(s + k, j - k, 10))
                        return false;
                has_exp = true;
        }
        return j == n && (has_frac || has_exp);
}

static int parse_float(struct parser *ps, const char *s, size_t n, struct json_object **ret)
{
        if (!float_syntax_ok(s, n))
                return fail(ps, "invalid float " TOKEN_FMT, TOKEN_ARGS(s, n));

        _cleanup_free_ char *buf = malloc(n + 1);
        if (!buf)
                abort();
        size_t bn = 0;
        for (size_t k = 0; k < n; k++)
                if (s[k] != '_')
                        buf[bn++] = s[k];
        buf[bn] = '\0';

        /* The daemon's locale must not turn "1.5" into 1. */
        if (!ps->c_locale)
                ps->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
        char *endp;
        errno = 0;
        double v = ps->c_locale ? strtod_l(buf, &endp, ps->c_locale) : strtod(buf, &endp);
        if (*endp != '\0')
                return fail(ps, "invalid float " TOKEN_FMT, TOKEN_ARGS(s, n));
        if (errno == ERANGE && isinf(v))
                return fail(ps, "float " TOKEN_FMT " out of range", TOKEN_ARGS(s, n));
        *ret = json_object_new_double(v);
        if (!*ret)
                abort();
        return 0;
}

/* Booleans, numbers and date-times: an unquoted run of token characters. */
static int parse_scalar(struct parser *ps, struct json_object **ret)
{
        const char *s = ps->p;

        while (is_token_char(peek(ps)))
                ps->p++;
        /* RFC 3339 lets a space separate date and time, and TOML follows. */
        if (ps->p - s == 10 && looks_like_date(s, 10) && peek(ps) == ' ' && is_digit(peek_at(ps, 1))) {
                ps->p++;
                while (is_token_char(peek(ps)))
                        ps->p++;
        }
        size_t n = (size_t)(ps->p - s);
        if (n == 0)
                return fail(ps, "expected a value, found %s", describe(ps).s);

        if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0)) {
                *ret = json_object_new_boolean(n == 4);
                if (!*ret)
                        abort();
                return 0;
        }
        if ((n >= 5 && all_digits(s, 4) && s[4] == '-') || (n >= 3 && all_digits(s, 2) && s[2] == ':')) {
                if (!valid_datetime(s, n))
                        return fail(ps, "invalid date-time " TOKEN_FMT, TOKEN_ARGS(s, n));
                *ret = json_object_new_string_len(s, (int)n);
                if (!*ret)
                        abort();
                return 0;
        }

        bool sign = s[0] == '+' || s[0] == '-';
        const char *body = s + sign;
        size_t bn = n - sign;
        if (bn == 3 && (memcmp(body, "inf", 3) == 0 || memcmp(body, "nan", 3) == 0)) {
                double v = body[0] == 'i' ? INFINITY : NAN;
                *ret = json_object_new_double(s[0] == '-' ? -v : v);
                if (!*ret)
                        abort();
                return 0;
        }
        if (bn == 0 || !is_digit((unsigned char)body[0]))
                return fail(ps, "invalid value " TOKEN_FMT, TOKEN_ARGS(s, n));
        if (!(bn > 1 && body[0] == '0' && (body[1] == 'x' || body[1] == 'o' || body[1] == 'b')) &&
            (memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n)))
                return parse_float(ps, s, n, ret);
        return parse_integer(ps, s, n, ret);
}

static int parse_value(struct parser *ps, unsigned depth, struct json_object **ret)
{
        int c = peek(ps);

        if (c == '"' || c == '\'') {
                _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
                int r = parse_string(ps, &sb, (char)c, true);
                if (r < 0)
                        return r;
                if (sb.len > INT_MAX)
                        return fail(ps, "string longer than %d bytes", INT_MAX);
                *ret = json_object_new_string_len(sb.buf, (int)sb.len);
                if (!*ret)
                        abort();
                return 0;
        }
        if (c == '[')
                return parse_array(ps, depth, ret);
        if (c == '{')
                return parse_inline_table(ps, depth, ret);
        return parse_scalar(ps, ret);
}

/* ---- document ---- */

static int parse_document(struct parser *ps)
{
        while (ps->p < ps->end) {
                int r;
                skip_ws(ps);
                int c = peek(ps);
                if (c == '[') {
                        r = parse_header(ps);
                        if (r < 0)
                                return r;
                        r = expect_eol(ps, "table header");
                } else if (c >= 0 && c != '#' && !at_newline(ps)) {
                        r = parse_keyval(ps, ps->cur);
                        if (r < 0)
                                return r;
                        r = expect_eol(ps, "value");
                } else {
                        r = expect_eol(ps, "whitespace");
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

int toml_parse(const char *text, size_t len, struct json_object **ret, ocid_error *err)
{
        _cleanup_(parser_done) struct parser ps = {
                .p = text ? text : "",
                .end = (text ? text : "") + (text ? len : 0),
                .line = 1,
                .err = err,
        };
        int r;

        r = validate_utf8(&ps);
        if (r < 0)
                return r;
        if (ps.end - ps.p >= 3 && memcmp(ps.p, "\xef\xbb\xbf", 3) == 0)
                ps.p += 3;

        _cleanup_(json_object_putp) struct json_object *root = xnew_object();
        node_mark(root, NODE_HEADER, 0);
        ps.root = ps.cur = root;
        r = parse_document(&ps);
        if (r < 0)
                return r;
        clear_marks(root);
        *ret = TAKE_PTR(root);
        return 0;
}
