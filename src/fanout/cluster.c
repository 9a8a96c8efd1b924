/*
 * cluster.c -- presence across hosts in Redis (see cluster.h, HACKING.md).
 *
 * Redis keys (every worker is a "member", named by its uid
 * "<host>/<slot>/<random>"):
 *   confab:p:<key>       hash member -> that member's count for key
 *   confab:keys:<member> set of the keys the member has a count for
 *   confab:hb:<member>   heartbeat, expires after presence-host-timeout
 *   confab:members       set of the members known
 *   confab:online        set of the "u:" keys whose total is > 0
 *   confab:seq           counter ordering the totals published on
 *                        CF_CLUSTER_CHANNEL
 * Every change runs as one Lua script, so the totals it returns (before,
 * after) are exact and each 0 <-> 1 edge is seen once in the cluster.  A
 * member whose heartbeat expired is reaped by the first survivor whose
 * REAP script runs; the script is atomic, so one worker announces each
 * edge.  Scripts are sent with EVAL on the publisher connection; nothing
 * here blocks the loop.
 *
 * This worker's own counts are kept here too (mine), so that a SYNC can
 * rewrite them after Redis restarted or after this worker was taken for
 * dead.  The mirror (rep) holds the "u:" totals of the whole cluster: a
 * published total applies when its sequence number is newer than what the
 * entry holds; a DUMP (after every reconnection, and every DUMP_EVERY
 * ticks since pub/sub is at-most-once) replaces what is older than it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <uthash.h>
#include <uv.h>

#include "log.h"
#include "relay/redis.h"
#include "shm/shm.h"
#include "util.h"
#include "fanout/cluster.h"
#include "proc.h"

#define SYNC_MAX_KEYS	100000	/* keys per SYNC script call */
#define DUMP_EVERY	20	/* ticks between two reloads of the mirror */

struct entry {
	UT_hash_handle	 hh;
	uint32_t	 n;
	long long	 seq;		/* rep: sequence of the value */
	char		 key[CF_SHM_USER_MAX];
};

struct change {
	cf_cluster_done_fn fn;
	void		*arg;
};

/* The module's state, cf_w->cluster (proc.h). */
struct cf_cluster_state {
	cf_cluster_edge_fn edge_fn;	/* registered by the application */
	cf_cluster_heal_fn heal_fn;
	struct cf_redis	*credis;
	struct entry	*mine;		/* this worker's counts > 0 */
	struct entry	*rep;		/* the cluster's "u:" totals */
	struct entry	*prev;		/* users online when Redis went away:
					   n = 1 on other hosts only, 2 here */
	struct entry	*told;		/* totals published since then */
	int		 healing;	/* an outage was seen, heal pending */
	uv_timer_t	 heal;
	int		 up;
	int		 syncing;	/* a SYNC is in flight */
	int		 sync_again;	/* another one is needed after it */
	size_t		 pending;
	uv_timer_t	 tick;
	int		 tick_on;
	unsigned	 ticks;
	uint64_t	 up_since;	/* ms, monotonic */
	long long	 floor_seq;	/* totals up to it came from the last
					   DUMP */
};

/* Sum of the member counts of hash h; helpers shared by the scripts. */
#define LUA_COMMON \
	"local function sum(h) local s = 0 " \
	"for _, v in ipairs(redis.call('HVALS', h)) do " \
	"s = s + tonumber(v) end return s end " \
	"local function note(k, b, a) " \
	"if b ~= a and string.sub(k, 1, 2) == 'u:' then " \
	"local seq = redis.call('INCR', 'confab:seq') " \
	"if a > 0 then redis.call('SADD', 'confab:online', k) " \
	"else redis.call('SREM', 'confab:online', k) end " \
	"redis.call('PUBLISH', '" CF_CLUSTER_CHANNEL "', " \
	"seq .. ' ' .. a .. ' ' .. k) end end " \
	"local function set(f, k, n) local h = 'confab:p:' .. k " \
	"local b = sum(h) " \
	"if n > 0 then redis.call('HSET', h, f, n) " \
	"redis.call('SADD', 'confab:keys:' .. f, k) " \
	"else redis.call('HDEL', h, f) " \
	"redis.call('SREM', 'confab:keys:' .. f, k) end " \
	"local a = sum(h) note(k, b, a) return b, a end "

/*
 * CHANGE member key count -> {before, after}, or {-1} when the member has
 * no heartbeat (it was reaped, or Redis lost its data): SYNC first.
 */
