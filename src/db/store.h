/*
 * store.h -- the chat storage, on SQLite or PostgreSQL (db.h): users,
 * channels, members and read positions, messages and file attachments,
 * presence, broadcasts, the channel-update audit and call records.
 *
 * Every function runs synchronously on the caller's connection and returns
 * 0 on success or a negative errno: -ENOENT (no such channel/message/user),
 * -EEXIST (a unique name taken), -EINVAL (a value the schema refuses),
 * -EIO (a database error, logged; on PostgreSQL also a broken connection,
 * which the next call reconnects).  JSON results are new references the
 * caller owns.  Writes that belong together run in one transaction, so a
 * result returned is a result committed.
 *
 * User ids are strings in the database; on output a user id that is a
 * string of digits (fitting in int64) becomes a JSON integer, as the spec's
 * clients expect numeric ids.  Timestamps are stored as milliseconds since
 * the epoch and written out as ISO 8601 UTC with milliseconds
 * ("2026-11-26T20:12:18.123Z").
 */
#ifndef CF_STORE_H
#define CF_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct cf_db;

/* A user id as JSON: integer for digit strings, else string. */
json_t	*cf_store_user_id_json(const char *user_id);
/* ms since epoch -> "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (>= 25 bytes). */
void	 cf_store_iso8601(int64_t ms, char *buf, size_t len);

/*
 * Call fn with the duration, in microseconds, of every committed write: a
 * transaction from BEGIN to COMMIT, or a single statement outside one.
 * NULL: no observer.  One per process (the worker's /metrics histogram).
 */
void	 cf_store_set_write_hook(void (*fn)(uint64_t us));
/*
 * Count every statement the store prepares (run or refused by the server)
 * in *counter, atomically (the worker's stats block in shared memory:
 * confabd_db_statements_total, which the cost tests read).  NULL: none.
 */
void	 cf_store_set_statement_counter(uint64_t *counter);

/*
 * Events of writes, for the webhook outbox.  fn is called inside the
 * transaction (or the message's savepoint) of each write that reports
 * one -- message.created ({message}), channel.created ({channel}),
 * channel.updated ({channel, changes, updatedBy}), call.missed ({call})
 * -- with the connection, the event name and its data (borrowed), and
 * may write on the connection (cf_store_hook_add); a non-zero return
 * undoes the write, which then fails with that value.  So an event
 * exists exactly when its write committed.  NULL: none (the default;
 * the lone writes that report events then run as before, autocommit).
 */
typedef int (*cf_store_event_fn)(void *arg, struct cf_db *db,
    const char *event, const json_t *data);
void	 cf_store_event_hook(struct cf_db *db, cf_store_event_fn fn,
	    void *arg);
/*
 * Report an event with no write of its own behind it (user.online): fn
 * runs in a transaction of its own.  0 when no hook is set.  (A store
 * function reports its write's event inside its transaction with
 * cf_stmt_event, store_int.h: one line.)
 */
int	 cf_store_event(struct cf_db *db, const char *event,
	    const json_t *data);

/*
 * The webhook outbox (store_hook.c).  hook_add: one delivery of event
 * to endpoint, with payload (JSON text, the "data" member), in the open
 * transaction: only from a cf_store_event_fn.  *id (may be NULL) its
 * delivery id.
 */
int	 cf_store_hook_add(struct cf_db *db, const char *endpoint,
	    const char *event, const char *payload, int64_t now_ms,
	    int64_t *id);
/*
 * Take or renew the lease of endpoint for owner until until_ms: 1 taken
 * (free, expired at now_ms, or already owner's), 0 held by another
 * owner, or a negative errno.  One conditional upsert, so one owner
 * wins on every host.  release: give it up now (no-op when not owner's).
 */
int	 cf_store_hook_lease(struct cf_db *db, const char *endpoint,
	    const char *owner, int64_t now_ms, int64_t until_ms);
int	 cf_store_hook_release(struct cf_db *db, const char *endpoint,
	    const char *owner);
