/*
 * session.h -- an Engine.IO v4 session and the Socket.IO socket on it.
 *
 * The session is transport independent: the HTTP/WebSocket glue (http.c,
 * poll.c, ws.c, fwd.c) feeds it decoded packets and pulls queued packets
 * when its transport can write; the session reaches the transport only
 * through the cf_transport_ops it was created with.  A session is freed only from the loop's deferred-free pass, never
 * while a callback is dispatching to it: cf_sess_close() marks it, detaches
 * its transports and queues it.
 */
#ifndef CF_SESSION_H
#define CF_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <uthash.h>
#include <uv.h>

#include "codec/eio.h"
#include "codec/sio.h"
#include "eio/msg.h"
#include "proc.h"

enum cf_transport {
	CF_T_POLLING = 0,
	CF_T_WEBSOCKET,
	CF_T_PIPE		/* a socket whose client is on another worker's
				   session (pipe.c) */
};

/* s->pipe on the worker whose session carries another's socket. */
enum cf_pipe_role {
	CF_PIPE_NONE = 0,
	CF_PIPE_CLAIMING,	/* asked the owner for the socket */
	CF_PIPE_CLIENT		/* its Socket.IO packets go to the owner */
};

enum cf_sess_state {
	CF_S_OPEN = 0,
	CF_S_CLOSING,		/* close queued, waiting for the transport to flush */
	CF_S_CLOSED		/* detached, waiting for the deferred free */
};

struct cf_sess;

/*
 * What a session asks of the transport that carries it, given to
 * cf_sess_new() by the transport that created it (one table for polling
 * and the WebSocket it may upgrade to).  Called directly on the hot path
 * (unsent on every cf_sess_send); every op is set.
 */
struct cf_transport_ops {
	/* Write what this loop turn queued on s's WebSocket (ws_wsi set). */
	void	(*flush)(struct cf_sess *s);
	/*
	 * Bytes the transport holds unsent on s's WebSocket (0 when it holds
	 * none or s has no WebSocket).
	 */
	size_t	(*unsent)(struct cf_sess *s);
	/*
	 * 1 when s's WebSocket has bytes its peer did not take: held by the
	 * transport, or still unsent in the kernel (the peer's window is
	 * closed).
	 */
	int	(*stalled)(struct cf_sess *s);
	/*
	 * Prepare s's WebSocket for an abortive close by its peer's fault: a
	 * close frame with code and why when the connection is not stalled
	 * and takes it at once, else a reset on close (SO_LINGER 0), so
	 * neither the transport nor the kernel keeps the unsent bytes of a
	 * peer that does not read.  Closes nothing itself.
	 */
	void	(*abort)(struct cf_sess *s, unsigned code, const char *why);
	/* Answer a polling GET that another worker forwarded to us for s
	 * (remote_poll), once there is something to say. */
	void	(*remote_flush)(struct cf_sess *s);
	/*
	 * Optional: a transport that closes its sessions itself (a socket
	 * served through another worker's session, pipe.c); cf_sess_close()
	 * and cf_sess_transport_gone() hand the close to it.
	 */
	void	(*close)(struct cf_sess *s, const char *reason, int notify);
};

struct cf_membership {
	struct cf_room		*room;
	uint32_t		 index;		/* position in room->members */
};

/* A pending server-to-client ack. */
struct cf_ack {
	struct cf_ack		*next;
	uint64_t		 id;
	/* args: the ACK's array; att: its binary attachments. */
	void			(*fn)(struct cf_sess *s, json_t *args,
				    const struct cf_sio_att *att, int nattach,
				    void *arg);
	void			*arg;
};

struct cf_sess {
	char			 sid[24];	/* Engine.IO id, names our slot */
	UT_hash_handle		 hh;
	struct cf_sess		*free_next;
	enum cf_transport	 transport;
	const struct cf_transport_ops *tops;	/* of the creating transport */
	enum cf_sess_state	 state;
	const char		*close_reason;

	/* Transports.  Each wsi's pss points back here while attached. */
	struct lws		*poll_wsi;	/* held polling GET */
	struct lws		*post_wsi;	/* polling POST being read */
	struct lws		*ws_wsi;	/* WebSocket carrying the session */
	struct lws		*probe_wsi;	/* WebSocket being upgraded to */
	int			 upgrading;	/* "2probe" answered */
	int			 poll_noop;	/* answer the held GET with "6" */
	/* A polling GET forwarded by another worker (keep-alive reuse). */
	int			 remote_poll;
	unsigned		 remote_slot;
	uint32_t		 remote_reqid;

