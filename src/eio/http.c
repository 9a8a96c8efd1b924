/*
 * http.c -- the libwebsockets protocol: Engine.IO over HTTP long-polling
 * and over WebSocket, on one lws protocol that handles both.
 *
 * HTTP: lws frees and re-allocates the per-transaction data (pss) at the
 * end of every keep-alive transaction, so anything that must outlive a
 * request lives in the session; the pss only points at it, and the session
 * records which wsi holds its GET or POST.  Both sides unlink in
 * DROP_PROTOCOL / CLOSED_HTTP.  A GET is held until the session has
 * something to say; lws' default 5 s content timeout is lifted for it.
 *
 * WebSocket: one Engine.IO packet per frame; the packets queued on a session
 * in one loop turn go out in one write at the end of the turn (ws_drain).
 * An upgrade arrives as a second WebSocket for a polling session: it is a
 * probe ("2probe"/"3probe") until the client sends "5".
 *
 * Requests for a session owned by another worker that reach us on a reused
 * keep-alive connection are forwarded to the owner over the inbox and the
 * response relayed back (cf_http_fwd_*).
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <linux/sockios.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/eio.h"
#include "codec/httpreq.h"
#include "log.h"
#include "shm/shm.h"
#include "eio/session.h"
#include "eio/http.h"
#include "ipc.h"

/* Serve bare Engine.IO echo sessions at /engine.io/ (conformance server). */
int cf_http_engine_echo;

enum pss_kind {
	K_NONE = 0,
	K_GET,		/* polling GET (held or being answered) */
	K_POST,		/* polling POST, body being read */
	K_FWD,		/* request forwarded to the owning worker */
	K_WS,		/* WebSocket carrying a session */
	K_PROBE		/* WebSocket being upgraded to */
};

struct pss {
	struct cf_sess	*sess;		/* first: session.c clears it on detach */
	uint8_t		 kind;
	uint8_t		 established;
	uint8_t		 probe_reply;
	uint8_t		 post_fwd;	/* K_FWD POST: body still coming */
	uint32_t	 fwd_id;
	int		 fwd_status;
	struct cf_buf	 fwd_body;	/* forwarded response, ready to write */
	int		 fwd_ready;
	char		 sid[24];
	/*
	 * The request's Origin, owned, NULL when it has none: only HTTP
	 * requests answer with CORS headers, so a WebSocket keeps none.
	 */
	char		*origin;
	struct cf_buf	 rx;
};

/* Seconds a forwarded request may wait beyond a ping interval + timeout. */
#define CF_FWD_SLACK_S	10

/* Outstanding forwarded requests of this worker: id -> wsi. */
struct fwd {
	uint32_t	 id;
	struct lws	*wsi;
	UT_hash_handle	 hh;
};
static struct fwd *fwds;
static uint32_t fwd_next = 1;

enum { ECODE_TRANSPORT = 0, ECODE_SID, ECODE_METHOD, ECODE_BAD, ECODE_FORBIDDEN, ECODE_VERSION };
static const char *const ec_msg[] = {
	"Transport unknown", "Session ID unknown", "Bad handshake method",
	"Bad request", "Forbidden", "Unsupported protocol version"
};

/* ------------------------------------------------------------ helpers */

static int
method_is(struct lws *wsi, enum lws_token_indexes t)
{
	return (lws_hdr_total_length(wsi, t) > 0);
}

/* How often a refused Origin is logged, at most (per worker). */
#define CF_ORIGIN_LOG_MS	10000
/* Access-Control-Max-Age of a preflight answer (Chromium caps it at 2 h). */
#define CF_CORS_MAX_AGE		"600"

/*
 * The request's whole Origin (however long: every byte is compared), as a
 * new string the caller frees; NULL when it has none.  *failed is set when
 * it has one that could not be copied (allocation failure): the caller
 * must then refuse what an Origin check guards.
 */
static char *
dup_origin(struct lws *wsi, int *failed)
{
	char *o;
	int n;

	*failed = 0;
	n = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
	if (n <= 0)
		return (NULL);
	if ((o = malloc((size_t)n + 1)) == NULL ||
	    lws_hdr_copy(wsi, o, n + 1, WSI_TOKEN_ORIGIN) < 0) {
		free(o);
		*failed = 1;
		return (NULL);
	}
	return (o);
}

/*
 * Logs at warn, at most once per CF_ORIGIN_LOG_MS, that a browser on
 * `origin` was refused, with the directive that would allow it, so that a
 * page that only sees "xhr poll error" can be explained from the log.
 */
static void
log_refused_origin(const char *origin, const char *what)
{
	static uint64_t last;
	static unsigned suppressed;
	char o[160];
	uint64_t now = cf_now_ms();
	size_t i;

	if (last != 0 && now - last < CF_ORIGIN_LOG_MS) {
		suppressed++;
		return;
	}
	last = now;
	for (i = 0; origin[i] != '\0' && i < sizeof(o) - 1; i++)
		o[i] = (origin[i] > ' ' && origin[i] < 0x7f) ? origin[i] : '?';
	o[i] = '\0';
	cf_log_warnx("%s from origin %s%s refused: not allowed by cors-origin "
	    "(add \"cors-origin %s\" to allow it); %u more refused since the "
	    "last such line (one per %d s)", what, o, origin[i] ? "..." : "",
	    o, suppressed, CF_ORIGIN_LOG_MS / 1000);
	suppressed = 0;
}

/*
 * Keeps a copy of this request's Origin in pss (replacing the previous
 * request's on a kept-alive connection); none when it has none, or on
 * allocation failure (then no CORS headers are sent).  A browser's Origin
 * that no cors-origin allows is logged (rate limited).
 */
static void
copy_origin(struct lws *wsi, struct pss *pss)
{
	int failed;

	free(pss->origin);
	pss->origin = dup_origin(wsi, &failed);
	if (pss->origin != NULL &&
	    !cf_conf_origin_allowed(cf_w->conf, pss->origin))
		log_refused_origin(pss->origin, "HTTP request");
}

/* The request's Origin, "" when it has none. */
static const char *
origin_of(const struct pss *pss)
{
	return (pss->origin != NULL ? pss->origin : "");
}

/*
 * Hands the Origin over to the caller (free() it), for an answer after
 * which pss may be reused or gone; "" is returned as NULL.
 */
static char *
take_origin(struct pss *pss)
{
	char *o = pss->origin;

	pss->origin = NULL;
	return (o);
}

static int
add_hdr(struct lws *wsi, const char *name, const char *val, uint8_t **p,
    uint8_t *end)
{
	return (lws_add_http_header_by_name(wsi, (const uint8_t *)name,
	    (const uint8_t *)val, (int)strlen(val), p, end));
}

/* CORS: reflect an allowed Origin (credentials then work too). */
static int
add_cors(struct lws *wsi, const char *origin, uint8_t **p, uint8_t *end)
{
	if (origin[0] == '\0' || !cf_conf_origin_allowed(cf_w->conf, origin))
		return (0);
	if (add_hdr(wsi, "access-control-allow-origin:", origin, p, end) ||
	    add_hdr(wsi, "access-control-allow-credentials:", "true", p, end) ||
	    add_hdr(wsi, "vary:", "Origin", p, end))
		return (-1);
	return (0);
}

/*
 * Write a complete response and finish the transaction.  Returns what the
 * callback must return: 0 to keep the connection, -1 to close it.  The pss
 * must not be touched afterwards (lws frees it).
 */
static int
respond(struct lws *wsi, const char *origin, unsigned status,
    const char *ctype, const void *body, size_t len, int close)
{
	uint8_t hbuf[LWS_PRE + 2048], *start = hbuf + LWS_PRE, *p = start;
	uint8_t *end = hbuf + sizeof(hbuf) - 1, *bbuf;
	char conn[64];
	int rc;

	/*
	 * lws closes after the response when the request said
	 * "Connection: close"; say so, or a keep-alive client agent would
	 * reuse the dead connection.
	 */
	if (!close && lws_hdr_copy(wsi, conn, sizeof(conn),
	    WSI_TOKEN_CONNECTION) > 0 && strcasestr(conn, "close") != NULL)
		close = 2;

	if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end) ||
	    add_cors(wsi, origin, &p, end))
		return (-1);
	if (status == 200 && ctype != NULL && strncmp(ctype, "text/plain", 10) == 0 &&
	    add_hdr(wsi, "cache-control:", "no-store", &p, end))
		return (-1);
	if (close && add_hdr(wsi, "connection:", "close", &p, end))
		return (-1);
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return (-1);
	if (len > 0) {
		if ((bbuf = malloc(LWS_PRE + len)) == NULL)
			return (-1);
		memcpy(bbuf + LWS_PRE, body, len);
		rc = lws_write(wsi, bbuf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
		free(bbuf);
		if (rc < 0)
			return (-1);
	}
	if (close == 1)
		return (-1);
	return (lws_http_transaction_completed(wsi) ? -1 : 0);
}

