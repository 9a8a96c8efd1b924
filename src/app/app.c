/*
 * app.c -- confabd's application on the Socket.IO layer: the top of the
 * application layer.  The table of client events (each row its handler,
 * the permission it needs and the shape of its argument: events.h), the
 * socket's life (CONNECT, timers, disconnect) across the concerns, and
 * struct cf_app, the callbacks the transport calls (registered by the
 * worker's shell).
 *
 * The diagnostic events (flag CF_EV_DEBUG) are served only with
 * `debug-events yes`; the integration tests use them to exercise acks,
 * binary payloads and rooms across workers without the chat layer.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "perm.h"
#include "shm/shm.h"
#include "util.h"
#include "app/ack.h"
#include "app/api.h"
#include "app/app.h"
#include "app/args.h"
#include "db/db.h"
#include "db/store.h"
#include "eio/recover.h"
#include "app/chat.h"
#include "app/events.h"
#include "app/handlers.h"
#include "app/ops.h"
#include "fanout/room.h"
#include "eio/session.h"

static void app_auth_timeout(struct cf_sess *);

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
 * at dispatch (events.c, check_row).
 */
#define CF_FILE_NAME_MAX	255
#define CF_FILE_TYPE_MAX	100
#define CF_PAGE_MAX		100	/* chat:get_messages, call:history */
#define CF_STATUS_TEXT_MAX	200


#define IP	"Invalid payload: "

/* A channel id, as argument 0 itself or as the member channelId. */
#define F_CHANNEL_ARG	{ .key = NULL, .type = CF_F_ID, .err = IP "channelId" }
#define F_CHANNEL	{ .key = "channelId", .type = CF_F_ID, \
			  .err = IP "channelId" }
#define F_MESSAGE_ID	{ .key = "messageId", .type = CF_F_ID, \
			  .err = IP "messageId" }
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

/* The kinds channel:create makes (a direct channel is dm:open's). */
static const char *const channel_kinds[] = { "channel", NULL };

/* A row's first five members, in order. */
#define EV(n, fl, spec, f, e) \
	.name = (n), .flags = (fl), .argspec = (spec), .fn = (f), .errev = (e)

