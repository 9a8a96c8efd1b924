/*
 * session_int.h -- the state of the session module (session.c, socket.c),
 * private to it; reached as cf_w->sess (proc.h), allocated by
 * cf_sess_init() and released by cf_sess_free().
 */
#ifndef CF_SESSION_INT_H
#define CF_SESSION_INT_H

#include <stdint.h>

#include <uv.h>

#include "eio/session.h"

struct cf_session_state {
	struct cf_sess	*free_list;	/* closed, freed by the next reap */
	struct cf_sess	*flush_list;	/* WebSocket sessions with packets
					   queued in this loop turn */
	uint64_t	 admit_logged;	/* ms: the last refusal logged */
	void		(*left_fn)(struct cf_sess *s);	/* cf_sock_on_left */
	void		(*moved_fn)(struct cf_sess *s);	/* cf_sock_on_moved */
	struct cf_sess	*ghosts;	/* recover.c: uthash hh by pid */
	uv_timer_t	 ghost_timer;	/* the next ghost to give up */
	int		 ghost_timer_on; /* initialised */
	uint64_t	 next_off;	/* the last offset stamped */
	/* pipe.c: sends to a worker of another host (cf_pipe_on_remote). */
	int		(*pipe_remote)(const char *host, unsigned slot,
			    const void *msg, size_t len);
};

/*
 * Ping s's client now rather than at the next ping-interval (unless a ping
 * is out): its pong confirms what was sent before (recover.c).
 */
void	 cf_sess_ping_soon(struct cf_sess *s);
/* Take s off the flush list (it is about to be freed). */
void	 cf_sess_unflush(struct cf_sess *s);
/* The socket layer's memory of s: pending acks, attachments, and the
 * events kept for a recovery. */
void	 cf_sock_release(struct cf_sess *s);
/* Engine.IO told the socket layer: a ping went out to s, its client
 * answered one, s waited too long for another worker's socket. */
void	 cf_sock_pinged(struct cf_sess *s);
void	 cf_sock_ponged(struct cf_sess *s);
void	 cf_sock_claim_expired(struct cf_sess *s);

#endif
