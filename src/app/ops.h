/*
 * ops.h -- the operations that both a client's event (channels.c,
 * broadcast.c) and the control socket (admin.c) run: one implementation
 * each, which checks the values (lengths in characters, args.h), stores
 * and emits.  The callers read their own JSON field names and word their
 * own errors.
 */
#ifndef CF_OPS_H
#define CF_OPS_H

#include <stdint.h>

#include <jansson.h>

struct cf_event_ctx;

/* The serverSideEmit by which every worker hears of a removed member. */
#define CF_OP_MEMBER_REMOVED	"confab:member_removed"
/* ... and of a user's tokens revoked. */
#define CF_OP_REVOKED		"confab:revoked"

/* A message's messageType (NULL-terminated) and its clientMsgId's bound. */
extern const char *const cf_op_message_types[];
#define CF_CLIENT_MSG_ID_MAX	128

/* Who acts: a user, or the operator ("0", "System"). */
struct cf_op_actor {
	const char	*user_id;
	const char	*name;
};

/* The values as received (NULL: absent). */
struct cf_op_channel {
	const json_t	*name;		/* 1..100 characters, not blank */
	const json_t	*description;	/* optional, <= 1000 characters */
	const json_t	*priv;		/* optional boolean */
	const json_t	*members;	/* optional array of <= 1000 user ids */
};

/*
 * Create a channel; the members' sockets (but the creator's) get
 * channel:added {channel, addedBy} on every worker and host.  0 with *ch (the caller owns it); -EINVAL with *bad
 * naming the value at fault ("name", "description", "isPrivate",
 * "memberIds"); else the store's negative errno (*bad NULL).
 */
int	 cf_op_channel_create(const struct cf_op_actor *who,
	    const struct cf_op_channel *a, json_t **ch, const char **bad);
/*
 * A system broadcast to every authenticated socket: message (1 to
 * max-message-length characters, not blank), priority (optional: high,
 * normal, low).  Stored, then emitted.  0 with *bid; -EINVAL with *bad
 * ("message", "priority"); else a negative errno.
 */
int	 cf_op_broadcast(const struct cf_op_actor *who, const json_t *message,
	    const json_t *priority, int64_t *bid, const char **bad);

/*
 * The values of a channel update, checked as cf_op_channel_update does:
 * 0, or -EINVAL with *bad as there.
 */
int	 cf_op_channel_changes_check(const json_t *changes, const char **bad);
/*
 * Update a channel: changes (name 1..100 characters, description <= 1000
 * or null, isPrivate) are checked, stored with the audit row, and
 * channel_updated goes to the channel's room.  -EINVAL with *bad the key
 * at fault ("*": a member that is none of them); -EROFS archived; -EPERM
 * a direct channel (which this, archive and the member operations
 * refuse); else the store's error.  *ch: the channel as it now is.
 */
int	 cf_op_channel_update(const struct cf_op_actor *who, int64_t id,
	    const json_t *changes, json_t **ch, const char **bad);
/*
 * Archive a channel (history kept; no new message, join or member) and
 * tell its room: channel_updated with changes {archived: true}, once.
 */
int	 cf_op_channel_archive(const struct cf_op_actor *who, int64_t id,
	    json_t **ch);
/*
 * Add a member; when new (*added), its sockets get channel:added
 * {channel, addedBy} on every worker and host.  -EROFS archived.
 */
int	 cf_op_member_add(const struct cf_op_actor *who, int64_t id,
	    const char *user_id, int *added);
/*
 * Remove a member; when it was one (*removed), its sockets on every
 * worker and host leave the channel and get channel:removed.
 */
int	 cf_op_member_remove(const struct cf_op_actor *who, int64_t id,
	    const char *user_id, int *removed);
/*
 * Store a message by who (user "0": a system message) and send
 * chat:new_message to the channel's room, unless it is a duplicate of
 * cmid (*dup; *msg the original).  With ctx (a client's event) the
 * message joins the loop turn's group commit and ctx's ack is answered
 * after the COMMIT; without, it is committed before this returns.
 * type "text" unless given; reply 0 for none.  The caller checked the
 * values.  0 with *msg (the caller's), or the store's negative errno.
 */
int	 cf_op_message_send(const struct cf_op_actor *who, int64_t id,
	    const char *text, const char *type, int64_t reply,
	    const char *cmid, const json_t *mentions,
	    struct cf_event_ctx *ctx, json_t **msg, int *dup);
