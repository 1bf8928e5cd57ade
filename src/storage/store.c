#include "storage/store.h"
#include "storage/db.h"
#include "storage/unpack_child.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct hold {
        char *chain_id;
        unsigned count;
        /* What unpacking the layer found, set before the layer directory
         * appears: a pull that finds the layer on disk before its creator
         * has recorded it in the database takes the numbers from here. */
        bool have_usage;
        uint64_t size, entries;
        bool creating;          /* a pull is downloading and unpacking it */
        struct hold *next;
} hold;

struct store {
        char *root;
        char *layers_dir;
        char *tmp_dir;
        sqlite3 *db;
        sqlite3 *db_users; /* the same file, for layer_users: no fsync per change */
        pthread_mutex_t lock; /* the database handle and the holds */
        hold *holds;
        pthread_cond_t layer_done; /* a claimed layer was created or given up */
};

static const char schema[] =
        "PRAGMA foreign_keys = ON;"
        "CREATE TABLE IF NOT EXISTS images ("
        "  id TEXT PRIMARY KEY,"
        "  manifest_digest TEXT NOT NULL,"
        "  config TEXT NOT NULL,"
        "  size INTEGER NOT NULL,"
        "  pulled_at INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS image_names ("
        "  name TEXT PRIMARY KEY,"
        "  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
        "  is_digest INTEGER NOT NULL);"
        "CREATE INDEX IF NOT EXISTS image_names_by_image ON image_names(image_id);"
        "CREATE TABLE IF NOT EXISTS layers ("
        "  chain_id TEXT PRIMARY KEY,"
        "  diff_id TEXT NOT NULL,"
        "  size INTEGER NOT NULL,"
        "  entries INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS image_layers ("
        "  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
        "  position INTEGER NOT NULL,"
        "  chain_id TEXT NOT NULL REFERENCES layers(chain_id),"
        "  PRIMARY KEY (image_id, position));"
        "CREATE INDEX IF NOT EXISTS image_layers_by_layer ON image_layers(chain_id);"
        /* Layers a container's root filesystem is mounted from. */
        "CREATE TABLE IF NOT EXISTS layer_users ("
        "  user_id TEXT NOT NULL,"
        "  chain_id TEXT NOT NULL,"
        "  PRIMARY KEY (user_id, chain_id));";

static int db_error(store *s, ocid_error *err, const char *what)
{
        return ocid_error_set(err, OCID_ERR_INTERNAL, "metadata: %s: %s", what, sqlite3_errmsg(s->db));
}

static const char *hex_of(const char *digest)
{
        return strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : digest;
}

char *store_layer_path(const store *s, const char *chain_id)
{
        char *p;
        if (asprintf(&p, "%s/%s/diff", s->layers_dir, hex_of(chain_id)) < 0)
                abort();
        return p;
}

const char *store_layers_dir(const store *s)
{
        return s->layers_dir;
}

static bool layer_in_db(store *s, const char *hex)
{
        sqlite3_stmt *st;
        bool found = false;
        if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM layers WHERE chain_id = ?", -1, &st, NULL) != SQLITE_OK)
                return true; /* when in doubt, keep it */
        _cleanup_free_ char *chain = NULL;
        if (asprintf(&chain, "sha256:%s", hex) < 0)
                abort();
        sqlite3_bind_text(st, 1, chain, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        return found;
}

/* Remove what a crash can leave: tmp/ contents and layer directories that
 * no image's transaction recorded. */
static void recover(store *s)
{
        fs_remove_tree(s->tmp_dir);
        fs_mkdir_p(s->tmp_dir, 0700);
        DIR *d = opendir(s->layers_dir);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (!layer_in_db(s, de->d_name)) {
                        _cleanup_free_ char *p = fs_path_join(s->layers_dir, de->d_name);
                        log_info("storage: removing unreferenced layer %s", de->d_name);
                        fs_remove_tree(p);
                }
        }
        closedir(d);
}

