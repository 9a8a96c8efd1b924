/*
 * relay.c -- broadcast frames to the other workers and hosts.
 *
 * Every frame goes to every other worker of this host through its inbox
 * (ipc.c); an inbox is FIFO for each sender, so one sender's broadcasts
 * arrive in the order they were emitted.  With redis, the frame is also
 * PUBLISHed on the adapter's channel for the other hosts; every worker
 * PSUBSCRIBEs "socket.io#/#*" and drops the frames of its own host (their
 * uid starts with "<host>/"): those came through the inboxes already.  So
 * a frame is delivered once per worker, delivery on a host does not
 * depend on Redis, and a Redis outage only delays other hosts (the
 * publisher queues, bounded).  Frames of other publishers (the
 * @socket.io/redis-emitter) are delivered by every worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "relay/frame.h"
#include "relay/redis.h"
#include "shm/shm.h"
#include "fanout/cluster.h"
#include "fanout/relay.h"
#include "eio/session.h"
#include "ipc.h"
#include "proc.h"

#define CF_RELAY_PREFIX	"socket.io"
#define CF_RELAY_REQUEST	"socket.io-request#/#"
/* A worker's own channel for pipes (eio/pipe.h): CF_RELAY_PIPE
 * "<host>/<slot>". */
#define CF_RELAY_PIPE		"confab:pipe#"

#define RELAY_LAG_RING	1024	/* own Redis publishes awaiting their echo */

struct cf_relay {
	struct cf_worker	*w;
	const struct cf_relay_sink *sink;	/* where frames arrive */
	struct cf_redis		*redis;
	int			 up;
	size_t			 hostlen;	/* strlen(w->host) */
	char			 pipe_chan[64];	/* ours (CF_RELAY_PIPE) */
	/*
	 * Relay lag over Redis: we subscribe to the pattern we publish on, so
	 * each of our frames comes back, in publish order.  The times of the
	 * publishes wait here; the echo of the oldest one measures the lag.
	 */
	uint64_t		 sent_us[RELAY_LAG_RING];
	unsigned		 sent_head, sent_n;
};

static void	 input(struct cf_worker *, const uint8_t *, size_t, size_t);

static void
count_error(struct cf_worker *w)
{
	struct cf_shm_stats *st;

	if ((st = cf_shm_stats(w->shm, w->slot)) != NULL)
		__atomic_add_fetch(&st->redis_errors, 1, __ATOMIC_RELAXED);
}

static void
observe_lag(struct cf_worker *w, uint64_t sent)
{
	struct cf_shm_stats *st;
	uint64_t now = cf_now_us();

	if ((st = cf_shm_stats(w->shm, w->slot)) == NULL || sent == 0 ||
	    now < sent)
		return;
	__atomic_add_fetch(&st->relay_lag_sum_us, now - sent,
	    __ATOMIC_RELAXED);
	__atomic_add_fetch(&st->relay_lag_count, 1, __ATOMIC_RELAXED);
}

/*
 * 1 when a request (cf_relay_request) was sent by a worker of this host:
 * it begins {"uid":"<host>/.
 */
static int
own_request(const struct cf_relay *r, const uint8_t *p, size_t len)
{
	static const char head[] = "{\"uid\":\"";
	size_t h = sizeof(head) - 1;

	return (len > h + r->hostlen && memcmp(p, head, h) == 0 &&
	    memcmp(p + h, r->w->host, r->hostlen) == 0 &&
	    p[h + r->hostlen] == '/');
}

/*
 * A pipe message from a worker of another host: its slot (1 byte), its
 * host's length (1 byte) and host, then the message (cf_relay_pipe).
 */
static void
pipe_input(struct cf_relay *r, const uint8_t *p, size_t len)
{
	char host[sizeof(r->w->host)];
	size_t hl;

	if (len < 2 || (hl = p[1]) == 0 || hl >= sizeof(host) ||
	    len < 2 + hl || r->sink->pipe == NULL)
		return;
	memcpy(host, p + 2, hl);
	host[hl] = '\0';
	if (strcmp(host, r->w->host) == 0)
		return;		/* our host's workers use the inboxes */
	r->sink->pipe(r->w, host, p[0], p + 2 + hl, len - 2 - hl);
}

