/*
 * cfbench.c -- load generator for confabd (and any server of the chat spec).
 *
 * Speaks Engine.IO v4 / Socket.IO v5 over WebSocket itself (no library), on
 * one epoll loop, so that the client side costs a few hundred nanoseconds
 * per delivery.  It opens N connections spread over source addresses
 * 127.0.0.2..., authenticates each with an HS256 token (`authenticate`
 * event, acked), has the first connection create the channels
 * (`channel:create`), has connection i join channel i % C, then sends
 * `chat:send_message` from the first member of each channel, either at a
 * fixed total rate (-r) or closed-loop with W unacknowledged messages per
 * sender (-r 0).  Each message carries "b <channel> <seq> <send time>"; every
 * member (the sender included) receives it as `chat:new_message`, and counts
 * the delivery, its latency, gaps and duplicates for its channel.
 *
 * Server CPU (utime + stime, from /proc/<pid>/stat) and proportional memory
 * (Pss from /proc/<pid>/smaps_rollup) are read for -P's pids and all their
 * children at the edges of the measured window.
 *
 * The last line of output is "RESULT key=value ..." for scripts.  Nothing
 * here is a pass/fail judgement except the exit status: 1 when the run saw
 * errors, gaps, duplicates or lost deliveries, 2 on bad usage or setup
 * failure.  The whole run is bounded by -T seconds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum cstate {
	C_IDLE = 0,	/* not started */
	C_CONNECTING,
	C_HTTP,		/* upgrade sent, waiting for 101 */
	C_EIO,		/* waiting for the Engine.IO open packet */
	C_SIO,		/* "40" sent, waiting for the Socket.IO connect */
	C_AUTH,		/* authenticate sent */
	C_AUTHED,
	C_JOIN,		/* join_channel sent */
	C_READY,
	C_DEAD
};

#define ACK_AUTH	1
#define ACK_JOIN	2
#define ACK_LEAVE	3
#define ACK_CREATE	1000000000ULL	/* + channel index */
#define ACK_SEND	10		/* + sequence number */

struct conn {
	int		 fd;
	uint8_t		 state;
	uint8_t		 frag_op;
	uint32_t	 idx;
	int32_t		 chan;		/* channel index, -1: none */
	char		*rbuf;		/* partial frame or HTTP response */
	uint32_t	 rlen, rcap;
	char		*frag;		/* fragmented message being joined */
	uint32_t	 flen, fcap;
	char		*wbuf;		/* bytes the kernel did not take */
	uint32_t	 wlen, wcap;
	uint64_t	 last_seq;	/* last sequence number seen */
	uint64_t	 t0;		/* connect() time */
};

struct chan {
	int64_t		 id;		/* server's channel id, -1 unknown */
	uint32_t	 sender;	/* connection index */
	uint32_t	 members;
	uint64_t	 next_seq;	/* next to send (starts at 1) */
	uint64_t	 acked;		/* messages acked ok */
	uint64_t	 acked_max;	/* highest acked sequence number */
	uint32_t	 inflight;
	uint8_t		 bad;		/* saw a gap or duplicate */
};

/* Latency histogram: exact below 1024 us, then 512 sub-buckets per octave. */
#define H_LIN		1024
#define H_SUB		512
#define H_OCT		24
#define H_N		(H_LIN + H_OCT * H_SUB)

static struct {
	/* options */
	const char	*host;
	int		 port;
	uint32_t	 n_all;		/* -n, as asked (a split parent: g.n = -C) */
	uint32_t	 n, nsrc, nchan, conc, window, senders_per;
	double		 rate, warm, secs, drain, total_time, hold;
	const char	*secret;
	const char	*pids;
	const char	*label;
	int		 idle, durable, quiet;
	uint32_t	 uid_base;
	uint32_t	 jobs;		/* -j: processes sharing -n (idle only) */
	uint32_t	 src_base;	/* first source address, after .2 */
	int		 no_admin;	/* a child other than the first */
	int		 report_fd;	/* child: its lines to the parent, or -1 */
	int		 release_fd;	/* child: EOF when it may close, or -1 */
	uint32_t	 chan_off;	/* traffic child: global index of c[0] */
	FILE		*cmd;		/* traffic child: the parent's commands */
	uint64_t	 plan_t0, plan_t1;	/* traffic child: the window */
	/* state */
	int		 ep;
	struct conn	*c;
	struct chan	*ch;
	struct sockaddr_in dst;
	uint8_t		 mask[4];
	uint64_t	 start;
	uint32_t	 started, authed, joined, dead, created, creating, leaving;
	uint64_t	 t_first_conn, t_last_auth;
	/* counters */
	uint64_t	 errors, gaps, dups, delivered, delivered_win, other;
	uint64_t	 sent, sent_win, acked, acked_win, nack, bad_frames;
	uint64_t	 bytes_in_win, lost, chans_bad;
	uint64_t	 lat_n, hist[H_N], lat_max;
	int		 measuring;
	uint64_t	 win_t0, win_t1;
	uint64_t	 last_rx;
	char		 err_sample[256];
} g;

static char rxbuf[1 << 18];

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

