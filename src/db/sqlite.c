/*
 * sqlite.c -- the SQLite backend: connections, schema migrations, and the
 * statement operations the store runs on (backend.h).
 *
 * Migrations are keyed on PRAGMA user_version: each step runs in one
 * transaction (BEGIN IMMEDIATE, so two processes starting at once
 * serialise and the second sees the first's work), and a database newer
 * than this build is refused.  Write transactions are BEGIN IMMEDIATE too:
 * the write lock is taken up front, so two workers never deadlock
 * upgrading a read lock, and the busy timeout makes the second one wait.
 * Errors are logged only when they are SQLite's own (-EIO), with SQLite's
 * message and never the values involved.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db/db.h"
#include "db/backend.h"
#include "db/schema.h"
#include "log.h"

/*
 * Prepared statements are kept for reuse, keyed by their SQL text: parsing
 * costs more than running most of the store's statements (a group-committed
 * message runs five).  A kept statement is reset and its bindings cleared
 * when the caller finishes it; one in use is not handed out twice (the
 * same SQL then gets a statement of its own, finalized at finish).
 */
#define STMT_CACHE	48

/* A wait for the write lock: 20 ms in short steps, then about 5 s more. */
#define BUSY_SHORT	200
#define BUSY_SHORT_US	100
#define BUSY_LONG	5000
#define BUSY_LONG_US	1000

struct cached {
	char		*sql;		/* NULL: a free slot */
	sqlite3_stmt	*st;
	int		 busy;		/* handed out, not finished yet */
};

struct sqlite_db {
	struct cf_db	 base;		/* first: a struct cf_db * is one */
	sqlite3		*conn;
	struct cached	 cache[STMT_CACHE];
	unsigned	 evict;		/* next slot to reuse when all are taken */
	unsigned	 nopen;		/* statements not finished yet */
	int		 sync_full;	/* PRAGMA synchronous is FULL */
	int		 sync_low;	/* lowered for an index batch (see there) */
};

/* One statement; step() records the changes once it is done. */
struct sqlite_stmt {
	struct cf_db_stmt	 base;	/* first */
	sqlite3_stmt		*st;
	struct cached		*slot;	/* NULL: not kept, finalized at finish */
	int64_t			 changes;
};

/* SQLite's types: 64-bit INTEGER, STRICT tables. */
static const char *const migrations[CF_DB_SCHEMA_VERSION] = {
	CF_SCHEMA_1("strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"),
	CF_SCHEMA_2("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER", " STRICT",
	    " STRICT, WITHOUT ROWID"),
	CF_SCHEMA_3,
	CF_SCHEMA_4("INTEGER", " STRICT, WITHOUT ROWID"),
	CF_SCHEMA_5("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER", " STRICT",
	    " STRICT, WITHOUT ROWID"),
	CF_SCHEMA_6("INTEGER", " STRICT, WITHOUT ROWID"),
	CF_SCHEMA_7("INTEGER", " STRICT, WITHOUT ROWID"),
	CF_SCHEMA_8_SQLITE,
	CF_SCHEMA_9,
};

/*
 * Map an SQLite result code (primary or extended) to a negative errno.
 * Constraint failures come from the caller's values: a unique key taken is
 * -EEXIST, a missing parent row -ENOENT, NOT NULL/CHECK/type -EINVAL.
 * Anything else is -EIO, logged with the connection's message.
 */
static int
rc_errno(sqlite3 *conn, int rc, const char *func)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return (-EEXIST);
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return (-ENOENT);
	case SQLITE_CONSTRAINT_NOTNULL:
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_DATATYPE:
	case SQLITE_TOOBIG:
	case SQLITE_MISMATCH:
		return (-EINVAL);
	case SQLITE_NOMEM:
		return (-ENOMEM);
	default:
		cf_log_warnx("%s: %s (%d)", func, sqlite3_errmsg(conn), rc);
		return (-EIO);
	}
}

static void
sq_close(struct cf_db *db)
{
	struct sqlite_db *s = (struct sqlite_db *)db;
	unsigned i;

	for (i = 0; i < STMT_CACHE; i++) {
		sqlite3_finalize(s->cache[i].st);
		free(s->cache[i].sql);
	}
	sqlite3_close(s->conn);
	free(s);
}

/*
 * A statement for sql into *stp: a kept one that is free, else a new one,
 * kept when a slot is free or can be taken back.  SQLite's result code.
 */
