/*
 * master.c -- supervision.
 *
 * Signal handlers only set a flag and write one byte to a self-pipe; the
 * loop below polls the pipe and does the work:
 *   SIGCHLD   reap workers; a worker that died is purged from shared memory
 *             and respawned after a backoff (100 ms doubling to 30 s, reset
 *             once a worker has run 30 s); five crashes of a slot within
 *             60 s is a crash loop and the slot is no longer respawned.
 *             Exit status 2 from a worker is fatal: never respawned.
 *   SIGHUP    reload: parse the file anew; a bad file changes nothing and the
 *             errors are logged with file:line.  Each changed directive is
 *             logged (a secret only as "changed").  Hot changes: the
 *             workers re-read the file.  Cold changes (listen, workers,
 *             presence-slots, data-dir, database, redis, host-id): a new
 *             generation.
 *   SIGTERM, SIGINT  graceful stop: workers close their clients and exit;
 *             after shutdown-timeout (+2 s) the rest are killed; then the
 *             SQLite write-ahead log is checkpointed.
 *   SIGQUIT (or a second SIGTERM)  fast stop.
 *   SIGUSR1   reopen the log file, then have the workers reopen it.
 * The control socket (control.c) is polled with the self-pipe; its
 * connections go to the serving generation's workers in turn.
 *
 * Generations.  Everything a set of workers shares -- the configuration,
 * the listening sockets, the shared-memory segment, the inboxes, the slot
 * table -- belongs to a generation (struct gen).  A cold reload builds a
 * new one next to the serving one: listeners whose address is unchanged
 * are the same descriptors (so there is never a moment without a
 * listener), new addresses are bound, and a fresh segment and inbox set
 * are created, so the two generations never share a slot number.  Its
 * workers start; once every one of them accepts (the `ready` flag of its
 * stats block), the old generation gets SIGUSR2: stop accepting, close
 * the clients (they reconnect, to the new workers) and exit within
 * shutdown-timeout.  A draining worker announces no presence edges; as
 * each exits its counts are purged and the keys that fell to zero are
 * handed to a serving worker, which announces those its own generation
 * does not count (cf_presence_gone).  When the last one has exited the
 * generation is freed and the listeners nobody holds any more are closed.
 * If the new generation fails before it is ready, it is abandoned and the
 * old one serves on: a bad reload changes nothing.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "db/store.h"
#include "log.h"
#include "master/master.h"
#include "secret.h"
#include "shm/shm.h"
#include "user.h"
#include "util.h"
#include "worker/worker.h"

#define CF_MAX_LISTEN_FDS	CF_CONF_MAX_LISTEN
#define CF_BACKOFF_MIN_MS	100
#define CF_BACKOFF_MAX_MS	30000
#define CF_STABLE_MS		30000
#define CF_CRASH_WINDOW_MS	60000
#define CF_CRASH_LIMIT		5
#define CF_MAX_GENS		4	/* serving + starting + draining ones */
#define CF_START_TIMEOUT_MS	15000	/* a new generation must be ready */
#define CF_TICK_MS		50	/* polling while generations switch */

enum slot_state {
	SLOT_IDLE = 0,
	SLOT_RUNNING,
	SLOT_RESPAWN,		/* waiting for its backoff */
	SLOT_FAILED		/* crash loop or fatal: not respawned */
};

struct slot {
	enum slot_state	 state;
	pid_t		 pid;
	uint64_t	 started_ms;
	uint64_t	 respawn_at;
	uint32_t	 backoff_ms;
	uint64_t	 crashes[CF_CRASH_LIMIT];
	unsigned	 ncrashes;
};

enum gen_state {
	GEN_STARTING,		/* workers starting; the previous one serves */
	GEN_SERVING,
	GEN_DRAINING		/* told to stop; freed once its workers exited */
};

/* A generation of workers and all they share. */
struct gen {
	unsigned	 id;		/* 1, 2, ...: byte 1 of its session ids */
	enum gen_state	 state;
	struct cf_conf	*conf;		/* owned */
	int		 listen_fds[CF_MAX_LISTEN_FDS];	/* parallel to conf->listen */
	int		 nlisten;
	struct cf_shm	*shm;
	unsigned	 nslots;
	int		*inbox_rx;
	int		*inbox_tx;
	struct slot	*slots;
	uint64_t	 deadline;	/* STARTING: give up; DRAINING: kill */
};

