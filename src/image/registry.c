#include "image/registry.h"
#include "image/manifest.h"
#include "util/cleanup.h"
#include "util/digest.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <nettle/base64.h>
#include <nettle/sha2.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define ERROR_BODY_MAX (64 * 1024)
#define TOKEN_RESPONSE_MAX (1024 * 1024)
#define USER_AGENT "ocid/" OCID_VERSION

struct registry_session {
        CURL *curl;
        char *base;        /* scheme://host/v2/repository */
        char *host;
        char *repository;
        bool insecure;
        char *basic;       /* base64 "user:password" or NULL */
        char *identity_token;
        char *registry_token;
        char *authorization; /* header value in use, or NULL */
        char *ca_file, *client_cert, *client_key;
        registry_options opts;
        /* stall detection of the transfer in progress */
        curl_off_t last_now;     /* bytes moved at the last progress */
        int64_t last_progress_ms; /* CLOCK_MONOTONIC of the last progress */
        bool stalled;
};

/* ---- WWW-Authenticate ---------------------------------------------------- */

void auth_challenge_release(auth_challenge *c)
{
        free(c->scheme);
        free(c->realm);
        free(c->service);
        free(c->scope);
        *c = (auth_challenge){ 0 };
}

int auth_challenge_parse(const char *header, auth_challenge *ret, ocid_error *err)
{
        auth_challenge c = { 0 };
        const char *p = header;
        while (*p == ' ')
                p++;
        size_t n = strcspn(p, " ");
        if (n == 0 || n > 16)
                return ocid_error_set(err, OCID_ERR_INVALID, "bad WWW-Authenticate header");
        c.scheme = strndup(p, n);
        for (char *s = c.scheme; *s; s++)
                *s = (char)tolower((unsigned char)*s);
        p += n;
        /* key=value or key="quoted value", separated by commas */
        while (*p) {
                while (*p == ' ' || *p == ',')
                        p++;
                if (!*p)
                        break;
                size_t klen = strcspn(p, "= ,");
                if (p[klen] != '=' || klen == 0) {
                        auth_challenge_release(&c);
                        return ocid_error_set(err, OCID_ERR_INVALID, "bad WWW-Authenticate header");
                }
                _cleanup_free_ char *key = strndup(p, klen);
                p += klen + 1;
                strbuf value = STRBUF_INIT;
                if (*p == '"') {
                        p++;
                        while (*p && *p != '"') {
                                if (*p == '\\' && p[1])
                                        p++;
                                strbuf_addch(&value, *p++);
                        }
                        if (*p != '"') {
                                strbuf_release(&value);
                                auth_challenge_release(&c);
                                return ocid_error_set(err, OCID_ERR_INVALID,
                                                      "bad WWW-Authenticate header: unterminated quote");
                        }
                        p++;
                } else {
                        size_t vlen = strcspn(p, ", ");
                        strbuf_add(&value, p, vlen);
                        p += vlen;
                }
                char **slot = strcasecmp(key, "realm") == 0     ? &c.realm
                              : strcasecmp(key, "service") == 0 ? &c.service
                              : strcasecmp(key, "scope") == 0   ? &c.scope
                                                                : NULL;
                if (slot) {
                        free(*slot);
                        *slot = strbuf_detach(&value, NULL);
                } else {
                        strbuf_release(&value);
                }
        }
        *ret = c;
        return 0;
}

/* ---- transfers ----------------------------------------------------------- */

typedef struct {
        registry_session *session;
        long status;
        /* the body of a 2xx answer goes to `body` (bounded) or to `fd` */
        strbuf body;
        size_t max_body;
        int fd;
        struct sha256_ctx *md;
        int64_t received;
        int64_t expected;     /* -1: unknown */
        bool overflow;
        bool write_failed;
        strbuf error_body;    /* the body of an error answer */
        char *content_type;
        char *www_authenticate;
} transfer;

static void transfer_release(transfer *t)
{
        strbuf_release(&t->body);
        strbuf_release(&t->error_body);
        free(t->content_type);
        free(t->www_authenticate);
}

