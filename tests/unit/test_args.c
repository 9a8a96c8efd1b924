/*
 * test_args.c -- the argument helpers (src/app/args.c): strings counted
 * in characters, ids, enums, optional members; valid and invalid values
 * at their boundaries, table-driven; and the field lists of the event
 * table (cf_arg_fields): every type, optional, absent and null, limits,
 * the error message answered.
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

/* ------------------------------------------------- field lists (events.h) */

static const char *const ab[] = { "a", "b", NULL };

/* Every type with a value; only id is required. */
static const struct cf_field list_a[] = {
	{ .key = "id", .type = CF_F_ID, .err = "E:id" },
	{ .key = "str", .type = CF_F_STR, .flags = CF_F_OPT, .min = 1,
	    .max = 3, .err = "E:str" },
	{ .key = "text", .type = CF_F_TEXT, .flags = CF_F_OPT,
	    .limit = CF_LIM_MESSAGE_LENGTH, .err = "E:text" },
	{ .key = "enum", .type = CF_F_ENUM, .flags = CF_F_OPT, .set = ab,
	    .err = "E:enum" },
	{ .key = "int", .type = CF_F_INT, .flags = CF_F_OPT, .min = 1,
	    .max = 10, .err = "E:int" },
	{ .key = "bool", .type = CF_F_BOOL, .flags = CF_F_OPT,
	    .err = "E:bool" },
	{ .key = "user", .type = CF_F_USER, .flags = CF_F_OPT, .min = 1,
	    .err = "E:user" },
	{ .key = "obj", .type = CF_F_OBJECT, .flags = CF_F_OPT, .min = 1,
	    .err = "E:obj" },
	{ .type = CF_F_END },
};

static int
is_true(const json_t *v)
{
	return (json_is_true(v));
}

/* The types that hand the value on, and two fields not given together. */
static const struct cf_field list_b[] = {
	{ .key = "blob", .type = CF_F_BLOB, .flags = CF_F_OPT,
	    .limit = CF_LIM_SDP_SIZE, .err = "E:blob" },
	{ .key = "jstr", .type = CF_F_JSTRING, .flags = CF_F_OPT,
	    .err = "E:jstr" },
	{ .key = "check", .type = CF_F_CHECK, .flags = CF_F_OPT,
	    .check = is_true, .err = "E:check" },
	{ .key = "any", .type = CF_F_ANY, .err = "E:any" },
	{ .key = "before", .type = CF_F_ID, .flags = CF_F_OPT,
	    .err = "E:pair" },
	{ .key = "after", .type = CF_F_ID,
	    .flags = CF_F_OPT | CF_F_NOT_WITH_PREV, .err = "E:pair" },
	{ .type = CF_F_END },
};

/* Argument 0 itself. */
static const struct cf_field list_c[] = {
	{ .key = NULL, .type = CF_F_ID, .err = "E:arg" },
	{ .type = CF_F_END },
};

struct fields_case {
	const struct cf_field	*list;
	unsigned		 how;
	const char		*objerr;
	const char		*json;	/* argument 0; NULL: absent */
	const char		*err;	/* NULL: accepted */
	int			 field;	/* when accepted, a value to see: */
	int			 set;
	const char		*s;
	int64_t			 i;
};

#define OBJ	CF_ARG_OBJ

