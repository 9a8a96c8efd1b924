/*
 * shm.h -- the shared-memory segment every process of one host maps.
 *
 * The master creates it (mmap MAP_SHARED|MAP_ANONYMOUS) before forking, so
 * every worker inherits the mapping.  It holds a header {magic, version,
 * size}, one cache-line-aligned stats block per worker slot (written only by
 * that slot's worker), and the presence table: user id -> connection count
 * per worker slot.
 *
 * Crash safety: each count is written only by its slot's worker, so a worker
 * killed at any instant leaves at worst its own column stale; the table's
 * structure (insert/delete) is guarded by a robust process-shared mutex, and
 * a locker that gets EOWNERDEAD rebuilds the index before marking it
 * consistent.  The master calls cf_shm_purge_slot() for a dead worker before
 * respawning it, which zeroes that worker's column and stats.
 */
#ifndef CF_SHM_H
#define CF_SHM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CF_SHM_MAX_SLOTS	64
#define CF_SHM_USER_MAX		96	/* bytes of a key ("u:<id>", "c:<channel>:u:<id>"), NUL included */

struct cf_shm;

#define CF_SHM_EVENT_NAMES	48	/* event table rows; the last: unknown */
#define CF_SHM_ERROR_CODES	32	/* distinct error codes counted per slot */
#define CF_SHM_CODE_MAX		32	/* bytes of an error code, NUL included */
#define CF_SHM_DB_BUCKETS	12	/* finite buckets of the write histogram */
/*
 * Counters of unauthenticated sessions by client address: an address (an
 * IPv6 one by its /64) hashes with the run id as key to one of these, and
 * the host-wide count of a bucket is the sum over the slots.  Addresses
 * that share a bucket share its count: the per-address cap can only be
 * met early, never exceeded.
 */
#define CF_SHM_ADDR_BUCKETS	8192

/* Upper bounds (microseconds) of the database write latency buckets. */
extern const uint32_t cf_shm_db_bucket_us[CF_SHM_DB_BUCKETS];

/* An error code and how often it was sent (acks and error events). */
struct cf_shm_error {
	char		 code[CF_SHM_CODE_MAX];
	uint64_t	 count;
};

/*
 * Per-worker counters; one writer (the slot's worker), any reader, except
 * `restarts`, written only by the master and kept by cf_shm_purge_slot().
 * Counters restart from 0 with a new worker process, as Prometheus
 * counters may.
 */
struct cf_shm_stats {
	pid_t		 pid;
	uint64_t	 started_ms;
	uint64_t	 connections;	/* Engine.IO sessions open now */
	uint64_t	 ws_connections;
	uint64_t	 polling_connections;
	uint64_t	 events_in;
	uint64_t	 packets_out;
	uint64_t	 relay_out;
	uint64_t	 relay_in;
	uint64_t	 redis_up;	/* 1 while the worker's Redis link is up */
	uint64_t	 redis_errors;	/* Redis outages and dropped publishes */
	uint64_t	 deliveries_out;	/* Engine.IO message packets queued */
	uint64_t	 slow_consumers;	/* sessions closed over max-output-buffer */
	uint64_t	 events_by_name[CF_SHM_EVENT_NAMES];
	uint64_t	 db_write_buckets[CF_SHM_DB_BUCKETS]; /* not cumulative */
	uint64_t	 db_write_count;
	uint64_t	 db_write_sum_us;
	uint64_t	 db_statements;	/* statements store_stmt.c prepared */
	uint64_t	 relay_lag_count;	/* relay frames from other workers */
	uint64_t	 relay_lag_sum_us;	/* publish to receipt, summed */
	uint32_t	 nerrors;		/* errors[] in use (release store) */
	struct cf_shm_error errors[CF_SHM_ERROR_CODES];
	uint64_t	 restarts;		/* by the master */
	uint32_t	 ready;		/* 1 once the worker accepts connections */
	uint64_t	 unauthenticated;	/* sessions not authenticated yet */
	uint64_t	 unauth_refused;	/* handshakes refused by the caps */
	uint64_t	 attach_closed;		/* closed for their attachments */
	uint64_t	 hook_delivered;	/* webhook deliveries answered 2xx */
	uint64_t	 hook_failed;		/* given up after webhook-retry-for */
	/* Connection state recovery (eio/recover.c). */
	uint64_t	 rec_attempts;	/* CONNECTs carrying a pid */
	uint64_t	 rec_ok;	/* sockets taken over */
	uint64_t	 rec_unknown;	/* no ghost with that pid here */
	uint64_t	 rec_offset;	/* offset not among those kept */
	uint64_t	 rec_refused;	/* the application refused (token) */
	uint64_t	 rec_expired;	/* ghosts past recovery-window */
	uint64_t	 rec_overflow;	/* ghosts over recovery-max-events */
	uint64_t	 rec_replayed;	/* events sent again on recovery */
	uint64_t	 rec_ghosts;	/* ghosts now */
	/* The outbox as this worker last measured it (all endpoints, the
	 * database's view), and when (ms since the epoch; 0: never). */
	uint64_t	 hook_depth;
	uint64_t	 hook_oldest_ms;	/* creation of the oldest; 0: none */
	uint64_t	 hook_measured_ms;
	uint32_t	 unauth_by_addr[CF_SHM_ADDR_BUCKETS];
} __attribute__((aligned(128)));

