/*
 * floor.c -- what one delivery costs when nothing but the send() is done.
 *
 * Opens N TCP connections over loopback (from 127.0.0.2...), forks a child
 * that reads and discards everything on the client ends, and then, in the
 * parent, writes the same unmasked WebSocket text frame of B bytes to each
 * server end in turn with one send() each (-k K: K frames in one send(),
 * what a server that coalesces a burst per socket does), for D seconds.
 * The parent's CPU (user + system, getrusage) over that loop divided by the
 * frames written is the floor a server's CPU per delivery is compared to.
 *
 * Prints "RESULT key=value ..." on its last line.  Loopback only, bounded
 * by D seconds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static void
die(const char *what)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	exit(2);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + ts.tv_nsec / 1e9);
}

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
}

/* The child: read and drop until every connection is closed. */
static void
drain(int *cl, int n)
{
	static char buf[1 << 18];
	struct epoll_event ev, evs[256];
	int ep, i, k, open = n;

	if ((ep = epoll_create1(0)) == -1)
		die("epoll_create1");
	for (i = 0; i < n; i++) {
		ev.events = EPOLLIN;
		ev.data.fd = cl[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, cl[i], &ev) == -1)
			die("epoll_ctl");
	}
	while (open > 0) {
		k = epoll_wait(ep, evs, 256, 1000);
		for (i = 0; i < k; i++) {
			ssize_t r;

			while ((r = recv(evs[i].data.fd, buf, sizeof(buf),
			    MSG_DONTWAIT)) > 0)
				;
			if (r == 0) {
				epoll_ctl(ep, EPOLL_CTL_DEL, evs[i].data.fd,
				    NULL);
				close(evs[i].data.fd);
				open--;
			}
		}
	}
	_exit(0);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int n = 1000, bytes = 200, k = 1, nsrc, o, lfd, one = 1, i;
	int *cl, *sv;
	double secs = 3, t0, c0, t1, c1;
	uint64_t frames = 0;
	char *frame;
	size_t flen;
	struct rlimit rl;
	pid_t kid;

	while ((o = getopt(argc, argv, "n:b:k:d:")) != -1) {
		switch (o) {
		case 'n': n = atoi(optarg); break;
		case 'b': bytes = atoi(optarg); break;
		case 'k': k = atoi(optarg); break;
		case 'd': secs = atof(optarg); break;
		default:
			fprintf(stderr, "usage: floor [-n sockets] [-b frame "
			    "bytes] [-k frames per send] [-d seconds]\n");
			return (2);
		}
	}
	if (n < 1 || bytes < 3 || bytes > 65535 || k < 1 || k > 64)
		return (2);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)(n + 64)) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1 ||
		    rl.rlim_cur < (rlim_t)(n + 64)) {
			fprintf(stderr, "floor: ulimit -n too low for %d "
			    "sockets\n", n);
			return (2);
		}
	}
	signal(SIGPIPE, SIG_IGN);
	nsrc = 1 + n / 20000;

	/* The frame: FIN+text, unmasked, as a server sends it. */
	{
		size_t h = bytes - 2 < 126 ? 2 : 4, pl = (size_t)bytes - h, j;

		flen = (size_t)bytes * (size_t)k;
		if ((frame = malloc(flen)) == NULL)
			die("malloc");
		for (j = 0; j < (size_t)k; j++) {
			char *f = frame + j * (size_t)bytes;

			f[0] = (char)0x81;
			if (h == 2) {
				f[1] = (char)pl;
			} else {
				f[1] = 126;
				f[2] = (char)(pl >> 8);
				f[3] = (char)pl;
			}
			memset(f + h, 'x', pl);
		}
	}

	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket");
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) == -1 ||
	    listen(lfd, 4096) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&a, &al) == -1)
		die("listen");
	if ((cl = calloc((size_t)n, sizeof(int))) == NULL ||
	    (sv = calloc((size_t)n, sizeof(int))) == NULL)
		die("calloc");
	/*
	 * The child connects the client ends and drains them, the parent
	 * accepts the server ends: each process holds n descriptors.
	 */
	if ((kid = fork()) == -1)
		die("fork");
	if (kid == 0) {
		close(lfd);
		for (i = 0; i < n; i++) {
			struct sockaddr_in src;

			if ((cl[i] = socket(AF_INET, SOCK_STREAM, 0)) == -1)
				die("socket");
			setsockopt(cl[i], IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT,
			    &one, sizeof(one));
			memset(&src, 0, sizeof(src));
			src.sin_family = AF_INET;
			src.sin_addr.s_addr = htonl(0x7f000002u +
			    (uint32_t)(i % nsrc));
			if (bind(cl[i], (struct sockaddr *)&src,
			    sizeof(src)) == -1 || connect(cl[i],
			    (struct sockaddr *)&a, sizeof(a)) == -1)
				die("connect");
		}
		drain(cl, n);
	}
	for (i = 0; i < n; i++) {
		if ((sv[i] = accept(lfd, NULL, NULL)) == -1)
			die("accept");
		setsockopt(sv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	close(lfd);

	t0 = now_s();
	c0 = cpu_s();
	do {
		for (i = 0; i < n; i++) {
			if (send(sv[i], frame, flen, MSG_NOSIGNAL) !=
			    (ssize_t)flen)
				die("send");
		}
		frames += (uint64_t)k * (uint64_t)n;
	} while (now_s() - t0 < secs);
	c1 = cpu_s();
	t1 = now_s();
	for (i = 0; i < n; i++)
		close(sv[i]);
	waitpid(kid, NULL, 0);
	printf("RESULT label=floor sockets=%d frame_b=%d frames_per_send=%d "
	    "seconds=%.3f deliveries=%llu deliveries_per_s=%.0f "
	    "cpu_us_per_delivery=%.3f\n", n, bytes, k, t1 - t0,
	    (unsigned long long)frames, frames / (t1 - t0),
	    (c1 - c0) * 1e6 / (double)frames);
	return (0);
}