/* A delivery as read from the outbox; payload is the caller's (free). */
struct cf_hook_row {
	int64_t		 id;
	char		 event[32];
	char		*payload;
	int64_t		 created_at;	/* ms */
	int64_t		 attempts;
	int64_t		 first_try_at;	/* 0: never tried */
	int64_t		 next_at;	/* ms: not before */
};
/*
 * The oldest delivery of endpoint (its head: deliveries go in id
 * order), whether due or not.  -ENOENT when none.
 */
int	 cf_store_hook_head(struct cf_db *db, const char *endpoint,
	    struct cf_hook_row *row);
/* Delivered or given up: delete it. */
int	 cf_store_hook_done(struct cf_db *db, int64_t id);
/* A failed attempt: record it and when to try again. */
int	 cf_store_hook_retry(struct cf_db *db, int64_t id, int64_t attempts,
	    int64_t first_try_at, int64_t next_at);
/*
 * Deliveries waiting (all endpoints; at most CF_STORE_HOOK_DEPTH_MAX),
 * and the creation time of the oldest (0 when none).
 */
#define CF_STORE_HOOK_DEPTH_MAX	100000
int	 cf_store_hook_stats(struct cf_db *db, int64_t *depth,
	    int64_t *oldest_ms);

/* Users: insert or refresh display name and role. */
int	 cf_store_user_upsert(struct cf_db *db, const char *user_id,
	    const char *display_name, const char *role, int64_t now_ms);

/* {id, displayName, role, createdAt, updatedAt}; -ENOENT when unknown. */
int	 cf_store_user_get(struct cf_db *db, const char *user_id,
	    json_t **user);
/*
 * Revocation: the user's tokens issued before before_ms are refused from
 * now on (a later call never moves the time back).  revoked_before: that
 * time, 0 when none was set.
 */
int	 cf_store_revoke(struct cf_db *db, const char *user_id,
	    int64_t before_ms);
int	 cf_store_revoked_before(struct cf_db *db, const char *user_id,
	    int64_t *before_ms);

/* The stored display name of a user; -ENOENT when unknown. */
int	 cf_store_user_name(struct cf_db *db, const char *user_id, char *buf,
	    size_t len);

/*
 * Channels.  A channel as JSON: {id, name, description, isPrivate,
 * createdBy, createdAt, kind ("channel", or "direct": cf_store_dm_open)}.  Names are unique, case-insensitively.
 * create: the creator (but the operator, "0") and member_ids become
 * members.  -EEXIST for a taken
 * name.
 */
int	 cf_store_channel_create(struct cf_db *db, const char *name,
	    const char *description, int is_private, const char *created_by,
	    const char *const *member_ids, size_t nmembers, int64_t now_ms,
	    json_t **channel);
int	 cf_store_channel_get(struct cf_db *db, int64_t channel_id,
	    json_t **channel);
/*
 * The default channel: a public channel `name` created by "0" (the
 * system) the first time this is called on a database without channels
 * (id 1 on a new one).  Once per database, however many hosts start at once: the meta row
 * "default_channel" records it, so a channel deleted later stays deleted.
 * *id (may be NULL) is the new channel's id, or 0 when none was created.
 */
int	 cf_store_default_channel(struct cf_db *db, const char *name,
	    int64_t now_ms, int64_t *id);
/* 1 member, 0 not, or a negative errno. */
int	 cf_store_is_member(struct cf_db *db, int64_t channel_id,
	    const char *user_id);
/*
 * The user ids (strings) of a channel's members (its channel_members
 * rows), at most CF_STORE_MEMBERS_MAX of them, by id; *ids a new array.
 */
#define CF_STORE_MEMBERS_MAX	10000
int	 cf_store_member_ids(struct cf_db *db, int64_t channel_id,
	    json_t **ids);
/*
 * The ids (integers) of the channels user_id is a member of, at most
 * CF_STORE_MEMBERS_MAX of them, by id; *ids a new array.
 */
int	 cf_store_user_channel_ids(struct cf_db *db, const char *user_id,
	    json_t **ids);
/* Add a member (no-op when already one); -EROFS archived. */
int	 cf_store_member_add(struct cf_db *db, int64_t channel_id,
	    const char *user_id, int64_t now_ms);
