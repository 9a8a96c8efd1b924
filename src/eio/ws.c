/*
 * ws.c -- Engine.IO over WebSocket: one Engine.IO packet per frame.  The
 * packets queued on a session in one loop turn go out in one write at the
 * end of the turn (ws_drain, from the session's flush list through
 * cf_transport_ops.flush), without a writable callback; only while lws
 * still holds unsent bytes of an earlier write, or to close, is the
 * writable callback used.  An upgrade arrives as a second WebSocket for a
 * polling session: it is a probe ("2probe"/"3probe") until the client
 * sends "5".
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <linux/sockios.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/eio.h"
#include "codec/httpreq.h"
#include "log.h"
#include "eio/session.h"
#include "eio/http_int.h"

/* ---------------------------------------------------- upgrade, input */

int
cf_ws_confirm_upgrade(struct lws *wsi)
{
	char path[256], eio[8], transport[16], sid[32];
	char *origin;	/* lws has no pss for us yet */
	struct cf_sess *s;
	int code = -1, failed;

	/* The whole Origin, whatever its length, or the upgrade is refused. */
	origin = cf_http_dup_origin(wsi, &failed);
	if (cf_http_framing(wsi) != CF_HTTPREQ_OK)
		code = ECODE_BAD;
	else if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0 ||
	    cf_http_eio_path(path) == 0) {
		(void)cf_http_respond(wsi, origin ? origin : "", 404,
		    "text/plain",
		    "Not Found", 9, 1);
		free(origin);
		return (1);
	} else if (failed || (origin != NULL &&
	    !cf_conf_origin_allowed(cf_w->conf, origin))) {
		if (origin != NULL)
			cf_http_log_refused_origin(origin, "WebSocket");
		code = ECODE_FORBIDDEN;
	}
	if (code != -1) {
		(void)cf_http_respond_error(wsi, "", code, 1);
		free(origin);
		return (1);
	}
	cf_http_get_arg(wsi, "transport=", transport, sizeof(transport));
	cf_http_get_arg(wsi, "EIO=", eio, sizeof(eio));
	cf_http_get_arg(wsi, "sid=", sid, sizeof(sid));
	if (strcmp(transport, "websocket") != 0)
		code = ECODE_TRANSPORT;
	else if (sid[0] != '\0') {
		s = cf_sess_find(cf_w, sid);
		/*
		 * A session that is already upgraded or upgrading gets its
		 * WebSocket opened and closed at once (cf_ws_established), as
		 * the reference does.
		 */
		if (s == NULL)
			code = ECODE_SID;
	} else if (strcmp(eio, "4") != 0)
		code = ECODE_VERSION;
	else if (cf_w->draining)
		code = ECODE_BAD;
	else if (cf_http_eio_path(path) == 1 && cf_sess_admit(cf_w,
	    cf_sess_addr_bucket(cf_w, lws_get_socket_fd(wsi))) == -1) {
		(void)cf_http_respond(wsi, origin ? origin : "", 503,
		    "text/plain",
		    UNAUTH_REFUSED, sizeof(UNAUTH_REFUSED) - 1, 1);
		free(origin);
		return (1);
	}
	if (code != -1) {
		(void)cf_http_respond_error(wsi, origin ? origin : "", code, 1);
		free(origin);
		return (1);
	}
	free(origin);
	return (0);
}

int
cf_ws_established(struct lws *wsi, struct pss *pss)
{
	char path[256], sid[32];
	struct cf_sess *s;
	int endpoint;

	pss->established = 1;
	path[0] = '\0';
	(void)lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI);
	endpoint = cf_http_eio_path(path);
	cf_http_get_arg(wsi, "sid=", sid, sizeof(sid));
	if (sid[0] == '\0')
		return (cf_http_handshake(wsi, pss, endpoint ? endpoint : 1,
		    1));
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

int
cf_ws_receive(struct lws *wsi, struct pss *pss, const void *in, size_t len)
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

/* Most frames written at once (CF_WS_BATCH bounds their bytes). */
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
	/* Scratch of this call only (nothing is kept across calls). */
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
cf_ws_flush(struct cf_sess *s)
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
cf_ws_unsent(struct cf_sess *s)
{
	if (s->transport != CF_T_WEBSOCKET || s->ws_wsi == NULL ||
	    !lws_partial_buffered(s->ws_wsi))
		return (0);
	return (s->ws_held);
}

int
cf_ws_stalled(struct cf_sess *s)
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
cf_ws_abort(struct cf_sess *s, unsigned code, const char *why)
{
	uint8_t f[4 + 123];
	struct linger lg = { 1, 0 };
	size_t n = 4, wlen;
	ssize_t w = -1;
	int fd;

	if (s->ws_wsi == NULL || (fd = lws_get_socket_fd(s->ws_wsi)) < 0)
		return;
	if (!cf_ws_stalled(s)) {
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

int
cf_ws_writeable(struct lws *wsi, struct pss *pss)
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

void
cf_ws_closed(struct lws *wsi, struct pss *pss)
{
	struct cf_sess *s = pss->sess;

	cf_buf_free(&pss->rx);
	free(cf_http_take_origin(pss));
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

