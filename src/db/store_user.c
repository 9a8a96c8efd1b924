/*
 * store_user.c -- users (display name and role) and the presence they
 * chose (store.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db/store_int.h"

/* Insert the user, or refresh its display name and role. */
int
cf_store_user_upsert(struct cf_db *db, const char *user_id,
    const char *display_name, const char *role, int64_t now_ms)
{
	if (db == NULL || !id_ok(user_id) || display_name == NULL ||
	    role == NULL)
		return (-EINVAL);
	cf_stmt_settle(db);
	return (cf_stmt_run(db, __func__, NULL,
	    "INSERT INTO users(id, display_name, role, created_at, updated_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?4)"
	    " ON CONFLICT(id) DO UPDATE SET"
	    "  display_name = excluded.display_name,"
	    "  role = excluded.role, updated_at = excluded.updated_at",
	    "ttti", user_id, display_name, role, now_ms));
}

struct name_out {
	char		*buf;
	size_t		 len;
};

/*
 * Copy the text of column 0 into o->buf, NUL-terminated, cut at a
 * character boundary to fit.
 */
static int
read_name(struct cf_db_stmt *st, void *arg)
{
	struct name_out *o = arg;
	const char *s;
	size_t n;

	if ((s = st->db->ops->text(st, 0, &n)) == NULL)
		return (-ENOMEM);
	if (n >= o->len) {
		n = o->len - 1;
		/* Back off over continuation bytes. */
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(o->buf, s, n);
	o->buf[n] = '\0';
	return (0);
}

/*
 * Copy the stored display name of user_id into buf, NUL-terminated.  A
 * name longer than len - 1 bytes is cut at a character boundary, so that
 * the result stays UTF-8.  -ENOENT when the user is unknown.
 */
int
cf_store_user_name(struct cf_db *db, const char *user_id, char *buf, size_t len)
{
	struct name_out o = { buf, len };

	if (db == NULL || !id_ok(user_id) || buf == NULL || len == 0)
		return (-EINVAL);
	buf[0] = '\0';
	return (cf_stmt_first(db, __func__, read_name, &o,
	    "SELECT display_name FROM users WHERE id = ?1", "t", user_id));
}

/* Store the status a user chose (status and both texts replaced). */
int
cf_store_presence_set(struct cf_db *db, const char *user_id, const char *status,
    const char *status_message, const char *custom_status, int64_t now_ms)
{
	if (db == NULL || !id_ok(user_id) || status == NULL)
		return (-EINVAL);
	cf_stmt_settle(db);
	return (cf_stmt_run(db, __func__, NULL,
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
	rc = cf_stmt_query_obj(db, __func__, cf_row_presence, presence,
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
	if ((rc = cf_stmt_prepare(db, __func__, &st, sql, "t", list)) != 0)
		goto fail;
	while ((rc = cf_stmt_step(db, __func__, st)) == 1) {
		uid = db->ops->text(st, 0, &n);
		if (uid == NULL || (v = cf_row_text(st, 1)) == NULL)
			continue;
		if (json_object_set_new(o, uid, v) == -1) {
			rc = -ENOMEM;
			break;
		}
	}
	cf_stmt_finish(st);
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

/* The stored user {id, displayName, role, createdAt, updatedAt}. */
int
cf_store_user_get(struct cf_db *db, const char *user_id, json_t **user)
{
	if (user == NULL)
		return (-EINVAL);
	*user = NULL;
	if (db == NULL || !id_ok(user_id))
		return (-EINVAL);
	return (cf_stmt_query_obj(db, __func__, cf_row_user_profile, user,
	    "SELECT id, display_name, role, created_at, updated_at"
	    " FROM users WHERE id = ?1", "t", user_id));
}

/* Tokens of user_id issued before before_ms are refused (never earlier). */
int
cf_store_revoke(struct cf_db *db, const char *user_id, int64_t before_ms)
{
	if (db == NULL || !id_ok(user_id))
		return (-EINVAL);
	cf_stmt_settle(db);
	return (cf_stmt_run(db, __func__, NULL,
	    "INSERT INTO revocations(user_id, revoked_before) VALUES (?1, ?2)"
	    " ON CONFLICT(user_id) DO UPDATE SET revoked_before = CASE"
	    "  WHEN excluded.revoked_before > revocations.revoked_before"
	    "  THEN excluded.revoked_before ELSE revocations.revoked_before"
	    "  END",
	    "ti", user_id, before_ms));
}

/* *before_ms: the user's revocation time, 0 when none. */
int
cf_store_revoked_before(struct cf_db *db, const char *user_id,
    int64_t *before_ms)
{
	int rc;

	if (db == NULL || !id_ok(user_id) || before_ms == NULL)
		return (-EINVAL);
	*before_ms = 0;
	rc = cf_stmt_query_i64(db, __func__, before_ms, NULL,
	    "SELECT revoked_before FROM revocations WHERE user_id = ?1", "t",
	    user_id);
	return (rc == -ENOENT ? 0 : rc);
}
