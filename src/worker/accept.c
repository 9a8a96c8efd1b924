/*
 * accept.c -- accept connections and route each to the worker that owns it.
 *
 * Every worker polls the listening sockets the master bound and accepts
 * what it can.  Before lws sees a connection we peek (MSG_PEEK, nothing is
 * consumed) at its request line: a request naming a session id owned by
 * another worker -- a polling request or the WebSocket upgrade of that
 * session -- is passed, socket and unread bytes together, to the owner over
 * its inbox.  Everything else is adopted here.  (lws 4.1.6's readbuf
 * adoption corrupts request bodies, so the bytes must stay in the kernel.)
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/httpreq.h"
#include "log.h"
#include "shm/shm.h"
#include "eio/session.h"
#include "worker/worker.h"

#define CF_PEEK_MAX		4096
#define CF_PEEK_DEADLINE_MS	10000
#define CF_PEEK_RETRY_MS	5
#define CF_ACCEPT_BATCH		64
/*
 * Out of descriptors (EMFILE, ENFILE; or kernel memory) the listeners stay
 * readable, so accepting again at once would spin: the worker stops
 * polling them for this long (nginx pauses 500 ms too), and logs it at
 * most once per CF_ACCEPT_LOG_MS.  Connections wait in the listen backlog
 * meanwhile; the open ones are served as usual.
 */
#define CF_ACCEPT_BACKOFF_MS	500
#define CF_ACCEPT_LOG_MS	10000

/* A listening socket the master bound (w->listeners). */
struct cf_listener {
	int		 fd;
	uv_poll_t	 poll;
};

/* A connection whose request line has not fully arrived yet. */
struct pending {
	int		 fd;
	uv_poll_t	 poll;
	uv_timer_t	 timer;
	uint64_t	 deadline;
	int		 closing;
};

void
cf_accept_adopt(struct cf_worker *w, int fd)
{
	if (w->draining || lws_adopt_socket_vhost(w->vhost, fd) == NULL) {
		/* lws closes the fd itself when adoption fails. */
		if (w->draining)
			close(fd);
		return;
	}
}

/*
 * The slot owning the session a request line names, or -1 when it names
 * none (or one of another generation).
 */
static int
request_slot(const char *line, size_t len)
{
	char sid[CF_HTTPREQ_SID_MAX];

	if (cf_httpreq_sid(line, len, sid) == -1)
		return (-1);
	return (cf_sess_sid_slot(sid));
}

static void
pending_closed(uv_handle_t *h)
{
	struct pending *pc = h->data;

	if (--pc->closing == 0)
		free(pc);
}

static void
pending_done(struct pending *pc)
{
	pc->closing = 2;
	uv_close((uv_handle_t *)&pc->poll, pending_closed);
	uv_close((uv_handle_t *)&pc->timer, pending_closed);
}

/*
 * Where fd goes, from its request line: ROUTE_LOCAL (adopt here), a slot
 * number >= 0 (pass it on), ROUTE_WAIT (line incomplete), ROUTE_DROP.
 */
#define ROUTE_LOCAL	-1
#define ROUTE_WAIT	-2
#define ROUTE_DROP	-3

static int
route(struct cf_worker *w, int fd, uint64_t deadline)
{
	char buf[CF_PEEK_MAX];
	ssize_t n;
	char *eol;
	int slot;

	n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			goto wait;
		return (ROUTE_DROP);
	}
	if (n == 0)
		return (ROUTE_DROP);
	eol = memchr(buf, '\n', n);
	if (eol == NULL) {
		if ((size_t)n < sizeof(buf))
			goto wait;
		/* A request line longer than we peek: lws will refuse it. */
		return (ROUTE_LOCAL);
	}
	slot = request_slot(buf, eol - buf);
	/*
	 * A session of a slot that runs no worker is gone: answered here
	 * ("Session ID unknown"), never queued on an inbox nobody reads.
	 */
	if (slot >= 0 && (unsigned)slot < w->nslots &&
	    (unsigned)slot != w->slot &&
	    cf_shm_slot_running(w->shm, (unsigned)slot))
		return (slot);
	return (ROUTE_LOCAL);
 wait:
	if (cf_now_ms() >= deadline)
		return (ROUTE_DROP);
	return (ROUTE_WAIT);
}

static void
route_act(struct cf_worker *w, int fd, int where)
{
	if (where == ROUTE_DROP)
		close(fd);
	else if (where == ROUTE_LOCAL)
		cf_accept_adopt(w, fd);
	else
		(void)cf_ipc_send((unsigned)where, CF_IPC_FD, NULL, 0, fd);
}

/*
 * A decision was made for a pending connection.  Our poll handle must be
 * closed before lws (or another worker) polls the fd: libuv allows one
 * watcher per fd, and closing a poll handle removes the fd from epoll at
 * once, so the close comes first and the hand-over after it.
 */
static void
pending_decided(struct pending *pc, int where)
{
	pending_done(pc);
	route_act(cf_w, pc->fd, where);
}

static void pending_retry(uv_timer_t *t);

