/*
 * api_channels.c -- /api/v1/channels: channels, their members and their
 * messages (api.h, doc/api.md).  The key acts as the operator (user "0"),
 * or as the userId a body names.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "db/store.h"
#include "util.h"
#include "app/api.h"
#include "app/args.h"
#include "app/ops.h"

#define LIMIT_DEFAULT	50
#define LIMIT_MAX	100
#define USER_ID_MAX	64

/* A user id: a positive integer or a string of 1..63 bytes. */
#define F_USER_OPT(k) \
	{ .key = k, .type = CF_F_USER, .flags = CF_F_OPT, .min = 1, \
	  .err = k " must be a user id" }
#define F_ANY_KEY(k)	{ .key = k, .type = CF_F_ANY }
#define F_END		{ .type = CF_F_END }

void
cf_api_channels_list(struct cf_api_call *c)
{
	int64_t limit, after;
	json_t *list = NULL;
	int rc, more = 0;

	if (cf_api_query_int(c, "limit", 1, LIMIT_MAX, LIMIT_DEFAULT,
	    &limit) == -1 ||
	    cf_api_query_int(c, "after", 0, INT64_MAX, 0, &after) == -1)
		return;
	if ((rc = cf_store_channels_page(cf_db(), after, (int)limit, &list,
	    &more)) != 0) {
		cf_api_fail_store(c, rc, "Channel");
		return;
	}
	cf_api_ok(c, 200, json_pack("{s:o,s:b}", "channels", list, "hasMore",
	    more));
}

/* The answer to a channel operation's -EINVAL naming the value at fault. */
static void
fail_value(struct cf_api_call *c, int rc, const char *bad, const char *what)
{
	char msg[96];

	if (rc == -EINVAL && bad != NULL) {
		snprintf(msg, sizeof(msg), "Invalid value: %s", bad);
		cf_api_fail(c, 400, "bad_request", msg);
	} else
		cf_api_fail_store(c, rc, what);
}

void
cf_api_channel_create(struct cf_api_call *c)
{
	static const struct cf_field f[] = {
		F_ANY_KEY("name"), F_ANY_KEY("description"),
		F_ANY_KEY("isPrivate"), F_ANY_KEY("memberIds"),
		F_USER_OPT("createdBy"), F_END
	};
	struct cf_arg_val v[6];
	struct cf_op_channel a;
	struct cf_op_actor who;
	const char *bad;
	json_t *ch = NULL;
	int rc;

	if (cf_api_fields(c, f, v) == -1)
		return;
	if (!v[0].set) {
		cf_api_fail(c, 400, "bad_request", "name is required");
		return;
	}
	cf_api_actor(c, v[4].s, &who);
	a.name = v[0].j;
	a.description = v[1].j;
	a.priv = v[2].j;
	a.members = v[3].j;
	if ((rc = cf_op_channel_create(&who, &a, &ch, &bad)) != 0) {
		fail_value(c, rc, bad, "Channel");
		return;
	}
	cf_api_ok(c, 201, json_pack("{s:o}", "channel", ch));
}

void
cf_api_channel_get(struct cf_api_call *c)
{
	json_t *ch = NULL;
	int64_t id;
	int rc;

	if (cf_api_param_id(c, 0, "Channel", &id) == -1)
		return;
	if ((rc = cf_store_channel_get(cf_db(), id, &ch)) != 0) {
		cf_api_fail_store(c, rc, "Channel");
		return;
	}
	cf_api_ok(c, 200, json_pack("{s:o}", "channel", ch));
}

void
cf_api_channel_patch(struct cf_api_call *c)
{
	static const struct cf_field f[] = {
		F_ANY_KEY("name"), F_ANY_KEY("description"),
		F_ANY_KEY("isPrivate"), F_USER_OPT("userId"), F_END
	};
	struct cf_arg_val v[5];
	struct cf_op_actor who;
	const char *bad;
	json_t *changes, *ch = NULL;
	int64_t id;
	int rc;

	if (cf_api_param_id(c, 0, "Channel", &id) == -1 ||
	    cf_api_fields(c, f, v) == -1)
		return;
	if ((changes = json_deep_copy(c->body)) == NULL) {
		cf_api_fail(c, 400, "bad_request", "Nothing to change");
		return;
	}
	json_object_del(changes, "userId");
	if (json_object_size(changes) == 0) {
		json_decref(changes);
		cf_api_fail(c, 400, "bad_request", "Nothing to change");
		return;
	}
	cf_api_actor(c, v[3].s, &who);
	rc = cf_op_channel_update(&who, id, changes, &ch, &bad);
	json_decref(changes);
	if (rc != 0) {
		fail_value(c, rc, bad, "Channel");
		return;
	}
	cf_api_ok(c, 200, json_pack("{s:o}", "channel", ch));
}

