/* containers-registries.conf(5) v2: loading (main file + drop-ins, merged
 * the way containers/image merges them), prefix matching, location and
 * mirror rewriting, short-name expansion. See registries.h for the rules. */
#include "image/registries.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/strv.h"
#include "util/toml.h"
#include "util/xalloc.h"

DEFINE_CLEANUP_FUNC(struct json_object, json_object_put)

/* Bounds on what one file may declare: the matching and the duplicate
 * checks are quadratic, and no real configuration comes near these. */
#define REGISTRIES_MAX_ENTRIES 1024
#define REGISTRIES_MAX_MIRRORS 64
#define REGISTRIES_MAX_SEARCH 64
#define REGISTRIES_MAX_ALIASES 4096
/* How much of a configured value a message shows. */
#define SHOW_MAX 128

typedef enum {
        PULL_FROM_ALL,
        PULL_FROM_DIGEST_ONLY,
        PULL_FROM_TAG_ONLY,
} pull_from;

typedef struct {
        char *location;
        bool insecure;
        pull_from pull_from;
} reg_mirror;

typedef struct {
        char *prefix;   /* as written, trailing '/' dropped */
        char *location; /* NULL: a wildcard prefix pulling from the matched host */
        bool insecure;
        bool blocked;
        bool mirror_by_digest_only;
        reg_mirror *mirrors;
        size_t n_mirrors;
        char *origin; /* the file that defined it */
} reg_entry;

typedef struct {
        char *name;  /* the short name as written: "busybox", "library/busybox" */
        char *value; /* normalised "domain/path"; NULL: erased by a later file */
        char *origin;
} reg_alias;

struct registries_conf {
        reg_entry *regs;
        size_t n_regs;
        char **search; /* NULL-terminated; NULL until a file sets the key */
        bool search_set;
        reg_alias *aliases;
        size_t n_aliases;
};

static const char *const empty_strv[] = { NULL };

static void *xreallocarray(void *p, size_t n, size_t size)
{
        void *q = reallocarray(p, n ? n : 1, size);
        if (!q)
                abort();
        return q;
}

static void reg_entry_release(reg_entry *e)
{
        free(e->prefix);
        free(e->location);
        for (size_t i = 0; i < e->n_mirrors; i++)
                free(e->mirrors[i].location);
        free(e->mirrors);
        free(e->origin);
        memset(e, 0, sizeof(*e));
}

static void reg_alias_release(reg_alias *a)
{
        free(a->name);
        free(a->value);
        free(a->origin);
        memset(a, 0, sizeof(*a));
}

void registries_conf_free(registries_conf *conf)
{
        if (!conf)
                return;
        for (size_t i = 0; i < conf->n_regs; i++)
                reg_entry_release(&conf->regs[i]);
        free(conf->regs);
        strv_free(conf->search);
        for (size_t i = 0; i < conf->n_aliases; i++)
                reg_alias_release(&conf->aliases[i]);
        free(conf->aliases);
        free(conf);
}

char *const *registries_search_list(const registries_conf *conf)
{
        if (!conf || !conf->search)
                return (char *const *)empty_strv;
        return conf->search;
}

/* ---- parsing one document ---- */

struct doc {
        const char *name;
        ocid_error *err;
};

static int doc_fail(struct doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int doc_fail(struct doc *d, const char *fmt, ...)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        va_list ap;

        va_start(ap, fmt);
        strbuf_vaddf(&sb, fmt, ap);
        va_end(ap);
        ocid_error_set(d->err, OCID_ERR_INVALID, "%s: %s", d->name, sb.buf);
        return -1;
}

#define SHOW(s) (int)(strlen(s) > SHOW_MAX ? SHOW_MAX : strlen(s)), (s), \
                strlen(s) > SHOW_MAX ? "..." : ""

/* A string value without embedded NULs (TOML allows \u0000). */
static int get_string(struct doc *d, struct json_object *o, const char *what, const char **ret)
{
        if (!json_object_is_type(o, json_type_string))
                return doc_fail(d, "%s must be a string", what);
        const char *s = json_object_get_string(o);
        if (strlen(s) != (size_t)json_object_get_string_len(o))
                return doc_fail(d, "%s contains a NUL character", what);
        *ret = s;
        return 0;
}

