/*
 * batch.c -- group commit of chat messages per loop turn: the open batch's
 * deferred replies and the loop handles that end it (contract in batch.h).
 *
 * The end of a turn is a uv_check handle, active only while a batch is
 * open: check handles run after the poll phase, so after every lws and
 * ipc callback of the turn, and a handle started later runs before the
 * reaper's (libuv runs the newest first), though replies never rely on
 * that: a socket is found again by its id.  A uv_idle handle is active
 * alongside it, so that the loop never blocks in poll with a batch open
 * (libuv polls without waiting while an idle handle is active): a batch
 * opened by a check or close callback after ours ran is committed on the
 * next turn, at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/store.h"
#include "log.h"
#include "util.h"
#include "app/batch.h"
#include "app/chat.h"
#include "fanout/room.h"
#include "eio/recover.h"
#include "eio/session.h"

#define BATCH_MAX	256	/* messages in one commit, at most */
#define BATCH_MS	5	/* the oldest message waits at most this */

/* The replies of one stored message, sent once the batch commits. */
struct reply {
	char		 sid[24];	/* the sender's session */
	int64_t		 ack_id;	/* -1: no ack asked */
	const char	*errev;		/* the event's error event (static) */
	json_t		*args;		/* the ack's arguments, or NULL */
	char		 room[96];	/* "user:<id>" fits */
	const char	*event;		/* static */
	json_t		*payload;	/* the broadcast's, or NULL */
};

/* The module's state, cf_w->batch (proc.h). */
struct cf_batch_state {
	struct reply	*queue;
	size_t		 nqueue, capqueue;
	uint64_t	 opened_ms;
	uv_check_t	 turn_end;
	uv_idle_t	 no_wait;
	int		 started;
};

static void	queue_reply(struct reply *);

static void
idle_cb(uv_idle_t *h)
{
	(void)h;
}

static void
check_cb(uv_check_t *h)
{
	(void)h;
	(void)cf_batch_flush();
}

static int
hook_cb(void *arg)
{
	(void)arg;
	return (cf_batch_flush());
}

int
cf_batch_init(struct cf_worker *w)
{
	if ((w->batch = calloc(1, sizeof(*w->batch))) == NULL)
		return (-1);
	return (0);
}

void
cf_batch_free(struct cf_worker *w)
{
	struct cf_batch_state *bs = w->batch;
	size_t i;

	if (bs == NULL)
		return;
	for (i = 0; i < bs->nqueue; i++) {
		json_decref(bs->queue[i].args);
		json_decref(bs->queue[i].payload);
	}
	free(bs->queue);
	free(bs);
	w->batch = NULL;
}

int
cf_batch_start(struct cf_worker *w)
{
	struct cf_batch_state *bs = w->batch;

	if (uv_check_init(&w->loop, &bs->turn_end) != 0 ||
	    uv_idle_init(&w->loop, &bs->no_wait) != 0)
		return (-1);
	bs->started = 1;
	cf_store_batch_hook(cf_db(), hook_cb, NULL);
	return (0);
}

void
cf_batch_stop(void)
{
	(void)cf_batch_flush();
	cf_store_batch_hook(cf_db(), NULL, NULL);
}

int
cf_batch_begin(void)
{
	struct cf_batch_state *bs = cf_w->batch;
	struct cf_db *db = cf_db();
	int rc;

	if (cf_store_batch_open(db)) {
		if (bs->nqueue < BATCH_MAX &&
		    bs->nqueue < cf_store_batch_max(db) &&
		    cf_now_ms() - bs->opened_ms < BATCH_MS)
			return (0);
		(void)cf_batch_flush();
	}
	if ((rc = cf_store_batch_begin(db)) != 0)
		return (rc);
	bs->opened_ms = cf_now_ms();
	if (bs->started) {
		(void)uv_check_start(&bs->turn_end, check_cb);
		(void)uv_idle_start(&bs->no_wait, idle_cb);
	}
	return (0);
}

/*
 * Send r's replies, committed or not, and release what it holds.  The
 * socket is looked up now: it may have closed since the event.
 */
static void
reply_send(struct reply *r, int committed)
{
	struct cf_event_ctx ctx;
	struct cf_sess *s;

	if ((s = cf_sess_find(cf_w, r->sid)) == NULL)
		s = cf_recover_served(cf_w, r->sid);
	memset(&ctx, 0, sizeof(ctx));
	ctx.s = s;
	ctx.ack_id = r->ack_id;
	ctx.errev = r->errev;
	if (committed) {
		if (r->payload != NULL)
			cf_room_emit(r->room, NULL, r->event, r->payload);
		r->payload = NULL;
		if (s != NULL && r->args != NULL) {
			cf_event_ack(&ctx, r->args);
			r->args = NULL;
		}
	} else if (s != NULL)
		cf_chat_fail(&ctx, "internal", "Internal error");
	json_decref(r->args);
	json_decref(r->payload);
}

void
cf_batch_reply(struct cf_event_ctx *ctx, json_t *args, const char *room,
    const char *event, json_t *payload)
{
	struct reply r;

	memset(&r, 0, sizeof(r));
	snprintf(r.sid, sizeof(r.sid), "%s", ctx->s->sid);
	r.ack_id = ctx->ack_id;
	r.errev = ctx->errev;
	if (ctx->ack_id >= 0)
		r.args = args;
	else
		json_decref(args);
	if (payload != NULL && room != NULL && event != NULL &&
	    strlen(room) < sizeof(r.room)) {
		memcpy(r.room, room, strlen(room) + 1);
		r.event = event;
		r.payload = payload;
	} else
		json_decref(payload);
	ctx->ack_id = -1;	/* answered here, once */
	queue_reply(&r);
}

/* Append r to the queue, or commit now and send it when out of memory. */
static void
queue_reply(struct reply *r)
{
	struct cf_batch_state *bs = cf_w->batch;
	struct reply *v;
	size_t cap;
	int rc;

	if (bs->nqueue == bs->capqueue) {
		cap = bs->capqueue ? bs->capqueue * 2 : 64;
		if ((v = realloc(bs->queue, cap * sizeof(*v))) == NULL) {
			/* No room to wait: commit now, with this message. */
			rc = cf_batch_flush();
			reply_send(r, rc == 0);
			return;
		}
		bs->queue = v;
		bs->capqueue = cap;
	}
	bs->queue[bs->nqueue++] = *r;
}

void
cf_batch_emit(const char *room, const char *event, json_t *payload)
{
	struct reply r;

	memset(&r, 0, sizeof(r));
	r.ack_id = -1;
	if (payload == NULL || strlen(room) >= sizeof(r.room)) {
		json_decref(payload);
		return;
	}
	memcpy(r.room, room, strlen(room) + 1);
	r.event = event;
	r.payload = payload;
	queue_reply(&r);
}

int
cf_batch_flush(void)
{
	struct cf_batch_state *bs = cf_w->batch;
	struct reply *v;
	size_t i, n;
	int rc;

	if (bs->started) {
		(void)uv_check_stop(&bs->turn_end);
		(void)uv_idle_stop(&bs->no_wait);
	}
	rc = cf_store_batch_commit(cf_db());
	/* Take the queue first: nothing sent below may find it half done. */
	v = bs->queue;
	n = bs->nqueue;
	bs->queue = NULL;
	bs->nqueue = bs->capqueue = 0;
	if (rc != 0)
		cf_log_warnx("group commit of %zu messages failed", n);
	for (i = 0; i < n; i++)
		reply_send(&v[i], rc == 0);
	free(v);
	return (rc);
}
