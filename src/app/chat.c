/*
 * chat.c -- the chat application's per-socket state (struct cf_chat), its
 * timer deadline (authentication deadline, token expiry, typing), and the
 * helpers every handler shares (chat.h): emitting to the socket, failing
 * and acking, permissions.
 *
 * The handlers live one file per concern (handlers.h): auth.c,
 * channels.c, messages.c, activity.c (receipts, typing, files),
 * broadcast.c, presence.c, call.c; the event table and the socket's life
 * from CONNECT to disconnect are app.c.  Every handler validates its payload
 * completely before it touches the database or a room; a failure emits
 * the spec's error event and answers the ack with {ok:false, error:{code,
 * message}}.  A write is committed before anything is broadcast or acked:
 * a chat message joins the loop turn's group commit and its replies wait
 * for it (batch.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/store.h"
#include "log.h"
#include "perm.h"
#include "util.h"
#include "app/args.h"
#include "app/chat.h"
#include "fanout/room.h"
#include "eio/recover.h"

/* ------------------------------------------------------------ helpers */

struct cf_chat *
cf_chat_of(struct cf_sess *s)
{
	return (s->app);
}

int
cf_chat_authed(const struct cf_sess *s)
{
	const struct cf_chat *c = s->app;

	return (c != NULL && c->authed);
}

void
cf_chat_now_iso(char *buf, size_t len)
{
	cf_store_iso8601((int64_t)cf_wall_ms(), buf, len);
}

/*
 * At log-level debug, one line per event sent to a socket (sid, user);
 * the emits to a room log theirs in the fan-out (cf_room_emit).  The
 * caller checked the level.
 */
static void
log_out(const struct cf_sess *s, const json_t *args)
{
	const struct cf_chat *c = s->app;
	char to[160], user[80];

	cf_log_value(user, sizeof(user), c != NULL && c->authed ?
	    c->user_id : "-");
	snprintf(to, sizeof(to), "sid=%s user=%s", s->connected ? s->id : "-",
	    user);
	cf_room_log_out(to, args);
}

void
cf_chat_emit(struct cf_sess *s, const char *event, json_t *payload)
{
	json_t *args;

	if (payload == NULL)
		return;
	if ((args = json_pack("[so]", event, payload)) == NULL)
		return;
	if (cf_log_get_level() >= CF_LOG_DEBUG)
		log_out(s, args);
	(void)cf_sock_emit(s, args, NULL, 0, NULL, NULL);
	json_decref(args);
}

void
cf_chat_fail(struct cf_event_ctx *ctx, const char *code, const char *message)
{
	cf_chat_emit(ctx->s, ctx->errev ? ctx->errev : "chat:error",
	    json_string(message));
	cf_event_ack_error(ctx, code, message);
}

/* The arguments of an {ok:true, ...fields} ack (fields stolen). */
json_t *
cf_chat_ok_args(json_t *fields)
{
	json_t *o = fields != NULL ? fields : json_object();

	json_object_set_new(o, "ok", json_true());
	return (json_pack("[o]", o));
}

void
cf_chat_ack_ok(struct cf_event_ctx *ctx, json_t *fields)
{
	cf_event_ack(ctx, cf_chat_ok_args(fields));
}

/* Map a store error to an ack code and message. */
void
cf_chat_fail_store(struct cf_event_ctx *ctx, int rc, const char *what)
{
	char msg[128];

	switch (rc) {
	case -ENOENT:
		snprintf(msg, sizeof(msg), "%s not found", what);
		cf_chat_fail(ctx, "not_found", msg);
		break;
	case -EEXIST:
		snprintf(msg, sizeof(msg), "%s already exists", what);
		cf_chat_fail(ctx, "conflict", msg);
		break;
	case -EROFS:
		snprintf(msg, sizeof(msg), "%s is archived", what);
		cf_chat_fail(ctx, "forbidden", msg);
		break;
	case -EINVAL:
		cf_chat_fail(ctx, "invalid_payload", "Invalid value");
		break;
	case -EPERM:
		cf_chat_fail(ctx, "forbidden", "Not allowed on a direct channel");
		break;
	default:
		cf_chat_fail(ctx, "internal", "Internal error");
		break;
	}
}

uint32_t
cf_chat_perms(const struct cf_chat *c)
{
	if (c->perms_from_role)
		return (cf_conf_role_perms(cf_w->conf, c->role));
	return (c->perms);
}

void
cf_chat_invalid(struct cf_event_ctx *ctx, const char *what)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "Invalid payload: %s", what);
	cf_chat_fail(ctx, "invalid_payload", msg);
}

void
cf_chat_channel_room(char *buf, size_t len, int64_t id)
{
	snprintf(buf, len, "channel:%lld", (long long)id);
}

int
cf_chat_joined(const struct cf_chat *c, int64_t id)
{
	uint32_t i;

	for (i = 0; i < c->nchannels; i++)
		if (c->channels[i] == id)
			return (1);
	return (0);
}

json_t *
cf_chat_user_json(const struct cf_chat *c)
{
	return (cf_store_user_id_json(c->user_id));
}

/* ----------------------------------------------------------- timers */

void
cf_chat_timer_update(struct cf_sess *s)
{
	struct cf_chat *c = cf_chat_of(s);
	uint64_t next = 0, t;
	uint32_t i;

	if (c == NULL)
		return;
	if (!c->authed)
		next = c->auth_deadline;
	else if (c->exp != 0) {
		/* Monotonic deadline for a wall-clock expiry. */
		int64_t left = c->exp * 1000 - (int64_t)cf_wall_ms();

		next = cf_now_ms() + (left > 0 ? (uint64_t)left : 0);
	}
	for (i = 0; i < c->ntyping; i++) {
		t = c->typing[i].until;
		if (next == 0 || t < next)
			next = t;
	}
	s->app_deadline = next;
	cf_sess_timer_update(s);
}

void
cf_chat_each_of_user(const char *user_id,
    void (*fn)(struct cf_sess *s, void *arg), void *arg)
{
	const struct cf_room *r;
	char room[96], (*ids)[2][24];
	struct cf_sess *s;
	uint32_t i, n;

	snprintf(room, sizeof(room), "user:%s", user_id);
	if ((r = cf_room_find(cf_w, room)) == NULL || r->n == 0)
		return;
	n = r->n;
	if ((ids = calloc(n, sizeof(*ids))) == NULL)
		return;
	for (i = 0; i < n; i++) {
		cf_strlcpy(ids[i][0], r->members[i]->sid, sizeof(ids[i][0]));
		cf_strlcpy(ids[i][1], r->members[i]->id, sizeof(ids[i][1]));
	}
	/* Sockets held for recovery too: what happens to the user's sockets
	 * happens to them (eio/recover.h). */
	for (i = 0; i < n; i++)
		if (((s = cf_sess_find(cf_w, ids[i][0])) != NULL ||
		    (s = cf_recover_find(cf_w, ids[i][1])) != NULL) &&
		    cf_chat_authed(s))
			fn(s, arg);
	free(ids);
}
