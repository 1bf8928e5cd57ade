/* manifest_parse(), manifest_select(), platform_*(), image_config_parse()
 * and image_chain_ids(): real-looking documents of every kind (fixtures in
 * image/data/), how the Content-Type header and the document decide the
 * kind, every way a descriptor can be wrong, the bounds, containerd-style
 * platform selection, and chain IDs against values computed independently
 * with sha256sum. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "image/manifest.h"
#include "util/cleanup.h"
#include "util/strbuf.h"
#include "util/strv.h"

#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/utsname.h>

/* ---- helpers ---- */

/* Known digests: sha256 of "a", "b", "c". */
#define DA "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define DB "sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
#define DC "sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"

static char *fixture(const char *name, size_t *len)
{
        const char *base = getenv("OCID_TEST_DATA");
        _cleanup_free_ char *here = strdup(__FILE__);
        char path[4096];

        if (base)
                snprintf(path, sizeof(path), "%s/image/data/%s", base, name);
        else
                snprintf(path, sizeof(path), "%s/data/%s", dirname(here), name);
        FILE *f = fopen(path, "re");
        if (!f)
                print_message("cannot open fixture %s\n", path);
        assert_non_null(f);
        strbuf sb = STRBUF_INIT;
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                strbuf_add(&sb, buf, n);
        fclose(f);
        return strbuf_detach(&sb, len);
}

/* Parse with an exactly sized copy, so ASan catches reads past len. */
static int parse_exact(const char *ct, const char *body, size_t len, manifest **ret,
                       ocid_error *err)
{
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, body, len);
        int r = manifest_parse(ct, copy, len, ret, err);
        free(copy);
        return r;
}

static manifest *parse_ok(const char *ct, const char *body)
{
        manifest *m = NULL;
        ocid_error err = OCID_ERROR_INIT;
        int r = parse_exact(ct, body, strlen(body), &m, &err);
        if (r < 0)
                print_message("unexpected error: %s\nfor: %s\n", err.message, body);
        assert_int_equal(r, 0);
        assert_int_equal(err.kind, OCID_OK);
        assert_null(err.message);
        assert_non_null(m);
        return m;
}

static manifest *parse_fixture(const char *ct, const char *name)
{
        size_t len;
        _cleanup_free_ char *body = fixture(name, &len);
        return parse_ok(ct, body);
}

static void expect_error_len(const char *ct, const char *body, size_t len, ocid_error_kind kind,
                             const char *needle)
{
        manifest *sentinel = (manifest *)&sentinel;
        manifest *m = sentinel;
        ocid_error err = OCID_ERROR_INIT;
        int r = parse_exact(ct, body, len, &m, &err);

        if (r == 0) {
                print_message("expected an error for: %.300s\n", body);
                manifest_free(m);
                fail();
        }
        assert_int_equal(r, -1);
        assert_ptr_equal(m, sentinel);
        assert_non_null(err.message);
        if (err.kind != kind || !strstr(err.message, needle)) {
                print_message("for: %.300s\nexpected %s \"%s\", got %s \"%s\"\n", body,
                              ocid_error_kind_name(kind), needle, ocid_error_kind_name(err.kind),
                              err.message);
                fail();
        }
        ocid_error_clear(&err);
}

static void expect_error(const char *ct, const char *body, ocid_error_kind kind,
                         const char *needle)
{
        expect_error_len(ct, body, strlen(body), kind, needle);
}

/* An image manifest with one config and the given layers (a JSON array body). */
static char *image_doc(const char *media_type, const char *config_type, const char *layers)
{
        char *s = NULL;
        int r = asprintf(&s,
                         "{\"schemaVersion\":2,%s%s%s"
                         "\"config\":{\"mediaType\":\"%s\",\"digest\":\"" DA "\",\"size\":7023},"
                         "\"layers\":%s}",
                         media_type ? "\"mediaType\":\"" : "", media_type ? media_type : "",
                         media_type ? "\"," : "", config_type, layers);
        assert_true(r > 0);
        return s;
}

static char *layer_doc(const char *layer_json)
{
        _cleanup_free_ char *layers = NULL;
        assert_true(asprintf(&layers, "[%s]", layer_json) > 0);
        return image_doc(MEDIA_OCI_MANIFEST, MEDIA_OCI_CONFIG, layers);
}

/* An index of the given entries, each "os/arch[/variant]" with a distinct
 * digest; "-" makes an entry without platform. */
static manifest *index_of(const char *media_type, const char *const *plats)
{
        strbuf sb = STRBUF_INIT;
        strbuf_addf(&sb, "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[", MEDIA_OCI_INDEX);
        for (size_t i = 0; plats[i]; i++) {
                if (i)
                        strbuf_addch(&sb, ',');
                strbuf_addf(&sb, "{\"mediaType\":\"%s\",\"digest\":\"sha256:%064zx\",\"size\":%zu",
                            media_type, i, 100 + i);
                if (!STREQ(plats[i], "-")) {
                        _cleanup_strv_ char **p = strv_split(plats[i], "/");
                        strbuf_addf(&sb, ",\"platform\":{\"os\":\"%s\",\"architecture\":\"%s\"", p[0],
                                    p[1]);
                        if (p[1] && p[2])
                                strbuf_addf(&sb, ",\"variant\":\"%s\"", p[2]);
                        strbuf_addch(&sb, '}');
                }
                strbuf_addch(&sb, '}');
        }
        strbuf_adds(&sb, "]}");
        manifest *m = parse_ok(NULL, sb.buf);
        strbuf_release(&sb);
        return m;
}

/* The index (into m->entries) that want selects, or -1 with *msg set. */
static int select_idx(const manifest *m, const char *os, const char *arch, const char *variant,
                      char **msg)
{
        platform want = { os, arch, variant };
        const descriptor *d = NULL;
        ocid_error err = OCID_ERROR_INIT;
        if (manifest_select(m, &want, &d, &err) < 0) {
                assert_int_equal(err.kind, OCID_ERR_NOT_FOUND);
                assert_null(d);
                if (msg)
                        *msg = TAKE_PTR(err.message);
                ocid_error_clear(&err);
                return -1;
        }
        assert_non_null(d);
        assert_true(d >= m->entries && d < m->entries + m->n_entries);
        return (int)(d - m->entries);
}

static void assert_strv(char *const *v, const char *const *want)
{
        size_t n = 0;
        assert_non_null(v);
        for (; want[n]; n++) {
                assert_non_null(v[n]);
                assert_string_equal(v[n], want[n]);
        }
        assert_null(v[n]);
}

/* ---- manifests: each kind ---- */

static void test_docker_v2(void **state)
{
        manifest *m = parse_fixture(MEDIA_DOCKER_MANIFEST, "docker-v2.json");
        assert_int_equal(m->kind, MANIFEST_IMAGE);
        assert_string_equal(m->media_type, MEDIA_DOCKER_MANIFEST);
        assert_string_equal(m->config.media_type, MEDIA_DOCKER_CONFIG);
        assert_int_equal(m->config.size, 1457);
        assert_int_equal(strlen(m->config.digest), 71);
        assert_null(m->config.os);
        assert_int_equal(m->n_layers, 1);
        assert_string_equal(m->layers[0].media_type, MEDIA_DOCKER_LAYER_GZIP);
        assert_int_equal(m->layers[0].size, 2220094);
        assert_string_equal(m->config.digest,
                            "sha256:75b28b301258c561f22899ba499b40ea5bf69a1afd583c77bb4315626a09dc9a");
        assert_string_equal(m->layers[0].digest,
                            "sha256:6445239817336dd6cd2d1cb2dc89ff94c39f96c59a7da2fcf89f2d26bf5cb3f0");
        assert_null(m->entries);
        assert_int_equal(m->n_entries, 0);
        manifest_free(m);
}

