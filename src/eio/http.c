/*
 * http.c -- the libwebsockets protocol of the transport: Engine.IO over
 * HTTP long-polling and over WebSocket, on one lws protocol that handles
 * both.  This file routes: it checks each request (framing, CORS), answers
 * the endpoints that are not Engine.IO (/healthz, /metrics, 404), starts
 * sessions (the handshake) and dispatches the lws callbacks to poll.c,
 * ws.c and fwd.c (http_int.h).
 *
 * HTTP: lws frees and re-allocates the per-transaction data (pss) at the
 * end of every keep-alive transaction, so anything that must outlive a
 * request lives in the session; the pss only points at it, and the session
 * records which wsi holds its GET or POST.  Both sides unlink in
 * DROP_PROTOCOL / CLOSED_HTTP.
 *
 * Requests for a session owned by another worker that reach us on a reused
 * keep-alive connection are forwarded to the owner over the inbox and the
 * response relayed back (fwd.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/eio.h"
#include "codec/httpreq.h"
#include "log.h"
#include "shm/shm.h"
#include "eio/session.h"
#include "eio/http.h"
#include "eio/http_int.h"

/*
 * Serve bare Engine.IO echo sessions at /engine.io/ (conformance server).
 * Set before the master forks, like cf_app: a process setting, not a
 * worker's state, so it is not in struct cf_worker.
 */
int cf_http_engine_echo;

const char *const cf_http_ec_msg[] = {
	"Transport unknown", "Session ID unknown", "Bad handshake method",
	"Bad request", "Forbidden", "Unsupported protocol version"
};