static void
redis_message(void *arg, const char *channel, size_t chlen,
    const uint8_t *payload, size_t len)
{
	struct cf_relay *r = arg;

	if (chlen == sizeof(CF_RELAY_REQUEST) - 1 &&
	    memcmp(channel, CF_RELAY_REQUEST, chlen) == 0) {
		/* Our host's own requests came through the inboxes. */
		if (!own_request(r, payload, len))
			r->sink->request(r->w, payload, len);
		return;
	}
	if (chlen == sizeof(CF_CLUSTER_CHANNEL) - 1 &&
	    memcmp(channel, CF_CLUSTER_CHANNEL, chlen) == 0) {
		cf_cluster_message(payload, len);
		return;
	}
	if (chlen == strlen(r->pipe_chan) &&
	    memcmp(channel, r->pipe_chan, chlen) == 0) {
		pipe_input(r, payload, len);
		return;
	}
	input(r->w, payload, len, r->hostlen);
}

/*
 * The Redis client went up or down (redis.c logs each transition once).
 * An outage is counted once, and shown by the redis_up gauge.
 */
static void
redis_state(void *arg, int up)
{
	struct cf_relay *r = arg;
	struct cf_shm_stats *st;

	if ((st = cf_shm_stats(r->w->shm, r->w->slot)) != NULL)
		__atomic_store_n(&st->redis_up, (uint64_t)(up != 0),
		    __ATOMIC_RELAXED);
	if (!up && r->up)
		count_error(r->w);
	r->up = up;
	/* Publishes lost with the connection never echo: forget them all. */
	r->sent_n = 0;
	cf_cluster_state(up);
}

struct cf_relay *
cf_relay_new(struct cf_worker *w, const struct cf_relay_sink *sink)
{
	static const struct cf_redis_cbs cbs = { redis_message, redis_state };
	const char *patterns[1] = { CF_RELAY_PREFIX "#/#*" };
	const char *channels[3] = { CF_RELAY_REQUEST, CF_CLUSTER_CHANNEL,
	    NULL };
	struct cf_relay *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	r->w = w;
	r->sink = sink;
	r->hostlen = strlen(w->host);
	snprintf(r->pipe_chan, sizeof(r->pipe_chan), CF_RELAY_PIPE "%s/%u",
	    w->host, w->slot);
	channels[2] = r->pipe_chan;
	if (w->conf->redis_host != NULL) {
		r->redis = cf_redis_new(&w->loop, w->conf->redis_host,
		    w->conf->redis_port, w->conf->redis_db, patterns, 1,
		    channels, 3, &cbs, r);
		if (r->redis == NULL) {
			free(r);
			return (NULL);
		}
	}
	(void)cf_cluster_start(w, r->redis);
	return (r);
}

void
cf_relay_free(struct cf_relay *r)
{
	if (r == NULL)
		return;
	cf_cluster_stop();
	cf_redis_free(r->redis);
	free(r);
}

int
cf_relay_publish(struct cf_relay *r, const char *room, const uint8_t *frame,
    size_t len)
{
	struct cf_shm_stats *st;
	char chan[512];
	uint8_t *buf;
	uint64_t t = cf_now_us();

	if ((st = cf_shm_stats(r->w->shm, r->w->slot)) != NULL)
		__atomic_add_fetch(&st->relay_out, 1, __ATOMIC_RELAXED);
	/* To this host's workers: the send time leads the frame (cf_relay_ipc). */
	if ((buf = malloc(sizeof(t) + len)) == NULL)
		return (-1);
	memcpy(buf, &t, sizeof(t));
	memcpy(buf + sizeof(t), frame, len);
	cf_ipc_send_all(CF_IPC_RELAY, buf, sizeof(t) + len);
	free(buf);
	if (r->redis == NULL)
		return (0);
	if (cf_frame_channel(chan, sizeof(chan), CF_RELAY_PREFIX, "/", room) == -1)
		return (-1);
	if (cf_redis_publish(r->redis, chan, frame, len) == -1) {
		count_error(r->w);
		return (-1);
	}
	if (r->sent_n < RELAY_LAG_RING)
		r->sent_us[(r->sent_head + r->sent_n++) % RELAY_LAG_RING] = t;
	return (0);
}

