/*
 * db.c -- SQLite connections and schema migrations.
 *
 * Migrations are keyed on PRAGMA user_version: each step runs in one
 * transaction (BEGIN IMMEDIATE, so two workers starting at once serialise
 * and the second sees the first's work), and a database newer than this
 * build is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "log.h"

static const char *const migrations[CF_DB_SCHEMA_VERSION] = {
	/* 1: bookkeeping; the chat schema arrives with the chat events. */
	"CREATE TABLE IF NOT EXISTS meta ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL"
	");"
	"INSERT OR IGNORE INTO meta(key, value) VALUES ('created_at', "
	"  strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));",
};

static sqlite3 *worker_db;

static int
user_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return (-1);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return (v);
}

static int
migrate(sqlite3 *db, const char *path)
{
	char *err = NULL, sql[64];
	int v;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK)
		goto fail;
	if ((v = user_version(db)) == -1)
		goto fail;
	if (v > CF_DB_SCHEMA_VERSION) {
		cf_log_warnx("%s: schema version %d is newer than this build's %d",
		    path, v, CF_DB_SCHEMA_VERSION);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return (-1);
	}
	for (; v < CF_DB_SCHEMA_VERSION; v++) {
		if (sqlite3_exec(db, migrations[v], NULL, NULL, &err) != SQLITE_OK)
			goto fail;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
			goto fail;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, &err) != SQLITE_OK)
		goto fail;
	return (0);
 fail:
	cf_log_warnx("%s: migration failed: %s", path,
	    err ? err : sqlite3_errmsg(db));
	sqlite3_free(err);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return (-1);
}

sqlite3 *
cf_db_open(const char *path)
{
	sqlite3 *db = NULL;
	int rc, tries;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		cf_log_warnx("%s: %s", path, db ? sqlite3_errmsg(db) :
		    "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(db, 5000);
	/*
	 * Switching a new database to WAL takes a lock the busy handler does
	 * not wait for; the master migrates before forking, so this only
	 * races when several processes open a fresh file.  Retry briefly.
	 */
	for (tries = 0;; tries++) {
		rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
		if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			break;
		if (tries == 500)
			break;
		usleep(10000);
	}
	if (rc != SQLITE_OK || sqlite3_exec(db, "PRAGMA synchronous=NORMAL; "
	    "PRAGMA foreign_keys=ON;", NULL, NULL, NULL) != SQLITE_OK) {
		cf_log_warnx("%s: %s", path, sqlite3_errmsg(db));
		goto fail;
	}
	if (migrate(db, path) == -1)
		goto fail;
	return (db);
 fail:
	sqlite3_close(db);
	return (NULL);
}

void
cf_db_close(sqlite3 *db)
{
	if (db != NULL)
		sqlite3_close(db);
}

int
cf_db_open_worker(const struct cf_conf *conf)
{
	if (strncmp(conf->database, "postgres", 8) == 0) {
		cf_log_warnx("database %s: PostgreSQL is not supported yet",
		    conf->database);
		return (-1);
	}
	if ((worker_db = cf_db_open(conf->database)) == NULL)
		return (-1);
	return (0);
}

void
cf_db_close_worker(void)
{
	cf_db_close(worker_db);
	worker_db = NULL;
}

sqlite3 *
cf_db(void)
{
	return (worker_db);
}
