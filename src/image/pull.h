/* Pulling images into the store: names resolved through
 * registries.conf (short names, mirrors, rewritten locations), manifests
 * and indexes (platform selection), config and layers fetched and
 * verified, layers downloaded and unpacked in parallel, the image recorded
 * in one transaction. Two pulls of the same reference at once share one
 * download; a failed or cancelled pull leaves nothing behind. */
#pragma once

#include "image/registry.h"
#include "storage/store.h"
#include "util/error.h"

#include <stdatomic.h>

typedef struct {
        const char *registries_conf;     /* containers-registries.conf(5) */
        const char *registries_conf_dir; /* its drop-ins */
        const char *certs_dir;           /* HOST[:PORT]/ca.crt ... */
        unsigned max_parallel_layers;    /* 0: 3 */
        long stall_timeout_s;            /* 0: 60 */
} puller_options;

typedef struct puller puller;

/* The store is borrowed and must outlive the puller; options are copied. */
int puller_new(store *st, const puller_options *opts, puller **ret, ocid_error *err);
void puller_free(puller *p);

/* Pull `image` (any reference form); *ret_id gets "sha256:<config hex>".
 * The call gives up (CANCELLED) when *cancelled becomes true; the download
 * itself stops when every caller waiting for it has given up. */
int image_pull(puller *p, const char *image, const registry_auth *auth,
               const atomic_bool *cancelled, char **ret_id, ocid_error *err);

/* Find a stored image by ID (full, "sha256:" or not, or a unique prefix),
 * repo tag or repo digest, in any reference form: "busybox" finds
 * docker.io/library/busybox:latest (short names try each candidate of
 * registries.conf in order). NOT_FOUND or INVALID otherwise. */
int image_lookup(puller *p, const char *image, image_record **ret, ocid_error *err);
