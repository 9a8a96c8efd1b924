/*
 * master.h -- the master process: binds, creates shared memory, forks the
 * workers, supervises them, reloads and stops.  It serves no traffic.
 */
#ifndef CF_MASTER_H
#define CF_MASTER_H

#include "conf.h"

/*
 * Bind and listen on one address (listen.c); the fd (CLOEXEC,
 * non-blocking) or -1, logged.
 */
int	 cf_listen_open_one(const struct cf_listen *l);

/*
 * Run the master until it stops.  conf is owned from now on; conf_path is
 * re-read on SIGHUP (NULL: built-in defaults, nothing to reload).
 * Returns the process exit status.
 */
int	 cf_master_run(struct cf_conf *conf, const char *conf_path,
	    int foreground);

#endif