/*
 * mentions of a message by sender, as received (NULL or null: none):
 * an array of at most CF_OP_MENTIONS_MAX user ids.  *ids: the distinct
 * ids as strings, the sender's left out (NULL when none remain), for
 * cf_op_message_send, which stores them when each is a member of the
 * channel (-EPERM, nothing stored, when one is not) and sends each
 * mentioned user's sockets chat:mentioned {messageId, channelId,
 * channelName, fromUserId, fromDisplayName, excerpt}.  -EINVAL: not such
 * an array.
 */
#define CF_OP_MENTIONS_MAX	50
int	 cf_op_mentions_check(const json_t *v, const char *sender,
	    json_t **ids);
/*
 * The direct channel of who and user_id (a known user: else -ENOENT;
 * who's own when the same), created when missing (*created); then the
 * other user's sockets get channel:added, and who's too with tell_self
 * (the HTTP API opens it for both).  *ch: the channel as who sees it,
 * with otherUserId and otherUserName.
 */
int	 cf_op_dm_open(const struct cf_op_actor *who, const char *user_id,
	    int tell_self, json_t **ch, int *created);

/*
 * A stored message (ops_msg.c).  The caller authorized the actor (the
 * author, or a holder of chat.moderate_messages who may read the
 * channel; the HTTP API's key) and checked the values.
 *
 * edit: the new text; chat:message_updated {id, channelId, message,
 * editedAt, editedBy} to the channel's room.  delete: the tombstone;
 * chat:message_deleted {id, channelId, deletedBy, deletedAt}.  0 with
 * *msg (the row after it, the caller's), or the store's errno: -ENOENT,
 * -EIDRM deleted already, -EROFS archived channel.
 */
int	 cf_op_message_edit(const struct cf_op_actor *who, int64_t id,
	    const char *text, json_t **msg);
int	 cf_op_message_delete(const struct cf_op_actor *who, int64_t id,
	    json_t **msg);
/*
 * React: add or remove who's emoji (cf_op_emoji_ok) on a message; when
 * that changed anything, chat:reaction_updated *ev {messageId,
 * channelId, emoji, userId, add, count} to the channel's room.  A no-op
 * (a duplicate add, the removal of a missing one) emits nothing; *ev
 * (the caller's) is then the unchanged state.  -ENOSPC: the message has
 * CF_OP_REACTIONS_MAX distinct emoji already.
 */
#define CF_OP_REACTIONS_MAX	50
#define CF_OP_EMOJI_MAX		64	/* bytes */
int	 cf_op_message_react(const struct cf_op_actor *who, int64_t id,
	    const char *emoji, int add, json_t **ev);
/*
 * 1 when v is an emoji: a string of at most CF_OP_EMOJI_MAX bytes that
 * is one grapheme (a base character with its modifiers, variation
 * selectors and ZWJ sequence, a flag, a keycap) or a :short_name: of
 * letters, digits, _, + and -.
 */
int	 cf_op_emoji_ok(const json_t *v);

/*
 * Every socket of user_id on every worker and host is disconnected (a
 * server-side disconnect: socket.io-client does not reconnect by itself).
 */
int	 cf_op_user_disconnect(const char *user_id);
/*
 * The user's tokens issued before before_ms (iat, in seconds, times 1000
 * below it) are refused from now on, on every host and after restarts;
 * live sockets holding one get auth:error "Token revoked" and are
 * disconnected.
 */
int	 cf_op_user_revoke(const char *user_id, int64_t before_ms);
/*
 * [event, ...args] to every socket in room ("user:<id>", "channel:<id>",
 * "authenticated") on every worker and host.  -EINVAL with *bad: "room"
 * (another room), "event" (not 1..100 bytes, or a name the spec or
 * confabd uses), "args" (not an array of at most 16 values).
 */
int	 cf_op_emit(const json_t *room, const json_t *event, const json_t *args,
	    const char **bad);

/*
 * ops_search.c: search the messages user_id may read (NULL: every
 * channel, the HTTP API's key) for query (1..CF_OP_SEARCH_MAX
 * characters, not blank, at most CF_STORE_SEARCH_WORDS words), in
 * channel (0: all) below message id before (0: the newest), limit
 * (1..100) at a time: *res {messages, hasMore, nextBefore} (the caller
 * owns it).  The channel must be one the user may read: -ENOENT as for a
 * missing one.  -EINVAL with *bad "query" or "query (at most N words)".
 */
#define CF_OP_SEARCH_MAX	250
int	 cf_op_search(const char *user_id, const json_t *query,
	    int64_t channel, int64_t before, int limit, json_t **res,
	    const char **bad);

#endif
