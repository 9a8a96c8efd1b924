/*
 * socket.c -- the Socket.IO v5 layer on an Engine.IO session: namespace
 * connect and disconnect, events and acks in both directions, binary
 * attachments.  A protocol violation returns -1 and the caller closes the
 * whole connection, as the reference server does.
 *
 * Binary attachments are held until the last one arrives, so they are
 * bounded: at most CF_SIO_MAX_ATTACHMENTS (10) per packet (the codec),
 * max-payload bytes for the text and all its attachments together, and
 * attachment-timeout for the rest to arrive (session.c); over any of them
 * the connection is closed.  An application that requires authentication
 * gets no attachments from a session before it authenticated.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "shm/shm.h"
#include "util.h"
#include "eio/pipe.h"
#include "eio/recover.h"
#include "eio/session.h"
#include "eio/session_int.h"

static void	connect_root(struct cf_sess *, json_t *);

static void
make_id(char *dst)
{
	uint8_t raw[15];

	(void)cf_random_bytes(raw, sizeof(raw));
	cf_base64url_encode(dst, raw, sizeof(raw));
	dst[20] = '\0';
}

int
cf_sock_send_packet(struct cf_sess *s, const struct cf_sio_packet *p)
{
	struct cf_msg *m[1 + CF_SIO_MAX_ATTACHMENTS];
	int i, n;

	if ((n = cf_msg_encode(p, m)) == -1)
		return (-1);
	cf_sock_send_encoded(s, 0, m[0], m + 1, n - 1);
	for (i = 0; i < n; i++)
		cf_msg_unref(m[i]);
	return (0);
}

void
cf_sock_send_encoded(struct cf_sess *s, uint64_t off, struct cf_msg *text,
    struct cf_msg **att, int nattach)
{
	struct cf_msg *m[1 + CF_SIO_MAX_ATTACHMENTS];
	int i;

	if (off != 0 && s->replay != NULL) {
		m[0] = text;
		for (i = 0; i < nattach; i++)
			m[1 + i] = att[i];
		cf_recover_sent(s, off, m, 1 + nattach);
	}
	cf_sess_send(s, text);
	for (i = 0; i < nattach; i++)
		cf_sess_send(s, att[i]);
}

static void
send_simple(struct cf_sess *s, enum cf_sio_type type, const char *nsp,
    json_t *data)
{
	struct cf_sio_packet p;

	memset(&p, 0, sizeof(p));
	p.type = type;
	p.id = -1;
	cf_strlcpy(p.nsp, nsp, sizeof(p.nsp));
	p.data = data;
	(void)cf_sock_send_packet(s, &p);
	json_decref(data);
}

int
cf_sock_emit(struct cf_sess *s, json_t *args, const struct cf_sio_att *att,
    int nattach, cf_ack_fn fn, void *arg)
{
	struct cf_msg *m[1 + CF_SIO_MAX_ATTACHMENTS];
	struct cf_sio_packet p;
	struct cf_ack *a;
	uint64_t off;
	int i, n;

	if (!s->connected || (s->state != CF_S_OPEN &&
	    !cf_recover_is_ghost(s)))
		return (-1);
	if (fn == NULL) {
		/* Kept for a recovery (a ghost's too), with its offset. */
		off = cf_recover_stamp(args);
		cf_sio_event(&p, "/", args, att, nattach);
		n = cf_msg_encode(&p, m);
		cf_recover_unstamp(args, off);
		if (n == -1)
			return (-1);
		cf_sock_send_encoded(s, off, m[0], m + 1, n - 1);
		for (i = 0; i < n; i++)
			cf_msg_unref(m[i]);
		return (0);
	}
	cf_sio_event(&p, "/", args, att, nattach);
	{
		if ((a = calloc(1, sizeof(*a))) == NULL)
			return (-1);
		a->id = s->next_ack_id++;
		a->fn = fn;
		a->arg = arg;
		a->next = s->acks;
		s->acks = a;
		p.id = (int64_t)a->id;
	}
	return (cf_sock_send_packet(s, &p));
}

