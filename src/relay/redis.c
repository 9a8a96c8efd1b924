/*
 * redis.c -- self-healing Redis pub/sub client on a libuv loop.
 *
 * hiredis 0.14.1 async API with our own libuv adapter: the one shipped with
 * 0.14.1 returns early when libuv reports a poll error (libuv then stops
 * the handle), so an asynchronous ECONNREFUSED or a reset socket is never
 * seen by hiredis.  Ours hands such errors to redisAsyncHandleRead/Write
 * for the events that were requested, so hiredis reads the socket error
 * and runs the connect or disconnect callback.
 *
 * Two connections, each with its own reconnect timer (100 ms doubling to
 * 5 s) and connect watchdog (0.14 has no connect timeout):
 *   - the subscriber issues one PSUBSCRIBE/SUBSCRIBE per pattern/channel on
 *     every new context and counts as ready once all are confirmed;
 *   - the publisher counts as ready once connected; PUBLISH commands made
 *     while it is not ready wait in a local queue.
 *
 * The database number is not selected: Redis pub/sub channels are global,
 * whatever database a connection uses, so SELECT would change nothing.
 *
 * Lifetime rules:
 *   - a context is forgotten (our pointer set to NULL) before hiredis frees
 *     it or we ask it to, so no path frees it twice;
 *   - user callbacks are never run from inside hiredis' connect or
 *     disconnect callbacks (hiredis is not reentrant there): state changes
 *     are delivered from a zero-delay timer; on_message runs from a reply
 *     callback, where hiredis defers a redisAsyncFree safely;
 *   - the struct is released only when every libuv handle it owns (four
 *     timers, the notify timer, each adapter's poll handle) is closed.
 *
 * hiredis writes with write(2): the process must ignore SIGPIPE.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "log.h"
#include "relay/redis.h"

#define BACKOFF_MIN_MS		100
#define BACKOFF_MAX_MS		5000
#define WATCHDOG_MS		2000
#define QUEUE_MAX_MSGS		10000
#define QUEUE_MAX_BYTES		(64u * 1024 * 1024)
#define NTIMERS			5

struct pubmsg {
	struct pubmsg	*next;
	size_t		 chlen;
	size_t		 len;
	char		 data[];	/* channel, then payload */
};

struct rconn {
	struct cf_redis	*r;
	const char	*name;
	int		 is_sub;
	redisAsyncContext *ac;		/* NULL while not connecting */
	int		 ready;
	size_t		 nconfirmed;	/* subscriptions confirmed */
	unsigned	 backoff_ms;
	uv_timer_t	 retry;
	uv_timer_t	 watchdog;
};

struct cf_redis {
	uv_loop_t	*loop;
	char		*host;
	int		 port;
	char		**patterns;
	size_t		 npatterns;
	char		**channels;
	size_t		 nchannels;
	struct cf_redis_cbs cbs;
	void		*arg;

	struct rconn	 sub;
	struct rconn	 pub;

	struct pubmsg	*qhead;
	struct pubmsg	*qtail;
	size_t		 nmsg;		/* queued + in flight */
	size_t		 nbytes;	/* queued + in flight */

	int		 up;		/* both ready, as computed */
	int		 reported;	/* as last told to on_state */
	int		 saw_down;	/* went down since last notify */
	int		 logged_down;
	uv_timer_t	 notify;

	int		 freeing;
	int		 refs;		/* open libuv handles */
};

/* Our per-context adapter state: one poll handle on the context's fd. */
struct uvpoll {
	uv_poll_t	 h;
	redisAsyncContext *ac;		/* NULL once hiredis cleaned up */
	struct cf_redis	*r;
	int		 events;
};

static void	 conn_start(struct rconn *);
static void	 retry_cb(uv_timer_t *);

/* ---- lifetime ---- */

static void
release(struct cf_redis *r)
{
	size_t	 i;

	for (i = 0; i < r->npatterns; i++)
		free(r->patterns[i]);
	for (i = 0; i < r->nchannels; i++)
		free(r->channels[i]);
	free(r->patterns);
	free(r->channels);
	free(r->host);
	free(r);
}

static void
unref(struct cf_redis *r)
{
	if (--r->refs == 0 && r->freeing)
		release(r);
}