static void
err(const char *fmt, ...)
{
	va_list ap;

	g.errors++;
	if (g.err_sample[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(g.err_sample, sizeof(g.err_sample), fmt, ap);
	va_end(ap);
	if (!g.quiet)
		fprintf(stderr, "cfbench: error: %s\n", g.err_sample);
}

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "cfbench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

/* ---------------------------------------------------------------- hist */

static void
hist_add(uint64_t us)
{
	uint32_t i, shift;

	if (us > g.lat_max)
		g.lat_max = us;
	g.lat_n++;
	if (us < H_LIN) {
		g.hist[us]++;
		return;
	}
	shift = 63 - (uint32_t)__builtin_clzll(us) - 9;
	if (shift > H_OCT)
		shift = H_OCT, us = ((uint64_t)H_SUB * 2 - 1) << shift;
	i = H_LIN + (shift - 1) * H_SUB + (uint32_t)((us >> shift) - H_SUB);
	g.hist[i]++;
}

static double
hist_pct(double p)
{
	uint64_t want, acc = 0;
	uint32_t i, shift;

	if (g.lat_n == 0)
		return (0);
	want = (uint64_t)(p / 100.0 * (double)g.lat_n);
	if (want >= g.lat_n)
		want = g.lat_n - 1;
	for (i = 0; i < H_N; i++) {
		acc += g.hist[i];
		if (acc > want)
			break;
	}
	if (i < H_LIN)
		return (i);
	shift = (i - H_LIN) / H_SUB + 1;
	return ((double)(((uint64_t)((i - H_LIN) % H_SUB + H_SUB)) << shift));
}

/* ---------------------------------------------------------------- jwt */

static size_t
b64url(const unsigned char *in, size_t n, char *out)
{
	static const char t[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		out[o++] = t[in[i] >> 2];
		out[o++] = t[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = t[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		out[o++] = t[in[i + 2] & 63];
	}
	if (n - i == 1) {
		out[o++] = t[in[i] >> 2];
		out[o++] = t[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		out[o++] = t[in[i] >> 2];
		out[o++] = t[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = t[(in[i + 1] & 15) << 2];
	}
	out[o] = '\0';
	return (o);
}

/* An HS256 token for user uid into out (>= 512 bytes). */
static void
mint(uint32_t uid, const char *role, char *out)
{
	char claims[256], body[400];
	unsigned char mac[32];
	unsigned int maclen = sizeof(mac);
	size_t n;
	long now = (long)time(NULL);

	n = b64url((const unsigned char *)"{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
	    27, out);
	out[n++] = '.';
	snprintf(claims, sizeof(claims), "{\"userId\":%u,\"displayName\":"
	    "\"bench%u\",\"role\":\"%s\",\"iat\":%ld,\"exp\":%ld}", uid, uid,
	    role, now, now + 86400);
	n += b64url((const unsigned char *)claims, strlen(claims), out + n);
	memcpy(body, out, n);
	HMAC(EVP_sha256(), g.secret, (int)strlen(g.secret),
	    (const unsigned char *)body, n, mac, &maclen);
	out[n++] = '.';
	b64url(mac, maclen, out + n);
}

/* ---------------------------------------------------------------- /proc */

struct usage {
	uint64_t	 cpu_ticks;	/* utime + stime */
	uint64_t	 pss_kb, rss_kb;
	uint32_t	 nproc;
};

static int
pid_wanted(long pid, long ppid, const long *roots, int nroots)
{
	int i;

	for (i = 0; i < nroots; i++)
		if (pid == roots[i] || ppid == roots[i])
			return (1);
	return (0);
}

static uint64_t
smaps_field(long pid, const char *name)
{
	char path[64], line[256];
	size_t nl = strlen(name);
	uint64_t v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", pid);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
			v = strtoull(line + nl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return (v);
}

/* Usage of the -P pids and their direct children. */
static void
usage_read(struct usage *u)
{
	long roots[16];
	int nroots = 0;
	const char *p = g.pids;
	char *end;
	DIR *d;
	struct dirent *de;

	memset(u, 0, sizeof(*u));
	if (p == NULL)
		return;
	while (*p != '\0' && nroots < 16) {
		roots[nroots++] = strtol(p, &end, 10);
		if (end == p)
			break;
		p = end;
		while (*p == ',' || *p == ' ')
			p++;
	}
	if ((d = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[64], buf[1024], *q;
		unsigned long long ut, st;
		long pid, ppid;
		FILE *f;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		pid = strtol(de->d_name, NULL, 10);
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) == NULL) {
			fclose(f);
			continue;
		}
		fclose(f);
		if ((q = strrchr(buf, ')')) == NULL)
			continue;
		/* after ") ": state ppid pgrp session tty tpgid flags minflt
		 * cminflt majflt cmajflt utime stime */
		if (sscanf(q + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u "
		    "%llu %llu", &ppid, &ut, &st) != 3)
			continue;
		if (!pid_wanted(pid, ppid, roots, nroots))
			continue;
		u->cpu_ticks += ut + st;
		u->pss_kb += smaps_field(pid, "Pss");
		u->rss_kb += smaps_field(pid, "Rss");
		u->nproc++;
	}
	closedir(d);
}

static double
own_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
}

/* ---------------------------------------------------------------- io */

static void
conn_kill(struct conn *c, const char *why)
{
	if (c->state == C_DEAD)
		return;
	err("connection %u: %s", c->idx, why);
	if (c->fd >= 0) {
		epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->state = C_DEAD;
	g.dead++;
}

static int
buf_append(char **b, uint32_t *len, uint32_t *cap, const char *p, size_t n)
{
	if (*len + n > *cap) {
		uint32_t nc = *cap ? *cap : 256;
		char *q;

		while (nc < *len + n)
			nc *= 2;
		if ((q = realloc(*b, nc)) == NULL)
			return (-1);
		*b = q;
		*cap = nc;
	}
	memcpy(*b + *len, p, n);
	*len += (uint32_t)n;
	return (0);
}

static void
raw_send(struct conn *c, const char *p, size_t n)
{
	ssize_t w = 0;

	if (c->state == C_DEAD)
		return;
	if (c->wlen == 0) {
		w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				conn_kill(c, strerror(errno));
				return;
			}
			w = 0;
		}
		if ((size_t)w == n)
			return;
	}
	if (buf_append(&c->wbuf, &c->wlen, &c->wcap, p + w, n - (size_t)w) ==
	    -1) {
		conn_kill(c, "out of memory");
		return;
	}
	{
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT,
		    .data.u32 = c->idx };

		epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

static void
flush_wbuf(struct conn *c)
{
	ssize_t w;

	while (c->wlen > 0) {
		w = send(c->fd, c->wbuf, c->wlen, MSG_NOSIGNAL);
		if (w == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			conn_kill(c, strerror(errno));
			return;
		}
		memmove(c->wbuf, c->wbuf + w, c->wlen - (size_t)w);
		c->wlen -= (uint32_t)w;
	}
	{
		struct epoll_event ev = { .events = EPOLLIN,
		    .data.u32 = c->idx };

		epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

/* One masked WebSocket text frame. */
static void
ws_send(struct conn *c, const char *p, size_t n)
{
	char stack[1024], *f = stack;
	size_t h, i;

	if (n + 14 > sizeof(stack) && (f = malloc(n + 14)) == NULL) {
		conn_kill(c, "out of memory");
		return;
	}
	f[0] = (char)0x81;
	if (n < 126) {
		f[1] = (char)(0x80 | n);
		h = 2;
	} else if (n < 65536) {
		f[1] = (char)(0x80 | 126);
		f[2] = (char)(n >> 8);
		f[3] = (char)n;
		h = 4;
	} else {
		f[1] = (char)(0x80 | 127);
		for (i = 0; i < 8; i++)
			f[2 + i] = (char)((uint64_t)n >> (56 - 8 * i));
		h = 10;
	}
	memcpy(f + h, g.mask, 4);
	h += 4;
	for (i = 0; i < n; i++)
		f[h + i] = (char)(p[i] ^ g.mask[i & 3]);
	raw_send(c, f, h + n);
	if (f != stack)
		free(f);
}

static void
ws_sendf(struct conn *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		conn_kill(c, "message too long");
		return;
	}
	ws_send(c, buf, (size_t)n);
}

/* ---------------------------------------------------------------- flow */

static void conn_start(struct conn *c);

static void
start_more(void)
{
	while (g.started < g.n && g.started - g.authed - g.dead < g.conc)
		conn_start(&g.c[g.started++]);
}

static void
send_msg(struct chan *ch)
{
	struct conn *c = &g.c[ch->sender];
	uint64_t seq = ch->next_seq++, t = now_ns();

	if (c->state != C_READY)
		return;
	ws_sendf(c, "42%" PRIu64 "[\"chat:send_message\",{\"channelId\":%"
	    PRId64 ",\"message\":\"b %u %" PRIu64 " %" PRIu64 "\","
	    "\"messageType\":\"text\"}]", ACK_SEND + seq, ch->id,
	    (unsigned)(ch - g.ch), seq, t);
	ch->inflight++;
	g.sent++;
	if (g.measuring)
		g.sent_win++;
}

static void
on_ack(struct conn *c, uint64_t id, const char *body, size_t n)
{
	int ok = n >= 9 && memmem(body, n, "\"ok\":true", 9) != NULL;

	if (id == ACK_AUTH) {
		if (c->state != C_AUTH)
			return;
		if (!ok) {
			conn_kill(c, "authenticate refused");
			return;
		}
		c->state = C_AUTHED;
		g.authed++;
		g.t_last_auth = now_ns();
		start_more();
		return;
	}
	if (id == ACK_JOIN) {
		if (!ok) {
			char m[128];

			snprintf(m, sizeof(m), "join_channel refused: %.*s",
			    (int)(n > 80 ? 80 : n), body);
			conn_kill(c, m);
			return;
		}
		c->state = C_READY;
		g.joined++;
		return;
	}
	if (id == ACK_LEAVE) {
		g.leaving--;
		if (!ok)
			err("leave_channel refused");
		return;
	}
	if (id >= ACK_CREATE) {
		uint64_t k = id - ACK_CREATE;
		const char *p;

		g.creating--;
		if (k >= g.nchan || !ok ||
		    (p = memmem(body, n, "\"id\":", 5)) == NULL) {
			err("channel:create failed: %.*s",
			    (int)(n > 80 ? 80 : n), body);
			return;
		}
		g.ch[k].id = strtoll(p + 5, NULL, 10);
		g.created++;
		return;
	}
	if (id >= ACK_SEND && c->chan >= 0) {
		struct chan *ch = &g.ch[c->chan];
		uint64_t seq = id - ACK_SEND;

		if (ch->inflight > 0)
			ch->inflight--;
		if (!ok) {
			g.nack++;
			err("chat:send_message refused: %.*s",
			    (int)(n > 80 ? 80 : n), body);
			return;
		}
		ch->acked++;
		if (seq > ch->acked_max)
			ch->acked_max = seq;
		g.acked++;
		if (g.measuring)
			g.acked_win++;
	}
}

static void
on_delivery(struct conn *c, const char *p, size_t n, size_t frame_len)
{
	const char *m = n > 12 ? memmem(p, n, "\"message\":\"b ", 12) : NULL;
	unsigned long long ci, seq, ts;
	uint64_t t = now_ns();
	struct chan *ch;

	if (m == NULL || sscanf(m + 12, "%llu %llu %llu", &ci, &seq, &ts) !=
	    3 || ci >= g.nchan) {
		g.bad_frames++;
		err("unparsable chat:new_message");
		return;
	}
	ch = &g.ch[ci];
	if ((int64_t)ci != c->chan) {
		g.bad_frames++;
		err("delivery for another channel");
		return;
	}
	g.delivered++;
	if (g.plan_t1 != 0)
		g.measuring = t >= g.plan_t0 && t < g.plan_t1;
	if (seq == c->last_seq + 1) {
		c->last_seq = seq;
	} else if (seq <= c->last_seq) {
		g.dups++;
		ch->bad = 1;
	} else {
		g.gaps += seq - c->last_seq - 1;
		ch->bad = 1;
		c->last_seq = seq;
	}
	if (g.measuring) {
		g.delivered_win++;
		g.bytes_in_win += frame_len;
		if (ts >= g.win_t0)
			hist_add((t - ts) / 1000);
	}
}

/* One whole Engine.IO packet (a WebSocket text message). */
static void
on_packet(struct conn *c, const char *p, size_t n, size_t frame_len)
{
	if (n == 0)
		return;
	switch (p[0]) {
	case '0':
		if (c->state != C_EIO) {
			conn_kill(c, "unexpected open packet");
			return;
		}
		ws_send(c, "40", 2);
		c->state = C_SIO;
		return;
	case '2':
		ws_send(c, "3", 1);
		return;
	case '1':
		conn_kill(c, "server closed the session");
		return;
	case '4':
		break;
	default:
		return;
	}
	if (n < 2)
		return;
	switch (p[1]) {
	case '0':
		if (c->state == C_SIO) {
			char tok[512];

			mint(g.uid_base + c->idx, c->idx == 0 && !g.no_admin ?
			    "admin" : "user", tok);
			ws_sendf(c, "42%d[\"authenticate\",\"%s\"]", ACK_AUTH,
			    tok);
			c->state = C_AUTH;
		}
		return;
	case '1':
		conn_kill(c, "socket.io disconnect");
		return;
	case '4':
		conn_kill(c, "socket.io connect_error");
		return;
	case '3': {
		uint64_t id = 0;
		size_t i = 2;

		while (i < n && p[i] >= '0' && p[i] <= '9')
			id = id * 10 + (uint64_t)(p[i++] - '0');
		on_ack(c, id, p + i, n > i ? n - i : 0);
		return;
	}
	case '2':
		if (n > 22 && memcmp(p + 2, "[\"chat:new_message\"", 19) == 0) {
			on_delivery(c, p + 21, n - 21, frame_len);
			return;
		}
		g.other++;
		return;
	default:
		return;
	}
}

/*
 * Parses WebSocket frames in p[0..n); returns the bytes consumed (a partial
 * frame is left), or -1 when the connection was killed.
 */
static ssize_t
ws_parse(struct conn *c, const char *p, size_t n)
{
	size_t off = 0;

	while (off + 2 <= n) {
		const unsigned char *f = (const unsigned char *)p + off;
		uint64_t len = f[1] & 0x7f;
		size_t h = 2, i;
		int masked = f[1] & 0x80, op = f[0] & 0x0f, fin = f[0] & 0x80;
		char *pl;

		if (len == 126) {
			if (off + 4 > n)
				break;
			len = ((uint64_t)f[2] << 8) | f[3];
			h = 4;
		} else if (len == 127) {
			if (off + 10 > n)
				break;
			len = 0;
			for (i = 0; i < 8; i++)
				len = (len << 8) | f[2 + i];
			h = 10;
		}
		if (masked)
			h += 4;
		if (len > (64u << 20)) {
			conn_kill(c, "frame too large");
			return (-1);
		}
		if (off + h + len > n)
			break;
		pl = (char *)p + off + h;
		if (masked)
			for (i = 0; i < len; i++)
				pl[i] ^= (char)f[h - 4 + (i & 3)];
		off += h + (size_t)len;
		if (op == 8) {
			conn_kill(c, "websocket close");
			return (-1);
		}
		if (op == 9) {
			/* ping: pong with the same payload, masked */
			char pong[140];
			size_t k;

			if (len > 125)
				continue;
			pong[0] = (char)0x8a;
			pong[1] = (char)(0x80 | len);
			memcpy(pong + 2, g.mask, 4);
			for (k = 0; k < len; k++)
				pong[6 + k] = (char)(pl[k] ^ g.mask[k & 3]);
			raw_send(c, pong, 6 + (size_t)len);
			continue;
		}
		if (op == 10)
			continue;
		if (op == 1 || op == 2) {
			if (fin) {
				on_packet(c, pl, (size_t)len, h + (size_t)len);
			} else {
				c->flen = 0;
				c->frag_op = (uint8_t)op;
				if (buf_append(&c->frag, &c->flen, &c->fcap, pl,
				    (size_t)len) == -1) {
					conn_kill(c, "out of memory");
					return (-1);
				}
			}
		} else if (op == 0) {
			if (buf_append(&c->frag, &c->flen, &c->fcap, pl,
			    (size_t)len) == -1) {
				conn_kill(c, "out of memory");
				return (-1);
			}
			if (fin) {
				on_packet(c, c->frag, c->flen, c->flen);
				c->flen = 0;
			}
		}
		if (c->state == C_DEAD)
			return (-1);
	}
	return ((ssize_t)off);
}

static void
on_http(struct conn *c)
{
	char *e = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
	size_t hl, rest;
	ssize_t used;

	if (e == NULL) {
		if (c->rlen > 8192)
			conn_kill(c, "HTTP response too long");
		return;
	}
	if (c->rlen < 12 || memcmp(c->rbuf + 9, "101", 3) != 0) {
		char m[128];

		snprintf(m, sizeof(m), "upgrade refused: %.*s",
		    (int)(c->rlen < 40 ? c->rlen : 40), c->rbuf);
		conn_kill(c, m);
		return;
	}
	hl = (size_t)(e + 4 - c->rbuf);
	rest = c->rlen - hl;
	memmove(c->rbuf, c->rbuf + hl, rest);
	c->rlen = (uint32_t)rest;
	c->state = C_EIO;
	if ((used = ws_parse(c, c->rbuf, c->rlen)) < 0)
		return;
	memmove(c->rbuf, c->rbuf + used, c->rlen - (size_t)used);
	c->rlen -= (uint32_t)used;
}

static void
on_readable(struct conn *c)
{
	for (;;) {
		ssize_t r = recv(c->fd, rxbuf, sizeof(rxbuf), 0), used;

		if (r == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_kill(c, strerror(errno));
			return;
		}
		if (r == 0) {
			conn_kill(c, "server closed the connection");
			return;
		}
		g.last_rx = now_ns();
		if (c->state == C_HTTP) {
			if (buf_append(&c->rbuf, &c->rlen, &c->rcap, rxbuf,
			    (size_t)r) == -1) {
				conn_kill(c, "out of memory");
				return;
			}
			on_http(c);
		} else if (c->rlen > 0) {
			if (buf_append(&c->rbuf, &c->rlen, &c->rcap, rxbuf,
			    (size_t)r) == -1) {
				conn_kill(c, "out of memory");
				return;
			}
			if ((used = ws_parse(c, c->rbuf, c->rlen)) < 0)
				return;
			memmove(c->rbuf, c->rbuf + used, c->rlen - (size_t)used);
			c->rlen -= (uint32_t)used;
		} else {
			if ((used = ws_parse(c, rxbuf, (size_t)r)) < 0)
				return;
			if ((size_t)used < (size_t)r &&
			    buf_append(&c->rbuf, &c->rlen, &c->rcap,
			    rxbuf + used, (size_t)r - (size_t)used) == -1) {
				conn_kill(c, "out of memory");
				return;
			}
		}
		if (c->state == C_DEAD)
			return;
		if ((size_t)r < sizeof(rxbuf))
			return;
	}
}

static void
on_connected(struct conn *c)
{
	char req[512];
	int n, e = 0;
	socklen_t el = sizeof(e);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el) == -1 || e != 0) {
		conn_kill(c, e ? strerror(e) : "connect failed");
		return;
	}
	n = snprintf(req, sizeof(req), "GET /socket.io/?EIO=4&transport="
	    "websocket HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
	    "\r\nSec-WebSocket-Version: 13\r\n\r\n", g.host, g.port);
	c->state = C_HTTP;
	{
		struct epoll_event ev = { .events = EPOLLIN,
		    .data.u32 = c->idx };

		epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
	raw_send(c, req, (size_t)n);
}

static void
conn_start(struct conn *c)
{
	struct sockaddr_in src;
	struct epoll_event ev;
	int one = 1, fd;

	if (g.t_first_conn == 0)
		g.t_first_conn = now_ns();
	c->t0 = now_ns();
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		c->fd = -1;
		conn_kill(c, strerror(errno));
		return;
	}
	c->fd = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(0x7f000002u + g.src_base +
	    c->idx % g.nsrc);
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) == -1) {
		conn_kill(c, strerror(errno));
		return;
	}
	ev.events = EPOLLOUT;
	ev.data.u32 = c->idx;
	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
		conn_kill(c, strerror(errno));
		return;
	}
	c->state = C_CONNECTING;
	if (connect(fd, (struct sockaddr *)&g.dst, sizeof(g.dst)) == -1 &&
	    errno != EINPROGRESS)
		conn_kill(c, strerror(errno));
}

/* One pass of epoll, waiting at most ms. */
static void
poll_once(int ms)
{
	struct epoll_event evs[512];
	int n, i;

	n = epoll_wait(g.ep, evs, 512, ms);
	for (i = 0; i < n; i++) {
		struct conn *c = &g.c[evs[i].data.u32];

		if (c->state == C_DEAD)
			continue;
		if (c->state == C_CONNECTING) {
			on_connected(c);
			continue;
		}
		if (evs[i].events & EPOLLOUT)
			flush_wbuf(c);
		if (c->state != C_DEAD &&
		    (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			on_readable(c);
	}
}

static double
since(uint64_t t)
{
	return ((double)(now_ns() - t) / 1e9);
}

static void
check_deadline(void)
{
	if (since(g.start) > g.total_time)
		die("run exceeded -T %.0f s (authenticated %u/%u, joined %u)",
		    g.total_time, g.authed, g.n, g.joined);
}

/* Polls until nothing arrived for quiet_ms (or max_s passed). */
static void
settle(int quiet_ms, double max_s)
{
	uint64_t t0 = now_ns();

	g.last_rx = now_ns();
	while (since(g.last_rx) * 1000 < quiet_ms && since(t0) < max_s) {
		poll_once(10);
		check_deadline();
	}
}

/* ---------------------------------------------------------------- jobs */

/*
 * -j: an idle run (-I) of more connections than one process may hold
 * descriptors for is split over child processes, each with its share of
 * -n, its own user ids and its own source addresses (each source address
 * has ~28k ephemeral ports towards the server).  Each child connects and
 * authenticates its share, reports "READY authed dead t_first t_last" on
 * its pipe and keeps its connections (answering pings) until the parent
 * closes the release pipe; then it reports "DONE errors ... dead" and
 * exits.  The parent reads the server's memory while every child holds
 * its connections and prints one RESULT line for all of them.
 */
static int	 ready_sent;

static void
child_ready(void)
{
	if (g.report_fd == -1 || ready_sent)
		return;
	ready_sent = 1;
	dprintf(g.report_fd, "READY %u %u %" PRIu64 " %" PRIu64 "\n",
	    g.authed, g.dead, g.t_first_conn, g.t_last_auth);
}

/* Answers pings until the parent closes the release pipe. */
static void
child_hold(void)
{
	struct pollfd pfd;

	pfd.fd = g.release_fd;
	pfd.events = POLLIN;
	for (;;) {
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) == 1)
			break;
		poll_once(100);
	}
}

struct job {
	pid_t		 pid;
	FILE		*rep;
	uint32_t	 n;
	uint32_t	 dead;		/* as of READY */
};

/*
 * Reads one line "WORD v v ... [text]" from a child into v[] (text, if
 * any, becomes the first error's sample); -1 at EOF or on another word.
 */
static int
job_line(FILE *rep, const char *word, uint64_t *v, int nv)
{
	char line[512], *p, *end;
	size_t wl = strlen(word);
	int i;

	if (rep == NULL || fgets(line, sizeof(line), rep) == NULL ||
	    strncmp(line, word, wl) != 0)
		return (-1);
	p = line + wl;
	for (i = 0; i < nv; i++) {
		v[i] = strtoull(p, &end, 10);
		if (end == p)
			return (-1);
		p = end;
	}
	while (*p == ' ')
		p++;
	if (*p != '\0' && *p != '\n' && g.err_sample[0] == '\0') {
		p[strcspn(p, "\n")] = '\0';
		snprintf(g.err_sample, sizeof(g.err_sample), "%s", p);
	}
	return (0);
}

/*
 * Forks g.jobs children and returns in each (to run its share of -n); the
 * parent reports for all of them and exits.
 */
static void
run_jobs(void)
{
	struct usage ub, u1;
	struct job *jobs;
	uint64_t t_first = 0, t_last = 0, v[8];
	uint32_t k, off = 0, nsrc, src = 0, authed = 0, dead = 0, fails = 0;
	int rel[2], rep[2], status;
	double setup_s;

	if ((jobs = calloc(g.jobs, sizeof(*jobs))) == NULL)
		die("out of memory");
	if (pipe(rel) == -1)
		die("pipe: %s", strerror(errno));
	usage_read(&ub);
	fflush(stdout);
	fflush(stderr);
	for (k = 0; k < g.jobs; k++) {
		jobs[k].n = g.n / g.jobs + (k < g.n % g.jobs);
		nsrc = g.nsrc ? g.nsrc : 1 + jobs[k].n / 20000;
		if (src + nsrc > 250)
			die("-j %u: more than 250 source addresses", g.jobs);
		if (pipe(rep) == -1)
			die("pipe: %s", strerror(errno));
		if ((jobs[k].pid = fork()) == -1)
			die("fork: %s", strerror(errno));
		if (jobs[k].pid == 0) {
			uint32_t i;

			for (i = 0; i < k; i++)
				fclose(jobs[i].rep);
			close(rep[0]);
			close(rel[1]);
			g.report_fd = rep[1];
			g.release_fd = rel[0];
			g.n = jobs[k].n;
			g.uid_base += off;
			g.src_base = src;
			g.nsrc = nsrc;
			g.no_admin = k > 0;
			g.pids = NULL;
			g.quiet = 1;
			free(jobs);
			return;
		}
		close(rep[1]);
		if ((jobs[k].rep = fdopen(rep[0], "r")) == NULL)
			die("fdopen: %s", strerror(errno));
		off += jobs[k].n;
		src += nsrc;
	}
	close(rel[0]);
	for (k = 0; k < g.jobs; k++) {
		if (job_line(jobs[k].rep, "READY", v, 4) == -1) {
			fails++;
			dead += jobs[k].n;
			if (jobs[k].rep != NULL)
				fclose(jobs[k].rep);
			jobs[k].rep = NULL;
			continue;
		}
		authed += (uint32_t)v[0];
		jobs[k].dead = (uint32_t)v[1];
		dead += jobs[k].dead;
		if (v[2] != 0 && (t_first == 0 || v[2] < t_first))
			t_first = v[2];
		if (v[3] > t_last)
			t_last = v[3];
	}
	setup_s = t_last > t_first ? (double)(t_last - t_first) / 1e9 : 0;
	if (!g.quiet)
		fprintf(stderr, "cfbench: %u processes: %u authenticated, %u "
		    "failed, %.2f s (%.0f/s)\n", g.jobs, authed, dead, setup_s,
		    setup_s > 0 ? authed / setup_s : 0);
	/* Every child has settled its own share; let the last ones rest. */
	usleep(500000);
	usage_read(&u1);
	if (g.hold > 0) {
		fprintf(stderr, "cfbench: holding %u connections for %.0f s\n",
		    authed, g.hold);
		usleep((useconds_t)(g.hold * 1e6));
	}
	close(rel[1]);
	for (k = 0; k < g.jobs; k++) {
		if (jobs[k].rep != NULL) {
			if (job_line(jobs[k].rep, "DONE", v, 7) == -1) {
				fails++;
			} else {
				g.errors += v[0];
				g.gaps += v[1];
				g.dups += v[2];
				g.lost += v[3];
				g.bad_frames += v[4];
				g.nack += v[5];
				/* connections lost while held */
				if (v[6] > jobs[k].dead)
					dead += (uint32_t)v[6] - jobs[k].dead;
			}
			fclose(jobs[k].rep);
		}
		if (waitpid(jobs[k].pid, &status, 0) == -1 ||
		    !WIFEXITED(status) || WEXITSTATUS(status) > 1)
			fails++;
	}
	if (fails > 0) {
		g.errors += fails;
		if (g.err_sample[0] == '\0')
			snprintf(g.err_sample, sizeof(g.err_sample),
			    "%u of %u processes failed", fails, g.jobs);
	}
	printf("RESULT label=%s conns=%u authed=%u channels=0 setup_s=%.3f "
	    "setup_per_s=%.0f procs=%u server_procs=%u rss_kb=%" PRIu64
	    " pss_kb=%" PRIu64 " base_pss_kb=%" PRIu64 " pss_per_conn_b=%.0f"
	    " rss_per_conn_b=%.0f setup_cpu_us_per_conn=%.1f",
	    g.label, g.n, authed, setup_s, setup_s > 0 ? authed / setup_s : 0,
	    g.jobs, u1.nproc, u1.rss_kb, u1.pss_kb, ub.pss_kb,
	    ((double)u1.pss_kb - (double)ub.pss_kb) * 1024 / g.n,
	    ((double)u1.rss_kb - (double)ub.rss_kb) * 1024 / g.n,
	    (double)(u1.cpu_ticks - ub.cpu_ticks) /
	    (double)sysconf(_SC_CLK_TCK) * 1e6 / g.n);
	printf(" sent_total=0 acked_total=0 unacked=0 errors=%" PRIu64
	    " gaps=%" PRIu64 " dups=%" PRIu64 " lost=%" PRIu64 " bad_frames=%"
	    PRIu64 " nacks=%" PRIu64 " channels_with_gaps_or_dups=0 dead=%u\n",
	    g.errors, g.gaps, g.dups, g.lost, g.bad_frames, g.nack, dead);
	if (g.err_sample[0] != '\0')
		printf("FIRST_ERROR %s\n", g.err_sample);
	fflush(stdout);
	exit(g.errors || g.gaps || g.dups || g.lost || g.bad_frames || dead ?
	    1 : 0);
}

/* ---------------------------------------------------------------- split */

/*
 * -j P with traffic: the parent keeps the -C sending connections (0 ..
 * C-1: connection 0 creates the channels, connection k sends to channel
 * k) and P children hold the other n - C, receiving only, each in its own
 * epoll loop with its own user ids and source addresses, so that reading
 * the deliveries is spread over P processes instead of one reading every
 * socket in turn.  One line each way, parent -> child on the child's
 * command pipe, child -> parent on its report pipe:
 *   child:  connects and authenticates its share, waits for "CHANS id ..."
 *           (the channels' server ids), joins, settles, "READY authed dead";
 *   parent: "GO t0 t1": the measured window, CLOCK_MONOTONIC ns (system-
 *           wide: a delivery is in the window, and its latency sampled,
 *           by the same clock in every process);
 *   parent: "END acked_max ..." once its own sends are acked and drained;
 *           the child waits (at most the drain time) for those deliveries,
 *           counts the lost, and writes "TDONE errors gaps dups lost
 *           bad_frames nacks dead delivered_win bytes_in_win lat_max
 *           delivered nbuckets nbad [first error]", nbuckets lines "bucket count" of
 *           its latency histogram and nbad lines "channel" (gap, dup or
 *           loss seen), then exits.
 * The parent adds the counters and the histograms, so the percentiles are
 * those of all deliveries at the histogram's resolution.
 */
struct tjob {
	pid_t		 pid;
	FILE		*rep;
	int		 cmd;
};

static struct tjob	*tjobs;		/* parent of a split traffic run */

/*
 * Forks g.jobs receiving children; returns in each child with its share,
 * and in the parent with g.n set to the senders only.
 */
static void
split_fork(void)
{
	uint32_t k, i, off = g.nchan, rest = g.n - g.nchan, share, nsrc;
	uint32_t src = g.nsrc;
	int cmd[2], rep[2];

	if ((tjobs = calloc(g.jobs, sizeof(*tjobs))) == NULL)
		die("out of memory");
	fflush(stdout);
	fflush(stderr);
	for (k = 0; k < g.jobs; k++) {
		share = rest / g.jobs + (k < rest % g.jobs);
		nsrc = 1 + share / 20000;
		if (src + nsrc > 250)
			die("-j %u: more than 250 source addresses", g.jobs);
		if (pipe(cmd) == -1 || pipe(rep) == -1)
			die("pipe: %s", strerror(errno));
		if ((tjobs[k].pid = fork()) == -1)
			die("fork: %s", strerror(errno));
		if (tjobs[k].pid == 0) {
			for (i = 0; i < k; i++) {
				fclose(tjobs[i].rep);
				close(tjobs[i].cmd);
			}
			free(tjobs);
			tjobs = NULL;
			close(cmd[1]);
			close(rep[0]);
			if ((g.cmd = fdopen(cmd[0], "r")) == NULL)
				die("fdopen: %s", strerror(errno));
			g.report_fd = rep[1];
			g.n = share;
			g.uid_base += off;
			g.chan_off = off;
			g.src_base = src;
			g.nsrc = nsrc;
			g.no_admin = 1;
			g.pids = NULL;
			g.quiet = 1;
			g.jobs = 0;
			return;
		}
		close(cmd[0]);
		close(rep[1]);
		tjobs[k].cmd = cmd[1];
		if ((tjobs[k].rep = fdopen(rep[0], "r")) == NULL)
			die("fdopen: %s", strerror(errno));
		off += share;
		src += nsrc;
	}
	g.n = g.nchan;
}

/* Parent: keeps its connections served until f has something to read. */
static void
split_wait(FILE *f)
{
	struct pollfd pfd;

	pfd.fd = fileno(f);
	pfd.events = POLLIN;
	for (;;) {
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) == 1)
			return;
		poll_once(10);
		check_deadline();
	}
}