static void
test_fields(void **state)
{
	static const struct fields_case cases[] = {
		/* The shape of argument 0. */
		{ list_a, OBJ, NULL, "[1]", "E:id", 0, 0, NULL, 0 },
		{ list_a, OBJ, "E:o", "[1]", "E:o", 0, 0, NULL, 0 },
		{ list_a, OBJ, "E:o", "\"x\"", "E:o", 0, 0, NULL, 0 },
		{ list_a, OBJ, "E:o", NULL, "E:o", 0, 0, NULL, 0 },
		{ list_b, OBJ | CF_ARG_OBJ_OPT, "E:o", NULL, NULL, 4, 0,
		    NULL, 0 },
		{ list_b, OBJ | CF_ARG_OBJ_OPT, "E:o", "null", NULL, 4, 0,
		    NULL, 0 },
		{ list_b, OBJ | CF_ARG_OBJ_OPT, "E:o", "5", "E:o", 0, 0,
		    NULL, 0 },
		{ list_c, 0, NULL, "5", NULL, 0, 1, NULL, 5 },
		{ list_c, 0, NULL, "\"17\"", NULL, 0, 1, NULL, 17 },
		{ list_c, 0, NULL, "\"x\"", "E:arg", 0, 0, NULL, 0 },
		{ list_c, 0, NULL, "null", "E:arg", 0, 0, NULL, 0 },
		/* A required field: absent, null, wrong. */
		{ list_a, OBJ, NULL, "{}", "E:id", 0, 0, NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":null}", "E:id", 0, 0, NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":0}", "E:id", 0, 0, NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":\"12\"}", NULL, 0, 1, NULL, 12 },
		/* Optional: absent and null are not set. */
		{ list_a, OBJ, NULL, "{\"id\":1}", NULL, 1, 0, NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"str\":null}", NULL, 1, 0,
		    NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"int\":null}", NULL, 4, 0,
		    NULL, 0 },
		/* The first bad field answers, in the list's order. */
		{ list_a, OBJ, NULL, "{\"int\":0,\"id\":0}", "E:id", 0, 0,
		    NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"int\":0,\"str\":\"\"}",
		    "E:str", 0, 0, NULL, 0 },
		/* Strings in characters, min..max. */
		{ list_a, OBJ, NULL, "{\"id\":1,\"str\":\"\"}", "E:str", 0, 0,
		    NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"str\":\"abcd\"}", "E:str",
		    0, 0, NULL, 0 },
		{ list_a, OBJ, NULL,
		    "{\"id\":1,\"str\":\"\\u00e9\\u00e9\\u00e9\"}", NULL, 1, 1,
		    "\xc3\xa9\xc3\xa9\xc3\xa9", 0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"str\":5}", "E:str", 0, 0,
		    NULL, 0 },
		/* Text: not blank, the configured maximum (5 here). */
		{ list_a, OBJ, NULL, "{\"id\":1,\"text\":\"  \"}", "E:text",
		    0, 0, NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"text\":\"abcdef\"}",
		    "E:text", 0, 0, NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"text\":\"hello\"}", NULL, 2,
		    1, "hello", 0 },
		/* Enum. */
		{ list_a, OBJ, NULL, "{\"id\":1,\"enum\":\"c\"}", "E:enum", 0,
		    0, NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"enum\":\"b\"}", NULL, 3, 1,
		    "b", 0 },
		/* Integers within min..max, and no other type. */
		{ list_a, OBJ, NULL, "{\"id\":1,\"int\":0}", "E:int", 0, 0,
		    NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"int\":11}", "E:int", 0, 0,
		    NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"int\":\"5\"}", "E:int", 0,
		    0, NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"int\":10}", NULL, 4, 1,
		    NULL, 10 },
		/* Booleans. */
		{ list_a, OBJ, NULL, "{\"id\":1,\"bool\":1}", "E:bool", 0, 0,
		    NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"bool\":true}", NULL, 5, 1,
		    NULL, 1 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"bool\":false}", NULL, 5, 1,
		    NULL, 0 },
		/* User ids: an integer of at least min, or a string. */
		{ list_a, OBJ, NULL, "{\"id\":1,\"user\":0}", "E:user", 0, 0,
		    NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"user\":\"\"}", "E:user", 0,
		    0, NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"user\":7}", NULL, 6, 1, "7",
		    0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"user\":\"u1\"}", NULL, 6, 1,
		    "u1", 0 },
		/* Objects of at least min members. */
		{ list_a, OBJ, NULL, "{\"id\":1,\"obj\":{}}", "E:obj", 0, 0,
		    NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"obj\":[1]}", "E:obj", 0, 0,
		    NULL, 0 },
		{ list_a, OBJ, NULL, "{\"id\":1,\"obj\":{\"a\":1}}", NULL, 7,
		    1, NULL, 0 },
		/* Blobs: an object or a string, the configured bytes (10). */
		{ list_b, OBJ, NULL, "{\"blob\":\"abc\"}", NULL, 0, 1, NULL,
		    0 },
		{ list_b, OBJ, NULL, "{\"blob\":{\"a\":\"0123456789\"}}",
		    "E:blob", 0, 0, NULL, 0 },
		{ list_b, OBJ, NULL, "{\"blob\":5}", "E:blob", 0, 0, NULL, 0 },
		/* Any JSON string, a NUL inside too. */
		{ list_b, OBJ, NULL, "{\"jstr\":\"a\\u0000b\"}", NULL, 1, 1,
		    NULL, 0 },
		{ list_b, OBJ, NULL, "{\"jstr\":1}", "E:jstr", 0, 0, NULL, 0 },
		/* The handler's predicate. */
		{ list_b, OBJ, NULL, "{\"check\":false}", "E:check", 0, 0,
		    NULL, 0 },
		{ list_b, OBJ, NULL, "{\"check\":true}", NULL, 2, 1, NULL, 0 },
		/* Anything, absent too. */
		{ list_b, OBJ, NULL, "{\"any\":[1]}", NULL, 3, 1, NULL, 0 },
		{ list_b, OBJ, NULL, "{}", NULL, 3, 0, NULL, 0 },
		/* Not both. */
		{ list_b, OBJ, NULL, "{\"before\":1,\"after\":2}", "E:pair",
		    0, 0, NULL, 0 },
		{ list_b, OBJ, NULL, "{\"before\":1,\"after\":null}", NULL, 4,
		    1, NULL, 1 },
		{ list_b, OBJ, NULL, "{\"after\":2}", NULL, 5, 1, NULL, 2 },
	};
	int64_t limits[CF_LIM_N] = { 0 };
	struct cf_arg_val val[CF_ARG_FIELDS_MAX];
	const struct fields_case *c;
	const char *err;
	json_t *v;
	size_t i;

	(void)state;
	limits[CF_LIM_MESSAGE_LENGTH] = 5;
	limits[CF_LIM_SDP_SIZE] = 10;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = &cases[i];
		v = NULL;
		if (c->json != NULL) {
			v = json_loads(c->json, JSON_DECODE_ANY |
			    JSON_ALLOW_NUL, NULL);
			assert_non_null(v);
		}
		err = "unset";
		if (c->err != NULL) {
			assert_int_equal(cf_arg_fields(c->list, c->how,
			    c->objerr, v, limits, val, &err), -1);
			assert_string_equal(err, c->err);
		} else {
			assert_int_equal(cf_arg_fields(c->list, c->how,
			    c->objerr, v, limits, val, &err), 0);
			assert_null(err);
			assert_int_equal(val[c->field].set, c->set);
			assert_int_equal(val[c->field].i, c->i);
			if (c->s != NULL)
				assert_string_equal(val[c->field].s, c->s);
			if (!c->set)
				assert_null(val[c->field].s);
			else
				assert_non_null(val[c->field].j);
		}
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
		cmocka_unit_test(test_fields),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
