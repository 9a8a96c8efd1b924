/*
 * store_int.h -- what the files of the chat storage share; private to
 * them (the rest of the daemon includes store.h, whose contracts these
 * files implement, on either backend: backend.h).
 *
 *   store_stmt.c     statements (prepare, step, finish, run, query) and
 *                    transactions (begin/commit, the batch and its
 *                    savepoints, settle, the write-latency hook)
 *   store_row.c      result rows to JSON or struct cf_call; the user id
 *                    and time conversions
 *   store_user.c     users and presence
 *   store_channel.c  channels, members, the channel-update audit
 *   store_message.c  messages, files, read positions, broadcasts
 *   store_action.c   edits, deletes, reactions, threads
 *   store_search.c   full-text search, the indexing of new messages
 *                    (SQLite), the retention purge
 *   store_call.c     call records
 *   store_hook.c     the webhook outbox and its leases
 *
 * The SQL is written once, in the dialect both backends accept (see
 * backend.h).  Every statement is prepared for the call that runs it and
 * finished before that call returns, on every path.  Writes that belong
 * together run in one transaction.  A worker may group the inserts of
 * many messages into one transaction, a batch (cf_store_batch_begin):
 * each message is then a savepoint of it, and every other write commits
 * the open batch first (cf_stmt_settle()), so that only messages ever
 * wait for a batch's commit.  The semantics do not depend on the
 * backend's isolation: a message's clientMsgId is deduplicated by a
 * unique key (INSERT ... ON CONFLICT DO NOTHING), a read position moves
 * forward in one upsert, a call changes state with one conditional UPDATE
 * (racing workers or hosts: one winner), and the busy check of a new call
 * and the insert of a message run under locks every host takes (the
 * latter per channel, so that ids commit in order).  Text bound to a
 * statement must be valid UTF-8 (-EINVAL otherwise), so that whatever is
 * stored can be sent back out as JSON.  The backends log their own errors
 * (-EIO), never the values involved.
 *
 * Every function below takes the name of the public function it works
 * for (func, for the backends' log lines) and returns 0 or a negative
 * errno unless it says otherwise.
 */
#ifndef CF_STORE_INT_H
#define CF_STORE_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "db/backend.h"
#include "db/store.h"

#define PAGE_MAX	100		/* the largest history page */

/* The columns of a channel, in the order cf_row_channel() reads them. */
#define CHANNEL_COLS \
	"c.id, c.name, c.description, c.is_private, c.created_by, c.created_at," \
	"  c.archived_at, c.kind"

/*
 * The columns of a message after its file (cf_row_message(), from 12 on):
 * the edit, the tombstone and the thread (schema 6).
 */
#define MESSAGE_ACTION_COLS \
	"m.edited_at, m.edited_by, m.deleted_at, m.deleted_by," \
	"  m.reply_count, m.last_reply_at"

/* A message with its file, in the order cf_row_message() reads them. */
#define MESSAGE_SELECT \
	"SELECT m.id, m.channel_id, m.user_id, m.user_display_name, m.body," \
	"  m.message_type, m.reply_to_id, m.client_msg_id, m.created_at," \
	"  f.file_name, f.file_size, f.file_type, " MESSAGE_ACTION_COLS \
	" FROM messages m LEFT JOIN message_files f ON f.message_id = m.id"

/* The columns of a call, in the order cf_row_call() reads them. */
#define CALL_COLS \
	"id, caller_id, callee_id, call_type, status, caller_sock," \
	"  callee_sock, started_at, answered_at, ended_at"

/* A row made into JSON: a new reference, or NULL on failure. */
typedef json_t *(*cf_row_fn)(struct cf_db_stmt *);

/* A user id or similar key: present and not empty. */
static inline int
id_ok(const char *s)
{
	return (s != NULL && *s != '\0');
}

/* store_stmt.c: statements. */

/*
 * Prepare sql and bind the arguments fmt describes (backend.h); *stp is
 * NULL unless 0 is returned, and then the caller finishes it.  -EINVAL
 * for a text argument that is not UTF-8.
 */
int	 cf_stmt_vprepare(struct cf_db *db, const char *func,
	    struct cf_db_stmt **stp, const char *sql, const char *fmt,
	    va_list ap);
int	 cf_stmt_prepare(struct cf_db *db, const char *func,
	    struct cf_db_stmt **stp, const char *sql, const char *fmt, ...);
/* One step: 1 a row, 0 done, or a negative errno. */
int	 cf_stmt_step(struct cf_db *db, const char *func,
	    struct cf_db_stmt *st);
/* Finish st (NULL-safe), reporting a lone write to the write hook. */
void	 cf_stmt_finish(struct cf_db_stmt *st);
/*
 * Append row(st) for each row of st to arr, at most max rows (max < 0: no
 * limit); *more (may be NULL) tells whether a row beyond max exists.
 * Finishes st.
 */
