/*
 * store_message.c -- messages, the files attached to them, read
 * positions and broadcasts (store.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "db/store_int.h"
#include "log.h"

/*
 * The lock a new message of a channel takes, so that the messages of a
 * channel commit in id order: a reader that has seen id n (live, or in a
 * page after n) never later finds a smaller id appear.  Tagged in the
 * high bits, apart from LOCK_CALLS (store_call.c).
 */
#define LOCK_CHANNEL(id)	(0x6366LL << 48 | ((id) & 0xffffffffffffLL))

static int	 message_load(struct cf_db *, const char *, int64_t, json_t **);

static int
message_load(struct cf_db *db, const char *func, int64_t id, json_t **message)
{
	return (cf_stmt_query_obj(db, func, cf_row_message, message,
	    MESSAGE_SELECT " WHERE m.id = ?1", "i", id));
}

/*
 * The mentions of a new message (distinct user id strings): one row
 * each, inserted only for members of the channel, so that one statement
 * both checks and stores them; a mention of a non-member is -EPERM (the
 * caller's savepoint undoes the message).  *message gets "mentions".
 */
static int
mentions_insert(struct cf_db *db, const char *func, int64_t channel_id,
    const json_t *mentions, json_t *message)
{
	const json_t *v;
	json_t *ids;
	char sql[320], *list;
	int64_t n = 0;
	size_t i;
	int rc;

	if ((list = json_dumps(mentions, JSON_COMPACT)) == NULL)
		return (-ENOMEM);
	snprintf(sql, sizeof(sql), "INSERT INTO message_mentions(message_id,"
	    "  user_id, channel_id)"
	    " SELECT ?2, user_id, channel_id FROM channel_members"
	    " WHERE channel_id = ?3 AND user_id IN (SELECT value FROM %s)"
	    " ON CONFLICT DO NOTHING", db->ops->text_list);
	rc = cf_stmt_run(db, func, &n, sql, "tii", list,
	    json_integer_value(json_object_get(message, "id")), channel_id);
	free(list);
	if (rc != 0)
		return (rc);
	if (n != (int64_t)json_array_size(mentions))
		return (-EPERM);
	if ((ids = json_array()) == NULL)
		return (-ENOMEM);
	json_array_foreach(mentions, i, v)
		json_array_append_new(ids,
		    cf_store_user_id_json(json_string_value(v)));
	return (json_object_set_new(message, "mentions", ids) == -1 ?
	    -ENOMEM : 0);
}

/*
 * Store a message, in one transaction or, inside an open batch, one
 * savepoint of it (undone alone on failure): the channel must exist and a
 * non-zero reply_to_id be a message of it (-ENOENT).  A client_msg_id the
 * user already used (the UNIQUE(user_id, client_msg_id) key refuses the
 * row, even against a writer on another connection that has not committed
 * yet) stores nothing: *message is then the original and *duplicate 1.
 * *message is a new reference on success; duplicate may be NULL.
 */
