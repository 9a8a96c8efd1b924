/*
 * store_action.c -- what is done to a stored message: edits, deletes
 * (tombstones), reactions, and the reading of threads and of the
 * reactions of a page (store.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "db/store_int.h"

/*
 * The lock of a message's reactions, so that the check of the distinct
 * emoji bound and the insert are one step on every host, and that a
 * delete and a reaction are ordered.  Tagged in the
 * high bits, apart from the channel and call locks.
 */
#define LOCK_MESSAGE(id)	(0x6d72LL << 48 | ((id) & 0xffffffffffffLL))

/* The state of a message that a refused write reports. */
struct msg_state {
	int64_t		 channel_id;
	int		 deleted;
	int		 archived;
};

static int
msg_state_row(struct cf_db_stmt *st, void *arg)
{
	struct msg_state *ms = arg;

	ms->channel_id = cf_row_i64(st, 0);
	ms->deleted = !cf_row_isnull(st, 1);
	ms->archived = !cf_row_isnull(st, 2);
	return (0);
}

/*
 * Why a message takes no change, or 0 when it does: -ENOENT unknown,
 * -EIDRM deleted, -EROFS its channel archived.
 */
static int
msg_state(struct cf_db *db, const char *func, int64_t id,
    struct msg_state *ms)
{
	int rc;

	if ((rc = cf_stmt_first(db, func, msg_state_row, ms,
	    "SELECT m.channel_id, m.deleted_at, c.archived_at FROM messages m"
	    " JOIN channels c ON c.id = m.channel_id WHERE m.id = ?1",
	    "i", id)) != 0)
		return (rc);
	if (ms->deleted)
		return (-EIDRM);
	if (ms->archived)
		return (-EROFS);
	return (0);
}

/* The condition under which a message takes a change. */
#define MSG_WRITABLE \
	" deleted_at IS NULL AND EXISTS (SELECT 1 FROM channels c" \
	"  WHERE c.id = messages.channel_id AND c.archived_at IS NULL)"

int
cf_store_message_edit(struct cf_db *db, int64_t id, const char *text,
    const char *editor, int64_t now_ms, json_t **message)
{
	struct msg_state ms;
	int64_t n = 0;
	int rc;

	if (message == NULL)
		return (-EINVAL);
	*message = NULL;
	if (db == NULL || text == NULL || !id_ok(editor))
		return (-EINVAL);
	if ((rc = cf_stmt_tx_begin(db, __func__, 0)) != 0)
		return (rc);
	rc = cf_stmt_run(db, __func__, &n,
	    "UPDATE messages SET body = ?2, edited_at = ?3, edited_by = ?4"
	    " WHERE id = ?1 AND" MSG_WRITABLE, "itit", id, text, now_ms,
	    editor);
	if (rc == 0 && n == 0 && (rc = msg_state(db, __func__, id, &ms)) == 0)
		rc = -EIO;
	if (rc == 0)
		rc = cf_stmt_query_obj(db, __func__, cf_row_message, message,
		    MESSAGE_SELECT " WHERE m.id = ?1", "i", id);
	if (rc == 0 && db->event != NULL)
		rc = cf_stmt_event(db, "message.updated",
		    json_pack("{s:O}", "message", *message));
	if ((rc = cf_stmt_tx_end(db, __func__, rc)) != 0) {
		json_decref(*message);
		*message = NULL;
	}
	return (rc);
}

