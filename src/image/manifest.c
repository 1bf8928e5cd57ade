/* Manifests, indexes and image configs from registries: untrusted JSON,
 * bounded before parsing and checked field by field, so that everything
 * later stages read (digests, sizes, media types, platform strings) has
 * already been validated here. */
#include "image/manifest.h"

#include "util/cleanup.h"
#include "util/digest.h"
#include "util/strbuf.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

DEFINE_CLEANUP_FUNC(json_object, json_object_put)
DEFINE_CLEANUP_FUNC(json_tokener, json_tokener_free)

/* Longest piece of a document quoted back in an error message. */
#define QUOTE_MAX 128

/* ---- small helpers ---- */

/* A copy of s fit for an error message: control and non-ASCII bytes
 * escaped, cut at QUOTE_MAX characters. Never NULL. */
static char *quote(const char *s)
{
        strbuf sb = STRBUF_INIT;
        size_t i;

        for (i = 0; s[i] && i < QUOTE_MAX; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x20 || c >= 0x7f || c == '\'' || c == '\\')
                        strbuf_addf(&sb, "\\x%02x", c);
                else
                        strbuf_addch(&sb, (char)c);
        }
        if (s[i])
                strbuf_adds(&sb, "...");
        return strbuf_detach(&sb, NULL);
}

/* "sha256:" followed by 64 lower-case hex digits. Only sha256 is accepted:
 * it is what every registry serves and what the blob store keys on.
 * (reference.h has digest_valid(); this copy keeps the parser free of
 * that module.) */
static bool sha256_digest_ok(const char *s)
{
        if (strncmp(s, "sha256:", 7) != 0)
                return false;
        s += 7;
        for (int i = 0; i < 64; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return s[64] == '\0';
}

static char **strv_new_empty(void)
{
        return xcalloc(1, sizeof(char *));
}

/* The member, or NULL when it is missing or JSON null (Go's encoding/json
 * writes nil slices and maps as null, so null means "unset" throughout). */
static json_object *member(json_object *o, const char *key)
{
        json_object *v = NULL;
        if (!json_object_object_get_ex(o, key, &v))
                return NULL;
        return v;
}

static bool has_member(json_object *o, const char *key)
{
        return json_object_object_get_ex(o, key, NULL);
}

/* A JSON string as a C string: INVALID when it is not a string or holds a
 * NUL, which C consumers would silently cut at. */
static int as_string(json_object *v, const char *what, const char *field, const char **ret,
                     ocid_error *err)
{
        if (!json_object_is_type(v, json_type_string))
                return ocid_error_set(err, OCID_ERR_INVALID, "%s: %s must be a string", what,
                                      field);
        const char *s = json_object_get_string(v);
        if (strlen(s) != (size_t)json_object_get_string_len(v))
                return ocid_error_set(err, OCID_ERR_INVALID, "%s: %s contains a NUL character",
                                      what, field);
        *ret = s;
        return 0;
}

/* An optional string member: *ret is NULL when missing or null. */
static int opt_string(json_object *o, const char *key, const char *what, const char **ret,
                      ocid_error *err)
{
        json_object *v = member(o, key);
        *ret = NULL;
        if (!v)
                return 0;
        return as_string(v, what, key, ret, err);
}

static int req_string(json_object *o, const char *key, const char *what, const char **ret,
                      ocid_error *err)
{
        if (opt_string(o, key, what, ret, err) < 0)
                return -1;
        if (!*ret)
                return ocid_error_set(err, OCID_ERR_INVALID, "%s: %s is missing", what, key);
        return 0;
}

/* Parse len bytes as one JSON object, with nothing but whitespace after it. */
static int json_parse_object(const char *what, const char *body, size_t len, size_t max,
                             json_object **ret, ocid_error *err)
{
        if (len > max)
                return ocid_error_set(err, OCID_ERR_RESOURCE,
                                      "%s is %zu bytes, more than the limit of %zu", what, len,
                                      max);
        if (len == 0 || !body)
                return ocid_error_set(err, OCID_ERR_INVALID, "%s is empty", what);
        /* json-c takes a NUL as the end of input, which would let bytes
         * after it go unchecked. */
        if (memchr(body, '\0', len))
                return ocid_error_set(err, OCID_ERR_INVALID, "%s contains a NUL byte", what);

        _cleanup_(json_tokener_freep) json_tokener *tok = json_tokener_new();
        if (!tok)
                return ocid_error_set(err, OCID_ERR_INTERNAL, "%s: out of memory", what);
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);

        /* len <= max, and both limits fit an int. */
        _cleanup_(json_object_putp) json_object *o = json_tokener_parse_ex(tok, body, (int)len);
        enum json_tokener_error e = json_tokener_get_error(tok);
        if (e == json_tokener_continue)
                return ocid_error_set(err, OCID_ERR_INVALID, "%s is not valid JSON: unexpected end of input",
                                      what);
        if (e != json_tokener_success)
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "%s is not valid JSON: %s at offset %zu", what,
                                      json_tokener_error_desc(e),
                                      json_tokener_get_parse_end(tok));
        for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
                if (!strchr(" \t\r\n", body[i]))
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "%s is not valid JSON: data after the document at offset %zu",
                                              what, i);
        if (!json_object_is_type(o, json_type_object))
                return ocid_error_set(err, OCID_ERR_INVALID, "%s is not a JSON object", what);
        *ret = TAKE_PTR(o);
        return 0;
}

