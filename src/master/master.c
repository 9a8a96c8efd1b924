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
 *             errors are logged with file:line; a good one is adopted and
 *             the workers re-read it (hot settings).  Changed cold settings
 *             (listen, workers, data-dir, database, redis, presence-slots)
 *             are logged and wait for a restart.
 *   SIGTERM, SIGINT  graceful stop: workers close their clients and exit;
 *             after shutdown-timeout (+2 s) the rest are killed.
 *   SIGQUIT   fast stop.
 *   SIGUSR1   reopen the log file, then have the workers reopen it.
 * The control socket (control.c) is polled with the self-pipe; its
 * connections go to the running workers in turn.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
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

static volatile sig_atomic_t got_chld, got_hup, got_term, got_quit, got_usr1;
static int selfpipe[2] = { -1, -1 };

static struct {
	struct cf_conf	*conf;
	const char	*conf_path;
	int		 listen_fds[CF_MAX_LISTEN_FDS];
	int		 nlisten;
	struct cf_shm	*shm;
	unsigned	 nslots;
	int		*inbox_rx;
	int		*inbox_tx;
	struct slot	*slots;
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

static int
spawn(unsigned i)
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
		if (m.control_fd != -1)
			close(m.control_fd);	/* the master's alone */
		memset(&in, 0, sizeof(in));
		in.slot = i;
		in.nslots = m.nslots;
		in.conf = m.conf;
		in.conf_path = m.conf_path;
		in.listen_fds = m.listen_fds;
		in.nlisten = m.nlisten;
		in.inbox_rx = m.inbox_rx;
		in.inbox_tx = m.inbox_tx;
		in.master_fd = -1;
		in.shm = m.shm;
		rc = cf_worker_main(&in);
		_exit(rc);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	m.slots[i].pid = pid;
	m.slots[i].state = SLOT_RUNNING;
	m.slots[i].started_ms = cf_now_ms();
	cf_log_debug("worker %u started (pid %d)", i, (int)pid);
	return (0);
}

static int
slot_of(pid_t pid)
{
	unsigned i;

	for (i = 0; i < m.nslots; i++)
		if (m.slots[i].pid == pid)
			return ((int)i);
	return (-1);
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
 * that fell to zero to a live worker, which sends the offline / user_left
 * events the dead one never will.
 */
static void
purge_and_reconcile(unsigned dead)
{
	struct keylist kl = { NULL, 0, 0 };
	char buf[CF_IPC_CHUNK_MAX];
	size_t i, len = 0, klen;
	unsigned j, target = m.nslots;

	(void)cf_shm_presence_each(m.shm, collect_key, &kl);
	if (cf_shm_purge_slot(m.shm, dead) == -1)
		cf_log_warnx("worker %u: shared memory purge failed", dead);
	for (j = 0; j < m.nslots; j++)
		if (j != dead && m.slots[j].state == SLOT_RUNNING) {
			target = j;
			break;
		}
	for (i = 0; i < kl.n; i++) {
		if (target < m.nslots &&
		    cf_shm_presence_get(m.shm, kl.keys[i]) == 0) {
			klen = strlen(kl.keys[i]);
			if (len + klen + 1 > sizeof(buf)) {
				(void)cf_ipc_post(m.inbox_tx[target],
				    CF_IPC_GONE, dead, buf, len);
				len = 0;
			}
			memcpy(buf + len, kl.keys[i], klen);
			buf[len + klen] = '\n';
			len += klen + 1;
		}
		free(kl.keys[i]);
	}
	if (len > 0 && target < m.nslots &&
	    cf_ipc_post(m.inbox_tx[target], CF_IPC_GONE, dead, buf, len) == -1)
		cf_log_warn("worker %u: reconcile message", target);
	free(kl.keys);
}

static void
child_died(unsigned i, int status)
{
	struct slot *s = &m.slots[i];
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
	purge_and_reconcile(i);
	if (m.stopping) {
		cf_log_info("worker %u (pid %d) %s", i, (int)pid, how);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
		cf_log_warnx("worker %u (pid %d) %s: fatal, not respawning", i,
		    (int)pid, how);
		s->state = SLOT_FAILED;
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
	pid_t pid;
	int status, i;

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
		if ((i = slot_of(pid)) != -1)
			child_died((unsigned)i, status);
	}
}

static void
signal_workers(int sig)
{
	unsigned i;

	for (i = 0; i < m.nslots; i++)
		if (m.slots[i].state == SLOT_RUNNING && m.slots[i].pid > 0)
			(void)kill(m.slots[i].pid, sig);
}

static int
str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a != b);
	return (strcmp(a, b) != 0);
}