void
cf_api_channel_delete(struct cf_api_call *c)
{
	struct cf_op_actor who;
	json_t *ch = NULL;
	int64_t id;
	int rc;

	if (cf_api_param_id(c, 0, "Channel", &id) == -1)
		return;
	cf_api_actor(c, NULL, &who);
	if ((rc = cf_op_channel_archive(&who, id, &ch)) != 0) {
		cf_api_fail_store(c, rc, "Channel");
		return;
	}
	cf_api_ok(c, 200, json_pack("{s:o}", "channel", ch));
}

void
cf_api_members_list(struct cf_api_call *c)
{
	json_t *members = NULL;
	int64_t id;
	int rc;

	if (cf_api_param_id(c, 0, "Channel", &id) == -1)
		return;
	if ((rc = cf_store_members(cf_db(), id, &members)) != 0) {
		cf_api_fail_store(c, rc, "Channel");
		return;
	}
	cf_api_ok(c, 200, json_pack("{s:o}", "members", members));
}

/* Path parameter 1 as a user id (1..63 bytes); 0, or -1 answered. */
static int
param_user(struct cf_api_call *c, char *buf, size_t len)
{
	size_t n = strlen(c->param[1]);

	if (n == 0 || n >= len || n >= USER_ID_MAX) {
		cf_api_fail(c, 404, "not_found", "User not found");
		return (-1);
	}
	memcpy(buf, c->param[1], n + 1);
	return (0);
}

void
cf_api_member_put(struct cf_api_call *c)
{
	struct cf_op_actor who;
	char user[USER_ID_MAX];
	int64_t id;
	int rc, added;

	if (cf_api_param_id(c, 0, "Channel", &id) == -1 ||
	    param_user(c, user, sizeof(user)) == -1 ||
	    cf_api_fields(c, cf_api_no_fields, NULL) == -1)
		return;
	cf_api_actor(c, NULL, &who);
	if ((rc = cf_op_member_add(&who, id, user, &added)) != 0) {
		cf_api_fail_store(c, rc, "Channel");
		return;
	}
	cf_api_ok(c, added ? 201 : 200, json_pack("{s:I,s:o,s:b}", "channelId",
	    (json_int_t)id, "userId", cf_store_user_id_json(user), "added",
	    added));
}

void
cf_api_member_delete(struct cf_api_call *c)
{
	struct cf_op_actor who;
	char user[USER_ID_MAX];
	int64_t id;
	int rc, removed;

	if (cf_api_param_id(c, 0, "Channel", &id) == -1 ||
	    param_user(c, user, sizeof(user)) == -1)
		return;
	cf_api_actor(c, NULL, &who);
	if ((rc = cf_op_member_remove(&who, id, user, &removed)) != 0) {
		cf_api_fail_store(c, rc, "Channel");
		return;
	}
	if (!removed) {
		cf_api_fail(c, 404, "not_found",
		    "Not a member of this channel");
		return;
	}
	cf_api_ok(c, 200, json_pack("{s:I,s:o,s:b}", "channelId",
	    (json_int_t)id, "userId", cf_store_user_id_json(user), "removed",
	    1));
}

void
cf_api_messages_list(struct cf_api_call *c)
{
	int64_t id, before, after, limit;
	json_t *msgs = NULL;
	int rc, more = 0;

	if (cf_api_param_id(c, 0, "Channel", &id) == -1 ||
	    cf_api_query_int(c, "before", 0, INT64_MAX, 0, &before) == -1 ||
	    cf_api_query_int(c, "after", 0, INT64_MAX, 0, &after) == -1 ||
	    cf_api_query_int(c, "limit", 1, LIMIT_MAX, LIMIT_DEFAULT,
	    &limit) == -1)
		return;
	if (before > 0 && after > 0) {
		cf_api_fail(c, 400, "bad_request",
		    "before and after cannot be given together");
		return;
	}
	/* The key reads as nobody: every reaction's "me" is false. */
	if ((rc = cf_store_messages_page(cf_db(), id, before, after,
	    (int)limit, &msgs, &more)) != 0 ||
	    (rc = cf_store_reactions_fill(cf_db(), NULL, msgs)) != 0) {
		json_decref(msgs);
		cf_api_fail_store(c, rc, "Channel");
		return;
	}
	cf_api_ok(c, 200, json_pack("{s:o,s:b}", "messages", msgs, "hasMore",
	    more));
}