static void
handle_closed(uv_handle_t *h)
{
	unref(h->data);
}

/* ---- the libuv adapter ---- */

static void
poll_cb(uv_poll_t *h, int status, int events)
{
	struct uvpoll	*p = h->data;
	int		 ev;

	if (p->ac == NULL)
		return;
	/*
	 * On an error libuv stops the handle and reports no events: run the
	 * handlers hiredis asked for, so it reads the socket error.
	 */
	ev = status < 0 ? p->events : events;
	if ((ev & UV_READABLE) && p->ac != NULL)
		redisAsyncHandleRead(p->ac);
	if ((ev & UV_WRITABLE) && p->ac != NULL)
		redisAsyncHandleWrite(p->ac);
	if (status < 0 && p->ac != NULL && p->events != 0)
		uv_poll_start(&p->h, p->events, poll_cb);
}

static void
poll_update(struct uvpoll *p, int events)
{
	if (events == p->events)
		return;
	p->events = events;
	if (events != 0)
		uv_poll_start(&p->h, events, poll_cb);
	else
		uv_poll_stop(&p->h);
}

static void
ev_add_read(void *priv)
{
	struct uvpoll	*p = priv;

	poll_update(p, p->events | UV_READABLE);
}

static void
ev_del_read(void *priv)
{
	struct uvpoll	*p = priv;

	poll_update(p, p->events & ~UV_READABLE);
}

static void
ev_add_write(void *priv)
{
	struct uvpoll	*p = priv;

	poll_update(p, p->events | UV_WRITABLE);
}

static void
ev_del_write(void *priv)
{
	struct uvpoll	*p = priv;

	poll_update(p, p->events & ~UV_WRITABLE);
}

static void
poll_closed(uv_handle_t *h)
{
	struct uvpoll	*p = h->data;
	struct cf_redis	*r = p->r;

	free(p);
	unref(r);
}

/* hiredis is freeing the context: close the handle, free it when closed. */
static void
ev_cleanup(void *priv)
{
	struct uvpoll	*p = priv;

	p->ac->ev.data = NULL;
	p->ac = NULL;
	uv_close((uv_handle_t *)&p->h, poll_closed);
}

/* Attach a fresh context to the loop.  0 or -1. */
static int
adapter_attach(struct cf_redis *r, redisAsyncContext *ac)
{
	struct uvpoll	*p;

	if (ac->ev.data != NULL)
		return (-1);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return (-1);
	if (uv_poll_init_socket(r->loop, &p->h, ac->c.fd) != 0) {
		free(p);
		return (-1);
	}
	p->h.data = p;
	p->ac = ac;
	p->r = r;
	r->refs++;
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	ac->ev.data = p;
	return (0);
}

/* ---- state ---- */

static void
notify_cb(uv_timer_t *t)
{
	struct cf_redis	*r = t->data;

	if (r->freeing)
		return;
	if (r->saw_down && r->reported) {
		r->reported = 0;
		r->saw_down = 0;
		if (r->cbs.on_state != NULL)
			r->cbs.on_state(r->arg, 0);
		if (r->freeing)
			return;
	}
	r->saw_down = 0;
	if (r->up != r->reported) {
		r->reported = r->up;
		if (r->cbs.on_state != NULL)
			r->cbs.on_state(r->arg, r->up);
	}
}

/*
 * Recompute the overall state; log "up" once per transition and schedule
 * the on_state notification.
 */
static void
update_state(struct cf_redis *r)
{
	int	 up;

	if (r->freeing)
		return;
	up = r->sub.ready && r->pub.ready;
	if (up == r->up)
		return;
	r->up = up;
	if (up) {
		cf_log_info("redis relay up");
		r->logged_down = 0;
	} else
		r->saw_down = 1;
	uv_timer_start(&r->notify, notify_cb, 0, 0);
}

/*
 * A connection attempt failed or an established connection was lost.  The
 * context is already forgotten (c->ac is NULL).  Log "down" once per
 * transition, then retry after the backoff.
 */
