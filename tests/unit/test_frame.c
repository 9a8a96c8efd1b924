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
	return v;
}

static int
decode(struct cf_buf *b, struct cf_frame_bcast *f)
{
	return cf_frame_decode(b->data, b->len, f);
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

static void
test_roundtrip_text(void **state)
{
	(void)state;
	roundtrip("[\"chat\",\"hello\",42,-7,3.5,true,false,null,"
	    "\"\\u00fcn\\u00efcode \\u2603 \\ud83d\\ude00\",\"\","
	    "9223372036854775807,-9223372036854775808,1e300,-0.25]",
	    NULL, 0, NULL, 0, NULL, 0, 0);
	roundtrip("[\"only\"]", NULL, 0, NULL, 0, NULL, 0, 0);
	/* Strings with an embedded NUL survive. */
	roundtrip("[\"a\\u0000b\"]", NULL, 0, NULL, 0, NULL, 0, 0);
}

static void
test_roundtrip_nested(void **state)
{
	(void)state;
	roundtrip("[\"ev\",{\"a\":{\"b\":[1,{\"c\":null}],\"d\":\"e\"},"
	    "\"empty\":{},\"list\":[]},[[[[\"deep\"]]]]]",
	    NULL, 0, NULL, 0, NULL, 0, 0);
	/* Placeholder-like objects that are not exact placeholders. */
	roundtrip("[\"ev\",{\"_placeholder\":true,\"num\":0,\"x\":1},"
	    "{\"_placeholder\":false,\"num\":0},{\"_placeholder\":true,"
	    "\"num\":\"0\"}]", NULL, 0, NULL, 0, NULL, 0, 0);
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

	(void)state;
	roundtrip("[\"x\"]", NULL, 0, rooms, 3, except, 2, 0);
	roundtrip("[\"x\"]", NULL, 0, rooms, 1, NULL, 0, CF_FRAME_VOLATILE);
	roundtrip("[\"x\"]", NULL, 0, NULL, 0, except, 1, CF_FRAME_LOCAL);
	roundtrip("[\"x\"]", NULL, 0, NULL, 0, NULL, 0,
	    CF_FRAME_LOCAL | CF_FRAME_VOLATILE);
	for (i = 0; i <= CF_FRAME_MAX_ROOMS; i++)
		many[i] = "r";
	roundtrip("[\"x\"]", NULL, 0, many, CF_FRAME_MAX_ROOMS, many,
	    CF_FRAME_MAX_ROOMS, 0);

	data = J("[\"x\"]");
	assert_int_equal(cf_frame_encode("u", "/", data, NULL, 0, many,
	    CF_FRAME_MAX_ROOMS + 1, NULL, 0, 0, &b), CF_FRAME_EPROTO);
	json_decref(data);
	/* Not an array, or an empty one. */
	data = J("{\"a\":1}");
	assert_int_equal(cf_frame_encode("u", "/", data, NULL, 0, NULL, 0,
	    NULL, 0, 0, &b), CF_FRAME_EPROTO);
	json_decref(data);
	data = J("[]");
	assert_int_equal(cf_frame_encode("u", "/", data, NULL, 0, NULL, 0,
	    NULL, 0, 0, &b), CF_FRAME_EPROTO);
	json_decref(data);
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

	/* Other ext types are rejected: fixext1 type 1, ext8 type 0 size 2. */
	cf_buf_reset(&b);
	b_head(&b);
	b_byte(&b, 0x91);
	b_bytes(&b, "\xd4\x01\x00", 3);
	b_tail(&b);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);
	cf_buf_reset(&b);
	b_head(&b);
	b_byte(&b, 0x91);
	b_bytes(&b, "\xd5\x00\x00\x00", 4);
	b_tail(&b);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);
	/* Date: timestamp ext -1. */
	cf_buf_reset(&b);
	b_head(&b);
	b_byte(&b, 0x91);
	b_bytes(&b, "\xd6\xff\x00\x00\x00\x01", 6);
	b_tail(&b);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);
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
	return rc;
}

