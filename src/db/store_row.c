/*
 * store_row.c -- result rows of the chat storage made into what the
 * callers get: JSON for channels, messages, presence and call history,
 * struct cf_call for the calls the worker tracks; and the user id and
 * time conversions the JSON uses (store.h).  Each JSON row is a new
 * reference, or NULL on failure.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "db/store_int.h"

static void	 col_copy(struct cf_db_stmt *, int, char *, size_t);

int
cf_row_isnull(struct cf_db_stmt *st, int i)
{
	return (st->db->ops->isnull(st, i));
}

int64_t
cf_row_i64(struct cf_db_stmt *st, int i)
{
	return (st->db->ops->int64(st, i));
}

json_t *
cf_row_text(struct cf_db_stmt *st, int i)
{
	const char *s;
	size_t len;

	if (cf_row_isnull(st, i))
		return (json_null());
	if ((s = st->db->ops->text(st, i, &len)) == NULL)
		return (NULL);
	return (json_stringn(s, len));
}

json_t *
cf_row_int_or_null(struct cf_db_stmt *st, int i)
{
	if (cf_row_isnull(st, i))
		return (json_null());
	return (json_integer(cf_row_i64(st, i)));
}

json_t *
cf_row_time(struct cf_db_stmt *st, int i)
{
	char buf[48];

	if (cf_row_isnull(st, i))
		return (json_null());
	cf_store_iso8601(cf_row_i64(st, i), buf, sizeof(buf));
	return (json_string(buf));
}

json_t *
cf_row_user(struct cf_db_stmt *st, int i)
{
	size_t len;

	return (cf_store_user_id_json(st->db->ops->text(st, i, &len)));
}

/* Copy a text column into buf, "" for NULL; truncates. */
static void
col_copy(struct cf_db_stmt *st, int i, char *buf, size_t len)
{
	size_t n;
	const char *s = st->db->ops->text(st, i, &n);

	snprintf(buf, len, "%s", s != NULL ? s : "");
}

/* o when every member was set, else NULL and o released (bad). */
static json_t *
row_done(json_t *o, int bad)
{
	if (bad) {
		json_decref(o);
		return (NULL);
	}
	return (o);
}

/*
 * Columns 0-7 as CHANNEL_COLS; archivedAt only once archived, kind only
 * for a direct channel (channel:list writes it on every channel).
 */
json_t *
cf_row_channel(struct cf_db_stmt *st)
{
	json_t *c;
	size_t len;
	int bad = 0;

	if ((c = json_object()) == NULL)
		return (NULL);
	bad |= json_object_set_new(c, "id",
	    json_integer(cf_row_i64(st, 0)));
	bad |= json_object_set_new(c, "name", cf_row_text(st, 1));
	bad |= json_object_set_new(c, "description", cf_row_text(st, 2));
	bad |= json_object_set_new(c, "isPrivate",
	    json_boolean(cf_row_i64(st, 3) != 0));
	bad |= json_object_set_new(c, "createdBy", cf_row_user(st, 4));
	bad |= json_object_set_new(c, "createdAt", cf_row_time(st, 5));
	if (!cf_row_isnull(st, 6))
		bad |= json_object_set_new(c, "archivedAt", cf_row_time(st, 6));
	if (!cf_row_isnull(st, 7) && strcmp(st->db->ops->text(st, 7, &len),
	    "channel") != 0)
		bad |= json_object_set_new(c, "kind", cf_row_text(st, 7));
	return (row_done(c, bad));
}

/*
 * A channel, then is-member, last read id, unread count, unread mentions
 * (columns 8-11) and, for a direct channel, the other user's id and
 * stored name (12-13; the id when the name is unknown).
 */