/* Parent: the channels' ids to every child, then waits for all READY. */
static void
split_ready(void)
{
	uint64_t v[2];
	uint32_t k, i;

	for (k = 0; k < g.jobs; k++) {
		dprintf(tjobs[k].cmd, "CHANS");
		for (i = 0; i < g.nchan; i++)
			dprintf(tjobs[k].cmd, " %" PRId64, g.ch[i].id);
		dprintf(tjobs[k].cmd, "\n");
	}
	for (k = 0; k < g.jobs; k++) {
		split_wait(tjobs[k].rep);
		if (job_line(tjobs[k].rep, "READY", v, 2) == -1) {
			err("generator process %u failed before READY", k + 1);
			continue;
		}
		g.authed += (uint32_t)v[0];
		g.joined += (uint32_t)v[0];
		g.dead += (uint32_t)v[1];
	}
}

/* Parent: the measured window [t0, t1) to every child. */
static void
split_go(uint64_t t0, uint64_t t1)
{
	uint32_t k;

	g.plan_t0 = t0;
	g.plan_t1 = t1;
	for (k = 0; k < g.jobs; k++)
		dprintf(tjobs[k].cmd, "GO %" PRIu64 " %" PRIu64 "\n", t0, t1);
}

/* Parent: "END", then adds up every child's report and reaps it. */
static void
split_collect(void)
{
	uint64_t v[13], b, i, n;
	uint32_t k, fails = 0;
	char line[128];
	int status;

	for (k = 0; k < g.jobs; k++) {
		dprintf(tjobs[k].cmd, "END");
		for (i = 0; i < g.nchan; i++)
			dprintf(tjobs[k].cmd, " %" PRIu64, g.ch[i].acked_max);
		dprintf(tjobs[k].cmd, "\n");
	}
	for (k = 0; k < g.jobs; k++) {
		if (job_line(tjobs[k].rep, "TDONE", v, 13) == -1) {
			fails++;
			goto reap;
		}
		g.errors += v[0];
		g.gaps += v[1];
		g.dups += v[2];
		g.lost += v[3];
		g.bad_frames += v[4];
		g.nack += v[5];
		g.dead += (uint32_t)v[6];
		g.delivered_win += v[7];
		g.bytes_in_win += v[8];
		if (v[9] > g.lat_max)
			g.lat_max = v[9];
		g.delivered += v[10];
		for (i = 0; i < v[11] + v[12]; i++) {
			if (fgets(line, sizeof(line), tjobs[k].rep) == NULL) {
				fails++;
				break;
			}
			if (i < v[11]) {
				if (sscanf(line, "%" SCNu64 " %" SCNu64, &b,
				    &n) != 2 || b >= H_N) {
					fails++;
					break;
				}
				g.hist[b] += n;
				g.lat_n += n;
			} else if ((b = strtoull(line, NULL, 10)) < g.nchan)
				g.ch[b].bad = 1;
		}
reap:
		fclose(tjobs[k].rep);
		close(tjobs[k].cmd);
		if (waitpid(tjobs[k].pid, &status, 0) == -1 ||
		    !WIFEXITED(status) || WEXITSTATUS(status) > 1)
			fails++;
	}
	if (fails > 0) {
		g.errors += fails;
		if (g.err_sample[0] == '\0')
			snprintf(g.err_sample, sizeof(g.err_sample),
			    "%u of %u generator processes failed", fails,
			    g.jobs);
	}
}