static void
test_wrong_types(void **state)
{
	struct cf_buf		 b = { 0 };
	struct cf_frame_bcast	 f;
	int			 i;

	(void)state;
	/* data: not an array, empty array, a map with an int key. */
	assert_int_equal(decode_data("\xa1x", 2), CF_FRAME_EPROTO);
	assert_int_equal(decode_data("\x90", 1), CF_FRAME_EPROTO);
	assert_int_equal(decode_data("\xc0", 1), CF_FRAME_EPROTO);
	assert_int_equal(decode_data("\x91\x81\x01\x02", 4),
	    CF_FRAME_EPROTO);
	/* invalid UTF-8 (overlong '/', lone surrogate) */
	assert_int_equal(decode_data("\x91\xa2\xc0\xaf", 4), CF_FRAME_EPROTO);
	assert_int_equal(decode_data("\x91\xa3\xed\xa0\x80", 5),
	    CF_FRAME_EPROTO);
	/* the never-used byte c1 */
	assert_int_equal(decode_data("\x91\xc1", 2), CF_FRAME_EPROTO);

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

	/* Top level: not an array, too short, too long. */
	assert_int_equal(cf_frame_decode((const uint8_t *)"\xc0", 1, &f),
	    CF_FRAME_EPROTO);
	assert_int_equal(cf_frame_decode((const uint8_t *)"\x91\xa1u", 3,
	    &f), CF_FRAME_EPROTO);
	cf_buf_reset(&b);
	b_byte(&b, 0x94);
	b_str(&b, "u");
	b_byte(&b, 0x82);
	b_str(&b, "type");
	b_byte(&b, 0x02);
	b_str(&b, "data");
	b_byte(&b, 0x91);
	b_byte(&b, 0x01);
	b_byte(&b, 0x80);
	b_byte(&b, 0x80);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);
	b.data[0] = 0x93;	/* now well-formed: drop the 4th element */
	b.len--;
	assert_int_equal(decode(&b, &f), CF_FRAME_OK);
	cf_frame_bcast_clear(&f);

	/* uid not a string. */
	cf_buf_reset(&b);
	b_byte(&b, 0x93);
	b_byte(&b, 0x07);
	b_byte(&b, 0x82);
	b_str(&b, "type");
	b_byte(&b, 0x02);
	b_str(&b, "data");
	b_byte(&b, 0x91);
	b_byte(&b, 0x01);
	b_byte(&b, 0x80);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);

	/* packet.type 3, "2", missing. */
	cf_buf_reset(&b);
	b_byte(&b, 0x93);
	b_str(&b, "u");
	b_byte(&b, 0x82);
	b_str(&b, "type");
	b_byte(&b, 0x03);
	b_str(&b, "data");
	b_byte(&b, 0x91);
	b_byte(&b, 0x01);
	b_byte(&b, 0x80);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);
	b.data[9] = 0x02;
	assert_int_equal(decode(&b, &f), CF_FRAME_OK);
	cf_frame_bcast_clear(&f);
	cf_buf_reset(&b);
	b_byte(&b, 0x93);
	b_str(&b, "u");
	b_byte(&b, 0x82);
	b_str(&b, "type");
	b_str(&b, "2");
	b_str(&b, "data");
	b_byte(&b, 0x91);
	b_byte(&b, 0x01);
	b_byte(&b, 0x80);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);
	cf_buf_reset(&b);
	b_byte(&b, 0x93);
	b_str(&b, "u");
	b_byte(&b, 0x81);
	b_str(&b, "data");
	b_byte(&b, 0x91);
	b_byte(&b, 0x01);
	b_byte(&b, 0x80);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);

	/* nsp an integer. */
	cf_buf_reset(&b);
	b_head(&b);
	b_bytes(&b, "\x91\x01", 2);
	b_str(&b, "nsp");
	b_byte(&b, 0x01);
	b_byte(&b, 0x80);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);

	/* opts: not a map; rooms not an array; a room not a string. */
	cf_buf_reset(&b);
	b_head(&b);
	b_bytes(&b, "\x91\x01", 2);
	b_str(&b, "nsp");
	b_str(&b, "/");
	b_byte(&b, 0x90);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);
	b.len--;
	b_byte(&b, 0x81);
	b_str(&b, "rooms");
	b_str(&b, "r");
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);
	b.len -= 2;
	b_byte(&b, 0x92);
	b_str(&b, "r");
	b_byte(&b, 0x01);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);
	assert_int_equal(f.nrooms, 0);
	b.len--;
	b_str(&b, "s");
	assert_int_equal(decode(&b, &f), CF_FRAME_OK);
	assert_int_equal(f.nrooms, 2);
	assert_string_equal(f.rooms[1], "s");
	cf_frame_bcast_clear(&f);
	/* flags not a map; opts key not a string. */
	b.len -= 11;
	b_str(&b, "flags");
	b_byte(&b, 0x01);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);
	b.len -= 7;
	b_byte(&b, 0x01);
	b_byte(&b, 0x01);
	assert_int_equal(decode(&b, &f), CF_FRAME_EPROTO);

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
	(void)state;
	/* Containers and strings announcing more than is there. */
	assert_int_equal(decode_data("\xdd\xff\xff\xff\xff", 5),
	    CF_FRAME_EPROTO);
	assert_int_equal(decode_data("\xdf\x7f\xff\xff\xff", 5),
	    CF_FRAME_EPROTO);
	assert_int_equal(decode_data("\x91\xdb\xff\xff\xff\xff", 6),
	    CF_FRAME_EPROTO);
	assert_int_equal(decode_data("\x91\xc6\xff\xff\xff\xff", 6),
	    CF_FRAME_EPROTO);
	assert_int_equal(decode_data("\x91\xc9\xff\xff\xff\xff\x00", 7),
	    CF_FRAME_EPROTO);
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
	char	 buf[64];

	(void)state;
	assert_int_equal(cf_frame_channel(buf, sizeof(buf), "socket.io", "/",
	    NULL), 12);
	assert_string_equal(buf, "socket.io#/#");
	assert_int_equal(cf_frame_channel(buf, sizeof(buf), "socket.io", "/",
	    "room1"), 18);
	assert_string_equal(buf, "socket.io#/#room1#");
	assert_int_equal(cf_frame_channel(buf, sizeof(buf), "socket.io",
	    "/admin", NULL), 17);
	assert_string_equal(buf, "socket.io#/admin#");
	/* Exactly fits: 12 characters and the NUL. */
	assert_int_equal(cf_frame_channel(buf, 13, "socket.io", "/", NULL),
	    12);
	assert_int_equal(cf_frame_channel(buf, 12, "socket.io", "/", NULL),
	    -1);
	assert_string_equal(buf, "");
	assert_int_equal(cf_frame_channel(buf, 0, "socket.io", "/", NULL),
	    -1);
	assert_int_equal(cf_frame_channel(buf, sizeof(buf), "socket.io",
	    "/", "a-very-long-room-name-that-does-not-fit-in-the-buffer-at-"
	    "all"), -1);
}