/*
 * The channels user_id can see: every public channel and the private ones
 * it is a member of, by id, each with "isMember", "unreadCount" (messages
 * after the read position, not counting the user's own, counted up to
 * CF_STORE_UNREAD_MAX: that value means "at least") and
 * "lastReadMessageId" (null when never read).  One statement; the
 * counting reads at most CF_STORE_UNREAD_MAX index entries per channel,
 * whatever the backlog.
 */
#define CF_STORE_UNREAD_MAX	1000
int	 cf_store_channel_list(struct cf_db *db, const char *user_id,
	    json_t **channels);
/*
 * The same, with flags: CF_STORE_LIST_ARCHIVED lists the archived
 * channels too (with archivedAt).  Every channel has "kind" ("channel"
 * or "direct") and "mentionCount" (the user's mentions after the read
 * position, up to CF_STORE_UNREAD_MAX); a direct one also "otherUserId"
 * and "otherUserName" (the user's own for a channel with themself).
 */
#define CF_STORE_LIST_ARCHIVED	0x01
int	 cf_store_channel_list_ex(struct cf_db *db, const char *user_id,
	    unsigned flags, json_t **channels);
/*
 * The direct channel of users a and b (a == b: a user's own), created
 * when missing (*created, may be NULL): private, kind "direct", both
 * its only members, an internal unique name.  One channel per pair
 * however many tabs or hosts open it at once (a unique key on the
 * pair).  *channel: the channel (the caller's).
 */
int	 cf_store_dm_open(struct cf_db *db, const char *a, const char *b,
	    int64_t now_ms, json_t **channel, int *created);
/* How many of ids (an array of user id strings) are known users. */
int	 cf_store_users_known(struct cf_db *db, const json_t *ids,
	    int64_t *known);
/*
 * Apply changes (an object with any of "name" (string), "description"
 * (string or null), "isPrivate" (bool); the caller validated them), record
 * the audit row, and return the channel as it now is.
 */
int	 cf_store_channel_update(struct cf_db *db, int64_t channel_id,
	    const json_t *changes, const char *updated_by, int64_t now_ms,
	    json_t **channel);

/* 0 when the channel takes writes, -EROFS when archived, -ENOENT. */
int	 cf_store_channel_writable(struct cf_db *db, int64_t channel_id);
/*
 * Every channel (private ones too, archived ones with archivedAt) with
 * id > after, by id, at most limit (1..100); *more (may be
 * NULL) tells whether more follow.
 */
int	 cf_store_channels_page(struct cf_db *db, int64_t after, int limit,
	    json_t **channels, int *more);
/*
 * Archive a channel: it keeps its history and takes no new message,
 * join or member (-EROFS from those), and leaves every channel list.
 * Archiving twice changes nothing; *was says it already was.
 */
int	 cf_store_channel_archive(struct cf_db *db, int64_t channel_id,
	    int64_t now_ms, json_t **channel, int *was);
/*
 * The members of a channel, by user id: [{userId, displayName, role
 * (null for a user never seen), joinedAt, lastReadMessageId}].
 */
int	 cf_store_members(struct cf_db *db, int64_t channel_id,
	    json_t **members);
/* Remove a member (*removed 0 when it was none); -EROFS archived. */
int	 cf_store_member_remove(struct cf_db *db, int64_t channel_id,
	    const char *user_id, int *removed);

/*
 * Messages.  A message as JSON: {id, channelId, userId, userDisplayName,
 * message, messageType, replyToId (null or id), timestamp, clientMsgId
 * (only when given), file (only for file messages: {fileName, fileSize,
 * fileType})}.
 * insert: reply_to_id 0 means none, otherwise it must be a message of the
 * same channel (-ENOENT).  With a client_msg_id already used by the same
 * user in any channel, nothing is stored: *message is the original and
 * *duplicate is set.  A channel's messages commit in id order on every
 * backend (a lock per channel on PostgreSQL): inside a batch that already
 * holds another channel's lock, a channel locked by another transaction
 * is -EAGAIN and nothing is stored -- commit the batch and insert again.
 */
