/*
 * test_sio.c -- Socket.IO v5 codec: every packet type both ways, binary
 * attachments, JSON.stringify-compatible output, and malformed input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/sio.h"

/* A string literal and its length (which may include NUL bytes). */
#define LIT(s)	(s), (sizeof(s) - 1)

#define PH(n)	"{\"_placeholder\":true,\"num\":" #n "}"

static uint32_t
lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 8);
}

static const char *
buf_str(struct cf_buf *b)
{
	assert_int_equal(cf_buf_appendc(b, '\0'), 0);
	b->len--;
	return ((const char *)b->data);
}

/* Serialise v (taking ownership) and compare with the expected text. */
static void
assert_dump(json_t *v, const char *want)
{
	struct cf_buf	 b = { 0 };

	assert_non_null(v);
	assert_int_equal(cf_sio_json_dump(v, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b), want);
	cf_buf_free(&b);
	json_decref(v);
}

static void
assert_dump_real(double d, const char *want)
{
	assert_dump(json_real(d), want);
}

/* Decode s and encode it again; the text must come back byte for byte. */
static void
assert_roundtrip(const char *s, size_t len)
{
	struct cf_sio_packet	 p;
	struct cf_buf		 b = { 0 };

	memset(&p, 0, sizeof(p));
	if (cf_sio_decode(s, len, &p) != CF_SIO_OK)
		fail_msg("rejected: %.*s", (int)len, s);
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_int_equal(b.len, len);
	assert_memory_equal(b.data, s, len);
	cf_sio_packet_clear(&p);
	cf_buf_free(&b);
}

/* A decode that must fail and leave p cleared. */
static void
assert_reject(const char *s, size_t len)
{
	struct cf_sio_packet	 p;
	int			 r;

	memset(&p, 0, sizeof(p));
	r = cf_sio_decode(s, len, &p);
	if (r != CF_SIO_EPROTO)
		fail_msg("accepted (%d): %.*s", r, (int)len, s);
	assert_null(p.data);
	assert_string_equal(p.nsp, "/");
	assert_int_equal(p.id, -1);
	assert_int_equal(p.nattach, 0);
	assert_int_equal(p.ngot, 0);
}

static void
test_decode_connect(void **state)
{
	struct cf_sio_packet	 p;

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(cf_sio_decode(LIT("0"), &p), CF_SIO_OK);
	assert_int_equal(p.type, CF_SIO_CONNECT);
	assert_string_equal(p.nsp, "/");
	assert_int_equal(p.id, -1);
	assert_null(p.data);
	assert_int_equal(p.nattach, 0);
	assert_false(cf_sio_incomplete(&p));

	assert_int_equal(cf_sio_decode(LIT("0/admin,{\"token\":\"123\"}"), &p),
	    CF_SIO_OK);
	assert_int_equal(p.type, CF_SIO_CONNECT);
	assert_string_equal(p.nsp, "/admin");
	assert_true(json_is_object(p.data));
	assert_string_equal(json_string_value(json_object_get(p.data,
	    "token")), "123");

	/* "40/custom" without a comma names /custom. */
	assert_int_equal(cf_sio_decode(LIT("0/custom"), &p), CF_SIO_OK);
	assert_string_equal(p.nsp, "/custom");
	assert_null(p.data);
	assert_int_equal(cf_sio_decode(LIT("0/admin,"), &p), CF_SIO_OK);
	assert_string_equal(p.nsp, "/admin");
	assert_null(p.data);
	assert_int_equal(cf_sio_decode(LIT("0{}"), &p), CF_SIO_OK);
	assert_int_equal(json_object_size(p.data), 0);
	/* The recovery auth of notes 2.6. */
	assert_int_equal(cf_sio_decode(
	    LIT("0{\"pid\":\"YHcX\",\"offset\":\"MzUPkW0\"}"), &p), CF_SIO_OK);
	assert_string_equal(json_string_value(json_object_get(p.data,
	    "offset")), "MzUPkW0");
	/* JSON.parse allows whitespace around the value. */
	assert_int_equal(cf_sio_decode(LIT("0/a, {\"x\" : 1 } \n"), &p),
	    CF_SIO_OK);
	assert_string_equal(p.nsp, "/a");
	assert_int_equal(json_integer_value(json_object_get(p.data, "x")), 1);
	cf_sio_packet_clear(&p);
}

static void
test_decode_disconnect(void **state)
{
	struct cf_sio_packet	 p;

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(cf_sio_decode(LIT("1"), &p), CF_SIO_OK);
	assert_int_equal(p.type, CF_SIO_DISCONNECT);
	assert_string_equal(p.nsp, "/");
	assert_null(p.data);
	assert_int_equal(cf_sio_decode(LIT("1/admin,"), &p), CF_SIO_OK);
	assert_int_equal(p.type, CF_SIO_DISCONNECT);
	assert_string_equal(p.nsp, "/admin");
	assert_null(p.data);
	assert_int_equal(cf_sio_decode(LIT("1/admin"), &p), CF_SIO_OK);
	assert_string_equal(p.nsp, "/admin");
	/* The reference reads an ack id on any type; so do we. */
	assert_int_equal(cf_sio_decode(LIT("1/admin,11"), &p), CF_SIO_OK);
	assert_int_equal(p.id, 11);
	assert_null(p.data);
	cf_sio_packet_clear(&p);
}

