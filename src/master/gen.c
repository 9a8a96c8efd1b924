/*
 * gen.c -- generations.  Everything a set of workers shares -- the
 * configuration, the listening sockets, the shared-memory segment, the
 * inboxes, the slot table -- belongs to a generation (struct gen).  A
 * reload that needs one builds it next to the serving one: listeners
 * whose address is unchanged are the same descriptors (so there is never
 * a moment without a listener), new addresses are bound, and a fresh
 * segment and inbox set are created, so the two generations never share a
 * slot number.  Its workers start; once every one of them accepts (the
 * `ready` flag of its stats block), the old generation gets SIGUSR2: stop
 * accepting, close the clients (they reconnect, to the new workers) and
 * exit within shutdown-timeout.  A draining worker announces no presence
 * edges; as each exits its counts are purged and the keys that fell to
 * zero are handed to a serving worker (proc.c), which announces those its
 * own generation does not count (cf_presence_gone).  When the last one
 * has exited the generation is freed and the listeners nobody holds any
 * more are closed.  If the new generation fails before it is ready, it is
 * abandoned and the old one serves on: a bad reload changes nothing.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master/master.h"
#include "master/master_int.h"
#include "shm/shm.h"
#include "util.h"

/* 1 when some live generation other than except holds listening fd. */
static int
listen_held(int fd, const struct gen *except)
{
	unsigned i;
	int j;

	for (i = 0; i < cf_m.ngens; i++) {
		if (cf_m.gens[i] == except)
			continue;
		for (j = 0; j < cf_m.gens[i]->nlisten; j++)
			if (cf_m.gens[i]->listen_fds[j] == fd)
				return (1);
	}
	return (0);
}

/*
 * The address of listener j of h: the listen lines, then api-listen when
 * set (listen_fds follows the same order).
 */
static const struct cf_listen *
addr_of(const struct gen *h, int j)
{
	return (j < h->conf->nlisten ? &h->conf->listen[j] :
	    &h->conf->api_listen);
}

static int
same_address(const struct cf_listen *a, const struct cf_listen *b)
{
	return (a->addrlen == b->addrlen && a->any == b->any &&
	    a->v6only == b->v6only && memcmp(&a->addr, &b->addr,
	    a->addrlen) == 0);
}

/*
 * Release a generation whose workers have all exited: unregister it, close
 * the listeners no other generation holds, its inboxes and its segment.
 * NULL-safe.
 */
void
master_gen_free(struct gen *g)
{
	unsigned i;
	int j;

	if (g == NULL)
		return;
	for (i = 0; i < cf_m.ngens; i++)
		if (cf_m.gens[i] == g) {
			cf_m.gens[i] = cf_m.gens[--cf_m.ngens];
			break;
		}
	for (j = 0; j < g->nlisten; j++)
		if (g->listen_fds[j] != -1 && !listen_held(g->listen_fds[j],
		    g)) {
			close(g->listen_fds[j]);
			cf_log_info("no longer listening on %s",
			    addr_of(g, j)->text);
		}
	for (i = 0; i < g->nslots; i++) {
		if (g->inbox_rx != NULL && g->inbox_rx[i] != -1)
			close(g->inbox_rx[i]);
		if (g->inbox_tx != NULL && g->inbox_tx[i] != -1)
			close(g->inbox_tx[i]);
	}
	free(g->inbox_rx);
	free(g->inbox_tx);
	cf_shm_destroy(g->shm);
	free(g->slots);
	cf_conf_free(g->conf);
	free(g);
}

static int
inboxes_open(struct gen *g)
{
	unsigned i;
	int sv[2], sz = 4 * 1024 * 1024;

	g->inbox_rx = calloc(g->nslots, sizeof(int));
	g->inbox_tx = calloc(g->nslots, sizeof(int));
	if (g->inbox_rx == NULL || g->inbox_tx == NULL)
		return (-1);
	for (i = 0; i < g->nslots; i++)
		g->inbox_rx[i] = g->inbox_tx[i] = -1;
	for (i = 0; i < g->nslots; i++) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0, sv) == -1) {
			cf_log_warn("socketpair");
			return (-1);
		}
		(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		(void)setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		g->inbox_rx[i] = sv[0];
		g->inbox_tx[i] = sv[1];
	}
	return (0);
}

/*
 * The listening fd a live generation has for the address of l, or -1.
 * Draining generations count too: an address removed by one reload and
 * put back by the next keeps its socket.
 */
static int
listen_find(const struct cf_listen *l)
{
	const struct gen *h;
	unsigned i;
	int j;

	for (i = 0; i < cf_m.ngens; i++) {
		h = cf_m.gens[i];
		for (j = 0; j < h->nlisten; j++)
			if (same_address(addr_of(h, j), l))
				return (h->listen_fds[j]);
	}
	return (-1);
}

/*
 * A new generation for conf (owned by it from now on, freed on failure):
 * the listeners of the live generations whose address it keeps are
 * shared, the others are bound; a new segment and inbox set.  Registered
 * in cf_m.gens; no worker is started.  NULL on failure, with nothing changed.
 */
