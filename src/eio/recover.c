/*
 * recover.c -- connection state recovery on this worker (recover.h).
 *
 * The events a socket may have to send again are references to the
 * encoded messages every recipient shares, in a ring per socket: what the
 * client has not confirmed (by answering a ping sent after them; a socket
 * with CF_RECOVER_EAGER unconfirmed is pinged at once), at most
 * recovery-max-events.  A ghost is a struct cf_sess that never had a
 * transport: the dropped session's socket id, pid, rooms, application
 * state and ring move into it, so the dropped session is freed as usual
 * and the rooms never see the socket leave.  A ghost is in no session
 * table (no request reaches it); cf_sess_send drops what is sent to it
 * (state CLOSED) after cf_recover_sent kept it.  One timer gives ghosts
 * up when their window ends; one over the bound is given up on the next
 * loop turn, never while a broadcast walks its rooms.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "shm/shm.h"
#include "util.h"
#include "eio/recover.h"
#include "eio/session_int.h"

/* An event kept: its offset and messages (m, or v when it has
 * attachments: the text then each attachment). */
struct cf_replay_ent {
	uint64_t		 off;
	union {
		struct cf_msg	*m;
		struct cf_msg	**v;
	} u;
	uint32_t		 n;
};

struct cf_replay {
	char			 pid[64];	/* "<20 characters>.<host>" */
	struct cf_replay_ent	*e;		/* ring of cap, NULL when empty */
	uint32_t		 cap;
	uint32_t		 head;		/* oldest */
	uint32_t		 n;
	uint64_t		 pushed;	/* entries ever pushed */
	uint64_t		 ping_mark;	/* pushed when the ping went out */
	uint32_t		 missed;	/* pushed while a ghost */
	int			 complete;	/* nothing dropped unconfirmed */
};

#define STAT_ADD(f, v) do {						\
	struct cf_shm_stats *st_;					\
	if ((st_ = cf_shm_stats(cf_w->shm, cf_w->slot)) != NULL)	\
		__atomic_add_fetch(&st_->f, (v), __ATOMIC_RELAXED);	\
} while (0)
#define STAT_SUB(f, v) do {						\
	struct cf_shm_stats *st_;					\
	if ((st_ = cf_shm_stats(cf_w->shm, cf_w->slot)) != NULL)	\
		__atomic_sub_fetch(&st_->f, (v), __ATOMIC_RELAXED);	\
} while (0)

/* Unconfirmed events that make a live socket's client be pinged early. */
#define CF_RECOVER_EAGER	128

static void	ghost_timer_arm(void);

uint64_t
cf_recover_stamp(json_t *args)
{
	char buf[24];
	uint64_t off;

	if (cf_w->conf->recovery_window_ms == 0)
		return (0);
	off = ++cf_w->sess->next_off;
	snprintf(buf, sizeof(buf), "%" PRIu64, off);
	if (json_array_append_new(args, json_string(buf)) == -1)
		return (0);
	return (off);
}

void
cf_recover_unstamp(json_t *args, uint64_t off)
{
	if (off != 0)
		(void)json_array_remove(args, json_array_size(args) - 1);
}

/* The messages of e: text, then attachments. */
static struct cf_msg **
ent_msgs(struct cf_replay_ent *e)
{
	return (e->n == 1 ? &e->u.m : e->u.v);
}

/* Drop the oldest entry of r; an empty ring gives its memory back. */
static void
ring_shift(struct cf_replay *r)
{
	struct cf_replay_ent *e = &r->e[r->head];
	struct cf_msg **m = ent_msgs(e);
	uint32_t i;

	for (i = 0; i < e->n; i++)
		cf_msg_unref(m[i]);
	if (e->n > 1)
		free(e->u.v);
	r->head = (r->head + 1) % r->cap;
	if (--r->n == 0) {
		free(r->e);
		r->e = NULL;
		r->cap = r->head = 0;
	}
}

