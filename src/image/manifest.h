/* Image manifests, indexes and configs: Docker schema 2, OCI image
 * manifest, Docker manifest list, OCI image index, and the image config
 * (application/vnd.oci.image.config.v1+json, Docker's container config).
 * All parsers take untrusted bytes and bound what they accept. */
#pragma once

#include "util/error.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_DOCKER_V1 "application/vnd.docker.distribution.manifest.v1+json"
#define MEDIA_DOCKER_V1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"
#define MEDIA_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MEDIA_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MEDIA_DOCKER_LAYER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MEDIA_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MEDIA_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MEDIA_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
/* Also accepted as layers: Docker's rarer forms (uncompressed, zstd,
 * uncompressed foreign) and the OCI non-distributable variants, which
 * unpack like their distributable counterparts. */
#define MEDIA_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define MEDIA_DOCKER_LAYER_ZSTD "application/vnd.docker.image.rootfs.diff.tar.zstd"
#define MEDIA_DOCKER_LAYER_FOREIGN_TAR "application/vnd.docker.image.rootfs.foreign.diff.tar"
#define MEDIA_OCI_LAYER_ND "application/vnd.oci.image.layer.nondistributable.v1.tar"
#define MEDIA_OCI_LAYER_ND_GZIP "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
#define MEDIA_OCI_LAYER_ND_ZSTD "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

#define MANIFEST_MAX_SIZE (4 * 1024 * 1024)
#define MANIFEST_MAX_LAYERS 256
#define INDEX_MAX_ENTRIES 1024
#define IMAGE_CONFIG_MAX_SIZE (8 * 1024 * 1024)
#define IMAGE_CONFIG_MAX_DIFF_IDS 256
#define IMAGE_CONFIG_MAX_LIST 4096 /* entries of Env, Cmd, Entrypoint, ports, volumes, labels */

typedef struct {
        char *media_type;
        char *digest;   /* "sha256:..." (validated) */
        int64_t size;   /* >= 0 */
        /* Index entries only: */
        char *os;
        char *architecture;
        char *variant;
} descriptor;

typedef enum {
        MANIFEST_IMAGE,  /* Docker schema 2 or OCI image manifest */
        MANIFEST_INDEX,  /* Docker manifest list or OCI image index */
} manifest_kind;

typedef struct {
        manifest_kind kind;
        char *media_type;      /* as determined */
        descriptor config;     /* MANIFEST_IMAGE */
        descriptor *layers;    /* MANIFEST_IMAGE */
        size_t n_layers;
        descriptor *entries;   /* MANIFEST_INDEX */
        size_t n_entries;
} manifest;

/* Parse a manifest. content_type is the registry's Content-Type (may be
 * NULL or generic, parameters such as "; charset=utf-8" are ignored); when
 * it is not one of the four supported types, the document's own mediaType
 * decides, and without one its shape ("manifests" -> OCI index, "config" and
 * "layers" -> OCI image manifest). body need not be NUL-terminated.
 *
 * Errors (*ret untouched):
 *   RESOURCE  len > MANIFEST_MAX_SIZE, more than MANIFEST_MAX_LAYERS layers
 *             or more than INDEX_MAX_ENTRIES entries;
 *   INVALID   everything else: not a JSON object, Docker schema 1 (by header,
 *             mediaType or schemaVersion; the message says it is no longer
 *             supported), a header that contradicts the mediaType, an
 *             unsupported mediaType, schemaVersion other than 2, an image
 *             manifest holding "manifests" or an index holding "config" or
 *             "layers" (the ambiguity of CVE-2021-41190), a malformed
 *             descriptor (digest not "sha256:" + 64 lower-case hex, size not
 *             an integer >= 0), a config that is not an image config (an
 *             artifact), or an unknown layer media type (named).
 * On success *ret is owned by the caller (manifest_free). Index entries
 * keep every entry in document order; os/architecture/variant are NULL
 * when the entry has no platform (variant NULL when absent). */