static void test_oci_manifest(void **state)
{
        manifest *m = parse_fixture(MEDIA_OCI_MANIFEST, "oci-manifest.json");
        assert_int_equal(m->kind, MANIFEST_IMAGE);
        assert_string_equal(m->media_type, MEDIA_OCI_MANIFEST);
        assert_string_equal(m->config.media_type, MEDIA_OCI_CONFIG);
        assert_int_equal(m->config.size, 8581);
        assert_int_equal(m->n_layers, 5);
        assert_string_equal(m->layers[0].media_type, MEDIA_OCI_LAYER_GZIP);
        assert_int_equal(m->layers[1].size, 41405137);
        assert_string_equal(m->layers[2].media_type, MEDIA_OCI_LAYER_ZSTD);
        assert_string_equal(m->layers[3].media_type, MEDIA_OCI_LAYER);
        assert_int_equal(m->layers[3].size, 0);
        for (size_t i = 0; i < m->n_layers; i++) {
                assert_int_equal(strncmp(m->layers[i].digest, "sha256:", 7), 0);
                assert_null(m->layers[i].os);
        }
        manifest_free(m);
}

static void test_docker_list(void **state)
{
        manifest *m = parse_fixture(MEDIA_DOCKER_LIST, "docker-list.json");
        assert_int_equal(m->kind, MANIFEST_INDEX);
        assert_string_equal(m->media_type, MEDIA_DOCKER_LIST);
        assert_int_equal(m->n_entries, 9);
        assert_int_equal(m->n_layers, 0);
        assert_null(m->config.digest);
        assert_string_equal(m->entries[0].os, "linux");
        assert_string_equal(m->entries[0].architecture, "amd64");
        assert_null(m->entries[0].variant);
        assert_string_equal(m->entries[3].architecture, "arm");
        assert_string_equal(m->entries[3].variant, "v7");
        assert_string_equal(m->entries[4].architecture, "arm64");
        assert_string_equal(m->entries[4].variant, "v8");
        assert_string_equal(m->entries[8].architecture, "s390x");
        for (size_t i = 0; i < m->n_entries; i++) {
                assert_string_equal(m->entries[i].media_type, MEDIA_DOCKER_MANIFEST);
                assert_int_equal(m->entries[i].size, 528);
        }
        manifest_free(m);
}

static void test_oci_index(void **state)
{
        manifest *m = parse_fixture(MEDIA_OCI_INDEX, "oci-index.json");
        assert_int_equal(m->kind, MANIFEST_INDEX);
        assert_string_equal(m->media_type, MEDIA_OCI_INDEX);
        assert_int_equal(m->n_entries, 6);
        assert_string_equal(m->entries[1].architecture, "arm64");
        assert_null(m->entries[1].variant);
        assert_string_equal(m->entries[5].os, "unknown");
        manifest_free(m);
}

/* ---- how the kind is decided ---- */

static void test_kind_from_document(void **state)
{
        static const char *const generic[] = { NULL, "", "application/json",
                                                "text/plain; charset=utf-8",
                                                "application/octet-stream" };
        for (size_t i = 0; i < ARRAY_SIZE(generic); i++) {
                manifest *m = parse_fixture(generic[i], "docker-v2.json");
                assert_int_equal(m->kind, MANIFEST_IMAGE);
                assert_string_equal(m->media_type, MEDIA_DOCKER_MANIFEST);
                manifest_free(m);
                m = parse_fixture(generic[i], "docker-list.json");
                assert_int_equal(m->kind, MANIFEST_INDEX);
                assert_string_equal(m->media_type, MEDIA_DOCKER_LIST);
                manifest_free(m);
                m = parse_fixture(generic[i], "oci-index.json");
                assert_string_equal(m->media_type, MEDIA_OCI_INDEX);
                manifest_free(m);
        }
}

static void test_kind_from_shape(void **state)
{
        manifest *m = parse_ok(NULL, "{\"schemaVersion\":2,\"manifests\":[]}");
        assert_int_equal(m->kind, MANIFEST_INDEX);
        assert_string_equal(m->media_type, MEDIA_OCI_INDEX);
        assert_int_equal(m->n_entries, 0);
        manifest_free(m);

        _cleanup_free_ char *doc = image_doc(NULL, MEDIA_OCI_CONFIG, "[]");
        m = parse_ok("application/json", doc);
        assert_int_equal(m->kind, MANIFEST_IMAGE);
        assert_string_equal(m->media_type, MEDIA_OCI_MANIFEST);
        assert_int_equal(m->n_layers, 0);
        manifest_free(m);

        expect_error(NULL, "{\"schemaVersion\":2}", OCID_ERR_INVALID,
                     "neither an image manifest nor an index");
        expect_error(NULL, "{\"schemaVersion\":2,\"config\":{}}", OCID_ERR_INVALID,
                     "neither an image manifest nor an index");
}

static void test_header_decides(void **state)
{
        /* Parameters, case and blanks in the header do not matter. */
        manifest *m = parse_fixture(" Application/VND.oci.image.manifest.v1+JSON ; charset=utf-8",
                                    "oci-manifest.json");
        assert_string_equal(m->media_type, MEDIA_OCI_MANIFEST);
        manifest_free(m);

        /* A header names the type of a document that does not. */
        _cleanup_free_ char *doc = image_doc(NULL, MEDIA_DOCKER_CONFIG,
                                             "[{\"mediaType\":\"" MEDIA_DOCKER_LAYER_GZIP
                                             "\",\"digest\":\"" DB "\",\"size\":3}]");
        m = parse_ok(MEDIA_DOCKER_MANIFEST, doc);
        assert_int_equal(m->kind, MANIFEST_IMAGE);
        assert_string_equal(m->media_type, MEDIA_DOCKER_MANIFEST);
        manifest_free(m);

        m = parse_ok(MEDIA_DOCKER_LIST, "{\"schemaVersion\":2,\"manifests\":[]}");
        assert_string_equal(m->media_type, MEDIA_DOCKER_LIST);
        manifest_free(m);
}

static void test_header_mismatch(void **state)
{
        size_t len;
        _cleanup_free_ char *v2 = fixture("docker-v2.json", &len);
        expect_error(MEDIA_OCI_MANIFEST, v2, OCID_ERR_INVALID,
                     "Content-Type '" MEDIA_OCI_MANIFEST "' does not match its mediaType '"
                     MEDIA_DOCKER_MANIFEST "'");
        expect_error(MEDIA_DOCKER_LIST, v2, OCID_ERR_INVALID, "does not match");
        expect_error(MEDIA_OCI_INDEX, v2, OCID_ERR_INVALID, "does not match");

        _cleanup_free_ char *list = fixture("docker-list.json", &len);
        expect_error(MEDIA_DOCKER_MANIFEST, list, OCID_ERR_INVALID, "does not match");
        expect_error(MEDIA_OCI_INDEX, list, OCID_ERR_INVALID, "does not match");

        /* Header and shape disagree, no mediaType to compare. */
        expect_error(MEDIA_OCI_INDEX,
                     "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MEDIA_OCI_CONFIG
                     "\",\"digest\":\"" DA "\",\"size\":1},\"layers\":[]}",
                     OCID_ERR_INVALID, "index has a 'config' field");
        expect_error(MEDIA_OCI_MANIFEST, "{\"schemaVersion\":2,\"manifests\":[]}", OCID_ERR_INVALID,
                     "image manifest has a 'manifests' field");
}

/* CVE-2021-41190: a document readable as both kinds must be refused. */
static void test_ambiguous_document(void **state)
{
        expect_error(NULL,
                     "{\"schemaVersion\":2,\"manifests\":[],\"layers\":[],\"config\":{"
                     "\"mediaType\":\"" MEDIA_OCI_CONFIG "\",\"digest\":\"" DA "\",\"size\":1}}",
                     OCID_ERR_INVALID, "index has a 'config' field");
        expect_error(NULL, "{\"schemaVersion\":2,\"manifests\":[],\"layers\":[]}",
                     OCID_ERR_INVALID, "index has a 'layers' field");
        _cleanup_free_ char *doc = image_doc(MEDIA_OCI_MANIFEST, MEDIA_OCI_CONFIG, "[],\"manifests\":[]");
        expect_error(NULL, doc, OCID_ERR_INVALID, "image manifest has a 'manifests' field");
}

