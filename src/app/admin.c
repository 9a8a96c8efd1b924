/*
 * admin.c -- a worker serves the confabctl requests the master hands over.
 *
 * The master accepts connections on the control socket (master/control.c)
 * and passes each one, unread, to a running worker over its inbox
 * (CF_IPC_CTL with SCM_RIGHTS).  The worker reads one line of JSON, runs
 * the command with its own database connection, relay and configuration,
 * writes one line of JSON, ends its side of the connection and closes it
 * once the client has (what the client still sends is read and dropped,
 * so that the close never resets the reply away).  Everything runs on
 * the loop: the client socket is non-blocking and watched by a uv_poll
 * handle; a client that sends nothing for CF_ADMIN_TIMEOUT_MS or more than
 * CF_ADMIN_MAX bytes gets an error and is closed.
 *
 * Requests:  {"cmd":"token","user":ID,"name":S,"role":S,"days":N}
 *            {"cmd":"channel-create","name":S,"description":S,
 *             "private":B,"members":[ID...],"createdBy":ID}
 *            {"cmd":"broadcast","message":S,"priority":"high|normal|low"}
 *            {"cmd":"online"}   {"cmd":"stats"}
 * Replies:   {"ok":true,...} or {"ok":false,"error":{"code":C,"message":M}}
 * The token is the only secret that ever crosses the socket, and it is not
 * logged.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "db/store.h"
#include "log.h"
#include "secret.h"
#include "shm/shm.h"
#include "app/admin.h"
#include "app/chat.h"
#include "app/ops.h"
#include "fanout/room.h"
#include "proc.h"

#define CF_ADMIN_MAX		(64 * 1024)	/* request line, bytes */
#define CF_ADMIN_TIMEOUT_MS	5000
#define CF_ADMIN_RATE_MS	1000		/* stats: events/s window */

struct admin_client {
	struct admin_client	*next;
	int			 fd;
	uv_poll_t		 poll;
	uv_timer_t		 timer;
	struct cf_buf		 in;
	struct cf_buf		 out;
	size_t			 off;		/* of out already written */
	int			 writing;
	int			 draining;	/* replied: reading to EOF */
	int			 closing;
	int			 nclosed;	/* handles closed, of 2 */
	uint64_t		*events0;	/* stats: the first sample */
};

/* The module's state, cf_w->admin (proc.h). */
struct cf_admin_state {
	struct admin_client	*clients;
};

static void	 client_close(struct admin_client *);
static void	 on_io(uv_poll_t *, int, int);

/* A client too slow to send its request or to read its reply. */
static void
on_timeout(uv_timer_t *t)
{
	client_close(t->data);
}

static void
on_handle_closed(uv_handle_t *h)
{
	struct admin_client *c = h->data, **pp;

	if (++c->nclosed < 2)
		return;
	for (pp = &cf_w->admin->clients; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	cf_buf_free(&c->in);
	/* The reply may hold a token. */
	if (c->out.data != NULL)
		explicit_bzero(c->out.data, c->out.cap);
	cf_buf_free(&c->out);
	free(c->events0);
	free(c);
}

/* Close the connection and free c once libuv has closed its handles. */
static void
client_close(struct admin_client *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_poll_stop(&c->poll);
	uv_timer_stop(&c->timer);
	close(c->fd);
	uv_close((uv_handle_t *)&c->poll, on_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

/* Queue the reply (stolen) as one line and start writing it. */
static void
reply(struct admin_client *c, json_t *r)
{
	char *s;

	if (r == NULL || (s = json_dumps(r, JSON_COMPACT)) == NULL) {
		json_decref(r);
		client_close(c);
		return;
	}
	json_decref(r);
	cf_buf_reset(&c->out);
	if (cf_buf_append(&c->out, s, strlen(s)) == -1 ||
	    cf_buf_append(&c->out, "\n", 1) == -1) {
		explicit_bzero(s, strlen(s));
		free(s);
		client_close(c);
		return;
	}
	explicit_bzero(s, strlen(s));
	free(s);
	c->writing = 1;
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, on_timeout, CF_ADMIN_TIMEOUT_MS, 0);
	uv_poll_start(&c->poll, UV_WRITABLE, on_io);
}

static void
fail(struct admin_client *c, const char *code, const char *message)
{
	reply(c, json_pack("{s:b,s:{s:s,s:s}}", "ok", 0, "error", "code",
	    code, "message", message));
}

/* The string member `key` of o: NULL when absent; -1 when not a string. */
static int
opt_str(const json_t *o, const char *key, const char **out)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return (-1);
	*out = json_string_value(v);
	return (0);
}

/* A user id: a non-negative integer or a short string, into buf. */
static int
user_id(const json_t *v, char *buf, size_t len)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return (0);
	}
	if (json_is_string(v) && json_string_length(v) > 0 &&
	    json_string_length(v) < len &&
	    strlen(json_string_value(v)) == json_string_length(v)) {
		snprintf(buf, len, "%s", json_string_value(v));
		return (0);
	}
	return (-1);
}