int store_open(const char *root, store **ret, ocid_error *err)
{
        store *s = xcalloc(1, sizeof(*s));
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->layer_done, NULL);
        s->root = xstrdup(root);
        s->layers_dir = fs_path_join(root, "layers");
        s->tmp_dir = fs_path_join(root, "tmp");
        int r;
        if ((r = fs_mkdir_p(s->layers_dir, 0700)) < 0 || (r = fs_mkdir_p(s->tmp_dir, 0700)) < 0) {
                store_close(s);
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, r, "cannot create %s", root);
        }
        _cleanup_free_ char *db_path = fs_path_join(root, "ocid.db");
        /* Layer users are containers, which a reboot ends: their rows need
         * not cost an fsync each. */
        if (db_open(db_path, schema, DB_DURABLE, &s->db, err) < 0 ||
            db_open(db_path, "", DB_SURVIVES_CRASHES, &s->db_users, err) < 0) {
                store_close(s);
                return -1;
        }
        recover(s);
        *ret = s;
        return 0;
}

void store_close(store *s)
{
        if (!s)
                return;
        if (s->db)
                sqlite3_close(s->db);
        if (s->db_users)
                sqlite3_close(s->db_users);
        while (s->holds) {
                hold *h = s->holds;
                s->holds = h->next;
                free(h->chain_id);
                free(h);
        }
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->layer_done);
        free(s->root);
        free(s->layers_dir);
        free(s->tmp_dir);
        free(s);
}

void layer_info_release(layer_info *l)
{
        free(l->chain_id);
        free(l->diff_id);
        *l = (layer_info){ 0 };
}

/* ---- holds and layer garbage collection ---------------------------------- */

static bool layer_referenced(store *s, const char *chain_id)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM image_layers WHERE chain_id = ?1 UNION ALL "
                                      "SELECT 1 FROM layer_users WHERE chain_id = ?1 LIMIT 1", -1,
                               &st, NULL) != SQLITE_OK)
                return true;
        sqlite3_bind_text(st, 1, chain_id, -1, SQLITE_STATIC);
        bool found = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        return found;
}

static bool held(store *s, const char *chain_id)
{
        for (hold *h = s->holds; h; h = h->next)
                if (STREQ(h->chain_id, chain_id))
                        return true;
        return false;
}

/* With the lock held: delete a layer nobody uses, on disk and in the db. */
static void collect_layer(store *s, const char *chain_id)
{
        if (held(s, chain_id) || layer_referenced(s, chain_id))
                return;
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, "DELETE FROM layers WHERE chain_id = ?", -1, &st, NULL) == SQLITE_OK) {
                sqlite3_bind_text(st, 1, chain_id, -1, SQLITE_STATIC);
                sqlite3_step(st);
                sqlite3_finalize(st);
        }
        _cleanup_free_ char *dir = fs_path_join(s->layers_dir, hex_of(chain_id));
        int r = fs_remove_tree(dir);
        if (r < 0)
                log_warn("storage: cannot remove layer %s: %s", chain_id, strerror(-r));
        else
                log_debug("storage: removed layer %s", chain_id);
}

static hold *find_hold(store *s, const char *chain_id)
{
        hold *h = s->holds;
        while (h && !STREQ(h->chain_id, chain_id))
                h = h->next;
        return h;
}

void store_layer_usage(store *s, const char *chain_id, uint64_t *ret_size, uint64_t *ret_entries)
{
        *ret_size = *ret_entries = 0;
        pthread_mutex_lock(&s->lock);
        sqlite3_stmt *st;
        bool found = false;
        if (sqlite3_prepare_v2(s->db, "SELECT size, entries FROM layers WHERE chain_id = ?", -1, &st,
                               NULL) == SQLITE_OK) {
                sqlite3_bind_text(st, 1, chain_id, -1, SQLITE_STATIC);
                if (sqlite3_step(st) == SQLITE_ROW) {
                        *ret_size = (uint64_t)sqlite3_column_int64(st, 0);
                        *ret_entries = (uint64_t)sqlite3_column_int64(st, 1);
                        found = true;
                }
                sqlite3_finalize(st);
        }
        hold *h = found ? NULL : find_hold(s, chain_id);
        if (h && h->have_usage) {
                *ret_size = h->size;
                *ret_entries = h->entries;
        }
        pthread_mutex_unlock(&s->lock);
}

