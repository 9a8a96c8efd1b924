/*
 * indexer.h -- on SQLite, new messages reach the search index after
 * their commit (store.h cf_store_search_index), so that FTS5 stays out of
 * the send path.  A worker that stores a message kicks the indexer; it
 * runs INDEX_DELAY_MS later (after the loop turn's group commit) and
 * takes every message stored since, by any worker, in batches.  An idle
 * worker runs no statement.  PostgreSQL indexes in the message's
 * transaction: the store's call does nothing there.
 */
#ifndef CF_INDEXER_H
#define CF_INDEXER_H

struct cf_worker;

/* The module's state (w->indexer): 0/-1; released once the loop closed. */
int	 cf_indexer_init(struct cf_worker *w);
void	 cf_indexer_free(struct cf_worker *w);
/* Start (one run at once: what an earlier run left) and stop. */
void	 cf_indexer_start(struct cf_worker *w);
void	 cf_indexer_stop(struct cf_worker *w);
/* A message was stored: index it (and any other new one) soon. */
void	 cf_indexer_kick(void);

#endif