int
cf_store_message_delete(struct cf_db *db, int64_t id, const char *deleter,
    int64_t now_ms, json_t **message)
{
	struct msg_state ms;
	int64_t n = 0;
	int rc;

	if (message == NULL)
		return (-EINVAL);
	*message = NULL;
	if (db == NULL || !id_ok(deleter))
		return (-EINVAL);
	/* The reactions' lock: no reaction lands after they are deleted. */
	if ((rc = cf_stmt_tx_begin(db, __func__, LOCK_MESSAGE(id))) != 0)
		return (rc);
	/* The text is overwritten in the row: nothing of it is kept. */
	rc = cf_stmt_run(db, __func__, &n,
	    "UPDATE messages SET body = '', edited_at = NULL,"
	    "  edited_by = NULL, deleted_at = ?2, deleted_by = ?3"
	    " WHERE id = ?1 AND" MSG_WRITABLE, "iit", id, now_ms, deleter);
	if (rc == 0 && n == 0 && (rc = msg_state(db, __func__, id, &ms)) == 0)
		rc = -EIO;
	if (rc == 0)
		rc = cf_stmt_run(db, __func__, NULL,
		    "DELETE FROM message_files WHERE message_id = ?1", "i", id);
	if (rc == 0)
		rc = cf_stmt_run(db, __func__, NULL,
		    "DELETE FROM message_reactions WHERE message_id = ?1",
		    "i", id);
	if (rc == 0)
		rc = cf_stmt_query_obj(db, __func__, cf_row_message, message,
		    MESSAGE_SELECT " WHERE m.id = ?1", "i", id);
	if (rc == 0 && db->event != NULL)
		rc = cf_stmt_event(db, "message.deleted",
		    json_pack("{s:O,s:O,s:O,s:O}",
		    "id", json_object_get(*message, "id"),
		    "channelId", json_object_get(*message, "channelId"),
		    "deletedBy", json_object_get(*message, "deletedBy"),
		    "deletedAt", json_object_get(*message, "deletedAt")));
	if ((rc = cf_stmt_tx_end(db, __func__, rc)) != 0) {
		json_decref(*message);
		*message = NULL;
	}
	return (rc);
}

/*
 * Add (add != 0) or remove user_id's reaction emoji on a message, in one
 * transaction under the message's lock.  Adding one that is there, or
 * removing one that is not, changes nothing (*changed 0).  -ENOSPC: the
 * message has max distinct emoji and this one is not among them.
 * *channel_id: the message's channel; *count: how many users reacted
 * with emoji after the change.
 */
int
cf_store_reaction_set(struct cf_db *db, int64_t id, const char *user_id,
    const char *emoji, int add, int max, int64_t now_ms, int64_t *channel_id,
    int64_t *count, int *changed)
{
	struct msg_state ms;
	int64_t n = 0, cnt = 0;
	int rc;

	if (db == NULL || !id_ok(user_id) || !id_ok(emoji) ||
	    channel_id == NULL || count == NULL || changed == NULL)
		return (-EINVAL);
	*changed = 0;
	if ((rc = cf_stmt_tx_begin(db, __func__, LOCK_MESSAGE(id))) != 0)
		return (rc);
	rc = msg_state(db, __func__, id, &ms);
	if (rc == 0 && add) {
		rc = cf_stmt_run(db, __func__, &n,
		    "INSERT INTO message_reactions(message_id, emoji, user_id,"
		    "  created_at) SELECT ?1, ?2, ?3, ?4"
		    " WHERE EXISTS (SELECT 1 FROM message_reactions"
		    "  WHERE message_id = ?1 AND emoji = ?2)"
		    " OR (SELECT count(DISTINCT emoji) FROM message_reactions"
		    "  WHERE message_id = ?1) < ?5"
		    " ON CONFLICT DO NOTHING", "ittid", id, emoji, user_id,
		    now_ms, max);
		/* Not stored: already there (a no-op), or over the bound. */
		if (rc == 0 && n == 0) {
			rc = cf_stmt_query_i64(db, __func__, NULL, NULL,
			    "SELECT 1 FROM message_reactions WHERE"
			    " message_id = ?1 AND emoji = ?2 AND user_id = ?3",
			    "itt", id, emoji, user_id);
			if (rc == -ENOENT)
				rc = -ENOSPC;
		}
	} else if (rc == 0)
		rc = cf_stmt_run(db, __func__, &n,
		    "DELETE FROM message_reactions WHERE message_id = ?1"
		    " AND emoji = ?2 AND user_id = ?3", "itt", id, emoji,
		    user_id);
	if (rc == 0)
		rc = cf_stmt_query_i64(db, __func__, &cnt, NULL,
		    "SELECT count(*) FROM message_reactions"
		    " WHERE message_id = ?1 AND emoji = ?2", "it", id, emoji);
	if ((rc = cf_stmt_tx_end(db, __func__, rc)) != 0)
		return (rc);
	*channel_id = ms.channel_id;
	*count = cnt;
	*changed = n > 0;
	return (0);
}

/*
 * The reactions of the messages of arr (objects of cf_row_message) into
 * their "reactions": [{emoji, count, me}], each message's by first
 * reaction, "me" for viewer (NULL: nobody).  One statement for the whole
 * array, none when it is empty.
 */
