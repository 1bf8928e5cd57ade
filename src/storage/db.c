#include "storage/db.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/random.h>

/* SQLite's defaults preallocate, per connection, a lookaside pool and a
 * block of page-cache lines, and write through all of it at once: with a
 * few connections that is most of the daemon's heap, for databases of a
 * few pages. Allocate as needed instead. */
static void configure_sqlite(void)
{
        sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0);
        sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
}

int db_open(const char *path, const char *schema, db_durability durability, sqlite3 **ret,
            ocid_error *err)
{
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, configure_sqlite);
        sqlite3 *db = NULL;
        const char *pragmas = durability == DB_DURABLE ? "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                                                       : "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                            NULL) != SQLITE_OK ||
            sqlite3_exec(db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK) {
                ocid_error_set(err, OCID_ERR_INTERNAL, "cannot open %s: %s", path,
                               db ? sqlite3_errmsg(db) : "out of memory");
                sqlite3_close(db);
                return -1;
        }
        /* Other connections to the same file (pods and containers share
         * one) may hold the write lock for a moment. */
        sqlite3_busy_timeout(db, 5000);
        *ret = db;
        return 0;
}

char *db_text(sqlite3_stmt *st, int column)
{
        const unsigned char *t = sqlite3_column_text(st, column);
        return xstrdup(t ? (const char *)t : "");
}

char *db_new_id(void)
{
        unsigned char raw[32];
        if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
                abort();
        char *id = xcalloc(65, 1);
        for (size_t i = 0; i < sizeof(raw); i++)
                sprintf(id + 2 * i, "%02x", raw[i]);
        return id;
}
