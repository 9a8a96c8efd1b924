/*
 * test_httpreq.c -- request-line routing and body framing checks
 * (src/codec/httpreq.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec/httpreq.h"
#include "util.h"

static int
sid_of(const char *line, char sid[CF_HTTPREQ_SID_MAX])
{
	return (cf_httpreq_sid(line, strlen(line), sid));
}

static void
test_sid(void **state)
{
	char sid[CF_HTTPREQ_SID_MAX];

	(void)state;
	assert_int_equal(sid_of("GET /socket.io/?EIO=4&transport=polling"
	    "&sid=AAHuYmva89ecIxVQ_rMr HTTP/1.1", sid), 0);
	assert_string_equal(sid, "AAHuYmva89ecIxVQ_rMr");
	assert_int_equal(sid_of("POST /socket.io/?sid=abc&EIO=4 HTTP/1.1",
	    sid), 0);
	assert_string_equal(sid, "abc");
	/* The first sid wins; an empty one is named (and owned by nobody). */
	assert_int_equal(sid_of("GET /?sid=&sid=x HTTP/1.1", sid), 0);
	assert_string_equal(sid, "");
	/* Not a parameter name: "xsid=", in the path, after the target. */
	assert_int_equal(sid_of("GET /?xsid=abc HTTP/1.1", sid), -1);
	assert_int_equal(sid_of("GET /sid=abc HTTP/1.1", sid), -1);
	assert_int_equal(sid_of("GET /?a=b HTTP/1.1?sid=abc", sid), -1);
	assert_int_equal(sid_of("GET", sid), -1);
	assert_int_equal(sid_of("", sid), -1);
	/* No HTTP version: the target runs to the end of the line. */
	assert_int_equal(sid_of("GET /?sid=abc", sid), 0);
	assert_string_equal(sid, "abc");
}

static void
test_sid_long(void **state)
{
	char line[200], sid[CF_HTTPREQ_SID_MAX];

	(void)state;
	memset(line, 'a', sizeof(line));
	memcpy(line, "GET /?sid=", 10);
	assert_int_equal(cf_httpreq_sid(line, sizeof(line), sid), 0);
	assert_int_equal(strlen(sid), CF_HTTPREQ_SID_MAX - 1);
	/* The length bounds the scan: no NUL needed, none read past. */
	assert_int_equal(cf_httpreq_sid("GET /?sid=abcdef", 12, sid), 0);
	assert_string_equal(sid, "ab");
}

static void
test_sid_owner(void **state)
{
	uint8_t raw[15] = { 3, 7 };
	char sid[24];
	unsigned slot, gen;

	(void)state;
	cf_base64url_encode(sid, raw, sizeof(raw));
	sid[20] = '\0';
	assert_int_equal(cf_httpreq_sid_owner(sid, &slot, &gen), 0);
	assert_int_equal(slot, 3);
	assert_int_equal(gen, 7);
	assert_int_equal(cf_httpreq_sid_owner("short", &slot, &gen), -1);
	assert_int_equal(cf_httpreq_sid_owner(NULL, &slot, &gen), -1);
	assert_int_equal(cf_httpreq_sid_owner("!!!!AAAAAAAAAAAAAAAA", &slot,
	    &gen), -1);
	assert_int_equal(cf_httpreq_sid_owner("AAAAAAAAAAAAAAAAAAAAA", &slot,
	    &gen), -1);
}

static int
framing1(const char *cl, int te, uint64_t *len)
{
	const char *v[1] = { cl };

	return (cf_httpreq_framing(v, cl != NULL, te, len));
}

static void
test_framing(void **state)
{
	const char *two[2] = { "2", "7" }, *same[2] = { "2", "2" };
	uint64_t len;

	(void)state;
	assert_int_equal(framing1(NULL, 0, &len), CF_HTTPREQ_OK);
	assert_int_equal(len, 0);
	assert_int_equal(framing1("42", 0, &len), CF_HTTPREQ_OK);
	assert_int_equal(len, 42);
	assert_int_equal(framing1(" 0\t", 0, &len), CF_HTTPREQ_OK);
	assert_int_equal(len, 0);
	assert_int_equal(framing1("999999999999999999", 0, &len),
	    CF_HTTPREQ_OK);
	assert_int_equal(len, 999999999999999999ULL);
	/* Transfer-Encoding, alone or with a length. */
	assert_int_equal(framing1(NULL, 1, &len), CF_HTTPREQ_TE);
	assert_int_equal(framing1("2", 1, &len), CF_HTTPREQ_TE);
	/* Duplicates, different or equal. */
	assert_int_equal(cf_httpreq_framing(two, 2, 0, &len),
	    CF_HTTPREQ_CL_DUP);
	assert_int_equal(cf_httpreq_framing(same, 2, 0, &len),
	    CF_HTTPREQ_CL_DUP);
	/* Values that are not one decimal number. */
	assert_int_equal(framing1("", 0, &len), CF_HTTPREQ_CL_BAD);
	assert_int_equal(framing1(" ", 0, &len), CF_HTTPREQ_CL_BAD);
	assert_int_equal(framing1("2, 2", 0, &len), CF_HTTPREQ_CL_BAD);
	assert_int_equal(framing1("-1", 0, &len), CF_HTTPREQ_CL_BAD);
	assert_int_equal(framing1("+1", 0, &len), CF_HTTPREQ_CL_BAD);
	assert_int_equal(framing1("0x10", 0, &len), CF_HTTPREQ_CL_BAD);
	assert_int_equal(framing1("1 2", 0, &len), CF_HTTPREQ_CL_BAD);
	assert_int_equal(framing1("1234567890123456789", 0, &len),
	    CF_HTTPREQ_CL_BAD);
}

static void
test_replayed_head(void **state)
{
	(void)state;
	assert_true(cf_httpreq_replayed_head("POST /socket.io/?", 17, "POST"));
	assert_true(cf_httpreq_replayed_head("PO", 2, "POST"));
	assert_true(cf_httpreq_replayed_head("POST", 4, "POST"));
	assert_false(cf_httpreq_replayed_head("POSTX", 5, "POST"));
	assert_false(cf_httpreq_replayed_head("40", 2, "POST"));
	assert_false(cf_httpreq_replayed_head("4POST /", 7, "POST"));
	assert_false(cf_httpreq_replayed_head("", 0, "POST"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sid),
		cmocka_unit_test(test_sid_long),
		cmocka_unit_test(test_sid_owner),
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_replayed_head),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
