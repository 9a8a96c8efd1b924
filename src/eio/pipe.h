/*
 * pipe.h -- a socket held by one worker, recovered by a client whose new
 * session landed on another worker of the host.
 *
 * The socket does not move: its rooms, application state and the events
 * it missed stay with the worker that holds it (the owner, named by the
 * pid: "<20 characters>.<host>", the characters encoding its slot and
 * generation as a session id does).  The claimant may be on another
 * host: the messages then go through Redis (the relay), in order.  The
 * claimant's session asks the owner for it (CLAIM, with the CONNECT
 * payload); the owner checks it as a local recovery would and from then
 * on serves the socket through the claimant's session: the claimant
 * passes the client's Socket.IO messages on (IN) and writes what the
 * owner sends (OUT); the claimant's session closing (GONE) or the owner
 * (END) ends it.  The inbox of a worker is
 * FIFO per sender, so both directions keep their order, and nothing is
 * ever delivered by two workers: recovered across workers, a socket is
 * still exactly where it was.  The claimant keeps Engine.IO (pings, the
 * transport and its upgrade, max-output-buffer) to itself; at each pong it
 * tells the owner it is there (KEEP) and the owner answers, so either
 * side notices the other gone (a killed worker, a lost Redis) within two
 * ping intervals.
 */
#ifndef CF_PIPE_H
#define CF_PIPE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "eio/session.h"

enum cf_pipe_op {
	CF_PIPE_CLAIM = 1,	/* claimant -> owner: payload the CONNECT's */
	CF_PIPE_IN,		/* claimant -> owner: a client message */
	CF_PIPE_OUT,		/* owner -> claimant: a message for the client */
	CF_PIPE_GONE,		/* claimant -> owner: the session closed;
				   payload the reason */
	CF_PIPE_END,		/* owner -> claimant: no socket (any more) */
	CF_PIPE_KEEP,		/* claimant -> owner at each pong, and back:
				   both still there */
	CF_PIPE_RESET		/* a worker of this host started: its pipes
				   are gone */
};

/*
 * Claimant: ask the worker named by pid for its socket, for s (auth the
 * CONNECT payload).  0 when asked (s waits; the answer or a timeout
 * continues it), -1 when pid names no other running worker of this host.
 */
int	 cf_pipe_claim(struct cf_sess *s, const char *pid, const json_t *auth);
/* Claimant: the owner did not answer in time: s connects afresh. */
void	 cf_pipe_claim_expired(struct cf_sess *s);
/* Claimant: a client message on s, for the owner. */
void	 cf_pipe_forward_in(struct cf_sess *s, const uint8_t *data,
	    size_t len, int binary);
/* Claimant: s closed (its reason in s->close_reason). */
void	 cf_pipe_client_closed(struct cf_sess *s);
/*
 * Owner: a CONNECT (auth its payload) for a socket held here: if another
 * worker's session serves it, that one ends (its client is back here).
 */
void	 cf_pipe_unserve(const json_t *auth);
/*
 * A pipe message (struct cf_ipc_pipe, then bytes) from worker slot src of
 * host ("" for this one: CF_IPC_PIPE; another: over Redis).
 */
void	 cf_pipe_receive(struct cf_worker *w, const char *host, unsigned src,
	    const uint8_t *data, size_t len);
/*
 * How a pipe message reaches a worker of another host (the relay, wired
 * at start; without it a pid of another host is not recovered).  fn
 * returns 0, or -1 when the message was dropped.
 */
void	 cf_pipe_on_remote(int (*fn)(const char *host, unsigned slot,
	    const void *msg, size_t len));
/* Claimant: s's client answered a ping: the owner hears from us (or,
 * silent too long, s ends). */
void	 cf_pipe_pong(struct cf_sess *s);
/* The link of s (its session is freed). */
void	 cf_pipe_release(struct cf_sess *s);
/* This worker starts: the others end the sessions piped to its slot. */
void	 cf_pipe_start(void);

#endif
