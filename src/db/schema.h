/*
 * schema.h -- the schema migrations, written once for both backends
 * (sqlite.c, pg.c).  Migration N brings a database from version N - 1 to
 * N; a backend instantiates each with its column types.
 *
 * Times are milliseconds since the epoch; user ids are text.
 * channels.name_key is the name with ASCII letters folded to lower case
 * (store_channel.c computes it), which makes names unique case-insensitively.
 * The CHECKs hold the values events.md allows, so that a bad value is
 * refused by the schema rather than stored.
 */
#ifndef CF_DB_SCHEMA_H
#define CF_DB_SCHEMA_H

/* 1: bookkeeping.  NOW is an SQL expression: the time as ISO 8601 text. */
#define CF_SCHEMA_1(NOW) \
	"CREATE TABLE IF NOT EXISTS meta (" \
	"  key TEXT PRIMARY KEY," \
	"  value TEXT NOT NULL" \
	");" \
	"INSERT INTO meta(key, value) VALUES ('created_at', " NOW ")" \
	"  ON CONFLICT DO NOTHING;"

/*
 * 2: the chat schema.  ID: an auto-incrementing 64-bit primary key; INT: a
 * 64-bit integer (ids and times); STRICT: what follows a table's closing
 * parenthesis; KEYED: the same for a table keyed on its primary key only.
 */
#define CF_SCHEMA_2(ID, INT, STRICT, KEYED) \
	"CREATE TABLE users (" \
	"  id TEXT NOT NULL PRIMARY KEY," \
	"  display_name TEXT NOT NULL," \
	"  role TEXT NOT NULL," \
	"  created_at " INT "," \
	"  updated_at " INT \
	")" KEYED ";" \
	"CREATE TABLE channels (" \
	"  id " ID "," \
	"  name TEXT NOT NULL CHECK (length(name) > 0)," \
	"  name_key TEXT NOT NULL UNIQUE," \
	"  description TEXT," \
	"  is_private INTEGER NOT NULL DEFAULT 0" \
	"    CHECK (is_private IN (0, 1))," \
	"  created_by TEXT NOT NULL," \
	"  created_at " INT " NOT NULL" \
	")" STRICT ";" \
	"CREATE TABLE channel_members (" \
	"  channel_id " INT " NOT NULL" \
	"    REFERENCES channels(id) ON DELETE CASCADE," \
	"  user_id TEXT NOT NULL," \
	"  joined_at " INT "," \
	"  last_read_message_id " INT "," \
	"  last_read_at " INT "," \
	"  PRIMARY KEY (channel_id, user_id)" \
	")" KEYED ";" \
	"CREATE TABLE messages (" \
	"  id " ID "," \
	"  channel_id " INT " NOT NULL" \
	"    REFERENCES channels(id) ON DELETE CASCADE," \
	"  user_id TEXT NOT NULL," \
	"  user_display_name TEXT NOT NULL," \
	"  body TEXT NOT NULL," \
	"  message_type TEXT NOT NULL CHECK (message_type IN" \
	"    ('text', 'file', 'image', 'gif', 'ticket_link'))," \
	"  reply_to_id " INT " REFERENCES messages(id) ON DELETE SET NULL," \
	"  client_msg_id TEXT," \
	"  created_at " INT " NOT NULL," \
	"  UNIQUE (user_id, client_msg_id)" \
	")" STRICT ";" \
	"CREATE INDEX messages_channel ON messages(channel_id, id, user_id);" \
	"CREATE INDEX messages_reply ON messages(reply_to_id);" \
	"CREATE TABLE message_files (" \
	"  message_id " INT " PRIMARY KEY" \
	"    REFERENCES messages(id) ON DELETE CASCADE," \
	"  file_name TEXT NOT NULL," \
	"  file_size " INT " NOT NULL CHECK (file_size >= 0)," \
	"  file_type TEXT NOT NULL," \
	"  uploaded_by TEXT NOT NULL," \
	"  uploaded_at " INT " NOT NULL" \
	")" STRICT ";" \
	"CREATE TABLE presence (" \
	"  user_id TEXT NOT NULL PRIMARY KEY," \
	"  status TEXT NOT NULL CHECK (status IN" \
	"    ('online', 'away', 'busy', 'offline'))," \
	"  status_message TEXT," \
	"  custom_status TEXT," \
	"  updated_at " INT " NOT NULL" \
	")" KEYED ";" \
	"CREATE TABLE broadcasts (" \
	"  id " ID "," \
	"  message TEXT NOT NULL," \
	"  priority TEXT NOT NULL" \
	"    CHECK (priority IN ('high', 'normal', 'low'))," \
	"  from_user TEXT NOT NULL," \
	"  from_name TEXT NOT NULL," \
	"  created_at " INT " NOT NULL" \
	")" STRICT ";" \
	"CREATE TABLE channel_updates (" \
	"  id " ID "," \
	"  channel_id " INT " NOT NULL" \
	"    REFERENCES channels(id) ON DELETE CASCADE," \
	"  changes TEXT NOT NULL," \
	"  updated_by TEXT NOT NULL," \
	"  updated_at " INT " NOT NULL" \
	")" STRICT ";" \
	"CREATE INDEX channel_updates_channel" \
	"  ON channel_updates(channel_id, id);" \
	"CREATE TABLE calls (" \
	"  id " ID "," \
	"  caller_id TEXT NOT NULL," \
	"  callee_id TEXT NOT NULL," \
	"  call_type TEXT NOT NULL," \
	"  status TEXT NOT NULL," \
	"  started_at " INT " NOT NULL," \
	"  answered_at " INT "," \
	"  ended_at " INT "," \
	"  duration_ms " INT \
	")" STRICT ";" \
	"CREATE INDEX calls_caller ON calls(caller_id, id);" \
	"CREATE INDEX calls_callee ON calls(callee_id, id);"

