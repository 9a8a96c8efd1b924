/*
 * test_frame.c -- unit tests for the relay frame codec (socket.io Redis
 * adapter / emitter msgpack format).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "relay/frame.h"
#include "util.h"

/* ---- hand-written msgpack helpers ---- */

static void
b_byte(struct cf_buf *b, uint8_t c)
{
	assert_int_equal(cf_buf_appendc(b, c), 0);
}

static void
b_bytes(struct cf_buf *b, const void *p, size_t n)
{
	assert_int_equal(cf_buf_append(b, p, n), 0);
}

/* fixstr (< 32 bytes) */
static void
b_str(struct cf_buf *b, const char *s)
{
	size_t	 n = strlen(s);

	assert_true(n < 32);
	b_byte(b, 0xa0 | (uint8_t)n);
	b_bytes(b, s, n);
}

static void
b_undef(struct cf_buf *b)
{
	b_byte(b, 0xd4);
	b_byte(b, 0x00);
	b_byte(b, 0x00);
}

/*
 * Frame prologue: 93 a7 "emitter" 83 a4 "type" 02 a4 "data"; the caller
 * writes the data array next.
 */
static void
b_head(struct cf_buf *b)
{
	b_byte(b, 0x93);
	b_str(b, "emitter");
	b_byte(b, 0x83);
	b_str(b, "type");
	b_byte(b, 0x02);
	b_str(b, "data");
}

/* a3 "nsp" a1 "/" 80 (empty opts) */
static void
b_tail(struct cf_buf *b)
{
	b_str(b, "nsp");
	b_str(b, "/");
	b_byte(b, 0x80);
}

static json_t *
J(const char *text)
{
	json_error_t	 err;
	json_t		*v;

	v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	assert_non_null(v);
	return (v);
}

static int
decode(struct cf_buf *b, struct cf_frame_bcast *f)
{
	return (cf_frame_decode(b->data, b->len, f));
}

/* ---- tests ---- */

static void
test_emitter_bytes(void **state)
{
	struct cf_buf		 b = { 0 };
	struct cf_frame_bcast	 f;
	json_t			*want;

	(void)state;
	/*
	 * emitter.to("room1").emit("hello", "world", 1), exactly as
	 * @socket.io/redis-emitter publishes it.
	 */
	b_byte(&b, 0x93);
	b_str(&b, "emitter");
	b_byte(&b, 0x83);
	b_str(&b, "type");
	b_byte(&b, 0x02);
	b_str(&b, "data");
	b_byte(&b, 0x93);
	b_str(&b, "hello");
	b_str(&b, "world");
	b_byte(&b, 0x01);
	b_str(&b, "nsp");
	b_str(&b, "/");
	b_byte(&b, 0x83);
	b_str(&b, "rooms");
	b_byte(&b, 0x91);
	b_str(&b, "room1");
	b_str(&b, "flags");
	b_byte(&b, 0x80);
	b_str(&b, "except");
	b_byte(&b, 0x90);
	assert_int_equal(b.len, 70);

	assert_int_equal(decode(&b, &f), CF_FRAME_OK);
	assert_string_equal(f.uid, "emitter");
	assert_string_equal(f.nsp, "/");
	want = J("[\"hello\",\"world\",1]");
	assert_true(json_equal(f.data, want));
	json_decref(want);
	assert_int_equal(f.nattach, 0);
	assert_int_equal(f.nrooms, 1);
	assert_string_equal(f.rooms[0], "room1");
	assert_int_equal(f.nexcept, 0);
	assert_int_equal(f.flags, 0);
	cf_frame_bcast_clear(&f);
	assert_null(f.data);
	cf_frame_bcast_clear(&f);
	cf_frame_bcast_clear(NULL);

	/* Trailing bytes are an error. */
	b_byte(&b, 0xc0);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);
	assert_null(f.data);
	b.len--;
	b_byte(&b, 0x93);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);
	b.len--;

	/* Truncated at every length: rejected without a crash. */
	{
		size_t	 n;

		for (n = 0; n < b.len; n++) {
			assert_int_equal(cf_frame_decode(b.data, n, &f),
			    CF_FRAME_EPROTO);
			assert_null(f.data);
		}
	}
	assert_int_equal(cf_frame_decode(NULL, 0, &f), CF_FRAME_EPROTO);
	cf_buf_free(&b);
}

