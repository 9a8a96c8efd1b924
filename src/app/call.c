/*
 * call.c -- 1:1 call signalling: the spec's call events as a state machine
 * whose state lives in the database, so that the two parties may sit on
 * any worker (and, with a shared database, any host).
 *
 * Every transition is a conditional update (store_call.c), so when two tabs race
 * (two accepts, an accept against a cancel, the ring timeout against an
 * answer) exactly one wins and only the winner tells the parties.  Tabs are
 * addressed through rooms: "user:<id>" for every tab of a user, and
 * "sock:<socket id>" for the one tab in the call (joined on invite and on
 * accept).
 *
 * Timers are per worker: the inviting worker arms the ring timeout, the
 * worker of a tab that disconnects mid-call arms the disconnect grace.
 * When a worker dies with its timers, the periodic sweep ends what is left.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "db/db.h"
#include "db/store.h"
#include "log.h"
#include "perm.h"
#include "shm/shm.h"
#include "util.h"
#include "app/args.h"
#include "app/chat.h"
#include "app/handlers.h"
#include "fanout/room.h"

#define CF_CALL_HISTORY_DEF	50
/*
 * Calls that cannot ring (the target offline: missed; the target or the
 * caller in a call: busy) are recorded in both histories only while the
 * caller started fewer than CF_NORING_MAX calls within
 * CF_NORING_WINDOW_MS, so that nobody can fill another user's history.
 */
#define CF_NORING_MAX		10
#define CF_NORING_WINDOW_MS	60000

enum { T_RING = 1, T_GRACE };

struct call_timer {
	struct call_timer	*next;
	int64_t			 call;
	int			 kind;
	char			 sock[32];	/* T_GRACE: the tab that went away */
	uv_timer_t		 t;
};

/* The module's state, cf_w->call (proc.h). */
struct cf_call_state {
	struct call_timer	*timers;
	uv_timer_t		 sweeper;
	int			 sweeper_on;
};

/* ------------------------------------------------------------ helpers */

static const char *
uid(struct cf_sess *s)
{
	return (((struct cf_chat *)s->app)->user_id);
}

static void
emit_user(const char *user, const struct cf_sess *except, const char *event,
    json_t *payload)
{
	char room[96];

	snprintf(room, sizeof(room), "user:%s", user);
	cf_room_emit(room, except, event, payload);
}

static void
emit_sock(const char *sock, const char *event, json_t *payload)
{
	char room[64];

	if (sock[0] == '\0') {
		json_decref(payload);
		return;
	}
	snprintf(room, sizeof(room), "sock:%s", sock);
	cf_room_emit(room, NULL, event, payload);
}

static json_t *
ended(int64_t id, const char *reason)
{
	return (json_pack("{s:I,s:s}", "callId", (json_int_t)id, "reason",
	    reason));
}

/* This tab takes part in call id (or none, id 0). */
static void
set_tab_call(struct cf_sess *s, int64_t id)
{
	struct cf_chat *c = s->app;
	char room[64];

	snprintf(room, sizeof(room), "sock:%s", s->id);
	if (id != 0)
		(void)cf_room_join(cf_w, s, room);
	c->call_id = id;
}

/* "audio" or "video", compared as C text (a NUL inside ends it). */
int
cf_call_type_ok(const json_t *v)
{
	return (json_is_string(v) && (strcmp(json_string_value(v),
	    "audio") == 0 || strcmp(json_string_value(v), "video") == 0));
}

static void
bad(struct cf_event_ctx *ctx, const char *what)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "Invalid payload: %s", what);
	cf_chat_fail(ctx, "invalid_payload", msg);
}

/* Load call id and check that this user is one of its parties. */
static int
load_party(struct cf_event_ctx *ctx, int64_t id, struct cf_call *call)
{
	int rc;

	if ((rc = cf_store_call_get(cf_db(), id, call)) != 0) {
		if (rc == -ENOENT)
			cf_chat_fail(ctx, "not_found", "Call not found");
		else
			cf_chat_fail(ctx, "internal", "Internal error");
		return (-1);
	}
	if (strcmp(call->caller, uid(ctx->s)) != 0 &&
	    strcmp(call->callee, uid(ctx->s)) != 0) {
		cf_chat_fail(ctx, "forbidden", "Not a party to this call");
		return (-1);
	}
	return (0);
}

static void
ack_call(struct cf_event_ctx *ctx, int64_t id)
{
	cf_event_ack(ctx, json_pack("[{s:b,s:I}]", "ok", 1, "callId",
	    (json_int_t)id));
}

