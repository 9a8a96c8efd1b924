/*
 * store_channel.c -- channels, their members and the audit of their
 * updates (store.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db/store_int.h"

static char	*name_key(const char *);
static int	 channel_load(struct cf_db *, const char *, int64_t, json_t **);
static json_t	*member_event(int64_t, const char *);

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

static int
channel_load(struct cf_db *db, const char *func, int64_t id, json_t **channel)
{
	return (cf_stmt_query_obj(db, func, cf_row_channel, channel,
	    "SELECT " CHANNEL_COLS " FROM channels c WHERE c.id = ?1",
	    "i", id));
}

/*
 * Create a channel with its creator (but the operator, "0") and member_ids
 * (duplicates ignored) as members, in one transaction.  *channel is a new reference on success,
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
	if ((rc = cf_stmt_tx_begin(db, __func__, 0)) != 0)
		goto out;
	rc = cf_stmt_query_i64(db, __func__, &id, NULL,
	    "INSERT INTO channels(name, name_key, description, is_private,"
	    "  created_by, created_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
	    "tttdti", name, key, description, is_private ? 1 : 0, created_by,
	    now_ms);
	/* The operator ("0": control socket, HTTP API) is no member. */
	for (i = strcmp(created_by, "0") == 0; i <= nmembers && rc == 0; i++)
		rc = cf_stmt_run(db, __func__, NULL,
		    "INSERT INTO channel_members(channel_id, user_id, joined_at)"
		    " VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
		    "iti", id, i == 0 ? created_by : member_ids[i - 1], now_ms);
	if (rc == 0)
		rc = channel_load(db, __func__, id, channel);
	if (rc == 0 && db->event != NULL)
		rc = cf_stmt_event(db, "channel.created",
		    json_pack("{s:O}", "channel", *channel));
	if ((rc = cf_stmt_tx_end(db, __func__, rc)) != 0) {
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
	if ((rc = cf_stmt_tx_begin(db, __func__, 0)) != 0)
		goto out;
	rc = cf_stmt_run(db, __func__, &changes,
	    "INSERT INTO meta(key, value) VALUES ('default_channel', ?1)"
	    " ON CONFLICT DO NOTHING", "t", name);
	if (rc == 0 && changes == 1)
		rc = cf_stmt_query_i64(db, __func__, &n, NULL,
		    "SELECT count(*) FROM channels", "");
	if (rc == 0 && changes == 1 && n == 0)
		rc = cf_stmt_query_i64(db, __func__, &newid, NULL,
		    "INSERT INTO channels(name, name_key, description,"
		    "  is_private, created_by, created_at)"
		    " VALUES (?1, ?2, NULL, 0, '0', ?3) RETURNING id",
		    "tti", name, key, now_ms);
	if ((rc = cf_stmt_tx_end(db, __func__, rc)) == 0 && id != NULL)
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
	rc = cf_stmt_query_i64(db, __func__, &v, NULL,
	    "SELECT EXISTS (SELECT 1 FROM channel_members"
	    "  WHERE channel_id = ?1 AND user_id = ?2)"
	    " FROM channels WHERE id = ?1", "it", channel_id, user_id);
	if (rc != 0)
		return (rc);
	return (v != 0);
}

static json_t *
row_text0(struct cf_db_stmt *st)
{
	return (cf_row_text(st, 0));
}

int
cf_store_member_ids(struct cf_db *db, int64_t channel_id, json_t **ids)
{
	struct cf_db_stmt *st;
	int rc;

	if (ids == NULL)
		return (-EINVAL);
	*ids = NULL;
	if (db == NULL)
		return (-EINVAL);
	if ((*ids = json_array()) == NULL)
		return (-ENOMEM);
	if ((rc = cf_stmt_prepare(db, __func__, &st,
	    "SELECT user_id FROM channel_members WHERE channel_id = ?1"
	    " ORDER BY user_id LIMIT ?2", "ii", channel_id,
	    (int64_t)CF_STORE_MEMBERS_MAX)) == 0)
		rc = cf_stmt_collect(db, __func__, st, row_text0, -1, *ids,
		    NULL);
	if (rc != 0) {
		json_decref(*ids);
		*ids = NULL;
	}
	return (rc);
}

static json_t *
row_int0(struct cf_db_stmt *st)
{
	return (json_integer(cf_row_i64(st, 0)));
}