static int get_bool(struct doc *d, struct json_object *table, const char *key, const char *where,
                    bool *ret)
{
        struct json_object *o;
        if (!json_object_object_get_ex(table, key, &o))
                return 0;
        if (!json_object_is_type(o, json_type_boolean))
                return doc_fail(d, "%s: '%s' must be true or false", where, key);
        *ret = json_object_get_boolean(o);
        return 0;
}

/* An optional string key; *ret stays NULL when absent. */
static int get_opt_string(struct doc *d, struct json_object *table, const char *key,
                          const char *where, const char **ret)
{
        struct json_object *o;
        if (!json_object_object_get_ex(table, key, &o))
                return 0;
        _cleanup_free_ char *what = NULL;
        if (asprintf(&what, "%s: '%s'", where, key) < 0)
                abort();
        return get_string(d, o, what, ret);
}

static bool parses_as_qualified(const char *s)
{
        image_ref *ref = NULL;
        ocid_error err = OCID_ERROR_INIT;
        if (image_ref_parse(s, &ref, &err) < 0) {
                ocid_error_clear(&err);
                return false;
        }
        bool ok = ref->had_domain;
        image_ref_free(ref);
        return ok;
}

/* host[:port] with a host that reads as a registry (has '.' or ':' or is
 * localhost): "host/x" must parse as a reference with a domain. */
static bool host_valid(const char *s)
{
        if (!*s || strpbrk(s, "/@"))
                return false;
        _cleanup_free_ char *probe = NULL;
        if (asprintf(&probe, "%s/x", s) < 0)
                abort();
        return parses_as_qualified(probe);
}

/* A prefix or location: host[:port][/namespace...][(:tag|@digest)].
 * Anything else could never match a reference (or rewrite to one). */
static bool location_valid(const char *s)
{
        if (!strchr(s, '/'))
                return host_valid(s);
        return parses_as_qualified(s);
}

/* "*.example.com": a wildcard only at the start, no port, no path. */
static bool wildcard_valid(const char *s)
{
        if (strncmp(s, "*.", 2) != 0 || strpbrk(s, "/@:"))
                return false;
        _cleanup_free_ char *probe = NULL;
        if (asprintf(&probe, "x%s/x", s + 1) < 0)
                abort();
        return parses_as_qualified(probe);
}

/* containers/image drops one trailing '/' run and refuses URL schemes. */
static int clean_location(struct doc *d, const char *in, const char *where, const char *key,
                          char **ret)
{
        size_t n = strlen(in);
        while (n > 0 && in[n - 1] == '/')
                n--;
        if (strncmp(in, "http://", 7) == 0 || strncmp(in, "https://", 8) == 0)
                return doc_fail(d, "%s: invalid %s '%.*s%s': URI schemes are not supported", where,
                                key, SHOW(in));
        char *s = strndup(in, n);
        if (!s)
                abort();
        *ret = s;
        return 0;
}