/* The session's way back to this transport (session.h). */
const struct cf_transport_ops cf_http_transport = {
	.flush = cf_ws_flush,
	.unsent = cf_ws_unsent,
	.stalled = cf_ws_stalled,
	.abort = cf_ws_abort,
	.remote_flush = cf_fwd_remote_flush,
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
char *
cf_http_dup_origin(struct lws *wsi, int *failed)
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
void
cf_http_log_refused_origin(const char *origin, const char *what)
{
	struct cf_http_state *st = cf_w->http;
	char o[160];
	uint64_t now = cf_now_ms();
	size_t i;

	if (st->origin_logged != 0 &&
	    now - st->origin_logged < CF_ORIGIN_LOG_MS) {
		st->origin_suppressed++;
		return;
	}
	st->origin_logged = now;
	for (i = 0; origin[i] != '\0' && i < sizeof(o) - 1; i++)
		o[i] = (origin[i] > ' ' && origin[i] < 0x7f) ? origin[i] : '?';
	o[i] = '\0';
	cf_log_warnx("%s from origin %s%s refused: not allowed by cors-origin "
	    "(add \"cors-origin %s\" to allow it); %u more refused since the "
	    "last such line (one per %d s)", what, o, origin[i] ? "..." : "",
	    o, st->origin_suppressed, CF_ORIGIN_LOG_MS / 1000);
	st->origin_suppressed = 0;
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
	pss->origin = cf_http_dup_origin(wsi, &failed);
	if (pss->origin != NULL &&
	    !cf_conf_origin_allowed(cf_w->conf, pss->origin))
		cf_http_log_refused_origin(pss->origin, "HTTP request");
}

/* The request's Origin, "" when it has none. */
const char *
cf_http_origin_of(const struct pss *pss)
{
	return (pss->origin != NULL ? pss->origin : "");
}

/*
 * Hands the Origin over to the caller (free() it), for an answer after
 * which pss may be reused or gone; "" is returned as NULL.
 */
char *
cf_http_take_origin(struct pss *pss)
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
int
cf_http_respond(struct lws *wsi, const char *origin, unsigned status,
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

int
cf_http_respond_error(struct lws *wsi, const char *origin, int code,
    int close)
{
	char body[128];
	int n;

	n = snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\"}",
	    code, cf_http_ec_msg[code]);
	return (cf_http_respond(wsi, origin,
	    code == ECODE_FORBIDDEN ? 403 : 400, "application/json", body,
	    (size_t)n, close));
}

int
cf_http_respond_text(struct lws *wsi, const char *origin, const char *s)
{
	return (cf_http_respond(wsi, origin, 200, "text/plain; charset=UTF-8",
	    s, strlen(s), 0));
}

/*
 * A query argument's value ("name=" with the '=').  lws copies the whole
 * "name=value" fragment before matching, so it needs a buffer of its own.
 */
int
cf_http_get_arg(struct lws *wsi, const char *name, char *buf, int len)
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
int
cf_http_eio_path(const char *path)
{
	if (strncmp(path, "/socket.io/", 11) == 0)
		return (1);
	if (cf_http_engine_echo && strncmp(path, "/engine.io/", 11) == 0)
		return (2);
	return (0);
}

/* --------------------------------------------------------- handshake */

int
cf_http_handshake(struct lws *wsi, struct pss *pss, int endpoint,
    int websocket)
{
	struct cf_buf b = { 0 };
	struct cf_sess *s;
	int rc;

	if ((s = cf_sess_new(cf_w, websocket ? CF_T_WEBSOCKET : CF_T_POLLING,
	    &cf_http_transport)) == NULL)
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
	rc = cf_http_respond(wsi, cf_http_origin_of(pss), 200,
	    "text/plain; charset=UTF-8", b.data, b.len, 0);
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
int
cf_http_framing(struct lws *wsi)
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

/* LWS_CALLBACK_HTTP: route one request.  The callback's return. */
static int
on_http(struct lws *wsi, struct pss *pss, const char *path)
{
	char eio[8], transport[16], sid[32], buf[512];
	struct cf_sess *s;
	const char *o;
	int endpoint, slot, is_get, is_post, rc;
	uint8_t hb[LWS_PRE + 2048], *start = hb + LWS_PRE, *p = start;
	uint8_t *end = hb + sizeof(hb) - 1;

	copy_origin(wsi, pss);
	o = cf_http_origin_of(pss);
	/*
	 * Ambiguous framing (request smuggling), or a chunked body lws would
	 * mis-read: 400 and the connection closed, before any body is read.
	 */
	if (cf_http_framing(wsi) != CF_HTTPREQ_OK)
		return (cf_http_respond_error(wsi, o, ECODE_BAD, 1));
	rc = cf_api_route(wsi, path, &endpoint);
	if (endpoint)
		return (rc == -2 ? cf_api_begin(wsi, pss, path) : rc);
	is_get = method_is(wsi, WSI_TOKEN_GET_URI);
	is_post = method_is(wsi, WSI_TOKEN_POST_URI);

	if ((endpoint = cf_http_eio_path(path)) == 0) {
		/* Health for load balancers: 503 while draining. */
		if (strcmp(path, "/healthz") == 0 && (is_get ||
		    method_is(wsi, WSI_TOKEN_HEAD_URI)))
			return (cf_w->draining ?
			    cf_http_respond(wsi, "", 503, "text/plain",
			    "draining\n", 9, 1) :
			    cf_http_respond(wsi, "", 200, "text/plain", "ok\n", 3,
			    0));
		if (strcmp(path, "/metrics") == 0 && is_get)
			return (cf_metrics_serve(wsi));
		return (cf_http_respond(wsi, o, 404,
		    "text/plain", "Not Found", 9, 0));
	}

	if (method_is(wsi, WSI_TOKEN_OPTIONS_URI)) {
		/*
		 * CORS preflight, as the reference's cors middleware: the requested headers
		 * are echoed (lws parses Access-Control-Request-Headers as a
		 * known token, not a custom header).  Only an allowed Origin
		 * gets any Access-Control-* header.
		 */
		if (lws_add_http_common_headers(wsi, 204, NULL, 0, &p, end) ||
		    add_cors(wsi, o, &p, end))
			return (-1);
		if (o[0] != '\0' &&
		    cf_conf_origin_allowed(cf_w->conf, o) &&
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

	cf_http_get_arg(wsi, "transport=", transport, sizeof(transport));
	if (strcmp(transport, "polling") != 0 &&
	    strcmp(transport, "websocket") != 0)
		return (cf_http_respond_error(wsi, o, ECODE_TRANSPORT,
		    !is_get));
	cf_http_get_arg(wsi, "sid=", sid, sizeof(sid));

	if (sid[0] != '\0') {
		cf_strlcpy(pss->sid, sid, sizeof(pss->sid));
		s = cf_sess_find(cf_w, sid);
		if (s == NULL) {
			slot = cf_sess_sid_slot(sid);
			if (slot >= 0 && (unsigned)slot < cf_w->nslots &&
			    (unsigned)slot != cf_w->slot &&
			    cf_shm_slot_running(cf_w->shm, (unsigned)slot) &&
			    (is_get || is_post) &&
			    strcmp(transport, "polling") == 0) {
				if (is_post &&
				    cf_poll_post_refused(wsi, pss, &rc))
					return (rc);
				if (is_post) {
					pss->kind = K_FWD;
					pss->post_fwd = 1;
					return (0);	/* forwarded at body end */
				}
				if (cf_fwd_forward(wsi, pss, slot, 0, NULL, 0) ==
				    -1)
					return (cf_http_respond_error(wsi, o,
					    ECODE_SID, 0));
				return (0);
			}
			return (cf_http_respond_error(wsi,
			    o, ECODE_SID, !is_get));
		}
		if (strcmp(transport, "polling") != 0 ||
		    s->transport != CF_T_POLLING)
			return (cf_http_respond_error(wsi,
			    o, ECODE_BAD, !is_get));
		if (is_get)
			return (cf_poll_start_get(wsi, pss, s));
		if (!is_post) {
			return (cf_http_respond(wsi, o, 500, "text/plain",
			    "Bad method", 10, 1));
		}
		if (s->post_wsi != NULL) {
			cf_sess_close(s, "overlapping POST", 1);
			return (cf_http_respond_error(wsi, o, ECODE_BAD, 1));
		}
		if (cf_poll_post_refused(wsi, pss, &rc))
			return (rc);
		s->post_wsi = wsi;
		pss->sess = s;
		pss->kind = K_POST;
		return (0);
	}

	/* A handshake. */
	if (!is_get)
		return (cf_http_respond_error(wsi, o, ECODE_METHOD, 1));
	cf_http_get_arg(wsi, "EIO=", eio, sizeof(eio));
	if (strcmp(eio, "4") != 0)
		return (cf_http_respond_error(wsi, o, ECODE_VERSION, 0));
	if (strcmp(transport, "websocket") == 0)
		return (cf_http_respond_error(wsi, o, ECODE_BAD, 0));
	if (cf_w->draining)
		return (cf_http_respond(wsi, o, 503, "text/plain",
		    "Service Unavailable", 19, 1));
	if (endpoint == 1 && cf_sess_admit(cf_w, cf_sess_addr_bucket(cf_w,
	    lws_get_socket_fd(wsi))) == -1)
		return (cf_http_respond(wsi, o, 503, "text/plain",
		    UNAUTH_REFUSED, sizeof(UNAUTH_REFUSED) - 1, 1));
	return (cf_http_handshake(wsi, pss, endpoint, 0));
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
		if (pss->kind == K_API)
			return (cf_api_body(wsi, pss, in, len));
		return (cf_poll_body(wsi, pss, in, len));
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (pss->kind == K_API)
			return (cf_api_body_done(wsi, pss));
		return (cf_poll_body_done(wsi, pss));
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return (pss ? cf_poll_writeable(wsi, pss) : 0);
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss != NULL)
			cf_poll_unbind(wsi, pss, 0);
		return (0);
	case LWS_CALLBACK_CLOSED_HTTP:
		if (pss != NULL)
			cf_poll_unbind(wsi, pss, 1);
		return (0);
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		if (in == NULL || strcmp(in, "websocket") != 0)
			return (-1);
		return (cf_ws_confirm_upgrade(wsi));
	case LWS_CALLBACK_ESTABLISHED:
		return (cf_ws_established(wsi, pss));
	case LWS_CALLBACK_RECEIVE:
		return (cf_ws_receive(wsi, pss, in, len));
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return (cf_ws_writeable(wsi, pss));
	case LWS_CALLBACK_CLOSED:
		cf_ws_closed(wsi, pss);
		return (0);
	default:
		break;
	}
	return (0);
}

/* -------------------------------------------------------------- state */

int
cf_http_init(struct cf_worker *w)
{
	if ((w->http = calloc(1, sizeof(*w->http))) == NULL)
		return (-1);
	w->http->fwd_next = 1;
	return (0);
}

void
cf_http_free(struct cf_worker *w)
{
	struct fwd *f, *tmp;

	if (w->http == NULL)
		return;
	HASH_ITER(hh, w->http->fwds, f, tmp) {
		HASH_DEL(w->http->fwds, f);
		free(f);
	}
	free(w->http);
	w->http = NULL;
}

const struct lws_protocols cf_http_protocols[] = {
	/*
	 * rx_buffer_size: lws mallocs it for every WebSocket (the default is
	 * pt_serv_buf_size, 16 KiB); larger messages arrive in pieces that
	 * cf_ws_receive joins.  tx_packet_size: what lws sends of the bytes it
	 * holds for a slow reader at a time (0 would mean rx_buffer_size).
	 */
	{ "eio", callback, sizeof(struct pss), CF_WS_RXBUF, 0, NULL,
	    CF_WS_BATCH },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};
