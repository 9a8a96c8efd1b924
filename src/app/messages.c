/*
 * messages.c -- chat:send_message: a message joins the loop turn's group
 * commit (batch.h), and its ack and broadcast wait for the COMMIT.  Its
 * values come checked from the event's field list (app.c).
 */
#include <errno.h>

#include "db/db.h"
#include "db/store.h"
#include "util.h"
#include "app/batch.h"
#include "app/chat.h"
#include "app/handlers.h"

void
cf_ev_send_message(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	int64_t id = ctx->v[CF_V_SEND_CHANNEL].i;
	int64_t reply = ctx->v[CF_V_SEND_REPLY].i;
	const char *text = ctx->v[CF_V_SEND_MESSAGE].s;
	const char *type = ctx->v[CF_V_SEND_TYPE].s;
	const char *cmid = ctx->v[CF_V_SEND_CMID].s;
	json_t *msg = NULL;
	char room[48];
	int rc, dup = 0, tries;

	if (cf_channel_need_member(ctx, id) == -1)
		return;
	/*
	 * Group commit (batch.h): the replies wait for the batch's COMMIT.
	 * -EAGAIN: another host's transaction holds the channel; commit ours
	 * (and its locks) first, then a new batch may wait for it.
	 */
	for (tries = 0;; tries++) {
		if ((rc = cf_batch_begin()) == 0)
			rc = cf_store_message_insert(cf_db(), id, c->user_id,
			    c->name, text, type ? type : "text", reply, cmid,
			    (int64_t)cf_wall_ms(), &msg, &dup);
		if (rc != -EAGAIN || tries == 1)
			break;
		(void)cf_batch_flush();
	}
	if (rc != 0) {
		cf_chat_fail_store(ctx, rc, rc == -ENOENT && reply ?
		    "Reply target" : "Channel");
		return;
	}
	cf_chat_channel_room(room, sizeof(room), id);
	cf_batch_reply(ctx, cf_chat_ok_args(json_pack("{s:O}", "message", msg)),
	    room, "chat:new_message", dup ? NULL : json_incref(msg));
	json_decref(msg);
}