static void test_schema1_refused(void **state)
{
        size_t len;
        _cleanup_free_ char *s1 = fixture("schema1.json", &len);
        const char *cts[] = { NULL, "application/json", MEDIA_DOCKER_V1, MEDIA_DOCKER_V1_SIGNED,
                              MEDIA_DOCKER_V1_SIGNED "; charset=utf-8" };
        for (size_t i = 0; i < ARRAY_SIZE(cts); i++)
                expect_error(cts[i], s1, OCID_ERR_INVALID,
                             "Docker schema 1, which is no longer supported; push the image again with a newer client");
        /* The header alone is enough, whatever the body. */
        expect_error(MEDIA_DOCKER_V1_SIGNED, "not json at all", OCID_ERR_INVALID, "schema 1");
        /* The mediaType alone, or the version alone, or the shape alone. */
        expect_error(NULL, "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_DOCKER_V1 "\"}",
                     OCID_ERR_INVALID, "schema 1");
        expect_error(MEDIA_DOCKER_MANIFEST, "{\"schemaVersion\":1,\"fsLayers\":[]}",
                     OCID_ERR_INVALID, "schema 1");
        expect_error(NULL, "{\"name\":\"x\",\"fsLayers\":[]}", OCID_ERR_INVALID, "schema 1");
}

static void test_schema_version(void **state)
{
        expect_error(NULL, "{\"manifests\":[]}", OCID_ERR_INVALID, "schemaVersion is missing");
        expect_error(NULL, "{\"schemaVersion\":3,\"manifests\":[]}", OCID_ERR_INVALID,
                     "schemaVersion is 3, not 2");
        expect_error(NULL, "{\"schemaVersion\":\"2\",\"manifests\":[]}", OCID_ERR_INVALID,
                     "not 2");
        expect_error(NULL, "{\"schemaVersion\":2.0,\"manifests\":[]}", OCID_ERR_INVALID, "not 2");
        expect_error(NULL, "{\"schemaVersion\":null,\"manifests\":[]}", OCID_ERR_INVALID,
                     "schemaVersion is missing");
}

static void test_unsupported_media_type(void **state)
{
        expect_error(NULL,
                     "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.artifact.manifest.v1+json\","
                     "\"blobs\":[]}",
                     OCID_ERR_INVALID,
                     "unsupported manifest media type 'application/vnd.oci.artifact.manifest.v1+json'");
        expect_error(NULL, "{\"schemaVersion\":2,\"mediaType\":7,\"manifests\":[]}",
                     OCID_ERR_INVALID, "mediaType must be a string");
        /* Untrusted text is escaped and cut in messages. */
        expect_error(NULL, "{\"schemaVersion\":2,\"mediaType\":\"a\\nb'c\",\"manifests\":[]}",
                     OCID_ERR_INVALID, "'a\\x0ab\\x27c'");
        strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "{\"schemaVersion\":2,\"mediaType\":\"");
        for (int i = 0; i < 1000; i++)
                strbuf_addch(&sb, 'x');
        strbuf_adds(&sb, "\",\"manifests\":[]}");
        manifest *m = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(manifest_parse(NULL, sb.buf, sb.len, &m, &err), -1);
        assert_true(strlen(err.message) < 300);
        assert_non_null(strstr(err.message, "xxx...'"));
        ocid_error_clear(&err);
        strbuf_release(&sb);
}

static void test_not_json(void **state)
{
        expect_error(NULL, "", OCID_ERR_INVALID, "manifest is empty");
        expect_error(NULL, "   ", OCID_ERR_INVALID, "unexpected end of input");
        expect_error(NULL, "{\"schemaVersion\":2,", OCID_ERR_INVALID, "unexpected end of input");
        expect_error(NULL, "<html>rate limited</html>", OCID_ERR_INVALID, "not valid JSON");
        expect_error(NULL, "{\"schemaVersion\":2,\"manifests\":[]} {}", OCID_ERR_INVALID,
                     "not valid JSON: unexpected character");
        expect_error(NULL, "[{\"schemaVersion\":2}]", OCID_ERR_INVALID, "not a JSON object");
        expect_error(NULL, "\"manifest\"", OCID_ERR_INVALID, "not a JSON object");
        expect_error(NULL, "{\"schemaVersion\":2,\"manifests\":[],}", OCID_ERR_INVALID,
                     "not valid JSON");
        expect_error(NULL, "{\"schemaVersion\":2,\"x\":\"\xff\xfe\",\"manifests\":[]}",
                     OCID_ERR_INVALID, "not valid JSON");
        /* A NUL would end json-c's input early and hide what follows. */
        static const char nul[] = "{\"schemaVersion\":2,\"manifests\":[]}\0garbage";
        expect_error_len(NULL, nul, sizeof(nul) - 1, OCID_ERR_INVALID, "NUL byte");
        /* Trailing whitespace is fine. */
        manifest_free(parse_ok(NULL, "{\"schemaVersion\":2,\"manifests\":[]}\r\n\t "));
}

/* ---- descriptors ---- */

static void test_bad_digests(void **state)
{
        static const char *const bad[] = {
                "sha256:CA978112CA1BBDCAFAC231B39A23DC4DA786EFF8147C4E72B9807785AFEE48BB",
                "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48b",
                "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb0",
                "sha256:ga978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
                "sha512:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
                "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
                "sha256:",
                "",
                "SHA256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
                "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48b\\u0000",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                _cleanup_free_ char *layer = NULL, *doc = NULL, *cfg = NULL, *idx = NULL;
                assert_true(asprintf(&layer,
                                     "{\"mediaType\":\"" MEDIA_OCI_LAYER_GZIP
                                     "\",\"digest\":\"%s\",\"size\":1}",
                                     bad[i]) > 0);
                doc = layer_doc(layer);
                const char *needle = strstr(bad[i], "\\u0000") ? "NUL" : "is not 'sha256:' and 64 lower-case hex digits";
                expect_error(NULL, doc, OCID_ERR_INVALID, needle);
                expect_error(NULL, doc, OCID_ERR_INVALID, "manifest layer 0: ");

                assert_true(asprintf(&cfg,
                                     "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MEDIA_OCI_CONFIG
                                     "\",\"digest\":\"%s\",\"size\":1},\"layers\":[]}",
                                     bad[i]) > 0);
                expect_error(NULL, cfg, OCID_ERR_INVALID, "manifest config: ");

                assert_true(asprintf(&idx,
                                     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MEDIA_OCI_MANIFEST
                                     "\",\"digest\":\"" DA "\",\"size\":1},{\"mediaType\":\"" MEDIA_OCI_MANIFEST
                                     "\",\"digest\":\"%s\",\"size\":1}]}",
                                     bad[i]) > 0);
                expect_error(NULL, idx, OCID_ERR_INVALID, "index entry 1: ");
        }
        _cleanup_free_ char *missing = layer_doc("{\"mediaType\":\"" MEDIA_OCI_LAYER "\",\"size\":1}");
        expect_error(NULL, missing, OCID_ERR_INVALID, "manifest layer 0: digest is missing");
        _cleanup_free_ char *number = layer_doc("{\"mediaType\":\"" MEDIA_OCI_LAYER "\",\"size\":1,\"digest\":5}");
        expect_error(NULL, number, OCID_ERR_INVALID, "manifest layer 0: digest must be a string");
}