/* -------------------------------------------------------------- timers */

static void
timer_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
timer_drop(struct call_timer *ct)
{
	struct call_timer **p;

	for (p = &cf_w->call->timers; *p != NULL; p = &(*p)->next)
		if (*p == ct) {
			*p = ct->next;
			break;
		}
	uv_close((uv_handle_t *)&ct->t, timer_closed);
}

static void
timers_cancel(int64_t call, int kind)
{
	struct call_timer *ct, *next;

	for (ct = cf_w->call->timers; ct != NULL; ct = next) {
		next = ct->next;
		if (ct->call == call && (kind == 0 || ct->kind == kind))
			timer_drop(ct);
	}
}

static void timer_fired(uv_timer_t *t);

static void
timer_arm(int64_t call, int kind, const char *sock, uint64_t ms)
{
	struct call_timer *ct;

	if ((ct = calloc(1, sizeof(*ct))) == NULL)
		return;
	ct->call = call;
	ct->kind = kind;
	if (sock != NULL)
		cf_strlcpy(ct->sock, sock, sizeof(ct->sock));
	uv_timer_init(&cf_w->loop, &ct->t);
	ct->t.data = ct;
	ct->next = cf_w->call->timers;
	cf_w->call->timers = ct;
	uv_timer_start(&ct->t, timer_fired, ms, 0);
}

/* Ring timeout: missed, both parties told. */
static void
ring_expired(int64_t id)
{
	struct cf_call call;

	if (cf_store_call_transition(cf_db(), id, "ringing", "missed", NULL,
	    (int64_t)cf_wall_ms(), &call) != 0)
		return;		/* answered, rejected or cancelled meanwhile */
	emit_sock(call.caller_sock, "call:ended", ended(id, "timeout"));
	emit_user(call.callee, NULL, "call:ended", ended(id, "timeout"));
}

/* A tab of the call went away and did not come back within the grace. */
static void
grace_expired(int64_t id, const char *sock)
{
	struct cf_call call;

	if (cf_store_call_get(cf_db(), id, &call) != 0)
		return;
	if (strcmp(call.status, "active") == 0) {
		if (strcmp(sock, call.caller_sock) != 0 &&
		    strcmp(sock, call.callee_sock) != 0)
			return;
		if (cf_store_call_transition(cf_db(), id, "active", "ended",
		    NULL, (int64_t)cf_wall_ms(), &call) != 0)
			return;
		if (strcmp(sock, call.caller_sock) == 0)
			emit_sock(call.callee_sock, "call:ended",
			    ended(id, "disconnect"));
		else
			emit_sock(call.caller_sock, "call:ended",
			    ended(id, "disconnect"));
		return;
	}
	/* The caller's inviting tab left while it rang: stop the ringing. */
	if (strcmp(call.status, "ringing") == 0 &&
	    strcmp(sock, call.caller_sock) == 0 &&
	    cf_store_call_transition(cf_db(), id, "ringing", "missed", NULL,
	    (int64_t)cf_wall_ms(), &call) == 0)
		emit_user(call.callee, NULL, "call:ended",
		    ended(id, "disconnect"));
}

static void
timer_fired(uv_timer_t *t)
{
	struct call_timer *ct = t->data;
	int64_t id = ct->call;
	char sock[32];
	int kind = ct->kind;

	cf_strlcpy(sock, ct->sock, sizeof(sock));
	timer_drop(ct);
	if (kind == T_RING)
		ring_expired(id);
	else
		grace_expired(id, sock);
}

void
cf_call_tab_gone(struct cf_sess *s)
{
	struct cf_chat *c = s->app;

	if (c == NULL || c->call_id == 0)
		return;
	/*
	 * Handing over to a new generation: this worker exits before a grace
	 * would expire, and the tab comes back under another socket id (nor
	 * can the sweep tell, the user being back): the call ends now.
	 */
	if (cf_w->handover)
		grace_expired(c->call_id, s->id);
	else
		timer_arm(c->call_id, T_GRACE, s->id,
		    cf_w->conf->call_disconnect_grace_ms);
	c->call_id = 0;
}

/* ------------------------------------------------------------- sweep */

static void
swept_ringing(void *arg, const struct cf_call *call)
{
	(void)arg;
	emit_sock(call->caller_sock, "call:ended", ended(call->id, "timeout"));
	emit_user(call->callee, NULL, "call:ended", ended(call->id, "timeout"));
}