	struct cf_outq		 q;
	/*
	 * Bytes of this session's WebSocket that lws holds unsent (an upper
	 * bound: what was handed to it since it last held nothing).  With q,
	 * what max-output-buffer bounds.
	 */
	size_t			 ws_held;
	/* Over max-output-buffer: closed at the end of the loop turn. */
	int			 slow;
	/* On the list of sessions written at the end of the loop turn. */
	struct cf_sess		*flush_next;
	int			 flush_queued;

	/* One timer serves every deadline of the session. */
	uv_timer_t		 timer;
	uint64_t		 ping_at;	/* next ping, 0 when waiting for a pong */
	uint64_t		 pong_deadline;	/* 0 unless a ping is out */
	uint64_t		 connect_deadline; /* Socket.IO CONNECT expected by */
	uint64_t		 upgrade_deadline;
	uint64_t		 close_deadline; /* give up a buffered close */
	uint64_t		 app_deadline;	/* the application's own timer */
	/* Authenticated by then (cf_app->auth_required), else closed. */
	uint64_t		 auth_deadline;
	/* The attachments of `pending` complete by then, else closed. */
	uint64_t		 attach_deadline;

	/* Not authenticated yet: counted in the stats block (host-wide
	 * caps), under its address counter unauth_bucket. */
	int			 unauth;
	uint32_t		 unauth_bucket;

	/* Per-socket rate limit: a token bucket (events.c). */
	double			 rl_tokens;
	uint64_t		 rl_at;
	uint32_t		 rl_refused;	/* refusals in a row */

	/* Socket.IO, namespace "/" only. */
	int			 connected;
	char			 id[24];	/* the Socket.IO socket id */
	json_t			*auth;		/* CONNECT payload, NULL if empty */
	/* Waiting for its binary attachments, or NULL (allocated only then:
	 * a packet is 448 bytes, most sessions never see an attachment). */
	struct cf_sio_packet	*pending;
	size_t			 pending_bytes;	/* its text and attachments */
	uint64_t		 next_ack_id;
	struct cf_ack		*acks;
	struct cf_membership	*rooms;
	uint32_t		 nrooms;
	uint32_t		 caprooms;
	uint64_t		 bcast_seen;	/* last broadcast sequence delivered */
	/* Connection state recovery (recover.c): the private id sent in the
	 * CONNECT reply and the events s may have to send again (NULL when
	 * recovery is off); for a held socket, when it is given up. */
	struct cf_replay	*replay;
	uint64_t		 ghost_until;	/* ms; 0 unless waiting */
	/*
	 * pipe.c.  A claimant's session: pipe (CF_PIPE_*), and link (the
	 * owner, the socket's pid); a held socket served through one
	 * (transport CF_T_PIPE): link (the claimant and its session).  The
	 * claimant waits for the owner until claim_deadline.
	 */
	enum cf_pipe_role	 pipe;
	struct cf_pipe_link	*link;
	uint64_t		 claim_deadline;
	struct cf_nsp_conn	*extra;		/* namespaces other than "/" */
	int			 eio_echo;	/* bare Engine.IO echo (conformance) */
	void			*app;		/* per-socket state of the application */
};

/* A namespace other than "/" joined on this session (only when the
 * application allows one; confabd itself serves "/" alone). */
struct cf_nsp_conn {
	struct cf_nsp_conn	*next;
	char			 nsp[CF_SIO_MAX_NSP];
	char			 id[24];
};

/*
 * An HTTP request under /api/ (eio/api.c), read whole before the
 * application sees it.  Every pointer is borrowed for the call.  args are
 * the query's URL-decoded "name=value" pieces in order; the header values
 * are "" when absent.
 */
#define CF_API_MAX_ARGS	16
struct cf_api_req {
	const char	*method;	/* "GET", "POST", "PUT", "PATCH",
					   "DELETE" */
	const char	*path;		/* URL-decoded, no query */
	const char	*args[CF_API_MAX_ARGS];
	unsigned	 nargs;
	const char	*authorization;
	const char	*content_type;
	const char	*idempotency_key;
	const char	*body;		/* NUL-terminated; len bytes */
	size_t		 len;
	const char	*peer;		/* the client's address, for logs */
};