static void
cmd_token(struct admin_client *c, const json_t *req)
{
	const char *name, *role, *why = NULL;
	const json_t *days = json_object_get(req, "days");
	char uid[64], *tok;
	json_int_t d = 30;

	if (user_id(json_object_get(req, "user"), uid, sizeof(uid)) == -1) {
		fail(c, "invalid_request", "user: a user id is required");
		return;
	}
	if (opt_str(req, "name", &name) == -1 ||
	    (name != NULL && (name[0] == '\0' || strlen(name) > 127))) {
		fail(c, "invalid_request", "name: 1 to 127 bytes");
		return;
	}
	if (opt_str(req, "role", &role) == -1) {
		fail(c, "invalid_request", "role: a string");
		return;
	}
	if (role == NULL)
		role = "user";
	if (!cf_conf_role_known(cf_w->conf, role)) {
		fail(c, "invalid_request", "role: not a configured role");
		return;
	}
	if (days != NULL && (!json_is_integer(days) ||
	    (d = json_integer_value(days)) < 1 || d > 3650)) {
		fail(c, "invalid_request", "days: 1 to 3650");
		return;
	}
	if ((tok = cf_secret_token(cf_w->conf, uid, name != NULL ? name : uid,
	    role, (int)d, &why)) == NULL) {
		fail(c, "unavailable", why);
		return;
	}
	cf_log_info("control: token minted for user %s, %d days", uid, (int)d);
	/* userId as the token carries it. */
	reply(c, json_pack("{s:b,s:s%,s:o,s:s,s:s,s:I}", "ok", 1, "token", tok,
	    strlen(tok), "userId", cf_secret_id_is_int(uid) ?
	    json_integer(strtoll(uid, NULL, 10)) : json_string(uid),
	    "name", name != NULL ? name : uid, "role", role, "days", d));
	explicit_bzero(tok, strlen(tok));
	free(tok);
}

static void
cmd_channel_create(struct admin_client *c, const json_t *req)
{
	struct cf_op_actor who = { "0", "System" };
	struct cf_op_channel a;
	char creator[64] = "0";
	const char *bad;
	json_t *ch = NULL;
	int rc;

	if (json_object_get(req, "createdBy") != NULL &&
	    user_id(json_object_get(req, "createdBy"), creator,
	    sizeof(creator)) == -1) {
		fail(c, "invalid_request", "createdBy: a user id");
		return;
	}
	who.user_id = creator;
	a.name = json_object_get(req, "name");
	a.description = json_object_get(req, "description");
	a.priv = json_object_get(req, "private");
	a.members = json_object_get(req, "members");
	rc = cf_op_channel_create(&who, &a, &ch, &bad);
	if (bad != NULL && strcmp(bad, "name") == 0)
		fail(c, "invalid_request", "name: 1 to 100 characters, not "
		    "blank");
	else if (bad != NULL && strcmp(bad, "description") == 0)
		fail(c, "invalid_request", "description: at most 1000 "
		    "characters");
	else if (bad != NULL && strcmp(bad, "isPrivate") == 0)
		fail(c, "invalid_request", "private: a boolean");
	else if (bad != NULL)
		fail(c, "invalid_request", "members: an array of user ids");
	else if (rc == -EEXIST)
		fail(c, "conflict", "a channel of that name exists");
	else if (rc != 0)
		fail(c, "internal", "the channel could not be stored");
	else {
		cf_log_info("control: channel %s created",
		    json_string_value(json_object_get(ch, "name")));
		reply(c, json_pack("{s:b,s:o}", "ok", 1, "channel", ch));
	}
}