static void test_sizes(void **state)
{
        static const struct {
                const char *size;
                const char *needle;
        } bad[] = {
                { "-1", "size -1 is not a non-negative 64-bit integer" },
                { "-9223372036854775808", "not a non-negative" },
                { "9223372036854775808", "size 9223372036854775808 is not" },
                { "99999999999999999999999", "not a non-negative" },
                { "1.5", "size must be an integer" },
                { "1e3", "size must be an integer" },
                { "\"12\"", "size must be an integer" },
                { "true", "size must be an integer" },
                { "null", "size is missing" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                _cleanup_free_ char *layer = NULL, *doc = NULL;
                assert_true(asprintf(&layer,
                                     "{\"mediaType\":\"" MEDIA_OCI_LAYER "\",\"digest\":\"" DB
                                     "\",\"size\":%s}",
                                     bad[i].size) > 0);
                doc = layer_doc(layer);
                expect_error(NULL, doc, OCID_ERR_INVALID, bad[i].needle);
        }
        _cleanup_free_ char *nosize = layer_doc("{\"mediaType\":\"" MEDIA_OCI_LAYER "\",\"digest\":\"" DB "\"}");
        expect_error(NULL, nosize, OCID_ERR_INVALID, "manifest layer 0: size is missing");

        _cleanup_free_ char *ok = layer_doc(
                "{\"mediaType\":\"" MEDIA_OCI_LAYER "\",\"digest\":\"" DB "\",\"size\":0},"
                "{\"mediaType\":\"" MEDIA_OCI_LAYER "\",\"digest\":\"" DC "\",\"size\":9223372036854775807}");
        manifest *m = parse_ok(NULL, ok);
        assert_int_equal(m->layers[0].size, 0);
        assert_true(m->layers[1].size == INT64_MAX);
        manifest_free(m);
}

static void test_descriptor_shape(void **state)
{
        _cleanup_free_ char *a = layer_doc("{\"digest\":\"" DB "\",\"size\":1}");
        expect_error(NULL, a, OCID_ERR_INVALID, "manifest layer 0: mediaType is missing");
        _cleanup_free_ char *b = layer_doc("[]");
        expect_error(NULL, b, OCID_ERR_INVALID, "manifest layer 0 is not a JSON object");
        _cleanup_free_ char *c = image_doc(MEDIA_OCI_MANIFEST, MEDIA_OCI_CONFIG, "{}");
        expect_error(NULL, c, OCID_ERR_INVALID, "manifest: layers is not an array");
        expect_error(MEDIA_OCI_MANIFEST, "{\"schemaVersion\":2,\"layers\":[]}", OCID_ERR_INVALID,
                     "manifest: config is missing");
        expect_error(MEDIA_OCI_MANIFEST,
                     "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MEDIA_OCI_CONFIG
                     "\",\"digest\":\"" DA "\",\"size\":1}}",
                     OCID_ERR_INVALID, "manifest: layers is missing");
        expect_error(NULL, "{\"schemaVersion\":2,\"manifests\":{}}", OCID_ERR_INVALID,
                     "index: manifests is not an array");
        expect_error(NULL, "{\"schemaVersion\":2,\"manifests\":[1]}", OCID_ERR_INVALID,
                     "index entry 0 is not a JSON object");
}

static void test_layer_media_types(void **state)
{
        static const char *const good[] = {
                MEDIA_DOCKER_LAYER_GZIP, MEDIA_DOCKER_LAYER_FOREIGN, MEDIA_DOCKER_LAYER,
                MEDIA_DOCKER_LAYER_ZSTD, MEDIA_DOCKER_LAYER_FOREIGN_TAR, MEDIA_OCI_LAYER,
                MEDIA_OCI_LAYER_GZIP,    MEDIA_OCI_LAYER_ZSTD,       MEDIA_OCI_LAYER_ND,
                MEDIA_OCI_LAYER_ND_GZIP, MEDIA_OCI_LAYER_ND_ZSTD,
        };
        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                _cleanup_free_ char *layer = NULL, *doc = NULL;
                assert_true(asprintf(&layer, "{\"mediaType\":\"%s\",\"digest\":\"" DB "\",\"size\":1}",
                                     good[i]) > 0);
                doc = layer_doc(layer);
                manifest *m = parse_ok(NULL, doc);
                assert_string_equal(m->layers[0].media_type, good[i]);
                manifest_free(m);
        }

        static const char *const bad[] = {
                "application/vnd.oci.image.layer.v1.tar+bzip2",
                "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                "application/vnd.wasm.content.layer.v1+wasm",
                "application/vnd.docker.image.rootfs.diff.tar.gzip ",
                "APPLICATION/VND.OCI.IMAGE.LAYER.V1.TAR",
                "application/octet-stream",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                _cleanup_free_ char *layer = NULL, *doc = NULL, *needle = NULL;
                assert_true(asprintf(&layer,
                                     "{\"mediaType\":\"" MEDIA_OCI_LAYER "\",\"digest\":\"" DA
                                     "\",\"size\":1},{\"mediaType\":\"%s\",\"digest\":\"" DB
                                     "\",\"size\":1}",
                                     bad[i]) > 0);
                doc = layer_doc(layer);
                assert_true(asprintf(&needle, "manifest layer 1: unsupported media type '%s'",
                                     bad[i]) > 0);
                expect_error(NULL, doc, OCID_ERR_INVALID, needle);
        }
}

static void test_config_media_type(void **state)
{
        /* Either config type goes with either manifest type. */
        _cleanup_free_ char *mixed = image_doc(MEDIA_OCI_MANIFEST, MEDIA_DOCKER_CONFIG, "[]");
        manifest_free(parse_ok(NULL, mixed));
        _cleanup_free_ char *helm = image_doc(MEDIA_OCI_MANIFEST,
                                              "application/vnd.cncf.helm.config.v1+json", "[]");
        expect_error(NULL, helm, OCID_ERR_INVALID,
                     "manifest config: media type 'application/vnd.cncf.helm.config.v1+json' is not a container image config");
}

static void test_index_platforms(void **state)
{
        manifest *m = parse_ok(NULL,
                               "{\"schemaVersion\":2,\"manifests\":["
                               "{\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"digest\":\"" DA "\",\"size\":1},"
                               "{\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"digest\":\"" DB "\",\"size\":2,"
                               "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\","
                               "\"os.version\":\"x\",\"features\":[\"sse4\"]}},"
                               "{\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"digest\":\"" DC "\",\"size\":3,"
                               "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\",\"variant\":null}}]}");
        assert_int_equal(m->n_entries, 3);
        assert_null(m->entries[0].os);
        assert_null(m->entries[0].architecture);
        assert_string_equal(m->entries[1].variant, "v6");
        assert_string_equal(m->entries[2].architecture, "amd64");
        assert_null(m->entries[2].variant);
        manifest_free(m);

        static const struct {
                const char *platform;
                const char *needle;
        } bad[] = {
                { "[]", "index entry 0: platform is not a JSON object" },
                { "{\"architecture\":\"amd64\"}", "index entry 0 platform: os is missing" },
                { "{\"os\":\"linux\"}", "index entry 0 platform: architecture is missing" },
                { "{\"os\":\"linux\",\"architecture\":1}", "architecture must be a string" },
                { "{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":7}", "variant must be a string" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                _cleanup_free_ char *doc = NULL;
                assert_true(asprintf(&doc,
                                     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MEDIA_OCI_MANIFEST
                                     "\",\"digest\":\"" DA "\",\"size\":1,\"platform\":%s}]}",
                                     bad[i].platform) > 0);
                expect_error(NULL, doc, OCID_ERR_INVALID, bad[i].needle);
        }
}

/* ---- bounds ---- */

static void test_size_limit(void **state)
{
        size_t len = MANIFEST_MAX_SIZE + 1;
        char *big = malloc(len);
        assert_non_null(big);
        memset(big, ' ', len);
        expect_error_len(NULL, big, len, OCID_ERR_RESOURCE,
                         "manifest is 4194305 bytes, more than the limit of 4194304");
        /* Exactly at the limit is accepted. */
        static const char doc[] = "{\"schemaVersion\":2,\"manifests\":[]}";
        memcpy(big, doc, strlen(doc));
        manifest *m = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(manifest_parse(NULL, big, MANIFEST_MAX_SIZE, &m, &err), 0);
        manifest_free(m);
        free(big);
}

static char *layers_json(size_t n)
{
        strbuf sb = STRBUF_INIT;
        strbuf_addch(&sb, '[');
        for (size_t i = 0; i < n; i++)
                strbuf_addf(&sb, "%s{\"mediaType\":\"" MEDIA_OCI_LAYER_GZIP "\",\"digest\":\"sha256:%064zx\",\"size\":%zu}",
                            i ? "," : "", i, i);
        strbuf_addch(&sb, ']');
        return strbuf_detach(&sb, NULL);
}

static void test_layer_limit(void **state)
{
        _cleanup_free_ char *ok_layers = layers_json(MANIFEST_MAX_LAYERS);
        _cleanup_free_ char *ok = image_doc(MEDIA_OCI_MANIFEST, MEDIA_OCI_CONFIG, ok_layers);
        manifest *m = parse_ok(NULL, ok);
        assert_int_equal(m->n_layers, MANIFEST_MAX_LAYERS);
        assert_int_equal(m->layers[255].size, 255);
        manifest_free(m);

        _cleanup_free_ char *bad_layers = layers_json(MANIFEST_MAX_LAYERS + 1);
        _cleanup_free_ char *bad = image_doc(MEDIA_OCI_MANIFEST, MEDIA_OCI_CONFIG, bad_layers);
        expect_error(NULL, bad, OCID_ERR_RESOURCE, "manifest has 257 layers, more than the limit of 256");
}