static void
check_live(void *arg, const struct cf_call *call)
{
	int gone_a, gone_b;
	struct cf_call after;

	(void)arg;
	if (strcmp(call->status, "active") != 0)
		return;
	gone_a = cf_presence_count(call->caller) == 0;
	gone_b = cf_presence_count(call->callee) == 0;
	if (!gone_a && !gone_b)
		return;
	if (cf_store_call_transition(cf_db(), call->id, "active", "ended",
	    NULL, (int64_t)cf_wall_ms(), &after) != 0)
		return;
	if (!gone_a)
		emit_sock(after.caller_sock, "call:ended",
		    ended(after.id, "disconnect"));
	if (!gone_b)
		emit_sock(after.callee_sock, "call:ended",
		    ended(after.id, "disconnect"));
}

/*
 * Calls whose worker died with its timers: ringing past the ring timeout
 * (plus a margin) become missed; active calls with a party that has no
 * tab left are ended.  Every worker sweeps; the conditional updates make
 * sure each call is ended once.
 */
static void
sweep(uv_timer_t *t)
{
	int64_t now = (int64_t)cf_wall_ms();

	(void)t;
	(void)cf_store_call_sweep_ringing(cf_db(), now -
	    (int64_t)cf_w->conf->call_ring_timeout_ms - 5000, now,
	    swept_ringing, NULL);
	(void)cf_store_call_live(cf_db(), check_live, NULL);
}

int
cf_call_init(struct cf_worker *w)
{
	if ((w->call = calloc(1, sizeof(*w->call))) == NULL)
		return (-1);
	return (0);
}

/* The timers still listed were closed with the loop: only memory now. */
void
cf_call_free(struct cf_worker *w)
{
	struct call_timer *ct;

	if (w->call == NULL)
		return;
	while ((ct = w->call->timers) != NULL) {
		w->call->timers = ct->next;
		free(ct);
	}
	free(w->call);
	w->call = NULL;
}

void
cf_call_start(struct cf_worker *w)
{
	struct cf_call_state *cs = w->call;
	uint64_t every = w->conf->cleanup_interval_ms;

	uv_timer_init(&w->loop, &cs->sweeper);
	uv_timer_start(&cs->sweeper, sweep, every, every);
	uv_unref((uv_handle_t *)&cs->sweeper);
	cs->sweeper_on = 1;
}

void
cf_call_stop(struct cf_worker *w)
{
	struct cf_call_state *cs = w->call;

	while (cs->timers != NULL)
		timer_drop(cs->timers);
	if (cs->sweeper_on) {
		uv_close((uv_handle_t *)&cs->sweeper, NULL);
		cs->sweeper_on = 0;
	}
}

/* ------------------------------------------------------------- events */

void
cf_ev_call_invite(struct cf_event_ctx *ctx)
{
	struct cf_sess *s = ctx->s;
	struct cf_chat *c = s->app;
	const json_t *type = ctx->v[CF_V_INVITE_TYPE].j;
	const json_t *offer = ctx->v[CF_V_INVITE_OFFER].j;
	const char *target = ctx->v[CF_V_INVITE_TARGET].s;
	struct cf_call call;
	uint32_t perm;
	int busy = 0, rc;

	/* The permission depends on the call type: checked after the fields. */
	perm = strcmp(json_string_value(type), "audio") == 0 ?
	    CF_PERM_CALL_AUDIO : CF_PERM_CALL_VIDEO;
	if ((cf_chat_perms(c) & perm) == 0) {
		cf_chat_fail(ctx, "forbidden", "Permission denied");
		return;
	}
	if (strcmp(target, c->user_id) == 0) {
		bad(ctx, "cannot call yourself");
		return;
	}
	if (cf_presence_count(target) == 0) {
		/*
		 * The callee's history gets the missed call only when the
		 * callee is a known user and the caller is within
		 * CF_NORING_MAX; the answer is the same either way.
		 */
		(void)cf_store_call_missed_known(cf_db(), c->user_id, target,
		    json_string_value(type), (int64_t)cf_wall_ms(),
		    (int64_t)cf_wall_ms() - CF_NORING_WINDOW_MS, CF_NORING_MAX,
		    &call);
		cf_chat_fail(ctx, "not_found", "User is offline");
		return;
	}
	rc = cf_store_call_create(cf_db(), c->user_id, target,
	    json_string_value(type), s->id, (int64_t)cf_wall_ms(),
	    (int64_t)cf_wall_ms() - CF_NORING_WINDOW_MS, CF_NORING_MAX, &call,
	    &busy);
	if (rc != 0 && !(rc == -EAGAIN && busy)) {
		cf_chat_fail(ctx, "internal", "Internal error");
		return;
	}
	if (busy) {
		/* Over CF_NORING_MAX: not recorded, so no call to reject. */
		if (rc == 0)
			cf_chat_emit(s, "call:rejected", json_pack("{s:I,s:s}",
			    "callId", (json_int_t)call.id, "reason", "busy"));
		cf_event_ack_error(ctx, "busy", "User is busy");
		return;
	}
	set_tab_call(s, call.id);
	timer_arm(call.id, T_RING, NULL, cf_w->conf->call_ring_timeout_ms);
	emit_user(target, NULL, "call:incoming",
	    json_pack("{s:I,s:o,s:s,s:O,s:O}", "callId", (json_int_t)call.id,
	    "from", cf_store_user_id_json(c->user_id), "fromName", c->name,
	    "callType", type, "offer", offer));
	cf_chat_emit(s, "call:ringing", json_pack("{s:I,s:o}", "callId",
	    (json_int_t)call.id, "targetUserId", cf_store_user_id_json(target)));
	ack_call(ctx, call.id);
}