json_t *
cf_row_channel_list(struct cf_db_stmt *st)
{
	json_t *c;
	int bad = 0;

	if ((c = cf_row_channel(st)) == NULL)
		return (NULL);
	if (json_object_get(c, "kind") == NULL)
		bad |= json_object_set_new(c, "kind", json_string("channel"));
	bad |= json_object_set_new(c, "isMember",
	    json_boolean(cf_row_i64(st, 8) != 0));
	bad |= json_object_set_new(c, "lastReadMessageId",
	    cf_row_int_or_null(st, 9));
	bad |= json_object_set_new(c, "unreadCount",
	    json_integer(cf_row_i64(st, 10)));
	bad |= json_object_set_new(c, "mentionCount",
	    json_integer(cf_row_i64(st, 11)));
	if (!cf_row_isnull(st, 12)) {
		bad |= json_object_set_new(c, "otherUserId",
		    cf_row_user(st, 12));
		bad |= json_object_set_new(c, "otherUserName",
		    cf_row_text(st, cf_row_isnull(st, 13) ? 12 : 13));
	}
	return (row_done(c, bad));
}

/*
 * The columns of MESSAGE_SELECT.  clientMsgId only when stored; file only
 * when a file is attached (message_files row); editedBy once edited;
 * deletedAt and deletedBy for a tombstone; reactions empty.
 */
json_t *
cf_row_message(struct cf_db_stmt *st)
{
	json_t *m, *f;
	int bad = 0;

	if ((m = json_object()) == NULL)
		return (NULL);
	bad |= json_object_set_new(m, "id",
	    json_integer(cf_row_i64(st, 0)));
	bad |= json_object_set_new(m, "channelId",
	    json_integer(cf_row_i64(st, 1)));
	bad |= json_object_set_new(m, "userId", cf_row_user(st, 2));
	bad |= json_object_set_new(m, "userDisplayName", cf_row_text(st, 3));
	bad |= json_object_set_new(m, "message", cf_row_text(st, 4));
	bad |= json_object_set_new(m, "messageType", cf_row_text(st, 5));
	bad |= json_object_set_new(m, "replyToId", cf_row_int_or_null(st, 6));
	bad |= json_object_set_new(m, "timestamp", cf_row_time(st, 8));
	if (!cf_row_isnull(st, 7))
		bad |= json_object_set_new(m, "clientMsgId",
		    cf_row_text(st, 7));
	if (!cf_row_isnull(st, 9)) {
		if ((f = json_object()) == NULL)
			bad = 1;
		else {
			bad |= json_object_set_new(f, "fileName",
			    cf_row_text(st, 9));
			bad |= json_object_set_new(f, "fileSize",
			    json_integer(cf_row_i64(st, 10)));
			bad |= json_object_set_new(f, "fileType",
			    cf_row_text(st, 11));
			bad |= json_object_set_new(m, "file", f);
		}
	}
	bad |= json_object_set_new(m, "editedAt", cf_row_time(st, 12));
	if (!cf_row_isnull(st, 13))
		bad |= json_object_set_new(m, "editedBy", cf_row_user(st, 13));
	bad |= json_object_set_new(m, "deleted",
	    json_boolean(!cf_row_isnull(st, 14)));
	if (!cf_row_isnull(st, 14)) {
		bad |= json_object_set_new(m, "deletedAt", cf_row_time(st, 14));
		bad |= json_object_set_new(m, "deletedBy", cf_row_user(st, 15));
	}
	bad |= json_object_set_new(m, "replyCount",
	    json_integer(cf_row_i64(st, 16)));
	bad |= json_object_set_new(m, "lastReplyAt", cf_row_time(st, 17));
	/* Filled by cf_store_reactions_fill() where the reader is known. */
	bad |= json_object_set_new(m, "reactions", json_array());
	return (row_done(m, bad));
}

/* status, status_message, custom_status. */
json_t *
cf_row_presence(struct cf_db_stmt *st)
{
	json_t *p;
	int bad = 0;

	if ((p = json_object()) == NULL)
		return (NULL);
	bad |= json_object_set_new(p, "status", cf_row_text(st, 0));
	bad |= json_object_set_new(p, "statusMessage", cf_row_text(st, 1));
	bad |= json_object_set_new(p, "customStatus", cf_row_text(st, 2));
	return (row_done(p, bad));
}

