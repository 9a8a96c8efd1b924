/*
 * room.c -- this worker's rooms, and broadcasts across workers and hosts.
 *
 * A room holds an array of member sessions; each session records where it
 * sits in each of its rooms, so leaving is O(rooms of the session).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "relay/frame.h"
#include "shm/shm.h"
#include "proc.h"
#include "fanout/relay.h"
#include "fanout/room.h"
#include "eio/pipe.h"
#include "eio/recover.h"

/* Room a relay frame starts with: a chat message fits (no regrowth). */
#define FRAME_START	1024

static struct cf_room *
room_get(struct cf_worker *w, const char *name, int create)
{
	struct cf_room *r;

	HASH_FIND_STR(w->rooms, name, r);
	if (r != NULL || !create)
		return (r);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	if ((r->name = strdup(name)) == NULL) {
		free(r);
		return (NULL);
	}
	HASH_ADD_KEYPTR(hh, w->rooms, r->name, strlen(r->name), r);
	return (r);
}

static void
room_drop_if_empty(struct cf_worker *w, struct cf_room *r)
{
	if (r->n != 0)
		return;
	HASH_DEL(w->rooms, r);
	free(r->members);
	free(r->name);
	free(r);
}

const struct cf_room *
cf_room_find(struct cf_worker *w, const char *name)
{
	return (room_get(w, name, 0));
}

int
cf_room_has(const struct cf_sess *s, const char *name)
{
	uint32_t i;

	for (i = 0; i < s->nrooms; i++)
		if (strcmp(s->rooms[i].room->name, name) == 0)
			return (1);
	return (0);
}

int
cf_room_join(struct cf_worker *w, struct cf_sess *s, const char *name)
{
	struct cf_room *r;
	void *p;

	if (cf_room_has(s, name))
		return (0);
	if ((r = room_get(w, name, 1)) == NULL)
		return (-1);
	/*
	 * Both arrays start with one entry and double: most rooms are a
	 * user's (one member), most sockets are in one or two rooms.
	 */
	if (r->n == r->cap) {
		uint32_t ncap = r->cap ? r->cap * 2 : 1;

		if ((p = realloc(r->members, ncap * sizeof(*r->members))) == NULL)
			goto fail;
		r->members = p;
		r->cap = ncap;
	}
	if (s->nrooms == s->caprooms) {
		uint32_t ncap = s->caprooms ? s->caprooms * 2 : 1;

		if ((p = realloc(s->rooms, ncap * sizeof(*s->rooms))) == NULL)
			goto fail;
		s->rooms = p;
		s->caprooms = ncap;
	}
	s->rooms[s->nrooms].room = r;
	s->rooms[s->nrooms].index = r->n;
	s->nrooms++;
	r->members[r->n++] = s;
	return (0);
 fail:
	room_drop_if_empty(w, r);
	return (-1);
}

/* Remove membership i of s. */
static void
leave_at(struct cf_worker *w, struct cf_sess *s, uint32_t i)
{
	struct cf_room *r = s->rooms[i].room;
	uint32_t idx = s->rooms[i].index, j;
	struct cf_sess *moved;

	r->n--;
	if (idx != r->n) {
		moved = r->members[r->n];
		r->members[idx] = moved;
		for (j = 0; j < moved->nrooms; j++)
			if (moved->rooms[j].room == r) {
				moved->rooms[j].index = idx;
				break;
			}
	}
	s->rooms[i] = s->rooms[--s->nrooms];
	room_drop_if_empty(w, r);
}

void
cf_room_leave(struct cf_worker *w, struct cf_sess *s, const char *name)
{
	uint32_t i;

	for (i = 0; i < s->nrooms; i++)
		if (strcmp(s->rooms[i].room->name, name) == 0) {
			leave_at(w, s, i);
			return;
		}
}

void
cf_room_moved(struct cf_sess *s)
{
	uint32_t i;

	for (i = 0; i < s->nrooms; i++)
		s->rooms[i].room->members[s->rooms[i].index] = s;
}

void
cf_room_leave_all(struct cf_worker *w, struct cf_sess *s)
{
	while (s->nrooms > 0)
		leave_at(w, s, s->nrooms - 1);
}