/* The uid read without decoding: every header form, and short input. */
static void
test_peek_uid(void **state)
{
	struct cf_buf	 b = { 0 };
	const char	*uid;
	size_t		 n, i;
	char		 long_uid[300];
	static const uint8_t arr16[] = { 0xdc, 0x00, 0x03, 0xd9, 0x02, 'h',
	    'i', 0xc0 };
	static const uint8_t arr32[] = { 0xdd, 0x00, 0x00, 0x00, 0x03, 0xda,
	    0x00, 0x01, 'x' };
	static const uint8_t str32[] = { 0x93, 0xdb, 0x00, 0x00, 0x00, 0x02,
	    'a', 'b' };
	static const uint8_t *bad[] = {
	    (const uint8_t *)"\x90",			/* empty array */
	    (const uint8_t *)"\x93",			/* nothing after */
	    (const uint8_t *)"\x93\x01",		/* not a string */
	    (const uint8_t *)"\x93\xa5" "abc",		/* string too short */
	    (const uint8_t *)"\x83\xa1" "a",		/* a map */
	    (const uint8_t *)"\xdc\x00\x00\xa1" "a",	/* array16 of 0 */
	    (const uint8_t *)"\x93\xd9",		/* str8 without length */
	};
	static const size_t badlen[] = { 1, 1, 2, 5, 3, 5, 2 };

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
	assert_int_equal(cf_frame_peek_uid(arr16, sizeof(arr16), &uid, &n),
	    CF_FRAME_OK);
	assert_int_equal(n, 2);
	assert_memory_equal(uid, "hi", 2);
	assert_int_equal(cf_frame_peek_uid(arr32, sizeof(arr32), &uid, &n),
	    CF_FRAME_OK);
	assert_int_equal(n, 1);
	assert_int_equal(cf_frame_peek_uid(str32, sizeof(str32), &uid, &n),
	    CF_FRAME_OK);
	assert_int_equal(n, 2);
	assert_int_equal(cf_frame_peek_uid(str32, sizeof(str32) - 1, &uid,
	    &n), CF_FRAME_EPROTO);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cf_frame_peek_uid(bad[i], badlen[i], &uid,
		    &n), CF_FRAME_EPROTO);
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
		cmocka_unit_test(test_roundtrip_nested),
		cmocka_unit_test(test_roundtrip_binary),
		cmocka_unit_test(test_roundtrip_rooms_flags),
		cmocka_unit_test(test_undefined),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_hostile_lengths),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_channel),
		cmocka_unit_test(test_peek_uid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
