/*
 * api_users.c -- /api/v1/users, /presence, /emit, /broadcasts and the
 * OpenAPI document (api.h, doc/api.md).
 */
#define _XOPEN_SOURCE 700	/* strptime */
#define _DEFAULT_SOURCE		/* timegm */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "db/store.h"
#include "util.h"
#include "app/api.h"
#include "app/args.h"
#include "app/handlers.h"
#include "app/ops.h"
#include "proc.h"

#define USER_ID_MAX	64
#define PRESENCE_MAX	100	/* user ids of one presence query */
#define REVOKE_AHEAD_MS	60000	/* how far ahead a revocation reaches */

/* The OpenAPI document, doc/openapi.json (openapi.c, generated). */
extern const char cf_openapi_json[];

/* Path parameter 0 as a user id; 0, or -1 answered (404). */
static int
param_user(struct cf_api_call *c, char *buf)
{
	size_t n = strlen(c->param[0]);

	if (n == 0 || n >= USER_ID_MAX) {
		cf_api_fail(c, 404, "not_found", "User not found");
		return (-1);
	}
	memcpy(buf, c->param[0], n + 1);
	return (0);
}

/*
 * {userId, status, connections}: the status a user chose while connected
 * somewhere (the store's, "online" when none), "offline" otherwise.
 */
static json_t *
presence_of(const char *user_id, const json_t *statuses)
{
	uint32_t n = cf_presence_count(user_id);
	const char *st = json_string_value(json_object_get(statuses, user_id));

	return (json_pack("{s:o,s:s,s:I}", "userId",
	    cf_store_user_id_json(user_id), "status", n == 0 ? "offline" :
	    st != NULL ? st : "online", "connections", (json_int_t)n));
}

/* The stored statuses of ids (an array of strings); NULL answered. */
static json_t *
statuses_of(struct cf_api_call *c, const json_t *ids)
{
	json_t *st = NULL;
	int rc;

	if ((rc = cf_store_presence_statuses(cf_db(), ids, &st)) != 0) {
		cf_api_fail_store(c, rc, "User");
		return (NULL);
	}
	return (st);
}

void
cf_api_user_put(struct cf_api_call *c)
{
	static const struct cf_field f[] = {
		{ .key = "displayName", .type = CF_F_TEXT, .max = 100,
		  .err = "displayName must be a non-blank string of at most "
		  "100 characters" },
		{ .key = "role", .type = CF_F_STR, .min = 1, .max = 31,
		  .err = "role must be a string of 1 to 31 characters" },
		{ .type = CF_F_END }
	};
	struct cf_arg_val v[2];
	char user[USER_ID_MAX], msg[96];
	json_t *u = NULL;
	int rc;

	if (param_user(c, user) == -1 || cf_api_fields(c, f, v) == -1)
		return;
	if (!cf_conf_role_known(cf_w->conf, v[1].s)) {
		snprintf(msg, sizeof(msg), "Unknown role \"%.31s\"", v[1].s);
		cf_api_fail(c, 400, "bad_request", msg);
		return;
	}
	if ((rc = cf_store_user_upsert(cf_db(), user, v[0].s, v[1].s,
	    (int64_t)cf_wall_ms())) != 0 ||
	    (rc = cf_store_user_get(cf_db(), user, &u)) != 0) {
		cf_api_fail_store(c, rc, "User");
		return;
	}
	cf_api_ok(c, 200, json_pack("{s:o}", "user", u));
}

void
cf_api_user_get(struct cf_api_call *c)
{
	char user[USER_ID_MAX];
	json_t *u = NULL, *ids, *st, *p;
	int rc;

	if (param_user(c, user) == -1)
		return;
	if ((rc = cf_store_user_get(cf_db(), user, &u)) != 0) {
		cf_api_fail_store(c, rc, "User");
		return;
	}
	ids = json_pack("[s]", user);
	st = ids != NULL ? statuses_of(c, ids) : NULL;
	json_decref(ids);
	if (st == NULL) {
		json_decref(u);
		if (ids == NULL)
			cf_api_fail(c, 503, "unavailable", "Out of memory");
		return;
	}
	p = presence_of(user, st);
	json_decref(st);
	json_object_set(u, "status", json_object_get(p, "status"));
	json_object_set(u, "connections", json_object_get(p, "connections"));
	json_decref(p);
	cf_api_ok(c, 200, json_pack("{s:o}", "user", u));
}

void
cf_api_presence(struct cf_api_call *c)
{
	const char *q = cf_api_query(c, "userIds"), *p, *e;
	char id[USER_ID_MAX];
	json_t *ids, *st, *out;
	size_t n, i;

	if (q == NULL || *q == '\0') {
		cf_api_fail(c, 400, "bad_request", "userIds is required "
		    "(user ids separated by commas)");
		return;
	}
	if ((ids = json_array()) == NULL) {
		cf_api_fail(c, 503, "unavailable", "Out of memory");
		return;
	}
	for (p = q; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, ",");
		n = (size_t)(e - p);
		if (n == 0 || n >= sizeof(id) ||
		    json_array_size(ids) == PRESENCE_MAX) {
			json_decref(ids);
			cf_api_fail(c, 400, "bad_request", "userIds: 1 to 100 "
			    "user ids of 1 to 63 bytes, separated by commas");
			return;
		}
		memcpy(id, p, n);
		id[n] = '\0';
		json_array_append_new(ids, json_string(id));
	}
	if ((st = statuses_of(c, ids)) == NULL) {
		json_decref(ids);
		return;
	}
	out = json_array();
	for (i = 0; out != NULL && i < json_array_size(ids); i++)
		json_array_append_new(out, presence_of(json_string_value(
		    json_array_get(ids, i)), st));
	json_decref(st);
	json_decref(ids);
	cf_api_ok(c, 200, json_pack("{s:o}", "presence", out));
}