/* Columns of CALL_COLS into *c (answered_at and ended_at 0 for NULL). */
void
cf_row_call(struct cf_db_stmt *st, struct cf_call *c)
{
	memset(c, 0, sizeof(*c));
	c->id = cf_row_i64(st, 0);
	col_copy(st, 1, c->caller, sizeof(c->caller));
	col_copy(st, 2, c->callee, sizeof(c->callee));
	col_copy(st, 3, c->type, sizeof(c->type));
	col_copy(st, 4, c->status, sizeof(c->status));
	col_copy(st, 5, c->caller_sock, sizeof(c->caller_sock));
	col_copy(st, 6, c->callee_sock, sizeof(c->callee_sock));
	c->started_at = cf_row_i64(st, 7);
	c->answered_at = cf_row_i64(st, 8);
	c->ended_at = cf_row_i64(st, 9);
}

/*
 * id, caller_id, callee_id, call_type, status, started_at, answered_at,
 * ended_at, duration_ms as the history JSON of a call.
 */
json_t *
cf_row_call_json(struct cf_db_stmt *st)
{
	json_t *c;
	int bad = 0;

	if ((c = json_object()) == NULL)
		return (NULL);
	bad |= json_object_set_new(c, "id",
	    json_integer(cf_row_i64(st, 0)));
	bad |= json_object_set_new(c, "callerId", cf_row_user(st, 1));
	bad |= json_object_set_new(c, "calleeId", cf_row_user(st, 2));
	bad |= json_object_set_new(c, "callType", cf_row_text(st, 3));
	bad |= json_object_set_new(c, "status", cf_row_text(st, 4));
	bad |= json_object_set_new(c, "startedAt", cf_row_time(st, 5));
	bad |= json_object_set_new(c, "answeredAt", cf_row_time(st, 6));
	bad |= json_object_set_new(c, "endedAt", cf_row_time(st, 7));
	bad |= json_object_set_new(c, "durationMs", cf_row_int_or_null(st, 8));
	return (row_done(c, bad));
}

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

/* A member: user id, display name, role (NULL: never seen), joined at,
 * last read message id. */
json_t *
cf_row_member(struct cf_db_stmt *st)
{
	json_t *m;
	int bad = 0;

	if ((m = json_object()) == NULL)
		return (NULL);
	bad |= json_object_set_new(m, "userId", cf_row_user(st, 0));
	bad |= json_object_set_new(m, "displayName", cf_row_text(st, 1));
	bad |= json_object_set_new(m, "role", cf_row_text(st, 2));
	bad |= json_object_set_new(m, "joinedAt", cf_row_isnull(st, 3) ?
	    json_null() : cf_row_time(st, 3));
	bad |= json_object_set_new(m, "lastReadMessageId",
	    cf_row_int_or_null(st, 4));
	return (row_done(m, bad));
}

/* A user: id, display name, role, created at, updated at. */
json_t *
cf_row_user_profile(struct cf_db_stmt *st)
{
	json_t *u;
	int bad = 0;

	if ((u = json_object()) == NULL)
		return (NULL);
	bad |= json_object_set_new(u, "id", cf_row_user(st, 0));
	bad |= json_object_set_new(u, "displayName", cf_row_text(st, 1));
	bad |= json_object_set_new(u, "role", cf_row_text(st, 2));
	bad |= json_object_set_new(u, "createdAt", cf_row_isnull(st, 3) ?
	    json_null() : cf_row_time(st, 3));
	bad |= json_object_set_new(u, "updatedAt", cf_row_isnull(st, 4) ?
	    json_null() : cf_row_time(st, 4));
	return (row_done(u, bad));
}
