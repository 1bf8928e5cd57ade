/* Image references: the docker/distribution grammar with docker's
 * normalisation (see reference.h). A hand-written scanner rather than
 * regcomp(): the grammar is small, and a scanner gives each failure its own
 * message. */
#include "image/reference.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DEFAULT_DOMAIN "index.docker.io"
#define OFFICIAL_REPO_PREFIX "library/"
#define DEFAULT_TAG "latest"
#define TAG_MAX 128
/* How much of a bad input an error message quotes. */
#define QUOTE_MAX 128

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
        return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool hex64_valid(const char *s)
{
        if (!s)
                return false;
        size_t i;
        for (i = 0; i < 64; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return s[i] == '\0';
}

bool digest_valid(const char *digest)
{
        return digest && strncmp(digest, "sha256:", 7) == 0 && hex64_valid(digest + 7);
}

/* The input as an error message shows it: cut, and with anything that is
 * not printable ASCII escaped, so a hostile reference cannot smuggle control
 * characters or a megabyte into a log line. */
static void add_quoted(strbuf *sb, const char *s, size_t n)
{
        size_t shown = n > QUOTE_MAX ? QUOTE_MAX : n;
        strbuf_addch(sb, '\'');
        for (size_t i = 0; i < shown; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x20 || c >= 0x7f || c == '\\' || c == '\'')
                        strbuf_addf(sb, "\\x%02x", c);
                else
                        strbuf_addch(sb, (char)c);
        }
        if (shown < n)
                strbuf_adds(sb, "...");
        strbuf_addch(sb, '\'');
}

static int ref_fail(ocid_error *err, const char *input, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int ref_fail(ocid_error *err, const char *input, const char *fmt, ...)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        va_list ap;

        strbuf_adds(&sb, "invalid reference ");
        add_quoted(&sb, input, strlen(input));
        strbuf_adds(&sb, ": ");
        va_start(ap, fmt);
        strbuf_vaddf(&sb, fmt, ap);
        va_end(ap);
        return ocid_error_set(err, OCID_ERR_INVALID, "%s", sb.buf);
}

/* A piece of the input, quoted the same way, for messages that name it. */
static char *quote_piece(const char *s, size_t n)
{
        strbuf sb = STRBUF_INIT;
        add_quoted(&sb, s, n);
        return strbuf_detach(&sb, NULL);
}

/* [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
static bool tag_valid(const char *s, size_t n)
{
        if (n == 0 || n > TAG_MAX)
                return false;
        if (!(is_alnum(s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!(is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
                        return false;
        return true;
}

/* One DNS-like label: [A-Za-z0-9] or [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]. */
static bool label_valid(const char *s, size_t n)
{
        if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
                return false;
        for (size_t i = 1; i + 1 < n; i++)
                if (!(is_alnum(s[i]) || s[i] == '-'))
                        return false;
        return true;
}

/* host[:port], host being labels joined by '.' or "[" ipv6 "]". */
static bool domain_valid(const char *s, size_t n)
{
        size_t host_end;

        if (n == 0)
                return false;
        if (s[0] == '[') {
                size_t i = 1;
                while (i < n && (is_hex(s[i]) || s[i] == ':'))
                        i++;
                if (i == 1 || i >= n || s[i] != ']')
                        return false;
                host_end = i + 1;
        } else {
                host_end = 0;
                while (host_end < n && s[host_end] != ':')
                        host_end++;
                size_t start = 0;
                for (size_t i = 0; i <= host_end; i++) {
                        if (i == host_end || s[i] == '.') {
                                if (!label_valid(s + start, i - start))
                                        return false;
                                start = i + 1;
                        }
                }
        }
        if (host_end == n)
                return true;
        if (s[host_end] != ':' || host_end + 1 == n)
                return false;
        for (size_t i = host_end + 1; i < n; i++)
                if (!is_digit(s[i]))
                        return false;
        return true;
}

/* [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )* */
static bool component_valid(const char *s, size_t n)
{
        size_t i = 0;

        if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
                return false;
        while (i < n) {
                if (is_lower_alnum(s[i])) {
                        i++;
                        continue;
                }
                /* A separator: i > 0 and s[i - 1] is alphanumeric here. */
                if (s[i] == '.') {
                        i++;
                } else if (s[i] == '_') {
                        i++;
                        if (i < n && s[i] == '_')
                                i++;
                } else if (s[i] == '-') {
                        while (i < n && s[i] == '-')
                                i++;
                } else {
                        return false;
                }
                if (i >= n || !is_lower_alnum(s[i]))
                        return false;
        }
        return true;
}