static const char lua_change[] = LUA_COMMON
	"if redis.call('EXISTS', 'confab:hb:' .. ARGV[1]) == 0 then "
	"return {-1} end "
	"local b, a = set(ARGV[1], ARGV[2], tonumber(ARGV[3])) "
	"return {b, a}";

/*
 * SYNC member ttl key count ... -> {key, before, after, ...} for every key
 * whose total changed: the member's counts become exactly the list.
 */
static const char lua_sync[] = LUA_COMMON
	"local f = ARGV[1] local want = {} local out = {} "
	"for i = 3, #ARGV, 2 do want[ARGV[i]] = tonumber(ARGV[i + 1]) end "
	"local function rec(k, b, a) if b ~= a then "
	"out[#out + 1] = k out[#out + 1] = b out[#out + 1] = a end end "
	"for _, k in ipairs(redis.call('SMEMBERS', 'confab:keys:' .. f)) do "
	"if want[k] == nil then local b, a = set(f, k, 0) rec(k, b, a) end end "
	"for i = 3, #ARGV, 2 do local k = ARGV[i] "
	"local b, a = set(f, k, want[k]) rec(k, b, a) end "
	"redis.call('SET', 'confab:hb:' .. f, '1', 'PX', ARGV[2]) "
	"redis.call('SADD', 'confab:members', f) "
	"return out";

/* HEARTBEAT member ttl -> 1, or 0 when the heartbeat was gone (SYNC). */
static const char lua_heartbeat[] =
	"if redis.call('EXISTS', 'confab:hb:' .. ARGV[1]) == 0 then "
	"return 0 end "
	"redis.call('SET', 'confab:hb:' .. ARGV[1], '1', 'PX', ARGV[2]) "
	"redis.call('SADD', 'confab:members', ARGV[1]) return 1";

/*
 * REAP -> {member, key, before, after, ...}: the counts of every member
 * without a heartbeat are removed; the changed totals are returned.
 */
static const char lua_reap[] = LUA_COMMON
	"local out = {} "
	"for _, f in ipairs(redis.call('SMEMBERS', 'confab:members')) do "
	"if redis.call('EXISTS', 'confab:hb:' .. f) == 0 then "
	"for _, k in ipairs(redis.call('SMEMBERS', 'confab:keys:' .. f)) do "
	"local b, a = set(f, k, 0) if b ~= a then out[#out + 1] = f "
	"out[#out + 1] = k out[#out + 1] = b out[#out + 1] = a end end "
	"redis.call('DEL', 'confab:keys:' .. f) "
	"redis.call('SREM', 'confab:members', f) end end "
	"return out";

/* DUMP -> {seq, key, total, ...} for every user online anywhere. */
static const char lua_dump[] = LUA_COMMON
	"local out = {tonumber(redis.call('GET', 'confab:seq') or '0')} "
	"for _, k in ipairs(redis.call('SMEMBERS', 'confab:online')) do "
	"local n = sum('confab:p:' .. k) if n > 0 then "
	"out[#out + 1] = k out[#out + 1] = n end end "
	"return out";

static void	 start_sync(void);
static void	 dump_reply(void *, struct redisReply *);
static void	 remember_online(void);
static void	 heal_cb(uv_timer_t *);

/* ------------------------------------------------------------ tables */

static struct entry *
entry_get(struct entry **t, const char *key, int create)
{
	struct entry *e;

	HASH_FIND_STR(*t, key, e);
	if (e != NULL || !create)
		return (e);
	if (strlen(key) >= sizeof(e->key) ||
	    (e = calloc(1, sizeof(*e))) == NULL)
		return (NULL);
	strcpy(e->key, key);
	HASH_ADD_STR(*t, key, e);
	return (e);
}

static void
entry_drop(struct entry **t, struct entry *e)
{
	HASH_DEL(*t, e);
	free(e);
}

static void
table_clear(struct entry **t)
{
	struct entry *e, *tmp;

	HASH_ITER(hh, *t, e, tmp)
		entry_drop(t, e);
}

/* A published or dumped total: applies when newer than what we hold. */
static void
rep_set(const char *key, uint32_t n, long long seq)
{
	struct cf_cluster_state *cs = cf_w->cluster;
	struct entry *e;

	if (seq <= cs->floor_seq || (e = entry_get(&cs->rep, key, 1)) == NULL ||
	    seq <= e->seq)
		return;
	e->n = n;
	e->seq = seq;
}