static void
test_decode_event(void **state)
{
	struct cf_sio_packet	 p;

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(cf_sio_decode(LIT("2[\"foo\"]"), &p), CF_SIO_OK);
	assert_int_equal(p.type, CF_SIO_EVENT);
	assert_string_equal(p.nsp, "/");
	assert_int_equal(p.id, -1);
	assert_int_equal(json_array_size(p.data), 1);
	assert_string_equal(json_string_value(json_array_get(p.data, 0)),
	    "foo");

	assert_int_equal(cf_sio_decode(LIT("2/admin,[\"bar\"]"), &p),
	    CF_SIO_OK);
	assert_string_equal(p.nsp, "/admin");
	assert_int_equal(p.id, -1);

	assert_int_equal(cf_sio_decode(LIT("212[\"foo\"]"), &p), CF_SIO_OK);
	assert_int_equal(p.type, CF_SIO_EVENT);
	assert_int_equal(p.id, 12);
	assert_string_equal(p.nsp, "/");

	assert_int_equal(cf_sio_decode(LIT("2/admin,0[\"foo\",1,{}]"), &p),
	    CF_SIO_OK);
	assert_int_equal(p.id, 0);
	assert_int_equal(json_array_size(p.data), 3);

	assert_int_equal(cf_sio_decode(
	    LIT("2456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]"), &p),
	    CF_SIO_OK);
	assert_int_equal(p.id, 456);

	/* A number is a valid event name; so is a name merely like a
	 * reserved one. */
	assert_int_equal(cf_sio_decode(LIT("2[42,\"x\"]"), &p), CF_SIO_OK);
	assert_int_equal(cf_sio_decode(LIT("2[1.5]"), &p), CF_SIO_OK);
	assert_int_equal(cf_sio_decode(LIT("2[\"Connect\"]"), &p), CF_SIO_OK);
	assert_int_equal(cf_sio_decode(LIT("2[\"connected\"]"), &p),
	    CF_SIO_OK);
	assert_int_equal(cf_sio_decode(LIT("2[\"connect\\u0000\"]"), &p),
	    CF_SIO_OK);

	/* Largest ack id. */
	assert_int_equal(cf_sio_decode(LIT("29223372036854775807[\"a\"]"), &p),
	    CF_SIO_OK);
	assert_int_equal(p.id, INT64_MAX);

	/* A placeholder in a plain EVENT is just data. */
	assert_int_equal(cf_sio_decode(LIT("2[\"a\"," PH(0) "]"), &p),
	    CF_SIO_OK);
	assert_int_equal(p.nattach, 0);
	assert_false(cf_sio_incomplete(&p));
	cf_sio_packet_clear(&p);
}

static void
test_decode_ack(void **state)
{
	struct cf_sio_packet	 p;

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(cf_sio_decode(LIT("3/admin,13[\"bar\"]"), &p),
	    CF_SIO_OK);
	assert_int_equal(p.type, CF_SIO_ACK);
	assert_string_equal(p.nsp, "/admin");
	assert_int_equal(p.id, 13);
	assert_string_equal(json_string_value(json_array_get(p.data, 0)),
	    "bar");
	assert_int_equal(cf_sio_decode(LIT("30[]"), &p), CF_SIO_OK);
	assert_int_equal(p.id, 0);
	assert_int_equal(json_array_size(p.data), 0);
	/* ACK arguments are unrestricted, reserved names included. */
	assert_int_equal(cf_sio_decode(LIT("37[\"connect\",null,{}]"), &p),
	    CF_SIO_OK);
	cf_sio_packet_clear(&p);
}

static void
test_decode_connect_error(void **state)
{
	struct cf_sio_packet	 p;

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(cf_sio_decode(
	    LIT("4/random,{\"message\":\"Invalid namespace\"}"), &p),
	    CF_SIO_OK);
	assert_int_equal(p.type, CF_SIO_CONNECT_ERROR);
	assert_string_equal(p.nsp, "/random");
	assert_string_equal(json_string_value(json_object_get(p.data,
	    "message")), "Invalid namespace");
	assert_int_equal(cf_sio_decode(LIT("4\"boom\""), &p), CF_SIO_OK);
	assert_string_equal(json_string_value(p.data), "boom");
	cf_sio_packet_clear(&p);
}

static void
test_decode_binary(void **state)
{
	struct cf_sio_packet	 p;

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(cf_sio_decode(
	    LIT("51-[\"baz\"," PH(0) "]"), &p), CF_SIO_OK);
	assert_int_equal(p.type, CF_SIO_BINARY_EVENT);
	assert_int_equal(p.nattach, 1);
	assert_int_equal(p.ngot, 0);
	assert_int_equal(p.id, -1);
	assert_true(cf_sio_incomplete(&p));
	/* The placeholder stays in the JSON. */
	assert_true(json_is_true(json_object_get(json_array_get(p.data, 1),
	    "_placeholder")));

	assert_int_equal(cf_sio_decode(
	    LIT("61-15[\"bar\"," PH(0) "]"), &p), CF_SIO_OK);
	assert_int_equal(p.type, CF_SIO_BINARY_ACK);
	assert_int_equal(p.nattach, 1);
	assert_int_equal(p.id, 15);

	assert_int_equal(cf_sio_decode(
	    LIT("52-/admin,789[\"x\",{\"a\":[" PH(1) "]}," PH(0) "]"), &p),
	    CF_SIO_OK);
	assert_int_equal(p.nattach, 2);
	assert_string_equal(p.nsp, "/admin");
	assert_int_equal(p.id, 789);

	/* Zero attachments is complete at once; leading zeros are digits. */
	assert_int_equal(cf_sio_decode(LIT("50-[\"x\"]"), &p), CF_SIO_OK);
	assert_int_equal(p.nattach, 0);
	assert_false(cf_sio_incomplete(&p));
	assert_int_equal(cf_sio_decode(LIT("601-[" PH(0) "]"), &p), CF_SIO_OK);
	assert_int_equal(p.nattach, 1);

	/* The maximum: ten attachments, in any order in the JSON. */
	assert_int_equal(cf_sio_decode(LIT("510-[\"t\"," PH(9) "," PH(8) ","
	    PH(7) "," PH(6) "," PH(5) "," PH(4) "," PH(3) "," PH(2) ","
	    PH(1) "," PH(0) "]"), &p), CF_SIO_OK);
	assert_int_equal(p.nattach, 10);
	cf_sio_packet_clear(&p);
}

