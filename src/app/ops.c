/*
 * ops.c -- the operations shared by the event handlers and the control
 * socket (ops.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/store.h"
#include "util.h"
#include "app/args.h"
#include "app/batch.h"
#include "app/indexer.h"
#include "app/chat.h"
#include "app/ops.h"
#include "fanout/room.h"
#include "proc.h"

#define CF_NAME_MAX		100
#define CF_DESC_MAX		1000
#define CF_MEMBERS_MAX		1000
#define CF_USER_ID_MAX		64

static const char *const priorities[] = { "high", "normal", "low", NULL };

const char *const cf_op_message_types[] = {
	"text", "file", "image", "gif", "ticket_link", NULL
};

/*
 * updatedBy of an event: a user's id as the spec writes it, or the
 * operator's name (the control socket's "System", an API key's name).
 */
static json_t *
actor_json(const struct cf_op_actor *who)
{
	if (strcmp(who->user_id, "0") == 0)
		return (json_string(who->name));
	return (cf_store_user_id_json(who->user_id));
}

/* channel:added {channel, addedBy} to every socket of user_id. */
static void
tell_added(const struct cf_op_actor *who, const char *user_id,
    const json_t *ch)
{
	char room[96];

	snprintf(room, sizeof(room), "user:%s", user_id);
	cf_room_emit(room, NULL, "channel:added", json_pack("{s:O,s:o}",
	    "channel", ch, "addedBy", actor_json(who)));
}

/*
 * 0 when channel id is no direct channel; -EPERM when it is (its
 * members, name and privacy are fixed, and it is never archived, so that
 * dm:open always finds it writable); else the store's error.
 */
static int
not_direct(int64_t id)
{
	const char *kind;
	json_t *ch = NULL;
	int rc;

	if ((rc = cf_store_channel_get(cf_db(), id, &ch)) != 0)
		return (rc);
	/* The channel's JSON has kind only for a direct one (store.h). */
	kind = json_string_value(json_object_get(ch, "kind"));
	if (kind != NULL && strcmp(kind, "direct") == 0)
		rc = -EPERM;
	json_decref(ch);
	return (rc);
}

/* A direct channel as viewer sees it: the other user's id and name. */
static void
dm_view(json_t *ch, const char *other_id, const char *other_name)
{
	json_object_set_new(ch, "otherUserId", cf_store_user_id_json(other_id));
	json_object_set_new(ch, "otherUserName", json_string(other_name));
}

int
cf_op_dm_open(const struct cf_op_actor *who, const char *user_id,
    int tell_self, json_t **ch, int *created)
{
	char name[128];
	json_t *theirs;
	int rc;

	*ch = NULL;
	*created = 0;
	if ((rc = cf_store_user_name(cf_db(), user_id, name,
	    sizeof(name))) != 0)
		return (rc);
	if ((rc = cf_store_dm_open(cf_db(), who->user_id, user_id,
	    (int64_t)cf_wall_ms(), ch, created)) != 0)
		return (rc);
	/* The other user's sockets learn of a new one, as its members. */
	if (*created && strcmp(user_id, who->user_id) != 0 &&
	    (theirs = json_deep_copy(*ch)) != NULL) {
		dm_view(theirs, who->user_id, who->name);
		tell_added(who, user_id, theirs);
		json_decref(theirs);
	}
	dm_view(*ch, user_id, name);
	if (*created && tell_self)
		tell_added(who, who->user_id, *ch);
	return (0);
}

int
cf_op_mentions_check(const json_t *v, const char *sender, json_t **ids)
{
	char id[CF_USER_ID_MAX];
	json_t *out, *s;
	size_t i, j;

	*ids = NULL;
	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_array(v) || json_array_size(v) > CF_OP_MENTIONS_MAX ||
	    (out = json_array()) == NULL)
		return (-EINVAL);
	for (i = 0; i < json_array_size(v); i++) {
		if (cf_arg_user_id(json_array_get(v, i), 1, id,
		    sizeof(id)) == -1) {
			json_decref(out);
			return (-EINVAL);
		}
		if (strcmp(id, sender) == 0)
			continue;
		for (j = 0; j < json_array_size(out); j++)
			if (strcmp(json_string_value(json_array_get(out, j)),
			    id) == 0)
				break;
		if (j < json_array_size(out))
			continue;
		if ((s = json_string(id)) == NULL ||
		    json_array_append_new(out, s) == -1) {
			json_decref(out);
			return (-ENOMEM);
		}
	}
	if (json_array_size(out) == 0)
		json_decref(out);
	else
		*ids = out;
	return (0);
}

