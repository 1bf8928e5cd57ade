/* Image references, parsed and normalised the way the container ecosystem
 * does it (the docker/distribution reference grammar, as containers/image
 * and CRI-O apply it): "busybox" is docker.io/library/busybox:latest, a name
 * without a tag or digest gets :latest, "name:tag@sha256:..." keeps both.
 *
 * Grammar (after normalisation):
 *   reference := domain "/" path [ ":" tag ] [ "@" digest ]
 *   domain    := host [ ":" port ]        host: DNS-like labels or [ipv6]
 *   path      := component ( "/" component )*
 *   component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest    := "sha256:" 64 lower-case hex digits
 * The first component of the input is the registry domain only when it
 * contains '.' or ':' or is "localhost" (and another component follows);
 * otherwise the domain is docker.io. "index.docker.io" becomes docker.io,
 * and a single-component docker.io path gets "library/". "domain/path" may
 * be at most 255 characters.
 *
 * A bare 64-hex string ("3f57d9401f8d...") is NOT a reference: it is
 * refused as INVALID, the way docker refuses it, because it would otherwise
 * parse as docker.io/library/<hex>. Callers that accept image IDs check
 * hex64_valid() (or digest_valid()) first. Likewise "sha256:<64 hex>" on
 * its own parses, as docker parses it, to the image "sha256" with a 64-hex
 * tag: a caller that takes image IDs tests digest_valid() before parsing.
 *
 * Inputs longer than IMAGE_REF_INPUT_MAX are refused before any other
 * check, and error messages cut and escape the quoted input, so a hostile
 * string cannot become a huge or binary log line. */
#pragma once

#include "util/cleanup.h"
#include "util/error.h"

#include <stdbool.h>

/* Longest "domain/path" accepted. */
#define IMAGE_REF_NAME_MAX 255
/* Longest input string accepted: a name, a tag and a digest at their
 * maxima fit with room to spare. */
#define IMAGE_REF_INPUT_MAX 1024

typedef struct {
        char *domain;     /* "docker.io", "localhost:5000", "registry.k8s.io" */
        char *path;       /* "library/busybox" */
        char *tag;        /* NULL when the reference is by digest only */
        char *digest;     /* "sha256:<64 hex>" or NULL */
        bool had_domain;  /* the input named a registry (not a short name) */
        bool library_implied; /* "library/" was prepended to a one-component
                               * docker.io path: the name as written was
                               * path + 8 ("busybox", not "library/busybox").
                               * Short-name expansion needs the name as
                               * written (aliases and search registries). */
} image_ref;

/* Parse and normalise. INVALID with a message that quotes the input and
 * says what is wrong, e.g. "invalid reference 'Busybox': repository name
 * must be lowercase". On success the caller owns *ret (image_ref_free);
 * on failure *ret is untouched. s may be NULL (INVALID). */
int image_ref_parse(const char *s, image_ref **ret, ocid_error *err);
/* Deep copy; NULL for NULL. Allocation failure aborts. */
image_ref *image_ref_copy(const image_ref *ref);
/* Accepts NULL. */
void image_ref_free(image_ref *ref);

/* The formatting functions return a new string the caller frees.
 * Allocation failure aborts. */
/* "domain/path" */
char *image_ref_name(const image_ref *ref);
/* The full normalised form: "domain/path:tag", "domain/path@digest" or
 * "domain/path:tag@digest". image_ref_parse() of it gives back an equal
 * reference (with had_domain set). */
char *image_ref_string(const image_ref *ref);
/* "domain/path:tag" (NULL without a tag) and "domain/path@digest" (NULL
 * without a digest): what ListImages shows as repo tags and digests.
 * image_ref_digested() uses `digest` when it is not NULL (the digest the
 * pull resolved a tag to), else ref->digest. */
char *image_ref_tagged(const image_ref *ref);
char *image_ref_digested(const image_ref *ref, const char *digest);

/* True for "sha256:<64 hex>" (only sha256 is accepted). */
bool digest_valid(const char *digest);
/* True for 64 lower-case hex characters (an image ID without "sha256:"). */
bool hex64_valid(const char *s);

/* image_ref_freep(), for _cleanup_(image_ref_freep). */
DEFINE_CLEANUP_FUNC(image_ref, image_ref_free)
