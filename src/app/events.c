/*
 * events.c -- confabd's application on the Socket.IO layer: the namespace
 * "/" and the event dispatch table.
 *
 * The chat events of the spec are rows of this table, each with the
 * permission it needs and the shape of its argument (events.h): the
 * dispatcher checks them before the handler runs.  The diagnostic
 * events below (flag CF_EV_DEBUG) are served only with `debug-events yes`;
 * the integration tests use them to exercise acks, binary payloads and
 * rooms across workers without the chat layer.
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
#include "app/events.h"
#include "fanout/room.h"
#include "eio/session.h"

#define CF_EV_STR_MAX	256
#define CF_EV_LOG_PAYLOAD	512	/* bytes of a payload in a debug line */

static void payload_field(char *, size_t, const json_t *);

static void ev_whoami(struct cf_event_ctx *);
static void ev_echo(struct cf_event_ctx *);
static void ev_room_join(struct cf_event_ctx *);
static void ev_room_leave(struct cf_event_ctx *);
static void ev_room_emit(struct cf_event_ctx *);
static void ev_ack_request(struct cf_event_ctx *);
static void ev_disconnect_me(struct cf_event_ctx *);

#define CHAT	"chat:error"
#define PRES	"presence:error"
#define BCAST	"broadcast:error"
#define AUTH	"auth:error"
#define CALL	"call:error"

/*
 * The limits the spec states (doc/events.md); the configured ones are read
 * at dispatch (event_limits).
 */
#define CF_CLIENT_MSG_ID_MAX	128
#define CF_FILE_NAME_MAX	255
#define CF_FILE_TYPE_MAX	100
#define CF_PAGE_MAX		100	/* chat:get_messages, call:history */
#define CF_STATUS_TEXT_MAX	200

static const char *const message_types[] = {
	"text", "file", "image", "gif", "ticket_link", NULL
};

#define IP	"Invalid payload: "

/* A channel id, as argument 0 itself or as the member channelId. */
#define F_CHANNEL_ARG	{ .key = NULL, .type = CF_F_ID, .err = IP "channelId" }
#define F_CHANNEL	{ .key = "channelId", .type = CF_F_ID, \
			  .err = IP "channelId" }
#define F_ANY(k)	{ .key = (k), .type = CF_F_ANY }
#define F_END		{ .type = CF_F_END }

/* The member keys and error messages of call:accept, reject and end. */
#define F_CALL_TARGET	{ .key = "targetUserId", .type = CF_F_USER, \
			  .flags = CF_F_OPT, .min = INT64_MIN, \
			  .err = IP "callId" }
#define F_CALL_ID	{ .key = "callId", .type = CF_F_ID, .err = IP "callId" }
#define F_SDP(k)	{ .key = (k), .type = CF_F_BLOB, \
			  .limit = CF_LIM_SDP_SIZE, .err = IP k " (an SDP " \
			  "object or string within max-sdp-size)" }

/* call:reject and call:end (which may answer as call:reject). */
static const struct cf_field call_fields[] = {
	[CF_V_CALL_TARGET] = F_CALL_TARGET,
	[CF_V_CALL_ID] = F_CALL_ID,
	[CF_V_CALL_N] = F_END,
};

/* A row's first five members, in order. */
#define EV(n, fl, spec, f, e) \
	.name = (n), .flags = (fl), .argspec = (spec), .fn = (f), .errev = (e)

/*
 * A row's argspec "." takes one argument of any type; its field list then
 * checks it field by field, so that every error names the field.  The
 * field lists are indexed by the named indices of chat.h (ctx->v[]).
 */
