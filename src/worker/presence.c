/*
 * presence.c -- who is online, over every tab on every worker.
 *
 * Counts live in the shared-memory table (shm.h): "u:<id>" counts a user's
 * authenticated sockets, "c:<channel>:u:<id>" those in a channel.  The
 * worker whose change takes a count from 0 to 1 or back announces it, so
 * each edge is announced once on the host.  When a worker dies, the master
 * purges its counts and hands the keys that fell to 0 to a live worker,
 * which announces them (cf_presence_gone).  With presence-broadcast off the
 * counts are kept but connections and disconnections are not announced.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/store.h"
#include "log.h"
#include "shm/shm.h"
#include "util.h"
#include "worker/chat.h"
#include "worker/room.h"

#define CF_STATUS_TEXT_MAX	200

static const char *const statuses[] = {
	"online", "away", "busy", "offline", NULL
};

static int
valid_status(const char *s)
{
	size_t i;

	for (i = 0; statuses[i] != NULL; i++)
		if (strcmp(s, statuses[i]) == 0)
			return (1);
	return (0);
}

/* statusMessage / customStatus: absent, null, or <= 200 characters. */
static int
text_ok(const json_t *v)
{
	const char *p;
	size_t n = 0;

	if (v == NULL || json_is_null(v))
		return (1);
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return (0);
	for (p = json_string_value(v); *p != '\0'; p++)
		if (((unsigned char)*p & 0xc0) != 0x80)
			n++;
	return (n <= CF_STATUS_TEXT_MAX);
}

static uint32_t
add(const char *key, int delta)
{
	uint32_t total = 0;

	if (cf_shm_presence_add(cf_w->shm, cf_w->slot, key, delta, &total) ==
	    -1) {
		cf_log_warn("presence %s", key);
		return (cf_shm_presence_get(cf_w->shm, key));
	}
	return (total);
}

/* The stored status of a user ("online" when none). */
static json_t *
stored(const char *user_id)
{
	json_t *p = NULL;

	if (cf_store_presence_get(cf_db(), user_id, &p) != 0 || p == NULL)
		p = json_pack("{s:s,s:n,s:n}", "status", "online",
		    "statusMessage", "customStatus");
	return (p);
}

static void
emit_update(const char *user_id, const char *status, uint32_t count)
{
	cf_chat_emit_room("authenticated", NULL, "presence:update",
	    json_pack("{s:o,s:s,s:I}", "userId", cf_store_user_id_json(user_id),
	    "status", status, "connectionCount", (json_int_t)count));
}

static void
emit_updated(const char *user_id, const char *name, json_t *p,
    const char *reason)
{
	char at[32];

	cf_chat_now_iso(at, sizeof(at));
	cf_chat_emit_room("authenticated", NULL, "presence_updated",
	    json_pack("{s:o,s:s,s:O,s:O,s:O,s:s,s:s}", "userId",
	    cf_store_user_id_json(user_id), "userDisplayName", name, "status",
	    json_object_get(p, "status"), "statusMessage",
	    json_object_get(p, "statusMessage"), "customStatus",
	    json_object_get(p, "customStatus"), "timestamp", at, "reason",
	    reason));
}

static json_t *
offline(void)
{
	return (json_pack("{s:s,s:n,s:n}", "status", "offline",
	    "statusMessage", "customStatus"));
}

void
cf_presence_up(struct cf_sess *s)
{
	struct cf_chat *c = s->app;
	char key[CF_SHM_USER_MAX];
	uint32_t n;
	json_t *p;

	snprintf(key, sizeof(key), "u:%s", c->user_id);
	n = add(key, 1);
	if (!cf_w->conf->presence_broadcast)
		return;
	p = stored(c->user_id);
	/* "Came online" first, then the count, as for going offline. */
	if (n == 1)
		emit_updated(c->user_id, c->name, p, "connect");
	emit_update(c->user_id, json_string_value(json_object_get(p, "status")),
	    n);
	json_decref(p);
}

void
cf_presence_down(struct cf_sess *s)
{
	struct cf_chat *c = s->app;
	char key[CF_SHM_USER_MAX];
	uint32_t n;
	json_t *p;

	snprintf(key, sizeof(key), "u:%s", c->user_id);
	n = add(key, -1);
	if (!cf_w->conf->presence_broadcast)
		return;
	if (n > 0) {
		p = stored(c->user_id);
		emit_update(c->user_id,
		    json_string_value(json_object_get(p, "status")), n);
		json_decref(p);
		return;
	}
	p = offline();
	emit_updated(c->user_id, c->name, p, "disconnect");
	emit_update(c->user_id, "offline", 0);
	json_decref(p);
}

uint32_t
cf_presence_channel(struct cf_sess *s, int64_t channel, int delta)
{
	struct cf_chat *c = s->app;
	char key[CF_SHM_USER_MAX];

	snprintf(key, sizeof(key), "c:%lld:u:%s", (long long)channel,
	    c->user_id);
	return (add(key, delta));
}

