/*
 * events.c -- the dispatcher of client events.  A packet's name selects a
 * row of the application's table (app.c); the rate limit, the
 * authentication gate, the argument specification, the row's permission
 * and its field list are checked in that order before the row's handler
 * runs (events.h).  Also the per-event counters of /metrics and the
 * periodic summary line.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "perm.h"
#include "shm/shm.h"
#include "app/args.h"
#include "app/chat.h"
#include "app/ack.h"
#include "app/events.h"
#include "eio/session.h"

#define CF_EV_STR_MAX	256
#define CF_EV_LOG_PAYLOAD	512	/* bytes of a payload in a debug line */

static void payload_field(char *, size_t, const json_t *);

/* Count an event by its table row (the last counter: unknown names). */
static void
count_event(size_t row)
{
	struct cf_shm_stats *st = cf_shm_stats(cf_w->shm, cf_w->slot);

	if (st == NULL)
		return;
	if (row >= CF_SHM_EVENT_NAMES)
		row = CF_SHM_EVENT_NAMES - 1;
	__atomic_add_fetch(&st->events_by_name[row], 1, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ helpers */

/* Validate args against spec (events.h): 0, or -1 with a reason in why. */
static int
check_args(const char *spec, const json_t *args, const char **why)
{
	size_t i, n = json_array_size(args);
	const json_t *v;
	const char *c;

	for (i = 0, c = spec; *c != '\0' && *c != '*'; c++, i++) {
		if (i >= n) {
			*why = "missing argument";
			return (-1);
		}
		v = json_array_get(args, i);
		switch (*c) {
		case 's':
			if (!json_is_string(v) || json_string_length(v) == 0 ||
			    json_string_length(v) > CF_EV_STR_MAX) {
				*why = "expected a non-empty string";
				return (-1);
			}
			break;
		case 'S':
			if (!json_is_string(v)) {
				*why = "expected a string";
				return (-1);
			}
			break;
		case 'i':
			if (!json_is_integer(v)) {
				*why = "expected an integer";
				return (-1);
			}
			break;
		case 'n':
			if (!json_is_number(v)) {
				*why = "expected a number";
				return (-1);
			}
			break;
		case 'b':
			if (!json_is_boolean(v)) {
				*why = "expected a boolean";
				return (-1);
			}
			break;
		case 'o':
			if (!json_is_object(v)) {
				*why = "expected an object";
				return (-1);
			}
			break;
		case 'a':
			if (!json_is_array(v)) {
				*why = "expected an array";
				return (-1);
			}
			break;
		default:
			break;
		}
	}
	if (*c != '*' && i < n) {
		*why = "too many arguments";
		return (-1);
	}
	return (0);
}

/*
 * The per-socket token bucket: rate-limit EVENTS per SECONDS, with a burst
 * of EVENTS.  Returns 0 to go on, -1 when this event is refused.
 */
static int
rate_limited(struct cf_sess *s)
{
	const struct cf_conf *conf = cf_w->conf;
	double cap = conf->rate_limit_events, rate;
	uint64_t now = cf_now_ms();

	rate = cap / (double)conf->rate_limit_window_ms;	/* per ms */
	if (s->rl_at == 0)
		s->rl_tokens = cap;
	else {
		s->rl_tokens += (double)(now - s->rl_at) * rate;
		if (s->rl_tokens > cap)
			s->rl_tokens = cap;
	}
	s->rl_at = now;
	if (s->rl_tokens >= 1.0) {
		s->rl_tokens -= 1.0;
		s->rl_refused = 0;
		return (0);
	}
	s->rl_refused++;
	return (-1);
}

/*
 * The row's permission, then its fields into ctx->v (events.h): 0 to run
 * the handler, or -1 when the client was told why not.
 */
static int
check_row(const struct cf_event_def *d, struct cf_event_ctx *ctx)
{
	const struct cf_conf *conf = cf_w->conf;
	int64_t limits[CF_LIM_N];
	const char *err;

	if (d->perm != 0 &&
	    (cf_chat_perms(ctx->s->app) & d->perm) != d->perm) {
		cf_chat_fail(ctx, "forbidden", "Permission denied");
		return (-1);
	}
	if (d->fields == NULL)
		return (0);
	limits[CF_LIM_NONE] = 0;
	limits[CF_LIM_MESSAGE_LENGTH] = conf->max_message_length;
	limits[CF_LIM_SDP_SIZE] = (int64_t)conf->max_sdp_size;
	limits[CF_LIM_ICE_CANDIDATE_SIZE] =
	    (int64_t)conf->max_ice_candidate_size;
	if (cf_arg_fields(d->fields, d->shape, d->objerr,
	    json_array_get(ctx->args, 0), limits, ctx->v, &err) == -1) {
		cf_chat_fail(ctx, "invalid_payload", err);
		return (-1);
	}
	return (0);
}

/* Dispatch p with *ctx (zeroed by the caller); *known: a table row ran. */
static void
dispatch_one(struct cf_sess *s, struct cf_sio_packet *p,
    const struct cf_event_def *rows, size_t nrows, struct cf_event_ctx *ctx,
    int *known)
{
	const struct cf_event_def *d = NULL;
	const json_t *name;
	const char *why;
	size_t i;

	name = json_array_get(p->data, 0);
	ctx->s = s;
	ctx->ack_id = p->id;
	ctx->att = p->att;
	ctx->nattach = p->nattach;
	ctx->name = json_is_string(name) ? json_string_value(name) : "";
	for (i = 0; i < nrows; i++)
		if (strcmp(rows[i].name, ctx->name) == 0) {
			d = &rows[i];
			break;
		}
	if (d != NULL && (d->flags & CF_EV_DEBUG) && !cf_w->conf->debug_events)
		d = NULL;
	count_event(d != NULL ? i : CF_SHM_EVENT_NAMES - 1);
	*known = d != NULL;
	/*
	 * Every name goes through the rate limit, unknown ones included (a
	 * flood of made-up names must cost its sender the same).  Only the
	 * diagnostic events, served with debug-events alone, are exempt.
	 * An unknown name has no error event of its own: chat:error.
	 */
	ctx->errev = d != NULL ? d->errev : NULL;
	if ((d == NULL || !(d->flags & CF_EV_DEBUG)) && rate_limited(s) == -1) {
		cf_chat_fail(ctx, "rate_limited", "Rate limit exceeded");
		if (s->rl_refused > 3 * cf_w->conf->rate_limit_events) {
			cf_log_info("socket %s disconnected: flooding", s->id);
			cf_sock_disconnect(s, 0);
		}
		return;
	}
	if (d == NULL) {
		cf_event_ack_error(ctx, "unknown_event", "unknown event");
		return;
	}
	if (!(d->flags & (CF_EV_DEBUG | CF_EV_NOAUTH)) && !cf_chat_authed(s)) {
		ctx->errev = "auth:error";
		cf_chat_fail(ctx, "not_authenticated", "Not authenticated");
		return;
	}
	/*
	 * A lone surrogate in a string (JSON.stringify writes "\ud800"):
	 * this event is refused, the socket lives.
	 */
	if (p->lossy) {
		if (d->errev != NULL)
			cf_chat_fail(ctx, "invalid_payload", "Invalid payload: "
			    "a string holds a lone UTF-16 surrogate");
		else
			cf_event_ack_error(ctx, "invalid_payload",
			    "lone UTF-16 surrogate");
		return;
	}
	/* The arguments after the name, as a new array. */
	if ((ctx->args = json_array()) == NULL)
		return;
	for (i = 1; i < json_array_size(p->data); i++)
		json_array_append(ctx->args, json_array_get(p->data, i));
	if (check_args(d->argspec, ctx->args, &why) == -1) {
		char msg[128];

		snprintf(msg, sizeof(msg), "Invalid payload: %s", why);
		if (d->errev != NULL)
			cf_chat_fail(ctx, "invalid_payload", msg);
		else
			cf_event_ack_error(ctx, "invalid_payload", why);
	} else if (check_row(d, ctx) == 0)
		d->fn(ctx);
	json_decref(ctx->args);
}

/*
 * At log-level debug, one line per event received: socket, user, event,
 * payload size, ack status, time in the handler.  The payload only with
 * log-payloads, and never authenticate's (the token).  At any other level
 * nothing is measured or formatted.
 */
void
cf_event_dispatch(struct cf_sess *s, struct cf_sio_packet *p,
    const struct cf_event_def *rows, size_t nrows)
{
	struct cf_event_ctx ctx;
	const struct cf_chat *c;
	char name[80], user[80], payload[CF_EV_LOG_PAYLOAD + 8];
	const char *ack, *ev;
	uint64_t t0;
	size_t bytes;
	int known = 0;

	memset(&ctx, 0, sizeof(ctx));
	if (cf_log_get_level() < CF_LOG_DEBUG) {
		dispatch_one(s, p, rows, nrows, &ctx, &known);
		return;
	}
	t0 = cf_now_us();
	bytes = json_dumpb(p->data, NULL, 0, JSON_COMPACT);
	ev = json_string_value(json_array_get(p->data, 0));
	dispatch_one(s, p, rows, nrows, &ctx, &known);
	t0 = cf_now_us() - t0;
	cf_log_value(name, sizeof(name), ev != NULL ? ev : "");
	c = s->app;
	cf_log_value(user, sizeof(user), c != NULL && c->authed ? c->user_id :
	    "-");
	if (ctx.err_code != NULL)
		ack = "error";
	else if (p->id < 0)
		ack = "none";
	else
		ack = ctx.ack_id < 0 ? "ok" : "later";
	payload[0] = '\0';
	if (cf_w->conf->log_payloads && known &&
	    strcmp(ev, "authenticate") != 0)
		payload_field(payload, sizeof(payload), p->data);
	cf_log_ev(CF_LOG_DEBUG, "event_in", "sid=%s user=%s name=%s bytes=%zu "
	    "attachments=%d ack=%s%s%s dur_us=%llu%s", s->connected ? s->id :
	    "-", user, name, bytes, p->nattach, ack, ctx.err_code != NULL ?
	    " code=" : "", ctx.err_code != NULL ? ctx.err_code : "",
	    (unsigned long long)t0, payload);
}

/* " payload=<the event's arguments as JSON>", quoted, truncated. */
static void
payload_field(char *buf, size_t len, const json_t *data)
{
	json_t *args;
	char *raw;
	size_t n;

	buf[0] = '\0';
	if ((args = json_array()) == NULL)
		return;
	for (n = 1; n < json_array_size(data); n++)
		json_array_append(args, json_array_get(data, n));
	/*
	 * Whole, then cut: json_dumpb() into a short buffer leaves the
	 * bytes after the first piece that did not fit unwritten.
	 */
	raw = json_dumps(args, JSON_COMPACT);
	json_decref(args);
	if (raw == NULL)
		return;
	if (strlen(raw) >= CF_EV_LOG_PAYLOAD)
		raw[CF_EV_LOG_PAYLOAD - 1] = '\0';	/* truncated: readable */
	memcpy(buf, " payload=", 9);
	cf_log_value(buf + 9, len - 9, raw);
	free(raw);
}

/* --------------------------------------------------------- summary */

/* The module's state, cf_w->events (proc.h): the summary line's. */
struct cf_event_state {
	uv_timer_t	 summary_timer;
	uint64_t	 summary_events, summary_errors, summary_at;
};

/* The errors sent so far by this worker, every code. */
static uint64_t
errors_sent(const struct cf_shm_stats *st)
{
	uint32_t i, n = __atomic_load_n(&st->nerrors, __ATOMIC_ACQUIRE);
	uint64_t sum = 0;

	for (i = 0; i < n && i < CF_SHM_ERROR_CODES; i++)
		sum += __atomic_load_n(&st->errors[i].count, __ATOMIC_RELAXED);
	return (sum);
}

/*
 * Every log-summary-interval (read again at each tick, so a reload
 * applies), one info line: connections now, events received per second
 * and errors sent since the last line.  With 0, it looks again in 5 s.
 */
static void
summary_tick(uv_timer_t *t)
{
	const struct cf_shm_stats *st = cf_shm_stats(cf_w->shm, cf_w->slot);
	struct cf_event_state *es = cf_w->events;
	uint64_t every = cf_w->conf->log_summary_interval_ms, now = cf_now_ms();
	uint64_t ev, err;

	if (st != NULL && every != 0 && es->summary_at != 0) {
		ev = __atomic_load_n(&st->events_in, __ATOMIC_RELAXED);
		err = errors_sent(st);
		cf_log_ev(CF_LOG_INFO, "summary", "connections=%llu "
		    "websocket=%llu polling=%llu events=%llu "
		    "events_per_s=%.1f errors=%llu interval_s=%.0f",
		    (unsigned long long)st->connections,
		    (unsigned long long)st->ws_connections,
		    (unsigned long long)st->polling_connections,
		    (unsigned long long)(ev - es->summary_events),
		    (double)(ev - es->summary_events) * 1000.0 /
		    (double)(now - es->summary_at > 0 ?
		    now - es->summary_at : 1),
		    (unsigned long long)(err - es->summary_errors),
		    (double)(now - es->summary_at) / 1000.0);
	}
	if (st != NULL) {
		es->summary_events = __atomic_load_n(&st->events_in,
		    __ATOMIC_RELAXED);
		es->summary_errors = errors_sent(st);
	}
	es->summary_at = now;
	uv_timer_start(t, summary_tick, every != 0 ? every : 5000, 0);
}

int
cf_event_init(struct cf_worker *w)
{
	if ((w->events = calloc(1, sizeof(*w->events))) == NULL)
		return (-1);
	return (0);
}

void
cf_event_free(struct cf_worker *w)
{
	free(w->events);
	w->events = NULL;
}

void
cf_event_summary_start(struct cf_worker *w)
{
	struct cf_event_state *es = w->events;

	uv_timer_init(&w->loop, &es->summary_timer);
	uv_unref((uv_handle_t *)&es->summary_timer);
	summary_tick(&es->summary_timer);
}
