/*
 * store.c -- the chat storage, on either backend (backend.h).  The
 * contracts are in store.h; the schema is schema.h, migrated by sqlite.c
 * and pg.c.
 *
 * The SQL is written once, in the dialect both backends accept (see
 * backend.h).  Every statement is prepared for the call that runs it and
 * finished before that call returns, on every path.  Writes that belong
 * together run in one transaction.  A worker may group the inserts of
 * many messages into one transaction, a batch (cf_store_batch_begin):
 * each message is then a savepoint of it, and every other write commits
 * the open batch first (settle()), so that only messages ever wait for a
 * batch's commit.  The semantics do not depend on the
 * backend's isolation: a message's clientMsgId is deduplicated by a
 * unique key (INSERT ... ON CONFLICT DO NOTHING), a read position moves
 * forward in one upsert, a call changes state with one conditional UPDATE
 * (racing workers or hosts: one winner), and the busy check of a new call
 * and the insert of a message run under locks every host takes (the
 * latter per channel, so that ids commit in order).  Text bound to a
 * statement must be valid UTF-8 (-EINVAL otherwise), so that whatever is
 * stored can be sent back out as JSON.  The backends log their own errors
 * (-EIO), never the values involved.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "db/db.h"
#include "db/backend.h"
#include "db/store.h"
#include "log.h"
#include "util.h"

#define PAGE_MAX	100		/* the largest history page */

/* The columns of a channel, in the order channel_row() reads them. */
#define CHANNEL_COLS \
	"c.id, c.name, c.description, c.is_private, c.created_by, c.created_at"

/* A message with its file, in the order message_row() reads them. */
#define MESSAGE_SELECT \
	"SELECT m.id, m.channel_id, m.user_id, m.user_display_name, m.body," \
	"  m.message_type, m.reply_to_id, m.client_msg_id, m.created_at," \
	"  f.file_name, f.file_size, f.file_type" \
	" FROM messages m LEFT JOIN message_files f ON f.message_id = m.id"

typedef json_t *(*row_fn)(struct cf_db_stmt *);

/*
 * The transaction-level lock new calls take (backend.h): the busy check
 * and the insert of a call are one step for every host.
 */
#define LOCK_CALLS	0x63660002LL
/*
 * The lock a new message of a channel takes, so that the messages of a
 * channel commit in id order: a reader that has seen id n (live, or in a
 * page after n) never later finds a smaller id appear.  Tagged in the
 * high bits, apart from the constants above.
 */
#define LOCK_CHANNEL(id)	(0x6366LL << 48 | ((id) & 0xffffffffffffLL))

static int	 utf8_valid(const char *);
static int	 texts_ok(const char *, va_list);
static int	 vprepare(struct cf_db *, const char *, struct cf_db_stmt **,
		    const char *, const char *, va_list);
static int	 prepare(struct cf_db *, const char *, struct cf_db_stmt **,
		    const char *, const char *, ...);
static int	 step(struct cf_db *, const char *, struct cf_db_stmt *);
static void	 finish(struct cf_db_stmt *);
static int	 collect(struct cf_db *, const char *, struct cf_db_stmt *,
		    row_fn, int, json_t *, int *);
static int	 run(struct cf_db *, const char *, int64_t *, const char *,
		    const char *, ...);
static int	 query_i64(struct cf_db *, const char *, int64_t *, int *,
		    const char *, const char *, ...);
static int	 query_obj(struct cf_db *, const char *, row_fn, json_t **,
		    const char *, const char *, ...);
static void	 settle(struct cf_db *);
static int	 tx_begin(struct cf_db *, const char *, int64_t);
static int	 tx_end(struct cf_db *, const char *, int);
static int	 one_begin(struct cf_db *, const char *, int64_t);
static int	 one_end(struct cf_db *, const char *, int);
static int	 col_isnull(struct cf_db_stmt *, int);
static int64_t	 col_i64(struct cf_db_stmt *, int);
static json_t	*col_text(struct cf_db_stmt *, int);
static json_t	*col_int_or_null(struct cf_db_stmt *, int);
static json_t	*col_time(struct cf_db_stmt *, int);
static json_t	*col_user(struct cf_db_stmt *, int);
static char	*name_key(const char *);
static json_t	*channel_row(struct cf_db_stmt *);
static json_t	*channel_list_row(struct cf_db_stmt *);
static json_t	*message_row(struct cf_db_stmt *);
static json_t	*presence_row(struct cf_db_stmt *);
static int	 channel_load(struct cf_db *, const char *, int64_t, json_t **);
static int	 message_load(struct cf_db *, const char *, int64_t, json_t **);
static int	 id_ok(const char *);
static void	 col_copy(struct cf_db_stmt *, int, char *, size_t);
static void	 call_row(struct cf_db_stmt *, struct cf_call *);
static json_t	*call_json_row(struct cf_db_stmt *);
static int	 fits(const char *, size_t);
static int	 call_status_ok(const char *);
static int	 call_args_ok(const char *, const char *, const char *,
		    const char *);
static int	 call_query(struct cf_db *, const char *, struct cf_call *,
		    const char *, const char *, ...);
static int	 call_collect(struct cf_db *, const char *, struct cf_call **,
		    size_t *, const char *, const char *, ...);
static int	 call_insert(struct cf_db *, const char *, const char *,
		    const char *, const char *, const char *, const char *, int,
		    int64_t, struct cf_call *);
static int	 call_cmp(const void *, const void *);

/* ------------------------------------------------------------------ */
/* Helpers: validation, statements, transactions                      */
/* ------------------------------------------------------------------ */

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

