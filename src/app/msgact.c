/*
 * msgact.c -- the events on a stored message: chat:edit_message,
 * chat:delete_message, chat:react, chat:get_thread.  Who may: a member
 * of the message's channel (the socket joined it, or the user is a
 * member); to edit or delete, its author or a holder of
 * chat.moderate_messages.  A message of a private channel the user is
 * not a member of is "not found", as a missing one.  The values come
 * checked from the events' field lists (app.c).
 */
#include <errno.h>
#include <stdio.h>

#include "db/db.h"
#include "db/store.h"
#include "perm.h"
#include "app/chat.h"
#include "app/handlers.h"
#include "app/ops.h"

#define THREAD_LIMIT_DEFAULT	50

/*
 * The message id as the socket may read it: 0 with *msg (the caller's),
 * or -1 answered.
 */
static int
readable(struct cf_event_ctx *ctx, int64_t id, json_t **msg)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	json_t *ch = NULL;
	int64_t cid;
	int rc, priv;

	if ((rc = cf_store_message_get(cf_db(), id, msg)) != 0) {
		cf_chat_fail_store(ctx, rc, "Message");
		return (-1);
	}
	cid = json_integer_value(json_object_get(*msg, "channelId"));
	if (cf_chat_joined(c, cid) ||
	    (rc = cf_store_is_member(cf_db(), cid, c->user_id)) == 1)
		return (0);
	if (rc == 0)
		rc = cf_store_channel_get(cf_db(), cid, &ch);
	json_decref(*msg);
	*msg = NULL;
	if (rc != 0) {
		cf_chat_fail_store(ctx, rc, "Message");
		return (-1);
	}
	priv = json_is_true(json_object_get(ch, "isPrivate"));
	json_decref(ch);
	if (priv)
		cf_chat_fail(ctx, "not_found", "Message not found");
	else
		cf_chat_fail(ctx, "forbidden", "Not a member of this channel");
	return (-1);
}

/*
 * The message as the socket may change it (readable, and the author's
 * or the socket holds chat.moderate_messages): 0 with *msg, or -1
 * answered.
 */
static int
changeable(struct cf_event_ctx *ctx, int64_t id, json_t **msg)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	json_t *me;
	int own;

	if (readable(ctx, id, msg) == -1)
		return (-1);
	me = cf_chat_user_json(c);
	own = json_equal(me, json_object_get(*msg, "userId"));
	json_decref(me);
	if (own || (cf_chat_perms(c) & CF_PERM_MODERATE_MESSAGES))
		return (0);
	json_decref(*msg);
	*msg = NULL;
	cf_chat_fail(ctx, "forbidden", "Not the author of this message");
	return (-1);
}

/* A refusal of the store on a message. */
static void
fail_message(struct cf_event_ctx *ctx, int rc)
{
	char m[96];

	switch (rc) {
	case -EIDRM:
		cf_chat_fail(ctx, "conflict", "Message is deleted");
		break;
	case -EROFS:
		cf_chat_fail_store(ctx, rc, "Channel");
		break;
	case -ENOSPC:
		snprintf(m, sizeof(m), "Too many reactions on this message "
		    "(at most %d distinct)", CF_OP_REACTIONS_MAX);
		cf_chat_fail(ctx, "conflict", m);
		break;
	default:
		cf_chat_fail_store(ctx, rc, "Message");
		break;
	}
}

/* The reactions of msgs (an array) for the socket's user; -1 answered. */
static int
fill(struct cf_event_ctx *ctx, json_t *msgs)
{
	if (cf_store_reactions_fill(cf_db(), cf_chat_of(ctx->s)->user_id,
	    msgs) != 0) {
		cf_chat_fail(ctx, "internal", "Internal error");
		return (-1);
	}
	return (0);
}

void
cf_ev_edit_message(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	struct cf_op_actor who = { c->user_id, c->name };
	int64_t id = ctx->v[CF_V_EDIT_MESSAGE_ID].i;
	json_t *msg = NULL, *arr;
	int rc;

	if (changeable(ctx, id, &msg) == -1)
		return;
	json_decref(msg);
	if ((rc = cf_op_message_edit(&who, id, ctx->v[CF_V_EDIT_TEXT].s,
	    &msg)) != 0) {
		fail_message(ctx, rc);
		return;
	}
	arr = json_pack("[o]", msg);
	if (fill(ctx, arr) == 0)
		cf_chat_ack_ok(ctx, json_pack("{s:O}", "message",
		    json_array_get(arr, 0)));
	json_decref(arr);
}

void
cf_ev_delete_message(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	struct cf_op_actor who = { c->user_id, c->name };
	int64_t id = ctx->v[CF_V_DELETE_MESSAGE_ID].i;
	json_t *msg = NULL;
	int rc;

	if (changeable(ctx, id, &msg) == -1)
		return;
	json_decref(msg);
	if ((rc = cf_op_message_delete(&who, id, &msg)) != 0) {
		fail_message(ctx, rc);
		return;
	}
	cf_chat_ack_ok(ctx, json_pack("{s:o}", "message", msg));
}

void
cf_ev_react(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	struct cf_op_actor who = { c->user_id, c->name };
	int64_t id = ctx->v[CF_V_REACT_MESSAGE_ID].i;
	json_t *msg = NULL, *ev = NULL;
	int rc;

	if (readable(ctx, id, &msg) == -1)
		return;
	json_decref(msg);
	if ((rc = cf_op_message_react(&who, id,
	    json_string_value(ctx->v[CF_V_REACT_EMOJI].j),
	    (int)ctx->v[CF_V_REACT_ADD].i, &ev)) != 0) {
		fail_message(ctx, rc);
		return;
	}
	cf_chat_ack_ok(ctx, ev);
}

void
cf_ev_get_thread(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	int64_t id = ctx->v[CF_V_THREAD_MESSAGE_ID].i;
	json_t *root = NULL, *replies = NULL, *all = NULL, *m;
	int rc, more = 0, limit = THREAD_LIMIT_DEFAULT;
	int64_t cid;

	if (ctx->v[CF_V_THREAD_LIMIT].set)
		limit = (int)ctx->v[CF_V_THREAD_LIMIT].i;
	/* One read for the thread; then may the socket read it? */
	if ((rc = cf_store_thread_page(cf_db(), id,
	    ctx->v[CF_V_THREAD_AFTER].i, limit, &root, &replies,
	    &more)) != 0) {
		cf_chat_fail_store(ctx, rc, "Message");
		return;
	}
	cid = json_integer_value(json_object_get(root, "channelId"));
	if (!cf_chat_joined(c, cid) &&
	    cf_store_is_member(cf_db(), cid, c->user_id) != 1) {
		/* Worded as for the other events on a message. */
		if (readable(ctx, id, &m) == 0) {
			json_decref(m);
			cf_chat_fail(ctx, "forbidden",
			    "Not a member of this channel");
		}
		goto done;
	}
	if ((all = json_array()) == NULL ||
	    json_array_append(all, root) == -1 ||
	    json_array_extend(all, replies) == -1) {
		cf_chat_fail(ctx, "internal", "Internal error");
		goto done;
	}
	if (fill(ctx, all) == 0)
		cf_chat_ack_ok(ctx, json_pack("{s:O,s:O,s:b}", "message", root,
		    "replies", replies, "hasMore", more));
 done:
	json_decref(all);
	json_decref(root);
	json_decref(replies);
}