/* ---- manifests ---- */

static const char *const layer_media_types[] = {
        MEDIA_DOCKER_LAYER_GZIP,     MEDIA_DOCKER_LAYER_FOREIGN, MEDIA_DOCKER_LAYER,
        MEDIA_DOCKER_LAYER_ZSTD,     MEDIA_DOCKER_LAYER_FOREIGN_TAR,
        MEDIA_OCI_LAYER,             MEDIA_OCI_LAYER_GZIP,       MEDIA_OCI_LAYER_ZSTD,
        MEDIA_OCI_LAYER_ND,          MEDIA_OCI_LAYER_ND_GZIP,    MEDIA_OCI_LAYER_ND_ZSTD,
};

static bool layer_media_type_ok(const char *t)
{
        for (size_t i = 0; i < ARRAY_SIZE(layer_media_types); i++)
                if (STREQ(t, layer_media_types[i]))
                        return true;
        return false;
}

static bool is_image_type(const char *t)
{
        return STREQ(t, MEDIA_DOCKER_MANIFEST) || STREQ(t, MEDIA_OCI_MANIFEST);
}

static bool is_index_type(const char *t)
{
        return STREQ(t, MEDIA_DOCKER_LIST) || STREQ(t, MEDIA_OCI_INDEX);
}

static bool is_schema1_type(const char *t)
{
        return STREQ(t, MEDIA_DOCKER_V1) || STREQ(t, MEDIA_DOCKER_V1_SIGNED);
}

static int schema1_error(ocid_error *err)
{
        return ocid_error_set(err, OCID_ERR_INVALID,
                              "manifest is Docker schema 1, which is no longer supported; "
                              "push the image again with a newer client");
}

/* The manifest media type a Content-Type header names, or NULL when it names
 * none we know (absent, "application/json", "text/plain"...). Parameters and
 * case are ignored, as HTTP allows. Schema 1 types are returned as given. */
static const char *header_media_type(const char *content_type)
{
        static const char *const known[] = {
                MEDIA_DOCKER_MANIFEST, MEDIA_DOCKER_LIST,      MEDIA_OCI_MANIFEST,
                MEDIA_OCI_INDEX,       MEDIA_DOCKER_V1,        MEDIA_DOCKER_V1_SIGNED,
        };
        if (!content_type)
                return NULL;
        while (*content_type == ' ' || *content_type == '\t')
                content_type++;
        size_t n = strcspn(content_type, ";");
        while (n > 0 && (content_type[n - 1] == ' ' || content_type[n - 1] == '\t'))
                n--;
        for (size_t i = 0; i < ARRAY_SIZE(known); i++)
                if (strlen(known[i]) == n && strncasecmp(content_type, known[i], n) == 0)
                        return known[i];
        return NULL;
}

static void descriptor_clear(descriptor *d)
{
        free(d->media_type);
        free(d->digest);
        free(d->os);
        free(d->architecture);
        free(d->variant);
        *d = (descriptor){ 0 };
}

/* Fill d from o. what names the descriptor in messages ("manifest layer 2").
 * d is cleared by the caller (manifest_free) whatever happens. */
