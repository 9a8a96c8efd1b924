/*
 * shm.c -- the shared-memory segment: header, per-slot stats and the
 * presence table.
 *
 * Layout of the mapping (one anonymous MAP_SHARED region, page aligned):
 *
 *   struct cf_shm                 header, lock, table bookkeeping
 *   struct cf_shm_stats[nslots]   at a 128-byte aligned offset
 *   entries[capacity]             each `stride` bytes:
 *                                   uint32_t state; char user[64];
 *                                   uint32_t count[nslots];
 *
 * The presence table is open addressing with linear probing over a power of
 * two number of entries.  An entry is EMPTY (ends every probe chain), USED
 * or a TOMB (deleted, keeps chains intact).  Entry states and counts are
 * accessed with __atomic builtins, so cf_shm_presence_get/_each need no
 * lock; every change (insert, count update, delete, rebuild) is made under
 * the robust mutex.  A lock-free reader may transiently miss an entry that
 * is being moved by a rebuild, which is acceptable for presence.
 *
 * Crash safety of the writer protocol, so a locker that sees EOWNERDEAD can
 * always repair the table:
 *   - an insert writes user and counts into an EMPTY or TOMB entry and only
 *     then publishes it by storing USED;
 *   - a delete stores TOMB once the counts sum to zero;
 *   - a rebuild moves an entry towards its home by first publishing a copy
 *     in an earlier TOMB of its own chain, then tombstoning the original.
 *     A crash between the two leaves a duplicate with identical counts;
 *     the repair tombstones whichever copy a lookup would not find first.
 *     TOMB -> EMPTY conversions happen only once no chain crosses a TOMB.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shm/shm.h"
#include "util.h"

#define SHM_MAGIC	0x43465348u	/* "CFSH" */
#define SHM_VERSION	1u
#define SHM_MAX_CAP	(1u << 24)

enum {
	ENT_EMPTY = 0,
	ENT_USED,
	ENT_TOMB
};

struct cf_shm {
	uint32_t	 magic;
	uint32_t	 version;
	size_t		 size;		/* bytes mapped */
	unsigned	 nslots;
	unsigned	 capacity;	/* entries, a power of two */
	size_t		 stats_off;
	size_t		 table_off;
	size_t		 stride;	/* bytes per entry */
	unsigned	 used;		/* under lock */
	unsigned	 tombs;		/* under lock */
	pid_t		 holder;	/* lock holder, for audit */
	uint64_t	 repairs;	/* EOWNERDEAD recoveries */
	pthread_mutex_t	 lock;
	char		 run_id[12];	/* random per master run, NUL-terminated */
};

struct shm_entry {
	uint32_t	 state;
	char		 user[CF_SHM_USER_MAX];
	uint32_t	 count[];	/* nslots of them */
};

/* Test hook, declared by tests/unit/test_shm.c only. */
int	 cf_shm_test_lock(struct cf_shm *);

static size_t
align_up(size_t n, size_t a)
{
	return ((n + a - 1) & ~(a - 1));
}

static struct shm_entry *
entry_at(const struct cf_shm *shm, unsigned i)
{
	return ((struct shm_entry *)((char *)shm + shm->table_off +
	    (size_t)i * shm->stride));
}

static uint32_t
ent_state(const struct shm_entry *e)
{
	return (__atomic_load_n(&e->state, __ATOMIC_ACQUIRE));
}

static void
ent_set_state(struct shm_entry *e, uint32_t s)
{
	__atomic_store_n(&e->state, s, __ATOMIC_RELEASE);
}

static uint32_t
ent_total(const struct cf_shm *shm, const struct shm_entry *e)
{
	uint32_t	 t = 0;
	unsigned	 s;

	for (s = 0; s < shm->nslots; s++)
		t += __atomic_load_n(&e->count[s], __ATOMIC_RELAXED);
	return (t);
}

/* FNV-1a, 32 bits. */
static uint32_t
hash_user(const char *user)
{
	uint32_t	 h = 2166136261u;

	for (; *user != '\0'; user++) {
		h ^= (uint8_t)*user;
		h *= 16777619u;
	}
	return (h);
}

