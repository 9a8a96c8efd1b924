/*
 * store_call.c -- call records (store.h): a new call checked for busy
 * sides under a lock every host takes, each state change one conditional
 * UPDATE, the history, the sweep of unanswered calls.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db/store_int.h"

/*
 * The transaction-level lock new calls take (backend.h): the busy check
 * and the insert of a call are one step for every host.
 */
#define LOCK_CALLS	0x63660002LL

/*
 * The calls still ringing or active.  The term is written exactly as the
 * WHERE of the partial index calls_live, so that the planner can use it.
 */
#define CALL_LIVE	"status IN ('ringing', 'active')"

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

static int
read_call(struct cf_db_stmt *st, void *arg)
{
	cf_row_call(st, arg);
	return (0);
}

/*
 * The first row of a query on CALL_COLS into *call.  -ENOENT when there
 * is no row.
 */
static int
call_query(struct cf_db *db, const char *func, struct cf_call *call,
    const char *sql, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cf_stmt_vfirst(db, func, read_call, call, sql, fmt, ap);
	va_end(ap);
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
	rc = cf_stmt_vprepare(db, func, &st, sql, fmt, ap);
	va_end(ap);
	if (rc != 0)
		return (rc);
	while ((rc = cf_stmt_step(db, func, st)) == 1) {
		if (len == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		cf_row_call(st, &v[len++]);
	}
	cf_stmt_finish(st);
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
	if ((rc = cf_stmt_tx_begin(db, __func__, LOCK_CALLS)) != 0)
		return (rc);
	rc = cf_stmt_query_i64(db, __func__, &taken, NULL,
	    "SELECT EXISTS (SELECT 1 FROM calls WHERE " CALL_LIVE
	    "  AND (caller_id IN (?1, ?2) OR callee_id IN (?1, ?2)))",
	    "tt", caller, callee);
	if (rc == 0 && taken && max > 0 && (rc = cf_stmt_query_i64(db, __func__,
	    &under, NULL, "SELECT " CALLER_UNDER("?2", "?3"), "tii", caller,
	    since_ms, (int64_t)max - 1)) == 0 && !under)
		rc = -EAGAIN;
	if (rc == 0)
		rc = call_insert(db, __func__, caller, callee, type,
		    taken ? "busy" : "ringing", caller_sock, taken != 0,
		    now_ms, call);
	if ((rc = cf_stmt_tx_end(db, __func__, rc)) != 0) {
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
 * The webhook event of a call that became "missed", in the transaction
 * that made it so (cf_stmt_ev_begin).
 */
static int
call_missed_event(struct cf_db *db, const struct cf_call *c)
{
	char at[32];

	if (db->event == NULL)
		return (0);
	cf_store_iso8601(c->started_at, at, sizeof(at));
	return (cf_stmt_event(db, "call.missed",
	    json_pack("{s:{s:I,s:o,s:o,s:s,s:s}}", "call", "id",
	    (json_int_t)c->id, "callerId", cf_store_user_id_json(c->caller),
	    "calleeId", cf_store_user_id_json(c->callee), "callType", c->type,
	    "startedAt", at)));
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
	if ((rc = cf_stmt_ev_begin(db, __func__)) != 0)
		return (rc);
	rc = call_insert(db, __func__, caller, callee, type, "missed", NULL, 1,
	    now_ms, call);
	if (rc == 0)
		rc = call_missed_event(db, call);
	if ((rc = cf_stmt_ev_end(db, __func__, rc)) != 0)
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
	if ((rc = cf_stmt_ev_begin(db, __func__)) != 0)
		return (rc);
	rc = call_query(db, __func__, call,
	    "INSERT INTO calls(caller_id, callee_id, call_type, status,"
	    "  started_at, ended_at)"
	    " SELECT ?1, ?2, ?3, 'missed', ?4, ?4"
	    " WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2)"
	    "  AND " CALLER_UNDER("?5", "?6")
	    " RETURNING " CALL_COLS,
	    "tttiii", caller, callee, type, now_ms, since_ms,
	    (int64_t)max - 1);
	if (rc == 0)
		rc = call_missed_event(db, call);
	if ((rc = cf_stmt_ev_end(db, __func__, rc)) != 0)
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
	int active, missed, rc;

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
	missed = strcmp(to, "missed") == 0;
	if (missed && (rc = cf_stmt_ev_begin(db, __func__)) != 0)
		return (rc);
	if (!missed)
		cf_stmt_settle(db);
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
		rc = cf_stmt_query_i64(db, __func__, NULL, NULL,
		    "SELECT 1 FROM calls WHERE id = ?1", "i", id);
		if (rc == 0)
			rc = -EALREADY;
	}
	if (missed) {
		if (rc == 0)
			rc = call_missed_event(db, c);
		rc = cf_stmt_ev_end(db, __func__, rc);
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
	rc = cf_stmt_prepare(db, __func__, &st,
	    "SELECT id, caller_id, callee_id, call_type, status, started_at,"
	    "  answered_at, ended_at, duration_ms FROM calls"
	    " WHERE (caller_id = ?1 OR callee_id = ?1) AND id < ?2"
	    " ORDER BY id DESC LIMIT ?3", "tid", user_id, before, limit);
	if (rc != 0 || (rc = cf_stmt_collect(db, __func__, st,
	    cf_row_call_json, -1, arr, NULL)) != 0)
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
	if ((rc = cf_stmt_ev_begin(db, __func__)) != 0)
		return (rc);
	rc = call_collect(db, __func__, &v, &n,
	    "UPDATE calls SET status = 'missed', ended_at = ?2"
	    " WHERE " CALL_LIVE " AND status = 'ringing' AND started_at < ?1"
	    " RETURNING " CALL_COLS, "ii", ring_deadline_ms, now_ms);
	for (i = 0; i < n && rc == 0; i++)
		rc = call_missed_event(db, &v[i]);
	if ((rc = cf_stmt_ev_end(db, __func__, rc)) != 0) {
		free(v);
		return (rc);
	}
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
