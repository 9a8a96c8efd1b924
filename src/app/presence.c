/*
 * presence.c -- who is online, over every tab on every worker.
 *
 * Counts live in the shared-memory table (shm.h): "u:<id>" counts a user's
 * authenticated sockets, "c:<channel>:u:<id>" those in a channel.  Without
 * redis, the worker whose change takes a count from 0 to 1 or back
 * announces it, so each edge is announced once on the host; when a worker
 * dies, the master purges its counts and hands the keys that fell to 0 to
 * a live worker, which announces them (cf_presence_gone).  With redis the
 * counts also go to the cluster (cluster.c), and the edges announced are
 * those of the cluster totals, once in the cluster; while Redis is
 * unreachable the host's own edges are announced.  With presence-broadcast
 * off the counts are kept but connections and disconnections are not
 * announced.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/store.h"
#include "log.h"
#include "shm/shm.h"
#include "util.h"
#include <uthash.h>
#include <uv.h>

#include "proc.h"
#include "app/chat.h"
#include "app/handlers.h"
#include "app/hook.h"
#include "fanout/cluster.h"
#include "fanout/room.h"

static const char *const statuses[] = {
	"online", "away", "busy", "offline", NULL
};

/*
 * A string compared as C text (a NUL inside ends it), as the status has
 * always been read: not cf_arg_enum, which refuses a NUL inside.
 */