bool store_layer_acquire(store *s, const char *chain_id)
{
        pthread_mutex_lock(&s->lock);
        hold *h = s->holds;
        while (h && !STREQ(h->chain_id, chain_id))
                h = h->next;
        if (!h) {
                h = xcalloc(1, sizeof(*h));
                h->chain_id = xstrdup(chain_id);
                h->next = s->holds;
                s->holds = h;
        }
        h->count++;
        _cleanup_free_ char *path = store_layer_path(s, chain_id);
        struct stat st;
        bool present = stat(path, &st) == 0;
        pthread_mutex_unlock(&s->lock);
        return present;
}

static bool layer_on_disk(const store *s, const char *chain_id)
{
        _cleanup_free_ char *path = store_layer_path(s, chain_id);
        struct stat st;
        return stat(path, &st) == 0;
}

bool store_layer_claim(store *s, const char *chain_id)
{
        pthread_mutex_lock(&s->lock);
        hold *h = find_hold(s, chain_id);
        bool mine = h && !h->creating && !layer_on_disk(s, chain_id);
        if (mine)
                h->creating = true;
        pthread_mutex_unlock(&s->lock);
        return mine;
}

void store_layer_unclaim(store *s, const char *chain_id)
{
        pthread_mutex_lock(&s->lock);
        hold *h = find_hold(s, chain_id);
        if (h)
                h->creating = false;
        pthread_cond_broadcast(&s->layer_done);
        pthread_mutex_unlock(&s->lock);
}

bool store_layer_wait(store *s, const char *chain_id, const atomic_bool *cancelled)
{
        pthread_mutex_lock(&s->lock);
        hold *h;
        while ((h = find_hold(s, chain_id)) && h->creating && !(cancelled && atomic_load(cancelled))) {
                /* Wake now and then to notice a cancellation. */
                struct timespec t;
                clock_gettime(CLOCK_REALTIME, &t);
                t.tv_nsec += 100000000;
                if (t.tv_nsec >= 1000000000) {
                        t.tv_sec++;
                        t.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&s->layer_done, &s->lock, &t);
        }
        bool present = layer_on_disk(s, chain_id);
        pthread_mutex_unlock(&s->lock);
        return present;
}

void store_layer_release(store *s, const char *chain_id)
{
        pthread_mutex_lock(&s->lock);
        for (hold **pp = &s->holds; *pp; pp = &(*pp)->next) {
                hold *h = *pp;
                if (!STREQ(h->chain_id, chain_id))
                        continue;
                if (--h->count == 0) {
                        *pp = h->next;
                        free(h->chain_id);
                        free(h);
                        collect_layer(s, chain_id);
                }
                break;
        }
        pthread_mutex_unlock(&s->lock);
}

int store_tmpfile(store *s, int *ret_fd, ocid_error *err)
{
        int fd = open(s->tmp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot create a file in %s",
                                            s->tmp_dir);
        *ret_fd = fd;
        return 0;
}

int store_layer_create(store *s, const char *chain_id, const char *diff_id, int blob_fd,
                       const atomic_bool *cancelled, layer_info *ret, ocid_error *err)
{
        /* Unpack into tmp/, then rename the finished tree into place. */
        _cleanup_free_ char *work = NULL;
        if (asprintf(&work, "%s/layer-%s-XXXXXX", s->tmp_dir, hex_of(chain_id)) < 0)
                abort();
        if (!mkdtemp(work))
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot create %s", work);
        _cleanup_free_ char *diff = fs_path_join(work, "diff");
        int r = 0;
        unpack_result res = { 0 };
        if (mkdir(diff, 0755) < 0) {
                r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno, "cannot create %s", diff);
        } else {
                r = layer_unpack_child(blob_fd, diff, cancelled, &res, err);
        }
        if (r == 0 && !STREQ(res.diff_id, diff_id))
                r = ocid_error_set(err, OCID_ERR_INVALID,
                                   "layer %s: uncompressed content has digest %s, the image config says %s",
                                   chain_id, res.diff_id, diff_id);
        if (r == 0) {
                pthread_mutex_lock(&s->lock);
                hold *h = find_hold(s, chain_id);
                if (h && !h->have_usage) {
                        h->have_usage = true;
                        h->size = res.size;
                        h->entries = res.entries;
                }
                pthread_mutex_unlock(&s->lock);
                _cleanup_free_ char *dest = fs_path_join(s->layers_dir, hex_of(chain_id));
                if (rename(work, dest) < 0) {
                        /* Another pull finished the same layer first: keep theirs. */
                        if (errno != EEXIST && errno != ENOTEMPTY)
                                r = ocid_error_set_errno(err, OCID_ERR_INTERNAL, errno,
                                                         "cannot move layer into %s", dest);
                }
        }
        if (r == 0) {
                ret->chain_id = xstrdup(chain_id);
                ret->diff_id = xstrdup(diff_id);
                ret->size = res.size;
                ret->entries = res.entries;
        }
        fs_remove_tree(work); /* after a successful rename it is gone already */
        unpack_result_release(&res);
        return r;
}