int
cf_sock_emit_nsp(struct cf_sess *s, const char *nsp, json_t *args)
{
	struct cf_sio_packet p;

	cf_sio_event(&p, nsp, args, NULL, 0);
	return (cf_sock_send_packet(s, &p));
}

static struct cf_nsp_conn *
find_extra(struct cf_sess *s, const char *nsp)
{
	struct cf_nsp_conn *n;

	for (n = s->extra; n != NULL; n = n->next)
		if (strcmp(n->nsp, nsp) == 0)
			return (n);
	return (NULL);
}

static int
on_connect(struct cf_sess *s, struct cf_sio_packet *p)
{
	const char *why = NULL;
	struct cf_nsp_conn *n;
	json_t *auth;
	char id[24];

	if (strcmp(p->nsp, "/") != 0 &&
	    (cf_app->nsp_allowed == NULL || !cf_app->nsp_allowed(p->nsp))) {
		send_simple(s, CF_SIO_CONNECT_ERROR, p->nsp,
		    json_pack("{s:s}", "message", "Invalid namespace"));
		return (0);
	}
	if (strcmp(p->nsp, "/") == 0 ? s->connected : find_extra(s, p->nsp) != NULL)
		return (-1);		/* a second CONNECT: invalid state */

	auth = p->data != NULL ? json_incref(p->data) : json_object();
	make_id(id);
	if (strcmp(p->nsp, "/") != 0) {
		if ((n = calloc(1, sizeof(*n))) == NULL) {
			json_decref(auth);
			return (-1);
		}
		cf_strlcpy(n->nsp, p->nsp, sizeof(n->nsp));
		cf_strlcpy(n->id, id, sizeof(n->id));
		n->next = s->extra;
		s->extra = n;
		s->connect_deadline = 0;
		cf_sess_timer_update(s);
		send_simple(s, CF_SIO_CONNECT, p->nsp, json_pack("{s:s}", "sid", id));
		if (cf_app->on_connect != NULL)
			(void)cf_app->on_connect(s, p->nsp, auth, &why);
		json_decref(auth);
		return (0);
	}
	/* A socket held here but served elsewhere comes back here. */
	cf_pipe_unserve(auth);
	switch (cf_recover_restore(s, auth)) {
	case CF_RECOVER_ELSEWHERE:
		if (cf_pipe_claim(s, json_string_value(json_object_get(auth,
		    "pid")), auth) == -1) {
			cf_recover_unknown();
			connect_root(s, auth);
			return (0);
		}
		/* FALLTHROUGH */
	case CF_RECOVER_PENDING:
		/* Kept for a fresh connect if the owner says no. */
		json_decref(s->auth);
		s->auth = auth;
		s->connect_deadline = 0;
		cf_sess_timer_update(s);
		return (0);
	case CF_RECOVER_DONE:
		json_decref(auth);
		s->connect_deadline = 0;
		cf_sess_timer_update(s);
		return (0);
	default:
		connect_root(s, auth);
		return (0);
	}
}

/* A new socket on "/" for s (auth stolen: the CONNECT payload). */
static void
connect_root(struct cf_sess *s, json_t *auth)
{
	const char *why = NULL;

	if (cf_app->on_connect != NULL &&
	    cf_app->on_connect(s, "/", auth, &why) != 0) {
		json_decref(auth);
		send_simple(s, CF_SIO_CONNECT_ERROR, "/",
		    json_pack("{s:s}", "message", why ? why : "Forbidden"));
		return;
	}
	s->connected = 1;
	make_id(s->id);
	json_decref(s->auth);
	/* An empty object is not kept: it costs ~200 bytes per socket. */
	if (json_is_object(auth) && json_object_size(auth) == 0) {
		json_decref(auth);
		auth = NULL;
	}
	s->auth = auth;
	s->connect_deadline = 0;
	cf_sess_timer_update(s);
	/*
	 * The CONNECT reply goes out first; what the application emits on
	 * connect follows it.  on_connect above must therefore only decide:
	 * connected hooks that emit run from on_event with a NULL packet.
	 */
	cf_recover_new_pid(s);
	cf_sock_connect_reply(s);
	if (cf_app->on_event != NULL)
		cf_app->on_event(s, NULL);
}