static size_t on_header(char *data, size_t size, size_t n, void *p)
{
        transfer *t = p;
        size_t len = size * n;
        /* A new status line starts a new response (redirects, 100). */
        if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
                free(t->content_type);
                free(t->www_authenticate);
                t->content_type = t->www_authenticate = NULL;
                return len;
        }
        const char *colon = memchr(data, ':', len);
        if (!colon)
                return len;
        size_t klen = (size_t)(colon - data);
        const char *v = colon + 1;
        size_t vlen = len - klen - 1;
        while (vlen && (*v == ' ' || *v == '\t'))
                v++, vlen--;
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
                vlen--;
        if (klen == 12 && strncasecmp(data, "content-type", 12) == 0) {
                free(t->content_type);
                t->content_type = strndup(v, vlen);
        } else if (klen == 16 && strncasecmp(data, "www-authenticate", 16) == 0) {
                free(t->www_authenticate);
                t->www_authenticate = strndup(v, vlen);
        }
        return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *p)
{
        transfer *t = p;
        size_t len = size * n;
        long code = 0;
        curl_easy_getinfo(t->session->curl, CURLINFO_RESPONSE_CODE, &code);
        if (code < 200 || code >= 300) {
                if (t->error_body.len + len <= ERROR_BODY_MAX)
                        strbuf_add(&t->error_body, data, len);
                return len;
        }
        t->received += (int64_t)len;
        if ((t->expected >= 0 && t->received > t->expected) ||
            (t->fd < 0 && t->body.len + len > t->max_body)) {
                t->overflow = true;
                return 0; /* aborts the transfer */
        }
        if (t->md)
                sha256_update(t->md, len, (const uint8_t *)data);
        if (t->fd < 0) {
                strbuf_add(&t->body, data, len);
                return len;
        }
        for (size_t off = 0; off < len;) {
                ssize_t w = write(t->fd, data + off, len - off);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        t->write_failed = true;
                        return 0;
                }
                off += (size_t)w;
        }
        return len;
}

static long stall_timeout_s(const registry_session *s)
{
        return s->opts.stall_timeout_s > 0 ? s->opts.stall_timeout_s : 60;
}

static int64_t monotonic_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Called about once a second even when nothing moves: cancellation, and the
 * stall timeout measured from the last byte that moved. (curl's own
 * LOW_SPEED check averages over a window of several seconds, so it fires
 * up to ~6 s late; it stays set below as a backstop.) */
static int on_progress(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
        registry_session *s = p;
        if (s->opts.cancelled && atomic_load(s->opts.cancelled))
                return 1;
        int64_t now = monotonic_ms();
        if (dlnow + ulnow != s->last_now) {
                s->last_now = dlnow + ulnow;
                s->last_progress_ms = now;
        } else if (now - s->last_progress_ms >= (int64_t)stall_timeout_s(s) * 1000) {
                s->stalled = true;
                return 1;
        }
        return 0;
}

/* The registry's error document: {"errors":[{"code":..,"message":..}]}. */
static void registry_message(const strbuf *body, strbuf *out)
{
        json_object *doc = body->len ? json_tokener_parse(body->buf) : NULL;
        json_object *errors, *first, *msg;
        if (doc && json_object_object_get_ex(doc, "errors", &errors) &&
            (first = json_object_array_get_idx(errors, 0)) &&
            json_object_object_get_ex(first, "message", &msg))
                strbuf_adds(out, json_object_get_string(msg));
        json_object_put(doc);
}

/* One request; post_body makes it a form POST. */
static int perform(registry_session *s, const char *url, struct curl_slist *headers,
                   const char *post_body, transfer *t, ocid_error *err)
{
        CURL *c = s->curl;
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, s->insecure ? "http,https" : "https");
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                         s->opts.connect_timeout_ms ? s->opts.connect_timeout_ms : 30000L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall_timeout_s(s));
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        if (post_body)
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body);
        if (s->ca_file) {
                /* certs.d adds a CA; the system's stay trusted. */
                curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
                curl_easy_setopt(c, CURLOPT_CAPATH, "/etc/ssl/certs");
        }
        if (s->client_cert && s->client_key) {
                curl_easy_setopt(c, CURLOPT_SSLCERT, s->client_cert);
                curl_easy_setopt(c, CURLOPT_SSLKEY, s->client_key);
        }
        s->last_now = 0;
        s->last_progress_ms = monotonic_ms();
        s->stalled = false;
        CURLcode rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t->status);
        if (rc == CURLE_OK)
                return 0;
        if (rc == CURLE_ABORTED_BY_CALLBACK && s->stalled)
                return ocid_error_set(err, OCID_ERR_UNAVAILABLE, "%s: timed out (no progress for %ld s)",
                                      url, stall_timeout_s(s));
        if (rc == CURLE_ABORTED_BY_CALLBACK)
                return ocid_error_set(err, OCID_ERR_CANCELLED, "cancelled");
        if (rc == CURLE_WRITE_ERROR && t->overflow)
                return ocid_error_set(err, OCID_ERR_RESOURCE, "%s: more data than expected", url);
        if (rc == CURLE_WRITE_ERROR && t->write_failed)
                return ocid_error_set(err, OCID_ERR_INTERNAL, "%s: cannot write to disk", url);
        if (rc == CURLE_OPERATION_TIMEDOUT)
                return ocid_error_set(err, OCID_ERR_UNAVAILABLE, "%s: timed out (no progress)", url);
        return ocid_error_set(err, OCID_ERR_UNAVAILABLE, "%s: %s", url, curl_easy_strerror(rc));
}

