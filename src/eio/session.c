/*
 * session.c -- Engine.IO v4 sessions: ids, heartbeat, the outgoing queue,
 * closing, and the deferred free.
 *
 * Heartbeat, as the reference server does it: a ping goes out pingInterval
 * after the session opens and pingInterval after each pong; a ping left
 * unanswered for pingTimeout closes the session.  Nothing else resets the
 * timers.
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/httpreq.h"
#include "log.h"
#include "shm/shm.h"
#include "util.h"
#include "eio/session.h"
#include "eio/session_int.h"

#define CF_BUFFERED_CLOSE_MS	30000
#define CF_DRAIN_CLOSE_MS	1000
/*
 * What a closing WebSocket has to write its last packets and the close
 * frame before it is torn down (lws gives its own close handshake as
 * long).
 */
#define CF_WS_CLOSE_MS		5000
/* WebSocket close code for a slow consumer: "try again later". */
#define CF_WS_CLOSE_SLOW	1013

/*
 * Set by the process shell before the loop starts (cf_worker_main), or by
 * a program before the master forks (the conformance server): a process
 * setting, not a worker's state, so it is not in struct cf_worker.
 */
const struct cf_app *cf_app;

/* ------------------------------------------------------------- timers */

static void	 detach_wsi(struct cf_sess *, struct lws **, int);
static void	 sess_slow_close(struct cf_sess *);
static void	 sess_send_text(struct cf_sess *, enum cf_eio_type, const char *,
		    size_t);

static void
count_attach_closed(struct cf_worker *w)
{
	struct cf_shm_stats *st;

	if ((st = cf_shm_stats(w->shm, w->slot)) != NULL)
		__atomic_add_fetch(&st->attach_closed, 1, __ATOMIC_RELAXED);
}

static void
sess_timer_cb(uv_timer_t *t)
{
	struct cf_sess *s = t->data;
	struct cf_worker *w = cf_w;
	uint64_t now = cf_now_ms();

	if (s->state == CF_S_CLOSED)
		return;
	if (s->pong_deadline != 0 && now >= s->pong_deadline) {
		cf_sess_close(s, "ping timeout", 1);
		return;
	}
	if (s->connect_deadline != 0 && now >= s->connect_deadline) {
		cf_sess_close(s, "connect timeout", 1);
		return;
	}
	if (s->claim_deadline != 0 && now >= s->claim_deadline) {
		s->claim_deadline = 0;
		cf_sock_claim_expired(s);
		if (s->state != CF_S_OPEN)
			return;
	}
	if (s->attach_deadline != 0 && now >= s->attach_deadline) {
		count_attach_closed(w);
		cf_log_info("session %s closed: binary attachments not "
		    "received within attachment-timeout", s->sid);
		cf_sess_close(s, "attachment timeout", CF_CLOSE_FORCED);
		return;
	}
	if (s->auth_deadline != 0 && now >= s->auth_deadline &&
	    s->state == CF_S_OPEN) {
		s->auth_deadline = 0;
		if (cf_app->on_auth_timeout != NULL)
			cf_app->on_auth_timeout(s);
		cf_log_debug("session %s closed: not authenticated within "
		    "auth-timeout", s->sid);
		cf_sess_close(s, "authentication timeout", CF_CLOSE_GRACEFUL);
		return;
	}
	if (s->close_deadline != 0 && now >= s->close_deadline) {
		s->close_deadline = 0;
		cf_sess_close(s, s->close_reason, 0);
		return;
	}
	if (s->upgrade_deadline != 0 && now >= s->upgrade_deadline) {
		s->upgrade_deadline = 0;
		s->upgrading = 0;
		/*
		 * The probe dies later (lws kills it asynchronously): unlink
		 * its pss now, or its CLOSED would find a freed session.
		 */
		detach_wsi(s, &s->probe_wsi, 1);
	}
	if (s->app_deadline != 0 && now >= s->app_deadline &&
	    s->state == CF_S_OPEN) {
		s->app_deadline = 0;
		if (cf_app->on_timer != NULL)
			cf_app->on_timer(s);
		if (s->state != CF_S_OPEN)
			return;
	}
	if (s->ping_at != 0 && now >= s->ping_at && s->state == CF_S_OPEN) {
		s->ping_at = 0;
		s->pong_deadline = now + w->conf->ping_timeout_ms;
		sess_send_text(s, CF_EIO_PING, NULL, 0);
		cf_sock_pinged(s);
	}
	cf_sess_timer_update(s);
}

