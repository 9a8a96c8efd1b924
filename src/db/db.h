/*
 * db.h -- the storage of a worker, on SQLite or PostgreSQL.  A handle is
 * opaque: store.h works on either.  Each worker opens its own connection
 * after fork (a connection must never cross fork()): a SQLite file in WAL
 * mode, which the workers of one host write concurrently, or a PostgreSQL
 * database, which every host can share.
 */
#ifndef CF_DB_H
#define CF_DB_H

#include <stdint.h>

#include "conf.h"

/*
 * The schema version this build migrates to (SQLite: PRAGMA
 * user_version; PostgreSQL: the schema_version table).
 */
#define CF_DB_SCHEMA_VERSION	9

struct cf_db;

/*
 * Open the database `database` names and migrate its schema: a
 * postgresql:// or postgres:// URL (any libpq conninfo URI) is a
 * PostgreSQL database, anything else a SQLite file (created if needed).
 * Returns a handle (close with cf_db_close), or NULL with a message
 * logged.
 */
struct cf_db	*cf_db_open(const char *database);
void		 cf_db_close(struct cf_db *db);	/* NULL-safe */
/* "sqlite" or "postgresql". */
const char	*cf_db_backend(const struct cf_db *db);

/*
 * For tests and diagnostics: run sql (no parameters) and store the first
 * column of its first row in *v (may be NULL; 0 for SQL NULL).  0, -ENOENT
 * when there is no row, or a negative errno.
 */
int		 cf_db_query_i64(struct cf_db *db, const char *sql, int64_t *v);
/* 1 when the connection has no open transaction or statement. */
int		 cf_db_idle(struct cf_db *db);
/*
 * SQLite's PRAGMA synchronous for this connection (the
 * sqlite-synchronous directive): "full" (the default cf_db_open sets:
 * every COMMIT is on disk before it returns), "normal" (a power loss may
 * undo the last commits) or "off".  A no-op for PostgreSQL.  0 or -1
 * (logged).
 */
int		 cf_db_set_synchronous(struct cf_db *db, const char *level);
/*
 * Copy the write-ahead log of a SQLite database into its file and
 * truncate it (the master, once every worker has exited); a no-op for
 * PostgreSQL.  0 or -1 (logged).
 */
int		 cf_db_checkpoint(const char *database);

/* The worker's own connection. */
int		 cf_db_open_worker(const struct cf_conf *conf);
void		 cf_db_close_worker(void);
struct cf_db	*cf_db(void);

#endif