/* A user id or similar key: present and not empty. */
static int
id_ok(const char *s)
{
	return (s != NULL && *s != '\0');
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
static int	 tx_open;	/* between tx_begin and tx_end */

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
static int
vprepare(struct cf_db *db, const char *func, struct cf_db_stmt **stp,
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
	/* A write committed on its own is timed until finish(). */
	(*stp)->write_t0 = write_hook != NULL && !tx_open &&
	    (strncmp(sql, "INSERT", 6) == 0 || strncmp(sql, "UPDATE", 6) == 0 ||
	    strncmp(sql, "DELETE", 6) == 0) ? cf_now_us() : 0;
	return (0);
}

static int
prepare(struct cf_db *db, const char *func, struct cf_db_stmt **stp,
    const char *sql, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vprepare(db, func, stp, sql, fmt, ap);
	va_end(ap);
	return (rc);
}

/* One step: 1 a row, 0 done, or a negative errno. */
static int
step(struct cf_db *db, const char *func, struct cf_db_stmt *st)
{
	return (db->ops->step(st, func));
}

static void
finish(struct cf_db_stmt *st)
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
static int
collect(struct cf_db *db, const char *func, struct cf_db_stmt *st,
    row_fn row, int max, json_t *arr, int *more)
{
	json_t *v;
	int rc, n = 0;

	if (more != NULL)
		*more = 0;
	while ((rc = step(db, func, st)) == 1) {
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
	finish(st);
	return (rc);
}

/*
 * Run a statement to its end, ignoring any rows; *changes (may be NULL)
 * receives the number of rows it changed.  0 or a negative errno.
 */
static int
run(struct cf_db *db, const char *func, int64_t *changes, const char *sql,
    const char *fmt, ...)
{
	struct cf_db_stmt *st;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vprepare(db, func, &st, sql, fmt, ap);
	va_end(ap);
	if (rc != 0)
		return (rc);
	while ((rc = step(db, func, st)) == 1)
		;
	if (rc == 0 && changes != NULL)
		*changes = db->ops->changes(st);
	finish(st);
	return (rc);
}

/*
 * The first column of the first row as an integer into *out (either may be
 * NULL); *isnull tells an SQL NULL.  -ENOENT when there is no row.
 */
static int
query_i64(struct cf_db *db, const char *func, int64_t *out, int *isnull,
    const char *sql, const char *fmt, ...)
{
	struct cf_db_stmt *st;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vprepare(db, func, &st, sql, fmt, ap);
	va_end(ap);
	if (rc != 0)
		return (rc);
	if ((rc = step(db, func, st)) == 1) {
		if (out != NULL)
			*out = col_i64(st, 0);
		if (isnull != NULL)
			*isnull = col_isnull(st, 0);
		rc = 0;
	} else if (rc == 0)
		rc = -ENOENT;
	finish(st);
	return (rc);
}

/*
 * The first row made into JSON by fn, a new reference in *out.  -ENOENT
 * when there is no row, -ENOMEM when fn fails.
 */
static int
query_obj(struct cf_db *db, const char *func, row_fn fn, json_t **out,
    const char *sql, const char *fmt, ...)
{
	struct cf_db_stmt *st;
	va_list ap;
	int rc;

	*out = NULL;
	va_start(ap, fmt);
	rc = vprepare(db, func, &st, sql, fmt, ap);
	va_end(ap);
	if (rc != 0)
		return (rc);
	if ((rc = step(db, func, st)) == 1)
		rc = (*out = fn(st)) == NULL ? -ENOMEM : 0;
	else if (rc == 0)
		rc = -ENOENT;
	finish(st);
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
static void
settle(struct cf_db *db)
{
	if (!db->batch)
		return;
	if (db->flush != NULL)
		(void)db->flush(db->flush_arg);
	else
		(void)cf_store_batch_commit(db);
}

/* Begin a write transaction of its own; lock != 0: see backend.h. */
static int
tx_begin(struct cf_db *db, const char *func, int64_t lock)
{
	int rc;

	settle(db);
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
static int
tx_end(struct cf_db *db, const char *func, int rc)
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
 * Begin the work of one message, under the transaction-level lock `lock`:
 * inside an open batch a savepoint, so that its failure undoes it alone;
 * otherwise a transaction of its own.  A batch that holds locks already
 * only takes a free one: waiting while holding locks could deadlock with
 * another host's batch, so a held lock is -EAGAIN (the caller commits its
 * batch and tries again in a new one, which may wait).
 */
static int
one_begin(struct cf_db *db, const char *func, int64_t lock)
{
	int rc;

	if (!db->batch)
		return (tx_begin(db, func, lock));
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
static int
one_end(struct cf_db *db, const char *func, int rc)
{
	if (!db->batch)
		return (tx_end(db, func, rc));
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
	return (tx_end(db, __func__, 0));
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

/* ------------------------------------------------------------------ */
/* Rows to JSON; each returns a new reference, or NULL on failure     */
/* ------------------------------------------------------------------ */

static int
col_isnull(struct cf_db_stmt *st, int i)
{
	return (st->db->ops->isnull(st, i));
}

static int64_t
col_i64(struct cf_db_stmt *st, int i)
{
	return (st->db->ops->int64(st, i));
}

static json_t *
col_text(struct cf_db_stmt *st, int i)
{
	const char *s;
	size_t len;

	if (col_isnull(st, i))
		return (json_null());
	if ((s = st->db->ops->text(st, i, &len)) == NULL)
		return (NULL);
	return (json_stringn(s, len));
}

static json_t *
col_int_or_null(struct cf_db_stmt *st, int i)
{
	if (col_isnull(st, i))
		return (json_null());
	return (json_integer(col_i64(st, i)));
}

static json_t *
col_time(struct cf_db_stmt *st, int i)
{
	char buf[48];

	if (col_isnull(st, i))
		return (json_null());
	cf_store_iso8601(col_i64(st, i), buf, sizeof(buf));
	return (json_string(buf));
}

static json_t *
col_user(struct cf_db_stmt *st, int i)
{
	size_t len;

	return (cf_store_user_id_json(st->db->ops->text(st, i, &len)));
}

/*
 * The unique key of a channel name: the name with ASCII letters folded to
 * lower case (the same on every backend and locale).  malloc'd, or NULL.
 */
static char *
name_key(const char *name)
{
	char *k, *p;

	if ((k = strdup(name)) == NULL)
		return (NULL);
	for (p = k; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return (k);
}

/* Columns 0-5 as CHANNEL_COLS. */
static json_t *
channel_row(struct cf_db_stmt *st)
{
	json_t *c;
	int bad = 0;

	if ((c = json_object()) == NULL)
		return (NULL);
	bad |= json_object_set_new(c, "id",
	    json_integer(col_i64(st, 0)));
	bad |= json_object_set_new(c, "name", col_text(st, 1));
	bad |= json_object_set_new(c, "description", col_text(st, 2));
	bad |= json_object_set_new(c, "isPrivate",
	    json_boolean(col_i64(st, 3) != 0));
	bad |= json_object_set_new(c, "createdBy", col_user(st, 4));
	bad |= json_object_set_new(c, "createdAt", col_time(st, 5));
	if (bad) {
		json_decref(c);
		return (NULL);
	}
	return (c);
}

/* A channel, then is-member, last read id, unread count (columns 6-8). */
static json_t *
channel_list_row(struct cf_db_stmt *st)
{
	json_t *c;
	int bad = 0;

	if ((c = channel_row(st)) == NULL)
		return (NULL);
	bad |= json_object_set_new(c, "isMember",
	    json_boolean(col_i64(st, 6) != 0));
	bad |= json_object_set_new(c, "lastReadMessageId",
	    col_int_or_null(st, 7));
	bad |= json_object_set_new(c, "unreadCount",
	    json_integer(col_i64(st, 8)));
	if (bad) {
		json_decref(c);
		return (NULL);
	}
	return (c);
}

/*
 * The columns of MESSAGE_SELECT.  clientMsgId only when stored; file only
 * when a file is attached (message_files row).
 */
static json_t *
message_row(struct cf_db_stmt *st)
{
	json_t *m, *f;
	int bad = 0;

	if ((m = json_object()) == NULL)
		return (NULL);
	bad |= json_object_set_new(m, "id",
	    json_integer(col_i64(st, 0)));
	bad |= json_object_set_new(m, "channelId",
	    json_integer(col_i64(st, 1)));
	bad |= json_object_set_new(m, "userId", col_user(st, 2));
	bad |= json_object_set_new(m, "userDisplayName", col_text(st, 3));
	bad |= json_object_set_new(m, "message", col_text(st, 4));
	bad |= json_object_set_new(m, "messageType", col_text(st, 5));
	bad |= json_object_set_new(m, "replyToId", col_int_or_null(st, 6));
	bad |= json_object_set_new(m, "timestamp", col_time(st, 8));
	if (!col_isnull(st, 7))
		bad |= json_object_set_new(m, "clientMsgId", col_text(st, 7));
	if (!col_isnull(st, 9)) {
		if ((f = json_object()) == NULL)
			bad = 1;
		else {
			bad |= json_object_set_new(f, "fileName",
			    col_text(st, 9));
			bad |= json_object_set_new(f, "fileSize",
			    json_integer(col_i64(st, 10)));
			bad |= json_object_set_new(f, "fileType",
			    col_text(st, 11));
			bad |= json_object_set_new(m, "file", f);
		}
	}
	if (bad) {
		json_decref(m);
		return (NULL);
	}
	return (m);
}

/* status, status_message, custom_status. */
static json_t *
presence_row(struct cf_db_stmt *st)
{
	json_t *p;
	int bad = 0;

	if ((p = json_object()) == NULL)
		return (NULL);
	bad |= json_object_set_new(p, "status", col_text(st, 0));
	bad |= json_object_set_new(p, "statusMessage", col_text(st, 1));
	bad |= json_object_set_new(p, "customStatus", col_text(st, 2));
	if (bad) {
		json_decref(p);
		return (NULL);
	}
	return (p);
}

static int
channel_load(struct cf_db *db, const char *func, int64_t id, json_t **channel)
{
	return (query_obj(db, func, channel_row, channel,
	    "SELECT " CHANNEL_COLS " FROM channels c WHERE c.id = ?1",
	    "i", id));
}

static int
message_load(struct cf_db *db, const char *func, int64_t id, json_t **message)
{
	return (query_obj(db, func, message_row, message,
	    MESSAGE_SELECT " WHERE m.id = ?1", "i", id));
}

/* ------------------------------------------------------------------ */
/* Conversions                                                         */
/* ------------------------------------------------------------------ */

/*
 * A user id as JSON: a string of digits without a leading zero (or "0")
 * that fits in int64 becomes an integer, anything else a string, so that
 * the conversion can be undone.  NULL gives JSON null.  Returns a new
 * reference, or NULL on allocation failure or a string that is not UTF-8.
 */
json_t *
cf_store_user_id_json(const char *user_id)
{
	const char *p;
	int64_t v = 0;
	int d;

	if (user_id == NULL)
		return (json_null());
	if (*user_id == '\0' || (user_id[0] == '0' && user_id[1] != '\0'))
		return (json_string(user_id));
	for (p = user_id; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return (json_string(user_id));
		d = *p - '0';
		if (v > (INT64_MAX - d) / 10)
			return (json_string(user_id));
		v = v * 10 + d;
	}
	return (json_integer(v));
}

/*
 * Milliseconds since the epoch (negative ones too) as
 * "YYYY-MM-DDTHH:MM:SS.mmmZ", truncated to len - 1 characters; an empty
 * string when the time cannot be represented.  Nothing is written when
 * len is 0.
 */
void
cf_store_iso8601(int64_t ms, char *buf, size_t len)
{
	struct tm tm;
	int64_t s, r;
	time_t t;

	if (buf == NULL || len == 0)
		return;
	s = ms / 1000;
	r = ms % 1000;
	if (r < 0) {
		r += 1000;
		s--;
	}
	t = (time_t)s;
	if (gmtime_r(&t, &tm) == NULL) {
		buf[0] = '\0';
		return;
	}
	snprintf(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    (long long)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, (int)r);
}

/* ------------------------------------------------------------------ */
/* Users and channels                                                 */
/* ------------------------------------------------------------------ */

/* Insert the user, or refresh its display name and role. */
int
cf_store_user_upsert(struct cf_db *db, const char *user_id,
    const char *display_name, const char *role, int64_t now_ms)
{
	if (db == NULL || !id_ok(user_id) || display_name == NULL ||
	    role == NULL)
		return (-EINVAL);
	settle(db);
	return (run(db, __func__, NULL,
	    "INSERT INTO users(id, display_name, role, created_at, updated_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?4)"
	    " ON CONFLICT(id) DO UPDATE SET"
	    "  display_name = excluded.display_name,"
	    "  role = excluded.role, updated_at = excluded.updated_at",
	    "ttti", user_id, display_name, role, now_ms));
}

/*
 * Copy the stored display name of user_id into buf, NUL-terminated.  A
 * name longer than len - 1 bytes is cut at a character boundary, so that
 * the result stays UTF-8.  -ENOENT when the user is unknown.
 */
int
cf_store_user_name(struct cf_db *db, const char *user_id, char *buf, size_t len)
{
	struct cf_db_stmt *st;
	const char *s;
	size_t n;
	int rc;

	if (db == NULL || !id_ok(user_id) || buf == NULL || len == 0)
		return (-EINVAL);
	buf[0] = '\0';
	if ((rc = prepare(db, __func__, &st,
	    "SELECT display_name FROM users WHERE id = ?1", "t", user_id)) != 0)
		return (rc);
	if ((rc = step(db, __func__, st)) == 1) {
		if ((s = db->ops->text(st, 0, &n)) == NULL)
			rc = -ENOMEM;
		else {
			if (n >= len) {
				n = len - 1;
				/* Back off over continuation bytes. */
				while (n > 0 && ((unsigned char)s[n] & 0xc0) ==
				    0x80)
					n--;
			}
			memcpy(buf, s, n);
			buf[n] = '\0';
			rc = 0;
		}
	} else if (rc == 0)
		rc = -ENOENT;
	finish(st);
	return (rc);
}

/*
 * Create a channel with its creator and member_ids (duplicates ignored) as
 * members, in one transaction.  *channel is a new reference on success,
 * NULL otherwise.  -EEXIST when the name is taken (case-insensitively).
 */
int
cf_store_channel_create(struct cf_db *db, const char *name,
    const char *description, int is_private, const char *created_by,
    const char *const *member_ids, size_t nmembers, int64_t now_ms,
    json_t **channel)
{
	char *key = NULL;
	int64_t id;
	size_t i;
	int rc;

	if (channel == NULL)
		return (-EINVAL);
	*channel = NULL;
	if (db == NULL || name == NULL || *name == '\0' ||
	    !id_ok(created_by) || (nmembers > 0 && member_ids == NULL))
		return (-EINVAL);
	for (i = 0; i < nmembers; i++)
		if (!id_ok(member_ids[i]))
			return (-EINVAL);
	if ((key = name_key(name)) == NULL)
		return (-ENOMEM);
	if ((rc = tx_begin(db, __func__, 0)) != 0)
		goto out;
	rc = query_i64(db, __func__, &id, NULL,
	    "INSERT INTO channels(name, name_key, description, is_private,"
	    "  created_by, created_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
	    "tttdti", name, key, description, is_private ? 1 : 0, created_by,
	    now_ms);
	for (i = 0; i <= nmembers && rc == 0; i++)
		rc = run(db, __func__, NULL,
		    "INSERT INTO channel_members(channel_id, user_id, joined_at)"
		    " VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
		    "iti", id, i == 0 ? created_by : member_ids[i - 1], now_ms);
	if (rc == 0)
		rc = channel_load(db, __func__, id, channel);
	if ((rc = tx_end(db, __func__, rc)) != 0) {
		json_decref(*channel);
		*channel = NULL;
	}
 out:
	free(key);
	return (rc);
}

/*
 * The meta row goes in first: a second host starting at once waits on its
 * key until this transaction ends, then finds it and creates nothing.
 */
int
cf_store_default_channel(struct cf_db *db, const char *name, int64_t now_ms,
    int64_t *id)
{
	char *key = NULL;
	int64_t changes = 0, n = 0, newid = 0;
	int rc;

	if (id != NULL)
		*id = 0;
	if (db == NULL || name == NULL || *name == '\0')
		return (-EINVAL);
	if ((key = name_key(name)) == NULL)
		return (-ENOMEM);
	if ((rc = tx_begin(db, __func__, 0)) != 0)
		goto out;
	rc = run(db, __func__, &changes,
	    "INSERT INTO meta(key, value) VALUES ('default_channel', ?1)"
	    " ON CONFLICT DO NOTHING", "t", name);
	if (rc == 0 && changes == 1)
		rc = query_i64(db, __func__, &n, NULL,
		    "SELECT count(*) FROM channels", "");
	if (rc == 0 && changes == 1 && n == 0)
		rc = query_i64(db, __func__, &newid, NULL,
		    "INSERT INTO channels(name, name_key, description,"
		    "  is_private, created_by, created_at)"
		    " VALUES (?1, ?2, NULL, 0, '0', ?3) RETURNING id",
		    "tti", name, key, now_ms);
	if ((rc = tx_end(db, __func__, rc)) == 0 && id != NULL)
		*id = newid;
 out:
	free(key);
	return (rc);
}

/* The channel as JSON (new reference), or -ENOENT. */
int
cf_store_channel_get(struct cf_db *db, int64_t channel_id, json_t **channel)
{
	if (channel == NULL)
		return (-EINVAL);
	*channel = NULL;
	if (db == NULL)
		return (-EINVAL);
	return (channel_load(db, __func__, channel_id, channel));
}

/*
 * 1 when user_id is a member of the channel, 0 when not, -ENOENT when the
 * channel does not exist (so that one call tells "forbidden" from "not
 * found").
 */
int
cf_store_is_member(struct cf_db *db, int64_t channel_id, const char *user_id)
{
	int64_t v;
	int rc;

	if (db == NULL || !id_ok(user_id))
		return (-EINVAL);
	rc = query_i64(db, __func__, &v, NULL,
	    "SELECT EXISTS (SELECT 1 FROM channel_members"
	    "  WHERE channel_id = ?1 AND user_id = ?2)"
	    " FROM channels WHERE id = ?1", "it", channel_id, user_id);
	if (rc != 0)
		return (rc);
	return (v != 0);
}

/* Make user_id a member; a no-op when it is one.  -ENOENT: no channel. */
int
cf_store_member_add(struct cf_db *db, int64_t channel_id, const char *user_id,
    int64_t now_ms)
{
	int64_t n = 0;
	int rc;

	if (db == NULL || !id_ok(user_id))
		return (-EINVAL);
	settle(db);
	rc = run(db, __func__, &n,
	    "INSERT INTO channel_members(channel_id, user_id, joined_at)"
	    " SELECT id, ?2, ?3 FROM channels WHERE id = ?1"
	    " ON CONFLICT DO NOTHING",
	    "iti", channel_id, user_id, now_ms);
	if (rc != 0 || n > 0)
		return (rc);
	/* Nothing inserted: already a member, or no such channel. */
	return (query_i64(db, __func__, NULL, NULL,
	    "SELECT 1 FROM channels WHERE id = ?1", "i", channel_id));
}

/*
 * The channels user_id can see, by id, in one query: the unread count is a
 * correlated subquery over the index messages(channel_id, id, user_id),
 * stopped at CF_STORE_UNREAD_MAX rows (a channel never read, or of which
 * the user is not a member, would otherwise count every message of
 * others, on every call).  *channels is a new array on success.
 */
int
cf_store_channel_list(struct cf_db *db, const char *user_id, json_t **channels)
{
	struct cf_db_stmt *st;
	json_t *arr;
	int rc;

	if (channels == NULL)
		return (-EINVAL);
	*channels = NULL;
	if (db == NULL || !id_ok(user_id))
		return (-EINVAL);
	if ((arr = json_array()) == NULL)
		return (-ENOMEM);
	rc = prepare(db, __func__, &st,
	    "SELECT " CHANNEL_COLS ","
	    "  CASE WHEN m.user_id IS NOT NULL THEN 1 ELSE 0 END,"
	    "  m.last_read_message_id,"
	    "  (SELECT count(*) FROM (SELECT 1 FROM messages x"
	    "    WHERE x.channel_id = c.id"
	    "    AND x.id > coalesce(m.last_read_message_id, 0)"
	    "    AND x.user_id <> ?1 LIMIT ?2) u)"
	    " FROM channels c LEFT JOIN channel_members m"
	    "  ON m.channel_id = c.id AND m.user_id = ?1"
	    " WHERE c.is_private = 0 OR m.user_id IS NOT NULL"
	    " ORDER BY c.id", "ti", user_id, (int64_t)CF_STORE_UNREAD_MAX);
	if (rc != 0 || (rc = collect(db, __func__, st, channel_list_row, -1,
	    arr, NULL)) != 0)
		goto fail;
	*channels = arr;
	return (0);
 fail:
	json_decref(arr);
	return (rc);
}

/*
 * Apply changes ("name", "description", "isPrivate"; any other key or a
 * wrong type is -EINVAL), store the audit row with the changes as compact
 * JSON, and return the channel as it now is, all in one transaction.
 * -ENOENT: no channel; -EEXIST: the new name is taken.
 */
int
cf_store_channel_update(struct cf_db *db, int64_t channel_id,
    const json_t *changes, const char *updated_by, int64_t now_ms,
    json_t **channel)
{
	const json_t *v;
	const char *name = NULL, *desc = NULL;
	char *dump = NULL, *key = NULL;
	int64_t n = 0;
	size_t known = 0;
	int set_name = 0, set_desc = 0, set_priv = 0, priv = 0, rc;

	if (channel == NULL)
		return (-EINVAL);
	*channel = NULL;
	if (db == NULL || !json_is_object(changes) || !id_ok(updated_by))
		return (-EINVAL);
	if ((v = json_object_get(changes, "name")) != NULL) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return (-EINVAL);
		name = json_string_value(v);
		set_name = 1;
		known++;
	}
	if ((v = json_object_get(changes, "description")) != NULL) {
		if (json_is_string(v)) {
			desc = json_string_value(v);
			if (strlen(desc) != json_string_length(v))
				return (-EINVAL);
		} else if (!json_is_null(v))
			return (-EINVAL);
		set_desc = 1;
		known++;
	}
	if ((v = json_object_get(changes, "isPrivate")) != NULL) {
		if (!json_is_boolean(v))
			return (-EINVAL);
		priv = json_is_true(v);
		set_priv = 1;
		known++;
	}
	if (known != json_object_size(changes))
		return (-EINVAL);
	if ((dump = json_dumps(changes, JSON_COMPACT | JSON_SORT_KEYS)) ==
	    NULL || (set_name && (key = name_key(name)) == NULL)) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = tx_begin(db, __func__, 0)) != 0)
		goto out;
	rc = run(db, __func__, &n,
	    "UPDATE channels SET"
	    "  name = CASE WHEN ?2 <> 0 THEN ?3 ELSE name END,"
	    "  name_key = CASE WHEN ?2 <> 0 THEN ?8 ELSE name_key END,"
	    "  description = CASE WHEN ?4 <> 0 THEN ?5 ELSE description END,"
	    "  is_private = CASE WHEN ?6 <> 0 THEN ?7 ELSE is_private END"
	    " WHERE id = ?1",
	    "idtdtddt", channel_id, set_name, name, set_desc, desc, set_priv,
	    priv, key);
	if (rc == 0 && n == 0)
		rc = -ENOENT;
	if (rc == 0)
		rc = run(db, __func__, NULL,
		    "INSERT INTO channel_updates(channel_id, changes,"
		    "  updated_by, updated_at) VALUES (?1, ?2, ?3, ?4)",
		    "itti", channel_id, dump, updated_by, now_ms);
	if (rc == 0)
		rc = channel_load(db, __func__, channel_id, channel);
	if ((rc = tx_end(db, __func__, rc)) != 0) {
		json_decref(*channel);
		*channel = NULL;
	}
 out:
	free(dump);
	free(key);
	return (rc);
}

/* ------------------------------------------------------------------ */
/* Messages and files                                                 */
/* ------------------------------------------------------------------ */

/*
 * Store a message, in one transaction or, inside an open batch, one
 * savepoint of it (undone alone on failure): the channel must exist and a
 * non-zero reply_to_id be a message of it (-ENOENT).  A client_msg_id the
 * user already used (the UNIQUE(user_id, client_msg_id) key refuses the
 * row, even against a writer on another connection that has not committed
 * yet) stores nothing: *message is then the original and *duplicate 1.
 * *message is a new reference on success; duplicate may be NULL.
 */
int
cf_store_message_insert(struct cf_db *db, int64_t channel_id,
    const char *user_id, const char *display_name, const char *text,
    const char *message_type, int64_t reply_to_id,
    const char *client_msg_id, int64_t now_ms, json_t **message,
    int *duplicate)
{
	int rc, dup = 0;

	if (duplicate != NULL)
		*duplicate = 0;
	if (message == NULL)
		return (-EINVAL);
	*message = NULL;
	if (db == NULL || !id_ok(user_id) || display_name == NULL ||
	    text == NULL || message_type == NULL)
		return (-EINVAL);
	if ((rc = one_begin(db, __func__, LOCK_CHANNEL(channel_id))) != 0)
		return (rc);
	/*
	 * One statement in the common case: the row is inserted only when
	 * the channel and the reply target exist, and comes back as
	 * message_row() reads it (no file yet).  No row: find out why, in
	 * the order the contract gives (channel, reply target, duplicate).
	 */
	rc = query_obj(db, __func__, message_row, message,
	    "INSERT INTO messages(channel_id, user_id, user_display_name,"
	    "  body, message_type, reply_to_id, client_msg_id, created_at)"
	    " SELECT c.id, ?2, ?3, ?4, ?5, nullif(?6, 0), ?7, ?8"
	    " FROM channels c WHERE c.id = ?1 AND (?6 = 0 OR EXISTS"
	    "  (SELECT 1 FROM messages r WHERE r.id = ?6 AND"
	    "   r.channel_id = c.id))"
	    " ON CONFLICT (user_id, client_msg_id) DO NOTHING"
	    " RETURNING id, channel_id, user_id, user_display_name, body,"
	    "  message_type, reply_to_id, client_msg_id, created_at,"
	    "  NULL, NULL, NULL",
	    "ittttiti", channel_id, user_id, display_name, text, message_type,
	    reply_to_id, client_msg_id, now_ms);
	if (rc != -ENOENT)
		goto done;
	rc = query_i64(db, __func__, NULL, NULL,
	    "SELECT 1 FROM channels WHERE id = ?1", "i", channel_id);
	if (rc == 0 && reply_to_id != 0)
		rc = query_i64(db, __func__, NULL, NULL,
		    "SELECT 1 FROM messages WHERE id = ?1 AND channel_id = ?2",
		    "ii", reply_to_id, channel_id);
	if (rc == 0 && client_msg_id != NULL) {
		rc = query_obj(db, __func__, message_row, message,
		    MESSAGE_SELECT " WHERE m.user_id = ?1"
		    " AND m.client_msg_id = ?2", "tt", user_id, client_msg_id);
		dup = rc == 0;
	} else if (rc == 0) {
		cf_log_warnx("%s: the row was neither stored nor refused",
		    __func__);
		rc = -EIO;
	}
 done:
	if ((rc = one_end(db, __func__, rc)) != 0) {
		json_decref(*message);
		*message = NULL;
		return (rc);
	}
	if (duplicate != NULL)
		*duplicate = dup;
	if (db->batch && !dup)
		db->batch_n++;
	return (0);
}

/* The message as JSON (new reference), or -ENOENT. */
int
cf_store_message_get(struct cf_db *db, int64_t message_id, json_t **message)
{
	if (message == NULL)
		return (-EINVAL);
	*message = NULL;
	if (db == NULL)
		return (-EINVAL);
	return (message_load(db, __func__, message_id, message));
}

/* The newest message id of the channel (0: none), -ENOENT: no channel. */
int
cf_store_message_latest(struct cf_db *db, int64_t channel_id,
    int64_t *message_id)
{
	int64_t v;
	int isnull, rc;

	if (db == NULL || message_id == NULL)
		return (-EINVAL);
	rc = query_i64(db, __func__, &v, &isnull,
	    "SELECT (SELECT max(id) FROM messages WHERE channel_id = ?1)"
	    " FROM channels WHERE id = ?1", "i", channel_id);
	if (rc == 0)
		*message_id = isnull ? 0 : v;
	return (rc);
}

/*
 * A page of history (see store.h), limit clamped to 1..PAGE_MAX.  One row
 * beyond the limit is fetched to tell *has_more.  *messages is a new array
 * on success; -ENOENT when the channel does not exist.
 */
int
cf_store_messages_page(struct cf_db *db, int64_t channel_id, int64_t before,
    int64_t after, int limit, json_t **messages, int *has_more)
{
	struct cf_db_stmt *st;
	const char *sql;
	json_t *arr;
	int64_t bound;
	int more = 0, rc;

	if (messages == NULL)
		return (-EINVAL);
	*messages = NULL;
	if (has_more != NULL)
		*has_more = 0;
	if (db == NULL)
		return (-EINVAL);
	if (limit < 1)
		limit = 1;
	if (limit > PAGE_MAX)
		limit = PAGE_MAX;
	if (before > 0) {
		sql = MESSAGE_SELECT " WHERE m.channel_id = ?1 AND m.id < ?2"
		    " ORDER BY m.id DESC LIMIT ?3";
		bound = before;
	} else if (after > 0) {
		sql = MESSAGE_SELECT " WHERE m.channel_id = ?1 AND m.id > ?2"
		    " ORDER BY m.id ASC LIMIT ?3";
		bound = after;
	} else {
		sql = MESSAGE_SELECT " WHERE m.channel_id = ?1 AND m.id < ?2"
		    " ORDER BY m.id DESC LIMIT ?3";
		bound = INT64_MAX;
	}
	if ((rc = query_i64(db, __func__, NULL, NULL,
	    "SELECT 1 FROM channels WHERE id = ?1", "i", channel_id)) != 0)
		return (rc);
	if ((arr = json_array()) == NULL)
		return (-ENOMEM);
	if ((rc = prepare(db, __func__, &st, sql, "iid", channel_id, bound,
	    limit + 1)) != 0 ||
	    (rc = collect(db, __func__, st, message_row, limit, arr, &more)) != 0)
		goto fail;
	*messages = arr;
	if (has_more != NULL)
		*has_more = more;
	return (0);
 fail:
	json_decref(arr);
	return (rc);
}

/*
 * Attach (or replace) the file details of a message.  -ENOENT: no such
 * message; -EINVAL: a negative size or a missing field.
 */
int
cf_store_file_add(struct cf_db *db, int64_t message_id, const char *file_name,
    int64_t file_size, const char *file_type, const char *user_id,
    int64_t now_ms)
{
	int64_t n = 0;
	int rc;

	if (db == NULL || file_name == NULL || file_type == NULL ||
	    !id_ok(user_id) || file_size < 0)
		return (-EINVAL);
	settle(db);
	/* WHERE before ON CONFLICT keeps the upsert unambiguous. */
	rc = run(db, __func__, &n,
	    "INSERT INTO message_files(message_id, file_name, file_size,"
	    "  file_type, uploaded_by, uploaded_at)"
	    " SELECT id, ?2, ?3, ?4, ?5, ?6 FROM messages WHERE id = ?1"
	    " ON CONFLICT(message_id) DO UPDATE SET"
	    "  file_name = excluded.file_name,"
	    "  file_size = excluded.file_size,"
	    "  file_type = excluded.file_type,"
	    "  uploaded_by = excluded.uploaded_by,"
	    "  uploaded_at = excluded.uploaded_at",
	    "ititti", message_id, file_name, file_size, file_type, user_id,
	    now_ms);
	if (rc == 0 && n == 0)
		rc = -ENOENT;
	return (rc);
}

/* ------------------------------------------------------------------ */
/* Read positions, presence, broadcasts                               */
/* ------------------------------------------------------------------ */

/*
 * Move user_id's read position in the channel forward to message_id (0:
 * the latest message, or 0 when there is none), making the user a member
 * when it is not, in one transaction.  *position (may be NULL) receives
 * the stored position.  -ENOENT: no channel, or message_id is not one of
 * its messages.
 */
int
cf_store_read_set(struct cf_db *db, int64_t channel_id, const char *user_id,
    int64_t message_id, int64_t now_ms, int64_t *position)
{
	int64_t target = message_id, pos = 0;
	int isnull = 0, rc;

	if (db == NULL || !id_ok(user_id))
		return (-EINVAL);
	if ((rc = tx_begin(db, __func__, 0)) != 0)
		return (rc);
	if (message_id == 0) {
		rc = query_i64(db, __func__, &target, &isnull,
		    "SELECT (SELECT max(id) FROM messages"
		    "  WHERE channel_id = ?1) FROM channels WHERE id = ?1",
		    "i", channel_id);
		if (isnull)
			target = 0;
	} else
		rc = query_i64(db, __func__, NULL, NULL,
		    "SELECT 1 FROM messages WHERE id = ?1 AND channel_id = ?2",
		    "ii", message_id, channel_id);
	/* The upsert locks the row: a racing writer sees this one's result. */
	if (rc == 0)
		rc = query_i64(db, __func__, &pos, NULL,
		    "INSERT INTO channel_members AS cm(channel_id, user_id,"
		    "  joined_at, last_read_message_id, last_read_at)"
		    " VALUES (?1, ?2, ?3, ?4, ?3)"
		    " ON CONFLICT(channel_id, user_id) DO UPDATE SET"
		    "  last_read_message_id = CASE"
		    "    WHEN coalesce(cm.last_read_message_id, 0) >"
		    "      excluded.last_read_message_id"
		    "    THEN cm.last_read_message_id"
		    "    ELSE excluded.last_read_message_id END,"
		    "  last_read_at = excluded.last_read_at"
		    " RETURNING last_read_message_id",
		    "itii", channel_id, user_id, now_ms, target);
	if ((rc = tx_end(db, __func__, rc)) == 0 && position != NULL)
		*position = pos;
	return (rc);
}

/* Store the status a user chose (status and both texts replaced). */
int
cf_store_presence_set(struct cf_db *db, const char *user_id, const char *status,
    const char *status_message, const char *custom_status, int64_t now_ms)
{
	if (db == NULL || !id_ok(user_id) || status == NULL)
		return (-EINVAL);
	settle(db);
	return (run(db, __func__, NULL,
	    "INSERT INTO presence(user_id, status, status_message,"
	    "  custom_status, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)"
	    " ON CONFLICT(user_id) DO UPDATE SET"
	    "  status = excluded.status,"
	    "  status_message = excluded.status_message,"
	    "  custom_status = excluded.custom_status,"
	    "  updated_at = excluded.updated_at",
	    "tttti", user_id, status, status_message, custom_status, now_ms));
}

/* The stored presence, or {"online", null, null}; a new reference. */
int
cf_store_presence_get(struct cf_db *db, const char *user_id, json_t **presence)
{
	int rc;

	if (presence == NULL)
		return (-EINVAL);
	*presence = NULL;
	if (db == NULL || !id_ok(user_id))
		return (-EINVAL);
	rc = query_obj(db, __func__, presence_row, presence,
	    "SELECT status, status_message, custom_status FROM presence"
	    " WHERE user_id = ?1", "t", user_id);
	if (rc != -ENOENT)
		return (rc);
	*presence = json_pack("{s:s, s:n, s:n}", "status", "online",
	    "statusMessage", "customStatus");
	return (*presence == NULL ? -ENOMEM : 0);
}

/*
 * The stored statuses of the users ids (an array of user id strings) in
 * one statement: *statuses is a new object user id -> status holding the
 * users with a stored row (the others are "online").  The ids go to the
 * server as one JSON array (backend text_list).
 */
int
cf_store_presence_statuses(struct cf_db *db, const json_t *ids,
    json_t **statuses)
{
	struct cf_db_stmt *st;
	const char *uid;
	char sql[256], *list = NULL;
	json_t *o = NULL, *v;
	size_t n;
	int rc;

	if (statuses == NULL)
		return (-EINVAL);
	*statuses = NULL;
	if (db == NULL || !json_is_array(ids))
		return (-EINVAL);
	if ((o = json_object()) == NULL)
		return (-ENOMEM);
	if (json_array_size(ids) == 0) {
		*statuses = o;
		return (0);
	}
	if ((list = json_dumps(ids, JSON_COMPACT)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	snprintf(sql, sizeof(sql), "SELECT user_id, status FROM presence"
	    " WHERE user_id IN (SELECT value FROM %s)", db->ops->text_list);
	if ((rc = prepare(db, __func__, &st, sql, "t", list)) != 0)
		goto fail;
	while ((rc = step(db, __func__, st)) == 1) {
		uid = db->ops->text(st, 0, &n);
		if (uid == NULL || (v = col_text(st, 1)) == NULL)
			continue;
		if (json_object_set_new(o, uid, v) == -1) {
			rc = -ENOMEM;
			break;
		}
	}
	finish(st);
	if (rc != 0)
		goto fail;
	free(list);
	*statuses = o;
	return (0);
 fail:
	free(list);
	json_decref(o);
	return (rc);
}

/* Store a broadcast; *broadcast_id (may be NULL) receives its id. */
int
cf_store_broadcast_add(struct cf_db *db, const char *message,
    const char *priority, const char *from_user, const char *from_name,
    int64_t now_ms, int64_t *broadcast_id)
{
	int64_t id;
	int rc;

	if (db == NULL || message == NULL || priority == NULL ||
	    !id_ok(from_user) || from_name == NULL)
		return (-EINVAL);
	settle(db);
	rc = query_i64(db, __func__, &id, NULL,
	    "INSERT INTO broadcasts(message, priority, from_user, from_name,"
	    "  created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
	    "tttti", message, priority, from_user, from_name, now_ms);
	if (rc == 0 && broadcast_id != NULL)
		*broadcast_id = id;
	return (rc);
}

/* ------------------------------------------------------------------ */
/* Calls                                                               */
/* ------------------------------------------------------------------ */

/* The columns of a call, in the order call_row() reads them. */
#define CALL_COLS \
	"id, caller_id, callee_id, call_type, status, caller_sock," \
	"  callee_sock, started_at, answered_at, ended_at"

/*
 * The calls still ringing or active.  The term is written exactly as the
 * WHERE of the partial index calls_live, so that the planner can use it.
 */
#define CALL_LIVE	"status IN ('ringing', 'active')"

/* Copy a text column into buf, "" for NULL; truncates. */
static void
col_copy(struct cf_db_stmt *st, int i, char *buf, size_t len)
{
	size_t n;
	const char *s = st->db->ops->text(st, i, &n);

	snprintf(buf, len, "%s", s != NULL ? s : "");
}

/* Columns of CALL_COLS into *c (answered_at and ended_at 0 for NULL). */
static void
call_row(struct cf_db_stmt *st, struct cf_call *c)
{
	memset(c, 0, sizeof(*c));
	c->id = col_i64(st, 0);
	col_copy(st, 1, c->caller, sizeof(c->caller));
	col_copy(st, 2, c->callee, sizeof(c->callee));
	col_copy(st, 3, c->type, sizeof(c->type));
	col_copy(st, 4, c->status, sizeof(c->status));
	col_copy(st, 5, c->caller_sock, sizeof(c->caller_sock));
	col_copy(st, 6, c->callee_sock, sizeof(c->callee_sock));
	c->started_at = col_i64(st, 7);
	c->answered_at = col_i64(st, 8);
	c->ended_at = col_i64(st, 9);
}

/*
 * id, caller_id, callee_id, call_type, status, started_at, answered_at,
 * ended_at, duration_ms as the history JSON of a call.
 */
static json_t *
call_json_row(struct cf_db_stmt *st)
{
	json_t *c;
	int bad = 0;

	if ((c = json_object()) == NULL)
		return (NULL);
	bad |= json_object_set_new(c, "id",
	    json_integer(col_i64(st, 0)));
	bad |= json_object_set_new(c, "callerId", col_user(st, 1));
	bad |= json_object_set_new(c, "calleeId", col_user(st, 2));
	bad |= json_object_set_new(c, "callType", col_text(st, 3));
	bad |= json_object_set_new(c, "status", col_text(st, 4));
	bad |= json_object_set_new(c, "startedAt", col_time(st, 5));
	bad |= json_object_set_new(c, "answeredAt", col_time(st, 6));
	bad |= json_object_set_new(c, "endedAt", col_time(st, 7));
	bad |= json_object_set_new(c, "durationMs", col_int_or_null(st, 8));
	if (bad) {
		json_decref(c);
		return (NULL);
	}
	return (c);
}

/* 1 when s is present and fits a buffer of len bytes with its NUL. */
static int
fits(const char *s, size_t len)
{
	return (s != NULL && strlen(s) < len);
}

/* 1 when status is one of the six a call can have. */
static int
call_status_ok(const char *status)
{
	static const char *const known[] = { "ringing", "active", "ended",
	    "missed", "rejected", "busy" };
	size_t i;

	if (status == NULL)
		return (0);
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(status, known[i]) == 0)
			return (1);
	return (0);
}

/*
 * The arguments of a new call: two different non-empty user ids that fit
 * struct cf_call, type "audio" or "video", and a socket id (NULL allowed)
 * that fits too.
 */
static int
call_args_ok(const char *caller, const char *callee, const char *type,
    const char *sock)
{
	struct cf_call *c = NULL;

	if (!id_ok(caller) || !id_ok(callee) ||
	    !fits(caller, sizeof(c->caller)) ||
	    !fits(callee, sizeof(c->callee)) || strcmp(caller, callee) == 0)
		return (0);
	if (type == NULL || (strcmp(type, "audio") != 0 &&
	    strcmp(type, "video") != 0))
		return (0);
	return (sock == NULL || fits(sock, sizeof(c->caller_sock)));
}

/*
 * The first row of a query on CALL_COLS into *call.  -ENOENT when there
 * is no row.
 */
static int
call_query(struct cf_db *db, const char *func, struct cf_call *call,
    const char *sql, const char *fmt, ...)
{
	struct cf_db_stmt *st;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vprepare(db, func, &st, sql, fmt, ap);
	va_end(ap);
	if (rc != 0)
		return (rc);
	if ((rc = step(db, func, st)) == 1) {
		call_row(st, call);
		rc = 0;
	} else if (rc == 0)
		rc = -ENOENT;
	finish(st);
	return (rc);
}

/*
 * Every row of a query on CALL_COLS into a malloc'd array *out of *n
 * calls (NULL when none), which the caller frees.  0 or a negative errno
 * (*out NULL then).
 */
static int
call_collect(struct cf_db *db, const char *func, struct cf_call **out,
    size_t *n, const char *sql, const char *fmt, ...)
{
	struct cf_db_stmt *st;
	struct cf_call *v = NULL, *nv;
	size_t len = 0, cap = 0;
	va_list ap;
	int rc;

	*out = NULL;
	*n = 0;
	va_start(ap, fmt);
	rc = vprepare(db, func, &st, sql, fmt, ap);
	va_end(ap);
	if (rc != 0)
		return (rc);
	while ((rc = step(db, func, st)) == 1) {
		if (len == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		call_row(st, &v[len++]);
	}
	finish(st);
	if (rc != 0) {
		free(v);
		return (rc);
	}
	*out = v;
	*n = len;
	return (0);
}

/*
 * Insert a call (status given, ended_at set when `ended`) and read it back
 * into *call.  Runs inside the caller's transaction, if any.
 */
static int
call_insert(struct cf_db *db, const char *func, const char *caller,
    const char *callee, const char *type, const char *status,
    const char *caller_sock, int ended, int64_t now_ms, struct cf_call *call)
{
	return (call_query(db, func, call,
	    "INSERT INTO calls(caller_id, callee_id, call_type, status,"
	    "  caller_sock, started_at, ended_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, CASE WHEN ?7 <> 0 THEN ?6 END)"
	    " RETURNING " CALL_COLS,
	    "tttttid", caller, callee, type, status, caller_sock, now_ms,
	    ended));
}

/*
 * SQL true while the caller ?1 started fewer than ?OFF + 1 calls at or
 * after ?SINCE: its (OFF + 1)-th newest call, read through calls_caller
 * (the cost does not grow with the history), is older.
 */
#define CALLER_UNDER(SINCE, OFF) \
	"coalesce((SELECT started_at FROM calls WHERE caller_id = ?1" \
	"  ORDER BY id DESC LIMIT 1 OFFSET " OFF "), " SINCE " - 1) < " SINCE

/*
 * Create a call in one transaction: "busy" (ended at once, *busy 1) when
 * the caller or the callee is on either side of a ringing or active call,
 * else "ringing" (*busy 0).  A busy call is recorded only while the caller
 * started fewer than max calls at or after since_ms (max 0: no limit);
 * over it nothing is stored and -EAGAIN is returned with *busy 1.  *call
 * receives the new row; it is zeroed on failure.  -EINVAL: a missing or
 * oversized id, caller == callee, a type other than audio or video.
 */
int
cf_store_call_create(struct cf_db *db, const char *caller, const char *callee,
    const char *type, const char *caller_sock, int64_t now_ms,
    int64_t since_ms, int max, struct cf_call *call, int *busy)
{
	int64_t taken = 0, under = 1;
	int rc;

	if (busy != NULL)
		*busy = 0;
	if (call == NULL)
		return (-EINVAL);
	memset(call, 0, sizeof(*call));
	if (db == NULL || !call_args_ok(caller, callee, type, caller_sock))
		return (-EINVAL);
	if ((rc = tx_begin(db, __func__, LOCK_CALLS)) != 0)
		return (rc);
	rc = query_i64(db, __func__, &taken, NULL,
	    "SELECT EXISTS (SELECT 1 FROM calls WHERE " CALL_LIVE
	    "  AND (caller_id IN (?1, ?2) OR callee_id IN (?1, ?2)))",
	    "tt", caller, callee);
	if (rc == 0 && taken && max > 0 && (rc = query_i64(db, __func__,
	    &under, NULL, "SELECT " CALLER_UNDER("?2", "?3"), "tii", caller,
	    since_ms, (int64_t)max - 1)) == 0 && !under)
		rc = -EAGAIN;
	if (rc == 0)
		rc = call_insert(db, __func__, caller, callee, type,
		    taken ? "busy" : "ringing", caller_sock, taken != 0,
		    now_ms, call);
	if ((rc = tx_end(db, __func__, rc)) != 0) {
		memset(call, 0, sizeof(*call));
		if (rc == -EAGAIN && busy != NULL)
			*busy = 1;
		return (rc);
	}
	if (busy != NULL)
		*busy = taken != 0;
	return (0);
}

/*
 * Record a call that could not ring (the callee has no connected tab):
 * status "missed", started and ended now.  *call receives the row.
 */
int
cf_store_call_missed(struct cf_db *db, const char *caller, const char *callee,
    const char *type, int64_t now_ms, struct cf_call *call)
{
	int rc;

	if (call == NULL)
		return (-EINVAL);
	memset(call, 0, sizeof(*call));
	if (db == NULL || !call_args_ok(caller, callee, type, NULL))
		return (-EINVAL);
	settle(db);
	if ((rc = call_insert(db, __func__, caller, callee, type, "missed",
	    NULL, 1, now_ms, call)) != 0)
		memset(call, 0, sizeof(*call));
	return (rc);
}

/*
 * cf_store_call_missed for an invitation from the network, in one
 * statement: recorded only when callee is a known user (a row of users)
 * and fewer than max of the caller's calls (any status) started at or
 * after since_ms.  The limit reads the caller's max newest calls through
 * calls_caller, so the check costs the same whatever the history.
 * -ENOENT when nothing was recorded (unknown callee or over the limit).
 */
int
cf_store_call_missed_known(struct cf_db *db, const char *caller,
    const char *callee, const char *type, int64_t now_ms, int64_t since_ms,
    int max, struct cf_call *call)
{
	int rc;

	if (call == NULL)
		return (-EINVAL);
	memset(call, 0, sizeof(*call));
	if (db == NULL || max < 1 || !call_args_ok(caller, callee, type, NULL))
		return (-EINVAL);
	settle(db);
	rc = call_query(db, __func__, call,
	    "INSERT INTO calls(caller_id, callee_id, call_type, status,"
	    "  started_at, ended_at)"
	    " SELECT ?1, ?2, ?3, 'missed', ?4, ?4"
	    " WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2)"
	    "  AND " CALLER_UNDER("?5", "?6")
	    " RETURNING " CALL_COLS,
	    "tttiii", caller, callee, type, now_ms, since_ms,
	    (int64_t)max - 1);
	if (rc != 0)
		memset(call, 0, sizeof(*call));
	return (rc);
}

/* Read call `id` into *call; -ENOENT when unknown. */
int
cf_store_call_get(struct cf_db *db, int64_t id, struct cf_call *call)
{
	if (call == NULL)
		return (-EINVAL);
	memset(call, 0, sizeof(*call));
	if (db == NULL)
		return (-EINVAL);
	return (call_query(db, __func__, call,
	    "SELECT " CALL_COLS " FROM calls WHERE id = ?1", "i", id));
}

/*
 * Move call `id` from `from` to `to` with one conditional UPDATE that
 * also returns the row (a writer that loses the race sees the winner's
 * status and changes nothing).  The allowed moves are
 * ringing -> active, rejected, missed or ended, and active -> ended;
 * anything else (or an unknown status, or to "active" without a
 * callee_sock that fits) is -EINVAL.  To "active": answered_at = now and
 * callee_sock set.  To an end: ended_at = now and, when the call had been
 * answered, duration_ms = now - answered_at (0 if the clock went back).
 * -ENOENT: no such call; -EALREADY: the call is not in `from` any more
 * (another transition won).  *call (may be NULL) receives the row after
 * the change.
 */
int
cf_store_call_transition(struct cf_db *db, int64_t id, const char *from,
    const char *to, const char *callee_sock, int64_t now_ms,
    struct cf_call *call)
{
	struct cf_call tmp, *c = call != NULL ? call : &tmp;
	int active, rc;

	memset(c, 0, sizeof(*c));
	if (db == NULL || !call_status_ok(from) || !call_status_ok(to))
		return (-EINVAL);
	active = strcmp(to, "active") == 0;
	if (strcmp(from, "ringing") == 0) {
		if (!active && strcmp(to, "rejected") != 0 &&
		    strcmp(to, "missed") != 0 && strcmp(to, "ended") != 0)
			return (-EINVAL);
	} else if (strcmp(from, "active") != 0 || strcmp(to, "ended") != 0)
		return (-EINVAL);
	if (active && !fits(callee_sock, sizeof(c->callee_sock)))
		return (-EINVAL);
	settle(db);
	rc = call_query(db, __func__, c,
	    "UPDATE calls SET status = ?3,"
	    "  answered_at = CASE WHEN ?6 <> 0 THEN ?5 ELSE answered_at END,"
	    "  callee_sock = CASE WHEN ?6 <> 0 THEN ?4 ELSE callee_sock END,"
	    "  ended_at = CASE WHEN ?6 <> 0 THEN ended_at ELSE ?5 END,"
	    "  duration_ms = CASE WHEN ?6 = 0 AND answered_at IS NOT NULL"
	    "    THEN CASE WHEN ?5 > answered_at THEN ?5 - answered_at"
	    "      ELSE 0 END"
	    "    ELSE duration_ms END"
	    " WHERE id = ?1 AND status = ?2"
	    " RETURNING " CALL_COLS,
	    "itttid", id, from, to, active ? callee_sock : NULL, now_ms,
	    active);
	if (rc == -ENOENT) {
		rc = query_i64(db, __func__, NULL, NULL,
		    "SELECT 1 FROM calls WHERE id = ?1", "i", id);
		if (rc == 0)
			rc = -EALREADY;
	}
	if (rc != 0)
		memset(c, 0, sizeof(*c));
	return (rc);
}

/*
 * The newest ringing or active call between a and b, whichever called;
 * -ENOENT when there is none.
 */
int
cf_store_call_between(struct cf_db *db, const char *a, const char *b,
    struct cf_call *call)
{
	if (call == NULL)
		return (-EINVAL);
	memset(call, 0, sizeof(*call));
	if (db == NULL || !id_ok(a) || !id_ok(b))
		return (-EINVAL);
	return (call_query(db, __func__, call,
	    "SELECT " CALL_COLS " FROM calls WHERE " CALL_LIVE
	    "  AND ((caller_id = ?1 AND callee_id = ?2)"
	    "    OR (caller_id = ?2 AND callee_id = ?1))"
	    " ORDER BY id DESC LIMIT 1", "tt", a, b));
}

/*
 * The calls of user_id (as caller or callee), newest first: those with
 * id < before when before > 0, at most limit (clamped to 1..PAGE_MAX).
 * *calls is a new array on success (empty for a user without calls).
 */
int
cf_store_call_history(struct cf_db *db, const char *user_id, int64_t before,
    int limit, json_t **calls)
{
	struct cf_db_stmt *st;
	json_t *arr;
	int rc;

	if (calls == NULL)
		return (-EINVAL);
	*calls = NULL;
	if (db == NULL || !id_ok(user_id))
		return (-EINVAL);
	if (limit < 1)
		limit = 1;
	if (limit > PAGE_MAX)
		limit = PAGE_MAX;
	if (before <= 0)
		before = INT64_MAX;
	if ((arr = json_array()) == NULL)
		return (-ENOMEM);
	rc = prepare(db, __func__, &st,
	    "SELECT id, caller_id, callee_id, call_type, status, started_at,"
	    "  answered_at, ended_at, duration_ms FROM calls"
	    " WHERE (caller_id = ?1 OR callee_id = ?1) AND id < ?2"
	    " ORDER BY id DESC LIMIT ?3", "tid", user_id, before, limit);
	if (rc != 0 || (rc = collect(db, __func__, st, call_json_row, -1, arr,
	    NULL)) != 0)
		goto fail;
	*calls = arr;
	return (0);
 fail:
	json_decref(arr);
	return (rc);
}

/* By id, for qsort. */
static int
call_cmp(const void *a, const void *b)
{
	const struct cf_call *x = a, *y = b;

	return ((x->id > y->id) - (x->id < y->id));
}

/*
 * Mark "missed" (ended_at now) every call still ringing that started
 * before ring_deadline_ms, with one UPDATE that returns the rows it
 * changed (so racing sweeps on other workers or hosts never report a
 * call twice); then call fn (may be NULL) with each row as it now is,
 * oldest first.  fn may use the connection.  Returns the number of calls
 * swept or a negative errno (nothing changed, fn not called).
 */
int
cf_store_call_sweep_ringing(struct cf_db *db, int64_t ring_deadline_ms,
    int64_t now_ms, void (*fn)(void *, const struct cf_call *), void *arg)
{
	struct cf_call *v = NULL;
	size_t i, n = 0;
	int rc;

	if (db == NULL)
		return (-EINVAL);
	settle(db);
	rc = call_collect(db, __func__, &v, &n,
	    "UPDATE calls SET status = 'missed', ended_at = ?2"
	    " WHERE " CALL_LIVE " AND status = 'ringing' AND started_at < ?1"
	    " RETURNING " CALL_COLS, "ii", ring_deadline_ms, now_ms);
	if (rc != 0)
		return (rc);
	if (n > 1)
		qsort(v, n, sizeof(*v), call_cmp);
	for (i = 0; i < n && fn != NULL; i++)
		fn(arg, &v[i]);
	free(v);
	return (n > INT32_MAX ? INT32_MAX : (int)n);
}

/*
 * Call fn with every ringing or active call (of any user), by id.  The
 * rows are read first, so fn may use the connection (to end a call, say).
 * 0 or a negative errno (fn not called then).
 */
int
cf_store_call_live(struct cf_db *db, void (*fn)(void *, const struct cf_call *),
    void *arg)
{
	struct cf_call *v;
	size_t i, n;
	int rc;

	if (db == NULL || fn == NULL)
		return (-EINVAL);
	rc = call_collect(db, __func__, &v, &n,
	    "SELECT " CALL_COLS " FROM calls WHERE " CALL_LIVE " ORDER BY id",
	    "");
	if (rc != 0)
		return (rc);
	for (i = 0; i < n; i++)
		fn(arg, &v[i]);
	free(v);
	return (0);
}