void
cf_sess_timer_update(struct cf_sess *s)
{
	uint64_t next = 0, now;
	uint64_t d[9];
	int i;

	if (s->state == CF_S_CLOSED)
		return;
	d[8] = s->claim_deadline;
	d[0] = s->ping_at;
	d[1] = s->pong_deadline;
	d[2] = s->connect_deadline;
	d[3] = s->upgrade_deadline;
	d[4] = s->close_deadline;
	d[5] = s->app_deadline;
	d[6] = s->auth_deadline;
	d[7] = s->attach_deadline;
	for (i = 0; i < 9; i++)
		if (d[i] != 0 && (next == 0 || d[i] < next))
			next = d[i];
	if (next == 0) {
		uv_timer_stop(&s->timer);
		return;
	}
	now = cf_now_ms();
	uv_timer_start(&s->timer, sess_timer_cb, next > now ? next - now : 0, 0);
}

/* ----------------------------------------------------------- lifecycle */

static void
make_sid(struct cf_worker *w, char *dst)
{
	uint8_t raw[15];

	(void)cf_random_bytes(raw, sizeof(raw));
	raw[0] = (uint8_t)w->slot;
	raw[1] = (uint8_t)w->generation;
	cf_base64url_encode(dst, raw, sizeof(raw));
	dst[20] = '\0';
}

int
cf_sess_sid_slot(const char *sid)
{
	unsigned slot, gen;

	if (cf_httpreq_sid_owner(sid, &slot, &gen) == -1)
		return (-1);
	/*
	 * A session of another generation (before a cold reload) is unknown
	 * here whatever its slot: the request is answered locally, with
	 * "Session ID unknown", and the client reconnects.
	 */
	if (cf_w != NULL && gen != (uint8_t)cf_w->generation)
		return (-1);
	return ((int)slot);
}

struct cf_sess *
cf_sess_new(struct cf_worker *w, enum cf_transport t,
    const struct cf_transport_ops *ops)
{
	struct cf_sess *s, *dup;
	struct cf_shm_stats *st;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (NULL);
	do {
		make_sid(w, s->sid);
		HASH_FIND_STR(w->sessions, s->sid, dup);
	} while (dup != NULL);
	s->transport = t;
	s->tops = ops;
	s->state = CF_S_OPEN;
	uv_timer_init(&w->loop, &s->timer);
	s->timer.data = s;
	s->ping_at = cf_now_ms() + w->conf->ping_interval_ms;
	s->connect_deadline = cf_now_ms() + w->conf->connect_timeout_ms;
	HASH_ADD_STR(w->sessions, sid, s);
	w->nsessions++;
	if ((st = cf_shm_stats(w->shm, w->slot)) != NULL) {
		__atomic_add_fetch(&st->connections, 1, __ATOMIC_RELAXED);
		if (t == CF_T_WEBSOCKET)
			__atomic_add_fetch(&st->ws_connections, 1, __ATOMIC_RELAXED);
		else
			__atomic_add_fetch(&st->polling_connections, 1,
			    __ATOMIC_RELAXED);
	}
	cf_sess_timer_update(s);
	cf_log_debug("session %s opened (%s)", s->sid,
	    t == CF_T_WEBSOCKET ? "websocket" : "polling");
	return (s);
}

struct cf_sess *
cf_sess_find(struct cf_worker *w, const char *sid)
{
	struct cf_sess *s;

	HASH_FIND_STR(w->sessions, sid, s);
	if (s != NULL && s->state == CF_S_CLOSED)
		return (NULL);
	return (s);
}

/* Forget a transport's link back to this session and, if asked, end it. */
static void
detach_wsi(struct cf_sess *s, struct lws **pw, int kill)
{
	void **pss;

	if (*pw == NULL)
		return;
	/* Every pss starts with the session pointer (see http_int.h). */
	pss = lws_wsi_user(*pw);
	if (pss != NULL && *pss == s)
		*pss = NULL;
	if (kill)
		lws_set_timeout(*pw, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	*pw = NULL;
}

/* ---------------------------------------------- not authenticated yet */

uint32_t
cf_sess_addr_bucket(struct cf_worker *w, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	const uint8_t *a = NULL;
	const char *key;
	uint32_t h = 2166136261u;	/* FNV-1a */
	size_t n = 0, i;

	memset(&ss, 0, sizeof(ss));
	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sslen) == 0) {
		if (ss.ss_family == AF_INET) {
			a = (const uint8_t *)
			    &((struct sockaddr_in *)&ss)->sin_addr;
			n = 4;
		} else if (ss.ss_family == AF_INET6) {
			a = ((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;
			if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a)) {
				a += 12;
				n = 4;
			} else
				n = 8;	/* one /64 is one client */
		}
	}
	/* Keyed by the host's run id: buckets differ from run to run. */
	key = w->shm != NULL ? cf_shm_run_id(w->shm) : "";
	for (i = 0; key[i] != '\0'; i++)
		h = (h ^ (uint8_t)key[i]) * 16777619u;
	h = (h ^ (uint8_t)n) * 16777619u;
	for (i = 0; i < n; i++)
		h = (h ^ a[i]) * 16777619u;
	return (h % CF_SHM_ADDR_BUCKETS);
}