/* ---- authentication ------------------------------------------------------ */

static char *url_escape(CURL *c, const char *s)
{
        char *e = curl_easy_escape(c, s, 0);
        char *r = xstrdup(e ? e : "");
        curl_free(e);
        return r;
}

/* Ask the realm for a bearer token for this repository. */
static int fetch_token(registry_session *s, const auth_challenge *ch, ocid_error *err)
{
        if (!ch->realm || !*ch->realm)
                return ocid_error_set(err, OCID_ERR_PERMISSION, "%s: bearer challenge without a realm",
                                      s->host);
        _cleanup_free_ char *scope = NULL;
        if (ch->scope)
                scope = xstrdup(ch->scope);
        else if (asprintf(&scope, "repository:%s:pull", s->repository) < 0)
                abort();
        _cleanup_free_ char *e_service = url_escape(s->curl, ch->service ? ch->service : "");
        _cleanup_free_ char *e_scope = url_escape(s->curl, scope);
        _cleanup_strbuf_ strbuf url = STRBUF_INIT;
        strbuf_adds(&url, ch->realm);
        _cleanup_strbuf_ strbuf form = STRBUF_INIT;
        struct curl_slist *headers = NULL;
        if (s->identity_token) {
                /* OAuth2 refresh-token grant, as docker login's identity token. */
                _cleanup_free_ char *e_token = url_escape(s->curl, s->identity_token);
                strbuf_addf(&form, "grant_type=refresh_token&client_id=ocid&service=%s&scope=%s&refresh_token=%s",
                            e_service, e_scope, e_token);
        } else {
                strbuf_addf(&url, "%sservice=%s&scope=%s", strchr(ch->realm, '?') ? "&" : "?",
                            e_service, e_scope);
                if (s->basic) {
                        _cleanup_free_ char *h = NULL;
                        if (asprintf(&h, "Authorization: Basic %s", s->basic) < 0)
                                abort();
                        headers = curl_slist_append(headers, h);
                }
        }
        transfer t = { .session = s, .fd = -1, .max_body = TOKEN_RESPONSE_MAX, .expected = -1,
                       .body = STRBUF_INIT, .error_body = STRBUF_INIT };
        int r = perform(s, url.buf, headers, form.len ? form.buf : NULL, &t, err);
        curl_slist_free_all(headers);
        if (r == 0 && (t.status < 200 || t.status >= 300))
                r = ocid_error_set(err, OCID_ERR_PERMISSION,
                                   "%s: token request refused (HTTP %ld)%s", s->host, t.status,
                                   s->basic || s->identity_token ? "" : "; credentials may be needed");
        json_object *doc = r == 0 ? json_tokener_parse(t.body.buf) : NULL;
        json_object *tok = NULL;
        if (r == 0 && !(doc && (json_object_object_get_ex(doc, "token", &tok) ||
                                json_object_object_get_ex(doc, "access_token", &tok)) &&
                        json_object_is_type(tok, json_type_string)))
                r = ocid_error_set(err, OCID_ERR_PERMISSION, "%s: token response has no token", s->host);
        if (r == 0) {
                free(s->authorization);
                if (asprintf(&s->authorization, "Bearer %s", json_object_get_string(tok)) < 0)
                        abort();
        }
        json_object_put(doc);
        transfer_release(&t);
        return r;
}

