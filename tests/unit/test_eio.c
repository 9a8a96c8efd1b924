/*
 * test_eio.c -- Engine.IO v4 codec: text packets, polling payloads, the open
 * packet, and malformed input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/eio.h"

#define MAXP	16

static uint32_t
lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 8);
}

/* NUL-terminate the buffer contents so failures print both strings. */
static const char *
buf_str(struct cf_buf *b)
{
	assert_int_equal(cf_buf_appendc(b, '\0'), 0);
	b->len--;
	return ((const char *)b->data);
}

/* Decode a payload from a literal (copied, since decoding is in place). */
static int
decode_lit(const char *s, size_t len, uint8_t *copy,
    struct cf_eio_packet *out, size_t max, size_t *n)
{
	memcpy(copy, s, len);
	return (cf_eio_decode_payload(copy, len, out, max, n));
}

static void
assert_packet(const struct cf_eio_packet *p, enum cf_eio_type type,
    int binary, const char *data, size_t len)
{
	assert_int_equal(p->type, type);
	assert_int_equal(p->binary, binary);
	assert_int_equal(p->len, len);
	if (len > 0)
		assert_memory_equal(p->data, data, len);
}

static void
test_decode_text_types(void **state)
{
	struct cf_eio_packet	 p;
	uint8_t			 buf[16];
	int			 t;

	(void)state;
	for (t = CF_EIO_OPEN; t <= CF_EIO_NOOP; t++) {
		buf[0] = (uint8_t)('0' + t);
		memset(&p, 0xa5, sizeof(p));
		assert_int_equal(cf_eio_decode_text(buf, 1, &p), CF_EIO_OK);
		assert_packet(&p, (enum cf_eio_type)t, 0, NULL, 0);
		memcpy(buf + 1, "probe", 5);
		assert_int_equal(cf_eio_decode_text(buf, 6, &p), CF_EIO_OK);
		assert_packet(&p, (enum cf_eio_type)t, 0, "probe", 5);
		assert_ptr_equal(p.data, buf + 1);
	}
	assert_int_equal(cf_eio_decode_text((const uint8_t *)"4hello", 6, &p),
	    CF_EIO_OK);
	assert_packet(&p, CF_EIO_MESSAGE, 0, "hello", 5);
	/* Socket.IO packets ride in the data unchanged. */
	assert_int_equal(cf_eio_decode_text(
	    (const uint8_t *)"42[\"a\",\"\x1e\"]", 11, &p), CF_EIO_OK);
	assert_packet(&p, CF_EIO_MESSAGE, 0, "2[\"a\",\"\x1e\"]", 10);
}

static void
test_decode_text_invalid(void **state)
{
	static const char *bad[] = { "7", "8x", "9", "a", "b", "bAQID", "x",
	    "/", " 4", ("\x1e" "4"), "-1", "\xff" };
	struct cf_eio_packet	 p;
	size_t			 i;

	(void)state;
	assert_int_equal(cf_eio_decode_text((const uint8_t *)"", 0, &p),
	    CF_EIO_EPROTO);
	assert_int_equal(cf_eio_decode_text(NULL, 0, &p), CF_EIO_EPROTO);
	assert_int_equal(cf_eio_decode_text((const uint8_t *)"\0", 1, &p),
	    CF_EIO_EPROTO);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cf_eio_decode_text((const uint8_t *)bad[i],
		    strlen(bad[i]), &p), CF_EIO_EPROTO);
}