int
cf_sess_admit(struct cf_worker *w, uint32_t bucket)
{
	const struct cf_conf *conf = w->conf;
	struct cf_shm_stats *st;
	uint64_t all = 0, addr = 0, now;
	unsigned i, n;

	if (!cf_app->auth_required || w->shm == NULL)
		return (0);
	n = cf_shm_nslots(w->shm);
	for (i = 0; i < n; i++) {
		if ((st = cf_shm_stats(w->shm, i)) == NULL)
			continue;
		all += __atomic_load_n(&st->unauthenticated, __ATOMIC_RELAXED);
		addr += __atomic_load_n(&st->unauth_by_addr[bucket],
		    __ATOMIC_RELAXED);
	}
	if (all < conf->max_unauthenticated &&
	    (conf->max_unauthenticated_per_ip == 0 ||
	    addr < conf->max_unauthenticated_per_ip))
		return (0);
	if ((st = cf_shm_stats(w->shm, w->slot)) != NULL)
		__atomic_add_fetch(&st->unauth_refused, 1, __ATOMIC_RELAXED);
	now = cf_now_ms();
	if (now - w->sess->admit_logged >= 1000) {
		w->sess->admit_logged = now;
		cf_log_info("new connection refused: %s unauthenticated "
		    "connections reached",
		    all >= conf->max_unauthenticated ? "max-unauthenticated" :
		    "max-unauthenticated-per-ip");
	}
	return (-1);
}

void
cf_sess_unauth_begin(struct cf_sess *s, uint32_t bucket)
{
	struct cf_worker *w = cf_w;
	struct cf_shm_stats *st;

	if (!cf_app->auth_required || s->unauth)
		return;
	s->unauth = 1;
	s->unauth_bucket = bucket % CF_SHM_ADDR_BUCKETS;
	if ((st = cf_shm_stats(w->shm, w->slot)) != NULL) {
		__atomic_add_fetch(&st->unauthenticated, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&st->unauth_by_addr[s->unauth_bucket], 1,
		    __ATOMIC_RELAXED);
	}
	s->auth_deadline = cf_now_ms() + w->conf->auth_timeout_ms;
	cf_sess_timer_update(s);
}

/* Stop counting s as unauthenticated. */
static void
unauth_end(struct cf_sess *s)
{
	struct cf_worker *w = cf_w;
	struct cf_shm_stats *st;

	if (!s->unauth)
		return;
	s->unauth = 0;
	s->auth_deadline = 0;
	if ((st = cf_shm_stats(w->shm, w->slot)) != NULL) {
		__atomic_sub_fetch(&st->unauthenticated, 1, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&st->unauth_by_addr[s->unauth_bucket], 1,
		    __ATOMIC_RELAXED);
	}
}

void
cf_sess_authenticated(struct cf_sess *s)
{
	if (!s->unauth)
		return;
	unauth_end(s);
	cf_sess_timer_update(s);
}

static void
sess_finish(struct cf_sess *s)
{
	struct cf_worker *w = cf_w;
	struct cf_shm_stats *st;

	if (s->state == CF_S_CLOSED)
		return;
	s->state = CF_S_CLOSED;
	detach_wsi(s, &s->post_wsi, 0);
	detach_wsi(s, &s->poll_wsi, 0);
	detach_wsi(s, &s->probe_wsi, 1);
	/*
	 * lws frees what it holds with the connection; a peer that has not
	 * read it is reset, so the kernel does not keep it either.
	 */
	if (s->ws_wsi != NULL && s->tops->stalled(s))
		s->tops->abort(s, LWS_CLOSE_STATUS_GOINGAWAY, NULL);
	detach_wsi(s, &s->ws_wsi, 1);
	uv_timer_stop(&s->timer);
	unauth_end(s);
	HASH_DEL(w->sessions, s);
	w->nsessions--;
	if ((st = cf_shm_stats(w->shm, w->slot)) != NULL) {
		__atomic_sub_fetch(&st->connections, 1, __ATOMIC_RELAXED);
		if (s->transport == CF_T_WEBSOCKET)
			__atomic_sub_fetch(&st->ws_connections, 1, __ATOMIC_RELAXED);
		else
			__atomic_sub_fetch(&st->polling_connections, 1,
			    __ATOMIC_RELAXED);
	}
	cf_log_debug("session %s closed: %s", s->sid,
	    s->close_reason ? s->close_reason : "closed");
	s->free_next = w->sess->free_list;
	w->sess->free_list = s;
}