static int
respond_error(struct lws *wsi, const char *origin, int code, int close)
{
	char body[128];
	int n;

	n = snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\"}",
	    code, ec_msg[code]);
	return (respond(wsi, origin, code == ECODE_FORBIDDEN ? 403 : 400,
	    "application/json", body, (size_t)n, close));
}

static int
respond_text(struct lws *wsi, const char *origin, const char *s)
{
	return (respond(wsi, origin, 200, "text/plain; charset=UTF-8", s,
	    strlen(s), 0));
}

/*
 * A query argument's value ("name=" with the '=').  lws copies the whole
 * "name=value" fragment before matching, so it needs a buffer of its own.
 */
static int
get_arg(struct lws *wsi, const char *name, char *buf, int len)
{
	char frag[512];
	const char *v;

	buf[0] = '\0';
	if ((v = lws_get_urlarg_by_name(wsi, name, frag, sizeof(frag))) == NULL)
		return (0);
	cf_strlcpy(buf, v, (size_t)len);
	return (1);
}

/* Which Engine.IO endpoint a path is: 1 Socket.IO, 2 bare echo, 0 none. */
static int
eio_path(const char *path)
{
	if (strncmp(path, "/socket.io/", 11) == 0)
		return (1);
	if (cf_http_engine_echo && strncmp(path, "/engine.io/", 11) == 0)
		return (2);
	return (0);
}

/*
 * Largest polling response body built from a session's queue: a backlog
 * goes out over several GETs (one packet is never split), so neither the
 * body nor a forwarded answer over the inbox is ever larger.
 */
#define CF_POLL_BODY_MAX	(256 * 1024)

/*
 * Build a polling payload from the head of the session's queue (at least
 * one packet, at most CF_POLL_BODY_MAX bytes when there are several).
 */
static int
drain_payload(struct cf_sess *s, struct cf_buf *b, int *sent_close)
{
	struct cf_msg *m;
	const uint8_t *d;

	*sent_close = 0;
	while (s->q.len > 0) {
		m = s->q.v[s->q.head];
		/* Binary packets go base64 encoded. */
		if (b->len > 0 && b->len + (m->binary ? (m->len + 2) / 3 * 4 + 1 :
		    m->len) > CF_POLL_BODY_MAX)
			break;
		m = cf_outq_pop(&s->q);
		d = CF_MSG_DATA(m);
		if (m->binary) {
			if (cf_eio_payload_append(b, CF_EIO_MESSAGE, 1, d, m->len))
				goto fail;
		} else {
			if (m->len > 0 && d[0] == '1')
				*sent_close = 1;
			if (cf_eio_payload_append(b, (enum cf_eio_type)(d[0] - '0'),
			    0, d + 1, m->len - 1))
				goto fail;
		}
		cf_msg_unref(m);
	}
	return (0);
 fail:
	cf_msg_unref(m);
	return (-1);
}

/*
 * What a polling GET of s gets now: 1 with the body in b (the GET is
 * answered), 0 when there is nothing to say yet (hold it).
 */
static int
poll_answer(struct cf_sess *s, struct cf_buf *b, int *finished)
{
	int sent_close;

	*finished = 0;
	if (s->poll_noop) {
		s->poll_noop = 0;
		cf_buf_appends(b, "6");
		if (s->state == CF_S_CLOSING)
			*finished = 1;
		return (1);
	}
	if (s->q.len == 0)
		return (0);
	if (drain_payload(s, b, &sent_close) == -1)
		cf_buf_reset(b);
	if (sent_close)
		*finished = 1;
	return (1);
}

/* ------------------------------------------------------ polling: GET */

/*
 * The body of the 503 refusing a new session over max-unauthenticated or
 * max-unauthenticated-per-ip (polling handshake or WebSocket upgrade).
 */
#define UNAUTH_REFUSED	"Too many unauthenticated connections\n"

static int
handshake(struct lws *wsi, struct pss *pss, int endpoint, int websocket)
{
	struct cf_buf b = { 0 };
	struct cf_sess *s;
	int rc;

	if ((s = cf_sess_new(cf_w, websocket ? CF_T_WEBSOCKET : CF_T_POLLING))
	    == NULL)
		return (-1);
	s->eio_echo = endpoint == 2;
	if (s->eio_echo)
		s->connect_deadline = 0;
	else
		cf_sess_unauth_begin(s, cf_sess_addr_bucket(cf_w,
		    lws_get_socket_fd(wsi)));
	cf_sess_timer_update(s);
	if (cf_eio_open_packet(&b, s->sid, !websocket, cf_w->conf->ping_interval_ms,
	    cf_w->conf->ping_timeout_ms, cf_w->conf->max_payload) != CF_EIO_OK) {
		cf_buf_free(&b);
		cf_sess_close(s, "out of memory", 0);
		return (-1);
	}
	if (websocket) {
		struct cf_msg *m = cf_msg_new(b.data, b.len, 0);

		cf_buf_free(&b);
		s->ws_wsi = wsi;
		pss->sess = s;
		pss->kind = K_WS;
		if (m == NULL)
			return (-1);
		cf_outq_push(&s->q, m);
		cf_msg_unref(m);
		lws_callback_on_writable(wsi);
		return (0);
	}
	rc = respond(wsi, origin_of(pss), 200, "text/plain; charset=UTF-8", b.data,
	    b.len, 0);
	cf_buf_free(&b);
	return (rc);
}

static int
start_get(struct lws *wsi, struct pss *pss, struct cf_sess *s)
{
	if (s->poll_wsi != NULL || s->remote_poll) {
		/* Overlapping GETs: refuse this one, close the session. */
		cf_sess_close(s, "overlapping GET", 1);
		return (respond_error(wsi, origin_of(pss), ECODE_BAD, 0));
	}
	if (s->upgrading)
		return (respond_text(wsi, origin_of(pss), "6"));
	s->poll_wsi = wsi;
	pss->sess = s;
	pss->kind = K_GET;
	/* A held GET waits as long as it must (at most one ping interval). */
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	if (s->q.len > 0 || s->poll_noop)
		lws_callback_on_writable(wsi);
	return (0);
}

static int
get_writeable(struct lws *wsi, struct pss *pss)
{
	struct cf_sess *s = pss->sess;
	struct cf_buf b = { 0 };
	char *origin;
	int finished, rc;

	if (pss->kind == K_FWD) {
		if (!pss->fwd_ready)
			return (0);
		origin = take_origin(pss);
		b = pss->fwd_body;
		memset(&pss->fwd_body, 0, sizeof(pss->fwd_body));
		rc = respond(wsi, origin ? origin : "",
		    (unsigned)pss->fwd_status, pss->fwd_status == 200 ?
		    "text/plain; charset=UTF-8" : "application/json", b.data,
		    b.len, 0);
		cf_buf_free(&b);
		free(origin);
		return (rc);
	}
	if (pss->kind != K_GET)
		return (0);
	if (s == NULL)
		return (respond_text(wsi, origin_of(pss), "1"));
	if (!poll_answer(s, &b, &finished)) {
		cf_buf_free(&b);
		return (0);
	}
	s->poll_wsi = NULL;
	pss->sess = NULL;
	pss->kind = K_NONE;
	origin = take_origin(pss);
	if (finished)
		cf_sess_transport_gone(s, NULL);
	/*
	 * The answer leaves the session's bound here: a peer that never
	 * reads it must not keep it in lws (and the kernel) forever.  A
	 * completed transaction replaces this with the keep-alive timeout.
	 */
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, (int)((cf_w->conf->
	    ping_interval_ms + cf_w->conf->ping_timeout_ms) / 1000));
	rc = respond(wsi, origin ? origin : "", 200,
	    "text/plain; charset=UTF-8", b.data, b.len, 0);
	cf_buf_free(&b);
	free(origin);
	return (rc);
}

/* ----------------------------------------------------- polling: POST */

