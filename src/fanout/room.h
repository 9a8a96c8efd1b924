/*
 * room.h -- rooms of this worker and broadcasts that span every worker and
 * host.  A broadcast is encoded once, queued on each local member, and
 * published once on the relay; a worker receiving it delivers to its own
 * members only and never re-publishes.
 */
#ifndef CF_ROOM_H
#define CF_ROOM_H

#include <stddef.h>

#include <jansson.h>
#include <uthash.h>

#include "codec/sio.h"
#include "relay/frame.h"
#include "eio/session.h"

struct cf_room {
	char			*name;
	UT_hash_handle		 hh;
	struct cf_sess		**members;
	uint32_t		 n;
	uint32_t		 cap;
};

/* Join / leave.  Joining twice is a no-op.  0, or -1 on ENOMEM. */
int	 cf_room_join(struct cf_worker *w, struct cf_sess *s, const char *name);
void	 cf_room_leave(struct cf_worker *w, struct cf_sess *s, const char *name);
void	 cf_room_leave_all(struct cf_worker *w, struct cf_sess *s);
/* 1 when s is in the room. */
int	 cf_room_has(const struct cf_sess *s, const char *name);
/* Local member count of a room (0 when unknown). */
size_t	 cf_room_size(struct cf_worker *w, const char *name);

/*
 * Emit event args (array, name first, placeholders into att) to every
 * socket in any of rooms (all sockets when nrooms is 0), on every worker and
 * host, except the socket `except` (may be NULL).  0, or -1 on failure.
 */
int	 cf_room_broadcast(struct cf_worker *w, const char *const *rooms,
	    size_t nrooms, const struct cf_sess *except, json_t *args,
	    const struct cf_sio_att *att, int nattach);

/* Deliver a broadcast that arrived over the relay to local members. */
void	 cf_room_deliver(struct cf_worker *w, const struct cf_frame_bcast *b);

#endif