static void
reload(void)
{
	char err[CF_CONF_ERRLEN], cold[256];
	struct cf_conf *nc;
	int i, listen_changed;

	if (m.conf_path == NULL) {
		cf_log_info("reload: running on built-in defaults, nothing to "
		    "re-read");
		return;
	}
	notify("RELOADING=1");
	if ((nc = cf_conf_load(m.conf_path, err, sizeof(err))) == NULL) {
		cf_log_warnx("reload failed, keeping the running configuration: "
		    "%s", err);
		notify("READY=1\nSTATUS=reload failed, old configuration kept");
		return;
	}
	if (cf_secret_ensure(nc) == -1) {
		cf_log_warnx("reload failed: no JWT secret");
		cf_conf_free(nc);
		notify("READY=1\nSTATUS=reload failed, old configuration kept");
		return;
	}
	cold[0] = '\0';
	listen_changed = nc->nlisten != m.conf->nlisten;
	for (i = 0; !listen_changed && i < nc->nlisten; i++)
		if (strcmp(nc->listen[i].text, m.conf->listen[i].text) != 0)
			listen_changed = 1;
	if (listen_changed)
		strcat(cold, " listen");
	if ((unsigned)nc->workers != m.nslots)
		strcat(cold, " workers");
	if (str_differs(nc->data_dir, m.conf->data_dir))
		strcat(cold, " data-dir");
	if (str_differs(nc->database, m.conf->database))
		strcat(cold, " database");
	if (str_differs(nc->redis, m.conf->redis))
		strcat(cold, " redis");
	if (str_differs(nc->host_id, m.conf->host_id))
		strcat(cold, " host-id");
	if (nc->presence_slots != m.conf->presence_slots)
		strcat(cold, " presence-slots");
	if (str_differs(nc->log_file, m.conf->log_file))
		strcat(cold, " log-file");
	if (str_differs(nc->control_socket, m.conf->control_socket))
		strcat(cold, " control-socket");
	if (str_differs(nc->user, m.conf->user))
		strcat(cold, " user");
	cf_log_set_level(nc->log_level);
	if (cold[0] != '\0') {
		cf_log_warnx("reload: changed%s; these take effect at the next "
		    "restart", cold);
		cf_conf_free(nc);
	} else {
		cf_conf_free(m.conf);
		m.conf = nc;
	}
	cf_log_info("configuration reloaded from %s", m.conf_path);
	signal_workers(SIGHUP);
	notify("READY=1\nSTATUS=configuration reloaded");
}

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
	    m.conf->shutdown_timeout_ms + 2000);
}

static int
alive(void)
{
	unsigned i;
	int n = 0;

	for (i = 0; i < m.nslots; i++)
		if (m.slots[i].state == SLOT_RUNNING)
			n++;
	return (n);
}

/* Worker restarts for /metrics, kept in the slot's stats by the purge. */
static void
count_restart(unsigned i)
{
	struct cf_shm_stats *st = cf_shm_stats(m.shm, i);

	if (st != NULL)
		__atomic_add_fetch(&st->restarts, 1, __ATOMIC_RELAXED);
}