/*
 * Every close of s: the first reason given is kept, and the Socket.IO
 * layer learns of it once.  -1 when s is closed already.
 */
static int
sess_closing(struct cf_sess *s, const char *reason)
{
	if (s->state == CF_S_CLOSED)
		return (-1);
	if (s->close_reason == NULL)
		s->close_reason = reason;
	if (s->state == CF_S_OPEN)
		cf_sock_closed(s);
	return (0);
}

void
cf_sess_close(struct cf_sess *s, const char *reason, int notify)
{
	if (s->tops->close != NULL) {
		s->tops->close(s, reason, notify);
		return;
	}
	if (sess_closing(s, reason) == -1)
		return;
	/*
	 * A closing session can no longer authenticate: its place among the
	 * unauthenticated is free now, not when its last bytes are out.
	 */
	unauth_end(s);
	s->ping_at = s->pong_deadline = s->connect_deadline = 0;
	s->upgrade_deadline = s->auth_deadline = s->attach_deadline = 0;
	if (s->probe_wsi != NULL)
		detach_wsi(s, &s->probe_wsi, 1);

	if (!notify) {
		/* A held GET still gets an answer: "6" after a client close. */
		if (s->poll_wsi != NULL || s->remote_poll) {
			s->poll_noop = 1;
			s->state = CF_S_CLOSING;
			cf_sess_wake(s);
			return;
		}
		sess_finish(s);
		return;
	}
	if (s->state == CF_S_CLOSING)
		return;
	if (s->transport == CF_T_POLLING) {
		/*
		 * Tell a held GET.  Without one, only a graceful close waits
		 * for the next GET to carry the close packet; after an error
		 * (parse error, ping timeout) the session is gone at once and
		 * later requests get "Session ID unknown", as in the reference.
		 */
		if (s->poll_wsi == NULL && !s->remote_poll &&
		    notify != CF_CLOSE_GRACEFUL) {
			sess_finish(s);
			return;
		}
		s->state = CF_S_CLOSING;
		/*
		 * After an error what is queued is dropped; a graceful close
		 * delivers it first (auth:error and DISCONNECT before an
		 * authentication timeout closes the session).
		 */
		if (notify != CF_CLOSE_GRACEFUL)
			cf_outq_clear(&s->q);
		/*
		 * A client re-polls at once after each answer; while the
		 * worker drains, a session that does not is not waited for.
		 */
		s->close_deadline = cf_now_ms() + (cf_w->draining ?
		    CF_DRAIN_CLOSE_MS : CF_BUFFERED_CLOSE_MS);
		cf_sess_timer_update(s);
		{
			struct cf_msg *m = cf_msg_new("1", 1, 0);

			if (m != NULL) {
				cf_outq_push(&s->q, m);
				cf_msg_unref(m);
			}
		}
		cf_sess_wake(s);
		return;
	}
	s->state = CF_S_CLOSING;
	if (s->ws_wsi == NULL) {
		sess_finish(s);
		return;
	}
	if (notify == CF_CLOSE_FORCED &&
	    (s->q.len > 0 || s->tops->stalled(s))) {
		/*
		 * An error (a ping timeout above all) on a connection whose
		 * peer has not read what it was sent: nothing more will get
		 * through; free the queue and reset the connection now.
		 */
		cf_outq_clear(&s->q);
		sess_finish(s);
		return;
	}
	/* Never wait long on a peer that stopped reading. */
	s->close_deadline = cf_now_ms() + CF_WS_CLOSE_MS;
	cf_sess_timer_update(s);
	cf_sess_wake(s);
}

void
cf_sess_transport_gone(struct cf_sess *s, const char *reason)
{
	if (s->tops->close != NULL) {
		s->tops->close(s, reason, 0);
		return;
	}
	if (sess_closing(s, reason) == -1)
		return;
	sess_finish(s);
}

