/*
 * hook.c -- webhooks: events into the outbox, deliveries out of it
 * (hook.h; the schema is migration 5, the SQL store_hook.c).
 *
 * Guarantees and how they are kept:
 *
 *   - An event is delivered exactly when its write committed: the outbox
 *     rows are written by on_event, which the store calls inside the
 *     write's transaction (a message: its savepoint of the group commit).
 *   - At least once, surviving restarts and kill -9: a row is deleted
 *     only after a 2xx answer (or once given up); whatever was in flight
 *     when a worker died is sent again, with the same delivery id.
 *   - In order per endpoint, one delivery in flight: only the head row
 *     (lowest id) of an endpoint is ever sent, by the worker holding the
 *     endpoint's lease (a row in the database, taken with a conditional
 *     upsert on any number of workers and hosts), which lasts the request
 *     timeout plus LEASE_MARGIN_MS, so a dead holder's lease expires.
 *   - A failing endpoint does not slow chat: a request is a few
 *     statements and a curl handle on the loop; a failed delivery waits
 *     its backoff in the row (next_at), and until then the endpoint costs
 *     one indexed read per tick.
 *
 * On PostgreSQL, rows of concurrent transactions may commit out of id
 * order (a sequence hands out ids before commit): a delivery committing
 * after a higher id was already sent is then sent after it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db/db.h"
#include "db/store.h"
#include "log.h"
#include "shm/shm.h"
#include "util.h"
#include "fanout/cluster.h"
#include "app/curluv.h"
#include "app/hook.h"
#include "app/hookmsg.h"

#define TICK_MS		1000	/* each endpoint looked at this often */
#define KICK_MS		5	/* after a local enqueue: the next turn */
#define LEASE_MARGIN_MS	5000	/* a lease outlives its request by this */
#define STATS_MS	2000	/* the outbox measured for /metrics */

struct endpoint {
	struct cf_hook_state *hs;
	char		*url;
	int		 busy;		/* a request in flight */
	int		 held;		/* we took its lease */
	int		 gone;		/* no longer configured: freed once
					   its request ended */
	uint64_t	 not_before;	/* wall ms: not looked at before */
	struct cf_hook_row row;		/* the delivery in flight */
	int64_t		 first_try_at;
};

struct cf_hook_state {
	struct cf_curluv *curl;
	uv_timer_t	 tick;
	int		 started;
	int		 kicked;
	int		 hooked;	/* the store's event hook is ours */
	struct endpoint	*eps[2 * CF_CONF_MAX_WEBHOOKS];
	size_t		 neps;
	uint64_t	 measured;	/* wall ms */
};

static void	 tick_cb(uv_timer_t *);

static struct cf_shm_stats *
stats(void)
{
	return (cf_shm_stats(cf_w->shm, cf_w->slot));
}

/* Look at the endpoints soon (the enqueuing transaction commits first). */
static void
kick(void)
{
	struct cf_hook_state *hs = cf_w->hook;

	if (!hs->started || hs->kicked)
		return;
	hs->kicked = 1;
	(void)uv_timer_start(&hs->tick, tick_cb, KICK_MS, 0);
}

/* 1 when an endpoint takes event. */
static int
wanted(const char *event)
{
	const struct cf_conf *conf = cf_w->conf;
	uint32_t bit = cf_conf_hook_event(event);
	int i;

	for (i = 0; bit != 0 && i < conf->nwebhooks; i++)
		if (conf->webhooks[i].events & bit)
			return (1);
	return (0);
}

/*
 * message.created: the message, its channel, and offlineMemberIds: the
 * channel's members (its channel_members rows, public channels
 * included: who joined or was added) with no live socket anywhere -- on
 * this host (the shared-memory counts) or, with redis, on any (the
 * cluster's totals).  A new object, or NULL.
 */
static json_t *
message_payload(struct cf_db *db, const json_t *data)
{
	const json_t *m = json_object_get(data, "message");
	json_t *out, *channel = NULL, *ids = NULL, *off, *v;
	char key[CF_SHM_USER_MAX];
	json_int_t ch;
	size_t i;

	ch = json_integer_value(json_object_get(m, "channelId"));
	if ((out = json_deep_copy(data)) == NULL ||
	    (off = json_array()) == NULL ||
	    json_object_set_new(out, "offlineMemberIds", off) != 0 ||
	    cf_store_channel_get(db, (int64_t)ch, &channel) != 0 ||
	    json_object_set_new(out, "channel", channel) != 0 ||
	    cf_store_member_ids(db, (int64_t)ch, &ids) != 0) {
		json_decref(out);
		return (NULL);
	}
	json_array_foreach(ids, i, v) {
		snprintf(key, sizeof(key), "u:%s", json_string_value(v));
		if (cf_cluster_total(key) == 0)
			(void)json_array_append_new(off,
			    cf_store_user_id_json(json_string_value(v)));
	}
	json_decref(ids);
	return (out);
}

