/*
 * db.c -- choosing the storage backend, and the worker's connection.
 *
 * The backends (sqlite.c, pg.c) open, migrate and run statements; this
 * file picks one from the `database` directive and keeps the worker's
 * handle.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "db/db.h"
#include "db/backend.h"
#include "log.h"

static struct cf_db *worker_db;

/* 1 when database names a PostgreSQL database (a libpq URI). */
static int
is_pg(const char *database)
{
	return (strncmp(database, "postgresql://", 13) == 0 ||
	    strncmp(database, "postgres://", 11) == 0);
}

struct cf_db *
cf_db_open(const char *database)
{
	if (database == NULL)
		return (NULL);
	if (is_pg(database))
		return (cf_pg_open(database));
	if (strncmp(database, "sqlite:", 7) == 0)
		database += 7;
	return (cf_sqlite_open(database));
}

void
cf_db_close(struct cf_db *db)
{
	if (db != NULL)
		db->ops->close(db);
}

const char *
cf_db_backend(const struct cf_db *db)
{
	return (db->ops->name);
}

/* Prepare with no parameters (the ops take a va_list). */
static int
prepare0(struct cf_db *db, struct cf_db_stmt **stp, const char *sql, ...)
{
	va_list ap;
	int rc;

	va_start(ap, sql);
	rc = db->ops->prepare(db, "cf_db_query_i64", stp, sql, "", ap);
	va_end(ap);
	return (rc);
}

int
cf_db_query_i64(struct cf_db *db, const char *sql, int64_t *v)
{
	struct cf_db_stmt *st;
	int rc;

	if (db == NULL || sql == NULL)
		return (-EINVAL);
	if ((rc = prepare0(db, &st, sql)) != 0)
		return (rc);
	if ((rc = db->ops->step(st, "cf_db_query_i64")) == 1) {
		if (v != NULL)
			*v = db->ops->isnull(st, 0) ? 0 : db->ops->int64(st, 0);
		rc = 0;
	} else if (rc == 0)
		rc = -ENOENT;
	db->ops->finish(st);
	return (rc);
}

int
cf_db_idle(struct cf_db *db)
{
	return (db == NULL || db->ops->idle(db));
}

int
cf_db_set_synchronous(struct cf_db *db, const char *level)
{
	if (db == NULL || level == NULL)
		return (-1);
	if (strcmp(db->ops->name, "sqlite") != 0)
		return (0);
	return (cf_sqlite_synchronous(db, level));
}

int
cf_db_checkpoint(const char *database)
{
	struct cf_db *db;
	int rc;

	if (database == NULL || is_pg(database))
		return (0);
	if ((db = cf_db_open(database)) == NULL)
		return (-1);
	rc = cf_sqlite_checkpoint(db);
	cf_db_close(db);
	return (rc);
}

int
cf_db_open_worker(const struct cf_conf *conf)
{
	if ((worker_db = cf_db_open(conf->database)) == NULL)
		return (-1);
	if (cf_db_set_synchronous(worker_db, conf->sqlite_synchronous) == -1) {
		cf_db_close(worker_db);
		worker_db = NULL;
		return (-1);
	}
	return (0);
}

void
cf_db_close_worker(void)
{
	cf_db_close(worker_db);
	worker_db = NULL;
}

struct cf_db *
cf_db(void)
{
	return (worker_db);
}