int	 cf_store_message_insert(struct cf_db *db, int64_t channel_id,
	    const char *user_id, const char *display_name, const char *text,
	    const char *message_type, int64_t reply_to_id,
	    const char *client_msg_id, int64_t now_ms, json_t **message,
	    int *duplicate);
/*
 * The same with mentions: an array of at most CF_STORE_MENTIONS_MAX
 * distinct user id strings (NULL or empty: none, exactly as
 * cf_store_message_insert), stored with the message when it is new
 * (message_mentions) and listed in *message as "mentions" (user ids as
 * JSON).  -EPERM, nothing stored, when one is not a member of the
 * channel.
 */
#define CF_STORE_MENTIONS_MAX	50
int	 cf_store_message_insert_mentions(struct cf_db *db,
	    int64_t channel_id, const char *user_id, const char *display_name,
	    const char *text, const char *message_type, int64_t reply_to_id,
	    const char *client_msg_id, const json_t *mentions, int64_t now_ms,
	    json_t **message, int *duplicate);
int	 cf_store_message_get(struct cf_db *db, int64_t message_id,
	    json_t **message);

/*
 * Group commit.  batch_begin opens one transaction that the following
 * cf_store_message_insert calls join, each as a savepoint of its own (a
 * message that fails is undone alone; a clientMsgId used earlier in the
 * batch is a duplicate as usual).  Nothing of a batch is durable, and no
 * reply for its messages may be sent, until batch_commit returns 0; when
 * it fails, every message of the batch is gone.  Reads see the batch.
 * Any other write commits the open batch first: through the hook when one
 * is set (flush(arg) must end the batch with batch_commit; the worker
 * sends the replies the batch held there), else directly.
 * batch_begin: 0 (also when a batch is already open) or a negative errno.
 * batch_commit: 0 (also when none is open) or the COMMIT's error, after
 * which the batch is rolled back.  batch_size: messages stored in the
 * open batch (0 when none is).  batch_max: how many messages a batch of
 * this backend should hold at most.
 */
int	 cf_store_batch_begin(struct cf_db *db);
int	 cf_store_batch_commit(struct cf_db *db);
int	 cf_store_batch_open(const struct cf_db *db);
unsigned cf_store_batch_size(const struct cf_db *db);
unsigned cf_store_batch_max(const struct cf_db *db);
void	 cf_store_batch_hook(struct cf_db *db, int (*flush)(void *),
	    void *arg);
/* The newest message id of a channel, 0 when it has none. */
int	 cf_store_message_latest(struct cf_db *db, int64_t channel_id,
	    int64_t *message_id);
/*
 * A page of history.  before > 0: the `limit` newest messages with
 * id < before, newest first.  after > 0 (and before 0): the `limit`
 * oldest messages with id > after, oldest first.  Neither: the newest,
 * newest first.  *has_more tells whether more exist in that direction.
 */
int	 cf_store_messages_page(struct cf_db *db, int64_t channel_id,
	    int64_t before, int64_t after, int limit, json_t **messages,
	    int *has_more);
/*
 * What is done to a stored message (store_action.c).  A message as JSON
 * also has editedAt (null until edited), editedBy (once edited),
 * deleted (bool; a tombstone also has deletedAt and deletedBy, message
 * "" and no file), replyCount and lastReplyAt (its direct replies,
 * tombstones included; null when none) and reactions ([] as read:
 * cf_store_reactions_fill gives them for a reader).
 *
 * edit: the new text, edited_at, edited_by; delete: the tombstone (the
 * text overwritten, the file and reactions deleted); each in one
 * transaction reporting message.updated ({message}) / message.deleted
 * ({id, channelId, deletedBy, deletedAt}), *message the row after it.
 * -ENOENT unknown, -EIDRM already deleted, -EROFS its channel archived.
 */
int	 cf_store_message_edit(struct cf_db *db, int64_t message_id,
	    const char *text, const char *editor, int64_t now_ms,
	    json_t **message);
int	 cf_store_message_delete(struct cf_db *db, int64_t message_id,
	    const char *deleter, int64_t now_ms, json_t **message);
