/*
 * channels.c -- channels: join, leave, create, list, read a page of
 * messages, update; and who may know a channel (a private channel of
 * others answers as a missing one) and who may read or write it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/store.h"
#include "perm.h"
#include "util.h"
#include "app/args.h"
#include "app/chat.h"
#include "app/handlers.h"
#include "app/ops.h"
#include "fanout/room.h"

#define CF_LIMIT_DEFAULT	50
#define CF_ADD_MEMBERS_MAX	100	/* channel:add_members userIds */

/* ----------------------------------------------------------- channels */

/* Join this socket to a channel room; user_joined on the user's first. */
static void
channel_join_room(struct cf_sess *s, int64_t id)
{
	struct cf_chat *c = cf_chat_of(s);
	char room[48];
	void *p;

	if (cf_chat_joined(c, id))
		return;
	if (c->nchannels == c->capchannels) {
		uint32_t ncap = c->capchannels ? c->capchannels * 2 : 4;

		if ((p = realloc(c->channels, ncap * sizeof(*c->channels))) == NULL)
			return;
		c->channels = p;
		c->capchannels = ncap;
	}
	c->channels[c->nchannels++] = id;
	cf_chat_channel_room(room, sizeof(room), id);
	cf_room_join(cf_w, s, room);
	cf_presence_channel(s, id, 1, "join");
}

/*
 * Look channel id up for this user, who may know that it exists when it
 * is public or when the user is a member.  A private channel of others
 * answers exactly as a missing one (not_found "Channel not found"), so
 * that private ids cannot be probed.  *ch (may be NULL) receives the
 * channel (the caller owns it).  1 member, 0 not (a public channel), or
 * -1 when the client was told why not.
 */
static int
channel_known(struct cf_event_ctx *ctx, int64_t id, json_t **ch)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	json_t *o = NULL;
	int rc, member;

	if (ch != NULL)
		*ch = NULL;
	if ((rc = cf_store_channel_get(cf_db(), id, &o)) != 0) {
		cf_chat_fail_store(ctx, rc, "Channel");
		return (-1);
	}
	if ((member = cf_store_is_member(cf_db(), id, c->user_id)) < 0) {
		json_decref(o);
		cf_chat_fail_store(ctx, member, "Channel");
		return (-1);
	}
	if (member == 0 && json_is_true(json_object_get(o, "isPrivate"))) {
		json_decref(o);
		cf_chat_fail_store(ctx, -ENOENT, "Channel");
		return (-1);
	}
	if (ch != NULL)
		*ch = o;
	else
		json_decref(o);
	return (member);
}

/* The channel, checked for existence and (private) membership. */
static json_t *
visible_channel(struct cf_event_ctx *ctx, int64_t id, int join)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	json_t *ch = NULL;
	int rc;

	if ((rc = channel_known(ctx, id, &ch)) == -1)
		return (NULL);
	if (join && json_object_get(ch, "archivedAt") != NULL) {
		json_decref(ch);
		cf_chat_fail_store(ctx, -EROFS, "Channel");
		return (NULL);
	}
	if (rc == 0 && join &&
	    cf_store_member_add(cf_db(), id, c->user_id,
	    (int64_t)cf_wall_ms()) != 0) {
		json_decref(ch);
		cf_chat_fail(ctx, "internal", "Internal error");
		return (NULL);
	}
	return (ch);
}

void
cf_ev_join_channel(struct cf_event_ctx *ctx)
{
	int64_t id = ctx->v[CF_V_CHANNEL].i;
	json_t *ch;

	if ((ch = visible_channel(ctx, id, 1)) == NULL)
		return;
	channel_join_room(ctx->s, id);
	cf_chat_ack_ok(ctx, json_pack("{s:o}", "channel", ch));
}

void
cf_ev_leave_channel(struct cf_event_ctx *ctx)
{
	int64_t id = ctx->v[CF_V_CHANNEL].i;

	/*
	 * Leaving a channel this socket is not in is a no-op, when the user
	 * may know it exists (a private channel of others is "not found").
	 */
	if (!cf_chat_joined(cf_chat_of(ctx->s), id) &&
	    channel_known(ctx, id, NULL) == -1)
		return;
	cf_channel_leave(ctx->s, id, "leave");
	cf_chat_ack_ok(ctx, NULL);
}

