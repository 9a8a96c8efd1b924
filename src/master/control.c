/*
 * control.c -- the control socket confabctl(8) talks to.
 *
 * The master binds a Unix stream socket at control-socket, mode 0600 (so
 * only its owner -- root, or the `user` it is given to -- may connect), and
 * never reads from it: each accepted connection is passed unread to a
 * running worker over that worker's inbox (CF_IPC_CTL, SCM_RIGHTS), which
 * reads the request line and answers (worker/admin.c).  The master thus
 * stays out of the database, the relay and JSON, and a slow client can
 * only hold a worker's poll handle, not the supervisor.  Without a running
 * worker the master answers an error line itself.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master/master.h"
#include "util.h"
#include "ipc.h"

#define CONTROL_BACKLOG	16

static const char no_worker[] = "{\"ok\":false,\"error\":{\"code\":"
    "\"unavailable\",\"message\":\"no worker could take the request "
    "(none running, or its inbox is full)\"}}\n";

/*
 * Record path in the locator (cf_locator_path), written next to it and
 * renamed over it, so that confabctl never reads half of it.  Best effort:
 * confabctl -s or -c still work without it.
 */
static void
locator_write(const char *path)
{
	char loc[PATH_MAX], tmp[PATH_MAX + 16];
	size_t n = strlen(path);
	int fd, ok;

	if (cf_locator_path(loc, sizeof(loc)) == -1)
		return;
	snprintf(tmp, sizeof(tmp), "%s.%ld", loc, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		cf_log_warn("control locator %s", tmp);
		return;
	}
	ok = write(fd, path, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
	if (close(fd) == -1 || !ok || rename(tmp, loc) == -1) {
		cf_log_warn("control locator %s", loc);
		(void)unlink(tmp);
	}
}

/* Remove the locator when it still names path (no later daemon's). */
static void
locator_remove(const char *path)
{
	char loc[PATH_MAX], cur[PATH_MAX];

	if (cf_locator_read(cur, sizeof(cur)) == 0 &&
	    strcmp(cur, path) == 0 &&
	    cf_locator_path(loc, sizeof(loc)) == 0)
		(void)unlink(loc);
}

/* 1 when something accepts connections at sun (another daemon). */
static int
in_use(const struct sockaddr_un *sun)
{
	int	 fd, rc;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (0);
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return (rc);
}

int
cf_control_open(const struct cf_conf *conf)
{
	struct sockaddr_un	 sun;
	struct stat		 sb;
	const char		*path = conf->control_socket;
	mode_t			 old;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		cf_log_warnx("control-socket %s: path too long", path);
		return (-1);
	}
	memcpy(sun.sun_path, path, strlen(path));
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			cf_log_warnx("control-socket %s: exists and is not a "
			    "socket", path);
			return (-1);
		}
		if (in_use(&sun)) {
			cf_log_warnx("control-socket %s: in use by another "
			    "process", path);
			return (-1);
		}
		(void)unlink(path);	/* left by a daemon that died */
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		cf_log_warn("control-socket: socket");
		return (-1);
	}
	/* Created 0600 at once: no window in which others could connect. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		cf_log_warn("control-socket %s: bind", path);
		close(fd);
		return (-1);
	}
	umask(old);
	if (chmod(path, 0600) == -1 || listen(fd, CONTROL_BACKLOG) == -1) {
		cf_log_warn("control-socket %s", path);
		close(fd);
		(void)unlink(path);
		return (-1);
	}
	cf_log_ev(CF_LOG_INFO, "control_listening", "mode=0600");
	locator_write(path);
	return (fd);
}

void
cf_control_accept(int lfd, int inbox)
{
	int	 fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != ECONNABORTED)
				cf_log_warn("control-socket: accept");
			return;
		}
		if (inbox == -1 ||
		    cf_ipc_post_fd(inbox, CF_IPC_CTL, 0, NULL, 0, fd) == -1) {
			/* Best effort: the client is told why, or sees EOF. */
			(void)send(fd, no_worker, sizeof(no_worker) - 1,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		close(fd);
	}
}

void
cf_control_close(int lfd, const char *path)
{
	if (lfd == -1)
		return;
	close(lfd);
	if (path != NULL) {
		locator_remove(path);
		(void)unlink(path);
	}
}