static void
conn_failed(struct rconn *c, const char *why)
{
	struct cf_redis	*r = c->r;

	c->ac = NULL;
	c->ready = 0;
	c->nconfirmed = 0;
	if (r->freeing)
		return;
	uv_timer_stop(&c->watchdog);
	if (!r->logged_down) {
		cf_log_warnx("redis relay down: %s (%s %s:%d)",
		    why != NULL && why[0] != '\0' ? why : "connection lost",
		    c->name, r->host, r->port);
		r->logged_down = 1;
	} else
		cf_log_debug("redis %s: %s", c->name,
		    why != NULL ? why : "connection lost");
	update_state(r);
	uv_timer_start(&c->retry, retry_cb, c->backoff_ms, 0);
	c->backoff_ms = c->backoff_ms >= BACKOFF_MAX_MS / 2 ?
	    BACKOFF_MAX_MS : c->backoff_ms * 2;
}

static void
conn_ready(struct rconn *c)
{
	c->ready = 1;
	c->backoff_ms = BACKOFF_MIN_MS;
	uv_timer_stop(&c->watchdog);
	update_state(c->r);
}

/* ---- publisher ---- */

static void
pub_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rconn	*c = ac->data;
	struct cf_redis	*r = c->r;
	redisReply	*rep = reply;

	r->nmsg--;
	r->nbytes -= (size_t)(uintptr_t)priv;
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
		cf_log_debug("redis PUBLISH: %s", rep->str);
}

static int
pub_send(struct cf_redis *r, const char *ch, size_t chlen,
    const uint8_t *payload, size_t len)
{
	return (redisAsyncCommand(r->pub.ac, pub_reply,
	    (void *)(uintptr_t)(chlen + len), "PUBLISH %b %b", ch, chlen,
	    payload, len) == REDIS_OK ? 0 : -1);
}

/* Hand queued messages to the publisher context, oldest first. */
static void
flush_queue(struct cf_redis *r)
{
	struct pubmsg	*m;

	while ((m = r->qhead) != NULL && r->pub.ready && r->pub.ac != NULL) {
		if (pub_send(r, m->data, m->chlen,
		    (const uint8_t *)m->data + m->chlen, m->len) == -1)
			break;
		r->qhead = m->next;
		if (r->qhead == NULL)
			r->qtail = NULL;
		free(m);
	}
}

/* ---- commands ---- */

struct cmd {
	void	(*cb)(void *, struct redisReply *);
	void	*arg;
};

static void
cmd_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct cmd	*c = priv;

	(void)ac;
	c->cb(c->arg, reply);
	free(c);
}

int
cf_redis_command(struct cf_redis *r, void (*cb)(void *, struct redisReply *),
    void *arg, int argc, const char **argv, const size_t *argvlen)
{
	struct cmd	*c;

	if (r == NULL || r->freeing || !r->pub.ready || r->pub.ac == NULL)
		return (-1);
	if ((c = malloc(sizeof(*c))) == NULL)
		return (-1);
	c->cb = cb;
	c->arg = arg;
	if (redisAsyncCommandArgv(r->pub.ac, cmd_reply, c, argc, argv,
	    argvlen) != REDIS_OK) {
		free(c);
		return (-1);
	}
	return (0);
}

size_t
cf_redis_unanswered(const struct cf_redis *r)
{
	return (r != NULL ? r->nmsg : 0);
}

/* ---- subscriber ---- */

static int
is_str(const redisReply *e)
{
	return (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS);
}

static int
elem_is(const redisReply *e, const char *s)
{
	size_t	 n = strlen(s);

	return (is_str(e) && e->len == n && strncasecmp(e->str, s, n) == 0);
}

static void
sub_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rconn	*c = priv;
	struct cf_redis	*r = c->r;
	redisReply	*rep = reply, **el;

	if (rep == NULL || r->freeing || ac != c->ac)
		return;
	if (rep->type == REDIS_REPLY_ERROR) {
		cf_log_warnx("redis subscribe: %s", rep->str);
		return;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3)
		return;
	el = rep->element;
	if (elem_is(el[0], "pmessage") && rep->elements >= 4) {
		if (is_str(el[2]) && is_str(el[3]) &&
		    r->cbs.on_message != NULL)
			r->cbs.on_message(r->arg, el[2]->str, el[2]->len,
			    (const uint8_t *)el[3]->str, el[3]->len);
	} else if (elem_is(el[0], "message")) {
		if (is_str(el[1]) && is_str(el[2]) &&
		    r->cbs.on_message != NULL)
			r->cbs.on_message(r->arg, el[1]->str, el[1]->len,
			    (const uint8_t *)el[2]->str, el[2]->len);
	} else if (elem_is(el[0], "psubscribe") ||
	    elem_is(el[0], "subscribe")) {
		if (++c->nconfirmed == r->npatterns + r->nchannels &&
		    !c->ready)
			conn_ready(c);
	}
}

