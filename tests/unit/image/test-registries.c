/* containers-registries.conf(5) v2: loading and merging files, prefix
 * matching, rewriting, mirrors, blocking, aliases and the search list.
 * Each test gets a fresh directory from mkdtemp, removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image/reference.h"
#include "image/registries.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIGEST "sha256:" HEX64

/* ---- fixture ---- */

static char *tmpdir;

static int setup(void **state)
{
        char tmpl[] = "/tmp/ocid-test-registries-XXXXXX";
        if (!mkdtemp(tmpl))
                return -1;
        tmpdir = strdup(tmpl);
        return tmpdir ? 0 : -1;
}

static int teardown(void **state)
{
        fs_remove_tree(tmpdir);
        free(tmpdir);
        tmpdir = NULL;
        return 0;
}

/* tmpdir/name, created with text (directories on the way too). */
static char *write_conf(const char *name, const char *text)
{
        char *path = fs_path_join(tmpdir, name);
        char *slash = strrchr(path, '/');
        *slash = '\0';
        assert_int_equal(fs_mkdir_p(path, 0755), 0);
        *slash = '/';
        assert_int_equal(fs_write_file_atomic(path, text, strlen(text), 0644), 0);
        return path;
}

static char *tmp_path(const char *name)
{
        return fs_path_join(tmpdir, name);
}

static registries_conf *parse_ok(const char *text)
{
        registries_conf *conf = NULL;
        ocid_error err = OCID_ERROR_INIT;
        int r = registries_conf_parse(text, strlen(text), "test.conf", &conf, &err);
        if (r < 0)
                print_message("unexpected error: %s\nfor:\n%s\n", err.message, text);
        assert_int_equal(r, 0);
        assert_int_equal(err.kind, OCID_OK);
        assert_non_null(conf);
        return conf;
}

/* The parse fails with INVALID "test.conf: ..." containing needle. */
static void parse_invalid(const char *text, const char *needle)
{
        registries_conf *sentinel = (registries_conf *)&sentinel;
        registries_conf *conf = sentinel;
        ocid_error err = OCID_ERROR_INIT;
        int r = registries_conf_parse(text, strlen(text), "test.conf", &conf, &err);
        if (r == 0) {
                print_message("expected an error for:\n%s\n", text);
                registries_conf_free(conf);
                fail();
        }
        assert_int_equal(r, -1);
        assert_ptr_equal(conf, sentinel);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        if (strncmp(err.message, "test.conf: ", 11) != 0 || !strstr(err.message, needle))
                print_message("message '%s', want 'test.conf: ...%s...'\n", err.message, needle);
        assert_memory_equal(err.message, "test.conf: ", 11);
        assert_non_null(strstr(err.message, needle));
        ocid_error_clear(&err);
}

static registries_conf *load_ok(const char *path, const char *dir)
{
        registries_conf *conf = NULL;
        ocid_error err = OCID_ERROR_INIT;
        int r = registries_conf_load(path, dir, &conf, &err);
        if (r < 0)
                print_message("unexpected error: %s\n", err.message);
        assert_int_equal(r, 0);
        assert_non_null(conf);
        return conf;
}

static image_ref *ref_of(const char *s)
{
        image_ref *ref = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(image_ref_parse(s, &ref, &err), 0);
        return ref;
}

/* The sources as one string: "[mirror ]host/repo[:tag][@digest][ insecure]"
 * joined by ", ". */
static char *sources_string(const pull_source *src, size_t n)
{
        strbuf sb = STRBUF_INIT;
        for (size_t i = 0; i < n; i++) {
                if (i)
                        strbuf_adds(&sb, ", ");
                if (src[i].is_mirror)
                        strbuf_adds(&sb, "mirror ");
                strbuf_addf(&sb, "%s/%s", src[i].host, src[i].repository);
                if (src[i].tag)
                        strbuf_addf(&sb, ":%s", src[i].tag);
                if (src[i].digest)
                        strbuf_addf(&sb, "@%s", src[i].digest);
                if (src[i].insecure)
                        strbuf_adds(&sb, " insecure");
        }
        return strbuf_detach(&sb, NULL);
}

static void expect_sources(const registries_conf *conf, const char *ref_s, const char *want)
{
        _cleanup_(image_ref_freep) image_ref *ref = ref_of(ref_s);
        pull_source *src = NULL;
        size_t n = 0;
        ocid_error err = OCID_ERROR_INIT;
        int r = registries_resolve(conf, ref, &src, &n, &err);
        if (r < 0)
                print_message("resolve '%s': %s\n", ref_s, err.message);
        assert_int_equal(r, 0);
        assert_true(n >= 1);
        _cleanup_free_ char *got = sources_string(src, n);
        if (!STREQ(got, want))
                print_message("resolve '%s':\n got  %s\n want %s\n", ref_s, got, want);
        assert_string_equal(got, want);
        pull_sources_free(src, n);
}

static void expect_resolve_error(const registries_conf *conf, const char *ref_s,
                                 ocid_error_kind kind, const char *message)
{
        _cleanup_(image_ref_freep) image_ref *ref = ref_of(ref_s);
        pull_source *src = (pull_source *)&src;
        size_t n = 99;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(registries_resolve(conf, ref, &src, &n, &err), -1);
        assert_ptr_equal(src, (pull_source *)&src);
        assert_int_equal(n, 99);
        assert_int_equal(err.kind, kind);
        if (!strstr(err.message, message))
                print_message("message '%s', want '%s'\n", err.message, message);
        assert_non_null(strstr(err.message, message));
        ocid_error_clear(&err);
}

/* Candidates as "a, b, c" (normalised strings). */
static void expect_expand(const registries_conf *conf, const char *ref_s, const char *want)
{
        _cleanup_(image_ref_freep) image_ref *ref = ref_of(ref_s);
        image_ref **v = NULL;
        size_t n = 0;
        ocid_error err = OCID_ERROR_INIT;
        int r = registries_expand_short_name(conf, ref, &v, &n, &err);
        if (r < 0)
                print_message("expand '%s': %s\n", ref_s, err.message);
        assert_int_equal(r, 0);
        assert_true(n >= 1);
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *s = image_ref_string(v[i]);
                strbuf_addf(&sb, "%s%s", i ? ", " : "", s);
                assert_true(v[i]->had_domain);
        }
        if (!STREQ(sb.buf, want))
                print_message("expand '%s':\n got  %s\n want %s\n", ref_s, sb.buf, want);
        assert_string_equal(sb.buf, want);
        image_refs_free(v, n);
}