struct gen *
master_gen_new(struct cf_conf *conf)
{
	const struct cf_listen *l;
	struct gen *g;
	int i, fd;

	if (cf_m.ngens == CF_MAX_GENS) {
		cf_log_warnx("%u generations of workers are still draining",
		    cf_m.ngens - 1);
		cf_conf_free(conf);
		return (NULL);
	}
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		cf_conf_free(conf);
		return (NULL);
	}
	g->conf = conf;
	g->id = cf_m.last_id % 255 + 1;
	g->state = GEN_STARTING;
	g->nslots = (unsigned)conf->workers;
	cf_m.gens[cf_m.ngens++] = g;
	for (i = 0; i < conf->nlisten + conf->has_api_listen &&
	    i < CF_MAX_LISTEN_FDS; i++) {
		l = i < conf->nlisten ? &conf->listen[i] : &conf->api_listen;
		if ((fd = listen_find(l)) == -1) {
			if ((fd = cf_listen_open_one(l)) == -1)
				goto fail;
			cf_log_info("listening on %s%s", l->text,
			    i < conf->nlisten ? "" : " (HTTP API)");
		}
		g->listen_fds[g->nlisten++] = fd;
	}
	if ((g->shm = cf_shm_create(g->nslots, conf->presence_slots)) ==
	    NULL) {
		cf_log_warn("shared memory");
		goto fail;
	}
	if (inboxes_open(g) == -1)
		goto fail;
	if ((g->slots = calloc(g->nslots, sizeof(*g->slots))) == NULL)
		goto fail;
	cf_m.last_id = g->id;
	return (g);
 fail:
	master_gen_free(g);
	return (NULL);
}

/*
 * In a new worker of g: close what belongs to the other generations, so
 * that a listener removed by a reload closes when its generation ends and
 * no stale inbox is held open.
 */
void
master_gen_close_foreign(const struct gen *g)
{
	const struct gen *h;
	unsigned i, k;
	int j;

	for (i = 0; i < cf_m.ngens; i++) {
		if ((h = cf_m.gens[i]) == g)
			continue;
		for (j = 0; j < h->nlisten; j++) {
			int mine = 0, n;

			for (n = 0; n < g->nlisten; n++)
				if (g->listen_fds[n] == h->listen_fds[j])
					mine = 1;
			if (!mine)
				close(h->listen_fds[j]);
		}
		for (k = 0; k < h->nslots; k++) {
			close(h->inbox_rx[k]);
			close(h->inbox_tx[k]);
		}
		cf_shm_destroy(h->shm);
	}
}

void
master_gen_signal(const struct gen *g, int sig)
{
	unsigned i;

	for (i = 0; i < g->nslots; i++)
		if (g->slots[i].state == SLOT_RUNNING && g->slots[i].pid > 0)
			(void)kill(g->slots[i].pid, sig);
}

unsigned
master_gen_alive(const struct gen *g)
{
	unsigned i, n = 0;

	for (i = 0; i < g->nslots; i++)
		if (g->slots[i].state == SLOT_RUNNING)
			n++;
	return (n);
}

/*
 * Give up a generation that failed to start: the serving one goes on as
 * if the reload had not happened.
 */
void
master_gen_abandon(const char *why)
{
	struct gen *g = cf_m.next;

	cf_log_warnx("reload failed, generation %u keeps serving with the "
	    "running configuration: generation %u %s", cf_m.cur->id, g->id, why);
	cf_m.next = NULL;
	g->state = GEN_DRAINING;
	g->deadline = cf_now_ms() + 2000;
	master_gen_signal(g, SIGQUIT);
	master_notify("READY=1\nSTATUS=reload failed, old configuration kept");
}

/*
 * The new generation is ready: it serves, and the old one hands over its
 * clients (SIGUSR2) and exits within its shutdown-timeout.
 */
static void
switch_over(void)
{
	struct gen *old = cf_m.cur;
	char st[96];

	old->state = GEN_DRAINING;
	old->deadline = cf_now_ms() + old->conf->shutdown_timeout_ms + 2000;
	cf_m.cur = cf_m.next;
	cf_m.next = NULL;
	cf_m.cur->state = GEN_SERVING;
	cf_log_set_level(cf_m.cur->conf->log_level);
	master_gen_signal(old, SIGUSR2);
	cf_log_info("generation %u serves with %u workers; generation %u "
	    "drains", cf_m.cur->id, cf_m.cur->nslots, old->id);
	snprintf(st, sizeof(st), "READY=1\nSTATUS=generation %u serving",
	    cf_m.cur->id);
	master_notify(st);
}

/*
 * The generations that are switching: a starting one that is ready takes
 * over, or is abandoned after CF_START_TIMEOUT_MS; draining ones are freed
 * once empty, their stragglers killed after the deadline.  Returns 1 while
 * something is in progress (the loop then polls every CF_TICK_MS).
 */
int
master_gens_step(uint64_t now)
{
	struct cf_shm_stats *st;
	struct gen *g;
	unsigned i, ready = 0;
	int busy = 0;

	if ((g = cf_m.next) != NULL) {
		for (i = 0; i < g->nslots; i++)
			if (g->slots[i].state == SLOT_RUNNING &&
			    (st = cf_shm_stats(g->shm, i)) != NULL &&
			    __atomic_load_n(&st->ready, __ATOMIC_ACQUIRE))
				ready++;
		if (ready == g->nslots)
			switch_over();
		else if (now >= g->deadline)
			master_gen_abandon("was not ready in time");
		busy = 1;
	}
	for (i = 0; i < cf_m.ngens; i++) {
		g = cf_m.gens[i];
		if (g->state != GEN_DRAINING)
			continue;
		busy = 1;
		if (master_gen_alive(g) == 0) {
			cf_log_info("generation %u has exited", g->id);
			master_gen_free(g);
			i--;
		} else if (now >= g->deadline) {
			cf_log_warnx("generation %u: workers still running after "
			    "the shutdown timeout; killing them", g->id);
			master_gen_signal(g, SIGKILL);
			g->deadline = now + 1000;
		}
	}
	return (busy);
}