/*
 * Attachments are stored in arrival order: att[N] is the Nth binary message,
 * which is what placeholder num N refers to.
 */
static void
test_attachments(void **state)
{
	struct cf_sio_packet	 p;
	struct cf_buf		 b = { 0 };
	int			 i;

	(void)state;
	memset(&p, 0, sizeof(p));
	/* An EVENT must start with a name, an ACK need not. */
	assert_reject(LIT("52-789[" PH(1) "," PH(0) "]"));
	assert_int_equal(cf_sio_decode(
	    LIT("62-789[" PH(1) "," PH(0) "]"), &p), CF_SIO_OK);
	assert_int_equal(p.type, CF_SIO_BINARY_ACK);
	assert_int_equal(p.nattach, 2);
	assert_true(cf_sio_incomplete(&p));
	assert_int_equal(cf_sio_add_attachment(&p,
	    (const uint8_t *)"\x01\x02", 2), 0);
	assert_true(cf_sio_incomplete(&p));
	assert_int_equal(p.ngot, 1);
	assert_int_equal(cf_sio_add_attachment(&p,
	    (const uint8_t *)"\x03", 1), 1);
	assert_false(cf_sio_incomplete(&p));
	assert_int_equal(p.ngot, 2);
	assert_int_equal(p.att[0].len, 2);
	assert_memory_equal(p.att[0].data, "\x01\x02", 2);
	assert_int_equal(p.att[1].len, 1);
	assert_memory_equal(p.att[1].data, "\x03", 1);
	/* The JSON still says which attachment goes where. */
	assert_int_equal(json_integer_value(json_object_get(
	    json_array_get(p.data, 0), "num")), 1);
	assert_int_equal(json_integer_value(json_object_get(
	    json_array_get(p.data, 1), "num")), 0);

	/* One more is unexpected. */
	assert_int_equal(cf_sio_add_attachment(&p,
	    (const uint8_t *)"\x04", 1), CF_SIO_EPROTO);
	assert_int_equal(p.ngot, 2);

	/* Re-encode as the server's ack of notes 2.3 (ACK + attachments). */
	p.type = CF_SIO_ACK;
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b), "62-789[" PH(1) "," PH(0) "]");
	cf_sio_packet_clear(&p);
	assert_null(p.att[0].data);
	assert_int_equal(p.ngot, 0);

	/* Binary on a packet that announced none. */
	assert_int_equal(cf_sio_decode(LIT("2[\"x\"]"), &p), CF_SIO_OK);
	assert_int_equal(cf_sio_add_attachment(&p,
	    (const uint8_t *)"x", 1), CF_SIO_EPROTO);
	assert_int_equal(cf_sio_decode(LIT("50-[\"x\"]"), &p), CF_SIO_OK);
	assert_int_equal(cf_sio_add_attachment(&p,
	    (const uint8_t *)"x", 1), CF_SIO_EPROTO);
	/* ...and on a cleared packet. */
	cf_sio_packet_clear(&p);
	assert_int_equal(cf_sio_add_attachment(&p,
	    (const uint8_t *)"x", 1), CF_SIO_EPROTO);

	/* Empty attachments are fine; ten of them fill the packet. */
	assert_int_equal(cf_sio_decode(LIT("510-[\"t\"," PH(0) "," PH(1) ","
	    PH(2) "," PH(3) "," PH(4) "," PH(5) "," PH(6) "," PH(7) ","
	    PH(8) "," PH(9) "]"), &p), CF_SIO_OK);
	for (i = 0; i < 9; i++)
		assert_int_equal(cf_sio_add_attachment(&p, NULL, 0), 0);
	assert_int_equal(cf_sio_add_attachment(&p, NULL, 0), 1);
	assert_int_equal(cf_sio_add_attachment(&p, NULL, 0), CF_SIO_EPROTO);
	assert_int_equal(p.att[9].len, 0);
	assert_non_null(p.att[9].data);

	/* Decoding into a packet with attachments releases them first. */
	assert_int_equal(cf_sio_decode(LIT("1"), &p), CF_SIO_OK);
	assert_null(p.att[0].data);
	assert_int_equal(p.nattach, 0);
	cf_sio_packet_clear(&p);
	cf_buf_free(&b);
}

