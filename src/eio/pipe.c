/*
 * pipe.c -- a held socket served through another worker's session
 * (pipe.h).  Messages are CF_IPC_PIPE: struct cf_ipc_pipe, then the bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "codec/httpreq.h"
#include "ipc.h"
#include "log.h"
#include "util.h"
#include "eio/pipe.h"
#include "eio/recover.h"
#include "eio/session_int.h"

/* The other end of a pipe. */
struct cf_pipe_link {
	char		 host[40];	/* "" for this host */
	unsigned	 slot;
	/* A claimant's: the socket's pid; an owner's: the claimant's
	 * session id. */
	char		 id[64];
	uint64_t	 seen;		/* ms: the owner's last word (claimant) */
};

/* s's link to (host, slot) about id; -1 on ENOMEM. */
static int
link_set(struct cf_sess *s, const char *host, unsigned slot, const char *id)
{
	if (s->link == NULL && (s->link = calloc(1, sizeof(*s->link))) == NULL)
		return (-1);
	cf_strlcpy(s->link->host, host, sizeof(s->link->host));
	s->link->slot = slot;
	cf_strlcpy(s->link->id, id, sizeof(s->link->id));
	s->link->seen = cf_now_ms();
	return (0);
}

void
cf_pipe_release(struct cf_sess *s)
{
	free(s->link);
	s->link = NULL;
}

/* How long a claimant waits for the owner before connecting afresh. */
#define CF_PIPE_CLAIM_MS	2000

void
cf_pipe_on_remote(int (*fn)(const char *host, unsigned slot,
    const void *msg, size_t len))
{
	cf_w->sess->pipe_remote = fn;
}

/* A pipe peer is silent this long (ms): gone. */
static uint64_t
silence_limit(void)
{
	return (2 * ((uint64_t)cf_w->conf->ping_interval_ms +
	    cf_w->conf->ping_timeout_ms));
}

/* To worker slot of host ("": this one), through its inbox or Redis. */
static int
pipe_send(const char *host, unsigned slot, enum cf_pipe_op op,
    const char *sid, const char *pid, int binary, const void *data,
    size_t len)
{
	struct cf_ipc_pipe h;
	struct cf_buf b = { 0 };
	int rc;

	memset(&h, 0, sizeof(h));
	h.op = (uint8_t)op;
	h.binary = (uint8_t)(binary != 0);
	cf_strlcpy(h.sid, sid, sizeof(h.sid));
	cf_strlcpy(h.pid, pid, sizeof(h.pid));
	if (cf_buf_append(&b, &h, sizeof(h)) == -1 ||
	    (len > 0 && cf_buf_append(&b, data, len) == -1)) {
		cf_buf_free(&b);
		return (-1);
	}
	if (host[0] == '\0')
		rc = cf_ipc_send(slot, CF_IPC_PIPE, b.data, b.len, -1);
	else
		rc = cf_w->sess->pipe_remote != NULL ?
		    cf_w->sess->pipe_remote(host, slot, b.data, b.len) : -1;
	cf_buf_free(&b);
	return (rc);
}

/* Tell the other side of the pipe it ended (op GONE or END), and why. */
static void
pipe_end(const char *host, unsigned slot, enum cf_pipe_op op,
    const char *sid, const char *pid, const char *why)
{
	(void)pipe_send(host, slot, op, sid, pid, 0, why, strlen(why));
}

/* ---------------------------------------------------------- claimant */

int
cf_pipe_claim(struct cf_sess *s, const char *pid, const json_t *auth)
{
	const char *dot = strchr(pid, '.'), *host;
	unsigned slot, gen;
	char base[24], *text;
	int rc;

	/* "<20 characters naming slot and generation>.<host>" */
	if (dot == NULL || dot - pid != 20)
		return (-1);
	memcpy(base, pid, 20);
	base[20] = '\0';
	if (cf_httpreq_sid_owner(base, &slot, &gen) == -1)
		return (-1);
	host = dot + 1;
	if (strcmp(host, cf_w->host) == 0) {
		if (gen != (uint8_t)cf_w->generation || slot == cf_w->slot ||
		    slot >= cf_w->nslots)
			return (-1);
		host = "";
	} else if (cf_w->sess->pipe_remote == NULL ||
	    strlen(host) >= sizeof(((struct cf_pipe_link *)0)->host))
		return (-1);
	if ((text = json_dumps(auth, JSON_COMPACT)) == NULL)
		return (-1);
	rc = pipe_send(host, slot, CF_PIPE_CLAIM, s->sid, pid, 0, text,
	    strlen(text));
	free(text);
	if (rc == -1)
		return (-1);
	if (link_set(s, host, slot, pid) == -1)
		return (-1);
	s->pipe = CF_PIPE_CLAIMING;
	s->claim_deadline = cf_now_ms() + CF_PIPE_CLAIM_MS;
	cf_sess_timer_update(s);
	return (0);
}