/* After a 401: work out credentials from the challenge. */
static int authenticate(registry_session *s, const char *challenge, ocid_error *err)
{
        if (!challenge)
                return ocid_error_set(err, OCID_ERR_PERMISSION,
                                      "%s: unauthorized without a WWW-Authenticate challenge", s->host);
        auth_challenge ch;
        if (auth_challenge_parse(challenge, &ch, err) < 0)
                return ocid_error_wrap(err, "%s", s->host);
        int r;
        if (STREQ(ch.scheme, "basic")) {
                if (!s->basic)
                        r = ocid_error_set(err, OCID_ERR_PERMISSION,
                                           "%s: authentication required (basic); no credentials given",
                                           s->host);
                else {
                        free(s->authorization);
                        if (asprintf(&s->authorization, "Basic %s", s->basic) < 0)
                                abort();
                        r = 0;
                }
        } else if (STREQ(ch.scheme, "bearer")) {
                if (s->registry_token) {
                        free(s->authorization);
                        if (asprintf(&s->authorization, "Bearer %s", s->registry_token) < 0)
                                abort();
                        r = 0;
                } else {
                        r = fetch_token(s, &ch, err);
                }
        } else {
                r = ocid_error_set(err, OCID_ERR_PERMISSION, "%s: unsupported authentication scheme '%s'",
                                   s->host, ch.scheme);
        }
        auth_challenge_release(&ch);
        return r;
}

/* GET with authentication: one retry after a 401 with fresh credentials. */
static int get(registry_session *s, const char *url, const char *accept, transfer *t,
               ocid_error *err)
{
        for (int attempt = 0;; attempt++) {
                struct curl_slist *headers = NULL;
                _cleanup_free_ char *auth_header = NULL, *accept_header = NULL;
                if (s->authorization) {
                        if (asprintf(&auth_header, "Authorization: %s", s->authorization) < 0)
                                abort();
                        headers = curl_slist_append(headers, auth_header);
                }
                if (accept) {
                        if (asprintf(&accept_header, "Accept: %s", accept) < 0)
                                abort();
                        headers = curl_slist_append(headers, accept_header);
                }
                int r = perform(s, url, headers, NULL, t, err);
                curl_slist_free_all(headers);
                if (r < 0)
                        return r;
                if (t->status != 401 || attempt > 0)
                        break;
                _cleanup_free_ char *challenge = t->www_authenticate ? xstrdup(t->www_authenticate) : NULL;
                if (authenticate(s, challenge, err) < 0)
                        return -1;
                /* Start the retry from a clean slate. */
                strbuf_reset(&t->body);
                strbuf_reset(&t->error_body);
                t->received = 0;
                if (t->md)
                        sha256_init(t->md);
                if (t->fd >= 0 && (ftruncate(t->fd, 0) < 0 || lseek(t->fd, 0, SEEK_SET) < 0))
                        return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "truncate");
        }
        if (t->status >= 200 && t->status < 300)
                return 0;
        _cleanup_strbuf_ strbuf msg = STRBUF_INIT;
        registry_message(&t->error_body, &msg);
        ocid_error_kind kind = t->status == 404 ? OCID_ERR_NOT_FOUND
                               : t->status == 401 || t->status == 403 ? OCID_ERR_PERMISSION
                               : t->status == 429 || t->status >= 500 ? OCID_ERR_UNAVAILABLE
                                                                      : OCID_ERR_INTERNAL;
        return ocid_error_set(err, kind, "%s: HTTP %ld%s%s", url, t->status, msg.len ? ": " : "",
                              msg.buf);
}

/* ---- sessions ------------------------------------------------------------ */

static char *existing(const char *dir, const char *name)
{
        char *path = NULL;
        struct stat st;
        if (asprintf(&path, "%s/%s", dir, name) < 0)
                abort();
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
                return path;
        free(path);
        return NULL;
}