/* ----------------------------------------------------------- replies */

static long long
int_at(const redisReply *r, size_t i)
{
	const redisReply *e;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
		return (-1);
	e = r->element[i];
	if (e->type == REDIS_REPLY_INTEGER)
		return (e->integer);
	if (e->type == REDIS_REPLY_STRING)
		return (strtoll(e->str, NULL, 10));
	return (-1);
}

static const char *
str_at(const redisReply *r, size_t i)
{
	const redisReply *e;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
		return (NULL);
	e = r->element[i];
	return (e->type == REDIS_REPLY_STRING ? e->str : NULL);
}

/* An error reply is logged; 1 when the reply is usable. */
static int
reply_ok(const redisReply *r, const char *what)
{
	if (r == NULL)
		return (0);
	if (r->type == REDIS_REPLY_ERROR) {
		cf_log_warnx("cluster: %s: %s", what, r->str);
		return (0);
	}
	return (1);
}

/* Run a script with argc arguments after EVAL script 0.  0 or -1. */
static int
eval(const char *script, void (*cb)(void *, struct redisReply *),
    void *arg, int argc, const char **args)
{
	struct cf_cluster_state *cs = cf_w->cluster;
	const char **argv;
	int rc;

	if ((argv = calloc((size_t)argc + 3, sizeof(*argv))) == NULL)
		return (-1);
	argv[0] = "EVAL";
	argv[1] = script;
	argv[2] = "0";
	if (argc > 0)
		memcpy(argv + 3, args, (size_t)argc * sizeof(*argv));
	rc = cf_redis_command(cs->credis, cb, arg, argc + 3, argv, NULL);
	free(argv);
	return (rc);
}

/* ------------------------------------------------------------- change */

static void
change_reply(void *arg, struct redisReply *r)
{
	struct cf_cluster_state *cs = cf_w->cluster;
	struct change *c = arg;
	long long b, a;

	cs->pending--;
	b = int_at(r, 0);
	a = int_at(r, 1);
	if (cs->credis == NULL || !reply_ok(r, "change"))
		b = a = -1;
	else if (b == -1)
		start_sync();	/* we had been reaped: rewrite everything */
	if (c->fn != NULL)
		c->fn(c->arg, b < 0 || a < 0 ? -1 : b, b < 0 || a < 0 ? -1 : a);
	free(c);
}

int
cf_cluster_change(const char *key, int delta, cf_cluster_done_fn fn,
    void *arg)
{
	struct cf_cluster_state *cs = cf_w->cluster;
	struct change *c;
	struct entry *e;
	const char *args[3];
	char num[16];
	long long n;

	if (cs->credis == NULL)
		return (-1);
	if ((e = entry_get(&cs->mine, key, 1)) == NULL) {
		cf_log_warnx("cluster: %s not counted (out of memory)", key);
		return (-1);
	}
	n = (long long)e->n + delta;
	e->n = n > 0 ? (uint32_t)n : 0;
	snprintf(num, sizeof(num), "%" PRIu32, e->n);
	if (e->n == 0)
		entry_drop(&cs->mine, e);
	if (!cs->up || (c = malloc(sizeof(*c))) == NULL)
		return (-1);
	c->fn = fn;
	c->arg = arg;
	args[0] = cf_w->uid;
	args[1] = key;
	args[2] = num;
	if (eval(lua_change, change_reply, c, 3, args) == -1) {
		free(c);
		return (-1);
	}
	cs->pending++;
	return (0);
}

/* --------------------------------------------------------------- sync */

/* {key, before, after, ...} from offset off, step apart: the edges. */
static void
report(const redisReply *r, size_t off, size_t step)
{
	struct cf_cluster_state *cs = cf_w->cluster;
	const char *key;
	size_t i;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return;
	for (i = off; i + 2 < r->elements; i += step)
		if ((key = str_at(r, i)) != NULL)
			cs->edge_fn(key, int_at(r, i + 1), int_at(r, i + 2));
}

static void
sync_reply(void *arg, struct redisReply *r)
{
	struct cf_cluster_state *cs = cf_w->cluster;

	(void)arg;
	cs->syncing = 0;
	if (cs->credis == NULL)
		return;
	if (reply_ok(r, "sync"))
		report(r, 0, 3);
	if (cs->sync_again) {
		cs->sync_again = 0;
		start_sync();
	}
}