/* Encode what the emitter would and compare the bytes exactly. */
static void
test_encode_bytes(void **state)
{
	struct cf_buf	 want = { 0 }, got = { 0 };
	const char	*rooms[] = { "room1" };
	json_t		*data;

	(void)state;
	b_byte(&want, 0x93);
	b_str(&want, "abcdef");
	b_byte(&want, 0x83);
	b_str(&want, "type");
	b_byte(&want, 0x02);
	b_str(&want, "data");
	b_byte(&want, 0x93);
	b_str(&want, "hello");
	b_str(&want, "world");
	b_byte(&want, 0x01);
	b_str(&want, "nsp");
	b_str(&want, "/chat");
	b_byte(&want, 0x83);
	b_str(&want, "rooms");
	b_byte(&want, 0x91);
	b_str(&want, "room1");
	b_str(&want, "except");
	b_byte(&want, 0x90);
	b_str(&want, "flags");
	b_byte(&want, 0x80);

	data = J("[\"hello\",\"world\",1]");
	assert_int_equal(cf_frame_encode("abcdef", "/chat", data, NULL, 0,
	    rooms, 1, NULL, 0, 0, &got), CF_FRAME_OK);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);
	json_decref(data);
	cf_buf_free(&want);
	cf_buf_free(&got);
}

static void
roundtrip(const char *json, const struct cf_sio_att *att, int nattach,
    const char *const *rooms, size_t nrooms, const char *const *except,
    size_t nexcept, int flags)
{
	struct cf_buf		 b = { 0 };
	struct cf_frame_bcast	 f;
	json_t			*data;
	size_t			 i;

	data = J(json);
	assert_int_equal(cf_frame_encode("uid123", "/ns", data, att, nattach,
	    rooms, nrooms, except, nexcept, flags, &b), CF_FRAME_OK);
	assert_int_equal(decode(&b, &f), CF_FRAME_OK);
	assert_string_equal(f.uid, "uid123");
	assert_string_equal(f.nsp, "/ns");
	if (!json_equal(f.data, data)) {
		char	*s = json_dumps(f.data, JSON_ENCODE_ANY);

		print_error("decoded %s\n", s);
		free(s);
		fail();
	}
	assert_int_equal(f.nattach, nattach);
	for (i = 0; i < (size_t)nattach; i++) {
		assert_int_equal(f.att[i].len, att[i].len);
		assert_memory_equal(f.att[i].data, att[i].data, att[i].len);
	}
	assert_int_equal(f.nrooms, nrooms);
	for (i = 0; i < nrooms; i++)
		assert_string_equal(f.rooms[i], rooms[i]);
	assert_int_equal(f.nexcept, nexcept);
	for (i = 0; i < nexcept; i++)
		assert_string_equal(f.except[i], except[i]);
	assert_int_equal(f.flags, flags);
	cf_frame_bcast_clear(&f);
	json_decref(data);
	cf_buf_free(&b);
}