/* A broadcast to every socket, for the ghosts (held for recovery). */
struct to_all {
	const char	*except_id;
	uint64_t	 off;
	struct cf_msg	**m;
	int		 n;
};

static void
send_ghost(struct cf_sess *g, void *arg)
{
	const struct to_all *a = arg;

	if (a->except_id == NULL || strcmp(g->id, a->except_id) != 0)
		cf_sock_send_encoded(g, a->off, a->m[0], a->m + 1, a->n - 1);
}

/*
 * Encode [args] once as a Socket.IO EVENT on "/" and queue it on every
 * local member of the rooms (each session once), except `except`.
 */
static void
deliver_local(struct cf_worker *w, const char *const *rooms, size_t nrooms,
    const char *except_id, json_t *args, const struct cf_sio_att *att,
    int nattach)
{
	struct cf_sio_packet p;
	struct cf_msg *m[1 + CF_SIO_MAX_ATTACHMENTS];
	struct cf_sess *s, *tmp;
	struct cf_room *r;
	struct to_all all;
	uint64_t seq, off;
	size_t i;
	uint32_t j;
	int k, n;

	/* One offset for every recipient here (recover.h). */
	off = cf_recover_stamp(args);
	cf_sio_event(&p, "/", args, att, nattach);
	n = cf_msg_encode(&p, m);
	cf_recover_unstamp(args, off);
	if (n == -1)
		return;
	seq = ++w->bcast_seq;
	if (nrooms == 0) {
		HASH_ITER(hh, w->sessions, s, tmp) {
			if (!s->connected ||
			    (except_id && strcmp(s->id, except_id) == 0))
				continue;
			cf_sock_send_encoded(s, off, m[0], m + 1, n - 1);
		}
		all.except_id = except_id;
		all.off = off;
		all.m = m;
		all.n = n;
		cf_recover_each(w, send_ghost, &all);
		goto done;
	}
	for (i = 0; i < nrooms; i++) {
		if ((r = room_get(w, rooms[i], 0)) == NULL)
			continue;
		for (j = 0; j < r->n; j++) {
			s = r->members[j];
			if (s->bcast_seen == seq || !s->connected)
				continue;
			s->bcast_seen = seq;
			if (except_id && strcmp(s->id, except_id) == 0)
				continue;
			cf_sock_send_encoded(s, off, m[0], m + 1, n - 1);
		}
	}
 done:
	for (k = 0; k < n; k++)
		cf_msg_unref(m[k]);
}

int
cf_room_broadcast(struct cf_worker *w, const char *const *rooms,
    size_t nrooms, const struct cf_sess *except, json_t *args,
    const struct cf_sio_att *att, int nattach)
{
	struct cf_buf f = { 0 };
	const char *ex[1];
	int rc = 0;

	deliver_local(w, rooms, nrooms, except ? except->id : NULL, args, att,
	    nattach);
	if (except != NULL)
		ex[0] = except->id;
	/* Allocated once for a chat message rather than grown. */
	if (cf_buf_reserve(&f, FRAME_START) == -1 ||
	    cf_frame_encode(w->uid, "/", args, att, nattach, rooms, nrooms,
	    ex, except ? 1 : 0, 0, &f) != CF_FRAME_OK) {
		cf_buf_free(&f);
		return (-1);
	}
	if (cf_relay_publish(w->relay, nrooms == 1 ? rooms[0] : NULL, f.data,
	    f.len) == -1)
		rc = -1;
	cf_buf_free(&f);
	return (rc);
}

static void
room_deliver(struct cf_worker *w, const struct cf_frame_bcast *b)
{
	if (strcmp(b->nsp, "/") != 0)
		return;
	deliver_local(w, (const char *const *)b->rooms, b->nrooms,
	    b->nexcept > 0 ? b->except[0] : NULL, b->data, b->att, b->nattach);
}