static void
cmd_broadcast(struct admin_client *c, const json_t *req)
{
	struct cf_op_actor who = { "0", "System" };
	const char *bad;
	int64_t bid = 0;

	if (cf_op_broadcast(&who, json_object_get(req, "message"),
	    json_object_get(req, "priority"), &bid, &bad) != 0) {
		if (bad != NULL && strcmp(bad, "message") == 0)
			fail(c, "invalid_request", "message: a non-blank "
			    "string within max-message-length");
		else if (bad != NULL)
			fail(c, "invalid_request", "priority: high, normal or "
			    "low");
		else
			fail(c, "internal", "the broadcast could not be stored");
		return;
	}
	cf_log_info("control: broadcast %" PRId64 " sent", bid);
	reply(c, json_pack("{s:b,s:I}", "ok", 1, "broadcastId",
	    (json_int_t)bid));
}

/* presence_each: "u:<id>" keys into an array of {userId, connections}. */
static int
online_add(void *arg, const char *key, uint32_t total)
{
	json_t *a = arg;
	char name[128];

	if (total == 0 || strncmp(key, "u:", 2) != 0)
		return (0);
	if (cf_store_user_name(cf_db(), key + 2, name, sizeof(name)) != 0)
		name[0] = '\0';
	json_array_append_new(a, json_pack("{s:s,s:s,s:I}", "userId", key + 2,
	    "name", name, "connections", (json_int_t)total));
	return (0);
}

static void
cmd_online(struct admin_client *c)
{
	json_t *a = json_array();

	if (a == NULL) {
		fail(c, "internal", "out of memory");
		return;
	}
	cf_shm_presence_each(cf_w->shm, online_add, a);
	reply(c, json_pack("{s:b,s:I,s:o}", "ok", 1, "count",
	    (json_int_t)json_array_size(a), "users", a));
}

static uint64_t
load(const uint64_t *p)
{
	return (__atomic_load_n(p, __ATOMIC_RELAXED));
}

/* stats, second half: the events/s window has passed. */
static void
stats_reply(uv_timer_t *t)
{
	struct admin_client *c = t->data;
	struct cf_shm_stats *st;
	unsigned i, n = cf_shm_nslots(cf_w->shm);
	uint64_t users, ev, total = 0, rate = 0, conns = 0;
	json_t *workers = json_array(), *w;
	pid_t pid;
	int up;

	if (workers == NULL) {
		fail(c, "internal", "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		if ((st = cf_shm_stats(cf_w->shm, i)) == NULL)
			continue;
		pid = __atomic_load_n(&st->pid, __ATOMIC_RELAXED);
		up = pid != 0 && kill(pid, 0) == 0;
		ev = load(&st->events_in);
		w = json_pack("{s:i,s:i,s:b,s:I,s:I,s:I,s:I,s:I,s:I}",
		    "worker", (int)i, "pid", (int)pid, "up", up,
		    "websocket", (json_int_t)load(&st->ws_connections),
		    "polling", (json_int_t)load(&st->polling_connections),
		    "eventsIn", (json_int_t)ev,
		    "eventsPerSecond", (json_int_t)(ev >= c->events0[i] ?
		    (ev - c->events0[i]) * 1000 / CF_ADMIN_RATE_MS : 0),
		    "deliveriesOut", (json_int_t)load(&st->deliveries_out),
		    "restarts", (json_int_t)load(&st->restarts));
		json_array_append_new(workers, w);
		conns += load(&st->ws_connections) +
		    load(&st->polling_connections);
		total += ev;
		rate += ev >= c->events0[i] ? ev - c->events0[i] : 0;
	}
	users = cf_shm_presence_count(cf_w->shm, "u:");
	reply(c, json_pack("{s:b,s:I,s:I,s:I,s:I,s:o}", "ok", 1,
	    "connections", (json_int_t)conns, "usersOnline", (json_int_t)users,
	    "eventsIn", (json_int_t)total, "eventsPerSecond",
	    (json_int_t)(rate * 1000 / CF_ADMIN_RATE_MS), "workers", workers));
}

/* stats, first half: sample the event counters, answer a window later. */
static void
cmd_stats(struct admin_client *c)
{
	struct cf_shm_stats *st;
	unsigned i, n = cf_shm_nslots(cf_w->shm);

	if ((c->events0 = calloc(n + 1, sizeof(*c->events0))) == NULL) {
		fail(c, "internal", "out of memory");
		return;
	}
	for (i = 0; i < n; i++)
		if ((st = cf_shm_stats(cf_w->shm, i)) != NULL)
			c->events0[i] = load(&st->events_in);
	uv_poll_stop(&c->poll);
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, stats_reply, CF_ADMIN_RATE_MS, 0);
}