/*
 * The answer the application fills in: status, and body, a JSON text the
 * transport frees (NULL: none).
 */
struct cf_api_res {
	unsigned	 status;
	char		*body;
};

/*
 * The application on top of the Socket.IO layer: which namespaces exist and
 * what happens on connect, on each event, and on disconnect.  confabd's is
 * cf_confabd_app (app/app.c); the conformance server has its own.
 */
struct cf_app {
	int	(*nsp_allowed)(const char *nsp);
	/* "/" connected; return non-zero to refuse with a CONNECT_ERROR
	 * whose message is *why. */
	int	(*on_connect)(struct cf_sess *s, const char *nsp, json_t *auth,
		    const char **why);
	void	(*on_event)(struct cf_sess *s, struct cf_sio_packet *p);
	void	(*on_disconnect)(struct cf_sess *s, const char *reason);
	/*
	 * Connection state recovery (recover.h), each optional.  hold: 1
	 * when s's socket is worth holding after its transport dropped (it
	 * authenticated).  recover: 0 when the held socket s may be taken
	 * over now, -1 when not (its token expired or was revoked).
	 * recovered: s took a held socket over (its state is s->app).
	 */
	int	(*hold)(struct cf_sess *s);
	int	(*recover)(struct cf_sess *s);
	void	(*recovered)(struct cf_sess *s);
	/* s->app_deadline has passed (it was reset to 0 first). */
	void	(*on_timer)(struct cf_sess *s);
	/* A message from the master or a peer the application owns
	 * (CF_IPC_GONE: presence keys left with no connection). */
	void	(*on_gone)(struct cf_worker *w, const char *key);
	/*
	 * The name of the application's event table row i, or NULL past the
	 * end (may be NULL): the labels of the per-event counters in
	 * /metrics, so the transport never names the application.
	 */
	const char *(*event_name)(unsigned i);
	/*
	 * Non-zero: every session counts as unauthenticated until the
	 * application calls cf_sess_authenticated(): new sessions are capped
	 * (max-unauthenticated, max-unauthenticated-per-ip), a binary packet
	 * closes the session, and at auth-timeout from the session's start
	 * on_auth_timeout (may be NULL) runs and the session is closed.
	 */
	int	  auth_required;
	void	(*on_auth_timeout)(struct cf_sess *s);
	/*
	 * An HTTP request under /api/ (NULL: they are 404), answered
	 * synchronously through *res.  The transport has checked where it
	 * came in (api-listen) and bounded its body (max-payload).
	 */
	void	(*api)(const struct cf_api_req *req, struct cf_api_res *res);
	/*
	 * The same request's head, before its body is read (may be NULL):
	 * 0 to read the body and call api, else it answered through *res
	 * and the connection is closed unread, so that a client without a
	 * key never makes the transport hold a body.  req->body is NULL.
	 */
	int	(*api_head)(const struct cf_api_req *req, struct cf_api_res *res);
};
extern const struct cf_app *cf_app;	/* set once at start, before the
						   loop runs */

/*
 * Create a session owned by this worker, carried by transport t whose ops
 * (static, all set) it calls, and register it.  NULL on ENOMEM.
 */
struct cf_sess	*cf_sess_new(struct cf_worker *w, enum cf_transport t,
		    const struct cf_transport_ops *ops);
struct cf_sess	*cf_sess_find(struct cf_worker *w, const char *sid);
/*
 * Close a session (reason for the logs).  notify: CF_CLOSE_SILENT (the
 * client closed, or its transport is gone), CF_CLOSE_FORCED (an error: a
 * held GET gets a close packet, a WebSocket a close frame) or
 * CF_CLOSE_GRACEFUL (as forced, and over polling without a held GET the
 * close packet waits for the next GET).  Safe to call from inside any
 * callback; the memory is released later.
 */
#define CF_CLOSE_SILENT		0
#define CF_CLOSE_FORCED		1
#define CF_CLOSE_GRACEFUL	2
void		 cf_sess_close(struct cf_sess *s, const char *reason, int notify);
/*
 * The module's state (w->sess, session_int.h): allocated before the shell
 * wires anything, 0/-1; released once the loop is closed (NULL-safe).
 */