/* Rewrite this worker's counts in Redis from mine. */
static void
start_sync(void)
{
	struct cf_cluster_state *cs = cf_w->cluster;
	struct entry *e, *tmp;
	const char **args;
	char ttl[16], (*nums)[12];
	size_t n = HASH_COUNT(cs->mine), i = 0;

	if (!cs->up)
		return;
	if (cs->syncing) {
		cs->sync_again = 1;
		return;
	}
	if (n > SYNC_MAX_KEYS)
		n = SYNC_MAX_KEYS;
	args = calloc(2 + 2 * n, sizeof(*args));
	nums = calloc(n + 1, sizeof(*nums));
	if (args == NULL || nums == NULL)
		goto done;
	snprintf(ttl, sizeof(ttl), "%" PRIu32,
	    cf_w->conf->presence_host_timeout_ms);
	args[0] = cf_w->uid;
	args[1] = ttl;
	HASH_ITER(hh, cs->mine, e, tmp) {
		if (i == n)
			break;
		snprintf(nums[i], sizeof(nums[i]), "%" PRIu32, e->n);
		args[2 + 2 * i] = e->key;
		args[3 + 2 * i] = nums[i];
		i++;
	}
	if (eval(lua_sync, sync_reply, NULL, (int)(2 + 2 * i), args) == 0)
		cs->syncing = 1;
 done:
	free(args);
	free(nums);
}

/* -------------------------------------------------- heartbeat, reaper */

static void
heartbeat_reply(void *arg, struct redisReply *r)
{
	struct cf_cluster_state *cs = cf_w->cluster;

	(void)arg;
	if (cs->credis == NULL || !reply_ok(r, "heartbeat"))
		return;
	if (r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
		cf_log_info("cluster: heartbeat had expired; resynchronising");
		start_sync();
	}
}

static void
reap_reply(void *arg, struct redisReply *r)
{
	struct cf_cluster_state *cs = cf_w->cluster;
	const char *m, *last = "";
	size_t i;

	(void)arg;
	if (cs->credis == NULL || !reply_ok(r, "reap") ||
	    r->type != REDIS_REPLY_ARRAY || r->elements == 0)
		return;
	for (i = 0; i < r->elements; i += 4) {
		if ((m = str_at(r, i)) == NULL || strcmp(m, last) == 0)
			continue;
		cf_log_info("cluster: %s stopped; its connections are "
		    "removed from presence", m);
		last = m;
	}
	report(r, 1, 4);
}

static void tick_arm(void);

/*
 * Every third of presence-host-timeout: refresh our heartbeat and reap
 * the members whose heartbeat expired.
 */
static void
tick_cb(uv_timer_t *t)
{
	struct cf_cluster_state *cs = cf_w->cluster;
	const char *args[2];
	char ttl[16];

	(void)t;
	if (cs->up) {
		snprintf(ttl, sizeof(ttl), "%" PRIu32,
		    cf_w->conf->presence_host_timeout_ms);
		args[0] = cf_w->uid;
		args[1] = ttl;
		(void)eval(lua_heartbeat, heartbeat_reply, NULL, 2, args);
		/*
		 * Not right after Redis came back: the others may not have
		 * reconnected yet, and their heartbeats may have expired
		 * while nobody could refresh them.
		 */
		if (cf_now_ms() - cs->up_since >=
		    cf_w->conf->presence_host_timeout_ms)
			(void)eval(lua_reap, reap_reply, NULL, 0, args);
		/* Pub/sub may lose a message: reload the mirror now and then. */
		if (++cs->ticks % DUMP_EVERY == 0)
			(void)eval(lua_dump, dump_reply, NULL, 0, NULL);
	}
	tick_arm();
}

/* presence-host-timeout is reloadable: read it at every tick. */
static void
tick_arm(void)
{
	struct cf_cluster_state *cs = cf_w->cluster;
	uint64_t every = cf_w->conf->presence_host_timeout_ms / 3;

	uv_timer_start(&cs->tick, tick_cb, every > 50 ? every : 50, 0);
}

/* --------------------------------------------------------- the mirror */

/*
 * The totals of every user online at sequence seq.  Entries not listed and
 * not newer are 0 and dropped; older published totals are ignored from now
 * on (floor_seq), so a dropped entry cannot come back from a late message.
 */