static int
stmt_get(struct sqlite_db *s, const char *sql, sqlite3_stmt **stp,
    struct cached **slotp)
{
	struct cached *c, *free_slot = NULL;
	unsigned i;
	int rc;

	*slotp = NULL;
	for (i = 0; i < STMT_CACHE; i++) {
		c = &s->cache[i];
		if (c->sql == NULL) {
			if (free_slot == NULL)
				free_slot = c;
			continue;
		}
		if (!c->busy && strcmp(c->sql, sql) == 0) {
			c->busy = 1;
			*stp = c->st;
			*slotp = c;
			return (SQLITE_OK);
		}
	}
	if ((rc = sqlite3_prepare_v2(s->conn, sql, -1, stp, NULL)) !=
	    SQLITE_OK)
		return (rc);
	if (free_slot == NULL) {
		/* Take back a slot not in use, round robin. */
		for (i = 0; i < STMT_CACHE && free_slot == NULL; i++) {
			c = &s->cache[s->evict++ % STMT_CACHE];
			if (!c->busy) {
				sqlite3_finalize(c->st);
				free(c->sql);
				c->sql = NULL;
				c->st = NULL;
				free_slot = c;
			}
		}
	}
	if (free_slot != NULL && (free_slot->sql = strdup(sql)) != NULL) {
		free_slot->st = *stp;
		free_slot->busy = 1;
		*slotp = free_slot;
	}
	return (SQLITE_OK);
}