/* ---- missing and empty configurations ---- */

static void test_missing_file_is_empty(void **state)
{
        _cleanup_free_ char *path = tmp_path("nope/registries.conf");
        _cleanup_free_ char *dir = tmp_path("nope/registries.conf.d");
        _cleanup_(registries_conf_freep) registries_conf *conf = load_ok(path, dir);
        assert_null(registries_search_list(conf)[0]);
        expect_sources(conf, "quay.io/app:1", "quay.io/app:1");
        expect_expand(conf, "busybox", "docker.io/library/busybox:latest");
}

static void test_null_paths_and_conf(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = load_ok(NULL, NULL);
        expect_sources(conf, "busybox", "docker.io/library/busybox:latest");
        /* A NULL configuration behaves as an empty one. */
        expect_sources(NULL, "localhost:5000/a@" DIGEST, "localhost:5000/a@" DIGEST);
        expect_expand(NULL, "a/b:1", "docker.io/a/b:1");
        assert_null(registries_search_list(NULL)[0]);
        registries_conf_free(NULL);
        pull_sources_free(NULL, 0);
        image_refs_free(NULL, 0);
}

static void test_empty_document(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok("");
        expect_sources(conf, "quay.io/a", "quay.io/a:latest");
        _cleanup_(registries_conf_freep) registries_conf *c2 = parse_ok("# only a comment\n\n");
        expect_expand(c2, "busybox:1", "docker.io/library/busybox:1");
}

/* ---- full v2 files ---- */

static const char manpage_example[] =
        "unqualified-search-registries = [\"example.com\"]\n"
        "\n"
        "[[registry]]\n"
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
        "insecure = true\n";

static void test_manpage_example(void **state)
{
        _cleanup_free_ char *path = write_conf("registries.conf", manpage_example);
        _cleanup_(registries_conf_freep) registries_conf *conf = load_ok(path, NULL);
        expect_sources(conf, "example.com/foo/image:latest",
                       "mirror example-mirror-0.local/mirror-for-foo/image:latest, "
                       "mirror example-mirror-1.local/mirrors/foo/image:latest insecure, "
                       "internal-registry-for-example.com/bar/image:latest");
        /* Outside the prefix: the reference itself. */
        expect_sources(conf, "example.com/other/image:1", "example.com/other/image:1");
        expect_expand(conf, "image", "example.com/image:latest");
        char *const *search = registries_search_list(conf);
        assert_string_equal(search[0], "example.com");
        assert_null(search[1]);
}

static const char full_example[] =
        "# A full v2 file, as a distribution ships it.\n"
        "unqualified-search-registries = [\"registry.fedoraproject.org\", "
        "\"registry.access.redhat.com\", \"docker.io\"]\n"
        "short-name-mode = \"enforcing\"\n"
        "credential-helpers = [\"containers-auth.json\"]\n"
        "\n"
        "[[registry]]\n"
        "location = \"registry.example.org\"\n"
        "mirror-by-digest-only = true\n"
        "[[registry.mirror]]\n"
        "location = \"mirror.example.org:5000\"\n"
        "insecure = true\n"
        "[[registry.mirror]]\n"
        "location = \"mirror2.example.org/cache\"\n"
        "\n"
        "[[registry]]\n"
        "prefix = \"docker.io\"\n"
        "location = \"docker.io\"\n"
        "[[registry.mirror]]\n"
        "location = \"localhost:5000\"\n"
        "insecure = true\n"
        "\n"
        "[[registry]]\n"
        "prefix = \"*.blocked.example.com\"\n"
        "blocked = true\n"
        "\n"
        "[[registry]]\n"
        "location = \"localhost:5001\"\n"
        "insecure = true\n"
        "\n"
        "[aliases]\n"
        "\"fedora\" = \"registry.fedoraproject.org/fedora\"\n"
        "\"rhel8/podman\" = \"registry.access.redhat.com/rhel8/podman\"\n";

static void test_full_example(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(full_example);

        /* mirror-by-digest-only: by tag only the registry itself... */
        expect_sources(conf, "registry.example.org/ns/app:1", "registry.example.org/ns/app:1");
        /* ...by digest the mirrors first. */
        expect_sources(conf, "registry.example.org/ns/app@" DIGEST,
                       "mirror mirror.example.org:5000/ns/app@" DIGEST " insecure, "
                       "mirror mirror2.example.org/cache/ns/app@" DIGEST ", "
                       "registry.example.org/ns/app@" DIGEST);
        expect_sources(conf, "registry.example.org/ns/app:1@" DIGEST,
                       "mirror mirror.example.org:5000/ns/app:1@" DIGEST " insecure, "
                       "mirror mirror2.example.org/cache/ns/app:1@" DIGEST ", "
                       "registry.example.org/ns/app:1@" DIGEST);

        /* A docker.io mirror keeps the library/ path. */
        expect_sources(conf, "busybox:1.36",
                       "mirror localhost:5000/library/busybox:1.36 insecure, "
                       "docker.io/library/busybox:1.36");

        expect_resolve_error(conf, "x.blocked.example.com/app", OCID_ERR_PRECONDITION,
                             "registry '*.blocked.example.com' is blocked in test.conf");

        expect_sources(conf, "localhost:5001/app", "localhost:5001/app:latest insecure");

        expect_expand(conf, "fedora:39", "registry.fedoraproject.org/fedora:39");
        expect_expand(conf, "rhel8/podman", "registry.access.redhat.com/rhel8/podman:latest");
        expect_expand(conf, "busybox",
                      "registry.fedoraproject.org/busybox:latest, "
                      "registry.access.redhat.com/busybox:latest, "
                      "docker.io/library/busybox:latest");
}

/* ---- prefix matching and rewriting ---- */

static void test_prefix_defaults_to_location(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "[[registry]]\n"
                "location = \"quay.io\"\n"
                "insecure = true\n");
        expect_sources(conf, "quay.io/a/b:1", "quay.io/a/b:1 insecure");
        expect_sources(conf, "quay.ioo/a", "quay.ioo/a:latest");
}