static void
pending_readable(uv_poll_t *h, int status, int events)
{
	struct pending *pc = h->data;
	int where;

	(void)events;
	if (pc->closing)
		return;
	if (status < 0) {
		pending_decided(pc, ROUTE_DROP);
		return;
	}
	if ((where = route(cf_w, pc->fd, pc->deadline)) != ROUTE_WAIT) {
		pending_decided(pc, where);
		return;
	}
	/*
	 * Part of the line is there: the socket stays readable, so stop
	 * polling (it would spin) and look again shortly.
	 */
	uv_poll_stop(&pc->poll);
	uv_timer_start(&pc->timer, pending_retry, CF_PEEK_RETRY_MS, 0);
}

static void
pending_retry(uv_timer_t *t)
{
	struct pending *pc = t->data;
	int where;

	if (pc->closing)
		return;
	if ((where = route(cf_w, pc->fd, pc->deadline)) != ROUTE_WAIT) {
		pending_decided(pc, where);
		return;
	}
	uv_timer_start(&pc->timer, pending_retry, CF_PEEK_RETRY_MS, 0);
}

static void
new_connection(struct cf_worker *w, int fd)
{
	struct pending *pc;
	uint64_t deadline = cf_now_ms() + CF_PEEK_DEADLINE_MS;
	int where;

	if ((where = route(w, fd, deadline)) != ROUTE_WAIT) {
		route_act(w, fd, where);
		return;
	}
	if ((pc = calloc(1, sizeof(*pc))) == NULL) {
		close(fd);
		return;
	}
	pc->fd = fd;
	pc->deadline = deadline;
	uv_poll_init(&w->loop, &pc->poll, fd);
	uv_timer_init(&w->loop, &pc->timer);
	pc->poll.data = pc;
	pc->timer.data = pc;
	uv_poll_start(&pc->poll, UV_READABLE, pending_readable);
	/* The timer bounds the wait even if nothing more arrives. */
	uv_timer_start(&pc->timer, pending_retry, CF_PEEK_DEADLINE_MS, 0);
}

static void listener_readable(uv_poll_t *h, int status, int events);

static void
backoff_end(uv_timer_t *t)
{
	struct cf_worker *w = t->data;
	int i;

	if (w->draining)
		return;
	for (i = 0; i < w->nlisteners; i++)
		uv_poll_start(&w->listeners[i].poll, UV_READABLE,
		    listener_readable);
}

/* accept4 failed with err for lack of resources: pause, log sparingly. */
static void
backoff_start(struct cf_worker *w, int err)
{
	uint64_t now = cf_now_ms();
	int i;

	for (i = 0; i < w->nlisteners; i++)
		uv_poll_stop(&w->listeners[i].poll);
	uv_timer_start(&w->backoff_timer, backoff_end, CF_ACCEPT_BACKOFF_MS, 0);
	w->backoff_count++;
	if (w->backoff_logged != 0 &&
	    now - w->backoff_logged < CF_ACCEPT_LOG_MS)
		return;
	w->backoff_logged = now;
	errno = err;
	cf_log_warn("accept4: not accepting for %d ms (%lu pauses since the "
	    "last such line; %zu sessions open; the descriptor limit is "
	    "logged at start as fd_limit, raise it with LimitNOFILE= or "
	    "ulimit -n)", CF_ACCEPT_BACKOFF_MS, w->backoff_count, w->nsessions);
	w->backoff_count = 0;
}

static void
listener_readable(uv_poll_t *h, int status, int events)
{
	struct cf_listener *l = h->data;
	struct cf_worker *w = cf_w;
	int i, fd, one = 1;

	(void)events;
	if (status < 0 || w->draining)
		return;
	for (i = 0; i < CF_ACCEPT_BATCH; i++) {
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				backoff_start(w, errno);
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				cf_log_warn("accept4");
			return;
		}
		/*
		 * Engine.IO writes small packets back to back (an error event
		 * then its ack); without NODELAY the second waits for the
		 * peer's delayed ACK (~40 ms).
		 */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		new_connection(w, fd);
	}
}

int
cf_accept_start(struct cf_worker *w, const int *fds, int n)
{
	int i;

	if ((w->listeners = calloc(n, sizeof(*w->listeners))) == NULL)
		return (-1);
	w->nlisteners = n;
	uv_timer_init(&w->loop, &w->backoff_timer);
	w->backoff_timer.data = w;
	w->backoff_init = 1;
	for (i = 0; i < n; i++) {
		w->listeners[i].fd = fds[i];
		uv_poll_init_socket(&w->loop, &w->listeners[i].poll, fds[i]);
		w->listeners[i].poll.data = &w->listeners[i];
		uv_poll_start(&w->listeners[i].poll, UV_READABLE,
		    listener_readable);
	}
	return (0);
}

static void
listener_closed(uv_handle_t *h)
{
	struct cf_listener *l = h->data;
	struct cf_worker *w = cf_w;

	close(l->fd);
	if (--w->nlisteners == 0) {
		free(w->listeners);
		w->listeners = NULL;
	}
}

void
cf_accept_stop(struct cf_worker *w)
{
	int i, n = w->nlisteners;

	if (w->backoff_init) {
		w->backoff_init = 0;
		uv_close((uv_handle_t *)&w->backoff_timer, NULL);
	}
	for (i = 0; i < n; i++)
		uv_close((uv_handle_t *)&w->listeners[i].poll, listener_closed);
}
