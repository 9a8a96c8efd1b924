/*
 * test_room.c -- the rooms and the room emit API (src/fanout/room.c):
 * joining and leaving, the excepted socket, one shared encoded message
 * queued on every member, the relay used by cf_room_emit and not by
 * cf_room_emit_local, unknown rooms.
 *
 * A worker of one slot with no Redis: its relay publishes to no other
 * worker, and the shared memory's stats count each publish (relay_out).
 * Sessions are polling ones with no request held, so what an emit queues
 * stays on each session's queue for the test to read; their transport ops
 * are a test double that fails the test when asked to write.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "proc.h"
#include "shm/shm.h"
#include "eio/session.h"
#include "fanout/relay.h"
#include "fanout/cluster.h"
#include "fanout/room.h"

#define NSESS	4

/*
 * The fake transport: nothing is held unsent, and no write is asked for
 * (a polling session with no request held is woken by nothing), so any
 * other call is a failure, counted.
 */
static unsigned tops_unexpected;

static void
fake_flush(struct cf_sess *s)
{
	(void)s;
	tops_unexpected++;
}

static size_t
fake_unsent(struct cf_sess *s)
{
	(void)s;
	return (0);
}

static int
fake_stalled(struct cf_sess *s)
{
	(void)s;
	tops_unexpected++;
	return (0);
}

static void
fake_abort(struct cf_sess *s, unsigned code, const char *why)
{
	(void)s;
	(void)code;
	(void)why;
	tops_unexpected++;
}

static const struct cf_transport_ops fake_ops = {
	.flush = fake_flush,
	.unsent = fake_unsent,
	.stalled = fake_stalled,
	.abort = fake_abort,
	.remote_flush = fake_flush,
};

static const struct cf_app no_app;	/* no callbacks */

struct fixture {
	struct cf_conf		 conf;
	struct cf_worker	 w;
	struct cf_sess		*s[NSESS];
};

/* Leave every room on disconnect, as the shell wires it (worker.c). */
static void
on_left(struct cf_sess *s)
{
	cf_room_leave_all(cf_w, s);
}

static int
setup(void **state)
{
	struct fixture *f;
	int i;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return (-1);
	f->conf.ping_interval_ms = 25000;
	f->conf.connect_timeout_ms = 45000;
	f->conf.max_output_buffer = 1 << 20;
	f->w.nslots = 1;
	f->w.conf = &f->conf;
	strcpy(f->w.host, "test");
	strcpy(f->w.uid, "test/0/x");
	if (uv_loop_init(&f->w.loop) != 0 ||
	    (f->w.shm = cf_shm_create(1, 16)) == NULL)
		return (-1);
	cf_w = &f->w;
	if (cf_sess_init(&f->w) == -1 || cf_cluster_init(&f->w) == -1)
		return (-1);
	cf_app = &no_app;
	cf_sock_on_left(on_left);
	if ((f->w.relay = cf_relay_new(&f->w, &cf_room_sink)) == NULL)
		return (-1);
	for (i = 0; i < NSESS; i++) {
		if ((f->s[i] = cf_sess_new(&f->w, CF_T_POLLING,
		    &fake_ops)) == NULL)
			return (-1);
		/* A Socket.IO socket on "/", as a CONNECT makes it. */
		f->s[i]->connected = 1;
		snprintf(f->s[i]->id, sizeof(f->s[i]->id), "sock%d", i);
	}
	tops_unexpected = 0;
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	int i;

	for (i = 0; i < NSESS; i++)
		cf_sess_close(f->s[i], "test over", CF_CLOSE_SILENT);
	/* Closing left every room: none is left over. */
	assert_int_equal(HASH_COUNT(f->w.rooms), 0);
	assert_int_equal(f->w.nsessions, 0);
	cf_sess_reap(&f->w);
	cf_relay_free(f->w.relay);
	(void)uv_run(&f->w.loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->w.loop), 0);
	cf_shm_destroy(f->w.shm);
	cf_sess_free(&f->w);
	cf_cluster_free(&f->w);
	assert_int_equal(tops_unexpected, 0);
	cf_w = NULL;
	free(f);
	return (0);
}

/* The relay publishes this worker made (cf_relay_publish). */
static uint64_t
relayed(struct fixture *f)
{
	return (cf_shm_stats(f->w.shm, 0)->relay_out);
}

/* The message queued last on s, or NULL when its queue is empty. */
static struct cf_msg *
last(const struct cf_sess *s)
{
	if (s->q.len == 0)
		return (NULL);
	return (s->q.v[(s->q.head + s->q.len - 1) % s->q.cap]);
}

