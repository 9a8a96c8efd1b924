/*
 * pg.c -- the PostgreSQL backend (libpq): connections, schema migrations,
 * and the statement operations the store runs on (backend.h).
 *
 * A statement runs at prepare time (PQexecParams, text results) and step
 * walks its rows.  Parameters are typed from the bind format (int8, int4,
 * text), so that the server never has to guess.  Migrations are keyed on
 * the one-row table schema_version; every process that opens the
 * database runs them under a session-level advisory lock, so that hosts
 * starting at once migrate one after the other and the later ones find
 * nothing to do.  Each step is one transaction.
 *
 * A broken connection fails the call that finds it with -EIO (logged);
 * it is re-established (PQreset) at once when no transaction is open,
 * else when the transaction is rolled back, so that a statement never
 * runs outside the transaction it was written for.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db/db.h"
#include "db/backend.h"
#include "db/schema.h"
#include "log.h"

#define MAX_PARAMS	16
#define OID_INT8	20
#define OID_INT4	23
#define OID_TEXT	25

/* Seconds a connection attempt may take, unless the conninfo says. */
#define CONNECT_TIMEOUT	"10"

/* The advisory lock the migrations run under (any constant will do). */
#define LOCK_MIGRATE	0x63660001LL

struct pg_db {
	struct cf_db	 base;		/* first: a struct cf_db * is one */
	PGconn		*conn;
	int		 in_tx;		/* a transaction is open */
	int		 sp;		/* savepoint cf_one is set in it */
	int		 nstmt;		/* statements not finished */
};

struct pg_stmt {
	struct cf_db_stmt	 base;	/* first */
	PGresult		*res;
	int			 row;	/* the current row, -1 before */
	int			 nrows;
};

/*
 * Ids are BIGSERIAL, times BIGINT milliseconds; booleans stay INTEGER 0/1
 * (the store's SQL is shared with SQLite).
 */
static const char *const migrations[CF_DB_SCHEMA_VERSION] = {
	CF_SCHEMA_1("to_char(now() AT TIME ZONE 'UTC',"
	    " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"),
	CF_SCHEMA_2("BIGSERIAL PRIMARY KEY", "BIGINT", "", ""),
	CF_SCHEMA_3,
	CF_SCHEMA_4("BIGINT", ""),
	CF_SCHEMA_5("BIGSERIAL PRIMARY KEY", "BIGINT", "", ""),
	CF_SCHEMA_6("BIGINT", ""),
	CF_SCHEMA_7("BIGINT", ""),
	CF_SCHEMA_8_PG,
	CF_SCHEMA_9,
};

/* CREATE ... IF NOT EXISTS and the like say so; nobody reads it. */
static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* libpq's multi-line message on one line, for the log; a static buffer. */
static const char *
oneline(const char *msg)
{
	static char buf[512];
	size_t i;

	snprintf(buf, sizeof(buf), "%s", msg != NULL ? msg : "");
	for (i = strlen(buf); i > 0 && (buf[i - 1] == '\n' ||
	    buf[i - 1] == ' '); i--)
		buf[i - 1] = '\0';
	for (i = 0; buf[i] != '\0'; i++)
		if (buf[i] == '\n' || buf[i] == '\t')
			buf[i] = ' ';
	return (buf);
}

/*
 * After a failed call: when the connection is gone, log it and, outside
 * a transaction, reconnect now (the caller still gets -EIO).
 */
static void
check_conn(struct pg_db *p, const char *func)
{
	if (PQstatus(p->conn) != CONNECTION_BAD)
		return;
	cf_log_warnx("%s: PostgreSQL connection lost: %s", func,
	    oneline(PQerrorMessage(p->conn)));
	if (p->in_tx)
		return;
	PQreset(p->conn);
	if (PQstatus(p->conn) == CONNECTION_OK)
		cf_log_info("PostgreSQL connection re-established");
}

/* Before a call outside a transaction: a connection lost earlier. */
static int
ready(struct pg_db *p, const char *func)
{
	if (PQstatus(p->conn) == CONNECTION_OK)
		return (0);
	if (!p->in_tx) {
		PQreset(p->conn);
		if (PQstatus(p->conn) == CONNECTION_OK) {
			cf_log_info("PostgreSQL connection re-established");
			return (0);
		}
	}
	cf_log_warnx("%s: no PostgreSQL connection: %s", func,
	    oneline(PQerrorMessage(p->conn)));
	return (-EIO);
}