static void test_location_rewrite(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "[[registry]]\n"
                "prefix = \"example.com/foo\"\n"
                "location = \"internal.example.net:5000/bar/baz\"\n"
                "[[registry]]\n"
                "prefix = \"source.io\"\n"
                "location = \"target.io/mirror\"\n");
        expect_sources(conf, "example.com/foo/image:1", "internal.example.net:5000/bar/baz/image:1");
        expect_sources(conf, "example.com/foo/a/b@" DIGEST,
                       "internal.example.net:5000/bar/baz/a/b@" DIGEST);
        /* The prefix itself as the repository. */
        expect_sources(conf, "example.com/foo:2", "internal.example.net:5000/bar/baz:2");
        /* A host prefix maps the whole registry under a namespace. */
        expect_sources(conf, "source.io/x/y:3", "target.io/mirror/x/y:3");
}

static void test_prefix_boundaries(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "[[registry]]\n"
                "prefix = \"example.com/foo\"\n"
                "location = \"rewritten.io/foo\"\n"
                "[[registry]]\n"
                "prefix = \"example.com\"\n"
                "location = \"host.io\"\n");
        expect_sources(conf, "example.com/foo/bar", "rewritten.io/foo/bar:latest");
        expect_sources(conf, "example.com/foo:tag", "rewritten.io/foo:tag");
        expect_sources(conf, "example.com/foo@" DIGEST, "rewritten.io/foo@" DIGEST);
        /* Not at a component boundary: the shorter prefix applies. */
        expect_sources(conf, "example.com/foobar", "host.io/foobar:latest");
        expect_sources(conf, "example.com/fo", "host.io/fo:latest");
        /* A port makes it another registry. */
        expect_sources(conf, "example.com:5000/foo", "example.com:5000/foo:latest");
        /* A longer host is another registry. */
        expect_sources(conf, "example.community/foo", "example.community/foo:latest");
}

static void test_longest_prefix_wins(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "[[registry]]\n"
                "prefix = \"example.com/a/b\"\n"
                "location = \"three.io/ab\"\n"
                "[[registry]]\n"
                "prefix = \"example.com\"\n"
                "location = \"one.io\"\n"
                "[[registry]]\n"
                "prefix = \"example.com/a\"\n"
                "location = \"two.io/a\"\n");
        expect_sources(conf, "example.com/a/b/c", "three.io/ab/c:latest");
        expect_sources(conf, "example.com/a/b", "three.io/ab:latest");
        expect_sources(conf, "example.com/a/c", "two.io/a/c:latest");
        expect_sources(conf, "example.com/z", "one.io/z:latest");
}

static void test_prefix_with_tag(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "[[registry]]\n"
                "prefix = \"example.com/app:1\"\n"
                "location = \"pinned.io/app:1-fixed\"\n");
        expect_sources(conf, "example.com/app:1", "pinned.io/app:1-fixed");
        expect_sources(conf, "example.com/app:1@" DIGEST, "pinned.io/app:1-fixed@" DIGEST);
        expect_sources(conf, "example.com/app:10", "example.com/app:10");
        expect_sources(conf, "example.com/app:2", "example.com/app:2");
}

static void test_docker_library_prefix(void **state)
{
        /* The man page: prefixes for docker.io official images must spell
         * out library/. */
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "[[registry]]\n"
                "prefix = \"docker.io/library/alpine\"\n"
                "location = \"mirror.local/alpine\"\n"
                "[[registry]]\n"
                "prefix = \"docker.io/busybox\"\n"
                "location = \"mirror.local/not-official\"\n");
        expect_sources(conf, "alpine:3", "mirror.local/alpine:3");
        expect_sources(conf, "docker.io/alpine:3", "mirror.local/alpine:3");
        /* "docker.io/busybox" matches docker.io/busybox/<repo>, not busybox. */
        expect_sources(conf, "busybox", "docker.io/library/busybox:latest");
        expect_sources(conf, "docker.io/busybox/tool", "mirror.local/not-official/tool:latest");
}

static void test_rewrite_to_docker_io_normalises(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "[[registry]]\n"
                "prefix = \"corp.example.com/hub\"\n"
                "location = \"docker.io\"\n");
        expect_sources(conf, "corp.example.com/hub/busybox:1", "docker.io/library/busybox:1");
        expect_sources(conf, "corp.example.com/hub/user/app", "docker.io/user/app:latest");
}

static void test_trailing_slash_dropped(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "[[registry]]\n"
                "prefix = \"example.com/foo/\"\n"
                "location = \"other.io/bar//\"\n"
                "[[registry.mirror]]\n"
                "location = \"mirror.io/m/\"\n");
        expect_sources(conf, "example.com/foo/x",
                       "mirror mirror.io/m/x:latest, other.io/bar/x:latest");
}

/* ---- wildcards ---- */

static void test_wildcard_prefix(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "[[registry]]\n"
                "prefix = \"*.example.com\"\n"
                "insecure = true\n"
                "[[registry]]\n"
                "prefix = \"*.mirrored.io\"\n"
                "location = \"central.io/cache\"\n"
                "[[registry.mirror]]\n"
                "location = \"mirror.local\"\n");
        expect_sources(conf, "a.example.com/x", "a.example.com/x:latest insecure");
        expect_sources(conf, "a.b.example.com:5000/x/y:1", "a.b.example.com:5000/x/y:1 insecure");
        /* The wildcard needs a subdomain. */
        expect_sources(conf, "example.com/x", "example.com/x:latest");
        expect_sources(conf, "aexample.com/x", "aexample.com/x:latest");
        expect_sources(conf, "a.example.com.evil.io/x", "a.example.com.evil.io/x:latest");
        /* The wildcard covers the host with its port when rewriting. */
        expect_sources(conf, "r.mirrored.io:8443/ns/app:2",
                       "mirror mirror.local/ns/app:2, central.io/cache/ns/app:2");
}

