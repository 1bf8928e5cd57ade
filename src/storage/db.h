/* Small helpers shared by the SQLite databases (images, pods, containers). */
#pragma once

#include "util/error.h"

#include <sqlite3.h>

typedef enum {
        /* Every commit reaches the disk: survives a power loss (images). */
        DB_DURABLE,
        /* WAL with normal sync: survives any crash of the daemon; a power
         * loss may lose the last commits. For state that a reboot ends
         * anyway (pods, containers), where an fsync per change would be
         * most of a container's start time. */
        DB_SURVIVES_CRASHES,
} db_durability;

/* Open (creating) the database at path in WAL mode and run schema
 * (CREATE ... IF NOT EXISTS statements). Safe to use from several threads:
 * the connection is serialised. */
int db_open(const char *path, const char *schema, db_durability durability, sqlite3 **ret,
            ocid_error *err);

/* A column's text, copied; "" for NULL. */
char *db_text(sqlite3_stmt *st, int column);

/* A new random identifier: 64 lower-case hex characters. */
char *db_new_id(void);
