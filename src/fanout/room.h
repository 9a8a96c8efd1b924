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
#include "fanout/relay.h"

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
/* s holds memberships another session object held (a socket recovered,
 * eio/recover.h): the rooms name s now. */
void	 cf_room_moved(struct cf_sess *s);
/* This worker's room of that name, or NULL when none of its sockets is in it. */
const struct cf_room *cf_room_find(struct cf_worker *w, const char *name);
/* 1 when s is in the room. */
int	 cf_room_has(const struct cf_sess *s, const char *name);

/*
 * Emit event args (array, name first, placeholders into att) to every
 * socket in any of rooms (all sockets when nrooms is 0), on every worker and
 * host, except the socket `except` (may be NULL).  0, or -1 on failure.
 */
int	 cf_room_broadcast(struct cf_worker *w, const char *const *rooms,
	    size_t nrooms, const struct cf_sess *except, json_t *args,
	    const struct cf_sio_att *att, int nattach);

/*
 * Emit [event, payload] to the members of room on every worker and host
 * (cf_room_broadcast), except the socket `except` (may be NULL).  payload
 * is stolen; NULL emits nothing (a failed json_pack).  At log-level debug
 * one event_out line names the room (cf_room_log_out).
 */
void	 cf_room_emit(const char *room, const struct cf_sess *except,
	    const char *event, json_t *payload);
/*
 * The same to this worker's members only: for what every worker decides
 * for itself (presence healed after a Redis outage), never relayed.
 */
void	 cf_room_emit_local(const char *room, const struct cf_sess *except,
	    const char *event, json_t *payload);
/*
 * The debug line of one event sent: "event=event_out <to> name=<event>
 * bytes=<n>", and with log-payloads the payload's first 500 bytes.  to is
 * "room=<room>" or, for an emit to one socket (the application), "sid=...
 * user=...".  The caller checked the level.
 */
void	 cf_room_log_out(const char *to, const json_t *args);

/*
 * Requests of the socket.io adapter protocol, sent to every worker and
 * host and applied here too.  disconnect: every socket in room is
 * disconnected (close: its transport closed as well).  server_emit:
 * [event, args] for the application of every worker (serverSideEmit);
 * args is stolen.  0, or -1 when it could not be sent everywhere (the
 * workers of this host have it unless memory ran out).
 */
int	 cf_room_disconnect(struct cf_worker *w, const char *room, int close);
int	 cf_room_server_emit(struct cf_worker *w, const char *event,
	    json_t *args);
/*
 * Where a serverSideEmit arrives, from this host or another (also from a
 * backend's @socket.io/redis-emitter): fn(w, event, args), args
 * borrowed.  Requests arriving while none is set are dropped.
 */
void	 cf_room_on_server_emit(struct cf_worker *w,
	    void (*fn)(struct cf_worker *w, const char *event,
	    const json_t *args));

/*
 * For cf_relay_new: what arrives over the relay -- a broadcast, delivered
 * to this worker's members of its rooms, and a backend's socketsJoin /
 * socketsLeave / disconnectSockets (the socket.io adapter's request),
 * applied to this worker's sockets.
 */
extern const struct cf_relay_sink cf_room_sink;

#endif