int		 cf_sess_init(struct cf_worker *w);
void		 cf_sess_free(struct cf_worker *w);
/* Free sessions closed since the last pass.  Called from the loop. */
void		 cf_sess_reap(struct cf_worker *w);
void		 cf_sess_flush(void);

/* Feed one decoded Engine.IO packet from the client.  -1: session closed. */
int		 cf_sess_input(struct cf_sess *s, const struct cf_eio_packet *p);
/* Queue an outgoing packet (takes a new reference) and wake the transport. */
void		 cf_sess_send(struct cf_sess *s, struct cf_msg *m);
/* Ask the active transport for a write opportunity. */
void		 cf_sess_wake(struct cf_sess *s);
/* The transport is gone or has written the close: finish the session. */
void		 cf_sess_transport_gone(struct cf_sess *s, const char *reason);
/* The session now runs over its WebSocket (ws_wsi). */
void		 cf_sess_upgraded(struct cf_sess *s);
/* Re-arm the session timer after a deadline changed. */
void		 cf_sess_timer_update(struct cf_sess *s);

/*
 * Sessions not authenticated yet (cf_app->auth_required).  The counter of
 * the peer address of fd (an IPv6 address by its /64), for the per-address
 * cap.
 */
uint32_t	 cf_sess_addr_bucket(struct cf_worker *w, int fd);
/*
 * May a new session of that address start?  Checks max-unauthenticated
 * and max-unauthenticated-per-ip against the counts of every worker of the
 * host.  0, or -1 when refused (counted, logged at most once a second).
 * Always 0 unless cf_app->auth_required.
 */
int		 cf_sess_admit(struct cf_worker *w, uint32_t bucket);
/* Count a new session as unauthenticated and arm its auth-timeout. */
void		 cf_sess_unauth_begin(struct cf_sess *s, uint32_t bucket);
/* The application authenticated s: no longer counted or timed. */
void		 cf_sess_authenticated(struct cf_sess *s);


/* The worker slot named by a session id of our generation, or -1. */
int		 cf_sess_sid_slot(const char *sid);

/* socket.c: the Socket.IO layer. */
/*
 * Register the function run for every Socket.IO socket that disconnects,
 * after the application's on_disconnect (the fan-out: leave every room).
 */
void		 cf_sock_on_left(void (*fn)(struct cf_sess *s));
/* fn(s): s has taken over a socket (and its memberships, s->rooms) from
 * another session object (recover.h). */
void		 cf_sock_on_moved(void (*fn)(struct cf_sess *s));
int		 cf_sock_message(struct cf_sess *s, const uint8_t *data,
		    size_t len, int binary);
void		 cf_sock_closed(struct cf_sess *s);
/* Emit event args (an array with the name first) to this socket; with fn,
 * request an ack. */
typedef void (*cf_ack_fn)(struct cf_sess *, json_t *,
		    const struct cf_sio_att *, int, void *);
int		 cf_sock_emit(struct cf_sess *s, json_t *args,
		    const struct cf_sio_att *att, int nattach, cf_ack_fn fn,
		    void *arg);
/* Send a prepared broadcast packet (text + attachment messages). */
/* off: the offset stamped in it (recover.h), 0 when none. */
void		 cf_sock_send_encoded(struct cf_sess *s, uint64_t off,
		    struct cf_msg *text, struct cf_msg **att, int nattach);
/* Connect s to "/" afresh, with the CONNECT payload kept in s->auth
 * (a recovery another worker refused). */
void		 cf_sock_connect_fresh(struct cf_sess *s);
/* The CONNECT reply to "/": {sid, pid} (pid when recovery is on). */
void		 cf_sock_connect_reply(struct cf_sess *s);
/* Server-side disconnect: Socket.IO DISCONNECT, or close the connection. */
void		 cf_sock_disconnect(struct cf_sess *s, int close);
/* Send one Socket.IO packet (and its attachments) on this session. */
int		 cf_sock_send_packet(struct cf_sess *s,
		    const struct cf_sio_packet *p);
/* Emit [name, ...args] on a namespace other than "/" (conformance). */
int		 cf_sock_emit_nsp(struct cf_sess *s, const char *nsp,
		    json_t *args);

#endif
