/*
 * redis.h -- a self-healing Redis pub/sub client on a libuv loop (hiredis
 * 0.14 async, with our own libuv adapter: the one shipped with 0.14 never
 * reports asynchronous socket errors, so a lost Redis would never be seen).
 *
 * Two connections: one subscribes (PSUBSCRIBE/SUBSCRIBE), one publishes.
 * Each reconnects on its own with backoff (100 ms doubling to 5 s) and a
 * connect watchdog; the subscriber re-issues its subscriptions.  Publishes
 * made while the publisher is down are queued up to a bound, then dropped
 * (pub/sub is at-most-once anyway).
 */
#ifndef CF_REDIS_H
#define CF_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <uv.h>

struct cf_redis;

struct cf_redis_cbs {
	/* A message on a subscribed channel or pattern.  Bytes are only valid during the call. */
	void	(*on_message)(void *arg, const char *channel, size_t chlen,
		    const uint8_t *payload, size_t len);
	/* up = 1 when both connections are ready, 0 when either was lost. */
	void	(*on_state)(void *arg, int up);
};

/*
 * Start connecting.  patterns/channels are copied.  Returns NULL on
 * allocation failure only; connection problems are retried forever.
 */
struct cf_redis	*cf_redis_new(uv_loop_t *loop, const char *host, int port,
		    int db, const char *const *patterns, size_t npatterns,
		    const char *const *channels, size_t nchannels,
		    const struct cf_redis_cbs *cbs, void *arg);
/* Queue PUBLISH channel payload (copied).  0, or -1 when dropped. */
int		 cf_redis_publish(struct cf_redis *r, const char *channel,
		    const uint8_t *payload, size_t len);
/*
 * A command with a reply on the publisher connection (argv/argvlen are
 * copied).  cb runs once with the reply, or with NULL when the connection
 * is lost or the client freed first (cb must then only release arg).
 * Unlike PUBLISH, commands are not queued while the publisher is down:
 * returns -1 at once (cb not called), else 0.
 */
int		 cf_redis_command(struct cf_redis *r,
		    void (*cb)(void *arg, struct redisReply *reply), void *arg,
		    int argc, const char **argv, const size_t *argvlen);
/* PUBLISH commands queued or not yet answered by Redis. */
size_t		 cf_redis_unanswered(const struct cf_redis *r);
/* 1 when both connections are up. */
int		 cf_redis_is_up(const struct cf_redis *r);
/*
 * Disconnect and free.  libuv handles close asynchronously: the loop must
 * run afterwards for the memory to be released.  NULL-safe.
 */
void		 cf_redis_free(struct cf_redis *r);

#endif