static void
test_payload_examples(void **state)
{
	struct cf_eio_packet	 out[MAXP];
	uint8_t			 copy[64];
	size_t			 n;

	(void)state;
	assert_int_equal(decode_lit("4hello\x1e" "2\x1e" "4world", 15, copy,
	    out, MAXP, &n), CF_EIO_OK);
	assert_int_equal(n, 3);
	assert_packet(&out[0], CF_EIO_MESSAGE, 0, "hello", 5);
	assert_packet(&out[1], CF_EIO_PING, 0, NULL, 0);
	assert_packet(&out[2], CF_EIO_MESSAGE, 0, "world", 5);
	assert_ptr_equal(out[0].data, copy + 1);
	assert_ptr_equal(out[2].data, copy + 10);

	assert_int_equal(decode_lit("4hello\x1e" "bAQIDBA==", 16, copy,
	    out, MAXP, &n), CF_EIO_OK);
	assert_int_equal(n, 2);
	assert_packet(&out[0], CF_EIO_MESSAGE, 0, "hello", 5);
	assert_packet(&out[1], CF_EIO_MESSAGE, 1, "\x01\x02\x03\x04", 4);
	assert_ptr_equal(out[1].data, copy + 7);

	/* Binary first, unpadded, then more text after it. */
	assert_int_equal(decode_lit("bAQID\x1e" "bAQIDBA\x1e" "3\x1e" "b", 17,
	    copy, out, MAXP, &n), CF_EIO_OK);
	assert_int_equal(n, 4);
	assert_packet(&out[0], CF_EIO_MESSAGE, 1, "\x01\x02\x03", 3);
	assert_packet(&out[1], CF_EIO_MESSAGE, 1, "\x01\x02\x03\x04", 4);
	assert_packet(&out[2], CF_EIO_PONG, 0, NULL, 0);
	/* "b" alone is an empty binary message. */
	assert_packet(&out[3], CF_EIO_MESSAGE, 1, NULL, 0);

	/* The worked example of notes 2.5. */
	assert_int_equal(decode_lit(
	    "451-[\"x\",{\"_placeholder\":true,\"num\":0}]\x1e" "bAQID", 45,
	    copy, out, MAXP, &n), CF_EIO_OK);
	assert_int_equal(n, 2);
	assert_packet(&out[0], CF_EIO_MESSAGE, 0,
	    "51-[\"x\",{\"_placeholder\":true,\"num\":0}]", 38);
	assert_packet(&out[1], CF_EIO_MESSAGE, 1, "\x01\x02\x03", 3);

	/* A single packet, every type. */
	assert_int_equal(decode_lit("1", 1, copy, out, MAXP, &n), CF_EIO_OK);
	assert_int_equal(n, 1);
	assert_packet(&out[0], CF_EIO_CLOSE, 0, NULL, 0);
	assert_int_equal(decode_lit("0\x1e" "1\x1e" "2\x1e" "3\x1e" "4\x1e"
	    "5\x1e" "6", 13, copy, out, MAXP, &n), CF_EIO_OK);
	assert_int_equal(n, 7);
	for (n = 0; n < 7; n++)
		assert_packet(&out[n], (enum cf_eio_type)n, 0, NULL, 0);
}

static void
test_payload_invalid(void **state)
{
	static const struct {
		const char	*s;
		size_t		 len;
		size_t		 ngood;	/* decoded before error */
	} bad[] = {
		{ "", 0, 0 },
		{ "\x1e", 1, 0 },
		{ "\x1e" "4a", 3, 0 },
		{ "4a\x1e", 3, 1 },
		{ "4a\x1e\x1e" "4b", 6, 1 },
		{ "7", 1, 0 },
		{ "4a\x1e" "x", 4, 1 },
		{ "4a\x1e" "9z", 5, 1 },
		{ "bA", 2, 0 },		/* impossible base64 length */
		{ "b!!!!", 5, 0 },
		{ "bAQ=ID", 6, 0 },
		{ "4a\x1e" "bAQIDBA=", 11, 1 },
		{ "4a\x1e" "b AQID", 9, 1 },
		{ "\0", 1, 0 },
		{ "4\x1e" "\0", 3, 1 },
	};
	struct cf_eio_packet	 out[MAXP];
	uint8_t			 copy[64];
	size_t			 i, n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = 99;
		assert_int_equal(decode_lit(bad[i].s, bad[i].len, copy, out,
		    MAXP, &n), CF_EIO_EPROTO);
		assert_int_equal(n, bad[i].ngood);
	}
	n = 99;
	assert_int_equal(cf_eio_decode_payload(NULL, 0, out, MAXP, &n),
	    CF_EIO_EPROTO);
	assert_int_equal(n, 0);
}

static void
test_payload_toomany(void **state)
{
	struct cf_eio_packet	 out[MAXP];
	uint8_t			 copy[64];
	size_t			 n;

	(void)state;
	assert_int_equal(decode_lit("2\x1e" "3\x1e" "4x", 7, copy, out, 2, &n),
	    CF_EIO_ETOOMANY);
	assert_int_equal(n, 2);
	assert_int_equal(decode_lit("2\x1e" "3\x1e" "4x", 7, copy, out, 3, &n),
	    CF_EIO_OK);
	assert_int_equal(n, 3);
	assert_int_equal(decode_lit("4x", 2, copy, out, 0, &n),
	    CF_EIO_ETOOMANY);
	assert_int_equal(n, 0);
}