static volatile sig_atomic_t got_chld, got_hup, got_term, got_quit, got_usr1;
static int selfpipe[2] = { -1, -1 };

static struct {
	const char	*conf_path;
	struct gen	*gens[CF_MAX_GENS];	/* every live generation */
	unsigned	 ngens;
	struct gen	*cur;		/* serving */
	struct gen	*next;		/* starting, or NULL */
	unsigned	 last_id;
	int		 stopping;	/* 1 graceful, 2 fast */
	uint64_t	 kill_at;
	uint64_t	 sweep_at;	/* next cleanup-interval sweep */
	int		 control_fd;	/* the control socket, or -1 */
	char		*control_path;
	unsigned	 control_next;	/* round robin over the workers */
} m = { .control_fd = -1 };

/*
 * Tell the service manager (systemd, Type=notify) about our state through
 * $NOTIFY_SOCKET, without libsystemd: one datagram per state.  A no-op
 * when the variable is unset.
 */
static void
notify(const char *state)
{
	struct sockaddr_un sun;
	const char *path = getenv("NOTIFY_SOCKET");
	socklen_t len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (path[0] == '@')
		sun.sun_path[0] = '\0';	/* an abstract socket */
	len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len) == -1)
		cf_log_warn("sd_notify %s", state);
	close(fd);
}

static void
on_signal(int sig)
{
	int saved = errno;

	switch (sig) {
	case SIGCHLD:
		got_chld = 1;
		break;
	case SIGHUP:
		got_hup = 1;
		break;
	case SIGTERM:
	case SIGINT:
		got_term = 1;
		break;
	case SIGQUIT:
		got_quit = 1;
		break;
	case SIGUSR1:
		got_usr1 = 1;
		break;
	}
	(void)write(selfpipe[1], "", 1);
	errno = saved;
}

static const int handled[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT,
    SIGUSR1 };