void
cf_sock_connect_fresh(struct cf_sess *s)
{
	json_t *auth = s->auth;

	s->auth = NULL;
	connect_root(s, auth != NULL ? auth : json_object());
}

void
cf_sock_connect_reply(struct cf_sess *s)
{
	const char *pid = cf_recover_pid(s);

	send_simple(s, CF_SIO_CONNECT, "/", pid != NULL ?
	    json_pack("{s:s,s:s}", "sid", s->id, "pid", pid) :
	    json_pack("{s:s}", "sid", s->id));
}

static void
drop_acks(struct cf_sess *s)
{
	struct cf_ack *a;

	while ((a = s->acks) != NULL) {
		s->acks = a->next;
		free(a);
	}
}

void
cf_sock_on_left(void (*fn)(struct cf_sess *s))
{
	cf_w->sess->left_fn = fn;
}

void
cf_sock_on_moved(void (*fn)(struct cf_sess *s))
{
	cf_w->sess->moved_fn = fn;
}

static void
sock_left(struct cf_sess *s, const char *reason)
{
	if (!s->connected)
		return;
	s->connected = 0;
	if (cf_app->on_disconnect != NULL)
		cf_app->on_disconnect(s, reason);
	if (cf_w->sess->left_fn != NULL)
		cf_w->sess->left_fn(s);
	drop_acks(s);
}

static int
on_ack(struct cf_sess *s, struct cf_sio_packet *p)
{
	struct cf_ack **pa, *a;

	if (p->id < 0)
		return (-1);
	for (pa = &s->acks; (a = *pa) != NULL; pa = &a->next) {
		if ((int64_t)a->id == p->id) {
			*pa = a->next;
			a->fn(s, p->data, p->att, p->nattach, a->arg);
			free(a);
			break;
		}
	}
	return (0);
}

/* A complete packet (attachments included) for a joined namespace. */
static int
dispatch(struct cf_sess *s, struct cf_sio_packet *p)
{
	switch (p->type) {
	case CF_SIO_EVENT:
	case CF_SIO_BINARY_EVENT:
		if (cf_app->on_event != NULL)
			cf_app->on_event(s, p);
		return (0);
	case CF_SIO_ACK:
	case CF_SIO_BINARY_ACK:
		if (strcmp(p->nsp, "/") != 0)
			return (0);
		return (on_ack(s, p));
	default:
		return (-1);
	}
}

/* Close s for its attachments (log, count); returns -1 for the caller. */
static int
attach_refused(struct cf_sess *s, const char *why)
{
	struct cf_shm_stats *st;

	if ((st = cf_shm_stats(cf_w->shm, cf_w->slot)) != NULL)
		__atomic_add_fetch(&st->attach_closed, 1, __ATOMIC_RELAXED);
	cf_log_info("session %s closed: %s", s->sid, why);
	cf_sess_close(s, why, CF_CLOSE_FORCED);
	return (-1);
}

/* Forget the packet waiting for attachments. */
static void
pending_drop(struct cf_sess *s)
{
	if (s->pending != NULL) {
		cf_sio_packet_clear(s->pending);
		free(s->pending);
		s->pending = NULL;
	}
	s->pending_bytes = 0;
	s->attach_deadline = 0;
}

