/*
 * search.c -- chat:search: the messages the user may read that match a
 * query, best match first (ops_search.c).  Its values come checked from
 * the event's field list (app.c), the query by the operation.
 * On SQLite a message is found once the indexer took it (indexer.h).
 */
#include <errno.h>


#include "db/db.h"
#include "db/store.h"
#include "app/chat.h"
#include "app/handlers.h"
#include "app/ops.h"

#define CF_SEARCH_LIMIT_DEFAULT	20
void
cf_ev_search(struct cf_event_ctx *ctx)
{
	struct cf_chat *c = cf_chat_of(ctx->s);
	const char *bad;
	json_t *res = NULL;
	int rc, limit = CF_SEARCH_LIMIT_DEFAULT;

	if (ctx->v[CF_V_SEARCH_LIMIT].set)
		limit = (int)ctx->v[CF_V_SEARCH_LIMIT].i;
	rc = cf_op_search(c->user_id, ctx->v[CF_V_SEARCH_QUERY].j,
	    ctx->v[CF_V_SEARCH_CHANNEL].i, ctx->v[CF_V_SEARCH_BEFORE].i, limit,
	    &res, &bad);
	if (rc == -EINVAL && bad != NULL) {
		cf_chat_invalid(ctx, bad);
		return;
	}
	if (rc != 0) {
		cf_chat_fail_store(ctx, rc, "Channel");
		return;
	}
	cf_chat_ack_ok(ctx, res);
}
