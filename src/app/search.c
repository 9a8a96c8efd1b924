/*
 * search.c -- chat:search: the messages the user may read that match a
 * query, best match first (ops_search.c).  Its values come checked from
 * the event's field list (app.c), the query by the operation.
 *
 * And the indexer: on SQLite new messages reach the search index after
 * their commit (store.h, cf_store_search_index), which every worker runs
 * every INDEX_EVERY_MS, at most INDEX_BATCH messages a transaction, the
 * next batch on a later loop turn while there are more; a message is
 * found by search about that long after its ack.  PostgreSQL indexes in
 * the message's transaction: the call does nothing there.
 */
#include <errno.h>

#include <uv.h>

#include "db/db.h"
#include "db/store.h"
#include "proc.h"
#include "app/chat.h"
#include "app/handlers.h"
#include "app/ops.h"

#define CF_SEARCH_LIMIT_DEFAULT	20
#define INDEX_EVERY_MS		100
#define INDEX_BATCH		2000
#define INDEX_PAUSE_MS		1

/* One worker process, one loop: the indexer's timer is its own. */
static struct {
	uv_timer_t	 timer;
	int		 on;
} idx;

static void
index_tick(uv_timer_t *t)
{
	int64_t n = 0;

	if (cf_store_search_index(cf_db(), INDEX_BATCH, &n) != 0)
		n = 0;	/* logged by the store; tried again next tick */
	uv_timer_start(t, index_tick, n == INDEX_BATCH ? INDEX_PAUSE_MS :
	    INDEX_EVERY_MS, 0);
}

void
cf_search_start(struct cf_worker *w)
{
	uv_timer_init(&w->loop, &idx.timer);
	uv_unref((uv_handle_t *)&idx.timer);
	idx.on = 1;
	uv_timer_start(&idx.timer, index_tick, INDEX_EVERY_MS, 0);
}

void
cf_search_stop(struct cf_worker *w)
{
	(void)w;
	if (!idx.on)
		return;
	uv_close((uv_handle_t *)&idx.timer, NULL);
	idx.on = 0;
}

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
