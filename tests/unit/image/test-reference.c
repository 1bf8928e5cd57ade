/* image_ref_parse(): docker's normalisation, the reference grammar piece by
 * piece, every refusal with its message, and the formatting round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "image/reference.h"
#include "util/cleanup.h"
#include "util/strbuf.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIGEST "sha256:" HEX64

/* ---- helpers ---- */

static image_ref *parse_ok(const char *s)
{
        image_ref *ref = NULL;
        ocid_error err = OCID_ERROR_INIT;
        int r = image_ref_parse(s, &ref, &err);
        if (r < 0)
                print_message("unexpected error for '%s': %s\n", s, err.message);
        assert_int_equal(r, 0);
        assert_int_equal(err.kind, OCID_OK);
        assert_null(err.message);
        assert_non_null(ref);
        return ref;
}

/* Parses to exactly this normalised string. */
static void expect_norm(const char *in, const char *want)
{
        _cleanup_(image_ref_freep) image_ref *ref = parse_ok(in);
        _cleanup_free_ char *got = image_ref_string(ref);
        if (!STREQ(got, want))
                print_message("'%s' -> '%s', want '%s'\n", in, got, want);
        assert_string_equal(got, want);
}

/* Refused as INVALID, the message quoting the input (when given) and
 * containing needle; *ret untouched. */
static void expect_invalid_q(const char *in, const char *quoted, const char *needle)
{
        image_ref *sentinel = (image_ref *)&sentinel;
        image_ref *ref = sentinel;
        ocid_error err = OCID_ERROR_INIT;
        int r = image_ref_parse(in, &ref, &err);
        if (r == 0) {
                _cleanup_free_ char *got = image_ref_string(ref);
                print_message("expected an error for '%s', got '%s'\n", in, got);
                image_ref_free(ref);
                fail();
        }
        assert_int_equal(r, -1);
        assert_ptr_equal(ref, sentinel);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        assert_non_null(err.message);
        _cleanup_free_ char *prefix = NULL;
        assert_true(asprintf(&prefix, "invalid reference '%s': ", quoted) > 0);
        if (strncmp(err.message, prefix, strlen(prefix)) != 0 || !strstr(err.message, needle))
                print_message("for '%s': message '%s', want prefix '%s' and '%s'\n", in,
                              err.message, prefix, needle);
        assert_memory_equal(err.message, prefix, strlen(prefix));
        assert_non_null(strstr(err.message, needle));
        ocid_error_clear(&err);
}

/* Messages quote at most 128 characters of the input, then "...". */
static void expect_invalid(const char *in, const char *needle)
{
        if (strlen(in) <= 128) {
                expect_invalid_q(in, in, needle);
                return;
        }
        _cleanup_free_ char *cut = NULL;
        assert_true(asprintf(&cut, "%.128s...", in) > 0);
        expect_invalid_q(in, cut, needle);
}

static void expect_fields(const char *in, const char *domain, const char *path, const char *tag,
                          const char *digest, bool had_domain)
{
        _cleanup_(image_ref_freep) image_ref *ref = parse_ok(in);
        assert_string_equal(ref->domain, domain);
        assert_string_equal(ref->path, path);
        if (tag)
                assert_string_equal(ref->tag, tag);
        else
                assert_null(ref->tag);
        if (digest)
                assert_string_equal(ref->digest, digest);
        else
                assert_null(ref->digest);
        assert_int_equal(ref->had_domain, had_domain);
}

/* ---- normalisation ---- */