int
cf_relay_pipe(struct cf_relay *r, const char *host, unsigned slot,
    const void *msg, size_t len)
{
	char chan[sizeof(r->pipe_chan)];
	uint8_t *buf;
	int rc;

	if (r == NULL || r->redis == NULL || slot > 255 || r->hostlen > 255)
		return (-1);
	snprintf(chan, sizeof(chan), CF_RELAY_PIPE "%s/%u", host, slot);
	if ((buf = malloc(2 + r->hostlen + len)) == NULL)
		return (-1);
	buf[0] = (uint8_t)r->w->slot;
	buf[1] = (uint8_t)r->hostlen;
	memcpy(buf + 2, r->w->host, r->hostlen);
	memcpy(buf + 2 + r->hostlen, msg, len);
	rc = cf_redis_publish(r->redis, chan, buf, 2 + r->hostlen + len);
	free(buf);
	return (rc);
}

int
cf_relay_request(struct cf_relay *r, const char *json, size_t len)
{
	cf_ipc_send_all(CF_IPC_REQUEST, json, len);
	if (r->redis == NULL)
		return (0);
	if (cf_redis_publish(r->redis, CF_RELAY_REQUEST, (const uint8_t *)json,
	    len) == -1) {
		count_error(r->w);
		return (-1);
	}
	return (0);
}

void
cf_relay_ipc_request(struct cf_worker *w, const uint8_t *data, size_t len)
{
	if (w->relay == NULL)	/* stopping: no sink any more */
		return;
	w->relay->sink->request(w, data, len);
}

size_t
cf_relay_unsent(const struct cf_relay *r)
{
	if (r == NULL || r->redis == NULL || !cf_redis_is_up(r->redis))
		return (0);
	return (cf_redis_unanswered(r->redis));
}

void
cf_relay_ipc(struct cf_worker *w, const uint8_t *data, size_t len)
{
	uint64_t t;

	if (len < sizeof(t))
		return;
	if (w->relay == NULL)	/* stopping: no sink any more */
		return;
	memcpy(&t, data, sizeof(t));
	observe_lag(w, t);
	input(w, data + sizeof(t), len - sizeof(t), 0);
}

/*
 * Decode a frame and deliver it to this worker's sockets, unless this
 * worker sent it or, when hostlen > 0 (it came from Redis), this host did.
 */
static void
input(struct cf_worker *w, const uint8_t *frame, size_t len, size_t hostlen)
{
	struct cf_frame_bcast b;
	struct cf_shm_stats *st;
	const char *uid;
	size_t n;

	/*
	 * Our host's frames are dropped before the cost of decoding them; the
	 * echo of one of our own publishes measures the Redis lag.
	 */
	if (hostlen > 0 && cf_frame_peek_uid(frame, len, &uid, &n) ==
	    CF_FRAME_OK && n > hostlen && memcmp(uid, w->host, hostlen) == 0 &&
	    uid[hostlen] == '/') {
		if (n == strlen(w->uid) && memcmp(uid, w->uid, n) == 0 &&
		    w->relay != NULL && w->relay->sent_n > 0) {
			observe_lag(w, w->relay->sent_us[w->relay->sent_head]);
			w->relay->sent_head = (w->relay->sent_head + 1) %
			    RELAY_LAG_RING;
			w->relay->sent_n--;
		}
		return;
	}
	memset(&b, 0, sizeof(b));
	if (cf_frame_decode(frame, len, &b) != CF_FRAME_OK) {
		cf_log_warnx("relay: undecodable frame of %zu bytes dropped", len);
		return;
	}
	if (strcmp(b.uid, w->uid) != 0 && !(b.flags & CF_FRAME_LOCAL)) {
		if ((st = cf_shm_stats(w->shm, w->slot)) != NULL)
			__atomic_add_fetch(&st->relay_in, 1, __ATOMIC_RELAXED);
		w->relay->sink->deliver(w, &b);
	}
	cf_frame_bcast_clear(&b);
}