int
cf_op_channel_create(const struct cf_op_actor *who,
    const struct cf_op_channel *a, json_t **ch, const char **bad)
{
	const char *name, *desc = NULL, **ids = NULL;
	char (*idbuf)[CF_USER_ID_MAX] = NULL;
	size_t i, n = 0;
	int rc, priv = 0;

	*bad = NULL;
	if (cf_arg_text(a->name, CF_NAME_MAX, &name) == -1) {
		*bad = "name";
		return (-EINVAL);
	}
	if (a->description != NULL && !json_is_null(a->description) &&
	    cf_arg_str(a->description, 0, CF_DESC_MAX, &desc) == -1) {
		*bad = "description";
		return (-EINVAL);
	}
	if (a->priv != NULL && !json_is_null(a->priv)) {
		if (!json_is_boolean(a->priv)) {
			*bad = "isPrivate";
			return (-EINVAL);
		}
		priv = json_is_true(a->priv);
	}
	if (a->members != NULL && !json_is_null(a->members)) {
		if (!json_is_array(a->members) ||
		    json_array_size(a->members) > CF_MEMBERS_MAX) {
			*bad = "memberIds";
			return (-EINVAL);
		}
		n = json_array_size(a->members);
	}
	if ((ids = calloc(n + 1, sizeof(*ids))) == NULL ||
	    (idbuf = calloc(n + 1, sizeof(*idbuf))) == NULL) {
		free(ids);
		return (-ENOMEM);
	}
	for (i = 0; i < n; i++) {
		if (cf_arg_user_id(json_array_get(a->members, i), 0, idbuf[i],
		    sizeof(idbuf[i])) == -1) {
			free(ids);
			free(idbuf);
			*bad = "memberIds";
			return (-EINVAL);
		}
		ids[i] = idbuf[i];
	}
	rc = cf_store_channel_create(cf_db(), name, desc, priv, who->user_id,
	    ids, n, (int64_t)cf_wall_ms(), ch);
	/* The members' live sockets learn of it, on every worker and host. */
	for (i = 0; rc == 0 && i < n; i++)
		if (strcmp(ids[i], who->user_id) != 0)
			tell_added(who, ids[i], *ch);
	free(ids);
	free(idbuf);
	return (rc);
}

int
cf_op_broadcast(const struct cf_op_actor *who, const json_t *message,
    const json_t *priority, int64_t *bid, const char **bad)
{
	const char *text, *prio = "normal";
	char at[32];
	int rc;

	*bad = NULL;
	if (cf_arg_text(message, cf_w->conf->max_message_length, &text) ==
	    -1) {
		*bad = "message";
		return (-EINVAL);
	}
	if (priority != NULL && !json_is_null(priority) &&
	    cf_arg_enum(priority, priorities, &prio) == -1) {
		*bad = "priority";
		return (-EINVAL);
	}
	*bid = 0;
	if ((rc = cf_store_broadcast_add(cf_db(), text, prio, who->user_id,
	    who->name, (int64_t)cf_wall_ms(), bid)) != 0)
		return (rc < 0 ? rc : -EIO);
	cf_chat_now_iso(at, sizeof(at));
	cf_room_emit("authenticated", NULL, "system_broadcast_received",
	    json_pack("{s:s,s:s,s:s,s:s,s:I}", "message", text, "priority",
	    prio, "from", who->name, "broadcastAt", at, "broadcastId",
	    (json_int_t)*bid));
	return (0);
}

