/*
 * db.h -- the storage of a worker.  Each worker opens its own SQLite
 * connection after fork (a connection must never cross fork()), in WAL mode
 * so that the workers of one host write the same file concurrently.
 */
#ifndef CF_DB_H
#define CF_DB_H

#include <sqlite3.h>

#include "conf.h"

/* The schema version this build migrates to (PRAGMA user_version). */
#define CF_DB_SCHEMA_VERSION	3

/*
 * Open (creating it if needed) the database named by conf->database and
 * migrate its schema.  Returns a handle (close with cf_db_close), or NULL
 * with a message logged.
 */
sqlite3	*cf_db_open(const char *path);
void	 cf_db_close(sqlite3 *db);	/* NULL-safe */
/*
 * Copy the write-ahead log of the SQLite file at path into the database
 * and truncate it (the master, once every worker has exited).  0 or -1.
 */
int	 cf_db_checkpoint(const char *path);

/* The worker's own connection. */
int	 cf_db_open_worker(const struct cf_conf *conf);
void	 cf_db_close_worker(void);
sqlite3	*cf_db(void);

#endif