/* Data arrays that come back from an encode and decode unchanged. */
static void
test_roundtrip_text(void **state)
{
	static const char *const rows[] = {
		"[\"chat\",\"hello\",42,-7,3.5,true,false,null,"
		    "\"\\u00fcn\\u00efcode \\u2603 \\ud83d\\ude00\",\"\","
		    "9223372036854775807,-9223372036854775808,1e300,-0.25]",
		"[\"only\"]",
		/* Strings with an embedded NUL survive. */
		"[\"a\\u0000b\"]",
		/* Nesting. */
		"[\"ev\",{\"a\":{\"b\":[1,{\"c\":null}],\"d\":\"e\"},"
		    "\"empty\":{},\"list\":[]},[[[[\"deep\"]]]]]",
		/* Placeholder-like objects that are not exact placeholders. */
		"[\"ev\",{\"_placeholder\":true,\"num\":0,\"x\":1},"
		    "{\"_placeholder\":false,\"num\":0},{\"_placeholder\":true,"
		    "\"num\":\"0\"}]",
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		roundtrip(rows[i], NULL, 0, NULL, 0, NULL, 0, 0);
}

static void
test_roundtrip_binary(void **state)
{
	uint8_t			 a0[] = { 0x00, 0xff, 0x10 }, a2[300];
	struct cf_sio_att	 att[3];
	struct cf_buf		 b = { 0 };
	struct cf_frame_bcast	 f;
	json_t			*data, *ph;

	(void)state;
	memset(a2, 0xab, sizeof(a2));
	att[0].data = a0;
	att[0].len = sizeof(a0);
	att[1].data = (uint8_t *)"";
	att[1].len = 0;
	att[2].data = a2;
	att[2].len = sizeof(a2);
	roundtrip("[\"file\",{\"_placeholder\":true,\"num\":0},"
	    "{\"x\":[{\"_placeholder\":true,\"num\":1}],"
	    "\"y\":{\"num\":2,\"_placeholder\":true}}]",
	    att, 3, NULL, 0, NULL, 0, 0);

	/*
	 * Placeholders out of order on encode are renumbered in depth-first
	 * order on decode, the bytes following them.
	 */
	data = J("[\"f\",{\"_placeholder\":true,\"num\":2},"
	    "{\"_placeholder\":true,\"num\":0}]");
	assert_int_equal(cf_frame_encode("u", "/", data, att, 3, NULL, 0,
	    NULL, 0, 0, &b), CF_FRAME_OK);
	json_decref(data);
	assert_int_equal(decode(&b, &f), CF_FRAME_OK);
	assert_int_equal(f.nattach, 2);
	ph = json_array_get(f.data, 1);
	assert_int_equal(json_integer_value(json_object_get(ph, "num")), 0);
	assert_true(json_is_true(json_object_get(ph, "_placeholder")));
	assert_int_equal(f.att[0].len, sizeof(a2));
	assert_int_equal(f.att[1].len, sizeof(a0));
	assert_memory_equal(f.att[1].data, a0, sizeof(a0));
	cf_frame_bcast_clear(&f);

	/* A placeholder without its attachment cannot be encoded. */
	data = J("[\"f\",{\"_placeholder\":true,\"num\":3}]");
	assert_int_equal(cf_frame_encode("u", "/", data, att, 3, NULL, 0,
	    NULL, 0, 0, &b), CF_FRAME_EPROTO);
	assert_int_equal(b.len, 0);
	assert_int_equal(cf_frame_encode("u", "/", data, NULL, 0, NULL, 0,
	    NULL, 0, 0, &b), CF_FRAME_EPROTO);
	json_decref(data);
	data = J("[\"f\",{\"_placeholder\":true,\"num\":-1}]");
	assert_int_equal(cf_frame_encode("u", "/", data, att, 3, NULL, 0,
	    NULL, 0, 0, &b), CF_FRAME_EPROTO);
	json_decref(data);
	cf_buf_free(&b);
}

static void
test_roundtrip_rooms_flags(void **state)
{
	const char	*rooms[] = { "r1", "room two", "" };
	const char	*except[] = { "sid-AAA", "sid-BBB" };
	const char	*many[CF_FRAME_MAX_ROOMS + 1];
	struct cf_buf	 b = { 0 };
	json_t		*data;
	int		 i;
	const struct {
		const char *const	*rooms;
		size_t			 nrooms;
		const char *const	*except;
		size_t			 nexcept;
		int			 flags;
	} rows[] = {
		{ rooms, 3, except, 2, 0 },
		{ rooms, 1, NULL, 0, CF_FRAME_VOLATILE },
		{ NULL, 0, except, 1, CF_FRAME_LOCAL },
		{ NULL, 0, NULL, 0, CF_FRAME_LOCAL | CF_FRAME_VOLATILE },
		{ many, CF_FRAME_MAX_ROOMS, many, CF_FRAME_MAX_ROOMS, 0 },
	};
	/* Data that cannot be encoded: not an array, or an empty one. */
	static const char *const bad_data[] = { "{\"a\":1}", "[]" };
	size_t		 r;

	(void)state;
	for (i = 0; i <= CF_FRAME_MAX_ROOMS; i++)
		many[i] = "r";
	for (r = 0; r < sizeof(rows) / sizeof(rows[0]); r++)
		roundtrip("[\"x\"]", NULL, 0, rows[r].rooms, rows[r].nrooms,
		    rows[r].except, rows[r].nexcept, rows[r].flags);

	data = J("[\"x\"]");
	assert_int_equal(cf_frame_encode("u", "/", data, NULL, 0, many,
	    CF_FRAME_MAX_ROOMS + 1, NULL, 0, 0, &b), CF_FRAME_EPROTO);
	json_decref(data);
	for (r = 0; r < sizeof(bad_data) / sizeof(bad_data[0]); r++) {
		data = J(bad_data[r]);
		assert_int_equal(cf_frame_encode("u", "/", data, NULL, 0,
		    NULL, 0, NULL, 0, 0, &b), CF_FRAME_EPROTO);
		json_decref(data);
	}
	assert_int_equal(cf_frame_encode("u", "/", NULL, NULL, 0, NULL, 0,
	    NULL, 0, 0, &b), CF_FRAME_EPROTO);
	cf_buf_free(&b);
}

static void
test_undefined(void **state)
{
	struct cf_buf		 b = { 0 };
	struct cf_frame_bcast	 f;
	json_t			*want;

	(void)state;
	/* [ "emitter", {type:2, data:["ev", undefined, {a:undefined,b:1}],
	 *   nsp: undefined}, undefined ] */
	b_byte(&b, 0x93);
	b_str(&b, "emitter");
	b_byte(&b, 0x83);
	b_str(&b, "type");
	b_byte(&b, 0x02);
	b_str(&b, "data");
	b_byte(&b, 0x93);
	b_str(&b, "ev");
	b_undef(&b);
	b_byte(&b, 0x82);
	b_str(&b, "a");
	b_undef(&b);
	b_str(&b, "b");
	b_byte(&b, 0x01);
	b_str(&b, "nsp");
	b_undef(&b);
	b_undef(&b);
	assert_int_equal(decode(&b, &f), CF_FRAME_OK);
	want = J("[\"ev\",null,{\"b\":1}]");
	assert_true(json_equal(f.data, want));
	json_decref(want);
	assert_string_equal(f.nsp, "/");
	assert_int_equal(f.nrooms, 0);
	cf_frame_bcast_clear(&f);

	/* opts with undefined rooms/flags and no except, nsp missing. */
	cf_buf_reset(&b);
	b_byte(&b, 0x93);
	b_str(&b, "xyz");
	b_byte(&b, 0x82);
	b_str(&b, "data");
	b_byte(&b, 0x91);
	b_byte(&b, 0x05);
	b_str(&b, "type");
	b_byte(&b, 0x02);
	b_byte(&b, 0x83);
	b_str(&b, "rooms");
	b_undef(&b);
	b_str(&b, "flags");
	b_undef(&b);
	b_str(&b, "junk");
	b_byte(&b, 0xc3);
	assert_int_equal(decode(&b, &f), CF_FRAME_OK);
	assert_string_equal(f.uid, "xyz");
	assert_string_equal(f.nsp, "/");
	assert_int_equal(json_integer_value(json_array_get(f.data, 0)), 5);
	assert_int_equal(f.nrooms + f.nexcept, 0);
	cf_frame_bcast_clear(&f);

	/* Only two elements: opts missing. */
	cf_buf_reset(&b);
	b_byte(&b, 0x92);
	b_str(&b, "xyz");
	b_byte(&b, 0x82);
	b_str(&b, "type");
	b_byte(&b, 0x02);
	b_str(&b, "data");
	b_byte(&b, 0x91);
	b_byte(&b, 0xc0);
	assert_int_equal(decode(&b, &f), CF_FRAME_OK);
	assert_true(json_is_null(json_array_get(f.data, 0)));
	cf_frame_bcast_clear(&f);

	cf_buf_free(&b);
}

static void
test_numbers(void **state)
{
	struct cf_buf		 b = { 0 };
	struct cf_frame_bcast	 f;

	(void)state;
	b_head(&b);
	b_byte(&b, 0x96);
	/* 2^64-1, 1.5 as float 32, NaN as float 64 */
	b_bytes(&b, "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9);
	b_bytes(&b, "\xca\x3f\xc0\x00\x00", 5);
	b_bytes(&b, "\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", 9);
	b_bytes(&b, "\xd0\x80", 2);				/* -128 */
	b_bytes(&b, "\xff", 1);					/* -1 */
	b_bytes(&b, "\xc4\x00", 2);				/* bin 0 */
	b_tail(&b);
	assert_int_equal(decode(&b, &f), CF_FRAME_OK);
	assert_true(json_is_real(json_array_get(f.data, 0)));
	assert_true(json_real_value(json_array_get(f.data, 0)) >
	    1.8e19);
	assert_true(json_real_value(json_array_get(f.data, 1)) == 1.5);
	assert_true(json_is_null(json_array_get(f.data, 2)));
	assert_int_equal(json_integer_value(json_array_get(f.data, 3)), -128);
	assert_int_equal(json_integer_value(json_array_get(f.data, 4)), -1);
	assert_int_equal(f.nattach, 1);
	assert_int_equal(f.att[0].len, 0);
	assert_non_null(f.att[0].data);
	cf_frame_bcast_clear(&f);
	cf_buf_free(&b);
}

/* Build a frame whose data array is the given raw bytes. */
static int
decode_data(const void *raw, size_t n)
{
	struct cf_buf		 b = { 0 };
	struct cf_frame_bcast	 f;
	int			 rc;

	b_head(&b);
	b_bytes(&b, raw, n);
	b_tail(&b);
	rc = decode(&b, &f);
	assert_null(f.data);	/* only used for failures */
	cf_frame_bcast_clear(&f);
	cf_buf_free(&b);
	return (rc);
}

/* A row of raw msgpack bytes, named for the failure message. */
struct raw {
	const char	*what;
	const char	*bytes;
	size_t		 len;
};
#define RAW(what, s)	{ (what), (s), sizeof(s) - 1 }

/* Every row, as the data array of a frame, is refused. */
static void
refuse_data(const struct raw *rows, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (decode_data(rows[i].bytes, rows[i].len) != CF_FRAME_EPROTO)
			fail_msg("data %s: not refused", rows[i].what);
	}
}

/* Ext types other than undefined's are refused. */
static void
test_other_ext(void **state)
{
	static const struct raw rows[] = {
		RAW("fixext1 type 1", "\x91\xd4\x01\x00"),
		RAW("ext type 0 size 2", "\x91\xd5\x00\x00\x00"),
		RAW("Date: timestamp ext -1",
		    "\x91\xd6\xff\x00\x00\x00\x01"),
	};

	(void)state;
	refuse_data(rows, sizeof(rows) / sizeof(rows[0]));
}

/*
 * A frame of head, data [1], nsp "/" and the given opts bytes: decoded
 * with rc, and then with nrooms rooms, the last one last_room.
 */
static void
decode_opts(const struct raw *r, int rc, size_t nrooms,
    const char *last_room)
{
	struct cf_buf		 b = { 0 };
	struct cf_frame_bcast	 f;

	b_head(&b);
	b_bytes(&b, "\x91\x01", 2);
	b_str(&b, "nsp");
	b_str(&b, "/");
	b_bytes(&b, r->bytes, r->len);
	if (decode(&b, &f) != rc)
		fail_msg("opts %s: not %d", r->what, rc);
	assert_int_equal(f.nrooms, nrooms);
	if (last_room != NULL)
		assert_string_equal(f.rooms[nrooms - 1], last_room);
	cf_frame_bcast_clear(&f);
	cf_buf_free(&b);
}

static void
test_wrong_types(void **state)
{
	static const struct raw data[] = {
		RAW("not an array", "\xa1x"),
		RAW("an empty array", "\x90"),
		RAW("nil", "\xc0"),
		RAW("a map with an int key", "\x91\x81\x01\x02"),
		/* invalid UTF-8 */
		RAW("an overlong '/'", "\x91\xa2\xc0\xaf"),
		RAW("a lone surrogate", "\x91\xa3\xed\xa0\x80"),
		RAW("the never-used byte c1", "\x91\xc1"),
	};
	/* Whole frames: [uid, packet, opts]. */
	static const struct raw bad_frames[] = {
		RAW("not an array", "\xc0"),
		RAW("too short", "\x91\xa1u"),
		RAW("too long", "\x94\xa1u\x82\xa4" "type" "\x02\xa4" "data"
		    "\x91\x01\x80\x80"),
		RAW("uid not a string", "\x93\x07\x82\xa4" "type"
		    "\x02\xa4" "data" "\x91\x01\x80"),
		RAW("packet.type 3", "\x93\xa1u\x82\xa4" "type"
		    "\x03\xa4" "data" "\x91\x01\x80"),
		RAW("packet.type \"2\"", "\x93\xa1u\x82\xa4" "type"
		    "\xa1" "2" "\xa4" "data" "\x91\x01\x80"),
		RAW("packet.type missing", "\x93\xa1u\x81\xa4" "data"
		    "\x91\x01\x80"),
	};
	/* The frame the bad ones are one change away from. */
	static const struct raw good_frame = RAW("well-formed",
	    "\x93\xa1u\x82\xa4" "type" "\x02\xa4" "data" "\x91\x01\x80");
	/* opts: not a map; rooms not an array; a room not a string ... */
	static const struct raw bad_opts[] = {
		RAW("not a map", "\x90"),
		RAW("rooms not an array", "\x81\xa5" "rooms" "\xa1r"),
		RAW("a room not a string", "\x81\xa5" "rooms" "\x92\xa1r\x01"),
		RAW("flags not a map", "\x81\xa5" "flags" "\x01"),
		RAW("a key not a string", "\x81\x01\x01"),
	};
	static const struct raw two_rooms = RAW("two rooms",
	    "\x81\xa5" "rooms" "\x92\xa1r\xa1s");
	struct cf_buf		 b = { 0 };
	struct cf_frame_bcast	 f;
	size_t			 r;
	int			 i;

	(void)state;
	refuse_data(data, sizeof(data) / sizeof(data[0]));

	/* 11 bin values: too many attachments. */
	cf_buf_reset(&b);
	b_head(&b);
	b_byte(&b, 0x9b);
	for (i = 0; i < 11; i++)
		b_bytes(&b, "\xc4\x01\x41", 3);
	b_tail(&b);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);
	assert_null(f.data);
	/* 10 is fine. */
	cf_buf_reset(&b);
	b_head(&b);
	b_byte(&b, 0x9a);
	for (i = 0; i < 10; i++)
		b_bytes(&b, "\xc4\x01\x41", 3);
	b_tail(&b);
	assert_int_equal(decode(&b, &f), CF_FRAME_OK);
	assert_int_equal(f.nattach, 10);
	assert_int_equal(f.att[9].data[0], 0x41);
	cf_frame_bcast_clear(&f);

	for (r = 0; r < sizeof(bad_frames) / sizeof(bad_frames[0]); r++) {
		if (cf_frame_decode((const uint8_t *)bad_frames[r].bytes,
		    bad_frames[r].len, &f) != CF_FRAME_EPROTO)
			fail_msg("frame %s: not refused", bad_frames[r].what);
		assert_null(f.data);
	}
	assert_int_equal(cf_frame_decode((const uint8_t *)good_frame.bytes,
	    good_frame.len, &f), CF_FRAME_OK);
	cf_frame_bcast_clear(&f);

	/* nsp an integer. */
	cf_buf_reset(&b);
	b_head(&b);
	b_bytes(&b, "\x91\x01", 2);
	b_str(&b, "nsp");
	b_byte(&b, 0x01);
	b_byte(&b, 0x80);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);

	for (r = 0; r < sizeof(bad_opts) / sizeof(bad_opts[0]); r++)
		decode_opts(&bad_opts[r], CF_FRAME_EPROTO, 0, NULL);
	decode_opts(&two_rooms, CF_FRAME_OK, 2, "s");

	/* Too many rooms. */
	cf_buf_reset(&b);
	b_head(&b);
	b_bytes(&b, "\x91\x01", 2);
	b_str(&b, "nsp");
	b_str(&b, "/");
	b_byte(&b, 0x81);
	b_str(&b, "except");
	b_byte(&b, 0xdc);
	b_byte(&b, 0x00);
	b_byte(&b, CF_FRAME_MAX_ROOMS + 1);
	for (i = 0; i <= CF_FRAME_MAX_ROOMS; i++)
		b_str(&b, "r");
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);
	cf_buf_free(&b);
}