int registry_session_new(const pull_source *src, const registry_auth *auth,
                         const registry_options *opts, registry_session **ret, ocid_error *err)
{
        registry_session *s = xcalloc(1, sizeof(*s));
        s->curl = curl_easy_init();
        if (!s->curl) {
                free(s);
                return ocid_error_set(err, OCID_ERR_RESOURCE, "cannot create an HTTP client");
        }
        s->opts = *opts;
        s->host = xstrdup(src->host);
        s->repository = xstrdup(src->repository);
        s->insecure = src->insecure;
        /* Docker Hub's API is not served at its name. */
        const char *api_host = STREQ(src->host, "docker.io") ? "registry-1.docker.io" : src->host;
        if (asprintf(&s->base, "%s://%s/v2/%s", s->insecure ? "http" : "https", api_host,
                     s->repository) < 0)
                abort();
        if (auth) {
                if (auth->auth && *auth->auth)
                        s->basic = xstrdup(auth->auth);
                else if (auth->username && *auth->username) {
                        _cleanup_free_ char *plain = NULL;
                        if (asprintf(&plain, "%s:%s", auth->username,
                                     auth->password ? auth->password : "") < 0)
                                abort();
                        size_t n = strlen(plain);
                        s->basic = xcalloc(BASE64_ENCODE_RAW_LENGTH(n) + 1, 1);
                        base64_encode_raw(s->basic, n, (const uint8_t *)plain);
                }
                if (auth->identity_token && *auth->identity_token)
                        s->identity_token = xstrdup(auth->identity_token);
                if (auth->registry_token && *auth->registry_token)
                        s->registry_token = xstrdup(auth->registry_token);
        }
        if (opts->certs_dir && !s->insecure) {
                _cleanup_free_ char *dir = NULL;
                if (asprintf(&dir, "%s/%s", opts->certs_dir, src->host) < 0)
                        abort();
                s->ca_file = existing(dir, "ca.crt");
                s->client_cert = existing(dir, "client.cert");
                s->client_key = existing(dir, "client.key");
        }
        *ret = s;
        return 0;
}

void registry_session_free(registry_session *s)
{
        if (!s)
                return;
        curl_easy_cleanup(s->curl);
        free(s->base);
        free(s->host);
        free(s->repository);
        free(s->basic);
        free(s->identity_token);
        free(s->registry_token);
        free(s->authorization);
        free(s->ca_file);
        free(s->client_cert);
        free(s->client_key);
        free(s);
}

static char *hex_digest(struct sha256_ctx *md)
{
        uint8_t raw[SHA256_DIGEST_SIZE];
        char d[DIGEST_SHA256_STRSIZE];
        sha256_digest(md, sizeof(raw), raw);
        digest_sha256_format(raw, d);
        return xstrdup(d);
}

int registry_fetch_manifest(registry_session *s, const char *reference, char **ret_body,
                            size_t *ret_len, char **ret_content_type, char **ret_digest,
                            ocid_error *err)
{
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s/manifests/%s", s->base, reference) < 0)
                abort();
        struct sha256_ctx md;
        sha256_init(&md);
        transfer t = { .session = s, .fd = -1, .max_body = MANIFEST_MAX_SIZE, .expected = -1,
                       .body = STRBUF_INIT, .error_body = STRBUF_INIT, .md = &md };
        static const char accept[] = MEDIA_OCI_INDEX ", " MEDIA_OCI_MANIFEST ", " MEDIA_DOCKER_LIST
                                     ", " MEDIA_DOCKER_MANIFEST ", " MEDIA_DOCKER_V1_SIGNED;
        int r = get(s, url, accept, &t, err);
        if (t.overflow) {
                /* perform() stopped the transfer at the bound: say which. */
                ocid_error_clear(err);
                r = ocid_error_set(err, OCID_ERR_RESOURCE, "%s: manifest larger than %d bytes", url,
                                   MANIFEST_MAX_SIZE);
        }
        if (r == 0) {
                char *digest = hex_digest(t.md);
                if (strncmp(reference, "sha256:", 7) == 0 && !STREQ(reference, digest)) {
                        r = ocid_error_set(err, OCID_ERR_INVALID, "%s: content has digest %s", url, digest);
                        free(digest);
                } else {
                        *ret_digest = digest;
                        *ret_content_type = t.content_type ? xstrdup(t.content_type) : NULL;
                        *ret_body = strbuf_detach(&t.body, ret_len);
                }
        }
        transfer_release(&t);
        return r;
}

int registry_fetch_blob(registry_session *s, const char *digest, int64_t size, int out_fd,
                        ocid_error *err)
{
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s/blobs/%s", s->base, digest) < 0)
                abort();
        struct sha256_ctx md;
        sha256_init(&md);
        transfer t = { .session = s, .fd = out_fd, .expected = size, .body = STRBUF_INIT,
                       .error_body = STRBUF_INIT, .md = &md };
        int r = get(s, url, NULL, &t, err);
        if (r == 0 && size >= 0 && t.received != size)
                r = ocid_error_set(err, OCID_ERR_INVALID, "blob %s: got %lld bytes, expected %lld",
                                   digest, (long long)t.received, (long long)size);
        if (r == 0) {
                _cleanup_free_ char *got = hex_digest(t.md);
                if (!STREQ(got, digest))
                        r = ocid_error_set(err, OCID_ERR_INVALID, "blob %s: content has digest %s",
                                           digest, got);
        }
        transfer_release(&t);
        return r;
}
