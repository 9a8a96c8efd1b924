/*
 * fwd.c -- polling requests forwarded between workers.  A keep-alive
 * connection accept.c passed to us may carry a later request for a session
 * another worker owns (accept.c only sees the first request): the request
 * goes to the owner over its inbox (CF_IPC_FWD_REQ) and the owner's answer
 * comes back (CF_IPC_FWD_RESP) to be written on the waiting connection.
 * The owner serves it as its own: a POST's body is fed to the session, a
 * GET is held (remote_poll) until the session has something to say.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "ipc.h"
#include "eio/session.h"
#include "eio/http.h"
#include "eio/http_int.h"

/* Seconds a forwarded request may wait beyond a ping interval + timeout. */
#define CF_FWD_SLACK_S	10

/* ------------------------------------------------ forwarded requests */

int
cf_fwd_forward(struct lws *wsi, struct pss *pss, int slot, int post,
    const uint8_t *body, size_t len)
{
	struct cf_http_state *st = cf_w->http;
	struct cf_ipc_fwd_req h;
	struct cf_buf b = { 0 };
	struct fwd *f;
	int rc;

	if (pss->fwd_id == 0) {
		if ((f = calloc(1, sizeof(*f))) == NULL)
			return (-1);
		f->id = st->fwd_next++;
		if (st->fwd_next == 0)
			st->fwd_next = 1;
		f->wsi = wsi;
		HASH_ADD_INT(st->fwds, id, f);
		pss->fwd_id = f->id;
	}
	pss->kind = K_FWD;
	memset(&h, 0, sizeof(h));
	h.id = pss->fwd_id;
	h.method = post ? 1 : 0;
	cf_strlcpy(h.sid, pss->sid, sizeof(h.sid));
	/* An Origin that does not fit is not passed on: it allows nothing. */
	if (strlen(cf_http_origin_of(pss)) < sizeof(h.origin))
		cf_strlcpy(h.origin, cf_http_origin_of(pss), sizeof(h.origin));
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

void
cf_fwd_forget(struct pss *pss)
{
	struct fwd *f;

	if (pss->fwd_id == 0)
		return;
	HASH_FIND_INT(cf_w->http->fwds, &pss->fwd_id, f);
	if (f != NULL) {
		HASH_DEL(cf_w->http->fwds, f);
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
	    code, cf_http_ec_msg[code]);
	fwd_reply(slot, id, 400, body, (size_t)n);
}

int
cf_fwd_request(struct cf_worker *w, unsigned src, const uint8_t *data,
    size_t len)
{
	struct cf_ipc_fwd_req h;
	struct cf_sess *s;
	uint8_t *body;
	int status;

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
		status = cf_poll_post_body(s, body, len - sizeof(h));
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
	cf_fwd_remote_flush(s);
	return (0);
}

void
cf_fwd_remote_flush(struct cf_sess *s)
{
	struct cf_buf b = { 0 };
	int finished;

	if (!s->remote_poll)
		return;
	if (!cf_poll_answer(s, &b, &finished) && s->state != CF_S_CLOSED) {
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
cf_fwd_response(struct cf_worker *w, const uint8_t *data, size_t len)
{
	struct cf_ipc_fwd_resp h;
	struct fwd *f;
	struct pss *pss;

	memcpy(&h, data, sizeof(h));
	HASH_FIND_INT(w->http->fwds, &h.id, f);
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