int
cf_store_reactions_fill(struct cf_db *db, const char *viewer, json_t *arr)
{
	struct cf_db_stmt *st = NULL;
	json_t *ids = NULL, *byid = NULL, *m, *r, *list;
	char sql[512], key[24], *text = NULL;
	size_t i;
	int rc;

	if (db == NULL || !json_is_array(arr))
		return (-EINVAL);
	if (json_array_size(arr) == 0)
		return (0);
	rc = -ENOMEM;
	if ((ids = json_array()) == NULL || (byid = json_object()) == NULL)
		goto done;
	json_array_foreach(arr, i, m) {
		snprintf(key, sizeof(key), "%lld", (long long)
		    json_integer_value(json_object_get(m, "id")));
		if (json_array_append_new(ids, json_string(key)) == -1 ||
		    json_object_set(byid, key, m) == -1)
			goto done;
	}
	if ((text = json_dumps(ids, JSON_COMPACT)) == NULL)
		goto done;
	snprintf(sql, sizeof(sql),
	    "SELECT message_id, emoji, count(*),"
	    "  max(CASE WHEN user_id = ?2 THEN 1 ELSE 0 END)"
	    " FROM message_reactions WHERE message_id IN"
	    "  (SELECT CAST(value AS BIGINT) FROM %s)"
	    " GROUP BY message_id, emoji"
	    " ORDER BY message_id, min(created_at), emoji",
	    db->ops->text_list);
	if ((rc = cf_stmt_prepare(db, __func__, &st, sql, "tt", text,
	    viewer != NULL ? viewer : "")) != 0)
		goto done;
	while ((rc = cf_stmt_step(db, __func__, st)) == 1) {
		snprintf(key, sizeof(key), "%lld",
		    (long long)cf_row_i64(st, 0));
		if ((m = json_object_get(byid, key)) == NULL ||
		    (list = json_object_get(m, "reactions")) == NULL)
			continue;
		r = json_pack("{s:o,s:I,s:b}", "emoji", cf_row_text(st, 1),
		    "count", (json_int_t)cf_row_i64(st, 2),
		    "me", cf_row_i64(st, 3) != 0);
		if (json_array_append_new(list, r) == -1) {
			rc = -ENOMEM;
			break;
		}
	}
 done:
	cf_stmt_finish(st);
	free(text);
	json_decref(ids);
	json_decref(byid);
	return (rc);
}

/*
 * The direct replies of message root_id with id > after, oldest first,
 * at most limit (1..PAGE_MAX), and the root itself, in one statement
 * (a reply's id is above its target's: the root's row comes first).
 * -ENOENT: no such message.
 */
int
cf_store_thread_page(struct cf_db *db, int64_t root_id, int64_t after,
    int limit, json_t **root, json_t **replies, int *has_more)
{
	struct cf_db_stmt *st = NULL;
	json_t *arr = NULL, *m;
	int rc, n = 0, more = 0;

	if (root == NULL || replies == NULL)
		return (-EINVAL);
	*root = NULL;
	*replies = NULL;
	if (db == NULL)
		return (-EINVAL);
	if (limit < 1)
		limit = 1;
	if (limit > PAGE_MAX)
		limit = PAGE_MAX;
	if ((arr = json_array()) == NULL)
		return (-ENOMEM);
	if ((rc = cf_stmt_prepare(db, __func__, &st, MESSAGE_SELECT
	    " WHERE m.id = ?1 OR (m.reply_to_id = ?1 AND m.id > ?2)"
	    " ORDER BY m.id LIMIT ?3", "iid", root_id, after, limit + 2)) != 0)
		goto fail;
	while ((rc = cf_stmt_step(db, __func__, st)) == 1) {
		if (*root == NULL) {
			if (cf_row_i64(st, 0) != root_id)
				break;
			if ((*root = cf_row_message(st)) == NULL) {
				rc = -ENOMEM;
				break;
			}
			continue;
		}
		if (n == limit) {
			more = 1;
			break;
		}
		if ((m = cf_row_message(st)) == NULL ||
		    json_array_append_new(arr, m) == -1) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	cf_stmt_finish(st);
	if (rc < 0)
		goto fail;
	if (*root == NULL) {
		rc = -ENOENT;
		goto fail;
	}
	*replies = arr;
	if (has_more != NULL)
		*has_more = more;
	return (0);
 fail:
	json_decref(*root);
	*root = NULL;
	json_decref(arr);
	return (rc);
}
