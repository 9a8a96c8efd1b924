/*
 * messages.c -- chat:send_message: a message joins the loop turn's group
 * commit (batch.h), and its ack and broadcast wait for the COMMIT.
 */
#include <errno.h>
#include <string.h>

#include "db/db.h"
#include "db/store.h"
#include "perm.h"
#include "util.h"
#include "app/args.h"
#include "app/batch.h"
#include "app/chat.h"
#include "app/chat_int.h"

#define CF_CLIENT_MSG_ID_MAX	128

static const char *const message_types[] = {
	"text", "file", "image", "gif", "ticket_link", NULL
};

static int
one_of(const char *s, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return (1);
	return (0);
}

void
cf_ev_send_message(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	const json_t *o = json_array_get(ctx->args, 0);
	const char *text, *type, *cmid, *why;
	json_t *msg = NULL;
	char room[48];
	int64_t id, reply;
	int rc, dup = 0, tries;

	if (cf_chat_need_perm(ctx, CF_PERM_CHAT_ACCESS | CF_PERM_SEND_MESSAGES) ==
	    -1)
		return;
	if (!json_is_object(o) || cf_arg_id(json_object_get(o, "channelId"), &id)) {
		cf_chat_invalid(ctx, "channelId");
		return;
	}
	if (!json_is_string(json_object_get(o, "message"))) {
		cf_chat_invalid(ctx, "message");
		return;
	}
	if (cf_chat_opt_str(o, "message", cf_w->conf->max_message_length, &text,
	    &why) == -1 || text == NULL || cf_arg_blank(text)) {
		cf_chat_invalid(ctx, "message (empty or too long)");
		return;
	}
	if (cf_chat_opt_str(o, "messageType", 32, &type, &why) == -1 ||
	    (type != NULL && !one_of(type, message_types))) {
		cf_chat_invalid(ctx, "messageType");
		return;
	}
	if (cf_arg_opt_id(o, "replyToId", &reply) == -1) {
		cf_chat_invalid(ctx, "replyToId");
		return;
	}
	if (cf_chat_opt_str(o, "clientMsgId", CF_CLIENT_MSG_ID_MAX, &cmid,
	    &why) == -1 || (cmid != NULL && *cmid == '\0')) {
		cf_chat_invalid(ctx, "clientMsgId");
		return;
	}
	if (cf_chat_need_member(ctx, id) == -1)
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