static void
test_hostile_lengths(void **state)
{
	/* Containers and strings announcing more than is there. */
	static const struct raw rows[] = {
		RAW("array32 of 2^32-1", "\xdd\xff\xff\xff\xff"),
		RAW("map32 of 2^31-1", "\xdf\x7f\xff\xff\xff"),
		RAW("str32 of 2^32-1", "\x91\xdb\xff\xff\xff\xff"),
		RAW("bin32 of 2^32-1", "\x91\xc6\xff\xff\xff\xff"),
		RAW("ext32 of 2^32-1", "\x91\xc9\xff\xff\xff\xff\x00"),
	};

	(void)state;
	refuse_data(rows, sizeof(rows) / sizeof(rows[0]));
}

/*
 * Nesting: the data array may hold 29 more levels (30 in all with
 * itself); one more is rejected, on decode and on encode.
 */
static void
test_depth(void **state)
{
	struct cf_buf		 b = { 0 };
	struct cf_frame_bcast	 f;
	json_t			*data, *cur, *next;
	int			 i, levels;

	(void)state;
	for (levels = 30; levels <= 31; levels++) {
		cf_buf_reset(&b);
		b_head(&b);
		for (i = 0; i < levels - 1; i++)
			b_byte(&b, 0x91);
		b_byte(&b, 0x91);
		b_byte(&b, 0x01);
		b_tail(&b);
		assert_int_equal(decode(&b, &f),
		    levels == 30 ? CF_FRAME_OK : CF_FRAME_EPROTO);
		cf_frame_bcast_clear(&f);

		data = json_array();
		cur = data;
		for (i = 0; i < levels - 1; i++) {
			next = json_array();
			json_array_append_new(cur, next);
			cur = next;
		}
		json_array_append_new(cur, json_integer(1));
		assert_int_equal(cf_frame_encode("u", "/", data, NULL, 0,
		    NULL, 0, NULL, 0, 0, &b),
		    levels == 30 ? CF_FRAME_OK : CF_FRAME_EPROTO);
		if (levels == 30) {
			assert_int_equal(decode(&b, &f), CF_FRAME_OK);
			assert_true(json_equal(f.data, data));
			cf_frame_bcast_clear(&f);
		}
		json_decref(data);
	}
	/* Very deep input never reaches msgpack-c. */
	cf_buf_reset(&b);
	b_head(&b);
	for (i = 0; i < 5000; i++)
		b_byte(&b, 0x91);
	b_byte(&b, 0x01);
	b_tail(&b);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);
	cf_buf_free(&b);
}

