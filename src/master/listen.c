/*
 * listen.c -- the listening sockets, bound by the master before forking
 * and inherited by every worker of a generation, which all accept from
 * them.  An address kept by a reload keeps its socket (gen.c).
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master/master.h"

#define CF_BACKLOG	4096

int
cf_listen_open_one(const struct cf_listen *l)
{
	struct sockaddr_in sin;
	int fd, on = 1, off = 0;
	const struct sockaddr *sa = (const struct sockaddr *)&l->addr;
	socklen_t salen = l->addrlen;

	fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1 && l->any && errno == EAFNOSUPPORT) {
		/* No IPv6 on this host: "*" falls back to IPv4 only. */
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = ((const struct sockaddr_in6 *)&l->addr)->sin6_port;
		sa = (const struct sockaddr *)&sin;
		salen = sizeof(sin);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	}
	if (fd == -1) {
		cf_log_warn("listen %s: socket", l->text);
		return (-1);
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (sa->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, l->v6only ? &on : &off,
	    sizeof(int)) == -1)
		cf_log_warn("listen %s: IPV6_V6ONLY", l->text);
	if (bind(fd, sa, salen) == -1) {
		cf_log_warn("listen %s: bind", l->text);
		close(fd);
		return (-1);
	}
	if (listen(fd, CF_BACKLOG) == -1) {
		cf_log_warn("listen %s: listen", l->text);
		close(fd);
		return (-1);
	}
	return (fd);
}