int
cf_store_user_channel_ids(struct cf_db *db, const char *user_id,
    json_t **ids)
{
	struct cf_db_stmt *st;
	int rc;

	if (ids == NULL)
		return (-EINVAL);
	*ids = NULL;
	if (db == NULL || !id_ok(user_id))
		return (-EINVAL);
	if ((*ids = json_array()) == NULL)
		return (-ENOMEM);
	if ((rc = cf_stmt_prepare(db, __func__, &st,
	    "SELECT channel_id FROM channel_members WHERE user_id = ?1"
	    " ORDER BY channel_id LIMIT ?2", "ti", user_id,
	    (int64_t)CF_STORE_MEMBERS_MAX)) == 0)
		rc = cf_stmt_collect(db, __func__, st, row_int0, -1, *ids,
		    NULL);
	if (rc != 0) {
		json_decref(*ids);
		*ids = NULL;
	}
	return (rc);
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
	if ((rc = cf_stmt_ev_begin(db, __func__)) != 0)
		return (rc);
	rc = cf_stmt_run(db, __func__, &n,
	    "INSERT INTO channel_members(channel_id, user_id, joined_at)"
	    " SELECT id, ?2, ?3 FROM channels WHERE id = ?1"
	    "  AND archived_at IS NULL"
	    " ON CONFLICT DO NOTHING",
	    "iti", channel_id, user_id, now_ms);
	if (rc == 0 && n > 0 && db->event != NULL)
		rc = cf_stmt_event(db, "member.added", member_event(channel_id,
		    user_id));
	/* Nothing inserted: already a member, archived, or no channel. */
	if (rc == 0 && n == 0)
		rc = cf_store_channel_writable(db, channel_id);
	return (cf_stmt_ev_end(db, __func__, rc));
}

/*
 * The channels user_id can see, by id, in one query: the unread and
 * mention counts are correlated subqueries over the indexes
 * messages(channel_id, id, user_id) and message_mentions(user_id,
 * channel_id, message_id), stopped at CF_STORE_UNREAD_MAX rows (a channel
 * never read, or of which the user is not a member, would otherwise count
 * every message of others, on every call).  *channels is a new array on
 * success.
 */
int
cf_store_channel_list_ex(struct cf_db *db, const char *user_id,
    unsigned flags, json_t **channels)
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
	rc = cf_stmt_prepare(db, __func__, &st,
	    "SELECT " CHANNEL_COLS ","
	    "  CASE WHEN m.user_id IS NOT NULL THEN 1 ELSE 0 END,"
	    "  m.last_read_message_id,"
	    "  (SELECT count(*) FROM (SELECT 1 FROM messages x"
	    "    WHERE x.channel_id = c.id"
	    "    AND x.id > coalesce(m.last_read_message_id, 0)"
	    "    AND x.user_id <> ?1 LIMIT ?2) u),"
	    "  (SELECT count(*) FROM (SELECT 1 FROM message_mentions x"
	    "    WHERE x.user_id = ?1 AND x.channel_id = c.id"
	    "    AND x.message_id > coalesce(m.last_read_message_id, 0)"
	    "    LIMIT ?2) n),"
	    "  CASE WHEN c.kind = 'direct' THEN"
	    "    CASE WHEN c.dm_a = ?1 THEN c.dm_b ELSE c.dm_a END END,"
	    "  o.display_name"
	    " FROM channels c LEFT JOIN channel_members m"
	    "  ON m.channel_id = c.id AND m.user_id = ?1"
	    " LEFT JOIN users o ON c.kind = 'direct'"
	    "  AND o.id = CASE WHEN c.dm_a = ?1 THEN c.dm_b ELSE c.dm_a END"
	    " WHERE (c.is_private = 0 OR m.user_id IS NOT NULL)"
	    "  AND (?3 <> 0 OR c.archived_at IS NULL)"
	    " ORDER BY c.id", "tid", user_id, (int64_t)CF_STORE_UNREAD_MAX,
	    (flags & CF_STORE_LIST_ARCHIVED) != 0);
	if (rc != 0 || (rc = cf_stmt_collect(db, __func__, st,
	    cf_row_channel_list, -1, arr, NULL)) != 0)
		goto fail;
	*channels = arr;
	return (0);
 fail:
	json_decref(arr);
	return (rc);
}

int
cf_store_channel_list(struct cf_db *db, const char *user_id, json_t **channels)
{
	return (cf_store_channel_list_ex(db, user_id, 0, channels));
}

/*
 * The pair in byte order is the unique key (channels_dm); the name and
 * name_key are "DM:<length of the first>:<first>|<second>", which no
 * other channel's key can be (a name_key has no upper-case ASCII).  The
 * insert does nothing when the pair exists (a racing transaction's row
 * is waited for, then found by the select that follows).
 */