/*
 * Validate a user id: non-empty and shorter than CF_SHM_USER_MAX.  0 or -1
 * with errno EINVAL.
 */
static int
check_user(const char *user)
{
	if (user == NULL || user[0] == '\0' ||
	    memchr(user, '\0', CF_SHM_USER_MAX) == NULL) {
		errno = EINVAL;
		return (-1);
	}
	return (0);
}

/*
 * Probe for user.  Returns the index of its USED entry, or -1.  When free
 * is not NULL it receives the first TOMB or EMPTY index met (the insert
 * position), or -1 when the whole table was scanned without one.  Safe
 * without the lock.
 */
static long
find(const struct cf_shm *shm, const char *user, long *free)
{
	unsigned	 mask = shm->capacity - 1, i, n;
	uint32_t	 st;
	struct shm_entry *e;

	if (free != NULL)
		*free = -1;
	i = hash_user(user) & mask;
	for (n = 0; n < shm->capacity; n++, i = (i + 1) & mask) {
		e = entry_at(shm, i);
		st = ent_state(e);
		if (st == ENT_EMPTY) {
			if (free != NULL && *free == -1)
				*free = i;
			return (-1);
		}
		if (st == ENT_TOMB) {
			if (free != NULL && *free == -1)
				*free = i;
			continue;
		}
		if (strncmp(e->user, user, CF_SHM_USER_MAX) == 0)
			return (i);
	}
	return (-1);
}

/*
 * Move USED entries towards their home position into earlier tombstones of
 * their own chain, until no entry can move; then every remaining tombstone
 * is crossed by no chain and becomes EMPTY.  Lock held.  Each step leaves
 * a table that lookups (and the repair) handle correctly.
 */
static void
compact(struct cf_shm *shm)
{
	unsigned	 mask = shm->capacity - 1, i, j, pass;
	long		 slot;
	int		 moved;
	struct shm_entry *e, *d;

	for (pass = 0; pass < shm->capacity; pass++) {
		moved = 0;
		for (j = 0; j < shm->capacity; j++) {
			e = entry_at(shm, j);
			if (ent_state(e) != ENT_USED)
				continue;
			slot = -1;
			for (i = hash_user(e->user) & mask; i != j;
			    i = (i + 1) & mask) {
				if (ent_state(entry_at(shm, i)) == ENT_TOMB) {
					slot = i;
					break;
				}
			}
			if (slot == -1)
				continue;
			d = entry_at(shm, (unsigned)slot);
			memcpy(d->user, e->user, CF_SHM_USER_MAX);
			for (i = 0; i < shm->nslots; i++)
				__atomic_store_n(&d->count[i],
				    __atomic_load_n(&e->count[i],
				    __ATOMIC_RELAXED), __ATOMIC_RELAXED);
			ent_set_state(d, ENT_USED);
			ent_set_state(e, ENT_TOMB);
			moved = 1;
		}
		if (!moved)
			break;
	}
	for (j = 0; j < shm->capacity; j++) {
		e = entry_at(shm, j);
		if (ent_state(e) == ENT_TOMB)
			ent_set_state(e, ENT_EMPTY);
	}
	shm->tombs = 0;
}

/*
 * Repair after a lock holder died: tombstone USED entries whose counts sum
 * to zero and duplicates left by an interrupted move (the copy a lookup
 * does not reach first), recount used/tombs, then compact.  Lock held.
 */
static void
repair(struct cf_shm *shm)
{
	unsigned	 i, used = 0, tombs = 0;
	long		 first;
	struct shm_entry *e;

	for (i = 0; i < shm->capacity; i++) {
		e = entry_at(shm, i);
		if (ent_state(e) != ENT_USED)
			continue;
		if (memchr(e->user, '\0', CF_SHM_USER_MAX) == NULL ||
		    ent_total(shm, e) == 0) {
			ent_set_state(e, ENT_TOMB);
			continue;
		}
		first = find(shm, e->user, NULL);
		if (first != (long)i)
			ent_set_state(e, ENT_TOMB);
	}
	for (i = 0; i < shm->capacity; i++) {
		switch (ent_state(entry_at(shm, i))) {
		case ENT_USED:
			used++;
			break;
		case ENT_TOMB:
			tombs++;
			break;
		default:
			break;
		}
	}
	shm->used = used;
	shm->tombs = tombs;
	shm->repairs++;
	compact(shm);
}

