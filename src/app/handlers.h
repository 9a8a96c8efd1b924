/*
 * handlers.h -- the handlers of the spec's events, one file per concern
 * (auth.c, channels.c, messages.c, msgact.c, activity.c, broadcast.c,
 * presence.c, call.c), and what they offer each other and the top of the application
 * (app.c: the event table, the socket's life; the worker's shell wires
 * presence and calls).
 *
 * The handler files are peers: each may call another's operation
 * declared here (a channel join counts presence, a disconnect ends a
 * call); none includes app.h or events.h.
 */
#ifndef CF_HANDLERS_H
#define CF_HANDLERS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "app/ack.h"
#include "app/chat.h"
#include "eio/session.h"

struct cf_worker;

/*
 * The index of each checked value in ctx->v, as the event's field list in
 * app.c's table states it (events.h).
 */
enum { CF_V_CHANNEL };		/* join_channel, leave_channel: argument 0 */
/* channel:create */
enum { CF_V_CREATE_NAME, CF_V_CREATE_DESC, CF_V_CREATE_PRIV,
	CF_V_CREATE_MEMBERS, CF_V_CREATE_KIND, CF_V_CREATE_N };
/* chat:get_messages */
enum { CF_V_PAGE_CHANNEL, CF_V_PAGE_BEFORE, CF_V_PAGE_AFTER,
	CF_V_PAGE_LIMIT, CF_V_PAGE_N };
/* channel:list */
enum { CF_V_LIST_ARCHIVED, CF_V_LIST_N };
/* channel:members, channel:archive */
enum { CF_V_CH_CHANNEL, CF_V_CH_N };
/* channel:add_members */
enum { CF_V_ADD_CHANNEL, CF_V_ADD_USERS, CF_V_ADD_N };
/* channel:remove_member */
enum { CF_V_RM_CHANNEL, CF_V_RM_USER, CF_V_RM_N };
/* dm:open */
enum { CF_V_DM_USER, CF_V_DM_N };
/* channel_updated */
enum { CF_V_UPD_CHANNEL, CF_V_UPD_CHANGES, CF_V_UPD_N };
/* chat:send_message (message twice: a string, then its text) */
enum { CF_V_SEND_CHANNEL, CF_V_SEND_STRING, CF_V_SEND_MESSAGE,
	CF_V_SEND_TYPE, CF_V_SEND_REPLY, CF_V_SEND_CMID, CF_V_SEND_MENTIONS,
	CF_V_SEND_N };
/* chat:edit_message (message twice, as chat:send_message) */
enum { CF_V_EDIT_MESSAGE_ID, CF_V_EDIT_STRING, CF_V_EDIT_TEXT,
	CF_V_EDIT_N };
/* chat:delete_message */
enum { CF_V_DELETE_MESSAGE_ID, CF_V_DELETE_N };
/* chat:react */
enum { CF_V_REACT_MESSAGE_ID, CF_V_REACT_EMOJI, CF_V_REACT_ADD,
	CF_V_REACT_N };
/* chat:get_thread */
enum { CF_V_THREAD_MESSAGE_ID, CF_V_THREAD_AFTER, CF_V_THREAD_LIMIT,
	CF_V_THREAD_N };
/* message_read */
enum { CF_V_READ_CHANNEL, CF_V_READ_MESSAGE, CF_V_READ_N };
/* chat:typing */
enum { CF_V_TYPING_CHANNEL, CF_V_TYPING_ON, CF_V_TYPING_N };
/* file_uploaded */
enum { CF_V_FILE_CHANNEL, CF_V_FILE_NAME, CF_V_FILE_TYPE, CF_V_FILE_SIZE,
	CF_V_FILE_MESSAGE, CF_V_FILE_N };
/* system_broadcast */
enum { CF_V_BCAST_MESSAGE, CF_V_BCAST_PRIORITY, CF_V_BCAST_N };
/* update_presence */
enum { CF_V_PRES_STATUS, CF_V_PRES_MESSAGE, CF_V_PRES_CUSTOM,
	CF_V_PRES_N };