void
cf_api_user_disconnect(struct cf_api_call *c)
{
	char user[USER_ID_MAX];

	if (param_user(c, user) == -1 ||
	    cf_api_fields(c, cf_api_no_fields, NULL) == -1)
		return;
	if (cf_op_user_disconnect(user) != 0) {
		cf_api_fail(c, 503, "unavailable",
		    "The request could not reach every host");
		return;
	}
	cf_api_ok(c, 200, json_pack("{s:o}", "userId",
	    cf_store_user_id_json(user)));
}

/* "YYYY-MM-DDTHH:MM:SS[.mmm]Z" as ms since the epoch; -1 when not. */
static int64_t
parse_iso(const char *s)
{
	struct tm tm;
	const char *p;
	int ms = 0, i;

	memset(&tm, 0, sizeof(tm));
	if ((p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return (-1);
	if (*p == '.') {
		for (i = 0, p++; i < 3; i++, p++) {
			if (*p < '0' || *p > '9')
				return (-1);
			ms = ms * 10 + (*p - '0');
		}
	}
	if (strcmp(p, "Z") != 0)
		return (-1);
	return ((int64_t)timegm(&tm) * 1000 + ms);
}

void
cf_api_user_revoke(struct cf_api_call *c)
{
	static const struct cf_field f[] = {
		{ .key = "before", .type = CF_F_ANY },
		{ .type = CF_F_END }
	};
	struct cf_arg_val v[1];
	char user[USER_ID_MAX], at[32];
	int64_t now = (int64_t)cf_wall_ms(), before = now;
	int rc;

	if (param_user(c, user) == -1 || cf_api_fields(c, f, v) == -1)
		return;
	if (v[0].set) {
		before = json_is_string(v[0].j) ?
		    parse_iso(json_string_value(v[0].j)) : -1;
		if (before <= 0 || before > now + REVOKE_AHEAD_MS) {
			cf_api_fail(c, 400, "bad_request", "before must be an "
			    "ISO 8601 UTC time (2026-01-31T12:00:00Z) no later "
			    "than a minute from now");
			return;
		}
	}
	if ((rc = cf_op_user_revoke(user, before)) != 0 ||
	    (rc = cf_store_revoked_before(cf_db(), user, &before)) != 0) {
		cf_api_fail_store(c, rc, "User");
		return;
	}
	cf_store_iso8601(before, at, sizeof(at));
	cf_api_ok(c, 200, json_pack("{s:o,s:s}", "userId",
	    cf_store_user_id_json(user), "revokedBefore", at));
}

void
cf_api_emit(struct cf_api_call *c)
{
	static const struct cf_field f[] = {
		{ .key = "room", .type = CF_F_ANY },
		{ .key = "event", .type = CF_F_ANY },
		{ .key = "args", .type = CF_F_ANY },
		{ .type = CF_F_END }
	};
	struct cf_arg_val v[3];
	const char *bad;
	char msg[200];
	int rc;

	if (cf_api_fields(c, f, v) == -1)
		return;
	if ((rc = cf_op_emit(v[0].j, v[1].j, v[2].j, &bad)) != 0) {
		if (rc == -EINVAL && strcmp(bad, "room") == 0)
			cf_api_fail(c, 400, "bad_request", "room must be "
			    "user:<id>, channel:<id> or authenticated");
		else if (rc == -EINVAL && strcmp(bad, "event") == 0) {
			snprintf(msg, sizeof(msg), "event must be a name of 1 "
			    "to 100 bytes that no spec or confabd event uses "
			    "(nor the prefixes chat:, call:, channel:, "
			    "presence:, auth:, broadcast:, dm:, confab:)");
			cf_api_fail(c, 400, "bad_request", msg);
		} else if (rc == -EINVAL)
			cf_api_fail(c, 400, "bad_request",
			    "args must be an array of at most 16 values");
		else
			cf_api_fail(c, 503, "unavailable",
			    "The event could not be sent");
		return;
	}
	cf_api_ok(c, 200, NULL);
}

void
cf_api_broadcast(struct cf_api_call *c)
{
	static const struct cf_field f[] = {
		{ .key = "message", .type = CF_F_ANY },
		{ .key = "priority", .type = CF_F_ANY },
		{ .type = CF_F_END }
	};
	struct cf_arg_val v[2];
	struct cf_op_actor who;
	const char *bad;
	char msg[96];
	int64_t bid;
	int rc;

	if (cf_api_fields(c, f, v) == -1)
		return;
	cf_api_actor(c, NULL, &who);
	if ((rc = cf_op_broadcast(&who, v[0].j, v[1].j, &bid, &bad)) != 0) {
		if (rc == -EINVAL && bad != NULL) {
			snprintf(msg, sizeof(msg), "Invalid value: %s", bad);
			cf_api_fail(c, 400, "bad_request", msg);
		} else
			cf_api_fail_store(c, rc, "Broadcast");
		return;
	}
	cf_api_ok(c, 201, json_pack("{s:I}", "broadcastId", (json_int_t)bid));
}

void
cf_api_openapi(struct cf_api_call *c)
{
	json_t *doc = json_loads(cf_openapi_json, 0, NULL);

	if (doc == NULL) {
		cf_api_fail(c, 500, "internal", "The document does not parse");
		return;
	}
	cf_api_ok(c, 200, doc);
}
