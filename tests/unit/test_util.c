/*
 * test_util.c -- byte buffers, base64 (standard and URL-safe), random bytes
 * and clocks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

/* Deterministic generator so a failing case can be replayed. */
static uint32_t
lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 8);
}

static void
test_buf_append(void **state)
{
	struct cf_buf	 b = { 0 };
	size_t		 i;

	(void)state;
	assert_int_equal(cf_buf_append(&b, "abc", 3), 0);
	assert_int_equal(cf_buf_appends(&b, "def"), 0);
	assert_int_equal(cf_buf_appendc(&b, 'g'), 0);
	assert_int_equal(cf_buf_append(&b, "zzz", 0), 0);
	assert_int_equal(b.len, 7);
	assert_memory_equal(b.data, "abcdefg", 7);
	assert_true(b.cap >= b.len);

	cf_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_non_null(b.data);
	for (i = 0; i < 10000; i++)
		assert_int_equal(cf_buf_appendc(&b, (uint8_t)i), 0);
	assert_int_equal(b.len, 10000);
	for (i = 0; i < 10000; i++)
		assert_int_equal(b.data[i], (uint8_t)i);

	cf_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	/* A freed buffer is reusable, and freeing twice is harmless. */
	assert_int_equal(cf_buf_appends(&b, "x"), 0);
	assert_int_equal(b.len, 1);
	cf_buf_free(&b);
	cf_buf_free(&b);
}

static void
test_buf_reserve(void **state)
{
	struct cf_buf	 b = { 0 };

	(void)state;
	assert_int_equal(cf_buf_reserve(&b, 0), 0);
	assert_int_equal(cf_buf_reserve(&b, 1000), 0);
	assert_true(b.cap >= 1000);
	assert_int_equal(b.len, 0);
	assert_int_equal(cf_buf_appends(&b, "hi"), 0);
	/* A request that would overflow size_t fails and changes nothing. */
	assert_int_equal(cf_buf_reserve(&b, SIZE_MAX), -1);
	assert_int_equal(cf_buf_reserve(&b, SIZE_MAX - 1), -1);
	assert_int_equal(b.len, 2);
	assert_memory_equal(b.data, "hi", 2);
	cf_buf_free(&b);
}

static const struct {
	const char	*plain;
	const char	*b64;
} rfc4648[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void
test_base64_vectors(void **state)
{
	char	 enc[64];
	uint8_t	 dec[64];
	size_t	 i, n, el;
	long	 dl;

	(void)state;
	for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		n = strlen(rfc4648[i].plain);
		el = cf_base64_enclen(n);
		assert_int_equal(el, strlen(rfc4648[i].b64));
		assert_int_equal(cf_base64_encode(enc,
		    (const uint8_t *)rfc4648[i].plain, n), el);
		enc[el] = '\0';
		assert_string_equal(enc, rfc4648[i].b64);

		dl = cf_base64_decode(dec, rfc4648[i].b64, el);
		assert_int_equal(dl, (long)n);
		assert_memory_equal(dec, rfc4648[i].plain, n);

		/* Padding is optional. */
		while (el > 0 && rfc4648[i].b64[el - 1] == '=')
			el--;
		dl = cf_base64_decode(dec, rfc4648[i].b64, el);
		assert_int_equal(dl, (long)n);
		assert_memory_equal(dec, rfc4648[i].plain, n);
	}
	/* The Engine.IO example: bAQIDBA== is 01 02 03 04. */
	dl = cf_base64_decode(dec, "AQIDBA==", 8);
	assert_int_equal(dl, 4);
	assert_memory_equal(dec, "\x01\x02\x03\x04", 4);
	assert_int_equal(cf_base64_encode(enc, (const uint8_t *)"\xfb\xff",
	    2), 4);
	assert_memory_equal(enc, "+/8=", 4);
}

static void
test_base64_invalid(void **state)
{
	static const char *bad[] = {
		"A",		/* impossible length */
		"Zm9vY",	/* 5 mod 4 == 1 */
		"Zg=",		/* padding not completing a quartet */
		"Zg===",
		"Z===",
		"====",
		"=",
		"==",
		"Zm9v=",
		"=Zg=",		/* padding at the front */
		"Zm=9",		/* padding in the middle */
		"Zm9v Yg==",	/* whitespace */
		"Zm9v\nYg==",
		"Zm9-",		/* URL-safe characters */
		"Zm9_",
		"Zm\x80v",
		"Zm9vYmFy!",
	};
	uint8_t	 dec[64];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cf_base64_decode(dec, bad[i], strlen(bad[i])),
		    -1);
	/* An embedded NUL is an invalid character, not an end. */
	assert_int_equal(cf_base64_decode(dec, "Zm\0v", 4), -1);
}

static void
test_base64_inplace(void **state)
{
	char	 s[] = "Zm9vYmFyYmF6";
	char	 t[] = "bAQIDBA==";
	long	 n;

	(void)state;
	n = cf_base64_decode((uint8_t *)s, s, strlen(s));
	assert_int_equal(n, 9);
	assert_memory_equal(s, "foobarbaz", 9);
	/* Output one byte before the input, as the EIO payload does. */
	n = cf_base64_decode((uint8_t *)t, t + 1, strlen(t) - 1);
	assert_int_equal(n, 4);
	assert_memory_equal(t, "\x01\x02\x03\x04", 4);
}

