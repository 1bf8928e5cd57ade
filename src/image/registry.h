/* A client of the OCI distribution / Docker registry v2 API (libcurl):
 * manifests and blobs, anonymous, basic and bearer-token auth, HTTPS with
 * per-registry certificates, plain HTTP for insecure registries. One
 * session per (registry, repository); sessions are not shared between
 * threads. */
#pragma once

#include "image/registries.h"
#include "util/error.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The CRI's AuthConfig. Borrowed. */
typedef struct {
        const char *username;
        const char *password;
        const char *auth;           /* base64 "user:password" */
        const char *identity_token; /* OAuth2 refresh token */
        const char *registry_token; /* a bearer token for the registry */
} registry_auth;

typedef struct {
        const char *certs_dir;          /* HOST[:PORT]/{ca.crt,client.cert,client.key} */
        long connect_timeout_ms;        /* 0: 30 s */
        long stall_timeout_s;           /* no progress for this long aborts; 0: 60 s */
        const atomic_bool *cancelled;   /* optional: aborts transfers */
} registry_options;

typedef struct registry_session registry_session;

int registry_session_new(const pull_source *src, const registry_auth *auth,
                         const registry_options *opts, registry_session **ret, ocid_error *err);
void registry_session_free(registry_session *s);

/* GET a manifest by tag or digest, at most MANIFEST_MAX_SIZE bytes.
 * *ret_digest is the sha256 of the body (for a digest reference it must
 * match, else INVALID). NOT_FOUND when the registry says unknown. */
int registry_fetch_manifest(registry_session *s, const char *reference, char **ret_body,
                            size_t *ret_len, char **ret_content_type, char **ret_digest,
                            ocid_error *err);

/* GET a blob into out_fd, following redirects, verifying its size and
 * sha256 digest while it streams. On failure out_fd holds garbage. */
int registry_fetch_blob(registry_session *s, const char *digest, int64_t size, int out_fd,
                        ocid_error *err);

/* A WWW-Authenticate challenge: `Bearer realm="...",service="...",scope="..."`
 * or `Basic realm="..."`. Exposed for tests and fuzzing. */
typedef struct {
        char *scheme;   /* "bearer" or "basic", lower-cased */
        char *realm;
        char *service;
        char *scope;
} auth_challenge;

/* INVALID for a header that is not one challenge of that shape. */
int auth_challenge_parse(const char *header, auth_challenge *ret, ocid_error *err);
void auth_challenge_release(auth_challenge *c);