int	 cf_stmt_collect(struct cf_db *db, const char *func,
	    struct cf_db_stmt *st, cf_row_fn row, int max, json_t *arr,
	    int *more);
/*
 * Read the first row of a query: fn(st, arg) takes what it needs from it
 * and returns 0 or a negative errno, which the query returns.  Finishes
 * the statement.  -ENOENT when there is no row (fn is not called).
 */
typedef int (*cf_stmt_row_fn)(struct cf_db_stmt *st, void *arg);
int	 cf_stmt_vfirst(struct cf_db *db, const char *func, cf_stmt_row_fn fn,
	    void *arg, const char *sql, const char *fmt, va_list ap);
int	 cf_stmt_first(struct cf_db *db, const char *func, cf_stmt_row_fn fn,
	    void *arg, const char *sql, const char *fmt, ...);
/* Run a statement to its end; *changes (may be NULL): rows changed. */
int	 cf_stmt_run(struct cf_db *db, const char *func, int64_t *changes,
	    const char *sql, const char *fmt, ...);
/*
 * The first column of the first row as an integer into *out, *isnull
 * telling an SQL NULL (either may be NULL).  -ENOENT: no row.
 */
int	 cf_stmt_query_i64(struct cf_db *db, const char *func, int64_t *out,
	    int *isnull, const char *sql, const char *fmt, ...);
/*
 * The first row made into JSON by fn, a new reference in *out.  -ENOENT:
 * no row; -ENOMEM: fn failed.
 */
int	 cf_stmt_query_obj(struct cf_db *db, const char *func, cf_row_fn fn,
	    json_t **out, const char *sql, const char *fmt, ...);

/* store_stmt.c: transactions. */

/* Before a write that does not join a group commit: commit the batch. */
void	 cf_stmt_settle(struct cf_db *db);
/* A write transaction of its own (settles first); lock: see backend.h. */
int	 cf_stmt_tx_begin(struct cf_db *db, const char *func, int64_t lock);
/* Commit when rc is 0, else roll back; rc, or the commit's error. */
int	 cf_stmt_tx_end(struct cf_db *db, const char *func, int rc);
/*
 * The work of one message: a savepoint of the open batch, or a
 * transaction of its own; -EAGAIN when a batch holding locks finds
 * `lock` taken.  End it with cf_stmt_one_end (as cf_stmt_tx_end).
 */
int	 cf_stmt_one_begin(struct cf_db *db, const char *func, int64_t lock);
int	 cf_stmt_one_end(struct cf_db *db, const char *func, int rc);
/*
 * An index batch's transaction (search_async backends: backend.h's
 * index_begin and index_end), as cf_stmt_tx_begin and cf_stmt_tx_end.
 */
int	 cf_stmt_index_begin(struct cf_db *db, const char *func);
int	 cf_stmt_index_end(struct cf_db *db, const char *func, int rc);

/* store_stmt.c: events (cf_store_event_hook). */

/*
 * Report event with data (stolen; NULL: out of memory, -ENOMEM) inside
 * the open transaction or savepoint: the hook's result, 0 when none.
 */
int	 cf_stmt_event(struct cf_db *db, const char *event, json_t *data);
/*
 * Around a lone write that reports an event: a transaction of its own
 * when a hook is set (the outbox row commits with the write), else only
 * a settle (the write runs autocommit, as without webhooks).  end: as
 * cf_stmt_tx_end when begin opened one, else rc.
 */
int	 cf_stmt_ev_begin(struct cf_db *db, const char *func);
int	 cf_stmt_ev_end(struct cf_db *db, const char *func, int rc);

/* store_row.c: the columns of the current row of a statement. */

int	 cf_row_isnull(struct cf_db_stmt *st, int i);
int64_t	 cf_row_i64(struct cf_db_stmt *st, int i);
/* As JSON (new references, NULL on failure); SQL NULL is JSON null. */
json_t	*cf_row_text(struct cf_db_stmt *st, int i);
json_t	*cf_row_int_or_null(struct cf_db_stmt *st, int i);
json_t	*cf_row_time(struct cf_db_stmt *st, int i);
json_t	*cf_row_user(struct cf_db_stmt *st, int i);

/* store_row.c: whole rows; the JSON ones are cf_row_fn. */

json_t	*cf_row_channel(struct cf_db_stmt *st);
json_t	*cf_row_channel_list(struct cf_db_stmt *st);
json_t	*cf_row_message(struct cf_db_stmt *st);
json_t	*cf_row_member(struct cf_db_stmt *st);
json_t	*cf_row_user_profile(struct cf_db_stmt *st);
json_t	*cf_row_presence(struct cf_db_stmt *st);
json_t	*cf_row_call_json(struct cf_db_stmt *st);
void	 cf_row_call(struct cf_db_stmt *st, struct cf_call *c);

#endif
