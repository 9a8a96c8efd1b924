/*
 * args.c -- the shapes of client values (args.h).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/args.h"

size_t
cf_arg_utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return (n);
}

int
cf_arg_blank(const char *s)
{
	for (; *s != '\0'; s++)
		if (!isspace((unsigned char)*s))
			return (0);
	return (1);
}

/* A JSON string with no NUL inside (jansson keeps them). */
static const char *
plain_string(const json_t *v)
{
	if (!json_is_string(v) ||
	    memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
		return (NULL);
	return (json_string_value(v));
}

int
cf_arg_str(const json_t *v, size_t min, size_t max, const char **out)
{
	const char *s;
	size_t n;

	if ((s = plain_string(v)) == NULL)
		return (-1);
	n = cf_arg_utf8_len(s);
	if (n < min || n > max)
		return (-1);
	*out = s;
	return (0);
}

int
cf_arg_opt_str(const json_t *o, const char *key, size_t max,
    const char **out)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return (0);
	return (cf_arg_str(v, 0, max, out));
}

int
cf_arg_text(const json_t *v, size_t max, const char **out)
{
	const char *s;

	if (cf_arg_str(v, 1, max, &s) == -1 || cf_arg_blank(s))
		return (-1);
	*out = s;
	return (0);
}

int
cf_arg_id(const json_t *v, int64_t *out)
{
	const char *p;
	int64_t x = 0;

	if (json_is_integer(v)) {
		if ((x = json_integer_value(v)) <= 0)
			return (-1);
		*out = x;
		return (0);
	}
	if ((p = plain_string(v)) == NULL || *p == '\0' || strlen(p) > 18)
		return (-1);
	for (; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return (-1);
		x = x * 10 + (*p - '0');
	}
	if (x <= 0)
		return (-1);
	*out = x;
	return (0);
}

int
cf_arg_opt_id(const json_t *o, const char *key, int64_t *out)
{
	const json_t *v = json_object_get(o, key);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return (0);
	return (cf_arg_id(v, out));
}

int
cf_arg_int(const json_t *v, int64_t min, int64_t max, int64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return (-1);
	*out = json_integer_value(v);
	return (0);
}

int
cf_arg_opt_int(const json_t *o, const char *key, int64_t min, int64_t max,
    int64_t *out)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return (0);	/* *out keeps the caller's default */
	return (cf_arg_int(v, min, max, out));
}

int
cf_arg_bool(const json_t *v, int *out)
{
	if (!json_is_boolean(v))
		return (-1);
	*out = json_is_true(v);
	return (0);
}

int
cf_arg_opt_bool(const json_t *o, const char *key, int *out)
{
	const json_t *v = json_object_get(o, key);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return (0);
	return (cf_arg_bool(v, out));
}

int
cf_arg_enum(const json_t *v, const char *const *set, const char **out)
{
	const char *s;

	if ((s = plain_string(v)) == NULL)
		return (-1);
	for (; *set != NULL; set++)
		if (strcmp(s, *set) == 0) {
			*out = *set;
			return (0);
		}
	return (-1);
}

int
cf_arg_opt_enum(const json_t *o, const char *key, const char *const *set,
    const char **out)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return (0);
	return (cf_arg_enum(v, set, out));
}

int
cf_arg_user_id(const json_t *v, int64_t min, char *buf, size_t len)
{
	const char *s;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < min)
			return (-1);
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return (0);
	}
	if ((s = plain_string(v)) == NULL || *s == '\0' ||
	    json_string_length(v) >= len)
		return (-1);
	memcpy(buf, s, json_string_length(v) + 1);
	return (0);
}

int
cf_arg_blob(const json_t *v, size_t max)
{
	char *s;
	size_t n;

	if (!json_is_object(v) && !json_is_string(v))
		return (-1);
	if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return (-1);
	n = strlen(s);
	free(s);
	return (n <= max ? 0 : -1);
}

/* One field's value v (present: neither absent nor null) into *val. */
static int
check_field(const struct cf_field *f, const json_t *v, int64_t max,
    struct cf_arg_val *val)
{
	int b;

	switch (f->type) {
	case CF_F_ID:
		return (cf_arg_id(v, &val->i));
	case CF_F_STR:
		return (cf_arg_str(v, (size_t)f->min, (size_t)max, &val->s));
	case CF_F_TEXT:
		return (cf_arg_text(v, (size_t)max, &val->s));
	case CF_F_ENUM:
		return (cf_arg_enum(v, f->set, &val->s));
	case CF_F_INT:
		return (cf_arg_int(v, f->min, max, &val->i));
	case CF_F_BOOL:
		if (cf_arg_bool(v, &b) == -1)
			return (-1);
		val->i = b;
		return (0);
	case CF_F_USER:
		if (cf_arg_user_id(v, f->min, val->user,
		    sizeof(val->user)) == -1)
			return (-1);
		val->s = val->user;
		return (0);
	case CF_F_OBJECT:
		return (json_is_object(v) &&
		    json_object_size(v) >= (size_t)f->min ? 0 : -1);
	case CF_F_BLOB:
		return (cf_arg_blob(v, (size_t)max));
	case CF_F_JSTRING:
		return (json_is_string(v) ? 0 : -1);
	case CF_F_CHECK:
		return (f->check(v) ? 0 : -1);
	case CF_F_ANY:
		return (0);
	default:
		return (-1);
	}
}

int
cf_arg_fields(const struct cf_field *f, unsigned how, const char *objerr,
    const json_t *arg, const int64_t *limits, struct cf_arg_val *val,
    const char **err)
{
	const json_t *v;
	int64_t max;
	size_t i;

	if ((how & CF_ARG_OBJ) && !json_is_object(arg) &&
	    !((how & CF_ARG_OBJ_OPT) && (arg == NULL || json_is_null(arg)))) {
		*err = objerr != NULL ? objerr : f[0].err;
		return (-1);
	}
	for (i = 0; i < CF_ARG_FIELDS_MAX && f[i].type != CF_F_END; i++) {
		memset(&val[i], 0, sizeof(val[i]));
		if (f[i].key == NULL)
			v = arg;
		else
			v = json_object_get(arg, f[i].key);	/* NULL-safe */
		val[i].j = v;
		*err = f[i].err;
		if (v == NULL || json_is_null(v)) {
			if (f[i].flags & CF_F_OPT)
				continue;
			if (f[i].type == CF_F_ANY)
				continue;
			return (-1);
		}
		max = f[i].limit != CF_LIM_NONE ? limits[f[i].limit] :
		    f[i].max;
		if (check_field(&f[i], v, max, &val[i]) == -1)
			return (-1);
		val[i].set = 1;
		if ((f[i].flags & CF_F_NOT_WITH_PREV) && i > 0 &&
		    val[i - 1].set)
			return (-1);
	}
	*err = NULL;
	return (0);
}
