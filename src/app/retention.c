/*
 * retention.c -- the message-retention purge (retention.h).
 *
 * One statement deletes at most BATCH messages (cf_store_message_purge,
 * with their files, reactions and index entries); when it was full,
 * the next runs PAUSE_MS later, so that the loop serves its sockets in
 * between (a statement holds the SQLite write lock for some
 * milliseconds); once fewer went, the sweep waits for the next
 * cleanup-interval.  The timer is one-shot, re-armed each time from the
 * configuration then in force, so that a SIGHUP changing
 * message-retention or cleanup-interval takes effect at the next turn.
 * Every worker of every host sweeps: a message is deleted once, and a
 * worker finding nothing left stops.
 */
#include <stdint.h>
#include <stdlib.h>

#include <uv.h>

#include "conf.h"
#include "log.h"
#include "proc.h"
#include "util.h"
#include "db/db.h"
#include "db/store.h"
#include "app/retention.h"

#define BATCH		500
#define PAUSE_MS	10

/* The module's state, cf_w->retention (proc.h). */
struct cf_retention_state {
	uv_timer_t	 timer;
	int		 on;		/* the timer is initialised */
	uint64_t	 swept;		/* purged in the sweep in progress */
};

int
cf_retention_init(struct cf_worker *w)
{
	if ((w->retention = calloc(1, sizeof(*w->retention))) == NULL)
		return (-1);
	return (0);
}

void
cf_retention_free(struct cf_worker *w)
{
	free(w->retention);
	w->retention = NULL;
}

static void
sweep(uv_timer_t *t)
{
	const struct cf_conf *conf = cf_w->conf;
	struct cf_retention_state *ret = t->data;
	int64_t n = 0, before;

	if (conf->message_retention_ms == 0) {
		ret->swept = 0;
		uv_timer_start(t, sweep, conf->cleanup_interval_ms, 0);
		return;
	}
	before = (int64_t)cf_wall_ms() - (int64_t)conf->message_retention_ms;
	if (cf_store_message_purge(cf_db(), before, BATCH, &n) != 0)
		n = 0;	/* logged by the store; tried again next sweep */
	ret->swept += (uint64_t)n;
	if (n == BATCH) {
		uv_timer_start(t, sweep, PAUSE_MS, 0);
		return;
	}
	if (ret->swept > 0)
		cf_log_info("message-retention: %llu messages deleted",
		    (unsigned long long)ret->swept);
	ret->swept = 0;
	uv_timer_start(t, sweep, conf->cleanup_interval_ms, 0);
}

void
cf_retention_start(struct cf_worker *w)
{
	struct cf_retention_state *ret = w->retention;

	if (uv_timer_init(&w->loop, &ret->timer) != 0)
		return;
	ret->timer.data = ret;
	uv_unref((uv_handle_t *)&ret->timer);
	ret->on = 1;
	uv_timer_start(&ret->timer, sweep, w->conf->cleanup_interval_ms, 0);
}

void
cf_retention_stop(struct cf_worker *w)
{
	struct cf_retention_state *ret = w->retention;

	if (ret == NULL || !ret->on)
		return;
	uv_close((uv_handle_t *)&ret->timer, NULL);
	ret->on = 0;
}