/*
 * Take the table lock, repairing the table when the previous holder died
 * with it.  0, or -1 with errno set.
 */
static int
shm_lock(struct cf_shm *shm)
{
	int	 rc;

	rc = pthread_mutex_lock(&shm->lock);
	if (rc == EOWNERDEAD) {
		repair(shm);
		rc = pthread_mutex_consistent(&shm->lock);
		if (rc != 0) {
			pthread_mutex_unlock(&shm->lock);
			errno = rc;
			return (-1);
		}
	} else if (rc != 0) {
		errno = rc;
		return (-1);
	}
	__atomic_store_n(&shm->holder, getpid(), __ATOMIC_RELAXED);
	return (0);
}

static void
shm_unlock(struct cf_shm *shm)
{
	__atomic_store_n(&shm->holder, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&shm->lock);
}

/* Compact once tombstones reach a quarter of the table.  Lock held. */
static void
maybe_compact(struct cf_shm *shm)
{
	if (shm->tombs > 0 && shm->tombs >= shm->capacity / 4)
		compact(shm);
}

/*
 * Create the segment.  The mapping starts with struct cf_shm, so the same
 * pointer is valid in every child forked afterwards.
 */
struct cf_shm *
cf_shm_create(unsigned nslots, unsigned capacity)
{
	struct cf_shm	*shm;
	pthread_mutexattr_t attr;
	uint8_t		 rnd[6];
	size_t		 stats_off, table_off, stride, size;
	unsigned	 cap;
	int		 rc;

	if (nslots == 0 || nslots > CF_SHM_MAX_SLOTS || capacity == 0 ||
	    capacity > SHM_MAX_CAP) {
		errno = EINVAL;
		return (NULL);
	}
	for (cap = 1; cap < capacity; cap <<= 1)
		;
	stats_off = align_up(sizeof(*shm), 128);
	table_off = align_up(stats_off +
	    (size_t)nslots * sizeof(struct cf_shm_stats), 128);
	stride = align_up(sizeof(struct shm_entry) +
	    (size_t)nslots * sizeof(uint32_t), 8);
	size = table_off + (size_t)cap * stride;

	shm = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		return (NULL);

	if ((rc = pthread_mutexattr_init(&attr)) != 0)
		goto fail;
	if ((rc = pthread_mutexattr_setpshared(&attr,
	    PTHREAD_PROCESS_SHARED)) != 0 ||
	    (rc = pthread_mutexattr_setrobust(&attr,
	    PTHREAD_MUTEX_ROBUST)) != 0 ||
	    (rc = pthread_mutex_init(&shm->lock, &attr)) != 0) {
		pthread_mutexattr_destroy(&attr);
		goto fail;
	}
	pthread_mutexattr_destroy(&attr);

	shm->magic = SHM_MAGIC;
	shm->version = SHM_VERSION;
	shm->size = size;
	shm->nslots = nslots;
	shm->capacity = cap;
	shm->stats_off = stats_off;
	shm->table_off = table_off;
	shm->stride = stride;
	if (cf_random_bytes(rnd, sizeof(rnd)) == -1) {
		rc = errno;
		goto fail;
	}
	cf_base64url_encode(shm->run_id, rnd, sizeof(rnd));
	shm->run_id[8] = '\0';
	return (shm);

fail:
	munmap(shm, size);
	errno = rc;
	return (NULL);
}

const char *
cf_shm_run_id(const struct cf_shm *shm)
{
	return (shm->run_id);
}

void
cf_shm_destroy(struct cf_shm *shm)
{
	if (shm == NULL)
		return;
	munmap(shm, shm->size);
}

