#include "image/pull.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "image/registries.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

/* One download shared by every caller pulling the same reference. */
typedef struct inflight {
        char *key;
        unsigned waiters;     /* callers still interested */
        bool done;
        int result;
        char *id;
        ocid_error err;
        atomic_bool abort;    /* every waiter gave up, or a layer failed */
        struct inflight *next;
} inflight;

struct puller {
        store *store;
        char *registries_conf;
        char *registries_conf_dir;
        char *certs_dir;
        unsigned max_parallel_layers;
        long stall_timeout_s;
        pthread_mutex_t lock;
        pthread_cond_t changed;
        inflight *pulls;
};

typedef struct {
        puller *p;
        inflight *job;
        image_ref *ref;      /* as asked, normalised */
        registry_auth auth;  /* owned copies */
        char *strings[5];
} pull_task;

int puller_new(store *st, const puller_options *opts, puller **ret, ocid_error *err)
{
        puller *p = xcalloc(1, sizeof(*p));
        p->store = st;
        p->registries_conf = xstrdup(opts->registries_conf ? opts->registries_conf : "");
        p->registries_conf_dir = xstrdup(opts->registries_conf_dir ? opts->registries_conf_dir : "");
        p->certs_dir = opts->certs_dir ? xstrdup(opts->certs_dir) : NULL;
        p->max_parallel_layers = opts->max_parallel_layers ? opts->max_parallel_layers : 3;
        p->stall_timeout_s = opts->stall_timeout_s;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->changed, NULL);
        *ret = p;
        return 0;
}

void puller_free(puller *p)
{
        if (!p)
                return;
        /* Pull threads own their inflight entries: stop them and wait. */
        pthread_mutex_lock(&p->lock);
        for (inflight *job = p->pulls; job; job = job->next)
                atomic_store(&job->abort, true);
        while (p->pulls)
                pthread_cond_wait(&p->changed, &p->lock);
        pthread_mutex_unlock(&p->lock);
        free(p->registries_conf);
        free(p->registries_conf_dir);
        free(p->certs_dir);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->changed);
        free(p);
}

static int load_registries(puller *p, registries_conf **ret, ocid_error *err)
{
        /* Read on every pull: an edited registries.conf applies at once. */
        return registries_conf_load(p->registries_conf, p->registries_conf_dir, ret, err);
}

/* ---- one pull from one source -------------------------------------------- */

typedef struct {
        puller *p;
        const pull_source *src;
        const registry_auth *auth;
        atomic_bool *abort;
        const descriptor *layers;
        char **chain_ids;
        char **diff_ids;
        bool *present;
        layer_info *infos;
        size_t n;
        atomic_size_t next;
        pthread_mutex_t lock;
        ocid_error err;       /* the first failure */
} layer_jobs;

static registry_options session_options(puller *p, atomic_bool *abort)
{
        return (registry_options){ .certs_dir = p->certs_dir, .stall_timeout_s = p->stall_timeout_s,
                                   .cancelled = abort };
}

static int fetch_layer(layer_jobs *jobs, registry_session *session, size_t i, ocid_error *err)
{
        _cleanup_close_ int fd = -1;
        const descriptor *d = &jobs->layers[i];
        if (store_tmpfile(jobs->p->store, &fd, err) < 0)
                return -1;
        log_debug("pull: fetching layer %s (%lld bytes)", d->digest, (long long)d->size);
        if (registry_fetch_blob(session, d->digest, d->size, fd, err) < 0)
                return -1;
        return store_layer_create(jobs->p->store, jobs->chain_ids[i], jobs->diff_ids[i], fd,
                                  jobs->abort, &jobs->infos[i], err);
}

/* Create layer i, unless another pull is creating it: then wait for that
 * and take its result (or try ourselves if it failed). */
