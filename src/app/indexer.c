/*
 * indexer.c -- the search index of new messages on SQLite (indexer.h).
 */
#include <stdlib.h>

#include <uv.h>

#include "db/db.h"
#include "db/store.h"
#include "proc.h"
#include "app/indexer.h"

#define INDEX_DELAY_MS	100	/* a message is found about this late */
#define INDEX_BATCH	2000	/* messages a transaction, at most */
#define INDEX_PAUSE_MS	1	/* between two full batches */

/* The module's state, cf_w->indexer (proc.h). */
struct cf_indexer_state {
	uv_timer_t	 timer;
	int		 on;		/* the timer is initialised */
	int		 armed;		/* a run is due */
};

int
cf_indexer_init(struct cf_worker *w)
{
	if ((w->indexer = calloc(1, sizeof(*w->indexer))) == NULL)
		return (-1);
	return (0);
}

void
cf_indexer_free(struct cf_worker *w)
{
	free(w->indexer);
	w->indexer = NULL;
}

static void
arm(struct cf_indexer_state *st, uint64_t ms);

static void
tick(uv_timer_t *t)
{
	struct cf_indexer_state *st = t->data;
	int64_t n = 0;

	st->armed = 0;
	if (cf_store_search_index(cf_db(), INDEX_BATCH, &n) != 0)
		n = 0;	/* logged by the store; the next kick tries again */
	if (n == INDEX_BATCH)
		arm(st, INDEX_PAUSE_MS);
}

static void
arm(struct cf_indexer_state *st, uint64_t ms)
{
	if (!st->on || st->armed)
		return;
	st->armed = 1;
	(void)uv_timer_start(&st->timer, tick, ms, 0);
}

void
cf_indexer_start(struct cf_worker *w)
{
	struct cf_indexer_state *st = w->indexer;

	if (uv_timer_init(&w->loop, &st->timer) != 0)
		return;
	st->timer.data = st;
	uv_unref((uv_handle_t *)&st->timer);
	st->on = 1;
	arm(st, INDEX_DELAY_MS);
}

void
cf_indexer_stop(struct cf_worker *w)
{
	struct cf_indexer_state *st = w->indexer;

	if (st == NULL || !st->on)
		return;
	uv_close((uv_handle_t *)&st->timer, NULL);
	st->on = 0;
	st->armed = 0;
}

void
cf_indexer_kick(void)
{
	if (cf_w->indexer != NULL)
		arm(cf_w->indexer, INDEX_DELAY_MS);
}
