/*
 * api_search.c -- GET /api/v1/search (doc/api.md): chat:search for a
 * backend.  The key reads every channel; with userId, the answer is what
 * that user's chat:search would give (the same operation, ops_search.c).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "db/store.h"
#include "app/api.h"
#include "app/args.h"
#include "app/ops.h"

#define LIMIT_DEFAULT	20
#define LIMIT_MAX	100
#define USER_ID_MAX	64

void
cf_api_search(struct cf_api_call *c)
{
	char user[USER_ID_MAX], msg[96];
	const char *q, *uid, *bad;
	int64_t channel, before, limit;
	json_t *query = NULL, *u, *res = NULL;
	int rc;

	if (cf_api_query_int(c, "channelId", 1, INT64_MAX, 0, &channel) == -1 ||
	    cf_api_query_int(c, "before", 1, INT64_MAX, 0, &before) == -1 ||
	    cf_api_query_int(c, "limit", 1, LIMIT_MAX, LIMIT_DEFAULT,
	    &limit) == -1)
		return;
	if ((uid = cf_api_query(c, "userId")) != NULL) {
		u = json_string(uid);
		rc = u == NULL ? -1 : cf_arg_user_id(u, 1, user, sizeof(user));
		json_decref(u);
		if (rc == -1) {
			cf_api_fail(c, 400, "bad_request",
			    "userId must be a user id");
			return;
		}
	}
	/* Not UTF-8 (json_string refuses it): as a bad query. */
	if ((q = cf_api_query(c, "q")) != NULL)
		query = json_string(q);
	rc = cf_op_search(uid != NULL ? user : NULL, query, channel, before,
	    (int)limit, &res, &bad);
	json_decref(query);
	if (rc == -EINVAL && bad != NULL) {
		if (strcmp(bad, "query") == 0)
			snprintf(msg, sizeof(msg), "q must be 1 to %d "
			    "characters, not blank", CF_OP_SEARCH_MAX);
		else
			snprintf(msg, sizeof(msg), "q must have at most %d "
			    "words", CF_STORE_SEARCH_WORDS);
		cf_api_fail(c, 400, "bad_request", msg);
		return;
	}
	if (rc != 0) {
		cf_api_fail_store(c, rc, "Channel");
		return;
	}
	cf_api_ok(c, 200, res);
}
