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
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "relay/frame.h"
#include "relay/redis.h"
#include "shm/shm.h"
#include "fanout/cluster.h"
#include "fanout/relay.h"
#include "fanout/room.h"
#include "eio/session.h"
#include "ipc.h"
#include "proc.h"

#define CF_RELAY_PREFIX	"socket.io"
#define CF_RELAY_REQUEST	"socket.io-request#/#"

/* Requests of the socket.io adapter protocol that backends send. */
#define REQ_REMOTE_JOIN		2
#define REQ_REMOTE_LEAVE	3
#define REQ_REMOTE_DISCONNECT	4

#define RELAY_LAG_RING	1024	/* own Redis publishes awaiting their echo */

struct cf_relay {
	struct cf_worker	*w;
	struct cf_redis		*redis;
	int			 up;
	size_t			 hostlen;	/* strlen(w->host) */
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

/* 1 when s is selected by opts {rooms, except} of an adapter request. */
static int
selected(struct cf_sess *s, const json_t *rooms, const json_t *except)
{
	const json_t *v;
	size_t i;
	int in = json_array_size(rooms) == 0;

	json_array_foreach(rooms, i, v)
		if (json_is_string(v) && (cf_room_has(s, json_string_value(v)) ||
		    strcmp(s->id, json_string_value(v)) == 0))
			in = 1;
	if (!in)
		return (0);
	json_array_foreach(except, i, v)
		if (json_is_string(v) && (cf_room_has(s, json_string_value(v)) ||
		    strcmp(s->id, json_string_value(v)) == 0))
			return (0);
	return (1);
}

/*
 * socketsJoin / socketsLeave / disconnectSockets from a backend
 * (@socket.io/redis-emitter): JSON {type, opts: {rooms, except}, rooms,
 * close}.  Every worker applies it to its own sockets.  The targets are
 * collected first: joining, leaving and disconnecting change the rooms
 * being walked.
 */
static void
relay_request(struct cf_worker *w, const uint8_t *p, size_t len)
{
	struct cf_sess *s, *tmp, **sel = NULL;
	const json_t *opts, *rooms, *except, *v;
	json_t *req;
	size_t n = 0, i, j;
	int type;

	if (len == 0 || p[0] != '{' ||
	    (req = json_loadb((const char *)p, len, 0, NULL)) == NULL)
		return;
	type = (int)json_integer_value(json_object_get(req, "type"));
	if (type != REQ_REMOTE_JOIN && type != REQ_REMOTE_LEAVE &&
	    type != REQ_REMOTE_DISCONNECT)
		goto done;
	opts = json_object_get(req, "opts");
	rooms = json_object_get(opts, "rooms");
	except = json_object_get(opts, "except");
	if ((sel = calloc(w->nsessions + 1, sizeof(*sel))) == NULL)
		goto done;
	HASH_ITER(hh, w->sessions, s, tmp)
		if (s->connected && s->state == CF_S_OPEN &&
		    selected(s, rooms, except))
			sel[n++] = s;
	for (i = 0; i < n; i++) {
		s = sel[i];
		if (type == REQ_REMOTE_DISCONNECT) {
			cf_sock_disconnect(s, json_is_true(json_object_get(req,
			    "close")));
			continue;
		}
		json_array_foreach(json_object_get(req, "rooms"), j, v) {
			if (!json_is_string(v))
				continue;
			if (type == REQ_REMOTE_JOIN)
				(void)cf_room_join(w, s, json_string_value(v));
			else
				cf_room_leave(w, s, json_string_value(v));
		}
	}
	cf_log_debug("relay: adapter request %d applied to %zu sockets", type,
	    n);
 done:
	free(sel);
	json_decref(req);
}

static void
redis_message(void *arg, const char *channel, size_t chlen,
    const uint8_t *payload, size_t len)
{
	struct cf_relay *r = arg;

	if (chlen == sizeof(CF_RELAY_REQUEST) - 1 &&
	    memcmp(channel, CF_RELAY_REQUEST, chlen) == 0) {
		relay_request(r->w, payload, len);
		return;
	}
	if (chlen == sizeof(CF_CLUSTER_CHANNEL) - 1 &&
	    memcmp(channel, CF_CLUSTER_CHANNEL, chlen) == 0) {
		cf_cluster_message(payload, len);
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
cf_relay_new(struct cf_worker *w)
{
	static const struct cf_redis_cbs cbs = { redis_message, redis_state };
	const char *patterns[1] = { CF_RELAY_PREFIX "#/#*" };
	const char *channels[2] = { CF_RELAY_REQUEST, CF_CLUSTER_CHANNEL };
	struct cf_relay *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	r->w = w;
	r->hostlen = strlen(w->host);
	if (w->conf->redis_host != NULL) {
		r->redis = cf_redis_new(&w->loop, w->conf->redis_host,
		    w->conf->redis_port, w->conf->redis_db, patterns, 1,
		    channels, 2, &cbs, r);
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
		cf_room_deliver(w, &b);
	}
	cf_frame_bcast_clear(&b);
}