static void test_wildcard_vs_literal(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "[[registry]]\n"
                "prefix = \"*.example.com\"\n"
                "blocked = true\n"
                "[[registry]]\n"
                "location = \"good.example.com\"\n"
                "[[registry]]\n"
                "prefix = \"*.sub.example.com\"\n"
                "location = \"sub.io\"\n");
        expect_resolve_error(conf, "bad.example.com/x", OCID_ERR_PRECONDITION, "blocked");
        /* The longer, literal prefix wins. */
        expect_sources(conf, "good.example.com/x", "good.example.com/x:latest");
        /* The longer wildcard wins over the shorter one. */
        expect_sources(conf, "a.sub.example.com/x", "sub.io/x:latest");
}

static void test_bad_wildcards(void **state)
{
        parse_invalid("[[registry]]\nprefix = \"*.example.com/ns\"\n", "*.example.com");
        parse_invalid("[[registry]]\nprefix = \"*.example.com:5000\"\n", "wildcarded prefix");
        parse_invalid("[[registry]]\nprefix = \"*.example.com@" DIGEST "\"\n",
                      "wildcarded prefix");
        parse_invalid("[[registry]]\nprefix = \"*.\"\n", "wildcarded prefix");
        /* A '*' elsewhere is no wildcard: the prefix is just invalid. */
        parse_invalid("[[registry]]\nprefix = \"a.*.com\"\nlocation = \"x.io\"\n",
                      "invalid prefix 'a.*.com'");
        parse_invalid("[[registry]]\nprefix = \"*example.com\"\nlocation = \"x.io\"\n",
                      "invalid prefix");
}

/* ---- blocked, insecure ---- */

static void test_blocked(void **state)
{
        _cleanup_free_ char *path = write_conf("registries.conf",
                                               "[[registry]]\n"
                                               "location = \"evil.io\"\n"
                                               "blocked = true\n"
                                               "[[registry]]\n"
                                               "prefix = \"quay.io/bad\"\n"
                                               "location = \"quay.io/bad\"\n"
                                               "blocked = true\n");
        _cleanup_(registries_conf_freep) registries_conf *conf = load_ok(path, NULL);
        _cleanup_free_ char *want = NULL;
        assert_true(asprintf(&want, "registry 'evil.io' is blocked in %s", path) > 0);
        expect_resolve_error(conf, "evil.io/app:1", OCID_ERR_PRECONDITION, want);
        expect_resolve_error(conf, "quay.io/bad/app", OCID_ERR_PRECONDITION,
                             "registry 'quay.io/bad' is blocked in");
        expect_sources(conf, "quay.io/good/app", "quay.io/good/app:latest");
        expect_sources(conf, "evil.io.example.com/app", "evil.io.example.com/app:latest");
}

static void test_blocked_mirror_not_consulted(void **state)
{
        /* A blocked entry refuses even when it lists mirrors. */
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "[[registry]]\n"
                "location = \"blocked.io\"\n"
                "blocked = true\n"
                "[[registry.mirror]]\n"
                "location = \"mirror.io\"\n");
        expect_resolve_error(conf, "blocked.io/a@" DIGEST, OCID_ERR_PRECONDITION,
                             "registry 'blocked.io' is blocked in test.conf");
}

static void test_insecure_per_endpoint(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "[[registry]]\n"
                "location = \"secure.io\"\n"
                "[[registry.mirror]]\n"
                "location = \"plain.local:5000\"\n"
                "insecure = true\n"
                "[[registry.mirror]]\n"
                "location = \"tls.local\"\n"
                "[[registry]]\n"
                "location = \"plain.io\"\n"
                "insecure = true\n"
                "[[registry.mirror]]\n"
                "location = \"tls-mirror.io\"\n");
        expect_sources(conf, "secure.io/a:1",
                       "mirror plain.local:5000/a:1 insecure, mirror tls.local/a:1, "
                       "secure.io/a:1");
        /* Mirrors do not inherit the registry's insecure. */
        expect_sources(conf, "plain.io/a:1", "mirror tls-mirror.io/a:1, plain.io/a:1 insecure");
}

/* ---- mirror restrictions ---- */

static void test_pull_from_mirror(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "[[registry]]\n"
                "location = \"src.io\"\n"
                "[[registry.mirror]]\n"
                "location = \"digest.local\"\n"
                "pull-from-mirror = \"digest-only\"\n"
                "[[registry.mirror]]\n"
                "location = \"tag.local\"\n"
                "pull-from-mirror = \"tag-only\"\n"
                "[[registry.mirror]]\n"
                "location = \"all.local\"\n"
                "pull-from-mirror = \"all\"\n");
        expect_sources(conf, "src.io/a:1", "mirror tag.local/a:1, mirror all.local/a:1, src.io/a:1");
        expect_sources(conf, "src.io/a@" DIGEST,
                       "mirror digest.local/a@" DIGEST ", mirror all.local/a@" DIGEST
                       ", src.io/a@" DIGEST);
}

static void test_pull_from_mirror_errors(void **state)
{
        parse_invalid("[[registry]]\nlocation = \"a.io\"\nmirror-by-digest-only = true\n"
                      "[[registry.mirror]]\nlocation = \"m.io\"\npull-from-mirror = \"all\"\n",
                      "cannot set mirror-by-digest-only");
        parse_invalid("[[registry]]\nlocation = \"a.io\"\n"
                      "[[registry.mirror]]\nlocation = \"m.io\"\npull-from-mirror = \"some\"\n",
                      "unsupported pull-from-mirror value 'some'");
        parse_invalid("[[registry]]\nlocation = \"a.io\"\npull-from-mirror = \"all\"\n",
                      "pull-from-mirror must not be set for a non-mirror registry");
}

/* ---- drop-ins ---- */

