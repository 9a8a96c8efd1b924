/*
 * test_args.c -- the argument helpers (src/app/args.c): strings counted
 * in characters, ids, enums, optional members; valid and invalid values
 * at their boundaries, table-driven.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "app/args.h"

struct str_case {
	const char	*json;		/* the value, as JSON */
	size_t		 min, max;
	int		 rc;
};

static void
test_str(void **state)
{
	/* "é" is 2 bytes, "😀" 4 bytes: one character each. */
	static const struct str_case cases[] = {
		{ "\"abc\"", 0, 3, 0 },
		{ "\"abcd\"", 0, 3, -1 },
		{ "\"\"", 0, 3, 0 },
		{ "\"\"", 1, 3, -1 },
		{ "\"\\u00e9\\u00e9\\u00e9\"", 0, 3, 0 },	/* 6 bytes */
		{ "\"\\u00e9\\u00e9\\u00e9\\u00e9\"", 0, 3, -1 },
		{ "\"\\ud83d\\ude00\\ud83d\\ude00\"", 0, 2, 0 }, /* 8 bytes */
		{ "\"\\ud83d\\ude00\\ud83d\\ude00x\"", 0, 2, -1 },
		{ "\"a\\u0000b\"", 0, 10, -1 },		/* NUL inside */
		{ "42", 0, 10, -1 },
		{ "null", 0, 10, -1 },
		{ "[\"a\"]", 0, 10, -1 },
	};
	json_error_t err;
	const char *out;
	json_t *v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = json_loads(cases[i].json, JSON_DECODE_ANY |
		    JSON_ALLOW_NUL, &err);
		assert_non_null(v);
		out = NULL;
		assert_int_equal(cf_arg_str(v, cases[i].min, cases[i].max,
		    &out), cases[i].rc);
		if (cases[i].rc == 0)
			assert_string_equal(out, json_string_value(v));
		json_decref(v);
	}
}

static void
test_text(void **state)
{
	static const struct { const char *json; int rc; } cases[] = {
		{ "\"hi\"", 0 }, { "\"  x \"", 0 }, { "\"\"", -1 },
		{ "\" \\t\\n\"", -1 }, { "\"12345\"", 0 }, { "\"123456\"", -1 },
		{ "\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"", 0 },
	};
	const char *out;
	json_t *v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		assert_int_equal(cf_arg_text(v, 5, &out), cases[i].rc);
		json_decref(v);
	}
}

static void
test_id(void **state)
{
	static const struct { const char *json; int rc; int64_t id; } cases[] = {
		{ "1", 0, 1 },
		{ "9223372036854775807", 0, INT64_MAX },
		{ "0", -1, 0 },
		{ "-1", -1, 0 },
		{ "\"42\"", 0, 42 },
		{ "\"007\"", 0, 7 },
		{ "\"999999999999999999\"", 0, 999999999999999999LL },
		{ "\"1000000000000000000\"", -1, 0 },	/* 19 digits */
		{ "\"0\"", -1, 0 },
		{ "\"\"", -1, 0 },
		{ "\"-1\"", -1, 0 },
		{ "\"12a\"", -1, 0 },
		{ "\" 12\"", -1, 0 },
		{ "1.5", -1, 0 },
		{ "true", -1, 0 },
		{ "null", -1, 0 },
	};
	json_t *v;
	int64_t id;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		id = 0;
		assert_int_equal(cf_arg_id(v, &id), cases[i].rc);
		if (cases[i].rc == 0)
			assert_int_equal(id, cases[i].id);
		json_decref(v);
	}
}

static void
test_enum(void **state)
{
	static const char *const set[] = { "high", "normal", "low", NULL };
	static const struct { const char *json; int rc; } cases[] = {
		{ "\"high\"", 0 }, { "\"low\"", 0 }, { "\"HIGH\"", -1 },
		{ "\"\"", -1 }, { "\"urgent\"", -1 }, { "1", -1 },
		{ "\"low\\u0000x\"", -1 },
	};
	const char *out;
	json_t *v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = json_loads(cases[i].json, JSON_DECODE_ANY |
		    JSON_ALLOW_NUL, NULL);
		assert_non_null(v);
		assert_int_equal(cf_arg_enum(v, set, &out), cases[i].rc);
		json_decref(v);
	}
}

static void
test_optional(void **state)
{
	static const char *const set[] = { "a", NULL };
	json_t *o = json_loads("{\"n\":null,\"s\":\"x\",\"i\":7,\"b\":true,"
	    "\"bad\":[]}", 0, NULL);
	const char *s;
	int64_t x;
	int b;

	(void)state;
	assert_non_null(o);
	assert_int_equal(cf_arg_opt_str(o, "absent", 5, &s), 0);
	assert_null(s);
	assert_int_equal(cf_arg_opt_str(o, "n", 5, &s), 0);
	assert_null(s);
	assert_int_equal(cf_arg_opt_str(o, "s", 5, &s), 0);
	assert_string_equal(s, "x");
	assert_int_equal(cf_arg_opt_str(o, "bad", 5, &s), -1);
	assert_int_equal(cf_arg_opt_id(o, "n", &x), 0);
	assert_int_equal(x, 0);
	assert_int_equal(cf_arg_opt_id(o, "i", &x), 0);
	assert_int_equal(x, 7);
	x = 50;
	assert_int_equal(cf_arg_opt_int(o, "absent", 1, 100, &x), 0);
	assert_int_equal(x, 50);
	assert_int_equal(cf_arg_opt_int(o, "i", 1, 6, &x), -1);
	assert_int_equal(cf_arg_opt_int(o, "i", 7, 7, &x), 0);
	assert_int_equal(cf_arg_opt_bool(o, "b", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(cf_arg_opt_bool(o, "i", &b), -1);
	assert_int_equal(cf_arg_opt_enum(o, "n", set, &s), 0);
	assert_null(s);
	assert_int_equal(cf_arg_opt_enum(o, "s", set, &s), -1);
	json_decref(o);
}

static void
test_user_id(void **state)
{
	static const struct {
		const char *json; int64_t min; int rc; const char *id;
	} cases[] = {
		{ "0", 0, 0, "0" }, { "78", 0, 0, "78" }, { "-1", 0, -1, NULL },
		{ "-1", INT64_MIN, 0, "-1" }, { "\"alice\"", 0, 0, "alice" },
		{ "\"\"", 0, -1, NULL }, { "true", 0, -1, NULL },
		{ "\"1234567\"", 0, 0, "1234567" },	/* 7 bytes: fits 8 */
		{ "\"12345678\"", 0, -1, NULL },
	};
	char buf[8];
	json_t *v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		assert_int_equal(cf_arg_user_id(v, cases[i].min, buf,
		    sizeof(buf)), cases[i].rc);
		if (cases[i].rc == 0)
			assert_string_equal(buf, cases[i].id);
		json_decref(v);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_str),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_optional),
		cmocka_unit_test(test_user_id),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