void
cf_room_log_out(const char *to, const json_t *args)
{
	char payload[520], *raw;
	size_t bytes = json_dumpb(args, NULL, 0, JSON_COMPACT);

	payload[0] = '\0';
	if (cf_w->conf->log_payloads &&
	    (raw = json_dumps(json_array_get(args, 1), JSON_COMPACT |
	    JSON_ENCODE_ANY)) != NULL) {
		if (strlen(raw) > 500)
			raw[500] = '\0';	/* truncated JSON: still readable */
		memcpy(payload, " payload=", 9);
		cf_log_value(payload + 9, sizeof(payload) - 9, raw);
		free(raw);
	}
	cf_log_ev(CF_LOG_DEBUG, "event_out", "%s name=%s bytes=%zu%s", to,
	    json_string_value(json_array_get(args, 0)), bytes, payload);
}

/* [event, payload] (payload stolen), logged at debug; NULL on failure. */
static json_t *
emit_args(const char *room, const char *event, json_t *payload)
{
	char to[160], v[150];
	json_t *args;

	if (payload == NULL)
		return (NULL);
	if ((args = json_pack("[so]", event, payload)) == NULL)
		return (NULL);
	if (cf_log_get_level() >= CF_LOG_DEBUG) {
		cf_log_value(v, sizeof(v), room);
		snprintf(to, sizeof(to), "room=%s", v);
		cf_room_log_out(to, args);
	}
	return (args);
}

/* [event, payload] to room, relayed to every worker and host or not. */
static void
room_emit(const char *room, const struct cf_sess *except, const char *event,
    json_t *payload, int relay)
{
	const char *rooms[1] = { room };
	json_t *args;

	if ((args = emit_args(room, event, payload)) == NULL)
		return;
	if (relay)
		(void)cf_room_broadcast(cf_w, rooms, 1, except, args, NULL, 0);
	else
		deliver_local(cf_w, rooms, 1, except != NULL ? except->id :
		    NULL, args, NULL, 0);
	json_decref(args);
}

void
cf_room_emit(const char *room, const struct cf_sess *except,
    const char *event, json_t *payload)
{
	room_emit(room, except, event, payload, 1);
}

void
cf_room_emit_local(const char *room, const struct cf_sess *except,
    const char *event, json_t *payload)
{
	room_emit(room, except, event, payload, 0);
}

/* ------------------------------------------------ adapter requests */

/* Requests of the socket.io adapter protocol that backends send. */
#define REQ_REMOTE_JOIN		2
#define REQ_REMOTE_LEAVE	3
#define REQ_REMOTE_DISCONNECT	4
#define REQ_SERVER_SIDE_EMIT	6

/* 1 when s is selected by opts {rooms, except} of an adapter request. */
static int
selected(struct cf_sess *s, const json_t *rooms, const json_t *except)
{
	const json_t *v;
	size_t i;
	int in = json_array_size(rooms) == 0;

	json_array_foreach(rooms, i, v)
		if (json_is_string(v) && (cf_room_has(s, json_string_value(v)) ||
		    strcmp(s->id, json_string_value(v)) == 0))
			in = 1;
	if (!in)
		return (0);
	json_array_foreach(except, i, v)
		if (json_is_string(v) && (cf_room_has(s, json_string_value(v)) ||
		    strcmp(s->id, json_string_value(v)) == 0))
			return (0);
	return (1);
}

/* The sockets an adapter request selects (live ones and ghosts). */
struct selection {
	const json_t	*rooms;
	const json_t	*except;
	struct cf_sess	**sel;
	size_t		 n;
	size_t		 cap;
};

static void
select_one(struct cf_sess *s, void *arg)
{
	struct selection *sc = arg;
	struct cf_sess **p;

	if (!selected(s, sc->rooms, sc->except))
		return;
	if (sc->n == sc->cap) {
		size_t ncap = sc->cap ? sc->cap * 2 : 16;

		if ((p = realloc(sc->sel, ncap * sizeof(*p))) == NULL)
			return;
		sc->sel = p;
		sc->cap = ncap;
	}
	sc->sel[sc->n++] = s;
}

/*
 * socketsJoin / socketsLeave / disconnectSockets from a backend
 * (@socket.io/redis-emitter): JSON {type, opts: {rooms, except}, rooms,
 * close}.  Every worker applies it to its own sockets.  The targets are
 * collected first: joining, leaving and disconnecting change the rooms
 * being walked.
 */