int
cf_store_dm_open(struct cf_db *db, const char *a, const char *b,
    int64_t now_ms, json_t **channel, int *created)
{
	const char *x, *y;
	char *key = NULL;
	int64_t id = 0;
	size_t len;
	int rc, made = 0;

	if (created != NULL)
		*created = 0;
	if (channel == NULL)
		return (-EINVAL);
	*channel = NULL;
	if (db == NULL || !id_ok(a) || !id_ok(b))
		return (-EINVAL);
	x = strcmp(a, b) <= 0 ? a : b;
	y = x == a ? b : a;
	len = strlen(x) + strlen(y) + 32;
	if ((key = malloc(len)) == NULL)
		return (-ENOMEM);
	snprintf(key, len, "DM:%zu:%s|%s", strlen(x), x, y);
	if ((rc = cf_stmt_tx_begin(db, __func__, 0)) != 0)
		goto out;
	rc = cf_stmt_query_i64(db, __func__, &id, NULL,
	    "INSERT INTO channels(name, name_key, description, is_private,"
	    "  created_by, created_at, kind, dm_a, dm_b)"
	    " VALUES (?1, ?1, NULL, 1, ?2, ?3, 'direct', ?4, ?5)"
	    " ON CONFLICT DO NOTHING RETURNING id",
	    "ttitt", key, a, now_ms, x, y);
	if (rc == 0) {
		made = 1;
		rc = cf_stmt_run(db, __func__, NULL,
		    "INSERT INTO channel_members(channel_id, user_id, joined_at)"
		    " VALUES (?1, ?2, ?4), (?1, ?3, ?4) ON CONFLICT DO NOTHING",
		    "itti", id, x, y, now_ms);
	} else if (rc == -ENOENT)
		rc = cf_stmt_query_i64(db, __func__, &id, NULL,
		    "SELECT id FROM channels WHERE dm_a = ?1 AND dm_b = ?2",
		    "tt", x, y);
	if (rc == 0)
		rc = channel_load(db, __func__, id, channel);
	if (rc == 0 && made && db->event != NULL)
		rc = cf_stmt_event(db, "channel.created",
		    json_pack("{s:O}", "channel", *channel));
	if ((rc = cf_stmt_tx_end(db, __func__, rc)) != 0) {
		json_decref(*channel);
		*channel = NULL;
	} else if (created != NULL)
		*created = made;
 out:
	free(key);
	return (rc);
}

int
cf_store_users_known(struct cf_db *db, const json_t *ids, int64_t *known)
{
	char sql[160], *list;
	int rc;

	if (db == NULL || !json_is_array(ids) || known == NULL)
		return (-EINVAL);
	*known = 0;
	if (json_array_size(ids) == 0)
		return (0);
	if ((list = json_dumps(ids, JSON_COMPACT)) == NULL)
		return (-ENOMEM);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM users"
	    " WHERE id IN (SELECT value FROM %s)", db->ops->text_list);
	rc = cf_stmt_query_i64(db, __func__, known, NULL, sql, "t", list);
	free(list);
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
	if ((rc = cf_stmt_tx_begin(db, __func__, 0)) != 0)
		goto out;
	rc = cf_stmt_run(db, __func__, &n,
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
		rc = cf_stmt_run(db, __func__, NULL,
		    "INSERT INTO channel_updates(channel_id, changes,"
		    "  updated_by, updated_at) VALUES (?1, ?2, ?3, ?4)",
		    "itti", channel_id, dump, updated_by, now_ms);
	if (rc == 0)
		rc = channel_load(db, __func__, channel_id, channel);
	if (rc == 0 && db->event != NULL)
		rc = cf_stmt_event(db, "channel.updated",
		    json_pack("{s:O,s:o,s:o}", "channel", *channel, "changes",
		    json_deep_copy(changes), "updatedBy",
		    cf_store_user_id_json(updated_by)));
	if ((rc = cf_stmt_tx_end(db, __func__, rc)) != 0) {
		json_decref(*channel);
		*channel = NULL;
	}
 out:
	free(dump);
	free(key);
	return (rc);
}

/* The data of member.added and member.removed. */
static json_t *
member_event(int64_t channel_id, const char *user_id)
{
	return (json_pack("{s:I,s:o}", "channelId", (json_int_t)channel_id,
	    "userId", cf_store_user_id_json(user_id)));
}

/* 0 when the channel takes writes, -EROFS archived, -ENOENT none. */
int
cf_store_channel_writable(struct cf_db *db, int64_t channel_id)
{
	int64_t archived;
	int rc;

	if (db == NULL)
		return (-EINVAL);
	rc = cf_stmt_query_i64(db, __func__, &archived, NULL,
	    "SELECT CASE WHEN archived_at IS NULL THEN 0 ELSE 1 END"
	    " FROM channels WHERE id = ?1", "i",
	    channel_id);
	if (rc == 0 && archived)
		rc = -EROFS;
	return (rc);
}

