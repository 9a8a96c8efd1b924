/*
 * store_stmt.c -- the statements and transactions of the chat storage
 * (store_int.h): prepare with UTF-8 checked arguments, step, finish; a
 * write transaction of its own, or a message's savepoint inside the
 * worker's group commit (the batch), and the settling of that batch
 * before any other write; the write-latency hook and the statement
 * counter.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "db/store_int.h"
#include "util.h"

static int	 utf8_valid(const char *);
static int	 texts_ok(const char *, va_list);

/* 1 when s is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static int
utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned int c, cp, min;
	int n;

	while ((c = *p++) != '\0') {
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else
			return (0);
		for (; n > 0; n--, p++) {
			if ((*p & 0xc0) != 0x80)
				return (0);
			cp = cp << 6 | (*p & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return (0);
	}
	return (1);
}

/*
 * 1 when every string among the arguments (as fmt describes them, see
 * backend.h) is NULL or UTF-8.  ap is the caller's copy.
 */
static int
texts_ok(const char *fmt, va_list ap)
{
	const char *s;

	for (; *fmt != '\0'; fmt++) {
		switch (*fmt) {
		case 'i':
			(void)va_arg(ap, int64_t);
			break;
		case 'd':
			(void)va_arg(ap, int);
			break;
		case 't':
			if ((s = va_arg(ap, const char *)) != NULL &&
			    !utf8_valid(s))
				return (0);
			break;
		default:
			/* The backend refuses (and logs) a bad format. */
			return (1);
		}
	}
	return (1);
}

/* The write-latency observer (cf_store_set_write_hook) and its clock. */
static void	(*write_hook)(uint64_t us);
static uint64_t	 tx_started_us;
static int	 tx_open;	/* between BEGIN and its COMMIT or ROLLBACK */

void
cf_store_set_write_hook(void (*fn)(uint64_t us))
{
	write_hook = fn;
}

/* Statements prepared (cf_store_set_statement_counter), or NULL. */
static uint64_t	*stmt_counter;

void
cf_store_set_statement_counter(uint64_t *counter)
{
	stmt_counter = counter;
}

/* Prepare sql and bind; *stp is NULL unless 0 is returned. */
int
cf_stmt_vprepare(struct cf_db *db, const char *func, struct cf_db_stmt **stp,
    const char *sql, const char *fmt, va_list ap)
{
	va_list cp;
	int ok, rc;

	*stp = NULL;
	va_copy(cp, ap);
	ok = texts_ok(fmt, cp);
	va_end(cp);
	if (!ok)
		return (-EINVAL);
	if (stmt_counter != NULL)
		__atomic_add_fetch(stmt_counter, 1, __ATOMIC_RELAXED);
	if ((rc = db->ops->prepare(db, func, stp, sql, fmt, ap)) != 0)
		return (rc);
	/* A write committed on its own is timed until cf_stmt_finish(). */
	(*stp)->write_t0 = write_hook != NULL && !tx_open &&
	    (strncmp(sql, "INSERT", 6) == 0 || strncmp(sql, "UPDATE", 6) == 0 ||
	    strncmp(sql, "DELETE", 6) == 0) ? cf_now_us() : 0;
	return (0);
}

int
cf_stmt_prepare(struct cf_db *db, const char *func, struct cf_db_stmt **stp,
    const char *sql, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cf_stmt_vprepare(db, func, stp, sql, fmt, ap);
	va_end(ap);
	return (rc);
}

/* One step: 1 a row, 0 done, or a negative errno. */
int
cf_stmt_step(struct cf_db *db, const char *func, struct cf_db_stmt *st)
{
	return (db->ops->step(st, func));
}

void
cf_stmt_finish(struct cf_db_stmt *st)
{
	if (st == NULL)
		return;
	if (st->write_t0 != 0 && write_hook != NULL)
		write_hook(cf_now_us() - st->write_t0);
	st->db->ops->finish(st);
}

/*
 * Append row(st) for each row of st to arr, at most max rows (max < 0: no
 * limit); *more (may be NULL) tells whether a row beyond max exists.
 * Finishes st.  0 or a negative errno.
 */
int
cf_stmt_collect(struct cf_db *db, const char *func, struct cf_db_stmt *st,
    cf_row_fn row, int max, json_t *arr, int *more)
{
	json_t *v;
	int rc, n = 0;

	if (more != NULL)
		*more = 0;
	while ((rc = cf_stmt_step(db, func, st)) == 1) {
		if (max >= 0 && ++n > max) {
			if (more != NULL)
				*more = 1;
			rc = 0;
			break;
		}
		if ((v = row(st)) == NULL || json_array_append_new(arr, v) == -1) {
			rc = -ENOMEM;
			break;
		}
	}
	cf_stmt_finish(st);
	return (rc);
}

/*
 * Run a statement to its end, ignoring any rows; *changes (may be NULL)
 * receives the number of rows it changed.  0 or a negative errno.
 */