static void
room_request(struct cf_worker *w, const uint8_t *p, size_t len)
{
	struct cf_sess *s, *tmp, **sel = NULL;
	struct selection sc;
	const json_t *opts, *rooms, *except, *v;
	json_t *req;
	size_t n = 0, i, j;
	int type;

	if (len == 0 || p[0] != '{' ||
	    (req = json_loadb((const char *)p, len, 0, NULL)) == NULL)
		return;
	type = (int)json_integer_value(json_object_get(req, "type"));
	if (type == REQ_SERVER_SIDE_EMIT) {
		v = json_object_get(req, "data");
		if (w->server_emit != NULL && json_is_array(v) &&
		    json_is_string(json_array_get(v, 0)))
			w->server_emit(w, json_string_value(json_array_get(v,
			    0)), json_array_get(v, 1));
		goto done;
	}
	if (type != REQ_REMOTE_JOIN && type != REQ_REMOTE_LEAVE &&
	    type != REQ_REMOTE_DISCONNECT)
		goto done;
	opts = json_object_get(req, "opts");
	rooms = json_object_get(opts, "rooms");
	except = json_object_get(opts, "except");
	sc.rooms = rooms;
	sc.except = except;
	sc.n = 0;
	sc.cap = 0;
	sc.sel = NULL;
	HASH_ITER(hh, w->sessions, s, tmp)
		if (s->connected && s->state == CF_S_OPEN)
			select_one(s, &sc);
	cf_recover_each(w, select_one, &sc);
	sel = sc.sel;
	n = sc.n;
	for (i = 0; i < n; i++) {
		s = sel[i];
		if (type == REQ_REMOTE_DISCONNECT) {
			cf_sock_disconnect(s, json_is_true(json_object_get(req,
			    "close")));
			continue;
		}
		json_array_foreach(json_object_get(req, "rooms"), j, v) {
			if (!json_is_string(v))
				continue;
			if (type == REQ_REMOTE_JOIN)
				(void)cf_room_join(w, s, json_string_value(v));
			else
				cf_room_leave(w, s, json_string_value(v));
		}
	}
	cf_log_debug("relay: adapter request %d applied to %zu sockets", type,
	    n);
 done:
	free(sel);
	json_decref(req);
}

/*
 * Send req (stolen) to every worker and host, with this worker's uid as
 * its first member, and apply it here.
 */
static int
request_all(struct cf_worker *w, json_t *req)
{
	json_t *o;
	char *text;
	int rc = -1;

	if (req == NULL)
		return (-1);
	if ((o = json_pack("{s:s}", "uid", w->uid)) == NULL ||
	    json_object_update(o, req) == -1 ||
	    (text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
	    NULL) {
		json_decref(o);
		json_decref(req);
		return (-1);
	}
	if (w->relay != NULL)
		rc = cf_relay_request(w->relay, text, strlen(text));
	room_request(w, (const uint8_t *)text, strlen(text));
	free(text);
	json_decref(o);
	json_decref(req);
	return (rc);
}

int
cf_room_disconnect(struct cf_worker *w, const char *room, int close)
{
	return (request_all(w, json_pack("{s:i,s:{s:[s],s:[]},s:b}", "type",
	    REQ_REMOTE_DISCONNECT, "opts", "rooms", room, "except", "close",
	    close)));
}

int
cf_room_server_emit(struct cf_worker *w, const char *event, json_t *args)
{
	if (args == NULL)
		return (-1);
	return (request_all(w, json_pack("{s:i,s:[s,o]}", "type",
	    REQ_SERVER_SIDE_EMIT, "data", event, args)));
}

void
cf_room_on_server_emit(struct cf_worker *w,
    void (*fn)(struct cf_worker *w, const char *event, const json_t *args))
{
	w->server_emit = fn;
}

/* A socket of ours served through another host's session (pipe.h). */
static void
room_pipe(struct cf_worker *w, const char *host, unsigned slot,
    const uint8_t *p, size_t len)
{
	cf_pipe_receive(w, host, slot, p, len);
}

/* What the relay delivers (relay.h): broadcasts, adapter requests, and
 * pipes of sockets recovered on another host. */
const struct cf_relay_sink cf_room_sink = {
	.deliver = room_deliver,
	.request = room_request,
	.pipe = room_pipe,
};