/*
 * Add (add != 0) or remove user_id's reaction emoji (the caller checked
 * it) on a message.  Adding one present or removing one absent is a
 * no-op (*changed 0).  -ENOSPC: max distinct emoji on the message
 * already, and this one is new; -ENOENT, -EIDRM, -EROFS as above.
 * *channel_id: the message's channel; *count: its users of emoji now.
 */
int	 cf_store_reaction_set(struct cf_db *db, int64_t message_id,
	    const char *user_id, const char *emoji, int add, int max,
	    int64_t now_ms, int64_t *channel_id, int64_t *count, int *changed);
/*
 * The reactions of each message of arr (as read) as [{emoji, count,
 * me}] (by first reaction; me: viewer reacted so, viewer may be NULL),
 * in one statement for the whole array.
 */
int	 cf_store_reactions_fill(struct cf_db *db, const char *viewer,
	    json_t *arr);
/*
 * A thread: *root the message root_id, *replies its direct replies with
 * id > after, oldest first, at most limit (1..100); *has_more (may be
 * NULL) tells whether more follow.  One statement.  -ENOENT unknown.
 */
int	 cf_store_thread_page(struct cf_db *db, int64_t root_id, int64_t after,
	    int limit, json_t **root, json_t **replies, int *has_more);

/* Attach file details to a message (file_uploaded). */
/*
 * Full-text search (store_search.c): the messages matching every word
 * of text (words: runs of non-whitespace; matched as written, case and
 * diacritics aside; operators and quotes are plain text) that user_id
 * may read: public channels, archived or not, and the private ones it
 * is a member of (NULL: every channel); only channel_id's when not 0;
 * only ids < before when before > 0.  The page holds the `limit`
 * (1..100) newest of them, best match first, each a message as history
 * gives it plus "excerpt": text around the matches, each match between
 * U+00AB and U+00BB.  *has_more: older matches exist (the next page:
 * before = the smallest id of this one).  On SQLite a message is found
 * once cf_store_search_index has taken it.  -EINVAL: text has no word,
 * more than CF_STORE_SEARCH_WORDS words, or more than
 * CF_STORE_SEARCH_MAX bytes.
 */
#define CF_STORE_SEARCH_MAX	1000
#define CF_STORE_SEARCH_WORDS	32
int	 cf_store_message_search(struct cf_db *db, const char *user_id,
	    const char *text, int64_t channel_id, int64_t before, int limit,
	    json_t **messages, int *has_more);
/*
 * Bring the search index up to date with at most max of the messages
 * stored since the last call (SQLite indexes after the commit, to keep
 * FTS5 out of the send path; PostgreSQL in the message's transaction,
 * where this does nothing).  *indexed (may be NULL): how many; max of
 * them means more may be waiting.  Safe on any number of workers.
 */
int	 cf_store_search_index(struct cf_db *db, int max, int64_t *indexed);
/*
 * Retention: delete at most max of the oldest messages created before
 * `before` (ms), with their files, index entries and reactions; replies
 * to them stay, without their reply_to_id.  *purged (may be NULL): how
 * many went; fewer than max means none is left.
 */
int	 cf_store_message_purge(struct cf_db *db, int64_t before, int max,
	    int64_t *purged);
int	 cf_store_file_add(struct cf_db *db, int64_t message_id,
	    const char *file_name, int64_t file_size, const char *file_type,
	    const char *user_id, int64_t now_ms);

/*
 * Read positions: set user's position in the channel to message_id (0 =
 * the channel's latest), never moving it backwards.  *position receives
 * the stored position (which may be the older, larger one).  -ENOENT when
 * message_id is not a message of the channel.
 */
int	 cf_store_read_set(struct cf_db *db, int64_t channel_id,
	    const char *user_id, int64_t message_id, int64_t now_ms,
	    int64_t *position);

/* Presence: the status a user chose, restored at the next connect. */
int	 cf_store_presence_set(struct cf_db *db, const char *user_id,
	    const char *status, const char *status_message,
	    const char *custom_status, int64_t now_ms);
/* {status, statusMessage, customStatus}; status "online" and nulls when
 * nothing was stored. */