/* presence:set_status: argument 0 */
enum { CF_V_STATUS };
/* presence:subscribe, presence:unsubscribe */
enum { CF_V_SUB_USERS, CF_V_SUB_N };
/* call:invite */
enum { CF_V_INVITE_TARGET, CF_V_INVITE_TYPE, CF_V_INVITE_OFFER,
	CF_V_INVITE_N };
/* call:reject and call:end; call:accept adds its answer */
enum { CF_V_CALL_TARGET, CF_V_CALL_ID, CF_V_CALL_N,
	CF_V_CALL_ANSWER = CF_V_CALL_N, CF_V_ACCEPT_N };
/* call:ice_candidate */
enum { CF_V_ICE_TARGET, CF_V_ICE_CANDIDATE, CF_V_ICE_CALL, CF_V_ICE_N };
/* call:history */
enum { CF_V_HIST_LIMIT, CF_V_HIST_BEFORE, CF_V_HIST_N };
/* chat:search */
enum { CF_V_SEARCH_QUERY, CF_V_SEARCH_CHANNEL, CF_V_SEARCH_BEFORE,
	CF_V_SEARCH_LIMIT, CF_V_SEARCH_N };

/* auth.c */
void	 cf_ev_authenticate(struct cf_event_ctx *ctx);
/* channels.c */
void	 cf_ev_join_channel(struct cf_event_ctx *ctx);
void	 cf_ev_leave_channel(struct cf_event_ctx *ctx);
void	 cf_ev_channel_create(struct cf_event_ctx *ctx);
void	 cf_ev_channel_list(struct cf_event_ctx *ctx);
void	 cf_ev_get_messages(struct cf_event_ctx *ctx);
void	 cf_ev_channel_updated(struct cf_event_ctx *ctx);
void	 cf_ev_channel_members(struct cf_event_ctx *ctx);
void	 cf_ev_channel_add_members(struct cf_event_ctx *ctx);
void	 cf_ev_channel_remove_member(struct cf_event_ctx *ctx);
void	 cf_ev_channel_archive(struct cf_event_ctx *ctx);
void	 cf_ev_dm_open(struct cf_event_ctx *ctx);
/* messages.c */
void	 cf_ev_send_message(struct cf_event_ctx *ctx);
/* msgact.c */
void	 cf_ev_edit_message(struct cf_event_ctx *ctx);
void	 cf_ev_delete_message(struct cf_event_ctx *ctx);
void	 cf_ev_react(struct cf_event_ctx *ctx);
void	 cf_ev_get_thread(struct cf_event_ctx *ctx);
/* search.c */
void	 cf_ev_search(struct cf_event_ctx *ctx);
/* activity.c */
void	 cf_ev_message_read(struct cf_event_ctx *ctx);
void	 cf_ev_typing(struct cf_event_ctx *ctx);
void	 cf_ev_file_uploaded(struct cf_event_ctx *ctx);
/* broadcast.c */
void	 cf_ev_system_broadcast(struct cf_event_ctx *ctx);

/* presence.c */
void	 cf_ev_update_presence(struct cf_event_ctx *ctx);
void	 cf_ev_presence_set_status(struct cf_event_ctx *ctx);
void	 cf_ev_presence_online_users(struct cf_event_ctx *ctx);
/* 1 when v is a status of the spec (update_presence, set_status). */
int	 cf_presence_status_ok(const json_t *v);
/* The user's first/last socket: counts and events. */
void	 cf_presence_up(struct cf_sess *s);
void	 cf_presence_down(struct cf_sess *s);
/*
 * A socket of the user joins (+1) or leaves (-1) a channel; user_joined /
 * user_left (with reason) go out when the user's first socket joins or
 * last one leaves (on the cluster with redis, else on this host).
 */
void	 cf_presence_channel(struct cf_sess *s, int64_t channel, int delta,
	    const char *reason);