static int descriptor_parse(json_object *o, const char *what, bool with_platform, descriptor *d,
                            ocid_error *err)
{
        const char *s;

        if (!json_object_is_type(o, json_type_object))
                return ocid_error_set(err, OCID_ERR_INVALID, "%s is not a JSON object", what);

        if (req_string(o, "mediaType", what, &s, err) < 0)
                return -1;
        d->media_type = xstrdup(s);

        if (req_string(o, "digest", what, &s, err) < 0)
                return -1;
        if (!sha256_digest_ok(s)) {
                _cleanup_free_ char *q = quote(s);
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "%s: digest '%s' is not 'sha256:' and 64 lower-case hex digits",
                                      what, q);
        }
        d->digest = xstrdup(s);

        json_object *size = member(o, "size");
        if (!size)
                return ocid_error_set(err, OCID_ERR_INVALID, "%s: size is missing", what);
        if (!json_object_is_type(size, json_type_int))
                return ocid_error_set(err, OCID_ERR_INVALID, "%s: size must be an integer", what);
        int64_t n = json_object_get_int64(size);
        /* json-c clamps what does not fit int64 to INT64_MAX; the uint64
         * view tells a clamped value from a real one. */
        if (n < 0 || (n == INT64_MAX && json_object_get_uint64(size) != (uint64_t)INT64_MAX))
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "%s: size %s is not a non-negative 64-bit integer", what,
                                      json_object_to_json_string(size));
        d->size = n;

        if (!with_platform)
                return 0;
        json_object *p = member(o, "platform");
        if (!p)
                return 0;
        if (!json_object_is_type(p, json_type_object))
                return ocid_error_set(err, OCID_ERR_INVALID, "%s: platform is not a JSON object",
                                      what);
        char pwhat[64];
        snprintf(pwhat, sizeof(pwhat), "%s platform", what);
        if (req_string(p, "os", pwhat, &s, err) < 0)
                return -1;
        d->os = xstrdup(s);
        if (req_string(p, "architecture", pwhat, &s, err) < 0)
                return -1;
        d->architecture = xstrdup(s);
        if (opt_string(p, "variant", pwhat, &s, err) < 0)
                return -1;
        d->variant = s ? xstrdup(s) : NULL;
        return 0;
}

/* The array member key, at most max long: RESOURCE above it. */
static int bounded_array(json_object *doc, const char *key, size_t max, const char *what,
                         json_object **ret, size_t *ret_n, ocid_error *err)
{
        json_object *a = member(doc, key);
        if (!a)
                return ocid_error_set(err, OCID_ERR_INVALID, "%s: %s is missing", what, key);
        if (!json_object_is_type(a, json_type_array))
                return ocid_error_set(err, OCID_ERR_INVALID, "%s: %s is not an array", what, key);
        size_t n = json_object_array_length(a);
        if (n > max)
                return ocid_error_set(err, OCID_ERR_RESOURCE,
                                      "%s has %zu %s, more than the limit of %zu", what, n, key,
                                      max);
        *ret = a;
        *ret_n = n;
        return 0;
}

static int image_manifest_parse(json_object *doc, manifest *m, ocid_error *err)
{
        json_object *layers;
        size_t n;

        if (has_member(doc, "manifests"))
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "image manifest has a 'manifests' field, which only an index may have");

        json_object *config = member(doc, "config");
        if (!config)
                return ocid_error_set(err, OCID_ERR_INVALID, "manifest: config is missing");
        if (descriptor_parse(config, "manifest config", false, &m->config, err) < 0)
                return -1;
        if (!STREQ(m->config.media_type, MEDIA_DOCKER_CONFIG) &&
            !STREQ(m->config.media_type, MEDIA_OCI_CONFIG)) {
                _cleanup_free_ char *q = quote(m->config.media_type);
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "manifest config: media type '%s' is not a container image config (an artifact?)",
                                      q);
        }

        if (bounded_array(doc, "layers", MANIFEST_MAX_LAYERS, "manifest", &layers, &n, err) < 0)
                return -1;
        m->layers = xcalloc(n, sizeof(descriptor));
        for (size_t i = 0; i < n; i++) {
                char what[48];
                snprintf(what, sizeof(what), "manifest layer %zu", i);
                /* Counted as filled before parsing, so manifest_free frees
                 * a half-made one. */
                m->n_layers = i + 1;
                if (descriptor_parse(json_object_array_get_idx(layers, i), what, false,
                                     &m->layers[i], err) < 0)
                        return -1;
                if (!layer_media_type_ok(m->layers[i].media_type)) {
                        _cleanup_free_ char *q = quote(m->layers[i].media_type);
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "%s: unsupported media type '%s'", what, q);
                }
        }
        return 0;
}