/* ---- images ---------------------------------------------------------------- */

void image_record_free(image_record *r)
{
        if (!r)
                return;
        free(r->id);
        strv_free(r->repo_tags);
        strv_free(r->repo_digests);
        free(r->manifest_digest);
        free(r->config_json);
        strv_free(r->layers);
        free(r);
}

void image_records_free(image_record **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                image_record_free(v[i]);
        free(v);
}

static int exec_bound(store *s, sqlite3 *db, const char *sql, ocid_error *err, int n, ...)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
                return db_error(s, err, "prepare");
        va_list ap;
        va_start(ap, n);
        for (int i = 1; i <= n; i++) {
                int type = va_arg(ap, int);
                if (type == 's')
                        sqlite3_bind_text(st, i, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
                else
                        sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
        }
        va_end(ap);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_error(s, err, "write");
}

#define S(v) 's', (const char *)(v)
#define I(v) 'i', (int64_t)(v)

int store_image_add(store *s, const image_record *img, const layer_info *layers, size_t n_layers,
                    ocid_error *err)
{
        pthread_mutex_lock(&s->lock);
        int r = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
                ? 0 : db_error(s, err, "begin");
        if (r == 0)
                r = exec_bound(s, s->db, "INSERT INTO images(id, manifest_digest, config, size, pulled_at) "
                                  "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET pulled_at = excluded.pulled_at",
                               err, 5, S(img->id), S(img->manifest_digest), S(img->config_json),
                               I(img->size), I(img->pulled_at));
        for (size_t i = 0; r == 0 && i < n_layers; i++) {
                r = exec_bound(s, s->db, "INSERT OR IGNORE INTO layers(chain_id, diff_id, size, entries) "
                                  "VALUES (?, ?, ?, ?)",
                               err, 4, S(layers[i].chain_id), S(layers[i].diff_id),
                               I(layers[i].size), I(layers[i].entries));
                if (r == 0)
                        r = exec_bound(s, s->db, "INSERT OR IGNORE INTO image_layers(image_id, position, chain_id) "
                                          "VALUES (?, ?, ?)",
                                       err, 3, S(img->id), I(i), S(layers[i].chain_id));
        }
        for (size_t i = 0; r == 0 && img->repo_tags && img->repo_tags[i]; i++)
                r = exec_bound(s, s->db, "INSERT OR REPLACE INTO image_names(name, image_id, is_digest) VALUES (?, ?, 0)",
                               err, 2, S(img->repo_tags[i]), S(img->id));
        for (size_t i = 0; r == 0 && img->repo_digests && img->repo_digests[i]; i++)
                r = exec_bound(s, s->db, "INSERT OR REPLACE INTO image_names(name, image_id, is_digest) VALUES (?, ?, 1)",
                               err, 2, S(img->repo_digests[i]), S(img->id));
        if (r == 0 && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
                r = db_error(s, err, "commit");
        if (r < 0)
                sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        pthread_mutex_unlock(&s->lock);
        return r;
}

/* Fill names and layers of a record whose id and columns are set. */
static int load_details(store *s, image_record *rec, ocid_error *err)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, "SELECT name, is_digest FROM image_names WHERE image_id = ? ORDER BY name",
                               -1, &st, NULL) != SQLITE_OK)
                return db_error(s, err, "prepare");
        sqlite3_bind_text(st, 1, rec->id, -1, SQLITE_STATIC);
        rec->repo_tags = xcalloc(1, sizeof(char *));
        rec->repo_digests = xcalloc(1, sizeof(char *));
        while (sqlite3_step(st) == SQLITE_ROW) {
                const char *name = (const char *)sqlite3_column_text(st, 0);
                if (sqlite3_column_int(st, 1))
                        rec->repo_digests = strv_push(rec->repo_digests, name);
                else
                        rec->repo_tags = strv_push(rec->repo_tags, name);
        }
        sqlite3_finalize(st);
        if (sqlite3_prepare_v2(s->db, "SELECT chain_id FROM image_layers WHERE image_id = ? ORDER BY position",
                               -1, &st, NULL) != SQLITE_OK)
                return db_error(s, err, "prepare");
        sqlite3_bind_text(st, 1, rec->id, -1, SQLITE_STATIC);
        rec->layers = xcalloc(1, sizeof(char *));
        while (sqlite3_step(st) == SQLITE_ROW)
                rec->layers = strv_push(rec->layers, (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return 0;
}

static image_record *record_from_row(sqlite3_stmt *st)
{
        image_record *rec = xcalloc(1, sizeof(*rec));
        rec->id = xstrdup((const char *)sqlite3_column_text(st, 0));
        rec->manifest_digest = xstrdup((const char *)sqlite3_column_text(st, 1));
        rec->config_json = xstrdup((const char *)sqlite3_column_text(st, 2));
        rec->size = (uint64_t)sqlite3_column_int64(st, 3);
        rec->pulled_at = sqlite3_column_int64(st, 4);
        return rec;
}

#define IMAGE_COLUMNS "SELECT id, manifest_digest, config, size, pulled_at FROM images "

int store_image_find(store *s, const char *name, image_record **ret, ocid_error *err)
{
        pthread_mutex_lock(&s->lock);
        sqlite3_stmt *st = NULL;
        int r = 0;
        image_record *rec = NULL;
        /* By name, then by full ID, then by a unique prefix of the ID. */
        const char *hex = hex_of(name);
        size_t hexlen = strspn(hex, "0123456789abcdef");
        bool id_like = hexlen == strlen(hex) && hexlen >= 3;
        _cleanup_free_ char *pattern = NULL;
        if (asprintf(&pattern, "sha256:%s%%", id_like ? hex : "") < 0)
                abort();
        if (sqlite3_prepare_v2(s->db,
                               IMAGE_COLUMNS "WHERE id IN (SELECT image_id FROM image_names WHERE name = ?1) "
                               "OR id = ?1 OR (?2 AND id LIKE ?3) LIMIT 2",
                               -1, &st, NULL) != SQLITE_OK) {
                r = db_error(s, err, "prepare");
        } else {
                sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
                sqlite3_bind_int(st, 2, id_like);
                sqlite3_bind_text(st, 3, pattern, -1, SQLITE_STATIC);
                if (sqlite3_step(st) == SQLITE_ROW)
                        rec = record_from_row(st);
                if (rec && sqlite3_step(st) == SQLITE_ROW) {
                        r = ocid_error_set(err, OCID_ERR_INVALID, "image ID prefix '%s' is ambiguous", name);
                } else if (!rec) {
                        r = ocid_error_set(err, OCID_ERR_NOT_FOUND, "image '%s' not found", name);
                }
        }
        sqlite3_finalize(st);
        if (r == 0)
                r = load_details(s, rec, err);
        pthread_mutex_unlock(&s->lock);
        if (r < 0) {
                image_record_free(rec);
                return r;
        }
        *ret = rec;
        return 0;
}

int store_image_list(store *s, image_record ***ret, size_t *ret_n, ocid_error *err)
{
        pthread_mutex_lock(&s->lock);
        sqlite3_stmt *st;
        image_record **list = NULL;
        size_t n = 0;
        int r = 0;
        if (sqlite3_prepare_v2(s->db, IMAGE_COLUMNS "ORDER BY pulled_at, id", -1, &st, NULL) != SQLITE_OK) {
                r = db_error(s, err, "prepare");
        } else {
                while (sqlite3_step(st) == SQLITE_ROW) {
                        list = realloc(list, (n + 1) * sizeof(*list));
                        if (!list)
                                abort();
                        list[n++] = record_from_row(st);
                }
                sqlite3_finalize(st);
        }
        for (size_t i = 0; r == 0 && i < n; i++)
                r = load_details(s, list[i], err);
        pthread_mutex_unlock(&s->lock);
        if (r < 0) {
                image_records_free(list, n);
                return r;
        }
        *ret = list;
        *ret_n = n;
        return 0;
}

int store_image_remove(store *s, const char *id, ocid_error *err)
{
        pthread_mutex_lock(&s->lock);
        _cleanup_strv_ char **layers = xcalloc(1, sizeof(char *));
        sqlite3_stmt *st;
        int r = 0;
        if (sqlite3_prepare_v2(s->db, "SELECT chain_id FROM image_layers WHERE image_id = ?", -1, &st,
                               NULL) != SQLITE_OK) {
                r = db_error(s, err, "prepare");
        } else {
                sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                while (sqlite3_step(st) == SQLITE_ROW)
                        layers = strv_push(layers, (const char *)sqlite3_column_text(st, 0));
                sqlite3_finalize(st);
        }
        if (r == 0)
                r = exec_bound(s, s->db, "DELETE FROM images WHERE id = ?", err, 1, S(id));
        if (r == 0 && sqlite3_changes(s->db) == 0)
                r = ocid_error_set(err, OCID_ERR_NOT_FOUND, "image '%s' not found", id);
        for (size_t i = 0; r == 0 && layers[i]; i++)
                collect_layer(s, layers[i]);
        pthread_mutex_unlock(&s->lock);
        return r;
}

int store_usage(store *s, uint64_t *ret_bytes, uint64_t *ret_inodes, ocid_error *err)
{
        pthread_mutex_lock(&s->lock);
        sqlite3_stmt *st;
        int r = 0;
        if (sqlite3_prepare_v2(s->db, "SELECT COALESCE(SUM(size), 0), COALESCE(SUM(entries), 0) FROM layers",
                               -1, &st, NULL) != SQLITE_OK) {
                r = db_error(s, err, "prepare");
        } else {
                if (sqlite3_step(st) == SQLITE_ROW) {
                        *ret_bytes = (uint64_t)sqlite3_column_int64(st, 0);
                        *ret_inodes = (uint64_t)sqlite3_column_int64(st, 1);
                }
                sqlite3_finalize(st);
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

int store_layers_use(store *s, const char *user_id, char *const *chain_ids, ocid_error *err)
{
        pthread_mutex_lock(&s->lock);
        int r = 0;
        for (size_t i = 0; r == 0 && chain_ids && chain_ids[i]; i++)
                r = exec_bound(s, s->db_users, "INSERT OR IGNORE INTO layer_users(user_id, chain_id) VALUES (?, ?)", err, 2,
                               S(user_id), S(chain_ids[i]));
        pthread_mutex_unlock(&s->lock);
        return r;
}

int store_layers_unuse(store *s, const char *user_id, ocid_error *err)
{
        pthread_mutex_lock(&s->lock);
        _cleanup_strv_ char **layers = xcalloc(1, sizeof(char *));
        sqlite3_stmt *st;
        int r = 0;
        if (sqlite3_prepare_v2(s->db, "SELECT chain_id FROM layer_users WHERE user_id = ?", -1, &st, NULL) != SQLITE_OK) {
                r = db_error(s, err, "prepare");
        } else {
                sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
                while (sqlite3_step(st) == SQLITE_ROW)
                        layers = strv_push(layers, (const char *)sqlite3_column_text(st, 0));
                sqlite3_finalize(st);
        }
        if (r == 0)
                r = exec_bound(s, s->db_users, "DELETE FROM layer_users WHERE user_id = ?", err, 1, S(user_id));
        /* The image may have been removed while the container used it. */
        for (size_t i = 0; r == 0 && layers[i]; i++)
                collect_layer(s, layers[i]);
        pthread_mutex_unlock(&s->lock);
        return r;
}