static int obtain_layer(layer_jobs *jobs, registry_session *session, size_t i, ocid_error *err)
{
        store *st = jobs->p->store;
        for (;;) {
                if (store_layer_claim(st, jobs->chain_ids[i])) {
                        int r = fetch_layer(jobs, session, i, err);
                        store_layer_unclaim(st, jobs->chain_ids[i]);
                        return r;
                }
                if (store_layer_wait(st, jobs->chain_ids[i], jobs->abort)) {
                        log_debug("pull: layer %s came from another pull", jobs->chain_ids[i]);
                        jobs->infos[i].chain_id = xstrdup(jobs->chain_ids[i]);
                        jobs->infos[i].diff_id = xstrdup(jobs->diff_ids[i]);
                        store_layer_usage(st, jobs->chain_ids[i], &jobs->infos[i].size, &jobs->infos[i].entries);
                        return 0;
                }
                if (atomic_load(jobs->abort))
                        return ocid_error_set(err, OCID_ERR_CANCELLED, "pull cancelled");
        }
}

static void *layer_worker(void *arg)
{
        layer_jobs *jobs = arg;
        registry_session *session = NULL;
        ocid_error err = OCID_ERROR_INIT;
        registry_options opts = session_options(jobs->p, jobs->abort);
        if (registry_session_new(jobs->src, jobs->auth, &opts, &session, &err) == 0) {
                size_t i;
                while (!atomic_load(jobs->abort) && (i = atomic_fetch_add(&jobs->next, 1)) < jobs->n) {
                        if (jobs->present[i])
                                continue;
                        if (obtain_layer(jobs, session, i, &err) < 0)
                                break;
                }
        }
        registry_session_free(session);
        if (err.kind != OCID_OK) {
                pthread_mutex_lock(&jobs->lock);
                /* The first real failure wins over the cancellations it caused. */
                if (jobs->err.kind == OCID_OK || jobs->err.kind == OCID_ERR_CANCELLED) {
                        ocid_error_clear(&jobs->err);
                        jobs->err = err;
                        err = (ocid_error)OCID_ERROR_INIT;
                }
                pthread_mutex_unlock(&jobs->lock);
                atomic_store(jobs->abort, true);
        }
        ocid_error_clear(&err);
        return NULL;
}

static int fetch_config(puller *p, registry_session *session, const descriptor *d, char **ret,
                        ocid_error *err)
{
        if (d->size > IMAGE_CONFIG_MAX_SIZE)
                return ocid_error_set(err, OCID_ERR_RESOURCE, "image config of %lld bytes is too large",
                                      (long long)d->size);
        /* An image with this config is stored already: its config was
         * verified against this digest when it was pulled. A re-pull then
         * fetches the manifest only. */
        image_record *have = NULL;
        ocid_error lookup_err = OCID_ERROR_INIT;
        if (store_image_find(p->store, d->digest, &have, &lookup_err) == 0 && STREQ(have->id, d->digest)) {
                *ret = TAKE_PTR(have->config_json);
                image_record_free(have);
                return 0;
        }
        image_record_free(have);
        ocid_error_clear(&lookup_err);
        _cleanup_close_ int fd = -1;
        if (store_tmpfile(p->store, &fd, err) < 0 ||
            registry_fetch_blob(session, d->digest, d->size, fd, err) < 0)
                return -1;
        char *buf = xcalloc((size_t)d->size + 1, 1);
        ssize_t n = pread(fd, buf, (size_t)d->size, 0);
        if (n != d->size) {
                free(buf);
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot read the image config");
        }
        *ret = buf;
        return 0;
}

/* Fetch the image manifest from src, resolving an index for this
 * platform. *ret_top_digest is the digest of the first document fetched
 * (the repo digest). */
static int fetch_image_manifest(registry_session *session, const pull_source *src, manifest **ret,
                                char **ret_top_digest, ocid_error *err)
{
        _cleanup_free_ char *body = NULL, *type = NULL, *digest = NULL;
        size_t len;
        /* The source says what to fetch there: a location naming a tag
         * rewrites the reference's own. */
        if (registry_fetch_manifest(session, src->digest ? src->digest : src->tag, &body, &len, &type,
                                    &digest, err) < 0)
                return -1;
        manifest *m = NULL;
        if (manifest_parse(type, body, len, &m, err) < 0)
                return -1;
        if (m->kind == MANIFEST_INDEX) {
                platform host = platform_host();
                const descriptor *chosen;
                if (manifest_select(m, &host, &chosen, err) < 0) {
                        manifest_free(m);
                        return -1;
                }
                _cleanup_free_ char *child_digest = xstrdup(chosen->digest);
                manifest_free(m);
                m = NULL;
                free(body);
                free(type);
                _cleanup_free_ char *got = NULL;
                body = type = NULL;
                if (registry_fetch_manifest(session, child_digest, &body, &len, &type, &got, err) < 0 ||
                    manifest_parse(type, body, len, &m, err) < 0)
                        return -1;
                if (m->kind != MANIFEST_IMAGE) {
                        manifest_free(m);
                        return ocid_error_set(err, OCID_ERR_INVALID, "index entry %s is not an image manifest",
                                              child_digest);
                }
        }
        *ret = m;
        *ret_top_digest = TAKE_PTR(digest);
        return 0;
}

