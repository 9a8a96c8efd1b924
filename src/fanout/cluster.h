/*
 * cluster.h -- presence across hosts, kept in Redis.
 *
 * Each worker publishes its own connection counts per presence key ("u:<id>",
 * "c:<channel>:u:<id>") into Redis hashes, keeps a heartbeat key alive, and
 * reaps the counts of workers whose heartbeat expired (a dead host).  The
 * Lua scripts return each key's cluster-wide total before and after a
 * change, so a 0 <-> 1 edge is seen by exactly one worker in the cluster.
 * Every worker mirrors the user totals ("u:" keys) from a pub/sub channel,
 * so "is this user online anywhere" is answered without waiting on Redis.
 * Without `redis` the module is off and callers use the shared memory.
 * The protocol and the Redis keys are described in HACKING.md.
 */
#ifndef CF_CLUSTER_H
#define CF_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

struct cf_worker;
struct cf_redis;

/* The channel carrying user totals: "<seq> <total> <key>". */
#define CF_CLUSTER_CHANNEL	"confab:presence"

/*
 * The result of a change: the key's cluster total before and after it, or
 * -1, -1 when the change's outcome is unknown (Redis lost meanwhile, or
 * this worker had been reaped): a resynchronisation then reports the edges
 * through the registered edge function.  arg is the caller's, to be freed by it.
 */
typedef void	(*cf_cluster_done_fn)(void *arg, long long before,
		    long long after);

/*
 * The application's presence (registered before cf_cluster_start, which
 * the relay runs): edge(key, before, after) for a key's cluster total that
 * changed with no socket of ours behind it (another worker's reaped
 * counts, a dead host); heal(key, total) for a user who came or went
 * unannounced during a Redis outage.  Both must be set when redis is on.
 */
typedef void	(*cf_cluster_edge_fn)(const char *key, long long before,
		    long long after);
typedef void	(*cf_cluster_heal_fn)(const char *key, uint32_t total);
void		 cf_cluster_on_edge(cf_cluster_edge_fn edge,
		    cf_cluster_heal_fn heal);

/*
 * The module's state (w->cluster, with the functions registered here):
 * allocated before the shell wires anything, 0/-1; released once the loop
 * is closed (NULL-safe).
 */
int		 cf_cluster_init(struct cf_worker *w);
void		 cf_cluster_free(struct cf_worker *w);
/* Start on the relay's Redis client (not owned); redis NULL: off.  0/-1. */
int		 cf_cluster_start(struct cf_worker *w, struct cf_redis *redis);
/* Stop the timers and forget the state.  Call before freeing the client. */
void		 cf_cluster_stop(void);
/* 1 when `redis` is configured (cluster presence is on). */
int		 cf_cluster_on(void);
/* From the relay: the Redis client went up (1) or down (0). */
void		 cf_cluster_state(int up);
/* From the relay: a message on CF_CLUSTER_CHANNEL. */
void		 cf_cluster_message(const uint8_t *p, size_t len);
/*
 * This worker's count for key changed by delta.  Returns 0 when fn (may be
 * NULL) will be called with the cluster totals, or -1 when Redis is not reachable now
 * (the change is kept and synchronised when it is back; fn is not called
 * and the caller falls back to this host's counts).
 */
int		 cf_cluster_change(const char *key, int delta,
		    cf_cluster_done_fn fn, void *arg);
/* The cluster total of a "u:" key (at least this host's count). */
uint32_t	 cf_cluster_total(const char *key);
/* fn for each "u:" key online anywhere, with its total.  Returns the count. */
size_t		 cf_cluster_each(int (*fn)(void *arg, const char *key,
		    uint32_t total), void *arg);
/* Changes sent and not yet answered (a draining worker waits for them). */
size_t		 cf_cluster_pending(void);

#endif
