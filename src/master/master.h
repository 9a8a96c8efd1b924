/*
 * master.h -- the master process: binds, creates shared memory, forks the
 * workers, supervises them, reloads and stops.  It serves no traffic.
 */
#ifndef CF_MASTER_H
#define CF_MASTER_H

#include "conf.h"
#include "ipc.h"

/*
 * Bind and listen on one address (listen.c); the fd (CLOEXEC,
 * non-blocking) or -1, logged.
 */
int	 cf_listen_open_one(const struct cf_listen *l);

/*
 * The control socket (control.c).  open: bind conf->control_socket, mode
 * 0600, replacing a stale socket; the listening fd, or -1 (logged).
 * accept: pass every pending connection to the worker whose inbox send end
 * is `inbox` (-1: none running; the client gets an error line).  close:
 * close and unlink; lfd -1 is a no-op.
 */
int	 cf_control_open(const struct cf_conf *conf);
void	 cf_control_accept(int lfd, int inbox);
void	 cf_control_close(int lfd, const char *path);

/*
 * Run the master until it stops.  conf is owned from now on; conf_path is
 * re-read on SIGHUP (NULL: built-in defaults, nothing to reload).  Each
 * forked worker runs worker_main (cf_worker_main: the master knows the
 * worker only through ipc.h, so it does not include the worker's headers).
 * Returns the process exit status.
 */
int	 cf_master_run(struct cf_conf *conf, const char *conf_path,
	    int foreground, cf_worker_main_fn worker_main);

#endif
