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

	/*
	 * 2: the chat schema (store.c).  Times are milliseconds since the
	 * epoch; user ids are text.  channels.name_key is lower(name), which
	 * makes names unique case-insensitively (ASCII folding only).  The
	 * CHECKs hold the values events.md allows, so that a bad value is
	 * refused by the schema rather than stored.
	 */
	"CREATE TABLE users ("
	"  id TEXT NOT NULL PRIMARY KEY,"
	"  display_name TEXT NOT NULL,"
	"  role TEXT NOT NULL,"
	"  created_at INTEGER,"
	"  updated_at INTEGER"
	") STRICT, WITHOUT ROWID;"
	"CREATE TABLE channels ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL CHECK (length(name) > 0),"
	"  name_key TEXT NOT NULL UNIQUE,"
	"  description TEXT,"
	"  is_private INTEGER NOT NULL DEFAULT 0 CHECK (is_private IN (0, 1)),"
	"  created_by TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE channel_members ("
	"  channel_id INTEGER NOT NULL"
	"    REFERENCES channels(id) ON DELETE CASCADE,"
	"  user_id TEXT NOT NULL,"
	"  joined_at INTEGER,"
	"  last_read_message_id INTEGER,"
	"  last_read_at INTEGER,"
	"  PRIMARY KEY (channel_id, user_id)"
	") STRICT, WITHOUT ROWID;"
	"CREATE TABLE messages ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  channel_id INTEGER NOT NULL"
	"    REFERENCES channels(id) ON DELETE CASCADE,"
	"  user_id TEXT NOT NULL,"
	"  user_display_name TEXT NOT NULL,"
	"  body TEXT NOT NULL,"
	"  message_type TEXT NOT NULL CHECK (message_type IN"
	"    ('text', 'file', 'image', 'gif', 'ticket_link')),"
	"  reply_to_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,"
	"  client_msg_id TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE (user_id, client_msg_id)"
	") STRICT;"
	/* user_id makes the unread count of channel_list index-only. */
	"CREATE INDEX messages_channel ON messages(channel_id, id, user_id);"
	"CREATE INDEX messages_reply ON messages(reply_to_id);"
	"CREATE TABLE message_files ("
	"  message_id INTEGER PRIMARY KEY"
	"    REFERENCES messages(id) ON DELETE CASCADE,"
	"  file_name TEXT NOT NULL,"
	"  file_size INTEGER NOT NULL CHECK (file_size >= 0),"
	"  file_type TEXT NOT NULL,"
	"  uploaded_by TEXT NOT NULL,"
	"  uploaded_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE presence ("
	"  user_id TEXT NOT NULL PRIMARY KEY,"
	"  status TEXT NOT NULL CHECK (status IN"
	"    ('online', 'away', 'busy', 'offline')),"
	"  status_message TEXT,"
	"  custom_status TEXT,"
	"  updated_at INTEGER NOT NULL"
	") STRICT, WITHOUT ROWID;"
	"CREATE TABLE broadcasts ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  message TEXT NOT NULL,"
	"  priority TEXT NOT NULL CHECK (priority IN ('high', 'normal', 'low')),"
	"  from_user TEXT NOT NULL,"
	"  from_name TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE channel_updates ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  channel_id INTEGER NOT NULL"
	"    REFERENCES channels(id) ON DELETE CASCADE,"
	"  changes TEXT NOT NULL,"
	"  updated_by TEXT NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE INDEX channel_updates_channel ON channel_updates(channel_id, id);"
	"CREATE TABLE calls ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  caller_id TEXT NOT NULL,"
	"  callee_id TEXT NOT NULL,"
	"  call_type TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  started_at INTEGER NOT NULL,"
	"  answered_at INTEGER,"
	"  ended_at INTEGER,"
	"  duration_ms INTEGER"
	") STRICT;"
	"CREATE INDEX calls_caller ON calls(caller_id, id);"
	"CREATE INDEX calls_callee ON calls(callee_id, id);",

	/*
	 * 3: the tabs taking part in a call (Socket.IO socket ids), and an
	 * index of the calls still ringing or active, which the busy check,
	 * the ring timeout and the cleanup sweep read.  The calls table has
	 * no CHECK on status or call_type (store.c validates them), so the
	 * columns are added in place.
	 */
	"ALTER TABLE calls ADD COLUMN caller_sock TEXT;"
	"ALTER TABLE calls ADD COLUMN callee_sock TEXT;"
	"CREATE INDEX calls_live ON calls(status, started_at)"
	"  WHERE status IN ('ringing', 'active');",
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
cf_db_checkpoint(const char *path)
{
	sqlite3 *db;
	int rc;

	if ((db = cf_db_open(path)) == NULL)
		return (-1);
	rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
	    NULL, NULL);
	if (rc != SQLITE_OK)
		cf_log_warnx("%s: checkpoint: %s", path, sqlite3_errmsg(db));
	cf_db_close(db);
	return (rc == SQLITE_OK ? 0 : -1);
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
