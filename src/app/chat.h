/*
 * chat.h -- the chat application's state of a socket (struct cf_chat) and
 * the helpers every handler shares (chat.c): emitting to the socket,
 * failing and acking, permissions.  Below the handlers (handlers.h) in the
 * application layer.
 *
 * Rooms: "authenticated" (every authenticated socket), "user:<id>" (every
 * socket of a user), "channel:<id>" (every socket that joined a channel).
 * Shared-memory counters: "u:<id>" (a user's sockets), "c:<channel>:u:<id>"
 * (a user's sockets in a channel); their 0 <-> 1 edges drive the presence
 * and user_joined / user_left events on every worker.
 */
#ifndef CF_CHAT_H
#define CF_CHAT_H

#include <stdint.h>

#include <jansson.h>

#include "app/ack.h"
#include "eio/session.h"

struct cf_typing {
	int64_t		 channel;
	uint64_t	 until;		/* ms, monotonic */
};

/* The application state of one socket (s->app). */
struct cf_chat {
	int		 authed;
	char		 user_id[64];
	char		 name[128];
	char		 role[32];
	uint32_t	 perms;		/* from the token; see cf_chat_perms() */
	int		 perms_from_role; /* no permissions claim: look the
					    role up at each check */
	int64_t		 exp;		/* token expiry, seconds; 0: none */
	int64_t		 iat;		/* token issue time, seconds; 0: none */
	uint64_t	 auth_deadline;	/* ms; unauthenticated until then */
	int64_t		*channels;	/* joined by this socket */
	uint32_t	 nchannels;
	uint32_t	 capchannels;
	struct cf_typing *typing;
	uint32_t	 ntyping;
	uint32_t	 captyping;
	int64_t		 call_id;	/* the call this tab takes part in, or 0 */
	uint32_t	 npresence_subs; /* rooms "presence:<id>" joined */
};

/* chat.c */
/* 1 when s has authenticated. */
int	 cf_chat_authed(const struct cf_sess *s);
/*
 * The permissions in force for an authenticated socket: the token's
 * permissions claim, or else its role's permissions in the running
 * configuration, so that a reload changing a role applies to live sockets.
 */
uint32_t cf_chat_perms(const struct cf_chat *c);

/* Emit to this socket only (payload stolen). */
void	 cf_chat_emit(struct cf_sess *s, const char *event, json_t *payload);
/* The spec's error event with message, and the ack error. */
void	 cf_chat_fail(struct cf_event_ctx *ctx, const char *code,
	    const char *message);
/* ISO 8601 of now. */
void	 cf_chat_now_iso(char *buf, size_t len);

/* The chat state of s (s->app; NULL before the first CONNECT). */
struct cf_chat *cf_chat_of(struct cf_sess *s);
/* The arguments of an {ok:true, ...fields} ack (fields stolen). */
json_t	*cf_chat_ok_args(json_t *fields);
/* Answer the ack {ok:true, ...fields} (fields stolen, may be NULL). */
void	 cf_chat_ack_ok(struct cf_event_ctx *ctx, json_t *fields);
/* Map a store error to an ack code and message naming what. */
void	 cf_chat_fail_store(struct cf_event_ctx *ctx, int rc, const char *what);
/* invalid_payload "Invalid payload: <what>". */
void	 cf_chat_invalid(struct cf_event_ctx *ctx, const char *what);
/* "channel:<id>" into buf. */
void	 cf_chat_channel_room(char *buf, size_t len, int64_t id);
/* 1 when this socket joined channel id. */
int	 cf_chat_joined(const struct cf_chat *c, int64_t id);
/* The socket's user id as the spec writes it (the caller owns it). */
json_t	*cf_chat_user_json(const struct cf_chat *c);
/*
 * fn(s, arg) for each of this worker's authenticated sockets of user_id.
 * The sockets are listed first and found again one by one, so fn may
 * disconnect s (or others).
 */
void	 cf_chat_each_of_user(const char *user_id,
	    void (*fn)(struct cf_sess *s, void *arg), void *arg);
/* Arm the session's timer for the next deadline (auth, expiry, typing). */
void	 cf_chat_timer_update(struct cf_sess *s);

#endif