/* Claimant: no socket to take over: s connects afresh. */
static void
claim_failed(struct cf_sess *s)
{
	s->pipe = CF_PIPE_NONE;
	s->claim_deadline = 0;
	cf_pipe_release(s);
	cf_sock_connect_fresh(s);
}

void
cf_pipe_claim_expired(struct cf_sess *s)
{
	if (s->pipe != CF_PIPE_CLAIMING)
		return;
	cf_log_info("session %s: no answer to a recovery from worker %u%s%s",
	    s->sid, s->link->slot, s->link->host[0] ? " of " : "",
	    s->link->host);
	claim_failed(s);
}

void
cf_pipe_forward_in(struct cf_sess *s, const uint8_t *data, size_t len,
    int binary)
{
	/* Nothing comes before the CONNECT reply the owner sends. */
	if (s->pipe != CF_PIPE_CLIENT)
		return;
	(void)pipe_send(s->link->host, s->link->slot, CF_PIPE_IN, s->sid,
	    s->link->id, binary, data, len);
}

void
cf_pipe_pong(struct cf_sess *s)
{
	if (s->pipe != CF_PIPE_CLIENT)
		return;
	if (cf_now_ms() - s->link->seen > silence_limit()) {
		cf_log_info("session %s: worker %u%s%s holding its socket is "
		    "silent", s->sid, s->link->slot, s->link->host[0] ? " of " :
		    "", s->link->host);
		s->pipe = CF_PIPE_NONE;
		cf_pipe_release(s);
		cf_sess_close(s, "forced close", CF_CLOSE_GRACEFUL);
		return;
	}
	(void)pipe_send(s->link->host, s->link->slot, CF_PIPE_KEEP, s->sid,
	    s->link->id, 0, NULL, 0);
}

void
cf_pipe_client_closed(struct cf_sess *s)
{
	if (s->pipe == CF_PIPE_CLIENT)
		pipe_end(s->link->host, s->link->slot, CF_PIPE_GONE, s->sid,
		    s->link->id, s->close_reason ? s->close_reason :
		    "transport close");
	/* A claim in flight: the owner's answer finds no session and ends. */
	s->pipe = CF_PIPE_NONE;
	s->claim_deadline = 0;
	cf_pipe_release(s);
}

/* Claimant: s of the message from (host, src) about pid, or NULL. */
static struct cf_sess *
claimant_of(struct cf_worker *w, const char *host, unsigned src,
    const struct cf_ipc_pipe *h)
{
	struct cf_sess *s;

	if ((s = cf_sess_find(w, h->sid)) == NULL || s->pipe == CF_PIPE_NONE ||
	    s->link == NULL || s->link->slot != src ||
	    strcmp(s->link->host, host) != 0 ||
	    strcmp(s->link->id, h->pid) != 0)
		return (NULL);
	s->link->seen = cf_now_ms();
	return (s);
}

static void
claimant_out(struct cf_worker *w, const char *host, unsigned src,
    const struct cf_ipc_pipe *h, const uint8_t *data, size_t len)
{
	struct cf_sess *s;
	struct cf_msg *m;

	if ((s = claimant_of(w, host, src, h)) == NULL) {
		pipe_end(host, src, CF_PIPE_GONE, h->sid, h->pid,
		    "transport close");
		return;
	}
	if (s->pipe == CF_PIPE_CLAIMING) {
		/* The first message: the owner's CONNECT reply. */
		s->pipe = CF_PIPE_CLIENT;
		s->claim_deadline = 0;
		json_decref(s->auth);
		s->auth = NULL;
		cf_sess_authenticated(s);
		cf_sess_timer_update(s);
	}
	if ((m = cf_msg_new(data, len, h->binary)) == NULL)
		return;
	cf_sess_send(s, m);
	cf_msg_unref(m);
}

static void
claimant_end(struct cf_worker *w, const char *host, unsigned src,
    const struct cf_ipc_pipe *h)
{
	struct cf_sess *s;

	if ((s = claimant_of(w, host, src, h)) == NULL)
		return;
	if (s->pipe == CF_PIPE_CLAIMING) {
		claim_failed(s);
		return;
	}
	/* What the owner sent before goes out first. */
	s->pipe = CF_PIPE_NONE;
	cf_pipe_release(s);
	cf_sess_close(s, "forced close", CF_CLOSE_GRACEFUL);
}