/* Feed a POST body to s.  Returns the HTTP status to answer. */
static int
post_body(struct cf_sess *s, uint8_t *body, size_t len)
{
	struct cf_eio_packet pk[256];
	size_t n, i, off = 0;
	int rc;

	if (s->state != CF_S_OPEN)
		return (200);
	/* Decode in chunks of 256 packets: the array bounds one pass. */
	(void)off;
	rc = cf_eio_decode_payload(body, len, pk, 256, &n);
	if (rc == CF_EIO_ETOOMANY || rc == CF_EIO_EPROTO || n == 0) {
		if (rc != CF_EIO_ETOOMANY) {
			cf_sess_close(s, "parse error", 1);
			return (400);
		}
	}
	for (i = 0; i < n; i++) {
		if (s->eio_echo && pk[i].type == CF_EIO_MESSAGE) {
			struct cf_msg *m = pk[i].binary ?
			    cf_msg_new(pk[i].data, pk[i].len, 1) :
			    cf_msg_new2('4', pk[i].data, pk[i].len);

			if (m != NULL) {
				cf_sess_send(s, m);
				cf_msg_unref(m);
			}
			continue;
		}
		if (cf_sess_input(s, &pk[i]) == -1)
			break;
	}
	if (rc == CF_EIO_ETOOMANY) {
		cf_sess_close(s, "too many packets", 1);
		return (400);
	}
	/* A slow consumer's connection is closed with its session. */
	if (s->slow)
		return (400);
	return (200);
}

/* ------------------------------------------------ forwarded requests */

static int
forward(struct lws *wsi, struct pss *pss, int slot, int post,
    const uint8_t *body, size_t len)
{
	struct cf_ipc_fwd_req h;
	struct cf_buf b = { 0 };
	struct fwd *f;
	int rc;

	if (pss->fwd_id == 0) {
		if ((f = calloc(1, sizeof(*f))) == NULL)
			return (-1);
		f->id = fwd_next++;
		if (fwd_next == 0)
			fwd_next = 1;
		f->wsi = wsi;
		HASH_ADD_INT(fwds, id, f);
		pss->fwd_id = f->id;
	}
	pss->kind = K_FWD;
	memset(&h, 0, sizeof(h));
	h.id = pss->fwd_id;
	h.method = post ? 1 : 0;
	cf_strlcpy(h.sid, pss->sid, sizeof(h.sid));
	/* An Origin that does not fit is not passed on: it allows nothing. */
	if (strlen(origin_of(pss)) < sizeof(h.origin))
		cf_strlcpy(h.origin, origin_of(pss), sizeof(h.origin));
	if (cf_buf_append(&b, &h, sizeof(h)) == -1 ||
	    (len > 0 && cf_buf_append(&b, body, len) == -1)) {
		cf_buf_free(&b);
		return (-1);
	}
	rc = cf_ipc_send((unsigned)slot, CF_IPC_FWD_REQ, b.data, b.len, -1);
	cf_buf_free(&b);
	/*
	 * The owner answers a held GET by the next ping at the latest; if it
	 * dies (or never answers) the connection is closed then, so a
	 * forwarded request never waits forever.
	 */
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, (int)((cf_w->conf->
	    ping_interval_ms + cf_w->conf->ping_timeout_ms) / 1000 +
	    CF_FWD_SLACK_S));
	return (rc);
}

static void
fwd_forget(struct pss *pss)
{
	struct fwd *f;

	if (pss->fwd_id == 0)
		return;
	HASH_FIND_INT(fwds, &pss->fwd_id, f);
	if (f != NULL) {
		HASH_DEL(fwds, f);
		free(f);
	}
	pss->fwd_id = 0;
	cf_buf_free(&pss->fwd_body);
}

static void
fwd_reply(unsigned slot, uint32_t id, unsigned status, const void *body,
    size_t len)
{
	struct cf_ipc_fwd_resp h;
	struct cf_buf b = { 0 };

	memset(&h, 0, sizeof(h));
	h.id = id;
	h.status = (uint16_t)status;
	if (cf_buf_append(&b, &h, sizeof(h)) == 0 &&
	    (len == 0 || cf_buf_append(&b, body, len) == 0))
		(void)cf_ipc_send(slot, CF_IPC_FWD_RESP, b.data, b.len, -1);
	cf_buf_free(&b);
}

static void
fwd_reply_error(unsigned slot, uint32_t id, int code)
{
	char body[128];
	int n;

	n = snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\"}",
	    code, ec_msg[code]);
	fwd_reply(slot, id, 400, body, (size_t)n);
}

int
cf_http_fwd_request(struct cf_worker *w, unsigned src, const uint8_t *data,
    size_t len)
{
	struct cf_ipc_fwd_req h;
	struct cf_sess *s;
	uint8_t *body;
	int status;

	if (len < sizeof(h))
		return (-1);
	memcpy(&h, data, sizeof(h));
	h.sid[sizeof(h.sid) - 1] = '\0';
	if ((s = cf_sess_find(w, h.sid)) == NULL) {
		fwd_reply_error(src, h.id, ECODE_SID);
		return (0);
	}
	if (s->transport != CF_T_POLLING) {
		fwd_reply_error(src, h.id, ECODE_BAD);
		return (0);
	}
	if (h.method == 1) {
		if (s->post_wsi != NULL) {
			cf_sess_close(s, "overlapping POST", 1);
			fwd_reply_error(src, h.id, ECODE_BAD);
			return (0);
		}
		if ((body = malloc(len - sizeof(h) + 1)) == NULL)
			return (-1);
		memcpy(body, data + sizeof(h), len - sizeof(h));
		status = post_body(s, body, len - sizeof(h));
		free(body);
		if (status == 200)
			fwd_reply(src, h.id, 200, "ok", 2);
		else
			fwd_reply_error(src, h.id, ECODE_BAD);
		return (0);
	}
	if (s->poll_wsi != NULL || s->remote_poll) {
		cf_sess_close(s, "overlapping GET", 1);
		fwd_reply_error(src, h.id, ECODE_BAD);
		return (0);
	}
	if (s->upgrading) {
		fwd_reply(src, h.id, 200, "6", 1);
		return (0);
	}
	s->remote_poll = 1;
	s->remote_slot = src;
	s->remote_reqid = h.id;
	cf_http_remote_flush(s);
	return (0);
}

void
cf_http_remote_flush(struct cf_sess *s)
{
	struct cf_buf b = { 0 };
	int finished;

	if (!s->remote_poll)
		return;
	if (!poll_answer(s, &b, &finished) && s->state != CF_S_CLOSED) {
		cf_buf_free(&b);
		return;
	}
	s->remote_poll = 0;
	fwd_reply(s->remote_slot, s->remote_reqid, 200,
	    b.len ? (const char *)b.data : "6", b.len ? b.len : 1);
	cf_buf_free(&b);
	if (finished)
		cf_sess_transport_gone(s, NULL);
}

void
cf_http_fwd_response(struct cf_worker *w, const uint8_t *data, size_t len)
{
	struct cf_ipc_fwd_resp h;
	struct fwd *f;
	struct pss *pss;

	(void)w;
	if (len < sizeof(h))
		return;
	memcpy(&h, data, sizeof(h));
	HASH_FIND_INT(fwds, &h.id, f);
	if (f == NULL)
		return;		/* the client went away meanwhile */
	pss = lws_wsi_user(f->wsi);
	if (pss == NULL || pss->fwd_id != h.id)
		return;
	cf_buf_reset(&pss->fwd_body);
	if (cf_buf_append(&pss->fwd_body, data + sizeof(h), len - sizeof(h)))
		return;
	pss->fwd_status = h.status;
	pss->fwd_ready = 1;
	lws_callback_on_writable(f->wsi);
}

/* ----------------------------------------------------------- metrics */

static int
metrics_printf(struct cf_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append formatted text to b.  0, or -1 on allocation failure. */
static int
metrics_printf(struct cf_buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	 line[256];
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return (-1);
	return (cf_buf_append(b, line, (size_t)n));
}

/* presence_each callback: count the "u:" keys (users online). */
static int
metrics_count_user(void *arg, const char *user, uint32_t total)
{
	if (total > 0 && strncmp(user, "u:", 2) == 0)
		(*(uint64_t *)arg)++;
	return (0);
}

/* A metric family header: "# HELP" and "# TYPE" lines. */
static int
metrics_head(struct cf_buf *b, const char *name, const char *type,
    const char *help)
{
	return (metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type));
}

/*
 * One sample per worker slot of a uint64_t field of struct cf_shm_stats
 * (at byte offset off), read with a relaxed atomic load.
 */