static int parse_mirror(struct doc *d, struct json_object *m, const char *where,
                        bool digest_only, reg_mirror *ret)
{
        if (!json_object_is_type(m, json_type_object))
                return doc_fail(d, "%s: 'mirror' must be an array of tables ([[registry.mirror]])",
                                where);
        const char *location = NULL, *pull = NULL;
        bool insecure = false;
        if (get_opt_string(d, m, "location", where, &location) < 0 ||
            get_bool(d, m, "insecure", where, &insecure) < 0 ||
            get_opt_string(d, m, "pull-from-mirror", where, &pull) < 0)
                return -1;
        _cleanup_free_ char *loc = NULL;
        if (clean_location(d, location ? location : "", where, "mirror location", &loc) < 0)
                return -1;
        if (!*loc)
                return doc_fail(d, "%s: mirror location is unset", where);
        if (!location_valid(loc))
                return doc_fail(d,
                                "%s: invalid mirror location '%.*s%s': expected "
                                "host[:port][/namespace...]",
                                where, SHOW(loc));
        pull_from pf = PULL_FROM_ALL;
        if (pull && *pull) {
                if (digest_only)
                        return doc_fail(d,
                                        "%s: cannot set mirror-by-digest-only for the registry "
                                        "and pull-from-mirror for mirror '%.*s%s' at the same "
                                        "time",
                                        where, SHOW(loc));
                if (STREQ(pull, "all"))
                        pf = PULL_FROM_ALL;
                else if (STREQ(pull, "digest-only"))
                        pf = PULL_FROM_DIGEST_ONLY;
                else if (STREQ(pull, "tag-only"))
                        pf = PULL_FROM_TAG_ONLY;
                else
                        return doc_fail(d,
                                        "%s: unsupported pull-from-mirror value '%.*s%s' (expected "
                                        "all, digest-only or tag-only)",
                                        where, SHOW(pull));
        }
        ret->location = TAKE_PTR(loc);
        ret->insecure = insecure;
        ret->pull_from = pf;
        return 0;
}

static int parse_registry(struct doc *d, struct json_object *r, size_t index, reg_entry *ret)
{
        char where[64];
        snprintf(where, sizeof(where), "[[registry]] #%zu", index + 1);

        if (!json_object_is_type(r, json_type_object))
                return doc_fail(d, "'registry' must be an array of tables ([[registry]])");

        const char *prefix_in = NULL, *location_in = NULL;
        reg_entry e = { 0 };
        if (get_opt_string(d, r, "prefix", where, &prefix_in) < 0 ||
            get_opt_string(d, r, "location", where, &location_in) < 0 ||
            get_bool(d, r, "insecure", where, &e.insecure) < 0 ||
            get_bool(d, r, "blocked", where, &e.blocked) < 0 ||
            get_bool(d, r, "mirror-by-digest-only", where, &e.mirror_by_digest_only) < 0)
                return -1;
        /* pull-from-mirror belongs to mirrors; on the registry it is an error
         * in containers/image, so it is here too. */
        struct json_object *o;
        if (json_object_object_get_ex(r, "pull-from-mirror", &o))
                return doc_fail(d, "%s: pull-from-mirror must not be set for a non-mirror registry",
                                where);

        _cleanup_free_ char *prefix = NULL, *location = NULL;
        if (clean_location(d, location_in ? location_in : "", where, "location", &location) < 0 ||
            clean_location(d, prefix_in ? prefix_in : "", where, "prefix", &prefix) < 0)
                return -1;
        if (*location && !location_valid(location))
                return doc_fail(d,
                                "%s: invalid location '%.*s%s': expected "
                                "host[:port][/namespace...][/repo][(:tag|@digest)]",
                                where, SHOW(location));
        if (!*prefix) {
                if (!*location)
                        return doc_fail(d, "%s: both location and prefix are unset", where);
                free(prefix);
                prefix = xstrdup(location);
        }
        bool wildcard = strncmp(prefix, "*.", 2) == 0;
        if (wildcard) {
                if (!wildcard_valid(prefix))
                        return doc_fail(d,
                                        "%s: wildcarded prefix should be in the format "
                                        "*.example.com; '%.*s%s' is not",
                                        where, SHOW(prefix));
        } else {
                if (!*location)
                        return doc_fail(d,
                                        "%s: location is unset and prefix '%.*s%s' is not in the "
                                        "format *.example.com",
                                        where, SHOW(prefix));
                if (!location_valid(prefix))
                        return doc_fail(d,
                                        "%s: invalid prefix '%.*s%s': expected "
                                        "host[:port][/namespace...][/repo][(:tag|@digest)]",
                                        where, SHOW(prefix));
        }

        struct json_object *mirrors;
        reg_mirror *ms = NULL;
        size_t n_ms = 0;
        if (json_object_object_get_ex(r, "mirror", &mirrors)) {
                if (!json_object_is_type(mirrors, json_type_array))
                        return doc_fail(d,
                                        "%s: 'mirror' must be an array of tables "
                                        "([[registry.mirror]])",
                                        where);
                size_t n = json_object_array_length(mirrors);
                if (n > REGISTRIES_MAX_MIRRORS)
                        return doc_fail(d, "%s: more than %d mirrors", where,
                                        REGISTRIES_MAX_MIRRORS);
                ms = xcalloc(n, sizeof(*ms));
                for (size_t i = 0; i < n; i++) {
                        if (parse_mirror(d, json_object_array_get_idx(mirrors, i), where,
                                         e.mirror_by_digest_only, &ms[i]) < 0) {
                                for (size_t j = 0; j < i; j++)
                                        free(ms[j].location);
                                free(ms);
                                return -1;
                        }
                }
                n_ms = n;
        }

        e.prefix = TAKE_PTR(prefix);
        if (*location)
                e.location = TAKE_PTR(location);
        e.mirrors = ms;
        e.n_mirrors = n_ms;
        e.origin = xstrdup(d->name);
        *ret = e;
        return 0;
}

