/*
 * args.h -- checking the arguments of an event or a control command.
 *
 * Every client value (app.c's field lists, which the dispatcher
 * checks with cf_arg_fields() before a handler runs, the checks a handler
 * keeps, admin.c's commands) is read through these helpers, so that a
 * string's length is counted the same way everywhere (in characters: code
 * points of UTF-8), and an id is the same thing everywhere.  Each returns
 * 0 with the value, or -1 when the value is not of the shape asked; the
 * caller (or the field list) words the error (the messages are part of
 * the protocol).
 *
 * "Optional" means absent or JSON null: 0 with *out NULL (or 0).
 */
#ifndef CF_ARGS_H
#define CF_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Characters (code points) of a NUL-terminated UTF-8 string. */
size_t	 cf_arg_utf8_len(const char *s);
/* 1 when s has no character but white space (isspace), or none. */
int	 cf_arg_blank(const char *s);
/* A string of min..max characters with no NUL inside. */
int	 cf_arg_str(const json_t *v, size_t min, size_t max, const char **out);
/* The same for member key of object o, optional. */
int	 cf_arg_opt_str(const json_t *o, const char *key, size_t max,
	    const char **out);
/*
 * A string of at least one character that is not white space, of at most
 * max characters: "non-empty" in the spec (doc/events.md).
 */
int	 cf_arg_text(const json_t *v, size_t max, const char **out);
/*
 * An id (channel, message, call): a positive integer, or a string of 1 to
 * 18 digits (so that it fits an int64_t) whose value is positive.
 */
int	 cf_arg_id(const json_t *v, int64_t *out);
int	 cf_arg_opt_id(const json_t *o, const char *key, int64_t *out);
/* An integer within min..max. */
int	 cf_arg_int(const json_t *v, int64_t min, int64_t max, int64_t *out);
int	 cf_arg_opt_int(const json_t *o, const char *key, int64_t min,
	    int64_t max, int64_t *out);
/* A boolean (0 or 1). */
int	 cf_arg_bool(const json_t *v, int *out);
int	 cf_arg_opt_bool(const json_t *o, const char *key, int *out);
/* A string equal to one of set (NULL-terminated); no NUL inside. */
int	 cf_arg_enum(const json_t *v, const char *const *set, const char **out);
int	 cf_arg_opt_enum(const json_t *o, const char *key,
	    const char *const *set, const char **out);
/*
 * A user id, as text into buf: an integer of at least min (written in
 * decimal), or a string of 1 to len - 1 bytes with no NUL inside.
 */
int	 cf_arg_user_id(const json_t *v, int64_t min, char *buf, size_t len);
/* An object or a string of at most max bytes as compact JSON (an SDP). */
int	 cf_arg_blob(const json_t *v, size_t max);

/*
 * The field list of an event (events.h): each field names a member of
 * argument 0 (or argument 0 itself: key NULL), its type, and the exact
 * message of the invalid_payload error it answers.  cf_arg_fields()
 * checks the fields in their order and stops at the first bad one.
 */
enum cf_field_type {
	CF_F_END = 0,	/* ends a field list */
	CF_F_ID,	/* cf_arg_id: .i */
	CF_F_STR,	/* cf_arg_str, min..max characters: .s */
	CF_F_TEXT,	/* cf_arg_text, at most max characters: .s */
	CF_F_ENUM,	/* cf_arg_enum, one of .set: .s */
	CF_F_INT,	/* cf_arg_int, min..max: .i */
	CF_F_BOOL,	/* a boolean: .i (0 or 1) */
	CF_F_USER,	/* cf_arg_user_id, an integer of at least min: .s */
	CF_F_OBJECT,	/* an object of at least min members: .j */
	CF_F_BLOB,	/* cf_arg_blob, at most max bytes: .j */
	CF_F_JSTRING,	/* any JSON string (NUL inside too): .j */
	CF_F_CHECK,	/* .check(value) says 1 (a rule of one event): .j */
	CF_F_ANY	/* anything, absent too, checked later: .j */
};

/*
 * Without CF_F_OPT a field absent or null is its error (CF_F_ANY aside),
 * and .check is not called for it.
 */
#define CF_F_OPT	0x01	/* absent or null is allowed: .set 0 */
#define CF_F_NOT_WITH_PREV 0x02	/* not given together with the field
				   before (both set: this field's error) */

/* A maximum the configuration sets, read at dispatch. */
enum cf_arg_limit {
	CF_LIM_NONE = 0,		/* .max as written */
	CF_LIM_MESSAGE_LENGTH,		/* max-message-length */
	CF_LIM_SDP_SIZE,		/* max-sdp-size */
	CF_LIM_ICE_CANDIDATE_SIZE,	/* max-ice-candidate-size */
	CF_LIM_N
};

struct cf_field {
	const char		*key;	/* member of argument 0; NULL: itself */
	enum cf_field_type	 type;
	unsigned		 flags;	/* CF_F_OPT, CF_F_NOT_WITH_PREV */
	int64_t			 min, max;
	enum cf_arg_limit	 limit;	/* when set: the maximum, not max */
	const char *const	*set;	/* CF_F_ENUM: NULL-terminated */
	int			(*check)(const json_t *); /* CF_F_CHECK */
	const char		*err;	/* invalid_payload's message, exact */
};

/* A checked value: indexed as its field in the list. */
#define CF_ARG_USER_MAX	64	/* CF_F_USER: bytes with the NUL */
struct cf_arg_val {
	int		 set;	/* given: neither absent nor null */
	const json_t	*j;	/* the value as sent (NULL when absent) */
	const char	*s;	/* STR, TEXT, ENUM, USER; NULL when not set */
	int64_t		 i;	/* ID, INT, BOOL; 0 when not set */
	char		 user[CF_ARG_USER_MAX];	/* CF_F_USER's text (.s) */
};

/* How the fields sit in the arguments (cf_arg_fields' how). */
#define CF_ARG_OBJ	0x01	/* members of argument 0, an object */
#define CF_ARG_OBJ_OPT	0x02	/* ... which may be absent or null */

/* The most fields a list may hold. */
#define CF_ARG_FIELDS_MAX	8

/*
 * Check arg (argument 0 of the event, may be NULL) against the fields f
 * (ended by CF_F_END, at most CF_ARG_FIELDS_MAX) into val[], in order.
 * With CF_ARG_OBJ, arg must be an object (or, with CF_ARG_OBJ_OPT, also
 * absent or null: every field absent), else the error is objerr, or the
 * first field's when objerr is NULL.  limits[] holds the configured
 * maxima by enum cf_arg_limit.  0, or -1 with *err the message of the
 * first bad field (static text of the field list).
 */
int	 cf_arg_fields(const struct cf_field *f, unsigned how,
	    const char *objerr, const json_t *arg, const int64_t *limits,
	    struct cf_arg_val *val, const char **err);

#endif