static int index_parse(json_object *doc, manifest *m, ocid_error *err)
{
        json_object *entries;
        size_t n;

        if (has_member(doc, "config") || has_member(doc, "layers"))
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "index has a '%s' field, which only an image manifest may have",
                                      has_member(doc, "config") ? "config" : "layers");

        if (bounded_array(doc, "manifests", INDEX_MAX_ENTRIES, "index", &entries, &n, err) < 0)
                return -1;
        m->entries = xcalloc(n, sizeof(descriptor));
        for (size_t i = 0; i < n; i++) {
                char what[48];
                snprintf(what, sizeof(what), "index entry %zu", i);
                m->n_entries = i + 1;
                if (descriptor_parse(json_object_array_get_idx(entries, i), what, true,
                                     &m->entries[i], err) < 0)
                        return -1;
        }
        return 0;
}

void manifest_free(manifest *m)
{
        if (!m)
                return;
        free(m->media_type);
        descriptor_clear(&m->config);
        for (size_t i = 0; i < m->n_layers; i++)
                descriptor_clear(&m->layers[i]);
        free(m->layers);
        for (size_t i = 0; i < m->n_entries; i++)
                descriptor_clear(&m->entries[i]);
        free(m->entries);
        free(m);
}

int manifest_parse(const char *content_type, const char *body, size_t len, manifest **ret,
                   ocid_error *err)
{
        const char *header = header_media_type(content_type);
        const char *doc_type = NULL;
        const char *type;

        /* Refuse schema 1 by its header before anything else: its body
         * is a JWS, and the reason is more useful than a parse error. */
        if (header && is_schema1_type(header))
                return schema1_error(err);

        _cleanup_(json_object_putp) json_object *doc = NULL;
        if (json_parse_object("manifest", body, len, MANIFEST_MAX_SIZE, &doc, err) < 0)
                return -1;

        if (opt_string(doc, "mediaType", "manifest", &doc_type, err) < 0)
                return -1;
        json_object *version = member(doc, "schemaVersion");
        bool v1 = version && json_object_is_type(version, json_type_int) &&
                  json_object_get_int64(version) == 1;
        if ((doc_type && is_schema1_type(doc_type)) || v1 ||
            (!version && has_member(doc, "fsLayers")))
                return schema1_error(err);

        if (header) {
                if (doc_type && !STREQ(doc_type, header)) {
                        _cleanup_free_ char *q = quote(doc_type);
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "manifest Content-Type '%s' does not match its mediaType '%s'",
                                              header, q);
                }
                type = header;
        } else if (doc_type) {
                if (!is_image_type(doc_type) && !is_index_type(doc_type)) {
                        _cleanup_free_ char *q = quote(doc_type);
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "unsupported manifest media type '%s'", q);
                }
                type = doc_type;
        } else if (has_member(doc, "manifests")) {
                /* Only OCI allows leaving mediaType out. */
                type = MEDIA_OCI_INDEX;
        } else if (has_member(doc, "config") && has_member(doc, "layers")) {
                type = MEDIA_OCI_MANIFEST;
        } else {
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "document is neither an image manifest nor an index");
        }

        if (!version)
                return ocid_error_set(err, OCID_ERR_INVALID, "manifest: schemaVersion is missing");
        if (!json_object_is_type(version, json_type_int) || json_object_get_int64(version) != 2) {
                _cleanup_free_ char *q = quote(json_object_to_json_string(version));
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "manifest: schemaVersion is %s, not 2", q);
        }

        _cleanup_(manifest_freep) manifest *m = xcalloc(1, sizeof(*m));
        m->media_type = xstrdup(type);
        if (is_index_type(type)) {
                m->kind = MANIFEST_INDEX;
                if (index_parse(doc, m, err) < 0)
                        return -1;
        } else {
                m->kind = MANIFEST_IMAGE;
                if (image_manifest_parse(doc, m, err) < 0)
                        return -1;
        }
        *ret = TAKE_PTR(m);
        return 0;
}