int	 cf_store_presence_get(struct cf_db *db, const char *user_id,
	    json_t **presence);

/*
 * The stored statuses of many users in one statement: ids is an array of
 * user id strings; *statuses receives an object user id -> status for
 * those that stored one (the others are "online").
 */
int	 cf_store_presence_statuses(struct cf_db *db, const json_t *ids,
	    json_t **statuses);

/* Broadcasts. */
int	 cf_store_broadcast_add(struct cf_db *db, const char *message,
	    const char *priority, const char *from_user, const char *from_name,
	    int64_t now_ms, int64_t *broadcast_id);

/*
 * Calls.  Statuses: ringing, active, ended, missed, rejected, busy.  A call
 * as JSON (history): {id, callerId, calleeId, callType, status, startedAt,
 * answeredAt, endedAt, durationMs} (times ISO or null, duration null until
 * ended after an answer).
 */
struct cf_call {
	int64_t		 id;
	char		 caller[64];
	char		 callee[64];
	char		 type[8];		/* "audio" | "video" */
	char		 status[12];
	char		 caller_sock[32];	/* the inviting tab's socket id */
	char		 callee_sock[32];	/* the answering tab, "" before */
	int64_t		 started_at;		/* ms */
	int64_t		 answered_at;		/* 0 when not answered */
	int64_t		 ended_at;
};

/*
 * Create a call in one transaction: when caller or callee already has a
 * ringing or active call, the new call is recorded with status "busy" and
 * *busy set; otherwise it is "ringing".  *call receives the row.  A busy
 * call is recorded only while the caller started fewer than max calls at
 * or after since_ms (max 0: no limit); over it, -EAGAIN with *busy set
 * and nothing stored.
 */
int	 cf_store_call_create(struct cf_db *db, const char *caller,
	    const char *callee, const char *type, const char *caller_sock,
	    int64_t now_ms, int64_t since_ms, int max, struct cf_call *call,
	    int *busy);
/* Record a call that could not ring (target offline): status "missed". */
int	 cf_store_call_missed(struct cf_db *db, const char *caller,
	    const char *callee, const char *type, int64_t now_ms,
	    struct cf_call *call);
/*
 * The same for a call:invite to an offline user, bounded: recorded only
 * when callee is a known user and fewer than max of the caller's calls
 * started at or after since_ms; -ENOENT when not recorded.
 */
int	 cf_store_call_missed_known(struct cf_db *db, const char *caller,
	    const char *callee, const char *type, int64_t now_ms,
	    int64_t since_ms, int max, struct cf_call *call);
int	 cf_store_call_get(struct cf_db *db, int64_t id, struct cf_call *call);
/*
 * Move a call from status `from` to `to` (conditional: -EALREADY when the
 * call is no longer in `from`, -ENOENT when unknown).  to "active" sets
 * answered_at and callee_sock (non-NULL); to ended/missed/rejected sets
 * ended_at (and the duration when it had been answered).  *call (may be
 * NULL) receives the row after the change.
 */
int	 cf_store_call_transition(struct cf_db *db, int64_t id, const char *from,
	    const char *to, const char *callee_sock, int64_t now_ms,
	    struct cf_call *call);
/* The ringing or active call between two users (either direction);
 * -ENOENT when none. */
int	 cf_store_call_between(struct cf_db *db, const char *a, const char *b,
	    struct cf_call *call);
/* The user's calls, newest first; before 0 = from the newest. */
int	 cf_store_call_history(struct cf_db *db, const char *user_id,
	    int64_t before, int limit, json_t **calls);
/*
 * Calls still "ringing" that started before ring_deadline_ms: marked
 * "missed"; fn is called for each (with the row after the change).
 * Returns the number swept or a negative errno.
 */
int	 cf_store_call_sweep_ringing(struct cf_db *db, int64_t ring_deadline_ms,
	    int64_t now_ms, void (*fn)(void *, const struct cf_call *),
	    void *arg);
/* The ringing or active calls of a user (for the cleanup sweep). */
int	 cf_store_call_live(struct cf_db *db, void (*fn)(void *,
	    const struct cf_call *), void *arg);

#endif