static void
test_encode(void **state)
{
	struct cf_sio_packet	 p;
	struct cf_buf		 b = { 0 };

	(void)state;
	memset(&p, 0, sizeof(p));
	cf_sio_packet_clear(&p);
	assert_string_equal(p.nsp, "/");
	assert_int_equal(p.id, -1);

	/* Server CONNECT reply. */
	p.type = CF_SIO_CONNECT;
	p.data = json_pack("{s:s}", "sid", "x");
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b), "0{\"sid\":\"x\"}");
	strcpy(p.nsp, "/admin");
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b), "0/admin,{\"sid\":\"x\"}");
	cf_sio_packet_clear(&p);

	/* CONNECT_ERROR. */
	p.type = CF_SIO_CONNECT_ERROR;
	strcpy(p.nsp, "/random");
	p.data = json_pack("{s:s}", "message", "Invalid namespace");
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b),
	    "4/random,{\"message\":\"Invalid namespace\"}");
	cf_sio_packet_clear(&p);

	/* DISCONNECT, with the reference's trailing comma. */
	p.type = CF_SIO_DISCONNECT;
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b), "1");
	strcpy(p.nsp, "/admin");
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b), "1/admin,");
	/* An empty namespace counts as "/". */
	p.nsp[0] = '\0';
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b), "1");
	cf_sio_packet_clear(&p);

	/* EVENT / ACK with and without ids. */
	p.type = CF_SIO_EVENT;
	p.data = json_pack("[s,i,s,{s:[b]}]", "message-back", 1, "2", "3", 0);
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b),
	    "2[\"message-back\",1,\"2\",{\"3\":[false]}]");
	p.id = 7;
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b),
	    "27[\"message-back\",1,\"2\",{\"3\":[false]}]");
	p.type = CF_SIO_ACK;
	p.id = 456;
	json_array_remove(p.data, 0);
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b), "3456[1,\"2\",{\"3\":[false]}]");
	cf_sio_packet_clear(&p);

	/* EVENT with attachments becomes BINARY_EVENT. */
	p.type = CF_SIO_EVENT;
	p.data = json_pack("[s,{s:b,s:i}]", "x", "_placeholder", 1, "num", 0);
	assert_int_equal(cf_sio_add_attachment(&p,
	    (const uint8_t *)"\x01\x02\x03", 3), CF_SIO_EPROTO);
	p.nattach = 1;
	assert_int_equal(cf_sio_add_attachment(&p,
	    (const uint8_t *)"\x01\x02\x03", 3), 1);
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b), "51-[\"x\"," PH(0) "]");
	strcpy(p.nsp, "/n");
	p.id = 3;
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b), "51-/n,3[\"x\"," PH(0) "]");
	/* A BINARY_* type without attachments is written as plain. */
	p.type = CF_SIO_BINARY_ACK;
	p.nattach = 0;
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b), "3/n,3[\"x\"," PH(0) "]");
	p.nattach = 1;
	cf_sio_packet_clear(&p);
	cf_buf_free(&b);
}

/* cf_sio_event: an EVENT with no ack id that borrows args and the bytes. */
static void
test_event(void **state)
{
	struct cf_sio_packet	 p;
	struct cf_buf		 b = { 0 };
	struct cf_sio_att	 att[2] = {
		{ (uint8_t *)"\x01", 1 }, { (uint8_t *)"\x02\x03", 2 } };
	json_t			*args;
	char			 nsp[CF_SIO_MAX_NSP + 10];

	(void)state;
	args = json_pack("[s,{s:i}]", "chat:new", "id", 1);
	cf_sio_event(&p, "/", args, NULL, 0);
	assert_int_equal(p.type, CF_SIO_EVENT);
	assert_int_equal(p.id, -1);
	assert_int_equal(p.nattach, 0);
	assert_ptr_equal(p.data, args);
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b), "2[\"chat:new\",{\"id\":1}]");
	cf_sio_event(&p, "/admin", args, NULL, 0);
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b),
	    "2/admin,[\"chat:new\",{\"id\":1}]");
	/* The args are borrowed: still one reference, the caller's. */
	assert_int_equal(args->refcount, 1);
	json_decref(args);

	/* With attachments: BINARY_EVENT, the bytes borrowed. */
	args = json_pack("[s,o,o]", "x", json_pack("{s:b,s:i}",
	    "_placeholder", 1, "num", 0), json_pack("{s:b,s:i}",
	    "_placeholder", 1, "num", 1));
	cf_sio_event(&p, "/", args, att, 2);
	assert_int_equal(p.nattach, 2);
	assert_ptr_equal(p.att[0].data, att[0].data);
	assert_int_equal(p.att[1].len, 2);
	assert_null(p.att[2].data);
	assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
	assert_string_equal(buf_str(&b),
	    "52-[\"x\"," PH(0) "," PH(1) "]");
	json_decref(args);

	/* A namespace too long is cut, NUL-terminated. */
	memset(nsp, 'n', sizeof(nsp) - 1);
	nsp[0] = '/';
	nsp[sizeof(nsp) - 1] = '\0';
	cf_sio_event(&p, nsp, NULL, NULL, 0);
	assert_int_equal(strlen(p.nsp), CF_SIO_MAX_NSP - 1);
	cf_buf_free(&b);
}