static void test_dropin_override(void **state)
{
        _cleanup_free_ char *path = write_conf("registries.conf",
                                               "unqualified-search-registries = [\"quay.io\"]\n"
                                               "[[registry]]\n"
                                               "prefix = \"example.com\"\n"
                                               "location = \"main.io\"\n"
                                               "[[registry.mirror]]\n"
                                               "location = \"main-mirror.io\"\n"
                                               "[[registry]]\n"
                                               "location = \"kept.io\"\n"
                                               "insecure = true\n");
        free(write_conf("registries.conf.d/20-second.conf",
                        "[[registry]]\n"
                        "prefix = \"example.com\"\n"
                        "location = \"second.io\"\n"));
        free(write_conf("registries.conf.d/10-first.conf",
                        "[[registry]]\n"
                        "prefix = \"example.com\"\n"
                        "location = \"first.io\"\n"
                        "blocked = true\n"
                        "[[registry]]\n"
                        "location = \"added.io\"\n"
                        "insecure = true\n"));
        /* Not *.conf, or not a file: ignored. */
        free(write_conf("registries.conf.d/30-ignored.conf.bak",
                        "[[registry]]\nprefix = \"example.com\"\nblocked = true\n"));
        free(write_conf("registries.conf.d/README", "not toml at all ["));
        free(write_conf("registries.conf.d/sub.conf/inner.conf", "not toml at all ["));
        _cleanup_free_ char *dir = tmp_path("registries.conf.d");
        _cleanup_(registries_conf_freep) registries_conf *conf = load_ok(path, dir);

        /* 20-second replaced 10-first, which replaced the main file's entry,
         * mirrors and all. */
        expect_sources(conf, "example.com/app", "second.io/app:latest");
        expect_sources(conf, "kept.io/app", "kept.io/app:latest insecure");
        expect_sources(conf, "added.io/app", "added.io/app:latest insecure");
        /* The search list was not touched by the drop-ins. */
        expect_expand(conf, "app", "quay.io/app:latest");
}

static void test_dropin_search_list(void **state)
{
        _cleanup_free_ char *path = write_conf("registries.conf",
                                               "unqualified-search-registries = [\"a.io\", "
                                               "\"b.io\"]\n");
        free(write_conf("d/01.conf", "unqualified-search-registries = [\"c.io\"]\n"));
        free(write_conf("d/02.conf", "[[registry]]\nlocation = \"x.io\"\n"));
        _cleanup_free_ char *dir = tmp_path("d");
        {
                _cleanup_(registries_conf_freep) registries_conf *conf = load_ok(path, dir);
                expect_expand(conf, "app:1", "c.io/app:1");
        }
        /* A later empty list replaces too: docker.io is the fallback. */
        free(write_conf("d/03.conf", "unqualified-search-registries = []\n"));
        _cleanup_(registries_conf_freep) registries_conf *conf = load_ok(path, dir);
        assert_null(registries_search_list(conf)[0]);
        expect_expand(conf, "app:1", "docker.io/library/app:1");
}

static void test_dropin_only(void **state)
{
        /* No main file, drop-ins still apply. */
        _cleanup_free_ char *path = tmp_path("missing.conf");
        free(write_conf("d/x.conf", "[[registry]]\nlocation = \"x.io\"\nblocked = true\n"));
        _cleanup_free_ char *dir = tmp_path("d");
        _cleanup_(registries_conf_freep) registries_conf *conf = load_ok(path, dir);
        expect_resolve_error(conf, "x.io/a", OCID_ERR_PRECONDITION, "d/x.conf");
}

static void test_dropin_errors_name_the_file(void **state)
{
        _cleanup_free_ char *path = write_conf("registries.conf", "");
        free(write_conf("d/10-good.conf", "[[registry]]\nlocation = \"x.io\"\n"));
        free(write_conf("d/20-bad.conf", "[[registry]]\nlocation = 5\n"));
        _cleanup_free_ char *dir = tmp_path("d");
        registries_conf *conf = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(registries_conf_load(path, dir, &conf, &err), -1);
        assert_null(conf);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        assert_non_null(strstr(err.message, "d/20-bad.conf: [[registry]] #1: 'location' must be a string"));
        ocid_error_clear(&err);
}

static void test_dropin_v1_refused(void **state)
{
        _cleanup_free_ char *path = write_conf("registries.conf", "");
        free(write_conf("d/v1.conf", "[registries.search]\nregistries = [\"a.io\"]\n"));
        _cleanup_free_ char *dir = tmp_path("d");
        registries_conf *conf = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(registries_conf_load(path, dir, &conf, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        assert_non_null(strstr(err.message, "d/v1.conf: version 1 format"));
        ocid_error_clear(&err);
}

/* ---- aliases ---- */

static void test_aliases(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "unqualified-search-registries = [\"quay.io\"]\n"
                "[aliases]\n"
                "\"pause\" = \"registry.k8s.io/pause\"\n"
                "\"library/busybox\" = \"quay.io/prometheus/busybox\"\n"
                "\"alpine\" = \"docker.io/alpine\"\n"
                "\"team/tool\" = \"localhost:5000/tools/tool\"\n");
        expect_expand(conf, "pause", "registry.k8s.io/pause:latest");
        expect_expand(conf, "pause:3.9", "registry.k8s.io/pause:3.9");
        expect_expand(conf, "pause@" DIGEST, "registry.k8s.io/pause@" DIGEST);
        expect_expand(conf, "pause:3.9@" DIGEST, "registry.k8s.io/pause:3.9@" DIGEST);
        /* Keys are the names as written. */
        expect_expand(conf, "library/busybox:1", "quay.io/prometheus/busybox:1");
        expect_expand(conf, "busybox:1", "quay.io/busybox:1");
        /* Values are normalised. */
        expect_expand(conf, "alpine", "docker.io/library/alpine:latest");
        expect_expand(conf, "team/tool:2", "localhost:5000/tools/tool:2");
        /* A qualified name is not expanded at all. */
        expect_expand(conf, "docker.io/pause", "docker.io/library/pause:latest");
}

static void test_aliases_dropin_merge(void **state)
{
        _cleanup_free_ char *path = write_conf("registries.conf",
                                               "[aliases]\n"
                                               "\"a\" = \"one.io/a\"\n"
                                               "\"b\" = \"one.io/b\"\n"
                                               "\"c\" = \"one.io/c\"\n");
        free(write_conf("d/1.conf", "[aliases]\n\"b\" = \"two.io/b\"\n\"d\" = \"two.io/d\"\n"));
        free(write_conf("d/2.conf", "[aliases]\n\"c\" = \"\"\n"));
        _cleanup_free_ char *dir = tmp_path("d");
        _cleanup_(registries_conf_freep) registries_conf *conf = load_ok(path, dir);
        expect_expand(conf, "a", "one.io/a:latest");
        expect_expand(conf, "b", "two.io/b:latest");
        expect_expand(conf, "d", "two.io/d:latest");
        /* Erased: back to the search list (empty, so docker.io). */
        expect_expand(conf, "c", "docker.io/library/c:latest");
}

static void test_invalid_aliases(void **state)
{
        parse_invalid("[aliases]\n\"quay.io/app\" = \"quay.io/app\"\n", "must not contain a registry");
        parse_invalid("[aliases]\n\"localhost/app\" = \"quay.io/app\"\n",
                      "must not contain a registry");
        parse_invalid("[aliases]\n\"app:1\" = \"quay.io/app\"\n", "must not contain a tag or digest");
        parse_invalid("[aliases]\n\"app@" DIGEST "\" = \"quay.io/app\"\n",
                      "must not contain a tag or digest");
        parse_invalid("[aliases]\n\"App\" = \"quay.io/app\"\n",
                      "invalid short name 'App' in [aliases]: invalid reference 'App': "
                      "repository name must be lowercase");
        parse_invalid("[aliases]\n\"app\" = \"other/app\"\n", "the value must be registry/repository");
        parse_invalid("[aliases]\n\"app\" = \"quay.io/app:1\"\n", "without tag or digest");
        parse_invalid("[aliases]\n\"app\" = \"quay.io/app@" DIGEST "\"\n", "without tag or digest");
        parse_invalid("[aliases]\n\"app\" = \"quay.io/App\"\n", "must be lowercase");
        parse_invalid("[aliases]\n\"app\" = 1\n", "alias value must be a string");
        parse_invalid("aliases = [\"a\"]\n", "'aliases' must be a table");
}

/* ---- search list ---- */

static void test_search_list(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "unqualified-search-registries = [\"quay.io\", \"localhost:5000\", "
                "\"docker.io\", \"index.docker.io\"]\n");
        expect_expand(conf, "busybox",
                      "quay.io/busybox:latest, localhost:5000/busybox:latest, "
                      "docker.io/library/busybox:latest, docker.io/library/busybox:latest");
        expect_expand(conf, "library/busybox:1@" DIGEST,
                      "quay.io/library/busybox:1@" DIGEST ", "
                      "localhost:5000/library/busybox:1@" DIGEST ", "
                      "docker.io/library/busybox:1@" DIGEST ", "
                      "docker.io/library/busybox:1@" DIGEST);
        expect_expand(conf, "ns/app:2",
                      "quay.io/ns/app:2, localhost:5000/ns/app:2, docker.io/ns/app:2, "
                      "docker.io/ns/app:2");
        char *const *list = registries_search_list(conf);
        assert_string_equal(list[1], "localhost:5000");
        assert_null(list[4]);
}