/*
 * The store's event hook, inside the write's transaction: one outbox row
 * per endpoint taking the event.  An error fails the write too.
 */
static int
on_event(void *arg, struct cf_db *db, const char *event, const json_t *data)
{
	const struct cf_conf *conf = cf_w->conf;
	uint32_t bit = cf_conf_hook_event(event);
	json_t *built = NULL;
	int64_t now;
	char *text;
	int i, rc = 0;

	(void)arg;
	if (!wanted(event))
		return (0);
	if (strcmp(event, "message.created") == 0 &&
	    (built = message_payload(db, data)) == NULL)
		return (-ENOMEM);
	text = json_dumps(built != NULL ? built : data, JSON_COMPACT);
	json_decref(built);
	if (text == NULL)
		return (-ENOMEM);
	now = (int64_t)cf_wall_ms();
	for (i = 0; i < conf->nwebhooks && rc == 0; i++)
		if (conf->webhooks[i].events & bit)
			rc = cf_store_hook_add(db, conf->webhooks[i].url, event,
			    text, now, NULL);
	free(text);
	if (rc == 0)
		kick();
	return (rc);
}

void
cf_hook_enqueue(const char *event, const json_t *data)
{
	int rc;

	if (!wanted(event))
		return;
	if ((rc = cf_store_event(cf_db(), event, data)) != 0)
		cf_log_warnx("webhook: %s not queued (%d)", event, rc);
}

/* The URL up to its query, for the logs (a query may hold a token). */
static const char *
url_shown(const char *url, char *buf, size_t len)
{
	size_t n = strcspn(url, "?#");

	snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), url);
	return (buf);
}

static void
ep_free(struct endpoint *ep)
{
	if (ep == NULL)
		return;
	free(ep->row.payload);
	free(ep->url);
	free(ep);
}

/* Give the lease back, so that any worker of any host may go on. */
static void
ep_release(struct endpoint *ep)
{
	if (ep->held)
		(void)cf_store_hook_release(cf_db(), ep->url, cf_w->uid);
	ep->held = 0;
}

/* A failed attempt: its backoff, or the end of its retries. */
static void
failed(struct endpoint *ep, int64_t now, long status, const char *err)
{
	struct cf_shm_stats *st;
	int64_t attempts = ep->row.attempts + 1, next;
	uint32_t rnd = 0;
	char shown[256];

	url_shown(ep->url, shown, sizeof(shown));
	if (now - ep->first_try_at >= (int64_t)cf_w->conf->webhook_retry_for_ms) {
		(void)cf_store_hook_done(cf_db(), ep->row.id);
		if ((st = stats()) != NULL)
			__atomic_add_fetch(&st->hook_failed, 1,
			    __ATOMIC_RELAXED);
		cf_log_warnx("webhook %s: delivery %" PRId64 " (%s) dropped "
		    "after %" PRId64 " attempts", shown, ep->row.id,
		    ep->row.event, attempts);
		ep->not_before = 0;
		return;
	}
	(void)cf_random_bytes(&rnd, sizeof(rnd));
	next = now + (int64_t)cf_hookmsg_backoff_ms((unsigned)attempts, rnd);
	(void)cf_store_hook_retry(cf_db(), ep->row.id, attempts,
	    ep->first_try_at, next);
	ep->not_before = (uint64_t)next;
	if (status != 0)
		cf_log_info("webhook %s: delivery %" PRId64 " answered %ld, "
		    "attempt %" PRId64 ", next in %" PRId64 " ms", shown,
		    ep->row.id, status, attempts, next - now);
	else
		cf_log_info("webhook %s: delivery %" PRId64 " failed (%s), "
		    "attempt %" PRId64 ", next in %" PRId64 " ms", shown,
		    ep->row.id, err != NULL ? err : "?", attempts, next - now);
}