static int
ring_grow(struct cf_replay *r, uint32_t max)
{
	struct cf_replay_ent *ne;
	uint32_t ncap, i;

	ncap = r->cap ? r->cap * 2 : 4;
	if (ncap > max)
		ncap = max;
	if (ncap <= r->cap)
		return (-1);
	if ((ne = calloc(ncap, sizeof(*ne))) == NULL)
		return (-1);
	for (i = 0; i < r->n; i++)
		ne[i] = r->e[(r->head + i) % r->cap];
	free(r->e);
	r->e = ne;
	r->cap = ncap;
	r->head = 0;
	return (0);
}

void
cf_recover_sent(struct cf_sess *s, uint64_t off, struct cf_msg **m, int n)
{
	struct cf_replay *r = s->replay;
	struct cf_replay_ent *e;
	uint32_t max = cf_w->conf->recovery_max_events;
	int i;

	if (off == 0 || r == NULL || n < 1)
		return;
	if (s->ghost_until != 0 && ++r->missed > max) {
		/* Given up on the next loop turn: a broadcast walks its rooms. */
		s->ghost_until = 1;
		ghost_timer_arm();
		return;
	}
	if (r->n == r->cap && ring_grow(r, max) == -1) {
		if (r->n == 0)
			return;
		ring_shift(r);
		r->complete = 0;
	}
	e = &r->e[(r->head + r->n) % r->cap];
	if (n > 1) {
		if ((e->u.v = calloc((size_t)n, sizeof(*e->u.v))) == NULL) {
			/*
			 * An event missing from the ring would be skipped by
			 * a replay: no offset held so far may be recovered.
			 */
			while (r->n > 0)
				ring_shift(r);
			r->complete = 0;
			return;
		}
		for (i = 0; i < n; i++)
			e->u.v[i] = cf_msg_ref(m[i]);
	} else
		e->u.m = cf_msg_ref(m[0]);
	e->off = off;
	e->n = (uint32_t)n;
	r->n++;
	r->pushed++;
	/*
	 * The client confirms what it read by answering a ping: a busy
	 * socket is pinged early rather than holding ping-interval's worth
	 * of events (memory, and the messages kept alive).
	 */
	if (r->n >= CF_RECOVER_EAGER && s->ghost_until == 0)
		cf_sess_ping_soon(s);
}

void
cf_recover_ping(struct cf_sess *s)
{
	if (s->replay != NULL)
		s->replay->ping_mark = s->replay->pushed;
}

void
cf_recover_pong(struct cf_sess *s)
{
	struct cf_replay *r = s->replay;

	/* The client read everything sent before the ping it answered. */
	if (r == NULL)
		return;
	while (r->n > 0 && r->pushed - r->n < r->ping_mark)
		ring_shift(r);
}

void
cf_recover_new_pid(struct cf_sess *s)
{
	struct cf_replay *r;
	uint8_t raw[15];

	cf_recover_release(s);
	if (cf_w->conf->recovery_window_ms == 0 ||
	    (r = calloc(1, sizeof(*r))) == NULL)
		return;
	r->complete = 1;
	/* Like a session id it names its worker, then its host (pipe.h). */
	(void)cf_random_bytes(raw, sizeof(raw));
	raw[0] = (uint8_t)cf_w->slot;
	raw[1] = (uint8_t)cf_w->generation;
	cf_base64url_encode(r->pid, raw, sizeof(raw));
	r->pid[20] = '.';
	cf_strlcpy(r->pid + 21, cf_w->host, sizeof(r->pid) - 21);
	s->replay = r;
}

const char *
cf_recover_pid(const struct cf_sess *s)
{
	return (s->replay != NULL ? s->replay->pid : NULL);
}

void
cf_recover_release(struct cf_sess *s)
{
	struct cf_replay *r = s->replay;

	if (r == NULL)
		return;
	while (r->n > 0)
		ring_shift(r);
	free(r->e);
	free(r);
	s->replay = NULL;
}

/* ------------------------------------------------------------ ghosts */

int
cf_recover_is_ghost(const struct cf_sess *s)
{
	return (s->ghost_until != 0);
}

/* Move the socket of `from` (id, pid, rooms, application state, ring) to
 * `to`, which has none; `from` keeps nothing of it. */
