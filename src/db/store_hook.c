/*
 * store_hook.c -- the webhook outbox and the leases of its endpoints
 * (store.h, schema.h migration 5).
 *
 * A delivery is a row, written by the event hook inside the transaction
 * of the write it reports (cf_stmt_event), so it exists exactly when
 * that write committed; it is deleted once delivered or given up.  An
 * endpoint's deliveries go out in id order, one at a time, by whichever
 * worker holds the endpoint's lease: the lease is a row taken with one
 * conditional upsert, so one owner wins on any number of workers and
 * hosts, and a dead owner's lease simply expires.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db/store_int.h"

/*
 * Only from a cf_store_event_fn: the transaction (or the message's
 * savepoint) of the write is open, and this row joins it.
 */
int
cf_store_hook_add(struct cf_db *db, const char *endpoint, const char *event,
    const char *payload, int64_t now_ms, int64_t *id)
{
	int64_t v = 0;
	int rc;

	if (db == NULL || !id_ok(endpoint) || !id_ok(event) || payload == NULL)
		return (-EINVAL);
	rc = cf_stmt_query_i64(db, __func__, &v, NULL,
	    "INSERT INTO webhook_outbox(endpoint, event, payload, created_at)"
	    " VALUES (?1, ?2, ?3, ?4) RETURNING id",
	    "ttti", endpoint, event, payload, now_ms);
	if (rc == 0 && id != NULL)
		*id = v;
	return (rc);
}

int
cf_store_hook_lease(struct cf_db *db, const char *endpoint, const char *owner,
    int64_t now_ms, int64_t until_ms)
{
	int rc;

	if (db == NULL || !id_ok(endpoint) || !id_ok(owner))
		return (-EINVAL);
	cf_stmt_settle(db);
	/* The row comes back only when the insert or the update happened. */
	rc = cf_stmt_query_i64(db, __func__, NULL, NULL,
	    "INSERT INTO webhook_lease(endpoint, owner, lease_until)"
	    " VALUES (?1, ?2, ?4)"
	    " ON CONFLICT (endpoint) DO UPDATE SET owner = excluded.owner,"
	    "  lease_until = excluded.lease_until"
	    " WHERE webhook_lease.owner = excluded.owner"
	    "  OR webhook_lease.lease_until <= ?3"
	    " RETURNING 1",
	    "ttii", endpoint, owner, now_ms, until_ms);
	if (rc == -ENOENT)
		return (0);
	return (rc == 0 ? 1 : rc);
}

int
cf_store_hook_release(struct cf_db *db, const char *endpoint,
    const char *owner)
{
	if (db == NULL || !id_ok(endpoint) || !id_ok(owner))
		return (-EINVAL);
	cf_stmt_settle(db);
	return (cf_stmt_run(db, __func__, NULL,
	    "UPDATE webhook_lease SET lease_until = 0"
	    " WHERE endpoint = ?1 AND owner = ?2", "tt", endpoint, owner));
}

static int
read_head(struct cf_db_stmt *st, void *arg)
{
	struct cf_hook_row *row = arg;
	const char *ev, *pl;
	size_t len;

	row->id = cf_row_i64(st, 0);
	ev = st->db->ops->text(st, 1, &len);
	if (ev == NULL || len >= sizeof(row->event))
		return (-EINVAL);
	memcpy(row->event, ev, len + 1);
	if ((pl = st->db->ops->text(st, 2, &len)) == NULL)
		return (-EINVAL);
	if ((row->payload = malloc(len + 1)) == NULL)
		return (-ENOMEM);
	memcpy(row->payload, pl, len + 1);
	row->created_at = cf_row_i64(st, 3);
	row->attempts = cf_row_i64(st, 4);
	row->first_try_at = cf_row_isnull(st, 5) ? 0 : cf_row_i64(st, 5);
	row->next_at = cf_row_i64(st, 6);
	return (0);
}

/*
 * Settles first: a delivery read while this connection's batch is open
 * could be one that batch is about to lose.
 */
int
cf_store_hook_head(struct cf_db *db, const char *endpoint,
    struct cf_hook_row *row)
{
	int rc;

	if (row == NULL)
		return (-EINVAL);
	memset(row, 0, sizeof(*row));
	if (db == NULL || !id_ok(endpoint))
		return (-EINVAL);
	cf_stmt_settle(db);
	rc = cf_stmt_first(db, __func__, read_head, row,
	    "SELECT id, event, payload, created_at, attempts, first_try_at,"
	    "  next_at FROM webhook_outbox WHERE endpoint = ?1"
	    " ORDER BY id LIMIT 1", "t", endpoint);
	if (rc != 0) {
		free(row->payload);
		memset(row, 0, sizeof(*row));
	}
	return (rc);
}

int
cf_store_hook_done(struct cf_db *db, int64_t id)
{
	if (db == NULL)
		return (-EINVAL);
	cf_stmt_settle(db);
	return (cf_stmt_run(db, __func__, NULL,
	    "DELETE FROM webhook_outbox WHERE id = ?1", "i", id));
}

int
cf_store_hook_retry(struct cf_db *db, int64_t id, int64_t attempts,
    int64_t first_try_at, int64_t next_at)
{
	if (db == NULL)
		return (-EINVAL);
	cf_stmt_settle(db);
	return (cf_stmt_run(db, __func__, NULL,
	    "UPDATE webhook_outbox SET attempts = ?2, first_try_at = ?3,"
	    "  next_at = ?4 WHERE id = ?1", "iiii", id, attempts, first_try_at,
	    next_at));
}

/*
 * Both bounded, however long an outage made the outbox: the count stops
 * at CF_STORE_HOOK_DEPTH_MAX rows, and the oldest is the lowest id's
 * (one primary-key lookup; ids grow with time).
 */
int
cf_store_hook_stats(struct cf_db *db, int64_t *depth, int64_t *oldest_ms)
{
	int rc;

	if (db == NULL || depth == NULL || oldest_ms == NULL)
		return (-EINVAL);
	*depth = *oldest_ms = 0;
	if ((rc = cf_stmt_query_i64(db, __func__, depth, NULL,
	    "SELECT count(*) FROM (SELECT 1 FROM webhook_outbox LIMIT ?1) t",
	    "i", (int64_t)CF_STORE_HOOK_DEPTH_MAX)) != 0)
		return (rc);
	rc = cf_stmt_query_i64(db, __func__, oldest_ms, NULL,
	    "SELECT created_at FROM webhook_outbox ORDER BY id LIMIT 1", "");
	return (rc == -ENOENT ? 0 : rc);
}