static int
message_insert(struct cf_db *db, const char *func, int64_t channel_id,
    const char *user_id, const char *display_name, const char *text,
    const char *message_type, int64_t reply_to_id,
    const char *client_msg_id, const json_t *mentions, int64_t now_ms,
    json_t **message, int *duplicate)
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
	if ((rc = cf_stmt_one_begin(db, func,
	    LOCK_CHANNEL(channel_id))) != 0)
		return (rc);
	/*
	 * One statement in the common case: the row is inserted only when
	 * the channel and the reply target exist, and comes back as
	 * cf_row_message() reads it (no file yet).  No row: find out why, in
	 * the order the contract gives (channel, reply target, duplicate).
	 */
	rc = cf_stmt_query_obj(db, func, cf_row_message, message,
	    "INSERT INTO messages(channel_id, user_id, user_display_name,"
	    "  body, message_type, reply_to_id, client_msg_id, created_at)"
	    " SELECT c.id, ?2, ?3, ?4, ?5, nullif(?6, 0), ?7, ?8"
	    " FROM channels c WHERE c.id = ?1 AND c.archived_at IS NULL"
	    "  AND (?6 = 0 OR EXISTS"
	    "  (SELECT 1 FROM messages r WHERE r.id = ?6 AND"
	    "   r.channel_id = c.id))"
	    " ON CONFLICT (user_id, client_msg_id) DO NOTHING"
	    " RETURNING id, channel_id, user_id, user_display_name, body,"
	    "  message_type, reply_to_id, client_msg_id, created_at,"
	    "  NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL",
	    "ittttiti", channel_id, user_id, display_name, text, message_type,
	    reply_to_id, client_msg_id, now_ms);
	if (rc != -ENOENT)
		goto done;
	rc = cf_store_channel_writable(db, channel_id);
	if (rc == 0 && reply_to_id != 0)
		rc = cf_stmt_query_i64(db, func, NULL, NULL,
		    "SELECT 1 FROM messages WHERE id = ?1 AND channel_id = ?2",
		    "ii", reply_to_id, channel_id);
	if (rc == 0 && client_msg_id != NULL) {
		rc = cf_stmt_query_obj(db, func, cf_row_message, message,
		    MESSAGE_SELECT " WHERE m.user_id = ?1"
		    " AND m.client_msg_id = ?2", "tt", user_id, client_msg_id);
		dup = rc == 0;
	} else if (rc == 0) {
		cf_log_warnx("%s: the row was neither stored nor refused",
		    func);
		rc = -EIO;
	}
 done:
	if (rc == 0 && !dup && mentions != NULL &&
	    json_array_size(mentions) > 0)
		rc = mentions_insert(db, func, channel_id, mentions, *message);
	/* The thread's counters of the target, in the same savepoint. */
	if (rc == 0 && !dup && reply_to_id != 0)
		rc = cf_stmt_run(db, func, NULL,
		    "UPDATE messages SET reply_count = reply_count + 1,"
		    "  last_reply_at = ?2 WHERE id = ?1", "ii", reply_to_id,
		    now_ms);
	/* The webhook event joins the message's savepoint: one fate. */
	if (rc == 0 && !dup && db->event != NULL)
		rc = cf_stmt_event(db, "message.created",
		    json_pack("{s:O}", "message", *message));
	if ((rc = cf_stmt_one_end(db, func, rc)) != 0) {
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

int
cf_store_message_insert(struct cf_db *db, int64_t channel_id,
    const char *user_id, const char *display_name, const char *text,
    const char *message_type, int64_t reply_to_id,
    const char *client_msg_id, int64_t now_ms, json_t **message,
    int *duplicate)
{
	return (message_insert(db, __func__, channel_id, user_id, display_name,
	    text, message_type, reply_to_id, client_msg_id, NULL, now_ms,
	    message, duplicate));
}

int
cf_store_message_insert_mentions(struct cf_db *db, int64_t channel_id,
    const char *user_id, const char *display_name, const char *text,
    const char *message_type, int64_t reply_to_id,
    const char *client_msg_id, const json_t *mentions, int64_t now_ms,
    json_t **message, int *duplicate)
{
	size_t i;

	if (mentions != NULL) {
		if (!json_is_array(mentions) ||
		    json_array_size(mentions) > CF_STORE_MENTIONS_MAX)
			return (-EINVAL);
		for (i = 0; i < json_array_size(mentions); i++)
			if (!id_ok(json_string_value(json_array_get(mentions,
			    i))))
				return (-EINVAL);
	}
	return (message_insert(db, __func__, channel_id, user_id, display_name,
	    text, message_type, reply_to_id, client_msg_id, mentions, now_ms,
	    message, duplicate));
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
	rc = cf_stmt_query_i64(db, __func__, &v, &isnull,
	    "SELECT (SELECT max(id) FROM messages WHERE channel_id = ?1)"
	    " FROM channels WHERE id = ?1", "i", channel_id);
	if (rc == 0)
		*message_id = isnull ? 0 : v;
	return (rc);
}

/*
 * A page of history (see store.h), limit clamped to 1..PAGE_MAX.  One row
 * beyond the limit is fetched to tell *has_more.  One statement, two for
 * an empty page (does the channel exist?).  *messages is a new array
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
	if ((arr = json_array()) == NULL)
		return (-ENOMEM);
	if ((rc = cf_stmt_prepare(db, __func__, &st, sql, "iid", channel_id,
	    bound, limit + 1)) != 0 ||
	    (rc = cf_stmt_collect(db, __func__, st, cf_row_message, limit, arr,
	    &more)) != 0)
		goto fail;
	/* A page with rows has its channel; an empty one asks. */
	if (json_array_size(arr) == 0 && (rc = cf_stmt_query_i64(db,
	    __func__, NULL, NULL, "SELECT 1 FROM channels WHERE id = ?1", "i",
	    channel_id)) != 0)
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
 * message (or a deleted one); -EINVAL: a negative size or a missing field.
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
	cf_stmt_settle(db);
	/* WHERE before ON CONFLICT keeps the upsert unambiguous. */
	rc = cf_stmt_run(db, __func__, &n,
	    "INSERT INTO message_files(message_id, file_name, file_size,"
	    "  file_type, uploaded_by, uploaded_at)"
	    " SELECT id, ?2, ?3, ?4, ?5, ?6 FROM messages WHERE id = ?1"
	    "  AND deleted_at IS NULL"
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
	if ((rc = cf_stmt_tx_begin(db, __func__, 0)) != 0)
		return (rc);
	if (message_id == 0) {
		rc = cf_stmt_query_i64(db, __func__, &target, &isnull,
		    "SELECT (SELECT max(id) FROM messages"
		    "  WHERE channel_id = ?1) FROM channels WHERE id = ?1",
		    "i", channel_id);
		if (isnull)
			target = 0;
	} else
		rc = cf_stmt_query_i64(db, __func__, NULL, NULL,
		    "SELECT 1 FROM messages WHERE id = ?1 AND channel_id = ?2",
		    "ii", message_id, channel_id);
	/* The upsert locks the row: a racing writer sees this one's result. */
	if (rc == 0)
		rc = cf_stmt_query_i64(db, __func__, &pos, NULL,
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
	if ((rc = cf_stmt_tx_end(db, __func__, rc)) == 0 && position != NULL)
		*position = pos;
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
	cf_stmt_settle(db);
	rc = cf_stmt_query_i64(db, __func__, &id, NULL,
	    "INSERT INTO broadcasts(message, priority, from_user, from_name,"
	    "  created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
	    "tttti", message, priority, from_user, from_name, now_ms);
	if (rc == 0 && broadcast_id != NULL)
		*broadcast_id = id;
	return (rc);
}
