/*
 * curluv.c -- libcurl's multi interface driven by a libuv loop
 * (curluv.h).
 *
 * curl calls sock_cb for every socket whose interest changes: the first
 * time a socket is named we make a uv_poll_t for it and hand it to curl
 * (curl_multi_assign), later calls restart it with the new events, and
 * CURL_POLL_REMOVE stops and closes it (closing a poll handle takes the
 * fd out of epoll at once, before curl closes the socket and may reuse
 * its number).  curl's one timeout is our one uv_timer_t (timer_cb).  On
 * any activity curl_multi_socket_action runs and the finished transfers
 * are collected (drain).  A request's done callback may start another
 * request: drain reads the finished transfers one at a time.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "app/curluv.h"
#include "log.h"

struct cf_curluv {
	uv_loop_t	*loop;
	CURLM		*multi;
	uv_timer_t	 timer;
	unsigned	 inflight;
	struct req	*reqs;		/* the requests in flight */
	int		 closing;	/* cf_curluv_free ran: the timer's
					   close callback frees the struct */
};

struct sock {
	uv_poll_t	 poll;
	curl_socket_t	 fd;
	struct cf_curluv *c;
};

struct req {
	struct req	*next, *prev;
	CURL		*easy;
	struct curl_slist *headers;
	char		*body;
	cf_curluv_done_fn done;
	void		*arg;
	char		 err[CURL_ERROR_SIZE];
};

static void	 drain(struct cf_curluv *);

static void
req_free(struct cf_curluv *c, struct req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		c->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	(void)curl_multi_remove_handle(c->multi, r->easy);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r);
	c->inflight--;
}

/* Collect the finished transfers, one at a time (see the top). */
static void
drain(struct cf_curluv *c)
{
	struct req *r;
	CURLMsg *m;
	long status;
	int left;

	while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		r = NULL;
		(void)curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &r);
		if (r == NULL)
			continue;
		status = 0;
		if (m->data.result == CURLE_OK)
			(void)curl_easy_getinfo(r->easy,
			    CURLINFO_RESPONSE_CODE, &status);
		else if (r->err[0] == '\0')
			snprintf(r->err, sizeof(r->err), "%s",
			    curl_easy_strerror(m->data.result));
		r->done(r->arg, status, r->err);
		req_free(c, r);
	}
}

static void
poll_cb(uv_poll_t *h, int status, int events)
{
	struct sock *s = h->data;
	struct cf_curluv *c = s->c;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	(void)curl_multi_socket_action(c->multi, s->fd, flags, &running);
	drain(c);
}

static void
sock_close_cb(uv_handle_t *h)
{
	free(h->data);
}

static int
sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct cf_curluv *c = userp;
	struct sock *s = socketp;
	int events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			(void)uv_poll_stop(&s->poll);
			uv_close((uv_handle_t *)&s->poll, sock_close_cb);
			if (!c->closing)	/* not inside curl_multi_cleanup */
				(void)curl_multi_assign(c->multi, fd, NULL);
		}
		return (0);
	}
	if (c->closing)
		return (0);
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return (-1);
		if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
			free(s);
			return (-1);
		}
		s->fd = fd;
		s->c = c;
		s->poll.data = s;
		(void)curl_multi_assign(c->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	return (uv_poll_start(&s->poll, events, poll_cb) == 0 ? 0 : -1);
}

static void
timer_cb(uv_timer_t *t)
{
	struct cf_curluv *c = t->data;
	int running;

	(void)curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	drain(c);
}

/* curl's timeout changed: -1 none, 0 at once (from the loop), else ms. */
static int
timerfn_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct cf_curluv *c = userp;

	(void)multi;
	if (timeout_ms < 0)
		(void)uv_timer_stop(&c->timer);
	else
		(void)uv_timer_start(&c->timer, timer_cb, (uint64_t)timeout_ms,
		    0);
	return (0);
}

/* The response body is not read: dropped as it arrives. */
static size_t
discard_cb(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return (size * n);
}

/* http and https only (the option changed form in 7.85). */
static CURLcode
set_protocols(CURL *e)
{
#if LIBCURL_VERSION_NUM >= 0x075500
	return (curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https"));
#else
	return (curl_easy_setopt(e, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)));
#endif
}

struct cf_curluv *
cf_curluv_new(uv_loop_t *loop)
{
	struct cf_curluv *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->loop = loop;
	if ((c->multi = curl_multi_init()) == NULL ||
	    uv_timer_init(loop, &c->timer) != 0) {
		if (c->multi != NULL)
			curl_multi_cleanup(c->multi);
		free(c);
		return (NULL);
	}
	c->timer.data = c;
	(void)curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	(void)curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	(void)curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timerfn_cb);
	(void)curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	return (c);
}

int
cf_curluv_post(struct cf_curluv *c, const char *url,
    const char *const *headers, char *body, size_t len, long timeout_ms,
    cf_curluv_done_fn done, void *arg)
{
	struct curl_slist *l;
	struct req *r;
	size_t i;
	CURL *e;

	if (c == NULL || c->closing || (r = calloc(1, sizeof(*r))) == NULL) {
		free(body);
		return (-1);
	}
	r->body = body;
	r->done = done;
	r->arg = arg;
	for (i = 0; headers[i] != NULL; i++) {
		if ((l = curl_slist_append(r->headers, headers[i])) == NULL)
			goto fail;
		r->headers = l;
	}
	if ((r->easy = e = curl_easy_init()) == NULL)
		goto fail;
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
	    set_protocols(e) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)len) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_cb) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK)
		goto fail;
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
		goto fail;
	r->next = c->reqs;
	if (c->reqs != NULL)
		c->reqs->prev = r;
	c->reqs = r;
	c->inflight++;
	return (0);
 fail:
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r);
	return (-1);
}

unsigned
cf_curluv_inflight(const struct cf_curluv *c)
{
	return (c != NULL ? c->inflight : 0);
}

static void
timer_close_cb(uv_handle_t *h)
{
	free(h->data);
}

void
cf_curluv_free(struct cf_curluv *c)
{
	if (c == NULL || c->closing)
		return;
	c->closing = 1;
	/* Removing a handle makes curl drop its sockets (sock_cb REMOVE). */
	while (c->reqs != NULL)
		req_free(c, c->reqs);
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	(void)uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, timer_close_cb);
}
