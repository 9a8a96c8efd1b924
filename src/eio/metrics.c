/*
 * metrics.c -- GET /metrics: the Prometheus text exposition (format
 * 0.0.4) of every worker slot of this host, read from the stats blocks in
 * shared memory and the presence table, so any worker answers for all.
 *
 * Each metric family is one row of `metrics[]`, written in table order: a
 * plain row is a uint64_t field of struct cf_shm_stats (its offset) with
 * one sample per slot; the few other shapes (a summary, the histogram, the
 * per-event and per-error-code counters, the liveness and start time of a
 * slot, the host-wide user count) are row kinds.  Each slot's block has one
 * writer (its worker), so every field is read with an atomic load.
 */
#include <sys/socket.h>

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shm/shm.h"
#include "eio/session.h"
#include "eio/http_int.h"

enum row_kind {
	/* One sample per slot of the uint64_t at off; with label2, a second
	 * series (label, off) and (label2, off2) per slot. */
	R_SLOT = 0,
	R_UP,		/* 1 when the slot's pid runs */
	R_START,	/* the uint64_t milliseconds at off, as seconds */
	R_USERS,	/* one sample: the "u:" keys of the presence table */
	R_EVENTS,	/* per event-table row (cf_app->event_name) */
	R_SUMMARY_US,	/* microseconds summed at off, counted at off2 */
	R_HISTOGRAM,	/* the database write histogram */
	R_ERRORS,	/* per error code */
	/* One sample: the uint64_t at off of the slot whose stamp at off2
	 * (ms since the epoch) is the newest -- a measure of the database
	 * any worker takes; R_LATEST_AGE: that value is a time in ms, shown
	 * as the seconds since then (0 when it is 0). */
	R_LATEST,
	R_LATEST_AGE
};

/* The row is written only when Redis is configured. */
#define R_REDIS	0x1

struct metric {
	const char	*name;
	const char	*type;
	const char	*help;
	enum row_kind	 kind;
	size_t		 off;
	size_t		 off2;
	const char	*label;		/* R_SLOT: an extra label, or NULL */
	const char	*label2;
	unsigned	 flags;
};

#define STAT(f)		offsetof(struct cf_shm_stats, f)

