/*
 * user.h -- the `user` directive: the master starts as root to bind, the
 * workers switch to an unprivileged user after fork, before serving.
 *
 * The master resolves the user once (cf_user_setup), gives that user the
 * files it created and the workers must keep using (cf_user_chown), and
 * each new worker calls cf_user_drop() first thing.  Without the directive
 * every call is a no-op.
 */
#ifndef CF_USER_H
#define CF_USER_H

#include "conf.h"

/*
 * Resolve conf->user (in the master, before forking).  -1 with a message
 * logged when the user is unknown, or when the master is not root and the
 * user is not the one it runs as; 0 otherwise.
 */
int	 cf_user_setup(const struct cf_conf *conf);
/*
 * Give path to the user and its primary group.  A path that does not
 * exist is not an error.  0, or -1 with a warning logged.
 */
int	 cf_user_chown(const char *path);
/*
 * Give the user what the master created for the workers: data-dir, the
 * SQLite database and its -wal/-shm files, the generated jwt-secret, the
 * log file and the control socket.  0, or -1 with a warning logged.
 */
int	 cf_user_chown_files(const struct cf_conf *conf);
/*
 * In a new worker: setgid, initgroups, setuid to the user, and check that
 * root cannot be regained.  0, or -1 with a message logged (the worker must
 * exit: serving as root was not asked for).
 */
int	 cf_user_drop(void);

#endif