static int
metrics_per_slot(struct cf_buf *b, const char *name, size_t off)
{
	struct cf_shm_stats	*st;
	unsigned		 i, n = cf_shm_nslots(cf_w->shm);
	uint64_t		 v;

	for (i = 0; i < n; i++) {
		if ((st = cf_shm_stats(cf_w->shm, i)) == NULL)
			continue;
		v = __atomic_load_n((uint64_t *)(void *)((char *)st + off),
		    __ATOMIC_RELAXED);
		if (metrics_printf(b, "%s{worker=\"%u\"} %" PRIu64 "\n", name,
		    i, v))
			return (-1);
	}
	return (0);
}

/* Microseconds as seconds with 6 decimals. */
#define US_FMT		"%" PRIu64 ".%06u"
#define US_ARGS(us)	(us) / 1000000, (unsigned)((us) % 1000000)

/*
 * The series added for operators: events by name, deliveries, relay lag,
 * database write latency, errors by code, worker restarts.  0 or -1.
 */
static int
metrics_build_more(struct cf_buf *b)
{
	struct cf_shm_stats	*st;
	unsigned		 i, j, n = cf_shm_nslots(cf_w->shm);
	uint64_t		 v, cum;
	uint32_t		 ne;
	const char		*name;

	if (metrics_head(b, "confabd_events_in_by_name_total", "counter",
	    "Socket.IO events received, by event name (unknown: not in the "
	    "event table)."))
		return (-1);
	for (i = 0; i < n; i++) {
		if ((st = cf_shm_stats(cf_w->shm, i)) == NULL)
			continue;
		for (j = 0; j < CF_SHM_EVENT_NAMES; j++) {
			name = j == CF_SHM_EVENT_NAMES - 1 ? "unknown" :
			    cf_app->event_name != NULL ? cf_app->event_name(j) :
			    NULL;
			if (name == NULL)
				continue;
			v = __atomic_load_n(&st->events_by_name[j],
			    __ATOMIC_RELAXED);
			if (metrics_printf(b, "confabd_events_in_by_name_total"
			    "{worker=\"%u\",event=\"%s\"} %" PRIu64 "\n", i,
			    name, v))
				return (-1);
		}
	}
	if (metrics_head(b, "confabd_deliveries_out_total", "counter",
	    "Socket.IO packets queued to clients (one per recipient).") ||
	    metrics_per_slot(b, "confabd_deliveries_out_total",
	    offsetof(struct cf_shm_stats, deliveries_out)))
		return (-1);
	if (metrics_head(b, "confabd_slow_consumer_disconnects_total",
	    "counter", "Sessions closed because more than max-output-buffer "
	    "bytes waited to be sent to them.") ||
	    metrics_per_slot(b, "confabd_slow_consumer_disconnects_total",
	    offsetof(struct cf_shm_stats, slow_consumers)))
		return (-1);
	if (metrics_head(b, "confabd_relay_lag_seconds", "summary",
	    "Time from a relay publish to its receipt (other workers' frames "
	    "locally, the echo of our own over Redis)."))
		return (-1);
	for (i = 0; i < n; i++) {
		if ((st = cf_shm_stats(cf_w->shm, i)) == NULL)
			continue;
		v = __atomic_load_n(&st->relay_lag_sum_us, __ATOMIC_RELAXED);
		if (metrics_printf(b, "confabd_relay_lag_seconds_sum"
		    "{worker=\"%u\"} " US_FMT "\n", i, US_ARGS(v)) ||
		    metrics_printf(b, "confabd_relay_lag_seconds_count"
		    "{worker=\"%u\"} %" PRIu64 "\n", i,
		    __atomic_load_n(&st->relay_lag_count, __ATOMIC_RELAXED)))
			return (-1);
	}
	if (metrics_head(b, "confabd_db_statements_total", "counter",
	    "SQL statements run on the database (reads and writes; not "
	    "BEGIN / COMMIT).") ||
	    metrics_per_slot(b, "confabd_db_statements_total",
	    offsetof(struct cf_shm_stats, db_statements)))
		return (-1);
	if (metrics_head(b, "confabd_db_write_seconds", "histogram",
	    "Duration of committed database writes (a transaction, or one "
	    "statement)."))
		return (-1);
	for (i = 0; i < n; i++) {
		if ((st = cf_shm_stats(cf_w->shm, i)) == NULL)
			continue;
		/* The count first: buckets never run ahead of it. */
		v = __atomic_load_n(&st->db_write_count, __ATOMIC_ACQUIRE);
		for (j = 0, cum = 0; j < CF_SHM_DB_BUCKETS; j++) {
			cum += __atomic_load_n(&st->db_write_buckets[j],
			    __ATOMIC_RELAXED);
			if (metrics_printf(b, "confabd_db_write_seconds_bucket"
			    "{worker=\"%u\",le=\"" US_FMT "\"} %" PRIu64 "\n",
			    i, US_ARGS((uint64_t)cf_shm_db_bucket_us[j]),
			    cum < v ? cum : v))
				return (-1);
		}
		if (metrics_printf(b, "confabd_db_write_seconds_bucket"
		    "{worker=\"%u\",le=\"+Inf\"} %" PRIu64 "\n", i, v) ||
		    metrics_printf(b, "confabd_db_write_seconds_sum"
		    "{worker=\"%u\"} " US_FMT "\n", i,
		    US_ARGS(__atomic_load_n(&st->db_write_sum_us,
		    __ATOMIC_RELAXED))) ||
		    metrics_printf(b, "confabd_db_write_seconds_count"
		    "{worker=\"%u\"} %" PRIu64 "\n", i, v))
			return (-1);
	}
	if (metrics_head(b, "confabd_errors_total", "counter",
	    "Errors sent to clients (acks and error events), by error.code."))
		return (-1);
	for (i = 0; i < n; i++) {
		if ((st = cf_shm_stats(cf_w->shm, i)) == NULL)
			continue;
		ne = __atomic_load_n(&st->nerrors, __ATOMIC_ACQUIRE);
		for (j = 0; j < ne && j < CF_SHM_ERROR_CODES; j++) {
			char code[CF_SHM_CODE_MAX];

			memcpy(code, st->errors[j].code, sizeof(code));
			code[sizeof(code) - 1] = '\0';
			if (code[strspn(code, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:.-")] != '\0')
				continue;	/* not fit for a label */
			if (metrics_printf(b, "confabd_errors_total{worker="
			    "\"%u\",code=\"%s\"} %" PRIu64 "\n", i, code,
			    __atomic_load_n(&st->errors[j].count,
			    __ATOMIC_RELAXED)))
				return (-1);
		}
	}
	if (metrics_head(b, "confabd_worker_restarts_total", "counter",
	    "Times the master started the worker slot again after it died.") ||
	    metrics_per_slot(b, "confabd_worker_restarts_total",
	    offsetof(struct cf_shm_stats, restarts)))
		return (-1);
	return (0);
}

/*
 * Build the Prometheus text exposition (format 0.0.4) of every worker
 * slot of this host into b from the shared-memory stats and presence
 * table, so any worker answers for all.  0, or -1 when out of memory.
 */
static int
metrics_build(struct cf_buf *b)
{
	struct cf_shm_stats	*st;
	unsigned		 i, n = cf_shm_nslots(cf_w->shm);
	uint64_t		 ws, poll, started, users = 0;
	pid_t			 pid;
	int			 up;

	if (metrics_head(b, "confabd_connections", "gauge",
	    "Engine.IO sessions open now, by worker and transport."))
		return (-1);
	for (i = 0; i < n; i++) {
		if ((st = cf_shm_stats(cf_w->shm, i)) == NULL)
			continue;
		ws = __atomic_load_n(&st->ws_connections, __ATOMIC_RELAXED);
		poll = __atomic_load_n(&st->polling_connections,
		    __ATOMIC_RELAXED);
		if (metrics_printf(b, "confabd_connections{worker=\"%u\","
		    "transport=\"websocket\"} %" PRIu64 "\n"
		    "confabd_connections{worker=\"%u\","
		    "transport=\"polling\"} %" PRIu64 "\n", i, ws, i, poll))
			return (-1);
	}
	if (metrics_head(b, "confabd_events_in_total", "counter",
	    "Socket.IO events received from clients.") ||
	    metrics_per_slot(b, "confabd_events_in_total",
	    offsetof(struct cf_shm_stats, events_in)) ||
	    metrics_head(b, "confabd_relay_published_total", "counter",
	    "Frames published to the relay for other servers.") ||
	    metrics_per_slot(b, "confabd_relay_published_total",
	    offsetof(struct cf_shm_stats, relay_out)) ||
	    metrics_head(b, "confabd_relay_received_total", "counter",
	    "Frames received from the relay.") ||
	    metrics_per_slot(b, "confabd_relay_received_total",
	    offsetof(struct cf_shm_stats, relay_in)))
		return (-1);
	if (metrics_head(b, "confabd_unauthenticated_connections", "gauge",
	    "Engine.IO sessions not authenticated yet.") ||
	    metrics_per_slot(b, "confabd_unauthenticated_connections",
	    offsetof(struct cf_shm_stats, unauthenticated)) ||
	    metrics_head(b, "confabd_unauthenticated_refused_total", "counter",
	    "New connections refused by max-unauthenticated(-per-ip).") ||
	    metrics_per_slot(b, "confabd_unauthenticated_refused_total",
	    offsetof(struct cf_shm_stats, unauth_refused)) ||
	    metrics_head(b, "confabd_attachment_disconnects_total", "counter",
	    "Sessions closed for their binary attachments (size, time, "
	    "before authentication).") ||
	    metrics_per_slot(b, "confabd_attachment_disconnects_total",
	    offsetof(struct cf_shm_stats, attach_closed)))
		return (-1);
	if (cf_w->conf->redis_host != NULL && (metrics_head(b,
	    "confabd_relay_redis_up", "gauge",
	    "1 while the worker's Redis connections are up.") ||
	    metrics_per_slot(b, "confabd_relay_redis_up",
	    offsetof(struct cf_shm_stats, redis_up)) ||
	    metrics_head(b, "confabd_relay_redis_errors_total", "counter",
	    "Redis outages seen and broadcasts Redis could not take.") ||
	    metrics_per_slot(b, "confabd_relay_redis_errors_total",
	    offsetof(struct cf_shm_stats, redis_errors))))
		return (-1);
	if (metrics_head(b, "confabd_worker_up", "gauge",
	    "1 when the worker process of the slot is running."))
		return (-1);
	for (i = 0; i < n; i++) {
		if ((st = cf_shm_stats(cf_w->shm, i)) == NULL)
			continue;
		pid = __atomic_load_n(&st->pid, __ATOMIC_RELAXED);
		up = pid != 0 && kill(pid, 0) == 0;
		if (metrics_printf(b, "confabd_worker_up{worker=\"%u\"} %d\n",
		    i, up))
			return (-1);
	}
	if (metrics_head(b, "confabd_worker_start_time_seconds", "gauge",
	    "Start time of the worker since the Unix epoch, in seconds."))
		return (-1);
	for (i = 0; i < n; i++) {
		if ((st = cf_shm_stats(cf_w->shm, i)) == NULL)
			continue;
		started = __atomic_load_n(&st->started_ms, __ATOMIC_RELAXED);
		if (metrics_printf(b, "confabd_worker_start_time_seconds"
		    "{worker=\"%u\"} %" PRIu64 ".%03u\n", i, started / 1000,
		    (unsigned)(started % 1000)))
			return (-1);
	}
	cf_shm_presence_each(cf_w->shm, metrics_count_user, &users);
	if (metrics_head(b, "confabd_authenticated_users", "gauge",
	    "Distinct authenticated users connected to this host.") ||
	    metrics_printf(b, "confabd_authenticated_users %" PRIu64 "\n",
	    users))
		return (-1);
	return (metrics_build_more(b));
}

/*
 * GET /metrics: 403 unless the peer address is allowed by metrics-allow,
 * else the exposition built by metrics_build().  Returns what respond()
 * returns.
 */
static int
on_metrics(struct lws *wsi)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	struct cf_buf		 b = { 0 };
	lws_sockfd_type		 fd;
	int			 rc;

	fd = lws_get_socket_fd(wsi);
	memset(&ss, 0, sizeof(ss));
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sslen) == -1 ||
	    !cf_conf_metrics_allowed(cf_w->conf, (struct sockaddr *)&ss))
		return (respond(wsi, "", 403, "text/plain", "Forbidden\n", 10,
		    0));
	if (cf_w->shm == NULL || metrics_build(&b) == -1) {
		cf_buf_free(&b);
		return (respond(wsi, "", 500, "text/plain",
		    "Internal Server Error\n", 22, 0));
	}
	rc = respond(wsi, "", 200, "text/plain; version=0.0.4; charset=utf-8",
	    b.data, b.len, 0);
	cf_buf_free(&b);
	return (rc);
}

