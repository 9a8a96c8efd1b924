/*
 * chat.c -- authentication, channels, messages, receipts, typing, files,
 * channel updates and broadcasts: the handlers of the chat spec's events.
 *
 * Every handler validates its payload completely before it touches the
 * database or a room; a failure emits the spec's error event and answers
 * the ack with {ok:false, error:{code, message}}.  A write is committed
 * before anything is broadcast or acked: a chat message joins the loop
 * turn's group commit and its replies wait for it (batch.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/jwt.h"
#include "db/db.h"
#include "db/store.h"
#include "log.h"
#include "perm.h"
#include "shm/shm.h"
#include "util.h"
#include "app/args.h"
#include "app/batch.h"
#include "app/chat.h"
#include "app/ops.h"
#include "fanout/room.h"

#define CF_NAME_MAX		100
#define CF_DESC_MAX		1000
#define CF_CLIENT_MSG_ID_MAX	128
#define CF_FILE_NAME_MAX	255
#define CF_FILE_TYPE_MAX	100
#define CF_LIMIT_DEFAULT	50
#define CF_LIMIT_MAX		100

static const char *const message_types[] = {
	"text", "file", "image", "gif", "ticket_link", NULL
};

/* ------------------------------------------------------------ helpers */

static struct cf_chat *
chat(struct cf_sess *s)
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
static json_t *
ok_args(json_t *fields)
{
	json_t *o = fields != NULL ? fields : json_object();

	json_object_set_new(o, "ok", json_true());
	return (json_pack("[o]", o));
}

static void
ack_ok(struct cf_event_ctx *ctx, json_t *fields)
{
	cf_event_ack(ctx, ok_args(fields));
}

/* Map a store error to an ack code and message. */
static void
fail_store(struct cf_event_ctx *ctx, int rc, const char *what)
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
	case -EINVAL:
		cf_chat_fail(ctx, "invalid_payload", "Invalid value");
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

static int
need_perm(struct cf_event_ctx *ctx, uint32_t perm)
{
	if ((cf_chat_perms(chat(ctx->s)) & perm) == perm)
		return (0);
	cf_chat_fail(ctx, "forbidden", "Permission denied");
	return (-1);
}

static int
one_of(const char *s, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return (1);
	return (0);
}

/*
 * An optional string member: absent or null -> *out NULL and 0; a string
 * of at most max characters -> 0; anything else -> -1 with *why.
 */
static int
opt_str(const json_t *o, const char *key, size_t max, const char **out,
    const char **why)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_string(v) || cf_arg_utf8_len(json_string_value(v)) > max ||
	    memchr(json_string_value(v), '\0', json_string_length(v)) != NULL) {
		*why = key;
		return (-1);
	}
	*out = json_string_value(v);
	return (0);
}

static void
invalid(struct cf_event_ctx *ctx, const char *what)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "Invalid payload: %s", what);
	cf_chat_fail(ctx, "invalid_payload", msg);
}

static void
channel_room(char *buf, size_t len, int64_t id)
{
	snprintf(buf, len, "channel:%lld", (long long)id);
}

static int
joined(const struct cf_chat *c, int64_t id)
{
	uint32_t i;

	for (i = 0; i < c->nchannels; i++)
		if (c->channels[i] == id)
			return (1);
	return (0);
}

static json_t *
user_json(const struct cf_chat *c)
{
	return (cf_store_user_id_json(c->user_id));
}

/* ----------------------------------------------------------- timers */

