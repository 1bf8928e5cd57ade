/* The image store: unpacked layers on disk (each once, keyed by chain ID,
 * ready to be an overlay lower directory) and image metadata in SQLite.
 *
 *   ROOT/ocid.db              images, names, layers (SQLite, WAL)
 *   ROOT/layers/<hex>/diff    one unpacked layer per chain ID
 *   ROOT/tmp/                 downloads and unpacking in progress
 *
 * Every metadata change is one transaction. A layer directory appears by
 * rename once complete; one that no image references (a crash between the
 * rename and the image's transaction) is removed when the store opens, as
 * is everything under tmp/. In-flight pulls hold the layers they use so
 * that removing an image never deletes a layer another pull is about to
 * reference. Thread-safe. */
#pragma once

#include "util/error.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store store;

int store_open(const char *root, store **ret, ocid_error *err);
void store_close(store *s);

/* ---- layers ---- */

typedef struct {
        char *chain_id;  /* "sha256:..." */
        char *diff_id;
        uint64_t size;   /* bytes of file content */
        uint64_t entries;
} layer_info;

void layer_info_release(layer_info *l);

/* Hold chain_id for an in-flight pull; returns true when the layer is
 * already on disk. Every acquire is paired with a release. */
bool store_layer_acquire(store *s, const char *chain_id);
/* Size and entries of a layer on disk: from the database, or, for a layer
 * another pull has just unpacked and not yet recorded, from that pull's
 * hold. 0 when unknown. */
void store_layer_usage(store *s, const char *chain_id, uint64_t *ret_size, uint64_t *ret_entries);
/* Drop the hold; a layer no image references and nobody holds is removed. */
void store_layer_release(store *s, const char *chain_id);

/* Several pulls may need one missing layer at once (a tag and a digest of
 * the same image, two images sharing a base): one of them creates it.
 * claim: true when the caller, holding the layer, is now its creator and
 * must unclaim when done (created or failed); false when it is on disk or
 * another pull creates it. wait: until nobody creates it; true when it is
 * then on disk (false: the creator failed, claim it yourself). */
bool store_layer_claim(store *s, const char *chain_id);
void store_layer_unclaim(store *s, const char *chain_id);
bool store_layer_wait(store *s, const char *chain_id, const atomic_bool *cancelled);

/* Unpack a layer blob (from blob_fd's offset 0) into place under chain_id,
 * verifying that its uncompressed digest is diff_id. The caller holds the
 * layer. If another pull created it meanwhile, that copy is kept. */
int store_layer_create(store *s, const char *chain_id, const char *diff_id, int blob_fd,
                       const atomic_bool *cancelled, layer_info *ret, ocid_error *err);

/* ROOT/layers/<hex>/diff for a chain ID (whether or not it exists). */
char *store_layer_path(const store *s, const char *chain_id);

/* An anonymous temporary file under ROOT/tmp (O_TMPFILE: it never outlives
 * its descriptor, even across a crash). */
int store_tmpfile(store *s, int *ret_fd, ocid_error *err);

/* Record that user_id (a container) has its root filesystem on these
 * layers: they stay on disk, even if their image is removed, until
 * store_layers_unuse. Persistent across restarts. */
int store_layers_use(store *s, const char *user_id, char *const *chain_ids, ocid_error *err);
int store_layers_unuse(store *s, const char *user_id, ocid_error *err);

/* ---- images ---- */

typedef struct {
        char *id;               /* "sha256:<hex>" of the image config */
        char **repo_tags;       /* "docker.io/library/busybox:1.36" */
        char **repo_digests;    /* "docker.io/library/busybox@sha256:..." */
        char *manifest_digest;
        char *config_json;      /* the image config document */
        char **layers;          /* chain IDs, bottom first */
        uint64_t size;
        int64_t pulled_at;      /* unix nanoseconds */
} image_record;

void image_record_free(image_record *r);
void image_records_free(image_record **v, size_t n);

/* Record an image with its layers and names, in one transaction. A name
 * already given to another image moves to this one (a tag points at one
 * image). Adding an image that exists adds the names. */
int store_image_add(store *s, const image_record *img, const layer_info *layers, size_t n_layers,
                    ocid_error *err);

/* Find by repo tag, repo digest, "sha256:<hex>" ID, or a unique prefix of
 * the hex ID (at least 3 characters). NOT_FOUND otherwise. */
int store_image_find(store *s, const char *name, image_record **ret, ocid_error *err);

int store_image_list(store *s, image_record ***ret, size_t *ret_n, ocid_error *err);

/* Remove the image with all its names; its layers go when no other image
 * uses them. NOT_FOUND when there is no such image. */
int store_image_remove(store *s, const char *id, ocid_error *err);

/* Bytes and inodes used by the layers of all images. */
int store_usage(store *s, uint64_t *ret_bytes, uint64_t *ret_inodes, ocid_error *err);
const char *store_layers_dir(const store *s);