void
cf_ev_channel_create(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	struct cf_op_actor who = { c->user_id, c->name };
	struct cf_op_channel a;
	const char *bad;
	json_t *ch = NULL;
	int rc;

	/* The values are checked by the operation the control socket shares. */
	a.name = ctx->v[CF_V_CREATE_NAME].j;
	a.description = ctx->v[CF_V_CREATE_DESC].j;
	a.priv = ctx->v[CF_V_CREATE_PRIV].j;
	a.members = ctx->v[CF_V_CREATE_MEMBERS].j;
	if ((rc = cf_op_channel_create(&who, &a, &ch, &bad)) != 0) {
		if (bad != NULL)
			cf_chat_invalid(ctx, bad);
		else
			cf_chat_fail_store(ctx, rc, "Channel");
		return;
	}
	channel_join_room(ctx->s, json_integer_value(json_object_get(ch,
	    "id")));
	cf_chat_ack_ok(ctx, json_pack("{s:o}", "channel", ch));
}

void
cf_ev_channel_list(struct cf_event_ctx *ctx)
{
	json_t *list = NULL;
	int rc;

	if ((rc = cf_store_channel_list_ex(cf_db(),
	    cf_chat_of(ctx->s)->user_id, ctx->v[CF_V_LIST_ARCHIVED].i ?
	    CF_STORE_LIST_ARCHIVED : 0, &list)) != 0) {
		cf_chat_fail_store(ctx, rc, "Channel");
		return;
	}
	cf_chat_ack_ok(ctx, json_pack("{s:o}", "channels", list));
}

/*
 * Membership for reading/writing a channel: joined here, or a member.  A
 * public channel of which the user is not a member is "forbidden"; a
 * private one is "not found", as a missing one (channel_known).
 */
int
cf_channel_need_member(struct cf_event_ctx *ctx, int64_t id)
{
	int rc;

	if (cf_chat_joined(cf_chat_of(ctx->s), id))
		return (0);
	if ((rc = channel_known(ctx, id, NULL)) == -1)
		return (-1);
	if (rc == 1)
		return (0);
	cf_chat_fail(ctx, "forbidden", "Not a member of this channel");
	return (-1);
}

void
cf_ev_get_messages(struct cf_event_ctx *ctx)
{
	int64_t id = ctx->v[CF_V_PAGE_CHANNEL].i;
	int64_t before = ctx->v[CF_V_PAGE_BEFORE].i;
	int64_t after = ctx->v[CF_V_PAGE_AFTER].i;
	json_t *msgs = NULL;
	int rc, more = 0, limit = CF_LIMIT_DEFAULT;

	if (ctx->v[CF_V_PAGE_LIMIT].set)
		limit = (int)ctx->v[CF_V_PAGE_LIMIT].i;
	if (cf_channel_need_member(ctx, id) == -1)
		return;
	/* Two statements: the page, the reactions of its messages. */
	if ((rc = cf_store_messages_page(cf_db(), id, before, after, limit,
	    &msgs, &more)) != 0 || (rc = cf_store_reactions_fill(cf_db(),
	    cf_chat_of(ctx->s)->user_id, msgs)) != 0) {
		json_decref(msgs);
		cf_chat_fail_store(ctx, rc, "Channel");
		return;
	}
	cf_chat_ack_ok(ctx, json_pack("{s:o,s:b}", "messages", msgs, "hasMore",
	    more));
}

void
cf_ev_channel_updated(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	struct cf_op_actor who = { c->user_id, c->name };
	const json_t *changes = ctx->v[CF_V_UPD_CHANGES].j;
	int64_t id = ctx->v[CF_V_UPD_CHANNEL].i;
	const char *bad;
	char what[48];
	json_t *ch = NULL;
	int rc;

	/*
	 * The values first; then manage_channels covers the public
	 * channels, and a private channel is changed by its members only
	 * (a non-member, admin or not, must not rename it or make it public
	 * to join it), and is "not found" to everyone else.
	 */
	if ((rc = cf_op_channel_changes_check(changes, &bad)) == 0 &&
	    channel_known(ctx, id, NULL) == -1)
		return;
	if (rc == 0)
		rc = cf_op_channel_update(&who, id, changes, &ch, &bad);
	if (rc == -EINVAL && bad != NULL) {
		if (strcmp(bad, "*") == 0)
			cf_chat_invalid(ctx, "changes may hold name, "
			    "description, isPrivate");
		else {
			snprintf(what, sizeof(what), "changes.%s", bad);
			cf_chat_invalid(ctx, what);
		}
		return;
	}
	if (rc != 0) {
		cf_chat_fail_store(ctx, rc, "Channel");
		return;
	}
	cf_chat_ack_ok(ctx, json_pack("{s:o}", "channel", ch));
}

/* ------------------------------------------------- members, archive, dm */

