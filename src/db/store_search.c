/*
 * store_search.c -- the full-text search of messages and the retention
 * purge (store.h).
 *
 * The index is the backend's own (schema 8: SQLite FTS5, PostgreSQL GIN
 * over a tsvector), kept in step with messages.body by the database, and
 * the statement is the backend's (backend.h, search_sql).  The user's
 * text never reaches a query parser as syntax: SQLite gets each word
 * quoted as an FTS5 phrase (so AND, OR, NOT, NEAR, *, ^, - and quotes are
 * plain text), PostgreSQL parses it with plainto_tsquery, which never
 * fails.  A page is the `limit` newest matches below `before`, ranked
 * best first: the index walks matches newest first, so a page costs its
 * own rows whatever the database holds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db/store_int.h"

/*
 * Fewer matches than this (PostgreSQL, search_count_sql) are read from
 * the index and sorted; more, found by walking the ids backwards.
 */
#define SPARSE_MAX	5000

/* Whitespace separating the words of a query (ASCII only). */
static int
is_space(char c)
{
	return (c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\f' || c == '\v');
}

/*
 * The FTS5 query of text: each word (a run of non-whitespace) as a
 * quoted phrase, its double quotes doubled, the phrases side by side
 * (all must match).  A word FTS5's tokenizer finds no token in (only
 * punctuation or emoji) is an empty phrase, which matches nothing and
 * restricts nothing.  *out: a new string (free()), NULL when text holds
 * no word.  -EINVAL beyond CF_STORE_SEARCH_WORDS words.
 */
static int
fts_query(const char *text, char **out)
{
	const char *p;
	char *q, *w;
	size_t n = 0;
	int words = 0, in = 0;

	*out = NULL;
	for (p = text; *p != '\0'; p++) {
		if (is_space(*p)) {
			in = 0;
			continue;
		}
		if (!in && ++words > CF_STORE_SEARCH_WORDS)
			return (-EINVAL);
		in = 1;
		n += *p == '"' ? 2 : 1;
	}
	if (words == 0)
		return (0);
	/* Two quotes and a space per word, and the final NUL. */
	if ((q = malloc(n + 3 * (size_t)words + 1)) == NULL)
		return (-ENOMEM);
	w = q;
	in = 0;
	for (p = text; *p != '\0'; p++) {
		if (is_space(*p)) {
			if (in)
				*w++ = '"';
			in = 0;
			continue;
		}
		if (!in) {
			if (w != q)
				*w++ = ' ';
			*w++ = '"';
			in = 1;
		}
		if (*p == '"')
			*w++ = '"';
		*w++ = *p;
	}
	if (in)
		*w++ = '"';
	*w = '\0';
	*out = q;
	return (0);
}

/*
 * The messages of ids (a JSON array of ids, in rank order) with their
 * excerpts (excerpts[i] for ids[i]), in that order, appended to out.
 * A message gone since the search (deleted or purged) is left out.
 */
static int
search_load(struct cf_db *db, const char *func, json_t *ids, json_t *excerpts,
    json_t *out)
{
	struct cf_db_stmt *st;
	json_t *found, *m;
	char *list = NULL, key[24], sql[1024];
	size_t i;
	int rc;

	if ((found = json_object()) == NULL ||
	    (list = json_dumps(ids, JSON_COMPACT)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* The text list yields text: both backends cast it the same way. */
	snprintf(sql, sizeof(sql), "%s WHERE m.id IN"
	    " (SELECT CAST(value AS BIGINT) FROM %s)", MESSAGE_SELECT,
	    db->ops->text_list);
	if ((rc = cf_stmt_prepare(db, func, &st, sql, "t", list)) != 0)
		goto out;
	while ((rc = cf_stmt_step(db, func, st)) == 1) {
		snprintf(key, sizeof(key), "%lld",
		    (long long)cf_row_i64(st, 0));
		if ((m = cf_row_message(st)) == NULL ||
		    json_object_set_new(found, key, m) == -1) {
			rc = -ENOMEM;
			break;
		}
	}
	cf_stmt_finish(st);
	if (rc != 0)
		goto out;
	for (i = 0; i < json_array_size(ids); i++) {
		snprintf(key, sizeof(key), "%lld", (long long)
		    json_integer_value(json_array_get(ids, i)));
		if ((m = json_object_get(found, key)) == NULL)
			continue;
		if (json_object_set(m, "excerpt",
		    json_array_get(excerpts, i)) == -1 ||
		    json_array_append(out, m) == -1) {
			rc = -ENOMEM;
			goto out;
		}
	}
 out:
	free(list);
	json_decref(found);
	return (rc);
}

/*
 * Search (store.h).  The backend's statement gives the ids and excerpts
 * of the page, best match first, and the place of each among them by id;
 * the one beyond the limit (the oldest) only tells *has_more.
 */
int
cf_store_message_search(struct cf_db *db, const char *user_id,
    const char *text, int64_t channel_id, int64_t before, int limit,
    json_t **messages, int *has_more)
{
	struct cf_db_stmt *st = NULL;
	json_t *arr = NULL, *ids = NULL, *excerpts = NULL;
	const char *sql;
	char *match = NULL;
	int64_t n = 0;
	int more = 0, rc;

	if (messages == NULL)
		return (-EINVAL);
	*messages = NULL;
	if (has_more != NULL)
		*has_more = 0;
	if (db == NULL || text == NULL || (user_id != NULL && !id_ok(user_id)))
		return (-EINVAL);
	if (strlen(text) > CF_STORE_SEARCH_MAX)
		return (-EINVAL);
	if (limit < 1)
		limit = 1;
	if (limit > PAGE_MAX)
		limit = PAGE_MAX;
	if (before <= 0)
		before = INT64_MAX;
	/* The words are counted (and quoted) for either backend. */
	if ((rc = fts_query(text, &match)) != 0)
		return (rc);
	if (match == NULL)
		return (-EINVAL);
	if (!db->ops->search_phrases) {
		free(match);
		if ((match = strdup(text)) == NULL)
			return (-ENOMEM);
	}
	if ((arr = json_array()) == NULL || (ids = json_array()) == NULL ||
	    (excerpts = json_array()) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	sql = db->ops->search_sql;
	if (db->ops->search_count_sql != NULL) {
		if ((rc = cf_stmt_query_i64(db, __func__, &n, NULL,
		    db->ops->search_count_sql, "tii", match, before,
		    (int64_t)SPARSE_MAX)) != 0)
			goto out;
		if (n < SPARSE_MAX)
			sql = db->ops->search_sparse_sql;
	}
	if ((rc = cf_stmt_prepare(db, __func__, &st, sql, "ttiid", match,
	    user_id, channel_id, before, limit + 1)) != 0)
		goto out;
	while ((rc = cf_stmt_step(db, __func__, st)) == 1) {
		if (cf_row_i64(st, 2) > limit) {
			more = 1;
			continue;
		}
		if (json_array_append_new(ids,
		    json_integer(cf_row_i64(st, 0))) == -1 ||
		    json_array_append_new(excerpts, cf_row_text(st, 1)) == -1) {
			rc = -ENOMEM;
			break;
		}
	}
	cf_stmt_finish(st);
	if (rc == 0 && json_array_size(ids) > 0)
		rc = search_load(db, __func__, ids, excerpts, arr);
	if (rc != 0)
		goto out;
	*messages = arr;
	arr = NULL;
	if (has_more != NULL)
		*has_more = more;
 out:
	json_decref(arr);
	json_decref(ids);
	json_decref(excerpts);
	free(match);
	return (rc);
}

/*
 * Retention (store.h): one statement deleting the oldest messages
 * created before `before`, at most max of them.  They are found in id
 * order, oldest first, which stops at the first young one in the common
 * case (ids grow with time); the rows that go with a message (its file,
 * its index entry, and what later schemas attach with ON DELETE CASCADE)
 * go with it, and replies to it lose their reply_to_id (ON DELETE SET
 * NULL).
 */
int
cf_store_message_purge(struct cf_db *db, int64_t before, int max,
    int64_t *purged)
{
	int64_t n = 0;
	int rc;

	if (purged != NULL)
		*purged = 0;
	if (db == NULL || max < 1)
		return (-EINVAL);
	cf_stmt_settle(db);
	rc = cf_stmt_run(db, __func__, &n,
	    "DELETE FROM messages WHERE id IN (SELECT id FROM messages"
	    "  WHERE created_at < ?1 ORDER BY id LIMIT ?2)",
	    "id", before, max);
	if (rc == 0 && purged != NULL)
		*purged = n;
	return (rc);
}

/*
 * Index the messages stored since the last call, at most max of them, in
 * one transaction (store.h), whose commit need not reach the disk
 * (backend.h, index_end).  Nothing to do (the common case, and always on
 * PostgreSQL) costs one read, no write lock.
 */
int
cf_store_search_index(struct cf_db *db, int max, int64_t *indexed)
{
	int64_t from = 0, to = 0, n = 0;
	int isnull = 0, rc;

	if (indexed != NULL)
		*indexed = 0;
	if (db == NULL || max < 1)
		return (-EINVAL);
	if (!db->ops->search_async)
		return (0);
	if ((rc = cf_stmt_query_i64(db, __func__, &to, &isnull,
	    "SELECT max(id) FROM messages"
	    " WHERE id > (SELECT pos FROM messages_fts_pos)", "")) != 0 ||
	    isnull)
		return (rc);
	if ((rc = cf_stmt_index_begin(db, __func__)) != 0)
		return (rc);
	/* Again under the write lock: another worker may have done it. */
	rc = cf_stmt_query_i64(db, __func__, &from, NULL,
	    "SELECT pos FROM messages_fts_pos", "");
	if (rc == 0)
		rc = cf_stmt_query_i64(db, __func__, &to, &isnull,
		    "SELECT max(id) FROM (SELECT id FROM messages"
		    "  WHERE id > ?1 ORDER BY id LIMIT ?2) x", "id", from, max);
	if (rc == 0 && !isnull)
		rc = cf_stmt_run(db, __func__, &n,
		    "INSERT INTO messages_fts(rowid, body)"
		    " SELECT id, body FROM messages WHERE id > ?1 AND id <= ?2",
		    "ii", from, to);
	if (rc == 0 && !isnull)
		rc = cf_stmt_run(db, __func__, NULL,
		    "UPDATE messages_fts_pos SET pos = ?1", "i", to);
	if ((rc = cf_stmt_index_end(db, __func__, rc)) == 0 && indexed != NULL)
		*indexed = n;
	return (rc);
}
