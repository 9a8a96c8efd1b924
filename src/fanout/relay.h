/*
 * relay.h -- carries broadcast frames (frame.h) to the other workers of
 * this host and to other hosts.  A frame always goes to every other
 * worker's inbox socket; with `redis` it is also published on the
 * socket.io adapter's channels for the other hosts (and the Redis client
 * is shared with the cluster presence, cluster.h).
 */
#ifndef CF_RELAY_H
#define CF_RELAY_H

#include <stddef.h>
#include <stdint.h>

struct cf_worker;
struct cf_relay;
struct cf_frame_bcast;

/*
 * Where the frames that arrive go: the rooms (room.c's cf_room_sink), so
 * that the relay, below the rooms, never calls them by name.  deliver: a
 * decoded broadcast (borrowed) for this worker's sockets; request: a
 * socket.io adapter request (JSON bytes) of a backend.
 */
struct cf_relay_sink {
	void	(*deliver)(struct cf_worker *w, const struct cf_frame_bcast *b);
	void	(*request)(struct cf_worker *w, const uint8_t *p, size_t len);
	/* A pipe message (eio/pipe.h) from worker slot of another host. */
	void	(*pipe)(struct cf_worker *w, const char *host, unsigned slot,
		    const uint8_t *p, size_t len);
};

/* sink is borrowed for the relay's life. */
struct cf_relay	*cf_relay_new(struct cf_worker *w,
		    const struct cf_relay_sink *sink);
void		 cf_relay_free(struct cf_relay *r);	/* NULL-safe */
/* Publish an encoded frame; room is the single target room or NULL. */
int		 cf_relay_publish(struct cf_relay *r, const char *room,
		    const uint8_t *frame, size_t len);
/*
 * Send a socket.io adapter request (JSON bytes, an object whose first
 * member is "uid": this worker's uid, so that other hosts' workers can
 * tell it from theirs) to every other worker of this host and, with
 * redis, to the other hosts.  The caller applies it to its own sockets.
 * 0, or -1 when Redis refused it (the local workers have it).
 */
int		 cf_relay_request(struct cf_relay *r, const char *json,
		    size_t len);
/*
 * A pipe message (eio/pipe.h) for worker slot of host, over Redis; it
 * arrives at that worker's sink->pipe in the order sent.  0, or -1
 * without redis or when dropped.
 */
int		 cf_relay_pipe(struct cf_relay *r, const char *host,
		    unsigned slot, const void *msg, size_t len);
/* CF_IPC_REQUEST from another worker: the request, for the sink. */
void		 cf_relay_ipc_request(struct cf_worker *w, const uint8_t *data,
		    size_t len);
/*
 * Frames Redis has not taken yet while it is reachable (a stopping worker
 * waits for them); 0 without redis or while Redis is down.
 */
size_t		 cf_relay_unsent(const struct cf_relay *r);
/*
 * A CF_IPC_RELAY message from another worker's inbox: struct cf_ipc_relay
 * (the sender's CLOCK_MONOTONIC microseconds), then the frame.  Records
 * the relay lag, decodes the frame and delivers it to this worker's
 * sockets (frames from Redis take the same path inside relay.c).
 */
void		 cf_relay_ipc(struct cf_worker *w, const uint8_t *data,
		    size_t len);

#endif
