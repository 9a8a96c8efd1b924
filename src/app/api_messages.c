/*
 * api_messages.c -- /api/v1/messages/{id}: edit, delete, react, thread
 * (api.h, doc/api.md).  The key may change any message (as chat.moderate_messages
 * does); the change is recorded as by the userId the body names, else by
 * the operator (user 0).  Reactions read through the key have "me" false.
 */
#include <errno.h>
#include <stdio.h>

#include "db/db.h"
#include "db/store.h"
#include "app/api.h"
#include "app/args.h"
#include "app/ops.h"

#define LIMIT_DEFAULT	50
#define LIMIT_MAX	100

#define F_USER_OPT(k) \
	{ .key = k, .type = CF_F_USER, .flags = CF_F_OPT, .min = 1, \
	  .err = k " must be a user id" }
#define F_END		{ .type = CF_F_END }

/* A refusal of the store on a message. */
static void
fail_message(struct cf_api_call *c, int rc)
{
	char m[96];

	if (rc == -EIDRM)
		cf_api_fail(c, 409, "conflict", "Message is deleted");
	else if (rc == -ENOSPC) {
		snprintf(m, sizeof(m), "Too many reactions on this message "
		    "(at most %d distinct)", CF_OP_REACTIONS_MAX);
		cf_api_fail(c, 409, "conflict", m);
	} else
		cf_api_fail_store(c, rc, rc == -EROFS ? "Channel" : "Message");
}

/* The reactions of msgs for nobody; -1 answered. */
static int
fill(struct cf_api_call *c, json_t *msgs)
{
	int rc;

	if ((rc = cf_store_reactions_fill(cf_db(), NULL, msgs)) != 0) {
		cf_api_fail_store(c, rc, "Message");
		return (-1);
	}
	return (0);
}

void
cf_api_message_patch(struct cf_api_call *c)
{
	static const struct cf_field f[] = {
		{ .key = "message", .type = CF_F_TEXT,
		  .limit = CF_LIM_MESSAGE_LENGTH,
		  .err = "message must be a non-blank string of at most "
		  "max-message-length characters" },
		F_USER_OPT("userId"),
		F_END
	};
	struct cf_arg_val v[2];
	struct cf_op_actor who;
	json_t *msg = NULL, *arr;
	int64_t id;
	int rc;

	if (cf_api_param_id(c, 0, "Message", &id) == -1 ||
	    cf_api_fields(c, f, v) == -1)
		return;
	cf_api_actor(c, v[1].set ? v[1].s : NULL, &who);
	if ((rc = cf_op_message_edit(&who, id, v[0].s, &msg)) != 0) {
		fail_message(c, rc);
		return;
	}
	arr = json_pack("[o]", msg);
	if (fill(c, arr) == 0)
		cf_api_ok(c, 200, json_pack("{s:O}", "message",
		    json_array_get(arr, 0)));
	json_decref(arr);
}

void
cf_api_message_delete(struct cf_api_call *c)
{
	static const struct cf_field f[] = { F_USER_OPT("userId"), F_END };
	struct cf_arg_val v[1];
	struct cf_op_actor who;
	json_t *msg = NULL;
	int64_t id;
	int rc;

	if (cf_api_param_id(c, 0, "Message", &id) == -1 ||
	    cf_api_fields(c, f, v) == -1)
		return;
	cf_api_actor(c, v[0].set ? v[0].s : NULL, &who);
	if ((rc = cf_op_message_delete(&who, id, &msg)) != 0) {
		fail_message(c, rc);
		return;
	}
	cf_api_ok(c, 200, json_pack("{s:o}", "message", msg));
}

void
cf_api_message_thread(struct cf_api_call *c)
{
	json_t *root = NULL, *replies = NULL, *all = NULL;
	int64_t id, after, limit;
	int rc, more = 0;

	if (cf_api_param_id(c, 0, "Message", &id) == -1 ||
	    cf_api_query_int(c, "after", 0, INT64_MAX, 0, &after) == -1 ||
	    cf_api_query_int(c, "limit", 1, LIMIT_MAX, LIMIT_DEFAULT,
	    &limit) == -1)
		return;
	if ((rc = cf_store_thread_page(cf_db(), id, after, (int)limit, &root,
	    &replies, &more)) != 0) {
		cf_api_fail_store(c, rc, "Message");
		return;
	}
	if ((all = json_array()) == NULL ||
	    json_array_append(all, root) == -1 ||
	    json_array_extend(all, replies) == -1)
		cf_api_fail_store(c, -ENOMEM, "Message");
	else if (fill(c, all) == 0)
		cf_api_ok(c, 200, json_pack("{s:O,s:O,s:b}", "message", root,
		    "replies", replies, "hasMore", more));
	json_decref(all);
	json_decref(root);
	json_decref(replies);
}

void
cf_api_message_react(struct cf_api_call *c)
{
	static const struct cf_field f[] = {
		{ .key = "emoji", .type = CF_F_CHECK, .check = cf_op_emoji_ok,
		  .err = "emoji must be one emoji, or a :short_name: of at "
		  "most 64 bytes" },
		{ .key = "userId", .type = CF_F_USER, .min = 1,
		  .err = "userId must be a user id" },
		{ .key = "add", .type = CF_F_BOOL, .flags = CF_F_OPT,
		  .err = "add must be a boolean" },
		F_END
	};
	struct cf_arg_val v[3];
	struct cf_op_actor who;
	json_t *ev = NULL;
	int64_t id;
	int rc;

	if (cf_api_param_id(c, 0, "Message", &id) == -1 ||
	    cf_api_fields(c, f, v) == -1)
		return;
	cf_api_actor(c, v[1].s, &who);
	if ((rc = cf_op_message_react(&who, id, json_string_value(v[0].j),
	    v[2].set ? (int)v[2].i : 1, &ev)) != 0) {
		fail_message(c, rc);
		return;
	}
	cf_api_ok(c, 200, ev);
}