/* ------------------------------------------------------ HTTP request */

/*
 * The framing verdict of the request on wsi (cf_httpreq_framing):
 * libwebsockets 4.1.6 keeps a repeated header as one fragment per copy, so
 * duplicates are visible here, for every request of a kept-alive
 * connection; it would take the first Content-Length and read a chunked
 * body as raw bytes.
 */
static int
framing(struct lws *wsi)
{
	char v[4][24], te[2];
	const char *cl[4];
	uint64_t len;
	int i;

	for (i = 0; i < 4; i++) {
		if (lws_hdr_copy_fragment(wsi, v[i], sizeof(v[i]),
		    WSI_TOKEN_HTTP_CONTENT_LENGTH, i) < 0) {
			if (lws_hdr_fragment_length(wsi,
			    WSI_TOKEN_HTTP_CONTENT_LENGTH, i) <
			    (int)sizeof(v[i]))
				break;		/* no such fragment */
			cf_strlcpy(v[i], "x", sizeof(v[i]));	/* too long */
		}
		cl[i] = v[i];
	}
	return (cf_httpreq_framing(cl, (size_t)i,
	    lws_hdr_copy_fragment(wsi, te, sizeof(te),
	    WSI_TOKEN_HTTP_TRANSFER_ENCODING, 0) >= 0 ||
	    lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0,
	    &len));
}

/*
 * The checks of a polling POST's head, on the worker that got it, before
 * it is read or forwarded: a binary body (refused, as by the reference)
 * or one announced longer than max-payload.  Returns 1 with *rc the
 * callback's return when it answered, 0 when the POST may go on.
 */