/* Every channel with id > after, by id, at most limit (1..PAGE_MAX). */
int
cf_store_channels_page(struct cf_db *db, int64_t after, int limit,
    json_t **channels, int *more)
{
	struct cf_db_stmt *st;
	json_t *arr;
	int rc;

	if (channels == NULL)
		return (-EINVAL);
	*channels = NULL;
	if (db == NULL || limit < 1 || limit > PAGE_MAX)
		return (-EINVAL);
	if ((arr = json_array()) == NULL)
		return (-ENOMEM);
	rc = cf_stmt_prepare(db, __func__, &st,
	    "SELECT " CHANNEL_COLS " FROM channels c WHERE c.id > ?1"
	    " ORDER BY c.id LIMIT ?2", "ii", after, (int64_t)limit + 1);
	if (rc != 0 || (rc = cf_stmt_collect(db, __func__, st,
	    cf_row_channel, limit, arr, more)) != 0) {
		json_decref(arr);
		return (rc);
	}
	*channels = arr;
	return (0);
}

/*
 * Archive a channel (a second time changes nothing): *was tells whether
 * it already was.  *channel: the channel as it now is.
 */
int
cf_store_channel_archive(struct cf_db *db, int64_t channel_id,
    int64_t now_ms, json_t **channel, int *was)
{
	int64_t n = 0;
	int rc;

	if (channel == NULL || was == NULL)
		return (-EINVAL);
	*channel = NULL;
	*was = 0;
	if (db == NULL)
		return (-EINVAL);
	if ((rc = cf_stmt_ev_begin(db, __func__)) != 0)
		return (rc);
	rc = cf_stmt_run(db, __func__, &n,
	    "UPDATE channels SET archived_at = ?2"
	    " WHERE id = ?1 AND archived_at IS NULL", "ii", channel_id,
	    now_ms);
	if (rc == 0)
		rc = channel_load(db, __func__, channel_id, channel);
	if (rc == 0 && n > 0 && db->event != NULL)
		rc = cf_stmt_event(db, "channel.archived", json_pack("{s:O}",
		    "channel", *channel));
	if ((rc = cf_stmt_ev_end(db, __func__, rc)) != 0) {
		json_decref(*channel);
		*channel = NULL;
		return (rc);
	}
	*was = n == 0;
	return (0);
}

/* The members of a channel by user id, with what is known of each user. */
int
cf_store_members(struct cf_db *db, int64_t channel_id, json_t **members)
{
	struct cf_db_stmt *st;
	json_t *arr;
	int rc;

	if (members == NULL)
		return (-EINVAL);
	*members = NULL;
	if (db == NULL)
		return (-EINVAL);
	if ((rc = cf_stmt_query_i64(db, __func__, NULL, NULL,
	    "SELECT 1 FROM channels WHERE id = ?1", "i", channel_id)) != 0)
		return (rc);
	if ((arr = json_array()) == NULL)
		return (-ENOMEM);
	rc = cf_stmt_prepare(db, __func__, &st,
	    "SELECT m.user_id, u.display_name, u.role, m.joined_at,"
	    "  m.last_read_message_id"
	    " FROM channel_members m LEFT JOIN users u ON u.id = m.user_id"
	    " WHERE m.channel_id = ?1 ORDER BY m.user_id", "i", channel_id);
	if (rc != 0 || (rc = cf_stmt_collect(db, __func__, st,
	    cf_row_member, -1, arr, NULL)) != 0) {
		json_decref(arr);
		return (rc);
	}
	*members = arr;
	return (0);
}

/* Remove a member: *removed 1, or 0 when it was none.  -ENOENT: no channel. */
int
cf_store_member_remove(struct cf_db *db, int64_t channel_id,
    const char *user_id, int *removed)
{
	int64_t n = 0;
	int rc;

	if (db == NULL || !id_ok(user_id) || removed == NULL)
		return (-EINVAL);
	*removed = 0;
	if ((rc = cf_store_channel_writable(db, channel_id)) != 0 ||
	    (rc = cf_stmt_ev_begin(db, __func__)) != 0)
		return (rc);
	rc = cf_stmt_run(db, __func__, &n,
	    "DELETE FROM channel_members WHERE channel_id = ?1"
	    " AND user_id = ?2", "it", channel_id, user_id);
	if (rc == 0 && n > 0 && db->event != NULL)
		rc = cf_stmt_event(db, "member.removed",
		    member_event(channel_id, user_id));
	if ((rc = cf_stmt_ev_end(db, __func__, rc)) != 0)
		return (rc);
	*removed = n > 0;
	return (0);
}