/* ------------------------------------------------------------- owner */

/* The transport of a socket served through a claimant. */
static void
pipe_flush(struct cf_sess *g)
{
	struct cf_msg *m;

	while ((m = cf_outq_pop(&g->q)) != NULL) {
		(void)pipe_send(g->link->host, g->link->slot, CF_PIPE_OUT,
		    g->link->id, cf_recover_pid(g), m->binary,
		    CF_MSG_DATA(m), m->len);
		cf_msg_unref(m);
	}
}

static size_t
pipe_unsent(struct cf_sess *g)
{
	(void)g;
	return (0);
}

static int
pipe_stalled(struct cf_sess *g)
{
	(void)g;
	return (0);
}

static void
pipe_abort(struct cf_sess *g, unsigned code, const char *why)
{
	(void)g;
	(void)code;
	(void)why;
}

static void	pipe_close(struct cf_sess *, const char *, int);

static const struct cf_transport_ops pipe_ops = {
	.flush = pipe_flush,
	.unsent = pipe_unsent,
	.stalled = pipe_stalled,
	.abort = pipe_abort,
	.remote_flush = pipe_flush,
	.close = pipe_close,
};

/* g is no longer served through its claimant. */
static void
unlink_claimant(struct cf_sess *g)
{
	cf_sess_unflush(g);
	g->transport = CF_T_WEBSOCKET;
	cf_pipe_release(g);
	g->pong_deadline = 0;
}

/* Owner: g stops being served through its claimant (told why). */
static void
owner_detach(struct cf_sess *g, const char *reason)
{
	if (g->transport != CF_T_PIPE)
		return;
	pipe_flush(g);
	pipe_end(g->link->host, g->link->slot, CF_PIPE_END, g->link->id,
	    cf_recover_pid(g), reason);
	unlink_claimant(g);
	g->state = CF_S_CLOSED;
}

/*
 * The close of a socket served through a claimant: by the server (it
 * leaves), or for the claimant's silence past the deadline its KEEPs and
 * messages push back ("ping timeout": held again, as a socket whose
 * client stopped answering pings is).
 */
static void
pipe_close(struct cf_sess *g, const char *reason, int notify)
{
	(void)notify;
	if (g->state == CF_S_CLOSED || g->transport != CF_T_PIPE)
		return;
	if (reason == NULL)
		reason = "forced close";
	owner_detach(g, reason);
	cf_recover_rehold(g, reason);
}

void
cf_pipe_unserve(const json_t *auth)
{
	const json_t *pid = json_object_get(auth, "pid");
	struct cf_sess *g;

	if (json_is_string(pid) &&
	    (g = cf_recover_held(cf_w, json_string_value(pid))) != NULL)
		owner_detach(g, "transport close");
}

/* Owner: the socket held under h->pid, asked for by (host, src)'s h->sid. */
static void
owner_claim(struct cf_worker *w, const char *host, unsigned src,
    const struct cf_ipc_pipe *h, const uint8_t *data, size_t len)
{
	struct cf_sess *g;
	json_t *auth;
	long at;

	auth = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES,
	    NULL);
	if ((g = cf_recover_held(w, h->pid)) == NULL || !json_is_object(auth)) {
		json_decref(auth);
		pipe_end(host, src, CF_PIPE_END, h->sid, h->pid, "unknown");
		return;
	}
	/* Its client came back again, elsewhere: the old session goes. */
	owner_detach(g, "transport close");
	if (cf_recover_take(g, auth, &at) == -1) {
		json_decref(auth);
		pipe_end(host, src, CF_PIPE_END, h->sid, h->pid, "refused");
		return;
	}
	json_decref(auth);
	if (link_set(g, host, src, h->sid) == -1) {
		cf_recover_rehold(g, "transport close");
		pipe_end(host, src, CF_PIPE_END, h->sid, h->pid, "refused");
		return;
	}
	g->transport = CF_T_PIPE;
	g->tops = &pipe_ops;
	g->state = CF_S_OPEN;
	g->slow = 0;
	g->pong_deadline = cf_now_ms() + silence_limit();
	cf_recover_resume(g, at);
}

/* Owner: g when (host, src)'s session h->sid serves it, else NULL (told
 * so when answer). */