static void test_search_list_empty_means_docker_io(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf =
                parse_ok("unqualified-search-registries = []\n");
        expect_expand(conf, "busybox", "docker.io/library/busybox:latest");
        expect_expand(conf, "user/app@" DIGEST, "docker.io/user/app@" DIGEST);
}

static void test_search_list_invalid(void **state)
{
        parse_invalid("unqualified-search-registries = \"quay.io\"\n",
                      "'unqualified-search-registries' must be an array of strings");
        parse_invalid("unqualified-search-registries = [1]\n", "entry must be a string");
        parse_invalid("unqualified-search-registries = [\"https://quay.io\"]\n",
                      "URI schemes are not supported");
        parse_invalid("unqualified-search-registries = [\"quay.io/ns\"]\n",
                      "invalid unqualified-search-registries entry 'quay.io/ns'");
        /* A bare word would silently mean docker.io/<word>/...: refused. */
        parse_invalid("unqualified-search-registries = [\"registry\"]\n",
                      "invalid unqualified-search-registries entry 'registry'");
        parse_invalid("unqualified-search-registries = [\"\"]\n",
                      "invalid unqualified-search-registries entry ''");
}

static void test_search_candidate_too_long(void **state)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "unqualified-search-registries = [\"");
        for (int i = 0; i < 200; i++)
                strbuf_addch(&sb, 'h');
        strbuf_adds(&sb, ".io\"]\n");
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(sb.buf);
        char name[80];
        memset(name, 'n', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        _cleanup_(image_ref_freep) image_ref *ref = ref_of(name);
        image_ref **v = (image_ref **)&v;
        size_t n = 99;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(registries_expand_short_name(conf, ref, &v, &n, &err), -1);
        assert_ptr_equal(v, (image_ref **)&v);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        assert_non_null(strstr(err.message, "longer than 255"));
        ocid_error_clear(&err);
}

/* ---- format errors ---- */

static void test_v1_refused(void **state)
{
        parse_invalid("[registries.search]\nregistries = [\"registry1.com\"]\n"
                      "[registries.insecure]\nregistries = []\n"
                      "[registries.block]\nregistries = [\"bad.com\"]\n",
                      "version 1 format ([registries.search], [registries.insecure], "
                      "[registries.block]) is not supported");
        parse_invalid("[registries.block]\nregistries = []\n", "version 1 format");
        /* Mixed v1 and v2: still refused. */
        parse_invalid("unqualified-search-registries = [\"a.io\"]\n"
                      "[registries.search]\nregistries = [\"a.io\"]\n",
                      "version 1 format");
}