static void
dump_reply(void *arg, struct redisReply *r)
{
	struct cf_cluster_state *cs = cf_w->cluster;
	struct entry *e, *tmp;
	const char *key;
	long long seq, n;
	size_t i;

	(void)arg;
	if (cs->credis == NULL || !reply_ok(r, "dump") ||
	    r->type != REDIS_REPLY_ARRAY || r->elements == 0)
		return;
	seq = int_at(r, 0);
	if (seq < cs->floor_seq)
		return;
	cs->floor_seq = seq;
	HASH_ITER(hh, cs->rep, e, tmp)
		if (e->seq <= seq)
			entry_drop(&cs->rep, e);
	for (i = 1; i + 1 < r->elements; i += 2) {
		key = str_at(r, i);
		n = int_at(r, i + 1);
		if (key != NULL && n > 0 &&
		    (e = entry_get(&cs->rep, key, 1)) != NULL && e->seq <= seq) {
			e->n = (uint32_t)n;
			e->seq = seq;
		}
	}
}

void
cf_cluster_message(const uint8_t *p, size_t len)
{
	struct cf_cluster_state *cs = cf_w->cluster;
	char buf[CF_SHM_USER_MAX + 48], *key;
	long long seq, n;
	int off = 0;

	if (len >= sizeof(buf))
		return;
	memcpy(buf, p, len);
	buf[len] = '\0';
	if (sscanf(buf, "%lld %lld %n", &seq, &n, &off) != 2 || off == 0 ||
	    n < 0 || n > UINT32_MAX)
		return;
	key = buf + off;
	rep_set(key, (uint32_t)n, seq);
	/* Its edges, if any, are being announced by the publisher. */
	if (cs->healing)
		(void)entry_get(&cs->told, key, 1);
}

uint32_t
cf_cluster_total(const char *key)
{
	struct cf_cluster_state *cs = cf_w->cluster;
	struct entry *e;
	uint32_t local = cf_shm_presence_get(cf_w->shm, key);

	if (cs->credis == NULL || (e = entry_get(&cs->rep, key, 0)) == NULL)
		return (local);
	return (e->n > local ? e->n : local);
}

struct each_arg {
	int	(*fn)(void *, const char *, uint32_t);
	void	*arg;
	size_t	 n;
};

/* Host-local users the mirror does not know yet. */
static int
each_local(void *arg, const char *key, uint32_t total)
{
	struct cf_cluster_state *cs = cf_w->cluster;
	struct each_arg *ea = arg;
	struct entry *e;

	if (strncmp(key, "u:", 2) != 0 || total == 0)
		return (0);
	if ((e = entry_get(&cs->rep, key, 0)) != NULL && e->n > 0)
		return (0);
	ea->n++;
	return (ea->fn(ea->arg, key, total));
}

size_t
cf_cluster_each(int (*fn)(void *, const char *, uint32_t), void *arg)
{
	struct cf_cluster_state *cs = cf_w->cluster;
	struct each_arg ea = { fn, arg, 0 };
	struct entry *e, *tmp;

	HASH_ITER(hh, cs->rep, e, tmp) {
		if (e->n == 0)
			continue;
		ea.n++;
		if (fn(arg, e->key, cf_cluster_total(e->key)) != 0)
			return (ea.n);
	}
	(void)cf_shm_presence_each(cf_w->shm, each_local, &ea);
	return (ea.n);
}

/* ------------------------------------------------------------ healing */

/*
 * Redis went away: remember who was online, and record which totals get
 * published from now on.  After a second outage before the heal, the
 * users of the first picture stay in it.
 */
static void
remember_online(void)
{
	struct cf_cluster_state *cs = cf_w->cluster;
	struct entry *e, *tmp, *p;

	cs->healing = 1;
	table_clear(&cs->told);
	HASH_ITER(hh, cs->rep, e, tmp) {
		if (e->n == 0 || entry_get(&cs->prev, e->key, 0) != NULL ||
		    (p = entry_get(&cs->prev, e->key, 1)) == NULL)
			continue;
		p->n = cf_shm_presence_get(cf_w->shm, e->key) > 0 ? 2 : 1;
	}
}

/*
 * The mirror reloaded a presence-host-timeout after Redis came back (every
 * live worker has written its counts again by then).  A user of the other
 * hosts whose coming or going was not published to us meanwhile (Redis
 * lost its data, or the announcement went out before we had subscribed
 * again) gets the events on this worker's sockets; while Redis was away,
 * this host announced its own users' edges itself.
 */