/*
 * A row's argspec "." takes one argument of any type; its field list then
 * checks it field by field, so that every error names the field.  The
 * field lists are indexed by the named indices of handlers.h (ctx->v[]).
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
		/* dm:open makes the direct channels. */
		[CF_V_CREATE_KIND] = { .key = "kind", .type = CF_F_ENUM,
		    .flags = CF_F_OPT, .set = channel_kinds,
		    .err = IP "kind (only \"channel\": dm:open opens direct "
		    "channels)" },
		[CF_V_CREATE_N] = F_END } },
	{ EV("channel:list", 0, "*", cf_ev_channel_list, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS,
	  .shape = CF_ARG_OBJ | CF_ARG_OBJ_OPT,
	  .objerr = IP "expected an object",
	  .fields = (const struct cf_field[]){
		[CF_V_LIST_ARCHIVED] = { .key = "includeArchived",
		    .type = CF_F_BOOL, .flags = CF_F_OPT,
		    .err = IP "includeArchived" },
		[CF_V_LIST_N] = F_END } },
	{ EV("channel:members", 0, ".", cf_ev_channel_members, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS, .shape = CF_ARG_OBJ,
	  .objerr = IP "expected an object",
	  .fields = (const struct cf_field[]){
		[CF_V_CH_CHANNEL] = F_CHANNEL, [CF_V_CH_N] = F_END } },
	/* The handler: manage_channels, or the channel's creator. */
	{ EV("channel:add_members", 0, ".", cf_ev_channel_add_members, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS, .shape = CF_ARG_OBJ,
	  .objerr = IP "expected an object",
	  .fields = (const struct cf_field[]){
		[CF_V_ADD_CHANNEL] = F_CHANNEL,
		[CF_V_ADD_USERS] = F_ANY("userIds"),
		[CF_V_ADD_N] = F_END } },
	{ EV("channel:remove_member", 0, ".", cf_ev_channel_remove_member,
	    CHAT),
	  .perm = CF_PERM_CHAT_ACCESS, .shape = CF_ARG_OBJ,
	  .objerr = IP "expected an object",
	  .fields = (const struct cf_field[]){
		[CF_V_RM_CHANNEL] = F_CHANNEL,
		[CF_V_RM_USER] = { .key = "userId", .type = CF_F_USER,
		    .min = 1, .err = IP "userId" },
		[CF_V_RM_N] = F_END } },
	{ EV("channel:archive", 0, ".", cf_ev_channel_archive, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS | CF_PERM_MANAGE_CHANNELS,
	  .shape = CF_ARG_OBJ, .objerr = IP "expected an object",
	  .fields = (const struct cf_field[]){
		[CF_V_CH_CHANNEL] = F_CHANNEL, [CF_V_CH_N] = F_END } },
	{ EV("dm:open", 0, ".", cf_ev_dm_open, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS, .shape = CF_ARG_OBJ,
	  .objerr = IP "expected an object",
	  .fields = (const struct cf_field[]){
		[CF_V_DM_USER] = { .key = "userId", .type = CF_F_USER,
		    .min = 1, .err = IP "userId" },
		[CF_V_DM_N] = F_END } },
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
		    .flags = CF_F_OPT, .set = cf_op_message_types,
		    .err = IP "messageType" },
		[CF_V_SEND_REPLY] = { .key = "replyToId", .type = CF_F_ID,
		    .flags = CF_F_OPT, .err = IP "replyToId" },
		[CF_V_SEND_CMID] = { .key = "clientMsgId", .type = CF_F_STR,
		    .flags = CF_F_OPT, .min = 1, .max = CF_CLIENT_MSG_ID_MAX,
		    .err = IP "clientMsgId" },
		/* Checked by cf_op_mentions_check (the API's too). */
		[CF_V_SEND_MENTIONS] = F_ANY("mentions"),
		[CF_V_SEND_N] = F_END } },
	{ EV("chat:edit_message", 0, ".", cf_ev_edit_message, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS, .shape = CF_ARG_OBJ,
	  .fields = (const struct cf_field[]){
		[CF_V_EDIT_MESSAGE_ID] = F_MESSAGE_ID,
		[CF_V_EDIT_STRING] = { .key = "message", .type = CF_F_JSTRING,
		    .err = IP "message" },
		[CF_V_EDIT_TEXT] = { .key = "message", .type = CF_F_TEXT,
		    .limit = CF_LIM_MESSAGE_LENGTH,
		    .err = IP "message (empty or too long)" },
		[CF_V_EDIT_N] = F_END } },
	{ EV("chat:delete_message", 0, ".", cf_ev_delete_message, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS, .shape = CF_ARG_OBJ,
	  .fields = (const struct cf_field[]){
		[CF_V_DELETE_MESSAGE_ID] = F_MESSAGE_ID,
		[CF_V_DELETE_N] = F_END } },
	{ EV("chat:react", 0, ".", cf_ev_react, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS, .shape = CF_ARG_OBJ,
	  .fields = (const struct cf_field[]){
		[CF_V_REACT_MESSAGE_ID] = F_MESSAGE_ID,
		[CF_V_REACT_EMOJI] = { .key = "emoji", .type = CF_F_CHECK,
		    .check = cf_op_emoji_ok, .err = IP "emoji (one emoji, or "
		    ":short_name: of at most 64 bytes)" },
		[CF_V_REACT_ADD] = { .key = "add", .type = CF_F_BOOL,
		    .err = IP "add" },
		[CF_V_REACT_N] = F_END } },
	{ EV("chat:get_thread", 0, ".", cf_ev_get_thread, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS, .shape = CF_ARG_OBJ,
	  .fields = (const struct cf_field[]){
		[CF_V_THREAD_MESSAGE_ID] = F_MESSAGE_ID,
		[CF_V_THREAD_AFTER] = { .key = "after", .type = CF_F_ID,
		    .flags = CF_F_OPT, .err = IP "after" },
		[CF_V_THREAD_LIMIT] = { .key = "limit", .type = CF_F_INT,
		    .flags = CF_F_OPT, .min = 1, .max = CF_PAGE_MAX,
		    .err = IP "limit (1..100)" },
		[CF_V_THREAD_N] = F_END } },
	{ EV("chat:search", 0, ".", cf_ev_search, CHAT),
	  .perm = CF_PERM_CHAT_ACCESS, .shape = CF_ARG_OBJ,
	  .objerr = IP "expected an object",
	  .fields = (const struct cf_field[]){
		/* Checked by cf_op_search (the HTTP API's too). */
		[CF_V_SEARCH_QUERY] = F_ANY("query"),
		[CF_V_SEARCH_CHANNEL] = { .key = "channelId", .type = CF_F_ID,
		    .flags = CF_F_OPT, .err = IP "channelId" },
		[CF_V_SEARCH_BEFORE] = { .key = "before", .type = CF_F_ID,
		    .flags = CF_F_OPT, .err = IP "before" },
		[CF_V_SEARCH_LIMIT] = { .key = "limit", .type = CF_F_INT,
		    .flags = CF_F_OPT, .min = 1, .max = CF_PAGE_MAX,
		    .err = IP "limit (1..100)" },
		[CF_V_SEARCH_N] = F_END } },
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
	{ EV("presence:subscribe", 0, ".", cf_ev_presence_subscribe, PRES),
	  .shape = CF_ARG_OBJ, .objerr = IP "expected an object",
	  .fields = (const struct cf_field[]){
		[CF_V_SUB_USERS] = F_ANY("userIds"),
		[CF_V_SUB_N] = F_END } },
	{ EV("presence:unsubscribe", 0, ".", cf_ev_presence_unsubscribe, PRES),
	  .shape = CF_ARG_OBJ, .objerr = IP "expected an object",
	  .fields = (const struct cf_field[]){
		[CF_V_SUB_USERS] = F_ANY("userIds"),
		[CF_V_SUB_N] = F_END } },
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
    CF_V_ICE_N <= CF_ARG_FIELDS_MAX && CF_V_HIST_N <= CF_ARG_FIELDS_MAX &&
    CF_V_LIST_N <= CF_ARG_FIELDS_MAX && CF_V_ADD_N <= CF_ARG_FIELDS_MAX &&
    CF_V_RM_N <= CF_ARG_FIELDS_MAX && CF_V_DM_N <= CF_ARG_FIELDS_MAX,
    "a field list outgrew ctx->v");
_Static_assert(sizeof(events) / sizeof(events[0]) < CF_SHM_EVENT_NAMES,
    "the event table outgrew the per-name counters in shared memory");

/* The name of table row i, or NULL past the end (/metrics). */
static const char *
event_name(unsigned i)
{
	if (i < sizeof(events) / sizeof(events[0]))
		return (events[i].name);
	return (NULL);
}

static void
ack_ok(struct cf_event_ctx *ctx)
{
	cf_event_ack(ctx, json_pack("[{s:b}]", "ok", 1));
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
		cf_event_ack_att(ctx, json_incref(ctx->args), ctx->att, ctx->nattach);
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

/* ------------------------------------------------ the socket's life */

/* The session timer is due: authentication deadline, token expiry,
 * typing. */
static void
app_timer(struct cf_sess *s)
{
	struct cf_chat *c = cf_chat_of(s);
	uint64_t now = cf_now_ms();
	uint32_t i;

	if (c == NULL)
		return;
	if (!c->authed && c->auth_deadline != 0 && now >= c->auth_deadline) {
		app_auth_timeout(s);
		cf_sess_close(s, "authentication timeout", CF_CLOSE_GRACEFUL);
		return;
	}
	if (c->authed && c->exp != 0 &&
	    (int64_t)cf_wall_ms() >= c->exp * 1000) {
		cf_chat_emit(s, "auth:error", json_string("Token expired"));
		cf_sock_disconnect(s, 0);
		return;
	}
	for (i = 0; i < c->ntyping;) {
		if (c->typing[i].until <= now)
			cf_activity_typing_clear(s, c->typing[i].channel, 1);
		else
			i++;
	}
	cf_chat_timer_update(s);
}

/* ------------------------------------------------- connect, disconnect */

/* A CONNECT to "/" (after the reply went out): a token in it
 * authenticates at once. */
static void
app_connected(struct cf_sess *s)
{
	struct cf_event_ctx ctx;
	struct cf_chat *c;
	const json_t *tok;

	if (s->app == NULL && (s->app = calloc(1, sizeof(*c))) == NULL) {
		cf_sock_disconnect(s, 1);
		return;
	}
	c = s->app;
	/*
	 * A session that never authenticated has its deadline from its
	 * start (session.c), which a new CONNECT does not move; one that
	 * authenticated, left "/" and came back has auth-timeout again.
	 */
	c->auth_deadline = s->unauth ? 0 :
	    cf_now_ms() + cf_w->conf->auth_timeout_ms;
	cf_chat_timer_update(s);
	tok = json_object_get(s->auth, "token");
	if (json_is_string(tok)) {
		memset(&ctx, 0, sizeof(ctx));
		ctx.s = s;
		ctx.name = "authenticate";
		ctx.ack_id = -1;
		ctx.errev = "auth:error";
		(void)cf_auth_verify(&ctx, json_string_value(tok));
	}
}

/*
 * auth-timeout passed: the socket hears why and is disconnected; the
 * caller closes the session (the Engine.IO transport) right after.
 */
static void
app_auth_timeout(struct cf_sess *s)
{
	if (!s->connected)
		return;
	cf_chat_emit(s, "auth:error", json_string("Authentication timeout"));
	cf_sock_disconnect(s, 0);
}

/* The socket left "/": its call, channels and presence go with it. */
static void
app_disconnected(struct cf_sess *s, const char *reason)
{
	struct cf_chat *c = cf_chat_of(s);

	(void)reason;
	if (c == NULL)
		return;
	if (c->authed) {
		cf_call_tab_gone(s);
		while (c->nchannels > 0)
			cf_channel_leave(s, c->channels[c->nchannels - 1],
			    "disconnect");
		cf_presence_down(s);
	}
	free(c->channels);
	free(c->typing);
	free(c);
	s->app = NULL;
	s->app_deadline = 0;
}

/* ------------------------------------------------- recovery (recover.h) */

/*
 * Only an authenticated socket is held after its transport dropped.  What
 * needs a live tab ends as on a disconnect: its typing (isTyping false to
 * the channel), its part in a call (call-disconnect-grace).
 */
static int
app_hold(struct cf_sess *s)
{
	struct cf_chat *c = cf_chat_of(s);

	if (!cf_chat_authed(s))
		return (0);
	cf_call_tab_gone(s);
	while (c->ntyping > 0)
		cf_activity_typing_clear(s, c->typing[0].channel, 1);
	return (1);
}

/*
 * A held socket may come back while its token is valid: not expired and
 * not revoked since (the same rules as authenticate).  The revocation is
 * looked up in the database, as authenticate does, so it holds for a
 * revocation on another host.
 */
static int
app_recover(struct cf_sess *s)
{
	struct cf_chat *c = cf_chat_of(s);
	int64_t revoked;

	if (c == NULL || !c->authed)
		return (-1);
	if (c->exp != 0 && (int64_t)cf_wall_ms() >= c->exp * 1000)
		return (-1);
	if (cf_store_revoked_before(cf_db(), c->user_id, &revoked) != 0)
		return (-1);
	if (revoked != 0 && c->iat * 1000 < revoked)
		return (-1);
	return (0);
}

/* s took a held socket over: authenticated, its timers running again. */
static void
app_recovered(struct cf_sess *s)
{
	struct cf_chat *c = cf_chat_of(s);

	c->auth_deadline = 0;
	cf_sess_authenticated(s);
	cf_chat_timer_update(s);
}

/* ------------------------------------------------------- application */

static void
on_event(struct cf_sess *s, struct cf_sio_packet *p)
{
	if (p == NULL) {
		app_connected(s);	/* after the CONNECT reply went out */
		return;
	}
	cf_event_dispatch(s, p, events, sizeof(events) / sizeof(events[0]));
}

/*
 * A serverSideEmit that reached this worker (fanout/room.h): the
 * operations whose effect every worker applies to its own sockets.
 */
void
cf_app_server_emit(struct cf_worker *w, const char *event,
    const json_t *args)
{
	(void)w;
	if (strcmp(event, CF_OP_MEMBER_REMOVED) == 0)
		cf_channel_removed(args);
	else if (strcmp(event, CF_OP_REVOKED) == 0)
		cf_auth_revoked(args);
}

/* confabd serves the namespace "/" only. */
const struct cf_app cf_confabd_app = {
	.on_event = on_event,
	.on_disconnect = app_disconnected,
	.hold = app_hold,
	.recover = app_recover,
	.recovered = app_recovered,
	.on_timer = app_timer,
	.on_gone = cf_presence_gone,
	.event_name = event_name,
	.auth_required = 1,
	.on_auth_timeout = app_auth_timeout,
	.api = cf_api_serve,
	.api_head = cf_api_head,
};