/* Queue every subscription on the subscriber's new context.  0 or -1. */
static int
sub_issue(struct rconn *c)
{
	struct cf_redis	*r = c->r;
	size_t		 i;

	for (i = 0; i < r->npatterns; i++)
		if (redisAsyncCommand(c->ac, sub_reply, c, "PSUBSCRIBE %s",
		    r->patterns[i]) != REDIS_OK)
			return (-1);
	for (i = 0; i < r->nchannels; i++)
		if (redisAsyncCommand(c->ac, sub_reply, c, "SUBSCRIBE %s",
		    r->channels[i]) != REDIS_OK)
			return (-1);
	return (0);
}

/* ---- connecting ---- */

static void
on_connect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct rconn	*c = ac->data;

	if (c == NULL || c->ac != ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after we return. */
		conn_failed(c, ac->errstr);
		return;
	}
	if (c->r->freeing)
		return;
	if (!c->is_sub) {
		conn_ready(c);
		flush_queue(c->r);
	} else if (c->r->npatterns + c->r->nchannels == 0)
		conn_ready(c);
}

static void
on_disconnect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct rconn	*c = ac->data;

	(void)status;
	if (c == NULL || c->ac != ac)
		return;
	/* hiredis frees the context after we return. */
	conn_failed(c, ac->errstr);
}

static void
retry_cb(uv_timer_t *t)
{
	struct rconn	*c = t->data;

	if (c->r->freeing || c->ac != NULL)
		return;
	conn_start(c);
}

/* The connect (or the subscriptions) took too long: drop the context. */
static void
watchdog_cb(uv_timer_t *t)
{
	struct rconn	*c = t->data;
	redisAsyncContext *ac = c->ac;

	if (c->r->freeing || ac == NULL || c->ready)
		return;
	c->ac = NULL;
	redisAsyncFree(ac);
	conn_failed(c, "connect timeout");
}

/*
 * Start one connection attempt: connect, attach our adapter, set the
 * callbacks (the connect callback arms the first write event), queue the
 * subscriptions.  Failures go through conn_failed, which retries.
 */
static void
conn_start(struct rconn *c)
{
	struct cf_redis	*r = c->r;
	redisAsyncContext *ac;
	char		 why[128];

	c->ready = 0;
	c->nconfirmed = 0;
	ac = redisAsyncConnect(r->host, r->port);
	if (ac == NULL) {
		conn_failed(c, "out of memory");
		return;
	}
	if (ac->err) {
		strncpy(why, ac->errstr, sizeof(why) - 1);
		why[sizeof(why) - 1] = '\0';
		redisAsyncFree(ac);
		conn_failed(c, why);
		return;
	}
	if (adapter_attach(r, ac) == -1) {
		redisAsyncFree(ac);
		conn_failed(c, "cannot attach to the event loop");
		return;
	}
	ac->data = c;
	c->ac = ac;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	if (c->is_sub && sub_issue(c) == -1) {
		c->ac = NULL;
		redisAsyncFree(ac);
		conn_failed(c, "cannot queue subscriptions");
		return;
	}
	uv_timer_start(&c->watchdog, watchdog_cb, WATCHDOG_MS, 0);
}

static void
conn_init(struct cf_redis *r, struct rconn *c, const char *name, int is_sub)
{
	c->r = r;
	c->name = name;
	c->is_sub = is_sub;
	c->backoff_ms = BACKOFF_MIN_MS;
	uv_timer_init(r->loop, &c->retry);
	uv_timer_init(r->loop, &c->watchdog);
	c->retry.data = c;
	c->watchdog.data = c;
}