/* The key that the "defined multiple times" check groups entries by. */
static const char *entry_key(const reg_entry *e)
{
        return e->location ? e->location : e->prefix;
}

static int parse_registries(struct doc *d, struct json_object *root, registries_conf *conf)
{
        struct json_object *regs;
        if (!json_object_object_get_ex(root, "registry", &regs))
                return 0;
        if (!json_object_is_type(regs, json_type_array))
                return doc_fail(d, "'registry' must be an array of tables ([[registry]])");
        size_t n = json_object_array_length(regs);
        if (n > REGISTRIES_MAX_ENTRIES)
                return doc_fail(d, "more than %d [[registry]] tables", REGISTRIES_MAX_ENTRIES);

        conf->regs = xcalloc(n, sizeof(*conf->regs));
        for (size_t i = 0; i < n; i++) {
                reg_entry e;
                if (parse_registry(d, json_object_array_get_idx(regs, i), i, &e) < 0)
                        return -1;
                /* One registry (location) mentioned twice, say for two prefixes,
                 * must agree on how it is reached. */
                for (size_t j = 0; j < conf->n_regs; j++) {
                        const reg_entry *o = &conf->regs[j];
                        if (!STREQ(entry_key(o), entry_key(&e)))
                                continue;
                        const char *what = o->insecure != e.insecure ? "insecure"
                                           : o->blocked != e.blocked ? "blocked"
                                                                     : NULL;
                        if (what) {
                                doc_fail(d,
                                         "registry '%.*s%s' is defined multiple times with "
                                         "conflicting '%s' setting",
                                         SHOW(entry_key(&e)), what);
                                reg_entry_release(&e);
                                return -1;
                        }
                }
                /* The first entry with a prefix wins; containers/image ignores
                 * later ones in the same file rather than failing. */
                bool dup = false;
                for (size_t j = 0; j < conf->n_regs && !dup; j++)
                        dup = STREQ(conf->regs[j].prefix, e.prefix);
                if (dup)
                        reg_entry_release(&e);
                else
                        conf->regs[conf->n_regs++] = e;
        }
        return 0;
}

static int parse_search(struct doc *d, struct json_object *root, registries_conf *conf)
{
        struct json_object *list;
        if (!json_object_object_get_ex(root, "unqualified-search-registries", &list))
                return 0;
        if (!json_object_is_type(list, json_type_array))
                return doc_fail(d, "'unqualified-search-registries' must be an array of strings");
        size_t n = json_object_array_length(list);
        if (n > REGISTRIES_MAX_SEARCH)
                return doc_fail(d, "more than %d unqualified-search-registries",
                                REGISTRIES_MAX_SEARCH);
        _cleanup_strv_ char **v = xcalloc(1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
                const char *s;
                if (get_string(d, json_object_array_get_idx(list, i),
                               "'unqualified-search-registries' entry", &s) < 0)
                        return -1;
                _cleanup_free_ char *host = NULL;
                if (clean_location(d, s, "unqualified-search-registries", "entry", &host) < 0)
                        return -1;
                if (!host_valid(host))
                        return doc_fail(d,
                                        "invalid unqualified-search-registries entry '%.*s%s': "
                                        "expected a registry host[:port]",
                                        SHOW(host));
                v = strv_push_take(v, TAKE_PTR(host));
        }
        conf->search = TAKE_PTR(v);
        conf->search_set = true;
        return 0;
}

