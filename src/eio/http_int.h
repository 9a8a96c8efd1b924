/*
 * http_int.h -- what the files of the lws protocol share (private to
 * src/eio): the per-request data (pss), the answers, and each file's entry
 * points for the router.
 *
 *   http.c     the router: the lws callback and protocol table, request
 *              checks (framing, CORS), dispatch, the Engine.IO handshake
 *   poll.c     HTTP long-polling: the held GET, the POST body
 *   ws.c       the WebSocket: upgrade, frames in, batched frames out
 *   fwd.c      polling requests forwarded between workers
 *   metrics.c  GET /metrics
 *   api.c      requests under /api/, handed to the application
 */
#ifndef CF_HTTP_INT_H
#define CF_HTTP_INT_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "util.h"
#include "eio/session.h"

enum pss_kind {
	K_NONE = 0,
	K_GET,		/* polling GET (held or being answered) */
	K_POST,		/* polling POST, body being read */
	K_FWD,		/* request forwarded to the owning worker */
	K_WS,		/* WebSocket carrying a session */
	K_PROBE,	/* WebSocket being upgraded to */
	K_API		/* /api/ request, body being read (api.c) */
};

/*
 * lws frees and re-allocates it at the end of every keep-alive
 * transaction: anything that must outlive a request lives in the session.
 */
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
	char		*api_path;	/* K_API: owned */
	const char	*api_method;	/* K_API: static */
	uint8_t		 api_close;	/* K_API: close after the answer */
};

/* Engine.IO error codes of an HTTP answer (cf_http_respond_error). */
enum {
	ECODE_TRANSPORT = 0, ECODE_SID, ECODE_METHOD, ECODE_BAD,
	ECODE_FORBIDDEN, ECODE_VERSION
};
/* Their messages, indexed by code. */
extern const char *const cf_http_ec_msg[];

/*
 * The body of the 503 refusing a new session over max-unauthenticated or
 * max-unauthenticated-per-ip (polling handshake or WebSocket upgrade).
 */
#define UNAUTH_REFUSED	"Too many unauthenticated connections\n"

/* lws' receive buffer of each WebSocket. */
#define CF_WS_RXBUF	512
/* Largest batch of frames written at once (one frame is never split). */
#define CF_WS_BATCH	(256 * 1024)

/* What the sessions of this protocol call their transport through. */
extern const struct cf_transport_ops cf_http_transport;

/* An outstanding forwarded request of this worker: id -> wsi (fwd.c). */
struct fwd {
	uint32_t	 id;
	struct lws	*wsi;
	UT_hash_handle	 hh;
};

/*
 * The protocol's state, cf_w->http (proc.h): allocated by cf_http_init(),
 * released by cf_http_free().
 */
struct cf_http_state {
	struct fwd	*fwds;		/* fwd.c: by id */
	uint32_t	 fwd_next;	/* fwd.c: the next id, never 0 */
	uint64_t	 origin_logged;	/* http.c: ms, the last refused
					   origin logged */
	unsigned	 origin_suppressed;	/* refused since, not logged */
};

/* ------------------------------------------------------ http.c */

/*
 * Write a complete response and finish the transaction.  Returns what the
 * callback must return: 0 to keep the connection, -1 to close it.  The pss
 * must not be touched afterwards (lws frees it).
 */
int	 cf_http_respond(struct lws *wsi, const char *origin, unsigned status,
	    const char *ctype, const void *body, size_t len, int close);
int	 cf_http_respond_error(struct lws *wsi, const char *origin, int code,
	    int close);
int	 cf_http_respond_text(struct lws *wsi, const char *origin,
	    const char *s);
/* The request's Origin, "" when it has none. */
const char *cf_http_origin_of(const struct pss *pss);
/*
 * Hands the Origin over to the caller (free() it), for an answer after
 * which pss may be reused or gone; "" is returned as NULL.
 */
char	*cf_http_take_origin(struct pss *pss);
/*
 * The request's whole Origin as a new string the caller frees; NULL when
 * it has none.  *failed is set when it has one that could not be copied.
 */
char	*cf_http_dup_origin(struct lws *wsi, int *failed);
/* Log a refused Origin at warn (rate limited), with the line to add. */
void	 cf_http_log_refused_origin(const char *origin, const char *what);
/* A query argument's value ("name=" with the '='); 1 when present. */
int	 cf_http_get_arg(struct lws *wsi, const char *name, char *buf, int len);
/* Which Engine.IO endpoint a path is: 1 Socket.IO, 2 bare echo, 0 none. */
int	 cf_http_eio_path(const char *path);
/* The framing verdict of the request on wsi (cf_httpreq_framing). */
int	 cf_http_framing(struct lws *wsi);
/*
 * A new session (endpoint as cf_http_eio_path) and its open packet: on
 * the WebSocket wsi, or as the answer to a polling GET.  Returns what the
 * callback returns.
 */