static const struct metric metrics[] = {
	{ "confabd_connections", "gauge",
	    "Engine.IO sessions open now, by worker and transport.",
	    R_SLOT, STAT(ws_connections), STAT(polling_connections),
	    "transport=\"websocket\"", "transport=\"polling\"", 0 },
	{ "confabd_events_in_total", "counter",
	    "Socket.IO events received from clients.",
	    R_SLOT, STAT(events_in), 0, NULL, NULL, 0 },
	{ "confabd_relay_published_total", "counter",
	    "Frames published to the relay for other servers.",
	    R_SLOT, STAT(relay_out), 0, NULL, NULL, 0 },
	{ "confabd_relay_received_total", "counter",
	    "Frames received from the relay.",
	    R_SLOT, STAT(relay_in), 0, NULL, NULL, 0 },
	{ "confabd_unauthenticated_connections", "gauge",
	    "Engine.IO sessions not authenticated yet.",
	    R_SLOT, STAT(unauthenticated), 0, NULL, NULL, 0 },
	{ "confabd_unauthenticated_refused_total", "counter",
	    "New connections refused by max-unauthenticated(-per-ip).",
	    R_SLOT, STAT(unauth_refused), 0, NULL, NULL, 0 },
	{ "confabd_attachment_disconnects_total", "counter",
	    "Sessions closed for their binary attachments (size, time, "
	    "before authentication).",
	    R_SLOT, STAT(attach_closed), 0, NULL, NULL, 0 },
	{ "confabd_recovery_attempts_total", "counter",
	    "CONNECTs asking to recover a socket (carrying a pid).",
	    R_SLOT, STAT(rec_attempts), 0, NULL, NULL, 0 },
	{ "confabd_recovery_succeeded_total", "counter",
	    "Sockets recovered: id, rooms and missed events restored.",
	    R_SLOT, STAT(rec_ok), 0, NULL, NULL, 0 },
	{ "confabd_recovery_failed_total", "counter",
	    "Recoveries refused, by reason: unknown (no such socket held: "
	    "expired, over the bound, never here), offset (not among the "
	    "events kept).",
	    R_SLOT, STAT(rec_unknown), STAT(rec_offset), "reason=\"unknown\"",
	    "reason=\"offset\"", 0 },
	{ "confabd_recovery_auth_failed_total", "counter",
	    "Recoveries refused because the socket's token expired or was "
	    "revoked.",
	    R_SLOT, STAT(rec_refused), 0, NULL, NULL, 0 },
	{ "confabd_recovery_dropped_total", "counter",
	    "Disconnected sockets given up, by reason: window "
	    "(recovery-window passed), bound (over recovery-max-events).",
	    R_SLOT, STAT(rec_expired), STAT(rec_overflow), "reason=\"window\"",
	    "reason=\"bound\"", 0 },
	{ "confabd_recovery_replayed_total", "counter",
	    "Events sent again to recovered sockets.",
	    R_SLOT, STAT(rec_replayed), 0, NULL, NULL, 0 },
	{ "confabd_recovery_held", "gauge",
	    "Disconnected sockets held for recovery now.",
	    R_SLOT, STAT(rec_ghosts), 0, NULL, NULL, 0 },
	{ "confabd_relay_redis_up", "gauge",
	    "1 while the worker's Redis connections are up.",
	    R_SLOT, STAT(redis_up), 0, NULL, NULL, R_REDIS },
	{ "confabd_relay_redis_errors_total", "counter",
	    "Redis outages seen and broadcasts Redis could not take.",
	    R_SLOT, STAT(redis_errors), 0, NULL, NULL, R_REDIS },
	{ "confabd_worker_up", "gauge",
	    "1 when the worker process of the slot is running.",
	    R_UP, 0, 0, NULL, NULL, 0 },
	{ "confabd_worker_start_time_seconds", "gauge",
	    "Start time of the worker since the Unix epoch, in seconds.",
	    R_START, STAT(started_ms), 0, NULL, NULL, 0 },
	{ "confabd_authenticated_users", "gauge",
	    "Distinct authenticated users connected to this host.",
	    R_USERS, 0, 0, NULL, NULL, 0 },
	{ "confabd_events_in_by_name_total", "counter",
	    "Socket.IO events received, by event name (unknown: not in the "
	    "event table).",
	    R_EVENTS, 0, 0, NULL, NULL, 0 },
	{ "confabd_deliveries_out_total", "counter",
	    "Socket.IO packets queued to clients (one per recipient).",
	    R_SLOT, STAT(deliveries_out), 0, NULL, NULL, 0 },
	{ "confabd_slow_consumer_disconnects_total", "counter",
	    "Sessions closed because more than max-output-buffer bytes waited "
	    "to be sent to them.",
	    R_SLOT, STAT(slow_consumers), 0, NULL, NULL, 0 },
	{ "confabd_relay_lag_seconds", "summary",
	    "Time from a relay publish to its receipt (other workers' frames "
	    "locally, the echo of our own over Redis).",
	    R_SUMMARY_US, STAT(relay_lag_sum_us), STAT(relay_lag_count), NULL,
	    NULL, 0 },
	{ "confabd_db_statements_total", "counter",
	    "SQL statements run on the database (reads and writes; not "
	    "BEGIN / COMMIT).",
	    R_SLOT, STAT(db_statements), 0, NULL, NULL, 0 },
	{ "confabd_db_write_seconds", "histogram",
	    "Duration of committed database writes (a transaction, or one "
	    "statement).",
	    R_HISTOGRAM, 0, 0, NULL, NULL, 0 },
	{ "confabd_errors_total", "counter",
	    "Errors sent to clients (acks and error events), by error.code.",
	    R_ERRORS, 0, 0, NULL, NULL, 0 },
	{ "confabd_worker_restarts_total", "counter",
	    "Times the master started the worker slot again after it died.",
	    R_SLOT, STAT(restarts), 0, NULL, NULL, 0 },
	{ "confabd_webhook_queue_depth", "gauge",
	    "Webhook deliveries waiting in the outbox (every endpoint; "
	    "counted up to 100000).",
	    R_LATEST, STAT(hook_depth), STAT(hook_measured_ms), NULL, NULL,
	    0 },
	{ "confabd_webhook_oldest_pending_seconds", "gauge",
	    "Age of the oldest webhook delivery waiting in the outbox.",
	    R_LATEST_AGE, STAT(hook_oldest_ms), STAT(hook_measured_ms), NULL,
	    NULL, 0 },
	{ "confabd_webhook_deliveries_total", "counter",
	    "Webhook deliveries answered with a 2xx status.",
	    R_SLOT, STAT(hook_delivered), 0, NULL, NULL, 0 },
	{ "confabd_webhook_failures_total", "counter",
	    "Webhook deliveries dropped after webhook-retry-for.",
	    R_SLOT, STAT(hook_failed), 0, NULL, NULL, 0 },
};

/* Microseconds as seconds with 6 decimals. */
#define US_FMT		"%" PRIu64 ".%06u"
#define US_ARGS(us)	(us) / 1000000, (unsigned)((us) % 1000000)