/* Random corruption of a valid frame: any result but a crash or leak. */
static void
test_mutations(void **state)
{
	const char		*rooms[] = { "a", "b" };
	uint8_t			 bin[] = { 1, 2, 3 };
	struct cf_sio_att	 att = { bin, sizeof(bin) };
	struct cf_buf		 b = { 0 };
	struct cf_frame_bcast	 f;
	json_t			*data;
	uint8_t			*copy;
	int			 i, k, ok = 0;

	(void)state;
	data = J("[\"ev\",{\"k\":[1,2.5,\"s\",null,true]},"
	    "{\"_placeholder\":true,\"num\":0}]");
	assert_int_equal(cf_frame_encode("uid", "/", data, &att, 1, rooms, 2,
	    rooms, 1, CF_FRAME_VOLATILE, &b), CF_FRAME_OK);
	json_decref(data);
	copy = malloc(b.len);
	assert_non_null(copy);
	srand(1234);
	for (i = 0; i < 20000; i++) {
		memcpy(copy, b.data, b.len);
		for (k = 0; k < 1 + rand() % 3; k++)
			copy[rand() % b.len] = (uint8_t)rand();
		if (cf_frame_decode(copy, b.len - (size_t)(rand() % 2),
		    &f) == CF_FRAME_OK)
			ok++;
		cf_frame_bcast_clear(&f);
	}
	assert_true(ok > 0);
	free(copy);
	cf_buf_free(&b);
}