static void
test_payload_append(void **state)
{
	struct cf_buf		 b = { 0 };
	struct cf_eio_packet	 out[MAXP];
	const uint8_t		 bin[] = { 0x01, 0x02, 0x03, 0x04 };
	size_t			 n;

	(void)state;
	assert_int_equal(cf_eio_payload_append(&b, CF_EIO_MESSAGE, 0,
	    (const uint8_t *)"hello", 5), CF_EIO_OK);
	assert_string_equal(buf_str(&b), "4hello");
	assert_int_equal(cf_eio_payload_append(&b, CF_EIO_PING, 0, NULL, 0),
	    CF_EIO_OK);
	assert_int_equal(cf_eio_payload_append(&b, CF_EIO_MESSAGE, 0,
	    (const uint8_t *)"world", 5), CF_EIO_OK);
	assert_string_equal(buf_str(&b), "4hello\x1e" "2\x1e" "4world");
	assert_int_equal(cf_eio_payload_append(&b, CF_EIO_MESSAGE, 1, bin,
	    sizeof(bin)), CF_EIO_OK);
	assert_int_equal(cf_eio_payload_append(&b, CF_EIO_MESSAGE, 1, NULL,
	    0), CF_EIO_OK);
	assert_int_equal(cf_eio_payload_append(&b, CF_EIO_NOOP, 0, NULL, 0),
	    CF_EIO_OK);
	assert_string_equal(buf_str(&b),
	    "4hello\x1e" "2\x1e" "4world\x1e" "bAQIDBA==\x1e" "b\x1e" "6");

	/* What the encoder wrote, the decoder reads back. */
	assert_int_equal(cf_eio_decode_payload(b.data, b.len, out, MAXP, &n),
	    CF_EIO_OK);
	assert_int_equal(n, 6);
	assert_packet(&out[0], CF_EIO_MESSAGE, 0, "hello", 5);
	assert_packet(&out[1], CF_EIO_PING, 0, NULL, 0);
	assert_packet(&out[2], CF_EIO_MESSAGE, 0, "world", 5);
	assert_packet(&out[3], CF_EIO_MESSAGE, 1, (const char *)bin, 4);
	assert_packet(&out[4], CF_EIO_MESSAGE, 1, NULL, 0);
	assert_packet(&out[5], CF_EIO_NOOP, 0, NULL, 0);
	cf_buf_free(&b);
}

static void
test_payload_roundtrip_binary(void **state)
{
	struct cf_buf		 b = { 0 };
	struct cf_eio_packet	 out[MAXP];
	uint8_t			 raw[MAXP][70];
	size_t			 lens[MAXP], i, j, n;
	uint32_t		 seed = 99;

	(void)state;
	for (i = 0; i < MAXP; i++) {
		lens[i] = lcg(&seed) % sizeof(raw[i]);
		for (j = 0; j < lens[i]; j++)
			raw[i][j] = (uint8_t)lcg(&seed);
		/* Alternate binary and text; text avoids 0x1e. */
		if (i % 2 == 1)
			for (j = 0; j < lens[i]; j++)
				raw[i][j] = (uint8_t)('a' + raw[i][j] % 26);
		assert_int_equal(cf_eio_payload_append(&b, CF_EIO_MESSAGE,
		    i % 2 == 0, raw[i], lens[i]), CF_EIO_OK);
	}
	assert_int_equal(cf_eio_decode_payload(b.data, b.len, out, MAXP, &n),
	    CF_EIO_OK);
	assert_int_equal(n, MAXP);
	for (i = 0; i < MAXP; i++)
		assert_packet(&out[i], CF_EIO_MESSAGE, i % 2 == 0,
		    (const char *)raw[i], lens[i]);
	cf_buf_free(&b);
}