static int
metrics_printf(struct cf_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append one formatted line (< 256 bytes) to b.  0, or -1. */
static int
metrics_printf(struct cf_buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	 line[256];
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return (-1);
	return (cf_buf_append(b, line, (size_t)n));
}

/* The uint64_t field of st at byte offset off (relaxed atomic load). */
static uint64_t
stat_u64(struct cf_shm_stats *st, size_t off)
{
	return (__atomic_load_n((uint64_t *)(void *)((char *)st + off),
	    __ATOMIC_RELAXED));
}

/* R_SLOT: "name{worker="i"[,label]} v" per series. */
static int
row_slot(struct cf_buf *b, const struct metric *m, unsigned i,
    struct cf_shm_stats *st)
{
	if (metrics_printf(b, "%s{worker=\"%u\"%s%s} %" PRIu64 "\n", m->name,
	    i, m->label != NULL ? "," : "", m->label != NULL ? m->label : "",
	    stat_u64(st, m->off)))
		return (-1);
	if (m->label2 != NULL && metrics_printf(b, "%s{worker=\"%u\",%s} %"
	    PRIu64 "\n", m->name, i, m->label2, stat_u64(st, m->off2)))
		return (-1);
	return (0);
}

/* R_EVENTS: one sample per named row of the application's event table. */
static int
row_events(struct cf_buf *b, const struct metric *m, unsigned i,
    struct cf_shm_stats *st)
{
	const char *name;
	unsigned j;

	for (j = 0; j < CF_SHM_EVENT_NAMES; j++) {
		name = j == CF_SHM_EVENT_NAMES - 1 ? "unknown" :
		    cf_app->event_name != NULL ? cf_app->event_name(j) : NULL;
		if (name == NULL)
			continue;
		if (metrics_printf(b, "%s{worker=\"%u\",event=\"%s\"} %" PRIu64
		    "\n", m->name, i, name, __atomic_load_n(
		    &st->events_by_name[j], __ATOMIC_RELAXED)))
			return (-1);
	}
	return (0);
}

/* R_HISTOGRAM: cumulative buckets, +Inf, sum and count. */
static int
row_histogram(struct cf_buf *b, const struct metric *m, unsigned i,
    struct cf_shm_stats *st)
{
	uint64_t v, cum;
	unsigned j;

	/* The count first: buckets never run ahead of it. */
	v = __atomic_load_n(&st->db_write_count, __ATOMIC_ACQUIRE);
	for (j = 0, cum = 0; j < CF_SHM_DB_BUCKETS; j++) {
		cum += __atomic_load_n(&st->db_write_buckets[j],
		    __ATOMIC_RELAXED);
		if (metrics_printf(b, "%s_bucket{worker=\"%u\",le=\"" US_FMT
		    "\"} %" PRIu64 "\n", m->name, i,
		    US_ARGS((uint64_t)cf_shm_db_bucket_us[j]),
		    cum < v ? cum : v))
			return (-1);
	}
	if (metrics_printf(b, "%s_bucket{worker=\"%u\",le=\"+Inf\"} %" PRIu64
	    "\n", m->name, i, v) ||
	    metrics_printf(b, "%s_sum{worker=\"%u\"} " US_FMT "\n", m->name, i,
	    US_ARGS(__atomic_load_n(&st->db_write_sum_us, __ATOMIC_RELAXED))) ||
	    metrics_printf(b, "%s_count{worker=\"%u\"} %" PRIu64 "\n", m->name,
	    i, v))
		return (-1);
	return (0);
}

/* R_ERRORS: one sample per code of the slot's table fit for a label. */
static int
row_errors(struct cf_buf *b, const struct metric *m, unsigned i,
    struct cf_shm_stats *st)
{
	char code[CF_SHM_CODE_MAX];
	uint32_t ne, j;

	ne = __atomic_load_n(&st->nerrors, __ATOMIC_ACQUIRE);
	for (j = 0; j < ne && j < CF_SHM_ERROR_CODES; j++) {
		memcpy(code, st->errors[j].code, sizeof(code));
		code[sizeof(code) - 1] = '\0';
		if (code[strspn(code, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:.-")] != '\0')
			continue;	/* not fit for a label */
		if (metrics_printf(b, "%s{worker=\"%u\",code=\"%s\"} %" PRIu64
		    "\n", m->name, i, code, __atomic_load_n(
		    &st->errors[j].count, __ATOMIC_RELAXED)))
			return (-1);
	}
	return (0);
}

/* The samples of row m for slot i.  0 or -1. */
static int
row_samples(struct cf_buf *b, const struct metric *m, unsigned i,
    struct cf_shm_stats *st)
{
	uint64_t v;
	pid_t pid;

	switch (m->kind) {
	case R_SLOT:
		return (row_slot(b, m, i, st));
	case R_UP:
		pid = __atomic_load_n(&st->pid, __ATOMIC_RELAXED);
		return (metrics_printf(b, "%s{worker=\"%u\"} %d\n", m->name, i,
		    pid != 0 && kill(pid, 0) == 0));
	case R_START:
		v = stat_u64(st, m->off);
		return (metrics_printf(b, "%s{worker=\"%u\"} %" PRIu64 ".%03u\n",
		    m->name, i, v / 1000, (unsigned)(v % 1000)));
	case R_SUMMARY_US:
		v = stat_u64(st, m->off);
		if (metrics_printf(b, "%s_sum{worker=\"%u\"} " US_FMT "\n",
		    m->name, i, US_ARGS(v)))
			return (-1);
		return (metrics_printf(b, "%s_count{worker=\"%u\"} %" PRIu64
		    "\n", m->name, i, stat_u64(st, m->off2)));
	case R_EVENTS:
		return (row_events(b, m, i, st));
	case R_HISTOGRAM:
		return (row_histogram(b, m, i, st));
	case R_ERRORS:
		return (row_errors(b, m, i, st));
	case R_USERS:		/* host-wide: metrics_build */
	case R_LATEST:
	case R_LATEST_AGE:
		break;
	}
	return (0);
}

/* R_LATEST(_AGE): the value of the slot that measured last. */
static int
row_latest(struct cf_buf *b, const struct metric *m, unsigned n)
{
	struct cf_shm_stats *st;
	uint64_t v = 0, at = 0, t, now;
	unsigned i;

	for (i = 0; i < n; i++) {
		if ((st = cf_shm_stats(cf_w->shm, i)) == NULL)
			continue;
		if ((t = stat_u64(st, m->off2)) > at) {
			at = t;
			v = stat_u64(st, m->off);
		}
	}
	if (m->kind == R_LATEST_AGE) {
		now = cf_wall_ms();
		v = v == 0 || now < v ? 0 : now - v;
		return (metrics_printf(b, "%s %" PRIu64 ".%03u\n", m->name,
		    v / 1000, (unsigned)(v % 1000)));
	}
	return (metrics_printf(b, "%s %" PRIu64 "\n", m->name, v));
}

/*
 * Build the exposition into b: per row its "# HELP" and "# TYPE" lines,
 * then its samples for every slot that has a stats block.  0, or -1 when
 * out of memory.
 */
static int
metrics_build(struct cf_buf *b)
{
	const struct metric *m;
	struct cf_shm_stats *st;
	unsigned i, n = cf_shm_nslots(cf_w->shm);
	uint64_t users;
	size_t r;

	for (r = 0; r < sizeof(metrics) / sizeof(metrics[0]); r++) {
		m = &metrics[r];
		if ((m->flags & R_REDIS) && cf_w->conf->redis_host == NULL)
			continue;
		if (metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", m->name,
		    m->help, m->name, m->type))
			return (-1);
		if (m->kind == R_USERS) {
			users = cf_shm_presence_count(cf_w->shm, "u:");
			if (metrics_printf(b, "%s %" PRIu64 "\n", m->name,
			    users))
				return (-1);
			continue;
		}
		if (m->kind == R_LATEST || m->kind == R_LATEST_AGE) {
			if (row_latest(b, m, n) == -1)
				return (-1);
			continue;
		}
		for (i = 0; i < n; i++) {
			if ((st = cf_shm_stats(cf_w->shm, i)) == NULL)
				continue;
			if (row_samples(b, m, i, st) == -1)
				return (-1);
		}
	}
	return (0);
}

int
cf_metrics_serve(struct lws *wsi)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	struct cf_buf		 b = { 0 };
	lws_sockfd_type		 fd;
	int			 rc;

	fd = lws_get_socket_fd(wsi);
	memset(&ss, 0, sizeof(ss));
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sslen) == -1 ||
	    !cf_conf_metrics_allowed(cf_w->conf, (struct sockaddr *)&ss))
		return (cf_http_respond(wsi, "", 403, "text/plain",
		    "Forbidden\n", 10, 0));
	if (cf_w->shm == NULL || metrics_build(&b) == -1) {
		cf_buf_free(&b);
		return (cf_http_respond(wsi, "", 500, "text/plain",
		    "Internal Server Error\n", 22, 0));
	}
	rc = cf_http_respond(wsi, "", 200,
	    "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, 0);
	cf_buf_free(&b);
	return (rc);
}