/*
 * Map a failed result to a negative errno, as sqlite.c does: a unique key
 * taken -EEXIST, a missing parent row -ENOENT, a value the schema or a
 * type refuses -EINVAL, anything else -EIO (logged, with the server's
 * primary message only: its detail may quote the values).
 */
static int
res_errno(struct pg_db *p, const PGresult *res, const char *func)
{
	const char *state, *msg;

	state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (state != NULL) {
		if (strcmp(state, "23505") == 0)
			return (-EEXIST);
		if (strcmp(state, "23503") == 0)
			return (-ENOENT);
		if (strcmp(state, "23502") == 0 ||
		    strcmp(state, "23514") == 0 || strncmp(state, "22", 2) == 0)
			return (-EINVAL);
	}
	msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) :
	    NULL;
	cf_log_warnx("%s: %s (%s)", func, oneline(msg != NULL ? msg :
	    PQerrorMessage(p->conn)), state != NULL ? state : "no state");
	check_conn(p, func);
	return (-EIO);
}

/* Run a command without parameters or rows.  0 or a negative errno. */
static int
exec_cmd(struct pg_db *p, const char *func, const char *sql)
{
	PGresult *res;
	int rc = 0;

	res = PQexec(p->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = res_errno(p, res, func);
	PQclear(res);
	return (rc);
}

static void
pq_close(struct cf_db *db)
{
	struct pg_db *p = (struct pg_db *)db;

	PQfinish(p->conn);
	free(p);
}

/* sql with ?N made $N, malloc'd (the store's SQL has no ? in literals). */
static char *
dollars(const char *sql)
{
	char *s, *q;

	if ((s = strdup(sql)) == NULL)
		return (NULL);
	for (q = s; (q = strchr(q, '?')) != NULL; q++)
		*q = '$';
	return (s);
}

static int
pq_prepare(struct cf_db *db, const char *func, struct cf_db_stmt **stp,
    const char *sql, const char *fmt, va_list ap)
{
	struct pg_db *p = (struct pg_db *)db;
	struct pg_stmt *h = NULL;
	char nums[MAX_PARAMS][24], *q = NULL;
	const char *vals[MAX_PARAMS];
	Oid types[MAX_PARAMS];
	int n, rc;

	*stp = NULL;
	for (n = 0; fmt[n] != '\0'; n++) {
		if (n == MAX_PARAMS) {
			cf_log_warnx("%s: too many parameters", func);
			return (-EIO);
		}
		switch (fmt[n]) {
		case 'i':
			snprintf(nums[n], sizeof(nums[n]), "%" PRId64,
			    va_arg(ap, int64_t));
			vals[n] = nums[n];
			types[n] = OID_INT8;
			break;
		case 'd':
			snprintf(nums[n], sizeof(nums[n]), "%d",
			    va_arg(ap, int));
			vals[n] = nums[n];
			types[n] = OID_INT4;
			break;
		case 't':
			vals[n] = va_arg(ap, const char *);
			types[n] = OID_TEXT;
			break;
		default:
			cf_log_warnx("%s: bad bind format '%c'", func, fmt[n]);
			return (-EIO);
		}
	}
	if ((rc = ready(p, func)) != 0)
		return (rc);
	/* Without parameters the text is run as written. */
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (n > 0 && (q = dollars(sql)) == NULL)) {
		rc = -ENOMEM;
		goto fail;
	}
	h->base.db = db;
	h->row = -1;
	h->res = PQexecParams(p->conn, q != NULL ? q : sql, n, types, vals,
	    NULL, NULL, 0);
	switch (PQresultStatus(h->res)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		break;
	default:
		rc = res_errno(p, h->res, func);
		goto fail;
	}
	h->nrows = PQntuples(h->res);
	free(q);
	p->nstmt++;
	*stp = &h->base;
	return (0);
 fail:
	if (h != NULL)
		PQclear(h->res);
	free(h);
	free(q);
	return (rc);
}