static void test_v1_file_refused(void **state)
{
        _cleanup_free_ char *path =
                write_conf("registries.conf", "[registries.search]\nregistries = ['docker.io']\n");
        registries_conf *conf = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(registries_conf_load(path, NULL, &conf, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        _cleanup_free_ char *want = NULL;
        assert_true(asprintf(&want, "%s: version 1 format", path) > 0);
        assert_memory_equal(err.message, want, strlen(want));
        ocid_error_clear(&err);
}

static void test_unknown_keys_ignored(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "short-name-mode = \"enforcing\"\n"
                "credential-helpers = [\"containers-auth.json\"]\n"
                "additional-layer-store-auth-helper = \"x\"\n"
                "some-future-key = 42\n"
                "[future-table]\n"
                "x = 1\n"
                "[[registry]]\n"
                "location = \"a.io\"\n"
                "future-registry-key = true\n"
                "[[registry.mirror]]\n"
                "location = \"m.io\"\n"
                "future-mirror-key = \"x\"\n");
        expect_sources(conf, "a.io/x", "mirror m.io/x:latest, a.io/x:latest");
}

static void test_type_errors(void **state)
{
        parse_invalid("[[registry]]\nlocation = \"a.io\"\ninsecure = \"yes\"\n",
                      "[[registry]] #1: 'insecure' must be true or false");
        parse_invalid("[[registry]]\nlocation = \"a.io\"\n[[registry]]\nlocation = \"b.io\"\n"
                      "blocked = 1\n",
                      "[[registry]] #2: 'blocked' must be true or false");
        parse_invalid("[[registry]]\nlocation = \"a.io\"\nmirror-by-digest-only = 0\n",
                      "'mirror-by-digest-only' must be true or false");
        parse_invalid("[[registry]]\nlocation = 5\n", "'location' must be a string");
        parse_invalid("[[registry]]\nprefix = [\"a.io\"]\n", "'prefix' must be a string");
        parse_invalid("[registry]\nlocation = \"a.io\"\n",
                      "'registry' must be an array of tables ([[registry]])");
        parse_invalid("registry = [1, 2]\n", "'registry' must be an array of tables");
        parse_invalid("[[registry]]\nlocation = \"a.io\"\n[registry.mirror]\nlocation = \"m.io\"\n",
                      "'mirror' must be an array of tables");
        parse_invalid("[[registry]]\nlocation = \"a.io\"\nmirror = [\"m.io\"]\n",
                      "'mirror' must be an array of tables");
        parse_invalid("[[registry]]\nlocation = \"a.io\"\n[[registry.mirror]]\ninsecure = \"no\"\n"
                      "location = \"m.io\"\n",
                      "'insecure' must be true or false");
        parse_invalid("[[registry]]\nlocation = \"a\\u0000.io\"\n", "contains a NUL character");
}

static void test_invalid_locations(void **state)
{
        parse_invalid("[[registry]]\nlocation = \"https://a.io\"\n",
                      "invalid location 'https://a.io': URI schemes are not supported");
        parse_invalid("[[registry]]\nprefix = \"http://a.io\"\nlocation = \"a.io\"\n",
                      "URI schemes are not supported");
        parse_invalid("[[registry]]\ninsecure = true\n", "both location and prefix are unset");
        parse_invalid("[[registry]]\nprefix = \"\"\nlocation = \"\"\n",
                      "both location and prefix are unset");
        parse_invalid("[[registry]]\nprefix = \"a.io\"\n",
                      "location is unset and prefix 'a.io' is not in the format *.example.com");
        parse_invalid("[[registry]]\nlocation = \"a.io\"\n[[registry.mirror]]\ninsecure = true\n",
                      "mirror location is unset");
        parse_invalid("[[registry]]\nlocation = \"a.io\"\n[[registry.mirror]]\nlocation = \"/\"\n",
                      "mirror location is unset");
        parse_invalid("[[registry]]\nlocation = \"a io\"\n", "invalid location 'a io'");
        parse_invalid("[[registry]]\nlocation = \"A.io/Upper\"\n", "invalid location");
        parse_invalid("[[registry]]\nprefix = \"busybox\"\nlocation = \"a.io\"\n",
                      "invalid prefix 'busybox'");
        parse_invalid("[[registry]]\nprefix = \"library/busybox\"\nlocation = \"a.io\"\n",
                      "invalid prefix 'library/busybox'");
        parse_invalid("[[registry]]\nlocation = \"a.io\"\n[[registry.mirror]]\n"
                      "location = \"m.io:port\"\n",
                      "invalid mirror location 'm.io:port'");
}

static void test_duplicate_prefix_first_wins(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "[[registry]]\n"
                "prefix = \"a.io\"\n"
                "location = \"first.io\"\n"
                "[[registry]]\n"
                "prefix = \"a.io\"\n"
                "location = \"second.io\"\n");
        expect_sources(conf, "a.io/x", "first.io/x:latest");
}

static void test_conflicting_settings(void **state)
{
        parse_invalid("[[registry]]\nprefix = \"a.io/one\"\nlocation = \"r.io\"\n"
                      "[[registry]]\nprefix = \"a.io/two\"\nlocation = \"r.io\"\ninsecure = true\n",
                      "registry 'r.io' is defined multiple times with conflicting 'insecure' "
                      "setting");
        parse_invalid("[[registry]]\nlocation = \"r.io\"\n"
                      "[[registry]]\nlocation = \"r.io\"\nblocked = true\n",
                      "conflicting 'blocked' setting");
        /* Agreeing duplicates are fine. */
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(
                "[[registry]]\nprefix = \"a.io/one\"\nlocation = \"r.io/one\"\n"
                "[[registry]]\nprefix = \"a.io/two\"\nlocation = \"r.io/two\"\ninsecure = true\n");
        expect_sources(conf, "a.io/two/x", "r.io/two/x:latest insecure");
}

static void test_toml_errors(void **state)
{
        parse_invalid("[[registry]\nlocation = \"a.io\"\n", "test.conf: line 1: ");
        parse_invalid("unqualified-search-registries = [\"a.io\"]\n"
                      "unqualified-search-registries = [\"b.io\"]\n",
                      "line 2: ");
        parse_invalid("[aliases]\n\"a\" = \"x.io/a\"\n\"a\" = \"y.io/a\"\n", "line 3: ");
}