/*
 * channel:members: who may know the channel may list its members (a
 * private channel: its members only), each with the presence status
 * others see: offline when no socket of the user is connected anywhere,
 * else the status the user chose (online by default).
 */
void
cf_ev_channel_members(struct cf_event_ctx *ctx)
{
	int64_t id = ctx->v[CF_V_CH_CHANNEL].i;
	json_t *members = NULL, *ids = NULL, *st = NULL, *m, *v;
	char (*uid)[CF_ARG_USER_MAX] = NULL;
	size_t i, n;
	int rc;

	if (channel_known(ctx, id, NULL) == -1)
		return;
	if ((rc = cf_store_members(cf_db(), id, &members)) != 0) {
		cf_chat_fail_store(ctx, rc, "Channel");
		return;
	}
	/* The members' ids as text, for one read of their statuses. */
	n = json_array_size(members);
	if ((ids = json_array()) == NULL ||
	    (uid = calloc(n + 1, sizeof(*uid))) == NULL)
		goto fail;
	json_array_foreach(members, i, m)
		if (cf_arg_user_id(json_object_get(m, "userId"), INT64_MIN,
		    uid[i], sizeof(uid[i])) == -1 ||
		    json_array_append_new(ids, json_string(uid[i])) == -1)
			goto fail;
	if ((rc = cf_store_presence_statuses(cf_db(), ids, &st)) != 0)
		goto fail;
	json_array_foreach(members, i, m) {
		json_object_del(m, "joinedAt");
		if (cf_presence_count(uid[i]) == 0)
			v = json_string("offline");
		else if ((v = json_object_get(st, uid[i])) != NULL)
			v = json_incref(v);
		else
			v = json_string("online");
		json_object_set_new(m, "status", v);
	}
	json_decref(ids);
	json_decref(st);
	free(uid);
	cf_chat_ack_ok(ctx, json_pack("{s:I,s:o}", "channelId",
	    (json_int_t)id, "members", members));
	return;
 fail:
	json_decref(members);
	json_decref(ids);
	free(uid);
	cf_chat_fail(ctx, "internal", "Internal error");
}

/*
 * A member change or archive of channel id: the channel (which this user
 * may know), changed by a holder of chat.manage_channels or its creator
 * (a private one: a member too, as channel_known requires).  The
 * channel, or NULL when the client was told why not.
 */
static json_t *
channel_manageable(struct cf_event_ctx *ctx, int64_t id)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	json_t *ch = NULL, *me;
	int creator;

	if (channel_known(ctx, id, &ch) == -1)
		return (NULL);
	me = cf_chat_user_json(c);
	creator = me != NULL && json_equal(me, json_object_get(ch,
	    "createdBy"));
	json_decref(me);
	if (!creator && !(cf_chat_perms(c) & CF_PERM_MANAGE_CHANNELS)) {
		json_decref(ch);
		cf_chat_fail(ctx, "forbidden", "Permission denied");
		return (NULL);
	}
	return (ch);
}

void
cf_ev_channel_add_members(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	struct cf_op_actor who = { c->user_id, c->name };
	const json_t *arg = ctx->v[CF_V_ADD_USERS].j;
	int64_t id = ctx->v[CF_V_ADD_CHANNEL].i, known;
	json_t *ch, *ids = NULL, *added = NULL;
	char buf[CF_ARG_USER_MAX];
	size_t i, j;
	int rc = 0, one;

	if (!json_is_array(arg) || json_array_size(arg) == 0 ||
	    json_array_size(arg) > CF_ADD_MEMBERS_MAX) {
		cf_chat_invalid(ctx, "userIds (1 to 100 user ids)");
		return;
	}
	if ((ids = json_array()) == NULL || (added = json_array()) == NULL)
		goto fail;
	for (i = 0; i < json_array_size(arg); i++) {
		if (cf_arg_user_id(json_array_get(arg, i), 1, buf,
		    sizeof(buf)) == -1) {
			json_decref(ids);
			json_decref(added);
			cf_chat_invalid(ctx, "userIds (1 to 100 user ids)");
			return;
		}
		for (j = 0; j < json_array_size(ids); j++)
			if (strcmp(json_string_value(json_array_get(ids, j)),
			    buf) == 0)
				break;
		if (j == json_array_size(ids) &&
		    json_array_append_new(ids, json_string(buf)) == -1)
			goto fail;
	}
	if ((ch = channel_manageable(ctx, id)) == NULL) {
		json_decref(ids);
		json_decref(added);
		return;
	}
	json_decref(ch);
	/* Every user known, else nobody is added. */
	if ((rc = cf_store_users_known(cf_db(), ids, &known)) == 0 &&
	    known != (int64_t)json_array_size(ids))
		rc = -ENOENT;
	if (rc == -ENOENT) {
		cf_chat_fail(ctx, "not_found", "User not found");
		goto out;
	}
	for (i = 0; rc == 0 && i < json_array_size(ids); i++) {
		rc = cf_op_member_add(&who, id,
		    json_string_value(json_array_get(ids, i)), &one);
		if (rc == 0 && one)
			json_array_append_new(added, cf_store_user_id_json(
			    json_string_value(json_array_get(ids, i))));
	}
	if (rc != 0) {
		cf_chat_fail_store(ctx, rc, "Channel");
		goto out;
	}
	cf_chat_ack_ok(ctx, json_pack("{s:I,s:O}", "channelId",
	    (json_int_t)id, "added", added));
 out:
	json_decref(ids);
	json_decref(added);
	return;
 fail:
	json_decref(ids);
	json_decref(added);
	cf_chat_fail(ctx, "internal", "Internal error");
}