static void
heal_reply(void *arg, struct redisReply *r)
{
	struct cf_cluster_state *cs = cf_w->cluster;
	struct entry *e, *tmp;
	size_t n = 0;

	dump_reply(arg, r);
	if (cs->credis == NULL || !cs->up || !reply_ok(r, "heal"))
		return;
	HASH_ITER(hh, cs->prev, e, tmp)
		if (e->n == 1 && entry_get(&cs->told, e->key, 0) == NULL &&
		    cf_cluster_total(e->key) == 0) {
			cs->heal_fn(e->key, 0);
			n++;
		}
	HASH_ITER(hh, cs->rep, e, tmp)
		if (e->n > 0 && entry_get(&cs->told, e->key, 0) == NULL &&
		    entry_get(&cs->prev, e->key, 0) == NULL &&
		    cf_shm_presence_get(cf_w->shm, e->key) == 0) {
			cs->heal_fn(e->key, e->n);
			n++;
		}
	if (n > 0)
		cf_log_info("cluster: %zu users came or went unannounced during "
		    "the Redis outage", n);
	table_clear(&cs->prev);
	table_clear(&cs->told);
	cs->healing = 0;
}

static void
heal_cb(uv_timer_t *t)
{
	struct cf_cluster_state *cs = cf_w->cluster;

	(void)t;
	if (cs->up)
		(void)eval(lua_dump, heal_reply, NULL, 0, NULL);
}

/* -------------------------------------------------------------- state */

void
cf_cluster_state(int is_up)
{
	struct cf_cluster_state *cs = cf_w->cluster;

	if (cs->credis == NULL)
		return;
	if (!is_up && cs->up)
		remember_online();
	cs->up = is_up;
	if (!cs->up) {
		cs->syncing = 0;
		cs->sync_again = 0;
		uv_timer_stop(&cs->heal);
		return;
	}
	if (cs->healing)
		uv_timer_start(&cs->heal, heal_cb,
		    cf_w->conf->presence_host_timeout_ms, 0);
	cs->up_since = cf_now_ms();
	/* Redis may have restarted: its sequence numbers start again. */
	table_clear(&cs->rep);
	cs->floor_seq = 0;
	start_sync();
	(void)eval(lua_dump, dump_reply, NULL, 0, NULL);
}

int
cf_cluster_on(void)
{
	return (cf_w->cluster->credis != NULL);
}

size_t
cf_cluster_pending(void)
{
	return (cf_w->cluster->pending);
}

void
cf_cluster_on_edge(cf_cluster_edge_fn edge, cf_cluster_heal_fn heal)
{
	cf_w->cluster->edge_fn = edge;
	cf_w->cluster->heal_fn = heal;
}

int
cf_cluster_start(struct cf_worker *w, struct cf_redis *redis)
{
	struct cf_cluster_state *cs = w->cluster;

	cs->credis = redis;
	if (redis == NULL)
		return (0);
	uv_timer_init(&w->loop, &cs->tick);
	uv_timer_init(&w->loop, &cs->heal);
	cs->tick_on = 1;
	tick_arm();
	uv_unref((uv_handle_t *)&cs->tick);
	uv_unref((uv_handle_t *)&cs->heal);
	return (0);
}

void
cf_cluster_stop(void)
{
	struct cf_cluster_state *cs = cf_w->cluster;

	cs->credis = NULL;
	cs->up = 0;
	if (cs->tick_on) {
		uv_close((uv_handle_t *)&cs->tick, NULL);
		uv_close((uv_handle_t *)&cs->heal, NULL);
		cs->tick_on = 0;
	}
	table_clear(&cs->mine);
	table_clear(&cs->rep);
	table_clear(&cs->prev);
	table_clear(&cs->told);
	cs->healing = 0;
}

int
cf_cluster_init(struct cf_worker *w)
{
	if ((w->cluster = calloc(1, sizeof(*w->cluster))) == NULL)
		return (-1);
	return (0);
}

void
cf_cluster_free(struct cf_worker *w)
{
	struct cf_cluster_state *cs = w->cluster;

	if (cs == NULL)
		return;
	table_clear(&cs->mine);
	table_clear(&cs->rep);
	table_clear(&cs->prev);
	table_clear(&cs->told);
	free(cs);
	w->cluster = NULL;
}