static void
sess_free_cb(uv_handle_t *h)
{
	struct cf_sess *s = h->data;

	cf_outq_clear(&s->q);
	if (s->pending != NULL) {
		cf_sio_packet_clear(s->pending);
		free(s->pending);
	}
	json_decref(s->auth);
	cf_sock_release(s);
	free(s->rooms);
	while (s->extra != NULL) {
		struct cf_nsp_conn *n = s->extra;

		s->extra = n->next;
		free(n);
	}
	free(s);
}

/*
 * Writes what this loop turn queued on each WebSocket session, all of a
 * session's packets in one write (the transport's flush).  Runs from the
 * worker's prepare handle (before the loop blocks, after timers) and
 * first thing in cf_sess_reap (after the turn's I/O, before closed
 * sessions are freed), so no session on the list is ever freed.
 */
void
cf_sess_flush(void)
{
	struct cf_session_state *st = cf_w->sess;
	struct cf_sess *s;

	while ((s = st->flush_list) != NULL) {
		st->flush_list = s->flush_next;
		s->flush_next = NULL;
		s->flush_queued = 0;
		/* Closing already (another close came in the same turn): let
		 * that close go out. */
		if (s->slow && s->state == CF_S_OPEN)
			sess_slow_close(s);
		else if ((s->transport == CF_T_WEBSOCKET && s->ws_wsi != NULL) ||
		    s->transport == CF_T_PIPE)
			s->tops->flush(s);
	}
}

void
cf_sess_ping_soon(struct cf_sess *s)
{
	/* One ping out at a time; the timer sends it, never the caller's
	 * loop over a room's members. */
	if (s->state != CF_S_OPEN || s->pong_deadline != 0 ||
	    s->transport == CF_T_PIPE || s->ping_at == 0)
		return;
	s->ping_at = cf_now_ms();
	cf_sess_timer_update(s);
}

void
cf_sess_unflush(struct cf_sess *s)
{
	struct cf_sess **pp;

	if (!s->flush_queued)
		return;
	for (pp = &cf_w->sess->flush_list; *pp != NULL; pp = &(*pp)->flush_next)
		if (*pp == s) {
			*pp = s->flush_next;
			break;
		}
	s->flush_next = NULL;
	s->flush_queued = 0;
}

int
cf_sess_init(struct cf_worker *w)
{
	if ((w->sess = calloc(1, sizeof(*w->sess))) == NULL)
		return (-1);
	return (0);
}

void
cf_sess_free(struct cf_worker *w)
{
	free(w->sess);
	w->sess = NULL;
}

void
cf_sess_reap(struct cf_worker *w)
{
	struct cf_sess *s;

	cf_sess_flush();
	while ((s = w->sess->free_list) != NULL) {
		w->sess->free_list = s->free_next;
		uv_close((uv_handle_t *)&s->timer, sess_free_cb);
	}
}

void
cf_sess_upgraded(struct cf_sess *s)
{
	struct cf_shm_stats *st;

	if (s->transport == CF_T_WEBSOCKET)
		return;
	s->transport = CF_T_WEBSOCKET;
	if ((st = cf_shm_stats(cf_w->shm, cf_w->slot)) != NULL) {
		__atomic_sub_fetch(&st->polling_connections, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&st->ws_connections, 1, __ATOMIC_RELAXED);
	}
	cf_log_debug("session %s upgraded to websocket", s->sid);
}

/* --------------------------------------------------------------- I/O */

/* What max-output-buffer bounds: queued, and held unsent by lws. */
static size_t
sess_pending(struct cf_sess *s)
{
	return (s->q.bytes + s->tops->unsent(s));
}

/*
 * s is over max-output-buffer: its queue is freed now, nothing more is
 * queued, and it is closed at the end of the loop turn (cf_sess_flush):
 * cf_sess_send may run from a loop over a room's members, which closing
 * (leaving the rooms) would change under it.
 */
static void
sess_mark_slow(struct cf_sess *s)
{
	s->slow = 1;
	cf_log_info("session %s: slow consumer (%zu bytes unsent, "
	    "max-output-buffer %zu), disconnecting", s->sid, sess_pending(s),
	    cf_w->conf->max_output_buffer);
	cf_outq_clear(&s->q);
	if (!s->flush_queued) {
		s->flush_queued = 1;
		s->flush_next = cf_w->sess->flush_list;
		cf_w->sess->flush_list = s;
	}
}