/* channel_updated {channelId, changes (stolen), updatedBy, ...} to the room. */
static void
emit_updated(const struct cf_op_actor *who, int64_t id, json_t *changes)
{
	char room[48], at[32];

	cf_chat_channel_room(room, sizeof(room), id);
	cf_chat_now_iso(at, sizeof(at));
	cf_room_emit(room, NULL, "channel_updated",
	    json_pack("{s:I,s:o,s:o,s:s,s:s}", "channelId", (json_int_t)id,
	    "changes", changes, "updatedBy", actor_json(who),
	    "updaterName", who->name, "updatedAt", at));
}

int
cf_op_channel_changes_check(const json_t *changes, const char **bad)
{
	const char *key, *str;
	const json_t *v;

	*bad = NULL;
	json_object_foreach((json_t *)changes, key, v) {
		if (strcmp(key, "name") == 0) {
			if (cf_arg_text(v, CF_NAME_MAX, &str) == -1) {
				*bad = "name";
				return (-EINVAL);
			}
		} else if (strcmp(key, "description") == 0) {
			if (cf_arg_opt_str(changes, "description", CF_DESC_MAX,
			    &str) == -1) {
				*bad = "description";
				return (-EINVAL);
			}
		} else if (strcmp(key, "isPrivate") == 0) {
			if (!json_is_boolean(v)) {
				*bad = "isPrivate";
				return (-EINVAL);
			}
		} else {
			*bad = "*";
			return (-EINVAL);
		}
	}
	return (0);
}

int
cf_op_channel_update(const struct cf_op_actor *who, int64_t id,
    const json_t *changes, json_t **ch, const char **bad)
{
	int rc;

	*ch = NULL;
	if ((rc = cf_op_channel_changes_check(changes, bad)) != 0)
		return (rc);
	if ((rc = cf_store_channel_writable(cf_db(), id)) != 0 ||
	    (rc = not_direct(id)) != 0)
		return (rc);
	if ((rc = cf_store_channel_update(cf_db(), id, changes, who->user_id,
	    (int64_t)cf_wall_ms(), ch)) != 0)
		return (rc);
	emit_updated(who, id, json_deep_copy(changes));
	return (0);
}

int
cf_op_channel_archive(const struct cf_op_actor *who, int64_t id,
    json_t **ch)
{
	int rc, was;

	*ch = NULL;
	if ((rc = not_direct(id)) != 0)
		return (rc);
	if ((rc = cf_store_channel_archive(cf_db(), id, (int64_t)cf_wall_ms(),
	    ch, &was)) != 0)
		return (rc);
	if (!was)
		emit_updated(who, id, json_pack("{s:b}", "archived", 1));
	return (0);
}

int
cf_op_member_add(const struct cf_op_actor *who, int64_t id,
    const char *user_id, int *added)
{
	json_t *ch = NULL;
	int rc;

	*added = 0;
	if ((rc = cf_store_channel_writable(cf_db(), id)) != 0 ||
	    (rc = not_direct(id)) != 0)
		return (rc);
	if ((rc = cf_store_is_member(cf_db(), id, user_id)) < 0)
		return (rc);
	if (rc == 1)
		return (0);
	if ((rc = cf_store_member_add(cf_db(), id, user_id,
	    (int64_t)cf_wall_ms())) != 0 ||
	    (rc = cf_store_channel_get(cf_db(), id, &ch)) != 0)
		return (rc);
	*added = 1;
	tell_added(who, user_id, ch);
	json_decref(ch);
	return (0);
}

int
cf_op_member_remove(const struct cf_op_actor *who, int64_t id,
    const char *user_id, int *removed)
{
	int rc;

	*removed = 0;
	if ((rc = not_direct(id)) != 0 ||
	    (rc = cf_store_member_remove(cf_db(), id, user_id, removed)) != 0)
		return (rc);
	/* Every worker's sockets of the user leave the room (app.c). */
	if (*removed)
		(void)cf_room_server_emit(cf_w, CF_OP_MEMBER_REMOVED,
		    json_pack("{s:I,s:s,s:o}", "channelId", (json_int_t)id,
		    "userId", user_id, "removedBy", actor_json(who)));
	return (0);
}

/*
 * The first CF_EXCERPT_MAX characters of text (UTF-8, so never cut
 * inside one), with "…" when cut; a new string.
 */