static char *index_json(size_t n)
{
        strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "{\"schemaVersion\":2,\"manifests\":[");
        for (size_t i = 0; i < n; i++)
                strbuf_addf(&sb, "%s{\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"digest\":\"sha256:%064zx\",\"size\":1,"
                                 "\"platform\":{\"os\":\"linux\",\"architecture\":\"a%zu\"}}",
                            i ? "," : "", i, i);
        strbuf_adds(&sb, "]}");
        return strbuf_detach(&sb, NULL);
}

static void test_index_limit(void **state)
{
        _cleanup_free_ char *ok = index_json(INDEX_MAX_ENTRIES);
        manifest *m = parse_ok(NULL, ok);
        assert_int_equal(m->n_entries, INDEX_MAX_ENTRIES);

        /* The NOT_FOUND message stays short however many platforms. */
        _cleanup_free_ char *msg = NULL;
        assert_int_equal(select_idx(m, "linux", "amd64", NULL, &msg), -1);
        assert_non_null(strstr(msg, "it has linux/a0, linux/a1, "));
        assert_non_null(strstr(msg, "linux/a31 and 992 more"));
        assert_true(strlen(msg) < 1024);
        manifest_free(m);

        _cleanup_free_ char *bad = index_json(INDEX_MAX_ENTRIES + 1);
        expect_error(NULL, bad, OCID_ERR_RESOURCE, "index has 1025 manifests, more than the limit of 1024");
}

/* A failed parse leaves *ret alone and keeps an earlier error. */
static void test_error_contract(void **state)
{
        ocid_error err = OCID_ERROR_INIT;
        manifest *m = NULL;
        ocid_error_set(&err, OCID_ERR_NOT_FOUND, "first");
        assert_int_equal(manifest_parse(NULL, "{", 1, &m, &err), -1);
        assert_null(m);
        assert_int_equal(err.kind, OCID_ERR_NOT_FOUND);
        assert_string_equal(err.message, "first");
        ocid_error_clear(&err);

        /* A half-parsed manifest is freed (ASan/LSan would tell). */
        _cleanup_free_ char *doc = layer_doc(
                "{\"mediaType\":\"" MEDIA_OCI_LAYER "\",\"digest\":\"" DA "\",\"size\":1},"
                "{\"mediaType\":\"" MEDIA_OCI_LAYER "\",\"digest\":\"" DB "\",\"size\":-1}");
        expect_error(NULL, doc, OCID_ERR_INVALID, "manifest layer 1: size -1");

        manifest_free(NULL);
        image_config_free(NULL);
        manifest_freep(&m);
}

/* ---- platforms ---- */

static void test_platform_from_machine(void **state)
{
        static const struct {
                const char *machine, *arch, *variant;
        } cases[] = {
                { "x86_64", "amd64", NULL },   { "aarch64", "arm64", "v8" },
                { "armv7l", "arm", "v7" },     { "armv6l", "arm", "v6" },
                { "armv5tel", "arm", "v5" },   { "armv8l", "arm", "v8" },
                { "i686", "386", NULL },       { "i386", "386", NULL },
                { "ppc64le", "ppc64le", NULL }, { "s390x", "s390x", NULL },
                { "riscv64", "riscv64", NULL }, { "loongarch64", "loong64", NULL },
                { "pdp11", NULL, NULL },       { "", NULL, NULL },
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                platform p = platform_from_machine(cases[i].machine);
                assert_string_equal(p.os, "linux");
                if (cases[i].arch)
                        assert_string_equal(p.architecture, cases[i].arch);
                else
                        assert_null(p.architecture);
                if (cases[i].variant)
                        assert_string_equal(p.variant, cases[i].variant);
                else
                        assert_null(p.variant);
        }
        assert_null(platform_from_machine(NULL).architecture);
}

static void test_platform_host(void **state)
{
        struct utsname u;
        assert_int_equal(uname(&u), 0);
        platform h = platform_host();
        assert_string_equal(h.os, "linux");
        assert_non_null(h.architecture);
        platform m = platform_from_machine(u.machine);
        if (m.architecture)
                assert_string_equal(h.architecture, m.architecture);
#if defined(__x86_64__)
        assert_string_equal(h.architecture, "amd64");
        assert_null(h.variant);
#endif
        /* The host finds itself in a multi-arch list. */
        manifest *list = parse_fixture(NULL, "docker-list.json");
        const descriptor *d = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(manifest_select(list, &h, &d, &err), 0);
        assert_string_equal(d->architecture, h.architecture);
        manifest_free(list);
}

/* ---- selection ---- */

static void test_select_amd64(void **state)
{
        manifest *list = parse_fixture(NULL, "docker-list.json");
        assert_int_equal(select_idx(list, "linux", "amd64", NULL, NULL), 0);
        assert_int_equal(select_idx(list, "Linux", "x86_64", NULL, NULL), 0);
        assert_int_equal(select_idx(list, "linux", "amd64", "v1", NULL), 0);
        assert_int_equal(select_idx(list, "linux", "386", NULL, NULL), 5);
        assert_int_equal(select_idx(list, "linux", "i386", NULL, NULL), 5);
        assert_int_equal(select_idx(list, "linux", "s390x", NULL, NULL), 8);
        assert_int_equal(select_idx(list, "linux", "ppc64le", NULL, NULL), 6);
        assert_int_equal(select_idx(list, "linux", "riscv64", NULL, NULL), 7);
        /* No amd64 -> 386 fallback: the architecture must match. */
        manifest *only386 = index_of(MEDIA_OCI_MANIFEST, (const char *const[]){ "linux/386", NULL });
        assert_int_equal(select_idx(only386, "linux", "amd64", NULL, NULL), -1);
        manifest_free(only386);

        /* The descriptor returned is the entry itself. */
        platform want = { "linux", "amd64", NULL };
        const descriptor *d = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(manifest_select(list, &want, &d, &err), 0);
        assert_ptr_equal(d, &list->entries[0]);
        assert_string_equal(d->media_type, MEDIA_DOCKER_MANIFEST);
        manifest_free(list);
}

static void test_select_amd64_levels(void **state)
{
        manifest *m = index_of(MEDIA_OCI_MANIFEST,
                               (const char *const[]){ "linux/amd64/v3", "linux/amd64/v2", "linux/amd64", NULL });
        /* A plain amd64 host is v1: the microarchitecture levels are not for it. */
        assert_int_equal(select_idx(m, "linux", "amd64", NULL, NULL), 2);
        assert_int_equal(select_idx(m, "linux", "amd64", "v3", NULL), 0);
        assert_int_equal(select_idx(m, "linux", "amd64", "v4", NULL), 0);
        assert_int_equal(select_idx(m, "linux", "amd64", "v2", NULL), 1);
        manifest_free(m);

        m = index_of(MEDIA_OCI_MANIFEST,
                     (const char *const[]){ "linux/amd64/znver4", "linux/amd64/v12", "linux/amd64/v2", NULL });
        assert_int_equal(select_idx(m, "linux", "amd64", "v12", NULL), 1);
        assert_int_equal(select_idx(m, "linux", "amd64", "v11", NULL), 2);
        assert_int_equal(select_idx(m, "linux", "amd64", "znver4", NULL), 0);
        assert_int_equal(select_idx(m, "linux", "amd64", "v123", NULL), -1);
        manifest_free(m);

        m = index_of(MEDIA_OCI_MANIFEST, (const char *const[]){ "linux/amd64/v3", NULL });
        char *msg = NULL;
        assert_int_equal(select_idx(m, "linux", "amd64", NULL, &msg), -1);
        assert_string_equal(msg, "no image for linux/amd64 in the index; it has linux/amd64/v3");
        free(msg);
        manifest_free(m);
}