int
cf_presence_status_ok(const json_t *v)
{
	size_t i;

	if (!json_is_string(v))
		return (0);
	for (i = 0; statuses[i] != NULL; i++)
		if (strcmp(json_string_value(v), statuses[i]) == 0)
			return (1);
	return (0);
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

/*
 * A user's connection changes being coalesced on this worker
 * (presence-coalesce): announced when the timer fires, from the state
 * last announced (was) to the total then, if they differ.
 */
struct pend {
	char		 user_id[64];
	char		 name[128];
	long long	 was;		/* the count before the first change */
	int		 marked;	/* holds the user's "p:" mark (offline) */
	uv_timer_t	 timer;
	UT_hash_handle	 hh;
};

/* The module's state, cf_w->presence (proc.h). */
struct cf_presence_state {
	/*
	 * Set while healing after a Redis outage (cf_presence_heal): the
	 * events go to this worker's sockets only, since every worker heals
	 * its own.
	 */
	int		 local_only;
	struct pend	*pending;	/* uthash by user_id */
	unsigned	 npending;	/* <= CF_PRESENCE_PENDING_MAX */
	/* Runs while something is pending: flushes it once draining. */
	uv_check_t	 drain;
	int		 drain_init;
};

/*
 * event(payload) to the sockets of presence-scope (cf_presence_emit);
 * takes payload.  While healing (local_only) to this worker's sockets
 * alone.
 */
static void
emit_authenticated(const char *user_id, const char *event, json_t *payload)
{
	cf_presence_emit(user_id, event, payload, cf_w->presence->local_only);
}

static void
emit_update(const char *user_id, const char *status, uint32_t count)
{
	emit_authenticated(user_id, "presence:update",
	    json_pack("{s:o,s:s,s:I}", "userId", cf_store_user_id_json(user_id),
	    "status", status, "connectionCount", (json_int_t)count));
}

static void
emit_updated(const char *user_id, const char *name, json_t *p,
    const char *reason)
{
	char at[32];

	cf_chat_now_iso(at, sizeof(at));
	emit_authenticated(user_id, "presence_updated",
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

/* The events of a user's count going from before to after. */
static void
announce(const char *user_id, const char *name, long long before,
    long long after)
{
	json_t *p;

	if (after == 0) {
		p = offline();
		emit_updated(user_id, name, p, "disconnect");
		emit_update(user_id, "offline", 0);
		json_decref(p);
		return;
	}
	p = stored(user_id);
	/* "Came online" first, then the count, as for going offline. */
	if (before == 0)
		emit_updated(user_id, name, p, "connect");
	emit_update(user_id, json_string_value(json_object_get(p, "status")),
	    (uint32_t)after);
	json_decref(p);
}

/*
 * The "p:<id>" mark: a count of the offline announcements of the user
 * waiting on a coalescing timer, on this host (and the cluster with
 * redis), so that a worker seeing the user come back within the window
 * announces nothing: the waiting worker will find the user online.
 */
static void
mark(const char *user_id, int delta)
{
	char key[CF_SHM_USER_MAX];

	snprintf(key, sizeof(key), "p:%s", user_id);
	(void)add(key, delta);
	if (cf_cluster_on())
		(void)cf_cluster_change(key, delta, NULL, NULL);
}

static int
marked(const char *user_id)
{
	char key[CF_SHM_USER_MAX];

	snprintf(key, sizeof(key), "p:%s", user_id);
	return (cf_cluster_total(key) > 0);
}

static void
pend_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Forget p (its timer closed, its mark removed). */
static void
pend_drop(struct pend *p)
{
	struct cf_presence_state *ps = cf_w->presence;

	HASH_DEL(ps->pending, p);
	if (--ps->npending == 0)
		uv_check_stop(&ps->drain);
	if (p->marked)
		mark(p->user_id, -1);
	uv_close((uv_handle_t *)&p->timer, pend_closed);
}

/* The window ended: announce the final state if it differs. */
static void
pend_fire(uv_timer_t *t)
{
	struct pend *p = t->data;
	long long now = cf_presence_count(p->user_id);

	if ((p->was > 0) != (now > 0) || (now > 0 && now != p->was))
		announce(p->user_id, p->name, p->was, now);
	pend_drop(p);
}

/*
 * A stopping worker would never see its timers fire: what it holds for
 * users announced online is announced at once, from the state each
 * timer started with to the total now (an offline held, mostly).  A
 * user whose coming online is pending here is not announced: the tabs
 * this worker closes take it offline again within the window.  Runs on
 * every loop iteration while something is pending.
 */
static void
drain_flush(uv_check_t *h)
{
	struct cf_presence_state *ps = cf_w->presence;
	struct pend *p, *tmp;

	(void)h;
	if (!cf_w->draining)
		return;
	HASH_ITER(hh, ps->pending, p, tmp) {
		uv_timer_stop(&p->timer);
		if (p->was > 0)
			pend_fire(&p->timer);
		else
			pend_drop(p);
	}
}

/*
 * With redis, the answer to a probe of the user's "p:" total (a change by
 * 0) after an online edge: an offline is pending on another host, whose
 * timer decides from the state announced before it, online.  Takes uid.
 */
static void
probe_done(void *arg, long long before, long long after)
{
	struct pend *p;
	char *uid = arg;

	(void)before;
	if (after > 0 && cf_w->presence != NULL) {
		HASH_FIND_STR(cf_w->presence->pending, uid, p);
		if (p != NULL && p->was == 0 && !p->marked)
			p->was = 1;
	}
	free(uid);
}

static void
probe(const char *user_id)
{
	char key[CF_SHM_USER_MAX], *uid;

	snprintf(key, sizeof(key), "p:%s", user_id);
	if ((uid = strdup(user_id)) != NULL &&
	    cf_cluster_change(key, 0, probe_done, uid) == -1)
		free(uid);
}

/*
 * Coalesce a change (presence-coalesce): 1 when it is left to a timer
 * (or needs no announcement), 0 when it must be announced now (coalescing
 * off, or CF_PRESENCE_PENDING_MAX users pending on this worker).
 */
static int
coalesce(const char *user_id, const char *name, long long before,
    long long after)
{
	struct cf_presence_state *ps = cf_w->presence;
	struct pend *p;

	if (cf_w->conf->presence_coalesce_ms == 0 || ps->local_only)
		return (0);
	HASH_FIND_STR(ps->pending, user_id, p);
	/*
	 * Stopping: every change at once, as without coalescing (this
	 * user's pending state gives way to the change announced now, the
	 * others are flushed).
	 */
	if (cf_w->draining) {
		if (p != NULL)
			pend_drop(p);
		drain_flush(&ps->drain);
		return (0);
	}
	if (p != NULL) {
		cf_strlcpy(p->name, name, sizeof(p->name));
		return (1);
	}
	/*
	 * An offline of the user is pending on another worker: that
	 * worker's timer announces the final state, whatever changes in
	 * between (back within the window: nothing).
	 */
	if (marked(user_id))
		return (1);
	if (ps->npending >= CF_PRESENCE_PENDING_MAX ||
	    (p = calloc(1, sizeof(*p))) == NULL)
		return (0);
	cf_strlcpy(p->user_id, user_id, sizeof(p->user_id));
	cf_strlcpy(p->name, name, sizeof(p->name));
	p->was = before;
	if (after == 0) {
		mark(user_id, 1);
		p->marked = 1;
	}
	uv_timer_init(&cf_w->loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, pend_fire, cf_w->conf->presence_coalesce_ms,
	    0);
	HASH_ADD_STR(ps->pending, user_id, p);
	ps->npending++;
	if (!ps->drain_init) {
		uv_check_init(&cf_w->loop, &ps->drain);
		uv_unref((uv_handle_t *)&ps->drain);
		ps->drain_init = 1;
	}
	uv_check_start(&ps->drain, drain_flush);
	if (before == 0 && cf_cluster_on())
		probe(user_id);
	return (1);
}

/* A user's totals changed from before to after: the events. */
static void
user_changed(const char *user_id, const char *name, long long before,
    long long after)
{
	json_t *p;

	if (before < 0 || before == after)
		return;		/* before < 0: not counted (table full) */
	/* The edge's webhook: once, by its announcer (not when healing). */
	if ((before == 0) != (after == 0) && !cf_w->presence->local_only &&
	    (p = json_pack("{s:o,s:s}", "userId",
	    cf_store_user_id_json(user_id), "displayName", name)) != NULL) {
		cf_hook_enqueue(after > 0 ? "user.online" : "user.offline", p);
		json_decref(p);
	}
	if (!cf_w->conf->presence_broadcast ||
	    coalesce(user_id, name, before, after))
		return;
	announce(user_id, name, before, after);
}

/* A user's channel totals changed: user_joined / user_left on the edges. */
static void
channel_changed(const char *user_id, const char *name, const char *role,
    int64_t channel, const char *reason, long long before, long long after)
{
	char room[48], at[32];

	snprintf(room, sizeof(room), "channel:%lld", (long long)channel);
	cf_chat_now_iso(at, sizeof(at));
	if (before == 0 && after > 0 && role != NULL)
		cf_room_emit(room, NULL, "user_joined",
		    json_pack("{s:o,s:s,s:s,s:I,s:s}", "userId",
		    cf_store_user_id_json(user_id), "userDisplayName", name,
		    "userRole", role, "channelId", (json_int_t)channel,
		    "joinedAt", at));
	else if (before > 0 && after == 0) {
		if (strcmp(reason, "disconnect") == 0 && role == NULL)
			cf_room_emit(room, NULL, "chat:user_typing",
			    json_pack("{s:o,s:s,s:b,s:I}", "userId",
			    cf_store_user_id_json(user_id), "userDisplayName",
			    name, "isTyping", 0, "channelId",
			    (json_int_t)channel));
		cf_room_emit(room, NULL, "user_left",
		    json_pack("{s:o,s:s,s:I,s:s,s:s}", "userId",
		    cf_store_user_id_json(user_id), "userDisplayName", name,
		    "channelId", (json_int_t)channel, "leftAt", at, "reason",
		    reason));
	}
}

/* What a change sent to the cluster needs to announce its outcome. */
struct pending {
	char		 user_id[64];
	char		 name[128];
	char		 role[32];
	char		 reason[16];
	int64_t		 channel;	/* 0: the user key */
};

static void
cluster_done(void *arg, long long before, long long after)
{
	struct pending *pd = arg;

	if (before >= 0 && after >= 0) {
		if (pd->channel == 0)
			user_changed(pd->user_id, pd->name, before, after);
		else
			channel_changed(pd->user_id, pd->name, pd->role,
			    pd->channel, pd->reason, before, after);
	}
	free(pd);
}

/*
 * Count a change of key by delta on this host, and on the cluster when
 * redis is configured.  Returns the host total when the caller announces
 * (no cluster, or Redis unreachable: host-local edges), or -1 when the
 * cluster's answer will announce it, or when this worker is handing its
 * clients over to a new generation without redis (the master then sends
 * the keys that fell to 0 to a new worker: cf_presence_gone).
 */
static long long
change(struct cf_sess *s, const char *key, int delta, int64_t channel,
    const char *reason)
{
	struct cf_chat *c = s->app;
	struct pending *pd;
	uint32_t n;

	n = add(key, delta);
	if (!cf_cluster_on())
		/* Handing over: the master reconciles (cf_presence_gone). */
		return (cf_w->handover ? -1 : (long long)n);
	if ((pd = calloc(1, sizeof(*pd))) == NULL) {
		/* Still counted in the cluster; announced on this host. */
		(void)cf_cluster_change(key, delta, NULL, NULL);
		return (n);
	}
	cf_strlcpy(pd->user_id, c->user_id, sizeof(pd->user_id));
	cf_strlcpy(pd->name, c->name, sizeof(pd->name));
	cf_strlcpy(pd->role, c->role, sizeof(pd->role));
	cf_strlcpy(pd->reason, reason, sizeof(pd->reason));
	pd->channel = channel;
	if (cf_cluster_change(key, delta, cluster_done, pd) == 0)
		return (-1);
	free(pd);
	return (n);
}

/* One connection more (delta 1) or fewer (-1) of s's user; why as change(). */
static void
user_delta(struct cf_sess *s, int delta, const char *why)
{
	struct cf_chat *c = s->app;
	char key[CF_SHM_USER_MAX];
	long long n;

	snprintf(key, sizeof(key), "u:%s", c->user_id);
	if ((n = change(s, key, delta, 0, why)) >= 0)
		user_changed(c->user_id, c->name, n - delta, n);
}

void
cf_presence_up(struct cf_sess *s)
{
	user_delta(s, 1, "connect");
}

void
cf_presence_down(struct cf_sess *s)
{
	user_delta(s, -1, "disconnect");
}

void
cf_presence_channel(struct cf_sess *s, int64_t channel, int delta,
    const char *reason)
{
	struct cf_chat *c = s->app;
	char key[CF_SHM_USER_MAX];
	long long n;

	snprintf(key, sizeof(key), "c:%lld:u:%s", (long long)channel,
	    c->user_id);
	if ((n = change(s, key, delta, channel, reason)) >= 0)
		channel_changed(c->user_id, c->name, c->role, channel, reason,
		    n - delta, n);
}

uint32_t
cf_presence_count(const char *user_id)
{
	char key[CF_SHM_USER_MAX];

	snprintf(key, sizeof(key), "u:%s", user_id);
	return (cf_cluster_total(key));
}

/*
 * A key's cluster total changed without a session behind it: a dead host
 * reaped, or this worker's counts resynchronised.  Users get the presence
 * events; channels get user_left (and a typing stop) when the user left
 * the channel everywhere.
 */
void
cf_presence_edge(const char *key, long long before, long long after)
{
	char name[128];
	long long channel;
	const char *uid;
	int off = 0;

	if (before < 0 || after < 0 || before == after)
		return;
	if (strncmp(key, "p:", 2) == 0) {
		/*
		 * A dead worker's pending offline, never announced: the
		 * user's offline if nobody holds a tab now.
		 */
		if (after == 0 && cf_w->conf->presence_broadcast &&
		    cf_presence_count(key + 2) == 0) {
			if (cf_store_user_name(cf_db(), key + 2, name,
			    sizeof(name)) != 0)
				cf_strlcpy(name, key + 2, sizeof(name));
			announce(key + 2, name, 1, 0);
		}
		return;
	}
	if (strncmp(key, "u:", 2) == 0)
		uid = key + 2;
	else if (sscanf(key, "c:%lld:u:%n", &channel, &off) == 1 && off > 0)
		uid = key + off;
	else
		return;
	if (cf_store_user_name(cf_db(), uid, name, sizeof(name)) != 0)
		cf_strlcpy(name, uid, sizeof(name));
	if (off == 0)
		user_changed(uid, name, before, after);
	else
		channel_changed(uid, name, NULL, (int64_t)channel,
		    "disconnect", before, after);
}

/*
 * After a Redis outage, a user of another host came (total > 0) or went
 * (total 0) and no worker announced it to us: tell this worker's sockets
 * (every worker heals its own).
 */
void
cf_presence_heal(const char *key, uint32_t total)
{
	char name[128];

	if (strncmp(key, "u:", 2) != 0)
		return;
	if (cf_store_user_name(cf_db(), key + 2, name, sizeof(name)) != 0)
		cf_strlcpy(name, key + 2, sizeof(name));
	cf_w->presence->local_only = 1;
	user_changed(key + 2, name, total > 0 ? 0 : 1, total);
	cf_w->presence->local_only = 0;
}

int
cf_presence_init(struct cf_worker *w)
{
	if ((w->presence = calloc(1, sizeof(*w->presence))) == NULL)
		return (-1);
	return (0);
}

/* After the loop closed every handle (the pending timers included). */
void
cf_presence_free(struct cf_worker *w)
{
	struct pend *p, *tmp;

	if (w->presence == NULL)
		return;
	HASH_ITER(hh, w->presence->pending, p, tmp) {
		HASH_DEL(w->presence->pending, p);
		free(p);
	}
	free(w->presence);
	w->presence = NULL;
}

/*
 * A worker of this host died (CF_IPC_GONE): key fell to 0 on the host.
 * With redis, the dead worker's counts are in Redis under its name and
 * are reaped (and announced) when its heartbeat expires.
 */
void
cf_presence_gone(struct cf_worker *w, const char *key)
{
	(void)w;
	if (cf_cluster_on() || cf_shm_presence_get(cf_w->shm, key) != 0)
		return;
	cf_presence_edge(key, 1, 0);
}

/* ------------------------------------------------------------ events */

void
cf_ev_update_presence(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = ctx->s->app;
	const char *st = json_string_value(ctx->v[CF_V_PRES_STATUS].j);
	json_t *p;

	if (cf_store_presence_set(cf_db(), c->user_id, st,
	    ctx->v[CF_V_PRES_MESSAGE].s, ctx->v[CF_V_PRES_CUSTOM].s,
	    (int64_t)cf_wall_ms()) != 0) {
		cf_chat_fail(ctx, "internal", "Internal error");
		return;
	}
	p = stored(c->user_id);
	emit_updated(c->user_id, c->name, p, "status_change");
	emit_update(c->user_id, st, cf_presence_count(c->user_id));
	cf_event_ack(ctx, json_pack("[{s:b,s:o}]", "ok", 1, "presence", p));
}

void
cf_ev_presence_set_status(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = ctx->s->app;
	const char *st = json_string_value(ctx->v[CF_V_STATUS].j);
	json_t *p;

	p = stored(c->user_id);
	if (cf_store_presence_set(cf_db(), c->user_id, st,
	    json_string_value(json_object_get(p, "statusMessage")),
	    json_string_value(json_object_get(p, "customStatus")),
	    (int64_t)cf_wall_ms()) != 0) {
		json_decref(p);
		cf_chat_fail(ctx, "internal", "Internal error");
		return;
	}
	json_decref(p);
	/* Both events, as update_presence sends them. */
	p = stored(c->user_id);
	emit_updated(c->user_id, c->name, p, "status_change");
	json_decref(p);
	emit_update(c->user_id, st, cf_presence_count(c->user_id));
	cf_event_ack(ctx, json_pack("[{s:b}]", "ok", 1));
}

/* The online users as found: ids (strings) and their totals. */
struct online {
	json_t		*ids;
	json_t		*totals;
	size_t		 max;	/* stop after max + 1 users ("more") */
};

static int
collect(void *arg, const char *key, uint32_t total)
{
	struct online *on = arg;

	if (strncmp(key, "u:", 2) != 0 || total == 0)
		return (0);
	if (json_array_size(on->ids) > on->max)
		return (1);
	if (json_array_append_new(on->ids, json_string(key + 2)) == -1)
		return (0);	/* not a UTF-8 id: not listed */
	if (json_array_append_new(on->totals, json_integer(total)) == -1)
		(void)json_array_remove(on->ids, json_array_size(on->ids) - 1);
	return (0);
}

/*
 * Who is online, at most max users ({userId, status, connectionCount}
 * each; *more set when there are others): the users come from the
 * presence counts (shared memory, and the mirror of the cluster totals
 * with redis), their statuses from one statement whatever their number
 * (cf_store_presence_statuses).  Returns a new array, NULL on failure.
 */
static json_t *
online_list(size_t max, int *more)
{
	struct online on = { json_array(), json_array(), max };
	json_t *list = json_array(), *st = NULL, *id, *v;
	const char *uid;
	size_t i;

	*more = 0;
	if (list == NULL || on.ids == NULL || on.totals == NULL)
		goto fail;
	(void)cf_cluster_each(collect, &on);
	if (json_array_size(on.ids) > max) {
		*more = 1;
		(void)json_array_remove(on.ids, max);
	}
	if (cf_store_presence_statuses(cf_db(), on.ids, &st) != 0)
		goto fail;
	json_array_foreach(on.ids, i, id) {
		uid = json_string_value(id);
		v = json_object_get(st, uid);
		json_array_append_new(list, json_pack("{s:o,s:s,s:O}",
		    "userId", cf_store_user_id_json(uid), "status",
		    json_is_string(v) ? json_string_value(v) : "online",
		    "connectionCount", json_array_get(on.totals, i)));
	}
	json_decref(st);
	json_decref(on.ids);
	json_decref(on.totals);
	return (list);
 fail:
	json_decref(st);
	json_decref(on.ids);
	json_decref(on.totals);
	json_decref(list);
	return (NULL);
}

/*
 * Right after `authenticated`: presence:snapshot {users, truncated}, the
 * entries of presence:get_online_users, at most CF_PRESENCE_SNAPSHOT_MAX
 * of them, so that a late joiner knows who is online without asking.
 * Without presence-broadcast nobody sees others' presence: nothing sent.
 */
void
cf_presence_snapshot(struct cf_sess *s)
{
	json_t *list;
	int more;

	if (!cf_w->conf->presence_broadcast || !cf_presence_scope_all() ||
	    (list = online_list(CF_PRESENCE_SNAPSHOT_MAX, &more)) == NULL)
		return;
	cf_chat_emit(s, "presence:snapshot", json_pack("{s:o,s:b}", "users",
	    list, "truncated", more));
}

void
cf_ev_presence_online_users(struct cf_event_ctx *ctx)
{
	json_t *list;
	int more;

	if ((list = online_list(SIZE_MAX - 1, &more)) == NULL) {
		cf_chat_fail(ctx, "internal", "Internal error");
		return;
	}
	/* The spec's form: the callback receives the array itself. */
	cf_event_ack(ctx, json_pack("[o]", list));
}