int
cf_stmt_run(struct cf_db *db, const char *func, int64_t *changes,
    const char *sql, const char *fmt, ...)
{
	struct cf_db_stmt *st;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cf_stmt_vprepare(db, func, &st, sql, fmt, ap);
	va_end(ap);
	if (rc != 0)
		return (rc);
	while ((rc = cf_stmt_step(db, func, st)) == 1)
		;
	if (rc == 0 && changes != NULL)
		*changes = db->ops->changes(st);
	cf_stmt_finish(st);
	return (rc);
}

int
cf_stmt_vfirst(struct cf_db *db, const char *func, cf_stmt_row_fn fn,
    void *arg, const char *sql, const char *fmt, va_list ap)
{
	struct cf_db_stmt *st;
	int rc;

	if ((rc = cf_stmt_vprepare(db, func, &st, sql, fmt, ap)) != 0)
		return (rc);
	if ((rc = cf_stmt_step(db, func, st)) == 1)
		rc = fn(st, arg);
	else if (rc == 0)
		rc = -ENOENT;
	cf_stmt_finish(st);
	return (rc);
}

int
cf_stmt_first(struct cf_db *db, const char *func, cf_stmt_row_fn fn,
    void *arg, const char *sql, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cf_stmt_vfirst(db, func, fn, arg, sql, fmt, ap);
	va_end(ap);
	return (rc);
}

struct i64_out {
	int64_t		*out;
	int		*isnull;
};

static int
read_i64(struct cf_db_stmt *st, void *arg)
{
	struct i64_out *o = arg;

	if (o->out != NULL)
		*o->out = cf_row_i64(st, 0);
	if (o->isnull != NULL)
		*o->isnull = cf_row_isnull(st, 0);
	return (0);
}

/*
 * The first column of the first row as an integer into *out (either may be
 * NULL); *isnull tells an SQL NULL.  -ENOENT when there is no row.
 */
int
cf_stmt_query_i64(struct cf_db *db, const char *func, int64_t *out, int *isnull,
    const char *sql, const char *fmt, ...)
{
	struct i64_out o = { out, isnull };
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cf_stmt_vfirst(db, func, read_i64, &o, sql, fmt, ap);
	va_end(ap);
	return (rc);
}

struct obj_out {
	cf_row_fn	 fn;
	json_t		**out;
};

static int
read_obj(struct cf_db_stmt *st, void *arg)
{
	struct obj_out *o = arg;

	return ((*o->out = o->fn(st)) == NULL ? -ENOMEM : 0);
}

/*
 * The first row made into JSON by fn, a new reference in *out.  -ENOENT
 * when there is no row, -ENOMEM when fn fails.
 */
int
cf_stmt_query_obj(struct cf_db *db, const char *func, cf_row_fn fn,
    json_t **out, const char *sql, const char *fmt, ...)
{
	struct obj_out o = { fn, out };
	va_list ap;
	int rc;

	*out = NULL;
	va_start(ap, fmt);
	rc = cf_stmt_vfirst(db, func, read_obj, &o, sql, fmt, ap);
	va_end(ap);
	return (rc);
}

/*
 * Before a write that does not join a group commit (everything but
 * cf_store_message_insert): commit the open batch first, through the
 * hook when one is set (the worker then sends the replies the batch
 * held), so that this write and whatever its caller sends next never
 * depend on a batch that could still fail.  The batch's own outcome is
 * its messages' business, not this write's: nothing is returned.
 */
void
cf_stmt_settle(struct cf_db *db)
{
	if (!db->batch)
		return;
	if (db->flush != NULL)
		(void)db->flush(db->flush_arg);
	else
		(void)cf_store_batch_commit(db);
}

/* Begin a write transaction of its own; lock != 0: see backend.h. */
int
cf_stmt_tx_begin(struct cf_db *db, const char *func, int64_t lock)
{
	int rc;

	cf_stmt_settle(db);
	tx_started_us = cf_now_us();
	tx_open = 1;
	if ((rc = db->ops->begin(db, func, lock)) != 0)
		tx_open = 0;
	return (rc);
}

/*
 * End the transaction: commit when rc is 0, else (or when the commit
 * fails) roll back.  Returns rc, or the commit's error.
 */
int
cf_stmt_tx_end(struct cf_db *db, const char *func, int rc)
{
	if (rc == 0 && (rc = db->ops->commit(db, func)) == 0) {
		tx_open = 0;
		if (write_hook != NULL)
			write_hook(cf_now_us() - tx_started_us);
		return (0);
	}
	tx_open = 0;
	db->ops->rollback(db);
	return (rc);
}

/*
 * The transaction of an index batch (store_search.c): as
 * cf_stmt_tx_begin and cf_stmt_tx_end, through the backend's index_begin
 * and index_end (backend.h).
 */
