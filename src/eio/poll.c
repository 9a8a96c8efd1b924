/*
 * poll.c -- Engine.IO over HTTP long-polling: a GET is held until the
 * session has something to say (lws' default 5 s content timeout is lifted
 * for it) and answered with the head of the session's queue; a POST's body
 * is collected and fed to the session as packets.  The pss only points at
 * the session; the session records which wsi holds its GET or POST, and
 * both sides unlink when the transaction ends (cf_poll_unbind).
 */
#include <stdlib.h>
#include <string.h>

#include "codec/eio.h"
#include "codec/httpreq.h"
#include "eio/session.h"
#include "eio/http_int.h"

/* ------------------------------------------------------ polling: GET */

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
int
cf_poll_answer(struct cf_sess *s, struct cf_buf *b, int *finished)
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

int
cf_poll_start_get(struct lws *wsi, struct pss *pss, struct cf_sess *s)
{
	if (s->poll_wsi != NULL || s->remote_poll) {
		/* Overlapping GETs: refuse this one, close the session. */
		cf_sess_close(s, "overlapping GET", 1);
		return (cf_http_respond_error(wsi, cf_http_origin_of(pss),
		    ECODE_BAD, 0));
	}
	if (s->upgrading)
		return (cf_http_respond_text(wsi, cf_http_origin_of(pss), "6"));
	s->poll_wsi = wsi;
	pss->sess = s;
	pss->kind = K_GET;
	/* A held GET waits as long as it must (at most one ping interval). */
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	if (s->q.len > 0 || s->poll_noop)
		lws_callback_on_writable(wsi);
	return (0);
}

int
cf_poll_writeable(struct lws *wsi, struct pss *pss)
{
	struct cf_sess *s = pss->sess;
	struct cf_buf b = { 0 };
	char *origin;
	int finished, rc;

	if (pss->kind == K_FWD) {
		if (!pss->fwd_ready)
			return (0);
		origin = cf_http_take_origin(pss);
		b = pss->fwd_body;
		memset(&pss->fwd_body, 0, sizeof(pss->fwd_body));
		rc = cf_http_respond(wsi, origin ? origin : "",
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
		return (cf_http_respond_text(wsi, cf_http_origin_of(pss), "1"));
	if (!cf_poll_answer(s, &b, &finished)) {
		cf_buf_free(&b);
		return (0);
	}
	s->poll_wsi = NULL;
	pss->sess = NULL;
	pss->kind = K_NONE;
	origin = cf_http_take_origin(pss);
	if (finished)
		cf_sess_transport_gone(s, NULL);
	/*
	 * The answer leaves the session's bound here: a peer that never
	 * reads it must not keep it in lws (and the kernel) forever.  A
	 * completed transaction replaces this with the keep-alive timeout.
	 */
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, (int)((cf_w->conf->
	    ping_interval_ms + cf_w->conf->ping_timeout_ms) / 1000));
	rc = cf_http_respond(wsi, origin ? origin : "", 200,
	    "text/plain; charset=UTF-8", b.data, b.len, 0);
	cf_buf_free(&b);
	free(origin);
	return (rc);
}

/* ----------------------------------------------------- polling: POST */

/* Feed a POST body to s.  Returns the HTTP status to answer. */
int
cf_poll_post_body(struct cf_sess *s, uint8_t *body, size_t len)
{
	struct cf_eio_packet pk[256];
	size_t n, i;
	int rc;

	if (s->state != CF_S_OPEN)
		return (200);
	/* Decode in chunks of 256 packets: the array bounds one pass. */
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

/*
 * The checks of a polling POST's head, on the worker that got it, before
 * it is read or forwarded: a binary body (refused, as by the reference)
 * or one announced longer than max-payload.  Returns 1 with *rc the
 * callback's return when it answered, 0 when the POST may go on.
 */
int
cf_poll_post_refused(struct lws *wsi, struct pss *pss, int *rc)
{
	char buf[64];

	if (lws_hdr_copy(wsi, buf, sizeof(buf),
	    WSI_TOKEN_HTTP_CONTENT_TYPE) > 0 &&
	    strncasecmp(buf, "application/octet-stream", 24) == 0) {
		*rc = cf_http_respond_error(wsi, cf_http_origin_of(pss),
		    ECODE_BAD, 1);
		return (1);
	}
	if (lws_hdr_copy(wsi, buf, sizeof(buf),
	    WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
	    strtoull(buf, NULL, 10) > cf_w->conf->max_payload) {
		*rc = cf_http_respond(wsi, cf_http_origin_of(pss), 413,
		    "text/plain", "Payload Too Large", 17, 1);
		return (1);
	}
	return (0);
}

int
cf_poll_body(struct lws *wsi, struct pss *pss, const void *in, size_t len)
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
		(void)cf_http_respond_error(wsi, cf_http_origin_of(pss),
		    ECODE_BAD, 1);
		return (-1);
	}
	if (pss->rx.len + len > cf_w->conf->max_payload) {
		if (pss->sess != NULL && pss->sess->post_wsi == wsi)
			pss->sess->post_wsi = NULL;
		pss->sess = NULL;
		pss->kind = K_NONE;
		cf_buf_free(&pss->rx);
		return (cf_http_respond(wsi, cf_http_origin_of(pss), 413,
		    "text/plain", "Payload Too Large", 17, 1));
	}
	if (len > 0 && cf_buf_append(&pss->rx, in, len) == -1)
		return (-1);
	return (0);
}

int
cf_poll_body_done(struct lws *wsi, struct pss *pss)
{
	struct cf_sess *s = pss->sess;
	char *origin;
	int status, slot, rc;

	if (pss->kind == K_FWD && pss->post_fwd) {
		pss->post_fwd = 0;
		slot = cf_sess_sid_slot(pss->sid);
		if (cf_fwd_forward(wsi, pss, slot, 1, pss->rx.data,
		    pss->rx.len) == -1) {
			cf_buf_free(&pss->rx);
			return (cf_http_respond_error(wsi,
			    cf_http_origin_of(pss), ECODE_SID, 1));
		}
		cf_buf_free(&pss->rx);
		return (0);
	}
	if (pss->kind != K_POST)
		return (cf_http_respond_error(wsi, cf_http_origin_of(pss),
		    ECODE_BAD, 1));
	origin = cf_http_take_origin(pss);
	if (s == NULL) {
		cf_buf_free(&pss->rx);
		rc = cf_http_respond_error(wsi, origin ? origin : "",
		    ECODE_SID, 1);
		goto out;
	}
	if (s->post_wsi == wsi)
		s->post_wsi = NULL;
	pss->sess = NULL;
	pss->kind = K_NONE;
	if (pss->rx.len == 0)
		status = 400;
	else
		status = cf_poll_post_body(s, pss->rx.data, pss->rx.len);
	cf_buf_free(&pss->rx);
	if (status != 200)
		rc = cf_http_respond_error(wsi, origin ? origin : "",
		    ECODE_BAD, 1);
	else
		rc = cf_http_respond(wsi, origin ? origin : "", 200,
		    "text/html", "ok", 2, 0);
 out:
	free(origin);
	return (rc);
}

/* The HTTP transaction is over (answered or the connection closed). */
void
cf_poll_unbind(struct lws *wsi, struct pss *pss, int closed)
{
	struct cf_sess *s = pss->sess;

	free(cf_http_take_origin(pss));
	if (pss->kind == K_WS || pss->kind == K_PROBE)
		return;
	if (pss->kind == K_API) {
		cf_api_unbind(pss);
		return;
	}
	cf_fwd_forget(pss);
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