static void
test_join_leave(void **state)
{
	struct fixture *f = *state;
	struct cf_sess *a = f->s[0], *b = f->s[1];

	assert_int_equal(cf_room_join(&f->w, a, "r1"), 0);
	assert_int_equal(cf_room_join(&f->w, a, "r1"), 0);	/* no-op */
	assert_int_equal(cf_room_join(&f->w, a, "r2"), 0);
	assert_int_equal(cf_room_join(&f->w, b, "r1"), 0);
	assert_true(cf_room_has(a, "r1"));
	assert_true(cf_room_has(a, "r2"));
	assert_true(cf_room_has(b, "r1"));
	assert_false(cf_room_has(b, "r2"));
	assert_int_equal(a->nrooms, 2);
	assert_int_equal(HASH_COUNT(f->w.rooms), 2);

	/* The last member leaving drops the room. */
	cf_room_leave(&f->w, a, "r2");
	assert_false(cf_room_has(a, "r2"));
	assert_int_equal(HASH_COUNT(f->w.rooms), 1);
	cf_room_leave(&f->w, a, "nope");			/* no-op */
	cf_room_leave(&f->w, a, "r1");
	assert_int_equal(a->nrooms, 0);
	assert_true(cf_room_has(b, "r1"));
	cf_room_leave_all(&f->w, b);
	assert_int_equal(HASH_COUNT(f->w.rooms), 0);
}

static void
test_emit(void **state)
{
	struct fixture *f = *state;
	static const char want[] = "42[\"ev\",{\"n\":1}]";
	struct cf_msg *m;
	int i;

	for (i = 0; i < 3; i++)
		assert_int_equal(cf_room_join(&f->w, f->s[i], "r"), 0);
	/* s[3] is in no room. */
	cf_room_emit("r", f->s[1], "ev", json_pack("{s:i}", "n", 1));
	assert_int_equal(relayed(f), 1);

	/* One message, encoded once, shared by the members' queues. */
	m = last(f->s[0]);
	assert_non_null(m);
	assert_false(m->binary);
	assert_int_equal(m->len, strlen(want));
	assert_memory_equal(CF_MSG_DATA(m), want, m->len);
	assert_ptr_equal(last(f->s[2]), m);
	assert_int_equal(m->refs, 2);
	assert_int_equal(f->s[0]->q.len, 1);
	assert_int_equal(f->s[2]->q.len, 1);
	/* The excepted socket and the non-member get nothing. */
	assert_int_equal(f->s[1]->q.len, 0);
	assert_int_equal(f->s[3]->q.len, 0);

	/* After leaving, a member gets no more. */
	cf_room_leave(&f->w, f->s[0], "r");
	cf_room_emit("r", NULL, "ev", json_pack("{s:i}", "n", 2));
	assert_int_equal(relayed(f), 2);
	assert_int_equal(f->s[0]->q.len, 1);
	assert_int_equal(f->s[1]->q.len, 1);
	assert_int_equal(f->s[2]->q.len, 2);
	assert_ptr_equal(last(f->s[1]), last(f->s[2]));
	assert_int_equal(last(f->s[1])->refs, 2);
}

static void
test_emit_local(void **state)
{
	struct fixture *f = *state;
	static const char want[] = "42[\"ev\",\"x\"]";
	struct cf_msg *m;

	assert_int_equal(cf_room_join(&f->w, f->s[0], "r"), 0);
	assert_int_equal(cf_room_join(&f->w, f->s[1], "r"), 0);
	cf_room_emit_local("r", f->s[0], "ev", json_string("x"));
	/* Delivered here, never relayed. */
	assert_int_equal(relayed(f), 0);
	assert_int_equal(f->s[0]->q.len, 0);
	m = last(f->s[1]);
	assert_non_null(m);
	assert_memory_equal(CF_MSG_DATA(m), want, strlen(want));
	assert_int_equal(m->refs, 1);

	cf_room_emit_local("r", NULL, "ev", json_string("x"));
	assert_int_equal(relayed(f), 0);
	assert_int_equal(f->s[0]->q.len, 1);
	assert_int_equal(f->s[1]->q.len, 2);
	assert_ptr_equal(last(f->s[0]), last(f->s[1]));
	assert_int_equal(last(f->s[0])->refs, 2);
}