unsigned
cf_shm_nslots(const struct cf_shm *shm)
{
	return (shm->nslots);
}

struct cf_shm_stats *
cf_shm_stats(struct cf_shm *shm, unsigned slot)
{
	if (shm == NULL || slot >= shm->nslots)
		return (NULL);
	return ((struct cf_shm_stats *)((char *)shm + shm->stats_off) + slot);
}

int
cf_shm_slot_running(struct cf_shm *shm, unsigned slot)
{
	struct cf_shm_stats *st;

	if ((st = cf_shm_stats(shm, slot)) == NULL)
		return (0);
	return (__atomic_load_n(&st->pid, __ATOMIC_RELAXED) > 0);
}

const uint32_t cf_shm_db_bucket_us[CF_SHM_DB_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	250000, 1000000
};

void
cf_shm_observe_db_write(struct cf_shm_stats *st, uint64_t us)
{
	unsigned	 i;

	if (st == NULL)
		return;
	for (i = 0; i < CF_SHM_DB_BUCKETS; i++)
		if (us <= cf_shm_db_bucket_us[i]) {
			__atomic_add_fetch(&st->db_write_buckets[i], 1,
			    __ATOMIC_RELAXED);
			break;
		}
	__atomic_add_fetch(&st->db_write_sum_us, us, __ATOMIC_RELAXED);
	__atomic_add_fetch(&st->db_write_count, 1, __ATOMIC_RELEASE);
}

/*
 * The one writer appends a new code by filling the entry first and then
 * publishing the count of entries with a release store, so a reader that
 * loads nerrors with acquire sees whole codes.
 */
void
cf_shm_count_error(struct cf_shm_stats *st, const char *code)
{
	uint32_t	 i, n;

	if (st == NULL || code == NULL)
		return;
	if (strlen(code) >= CF_SHM_CODE_MAX)
		code = "other";
	n = __atomic_load_n(&st->nerrors, __ATOMIC_RELAXED);
	for (i = 0; i < n; i++)
		if (strcmp(st->errors[i].code, code) == 0)
			break;
	if (i == n) {
		if (n == CF_SHM_ERROR_CODES - 1 && strcmp(code, "other") != 0)
			code = "other";	/* keep the last entry for it */
		for (i = 0; i < n; i++)
			if (strcmp(st->errors[i].code, code) == 0)
				break;
	}
	if (i == n) {
		if (n == CF_SHM_ERROR_CODES)
			return;
		memset(st->errors[n].code, 0, CF_SHM_CODE_MAX);
		memcpy(st->errors[n].code, code, strlen(code));
		st->errors[n].count = 0;
		__atomic_store_n(&st->nerrors, n + 1, __ATOMIC_RELEASE);
	}
	__atomic_add_fetch(&st->errors[i].count, 1, __ATOMIC_RELAXED);
}

/*
 * Zero the slot's column and stats, tombstoning users left with no
 * connection.  Repairs the lock if the slot's worker died holding it.
 */
int
cf_shm_purge_slot(struct cf_shm *shm, unsigned slot)
{
	struct shm_entry *e;
	unsigned	 i;

	if (slot >= shm->nslots) {
		errno = EINVAL;
		return (-1);
	}
	if (shm_lock(shm) == -1)
		return (-1);
	for (i = 0; i < shm->capacity; i++) {
		e = entry_at(shm, i);
		if (ent_state(e) != ENT_USED)
			continue;
		__atomic_store_n(&e->count[slot], 0, __ATOMIC_RELAXED);
		if (ent_total(shm, e) == 0) {
			ent_set_state(e, ENT_TOMB);
			shm->used--;
			shm->tombs++;
		}
	}
	{
		struct cf_shm_stats *st = cf_shm_stats(shm, slot);
		uint64_t restarts = st->restarts;	/* the master's */

		memset(st, 0, sizeof(*st));
		st->restarts = restarts;
	}
	maybe_compact(shm);
	shm_unlock(shm);
	return (0);
}