static int
post_refused(struct lws *wsi, struct pss *pss, int *rc)
{
	char buf[64];

	if (lws_hdr_copy(wsi, buf, sizeof(buf),
	    WSI_TOKEN_HTTP_CONTENT_TYPE) > 0 &&
	    strncasecmp(buf, "application/octet-stream", 24) == 0) {
		*rc = respond_error(wsi, origin_of(pss), ECODE_BAD, 1);
		return (1);
	}
	if (lws_hdr_copy(wsi, buf, sizeof(buf),
	    WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
	    strtoull(buf, NULL, 10) > cf_w->conf->max_payload) {
		*rc = respond(wsi, origin_of(pss), 413, "text/plain",
		    "Payload Too Large", 17, 1);
		return (1);
	}
	return (0);
}

static int
on_http(struct lws *wsi, struct pss *pss, const char *path)
{
	char eio[8], transport[16], sid[32], buf[512];
	struct cf_sess *s;
	int endpoint, slot, is_get, is_post, rc;
	uint8_t hb[LWS_PRE + 2048], *start = hb + LWS_PRE, *p = start;
	uint8_t *end = hb + sizeof(hb) - 1;

	copy_origin(wsi, pss);
	/*
	 * Ambiguous framing (request smuggling), or a chunked body lws would
	 * mis-read: 400 and the connection closed, before any body is read.
	 */
	if (framing(wsi) != CF_HTTPREQ_OK)
		return (respond_error(wsi, origin_of(pss), ECODE_BAD, 1));
	is_get = method_is(wsi, WSI_TOKEN_GET_URI);
	is_post = method_is(wsi, WSI_TOKEN_POST_URI);

	if ((endpoint = eio_path(path)) == 0) {
		/* Health for load balancers: 503 while draining. */
		if (strcmp(path, "/healthz") == 0 && (is_get ||
		    method_is(wsi, WSI_TOKEN_HEAD_URI)))
			return (cf_w->draining ?
			    respond(wsi, "", 503, "text/plain", "draining\n",
			    9, 1) :
			    respond(wsi, "", 200, "text/plain", "ok\n", 3, 0));
		if (strcmp(path, "/metrics") == 0 && is_get)
			return (on_metrics(wsi));
		return (respond(wsi, origin_of(pss), 404, "text/plain", "Not Found",
		    9, 0));
	}

	if (method_is(wsi, WSI_TOKEN_OPTIONS_URI)) {
		/*
		 * CORS preflight, as the reference's cors middleware: the requested headers
		 * are echoed (lws parses Access-Control-Request-Headers as a
		 * known token, not a custom header).  Only an allowed Origin
		 * gets any Access-Control-* header.
		 */
		if (lws_add_http_common_headers(wsi, 204, NULL, 0, &p, end) ||
		    add_cors(wsi, origin_of(pss), &p, end))
			return (-1);
		if (origin_of(pss)[0] != '\0' &&
		    cf_conf_origin_allowed(cf_w->conf, origin_of(pss)) &&
		    (add_hdr(wsi, "access-control-allow-methods:",
		    "GET,HEAD,PUT,PATCH,POST,DELETE", &p, end) ||
		    add_hdr(wsi, "access-control-max-age:", CF_CORS_MAX_AGE, &p,
		    end) ||
		    (lws_hdr_copy(wsi, buf, sizeof(buf),
		    WSI_TOKEN_HTTP_AC_REQUEST_HEADERS) > 0 &&
		    (add_hdr(wsi, "access-control-allow-headers:", buf, &p, end) ||
		    add_hdr(wsi, "vary:", "Access-Control-Request-Headers", &p,
		    end)))))
			return (-1);
		if (lws_finalize_write_http_header(wsi, start, &p, end))
			return (-1);
		return (lws_http_transaction_completed(wsi) ? -1 : 0);
	}

	get_arg(wsi, "transport=", transport, sizeof(transport));
	if (strcmp(transport, "polling") != 0 &&
	    strcmp(transport, "websocket") != 0)
		return (respond_error(wsi, origin_of(pss), ECODE_TRANSPORT,
		    !is_get));
	get_arg(wsi, "sid=", sid, sizeof(sid));

	if (sid[0] != '\0') {
		cf_strlcpy(pss->sid, sid, sizeof(pss->sid));
		s = cf_sess_find(cf_w, sid);
		if (s == NULL) {
			slot = cf_sid_slot(sid);
			if (slot >= 0 && (unsigned)slot < cf_w->nslots &&
			    (unsigned)slot != cf_w->slot &&
			    cf_shm_slot_running(cf_w->shm, (unsigned)slot) &&
			    (is_get || is_post) &&
			    strcmp(transport, "polling") == 0) {
				if (is_post && post_refused(wsi, pss, &rc))
					return (rc);
				if (is_post) {
					pss->kind = K_FWD;
					pss->post_fwd = 1;
					return (0);	/* forwarded at body end */
				}
				if (forward(wsi, pss, slot, 0, NULL, 0) == -1)
					return (respond_error(wsi, origin_of(pss),
					    ECODE_SID, 0));
				return (0);
			}
			return (respond_error(wsi, origin_of(pss), ECODE_SID, !is_get));
		}
		if (strcmp(transport, "polling") != 0 ||
		    s->transport != CF_T_POLLING)
			return (respond_error(wsi, origin_of(pss), ECODE_BAD, !is_get));
		if (is_get)
			return (start_get(wsi, pss, s));
		if (!is_post) {
			return (respond(wsi, origin_of(pss), 500, "text/plain",
			    "Bad method", 10, 1));
		}
		if (s->post_wsi != NULL) {
			cf_sess_close(s, "overlapping POST", 1);
			return (respond_error(wsi, origin_of(pss), ECODE_BAD, 1));
		}
		if (post_refused(wsi, pss, &rc))
			return (rc);
		s->post_wsi = wsi;
		pss->sess = s;
		pss->kind = K_POST;
		return (0);
	}

	/* A handshake. */
	if (!is_get)
		return (respond_error(wsi, origin_of(pss), ECODE_METHOD, 1));
	get_arg(wsi, "EIO=", eio, sizeof(eio));
	if (strcmp(eio, "4") != 0)
		return (respond_error(wsi, origin_of(pss), ECODE_VERSION, 0));
	if (strcmp(transport, "websocket") == 0)
		return (respond_error(wsi, origin_of(pss), ECODE_BAD, 0));
	if (cf_w->draining)
		return (respond(wsi, origin_of(pss), 503, "text/plain",
		    "Service Unavailable", 19, 1));
	if (endpoint == 1 && cf_sess_admit(cf_w, cf_sess_addr_bucket(cf_w,
	    lws_get_socket_fd(wsi))) == -1)
		return (respond(wsi, origin_of(pss), 503, "text/plain",
		    UNAUTH_REFUSED, sizeof(UNAUTH_REFUSED) - 1, 1));
	return (handshake(wsi, pss, endpoint, 0));
}

static int
on_body(struct lws *wsi, struct pss *pss, const void *in, size_t len)
{
	if (pss->kind != K_POST && !(pss->kind == K_FWD && pss->post_fwd))
		return (0);
	/*
	 * lws 4.1.6 hands a POST it read ahead of the previous response
	 * (HTTP/1.1 pipelining) over with its own head counted as body, and
	 * frees the buffer it reads from under the next call: refuse the
	 * request before lws consumes anything (returning -1 stops it), and
	 * leave the session alone.  Pipelining is refused cleanly this way;
	 * a client sends the POST again on a new connection.
	 */
	if (pss->rx.len == 0 && len > 0 &&
	    cf_httpreq_replayed_head(in, len, "POST")) {
		if (pss->sess != NULL && pss->sess->post_wsi == wsi)
			pss->sess->post_wsi = NULL;
		pss->sess = NULL;
		pss->kind = K_NONE;
		(void)respond_error(wsi, origin_of(pss), ECODE_BAD, 1);
		return (-1);
	}
	if (pss->rx.len + len > cf_w->conf->max_payload) {
		if (pss->sess != NULL && pss->sess->post_wsi == wsi)
			pss->sess->post_wsi = NULL;
		pss->sess = NULL;
		pss->kind = K_NONE;
		cf_buf_free(&pss->rx);
		return (respond(wsi, origin_of(pss), 413, "text/plain",
		    "Payload Too Large", 17, 1));
	}
	if (len > 0 && cf_buf_append(&pss->rx, in, len) == -1)
		return (-1);
	return (0);
}

static int
on_body_done(struct lws *wsi, struct pss *pss)
{
	struct cf_sess *s = pss->sess;
	char *origin;
	int status, slot, rc;

	if (pss->kind == K_FWD && pss->post_fwd) {
		pss->post_fwd = 0;
		slot = cf_sid_slot(pss->sid);
		if (forward(wsi, pss, slot, 1, pss->rx.data, pss->rx.len) == -1) {
			cf_buf_free(&pss->rx);
			return (respond_error(wsi, origin_of(pss), ECODE_SID, 1));
		}
		cf_buf_free(&pss->rx);
		return (0);
	}
	if (pss->kind != K_POST)
		return (respond_error(wsi, origin_of(pss), ECODE_BAD, 1));
	origin = take_origin(pss);
	if (s == NULL) {
		cf_buf_free(&pss->rx);
		rc = respond_error(wsi, origin ? origin : "", ECODE_SID, 1);
		goto out;
	}
	if (s->post_wsi == wsi)
		s->post_wsi = NULL;
	pss->sess = NULL;
	pss->kind = K_NONE;
	if (pss->rx.len == 0)
		status = 400;
	else
		status = post_body(s, pss->rx.data, pss->rx.len);
	cf_buf_free(&pss->rx);
	if (status != 200)
		rc = respond_error(wsi, origin ? origin : "", ECODE_BAD, 1);
	else
		rc = respond(wsi, origin ? origin : "", 200, "text/html", "ok",
		    2, 0);
 out:
	free(origin);
	return (rc);
}

/* The HTTP transaction is over (answered or the connection closed). */
static void
http_unbind(struct lws *wsi, struct pss *pss, int closed)
{
	struct cf_sess *s = pss->sess;

	free(take_origin(pss));
	if (pss->kind == K_WS || pss->kind == K_PROBE)
		return;
	fwd_forget(pss);
	cf_buf_free(&pss->rx);
	if (s != NULL) {
		pss->sess = NULL;
		if (s->post_wsi == wsi)
			s->post_wsi = NULL;
		if (s->poll_wsi == wsi) {
			s->poll_wsi = NULL;
			/* The reference closes a session whose held GET dies. */
			if (closed && s->state != CF_S_CLOSED)
				cf_sess_close(s, "transport error", 0);
		}
	}
	pss->kind = K_NONE;
}

/* --------------------------------------------------------- WebSocket */

static int
confirm_upgrade(struct lws *wsi)
{
	char path[256], eio[8], transport[16], sid[32];
	char *origin;	/* lws has no pss for us yet */
	struct cf_sess *s;
	int code = -1, failed;

	/* The whole Origin, whatever its length, or the upgrade is refused. */
	origin = dup_origin(wsi, &failed);
	if (framing(wsi) != CF_HTTPREQ_OK)
		code = ECODE_BAD;
	else if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0 ||
	    eio_path(path) == 0) {
		(void)respond(wsi, origin ? origin : "", 404, "text/plain",
		    "Not Found", 9, 1);
		free(origin);
		return (1);
	} else if (failed || (origin != NULL &&
	    !cf_conf_origin_allowed(cf_w->conf, origin))) {
		if (origin != NULL)
			log_refused_origin(origin, "WebSocket");
		code = ECODE_FORBIDDEN;
	}
	if (code != -1) {
		(void)respond_error(wsi, "", code, 1);
		free(origin);
		return (1);
	}
	get_arg(wsi, "transport=", transport, sizeof(transport));
	get_arg(wsi, "EIO=", eio, sizeof(eio));
	get_arg(wsi, "sid=", sid, sizeof(sid));
	if (strcmp(transport, "websocket") != 0)
		code = ECODE_TRANSPORT;
	else if (sid[0] != '\0') {
		s = cf_sess_find(cf_w, sid);
		/*
		 * A session that is already upgraded or upgrading gets its
		 * WebSocket opened and closed at once (ws_established), as the
		 * reference does.
		 */
		if (s == NULL)
			code = ECODE_SID;
	} else if (strcmp(eio, "4") != 0)
		code = ECODE_VERSION;
	else if (cf_w->draining)
		code = ECODE_BAD;
	else if (eio_path(path) == 1 && cf_sess_admit(cf_w,
	    cf_sess_addr_bucket(cf_w, lws_get_socket_fd(wsi))) == -1) {
		(void)respond(wsi, origin ? origin : "", 503, "text/plain",
		    UNAUTH_REFUSED, sizeof(UNAUTH_REFUSED) - 1, 1);
		free(origin);
		return (1);
	}
	if (code != -1) {
		(void)respond_error(wsi, origin ? origin : "", code, 1);
		free(origin);
		return (1);
	}
	free(origin);
	return (0);
}

