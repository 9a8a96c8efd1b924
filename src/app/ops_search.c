/*
 * ops_search.c -- chat:search and GET /api/v1/search: one operation
 * (ops.h) over the store's full-text search (store_search.c).
 */
#include <errno.h>

#include "db/db.h"
#include "db/store.h"
#include "app/args.h"
#include "app/ops.h"

/* Words beyond the store's bound: the message the caller shows. */
#define STR(x)		#x
#define XSTR(x)		STR(x)
#define TOO_MANY	"query (at most " XSTR(CF_STORE_SEARCH_WORDS) " words)"

/*
 * A reader may search a channel it may know of: a public one (archived
 * too), or a private one it is a member of; another private one is
 * -ENOENT, as a missing one, so that ids cannot be probed.
 */
static int
channel_readable(const char *user_id, int64_t id)
{
	json_t *ch = NULL;
	int rc, member;

	if ((rc = cf_store_channel_get(cf_db(), id, &ch)) != 0)
		return (rc);
	if (user_id != NULL && json_is_true(json_object_get(ch,
	    "isPrivate"))) {
		if ((member = cf_store_is_member(cf_db(), id, user_id)) < 0)
			rc = member;
		else if (member == 0)
			rc = -ENOENT;
	}
	json_decref(ch);
	return (rc);
}

int
cf_op_search(const char *user_id, const json_t *query, int64_t channel,
    int64_t before, int limit, json_t **res, const char **bad)
{
	json_t *msgs = NULL, *next;
	const char *text;
	int64_t id, least = 0;
	size_t i;
	int rc, more = 0;

	*res = NULL;
	*bad = NULL;
	if (cf_arg_text(query, CF_OP_SEARCH_MAX, &text) == -1) {
		*bad = "query";
		return (-EINVAL);
	}
	if (channel != 0 && (rc = channel_readable(user_id, channel)) != 0)
		return (rc);
	rc = cf_store_message_search(cf_db(), user_id, text, channel, before,
	    limit, &msgs, &more);
	if (rc == -EINVAL) {
		/* The text passed cf_arg_text: only its words are at fault. */
		*bad = TOO_MANY;
		return (rc);
	}
	if (rc != 0)
		return (rc);
	for (i = 0; i < json_array_size(msgs); i++) {
		id = json_integer_value(json_object_get(json_array_get(msgs, i),
		    "id"));
		if (least == 0 || id < least)
			least = id;
	}
	next = more && least > 0 ? json_integer(least) : json_null();
	if ((*res = json_pack("{s:o,s:b,s:o}", "messages", msgs, "hasMore",
	    more, "nextBefore", next)) == NULL)
		return (-ENOMEM);
	return (0);
}
