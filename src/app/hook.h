/*
 * hook.h -- webhooks: the events written to the outbox, and their
 * delivery to the configured endpoints (README "Webhooks").
 *
 * Enqueue: the store reports each write's event (message.created,
 * channel.created, channel.updated, call.missed) to hook.c inside that
 * write's transaction (cf_store_event_hook), which adds one outbox row
 * per endpoint taking the event; events with no write behind them
 * (user.online, user.offline) go through cf_hook_enqueue.  Delivery: a
 * timer per worker (about every second, sooner after a local enqueue)
 * walks the endpoints; for each one not busy it takes the endpoint's
 * lease in the database, reads the head delivery and POSTs it with
 * curluv.c, never more than webhook-concurrency requests at once.
 */
#ifndef CF_HOOK_H
#define CF_HOOK_H

#include <jansson.h>

#include "proc.h"

/*
 * The module's state (w->hook): allocated before the shell wires
 * anything, 0/-1; released once the loop is closed (NULL-safe).
 */
int	 cf_hook_init(struct cf_worker *w);
void	 cf_hook_free(struct cf_worker *w);
/*
 * After the database is open: the store's event hook, the delivery timer
 * and the HTTP client.  stop: abandon the requests in flight (they stay
 * in the outbox, and the endpoints' leases are given back), close the
 * handles.
 */
int	 cf_hook_start(struct cf_worker *w);
void	 cf_hook_stop(struct cf_worker *w);
/*
 * Report event (a name of cf_conf_hook_events[]) with data (borrowed)
 * in a transaction of its own, when an endpoint takes it; for an event
 * with no write of its own.  A store function reports its write's event
 * inside its transaction instead: cf_stmt_event(db, "member.added",
 * data), one line.
 */
void	 cf_hook_enqueue(const char *event, const json_t *data);

#endif