static void
test_emit_nobody(void **state)
{
	struct fixture *f = *state;
	int i;

	assert_int_equal(cf_room_join(&f->w, f->s[0], "r"), 0);
	/* No local member: nothing queued, no room made. */
	cf_room_emit_local("unknown", NULL, "ev", json_string("x"));
	assert_int_equal(relayed(f), 0);
	/* cf_room_emit still relays: other workers may have members. */
	cf_room_emit("unknown", NULL, "ev", json_string("x"));
	assert_int_equal(relayed(f), 1);
	/* A room whose only member is excepted. */
	cf_room_emit_local("r", f->s[0], "ev", json_string("x"));
	for (i = 0; i < NSESS; i++)
		assert_int_equal(f->s[i]->q.len, 0);
	assert_int_equal(HASH_COUNT(f->w.rooms), 1);
	assert_false(cf_room_has(f->s[1], "unknown"));

	/* A failed json_pack (NULL payload) emits nothing at all. */
	cf_room_emit("r", NULL, "ev", NULL);
	cf_room_emit_local("r", NULL, "ev", NULL);
	assert_int_equal(relayed(f), 1);
	assert_int_equal(f->s[0]->q.len, 0);
}

/* A socket not connected on "/" (or gone) gets nothing. */
static void
test_emit_not_connected(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(cf_room_join(&f->w, f->s[0], "r"), 0);
	assert_int_equal(cf_room_join(&f->w, f->s[1], "r"), 0);
	f->s[0]->connected = 0;
	cf_room_emit_local("r", NULL, "ev", json_integer(1));
	assert_int_equal(f->s[0]->q.len, 0);
	assert_int_equal(f->s[1]->q.len, 1);
	f->s[0]->connected = 1;

	/* A closed session left its rooms (cf_sock_on_left). */
	cf_sess_close(f->s[1], "test", CF_CLOSE_SILENT);
	assert_false(cf_room_has(f->s[1], "r"));
	cf_room_emit_local("r", NULL, "ev", json_integer(2));
	assert_int_equal(f->s[0]->q.len, 1);
}

/* Several rooms at once: each member once, however many it is in. */
static void
test_broadcast_rooms(void **state)
{
	struct fixture *f = *state;
	const char *rooms[2] = { "a", "b" };
	json_t *args;

	assert_int_equal(cf_room_join(&f->w, f->s[0], "a"), 0);
	assert_int_equal(cf_room_join(&f->w, f->s[0], "b"), 0);
	assert_int_equal(cf_room_join(&f->w, f->s[1], "b"), 0);
	args = json_pack("[s,i]", "ev", 1);
	assert_int_equal(cf_room_broadcast(&f->w, rooms, 2, NULL, args, NULL,
	    0), 0);
	assert_int_equal(relayed(f), 1);
	assert_int_equal(f->s[0]->q.len, 1);
	assert_int_equal(f->s[1]->q.len, 1);
	assert_int_equal(f->s[2]->q.len, 0);
	assert_int_equal(last(f->s[0])->refs, 2);

	/* No rooms: every connected socket but the excepted one. */
	assert_int_equal(cf_room_broadcast(&f->w, NULL, 0, f->s[3], args,
	    NULL, 0), 0);
	assert_int_equal(f->s[0]->q.len, 2);
	assert_int_equal(f->s[1]->q.len, 2);
	assert_int_equal(f->s[2]->q.len, 1);
	assert_int_equal(f->s[3]->q.len, 0);
	assert_int_equal(last(f->s[0])->refs, 3);
	json_decref(args);
}

/* Attachments: the text and each binary message shared, in order. */
static void
test_broadcast_binary(void **state)
{
	struct fixture *f = *state;
	const char *rooms[1] = { "r" };
	struct cf_sio_att att[1] = { { (uint8_t *)"\x01\x02", 2 } };
	struct cf_msg *text, *bin;
	json_t *args;

	assert_int_equal(cf_room_join(&f->w, f->s[0], "r"), 0);
	assert_int_equal(cf_room_join(&f->w, f->s[1], "r"), 0);
	args = json_pack("[s,{s:b,s:i}]", "ev", "_placeholder", 1, "num", 0);
	assert_int_equal(cf_room_broadcast(&f->w, rooms, 1, NULL, args, att,
	    1), 0);
	json_decref(args);
	assert_int_equal(f->s[0]->q.len, 2);
	text = f->s[0]->q.v[f->s[0]->q.head];
	bin = last(f->s[0]);
	assert_false(text->binary);
	assert_memory_equal(CF_MSG_DATA(text), "451-[", 5);
	assert_true(bin->binary);
	assert_int_equal(bin->len, 2);
	assert_memory_equal(CF_MSG_DATA(bin), "\x01\x02", 2);
	assert_ptr_equal(f->s[1]->q.v[f->s[1]->q.head], text);
	assert_ptr_equal(last(f->s[1]), bin);
	assert_int_equal(text->refs, 2);
	assert_int_equal(bin->refs, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_join_leave, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_emit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_emit_local, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_emit_nobody, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_emit_not_connected, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_broadcast_rooms, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_broadcast_binary, setup,
		    teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