/*
 * 3: the tabs taking part in a call (Socket.IO socket ids), and an index
 * of the calls still ringing or active, which the busy check, the ring
 * timeout and the cleanup sweep read.  The calls table has no CHECK on
 * status or call_type (store_call.c validates them), so the columns are added
 * in place.
 */
#define CF_SCHEMA_3 \
	"ALTER TABLE calls ADD COLUMN caller_sock TEXT;" \
	"ALTER TABLE calls ADD COLUMN callee_sock TEXT;" \
	"CREATE INDEX calls_live ON calls(status, started_at)" \
	"  WHERE status IN ('ringing', 'active');"

/*
 * 4: the HTTP API.  A channel archived (DELETE /api/v1/channels/{id})
 * keeps its rows and takes no new message, join or member; a user's
 * tokens issued before revoked_before (ms) are refused (POST
 * /api/v1/users/{id}/revoke).
 */
#define CF_SCHEMA_4(INT, KEYED) \
	"ALTER TABLE channels ADD COLUMN archived_at " INT ";" \
	"CREATE TABLE revocations (" \
	"  user_id TEXT NOT NULL PRIMARY KEY," \
	"  revoked_before " INT " NOT NULL" \
	")" KEYED ";"

/*
 * 5: the webhook outbox.  One row per delivery (an event for one
 * endpoint, by URL), written in the transaction of what it reports and
 * deleted once delivered or given up; its id is the delivery id.
 * next_at: not to be tried before (backoff); first_try_at: the first
 * attempt, from which webhook-retry-for counts.  webhook_lease: which
 * worker (owner: its relay uid) sends an endpoint's deliveries, until
 * lease_until; taken with one conditional upsert, so that on any number
 * of workers and hosts one sends at a time, in order.
 */
#define CF_SCHEMA_5(ID, INT, STRICT, KEYED) \
	"CREATE TABLE webhook_outbox (" \
	"  id " ID "," \
	"  endpoint TEXT NOT NULL," \
	"  event TEXT NOT NULL," \
	"  payload TEXT NOT NULL," \
	"  created_at " INT " NOT NULL," \
	"  attempts " INT " NOT NULL DEFAULT 0," \
	"  first_try_at " INT "," \
	"  next_at " INT " NOT NULL DEFAULT 0" \
	")" STRICT ";" \
	"CREATE INDEX webhook_outbox_endpoint ON webhook_outbox(endpoint, id);" \
	"CREATE TABLE webhook_lease (" \
	"  endpoint TEXT NOT NULL PRIMARY KEY," \
	"  owner TEXT NOT NULL," \
	"  lease_until " INT " NOT NULL" \
	")" KEYED ";"

/*
 * 6: direct messages and mentions.  channels.kind tells a direct channel
 * (private, the two users its only members) from the others; dm_a and
 * dm_b are its users' ids in byte order (the same id twice for a user's
 * own), and their unique index is what makes dm:open idempotent: the
 * racing tabs or hosts insert the same pair, one row wins (other
 * channels have NULLs there, which the index lets repeat).  A mention
 * is a row per (message, mentioned user), with the channel copied so
 * that channel:list counts a user's unread mentions with a range of
 * message_mentions_user.
 */
#define CF_SCHEMA_6(INT, KEYED) \
	"ALTER TABLE channels ADD COLUMN kind TEXT NOT NULL DEFAULT 'channel'" \
	"  CHECK (kind IN ('channel', 'direct'));" \
	"ALTER TABLE channels ADD COLUMN dm_a TEXT;" \
	"ALTER TABLE channels ADD COLUMN dm_b TEXT;" \
	"CREATE UNIQUE INDEX channels_dm ON channels(dm_a, dm_b);" \
	"CREATE TABLE message_mentions (" \
	"  message_id " INT " NOT NULL" \
	"    REFERENCES messages(id) ON DELETE CASCADE," \
	"  user_id TEXT NOT NULL," \
	"  channel_id " INT " NOT NULL," \
	"  PRIMARY KEY (message_id, user_id)" \
	")" KEYED ";" \
	"CREATE INDEX message_mentions_user" \
	"  ON message_mentions(user_id, channel_id, message_id);"