static void
test_roundtrip(void **state)
{
	(void)state;
	assert_roundtrip(LIT("0"));
	assert_roundtrip(LIT("0/admin,{\"token\":\"123\"}"));
	assert_roundtrip(LIT("0{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}"));
	assert_roundtrip(LIT("1"));
	assert_roundtrip(LIT("1/admin,"));
	assert_roundtrip(LIT("2[\"foo\"]"));
	assert_roundtrip(LIT("2/admin,[\"bar\"]"));
	assert_roundtrip(LIT("212[\"foo\"]"));
	assert_roundtrip(LIT("3/admin,13[\"bar\"]"));
	assert_roundtrip(LIT("3[]"));
	assert_roundtrip(LIT("4/random,{\"message\":\"Invalid namespace\"}"));
	assert_roundtrip(LIT("4\"boom\""));
	assert_roundtrip(LIT("51-[\"baz\"," PH(0) "]"));
	assert_roundtrip(LIT("61-15[\"bar\"," PH(0) "]"));
	assert_roundtrip(LIT("52-/admin,789[\"x\",{\"a\":[" PH(1) "]},"
	    PH(0) "]"));
	assert_roundtrip(LIT("2[\"message-with-ack\",1,\"2\","
	    "{\"3\":[false]}]"));
	assert_roundtrip(LIT("2[\"z\",{\"z\":1,\"a\":2,\"m\":[null,true,"
	    "false,-3,0.5,\"\"]},[],{}]"));
	assert_roundtrip(LIT("2[\"utf8\",\"h\xc3\xa9llo \xe2\x82\xac "
	    "\xf0\x9f\x98\x80\",\"a/b\"]"));
	assert_roundtrip(LIT("2[\"esc\",\"\\\"\\\\\\b\\f\\n\\r\\t\\u0001"
	    "\\u001f\\u0000\"]"));

	/* Forms the encoder normalises. */
	{
		struct cf_sio_packet	 p;
		struct cf_buf		 b = { 0 };

		memset(&p, 0, sizeof(p));
		assert_int_equal(cf_sio_decode(LIT("0/custom"), &p), CF_SIO_OK);
		assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
		assert_string_equal(buf_str(&b), "0/custom,");
		assert_int_equal(cf_sio_decode(LIT("2[ \"a\" , 1.0 ,"
		    "\"\\u00e9\\/\" ]"), &p), CF_SIO_OK);
		assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
		assert_string_equal(buf_str(&b), "2[\"a\",1,\"\xc3\xa9/\"]");
		assert_int_equal(cf_sio_decode(LIT("2[\"n\",1.0,0.1,1e21,"
		    "2.5e-7,-0.0,1E2,123456789012345678]"), &p), CF_SIO_OK);
		assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
		assert_string_equal(buf_str(&b),
		    "2[\"n\",1,0.1,1e+21,2.5e-7,0,100,123456789012345678]");
		/* Duplicate keys: the last value wins in the first place. */
		assert_int_equal(cf_sio_decode(LIT("2[\"d\",{\"a\":1,\"b\":2,"
		    "\"a\":3}]"), &p), CF_SIO_OK);
		assert_int_equal(cf_sio_encode(&p, &b), CF_SIO_OK);
		assert_string_equal(buf_str(&b), "2[\"d\",{\"a\":3,\"b\":2}]");
		cf_sio_packet_clear(&p);
		cf_buf_free(&b);
	}
}

static void
test_reject(void **state)
{
	char	 nsp[CF_SIO_MAX_NSP + 16];
	size_t	 n;

	(void)state;
	/* Type. */
	assert_reject(LIT(""));
	assert_reject(NULL, 0);
	assert_reject(LIT("7"));
	assert_reject(LIT("9[\"a\"]"));
	assert_reject(LIT("a"));
	assert_reject(LIT("abc"));
	assert_reject(LIT("/"));
	assert_reject(LIT(" 2[\"a\"]"));
	assert_reject(LIT("\0002[\"a\"]"));
	assert_reject(LIT("\xff"));

	/* EVENT payloads. */
	assert_reject(LIT("2{}"));
	assert_reject(LIT("2abc[\"foo\"]"));
	assert_reject(LIT("2[]"));
	assert_reject(LIT("2[{}]"));
	assert_reject(LIT("2[null]"));
	assert_reject(LIT("2[true]"));
	assert_reject(LIT("2[[\"a\"]]"));
	assert_reject(LIT("2\"foo\""));
	assert_reject(LIT("21"));
	assert_reject(LIT("2null"));
	assert_reject(LIT("2"));
	assert_reject(LIT("2/admin,"));
	assert_reject(LIT("2/admin[\"a\"]"));
	assert_reject(LIT("2[\"connect\"]"));
	assert_reject(LIT("2[\"connect_error\",1]"));
	assert_reject(LIT("2[\"disconnect\"]"));
	assert_reject(LIT("2[\"disconnecting\"]"));
	assert_reject(LIT("2[\"newListener\"]"));
	assert_reject(LIT("2[\"removeListener\"]"));
	assert_reject(LIT("2/admin,5[\"disconnect\"]"));

	/* ACK payloads. */
	assert_reject(LIT("3"));
	assert_reject(LIT("31"));
	assert_reject(LIT("3{}"));
	assert_reject(LIT("31\"x\""));

	/* CONNECT, DISCONNECT and CONNECT_ERROR payloads. */
	assert_reject(LIT("0[]"));
	assert_reject(LIT("0\"s\""));
	assert_reject(LIT("0null"));
	assert_reject(LIT("0/admin,[1]"));
	assert_reject(LIT("0 "));
	assert_reject(LIT("1{}"));
	assert_reject(LIT("1/admin,{}"));
	assert_reject(LIT("1\"x\""));
	assert_reject(LIT("1[]"));
	assert_reject(LIT("1 "));
	assert_reject(LIT("4"));
	assert_reject(LIT("4[]"));
	assert_reject(LIT("41"));
	assert_reject(LIT("4null"));

	/* Attachment counts. */
	assert_reject(LIT("5-[\"a\"]"));
	assert_reject(LIT("6-1[\"a\"]"));
	assert_reject(LIT("5"));
	assert_reject(LIT("51"));
	assert_reject(LIT("51-"));
	assert_reject(LIT("5a-[\"a\"]"));
	assert_reject(LIT("51a-[\"a\"]"));
	assert_reject(LIT("5 1-[\"a\"]"));
	assert_reject(LIT("5+1-[\"a\"]"));
	assert_reject(LIT("5-1-[\"a\"]"));
	assert_reject(LIT("511-[\"a\"]"));
	assert_reject(LIT("599999999999999999999999-[\"a\"]"));
	assert_reject(LIT("51[\"a\"," PH(0) "]"));
	assert_reject(LIT("61[" PH(0) "]"));

	/* Placeholders must match the count exactly. */
	assert_reject(LIT("51-[\"a\"]"));
	assert_reject(LIT("52-[\"a\"," PH(0) "]"));
	assert_reject(LIT("51-[\"a\"," PH(0) "," PH(0) "]"));
	assert_reject(LIT("52-[\"a\"," PH(0) "," PH(0) "]"));
	assert_reject(LIT("51-[\"a\"," PH(1) "]"));
	assert_reject(LIT("51-[\"a\"," PH(-1) "]"));
	assert_reject(LIT("51-[\"a\",{\"_placeholder\":true,\"num\":\"0\"}]"));
	assert_reject(LIT("51-[\"a\",{\"_placeholder\":true,\"num\":0.5}]"));
	assert_reject(LIT("51-[\"a\",{\"_placeholder\":true}]"));
	assert_reject(LIT("51-[\"a\",{\"_placeholder\":false,\"num\":0}]"));
	assert_reject(LIT("50-[\"a\"," PH(0) "]"));
	assert_reject(LIT("51-[\"connect\"," PH(0) "]"));
	assert_reject(LIT("51-{\"x\":" PH(0) "}"));
	assert_reject(LIT("61-" PH(0)));
	assert_reject(LIT("51-"));

	/* Ack ids. */
	assert_reject(LIT("29223372036854775808[\"a\"]"));
	assert_reject(LIT("299999999999999999999[\"a\"]"));
	assert_reject(LIT("3/a,99999999999999999999999999[]"));

	/* JSON that jansson or JSON.parse refuses, trailing garbage. */
	assert_reject(LIT("2[\"a\""));
	assert_reject(LIT("2[\"a\",]"));
	assert_reject(LIT("2[\"a\"]]"));
	assert_reject(LIT("2[\"a\"] x"));
	assert_reject(LIT("2[\"a\"][\"b\"]"));
	assert_reject(LIT("2[\"a\"]\0"));
	assert_reject(LIT("2['a']"));
	assert_reject(LIT("2[\"\xff\"]"));
	assert_reject(LIT("2[\"\xc3\"]"));
	assert_reject(LIT("2[\"a\",1e400]"));
	assert_reject(LIT("2[\"a\",18446744073709551616]"));
	assert_reject(LIT("2[\"a\",NaN]"));
	assert_reject(LIT("2[\"a\",\"\x01\"]"));
	assert_reject(LIT("0{\"a\":1,}"));
	/* jansson cannot hold a NUL in an object key (JS can). */
	assert_reject(LIT("2[\"k\",{\"a\\u0000b\":1}]"));

	/* Namespaces: NUL bytes and length. */
	assert_reject(LIT("0/ad\0min,{}"));
	nsp[0] = '0';
	nsp[1] = '/';
	for (n = 2; n < CF_SIO_MAX_NSP + 1; n++)
		nsp[n] = 'x';
	/* "0" + a namespace of CF_SIO_MAX_NSP bytes: one too long. */
	assert_reject(nsp, CF_SIO_MAX_NSP + 1);
	{
		struct cf_sio_packet	 p;

		memset(&p, 0, sizeof(p));
		assert_int_equal(cf_sio_decode(nsp, CF_SIO_MAX_NSP, &p),
		    CF_SIO_OK);
		assert_int_equal(strlen(p.nsp), CF_SIO_MAX_NSP - 1);
		cf_sio_packet_clear(&p);
	}
}