static int pull_from(pull_task *t, const image_ref *cand, const pull_source *src, char **ret_id,
                     ocid_error *err)
{
        puller *p = t->p;
        registry_options opts = session_options(p, &t->job->abort);
        registry_session *session = NULL;
        manifest *m = NULL;
        _cleanup_free_ char *top_digest = NULL, *config_text = NULL;
        image_config *config = NULL;
        _cleanup_strv_ char **chain_ids = NULL;
        int r = registry_session_new(src, &t->auth, &opts, &session, err);
        if (r == 0)
                r = fetch_image_manifest(session, src, &m, &top_digest, err);
        if (r == 0)
                r = fetch_config(p, session, &m->config, &config_text, err);
        if (r == 0)
                r = image_config_parse(config_text, strlen(config_text), &config, err);
        if (r == 0 && strv_length(config->diff_ids) != m->n_layers)
                r = ocid_error_set(err, OCID_ERR_INVALID,
                                   "the manifest has %zu layers but the image config %zu diff IDs",
                                   m->n_layers, strv_length(config->diff_ids));
        if (r < 0) {
                registry_session_free(session);
                manifest_free(m);
                image_config_free(config);
                return r;
        }
        chain_ids = image_chain_ids(config->diff_ids);
        size_t n = m->n_layers;
        bool *present = xcalloc(n, sizeof(bool));
        layer_info *infos = xcalloc(n, sizeof(layer_info));
        size_t missing = 0;
        for (size_t i = 0; i < n; i++) {
                present[i] = store_layer_acquire(p->store, chain_ids[i]);
                if (present[i]) {
                        infos[i].chain_id = xstrdup(chain_ids[i]);
                        infos[i].diff_id = xstrdup(config->diff_ids[i]);
                        store_layer_usage(p->store, chain_ids[i], &infos[i].size, &infos[i].entries);
                } else {
                        missing++;
                }
        }
        log_debug("pull: %zu of %zu layers to fetch", missing, n);
        layer_jobs jobs = {
                .p = p, .src = src, .auth = &t->auth, .abort = &t->job->abort, .layers = m->layers,
                .chain_ids = chain_ids, .diff_ids = config->diff_ids, .present = present,
                .infos = infos, .n = n,
        };
        pthread_mutex_init(&jobs.lock, NULL);
        unsigned nthreads = missing < p->max_parallel_layers ? (unsigned)missing : p->max_parallel_layers;
        pthread_t threads[64];
        if (nthreads > ARRAY_SIZE(threads))
                nthreads = ARRAY_SIZE(threads);
        unsigned started = 0;
        for (; started < nthreads; started++)
                if (pthread_create(&threads[started], NULL, layer_worker, &jobs) != 0)
                        break;
        if (missing && started == 0)
                layer_worker(&jobs);
        for (unsigned i = 0; i < started; i++)
                pthread_join(threads[i], NULL);
        pthread_mutex_destroy(&jobs.lock);
        if (jobs.err.kind != OCID_OK) {
                *err = jobs.err;
                r = -1;
        } else if (atomic_load(&t->job->abort)) {
                r = ocid_error_set(err, OCID_ERR_CANCELLED, "pull cancelled");
        }

        if (r == 0) {
                image_record rec = { 0 };
                rec.id = m->config.digest;
                rec.manifest_digest = top_digest;
                rec.config_json = config_text;
                rec.pulled_at = (int64_t)time(NULL) * 1000000000LL;
                rec.size = (uint64_t)m->config.size;
                for (size_t i = 0; i < n; i++)
                        rec.size += (uint64_t)m->layers[i].size;
                /* Stored under the name asked for, whichever mirror or
                 * location served it. */
                _cleanup_free_ char *tagged = image_ref_tagged(t->ref->had_domain ? t->ref : cand);
                _cleanup_free_ char *digested =
                        image_ref_digested(t->ref->had_domain ? t->ref : cand, top_digest);
                char *tags[] = { tagged, NULL };
                char *digests[] = { digested, NULL };
                rec.repo_tags = tagged ? tags : NULL;
                rec.repo_digests = digests;
                r = store_image_add(p->store, &rec, infos, n, err);
                if (r == 0)
                        *ret_id = xstrdup(m->config.digest);
        }
        for (size_t i = 0; i < n; i++) {
                store_layer_release(p->store, chain_ids[i]);
                layer_info_release(&infos[i]);
        }
        free(infos);
        free(present);
        registry_session_free(session);
        manifest_free(m);
        image_config_free(config);
        return r;
}

