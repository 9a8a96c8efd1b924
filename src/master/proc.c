/*
 * proc.c -- the worker processes.  A worker that died is purged from
 * shared memory and respawned after a backoff (100 ms doubling to 30 s,
 * reset once a worker has run 30 s); five crashes of a slot within 60 s
 * is a crash loop and the slot is no longer respawned.  Exit status 2
 * from a worker is fatal: never respawned.  A worker of a starting
 * generation that dies abandons that generation; one of a draining
 * generation is only logged.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master/master_int.h"
#include "shm/shm.h"
#include "util.h"

int
master_spawn(struct gen *g, unsigned i)
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
		master_signals_child();
		master_gen_close_foreign(g);
		if (cf_m.control_fd != -1)
			close(cf_m.control_fd);	/* the master's alone */
		memset(&in, 0, sizeof(in));
		in.slot = i;
		in.nslots = g->nslots;
		in.generation = g->id;
		in.conf = g->conf;
		in.conf_path = cf_m.conf_path;
		in.listen_fds = g->listen_fds;
		in.nlisten = g->nlisten;
		in.inbox_rx = g->inbox_rx;
		in.inbox_tx = g->inbox_tx;
		in.master_fd = -1;
		in.shm = g->shm;
		rc = cf_m.worker_main(&in);
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

void
master_signal_workers(int sig)
{
	unsigned i;

	for (i = 0; i < cf_m.ngens; i++)
		master_gen_signal(cf_m.gens[i], sig);
}

unsigned
master_alive(void)
{
	unsigned i, n = 0;

	for (i = 0; i < cf_m.ngens; i++)
		n += master_gen_alive(cf_m.gens[i]);
	return (n);
}

/* The generation and slot of a worker's pid; NULL when it is none. */
static struct gen *
slot_of(pid_t pid, unsigned *slot)
{
	unsigned i, j;

	for (i = 0; i < cf_m.ngens; i++)
		for (j = 0; j < cf_m.gens[i]->nslots; j++)
			if (cf_m.gens[i]->slots[j].pid == pid) {
				*slot = j;
				return (cf_m.gens[i]);
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
void
master_purge(struct gen *g, unsigned dead)
{
	struct keylist kl = { NULL, 0, 0 };
	char buf[CF_IPC_CHUNK_MAX];
	size_t i, len = 0, klen;
	struct gen *t = g->state == GEN_SERVING ? g : cf_m.cur;
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
 * Slot i of g will not run again: empty its inbox, closing every
 * connection passed to it (SCM_RIGHTS), so that none waits in CLOSE_WAIT
 * for a reader that never comes.  The workers pass nothing more to a slot
 * with no pid (cf_shm_slot_running); this takes what was queued before.
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
	master_purge(g, i);
	if (cf_m.stopping || g->state == GEN_DRAINING) {
		cf_log_info("worker %u (pid %d) %s", i, (int)pid, how);
		return;
	}
	if (g->state == GEN_STARTING) {
		s->state = SLOT_FAILED;
		snprintf(how + strlen(how), sizeof(how) - strlen(how),
		    " (worker %u)", i);
		master_gen_abandon(how);
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

void
master_reap(void)
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

/* Worker restarts for /metrics, kept in the slot's stats by the purge. */
static void
count_restart(struct gen *g, unsigned i)
{
	struct cf_shm_stats *st = cf_shm_stats(g->shm, i);

	if (st != NULL)
		__atomic_add_fetch(&st->restarts, 1, __ATOMIC_RELAXED);
}

/*
 * Start the serving generation's workers whose backoff has passed (a
 * failed fork retries a second later).  Returns the number still waiting;
 * *next is lowered to the earliest time one of them is due (0: unset).
 */
unsigned
master_respawn(uint64_t now, uint64_t *next)
{
	struct gen *g = cf_m.cur;
	unsigned i, pending = 0;

	for (i = 0; i < g->nslots; i++) {
		if (g->slots[i].state != SLOT_RESPAWN)
			continue;
		if (now >= g->slots[i].respawn_at) {
			cf_log_info("respawning worker %u", i);
			if (master_spawn(g, i) == -1) {
				g->slots[i].respawn_at = now + 1000;
				pending++;
			} else
				count_restart(g, i);
		} else
			pending++;
		if (g->slots[i].state == SLOT_RESPAWN &&
		    (*next == 0 || g->slots[i].respawn_at < *next))
			*next = g->slots[i].respawn_at;
	}
	return (pending);
}