static int
ws_established(struct lws *wsi, struct pss *pss)
{
	char path[256], sid[32];
	struct cf_sess *s;
	int endpoint;

	pss->established = 1;
	path[0] = '\0';
	(void)lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI);
	endpoint = eio_path(path);
	get_arg(wsi, "sid=", sid, sizeof(sid));
	if (sid[0] == '\0')
		return (handshake(wsi, pss, endpoint ? endpoint : 1, 1));
	s = cf_sess_find(cf_w, sid);
	if (s == NULL || s->transport != CF_T_POLLING || s->probe_wsi != NULL ||
	    s->state != CF_S_OPEN)
		return (-1);
	s->probe_wsi = wsi;
	pss->sess = s;
	pss->kind = K_PROBE;
	s->upgrade_deadline = cf_now_ms() + cf_w->conf->upgrade_timeout_ms;
	cf_sess_timer_update(s);
	return (0);
}

static int
probe_message(struct lws *wsi, struct pss *pss, const uint8_t *d, size_t len,
    int binary)
{
	struct cf_sess *s = pss->sess;

	if (s == NULL)
		return (-1);
	if (!binary && len == 6 && memcmp(d, "2probe", 6) == 0 &&
	    !s->upgrading) {
		s->upgrading = 1;
		pss->probe_reply = 1;
		lws_callback_on_writable(wsi);
		if (s->poll_wsi != NULL || s->remote_poll) {
			s->poll_noop = 1;
			cf_sess_wake(s);
		}
		return (0);
	}
	if (!binary && len == 1 && d[0] == '5' && s->upgrading) {
		/* Switch: the held GET (if any) is released with a noop. */
		if (s->poll_wsi != NULL || s->remote_poll) {
			s->poll_noop = 1;
			cf_sess_wake(s);
			if (s->poll_wsi != NULL) {
				struct pss *gp = lws_wsi_user(s->poll_wsi);

				/* Answer it on its own; it no longer carries s. */
				if (gp != NULL)
					gp->sess = NULL;
				s->poll_wsi = NULL;
			}
			s->remote_poll = 0;
			s->poll_noop = 0;
		}
		s->probe_wsi = NULL;
		s->ws_wsi = wsi;
		s->upgrading = 0;
		s->upgrade_deadline = 0;
		cf_sess_upgraded(s);
		pss->kind = K_WS;
		cf_sess_timer_update(s);
		if (s->q.len > 0)
			lws_callback_on_writable(wsi);
		return (0);
	}
	/* Anything else: this probe failed; the session stays on polling. */
	s->probe_wsi = NULL;
	s->upgrading = 0;
	s->upgrade_deadline = 0;
	pss->sess = NULL;
	return (-1);
}

static int
ws_message(struct lws *wsi, struct pss *pss, const uint8_t *d, size_t len,
    int binary)
{
	struct cf_sess *s = pss->sess;
	struct cf_eio_packet pk;

	if (pss->kind == K_PROBE)
		return (probe_message(wsi, pss, d, len, binary));
	if (s == NULL)
		return (-1);
	if (binary) {
		pk.type = CF_EIO_MESSAGE;
		pk.binary = 1;
		pk.data = (uint8_t *)d;	/* read only, as from the decoder */
		pk.len = len;
	} else if (cf_eio_decode_text(d, len, &pk) != CF_EIO_OK) {
		cf_sess_close(s, "parse error", 1);
		return (0);
	}
	if (s->eio_echo && pk.type == CF_EIO_MESSAGE) {
		struct cf_msg *m = pk.binary ? cf_msg_new(pk.data, pk.len, 1) :
		    cf_msg_new2('4', pk.data, pk.len);

		if (m != NULL) {
			cf_sess_send(s, m);
			cf_msg_unref(m);
		}
		return (0);
	}
	(void)cf_sess_input(s, &pk);
	return (0);
}

static int
ws_receive(struct lws *wsi, struct pss *pss, const void *in, size_t len)
{
	int rc;

	if (pss->rx.len + len > cf_w->conf->max_payload) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
		if (pss->sess != NULL && pss->kind == K_WS)
			cf_sess_close(pss->sess, "message too large", 0);
		return (-1);
	}
	/*
	 * A message that arrives whole is decoded from lws' buffer; only
	 * fragments are collected, and the collection buffer is freed after
	 * each message, so an idle connection holds none.
	 */
	if (pss->rx.len == 0 && lws_is_final_fragment(wsi) &&
	    lws_remaining_packet_payload(wsi) == 0)
		return (ws_message(wsi, pss, in, len, lws_frame_is_binary(wsi)));
	if (cf_buf_append(&pss->rx, in, len) == -1)
		return (-1);
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
		return (0);
	rc = ws_message(wsi, pss, pss->rx.data, pss->rx.len,
	    lws_frame_is_binary(wsi));
	cf_buf_free(&pss->rx);
	return (rc);
}

/* lws' receive buffer of each WebSocket. */
#define CF_WS_RXBUF	512

/* Largest batch of frames written at once (one frame is never split). */
#define CF_WS_BATCH	(256 * 1024)
#define CF_WS_IOV	256

/* A server (unmasked) frame header for len bytes into h; its length. */
static size_t
ws_header(uint8_t *h, int binary, size_t len)
{
	int i;

	h[0] = binary ? 0x82 : 0x81;
	if (len < 126) {
		h[1] = (uint8_t)len;
		return (2);
	}
	if (len < 65536) {
		h[1] = 126;
		h[2] = (uint8_t)(len >> 8);
		h[3] = (uint8_t)len;
		return (4);
	}
	h[1] = 127;
	for (i = 0; i < 8; i++)
		h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	return (10);
}

/*
 * Writes s's queued packets to wsi in one writev(): each packet's frame
 * header from a small array, its payload from the packet itself (encoded
 * once, shared by every recipient), at most CF_WS_BATCH bytes or
 * CF_WS_IOV packets (the rest waits for a writable callback).  What the
 * kernel does not take is copied once and handed to lws (LWS_WRITE_RAW:
 * the frames are complete), which sends it before anything written later.
 * While lws holds such bytes, everything goes through it.  Returns 0, or
 * -1 when the write failed.
 */
