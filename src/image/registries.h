/* containers-registries.conf(5), version 2: where to pull a name from.
 *
 *   unqualified-search-registries = ["docker.io"]
 *   [aliases]  "pause" = "registry.k8s.io/pause"
 *   [[registry]] prefix, location, insecure, blocked, mirror-by-digest-only
 *   [[registry.mirror]] location, insecure, pull-from-mirror
 *                                           (tried in order, before the
 *                                            registry itself)
 *
 * The main file plus drop-ins (registries.conf.d/ *.conf, in name order;
 * later entries override earlier ones with the same prefix).
 *
 * Semantics follow containers/image (what CRI-O, podman and skopeo read):
 *
 * - [[registry]]: `prefix` defaults to `location`; an entry needs one of
 *   them. Both are host[:port][/namespace...][(:tag|@digest)], a trailing
 *   '/' is dropped, and "http://" / "https://" are refused. A prefix may
 *   instead be "*.example.com" (any subdomain of example.com, with any port);
 *   such an entry may leave `location` unset, meaning "pull from the
 *   matched host itself".
 * - Matching is on the reference "domain/path[:tag][@digest]": a prefix
 *   matches when the reference starts with it and continues with '/', with
 *   the ':' that starts the tag, with '@', or ends there. So
 *   "example.com/foo" matches "example.com/foo:1", "example.com/foo/bar",
 *   but not "example.com/foobar" nor "example.com:5000/foo". The longest
 *   matching prefix wins; within one file the first entry with a given
 *   prefix wins (containers/image ignores later duplicates).
 * - Rewriting: the matched prefix is replaced by the location (or by each
 *   mirror's location), and the result is parsed and normalised again.
 * - `mirror-by-digest-only = true`: mirrors are used only for references
 *   with a digest. Per mirror, `pull-from-mirror` = "all" (default),
 *   "digest-only" or "tag-only" does the same for one mirror; the two
 *   cannot be combined (INVALID).
 * - `[aliases]`: "short-name" = "host/repo" (no tag, no digest on either
 *   side; the name must be a short name, the value fully qualified). An
 *   empty value erases an alias from an earlier file.
 * - Drop-ins: a later file's [[registry]] with the same prefix replaces the
 *   earlier one; its unqualified-search-registries (even an empty list)
 *   replaces the earlier list; its aliases are merged, later names winning.
 * - Version 1 files ([registries.search], [registries.insecure],
 *   [registries.block]) are refused as INVALID. Unknown keys (for example
 *   short-name-mode, credential-helpers) are ignored, as containers/image
 *   ignores them. Keys we read with the wrong TOML type are INVALID.
 *
 * A registries_conf is immutable after loading: concurrent readers need no
 * locking. */
#pragma once

#include "image/reference.h"
#include "util/cleanup.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct registries_conf registries_conf;

/* Size bound for one configuration file. */
#define REGISTRIES_CONF_MAX_SIZE (1024 * 1024)

/* A missing file (or drop-in dir) is an empty configuration; an invalid
 * one is INVALID naming the file and the problem ("<file>: ..."). A file
 * that cannot be read for another reason is INTERNAL with the errno text.
 * path or dropin_dir may be NULL (not used). On success the caller owns
 * *ret (registries_conf_free); on failure *ret is untouched. */
int registries_conf_load(const char *path, const char *dropin_dir, registries_conf **ret,
                         ocid_error *err);
/* Parse one document (for tests and fuzzing); name is used in messages and
 * as the origin in "blocked in <name>". Same ownership as _load. */
int registries_conf_parse(const char *text, size_t len, const char *name, registries_conf **ret,
                          ocid_error *err);
/* Accepts NULL. */
void registries_conf_free(registries_conf *conf);
DEFINE_CLEANUP_FUNC(registries_conf, registries_conf_free)

/* The unqualified-search registries in effect (host[:port] strings, owned
 * by conf; NULL-terminated; never NULL, possibly empty). */
char *const *registries_search_list(const registries_conf *conf);

/* Where to fetch one fully qualified reference from, in order. */
typedef struct {
        char *host;        /* "mirror.local:5000" */
        char *repository;  /* path on that host, after prefix rewriting */
        char *tag;         /* what to fetch there: the reference's own tag  */
        char *digest;      /* and digest, unless a prefix/location naming a
                            * tag rewrote them; either may be NULL, not both */
        bool insecure;     /* plain HTTP */
        bool is_mirror;
} pull_source;

/* Sources for ref (which must have had_domain or be already expanded):
 * the matching [[registry]] (longest prefix wins) gives mirrors, then the
 * location (rewritten), else the reference's own domain. A blocked
 * registry is PRECONDITION "registry '<prefix>' is blocked in <file>".
 * A rewrite that yields an invalid reference (a configuration problem,
 * e.g. a name over 255 characters) is PRECONDITION naming the file.
 * conf may be NULL (an empty configuration). On success *ret (array of
 * *ret_n >= 1 entries) belongs to the caller: pull_sources_free(). */
int registries_resolve(const registries_conf *conf, const image_ref *ref, pull_source **ret,
                       size_t *ret_n, ocid_error *err);
/* Accepts NULL. */
void pull_sources_free(pull_source *sources, size_t n);

/* For a short name (!ref->had_domain): the fully qualified candidates, in
 * order: an alias if one matches, else one per unqualified-search
 * registry; when that list is empty (or never set), docker.io alone — what
 * the kubelet/containerd ecosystem expects of "busybox", and what docker
 * does. The alias key is the name as written, without tag or digest
 * ("busybox" and "library/busybox" are different keys); the tag and digest
 * of ref are carried over to every candidate. A reference that already
 * has a domain gives one candidate, a copy of itself. A candidate that is
 * not a valid reference (say, over 255 characters) is INVALID.
 * On success *ret is an array of *ret_n >= 1 references owned by the
 * caller: image_refs_free(). */
int registries_expand_short_name(const registries_conf *conf, const image_ref *ref,
                                 image_ref ***ret, size_t *ret_n, ocid_error *err);
/* Free an array from registries_expand_short_name(). Accepts NULL. */
void image_refs_free(image_ref **refs, size_t n);