/* Child: serves its connections until the parent's next line, "WORD ...". */
static char *
tchild_cmd(const char *word)
{
	static char *line;
	static size_t cap;
	struct pollfd pfd;
	size_t wl = strlen(word);

	pfd.fd = fileno(g.cmd);
	pfd.events = POLLIN;
	for (;;) {
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) == 1)
			break;
		poll_once(10);
		check_deadline();
	}
	if (getline(&line, &cap, g.cmd) == -1 || strncmp(line, word, wl) != 0)
		die("generator child: expected %s from the parent", word);
	return (line + wl);
}

/* Child: the channels' server ids, "CHANS id ...". */
static void
tchild_chans(void)
{
	char *p = tchild_cmd("CHANS"), *end;
	uint32_t i;

	for (i = 0; i < g.nchan; i++) {
		g.ch[i].id = strtoll(p, &end, 10);
		if (end == p)
			die("generator child: short CHANS line");
		p = end;
	}
}

/* Child: READY, the window, the drain and the report; does not return. */
static void
tchild_run(void)
{
	char *p, *end;
	uint64_t t0, nb = 0, nbad = 0;
	uint32_t i;
	int busy;

	dprintf(g.report_fd, "READY %u %u\n", g.authed, g.dead);
	p = tchild_cmd("GO");
	g.plan_t0 = strtoull(p, &end, 10);
	g.plan_t1 = strtoull(end, NULL, 10);
	g.win_t0 = g.plan_t0;
	p = tchild_cmd("END");
	for (i = 0; i < g.nchan; i++) {
		g.ch[i].acked_max = strtoull(p, &end, 10);
		p = end;
	}
	t0 = now_ns();
	do {
		busy = 0;
		for (i = 0; i < g.n && !busy; i++)
			busy = g.c[i].state == C_READY && g.c[i].last_seq <
			    g.ch[g.c[i].chan].acked_max;
		if (busy)
			poll_once(10);
	} while (busy && since(t0) < g.drain);
	for (i = 0; i < g.n; i++) {
		struct conn *c = &g.c[i];

		if (c->state == C_READY &&
		    c->last_seq < g.ch[c->chan].acked_max) {
			g.lost += g.ch[c->chan].acked_max - c->last_seq;
			g.ch[c->chan].bad = 1;
		}
	}
	for (i = 0; i < H_N; i++)
		nb += g.hist[i] != 0;
	for (i = 0; i < g.nchan; i++)
		nbad += g.ch[i].bad;
	dprintf(g.report_fd, "TDONE %" PRIu64 " %" PRIu64 " %" PRIu64 " %"
	    PRIu64 " %" PRIu64 " %" PRIu64 " %u %" PRIu64 " %" PRIu64 " %"
	    PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n", g.errors,
	    g.gaps, g.dups, g.lost, g.bad_frames, g.nack, g.dead,
	    g.delivered_win, g.bytes_in_win, g.lat_max, g.delivered, nb, nbad,
	    g.err_sample);
	for (i = 0; i < H_N; i++)
		if (g.hist[i] != 0)
			dprintf(g.report_fd, "%u %" PRIu64 "\n", i, g.hist[i]);
	for (i = 0; i < g.nchan; i++)
		if (g.ch[i].bad)
			dprintf(g.report_fd, "%u\n", i);
	exit(g.errors || g.gaps || g.dups || g.lost || g.bad_frames ||
	    g.dead ? 1 : 0);
}