static char **
copy_list(const char *const *src, size_t n)
{
	char	**dst;
	size_t	 i;

	if (n == 0)
		return (NULL);
	if ((dst = calloc(n, sizeof(*dst))) == NULL)
		return (NULL);
	for (i = 0; i < n; i++) {
		if ((dst[i] = strdup(src[i])) == NULL) {
			while (i-- > 0)
				free(dst[i]);
			free(dst);
			return (NULL);
		}
	}
	return (dst);
}

struct cf_redis *
cf_redis_new(uv_loop_t *loop, const char *host, int port, int db,
    const char *const *patterns, size_t npatterns,
    const char *const *channels, size_t nchannels,
    const struct cf_redis_cbs *cbs, void *arg)
{
	struct cf_redis	*r;

	(void)db;	/* pub/sub ignores the database, see above */
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	r->loop = loop;
	r->port = port;
	r->arg = arg;
	if (cbs != NULL)
		r->cbs = *cbs;
	if ((r->host = strdup(host)) == NULL)
		goto fail;
	if (npatterns > 0 &&
	    (r->patterns = copy_list(patterns, npatterns)) == NULL)
		goto fail;
	r->npatterns = npatterns;
	if (nchannels > 0 &&
	    (r->channels = copy_list(channels, nchannels)) == NULL)
		goto fail;
	r->nchannels = nchannels;

	conn_init(r, &r->sub, "subscriber", 1);
	conn_init(r, &r->pub, "publisher", 0);
	uv_timer_init(loop, &r->notify);
	r->notify.data = r;
	r->refs = NTIMERS;
	conn_start(&r->sub);
	conn_start(&r->pub);
	return (r);

fail:
	release(r);
	return (NULL);
}

int
cf_redis_publish(struct cf_redis *r, const char *channel,
    const uint8_t *payload, size_t len)
{
	struct pubmsg	*m;
	size_t		 chlen, size;

	if (r == NULL || r->freeing || channel == NULL ||
	    (payload == NULL && len > 0))
		return (-1);
	chlen = strlen(channel);
	size = chlen + len;
	if (r->nmsg >= QUEUE_MAX_MSGS || size > QUEUE_MAX_BYTES ||
	    r->nbytes > QUEUE_MAX_BYTES - size)
		return (-1);
	if (r->pub.ready && r->pub.ac != NULL && r->qhead == NULL &&
	    pub_send(r, channel, chlen, payload, len) == 0) {
		r->nmsg++;
		r->nbytes += size;
		return (0);
	}
	if ((m = malloc(sizeof(*m) + size)) == NULL)
		return (-1);
	m->next = NULL;
	m->chlen = chlen;
	m->len = len;
	memcpy(m->data, channel, chlen);
	if (len > 0)
		memcpy(m->data + chlen, payload, len);
	if (r->qtail != NULL)
		r->qtail->next = m;
	else
		r->qhead = m;
	r->qtail = m;
	r->nmsg++;
	r->nbytes += size;
	return (0);
}

int
cf_redis_is_up(const struct cf_redis *r)
{
	return (r != NULL && !r->freeing && r->sub.ready && r->pub.ready);
}

/*
 * Free both contexts now (pending PUBLISH replies are lost), drop the
 * queue, close every timer; the struct goes when the last handle closes.
 */
void
cf_redis_free(struct cf_redis *r)
{
	struct rconn	*conns[2];
	struct pubmsg	*m;
	redisAsyncContext *ac;
	int		 i;

	if (r == NULL || r->freeing)
		return;
	r->freeing = 1;
	conns[0] = &r->sub;
	conns[1] = &r->pub;
	for (i = 0; i < 2; i++) {
		if ((ac = conns[i]->ac) != NULL) {
			conns[i]->ac = NULL;
			redisAsyncFree(ac);
		}
		conns[i]->ready = 0;
	}
	while ((m = r->qhead) != NULL) {
		r->qhead = m->next;
		free(m);
	}
	r->qtail = NULL;
	for (i = 0; i < 2; i++) {
		conns[i]->retry.data = r;
		conns[i]->watchdog.data = r;
		uv_close((uv_handle_t *)&conns[i]->retry, handle_closed);
		uv_close((uv_handle_t *)&conns[i]->watchdog, handle_closed);
	}
	uv_close((uv_handle_t *)&r->notify, handle_closed);
}