static void
test_reserved(void **state)
{
	(void)state;
	assert_true(cf_sio_reserved_event("connect"));
	assert_true(cf_sio_reserved_event("connect_error"));
	assert_true(cf_sio_reserved_event("disconnect"));
	assert_true(cf_sio_reserved_event("disconnecting"));
	assert_true(cf_sio_reserved_event("newListener"));
	assert_true(cf_sio_reserved_event("removeListener"));
	assert_false(cf_sio_reserved_event(""));
	assert_false(cf_sio_reserved_event("message"));
	assert_false(cf_sio_reserved_event("Connect"));
	assert_false(cf_sio_reserved_event("connect "));
	assert_false(cf_sio_reserved_event("newlistener"));
}

static void
test_json_numbers(void **state)
{
	(void)state;
	assert_dump(json_integer(1), "1");
	assert_dump(json_integer(-5), "-5");
	assert_dump(json_integer(0), "0");
	assert_dump(json_integer(123456789012345678LL), "123456789012345678");
	assert_dump(json_integer(INT64_MIN), "-9223372036854775808");
	assert_dump(json_integer(INT64_MAX), "9223372036854775807");
	assert_dump_real(1.0, "1");
	assert_dump_real(-5.0, "-5");
	assert_dump_real(0.0, "0");
	assert_dump_real(-0.0, "0");
	assert_dump_real(0.1, "0.1");
	assert_dump_real(-0.1, "-0.1");
	assert_dump_real(1.5, "1.5");
	assert_dump_real(100.0, "100");
	assert_dump_real(123.456, "123.456");
	assert_dump_real(0.1 + 0.2, "0.30000000000000004");
	assert_dump_real(1.0 / 3.0, "0.3333333333333333");
	assert_dump_real(1e21, "1e+21");
	assert_dump_real(-1e21, "-1e+21");
	assert_dump_real(1.5e21, "1.5e+21");
	assert_dump_real(1e20, "100000000000000000000");
	assert_dump_real(9007199254740992.0, "9007199254740992");
	assert_dump_real(9007199254740993.0 * 2, "18014398509481984");
	assert_dump_real(123456789012345678.0, "123456789012345680");
	assert_dump_real(2.5e-7, "2.5e-7");
	assert_dump_real(1e-7, "1e-7");
	assert_dump_real(0.000001, "0.000001");
	assert_dump_real(0.0000015, "0.0000015");
	assert_dump_real(1.2345e-5, "0.000012345");
	assert_dump_real(5e-324, "5e-324");
	assert_dump_real(1.7976931348623157e308, "1.7976931348623157e+308");
	assert_dump_real(2.2250738585072014e-308, "2.2250738585072014e-308");
	assert_dump_real(1e300, "1e+300");
	assert_dump_real(4.35, "4.35");
	assert_dump_real(0.5, "0.5");
	/* jansson refuses to hold inf or nan, so "null" cannot be reached. */
	assert_null(json_real(INFINITY));
	assert_null(json_real(NAN));
}