static void
test_channel(void **state)
{
	static const struct {
		size_t		 size;		/* of the buffer */
		const char	*nsp, *room;
		int		 rc;
		const char	*want;		/* NULL: not checked */
	} rows[] = {
		{ 64, "/", NULL, 12, "socket.io#/#" },
		{ 64, "/", "room1", 18, "socket.io#/#room1#" },
		{ 64, "/admin", NULL, 17, "socket.io#/admin#" },
		/* Exactly fits: 12 characters and the NUL. */
		{ 13, "/", NULL, 12, "socket.io#/#" },
		/* One short: an empty string. */
		{ 12, "/", NULL, -1, "" },
		{ 0, "/", NULL, -1, NULL },
		{ 64, "/", "a-very-long-room-name-that-does-not-fit-in-the-"
		    "buffer-at-all", -1, NULL },
	};
	char	 buf[64];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(cf_frame_channel(buf, rows[i].size,
		    "socket.io", rows[i].nsp, rows[i].room), rows[i].rc);
		if (rows[i].want != NULL)
			assert_string_equal(buf, rows[i].want);
	}
}

/* The uid read without decoding: every header form, and short input. */
static void
test_peek_uid(void **state)
{
	struct cf_buf	 b = { 0 };
	const char	*uid;
	size_t		 n, i;
	char		 long_uid[300];
	/* Array and string headers of every width. */
	static const struct {
		struct raw	 in;
		const char	*uid;
	} good[] = {
		{ RAW("array16, str8", "\xdc\x00\x03\xd9\x02" "hi" "\xc0"),
		    "hi" },
		{ RAW("array32, str16", "\xdd\x00\x00\x00\x03\xda\x00\x01"
		    "x"), "x" },
		{ RAW("str32", "\x93\xdb\x00\x00\x00\x02" "ab"), "ab" },
	};
	static const struct raw bad[] = {
		RAW("empty array", "\x90"),
		RAW("nothing after", "\x93"),
		RAW("not a string", "\x93\x01"),
		RAW("string too short", "\x93\xa5" "abc"),
		RAW("a map", "\x83\xa1" "a"),
		RAW("array16 of 0", "\xdc\x00\x00\xa1" "a"),
		RAW("str8 without length", "\x93\xd9"),
		RAW("str32 one byte short", "\x93\xdb\x00\x00\x00\x02" "a"),
	};

	(void)state;
	b_head(&b);
	assert_int_equal(cf_frame_peek_uid(b.data, b.len, &uid, &n),
	    CF_FRAME_OK);
	assert_int_equal(n, 7);
	assert_memory_equal(uid, "emitter", 7);
	cf_buf_free(&b);

	/* What cf_frame_encode writes, with a uid of 8-bit length. */
	memset(long_uid, 'u', sizeof(long_uid) - 1);
	long_uid[sizeof(long_uid) - 1] = '\0';
	for (i = 0; i < 3; i++) {
		const char *ids[] = { "host/0/abcdefgh", long_uid + 100,
		    long_uid };
		json_t *data = J("[\"ev\", 1]");

		assert_int_equal(cf_frame_encode(ids[i], "/", data, NULL, 0,
		    NULL, 0, NULL, 0, 0, &b), CF_FRAME_OK);
		assert_int_equal(cf_frame_peek_uid(b.data, b.len, &uid, &n),
		    CF_FRAME_OK);
		assert_int_equal(n, strlen(ids[i]));
		assert_memory_equal(uid, ids[i], n);
		json_decref(data);
		cf_buf_free(&b);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (cf_frame_peek_uid((const uint8_t *)good[i].in.bytes,
		    good[i].in.len, &uid, &n) != CF_FRAME_OK)
			fail_msg("%s: refused", good[i].in.what);
		assert_int_equal(n, strlen(good[i].uid));
		assert_memory_equal(uid, good[i].uid, n);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cf_frame_peek_uid((const uint8_t *)bad[i].bytes,
		    bad[i].len, &uid, &n) != CF_FRAME_EPROTO)
			fail_msg("%s: not refused", bad[i].what);
	}
	assert_int_equal(cf_frame_peek_uid(NULL, 0, &uid, &n),
	    CF_FRAME_EPROTO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_emitter_bytes),
		cmocka_unit_test(test_encode_bytes),
		cmocka_unit_test(test_roundtrip_text),
		cmocka_unit_test(test_roundtrip_binary),
		cmocka_unit_test(test_roundtrip_rooms_flags),
		cmocka_unit_test(test_undefined),
		cmocka_unit_test(test_other_ext),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_hostile_lengths),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_channel),
		cmocka_unit_test(test_peek_uid),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
