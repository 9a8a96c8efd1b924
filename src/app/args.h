/*
 * args.h -- checking the arguments of an event or a control command.
 *
 * Every handler (events.c's table, the handlers of each concern, admin.c)
 * reads its client's values through these helpers, so that a string's
 * length is counted the same way everywhere (in characters: code points
 * of UTF-8), and an id is the same thing everywhere.  Each returns 0 with
 * the value, or -1 when the value is not of the shape asked; the caller
 * words the error (the messages are part of the protocol).
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

#endif