/* Shortest output reads back to the same double. */
static void
test_json_real_roundtrip(void **state)
{
	struct cf_buf	 b = { 0 };
	json_t		*v;
	uint32_t	 seed = 2024;
	uint64_t	 bits;
	double		 d;
	int		 i;

	(void)state;
	for (i = 0; i < 20000; i++) {
		bits = (uint64_t)lcg(&seed) << 40 ^ (uint64_t)lcg(&seed) << 20 ^
		    lcg(&seed);
		bits ^= (uint64_t)lcg(&seed) << 60;
		memcpy(&d, &bits, sizeof(d));
		if (!isfinite(d))
			continue;
		cf_buf_reset(&b);
		v = json_real(d);
		assert_non_null(v);
		assert_int_equal(cf_sio_json_dump(v, &b), CF_SIO_OK);
		json_decref(v);
		assert_true(strtod(buf_str(&b), NULL) == d || d == 0);
		assert_true(b.len <= 25);
	}
	cf_buf_free(&b);
}

static void
test_json_strings(void **state)
{
	json_t	*o;

	(void)state;
	assert_dump(json_string("plain"), "\"plain\"");
	assert_dump(json_string(""), "\"\"");
	assert_dump(json_string("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
	assert_dump(json_string("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
	assert_dump(json_string("\x01\x1e\x1f\x7f"),
	    "\"\\u0001\\u001e\\u001f\x7f\"");
	assert_dump(json_string("h\xc3\xa9 \xe2\x80\xa8"),
	    "\"h\xc3\xa9 \xe2\x80\xa8\"");
	assert_dump(json_stringn("a\0b", 3), "\"a\\u0000b\"");
	assert_dump(json_true(), "true");
	assert_dump(json_false(), "false");
	assert_dump(json_null(), "null");
	assert_dump(json_array(), "[]");
	assert_dump(json_object(), "{}");

	o = json_object();
	json_object_set_new(o, "zeta", json_integer(1));
	json_object_set_new(o, "alpha", json_pack("[i,{s:n}]", 2, "q"));
	json_object_set_new(o, "mid", json_string("x"));
	json_object_set_new(o, "zeta", json_real(2.5));
	json_object_setn_new(o, "k\0ey", 4, json_true());
	assert_dump(o, "{\"zeta\":2.5,\"alpha\":[2,{\"q\":null}],\"mid\":\"x\","
	    "\"k\\u0000ey\":true}");
}

static void
test_json_dump_limits(void **state)
{
	struct cf_buf	 b = { 0 };
	json_t		*root, *cur, *next;
	int		 i;

	(void)state;
	assert_int_equal(cf_sio_json_dump(NULL, &b), CF_SIO_EPROTO);
	/* Appends rather than resets. */
	assert_int_equal(cf_buf_appends(&b, "x="), 0);
	cur = json_integer(7);
	assert_int_equal(cf_sio_json_dump(cur, &b), CF_SIO_OK);
	json_decref(cur);
	assert_string_equal(buf_str(&b), "x=7");

	/* A hand-built value nested too deeply is refused, not a crash. */
	root = cur = json_array();
	for (i = 0; i < 5000; i++) {
		next = json_array();
		json_array_append_new(cur, next);
		cur = next;
	}
	cf_buf_reset(&b);
	assert_int_equal(cf_sio_json_dump(root, &b), CF_SIO_EPROTO);
	json_decref(root);
	cf_buf_free(&b);
}

/*
 * Robustness: every prefix and single-byte mutation of valid packets, and
 * random strings, go through the decoder (and the encoder when accepted).
 */
static void
fuzz_one(const char *s, size_t len, struct cf_buf *b)
{
	struct cf_sio_packet	 p;
	char			*heap;
	int			 r;

	heap = malloc(len > 0 ? len : 1);
	assert_non_null(heap);
	memcpy(heap, s, len);
	memset(&p, 0, sizeof(p));
	r = cf_sio_decode(heap, len, &p);
	if (r == CF_SIO_OK) {
		assert_int_equal(cf_sio_encode(&p, b), CF_SIO_OK);
		while (cf_sio_incomplete(&p))
			assert_true(cf_sio_add_attachment(&p,
			    (const uint8_t *)"z", 1) >= 0);
		assert_int_equal(cf_sio_add_attachment(&p,
		    (const uint8_t *)"z", 1), CF_SIO_EPROTO);
	} else {
		assert_int_equal(r, CF_SIO_EPROTO);
		assert_null(p.data);
	}
	cf_sio_packet_clear(&p);
	free(heap);
}

/*
 * Lone UTF-16 surrogate escapes, as JSON.stringify writes them: read as
 * U+FFFD with p.lossy set, so the receiver can refuse the one event.
 * Valid pairs, escaped backslashes and other escapes are left alone, and
 * a payload that is bad for another reason stays a protocol error.
 */
static void
test_lone_surrogates(void **state)
{
	static const struct {
		const char	*in;
		const char	*want;	/* 2nd array element, UTF-8 */
		int		 lossy;
	} ok[] = {
		{ "2[\"e\",\"\\ud800\"]", "\xef\xbf\xbd", 1 },
		{ "2[\"e\",\"\\uDFFF\"]", "\xef\xbf\xbd", 1 },
		{ "2[\"e\",\"a\\udc00b\"]", "a\xef\xbf\xbd" "b", 1 },
		/* high then high: both lone */
		{ "2[\"e\",\"\\ud800\\ud801\"]",
		    "\xef\xbf\xbd\xef\xbf\xbd", 1 },
		/* a high one at the very end of the string */
		{ "2[\"e\",\"x\\ud83d\"]", "x\xef\xbf\xbd", 1 },
		/* a valid pair: no change, not lossy */
		{ "2[\"e\",\"\\ud83d\\ude00\"]", "\xf0\x9f\x98\x80", 0 },
		/* a pair, then a lone low one */
		{ "2[\"e\",\"\\ud83d\\ude00\\ude00\"]",
		    "\xf0\x9f\x98\x80\xef\xbf\xbd", 1 },
		/* "\\ud800" is a backslash and the letters ud800 */
		{ "2[\"e\",\"\\\\ud800\"]", "\\ud800", 0 },
		{ "2[\"e\",\"\\\\\\ud800\"]", "\\\xef\xbf\xbd", 1 },
	};
	static const char *bad[] = {
		/* lone surrogate and another error: still refused */
		"2[\"e\",\"\\ud800\"",
		"2[\"e\",\"\\ud800\",]",
		"2[\"e\",\"\\ud80\"]",
		"2[\"e\",\"\\u",
		/* raw UTF-8 of a surrogate is no escape: refused */
		"2[\"e\",\"\xed\xa0\x80\"]",
	};
	struct cf_sio_packet	 p;
	const json_t		*v;
	size_t			 i;

	(void)state;
	memset(&p, 0, sizeof(p));
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(cf_sio_decode(ok[i].in, strlen(ok[i].in), &p),
		    CF_SIO_OK);
		assert_int_equal(p.lossy, ok[i].lossy);
		v = json_array_get(p.data, 1);
		assert_true(json_is_string(v));
		assert_string_equal(json_string_value(v), ok[i].want);
		cf_sio_packet_clear(&p);
		assert_int_equal(p.lossy, 0);
	}
	/* The header survives: ack id, namespace, attachments. */
	assert_int_equal(cf_sio_decode(LIT("51-/admin,7[\"up\",\"\\udead\","
	    PH(0) "]"), &p), CF_SIO_OK);
	assert_int_equal(p.lossy, 1);
	assert_int_equal(p.id, 7);
	assert_string_equal(p.nsp, "/admin");
	assert_int_equal(p.nattach, 1);
	assert_string_equal(json_string_value(json_array_get(p.data, 0)),
	    "up");
	cf_sio_packet_clear(&p);
	/* The event name itself. */
	assert_int_equal(cf_sio_decode(LIT("23[\"\\ud800\"]"), &p), CF_SIO_OK);
	assert_int_equal(p.lossy, 1);
	assert_string_equal(json_string_value(json_array_get(p.data, 0)),
	    "\xef\xbf\xbd");
	cf_sio_packet_clear(&p);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cf_sio_decode(bad[i], strlen(bad[i]), &p),
		    CF_SIO_EPROTO);
		assert_null(p.data);
		assert_int_equal(p.lossy, 0);
	}
}

static void
test_garbage(void **state)
{
	static const char *valid[] = {
		"0/admin,{\"token\":\"123\"}",
		"212[\"foo\"]",
		"3/admin,13[\"bar\"]",
		"4/random,{\"message\":\"Invalid namespace\"}",
		"52-/admin,789[\"x\",{\"a\":[" PH(1) "]}," PH(0) "]",
		"61-15[\"bar\"," PH(0) "]",
		"2[\"n\",1.5e-7,-0,\"\\u0000\\ud83d\\ude00\",{\"a\":[[{}]]}]",
		"1/admin,",
	};
	static const char al[] = "0123456-/,[]{}\":_ab\\ut.e";
	struct cf_buf	 b = { 0 };
	char		 buf[96];
	uint32_t	 seed = 31337;
	size_t		 i, len, pos, iter;

	(void)state;
	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		len = strlen(valid[i]);
		for (pos = 0; pos <= len; pos++)
			fuzz_one(valid[i], pos, &b);
		for (pos = 0; pos < len; pos++) {
			memcpy(buf, valid[i], len);
			buf[pos] = al[lcg(&seed) % (sizeof(al) - 1)];
			fuzz_one(buf, len, &b);
			buf[pos] = (char)lcg(&seed);
			fuzz_one(buf, len, &b);
		}
	}
	for (iter = 0; iter < 30000; iter++) {
		len = lcg(&seed) % sizeof(buf);
		for (i = 0; i < len; i++)
			buf[i] = iter % 3 == 0 ? (char)lcg(&seed) :
			    al[lcg(&seed) % (sizeof(al) - 1)];
		if (len > 0 && iter % 2 == 0)
			buf[0] = (char)('0' + lcg(&seed) % 7);
		fuzz_one(buf, len, &b);
	}
	cf_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_connect),
		cmocka_unit_test(test_decode_disconnect),
		cmocka_unit_test(test_decode_event),
		cmocka_unit_test(test_decode_ack),
		cmocka_unit_test(test_decode_connect_error),
		cmocka_unit_test(test_decode_binary),
		cmocka_unit_test(test_attachments),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_event),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_reserved),
		cmocka_unit_test(test_json_numbers),
		cmocka_unit_test(test_json_real_roundtrip),
		cmocka_unit_test(test_json_strings),
		cmocka_unit_test(test_json_dump_limits),
		cmocka_unit_test(test_lone_surrogates),
		cmocka_unit_test(test_garbage),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