/* The statement ran at prepare time: walk its rows. */
static int
pq_step(struct cf_db_stmt *hs, const char *func)
{
	struct pg_stmt *h = (struct pg_stmt *)hs;

	(void)func;
	if (h->row + 1 < h->nrows) {
		h->row++;
		return (1);
	}
	h->row = h->nrows;
	return (0);
}

static int
pq_isnull(struct cf_db_stmt *hs, int col)
{
	struct pg_stmt *h = (struct pg_stmt *)hs;

	if (h->row < 0 || h->row >= h->nrows || col >= PQnfields(h->res))
		return (1);
	return (PQgetisnull(h->res, h->row, col));
}

/* Integers in text form; a boolean ("t"/"f") is 1 or 0.  NULL is 0. */
static int64_t
pq_int64(struct cf_db_stmt *hs, int col)
{
	struct pg_stmt *h = (struct pg_stmt *)hs;
	const char *v;

	if (pq_isnull(hs, col))
		return (0);
	v = PQgetvalue(h->res, h->row, col);
	if (v[0] == 't' && v[1] == '\0')
		return (1);
	if (v[0] == 'f' && v[1] == '\0')
		return (0);
	return (strtoll(v, NULL, 10));
}

static const char *
pq_text(struct cf_db_stmt *hs, int col, size_t *len)
{
	struct pg_stmt *h = (struct pg_stmt *)hs;

	*len = 0;
	if (pq_isnull(hs, col))
		return (NULL);
	*len = (size_t)PQgetlength(h->res, h->row, col);
	return (PQgetvalue(h->res, h->row, col));
}

static int64_t
pq_changes(struct cf_db_stmt *hs)
{
	struct pg_stmt *h = (struct pg_stmt *)hs;

	return (strtoll(PQcmdTuples(h->res), NULL, 10));
}

static void
pq_finish(struct cf_db_stmt *hs)
{
	struct pg_stmt *h = (struct pg_stmt *)hs;

	if (h == NULL)
		return;
	((struct pg_db *)hs->db)->nstmt--;
	PQclear(h->res);
	free(h);
}

/*
 * BEGIN (READ COMMITTED: the store's statements hold their own invariants,
 * see store_int.h), then the transaction-level advisory lock when asked.
 */
static int
pq_begin(struct cf_db *db, const char *func, int64_t lock)
{
	struct pg_db *p = (struct pg_db *)db;
	char sql[64];
	int rc;

	if ((rc = ready(p, func)) != 0)
		return (rc);
	if ((rc = exec_cmd(p, func, "BEGIN")) != 0)
		return (rc);
	p->in_tx = 1;
	p->sp = 0;
	if (lock != 0) {
		snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%lld)",
		    (long long)lock);
		rc = exec_cmd(p, func, sql);
	}
	return (rc);
}

/* COMMIT; a transaction the server had aborted answers ROLLBACK. */
static int
pq_commit(struct cf_db *db, const char *func)
{
	struct pg_db *p = (struct pg_db *)db;
	PGresult *res;
	int rc = 0;

	res = PQexec(p->conn, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = res_errno(p, res, func);
	else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		cf_log_warnx("%s: transaction rolled back by the server", func);
		rc = -EIO;
	}
	PQclear(res);
	if (PQtransactionStatus(p->conn) == PQTRANS_IDLE)
		p->in_tx = 0;
	p->sp = 0;
	return (rc);
}

static void
pq_rollback(struct cf_db *db)
{
	struct pg_db *p = (struct pg_db *)db;

	if (PQstatus(p->conn) == CONNECTION_OK &&
	    PQtransactionStatus(p->conn) != PQTRANS_IDLE)
		PQclear(PQexec(p->conn, "ROLLBACK"));
	p->in_tx = 0;
	p->sp = 0;
	if (PQstatus(p->conn) == CONNECTION_BAD)
		check_conn(p, "rollback");
}

/*
 * Every statement is a round trip, so a savepoint is set once per
 * transaction and moved forward afterwards: release sets the next one in
 * the same round trip ("RELEASE; SAVEPOINT"), and undo goes back to it
 * (ROLLBACK TO keeps it set).  COMMIT ends them all.
 */
static int
pq_savepoint(struct cf_db *db, const char *func)
{
	struct pg_db *p = (struct pg_db *)db;
	int rc;

	if (p->sp)
		return (0);
	if ((rc = exec_cmd(p, func, "SAVEPOINT cf_one")) == 0)
		p->sp = 1;
	return (rc);
}

