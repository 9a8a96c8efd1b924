/*
 * broadcast.c -- system_broadcast: a client's broadcast to every
 * authenticated socket, through the operation the control socket shares
 * (ops.c).
 */
#include "app/chat.h"
#include "app/handlers.h"
#include "app/ops.h"

void
cf_ev_system_broadcast(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	struct cf_op_actor who = { c->user_id, c->name };
	const char *bad;
	int64_t bid = 0;

	/* The values are checked by the operation the control socket shares. */
	if (cf_op_broadcast(&who, ctx->v[CF_V_BCAST_MESSAGE].j,
	    ctx->v[CF_V_BCAST_PRIORITY].j, &bid, &bad) != 0) {
		if (bad != NULL)
			cf_chat_invalid(ctx, bad);
		else
			cf_chat_fail(ctx, "internal", "Internal error");
		return;
	}
	cf_chat_ack_ok(ctx, json_pack("{s:I}", "broadcastId", (json_int_t)bid));
}