static void test_file_errors(void **state)
{
        /* Too large. */
        _cleanup_free_ char *big = malloc(REGISTRIES_CONF_MAX_SIZE + 2);
        assert_non_null(big);
        memset(big, '#', REGISTRIES_CONF_MAX_SIZE + 1);
        big[REGISTRIES_CONF_MAX_SIZE + 1] = '\0';
        _cleanup_free_ char *path = write_conf("big.conf", big);
        registries_conf *conf = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(registries_conf_load(path, NULL, &conf, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        assert_non_null(strstr(err.message, "larger than"));
        ocid_error_clear(&err);

        /* A directory where the file should be. */
        _cleanup_free_ char *dirpath = tmp_path("adir");
        assert_int_equal(fs_mkdir_p(dirpath, 0755), 0);
        assert_int_equal(registries_conf_load(dirpath, NULL, &conf, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_INTERNAL);
        assert_non_null(strstr(err.message, "adir"));
        ocid_error_clear(&err);

        /* A file where the drop-in directory should be. */
        _cleanup_free_ char *file = write_conf("afile", "");
        assert_int_equal(registries_conf_load(NULL, file, &conf, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_INTERNAL);
        assert_non_null(strstr(err.message, "Not a directory"));
        ocid_error_clear(&err);
        assert_null(conf);
}

/* ---- resolve and expand details ---- */

static void test_resolve_rewrite_precondition(void **state)
{
        /* A rewrite past 255 characters is the configuration's fault. */
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "[[registry]]\nprefix = \"short.io\"\nlocation = \"long.io/");
        for (int i = 0; i < 240; i++)
                strbuf_addch(&sb, 'x');
        strbuf_adds(&sb, "\"\n");
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(sb.buf);
        expect_resolve_error(conf, "short.io/a-rather-long-name", OCID_ERR_PRECONDITION,
                             "test.conf: [[registry]] prefix 'short.io' rewrites "
                             "'short.io/a-rather-long-name:latest' to an invalid reference");
        /* Short enough still works: 8 + 240 + 2 = 250 characters. */
        _cleanup_strbuf_ strbuf want = STRBUF_INIT;
        strbuf_adds(&want, "long.io/");
        for (int i = 0; i < 240; i++)
                strbuf_addch(&want, 'x');
        strbuf_adds(&want, "/a:latest");
        expect_sources(conf, "short.io/a", want.buf);
}

static void test_expand_qualified_is_copy(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf =
                parse_ok("unqualified-search-registries = [\"quay.io\"]\n");
        expect_expand(conf, "localhost/app", "localhost/app:latest");
        expect_expand(conf, "docker.io/busybox", "docker.io/library/busybox:latest");
        expect_expand(conf, "quay.io/a/b@" DIGEST, "quay.io/a/b@" DIGEST);
}

static void test_resolve_keeps_tag_and_digest(void **state)
{
        _cleanup_(registries_conf_freep) registries_conf *conf = NULL;
        _cleanup_(image_ref_freep) image_ref *ref = ref_of("quay.io/a/b:1@" DIGEST);
        pull_source *src = NULL;
        size_t n = 0;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(registries_resolve(conf, ref, &src, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_string_equal(src[0].host, "quay.io");
        assert_string_equal(src[0].repository, "a/b");
        assert_string_equal(src[0].tag, "1");
        assert_string_equal(src[0].digest, DIGEST);
        assert_false(src[0].insecure);
        assert_false(src[0].is_mirror);
        pull_sources_free(src, n);
}

static void test_bounds(void **state)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "[[registry]]\nlocation = \"a.io\"\n");
        for (int i = 0; i < 65; i++)
                strbuf_addf(&sb, "[[registry.mirror]]\nlocation = \"m%d.io\"\n", i);
        parse_invalid(sb.buf, "more than 64 mirrors");

        strbuf_reset(&sb);
        strbuf_adds(&sb, "unqualified-search-registries = [");
        for (int i = 0; i < 65; i++)
                strbuf_addf(&sb, "%s\"r%d.io\"", i ? ", " : "", i);
        strbuf_adds(&sb, "]\n");
        parse_invalid(sb.buf, "more than 64 unqualified-search-registries");

        strbuf_reset(&sb);
        for (int i = 0; i < 1025; i++)
                strbuf_addf(&sb, "[[registry]]\nlocation = \"r%d.io\"\n", i);
        parse_invalid(sb.buf, "more than 1024 [[registry]] tables");
}

static void test_bad_second_mirror(void **state)
{
        /* The first mirror, already parsed, is released (ASan checks). */
        parse_invalid("[[registry]]\nlocation = \"a.io\"\n"
                      "[[registry.mirror]]\nlocation = \"good.io\"\n"
                      "[[registry.mirror]]\nlocation = \"bad io\"\n",
                      "invalid mirror location 'bad io'");
}

static void test_mirror_rewrite_precondition(void **state)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "[[registry]]\nlocation = \"a.io\"\n"
                         "[[registry.mirror]]\nlocation = \"ok.io\"\n"
                         "[[registry.mirror]]\nlocation = \"m.io/");
        for (int i = 0; i < 245; i++)
                strbuf_addch(&sb, 'm');
        strbuf_adds(&sb, "\"\n");
        _cleanup_(registries_conf_freep) registries_conf *conf = parse_ok(sb.buf);
        expect_resolve_error(conf, "a.io/some/long/name", OCID_ERR_PRECONDITION,
                             "rewrites 'a.io/some/long/name:latest' to an invalid reference");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_missing_file_is_empty),
                T(test_null_paths_and_conf),
                T(test_empty_document),
                T(test_manpage_example),
                T(test_full_example),
                T(test_prefix_defaults_to_location),
                T(test_location_rewrite),
                T(test_prefix_boundaries),
                T(test_longest_prefix_wins),
                T(test_prefix_with_tag),
                T(test_docker_library_prefix),
                T(test_rewrite_to_docker_io_normalises),
                T(test_trailing_slash_dropped),
                T(test_wildcard_prefix),
                T(test_wildcard_vs_literal),
                T(test_bad_wildcards),
                T(test_blocked),
                T(test_blocked_mirror_not_consulted),
                T(test_insecure_per_endpoint),
                T(test_pull_from_mirror),
                T(test_pull_from_mirror_errors),
                T(test_dropin_override),
                T(test_dropin_search_list),
                T(test_dropin_only),
                T(test_dropin_errors_name_the_file),
                T(test_dropin_v1_refused),
                T(test_aliases),
                T(test_aliases_dropin_merge),
                T(test_invalid_aliases),
                T(test_search_list),
                T(test_search_list_empty_means_docker_io),
                T(test_search_list_invalid),
                T(test_search_candidate_too_long),
                T(test_v1_refused),
                T(test_v1_file_refused),
                T(test_unknown_keys_ignored),
                T(test_type_errors),
                T(test_invalid_locations),
                T(test_duplicate_prefix_first_wins),
                T(test_conflicting_settings),
                T(test_toml_errors),
                T(test_file_errors),
                T(test_resolve_rewrite_precondition),
                T(test_expand_qualified_is_copy),
                T(test_resolve_keeps_tag_and_digest),
                T(test_bounds),
                T(test_bad_second_mirror),
                T(test_mirror_rewrite_precondition),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
