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
cf_room_leave_all(struct cf_worker *w, struct cf_sess *s)
{
	while (s->nrooms > 0)
		leave_at(w, s, s->nrooms - 1);
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
	uint64_t seq;
	size_t i;
	uint32_t j;
	int k, n;

	cf_sio_event(&p, "/", args, att, nattach);
	if ((n = cf_msg_encode(&p, m)) == -1)
		return;
	seq = ++w->bcast_seq;
	if (nrooms == 0) {
		HASH_ITER(hh, w->sessions, s, tmp) {
			if (!s->connected ||
			    (except_id && strcmp(s->id, except_id) == 0))
				continue;
			cf_sock_send_encoded(s, m[0], m + 1, n - 1);
		}
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
			cf_sock_send_encoded(s, m[0], m + 1, n - 1);
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
	if (cf_frame_encode(w->uid, "/", args, att, nattach, rooms, nrooms,
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

void
cf_room_deliver(struct cf_worker *w, const struct cf_frame_bcast *b)
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