int manifest_parse(const char *content_type, const char *body, size_t len, manifest **ret,
                   ocid_error *err);
void manifest_free(manifest *m);
static inline void manifest_freep(manifest **m) { manifest_free(*m); }

typedef struct {
        const char *os;           /* "linux" */
        const char *architecture; /* GOARCH style: "amd64", "arm64", "arm" */
        const char *variant;      /* "v7", "v8" or NULL */
} platform;

/* This machine's platform, from uname(2)'s machine field (see
 * platform_from_machine); an unknown machine falls back to the architecture
 * this binary was built for. The strings are static. */
platform platform_host(void);

/* uname machine -> GOARCH naming: x86_64 -> amd64, aarch64 -> arm64/v8,
 * armv7l -> arm/v7, armv6l -> arm/v6, i686 -> 386, ppc64le, s390x,
 * riscv64... os is "linux". architecture is NULL for a machine it does not
 * know. The strings are static. */
platform platform_from_machine(const char *machine);

/* Pick the index entry for want. Only entries that have a platform and an
 * image manifest media type (Docker schema 2 or OCI) are candidates. os and
 * architecture must match (case-insensitively, after containerd's
 * normalisation: x86_64 = amd64, aarch64 = arm64, armhf = arm/v7 ...).
 * Variants, like containerd's platforms.Only():
 *   arm64  "", "8", "v8" are one variant; an exact spelling is preferred;
 *   arm    "" means v7; want vN takes vN, else the highest lower variant
 *          down to v5 (a v7 CPU runs v6 code); exact spelling preferred;
 *   amd64  "" means v1; want vN takes vN, else the highest lower level;
 *   others any variant when either side gives none (no variant preferred),
 *          else equal.
 * Ties go to the first entry. *ret points into index.
 * INVALID when index is not an index or want lacks os/architecture;
 * NOT_FOUND otherwise, listing the platforms the index has:
 * "no image for linux/amd64 in the index; it has linux/arm64/v8, linux/s390x". */
int manifest_select(const manifest *index, const platform *want, const descriptor **ret,
                    ocid_error *err);

/* What the runtime needs from an image config. Every string is owned and
 * never NULL ("" when unset) except created; every vector is owned, never
 * NULL and NULL-terminated (empty when unset). */
typedef struct {
        char *user;          /* "" when unset */
        char **env;          /* "K=V" */
        char **entrypoint;
        char **cmd;
        char *working_dir;
        char *stop_signal;
        char **exposed_ports;
        char **volumes;
        char **labels;       /* "k=v" */
        char **diff_ids;     /* rootfs.diff_ids, "sha256:..." each */
        char *os;
        char *architecture;
        char *created;       /* RFC 3339 or NULL */
        json_object *raw;    /* the whole document, for verbose status */
} image_config;

/* Parse an OCI image config or Docker container config. A missing or null
 * "config" object leaves its fields empty. body need not be NUL-terminated.
 * Errors (*ret untouched):
 *   RESOURCE  len > IMAGE_CONFIG_MAX_SIZE, more than IMAGE_CONFIG_MAX_DIFF_IDS
 *             diff_ids, more than IMAGE_CONFIG_MAX_LIST entries in a list;
 *   INVALID   not a JSON object, a field of the wrong type, a string holding
 *             a NUL, rootfs missing or its type not "layers", or a diff_id
 *             that is not a valid sha256 digest. */
int image_config_parse(const char *body, size_t len, image_config **ret, ocid_error *err);
void image_config_free(image_config *c);
static inline void image_config_freep(image_config **c) { image_config_free(*c); }

/* Chain IDs of the layers, per the OCI image spec:
 * chain[0] = diff_id[0], chain[n] = sha256(chain[n-1] + " " + diff_id[n]).
 * Returns a strv of n "sha256:..." strings (an empty vector for none),
 * owned by the caller (strv_free). */
char **image_chain_ids(char *const *diff_ids);