static void
done_cb(void *arg, long status, const char *err)
{
	struct endpoint *ep = arg;
	struct cf_hook_state *hs = ep->hs;
	struct cf_shm_stats *st;
	int64_t now = (int64_t)cf_wall_ms();

	ep->busy = 0;
	if (status >= 200 && status < 300) {
		(void)cf_store_hook_done(cf_db(), ep->row.id);
		if ((st = stats()) != NULL)
			__atomic_add_fetch(&st->hook_delivered, 1,
			    __ATOMIC_RELAXED);
		ep->not_before = 0;
	} else {
		failed(ep, now, status, err);
		ep_release(ep);
	}
	free(ep->row.payload);
	ep->row.payload = NULL;
	if (ep->gone)
		ep_release(ep);	/* sync_endpoints frees it */
	else if (hs->started)
		kick();
}

/* POST the head delivery ep->row.  0, or -1 (counted as an attempt). */
static int
send_row(struct cf_hook_state *hs, struct endpoint *ep, int64_t now)
{
	const struct cf_conf *conf = cf_w->conf;
	char h_event[64], h_id[48], h_ts[48], h_sig[32 + CF_HOOKMSG_SIG_LEN];
	char sig[CF_HOOKMSG_SIG_LEN], *body;
	const char *headers[] = {
		"Content-Type: application/json", "User-Agent: confabd",
		"Expect:", h_event, h_id, h_ts, h_sig, NULL
	};
	int64_t ts = now / 1000;

	ep->first_try_at = ep->row.first_try_at != 0 ? ep->row.first_try_at :
	    now;
	if ((body = cf_hookmsg_body(ep->row.id, ep->row.event,
	    ep->row.created_at, ep->row.payload)) == NULL)
		return (-1);
	if (cf_hookmsg_sign(conf->webhook_secret, ts, body, strlen(body),
	    sig) == -1) {
		free(body);
		return (-1);
	}
	snprintf(h_event, sizeof(h_event), "X-Confab-Event: %s",
	    ep->row.event);
	snprintf(h_id, sizeof(h_id), "X-Confab-Delivery: %" PRId64,
	    ep->row.id);
	snprintf(h_ts, sizeof(h_ts), "X-Confab-Timestamp: %" PRId64, ts);
	snprintf(h_sig, sizeof(h_sig), "X-Confab-Signature: %s", sig);
	if (cf_curluv_post(hs->curl, ep->url, headers, body, strlen(body),
	    (long)conf->webhook_timeout_ms, done_cb, ep) == -1)
		return (-1);
	ep->busy = 1;
	return (0);
}

/*
 * One look at an endpoint: read its head (no write while there is
 * nothing due), take the lease, read the head again under it (another
 * holder may have sent it meanwhile), send it.
 */
static void
step(struct cf_hook_state *hs, struct endpoint *ep, int64_t now)
{
	struct cf_db *db = cf_db();
	int64_t until = now + cf_w->conf->webhook_timeout_ms + LEASE_MARGIN_MS;
	int rc;

	free(ep->row.payload);
	ep->row.payload = NULL;
	if ((rc = cf_store_hook_head(db, ep->url, &ep->row)) != 0 ||
	    ep->row.next_at > now) {
		/* Nothing, or not due: the lease goes back to anyone. */
		ep->not_before = rc == 0 ? (uint64_t)ep->row.next_at : 0;
		ep_release(ep);
		return;
	}
	free(ep->row.payload);
	ep->row.payload = NULL;
	if ((rc = cf_store_hook_lease(db, ep->url, cf_w->uid, now, until)) !=
	    1) {
		ep->held = 0;
		ep->not_before = (uint64_t)now + TICK_MS;
		return;
	}
	ep->held = 1;
	if ((rc = cf_store_hook_head(db, ep->url, &ep->row)) != 0 ||
	    ep->row.next_at > now) {
		ep->not_before = rc == 0 ? (uint64_t)ep->row.next_at : 0;
		ep_release(ep);
		return;
	}
	if (send_row(hs, ep, now) == -1) {
		failed(ep, now, 0, "request not started");
		ep_release(ep);
	}
}