/*
 * 7: message actions.  An edit keeps the row (edited_at, edited_by); a
 * delete leaves a tombstone: body '' (the text is overwritten, not kept),
 * deleted_at, deleted_by, its file and reactions deleted.  reply_count
 * and last_reply_at: the direct replies of a message (tombstones count),
 * kept by the insert of a reply, so that a page reads them with its rows;
 * filled here for the replies already stored.  message_reactions: one row
 * per user and emoji of a message; its key serves the per-page
 * aggregation (message_id first).
 */
#define CF_SCHEMA_7(INT, KEYED) \
	"ALTER TABLE messages ADD COLUMN edited_at " INT ";" \
	"ALTER TABLE messages ADD COLUMN edited_by TEXT;" \
	"ALTER TABLE messages ADD COLUMN deleted_at " INT ";" \
	"ALTER TABLE messages ADD COLUMN deleted_by TEXT;" \
	"ALTER TABLE messages ADD COLUMN reply_count " INT \
	"  NOT NULL DEFAULT 0;" \
	"ALTER TABLE messages ADD COLUMN last_reply_at " INT ";" \
	"UPDATE messages SET" \
	"  reply_count = (SELECT count(*) FROM messages r" \
	"    WHERE r.reply_to_id = messages.id)," \
	"  last_reply_at = (SELECT max(r.created_at) FROM messages r" \
	"    WHERE r.reply_to_id = messages.id)" \
	"  WHERE id IN (SELECT reply_to_id FROM messages" \
	"    WHERE reply_to_id IS NOT NULL);" \
	"CREATE TABLE message_reactions (" \
	"  message_id " INT " NOT NULL" \
	"    REFERENCES messages(id) ON DELETE CASCADE," \
	"  emoji TEXT NOT NULL," \
	"  user_id TEXT NOT NULL," \
	"  created_at " INT " NOT NULL," \
	"  PRIMARY KEY (message_id, emoji, user_id)" \
	")" KEYED ";"

/*
 * 8: full-text search of messages (chat:search, store_search.c), one
 * index per backend, kept in step with messages.body by the database
 * itself for every edit, delete, cascade and retention purge.  Neither
 * stems: words match as written, letters folded to lower case (and, on
 * SQLite, diacritics removed).
 *
 * SQLite: an FTS5 table whose content is messages.body (external
 * content: the text is stored once), its rowid the message id, filled
 * from the rows already there ('rebuild').  New messages are indexed
 * after their commit, in batches (cf_store_search_index): an FTS5 write
 * in each message's transaction doubled the CPU cost of a durable send.
 * messages_fts_pos.pos is the highest id indexed; SQLite commits ids in
 * increasing order (one writer at a time), so every message up to pos is
 * in the index and none above it.  Edits and deletes of indexed messages
 * reach the index by triggers, in their own transaction.
 */
#define CF_SCHEMA_8_SQLITE \
	"CREATE VIRTUAL TABLE messages_fts USING fts5(body," \
	"  content='messages', content_rowid='id'," \
	"  tokenize='unicode61 remove_diacritics 2');" \
	"INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');" \
	"CREATE TABLE messages_fts_pos (" \
	"  one INTEGER PRIMARY KEY CHECK (one = 1)," \
	"  pos INTEGER NOT NULL" \
	") STRICT;" \
	"INSERT INTO messages_fts_pos" \
	"  VALUES (1, coalesce((SELECT max(id) FROM messages), 0));" \
	"CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages" \
	"  WHEN old.id <= (SELECT pos FROM messages_fts_pos) BEGIN" \
	"  INSERT INTO messages_fts(messages_fts, rowid, body)" \
	"    VALUES ('delete', old.id, old.body);" \
	" END;" \
	"CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages" \
	"  WHEN old.id <= (SELECT pos FROM messages_fts_pos) BEGIN" \
	"  INSERT INTO messages_fts(messages_fts, rowid, body)" \
	"    VALUES ('delete', old.id, old.body);" \
	"  INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);" \
	" END;"

/*
 * PostgreSQL: the body's tsvector (the 'simple' configuration: no
 * stemming, no stop words) in a stored generated column, and a GIN index
 * on it, both built over the rows already there.  Stored rather than an
 * expression index: a page of a common word walks the ids backwards and
 * tests each row, which must not parse its text each time.
 */
#define CF_SCHEMA_8_PG \
	"ALTER TABLE messages ADD COLUMN body_tsv tsvector" \
	"  GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED;" \
	"CREATE INDEX messages_search ON messages USING GIN (body_tsv);"

/*
 * Both: a user's memberships by user id (presence-scope channels reads
 * them for every announced change, channel:list and the API for every
 * call); the primary key (channel_id, user_id) serves only lookups by
 * channel.
 */
#define CF_SCHEMA_9 \
	"CREATE INDEX IF NOT EXISTS channel_members_user" \
	"  ON channel_members (user_id);"

#endif