int
cf_sock_message(struct cf_sess *s, const uint8_t *data, size_t len,
    int binary)
{
	struct cf_sio_packet p;
	struct cf_nsp_conn *n = NULL, **pn;
	int rc;

	if (s->pipe != CF_PIPE_NONE) {
		/* The socket is another worker's (pipe.c). */
		cf_pipe_forward_in(s, data, len, binary);
		return (0);
	}
	if (binary) {
		struct cf_sio_packet *pp = s->pending;

		if (pp == NULL)
			return (-1);
		/* Either test alone could wrap: max-payload is reloadable. */
		if (s->pending_bytes > cf_w->conf->max_payload ||
		    len > cf_w->conf->max_payload - s->pending_bytes)
			return (attach_refused(s, "binary attachments over "
			    "max-payload"));
		s->pending_bytes += len;
		rc = cf_sio_add_attachment(pp, data, len);
		if (rc < 0)
			return (-1);
		if (rc == 0)
			return (0);
		s->pending = NULL;
		s->pending_bytes = 0;
		s->attach_deadline = 0;
		cf_sess_timer_update(s);
		rc = dispatch(s, pp);
		cf_sio_packet_clear(pp);
		free(pp);
		return (rc);
	}
	if (s->pending != NULL)
		return (-1);		/* text while attachments are due */

	memset(&p, 0, sizeof(p));
	if (cf_sio_decode((const char *)data, len, &p) != CF_SIO_OK)
		return (-1);
	rc = 0;
	if (p.type == CF_SIO_CONNECT) {
		rc = on_connect(s, &p);
		goto done;
	}
	if (p.type == CF_SIO_CONNECT_ERROR) {
		rc = -1;
		goto done;
	}
	if (strcmp(p.nsp, "/") == 0) {
		if (!s->connected) {
			rc = -1;
			goto done;
		}
	} else if ((n = find_extra(s, p.nsp)) == NULL) {
		rc = -1;
		goto done;
	}
	if (p.type == CF_SIO_DISCONNECT) {
		if (strcmp(p.nsp, "/") == 0)
			sock_left(s, "client namespace disconnect");
		else {
			for (pn = &s->extra; *pn != NULL; pn = &(*pn)->next)
				if (*pn == n) {
					*pn = n->next;
					free(n);
					break;
				}
		}
		goto done;
	}
	if (cf_sio_incomplete(&p)) {
		if (cf_app->auth_required && s->unauth) {
			rc = attach_refused(s, "binary attachments before "
			    "authentication");
			goto done;
		}
		if (len > cf_w->conf->max_payload) {
			rc = attach_refused(s, "binary attachments over "
			    "max-payload");
			goto done;
		}
		if ((s->pending = malloc(sizeof(*s->pending))) == NULL) {
			rc = -1;
			goto done;
		}
		*s->pending = p;
		s->pending_bytes = len;
		s->attach_deadline = cf_now_ms() +
		    cf_w->conf->attachment_timeout_ms;
		cf_sess_timer_update(s);
		return (0);
	}
	rc = dispatch(s, &p);
 done:
	cf_sio_packet_clear(&p);
	return (rc);
}

void
cf_sock_release(struct cf_sess *s)
{
	drop_acks(s);
	pending_drop(s);
	cf_recover_release(s);
	cf_pipe_release(s);
}

void
cf_sock_pinged(struct cf_sess *s)
{
	cf_recover_ping(s);
}

void
cf_sock_ponged(struct cf_sess *s)
{
	cf_recover_pong(s);
	cf_pipe_pong(s);
}

void
cf_sock_claim_expired(struct cf_sess *s)
{
	cf_pipe_claim_expired(s);
}

void
cf_sock_closed(struct cf_sess *s)
{
	if (s->pipe != CF_PIPE_NONE) {
		/* The socket is the owner's: it learns of the close. */
		cf_pipe_client_closed(s);
		return;
	}
	if (!s->connected || !cf_recover_detach(s, s->close_reason))
		sock_left(s, s->close_reason ? s->close_reason :
		    "transport close");
	drop_acks(s);
	pending_drop(s);
}

void
cf_sock_disconnect(struct cf_sess *s, int close)
{
	if (cf_recover_is_ghost(s)) {
		cf_recover_drop(s, "server namespace disconnect");
		return;
	}
	if (close) {
		cf_sess_close(s, "forced close", CF_CLOSE_GRACEFUL);
		return;
	}
	if (!s->connected)
		return;
	send_simple(s, CF_SIO_DISCONNECT, "/", NULL);
	sock_left(s, "server namespace disconnect");
}