static void test_select_arm64(void **state)
{
        /* The Docker list says arm64/v8, buildx's index says plain arm64. */
        manifest *list = parse_fixture(NULL, "docker-list.json");
        manifest *idx = parse_fixture(NULL, "oci-index.json");
        const char *variants[] = { "v8", NULL, "8", "V8" };
        for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
                assert_int_equal(select_idx(list, "linux", "arm64", variants[i], NULL), 4);
                assert_int_equal(select_idx(idx, "linux", "arm64", variants[i], NULL), 1);
                assert_int_equal(select_idx(idx, "linux", "aarch64", variants[i], NULL), 1);
        }
        manifest_free(list);
        manifest_free(idx);

        /* Both spellings present: the exact one wins, in either order. */
        manifest *m = index_of(MEDIA_OCI_MANIFEST,
                               (const char *const[]){ "linux/arm64", "linux/arm64/v8", NULL });
        assert_int_equal(select_idx(m, "linux", "arm64", "v8", NULL), 1);
        assert_int_equal(select_idx(m, "linux", "arm64", NULL, NULL), 0);
        /* arm64 does not fall back to 32-bit arm, nor take v9 for v8. */
        manifest_free(m);
        m = index_of(MEDIA_OCI_MANIFEST, (const char *const[]){ "linux/arm/v7", "linux/arm64/v9", NULL });
        assert_int_equal(select_idx(m, "linux", "arm64", "v8", NULL), -1);
        assert_int_equal(select_idx(m, "linux", "arm64", "v9", NULL), 1);
        manifest_free(m);
}

static void test_select_arm(void **state)
{
        manifest *list = parse_fixture(NULL, "docker-list.json");
        assert_int_equal(select_idx(list, "linux", "arm", "v7", NULL), 3);
        assert_int_equal(select_idx(list, "linux", "arm", "v6", NULL), 2);
        assert_int_equal(select_idx(list, "linux", "arm", "v5", NULL), 1);
        assert_int_equal(select_idx(list, "linux", "arm", NULL, NULL), 3); /* "" is v7 */
        assert_int_equal(select_idx(list, "linux", "armhf", NULL, NULL), 3);
        assert_int_equal(select_idx(list, "linux", "armel", NULL, NULL), 2);
        assert_int_equal(select_idx(list, "linux", "arm", "v8", NULL), 3); /* armv8l */
        manifest_free(list);

        /* v7 falls back to v6 then v5; never the other way. */
        manifest *m = index_of(MEDIA_OCI_MANIFEST,
                               (const char *const[]){ "linux/arm/v5", "linux/arm/v6", NULL });
        assert_int_equal(select_idx(m, "linux", "arm", "v7", NULL), 1);
        assert_int_equal(select_idx(m, "linux", "arm", "v6", NULL), 1);
        assert_int_equal(select_idx(m, "linux", "arm", "v5", NULL), 0);
        manifest_free(m);

        m = index_of(MEDIA_OCI_MANIFEST, (const char *const[]){ "linux/arm/v7", NULL });
        char *msg = NULL;
        assert_int_equal(select_idx(m, "linux", "arm", "v6", &msg), -1);
        assert_string_equal(msg, "no image for linux/arm/v6 in the index; it has linux/arm/v7");
        free(msg);
        manifest_free(m);

        /* An arm entry without variant is v7: chosen for v7 when no exact v7... */
        m = index_of(MEDIA_OCI_MANIFEST, (const char *const[]){ "linux/arm/v6", "linux/arm", NULL });
        assert_int_equal(select_idx(m, "linux", "arm", "v7", NULL), 1);
        assert_int_equal(select_idx(m, "linux", "arm", "v6", NULL), 0);
        manifest_free(m);
        /* Bare numbers are versions; unknown spellings match only themselves. */
        m = index_of(MEDIA_OCI_MANIFEST, (const char *const[]){ "linux/arm/6", "linux/arm/v7l", NULL });
        assert_int_equal(select_idx(m, "linux", "arm", "v6", NULL), 0);
        assert_int_equal(select_idx(m, "linux", "arm", "v7", NULL), 0);
        assert_int_equal(select_idx(m, "linux", "arm", "V7L", NULL), 1);
        manifest_free(m);
        /* ...and an exact v7 beats it wherever it stands. */
        m = index_of(MEDIA_OCI_MANIFEST, (const char *const[]){ "linux/arm", "linux/arm/v7", NULL });
        assert_int_equal(select_idx(m, "linux", "arm", "v7", NULL), 1);
        assert_int_equal(select_idx(m, "linux", "arm", NULL, NULL), 0);
        manifest_free(m);
}

static void test_select_other_variants(void **state)
{
        manifest *m = index_of(MEDIA_OCI_MANIFEST,
                               (const char *const[]){ "linux/riscv64/rva23", "linux/riscv64", NULL });
        assert_int_equal(select_idx(m, "linux", "riscv64", NULL, NULL), 1);
        assert_int_equal(select_idx(m, "linux", "riscv64", "rva23", NULL), 0);
        assert_int_equal(select_idx(m, "linux", "riscv64", "rva20", NULL), 1);
        manifest_free(m);

        m = index_of(MEDIA_OCI_MANIFEST, (const char *const[]){ "linux/riscv64/rva23", NULL });
        assert_int_equal(select_idx(m, "linux", "riscv64", NULL, NULL), 0);
        assert_int_equal(select_idx(m, "linux", "riscv64", "rva20", NULL), -1);
        manifest_free(m);
}

static void test_select_not_found_message(void **state)
{
        manifest *m = index_of(MEDIA_OCI_MANIFEST,
                               (const char *const[]){ "linux/arm64/v8", "linux/s390x", "linux/arm64/v8", NULL });
        char *msg = NULL;
        assert_int_equal(select_idx(m, "linux", "amd64", NULL, &msg), -1);
        assert_string_equal(msg, "no image for linux/amd64 in the index; it has linux/arm64/v8, linux/s390x");
        free(msg);
        manifest_free(m);

        /* Attestations (unknown/unknown) are not platforms worth naming. */
        manifest *idx = parse_fixture(NULL, "oci-index.json");
        assert_int_equal(select_idx(idx, "linux", "ppc64le", NULL, &msg), -1);
        assert_string_equal(msg, "no image for linux/ppc64le in the index; it has linux/amd64, linux/arm64, linux/arm/v7");
        free(msg);
        assert_int_equal(select_idx(idx, "windows", "amd64", NULL, &msg), -1);
        assert_non_null(strstr(msg, "no image for windows/amd64"));
        free(msg);
        manifest_free(idx);

        m = index_of(MEDIA_OCI_MANIFEST, (const char *const[]){ "windows/amd64", "-", NULL });
        assert_int_equal(select_idx(m, "linux", "amd64", NULL, &msg), -1);
        assert_string_equal(msg, "no image for linux/amd64 in the index; it has windows/amd64");
        free(msg);
        manifest_free(m);

        m = index_of(MEDIA_OCI_MANIFEST, (const char *const[]){ "-", NULL });
        assert_int_equal(select_idx(m, "linux", "amd64", NULL, &msg), -1);
        assert_string_equal(msg, "no image for linux/amd64 in the index; it names no platforms");
        free(msg);
        manifest_free(m);
}

