/*
 * user.c -- dropping the workers' privileges to the `user` directive.
 *
 * The user is resolved once in the master and kept in this file's static
 * state, which every worker inherits through fork; the worker only calls
 * setgid/initgroups/setuid.  The order matters: groups first, while still
 * root, and the parent-death signal is set by the caller *after*
 * cf_user_drop(), because a change of credentials clears it.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "user.h"

static struct {
	int		 set;		/* a user to switch to */
	uid_t		 uid;
	gid_t		 gid;
	char		 name[64];
} user;

int
cf_user_setup(const struct cf_conf *conf)
{
	struct passwd *pw;

	user.set = 0;
	if (conf->user == NULL)
		return (0);
	if ((pw = getpwnam(conf->user)) == NULL) {
		cf_log_warnx("user %s: no such user", conf->user);
		return (-1);
	}
	if (strlen(pw->pw_name) >= sizeof(user.name)) {
		cf_log_warnx("user %s: name too long", conf->user);
		return (-1);
	}
	if (geteuid() != 0) {
		if (pw->pw_uid == geteuid())
			return (0);	/* already that user: nothing to do */
		cf_log_warnx("user %s: the master must start as root to "
		    "switch the workers to another user", conf->user);
		return (-1);
	}
	user.set = 1;
	user.uid = pw->pw_uid;
	user.gid = pw->pw_gid;
	snprintf(user.name, sizeof(user.name), "%s", pw->pw_name);
	return (0);
}

int
cf_user_chown(const char *path)
{
	if (!user.set || path == NULL)
		return (0);
	if (lchown(path, user.uid, user.gid) == -1 && errno != ENOENT) {
		cf_log_warn("chown %s to user %s", path, user.name);
		return (-1);
	}
	return (0);
}

/* chown "<base><suffix>"; 0 or -1. */
static int
chown_suffixed(const char *base, const char *suffix)
{
	char	 path[4096];

	if (snprintf(path, sizeof(path), "%s%s", base, suffix) >=
	    (int)sizeof(path))
		return (-1);
	return (cf_user_chown(path));
}

int
cf_user_chown_files(const struct cf_conf *conf)
{
	int	 rc = 0;

	if (!user.set)
		return (0);
	rc |= cf_user_chown(conf->data_dir);
	rc |= chown_suffixed(conf->data_dir, "/jwt-secret");
	if (strncmp(conf->database, "postgres", 8) != 0) {
		rc |= cf_user_chown(conf->database);
		rc |= chown_suffixed(conf->database, "-wal");
		rc |= chown_suffixed(conf->database, "-shm");
		rc |= chown_suffixed(conf->database, "-journal");
	}
	rc |= cf_user_chown(cf_log_file());
	rc |= cf_user_chown(conf->control_socket);
	return (rc == 0 ? 0 : -1);
}

int
cf_user_drop(void)
{
	if (!user.set)
		return (0);
	if (setgid(user.gid) == -1) {
		cf_log_warn("setgid %d", (int)user.gid);
		return (-1);
	}
	if (initgroups(user.name, user.gid) == -1) {
		cf_log_warn("initgroups %s", user.name);
		return (-1);
	}
	if (setuid(user.uid) == -1) {
		cf_log_warn("setuid %d", (int)user.uid);
		return (-1);
	}
	/* With the saved set-user-ID dropped too, this must fail. */
	if (user.uid != 0 && setuid(0) != -1) {
		cf_log_warnx("user %s: root could be regained", user.name);
		return (-1);
	}
	cf_log_ev(CF_LOG_DEBUG, "privileges_dropped", "uid=%d gid=%d",
	    (int)user.uid, (int)user.gid);
	return (0);
}
