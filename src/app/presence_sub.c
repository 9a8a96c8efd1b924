/*
 * presence_sub.c -- who receives a user's presence events
 * (presence-scope), and the presence subscriptions of a socket.
 *
 * The scopes are rooms, so that every worker and host delivers to its own
 * sockets through the relay as for any broadcast: "authenticated" (all),
 * the rooms "channel:<id>" of the user's channels (channels: one
 * broadcast naming them all, which delivers once per socket however many
 * of them it is in), or "presence:<id>" (subscribed: the room a socket
 * joins with presence:subscribe).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/store.h"
#include "log.h"
#include "app/args.h"
#include "app/chat.h"
#include "app/handlers.h"
#include "fanout/room.h"

enum scope { SCOPE_ALL, SCOPE_CHANNELS, SCOPE_SUBSCRIBED };

static enum scope
scope(void)
{
	const char *s = cf_w->conf->presence_scope;

	if (s != NULL && strcmp(s, "channels") == 0)
		return (SCOPE_CHANNELS);
	if (s != NULL && strcmp(s, "subscribed") == 0)
		return (SCOPE_SUBSCRIBED);
	return (SCOPE_ALL);
}

int
cf_presence_scope_all(void)
{
	return (scope() == SCOPE_ALL);
}

/* rooms[0..n) to every worker and host (relay) or this worker's (local). */
static void
send_rooms(const char *const *rooms, size_t n, const char *event,
    json_t *payload, int local)
{
	json_t *args;
	size_t i;

	if (payload == NULL || n == 0 ||
	    (args = json_pack("[so]", event, payload)) == NULL)
		return;
	if (cf_log_get_level() >= CF_LOG_DEBUG)
		cf_room_log_out("room=presence-scope", args);
	if (!local)
		(void)cf_room_broadcast(cf_w, rooms, n, NULL, args, NULL, 0);
	else
		/*
		 * Healing after a Redis outage only: a socket in several
		 * of the rooms gets the event once per room.
		 */
		for (i = 0; i < n; i++)
			cf_room_emit_local(rooms[i], NULL, event,
			    json_incref(json_array_get(args, 1)));
	json_decref(args);
}

/* The channel rooms of user_id's channels ("channel:<id>"). */
static void
emit_channels(const char *user_id, const char *event, json_t *payload,
    int local)
{
	json_t *ids = NULL;
	const char **rooms = NULL;
	char *names = NULL;
	size_t i, n = 0;

	if (cf_store_user_channel_ids(cf_db(), user_id, &ids) != 0)
		goto out;
	n = json_array_size(ids);
	if (n == 0 || (rooms = calloc(n, sizeof(*rooms))) == NULL ||
	    (names = calloc(n, 32)) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		snprintf(names + i * 32, 32, "channel:%lld", (long long)
		    json_integer_value(json_array_get(ids, i)));
		rooms[i] = names + i * 32;
	}
	send_rooms(rooms, n, event, json_incref(payload), local);
 out:
	free(rooms);
	free(names);
	json_decref(ids);
	json_decref(payload);
}

void
cf_presence_emit(const char *user_id, const char *event, json_t *payload,
    int local)
{
	char room[CF_ARG_USER_MAX + 16];
	const char *rooms[1] = { room };

	switch (scope()) {
	case SCOPE_CHANNELS:
		emit_channels(user_id, event, payload, local);
		return;
	case SCOPE_SUBSCRIBED:
		snprintf(room, sizeof(room), "presence:%s", user_id);
		break;
	case SCOPE_ALL:
	default:
		cf_strlcpy(room, "authenticated", sizeof(room));
		break;
	}
	send_rooms(rooms, 1, event, payload, local);
}

/* ------------------------------------------------------- subscriptions */

/*
 * The user ids of arg (1 to CF_PRESENCE_SUBS_MAX user ids) as strings,
 * without duplicates; NULL (answered invalid_payload) when malformed.
 */