static void
move_socket(struct cf_sess *to, struct cf_sess *from)
{
	memcpy(to->id, from->id, sizeof(to->id));
	to->app = from->app;
	to->app_deadline = from->app_deadline;
	to->replay = from->replay;
	to->rooms = from->rooms;
	to->nrooms = from->nrooms;
	to->caprooms = from->caprooms;
	to->bcast_seen = from->bcast_seen;
	to->connected = 1;
	/* The rooms' member arrays name the session: the fan-out's. */
	if (cf_w->sess->moved_fn != NULL)
		cf_w->sess->moved_fn(to);
	from->app = NULL;
	from->app_deadline = 0;
	from->replay = NULL;
	from->rooms = NULL;
	from->nrooms = from->caprooms = 0;
	from->connected = 0;
}

static void
ghost_free_cb(uv_handle_t *h)
{
	struct cf_sess *g = h->data;

	cf_outq_clear(&g->q);
	free(g);
}

/* Forget g (its socket has left or moved): freed once its timer closed. */
static void
ghost_free(struct cf_sess *g)
{
	struct cf_session_state *st = cf_w->sess;

	HASH_DELETE(hh, st->ghosts, g);
	if (g->ghost_until != 0)
		STAT_SUB(rec_ghosts, 1);
	g->ghost_until = 0;
	cf_recover_release(g);
	cf_sock_release(g);
	cf_sess_unflush(g);
	free(g->rooms);
	g->rooms = NULL;
	g->state = CF_S_CLOSED;
	uv_timer_stop(&g->timer);
	uv_close((uv_handle_t *)&g->timer, ghost_free_cb);
}

static int
recoverable_reason(const char *reason)
{
	static const char *const ok[] = { "transport close", "client close",
	    "transport error", "write error", "ping timeout" };
	size_t i;

	if (reason == NULL)
		return (1);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(reason, ok[i]) == 0)
			return (1);
	return (0);
}

/* 1 when a socket closed for reason is held. */
static int
holds(struct cf_sess *s, const char *reason)
{
	return (cf_w->conf->recovery_window_ms != 0 && s->replay != NULL &&
	    s->connected && !cf_w->draining &&
	    recoverable_reason(reason) && cf_app->hold != NULL &&
	    cf_app->hold(s));
}

/* g waits for its client, recovery-window from now. */
static void
wait_for_client(struct cf_sess *g)
{
	g->state = CF_S_CLOSED;
	g->transport = CF_T_WEBSOCKET;
	g->replay->missed = 0;
	g->ghost_until = cf_now_ms() + cf_w->conf->recovery_window_ms;
	uv_timer_stop(&g->timer);
	STAT_ADD(rec_ghosts, 1);
	ghost_timer_arm();
}

int
cf_recover_detach(struct cf_sess *s, const char *reason)
{
	struct cf_session_state *st = cf_w->sess;
	struct cf_sess *g;

	if (!holds(s, reason))
		return (0);
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return (0);
	memcpy(g->sid, s->sid, sizeof(g->sid));
	g->tops = s->tops;
	uv_timer_init(&cf_w->loop, &g->timer);
	g->timer.data = g;
	move_socket(g, s);
	/* A ghost is in no session table: its hh links the ghosts. */
	HASH_ADD_KEYPTR(hh, st->ghosts, g->replay->pid,
	    strlen(g->replay->pid), g);
	wait_for_client(g);
	cf_log_debug("socket %s held for recovery (%s)", g->id,
	    reason ? reason : "transport close");
	return (1);
}

void
cf_recover_rehold(struct cf_sess *g, const char *reason)
{
	g->transport = CF_T_WEBSOCKET;		/* no longer the pipe's */
	if (holds(g, reason)) {
		cf_outq_clear(&g->q);
		wait_for_client(g);
		cf_log_debug("socket %s held for recovery again (%s)", g->id,
		    reason ? reason : "transport close");
		return;
	}
	cf_recover_leave(g, reason ? reason : "transport close");
}