static bool has_upper(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] >= 'A' && s[i] <= 'Z')
                        return true;
        return false;
}

/* The first component names a registry when it looks like a host: it has a
 * '.' (a domain) or a ':' (a port), or is "localhost". Anything else
 * ("library", "myuser") is a docker.io namespace. */
static bool looks_like_domain(const char *s, size_t n)
{
        return memchr(s, '.', n) || memchr(s, ':', n) ||
               (n == strlen("localhost") && memcmp(s, "localhost", n) == 0);
}

static int check_path(const char *input, const char *path, size_t n, ocid_error *err)
{
        if (n == 0)
                return ref_fail(err, input, "repository path is empty");
        if (has_upper(path, n))
                return ref_fail(err, input, "repository name must be lowercase");
        size_t start = 0;
        for (size_t i = 0; i <= n; i++) {
                if (i < n && path[i] != '/')
                        continue;
                if (i == start)
                        return ref_fail(err, input, "repository path has an empty component");
                if (!component_valid(path + start, i - start)) {
                        _cleanup_free_ char *q = quote_piece(path + start, i - start);
                        return ref_fail(err, input,
                                        "invalid path component %s: components are lower-case "
                                        "letters and digits, separated inside by '.', '_', '__' "
                                        "or dashes",
                                        q);
                }
                start = i + 1;
        }
        return 0;
}

int image_ref_parse(const char *s, image_ref **ret, ocid_error *err)
{
        if (!s || !*s)
                return ref_fail(err, "", "reference is empty");

        size_t len = strnlen(s, IMAGE_REF_INPUT_MAX + 1);
        if (len > IMAGE_REF_INPUT_MAX)
                return ref_fail(err, s, "reference is longer than %d characters",
                                IMAGE_REF_INPUT_MAX);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c <= ' ' || c == 0x7f)
                        return ref_fail(err, s,
                                        "reference contains whitespace or a control character");
        }
        if (hex64_valid(s))
                return ref_fail(err, s,
                                "a 64-character hexadecimal string is an image ID, not a "
                                "repository name");

        /* name [":" tag] ["@" digest]: '@' appears nowhere else, and the tag
         * is after the last ':' that follows the last '/' (a ':' before a
         * '/' is a registry port). */
        const char *at = memchr(s, '@', len);
        const char *name_end = at ? at : s + len;
        const char *digest = NULL;
        if (at) {
                digest = at + 1;
                if (!*digest)
                        return ref_fail(err, s, "'@' must be followed by a digest");
                if (!digest_valid(digest)) {
                        _cleanup_free_ char *q = quote_piece(digest, strlen(digest));
                        return ref_fail(err, s,
                                        "invalid digest %s: expected sha256:<64 lower-case hex "
                                        "digits>",
                                        q);
                }
        }

        const char *last_slash = NULL;
        for (const char *p = s; p < name_end; p++)
                if (*p == '/')
                        last_slash = p;
        const char *colon = NULL;
        for (const char *p = last_slash ? last_slash : s; p < name_end; p++)
                if (*p == ':')
                        colon = p;
        const char *tag = NULL;
        size_t tag_len = 0;
        if (colon) {
                tag = colon + 1;
                tag_len = (size_t)(name_end - tag);
                if (tag_len == 0)
                        return ref_fail(err, s, "':' must be followed by a tag");
                if (!tag_valid(tag, tag_len)) {
                        _cleanup_free_ char *q = quote_piece(tag, tag_len);
                        return ref_fail(err, s,
                                        "invalid tag %s: a tag is 1 to %d letters, digits, '_', "
                                        "'.' or '-', not starting with '.' or '-'",
                                        q, TAG_MAX);
                }
                name_end = colon;
        }

        size_t name_len = (size_t)(name_end - s);
        if (name_len == 0)
                return ref_fail(err, s, "repository name is empty");

        const char *first_slash = memchr(s, '/', name_len);
        const char *domain = DEFAULT_DOMAIN;
        size_t domain_len = strlen(DEFAULT_DOMAIN);
        const char *path = s;
        bool had_domain = false;
        if (first_slash && looks_like_domain(s, (size_t)(first_slash - s))) {
                domain = s;
                domain_len = (size_t)(first_slash - s);
                path = first_slash + 1;
                had_domain = true;
                if (!domain_valid(domain, domain_len)) {
                        _cleanup_free_ char *q = quote_piece(domain, domain_len);
                        return ref_fail(err, s,
                                        "invalid registry host %s: expected host[:port] with "
                                        "a DNS name, an IPv4 address or a [bracketed] IPv6 "
                                        "address",
                                        q);
                }
                if (domain_len == strlen(LEGACY_DEFAULT_DOMAIN) &&
                    memcmp(domain, LEGACY_DEFAULT_DOMAIN, domain_len) == 0) {
                        domain = DEFAULT_DOMAIN;
                        domain_len = strlen(DEFAULT_DOMAIN);
                }
        }
        size_t path_len = (size_t)(name_end - path);
        if (check_path(s, path, path_len, err) < 0)
                return -1;

        bool library = domain_len == strlen(DEFAULT_DOMAIN) &&
                       memcmp(domain, DEFAULT_DOMAIN, domain_len) == 0 &&
                       !memchr(path, '/', path_len);
        size_t full_path_len = path_len + (library ? strlen(OFFICIAL_REPO_PREFIX) : 0);
        if (domain_len + 1 + full_path_len > IMAGE_REF_NAME_MAX)
                return ref_fail(err, s, "repository name is longer than %d characters",
                                IMAGE_REF_NAME_MAX);

        image_ref *ref = xcalloc(1, sizeof(*ref));
        ref->domain = xstrndup(domain, domain_len);
        strbuf p = STRBUF_INIT;
        if (library)
                strbuf_adds(&p, OFFICIAL_REPO_PREFIX);
        strbuf_add(&p, path, path_len);
        ref->path = strbuf_detach(&p, NULL);
        if (tag)
                ref->tag = xstrndup(tag, tag_len);
        else if (!digest)
                ref->tag = xstrdup(DEFAULT_TAG);
        if (digest)
                ref->digest = xstrdup(digest);
        ref->had_domain = had_domain;
        ref->library_implied = library;
        *ret = ref;
        return 0;
}