static json_t *
user_ids(struct cf_event_ctx *ctx)
{
	const json_t *arg = ctx->v[CF_V_SUB_USERS].j;
	char buf[CF_ARG_USER_MAX];
	json_t *ids;
	size_t i, j;

	if (!json_is_array(arg) || json_array_size(arg) == 0 ||
	    json_array_size(arg) > CF_PRESENCE_SUBS_MAX ||
	    (ids = json_array()) == NULL) {
		cf_chat_invalid(ctx, "userIds (1 to 500 user ids)");
		return (NULL);
	}
	for (i = 0; i < json_array_size(arg); i++) {
		if (cf_arg_user_id(json_array_get(arg, i), 1, buf,
		    sizeof(buf)) == -1) {
			json_decref(ids);
			cf_chat_invalid(ctx, "userIds (1 to 500 user ids)");
			return (NULL);
		}
		for (j = 0; j < json_array_size(ids); j++)
			if (strcmp(json_string_value(json_array_get(ids, j)),
			    buf) == 0)
				break;
		if (j == json_array_size(ids))
			json_array_append_new(ids, json_string(buf));
	}
	return (ids);
}

static void
sub_room(char *room, size_t len, const json_t *id)
{
	snprintf(room, len, "presence:%s", json_string_value(id));
}

/* The current presence of ids: [{userId, status, connectionCount}]. */
static json_t *
statuses(const json_t *ids)
{
	json_t *list = json_array(), *st = NULL, *id, *v;
	const char *uid;
	uint32_t n;
	size_t i;

	if (list == NULL || cf_store_presence_statuses(cf_db(), ids, &st) != 0) {
		json_decref(list);
		return (NULL);
	}
	json_array_foreach(ids, i, id) {
		uid = json_string_value(id);
		n = cf_presence_count(uid);
		v = json_object_get(st, uid);
		json_array_append_new(list, json_pack("{s:o,s:s,s:I}",
		    "userId", cf_store_user_id_json(uid), "status", n == 0 ?
		    "offline" : json_is_string(v) ? json_string_value(v) :
		    "online", "connectionCount", (json_int_t)n));
	}
	json_decref(st);
	return (list);
}

void
cf_ev_presence_subscribe(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	char room[CF_ARG_USER_MAX + 16];
	json_t *ids, *id, *list;
	size_t i, fresh = 0;

	if ((ids = user_ids(ctx)) == NULL)
		return;
	json_array_foreach(ids, i, id) {
		sub_room(room, sizeof(room), id);
		if (!cf_room_has(ctx->s, room))
			fresh++;
	}
	if (c->npresence_subs + fresh > CF_PRESENCE_SUBS_MAX) {
		json_decref(ids);
		cf_chat_fail(ctx, "too_many_subscriptions",
		    "At most 500 presence subscriptions per socket");
		return;
	}
	json_array_foreach(ids, i, id) {
		sub_room(room, sizeof(room), id);
		if (cf_room_has(ctx->s, room))
			continue;
		if (cf_room_join(cf_w, ctx->s, room) == -1) {
			json_decref(ids);
			cf_chat_fail(ctx, "internal", "Internal error");
			return;
		}
		c->npresence_subs++;
	}
	if ((list = statuses(ids)) == NULL) {
		json_decref(ids);
		cf_chat_fail(ctx, "internal", "Internal error");
		return;
	}
	json_decref(ids);
	cf_event_ack(ctx, json_pack("[{s:b,s:o,s:I}]", "ok", 1, "users", list,
	    "subscribed", (json_int_t)c->npresence_subs));
}

void
cf_ev_presence_unsubscribe(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	char room[CF_ARG_USER_MAX + 16];
	json_t *ids, *id;
	size_t i;

	if ((ids = user_ids(ctx)) == NULL)
		return;
	json_array_foreach(ids, i, id) {
		sub_room(room, sizeof(room), id);
		if (!cf_room_has(ctx->s, room))
			continue;
		cf_room_leave(cf_w, ctx->s, room);
		c->npresence_subs--;
	}
	json_decref(ids);
	cf_event_ack(ctx, json_pack("[{s:b,s:I}]", "ok", 1, "subscribed",
	    (json_int_t)c->npresence_subs));
}
