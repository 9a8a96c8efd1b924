/*
 * activity.c -- what members do in a channel besides writing: read
 * receipts (message_read), typing (chat:typing, whose states expire on
 * the socket's timer, chat.c), and files (file_uploaded).
 */
#include <errno.h>
#include <stdlib.h>

#include "db/db.h"
#include "db/store.h"
#include "perm.h"
#include "util.h"
#include "app/args.h"
#include "app/batch.h"
#include "app/chat.h"
#include "app/chat_int.h"
#include "fanout/room.h"

#define CF_FILE_NAME_MAX	255
#define CF_FILE_TYPE_MAX	100

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
cf_chat_typing_clear(struct cf_sess *s, int64_t channel, int notify)
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
	const json_t *o = json_array_get(ctx->args, 0);
	int64_t id, mid, pos = 0;
	char room[48], at[32];
	int rc;

	if (cf_chat_need_perm(ctx, CF_PERM_CHAT_ACCESS) == -1)
		return;
	if (!json_is_object(o) || cf_arg_id(json_object_get(o, "channelId"), &id)) {
		cf_chat_invalid(ctx, "channelId");
		return;
	}
	if (cf_arg_opt_id(o, "messageId", &mid) == -1) {
		cf_chat_invalid(ctx, "messageId");
		return;
	}
	if (cf_chat_need_member(ctx, id) == -1)
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
	const json_t *o = json_array_get(ctx->args, 0), *v;
	uint32_t i;
	int64_t id;
	void *p;

	if (cf_chat_need_perm(ctx, CF_PERM_CHAT_ACCESS) == -1)
		return;
	if (!json_is_object(o) || cf_arg_id(json_object_get(o, "channelId"), &id)) {
		cf_chat_invalid(ctx, "channelId");
		return;
	}
	v = json_object_get(o, "isTyping");
	if (!json_is_boolean(v)) {
		cf_chat_invalid(ctx, "isTyping");
		return;
	}
	if (!cf_chat_joined(c, id)) {
		cf_chat_fail(ctx, "forbidden", "Join the channel first");
		return;
	}
	if (json_is_false(v)) {
		cf_chat_typing_clear(s, id, 1);
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
	const json_t *o = json_array_get(ctx->args, 0), *v;
	const char *fname, *ftype, *why;
	json_t *msg = NULL;
	char room[48], at[32];
	int64_t id, mid, size;
	int rc, dup = 0, created = 0;

	if (cf_chat_need_perm(ctx, CF_PERM_CHAT_ACCESS | CF_PERM_SEND_MESSAGES) ==
	    -1)
		return;
	if (!json_is_object(o) || cf_arg_id(json_object_get(o, "channelId"), &id)) {
		cf_chat_invalid(ctx, "channelId");
		return;
	}
	if (cf_chat_opt_str(o, "fileName", CF_FILE_NAME_MAX, &fname, &why) ==
	    -1 || fname == NULL || cf_arg_blank(fname)) {
		cf_chat_invalid(ctx, "fileName");
		return;
	}
	if (cf_chat_opt_str(o, "fileType", CF_FILE_TYPE_MAX, &ftype, &why) ==
	    -1 || ftype == NULL || cf_arg_blank(ftype)) {
		cf_chat_invalid(ctx, "fileType");
		return;
	}
	v = json_object_get(o, "fileSize");
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		cf_chat_invalid(ctx, "fileSize");
		return;
	}
	size = json_integer_value(v);
	if (cf_arg_opt_id(o, "messageId", &mid) == -1) {
		cf_chat_invalid(ctx, "messageId");
		return;
	}
	if (cf_chat_need_member(ctx, id) == -1)
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
