/*
 * test_redis.c -- the Redis pub/sub client against a real redis-server:
 * publish and receive, lose the server, queue while it is down, get it
 * back and check that the subscriber resubscribed.  Every wait is bounded
 * by a deadline on the loop, so the test cannot hang.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "relay/redis.h"

#define REDIS_SERVER	"/usr/bin/redis-server"
#define PATTERN		"socket.io#/#*"

struct peer {
	int	 states[16];
	int	 nstates;
	int	 nmsg;
	int	 got_other;
	char	 last_channel[64];
	char	 want[64];		/* payload to look for */
	int	 got_want;
};

static struct {
	uv_loop_t	 loop;
	char		 dir[64];
	int		 port;
	pid_t		 server;
	int		 timed_out;
} T;

static void
on_message(void *arg, const char *channel, size_t chlen,
    const uint8_t *payload, size_t len)
{
	struct peer	*p = arg;

	p->nmsg++;
	if (chlen < sizeof(p->last_channel)) {
		memcpy(p->last_channel, channel, chlen);
		p->last_channel[chlen] = '\0';
	}
	if (chlen < 12 || memcmp(channel, "socket.io#/#", 12) != 0)
		p->got_other++;
	if (p->want[0] != '\0' && len == strlen(p->want) &&
	    memcmp(payload, p->want, len) == 0)
		p->got_want++;
}

static void
on_state(void *arg, int up)
{
	struct peer	*p = arg;

	if (p->nstates < (int)(sizeof(p->states) / sizeof(p->states[0])))
		p->states[p->nstates++] = up;
}

static void
deadline_cb(uv_timer_t *t)
{
	(void)t;
	T.timed_out = 1;
}

static void
tick_cb(uv_timer_t *t)
{
	(void)t;
}

static void
closed_cb(uv_handle_t *h)
{
	(void)h;
}

/*
 * Run the loop until pred(arg) holds or ms elapse.  Returns 1 when the
 * predicate held.
 */
static int
run_until(int (*pred)(void *), void *arg, unsigned ms)
{
	uv_timer_t	 deadline, tick;
	int		 ok;

	T.timed_out = 0;
	uv_timer_init(&T.loop, &deadline);
	uv_timer_init(&T.loop, &tick);
	uv_timer_start(&deadline, deadline_cb, ms, 0);
	uv_timer_start(&tick, tick_cb, 10, 10);
	while (!(ok = pred(arg)) && !T.timed_out)
		uv_run(&T.loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&deadline, closed_cb);
	uv_close((uv_handle_t *)&tick, closed_cb);
	uv_run(&T.loop, UV_RUN_NOWAIT);
	return (ok);
}

static int
never(void *arg)
{
	(void)arg;
	return (0);
}

static void
run_for(unsigned ms)
{
	run_until(never, NULL, ms);
}

static int
free_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_not_equal(fd, -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return (port);
}

static int
port_open(int port)
{
	struct sockaddr_in	 sin;
	int			 fd, ok;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd == -1)
		return (0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return (ok);
}