static void test_normalise_table(void **state)
{
        static const struct {
                const char *in, *want;
        } table[] = {
                { "busybox", "docker.io/library/busybox:latest" },
                { "busybox:1.36", "docker.io/library/busybox:1.36" },
                { "library/busybox", "docker.io/library/busybox:latest" },
                { "docker.io/busybox", "docker.io/library/busybox:latest" },
                { "docker.io/library/busybox", "docker.io/library/busybox:latest" },
                { "index.docker.io/busybox", "docker.io/library/busybox:latest" },
                { "index.docker.io/library/busybox:1", "docker.io/library/busybox:1" },
                { "index.docker.io/myuser/app", "docker.io/myuser/app:latest" },
                { "myuser/app", "docker.io/myuser/app:latest" },
                { "myuser/team/app:v2", "docker.io/myuser/team/app:v2" },
                { "registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9" },
                { "quay.io/coreos/etcd", "quay.io/coreos/etcd:latest" },
                { "gcr.io/a/b/c/d/e", "gcr.io/a/b/c/d/e:latest" },
                { "localhost/app", "localhost/app:latest" },
                { "localhost:5000/app:1", "localhost:5000/app:1" },
                { "127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest" },
                { "registry:5000/busybox", "registry:5000/busybox:latest" },
                { "Registry.Example.COM/app", "Registry.Example.COM/app:latest" },
                { "a.b/c", "a.b/c:latest" },
                /* docker.io's library/ only for one component, only on docker.io */
                { "quay.io/busybox", "quay.io/busybox:latest" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(table); i++)
                expect_norm(table[i].in, table[i].want);
}

static void test_short_name_fields(void **state)
{
        expect_fields("busybox", "docker.io", "library/busybox", "latest", NULL, false);
        _cleanup_(image_ref_freep) image_ref *ref = parse_ok("busybox");
        assert_true(ref->library_implied);
        _cleanup_(image_ref_freep) image_ref *ref2 = parse_ok("library/busybox");
        assert_false(ref2->library_implied);
        assert_false(ref2->had_domain);
        _cleanup_(image_ref_freep) image_ref *ref3 = parse_ok("myuser/app");
        assert_false(ref3->library_implied);
}

static void test_qualified_fields(void **state)
{
        expect_fields("registry.k8s.io/pause:3.9", "registry.k8s.io", "pause", "3.9", NULL, true);
        expect_fields("docker.io/busybox", "docker.io", "library/busybox", "latest", NULL, true);
        _cleanup_(image_ref_freep) image_ref *ref = parse_ok("docker.io/busybox");
        assert_true(ref->library_implied);
}

static void test_legacy_index_domain(void **state)
{
        expect_fields("index.docker.io/library/busybox", "docker.io", "library/busybox", "latest",
                      NULL, true);
        /* Only the exact legacy host. */
        expect_fields("index.docker.io:443/busybox", "index.docker.io:443", "busybox", "latest",
                      NULL, true);
}

static void test_latest_added(void **state)
{
        expect_fields("quay.io/app", "quay.io", "app", "latest", NULL, true);
        expect_fields("quay.io/app:latest", "quay.io", "app", "latest", NULL, true);
}

/* ---- tags and digests ---- */

static void test_digest_only(void **state)
{
        expect_fields("busybox@" DIGEST, "docker.io", "library/busybox", NULL, DIGEST, false);
        expect_norm("quay.io/app@" DIGEST, "quay.io/app@" DIGEST);
}

static void test_tag_and_digest(void **state)
{
        expect_fields("busybox:1.36@" DIGEST, "docker.io", "library/busybox", "1.36", DIGEST,
                      false);
        expect_norm("localhost:5000/a/b:v1@" DIGEST, "localhost:5000/a/b:v1@" DIGEST);
}

static void test_valid_tags(void **state)
{
        char tag128[129];
        memset(tag128, 'a', 128);
        tag128[128] = '\0';
        _cleanup_free_ char *in = NULL;
        assert_true(asprintf(&in, "busybox:%s", tag128) > 0);
        expect_fields(in, "docker.io", "library/busybox", tag128, NULL, false);

        expect_fields("a:_x", "docker.io", "library/a", "_x", NULL, false);
        expect_fields("a:V1.2-rc_3", "docker.io", "library/a", "V1.2-rc_3", NULL, false);
        expect_fields("a:1", "docker.io", "library/a", "1", NULL, false);
        expect_fields("a:a..b--c", "docker.io", "library/a", "a..b--c", NULL, false);
}

static void test_bad_tags(void **state)
{
        char tag129[130];
        memset(tag129, 'a', 129);
        tag129[129] = '\0';
        _cleanup_free_ char *in = NULL;
        assert_true(asprintf(&in, "busybox:%s", tag129) > 0);
        expect_invalid(in, "invalid tag");

        expect_invalid("busybox:.x", "invalid tag '.x'");
        expect_invalid("busybox:-x", "invalid tag '-x'");
        expect_invalid("busybox:a+b", "invalid tag 'a+b'");
        /* A colon before a slash makes the first component a host:port. */
        expect_invalid("busybox:a/b", "invalid registry host 'busybox:a'");
        expect_invalid("busybox:", "':' must be followed by a tag");
        expect_invalid("quay.io/app:", "':' must be followed by a tag");
        expect_invalid("busybox:tag:tag2", "invalid path component 'busybox:tag'");
}

static void test_bad_digests(void **state)
{
        expect_invalid("busybox@sha256:abc", "invalid digest 'sha256:abc'");
        expect_invalid("busybox@sha256:" HEX64 "0", "invalid digest");
        expect_invalid("busybox@sha512:" HEX64 HEX64, "expected sha256:<64 lower-case hex");
        expect_invalid("busybox@SHA256:" HEX64, "invalid digest");
        expect_invalid("busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
                       "invalid digest");
        expect_invalid("busybox@" HEX64, "invalid digest");
        expect_invalid("busybox@sha256:" HEX64 "@sha256:" HEX64, "invalid digest");
        expect_invalid("busybox@latest", "invalid digest 'latest'");
}

static void test_at_without_digest(void **state)
{
        expect_invalid("busybox@", "'@' must be followed by a digest");
        expect_invalid("quay.io/app:1@", "'@' must be followed by a digest");
        expect_invalid("@" DIGEST, "repository name is empty");
}

/* ---- domains, ports, localhost ---- */

static void test_ports(void **state)
{
        expect_fields("localhost:5000/busybox", "localhost:5000", "busybox", "latest", NULL, true);
        expect_fields("example.com:443/ns/app:1", "example.com:443", "ns/app", "1", NULL, true);
        /* A colon before the last '/' is a port, after it a tag. */
        expect_fields("example.com:8080/app:8080", "example.com:8080", "app", "8080", NULL, true);
        /* Port without a dot in the host still names a registry. */
        expect_fields("myhost:5000/app", "myhost:5000", "app", "latest", NULL, true);
}

static void test_bad_ports(void **state)
{
        expect_invalid("example.com:/app", "invalid registry host 'example.com:'");
        expect_invalid("example.com:abc/app", "invalid registry host 'example.com:abc'");
        expect_invalid("example.com:50:00/app", "invalid registry host");
        expect_invalid(":5000/app", "invalid registry host ':5000'");
}

static void test_localhost(void **state)
{
        expect_fields("localhost/app", "localhost", "app", "latest", NULL, true);
        expect_fields("localhost/a/b:1", "localhost", "a/b", "1", NULL, true);
        /* Alone, "localhost" is a docker.io image, and ":5000" its tag. */
        expect_fields("localhost", "docker.io", "library/localhost", "latest", NULL, false);
        expect_fields("localhost:5000", "docker.io", "library/localhost", "5000", NULL, false);
        /* Only exactly "localhost". */
        expect_fields("localhostx/app", "docker.io", "localhostx/app", "latest", NULL, false);
}

static void test_ipv6_domain(void **state)
{
        expect_fields("[::1]:5000/app", "[::1]:5000", "app", "latest", NULL, true);
        expect_fields("[fe80::1]/app:1", "[fe80::1]", "app", "1", NULL, true);
        expect_invalid("[::1/app", "invalid registry host");
        expect_invalid("[]:5000/app", "invalid registry host");
        expect_invalid("[::g]:5000/app", "invalid registry host");
}

static void test_bad_domains(void **state)
{
        expect_invalid("-example.com/app", "invalid registry host '-example.com'");
        expect_invalid("example-.com/app", "invalid registry host");
        expect_invalid("example..com/app", "invalid registry host");
        expect_invalid(".example.com/app", "invalid registry host");
        expect_invalid("example.com./app", "invalid registry host");
        expect_invalid("exa_mple.com/app", "invalid registry host");
}

static void test_domain_needs_a_path(void **state)
{
        expect_invalid("quay.io/", "repository path is empty");
        expect_invalid("localhost/", "repository path is empty");
        /* One component with a dot is a docker.io repository name. */
        expect_fields("quay.io", "docker.io", "library/quay.io", "latest", NULL, false);
}

/* ---- path components ---- */

static void test_uppercase(void **state)
{
        expect_invalid("Busybox", "repository name must be lowercase");
        expect_invalid("busyBox:1", "repository name must be lowercase");
        expect_invalid("quay.io/Coreos/etcd", "repository name must be lowercase");
        /* An uppercase first component without '.', ':' is not a host. */
        expect_invalid("MyUser/app", "repository name must be lowercase");
        /* Tags may have capitals. */
        expect_fields("busybox:UPPER", "docker.io", "library/busybox", "UPPER", NULL, false);
}

static void test_error_message_exact(void **state)
{
        image_ref *ref = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(image_ref_parse("Busybox", &ref, &err), -1);
        assert_string_equal(err.message,
                            "invalid reference 'Busybox': repository name must be lowercase");
        ocid_error_clear(&err);
}

static void test_separators(void **state)
{
        expect_fields("a.b/c", "a.b", "c", "latest", NULL, true);
        expect_fields("my_user/app", "docker.io", "my_user/app", "latest", NULL, false);
        expect_fields("my__user/app", "docker.io", "my__user/app", "latest", NULL, false);
        expect_fields("my-user/app", "docker.io", "my-user/app", "latest", NULL, false);
        expect_fields("my---user/app", "docker.io", "my---user/app", "latest", NULL, false);
        expect_fields("quay.io/a.b_c__d-e--f", "quay.io", "a.b_c__d-e--f", "latest", NULL, true);
        expect_fields("quay.io/0/9", "quay.io", "0/9", "latest", NULL, true);
}

static void test_bad_separators(void **state)
{
        expect_invalid("quay.io/a..b", "invalid path component 'a..b'");
        expect_invalid("quay.io/a___b", "invalid path component 'a___b'");
        expect_invalid("quay.io/a._b", "invalid path component");
        expect_invalid("quay.io/a-_b", "invalid path component");
        expect_invalid("quay.io/_a", "invalid path component '_a'");
        expect_invalid("quay.io/a-", "invalid path component 'a-'");
        expect_invalid("quay.io/a.", "invalid path component 'a.'");
        expect_invalid("-a", "invalid path component '-a'");
        expect_invalid("quay.io/a+b", "invalid path component 'a+b'");
}

static void test_empty_components(void **state)
{
        expect_invalid("quay.io//app", "empty component");
        expect_invalid("quay.io/app/", "empty component");
        expect_invalid("a//b", "empty component");
        expect_invalid("/app", "empty component");
}

/* ---- length, emptiness, whitespace ---- */

static void test_too_long(void **state)
{
        /* "quay.io/" is 8 characters: a 247-character path is 255 exactly. */
        char path[300];
        memset(path, 'a', sizeof(path));
        path[247] = '\0';
        _cleanup_free_ char *ok = NULL, *bad = NULL;
        assert_true(asprintf(&ok, "quay.io/%s", path) > 0);
        assert_int_equal(strlen(ok), 255);
        _cleanup_(image_ref_freep) image_ref *ref = parse_ok(ok);
        assert_int_equal(strlen(ref->path), 247);

        path[248] = '\0';
        path[247] = 'a';
        assert_true(asprintf(&bad, "quay.io/%s", path) > 0);
        image_ref *r = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(image_ref_parse(bad, &r, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        assert_non_null(strstr(err.message, "repository name is longer than 255 characters"));
        /* The message quotes a cut input, not all of it. */
        assert_non_null(strstr(err.message, "...'"));
        assert_true(strlen(err.message) < 300);
        ocid_error_clear(&err);
}

static void test_too_long_after_normalisation(void **state)
{
        /* 245 characters written; "docker.io/library/" makes it 263. */
        char name[246];
        memset(name, 'b', 245);
        name[245] = '\0';
        image_ref *r = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(image_ref_parse(name, &r, &err), -1);
        assert_non_null(strstr(err.message, "longer than 255"));
        ocid_error_clear(&err);

        /* docker.io/library/ + 237 = 255 */
        name[237] = '\0';
        _cleanup_(image_ref_freep) image_ref *ref = parse_ok(name);
        assert_true(ref->library_implied);
}

static void test_huge_input(void **state)
{
        size_t n = 1 << 20;
        char *big = malloc(n + 1);
        assert_non_null(big);
        memset(big, 'a', n);
        big[n] = '\0';
        image_ref *r = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(image_ref_parse(big, &r, &err), -1);
        assert_non_null(strstr(err.message, "longer than 1024 characters"));
        assert_true(strlen(err.message) < 400);
        ocid_error_clear(&err);
        free(big);
}

static void test_empty(void **state)
{
        expect_invalid("", "reference is empty");
        image_ref *r = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(image_ref_parse(NULL, &r, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        assert_string_equal(err.message, "invalid reference '': reference is empty");
        ocid_error_clear(&err);
        expect_invalid(":latest", "repository name is empty");
}

static void test_whitespace(void **state)
{
        expect_invalid(" busybox", "whitespace");
        expect_invalid("busybox ", "whitespace");
        expect_invalid("busy box", "whitespace");
        expect_invalid_q("busybox\n", "busybox\\x0a", "whitespace or a control character");
        expect_invalid_q("busybox\t:1", "busybox\\x09:1", "whitespace");
        expect_invalid_q("\x7f", "\\x7f", "control character");
}

static void test_non_ascii_escaped(void **state)
{
        expect_invalid_q("b\xc3\xbcsybox", "b\\xc3\\xbcsybox", "invalid path component");
        expect_invalid_q("it's", "it\\x27s", "invalid path component");
}

static void test_hex64_refused(void **state)
{
        expect_invalid(HEX64, "a 64-character hexadecimal string is an image ID");
        /* Not exactly 64 lower-case hex: an ordinary name. */
        expect_fields(HEX64 "0", "docker.io", "library/" HEX64 "0", "latest", NULL, false);
        expect_fields("abcdef", "docker.io", "library/abcdef", "latest", NULL, false);
        /* sha256:<hex> alone parses as docker does (image "sha256", hex tag). */
        expect_fields(DIGEST, "docker.io", "library/sha256", HEX64, NULL, false);
        /* As a namespace or tag it is fine. */
        expect_fields("quay.io/" HEX64, "quay.io", HEX64, "latest", NULL, true);
}

/* ---- digest_valid / hex64_valid ---- */

static void test_digest_valid(void **state)
{
        assert_true(digest_valid(DIGEST));
        assert_false(digest_valid(NULL));
        assert_false(digest_valid(""));
        assert_false(digest_valid("sha256:"));
        assert_false(digest_valid(HEX64));
        assert_false(digest_valid("sha256:" HEX64 "0"));
        assert_false(digest_valid("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"));
        assert_false(digest_valid("sha512:" HEX64));
        assert_false(digest_valid("sha256:" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
        assert_false(digest_valid(" sha256:" HEX64));
}

static void test_hex64_valid(void **state)
{
        assert_true(hex64_valid(HEX64));
        assert_false(hex64_valid(NULL));
        assert_false(hex64_valid(""));
        assert_false(hex64_valid(HEX64 "0"));
        assert_false(hex64_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg"));
        assert_false(hex64_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeF"));
        assert_false(hex64_valid("0123"));
}

/* ---- formatting ---- */

static void test_name_tagged_digested(void **state)
{
        _cleanup_(image_ref_freep) image_ref *ref = parse_ok("busybox:1.36@" DIGEST);
        _cleanup_free_ char *name = image_ref_name(ref);
        _cleanup_free_ char *tagged = image_ref_tagged(ref);
        _cleanup_free_ char *digested = image_ref_digested(ref, NULL);
        _cleanup_free_ char *other = image_ref_digested(
                ref, "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210");
        assert_string_equal(name, "docker.io/library/busybox");
        assert_string_equal(tagged, "docker.io/library/busybox:1.36");
        assert_string_equal(digested, "docker.io/library/busybox@" DIGEST);
        assert_string_equal(other, "docker.io/library/busybox@sha256:"
                                   "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210");
}

static void test_tagged_digested_null(void **state)
{
        _cleanup_(image_ref_freep) image_ref *by_digest = parse_ok("quay.io/app@" DIGEST);
        assert_null(image_ref_tagged(by_digest));
        _cleanup_(image_ref_freep) image_ref *by_tag = parse_ok("quay.io/app:1");
        assert_null(image_ref_digested(by_tag, NULL));
        _cleanup_free_ char *d = image_ref_digested(by_tag, DIGEST);
        assert_string_equal(d, "quay.io/app@" DIGEST);
}

static void round_trip(const char *in)
{
        _cleanup_(image_ref_freep) image_ref *a = parse_ok(in);
        _cleanup_free_ char *s = image_ref_string(a);
        _cleanup_(image_ref_freep) image_ref *b = parse_ok(s);
        _cleanup_free_ char *s2 = image_ref_string(b);
        assert_string_equal(s, s2);
        assert_string_equal(a->domain, b->domain);
        assert_string_equal(a->path, b->path);
        assert_true((a->tag == NULL) == (b->tag == NULL));
        if (a->tag)
                assert_string_equal(a->tag, b->tag);
        assert_true((a->digest == NULL) == (b->digest == NULL));
        if (a->digest)
                assert_string_equal(a->digest, b->digest);
        assert_true(b->had_domain);

        if (a->tag) {
                _cleanup_free_ char *t = image_ref_tagged(a);
                _cleanup_(image_ref_freep) image_ref *c = parse_ok(t);
                assert_string_equal(c->tag, a->tag);
                assert_null(c->digest);
        }
        if (a->digest) {
                _cleanup_free_ char *d = image_ref_digested(a, NULL);
                _cleanup_(image_ref_freep) image_ref *c = parse_ok(d);
                assert_string_equal(c->digest, a->digest);
                assert_null(c->tag);
        }
}

static void test_round_trip(void **state)
{
        static const char *const inputs[] = {
                "busybox",
                "busybox:1.36",
                "busybox@" DIGEST,
                "busybox:1.36@" DIGEST,
                "myuser/app:v2",
                "localhost:5000/a/b/c:x_y",
                "[::1]:5000/app@" DIGEST,
                "index.docker.io/busybox",
                "Example.COM/ns/app:TAG",
        };
        for (size_t i = 0; i < ARRAY_SIZE(inputs); i++)
                round_trip(inputs[i]);
}

static void test_copy(void **state)
{
        _cleanup_(image_ref_freep) image_ref *a = parse_ok("busybox:1@" DIGEST);
        _cleanup_(image_ref_freep) image_ref *b = image_ref_copy(a);
        assert_ptr_not_equal(a, b);
        assert_ptr_not_equal(a->domain, b->domain);
        assert_string_equal(a->domain, b->domain);
        assert_string_equal(a->path, b->path);
        assert_string_equal(a->tag, b->tag);
        assert_string_equal(a->digest, b->digest);
        assert_int_equal(a->had_domain, b->had_domain);
        assert_int_equal(a->library_implied, b->library_implied);

        _cleanup_(image_ref_freep) image_ref *c = parse_ok("quay.io/x@" DIGEST);
        _cleanup_(image_ref_freep) image_ref *d = image_ref_copy(c);
        assert_null(d->tag);
        assert_null(image_ref_copy(NULL));
        image_ref_free(NULL);
}

static void test_error_does_not_overwrite(void **state)
{
        /* ocid_error keeps the first cause. */
        ocid_error err = OCID_ERROR_INIT;
        image_ref *r = NULL;
        assert_int_equal(image_ref_parse("A", &r, &err), -1);
        assert_int_equal(image_ref_parse("B", &r, &err), -1);
        assert_non_null(strstr(err.message, "'A'"));
        ocid_error_clear(&err);
        /* A NULL err is allowed. */
        assert_int_equal(image_ref_parse("C", &r, NULL), -1);
        assert_null(r);
}

static void test_kubelet_images(void **state)
{
        /* What kubelets send in practice. */
        expect_norm("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9");
        expect_norm("registry.k8s.io/coredns/coredns:v1.10.1",
                    "registry.k8s.io/coredns/coredns:v1.10.1");
        expect_norm("nginx:1.25-alpine", "docker.io/library/nginx:1.25-alpine");
        expect_norm("ghcr.io/org/app:sha-abc123", "ghcr.io/org/app:sha-abc123");
        expect_norm("public.ecr.aws/eks-distro/kubernetes/pause:3.9",
                    "public.ecr.aws/eks-distro/kubernetes/pause:3.9");
}

static void test_domain_forms(void **state)
{
        expect_fields("my-registry.example.com:5000/a", "my-registry.example.com:5000", "a",
                      "latest", NULL, true);
        expect_fields("1.2.3.4/a", "1.2.3.4", "a", "latest", NULL, true);
        expect_fields("a-b.c/d", "a-b.c", "d", "latest", NULL, true);
        expect_fields("x.y:1/z@" DIGEST, "x.y:1", "z", NULL, DIGEST, true);
}

static void test_library_only_for_one_component(void **state)
{
        expect_fields("docker.io/a/b", "docker.io", "a/b", "latest", NULL, true);
        expect_fields("a/b/c", "docker.io", "a/b/c", "latest", NULL, false);
        _cleanup_(image_ref_freep) image_ref *ref = parse_ok("docker.io/a/b");
        assert_false(ref->library_implied);
        /* An explicit library/ is kept once, never doubled. */
        expect_norm("docker.io/library/library", "docker.io/library/library:latest");
        expect_norm("library", "docker.io/library/library:latest");
}

static void test_longest_valid_reference(void **state)
{
        /* A 255-character name, a 128-character tag and a digest. */
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "quay.io/");
        for (int i = 0; i < 247; i++)
                strbuf_addch(&sb, 'n');
        strbuf_addch(&sb, ':');
        for (int i = 0; i < 128; i++)
                strbuf_addch(&sb, 'T');
        strbuf_adds(&sb, "@" DIGEST);
        _cleanup_(image_ref_freep) image_ref *ref = parse_ok(sb.buf);
        assert_int_equal(strlen(ref->path), 247);
        assert_int_equal(strlen(ref->tag), 128);
        _cleanup_free_ char *back = image_ref_string(ref);
        assert_string_equal(back, sb.buf);
}

static void test_input_limit_boundary(void **state)
{
        /* Exactly IMAGE_REF_INPUT_MAX characters passes the length check
         * (and fails later for its own reason); one more does not. */
        char in[IMAGE_REF_INPUT_MAX + 2];
        memset(in, 'a', sizeof(in));
        in[IMAGE_REF_INPUT_MAX] = '\0';
        expect_invalid(in, "repository name is longer than 255");
        in[IMAGE_REF_INPUT_MAX] = 'a';
        in[IMAGE_REF_INPUT_MAX + 1] = '\0';
        expect_invalid(in, "reference is longer than 1024 characters");
}

static void test_only_separators(void **state)
{
        expect_invalid("/", "empty component");
        expect_invalid(":", "':' must be followed by a tag");
        expect_invalid("@", "'@' must be followed by a digest");
        expect_invalid(".", "invalid path component '.'");
        expect_invalid("..", "invalid path component");
        expect_invalid("_", "invalid path component");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_normalise_table),
                cmocka_unit_test(test_short_name_fields),
                cmocka_unit_test(test_qualified_fields),
                cmocka_unit_test(test_legacy_index_domain),
                cmocka_unit_test(test_latest_added),
                cmocka_unit_test(test_digest_only),
                cmocka_unit_test(test_tag_and_digest),
                cmocka_unit_test(test_valid_tags),
                cmocka_unit_test(test_bad_tags),
                cmocka_unit_test(test_bad_digests),
                cmocka_unit_test(test_at_without_digest),
                cmocka_unit_test(test_ports),
                cmocka_unit_test(test_bad_ports),
                cmocka_unit_test(test_localhost),
                cmocka_unit_test(test_ipv6_domain),
                cmocka_unit_test(test_bad_domains),
                cmocka_unit_test(test_domain_needs_a_path),
                cmocka_unit_test(test_uppercase),
                cmocka_unit_test(test_error_message_exact),
                cmocka_unit_test(test_separators),
                cmocka_unit_test(test_bad_separators),
                cmocka_unit_test(test_empty_components),
                cmocka_unit_test(test_too_long),
                cmocka_unit_test(test_too_long_after_normalisation),
                cmocka_unit_test(test_huge_input),
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_whitespace),
                cmocka_unit_test(test_non_ascii_escaped),
                cmocka_unit_test(test_hex64_refused),
                cmocka_unit_test(test_digest_valid),
                cmocka_unit_test(test_hex64_valid),
                cmocka_unit_test(test_name_tagged_digested),
                cmocka_unit_test(test_tagged_digested_null),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_copy),
                cmocka_unit_test(test_error_does_not_overwrite),
                cmocka_unit_test(test_kubelet_images),
                cmocka_unit_test(test_domain_forms),
                cmocka_unit_test(test_library_only_for_one_component),
                cmocka_unit_test(test_longest_valid_reference),
                cmocka_unit_test(test_input_limit_boundary),
                cmocka_unit_test(test_only_separators),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