/*
 * The callee answers a ringing call: to "active" (sock = the answering
 * tab) or "rejected".  0 with *call as it now is, or -1 when the client
 * was told why not (unknown call, not the callee, no longer ringing).
 */
static int
callee_moves(struct cf_event_ctx *ctx, int64_t id, const char *to,
    const char *sock, struct cf_call *call)
{
	int rc;

	if (load_party(ctx, id, call) == -1)
		return (-1);
	if (strcmp(call->callee, uid(ctx->s)) != 0) {
		cf_chat_fail(ctx, "forbidden", "Only the callee may answer");
		return (-1);
	}
	rc = cf_store_call_transition(cf_db(), id, "ringing", to, sock,
	    (int64_t)cf_wall_ms(), call);
	if (rc != 0) {
		cf_chat_fail(ctx, rc == -EALREADY ? "conflict" : "internal",
		    rc == -EALREADY ? "Call is not ringing" : "Internal error");
		return (-1);
	}
	timers_cancel(id, T_RING);
	return (0);
}

void
cf_ev_call_accept(struct cf_event_ctx *ctx)
{
	struct cf_sess *s = ctx->s;
	const json_t *answer = ctx->v[CF_V_CALL_ANSWER].j;
	int64_t id = ctx->v[CF_V_CALL_ID].i;
	struct cf_call call;

	if (callee_moves(ctx, id, "active", s->id, &call) == -1)
		return;
	set_tab_call(s, id);
	emit_sock(call.caller_sock, "call:accepted", json_pack("{s:I,s:O}",
	    "callId", (json_int_t)id, "answer", answer));
	emit_user(call.callee, s, "call:ended", ended(id,
	    "answered_elsewhere"));
	ack_call(ctx, id);
}

void
cf_ev_call_reject(struct cf_event_ctx *ctx)
{
	struct cf_sess *s = ctx->s;
	int64_t id = ctx->v[CF_V_CALL_ID].i;
	struct cf_call call;

	/* Also call:end's answer for a ringing callee: the same fields. */
	if (callee_moves(ctx, id, "rejected", NULL, &call) == -1)
		return;
	emit_sock(call.caller_sock, "call:rejected", json_pack("{s:I}",
	    "callId", (json_int_t)id));
	emit_user(call.callee, s, "call:ended", ended(id, "rejected"));
	ack_call(ctx, id);
}

void
cf_ev_call_end(struct cf_event_ctx *ctx)
{
	struct cf_sess *s = ctx->s;
	struct cf_chat *c = s->app;
	int64_t id = ctx->v[CF_V_CALL_ID].i;
	struct cf_call call;
	int rc, ringing, by_caller;

	if (load_party(ctx, id, &call) == -1)
		return;
	ringing = strcmp(call.status, "ringing") == 0;
	by_caller = strcmp(call.caller, uid(s)) == 0;
	if (ringing && !by_caller) {
		/* A ringing callee hangs up: that is a reject. */
		cf_ev_call_reject(ctx);
		return;
	}
	rc = cf_store_call_transition(cf_db(), id, ringing ? "ringing" :
	    "active", ringing ? "missed" : "ended", NULL,
	    (int64_t)cf_wall_ms(), &call);
	if (rc != 0) {
		cf_chat_fail(ctx, rc == -EALREADY || rc == -EINVAL ? "conflict" :
		    "internal", rc == -EALREADY || rc == -EINVAL ?
		    "Call is not live" : "Internal error");
		return;
	}
	timers_cancel(id, 0);
	if (c->call_id == id)
		c->call_id = 0;
	if (ringing)
		emit_user(call.callee, NULL, "call:ended", ended(id, "ended"));
	else if (by_caller)
		emit_sock(call.callee_sock, "call:ended", ended(id, "ended"));
	else
		emit_sock(call.caller_sock, "call:ended", ended(id, "ended"));
	emit_user(uid(s), s, "call:ended", ended(id, "ended"));
	ack_call(ctx, id);
}