static void
test_base64url(void **state)
{
	const uint8_t	 raw[] = { 0xfb, 0xff, 0xbf, 0x00, 0x10 };
	char		 enc[16];
	uint8_t		 dec[16];
	size_t		 n;

	(void)state;
	n = cf_base64url_encode(enc, raw, sizeof(raw));
	assert_int_equal(n, 7);
	enc[n] = '\0';
	assert_string_equal(enc, "-_-_ABA");
	assert_int_equal(cf_base64url_decode(dec, enc, n), (long)sizeof(raw));
	assert_memory_equal(dec, raw, sizeof(raw));
	n = cf_base64url_encode(enc, (const uint8_t *)"f", 1);
	assert_int_equal(n, 2);
	assert_memory_equal(enc, "Zg", 2);
	assert_int_equal(cf_base64url_encode(enc, NULL, 0), 0);
	assert_int_equal(cf_base64url_decode(dec, "", 0), 0);

	/* JWT header {"alg":"HS256","typ":"JWT"} */
	assert_int_equal(cf_base64url_decode(dec,
	    "eyJhbGciOiJIUzI1NiJ9", 20), 15);
	assert_memory_equal(dec, "{\"alg\":\"HS256\"}", 15);

	assert_int_equal(cf_base64url_decode(dec, "+/8", 3), -1);
	assert_int_equal(cf_base64url_decode(dec, "Zg==", 4), -1);
	assert_int_equal(cf_base64url_decode(dec, "Zg=", 3), -1);
	assert_int_equal(cf_base64url_decode(dec, "Z", 1), -1);
	assert_int_equal(cf_base64url_decode(dec, "Zm9vY", 5), -1);
	assert_int_equal(cf_base64url_decode(dec, "Zm.v", 4), -1);
}

static void
test_base64_roundtrip(void **state)
{
	uint8_t		 raw[300], dec[300];
	char		 enc[420];
	uint32_t	 seed = 42;
	size_t		 n, i, el;

	(void)state;
	for (n = 0; n < sizeof(raw); n++) {
		for (i = 0; i < n; i++)
			raw[i] = (uint8_t)lcg(&seed);
		el = cf_base64_encode(enc, raw, n);
		assert_int_equal(el, cf_base64_enclen(n));
		assert_int_equal(cf_base64_decode(dec, enc, el), (long)n);
		assert_memory_equal(dec, raw, n);

		el = cf_base64url_encode(enc, raw, n);
		assert_int_equal(el, (n * 4 + 2) / 3);
		assert_null(memchr(enc, '=', el));
		assert_null(memchr(enc, '+', el));
		assert_null(memchr(enc, '/', el));
		assert_int_equal(cf_base64url_decode(dec, enc, el), (long)n);
		assert_memory_equal(dec, raw, n);
	}
}

/* Random garbage never crashes the decoders and never overruns dst. */
static void
test_base64_garbage(void **state)
{
	static const char al[] = "AZaz09+/-_=!\n \x80";
	char		 src[64];
	uint8_t		 dst[64];
	uint32_t	 seed = 7;
	size_t		 n, i, iter;
	long		 r;

	(void)state;
	for (iter = 0; iter < 20000; iter++) {
		n = lcg(&seed) % sizeof(src);
		for (i = 0; i < n; i++)
			src[i] = al[lcg(&seed) % (sizeof(al) - 1)];
		r = cf_base64_decode(dst, src, n);
		assert_true(r == -1 || (r >= 0 && (size_t)r <= n * 3 / 4));
		r = cf_base64url_decode(dst, src, n);
		assert_true(r == -1 || (r >= 0 && (size_t)r <= n * 3 / 4));
	}
}

static void
test_random_bytes(void **state)
{
	uint8_t	 a[64], b[64], big[100000];
	size_t	 i, zero;

	(void)state;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	assert_int_equal(cf_random_bytes(a, sizeof(a)), 0);
	assert_int_equal(cf_random_bytes(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(cf_random_bytes(a, 0), 0);
	memset(big, 0, sizeof(big));
	assert_int_equal(cf_random_bytes(big, sizeof(big)), 0);
	for (zero = 0, i = 0; i < sizeof(big); i++)
		zero += big[i] == 0;
	/* About 390 zeros are expected; all-zero would mean nothing ran. */
	assert_true(zero < 1000);
}

static void
test_clocks(void **state)
{
	uint64_t	 a, b, w;

	(void)state;
	a = cf_now_ms();
	b = cf_now_ms();
	assert_true(b >= a);
	w = cf_wall_ms();
	assert_true(w > UINT64_C(1577836800000));	/* 2020-01-01 */
	assert_true(w < UINT64_C(4102444800000));	/* 2100-01-01 */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_append),
		cmocka_unit_test(test_buf_reserve),
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_invalid),
		cmocka_unit_test(test_base64_inplace),
		cmocka_unit_test(test_base64url),
		cmocka_unit_test(test_base64_roundtrip),
		cmocka_unit_test(test_base64_garbage),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_clocks),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