/* True when s names a tag or digest: for a name without a domain any ':'
 * starts a tag; with one, only a ':' after the last '/' does. */
static bool has_tag_or_digest(const char *s)
{
        if (strchr(s, '@'))
                return true;
        const char *slash = strrchr(s, '/');
        return strchr(slash ? slash : s, ':') != NULL;
}

static int parse_aliases(struct doc *d, struct json_object *root, registries_conf *conf)
{
        struct json_object *table;
        if (!json_object_object_get_ex(root, "aliases", &table))
                return 0;
        if (!json_object_is_type(table, json_type_object))
                return doc_fail(d, "'aliases' must be a table ([aliases])");
        size_t n = (size_t)json_object_object_length(table);
        if (n > REGISTRIES_MAX_ALIASES)
                return doc_fail(d, "more than %d aliases", REGISTRIES_MAX_ALIASES);
        conf->aliases = xcalloc(n, sizeof(*conf->aliases));

        json_object_object_foreach(table, name, val) {
                const char *value;
                if (get_string(d, val, "alias value", &value) < 0)
                        return -1;

                image_ref *ref = NULL;
                ocid_error perr = OCID_ERROR_INIT;
                if (image_ref_parse(name, &ref, &perr) < 0) {
                        doc_fail(d, "invalid short name '%.*s%s' in [aliases]: %s", SHOW(name),
                                 perr.message ? perr.message : "invalid");
                        ocid_error_clear(&perr);
                        return -1;
                }
                bool qualified = ref->had_domain;
                image_ref_free(ref);
                if (qualified)
                        return doc_fail(d,
                                        "invalid short name '%.*s%s' in [aliases]: must not "
                                        "contain a registry",
                                        SHOW(name));
                if (has_tag_or_digest(name))
                        return doc_fail(d,
                                        "invalid short name '%.*s%s' in [aliases]: must not "
                                        "contain a tag or digest",
                                        SHOW(name));

                char *normalised = NULL;
                if (*value) {
                        if (image_ref_parse(value, &ref, &perr) < 0) {
                                doc_fail(d, "invalid alias '%.*s%s' = '%.*s%s': %s", SHOW(name),
                                         SHOW(value), perr.message ? perr.message : "invalid");
                                ocid_error_clear(&perr);
                                return -1;
                        }
                        qualified = ref->had_domain;
                        normalised = image_ref_name(ref);
                        image_ref_free(ref);
                        if (!qualified || has_tag_or_digest(value)) {
                                free(normalised);
                                return doc_fail(d,
                                                "invalid alias '%.*s%s' = '%.*s%s': the value "
                                                "must be registry/repository, without tag or "
                                                "digest",
                                                SHOW(name), SHOW(value));
                        }
                }
                reg_alias *a = &conf->aliases[conf->n_aliases++];
                a->name = xstrdup(name);
                a->value = normalised;
                a->origin = xstrdup(d->name);
        }
        return 0;
}

int registries_conf_parse(const char *text, size_t len, const char *name, registries_conf **ret,
                          ocid_error *err)
{
        struct doc d = { .name = name ? name : "registries.conf", .err = err };
        _cleanup_(json_object_putp) struct json_object *root = NULL;

        if (len > REGISTRIES_CONF_MAX_SIZE)
                return doc_fail(&d, "larger than %d bytes", REGISTRIES_CONF_MAX_SIZE);
        if (toml_parse(text, len, &root, err) < 0)
                return ocid_error_wrap(err, "%s", d.name);

        struct json_object *v1;
        if (json_object_object_get_ex(root, "registries", &v1))
                return doc_fail(&d,
                                "version 1 format ([registries.search], [registries.insecure], "
                                "[registries.block]) is not supported; use version 2 "
                                "(unqualified-search-registries and [[registry]] tables)");

        _cleanup_(registries_conf_freep) registries_conf *conf = xcalloc(1, sizeof(*conf));
        if (parse_search(&d, root, conf) < 0 || parse_registries(&d, root, conf) < 0 ||
            parse_aliases(&d, root, conf) < 0)
                return -1;
        *ret = TAKE_PTR(conf);
        return 0;
}