void
cf_presence_gone(struct cf_worker *w, const char *key)
{
	char name[128], room[48], at[32];
	long long channel;
	const char *uid;
	json_t *p;
	int off;

	(void)w;
	if (strncmp(key, "u:", 2) == 0) {
		uid = key + 2;
		if (cf_shm_presence_get(cf_w->shm, key) != 0 ||
		    !cf_w->conf->presence_broadcast)
			return;		/* back already, or not announced */
		if (cf_store_user_name(cf_db(), uid, name, sizeof(name)) != 0)
			cf_strlcpy(name, uid, sizeof(name));
		p = offline();
		emit_updated(uid, name, p, "disconnect");
		emit_update(uid, "offline", 0);
		json_decref(p);
		return;
	}
	if (sscanf(key, "c:%lld:u:%n", &channel, &off) == 1 && off > 0) {
		uid = key + off;
		if (cf_shm_presence_get(cf_w->shm, key) != 0)
			return;
		if (cf_store_user_name(cf_db(), uid, name, sizeof(name)) != 0)
			cf_strlcpy(name, uid, sizeof(name));
		snprintf(room, sizeof(room), "channel:%lld", channel);
		cf_chat_now_iso(at, sizeof(at));
		cf_chat_emit_room(room, NULL, "chat:user_typing",
		    json_pack("{s:o,s:s,s:b,s:I}", "userId",
		    cf_store_user_id_json(uid), "userDisplayName", name,
		    "isTyping", 0, "channelId", (json_int_t)channel));
		cf_chat_emit_room(room, NULL, "user_left",
		    json_pack("{s:o,s:s,s:I,s:s,s:s}", "userId",
		    cf_store_user_id_json(uid), "userDisplayName", name,
		    "channelId", (json_int_t)channel, "leftAt", at, "reason",
		    "disconnect"));
	}
}

/* ------------------------------------------------------------ events */

void
cf_ev_update_presence(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = ctx->s->app;
	const json_t *o = json_array_get(ctx->args, 0), *st, *sm, *cs;
	char key[CF_SHM_USER_MAX];
	json_t *p;

	if (!json_is_object(o)) {
		cf_chat_fail(ctx, "invalid_payload", "Invalid payload: expected "
		    "an object");
		return;
	}
	st = json_object_get(o, "status");
	sm = json_object_get(o, "statusMessage");
	cs = json_object_get(o, "customStatus");
	if (!json_is_string(st) || !valid_status(json_string_value(st))) {
		cf_chat_fail(ctx, "invalid_payload", "Invalid status");
		return;
	}
	if (!text_ok(sm) || !text_ok(cs)) {
		cf_chat_fail(ctx, "invalid_payload",
		    "Invalid statusMessage or customStatus");
		return;
	}
	if (cf_store_presence_set(cf_db(), c->user_id, json_string_value(st),
	    json_is_string(sm) ? json_string_value(sm) : NULL,
	    json_is_string(cs) ? json_string_value(cs) : NULL,
	    (int64_t)cf_wall_ms()) != 0) {
		cf_chat_fail(ctx, "internal", "Internal error");
		return;
	}
	p = stored(c->user_id);
	emit_updated(c->user_id, c->name, p, "status_change");
	snprintf(key, sizeof(key), "u:%s", c->user_id);
	emit_update(c->user_id, json_string_value(st),
	    cf_shm_presence_get(cf_w->shm, key));
	cf_event_ack(ctx, json_pack("[{s:b,s:o}]", "ok", 1, "presence", p));
}

void
cf_ev_presence_set_status(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = ctx->s->app;
	const json_t *st = json_array_get(ctx->args, 0);
	char key[CF_SHM_USER_MAX];
	json_t *p;

	if (!json_is_string(st) || !valid_status(json_string_value(st))) {
		cf_chat_fail(ctx, "invalid_payload", "Invalid status");
		return;
	}
	p = stored(c->user_id);
	if (cf_store_presence_set(cf_db(), c->user_id, json_string_value(st),
	    json_string_value(json_object_get(p, "statusMessage")),
	    json_string_value(json_object_get(p, "customStatus")),
	    (int64_t)cf_wall_ms()) != 0) {
		json_decref(p);
		cf_chat_fail(ctx, "internal", "Internal error");
		return;
	}
	json_decref(p);
	snprintf(key, sizeof(key), "u:%s", c->user_id);
	emit_update(c->user_id, json_string_value(st),
	    cf_shm_presence_get(cf_w->shm, key));
	cf_event_ack(ctx, json_pack("[{s:b}]", "ok", 1));
}

static int
collect(void *arg, const char *key, uint32_t total)
{
	json_t *list = arg, *p;

	if (strncmp(key, "u:", 2) != 0 || total == 0)
		return (0);
	p = stored(key + 2);
	json_array_append_new(list, json_pack("{s:o,s:O,s:I}", "userId",
	    cf_store_user_id_json(key + 2), "status",
	    json_object_get(p, "status"), "connectionCount",
	    (json_int_t)total));
	json_decref(p);
	return (0);
}

void
cf_ev_presence_online_users(struct cf_event_ctx *ctx)
{
	json_t *list = json_array();

	(void)cf_shm_presence_each(cf_w->shm, collect, list);
	/* The spec's form: the callback receives the array itself. */
	cf_event_ack(ctx, json_pack("[o]", list));
}
