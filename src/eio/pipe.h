/*
 * pipe.h -- a socket held by one worker, recovered by a client whose new
 * session landed on another worker of the host.
 *
 * The socket does not move: its rooms, application state and the events
 * it missed stay with the worker that holds it (the owner, named by the
 * pid: byte 0 its slot, byte 1 its generation, as in a session id).  The
 * claimant's session asks the owner for it (CLAIM, with the CONNECT
 * payload); the owner checks it as a local recovery would and from then
 * on serves the socket through the claimant's session: the claimant
 * passes the client's Socket.IO messages on (IN) and writes what the
 * owner sends (OUT); the claimant's session closing (GONE) or the owner
 * (END) ends it.  The inbox of a worker is
 * FIFO per sender, so both directions keep their order, and nothing is
 * ever delivered by two workers: recovered across workers, a socket is
 * still exactly where it was.  The claimant keeps Engine.IO (pings, the
 * transport and its upgrade, max-output-buffer) to itself.
 */
#ifndef CF_PIPE_H
#define CF_PIPE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "codec/eio.h"
#include "eio/session.h"

enum cf_pipe_op {
	CF_PIPE_CLAIM = 1,	/* claimant -> owner: payload the CONNECT's */
	CF_PIPE_IN,		/* claimant -> owner: a client message */
	CF_PIPE_OUT,		/* owner -> claimant: a message for the client */
	CF_PIPE_GONE,		/* claimant -> owner: the session closed;
				   payload the reason */
	CF_PIPE_END,		/* owner -> claimant: no socket (any more) */
	CF_PIPE_RESET		/* a worker started: its pipes are gone */
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
void	 cf_pipe_forward_in(struct cf_sess *s, const struct cf_eio_packet *p);
/* Claimant: s closed (its reason in s->close_reason). */
void	 cf_pipe_client_closed(struct cf_sess *s);
/*
 * Owner: g (served through a claimant) is closed by the server: what is
 * queued goes out, the claimant ends its session, the socket leaves.
 */
void	 cf_pipe_owner_close(struct cf_sess *g, const char *reason,
	    int notify);
/* Owner: g stops being served through its claimant (told, with reason). */
void	 cf_pipe_owner_detach(struct cf_sess *g, const char *reason);
/* A CF_IPC_PIPE message from slot src. */
void	 cf_pipe_receive(struct cf_worker *w, unsigned src,
	    const uint8_t *data, size_t len);
/* This worker starts: the others end the sessions piped to its slot. */
void	 cf_pipe_start(void);

#endif