/* Give a statement back: kept ones are reset, the others finalized. */
static void
stmt_put(sqlite3_stmt *st, struct cached *slot)
{
	if (slot == NULL) {
		sqlite3_finalize(st);
		return;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	slot->busy = 0;
}

static int
bindv(sqlite3_stmt *st, const char *func, const char *fmt, va_list ap)
{
	const char *s;
	int i, rc = SQLITE_OK;

	for (i = 1; *fmt != '\0' && rc == SQLITE_OK; fmt++, i++) {
		switch (*fmt) {
		case 'i':
			rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
			break;
		case 'd':
			rc = sqlite3_bind_int(st, i, va_arg(ap, int));
			break;
		case 't':
			if ((s = va_arg(ap, const char *)) == NULL)
				rc = sqlite3_bind_null(st, i);
			else
				rc = sqlite3_bind_text(st, i, s, -1,
				    SQLITE_STATIC);
			break;
		default:
			cf_log_warnx("%s: bad bind format '%c'", func, *fmt);
			return (-EIO);
		}
	}
	if (rc != SQLITE_OK)
		return (rc_errno(sqlite3_db_handle(st), rc, func));
	return (0);
}

static int	 sync_restore(struct sqlite_db *, const char *);

static int
sq_prepare(struct cf_db *db, const char *func, struct cf_db_stmt **stp,
    const char *sql, const char *fmt, va_list ap)
{
	struct sqlite_db *s = (struct sqlite_db *)db;
	struct sqlite_stmt *h;
	int rc;

	*stp = NULL;
	/* A write outside any transaction would commit at once. */
	if (s->sync_low && sqlite3_get_autocommit(s->conn) &&
	    (rc = sync_restore(s, func)) != 0)
		return (rc);
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return (-ENOMEM);
	h->base.db = db;
	if (stmt_get(s, sql, &h->st, &h->slot) != SQLITE_OK) {
		rc = rc_errno(s->conn, sqlite3_extended_errcode(s->conn), func);
		free(h);
		return (rc);
	}
	if ((rc = bindv(h->st, func, fmt, ap)) != 0) {
		stmt_put(h->st, h->slot);
		free(h);
		return (rc);
	}
	s->nopen++;
	*stp = &h->base;
	return (0);
}

static int
sq_step(struct cf_db_stmt *hs, const char *func)
{
	struct sqlite_stmt *h = (struct sqlite_stmt *)hs;
	sqlite3 *conn = ((struct sqlite_db *)hs->db)->conn;

	switch (sqlite3_step(h->st)) {
	case SQLITE_ROW:
		return (1);
	case SQLITE_DONE:
		h->changes = sqlite3_changes(conn);
		return (0);
	default:
		return (rc_errno(conn, sqlite3_extended_errcode(conn), func));
	}
}

static int
sq_isnull(struct cf_db_stmt *hs, int col)
{
	struct sqlite_stmt *h = (struct sqlite_stmt *)hs;

	return (sqlite3_column_type(h->st, col) == SQLITE_NULL);
}

static int64_t
sq_int64(struct cf_db_stmt *hs, int col)
{
	struct sqlite_stmt *h = (struct sqlite_stmt *)hs;

	return (sqlite3_column_int64(h->st, col));
}

static const char *
sq_text(struct cf_db_stmt *hs, int col, size_t *len)
{
	struct sqlite_stmt *h = (struct sqlite_stmt *)hs;
	const unsigned char *s;

	*len = 0;
	if (sqlite3_column_type(h->st, col) == SQLITE_NULL ||
	    (s = sqlite3_column_text(h->st, col)) == NULL)
		return (NULL);
	*len = (size_t)sqlite3_column_bytes(h->st, col);
	return ((const char *)s);
}

static int64_t
sq_changes(struct cf_db_stmt *hs)
{
	struct sqlite_stmt *h = (struct sqlite_stmt *)hs;

	return (h->changes);
}

static void
sq_finish(struct cf_db_stmt *hs)
{
	struct sqlite_stmt *h = (struct sqlite_stmt *)hs;

	if (h == NULL)
		return;
	stmt_put(h->st, h->slot);
	((struct sqlite_db *)hs->db)->nopen--;
	free(h);
}

/* Run one statement without parameters or rows, through the cache. */
static int
sq_run(struct sqlite_db *s, const char *func, const char *sql)
{
	struct cached *slot;
	sqlite3_stmt *st;
	int rc;

	if ((rc = stmt_get(s, sql, &st, &slot)) == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
		else
			rc = sqlite3_extended_errcode(s->conn);
		stmt_put(st, slot);
	} else
		rc = sqlite3_extended_errcode(s->conn);
	return (rc == SQLITE_OK ? 0 : rc_errno(s->conn, rc, func));
}

/*
 * Set PRAGMA synchronous.  Not through the statement cache: SQLite
 * applies this pragma when it prepares the statement, not when it runs
 * it, so a kept statement would change nothing the second time.
 */
static int
sync_set(struct sqlite_db *s, const char *func, const char *sql)
{
	if (sqlite3_exec(s->conn, sql, NULL, NULL, NULL) != SQLITE_OK)
		return (rc_errno(s->conn, sqlite3_extended_errcode(s->conn),
		    func));
	return (0);
}

/*
 * Back to PRAGMA synchronous FULL after an index batch lowered it: done
 * before any other write begins, so that no acknowledged write commits
 * unsynced.
 */
static int
sync_restore(struct sqlite_db *s, const char *func)
{
	int rc;

	if (!s->sync_low)
		return (0);
	if ((rc = sync_set(s, func, "PRAGMA synchronous=FULL")) == 0)
		s->sync_low = 0;
	return (rc);
}

/* SQLite has one writer at a time: the lock key is not needed. */
static int
sq_begin(struct cf_db *db, const char *func, int64_t lock)
{
	struct sqlite_db *s = (struct sqlite_db *)db;
	int rc;

	(void)lock;
	if ((rc = sync_restore(s, func)) != 0)
		return (rc);
	return (sq_run(s, func, "BEGIN IMMEDIATE"));
}

static int
sq_commit(struct cf_db *db, const char *func)
{
	return (sq_run((struct sqlite_db *)db, func, "COMMIT"));
}

/* Some errors roll the transaction back by themselves. */
static void
sq_rollback(struct cf_db *db)
{
	struct sqlite_db *s = (struct sqlite_db *)db;

	if (!sqlite3_get_autocommit(s->conn))
		sqlite3_exec(s->conn, "ROLLBACK", NULL, NULL, NULL);
}

/*
 * An index batch (backend.h): when the connection syncs every commit
 * (FULL), its transaction alone runs with synchronous NORMAL, so that it
 * holds the write lock without waiting for the disk.  In WAL mode such a
 * commit is atomic all the same, and made durable by the next synced
 * commit of any connection (which syncs the whole log) or checkpoint.
 */
static int
sq_index_begin(struct cf_db *db, const char *func)
{
	struct sqlite_db *s = (struct sqlite_db *)db;
	int rc;

	if (s->sync_full && !s->sync_low) {
		if ((rc = sync_set(s, func, "PRAGMA synchronous=NORMAL")) != 0)
			return (rc);
		s->sync_low = 1;
	}
	if ((rc = sq_run(s, func, "BEGIN IMMEDIATE")) != 0)
		(void)sync_restore(s, func);
	return (rc);
}

static int
sq_index_end(struct cf_db *db, const char *func, int rc)
{
	struct sqlite_db *s = (struct sqlite_db *)db;

	if (rc == 0)
		rc = sq_run(s, func, "COMMIT");
	if (rc != 0)
		sq_rollback(db);
	/* Failing here, the next sq_begin tries again before its write. */
	(void)sync_restore(s, func);
	return (rc);
}

static int
sq_savepoint(struct cf_db *db, const char *func)
{
	return (sq_run((struct sqlite_db *)db, func, "SAVEPOINT cf_one"));
}

static int
sq_release(struct cf_db *db, const char *func)
{
	return (sq_run((struct sqlite_db *)db, func, "RELEASE cf_one"));
}

/* Errors are ignored: an error that ended the transaction is seen at COMMIT. */
static void
sq_undo(struct cf_db *db)
{
	struct sqlite_db *s = (struct sqlite_db *)db;

	if (!sqlite3_get_autocommit(s->conn))
		sqlite3_exec(s->conn, "ROLLBACK TO cf_one; RELEASE cf_one",
		    NULL, NULL, NULL);
}

static int
sq_idle(struct cf_db *db)
{
	struct sqlite_db *s = (struct sqlite_db *)db;

	return (sqlite3_get_autocommit(s->conn) && s->nopen == 0);
}

static int
sq_lock(struct cf_db *db, const char *func, int64_t key, int wait)
{
	(void)db;
	(void)func;
	(void)key;
	(void)wait;
	return (1);
}

static const struct cf_db_ops sqlite_ops = {
	.name = "sqlite",
	.close = sq_close,
	.prepare = sq_prepare,
	.step = sq_step,
	.isnull = sq_isnull,
	.int64 = sq_int64,
	.text = sq_text,
	.changes = sq_changes,
	.finish = sq_finish,
	.begin = sq_begin,
	.commit = sq_commit,
	.index_begin = sq_index_begin,
	.index_end = sq_index_end,
	.rollback = sq_rollback,
	.savepoint = sq_savepoint,
	.batch_max = 256,
	.release = sq_release,
	.lock = sq_lock,
	.undo = sq_undo,
	.idle = sq_idle,
	.text_list = "json_each(?1)",
	/*
	 * The FTS5 index walks its matches newest first (ORDER BY rowid
	 * DESC with the rowid bound: no sort), so a page costs its own rows;
	 * bm25() ranks the page (lower is better).
	 */
	.search_sql =
	    "SELECT id, excerpt, row_number() OVER (ORDER BY id DESC) FROM ("
	    " SELECT messages_fts.rowid AS id, bm25(messages_fts) AS score,"
	    "  snippet(messages_fts, 0, '\xc2\xab', '\xc2\xbb',"
	    "   '\xe2\x80\xa6', 24) AS excerpt"
	    " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
	    " JOIN channels c ON c.id = m.channel_id"
	    " LEFT JOIN channel_members cm ON cm.channel_id = m.channel_id"
	    "  AND cm.user_id = ?2"
	    " WHERE messages_fts MATCH ?1 AND messages_fts.rowid < ?4"
	    "  AND (?3 = 0 OR m.channel_id = ?3)"
	    "  AND (?2 IS NULL OR c.is_private = 0 OR cm.user_id IS NOT NULL)"
	    " ORDER BY messages_fts.rowid DESC LIMIT ?5)"
	    " ORDER BY score, id DESC",
	.search_phrases = 1,
	.search_async = 1,
};

int
cf_sqlite_checkpoint(struct cf_db *db)
{
	struct sqlite_db *s = (struct sqlite_db *)db;

	if (sqlite3_wal_checkpoint_v2(s->conn, NULL, SQLITE_CHECKPOINT_TRUNCATE,
	    NULL, NULL) != SQLITE_OK) {
		cf_log_warnx("checkpoint: %s", sqlite3_errmsg(s->conn));
		return (-1);
	}
	return (0);
}

static int
user_version(sqlite3 *conn)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(conn, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return (-1);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return (v);
}

static int
migrate(sqlite3 *conn, const char *path)
{
	char *err = NULL, sql[64];
	int v;

	if (sqlite3_exec(conn, "BEGIN IMMEDIATE", NULL, NULL, &err) !=
	    SQLITE_OK)
		goto fail;
	if ((v = user_version(conn)) == -1)
		goto fail;
	if (v > CF_DB_SCHEMA_VERSION) {
		cf_log_warnx("%s: schema version %d is newer than this build's %d",
		    path, v, CF_DB_SCHEMA_VERSION);
		sqlite3_exec(conn, "ROLLBACK", NULL, NULL, NULL);
		return (-1);
	}
	for (; v < CF_DB_SCHEMA_VERSION; v++) {
		if (sqlite3_exec(conn, migrations[v], NULL, NULL, &err) !=
		    SQLITE_OK)
			goto fail;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (sqlite3_exec(conn, sql, NULL, NULL, &err) != SQLITE_OK)
			goto fail;
	}
	if (sqlite3_exec(conn, "COMMIT", NULL, NULL, &err) != SQLITE_OK)
		goto fail;
	return (0);
 fail:
	cf_log_warnx("%s: migration failed: %s", path,
	    err ? err : sqlite3_errmsg(conn));
	sqlite3_free(err);
	sqlite3_exec(conn, "ROLLBACK", NULL, NULL, NULL);
	return (-1);
}

/*
 * Another connection holds the write lock: wait for it in short steps.
 * SQLite's own busy timeout sleeps 1, 2, 5, 10... ms, much longer than a
 * worker holds the lock (a loop turn's group commit), and the waiting
 * worker's loop stands still meanwhile.  Gives up after about 5 s, as
 * the busy timeout did (sleeping adds up to a little more than that).
 */
static int
busy_wait(void *arg, int count)
{
	(void)arg;
	if (count < BUSY_SHORT) {
		usleep(BUSY_SHORT_US);
		return (1);
	}
	if (count - BUSY_SHORT >= BUSY_LONG)
		return (0);
	usleep(BUSY_LONG_US);
	return (1);
}

/*
 * Set the connection's PRAGMA synchronous: "full", "normal" or "off"
 * (sqlite-synchronous).  Not inside a transaction (SQLite refuses it).
 * 0, or -1 for another value or an error (logged).
 */
int
cf_sqlite_synchronous(struct cf_db *db, const char *level)
{
	struct sqlite_db *s = (struct sqlite_db *)db;
	char sql[48];

	if (strcmp(level, "full") != 0 && strcmp(level, "normal") != 0 &&
	    strcmp(level, "off") != 0) {
		cf_log_warnx("sqlite-synchronous: %s: unknown level", level);
		return (-1);
	}
	snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s", level);
	if (sqlite3_exec(s->conn, sql, NULL, NULL, NULL) != SQLITE_OK) {
		cf_log_warnx("sqlite-synchronous: %s", sqlite3_errmsg(s->conn));
		return (-1);
	}
	s->sync_full = strcmp(level, "full") == 0;
	s->sync_low = 0;
	return (0);
}

/*
 * Open (creating it if needed) the SQLite file at path in WAL mode with
 * synchronous FULL and foreign keys on, and migrate it.  The caller owns the handle.
 */
struct cf_db *
cf_sqlite_open(const char *path)
{
	struct sqlite_db *s;
	sqlite3 *conn = NULL;
	int rc, tries;

	if (sqlite3_open_v2(path, &conn, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		cf_log_warnx("%s: %s", path, conn ? sqlite3_errmsg(conn) :
		    "cannot open");
		goto fail;
	}
	sqlite3_busy_handler(conn, busy_wait, NULL);
	/*
	 * Switching a new database to WAL takes a lock the busy handler does
	 * not wait for; the master migrates before forking, so this only
	 * races when several processes open a fresh file.  Retry briefly.
	 */
	for (tries = 0;; tries++) {
		rc = sqlite3_exec(conn, "PRAGMA journal_mode=WAL", NULL, NULL,
		    NULL);
		if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			break;
		if (tries == 500)
			break;
		usleep(10000);
	}
	/*
	 * FULL: with WAL, every COMMIT fsyncs the log, so what was acked
	 * survives a power loss (group commit pays that once per batch).
	 * cf_sqlite_synchronous() lowers it on the operator's request.
	 * secure_delete: the space a deleted message's text (or any row)
	 * leaves is zeroed, so that the text is gone from the file once the
	 * log is checkpointed (chat:delete_message).
	 */
	if (rc != SQLITE_OK || sqlite3_exec(conn, "PRAGMA synchronous=FULL; "
	    "PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;", NULL, NULL,
	    NULL) != SQLITE_OK) {
		cf_log_warnx("%s: %s", path, sqlite3_errmsg(conn));
		goto fail;
	}
	if (migrate(conn, path) == -1)
		goto fail;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto fail;
	s->base.ops = &sqlite_ops;
	s->conn = conn;
	s->sync_full = 1;
	return (&s->base);
 fail:
	sqlite3_close(conn);
	return (NULL);
}