void
cf_api_message_post(struct cf_api_call *c)
{
	static const struct cf_field f[] = {
		{ .key = "message", .type = CF_F_TEXT,
		  .limit = CF_LIM_MESSAGE_LENGTH,
		  .err = "message must be a non-blank string of at most "
		  "max-message-length characters" },
		{ .key = "messageType", .type = CF_F_ENUM, .flags = CF_F_OPT,
		  .set = cf_op_message_types,
		  .err = "messageType must be text, file, image, gif or "
		  "ticket_link" },
		F_USER_OPT("userId"),
		{ .key = "displayName", .type = CF_F_STR, .flags = CF_F_OPT,
		  .min = 1, .max = 100,
		  .err = "displayName must be a string of 1 to 100 "
		  "characters" },
		{ .key = "replyToId", .type = CF_F_ID, .flags = CF_F_OPT,
		  .err = "replyToId must be a message id" },
		F_ANY_KEY("mentions"),
		F_END
	};
	struct cf_arg_val v[7];
	struct cf_op_actor who;
	const char *key = c->req->idempotency_key;
	char name[128];
	json_t *msg = NULL, *mentions = NULL;
	int64_t id;
	int rc, dup;

	if (cf_api_param_id(c, 0, "Channel", &id) == -1 ||
	    cf_api_fields(c, f, v) == -1)
		return;
	if (strlen(key) > CF_CLIENT_MSG_ID_MAX) {
		cf_api_fail(c, 400, "bad_request",
		    "Idempotency-Key is longer than 128 bytes");
		return;
	}
	/*
	 * Without userId: a system message, by user 0.  With one, the name
	 * is the one given, else the stored one, else the id.
	 */
	who.user_id = v[2].set ? v[2].s : "0";
	if (v[3].set)
		cf_strlcpy(name, v[3].s, sizeof(name));
	else if (!v[2].set)
		cf_strlcpy(name, "System", sizeof(name));
	else if (cf_store_user_name(cf_db(), who.user_id, name,
	    sizeof(name)) != 0)
		cf_strlcpy(name, who.user_id, sizeof(name));
	who.name = name;
	if (cf_op_mentions_check(v[5].j, who.user_id, &mentions) != 0) {
		cf_api_fail(c, 400, "bad_request",
		    "mentions must be an array of at most 50 user ids");
		return;
	}
	rc = cf_op_message_send(&who, id, v[0].s, v[1].set ? v[1].s : "text",
	    v[4].i, key[0] != '\0' ? key : NULL, mentions, NULL, &msg, &dup);
	json_decref(mentions);
	if (rc == -EPERM) {
		cf_api_fail(c, 400, "bad_request",
		    "mentions must be members of the channel");
		return;
	}
	/* -ENOENT: the channel, or else the reply target, is missing. */
	if (rc == -ENOENT && v[4].set &&
	    cf_store_channel_writable(cf_db(), id) == 0) {
		cf_api_fail_store(c, rc, "Reply target");
		return;
	}
	if (rc != 0) {
		cf_api_fail_store(c, rc, "Channel");
		return;
	}
	cf_api_ok(c, dup ? 200 : 201, json_pack("{s:o,s:b}", "message", msg,
	    "duplicate", dup));
}

/*
 * POST /api/v1/dms {userIds: [a, b]}: the direct channel of a and b
 * (dm:open's), both users' sockets told when it is new.  The answer's
 * channel has no viewer: otherUserId / otherUserName are left out.
 */
void
cf_api_dm_open(struct cf_api_call *c)
{
	static const struct cf_field f[] = {
		{ .key = "userIds", .type = CF_F_ANY }, F_END
	};
	struct cf_arg_val v[2];
	struct cf_op_actor who;
	char ids[2][USER_ID_MAX], name[128];
	const json_t *a;
	json_t *ch = NULL;
	int rc, created, i;

	if (cf_api_fields(c, f, v) == -1)
		return;
	a = v[0].j;
	if (!json_is_array(a) || json_array_size(a) != 2 ||
	    cf_arg_user_id(json_array_get(a, 0), 1, ids[0], sizeof(ids[0])) ==
	    -1 || cf_arg_user_id(json_array_get(a, 1), 1, ids[1],
	    sizeof(ids[1])) == -1) {
		cf_api_fail(c, 400, "bad_request",
		    "userIds must be an array of two user ids");
		return;
	}
	for (i = 0; i < 2; i++)
		if ((rc = cf_store_user_name(cf_db(), ids[i], name,
		    sizeof(name))) != 0) {
			cf_api_fail_store(c, rc, "User");
			return;
		}
	who.user_id = ids[0];
	who.name = name;
	(void)cf_store_user_name(cf_db(), ids[0], name, sizeof(name));
	if ((rc = cf_op_dm_open(&who, ids[1], 1, &ch, &created)) != 0) {
		cf_api_fail_store(c, rc, rc == -ENOENT ? "User" : "Channel");
		return;
	}
	json_object_del(ch, "otherUserId");
	json_object_del(ch, "otherUserName");
	cf_api_ok(c, created ? 201 : 200, json_pack("{s:o,s:b}", "channel", ch,
	    "created", created));
}
