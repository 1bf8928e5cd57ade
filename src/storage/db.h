/* Small helpers shared by the SQLite databases (images, pods, containers). */
#pragma once

#include "util/error.h"

#include <sqlite3.h>

/* Open (creating) the database at path with WAL and full sync, and run
 * schema (CREATE ... IF NOT EXISTS statements). Safe to use from several
 * threads: the connection is serialised. */
int db_open(const char *path, const char *schema, sqlite3 **ret, ocid_error *err);

/* A column's text, copied; "" for NULL. */
char *db_text(sqlite3_stmt *st, int column);

/* A new random identifier: 64 lower-case hex characters. */
char *db_new_id(void);