static int
pq_release(struct cf_db *db, const char *func)
{
	struct pg_db *p = (struct pg_db *)db;
	int rc;

	if ((rc = exec_cmd(p, func, "RELEASE cf_one; SAVEPOINT cf_one")) != 0)
		p->sp = 0;
	return (rc);
}

/*
 * Errors are ignored: a transaction that cannot go back to the savepoint
 * (the connection is gone) fails at COMMIT.
 */
static void
pq_undo(struct cf_db *db)
{
	struct pg_db *p = (struct pg_db *)db;

	if (p->sp && PQstatus(p->conn) == CONNECTION_OK &&
	    PQtransactionStatus(p->conn) != PQTRANS_IDLE)
		PQclear(PQexec(p->conn, "ROLLBACK TO cf_one"));
}

static int
pq_lock(struct cf_db *db, const char *func, int64_t key, int wait)
{
	struct pg_db *p = (struct pg_db *)db;
	PGresult *res;
	char sql[80];
	int rc;

	snprintf(sql, sizeof(sql), "SELECT %s(%lld)", wait ?
	    "pg_advisory_xact_lock" : "pg_try_advisory_xact_lock",
	    (long long)key);
	res = PQexec(p->conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = res_errno(p, res, func);
	else
		rc = wait || (PQntuples(res) == 1 &&
		    strcmp(PQgetvalue(res, 0, 0), "t") == 0);
	PQclear(res);
	return (rc);
}

static int
pq_idle(struct cf_db *db)
{
	struct pg_db *p = (struct pg_db *)db;

	return (p->nstmt == 0 && !p->in_tx &&
	    PQtransactionStatus(p->conn) == PQTRANS_IDLE);
}

static const struct cf_db_ops pq_ops = {
	.name = "postgresql",
	.close = pq_close,
	.prepare = pq_prepare,
	.step = pq_step,
	.isnull = pq_isnull,
	.int64 = pq_int64,
	.text = pq_text,
	.changes = pq_changes,
	.finish = pq_finish,
	.begin = pq_begin,
	.commit = pq_commit,
	.rollback = pq_rollback,
	/*
	 * A transaction keeps the ids of 64 subtransactions that wrote in
	 * shared memory (PGPROC_MAX_CACHED_SUBXIDS); beyond that, every
	 * snapshot of every session looks them up in pg_subtrans.
	 */
	.savepoint = pq_savepoint,
	.batch_max = 64,
	.release = pq_release,
	.lock = pq_lock,
	.undo = pq_undo,
	.idle = pq_idle,
	.text_list = "json_array_elements_text(?1::json)",
	/*
	 * The GIN index of schema 8 finds the matches; the page is the
	 * newest of them, then ranked and highlighted, which costs its own
	 * rows only.  The tsquery is written inline (not in a CTE) so that
	 * the planner folds it.  Two plans, chosen by the store from a
	 * bounded count (search_count_sql), not by the planner's estimate
	 * of a word's frequency, which is far off for the words outside its
	 * statistics: many matches walk the ids backwards until the page is
	 * full (search_sql); few are read from the index and sorted
	 * (search_sparse_sql: "m.id + 0" takes the id index out of play).
	 */
#define PG_SEARCH(ORDER) \
	    "SELECT s.id, ts_headline('simple', s.body," \
	    "  plainto_tsquery('simple', ?1)," \
	    "  'StartSel=\xc2\xab, StopSel=\xc2\xbb, MaxWords=24," \
	    " MinWords=8, ShortWord=0, MaxFragments=2," \
	    " FragmentDelimiter=\" \xe2\x80\xa6 \"')," \
	    "  row_number() OVER (ORDER BY s.id DESC)" \
	    " FROM (SELECT m.id, m.body, m.body_tsv FROM messages m" \
	    "  JOIN channels c ON c.id = m.channel_id" \
	    "  LEFT JOIN channel_members cm ON cm.channel_id = m.channel_id" \
	    "   AND cm.user_id = ?2" \
	    "  WHERE m.body_tsv @@ plainto_tsquery('simple', ?1)" \
	    "   AND m.id < ?4" \
	    "   AND (?3 = 0 OR m.channel_id = ?3)" \
	    "   AND (?2 IS NULL OR c.is_private = 0 OR cm.user_id IS NOT NULL)" \
	    "  ORDER BY " ORDER " DESC LIMIT ?5) s" \
	    " ORDER BY ts_rank(s.body_tsv, plainto_tsquery('simple', ?1)) DESC," \
	    "  s.id DESC"
	.search_sql = PG_SEARCH("m.id"),
	.search_sparse_sql = PG_SEARCH("m.id + 0"),
	.search_count_sql =
	    "SELECT count(*) FROM (SELECT 1 FROM messages"
	    " WHERE body_tsv @@ plainto_tsquery('simple', ?1) AND id < ?2"
	    " LIMIT ?3) x",
	.search_phrases = 0,
};

/* The stored schema version; 0 for a new database, -1 on error. */
static int
schema_version(struct pg_db *p)
{
	PGresult *res;
	int v = -1;

	if (exec_cmd(p, "migrate", "CREATE TABLE IF NOT EXISTS schema_version"
	    " (version INTEGER NOT NULL)") != 0)
		return (-1);
	res = PQexec(p->conn, "SELECT max(version) FROM schema_version");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = PQgetisnull(res, 0, 0) ? 0 :
		    (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
	else
		(void)res_errno(p, res, "migrate");
	PQclear(res);
	return (v);
}

/*
 * Bring the schema to CF_DB_SCHEMA_VERSION under the migration lock; a
 * database newer than this build is refused.  0 or -1 (logged).
 */
static int
migrate(struct pg_db *p)
{
	char sql[96];
	int v, rc = -1;

	snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%lld)",
	    LOCK_MIGRATE);
	if (exec_cmd(p, "migrate", sql) != 0)
		return (-1);
	if ((v = schema_version(p)) == -1)
		goto out;
	if (v > CF_DB_SCHEMA_VERSION) {
		cf_log_warnx("database: schema version %d is newer than this "
		    "build's %d", v, CF_DB_SCHEMA_VERSION);
		goto out;
	}
	for (; v < CF_DB_SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof(sql), "DELETE FROM schema_version;"
		    " INSERT INTO schema_version VALUES (%d)", v + 1);
		if (exec_cmd(p, "migrate", "BEGIN") != 0)
			goto out;
		if (exec_cmd(p, "migrate", migrations[v]) != 0 ||
		    exec_cmd(p, "migrate", sql) != 0 ||
		    exec_cmd(p, "migrate", "COMMIT") != 0) {
			cf_log_warnx("database: migration to version %d failed",
			    v + 1);
			PQclear(PQexec(p->conn, "ROLLBACK"));
			goto out;
		}
	}
	rc = 0;
 out:
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%lld)",
	    LOCK_MIGRATE);
	PQclear(PQexec(p->conn, sql));
	return (rc);
}