/* ---- merging drop-ins ---- */

/* Move everything in `from` into `into`, later definitions winning. */
static void conf_merge(registries_conf *into, registries_conf *from)
{
        for (size_t i = 0; i < from->n_regs; i++) {
                reg_entry *e = &from->regs[i];
                size_t j;
                for (j = 0; j < into->n_regs; j++)
                        if (STREQ(into->regs[j].prefix, e->prefix))
                                break;
                if (j == into->n_regs) {
                        into->regs = xreallocarray(into->regs, into->n_regs + 1,
                                                   sizeof(*into->regs));
                        into->n_regs++;
                } else {
                        reg_entry_release(&into->regs[j]);
                }
                into->regs[j] = *e;
                memset(e, 0, sizeof(*e));
        }
        from->n_regs = 0;

        /* Setting the list at all, even to [], replaces it. */
        if (from->search_set) {
                strv_free(into->search);
                into->search = TAKE_PTR(from->search);
                into->search_set = true;
        }

        for (size_t i = 0; i < from->n_aliases; i++) {
                reg_alias *a = &from->aliases[i];
                size_t j;
                for (j = 0; j < into->n_aliases; j++)
                        if (STREQ(into->aliases[j].name, a->name))
                                break;
                if (j == into->n_aliases) {
                        into->aliases = xreallocarray(into->aliases, into->n_aliases + 1,
                                                      sizeof(*into->aliases));
                        into->n_aliases++;
                } else {
                        reg_alias_release(&into->aliases[j]);
                }
                into->aliases[j] = *a;
                memset(a, 0, sizeof(*a));
        }
        from->n_aliases = 0;
}

/* Read and parse one file. 1: parsed, 0: it does not exist. */
static int load_file(const char *path, registries_conf **ret, ocid_error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = fs_read_file(path, REGISTRIES_CONF_MAX_SIZE, &text, &len);
        if (r == -ENOENT)
                return 0;
        if (r == -EFBIG)
                return ocid_error_set(err, OCID_ERR_INVALID, "%s: larger than %d bytes", path,
                                      REGISTRIES_CONF_MAX_SIZE);
        if (r < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, r, "read %s", path);
        if (registries_conf_parse(text, len, path, ret, err) < 0)
                return -1;
        return 1;
}

static int dropin_filter(const struct dirent *de)
{
        size_t n = strlen(de->d_name);
        return n >= 5 && STREQ(de->d_name + n - 5, ".conf");
}

/* Byte order, not the locale's: the same files merge the same way on every
 * machine. */
static int name_compare(const struct dirent **a, const struct dirent **b)
{
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int load_dropins(const char *dir, registries_conf *conf, ocid_error *err)
{
        struct dirent **names = NULL;
        int n = scandir(dir, &names, dropin_filter, name_compare);
        if (n < 0) {
                if (errno == ENOENT)
                        return 0;
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "read directory %s", dir);
        }
        int r = 0;
        for (int i = 0; i < n; i++) {
                if (r == 0) {
                        _cleanup_free_ char *path = fs_path_join(dir, names[i]->d_name);
                        struct stat st;
                        /* Sub-directories are not descended into; a file that
                         * vanished since the listing is an expected race. */
                        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                                registries_conf *dropin = NULL;
                                int k = load_file(path, &dropin, err);
                                if (k < 0) {
                                        r = -1;
                                } else if (k > 0) {
                                        conf_merge(conf, dropin);
                                        registries_conf_free(dropin);
                                }
                        }
                }
                free(names[i]);
        }
        free(names);
        return r;
}