#define CF_EXCERPT_MAX	100
static json_t *
excerpt(const char *text)
{
	size_t i, n = 0;

	for (i = 0; text[i] != '\0'; i++)
		if (((unsigned char)text[i] & 0xc0) != 0x80 &&
		    n++ == CF_EXCERPT_MAX) {
			char *cut;
			json_t *j;

			if ((cut = malloc(i + 4)) == NULL)
				return (NULL);
			memcpy(cut, text, i);
			memcpy(cut + i, "\xe2\x80\xa6", 4);
			j = json_string(cut);
			free(cut);
			return (j);
		}
	return (json_string(text));
}

/*
 * chat:mentioned for each mention of msg (its "mentions", the user ids)
 * to room user:<id>, on every worker and host; with ctx, queued behind
 * the message's replies until the batch commits.
 */
static void
tell_mentioned(const struct cf_op_actor *who, int64_t id, const json_t *msg,
    struct cf_event_ctx *ctx)
{
	const json_t *mentions = json_object_get(msg, "mentions"), *u;
	json_t *ch = NULL, *ev;
	char room[96], uid[CF_USER_ID_MAX];
	size_t i;

	if (json_array_size(mentions) == 0 ||
	    cf_store_channel_get(cf_db(), id, &ch) != 0)
		return;
	json_array_foreach(mentions, i, u) {
		if (cf_arg_user_id(u, INT64_MIN, uid, sizeof(uid)) == -1)
			continue;
		snprintf(room, sizeof(room), "user:%s", uid);
		ev = json_pack("{s:O,s:I,s:O,s:o,s:s,s:o}", "messageId",
		    json_object_get(msg, "id"), "channelId", (json_int_t)id,
		    "channelName", json_object_get(ch, "name"),
		    "fromUserId", actor_json(who), "fromDisplayName",
		    who->name, "excerpt", excerpt(json_string_value(
		    json_object_get(msg, "message"))));
		if (ev == NULL)
			continue;
		if (ctx != NULL)
			cf_batch_emit(room, "chat:mentioned", ev);
		else
			cf_room_emit(room, NULL, "chat:mentioned", ev);
	}
	json_decref(ch);
}

int
cf_op_message_send(const struct cf_op_actor *who, int64_t id,
    const char *text, const char *type, int64_t reply, const char *cmid,
    const json_t *mentions, struct cf_event_ctx *ctx, json_t **msg,
    int *dup)
{
	char room[48];
	int rc, tries;

	*msg = NULL;
	*dup = 0;
	cf_chat_channel_room(room, sizeof(room), id);
	if (ctx == NULL) {
		/* Committed before the answer: outside any group commit. */
		(void)cf_batch_flush();
		if ((rc = cf_store_message_insert_mentions(cf_db(), id,
		    who->user_id, who->name, text, type, reply, cmid,
		    mentions, (int64_t)cf_wall_ms(), msg, dup)) != 0)
			return (rc);
		if (!*dup) {
			cf_indexer_kick();
			cf_room_emit(room, NULL, "chat:new_message",
			    json_incref(*msg));
			tell_mentioned(who, id, *msg, NULL);
		}
		return (0);
	}
	/*
	 * Group commit (batch.h): the replies wait for the batch's COMMIT.
	 * -EAGAIN: another host's transaction holds the channel; commit ours
	 * (and its locks) first, then a new batch may wait for it.  Without
	 * mentions, the one statement of cf_store_message_insert.
	 */
	for (tries = 0;; tries++) {
		if ((rc = cf_batch_begin()) == 0)
			rc = mentions == NULL ?
			    cf_store_message_insert(cf_db(), id, who->user_id,
			    who->name, text, type, reply, cmid,
			    (int64_t)cf_wall_ms(), msg, dup) :
			    cf_store_message_insert_mentions(cf_db(), id,
			    who->user_id, who->name, text, type, reply, cmid,
			    mentions, (int64_t)cf_wall_ms(), msg, dup);
		if (rc != -EAGAIN || tries == 1)
			break;
		(void)cf_batch_flush();
	}
	if (rc != 0)
		return (rc);
	cf_batch_reply(ctx, cf_chat_ok_args(json_pack("{s:O}", "message",
	    *msg)), room, "chat:new_message", *dup ? NULL : json_incref(*msg));
	if (!*dup) {
		cf_indexer_kick();
		tell_mentioned(who, id, *msg, ctx);
	}
	return (0);
}