/*
 * Connect with conninfo (a libpq URI or key=value string) and migrate.
 * The caller owns the handle.  The conninfo is never logged: it may hold
 * a password.
 */
struct cf_db *
cf_pg_open(const char *conninfo)
{
	/*
	 * Keywords apply in order and the conninfo is expanded in place, so
	 * a connect_timeout of its own wins over this default: a worker
	 * never waits minutes for an unreachable server.
	 */
	const char *const keys[] = { "connect_timeout", "dbname", NULL };
	const char *const vals[] = { CONNECT_TIMEOUT, conninfo, NULL };
	struct pg_db *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return (NULL);
	p->base.ops = &pq_ops;
	if ((p->conn = PQconnectdbParams(keys, vals, 1)) == NULL ||
	    PQstatus(p->conn) != CONNECTION_OK) {
		cf_log_warnx("database: PostgreSQL connection failed: %s",
		    p->conn != NULL ? oneline(PQerrorMessage(p->conn)) :
		    "out of memory");
		goto fail;
	}
	PQsetNoticeProcessor(p->conn, quiet, NULL);
	if (PQsetClientEncoding(p->conn, "UTF8") != 0) {
		cf_log_warnx("database: cannot use UTF8: %s",
		    oneline(PQerrorMessage(p->conn)));
		goto fail;
	}
	if (migrate(p) == -1)
		goto fail;
	return (&p->base);
 fail:
	PQfinish(p->conn);
	free(p);
	return (NULL);
}