void
cf_recover_leave(struct cf_sess *g, const char *reason)
{
	if (g->connected) {
		/* The socket leaves as it would have when its transport
		 * dropped: the application, then the rooms. */
		if (cf_app->on_disconnect != NULL)
			cf_app->on_disconnect(g, reason);
		if (cf_w->sess->left_fn != NULL)
			cf_w->sess->left_fn(g);	/* leaves its rooms */
		g->connected = 0;
	}
	ghost_free(g);
}

void
cf_recover_drop(struct cf_sess *g, const char *reason)
{
	if (g->ghost_until == 0)
		return;
	cf_recover_leave(g, reason);
}

static void
ghost_timer_cb(uv_timer_t *t)
{
	struct cf_session_state *st = cf_w->sess;
	struct cf_sess *g, *tmp;
	uint64_t now = cf_now_ms();

	(void)t;
	HASH_ITER(hh, st->ghosts, g, tmp) {
		if (g->ghost_until == 0)
			continue;
		if (g->ghost_until == 1) {
			STAT_ADD(rec_overflow, 1);
			cf_log_info("socket %s not held for recovery: over "
			    "recovery-max-events", g->id);
			cf_recover_leave(g, "transport close");
		} else if (g->ghost_until <= now) {
			STAT_ADD(rec_expired, 1);
			cf_recover_leave(g, "transport close");
		}
	}
	ghost_timer_arm();
}

/* Run the timer at the next ghost's end (at once for one over the bound). */
static void
ghost_timer_arm(void)
{
	struct cf_session_state *st = cf_w->sess;
	struct cf_sess *g, *tmp;
	uint64_t next = 0, now = cf_now_ms();

	if (!st->ghost_timer_on) {
		if (uv_timer_init(&cf_w->loop, &st->ghost_timer) != 0)
			return;
		st->ghost_timer_on = 1;
	}
	HASH_ITER(hh, st->ghosts, g, tmp)
		if (g->ghost_until != 0 && (next == 0 || g->ghost_until < next))
			next = g->ghost_until;
	if (next == 0) {
		uv_timer_stop(&st->ghost_timer);
		return;
	}
	(void)uv_timer_start(&st->ghost_timer, ghost_timer_cb,
	    next > now ? next - now : 0, 0);
}

struct cf_sess *
cf_recover_find(struct cf_worker *w, const char *id)
{
	struct cf_sess *g, *tmp;

	HASH_ITER(hh, w->sess->ghosts, g, tmp)
		if (strcmp(g->id, id) == 0)
			return (g);
	return (NULL);
}

void
cf_recover_unknown(void)
{
	STAT_ADD(rec_unknown, 1);
}

struct cf_sess *
cf_recover_served(struct cf_worker *w, const char *sid)
{
	struct cf_sess *g, *tmp;

	HASH_ITER(hh, w->sess->ghosts, g, tmp)
		if (g->transport == CF_T_PIPE && strcmp(g->sid, sid) == 0)
			return (g);
	return (NULL);
}

struct cf_sess *
cf_recover_held(struct cf_worker *w, const char *pid)
{
	struct cf_sess *g;

	HASH_FIND(hh, w->sess->ghosts, pid, strlen(pid), g);
	return (g);
}

void
cf_recover_each(struct cf_worker *w, void (*fn)(struct cf_sess *g,
    void *arg), void *arg)
{
	struct cf_sess *g, *tmp;

	HASH_ITER(hh, w->sess->ghosts, g, tmp)
		fn(g, arg);
}

void
cf_recover_drop_all(struct cf_worker *w)
{
	struct cf_sess *g, *tmp;

	HASH_ITER(hh, w->sess->ghosts, g, tmp) {
		if (g->ghost_until == 0)	/* served through a pipe */
			cf_sess_close(g, "server shutting down",
			    CF_CLOSE_GRACEFUL);
		else
			cf_recover_leave(g, "server shutting down");
	}
	if (w->sess->ghost_timer_on) {
		uv_close((uv_handle_t *)&w->sess->ghost_timer, NULL);
		w->sess->ghost_timer_on = 0;
	}
}