static void
usage(void)
{
	fprintf(stderr,
"usage: cfbench -p port [-h 127.0.0.1] [-n conns] [-C channels]\n"
"         [-r msgs/s | -r 0 -W window] [-w warmup_s] [-d seconds]\n"
"         [-k jwt-secret] [-P pid,pid] [-s sources] [-c concurrency]\n"
"         [-u uid_base] [-T max_s] [-L label] [-I (idle)] [-D (durable)]\n"
"         [-j procs (idle: split -n over processes; default: as the\n"
"          descriptor limit requires; with traffic: the -n minus -C\n"
"          receiving connections in procs child processes)]\n"
"         [-H hold_s (idle: keep the connections open)]\n"
"         [-q]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct usage u0, u1, ub;
	struct rlimit rl;
	double gcpu0 = 0, gcpu1 = 0, wsecs = 0, setup_s;
	uint64_t unacked = 0;
	uint32_t i;
	int o, head = 0;

	g.host = "127.0.0.1";
	g.n = 100;
	g.nchan = 1;
	g.conc = 256;
	g.window = 16;
	g.rate = 0;
	g.warm = 2;
	g.secs = 5;
	g.drain = 10;
	g.total_time = 600;
	g.secret = "confabd-bench-secret-0123456789-abcdefgh";
	g.uid_base = 1;
	g.label = "run";
	g.report_fd = -1;
	g.release_fd = -1;
	while ((o = getopt(argc, argv, "h:p:n:C:r:W:w:d:k:P:s:c:u:T:L:H:j:IDq")) !=
	    -1) {
		switch (o) {
		case 'h': g.host = optarg; break;
		case 'p': g.port = atoi(optarg); break;
		case 'n': g.n = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'C': g.nchan = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'r': g.rate = atof(optarg); break;
		case 'W': g.window = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'w': g.warm = atof(optarg); break;
		case 'd': g.secs = atof(optarg); break;
		case 'k': g.secret = optarg; break;
		case 'P': g.pids = optarg; break;
		case 's': g.nsrc = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'c': g.conc = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'u': g.uid_base = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'T': g.total_time = atof(optarg); break;
		case 'H': g.hold = atof(optarg); break;
		case 'L': g.label = optarg; break;
		case 'I': g.idle = 1; break;
		case 'D': g.durable = 1; break;
		case 'q': g.quiet = 1; break;
		case 'j': g.jobs = (uint32_t)strtoul(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if (g.port <= 0 || g.n == 0 || g.conc == 0 || g.window == 0)
		usage();
	g.n_all = g.n;
	if (g.idle)
		g.nchan = 0;
	if (g.nchan > g.n)
		die("more channels (%u) than connections (%u)", g.nchan, g.n);
	if (!g.idle && g.jobs > 0 && g.n - g.nchan < g.jobs)
		die("-j %u: fewer receiving connections (-n minus -C) than "
		    "processes", g.jobs);
	/*
	 * An idle run needs a descriptor per connection: more than the hard
	 * limit allows one process is split (see run_jobs).
	 */
	if (g.idle && g.jobs == 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_max < g.n + 64) {
		if (rl.rlim_max < 1024)
			die("RLIMIT_NOFILE %llu is too low to split %u "
			    "connections", (unsigned long long)rl.rlim_max,
			    g.n);
		g.jobs = (uint32_t)((g.n + (rl.rlim_max - 256) - 1) /
		    (rl.rlim_max - 256));
	}
	if (g.jobs > g.n)
		g.jobs = g.n;
	if (g.idle && g.jobs > 1)
		run_jobs();	/* returns in each child, with its share */
	if (g.nsrc == 0)
		g.nsrc = 1 + g.n / 20000;
	if (g.nsrc > 250)
		g.nsrc = 250;
	if (!g.idle && g.jobs > 0)
		split_fork();	/* returns in each child, with its share */
	/* Only loopback: the load never leaves the host. */
	memset(&g.dst, 0, sizeof(g.dst));
	g.dst.sin_family = AF_INET;
	g.dst.sin_port = htons((uint16_t)g.port);
	if (inet_pton(AF_INET, g.host, &g.dst.sin_addr) != 1 ||
	    (ntohl(g.dst.sin_addr.s_addr) >> 24) != 127)
		die("-h must be an IPv4 loopback address (127.0.0.0/8)");
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < g.n + 64) {
		rl.rlim_cur = rl.rlim_max;
		if (rl.rlim_cur < g.n + 64 || setrlimit(RLIMIT_NOFILE, &rl) ==
		    -1)
			die("RLIMIT_NOFILE %llu is too low for %u connections "
			    "(ulimit -n)", (unsigned long long)rl.rlim_cur, g.n);
	}
	signal(SIGPIPE, SIG_IGN);
	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	for (i = 0; i < 4; i++)
		g.mask[i] = (uint8_t)rand();
	if ((g.c = calloc(g.n, sizeof(*g.c))) == NULL ||
	    (g.ch = calloc(g.nchan ? g.nchan : 1, sizeof(*g.ch))) == NULL)
		die("out of memory");
	for (i = 0; i < g.n; i++) {
		g.c[i].idx = i;
		g.c[i].fd = -1;
		g.c[i].chan = g.nchan ? (int32_t)((g.chan_off + i) %
		    g.nchan) : -1;
	}
	for (i = 0; i < g.nchan; i++) {
		g.ch[i].id = -1;
		g.ch[i].sender = i;
		g.ch[i].next_seq = 1;
		g.ch[i].members = g.n / g.nchan + (i < g.n % g.nchan);
	}
	if ((g.ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1: %s", strerror(errno));
	g.start = now_ns();
	usage_read(&ub);

	/* 1. connect and authenticate everyone */
	start_more();
	while (g.authed + g.dead < g.n) {
		poll_once(10);
		check_deadline();
	}
	setup_s = (double)(g.t_last_auth - g.t_first_conn) / 1e9;
	if (!g.quiet)
		fprintf(stderr, "cfbench: %u authenticated, %u failed, %.2f s "
		    "(%.0f/s)\n", g.authed, g.dead, setup_s,
		    setup_s > 0 ? g.authed / setup_s : 0);
	if (g.dead > 0)
		goto report;

	if (g.idle) {
		/* answer pings for a moment so the server is at rest */
		settle(500, 5);
		usage_read(&u1);
		u0 = ub;
		if (g.report_fd != -1) {
			child_ready();
			child_hold();
			goto report;
		}
		if (g.hold > 0) {
			/* keep them (for a profiler), answering pings */
			uint64_t t0 = now_ns();

			fprintf(stderr, "cfbench: holding %u connections for "
			    "%.0f s\n", g.authed, g.hold);
			while (since(t0) < g.hold)
				poll_once(100);
		}
		goto report_idle;
	}

	/* 2. create the channels on connection 0, 64 in flight */
	if (g.cmd != NULL) {
		tchild_chans();
		goto join;
	}
	for (i = 0; i < g.nchan || g.creating > 0;) {
		while (i < g.nchan && g.creating < 64) {
			ws_sendf(&g.c[0], "42%llu[\"channel:create\",{\"name\":"
			    "\"bench-%s-%u-%ld\"}]",
			    (unsigned long long)(ACK_CREATE + i), g.label, i,
			    (long)time(NULL));
			g.creating++;
			i++;
		}
		poll_once(10);
		check_deadline();
		if (g.c[0].state == C_DEAD)
			goto report;
	}
	if (g.created < g.nchan)
		goto report;
	/*
	 * The creator's socket joined every channel it created: it leaves
	 * them, so that each channel has exactly its members.
	 */
	for (i = 0; i < g.nchan || g.leaving > 0;) {
		while (i < g.nchan && g.leaving < 64) {
			ws_sendf(&g.c[0], "42%d[\"leave_channel\",%" PRId64 "]",
			    ACK_LEAVE, g.ch[i].id);
			g.leaving++;
			i++;
		}
		poll_once(10);
		check_deadline();
		if (g.c[0].state == C_DEAD)
			goto report;
	}

	/* 3. join, conc in flight */
join:
	{
		uint32_t next = 0, pending;

		for (;;) {
			pending = 0;
			for (; next < g.n; next++) {
				struct conn *c = &g.c[next];

				if (c->state != C_AUTHED)
					continue;
				if (next - g.joined - g.dead >= g.conc)
					break;
				ws_sendf(c, "42%d[\"join_channel\",%" PRId64
				    "]", ACK_JOIN, g.ch[c->chan].id);
				c->state = C_JOIN;
			}
			pending = next - g.joined;
			if (next == g.n && g.joined + g.dead >= g.n)
				break;
			(void)pending;
			poll_once(10);
			check_deadline();
		}
	}
	if (g.dead > 0)
		goto report;
	/* let the user_joined storm pass */
	settle(300, 60);
	if (g.cmd != NULL)
		tchild_run();
	if (tjobs != NULL) {
		split_ready();
		if (g.dead > 0 || g.errors > 0)
			goto report;
	}
	if (!g.quiet)
		fprintf(stderr, "cfbench: %u joined %u channels\n", g.joined,
		    g.nchan);

	/* 4. send: warm-up, then the measured window */
	{
		uint64_t t0 = now_ns(), due;
		uint32_t rr = 0;
		int phase = 0;	/* 0 warm, 1 measuring */
		double el;

		if (tjobs != NULL)
			split_go(t0 + (uint64_t)(g.warm * 1e9), t0 +
			    (uint64_t)((g.warm + g.secs) * 1e9));

		for (;;) {
			el = since(t0);
			if (phase == 0 && el >= g.warm) {
				phase = 1;
				g.measuring = 1;
				g.win_t0 = g.plan_t0 ? g.plan_t0 : now_ns();
				gcpu0 = own_cpu_s();
				usage_read(&u0);
			}
			if (phase == 1 && el >= g.warm + g.secs) {
				usage_read(&u1);
				gcpu1 = own_cpu_s();
				g.win_t1 = g.plan_t1 ? g.plan_t1 : now_ns();
				g.measuring = 0;
				break;
			}
			if (g.rate > 0) {
				due = (uint64_t)(g.rate * el);
				while (g.sent < due) {
					struct chan *ch = &g.ch[rr];

					rr = (rr + 1) % g.nchan;
					if (ch->inflight >= 4096) {
						g.sent++;	/* skipped */
						err("sender backlog over 4096: "
						    "server saturated");
						continue;
					}
					send_msg(ch);
				}
			} else {
				for (i = 0; i < g.nchan; i++)
					while (g.ch[i].inflight < g.window &&
					    g.c[g.ch[i].sender].state ==
					    C_READY)
						send_msg(&g.ch[i]);
			}
			poll_once(g.rate > 0 ? 1 : 10);
			check_deadline();
		}
		wsecs = (double)(g.win_t1 - g.win_t0) / 1e9;
	}

	/* 5. drain: wait for the acks and the deliveries still in flight */
	{
		uint64_t t0 = now_ns();
		int busy = 1;

		while (busy && since(t0) < g.drain) {
			busy = 0;
			for (i = 0; i < g.nchan; i++)
				if (g.ch[i].inflight > 0)
					busy = 1;
			if (!busy)
				for (i = 0; i < g.n; i++) {
					struct conn *c = &g.c[i];

					if (c->state == C_READY &&
					    c->last_seq <
					    g.ch[c->chan].acked_max) {
						busy = 1;
						break;
					}
				}
			poll_once(10);
		}
		for (i = 0; i < g.n; i++) {
			struct conn *c = &g.c[i];

			if (c->state == C_READY &&
			    c->last_seq < g.ch[c->chan].acked_max) {
				g.lost += g.ch[c->chan].acked_max - c->last_seq;
				g.ch[c->chan].bad = 1;
			}
		}
		if (tjobs != NULL)
			split_collect();
		for (i = 0; i < g.nchan; i++)
			g.chans_bad += g.ch[i].bad;
	}
	goto report_load;

report_idle:
report_load:
	{
		double dcpu = (double)(u1.cpu_ticks - u0.cpu_ticks) /
		    (double)sysconf(_SC_CLK_TCK);
		double gcpu = gcpu1 - gcpu0;
		uint64_t unit = g.durable ? g.acked_win : g.delivered_win;

		head = 1;

		printf("RESULT label=%s conns=%u authed=%u channels=%u "
		    "setup_s=%.3f setup_per_s=%.0f",
		    g.label, g.n_all, g.authed, g.nchan, setup_s,
		    setup_s > 0 ? g.authed / setup_s : 0);
		if (g.idle) {
			printf(" procs=1 server_procs=%u rss_kb=%" PRIu64
			    " pss_kb=%" PRIu64 " base_pss_kb=%" PRIu64
			    " pss_per_conn_b=%.0f"
			    " rss_per_conn_b=%.0f setup_cpu_us_per_conn=%.1f",
			    u1.nproc, u1.rss_kb, u1.pss_kb, ub.pss_kb,
			    ((double)u1.pss_kb - (double)ub.pss_kb) * 1024 /
			    g.n, ((double)u1.rss_kb - (double)ub.rss_kb) *
			    1024 / g.n, (double)(u1.cpu_ticks - ub.cpu_ticks) /
			    (double)sysconf(_SC_CLK_TCK) * 1e6 / g.n);
		} else {
			printf(" window_s=%.3f sent=%" PRIu64 " acked=%" PRIu64
			    " msgs_in_per_s=%.0f acked_per_s=%.0f "
			    "deliveries_per_s=%.0f server_cpu_s=%.3f "
			    "server_cpu_us_per_unit=%.3f gen_cpu_pct=%.0f "
			    "avg_frame_b=%.0f p50_us=%.0f p99_us=%.0f "
			    "p999_us=%.0f max_us=%" PRIu64 " gen_procs=%u",
			    wsecs, g.sent_win, g.acked_win, g.sent_win / wsecs,
			    g.acked_win / wsecs, g.delivered_win / wsecs, dcpu,
			    unit ? dcpu * 1e6 / (double)unit : 0,
			    gcpu * 100 / wsecs, g.delivered_win ?
			    (double)g.bytes_in_win / (double)g.delivered_win :
			    0, hist_pct(50), hist_pct(99), hist_pct(99.9),
			    g.lat_max, 1 + (tjobs != NULL ? g.jobs : 0));
		}
	}
report:
	if (g.report_fd != -1) {
		child_ready();
		dprintf(g.report_fd, "DONE %" PRIu64 " %" PRIu64 " %" PRIu64
		    " %" PRIu64 " %" PRIu64 " %" PRIu64 " %u %s\n", g.errors,
		    g.gaps, g.dups, g.lost, g.bad_frames, g.nack, g.dead,
		    g.err_sample);
		return (g.errors || g.dead ? 1 : 0);
	}
	if (!head)
		printf("RESULT label=%s conns=%u authed=%u channels=%u",
		    g.label, g.n_all, g.authed, g.nchan);
	for (i = 0; i < g.nchan; i++)
		unacked += g.ch[i].inflight;
	printf(" sent_total=%" PRIu64 " acked_total=%" PRIu64 " unacked=%"
	    PRIu64 " delivered_total=%" PRIu64, g.sent, g.acked, unacked,
	    g.delivered);
	printf(" errors=%" PRIu64 " gaps=%" PRIu64 " dups=%" PRIu64
	    " lost=%" PRIu64 " bad_frames=%" PRIu64 " nacks=%" PRIu64
	    " channels_with_gaps_or_dups=%" PRIu64 " dead=%u\n",
	    g.errors, g.gaps, g.dups, g.lost, g.bad_frames, g.nack,
	    g.chans_bad, g.dead);
	if (g.err_sample[0] != '\0')
		printf("FIRST_ERROR %s\n", g.err_sample);
	fflush(stdout);
	return (g.errors || g.gaps || g.dups || g.lost || g.bad_frames ||
	    g.dead || unacked ? 1 : 0);
}