/* ---- platforms ---- */

static const struct {
        const char *machine;
        const char *architecture;
        const char *variant;
} machines[] = {
        { "x86_64", "amd64", NULL },     { "amd64", "amd64", NULL },
        { "aarch64", "arm64", "v8" },    { "arm64", "arm64", "v8" },
        { "aarch64_be", "arm64be", NULL },
        /* A 32-bit personality on a 64-bit ARM kernel. */
        { "armv8l", "arm", "v8" },
        { "armv7l", "arm", "v7" },       { "armv7", "arm", "v7" },
        { "armv6l", "arm", "v6" },       { "armv5tel", "arm", "v5" },
        { "armv5tejl", "arm", "v5" },    { "armv5l", "arm", "v5" },
        { "i386", "386", NULL },         { "i486", "386", NULL },
        { "i586", "386", NULL },         { "i686", "386", NULL },
        { "ppc64le", "ppc64le", NULL },  { "ppc64", "ppc64", NULL },
        { "s390x", "s390x", NULL },      { "riscv64", "riscv64", NULL },
        { "mips64", "mips64", NULL },    { "loongarch64", "loong64", NULL },
};

platform platform_from_machine(const char *machine)
{
        platform p = { "linux", NULL, NULL };
        for (size_t i = 0; machine && i < ARRAY_SIZE(machines); i++)
                if (STREQ(machine, machines[i].machine)) {
                        p.architecture = machines[i].architecture;
                        p.variant = machines[i].variant;
                        break;
                }
        return p;
}

platform platform_host(void)
{
        struct utsname u;
        platform p = { "linux", NULL, NULL };

        if (uname(&u) == 0)
                p = platform_from_machine(u.machine);
        if (p.architecture)
                return p;
#if defined(__x86_64__)
        p.architecture = "amd64";
#elif defined(__aarch64__)
        p.architecture = "arm64";
        p.variant = "v8";
#elif defined(__arm__)
        p.architecture = "arm";
        p.variant = "v7";
#elif defined(__i386__)
        p.architecture = "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        p.architecture = "ppc64le";
#elif defined(__s390x__)
        p.architecture = "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
        p.architecture = "riscv64";
#else
        p.architecture = "unknown";
#endif
        return p;
}

#define NORM_MAX 32

static bool lower_copy(const char *s, char out[NORM_MAX])
{
        size_t i;
        for (i = 0; s && s[i]; i++) {
                if (i == NORM_MAX - 1)
                        return false;
                out[i] = (char)tolower((unsigned char)s[i]);
        }
        out[i] = '\0';
        return true;
}

static void set(char out[NORM_MAX], const char *s)
{
        snprintf(out, NORM_MAX, "%s", s);
}

/* containerd's normalised (architecture, variant), lower case. false for
 * names too long to be real, which then match nothing. */
static bool normalize_arch(const char *arch, const char *variant, char a[NORM_MAX],
                           char v[NORM_MAX])
{
        if (!lower_copy(arch, a) || !lower_copy(variant, v))
                return false;

        if (STREQ(a, "x86_64") || STREQ(a, "x86-64")) {
                set(a, "amd64");
                set(v, "");
        } else if (STREQ(a, "i386")) {
                set(a, "386");
                set(v, "");
        } else if (STREQ(a, "aarch64")) {
                set(a, "arm64");
        } else if (STREQ(a, "armhf")) {
                set(a, "arm");
                set(v, "v7");
        } else if (STREQ(a, "armel")) {
                set(a, "arm");
                set(v, "v6");
        }

        if (STREQ(a, "arm64")) {
                if (!v[0] || STREQ(v, "8") || STREQ(v, "v8.0"))
                        set(v, "v8");
        } else if (STREQ(a, "arm")) {
                if (!v[0])
                        set(v, "v7");
                else if (v[0] >= '5' && v[0] <= '8' && !v[1])
                        snprintf(v, NORM_MAX, "v%c", v[0]);
        } else if (STREQ(a, "amd64")) {
                if (STREQ(v, "v1"))
                        set(v, "");
        }
        return true;
}

