/*
 * recover.h -- Socket.IO connection state recovery (protocol v5, as the
 * reference server 4.6+ and socket.io-client do it), on this worker.
 *
 * With recovery-window > 0 the CONNECT reply carries a private id, pid,
 * and every EVENT sent without an ack carries one more, trailing string
 * argument: its offset (a decimal number, unique on this worker).  The
 * client sends {pid, offset: the last it received} in its next CONNECT.
 *
 * Each socket with a pid keeps references to the events sent to it that
 * its client may not have had: those since the last ping the client
 * answered (it answered after reading them), at most recovery-max-events.
 * When its transport drops (client close, transport close or error, ping
 * timeout) an authenticated socket becomes a *ghost*: a session without a
 * transport that keeps its id, rooms and application state (so no one
 * sees it leave) and goes on collecting the events sent to it, for
 * recovery-window.  A CONNECT with its pid and an offset it holds takes it
 * over: same socket id, rooms, authentication, then every event after the
 * offset in order, then live events.  A ghost past the window, over
 * recovery-max-events, or whose application refuses it (token expired or
 * revoked) leaves as a socket whose transport closed would have.
 */
#ifndef CF_RECOVER_H
#define CF_RECOVER_H

#include <stdint.h>

#include <jansson.h>

#include "eio/msg.h"
#include "eio/session.h"

/*
 * Append the next offset to args (an EVENT's array) when recovery is on:
 * returns it, or 0 when none was added.  cf_recover_unstamp removes it
 * again (args may be shared with other encodings).
 */
uint64_t cf_recover_stamp(json_t *args);
void	 cf_recover_unstamp(json_t *args, uint64_t off);
/*
 * s was sent the event stamped off, encoded as m[0..n-1] (references
 * taken): kept while s may need it again.
 */
void	 cf_recover_sent(struct cf_sess *s, uint64_t off, struct cf_msg **m,
	    int n);
/* A ping went out to s / its client answered the last one. */
void	 cf_recover_ping(struct cf_sess *s);
void	 cf_recover_pong(struct cf_sess *s);
/* A new pid for a socket connecting to "/" (none when recovery is off). */
void	 cf_recover_new_pid(struct cf_sess *s);
/* s's pid, or NULL. */
const char *cf_recover_pid(const struct cf_sess *s);
/*
 * s's transport closed for reason while its socket was connected: 1 when
 * the socket became a ghost (s keeps nothing of it), 0 when it leaves.
 */
int	 cf_recover_detach(struct cf_sess *s, const char *reason);
/*
 * A CONNECT to "/" with auth (its payload): DONE when s took a socket this
 * worker held over (CONNECT reply and missed events queued), ELSEWHERE
 * when this worker does not hold it (counted as an attempt), FRESH when s
 * connects afresh.  PENDING is the caller's: the owner was asked.
 */
enum cf_recover_result {
	CF_RECOVER_FRESH = 0,
	CF_RECOVER_DONE,
	CF_RECOVER_PENDING,
	CF_RECOVER_ELSEWHERE	/* a pid this worker does not hold: the
				   caller asks its owner (pipe.h) */
};
enum cf_recover_result cf_recover_restore(struct cf_sess *s,
	    const json_t *auth);
/*
 * The socket held under pid, asked for with auth ({pid, offset, ...}):
 * 0 and *at (the index of the last event the client had, -1 for none)
 * when it may be taken over; -1 when not, and it has left (counted).
 */
struct cf_sess *cf_recover_held(struct cf_worker *w, const char *pid);
int	 cf_recover_take(struct cf_sess *g, const json_t *auth, long *at);
/*
 * s has the socket now (its own, or held and now served through another
 * worker's session): the CONNECT reply, the events after index at, then
 * the application's recovered hook.
 */
void	 cf_recover_resume(struct cf_sess *s, long at);
/*
 * g, served through another worker's session that closed for reason, is
 * held again (a reason a client comes back from) or leaves.
 */
void	 cf_recover_rehold(struct cf_sess *g, const char *reason);
/* Count a recovery that found no socket held anywhere. */
void	 cf_recover_unknown(void);
/* g leaves and is freed (a held socket, waiting or served). */
void	 cf_recover_leave(struct cf_sess *g, const char *reason);
/* 1 when s is a ghost. */
int	 cf_recover_is_ghost(const struct cf_sess *s);
/* The ghost whose socket id is id, or NULL. */
struct cf_sess *cf_recover_find(struct cf_worker *w, const char *id);
/* The held socket of session id sid served through another worker's
 * session (pipe.h), or NULL. */
struct cf_sess *cf_recover_served(struct cf_worker *w, const char *sid);
/* Call fn on every ghost (fn may drop it). */
void	 cf_recover_each(struct cf_worker *w,
	    void (*fn)(struct cf_sess *g, void *arg), void *arg);
/* The ghost leaves now, as a socket whose transport closed (reason). */
void	 cf_recover_drop(struct cf_sess *g, const char *reason);
/* Every ghost leaves (worker stopping). */
void	 cf_recover_drop_all(struct cf_worker *w);
/* The replay entries of s (when s is freed). */
void	 cf_recover_release(struct cf_sess *s);

#endif
