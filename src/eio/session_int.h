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
	struct cf_sess	*ghosts;	/* recover.c: uthash hh_pid by pid */
	uv_timer_t	 ghost_timer;	/* the next ghost to give up */
	int		 ghost_timer_on; /* initialised */
	uint64_t	 next_off;	/* the last offset stamped */
};

/* Take s off the flush list (it is about to be freed). */
void	 cf_sess_unflush(struct cf_sess *s);
/* The socket layer's memory of s: pending acks and attachments. */
void	 cf_sock_release(struct cf_sess *s);

#endif