/* With the lock held: unlink and free a finished job nobody waits for. */
static void job_free_locked(puller *p, inflight *job)
{
        for (inflight **pp = &p->pulls; *pp; pp = &(*pp)->next)
                if (*pp == job) {
                        *pp = job->next;
                        break;
                }
        free(job->key);
        free(job->id);
        ocid_error_clear(&job->err);
        free(job);
}

static void job_unref_locked(puller *p, inflight *job)
{
        if (--job->waiters == 0 && job->done)
                job_free_locked(p, job);
}

/* Try each candidate name and each of its sources until one works. */
static void *pull_thread(void *arg)
{
        pull_task *t = arg;
        puller *p = t->p;
        inflight *job = t->job;
        registries_conf *conf = NULL;
        image_ref **cands = NULL;
        size_t n_cands = 0;
        char *id = NULL;
        ocid_error err = OCID_ERROR_INIT;
        int r = load_registries(p, &conf, &err);
        if (r == 0 && !t->ref->had_domain)
                r = registries_expand_short_name(conf, t->ref, &cands, &n_cands, &err);
        else if (r == 0) {
                cands = xcalloc(1, sizeof(*cands));
                cands[0] = image_ref_copy(t->ref);
                n_cands = 1;
        }
        bool pulled = false;
        for (size_t c = 0; r == 0 && !pulled && c < n_cands; c++) {
                pull_source *sources = NULL;
                size_t n_sources = 0;
                ocid_error_clear(&err);
                if (registries_resolve(conf, cands[c], &sources, &n_sources, &err) < 0)
                        continue;
                for (size_t i = 0; i < n_sources && !pulled; i++) {
                        ocid_error_clear(&err);
                        if (pull_from(t, cands[c], &sources[i], &id, &err) == 0) {
                                pulled = true;
                                break;
                        }
                        log_debug("pull %s from %s/%s: %s", job->key, sources[i].host,
                                  sources[i].repository, err.message);
                        if (err.kind == OCID_ERR_CANCELLED)
                                break;
                }
                pull_sources_free(sources, n_sources);
        }
        if (!pulled && err.kind == OCID_OK)
                ocid_error_set(&err, OCID_ERR_NOT_FOUND, "no source to pull from");
        for (size_t c = 0; c < n_cands; c++)
                image_ref_free(cands[c]);
        free(cands);
        registries_conf_free(conf);

        pthread_mutex_lock(&p->lock);
        job->done = true;
        job->result = pulled ? 0 : -1;
        job->id = id;
        job->err = err;
        if (job->waiters == 0)
                job_free_locked(p, job); /* everyone gave up already */
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);

        image_ref_free(t->ref);
        for (size_t i = 0; i < ARRAY_SIZE(t->strings); i++)
                free(t->strings[i]);
        free(t);
        return NULL;
}

static char *dup_or_null(const char *s)
{
        return s && *s ? xstrdup(s) : NULL;
}