/* The inbox of the next running worker (round robin), or -1. */
static int
control_target(void)
{
	unsigned i, j;

	for (i = 0; i < m.nslots; i++) {
		j = (m.control_next + i) % m.nslots;
		if (m.slots[j].state == SLOT_RUNNING) {
			m.control_next = j + 1;
			return (m.inbox_tx[j]);
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
		if (!m.stopping && now >= m.sweep_at) {
			/*
			 * Belt and braces: whatever a slot that is not running
			 * still holds in shared memory is swept, and its users'
			 * offline events sent.
			 */
			for (i = 0; i < m.nslots; i++)
				if (m.slots[i].state != SLOT_RUNNING)
					purge_and_reconcile(i);
			m.sweep_at = now + m.conf->cleanup_interval_ms;
		}
		if (!m.stopping) {
			for (i = 0; i < m.nslots; i++) {
				if (m.slots[i].state != SLOT_RESPAWN)
					continue;
				if (now >= m.slots[i].respawn_at) {
					cf_log_info("respawning worker %u", i);
					if (spawn(i) == -1) {
						m.slots[i].respawn_at = now + 1000;
						pending++;
					} else
						count_restart(i);
				} else
					pending++;
				if (m.slots[i].state == SLOT_RESPAWN &&
				    (next == 0 || m.slots[i].respawn_at < next))
					next = m.slots[i].respawn_at;
			}
			if (next == 0 || m.sweep_at < next)
				next = m.sweep_at;
			if (alive() == 0 && pending == 0) {
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

static int
inboxes_open(void)
{
	unsigned i;
	int sv[2], sz = 4 * 1024 * 1024;

	m.inbox_rx = calloc(m.nslots, sizeof(int));
	m.inbox_tx = calloc(m.nslots, sizeof(int));
	if (m.inbox_rx == NULL || m.inbox_tx == NULL)
		return (-1);
	for (i = 0; i < m.nslots; i++) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0, sv) == -1) {
			cf_log_warn("socketpair");
			return (-1);
		}
		(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		(void)setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		m.inbox_rx[i] = sv[0];
		m.inbox_tx[i] = sv[1];
	}
	return (0);
}

int
cf_master_run(struct cf_conf *conf, const char *conf_path, int foreground)
{
	unsigned i;
	int rc = 1;

	(void)foreground;
	m.conf = conf;
	m.conf_path = conf_path;
	m.nslots = (unsigned)conf->workers;
	cf_log_set_proc("master");
	if (signals_setup() == -1) {
		cf_log_warn("signals");
		goto done;
	}
	if ((m.nlisten = cf_listen_open(conf, m.listen_fds,
	    CF_MAX_LISTEN_FDS)) <= 0)
		goto done;
	if ((m.shm = cf_shm_create(m.nslots, conf->presence_slots)) == NULL) {
		cf_log_warn("shared memory");
		goto done;
	}
	if (inboxes_open() == -1)
		goto done;
	/*
	 * Create and migrate the database once, here, before any worker
	 * opens it; the connection is closed before forking.
	 */
	{
		struct cf_db *db = cf_db_open(conf->database);

		if (db == NULL)
			goto done;
		cf_db_close(db);
	}
	if ((m.control_path = strdup(conf->control_socket)) == NULL ||
	    (m.control_fd = cf_control_open(conf)) == -1)
		goto done;
	if (cf_user_chown_files(conf) == -1)
		goto done;
	if ((m.slots = calloc(m.nslots, sizeof(*m.slots))) == NULL)
		goto done;
	for (i = 0; i < m.nslots; i++)
		if (spawn(i) == -1)
			goto done;
	m.sweep_at = cf_now_ms() + conf->cleanup_interval_ms;
	cf_log_ev(CF_LOG_INFO, "started", "version=%s workers=%u pid=%d",
	    PACKAGE_VERSION, m.nslots, (int)getpid());
	{
		char st[64];

		snprintf(st, sizeof(st), "READY=1\nMAINPID=%d", (int)getpid());
		notify(st);
	}
	rc = main_loop();
	cf_log_ev(CF_LOG_INFO, "stopped", "status=%d", rc);
 done:
	if (m.slots != NULL && rc != 0) {
		signal_workers(SIGKILL);
		while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
			;
	}
	cf_control_close(m.control_fd, m.control_path);
	free(m.control_path);
	cf_listen_close(m.listen_fds, m.nlisten);
	cf_shm_destroy(m.shm);
	free(m.slots);
	free(m.inbox_rx);
	free(m.inbox_tx);
	cf_conf_free(m.conf);
	return (rc);
}
