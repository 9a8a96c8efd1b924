/*
 * chat_int.h -- the helpers shared by the chat handlers (auth.c,
 * channels.c, messages.c, activity.c, broadcast.c), private to them and
 * chat.c, which owns the per-socket state (struct cf_chat) and these
 * helpers.
 */
#ifndef CF_CHAT_INT_H
#define CF_CHAT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "app/chat.h"
#include "app/events.h"
#include "eio/session.h"

/* chat.c */
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
/* Arm the session's timer for the next deadline (auth, expiry, typing). */
void	 cf_chat_timer_update(struct cf_sess *s);

/* auth.c: verify token and authenticate the socket; 0, or -1 (told). */
int	 cf_chat_authenticate(struct cf_event_ctx *ctx, const char *token);

/* channels.c */
/* Join this socket to a channel room; user_joined on the user's first. */
void	 cf_chat_join_room(struct cf_sess *s, int64_t id);
/* Leave a channel this socket joined (no-op otherwise), with reason. */
void	 cf_chat_leave_channel(struct cf_sess *s, int64_t channel,
	    const char *reason);
/*
 * Channel id as this user may know it: 1 member, 0 not (a public
 * channel), -1 when the client was told why not; *ch (may be NULL)
 * receives the channel, owned by the caller.
 */
int	 cf_chat_known_channel(struct cf_event_ctx *ctx, int64_t id,
	    json_t **ch);
/* 0 when the socket may read/write channel id, else -1 (told). */
int	 cf_chat_need_member(struct cf_event_ctx *ctx, int64_t id);

/* activity.c: clear a typing state; with notify, tell the channel. */
void	 cf_chat_typing_clear(struct cf_sess *s, int64_t channel, int notify);

#endif
