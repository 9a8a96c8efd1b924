/*
 * retention.h -- message-retention: every worker deletes the messages
 * older than the configured age on its cleanup sweep, in bounded
 * batches spread over loop turns, so that chat never waits long for it.
 */
#ifndef CF_APP_RETENTION_H
#define CF_APP_RETENTION_H

struct cf_worker;

/* The module's state (w->retention): 0/-1; released once the loop closed. */
int	 cf_retention_init(struct cf_worker *w);
void	 cf_retention_free(struct cf_worker *w);
/* Worker start: the first sweep after cleanup-interval. */
void	 cf_retention_start(struct cf_worker *w);
/* Worker stop: the timer is closed with the loop's handles. */
void	 cf_retention_stop(struct cf_worker *w);

#endif