static void
timer_update(struct cf_sess *s)
{
	struct cf_chat *c = chat(s);
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

static void
emit_typing(struct cf_sess *s, int64_t channel, int is_typing)
{
	struct cf_chat *c = chat(s);
	char room[48];

	channel_room(room, sizeof(room), channel);
	cf_room_emit(room, s, "chat:user_typing",
	    json_pack("{s:o,s:s,s:b,s:I}", "userId", user_json(c),
	    "userDisplayName", c->name, "isTyping", is_typing, "channelId",
	    (json_int_t)channel));
}

/* Clear a typing state; with notify, tell the channel. */
static void
typing_clear(struct cf_sess *s, int64_t channel, int notify)
{
	struct cf_chat *c = chat(s);
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

void
cf_chat_timer(struct cf_sess *s)
{
	struct cf_chat *c = chat(s);
	uint64_t now = cf_now_ms();
	uint32_t i;

	if (c == NULL)
		return;
	if (!c->authed && c->auth_deadline != 0 && now >= c->auth_deadline) {
		cf_chat_auth_timeout(s);
		cf_sess_close(s, "authentication timeout", CF_CLOSE_GRACEFUL);
		return;
	}
	if (c->authed && c->exp != 0 &&
	    (int64_t)cf_wall_ms() >= c->exp * 1000) {
		cf_chat_emit(s, "auth:error", json_string("Token expired"));
		cf_sock_disconnect(s, 0);
		return;
	}
	for (i = 0; i < c->ntyping;) {
		if (c->typing[i].until <= now)
			typing_clear(s, c->typing[i].channel, 1);
		else
			i++;
	}
	timer_update(s);
}

/* ---------------------------------------------------- connect, leave */

static void
leave_channel(struct cf_sess *s, int64_t channel, const char *reason)
{
	struct cf_chat *c = chat(s);
	char room[48];
	uint32_t i;

	for (i = 0; i < c->nchannels; i++)
		if (c->channels[i] == channel)
			break;
	if (i == c->nchannels)
		return;
	c->channels[i] = c->channels[--c->nchannels];
	typing_clear(s, channel, 1);
	channel_room(room, sizeof(room), channel);
	cf_room_leave(cf_w, s, room);
	cf_presence_channel(s, channel, -1, reason);
}

static int authenticate(struct cf_event_ctx *ctx, const char *token);

void
cf_chat_connected(struct cf_sess *s)
{
	struct cf_event_ctx ctx;
	struct cf_chat *c;
	const json_t *tok;

	if (s->app == NULL && (s->app = calloc(1, sizeof(*c))) == NULL) {
		cf_sock_disconnect(s, 1);
		return;
	}
	c = s->app;
	/*
	 * A session that never authenticated has its deadline from its
	 * start (session.c), which a new CONNECT does not move; one that
	 * authenticated, left "/" and came back has auth-timeout again.
	 */
	c->auth_deadline = s->unauth ? 0 :
	    cf_now_ms() + cf_w->conf->auth_timeout_ms;
	timer_update(s);
	tok = json_object_get(s->auth, "token");
	if (json_is_string(tok)) {
		memset(&ctx, 0, sizeof(ctx));
		ctx.s = s;
		ctx.name = "authenticate";
		ctx.ack_id = -1;
		ctx.errev = "auth:error";
		(void)authenticate(&ctx, json_string_value(tok));
	}
}

/*
 * auth-timeout passed: the socket hears why and is disconnected; the
 * caller closes the session (the Engine.IO transport) right after.
 */
void
cf_chat_auth_timeout(struct cf_sess *s)
{
	if (!s->connected)
		return;
	cf_chat_emit(s, "auth:error", json_string("Authentication timeout"));
	cf_sock_disconnect(s, 0);
}

void
cf_chat_disconnected(struct cf_sess *s, const char *reason)
{
	struct cf_chat *c = chat(s);

	(void)reason;
	if (c == NULL)
		return;
	if (c->authed) {
		cf_call_tab_gone(s);
		while (c->nchannels > 0)
			leave_channel(s, c->channels[c->nchannels - 1],
			    "disconnect");
		cf_presence_down(s);
	}
	free(c->channels);
	free(c->typing);
	free(c);
	s->app = NULL;
	s->app_deadline = 0;
}

/* ----------------------------------------------------- authentication */

static json_t *
perm_names(uint32_t perms)
{
	json_t *a = json_array();
	uint32_t bit;

	for (bit = 1; bit <= CF_PERM_ALL; bit <<= 1)
		if ((perms & bit) && cf_perm_name(bit) != NULL)
			json_array_append_new(a, json_string(cf_perm_name(bit)));
	return (a);
}

/*
 * A token whose role no role line names authenticates with no permission:
 * say so at warn, at most once per CF_ROLE_WARN_MS per worker (a token is
 * the client's input: a flood of them must not flood the log), with the
 * configured roles and the directive that would give it permissions.
 */
#define CF_ROLE_WARN_MS	10000

static void
warn_unknown_role(const struct cf_chat *c)
{
	static uint64_t last;
	static unsigned suppressed;
	char roles[256];
	size_t o = 0;
	uint64_t now = cf_now_ms();
	int i;

	if (last != 0 && now - last < CF_ROLE_WARN_MS) {
		suppressed++;
		return;
	}
	roles[0] = '\0';
	for (i = 0; i < cf_w->conf->nroles && o < sizeof(roles); i++)
		o += (size_t)snprintf(roles + o, sizeof(roles) - o, "%s%s",
		    i > 0 ? " " : "", cf_w->conf->roles[i].name);
	cf_log_warnx("user %s authenticated with role \"%s\", which is not "
	    "configured: no permissions (role names are case-sensitive; "
	    "configured: %s; \"role %s PERMISSION...\" in the configuration "
	    "gives it some, see confabd.conf(5)); %u more such tokens since "
	    "the previous line", c->user_id, c->role, roles, c->role,
	    suppressed);
	last = now;
	suppressed = 0;
}

static int
authenticate(struct cf_event_ctx *ctx, const char *token)
{
	const struct cf_conf *conf = cf_w->conf;
	struct cf_sess *s = ctx->s;
	struct cf_chat *c = chat(s);
	struct cf_jwt_keys keys;
	struct cf_claims cl;
	const char *why = "Invalid token";
	char room[96];
	json_t *user;
	int rc, first;

	memset(&keys, 0, sizeof(keys));
	keys.algorithm = conf->jwt_algorithm;
	if (strncmp(conf->jwt_algorithm, "HS", 2) == 0) {
		keys.key = (const uint8_t *)conf->jwt_secret;
		keys.keylen = conf->jwt_secret ? strlen(conf->jwt_secret) : 0;
		if (conf->jwt_secret_previous != NULL) {
			keys.prev_key = (const uint8_t *)conf->jwt_secret_previous;
			keys.prev_keylen = strlen(conf->jwt_secret_previous);
		}
	} else {
		keys.key = (const uint8_t *)conf->jwt_public_key_pem;
		keys.keylen = conf->jwt_public_key_len;
	}
	keys.issuer = conf->jwt_issuer;
	keys.audience = conf->jwt_audience;
	keys.leeway_s = conf->jwt_leeway_ms / 1000;
	if (keys.key == NULL || keys.keylen == 0) {
		cf_chat_fail(ctx, "not_authenticated", "Authentication unavailable");
		return (-1);
	}
	rc = cf_jwt_verify(&keys, token, (int64_t)(cf_wall_ms() / 1000), &cl,
	    &why);
	if (rc != CF_JWT_OK) {
		/* A token without a usable user id is just an invalid one. */
		cf_chat_fail(ctx, "not_authenticated",
		    rc == CF_JWT_NO_USER ? "Invalid token" : why);
		return (-1);
	}
	if (c->authed) {
		if (strcmp(c->user_id, cl.user_id) != 0) {
			cf_chat_fail(ctx, "forbidden",
			    "Already authenticated as another user");
			return (-1);
		}
	} else {
		if (cf_presence_count(cl.user_id) >=
		    conf->max_connections_per_user) {
			cf_chat_fail(ctx, "too_many_connections",
			    "Too many connections");
			cf_sock_disconnect(s, 0);
			return (-1);
		}
	}
	cf_strlcpy(c->user_id, cl.user_id, sizeof(c->user_id));
	cf_strlcpy(c->name, cl.display_name, sizeof(c->name));
	cf_strlcpy(c->role, cl.role, sizeof(c->role));
	c->perms = cl.has_permissions ? cl.permissions : 0;
	c->perms_from_role = !cl.has_permissions;
	c->exp = cl.exp;
	if (cf_store_user_upsert(cf_db(), c->user_id, c->name, c->role,
	    (int64_t)cf_wall_ms()) != 0) {
		cf_chat_fail(ctx, "internal", "Internal error");
		return (-1);
	}
	first = !c->authed;
	if (first) {
		c->authed = 1;
		cf_sess_authenticated(s);
		cf_room_join(cf_w, s, "authenticated");
		snprintf(room, sizeof(room), "user:%s", c->user_id);
		cf_room_join(cf_w, s, room);
		cf_presence_up(s);
	}
	timer_update(s);
	user = json_pack("{s:o,s:s,s:s,s:o}", "userId", user_json(c),
	    "displayName", c->name, "role", c->role, "permissions",
	    perm_names(cf_chat_perms(c)));
	if (c->perms_from_role && !cf_conf_role_known(cf_w->conf, c->role)) {
		warn_unknown_role(c);
		json_object_set_new(user, "roleWarning", json_string("Role "
		    "not configured on the server: no permissions"));
	}
	cf_chat_emit(s, "authenticated", json_incref(user));
	ack_ok(ctx, json_pack("{s:o}", "user", user));
	if (first)
		cf_presence_snapshot(s);
	return (0);
}

void
cf_ev_authenticate(struct cf_event_ctx *ctx)
{
	const json_t *v = json_array_get(ctx->args, 0);

	/* The spec sends the bare token; {token} is accepted too. */
	if (json_is_object(v))
		v = json_object_get(v, "token");
	if (!json_is_string(v) || json_string_length(v) == 0) {
		cf_chat_fail(ctx, "not_authenticated", "Invalid token");
		return;
	}
	(void)authenticate(ctx, json_string_value(v));
}

/* ----------------------------------------------------------- channels */

/* Join this socket to a channel room; user_joined on the user's first. */
static void
join_room(struct cf_sess *s, int64_t id)
{
	struct cf_chat *c = chat(s);
	char room[48];
	void *p;

	if (joined(c, id))
		return;
	if (c->nchannels == c->capchannels) {
		uint32_t ncap = c->capchannels ? c->capchannels * 2 : 4;

		if ((p = realloc(c->channels, ncap * sizeof(*c->channels))) == NULL)
			return;
		c->channels = p;
		c->capchannels = ncap;
	}
	c->channels[c->nchannels++] = id;
	channel_room(room, sizeof(room), id);
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
known_channel(struct cf_event_ctx *ctx, int64_t id, json_t **ch)
{
	struct cf_chat *c = chat(ctx->s);
	json_t *o = NULL;
	int rc, member;

	if (ch != NULL)
		*ch = NULL;
	if ((rc = cf_store_channel_get(cf_db(), id, &o)) != 0) {
		fail_store(ctx, rc, "Channel");
		return (-1);
	}
	if ((member = cf_store_is_member(cf_db(), id, c->user_id)) < 0) {
		json_decref(o);
		fail_store(ctx, member, "Channel");
		return (-1);
	}
	if (member == 0 && json_is_true(json_object_get(o, "isPrivate"))) {
		json_decref(o);
		fail_store(ctx, -ENOENT, "Channel");
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
	struct cf_chat *c = chat(ctx->s);
	json_t *ch = NULL;
	int rc;

	if ((rc = known_channel(ctx, id, &ch)) == -1)
		return (NULL);
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
	int64_t id;
	json_t *ch;

	if (need_perm(ctx, CF_PERM_CHAT_ACCESS) == -1)
		return;
	if (cf_arg_id(json_array_get(ctx->args, 0), &id) == -1) {
		invalid(ctx, "channelId");
		return;
	}
	if ((ch = visible_channel(ctx, id, 1)) == NULL)
		return;
	join_room(ctx->s, id);
	ack_ok(ctx, json_pack("{s:o}", "channel", ch));
}

void
cf_ev_leave_channel(struct cf_event_ctx *ctx)
{
	int64_t id;

	if (cf_arg_id(json_array_get(ctx->args, 0), &id) == -1) {
		invalid(ctx, "channelId");
		return;
	}
	/*
	 * Leaving a channel this socket is not in is a no-op, when the user
	 * may know it exists (a private channel of others is "not found").
	 */
	if (!joined(chat(ctx->s), id) && known_channel(ctx, id, NULL) == -1)
		return;
	leave_channel(ctx->s, id, "leave");
	ack_ok(ctx, NULL);
}

void
cf_ev_channel_create(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = chat(ctx->s);
	const json_t *o = json_array_get(ctx->args, 0);
	struct cf_op_actor who = { c->user_id, c->name };
	struct cf_op_channel a;
	const char *bad;
	json_t *ch = NULL;
	int rc;

	if (need_perm(ctx, CF_PERM_CREATE_CHANNELS) == -1)
		return;
	if (!json_is_object(o)) {
		invalid(ctx, "expected an object");
		return;
	}
	a.name = json_object_get(o, "name");
	a.description = json_object_get(o, "description");
	a.priv = json_object_get(o, "isPrivate");
	a.members = json_object_get(o, "memberIds");
	if ((rc = cf_op_channel_create(&who, &a, &ch, &bad)) != 0) {
		if (bad != NULL)
			invalid(ctx, bad);
		else
			fail_store(ctx, rc, "Channel");
		return;
	}
	join_room(ctx->s, json_integer_value(json_object_get(ch, "id")));
	ack_ok(ctx, json_pack("{s:o}", "channel", ch));
}

void
cf_ev_channel_list(struct cf_event_ctx *ctx)
{
	json_t *list = NULL;
	int rc;

	if (need_perm(ctx, CF_PERM_CHAT_ACCESS) == -1)
		return;
	if ((rc = cf_store_channel_list(cf_db(), chat(ctx->s)->user_id,
	    &list)) != 0) {
		fail_store(ctx, rc, "Channel");
		return;
	}
	ack_ok(ctx, json_pack("{s:o}", "channels", list));
}

/*
 * Membership for reading/writing a channel: joined here, or a member.  A
 * public channel of which the user is not a member is "forbidden"; a
 * private one is "not found", as a missing one (known_channel).
 */
static int
need_member(struct cf_event_ctx *ctx, int64_t id)
{
	int rc;

	if (joined(chat(ctx->s), id))
		return (0);
	if ((rc = known_channel(ctx, id, NULL)) == -1)
		return (-1);
	if (rc == 1)
		return (0);
	cf_chat_fail(ctx, "forbidden", "Not a member of this channel");
	return (-1);
}

void
cf_ev_get_messages(struct cf_event_ctx *ctx)
{
	const json_t *o = json_array_get(ctx->args, 0), *v;
	int64_t id, before, after;
	json_t *msgs = NULL;
	int rc, more = 0, limit = CF_LIMIT_DEFAULT;

	if (need_perm(ctx, CF_PERM_CHAT_ACCESS) == -1)
		return;
	if (!json_is_object(o) || cf_arg_id(json_object_get(o, "channelId"), &id)) {
		invalid(ctx, "channelId");
		return;
	}
	if (cf_arg_opt_id(o, "before", &before) || cf_arg_opt_id(o, "after", &after) ||
	    (before != 0 && after != 0)) {
		invalid(ctx, "before/after");
		return;
	}
	v = json_object_get(o, "limit");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > CF_LIMIT_MAX) {
			invalid(ctx, "limit (1..100)");
			return;
		}
		limit = (int)json_integer_value(v);
	}
	if (need_member(ctx, id) == -1)
		return;
	if ((rc = cf_store_messages_page(cf_db(), id, before, after, limit,
	    &msgs, &more)) != 0) {
		fail_store(ctx, rc, "Channel");
		return;
	}
	ack_ok(ctx, json_pack("{s:o,s:b}", "messages", msgs, "hasMore", more));
}

void
cf_ev_channel_updated(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = chat(ctx->s);
	const json_t *o = json_array_get(ctx->args, 0), *ch_in, *v;
	const char *key, *s, *why;
	json_t *ch = NULL, *changes;
	char room[48], at[32];
	int64_t id;
	int rc;

	if (need_perm(ctx, CF_PERM_MANAGE_CHANNELS) == -1)
		return;
	if (!json_is_object(o) || cf_arg_id(json_object_get(o, "channelId"), &id)) {
		invalid(ctx, "channelId");
		return;
	}
	ch_in = json_object_get(o, "changes");
	if (!json_is_object(ch_in) || json_object_size(ch_in) == 0) {
		invalid(ctx, "changes");
		return;
	}
	json_object_foreach((json_t *)ch_in, key, v) {
		if (strcmp(key, "name") == 0) {
			if (opt_str(ch_in, "name", CF_NAME_MAX, &s, &why) == -1 ||
			    s == NULL || cf_arg_blank(s)) {
				invalid(ctx, "changes.name");
				return;
			}
		} else if (strcmp(key, "description") == 0) {
			if (opt_str(ch_in, "description", CF_DESC_MAX, &s, &why)) {
				invalid(ctx, "changes.description");
				return;
			}
		} else if (strcmp(key, "isPrivate") == 0) {
			if (!json_is_boolean(v)) {
				invalid(ctx, "changes.isPrivate");
				return;
			}
		} else {
			invalid(ctx, "changes may hold name, description, "
			    "isPrivate");
			return;
		}
	}
	/*
	 * manage_channels covers the public channels; a private channel is
	 * changed by its members only (a non-member, admin or not, must not
	 * rename it or make it public to join it), and is "not found" to
	 * everyone else.
	 */
	if (known_channel(ctx, id, NULL) == -1)
		return;
	rc = cf_store_channel_update(cf_db(), id, ch_in, c->user_id,
	    (int64_t)cf_wall_ms(), &ch);
	if (rc != 0) {
		fail_store(ctx, rc, "Channel");
		return;
	}
	changes = json_deep_copy(ch_in);
	channel_room(room, sizeof(room), id);
	cf_chat_now_iso(at, sizeof(at));
	cf_room_emit(room, NULL, "channel_updated",
	    json_pack("{s:I,s:o,s:o,s:s,s:s}", "channelId", (json_int_t)id,
	    "changes", changes, "updatedBy", user_json(c), "updaterName",
	    c->name, "updatedAt", at));
	ack_ok(ctx, json_pack("{s:o}", "channel", ch));
}

/* ----------------------------------------------------------- messages */

static void
broadcast_message(int64_t channel, json_t *msg)
{
	char room[48];

	channel_room(room, sizeof(room), channel);
	cf_room_emit(room, NULL, "chat:new_message", json_incref(msg));
}

void
cf_ev_send_message(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = chat(ctx->s);
	const json_t *o = json_array_get(ctx->args, 0);
	const char *text, *type, *cmid, *why;
	json_t *msg = NULL;
	char room[48];
	int64_t id, reply;
	int rc, dup = 0, tries;

	if (need_perm(ctx, CF_PERM_CHAT_ACCESS | CF_PERM_SEND_MESSAGES) == -1)
		return;
	if (!json_is_object(o) || cf_arg_id(json_object_get(o, "channelId"), &id)) {
		invalid(ctx, "channelId");
		return;
	}
	if (!json_is_string(json_object_get(o, "message"))) {
		invalid(ctx, "message");
		return;
	}
	if (opt_str(o, "message", cf_w->conf->max_message_length, &text,
	    &why) == -1 || text == NULL || cf_arg_blank(text)) {
		invalid(ctx, "message (empty or too long)");
		return;
	}
	if (opt_str(o, "messageType", 32, &type, &why) == -1 ||
	    (type != NULL && !one_of(type, message_types))) {
		invalid(ctx, "messageType");
		return;
	}
	if (cf_arg_opt_id(o, "replyToId", &reply) == -1) {
		invalid(ctx, "replyToId");
		return;
	}
	if (opt_str(o, "clientMsgId", CF_CLIENT_MSG_ID_MAX, &cmid, &why) ==
	    -1 || (cmid != NULL && *cmid == '\0')) {
		invalid(ctx, "clientMsgId");
		return;
	}
	if (need_member(ctx, id) == -1)
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
		fail_store(ctx, rc, rc == -ENOENT && reply ? "Reply target" :
		    "Channel");
		return;
	}
	channel_room(room, sizeof(room), id);
	cf_batch_reply(ctx, ok_args(json_pack("{s:O}", "message", msg)), room,
	    "chat:new_message", dup ? NULL : json_incref(msg));
	json_decref(msg);
}

void
cf_ev_message_read(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = chat(ctx->s);
	const json_t *o = json_array_get(ctx->args, 0);
	int64_t id, mid, pos = 0;
	char room[48], at[32];
	int rc;

	if (need_perm(ctx, CF_PERM_CHAT_ACCESS) == -1)
		return;
	if (!json_is_object(o) || cf_arg_id(json_object_get(o, "channelId"), &id)) {
		invalid(ctx, "channelId");
		return;
	}
	if (cf_arg_opt_id(o, "messageId", &mid) == -1) {
		invalid(ctx, "messageId");
		return;
	}
	if (need_member(ctx, id) == -1)
		return;
	if ((rc = cf_store_read_set(cf_db(), id, c->user_id, mid,
	    (int64_t)cf_wall_ms(), &pos)) != 0) {
		fail_store(ctx, rc, "Message");
		return;
	}
	channel_room(room, sizeof(room), id);
	cf_chat_now_iso(at, sizeof(at));
	cf_room_emit(room, NULL, "message_read_receipt",
	    json_pack("{s:o,s:s,s:I,s:o,s:s}", "userId", user_json(c),
	    "userDisplayName", c->name, "channelId", (json_int_t)id,
	    "messageId", pos ? json_integer(pos) : json_null(), "readAt", at));
	ack_ok(ctx, json_pack("{s:o}", "messageId",
	    pos ? json_integer(pos) : json_null()));
}

void
cf_ev_typing(struct cf_event_ctx *ctx)
{
	struct cf_sess *s = ctx->s;
	struct cf_chat *c = chat(s);
	const json_t *o = json_array_get(ctx->args, 0), *v;
	uint32_t i;
	int64_t id;
	void *p;

	if (need_perm(ctx, CF_PERM_CHAT_ACCESS) == -1)
		return;
	if (!json_is_object(o) || cf_arg_id(json_object_get(o, "channelId"), &id)) {
		invalid(ctx, "channelId");
		return;
	}
	v = json_object_get(o, "isTyping");
	if (!json_is_boolean(v)) {
		invalid(ctx, "isTyping");
		return;
	}
	if (!joined(c, id)) {
		cf_chat_fail(ctx, "forbidden", "Join the channel first");
		return;
	}
	if (json_is_false(v)) {
		typing_clear(s, id, 1);
		timer_update(s);
		ack_ok(ctx, NULL);
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
	timer_update(s);
	ack_ok(ctx, NULL);
}

void
cf_ev_file_uploaded(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = chat(ctx->s);
	const json_t *o = json_array_get(ctx->args, 0), *v;
	const char *fname, *ftype, *why;
	json_t *msg = NULL;
	char room[48], at[32];
	int64_t id, mid, size;
	int rc, dup = 0, created = 0;

	if (need_perm(ctx, CF_PERM_CHAT_ACCESS | CF_PERM_SEND_MESSAGES) == -1)
		return;
	if (!json_is_object(o) || cf_arg_id(json_object_get(o, "channelId"), &id)) {
		invalid(ctx, "channelId");
		return;
	}
	if (opt_str(o, "fileName", CF_FILE_NAME_MAX, &fname, &why) == -1 ||
	    fname == NULL || cf_arg_blank(fname)) {
		invalid(ctx, "fileName");
		return;
	}
	if (opt_str(o, "fileType", CF_FILE_TYPE_MAX, &ftype, &why) == -1 ||
	    ftype == NULL || cf_arg_blank(ftype)) {
		invalid(ctx, "fileType");
		return;
	}
	v = json_object_get(o, "fileSize");
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		invalid(ctx, "fileSize");
		return;
	}
	size = json_integer_value(v);
	if (cf_arg_opt_id(o, "messageId", &mid) == -1) {
		invalid(ctx, "messageId");
		return;
	}
	if (need_member(ctx, id) == -1)
		return;
	if (mid != 0) {
		if ((rc = cf_store_message_get(cf_db(), mid, &msg)) != 0) {
			fail_store(ctx, rc, "Message");
			return;
		}
		if (json_integer_value(json_object_get(msg, "channelId")) != id) {
			json_decref(msg);
			fail_store(ctx, -ENOENT, "Message");
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
			fail_store(ctx, rc, "Channel");
			return;
		}
		mid = json_integer_value(json_object_get(msg, "id"));
		created = 1;
	}
	if ((rc = cf_store_file_add(cf_db(), mid, fname, size, ftype,
	    c->user_id, (int64_t)cf_wall_ms())) != 0) {
		json_decref(msg);
		fail_store(ctx, rc, "Message");
		return;
	}
	json_object_set_new(msg, "file", json_pack("{s:s,s:I,s:s}",
	    "fileName", fname, "fileSize", (json_int_t)size, "fileType", ftype));
	if (created)
		broadcast_message(id, msg);
	channel_room(room, sizeof(room), id);
	cf_chat_now_iso(at, sizeof(at));
	cf_room_emit(room, NULL, "file_upload_notification",
	    json_pack("{s:I,s:I,s:o,s:s,s:s,s:I,s:s,s:s}", "messageId",
	    (json_int_t)mid, "channelId", (json_int_t)id, "uploadedBy",
	    user_json(c), "uploaderName", c->name, "fileName", fname,
	    "fileSize", (json_int_t)size, "fileType", ftype, "uploadedAt", at));
	ack_ok(ctx, json_pack("{s:o}", "message", msg));
}

void
cf_ev_system_broadcast(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = chat(ctx->s);
	const json_t *o = json_array_get(ctx->args, 0);
	struct cf_op_actor who = { c->user_id, c->name };
	const char *bad;
	int64_t bid = 0;

	if (need_perm(ctx, CF_PERM_SEND_BROADCASTS) == -1)
		return;
	if (!json_is_object(o)) {
		invalid(ctx, "message");
		return;
	}
	if (cf_op_broadcast(&who, json_object_get(o, "message"),
	    json_object_get(o, "priority"), &bid, &bad) != 0) {
		if (bad != NULL)
			invalid(ctx, bad);
		else
			cf_chat_fail(ctx, "internal", "Internal error");
		return;
	}
	ack_ok(ctx, json_pack("{s:I}", "broadcastId", (json_int_t)bid));
}