static int
signals_setup(void)
{
	struct sigaction sa;
	size_t i;

	if (pipe2(selfpipe, O_NONBLOCK | O_CLOEXEC) == -1)
		return (-1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
		if (sigaction(handled[i], &sa, NULL) == -1)
			return (-1);
	signal(SIGPIPE, SIG_IGN);
	return (0);
}

/* In a new worker: default dispositions, nothing blocked. */
static void
signals_child(void)
{
	sigset_t all;
	size_t i;

	for (i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
		signal(handled[i], SIG_DFL);
	close(selfpipe[0]);
	close(selfpipe[1]);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

/* ------------------------------------------------------- generations */

/* 1 when some live generation other than except holds listening fd. */
static int
listen_held(int fd, const struct gen *except)
{
	unsigned i;
	int j;

	for (i = 0; i < m.ngens; i++) {
		if (m.gens[i] == except)
			continue;
		for (j = 0; j < m.gens[i]->nlisten; j++)
			if (m.gens[i]->listen_fds[j] == fd)
				return (1);
	}
	return (0);
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
static void
gen_free(struct gen *g)
{
	unsigned i;
	int j;

	if (g == NULL)
		return;
	for (i = 0; i < m.ngens; i++)
		if (m.gens[i] == g) {
			m.gens[i] = m.gens[--m.ngens];
			break;
		}
	for (j = 0; j < g->nlisten; j++)
		if (g->listen_fds[j] != -1 && !listen_held(g->listen_fds[j],
		    g)) {
			close(g->listen_fds[j]);
			cf_log_info("no longer listening on %s",
			    g->conf->listen[j].text);
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

	for (i = 0; i < m.ngens; i++) {
		h = m.gens[i];
		for (j = 0; j < h->nlisten; j++)
			if (same_address(&h->conf->listen[j], l))
				return (h->listen_fds[j]);
	}
	return (-1);
}

/*
 * A new generation for conf (owned by it from now on, freed on failure):
 * the listeners of the live generations whose address it keeps are
 * shared, the others are bound; a new segment and inbox set.  Registered
 * in m.gens; no worker is started.  NULL on failure, with nothing changed.
 */
static struct gen *
gen_new(struct cf_conf *conf)
{
	struct gen *g;
	int i, fd;

	if (m.ngens == CF_MAX_GENS) {
		cf_log_warnx("%u generations of workers are still draining",
		    m.ngens - 1);
		cf_conf_free(conf);
		return (NULL);
	}
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		cf_conf_free(conf);
		return (NULL);
	}
	g->conf = conf;
	g->id = m.last_id % 255 + 1;
	g->state = GEN_STARTING;
	g->nslots = (unsigned)conf->workers;
	m.gens[m.ngens++] = g;
	for (i = 0; i < conf->nlisten && i < CF_MAX_LISTEN_FDS; i++) {
		if ((fd = listen_find(&conf->listen[i])) == -1) {
			if ((fd = cf_listen_open_one(&conf->listen[i])) == -1)
				goto fail;
			cf_log_info("listening on %s", conf->listen[i].text);
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
	m.last_id = g->id;
	return (g);
 fail:
	gen_free(g);
	return (NULL);
}

/*
 * In a new worker of g: close what belongs to the other generations, so
 * that a listener removed by a reload closes when its generation ends and
 * no stale inbox is held open.
 */
static void
close_foreign(const struct gen *g)
{
	const struct gen *h;
	unsigned i, k;
	int j;

	for (i = 0; i < m.ngens; i++) {
		if ((h = m.gens[i]) == g)
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

static int
spawn(struct gen *g, unsigned i)
{
	struct cf_worker_init in;
	sigset_t all, old;
	pid_t pid;
	int rc;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == -1) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		cf_log_warn("fork");
		return (-1);
	}
	if (pid == 0) {
		signals_child();
		close_foreign(g);
		if (m.control_fd != -1)
			close(m.control_fd);	/* the master's alone */
		memset(&in, 0, sizeof(in));
		in.slot = i;
		in.nslots = g->nslots;
		in.generation = g->id;
		in.conf = g->conf;
		in.conf_path = m.conf_path;
		in.listen_fds = g->listen_fds;
		in.nlisten = g->nlisten;
		in.inbox_rx = g->inbox_rx;
		in.inbox_tx = g->inbox_tx;
		in.master_fd = -1;
		in.shm = g->shm;
		rc = cf_worker_main(&in);
		_exit(rc);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	g->slots[i].pid = pid;
	g->slots[i].state = SLOT_RUNNING;
	g->slots[i].started_ms = cf_now_ms();
	cf_log_debug("worker %u of generation %u started (pid %d)", i, g->id,
	    (int)pid);
	return (0);
}

static void
signal_gen(const struct gen *g, int sig)
{
	unsigned i;

	for (i = 0; i < g->nslots; i++)
		if (g->slots[i].state == SLOT_RUNNING && g->slots[i].pid > 0)
			(void)kill(g->slots[i].pid, sig);
}

static void
signal_workers(int sig)
{
	unsigned i;

	for (i = 0; i < m.ngens; i++)
		signal_gen(m.gens[i], sig);
}

static unsigned
gen_alive(const struct gen *g)
{
	unsigned i, n = 0;

	for (i = 0; i < g->nslots; i++)
		if (g->slots[i].state == SLOT_RUNNING)
			n++;
	return (n);
}

static unsigned
alive(void)
{
	unsigned i, n = 0;

	for (i = 0; i < m.ngens; i++)
		n += gen_alive(m.gens[i]);
	return (n);
}

/* The generation and slot of a worker's pid; NULL when it is none. */
static struct gen *
slot_of(pid_t pid, unsigned *slot)
{
	unsigned i, j;

	for (i = 0; i < m.ngens; i++)
		for (j = 0; j < m.gens[i]->nslots; j++)
			if (m.gens[i]->slots[j].pid == pid) {
				*slot = j;
				return (m.gens[i]);
			}
	return (NULL);
}

/* Presence keys counted before a purge, to find those it zeroed. */
struct keylist {
	char		**keys;
	size_t		 n;
	size_t		 cap;
};

static int
collect_key(void *arg, const char *key, uint32_t total)
{
	struct keylist *kl = arg;
	void *p;

	(void)total;
	if (kl->n == kl->cap) {
		size_t ncap = kl->cap ? kl->cap * 2 : 64;

		if ((p = realloc(kl->keys, ncap * sizeof(*kl->keys))) == NULL)
			return (1);
		kl->keys = p;
		kl->cap = ncap;
	}
	if ((kl->keys[kl->n] = strdup(key)) == NULL)
		return (1);
	kl->n++;
	return (0);
}

/*
 * Purge a dead worker's shared-memory state, and hand the presence keys
 * that fell to zero to a serving worker, which sends the offline /
 * user_left events the dead one never will: a worker of the same
 * generation, or for a draining or abandoned generation one of the
 * serving generation (which announces only the keys it does not count
 * itself: those users did not come back).
 */
static void
purge_and_reconcile(struct gen *g, unsigned dead)
{
	struct keylist kl = { NULL, 0, 0 };
	char buf[CF_IPC_CHUNK_MAX];
	size_t i, len = 0, klen;
	struct gen *t = g->state == GEN_SERVING ? g : m.cur;
	unsigned j, target = UINT_MAX;

	(void)cf_shm_presence_each(g->shm, collect_key, &kl);
	if (cf_shm_purge_slot(g->shm, dead) == -1)
		cf_log_warnx("worker %u: shared memory purge failed", dead);
	for (j = 0; t != NULL && t->state == GEN_SERVING && j < t->nslots;
	    j++)
		if ((t != g || j != dead) && t->slots[j].state == SLOT_RUNNING) {
			target = j;
			break;
		}
	for (i = 0; i < kl.n; i++) {
		if (target != UINT_MAX &&
		    cf_shm_presence_get(g->shm, kl.keys[i]) == 0) {
			klen = strlen(kl.keys[i]);
			if (len + klen + 1 > sizeof(buf)) {
				(void)cf_ipc_post(t->inbox_tx[target],
				    CF_IPC_GONE, target, buf, len);
				len = 0;
			}
			memcpy(buf + len, kl.keys[i], klen);
			buf[len + klen] = '\n';
			len += klen + 1;
		}
		free(kl.keys[i]);
	}
	if (len > 0 && target != UINT_MAX && cf_ipc_post(t->inbox_tx[target],
	    CF_IPC_GONE, target, buf, len) == -1)
		cf_log_warn("worker %u: reconcile message", target);
	free(kl.keys);
}

/*
 * Give up a generation that failed to start: the serving one goes on as
 * if the reload had not happened.
 */
static void
abandon_next(const char *why)
{
	struct gen *g = m.next;

	cf_log_warnx("reload failed, generation %u keeps serving with the "
	    "running configuration: generation %u %s", m.cur->id, g->id, why);
	m.next = NULL;
	g->state = GEN_DRAINING;
	g->deadline = cf_now_ms() + 2000;
	signal_gen(g, SIGQUIT);
	notify("READY=1\nSTATUS=reload failed, old configuration kept");
}

/*
 * The new generation is ready: it serves, and the old one hands over its
 * clients (SIGUSR2) and exits within its shutdown-timeout.
 */
static void
switch_over(void)
{
	struct gen *old = m.cur;
	char st[96];

	old->state = GEN_DRAINING;
	old->deadline = cf_now_ms() + old->conf->shutdown_timeout_ms + 2000;
	m.cur = m.next;
	m.next = NULL;
	m.cur->state = GEN_SERVING;
	cf_log_set_level(m.cur->conf->log_level);
	signal_gen(old, SIGUSR2);
	cf_log_info("generation %u serves with %u workers; generation %u "
	    "drains", m.cur->id, m.cur->nslots, old->id);
	snprintf(st, sizeof(st), "READY=1\nSTATUS=generation %u serving",
	    m.cur->id);
	notify(st);
}

/*
 * Slot i of g will not run again: empty its inbox, closing every
 * connection passed to it (SCM_RIGHTS), so that none waits in CLOSE_WAIT
 * for a reader that never comes.  The workers pass nothing more to a slot
 * with no pid (cf_worker_slot_running); this takes what was queued before.
 */
static void
drain_inbox(struct gen *g, unsigned i)
{
	union {
		struct cmsghdr	 h;
		char		 b[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	struct cmsghdr *c;
	struct msghdr msg;
	struct iovec iov;
	char buf[256];
	unsigned closed = 0;
	size_t k, n;
	int fd;

	if (g->inbox_rx == NULL || g->inbox_rx[i] == -1)
		return;
	for (;;) {
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = buf;
		iov.iov_len = sizeof(buf);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.b;
		msg.msg_controllen = sizeof(ctl.b);
		if (recvmsg(g->inbox_rx[i], &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)
		    == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (c = CMSG_FIRSTHDR(&msg); c != NULL;
		    c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (k = 0; k < n; k++) {
				memcpy(&fd, CMSG_DATA(c) + k * sizeof(int),
				    sizeof(fd));
				close(fd);
				closed++;
			}
		}
	}
	if (closed > 0)
		cf_log_info("worker %u: closed %u connections left in its inbox",
		    i, closed);
}

static void
child_died(struct gen *g, unsigned i, int status)
{
	struct slot *s = &g->slots[i];
	uint64_t now = cf_now_ms();
	unsigned j, recent = 0;
	char how[64];
	pid_t pid = s->pid;

	s->pid = 0;
	s->state = SLOT_IDLE;
	if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "killed by signal %d%s",
		    WTERMSIG(status), WCOREDUMP(status) ? " (core dumped)" : "");
	else
		snprintf(how, sizeof(how), "exited with status %d",
		    WEXITSTATUS(status));
	/* Whatever the worker held in shared memory goes before a respawn. */
	purge_and_reconcile(g, i);
	if (m.stopping || g->state == GEN_DRAINING) {
		cf_log_info("worker %u (pid %d) %s", i, (int)pid, how);
		return;
	}
	if (g->state == GEN_STARTING) {
		s->state = SLOT_FAILED;
		snprintf(how + strlen(how), sizeof(how) - strlen(how),
		    " (worker %u)", i);
		abandon_next(how);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
		cf_log_warnx("worker %u (pid %d) %s: fatal, not respawning", i,
		    (int)pid, how);
		s->state = SLOT_FAILED;
		drain_inbox(g, i);
		return;
	}
	if (now - s->started_ms >= CF_STABLE_MS)
		s->backoff_ms = 0;
	s->crashes[s->ncrashes++ % CF_CRASH_LIMIT] = now;
	for (j = 0; j < CF_CRASH_LIMIT && j < s->ncrashes; j++)
		if (now - s->crashes[j] < CF_CRASH_WINDOW_MS)
			recent++;
	if (recent >= CF_CRASH_LIMIT) {
		cf_log_warnx("worker %u (pid %d) %s; crash loop: %d exits in "
		    "%d s, slot %u is no longer respawned", i, (int)pid, how,
		    CF_CRASH_LIMIT, CF_CRASH_WINDOW_MS / 1000, i);
		s->state = SLOT_FAILED;
		drain_inbox(g, i);
		return;
	}
	s->backoff_ms = s->backoff_ms == 0 ? CF_BACKOFF_MIN_MS :
	    (s->backoff_ms * 2 > CF_BACKOFF_MAX_MS ? CF_BACKOFF_MAX_MS :
	    s->backoff_ms * 2);
	s->respawn_at = now + s->backoff_ms;
	s->state = SLOT_RESPAWN;
	cf_log_warnx("worker %u (pid %d) %s; respawning in %u ms", i, (int)pid,
	    how, s->backoff_ms);
}

static void
reap(void)
{
	struct gen *g;
	unsigned i;
	pid_t pid;
	int status;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == 0 || (pid == -1 && errno == ECHILD))
			return;
		if (pid == -1) {
			if (errno == EINTR)
				continue;
			cf_log_warn("waitpid");
			return;
		}
		if ((g = slot_of(pid, &i)) != NULL)
			child_died(g, i, status);
	}
}

/* ------------------------------------------------------------ reload */

/* The directives a new generation applies (needs_generation). */
static const char *const generation_directives[] = {
	"listen", "workers", "presence-slots", "data-dir", "database", "redis",
	"host-id", NULL
};

static void
log_change(void *arg, const struct cf_directive *d, const char *old,
    const char *new)
{
	const char *later = " (takes effect at the next restart)";
	size_t i;

	(void)arg;
	if (d->flags & CF_CONF_HOT)
		later = "";
	for (i = 0; generation_directives[i] != NULL; i++)
		if (strcmp(d->name, generation_directives[i]) == 0)
			later = " (new workers)";
	if (old == NULL)
		cf_log_info("reload: %s changed%s", d->name, later);
	else
		cf_log_info("reload: %s %s -> %s%s", d->name, old, new, later);
}

static int
str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a != b);
	return (strcmp(a, b) != 0);
}

/*
 * 1 when b changes what the workers set up once (listeners, worker count,
 * segment size, storage, relay, host name: generation_directives): only a new
 * generation applies it.
 */
static int
needs_generation(const struct cf_conf *a, const struct cf_conf *b)
{
	int i;

	if (a->nlisten != b->nlisten || a->workers != b->workers ||
	    a->presence_slots != b->presence_slots ||
	    str_differs(a->data_dir, b->data_dir) ||
	    str_differs(a->database, b->database) ||
	    str_differs(a->redis, b->redis) ||
	    str_differs(a->host_id, b->host_id))
		return (1);
	for (i = 0; i < a->nlisten; i++)
		if (!same_address(&a->listen[i], &b->listen[i]))
			return (1);
	return (0);
}

/*
 * Create conf's default-channel in db when it has no channel and never
 * had one created this way (cf_store_default_channel).  0, or -1 logged.
 */
static int
default_channel(struct cf_db *db, const struct cf_conf *conf)
{
	int64_t id = 0;

	if (conf->default_channel[0] == '\0')
		return (0);
	if (cf_store_default_channel(db, conf->default_channel, cf_now_ms(),
	    &id) != 0) {
		cf_log_warnx("database: cannot create the default channel %s",
		    conf->default_channel);
		return (-1);
	}
	if (id != 0)
		cf_log_info("database: created the public channel \"%s\" "
		    "(id %lld); \"default-channel \"\"\" disables this",
		    conf->default_channel, (long long)id);
	return (0);
}

static void
reload_failed(const char *why, struct cf_conf *nc)
{
	cf_log_warnx("reload failed, keeping the running configuration: %s",
	    why);
	cf_conf_free(nc);
	notify("READY=1\nSTATUS=reload failed, old configuration kept");
}

/*
 * Start a generation for nc (owned from now on).  The serving one keeps
 * serving until every new worker is ready (switch_over).
 */
static void
reload_cold(struct cf_conf *nc)
{
	struct gen *g;
	unsigned i;

	{
		struct cf_db *db = cf_db_open(nc->database);

		if (db == NULL || default_channel(db, nc) == -1) {
			cf_db_close(db);
			reload_failed("the database cannot be opened or prepared", nc);
			return;
		}
		cf_db_close(db);
	}
	if ((g = gen_new(nc)) == NULL) {
		notify("READY=1\nSTATUS=reload failed, old configuration kept");
		cf_log_warnx("reload failed, keeping the running configuration");
		return;
	}
	m.next = g;
	g->deadline = cf_now_ms() + CF_START_TIMEOUT_MS;
	cf_log_info("reload: starting generation %u with %u workers; "
	    "generation %u serves until they are ready", g->id, g->nslots,
	    m.cur->id);
	for (i = 0; i < g->nslots; i++)
		if (spawn(g, i) == -1) {
			abandon_next("could not fork its workers");
			return;
		}
}

static void
reload(void)
{
	char err[CF_CONF_ERRLEN];
	struct cf_conf *nc;
	int n;

	if (m.conf_path == NULL) {
		cf_log_info("reload: running on built-in defaults, nothing to "
		    "re-read");
		return;
	}
	if (m.next != NULL) {
		cf_log_warnx("reload refused: generation %u is still starting",
		    m.next->id);
		return;
	}
	notify("RELOADING=1");
	if ((nc = cf_conf_load(m.conf_path, err, sizeof(err))) == NULL) {
		reload_failed(err, NULL);
		return;
	}
	if (cf_secret_ensure(nc) == -1) {
		reload_failed("no JWT secret", nc);
		return;
	}
	/* The changes are logged at the more verbose of the two levels. */
	if (nc->log_level > m.cur->conf->log_level)
		cf_log_set_level(nc->log_level);
	n = cf_conf_diff(m.cur->conf, nc, log_change, NULL);
	if (needs_generation(m.cur->conf, nc)) {
		reload_cold(nc);
		cf_log_set_level(m.cur->conf->log_level);	/* until it serves */
		return;
	}
	cf_conf_free(m.cur->conf);
	m.cur->conf = nc;
	cf_log_set_level(nc->log_level);
	cf_log_info("configuration reloaded from %s (%d change%s)", m.conf_path,
	    n, n == 1 ? "" : "s");
	signal_gen(m.cur, SIGHUP);
	notify("READY=1\nSTATUS=configuration reloaded");
}

/* -------------------------------------------------------------- loop */

static void
begin_stop(int fast)
{
	if (m.stopping >= (fast ? 2 : 1))
		return;
	m.stopping = fast ? 2 : 1;
	cf_log_info("%s stop requested", fast ? "fast" : "graceful");
	notify("STOPPING=1");
	signal_workers(fast ? SIGQUIT : SIGTERM);
	m.kill_at = cf_now_ms() + (fast ? 1000 :
	    m.cur->conf->shutdown_timeout_ms + 2000);
}

/*
 * The generations that are switching: a starting one that is ready takes
 * over, or is abandoned after CF_START_TIMEOUT_MS; draining ones are freed
 * once empty, their stragglers killed after the deadline.  Returns 1 while
 * something is in progress (the loop then polls every CF_TICK_MS).
 */
static int
generations_step(uint64_t now)
{
	struct cf_shm_stats *st;
	struct gen *g;
	unsigned i, ready = 0;
	int busy = 0;

	if ((g = m.next) != NULL) {
		for (i = 0; i < g->nslots; i++)
			if (g->slots[i].state == SLOT_RUNNING &&
			    (st = cf_shm_stats(g->shm, i)) != NULL &&
			    __atomic_load_n(&st->ready, __ATOMIC_ACQUIRE))
				ready++;
		if (ready == g->nslots)
			switch_over();
		else if (now >= g->deadline)
			abandon_next("was not ready in time");
		busy = 1;
	}
	for (i = 0; i < m.ngens; i++) {
		g = m.gens[i];
		if (g->state != GEN_DRAINING)
			continue;
		busy = 1;
		if (gen_alive(g) == 0) {
			cf_log_info("generation %u has exited", g->id);
			gen_free(g);
			i--;
		} else if (now >= g->deadline) {
			cf_log_warnx("generation %u: workers still running after "
			    "the shutdown timeout; killing them", g->id);
			signal_gen(g, SIGKILL);
			g->deadline = now + 1000;
		}
	}
	return (busy);
}

/* Worker restarts for /metrics, kept in the slot's stats by the purge. */
static void
count_restart(struct gen *g, unsigned i)
{
	struct cf_shm_stats *st = cf_shm_stats(g->shm, i);

	if (st != NULL)
		__atomic_add_fetch(&st->restarts, 1, __ATOMIC_RELAXED);
}

/* The inbox of the serving generation's next running worker, or -1. */
static int
control_target(void)
{
	struct gen *g = m.cur;
	unsigned i, j;

	for (i = 0; g != NULL && i < g->nslots; i++) {
		j = (m.control_next + i) % g->nslots;
		if (g->slots[j].state == SLOT_RUNNING) {
			m.control_next = j + 1;
			return (g->inbox_tx[j]);
		}
	}
	return (-1);
}

/* SIGUSR1: the master's log file first, so the workers find it. */
static void
reopen_logs(void)
{
	if (cf_log_reopen() == -1) {
		cf_log_warn("reopen log file %s", cf_log_file());
		return;
	}
	(void)cf_user_chown(cf_log_file());
	cf_log_ev(CF_LOG_INFO, "log_reopened", "%s", "");
	signal_workers(SIGUSR1);
}

static int
main_loop(void)
{
	struct pollfd pfd[2];
	struct gen *g;
	uint64_t now, next;
	unsigned i;
	char drain[64];
	int timeout, pending;

	for (;;) {
		if (got_chld) {
			got_chld = 0;
			reap();
		}
		if (got_hup) {
			got_hup = 0;
			if (!m.stopping)
				reload();
		}
		if (got_term) {
			got_term = 0;
			begin_stop(m.stopping == 1);	/* a second TERM is fast */
		}
		if (got_quit) {
			got_quit = 0;
			begin_stop(1);
		}
		if (got_usr1) {
			got_usr1 = 0;
			reopen_logs();
		}
		now = cf_now_ms();
		next = 0;
		pending = 0;
		g = m.cur;
		if (!m.stopping && now >= m.sweep_at) {
			/*
			 * Belt and braces: whatever a slot that is not running
			 * still holds in shared memory is swept, and its users'
			 * offline events sent.
			 */
			for (i = 0; i < g->nslots; i++)
				if (g->slots[i].state != SLOT_RUNNING)
					purge_and_reconcile(g, i);
			m.sweep_at = now + g->conf->cleanup_interval_ms;
		}
		if (!m.stopping) {
			for (i = 0; i < g->nslots; i++) {
				if (g->slots[i].state != SLOT_RESPAWN)
					continue;
				if (now >= g->slots[i].respawn_at) {
					cf_log_info("respawning worker %u", i);
					if (spawn(g, i) == -1) {
						g->slots[i].respawn_at = now + 1000;
						pending++;
					} else
						count_restart(g, i);
				} else
					pending++;
				if (g->slots[i].state == SLOT_RESPAWN &&
				    (next == 0 || g->slots[i].respawn_at < next))
					next = g->slots[i].respawn_at;
			}
			if (generations_step(now) &&
			    (next == 0 || now + CF_TICK_MS < next))
				next = now + CF_TICK_MS;
			if (next == 0 || m.sweep_at < next)
				next = m.sweep_at;
			if (gen_alive(m.cur) == 0 && pending == 0 &&
			    m.next == NULL) {
				cf_log_warnx("no worker left to serve; exiting");
				return (1);
			}
		} else {
			if (alive() == 0)
				return (0);
			if (now >= m.kill_at) {
				cf_log_warnx("workers still running after the "
				    "shutdown timeout; killing them");
				signal_workers(SIGKILL);
				m.kill_at = now + 1000;
			}
			next = now + 100;
		}
		timeout = next == 0 ? -1 : (int)(next > now ? next - now : 0);
		pfd[0].fd = selfpipe[0];
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		pfd[1].fd = m.control_fd;	/* -1 is ignored by poll */
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		if (poll(pfd, 2, timeout) == -1 && errno != EINTR) {
			cf_log_warn("poll");
			return (1);
		}
		if (pfd[1].revents & POLLIN)
			cf_control_accept(m.control_fd, control_target());
		while (read(selfpipe[0], drain, sizeof(drain)) > 0)
			;
	}
}

int
cf_master_run(struct cf_conf *conf, const char *conf_path, int foreground)
{
	unsigned i;
	int rc = 1;

	(void)foreground;
	m.conf_path = conf_path;
	cf_log_set_proc("master");
	if (signals_setup() == -1) {
		cf_log_warn("signals");
		cf_conf_free(conf);
		goto done;
	}
	/*
	 * Create and migrate the database once, here, before any worker
	 * opens it, with its default channel; the connection is closed
	 * before forking.
	 */
	{
		struct cf_db *db = cf_db_open(conf->database);

		if (db == NULL || default_channel(db, conf) == -1) {
			cf_db_close(db);
			cf_conf_free(conf);
			goto done;
		}
		cf_db_close(db);
	}
	if ((m.control_path = strdup(conf->control_socket)) == NULL ||
	    (m.control_fd = cf_control_open(conf)) == -1 ||
	    cf_user_chown_files(conf) == -1) {
		cf_conf_free(conf);
		goto done;
	}
	if ((m.cur = gen_new(conf)) == NULL)
		goto done;
	m.cur->state = GEN_SERVING;
	for (i = 0; i < m.cur->nslots; i++)
		if (spawn(m.cur, i) == -1)
			goto done;
	m.sweep_at = cf_now_ms() + m.cur->conf->cleanup_interval_ms;
	cf_log_ev(CF_LOG_INFO, "started", "version=%s workers=%u pid=%d",
	    PACKAGE_VERSION, m.cur->nslots, (int)getpid());
	{
		char st[64];

		snprintf(st, sizeof(st), "READY=1\nMAINPID=%d", (int)getpid());
		notify(st);
	}
	rc = main_loop();
	/*
	 * Every worker has closed its connection: fold the write-ahead log
	 * into the database file, so a backup of that file alone is whole.
	 */
	if (rc == 0)
		(void)cf_db_checkpoint(m.cur->conf->database);
	cf_log_ev(CF_LOG_INFO, "stopped", "status=%d", rc);
 done:
	if (m.ngens > 0 && rc != 0) {
		signal_workers(SIGKILL);
		while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
			;
	}
	while (m.ngens > 0)
		gen_free(m.gens[0]);
	cf_control_close(m.control_fd, m.control_path);
	free(m.control_path);
	return (rc);
}