int registries_conf_load(const char *path, const char *dropin_dir, registries_conf **ret,
                         ocid_error *err)
{
        registries_conf *main_conf = NULL;
        if (path) {
                int k = load_file(path, &main_conf, err);
                if (k < 0)
                        return -1;
        }
        _cleanup_(registries_conf_freep) registries_conf *conf =
                main_conf ? main_conf : xcalloc(1, sizeof(*conf));
        if (dropin_dir && load_dropins(dropin_dir, conf, err) < 0)
                return -1;
        *ret = TAKE_PTR(conf);
        return 0;
}

/* ---- matching and rewriting ---- */

/* Length of the part of s (a reference string "name[:tag][@digest]" whose
 * name is name_len long) that `prefix` matches, or -1. */
static ssize_t prefix_match(const char *prefix, const char *s, size_t name_len, size_t domain_len)
{
        if (strncmp(prefix, "*.", 2) == 0) {
                /* The wildcard stands for a whole host, so the match covers
                 * the domain including any port. */
                const char *suffix = prefix + 1;
                size_t host_len = 0;
                while (host_len < domain_len && s[host_len] != ':')
                        host_len++;
                size_t n = strlen(suffix);
                if (host_len <= n || memcmp(s + host_len - n, suffix, n) != 0)
                        return -1;
                return (ssize_t)domain_len;
        }
        size_t n = strlen(prefix);
        if (strncmp(s, prefix, n) != 0)
                return -1;
        char c = s[n];
        if (c == '\0' || c == '/' || c == '@' || (c == ':' && n == name_len))
                return (ssize_t)n;
        return -1;
}

static const reg_entry *find_registry(const registries_conf *conf, const char *s,
                                      size_t name_len, size_t domain_len, size_t *ret_match)
{
        const reg_entry *best = NULL;
        size_t best_len = 0;
        for (size_t i = 0; conf && i < conf->n_regs; i++) {
                const reg_entry *e = &conf->regs[i];
                ssize_t m = prefix_match(e->prefix, s, name_len, domain_len);
                if (m < 0)
                        continue;
                size_t plen = strlen(e->prefix);
                if (!best || plen > best_len) {
                        best = e;
                        best_len = plen;
                        *ret_match = (size_t)m;
                }
        }
        return best;
}

static void source_from_ref(pull_source *src, image_ref *ref, bool insecure, bool is_mirror)
{
        src->host = TAKE_PTR(ref->domain);
        src->repository = TAKE_PTR(ref->path);
        src->tag = TAKE_PTR(ref->tag);
        src->digest = TAKE_PTR(ref->digest);
        src->insecure = insecure;
        src->is_mirror = is_mirror;
}

static int rewrite(const reg_entry *e, const char *location, const char *s, size_t match,
                   image_ref **ret, ocid_error *err)
{
        _cleanup_free_ char *rewritten = NULL;
        if (asprintf(&rewritten, "%s%s", location, s + match) < 0)
                abort();
        ocid_error perr = OCID_ERROR_INIT;
        if (image_ref_parse(rewritten, ret, &perr) < 0) {
                ocid_error_set(err, OCID_ERR_PRECONDITION,
                               "%s: [[registry]] prefix '%s' rewrites '%s' to an invalid "
                               "reference: %s",
                               e->origin, e->prefix, s, perr.message ? perr.message : "invalid");
                ocid_error_clear(&perr);
                return -1;
        }
        return 0;
}

void pull_sources_free(pull_source *sources, size_t n)
{
        if (!sources)
                return;
        for (size_t i = 0; i < n; i++) {
                free(sources[i].host);
                free(sources[i].repository);
                free(sources[i].tag);
                free(sources[i].digest);
        }
        free(sources);
}