static void test_select_candidates(void **state)
{
        /* Entries that are not image manifests are never chosen. */
        static const char *const types[] = { MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST,
                                             "application/vnd.oci.artifact.manifest.v1+json",
                                             "application/vnd.docker.distribution.manifest.v1+json" };
        for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
                manifest *m = index_of(types[i], (const char *const[]){ "linux/amd64", NULL });
                char *msg = NULL;
                assert_int_equal(select_idx(m, "linux", "amd64", NULL, &msg), -1);
                assert_non_null(strstr(msg, "it names no platforms"));
                free(msg);
                manifest_free(m);
        }
        manifest *m = index_of(MEDIA_DOCKER_MANIFEST, (const char *const[]){ "-", "linux/amd64", NULL });
        assert_int_equal(select_idx(m, "linux", "amd64", NULL, NULL), 1);

        /* Misuse is INVALID, not NOT_FOUND. */
        const descriptor *d = NULL;
        ocid_error err = OCID_ERROR_INIT;
        platform noarch = { "linux", NULL, NULL };
        assert_int_equal(manifest_select(m, &noarch, &d, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        ocid_error_clear(&err);
        manifest *img = parse_fixture(NULL, "docker-v2.json");
        platform amd = { "linux", "amd64", NULL };
        assert_int_equal(manifest_select(img, &amd, &d, &err), -1);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        assert_null(d);
        ocid_error_clear(&err);
        manifest_free(img);
        manifest_free(m);
}

static void test_select_long_names(void **state)
{
        /* Names longer than any real one match nothing, and are cut in messages. */
        strbuf sb = STRBUF_INIT;
        for (int i = 0; i < 300; i++)
                strbuf_addch(&sb, 'q');
        _cleanup_free_ char *plat = NULL;
        assert_true(asprintf(&plat, "linux/%s", sb.buf) > 0);
        manifest *m = index_of(MEDIA_OCI_MANIFEST, (const char *const[]){ plat, NULL });
        char *msg = NULL;
        assert_int_equal(select_idx(m, "linux", sb.buf, NULL, &msg), -1);
        assert_true(strlen(msg) < 400);
        free(msg);
        manifest_free(m);
        strbuf_release(&sb);
}

/* ---- image configs ---- */

static image_config *config_ok(const char *body, size_t len)
{
        image_config *c = NULL;
        ocid_error err = OCID_ERROR_INIT;
        char *copy = malloc(len ? len : 1);
        memcpy(copy, body, len);
        int r = image_config_parse(copy, len, &c, &err);
        free(copy);
        if (r < 0)
                print_message("unexpected error: %s\n", err.message);
        assert_int_equal(r, 0);
        assert_null(err.message);
        assert_non_null(c);
        return c;
}

static void expect_config_error_len(const char *body, size_t len, ocid_error_kind kind,
                                    const char *needle)
{
        image_config *sentinel = (image_config *)&sentinel;
        image_config *c = sentinel;
        ocid_error err = OCID_ERROR_INIT;
        int r = image_config_parse(body, len, &c, &err);
        if (r == 0) {
                print_message("expected an error for: %.300s\n", body);
                image_config_free(c);
                fail();
        }
        assert_ptr_equal(c, sentinel);
        if (err.kind != kind || !err.message || !strstr(err.message, needle)) {
                print_message("for: %.300s\nexpected %s \"%s\", got %s \"%s\"\n", body,
                              ocid_error_kind_name(kind), needle, ocid_error_kind_name(err.kind),
                              err.message);
                fail();
        }
        ocid_error_clear(&err);
}

static void expect_config_error(const char *body, ocid_error_kind kind, const char *needle)
{
        expect_config_error_len(body, strlen(body), kind, needle);
}

static void test_config_docker(void **state)
{
        size_t len;
        _cleanup_free_ char *body = fixture("config-docker.json", &len);
        image_config *c = config_ok(body, len);
        assert_string_equal(c->user, "101:101");
        assert_strv(c->env, (const char *const[]){
                                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                    "NGINX_VERSION=1.25.3", "NJS_VERSION=0.8.2",
                                    "PKG_RELEASE=1~bookworm", NULL });
        assert_strv(c->entrypoint, (const char *const[]){ "/docker-entrypoint.sh", NULL });
        assert_strv(c->cmd, (const char *const[]){ "nginx", "-g", "daemon off;", NULL });
        assert_string_equal(c->working_dir, "/srv");
        assert_string_equal(c->stop_signal, "SIGQUIT");
        assert_true(strv_contains(c->exposed_ports, "80/tcp"));
        assert_true(strv_contains(c->exposed_ports, "443/tcp"));
        assert_int_equal(strv_length(c->exposed_ports), 2);
        assert_strv(c->volumes, (const char *const[]){ "/var/cache/nginx", NULL });
        assert_strv(c->labels, (const char *const[]){
                                       "maintainer=NGINX Docker Maintainers <docker-maint@nginx.com>", NULL });
        assert_int_equal(strv_length(c->diff_ids), 3);
        assert_string_equal(c->os, "linux");
        assert_string_equal(c->architecture, "amd64");
        assert_string_equal(c->created, "2023-12-19T02:13:49.471519932Z");
        /* The whole document stays available, history included. */
        assert_non_null(c->raw);
        json_object *h = NULL;
        assert_true(json_object_object_get_ex(c->raw, "history", &h));
        assert_int_equal(json_object_array_length(h), 4);
        assert_true(json_object_object_get_ex(c->raw, "docker_version", NULL));
        image_config_free(c);
}

static void test_config_oci(void **state)
{
        size_t len;
        _cleanup_free_ char *body = fixture("config-oci.json", &len);
        image_config *c = config_ok(body, len);
        assert_string_equal(c->user, "65532");
        assert_strv(c->entrypoint, (const char *const[]){ "/ko-app/hello", NULL });
        assert_strv(c->cmd, (const char *const[]){ NULL });
        assert_strv(c->labels, (const char *const[]){ NULL }); /* null */
        assert_strv(c->volumes, (const char *const[]){ NULL });
        assert_string_equal(c->working_dir, "");
        assert_string_equal(c->stop_signal, "");
        assert_string_equal(c->architecture, "arm64");
        assert_string_equal(c->os, "linux");
        assert_string_equal(c->created, "2024-02-01T10:00:00Z");
        assert_strv(c->diff_ids, (const char *const[]){
                "sha256:c131391ab62518c60399a795311e18d281d92ff27431788bd58424ce04746cf3",
                "sha256:194e07bcc1926544f8c098f3cfc6d36e15b63dde48490aa1933014f978f23201", NULL });
        image_config_free(c);
}

static void test_config_minimal(void **state)
{
        const char *docs[] = {
                "{\"rootfs\":{\"type\":\"layers\"}}",
                "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":null},\"config\":null}",
                "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{\"Env\":null,"
                "\"Cmd\":null,\"Entrypoint\":null,\"ExposedPorts\":null,\"Volumes\":null,"
                "\"Labels\":null,\"User\":null,\"WorkingDir\":null},\"created\":null}",
        };
        for (size_t i = 0; i < ARRAY_SIZE(docs); i++) {
                image_config *c = config_ok(docs[i], strlen(docs[i]));
                assert_string_equal(c->user, "");
                assert_string_equal(c->working_dir, "");
                assert_string_equal(c->stop_signal, "");
                assert_string_equal(c->os, "");
                assert_string_equal(c->architecture, "");
                assert_null(c->created);
                char **lists[] = { c->env, c->entrypoint, c->cmd, c->exposed_ports,
                                   c->volumes, c->labels, c->diff_ids };
                for (size_t j = 0; j < ARRAY_SIZE(lists); j++) {
                        assert_non_null(lists[j]);
                        assert_null(lists[j][0]);
                }
                image_config_free(c);
        }
}

static void test_config_rootfs(void **state)
{
        expect_config_error("{\"os\":\"linux\"}", OCID_ERR_INVALID, "image config: rootfs is missing");
        expect_config_error("{\"rootfs\":null}", OCID_ERR_INVALID, "rootfs is missing");
        expect_config_error("{\"rootfs\":[]}", OCID_ERR_INVALID, "rootfs must be an object");
        expect_config_error("{\"rootfs\":{}}", OCID_ERR_INVALID, "image config rootfs: type is missing");
        expect_config_error("{\"rootfs\":{\"type\":\"layer\"}}", OCID_ERR_INVALID,
                            "rootfs type is 'layer', not 'layers'");
        expect_config_error("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":{}}}", OCID_ERR_INVALID,
                            "rootfs.diff_ids must be an array");
        expect_config_error("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DA "\",\"sha256:abc\"]}}",
                            OCID_ERR_INVALID, "diff_id 1 'sha256:abc' is not 'sha256:' and 64 lower-case hex digits");
        expect_config_error("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DA "\",7]}}",
                            OCID_ERR_INVALID, "rootfs.diff_ids[] must be a string");
        expect_config_error("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:CA978112CA1BBDCAFAC231B39A23DC4DA786EFF8147C4E72B9807785AFEE48BB\"]}}",
                            OCID_ERR_INVALID, "is not 'sha256:'");
}