/* "vN" -> N for 1 <= N <= 99, else -1. An empty variant is level def. */
static int variant_level(const char *v, int def)
{
        if (!v[0])
                return def;
        if (v[0] != 'v' || !isdigit((unsigned char)v[1]))
                return -1;
        if (!v[2])
                return v[1] - '0';
        if (isdigit((unsigned char)v[2]) && !v[3])
                return (v[1] - '0') * 10 + (v[2] - '0');
        return -1;
}

static bool str_eq_nullable(const char *a, const char *b)
{
        return STREQ(a ? a : "", b ? b : "");
}

/* How well entry e suits want: 0 for not at all, higher is better. */
static int platform_score(const platform *want, const descriptor *e)
{
        char wa[NORM_MAX], wv[NORM_MAX], ea[NORM_MAX], ev[NORM_MAX];

        if (!e->os || !e->architecture || !is_image_type(e->media_type))
                return 0;
        if (strcasecmp(want->os, e->os) != 0)
                return 0;
        if (!normalize_arch(want->architecture, want->variant, wa, wv) ||
            !normalize_arch(e->architecture, e->variant, ea, ev) || !STREQ(wa, ea))
                return 0;

        /* Spelled exactly as asked beats an equivalent spelling. */
        int exact = str_eq_nullable(want->variant, e->variant) ? 1 : 0;

        if (STREQ(wa, "arm") || STREQ(wa, "amd64")) {
                /* Older levels run on newer CPUs: prefer the nearest. */
                int def = STREQ(wa, "arm") ? 7 : 1;
                int min = STREQ(wa, "arm") ? 5 : 1;
                int w = variant_level(wv, def), l = variant_level(ev, def);
                if (w < 0 || l < 0)
                        return STREQ(wv, ev) ? 1000 + exact : 0;
                if (l > w || l < min)
                        return 0;
                return 1000 - 10 * (w - l) + exact;
        }
        if (STREQ(wa, "arm64"))
                return STREQ(wv, ev) ? 1000 + exact : 0;
        if (!wv[0] || !ev[0])
                return 1000 - (ev[0] ? 10 : 0) + exact;
        return STREQ(wv, ev) ? 1000 + exact : 0;
}

static void platform_format(strbuf *sb, const char *os, const char *arch, const char *variant)
{
        _cleanup_free_ char *qo = quote(os), *qa = quote(arch);
        strbuf_addf(sb, "%s/%s", qo, qa);
        if (variant && variant[0]) {
                _cleanup_free_ char *qv = quote(variant);
                strbuf_addf(sb, "/%s", qv);
        }
}

/* At most this many platforms are listed in a NOT_FOUND message. */
#define LIST_MAX 32

int manifest_select(const manifest *index, const platform *want, const descriptor **ret,
                    ocid_error *err)
{
        if (!index || index->kind != MANIFEST_INDEX)
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "select a platform: the manifest is not an index");
        if (!want || !want->os || !want->architecture)
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "select a platform: no os and architecture to select");

        const descriptor *best = NULL;
        int best_score = 0;
        for (size_t i = 0; i < index->n_entries; i++) {
                int s = platform_score(want, &index->entries[i]);
                if (s > best_score) {
                        best = &index->entries[i];
                        best_score = s;
                }
        }
        if (best) {
                *ret = best;
                return 0;
        }

        _cleanup_strbuf_ strbuf wanted = STRBUF_INIT;
        _cleanup_strbuf_ strbuf list = STRBUF_INIT;
        _cleanup_strv_ char **seen = NULL;
        size_t more = 0;
        platform_format(&wanted, want->os, want->architecture, want->variant);
        for (size_t i = 0; i < index->n_entries; i++) {
                const descriptor *e = &index->entries[i];
                /* Attestations and other artifacts say "unknown/unknown". */
                if (!e->os || !is_image_type(e->media_type) || STREQ(e->os, "unknown"))
                        continue;
                strbuf one = STRBUF_INIT;
                platform_format(&one, e->os, e->architecture, e->variant);
                if (strv_contains(seen, one.buf)) {
                        strbuf_release(&one);
                        continue;
                }
                if (strv_length(seen) >= LIST_MAX) {
                        more++;
                        strbuf_release(&one);
                        continue;
                }
                if (list.len)
                        strbuf_adds(&list, ", ");
                strbuf_adds(&list, one.buf);
                seen = strv_push_take(seen, strbuf_detach(&one, NULL));
        }
        if (!list.len)
                return ocid_error_set(err, OCID_ERR_NOT_FOUND,
                                      "no image for %s in the index; it names no platforms",
                                      wanted.buf);
        if (more)
                strbuf_addf(&list, " and %zu more", more);
        return ocid_error_set(err, OCID_ERR_NOT_FOUND, "no image for %s in the index; it has %s",
                              wanted.buf, list.buf);
}