/* One request line (NUL-terminated, newline stripped). */
static void
dispatch(struct admin_client *c, const char *line)
{
	json_error_t err;
	json_t *req;
	const char *cmd;

	if ((req = json_loads(line, JSON_REJECT_DUPLICATES, &err)) == NULL ||
	    !json_is_object(req)) {
		json_decref(req);
		fail(c, "invalid_request", "expected one line of JSON: an "
		    "object with \"cmd\"");
		return;
	}
	if (opt_str(req, "cmd", &cmd) == -1 || cmd == NULL)
		fail(c, "invalid_request", "cmd: a string is required");
	else if (strcmp(cmd, "token") == 0)
		cmd_token(c, req);
	else if (strcmp(cmd, "channel-create") == 0)
		cmd_channel_create(c, req);
	else if (strcmp(cmd, "broadcast") == 0)
		cmd_broadcast(c, req);
	else if (strcmp(cmd, "online") == 0)
		cmd_online(c);
	else if (strcmp(cmd, "stats") == 0)
		cmd_stats(c);
	else
		fail(c, "unknown_command", "cmd: one of token, channel-create, "
		    "broadcast, online, stats");
	json_decref(req);
}

static void
on_read(struct admin_client *c)
{
	char buf[4096], *nl;
	ssize_t n;

	for (;;) {
		n = read(c->fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == 0 && c->in.len > 0) {
			/* Half-closed before the newline: still answered. */
			fail(c, "invalid_request", "a request is one line of "
			    "JSON ending in a newline");
			return;
		}
		if (n <= 0) {
			client_close(c);
			return;
		}
		if (cf_buf_append(&c->in, buf, (size_t)n) == -1) {
			client_close(c);
			return;
		}
		if ((nl = memchr(c->in.data, '\n', c->in.len)) != NULL) {
			*nl = '\0';
			if (strlen((char *)c->in.data) !=
			    (size_t)(nl - (char *)c->in.data))
				fail(c, "invalid_request", "NUL in request");
			else
				dispatch(c, (char *)c->in.data);
			return;
		}
		if (c->in.len > CF_ADMIN_MAX) {
			fail(c, "invalid_request", "request longer than 64 KiB");
			return;
		}
	}
}

static void
on_write(struct admin_client *c)
{
	ssize_t n;

	while (c->off < c->out.len) {
		n = send(c->fd, c->out.data + c->off, c->out.len - c->off,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == -1) {
			client_close(c);
			return;
		}
		c->off += (size_t)n;
	}
	/*
	 * Replied.  Closing a unix socket with unread input makes the peer's
	 * read fail (ECONNRESET) before it reads the reply: end our side,
	 * then discard what the client still sends until it closes (or the
	 * timeout).
	 */
	c->writing = 0;
	c->draining = 1;
	(void)shutdown(c->fd, SHUT_WR);
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, on_timeout, CF_ADMIN_TIMEOUT_MS, 0);
	uv_poll_start(&c->poll, UV_READABLE, on_io);
}

/* After the reply: read and drop until EOF, then close. */
static void
on_drain(struct admin_client *c)
{
	char buf[4096];
	ssize_t n;

	for (;;) {
		n = read(c->fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			client_close(c);
			return;
		}
	}
}

static void
on_io(uv_poll_t *h, int status, int events)
{
	struct admin_client *c = h->data;

	if (status < 0) {
		client_close(c);
		return;
	}
	if (c->writing)
		on_write(c);
	else if (c->draining)
		on_drain(c);
	else if (events & UV_READABLE)
		on_read(c);
}

void
cf_admin_adopt(struct cf_worker *w, int fd)
{
	struct admin_client *c;
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->fd = fd;
	if (uv_poll_init(&w->loop, &c->poll, fd) != 0) {
		close(fd);
		free(c);
		return;
	}
	uv_timer_init(&w->loop, &c->timer);
	c->poll.data = c->timer.data = c;
	c->next = w->admin->clients;
	w->admin->clients = c;
	uv_poll_start(&c->poll, UV_READABLE, on_io);
	uv_timer_start(&c->timer, on_timeout, CF_ADMIN_TIMEOUT_MS, 0);
}

void
cf_admin_stop(void)
{
	struct admin_client *c, *next;

	for (c = cf_w->admin->clients; c != NULL; c = next) {
		next = c->next;
		client_close(c);
	}
}

int
cf_admin_init(struct cf_worker *w)
{
	if ((w->admin = calloc(1, sizeof(*w->admin))) == NULL)
		return (-1);
	return (0);
}

/* The clients free themselves as their handles close (cf_admin_stop). */
void
cf_admin_free(struct cf_worker *w)
{
	free(w->admin);
	w->admin = NULL;
}