int
cf_stmt_index_begin(struct cf_db *db, const char *func)
{
	int rc;

	cf_stmt_settle(db);
	tx_started_us = cf_now_us();
	tx_open = 1;
	if ((rc = db->ops->index_begin(db, func)) != 0)
		tx_open = 0;
	return (rc);
}

int
cf_stmt_index_end(struct cf_db *db, const char *func, int rc)
{
	rc = db->ops->index_end(db, func, rc);
	tx_open = 0;
	if (rc == 0 && write_hook != NULL)
		write_hook(cf_now_us() - tx_started_us);
	return (rc);
}

/*
 * Begin the work of one message, under the transaction-level lock `lock`:
 * inside an open batch a savepoint, so that its failure undoes it alone;
 * otherwise a transaction of its own.  A batch that holds locks already
 * only takes a free one: waiting while holding locks could deadlock with
 * another host's batch, so a held lock is -EAGAIN (the caller commits its
 * batch and tries again in a new one, which may wait).
 */
int
cf_stmt_one_begin(struct cf_db *db, const char *func, int64_t lock)
{
	int rc;

	if (!db->batch)
		return (cf_stmt_tx_begin(db, func, lock));
	if ((rc = db->ops->savepoint(db, func)) != 0)
		return (rc);
	if ((rc = db->ops->lock(db, func, lock, db->batch_locks == 0)) == 1) {
		db->batch_locks++;
		return (0);
	}
	db->ops->undo(db);
	return (rc == 0 ? -EAGAIN : rc);
}

/*
 * End it: keep it when rc is 0 (released into the batch, or committed),
 * else undo it.  Returns rc, or the release's or commit's error.
 */
int
cf_stmt_one_end(struct cf_db *db, const char *func, int rc)
{
	if (!db->batch)
		return (cf_stmt_tx_end(db, func, rc));
	if (rc == 0 && (rc = db->ops->release(db, func)) == 0)
		return (0);
	db->ops->undo(db);
	return (rc);
}

int
cf_store_batch_begin(struct cf_db *db)
{
	int rc;

	if (db == NULL)
		return (-EINVAL);
	if (db->batch)
		return (0);
	tx_started_us = cf_now_us();
	if ((rc = db->ops->begin(db, __func__, 0)) != 0) {
		db->ops->rollback(db);
		return (rc);
	}
	tx_open = 1;	/* the batch is one write for the hook, to its COMMIT */
	db->batch = 1;
	db->batch_n = 0;
	db->batch_locks = 0;
	return (0);
}

int
cf_store_batch_commit(struct cf_db *db)
{
	if (db == NULL || !db->batch)
		return (0);
	db->batch = 0;
	db->batch_n = 0;
	db->batch_locks = 0;
	return (cf_stmt_tx_end(db, __func__, 0));
}

int
cf_store_batch_open(const struct cf_db *db)
{
	return (db != NULL && db->batch);
}

unsigned
cf_store_batch_max(const struct cf_db *db)
{
	return (db != NULL ? db->ops->batch_max : 1);
}

unsigned
cf_store_batch_size(const struct cf_db *db)
{
	return (db != NULL && db->batch ? db->batch_n : 0);
}

void
cf_store_batch_hook(struct cf_db *db, int (*flush)(void *), void *arg)
{
	if (db == NULL)
		return;
	db->flush = flush;
	db->flush_arg = arg;
}

void
cf_store_event_hook(struct cf_db *db, cf_store_event_fn fn, void *arg)
{
	if (db == NULL)
		return;
	db->event = fn;
	db->event_arg = arg;
}

int
cf_stmt_event(struct cf_db *db, const char *event, json_t *data)
{
	int rc;

	if (data == NULL)
		return (-ENOMEM);
	rc = db->event != NULL ? db->event(db->event_arg, db, event, data) : 0;
	json_decref(data);
	return (rc);
}

int
cf_stmt_ev_begin(struct cf_db *db, const char *func)
{
	if (db->event != NULL)
		return (cf_stmt_tx_begin(db, func, 0));
	cf_stmt_settle(db);
	return (0);
}

int
cf_stmt_ev_end(struct cf_db *db, const char *func, int rc)
{
	return (db->event != NULL ? cf_stmt_tx_end(db, func, rc) : rc);
}

/*
 * In a transaction of its own (which settles an open batch first), as
 * any write outside the store's functions: those report their own
 * events with cf_stmt_event, inside their transaction.
 */
int
cf_store_event(struct cf_db *db, const char *event, const json_t *data)
{
	int rc;

	if (db == NULL || event == NULL || data == NULL)
		return (-EINVAL);
	if (db->event == NULL)
		return (0);
	if ((rc = cf_stmt_tx_begin(db, __func__, 0)) != 0)
		return (rc);
	rc = db->event(db->event_arg, db, event, data);
	return (cf_stmt_tx_end(db, __func__, rc));
}