void
cf_ev_channel_remove_member(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	struct cf_op_actor who = { c->user_id, c->name };
	int64_t id = ctx->v[CF_V_RM_CHANNEL].i;
	const char *user = ctx->v[CF_V_RM_USER].s;
	json_t *ch;
	int rc, removed;

	if ((ch = channel_manageable(ctx, id)) == NULL)
		return;
	json_decref(ch);
	if ((rc = cf_op_member_remove(&who, id, user, &removed)) != 0) {
		cf_chat_fail_store(ctx, rc, "Channel");
		return;
	}
	if (!removed) {
		cf_chat_fail(ctx, "not_found", "Not a member of this channel");
		return;
	}
	cf_chat_ack_ok(ctx, json_pack("{s:I,s:o}", "channelId",
	    (json_int_t)id, "userId", cf_store_user_id_json(user)));
}

void
cf_ev_channel_archive(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	struct cf_op_actor who = { c->user_id, c->name };
	int64_t id = ctx->v[CF_V_CH_CHANNEL].i;
	json_t *ch = NULL;
	int rc;

	if (channel_known(ctx, id, NULL) == -1)
		return;
	if ((rc = cf_op_channel_archive(&who, id, &ch)) != 0) {
		cf_chat_fail_store(ctx, rc, "Channel");
		return;
	}
	cf_chat_ack_ok(ctx, json_pack("{s:o}", "channel", ch));
}

/*
 * dm:open: the direct channel with userId (opened by this socket, as a
 * channel it creates), the other user's sockets told when it is new.
 */
void
cf_ev_dm_open(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	struct cf_op_actor who = { c->user_id, c->name };
	json_t *ch = NULL;
	int rc, created;

	if ((rc = cf_op_dm_open(&who, ctx->v[CF_V_DM_USER].s, 0, &ch,
	    &created)) != 0) {
		cf_chat_fail_store(ctx, rc, rc == -ENOENT ? "User" : "Channel");
		return;
	}
	channel_join_room(ctx->s, json_integer_value(json_object_get(ch,
	    "id")));
	cf_chat_ack_ok(ctx, json_pack("{s:o,s:b}", "channel", ch, "created",
	    created));
}

void
cf_channel_leave(struct cf_sess *s, int64_t channel, const char *reason)
{
	struct cf_chat *c = cf_chat_of(s);
	char room[48];
	uint32_t i;

	for (i = 0; i < c->nchannels; i++)
		if (c->channels[i] == channel)
			break;
	if (i == c->nchannels)
		return;
	c->channels[i] = c->channels[--c->nchannels];
	cf_activity_typing_clear(s, channel, 1);
	cf_chat_channel_room(room, sizeof(room), channel);
	cf_room_leave(cf_w, s, room);
	cf_presence_channel(s, channel, -1, reason);
}

struct removed {
	int64_t		 channel;
	const json_t	*by;
};

static void
removed_one(struct cf_sess *s, void *arg)
{
	const struct removed *r = arg;

	cf_channel_leave(s, r->channel, "removed");
	cf_chat_emit(s, "channel:removed", json_pack("{s:I,s:O}", "channelId",
	    (json_int_t)r->channel, "removedBy", r->by));
}

void
cf_channel_removed(const json_t *args)
{
	struct removed r;
	const char *user;

	r.channel = json_integer_value(json_object_get(args, "channelId"));
	r.by = json_object_get(args, "removedBy");
	user = json_string_value(json_object_get(args, "userId"));
	if (r.channel <= 0 || user == NULL || r.by == NULL)
		return;
	cf_chat_each_of_user(user, removed_one, &r);
}