/* The endpoints follow the configuration (a reload may change it). */
static void
sync_endpoints(struct cf_hook_state *hs)
{
	const struct cf_conf *conf = cf_w->conf;
	struct endpoint *ep;
	size_t i, j;
	int k, found;

	for (i = 0; i < hs->neps; ) {
		ep = hs->eps[i];
		for (k = 0, found = 0; k < conf->nwebhooks && !found; k++)
			found = strcmp(conf->webhooks[k].url, ep->url) == 0;
		ep->gone = !found;
		if (found || ep->busy) {
			i++;	/* a gone one waits for its request to end */
			continue;
		}
		ep_release(ep);
		ep_free(ep);
		hs->eps[i] = hs->eps[--hs->neps];
	}
	for (k = 0; k < conf->nwebhooks; k++) {
		for (j = 0, found = 0; j < hs->neps && !found; j++)
			found = strcmp(hs->eps[j]->url,
			    conf->webhooks[k].url) == 0;
		if (found || hs->neps == sizeof(hs->eps) / sizeof(hs->eps[0]))
			continue;
		if ((ep = calloc(1, sizeof(*ep))) == NULL ||
		    (ep->url = strdup(conf->webhooks[k].url)) == NULL) {
			free(ep);
			continue;
		}
		ep->hs = hs;
		hs->eps[hs->neps++] = ep;
	}
	/* The store reports events only while an endpoint may take one. */
	if (hs->hooked != (conf->nwebhooks > 0)) {
		hs->hooked = conf->nwebhooks > 0;
		cf_store_event_hook(cf_db(), hs->hooked ? on_event : NULL,
		    NULL);
	}
}

/* The outbox's depth and oldest row, for /metrics. */
static void
measure(struct cf_hook_state *hs, uint64_t now)
{
	struct cf_shm_stats *st;
	int64_t depth = 0, oldest = 0;

	hs->measured = now;
	if ((st = stats()) == NULL ||
	    cf_store_hook_stats(cf_db(), &depth, &oldest) != 0)
		return;
	__atomic_store_n(&st->hook_depth, (uint64_t)depth, __ATOMIC_RELAXED);
	__atomic_store_n(&st->hook_oldest_ms, (uint64_t)oldest,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&st->hook_measured_ms, now, __ATOMIC_RELAXED);
}

static void
tick_cb(uv_timer_t *t)
{
	struct cf_hook_state *hs = t->data;
	struct endpoint *ep;
	uint64_t now;
	size_t i;

	hs->kicked = 0;
	sync_endpoints(hs);
	now = cf_wall_ms();
	for (i = 0; i < hs->neps; i++) {
		ep = hs->eps[i];
		if (ep->busy || ep->gone || now < ep->not_before)
			continue;
		if (cf_curluv_inflight(hs->curl) >=
		    cf_w->conf->webhook_concurrency)
			break;
		step(hs, ep, (int64_t)now);
	}
	if (cf_w->conf->nwebhooks > 0 && now - hs->measured >= STATS_MS)
		measure(hs, now);
	(void)uv_timer_start(&hs->tick, tick_cb, TICK_MS, 0);
}

int
cf_hook_init(struct cf_worker *w)
{
	if ((w->hook = calloc(1, sizeof(*w->hook))) == NULL)
		return (-1);
	return (0);
}

int
cf_hook_start(struct cf_worker *w)
{
	struct cf_hook_state *hs = w->hook;

	if ((hs->curl = cf_curluv_new(&w->loop)) == NULL ||
	    uv_timer_init(&w->loop, &hs->tick) != 0)
		return (-1);
	hs->tick.data = hs;
	hs->started = 1;
	sync_endpoints(hs);
	(void)uv_timer_start(&hs->tick, tick_cb, KICK_MS, 0);
	return (0);
}

void
cf_hook_stop(struct cf_worker *w)
{
	struct cf_hook_state *hs = w->hook;
	size_t i;

	if (hs == NULL || !hs->started)
		return;
	hs->started = 0;
	/* What was in flight stays in the outbox, for whoever comes next. */
	for (i = 0; i < hs->neps; i++)
		ep_release(hs->eps[i]);
	cf_curluv_free(hs->curl);
	hs->curl = NULL;
	(void)uv_timer_stop(&hs->tick);
	uv_close((uv_handle_t *)&hs->tick, NULL);
	cf_store_event_hook(cf_db(), NULL, NULL);
	hs->hooked = 0;
}

void
cf_hook_free(struct cf_worker *w)
{
	struct cf_hook_state *hs = w->hook;
	size_t i;

	if (hs == NULL)
		return;
	for (i = 0; i < hs->neps; i++)
		ep_free(hs->eps[i]);
	free(hs);
	w->hook = NULL;
}