/* The user's connections (on every host with redis). */
uint32_t cf_presence_count(const char *user_id);
/* presence:snapshot to a socket that just authenticated (bounded). */
#define CF_PRESENCE_SNAPSHOT_MAX	200
void	 cf_presence_snapshot(struct cf_sess *s);
/* A key whose count a dead worker left at 0 (from the master). */
void	 cf_presence_gone(struct cf_worker *w, const char *key);
/* A presence key's total changed with no socket behind it (cluster.c). */
void	 cf_presence_edge(const char *key, long long before, long long after);
/* A user came or went unannounced during a Redis outage (cluster.c). */
void	 cf_presence_heal(const char *key, uint32_t total);
/*
 * The module's state (w->presence): allocated before the shell wires
 * anything, 0/-1; released once the loop is closed (NULL-safe).
 */
int	 cf_presence_init(struct cf_worker *w);
void	 cf_presence_free(struct cf_worker *w);

/*
 * Users pending on one worker's coalescing timers (presence-coalesce),
 * about 400 bytes each; past it a change is announced at once.
 */
#define CF_PRESENCE_PENDING_MAX	16384

/* presence_sub.c */
void	 cf_ev_presence_subscribe(struct cf_event_ctx *ctx);
void	 cf_ev_presence_unsubscribe(struct cf_event_ctx *ctx);
/* Subscriptions (rooms "presence:<id>") one socket may hold. */
#define CF_PRESENCE_SUBS_MAX	500
/* 1 with presence-scope all (the spec's behaviour). */
int	 cf_presence_scope_all(void);
/*
 * event(payload) about user_id to the sockets of presence-scope, on every
 * worker and host (local: this worker's only); payload stolen.
 */
void	 cf_presence_emit(const char *user_id, const char *event,
	    json_t *payload, int local);

/* call.c */
void	 cf_ev_call_invite(struct cf_event_ctx *ctx);
void	 cf_ev_call_accept(struct cf_event_ctx *ctx);
void	 cf_ev_call_reject(struct cf_event_ctx *ctx);
void	 cf_ev_call_end(struct cf_event_ctx *ctx);
void	 cf_ev_call_ice(struct cf_event_ctx *ctx);
void	 cf_ev_call_history(struct cf_event_ctx *ctx);
void	 cf_ev_call_ice_servers(struct cf_event_ctx *ctx);
/* 1 when v is a call type, "audio" or "video" (call:invite). */
int	 cf_call_type_ok(const json_t *v);
/* A tab in a call went away: start the disconnect grace. */
void	 cf_call_tab_gone(struct cf_sess *s);
/*
 * The module's state (w->call): allocated before the shell wires
 * anything, 0/-1; released once the loop is closed (NULL-safe).
 */
int	 cf_call_init(struct cf_worker *w);
void	 cf_call_free(struct cf_worker *w);
/* Worker start/stop: the periodic sweep of calls left by dead workers. */
void	 cf_call_start(struct cf_worker *w);
void	 cf_call_stop(struct cf_worker *w);

/*
 * auth.c.  init: the module's state (w->auth), 0/-1, before the shell
 * wires anything; free: once the loop is closed (NULL-safe).
 */
int	 cf_auth_init(struct cf_worker *w);
void	 cf_auth_free(struct cf_worker *w);
/* auth.c: verify token and authenticate the socket; 0, or -1 (told). */
int	 cf_auth_verify(struct cf_event_ctx *ctx, const char *token);
/*
 * CF_OP_REVOKED {userId, before} (ops.h) on this worker: the user's
 * sockets authenticated with a token issued before `before` (ms) get
 * auth:error "Token revoked" and are disconnected.
 */
void	 cf_auth_revoked(const json_t *args);

/* channels.c */
/* Leave a channel this socket joined (no-op otherwise), with reason. */
void	 cf_channel_leave(struct cf_sess *s, int64_t channel,
	    const char *reason);
/* 0 when the socket may read/write channel id, else -1 (told). */
int	 cf_channel_need_member(struct cf_event_ctx *ctx, int64_t id);
/*
 * CF_OP_MEMBER_REMOVED {channelId, userId, removedBy} (ops.h) on this
 * worker: the user's sockets leave the channel and get channel:removed
 * {channelId, removedBy}.
 */
void	 cf_channel_removed(const json_t *args);

/* activity.c: clear a typing state; with notify, tell the channel. */
void	 cf_activity_typing_clear(struct cf_sess *s, int64_t channel,
	    int notify);

#endif