int
cf_op_user_disconnect(const char *user_id)
{
	char room[96];

	snprintf(room, sizeof(room), "user:%s", user_id);
	return (cf_room_disconnect(cf_w, room, 0) == -1 ? -EIO : 0);
}

int
cf_op_user_revoke(const char *user_id, int64_t before_ms)
{
	int rc;

	if ((rc = cf_store_revoke(cf_db(), user_id, before_ms)) != 0)
		return (rc);
	(void)cf_room_server_emit(cf_w, CF_OP_REVOKED, json_pack("{s:s,s:I}",
	    "userId", user_id, "before", (json_int_t)before_ms));
	return (0);
}

/*
 * The names a custom event may not take: the spec's and confabd's
 * server-to-client events, Socket.IO's reserved ones, and the prefixes of
 * present and future protocol events.  The client-to-server names come
 * from the event table (cf_app->event_name).
 */
static const char *const reserved_events[] = {
	"authenticated", "auth:error", "chat:new_message", "chat:error",
	"chat:user_typing", "message_read_receipt", "user_joined",
	"user_left", "presence_updated", "presence:update", "presence:error",
	"channel_updated", "system_broadcast_received", "broadcast:error",
	"file_upload_notification", "call:incoming", "call:accepted",
	"call:rejected", "call:ended", "call:ice_candidate", "call:error",
	"connect", "connect_error", "disconnect", "disconnecting",
	"newListener", "removeListener", NULL
};
static const char *const reserved_prefixes[] = {
	"chat:", "call:", "channel:", "presence:", "auth:", "broadcast:",
	"dm:", "confab:", NULL
};

static int
event_reserved(const char *name)
{
	const char *t;
	size_t i;

	for (i = 0; reserved_events[i] != NULL; i++)
		if (strcmp(name, reserved_events[i]) == 0)
			return (1);
	for (i = 0; reserved_prefixes[i] != NULL; i++)
		if (strncmp(name, reserved_prefixes[i],
		    strlen(reserved_prefixes[i])) == 0)
			return (1);
	for (i = 0; cf_app->event_name != NULL &&
	    (t = cf_app->event_name((unsigned)i)) != NULL; i++)
		if (strcmp(name, t) == 0)
			return (1);
	return (0);
}

/* A room an emit may name: user:<id>, channel:<id>, authenticated. */
static int
emit_room_ok(const char *room)
{
	const char *id;

	if (strcmp(room, "authenticated") == 0)
		return (1);
	if (strncmp(room, "user:", 5) == 0)
		id = room + 5;
	else if (strncmp(room, "channel:", 8) == 0) {
		id = room + 8;
		if (strspn(id, "0123456789") != strlen(id) || id[0] == '0')
			return (0);
	} else
		return (0);
	return (id[0] != '\0' && strlen(id) < CF_USER_ID_MAX);
}

int
cf_op_emit(const json_t *room, const json_t *event, const json_t *args,
    const char **bad)
{
	const char *r, *e;
	json_t *a, *v;
	size_t i;

	*bad = NULL;
	if (cf_arg_str(room, 1, 100, &r) == -1 || !emit_room_ok(r)) {
		*bad = "room";
		return (-EINVAL);
	}
	if (cf_arg_str(event, 1, 100, &e) == -1 || event_reserved(e)) {
		*bad = "event";
		return (-EINVAL);
	}
	if (args != NULL && !json_is_null(args) &&
	    (!json_is_array(args) || json_array_size(args) > 16)) {
		*bad = "args";
		return (-EINVAL);
	}
	if ((a = json_pack("[s]", e)) == NULL)
		return (-ENOMEM);
	json_array_foreach((json_t *)args, i, v)
		json_array_append(a, v);
	if (cf_room_broadcast(cf_w, &r, 1, NULL, a, NULL, 0) == -1) {
		json_decref(a);
		return (-EIO);
	}
	json_decref(a);
	return (0);
}