void
cf_ev_call_ice(struct cf_event_ctx *ctx)
{
	struct cf_sess *s = ctx->s;
	struct cf_chat *c = s->app;
	/* The end of candidates (null) is refused: nothing to relay. */
	const json_t *cand = ctx->v[CF_V_ICE_CANDIDATE].j;
	const char *target = ctx->v[CF_V_ICE_TARGET].s;
	int64_t id = ctx->v[CF_V_ICE_CALL].i;
	struct cf_call call;
	json_t *ev;
	int rc;

	rc = id != 0 ? cf_store_call_get(cf_db(), id, &call) :
	    cf_store_call_between(cf_db(), c->user_id, target, &call);
	if (rc != 0 || (strcmp(call.status, "ringing") != 0 &&
	    strcmp(call.status, "active") != 0) ||
	    !((strcmp(call.caller, c->user_id) == 0 &&
	    strcmp(call.callee, target) == 0) ||
	    (strcmp(call.callee, c->user_id) == 0 &&
	    strcmp(call.caller, target) == 0))) {
		cf_chat_fail(ctx, "forbidden", "No live call with this user");
		return;
	}
	ev = json_pack("{s:o,s:O,s:I}", "from",
	    cf_store_user_id_json(c->user_id), "candidate", cand, "callId",
	    (json_int_t)call.id);
	if (strcmp(call.caller, c->user_id) == 0) {
		if (strcmp(call.status, "ringing") == 0)
			emit_user(call.callee, NULL, "call:ice_candidate", ev);
		else
			emit_sock(call.callee_sock, "call:ice_candidate", ev);
	} else
		emit_sock(call.caller_sock, "call:ice_candidate", ev);
	cf_event_ack(ctx, json_pack("[{s:b}]", "ok", 1));
}

void
cf_ev_call_history(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = ctx->s->app;
	int64_t before = ctx->v[CF_V_HIST_BEFORE].i;
	json_t *calls = NULL;
	int limit = CF_CALL_HISTORY_DEF;

	if (ctx->v[CF_V_HIST_LIMIT].set)
		limit = (int)ctx->v[CF_V_HIST_LIMIT].i;
	if (cf_store_call_history(cf_db(), c->user_id, before, limit,
	    &calls) != 0) {
		cf_chat_fail(ctx, "internal", "Internal error");
		return;
	}
	cf_event_ack(ctx, json_pack("[{s:b,s:o}]", "ok", 1, "calls", calls));
}

/* TURN REST API credentials (coturn's use-auth-secret). */
static json_t *
turn_entry(const char *url, const char *user, const char *secret,
    uint32_t ttl_ms)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char username[128], cred[64];
	long long expiry;

	expiry = (long long)(cf_wall_ms() / 1000) + ttl_ms / 1000;
	snprintf(username, sizeof(username), "%lld:%s", expiry, user);
	if (HMAC(EVP_sha1(), secret, (int)strlen(secret),
	    (const unsigned char *)username, strlen(username), mac,
	    &maclen) == NULL)
		return (NULL);
	cred[cf_base64_encode(cred, mac, maclen)] = '\0';
	return (json_pack("{s:s,s:s,s:s}", "urls", url, "username", username,
	    "credential", cred));
}

void
cf_ev_call_ice_servers(struct cf_event_ctx *ctx)
{
	const struct cf_conf *conf = cf_w->conf;
	struct cf_chat *c = ctx->s->app;
	json_t *list = json_array(), *e;
	int i;

	for (i = 0; i < conf->nice_servers; i++) {
		const char *url = conf->ice_servers[i];

		if (conf->turn_secret != NULL && strncmp(url, "turn", 4) == 0)
			e = turn_entry(url, c->user_id, conf->turn_secret,
			    conf->turn_credential_ttl_ms);
		else
			e = json_pack("{s:s}", "urls", url);
		if (e != NULL)
			json_array_append_new(list, e);
	}
	cf_event_ack(ctx, json_pack("[{s:b,s:o}]", "ok", 1, "iceServers",
	    list));
}
