/*
 * messages.c -- chat:send_message: a message joins the loop turn's group
 * commit (ops.h, batch.h), and its ack and broadcast wait for the COMMIT.
 * Its values come checked from the event's field list (app.c); mentions
 * by cf_op_mentions_check, and stored only for members (ops.h).
 */
#include <errno.h>

#include "app/chat.h"
#include "app/handlers.h"
#include "app/ops.h"

void
cf_ev_send_message(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	struct cf_op_actor who = { c->user_id, c->name };
	int64_t id = ctx->v[CF_V_SEND_CHANNEL].i;
	int64_t reply = ctx->v[CF_V_SEND_REPLY].i;
	const char *type = ctx->v[CF_V_SEND_TYPE].s;
	json_t *msg = NULL, *mentions = NULL;
	int rc, dup;

	/* No mentions, nothing more than before on this path. */
	if (ctx->v[CF_V_SEND_MENTIONS].j != NULL &&
	    cf_op_mentions_check(ctx->v[CF_V_SEND_MENTIONS].j, c->user_id,
	    &mentions) != 0) {
		cf_chat_invalid(ctx, "mentions (at most 50 user ids)");
		return;
	}
	if (cf_channel_need_member(ctx, id) == -1) {
		json_decref(mentions);
		return;
	}
	rc = cf_op_message_send(&who, id, ctx->v[CF_V_SEND_MESSAGE].s,
	    type != NULL ? type : "text", reply, ctx->v[CF_V_SEND_CMID].s,
	    mentions, ctx, &msg, &dup);
	if (rc == -EPERM)
		cf_chat_invalid(ctx, "mentions (members of the channel only)");
	else if (rc != 0)
		cf_chat_fail_store(ctx, rc, rc == -ENOENT && reply ?
		    "Reply target" : "Channel");
	json_decref(msg);
	json_decref(mentions);
}