static void test_config_field_types(void **state)
{
        static const struct {
                const char *config;
                const char *needle;
        } bad[] = {
                { "[]", "image config: config must be an object" },
                { "{\"Env\":\"PATH=/bin\"}", "Env must be an array of strings" },
                { "{\"Env\":[\"A=1\",2]}", "Env must be a string" },
                { "{\"Cmd\":{}}", "Cmd must be an array of strings" },
                { "{\"Entrypoint\":\"/bin/sh\"}", "Entrypoint must be an array of strings" },
                { "{\"User\":0}", "User must be a string" },
                { "{\"WorkingDir\":[]}", "WorkingDir must be a string" },
                { "{\"StopSignal\":15}", "StopSignal must be a string" },
                { "{\"ExposedPorts\":[\"80/tcp\"]}", "ExposedPorts must be an object" },
                { "{\"Volumes\":\"/data\"}", "Volumes must be an object" },
                { "{\"Labels\":{\"a\":1}}", "Labels['a'] must be a string" },
                { "{\"Labels\":{\"a\":null}}", "Labels['a'] must be a string" },
                { "{\"User\":\"ro\\u0000ot\"}", "User contains a NUL character" },
                { "{\"Cmd\":[\"sh\\u0000x\"]}", "Cmd contains a NUL character" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                _cleanup_free_ char *doc = NULL;
                assert_true(asprintf(&doc, "{\"config\":%s,\"rootfs\":{\"type\":\"layers\"}}",
                                     bad[i].config) > 0);
                expect_config_error(doc, OCID_ERR_INVALID, bad[i].needle);
        }
        expect_config_error("{\"os\":1,\"rootfs\":{\"type\":\"layers\"}}", OCID_ERR_INVALID,
                            "os must be a string");
        expect_config_error("{\"created\":20240101,\"rootfs\":{\"type\":\"layers\"}}",
                            OCID_ERR_INVALID, "created must be a string");
        expect_config_error("", OCID_ERR_INVALID, "image config is empty");
        expect_config_error("[]", OCID_ERR_INVALID, "image config is not a JSON object");
        expect_config_error("{\"rootfs\":", OCID_ERR_INVALID, "not valid JSON");
}

static void test_config_limits(void **state)
{
        strbuf sb = STRBUF_INIT;
        for (size_t n = IMAGE_CONFIG_MAX_DIFF_IDS; n <= IMAGE_CONFIG_MAX_DIFF_IDS + 1; n++) {
                strbuf_reset(&sb);
                strbuf_adds(&sb, "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[");
                for (size_t i = 0; i < n; i++)
                        strbuf_addf(&sb, "%s\"sha256:%064zx\"", i ? "," : "", i);
                strbuf_adds(&sb, "]}}");
                if (n == IMAGE_CONFIG_MAX_DIFF_IDS) {
                        image_config *c = config_ok(sb.buf, sb.len);
                        assert_int_equal(strv_length(c->diff_ids), n);
                        image_config_free(c);
                } else {
                        expect_config_error(sb.buf, OCID_ERR_RESOURCE,
                                            "image config has 257 layers, more than the limit of 256");
                }
        }
        static const char *const lists[] = { "Env", "Cmd", "Entrypoint" };
        for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
                for (size_t n = IMAGE_CONFIG_MAX_LIST; n <= IMAGE_CONFIG_MAX_LIST + 1; n++) {
                        strbuf_reset(&sb);
                        strbuf_addf(&sb, "{\"rootfs\":{\"type\":\"layers\"},\"config\":{\"%s\":[", lists[l]);
                        for (size_t i = 0; i < n; i++)
                                strbuf_addf(&sb, "%s\"V%zu=x\"", i ? "," : "", i);
                        strbuf_adds(&sb, "]}}");
                        if (n == IMAGE_CONFIG_MAX_LIST) {
                                image_config *c = config_ok(sb.buf, sb.len);
                                image_config_free(c);
                        } else {
                                _cleanup_free_ char *needle = NULL;
                                assert_true(asprintf(&needle, "%s has 4097 entries, more than the limit of 4096",
                                                     lists[l]) > 0);
                                expect_config_error(sb.buf, OCID_ERR_RESOURCE, needle);
                        }
                }
        }
        strbuf_reset(&sb);
        strbuf_adds(&sb, "{\"rootfs\":{\"type\":\"layers\"},\"config\":{\"Labels\":{");
        for (size_t i = 0; i <= IMAGE_CONFIG_MAX_LIST; i++)
                strbuf_addf(&sb, "%s\"l%zu\":\"v\"", i ? "," : "", i);
        strbuf_adds(&sb, "}}}");
        expect_config_error(sb.buf, OCID_ERR_RESOURCE, "Labels has 4097 entries");
        strbuf_release(&sb);

        size_t len = IMAGE_CONFIG_MAX_SIZE + 1;
        char *big = malloc(len);
        memset(big, ' ', len);
        expect_config_error_len(big, len, OCID_ERR_RESOURCE,
                                "image config is 8388609 bytes, more than the limit of 8388608");
        free(big);
}

/* ---- chain IDs ---- */

static void test_chain_ids(void **state)
{
        /* Expected values computed outside this code:
         *   printf '%s %s' "$DA" "$DB" | sha256sum
         *   printf '%s %s' "sha256:51c0...9676" "$DC" | sha256sum */
        char *ids[] = { DA, DB, DC, NULL };
        _cleanup_strv_ char **chain = image_chain_ids(ids);
        assert_strv(chain, (const char *const[]){
                DA,
                "sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676",
                "sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106",
                NULL });

        /* A repeated layer still gets its own chain ID. */
        char *twice[] = { DA, DA, NULL };
        _cleanup_strv_ char **chain2 = image_chain_ids(twice);
        assert_strv(chain2, (const char *const[]){
                DA, "sha256:d76fa7fcc3c98373e78d03a76c1447a1bec04bf49a44cb1f098bd84523f8450f", NULL });

        /* Order matters. */
        char *swapped[] = { DB, DA, NULL };
        _cleanup_strv_ char **chain3 = image_chain_ids(swapped);
        assert_string_not_equal(chain3[1], chain[1]);
}

static void test_chain_ids_edges(void **state)
{
        char *one[] = { DC, NULL };
        _cleanup_strv_ char **c1 = image_chain_ids(one);
        assert_strv(c1, (const char *const[]){ DC, NULL });
        _cleanup_strv_ char **c0 = image_chain_ids(NULL);
        assert_strv(c0, (const char *const[]){ NULL });
        char *none[] = { NULL };
        _cleanup_strv_ char **c00 = image_chain_ids(none);
        assert_strv(c00, (const char *const[]){ NULL });

        /* From a parsed config, layer count preserved. */
        size_t len;
        _cleanup_free_ char *body = fixture("config-docker.json", &len);
        image_config *c = config_ok(body, len);
        _cleanup_strv_ char **chain = image_chain_ids(c->diff_ids);
        assert_int_equal(strv_length(chain), 3);
        assert_string_equal(chain[0], c->diff_ids[0]);
        for (size_t i = 1; i < 3; i++) {
                assert_int_equal(strlen(chain[i]), 71);
                assert_string_not_equal(chain[i], c->diff_ids[i]);
        }
        image_config_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_docker_v2),
                cmocka_unit_test(test_oci_manifest),
                cmocka_unit_test(test_docker_list),
                cmocka_unit_test(test_oci_index),
                cmocka_unit_test(test_kind_from_document),
                cmocka_unit_test(test_kind_from_shape),
                cmocka_unit_test(test_header_decides),
                cmocka_unit_test(test_header_mismatch),
                cmocka_unit_test(test_ambiguous_document),
                cmocka_unit_test(test_schema1_refused),
                cmocka_unit_test(test_schema_version),
                cmocka_unit_test(test_unsupported_media_type),
                cmocka_unit_test(test_not_json),
                cmocka_unit_test(test_bad_digests),
                cmocka_unit_test(test_sizes),
                cmocka_unit_test(test_descriptor_shape),
                cmocka_unit_test(test_layer_media_types),
                cmocka_unit_test(test_config_media_type),
                cmocka_unit_test(test_index_platforms),
                cmocka_unit_test(test_size_limit),
                cmocka_unit_test(test_layer_limit),
                cmocka_unit_test(test_index_limit),
                cmocka_unit_test(test_error_contract),
                cmocka_unit_test(test_platform_from_machine),
                cmocka_unit_test(test_platform_host),
                cmocka_unit_test(test_select_amd64),
                cmocka_unit_test(test_select_amd64_levels),
                cmocka_unit_test(test_select_arm64),
                cmocka_unit_test(test_select_arm),
                cmocka_unit_test(test_select_other_variants),
                cmocka_unit_test(test_select_not_found_message),
                cmocka_unit_test(test_select_candidates),
                cmocka_unit_test(test_select_long_names),
                cmocka_unit_test(test_config_docker),
                cmocka_unit_test(test_config_oci),
                cmocka_unit_test(test_config_minimal),
                cmocka_unit_test(test_config_rootfs),
                cmocka_unit_test(test_config_field_types),
                cmocka_unit_test(test_config_limits),
                cmocka_unit_test(test_chain_ids),
                cmocka_unit_test(test_chain_ids_edges),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
