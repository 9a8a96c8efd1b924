/*
 * master.c -- supervision: the master's loop, start and stop.
 *
 * Signal handlers (signals.c) only set a flag and write one byte to a
 * self-pipe; the loop below polls the pipe and does the work:
 *   SIGCHLD   reap workers and respawn them (proc.c).
 *   SIGHUP    reload (reload.c): hot changes are re-read by the workers,
 *             the others start a new generation (gen.c).
 *   SIGTERM, SIGINT  graceful stop: workers close their clients and exit;
 *             after shutdown-timeout (+2 s) the rest are killed; then the
 *             SQLite write-ahead log is checkpointed.
 *   SIGQUIT (or a second SIGTERM)  fast stop.
 *   SIGUSR1   reopen the log file, then have the workers reopen it.
 * The control socket (control.c) is polled with the self-pipe; its
 * connections go to the serving generation's workers in turn.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
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
#include "master/master_int.h"
#include "user.h"
#include "util.h"

struct cf_master cf_m = { .control_fd = -1 };

/*
 * Tell the service manager (systemd, Type=notify) about our state through
 * $NOTIFY_SOCKET, without libsystemd: one datagram per state.  A no-op
 * when the variable is unset.
 */
void
master_notify(const char *state)
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
begin_stop(int fast)
{
	if (cf_m.stopping >= (fast ? 2 : 1))
		return;
	cf_m.stopping = fast ? 2 : 1;
	cf_log_info("%s stop requested", fast ? "fast" : "graceful");
	master_notify("STOPPING=1");
	master_signal_workers(fast ? SIGQUIT : SIGTERM);
	cf_m.kill_at = cf_now_ms() + (fast ? 1000 :
	    cf_m.cur->conf->shutdown_timeout_ms + 2000);
}

/* The inbox of the serving generation's next running worker, or -1. */
static int
control_target(void)
{
	struct gen *g = cf_m.cur;
	unsigned i, j;

	for (i = 0; g != NULL && i < g->nslots; i++) {
		j = (cf_m.control_next + i) % g->nslots;
		if (g->slots[j].state == SLOT_RUNNING) {
			cf_m.control_next = j + 1;
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
	master_signal_workers(SIGUSR1);
}

static int
main_loop(void)
{
	struct pollfd pfd[2];
	struct gen *g;
	uint64_t now, next;
	unsigned i, sigs, pending;
	int timeout;

	for (;;) {
		sigs = master_signals_take();
		if (sigs & MASTER_SIG_CHLD)
			master_reap();
		if ((sigs & MASTER_SIG_HUP) && !cf_m.stopping)
			master_reload();
		if (sigs & MASTER_SIG_TERM)
			begin_stop(cf_m.stopping == 1);	/* a second TERM is fast */
		if (sigs & MASTER_SIG_QUIT)
			begin_stop(1);
		if (sigs & MASTER_SIG_USR1)
			reopen_logs();
		now = cf_now_ms();
		next = 0;
		g = cf_m.cur;
		if (!cf_m.stopping && now >= cf_m.sweep_at) {
			/*
			 * Belt and braces: whatever a slot that is not running
			 * still holds in shared memory is swept, and its users'
			 * offline events sent.
			 */
			for (i = 0; i < g->nslots; i++)
				if (g->slots[i].state != SLOT_RUNNING)
					master_purge(g, i);
			cf_m.sweep_at = now + g->conf->cleanup_interval_ms;
		}
		if (!cf_m.stopping) {
			pending = master_respawn(now, &next);
			if (master_gens_step(now) &&
			    (next == 0 || now + CF_TICK_MS < next))
				next = now + CF_TICK_MS;
			if (next == 0 || cf_m.sweep_at < next)
				next = cf_m.sweep_at;
			if (master_gen_alive(cf_m.cur) == 0 && pending == 0 &&
			    cf_m.next == NULL) {
				cf_log_warnx("no worker left to serve; exiting");
				return (1);
			}
		} else {
			if (master_alive() == 0)
				return (0);
			if (now >= cf_m.kill_at) {
				cf_log_warnx("workers still running after the "
				    "shutdown timeout; killing them");
				master_signal_workers(SIGKILL);
				cf_m.kill_at = now + 1000;
			}
			next = now + 100;
		}
		timeout = next == 0 ? -1 : (int)(next > now ? next - now : 0);
		pfd[0].fd = master_signals_fd();
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		pfd[1].fd = cf_m.control_fd;	/* -1 is ignored by poll */
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		if (poll(pfd, 2, timeout) == -1 && errno != EINTR) {
			cf_log_warn("poll");
			return (1);
		}
		if (pfd[1].revents & POLLIN)
			cf_control_accept(cf_m.control_fd, control_target());
		master_signals_drain();
	}
}

int
cf_master_run(struct cf_conf *conf, const char *conf_path, int foreground,
    cf_worker_main_fn worker_main)
{
	unsigned i;
	int rc = 1;

	(void)foreground;
	cf_m.conf_path = conf_path;
	cf_m.worker_main = worker_main;
	cf_log_set_proc("master");
	if (master_signals_setup() == -1) {
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

		if (db == NULL || master_default_channel(db, conf) == -1) {
			cf_db_close(db);
			cf_conf_free(conf);
			goto done;
		}
		cf_db_close(db);
	}
	if ((cf_m.control_path = strdup(conf->control_socket)) == NULL ||
	    (cf_m.control_fd = cf_control_open(conf)) == -1 ||
	    cf_user_chown_files(conf) == -1) {
		cf_conf_free(conf);
		goto done;
	}
	if ((cf_m.cur = master_gen_new(conf)) == NULL)
		goto done;
	cf_m.cur->state = GEN_SERVING;
	for (i = 0; i < cf_m.cur->nslots; i++)
		if (master_spawn(cf_m.cur, i) == -1)
			goto done;
	cf_m.sweep_at = cf_now_ms() + cf_m.cur->conf->cleanup_interval_ms;
	cf_log_ev(CF_LOG_INFO, "started", "version=%s workers=%u pid=%d",
	    PACKAGE_VERSION, cf_m.cur->nslots, (int)getpid());
	{
		char st[64];

		snprintf(st, sizeof(st), "READY=1\nMAINPID=%d", (int)getpid());
		master_notify(st);
	}
	rc = main_loop();
	/*
	 * Every worker has closed its connection: fold the write-ahead log
	 * into the database file, so a backup of that file alone is whole.
	 */
	if (rc == 0)
		(void)cf_db_checkpoint(cf_m.cur->conf->database);
	cf_log_ev(CF_LOG_INFO, "stopped", "status=%d", rc);
 done:
	if (cf_m.ngens > 0 && rc != 0) {
		master_signal_workers(SIGKILL);
		while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
			;
	}
	while (cf_m.ngens > 0)
		master_gen_free(cf_m.gens[0]);
	cf_control_close(cf_m.control_fd, cf_m.control_path);
	free(cf_m.control_path);
	return (rc);
}