static const struct cf_event_def events[] = {
	/* A bare token or {token}: the handler reads either. */
	{ EV("authenticate", CF_EV_NOAUTH, ".*", cf_ev_authenticate, AUTH) },
	{ EV("join_channel", 0, ".", cf_ev_join_channel, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS,
	  .fields = (const struct cf_field[]){
		[CF_V_CHANNEL] = F_CHANNEL_ARG, F_END } },
	{ EV("leave_channel", 0, ".", cf_ev_leave_channel, CHAT),
	  .fields = (const struct cf_field[]){
		[CF_V_CHANNEL] = F_CHANNEL_ARG, F_END } },
	{ EV("channel:create", 0, ".", cf_ev_channel_create, CHAT),
	  .perm = CF_PERM_CREATE_CHANNELS,
	  .shape = CF_ARG_OBJ, .objerr = IP "expected an object",
	  /* Checked by cf_op_channel_create (the control socket's too). */
	  .fields = (const struct cf_field[]){
		[CF_V_CREATE_NAME] = F_ANY("name"),
		[CF_V_CREATE_DESC] = F_ANY("description"),
		[CF_V_CREATE_PRIV] = F_ANY("isPrivate"),
		[CF_V_CREATE_MEMBERS] = F_ANY("memberIds"),
		[CF_V_CREATE_N] = F_END } },
	{ EV("channel:list", 0, "", cf_ev_channel_list, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS },
	{ EV("chat:get_messages", 0, ".", cf_ev_get_messages, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS, .shape = CF_ARG_OBJ,
	  .fields = (const struct cf_field[]){
		[CF_V_PAGE_CHANNEL] = F_CHANNEL,
		[CF_V_PAGE_BEFORE] = { .key = "before", .type = CF_F_ID,
		    .flags = CF_F_OPT, .err = IP "before/after" },
		[CF_V_PAGE_AFTER] = { .key = "after", .type = CF_F_ID,
		    .flags = CF_F_OPT | CF_F_NOT_WITH_PREV,
		    .err = IP "before/after" },
		[CF_V_PAGE_LIMIT] = { .key = "limit", .type = CF_F_INT,
		    .flags = CF_F_OPT, .min = 1, .max = CF_PAGE_MAX,
		    .err = IP "limit (1..100)" },
		[CF_V_PAGE_N] = F_END } },
	{ EV("channel_updated", 0, ".", cf_ev_channel_updated, CHAT),
	  .perm = CF_PERM_MANAGE_CHANNELS, .shape = CF_ARG_OBJ,
	  .fields = (const struct cf_field[]){
		[CF_V_UPD_CHANNEL] = F_CHANNEL,
		/* Its members are checked by the handler. */
		[CF_V_UPD_CHANGES] = { .key = "changes", .type = CF_F_OBJECT,
		    .min = 1, .err = IP "changes" },
		[CF_V_UPD_N] = F_END } },
	{ EV("chat:send_message", 0, ".", cf_ev_send_message, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS | CF_PERM_SEND_MESSAGES,
	  .shape = CF_ARG_OBJ,
	  .fields = (const struct cf_field[]){
		[CF_V_SEND_CHANNEL] = F_CHANNEL,
		/* Two checks of message, each with its own message. */
		[CF_V_SEND_STRING] = { .key = "message", .type = CF_F_JSTRING,
		    .err = IP "message" },
		[CF_V_SEND_MESSAGE] = { .key = "message", .type = CF_F_TEXT,
		    .limit = CF_LIM_MESSAGE_LENGTH,
		    .err = IP "message (empty or too long)" },
		[CF_V_SEND_TYPE] = { .key = "messageType", .type = CF_F_ENUM,
		    .flags = CF_F_OPT, .set = message_types,
		    .err = IP "messageType" },
		[CF_V_SEND_REPLY] = { .key = "replyToId", .type = CF_F_ID,
		    .flags = CF_F_OPT, .err = IP "replyToId" },
		[CF_V_SEND_CMID] = { .key = "clientMsgId", .type = CF_F_STR,
		    .flags = CF_F_OPT, .min = 1, .max = CF_CLIENT_MSG_ID_MAX,
		    .err = IP "clientMsgId" },
		[CF_V_SEND_N] = F_END } },
	{ EV("message_read", 0, ".", cf_ev_message_read, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS, .shape = CF_ARG_OBJ,
	  .fields = (const struct cf_field[]){
		[CF_V_READ_CHANNEL] = F_CHANNEL,
		[CF_V_READ_MESSAGE] = { .key = "messageId", .type = CF_F_ID,
		    .flags = CF_F_OPT, .err = IP "messageId" },
		[CF_V_READ_N] = F_END } },
	{ EV("chat:typing", 0, ".", cf_ev_typing, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS, .shape = CF_ARG_OBJ,
	  .fields = (const struct cf_field[]){
		[CF_V_TYPING_CHANNEL] = F_CHANNEL,
		[CF_V_TYPING_ON] = { .key = "isTyping", .type = CF_F_BOOL,
		    .err = IP "isTyping" },
		[CF_V_TYPING_N] = F_END } },
	{ EV("file_uploaded", 0, ".", cf_ev_file_uploaded, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS | CF_PERM_SEND_MESSAGES,
	  .shape = CF_ARG_OBJ,
	  .fields = (const struct cf_field[]){
		[CF_V_FILE_CHANNEL] = F_CHANNEL,
		[CF_V_FILE_NAME] = { .key = "fileName", .type = CF_F_TEXT,
		    .max = CF_FILE_NAME_MAX, .err = IP "fileName" },
		[CF_V_FILE_TYPE] = { .key = "fileType", .type = CF_F_TEXT,
		    .max = CF_FILE_TYPE_MAX, .err = IP "fileType" },
		[CF_V_FILE_SIZE] = { .key = "fileSize", .type = CF_F_INT,
		    .min = 0, .max = INT64_MAX, .err = IP "fileSize" },
		[CF_V_FILE_MESSAGE] = { .key = "messageId", .type = CF_F_ID,
		    .flags = CF_F_OPT, .err = IP "messageId" },
		[CF_V_FILE_N] = F_END } },
	{ EV("system_broadcast", 0, ".", cf_ev_system_broadcast, BCAST),
	  .perm = CF_PERM_SEND_BROADCASTS,
	  .shape = CF_ARG_OBJ, .objerr = IP "message",
	  /* Checked by cf_op_broadcast, which the control socket shares. */
	  .fields = (const struct cf_field[]){
		[CF_V_BCAST_MESSAGE] = F_ANY("message"),
		[CF_V_BCAST_PRIORITY] = F_ANY("priority"),
		[CF_V_BCAST_N] = F_END } },
	{ EV("update_presence", 0, ".", cf_ev_update_presence, PRES),
	  .shape = CF_ARG_OBJ, .objerr = IP "expected an object",
	  .fields = (const struct cf_field[]){
		[CF_V_PRES_STATUS] = { .key = "status", .type = CF_F_CHECK,
		    .check = cf_presence_status_ok, .err = "Invalid status" },
		[CF_V_PRES_MESSAGE] = { .key = "statusMessage",
		    .type = CF_F_STR, .flags = CF_F_OPT,
		    .max = CF_STATUS_TEXT_MAX,
		    .err = "Invalid statusMessage or customStatus" },
		[CF_V_PRES_CUSTOM] = { .key = "customStatus",
		    .type = CF_F_STR, .flags = CF_F_OPT,
		    .max = CF_STATUS_TEXT_MAX,
		    .err = "Invalid statusMessage or customStatus" },
		[CF_V_PRES_N] = F_END } },
	{ EV("presence:set_status", 0, ".", cf_ev_presence_set_status, PRES),
	  .fields = (const struct cf_field[]){
		[CF_V_STATUS] = { .key = NULL, .type = CF_F_CHECK,
		    .check = cf_presence_status_ok, .err = "Invalid status" },
		F_END } },
	{ EV("presence:get_online_users", 0, "", cf_ev_presence_online_users,
	    PRES) },
	/* call:invite's permission depends on callType: the handler's. */
	{ EV("call:invite", 0, ".", cf_ev_call_invite, CALL),
	  .shape = CF_ARG_OBJ,
	  .fields = (const struct cf_field[]){
		[CF_V_INVITE_TARGET] = { .key = "targetUserId",
		    .type = CF_F_USER, .min = INT64_MIN,
		    .err = IP "targetUserId" },
		[CF_V_INVITE_TYPE] = { .key = "callType", .type = CF_F_CHECK,
		    .check = cf_call_type_ok,
		    .err = IP "callType (audio or video)" },
		[CF_V_INVITE_OFFER] = F_SDP("offer"),
		[CF_V_INVITE_N] = F_END } },
	{ EV("call:accept", 0, ".", cf_ev_call_accept, CALL),
	  .shape = CF_ARG_OBJ,
	  .fields = (const struct cf_field[]){
		[CF_V_CALL_TARGET] = F_CALL_TARGET,
		[CF_V_CALL_ID] = F_CALL_ID,
		[CF_V_CALL_ANSWER] = F_SDP("answer"),
		[CF_V_ACCEPT_N] = F_END } },
	{ EV("call:reject", 0, ".", cf_ev_call_reject, CALL),
	  .shape = CF_ARG_OBJ, .fields = call_fields },
	{ EV("call:end", 0, ".", cf_ev_call_end, CALL),
	  .shape = CF_ARG_OBJ, .fields = call_fields },
	{ EV("call:ice_candidate", 0, ".", cf_ev_call_ice, CALL),
	  .shape = CF_ARG_OBJ,
	  .fields = (const struct cf_field[]){
		[CF_V_ICE_TARGET] = { .key = "targetUserId",
		    .type = CF_F_USER, .min = INT64_MIN,
		    .err = IP "targetUserId" },
		[CF_V_ICE_CANDIDATE] = { .key = "candidate",
		    .type = CF_F_BLOB, .limit = CF_LIM_ICE_CANDIDATE_SIZE,
		    .err = IP "candidate" },
		[CF_V_ICE_CALL] = { .key = "callId", .type = CF_F_ID,
		    .flags = CF_F_OPT, .err = IP "callId" },
		[CF_V_ICE_N] = F_END } },
	{ EV("call:history", 0, "*", cf_ev_call_history, CALL),
	  .perm = CF_PERM_CALL_VIEW_HISTORY,
	  .shape = CF_ARG_OBJ | CF_ARG_OBJ_OPT,
	  .objerr = IP "expected an object",
	  .fields = (const struct cf_field[]){
		[CF_V_HIST_LIMIT] = { .key = "limit", .type = CF_F_INT,
		    .flags = CF_F_OPT, .min = 1, .max = CF_PAGE_MAX,
		    .err = IP "limit (1..100)" },
		[CF_V_HIST_BEFORE] = { .key = "before", .type = CF_F_ID,
		    .flags = CF_F_OPT, .err = IP "before" },
		[CF_V_HIST_N] = F_END } },
	{ EV("call:get_ice_servers", 0, "*", cf_ev_call_ice_servers,
	    CALL) },

	{ EV("whoami",	CF_EV_DEBUG,	"",	ev_whoami, NULL) },
	{ EV("echo",		CF_EV_DEBUG,	"*",	ev_echo, NULL) },
	{ EV("room:join",	CF_EV_DEBUG,	"s",	ev_room_join, NULL) },
	{ EV("room:leave",	CF_EV_DEBUG,	"s",	ev_room_leave, NULL) },
	{ EV("room:emit",	CF_EV_DEBUG,	"ss*",	ev_room_emit, NULL) },
	{ EV("ack:request",	CF_EV_DEBUG,	"s*",	ev_ack_request, NULL) },
	{ EV("disconnect:me",	CF_EV_DEBUG,	"b",	ev_disconnect_me,
	    NULL) },
};

_Static_assert(CF_V_CREATE_N <= CF_ARG_FIELDS_MAX &&
    CF_V_PAGE_N <= CF_ARG_FIELDS_MAX && CF_V_SEND_N <= CF_ARG_FIELDS_MAX &&
    CF_V_FILE_N <= CF_ARG_FIELDS_MAX && CF_V_PRES_N <= CF_ARG_FIELDS_MAX &&
    CF_V_INVITE_N <= CF_ARG_FIELDS_MAX && CF_V_ACCEPT_N <= CF_ARG_FIELDS_MAX &&
    CF_V_ICE_N <= CF_ARG_FIELDS_MAX && CF_V_HIST_N <= CF_ARG_FIELDS_MAX,
    "a field list outgrew ctx->v");
_Static_assert(sizeof(events) / sizeof(events[0]) < CF_SHM_EVENT_NAMES,
    "the event table outgrew the per-name counters in shared memory");

const char *
cf_event_name(unsigned i)
{
	if (i < sizeof(events) / sizeof(events[0]))
		return (events[i].name);
	return (NULL);
}

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

int
cf_event_check_args(const char *spec, const json_t *args, const char **why)
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

static void
ack_att(struct cf_event_ctx *ctx, json_t *args, const struct cf_sio_att *att,
    int nattach)
{
	struct cf_sio_packet p;

	if (ctx->ack_id < 0) {
		json_decref(args);
		return;
	}
	memset(&p, 0, sizeof(p));
	p.type = CF_SIO_ACK;
	p.id = ctx->ack_id;
	strcpy(p.nsp, "/");
	p.data = args;
	p.nattach = nattach;
	if (nattach > 0)
		memcpy(p.att, att, nattach * sizeof(*att));
	(void)cf_sock_send_packet(ctx->s, &p);
	json_decref(args);
	ctx->ack_id = -1;	/* an ack is answered once */
}

void
cf_event_ack(struct cf_event_ctx *ctx, json_t *args)
{
	ack_att(ctx, args, NULL, 0);
}

void
cf_event_ack_error(struct cf_event_ctx *ctx, const char *code,
    const char *message)
{
	/* Every error code sent, acked or not, passes here (/metrics). */
	cf_shm_count_error(cf_shm_stats(cf_w->shm, cf_w->slot), code);
	ctx->err_code = code;
	cf_event_ack(ctx, json_pack("[{s:b,s:{s:s,s:s}}]", "ok", 0, "error",
	    "code", code, "message", message));
}

static void
ack_ok(struct cf_event_ctx *ctx)
{
	cf_event_ack(ctx, json_pack("[{s:b}]", "ok", 1));
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
    struct cf_event_ctx *ctx, int *known)
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
	for (i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		if (strcmp(events[i].name, ctx->name) == 0) {
			d = &events[i];
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
	if (cf_event_check_args(d->argspec, ctx->args, &why) == -1) {
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
cf_event_dispatch(struct cf_sess *s, struct cf_sio_packet *p)
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
		dispatch_one(s, p, &ctx, &known);
		return;
	}
	t0 = cf_now_us();
	bytes = json_dumpb(p->data, NULL, 0, JSON_COMPACT);
	ev = json_string_value(json_array_get(p->data, 0));
	dispatch_one(s, p, &ctx, &known);
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

/* ---------------------------------------------------- diagnostic events */

static void
ev_whoami(struct cf_event_ctx *ctx)
{
	cf_event_ack(ctx, json_pack("[{s:I,s:I,s:I,s:I,s:s,s:s,s:s}]",
	    "worker", (json_int_t)cf_w->slot, "workers",
	    (json_int_t)cf_w->nslots, "generation",
	    (json_int_t)cf_w->generation, "pid", (json_int_t)getpid(),
	    "sid", ctx->s->id, "eioSid", ctx->s->sid, "transport",
	    ctx->s->transport == CF_T_WEBSOCKET ? "websocket" : "polling"));
}

static void
ev_echo(struct cf_event_ctx *ctx)
{
	json_t *ev;

	if (ctx->ack_id >= 0) {
		ack_att(ctx, json_incref(ctx->args), ctx->att, ctx->nattach);
		return;
	}
	if ((ev = json_array()) == NULL)
		return;
	json_array_append_new(ev, json_string("echo"));
	json_array_extend(ev, ctx->args);
	(void)cf_sock_emit(ctx->s, ev, ctx->att, ctx->nattach, NULL, NULL);
	json_decref(ev);
}

static void
ev_room_join(struct cf_event_ctx *ctx)
{
	if (cf_room_join(cf_w, ctx->s,
	    json_string_value(json_array_get(ctx->args, 0))) == -1) {
		cf_event_ack_error(ctx, "internal", "out of memory");
		return;
	}
	ack_ok(ctx);
}

static void
ev_room_leave(struct cf_event_ctx *ctx)
{
	cf_room_leave(cf_w, ctx->s,
	    json_string_value(json_array_get(ctx->args, 0)));
	ack_ok(ctx);
}

static void
ev_room_emit(struct cf_event_ctx *ctx)
{
	const char *room = json_string_value(json_array_get(ctx->args, 0));
	json_t *ev;
	size_t i;

	if (cf_sio_reserved_event(json_string_value(json_array_get(ctx->args,
	    1)))) {
		cf_event_ack_error(ctx, "invalid_payload", "reserved event name");
		return;
	}
	if ((ev = json_array()) == NULL)
		return;
	for (i = 1; i < json_array_size(ctx->args); i++)
		json_array_append(ev, json_array_get(ctx->args, i));
	if (cf_room_broadcast(cf_w, &room, 1, NULL, ev, ctx->att,
	    ctx->nattach) == -1) {
		json_decref(ev);
		cf_event_ack_error(ctx, "internal", "broadcast failed");
		return;
	}
	json_decref(ev);
	ack_ok(ctx);
}

static void
ack_response(struct cf_sess *s, json_t *args, const struct cf_sio_att *att,
    int nattach, void *arg)
{
	json_t *ev;

	(void)arg;
	if ((ev = json_array()) == NULL)
		return;
	json_array_append_new(ev, json_string("ack:response"));
	if (json_is_array(args))
		json_array_extend(ev, args);
	(void)cf_sock_emit(s, ev, att, nattach, NULL, NULL);
	json_decref(ev);
}

static void
ev_ack_request(struct cf_event_ctx *ctx)
{
	const char *name = json_string_value(json_array_get(ctx->args, 0));

	if (cf_sio_reserved_event(name)) {
		cf_event_ack_error(ctx, "invalid_payload", "reserved event name");
		return;
	}
	(void)cf_sock_emit(ctx->s, ctx->args, ctx->att, ctx->nattach,
	    ack_response, NULL);
	ack_ok(ctx);
}

static void
ev_disconnect_me(struct cf_event_ctx *ctx)
{
	int close = json_is_true(json_array_get(ctx->args, 0));

	ack_ok(ctx);
	cf_sock_disconnect(ctx->s, close);
}

/* ------------------------------------------------------- application */

static void
on_event(struct cf_sess *s, struct cf_sio_packet *p)
{
	if (p == NULL) {
		cf_chat_connected(s);	/* after the CONNECT reply went out */
		return;
	}
	cf_event_dispatch(s, p);
}

/* confabd serves the namespace "/" only. */
const struct cf_app cf_confabd_app = {
	.on_event = on_event,
	.on_disconnect = cf_chat_disconnected,
	.on_timer = cf_chat_timer,
	.on_gone = cf_presence_gone,
	.event_name = cf_event_name,
	.auth_required = 1,
	.on_auth_timeout = cf_chat_auth_timeout,
};