static void
test_open_packet(void **state)
{
	struct cf_buf	 b = { 0 };

	(void)state;
	assert_int_equal(cf_eio_open_packet(&b, "lv_VI97HAXpY6yYWAAAC", 1,
	    25000, 20000, 1000000), CF_EIO_OK);
	assert_string_equal(buf_str(&b),
	    "0{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[\"websocket\"],"
	    "\"pingInterval\":25000,\"pingTimeout\":20000,"
	    "\"maxPayload\":1000000}");
	/* b is reset first, not appended to. */
	assert_int_equal(cf_eio_open_packet(&b, "abc-_", 0, 300, 200,
	    (size_t)4294967296ULL), CF_EIO_OK);
	assert_string_equal(buf_str(&b),
	    "0{\"sid\":\"abc-_\",\"upgrades\":[],\"pingInterval\":300,"
	    "\"pingTimeout\":200,\"maxPayload\":4294967296}");
	/* A sid needing escapes still yields valid JSON. */
	assert_int_equal(cf_eio_open_packet(&b, "a\"b\\c\n", 0, 0, 0, 0),
	    CF_EIO_OK);
	assert_string_equal(buf_str(&b),
	    "0{\"sid\":\"a\\\"b\\\\c\\u000a\",\"upgrades\":[],"
	    "\"pingInterval\":0,"
	    "\"pingTimeout\":0,\"maxPayload\":0}");
	cf_buf_free(&b);
}

/*
 * Robustness: random bytes and every prefix of valid payloads go through
 * both decoders.  Results must be consistent, pointers must stay inside the
 * buffer, and ASan must stay quiet.
 */
static void
test_garbage(void **state)
{
	static const char *valid[] = {
		"4hello\x1e" "2\x1e" "4world",
		"4hello\x1e" "bAQIDBA==",
		"451-[\"x\",{\"_placeholder\":true,\"num\":0}]\x1e" "bAQID",
		"0{\"sid\":\"x\"}\x1e" "6\x1e" "bAA\x1e" "1",
	};
	static const char al[] = "0123456789b\x1e" "AQ=+/x";
	struct cf_eio_packet	 out[4], p;
	uint8_t			 buf[80], *heap;
	uint32_t		 seed = 12345;
	size_t			 i, len, n, k, iter;
	int			 r;

	(void)state;
	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		for (len = 0; len <= strlen(valid[i]); len++) {
			heap = malloc(len > 0 ? len : 1);
			assert_non_null(heap);
			memcpy(heap, valid[i], len);
			r = cf_eio_decode_text(heap, len, &p);
			assert_true(r == CF_EIO_OK || r == CF_EIO_EPROTO);
			r = cf_eio_decode_payload(heap, len, out, 4, &n);
			assert_true(r == CF_EIO_OK || r == CF_EIO_EPROTO ||
			    r == CF_EIO_ETOOMANY);
			assert_true(n <= 4);
			free(heap);
		}
	}
	for (iter = 0; iter < 50000; iter++) {
		len = lcg(&seed) % sizeof(buf);
		for (i = 0; i < len; i++)
			buf[i] = iter % 2 == 0 ? (uint8_t)lcg(&seed) :
			    (uint8_t)al[lcg(&seed) % (sizeof(al) - 1)];
		heap = malloc(len > 0 ? len : 1);
		assert_non_null(heap);
		memcpy(heap, buf, len);
		r = cf_eio_decode_text(heap, len, &p);
		if (r == CF_EIO_OK)
			assert_int_equal(p.len, len - 1);
		else
			assert_int_equal(r, CF_EIO_EPROTO);
		r = cf_eio_decode_payload(heap, len, out, 4, &n);
		assert_true(r == CF_EIO_OK || r == CF_EIO_EPROTO ||
		    r == CF_EIO_ETOOMANY);
		assert_true(n <= 4);
		for (k = 0; k < n; k++) {
			assert_true(out[k].data >= heap);
			assert_true(out[k].data + out[k].len <= heap + len);
		}
		free(heap);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_text_types),
		cmocka_unit_test(test_decode_text_invalid),
		cmocka_unit_test(test_payload_examples),
		cmocka_unit_test(test_payload_invalid),
		cmocka_unit_test(test_payload_toomany),
		cmocka_unit_test(test_payload_append),
		cmocka_unit_test(test_payload_roundtrip_binary),
		cmocka_unit_test(test_open_packet),
		cmocka_unit_test(test_garbage),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