/*
 * Find or insert user, apply delta to its count in slot (never below
 * zero), report the new total and delete the entry when it reaches zero.
 * A -1 for an unknown user is ignored (total 0).
 */
int
cf_shm_presence_add(struct cf_shm *shm, unsigned slot, const char *user,
    int delta, uint32_t *total)
{
	struct shm_entry *e;
	long		 idx, freei;
	uint32_t	 c, t;
	unsigned	 i;

	if (slot >= shm->nslots || check_user(user) == -1 ||
	    delta < -1 || delta > 1) {
		errno = EINVAL;
		return (-1);
	}
	if (shm_lock(shm) == -1)
		return (-1);
	idx = find(shm, user, &freei);
	if (idx == -1) {
		if (delta <= 0) {
			shm_unlock(shm);
			if (total != NULL)
				*total = 0;
			return (0);
		}
		if (freei == -1 || shm->used >= shm->capacity) {
			shm_unlock(shm);
			errno = ENOSPC;
			return (-1);
		}
		e = entry_at(shm, (unsigned)freei);
		if (ent_state(e) == ENT_TOMB)
			shm->tombs--;
		memset(e->user, 0, CF_SHM_USER_MAX);
		strcpy(e->user, user);
		for (i = 0; i < shm->nslots; i++)
			__atomic_store_n(&e->count[i], 0, __ATOMIC_RELAXED);
		ent_set_state(e, ENT_USED);
		shm->used++;
	} else
		e = entry_at(shm, (unsigned)idx);

	c = __atomic_load_n(&e->count[slot], __ATOMIC_RELAXED);
	if (delta > 0)
		c++;
	else if (delta < 0 && c > 0)
		c--;
	__atomic_store_n(&e->count[slot], c, __ATOMIC_RELEASE);
	t = ent_total(shm, e);
	if (t == 0) {
		ent_set_state(e, ENT_TOMB);
		shm->used--;
		shm->tombs++;
		maybe_compact(shm);
	}
	shm_unlock(shm);
	if (total != NULL)
		*total = t;
	return (0);
}

uint32_t
cf_shm_presence_get(struct cf_shm *shm, const char *user)
{
	long	 idx;

	if (check_user(user) == -1)
		return (0);
	idx = find(shm, user, NULL);
	if (idx == -1)
		return (0);
	return (ent_total(shm, entry_at(shm, (unsigned)idx)));
}

/*
 * Visit users with a non-zero total, without the lock.  The user id is
 * copied first, so fn gets a stable NUL-terminated string.
 */
size_t
cf_shm_presence_each(struct cf_shm *shm,
    int (*fn)(void *arg, const char *user, uint32_t total), void *arg)
{
	struct shm_entry *e;
	char		 user[CF_SHM_USER_MAX];
	unsigned	 i;
	uint32_t	 t;
	size_t		 n = 0;

	for (i = 0; i < shm->capacity; i++) {
		e = entry_at(shm, i);
		if (ent_state(e) != ENT_USED)
			continue;
		memcpy(user, e->user, sizeof(user));
		user[sizeof(user) - 1] = '\0';
		t = ent_total(shm, e);
		if (t == 0 || user[0] == '\0')
			continue;
		n++;
		if (fn(arg, user, t) != 0)
			break;
	}
	return (n);
}

static int
count_prefix(void *arg, const char *key, uint32_t total)
{
	struct { const char *prefix; size_t len; uint64_t n; } *c = arg;

	(void)total;
	if (strncmp(key, c->prefix, c->len) == 0)
		c->n++;
	return (0);
}

uint64_t
cf_shm_presence_count(struct cf_shm *shm, const char *prefix)
{
	struct { const char *prefix; size_t len; uint64_t n; } c;

	c.prefix = prefix;
	c.len = strlen(prefix);
	c.n = 0;
	(void)cf_shm_presence_each(shm, count_prefix, &c);
	return (c.n);
}

/*
 * Test-only: take the table lock and return with it held, so a test can
 * kill the holder.  0 or -1.
 */
int
cf_shm_test_lock(struct cf_shm *shm)
{
	return (shm_lock(shm));
}
