/*
 * activity.c -- what members do in a channel besides writing: read
 * receipts (message_read), typing (chat:typing, whose states expire on
 * the socket's timer, chat.c), and files (file_uploaded).
 */
#include <errno.h>
#include <stdlib.h>

#include "db/db.h"
#include "db/store.h"
#include "util.h"
#include "app/batch.h"
#include "app/chat.h"
#include "app/handlers.h"
#include "app/indexer.h"
#include "fanout/room.h"

/* ------------------------------------------------------------- typing */

static void
emit_typing(struct cf_sess *s, int64_t channel, int is_typing)
{
	struct cf_chat *c = cf_chat_of(s);
	char room[48];

	cf_chat_channel_room(room, sizeof(room), channel);
	cf_room_emit(room, s, "chat:user_typing",
	    json_pack("{s:o,s:s,s:b,s:I}", "userId", cf_chat_user_json(c),
	    "userDisplayName", c->name, "isTyping", is_typing, "channelId",
	    (json_int_t)channel));
}

/* Clear a typing state; with notify, tell the channel. */
void
cf_activity_typing_clear(struct cf_sess *s, int64_t channel, int notify)
{
	struct cf_chat *c = cf_chat_of(s);
	uint32_t i;

	for (i = 0; i < c->ntyping; i++) {
		if (c->typing[i].channel != channel)
			continue;
		c->typing[i] = c->typing[--c->ntyping];
		if (notify)
			emit_typing(s, channel, 0);
		return;
	}
}

static void
broadcast_message(int64_t channel, json_t *msg)
{
	char room[48];

	cf_chat_channel_room(room, sizeof(room), channel);
	cf_room_emit(room, NULL, "chat:new_message", json_incref(msg));
}

void
cf_ev_message_read(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	int64_t id = ctx->v[CF_V_READ_CHANNEL].i;
	int64_t mid = ctx->v[CF_V_READ_MESSAGE].i, pos = 0;
	char room[48], at[32];
	int rc;

	if (cf_channel_need_member(ctx, id) == -1)
		return;
	if ((rc = cf_store_read_set(cf_db(), id, c->user_id, mid,
	    (int64_t)cf_wall_ms(), &pos)) != 0) {
		cf_chat_fail_store(ctx, rc, "Message");
		return;
	}
	cf_chat_channel_room(room, sizeof(room), id);
	cf_chat_now_iso(at, sizeof(at));
	cf_room_emit(room, NULL, "message_read_receipt",
	    json_pack("{s:o,s:s,s:I,s:o,s:s}", "userId", cf_chat_user_json(c),
	    "userDisplayName", c->name, "channelId", (json_int_t)id,
	    "messageId", pos ? json_integer(pos) : json_null(), "readAt", at));
	cf_chat_ack_ok(ctx, json_pack("{s:o}", "messageId",
	    pos ? json_integer(pos) : json_null()));
}

void
cf_ev_typing(struct cf_event_ctx *ctx)
{
	struct cf_sess *s = ctx->s;
	struct cf_chat *c = cf_chat_of(s);
	int64_t id = ctx->v[CF_V_TYPING_CHANNEL].i;
	uint32_t i;
	void *p;

	if (!cf_chat_joined(c, id)) {
		cf_chat_fail(ctx, "forbidden", "Join the channel first");
		return;
	}
	if (!ctx->v[CF_V_TYPING_ON].i) {
		cf_activity_typing_clear(s, id, 1);
		cf_chat_timer_update(s);
		cf_chat_ack_ok(ctx, NULL);
		return;
	}
	for (i = 0; i < c->ntyping; i++)
		if (c->typing[i].channel == id)
			break;
	if (i == c->ntyping) {
		if (c->ntyping == c->captyping) {
			uint32_t ncap = c->captyping ? c->captyping * 2 : 2;

			if ((p = realloc(c->typing, ncap * sizeof(*c->typing)))
			    == NULL) {
				cf_chat_fail(ctx, "internal", "Internal error");
				return;
			}
			c->typing = p;
			c->captyping = ncap;
		}
		c->typing[c->ntyping++].channel = id;
	}
	c->typing[i].until = cf_now_ms() + cf_w->conf->typing_timeout_ms;
	emit_typing(s, id, 1);
	cf_chat_timer_update(s);
	cf_chat_ack_ok(ctx, NULL);
}

void
cf_ev_file_uploaded(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	const char *fname = ctx->v[CF_V_FILE_NAME].s;
	const char *ftype = ctx->v[CF_V_FILE_TYPE].s;
	int64_t id = ctx->v[CF_V_FILE_CHANNEL].i;
	int64_t mid = ctx->v[CF_V_FILE_MESSAGE].i;
	int64_t size = ctx->v[CF_V_FILE_SIZE].i;
	json_t *msg = NULL;
	char room[48], at[32];
	int rc, dup = 0, created = 0;

	if (cf_channel_need_member(ctx, id) == -1)
		return;
	if (mid != 0) {
		if ((rc = cf_store_message_get(cf_db(), mid, &msg)) != 0) {
			cf_chat_fail_store(ctx, rc, "Message");
			return;
		}
		if (json_integer_value(json_object_get(msg, "channelId")) != id) {
			json_decref(msg);
			cf_chat_fail_store(ctx, -ENOENT, "Message");
			return;
		}
		{
			json_t *mine = cf_store_user_id_json(c->user_id);
			int own = json_equal(mine, json_object_get(msg, "userId"));

			json_decref(mine);
			if (!own) {
				json_decref(msg);
				cf_chat_fail(ctx, "forbidden",
				    "Not your message");
				return;
			}
		}
	} else {
		/*
		 * Not in a batch: the file is added right after, and its
		 * replies go out at once (cf_store_message_insert runs its own
		 * transaction when none is open).
		 */
		(void)cf_batch_flush();
		rc = cf_store_message_insert(cf_db(), id, c->user_id, c->name,
		    fname, "file", 0, NULL, (int64_t)cf_wall_ms(), &msg, &dup);
		if (rc != 0) {
			cf_chat_fail_store(ctx, rc, "Channel");
			return;
		}
		mid = json_integer_value(json_object_get(msg, "id"));
		created = 1;
		cf_indexer_kick();
	}
	if ((rc = cf_store_file_add(cf_db(), mid, fname, size, ftype,
	    c->user_id, (int64_t)cf_wall_ms())) != 0) {
		json_decref(msg);
		cf_chat_fail_store(ctx, rc, "Message");
		return;
	}
	json_object_set_new(msg, "file", json_pack("{s:s,s:I,s:s}",
	    "fileName", fname, "fileSize", (json_int_t)size, "fileType", ftype));
	if (created)
		broadcast_message(id, msg);
	cf_chat_channel_room(room, sizeof(room), id);
	cf_chat_now_iso(at, sizeof(at));
	cf_room_emit(room, NULL, "file_upload_notification",
	    json_pack("{s:I,s:I,s:o,s:s,s:s,s:I,s:s,s:s}", "messageId",
	    (json_int_t)mid, "channelId", (json_int_t)id, "uploadedBy",
	    cf_chat_user_json(c), "uploaderName", c->name, "fileName", fname,
	    "fileSize", (json_int_t)size, "fileType", ftype, "uploadedAt", at));
	cf_chat_ack_ok(ctx, json_pack("{s:o}", "message", msg));
}
