/*
 * master_int.h -- what the pieces of the master share; not for the rest
 * of the daemon, which includes master.h only.
 *
 *   master.c    the loop, start and stop, sd_notify, SIGUSR1
 *   signals.c   the handlers, their flags and the self-pipe
 *   gen.c       generations: build, hand over, abandon, free
 *   proc.c      worker processes: fork, reap, respawn with backoff, crash
 *               loops, purging a dead worker's shared memory
 *   reload.c    SIGHUP: parse, diff, hot reload or a new generation
 *   control.c   the control socket (master.h)
 *   listen.c    binding one listen address (master.h)
 *
 * Names shared between these files start with master_; the state of the
 * master is the one struct cf_m.  Everything else is static.
 */
#ifndef CF_MASTER_INT_H
#define CF_MASTER_INT_H

#include <sys/types.h>

#include <stdint.h>

#include "conf.h"
#include "ipc.h"

#define CF_MAX_LISTEN_FDS	(CF_CONF_MAX_LISTEN + 1)	/* + api-listen */
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
	int		 listen_fds[CF_MAX_LISTEN_FDS];	/* conf->listen, then api-listen */
	int		 nlisten;
	struct cf_shm	*shm;
	unsigned	 nslots;
	int		*inbox_rx;
	int		*inbox_tx;
	struct slot	*slots;
	uint64_t	 deadline;	/* STARTING: give up; DRAINING: kill */
};

/* The master's state (master.c). */
struct cf_master {
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
	cf_worker_main_fn worker_main;	/* what a forked worker runs */
};
extern struct cf_master	 cf_m;

/* master.c: tell the service manager (sd_notify) about our state. */
void		 master_notify(const char *state);

/*
 * signals.c.  setup: install the handlers and the self-pipe, 0 or -1.
 * child: in a new worker, default dispositions and nothing blocked.
 * take: the signals received since the last call (MASTER_SIG_* bits),
 * clearing them.  fd: the read end of the self-pipe, to poll; drain:
 * empty it once poll returned.
 */
#define MASTER_SIG_CHLD		0x01
#define MASTER_SIG_HUP		0x02
#define MASTER_SIG_TERM		0x04	/* SIGTERM or SIGINT */
#define MASTER_SIG_QUIT		0x08
#define MASTER_SIG_USR1		0x10
int		 master_signals_setup(void);
void		 master_signals_child(void);
unsigned	 master_signals_take(void);
int		 master_signals_fd(void);
void		 master_signals_drain(void);

/*
 * gen.c.  new: a generation for conf (owned from now on, freed on
 * failure), registered in cf_m.gens, no worker started; NULL on failure.
 * free: release one whose workers have exited (NULL-safe).
 * close_foreign: in a new worker of g, close the other generations' fds.
 * abandon: give up cf_m.next, the serving one goes on.  step: hand over
 * or abandon a starting one, free or kill draining ones; 1 while
 * something is in progress.
 */
struct gen	*master_gen_new(struct cf_conf *conf);
void		 master_gen_free(struct gen *g);
void		 master_gen_close_foreign(const struct gen *g);
void		 master_gen_signal(const struct gen *g, int sig);
unsigned	 master_gen_alive(const struct gen *g);
void		 master_gen_abandon(const char *why);
int		 master_gens_step(uint64_t now);

/*
 * proc.c.  spawn: fork the worker of slot i of g, 0 or -1 (logged).
 * reap: collect every exited worker and decide its slot's future.
 * respawn: start the workers of the serving generation whose backoff has
 * passed; the number still waiting, *next lowered to the earliest.
 * purge: clear what slot `dead` of g held in shared memory and hand the
 * presence keys that fell to zero to a serving worker.
 */
int		 master_spawn(struct gen *g, unsigned i);
void		 master_reap(void);
unsigned	 master_respawn(uint64_t now, uint64_t *next);
void		 master_purge(struct gen *g, unsigned dead);
void		 master_signal_workers(int sig);
unsigned	 master_alive(void);

/*
 * reload.c.  reload: SIGHUP.  default_channel: create conf's
 * default-channel in db when it has none yet; 0, or -1 logged.
 */
struct cf_db;
void		 master_reload(void);
int		 master_default_channel(struct cf_db *db,
		    const struct cf_conf *conf);

#endif