/*
 * Close a slow consumer, never silently: a WebSocket gets a close frame
 * (1013) if it can take one, else a reset; over polling the session ends
 * (a held GET gets the close packet, later requests "Session ID unknown").
 * Either way the client reconnects and catches up with
 * chat:get_messages after.
 */
static void
sess_slow_close(struct cf_sess *s)
{
	struct cf_shm_stats *st;

	if (s->state != CF_S_OPEN)
		return;
	if ((st = cf_shm_stats(cf_w->shm, cf_w->slot)) != NULL)
		__atomic_add_fetch(&st->slow_consumers, 1, __ATOMIC_RELAXED);
	if (s->transport == CF_T_WEBSOCKET && s->ws_wsi != NULL) {
		s->tops->abort(s, CF_WS_CLOSE_SLOW, "slow consumer");
		cf_sess_close(s, "slow consumer", CF_CLOSE_SILENT);
		return;
	}
	cf_sess_close(s, "slow consumer", CF_CLOSE_FORCED);
}

/*
 * A WebSocket is not asked for a writable callback (two epoll_ctl and a
 * loop turn per packet): the session goes on the flush list and everything
 * queued on it in this loop turn is written at the end of the turn, in one
 * write (cf_sess_flush).
 */
void
cf_sess_wake(struct cf_sess *s)
{
	if (s->transport == CF_T_WEBSOCKET || s->transport == CF_T_PIPE) {
		if ((s->ws_wsi != NULL || s->transport == CF_T_PIPE) &&
		    !s->flush_queued) {
			s->flush_queued = 1;
			s->flush_next = cf_w->sess->flush_list;
			cf_w->sess->flush_list = s;
		}
		return;
	}
	if (s->poll_wsi != NULL)
		lws_callback_on_writable(s->poll_wsi);
	else if (s->remote_poll)
		s->tops->remote_flush(s);
}

void
cf_sess_send(struct cf_sess *s, struct cf_msg *m)
{
	struct cf_shm_stats *st;

	if (s->state != CF_S_OPEN || s->slow)
		return;
	/*
	 * A packet always fits in an empty queue (a page of messages may be
	 * larger than the bound); behind others, not past the bound.
	 */
	if (s->q.len > 0 &&
	    sess_pending(s) + m->len > cf_w->conf->max_output_buffer) {
		sess_mark_slow(s);
		return;
	}
	/* Deliveries: Engine.IO message packets ("4..."), not pings. */
	if (!m->binary && m->len > 0 && CF_MSG_DATA(m)[0] == '4' &&
	    (st = cf_shm_stats(cf_w->shm, cf_w->slot)) != NULL)
		__atomic_add_fetch(&st->deliveries_out, 1, __ATOMIC_RELAXED);
	cf_outq_push(&s->q, m);
	if (s->q.len == 1 || s->transport == CF_T_POLLING)
		cf_sess_wake(s);
}

/* Queue "<type><data>" text. */
static void
sess_send_text(struct cf_sess *s, enum cf_eio_type type, const char *data,
    size_t len)
{
	struct cf_msg *m;

	if ((m = cf_msg_new2((char)('0' + type), data, len)) == NULL)
		return;
	cf_sess_send(s, m);
	cf_msg_unref(m);
}

int
cf_sess_input(struct cf_sess *s, const struct cf_eio_packet *p)
{
	struct cf_worker *w = cf_w;
	struct cf_shm_stats *st;

	if (s->state != CF_S_OPEN)
		return (0);
	switch (p->type) {
	case CF_EIO_PONG:
		if (s->pong_deadline != 0) {
			s->pong_deadline = 0;
			cf_sock_ponged(s);
			s->ping_at = cf_now_ms() + w->conf->ping_interval_ms;
			cf_sess_timer_update(s);
		}
		return (0);
	case CF_EIO_PING:
		cf_sess_close(s, "invalid heartbeat direction", 1);
		return (-1);
	case CF_EIO_CLOSE:
		cf_sess_close(s, "client close", 0);
		return (-1);
	case CF_EIO_MESSAGE:
		if ((st = cf_shm_stats(w->shm, w->slot)) != NULL)
			__atomic_add_fetch(&st->events_in, 1, __ATOMIC_RELAXED);
		if (cf_sock_message(s, p->data, p->len, p->binary) == -1) {
			cf_sess_close(s, "parse error", 1);
			return (-1);
		}
		return (s->state == CF_S_OPEN ? 0 : -1);
	default:
		/* open, upgrade and noop mean nothing on an open transport. */
		return (0);
	}
}