/* ---- image config ---- */

/* key: an array of strings (or null/missing: empty). */
static int string_list(json_object *o, const char *key, const char *what, char ***ret,
                       ocid_error *err)
{
        json_object *a = o ? member(o, key) : NULL;
        if (!a) {
                *ret = strv_new_empty();
                return 0;
        }
        if (!json_object_is_type(a, json_type_array))
                return ocid_error_set(err, OCID_ERR_INVALID, "%s: %s must be an array of strings",
                                      what, key);
        size_t n = json_object_array_length(a);
        if (n > IMAGE_CONFIG_MAX_LIST)
                return ocid_error_set(err, OCID_ERR_RESOURCE,
                                      "%s: %s has %zu entries, more than the limit of %d", what,
                                      key, n, IMAGE_CONFIG_MAX_LIST);
        _cleanup_strv_ char **v = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
                const char *s;
                if (as_string(json_object_array_get_idx(a, i), what, key, &s, err) < 0)
                        return -1;
                v[i] = xstrdup(s);
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* key: an object; its keys (ExposedPorts, Volumes) or "k=v" pairs with
 * string values (Labels). null/missing: empty. */
static int object_list(json_object *o, const char *key, bool pairs, const char *what,
                       char ***ret, ocid_error *err)
{
        json_object *obj = o ? member(o, key) : NULL;
        if (!obj) {
                *ret = strv_new_empty();
                return 0;
        }
        if (!json_object_is_type(obj, json_type_object))
                return ocid_error_set(err, OCID_ERR_INVALID, "%s: %s must be an object", what,
                                      key);
        size_t n = (size_t)json_object_object_length(obj);
        if (n > IMAGE_CONFIG_MAX_LIST)
                return ocid_error_set(err, OCID_ERR_RESOURCE,
                                      "%s: %s has %zu entries, more than the limit of %d", what,
                                      key, n, IMAGE_CONFIG_MAX_LIST);
        _cleanup_strv_ char **v = xcalloc(n + 1, sizeof(char *));
        size_t i = 0;
        json_object_object_foreach(obj, k, val) {
                if (!pairs) {
                        v[i++] = xstrdup(k);
                        continue;
                }
                const char *s;
                char field[64];
                _cleanup_free_ char *qk = quote(k);
                snprintf(field, sizeof(field), "%s['%s']", key, qk);
                if (!val)
                        return ocid_error_set(err, OCID_ERR_INVALID, "%s: %s must be a string",
                                              what, field);
                if (as_string(val, what, field, &s, err) < 0)
                        return -1;
                if (asprintf(&v[i], "%s=%s", k, s) < 0)
                        abort();
                i++;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* An optional string member, copied; "" when unset (or NULL if null_unset). */
static int copy_string(json_object *o, const char *key, const char *what, bool null_unset,
                       char **ret, ocid_error *err)
{
        const char *s = NULL;
        if (o && opt_string(o, key, what, &s, err) < 0)
                return -1;
        *ret = s ? xstrdup(s) : null_unset ? NULL : xstrdup("");
        return 0;
}

void image_config_free(image_config *c)
{
        if (!c)
                return;
        free(c->user);
        strv_free(c->env);
        strv_free(c->entrypoint);
        strv_free(c->cmd);
        free(c->working_dir);
        free(c->stop_signal);
        strv_free(c->exposed_ports);
        strv_free(c->volumes);
        strv_free(c->labels);
        strv_free(c->diff_ids);
        free(c->os);
        free(c->architecture);
        free(c->created);
        json_object_put(c->raw);
        free(c);
}

int image_config_parse(const char *body, size_t len, image_config **ret, ocid_error *err)
{
        static const char what[] = "image config";
        _cleanup_(json_object_putp) json_object *doc = NULL;

        if (json_parse_object(what, body, len, IMAGE_CONFIG_MAX_SIZE, &doc, err) < 0)
                return -1;

        _cleanup_(image_config_freep) image_config *c = xcalloc(1, sizeof(*c));

        json_object *cfg = member(doc, "config");
        if (cfg && !json_object_is_type(cfg, json_type_object))
                return ocid_error_set(err, OCID_ERR_INVALID, "%s: config must be an object",
                                      what);
        if (copy_string(cfg, "User", what, false, &c->user, err) < 0 ||
            string_list(cfg, "Env", what, &c->env, err) < 0 ||
            string_list(cfg, "Entrypoint", what, &c->entrypoint, err) < 0 ||
            string_list(cfg, "Cmd", what, &c->cmd, err) < 0 ||
            copy_string(cfg, "WorkingDir", what, false, &c->working_dir, err) < 0 ||
            copy_string(cfg, "StopSignal", what, false, &c->stop_signal, err) < 0 ||
            object_list(cfg, "ExposedPorts", false, what, &c->exposed_ports, err) < 0 ||
            object_list(cfg, "Volumes", false, what, &c->volumes, err) < 0 ||
            object_list(cfg, "Labels", true, what, &c->labels, err) < 0 ||
            copy_string(doc, "os", what, false, &c->os, err) < 0 ||
            copy_string(doc, "architecture", what, false, &c->architecture, err) < 0 ||
            copy_string(doc, "created", what, true, &c->created, err) < 0)
                return -1;

        json_object *rootfs = member(doc, "rootfs");
        if (!rootfs)
                return ocid_error_set(err, OCID_ERR_INVALID, "%s: rootfs is missing", what);
        if (!json_object_is_type(rootfs, json_type_object))
                return ocid_error_set(err, OCID_ERR_INVALID, "%s: rootfs must be an object", what);
        const char *type;
        if (req_string(rootfs, "type", "image config rootfs", &type, err) < 0)
                return -1;
        if (!STREQ(type, "layers")) {
                _cleanup_free_ char *q = quote(type);
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "%s: rootfs type is '%s', not 'layers'", what, q);
        }
        json_object *ids = member(rootfs, "diff_ids");
        if (ids && !json_object_is_type(ids, json_type_array))
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "%s: rootfs.diff_ids must be an array", what);
        size_t n = ids ? json_object_array_length(ids) : 0;
        if (n > IMAGE_CONFIG_MAX_DIFF_IDS)
                return ocid_error_set(err, OCID_ERR_RESOURCE,
                                      "%s has %zu layers, more than the limit of %d", what, n,
                                      IMAGE_CONFIG_MAX_DIFF_IDS);
        c->diff_ids = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
                const char *s;
                if (as_string(json_object_array_get_idx(ids, i), what, "rootfs.diff_ids[]", &s,
                              err) < 0)
                        return -1;
                if (!sha256_digest_ok(s)) {
                        _cleanup_free_ char *q = quote(s);
                        return ocid_error_set(err, OCID_ERR_INVALID,
                                              "%s: diff_id %zu '%s' is not 'sha256:' and 64 lower-case hex digits",
                                              what, i, q);
                }
                c->diff_ids[i] = xstrdup(s);
        }

        c->raw = TAKE_PTR(doc);
        *ret = TAKE_PTR(c);
        return 0;
}

/* ---- chain IDs ---- */

char **image_chain_ids(char *const *diff_ids)
{
        size_t n = strv_length(diff_ids);
        _cleanup_strv_ char **chain = xcalloc(n + 1, sizeof(char *));

        for (size_t i = 0; i < n; i++) {
                if (i == 0) {
                        chain[0] = xstrdup(diff_ids[0]);
                        continue;
                }
                _cleanup_strbuf_ strbuf in = STRBUF_INIT;
                char id[DIGEST_SHA256_STRSIZE];

                strbuf_addf(&in, "%s %s", chain[i - 1], diff_ids[i]);
                digest_sha256(in.buf, in.len, id);
                chain[i] = xstrdup(id);
        }
        return TAKE_PTR(chain);
}