image_ref *image_ref_copy(const image_ref *ref)
{
        if (!ref)
                return NULL;
        image_ref *c = xcalloc(1, sizeof(*c));
        c->domain = xstrdup(ref->domain);
        c->path = xstrdup(ref->path);
        c->tag = ref->tag ? xstrdup(ref->tag) : NULL;
        c->digest = ref->digest ? xstrdup(ref->digest) : NULL;
        c->had_domain = ref->had_domain;
        c->library_implied = ref->library_implied;
        return c;
}

void image_ref_free(image_ref *ref)
{
        if (!ref)
                return;
        free(ref->domain);
        free(ref->path);
        free(ref->tag);
        free(ref->digest);
        free(ref);
}

static void add_name(strbuf *sb, const image_ref *ref)
{
        strbuf_adds(sb, ref->domain);
        strbuf_addch(sb, '/');
        strbuf_adds(sb, ref->path);
}

char *image_ref_name(const image_ref *ref)
{
        strbuf sb = STRBUF_INIT;
        add_name(&sb, ref);
        return strbuf_detach(&sb, NULL);
}

char *image_ref_string(const image_ref *ref)
{
        strbuf sb = STRBUF_INIT;
        add_name(&sb, ref);
        if (ref->tag)
                strbuf_addf(&sb, ":%s", ref->tag);
        if (ref->digest)
                strbuf_addf(&sb, "@%s", ref->digest);
        return strbuf_detach(&sb, NULL);
}

char *image_ref_tagged(const image_ref *ref)
{
        if (!ref->tag)
                return NULL;
        strbuf sb = STRBUF_INIT;
        add_name(&sb, ref);
        strbuf_addf(&sb, ":%s", ref->tag);
        return strbuf_detach(&sb, NULL);
}

char *image_ref_digested(const image_ref *ref, const char *digest)
{
        if (!digest)
                digest = ref->digest;
        if (!digest)
                return NULL;
        strbuf sb = STRBUF_INIT;
        add_name(&sb, ref);
        strbuf_addf(&sb, "@%s", digest);
        return strbuf_detach(&sb, NULL);
}