/* Record one database write of `us` microseconds (the slot's worker). */
void		 cf_shm_observe_db_write(struct cf_shm_stats *st, uint64_t us);
/*
 * Count one error sent with `code` (the slot's worker).  Codes beyond
 * CF_SHM_ERROR_CODES distinct ones are counted as "other".
 */
void		 cf_shm_count_error(struct cf_shm_stats *st, const char *code);

/*
 * Create and initialise a segment for nslots workers (<= CF_SHM_MAX_SLOTS)
 * and a presence table of `capacity` users.  The caller (the master) frees
 * it with cf_shm_destroy.  NULL on failure (errno set).
 */
struct cf_shm	*cf_shm_create(unsigned nslots, unsigned capacity);
/* Unmap.  NULL-safe.  Children keep their own inherited mapping. */
void		 cf_shm_destroy(struct cf_shm *shm);
unsigned	 cf_shm_nslots(const struct cf_shm *shm);
/* 8 random URL-safe characters drawn at creation: this host's run id. */
const char	*cf_shm_run_id(const struct cf_shm *shm);

/* The stats block of a slot (NULL when slot is out of range or shm NULL). */
struct cf_shm_stats *cf_shm_stats(struct cf_shm *shm, unsigned slot);
/*
 * 1 when a worker process runs in that slot (its stats block names a pid;
 * the master clears it when the worker dies, and a slot stopped for
 * crash-looping stays clear): only then is its inbox read, so only then
 * is a connection or request passed to it.
 */
int		 cf_shm_slot_running(struct cf_shm *shm, unsigned slot);

/*
 * Forget everything a (dead) worker slot contributed: its presence counts
 * and stats.  Also repairs the table lock if the worker died holding it.
 * Called by the master before respawning the slot.  0 or -1.
 */
int		 cf_shm_purge_slot(struct cf_shm *shm, unsigned slot);

/*
 * Add delta (+1 / -1) to user's count for slot.  *total receives the user's
 * count summed over all slots after the change (so the caller sees the
 * 0 -> 1 and 1 -> 0 edges).  Returns 0, or -1 with errno ENOSPC when the
 * table is full, EINVAL for a bad slot or an over-long user id.
 */
int		 cf_shm_presence_add(struct cf_shm *shm, unsigned slot,
		    const char *user, int delta, uint32_t *total);
/* The user's total count over all slots (0 when unknown). */
uint32_t	 cf_shm_presence_get(struct cf_shm *shm, const char *user);
/*
 * Call fn for each user with a non-zero total.  Stops early when fn returns
 * non-zero.  Returns the number of users visited.
 */
size_t		 cf_shm_presence_each(struct cf_shm *shm,
		    int (*fn)(void *arg, const char *user, uint32_t total),
		    void *arg);
/* The keys with a non-zero total that start with prefix ("u:": users). */
uint64_t	 cf_shm_presence_count(struct cf_shm *shm, const char *prefix);

#endif
