/*
 * relay.c -- broadcast frames to the other workers and hosts.
 *
 * Without redis: each frame goes to every other worker's inbox (ipc.c); the
 * inbox of one worker is FIFO for each sender, so one sender's broadcasts
 * arrive in the order they were emitted.  With redis: PUBLISH on the
 * adapter's channel, PSUBSCRIBE "socket.io#/#*"; every worker, ours
 * included, hears the message, and drops its own by uid.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "relay/frame.h"
#include "relay/redis.h"
#include "shm/shm.h"
#include "worker/relay.h"
#include "worker/room.h"
#include "worker/worker.h"

#define CF_RELAY_PREFIX	"socket.io"

struct cf_relay {
	struct cf_worker	*w;
	struct cf_redis		*redis;
	int			 up;
};

static void
redis_message(void *arg, const char *channel, size_t chlen,
    const uint8_t *payload, size_t len)
{
	struct cf_relay *r = arg;

	(void)channel;
	(void)chlen;
	cf_relay_input(r->w, payload, len);
}

static void
redis_state(void *arg, int up)
{
	struct cf_relay *r = arg;

	r->up = up;
}

struct cf_relay *
cf_relay_new(struct cf_worker *w)
{
	static const struct cf_redis_cbs cbs = { redis_message, redis_state };
	const char *patterns[1] = { CF_RELAY_PREFIX "#/#*" };
	struct cf_relay *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	r->w = w;
	if (w->conf->redis_host != NULL) {
		r->redis = cf_redis_new(&w->loop, w->conf->redis_host,
		    w->conf->redis_port, w->conf->redis_db, patterns, 1, NULL, 0,
		    &cbs, r);
		if (r->redis == NULL) {
			free(r);
			return (NULL);
		}
	}
	return (r);
}

void
cf_relay_free(struct cf_relay *r)
{
	if (r == NULL)
		return;
	cf_redis_free(r->redis);
	free(r);
}

int
cf_relay_publish(struct cf_relay *r, const char *room, const uint8_t *frame,
    size_t len)
{
	struct cf_shm_stats *st;
	char chan[512];

	if ((st = cf_shm_stats(r->w->shm, r->w->slot)) != NULL)
		__atomic_add_fetch(&st->relay_out, 1, __ATOMIC_RELAXED);
	if (r->redis == NULL) {
		cf_ipc_send_all(r->w, CF_IPC_RELAY, frame, len);
		return (0);
	}
	if (cf_frame_channel(chan, sizeof(chan), CF_RELAY_PREFIX, "/", room) == -1)
		return (-1);
	return (cf_redis_publish(r->redis, chan, frame, len));
}

void
cf_relay_input(struct cf_worker *w, const uint8_t *frame, size_t len)
{
	struct cf_frame_bcast b;
	struct cf_shm_stats *st;

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