int image_pull(puller *p, const char *image, const registry_auth *auth,
               const atomic_bool *cancelled, char **ret_id, ocid_error *err)
{
        image_ref *ref = NULL;
        if (image_ref_parse(image, &ref, err) < 0)
                return -1;
        _cleanup_free_ char *key = image_ref_string(ref);

        pthread_mutex_lock(&p->lock);
        inflight *job = p->pulls;
        while (job && (!STREQ(job->key, key) || job->done || atomic_load(&job->abort)))
                job = job->next;
        if (job) {
                log_debug("pull %s: joining the download in progress", key);
                image_ref_free(ref);
        } else {
                job = xcalloc(1, sizeof(*job));
                job->key = xstrdup(key);
                job->next = p->pulls;
                p->pulls = job;
                pull_task *t = xcalloc(1, sizeof(*t));
                t->p = p;
                t->job = job;
                t->ref = ref;
                if (auth) {
                        t->auth.username = t->strings[0] = dup_or_null(auth->username);
                        t->auth.password = t->strings[1] = dup_or_null(auth->password);
                        t->auth.auth = t->strings[2] = dup_or_null(auth->auth);
                        t->auth.identity_token = t->strings[3] = dup_or_null(auth->identity_token);
                        t->auth.registry_token = t->strings[4] = dup_or_null(auth->registry_token);
                }
                pthread_t thread;
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                /* The entry lives until the thread is done and the last
                 * waiter has gone, whichever comes last. */
                if (pthread_create(&thread, &attr, pull_thread, t) != 0) {
                        job->done = true;
                        job->result = ocid_error_set(&job->err, OCID_ERR_RESOURCE, "cannot start a pull thread");
                        image_ref_free(ref);
                        free(t);
                }
                pthread_attr_destroy(&attr);
        }
        job->waiters++;
        int r;
        for (;;) {
                if (job->done) {
                        r = job->result;
                        if (r == 0)
                                *ret_id = xstrdup(job->id);
                        else
                                ocid_error_set(err, job->err.kind, "%s", job->err.message);
                        break;
                }
                if (cancelled && atomic_load(cancelled)) {
                        r = ocid_error_set(err, OCID_ERR_CANCELLED, "pull of '%s' cancelled", key);
                        if (job->waiters == 1)
                                atomic_store(&job->abort, true);
                        break;
                }
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 100 * 1000000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&p->changed, &p->lock, &ts);
        }
        job_unref_locked(p, job);
        pthread_mutex_unlock(&p->lock);
        return r;
}

int image_lookup(puller *p, const char *image, image_record **ret, ocid_error *err)
{
        const char *hex = strncmp(image, "sha256:", 7) == 0 ? image + 7 : image;
        if (strlen(hex) >= 3 && strspn(hex, "0123456789abcdef") == strlen(hex))
                if (store_image_find(p->store, image, ret, err) == 0 || err->kind != OCID_ERR_NOT_FOUND)
                        return err->kind == OCID_OK ? 0 : -1;
        ocid_error_clear(err);
        image_ref *ref = NULL;
        if (image_ref_parse(image, &ref, err) < 0)
                return -1;
        image_ref **cands = NULL;
        size_t n = 0;
        registries_conf *conf = NULL;
        int r = 0;
        if (ref->had_domain) {
                cands = xcalloc(1, sizeof(*cands));
                cands[0] = image_ref_copy(ref);
                n = 1;
        } else {
                r = load_registries(p, &conf, err);
                if (r == 0)
                        r = registries_expand_short_name(conf, ref, &cands, &n, err);
        }
        for (size_t i = 0; r == 0 && i < n; i++) {
                /* A tag+digest reference is stored by its digest. */
                _cleanup_free_ char *name = cands[i]->digest
                        ? image_ref_digested(cands[i], cands[i]->digest)
                        : image_ref_tagged(cands[i]);
                ocid_error_clear(err);
                if (store_image_find(p->store, name, ret, err) == 0)
                        break;
                if (err->kind != OCID_ERR_NOT_FOUND)
                        r = -1;
                else if (i + 1 == n)
                        r = -1;
        }
        if (n == 0 && r == 0)
                r = ocid_error_set(err, OCID_ERR_NOT_FOUND, "image '%s' not found", image);
        for (size_t i = 0; i < n; i++)
                image_ref_free(cands[i]);
        free(cands);
        registries_conf_free(conf);
        image_ref_free(ref);
        return r;
}