static struct cf_sess *
owner_of(struct cf_worker *w, const char *host, unsigned src,
    const struct cf_ipc_pipe *h, int answer)
{
	struct cf_sess *g;

	if ((g = cf_recover_held(w, h->pid)) != NULL &&
	    g->transport == CF_T_PIPE && g->link != NULL &&
	    g->link->slot == src &&
	    strcmp(g->link->host, host) == 0 &&
	    strcmp(g->link->id, h->sid) == 0) {
		/* Heard from: the deadline moves (cf_sess_timer_update
		 * reads it when the timer runs). */
		g->pong_deadline = cf_now_ms() + silence_limit();
		return (g);
	}
	if (answer)
		pipe_end(host, src, CF_PIPE_END, h->sid, h->pid, "unknown");
	return (NULL);
}

static void
owner_in(struct cf_worker *w, const char *host, unsigned src,
    const struct cf_ipc_pipe *h, const uint8_t *data, size_t len)
{
	struct cf_sess *g;

	if ((g = owner_of(w, host, src, h, 1)) == NULL)
		return;
	if (cf_sock_message(g, data, len, h->binary) == -1)
		cf_sess_close(g, "parse error", 1);
}

static void
owner_gone(struct cf_worker *w, const char *host, unsigned src,
    const struct cf_ipc_pipe *h, const uint8_t *data, size_t len)
{
	char why[64];
	struct cf_sess *g;

	if ((g = owner_of(w, host, src, h, 0)) == NULL)
		return;
	if (len >= sizeof(why))
		len = sizeof(why) - 1;
	memcpy(why, data, len);
	why[len] = '\0';
	unlink_claimant(g);
	cf_recover_rehold(g, why);
}

/*
 * Slot src of this host (re)started: its sockets are gone, so our
 * sessions serving them end; its sessions are gone, so our sockets they
 * served are held again for their clients to come back.
 */
static void
reset_from(struct cf_worker *w, unsigned src)
{
	struct cf_sess *s, *tmp, *g;

	HASH_ITER(hh, w->sess->ghosts, g, tmp) {
		if (g->transport != CF_T_PIPE || g->link == NULL ||
		    g->link->slot != src || g->link->host[0] != '\0')
			continue;
		unlink_claimant(g);
		cf_recover_rehold(g, "transport close");
	}
	HASH_ITER(hh, w->sessions, s, tmp) {
		if (s->pipe == CF_PIPE_NONE || s->link == NULL ||
		    s->link->slot != src || s->link->host[0] != '\0')
			continue;
		if (s->pipe == CF_PIPE_CLAIMING)
			claim_failed(s);
		else {
			s->pipe = CF_PIPE_NONE;
			cf_pipe_release(s);
			cf_sess_close(s, "forced close", CF_CLOSE_GRACEFUL);
		}
	}
}

void
cf_pipe_receive(struct cf_worker *w, const char *host, unsigned src,
    const uint8_t *data, size_t len)
{
	struct cf_ipc_pipe h;
	const uint8_t *p = data + sizeof(h);
	size_t n = len - sizeof(h);

	if (len < sizeof(h))
		return;
	memcpy(&h, data, sizeof(h));
	h.sid[sizeof(h.sid) - 1] = '\0';
	h.pid[sizeof(h.pid) - 1] = '\0';
	switch (h.op) {
	case CF_PIPE_CLAIM:
		owner_claim(w, host, src, &h, p, n);
		break;
	case CF_PIPE_IN:
		owner_in(w, host, src, &h, p, n);
		break;
	case CF_PIPE_OUT:
		claimant_out(w, host, src, &h, p, n);
		break;
	case CF_PIPE_GONE:
		owner_gone(w, host, src, &h, p, n);
		break;
	case CF_PIPE_END:
		claimant_end(w, host, src, &h);
		break;
	case CF_PIPE_KEEP:
		/* To the owner from its claimant, or back. */
		if (owner_of(w, host, src, &h, 0) != NULL)
			(void)pipe_send(host, src, CF_PIPE_KEEP, h.sid, h.pid,
			    0, NULL, 0);
		else
			(void)claimant_of(w, host, src, &h);
		break;
	case CF_PIPE_RESET:
		if (host[0] == '\0')
			reset_from(w, src);
		break;
	default:
		break;
	}
}

void
cf_pipe_start(void)
{
	struct cf_ipc_pipe h;

	memset(&h, 0, sizeof(h));
	h.op = CF_PIPE_RESET;
	cf_ipc_send_all(CF_IPC_PIPE, &h, sizeof(h));
}
