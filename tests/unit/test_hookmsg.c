/*
 * test_hookmsg.c -- a webhook delivery's body, its signature (against a
 * vector computed apart, with `openssl dgst -sha256 -hmac`) and the retry
 * schedule (app/hookmsg.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app/hookmsg.h"

#define SECRET	"webhook-test-secret-0123456789abcdef"
#define BODY	"{\"id\":1,\"event\":\"user.online\"," \
		"\"createdAt\":\"2023-11-14T22:13:20.000Z\"," \
		"\"data\":{\"userId\":7}}"

static void
test_body(void **state)
{
	char *b;

	(void)state;
	b = cf_hookmsg_body(1, "user.online", 1700000000000LL,
	    "{\"userId\":7}");
	assert_non_null(b);
	assert_string_equal(b, BODY);
	free(b);
	/* An event name needing escapes is refused, never spliced in. */
	assert_null(cf_hookmsg_body(1, "a\"b", 0, "{}"));
}

/*
 * printf '%s' '1700000000.<BODY>' |
 *     openssl dgst -sha256 -hmac 'webhook-test-secret-0123456789abcdef'
 */
static void
test_sign(void **state)
{
	char sig[CF_HOOKMSG_SIG_LEN];

	(void)state;
	assert_int_equal(cf_hookmsg_sign(SECRET, 1700000000, BODY,
	    strlen(BODY), sig), 0);
	assert_string_equal(sig, "v1=362dbc2bde492bd2d78b50f6e9c906d6"
	    "ccd1d7c4710274f73b9c698978dee316");
	/* Another timestamp, another signature. */
	assert_int_equal(cf_hookmsg_sign(SECRET, 1700000001, BODY,
	    strlen(BODY), sig), 0);
	assert_string_not_equal(sig, "v1=362dbc2bde492bd2d78b50f6e9c906d6"
	    "ccd1d7c4710274f73b9c698978dee316");
}

/* 1 s doubling to 10 min, each drawn in [half, whole]. */
static void
test_backoff(void **state)
{
	static const uint64_t full[] = {
		1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000,
		512000, 600000, 600000
	};
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(full) / sizeof(full[0]); i++) {
		assert_int_equal(cf_hookmsg_backoff_ms(i + 1, 0), full[i] / 2);
		assert_int_equal(cf_hookmsg_backoff_ms(i + 1,
		    (uint32_t)(full[i] / 2)), full[i]);
		assert_true(cf_hookmsg_backoff_ms(i + 1, 0xffffffffu) >=
		    full[i] / 2);
		assert_true(cf_hookmsg_backoff_ms(i + 1, 0xffffffffu) <=
		    full[i]);
	}
	assert_int_equal(cf_hookmsg_backoff_ms(1000, 0), 300000);
	assert_int_equal(cf_hookmsg_backoff_ms(0xffffffffu, 0), 300000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_backoff),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