int registries_resolve(const registries_conf *conf, const image_ref *ref, pull_source **ret,
                       size_t *ret_n, ocid_error *err)
{
        _cleanup_free_ char *s = image_ref_string(ref);
        size_t domain_len = strlen(ref->domain);
        size_t name_len = domain_len + 1 + strlen(ref->path);
        size_t match = 0;
        const reg_entry *e = find_registry(conf, s, name_len, domain_len, &match);

        if (!e) {
                pull_source *src = xcalloc(1, sizeof(*src));
                image_ref *copy = image_ref_copy(ref);
                source_from_ref(src, copy, false, false);
                image_ref_free(copy);
                *ret = src;
                *ret_n = 1;
                return 0;
        }
        if (e->blocked)
                return ocid_error_set(err, OCID_ERR_PRECONDITION, "registry '%s' is blocked in %s",
                                      e->prefix, e->origin);

        bool digested = ref->digest != NULL;
        pull_source *srcs = xcalloc(e->n_mirrors + 1, sizeof(*srcs));
        size_t n = 0;
        for (size_t i = 0; i < e->n_mirrors; i++) {
                const reg_mirror *m = &e->mirrors[i];
                if (e->mirror_by_digest_only && !digested)
                        continue;
                if (m->pull_from == PULL_FROM_DIGEST_ONLY && !digested)
                        continue;
                if (m->pull_from == PULL_FROM_TAG_ONLY && digested)
                        continue;
                image_ref *r = NULL;
                if (rewrite(e, m->location, s, match, &r, err) < 0) {
                        pull_sources_free(srcs, n);
                        return -1;
                }
                source_from_ref(&srcs[n++], r, m->insecure, true);
                image_ref_free(r);
        }
        image_ref *r = NULL;
        if (e->location) {
                if (rewrite(e, e->location, s, match, &r, err) < 0) {
                        pull_sources_free(srcs, n);
                        return -1;
                }
        } else {
                r = image_ref_copy(ref);
        }
        source_from_ref(&srcs[n++], r, e->insecure, false);
        image_ref_free(r);
        *ret = srcs;
        *ret_n = n;
        return 0;
}

/* ---- short names ---- */

void image_refs_free(image_ref **refs, size_t n)
{
        if (!refs)
                return;
        for (size_t i = 0; i < n; i++)
                image_ref_free(refs[i]);
        free(refs);
}

static const reg_alias *find_alias(const registries_conf *conf, const char *name)
{
        for (size_t i = 0; conf && i < conf->n_aliases; i++)
                if (STREQ(conf->aliases[i].name, name))
                        return &conf->aliases[i];
        return NULL;
}

static int candidate(const char *registry, const char *name, const image_ref *ref,
                     image_ref **ret, ocid_error *err)
{
        _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
        if (registry)
                strbuf_addf(&sb, "%s/", registry);
        strbuf_adds(&sb, name);
        if (ref->tag)
                strbuf_addf(&sb, ":%s", ref->tag);
        if (ref->digest)
                strbuf_addf(&sb, "@%s", ref->digest);
        return image_ref_parse(sb.buf, ret, err);
}

int registries_expand_short_name(const registries_conf *conf, const image_ref *ref,
                                 image_ref ***ret, size_t *ret_n, ocid_error *err)
{
        if (ref->had_domain) {
                image_ref **v = xcalloc(1, sizeof(*v));
                v[0] = image_ref_copy(ref);
                *ret = v;
                *ret_n = 1;
                return 0;
        }

        /* The name as written: aliases are keyed by it, and a search
         * registry other than docker.io gets it without "library/". */
        const char *typed = ref->library_implied ? ref->path + strlen("library/") : ref->path;

        const reg_alias *a = find_alias(conf, typed);
        if (a && a->value) {
                image_ref **v = xcalloc(1, sizeof(*v));
                if (candidate(NULL, a->value, ref, &v[0], err) < 0) {
                        free(v);
                        return ocid_error_wrap(err, "short name '%s' (alias from %s)", typed,
                                               a->origin);
                }
                *ret = v;
                *ret_n = 1;
                return 0;
        }

        static const char *const fallback[] = { "docker.io", NULL };
        char *const *list = registries_search_list(conf);
        if (!list[0])
                list = (char *const *)fallback;
        size_t n = strv_length(list);
        image_ref **v = xcalloc(n, sizeof(*v));
        for (size_t i = 0; i < n; i++) {
                if (candidate(list[i], typed, ref, &v[i], err) < 0) {
                        image_refs_free(v, i);
                        return ocid_error_wrap(err, "short name '%s' in registry '%s'", typed,
                                               list[i]);
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}