static int
ws_drain(struct lws *wsi, struct cf_sess *s)
{
	static uint8_t hdr[CF_WS_IOV][10];
	static struct iovec iov[2 * CF_WS_IOV];
	struct cf_msg *m[CF_WS_IOV];
	size_t total = 0, done, left, k;
	uint8_t *rest;
	uint32_t i, n;
	ssize_t w = 0;
	int rc = 0, fd;

	for (n = 0; n < s->q.len && n < CF_WS_IOV; n++) {
		m[n] = s->q.v[(s->q.head + n) % s->q.cap];
		if (n > 0 && total + m[n]->len + 10 > CF_WS_BATCH)
			break;
		iov[2 * n].iov_base = hdr[n];
		iov[2 * n].iov_len = ws_header(hdr[n], m[n]->binary, m[n]->len);
		iov[2 * n + 1].iov_base = CF_MSG_DATA(m[n]);
		iov[2 * n + 1].iov_len = m[n]->len;
		total += iov[2 * n].iov_len + m[n]->len;
	}
	if (n == 0)
		return (0);
	fd = lws_get_socket_fd(wsi);
	if (!lws_partial_buffered(wsi))
		s->ws_held = 0;
	if (fd >= 0 && !lws_partial_buffered(wsi)) {
		do
			w = writev(fd, iov, (int)(2 * n));
		while (w == -1 && errno == EINTR);
		if (w == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			rc = -1;
		if (w == -1)
			w = 0;
	}
	if (rc == 0 && (size_t)w < total) {
		/* The unsent tail, contiguous, for lws to keep. */
		if ((rest = malloc(LWS_PRE + total - (size_t)w)) == NULL) {
			rc = -1;
		} else {
			done = 0;
			left = 0;
			for (k = 0; k < 2 * n; k++) {
				size_t l = iov[k].iov_len, skip = 0;

				if (done + l <= (size_t)w) {
					done += l;
					continue;
				}
				if (done < (size_t)w)
					skip = (size_t)w - done;
				memcpy(rest + LWS_PRE + left,
				    (uint8_t *)iov[k].iov_base + skip, l - skip);
				left += l - skip;
				done += l;
			}
			if (lws_write(wsi, rest + LWS_PRE, left, LWS_WRITE_RAW) < 0)
				rc = -1;
			else
				s->ws_held += left;
			free(rest);
		}
	}
	for (i = 0; i < n; i++)
		cf_msg_unref(cf_outq_pop(&s->q));
	if (rc == 0 && s->q.len > 0)
		lws_callback_on_writable(wsi);
	return (rc);
}

/*
 * End of a loop turn (cf_sess_wake's flush list): write what was queued on
 * s's WebSocket now, outside a writable callback.  While lws still holds
 * unsent bytes of an earlier write, or to close, the writable callback
 * does it instead.
 */
void
cf_http_ws_flush(struct cf_sess *s)
{
	struct lws *wsi = s->ws_wsi;

	if (lws_partial_buffered(wsi)) {
		lws_callback_on_writable(wsi);
		return;
	}
	if (ws_drain(wsi, s) == -1) {
		cf_sess_transport_gone(s, "write error");
		lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND,
		    LWS_TO_KILL_ASYNC);
		return;
	}
	if (s->state == CF_S_CLOSING)
		lws_callback_on_writable(wsi);
}

size_t
cf_http_ws_unsent(struct cf_sess *s)
{
	if (s->transport != CF_T_WEBSOCKET || s->ws_wsi == NULL ||
	    !lws_partial_buffered(s->ws_wsi))
		return (0);
	return (s->ws_held);
}

int
cf_http_ws_stalled(struct cf_sess *s)
{
	int fd, n = 0;

	if (s->ws_wsi == NULL)
		return (0);
	if (lws_partial_buffered(s->ws_wsi))
		return (1);
	if ((fd = lws_get_socket_fd(s->ws_wsi)) < 0 ||
	    ioctl(fd, SIOCOUTQNSD, &n) == -1)
		return (0);
	return (n > 0);
}

void
cf_http_ws_abort(struct cf_sess *s, unsigned code, const char *why)
{
	uint8_t f[4 + 123];
	struct linger lg = { 1, 0 };
	size_t n = 4, wlen;
	ssize_t w = -1;
	int fd;

	if (s->ws_wsi == NULL || (fd = lws_get_socket_fd(s->ws_wsi)) < 0)
		return;
	if (!cf_http_ws_stalled(s)) {
		/* A control frame's payload: the code and at most 123 bytes. */
		wlen = why != NULL ? strlen(why) : 0;
		if (wlen > sizeof(f) - 4)
			wlen = sizeof(f) - 4;
		f[0] = 0x88;
		f[1] = (uint8_t)(2 + wlen);
		f[2] = (uint8_t)(code >> 8);
		f[3] = (uint8_t)code;
		if (wlen > 0)
			memcpy(f + 4, why, wlen);
		n += wlen;
		do
			w = send(fd, f, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (w == -1 && errno == EINTR);
	}
	if (w != (ssize_t)n &&
	    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == -1)
		cf_log_debug("session %s: SO_LINGER: %s", s->sid,
		    strerror(errno));
	s->ws_held = 0;
}

static int
ws_writeable(struct lws *wsi, struct pss *pss)
{
	uint8_t probe[LWS_PRE + 8];
	struct cf_sess *s = pss->sess;

	if (pss->kind == K_PROBE) {
		if (pss->probe_reply) {
			pss->probe_reply = 0;
			memcpy(probe + LWS_PRE, "3probe", 6);
			if (lws_write(wsi, probe + LWS_PRE, 6, LWS_WRITE_TEXT) < 6)
				return (-1);
		}
		return (s == NULL ? -1 : 0);
	}
	if (s == NULL)
		return (-1);
	if (s->q.len > 0) {
		if (ws_drain(wsi, s) == -1)
			return (-1);
		if (s->state == CF_S_CLOSING)
			lws_callback_on_writable(wsi);
		return (0);
	}
	if (s->state == CF_S_CLOSING) {
		lws_close_reason(wsi, cf_w->draining ?
		    LWS_CLOSE_STATUS_GOINGAWAY : LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return (-1);
	}
	return (0);
}

static void
ws_closed(struct lws *wsi, struct pss *pss)
{
	struct cf_sess *s = pss->sess;

	cf_buf_free(&pss->rx);
	free(take_origin(pss));
	if (!pss->established || s == NULL)
		return;
	pss->sess = NULL;
	if (pss->kind == K_PROBE) {
		if (s->probe_wsi == wsi) {
			s->probe_wsi = NULL;
			s->upgrading = 0;
			s->upgrade_deadline = 0;
		}
		return;
	}
	if (s->ws_wsi == wsi) {
		s->ws_wsi = NULL;
		cf_sess_transport_gone(s, "transport close");
	}
}

/* ------------------------------------------------------------ callback */

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct pss *pss = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return (on_http(wsi, pss, in ? (const char *)in : ""));
	case LWS_CALLBACK_HTTP_BODY:
		return (on_body(wsi, pss, in, len));
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return (on_body_done(wsi, pss));
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return (pss ? get_writeable(wsi, pss) : 0);
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss != NULL)
			http_unbind(wsi, pss, 0);
		return (0);
	case LWS_CALLBACK_CLOSED_HTTP:
		if (pss != NULL)
			http_unbind(wsi, pss, 1);
		return (0);
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		if (in == NULL || strcmp(in, "websocket") != 0)
			return (-1);
		return (confirm_upgrade(wsi));
	case LWS_CALLBACK_ESTABLISHED:
		return (ws_established(wsi, pss));
	case LWS_CALLBACK_RECEIVE:
		return (ws_receive(wsi, pss, in, len));
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return (ws_writeable(wsi, pss));
	case LWS_CALLBACK_CLOSED:
		ws_closed(wsi, pss);
		return (0);
	default:
		break;
	}
	return (0);
}

const struct lws_protocols cf_http_protocols[] = {
	/*
	 * rx_buffer_size: lws mallocs it for every WebSocket (the default is
	 * pt_serv_buf_size, 16 KiB); larger messages arrive in pieces that
	 * ws_receive joins.  tx_packet_size: what lws sends of the bytes it
	 * holds for a slow reader at a time (0 would mean rx_buffer_size).
	 */
	{ "eio", callback, sizeof(struct pss), CF_WS_RXBUF, 0, NULL,
	    CF_WS_BATCH },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};