static void
sleep_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Start redis-server on T.port in T.dir and wait until it accepts. */
static void
server_start(void)
{
	char	 port[16];
	int	 i, fd;

	snprintf(port, sizeof(port), "%d", T.port);
	T.server = fork();
	assert_int_not_equal(T.server, -1);
	if (T.server == 0) {
		if (chdir(T.dir) == -1)
			_exit(127);
		fd = open("redis.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execl(REDIS_SERVER, "redis-server", "--port", port,
		    "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		    "--daemonize", "no", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 250 && !port_open(T.port); i++)
		sleep_ms(20);
	assert_true(port_open(T.port));
}

static void
server_stop(void)
{
	int	 status;

	if (T.server <= 0)
		return;
	kill(T.server, SIGTERM);
	waitpid(T.server, &status, 0);
	T.server = 0;
}

static int
both_up(void *arg)
{
	struct cf_redis	**r = arg;

	return (cf_redis_is_up(r[0]) && cf_redis_is_up(r[1]));
}

static int
both_down(void *arg)
{
	struct cf_redis	**r = arg;

	return (!cf_redis_is_up(r[0]) && !cf_redis_is_up(r[1]));
}

static int
got_want(void *arg)
{
	return (((struct peer *)arg)->got_want > 0);
}

static int
state_count(void *arg)
{
	struct peer	*p = arg;

	return (p->nstates >= 3);
}

static int
setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	memset(&T, 0, sizeof(T));
	if (uv_loop_init(&T.loop) != 0)
		return (-1);
	return (0);
}

static int
teardown(void **state)
{
	char	 path[128];

	(void)state;
	server_stop();
	if (T.dir[0] != '\0') {
		snprintf(path, sizeof(path), "%s/redis.log", T.dir);
		unlink(path);
		rmdir(T.dir);
	}
	uv_run(&T.loop, UV_RUN_NOWAIT);
	return (uv_loop_close(&T.loop) == 0 ? 0 : -1);
}

/*
 * Nothing listens: no crash, never up, and free works mid-connect or
 * while a retry timer is pending.
 */
static void
test_no_server(void **state)
{
	const char		*pats[] = { PATTERN };
	struct cf_redis_cbs	 cbs = { on_message, on_state };
	struct peer		 p;
	struct cf_redis		*r;

	(void)state;
	memset(&p, 0, sizeof(p));
	cf_redis_free(NULL);
	assert_int_equal(cf_redis_is_up(NULL), 0);
	assert_int_equal(cf_redis_publish(NULL, "c", (const uint8_t *)"x",
	    1), -1);

	r = cf_redis_new(&T.loop, "127.0.0.1", free_port(), 0, pats, 1,
	    NULL, 0, &cbs, &p);
	assert_non_null(r);
	cf_redis_free(r);		/* right away */
	uv_run(&T.loop, UV_RUN_DEFAULT);

	r = cf_redis_new(&T.loop, "127.0.0.1", free_port(), 0, pats, 1,
	    NULL, 0, &cbs, &p);
	assert_non_null(r);
	run_for(350);			/* a few retries */
	assert_int_equal(cf_redis_is_up(r), 0);
	assert_int_equal(cf_redis_publish(r, "socket.io#/#",
	    (const uint8_t *)"q", 1), 0);
	cf_redis_free(r);
	assert_int_equal(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(p.nstates, 0);
	assert_int_equal(p.nmsg, 0);
}

/*
 * A server that completes the TCP handshake but never answers: the
 * publisher connects, the subscriber's PSUBSCRIBE is never confirmed, so
 * its watchdog drops the context and it connects again.
 */
static void
test_watchdog(void **state)
{
	const char		*pats[] = { PATTERN };
	struct cf_redis_cbs	 cbs = { on_message, on_state };
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	struct peer		 p;
	struct cf_redis		*r;
	int			 lfd, fd, conns = 0;

	(void)state;
	memset(&p, 0, sizeof(p));
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_not_equal(lfd, -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	assert_int_equal(listen(lfd, 64), 0);

	r = cf_redis_new(&T.loop, "127.0.0.1", ntohs(sin.sin_port), 0, pats,
	    1, NULL, 0, &cbs, &p);
	assert_non_null(r);
	run_for(2400);
	assert_int_equal(cf_redis_is_up(r), 0);
	while ((fd = accept(lfd, NULL, NULL)) != -1) {
		conns++;
		close(fd);
	}
	/* The publisher once, the subscriber at least twice. */
	assert_true(conns >= 3);
	cf_redis_free(r);
	assert_int_equal(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
	close(lfd);
	assert_int_equal(p.nstates, 0);
}

static void
test_pubsub_reconnect(void **state)
{
	const char		*pats[] = { PATTERN };
	const char		*chans[] = { "plain-channel" };
	struct cf_redis_cbs	 cbs = { on_message, on_state };
	struct peer		 a, b;
	struct cf_redis		*r[2];
	int			 i, queued, rc;
	uint8_t			 big[1];

	(void)state;
	if (access(REDIS_SERVER, X_OK) == -1) {
		print_message("skipping: %s not installed\n", REDIS_SERVER);
		skip();
	}
	strcpy(T.dir, "/tmp/cf-redis-test.XXXXXX");
	assert_non_null(mkdtemp(T.dir));
	T.port = free_port();
	server_start();

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	r[0] = cf_redis_new(&T.loop, "127.0.0.1", T.port, 0, pats, 1, chans,
	    1, &cbs, &a);
	r[1] = cf_redis_new(&T.loop, "127.0.0.1", T.port, 3, NULL, 0, NULL, 0,
	    &cbs, &b);
	assert_non_null(r[0]);
	assert_non_null(r[1]);
	assert_true(run_until(both_up, r, 3000));
	run_for(20);			/* deliver the notifications */
	assert_int_equal(a.nstates, 1);
	assert_int_equal(a.states[0], 1);
	assert_int_equal(b.nstates, 1);

	/* Pattern, room channel, plain channel; "other" is not matched. */
	strcpy(a.want, "hello-1");
	assert_int_equal(cf_redis_publish(r[1], "socket.io#/#",
	    (const uint8_t *)"hello-1", 7), 0);
	assert_true(run_until(got_want, &a, 2000));
	assert_string_equal(a.last_channel, "socket.io#/#");
	a.got_want = 0;
	strcpy(a.want, "room");
	assert_int_equal(cf_redis_publish(r[1], "socket.io#/#room1#",
	    (const uint8_t *)"room", 4), 0);
	assert_int_equal(cf_redis_publish(r[1], "other",
	    (const uint8_t *)"room", 4), 0);
	assert_true(run_until(got_want, &a, 2000));
	assert_string_equal(a.last_channel, "socket.io#/#room1#");
	a.got_want = 0;
	strcpy(a.want, "on-plain");
	assert_int_equal(cf_redis_publish(r[1], "plain-channel",
	    (const uint8_t *)"on-plain", 8), 0);
	assert_true(run_until(got_want, &a, 2000));
	assert_int_equal(a.got_other, 1);	/* plain-channel only */
	assert_int_equal(b.nmsg, 0);

	/* Lose the server. */
	server_stop();
	assert_true(run_until(both_down, r, 3000));
	run_for(20);
	assert_int_equal(a.nstates, 2);
	assert_int_equal(a.states[1], 0);
	assert_int_equal(b.nstates, 2);
	assert_int_equal(b.states[1], 0);

	/* Publishes while down are queued, up to the bound. */
	queued = 0;
	for (i = 0; i < 10005; i++) {
		big[0] = (uint8_t)i;
		rc = cf_redis_publish(r[1], "socket.io#/#", big, 1);
		if (rc == 0)
			queued++;
	}
	assert_int_equal(queued, 10000);
	run_for(300);			/* some failed reconnects */
	assert_int_equal(cf_redis_is_up(r[1]), 0);

	/*
	 * Back on the same port: both reconnect, subscriptions return.  The
	 * backoff is at most 400 ms here, so this must not need the 2 s
	 * connect watchdog: a refused connect has to be noticed at once.
	 */
	server_start();
	assert_true(run_until(both_up, r, 1500));
	assert_true(run_until(state_count, &a, 1000));
	assert_int_equal(a.states[2], 1);
	run_for(20);
	assert_int_equal(b.nstates, 3);
	assert_int_equal(b.states[2], 1);

	a.got_want = 0;
	strcpy(a.want, "after-restart");
	assert_int_equal(cf_redis_publish(r[1], "socket.io#/#x#",
	    (const uint8_t *)"after-restart", 13), 0);
	assert_true(run_until(got_want, &a, 3000));
	a.got_want = 0;
	strcpy(a.want, "plain-again");
	assert_int_equal(cf_redis_publish(r[0], "plain-channel",
	    (const uint8_t *)"plain-again", 11), 0);
	assert_true(run_until(got_want, &a, 3000));

	/* The queue drained: publishing works again. */
	assert_int_equal(cf_redis_publish(r[1], "socket.io#/#",
	    (const uint8_t *)"z", 1), 0);

	cf_redis_free(r[0]);
	cf_redis_free(r[1]);
	assert_int_equal(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
	server_stop();
}

/* Freeing from inside on_message (a hiredis reply callback) is safe. */
struct selffree {
	struct cf_redis	*r;
	int		 got;
};

static void
free_on_message(void *arg, const char *channel, size_t chlen,
    const uint8_t *payload, size_t len)
{
	struct selffree	*s = arg;

	(void)channel;
	(void)chlen;
	(void)payload;
	(void)len;
	s->got++;
	cf_redis_free(s->r);
}

static int
selffree_got(void *arg)
{
	return (((struct selffree *)arg)->got > 0);
}

static int
is_up(void *arg)
{
	return (cf_redis_is_up(arg));
}

static void
test_free_in_callback(void **state)
{
	const char		*pats[] = { PATTERN };
	struct cf_redis_cbs	 cbs = { free_on_message, NULL };
	struct cf_redis_cbs	 none = { NULL, NULL };
	struct selffree		 s = { NULL, 0 };
	struct cf_redis		*pub;

	(void)state;
	if (access(REDIS_SERVER, X_OK) == -1) {
		print_message("skipping: %s not installed\n", REDIS_SERVER);
		skip();
	}
	if (T.dir[0] == '\0') {
		strcpy(T.dir, "/tmp/cf-redis-test.XXXXXX");
		assert_non_null(mkdtemp(T.dir));
	}
	T.port = free_port();
	server_start();
	s.r = cf_redis_new(&T.loop, "127.0.0.1", T.port, 0, pats, 1, NULL, 0,
	    &cbs, &s);
	pub = cf_redis_new(&T.loop, "127.0.0.1", T.port, 0, NULL, 0, NULL, 0,
	    &none, NULL);
	assert_true(run_until(is_up, s.r, 3000));
	assert_true(run_until(is_up, pub, 3000));
	assert_int_equal(cf_redis_publish(pub, "socket.io#/#",
	    (const uint8_t *)"a", 1), 0);
	assert_int_equal(cf_redis_publish(pub, "socket.io#/#",
	    (const uint8_t *)"b", 1), 0);
	assert_true(run_until(selffree_got, &s, 3000));
	run_for(100);
	assert_int_equal(s.got, 1);
	cf_redis_free(pub);
	assert_int_equal(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
	server_stop();
}

/* Replies collected by test_command. */
struct replies {
	int		 n;		/* callbacks run */
	int		 nnull;		/* ... with no reply */
	long long	 ints[4];
	int		 nints;
	char		 str[32];
};

static void
on_reply(void *arg, struct redisReply *r)
{
	struct replies	*p = arg;
	size_t		 i;

	p->n++;
	if (r == NULL) {
		p->nnull++;
		return;
	}
	if (r->type == REDIS_REPLY_STRING && r->len < sizeof(p->str))
		memcpy(p->str, r->str, r->len + 1);
	if (r->type == REDIS_REPLY_INTEGER && p->nints < 4)
		p->ints[p->nints++] = r->integer;
	if (r->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < r->elements && p->nints < 4; i++)
			if (r->element[i]->type == REDIS_REPLY_INTEGER)
				p->ints[p->nints++] = r->element[i]->integer;
}

static int
one_reply(void *arg)
{
	return (((struct replies *)arg)->n >= 1);
}

/*
 * Commands with replies: binary-safe arguments, an array reply (EVAL),
 * refused at once while the publisher is down, and a command in flight
 * when the server goes away gets its callback with no reply.
 */
static void
test_command(void **state)
{
	struct cf_redis_cbs	 none = { NULL, NULL };
	struct cf_redis		*r;
	struct replies		 p;
	const char		*set[] = { "SET", "k", "a\0b" };
	const size_t		 setlen[] = { 3, 1, 3 };
	const char		*get[] = { "GET", "k" };
	const char		*eval[] = { "EVAL",
				    "return {tonumber(ARGV[1]) + 1, 7}", "0",
				    "41" };
	const char		*blpop[] = { "BLPOP", "nothing", "10" };

	(void)state;
	if (access(REDIS_SERVER, X_OK) == -1) {
		print_message("skipping: %s not installed\n", REDIS_SERVER);
		skip();
	}
	if (T.dir[0] == '\0') {
		strcpy(T.dir, "/tmp/cf-redis-test.XXXXXX");
		assert_non_null(mkdtemp(T.dir));
	}
	T.port = free_port();
	server_start();
	r = cf_redis_new(&T.loop, "127.0.0.1", T.port, 0, NULL, 0, NULL, 0,
	    &none, NULL);
	assert_true(run_until(is_up, r, 3000));

	memset(&p, 0, sizeof(p));
	assert_int_equal(cf_redis_command(r, on_reply, &p, 3, set, setlen), 0);
	assert_true(run_until(one_reply, &p, 2000));
	memset(&p, 0, sizeof(p));
	assert_int_equal(cf_redis_command(r, on_reply, &p, 2, get, NULL), 0);
	assert_true(run_until(one_reply, &p, 2000));
	assert_int_equal(p.nnull, 0);
	assert_memory_equal(p.str, "a\0b", 3);

	memset(&p, 0, sizeof(p));
	assert_int_equal(cf_redis_command(r, on_reply, &p, 4, eval, NULL), 0);
	assert_true(run_until(one_reply, &p, 2000));
	assert_int_equal(p.nints, 2);
	assert_int_equal(p.ints[0], 42);
	assert_int_equal(p.ints[1], 7);

	/* In flight when the server stops: called once, without a reply. */
	memset(&p, 0, sizeof(p));
	assert_int_equal(cf_redis_command(r, on_reply, &p, 3, blpop, NULL), 0);
	run_for(50);
	assert_int_equal(p.n, 0);
	server_stop();
	assert_true(run_until(one_reply, &p, 3000));
	assert_int_equal(p.n, 1);
	assert_int_equal(p.nnull, 1);

	/* Down: refused at once, the callback never runs. */
	assert_false(run_until(is_up, r, 300));
	memset(&p, 0, sizeof(p));
	assert_int_equal(cf_redis_command(r, on_reply, &p, 2, get, NULL), -1);
	run_for(50);
	assert_int_equal(p.n, 0);
	cf_redis_free(r);
	assert_int_equal(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_server),
		cmocka_unit_test(test_watchdog),
		cmocka_unit_test(test_pubsub_reconnect),
		cmocka_unit_test(test_free_in_callback),
		cmocka_unit_test(test_command),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