int	 cf_http_handshake(struct lws *wsi, struct pss *pss, int endpoint,
	    int websocket);

/* ------------------------------------------------------ poll.c */

/*
 * What a polling GET of s gets now: 1 with the body in b (the GET is
 * answered; *finished when it carries the close), 0 when there is nothing
 * to say yet (hold it).
 */
int	 cf_poll_answer(struct cf_sess *s, struct cf_buf *b, int *finished);
/* Hold a polling GET of s on wsi (or refuse it).  The callback's return. */
int	 cf_poll_start_get(struct lws *wsi, struct pss *pss, struct cf_sess *s);
/* LWS_CALLBACK_HTTP_WRITEABLE: answer a held or forwarded GET. */
int	 cf_poll_writeable(struct lws *wsi, struct pss *pss);
/* Feed a POST body to s.  Returns the HTTP status to answer. */
int	 cf_poll_post_body(struct cf_sess *s, uint8_t *body, size_t len);
/*
 * The checks of a polling POST's head before it is read or forwarded.
 * 1 with *rc the callback's return when it answered, 0 when it may go on.
 */
int	 cf_poll_post_refused(struct lws *wsi, struct pss *pss, int *rc);
/* LWS_CALLBACK_HTTP_BODY and LWS_CALLBACK_HTTP_BODY_COMPLETION. */
int	 cf_poll_body(struct lws *wsi, struct pss *pss, const void *in,
	    size_t len);
int	 cf_poll_body_done(struct lws *wsi, struct pss *pss);
/* The HTTP transaction is over (answered, or the connection closed). */
void	 cf_poll_unbind(struct lws *wsi, struct pss *pss, int closed);

/* ------------------------------------------------------ fwd.c */

/* Forward this request (a POST with its body) to slot.  0 or -1. */
int	 cf_fwd_forward(struct lws *wsi, struct pss *pss, int slot, int post,
	    const uint8_t *body, size_t len);
/* Forget pss's outstanding forwarded request, if any. */
void	 cf_fwd_forget(struct pss *pss);
/* Answer a polling GET another worker forwarded for s, once there is
 * something to say (cf_transport_ops.remote_flush). */
void	 cf_fwd_remote_flush(struct cf_sess *s);

/* ------------------------------------------------------ ws.c */

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: 0 to upgrade, 1 when answered. */
int	 cf_ws_confirm_upgrade(struct lws *wsi);
int	 cf_ws_established(struct lws *wsi, struct pss *pss);
int	 cf_ws_receive(struct lws *wsi, struct pss *pss, const void *in,
	    size_t len);
int	 cf_ws_writeable(struct lws *wsi, struct pss *pss);
void	 cf_ws_closed(struct lws *wsi, struct pss *pss);
/* The transport ops of a WebSocket (cf_transport_ops). */
void	 cf_ws_flush(struct cf_sess *s);
size_t	 cf_ws_unsent(struct cf_sess *s);
int	 cf_ws_stalled(struct cf_sess *s);
void	 cf_ws_abort(struct cf_sess *s, unsigned code, const char *why);

/* ------------------------------------------------------ api.c */

/*
 * Route a request by listener and path (api-listen).  *handled 0: not
 * ours, go on.  Else the callback's return, or -2: an API request that
 * passed the checks of its head, to be bound with cf_api_begin.
 */
int	 cf_api_route(struct lws *wsi, const char *path, int *handled);
/* Bind an API request to pss; dispatched now when it has no body. */
int	 cf_api_begin(struct lws *wsi, struct pss *pss, const char *path);
/* LWS_CALLBACK_HTTP_BODY and _COMPLETION of a K_API request. */
int	 cf_api_body(struct lws *wsi, struct pss *pss, const void *in,
	    size_t len);
int	 cf_api_body_done(struct lws *wsi, struct pss *pss);
/* Release what a K_API pss holds (NULL-safe fields); kind K_NONE. */
void	 cf_api_unbind(struct pss *pss);

/* ------------------------------------------------------ metrics.c */

/*
 * GET /metrics: 403 unless the peer address is allowed by metrics-allow,
 * else the exposition of every worker slot.  The callback's return.
 */
int	 cf_metrics_serve(struct lws *wsi);

#endif