/* The index in r of the entry stamped off, or -1. */
static long
ring_find(const struct cf_replay *r, uint64_t off)
{
	uint32_t i;

	for (i = 0; i < r->n; i++)
		if (r->e[(r->head + i) % r->cap].off == off)
			return ((long)i);
	return (-1);
}

/* The offset the client sent: 0 when absent, UINT64_MAX when invalid. */
static uint64_t
parse_offset(const json_t *v)
{
	const char *p;
	char *end;
	unsigned long long n;

	if (v == NULL)
		return (0);
	if (!json_is_string(v))
		return (UINT64_MAX);
	p = json_string_value(v);
	if (*p < '1' || *p > '9')
		return (UINT64_MAX);
	errno = 0;
	n = strtoull(p, &end, 10);
	if (errno != 0 || *end != '\0' || n == UINT64_MAX)
		return (UINT64_MAX);
	return ((uint64_t)n);
}

int
cf_recover_take(struct cf_sess *g, const json_t *auth, long *at)
{
	struct cf_replay *r = g->replay;
	uint64_t off;

	if (g->ghost_until == 1 || r == NULL) {
		STAT_ADD(rec_unknown, 1);
		return (-1);
	}
	off = parse_offset(json_object_get(auth, "offset"));
	/* No offset: the client had no event yet, so it needs them all. */
	*at = off == 0 ? -1 : ring_find(r, off);
	if (off == 0 ? !r->complete || r->pushed != r->n : *at == -1) {
		STAT_ADD(rec_offset, 1);
		cf_log_info("socket %s not recovered: offset not held", g->id);
		cf_recover_leave(g, "transport close");
		return (-1);
	}
	if (cf_app->recover != NULL && cf_app->recover(g) != 0) {
		STAT_ADD(rec_refused, 1);
		cf_log_info("socket %s not recovered: refused", g->id);
		cf_recover_leave(g, "transport close");
		return (-1);
	}
	if (g->ghost_until != 0)
		STAT_SUB(rec_ghosts, 1);
	g->ghost_until = 0;
	return (0);
}

void
cf_recover_resume(struct cf_sess *s, long at)
{
	struct cf_replay *r = s->replay;
	uint32_t i, j, k = 0;

	/* What was confirmed before the drop is confirmed still. */
	r->ping_mark = r->pushed;
	r->missed = 0;
	cf_sock_connect_reply(s);
	for (i = (uint32_t)(at + 1); i < r->n; i++, k++) {
		struct cf_replay_ent *e = &r->e[(r->head + i) % r->cap];
		struct cf_msg **m = ent_msgs(e);

		for (j = 0; j < e->n; j++)
			cf_sess_send(s, m[j]);
	}
	/* What the client had is no longer needed. */
	while (at-- >= 0)
		ring_shift(r);
	STAT_ADD(rec_ok, 1);
	STAT_ADD(rec_replayed, k);
	cf_log_info("socket %s recovered on session %s: %u events replayed",
	    s->id, s->sid, k);
	if (cf_app->recovered != NULL)
		cf_app->recovered(s);
	cf_sess_timer_update(s);
}

enum cf_recover_result
cf_recover_restore(struct cf_sess *s, const json_t *auth)
{
	const json_t *pid = json_object_get(auth, "pid");
	struct cf_sess *g;
	long at;

	if (cf_w->conf->recovery_window_ms == 0 || !json_is_string(pid) ||
	    json_string_length(pid) >= sizeof(((struct cf_replay *)0)->pid))
		return (CF_RECOVER_FRESH);
	STAT_ADD(rec_attempts, 1);
	if ((g = cf_recover_held(cf_w, json_string_value(pid))) == NULL)
		return (CF_RECOVER_ELSEWHERE);
	if (cf_recover_take(g, auth, &at) == -1)
		return (CF_RECOVER_FRESH);
	move_socket(s, g);
	ghost_free(g);
	ghost_timer_arm();
	cf_recover_resume(s, at);
	return (CF_RECOVER_DONE);
}
